/**
 * More of `np`: indexing (`take`, `takeAlongAxis`, the `x.index(...)` and `x.at(i)` methods),
 * sorting (`sort`, `argsort`, `topK`), cumulative ops, `pad`, `split`, `tile`, `repeat` and
 * `einsum`. `core/numpy.ts` re-exports everything here.
 *
 * @module
 */
import { broadcastShapes, fmtAvals, normAxis } from "./aval.ts";
import { type DType, isFloat } from "./dtype.ts";
import { array, asarray, astype, broadcastTo, resultType, slice as npSlice } from "./numpy_base.ts";
import * as cu from "./prims/cumulative.ts";
import * as ew from "./prims/elementwise.ts";
import * as ix from "./prims/indexing.ts";
import { dotGeneral } from "./prims/linalg.ts";
import { reduceSum } from "./prims/reduce.ts";
import * as so from "./prims/sort.ts";
import * as st from "./prims/structural.ts";
import { type NestedArray, Tensor, type TensorLike } from "./tensor.ts";
import { axisArg, checkArity, checkOptions } from "./validate.ts";

const TAKE_OPTS: ReadonlySet<string> = new Set(["axis", "mode", "fillValue"]);
const SORT_OPTS: ReadonlySet<string> = new Set(["axis", "descending", "stable"]);
const AXIS_OPTS: ReadonlySet<string> = new Set(["axis"]);
const PAD_OPTS: ReadonlySet<string> = new Set(["mode", "constantValues"]);

// ---------------------------------------------------------------- index helpers

function flatNumbers(x: NestedArray): number[] {
  const out: number[] = [];
  const walk = (v: NestedArray): void => {
    if (Array.isArray(v)) { for (const c of v as NestedArray[]) walk(c); }
    else out.push(Number(v));
  };
  walk(x);
  return out;
}

/**
 * Integer indices as an i32 tensor with negative entries counted from the end of an axis of
 * size `n`. JS numbers are checked and normalized on the host; tensors with a `where`.
 */
function indexTensor(op: string, indices: TensorLike, n: number, normalize = true): Tensor {
  if (indices instanceof Tensor) {
    if (isFloat(indices.dtype) || indices.dtype === "bool") {
      throw new TypeError(`${op}: indices must be integers, got ${indices.aval}`);
    }
    const t = ew.convert(indices, "i32");
    if (!normalize) return t;
    const neg = ew.lt(t, st.full(t.shape, 0, "i32"));
    return ew.select(neg, ew.add(t, st.full(t.shape, n, "i32")), t);
  }
  const shape = asarray(indices).shape;
  const vals = flatNumbers(indices);
  for (const v of vals) {
    if (!Number.isInteger(v)) throw new TypeError(`${op}: indices must be integers, got ${v}`);
  }
  return array(vals.map((v) => (normalize && v < 0 ? v + n : v)), { dtype: "i32", shape });
}

function flattenOr(op: string, x: Tensor, axis: number | null | undefined): [Tensor, number] {
  if (axis === undefined || axis === null) return [st.reshape(x, [x.size]), 0];
  if (x.ndim === 0) throw new RangeError(`${op}: axis ${axis} is out of bounds for ${x.aval}`);
  return [x, normAxis(op, axis, x.ndim, x.aval)];
}

/** The value JAX fills out-of-range reads with in `mode: "fill"`. */
function defaultFill(dtype: DType): number {
  return isFloat(dtype) ? NaN : dtype === "i32" ? -2147483648 : dtype === "u32" ? 4294967295 : 1;
}

// ---------------------------------------------------------------- take

/** Options of `take`. */
export interface TakeOptions {
  /** The axis to take along; undefined or null takes from the flattened array. */
  axis?: number | null;
  /**
   * Out-of-range indices (after negative ones count from the end): `"clip"` (default) clamps
   * them, `"fill"` reads `fillValue`, `"wrap"` wraps them around modulo the axis size.
   */
  mode?: "clip" | "fill" | "wrap";
  /** The value of out-of-range reads with `mode: "fill"` (default NaN; ints: their extreme). */
  fillValue?: number;
}

