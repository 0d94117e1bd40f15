/**
 * `fit`: the training loop, Keras-style, over a jitted step ({@link makeTrainStep}). Batches
 * are gathered on the device; the loss is read back only every `logEvery` steps (a read-back
 * waits for the device, so reading it every step would serialize the pipeline); metrics are
 * evaluated once per epoch; early stopping watches any logged quantity.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import { Tensor } from "../core/tensor.ts";
import { jit } from "../core/transforms.ts";
import * as tree from "../core/tree.ts";
import { batches, numBatches, numExamples } from "../data/batches.ts";
import { type BatchSource, isBatchSource } from "../data/d2l.ts";
import { isStateful } from "../layers/layer.ts";
import type { GradientTransformation } from "../optim/mod.ts";
import { type ProgressBar, progressBar, type ProgressOptions } from "./progress.ts";
import { _applyModel, _xy } from "./_model.ts";
import { evaluate, type MetricFn, type OutputMetricFn, type TrainableModel } from "./evaluate.ts";
import {
  type LossFn,
  makeTrainStep,
  type StatefulLossFn,
  type StatefulTrainStep,
  type TrainStep,
} from "./step.ts";

/**
 * Per-epoch logs, one array entry per epoch that the call ran: `epoch` (1-based), `loss` (mean training loss
 * over the epoch's steps), `time` (seconds), then `val_<name>` for each metric on the
 * validation data and `train_<name>` for each metric on the training data (when evaluated).
 */
export type History = Record<string, number[]>;

/** Early stopping: stop when `monitor` has not improved for `patience` epochs. */
export interface EarlyStopping {
  /** Epochs without improvement to wait before stopping (default 0: stop at the first). */
  readonly patience?: number;
  /** The history key to watch (default `val_loss` when logged, else `loss`). */
  readonly monitor?: string;
  /** `"min"` or `"max"` (default `"max"` for keys naming accuracy, AUC, F1, precision or recall). */
  readonly mode?: "min" | "max";
  /** Smallest change that counts as an improvement (default 0). */
  readonly minDelta?: number;
  /** Return the parameters of the best epoch instead of the last (default false, as Keras). */
  readonly restoreBest?: boolean;
}

/**
 * Options of {@link fit}.
 *
 * @typeParam P the parameters' type
 * @typeParam S the optimizer state's type
 * @typeParam B the batch's type
 * @typeParam M the model state's type (null for a stateless loss)
 */
