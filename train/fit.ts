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
import type { GradientTransformation } from "../optim/mod.ts";
import { type ProgressBar, progressBar, type ProgressOptions } from "./progress.ts";
import { evaluate, type LossFn, makeTrainStep, type MetricFn, type TrainStep } from "./step.ts";

/**
 * Per-epoch logs, one array entry per epoch: `epoch` (1-based), `loss` (mean training loss
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

/** Options of {@link fit}. */
export interface FitOptions<P = any, S = any, B = any> {
  /** Initial parameters (donated to the first step: use the returned ones afterwards). */
  readonly params: P;
  /** Initial optimizer state (default `optimizer.init(params)`). */
  readonly optState?: S;
  /** The optimizer. */
  readonly optimizer: GradientTransformation<S>;
  /** `(params, batch, key) → loss` (or `[loss, aux]` with `hasAux`). */
  readonly loss: LossFn<P, B>;
  /** The loss returns `[loss, aux]` (aux is ignored by `fit`). */
  readonly hasAux?: boolean;
  /** Training data: a pytree of Tensors with the examples along axis 0, e.g. `{ x, y }`. */
  readonly trainData: B;
  /** Validation data, evaluated with `metrics` after every epoch. */
  readonly valData?: B;
  /** Number of epochs. */
  readonly epochs: number;
  /** Examples per training step. */
  readonly batchSize: number;
  /** PRNG key: shuffling (`foldIn(key, epoch)`) and the per-step loss keys. */
  readonly key: Tensor;
  /** Metrics `(params, batch) → f32[]` batch means, evaluated every epoch. */
  readonly metrics?: Readonly<Record<string, MetricFn<P, B>>>;
  /** Also evaluate `metrics` on the training data (default: only when there is no `valData`). */
  readonly evalTrain?: boolean;
  /** Batch size of evaluation (default 1000). */
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
   * Called (and awaited) after every epoch with its logs and the current parameters, which the
   * next step donates: save or copy them here rather than keeping them.
   */
  readonly onEpochEnd?: (
    epoch: number,
    logs: Readonly<Record<string, number>>,
    params: P,
  ) => void | Promise<void>;
  /** A step made by {@link makeTrainStep} to reuse (default: made from `loss`, `optimizer`). */
  readonly step?: TrainStep<P, S, B>;
}

/** What {@link fit} returns. */
export interface FitResult<P = any, S = any, B = any> {
  /** The trained parameters (the best epoch's with `restoreBest`). */
  readonly params: P;
  /** The final optimizer state. */
  readonly optState: S;
  /** Per-epoch logs. */
  readonly history: History;
  /** The jitted step (its `traceCount` says how often it traced). */
  readonly step: TrainStep<P, S, B>;
  /** Whether early stopping ended training before `epochs`. */
  readonly stoppedEarly: boolean;
  /** The best epoch by the early-stopping monitor (1-based), or undefined without it. */
  readonly bestEpoch?: number;
}

// Row `i` of the epoch's step keys, as one program with a device index (see data/batches.ts).
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

/**
 * Trains `params` with `optimizer` on `loss` for `epochs` epochs of shuffled minibatches.
 *
 * Each epoch: a device permutation of the training data (key `foldIn(key, epoch)`), one jitted
 * step per batch (donating parameters and optimizer state), the running loss read back every
 * `logEvery` steps for the progress bar, then the metrics on the validation data (and on the
 * training data with `evalTrain`) and early stopping. With `dropLast` (default) every step has
 * the same shapes, so the step traces once for the whole run.
 *
 * @param opts see {@link FitOptions}
 * @returns the final (or best) parameters, the optimizer state, the history and the step
 * @throws {RangeError} for a bad `epochs`, `batchSize` or `logEvery`, or an early-stopping
 *   monitor that is never logged
 * @throws {TypeError} as `numExamples` for malformed data
 *
 * @example
 * ```ts
 * import { np, random } from "../mod.ts";
 * import { sgd } from "../optim/mod.ts";
 * import { fit } from "./fit.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const x = random.normal(random.key(1), [64, 2]);
 * const data = { x, y: np.matmul(x, np.array([2, -1])).add(0.5) };
 * const loss = (p: any, b: any) => np.square(np.matmul(b.x, p.w).add(p.b).sub(b.y)).mean();
 * const { params, history, step } = await fit({
 *   params: { w: np.zeros([2]), b: np.zeros([]) }, optimizer: sgd({ lr: 0.1 }), loss,
 *   trainData: data, epochs: 10, batchSize: 16, key: random.key(0), progress: false,
 * });
 * assert(history.loss[9] < 1e-3 && history.loss[9] < history.loss[0]);
 * assertEquals(step.traceCount, 1);
 * console.log(await params.w.toArray()); // ≈ [2, -1]
 * ```
 */
