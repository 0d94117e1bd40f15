/**
 * Matrix decompositions, part 1: `cholesky`, `triangular_solve`, `lu` (and the helpers of
 * `decomp_spectral.ts`, which holds `eigh`, `qr`, `svd`). Each acts
 * on the last two axes of its operands (`[..., m, n]`, leading axes are a batch). Reference
 * implementations compute in float64 and round once at the end. Derivatives follow JAX
 * (`jax/_src/lax/linalg.py`); batching rules move the batch axis to the front.
 *
 * @module
 */
import { fmtAvals, prod, ShapedArray } from "../aval.ts";
import {
  definePrimitive,
  type HostArray,
  type NoParams,
  type Params,
  type PlainPrimitive,
  type Primitive,
} from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind, bind1 } from "../trace.ts";
import { alloc } from "./host.ts";
import { broadcastInDim, constant, moveaxis } from "./structural.ts";

// ------------------------------------------------------------------ checks and helpers

/** Throws the TypeError naming `op` unless the operands are f32 matrices (square if asked). */
export function checkMatrix(op: string, avals: readonly ShapedArray[], square: boolean): void {
  for (const a of avals) {
    if (a.dtype !== "f32") {
      throw new TypeError(`${op}: expected f32 operands, got ${fmtAvals(avals)}`);
    }
    if (a.ndim < 2) {
      throw new TypeError(`${op}: expected operands of rank >= 2, got ${fmtAvals(avals)}`);
    }
  }
  const a = avals[0];
  if (square && a.shape[a.ndim - 1] !== a.shape[a.ndim - 2]) {
    throw new TypeError(`${op}: expected a square matrix [..., n, n], got ${fmtAvals(avals)}`);
  }
}

/** Swaps the last two axes. */
export function mT(x: Tensor): Tensor {
  return x.swapaxes(-1, -2);
}

/** A 0/1 f32 mask `[m, n]` of entries with `j - i >= lo && j - i <= hi`. */
export function bandMask(m: number, n: number, lo: number, hi: number): Tensor {
  const d = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) d[i * n + j] = j - i >= lo && j - i <= hi ? 1 : 0;
  }
  return constant(d, [m, n], "f32");
}

/** The lower triangle of the last two axes below diagonal `k` (inclusive). */
export function trilT(x: Tensor, k = 0): Tensor {
  const [m, n] = x.shape.slice(-2);
  return x.mul(bandMask(m, n, -Infinity, k));
}

/** The upper triangle of the last two axes above diagonal `k` (inclusive). */
export function triuT(x: Tensor, k = 0): Tensor {
  const [m, n] = x.shape.slice(-2);
  return x.mul(bandMask(m, n, k, Infinity));
}

/** The diagonal of the last two (square) axes as `[..., n]`. */
export function diagT(x: Tensor): Tensor {
  const n = x.shape[x.ndim - 1];
  return x.mul(bandMask(n, n, 0, 0)).sum({ axis: -1 });
}

/** `[..., n]` → `[..., n, n]` diagonal matrices. */
export function diagMat(v: Tensor): Tensor {
  const n = v.shape[v.ndim - 1];
  return v.expandDims(-2).mul(bandMask(n, n, 0, 0));
}

/** The n×n identity (f32). */
export function identity(n: number): Tensor {
  return bandMask(n, n, 0, 0);
}

/** The batching rule shared by all decompositions: batch axis to the front, unbatched broadcast. */
export function batchFront<P extends Params>(p: () => Primitive<P>) {
  return (
    args: Tensor[],
    dims: (number | null)[],
    params: P,
    size: number,
  ): [Tensor[], (number | null)[]] => {
    const moved = args.map((a, i) => {
      const d = dims[i];
      return d === null
        ? broadcastInDim(a, [size, ...a.shape], a.shape.map((_, k) => k + 1))
        : moveaxis(a, d, 0);
    });
    const outs = bind(p(), moved, params);
    return [outs, outs.map(() => 0)];
  };
}

/** The number of matrices in a batch: the product of the leading axes. */
export function batchCount(x: HostArray): number {
  return prod(x.aval.shape.slice(0, -2));
}

// ------------------------------------------------------------------ cholesky

