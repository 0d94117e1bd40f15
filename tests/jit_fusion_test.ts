/**
 * The shared fusion planner (`core/jit_fusion.ts`) called directly with both jits' policies
 * (`gpu/jit/fusion.ts`'s {@link gpuPolicy}, `native/jit_plan.ts`'s {@link NATIVE_POLICY}) on
 * small graphs: which values get a buffer, which groups compute the rest, and where the two
 * policies decide differently (GEMM prologues and epilogues, reduction epilogues, binding
 * limits, literals, the dtypes a loop handles). No device is needed: planning is pure.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { lax, makeJaxpr, nn, np, type Tensor } from "../mod.ts";
import { type Fusion, groupReads, planFusion } from "../core/jit_fusion.ts";
import { flattenJaxpr, type FlatVal, type JitEqn, type JitGraph } from "../core/jit_graph.ts";
import { gpuPolicy } from "../gpu/jit/fusion.ts";
import { NATIVE_POLICY } from "../native/jit_plan.ts";

const GPU = gpuPolicy({ maxBindings: 8, convFusible: (e) => e.inputs[0].aval.dtype !== "bool" });

/** `f` traced on zeros of `shapes` and flattened (the native numbering: ids from 0). */
function graphOf(f: (...xs: Tensor[]) => Tensor | Tensor[], shapes: number[][]): JitGraph {
  let next = 0;
  const j = makeJaxpr(f)(...shapes.map((s) => np.zeros(s))).jaxpr;
  return flattenJaxpr(j, undefined, { newVal: (aval) => ({ id: next++, aval }) });
}

/**
 * One line per group, in schedule order: its kind, its root's primitive (and its siblings',
 * joined by `+`), and the primitives it evaluates inside (fused operands and epilogues, in
 * graph order).
 */
function groups(g: JitGraph, f: Fusion): string[] {
  const order = new Map<JitEqn, number>(g.eqns.map((e, i) => [e, i]));
  return f.groups.map((grp) => {
    const inner = new Set<JitEqn>();
    const roots = grp.root ? [grp.root, ...(grp.siblings ?? [])] : [];
    const visit = (v: FlatVal) => {
      const e = f.producer.get(v);
      if (!e || roots.includes(e) || inner.has(e)) return;
      if (f.materialized.has(v) && !grp.computes.has(v)) return;
      inner.add(e);
      e.inputs.forEach(visit);
    };
    roots.forEach((e) => e.inputs.forEach(visit));
    grp.outs.forEach(visit);
    const prims = [...inner].sort((a, b) => order.get(a)! - order.get(b)!).map((e) => e.prim);
    const root = roots.length ? roots.map((e) => e.prim).join("+") : undefined;
    return [grp.kind, root, prims.length ? `[${prims.join(" ")}]` : undefined]
      .filter((s) => s !== undefined).join(" ");
  });
}

/** The primitives whose results have a buffer (graph inputs left out). */
function materialized(g: JitGraph, f: Fusion): string[] {
  return g.eqns.filter((e) => e.outputs.some((v) => f.materialized.has(v))).map((e) => e.prim);
}

Deno.test("a matmul with a fused operand, bias and ReLU is one GEMM on the GPU and three steps on the CPU", () => {
  const g = graphOf(
    (x: Tensor, w: Tensor, b: Tensor) => nn.relu(np.matmul(np.exp(x).mul(2), w).add(b)),
    [[4, 8], [8, 3], [3]],
  );
  // the GPU: exp(x)·2 is the GEMM's prologue, + b and ReLU (a select) its epilogue
  const fg = planFusion(g, GPU);
  assertEquals(groups(g, fg), [
    "dot dot_general [exp broadcast_in_dim mul broadcast_in_dim add broadcast_in_dim gt " +
    "broadcast_in_dim select]",
  ]);
  assertEquals(materialized(g, fg), ["select"]);
  // the CPU: BLAS reads a buffer, so exp(x)·2 is a loop of its own, and the GEMM (an "op")
  // takes no epilogue: the bias and ReLU are one loop after it
  const fn = planFusion(g, NATIVE_POLICY);
  assertEquals(groups(g, fn), [
    "ew [exp broadcast_in_dim mul]",
    "op dot_general",
    "ew [broadcast_in_dim add broadcast_in_dim gt broadcast_in_dim select]",
  ]);
  assertEquals(materialized(g, fn), ["mul", "dot_general", "select"]);
  // the epilogue loop reads the product and the bias, the product at its own index
  const reads = groupReads(fn, fn.groups[2]);
  assertEquals([...reads].map(([v, r]) => [v.aval.toString(), r.identity]), [
    ["f32[4,3]", true],
    ["f32[3]", false],
    ["f32[]", false],
    ["f32[]", false],
  ]);
});

