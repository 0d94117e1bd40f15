/**
 * Learning-rate schedules: traced functions of the optimizer's device step counter. A schedule
 * never reads the counter back, so changing the learning rate costs no readback and no retrace.
 *
 * **Step indexing.** An optimizer calls its schedule with `count`, the number of updates done
 * *before* the current one: the first update uses `schedule(0)`, the k-th (0-based) uses
 * `schedule(k)`. This is the learning rate PyTorch's scheduler holds after `k` calls of
 * `scheduler.step()` when you call it once after every `optimizer.step()` (its value at
 * `last_epoch = k`), and the `count` Optax passes to its schedules.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";

/**
 * A schedule: maps the step count (an i32 or f32 scalar Tensor, possibly a tracer) to the
 * value at that step (an f32 scalar Tensor). It must be traceable: no readback, no branching
 * on values (use `np.where`).
 */
export type Schedule = (step: Tensor) => Tensor;

/** A learning rate: a constant, or a schedule evaluated at the optimizer's step counter. */
export type LearningRate = number | Schedule;

/** The step as an f32 scalar (numbers are accepted too, for convenience). */
function _t(step: Tensor | number): Tensor {
  return np.asarray(step).astype("f32");
}

function _positive(op: string, name: string, v: number): void {
  if (!(v > 0)) throw new RangeError(`${op}: ${name} must be > 0, got ${v}`);
}

