/**
 * The base of `np`: array creation, dtype promotion, broadcasting and static slicing. The rest
 * of `np` (numpy.ts and numpy_extra.ts) builds on these; numpy.ts re-exports them.
 *
 * @module
 */
import { broadcastShapes, prod } from "./aval.ts";
import { type DType, promoteTypes, toDType } from "./dtype.ts";
import { checkArity, checkDType, checkOptions, checkShape, fmtValue } from "./validate.ts";
import * as ew from "./prims/elementwise.ts";
import * as st from "./prims/structural.ts";
import { type NestedArray, Tensor, type TensorLike } from "./tensor.ts";

// ---------------------------------------------------------------- creation

const ARRAY_OPTS: ReadonlySet<string> = new Set(["dtype", "shape"]);
const LINSPACE_OPTS: ReadonlySet<string> = new Set(["endpoint", "dtype"]);
const EYE_OPTS: ReadonlySet<string> = new Set(["k", "dtype"]);

function inferShape(x: NestedArray, what: string): number[] {
  const shape: number[] = [];
  let cur: NestedArray = x;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0];
    if (cur === undefined) break;
  }
  const check = (v: NestedArray, d: number): void => {
    if (d === shape.length) {
      if (Array.isArray(v)) {
        throw new TypeError(`${what}: ragged nested array (too deep at dimension ${d})`);
      }
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) {
      throw new TypeError(
        `${what}: ragged nested array: expected length ${shape[d]} at dimension ${d}`,
      );
    }
    for (const c of v) check(c, d + 1);
  };
  check(x, 0);
  return shape;
}

function isBoolTree(x: NestedArray): boolean {
  let v: NestedArray = x;
  while (Array.isArray(v)) v = v[0];
  return typeof v === "boolean";
}

/**
 * Makes a Tensor from nested arrays, a typed array, or a number. Numbers default to f32
 * (booleans to bool); pass `dtype` to choose.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.array([[1, 2], [3, 4]]);
 * console.log(String(x)); // Tensor(f32[2,2])
 * if (String(x) !== "Tensor(f32[2,2])") throw new Error(`got ${x}`);
 * ```
 */
export function array(
  x: TensorLike | ArrayLike<number>,
  opts: { dtype?: DType | string; shape?: readonly number[] } | DType = {},
): Tensor {
  checkArity("array", arguments.length, 2);
  const o = typeof opts === "string" ? { dtype: opts } : opts;
  checkOptions("array", o, ARRAY_OPTS);
  if (x instanceof Tensor) return o.dtype ? astype(x, toDType(o.dtype)) : x;
  if (ArrayBuffer.isView(x)) {
    const ta = x as unknown as ArrayLike<number>;
    const dtype = o.dtype
      ? toDType(o.dtype)
      : x instanceof Int32Array
      ? "i32"
      : x instanceof Uint32Array
      ? "u32"
      : "f32";
    const shape = checkShape("array", o.shape ?? [ta.length]);
    if (prod(shape) !== ta.length) {
      throw new TypeError(`array: shape [${shape}] does not hold ${ta.length} elements`);
    }
    if (
      (dtype === "i32" && !(x instanceof Int32Array)) ||
      (dtype === "u32" && !(x instanceof Uint32Array))
    ) {
      checkIntRange("array", ta, dtype);
    }
    return st.constant(ta, shape, dtype);
  }
  const nested = x as NestedArray;
  if (!Array.isArray(nested) && typeof nested !== "number" && typeof nested !== "boolean") {
    throw notArrayLike("array", nested);
  }
  const shape = inferShape(nested, "array");
  const flat: number[] = [];
  const walk = (v: NestedArray): void => {
    if (Array.isArray(v)) { for (const c of v as NestedArray[]) walk(c); }
    else if (typeof v === "number") flat.push(v);
    else if (typeof v === "boolean") flat.push(v ? 1 : 0);
    else throw notArrayLike("array", v, "element ");
  };
  walk(nested);
  const dtype = o.dtype ? toDType(o.dtype) : isBoolTree(nested) ? "bool" : "f32";
  const s = checkShape("array", o.shape ?? shape);
  if (prod(s) !== flat.length) {
    throw new TypeError(`array: shape [${s}] does not hold ${flat.length} elements`);
  }
  if (dtype === "i32" || dtype === "u32") checkIntRange("array", flat, dtype);
  return st.constant(flat, s, dtype);
}

const INT_RANGE = { i32: [-(2 ** 31), 2 ** 31 - 1], u32: [0, 2 ** 32 - 1] } as const;

/** NumPy raises OverflowError for an integer that does not fit the dtype; so does denax. */
function checkIntRange(op: string, xs: ArrayLike<number>, dtype: "i32" | "u32"): void {
  const [lo, hi] = INT_RANGE[dtype];
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    if (v < lo || v > hi || Number.isNaN(v)) {
      throw new RangeError(
        `${op}: value ${v} is out of bounds for ${dtype} (${lo} to ${hi})` +
          (Number.isNaN(v) ? "" : `\nhelp: use f32, or wrap explicitly (e.g. v % 2**32)`),
      );
    }
  }
}

