/**
 * Graph rewrites that fold the layout glue of convolution gradients into the convolutions,
 * before fusion (each saves a kernel, and on llvmpipe a pipeline compile per layer shape).
 *
 * - **Swapped outputs.** A kernel gradient is `swap01(conv(swap01(x), swap01(ct)))` (the
 *   convolution computes `[C, O, ...k]`, the kernel is `[O, C, ...k]`; `core/prims/conv.ts`'s
 *   `transposeRhs`). Where the convolution's only reader is that transpose, one equation
 *   replaces both: the convolution with {@link OUT_SWAP01} set, whose result is the transposed
 *   value. Its `storeC` maps the convolution's NCHW index to the swapped layout before the
 *   epilogue (`swapStore` of `conv_store.ts`), so an optimizer update reads the gradient at
 *   its own index and becomes the convolution's epilogue (in place on a donated parameter)
 *   instead of a kernel of its own that reads the gradient transposed.
 * - **Operand views.** An input gradient convolves the cotangent with `rev(swap01(w))` (the
 *   kernel's channels swapped, its taps reversed; `transposeLhs`), and a kernel gradient
 *   convolves `swap01(x)` with `swap01(ct)`: where such an operand is read by the convolution
 *   alone (one feature group), the convolution binds `w` (`x`, `ct`) itself with
 *   {@link RHS_VIEW} ({@link LHS_VIEW}) set, and every kernel of its plan that reads the
 *   operand reads it through a function mapping the view's index to the bound value's
 *   ({@link viewOperand}), instead of a kernel of its own that writes the transposed copy.
 *
 * @module
 */
import type { GEqn, Graph, GVal } from "./graph.ts";
import { u } from "../kernels/common.ts";
import type { Res } from "./program.ts";

/**
 * The param that marks a convolution whose result is stored with its first two dimensions
 * swapped (the jit's own: the primitive does not know it, and only {@link foldConvGlue}
 * sets it).
 */
export const OUT_SWAP01 = "outSwap01";

/**
 * The param that marks a convolution reading its kernel through a view of its second operand
 * `w`: "swap01" (the kernel is `swap01(w)`) or "swap01rev" (`rev(swap01(w))`, every spatial
 * dimension reversed). Only {@link foldConvGlue} sets it.
 */
export const RHS_VIEW = "rhsView";
/** Like {@link RHS_VIEW}, for the first operand: "swap01" (the lhs is `swap01(x)`). */
export const LHS_VIEW = "lhsView";

const _isSwap01 = (perm: readonly number[]) =>
  perm.length >= 2 && perm[0] === 1 && perm[1] === 0 && perm.slice(2).every((d, i) => d === i + 2);

/**
 * Folds the glue of convolution gradients (see the module doc): first operand views (a
 * transpose, or the flip of a kernel, read through a view by every convolution that reads it
 * alone with one feature group; the transpose goes once nothing else reads it), then swapped
 * outputs (`transpose(conv(…), [1, 0, 2, …])` where the transpose is the convolution's only
 * reader and its result no output). Scan bodies are rewritten when they are compiled.
 *
 * @param g The graph.
 * @param fusible Whether a convolution lowers with a fused epilogue (only those store
 *   through `storeC`, which the rewrite needs).
 * @returns The graph, or a new one with the folded equations.
 */
export function foldConvGlue(g: Graph, fusible: (e: GEqn) => boolean): Graph {
  return _foldSwaps(_foldViews(g, fusible), fusible);
}

/** Who writes and how many equations read each value. */
function _uses(g: Graph): { writer: Map<GVal, GEqn>; readers: Map<GVal, number> } {
  const readers = new Map<GVal, number>(), writer = new Map<GVal, GEqn>();
  for (const e of g.eqns) {
    for (const v of e.inputs) readers.set(v, (readers.get(v) ?? 0) + 1);
    for (const v of e.outputs) writer.set(v, e);
  }
  return { writer, readers };
}

/** The graph with equations replaced (`folded`) and removed (`gone`). */
function _rewrite(g: Graph, folded: Map<GEqn, GEqn>, gone: Set<GEqn>): Graph {
  if (!folded.size) return g;
  const eqns = g.eqns.filter((e) => !gone.has(e)).map((e) => folded.get(e) ?? e);
  return { inputs: g.inputs, eqns, outputs: g.outputs };
}

