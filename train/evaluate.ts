/**
 * Jitted evaluation: metrics averaged over a whole dataset in batches, with one read-back at
 * the end, in evaluation mode (`train: false`, running statistics) for layers and models.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { Tensor } from "../core/tensor.ts";
import { jit, type Jitted } from "../core/transforms.ts";
import * as tree from "../core/tree.ts";
import { batches, numExamples } from "../data/batches.ts";
import { type BatchSource, isBatchSource } from "../data/d2l.ts";
import { type AnyLayer, isStateful, type Layer, type StatefulLayer } from "../layers/layer.ts";
import { accuracy } from "../layers/metrics.ts";
import { _applyModel, _xy, isLayer } from "./_model.ts";

const isTensor = (x: unknown): boolean => x instanceof Tensor;

/**
 * A metric: `(params, batch, state?) → f32[]`, the mean of a per-example quantity over the
 * batch (accuracy, cross-entropy, squared error, …), so batch means can be averaged with the
 * batch sizes as weights. `state` is the model state passed to {@link evaluate}'s `state`.
 */
export type MetricFn<P = unknown, B = unknown, M = unknown> = (
  params: P,
  batch: B,
  state?: M,
) => Tensor;

/**
 * A metric of a model's output: `(output, target) → f32[]` batch mean, e.g.
 * `nn.metrics.accuracy` or `nn.losses.crossEntropy`.
 *
 * @typeParam O the model's output type (a Tensor for most models)
 */
export type OutputMetricFn<O = Tensor> = (output: O, target: Tensor) => Tensor;

/**
 * A layer or model as `fit` and `evaluate` apply it: parameters `P`, and state `M` when it is
 * stateful (batch norm). Its input and output types are free (a model of `(output, y)` metrics
 * gets its output as is).
 *
 * @typeParam P the parameters' type
 * @typeParam M the state's type
 */
export type TrainableModel<P = unknown, M = unknown> =
  | Layer<P, never, unknown>
  | StatefulLayer<P, M, never, unknown>;

/**
 * Jits a metric (or a record of them), `(params, batch) → value(s)`; one trace per batch
 * shape.
 *
 * @param metricFn `(params, batch) → Tensor`, or → a record of Tensors
 * @returns the jitted function
 *
 * @example
 * ```ts
 * import { np, type Tensor } from "@denax/denax";
 * import { makeEvalStep } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const mse = makeEvalStep((p: { w: Tensor }, b: { x: Tensor; y: Tensor }) =>
 *   np.square(b.x.mul(p.w).sub(b.y)).mean()
 * );
 * const v = mse({ w: np.array(2) }, { x: np.array([1, 2]), y: np.array([2, 5]) });
 * assertEquals(await v.item(), 0.5);
 * ```
 */
export function makeEvalStep<P, B, R = Tensor>(
  metricFn: (params: P, batch: B) => R,
): Jitted<(params: P, batch: B) => R> {
  return jit(metricFn);
}

/** Options of {@link evaluate}; `M` is the model state's type. */
export interface EvaluateOptions<M = unknown> {
  /**
   * Examples per evaluation batch (default: a {@link BatchSource}'s own batch size, else
   * 1000); the last batch may be smaller.
   */
  readonly batchSize?: number;
  /** The model state, passed to each metric as its third argument. */
  readonly state?: M;
}

type Sums = Record<string, Tensor>;
/** `sums + batchSize · metric(batch)` for every metric, jitted (see {@link accumulator}). */
type Acc<P, B, M> = Jitted<(params: P, batch: B, sums: Sums, state: M) => Sums>;

function addMetric(name: string, sums: Sums, out: Sums, v: unknown, m: number): void {
  if (!(v instanceof Tensor) || v.ndim !== 0) {
    throw new TypeError(
      `evaluate: metric ${JSON.stringify(name)} must return a scalar Tensor, got ${
        v instanceof Tensor ? v.aval : typeof v
      }\nhelp: return the batch mean, e.g. .mean()`,
    );
  }
  out[name] = sums[name].add(v.astype("f32").mul(m));
}

// One jitted accumulator per metric record: `sums + batchSize · metric(batch)` for every
// metric, so evaluating a dataset runs one program per batch (two signatures: full batches
// and the last one) and reads back once.
// (Keyed by the metrics object, whose type fixes the accumulator's.)
const accumulators = new WeakMap<object, unknown>();

function accumulator<P, B, M>(metrics: Readonly<Record<string, MetricFn<P, B, M>>>): Acc<P, B, M> {
  let acc = accumulators.get(metrics) as Acc<P, B, M> | undefined;
  if (acc === undefined) {
    acc = jit((params: P, batch: B, sums: Sums, state: M): Sums => {
      const m = numExamples(batch);
      const out: Sums = {};
      for (const [name, fn] of Object.entries(metrics)) {
        addMetric(name, sums, out, fn(params, batch, state), m);
      }
      return out;
    }, { donateArgnums: 2 });
    accumulators.set(metrics, acc);
  }
  return acc;
}

