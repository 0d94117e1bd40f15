/**
 * `dot_general` as a batched GEMM over strided views: batch dims, lhs free dims (M), rhs free
 * dims (N) and contracting dims (K) each become one flat index, and the operand loads compute
 * their addresses from the original strides, so transposed or permuted operands are read in
 * place. Groups of dims that are adjacent in memory merge into one (a plain multiply).
 *
 * @module
 */
import type { DotDims } from "../../core/prims/linalg.ts";
import type { DType } from "../../core/dtype.ts";
import { decode, dotStrides, type Plan, size, storageType, strides, u } from "./common.ts";
import { type GemmCaps, gemmPlan, type GemmSpec } from "./gemm.ts";
import { textureGemmPlan } from "./gemm_texture.ts";

/** One merged dim of a group: its size and its stride in each operand that has it. */
interface _Dim {
  size: number;
  strides: number[];
}

/**
 * Merges a group of dims (listed per operand) into as few dims as possible: size-1 dims go,
 * and a dim folds into its predecessor when, in every operand, it is laid out right inside it.
 */
function _merge(sizes: readonly number[], perOperand: readonly (readonly number[])[]): _Dim[] {
  const dims: _Dim[] = [];
  for (let i = 0; i < sizes.length; i++) {
    if (sizes[i] === 1) continue;
    const s = perOperand.map((st) => st[i]);
    const last = dims[dims.length - 1];
    if (last && last.strides.every((ls, k) => ls === s[k] * sizes[i])) {
      last.size *= sizes[i];
      last.strides = s;
    } else dims.push({ size: sizes[i], strides: s });
  }
  return dims;
}

/** WGSL statements computing `name` = the offset of flat index `x` in operand `k`. */
function _offset(name: string, x: string, dims: readonly _Dim[], k: number): string {
  if (dims.length === 0) return `let ${name} = 0u;`;
  if (dims.length === 1) return `let ${name} = ${dotStrides([x], [dims[0].strides[k]])};`;
  const vars = dims.map((_, d) => `${name}_${d}`);
  return `${decode(x, dims.map((d) => d.size), `${name}_`)}\n  let ${name} = ${
    dotStrides(vars, dims.map((d) => d.strides[k]))
  };`;
}

/** `dot_general` dimension numbers (its params), as the core primitive declares them. */
export type { DotDims } from "../../core/prims/linalg.ts";

/**
 * `dot_general`: output shape = batch dims, then lhs free dims, then rhs free dims.
 *
 * @param dtype f32, i32 or u32.
 * @param lhs The lhs shape.
 * @param rhs The rhs shape.
 * @param dims The dimension numbers.
 * @param caps What the GEMM may use on the device (textures on CPU adapters).
 * @returns The plan: inputs (lhs, rhs) → output 0.
 */
export function dotGeneralPlan(
  dtype: DType,
  lhs: readonly number[],
  rhs: readonly number[],
  dims: DotDims,
  caps?: GemmCaps,
): Plan {
  if (dtype === "bool") {
    throw new TypeError("Cannot lower dot_general for bool on webgpu: convert to an int first");
  }
  return gemmPlan(_dotSpec(dtype, lhs, rhs, dims, false), caps);
}

/**
 * `dot_general` of two f16-storage operands (2 bytes an element) into f32, as the texture
 * GEMM: its pack kernels read the operands as `array<f16>` and widen each element (dense
 * operands are copied into `rgba16float` textures), and the product accumulates in f32. Null
 * where the device takes no texture GEMM, or the operands do not fit its textures.
 *
 * @param lhs The lhs shape.
 * @param rhs The rhs shape.
 * @param dims The dimension numbers.
 * @param caps What the GEMM may use on the device.
 * @returns The plan: inputs (lhs, rhs; f16 storage) → output 0 (f32), or null.
 */
export function dotGeneralHalfPlan(
  lhs: readonly number[],
  rhs: readonly number[],
  dims: DotDims,
  caps: GemmCaps,
): Plan | null {
  if (!caps.textures) return null;
  return textureGemmPlan(_dotSpec("f32", lhs, rhs, dims, true), caps);
}

/** The GEMM of a `dot_general` (`half`: f16-storage operands, widened as they are loaded). */
function _dotSpec(
  dtype: DType,
  lhs: readonly number[],
  rhs: readonly number[],
  dims: DotDims,
  half: boolean,
): GemmSpec {
  const [lc, rc] = dims.contracting, [lb, rb] = dims.batch;
  const sl = strides(lhs), sr = strides(rhs);
  const lf = lhs.map((_, d) => d).filter((d) => !lc.includes(d) && !lb.includes(d));
  const rf = rhs.map((_, d) => d).filter((d) => !rc.includes(d) && !rb.includes(d));
  const bDims = _merge(lb.map((d) => lhs[d]), [lb.map((d) => sl[d]), rb.map((d) => sr[d])]);
  const kDims = _merge(lc.map((d) => lhs[d]), [lc.map((d) => sl[d]), rc.map((d) => sr[d])]);
  const mDims = _merge(lf.map((d) => lhs[d]), [lf.map((d) => sl[d])]);
  const nDims = _merge(rf.map((d) => rhs[d]), [rf.map((d) => sr[d])]);
  const B = size(lb.map((d) => lhs[d])), K = size(lc.map((d) => lhs[d]));
  const M = size(lf.map((d) => lhs[d])), N = size(rf.map((d) => rhs[d]));
  const t = storageType(dtype);
  const load = (x: string) => (half ? `f32(${x})` : x);
  // Whether an operand is laid out exactly as [batch, rows, cols] row-major.
  const dense = (groups: [_Dim[], number, number][]) =>
    groups.every(([ds, k, stride]) =>
      ds.length === 0 || (ds.length === 1 && ds[0].strides[k] === stride)
    );
  return {
    aDense: dense([[bDims, 0, M * K], [mDims, 0, K], [kDims, 0, 1]]),
    bDense: dense([[bDims, 1, K * N], [kDims, 1, N], [nDims, 0, 1]]),
    aDenseT: dense([[bDims, 0, M * K], [kDims, 0, M], [mDims, 0, 1]]),
    bDenseT: dense([[bDims, 1, K * N], [nDims, 0, K], [kDims, 1, 1]]),
    halfOperands: half || undefined,
    dtype,
    batch: B,
    M,
    N,
    K,
    loadA: `fn loadA(bi: u32, m: u32, k: u32) -> ${t} {
  ${_offset("ob", "bi", bDims, 0)}
  ${_offset("om", "m", mDims, 0)}
  ${_offset("ok", "k", kDims, 0)}
  return ${load("a[ob + om + ok]")};
}`,
    loadB: `fn loadB(bi: u32, k: u32, n: u32) -> ${t} {
  ${_offset("ob", "bi", bDims, 1)}
  ${_offset("ok", "k", kDims, 1)}
  ${_offset("on", "n", nDims, 0)}
  return ${load("b[ob + ok + on]")};
}`,
    storeC: `fn storeC(bi: u32, m: u32, n: u32, v: ${t}) { o[(bi * ${u(M)} + m) * ${
      u(N)
    } + n] = v; }`,
    storeC4: `fn storeC4(bi: u32, m: u32, n: u32, v: vec4<${t}>) { o[((bi * ${u(M)} + m) * ${
      u(N)
    } + n) / 4u] = v; }`,
  };
}