export interface FitOptions<P, S, B, M = null> {
  /**
   * A layer or model to train, Keras' `model.fit`: batches are `{ x, y }` (or `[x, y]`), the
   * model is applied to `x` in training mode (`train: true`, a fresh key per step for
   * dropout), `loss` and `metrics` are functions `(output, y) → f32[]` (e.g.
   * `nn.losses.crossEntropy`, `nn.metrics.accuracy`), and evaluation applies it with
   * `train: false`. A stateful model (batch norm) has its state carried through every step
   * and used in evaluation; `val_loss`/`train_loss` are logged with the metrics.
   */
  readonly model?: TrainableModel<P, M>;
  /**
   * Initial parameters (default with `model`: `model.init(random.foldIn(key, 2))`). Donated to
   * the first step: use the returned ones afterwards.
   */
  readonly params?: P;
  /** Initial optimizer state (default `optimizer.init(params)`). */
  readonly optState?: S;
  /**
   * Initial model state (running statistics), carried through training and returned
   * (default with a stateful `model`: `model.initState()`; with a stateful loss that has an
   * `initState()` method, as a layer does: its result). Without `model`, giving it — or a loss
   * with `initState` — makes the loss stateful (as `stateful: true`).
   */
  readonly state?: M;
  /**
   * The loss is `(params, state, batch, key) → [loss, newState]` (or `{ loss, state, aux }`)
   * and metrics are `(params, batch, state) → f32[]` (default: whether `state` is given).
   */
  readonly stateful?: boolean;
  /** The optimizer. */
  readonly optimizer: GradientTransformation<S>;
  /**
   * The loss: with `model`, `(output, y) → f32[]`; stateful, `(params, state, batch, key) →
   * [loss, newState]`; else `(params, batch, key) → loss` (or `[loss, aux]` with `hasAux`).
   */
  readonly loss:
    | NoInfer<LossFn<P, B> | StatefulLossFn<P, M, B>>
    | (NoInfer<StatefulLossFn<P, M, B>> & { readonly initState: () => M })
    | OutputMetricFn;
  /** The (stateless) loss returns `[loss, aux]` (aux is ignored by `fit`). */
  readonly hasAux?: boolean;
  /**
   * Training data: a pytree of Tensors with the examples along axis 0, e.g. `{ x, y }`, or a
   * {@link BatchSource} (e.g. `data.loadDataFashionMnist(…).train`), which makes its own
   * batches (so data too large for one device buffer can stay packed).
   */
  readonly trainData: B | BatchSource<B>;
  /** Validation data (Tensors or a source), evaluated with `metrics` after every epoch. */
  readonly valData?: B | BatchSource<B>;
  /** Number of epochs: the last epoch's number (with `initialEpoch`, the total, as Keras'). */
  readonly epochs: number;
  /**
   * Epochs already done (default 0), Keras' `initial_epoch`: training runs epochs
   * `initialEpoch + 1 … epochs`, each with the shuffle and step keys it has in a run from the
   * start, so a run resumed from the parameters (and optimizer and model state) saved after
   * epoch `initialEpoch` continues as the uninterrupted run would have.
   */
  readonly initialEpoch?: number;
  /** Examples per training step (default: a {@link BatchSource}'s own; required otherwise). */
  readonly batchSize?: number;
  /** PRNG key: shuffling (`foldIn(key, 0)`), the per-step loss keys (`foldIn(key, 1)`). */
  readonly key: Tensor;
  /**
   * Metrics evaluated every epoch: batch means `(params, batch, state?) → f32[]`, or with
   * `model` `(output, y) → f32[]`.
   */
  readonly metrics?:
    | NoInfer<Readonly<Record<string, MetricFn<P, B, M>>>>
    | Readonly<Record<string, OutputMetricFn>>;
  /** Also evaluate `metrics` on the training data (default: only when there is no `valData`). */
  readonly evalTrain?: boolean;
  /** Batch size of evaluation (default 1000, or a source's own). */
  readonly evalBatchSize?: number;
  /** Read the loss back (and update the progress bar) every this many steps (default 50). */
  readonly logEvery?: number;
  /**
   * Drop each epoch's last partial batch (default true), so every step has the same shape and
   * the step traces once.
   */
  readonly dropLast?: boolean;
  /** Early stopping; none by default. */
  readonly earlyStopping?: EarlyStopping;
  /** Show the progress bar (default true), or its options (`write`, `tty`). */
  readonly progress?: boolean | Pick<ProgressOptions, "write" | "tty" | "width">;
  /**
   * Called (and awaited) after every epoch with its logs, the current parameters, the model
   * state (null when stateless) and the optimizer state, which the next step donates: save or
   * copy them here rather than keeping them (all three to resume later with `initialEpoch`).
   */
  readonly onEpochEnd?: (
    epoch: number,
    logs: Readonly<Record<string, number>>,
    params: P,
    state: M,
    optState: S,
  ) => void | Promise<void>;
  /**
   * A step made by {@link makeTrainStep} to reuse (default: made from `loss`, `optimizer`);
   * made with `stateful: true` when the loss is stateful or a `model` is given.
   */
  readonly step?: TrainStep<P, S, B> | StatefulTrainStep<P, S, M, B>;
}