Deno.test("a reduction takes its operand's expression on both jits; on the GPU sibling sums share a kernel and take a scaling epilogue", () => {
  const g = graphOf((x: Tensor) => [x.sum({ axis: 1 }).mul(0.5), np.exp(x).sum({ axis: 1 })], [[
    4,
    6,
  ]]);
  const fg = planFusion(g, GPU);
  // both sums read x over the same axis: one kernel, two accumulators
  assertEquals(groups(g, fg), ["reduce reduce_sum+reduce_sum [broadcast_in_dim mul exp]"]);
  assertEquals(materialized(g, fg), ["mul", "reduce_sum"]);
  const fn = planFusion(g, NATIVE_POLICY);
  assertEquals(groups(g, fn), [
    "reduce reduce_sum",
    "ew [broadcast_in_dim mul]",
    "reduce reduce_sum [exp]",
  ]);
  assertEquals(materialized(g, fn), ["reduce_sum", "mul", "reduce_sum"]);
});

Deno.test("sibling sums merge on the GPU only when they share a buffer, axes and shape, and neither reads the other", () => {
  // batch norm's backward sums: sum(dy) and sum(dy * xhat) read dy; the mean of squares about
  // the mean reads the mean, so it waits for it; a sum over the other axis is no sibling
  const g = graphOf((dy: Tensor, xh: Tensor, z: Tensor) => {
    const m = dy.sum({ axis: 0 });
    const m2 = dy.sub(m).square().sum({ axis: 0 });
    return [m, dy.mul(xh).sum({ axis: 0 }), m2, dy.sum({ axis: 1 }), z.sum({ axis: 0 })];
  }, [[4, 6], [4, 6], [4, 6]]);
  const fg = planFusion(g, GPU);
  assertEquals(groups(g, fg), [
    "reduce reduce_sum+reduce_sum [mul]",
    "reduce reduce_sum [broadcast_in_dim sub mul]",
    "reduce reduce_sum",
    "reduce reduce_sum",
  ]);
  assertEquals(fg.groups[0].outs.length, 2);
  // a policy without siblings (the native jit's) keeps one loop per sum
  assertEquals(groups(g, planFusion(g, NATIVE_POLICY)).filter((l) => l.includes("+")), []);
  const lone = planFusion(g, { ...GPU, siblings: undefined });
  assertEquals(lone.groups.length, 5);
});

Deno.test("the GPU's binding limit splits a chain the CPU computes in one loop", () => {
  const five = [[5], [5], [5], [5], [5]];
  const chain = (a: Tensor, b: Tensor, c: Tensor, d: Tensor, e: Tensor) =>
    a.add(b).mul(c).sub(d).add(e);
  const g = graphOf(chain, five);
  // five bindings: at most max(2, 5 - 4) = 2 buffers per fused value, so (a + b)·c is stored
  const narrow = gpuPolicy({ maxBindings: 5, convFusible: () => true });
  const fg = planFusion(g, narrow);
  assertEquals(groups(g, fg), ["ew [add mul]", "ew [sub add]"]);
  assertEquals(materialized(g, fg), ["mul", "add"]);
  assertEquals(groups(g, planFusion(g, GPU)), ["ew [add mul sub add]"]);
  assertEquals(groups(g, planFusion(g, NATIVE_POLICY)), ["ew [add mul sub add]"]);
});

Deno.test("a forced value keeps its buffer on the CPU, whose loops are shaped, and not on the GPU, whose kernels are flat", () => {
  const g = graphOf((x: Tensor) => np.exp(x).reshape([6, 4]).add(1), [[4, 6]]);
  const exp = g.eqns.find((e) => e.prim === "exp")!.outputs[0];
  const fn = planFusion(g, NATIVE_POLICY, new Set([exp]));
  // the reshape keeps the flat index but not the shape: two loops on the CPU
  assertEquals(groups(g, fn), ["ew [exp]", "ew [reshape broadcast_in_dim add]"]);
  assert(fn.materialized.has(exp));
  // the GPU's kernels are flat: same element count, so the consumer becomes the epilogue and
  // exp(x) needs no buffer after all
  const fg = planFusion(g, GPU, new Set([exp]));
  assertEquals(groups(g, fg), ["ew [exp reshape broadcast_in_dim add]"]);
  assert(!fg.materialized.has(exp));
});

Deno.test("flattening stages a scan body for the WebGPU jit and keeps scan an equation for the native jit", () => {
  const h = (xs: Tensor) => lax.scan((c: Tensor, v: Tensor) => [c.mul(v), c], np.array(1), xs);
  const j = makeJaxpr(h)(np.zeros([3])).jaxpr;
  assertEquals(flattenJaxpr(j, undefined, { control: true }).eqns.map((e) => e.prim), ["scan"]);
  assert(flattenJaxpr(j, undefined, { control: true }).eqns[0].body !== undefined);
  assertEquals(flattenJaxpr(j).eqns[0].body, undefined);
});