/**
 * A constant: `lr(t) = value`.
 *
 * @param value the value at every step
 * @returns the schedule
 * @example
 * ```ts
 * import { constantSchedule } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const v = await constantSchedule(0.1)(np.array(7)).item();
 * console.log(v); // ≈ 0.1
 * if (Math.abs(Number(v) - 0.1) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function constantSchedule(value: number): Schedule {
  return (step) => np.fullLike(_t(step), value);
}

/**
 * PyTorch `StepLR`: `lr(t) = init · gamma^⌊t / stepSize⌋`.
 *
 * @param opts `init` (the base learning rate), `stepSize` (steps between decays, > 0), `gamma`
 *   (the decay factor)
 * @returns the schedule
 * @throws {RangeError} if `stepSize` is not positive
 * @example
 * ```ts
 * import { stepLR } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = stepLR({ init: 1, stepSize: 2, gamma: 0.1 });
 * const v = [await s(np.array(1)).item(), await s(np.array(2)).item()].map(Number);
 * console.log(...v); // 1 ≈0.1
 * if (Math.abs(v[0] - 1) > 1e-6 || Math.abs(v[1] - 0.1) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function stepLR(opts: { init: number; stepSize: number; gamma: number }): Schedule {
  const { init, stepSize, gamma } = opts;
  _positive("stepLR", "stepSize", stepSize);
  return (step) => np.power(gamma, np.floor(_t(step).div(stepSize))).mul(init);
}

/**
 * Optax `exponential_decay`: with `c = t − transitionBegin`,
 * `lr(t) = init` for `c ≤ 0`, else `init · decayRate^(c / transitionSteps)` (the exponent
 * floored when `staircase`), then bounded by `end` when given (below it stops decreasing when
 * `decayRate < 1`, above it stops increasing when `decayRate > 1`). With `staircase: true` and
 * `transitionBegin: 0` it equals PyTorch `StepLR`.
 *
 * @param opts `init`, `transitionSteps` (> 0), `decayRate`, `transitionBegin` (default 0),
 *   `staircase` (default false), `end` (optional bound)
 * @returns the schedule
 * @throws {RangeError} if `transitionSteps` is not positive
 * @example
 * ```ts
 * import { exponentialDecay } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = exponentialDecay({ init: 1, transitionSteps: 10, decayRate: 0.5 });
 * const v = [await s(np.array(10)).item(), await s(np.array(5)).item()].map(Number);
 * console.log(...v); // 0.5 ≈0.7071
 * if (Math.abs(v[0] - 0.5) > 1e-6 || Math.abs(v[1] - Math.SQRT1_2) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function exponentialDecay(opts: {
  init: number;
  transitionSteps: number;
  decayRate: number;
  transitionBegin?: number;
  staircase?: boolean;
  end?: number;
}): Schedule {
  const { init, transitionSteps, decayRate, transitionBegin = 0, staircase = false, end } = opts;
  _positive("exponentialDecay", "transitionSteps", transitionSteps);
  return (step) => {
    const c = _t(step).sub(transitionBegin);
    let p = c.div(transitionSteps);
    if (staircase) p = np.floor(p);
    let v = np.where(c.lessEqual(0), init, np.power(decayRate, p).mul(init));
    if (end !== undefined) v = decayRate < 1 ? np.maximum(v, end) : np.minimum(v, end);
    return v;
  };
}

/**
 * PyTorch `MultiStepLR`: `lr(t) = init · gamma^n(t)` where `n(t)` counts the milestones
 * `m ≤ t` (PyTorch's `bisect_right(milestones, t)`).
 *
 * @param opts `init`, `milestones` (step counts), `gamma`
 * @returns the schedule
 * @example
 * ```ts
 * import { multiStepLR } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = multiStepLR({ init: 1, milestones: [2, 4], gamma: 0.5 });
 * const v = [await s(np.array(3)).item(), await s(np.array(4)).item()].map(Number);
 * console.log(...v); // 0.5 0.25
 * if (Math.abs(v[0] - 0.5) > 1e-6 || Math.abs(v[1] - 0.25) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function multiStepLR(
  opts: { init: number; milestones: readonly number[]; gamma: number },
): Schedule {
  const { init, milestones, gamma } = opts;
  return (step) => {
    const t = _t(step);
    const n = milestones.reduce((acc, m) => acc.add(t.greaterEqual(m).astype("f32")), t.mul(0));
    return np.power(gamma, n).mul(init);
  };
}

/**
 * PyTorch `ExponentialLR`: `lr(t) = init · gamma^t`.
 *
 * @param opts `init`, `gamma`
 * @returns the schedule
 * @example
 * ```ts
 * import { exponentialLR } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const v = await exponentialLR({ init: 2, gamma: 0.5 })(np.array(3)).item();
 * console.log(v); // 0.25
 * if (Math.abs(Number(v) - 0.25) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function exponentialLR(opts: { init: number; gamma: number }): Schedule {
  const { init, gamma } = opts;
  return (step) => np.power(gamma, _t(step)).mul(init);
}

/**
 * PyTorch `CosineAnnealingLR` in its closed form:
 * `lr(t) = etaMin + (init − etaMin) · (1 + cos(π t / tMax)) / 2`. It reaches `etaMin` at
 * `t = tMax` and, like PyTorch's (no restarts), rises again after it (period `2 · tMax`).
 *
 * @param opts `init` (the base learning rate), `tMax` (half-period in steps, > 0), `etaMin`
 *   (default 0)
 * @returns the schedule
 * @throws {RangeError} if `tMax` is not positive
 * @example
 * ```ts
 * import { cosineAnnealing } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = cosineAnnealing({ init: 1, tMax: 10 });
 * const v = [await s(np.array(5)).item(), await s(np.array(10)).item()].map(Number);
 * console.log(...v); // ≈0.5 ≈0
 * if (Math.abs(v[0] - 0.5) > 1e-6 || Math.abs(v[1] - 0) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function cosineAnnealing(opts: { init: number; tMax: number; etaMin?: number }): Schedule {
  const { init, tMax, etaMin = 0 } = opts;
  _positive("cosineAnnealing", "tMax", tMax);
  return (step) => np.cos(_t(step).mul(Math.PI / tMax)).add(1).mul((init - etaMin) / 2).add(etaMin);
}

/** Options of {@linkcode oneCycle} (PyTorch `OneCycleLR`'s names, camelCased). */
export interface OneCycleOptions {
  /** The peak learning rate. */
  maxLr: number;
  /** The length of the cycle in steps. */
  totalSteps: number;
  /** The fraction of the cycle spent increasing the learning rate (default 0.3). */
  pctStart?: number;
  /** `"cos"` (default) or `"linear"` annealing. */
  annealStrategy?: "cos" | "linear";
  /** The initial learning rate is `maxLr / divFactor` (default 25). */
  divFactor?: number;
  /** The final learning rate is `maxLr / divFactor / finalDivFactor` (default 1e4). */
  finalDivFactor?: number;
  /** Three phases (up, down to the initial rate, down to the final rate) as in the paper. */
  threePhase?: boolean;
}

