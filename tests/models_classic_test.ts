/**
 * The classic model zoo (models/linear_models.ts, cnn.ts, alexnet.ts, vgg.ts, nin.ts,
 * autoencoder.ts, gan.ts): numbers against PyTorch / torchvision fixtures (weights loaded from
 * their `state_dict()` as they are; tools/make_vision_fixtures_classic.py), parameter paths and
 * shapes of the full-size torchvision models, the perceptron rule on AND/OR/XOR, the closed-form
 * regression, shapes at two input sizes, one jitted training step per family that lowers the
 * loss, train vs eval mode, vmap, and the errors of bad configs.
 */
import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { grad, jit, makeJaxpr, nn, np, optim, random, type Tensor, tree, vmap } from "../mod.ts";
import { checkpointKey, load, loadInto, stateDict } from "../train/checkpoint.ts";
import { makeTrainStep } from "../train/step.ts";
import { type AnyLayer, isStateful } from "../layers/layer.ts";
import {
  linearRegression,
  linearRegressionFit,
  logisticRegression,
  mlp,
  perceptron,
  perceptronFit,
  softmaxRegression,
} from "../models/linear_models.ts";
import { cnn, lenet, lenetBN } from "../models/cnn.ts";
import { alexnet } from "../models/alexnet.ts";
import { vgg } from "../models/vgg.ts";
import { nin } from "../models/nin.ts";
import { flat, uniform } from "./helpers.ts";

const DATA = new URL("./testdata/models/", import.meta.url).pathname;

// ---------------------------------------------------------------- helpers

/** A file's tensors by PyTorch key. */
async function readTensors(path: string): Promise<Map<string, Tensor>> {
  const r = await load(path);
  if (r._tag === "Left") throw r.left;
  return stateDict(r.right);
}

/** Loads a torchvision `state_dict()` file into the model's params (and state). */
async function loadTorch(
  model: AnyLayer,
  name: string,
): Promise<{ params: any; state: any }> {
  const path = `${DATA}classic_${name}.safetensors`;
  const template = model.init(random.key(0));
  const p = await loadInto(path, template, { strict: false });
  if (p._tag === "Left") throw p.left;
  let state = null;
  if (isStateful(model)) {
    const s = await loadInto(path, model.initState(), { strict: false });
    if (s._tag === "Left") throw s.left;
    state = s.right;
  }
  // every key of the file is a param or a state entry, and nothing else
  const ours = [...stateDict(p.right).keys(), ...(state ? stateDict(state).keys() : [])];
  assertEquals(ours.sort(), [...(await readTensors(path)).keys()].sort());
  return { params: p.right, state };
}

/** Eval-mode logits of a model (stateful or not). */
function evalLogits(model: AnyLayer, params: unknown, state: unknown, x: Tensor): Tensor {
  return isStateful(model) ? model.apply(params, x, { state }).y : model.apply(params, x);
}

/** Compares against a PyTorch value at rtol 1e-4 (atol 1e-5 of the largest magnitude). */
async function assertTorchClose(actual: Tensor, expected: Tensor, what: string) {
  assertEquals(actual.shape, expected.shape, what);
  const e = await flat(expected);
  const scale = Math.max(...e.map(Math.abs), 1e-6);
  assertAllClose(await flat(actual), e, { rtol: 1e-4, atol: 1e-5 * scale, msg: what });
}

/** Checkpoint keys and shapes of `init`'s params, traced abstractly (no values computed). */
function abstractKeys(model: AnyLayer): [string, number[]][] {
  let out: [string, number[]][] = [];
  makeJaxpr((k: Tensor) => {
    const p = model.init(k);
    const [pairs] = tree.flattenWithPath<Tensor>(p);
    out = pairs.map(([path, leaf]) => [checkpointKey(path), [...leaf.shape]]);
    return tree.leaves(p);
  })(random.key(0));
  return out;
}

// ---------------------------------------------------------------- PyTorch fixtures