/** Operand views ({@link LHS_VIEW}, {@link RHS_VIEW}; see the module doc). */
function _foldViews(g: Graph, fusible: (e: GEqn) => boolean): Graph {
  const { writer } = _uses(g);
  const folded = new Map<GEqn, GEqn>(), chains = new Set<GEqn>();
  // the view of operand j of a convolution: its source and the equations it replaces
  const viewOf = (e: GEqn, j: number) => {
    let r = e.inputs[j], rev = false;
    const chain: GEqn[] = [];
    let we = writer.get(r);
    const nsp = r.aval.ndim - 2, axes = we?.prim === "rev" ? we.params.axes as number[] : [];
    if (j === 1 && we?.prim === "rev" && axes.length === nsp && axes.every((a) => a >= 2)) {
      chain.push(we!);
      rev = true;
      r = we!.inputs[0];
      we = writer.get(r);
    }
    if (we?.prim !== "transpose" || !_isSwap01(we.params.perm as number[])) return null;
    chain.push(we);
    return { src: we.inputs[0], chain, view: rev ? "swap01rev" : "swap01" };
  };
  for (const e of g.eqns) {
    if (e.prim !== "conv_general_dilated" || !fusible(e)) continue;
    const p = e.params as { featureGroupCount: number; batchGroupCount: number };
    if (p.featureGroupCount !== 1 || p.batchGroupCount !== 1) continue;
    const [l, r] = [viewOf(e, 0), viewOf(e, 1)];
    if (!l && !r) continue;
    const ins = [l?.src ?? e.inputs[0], r?.src ?? e.inputs[1]];
    // one buffer for both operands would be one binding: the views could not tell them apart
    if (ins[0] === ins[1]) continue;
    const params = { ...e.params };
    if (l) params[LHS_VIEW] = l.view;
    if (r) params[RHS_VIEW] = r.view;
    folded.set(e, { ...e, params, inputs: ins });
    for (const x of [...l?.chain ?? [], ...r?.chain ?? []]) chains.add(x);
  }
  // the views' transposes (and reversals) that nothing reads any more (several convolutions
  // may read one: a block's two kernel gradients read `swap01(x)`), readers first
  const read = new Set<GVal>(g.outputs), gone = new Set<GEqn>();
  for (const e of g.eqns) {
    if (!chains.has(e)) { for (const v of (folded.get(e) ?? e).inputs) read.add(v); }
  }
  for (const e of g.eqns.filter((x) => chains.has(x)).reverse()) {
    if (e.outputs.some((v) => read.has(v))) e.inputs.forEach((v) => read.add(v));
    else gone.add(e);
  }
  return _rewrite(g, folded, gone);
}

/** Swapped outputs ({@link OUT_SWAP01}; see the module doc). */
function _foldSwaps(g: Graph, fusible: (e: GEqn) => boolean): Graph {
  const { writer, readers } = _uses(g);
  const outs = new Set(g.outputs);
  const folded = new Map<GEqn, GEqn>(), gone = new Set<GEqn>();
  for (const t of g.eqns) {
    if (t.prim !== "transpose" || !_isSwap01(t.params.perm as number[])) continue;
    const c = t.inputs[0], e = writer.get(c);
    if (
      !e || e.prim !== "conv_general_dilated" || e.params[OUT_SWAP01] || !fusible(e) ||
      readers.get(c) !== 1 || outs.has(c) || e.outputs.length !== 1
    ) continue;
    // the folded equation takes the transpose's place: its operands are defined before the
    // convolution, its readers come after the transpose
    folded.set(t, { ...e, params: { ...e.params, [OUT_SWAP01]: true }, outputs: t.outputs });
    gone.add(e);
  }
  return _rewrite(g, folded, gone);
}

/**
 * The shape of an operand a convolution reads through a view ({@link LHS_VIEW},
 * {@link RHS_VIEW}).
 *
 * @param w The shape of the value the convolution binds.
 * @returns The view's shape (`w`'s first two dimensions swapped).
 */
export function viewShape(w: readonly number[]): number[] {
  return [w[1], w[0], ...w.slice(2)];
}

