/**
 * The multi-branch combinators (`concat`, `parallel`) and model inspection (`paramCount`,
 * `summary`). Parameter counts and output shapes are PyTorch 1.13's for the same networks
 * (`sum(p.numel() for p in net.parameters())`, shapes from a forward pass).
 */
import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { np, random, type Tensor } from "../mod.ts";
import { concat, parallel, residual, sequential } from "../layers/combinators.ts";
import { avgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import { dropout, flatten, linear } from "../layers/linear.ts";
import { batchNorm1d, batchNorm2d } from "../layers/norm.ts";
import { relu, sigmoid } from "../layers/activations.ts";
import { paramCount, summary, summaryRows } from "../layers/summary.ts";

const toList = async (t: Tensor) => await t.toArray();

Deno.test("concat joins the branches' outputs on the given axis", async () => {
  const a = linear({ inFeatures: 2, outFeatures: 2 });
  const block = concat([
    a,
    (x: Tensor) => x.mul(10),
    (x: Tensor) => x.sum({ axis: 1, keepdims: true }),
  ], {
    axis: -1,
  });
  const params: Parameters<typeof block.apply>[0] = [
    { weight: np.array([[1, 0], [1, 1]]), bias: np.array([0, 0.5]) },
    {},
    {},
  ];
  const y = block.apply(params, np.array([[1, 2], [3, -1]]));
  assertAllClose(await toList(y), [[1, 3.5, 10, 20, 3], [3, 2.5, 30, -10, 2]]);
  assert(block.name.startsWith("Concat(Linear(2 → 2) | "), block.name);
});

Deno.test("concat on channels builds an Inception-style block with one parameter entry per branch", async () => {
  const b1 = conv2d({ inChannels: 3, outChannels: 4, kernelSize: 1 });
  const b2 = sequential([
    conv2d({ inChannels: 3, outChannels: 2, kernelSize: 1 }),
    relu,
    conv2d({ inChannels: 2, outChannels: 5, kernelSize: 3, padding: 1 }),
  ]);
  const b3 = sequential([
    maxPool2d({ kernelSize: 3, stride: 1, padding: 1 }),
    conv2d({ inChannels: 3, outChannels: 1, kernelSize: 1 }),
  ]);
  const block = concat([b1, b2, b3]);
  const params = block.init(random.key(0));
  assertEquals(params.length, 3);
  const x = random.normal(random.key(1), [2, 3, 6, 6]);
  const y = block.apply(params, x);
  assertEquals(y.shape, [2, 10, 6, 6]);
  const want = np.concatenate([
    b1.apply(params[0], x),
    b2.apply(params[1], x),
    b3.apply(params[2], x),
  ], 1);
  assertAllClose(await toList(y), await toList(want), { rtol: 1e-6, atol: 1e-6 });
  // 3·4+4, 3·2+2 + 2·5·9+5, 3·1+1
  assertEquals(paramCount(params), 16 + 8 + 95 + 4);
});

Deno.test("concat with a batch-norm branch is stateful and updates that branch's state", async () => {
  const conv = conv2d({ inChannels: 2, outChannels: 3, kernelSize: 1 });
  const bn = batchNorm2d({ numFeatures: 3 });
  const block = concat([sequential([conv, bn]), (x: Tensor) => x]);
  assert(block.stateful);
  const params = block.init(random.key(2));
  const state = block.initState();
  assertEquals(state[1], null);
  assertEquals(state[0][0], null);
  const x = random.normal(random.key(3), [4, 2, 3, 3]).add(2);
  const { y, state: s1 } = block.apply(params, x, { state, train: true });
  assertEquals(y.shape, [4, 5, 3, 3]);
  // the reference: the same conv and batch norm applied by hand
  const h = conv.apply(params[0][0], x);
  const r = bn.apply(params[0][1], h, { state: bn.initState(), train: true });
  assertAllClose(await toList(s1[0][1].running_mean!), await toList(r.state.running_mean!), {
    rtol: 1e-5,
    atol: 1e-6,
  });
  assertAllClose(
    await toList(np.slice(y, [0, 0, 0, 0], [4, 3, 3, 3])),
    await toList(r.y),
    { rtol: 1e-5, atol: 1e-5 },
  );
  assertAllClose(await toList(np.slice(y, [0, 3, 0, 0], [4, 5, 3, 3])), await toList(x));
  assertEquals(await s1[0][1].num_batches_tracked!.item(), 1);
  // evaluation mode uses the running statistics and hands the state back
  const ev = block.apply(params, x, { state: s1 });
  assertEquals(ev.state, s1);
});

Deno.test("concat names the branches' outputs when they do not fit together", () => {
  const block = concat([
    linear({ inFeatures: 2, outFeatures: 3 }),
    (x: Tensor) => x.sum({ axis: 1 }),
  ], { axis: 1 });
  assertThrows(
    () => block.apply(block.init(random.key(0)), np.ones([4, 2])),
    TypeError,
    "[0] f32[4,3], [1] f32[4]",
  );
  const wide = concat([(x: Tensor) => x], { axis: 3 });
  assertThrows(() => wide.apply([{}], np.ones([2, 2])), RangeError, "axis 3");
  assertThrows(() => concat([]), RangeError, "at least one branch");
});

Deno.test("parallel returns every branch's output, with per-branch keys", async () => {
  const heads = parallel([
    (x: Tensor) => x.mul(2),
    dropout({ rate: 0.5 }),
    dropout({ rate: 0.5 }),
  ]);
  const x = np.ones([1, 64]);
  const [a, b, c] = heads.apply(heads.init(random.key(0)), x, {
    train: true,
    key: random.key(1),
  });
  assertAllClose(await toList(a), await toList(x.mul(2)));
  // the two dropout branches draw different masks
  const [mb, mc] = [await toList(b) as number[][], await toList(c) as number[][]];
  assert(mb[0].some((v, i) => v !== mc[0][i]), "the branches shared a key");
});

Deno.test("paramCount counts a Linear(784 → 256) as 200960 and LeNet as 61706", () => {
  assertEquals(
    paramCount(linear({ inFeatures: 784, outFeatures: 256 }).init(random.key(0))),
    200960,
  );
  const lenet = sequential([
    conv2d({ inChannels: 1, outChannels: 6, kernelSize: 5, padding: 2 }),
    sigmoid,
    avgPool2d({ kernelSize: 2, stride: 2 }),
    conv2d({ inChannels: 6, outChannels: 16, kernelSize: 5 }),
    sigmoid,
    avgPool2d({ kernelSize: 2, stride: 2 }),
    flatten(),
    linear({ inFeatures: 400, outFeatures: 120 }),
    sigmoid,
    linear({ inFeatures: 120, outFeatures: 84 }),
    sigmoid,
    linear({ inFeatures: 84, outFeatures: 10 }),
  ]);
  assertEquals(paramCount(lenet.init(random.key(0))), 61706);
  assertEquals(paramCount({}), 0);
  assertEquals(paramCount([np.ones([2, 3]), { b: np.ones([4]) }, null]), 10);
});

/** d2l's batch-norm LeNet (§8.5). */
const bnLenet = () =>
  sequential([
    conv2d({ inChannels: 1, outChannels: 6, kernelSize: 5 }),
    batchNorm2d({ numFeatures: 6 }),
    sigmoid,
    avgPool2d({ kernelSize: 2, stride: 2 }),
    conv2d({ inChannels: 6, outChannels: 16, kernelSize: 5 }),
    batchNorm2d({ numFeatures: 16 }),
    sigmoid,
    avgPool2d({ kernelSize: 2, stride: 2 }),
    flatten(),
    linear({ inFeatures: 256, outFeatures: 120 }),
    batchNorm1d({ numFeatures: 120 }),
    sigmoid,
    linear({ inFeatures: 120, outFeatures: 84 }),
    batchNorm1d({ numFeatures: 84 }),
    sigmoid,
    linear({ inFeatures: 84, outFeatures: 10 }),
  ]);

Deno.test("summary lists every layer of batch-norm LeNet with PyTorch's shapes and counts", () => {
  const net = bnLenet();
  const params = net.init(random.key(0));
  const rows = summaryRows(net, params, { inputShape: [2, 1, 28, 28] });
  // PyTorch 1.13: per-module output shape and parameter count of the same network
  const torch: [number[], number][] = [
    [[2, 6, 24, 24], 156],
    [[2, 6, 24, 24], 12],
    [[2, 6, 24, 24], 0],
    [[2, 6, 12, 12], 0],
    [[2, 16, 8, 8], 2416],
    [[2, 16, 8, 8], 32],
    [[2, 16, 8, 8], 0],
    [[2, 16, 4, 4], 0],
    [[2, 256], 0],
    [[2, 120], 30840],
    [[2, 120], 240],
    [[2, 120], 0],
    [[2, 84], 10164],
    [[2, 84], 168],
    [[2, 84], 0],
    [[2, 10], 850],
  ];
  assertEquals(rows.length, 17);
  assertEquals(rows[0].params, 44878);
  assertEquals(
    rows.slice(1).map((r) => [r.path, r.output, r.params]),
    torch.map(([s, n], i) => [String(i), `f32[${s}]`, n]),
  );
  const table = summary(net, params, { inputShape: [2, 1, 28, 28] });
  assert(table.includes("Total params: 44,878"), table);
  assert(table.includes("BatchNorm2d(6)"), table);
  assertEquals(table.split("\n").length, 17 + 5);
});

Deno.test("summary descends into residual and concat blocks, and maxDepth cuts it", () => {
  const block = residual(
    sequential([linear({ inFeatures: 4, outFeatures: 4 }), relu]),
    concat([linear({ inFeatures: 4, outFeatures: 1 }), linear({ inFeatures: 4, outFeatures: 3 })]),
  );
  const net = sequential([block, linear({ inFeatures: 4, outFeatures: 2 })]);
  const params = net.init(random.key(0));
  const rows = summaryRows(net, params, { inputShape: [3, 4] });
  assertEquals(rows.map((r) => r.path), [
    "",
    "0",
    "0.inner",
    "0.inner.0",
    "0.inner.1",
    "0.shortcut",
    "0.shortcut.0",
    "0.shortcut.1",
    "1",
  ]);
  assertEquals(rows.find((r) => r.path === "0.shortcut.1")!.output, "f32[3,3]");
  assertEquals(rows.find((r) => r.path === "0")!.params, 20 + 5 + 15);
  const top = summaryRows(net, params, { inputShape: [3, 4], maxDepth: 1 });
  assertEquals(top.map((r) => r.path), ["", "0", "1"]);
});
