/**
 * @internal Applying a layer or model to a batch, shared by `evaluate` and `fit` (not exported
 * from `train`).
 *
 * @module
 */
import type { Tensor } from "../core/tensor.ts";
import { type AnyLayer, isStateful } from "../layers/layer.ts";

/**
 * @internal The input and target of a batch `{ x, y }` or `[x, y]` (unchecked beyond that
 * form: the model and the metrics check their operands).
 */
export function _xy(where: string, batch: unknown): [Tensor, Tensor] {
  if (Array.isArray(batch) && batch.length === 2) return [batch[0] as Tensor, batch[1] as Tensor];
  if (batch !== null && typeof batch === "object" && "x" in batch && "y" in batch) {
    return [batch.x as Tensor, batch.y as Tensor];
  }
  throw new TypeError(
    `${where}: a model's batches must be { x, y } or [x, y], got ${
      batch === null || typeof batch !== "object" ? String(batch) : Object.keys(batch)
    }`,
  );
}

/**
 * @internal A layer's output in evaluation (`train: false`) or training mode, and its new state (the
 * given one for stateless layers).
 */
export function _applyModel(
  model: AnyLayer,
  params: unknown,
  state: unknown,
  x: unknown,
  train: boolean,
  key?: Tensor,
): [unknown, unknown] {
  if (isStateful(model)) {
    const r = model.apply(params, x, { state, train, key });
    return [r.y, r.state];
  }
  return [model.apply(params, x, { train, key }), state];
}

/** @internal Whether `x` is a layer (an object with `init` and `apply` functions and a `name`). */
export function isLayer(x: unknown): x is AnyLayer {
  return x !== null && typeof x === "object" &&
    typeof (x as AnyLayer).apply === "function" && typeof (x as AnyLayer).init === "function";
}
