/**
 * The train step as one compiled program: loss, gradient, optimizer update and parameter
 * update, jitted together with the parameters and the optimizer state donated (the program
 * may write the new values into their buffers). Plus jitted evaluation: metrics averaged over
 * a whole dataset in batches, with one read-back at the end.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { Tensor } from "../core/tensor.ts";
import { jit, type Jitted, valueAndGrad } from "../core/transforms.ts";
import { batches, numExamples } from "../data/batches.ts";
import { applyUpdates, type GradientTransformation } from "../optim/mod.ts";

/**
 * A loss: `(params, batch, key) → loss` (a scalar f32 Tensor), or `[loss, aux]` when the step
 * is made with `hasAux`. `key` is a fresh PRNG key per step, for dropout and other noise.
 */
export type LossFn<P = any, B = any> = (params: P, batch: B, key: Tensor) => any;

/** What a train step returns. */
export interface StepResult<P = any, S = any, A = any> {
  /** The updated parameters. */
  readonly params: P;
  /** The updated optimizer state. */
  readonly optState: S;
  /** The loss at the parameters before the update, f32[]. */
  readonly loss: Tensor;
  /** The loss's auxiliary output (`hasAux`), else null. */
  readonly aux: A;
}

/** A jitted train step: `(params, optState, batch, key) → { params, optState, loss, aux }`. */
export type TrainStep<P = any, S = any, B = any, A = any> = Jitted<
  (params: P, optState: S, batch: B, key: Tensor) => StepResult<P, S, A>
>;

/** Options of {@link makeTrainStep}. */
export interface TrainStepOptions {
  /** The loss returns `[loss, aux]`; `aux` (a pytree of Tensors) is returned by the step. */
  readonly hasAux?: boolean;
}

/**
 * Makes a jitted, pure train step: `(params, optState, batch, key) → { params, optState,
 * loss, aux }`, computing `valueAndGrad(loss)`, `optimizer.update(grads, optState, params)`
 * and `applyUpdates` in one program. Parameters and optimizer state are donated
 * (`jit(f, { donateArgnums: [0, 1] })`): after a step, use the returned ones, never the ones
 * passed in. The step traces once per signature; `step.traceCount` tells.
 *
 * @param loss `(params, batch, key) → loss`, or `[loss, aux]` with `hasAux`
 * @param optimizer a gradient transformation (`optim.sgd`, `optim.adam`, a `chain`, …)
 * @param opts `hasAux`
 * @returns the jitted step
 *
 * @example
 * ```ts
 * import { np, random } from "../mod.ts";
 * import { sgd } from "../optim/mod.ts";
 * import { makeTrainStep } from "./step.ts";
 * import { assert, assertEquals } from "@std/assert";
 * const loss = (p: any, b: any) => np.square(b.x.mul(p.w).sub(b.y)).mean();
 * const opt = sgd({ lr: 0.1 });
 * const step = makeTrainStep(loss, opt);
 * let params: any = { w: np.array(0) }, optState = opt.init(params), l0 = NaN;
 * const batch = { x: np.array([1, 2, 3]), y: np.array([2, 4, 6]) };
 * for (let i = 0; i < 20; i++) {
 *   const out = step(params, optState, batch, random.key(i));
 *   ({ params, optState } = out);
 *   if (i === 0) l0 = await out.loss.item() as number;
 * }
 * assert(Math.abs(await params.w.item() - 2) < 1e-3 && l0 > 1);
 * assertEquals(step.traceCount, 1);
 * ```
 */
export function makeTrainStep<P = any, S = any, B = any, A = any>(
  loss: LossFn<P, B>,
  optimizer: GradientTransformation<S>,
  opts: TrainStepOptions = {},
): TrainStep<P, S, B, A> {
  const hasAux = opts.hasAux ?? false;
  const vg = valueAndGrad(loss, { hasAux });
  const trainStep = (params: P, optState: S, batch: B, key: Tensor): StepResult<P, S, A> => {
    const [value, grads] = vg(params, batch, key);
    const [updates, newState] = optimizer.update(grads as P, optState, params);
    return {
      params: applyUpdates(params, updates),
      optState: newState,
      loss: hasAux ? value[0] : value,
      aux: hasAux ? value[1] : null,
    };
  };
  return jit(trainStep, { donateArgnums: [0, 1] });
}

