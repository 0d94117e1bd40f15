/**
 * Gradient transformations in the style of Optax: a transformation is a pair of pure functions
 * `init(params) → state` and `update(updates, state, params?) → [updates, state]`, and
 * transformations compose with {@linkcode chain}. Every update is traced device code: nothing
 * reads a value back, so a whole train step jits into one program.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { _count0, _flat, _like, _lrAt } from "./_util.ts";
import { _addDecayedWeights } from "./_decay.ts";
import type { LearningRate } from "./schedules.ts";

/**
 * An Optax-style gradient transformation. `init` builds the state from the parameters;
 * `update` maps incoming updates (gradients, at the start of a chain) to outgoing updates and a
 * new state. The final updates are *added* to the parameters by {@linkcode applyUpdates}, so
 * optimizers return negative steps (`−lr · direction`).
 *
 * Both functions are pure and work on tracers: call them inside `jit`, `grad` or `vmap`.
 * The state is a pytree of Tensors, so it can be passed through (and donated to) a jitted step.
 *
 * @typeParam S the state's type
 */
export interface GradientTransformation<S = unknown> {
  /** Builds the initial state for parameters `params` (a pytree of Tensors). */
  init<T>(params: T): S;
  /**
   * Transforms `updates` (same structure as the parameters) given the state and, for
   * transformations that need them (weight decay), the current parameters.
   */
  update<T>(updates: T, state: S, params?: T): [T, S];
}

/** The state type of a transformation: `StateOf<typeof adam(…)>`. */
export type StateOf<G> = G extends GradientTransformation<infer S> ? S : never;

/** The state of {@linkcode chain}: the tuple of its parts' states, in order. */
export type ChainState<T extends readonly GradientTransformation<unknown>[]> = {
  -readonly [K in keyof T]: StateOf<T[K]>;
};

/** The state of stateless transformations: an empty object (an empty pytree). */
export type EmptyState = Record<string, never>;

/** The state of {@linkcode scaleByLearningRate}: the number of updates done so far. */
export interface ScheduleState {
  /** Step counter: an i32 scalar Tensor, incremented by every update. */
  readonly count: Tensor;
}

/**
 * Adds updates to parameters leafwise: `p ← p + u`. Leaves keep the parameters' dtype.
 *
 * @param params a pytree of Tensors
 * @param updates a pytree of the same structure (the output of an optimizer's `update`)
 * @returns the new parameters
 * @throws {TypeError} if the structures differ
 * @example
 * ```ts
 * import { applyUpdates } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const p = applyUpdates({ w: np.array([1, 2]) }, { w: np.array([0.5, -1]) });
 * const got = ((await p.w.toArray()) as number[]).map((v) => Math.round(v * 1e6) / 1e6);
 * console.log(got); // [1.5, 1]
 * if (JSON.stringify(got) !== JSON.stringify([1.5, 1])) throw new Error(`got ${got}`);
 * ```
 */
export function applyUpdates<T>(params: T, updates: T): T {
  const [ps, def] = _flat(params);
  const us = _like("applyUpdates", "updates", updates, def);
  return def.unflatten<T>(ps.map((p, i) => {
    const r = p.add(us[i]);
    return r.dtype === p.dtype ? r : r.astype(p.dtype);
  }));
}

/**
 * Composes transformations left to right: the updates of one feed the next. The state is the
 * array of the parts' states (Optax `chain`).
 *
 * @param transforms the transformations, applied in order
 * @returns the composed transformation
 * @example
 * ```ts
 * import { chain, clipByGlobalNorm, scaleByLearningRate } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = chain(clipByGlobalNorm(1), scaleByLearningRate(0.1));
 * const g = { w: np.array([3, 4]) };
 * const [u] = opt.update(g, opt.init(g));
 * const got = ((await u.w.toArray()) as number[]).map((v) => Math.round(v * 1e6) / 1e6);
 * console.log(got); // [-0.06, -0.08]
 * if (JSON.stringify(got) !== JSON.stringify([-0.06, -0.08])) throw new Error(`got ${got}`);
 * ```
 */