/**
 * What {@link fit} returns.
 *
 * @typeParam P the parameters' type
 * @typeParam S the optimizer state's type
 * @typeParam B the batch's type
 * @typeParam M the model state's type (null for a stateless loss)
 */
export interface FitResult<P, S, B, M = null> {
  /** The trained parameters (the best epoch's with `restoreBest`). */
  readonly params: P;
  /** The final optimizer state. */
  readonly optState: S;
  /**
   * The model state after training (the best epoch's with `restoreBest`): running statistics
   * for `evaluate(model, params, state, data)`; null when stateless.
   */
  readonly state: M;
  /** Per-epoch logs. */
  readonly history: History;
  /** The jitted step (its `traceCount` says how often it traced). */
  readonly step: TrainStep<P, S, B> | StatefulTrainStep<P, S, M, B>;
  /** Whether early stopping ended training before `epochs`. */
  readonly stoppedEarly: boolean;
  /** The best epoch by the early-stopping monitor (1-based), or undefined without it. */
  readonly bestEpoch?: number;
}

const keyRow = jit((keys: Tensor, i: Tensor): Tensor => np.take(keys, i, { axis: 0 }));

const maxLike = /acc|auc|f1|precision|recall|iou|bleu/i;

function copyTree<T>(t: T): T {
  return tree.map((x: unknown) => x instanceof Tensor ? x.add(0).astype(x.dtype) : x, t) as T;
}

function checkPositive(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`fit: ${name} must be an integer ≥ 1, got ${v}`);
  }
}

/** One step of any of the three forms, over `(params, optState, state)`. */
type Runner<P, S, M, B> = (
  params: P,
  optState: S,
  state: M,
  batch: B,
  key: Tensor,
) => { params: P; optState: S; state: M; loss: Tensor };

/** The metrics of a dataset, as {@link evaluate} computes them for the form in use. */
type EvalData<P, M, B> = (
  params: P,
  state: M,
  data: B | BatchSource<B>,
) => Promise<Record<string, number>>;

/** The loss of `(output, y)` as a stateful loss of the model, in training mode. */
function modelLoss<P, M, B>(
  model: TrainableModel<P, M>,
  loss: OutputMetricFn,
): StatefulLossFn<P, M, B> {
  const f = (params: P, state: M, batch: B, key: Tensor) => {
    const [x, y] = _xy(`fit(${model.name})`, batch);
    const [out, newState] = _applyModel(model, params, state, x, true, key);
    // a model's loss takes its output, which is a Tensor for the models fit trains
    return [loss(out as Tensor, y), newState as M] as const;
  };
  Object.defineProperty(f, "name", { value: model.name });
  return f;
}

/** The sizes of a run, from the options and the training data, checked. */
interface FitPlan<B> {
  /** The training data when it makes its own batches. */
  readonly source: BatchSource<B> | undefined;
  /** Examples per step (at most the number of examples). */
  readonly batchSize: number;
  /** Steps per epoch. */
  readonly steps: number;
  readonly logEvery: number;
  readonly dropLast: boolean;
}

/** Step 1: checks the options and works out the batch size and the steps per epoch. */
function planFit<P, S, B, M>(opts: FitOptions<P, S, B, M>): FitPlan<B> {
  const { trainData, valData } = opts;
  checkPositive("epochs", opts.epochs);
  const initialEpoch = opts.initialEpoch ?? 0;
  if (!Number.isInteger(initialEpoch) || initialEpoch < 0 || initialEpoch >= opts.epochs) {
    throw new RangeError(
      `fit: initialEpoch must be an integer in [0, epochs) = [0, ${opts.epochs}), got ${initialEpoch}`,
    );
  }
  const source = isBatchSource(trainData) ? trainData : undefined;
  const batchSize = opts.batchSize ?? source?.batchSize;
  if (batchSize === undefined) {
    throw new RangeError(`fit: batchSize is required (the training data is not a BatchSource)`);
  }
  checkPositive("batchSize", batchSize);
  const logEvery = opts.logEvery ?? 50;
  checkPositive("logEvery", logEvery);
  const n = source ? source.numExamples : numExamples(trainData);
  if (valData !== undefined && !isBatchSource(valData)) numExamples(valData);
  const dropLast = opts.dropLast ?? true;
  const bs = Math.min(batchSize, Math.max(n, 1));
  const steps = numBatches(n, bs, dropLast);
  if (steps === 0) throw new RangeError(`fit: the training data is empty`);
  if (opts.model === undefined && opts.params === undefined) {
    throw new TypeError(`fit: give the model to train, or its initial params`);
  }
  return { source, batchSize: bs, steps, logEvery, dropLast };
}