/**
 * Elements of `x` at `indices` along an axis, as `np.take`: the result has shape
 * `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. Negative indices count from the end.
 * Out-of-range indices clamp by default (JAX's `jnp.take` defaults to `mode: "fill"`).
 * @param x the array
 * @param indices integer indices (JS numbers or an integer tensor)
 * @param opts `axis` (default: flattened), `mode`, `fillValue`
 * @returns the gathered elements
 * @throws RangeError for a bad axis, TypeError for non-integer indices
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.array([[1, 2, 3], [4, 5, 6]]);
 * const y = await np.take(x, [2, -3], { axis: 1 }).toArray();
 * console.log(y); // [[3, 1], [6, 4]]
 * if (JSON.stringify(y) !== "[[3,1],[6,4]]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function take(x: TensorLike, indices: TensorLike, opts: TakeOptions = {}): Tensor {
  checkArity("take", arguments.length, 3);
  checkOptions("take", opts, TAKE_OPTS);
  const [t, axis] = flattenOr("take", asarray(x), opts.axis);
  const n = t.shape[axis];
  const mode = opts.mode ?? "clip";
  if (mode === "wrap") {
    let idx = indexTensor("take", indices, n, false);
    if (n > 0) {
      const r = ew.rem(idx, st.full(idx.shape, n, "i32"));
      idx = ew.select(
        ew.lt(r, st.full(r.shape, 0, "i32")),
        ew.add(r, st.full(r.shape, n, "i32")),
        r,
      );
    }
    return ix.gather(t, idx, axis);
  }
  const idx = indexTensor("take", indices, n);
  const out = ix.gather(t, idx, axis);
  if (mode === "clip") return out;
  if (mode !== "fill") throw new TypeError(`take: unknown mode ${JSON.stringify(mode)}`);
  const ok = st.broadcastInDim(
    ix.indicesInRange(idx, n),
    out.shape,
    idx.shape.map((_, i) => axis + i),
  );
  return ew.select(ok, out, st.full(out.shape, opts.fillValue ?? defaultFill(t.dtype), t.dtype));
}

/**
 * `out[..., j, ...] = x[..., indices[..., j, ...], ...]` along `axis`, as
 * `np.take_along_axis`: `indices` has x's rank, and their other dimensions broadcast. With
 * `axis` null both are flattened. Negative indices count from the end; out-of-range ones
 * clamp. Differentiable in `x` and batchable.
 * @param x the array
 * @param indices integer indices of x's rank
 * @param axis the axis (negative counts from the end), or null for the flattened array
 * @returns an array of the broadcast shape, with `indices.shape[axis]` along `axis`
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.array([[10, 30, 20], [60, 40, 50]]);
 * const y = await np.takeAlongAxis(x, np.argsort(x, { axis: 1 }), 1).toArray();
 * console.log(y); // [[10, 20, 30], [40, 50, 60]]
 * if (JSON.stringify(y) !== "[[10,20,30],[40,50,60]]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function takeAlongAxis(
  x: TensorLike,
  indices: TensorLike,
  axisOrOpts: number | null | { readonly axis: number | null },
): Tensor {
  checkArity("takeAlongAxis", arguments.length, 3);
  const axis = axisArg("takeAlongAxis", axisOrOpts);
  if (axis === undefined) {
    throw new TypeError("takeAlongAxis: the axis is required (a number or null)");
  }
  let t = asarray(x);
  let a: number;
  if (axis === null) {
    t = st.reshape(t, [t.size]);
    a = 0;
  } else {
    if (t.ndim === 0) {
      throw new RangeError(`takeAlongAxis: axis ${axis} is out of bounds for ${t.aval}`);
    }
    a = normAxis("takeAlongAxis", axis, t.ndim, t.aval);
  }
  const n = t.shape[a];
  let idx = indexTensor("takeAlongAxis", indices, n);
  if (idx.ndim !== t.ndim) {
    throw new TypeError(
      `Cannot takeAlongAxis ${t.aval} with indices ${idx.aval}: they must have the same rank`,
    );
  }
  const common = broadcastShapes(
    "takeAlongAxis",
    t.shape.map((d, k) => (k === a ? 1 : d)),
    idx.shape.map((d, k) => (k === a ? 1 : d)),
  );
  t = broadcastTo(t, common.map((d, k) => (k === a ? n : d)));
  idx = broadcastTo(idx, common.map((d, k) => (k === a ? idx.shape[a] : d)));
  return ix.takeAlongAxis(t, idx, a);
}

// ---------------------------------------------------------------- sorting

/** Options of `sort` and `argsort`. */
export interface SortOptions {
  /** The axis to sort along (default -1; null sorts the flattened array). */
  axis?: number | null;
  /** Sort from largest to smallest (equal elements keep their order; NaNs still last). */
  descending?: boolean;
  /** Accepted for NumPy compatibility: the sort is always stable. */
  stable?: boolean;
}

function sortAxis(op: string, x: Tensor, axis: number | null | undefined): [Tensor, number] {
  if (axis === null) return [st.reshape(x, [x.size]), 0];
  if (x.ndim === 0) {
    throw new RangeError(`${op}: cannot sort the 0-d array ${x.aval} along an axis`);
  }
  return [x, normAxis(op, axis ?? -1, x.ndim, x.aval)];
}