const torchCases: [string, () => AnyLayer][] = [
  ["alexnet", () =>
    alexnet({
      inputShape: [3, 95, 95],
      numClasses: 10,
      channels: [8, 16, 16, 16, 16],
      hidden: 32,
    })],
  ["vgg11_bn", () =>
    vgg({
      inputShape: [3, 32, 32],
      numClasses: 10,
      layers: [8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16, "M"],
      batchNorm: true,
      hidden: 32,
    })],
  ["vgg", () =>
    vgg({
      inputShape: [3, 40, 40],
      numClasses: 10,
      layers: [8, "M", 16, "M", 16, 16, "M"],
      hidden: 32,
    })],
  ["nin", () => nin({ inputShape: [1, 67, 67], numClasses: 10, channels: [8, 16, 16] })],
  ["lenet", () => lenet()],
  ["lenet_modern", () => lenet({ variant: "modern" })],
  ["lenet_bn", () => lenetBN()],
];

for (const [name, make] of torchCases) {
  Deno.test(`${name} with torchvision's weights gives PyTorch's eval-mode logits`, async () => {
    const model = make();
    const { params, state } = await loadTorch(model, name);
    const io = await readTensors(`${DATA}classic_${name}_io.safetensors`);
    const y = evalLogits(model, params, state, io.get("input")!);
    await assertTorchClose(y, io.get("logits")!, `${name} logits`);
  });
}

Deno.test("lenet's gradients of the mean cross-entropy equal PyTorch's", async () => {
  const model = lenet();
  const { params } = await loadTorch(model, "lenet");
  const io = await readTensors(`${DATA}classic_lenet_io.safetensors`);
  const x = io.get("input")!, labels = io.get("labels")!;
  const lossFn = (p: unknown) => nn.losses.crossEntropy(model.apply(p, x), labels);
  await assertTorchClose(lossFn(params), io.get("loss")!, "loss");
  const g = stateDict(grad(lossFn)(params));
  assertEquals(g.size, 10);
  for (const [k, v] of g) await assertTorchClose(v, io.get(`grad.${k}`)!, `grad.${k}`);
});

Deno.test("lenetBN in train mode uses batch statistics and updates the running ones as PyTorch", async () => {
  const model = lenetBN();
  const { params, state } = await loadTorch(model, "lenet_bn");
  const io = await readTensors(`${DATA}classic_lenet_bn_io.safetensors`);
  const r = model.apply(params, io.get("input")!, { state, train: true });
  await assertTorchClose(r.y, io.get("train_logits")!, "train logits");
  for (const [k, v] of stateDict(r.state)) {
    await assertTorchClose(v, io.get(`train_state.${k}`)!, `state ${k}`);
  }
});

Deno.test("full-size alexnet and vgg params and state have torchvision's state_dict keys and shapes", async () => {
  const want: Record<string, [string, number[]][]> = JSON.parse(
    await Deno.readTextFile(`${DATA}classic_torchvision_keys.json`),
  );
  const models: Record<string, () => AnyLayer> = { alexnet: () => alexnet() };
  for (const d of [11, 13, 16, 19] as const) {
    models[`vgg${d}`] = () => vgg({ depth: d });
    models[`vgg${d}_bn`] = () => vgg({ depth: d, batchNorm: true });
  }
  assertEquals(Object.keys(models).sort(), Object.keys(want).sort());
  for (const [name, make] of Object.entries(models)) {
    const model = make();
    const keys = abstractKeys(model);
    if (isStateful(model)) {
      for (const [k, v] of stateDict(model.initState())) keys.push([k, [...v.shape]]);
    }
    const sort = (a: [string, number[]][]) =>
      [...a].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    assertEquals(sort(keys), sort(want[name]), name);
  }
  const n = abstractKeys(vgg({ depth: 16 })).reduce(
    (s, [, sh]) => s + sh.reduce((a, b) => a * b, 1),
    0,
  );
  assertEquals(n, 138357544); // VGG16: 138.4M parameters (S1 table)
});

// ---------------------------------------------------------------- linear models

const BOOL_X = [[0, 0], [0, 1], [1, 0], [1, 1]];