const modelAccumulators = new WeakMap<object, WeakMap<object, unknown>>();

function modelAccumulator<P, M, B, O>(
  model: AnyLayer,
  metrics: Readonly<Record<string, OutputMetricFn<O>>>,
): Acc<P, B, M> {
  let perModel = modelAccumulators.get(model);
  if (!perModel) modelAccumulators.set(model, perModel = new WeakMap());
  let acc = perModel.get(metrics) as Acc<P, B, M> | undefined;
  if (acc === undefined) {
    acc = jit((params: P, batch: B, sums: Sums, state: M): Sums => {
      const [x, y] = _xy(`evaluate(${model.name})`, batch);
      const [out] = _applyModel(model, params, state, x, false);
      const m = x.shape[0];
      const res: Sums = {};
      // the metrics are typed by the model's output, which they receive as the model gives it
      for (const [name, fn] of Object.entries(metrics)) {
        addMetric(name, sums, res, fn(out as O, y), m);
      }
      return res;
    }, { donateArgnums: 2 });
    perModel.set(metrics, acc);
  }
  return acc;
}

const warnedUntrained = new WeakSet<object>();

/**
 * Warns (once per model) when every `num_batches_tracked` of a state is 0: batch norm would
 * normalize with its initial running statistics, the silent mistake of training without
 * carrying the state.
 */
async function warnUntrainedState(model: AnyLayer, state: unknown): Promise<void> {
  if (warnedUntrained.has(model)) return;
  const counters = tree.flattenWithPath(state, isTensor)[0]
    .filter(([path, l]) => path.endsWith("num_batches_tracked") && l instanceof Tensor)
    .map(([, l]) => l as Tensor);
  if (counters.length === 0 || counters.some((c) => c._consumed !== undefined)) return;
  const seen = await Promise.all(counters.map(async (c) => await c.item() as number));
  if (seen.every((v) => v === 0)) {
    warnedUntrained.add(model);
    console.warn(
      `evaluate(${model.name}): the batch-norm statistics in this state were never updated ` +
        `(num_batches_tracked = 0), so evaluation normalizes with mean 0 and variance 1\n` +
        `help: pass the state that fit (or a stateful train step) returned`,
    );
  }
}

const defaultModelMetrics: Readonly<Record<string, OutputMetricFn>> = Object.freeze({
  accuracy,
});

/**
 * Evaluates metrics over a whole dataset in batches, in order: each metric's batch means
 * weighted by the batch sizes, i.e. the mean over all examples. The sums stay on the device;
 * the result is read back once. Passing the same `metrics` object again reuses the compiled
 * program.
 *
 * Two forms:
 * - `evaluate(params, data, metrics, opts?)`: metrics `(params, batch, state?) → f32[]`, with
 *   `opts.state` passed through as their third argument.
 * - `evaluate(model, params, state, data, metrics?, opts?)`: a layer (or model) applied in
 *   evaluation mode (`train: false`: batch norm uses its running statistics, dropout is off)
 *   to each batch's `x` (batches `{ x, y }` or `[x, y]`); metrics `(output, y) → f32[]`,
 *   default `{ accuracy }` (d2l's `evaluate_accuracy`). `state` is the model state (`null`
 *   for a stateless model).
 *
 * `data` is a pytree of Tensors with the examples along axis 0, or a {@link BatchSource}
 * (e.g. `loadFashionMnist(...).test`), which makes its own batches.
 *
 * @param params the parameters (first form)
 * @param data the dataset (first form)
 * @param metrics named metrics, `(params, batch, state?) → f32[]` batch means (first form)
 * @param opts `batchSize` (default 1000, or the source's), `state`
 * @returns each metric's mean over the dataset (NaN for an empty dataset)
 * @throws {TypeError} when a metric does not return a scalar, or as `numExamples`
 *
 * @example
 * ```ts
 * import { np, type Tensor } from "@denax/denax";
 * import { evaluate } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const data = { x: np.array([1, 2, 3]), y: np.array([2, 4, 7]) };
 * const metrics = {
 *   mae: (p: { w: Tensor }, b: typeof data) => b.x.mul(p.w).sub(b.y).abs().mean(),
 * };
 * assertEquals(await evaluate({ w: np.array(2) }, data, metrics, { batchSize: 2 }), {
 *   mae: 1 / 3,
 * });
 * ```
 *
 * @example A model in evaluation mode, with its running statistics
 * ```ts
 * import { nn, np, random } from "@denax/denax";
 * import { evaluate } from "@denax/denax/train";
 * const net = nn.sequential([nn.batchNorm1d({ numFeatures: 2 }), nn.linear({ inFeatures: 2, outFeatures: 3 })]);
 * const data = { x: random.normal(random.key(0), [10, 2]), y: np.zeros([10], "i32") };
 * // (an untrained state: evaluate warns that the statistics were never updated)
 * const r = await evaluate(net, net.init(random.key(1)), net.initState(), data);
 * console.log(r.accuracy); // a number in [0, 1]
 * if (!(r.accuracy >= 0 && r.accuracy <= 1)) throw new Error(`accuracy ${r.accuracy}`);
 * ```
 */
