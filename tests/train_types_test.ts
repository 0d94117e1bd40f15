/**
 * Type-level tests of `train`: `deno check` fails when the train step, `fit`, `evaluate` or
 * the checkpoint loaders lose their types. Each `// @ts-expect-error` line is a misuse that
 * must stay a type error; each annotated binding must stay assignable. The runtime assertions
 * (tiny sizes, one epoch) check that the values have the structure their types claim.
 */
import { assert, assertEquals } from "@std/assert";
import { data, nn, np, optim, random, type Tensor, train } from "../mod.ts";

type Batch = { x: Tensor; y: Tensor };
type Params = { w: Tensor; b: Tensor };

const x = random.normal(random.key(0), [16, 2]);
const trainData: Batch = { x, y: np.matmul(x, np.array([1, -1])) };
const p0 = (): Params => ({ w: np.zeros([2]), b: np.zeros([]) });
const mse = (p: Params, b: Batch): Tensor =>
  np.square(np.matmul(b.x, p.w).add(p.b).sub(b.y)).mean();

Deno.test("a train step with hasAux infers the aux type from the loss", async () => {
  const loss = (p: Params, b: Batch) => {
    const err = np.matmul(b.x, p.w).add(p.b).sub(b.y);
    return [np.square(err).mean(), { maxErr: err.abs().max() }];
  };
  const opt = optim.sgd({ lr: 0.1 });
  const step = train.makeTrainStep(loss, opt, { hasAux: true });
  const params = p0();
  const out = step(params, opt.init(params), trainData, random.key(1));
  const maxErr: Tensor = out.aux.maxErr;
  const w: Tensor = out.params.w;
  assertEquals([maxErr.shape, w.shape], [[], [2]]);
  // @ts-expect-error the aux has no such field
  const bad = () => out.aux.meanErr;
  assert(bad !== undefined && (await out.loss.item() as number) > 0);
});

Deno.test("a train step without aux returns null aux and rejects a wrongly typed batch", () => {
  const opt = optim.sgd({ lr: 0.1 });
  const step = train.makeTrainStep(mse, opt);
  const params = p0();
  const out = step(params, opt.init(params), trainData, random.key(1));
  const aux: null = out.aux;
  assertEquals(aux, null);
  // @ts-expect-error the batch must be a Batch, not its Tensors in an array
  const badBatch = () => step(out.params, out.optState, [x, x], random.key(2));
  // @ts-expect-error the optimizer state must be sgd's, not the params
  const badOpt = () => step(out.params, out.params, trainData, random.key(2));
  assert(badBatch !== undefined && badOpt !== undefined);
});

Deno.test("a stateful train step is typed by its model state", async () => {
  const net = nn.batchNorm1d({ numFeatures: 2 });
  const loss = (p: nn.NormParams, s: nn.BatchNormState, b: Batch, key: Tensor) => {
    const { y, state } = net.apply(p, b.x, { state: s, train: true, key });
    return [y.sub(b.y.reshape([-1, 1])).square().mean(), state] as const;
  };
  const opt = optim.sgd({ lr: 0.1 });
  const step = train.makeTrainStep(loss, opt, { stateful: true });
  const params = net.init(random.key(0));
  const out = step(params, opt.init(params), net.initState(), trainData, random.key(1));
  const st: nn.BatchNormState = out.state;
  assertEquals(await st.num_batches_tracked!.item(), 1);
  // @ts-expect-error the state must be the loss's state type
  const badState = () => step(out.params, out.optState, { mean: x }, trainData, random.key(2));
  assert(badState !== undefined);
});