Deno.test("a literal with five readers gets a buffer on the GPU and is recomputed by every loop on the CPU", () => {
  const j = makeJaxpr((x: Tensor, s: Tensor) => [
    x.mul(s),
    x.add(s),
    x.sub(s),
    x.div(s),
    np.maximum(x, s),
  ])(np.zeros([3]), np.zeros([])).jaxpr;
  // s is known on the host: a literal, broadcast once per use
  const g = flattenJaxpr(j, [undefined, 2]);
  const lit = g.eqns.find((e) => e.prim === "literal")!.outputs[0];
  const fg = planFusion(g, GPU);
  assert(fg.materialized.has(lit));
  assertEquals(groups(g, fg)[0], "ew [literal]");
  const fn = planFusion(g, NATIVE_POLICY);
  assert(!fn.materialized.has(lit));
  assertEquals(groups(g, fn), [
    "ew [literal broadcast_in_dim mul]",
    "ew [literal broadcast_in_dim add]",
    "ew [literal broadcast_in_dim sub]",
    "ew [literal broadcast_in_dim div]",
    "ew [literal broadcast_in_dim max]",
  ]);
});

Deno.test("a value of literals only is inlined into every reader, however it is broadcast", () => {
  // -s / n (the cotangent a mean's gradient starts from), read by two kernels through
  // expanding broadcasts: two ops, yet no buffer, since the readers' compilers fold it
  const j = makeJaxpr((x: Tensor, s: Tensor, n: Tensor) => {
    const c = s.neg().div(n);
    return [x.mul(c), np.exp(x).add(c)];
  })(np.zeros([3]), np.zeros([]), np.zeros([])).jaxpr;
  const g = flattenJaxpr(j, [undefined, 1, 8]);
  const f = planFusion(g, GPU);
  assertEquals(materialized(g, f), ["mul", "add"]);
  assertEquals(groups(g, f), [
    "ew [literal literal neg div broadcast_in_dim mul]",
    "ew [literal literal neg div exp broadcast_in_dim add]",
  ]);
  // with s read from a buffer, the same two ops are computed once, into a buffer
  const g2 = flattenJaxpr(j, [undefined, undefined, 8]);
  assertEquals(materialized(g2, planFusion(g2, GPU)), ["div", "mul", "add"]);
});

Deno.test("with texture GEMMs (dotPrologueCost 0) an operand with arithmetic gets a buffer", () => {
  const g = graphOf(
    (x: Tensor, w: Tensor, b: Tensor) => np.matmul(np.exp(x).mul(2), w).add(b),
    [[4, 8], [8, 3], [3]],
  );
  const tex = gpuPolicy({ maxBindings: 8, convFusible: () => true, dotPrologueCost: 0 });
  const f = planFusion(g, tex);
  assertEquals(groups(g, f), [
    "ew [exp broadcast_in_dim mul]",
    "dot dot_general [broadcast_in_dim add]",
  ]);
  // a transpose carries no arithmetic: it stays in the GEMM's loads
  const t = graphOf((x: Tensor, w: Tensor) => np.matmul(x.T, w), [[8, 4], [8, 3]]);
  assertEquals(groups(t, planFusion(t, tex)), ["dot dot_general [transpose]"]);
});

Deno.test("a dense block's concatenations read their prefix's, and the GPU gives each a buffer", () => {
  // torchvision's dense block: every layer concatenates all earlier outputs
  const block = (x: Tensor, w: Tensor) => {
    const fs = [x];
    for (let j = 0; j < 3; j++) {
      const c = np.concatenate(fs, 1);
      fs.push(np.tanh(c.sum({ axis: 1, keepdims: true }).mul(w)));
    }
    const out = np.concatenate(fs, 1);
    return nn.relu(out.sub(out.mean({ axis: 1, keepdims: true })));
  };
  const g = graphOf(block, [[2, 3], [2, 1]]);
  const cats = g.eqns.filter((e) => e.prim === "concatenate");
  // concat(x, y1), then concat(that, y2), then concat(that, y3): two values each
  assertEquals(cats.map((e) => e.inputs.length), [2, 2, 2]);
  assertEquals(cats.slice(1).map((e, j) => e.inputs[0] === cats[j].outputs[0]), [true, true]);
  assertEquals(cats.map((e) => e.outputs[0].aval.shape[1]), [4, 5, 6]);
  // the GPU gives every concatenation a buffer (fused, each reader would evaluate all pieces)
  const gf = planFusion(g, GPU);
  assert(cats.every((e) => gf.materialized.has(e.outputs[0])), groups(g, gf).join("\n"));
  // each layer's kernel computes its output and writes the concatenation with the prefix
  assertEquals(groups(g, gf).filter((s) => s === "ew [reshape mul tanh concatenate]").length, 3);
});

Deno.test("a concatenation whose prefix is another axis's, or not a prefix, stays as it is", () => {
  const g = graphOf(
    (a: Tensor, b: Tensor, c: Tensor) => [
      np.concatenate([a, b], 0),
      np.concatenate([a, b, c], 1),
      np.concatenate([b, a, c], 0),
    ],
    [[2, 2], [2, 2], [2, 2]],
  );
  assertEquals(g.eqns.filter((e) => e.prim === "concatenate").map((e) => e.inputs.length), [
    2,
    3,
    3,
  ]);
});
