/**
 * `lax`: the primitives themselves, plus `dotGeneral`, `convGeneralDilated`, `reduceWindow`,
 * `stopGradient`, and structured control flow (`scan`, `cond`, `whileLoop`, `foriLoop`).
 *
 * @module
 */
// The wrappers below restate the primitives' public functions (core/prims/*) as local
// declarations: deno doc, and so JSR, lists a namespace member of the package root only when it
// is declared in the namespace's module or comes through `export *`, and the prims files also
// export their primitives and internal helpers.
import * as ew from "./prims/elementwise.ts";
import * as st from "./prims/structural.ts";
import * as red from "./prims/reduce.ts";
import * as lin from "./prims/linalg.ts";
import * as ix from "./prims/indexing.ts";
import * as srt from "./prims/sort.ts";
import * as cum from "./prims/cumulative.ts";
import * as tf from "./prims/threefry_prim.ts";
import type { DType } from "./dtype.ts";
import type { Tensor } from "./tensor.ts";

/** Absolute value. */
export const abs: (x: Tensor) => Tensor = ew.abs;

/** arccos. */
export const acos: (x: Tensor) => Tensor = ew.acos;

/** x + y. */
export const add: (x: Tensor, y: Tensor) => Tensor = ew.add;

/** Logical/bitwise and. */
export const and: (x: Tensor, y: Tensor) => Tensor = ew.and;

/** arcsin. */
export const asin: (x: Tensor) => Tensor = ew.asin;

/** arctan. */
export const atan: (x: Tensor) => Tensor = ew.atan;

/** atan2(y, x). */
export const atan2: (x: Tensor, y: Tensor) => Tensor = ew.atan2;

/** Reinterprets the 32-bit pattern as another dtype. */
export function bitcast(x: Tensor, dtype: DType): Tensor {
  return ew.bitcast(x, dtype);
}

/** ceil. */
export const ceil: (x: Tensor) => Tensor = ew.ceil;

/** Converts the dtype (floats to ints truncate toward zero and saturate). */
export function convert(x: Tensor, dtype: DType): Tensor {
  return ew.convert(x, dtype);
}

/** cos. */
export const cos: (x: Tensor) => Tensor = ew.cos;

/** cosh. */
export const cosh: (x: Tensor) => Tensor = ew.cosh;

/** x / y (integers truncate toward zero). */
export const div: (x: Tensor, y: Tensor) => Tensor = ew.div;

/** x == y. */
export const eq: (x: Tensor, y: Tensor) => Tensor = ew.eq;

/** The error function. */
export const erf: (x: Tensor) => Tensor = ew.erf;

/** The inverse error function. */
export const erfInv: (x: Tensor) => Tensor = ew.erfInv;

/** e^x. */
export const exp: (x: Tensor) => Tensor = ew.exp;

/** e^x − 1. */
export const expm1: (x: Tensor) => Tensor = ew.expm1;

/** floor. */
export const floor: (x: Tensor) => Tensor = ew.floor;

/** x >= y. */
export const ge: (x: Tensor, y: Tensor) => Tensor = ew.ge;

/** x > y. */
export const gt: (x: Tensor, y: Tensor) => Tensor = ew.gt;

/** ±∞ test. */
export const isInf: (x: Tensor) => Tensor = ew.isInf;

/** NaN test. */
export const isNan: (x: Tensor) => Tensor = ew.isNan;

/** x <= y. */
export const le: (x: Tensor, y: Tensor) => Tensor = ew.le;

/** Natural log. */
export const log: (x: Tensor) => Tensor = ew.log;

/** log(1 + x). */
export const log1p: (x: Tensor) => Tensor = ew.log1p;

/** The logistic sigmoid 1/(1+e^−x), stable for large |x|. */
export const logistic: (x: Tensor) => Tensor = ew.logistic;

/** x < y. */
export const lt: (x: Tensor, y: Tensor) => Tensor = ew.lt;

/** Elementwise max (propagates NaN). */
export const max: (x: Tensor, y: Tensor) => Tensor = ew.max;

/** Elementwise min (propagates NaN). */
export const min: (x: Tensor, y: Tensor) => Tensor = ew.min;

