// deno-lint-ignore-file no-explicit-any -- typed in a later pass (loss, metric and batch types default to any for untyped callers)
/**
 * The train step as one compiled program: loss, gradient, optimizer update and parameter
 * update, jitted together with the parameters, the optimizer state and (for stateful models)
 * the model state donated (the program may write the new values into their buffers). Plus
 * jitted evaluation: metrics averaged over a whole dataset in batches, with one read-back at
 * the end, in evaluation mode (`train: false`, running statistics) for layers and models.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { Tensor } from "../core/tensor.ts";
import { jit, type Jitted, valueAndGrad } from "../core/transforms.ts";
import * as tree from "../core/tree.ts";
import { batches, numExamples } from "../data/batches.ts";
import { type BatchSource, isBatchSource } from "../data/d2l.ts";
import { type AnyLayer, isStateful } from "../layers/layer.ts";
import { _applyModel, _xy, isLayer } from "./_model.ts";
import { accuracy } from "../layers/metrics.ts";
import { applyUpdates, type GradientTransformation } from "../optim/mod.ts";

/**
 * A loss: `(params, batch, key) → loss` (a scalar f32 Tensor), or `[loss, aux]` when the step
 * is made with `hasAux`. `key` is a fresh PRNG key per step, for dropout and other noise.
 */
export type LossFn<P = any, B = any> = (params: P, batch: B, key: Tensor) => any;

/**
 * The loss of a stateful model (batch norm): `(params, state, batch, key) → [loss, newState]`,
 * or `→ { loss, state, aux }`. `newState` is what the model's `apply(params, x, { state,
 * train: true })` returned (the updated running statistics), with the input state's structure.
 * (Typed `any` so that an array literal `[loss, state]` needs no `as const`.)
 */
export type StatefulLossFn<P = any, M = any, B = any> = (
  params: P,
  state: M,
  batch: B,
  key: Tensor,
) => any;

/** What a train step returns. */
export interface StepResult<P = any, S = any, A = any> {
  /** The updated parameters. */
  readonly params: P;
  /** The updated optimizer state. */
  readonly optState: S;
  /** The loss at the parameters before the update, f32[]. */
  readonly loss: Tensor;
  /** The loss's auxiliary output (`hasAux`, or a stateful loss's `aux`), else null. */
  readonly aux: A;
}

/** What a stateful train step returns: {@link StepResult} plus the new model state. */
export interface StatefulStepResult<P = any, S = any, M = any, A = any>
  extends StepResult<P, S, A> {
  /** The model state after the step (running statistics updated by the forward pass). */
  readonly state: M;
}

/** A jitted train step: `(params, optState, batch, key) → { params, optState, loss, aux }`. */
export type TrainStep<P = any, S = any, B = any, A = any> = Jitted<
  (params: P, optState: S, batch: B, key: Tensor) => StepResult<P, S, A>
>;

/**
 * A jitted stateful train step: `(params, optState, state, batch, key) → { params, optState,
 * state, loss, aux }`.
 */
export type StatefulTrainStep<P = any, S = any, M = any, B = any, A = any> = Jitted<
  (params: P, optState: S, state: M, batch: B, key: Tensor) => StatefulStepResult<P, S, M, A>
>;

/** Options of {@link makeTrainStep}. */
export interface TrainStepOptions {
  /** The loss returns `[loss, aux]`; `aux` (a pytree of Tensors) is returned by the step. */
  readonly hasAux?: boolean;
  /**
   * The loss is a {@link StatefulLossFn} `(params, state, batch, key) → [loss, newState]`
   * (or `{ loss, state, aux }`), and the step takes and returns the model state.
   */
  readonly stateful?: boolean;
  /**
   * The step's name, used in errors about its donated arguments (default `"trainStep"`, or
   * the loss function's name: `trainStep(myLoss)`).
   */
  readonly name?: string;
}

function stepName(loss: (...args: any[]) => unknown, opts: TrainStepOptions): string {
  return opts.name ?? (loss.name ? `trainStep(${loss.name})` : "trainStep");
}