export async function evaluate<P, B, M = unknown>(
  params: P,
  data: B | BatchSource<B>,
  metrics: Readonly<Record<string, MetricFn<P, B, M>>>,
  opts?: EvaluateOptions<M>,
): Promise<Record<string, number>>;
/**
 * The model form of {@link evaluate}: applies `model` in evaluation mode (`train: false`,
 * running statistics) to each batch's `x` and averages `metrics(output, y)` (default
 * `{ accuracy }`) over the dataset.
 *
 * @param model the layer or model
 * @param params its parameters
 * @param state its state (`null` for a stateless model)
 * @param data `{ x, y }` Tensors or a {@link BatchSource}
 * @param metrics named metrics `(output, y) → f32[]` batch means (default `{ accuracy }`)
 * @param opts `batchSize`
 * @returns each metric's mean over the dataset
 * @throws {TypeError} for a stateful model without its state, batches without `x` and `y`,
 *   or a metric that does not return a scalar
 */
export async function evaluate<P, M, B, O = Tensor>(
  model: TrainableModel<P, M>,
  params: P,
  state: M,
  data: B | BatchSource<B>,
  metrics?: Readonly<Record<string, OutputMetricFn<O>>>,
  opts?: Omit<EvaluateOptions, "state">,
): Promise<Record<string, number>>;
export async function evaluate(...args: unknown[]): Promise<Record<string, number>> {
  const run = isLayer(args[0]) ? await modelEvaluation(args[0], args) : paramsEvaluation(args);
  return await runEvaluation(run);
}

/** What {@link runEvaluation} needs: the accumulator, its arguments and the metrics' names. */
interface Evaluation {
  readonly acc: Acc<unknown, unknown, unknown>;
  readonly params: unknown;
  readonly state: unknown;
  readonly data: unknown;
  readonly names: readonly string[];
  readonly batchSize?: number;
}

/** The model form's arguments `(model, params, state, data, metrics?, opts?)`, checked. */
async function modelEvaluation(model: AnyLayer, args: readonly unknown[]): Promise<Evaluation> {
  const metrics = (args[4] ?? defaultModelMetrics) as Readonly<Record<string, OutputMetricFn>>;
  const [params, state, data] = [args[1], args[2], args[3]];
  const opts = (args[5] ?? {}) as Omit<EvaluateOptions, "state">;
  const acc = modelAccumulator<unknown, unknown, unknown, Tensor>(model, metrics);
  if (isStateful(model) && (state === null || state === undefined)) {
    throw new TypeError(
      `evaluate(${model.name}): the model is stateful and needs its state\n` +
        `help: pass the state fit returned (or model.initState()) as the third argument`,
    );
  }
  await warnUntrainedState(model, state);
  return { acc, params, state, data, names: Object.keys(metrics), batchSize: opts.batchSize };
}

/** The params form's arguments `(params, data, metrics, opts?)`. */
function paramsEvaluation(args: readonly unknown[]): Evaluation {
  const metrics = args[2] as Readonly<Record<string, MetricFn>>;
  const opts = (args[3] ?? {}) as EvaluateOptions;
  return {
    acc: accumulator(metrics),
    params: args[0],
    state: opts.state ?? null,
    data: args[1],
    names: Object.keys(metrics),
    batchSize: opts.batchSize,
  };
}

/** Sums the metrics over the data's batches on the device; reads the means back once. */
async function runEvaluation(
  { acc, params, state, data, names, batchSize: bs }: Evaluation,
): Promise<Record<string, number>> {
  const source = isBatchSource(data) ? data : undefined;
  const n = source ? source.numExamples : numExamples(data);
  if (names.length === 0) return {};
  if (n === 0) return Object.fromEntries(names.map((k) => [k, NaN]));
  let sums: Sums = Object.fromEntries(names.map((k) => [k, np.zeros([])]));
  const batchSize = bs ?? source?.batchSize ?? 1000;
  const it = source ? source.batches({ batchSize, shuffle: false }) : batches(data, { batchSize });
  for (const batch of it) sums = acc(params, batch, sums, state);
  const vals = await Promise.all(names.map(async (k) => (await sums[k].item() as number) / n));
  return Object.fromEntries(names.map((k, i) => [k, vals[i]]));
}
