/**
 * `conv_general_dilated` as an implicit GEMM, with PyTorch layouts: lhs `[N, C, ...spatial]`,
 * rhs `[O, C / featureGroupCount, ...kernel]`, out `[N / batchGroupCount, O, ...outSpatial]`.
 *
 * Per group g (G = featureGroupCount · batchGroupCount groups, one of the two being 1):
 * rows m = (n, output position), columns = the group's Og = O / G output features, and the
 * contraction k = (input channel of the group, kernel position). The A operand is the im2col
 * matrix, computed on the fly: input position = out · stride + kpos · rhsDilation - padLo, in
 * the lhs-dilated input (zero off the dilation grid and outside the input).
 *
 * Groups follow XLA: with feature groups, group g reads input channels [g·Cg, (g+1)·Cg); with
 * batch groups, the input batch splits into G blocks of N / G (group g reads batch entries
 * g·(N/G) + n) — the layout JAX's batching and grouped-weight-gradient rules rely on. Output
 * feature o belongs to group ⌊o / Og⌋ either way.
 *
 * Which form runs: on CPU adapters (textures), a convolution of one or two spatial dimensions
 * as the texture implicit GEMM of `conv_texture.ts` (input packed once, nothing of im2col's
 * size); the rest (three spatial dimensions, textures beyond the limits) and every convolution
 * on discrete GPUs as the workgroup-memory GEMM here, whose `loadA` computes the im2col element
 * in place. Both store through `storeC`, so the jit's fused epilogues apply to each. (A GEMM
 * over input channels then a gather of its products, once used for few output features, lost
 * to the texture implicit GEMM once that kept llvmpipe's vectors full: W4's input gradients
 * 61 → 22 ms and 13 → 6 ms process CPU time.) Before any of them, a convolution of an lhs-dilated input (the input
 * gradient of a strided convolution) splits into one sub-convolution per phase of the dilation
 * (`conv_phase.ts`), so that no product with an inserted zero is computed.
 *
 * @module
 */
import type { ConvParams } from "../../core/prims/conv.ts";
import type { DType } from "../../core/dtype.ts";
import { decode, i, type Plan, size, storageType, strides, u } from "./common.ts";
import { convByPhases, convPhasePlan } from "./conv_phase.ts";
import { convTexturePlan } from "./conv_texture.ts";
import { type GemmCaps, gemmPlan } from "./gemm.ts";

/** Parameters of `conv_general_dilated`, as the core primitive declares them. */
export type { ConvParams } from "../../core/prims/conv.ts";

/**
 * The output shape of a convolution.
 *
 * @param lhs The lhs shape.
 * @param rhs The rhs shape.
 * @param p The parameters.
 * @returns `[N / batchGroupCount, O, ...outSpatial]`.
 */
export function convOutShape(
  lhs: readonly number[],
  rhs: readonly number[],
  p: ConvParams,
): number[] {
  const sp = lhs.slice(2).map((n, d) => {
    const din = n === 0 ? 0 : (n - 1) * p.lhsDilation[d] + 1;
    const dk = (rhs[d + 2] - 1) * p.rhsDilation[d] + 1;
    const span = din + p.padding[d][0] + p.padding[d][1] - dk;
    return span < 0 ? 0 : Math.floor(span / p.windowStrides[d]) + 1;
  });
  return [lhs[0] / p.batchGroupCount, rhs[0], ...sp];
}

/**
 * The statements of a convolution's `storeC(g, m, n, v)` given `lin`, the linear index of the
 * output element (NCHW…), and `v`, its value: writing `o` (binding of output 0) and whatever
 * else the statements' own declarations provide.
 */
export type ConvStore = readonly string[];

/** The plain store of a convolution's output: `o[lin] = v`. */
export const plainConvStore: ConvStore = ["o[lin] = v;"];

/**
 * The convolution kernel.
 *
 * @param dtype f32, i32 or u32.
 * @param lhs The lhs shape.
 * @param rhs The rhs shape.
 * @param p The parameters.
 * @param caps What the GEMM may use on the device (textures on CPU adapters).
 * @param store The epilogue: the statements of the output's `storeC` (default
 *   {@link plainConvStore}); the jit passes fused consumers (bias, activation …) here.
 * @returns The plan: inputs (lhs, rhs) → output 0.
 */