export async function fit<P = any, S = any, B = any>(
  opts: FitOptions<P, S, B>,
): Promise<FitResult<P, S, B>> {
  const { optimizer, trainData, valData, epochs, batchSize, key } = opts;
  checkPositive("epochs", epochs);
  checkPositive("batchSize", batchSize);
  const logEvery = opts.logEvery ?? 50;
  checkPositive("logEvery", logEvery);
  const n = numExamples(trainData);
  if (valData !== undefined) numExamples(valData);
  const dropLast = opts.dropLast ?? true;
  const bs = Math.min(batchSize, Math.max(n, 1));
  const steps = numBatches(n, bs, dropLast);
  if (steps === 0) throw new RangeError(`fit: the training data is empty`);

  const step = opts.step ?? makeTrainStep<P, S, B>(opts.loss, optimizer, { hasAux: opts.hasAux });
  const metrics = opts.metrics ?? {};
  const evalTrain = opts.evalTrain ?? valData === undefined;
  const evalOpts = { batchSize: opts.evalBatchSize };
  const bar: ProgressBar | undefined = opts.progress === false ? undefined : progressBar({
    epochs,
    steps,
    batchSize: bs,
    ...(typeof opts.progress === "object" ? opts.progress : {}),
  });

  let params = opts.params;
  let optState = opts.optState ?? optimizer.init(params);
  const history: History = { epoch: [], loss: [], time: [] };
  const es = opts.earlyStopping;
  let best = NaN, bestEpoch: number | undefined, bestParams: P | undefined, wait = 0;
  let stoppedEarly = false;
  const shuffleKey = random.foldIn(key, 0), stepKey = random.foldIn(key, 1);

  for (let epoch = 1; epoch <= epochs; epoch++) {
    const t0 = performance.now();
    bar?.startEpoch(epoch);
    const keys = random.split(random.foldIn(stepKey, epoch), steps);
    let sum: Tensor = np.zeros([]), lastSum = 0, lastStep = 0, i = 0;
    for (
      const batch of batches(trainData, { batchSize: bs, shuffle: shuffleKey, epoch, dropLast })
    ) {
      const out = step(params, optState, batch, keyRow(keys, np.array(i, "i32")));
      params = out.params;
      optState = out.optState;
      sum = sum.add(out.loss);
      i++;
      if (bar && i % logEvery === 0 && i < steps) {
        const s = await sum.item() as number;
        bar.update(i, (s - lastSum) / (i - lastStep));
        lastSum = s;
        lastStep = i;
      }
    }
    const logs: Record<string, number> = { loss: (await sum.item() as number) / steps };
    if (valData !== undefined) {
      const v = await evaluate(params, valData, metrics, evalOpts);
      for (const [k, x] of Object.entries(v)) logs[`val_${k}`] = x;
    }
    if (evalTrain) {
      const v = await evaluate(params, trainData, metrics, evalOpts);
      for (const [k, x] of Object.entries(v)) logs[`train_${k}`] = x;
    }
    const time = (performance.now() - t0) / 1000;
    for (const [k, x] of Object.entries({ epoch, ...logs, time })) {
      (history[k] ??= new Array(epoch - 1).fill(NaN)).push(x);
    }
    bar?.endEpoch(logs);
    await opts.onEpochEnd?.(epoch, logs, params);

    if (es) {
      const monitor = es.monitor ?? ("val_loss" in logs ? "val_loss" : "loss");
      if (!(monitor in logs)) {
        throw new RangeError(
          `fit: earlyStopping monitors ${JSON.stringify(monitor)}, which is not logged; ` +
            `logged: ${Object.keys(logs).join(", ")}`,
        );
      }
      const mode = es.mode ?? (maxLike.test(monitor) ? "max" : "min");
      const v = logs[monitor], delta = es.minDelta ?? 0;
      const better = Number.isNaN(best) ||
        (mode === "min" ? v < best - delta : v > best + delta);
      if (better && !Number.isNaN(v)) {
        best = v;
        bestEpoch = epoch;
        wait = 0;
        if (es.restoreBest) bestParams = copyTree(params);
      } else if (++wait > (es.patience ?? 0)) {
        stoppedEarly = epoch < epochs;
        if (stoppedEarly) {
          bar?.message(
            `early stopping: ${monitor} has not improved for ${wait} epochs ` +
              `(best ${best} at epoch ${bestEpoch})`,
          );
        }
        break;
      }
    }
  }
  return {
    params: bestParams ?? params,
    optState,
    history,
    step,
    stoppedEarly,
    bestEpoch,
  };
}