/**
 * Rewrites a kernel of a convolution's plan to read an operand through a view (see the module
 * doc): every indexing `b[i]` of the operand's storage binding (declared as an array of
 * scalars) becomes `_vb(i)`, a function reading the bound value at the view's index `i`.
 *
 * @param wgsl The kernel.
 * @param bindings Its bindings (after mapping).
 * @param rhs The operand's binding.
 * @param view "swap01" or "swap01rev".
 * @param shape The view's shape `[O, C, ...spatial]`.
 * @returns The rewritten kernel and its bindings (a shape-generic kernel's uniform words grow
 *   by the view's sizes), unchanged where it does not bind the rhs.
 * @throws Error where the binding is not an array of scalars.
 */
export function viewOperand(
  wgsl: string,
  bindings: Res[],
  rhs: Res,
  view: string,
  shape: readonly number[],
): { wgsl: string; bindings: Res[] } {
  const same = (b: Res) => b.kind === "slot" && rhs.kind === "slot" && b.slot === rhs.slot;
  const j = bindings.findIndex(same);
  if (j < 0) return { wgsl, bindings };
  if (bindings.findIndex((b, i) => i > j && same(b)) > 0) {
    throw new Error(`internal: conv operand view: the buffer of binding ${j} is bound twice`);
  }
  const decl = new RegExp(
    `@group\\(0\\) @binding\\(${j}\\) var<storage, read> (\\w+): array<(f32|i32|u32)>;`,
  )
    .exec(wgsl);
  if (!decl) throw new Error(`internal: conv operand view: binding ${j} is not a scalar array`);
  const [, name, t] = decl;
  const fname = `_v${name}`;
  const [O, C] = shape, S = shape.slice(2).reduce((a, b) => a * b, 1);
  // a shape-generic kernel (sizes in the uniform `_P`) stays generic: the view's sizes are one
  // more vec4 of it
  const pj = bindings.findIndex((b) => b.kind === "params");
  const P = pj < 0 ? null : /var<uniform> _P: array<vec4u, (\d+)>;/.exec(wgsl);
  let sz = [u(O), u(C), u(S), u(S - 1)];
  if (P && pj >= 0) {
    const n = Number(P[1]), words = (bindings[pj] as { words: readonly number[] }).words;
    if (words.length > 4 * n) throw new Error("internal: conv operand view: params beyond _P");
    sz = ["x", "y", "z", "w"].map((c) => `_P[${n}].${c}`);
    bindings = bindings.map((b, i) =>
      i === pj
        ? {
          kind: "params",
          words: [...words, ...Array(4 * n - words.length).fill(0), O, C, S, S - 1],
        }
        : b
    );
    wgsl = wgsl.replace(P[0], `var<uniform> _P: array<vec4u, ${n + 1}>;`);
  }
  const kp = view === "swap01rev" ? `${sz[3]} - i % ${sz[2]}` : `i % ${sz[2]}`;
  const fn = `fn ${fname}(i: u32) -> ${t} {
  let q = i / ${sz[2]};
  return ${name}[((q % ${sz[1]}) * ${sz[0]} + q / ${sz[1]}) * ${sz[2]} + ${kp}];
}`;
  // every indexing but the declaration: `name[…]` (brackets matched) → `_vname(…)`
  const at = new RegExp(`(?<![.\\w])${name}(?!\\w)`, "g"), end = decl.index + decl[0].length;
  let out = "", k = 0;
  for (let m = at.exec(wgsl); m; m = at.exec(wgsl)) {
    if (m.index > decl.index && m.index < end) continue;
    let depth = 0, e = m.index + name.length;
    // not indexed: a local of the same name (a helper's parameter)
    if (wgsl[e] !== "[") continue;
    for (; e < wgsl.length; e++) {
      if (wgsl[e] === "[") depth++;
      else if (wgsl[e] === "]" && --depth === 0) break;
    }
    out += `${wgsl.slice(k, m.index)}${fname}(${wgsl.slice(m.index + name.length + 1, e)})`;
    k = e + 1;
    at.lastIndex = k;
  }
  out += wgsl.slice(k);
  return { wgsl: `${out}\n${fn}\n`, bindings };
}