/** The step, its runner and the evaluation of one of the three forms. */
interface Trainer<P, S, B, M> {
  readonly run: Runner<P, S, M, B>;
  readonly step: TrainStep<P, S, B> | StatefulTrainStep<P, S, M, B>;
  readonly evalData: EvalData<P, M, B>;
  /** The initial model state the loss makes (a loss with `initState()`, as a layer has). */
  readonly initState: (() => M) | undefined;
}

/**
 * Step 2: the three forms as one runner over `(params, optState, state)`: a model (its loss
 * and metrics of `(output, y)`), a stateful loss, or a stateless one.
 */
function makeTrainer<P, S, B, M>(opts: FitOptions<P, S, B, M>): Trainer<P, S, B, M> {
  const { model, optimizer } = opts;
  const lossInit = (opts.loss as { initState?: unknown }).initState;
  const initState = typeof lossInit === "function" ? lossInit as () => M : undefined;
  const stateful = model !== undefined ||
    (opts.stateful ?? (opts.state !== undefined || initState !== undefined));
  const evalOpts = { batchSize: opts.evalBatchSize };
  if (stateful) {
    const loss = model === undefined
      ? opts.loss as StatefulLossFn<P, M, B>
      : modelLoss<P, M, B>(model, opts.loss as OutputMetricFn);
    const st =
      (opts.step ?? makeTrainStep(loss, optimizer, { stateful: true })) as StatefulTrainStep<
        P,
        S,
        M,
        B
      >;
    const run: Runner<P, S, M, B> = (p, o, s, b, k) => st(p, o, s, b, k);
    if (model !== undefined) {
      const metrics = { loss: opts.loss as OutputMetricFn, ...opts.metrics } as Record<
        string,
        OutputMetricFn
      >;
      return {
        run,
        step: st,
        evalData: (p, s, d) => evaluate(model, p, s, d, metrics, evalOpts),
        initState,
      };
    }
    const metrics = (opts.metrics ?? {}) as Record<string, MetricFn<P, B, M>>;
    return {
      run,
      step: st,
      evalData: (p, s, d) => evaluate(p, d, metrics, { ...evalOpts, state: s }),
      initState,
    };
  }
  const st = (opts.step ??
    makeTrainStep(opts.loss as LossFn<P, B>, optimizer, { hasAux: opts.hasAux })) as TrainStep<
      P,
      S,
      B
    >;
  const metrics = (opts.metrics ?? {}) as Record<string, MetricFn<P, B>>;
  return {
    // a stateless loss carries no state: null (M is null unless the options say otherwise)
    run: (p, o, _s, b, k) => ({ ...st(p, o, b, k), state: null as M }),
    step: st,
    evalData: (p, _s, d) => evaluate(p, d, metrics, evalOpts),
    initState,
  };
}

/** Early stopping's bookkeeping: the best value of the monitor, its epoch and its values. */
class EarlyStopper<P, M> {
  best = NaN;
  bestEpoch: number | undefined;
  bestParams: P | undefined;
  bestState: M | undefined;
  wait = 0;
  stoppedEarly = false;
  readonly #es: EarlyStopping;
  readonly #epochs: number;
  readonly #bar: ProgressBar | undefined;