/** Splits a stateful loss's result into loss, new state and aux. */
function splitStateful(name: string, out: unknown): [Tensor, unknown, unknown] {
  if (Array.isArray(out) && out.length === 2) return [out[0], out[1], null];
  if (out !== null && typeof out === "object" && "loss" in out && "state" in out) {
    const o = out as { loss: Tensor; state: unknown; aux?: unknown };
    return [o.loss, o.state, o.aux ?? null];
  }
  throw new TypeError(
    `${name}: a stateful loss must return [loss, newState] or { loss, state, aux }, got ${
      out instanceof Tensor ? out.aval : Array.isArray(out) ? `an array of ${out.length}` : out
    }\nhelp: return the state the model's apply(params, x, { state, train: true }) gave back`,
  );
}

/** Throws when the new state's structure differs from the old one's; warns when unchanged. */
function checkNewState(name: string, old: unknown, next: unknown, warned: { done: boolean }) {
  const [oldLeaves, oldDef] = tree.flatten(old);
  const [newLeaves, newDef] = tree.flatten(next);
  if (!oldDef.equals(newDef)) {
    throw new TypeError(
      `${name}: the loss returned a state of another structure than it was given:\n` +
        `  given    ${oldDef.key}\n  returned ${newDef.key}` +
        `\nhelp: return the whole state the model's apply gave back`,
    );
  }
  const changed = newLeaves.some((l, i) => l !== oldLeaves[i]);
  if (!changed && newLeaves.length > 0 && !warned.done) {
    warned.done = true;
    console.warn(
      `${name}: the loss returned the model state unchanged, so running statistics ` +
        `(batch norm) will not update\nhelp: apply the model with { state, train: true } ` +
        `and return the state it gives back`,
    );
  }
}

const isTensor = (x: unknown): boolean => x instanceof Tensor;

/**
 * Wraps a jitted step so that the Tensors it consumed say which of the step's arguments they
 * were given as: `jit` marks donated leaves "was donated to jit(name) (argument i)"; this
 * names the step and the argument (`params`, `optState`, `state`).
 */
function labelDonations<F extends (...args: any[]) => any>(
  step: Jitted<F>,
  name: string,
  argNames: readonly string[],
): Jitted<F> {
  const labels = argNames.map((a, i) => `was donated to ${name} as its ${a} (argument ${i})`);
  const wrapped = ((...args: Parameters<F>): ReturnType<F> => {
    const out = step(...args);
    labels.forEach((label, i) => {
      for (const l of tree.leaves(args[i], isTensor)) {
        if (l instanceof Tensor && l._consumed?.startsWith("was donated to jit(")) {
          l._consumed = label;
        }
      }
    });
    return out;
  }) as Jitted<F>;
  Object.defineProperty(wrapped, "traceCount", { get: () => step.traceCount });
  Object.defineProperty(wrapped, "name", { value: name });
  (wrapped as { lower: unknown }).lower = step.lower;
  return wrapped;
}