/** Cholesky of one n×n matrix (lower triangle read) into L (NaN-filled when not PD). */
function cholOne(a: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let s = a[j * n + j];
    for (let k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
    if (!(s > 0)) return L.fill(NaN);
    const d = Math.sqrt(s);
    L[j * n + j] = d;
    for (let i = j + 1; i < n; i++) {
      let t = a[i * n + j];
      for (let k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / d;
    }
  }
  return L;
}

/**
 * `cholesky`: `A [..., n, n]` (symmetric positive definite; only the lower triangle is read)
 * → lower-triangular `L` with `L·Lᵀ = A`; NaNs where `A` is not positive definite (as JAX).
 */
export const cholesky_p: PlainPrimitive = definePrimitive<NoParams>("cholesky", {
  params: {},
  abstractEval(avals) {
    checkMatrix("cholesky", avals, true);
    return [avals[0]];
  },
  impl([a], _p, [o]) {
    const n = a.aval.shape[a.aval.ndim - 1], B = batchCount(a);
    const out = alloc(o);
    const buf = new Float64Array(n * n);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n * n; i++) buf[i] = a.data[b * n * n + i];
      out.set(cholOne(buf, n), b * n * n);
    }
    return [out];
  },
  // L̇ = L·Φ(L⁻¹ Ȧ L⁻ᵀ), Φ = lower triangle with the diagonal halved; Ȧ symmetrised.
  jvp([a], [da]) {
    const L = bind1(cholesky_p, [a]);
    const n = a.shape[a.ndim - 1];
    const sym = da.add(mT(da)).mul(0.5);
    const t1 = triangularSolve(L, sym, { lower: true, transposeA: false });
    const t2 = mT(triangularSolve(L, mT(t1), { lower: true, transposeA: false }));
    const phi = t2.mul(bandMask(n, n, -Infinity, -1)).add(t2.mul(bandMask(n, n, 0, 0)).mul(0.5));
    return [[L], [L.matmul(phi)]];
  },
  batch: batchFront(() => cholesky_p),
});

// ------------------------------------------------------------------ triangular_solve

/**
 * `triangular_solve` {lower, transposeA, unitDiagonal}: `a [..., n, n]` triangular, `b [..., n,
 * k]` → `x` with `op(a)·x = b`, `op(a) = aᵀ` when `transposeA`. Only the triangle of `a` named
 * by `lower` is read; with `unitDiagonal` its diagonal is taken as ones.
 */
/** Params of `triangular_solve`: which triangle, whether `a` is transposed, unit diagonal. */
export type TriangularSolveParams = {
  readonly lower: boolean;
  readonly transposeA: boolean;
  readonly unitDiagonal?: boolean;
};
export const triangular_solve_p: Primitive<TriangularSolveParams> = definePrimitive<
  TriangularSolveParams
>("triangular_solve", {
  params: { lower: "required", transposeA: "required", unitDiagonal: "optional" },
  abstractEval(avals) {
    checkMatrix("triangular_solve", avals, true);
    const [a, b] = avals;
    if (
      a.ndim !== b.ndim || a.shape[a.ndim - 1] !== b.shape[b.ndim - 2] ||
      a.shape.slice(0, -2).some((d, i) => d !== b.shape[i])
    ) {
      throw new TypeError(
        `triangular_solve: expected a [..., n, n] and b [..., n, k] with equal batch axes, ` +
          `got ${fmtAvals(avals)}`,
      );
    }
    return [b];
  },
  impl([a, b], { lower, transposeA, unitDiagonal }, [o]) {
    const n = a.aval.shape[a.aval.ndim - 1], k = b.aval.shape[b.aval.ndim - 1];
    const B = batchCount(a), out = alloc(o);
    // op(a) is lower triangular iff lower xor transposeA
    const effLower = !!lower !== !!transposeA;
    const A = (i: number, j: number, off: number) =>
      transposeA ? a.data[off + j * n + i] : a.data[off + i * n + j];
    const x = new Float64Array(n);
    for (let bb = 0; bb < B; bb++) {
      const ao = bb * n * n, bo = bb * n * k;
      for (let c = 0; c < k; c++) {
        for (let s = 0; s < n; s++) {
          const i = effLower ? s : n - 1 - s;
          let t = b.data[bo + i * k + c];
          if (effLower) { for (let j = 0; j < i; j++) t -= A(i, j, ao) * x[j]; }
          else for (let j = i + 1; j < n; j++) t -= A(i, j, ao) * x[j];
          x[i] = unitDiagonal ? t : t / A(i, i, ao);
        }
        for (let i = 0; i < n; i++) out[bo + i * k + c] = x[i];
      }
    }
    return [out];
  },
  // ẋ = op(a)⁻¹ (ḃ − op(ȧ)·x), with ȧ restricted to the triangle read.
  jvp([a, b], [da, db], params) {
    const x = bind1(triangular_solve_p, [a, b], params);
    let dA = params.lower ? trilT(da, params.unitDiagonal ? -1 : 0) : triuT(
      da,
      params.unitDiagonal ? 1 : 0,
    );
    if (params.transposeA) dA = mT(dA);
    const rhs = db.sub(dA.matmul(x));
    return [[x], [bind1(triangular_solve_p, [a, rhs], params)]];
  },
  // linear in b: the cotangent of b is op(a)⁻ᵀ·ct
  transpose([ct], [a], params) {
    if (ct === null) return [null, null];
    const A = a as Tensor;
    return [
      null,
      bind1(triangular_solve_p, [A, ct], { ...params, transposeA: !params.transposeA }),
    ];
  },
  batch: batchFront(() => triangular_solve_p),
});