/**
 * PyTorch `OneCycleLR` (learning rate only; momentum cycling is not modelled). With
 * `initial = maxLr / divFactor` and `min = initial / finalDivFactor`, the phases end at steps
 * `e₁ = pctStart · totalSteps − 1` and `totalSteps − 1` (three phases: `e₁`,
 * `2 · pctStart · totalSteps − 2`, `totalSteps − 1`) and go initial → maxLr → min (three
 * phases: initial → maxLr → initial → min). Within a phase from step `s` to `e` the rate is
 * `anneal(start, end, (t − s) / (e − s))` with `cos: end + (start − end)(1 + cos(π p)) / 2`
 * or `linear: start + (end − start) p`. PyTorch raises past `totalSteps`; here the step is
 * clamped to `totalSteps`.
 *
 * @param opts see {@linkcode OneCycleOptions}
 * @returns the schedule
 * @throws {RangeError} if `totalSteps` is not a positive integer, `pctStart` is outside
 *   [0, 1], or a phase would be empty
 * @example
 * ```ts
 * import { oneCycle } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = oneCycle({ maxLr: 1, totalSteps: 100 });
 * const v = [await s(np.array(0)).item(), await s(np.array(29)).item()].map(Number);
 * console.log(...v); // ≈0.04 1
 * if (Math.abs(v[0] - 0.04) > 1e-6 || Math.abs(v[1] - 1) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function oneCycle(opts: OneCycleOptions): Schedule {
  const { maxLr, totalSteps, pctStart = 0.3, annealStrategy = "cos" } = opts;
  const { divFactor = 25, finalDivFactor = 1e4, threePhase = false } = opts;
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new RangeError(`oneCycle: totalSteps must be a positive integer, got ${totalSteps}`);
  }
  if (!(pctStart >= 0 && pctStart <= 1)) {
    throw new RangeError(`oneCycle: pctStart must be in [0, 1], got ${pctStart}`);
  }
  if (annealStrategy !== "cos" && annealStrategy !== "linear") {
    throw new RangeError(
      `oneCycle: annealStrategy must be "cos" or "linear", got ${annealStrategy}`,
    );
  }
  const initial = maxLr / divFactor, min = initial / finalDivFactor;
  const phases: [end: number, from: number, to: number][] = threePhase
    ? [
      [pctStart * totalSteps - 1, initial, maxLr],
      [2 * pctStart * totalSteps - 2, maxLr, initial],
      [totalSteps - 1, initial, min],
    ]
    : [[pctStart * totalSteps - 1, initial, maxLr], [totalSteps - 1, maxLr, min]];
  phases.forEach(([end], i) => {
    const start = i === 0 ? 0 : phases[i - 1][0];
    if (!(end > start)) {
      throw new RangeError(
        `oneCycle: phase ${i + 1} would end at step ${end}, not after its start ${start}\n` +
          `help: increase totalSteps or choose pctStart so that every phase has a step`,
      );
    }
  });
  const anneal = (from: number, to: number, p: Tensor): Tensor =>
    annealStrategy === "cos"
      ? np.cos(p.mul(Math.PI)).add(1).mul((from - to) / 2).add(to)
      : p.mul(to - from).add(from);
  return (step) => {
    const t = np.minimum(_t(step), totalSteps);
    const value = (i: number) => {
      const [end, from, to] = phases[i];
      const start = i === 0 ? 0 : phases[i - 1][0];
      return anneal(from, to, t.sub(start).div(end - start));
    };
    // the first phase whose end is ≥ t, else the last one (PyTorch's loop)
    let v = value(phases.length - 1);
    for (let i = phases.length - 2; i >= 0; i--) {
      v = np.where(t.lessEqual(phases[i][0]), value(i), v);
    }
    return v;
  };
}

/**
 * Linear warmup (Optax `linear_schedule`): `lr(t) = init + (peak − init) · min(t, w) / w` for
 * `w = warmupSteps`, then `peak`.
 *
 * @param opts `init`, `peak`, `warmupSteps` (≥ 0; 0 gives `peak` from the start)
 * @returns the schedule
 * @throws {RangeError} if `warmupSteps` is negative
 * @example
 * ```ts
 * import { linearWarmup } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = linearWarmup({ init: 0, peak: 1, warmupSteps: 4 });
 * const v = [await s(np.array(1)).item(), await s(np.array(9)).item()].map(Number);
 * console.log(...v); // 0.25 1
 * if (Math.abs(v[0] - 0.25) > 1e-6 || Math.abs(v[1] - 1) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function linearWarmup(opts: { init: number; peak: number; warmupSteps: number }): Schedule {
  const { init, peak, warmupSteps } = opts;
  if (!(warmupSteps >= 0)) {
    throw new RangeError(`linearWarmup: warmupSteps must be ≥ 0, got ${warmupSteps}`);
  }
  if (warmupSteps === 0) return constantSchedule(peak);
  return (step) => np.clip(_t(step).div(warmupSteps), 0, 1).mul(peak - init).add(init);
}

/**
 * Optax `warmup_cosine_decay_schedule`: linear from `init` to `peak` over `warmupSteps`, then
 * cosine decay from `peak` to `end` reached at step `decaySteps` (which *includes* the warmup),
 * then `end`: for `t ≥ w`, `lr(t) = end + (peak − end) · (1 + cos(π · min(t − w, D) / D)) / 2`
 * with `D = decaySteps − w`.
 *
 * @param opts `init` (default 0), `peak`, `warmupSteps`, `decaySteps` (> warmupSteps), `end`
 *   (default 0)
 * @returns the schedule
 * @throws {RangeError} if `decaySteps ≤ warmupSteps` or `warmupSteps < 0`
 * @example
 * ```ts
 * import { warmupCosine } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = warmupCosine({ peak: 1, warmupSteps: 10, decaySteps: 110 });
 * const v = [await s(np.array(5)).item(), await s(np.array(60)).item()].map(Number);
 * console.log(...v); // 0.5 ≈0.5
 * if (Math.abs(v[0] - 0.5) > 1e-6 || Math.abs(v[1] - 0.5) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function warmupCosine(opts: {
  init?: number;
  peak: number;
  warmupSteps: number;
  decaySteps: number;
  end?: number;
}): Schedule {
  const { init = 0, peak, warmupSteps, decaySteps, end = 0 } = opts;
  if (!(warmupSteps >= 0)) {
    throw new RangeError(`warmupCosine: warmupSteps must be ≥ 0, got ${warmupSteps}`);
  }
  const d = decaySteps - warmupSteps;
  if (!(d > 0)) {
    throw new RangeError(
      `warmupCosine: decaySteps (${decaySteps}) must exceed warmupSteps (${warmupSteps}); ` +
        `decaySteps counts the warmup too`,
    );
  }
  const warm = linearWarmup({ init, peak, warmupSteps });
  return (step) => {
    const t = _t(step);
    const c = np.clip(t.sub(warmupSteps), 0, d);
    const cosine = np.cos(c.mul(Math.PI / d)).add(1).mul((peak - end) / 2).add(end);
    return warmupSteps === 0 ? cosine : np.where(t.less(warmupSteps), warm(t), cosine);
  };
}

/**
 * Optax `polynomial_schedule`: with `c = clip(t − transitionBegin, 0, decaySteps)`,
 * `lr(t) = (init − end) · (1 − c / decaySteps)^power + end`.
 *
 * @param opts `init`, `end`, `power`, `decaySteps` (> 0), `transitionBegin` (default 0)
 * @returns the schedule
 * @throws {RangeError} if `decaySteps` is not positive
 * @example
 * ```ts
 * import { polynomial } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const s = polynomial({ init: 1, end: 0, power: 2, decaySteps: 10 });
 * const v = await s(np.array(5)).item();
 * console.log(v); // 0.25
 * if (Math.abs(Number(v) - 0.25) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function polynomial(opts: {
  init: number;
  end: number;
  power: number;
  decaySteps: number;
  transitionBegin?: number;
}): Schedule {
  const { init, end, power, decaySteps, transitionBegin = 0 } = opts;
  _positive("polynomial", "decaySteps", decaySteps);
  return (step) => {
    const c = np.clip(_t(step).sub(transitionBegin), 0, decaySteps);
    return np.power(np.subtract(1, c.div(decaySteps)), power).mul(init - end).add(end);
  };
}
