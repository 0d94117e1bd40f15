/**
 * denax: JAX's model of computation for Deno — immutable arrays, pure functions, and
 * composable `grad` / `vmap` / `jit` over a traced IR.
 *
 * @example
 * ```ts
 * import { grad, init, jit, np } from "@denax/denax";
 * await init({ backend: "cpu" });
 * const loss = (w: any, x: any, y: any) => np.square(np.matmul(x, w).sub(y)).mean();
 * const step = jit((w: any, x: any, y: any) => w.sub(grad(loss)(w, x, y).mul(0.1)));
 * let w = np.zeros([2]);
 * const x = np.array([[1, 0], [0, 1], [1, 1]]), y = np.array([1, 2, 3]);
 * for (let i = 0; i < 100; i++) w = step(w, x, y);
 * console.log(await w.toArray()); // ≈ [1, 2]
 * const err = await w.sub([1, 2]).abs().max().item();
 * if (Number(err) > 0.05) throw new Error(`off by ${err}`);
 * ```
 *
 * @module
 */
export { backendInfo, init, type InitOptions } from "./core/init.ts";
export {
  type Axis,
  type NestedArray,
  type ReduceOptions,
  Tensor,
  type TensorLike,
  Tracer,
} from "./core/tensor.ts";
export type { DType, TypedArray } from "./core/dtype.ts";
export { ShapedArray } from "./core/aval.ts";
export { ConcretizationError, TracerLeakError } from "./core/errors.ts";
export * as np from "./core/numpy.ts";
export * as tree from "./core/tree.ts";
export type { Tree } from "./core/tree.ts";
export type * from "./core/transform_types.ts";
export {
  grad,
  type GradOptions,
  hessian,
  jacfwd,
  jacrev,
  jit,
  type JitOptions,
  type Jitted,
  jvp,
  linearize,
  makeJaxpr,
  valueAndGrad,
  vjp,
  vmap,
  type VmapOptions,
} from "./core/transforms.ts";
export { compileStats, jitCacheLimits } from "./core/jit_prim.ts";
export { ClosedJaxpr, type Eqn, Jaxpr, Var } from "./core/jaxpr.ts";
export {
  type HostArray,
  type Params,
  type Primitive,
  type PrimitiveRules,
  UndefinedPrimal,
} from "./core/primitive.ts";
export * as lax from "./core/lax.ts";
export {
  checkpoint,
  customJvp,
  type CustomJvpFunction,
  customVjp,
  type CustomVjpFunction,
} from "./core/custom.ts";
export * as random from "./core/random.ts";
export * as optim from "./optim/mod.ts";
export * as nn from "./layers/mod.ts";
export * as data from "./data/mod.ts";
export * as train from "./train/mod.ts";
export * as models from "./models/mod.ts";

// The webgpu backend registers itself with the core; `init()` prefers it where an adapter exists.
import { registerWebGpuBackend } from "./gpu/backend.ts";
registerWebGpuBackend();
// The native CPU backend (BLAS through Deno.dlopen); `init()` prefers it where WebGPU has only a
// software adapter or none. Its modules load when it is first created: their Wasm kernel
// builders and worker pool (`node:worker_threads`, which starts Deno's Node compatibility layer)
// would otherwise cost every process's import, whichever backend it uses.
import { registerBackend } from "./core/backend.ts";
import { softwareOnlyAdapter } from "./native/select.ts";
registerBackend(
  "native",
  async () => (await import("./native/backend.ts")).createNativeBackend(),
  softwareOnlyAdapter,
);