/**
 * Sorts along an axis (stable; NaNs last). Differentiable: the gradient flows back through
 * the permutation. With `descending`, equal elements keep their original order and NaNs stay
 * last (JAX's `jnp.sort(descending=True)` puts NaNs first).
 * @param x the array
 * @param opts `axis` (default -1, null = flattened), `descending`
 * @returns the sorted array
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.sort(np.array([3, 1, 2])).toArray();
 * console.log(y); // [1, 2, 3]
 * if (JSON.stringify(y) !== "[1,2,3]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function sort(x: TensorLike, opts: SortOptions = {}): Tensor {
  checkArity("sort", arguments.length, 2);
  checkOptions("sort", opts, SORT_OPTS);
  const [t, a] = sortAxis("sort", asarray(x), opts.axis);
  return so.sort([t], a, !!opts.descending)[0];
}

/**
 * The indices (i32) that sort `x` along an axis, as `np.argsort`; always stable (ties keep
 * their order, also when `descending`), NaNs last.
 * @param x the array
 * @param opts `axis` (default -1, null = flattened), `descending`, `stable` (ignored)
 * @returns i32 indices of x's shape
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.argsort(np.array([3, 1, 2])).toArray();
 * console.log(y); // [1, 2, 0]
 * if (JSON.stringify(y) !== "[1,2,0]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function argsort(x: TensorLike, opts: SortOptions = {}): Tensor {
  checkArity("argsort", arguments.length, 2);
  checkOptions("argsort", opts, SORT_OPTS);
  const [t, a] = sortAxis("argsort", asarray(x), opts.axis);
  return so.sort([t, st.iota("i32", t.shape, a)], a, !!opts.descending)[1];
}

/**
 * The `k` largest entries along the last axis and their indices, as `lax.top_k`: values in
 * descending order, ties broken by the lower index first (NaNs rank below every number here).
 * @param x an array of rank ≥ 1
 * @param k how many (0 ≤ k ≤ x.shape[-1])
 * @returns `[values, indices]`, both of shape `[...x.shape[:-1], k]` (indices i32)
 * @throws RangeError when k is out of range or x is 0-d
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const [v, i] = np.topK(np.array([1, 5, 3, 5]), 2);
 * const got = [await v.toArray(), await i.toArray()];
 * console.log(...got); // [5, 5] [1, 3]
 * if (JSON.stringify(got) !== "[[5,5],[1,3]]") throw new Error(`got ${JSON.stringify(got)}`);
 * ```
 */
export function topK(x: TensorLike, k: number): [Tensor, Tensor] {
  checkArity("topK", arguments.length, 2);
  const t = asarray(x);
  if (t.ndim === 0) throw new RangeError(`topK: needs an array of rank ≥ 1, got ${t.aval}`);
  const a = t.ndim - 1, n = t.shape[a];
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new RangeError(`topK: k = ${k} is out of range for ${t.aval} (expected 0 ≤ k ≤ ${n})`);
  }
  const [v, i] = so.sort([t, st.iota("i32", t.shape, a)], a, true);
  const lim = t.shape.map((d, j) => (j === a ? k : d));
  const zero = t.shape.map(() => 0);
  return [st.slice(v, zero, lim), st.slice(i, zero, lim)];
}

// ---------------------------------------------------------------- cumulative

/** Options of the cumulative functions. */
export interface CumulativeOptions {
  /** The axis (undefined or null: the flattened array). */
  axis?: number | null;
}

function cumWith(
  op: string,
  f: (x: Tensor, axis: number) => Tensor,
  x: TensorLike,
  opts: CumulativeOptions,
  promoteBool: boolean,
): Tensor {
  let t = asarray(x);
  if (promoteBool && t.dtype === "bool") t = ew.convert(t, "i32");
  const [u, a] = flattenOr(op, t, opts.axis);
  return f(u, a);
}

/**
 * Inclusive cumulative sum along an axis (flattened when no axis); booleans sum as i32.
 * @param x the array
 * @param opts `axis`
 * @returns the running sums
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.cumsum(np.array([[1, 2], [3, 4]]), { axis: 1 }).toArray();
 * console.log(y); // [[1, 3], [3, 7]]
 * if (JSON.stringify(y) !== "[[1,3],[3,7]]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function cumsum(x: TensorLike, opts: CumulativeOptions = {}): Tensor {
  checkArity("cumsum", arguments.length, 2);
  checkOptions("cumsum", opts, AXIS_OPTS);
  return cumWith("cumsum", (t, a) => cu.cumsum(t, a), x, opts, true);
}
/**
 * Inclusive cumulative product along an axis (flattened when no axis). Its gradient is exact
 * at zeros (no division), as JAX's.
 * @param x the array
 * @param opts `axis`
 * @returns the running products
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.cumprod(np.array([1, 2, 3, 4])).toArray();
 * console.log(y); // [1, 2, 6, 24]
 * if (JSON.stringify(y) !== "[1,2,6,24]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function cumprod(x: TensorLike, opts: CumulativeOptions = {}): Tensor {
  checkArity("cumprod", arguments.length, 2);
  checkOptions("cumprod", opts, AXIS_OPTS);
  return cumWith("cumprod", (t, a) => cu.cumprod(t, a), x, opts, true);
}
/**
 * Running maximum along an axis, as `lax.cummax` (NaN propagates); ties split the gradient
 * as JAX's.
 * @param x the array
 * @param opts `axis` (default: flattened)
 * @returns the running maxima
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.cummax(np.array([1, 3, 2, 5])).toArray();
 * console.log(y); // [1, 3, 3, 5]
 * if (JSON.stringify(y) !== "[1,3,3,5]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function cummax(x: TensorLike, opts: CumulativeOptions = {}): Tensor {
  checkArity("cummax", arguments.length, 2);
  checkOptions("cummax", opts, AXIS_OPTS);
  return cumWith("cummax", (t, a) => cu.cummax(t, a), x, opts, false);
}
/**
 * Running minimum along an axis, as `lax.cummin` (NaN propagates).
 * @param x the array
 * @param opts `axis` (default: flattened)
 * @returns the running minima
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.cummin(np.array([3, 1, 2, 0])).toArray();
 * console.log(y); // [3, 1, 1, 0]
 * if (JSON.stringify(y) !== "[3,1,1,0]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function cummin(x: TensorLike, opts: CumulativeOptions = {}): Tensor {
  checkArity("cummin", arguments.length, 2);
  checkOptions("cummin", opts, AXIS_OPTS);
  return cumWith("cummin", (t, a) => cu.cummin(t, a), x, opts, false);
}

// ---------------------------------------------------------------- pad

/** Padding widths: one number for every side, one `[before, after]` pair, or a pair per axis. */
export type PadWidth = number | readonly [number, number] | readonly (readonly [number, number])[];