  constructor(es: EarlyStopping, epochs: number, bar: ProgressBar | undefined) {
    this.#es = es;
    this.#epochs = epochs;
    this.#bar = bar;
  }

  /** Records an epoch's logs; true when training stops after it. */
  update(epoch: number, logs: Readonly<Record<string, number>>, params: P, state: M): boolean {
    const es = this.#es;
    const monitor = es.monitor ?? ("val_loss" in logs ? "val_loss" : "loss");
    if (!(monitor in logs)) {
      throw new RangeError(
        `fit: earlyStopping monitors ${JSON.stringify(monitor)}, which is not logged; ` +
          `logged: ${Object.keys(logs).join(", ")}`,
      );
    }
    const mode = es.mode ?? (maxLike.test(monitor) ? "max" : "min");
    const v = logs[monitor], delta = es.minDelta ?? 0;
    const better = Number.isNaN(this.best) ||
      (mode === "min" ? v < this.best - delta : v > this.best + delta);
    if (better && !Number.isNaN(v)) {
      this.best = v;
      this.bestEpoch = epoch;
      this.wait = 0;
      if (es.restoreBest) {
        this.bestParams = copyTree(params);
        this.bestState = copyTree(state);
      }
      return false;
    }
    if (++this.wait <= (es.patience ?? 0)) return false;
    this.stoppedEarly = epoch < this.#epochs;
    if (this.stoppedEarly) {
      this.#bar?.message(
        `early stopping: ${monitor} has not improved for ${this.wait} epochs ` +
          `(best ${this.best} at epoch ${this.bestEpoch})`,
      );
    }
    return true;
  }
}

/** The values a run carries from step to step. */
interface Carried<P, S, M> {
  params: P;
  optState: S;
  state: M;
}

/** The keys of a run: shuffling (`foldIn(key, 0)`) and the per-step loss keys (`foldIn(key, 1)`). */
interface RunKeys {
  readonly shuffle: Tensor;
  readonly step: Tensor;
}

/**
 * Step 3, once per epoch: one step per batch of the epoch's permutation (key
 * `foldIn(shuffle, epoch)`), the running loss read back every `logEvery` steps for the bar;
 * returns the carried values and the epoch's mean loss.
 */
async function trainEpoch<P, S, B, M>(
  epoch: number,
  trainer: Trainer<P, S, B, M>,
  carried: Carried<P, S, M>,
  data: B | BatchSource<B>,
  plan: FitPlan<B>,
  keys: RunKeys,
  bar: ProgressBar | undefined,
): Promise<{ carried: Carried<P, S, M>; meanLoss: number }> {
  const stepKeys = random.split(random.foldIn(keys.step, epoch), plan.steps);
  const opts = { batchSize: plan.batchSize, shuffle: keys.shuffle, epoch, dropLast: plan.dropLast };
  const epochBatches = plan.source ? plan.source.batches(opts) : batches(data as B, opts);
  let { params, optState, state } = carried;
  let sum: Tensor = np.zeros([]), lastSum = 0, lastStep = 0, i = 0;
  for (const batch of epochBatches) {
    const out = trainer.run(params, optState, state, batch, keyRow(stepKeys, np.array(i, "i32")));
    ({ params, optState, state } = out);
    sum = sum.add(out.loss);
    i++;
    if (bar && i % plan.logEvery === 0 && i < plan.steps) {
      const s = await sum.item() as number;
      bar.update(i, (s - lastSum) / (i - lastStep));
      lastSum = s;
      lastStep = i;
    }
  }
  const meanLoss = (await sum.item() as number) / plan.steps;
  return { carried: { params, optState, state }, meanLoss };
}

