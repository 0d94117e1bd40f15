// deno-lint-ignore-file no-explicit-any -- typed in a later pass
import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { np, random, type Tensor, tree, valueAndGrad } from "../mod.ts";
import { adam, applyUpdates, sgd } from "../optim/mod.ts";
import { sequential } from "../layers/combinators.ts";
import { conv2d } from "../layers/conv.ts";
import { dropout, flatten, linear } from "../layers/linear.ts";
import { batchNorm1d, batchNorm2d } from "../layers/norm.ts";
import { crossEntropy } from "../layers/losses.ts";
import { accuracy } from "../layers/metrics.ts";
import { batches, spirals, twoMoons } from "../data/mod.ts";
import { tensorSource } from "../data/d2l.ts";
import {
  evaluate,
  fit,
  makeEvalStep,
  makeTrainStep,
  progressBar,
  trainingCurvesSvg,
} from "../train/mod.ts";

const mlp = (hidden = 16, classes = 2) =>
  sequential([
    linear({ inFeatures: 2, outFeatures: hidden }),
    (x: Tensor) => np.maximum(x, 0),
    linear({ inFeatures: hidden, outFeatures: classes }),
  ]);

Deno.test("makeTrainStep reduces an MLP's loss on a fixed batch and traces once", async () => {
  const net = mlp(32, 3);
  const batch = spirals(random.key(0), { n: 32, classes: 3 });
  const loss = (p: any, b: any) => crossEntropy(net.apply(p, b.x), b.y);
  const opt = adam({ lr: 0.02 });
  const step = makeTrainStep(loss, opt);
  let params = net.init(random.key(1)), optState = opt.init(params);
  const losses: number[] = [];
  for (let i = 0; i < 60; i++) {
    const out = step(params, optState, batch, random.key(i));
    ({ params, optState } = out);
    if (i % 20 === 0) losses.push(await out.loss.item() as number);
  }
  const final = await loss(params, batch).item() as number;
  assert(final < 0.6 * losses[0], `loss went from ${losses[0]} to ${final}`);
  assert(losses[1] < losses[0] && losses[2] < losses[1], `losses ${losses}`);
  assertEquals(step.traceCount, 1);
});

Deno.test("makeTrainStep returns the loss's aux output with hasAux", async () => {
  const loss = (p: any, b: any, key: Tensor) => {
    const noise = random.normal(key, [3]).mul(0);
    const err = b.x.mul(p.w).sub(b.y).add(noise);
    return [np.square(err).mean(), { maxErr: err.abs().max() }];
  };
  const step = makeTrainStep(loss, sgd({ lr: 0.1 }), { hasAux: true });
  const p = { w: np.array(1) };
  const out = step(p, sgd({ lr: 0.1 }).init(p), {
    x: np.array([1, 2, 3]),
    y: np.array([2, 4, 6]),
  }, random.key(0));
  assertEquals(await out.aux.maxErr.item(), 3);
  assertAllClose(await out.loss.item() as number, 14 / 3, { rtol: 1e-6 });
  assertAllClose(await out.params.w.item() as number, 1 + 0.1 * 28 / 3, { rtol: 1e-6 });
});

Deno.test("evaluate averages batch means weighted by batch size", async () => {
  const x = random.normal(random.key(3), [25, 2]);
  const data = { x, y: np.matmul(x, np.array([1, -1])) };
  const metrics = {
    mse: (p: any, b: any) => np.square(np.matmul(b.x, p.w).sub(b.y)).mean(),
    bias: (p: any, b: any) => np.matmul(b.x, p.w).sub(b.y).mean(),
  };
  const p = { w: np.array([0.5, 0]) };
  const whole = await makeEvalStep(metrics.mse)(p, data).item() as number;
  const got = await evaluate(p, data, metrics, { batchSize: 7 });
  assertAllClose(got.mse, whole, { rtol: 1e-5 });
  assertAllClose(got.bias, await metrics.bias(p, data).item() as number, { rtol: 1e-4 });
  await assertRejects(
    () => evaluate(p, data, { bad: (q: any, b: any) => np.matmul(b.x, q.w) }),
    TypeError,
    'metric "bad" must return a scalar Tensor, got f32[25]',
  );
});