/** Options of `pad`. */
export interface PadOptions {
  /**
   * `"constant"` (default) fills with `constantValues`; `"edge"` repeats the border element;
   * `"reflect"` mirrors without repeating the border, `"symmetric"` mirrors repeating it;
   * `"wrap"` continues periodically.
   */
  mode?: "constant" | "edge" | "reflect" | "symmetric" | "wrap";
  /** The fill value of `"constant"` (a number or a 0-d tensor; default 0). */
  constantValues?: number | Tensor;
}

function padPairs(pw: PadWidth, x: Tensor): [number, number][] {
  const nd = x.ndim;
  let pairs: [number, number][];
  if (typeof pw === "number") pairs = Array.from({ length: nd }, () => [pw, pw]);
  else if (pw.length === 2 && typeof pw[0] === "number") {
    const p = pw as readonly [number, number];
    pairs = Array.from({ length: nd }, () => [p[0], p[1]]);
  } else {
    const ps = pw as readonly (readonly [number, number])[];
    if (ps.length === 1 && nd !== 1) pairs = Array.from({ length: nd }, () => [ps[0][0], ps[0][1]]);
    else if (ps.length !== nd) {
      throw new TypeError(
        `pad: padWidth has ${ps.length} pairs but the operand ${x.aval} has ${nd} axes`,
      );
    } else pairs = ps.map((p) => [p[0], p[1]]);
  }
  for (const [lo, hi] of pairs) {
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < 0) {
      throw new RangeError(`pad: widths must be non-negative integers, got ${JSON.stringify(pw)}`);
    }
  }
  return pairs;
}

/** The source position of padded position `j` (relative to the original start). */
function padSource(mode: string, j: number, n: number): number {
  const mod = (a: number, m: number) => ((a % m) + m) % m;
  switch (mode) {
    case "edge":
      return Math.min(Math.max(j, 0), n - 1);
    case "wrap":
      return mod(j, n);
    case "reflect": {
      if (n === 1) return 0;
      const r = mod(j, 2 * (n - 1));
      return r < n ? r : 2 * (n - 1) - r;
    }
    case "symmetric": {
      const r = mod(j, 2 * n);
      return r < n ? r : 2 * n - 1 - r;
    }
  }
  throw new TypeError(`pad: unknown mode ${JSON.stringify(mode)}`);
}

function sliceAlong(x: Tensor, axis: number, start: number, limit: number): Tensor {
  return st.slice(
    x,
    x.shape.map((_, k) => (k === axis ? start : 0)),
    x.shape.map((d, k) => (k === axis ? limit : d)),
  );
}

/**
 * Builds the padded axis from runs of the source positions: ascending runs are slices,
 * descending runs reversed slices, constant runs broadcasts; then one concatenate.
 */
function padAxis(x: Tensor, axis: number, lo: number, hi: number, mode: string): Tensor {
  const n = x.shape[axis];
  if (lo === 0 && hi === 0) return x;
  if (n === 0) {
    throw new RangeError(`pad: cannot pad the empty axis ${axis} of ${x.aval} in mode "${mode}"`);
  }
  const src = Array.from({ length: lo + n + hi }, (_, i) => padSource(mode, i - lo, n));
  const pieces: Tensor[] = [];
  for (let i = 0; i < src.length;) {
    let step = 1, j = i;
    if (i + 1 < src.length && Math.abs(src[i + 1] - src[i]) <= 1) {
      step = src[i + 1] - src[i];
      j = i + 1;
      while (j + 1 < src.length && src[j + 1] - src[j] === step) j++;
    }
    const len = j - i + 1, s = src[i];
    if (step === 1) pieces.push(sliceAlong(x, axis, s, s + len));
    else if (step === -1) pieces.push(st.rev(sliceAlong(x, axis, s - len + 1, s + 1), [axis]));
    else {
      const one = sliceAlong(x, axis, s, s + 1);
      pieces.push(
        st.broadcastInDim(
          one,
          one.shape.map((d, k) => (k === axis ? len : d)),
          one.shape.map((_, k) => k),
        ),
      );
    }
    i = j + 1;
  }
  return st.concatenate(pieces, axis);
}

