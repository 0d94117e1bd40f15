/**
 * `np.linalg`: decompositions (`cholesky`, `qr`, `eigh`, `svd`, `lu`), solvers (`solve`,
 * `triangularSolve`, `inv`) and scalar functions of matrices (`det`, `slogdet`, `norm`). Every
 * function acts on the last two axes (`[..., m, n]`, leading axes are a batch), takes f32, and
 * is differentiable (rules as JAX's `jax/_src/lax/linalg.py`) and batchable under `vmap`.
 *
 * @module
 */
import {
  cholesky_p,
  diagT,
  lu_p,
  mT,
  permuteRows,
  triangularSolve as triSolve,
} from "./prims/decomp.ts";
import { eigh_p, qr_p, svd_p } from "./prims/decomp_spectral.ts";
import { constant } from "./prims/structural.ts";
import type { Tensor } from "./tensor.ts";
import { bind, bind1 } from "./trace.ts";

function eyeT(n: number): Tensor {
  const d = new Float32Array(n * n);
  for (let i = 0; i < n; i++) d[i * n + i] = 1;
  return constant(d, [n, n], "f32");
}

function needRank2(op: string, a: Tensor): void {
  if (a.ndim < 2) {
    throw new TypeError(`linalg.${op}: expected a matrix [..., m, n] of rank >= 2, got ${a.aval}`);
  }
}

/**
 * The Cholesky factor of symmetric positive definite matrices.
 *
 * @param a `[..., n, n]` f32, symmetric positive definite (symmetrised as `(a + aᵀ)/2`).
 * @returns Lower-triangular `L [..., n, n]` with `L·Lᵀ = a`; NaNs where `a` is not positive
 *   definite.
 * @throws {TypeError} When `a` is not f32, of rank < 2 or not square.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const L = np.linalg.cholesky(np.array([[4, 2], [2, 3]]));
 * console.log(await L.toArray()); // [[2, 0], [1, 1.414…]]
 * const err = await L.sub([[2, 0], [1, Math.SQRT2]]).abs().max().item();
 * if (Number(err) > 1e-6) throw new Error(`off by ${err}`);
 * ```
 */
export function cholesky(a: Tensor): Tensor {
  needRank2("cholesky", a);
  if (a.dtype === "f32" && a.shape[a.ndim - 1] === a.shape[a.ndim - 2]) {
    a = a.add(mT(a)).mul(0.5);
  }
  return bind1(cholesky_p, [a]);
}

/**
 * Solves `op(a)·x = b` for triangular `a`.
 *
 * @param a `[..., n, n]` f32 triangular (only the triangle named by `lower` is read).
 * @param b `[..., n, k]` f32 with the batch axes of `a`.
 * @param opts `lower` (default true), `transposeA` (solve with `aᵀ`), `unitDiagonal`.
 * @returns `x [..., n, k]`.
 * @throws {TypeError} On dtypes other than f32 or mismatched shapes.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.linalg.triangularSolve(np.array([[2, 0], [1, 1]]), np.array([[2], [3]]));
 * console.log(await x.toArray()); // [[1], [2]]
 * const err = await x.sub([[1], [2]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function triangularSolve(
  a: Tensor,
  b: Tensor,
  opts: { lower?: boolean; transposeA?: boolean; unitDiagonal?: boolean } = {},
): Tensor {
  return triSolve(a, b, {
    lower: opts.lower ?? true,
    transposeA: !!opts.transposeA,
    unitDiagonal: !!opts.unitDiagonal,
  });
}

/** The result of {@link lu}. */
export interface LuResult {
  /** `[..., n, n]`: `L` strictly below the diagonal (unit diagonal implied), `U` on and above. */
  readonly lu: Tensor;
  /** `i32[..., n]`: `a[perm] = L·U`. */
  readonly perm: Tensor;
}

