/**
 * `np`: the NumPy-like API. Functions broadcast, promote dtypes (JS numbers are weakly typed),
 * accept negative axes, and bind the primitives.
 *
 * @module
 */
import { broadcastShapes, normAxes, normAxis, prod } from "./aval.ts";
import { type DType, isFloat } from "./dtype.ts";
import { axisArg, checkArity, checkOptions, checkShape } from "./validate.ts";
import * as ew from "./prims/elementwise.ts";
import * as rd from "./prims/reduce.ts";
import * as st from "./prims/structural.ts";
import { dotGeneral } from "./prims/linalg.ts";
import {
  _installMethods,
  type Axis,
  type NestedArray,
  type ReduceOptions,
  Tensor,
  type TensorLike,
  type TensorMethods,
} from "./tensor.ts";
export * from "./numpy_base.ts";
import { array, asarray, astype, broadcastTo, full, resultType, tri } from "./numpy_base.ts";
export * from "./numpy_extra.ts";
export * as linalg from "./linalg.ts";
import * as extra from "./numpy_extra.ts";

export type { Axis, NestedArray, ReduceOptions, TensorLike };

// ---------------------------------------------------------------- creation on top of numpy_base.ts

/** Zeros above diagonal `k` of the last two axes. */
export function tril(x: TensorLike, k = 0): Tensor {
  checkArity("tril", arguments.length, 2);
  const t = asarray(x);
  const [n, m] = t.shape.slice(-2);
  return where(tri(n, m, { k, dtype: "bool" }), t, 0);
}
/** Zeros below diagonal `k` of the last two axes. */
export function triu(x: TensorLike, k = 0): Tensor {
  checkArity("triu", arguments.length, 2);
  const t = asarray(x);
  const [n, m] = t.shape.slice(-2);
  return where(tri(n, m, { k: k - 1, dtype: "bool" }), 0, t);
}

function prep(op: string, xs: TensorLike[], dtype?: DType): Tensor[] {
  const dt = dtype ?? resultType(...xs);
  const ts = xs.map((
    x,
  ) => (x instanceof Tensor ? ew.convert(x, dt) : array(x as NestedArray, { dtype: dt })));
  const shape = broadcastShapes(op, ...ts.map((t) => t.shape));
  return ts.map((t) => broadcastTo(t, shape));
}

// ---------------------------------------------------------------- elementwise

type Un = (x: TensorLike) => Tensor;
const floatUnary = (op: string, f: (x: Tensor) => Tensor): Un =>
  function (x) {
    checkArity(op, arguments.length, 1);
    const t = asarray(x);
    return f(isFloat(t.dtype) ? t : ew.convert(t, "f32"));
  };
const anyUnary = (op: string, f: (x: Tensor) => Tensor): Un =>
  function (x) {
    checkArity(op, arguments.length, 1);
    return f(asarray(x));
  };