/**
 * Pads an array, as `np.pad`. Constant padding is one `pad` primitive; the other modes are
 * slices, reversals and broadcasts of the borders, concatenated (pads wider than the axis
 * repeat the pattern, as NumPy).
 * @param x the array
 * @param padWidth a number (every side), a `[before, after]` pair (every axis), or one pair per axis
 * @param opts `mode` (default "constant") and `constantValues` (default 0)
 * @returns the padded array
 * @throws RangeError for negative widths, or for non-constant modes on an empty axis
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.array([1, 2, 3]);
 * const zeros = await np.pad(x, [2, 1]).toArray();
 * const reflect = await np.pad(x, 2, { mode: "reflect" }).toArray();
 * console.log(zeros); // [0, 0, 1, 2, 3, 0]
 * console.log(reflect); // [3, 2, 1, 2, 3, 2, 1]
 * const got = JSON.stringify([zeros, reflect]);
 * if (got !== "[[0,0,1,2,3,0],[3,2,1,2,3,2,1]]") throw new Error(`got ${got}`);
 * ```
 */
export function pad(x: TensorLike, padWidth: PadWidth, opts: PadOptions = {}): Tensor {
  checkArity("pad", arguments.length, 3);
  checkOptions("pad", opts, PAD_OPTS);
  const t = asarray(x);
  const pairs = padPairs(padWidth, t);
  const mode = opts.mode ?? "constant";
  if (mode === "constant") {
    const cv = opts.constantValues ?? 0;
    const v = astype(cv, t.dtype);
    if (v.ndim !== 0) throw new TypeError(`pad: constantValues must be a scalar, got ${v.aval}`);
    return st.pad(t, v, pairs.map((p) => p[0]), pairs.map((p) => p[1]));
  }
  let out = t;
  pairs.forEach(([lo, hi], k) => (out = padAxis(out, k, lo, hi, mode)));
  return out;
}

// ---------------------------------------------------------------- split, tile, repeat

/**
 * Splits along an axis into equal sections (a number) or at the given indices, as `np.split`.
 * @param x the array
 * @param indicesOrSections the number of equal sections, or the split points
 * @param axis the axis (default 0)
 * @returns the pieces
 * @throws TypeError when the sections do not divide the axis evenly
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const [a, b] = np.split(np.arange(5), [2]);
 * const got = [await a.toArray(), await b.toArray()];
 * console.log(...got); // [0, 1] [2, 3, 4]
 * if (JSON.stringify(got) !== "[[0,1],[2,3,4]]") throw new Error(`got ${JSON.stringify(got)}`);
 * ```
 */
export function split(
  x: TensorLike,
  indicesOrSections: number | readonly number[],
  axisOrOpts: number | { readonly axis?: number } = 0,
): Tensor[] {
  checkArity("split", arguments.length, 3);
  const axis = axisArg("split", axisOrOpts) ?? 0;
  const t = asarray(x);
  if (t.ndim === 0) throw new RangeError(`split: cannot split the 0-d array ${t.aval}`);
  const a = normAxis("split", axis, t.ndim, t.aval);
  const n = t.shape[a];
  let points: number[];
  if (typeof indicesOrSections === "number") {
    const s = indicesOrSections;
    if (!Number.isInteger(s) || s <= 0) {
      throw new RangeError(`split: the number of sections must be a positive integer, got ${s}`);
    }
    if (n % s !== 0) {
      throw new TypeError(
        `split: an axis of size ${n} of ${t.aval} does not divide into ${s} equal sections`,
      );
    }
    points = Array.from({ length: s - 1 }, (_, i) => ((i + 1) * n) / s);
  } else points = [...indicesOrSections];
  const norm = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const bounds = [0, ...points.map(norm), n];
  const out: Tensor[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const s = bounds[i], e = Math.max(bounds[i + 1], s);
    out.push(sliceAlong(t, a, s, e));
  }
  return out;
}