function notArrayLike(op: string, v: unknown, what = ""): TypeError {
  const hasY = v !== null && typeof v === "object" && "y" in v;
  return new TypeError(
    `${op}: expected a Tensor, a number, a boolean or nested arrays of them, got ${what}` +
      `${typeof v === "string" ? "a string " : typeof v === "object" && v ? "an object " : ""}` +
      `${fmtValue(v)}` +
      (hasY
        ? `\nhelp: a stateful layer returns { y, state }: pass its .y`
        : typeof v === "string"
        ? `\nhelp: parse strings to numbers first (Number(s))`
        : ""),
  );
}

/** Converts a TensorLike to a Tensor (alias of `array` without copying tensors). */
export function asarray(x: TensorLike, dtype?: DType): Tensor {
  checkArity("asarray", arguments.length, 2);
  return array(x, dtype ? { dtype } : {});
}

/**
 * A tensor of `shape` filled with `value` (a number, a boolean, or a tensor that broadcasts
 * to `shape`).
 * @throws {RangeError} For an invalid shape, or an integer value outside the dtype's range.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.full([2], 7).toArray();
 * console.log(y); // [7, 7]
 * if (JSON.stringify(y) !== "[7,7]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function full(
  shape: readonly number[] | number,
  value: number | boolean | Tensor,
  dtype?: DType,
): Tensor {
  checkArity("full", arguments.length, 3);
  return fill("full", shape, value, dtype);
}
function fill(
  op: string,
  shape: readonly number[] | number,
  value: number | boolean | Tensor,
  dtype: DType | undefined,
): Tensor {
  const s = checkShape(op, typeof shape === "number" ? [shape] : shape);
  if (value instanceof Tensor) {
    // a tensor fill value broadcasts, as jnp.full's array fill_value
    return broadcastTo(dtype === undefined ? value : astype(value, dtype), s);
  }
  if (typeof value !== "number" && typeof value !== "boolean") throw notArrayLike(op, value);
  const dt = dtype === undefined
    ? (typeof value === "boolean" ? "bool" : "f32")
    : checkDType(op, dtype);
  if (dt === "i32" || dt === "u32") checkIntRange(op, [Number(value)], dt);
  return st.full(s, Number(value), dt);
}
/** Zeros of a shape (f32 by default). */
export function zeros(shape: readonly number[] | number, dtype: DType = "f32"): Tensor {
  checkArity("zeros", arguments.length, 2);
  return fill("zeros", shape, 0, dtype);
}
/** Ones of a shape (f32 by default). */
export function ones(shape: readonly number[] | number, dtype: DType = "f32"): Tensor {
  checkArity("ones", arguments.length, 2);
  return fill("ones", shape, 1, dtype);
}
/** Zeros with the shape and dtype of `x`. */
export function zerosLike(x: Tensor, dtype?: DType): Tensor {
  checkArity("zerosLike", arguments.length, 2);
  return full(x.shape, 0, dtype ?? x.dtype);
}
/** Ones with the shape and dtype of `x`. */
export function onesLike(x: Tensor, dtype?: DType): Tensor {
  checkArity("onesLike", arguments.length, 2);
  return full(x.shape, 1, dtype ?? x.dtype);
}
/** `value` with the shape and dtype of `x`. */
export function fullLike(x: Tensor, value: number, dtype?: DType): Tensor {
  checkArity("fullLike", arguments.length, 3);
  return full(x.shape, value, dtype ?? x.dtype);
}

/**
 * Evenly spaced values in `[start, stop)`: `arange(stop)` or `arange(start, stop, step)`.
 * Integer arguments give i32 unless a dtype is passed.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.arange(4).toArray();
 * console.log(y); // [0, 1, 2, 3]
 * if (JSON.stringify(y) !== "[0,1,2,3]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function arange(start: number, stop?: number, step = 1, dtype?: DType): Tensor {
  checkArity("arange", arguments.length, 4);
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new RangeError("arange: step must not be zero");
  for (const v of [start, stop, step]) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new RangeError(
        `arange: start, stop and step must be finite numbers, got ${fmtValue(v)}`,
      );
    }
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  checkShape("arange", [n]);
  const dt = dtype !== undefined
    ? checkDType("arange", dtype)
    : [start, stop, step].every(Number.isInteger)
    ? "i32"
    : "f32";
  if (dt === "i32" || dt === "u32") checkIntRange("arange", [start, start + (n - 1) * step], dt);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = start + i * step;
  return st.constant(d, [n], dt);
}

/** `num` evenly spaced values from `start` to `stop` (inclusive unless `endpoint: false`). */
export function linspace(
  start: number,
  stop: number,
  num = 50,
  opts: { endpoint?: boolean; dtype?: DType } = {},
): Tensor {
  checkArity("linspace", arguments.length, 4);
  checkOptions("linspace", opts, LINSPACE_OPTS);
  checkShape("linspace", [num]);
  const endpoint = opts.endpoint ?? true;
  const div = endpoint ? num - 1 : num;
  const d = new Float64Array(num);
  for (let i = 0; i < num; i++) d[i] = div > 0 ? start + ((stop - start) * i) / div : start;
  return st.constant(d, [num], opts.dtype ?? "f32");
}