export function chain<const T extends readonly GradientTransformation<unknown>[]>(
  ...transforms: T
): GradientTransformation<ChainState<T>> {
  return {
    init: (params) => transforms.map((t) => t.init(params)) as ChainState<T>,
    update: (updates, state, params) => {
      if (!Array.isArray(state) || state.length !== transforms.length) {
        throw new TypeError(
          `chain.update: the state must be an array of ${transforms.length} states (from init)`,
        );
      }
      const next: unknown[] = [];
      let u = updates;
      transforms.forEach((t, i) => {
        const [u2, s2] = t.update(u, state[i], params);
        u = u2;
        next.push(s2);
      });
      return [u, next as ChainState<T>];
    },
  };
}

/**
 * The transformation that leaves updates unchanged (Optax `identity`).
 *
 * @returns a stateless transformation
 * @example
 * ```ts
 * import { identity } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const [u] = identity().update(np.array([1, 2]), {});
 * const got = ((await u.toArray()) as number[]).map((v) => Math.round(v * 1e6) / 1e6);
 * console.log(got); // [1, 2]
 * if (JSON.stringify(got) !== JSON.stringify([1, 2])) throw new Error(`got ${got}`);
 * ```
 */
export function identity(): GradientTransformation<EmptyState> {
  return { init: () => ({}), update: (updates, state) => [updates, state] };
}

/**
 * Multiplies updates by a constant: `u ← step · u` (Optax `scale`).
 *
 * @param step the factor
 * @returns a stateless transformation
 * @example
 * ```ts
 * import { scale } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const [u] = scale(-0.5).update(np.array([2, 4]), {});
 * const got = ((await u.toArray()) as number[]).map((v) => Math.round(v * 1e6) / 1e6);
 * console.log(got); // [-1, -2]
 * if (JSON.stringify(got) !== JSON.stringify([-1, -2])) throw new Error(`got ${got}`);
 * ```
 */
export function scale(step: number): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state) => {
      const [us, def] = _flat(updates);
      return [def.unflatten(us.map((u) => u.mul(step))), state];
    },
  };
}

/**
 * Scales updates by minus the learning rate: `u ← −lr(count) · u`, where `count` is the number
 * of updates done before this one (so the first update uses `lr(0)`). Optax
 * `scale_by_learning_rate`. The counter is a device scalar; a schedule is traced, never read.
 *
 * @param lr a number or a {@linkcode Schedule}
 * @returns a transformation whose state holds the step counter
 * @example
 * ```ts
 * import { exponentialLR, scaleByLearningRate } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const t = scaleByLearningRate(exponentialLR({ init: 1, gamma: 0.5 }));
 * let s = t.init(np.zeros([1]));
 * let u;
 * [u, s] = t.update(np.array([1]), s);
 * [u, s] = t.update(np.array([1]), s);
 * const got = ((await u.toArray()) as number[]).map((v) => Math.round(v * 1e6) / 1e6);
 * console.log(got); // [-0.5]
 * if (JSON.stringify(got) !== JSON.stringify([-0.5])) throw new Error(`got ${got}`);
 * ```
 */
export function scaleByLearningRate(lr: LearningRate): GradientTransformation<ScheduleState> {
  return {
    init: () => ({ count: _count0() }),
    update: (updates, state) => {
      const [us, def] = _flat(updates);
      const rate = _lrAt(lr, state.count);
      const factor = typeof rate === "number" ? -rate : rate.neg();
      return [def.unflatten(us.map((u) => u.mul(factor))), { count: state.count.add(1) }];
    },
  };
}

/**
 * Adds decayed weights: `u ← u + weightDecay · p` (Optax `add_decayed_weights`). Placed before
 * a learning-rate scaling it is an L2 penalty on the gradient (PyTorch's `weight_decay` of SGD
 * or Adam); placed after the preconditioner of Adam it gives AdamW's decoupled decay.
 *
 * @param weightDecay the decay coefficient λ
 * @param mask optional pytree of booleans (or a prefix of one, or a function of the params
 *   returning one): only leaves marked `true` are decayed, e.g. to skip biases
 * @returns a stateless transformation; its `update` needs `params`
 * @throws {TypeError} from `update` when `params` is missing
 * @example
 * ```ts
 * import { addDecayedWeights } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const p = { w: np.array([10]), b: np.array([10]) };
 * const g = { w: np.array([1]), b: np.array([1]) };
 * const [u] = addDecayedWeights(0.1, { w: true, b: false }).update(g, {}, p);
 * const round = (x: number[]) => x.map((v) => Math.round(v * 1e6) / 1e6);
 * const got = [round((await u.w.toArray()) as number[]), round((await u.b.toArray()) as number[])];
 * console.log(...got); // [2] [1]
 * if (JSON.stringify(got) !== JSON.stringify([[2], [1]])) throw new Error(`got ${got}`);
 * ```
 */
