/**
 * The classic optimizers with PyTorch's update rules, so that a step matches `torch.optim`
 * step for step (same defaults, same placement of `eps`, same first-step behaviour). Each is
 * a {@linkcode GradientTransformation} whose updates are *added* to the parameters by
 * `applyUpdates`. The learning rate may be a number or a {@linkcode Schedule} of the state's
 * step counter `count` (the number of updates done before this one; see `schedules.ts`).
 *
 * Formulas: the algorithm boxes of the PyTorch documentation (`torch.optim.SGD`, `Adagrad`,
 * `RMSprop`, `Adadelta`; Adam and AdamW are in `adam.ts`), with `g` the gradient, `p` the parameters,
 * `t = count + 1` the 1-based step. `maximize` and per-group options are not modelled.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { _check, _checkLr, _lrAt } from "./_util.ts";
import type { LearningRate } from "./schedules.ts";
import {
  scaleByAdadelta,
  type ScaleByAdadeltaState,
  scaleByRms,
  type ScaleByRmsState,
  scaleByRss,
  type ScaleByRssState,
  trace,
  type TraceState,
} from "./scale_by.ts";
import {
  chain,
  type EmptyState,
  type GradientTransformation,
  identity,
  scaleByLearningRate,
  type ScheduleState,
} from "./transform.ts";
import { _addDecayedWeights } from "./_decay.ts";

/** `addDecayedWeights(λ)` (PyTorch's L2 `weight_decay`) when λ ≠ 0, else the identity. */
function _l2(op: string, weightDecay: number): GradientTransformation<EmptyState> {
  _check(op, "weightDecay", weightDecay, weightDecay >= 0, "≥ 0");
  return weightDecay === 0 ? identity() : _addDecayedWeights(op, weightDecay);
}

// ---------------------------------------------------------------- SGD

/** Options of {@linkcode sgd} (PyTorch `torch.optim.SGD`). */
export interface SgdOptions {
  /** Learning rate γ (a number or a schedule). */
  lr: LearningRate;
  /** Momentum factor μ (default 0). */
  momentum?: number;
  /** Dampening τ of the momentum (default 0). */
  dampening?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
  /** L2 penalty λ added to the gradient (default 0). */
  weightDecay?: number;
}

/**
 * The state of {@linkcode sgd}: `[decay, momentum, counter]` (the momentum part is `{}` without
 * momentum).
 */
export type SgdState = [EmptyState, TraceState | EmptyState, ScheduleState];

/**
 * Stochastic gradient descent with PyTorch's momentum (`torch.optim.SGD`):
 * ```
 * g ← g + λ p
 * if μ ≠ 0:  b ← g at the first step (not zero-initialised), else b ← μ b + (1 − τ) g
 *            g ← g + μ b if nesterov, else b
 * p ← p − γ g
 * ```
 * The first-step branch is a traced `np.where` on the step counter.
 *
 * @param opts see {@linkcode SgdOptions}
 * @returns the optimizer
 * @throws {RangeError} for negative hyperparameters, or nesterov without momentum or with
 *   dampening (as PyTorch)
 * @example
 * ```ts
 * import { applyUpdates, sgd } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = sgd({ lr: 0.1, momentum: 0.9 });
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([1]), s, p);
 * p = applyUpdates(p, u);
 * console.log(await p.toArray()); // [0.9]
 * const err = await p.sub([0.9]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function sgd(opts: SgdOptions): GradientTransformation<SgdState> {
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = opts;
  _checkLr("sgd", lr);
  _check("sgd", "momentum", momentum, momentum >= 0, "≥ 0");
  const decay = _l2("sgd", weightDecay);
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new RangeError("sgd: nesterov momentum requires a momentum > 0 and zero dampening");
  }
  const mom: GradientTransformation<TraceState | EmptyState> = momentum === 0
    ? identity()
    : trace({ decay: momentum, dampening, nesterov }, "sgd");
  return chain(decay, mom, scaleByLearningRate(lr));
}

// ---------------------------------------------------------------- Adagrad

/** Options of {@linkcode adagrad} (PyTorch `torch.optim.Adagrad`). */
export interface AdagradOptions {
  /** Learning rate γ (default 0.01). */
  lr?: LearningRate;
  /** Learning-rate decay η (default 0). */
  lrDecay?: number;
  /** L2 penalty λ added to the gradient (default 0). */
  weightDecay?: number;
  /** Initial value of the accumulator (default 0). */
  initialAccumulatorValue?: number;
  /** Added to the denominator (default 1e-10). */
  eps?: number;
}

/** The state of {@linkcode adagrad}: `[decay, accumulator, counter]`. */
export type AdagradState = [EmptyState, ScaleByRssState, ScheduleState];