/** −x. */ export const neg: Un = anyUnary("neg", ew.neg);
/** Alias of `neg`. */ export const negative: Un = neg;
/** |x|. Gradient at 0 is 0 (sign(0)), as JAX. */ export const abs: Un = anyUnary("abs", ew.abs);
/** Sign: −1, 0 or 1. */ export const sign: Un = anyUnary("sign", ew.sign);
/** e^x. */ export const exp: Un = floatUnary("exp", ew.exp);
/** e^x − 1, accurate near 0. */ export const expm1: Un = floatUnary("expm1", ew.expm1);
/** Natural log. */ export const log: Un = floatUnary("log", ew.log);
/** log(1 + x), accurate near 0. */ export const log1p: Un = floatUnary("log1p", ew.log1p);
/** √x. */ export const sqrt: Un = floatUnary("sqrt", ew.sqrt);
/** 1/√x. */ export const rsqrt: Un = floatUnary("rsqrt", ew.rsqrt);
/** x². */ export const square: Un = (x): Tensor => {
  const t = asarray(x);
  return ew.mul(t, t);
};
/** 1/x. */ export const reciprocal: Un = (x): Tensor => divide(1, x);
/** sin. */ export const sin: Un = floatUnary("sin", ew.sin);
/** cos. */ export const cos: Un = floatUnary("cos", ew.cos);
/** tan. */ export const tan: Un = floatUnary("tan", ew.tan);
/** tanh. */ export const tanh: Un = floatUnary("tanh", ew.tanh);
/** sinh. */ export const sinh: Un = floatUnary("sinh", ew.sinh);
/** cosh. */ export const cosh: Un = floatUnary("cosh", ew.cosh);
/** arcsin. */ export const arcsin: Un = floatUnary("arcsin", ew.asin);
/** arccos. */ export const arccos: Un = floatUnary("arccos", ew.acos);
/** arctan. */ export const arctan: Un = floatUnary("arctan", ew.atan);
/** floor (identity on integers). */ export const floor: Un = (x): Tensor => {
  const t = asarray(x);
  return isFloat(t.dtype) ? ew.floor(t) : t;
};
/** ceil (identity on integers). */ export const ceil: Un = (x): Tensor => {
  const t = asarray(x);
  return isFloat(t.dtype) ? ew.ceil(t) : t;
};
/** Round half to even, as NumPy. */ export const round: Un = (x): Tensor => {
  const t = asarray(x);
  return isFloat(t.dtype) ? ew.round(t) : t;
};
/** The error function (needed for exact GELU). */ export const erf: Un = floatUnary("erf", ew.erf);
/** The inverse error function. */ export const erfInv: Un = floatUnary("erfInv", ew.erfInv);
/** NaN test (false for integers). */ export const isnan: Un = (x): Tensor => {
  const t = asarray(x);
  return isFloat(t.dtype) ? ew.isNan(t) : full(t.shape, false);
};
/** ±∞ test. */ export const isinf: Un = (x): Tensor => {
  const t = asarray(x);
  return isFloat(t.dtype) ? ew.isInf(t) : full(t.shape, false);
};
/** Finite test (not NaN, not ±∞). */ export const isfinite: Un = (x): Tensor => {
  const t = asarray(x);
  return isFloat(t.dtype) ? ew.not(ew.or(ew.isNan(t), ew.isInf(t))) : full(t.shape, true);
};
/** Logical not. */ export const logicalNot: Un = (x): Tensor => ew.not(astype(x, "bool"));
/** The logistic sigmoid, stable for large |x|. */ export const sigmoid: Un = floatUnary(
  "sigmoid",
  ew.logistic,
);
/** Identity with zero gradient. */ export const stopGradient: Un = anyUnary(
  "stopGradient",
  ew.stopGradient,
);

type Bin = (x: TensorLike, y: TensorLike) => Tensor;
const binary = (
  op: string,
  f: (a: Tensor, b: Tensor) => Tensor,
  dtype?: (dt: DType) => DType,
): Bin =>
  function (x, y) {
    checkArity(op, arguments.length, 2);
    const dt = resultType(x, y);
    const [a, b] = prep(op, [x, y], dtype ? dtype(dt) : dt);
    return f(a, b);
  };
const toFloat = (dt: DType): DType => (isFloat(dt) ? dt : "f32");
/** `x` as a float tensor: f16 and f32 stay, other dtypes become f32. */
const asFloat = (x: TensorLike): Tensor => {
  const t = asarray(x);
  return isFloat(t.dtype) ? t : ew.convert(t, "f32");
};