/**
 * A metric: `(params, batch) → f32[]`, the mean of a per-example quantity over the batch
 * (accuracy, cross-entropy, squared error, …), so batch means can be averaged with the batch
 * sizes as weights.
 */
export type MetricFn<P = any, B = any> = (params: P, batch: B) => Tensor;

/**
 * Jits a metric (or a record of them), `(params, batch) → value(s)`; one trace per batch
 * shape.
 *
 * @param metricFn `(params, batch) → Tensor`, or → a record of Tensors
 * @returns the jitted function
 *
 * @example
 * ```ts
 * import { np } from "../mod.ts";
 * import { makeEvalStep } from "./step.ts";
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
  /** Examples per evaluation batch (default 1000); the last batch may be smaller. */
  readonly batchSize?: number;
}

type Sums = Record<string, Tensor>;

// One jitted accumulator per metric record: `sums + batchSize · metric(batch)` for every
// metric, so evaluating a dataset runs one program per batch (two signatures: full batches
// and the last one) and reads back once.
const accumulators = new WeakMap<object, Jitted<(p: any, b: any, s: Sums) => Sums>>();

function accumulator(metrics: Readonly<Record<string, MetricFn>>) {
  let acc = accumulators.get(metrics);
  if (acc === undefined) {
    acc = jit((params: any, batch: any, sums: Sums): Sums => {
      const m = numExamples(batch);
      const out: Sums = {};
      for (const [name, fn] of Object.entries(metrics)) {
        const v = fn(params, batch);
        if (!(v instanceof Tensor) || v.ndim !== 0) {
          throw new TypeError(
            `evaluate: metric ${JSON.stringify(name)} must return a scalar Tensor, got ${
              v instanceof Tensor ? v.aval : typeof v
            }\nhelp: return the batch mean, e.g. .mean()`,
          );
        }
        out[name] = sums[name].add(v.astype("f32").mul(m));
      }
      return out;
    }, { donateArgnums: 2 });
    accumulators.set(metrics, acc);
  }
  return acc;
}

/**
 * Evaluates metrics over a whole dataset in batches, in order: each metric's batch means
 * weighted by the batch sizes, i.e. the mean over all examples. The sums stay on the device;
 * the result is read back once. Passing the same `metrics` object again reuses the compiled
 * program.
 *
 * @param params the parameters
 * @param data a pytree of Tensors with the examples along axis 0
 * @param metrics named metrics, `(params, batch) → f32[]` batch means
 * @param opts `batchSize` (default 1000)
 * @returns each metric's mean over the dataset (NaN for an empty dataset)
 * @throws {TypeError} when a metric does not return a scalar, or as `numExamples`
 *
 * @example
 * ```ts
 * import { np } from "../mod.ts";
 * import { evaluate } from "./step.ts";
 * import { assertEquals } from "@std/assert";
 * const data = { x: np.array([1, 2, 3]), y: np.array([2, 4, 7]) };
 * const metrics = { mae: (p: any, b: any) => b.x.mul(p.w).sub(b.y).abs().mean() };
 * assertEquals(await evaluate({ w: np.array(2) }, data, metrics, { batchSize: 2 }), {
 *   mae: 1 / 3,
 * });
 * ```
 */
export async function evaluate<P = any, B = any>(
  params: P,
  data: B,
  metrics: Readonly<Record<string, MetricFn<P, B>>>,
  opts: EvaluateOptions = {},
): Promise<Record<string, number>> {
  const names = Object.keys(metrics);
  const n = numExamples(data);
  if (names.length === 0) return {};
  if (n === 0) return Object.fromEntries(names.map((k) => [k, NaN]));
  const acc = accumulator(metrics as Readonly<Record<string, MetricFn>>);
  let sums: Sums = Object.fromEntries(names.map((k) => [k, np.zeros([])]));
  for (const batch of batches(data, { batchSize: opts.batchSize ?? 1000 })) {
    sums = acc(params, batch, sums);
  }
  const vals = await Promise.all(names.map(async (k) => (await sums[k].item() as number) / n));
  return Object.fromEntries(names.map((k, i) => [k, vals[i]]));
}
