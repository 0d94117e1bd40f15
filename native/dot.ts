/**
 * `dot_general` on the native backend: every layout becomes (batched) row-major GEMM calls.
 * Each operand is used in place when its dimensions are already grouped as
 * `[batch, free, contracting]` or `[batch, contracting, free]` (the second is a transposed
 * operand, folded into the GEMM's transpose flag); any other order is gathered once into the
 * first grouping. A batch is a loop of GEMM calls on subarray views.
 *
 * Accumulation is the BLAS's f32 (the reference accumulates in float64), so results differ
 * from the reference by f32 rounding of the partial sums: about `K · 2⁻²⁴` relative.
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { gather, stridesOf } from "./kernels.ts";

/** `dot_general`'s dimension numbers, as bound. */
export interface DotParams {
  /** `[lhsContracting, rhsContracting]`. */
  readonly contracting: readonly [readonly number[], readonly number[]];
  /** `[lhsBatch, rhsBatch]`. */
  readonly batch: readonly [readonly number[], readonly number[]];
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const isIdentity = (p: readonly number[]) => p.every((d, i) => d === i);

/**
 * An operand as a stack of matrices: in place when `order` (batch, then the two groups) is
 * already its memory order, or with the second grouping (transposed), else gathered.
 */
function asMatrices(
  data: Float32Array,
  shape: readonly number[],
  batch: readonly number[],
  first: readonly number[],
  second: readonly number[],
): { data: Float32Array; trans: boolean } {
  if (isIdentity([...batch, ...first, ...second])) return { data, trans: false };
  if (isIdentity([...batch, ...second, ...first])) return { data, trans: true };
  const perm = [...batch, ...first, ...second];
  const st = stridesOf(shape);
  const out = new Float32Array(data.length);
  gather(data, 0, perm.map((d) => shape[d]), perm.map((d) => st[d]), out);
  return { data: out, trans: false };
}

/**
 * Computes `dot_general` of f32 operands into `out` (`[batch, lhsFree, rhsFree]`).
 *
 * @param sgemm the GEMM to use
 * @param l lhs data
 * @param lShape lhs shape
 * @param r rhs data
 * @param rShape rhs shape
 * @param p the dimension numbers
 * @param out the result, `[batch, lhsFree, rhsFree]`, written in full (with `beta = 1`:
 *   `out ← alpha · product + out`, the jit's fused `w − lr · gradient`)
 * @param alpha the product's scale (default 1)
 * @param beta 0 (overwrite `out`, the default) or 1 (accumulate into it)
 */
export function dotGeneralF32(
  sgemm: Sgemm,
  l: Float32Array,
  lShape: readonly number[],
  r: Float32Array,
  rShape: readonly number[],
  p: DotParams,
  out: Float32Array,
  alpha = 1,
  beta: 0 | 1 = 0,
): void {
  const [lc, rc] = p.contracting, [lb, rb] = p.batch;
  const lf = lShape.map((_, i) => i).filter((i) => !lc.includes(i) && !lb.includes(i));
  const rf = rShape.map((_, i) => i).filter((i) => !rc.includes(i) && !rb.includes(i));
  const B = prod(lb.map((d) => lShape[d]));
  const M = prod(lf.map((d) => lShape[d]));
  const N = prod(rf.map((d) => rShape[d]));
  const K = prod(lc.map((d) => lShape[d]));
  if (out.length === 0) return;
  if (K === 0) {
    if (beta === 0) out.fill(0);
    return;
  }
  // lhs as [B, M, K] (or [B, K, M] transposed), rhs as [B, K, N] (or [B, N, K] transposed)
  const a = asMatrices(l, lShape, lb, lf, lc);
  const b = asMatrices(r, rShape, rb, rc, rf);
  const lda = a.trans ? M : K, ldb = b.trans ? K : N;
  if (B === 1) {
    sgemm(a.trans, b.trans, M, N, K, alpha, a.data, lda, b.data, ldb, beta, out, N);
    return;
  }
  for (let i = 0; i < B; i++) {
    sgemm(
      a.trans,
      b.trans,
      M,
      N,
      K,
      alpha,
      a.data.subarray(i * M * K, (i + 1) * M * K),
      lda,
      b.data.subarray(i * K * N, (i + 1) * K * N),
      ldb,
      beta,
      out.subarray(i * M * N, (i + 1) * M * N),
      N,
    );
  }
}
