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
  _zerosLike,
  type LearningRate,
  type Leaves,
} from "./_util.ts";
import type { GradientTransformation } from "./transform.ts";

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

/** The state of {@linkcode sgd}. */
export interface SgdState {
  /** Updates done so far (i32 scalar). */
  readonly count: Tensor;
  /** The momentum buffer `b` (params' structure), or null without momentum. */
  readonly momentumBuffer: unknown;
}

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
 * import { applyUpdates, sgd } from "./mod.ts";
 * import { np } from "../mod.ts";
 * const opt = sgd({ lr: 0.1, momentum: 0.9 });
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([1]), s, p);
 * p = applyUpdates(p, u);
 * console.log(await p.toArray()); // [0.9]
 * ```
 */
export function sgd(opts: SgdOptions): GradientTransformation<SgdState> {
  const { lr, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = opts;
  _checkLr("sgd", lr);
  _check("sgd", "momentum", momentum, momentum >= 0, "≥ 0");
  _check("sgd", "weightDecay", weightDecay, weightDecay >= 0, "≥ 0");
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    throw new RangeError("sgd: nesterov momentum requires a momentum > 0 and zero dampening");
  }
  return {
    init: (params) => ({
      count: _count0(),
      momentumBuffer: momentum === 0 ? null : _zerosLike(params),
    }),
    update: (updates, state, params) => {
      const [gs0, def] = _flat(updates);
      let gs = _l2("sgd", gs0, weightDecay, params, def);
      let buf: Leaves | null = null;
      if (momentum !== 0) {
        const first = state.count.equal(0);
        const bs = _like("sgd", "state.momentumBuffer", state.momentumBuffer, def);
        buf = bs.map((b, i) =>
          np.where(first, gs[i], b.mul(momentum).add(gs[i].mul(1 - dampening)))
        );
        gs = nesterov ? gs.map((g, i) => g.add(buf![i].mul(momentum))) : buf;
      }
      const us = _descend(_lrAt(lr, state.count), gs);
      return [def.unflatten(us), {
        count: state.count.add(1),
        momentumBuffer: buf === null ? null : def.unflatten(buf),
      }];
    },
  };
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

/** The state of {@linkcode adagrad}. */
export interface AdagradState {
  /** Updates done so far (i32 scalar). */
  readonly count: Tensor;
  /** The accumulated squared gradients (PyTorch `state_sum`). */
  readonly sum: unknown;
}

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
 * import { adagrad, applyUpdates } from "./mod.ts";
 * import { np } from "../mod.ts";
 * const opt = adagrad({ lr: 0.5 });
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([2]), s, p);
 * console.log(await applyUpdates(p, u).toArray()); // ≈ [0.5]
 * ```
 */