export function convPlan(
  dtype: DType,
  lhs: readonly number[],
  rhs: readonly number[],
  p: ConvParams,
  caps?: GemmCaps,
  store: ConvStore = plainConvStore,
): Plan {
  if (dtype === "bool") {
    throw new TypeError("Cannot lower conv_general_dilated for bool on webgpu");
  }
  const outShape = convOutShape(lhs, rhs, p);
  if (convByPhases(p) && size(outShape) > 0) {
    // an lhs-dilated input (a strided convolution's input gradient): one sub-convolution per
    // phase of the dilation, none of whose products meets an inserted zero
    return convPhasePlan(dtype, lhs, rhs, outShape, p, caps, store, convPlan, convOutShape);
  }
  const [Nout, O] = outShape;
  const C = lhs[1], Cg = rhs[1];
  const inSp = lhs.slice(2), kSp = rhs.slice(2), oSp = outShape.slice(2);
  const S = size(oSp), KS = size(kSp);
  const fg = p.featureGroupCount, bg = p.batchGroupCount;
  const G = fg * bg, Og = O / G;
  const K = Cg * KS;
  const t = storageType(dtype);
  if (caps?.textures) {
    // the implicit GEMM over textures (conv_texture.ts): no im2col, no products
    const tp = convTexturePlan(dtype, lhs, rhs, outShape, p, caps, store);
    if (tp) return tp;
  }
  const lines: string[] = [];
  lines.push(`let n = m / ${u(S)};`, `let sp = m % ${u(S)};`);
  lines.push(`let c = k / ${u(KS)};`, `let kp = k % ${u(KS)};`);
  lines.push(decode("sp", oSp, "s"), decode("kp", kSp, "w"));
  lines.push(..._inputOffset(inSp, p));
  const nb = bg > 1 ? `n + g * ${u(Nout)}` : "n";
  const ch = fg > 1 ? `c + g * ${u(Cg)}` : "c";
  lines.push(`if (!ok) { return ${t}(0); }`);
  lines.push(`return a[((${nb}) * ${u(C)} + ${ch}) * ${u(size(inSp))} + off];`);
  return gemmPlan({
    dtype,
    batch: G,
    M: Nout * S,
    N: Og,
    K,
    loadA: `fn loadA(g: u32, m: u32, k: u32) -> ${t} {\n  ${lines.join("\n  ")}\n}`,
    loadB: `fn loadB(g: u32, k: u32, n: u32) -> ${t} { return b[(g * ${u(Og)} + n) * ${
      u(K)
    } + k]; }`,
    storeC: `fn storeC(g: u32, m: u32, n: u32, v: ${t}) {
  let lin = ((m / ${u(S)}) * ${u(O)} + g * ${u(Og)} + n) * ${u(S)} + m % ${u(S)};
  ${store.join("\n  ")}
}`,
  }, caps);
}

/**
 * Lines setting `ok` (the input position of output position `s*` and kernel position `w*` is
 * inside the lhs-dilated, padded input) and `off` (its linear offset in one input channel).
 */
function _inputOffset(inSp: readonly number[], p: ConvParams): string[] {
  const ist = strides(inSp);
  const lines = ["var ok = true;", "var off = 0u;"];
  for (let d = 0; d < inSp.length; d++) {
    const ld = p.lhsDilation[d];
    lines.push(
      `let q${d} = i32(s${d} * ${u(p.windowStrides[d])} + w${d} * ${u(p.rhsDilation[d])}) - ${
        i(p.padding[d][0])
      };`,
    );
    if (ld === 1) {
      lines.push(`ok = ok && q${d} >= 0i && q${d} < ${i(inSp[d])};`);
      lines.push(`off = off + u32(q${d}) * ${u(ist[d])};`);
    } else {
      lines.push(
        `ok = ok && q${d} >= 0i && q${d} % ${i(ld)} == 0i && q${d} / ${i(ld)} < ${i(inSp[d])};`,
      );
      lines.push(`off = off + u32(q${d} / ${i(ld)}) * ${u(ist[d])};`);
    }
  }
  return lines;
}
