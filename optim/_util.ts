/**
 * Private helpers of the optimizers: leafwise flattening with structure checks, the device
 * step counter, and learning-rate evaluation. Not part of the public API.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { Tensor } from "../core/tensor.ts";
import * as tree from "../core/tree.ts";
import type { LearningRate } from "./schedules.ts";

/** Flattens a pytree of updates into Tensor leaves (numbers become f32 scalars). */
export function _flat(tr: unknown): [Tensor[], tree.TreeDef] {
  const [ls, def] = tree.flatten(tr);
  return [ls.map((l) => (l instanceof Tensor ? l : np.asarray(l as number))), def];
}

/**
 * The leaves of `tr`, which must have the structure `def` (the updates' structure).
 * @throws {TypeError} naming the operation and both structures when they differ
 */
export function _like(op: string, what: string, tr: unknown, def: tree.TreeDef): Tensor[] {
  const [ls, d] = _flat(tr);
  if (!d.equals(def)) {
    throw new TypeError(`${op}: ${what} has structure ${d} but the updates have ${def}`);
  }
  return ls;
}

/** The leaves of `params`, which `op` needs (for weight decay) and must match `def`. */
export function _params(op: string, params: unknown, def: tree.TreeDef): Tensor[] {
  if (params === undefined) {
    throw new TypeError(
      `${op}: weight decay needs the parameters\nhelp: call update(grads, state, params)`,
    );
  }
  return _like(op, "params", params, def);
}

/** A fresh step counter: an i32 scalar 0 on the device. */
export function _count0(): Tensor {
  return np.zeros([], "i32");
}

/** Zeros with the structure, shapes and dtypes of `params`. */
export function _zerosLike<T>(params: T): T {
  const [ls, def] = _flat(params);
  return def.unflatten<T>(ls.map((p) => np.zerosLike(p)));
}

/** The learning rate at `count` (the number of updates done so far), never read back. */
export function _lrAt(lr: LearningRate, count: Tensor): number | Tensor {
  return typeof lr === "number" ? lr : lr(count);
}

/** Checks a numeric hyperparameter and throws a RangeError naming it when `ok` fails. */
export function _check(op: string, name: string, value: number, ok: boolean, want: string): void {
  if (!ok || Number.isNaN(value)) {
    throw new RangeError(`${op}: ${name} must be ${want}, got ${value}`);
  }
}

/** Checks a learning rate (numbers must be ≥ 0; schedules are not checked). */
export function _checkLr(op: string, lr: LearningRate): void {
  if (typeof lr === "number") _check(op, "lr", lr, lr >= 0, "≥ 0");
  else if (typeof lr !== "function") {
    throw new TypeError(`${op}: lr must be a number or a schedule, got ${String(lr)}`);
  }
}

/** Flat leaves of a pytree. */
export type Leaves = Tensor[];
