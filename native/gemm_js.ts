/**
 * The TypeScript GEMM that the native backend falls back to where no BLAS can be loaded: a
 * row-major `sgemm` over Float32Array, packed into cache-sized panels (KC × NC of op(B), 4-row
 * slivers of op(A)) and computed by a 4 × 4 register-tiled micro-kernel whose sixteen
 * accumulators are JavaScript numbers (float64), rounded to f32 once per panel.
 *
 * @module
 */

/** Depth of a packed panel (the contraction block). */
const KC = 256;
/** Width of a packed panel of op(B). */
const NC = 512;

let _ap = new Float64Array(0), _bp = new Float64Array(0);

/**
 * `C ← alpha · op(A) · op(B) + beta · C`, row-major, as CBLAS's `cblas_sgemm(CblasRowMajor, …)`.
 * `op(A)` is M × K (A is K × M with leading dimension `lda` when `transA`), `op(B)` is K × N.
 * The arrays are views whose first element is the matrix's first element.
 *
 * @param transA whether A is stored transposed
 * @param transB whether B is stored transposed
 * @param m rows of C
 * @param n columns of C
 * @param k the contraction length
 * @param alpha scale of the product
 * @param a A's storage
 * @param lda A's row stride
 * @param b B's storage
 * @param ldb B's row stride
 * @param beta scale of C's old value (0: C is overwritten, even where it held NaN)
 * @param c C's storage, written in place
 * @param ldc C's row stride
 * @example
 * ```ts
 * import { sgemmJs } from "./gemm_js.ts";
 * const c = new Float32Array(4);
 * sgemmJs(false, false, 2, 2, 2, 1, new Float32Array([1, 2, 3, 4]), 2, new Float32Array([1, 0, 0, 1]), 2, 0, c, 2);
 * console.log(c); // Float32Array [1, 2, 3, 4]
 * if (c.join() !== "1,2,3,4") throw new Error(`got ${c}`);
 * ```
 */
export function sgemmJs(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
): void {
  if (m === 0 || n === 0) return;
  if (beta !== 1) {
    for (let i = 0; i < m; i++) {
      const r = i * ldc;
      if (beta === 0) c.fill(0, r, r + n);
      else for (let j = 0; j < n; j++) c[r + j] *= beta;
    }
  }
  if (k === 0 || alpha === 0) return;
  const m4 = (m + 3) & ~3;
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kc = Math.min(KC, k - k0);
    // op(A)[:, k0:k0+kc] packed as 4-row slivers [m4/4][kc][4], alpha folded in
    if (_ap.length < m4 * kc) _ap = new Float64Array(m4 * kc);
    const ap = _ap;
    for (let i0 = 0; i0 < m4; i0 += 4) {
      const base = i0 * kc;
      for (let r = 0; r < 4; r++) {
        const i = i0 + r;
        if (i >= m) {
          for (let p = 0; p < kc; p++) ap[base + p * 4 + r] = 0;
        } else if (transA) {
          for (let p = 0; p < kc; p++) ap[base + p * 4 + r] = alpha * a[(k0 + p) * lda + i];
        } else {
          const ro = i * lda + k0;
          for (let p = 0; p < kc; p++) ap[base + p * 4 + r] = alpha * a[ro + p];
        }
      }
    }
    for (let j0 = 0; j0 < n; j0 += NC) {
      const nc = Math.min(NC, n - j0), nc4 = (nc + 3) & ~3;
      // op(B)[k0:k0+kc, j0:j0+nc] packed as 4-column slivers [nc4/4][kc][4]
      if (_bp.length < nc4 * kc) _bp = new Float64Array(nc4 * kc);
      const bp = _bp;
      for (let jj = 0; jj < nc4; jj += 4) {
        const base = jj * kc;
        for (let s = 0; s < 4; s++) {
          const j = j0 + jj + s;
          if (jj + s >= nc) {
            for (let p = 0; p < kc; p++) bp[base + p * 4 + s] = 0;
          } else if (transB) {
            const ro = j * ldb + k0;
            for (let p = 0; p < kc; p++) bp[base + p * 4 + s] = b[ro + p];
          } else {
            for (let p = 0; p < kc; p++) bp[base + p * 4 + s] = b[(k0 + p) * ldb + j];
          }
        }
      }
      for (let i0 = 0; i0 < m; i0 += 4) {
        const rows = Math.min(4, m - i0);
        for (let jj = 0; jj < nc; jj += 4) {
          micro(
            ap,
            i0 * kc,
            bp,
            jj * kc,
            kc,
            c,
            i0 * ldc + j0 + jj,
            ldc,
            rows,
            Math.min(4, nc - jj),
          );
        }
      }
    }
  }
}

/** The 4 × 4 micro-kernel: C[0:rows, 0:cols] += Ap-sliver · Bp-sliver over `kc`. */
function micro(
  ap: Float64Array,
  ao: number,
  bp: Float64Array,
  bo: number,
  kc: number,
  c: Float32Array,
  co: number,
  ldc: number,
  rows: number,
  cols: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  const end = ao + kc * 4;
  for (; ao < end; ao += 4, bo += 4) {
    const b0 = bp[bo], b1 = bp[bo + 1], b2 = bp[bo + 2], b3 = bp[bo + 3];
    const a0 = ap[ao], a1 = ap[ao + 1], a2 = ap[ao + 2], a3 = ap[ao + 3];
    c00 += a0 * b0, c01 += a0 * b1, c02 += a0 * b2, c03 += a0 * b3;
    c10 += a1 * b0, c11 += a1 * b1, c12 += a1 * b2, c13 += a1 * b3;
    c20 += a2 * b0, c21 += a2 * b1, c22 += a2 * b2, c23 += a2 * b3;
    c30 += a3 * b0, c31 += a3 * b1, c32 += a3 * b2, c33 += a3 * b3;
  }
  if (rows === 4 && cols === 4) {
    c[co] += c00, c[co + 1] += c01, c[co + 2] += c02, c[co + 3] += c03;
    co += ldc;
    c[co] += c10, c[co + 1] += c11, c[co + 2] += c12, c[co + 3] += c13;
    co += ldc;
    c[co] += c20, c[co + 1] += c21, c[co + 2] += c22, c[co + 3] += c23;
    co += ldc;
    c[co] += c30, c[co + 1] += c31, c[co + 2] += c32, c[co + 3] += c33;
    return;
  }
  const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < cols; s++) c[co + r * ldc + s] += t[r * 4 + s];
  }
}