Deno.test("the perceptron rule learns AND and OR and never separates XOR", async () => {
  const p0 = () => perceptron({ inFeatures: 2 }).init(random.key(0));
  const x = np.array(BOOL_X);
  for (const t of [[0, 0, 0, 1], [0, 1, 1, 1]]) {
    const r = await perceptronFit(p0(), x, np.array(t));
    assert(r.converged, `targets ${t}: mistakes ${r.mistakes}`);
    assertEquals(r.mistakes.at(-1), 0);
    assertEquals(await flat(perceptron({ inFeatures: 2 }).apply(r.params, x)), t);
  }
  const xor = await perceptronFit(p0(), x, np.array([0, 1, 1, 0]), { maxEpochs: 30 });
  assert(!xor.converged);
  assertEquals(xor.mistakes.length, 30);
  assert(xor.mistakes.every((m) => m > 0), `${xor.mistakes}`);
});

Deno.test("the perceptron rule is error-correcting: one update is w += η(t − ŷ)x", async () => {
  // from w = 0, b = 0 the first example [1, 1] with t = 0 fires (z = 0 ≥ 0): w ← −η[1, 1]
  const r = await perceptronFit(
    perceptron({ inFeatures: 2 }).init(random.key(0)),
    np.array([[1, 1]]),
    np.array([0]),
    { lr: 0.5, maxEpochs: 1 },
  );
  assertEquals(await flat(r.params.weight), [-0.5, -0.5]);
  assertEquals(await flat(r.params.bias), [-0.5]);
  assertEquals(r.mistakes, [1]);
});

Deno.test("linearRegressionFit solves the normal equations (float64 on the host)", async () => {
  const x = uniform(3, [50, 3]);
  const w = np.array([[2, -1, 0.5]]), b = 0.25;
  const noise = uniform(4, [50, 1], -0.01, 0.01);
  const y = np.reshape(np.matmul(x, np.transpose(w)).add(b).add(noise), [50]);
  const p = await linearRegressionFit(x, y);
  assertAllClose(await flat(p.weight), [2, -1, 0.5], { atol: 0.01 });
  assertAllClose(await flat(p.bias!), [0.25], { atol: 0.01 });
  // the residual is orthogonal to the columns of [X 1]: Aᵀ(Aθ − y) = 0
  const m = linearRegression({ inFeatures: 3 });
  const res = np.reshape(m.apply(p, x), [50]).sub(y);
  assertAllClose(await flat(np.matmul(res, x)), [0, 0, 0], { atol: 1e-4 });
  assertAllClose(await res.sum().item() as number, 0, { atol: 1e-4 });
  // exact data, two targets at once: W = [[1, 2], [3, −1]], b = [0.5, −1]
  const x2 = np.array([[0, 1], [1, 0], [2, 3], [4, 1]]);
  const y2 = np.array([[2.5, -2], [1.5, 2], [8.5, 2], [6.5, 10]]);
  const p2 = await linearRegressionFit(x2, y2);
  assertAllClose(await flat(p2.weight), [1, 2, 3, -1], { atol: 1e-4 });
  assertAllClose(await flat(p2.bias!), [0.5, -1], { atol: 1e-4 });
  const pred = linearRegression({ inFeatures: 2, outFeatures: 2 }).apply(p2, x2);
  assertAllClose(await flat(pred), await flat(y2), { atol: 1e-4 });
  // collinear features are singular without a penalty, solvable with one
  const col = np.array([[1, 2], [2, 4], [3, 6]]);
  await assertRejects(() => linearRegressionFit(col, np.array([1, 2, 3])), RangeError, "singular");
  await linearRegressionFit(col, np.array([1, 2, 3]), { l2: 0.1 });
});