/** x + y. */ export const add: Bin = binary("add", ew.add);
/** x − y. */ export const subtract: Bin = binary("subtract", ew.sub);
/** x · y. */ export const multiply: Bin = binary("multiply", ew.mul);
/** True division x / y (integers promote to f32, as NumPy). */ export const divide: Bin = binary(
  "divide",
  ew.div,
  toFloat,
);
/** x ** y (computed in f32). */ export const power: Bin = binary("power", ew.pow, toFloat);
/** Elementwise maximum; NaN propagates; ties split the gradient equally (as JAX). */
export const maximum: Bin = binary("maximum", ew.max);
/** Elementwise minimum; NaN propagates; ties split the gradient equally (as JAX). */
export const minimum: Bin = binary("minimum", ew.min);
/** arctan2(y, x). */ export const arctan2: Bin = binary("arctan2", ew.atan2, toFloat);
/** Floor division (rounds toward −∞, as NumPy). */
export const floorDivide: Bin = (x, y): Tensor => {
  const [a, b] = prep("floorDivide", [x, y]);
  if (isFloat(a.dtype)) return ew.floor(ew.div(a, b));
  // integer: trunc division corrected when signs differ and the remainder is nonzero
  const q = ew.div(a, b), r = ew.rem(a, b);
  const zero = st.zerosLikeT(a);
  const fix = ew.and(ew.ne(r, zero), ew.ne(ew.lt(r, zero), ew.lt(b, zero)));
  return ew.select(fix, ew.sub(q, st.full(q.shape, 1, q.dtype)), q);
};
/** Modulo with the sign of the divisor (NumPy `mod`; `lax.rem` has the dividend's sign). */
export const mod: Bin = (x, y): Tensor => {
  const [a, b] = prep("mod", [x, y]);
  const r = ew.rem(a, b);
  const zero = st.zerosLikeT(a);
  const fix = ew.and(ew.ne(r, zero), ew.ne(ew.lt(r, zero), ew.lt(b, zero)));
  return ew.select(fix, ew.add(r, b), r);
};
const cmp = (op: string, f: (a: Tensor, b: Tensor) => Tensor): Bin =>
  function (x, y) {
    checkArity(op, arguments.length, 2);
    const [a, b] = prep(op, [x, y]);
    return f(a, b);
  };
/** x == y. */ export const equal: Bin = cmp("equal", ew.eq);
/** x != y. */ export const notEqual: Bin = cmp("notEqual", ew.ne);
/** x < y. */ export const less: Bin = cmp("less", ew.lt);
/** x <= y. */ export const lessEqual: Bin = cmp("lessEqual", ew.le);
/** x > y. */ export const greater: Bin = cmp("greater", ew.gt);
/** x >= y. */ export const greaterEqual: Bin = cmp("greaterEqual", ew.ge);
/** Logical and. */ export const logicalAnd: Bin = (x, y): Tensor =>
  ew.and(...(prep("logicalAnd", [x, y], "bool") as [Tensor, Tensor]));
/** Logical or. */ export const logicalOr: Bin = (x, y): Tensor =>
  ew.or(...(prep("logicalOr", [x, y], "bool") as [Tensor, Tensor]));
/** Logical xor. */ export const logicalXor: Bin = (x, y): Tensor =>
  ew.xor(...(prep("logicalXor", [x, y], "bool") as [Tensor, Tensor]));

/**
 * `where(cond, x, y)`: x where cond is true, else y (broadcasting).
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.where(np.array([true, false]), 1, 2).toArray();
 * console.log(y); // [1, 2]
 * if (JSON.stringify(y) !== "[1,2]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function where(cond: TensorLike, x: TensorLike, y: TensorLike): Tensor {
  checkArity("where", arguments.length, 3);
  const dt = resultType(x, y);
  const c = astype(cond, "bool");
  const a = astype(x, dt), b = astype(y, dt);
  const shape = broadcastShapes("where", c.shape, a.shape, b.shape);
  return ew.select(broadcastTo(c, shape), broadcastTo(a, shape), broadcastTo(b, shape));
}

/** Clips to `[lo, hi]` (either may be null). */
export function clip(x: TensorLike, lo: TensorLike | null, hi: TensorLike | null): Tensor {
  checkArity("clip", arguments.length, 3);
  let t = asarray(x);
  if (lo !== null && lo !== undefined) t = maximum(t, lo);
  if (hi !== null && hi !== undefined) t = minimum(t, hi);
  return t;
}

// ---------------------------------------------------------------- reductions