Deno.test("fit returns the params' type and a null state for a stateless loss", async () => {
  const r = await train.fit({
    params: p0(),
    loss: mse,
    optimizer: optim.sgd({ lr: 0.1 }),
    trainData,
    epochs: 1,
    batchSize: 8,
    key: random.key(3),
    progress: false,
    metrics: { mse },
  });
  const w: Tensor = r.params.w;
  const state: null = r.state;
  assertEquals([w.shape, state, r.history.train_mse.length], [[2], null, 1]);
  const fitBadLoss = () =>
    train.fit({
      params: p0(),
      // @ts-expect-error the loss reads a field the batches do not have
      loss: (p: Params, b: { z: Tensor }) => b.z.mul(p.b).sum(),
      optimizer: optim.sgd({ lr: 0.1 }),
      trainData,
      epochs: 1,
      batchSize: 8,
      key: random.key(3),
    });
  const fitBadMetric = () =>
    train.fit({
      params: p0(),
      loss: mse,
      optimizer: optim.sgd({ lr: 0.1 }),
      trainData,
      epochs: 1,
      batchSize: 8,
      key: random.key(3),
      // @ts-expect-error a metric of other params
      metrics: { bad: (p: { v: Tensor }, _b: Batch) => p.v.sum() },
    });
  assert(fitBadLoss !== undefined && fitBadMetric !== undefined);
});

Deno.test("fit with a model infers params and state from it; evaluate checks them", async () => {
  const net = nn.sequential([
    nn.linear({ inFeatures: 2, outFeatures: 4 }),
    nn.batchNorm1d({ numFeatures: 4 }),
    nn.linear({ inFeatures: 4, outFeatures: 2 }),
  ]);
  const moons = data.twoMoons(random.key(0), { n: 16 });
  const r = await train.fit({
    model: net,
    loss: nn.losses.crossEntropy,
    optimizer: optim.sgd({ lr: 0.1 }),
    trainData: moons,
    epochs: 1,
    batchSize: 8,
    key: random.key(1),
    progress: false,
  });
  const bn: nn.BatchNormState = r.state[1];
  const weight: Tensor = r.params[0].weight;
  assertEquals([await bn.num_batches_tracked!.item(), weight.shape], [2, [4, 2]]);
  const acc = await train.evaluate(net, r.params, r.state, moons);
  assert(acc.accuracy >= 0 && acc.accuracy <= 1);
  // @ts-expect-error the params must be the model's
  const badParams = () => train.evaluate(net, { w: x }, r.state, moons);
  const otherBatches = { bad: (p: Params, b: { z: Tensor }) => b.z.mul(p.b).sum() };
  // @ts-expect-error a metric of other batches than the data's
  const evalBadMetric = () => train.evaluate(p0(), trainData, otherBatches);
  assert(badParams !== undefined && evalBadMetric !== undefined);
});

Deno.test("a batch source's batch type reaches the loss", () => {
  const source = data.tensorSource(trainData, { batchSize: 8 });
  const fitBadSource = () =>
    train.fit({
      params: p0(),
      // @ts-expect-error the source's batches are { x, y }
      loss: (p: Params, b: { z: Tensor }) => b.z.mul(p.b).sum(),
      optimizer: optim.sgd({ lr: 0.1 }),
      trainData: source,
      epochs: 1,
      key: random.key(3),
    });
  assert(fitBadSource !== undefined);
});

Deno.test("checkpoints load as a CheckpointTree; loadTorchStateDict is typed by the model", async () => {
  const bytes = await train.encodeCheckpoint({ w: np.array([1, 2]) });
  const back = train.decodeCheckpoint(bytes);
  if (back._tag === "Left") throw back.left;
  const tree: train.CheckpointTree = back.right;
  // @ts-expect-error the file's structure is known at run time only: narrow it first
  const bad = () => back.right.w;
  assert(bad !== undefined);
  assertEquals(await (tree as { w: Tensor }).w.toArray(), [1, 2]);
  const lin = nn.linear({ inFeatures: 2, outFeatures: 1 });
  const { params, state } = await train.loadTorchStateDict(lin, {
    weight: np.ones([1, 2]),
    bias: np.zeros([1]),
  });
  const p: nn.LinearParams = params;
  const s: null = state;
  assertEquals([p.weight.shape, s], [[1, 2], null]);
});