export function adagrad(opts: AdagradOptions = {}): GradientTransformation<AdagradState> {
  const { lr = 0.01, lrDecay = 0, weightDecay = 0, initialAccumulatorValue = 0, eps = 1e-10 } =
    opts;
  _checkLr("adagrad", lr);
  _check("adagrad", "lrDecay", lrDecay, lrDecay >= 0, "≥ 0");
  _check("adagrad", "weightDecay", weightDecay, weightDecay >= 0, "≥ 0");
  _check(
    "adagrad",
    "initialAccumulatorValue",
    initialAccumulatorValue,
    initialAccumulatorValue >= 0,
    "≥ 0",
  );
  _check("adagrad", "eps", eps, eps >= 0, "≥ 0");
  return {
    init: (params) => {
      const [ps, def] = _flat(params);
      return {
        count: _count0(),
        sum: def.unflatten(ps.map((p) => np.fullLike(p, initialAccumulatorValue))),
      };
    },
    update: (updates, state, params) => {
      const [gs0, def] = _flat(updates);
      const gs = _l2("adagrad", gs0, weightDecay, params, def);
      const sum = _like("adagrad", "state.sum", state.sum, def).map((s, i) =>
        s.add(np.square(gs[i]))
      );
      let rate = _lrAt(lr, state.count);
      if (lrDecay !== 0) {
        rate = np.divide(rate, state.count.astype("f32").mul(lrDecay).add(1));
      }
      const us = _descend(rate, gs.map((g, i) => g.div(np.sqrt(sum[i]).add(eps))));
      return [def.unflatten(us), { count: state.count.add(1), sum: def.unflatten(sum) }];
    },
  };
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

/** The state of {@linkcode rmsprop}. */
export interface RmspropState {
  /** Updates done so far (i32 scalar). */
  readonly count: Tensor;
  /** The running average of squared gradients `v`. */
  readonly squareAvg: unknown;
  /** The running average of gradients (centered only; else null). */
  readonly gradAvg: unknown;
  /** The momentum buffer `b` (momentum > 0 only; else null). */
  readonly momentumBuffer: unknown;
}

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
 * import { applyUpdates, rmsprop } from "./mod.ts";
 * import { np } from "../mod.ts";
 * const opt = rmsprop({ lr: 0.01, alpha: 0.99 });
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([3]), s, p);
 * console.log(await applyUpdates(p, u).toArray()); // ≈ [0.9] (1 − 0.01 / √0.01)
 * ```
 */
export function rmsprop(opts: RmspropOptions = {}): GradientTransformation<RmspropState> {
  const { lr = 0.01, alpha = 0.99, eps = 1e-8, weightDecay = 0, momentum = 0, centered = false } =
    opts;
  _checkLr("rmsprop", lr);
  _check("rmsprop", "alpha", alpha, alpha >= 0, "≥ 0");
  _check("rmsprop", "eps", eps, eps >= 0, "≥ 0");
  _check("rmsprop", "weightDecay", weightDecay, weightDecay >= 0, "≥ 0");
  _check("rmsprop", "momentum", momentum, momentum >= 0, "≥ 0");
  return {
    init: (params) => ({
      count: _count0(),
      squareAvg: _zerosLike(params),
      gradAvg: centered ? _zerosLike(params) : null,
      momentumBuffer: momentum > 0 ? _zerosLike(params) : null,
    }),
    update: (updates, state, params) => {
      const [gs0, def] = _flat(updates);
      const gs = _l2("rmsprop", gs0, weightDecay, params, def);
      const v = _like("rmsprop", "state.squareAvg", state.squareAvg, def)
        .map((v, i) => v.mul(alpha).add(np.square(gs[i]).mul(1 - alpha)));
      let vt = v, gAvg: Leaves | null = null;
      if (centered) {
        gAvg = _like("rmsprop", "state.gradAvg", state.gradAvg, def)
          .map((a, i) => a.mul(alpha).add(gs[i].mul(1 - alpha)));
        vt = v.map((vi, i) => vi.sub(np.square(gAvg![i])));
      }
      let ds = gs.map((g, i) => g.div(np.sqrt(vt[i]).add(eps)));
      let buf: Leaves | null = null;
      if (momentum > 0) {
        buf = _like("rmsprop", "state.momentumBuffer", state.momentumBuffer, def)
          .map((b, i) => b.mul(momentum).add(ds[i]));
        ds = buf;
      }
      const us = _descend(_lrAt(lr, state.count), ds);
      const un = (ls: Leaves | null) => (ls === null ? null : def.unflatten(ls));
      return [def.unflatten(us), {
        count: state.count.add(1),
        squareAvg: def.unflatten(v),
        gradAvg: un(gAvg),
        momentumBuffer: un(buf),
      }];
    },
  };
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

/** The state of {@linkcode adadelta}. */
export interface AdadeltaState {
  /** Updates done so far (i32 scalar). */
  readonly count: Tensor;
  /** The running average of squared gradients `v`. */
  readonly squareAvg: unknown;
  /** The running average of squared deltas `u`. */
  readonly accDelta: unknown;
}

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
 * import { adadelta, applyUpdates } from "./mod.ts";
 * import { np } from "../mod.ts";
 * const opt = adadelta();
 * let p = np.array([1]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([1]), s, p);
 * console.log(await applyUpdates(p, u).toArray()); // ≈ [0.9968] (Δ = √1e-6 / √0.1)
 * ```
 */
export function adadelta(opts: AdadeltaOptions = {}): GradientTransformation<AdadeltaState> {
  const { lr = 1.0, rho = 0.9, eps = 1e-6, weightDecay = 0 } = opts;
  _checkLr("adadelta", lr);
  _check("adadelta", "rho", rho, rho >= 0 && rho <= 1, "in [0, 1]");
  _check("adadelta", "eps", eps, eps >= 0, "≥ 0");
  _check("adadelta", "weightDecay", weightDecay, weightDecay >= 0, "≥ 0");
  return {
    init: (params) => ({
      count: _count0(),
      squareAvg: _zerosLike(params),
      accDelta: _zerosLike(params),
    }),
    update: (updates, state, params) => {
      const [gs0, def] = _flat(updates);
      const gs = _l2("adadelta", gs0, weightDecay, params, def);
      const v = _like("adadelta", "state.squareAvg", state.squareAvg, def)
        .map((v, i) => v.mul(rho).add(np.square(gs[i]).mul(1 - rho)));
      const u0 = _like("adadelta", "state.accDelta", state.accDelta, def);
      const delta = gs.map((g, i) => np.sqrt(u0[i].add(eps)).div(np.sqrt(v[i].add(eps))).mul(g));
      const u = u0.map((ui, i) => ui.mul(rho).add(np.square(delta[i]).mul(1 - rho)));
      const us = _descend(_lrAt(lr, state.count), delta);
      return [def.unflatten(us), {
        count: state.count.add(1),
        squareAvg: def.unflatten(v),
        accDelta: def.unflatten(u),
      }];
    },
  };
}