/**
 * Makes a jitted, pure train step computing `valueAndGrad(loss)`,
 * `optimizer.update(grads, optState, params)` and `applyUpdates` in one program.
 *
 * - Stateless (default): `step(params, optState, batch, key) → { params, optState, loss, aux }`
 *   for a loss `(params, batch, key) → loss` (or `[loss, aux]` with `hasAux`).
 * - Stateful (`{ stateful: true }`, Equinox's `(model, state)` pattern):
 *   `step(params, optState, state, batch, key) → { params, optState, state, loss, aux }` for a
 *   loss `(params, state, batch, key) → [loss, newState]` (or `{ loss, state, aux }`); the
 *   gradient is taken with respect to `params` only, and the returned `state` carries the
 *   updated running statistics of batch-norm layers into the next step. The step checks that
 *   the loss returns a state of the input's structure, and warns once when it returns the
 *   state unchanged (a model applied with `train: false`).
 *
 * **Donation.** The parameters, the optimizer state and the model state are donated
 * (`jit(f, { donateArgnums: [0, 1] })`, plus `2` when stateful): the program may write the
 * new values into their buffers (the webgpu backend does), so after a step the Tensors passed
 * in are consumed on every backend — continue with the returned ones. Using a consumed Tensor
 * (passing it to the step again, computing with it, reading it) throws a TypeError naming the
 * step and the argument, e.g. `Tensor f32[256,784] was donated to trainStep(loss) as its
 * params (argument 0)`. To keep a value (the initial parameters, the best epoch's), copy it
 * before the step: `tree.map((x) => x.add(0), params)`. The step traces once per signature;
 * `step.traceCount` tells.
 *
 * @param loss `(params, batch, key) → loss` (or `[loss, aux]` with `hasAux`), or with
 *   `stateful` `(params, state, batch, key) → [loss, newState]` / `{ loss, state, aux }`
 * @param optimizer a gradient transformation (`optim.sgd`, `optim.adam`, a `chain`, …)
 * @param opts `hasAux`, `stateful`, `name`
 * @returns the jitted step
 * @throws {TypeError} from the step (at its first trace) when a stateful loss returns
 *   something else than `[loss, newState]` / `{ loss, state, aux }`, or a state of another
 *   structure
 *
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { sgd } from "@denax/denax/optim";
 * import { makeTrainStep } from "@denax/denax/train";
 * import { assert, assertEquals } from "@std/assert";
 * const loss = (p: any, b: any) => np.square(b.x.mul(p.w).sub(b.y)).mean();
 * const opt = sgd({ lr: 0.1 });
 * const step = makeTrainStep(loss, opt);
 * let params: any = { w: np.array(0) }, optState = opt.init(params), l0 = NaN;
 * const batch = { x: np.array([1, 2, 3]), y: np.array([2, 4, 6]) };
 * for (let i = 0; i < 20; i++) {
 *   // params and optState are donated: always continue with the returned ones
 *   const out = step(params, optState, batch, random.key(i));
 *   ({ params, optState } = out);
 *   if (i === 0) l0 = await out.loss.item() as number;
 * }
 * assert(Math.abs(await params.w.item() - 2) < 1e-3 && l0 > 1);
 * assertEquals(step.traceCount, 1);
 * ```
 *
 * @example Donation: the arguments are consumed; keep going with what the step returns
 * ```ts
 * import { np, random, tree } from "@denax/denax";
 * import { sgd } from "@denax/denax/optim";
 * import { makeTrainStep } from "@denax/denax/train";
 * import { assertThrows } from "@std/assert";
 * const loss = (p: any, b: any) => np.square(b.x.mul(p.w).sub(b.y)).mean();
 * const opt = sgd({ lr: 0.1 });
 * const step = makeTrainStep(loss, opt);
 * const params = { w: np.array(0) };
 * const initial = tree.map((x: any) => x.add(0), params); // a copy survives the step
 * const batch = { x: np.array([1, 2]), y: np.array([2, 4]) };
 * const out = step(params, opt.init(params), batch, random.key(0));
 * assertThrows(() => params.w.add(1), TypeError, "was donated to trainStep(loss) as its params");
 * console.log(await initial.w.item(), await out.params.w.item()); // 0 1
 * ```
 *
 * @example A stateful model (batch norm): the state goes in and comes back out
 * ```ts
 * import { nn, np, random } from "@denax/denax";
 * import { sgd } from "@denax/denax/optim";
 * import { makeTrainStep } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const net = nn.sequential([nn.linear({ inFeatures: 2, outFeatures: 4 }),
 *   nn.batchNorm1d({ numFeatures: 4 }), nn.relu, nn.linear({ inFeatures: 4, outFeatures: 2 })]);
 * const loss = (p: any, s: any, b: any, key: any) => {
 *   const { y, state } = net.apply(p, b.x, { state: s, train: true, key });
 *   return [nn.losses.crossEntropy(y, b.y), state] as const;
 * };
 * const opt = sgd({ lr: 0.1 });
 * const step = makeTrainStep(loss, opt, { stateful: true });
 * let params = net.init(random.key(0)), optState = opt.init(params), state = net.initState();
 * const batch = { x: random.normal(random.key(1), [8, 2]).add(3), y: np.zeros([8], "i32") };
 * for (let i = 0; i < 3; i++) {
 *   ({ params, optState, state } = step(params, optState, state, batch, random.key(i)));
 * }
 * assertEquals(await state[1].num_batches_tracked!.item(), 3);
 * ```
 */
