/**
 * Helpers for the reference implementations: output allocation (with a float64 mode that the
 * gradient tests use for central differences) and index arithmetic.
 *
 * @module
 */
import type { ShapedArray } from "../aval.ts";
import { allocTyped, type TypedArray } from "../dtype.ts";

let _f64 = false;

/** Runs `fn` with reference implementations allocating f32 outputs as Float64Array. */
export function withFloat64<T>(fn: () => T): T {
  const prev = _f64;
  _f64 = true;
  try {
    return fn();
  } finally {
    _f64 = prev;
  }
}

/** Allocates the output array of a reference implementation. */
export function alloc(aval: ShapedArray): TypedArray {
  if (_f64 && aval.dtype === "f32") return new Float64Array(aval.size);
  return allocTyped(aval.dtype, aval.size);
}

/** Calls `fn` with the multi-index of every element of `shape`, in row-major order. */
export function forEachIndex(
  shape: readonly number[],
  fn: (idx: number[], flat: number) => void,
): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const idx = new Array(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(idx, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}