/**
 * Repeats the whole array `reps` times along each axis, as `np.tile` (reps longer than the
 * rank add leading axes). One broadcast and one reshape.
 * @param x the array
 * @param reps repetitions per axis (a number applies to the last axis)
 * @returns the tiled array
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.tile(np.array([1, 2]), [2, 2]).toArray();
 * console.log(y); // [[1, 2, 1, 2], [1, 2, 1, 2]]
 * if (JSON.stringify(y) !== "[[1,2,1,2],[1,2,1,2]]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function tile(x: TensorLike, reps: number | readonly number[]): Tensor {
  checkArity("tile", arguments.length, 2);
  let t = asarray(x);
  const r = typeof reps === "number" ? [reps] : [...reps];
  if (r.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new RangeError(`tile: reps must be non-negative integers, got ${JSON.stringify(reps)}`);
  }
  const nd = Math.max(t.ndim, r.length);
  const shape = [...Array(nd - t.ndim).fill(1), ...t.shape];
  const rr = [...Array(nd - r.length).fill(1), ...r];
  t = st.reshape(t, shape);
  const big = shape.flatMap((d, k) => [rr[k], d]);
  const b = st.broadcastInDim(t, big, shape.map((_, k) => 2 * k + 1));
  return st.reshape(b, shape.map((d, k) => d * rr[k]));
}

/**
 * Repeats each element along an axis, as `np.repeat`: `repeats` is one count, or one count
 * per element (static).
 * @param x the array
 * @param repeats a count, or a count per element along the axis
 * @param opts `axis` (default: the flattened array)
 * @returns the array with repeated elements
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const y = await np.repeat(np.array([1, 2]), 2).toArray();
 * console.log(y); // [1, 1, 2, 2]
 * if (JSON.stringify(y) !== "[1,1,2,2]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function repeat(
  x: TensorLike,
  repeats: number | readonly number[],
  opts: { axis?: number | null } = {},
): Tensor {
  checkArity("repeat", arguments.length, 3);
  checkOptions("repeat", opts, AXIS_OPTS);
  const [t, a] = flattenOr("repeat", asarray(x), opts.axis);
  const n = t.shape[a];
  if (typeof repeats === "number") {
    if (!Number.isInteger(repeats) || repeats < 0) {
      throw new RangeError(`repeat: repeats must be a non-negative integer, got ${repeats}`);
    }
    const big = [...t.shape.slice(0, a + 1), repeats, ...t.shape.slice(a + 1)];
    const dims = t.shape.map((_, k) => (k <= a ? k : k + 1));
    const b = st.broadcastInDim(t, big, dims);
    return st.reshape(b, t.shape.map((d, k) => (k === a ? d * repeats : d)));
  }
  const reps = repeats.length === 1 ? Array(n).fill(repeats[0]) : [...repeats];
  if (reps.length !== n || reps.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new RangeError(
      `repeat: expected ${n} non-negative integer repeats for axis ${a} of ${t.aval}, got ${
        JSON.stringify(repeats)
      }`,
    );
  }
  const idx = reps.flatMap((r, i) => Array(r).fill(i));
  return ix.gather(t, array(idx, { dtype: "i32", shape: [idx.length] }), a);
}

// ---------------------------------------------------------------- einsum

/**
 * Einstein summation, as `np.einsum`: explicit (`"ij,jk->ik"`) or implicit (`"ij,jk"`: the
 * output is the indices that appear once, sorted) subscripts, repeated indices within an
 * operand (diagonals, traces), `...` broadcasting, and any number of operands. Operands are
 * contracted pairwise from left to right, each pair with one `dot_general` (indices that
 * appear in one operand only are summed first), so `"ij,jk->ik"` is a single `dot_general`.
 * @param subscripts the subscripts
 * @param operands the arrays (dtypes promote)
 * @returns the result
 * @throws TypeError for malformed subscripts, or operand shapes that do not match them
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const a = np.array([[1, 2], [3, 4]]);
 * const prod = await np.einsum("ij,jk->ik", a, a).toArray();
 * const trace = await np.einsum("ii", a).item();
 * console.log(prod, trace); // [[7, 10], [15, 22]] 5
 * const got = JSON.stringify([prod, trace]);
 * if (got !== "[[[7,10],[15,22]],5]") throw new Error(`got ${got}`);
 * ```
 */
export function einsum(subscripts: string, ...operands: TensorLike[]): Tensor {
  if (operands.length === 0) throw new TypeError("einsum: needs at least one operand");
  const dt = resultType(...operands);
  const ts = operands.map((o) => astype(o, dt));
  const spec = parseEinsum(subscripts, ts);
  // per operand: broadcast size-1 dims away, take diagonals, sum indices used nowhere else
  const ops = ts.map((t, i) => prepareOperand(t, spec.inputs[i], spec, i));
  const uses = (l: string, from: number) =>
    spec.output.includes(l) || ops.slice(from).some((o) => o.labels.includes(l));
  let cur = ops[0];
  for (let k = 1; k < ops.length; k++) {
    const rhs = ops[k];
    cur = sumUnused(cur, (l) => rhs.labels.includes(l) || uses(l, k + 1));
    const shared = cur.labels.filter((l) => rhs.labels.includes(l));
    const batch = shared.filter((l) => uses(l, k + 1));
    const contract = shared.filter((l) => !batch.includes(l));
    const pos = (o: Labeled, ls: string[]) => ls.map((l) => o.labels.indexOf(l));
    const t = dotGeneral(cur.t, rhs.t, {
      contracting: [pos(cur, contract), pos(rhs, contract)],
      batch: [pos(cur, batch), pos(rhs, batch)],
    });
    cur = {
      t,
      labels: [
        ...batch,
        ...cur.labels.filter((l) => !shared.includes(l)),
        ...rhs.labels.filter((l) => !shared.includes(l)),
      ],
    };
  }
  cur = sumUnused(cur, (l) => spec.output.includes(l));
  return st.transpose(cur.t, spec.output.map((l) => cur.labels.indexOf(l)));
}

interface Labeled {
  t: Tensor;
  labels: string[];
}
interface EinsumSpec {
  subscripts: string;
  inputs: string[][];
  output: string[];
  sizes: Map<string, number>;
  avals: string;
}

