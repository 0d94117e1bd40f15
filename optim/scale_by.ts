/**
 * The small transformations that optimizers are chained from, as Optax builds them:
 * preconditioners ({@linkcode scaleByAdam}, {@linkcode scaleByRms}, {@linkcode scaleByRss},
 * {@linkcode scaleByAdadelta}) and momentum ({@linkcode trace}). Each keeps PyTorch's
 * arithmetic (placement of `ε`, bias correction, first-step behaviour), so that
 * `chain(addDecayedWeights(λ), scaleByAdam(), scaleByLearningRate(γ))` is `torch.optim.Adam`
 * step for step. None of them scales by the learning rate or flips the sign: that is
 * `scaleByLearningRate`'s job at the end of a chain.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { _check, _count0, _flat, _like, _zerosLike, type Leaves } from "./_util.ts";
import type { GradientTransformation } from "./transform.ts";

/** Options of {@linkcode scaleByAdam}. */
export interface ScaleByAdamOptions {
  /** Decay β₁ of the first moment (default 0.9). */
  b1?: number;
  /** Decay β₂ of the second moment (default 0.999). */
  b2?: number;
  /** Added to the denominator after the square root (default 1e-8). */
  eps?: number;
  /** Use the running maximum of the raw second moment (AMSGrad; default false). */
  amsgrad?: boolean;
}

/** The state of {@linkcode scaleByAdam}. */
export interface ScaleByAdamState {
  /** Updates done so far (i32 scalar), for the bias correction. */
  readonly count: Tensor;
  /** First moment `m` (PyTorch `exp_avg`), the parameters' structure. */
  readonly mu: unknown;
  /** Second moment `v` (PyTorch `exp_avg_sq`). */
  readonly nu: unknown;
  /** Running maximum of `v` (amsgrad only; else null; PyTorch `max_exp_avg_sq`). */
  readonly nuMax: unknown;
}

/**
 * Adam's preconditioner (Optax `scale_by_adam`), in PyTorch's arrangement:
 * ```
 * m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²;   v̂ ← max(v̂, v) if amsgrad else v
 * u ← m / (√v̂ / √(1 − β₂ᵗ) + ε) / (1 − β₁ᵗ)
 * ```
 * AMSGrad keeps the maximum of the raw `v` and bias-corrects it afterwards, as PyTorch does.
 *
 * @param opts see {@linkcode ScaleByAdamOptions}
 * @param op the name used in error messages (the optimizer built on it)
 * @returns the transformation
 * @throws {RangeError} for β outside [0, 1) or a negative ε
 * @example
 * ```ts
 * import { scaleByAdam } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const t = scaleByAdam();
 * const [u] = t.update(np.array([0.5, -2]), t.init(np.zeros([2])));
 * console.log(await u.toArray()); // ≈ [1, -1]: the first step is g / |g|
 * const err = await u.sub([1, -1]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function scaleByAdam(
  opts: ScaleByAdamOptions = {},
  op = "scaleByAdam",
): GradientTransformation<ScaleByAdamState> {
  const { b1 = 0.9, b2 = 0.999, eps = 1e-8, amsgrad = false } = opts;
  _check(op, "betas[0]", b1, b1 >= 0 && b1 < 1, "in [0, 1)");
  _check(op, "betas[1]", b2, b2 >= 0 && b2 < 1, "in [0, 1)");
  _check(op, "eps", eps, eps >= 0, "≥ 0");
  return {
    init: (params) => ({
      count: _count0(),
      mu: _zerosLike(params),
      nu: _zerosLike(params),
      nuMax: amsgrad ? _zerosLike(params) : null,
    }),
    update: (updates, state) => {
      const [gs, def] = _flat(updates);
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
      const vs = vMax ?? v;
      const us = m.map((mi, i) => mi.div(np.sqrt(vs[i]).div(bc2Sqrt).add(eps)).div(bc1));
      return [def.unflatten(us), {
        count: state.count.add(1),
        mu: def.unflatten(m),
        nu: def.unflatten(v),
        nuMax: vMax === null ? null : def.unflatten(vMax),
      }];
    },
  };
}

/** Options of {@linkcode scaleByRms}. */
export interface ScaleByRmsOptions {
  /** Smoothing constant α of the running averages (default 0.99, PyTorch's). */
  decay?: number;
  /** Added to the denominator after the square root (default 1e-8). */
  eps?: number;
  /** Normalise by an estimate of the variance instead of the raw second moment. */
  centered?: boolean;
}

/** The state of {@linkcode scaleByRms}. */
export interface ScaleByRmsState {
  /** The running average of squared gradients `v`. */
  readonly squareAvg: unknown;
  /** The running average of gradients `ḡ` (centered only; else null). */
  readonly gradAvg: unknown;
}