/** x · y. */
export const mul: (x: Tensor, y: Tensor) => Tensor = ew.mul;

/** x != y. */
export const ne: (x: Tensor, y: Tensor) => Tensor = ew.ne;

/** Negation. */
export const neg: (x: Tensor) => Tensor = ew.neg;

/** Logical not (bool) or bitwise not (ints). */
export const not: (x: Tensor) => Tensor = ew.not;

/** Logical/bitwise or. */
export const or: (x: Tensor, y: Tensor) => Tensor = ew.or;

/** x^y. */
export const pow: (x: Tensor, y: Tensor) => Tensor = ew.pow;

/** Remainder with the sign of the dividend (C fmod). */
export const rem: (x: Tensor, y: Tensor) => Tensor = ew.rem;

/** Round half to even. */
export const round: (x: Tensor) => Tensor = ew.round;

/** 1/√x. */
export const rsqrt: (x: Tensor) => Tensor = ew.rsqrt;

/** `where(pred, onTrue, onFalse)` on equal shapes. */
export function select(pred: Tensor, onTrue: Tensor, onFalse: Tensor): Tensor {
  return ew.select(pred, onTrue, onFalse);
}

/** x << y. */
export const shiftLeft: (x: Tensor, y: Tensor) => Tensor = ew.shiftLeft;

/** x >>> y. */
export const shiftRightLogical: (x: Tensor, y: Tensor) => Tensor = ew.shiftRightLogical;

/** Sign (−1, 0, 1). */
export const sign: (x: Tensor) => Tensor = ew.sign;

/** sin. */
export const sin: (x: Tensor) => Tensor = ew.sin;

/** sinh. */
export const sinh: (x: Tensor) => Tensor = ew.sinh;

/** √x. */
export const sqrt: (x: Tensor) => Tensor = ew.sqrt;

/** Identity whose derivative is zero. */
export const stopGradient: (x: Tensor) => Tensor = ew.stopGradient;

/** x − y. */
export const sub: (x: Tensor, y: Tensor) => Tensor = ew.sub;

/** tan. */
export const tan: (x: Tensor) => Tensor = ew.tan;

/** tanh. */
export const tanh: (x: Tensor) => Tensor = ew.tanh;

/** Logical/bitwise xor. */
export const xor: (x: Tensor, y: Tensor) => Tensor = ew.xor;

/** Broadcasts `x` to `shape`; operand dim i goes to output dim `dims[i]`. */
export function broadcastInDim(
  x: Tensor,
  shape: readonly number[],
  dims: readonly number[],
): Tensor {
  return st.broadcastInDim(x, shape, dims);
}

/** Concatenates along an existing axis. */
export function concatenate(xs: readonly Tensor[], axis: number): Tensor {
  return st.concatenate(xs, axis);
}

/** Indices along `dimension` of an array of `shape`. */
export function iota(dtype: DType, shape: readonly number[], dimension = 0): Tensor {
  return st.iota(dtype, shape, dimension);
}

/** Pads with a scalar value; negative lo/hi crop. */
export function pad(
  x: Tensor,
  value: Tensor,
  lo: readonly number[],
  hi: readonly number[],
  interior?: readonly number[],
): Tensor {
  return st.pad(x, value, lo, hi, interior);
}

/** Reshapes to an explicit shape (no -1; see np.reshape for that). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return st.reshape(x, shape);
}

/** Reverses along axes. */
export function rev(x: Tensor, axes: readonly number[]): Tensor {
  return st.rev(x, axes);
}

/** Static slice with strides. */
export function slice(
  x: Tensor,
  start: readonly number[],
  limit: readonly number[],
  strides?: readonly number[],
): Tensor {
  return st.slice(x, start, limit, strides);
}

/** Permutes axes. */
export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  return st.transpose(x, perm);
}

/** Argmax along one axis. */
export function argmax(x: Tensor, axis: number): Tensor {
  return red.argmax(x, axis);
}

/** Argmin along one axis. */
export function argmin(x: Tensor, axis: number): Tensor {
  return red.argmin(x, axis);
}

/** Max over axes. */
export function reduceMax(x: Tensor, axes: readonly number[]): Tensor {
  return red.reduceMax(x, axes);
}