/**
 * LU decomposition with partial pivoting.
 *
 * @param a `[..., n, n]` f32.
 * @returns `{ lu, perm }` with `a[..., perm, :] = L·U`.
 * @throws {TypeError} When `a` is not f32, of rank < 2 or not square.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const { perm } = np.linalg.lu(np.array([[1, 2], [3, 4]]));
 * console.log(await perm.toArray()); // [1, 0]
 * const err = await perm.sub([1, 0]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function lu(a: Tensor): LuResult {
  needRank2("lu", a);
  const [l, perm] = bind(lu_p, [a]);
  return { lu: l, perm };
}

/**
 * Solves `a·x = b`.
 *
 * @param a `[..., n, n]` f32, invertible.
 * @param b `[..., n, k]` (batch axes broadcast against those of `a`), or a vector `[n]`.
 * @returns `x` of the shape of `b`.
 * @throws {TypeError} On dtypes other than f32 or mismatched shapes.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.linalg.solve(np.array([[3, 1], [1, 2]]), np.array([9, 8]));
 * console.log(await x.toArray()); // [2, 3]
 * const err = await x.sub([2, 3]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function solve(a: Tensor, b: Tensor): Tensor {
  needRank2("solve", a);
  const vec = b.ndim === 1;
  const n = a.shape[a.ndim - 1];
  if (b.ndim < 1 || b.shape[vec ? b.ndim - 1 : b.ndim - 2] !== n) {
    throw new TypeError(
      `linalg.solve: expected a [..., n, n] and b [..., n] or [..., n, k], got ${a.aval} and ` +
        `${b.aval}`,
    );
  }
  let B = vec ? b.expandDims(-1) : b;
  const batch = a.shape.slice(0, -2);
  if (B.ndim < a.ndim) B = B.broadcastTo([...batch, ...B.shape.slice(-2)]);
  const { lu: f, perm } = lu(a);
  const y = triSolve(f, permuteRows(B, perm), {
    lower: true,
    transposeA: false,
    unitDiagonal: true,
  });
  const x = triSolve(f, y, { lower: false, transposeA: false });
  return vec ? x.squeeze(-1) : x;
}

/**
 * The inverse of square matrices.
 *
 * @param a `[..., n, n]` f32, invertible.
 * @returns `a⁻¹ [..., n, n]`.
 * @throws {TypeError} When `a` is not f32, of rank < 2 or not square.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = np.linalg.inv(np.array([[2, 0], [0, 4]]));
 * console.log(await y.toArray()); // [[0.5, 0], [0, 0.25]]
 * const err = await y.sub([[0.5, 0], [0, 0.25]]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function inv(a: Tensor): Tensor {
  needRank2("inv", a);
  const n = a.shape[a.ndim - 1];
  if (a.shape[a.ndim - 2] !== n) {
    throw new TypeError(`linalg.inv: expected a square matrix [..., n, n], got ${a.aval}`);
  }
  return solve(a, eyeT(n).broadcastTo(a.shape));
}

/** The result of {@link slogdet}. */
export interface SlogdetResult {
  /** `[...]`: the sign of the determinant (−1, 0 or 1). */
  readonly sign: Tensor;
  /** `[...]`: `log |det a|` (−∞ for singular matrices). */
  readonly logabsdet: Tensor;
}

/**
 * The sign and log-magnitude of determinants, from the LU decomposition.
 *
 * @param a `[..., n, n]` f32.
 * @returns `{ sign, logabsdet }`, each `[...]`.
 * @throws {TypeError} When `a` is not f32, of rank < 2 or not square.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const { sign, logabsdet } = np.linalg.slogdet(np.array([[0, 2], [3, 0]]));
 * const s = Number(await sign.item()), l = Number(await logabsdet.item());
 * console.log(s, l); // -1 1.791… = ln 6
 * if (s !== -1 || Math.abs(l - Math.log(6)) > 1e-6) throw new Error(`got ${s} ${l}`);
 * ```
 */
export function slogdet(a: Tensor): SlogdetResult {
  needRank2("slogdet", a);
  const { lu: f, perm } = lu(a);
  const n = a.shape[a.ndim - 1];
  const d = diagT(f);
  const logabsdet = d.abs().log().sum({ axis: -1 });
  // the parity of perm: (−1)^(number of inversions)
  const p = perm.astype("f32");
  const upper = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) upper[i * n + j] = 1;
  const inv = p.expandDims(-1).greater(p.expandDims(-2)).astype("f32")
    .mul(constant(upper, [n, n], "f32")).sum({ axis: [-2, -1] });
  const parity = inv.mul(0.5).sub(inv.mul(0.5).astype("i32").astype("f32")).mul(-4).add(1);
  const neg = d.less(0).astype("f32").sum({ axis: -1 });
  const negSign = neg.mul(0.5).sub(neg.mul(0.5).astype("i32").astype("f32")).mul(-4).add(1);
  const zero = d.equal(0).astype("f32").sum({ axis: -1 }).greater(0).astype("f32");
  const sign = parity.mul(negSign).mul(zero.neg().add(1));
  return { sign, logabsdet };
}