Deno.test("fit trains two moons, logs every epoch and never retraces the step", async () => {
  const net = mlp(16, 2);
  const ds = twoMoons(random.key(0), { n: 320, noise: 0.1 });
  const val = twoMoons(random.key(1), { n: 100, noise: 0.1 });
  const loss = (p: any, b: any) => crossEntropy(net.apply(p, b.x), b.y);
  const lines: string[] = [];
  const { params, history, step, stoppedEarly } = await fit({
    params: net.init(random.key(2)),
    optimizer: adam({ lr: 0.02 }),
    loss,
    trainData: ds,
    valData: val,
    epochs: 12,
    batchSize: 32,
    key: random.key(3),
    logEvery: 4,
    metrics: {
      loss: (p: any, b: any) => crossEntropy(net.apply(p, b.x), b.y),
      accuracy: (p: any, b: any) => accuracy(net.apply(p, b.x), b.y),
    },
    progress: { tty: false, write: (s) => lines.push(s) },
  });
  assertEquals(step.traceCount, 1);
  assertEquals(stoppedEarly, false);
  assertEquals(Object.keys(history).sort(), [
    "epoch",
    "loss",
    "time",
    "val_accuracy",
    "val_loss",
  ]);
  assertEquals(history.epoch, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert(history.loss[11] < history.loss[0] / 2, `loss ${history.loss}`);
  assert(history.val_accuracy[11] > 0.85, `val accuracy ${history.val_accuracy}`);
  const acc = await evaluate(params, val, {
    a: (p: any, b: any) => accuracy(net.apply(p, b.x), b.y),
  });
  assertAllClose(acc.a, history.val_accuracy[11], { atol: 1e-6 });
  // 10 steps per epoch, logEvery 4: lines at steps 4 and 8, then the epoch summary
  assertEquals(lines.filter((l) => l.startsWith("epoch 1/12 ")).length, 3);
  assert(lines[0].startsWith("epoch 1/12 4/10 loss "), lines[0]);
  assert(/^epoch 12\/12 10\/10 loss \S+ val_loss \S+ val_accuracy \S+ \(/.test(lines.at(-1)!));
});

Deno.test("fit stops early when the monitored value stops improving", async () => {
  const x = random.normal(random.key(0), [40, 2]);
  const data = { x, y: np.matmul(x, np.array([1, 2])) };
  const loss = (p: any, b: any) => np.square(np.matmul(b.x, p.w).sub(b.y)).mean();
  const lines: string[] = [];
  const r = await fit({
    params: { w: np.zeros([2]) },
    optimizer: sgd({ lr: 0 }), // nothing changes: the loss never improves
    loss,
    trainData: data,
    epochs: 20,
    batchSize: 10,
    key: random.key(1),
    earlyStopping: { patience: 2, minDelta: 1e-4 },
    progress: { tty: false, write: (s) => lines.push(s) },
  });
  assertEquals(r.stoppedEarly, true);
  assertEquals(r.history.epoch, [1, 2, 3, 4]); // best at 1, then 3 epochs without improvement
  assertEquals(r.bestEpoch, 1);
  assert(lines.at(-1)!.startsWith("early stopping: loss has not improved for 3 epochs"));
});

const tinyData = () => ({
  x: np.array([[1, 0], [0, 1], [1, 1], [-1, 0]]),
  y: np.array([1, -1, 0, -1]),
});
const tinyLoss = (p: any, b: any) => np.square(np.matmul(b.x, p.w).sub(b.y)).mean();

Deno.test("fit with restoreBest returns the best epoch's parameters", async () => {
  let epochSeen = 0;
  const r = await fit({
    params: { w: np.array([0, 0]) },
    optimizer: sgd({ lr: 0.5 }),
    loss: tinyLoss,
    trainData: tinyData(),
    epochs: 4,
    batchSize: 4,
    key: random.key(0),
    // the loss falls every epoch, so "max" makes epoch 1 the best
    earlyStopping: { monitor: "loss", mode: "max", patience: 10, restoreBest: true },
    onEpochEnd: (e) => void (epochSeen = e),
    progress: false,
  });
  assertEquals([epochSeen, r.bestEpoch, r.stoppedEarly], [4, 1, false]);
  // one full-batch step from 0: w = lr · (2/4) Xᵀy = [0.5, −0.25]
  assertAllClose(await r.params.w.toArray() as number[], [0.5, -0.25], { rtol: 1e-6 });
});

Deno.test("fit infers max mode for monitors named like accuracy", async () => {
  const r = await fit({
    params: { w: np.array([0, 0]) },
    optimizer: sgd({ lr: 0.5 }),
    loss: tinyLoss,
    trainData: tinyData(),
    epochs: 4,
    batchSize: 4,
    key: random.key(0),
    metrics: { accuracy: (p: any, b: any) => tinyLoss(p, b).neg() }, // rises every epoch
    earlyStopping: { monitor: "train_accuracy", patience: 0 },
    progress: false,
  });
  assertEquals([r.stoppedEarly, r.bestEpoch, r.history.epoch.length], [false, 4, 4]);
});

Deno.test("fit rejects an early-stopping monitor that is never logged", async () => {
  await assertRejects(
    () =>
      fit({
        params: { w: np.zeros([2]) },
        optimizer: sgd({ lr: 0.1 }),
        loss: (p: any, b: any) => np.square(np.matmul(b.x, p.w)).mean(),
        trainData: { x: np.ones([4, 2]) },
        epochs: 2,
        batchSize: 2,
        key: random.key(0),
        earlyStopping: { monitor: "val_accuracy" },
        progress: false,
      }),
    RangeError,
    'monitors "val_accuracy", which is not logged; logged: loss',
  );
});

Deno.test("the progress bar redraws one line on a terminal", () => {
  const out: string[] = [];
  let t = 0;
  const bar = progressBar({
    epochs: 3,
    steps: 10,
    batchSize: 8,
    tty: true,
    width: 10,
    write: (s) => out.push(s),
    now: () => t,
  });
  bar.startEpoch(2);
  t = 500;
  bar.update(5, 1.25);
  t = 1000;
  bar.endEpoch({ loss: 1, val_accuracy: 0.5 });
  assertEquals(out[0], "\repoch 2/3 [====>     ] 5/10 loss 1.2500 80 ex/s ETA 0:01\x1b[K");
  assertEquals(out[1], "\repoch 2/3 10/10 loss 1.0000 val_accuracy 0.5000 (1.0 s)\x1b[K\n");
});

Deno.test("trainingCurvesSvg draws one polyline per logged series", () => {
  const history = {
    epoch: [1, 2, 3, 4],
    loss: [1.2, 0.8, 0.6, 0.5],
    time: [1, 1, 1, 1],
    val_loss: [1.1, 0.9, 0.7, 0.65],
    val_accuracy: [0.6, 0.7, 0.75, 0.8],
  };
  const svg = trainingCurvesSvg(history, { title: "a < b" });
  assert(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert(svg.trimEnd().endsWith("</svg>"));
  const lines = [...svg.matchAll(/<polyline data-series="([^"]+)"[^>]*points="([^"]*)"/g)];
  assertEquals(lines.map((m) => m[1]), ["loss", "val_loss", "val_accuracy"]);
  for (const m of lines) assertEquals(m[2].split(" ").length, 4);
  assert(svg.includes(">Loss</text>") && svg.includes(">Accuracy</text>"));
  assert(svg.includes(">epoch</text>"));
  assert(svg.includes("a &#60; b") && !svg.includes("a < b"));
  // loss falls: its y coordinate (downwards in SVG) grows
  const ys = lines[0][2].split(" ").map((p) => Number(p.split(",")[1]));
  assert(ys.every((y, i) => i === 0 || y > ys[i - 1]));
  const lossOnly = trainingCurvesSvg({ loss: [3, 2, 1] });
  assertEquals([...lossOnly.matchAll(/<polyline/g)].length, 1);
  assert(!lossOnly.includes("Accuracy"));
});

// ---------------------------------------------------------------- stateful models

/** A small CNN with batch norm inside a sequential: conv → BN → ReLU → flatten → linear. */
const bnCnn = () =>
  sequential([
    conv2d({ inChannels: 1, outChannels: 3, kernelSize: 3, padding: 1 }),
    batchNorm2d({ numFeatures: 3 }),
    (x: Tensor) => np.maximum(x, 0),
    flatten(),
    linear({ inFeatures: 48, outFeatures: 2 }),
  ]);

/** 4×4 images, shifted and scaled far from N(0, 1); the label is whether the left half is brighter. */
function imageSet(n: number, seed: number) {
  const x = random.normal(random.key(seed), [n, 1, 4, 4]).mul(2).add(5);
  const left = np.slice(x, [0, 0, 0, 0], [n, 1, 4, 2]).mean({ axis: [1, 2, 3] });
  const right = np.slice(x, [0, 0, 0, 2], [n, 1, 4, 4]).mean({ axis: [1, 2, 3] });
  return { x, y: np.greater(left, right).astype("i32") };
}

const toArrays = async (t: unknown) =>
  await Promise.all(tree.leaves(t).map(async (l) => await (l as Tensor).toArray()));

Deno.test("a stateful makeTrainStep carries batch-norm state and matches an eager loop step for step", async () => {
  const net = bnCnn();
  const data = imageSet(64, 3);
  const opt = sgd({ lr: 0.05, momentum: 0.9 });
  const loss = (p: any, s: any, b: any, key: Tensor) => {
    const { y, state } = net.apply(p, b.x, { state: s, train: true, key });
    return [crossEntropy(y, b.y), state] as const;
  };
  const step = makeTrainStep(loss, opt, { stateful: true });
  let params = net.init(random.key(5)), optState = opt.init(params), state = net.initState();
  // the eager reference: valueAndGrad, the optimizer and applyUpdates by hand
  let hp = net.init(random.key(5)), ho = opt.init(hp), hs = net.initState();
  const vg = valueAndGrad((p: any, s: any, b: any) => {
    const { y, state } = net.apply(p, b.x, { state: s, train: true });
    return [crossEntropy(y, b.y), state];
  }, { hasAux: true });
  const bs = [...batches(data, { batchSize: 16, shuffle: random.key(1), epoch: 1 })];
  for (const [i, b] of bs.entries()) {
    const out = step(params, optState, state, b, random.key(i));
    ({ params, optState, state } = out);
    const [[l, ns], g] = vg(hp, hs, b);
    const [updates, no] = opt.update(g, ho, hp);
    [hp, ho, hs] = [applyUpdates(hp, updates), no, ns];
    assertAllClose(await out.loss.item() as number, await l.item() as number, { rtol: 1e-5 });
    const [got, want] = [await toArrays(state), await toArrays(hs)];
    assertAllClose(got.flat(), want.flat(), { rtol: 1e-5, atol: 1e-6 });
  }
  assertEquals(await state[1].num_batches_tracked!.item(), bs.length);
  assertAllClose((await toArrays(params)).flat(2), (await toArrays(hp)).flat(2), {
    rtol: 1e-4,
    atol: 1e-5,
  });
  // the running mean moved from its initial zeros towards the conv outputs' means
  const rm = await state[1].running_mean!.toArray() as number[];
  assert(rm.some((v) => Math.abs(v) > 0.1), `running_mean ${rm}`);
  assertEquals(step.traceCount, 1);
});

Deno.test("fit with a batch-norm model updates the running statistics as a hand-written loop does", async () => {
  const net = bnCnn();
  const data = imageSet(96, 4);
  const opt = sgd({ lr: 0.05 });
  const key = random.key(7);
  const seen: unknown[][] = [];
  const { state, step } = await fit({
    model: net,
    params: net.init(random.key(5)),
    loss: crossEntropy,
    optimizer: opt,
    trainData: data,
    epochs: 2,
    batchSize: 32,
    key,
    progress: false,
    onEpochEnd: async (_e, _l, _p, s) => void seen.push(await toArrays(s[1])),
  });
  // the same steps by hand: fit's shuffling key and epochs, eager updates
  let hp = net.init(random.key(5)), ho = opt.init(hp), hs = net.initState();
  const vg = valueAndGrad((p: any, s: any, b: any) => {
    const { y, state } = net.apply(p, b.x, { state: s, train: true });
    return [crossEntropy(y, b.y), state];
  }, { hasAux: true });
  for (let epoch = 1; epoch <= 2; epoch++) {
    const shuffle = random.foldIn(key, 0);
    for (const b of batches(data, { batchSize: 32, shuffle, epoch, dropLast: true })) {
      const [[, ns], g] = vg(hp, hs, b);
      const [updates, no] = opt.update(g, ho, hp);
      [hp, ho, hs] = [applyUpdates(hp, updates), no, ns];
    }
    assertAllClose(
      (seen[epoch - 1] as number[][]).flat(),
      (await toArrays(hs[1])).flat() as number[],
      {
        rtol: 1e-4,
        atol: 1e-5,
      },
    );
  }
  const init = net.initState()[1];
  const rm = await state[1].running_mean!.toArray() as number[];
  const rv = await state[1].running_var!.toArray() as number[];
  assert(rm.every((v) => Math.abs(v) > 1e-3), `running_mean ${rm} did not move from 0`);
  assert(rv.every((v) => Math.abs(v - 1) > 1e-3), `running_var ${rv} did not move from 1`);
  assertEquals(await state[1].num_batches_tracked!.item(), 6);
  assertEquals(await init.num_batches_tracked!.item(), 0);
  assertEquals(step.traceCount, 1);
});

Deno.test("a batch-norm model trained with fit scores in eval mode as in train mode", async () => {
  // blobs far from the origin: the running statistics must be learned for eval mode to work
  const n = 384, k = random.key(11);
  const y = random.randint(random.foldIn(k, 0), [n], 0, 3);
  const centers = np.array([[8, 8], [12, 8], [10, 12]]);
  const x = np.take(centers, y, { axis: 0 }).add(random.normal(random.foldIn(k, 1), [n, 2]));
  const data = { x, y };
  const net = sequential([
    linear({ inFeatures: 2, outFeatures: 16 }),
    batchNorm1d({ numFeatures: 16 }),
    (t: Tensor) => np.maximum(t, 0),
    linear({ inFeatures: 16, outFeatures: 3 }),
  ]);
  const { params, state, history } = await fit({
    model: net,
    loss: crossEntropy,
    metrics: { accuracy },
    optimizer: adam({ lr: 0.02 }),
    trainData: data,
    epochs: 8,
    batchSize: 32,
    key: random.key(12),
    progress: false,
  });
  // train_accuracy and train_loss come from evaluation mode (running statistics)
  assert(history.train_accuracy.length === 8 && history.train_loss.length === 8);
  const evalAcc = (await evaluate(net, params, state, data)).accuracy;
  const trainMode = net.apply(params, x, { state, train: true });
  const trainAcc = await accuracy(trainMode.y, y).item() as number;
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  let stale: number;
  try {
    stale = (await evaluate(net, params, net.initState(), data)).accuracy;
    await evaluate(net, params, net.initState(), data);
  } finally {
    console.warn = warn;
  }
  // evaluating with never-updated statistics warns, once per model
  assertEquals(warnings.length, 1);
  assert(warnings[0].includes("never updated"), warnings[0]);
  assert(trainAcc > 0.85, `train-mode accuracy ${trainAcc}`);
  assert(Math.abs(evalAcc - trainAcc) < 0.05, `eval ${evalAcc} vs train mode ${trainAcc}`);
  // with the initial (never updated) statistics, as when fit dropped the state, it fails
  assert(stale < evalAcc - 0.2, `eval with initial state ${stale} vs ${evalAcc}`);
  assertAllClose(history.train_accuracy[7], evalAcc, { atol: 1e-6 });
});

Deno.test("fit with a stateful loss takes the state, returns it, and passes it to the metrics", async () => {
  const net = sequential([
    batchNorm1d({ numFeatures: 2 }),
    linear({ inFeatures: 2, outFeatures: 2 }),
  ]);
  const data = twoMoons(random.key(0), { n: 64 });
  const loss = (p: any, s: any, b: any) => {
    const r = net.apply(p, b.x, { state: s, train: true });
    return { loss: crossEntropy(r.y, b.y), state: r.state, aux: r.y.mean() };
  };
  const metricStates: unknown[] = [];
  const { state, history } = await fit({
    params: net.init(random.key(1)),
    state: net.initState(),
    loss,
    metrics: {
      accuracy: (p: any, b: any, s: any) => {
        metricStates.push(s);
        return accuracy(net.apply(p, b.x, { state: s }).y, b.y);
      },
    },
    optimizer: sgd({ lr: 0.1 }),
    trainData: data,
    epochs: 2,
    batchSize: 16,
    key: random.key(2),
    progress: false,
  });
  assertEquals(await state[0].num_batches_tracked!.item(), 8);
  assertEquals(history.train_accuracy.length, 2);
  assert(metricStates.length > 0 && metricStates.every((s) => Array.isArray(s)));
});

Deno.test("a stateful step rejects a loss that returns no state, or a state of another shape", () => {
  const opt = sgd({ lr: 0.1 });
  const p = { w: np.array(1) }, s = { count: np.zeros([]) };
  const b = { x: np.array([1, 2]) };
  const noState = makeTrainStep((q: any, _s: any, bb: any) => bb.x.mul(q.w).sum() as any, opt, {
    stateful: true,
  });
  assertThrows(() => noState(p, opt.init(p), s, b, random.key(0)), TypeError, "[loss, newState]");
  const other = makeTrainStep(
    (q: any, st: any, bb: any) => [bb.x.mul(q.w).sum(), { count: st.count, extra: st.count }],
    opt,
    { stateful: true, name: "myStep" },
  );
  assertThrows(() => other(p, opt.init(p), s, b, random.key(0)), TypeError, "myStep");
});

Deno.test("a stateful step warns once when the loss hands the state back unchanged", () => {
  const net = sequential([batchNorm1d({ numFeatures: 2 })]);
  const opt = sgd({ lr: 0.1 });
  const loss = (p: any, s: any, b: any) => {
    const r = net.apply(p, b.x, { state: s }); // train: false — the mistake
    return [r.y.sum(), r.state] as const;
  };
  const step = makeTrainStep(loss, opt, { stateful: true });
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (m: string) => warnings.push(m);
  try {
    const p = net.init(random.key(0));
    const out = step(p, opt.init(p), net.initState(), { x: np.ones([4, 2]) }, random.key(0));
    step(out.params, out.optState, out.state, { x: np.ones([4, 2]) }, random.key(1));
  } finally {
    console.warn = warn;
  }
  assertEquals(warnings.length, 1);
  assert(warnings[0].includes("train: true"), warnings[0]);
});

Deno.test("evaluate of a stateful model without its state says so", async () => {
  const net = sequential([batchNorm1d({ numFeatures: 2 })]);
  const data = { x: np.ones([4, 2]), y: np.zeros([4], "i32") };
  await assertRejects(
    () => evaluate(net, net.init(random.key(0)), null, data),
    TypeError,
    "needs its state",
  );
});

Deno.test("fit resumed with initialEpoch continues exactly as the uninterrupted run", async () => {
  // dropout (the step keys), Adam (the optimizer state) and shuffling (the epoch keys) all
  // depend on the epoch number: a resumed run must give them the same epochs
  const net = sequential([
    linear({ inFeatures: 2, outFeatures: 16 }),
    (x: Tensor) => np.maximum(x, 0),
    dropout({ rate: 0.3 }),
    linear({ inFeatures: 16, outFeatures: 2 }),
  ]);
  const ds = twoMoons(random.key(5), { n: 96, noise: 0.1 });
  const common = {
    model: net,
    loss: crossEntropy,
    optimizer: adam({ lr: 0.02 }),
    trainData: ds,
    batchSize: 16,
    key: random.key(6),
    evalTrain: false,
    progress: false,
  } as const;
  const init = () => net.init(random.key(7));
  const full = await fit({ ...common, params: init(), epochs: 4 });
  // what a checkpoint after epoch 2 holds, as onEpochEnd hands it over (copied: donated next)
  let saved: { params: unknown; optState: unknown } | undefined;
  const copy = (t: unknown) => tree.map((x: any) => x.add(0), t);
  await fit({
    ...common,
    params: init(),
    epochs: 4,
    onEpochEnd: (epoch, _logs, params, _state, optState) => {
      if (epoch === 2) saved = { params: copy(params), optState: copy(optState) };
    },
  });
  const lines: string[] = [];
  const rest = await fit({
    ...common,
    params: saved!.params as any,
    optState: saved!.optState as any,
    epochs: 4,
    initialEpoch: 2,
    progress: { tty: false, write: (s) => lines.push(s) },
  });
  assertEquals(rest.history.epoch, [3, 4]);
  assertEquals(rest.history.loss, full.history.loss.slice(2));
  assertEquals(
    await Promise.all(tree.leaves(rest.params).map((t: any) => t.toArray())),
    await Promise.all(tree.leaves(full.params).map((t: any) => t.toArray())),
  );
  assert(lines[0].startsWith("epoch 3/4 "), lines[0]);
  // the same parameters resumed as if after epoch 1 get epoch 2's keys, not epoch 3's
  const again = await fit({ ...common, params: init(), epochs: 2 });
  const shifted = await fit({
    ...common,
    params: again.params,
    optState: again.optState,
    epochs: 3,
    initialEpoch: 1,
  });
  assert(shifted.history.loss[1] !== full.history.loss[2], "epoch keys ignored initialEpoch");
});

Deno.test("fit rejects an initialEpoch outside [0, epochs)", async () => {
  const net = mlp();
  const ds = twoMoons(random.key(0), { n: 32 });
  for (const initialEpoch of [-1, 3, 1.5]) {
    await assertRejects(
      () =>
        fit({
          model: net,
          loss: crossEntropy,
          optimizer: sgd({ lr: 0.1 }),
          trainData: ds,
          batchSize: 16,
          epochs: 3,
          initialEpoch,
          key: random.key(1),
          progress: false,
        }),
      RangeError,
      `fit: initialEpoch must be an integer in [0, epochs) = [0, 3), got ${initialEpoch}`,
    );
  }
});

Deno.test("fit trains from a BatchSource with its own batch size, tracing the step once", async () => {
  const ds = twoMoons(random.key(3), { n: 200 });
  const src = tensorSource(ds, {
    batchSize: 25,
    transform: (b: any) => ({ x: b.x.mul(2), y: b.y }),
  });
  const net = mlp();
  const { history, step, state } = await fit({
    model: net,
    loss: crossEntropy,
    metrics: { accuracy },
    optimizer: adam({ lr: 0.02 }),
    trainData: src,
    valData: src,
    epochs: 6,
    key: random.key(4),
    progress: false,
  });
  assertEquals(state, null);
  assertEquals(step.traceCount, 1);
  assert(history.val_accuracy[5] > 0.8, `val accuracy ${history.val_accuracy}`);
  assert(history.loss[5] < history.loss[0], `losses ${history.loss}`);
});

Deno.test("a train step's consumed arguments name the step and the argument they went to", () => {
  const opt = sgd({ lr: 0.1 });
  const loss = (p: any, b: any) => np.square(b.x.mul(p.w)).mean();
  const step = makeTrainStep(loss, opt);
  const params = { w: np.array(1) }, optState = opt.init(params);
  const batch = { x: np.array([1, 2]) };
  const out = step(params, optState, batch, random.key(0));
  assertThrows(
    () => step(params, out.optState, batch, random.key(1)),
    TypeError,
    "f32[] was donated to trainStep(loss) as its params (argument 0)",
  );
  assertThrows(() => params.w.mul(2), TypeError, "as its params");
  // the batch is not donated
  assertEquals(batch.x.shape, [2]);
  batch.x.add(1);
  const net = sequential([batchNorm1d({ numFeatures: 2 })]);
  const sstep = makeTrainStep(
    (p: any, s: any, b: any) => {
      const r = net.apply(p, b.x, { state: s, train: true });
      return [r.y.sum(), r.state];
    },
    opt,
    { stateful: true, name: "bnStep" },
  );
  const p = net.init(random.key(0)), s = net.initState();
  sstep(p, opt.init(p), s, { x: np.ones([3, 2]) }, random.key(0));
  assertThrows(
    () => s[0].running_mean!.add(1),
    TypeError,
    "was donated to bnStep as its state (argument 2)",
  );
});

Deno.test("fit takes the initial state from a stateful loss's initState", async () => {
  const net = sequential([
    batchNorm1d({ numFeatures: 2 }),
    linear({ inFeatures: 2, outFeatures: 2 }),
  ]);
  const loss = Object.assign((p: any, s: any, b: any) => {
    const r = net.apply(p, b.x, { state: s, train: true });
    return [crossEntropy(r.y, b.y), r.state];
  }, { initState: net.initState });
  const { state } = await fit({
    params: net.init(random.key(1)),
    loss,
    optimizer: sgd({ lr: 0.1 }),
    trainData: twoMoons(random.key(0), { n: 32 }),
    epochs: 1,
    batchSize: 8,
    key: random.key(2),
    progress: false,
  });
  assertEquals(await state[0].num_batches_tracked!.item(), 4);
});
