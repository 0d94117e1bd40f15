/**
 * Graph rewrites that fold the layout glue of convolution gradients into the convolutions,
 * before fusion (each saves a kernel, and on llvmpipe a pipeline compile per layer shape).
 *
 * - **Swapped outputs.** A kernel gradient is `swap01(conv(swap01(x), swap01(ct)))` (the
 *   convolution computes `[C, O, ...k]`, the kernel is `[O, C, ...k]`; `core/prims/conv.ts`'s
 *   `transposeRhs`). Where the convolution's only reader is that transpose, one equation
 *   replaces both: the convolution with {@link OUT_SWAP01} set, whose result is the transposed
 *   value. Its `storeC` maps the convolution's NCHW index to the swapped layout before the
 *   epilogue ({@link swapStore}), so an optimizer update reads the gradient at its own index
 *   and becomes the convolution's epilogue (in place on a donated parameter) instead of a
 *   kernel of its own that reads the gradient transposed.
 *
 * @module
 */
import type { GEqn, Graph, GVal } from "./graph.ts";
import { u } from "../kernels/common.ts";

/**
 * The param that marks a convolution whose result is stored with its first two dimensions
 * swapped (the jit's own: the primitive does not know it, and only {@link foldConvGlue}
 * sets it).
 */
export const OUT_SWAP01 = "outSwap01";

const _isSwap01 = (perm: readonly number[]) =>
  perm.length >= 2 && perm[0] === 1 && perm[1] === 0 && perm.slice(2).every((d, i) => d === i + 2);

/**
 * Folds `transpose(conv(…), [1, 0, 2, …])` into the convolution where the transpose is the
 * convolution's only reader and the convolution's result no output (see the module doc).
 * Scan bodies are rewritten when they are compiled.
 *
 * @param g The graph.
 * @param fusible Whether a convolution lowers with a fused epilogue (only those store
 *   through `storeC`, which the rewrite needs).
 * @returns The graph, or a new one with the folded equations.
 */
export function foldConvGlue(g: Graph, fusible: (e: GEqn) => boolean): Graph {
  const readers = new Map<GVal, number>();
  for (const e of g.eqns) for (const v of e.inputs) readers.set(v, (readers.get(v) ?? 0) + 1);
  const outs = new Set(g.outputs);
  const writer = new Map<GVal, GEqn>();
  for (const e of g.eqns) for (const v of e.outputs) writer.set(v, e);
  const folded = new Map<GEqn, GEqn>();
  const gone = new Set<GEqn>();
  for (const t of g.eqns) {
    if (t.prim !== "transpose" || !_isSwap01(t.params.perm as number[])) continue;
    const c = t.inputs[0], e = writer.get(c);
    if (
      !e || e.prim !== "conv_general_dilated" || e.params[OUT_SWAP01] || !fusible(e) ||
      readers.get(c) !== 1 || outs.has(c) || e.outputs.length !== 1
    ) continue;
    folded.set(t, { ...e, params: { ...e.params, [OUT_SWAP01]: true }, outputs: t.outputs });
    gone.add(e);
  }
  if (!folded.size) return g;
  // the folded equation takes the transpose's place: its operands are defined before the
  // convolution, its readers come after the transpose
  const eqns = g.eqns.filter((e) => !gone.has(e)).map((e) => folded.get(e) ?? e);
  return { inputs: g.inputs, eqns, outputs: g.outputs };
}

/**
 * The statements of a convolution's `storeC` that store its result swapped: `lin`, the NCHW
 * index of `[N, O, ...spatial]`, becomes that of `[O, N, ...spatial]` for the statements
 * (generated at the swapped result's index).
 *
 * @param swapped The swapped result's shape `[O, N, ...spatial]`.
 * @param lines The statements storing at `lin`.
 * @returns The statements storing at the convolution's `lin`.
 */
export function swapStore(swapped: readonly number[], lines: readonly string[]): string[] {
  const [O, N] = swapped;
  const S = swapped.slice(2).reduce((a, b) => a * b, 1);
  return [
    `let swq = lin / ${u(S)};`,
    `let slin = ((swq % ${u(O)}) * ${u(N)} + swq / ${u(O)}) * ${u(S)} + lin % ${u(S)};`,
    "{",
    "  let lin = slin;",
    ...lines.map((l) => `  ${l}`),
    "}",
  ];
}