/**
 * Adagrad as PyTorch (`torch.optim.Adagrad`):
 * ```
 * γ̃ ← γ / (1 + (t − 1) η)
 * g ← g + λ p
 * s ← s + g²                  (s₀ = initialAccumulatorValue)
 * p ← p − γ̃ g / (√s + ε)
 * ```
 *
 * @param opts see {@linkcode AdagradOptions}
 * @returns the optimizer
 * @throws {RangeError} for negative hyperparameters
 * @example
 * ```ts
 * import { adagrad, applyUpdates } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = adagrad({ lr: 0.5 });
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([2]), s, p);
 * const y = applyUpdates(p, u);
 * console.log(await y.toArray()); // ≈ [0.5]
 * const err = await y.sub([0.5]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function adagrad(opts: AdagradOptions = {}): GradientTransformation<AdagradState> {
  const { lr = 0.01, lrDecay = 0, weightDecay = 0, initialAccumulatorValue = 0, eps = 1e-10 } =
    opts;
  _checkLr("adagrad", lr);
  _check("adagrad", "lrDecay", lrDecay, lrDecay >= 0, "≥ 0");
  const decay = _l2("adagrad", weightDecay);
  const pre = scaleByRss({ initialAccumulatorValue, eps }, "adagrad");
  // γ̃ = γ / (1 + count · η): the decay is a schedule of the same counter
  const rate: LearningRate = lrDecay === 0
    ? lr
    : (count: Tensor) => np.divide(_lrAt(lr, count), count.astype("f32").mul(lrDecay).add(1));
  return chain(decay, pre, scaleByLearningRate(rate));
}

// ---------------------------------------------------------------- RMSprop

/** Options of {@linkcode rmsprop} (PyTorch `torch.optim.RMSprop`). */
export interface RmspropOptions {
  /** Learning rate γ (default 0.01). */
  lr?: LearningRate;
  /** Smoothing constant α (default 0.99). */
  alpha?: number;
  /** Added to the denominator after the square root (default 1e-8). */
  eps?: number;
  /** L2 penalty λ added to the gradient (default 0). */
  weightDecay?: number;
  /** Momentum factor μ (default 0). */
  momentum?: number;
  /** Normalise by an estimate of the gradient's variance (default false). */
  centered?: boolean;
}

/**
 * The state of {@linkcode rmsprop}: `[decay, averages, momentum, counter]` (the momentum part
 * is `{}` without momentum).
 */
export type RmspropState = [EmptyState, ScaleByRmsState, TraceState | EmptyState, ScheduleState];

/**
 * RMSprop as PyTorch (`torch.optim.RMSprop`), with `ε` added after the square root:
 * ```
 * g ← g + λ p
 * v ← α v + (1 − α) g²
 * ṽ ← v − ḡ²  with ḡ ← α ḡ + (1 − α) g   if centered, else ṽ ← v
 * if μ > 0:  b ← μ b + g / (√ṽ + ε);  p ← p − γ b
 * else:      p ← p − γ g / (√ṽ + ε)
 * ```
 *
 * @param opts see {@linkcode RmspropOptions}
 * @returns the optimizer
 * @throws {RangeError} for negative hyperparameters
 * @example
 * ```ts
 * import { applyUpdates, rmsprop } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = rmsprop({ lr: 0.01, alpha: 0.99 });
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([3]), s, p);
 * const y = applyUpdates(p, u);
 * console.log(await y.toArray()); // ≈ [0.9] (1 − 0.01 / √0.01)
 * const err = await y.sub([0.9]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function rmsprop(opts: RmspropOptions = {}): GradientTransformation<RmspropState> {
  const { lr = 0.01, alpha = 0.99, eps = 1e-8, weightDecay = 0, momentum = 0, centered = false } =
    opts;
  _checkLr("rmsprop", lr);
  const pre = scaleByRms({ decay: alpha, eps, centered }, "rmsprop");
  const decay = _l2("rmsprop", weightDecay);
  _check("rmsprop", "momentum", momentum, momentum >= 0, "≥ 0");
  // PyTorch's RMSprop buffer starts at zero: b ← μ b + g/(√ṽ + ε), which `trace` computes
  const mom: GradientTransformation<TraceState | EmptyState> = momentum > 0
    ? trace({ decay: momentum }, "rmsprop")
    : identity();
  return chain(decay, pre, mom, scaleByLearningRate(lr));
}

// ---------------------------------------------------------------- Adadelta

/** Options of {@linkcode adadelta} (PyTorch `torch.optim.Adadelta`). */
export interface AdadeltaOptions {
  /** Learning rate γ scaling the delta (default 1.0). */
  lr?: LearningRate;
  /** Decay ρ of the running averages (default 0.9). */
  rho?: number;
  /** Added inside both square roots (default 1e-6). */
  eps?: number;
  /** L2 penalty λ added to the gradient (default 0). */
  weightDecay?: number;
}

/** The state of {@linkcode adadelta}: `[decay, averages, counter]`. */
export type AdadeltaState = [EmptyState, ScaleByAdadeltaState, ScheduleState];

/**
 * Adadelta as PyTorch (`torch.optim.Adadelta`):
 * ```
 * g ← g + λ p
 * v ← ρ v + (1 − ρ) g²
 * Δ ← √(u + ε) / √(v + ε) · g
 * u ← ρ u + (1 − ρ) Δ²
 * p ← p − γ Δ
 * ```
 *
 * @param opts see {@linkcode AdadeltaOptions}
 * @returns the optimizer
 * @throws {RangeError} for hyperparameters out of range (ρ outside [0, 1], negatives)
 * @example
 * ```ts
 * import { adadelta, applyUpdates } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = adadelta();
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([1]), s, p);
 * const y = applyUpdates(p, u);
 * console.log(await y.toArray()); // ≈ [0.9968] (Δ = √1e-6 / √0.1)
 * const err = await y.sub([0.9968]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function adadelta(opts: AdadeltaOptions = {}): GradientTransformation<AdadeltaState> {
  const { lr = 1.0, rho = 0.9, eps = 1e-6, weightDecay = 0 } = opts;
  _checkLr("adadelta", lr);
  const pre = scaleByAdadelta({ rho, eps }, "adadelta");
  return chain(_l2("adadelta", weightDecay), pre, scaleByLearningRate(lr));
}