export function makeTrainStep<P = any, S = any, M = any, B = any, A = any>(
  loss: StatefulLossFn<P, M, B>,
  optimizer: GradientTransformation<S>,
  opts: TrainStepOptions & { readonly stateful: true },
): StatefulTrainStep<P, S, M, B, A>;
/**
 * The stateless form of {@link makeTrainStep}: `step(params, optState, batch, key) →
 * { params, optState, loss, aux }` for a loss `(params, batch, key) → loss` (or `[loss, aux]`
 * with `hasAux`); `params` and `optState` are donated.
 *
 * @param loss `(params, batch, key) → loss`, or `[loss, aux]` with `hasAux`
 * @param optimizer a gradient transformation
 * @param opts `hasAux`, `name`
 * @returns the jitted step
 */
export function makeTrainStep<P = any, S = any, B = any, A = any>(
  loss: LossFn<P, B>,
  optimizer: GradientTransformation<S>,
  opts?: TrainStepOptions,
): TrainStep<P, S, B, A>;
export function makeTrainStep(
  loss: LossFn | StatefulLossFn,
  optimizer: GradientTransformation<any>,
  opts: TrainStepOptions = {},
): TrainStep | StatefulTrainStep {
  const hasAux = opts.hasAux ?? false;
  const name = stepName(loss, opts);
  if (opts.stateful) {
    const warned = { done: false };
    const lossFn = loss as StatefulLossFn;
    const wrapped = (params: unknown, state: unknown, batch: unknown, key: Tensor) => {
      const [l, newState, aux] = splitStateful(name, lossFn(params, state, batch, key));
      checkNewState(name, state, newState, warned);
      return [l, { state: newState, aux }];
    };
    const vg = valueAndGrad(wrapped, { hasAux: true });
    const statefulStep = (
      params: unknown,
      optState: unknown,
      state: unknown,
      batch: unknown,
      key: Tensor,
    ): StatefulStepResult => {
      const [[value, { state: newState, aux }], grads] = vg(params, state, batch, key);
      const [updates, newOpt] = optimizer.update(grads, optState, params);
      return {
        params: applyUpdates(params, updates),
        optState: newOpt,
        state: newState,
        loss: value,
        aux,
      };
    };
    Object.defineProperty(statefulStep, "name", { value: name });
    const jitted = jit(statefulStep, { donateArgnums: [0, 1, 2] });
    return labelDonations(jitted, name, ["params", "optState", "state"]);
  }
  const vg = valueAndGrad(loss as LossFn, { hasAux });
  const trainStep = (params: unknown, optState: unknown, batch: unknown, key: Tensor) => {
    const [value, grads] = vg(params, batch, key);
    const [updates, newState] = optimizer.update(grads, optState, params);
    return {
      params: applyUpdates(params, updates),
      optState: newState,
      loss: hasAux ? (value as [Tensor, unknown])[0] : value as Tensor,
      aux: hasAux ? (value as [Tensor, unknown])[1] : null,
    };
  };
  Object.defineProperty(trainStep, "name", { value: name });
  return labelDonations(jit(trainStep, { donateArgnums: [0, 1] }), name, ["params", "optState"]);
}

/**
 * A metric: `(params, batch, state?) → f32[]`, the mean of a per-example quantity over the
 * batch (accuracy, cross-entropy, squared error, …), so batch means can be averaged with the
 * batch sizes as weights. `state` is the model state passed to {@link evaluate}'s `state`.
 */
export type MetricFn<P = any, B = any> = (params: P, batch: B, state?: any) => Tensor;

/**
 * A metric of a model's output: `(output, target) → f32[]` batch mean, e.g.
 * `nn.metrics.accuracy` or `nn.losses.crossEntropy`.
 */
export type OutputMetricFn = (output: any, target: any) => Tensor;

/**
 * Jits a metric (or a record of them), `(params, batch) → value(s)`; one trace per batch
 * shape.
 *
 * @param metricFn `(params, batch) → Tensor`, or → a record of Tensors
 * @returns the jitted function
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { makeEvalStep } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const mse = makeEvalStep((p: any, b: any) => np.square(b.x.mul(p.w).sub(b.y)).mean());
 * const v = mse({ w: np.array(2) }, { x: np.array([1, 2]), y: np.array([2, 5]) });
 * assertEquals(await v.item(), 0.5);
 * ```
 */
