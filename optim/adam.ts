/**
 * Adam and AdamW with PyTorch's update rules (`torch.optim.Adam`, `torch.optim.AdamW`), step
 * for step: same defaults, `eps` added after the square root, PyTorch's AMSGrad.
 *
 * @module
 */
import { _check, _checkLr } from "./_util.ts";
import type { LearningRate } from "./schedules.ts";
import { scaleByAdam, type ScaleByAdamState } from "./scale_by.ts";
import {
  chain,
  type EmptyState,
  type GradientTransformation,
  identity,
  scaleByLearningRate,
  type ScheduleState,
} from "./transform.ts";
import { _addDecayedWeights } from "./_decay.ts";

/** Options of {@linkcode adam} (PyTorch `torch.optim.Adam`). */
export interface AdamOptions {
  /** Learning rate γ (default 1e-3). */
  lr?: LearningRate;
  /** Decays β₁, β₂ of the moment estimates (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the denominator after the square root (default 1e-8). */
  eps?: number;
  /** Adam: L2 penalty λ added to the gradient (default 0). AdamW: decoupled decay (1e-2). */
  weightDecay?: number;
  /** Use the running maximum of the second moment (AMSGrad; default false). */
  amsgrad?: boolean;
}

/** The state of {@linkcode adam}: its parts' states, `[decay, moments, counter]` (Optax). */
export type AdamState = [EmptyState, ScaleByAdamState, ScheduleState];

/** The state of {@linkcode adamw}: `[moments, decay, counter]` (decay after the moments). */
export type AdamWState = [ScaleByAdamState, EmptyState, ScheduleState];

function _parts(op: string, opts: AdamOptions, decoupled: boolean) {
  const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, amsgrad = false } = opts;
  const weightDecay = opts.weightDecay ?? (decoupled ? 1e-2 : 0);
  _checkLr(op, lr);
  const pre = scaleByAdam({ b1: betas[0], b2: betas[1], eps, amsgrad }, op);
  _check(op, "weightDecay", weightDecay, weightDecay >= 0, "≥ 0");
  const decay = weightDecay === 0 ? identity() : _addDecayedWeights(op, weightDecay);
  return { pre, decay, lr: scaleByLearningRate(lr) };
}

/**
 * Adam as PyTorch (`torch.optim.Adam`), weight decay as an L2 term on the gradient:
 * ```
 * g ← g + λ p
 * m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²
 * v̂ ← max(v̂, v) if amsgrad, else v
 * p ← p − γ / (1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
 * ```
 * AMSGrad keeps the maximum of the raw `v` and bias-corrects it afterwards, as PyTorch's code
 * does (older PyTorch docs wrote the maximum of the bias-corrected values; pytorch#142323).
 *
 * @param opts see {@linkcode AdamOptions}
 * @returns the optimizer
 * @throws {RangeError} for hyperparameters out of range
 * @example
 * ```ts
 * import { adam, applyUpdates } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = adam({ lr: 0.1 });
 * let p = np.array([1, 1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([2, -0.5]), s, p);
 * const y = applyUpdates(p, u);
 * console.log(await y.toArray()); // ≈ [0.9, 1.1]: the first step is ±lr
 * const err = await y.sub([0.9, 1.1]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function adam(opts: AdamOptions = {}): GradientTransformation<AdamState> {
  // L2: the gradient is decayed before the moments see it
  const { pre, decay, lr } = _parts("adam", opts, false);
  return chain(decay, pre, lr);
}

/**
 * AdamW as PyTorch (`torch.optim.AdamW`): Adam with decoupled weight decay (Loshchilov &
 * Hutter, 2019), applied to the parameters before the Adam step:
 * ```
 * p ← p − γ λ p
 * m, v, v̂ as in Adam (without the L2 term)
 * p ← p − γ / (1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
 * ```
 * Both terms use the same `p` (the step does not depend on `p`), so the update is
 * `−γ (λ p + adamStep)`. Default `weightDecay` is 1e-2, as PyTorch.
 *
 * @param opts see {@linkcode AdamOptions}
 * @returns the optimizer; its `update` needs `params` when `weightDecay > 0`
 * @throws {RangeError} for hyperparameters out of range
 * @example
 * ```ts
 * import { adamw, applyUpdates } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = adamw({ lr: 0.1, weightDecay: 0.5 });
 * let p = np.array([2]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([1]), s, p);
 * const y = applyUpdates(p, u);
 * console.log(await y.toArray()); // ≈ [1.8]: 2 − 0.1·0.5·2 − 0.1
 * const err = await y.sub([1.8]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function adamw(opts: AdamOptions = {}): GradientTransformation<AdamWState> {
  // decoupled: p ← p − γ (adam(g) + λ p), PyTorch's two-stage AdamW update in one step
  const { pre, decay, lr } = _parts("adamw", opts, true);
  return chain(pre, decay, lr);
}