/**
 * RMSprop's preconditioner (Optax `scale_by_rms` / `scale_by_stddev` when centered), with
 * PyTorch's placement of `ε` after the square root:
 * ```
 * v ← α v + (1 − α) g²;   ṽ ← v − ḡ² with ḡ ← α ḡ + (1 − α) g if centered, else ṽ ← v
 * u ← g / (√ṽ + ε)
 * ```
 *
 * @param opts see {@linkcode ScaleByRmsOptions}
 * @param op the name used in error messages
 * @returns the transformation
 * @throws {RangeError} for a negative α or ε
 * @example
 * ```ts
 * import { scaleByRms } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const t = scaleByRms({ decay: 0.99 });
 * const [u] = t.update(np.array([3]), t.init(np.zeros([1])));
 * console.log(await u.toArray()); // ≈ [10]: 3 / √(0.01 · 9)
 * const err = await u.sub([10]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function scaleByRms(
  opts: ScaleByRmsOptions = {},
  op = "scaleByRms",
): GradientTransformation<ScaleByRmsState> {
  const { decay = 0.99, eps = 1e-8, centered = false } = opts;
  _check(op, "alpha", decay, decay >= 0, "≥ 0");
  _check(op, "eps", eps, eps >= 0, "≥ 0");
  return {
    init: (params) => ({
      squareAvg: _zerosLike(params),
      gradAvg: centered ? _zerosLike(params) : null,
    }),
    update: (updates, state) => {
      const [gs, def] = _flat(updates);
      const v = _like(op, "state.squareAvg", state.squareAvg, def)
        .map((v, i) => v.mul(decay).add(np.square(gs[i]).mul(1 - decay)));
      let vt = v, gAvg: Leaves | null = null;
      if (centered) {
        gAvg = _like(op, "state.gradAvg", state.gradAvg, def)
          .map((a, i) => a.mul(decay).add(gs[i].mul(1 - decay)));
        vt = v.map((vi, i) => vi.sub(np.square(gAvg![i])));
      }
      const us = gs.map((g, i) => g.div(np.sqrt(vt[i]).add(eps)));
      return [def.unflatten(us), {
        squareAvg: def.unflatten(v),
        gradAvg: gAvg === null ? null : def.unflatten(gAvg),
      }];
    },
  };
}

/** Options of {@linkcode scaleByRss}. */
export interface ScaleByRssOptions {
  /** Initial value of the accumulator (default 0, PyTorch's). */
  initialAccumulatorValue?: number;
  /** Added to the denominator after the square root (default 1e-10). */
  eps?: number;
}

/** The state of {@linkcode scaleByRss}. */
export interface ScaleByRssState {
  /** The accumulated squared gradients (PyTorch `state_sum`). */
  readonly sum: unknown;
}

/**
 * Adagrad's preconditioner (Optax `scale_by_rss`, root of the sum of squares), with PyTorch's
 * `ε` after the square root: `s ← s + g²;  u ← g / (√s + ε)`.
 *
 * @param opts see {@linkcode ScaleByRssOptions}
 * @param op the name used in error messages
 * @returns the transformation
 * @throws {RangeError} for a negative initial value or ε
 * @example
 * ```ts
 * import { scaleByRss } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const t = scaleByRss();
 * const [u] = t.update(np.array([2]), t.init(np.zeros([1])));
 * console.log(await u.toArray()); // ≈ [1]
 * const err = await u.sub([1]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function scaleByRss(
  opts: ScaleByRssOptions = {},
  op = "scaleByRss",
): GradientTransformation<ScaleByRssState> {
  const { initialAccumulatorValue = 0, eps = 1e-10 } = opts;
  const init0 = initialAccumulatorValue;
  _check(op, "initialAccumulatorValue", init0, init0 >= 0, "≥ 0");
  _check(op, "eps", eps, eps >= 0, "≥ 0");
  return {
    init: (params) => {
      const [ps, def] = _flat(params);
      return { sum: def.unflatten(ps.map((p) => np.fullLike(p, init0))) };
    },
    update: (updates, state) => {
      const [gs, def] = _flat(updates);
      const sum = _like(op, "state.sum", state.sum, def).map((s, i) => s.add(np.square(gs[i])));
      const us = gs.map((g, i) => g.div(np.sqrt(sum[i]).add(eps)));
      return [def.unflatten(us), { sum: def.unflatten(sum) }];
    },
  };
}

/** Options of {@linkcode scaleByAdadelta}. */
export interface ScaleByAdadeltaOptions {
  /** Decay ρ of the running averages (default 0.9). */
  rho?: number;
  /** Added inside both square roots (default 1e-6). */
  eps?: number;
}

/** The state of {@linkcode scaleByAdadelta}. */
export interface ScaleByAdadeltaState {
  /** The running average of squared gradients `v`. */
  readonly squareAvg: unknown;
  /** The running average of squared deltas `u`. */
  readonly accDelta: unknown;
}