Deno.test("logistic and softmax regression train with jitted SGD steps", async () => {
  const x = uniform(5, [32, 2]);
  const t = np.astype(np.greater(x.sum({ axis: 1 }), 0), "f32");
  const lr = logisticRegression({ inFeatures: 2 });
  assertEquals(lr.apply(lr.init(random.key(0)), x).shape, [32]);
  const loss = (p: any, b: any) => nn.losses.binaryCrossEntropy(lr.apply(p, b.x), b.y);
  const losses = await trainLoss(
    loss,
    lr.init(random.key(0)),
    { x, y: t },
    optim.sgd({ lr: 1 }),
    15,
  );
  assert(losses.at(-1)! < 0.6 * losses[0], `${losses}`);

  const sm = softmaxRegression({ inputShape: [1, 4, 4], numClasses: 3 });
  const xi = uniform(6, [12, 1, 4, 4]);
  const yi = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], { dtype: "i32" });
  assertEquals(sm.apply(sm.init(random.key(0)), xi).shape, [12, 3]);
  assertEquals(sm.apply(sm.init(random.key(0)), uniform(6, [1, 4, 4])).shape, [3]);
  const l2 = (p: any, b: any) => nn.losses.crossEntropy(sm.apply(p, b.x), b.y);
  const ls = await trainLoss(
    l2,
    sm.init(random.key(1)),
    { x: xi, y: yi },
    optim.sgd({ lr: 0.5 }),
    15,
  );
  assert(ls.at(-1)! < 0.5 * ls[0], `${ls}`);
  assertThrows(
    () => sm.apply(sm.init(random.key(0)), np.zeros([2, 16])),
    TypeError,
    "[..., 1, 4, 4]",
  );
});

/** Runs `n` jitted train steps and returns the losses. */
async function trainLoss(
  loss: (p: any, b: any, key: Tensor) => Tensor,
  params: any,
  batch: unknown,
  opt: optim.GradientTransformation<any>,
  n: number,
): Promise<number[]> {
  const step = makeTrainStep(loss, opt);
  let optState = opt.init(params);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = step(params, optState, batch, random.key(i));
    ({ params, optState } = r);
    out.push(await r.loss.item() as number);
  }
  assertEquals(step.traceCount, 1);
  return out;
}

// ---------------------------------------------------------------- MLP

Deno.test("mlp: shapes, d2l's key layout, dropout only in training, and vmap equals the batch", async () => {
  const net = mlp({ sizes: [16, 8, 8, 3], inputShape: [1, 4, 4], dropout: [0.5, 0.2] });
  const params = net.init(random.key(0));
  assertEquals([...stateDict(params).keys()], [
    "1.bias",
    "1.weight",
    "4.bias",
    "4.weight",
    "7.bias",
    "7.weight",
  ]);
  const x = uniform(1, [5, 1, 4, 4]);
  assertEquals(net.apply(params, x).shape, [5, 3]);
  assertEquals(net.apply(params, uniform(1, [2, 5, 1, 4, 4])).shape, [2, 5, 3]);
  const a = await flat(net.apply(params, x)), b = await flat(net.apply(params, x));
  assertEquals(a, b);
  const tr = await flat(net.apply(params, x, { train: true, key: random.key(3) }));
  assert(tr.some((v, i) => Math.abs(v - a[i]) > 1e-6));
  assertThrows(() => net.apply(params, x, { train: true }), TypeError, "key");
  const vm = vmap((xi: Tensor) => net.apply(params, xi))(x);
  assertAllClose(await flat(vm), a, { rtol: 1e-5, atol: 1e-6 });
  const plain = mlp({ sizes: [4, 6, 2], activation: "tanh" });
  assertEquals([...stateDict(plain.init(random.key(0))).keys()], [
    "0.bias",
    "0.weight",
    "2.bias",
    "2.weight",
  ]);
  assertThrows(() => mlp({ sizes: [15, 3], inputShape: [1, 4, 4] }), RangeError, "16 values");
  assertThrows(() => mlp({ sizes: [4, 6, 2], dropout: [0.1, 0.1] }), RangeError, "1 hidden");
});

Deno.test("mlp trains: a jitted adam step lowers the cross-entropy", async () => {
  const net = mlp({ sizes: [8, 16, 3] });
  const x = uniform(2, [24, 8]);
  const y = np.astype(np.argmax(np.matmul(x, uniform(3, [8, 3])), { axis: 1 }), "i32");
  const loss = (p: any, b: any, key: Tensor) =>
    nn.losses.crossEntropy(net.apply(p, b.x, { train: true, key }), b.y);
  const ls = await trainLoss(loss, net.init(random.key(0)), { x, y }, optim.adam({ lr: 0.05 }), 20);
  assert(ls.at(-1)! < 0.5 * ls[0], `${ls}`);
});
