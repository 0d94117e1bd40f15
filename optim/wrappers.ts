/**
 * Wrappers that change how an inner transformation sees the updates: {@linkcode masked}
 * (apply it to a subset of the parameters) and {@linkcode multiSteps} (gradient accumulation).
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { _count0, _flat, _like, _zerosLike } from "./_util.ts";
import { _maskFlags } from "./_decay.ts";
import type { GradientTransformation, MaskSpec } from "./transform.ts";

/** The state of {@linkcode masked}: the inner state, over the masked leaves only. */
export interface MaskedState<S> {
  /** The inner transformation's state (unmasked leaves are `null`, i.e. absent). */
  readonly inner: S;
}

/**
 * Applies `inner` only to the leaves where `mask` is true; the other updates pass through
 * unchanged (Optax `masked`). The inner state covers only the masked leaves: unmasked leaves
 * are replaced by `null` (an empty subtree) before `inner` sees the tree.
 *
 * @param inner the transformation to apply to the masked leaves
 * @param mask a pytree of booleans with the parameters' structure (or a prefix of it), or a
 *   function returning one; the function is called with the parameters in `init` and with
 *   the updates in `update`, as Optax does
 * @returns the masked transformation
 * @throws {TypeError} when the mask does not match the parameters' structure
 * @example
 * ```ts
 * import { masked, scale } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const t = masked(scale(10), { w: true, b: false });
 * const g = { w: np.array([1]), b: np.array([1]) };
 * const [u] = t.update(g, t.init(g));
 * const w = await u.w.toArray(), b = await u.b.toArray();
 * console.log(w, b); // [10] [1]: only the masked-in leaf is scaled
 * if (JSON.stringify([w, b]) !== "[[10],[1]]") throw new Error(`got ${w} ${b}`);
 * ```
 */
export function masked<S>(
  inner: GradientTransformation<S>,
  mask: MaskSpec,
): GradientTransformation<MaskedState<S>> {
  const select = <T>(tr: T, flags: boolean[]): T => {
    const [ls, def] = _flat(tr);
    return def.unflatten<T>(ls.map((l, i) => (flags[i] ? l : null)));
  };
  return {
    init: (params) => ({ inner: inner.init(select(params, _maskFlags(mask, params, "masked"))) }),
    update: (updates, state, params) => {
      const flags = _maskFlags(mask, updates, "masked");
      const [us, def] = _flat(updates);
      if (params !== undefined) _like("masked", "params", params, def);
      const [iu, is] = inner.update(
        select(updates, flags),
        state.inner,
        params === undefined ? undefined : select(params, flags),
      );
      const [ils] = _flat(iu);
      let j = 0;
      const out = us.map((u, i) => (flags[i] ? ils[j++] : u));
      if (j !== ils.length) {
        throw new Error(
          `internal: masked: the inner update returned ${ils.length} leaves, not ${j}`,
        );
      }
      return [def.unflatten(out), { inner: is }];
    },
  };
}

/** The state of {@linkcode multiSteps}. */
export interface MultiStepsState<S> {
  /** Mini-steps accumulated since the last inner update (i32 scalar, 0 … everyK − 1). */
  readonly miniStep: Tensor;
  /** The sum of the gradients accumulated since the last inner update. */
  readonly acc: unknown;
  /** The inner transformation's state; it changes only on every `everyK`-th update. */
  readonly inner: S;
}

/**
 * Gradient accumulation (Optax `MultiSteps`): accumulates `everyK` successive gradients and,
 * on every `everyK`-th call, passes their mean `(g₁ + … + g_k) / k` to `inner` and returns its
 * updates; the other calls return zero updates and leave the inner state unchanged. The choice
 * is traced with `np.where` on a device counter, never read back, so the same jitted step
 * serves every call (the inner update is computed every call and selected).
 *
 * With `inner = sgd({ lr })`, k accumulated steps of batch size b equal one step of batch size
 * k·b (for a loss that is a mean over the batch).
 *
 * @param inner the transformation applied to the averaged gradients
 * @param everyK the number of gradients per inner update (a positive integer)
 * @returns the accumulating transformation
 * @throws {RangeError} if `everyK` is not a positive integer
 * @example
 * ```ts
 * import { applyUpdates, multiSteps, sgd } from "@denax/denax/optim";
 * import { np } from "@denax/denax";
 * const opt = multiSteps(sgd({ lr: 1 }), 2);
 * let p = np.array([0]), s = opt.init(p), u;
 * [u, s] = opt.update(np.array([1]), s, p);
 * p = applyUpdates(p, u); // unchanged
 * [u, s] = opt.update(np.array([3]), s, p);
 * p = applyUpdates(p, u);
 * console.log(await p.toArray()); // [-2]: one step with the mean gradient 2
 * const err = await p.sub([-2]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function multiSteps<S>(
  inner: GradientTransformation<S>,
  everyK: number,
): GradientTransformation<MultiStepsState<S>> {
  if (!Number.isInteger(everyK) || everyK < 1) {
    throw new RangeError(`multiSteps: everyK must be a positive integer, got ${everyK}`);
  }
  return {
    init: (params) => ({ miniStep: _count0(), acc: _zerosLike(params), inner: inner.init(params) }),
    update: (updates, state, params) => {
      const [gs, def] = _flat(updates);
      const acc = _like("multiSteps", "state.acc", state.acc, def).map((a, i) => a.add(gs[i]));
      const emit = state.miniStep.equal(everyK - 1); // bool[]: this call applies the update
      const mean = def.unflatten<typeof updates>(acc.map((a) => a.div(everyK)));
      const [iu, is] = inner.update(mean, state.inner, params);
      const [ius] = _flat(iu);
      const [newInner, sdef] = _flat(is);
      const oldInner = _like("multiSteps", "state.inner", state.inner, sdef);
      return [
        def.unflatten(ius.map((u) => np.where(emit, u, 0))),
        {
          miniStep: np.where(emit, 0, state.miniStep.add(1)),
          acc: def.unflatten(acc.map((a) => np.where(emit, 0, a))),
          inner: sdef.unflatten<S>(newInner.map((n, i) => np.where(emit, n, oldInner[i]))),
        },
      ];
    },
  };
}