/**
 * Adadelta's preconditioner (Optax `scale_by_adadelta`), PyTorch's arithmetic:
 * ```
 * v ← ρ v + (1 − ρ) g²;   Δ ← √(u + ε) / √(v + ε) · g;   u ← ρ u + (1 − ρ) Δ²
 * ```
 * The output is `Δ`.
 *
 * @param opts see {@linkcode ScaleByAdadeltaOptions}
 * @param op the name used in error messages
 * @returns the transformation
 * @throws {RangeError} for ρ outside [0, 1] or a negative ε
 * @example
 * ```ts
 * import { scaleByAdadelta } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const t = scaleByAdadelta();
 * const [u] = t.update(np.array([1]), t.init(np.zeros([1])));
 * console.log(await u.toArray()); // ≈ [0.00316]: √1e-6 / √0.1
 * const err = await u.sub([0.00316]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function scaleByAdadelta(
  opts: ScaleByAdadeltaOptions = {},
  op = "scaleByAdadelta",
): GradientTransformation<ScaleByAdadeltaState> {
  const { rho = 0.9, eps = 1e-6 } = opts;
  _check(op, "rho", rho, rho >= 0 && rho <= 1, "in [0, 1]");
  _check(op, "eps", eps, eps >= 0, "≥ 0");
  return {
    init: (params) => ({ squareAvg: _zerosLike(params), accDelta: _zerosLike(params) }),
    update: (updates, state) => {
      const [gs, def] = _flat(updates);
      const v = _like(op, "state.squareAvg", state.squareAvg, def)
        .map((v, i) => v.mul(rho).add(np.square(gs[i]).mul(1 - rho)));
      const u0 = _like(op, "state.accDelta", state.accDelta, def);
      const delta = gs.map((g, i) => np.sqrt(u0[i].add(eps)).div(np.sqrt(v[i].add(eps))).mul(g));
      const u = u0.map((ui, i) => ui.mul(rho).add(np.square(delta[i]).mul(1 - rho)));
      return [def.unflatten(delta), { squareAvg: def.unflatten(v), accDelta: def.unflatten(u) }];
    },
  };
}

/** Options of {@linkcode trace}. */
export interface TraceOptions {
  /** Momentum factor μ. */
  decay: number;
  /** Dampening τ (default 0): the new update enters the buffer as `(1 − τ) g`. */
  dampening?: number;
  /** Nesterov momentum: output `g + μ b` instead of `b` (default false). */
  nesterov?: boolean;
}

/** The state of {@linkcode trace}. */
export interface TraceState {
  /** The momentum buffer `b` (the parameters' structure). */
  readonly momentumBuffer: unknown;
  /** Updates done so far (i32 scalar); only kept with dampening, for PyTorch's first step. */
  readonly count: Tensor | null;
}

/**
 * Momentum (Optax `trace`) with PyTorch's rule:
 * ```
 * b ← g at the first step, else b ← μ b + (1 − τ) g
 * u ← g + μ b if nesterov, else b
 * ```
 * Without dampening the first-step rule equals a zero-initialised buffer, so no counter is
 * kept; with dampening the first step is a traced `np.where` on a counter.
 *
 * @param opts see {@linkcode TraceOptions}
 * @param op the name used in error messages
 * @returns the transformation
 * @throws {RangeError} for a negative μ, or nesterov without momentum or with dampening
 * @example
 * ```ts
 * import { trace } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const t = trace({ decay: 0.9 });
 * let s = t.init(np.zeros([1])), u;
 * [u, s] = t.update(np.array([1]), s);
 * [u, s] = t.update(np.array([1]), s);
 * console.log(await u.toArray()); // ≈ [1.9]
 * const err = await u.sub([1.9]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function trace(opts: TraceOptions, op = "trace"): GradientTransformation<TraceState> {
  const { decay, dampening = 0, nesterov = false } = opts;
  _check(op, "momentum", decay, decay >= 0, "≥ 0");
  if (nesterov && (decay <= 0 || dampening !== 0)) {
    throw new RangeError(`${op}: nesterov momentum requires a momentum > 0 and zero dampening`);
  }
  return {
    init: (params) => ({
      momentumBuffer: _zerosLike(params),
      count: dampening === 0 ? null : _count0(),
    }),
    update: (updates, state) => {
      const [gs, def] = _flat(updates);
      const bs = _like(op, "state.momentumBuffer", state.momentumBuffer, def);
      let buf = bs.map((b, i) =>
        b.mul(decay).add(dampening === 0 ? gs[i] : gs[i].mul(1 - dampening))
      );
      if (state.count !== null) {
        const first = state.count.equal(0);
        buf = buf.map((b, i) => np.where(first, gs[i], b));
      }
      const us = nesterov ? gs.map((g, i) => g.add(buf[i].mul(decay))) : buf;
      return [def.unflatten(us), {
        momentumBuffer: def.unflatten(buf),
        count: state.count === null ? null : state.count.add(1),
      }];
    },
  };
}
