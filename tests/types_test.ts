/**
 * Type-level tests: `deno check` (run by `deno task check` and `deno task test`) fails when a
 * transformation's or layer's signature regresses. Each `// @ts-expect-error` line is a misuse
 * that must stay a type error; each annotated assignment must stay assignable. The runtime
 * assertions check that the values have the structure their types claim.
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import {
  checkpoint,
  customJvp,
  customVjp,
  grad,
  hessian,
  jacfwd,
  jacrev,
  jit,
  jvp,
  linearize,
  nn,
  np,
  optim,
  random,
  type Tensor,
  train,
  valueAndGrad,
  vjp,
  vmap,
} from "../mod.ts";
import type { Tree } from "../core/tree.ts";
import type { ParamsOf } from "../core/primitive.ts";
import { bind1 } from "../core/trace.ts";
import { conv_general_dilated_p, type ConvParams } from "../core/prims/conv.ts";
import { neg_p } from "../core/prims/elementwise.ts";
import { reduce_sum_p } from "../core/prims/reduce.ts";
import { transpose_p } from "../core/prims/structural.ts";

type P = { w: Tensor; b: Tensor };
const loss = (p: P, x: Tensor): Tensor => p.w.mul(x).add(p.b).sum();
const params = (): P => ({ w: np.array([1, 2]), b: np.array(0.5) });
const xs = (): Tensor => np.array([3, 4]);

Deno.test("grad returns the tree of the differentiated argument", async () => {
  const g: { w: Tensor; b: Tensor } = grad(loss)(params(), xs());
  assertAllClose(await g.w.toArray(), [3, 4]);
  assertAllClose(await g.b.item(), 2);
  const gx: Tensor = grad(loss, { argnums: 1 })(params(), xs());
  assertAllClose(await gx.toArray(), [1, 2]);
  const [gp, gx2]: [P, Tensor] = grad(loss, { argnums: [0, 1] })(params(), xs());
  assertAllClose(await gp.w.toArray(), [3, 4]);
  assertAllClose(await gx2.toArray(), [1, 2]);
  // An index known only at run time is accepted (and checked at run time).
  const k: number = 1;
  const gk: Tensor | P = grad(loss, { argnums: k })(params(), xs());
  assert(gk !== undefined);
});

Deno.test("grad and valueAndGrad with hasAux return the aux value's type", async () => {
  // aux comes back as a tree of Tensors (numbers included), as its type says.
  const f = (p: Tensor): [Tensor, { n: number }] => [p.mul(p).sum(), { n: 7 }];
  const [g, aux]: [Tensor, { n: Tensor }] = grad(f, { hasAux: true })(np.array([1, 2]));
  assertAllClose(await g.toArray(), [2, 4]);
  assertEquals(await aux.n.item(), 7);
  const [[v, aux2], g2]: [[Tensor, { n: Tensor }], Tensor] = valueAndGrad(f, { hasAux: true })(
    np.array([3]),
  );
  assertAllClose(await v.item(), 9);
  assertEquals(await aux2.n.item(), 7);
  assertAllClose(await g2.toArray(), [6]);
  const [value, gv]: [Tensor, P] = valueAndGrad(loss)(params(), xs());
  assertAllClose(await value.item(), 12);
  assertAllClose(await gv.w.toArray(), [3, 4]);
});

Deno.test("misuse of grad is a type error", () => {
  // @ts-expect-error a tuple-returning function needs hasAux
  grad((p: Tensor) => [p.sum(), p] as const);
  // @ts-expect-error hasAux needs a function returning [loss, aux]
  grad((p: Tensor) => p.sum(), { hasAux: true });
  // @ts-expect-error argnums out of range for a two-argument function
  grad(loss, { argnums: 2 });
  // @ts-expect-error one index of the tuple is out of range
  grad(loss, { argnums: [0, 2] });
  // @ts-expect-error the gradient has the argument's keys, not others
  const bad: { w: Tensor; c: Tensor } = grad(loss)(params(), xs());
  // @ts-expect-error the differentiated argument must be a P
  const wrongArg = () => grad(loss)({ w: xs() }, xs());
  // @ts-expect-error argnums 1 gives a Tensor, not a tree
  const wrongTree: P = grad(loss, { argnums: 1 })(params(), xs());
  assert(bad !== undefined && wrongArg !== undefined && wrongTree !== undefined);
});

Deno.test("vjp, jvp and linearize keep the trees of arguments and outputs", async () => {
  const f = (p: P, x: Tensor): Tensor => p.w.mul(x).add(p.b);
  const [y, back] = vjp(f, params(), xs());
  const y2: Tensor = y;
  const [dp, dx]: [P, Tensor] = back(np.ones([2]));
  assertAllClose(await y2.toArray(), [3.5, 8.5]);
  assertAllClose(await dp.w.toArray(), [3, 4]);
  assertAllClose(await dx.toArray(), [1, 2]);
  // @ts-expect-error vjp's primals must match f's parameters
  const badPrimals = () => vjp(f, xs(), xs());
  const [out, tan]: [Tensor, Tensor] = jvp(f, [params(), xs()], [
    { w: np.ones([2]), b: np.array(0) },
    np.zeros([2]),
  ]);
  assertAllClose(await out.toArray(), [3.5, 8.5]);
  assertAllClose(await tan.toArray(), [3, 4]);
  // @ts-expect-error tangents must have the primals' structure
  const badTangents = () => jvp(f, [params(), xs()], [xs(), xs()]);
  const [yl, fl] = linearize((x: Tensor) => x.mul(x), np.array(3));
  const dyl: Tensor = fl(np.array(1));
  assertAllClose(await yl.item(), 9);
  assertAllClose(await dyl.item(), 6);
  assert(badPrimals !== undefined && badTangents !== undefined);
});

Deno.test("vmap, jit and checkpoint keep the function's type", async () => {
  const f = (p: P, x: Tensor): Tensor => p.w.mul(x).add(p.b).sum();
  const jf = jit(f);
  const yj: Tensor = jf(params(), xs());
  assertAllClose(await yj.item(), 12);
  // @ts-expect-error a jitted function takes the same tree as f
  const badJit = () => jf({ w: xs() }, xs());
  const vf = vmap((x: Tensor): Tensor => x.sum());
  const yv: Tensor = vf(np.array([[1, 2], [3, 4]]));
  assertAllClose(await yv.toArray(), [3, 7]);
  // @ts-expect-error vmap keeps the parameter types
  const badVmap = () => vf("x");
  const cf = checkpoint(f);
  const gc: P = grad(cf)(params(), xs());
  assertAllClose(await gc.w.toArray(), [3, 4]);
  assert(badJit !== undefined && badVmap !== undefined);
});

Deno.test("jacobians and custom rules are typed by the function", async () => {
  const sq = (x: Tensor): Tensor => x.mul(x);
  const jf: Tensor = jacfwd(sq)(np.array([1, 2]));
  const jr: Tensor = jacrev(sq)(np.array([1, 2]));
  const h: Tensor = hessian((x: Tensor) => x.mul(x).sum())(np.array([1, 2]));
  assertAllClose(await jf.toArray(), [[2, 0], [0, 4]]);
  assertAllClose(await jr.toArray(), [[2, 0], [0, 4]]);
  assertAllClose(await h.toArray(), [[2, 0], [0, 2]]);
  // @ts-expect-error jacrev needs a function returning a Tensor
  jacrev((x: Tensor) => [x]);
  const clip = customVjp((x: Tensor): Tensor => x);
  clip.defvjp((x) => [x, null], (_r, g) => [np.clip(g, -1, 1)]);
  const gClip: Tensor = grad((x: Tensor) => clip(x).mul(10))(np.array(2));
  assertAllClose(await gClip.item(), 1);
  // @ts-expect-error bwd returns one cotangent per argument, in an array
  clip.defvjp((x) => [x, null], (_r, g) => g);
  const softplus = customJvp((x: Tensor): Tensor => np.log1p(np.exp(x)));
  softplus.defjvp(([x], [t]) => [softplus(x), np.sigmoid(x).mul(t)]);
  assertAllClose(await grad(softplus)(np.array(0)).item(), 0.5);
});

Deno.test("Tree maps leaves to Tensors and keeps containers", () => {
  const t: Tree<{ a: number; b: [Tensor, boolean]; c: null; d: Tensor[] }> = {
    a: np.array(1),
    b: [np.array(2), np.array(true)],
    c: null,
    d: [],
  };
  // @ts-expect-error a number leaf becomes a Tensor
  const n: Tree<{ a: number }> = { a: 1 };
  assertEquals(t.d.length, 0);
  assertEquals(n.a as unknown, 1);
});

Deno.test("layers' params are typed trees, and sequential infers the tuple of them", async () => {
  const lin = nn.linear({ inFeatures: 2, outFeatures: 3 });
  const p: nn.LinearParams = lin.init(random.key(0));
  // @ts-expect-error a linear layer's params have a weight
  const badApply = () => lin.apply({ bias: p.bias }, np.ones([1, 2]));
  const mlp = nn.sequential([lin, nn.relu, nn.linear({ inFeatures: 3, outFeatures: 1 })]);
  const mp: [nn.LinearParams, Record<string, never>, nn.LinearParams] = mlp.init(random.key(1));
  assertEquals(mp[0].weight.shape, [3, 2]);
  assertEquals(await mlp.apply(mp, np.ones([4, 2])).shape, [4, 1]);
  // @ts-expect-error sequential's params are a tuple with one entry per layer
  const badSeq = () => mlp.apply([mp[0], {}], np.ones([4, 2]));
  assert(badApply !== undefined && badSeq !== undefined);
  const bn = nn.sequential([lin, nn.batchNorm1d({ numFeatures: 3 })]);
  const s: [null, nn.BatchNormState] = bn.initState();
  assert(s[1].running_mean !== undefined);
  const res = nn.residual(nn.linear({ inFeatures: 3, outFeatures: 3 }));
  const rp: { inner: nn.LinearParams; shortcut: Record<string, never> } = res.init(random.key(2));
  assertEquals(rp.inner.weight.shape, [3, 3]);
  // The gradient of a loss over a layer's params has the params' type.
  const gl: [nn.LinearParams, Record<string, never>, nn.LinearParams] = grad(
    (q: typeof mp) => mlp.apply(q, np.ones([4, 2])).sum(),
  )(mp);
  assertEquals(gl[2].weight.shape, [1, 3]);
});

Deno.test("makeTrainStep is typed by its loss: params, batch and optimizer state", async () => {
  type Batch = { x: Tensor; y: Tensor };
  const lossFn = (p: { w: Tensor }, b: Batch): Tensor => np.square(b.x.mul(p.w).sub(b.y)).mean();
  const opt = optim.sgd({ lr: 0.1 });
  const step = train.makeTrainStep(lossFn, opt);
  const p0 = { w: np.array(0) };
  const batch: Batch = { x: np.array([1, 2]), y: np.array([2, 4]) };
  const out = step(p0, opt.init(p0), batch, random.key(0));
  const w: Tensor = out.params.w;
  assert(Number(await w.item()) > 0);
  // @ts-expect-error the batch must be a Batch
  const badBatch = () => step(p0, opt.init(p0), { x: np.array(1) }, random.key(0));
  // @ts-expect-error the params must be the loss's params
  const badParams = () => step({ v: np.array(0) }, opt.init(p0), batch, random.key(0));
  assert(badBatch !== undefined && badParams !== undefined);
});

Deno.test("softmax and logSoftmax take { axis } like jax.nn; a bare axis still works", async () => {
  const t = np.array([[1, 2, 3], [0, 0, 1]]);
  assertAllClose(
    await nn.softmax(t, { axis: 0 }).toArray(),
    await nn.softmax(t, 0).toArray(),
  );
  assertAllClose(
    await nn.logSoftmax(t, { axis: [0, 1] }).toArray(),
    await nn.logSoftmax(t, [0, 1]).toArray(),
  );
  const col = (await nn.softmax(t, { axis: 0 }).toArray()) as number[][];
  assertAllClose(col[0][0] + col[1][0], 1, { atol: 1e-6 });
  // @ts-expect-error the option is named axis
  const badOpt = () => nn.softmax(t, { dim: 0 });
  assert(badOpt !== undefined);
});

Deno.test("conv, norm, embedding, attention and rnn layers init typed params", () => {
  const k = random.key(3);
  const c: nn.ConvParams = nn.conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3 }).init(k);
  const bn = nn.batchNorm2d({ numFeatures: 2 });
  const bp: nn.NormParams = bn.init(k);
  const bs: nn.BatchNormState = bn.initState();
  const e: nn.EmbeddingParams = nn.embedding({ numEmbeddings: 5, embeddingDim: 3 }).init(k);
  const a: nn.MultiHeadAttentionParams = nn.multiHeadAttention({ embedDim: 4, numHeads: 2 })
    .init(k);
  const r: nn.RnnParams = nn.gru({ inputSize: 2, hiddenSize: 3 }).init(k);
  const t: nn.TransformerEncoderLayerParams = nn.transformerEncoderLayer({
    dModel: 4,
    nhead: 2,
    dimFeedforward: 8,
  }).init(k);
  // @ts-expect-error an embedding has no bias
  const wrong = e.bias;
  assertEquals(c.weight.shape, [2, 1, 3, 3]);
  assertEquals(e.weight.shape, [5, 3]);
  assert(bp && bs && a && r && t && wrong === undefined);
});

Deno.test("a primitive's params are typed: bind rejects a wrong params object at compile time", async () => {
  const x = np.array([[1, 2], [3, 4]]);
  const s: Tensor = bind1(reduce_sum_p, [x], { axes: [0] });
  assertAllClose(await s.toArray(), [4, 6]);
  const t: Tensor = bind1(transpose_p, [x], { perm: [1, 0] });
  assertAllClose(await t.toArray(), [[1, 3], [2, 4]]);
  const n: Tensor = bind1(neg_p, [x]);
  assertAllClose(await n.toArray(), [[-1, -2], [-3, -4]]);
  const conv: ConvParams = {
    windowStrides: [1, 1],
    padding: [[0, 0], [0, 0]],
    lhsDilation: [1, 1],
    rhsDilation: [1, 1],
    featureGroupCount: 1,
    batchGroupCount: 1,
  };
  const w = np.ones([1, 1, 1, 1]), img = np.ones([1, 1, 2, 2]);
  const c: Tensor = bind1(conv_general_dilated_p, [img, w], conv);
  assertEquals(c.shape, [1, 1, 2, 2]);
  // @ts-expect-error an unknown key
  const unknownKey = () => bind1(reduce_sum_p, [x], { axes: [0], keepdims: true });
  // @ts-expect-error a missing key
  const missingKey = () => bind1(reduce_sum_p, [x], {});
  // @ts-expect-error a key of the wrong type
  const wrongType = () => bind1(reduce_sum_p, [x], { axes: 0 });
  // @ts-expect-error params are required when the primitive has required keys
  const noParams = () => bind1(transpose_p, [x]);
  // @ts-expect-error a primitive without params takes none
  const extra = () => bind1(neg_p, [x], { axes: [0] });
  // @ts-expect-error conv padding is a list of [lo, hi] pairs, not numbers
  const badConv = () => bind1(conv_general_dilated_p, [img, w], { ...conv, padding: [0, 0] });
  // @ts-expect-error a rule reads typed params: ReduceParams has `axes`, not `axis`
  const rule = (p: ParamsOf<typeof reduce_sum_p>): number => p.axis;
  const misuses = [unknownKey, missingKey, wrongType, noParams, extra, badConv, rule];
  assertEquals(misuses.map((f) => typeof f), misuses.map(() => "function"));
});
