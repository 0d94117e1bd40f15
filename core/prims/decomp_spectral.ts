/**
 * Matrix decompositions, part 2: `eigh` (cyclic Jacobi), `qr` (Householder), `svd` (one-sided
 * Jacobi), on the last two axes of their operand (`[..., m, n]`, leading axes are a batch).
 * Reference implementations compute in float64 and round once at the end; derivatives follow
 * JAX (`jax/_src/lax/linalg.py`); batching rules move the batch axis to the front.
 *
 * @module
 */
import { ShapedArray } from "../aval.ts";
import { definePrimitive, type NoParams, type PlainPrimitive } from "../primitive.ts";
import { bind } from "../trace.ts";
import { alloc } from "./host.ts";
import {
  batchCount,
  batchFront,
  checkMatrix,
  diagT,
  identity,
  mT,
  triangularSolve,
  trilT,
} from "./decomp.ts";

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
export const eigh_p: PlainPrimitive = definePrimitive<NoParams>("eigh", {
  params: {},
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
export const qr_p: PlainPrimitive = definePrimitive<NoParams>("qr", {
  params: {},
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
  // columns stored contiguously (A column-major, V column-major): rotations stream memory
  const A = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) A[j * m + i] = a[i * n + j];
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const po = p * m, pv = p * n;
      for (let q = p + 1; q < n; q++) {
        const qo = q * m, qv = q * n;
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) {
          const x = A[po + i], y = A[qo + i];
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
          const x = A[po + i], y = A[qo + i];
          A[po + i] = c * x - s * y;
          A[qo + i] = s * x + c * y;
        }
        for (let i = 0; i < n; i++) {
          const x = V[pv + i], y = V[qv + i];
          V[pv + i] = c * x - s * y;
          V[qv + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let t = 0;
    for (let i = 0; i < m; i++) t += A[j * m + i] * A[j * m + i];
    norms[j] = Math.sqrt(t);
  }
  const order = [...Array(n).keys()].sort((i, j) => norms[j] - norms[i]);
  const U = new Float64Array(m * n), s = new Float64Array(n), Vs = new Float64Array(n * n);
  const tol = (norms[order[0]] || 0) * 1e-13;
  order.forEach((src, dst) => {
    s[dst] = norms[src];
    for (let i = 0; i < n; i++) Vs[i * n + dst] = V[src * n + i];
    if (norms[src] > tol) {
      for (let i = 0; i < m; i++) U[i * n + dst] = A[src * m + i] / norms[src];
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
export const svd_p: PlainPrimitive = definePrimitive<NoParams>("svd", {
  params: {},
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
