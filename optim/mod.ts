/**
 * `optim`: Optax-style gradient transformations, PyTorch-exact optimizers and learning-rate
 * schedules.
 *
 * An optimizer is a {@linkcode GradientTransformation}: `init(params) → state` and
 * `update(grads, state, params?) → [updates, state]`; {@linkcode applyUpdates} adds the updates
 * to the parameters. State (including the step counter) is a pytree of device Tensors and
 * schedules are traced functions of that counter, so the whole train step — loss, gradient,
 * update, apply — jits into one program that is traced once and never reads a value back.
 *
 * @example
 * ```ts
 * import { adam, applyUpdates, chain, clipByGlobalNorm, cosineAnnealing } from "@denax/denax/optim";
 * import { jit, np, valueAndGrad } from "@denax/denax";
 * const loss = (p: any) => np.square(p.w.sub(np.array([1, 2]))).sum();
 * const opt = chain(clipByGlobalNorm(10), adam({ lr: cosineAnnealing({ init: 0.1, tMax: 300 }) }));
 * const step = jit((params: any, state: any) => {
 *   const [l, g] = valueAndGrad(loss)(params);
 *   const [u, s] = opt.update(g, state, params);
 *   return [applyUpdates(params, u), s, l];
 * });
 * let params: any = { w: np.zeros([2]) }, state: any = opt.init(params), l: any;
 * for (let i = 0; i < 300; i++) [params, state, l] = step(params, state);
 * console.log(await params.w.toArray(), step.traceCount); // ≈ [1, 2] 1
 * const err = await params.w.sub([1, 2]).abs().max().item();
 * if (Number(err) > 1e-2 || step.traceCount !== 1) throw new Error(`off by ${err}`);
 * ```
 *
 * @module
 */
export * from "./transform.ts";
export * from "./scale_by.ts";
export * from "./wrappers.ts";
export * from "./optimizers.ts";
export * from "./adam.ts";
export * from "./schedules.ts";