/**
 * Determinants, as `sign · exp(logabsdet)` of {@link slogdet}.
 *
 * @param a `[..., n, n]` f32.
 * @returns `det a`, `[...]`.
 * @throws {TypeError} When `a` is not f32, of rank < 2 or not square.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const v = Number(await np.linalg.det(np.array([[1, 2], [3, 4]])).item());
 * console.log(v); // -2
 * if (Math.abs(v + 2) > 1e-4) throw new Error(`got ${v}`);
 * ```
 */
export function det(a: Tensor): Tensor {
  const { sign, logabsdet } = slogdet(a);
  return sign.mul(logabsdet.exp());
}

/** The result of {@link eigh}. */
export interface EighResult {
  /** `[..., n]`, ascending. */
  readonly eigenvalues: Tensor;
  /** `[..., n, n]`: column `i` is the eigenvector of eigenvalue `i`. */
  readonly eigenvectors: Tensor;
}

/**
 * Eigenvalues and eigenvectors of symmetric matrices (Jacobi rotations).
 *
 * @param a `[..., n, n]` f32 symmetric (symmetrised as `(a + aᵀ)/2`).
 * @returns `{ eigenvalues, eigenvectors }` with `a·V = V·diag(w)`.
 * @throws {TypeError} When `a` is not f32, of rank < 2 or not square.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const { eigenvalues } = np.linalg.eigh(np.array([[2, 1], [1, 2]]));
 * console.log(await eigenvalues.toArray()); // [1, 3]
 * const err = await eigenvalues.sub([1, 3]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function eigh(a: Tensor): EighResult {
  needRank2("eigh", a);
  const [w, v] = bind(eigh_p, [a]);
  return { eigenvalues: w, eigenvectors: v };
}

/** The result of {@link qr}. */
export interface QrResult {
  /** `[..., m, k]` with orthonormal columns, `k = min(m, n)`. */
  readonly Q: Tensor;
  /** `[..., k, n]` upper triangular. */
  readonly R: Tensor;
}

/**
 * The reduced QR decomposition (Householder reflections).
 *
 * @param a `[..., m, n]` f32.
 * @returns `{ Q, R }` with `Q·R = a`.
 * @throws {TypeError} When `a` is not f32 or of rank < 2.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const { R } = np.linalg.qr(np.array([[3, 0], [4, 1]]));
 * console.log(await R.toArray()); // [[-5, -0.8], [0, -0.6]]
 * const err = await R.sub([[-5, -0.8], [0, -0.6]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function qr(a: Tensor): QrResult {
  needRank2("qr", a);
  const [Q, R] = bind(qr_p, [a]);
  return { Q, R };
}

/** The result of {@link svd}. */
export interface SvdResult {
  /** `[..., m, k]`, orthonormal columns, `k = min(m, n)`. */
  readonly U: Tensor;
  /** `[..., k]`, descending, non-negative. */
  readonly S: Tensor;
  /** `[..., k, n]`, orthonormal rows. */
  readonly Vh: Tensor;
}

