/**
 * Reductions over axes: sum, max, min, prod, argmax, argmin.
 *
 * @module
 */
import { ShapedArray, stridesOf } from "../aval.ts";
import { type DType, isFloat } from "../dtype.ts";
import {
  definePrimitive,
  getPrimitive,
  type Primitive,
  type PrimitiveRules,
  type UndefinedPrimal,
} from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { alloc, forEachIndex } from "./host.ts";
import {
  broadcast_in_dim_p,
  broadcastInDim,
  concatenate_p,
  constant,
  moveaxis,
  reshape,
  slice_p,
  transpose_p,
} from "./structural.ts";
const convert_ref = (x: Tensor, dtype: string): Tensor =>
  bind1(getPrimitive("convert"), [x], { dtype });

function reducedAval(x: ShapedArray, axes: readonly number[], op: string): ShapedArray {
  if (
    axes.some((a, i) => !Number.isInteger(a) || a < 0 || a >= x.ndim || (i > 0 && a <= axes[i - 1]))
  ) {
    throw new RangeError(
      `${op}: axes [${axes}] are invalid for ${x} (expected sorted, unique, in range)`,
    );
  }
  return new ShapedArray(x.shape.filter((_, i) => !axes.includes(i)), x.dtype);
}

/** Loops over a reduction: calls init for each output, step for each (output, input) pair. */
function reduceLoop(
  x: { data: ArrayLike<number>; aval: ShapedArray },
  axes: readonly number[],
  onElem: (outFlat: number, v: number, posInReduction: number) => void,
): void {
  const shape = x.aval.shape;
  const keep = shape.map((_, i) => !axes.includes(i));
  const outShape = shape.filter((_, i) => keep[i]);
  const os = stridesOf(outShape);
  const redShape = shape.filter((_, i) => !keep[i]);
  const rs = stridesOf(redShape);
  const d = x.data;
  forEachIndex(shape, (idx, flat) => {
    let o = 0, r = 0, ko = 0, kr = 0;
    for (let k = 0; k < idx.length; k++) {
      if (keep[k]) o += idx[k] * os[ko++];
      else r += idx[k] * rs[kr++];
    }
    onElem(o, d[flat], r);
  });
}

/** Params of the reductions `reduce_sum/max/min/prod`: the reduced axes, sorted and unique. */
export type ReduceParams = { readonly axes: readonly number[] };

function defReduce(
  name: string,
  identity: (dtype: string) => number,
  combine: (a: number, b: number) => number,
  rules: Pick<PrimitiveRules<ReduceParams>, "jvp" | "transpose">,
): Primitive<ReduceParams> {
  return definePrimitive<ReduceParams>(name, {
    params: { axes: "required" },
    abstractEval([x], { axes }) {
      if (name === "reduce_sum" || name === "reduce_prod") {
        // fine for all dtypes
      }
      return [reducedAval(x, axes, name)];
    },
    impl([x], { axes }, [o]) {
      const out = alloc(o);
      // f32 accumulates in float64 (as XLA's CPU backend widens), rounded once at the end:
      // rounding every step saturates long sums (2^24 + 1 ones summed 2^24).
      const acc = o.dtype === "f32" ? new Float64Array(out.length) : out;
      acc.fill(identity(x.aval.dtype));
      reduceLoop(x, axes, (i, v) => (acc[i] = combine(acc[i], v)));
      if (acc !== out) out.set(acc);
      if (o.dtype === "bool") { for (let i = 0; i < out.length; i++) out[i] = out[i] ? 1 : 0; }
      return [out];
    },
    batch([x], [d], { axes }) {
      const xb = moveaxis(x, d!, 0);
      return [[bind1(getPrim(name), [xb], { axes: axes.map((a) => a + 1) })], [0]];
    },
    ...rules,
  });
}
const getPrim = (n: string) => getPrimitive(n);

const intMin = (
  dt: string,
) => (dt === "f32" || dt === "f16"
  ? -Infinity
  : dt === "u32"
  ? 0
  : dt === "bool"
  ? 0
  : -2147483648);