function reduceWith(
  op: string,
  f: (x: Tensor, axes: number[]) => Tensor,
  x: TensorLike,
  opts: ReduceOptions = {},
  noIdentity = false,
): Tensor {
  checkOptions(op, opts, REDUCE_OPTS);
  const t = asarray(x);
  const axes = normAxes(op, opts.axis, t.ndim, t.aval);
  if (noIdentity) checkNonEmpty(op, t, axes);
  const r = f(t, axes);
  return opts.keepdims ? keepDims(r, t.shape, axes) : r;
}
const REDUCE_OPTS: ReadonlySet<string> = new Set(["axis", "keepdims"]);
const ARG_OPTS: ReadonlySet<string> = new Set(["axis", "keepdims"]);
const VAR_OPTS: ReadonlySet<string> = new Set(["axis", "keepdims", "ddof"]);

/** max/min/argmax/argmin have no identity: NumPy raises on an empty reduction; so do we. */
function checkNonEmpty(op: string, t: Tensor, axes: readonly number[]): void {
  if (!axes.some((a) => t.shape[a] === 0)) return;
  throw new RangeError(
    `${op}: zero-size array to reduction operation ${op} which has no identity ` +
      `(${t.aval}, axis ${axes.length === 1 ? axes[0] : `[${axes.join(", ")}]`})`,
  );
}
function keepDims(r: Tensor, shape: readonly number[], axes: number[]): Tensor {
  return st.reshape(r, shape.map((d, i) => (axes.includes(i) ? 1 : d)));
}

/**
 * Sum over axes (all by default). Booleans sum as i32.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.sum(np.array([[1, 2], [3, 4]]), { axis: 0 }).toArray();
 * console.log(y); // [4, 6]
 * if (JSON.stringify(y) !== "[4,6]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function sum(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkArity("sum", arguments.length, 2);
  const t = asarray(x);
  return reduceWith("sum", rd.reduceSum, t.dtype === "bool" ? ew.convert(t, "i32") : t, opts);
}
/** Product over axes. */
export function prod_(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkArity("prod", arguments.length, 2);
  return reduceWith("prod", rd.reduceProd, x, opts);
}
export { prod_ as prod };
/** Maximum over axes (NaN propagates). */
export function max(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkArity("max", arguments.length, 2);
  return reduceWith("max", rd.reduceMax, x, opts, true);
}
/** Minimum over axes (NaN propagates). */
export function min(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkArity("min", arguments.length, 2);
  return reduceWith("min", rd.reduceMin, x, opts, true);
}
/** Mean over axes (integers give f32). */
export function mean(x: TensorLike, opts: ReduceOptions = {}): Tensor {
  checkArity("mean", arguments.length, 2);
  checkOptions("mean", opts, REDUCE_OPTS);
  const t = asarray(x);
  const axes = normAxes("mean", opts.axis, t.ndim, t.aval);
  const n = axes.reduce((a, k) => a * t.shape[k], 1);
  return divide(sum(isFloat(t.dtype) ? t : ew.convert(t, "f32"), opts), n);
}
/**
 * Variance with `ddof` (default 0, as NumPy/JAX; PyTorch's `var` defaults to the unbiased
 * ddof = 1).
 */