/** Step 4, once per epoch: the mean loss, then the metrics on validation and training data. */
async function epochLogs<P, S, B, M>(
  opts: FitOptions<P, S, B, M>,
  trainer: Trainer<P, S, B, M>,
  { params, state }: Carried<P, S, M>,
  meanLoss: number,
): Promise<Record<string, number>> {
  const logs: Record<string, number> = { loss: meanLoss };
  if (opts.valData !== undefined) {
    const v = await trainer.evalData(params, state, opts.valData);
    for (const [k, x] of Object.entries(v)) logs[`val_${k}`] = x;
  }
  if (opts.evalTrain ?? opts.valData === undefined) {
    const v = await trainer.evalData(params, state, opts.trainData);
    for (const [k, x] of Object.entries(v)) logs[`train_${k}`] = x;
  }
  return logs;
}

/** Appends an epoch's logs to the history (a key first logged late is NaN before). */
function recordEpoch(history: History, logs: Record<string, number>): void {
  const done = history.epoch.length;
  for (const [k, x] of Object.entries(logs)) {
    (history[k] ??= new Array(done).fill(NaN)).push(x);
  }
}

/** The initial params (given, else the model's), optimizer state and model state. */
function initialValues<P, S, B, M>(
  opts: FitOptions<P, S, B, M>,
  trainer: Trainer<P, S, B, M>,
): Carried<P, S, M> {
  const { model } = opts;
  const params = opts.params ?? model!.init(random.foldIn(opts.key, 2));
  return {
    params,
    optState: opts.optState ?? opts.optimizer.init(params),
    // the options' state, else the loss's or the model's initial one; null when stateless
    state: (opts.state ?? trainer.initState?.() ??
      (model !== undefined && isStateful(model) ? model.initState() : null)) as M,
  };
}

/**
 * Trains `params` with `optimizer` on `loss` for `epochs` epochs of shuffled minibatches.
 *
 * Three forms, from the most to the least convenient:
 * - `fit({ model, loss, metrics, ... })`: a layer or model (e.g. `nn.sequential` with
 *   `nn.batchNorm2d` inside), a loss and metrics of `(output, y)`; parameters and state are
 *   initialized from the model unless given; the model state (running statistics) is carried
 *   through every step, returned, and used (with `train: false`) for the epoch's metrics.
 * - `fit({ params, state, loss: (params, state, batch, key) → [loss, newState], ... })` (or
 *   `stateful: true`, or a loss with an `initState()` method giving the initial state): a
 *   stateful loss, metrics `(params, batch, state) → f32[]`.
 * - `fit({ params, loss: (params, batch, key) → loss, ... })`: stateless.
 *
 * Each epoch: a device permutation of the training data (key `foldIn(key, epoch)`), one jitted
 * step per batch (donating parameters, optimizer state and model state), the running loss read
 * back every `logEvery` steps for the progress bar, then the metrics on the validation data
 * (and on the training data with `evalTrain`) and early stopping. With `dropLast` (default)
 * every step has the same shapes, so the step traces once for the whole run. Training data
 * may be a {@link BatchSource} (`data.loadDataFashionMnist`), which makes its own batches.
 *
 * @param opts see {@link FitOptions}
 * @returns the final (or best) parameters, the optimizer state, the model state, the history
 *   and the step
 * @throws {RangeError} for a bad `epochs`, `batchSize` or `logEvery`, or an early-stopping
 *   monitor that is never logged
 * @throws {TypeError} as `numExamples` for malformed data; without `model` or `params`; for a
 *   stateful `model` without `model` mode's batches `{ x, y }`
 *
 * @example
 * ```ts
 * import { np, random, type Tensor } from "@denax/denax";
 * import { sgd } from "@denax/denax/optim";
 * import { fit } from "@denax/denax/train";
 * import { assert, assertEquals } from "@std/assert";
 * const x = random.normal(random.key(1), [64, 2]);
 * const data = { x, y: np.matmul(x, np.array([2, -1])).add(0.5) };
 * const loss = (p: { w: Tensor; b: Tensor }, b: typeof data) =>
 *   np.square(np.matmul(b.x, p.w).add(p.b).sub(b.y)).mean();
 * const { params, history, step } = await fit({
 *   params: { w: np.zeros([2]), b: np.zeros([]) }, optimizer: sgd({ lr: 0.1 }), loss,
 *   trainData: data, epochs: 10, batchSize: 16, key: random.key(0), progress: false,
 * });
 * assert(history.loss[9] < 1e-3 && history.loss[9] < history.loss[0]);
 * assertEquals(step.traceCount, 1);
 * console.log(await params.w.toArray()); // ≈ [2, -1]
 * ```
 *
 * @example A model with batch norm: the running statistics are trained and used
 * ```ts
 * import { nn, random } from "@denax/denax";
 * import { adam } from "@denax/denax/optim";
 * import { twoMoons } from "@denax/denax/data";
 * import { evaluate, fit } from "@denax/denax/train";
 * const net = nn.sequential([nn.linear({ inFeatures: 2, outFeatures: 16 }),
 *   nn.batchNorm1d({ numFeatures: 16 }), nn.relu, nn.linear({ inFeatures: 16, outFeatures: 2 })]);
 * const data = twoMoons(random.key(0), { n: 256 });
 * const { params, state } = await fit({
 *   model: net, loss: nn.losses.crossEntropy, metrics: { accuracy: nn.metrics.accuracy },
 *   optimizer: adam({ lr: 0.01 }), trainData: data, epochs: 5, batchSize: 32,
 *   key: random.key(1), progress: false,
 * });
 * const tracked = await state[1].num_batches_tracked!.item();
 * console.log(tracked); // 40: 5 epochs of 8 batches updated the running statistics
 * const { accuracy } = await evaluate(net, params, state, data);
 * console.log(accuracy); // ≈ 0.9, in evaluation mode with those statistics
 * if (tracked !== 40 || !(accuracy > 0.8)) throw new Error(`got ${tracked}, ${accuracy}`);
 * ```
 */