const intMax = (
  dt: string,
) => (dt === "f32" || dt === "f16"
  ? Infinity
  : dt === "u32"
  ? 4294967295
  : dt === "bool"
  ? 1
  : 2147483647);
const nanMax = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b);
const nanMin = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b);

/** Broadcasts a reduced result back over the reduced axes of `shape`. */
export function expandReduced(
  y: Tensor,
  shape: readonly number[],
  axes: readonly number[],
): Tensor {
  const keep = [...Array(shape.length).keys()].filter((i) => !axes.includes(i));
  return broadcastInDim(y, shape, keep);
}

export const reduce_sum_p: Primitive<ReduceParams> = defReduce(
  "reduce_sum",
  () => 0,
  (a, b) => a + b,
  {
    jvp([x], [t], params) {
      return [[bind1(reduce_sum_p, [x], params)], [
        isFloat(x.dtype) ? bind1(reduce_sum_p, [t], params) : null,
      ]];
    },
    transpose([ct], [x], { axes }) {
      return [ct ? expandReduced(ct, (x as UndefinedPrimal).aval.shape, axes) : null];
    },
  },
);
// For max/min the tangent flows to the locations equal to the result, split evenly among
// ties (as JAX's reduce_max JVP via _reduce_chooser_jvp_rule).
function chooserJvp(p: () => Primitive<ReduceParams>) {
  return ([x]: Tensor[], [t]: Tensor[], params: ReduceParams): [Tensor[], (Tensor | null)[]] => {
    const y = bind1(p(), [x], params);
    if (!isFloat(x.dtype)) return [[y], [null]];
    const axes = params.axes;
    const mask = convert_ref(bind1(getPrim("eq"), [x, expandReduced(y, x.shape, axes)]), x.dtype);
    const count = bind1(reduce_sum_p, [mask], params);
    const num = bind1(reduce_sum_p, [bind1(getPrim("mul"), [mask, t])], params);
    return [[y], [bind1(getPrim("div"), [num, count])]];
  };
}
export const reduce_max_p: Primitive<ReduceParams> = defReduce("reduce_max", intMin, nanMax, {
  jvp: chooserJvp(() => reduce_max_p),
});
export const reduce_min_p: Primitive<ReduceParams> = defReduce("reduce_min", intMax, nanMin, {
  jvp: chooserJvp(() => reduce_min_p),
});
export const reduce_prod_p: Primitive<ReduceParams> = defReduce(
  "reduce_prod",
  () => 1,
  (a, b) => a * b,
  {
    // d Πx = Σ_i (Π_{j≠i} x_j) dx_i, computed without division so zeros are handled:
    // products of the prefix and suffix (exclusive cumulative products) along the reduced axes.
    jvp([x], [t], params) {
      const y = bind1(reduce_prod_p, [x], params);
      if (!isFloat(x.dtype)) return [[y], [null]];
      const axes = params.axes;
      // flatten the reduced axes into one trailing axis
      const keep = [...Array(x.ndim).keys()].filter((i) => !axes.includes(i));
      const xt = moveToEnd(x, keep, axes), tt = moveToEnd(t, keep, axes);
      const n = xt.shape[xt.ndim - 1];
      const others = exclusiveProducts(xt, n);
      const dy = bind1(reduce_sum_p, [bind1(getPrim("mul"), [others, tt])], {
        axes: [xt.ndim - 1],
      });
      return [[y], [dy]];
    },
  },
);
function moveToEnd(x: Tensor, keep: number[], axes: readonly number[]): Tensor {
  const tr = bind1(transpose_p, [x], { perm: [...keep, ...axes] });
  const outer = keep.map((k) => x.shape[k]);
  const n = axes.reduce((a, k) => a * x.shape[k], 1);
  return reshape(tr, [...outer, n]);
}
function exclusiveProducts(x: Tensor, n: number): Tensor {
  // others[i] = Π_{j<i} x_j · Π_{j>i} x_j via exclusive cumprods
  const last = x.ndim - 1;
  const cp = getPrim("cumprod");
  const ones = bind1(broadcast_in_dim_p, [constant([1], [], x.dtype)], {
    shape: [...x.shape.slice(0, last), 1],
    broadcastDimensions: [],
  });
  const lo = [...x.shape.slice(0, last).map(() => 0), 0];
  const sl = (a: Tensor, s: number, e: number) =>
    bind1(slice_p, [a], {
      start: [...lo.slice(0, last), s],
      limit: [...a.shape.slice(0, last), e],
      strides: a.shape.map(() => 1),
    });
  const cat = (a: Tensor, b: Tensor) => bind1(concatenate_p, [a, b], { axis: last });
  const pre = cat(ones, sl(bind1(cp, [x], { axis: last, reverse: false }), 0, n - 1));
  const post = cat(sl(bind1(cp, [x], { axis: last, reverse: true }), 1, n), ones);
  return bind1(getPrim("mul"), [pre, post]);
}