/** Min over axes. */
export function reduceMin(x: Tensor, axes: readonly number[]): Tensor {
  return red.reduceMin(x, axes);
}

/** Product over axes. */
export function reduceProd(x: Tensor, axes: readonly number[]): Tensor {
  return red.reduceProd(x, axes);
}

/** Sum over the given sorted axes. */
export function reduceSum(x: Tensor, axes: readonly number[]): Tensor {
  return red.reduceSum(x, axes);
}

/** Dimension numbers: contracting and batch dimensions of lhs and rhs. */
export type DotDims = lin.DotDims;

/** General contraction with explicit dimension numbers. */
export function dotGeneral(lhs: Tensor, rhs: Tensor, dims: DotDims): Tensor {
  return lin.dotGeneral(lhs, rhs, dims);
}

/** `take(x, idx, axis)` with clamped indices (lax level: idx must be i32). */
export function gather(x: Tensor, idx: Tensor, axis: number): Tensor {
  return ix.gather(x, idx, axis);
}

/** How {@linkcode scatter} combines the updates with the operand: overwrite, or add. */
export type ScatterMode = ix.ScatterMode;

/** Writes (`"set"`) or adds (`"add"`) updates at `idx` along `axis`; out-of-range dropped. */
export function scatter(
  x: Tensor,
  idx: Tensor,
  updates: Tensor,
  axis: number,
  mode: ScatterMode,
): Tensor {
  return ix.scatter(x, idx, updates, axis, mode);
}

/** Sorts `operands` along `axis` by the first one (stable; NaNs last); returns them all. */
export function sort(operands: readonly Tensor[], axis: number, descending = false): Tensor[] {
  return srt.sort(operands, axis, descending);
}

/**
 * An inclusive scan of `elems` (a tuple of equal-shape tensors) with the associative
 * `combine(earlier, later)`, in O(log n) depth: a port of JAX's `lax.associative_scan`
 * (Blelloch-style odd/even recursion, after Ladner and Fischer), so that derivatives taken
 * through it — including how ties split — match JAX's.
 */
export function associativeScan(
  combine: (a: Tensor[], b: Tensor[]) => Tensor[],
  elems: Tensor[],
  axis: number,
  reverse = false,
): Tensor[] {
  return cum.associativeScan(combine, elems, axis, reverse);
}

/** Inclusive cumulative maximum along `axis`. */
export function cummax(x: Tensor, axis: number, reverse = false): Tensor {
  return cum.cummax(x, axis, reverse);
}

/** Inclusive cumulative minimum along `axis`. */
export function cummin(x: Tensor, axis: number, reverse = false): Tensor {
  return cum.cummin(x, axis, reverse);
}

/** Inclusive cumulative product along `axis`. */
export function cumprod(x: Tensor, axis: number, reverse = false): Tensor {
  return cum.cumprod(x, axis, reverse);
}

/** Inclusive cumulative sum along `axis` (from the end when `reverse`). */
export function cumsum(x: Tensor, axis: number, reverse = false): Tensor {
  return cum.cumsum(x, axis, reverse);
}

/**
 * Threefry-2x32 of counters `(x0, x1)` under keys `(k0, k1)`, elementwise (lax level: no
 * broadcasting).
 *
 * @param k0 First key words, `u32[...shape]`.
 * @param k1 Second key words, `u32[...shape]`.
 * @param x0 First counter words, `u32[...shape]`.
 * @param x1 Second counter words, `u32[...shape]`.
 * @returns `[y0, y1]`, both `u32[...shape]`.
 * @throws {TypeError} When the operands are not four u32 arrays of one shape.
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 *
 * const zero = np.zeros([1], "u32");
 * const [y0, y1] = lax.threefry2x32(zero, zero, zero, zero);
 * const got = [await y0.toArray(), await y1.toArray()].join();
 * if (got !== "1797259609,2579123966") throw new Error(`got ${got}`); // Salmon et al.'s vector
 * ```
 */
export function threefry2x32(k0: Tensor, k1: Tensor, x0: Tensor, x1: Tensor): [Tensor, Tensor] {
  return tf.threefry2x32(k0, k1, x0, x1);
}

export * from "./lax_control.ts";
export * from "./lax_conv.ts";