export async function fit<P, S, B, M = null>(
  opts: FitOptions<P, S, B, M>,
): Promise<FitResult<P, S, B, M>> {
  const { trainData, epochs, key } = opts;
  const plan = planFit(opts);
  const trainer = makeTrainer(opts);
  const bar: ProgressBar | undefined = opts.progress === false ? undefined : progressBar({
    epochs,
    steps: plan.steps,
    batchSize: plan.batchSize,
    ...(typeof opts.progress === "object" ? opts.progress : {}),
  });
  let carried = initialValues(opts, trainer);
  const history: History = { epoch: [], loss: [], time: [] };
  const stopper = opts.earlyStopping && new EarlyStopper<P, M>(opts.earlyStopping, epochs, bar);
  const keys: RunKeys = { shuffle: random.foldIn(key, 0), step: random.foldIn(key, 1) };
  for (let epoch = (opts.initialEpoch ?? 0) + 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    bar?.startEpoch(epoch);
    const ran = await trainEpoch(epoch, trainer, carried, trainData, plan, keys, bar);
    carried = ran.carried;
    const logs = await epochLogs(opts, trainer, carried, ran.meanLoss);
    recordEpoch(history, { epoch, ...logs, time: (performance.now() - t0) / 1000 });
    bar?.endEpoch(logs);
    await opts.onEpochEnd?.(epoch, logs, carried.params, carried.state, carried.optState);
    if (stopper?.update(epoch, logs, carried.params, carried.state)) break;
  }
  const restored = stopper?.bestParams !== undefined;
  return {
    params: restored ? stopper.bestParams! : carried.params,
    optState: carried.optState,
    state: restored ? stopper.bestState! : carried.state,
    history,
    step: trainer.step,
    stoppedEarly: stopper?.stoppedEarly ?? false,
    bestEpoch: stopper?.bestEpoch,
  };
}
