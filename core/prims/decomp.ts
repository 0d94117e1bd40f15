/**
 * Matrix decompositions: `cholesky`, `triangular_solve`, `lu`, `eigh`, `qr`, `svd`. Each acts
 * on the last two axes of its operands (`[..., m, n]`, leading axes are a batch). Reference
 * implementations compute in float64 and round once at the end. Derivatives follow JAX
 * (`jax/_src/lax/linalg.py`); batching rules move the batch axis to the front.
 *
 * @module
 */
import { fmtAvals, prod, ShapedArray } from "../aval.ts";
import { definePrimitive, type HostArray, type Params, type Primitive } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind, bind1 } from "../trace.ts";
import { alloc } from "./host.ts";
import { broadcastInDim, constant, moveaxis } from "./structural.ts";

// ------------------------------------------------------------------ checks and helpers

function checkMatrix(op: string, avals: readonly ShapedArray[], square: boolean): void {
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
function bandMask(m: number, n: number, lo: number, hi: number): Tensor {
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

function identity(n: number): Tensor {
  return bandMask(n, n, 0, 0);
}

/** Batch rule shared by all decompositions: batch axis to the front, unbatched broadcast. */
function batchFront(p: () => Primitive) {
  return (
    args: Tensor[],
    dims: (number | null)[],
    params: Params,
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

/** Runs `f` on every matrix of a batch: `B` = product of the leading axes. */
function batchCount(x: HostArray): number {
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
export const cholesky_p: Primitive = definePrimitive("cholesky", {
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
export const triangular_solve_p: Primitive = definePrimitive("triangular_solve", {
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
export const lu_p: Primitive = definePrimitive("lu", {
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

// ------------------------------------------------------------------ eigh

/** Cyclic Jacobi on a symmetric n×n matrix (in place); returns V (columns = eigenvectors). */
function jacobiEigh(a: Float64Array, n: number): Float64Array {
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0, tot = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const v = a[i * n + j] * a[i * n + j];
        tot += v;
        if (i !== j) off += v;
      }
    }
    if (off <= 1e-30 * tot || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return V;
}

/**
 * `eigh`: symmetric `A [..., n, n]` → `(w [..., n], V [..., n, n])`, eigenvalues ascending and
 * orthonormal eigenvectors as the columns of `V` (`A·V = V·diag(w)`). The matrix is symmetrised
 * as `(A + Aᵀ)/2` first.
 */
export const eigh_p: Primitive = definePrimitive("eigh", {
  multipleResults: true,
  abstractEval(avals) {
    checkMatrix("eigh", avals, true);
    const a = avals[0];
    return [new ShapedArray(a.shape.slice(0, -1), "f32"), a];
  },
  impl([a], _p, [wo, vo]) {
    const n = a.aval.shape[a.aval.ndim - 1], B = batchCount(a);
    const w = alloc(wo), vout = alloc(vo);
    const m = new Float64Array(n * n);
    for (let b = 0; b < B; b++) {
      const off = b * n * n;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          m[i * n + j] = 0.5 * (a.data[off + i * n + j] + a.data[off + j * n + i]);
        }
      }
      const V = jacobiEigh(m, n);
      const order = [...Array(n).keys()].sort((i, j) => m[i * n + i] - m[j * n + j]);
      order.forEach((src, dst) => {
        w[b * n + dst] = m[src * n + src];
        for (let k = 0; k < n; k++) vout[off + k * n + dst] = V[k * n + src];
      });
    }
    return [w, vout];
  },
  // M = Vᵀ Ȧ V; ẇ = diag(M); V̇ = V·(F ∘ M), F_ij = 1/(λ_j − λ_i) off the diagonal, 0 on it.
  jvp([a], [da]) {
    const [w, V] = bind(eigh_p, [a]);
    const n = a.shape[a.ndim - 1];
    const sym = da.add(mT(da)).mul(0.5);
    const M = mT(V).matmul(sym).matmul(V);
    const eye = identity(n);
    const diff = w.expandDims(-2).sub(w.expandDims(-1)); // [i, j] = λ_j − λ_i
    const F = eye.sub(1).neg().div(diff.add(eye)); // 1/(λ_j − λ_i) off-diagonal, 0 on it
    return [[w, V], [diagT(M), V.matmul(F.mul(M))]];
  },
  batch: batchFront(() => eigh_p),
});

// ------------------------------------------------------------------ qr

/**
 * `qr`: `A [..., m, n]` → `(Q [..., m, k], R [..., k, n])`, `k = min(m, n)` (the reduced
 * factorisation), Householder reflections: `Q` has orthonormal columns, `R` is upper
 * triangular, `Q·R = A`.
 */
export const qr_p: Primitive = definePrimitive("qr", {
  multipleResults: true,
  abstractEval(avals) {
    checkMatrix("qr", avals, false);
    const a = avals[0];
    const [m, n] = a.shape.slice(-2), k = Math.min(m, n), lead = a.shape.slice(0, -2);
    return [new ShapedArray([...lead, m, k], "f32"), new ShapedArray([...lead, k, n], "f32")];
  },
  impl([a], _p, [qo, ro]) {
    const [m, n] = a.aval.shape.slice(-2), k = Math.min(m, n), B = batchCount(a);
    const Qo = alloc(qo), Ro = alloc(ro);
    const R = new Float64Array(m * n), Q = new Float64Array(m * m), v = new Float64Array(m);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < m * n; i++) R[i] = a.data[b * m * n + i];
      Q.fill(0);
      for (let i = 0; i < m; i++) Q[i * m + i] = 1;
      for (let j = 0; j < k; j++) {
        let norm = 0;
        for (let i = j; i < m; i++) norm += R[i * n + j] * R[i * n + j];
        norm = Math.sqrt(norm);
        if (norm === 0) continue;
        const alpha = R[j * n + j] > 0 ? -norm : norm;
        v.fill(0);
        for (let i = j; i < m; i++) v[i] = R[i * n + j];
        v[j] -= alpha;
        let vn = 0;
        for (let i = j; i < m; i++) vn += v[i] * v[i];
        if (vn === 0) continue;
        // R ← (I − 2vvᵀ/vᵀv) R ; Q ← Q (I − 2vvᵀ/vᵀv)
        for (let c = 0; c < n; c++) {
          let s = 0;
          for (let i = j; i < m; i++) s += v[i] * R[i * n + c];
          s = (2 * s) / vn;
          for (let i = j; i < m; i++) R[i * n + c] -= s * v[i];
        }
        for (let r = 0; r < m; r++) {
          let s = 0;
          for (let i = j; i < m; i++) s += Q[r * m + i] * v[i];
          s = (2 * s) / vn;
          for (let i = j; i < m; i++) Q[r * m + i] -= s * v[i];
        }
      }
      for (let r = 0; r < m; r++) {
        for (let c = 0; c < k; c++) Qo[b * m * k + r * k + c] = Q[r * m + c];
      }
      for (let r = 0; r < k; r++) {
        for (let c = 0; c < n; c++) Ro[b * k * n + r * n + c] = c < r ? 0 : R[r * n + c];
      }
    }
    return [Qo, Ro];
  },
  // JAX's qr_jvp_rule (m ≥ n): C = Qᵀ·Ȧ·R⁻¹, Ω = tril(C, −1) − tril(C, −1)ᵀ,
  // Q̇ = Q·(Ω − C) + Ȧ·R⁻¹, Ṙ = (C − Ω)·R.
  jvp([a], [da]) {
    const [Q, R] = bind(qr_p, [a]);
    const [m, n] = a.shape.slice(-2);
    if (m < n) {
      throw new TypeError(
        `qr: the derivative needs m >= n (a tall or square matrix), got ${a.aval}`,
      );
    }
    const dxRinv = mT(triangularSolve(R, mT(da), { lower: false, transposeA: true }));
    const C = mT(Q).matmul(dxRinv);
    const low = trilT(C, -1);
    const omega = low.sub(mT(low));
    const dQ = Q.matmul(omega.sub(C)).add(dxRinv);
    const dR = C.sub(omega).matmul(R);
    return [[Q, R], [dQ, dR]];
  },
  batch: batchFront(() => qr_p),
});

// ------------------------------------------------------------------ svd

/**
 * One-sided Jacobi SVD of an m×n matrix with m ≥ n (row-major, copied): returns U (m×n), s (n,
 * descending), V (n×n).
 */
function jacobiSvdTall(
  a: Float64Array,
  m: number,
  n: number,
): { U: Float64Array; s: Float64Array; V: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) {
          const x = A[i * n + p], y = A[i * n + q];
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || Math.abs(gamma) <= 1e-15 * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < m; i++) {
          const x = A[i * n + p], y = A[i * n + q];
          A[i * n + p] = c * x - s * y;
          A[i * n + q] = s * x + c * y;
        }
        for (let i = 0; i < n; i++) {
          const x = V[i * n + p], y = V[i * n + q];
          V[i * n + p] = c * x - s * y;
          V[i * n + q] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let t = 0;
    for (let i = 0; i < m; i++) t += A[i * n + j] * A[i * n + j];
    norms[j] = Math.sqrt(t);
  }
  const order = [...Array(n).keys()].sort((i, j) => norms[j] - norms[i]);
  const U = new Float64Array(m * n), s = new Float64Array(n), Vs = new Float64Array(n * n);
  const tol = (norms[order[0]] || 0) * 1e-13;
  order.forEach((src, dst) => {
    s[dst] = norms[src];
    for (let i = 0; i < n; i++) Vs[i * n + dst] = V[i * n + src];
    if (norms[src] > tol) {
      for (let i = 0; i < m; i++) U[i * n + dst] = A[i * n + src] / norms[src];
    } else {
      // complete U with a unit vector orthogonal to the columns already set
      for (let e = 0; e < m; e++) {
        const u = new Float64Array(m);
        u[e] = 1;
        for (let c = 0; c < dst; c++) {
          let d = 0;
          for (let i = 0; i < m; i++) d += U[i * n + c] * u[i];
          for (let i = 0; i < m; i++) u[i] -= d * U[i * n + c];
        }
        const nn = Math.hypot(...u);
        if (nn > 0.5) {
          for (let i = 0; i < m; i++) U[i * n + dst] = u[i] / nn;
          break;
        }
      }
    }
  });
  return { U, s, V: Vs };
}

/**
 * `svd`: `A [..., m, n]` → `(U [..., m, k], s [..., k], Vt [..., k, n])`, `k = min(m, n)`:
 * the reduced SVD `A = U·diag(s)·Vt`, `s` descending and non-negative, by one-sided Jacobi.
 */
export const svd_p: Primitive = definePrimitive("svd", {
  multipleResults: true,
  abstractEval(avals) {
    checkMatrix("svd", avals, false);
    const a = avals[0];
    const [m, n] = a.shape.slice(-2), k = Math.min(m, n), lead = a.shape.slice(0, -2);
    return [
      new ShapedArray([...lead, m, k], "f32"),
      new ShapedArray([...lead, k], "f32"),
      new ShapedArray([...lead, k, n], "f32"),
    ];
  },
  impl([a], _p, [uo, so, vo]) {
    const [m, n] = a.aval.shape.slice(-2), k = Math.min(m, n), B = batchCount(a);
    const Uo = alloc(uo), So = alloc(so), Vto = alloc(vo);
    const buf = new Float64Array(m * n);
    for (let b = 0; b < B; b++) {
      const off = b * m * n;
      if (m >= n) {
        for (let i = 0; i < m * n; i++) buf[i] = a.data[off + i];
        const { U, s, V } = jacobiSvdTall(buf, m, n);
        for (let i = 0; i < m * k; i++) Uo[b * m * k + i] = U[i];
        for (let i = 0; i < k; i++) So[b * k + i] = s[i];
        // Vt[r, c] = V[c, r]
        for (let r = 0; r < k; r++) {
          for (let c = 0; c < n; c++) Vto[b * k * n + r * n + c] = V[c * n + r];
        }
      } else {
        // Aᵀ = V·S·Uᵀ: the SVD of the transpose (n×m, tall)
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < m; j++) buf[i * m + j] = a.data[off + j * n + i];
        }
        const { U: Ut, s, V: Vt } = jacobiSvdTall(buf, n, m);
        // U (of A) = Vt (m×m); Vt (of A) = Utᵀ (k×n), Ut is n×m
        for (let i = 0; i < m * m; i++) Uo[b * m * k + i] = Vt[i];
        for (let i = 0; i < k; i++) So[b * k + i] = s[i];
        for (let r = 0; r < k; r++) {
          for (let c = 0; c < n; c++) Vto[b * k * n + r * n + c] = Ut[c * m + r];
        }
      }
    }
    return [Uo, So, Vto];
  },
  // JAX's svd_jvp_rule (reduced, real).
  jvp([a], [da]) {
    const [U, s, Vt] = bind(svd_p, [a]);
    const [m, n] = a.shape.slice(-2), k = Math.min(m, n);
    const V = mT(Vt), Ut = mT(U);
    const sDim = s.expandDims(-2); // [..., 1, k]
    const dS = Ut.matmul(da).matmul(V);
    const ds = diagT(dS);
    const eye = identity(k);
    const sDiffs = sDim.add(mT(sDim)).mul(sDim.sub(mT(sDim)));
    const F = eye.sub(1).neg().div(sDiffs.add(eye));
    const dSS = dS.mul(sDim);
    const SdS = mT(sDim).mul(dS);
    let dU = U.matmul(F.mul(dSS.add(mT(dSS))));
    let dV = V.matmul(F.mul(SdS.add(mT(SdS))));
    if (m > n) {
      const dAV = da.matmul(V);
      dU = dU.add(dAV.sub(U.matmul(Ut.matmul(dAV))).div(sDim));
    }
    if (n > m) {
      const dAHU = mT(da).matmul(U);
      dV = dV.add(dAHU.sub(V.matmul(Vt.matmul(dAHU))).div(sDim));
    }
    return [[U, s, Vt], [dU, ds, mT(dV)]];
  },
  batch: batchFront(() => svd_p),
});