export function var_(x: TensorLike, opts: ReduceOptions & { ddof?: number } = {}): Tensor {
  checkArity("var", arguments.length, 2);
  checkOptions("var", opts, VAR_OPTS);
  const t = asFloat(x);
  const axes = normAxes("var", opts.axis, t.ndim, t.aval);
  const n = axes.reduce((a, k) => a * t.shape[k], 1);
  const mu = mean(t, { axis: axes, keepdims: true });
  const d = subtract(t, mu);
  return divide(
    sum(multiply(d, d), { axis: axes, keepdims: opts.keepdims }),
    Math.max(0, n - (opts.ddof ?? 0)),
  );
}
export { var_ as var };
/** Standard deviation with `ddof` (default 0). */
export function std(x: TensorLike, opts: ReduceOptions & { ddof?: number } = {}): Tensor {
  checkArity("std", arguments.length, 2);
  return sqrt(var_(x, opts));
}
/** Whether all elements (along axes) are true. */
export function all(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkArity("all", arguments.length, 2);
  return reduceWith("all", rd.reduceMin, astype(x, "bool"), opts);
}
/** Whether any element (along axes) is true. */
export function any(x: TensorLike, opts?: ReduceOptions): Tensor {
  checkArity("any", arguments.length, 2);
  return reduceWith("any", rd.reduceMax, astype(x, "bool"), opts);
}
/** Index of the maximum along `axis` (over the flattened array when no axis). */
export function argmax(x: TensorLike, opts: { axis?: number; keepdims?: boolean } = {}): Tensor {
  checkArity("argmax", arguments.length, 2);
  return argWith("argmax", rd.argmax, x, opts);
}
/** Index of the minimum along `axis`. */
export function argmin(x: TensorLike, opts: { axis?: number; keepdims?: boolean } = {}): Tensor {
  checkArity("argmin", arguments.length, 2);
  return argWith("argmin", rd.argmin, x, opts);
}
function argWith(
  op: string,
  f: (x: Tensor, a: number) => Tensor,
  x: TensorLike,
  opts: { axis?: number; keepdims?: boolean },
): Tensor {
  checkOptions(op, opts, ARG_OPTS);
  let t = asarray(x);
  if (opts.axis === undefined || opts.axis === null) {
    checkNonEmpty(op, t, [...t.shape.keys()]);
    t = st.reshape(t, [t.size]);
    const r = f(t, 0);
    return opts.keepdims ? st.reshape(r, asarray(x).shape.map(() => 1)) : r;
  }
  const a = normAxis(op, opts.axis, t.ndim, t.aval);
  checkNonEmpty(op, t, [a]);
  const r = f(t, a);
  return opts.keepdims ? keepDims(r, t.shape, [a]) : r;
}
/**
 * log Σ exp(x), stable for large inputs: max is subtracted first (and the max is not
 * differentiated through, as JAX).
 */
export function logsumexp(x: TensorLike, opts: ReduceOptions = {}): Tensor {
  checkArity("logsumexp", arguments.length, 2);
  checkOptions("logsumexp", opts, REDUCE_OPTS);
  const t = asFloat(x);
  const axes = normAxes("logsumexp", opts.axis, t.ndim, t.aval);
  const m = ew.stopGradient(rd.reduceMax(t, axes));
  const mFinite = where(isfinite(m), m, 0);
  const mk = keepDims(mFinite, t.shape, axes);
  const s = log(sum(exp(subtract(t, mk)), { axis: axes }));
  const r = add(s, mFinite);
  return opts.keepdims ? keepDims(r, t.shape, axes) : r;
}

// ---------------------------------------------------------------- shape