/** Identity-like matrix with ones on diagonal `k`. */
export function eye(n: number, m?: number, opts: { k?: number; dtype?: DType } = {}): Tensor {
  checkArity("eye", arguments.length, 3);
  checkOptions("eye", opts, EYE_OPTS);
  const cols = m ?? n, k = opts.k ?? 0;
  checkShape("eye", [n, cols]);
  const d = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) if (i + k >= 0 && i + k < cols) d[i * cols + i + k] = 1;
  return st.constant(d, [n, cols], opts.dtype ?? "f32");
}

/** Lower-triangular ones: `tri[i, j] = j <= i + k`. */
export function tri(n: number, m?: number, opts: { k?: number; dtype?: DType } = {}): Tensor {
  checkArity("tri", arguments.length, 3);
  checkOptions("tri", opts, EYE_OPTS);
  const cols = m ?? n, k = opts.k ?? 0;
  checkShape("tri", [n, cols]);
  const d = new Float64Array(n * cols);
  for (let i = 0; i < n; i++) for (let j = 0; j < cols; j++) d[i * cols + j] = j <= i + k ? 1 : 0;
  return st.constant(d, [n, cols], opts.dtype ?? "f32");
}
// ---------------------------------------------------------------- dtype helpers

/** Converts the dtype. */
export function astype(x: TensorLike, dtype: DType): Tensor {
  checkArity("astype", arguments.length, 2);
  checkDType("astype", dtype);
  return x instanceof Tensor ? ew.convert(x, dtype) : array(x, { dtype });
}

function isWeak(x: TensorLike): boolean {
  return typeof x === "number" || typeof x === "boolean";
}
function dtypeOf(x: TensorLike): DType {
  if (x instanceof Tensor) return x.dtype;
  if (typeof x === "boolean") return "bool";
  if (typeof x === "number") return Number.isInteger(x) ? "i32" : "f32";
  return isBoolTree(x) ? "bool" : "f32";
}
/** The result dtype of combining the operands (weak JS numbers never widen tensors). */
export function resultType(...xs: TensorLike[]): DType {
  let dt = dtypeOf(xs[0]), weak = isWeak(xs[0]);
  for (const x of xs.slice(1)) {
    dt = promoteTypes(dt, weak, dtypeOf(x), isWeak(x));
    weak = weak && isWeak(x);
  }
  return dt;
}

/** Broadcasts to a shape (NumPy rules). */
export function broadcastTo(x: TensorLike, shape: readonly number[]): Tensor {
  checkArity("broadcastTo", arguments.length, 2);
  checkShape("broadcastTo", shape);
  const t = asarray(x);
  const out = broadcastShapes("broadcastTo", t.shape, shape);
  if (out.length !== shape.length || out.some((d, i) => d !== shape[i])) {
    throw new TypeError(`Cannot broadcast ${t.aval} to shape [${shape}]`);
  }
  const nd = shape.length;
  return st.broadcastInDim(t, shape, t.shape.map((_, i) => nd - t.ndim + i));
}

/**
 * Static slice along every axis: `slice(x, start, stop, step?)` (NumPy semantics for
 * negative and out-of-range bounds).
 */
export function slice(
  x: TensorLike,
  start: readonly number[],
  stop: readonly (number | null)[],
  step?: readonly number[],
): Tensor {
  checkArity("slice", arguments.length, 4);
  const t = asarray(x);
  const starts: number[] = [], limits: number[] = [], strides: number[] = [];
  let out: Tensor = t;
  const revAxes: number[] = [];
  t.shape.forEach((n, k) => {
    const s = step?.[k] ?? 1;
    if (s === 0) throw new RangeError("slice: step must not be zero");
    const norm = (v: number | null | undefined, dflt: number) => {
      if (v === null || v === undefined) return dflt;
      const w = v < 0 ? v + n : v;
      return s > 0 ? Math.min(Math.max(w, 0), n) : Math.min(Math.max(w, -1), n - 1);
    };
    if (s > 0) {
      const a = norm(start[k], 0), b = Math.max(norm(stop[k], n), norm(start[k], 0));
      starts.push(a);
      limits.push(b);
      strides.push(s);
    } else {
      // negative steps: reverse the axis, then slice forward
      const a = norm(start[k], n - 1), b = norm(stop[k], -1);
      revAxes.push(k);
      const ra = n - 1 - a, rb = Math.max(n - 1 - b, ra);
      starts.push(ra);
      limits.push(rb);
      strides.push(-s);
    }
  });
  if (revAxes.length) out = st.rev(out, revAxes);
  return st.slice(out, starts, limits, strides);
}