export function makeEvalStep<P = any, B = any, R = Tensor>(
  metricFn: (params: P, batch: B) => R,
): Jitted<(params: P, batch: B) => R> {
  return jit(metricFn);
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /**
   * Examples per evaluation batch (default: a {@link BatchSource}'s own batch size, else
   * 1000); the last batch may be smaller.
   */
  readonly batchSize?: number;
  /** The model state, passed to each metric as its third argument. */
  readonly state?: unknown;
}

type Sums = Record<string, Tensor>;
type Acc = Jitted<(p: any, b: any, s: Sums, state: any) => Sums>;

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
const accumulators = new WeakMap<object, Acc>();

function accumulator(metrics: Readonly<Record<string, MetricFn>>): Acc {
  let acc = accumulators.get(metrics);
  if (acc === undefined) {
    acc = jit((params: any, batch: any, sums: Sums, state: any): Sums => {
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

const modelAccumulators = new WeakMap<object, WeakMap<object, Acc>>();

function modelAccumulator(model: AnyLayer, metrics: Readonly<Record<string, OutputMetricFn>>) {
  let perModel = modelAccumulators.get(model);
  if (!perModel) modelAccumulators.set(model, perModel = new WeakMap());
  let acc = perModel.get(metrics);
  if (acc === undefined) {
    acc = jit((params: any, batch: any, sums: Sums, state: any): Sums => {
      const [x, y] = _xy(`evaluate(${model.name})`, batch);
      const [out] = _applyModel(model, params, state, x, false);
      const m = x.shape[0];
      const res: Sums = {};
      for (const [name, fn] of Object.entries(metrics)) addMetric(name, sums, res, fn(out, y), m);
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
 * import { np } from "@denax/denax";
 * import { evaluate } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const data = { x: np.array([1, 2, 3]), y: np.array([2, 4, 7]) };
 * const metrics = { mae: (p: any, b: any) => b.x.mul(p.w).sub(b.y).abs().mean() };
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
 * ```
 */
export async function evaluate<P = any, B = any>(
  params: P,
  data: B | BatchSource<B>,
  metrics: Readonly<Record<string, MetricFn<P, B>>>,
  opts?: EvaluateOptions,
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
export async function evaluate<P = any, M = any, B = any>(
  model: AnyLayer,
  params: P,
  state: M,
  data: B | BatchSource<B>,
  metrics?: Readonly<Record<string, OutputMetricFn>>,
  opts?: Omit<EvaluateOptions, "state">,
): Promise<Record<string, number>>;
export async function evaluate(...args: any[]): Promise<Record<string, number>> {
  let acc: Acc, data: unknown, names: string[], params: unknown, state: unknown;
  let opts: EvaluateOptions;
  if (isLayer(args[0])) {
    const model = args[0];
    const metrics = args[4] ?? defaultModelMetrics;
    [params, state, data, opts] = [args[1], args[2], args[3], args[5] ?? {}];
    names = Object.keys(metrics);
    acc = modelAccumulator(model, metrics);
    if (isStateful(model) && (state === null || state === undefined)) {
      throw new TypeError(
        `evaluate(${model.name}): the model is stateful and needs its state\n` +
          `help: pass the state fit returned (or model.initState()) as the third argument`,
      );
    }
    await warnUntrainedState(model, state);
  } else {
    const metrics = args[2] as Readonly<Record<string, MetricFn>>;
    [params, data, opts] = [args[0], args[1], args[3] ?? {}];
    state = opts.state ?? null;
    names = Object.keys(metrics);
    acc = accumulator(metrics);
  }
  const source = isBatchSource(data) ? data : undefined;
  const n = source ? source.numExamples : numExamples(data);
  if (names.length === 0) return {};
  if (n === 0) return Object.fromEntries(names.map((k) => [k, NaN]));
  let sums: Sums = Object.fromEntries(names.map((k) => [k, np.zeros([])]));
  const batchSize = opts.batchSize ?? source?.batchSize ?? 1000;
  const it = source ? source.batches({ batchSize, shuffle: false }) : batches(data, { batchSize });
  for (const batch of it) sums = acc(params, batch, sums, state);
  const vals = await Promise.all(names.map(async (k) => (await sums[k].item() as number) / n));
  return Object.fromEntries(names.map((k, i) => [k, vals[i]]));
}