/** Reshapes; one dimension may be −1. */
export function reshape(x: TensorLike, shape: readonly number[] | number): Tensor {
  checkArity("reshape", arguments.length, 2);
  const t = asarray(x);
  const s = typeof shape === "number" ? [shape] : [...shape];
  checkShape("reshape", s.map((d) => (d === -1 ? 1 : d)));
  const neg = s.filter((d) => d === -1).length;
  if (neg > 1) throw new TypeError(`Cannot reshape ${t.aval} to [${s}]: more than one -1`);
  if (neg === 1) {
    const known = prod(s.filter((d) => d !== -1));
    if (known === 0 || t.size % known !== 0) {
      throw new TypeError(
        `Cannot reshape ${t.aval} to [${s}]: ${t.size} elements do not divide evenly`,
      );
    }
    s[s.indexOf(-1)] = t.size / known;
  }
  return st.reshape(t, s);
}
/** Permutes axes (reverses by default). */
export function transpose(x: TensorLike, axes?: readonly number[]): Tensor {
  checkArity("transpose", arguments.length, 2);
  const t = asarray(x);
  const perm = axes
    ? axes.map((a) => normAxis("transpose", a, t.ndim, t.aval))
    : [...Array(t.ndim).keys()].reverse();
  return st.transpose(t, perm);
}
/** Swaps two axes. */
export function swapaxes(x: TensorLike, a: number, b: number): Tensor {
  checkArity("swapaxes", arguments.length, 3);
  const t = asarray(x);
  const perm = [...Array(t.ndim).keys()];
  const i = normAxis("swapaxes", a, t.ndim, t.aval), j = normAxis("swapaxes", b, t.ndim, t.aval);
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return st.transpose(t, perm);
}
/** Moves an axis to a new position. */
export function moveaxis(x: TensorLike, source: number, destination: number): Tensor {
  checkArity("moveaxis", arguments.length, 3);
  const t = asarray(x);
  return st.moveaxis(
    t,
    normAxis("moveaxis", source, t.ndim, t.aval),
    normAxis("moveaxis", destination, t.ndim, t.aval),
  );
}
/** Inserts size-1 axes. */
export function expandDims(
  x: TensorLike,
  axis: number | readonly number[] | { readonly axis: number | readonly number[] },
): Tensor {
  checkArity("expandDims", arguments.length, 2);
  const t = asarray(x);
  const ax = axisArg("expandDims", axis);
  if (ax === undefined) throw new TypeError("expandDims: the axis is required");
  const axes = typeof ax === "number" ? [ax] : [...ax];
  const nd = t.ndim + axes.length;
  const norm = axes.map((a) => normAxis("expandDims", a, nd, t.aval)).sort((a, b) => a - b);
  const shape = [...t.shape];
  for (const a of norm) shape.splice(a, 0, 1);
  return st.reshape(t, shape);
}
/** Removes size-1 axes (all of them, or those given). */
export function squeeze(x: TensorLike, axisOrOpts?: Axis | { readonly axis?: Axis }): Tensor {
  checkArity("squeeze", arguments.length, 2);
  const t = asarray(x);
  const axis = axisArg("squeeze", axisOrOpts);
  const axes = axis === undefined || axis === null
    ? t.shape.flatMap((d, i) => (d === 1 ? [i] : []))
    : normAxes("squeeze", axis, t.ndim, t.aval);
  for (const a of axes) {
    if (t.shape[a] !== 1) {
      throw new TypeError(`Cannot squeeze axis ${a} of ${t.aval}: its size is not 1`);
    }
  }
  return st.reshape(t, t.shape.filter((_, i) => !axes.includes(i)));
}
/** Concatenates along an existing axis (dtypes promote). */
export function concatenate(
  xs: readonly TensorLike[],
  axisOrOpts: number | { readonly axis?: number } = 0,
): Tensor {
  checkArity("concatenate", arguments.length, 2);
  const axis = axisArg("concatenate", axisOrOpts) ?? 0;
  if (xs.length === 0) throw new TypeError("concatenate: needs at least one array");
  const dt = resultType(...xs);
  const ts = xs.map((x) => astype(x, dt));
  const a = normAxis("concatenate", axis, ts[0].ndim, ts[0].aval);
  return st.concatenate(ts, a);
}
/** Stacks along a new axis. */
export function stack(
  xs: readonly TensorLike[],
  axisOrOpts: number | { readonly axis?: number } = 0,
): Tensor {
  checkArity("stack", arguments.length, 2);
  const axis = axisArg("stack", axisOrOpts) ?? 0;
  if (xs.length === 0) throw new TypeError("stack: needs at least one array");
  const ts = xs.map((x) => asarray(x));
  const a = normAxis("stack", axis, ts[0].ndim + 1, ts[0].aval);
  return concatenate(ts.map((t) => expandDims(t, a)), a);
}
/** Reverses the order of elements along axes (all by default). */
export function flip(x: TensorLike, axis?: Axis | { readonly axis?: Axis }): Tensor {
  checkArity("flip", arguments.length, 2);
  const t = asarray(x);
  return st.rev(t, normAxes("flip", axisArg("flip", axis), t.ndim, t.aval));
}

// ---------------------------------------------------------------- linear algebra