function einsumError(spec: { subscripts: string; avals: string }, why: string): TypeError {
  return new TypeError(`Cannot einsum ${spec.avals} with "${spec.subscripts}": ${why}`);
}

/** Splits one term into labels; `...` becomes `null` (expanded by the caller). */
function parseTerm(term: string, err: (why: string) => TypeError): (string | null)[] {
  const out: (string | null)[] = [];
  for (let i = 0; i < term.length;) {
    if (term.startsWith("...", i)) {
      if (out.includes(null)) throw err(`more than one ellipsis in the term "${term}"`);
      out.push(null);
      i += 3;
    } else if (/[a-zA-Z]/.test(term[i])) out.push(term[i++]);
    else throw err(`invalid character '${term[i]}' in the term "${term}"`);
  }
  return out;
}

function parseEinsum(subscripts: string, ts: Tensor[]): EinsumSpec {
  const sub = subscripts.replace(/\s+/g, "");
  const base = { subscripts, avals: fmtAvals(ts.map((t) => t.aval)) };
  const err = (why: string) => einsumError(base, why);
  const arrow = sub.split("->");
  if (arrow.length > 2) throw err("more than one '->'");
  const terms = arrow[0].split(",");
  if (terms.length !== ts.length) {
    throw err(`${terms.length} input terms but ${ts.length} operands`);
  }
  const parsed = terms.map((term) => parseTerm(term, err));
  const ellRank = Math.max(
    0,
    ...parsed.map((p, i) => (p.includes(null) ? ts[i].ndim - (p.length - 1) : 0)),
  );
  const inputs = parsed.map((p, i) => {
    const letters = p.filter((l) => l !== null).length;
    const e = ts[i].ndim - letters;
    if (p.includes(null) ? e < 0 : e !== 0) {
      throw err(`the term "${terms[i]}" has ${letters} indices but operand ${i} is ${ts[i].aval}`);
    }
    const ell = Array.from({ length: e }, (_, k) => `…${ellRank - e + k}`);
    return p.flatMap((l) => (l === null ? ell : [l]));
  });
  const allEll = Array.from({ length: ellRank }, (_, k) => `…${k}`);
  let output: string[];
  if (arrow.length === 2) {
    output = parseTerm(arrow[1], err).flatMap((l) => (l === null ? allEll : [l]));
    const seen = new Set<string>();
    for (const l of output) {
      if (seen.has(l)) throw err(`the output index '${l}' is repeated`);
      seen.add(l);
      if (!inputs.some((ls) => ls.includes(l))) {
        throw err(`the output index '${l}' appears in no input`);
      }
    }
  } else {
    const count = new Map<string, number>();
    for (const ls of inputs) for (const l of ls) count.set(l, (count.get(l) ?? 0) + 1);
    const once = [...count.keys()].filter((l) => !l.startsWith("…") && count.get(l) === 1).sort();
    output = [...allEll.filter((l) => count.has(l)), ...once];
  }
  const sizes = new Map<string, number>();
  inputs.forEach((ls, i) =>
    ls.forEach((l, k) => {
      const d = ts[i].shape[k], prev = sizes.get(l);
      if (prev === undefined || prev === 1) sizes.set(l, d);
      else if (d !== 1 && d !== prev) {
        const name = l.startsWith("…") ? "an ellipsis dimension" : `index '${l}'`;
        throw err(`${name} has sizes ${prev} and ${d}`);
      }
    })
  );
  return { ...base, inputs, output, sizes };
}

function prepareOperand(t: Tensor, labels0: string[], spec: EinsumSpec, i: number): Labeled {
  let labels = [...labels0];
  // broadcasting: a size-1 dimension of an index that is larger elsewhere is dropped
  const keep = labels.map((l, k) => !(t.shape[k] === 1 && spec.sizes.get(l)! > 1));
  if (keep.includes(false)) {
    t = st.reshape(t, t.shape.filter((_, k) => keep[k]));
    labels = labels.filter((_, k) => keep[k]);
  }
  // repeated indices: take the diagonal of the two axes (a strided slice of the flattened pair)
  for (let k = 0; k < labels.length; k++) {
    const j = labels.indexOf(labels[k], k + 1);
    if (j < 0) continue;
    const n = t.shape[k];
    if (t.shape[j] !== n) {
      throw einsumError(
        spec,
        `index '${labels[k]}' has sizes ${n} and ${t.shape[j]} in operand ${i}`,
      );
    }
    const rest = labels.map((_, m) => m).filter((m) => m !== k && m !== j);
    const tr = st.transpose(t, [...rest, k, j]);
    const flat = st.reshape(tr, [...rest.map((m) => t.shape[m]), n * n]);
    const lead = rest.map(() => 0);
    t = st.slice(flat, [...lead, 0], [...flat.shape.slice(0, -1), n * n], [
      ...lead.map(() => 1),
      n + 1,
    ]);
    labels = [...rest.map((m) => labels[m]), labels[k]];
    k = -1;
  }
  // indices of this operand only, and not in the output, are summed right away
  const elsewhere = (l: string) =>
    spec.output.includes(l) || spec.inputs.some((ls, m) => m !== i && ls.includes(l));
  return sumUnused({ t, labels }, elsewhere);
}

