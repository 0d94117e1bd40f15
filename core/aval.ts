/**
 * Abstract values (shape + dtype) and the shared formatters and shape helpers.
 *
 * @module
 */
import type { DType } from "./dtype.ts";

/** The abstract value of an array: its shape and dtype. Printed as `f32[2,3]`. */
export class ShapedArray {
  /** The dimensions, outermost first. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: DType;
  /** Makes an abstract value. */
  constructor(shape: readonly number[], dtype: DType) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
  }
  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return prod(this.shape);
  }
  /** Whether shape and dtype agree. */
  equals(o: ShapedArray): boolean {
    return this.dtype === o.dtype && sameShape(this.shape, o.shape);
  }
  /** `f32[2,3]`. */
  toString(): string {
    return `${this.dtype}[${this.shape.join(",")}]`;
  }
}

/** Product of a list of numbers (1 for the empty list). */
export function prod(xs: readonly number[]): number {
  let p = 1;
  for (const x of xs) p *= x;
  return p;
}

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Formats a list of avals for error messages: `f32[2,3] and f32[3]`. */
export function fmtAvals(avals: readonly { toString(): string }[]): string {
  return avals.length <= 1
    ? avals.map(String).join("")
    : `${avals.slice(0, -1).map(String).join(", ")} and ${avals[avals.length - 1]}`;
}

/** Normalizes a possibly negative axis; throws RangeError naming the op when out of range. */
export function normAxis(op: string, axis: number, ndim: number, aval?: unknown): number {
  if (
    !Number.isInteger(axis) || axis < -ndim ||
    axis >= Math.max(ndim, 1) && !(ndim === 0 && axis === 0)
  ) {
    throw new RangeError(
      `${op}: axis ${axis} is out of bounds for ${aval ?? `an array of rank ${ndim}`}`,
    );
  }
  return axis < 0 ? axis + ndim : axis;
}

/** Normalizes an axis argument (number, list, or undefined = all axes) to a sorted unique list. */
export function normAxes(
  op: string,
  axis: number | readonly number[] | undefined | null,
  ndim: number,
  aval?: unknown,
): number[] {
  if (axis === undefined || axis === null) return [...Array(ndim).keys()];
  const list = typeof axis === "number" ? [axis] : [...axis];
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -ndim || a >= ndim) {
      throw new RangeError(
        `${op}: axis ${a} is out of bounds for ${aval ?? `an array of rank ${ndim}`}`,
      );
    }
    return a < 0 ? a + ndim : a;
  });
  if (new Set(out).size !== out.length) {
    throw new RangeError(`${op}: repeated axis in ${JSON.stringify(list)}`);
  }
  return out.sort((a, b) => a - b);
}

/** NumPy broadcasting of shapes; throws TypeError naming the op and the operands. */
export function broadcastShapes(op: string, ...shapes: (readonly number[])[]): number[] {
  const nd = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = nd - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j]) {
        throw new TypeError(
          `Cannot ${op} shapes ${shapes.map((x) => `[${x.join(",")}]`).join(" and ")}: ` +
            `dimension ${j} differs (${out[j]} vs ${d}) and neither is 1`,
        );
      }
    }
  }
  return out;
}
