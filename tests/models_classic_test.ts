// deno-lint-ignore-file no-explicit-any -- typed in a later pass
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
import { grad, makeJaxpr, nn, np, optim, random, type Tensor, tree, vmap } from "../mod.ts";
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
import {
  autoencoder,
  convAutoencoder,
  corrupt,
  reconstructionError,
  vae,
  vaeKl,
  vaeLoss,
} from "../models/autoencoder.ts";
import { dcgan, initGanState, makeGanStep, mlpGan } from "../models/gan.ts";
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

Deno.test("full-size models compose at ImageNet and Fashion-MNIST sizes (traced, shapes only)", () => {
  /** The output shape of an eval-mode forward pass, traced abstractly (no values computed). */
  const outShape = (model: AnyLayer, inShape: number[]): number[] => {
    let shape: number[] = [];
    const state = isStateful(model) ? model.initState() : null;
    makeJaxpr((k: Tensor, x: Tensor) => {
      const y = evalLogits(model, model.init(k), state, x);
      shape = [...y.shape];
      return y;
    })(random.key(0), np.zeros(inShape));
    return shape;
  };
  assertEquals(outShape(alexnet(), [1, 3, 224, 224]), [1, 1000]);
  assertEquals(outShape(vgg({ depth: 16, batchNorm: true }), [1, 3, 224, 224]), [1, 1000]);
  assertEquals(outShape(vgg({ depth: 19 }), [1, 3, 224, 224]), [1, 1000]);
  assertEquals(outShape(nin(), [1, 1, 224, 224]), [1, 10]);
  assertEquals(outShape(lenet({ inputShape: [3, 224, 224], numClasses: 1000 }), [1, 3, 224, 224]), [
    1,
    1000,
  ]);
  assertEquals(outShape(lenetBN({ inputShape: [3, 224, 224] }), [2, 3, 224, 224]), [2, 10]);
  // d2l resizes Fashion-MNIST to 224 for AlexNet and VGG: at 28×28 they are refused by name
  assertEquals(outShape(alexnet({ inputShape: [1, 224, 224], numClasses: 10 }), [1, 1, 224, 224]), [
    1,
    10,
  ]);
  assertThrows(() => alexnet({ inputShape: [1, 28, 28], numClasses: 10 }), RangeError, "alexnet");
  assertThrows(() => vgg({ inputShape: [1, 28, 28], numClasses: 10 }), RangeError, "vgg11");
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

// ---------------------------------------------------------------- CNNs

/** Runs `n` jitted stateful train steps (batch norm) and returns the losses and final state. */
async function trainStateful(
  model: AnyLayer,
  batch: { x: Tensor; y: Tensor },
  opt: optim.GradientTransformation<any>,
  n: number,
): Promise<{ losses: number[]; state: any }> {
  assert(isStateful(model));
  const loss = (p: any, s: any, b: any, key: Tensor) => {
    const r = model.apply(p, b.x, { state: s, train: true, key });
    return [nn.losses.crossEntropy(r.y, b.y), r.state] as const;
  };
  const step = makeTrainStep(loss, opt, { stateful: true });
  let params = model.init(random.key(0)), optState = opt.init(params), state = model.initState();
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = step(params, optState, state, batch, random.key(10 + i));
    ({ params, optState, state } = r);
    losses.push(await r.loss.item() as number);
  }
  assertEquals(step.traceCount, 1);
  return { losses, state };
}

const labels = (n: number, k: number) =>
  np.array(Array.from({ length: n }, (_, i) => i % k), { dtype: "i32" });

Deno.test("cnn: shapes at two input sizes, paths, and a jitted step that lowers the loss", async () => {
  const blocks = [{ channels: 4 }, { channels: 8, pool: { kind: "avg" as const, size: 2 } }];
  const a = cnn({ inputShape: [1, 12, 12], numClasses: 3, blocks, hidden: [8] });
  const b = cnn({ inputShape: [3, 16, 20], numClasses: 5, blocks, hidden: [8] });
  const pa = a.init(random.key(0));
  assertEquals(a.apply(pa, uniform(1, [2, 1, 12, 12])).shape, [2, 3]);
  assertEquals(b.apply(b.init(random.key(0)), uniform(1, [2, 3, 16, 20])).shape, [2, 5]);
  assertEquals(stateDict(pa).get("classifier.0.weight")!.shape, [8, 8 * 3 * 3]);
  assertEquals(stateDict(pa).get("features.3.weight")!.shape, [8, 4, 3, 3]);
  const x = uniform(2, [4, 1, 12, 12]), y = labels(4, 3);
  const loss = (p: any, bt: any) => nn.losses.crossEntropy(a.apply(p, bt.x), bt.y);
  const ls = await trainLoss(loss, pa, { x, y }, optim.adam({ lr: 0.02 }), 8);
  assert(ls.at(-1)! < ls[0], `${ls}`);
  assertThrows(() => a.apply(pa, uniform(1, [2, 1, 14, 14])), TypeError, "[1, 12, 12]");
});

Deno.test("cnn with batch norm is stateful: train uses batch statistics, eval the running ones", async () => {
  const net = cnn({
    inputShape: [2, 8, 8],
    numClasses: 2,
    blocks: [{ channels: 4 }],
    batchNorm: true,
  });
  assert(isStateful(net));
  const { losses, state } = await trainStateful(
    net,
    { x: uniform(3, [4, 2, 8, 8]), y: labels(4, 2) },
    optim.adam({ lr: 0.05 }),
    6,
  );
  assert(losses.at(-1)! < losses[0], `${losses}`);
  assertEquals(await state.features[1].num_batches_tracked.item(), 6);
  const params = net.init(random.key(0)), s0 = net.initState(), x = uniform(4, [3, 2, 8, 8]);
  const tr = net.apply(params, x, { state: s0, train: true });
  const ev = net.apply(params, x, { state: s0 });
  // eval leaves the state as it was; train counts the batch and moves the running mean
  assertEquals(await ev.state.features[1].num_batches_tracked.item(), 0);
  assertEquals(await flat(ev.state.features[1].running_mean), [0, 0, 0, 0]);
  assertEquals(await tr.state.features[1].num_batches_tracked.item(), 1);
  assert((await flat(tr.state.features[1].running_mean)).some((v) => Math.abs(v) > 1e-6));
  const d = await flat(tr.y.sub(ev.y));
  assert(d.some((v) => Math.abs(v) > 1e-4));
});

Deno.test("cnn refuses channels that do not divide and inputs too small, naming the layer and shapes", () => {
  const e1 = assertThrows(
    () =>
      cnn({
        inputShape: [3, 8, 8],
        numClasses: 2,
        blocks: [{ channels: 4, groups: 2 }],
      }),
    RangeError,
  );
  assert(
    e1.message.includes("cnn: layer features.0") && e1.message.includes("[3, 8, 8]"),
    e1.message,
  );
  assert(e1.message.includes("groups = 2"), e1.message);
  const e2 = assertThrows(
    () =>
      cnn({
        inputShape: [1, 6, 6],
        numClasses: 2,
        blocks: [{ channels: 2 }, { channels: 2 }, { channels: 2 }],
      }),
    RangeError,
  );
  assert(e2.message.includes("features.8") && e2.message.includes("[2, 1, 1]"), e2.message);
});

Deno.test("lenet: d2l's shapes for Fashion-MNIST and for a 3×32×32 input; modern variant trains", async () => {
  const f = lenet();
  const keys = [...stateDict(f.init(random.key(0)))].map(([k, v]) => `${k}:${v.shape}`);
  assertEquals(keys, [
    "0.bias:6",
    "0.weight:6,1,5,5",
    "3.bias:16",
    "3.weight:16,6,5,5",
    "7.bias:120",
    "7.weight:120,400",
    "9.bias:84",
    "9.weight:84,120",
    "11.bias:10",
    "11.weight:10,84",
  ]);
  const c = lenet({ inputShape: [3, 32, 32], numClasses: 4 });
  const pc = c.init(random.key(0));
  assertEquals(stateDict(pc).get("7.weight")!.shape, [120, 16 * 6 * 6]);
  assertEquals(c.apply(pc, uniform(1, [2, 3, 32, 32])).shape, [2, 4]);
  assertThrows(
    () => c.apply(pc, uniform(1, [2, 3, 28, 28])),
    TypeError,
    "lenet expects input [..., 3, 32, 32]",
  );
  // one example without a batch dim, and vmap over the batch, equal the batched call
  const xc = uniform(2, [3, 3, 32, 32]);
  const batched = await flat(c.apply(pc, xc));
  assertAllClose(await flat(vmap((xi: Tensor) => c.apply(pc, xi))(xc)), batched, {
    rtol: 1e-5,
    atol: 1e-6,
  });
  assertEquals(c.apply(pc, uniform(2, [3, 32, 32])).shape, [4]);
  const e = assertThrows(() => lenet({ inputShape: [1, 8, 8] }), RangeError);
  assert(e.message.includes("lenet: layer 3") && e.message.includes("[6, 4, 4]"), e.message);
  const m = lenet({ variant: "modern", inputShape: [1, 12, 12], numClasses: 3 });
  const loss = (p: any, b: any) => nn.losses.crossEntropy(m.apply(p, b.x), b.y);
  const ls = await trainLoss(
    loss,
    m.init(random.key(1)),
    {
      x: uniform(5, [4, 1, 12, 12]),
      y: labels(4, 3),
    },
    optim.adam({ lr: 0.01 }),
    6,
  );
  assert(ls.at(-1)! < ls[0], `${ls}`);
});

Deno.test("lenetBN trains with a jitted stateful step and keeps PyTorch's state layout", async () => {
  const net = lenetBN({ inputShape: [1, 16, 16], numClasses: 3 });
  assertEquals(
    [...stateDict(net.initState()).keys()].filter((k) => k.endsWith("running_mean")),
    ["1.running_mean", "5.running_mean", "10.running_mean", "13.running_mean"],
  );
  const { losses, state } = await trainStateful(
    net,
    { x: uniform(6, [4, 1, 16, 16]), y: labels(4, 3) },
    optim.adam({ lr: 0.02 }),
    5,
  );
  assert(losses.at(-1)! < losses[0], `${losses}`);
  assertEquals(await state[13].num_batches_tracked.item(), 5);
});

Deno.test("alexnet, vgg and nin: two input sizes, adaptive pooling, and too-small inputs name the layer", async () => {
  const small = { channels: [4, 4, 4, 4, 4] as const, hidden: 8, numClasses: 3 };
  const a1 = alexnet({ ...small, inputShape: [3, 63, 63] });
  const pa = a1.init(random.key(0));
  assertEquals(a1.apply(pa, uniform(1, [2, 3, 63, 63])).shape, [2, 3]);
  assertEquals(a1.apply(pa, uniform(1, [1, 3, 80, 70])).shape, [1, 3]); // adaptive pool
  const e = assertThrows(() => a1.apply(pa, uniform(1, [1, 3, 40, 40])), TypeError);
  assert(
    e.message.includes("alexnet: layer features.") && e.message.includes("[3, 40, 40]"),
    e.message,
  );
  assertThrows(() => alexnet({ ...small, inputShape: [3, 50, 50] }), RangeError, "features.12");
  // dropout in the classifier: active only in training, with a key
  const xa = uniform(1, [2, 3, 63, 63]);
  const ea = await flat(a1.apply(pa, xa));
  const ta = await flat(a1.apply(pa, xa, { train: true, key: random.key(9) }));
  assert(ta.some((v, i) => Math.abs(v - ea[i]) > 1e-6));
  assertThrows(() => a1.apply(pa, xa, { train: true }), TypeError, "key");
  assertThrows(() => a1.apply(pa, uniform(1, [1, 1, 63, 63])), TypeError, "[..., 3, H, W]");

  const v = vgg({ inputShape: [1, 16, 16], numClasses: 2, layers: [4, "M", 4, "M"], hidden: 8 });
  const pv = v.init(random.key(0));
  assertEquals(v.apply(pv, uniform(2, [2, 1, 16, 16])).shape, [2, 2]);
  assertEquals(v.apply(pv, uniform(2, [2, 1, 9, 12])).shape, [2, 2]);
  assertEquals(stateDict(pv).get("classifier.0.weight")!.shape, [8, 4 * 49]);
  assertThrows(() => vgg({ inputShape: [3, 16, 16] }), RangeError, "features.");
  assertThrows(() => vgg({ depth: 12 as 11 }), RangeError, "11, 13, 16 or 19");

  const n = nin({ inputShape: [1, 67, 67], numClasses: 3, channels: [4, 4, 4] });
  const pn = n.init(random.key(0));
  assertEquals(n.apply(pn, uniform(3, [2, 1, 67, 67])).shape, [2, 3]);
  assertEquals(n.apply(pn, uniform(3, [1, 1, 90, 80])).shape, [1, 3]);
  assertThrows(() => nin({ inputShape: [1, 60, 60] }), RangeError, "nin: layer 5");
});

Deno.test("vgg with batch norm trains with a jitted stateful step; dropout needs a key", async () => {
  const net = vgg({
    inputShape: [1, 8, 8],
    numClasses: 2,
    layers: [4, "M", 4, "M"],
    batchNorm: true,
    hidden: 8,
  });
  const { losses, state } = await trainStateful(
    net,
    { x: uniform(7, [4, 1, 8, 8]), y: labels(4, 2) },
    optim.adam({ lr: 0.01 }),
    5,
  );
  assert(losses.at(-1)! < losses[0], `${losses}`);
  assertEquals(await state.features[1].num_batches_tracked.item(), 5);
  assert(isStateful(net));
  assertThrows(
    () =>
      net.apply(net.init(random.key(0)), uniform(7, [4, 1, 8, 8]), {
        state: net.initState(),
        train: true,
      }),
    TypeError,
    "key",
  );
});

// ---------------------------------------------------------------- autoencoders

Deno.test("autoencoder: encode/decode shapes, a jitted step lowers the reconstruction error", async () => {
  const ae = autoencoder({ sizes: [16, 8, 3], inputShape: [1, 4, 4] });
  const p = ae.init(random.key(0));
  const x = uniform(8, [6, 1, 4, 4], 0, 1);
  assertEquals(ae.encode(p, x).shape, [6, 3]);
  assertEquals(ae.apply(p, x).shape, [6, 1, 4, 4]);
  assertEquals(reconstructionError(ae, p, x).shape, [6]);
  assertEquals([...stateDict(p).keys()], [
    "decoder.0.bias",
    "decoder.0.weight",
    "decoder.2.bias",
    "decoder.2.weight",
    "encoder.0.bias",
    "encoder.0.weight",
    "encoder.2.bias",
    "encoder.2.weight",
  ]);
  const loss = (pp: any, b: any) => nn.losses.mse(ae.apply(pp, b), b);
  const ls = await trainLoss(loss, p, x, optim.adam({ lr: 0.02 }), 10);
  assert(ls.at(-1)! < 0.85 * ls[0], `${ls}`);
  assertThrows(() => ae.apply(p, uniform(8, [6, 16])), TypeError, "[..., 1, 4, 4]");
});

Deno.test("denoising autoencoders corrupt the input only in training, with a key", async () => {
  const ae = autoencoder({ sizes: [6, 3], noise: { kind: "masking", rate: 1 } });
  const p = ae.init(random.key(0));
  const x = uniform(9, [2, 6]);
  const zero = await flat(ae.apply(p, np.zerosLike(x)));
  assertEquals(await flat(ae.apply(p, x, { train: true, key: random.key(1) })), zero);
  assert((await flat(ae.apply(p, x))).some((v, i) => Math.abs(v - zero[i]) > 1e-6));
  assertThrows(() => ae.apply(p, x, { train: true }), TypeError, "key");
  const g = await flat(corrupt(np.zeros([2000]), { kind: "gaussian", std: 0.5 }, random.key(2)));
  const sd = Math.sqrt(g.reduce((s, v) => s + v * v, 0) / g.length);
  assertAllClose(sd, 0.5, { rtol: 0.1 });
  const cae = convAutoencoder({
    inputShape: [1, 8, 8],
    channels: [4, 8],
    noise: { kind: "gaussian", std: 0.1 },
  });
  const pc = cae.init(random.key(3));
  const xi = uniform(10, [2, 1, 8, 8], 0, 1);
  assertEquals(cae.encode(pc, xi).shape, [2, 8, 2, 2]);
  const loss = (pp: any, b: any, key: Tensor) =>
    nn.losses.mse(cae.apply(pp, b, { train: true, key }), b);
  const ls = await trainLoss(loss, pc, xi, optim.adam({ lr: 0.02 }), 8);
  assert(ls.at(-1)! < ls[0], `${ls}`);
  const e = assertThrows(
    () => convAutoencoder({ inputShape: [1, 12, 12], channels: [2, 2, 2] }),
    RangeError,
  );
  assert(e.message.includes("encoder.4") && e.message.includes("3×3"), e.message);
});

Deno.test("vae: the KL term, the reparameterisation, and a jitted step lowering the negative ELBO", async () => {
  // KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) per dimension
  const mu = np.array([[0.5, -1]]), lv = np.array([[0.3, -0.2]]);
  const want = 0.5 * (0.25 + Math.exp(0.3) - 1 - 0.3) + 0.5 * (1 + Math.exp(-0.2) - 1 + 0.2);
  assertAllClose(await flat(vaeKl(mu, lv)), [want], { rtol: 1e-5 });
  const m = vae({ sizes: [16, 8], latent: 2, inputShape: [1, 4, 4] });
  const p = m.init(random.key(0));
  const x = uniform(11, [4, 1, 4, 4], 0, 1);
  const ev = m.apply(p, x);
  assertEquals(await flat(ev.z), await flat(ev.mu));
  const a = m.apply(p, x, { train: true, key: random.key(5) });
  const b = m.apply(p, x, { train: true, key: random.key(5) });
  assertEquals(await flat(a.z), await flat(b.z));
  // z = μ + exp(½ log σ²)·ε: ε recovered from the output is the key's normal draw
  const eps = a.z.sub(a.mu).div(np.exp(a.logvar.mul(0.5)));
  assertAllClose(await flat(eps), await flat(random.normal(random.key(5), [4, 2])), {
    rtol: 1e-4,
    atol: 1e-5,
  });
  assertThrows(() => m.apply(p, x, { train: true }), TypeError, "key");
  assertEquals(m.sample(p, random.key(6), 3).shape, [3, 1, 4, 4]);
  const loss = (pp: any, bt: any, key: Tensor) =>
    vaeLoss(m.apply(pp, bt, { train: true, key }), bt);
  const ls = await trainLoss(loss, p, x, optim.adam({ lr: 0.02 }), 10);
  assert(ls.at(-1)! < ls[0], `${ls}`);
  const mseLoss = vaeLoss(ev, x, { reconstruction: "mse", beta: 0 });
  const direct = ev.recon.sub(x).mul(ev.recon.sub(x)).sum().div(4);
  assertAllClose(await mseLoss.item() as number, await direct.item() as number, { rtol: 1e-5 });
});

// ---------------------------------------------------------------- GANs

Deno.test("makeGanStep: each player's update lowers its own loss against a fixed opponent", async () => {
  const gan = mlpGan();
  const real = random.normal(random.key(1), [16, 2]).mul(0.5).add(np.array([2, -1]));
  const run = async (optG: any, optD: any, n: number) => {
    const step = makeGanStep(gan, optG, optD);
    let state = initGanState(gan, optG, optD, random.key(0));
    const out: { d: number; g: number }[] = [];
    for (let i = 0; i < n; i++) {
      const r = step(state, real, random.key(100)); // the same noise every step
      state = r.state;
      out.push({ d: await r.lossD.item() as number, g: await r.lossG.item() as number });
    }
    assertEquals(step.traceCount, 1);
    return { out, state };
  };
  // D learns against a frozen G
  const d = await run(optim.sgd({ lr: 0 }), optim.adam({ lr: 0.05 }), 8);
  assert(d.out.at(-1)!.d < d.out[0].d, JSON.stringify(d.out));
  // G learns against a frozen D
  const g = await run(optim.adam({ lr: 0.05 }), optim.sgd({ lr: 0 }), 8);
  assert(g.out.at(-1)!.g < g.out[0].g, JSON.stringify(g.out));
  // at a balanced start D's loss is near ln 2
  assertAllClose(d.out[0].d, Math.LN2, { atol: 0.35 });
});

Deno.test("dcgan: shapes for 28×28 and 64×64, batch norm in both players, one jitted step", async () => {
  const gan = dcgan({ latentDim: 8, imageShape: [1, 28, 28], features: 2 });
  const G = gan.generator, D = gan.discriminator;
  assert(isStateful(G) && isStateful(D));
  const z = random.normal(random.key(0), [2, 8, 1, 1]);
  const { y } = G.apply(G.init(random.key(1)), z, { state: G.initState(), train: true });
  assertEquals(y.shape, [2, 1, 28, 28]);
  assertThrows(
    () =>
      G.apply(G.init(random.key(1)), random.normal(random.key(0), [2, 8]), {
        state: G.initState(),
      }),
    TypeError,
    "[..., 8, 1, 1]",
  );
  const pv = await flat(y);
  assert(pv.every((v) => v >= -1 && v <= 1));
  const big = dcgan({ latentDim: 4, imageShape: [3, 64, 64], features: 1 });
  const gb = big.generator;
  assert(isStateful(gb));
  const y64 = gb.apply(gb.init(random.key(2)), random.normal(random.key(3), [2, 4, 1, 1]), {
    state: gb.initState(),
    train: true,
  }).y;
  assertEquals(y64.shape, [2, 3, 64, 64]);
  const gk = [...stateDict(gb.init(random.key(2)))].map(([k, v]) => `${k}:${v.shape}`);
  assert(gk.includes("0.0.weight:4,8,4,4") && gk.includes("4.weight:1,3,4,4"), `${gk}`);
  const optG = optim.adam({ lr: 0.002 }), optD = optim.adam({ lr: 0.002 });
  const step = makeGanStep(gan, optG, optD);
  let state = initGanState(gan, optG, optD, random.key(4));
  const real = uniform(12, [2, 1, 28, 28]);
  for (let i = 0; i < 2; i++) state = step(state, real, random.key(i)).state;
  assertEquals(await state.gState[0][1].num_batches_tracked.item(), 4);
  assertEquals(await state.dState[0][1].num_batches_tracked.item(), 6);
  const e = assertThrows(() => dcgan({ imageShape: [1, 30, 30], stages: 2 }), RangeError);
  assert(
    e.message.includes("dcgan") && e.message.includes("30") && e.message.includes("2^2"),
    e.message,
  );
  assertThrows(
    () =>
      D.apply(D.init(random.key(0)), uniform(1, [2, 1, 32, 32]), {
        state: D.initState(),
      }),
    TypeError,
    "[..., 1, 28, 28]",
  );
});