/**
 * The reduced singular value decomposition (one-sided Jacobi), NumPy's
 * `svd(a, full_matrices=False)`.
 *
 * @param a `[..., m, n]` f32.
 * @returns `{ U, S, Vh }` with `a = U·diag(S)·Vh`.
 * @throws {TypeError} When `a` is not f32 or of rank < 2.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const { S } = np.linalg.svd(np.array([[3, 0], [0, -4]]));
 * console.log(await S.toArray()); // [4, 3]
 * const err = await S.sub([4, 3]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function svd(a: Tensor): SvdResult {
  needRank2("svd", a);
  const [U, S, Vh] = bind(svd_p, [a]);
  return { U, S, Vh };
}

/**
 * Vector and matrix norms, as NumPy's `linalg.norm`.
 *
 * - no `axis`: the 2-norm of the flattened array (Frobenius for matrices); with `ord`, `x` must
 *   be 1-D or 2-D and `ord` is read as for that rank;
 * - `axis` a number: vector norms along it, `ord` ∈ {2 (default), 1, ∞, −∞, 0, any p};
 * - `axis` a pair: matrix norms over those axes, `ord` ∈ {"fro" (default), "nuc", 1, −1, 2,
 *   −2, ∞, −∞}.
 *
 * @param x f32 tensor.
 * @param opts `ord`, `axis`, `keepdims`.
 * @returns The norms.
 * @throws {RangeError} For an `ord` the rank does not support, or axes out of range.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const v = Number(await np.linalg.norm(np.array([3, 4])).item());
 * console.log(v); // 5
 * if (Math.abs(v - 5) > 1e-4) throw new Error(`got ${v}`);
 * ```
 */
export function norm(
  x: Tensor,
  opts: {
    ord?: number | "fro" | "nuc";
    axis?: number | readonly [number, number];
    keepdims?: boolean;
  } = {},
): Tensor {
  const { ord, keepdims = false } = opts;
  let axis = opts.axis;
  if (axis === undefined) {
    if (ord === undefined) {
      const r = x.mul(x).sum().sqrt();
      return keepdims ? r.reshape(x.shape.map(() => 1)) : r;
    }
    if (x.ndim === 1) axis = 0;
    else if (x.ndim === 2) axis = [0, 1];
    else {
      throw new RangeError(
        `linalg.norm: ord ${ord} needs a 1-D or 2-D input or an axis, got ${x.aval}`,
      );
    }
  }
  const norm1 = (a: number) => (a < 0 ? a + x.ndim : a);
  if (typeof axis === "number") {
    const ax = norm1(axis);
    if (ax < 0 || ax >= x.ndim) {
      throw new RangeError(`linalg.norm: axis ${axis} out of range for ${x.aval}`);
    }
    const o = ord ?? 2;
    const a = x.abs();
    const red = { axis: ax, keepdims };
    if (o === 2) return x.mul(x).sum(red).sqrt();
    if (o === 1) return a.sum(red);
    if (o === Infinity) return a.max(red);
    if (o === -Infinity) return a.min(red);
    if (o === 0) return x.notEqual(0).astype("f32").sum(red);
    if (typeof o === "number") return a.pow(o).sum(red).pow(1 / o);
    throw new RangeError(`linalg.norm: ord ${o} is not a vector norm (for ${x.aval})`);
  }
  const [r0, c0] = [norm1(axis[0]), norm1(axis[1])];
  if (r0 < 0 || r0 >= x.ndim || c0 < 0 || c0 >= x.ndim || r0 === c0) {
    throw new RangeError(`linalg.norm: axes [${axis}] invalid for ${x.aval}`);
  }
  const o = ord ?? "fro";
  const keep = (r: Tensor) => {
    if (!keepdims) return r;
    const shape = [...x.shape];
    shape[r0] = 1;
    shape[c0] = 1;
    return r.reshape(shape);
  };
  if (o === "fro") return keep(x.mul(x).sum({ axis: [r0, c0] }).sqrt());
  const a = x.abs();
  if (o === 1 || o === -1) {
    const s = a.sum({ axis: r0, keepdims: true });
    const r = o === 1 ? s.max({ axis: [r0, c0] }) : s.min({ axis: [r0, c0] });
    return keep(r);
  }
  if (o === Infinity || o === -Infinity) {
    const s = a.sum({ axis: c0, keepdims: true });
    return keep(o === Infinity ? s.max({ axis: [r0, c0] }) : s.min({ axis: [r0, c0] }));
  }
  if (o === 2 || o === -2 || o === "nuc") {
    // move the two axes to the end and take singular values
    const rest = [...Array(x.ndim).keys()].filter((d) => d !== r0 && d !== c0);
    const S = svd(x.transpose([...rest, r0, c0])).S;
    const r = o === "nuc"
      ? S.sum({ axis: -1 })
      : o === 2
      ? S.max({ axis: -1 })
      : S.min({ axis: -1 });
    return keep(r);
  }
  throw new RangeError(`linalg.norm: ord ${o} is not a matrix norm (for ${x.aval})`);
}