/**
 * Matrix product with NumPy semantics: 1-D operands are promoted and the added axis
 * removed; leading dimensions broadcast.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.matmul(np.array([[1, 2], [3, 4]]), np.array([1, 1])).toArray();
 * console.log(y); // [3, 7]
 * if (JSON.stringify(y) !== "[3,7]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function matmul(x: TensorLike, y: TensorLike): Tensor {
  checkArity("matmul", arguments.length, 2);
  const dt = resultType(x, y);
  let a = astype(x, dt), b = astype(y, dt);
  if (a.ndim === 0 || b.ndim === 0) {
    throw new TypeError(
      `Cannot matmul ${a.aval} and ${b.aval}: scalars are not allowed (use multiply)`,
    );
  }
  const aVec = a.ndim === 1, bVec = b.ndim === 1;
  if (aVec) a = st.reshape(a, [1, a.shape[0]]);
  if (bVec) b = st.reshape(b, [b.shape[0], 1]);
  const k1 = a.shape[a.ndim - 1], k2 = b.shape[b.ndim - 2];
  if (k1 !== k2) {
    throw new TypeError(
      `Cannot matmul ${asarray(x).aval} and ${
        asarray(y).aval
      }: contracting dimensions differ (${k1} vs ${k2})`,
    );
  }
  const batch = broadcastShapes("matmul", a.shape.slice(0, -2), b.shape.slice(0, -2));
  const nb = batch.length;
  let out: Tensor;
  if (b.ndim === 2 && nb > 0 && a.ndim === nb + 2) {
    // [..., m, k] · [k, n]: one contraction, no broadcast copy of b
    out = dotGeneral(a, b, { contracting: [[a.ndim - 1], [0]], batch: [[], []] });
  } else {
    a = broadcastTo(a, [...batch, ...a.shape.slice(-2)]);
    b = broadcastTo(b, [...batch, ...b.shape.slice(-2)]);
    const bd = [...Array(nb).keys()];
    out = dotGeneral(a, b, { contracting: [[nb + 1], [nb]], batch: [bd, bd] });
  }
  if (aVec) out = squeeze(out, out.ndim - 2);
  if (bVec) out = squeeze(out, out.ndim - 1);
  return out;
}
/** Dot product (1-D · 1-D), matrix-vector or matrix product; as `np.dot` for ≤ 2-D. */
export function dot(x: TensorLike, y: TensorLike): Tensor {
  checkArity("dot", arguments.length, 2);
  const a = asarray(x), b = asarray(y);
  if (a.ndim === 0 || b.ndim === 0) return multiply(a, b);
  if (a.ndim <= 2 && b.ndim <= 2) return matmul(a, b);
  // N-d: contract the last axis of a with the second-to-last of b
  const dt = resultType(a, b);
  return dotGeneral(astype(a, dt), astype(b, dt), {
    contracting: [[a.ndim - 1], [Math.max(0, b.ndim - 2)]],
    batch: [[], []],
  });
}
/** Outer product of two flattened arrays. */
export function outer(x: TensorLike, y: TensorLike): Tensor {
  checkArity("outer", arguments.length, 2);
  const a = reshape(x, [-1, 1]), b = reshape(y, [1, -1]);
  return multiply(a, b);
}

// ---------------------------------------------------------------- methods

// numpy_extra.ts is evaluated before this module's body (it is re-exported above), so its
// functions are available here.
const methodTable: TensorMethods = {
  take: extra.take,
  _index: extra._index,
  _at: extra._at,
  add,
  subtract,
  multiply,
  divide,
  power,
  maximum,
  minimum,
  neg,
  abs,
  exp,
  log,
  sqrt,
  square,
  tanh,
  sin,
  cos,
  equal,
  notEqual,
  less,
  lessEqual,
  greater,
  greaterEqual,
  clip,
  matmul,
  reshape,
  transpose,
  swapaxes,
  squeeze,
  expandDims,
  broadcastTo,
  astype,
  sum,
  mean,
  max,
  min,
  prod: prod_,
  var: var_,
  std,
  argmax,
  argmin,
};
/** @internal replaces method implementations (for modules that extend np). */
export function _registerMethods(extra: Partial<TensorMethods>): void {
  Object.assign(methodTable, extra);
  _installMethods(methodTable);
}
_installMethods(methodTable);
