/**
 * Adam and AdamW with PyTorch's update rules (`torch.optim.Adam`, `torch.optim.AdamW`), step
 * for step: same defaults, `eps` added after the square root, PyTorch's AMSGrad.
 *
 * @module
 */
import { np, type Tensor } from "../mod.ts";
import {
  _check,
  _checkLr,
  _count0,
  _descend,
  _flat,
  _l2,
  _like,
  _lrAt,
  _params,
  _zerosLike,
  type LearningRate,
  type Leaves,
} from "./_util.ts";
import type { GradientTransformation } from "./transform.ts";

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

/** The state of {@linkcode adam} and {@linkcode adamw}. */
export interface AdamState {
  /** Updates done so far (i32 scalar). */
  readonly count: Tensor;
  /** First moment `m` (PyTorch `exp_avg`). */
  readonly mu: unknown;
  /** Second moment `v` (PyTorch `exp_avg_sq`). */
  readonly nu: unknown;
  /** Running maximum of `v` (amsgrad only; else null; PyTorch `max_exp_avg_sq`). */
  readonly nuMax: unknown;
}

function _adam(
  op: string,
  opts: AdamOptions,
  decoupled: boolean,
): GradientTransformation<AdamState> {
  const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, amsgrad = false } = opts;
  const weightDecay = opts.weightDecay ?? (decoupled ? 1e-2 : 0);
  const [b1, b2] = betas;
  _checkLr(op, lr);
  _check(op, "betas[0]", b1, b1 >= 0 && b1 < 1, "in [0, 1)");
  _check(op, "betas[1]", b2, b2 >= 0 && b2 < 1, "in [0, 1)");
  _check(op, "eps", eps, eps >= 0, "≥ 0");
  _check(op, "weightDecay", weightDecay, weightDecay >= 0, "≥ 0");
  return {
    init: (params) => ({
      count: _count0(),
      mu: _zerosLike(params),
      nu: _zerosLike(params),
      nuMax: amsgrad ? _zerosLike(params) : null,
    }),
    update: (updates, state, params) => {
      const [gs0, def] = _flat(updates);
      const gs = decoupled ? gs0 : _l2(op, gs0, weightDecay, params, def);
      const m = _like(op, "state.mu", state.mu, def).map((m, i) =>
        m.mul(b1).add(gs[i].mul(1 - b1))
      );
      const v = _like(op, "state.nu", state.nu, def)
        .map((v, i) => v.mul(b2).add(np.square(gs[i]).mul(1 - b2)));
      let vMax: Leaves | null = null;
      if (amsgrad) {
        vMax = _like(op, "state.nuMax", state.nuMax, def).map((x, i) => np.maximum(x, v[i]));
      }
      const t = state.count.add(1).astype("f32");
      // 1 − βᵗ = −expm1(t·ln β): exact to f32 even for β near 1 (a plain 1 − pow loses ~1e-5)
      const oneMinusPow = (b: number) => np.negative(np.expm1(t.mul(Math.log(b))));
      const bc1 = oneMinusPow(b1), bc2Sqrt = np.sqrt(oneMinusPow(b2));
      // PyTorch's arrangement: step = (γ / bc₁) · m / (√v / √bc₂ + ε)
      const vs = vMax ?? v;
      let ds = m.map((mi, i) => mi.div(np.sqrt(vs[i]).div(bc2Sqrt).add(eps)).div(bc1));
      const rate = _lrAt(lr, state.count);
      if (decoupled && weightDecay !== 0) {
        const ps = _params(op, params, def);
        ds = ds.map((d, i) => d.add(ps[i].mul(weightDecay)));
      }
      return [def.unflatten(_descend(rate, ds)), {
        count: state.count.add(1),
        mu: def.unflatten(m),
        nu: def.unflatten(v),
        nuMax: vMax === null ? null : def.unflatten(vMax),
      }];
    },
  };
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
 * import { adam, applyUpdates } from "./mod.ts";
 * import { np } from "../mod.ts";
 * const opt = adam({ lr: 0.1 });
 * let p = np.array([1, 1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([2, -0.5]), s, p);
 * console.log(await applyUpdates(p, u).toArray()); // ≈ [0.9, 1.1]: the first step is ±lr
 * ```
 */
export function adam(opts: AdamOptions = {}): GradientTransformation<AdamState> {
  return _adam("adam", opts, false);
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
 * import { adamw, applyUpdates } from "./mod.ts";
 * import { np } from "../mod.ts";
 * const opt = adamw({ lr: 0.1, weightDecay: 0.5 });
 * let p = np.array([2]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([1]), s, p);
 * console.log(await applyUpdates(p, u).toArray()); // ≈ [1.8]: 2 − 0.1·0.5·2 − 0.1
 * ```
 */
export function adamw(opts: AdamOptions = {}): GradientTransformation<AdamState> {
  return _adam("adamw", opts, true);
}
