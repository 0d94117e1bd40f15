/**
 * The layer protocol: a layer is a pair of pure functions over a parameter pytree, `init` and
 * `apply`, with hyperparameters in the closure. Stateful layers (batch norm) keep their state
 * in a second pytree and return it from `apply`.
 *
 * Parameter names follow PyTorch's `state_dict` (Linear: `weight` [out, in] and `bias`;
 * BatchNorm state: `running_mean`, `running_var`, `num_batches_tracked`; LSTM: `weight_ih_l0`,
 * …), so a PyTorch checkpoint maps onto our pytrees name for name.
 *
 * @module
 */
import type { Tensor } from "../core/tensor.ts";

/** A parameter pytree: nested objects/arrays of Tensors (`any`: the default of layers that do not name their params type). */
// deno-lint-ignore no-explicit-any -- the params default of layers that do not name their type
export type Params = any;
/** A state pytree (running statistics), or null for stateless layers. */
// deno-lint-ignore no-explicit-any -- the state default of layers that do not name their type
export type State = any;

/** Options of `apply`. */
export interface ApplyOptions {
  /** Training mode (dropout active, batch statistics used and updated). Default false. */
  train?: boolean;
  /** PRNG key for stochastic layers (dropout, noise); required when they are active. */
  key?: Tensor;
  /** The layer's state pytree (stateful layers only). */
  state?: State;
}

/** A stateless layer: `apply` returns the output. */
export interface Layer<P = Params, In = Tensor, Out = Tensor> {
  /** Human-readable name, e.g. "Linear(784 → 256)". */
  readonly name: string;
  /** Creates parameters from a PRNG key. */
  init(key: Tensor): P;
  /** Applies the layer. */
  apply(params: P, x: In, opts?: ApplyOptions): Out;
  /** Marks stateless layers. */
  readonly stateful?: false;
}

/** A stateful layer: `apply` returns `{ y, state }`. */
export interface StatefulLayer<P = Params, S = State, In = Tensor, Out = Tensor> {
  /** Human-readable name. */
  readonly name: string;
  /** Creates parameters from a PRNG key. */
  init(key: Tensor): P;
  /** Creates the initial state. */
  initState(): S;
  /** Applies the layer, returning the output and the new state. */
  apply(params: P, x: In, opts?: ApplyOptions & { state?: S }): { y: Out; state: S };
  /** Marks stateful layers. */
  readonly stateful: true;
}

/** Either kind of layer. */
// deno-lint-ignore no-explicit-any -- any layer, whatever its types (variance escape)
export type AnyLayer = Layer<any, any, any> | StatefulLayer<any, any, any, any>;

/** Whether a layer carries state. */
// deno-lint-ignore no-explicit-any -- any layer, whatever its types (variance escape)
export function isStateful(l: AnyLayer): l is StatefulLayer<any, any, any, any> {
  return l.stateful === true;
}

/** Throws a TypeError naming the layer and the expected input shape when `x` does not fit. */
export function checkInput(
  layer: string,
  x: Tensor,
  expected: readonly (number | string)[],
): void {
  const nd = expected.length;
  const ok = x.ndim === nd &&
    expected.every((d, i) => typeof d === "string" || d === x.shape[i]);
  if (!ok) {
    throw new TypeError(
      `${layer} expects input [${expected.join(", ")}], got ${x.aval}`,
    );
  }
}