export function addDecayedWeights(
  weightDecay: number,
  mask?: MaskSpec,
): GradientTransformation<EmptyState> {
  return _addDecayedWeights("addDecayedWeights", weightDecay, mask);
}

/**
 * The global L2 norm of a pytree: `√(Σ_leaves Σ x²)` (Optax `global_norm`), as an f32 scalar
 * Tensor.
 *
 * @param updates a pytree of Tensors
 * @returns an f32[] Tensor
 * @example
 * ```ts
 * import { globalNorm } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const n = await globalNorm({ a: np.array([3]), b: np.array([[4]]) }).item();
 * console.log(n); // 5
 * if (n !== 5) throw new Error(`got ${n}`);
 * ```
 */
export function globalNorm(updates: unknown): Tensor {
  const [us] = _flat(updates);
  return np.sqrt(us.reduce((acc, u) => acc.add(np.square(u).sum()), np.zeros([])));
}

/**
 * Rescales all updates together so that their global norm is at most `maxNorm` (Optax
 * `clip_by_global_norm`): `u ← u · maxNorm / max(‖u‖, maxNorm)`. Updates with a smaller norm
 * are unchanged. PyTorch's `clip_grad_norm_` differs slightly: it divides by `‖u‖ + 1e-6`.
 *
 * @param maxNorm the largest allowed global norm (> 0)
 * @returns a stateless transformation
 * @throws {RangeError} if `maxNorm` is not positive
 * @example
 * ```ts
 * import { clipByGlobalNorm } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const [u] = clipByGlobalNorm(1).update({ a: np.array([3]), b: np.array([4]) }, {});
 * const round = (x: number[]) => x.map((v) => Math.round(v * 1e6) / 1e6);
 * const got = [round((await u.a.toArray()) as number[]), round((await u.b.toArray()) as number[])];
 * console.log(...got); // [0.6] [0.8]
 * if (JSON.stringify(got) !== JSON.stringify([[0.6], [0.8]])) throw new Error(`got ${got}`);
 * ```
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<EmptyState> {
  if (!(maxNorm > 0)) throw new RangeError(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  return {
    init: () => ({}),
    update: (updates, state) => {
      const [us, def] = _flat(updates);
      const factor = np.divide(maxNorm, np.maximum(globalNorm(updates), maxNorm));
      return [def.unflatten(us.map((u) => u.mul(factor))), state];
    },
  };
}

/**
 * Clips every update elementwise to `[min, max]` (Optax `clip(maxDelta)` is
 * `clipByValue(-maxDelta, maxDelta)`; PyTorch `clip_grad_value_(clip)` is
 * `clipByValue(-clip, clip)`). Either bound may be omitted (`null`/`undefined`).
 *
 * @param min the lower bound, or null for none
 * @param max the upper bound, or null for none
 * @returns a stateless transformation
 * @throws {RangeError} if `min > max`
 * @example
 * ```ts
 * import { clipByValue } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const [u] = clipByValue(-1, 1).update(np.array([-3, 0.5, 2]), {});
 * const got = ((await u.toArray()) as number[]).map((v) => Math.round(v * 1e6) / 1e6);
 * console.log(got); // [-1, 0.5, 1]
 * if (JSON.stringify(got) !== JSON.stringify([-1, 0.5, 1])) throw new Error(`got ${got}`);
 * ```
 */
export function clipByValue(
  min?: number | null,
  max?: number | null,
): GradientTransformation<EmptyState> {
  const lo = min ?? null, hi = max ?? null;
  if (lo !== null && hi !== null && lo > hi) {
    throw new RangeError(`clipByValue: min (${lo}) must not exceed max (${hi})`);
  }
  return {
    init: () => ({}),
    update: (updates, state) => {
      const [us, def] = _flat(updates);
      return [def.unflatten(us.map((u) => np.clip(u, lo, hi))), state];
    },
  };
}

/**
 * A mask: a pytree of booleans with the parameters' structure (or a prefix of it, where one
 * boolean covers a whole subtree), or a function of the parameters (or updates) returning one
 * (of any parameter type: `never` is the parameter type every such function accepts).
 */
export type MaskSpec = unknown | ((params: never) => unknown);