/** Params of `argmax`/`argmin`: the reduced axis and the index dtype (default i32). */
export type ArgReduceParams = { readonly axis: number; readonly indexDtype?: DType };

function defArg(
  name: "argmax" | "argmin",
  better: (a: number, b: number) => boolean,
): Primitive<ArgReduceParams> {
  const p: Primitive<ArgReduceParams> = definePrimitive<ArgReduceParams>(name, {
    params: { axis: "required", indexDtype: "optional" },
    abstractEval([x], { axis, indexDtype }) {
      if (axis < 0 || axis >= x.ndim) {
        throw new RangeError(`${name}: axis ${axis} is out of bounds for ${x}`);
      }
      if (x.shape[axis] === 0) {
        throw new RangeError(`${name}: cannot reduce the empty axis ${axis} of ${x}`);
      }
      return [new ShapedArray(x.shape.filter((_, i) => i !== axis), indexDtype ?? "i32")];
    },
    impl([x], { axis }, [o]) {
      const out = alloc(o);
      const best = new Float64Array(o.size);
      const seen = new Uint8Array(o.size);
      reduceLoop(x, [axis], (i, v, pos) => {
        if (!seen[i]) {
          seen[i] = 1;
          best[i] = v;
          out[i] = pos;
        } else if (!Number.isNaN(best[i]) && (Number.isNaN(v) || better(v, best[i]))) {
          best[i] = v;
          out[i] = pos;
        }
      });
      return [out];
    },
    jvp([x], _t, params) {
      return [[bind1(p, [x], params)], [null]];
    },
    batch([x], [d], { axis, indexDtype }) {
      const xb = moveaxis(x, d!, 0);
      return [[bind1(p, [xb], { axis: axis + 1, indexDtype })], [0]];
    },
  });
  return p;
}
/** Index of the first maximum along an axis (NaN counts as the maximum, as NumPy). */
export const argmax_p: Primitive<ArgReduceParams> = defArg("argmax", (a, b) => a > b);
/** Index of the first minimum along an axis. */
export const argmin_p: Primitive<ArgReduceParams> = defArg("argmin", (a, b) => a < b);

/** Sum over the given sorted axes. */
export function reduceSum(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length === 0) return x;
  return bind1(reduce_sum_p, [x], { axes: [...axes] });
}
/** Max over axes. */
export function reduceMax(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length === 0) return x;
  return bind1(reduce_max_p, [x], { axes: [...axes] });
}
/** Min over axes. */
export function reduceMin(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length === 0) return x;
  return bind1(reduce_min_p, [x], { axes: [...axes] });
}
/** Product over axes. */
export function reduceProd(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length === 0) return x;
  return bind1(reduce_prod_p, [x], { axes: [...axes] });
}
/** Argmax along one axis. */
export function argmax(x: Tensor, axis: number): Tensor {
  return bind1(argmax_p, [x], { axis, indexDtype: "i32" });
}
/** Argmin along one axis. */
export function argmin(x: Tensor, axis: number): Tensor {
  return bind1(argmin_p, [x], { axis, indexDtype: "i32" });
}