/** Solves `op(a)·x = b` for triangular `a` (see {@link triangular_solve_p}). */
export function triangularSolve(
  a: Tensor,
  b: Tensor,
  opts: { lower: boolean; transposeA: boolean; unitDiagonal?: boolean },
): Tensor {
  return bind1(triangular_solve_p, [a, b], {
    lower: opts.lower,
    transposeA: opts.transposeA,
    unitDiagonal: !!opts.unitDiagonal,
  });
}

// ------------------------------------------------------------------ lu

/**
 * `lu`: `A [..., n, n]` → `(lu [..., n, n], perm i32[..., n])`, Gaussian elimination with
 * partial pivoting: `A[perm] = L·U`, `L` unit lower (strictly below the diagonal of `lu`), `U`
 * upper (the diagonal and above).
 */
export const lu_p: PlainPrimitive = definePrimitive<NoParams>("lu", {
  params: {},
  multipleResults: true,
  abstractEval(avals) {
    checkMatrix("lu", avals, true);
    const a = avals[0];
    return [a, new ShapedArray(a.shape.slice(0, -1), "i32")];
  },
  impl([a], _p, [o, po]) {
    const n = a.aval.shape[a.aval.ndim - 1], B = batchCount(a);
    const out = alloc(o), perm = alloc(po);
    const m = new Float64Array(n * n);
    const p = new Int32Array(n);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n * n; i++) m[i] = a.data[b * n * n + i];
      for (let i = 0; i < n; i++) p[i] = i;
      for (let k = 0; k < n; k++) {
        let piv = k, best = Math.abs(m[k * n + k]);
        for (let i = k + 1; i < n; i++) {
          const v = Math.abs(m[i * n + k]);
          if (v > best) (best = v), (piv = i);
        }
        if (piv !== k) {
          for (let j = 0; j < n; j++) {
            const t = m[k * n + j];
            m[k * n + j] = m[piv * n + j];
            m[piv * n + j] = t;
          }
          const t = p[k];
          p[k] = p[piv];
          p[piv] = t;
        }
        const d = m[k * n + k];
        if (d === 0) continue;
        for (let i = k + 1; i < n; i++) {
          const f = (m[i * n + k] /= d);
          for (let j = k + 1; j < n; j++) m[i * n + j] -= f * m[k * n + j];
        }
      }
      out.set(m, b * n * n);
      perm.set(p, b * n);
    }
    return [out, perm];
  },
  // JAX's lu_jvp_rule: X = P·Ȧ, la = L⁻¹X, lau = la·U⁻¹, L̇ = L·tril(lau, −1), U̇ = triu(lau)·U.
  jvp([a], [da]) {
    const [lu, perm] = bind(lu_p, [a]);
    const n = a.shape[a.ndim - 1];
    const x = permuteRows(da, perm);
    const la = triangularSolve(lu, x, { lower: true, transposeA: false, unitDiagonal: true });
    const lau = mT(triangularSolve(lu, mT(la), { lower: false, transposeA: true }));
    const L = trilT(lu, -1).add(identity(n));
    const U = triuT(lu, 0);
    const dlu = L.matmul(trilT(lau, -1)).add(triuT(lau, 0).matmul(U));
    return [[lu, perm], [dlu, null]];
  },
  batch: batchFront(() => lu_p),
});

/** `x[..., perm[..., i], :]` for every i: the rows of `x` in the order of `perm`. */
export function permuteRows(x: Tensor, perm: Tensor): Tensor {
  // a one-hot permutation matrix P[i, j] = (perm[i] == j), then P·x
  const n = x.shape[x.ndim - 2];
  const iotaRow = constant(Float32Array.from({ length: n }, (_, j) => j), [n], "f32");
  const P = perm.astype("f32").expandDims(-1).equal(iotaRow).astype("f32");
  return P.matmul(x);
}