function sumUnused(o: Labeled, needed: (l: string) => boolean): Labeled {
  const axes = o.labels.flatMap((l, k) => (needed(l) ? [] : [k]));
  if (!axes.length) return o;
  return { t: reduceSum(o.t, axes), labels: o.labels.filter((_, k) => !axes.includes(k)) };
}

// ---------------------------------------------------------------- Tensor.index, Tensor.at

/** One entry of `x.index(...)`: an integer, null (the whole axis), or `[start, stop, step?]`. */
export type IndexEntry = number | null | readonly [number | null, number | null, number?];

/**
 * Implements `x.index(...idx)`: indexes the leading axes with integers (the axis is dropped;
 * negative counts from the end), null (kept whole) or `[start, stop, step?]` slices (NumPy
 * semantics, null for a default bound).
 * @param x the array
 * @param idx one entry per leading axis
 * @returns the indexed view (a copy)
 * @throws RangeError for too many indices or an out-of-range integer
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.array([[1, 2, 3], [4, 5, 6]]);
 * const lastRowReversed = await x.index(-1, [null, null, -1]).toArray();
 * const column1 = await np._index(x, [null, 1]).toArray();
 * console.log(lastRowReversed, column1); // [6, 5, 4] [2, 5]
 * const got = JSON.stringify([lastRowReversed, column1]);
 * if (got !== "[[6,5,4],[2,5]]") throw new Error(`got ${got}`);
 * ```
 */
export function _index(x: TensorLike, idx: readonly IndexEntry[]): Tensor {
  const t = asarray(x);
  if (idx.length > t.ndim) {
    throw new RangeError(`index: too many indices for ${t.aval}: ${idx.length} given`);
  }
  const starts: number[] = [], stops: (number | null)[] = [], steps: number[] = [];
  const drop: number[] = [];
  t.shape.forEach((n, k) => {
    const e = k < idx.length ? idx[k] : null;
    if (e === null || e === undefined) {
      starts.push(0), stops.push(null), steps.push(1);
    } else if (typeof e === "number") {
      if (!Number.isInteger(e)) throw new TypeError(`index: ${e} is not an integer`);
      const i = e < 0 ? e + n : e;
      if (i < 0 || i >= n) {
        throw new RangeError(`index ${e} is out of bounds for axis ${k} with size ${n}`);
      }
      starts.push(i), stops.push(i + 1), steps.push(1);
      drop.push(k);
    } else {
      const step = e[2] ?? 1;
      starts.push(e[0] ?? (step > 0 ? 0 : n - 1)), stops.push(e[1]), steps.push(step);
    }
  });
  const s = npSlice(t, starts, stops, steps);
  return drop.length ? st.reshape(s, s.shape.filter((_, k) => !drop.includes(k))) : s;
}

/** The functional update handle returned by `x.at(index)`. */
export interface AtHandle {
  /** A copy of x with `v` (broadcast, cast to x's dtype) written at the index. */
  set(v: TensorLike): Tensor;
  /** A copy of x with `v` added at the index (repeated indices accumulate). */
  add(v: TensorLike): Tensor;
  /** The elements at the index (out-of-range indices clamp). */
  get(): Tensor;
}

/**
 * Implements `x.at(index)`, JAX's `x.at[index]` along the first axis: `index` is an integer,
 * integers, or an integer tensor (negative counts from the end). Updates at out-of-range
 * indices are dropped and reads clamp (JAX's defaults); with repeated indices `add`
 * accumulates and `set` keeps one of them (the last on cpu; unspecified on GPUs, as JAX).
 * @param x the array
 * @param index where along axis 0
 * @returns `{ set, add, get }`
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.zeros([3]);
 * const set = await x.at(1).set(5).toArray();
 * const added = await x.at([0, 0, -1]).add(1).toArray(); // a repeated index adds twice
 * const last = await np._at(np.array([4, 5]), -1).get().item();
 * console.log(set, added, last); // [0, 5, 0] [2, 0, 1] 5
 * const got = JSON.stringify([set, added, last]);
 * if (got !== "[[0,5,0],[2,0,1],5]") throw new Error(`got ${got}`);
 * ```
 */
export function _at(x: TensorLike, index: TensorLike): AtHandle {
  const t = asarray(x);
  if (t.ndim === 0) throw new TypeError(`at: cannot index the 0-d array ${t.aval}`);
  const upd = (v: TensorLike, mode: ix.ScatterMode): Tensor => {
    const idx = indexTensor("at", index, t.shape[0]);
    const u = broadcastTo(astype(v, t.dtype), [...idx.shape, ...t.shape.slice(1)]);
    return ix.scatter(t, idx, u, 0, mode);
  };
  return {
    set: (v) => upd(v, "set"),
    add: (v) => upd(v, "add"),
    get: () => take(t, index, { axis: 0 }),
  };
}
