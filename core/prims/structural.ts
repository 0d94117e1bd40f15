/**
 * Structural primitives: broadcast, reshape, transpose, slice, pad, concatenate, rev, iota,
 * and constants.
 *
 * @module
 */
import { fmtAvals, prod, sameShape, ShapedArray, stridesOf } from "../aval.ts";
import { currentBackend } from "../backend.ts";
import { allocTyped, copyNumbers, type DType, isFloat } from "../dtype.ts";
import { storageAval } from "../f16.ts";
import { definePrimitive, getPrimitive, type Primitive, UndefinedPrimal } from "../primitive.ts";
import { _recordScalar, Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { alloc, forEachIndex } from "./host.ts";

const isUndef = (a: unknown): boolean => a instanceof UndefinedPrimal;

/** A concrete constant tensor from host data on the current backend. */
export function constant(data: ArrayLike<number>, shape: readonly number[], dtype: DType): Tensor {
  const aval = new ShapedArray(shape, dtype);
  const buf = allocTyped(dtype, aval.size);
  copyNumbers(buf, data, dtype === "f16" ? (v: unknown) => Math.f16round(Number(v)) : Number);
  const b = currentBackend();
  const t = new Tensor(aval, b.upload(buf, storageAval(aval, b)), b);
  if (shape.length === 0) _recordScalar(t, buf[0]);
  return t;
}

/** A tensor of `shape` filled with `value` (a broadcast scalar). */
export function full(shape: readonly number[], value: number, dtype: DType): Tensor {
  const s = constant([value], [], dtype);
  return shape.length === 0 ? s : broadcastInDim(s, shape, []);
}

/** Zeros of the same shape and dtype. */
export function zerosLikeT(x: { shape: readonly number[]; dtype: DType }): Tensor {
  return full(x.shape, 0, x.dtype);
}

// ---------------------------------------------------------------- broadcast_in_dim

/** Params of `broadcast_in_dim`: the result shape; operand dim i goes to result dim `broadcastDimensions[i]`. */
export type BroadcastInDimParams = {
  readonly shape: readonly number[];
  readonly broadcastDimensions: readonly number[];
};
export const broadcast_in_dim_p: Primitive<BroadcastInDimParams> = definePrimitive<
  BroadcastInDimParams
>("broadcast_in_dim", {
  params: { shape: "required", broadcastDimensions: "required" },
  abstractEval([x], { shape, broadcastDimensions: bd }) {
    const ok = bd.length === x.ndim &&
      bd.every((d: number, i: number) =>
        d >= 0 && d < shape.length && (i === 0 || d > bd[i - 1]) &&
        (x.shape[i] === 1 || x.shape[i] === shape[d])
      );
    if (!ok) {
      throw new TypeError(
        `Cannot broadcast ${x} to [${shape}] with broadcastDimensions [${bd}]`,
      );
    }
    return [new ShapedArray(shape, x.dtype)];
  },
  impl([x], { shape, broadcastDimensions: bd }, [o]) {
    const out = alloc(o);
    const xs = stridesOf(x.aval.shape);
    const map = new Array(shape.length).fill(0);
    bd.forEach((d: number, i: number) => (map[d] = x.aval.shape[i] === 1 ? 0 : xs[i]));
    const src = x.data;
    forEachIndex(shape, (idx, flat) => {
      let off = 0;
      for (let k = 0; k < idx.length; k++) off += idx[k] * map[k];
      out[flat] = src[off];
    });
    return [out];
  },
  jvp([x], [t], params) {
    return [[bind1(broadcast_in_dim_p, [x], params)], [bind1(broadcast_in_dim_p, [t], params)]];
  },
  transpose([ct], [x], { shape, broadcastDimensions: bd }) {
    if (!ct) return [null];
    const xa = (x as UndefinedPrimal).aval;
    // sum over the new dimensions and over broadcast size-1 dimensions, then reshape
    const sumDims = [...Array(shape.length).keys()].filter((d) => {
      const i = bd.indexOf(d);
      return i < 0 || (xa.shape[i] === 1 && shape[d] !== 1);
    });
    return [reshape(reduceSum(ct, sumDims), xa.shape)];
  },
  batch([x], [d], { shape, broadcastDimensions: bd }) {
    const xb = moveaxis(x, d!, 0);
    const newShape = [xb.shape[0], ...shape];
    return [[broadcastInDim(xb, newShape, [0, ...bd.map((v: number) => v + 1)])], [0]];
  },
});
/** Broadcasts `x` to `shape`; operand dim i goes to output dim `dims[i]`. */
export function broadcastInDim(
  x: Tensor,
  shape: readonly number[],
  dims: readonly number[],
): Tensor {
  if (sameShape(x.shape, shape) && dims.every((d, i) => d === i)) return x;
  return bind1(broadcast_in_dim_p, [x], { shape: [...shape], broadcastDimensions: [...dims] });
}

// ---------------------------------------------------------------- reshape

/** Params of `reshape`: the result shape (explicit, no -1). */
export type ReshapeParams = { readonly shape: readonly number[] };
export const reshape_p: Primitive<ReshapeParams> = definePrimitive<ReshapeParams>("reshape", {
  params: { shape: "required" },
  abstractEval([x], { shape }) {
    if (prod(shape) !== x.size || shape.some((d: number) => !(Number.isInteger(d) && d >= 0))) {
      throw new TypeError(
        `Cannot reshape ${x} to [${shape}]: sizes differ (${x.size} vs ${prod(shape)})`,
      );
    }
    return [new ShapedArray(shape, x.dtype)];
  },
  impl([x], _p, [o]) {
    const out = alloc(o);
    out.set(x.data as never);
    return [out];
  },
  jvp([x], [t], { shape }) {
    return [[reshape(x, shape)], [reshape(t, shape)]];
  },
  transpose([ct], [x]) {
    return [ct ? reshape(ct, (x as UndefinedPrimal).aval.shape) : null];
  },
  batch([x], [d], { shape }) {
    const xb = moveaxis(x, d!, 0);
    return [[reshape(xb, [xb.shape[0], ...shape])], [0]];
  },
});
/** Reshapes to an explicit shape (no -1; see np.reshape for that). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  return bind1(reshape_p, [x], { shape: [...shape] });
}

// ---------------------------------------------------------------- transpose

/** Params of `transpose`: result dim i is operand dim `perm[i]`. */
export type TransposeParams = { readonly perm: readonly number[] };
export const transpose_p: Primitive<TransposeParams> = definePrimitive<TransposeParams>(
  "transpose",
  {
    params: { perm: "required" },
    abstractEval([x], { perm }) {
      const ok = perm.length === x.ndim &&
        [...perm].sort((a: number, b: number) => a - b).every((v: number, i: number) => v === i);
      if (!ok) throw new RangeError(`Cannot transpose ${x} with permutation [${perm}]`);
      return [new ShapedArray(perm.map((p: number) => x.shape[p]), x.dtype)];
    },
    impl([x], { perm }, [o]) {
      const out = alloc(o);
      const xs = stridesOf(x.aval.shape);
      const st = perm.map((p: number) => xs[p]);
      const src = x.data;
      forEachIndex(o.shape, (idx, flat) => {
        let off = 0;
        for (let k = 0; k < idx.length; k++) off += idx[k] * st[k];
        out[flat] = src[off];
      });
      return [out];
    },
    jvp([x], [t], { perm }) {
      return [[transpose(x, perm)], [transpose(t, perm)]];
    },
    transpose([ct], _x, { perm }) {
      return [ct ? transpose(ct, invertPerm(perm)) : null];
    },
    batch([x], [d], { perm }) {
      const xb = moveaxis(x, d!, 0);
      return [[transpose(xb, [0, ...perm.map((p: number) => p + 1)])], [0]];
    },
  },
);
/** The inverse of a permutation. */
export function invertPerm(perm: readonly number[]): number[] {
  const inv = new Array(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}
/** Permutes axes. */
export function transpose(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.every((p, i) => p === i)) return x;
  return bind1(transpose_p, [x], { perm: [...perm] });
}
/** Moves axis `from` to position `to` (both non-negative). */
export function moveaxis(x: Tensor, from: number, to: number): Tensor {
  if (from === to) return x;
  const perm = [...Array(x.ndim).keys()].filter((a) => a !== from);
  perm.splice(to, 0, from);
  return transpose(x, perm);
}

// ---------------------------------------------------------------- slice

/** Params of `slice`: per dim, the first index, the end (exclusive) and the step (≥ 1). */
export type SliceParams = {
  readonly start: readonly number[];
  readonly limit: readonly number[];
  readonly strides: readonly number[];
};
export const slice_p: Primitive<SliceParams> = definePrimitive<SliceParams>("slice", {
  params: { start: "required", limit: "required", strides: "required" },
  abstractEval([x], { start, limit, strides }) {
    const ok = start.length === x.ndim && limit.length === x.ndim && strides.length === x.ndim &&
      start.every((s: number, i: number) =>
        s >= 0 && s <= limit[i] && limit[i] <= x.shape[i] && strides[i] >= 1
      );
    if (!ok) {
      throw new RangeError(
        `Cannot slice ${x} with start [${start}], limit [${limit}], strides [${strides}]`,
      );
    }
    return [
      new ShapedArray(
        start.map((s: number, i: number) => Math.ceil((limit[i] - s) / strides[i])),
        x.dtype,
      ),
    ];
  },
  impl([x], { start, strides }, [o]) {
    const out = alloc(o);
    const xs = stridesOf(x.aval.shape);
    const src = x.data;
    forEachIndex(o.shape, (idx, flat) => {
      let off = 0;
      for (let k = 0; k < idx.length; k++) off += (start[k] + idx[k] * strides[k]) * xs[k];
      out[flat] = src[off];
    });
    return [out];
  },
  jvp([x], [t], params) {
    return [[bind1(slice_p, [x], params)], [bind1(slice_p, [t], params)]];
  },
  transpose([ct], [x], { start, strides }) {
    if (!ct) return [null];
    const xa = (x as UndefinedPrimal).aval;
    // zero-pad back: lo = start, interior = stride − 1, hi = what is left after the last element
    const hi = xa.shape.map((n, k) =>
      n - (start[k] + (ct.shape[k] === 0 ? 0 : (ct.shape[k] - 1) * strides[k] + 1))
    );
    return [pad(ct, full([], 0, ct.dtype), start, hi, strides.map((s: number) => s - 1))];
  },
  batch([x], [d], { start, limit, strides }) {
    const xb = moveaxis(x, d!, 0);
    return [[slice(xb, [0, ...start], [xb.shape[0], ...limit], [1, ...strides])], [0]];
  },
});
/** Static slice with strides. */
export function slice(
  x: Tensor,
  start: readonly number[],
  limit: readonly number[],
  strides?: readonly number[],
): Tensor {
  const st = strides ?? start.map(() => 1);
  if (
    start.every((s) => s === 0) && limit.every((l, i) => l === x.shape[i]) &&
    st.every((s) => s === 1)
  ) return x;
  return bind1(slice_p, [x], { start: [...start], limit: [...limit], strides: [...st] });
}

// ---------------------------------------------------------------- pad

/** Params of `pad`: per dim, padding before and after (negative crops) and between elements. */
export type PadParams = {
  readonly lo: readonly number[];
  readonly hi: readonly number[];
  readonly interior: readonly number[];
};
export const pad_p: Primitive<PadParams> = definePrimitive<PadParams>("pad", {
  params: { lo: "required", hi: "required", interior: "required" },
  abstractEval([x, v], { lo, hi, interior }) {
    if (
      v.ndim !== 0 || v.dtype !== x.dtype || lo.length !== x.ndim || hi.length !== x.ndim ||
      interior.length !== x.ndim || interior.some((i: number) => i < 0)
    ) {
      throw new TypeError(
        `Cannot pad ${fmtAvals([x, v])} with lo [${lo}], hi [${hi}], interior [${interior}]`,
      );
    }
    const shape = x.shape.map((n, k) => lo[k] + hi[k] + (n === 0 ? 0 : n + (n - 1) * interior[k]));
    if (shape.some((n) => n < 0)) {
      throw new RangeError(`Cannot pad ${x} with lo [${lo}], hi [${hi}]: negative output size`);
    }
    return [new ShapedArray(shape, x.dtype)];
  },
  impl([x, v], { lo, interior }, [o]) {
    const out = alloc(o);
    out.fill(v.data[0] as never);
    const src = x.data;
    const os = stridesOf(o.shape);
    forEachIndex(x.aval.shape, (idx, flat) => {
      let off = 0;
      for (let k = 0; k < idx.length; k++) {
        const p = lo[k] + idx[k] * (interior[k] + 1);
        if (p < 0 || p >= o.shape[k]) return;
        off += p * os[k];
      }
      out[off] = src[flat];
    });
    return [out];
  },
  jvp([x, v], [tx, tv], params) {
    return [[bind1(pad_p, [x, v], params)], [
      isFloat(x.dtype) ? bind1(pad_p, [tx, tv], params) : null,
    ]];
  },
  transpose([ct], [x, v], { lo, hi, interior }) {
    if (!ct) return [null, null];
    const xa = x instanceof UndefinedPrimal ? x.aval : (x as Tensor).aval;
    // undo negative padding first, then take every (interior+1)-th element from lo
    const unpadded = pad(
      ct,
      full([], 0, ct.dtype),
      lo.map((l: number) => Math.max(0, -l)),
      hi.map((h: number) => Math.max(0, -h)),
    );
    const start = lo.map((l: number) => Math.max(0, l));
    const limit = xa.shape.map((n, k) =>
      start[k] + (n === 0 ? 0 : (n - 1) * (interior[k] + 1) + 1)
    );
    const ctx = slice(unpadded, start, limit, interior.map((i: number) => i + 1));
    const tx = isUndef(x) ? ctx : null;
    let tv: Tensor | null = null;
    if (isUndef(v)) {
      // the pad value lands everywhere that x does not
      const all = [...Array(ct.ndim).keys()];
      tv = bind1(sub_ref(), [reduceSum(ct, all), reduceSum(ctx, all)]);
    }
    return [tx, tv];
  },
  batch([x, v], [dx, dv], params, size) {
    if (dv !== null) {
      // a batched pad value: pad with zeros and select the border per example
      const xb = dx === null
        ? broadcastInDim(x, [size, ...x.shape], x.shape.map((_, i) => i + 1))
        : moveaxis(x, dx, 0);
      const ones = full(xb.shape, 1, "bool");
      const mask = bind1(pad_p, [ones, full([], 0, "bool")], {
        lo: [0, ...params.lo],
        hi: [0, ...params.hi],
        interior: [0, ...params.interior],
      });
      const padded = bind1(pad_p, [xb, full([], 0, x.dtype)], {
        lo: [0, ...params.lo],
        hi: [0, ...params.hi],
        interior: [0, ...params.interior],
      });
      const vb = broadcastInDim(moveaxis(v, dv, 0), padded.shape, [0]);
      return [[bind1(select_ref(), [mask, padded, vb])], [0]];
    }
    const xb = moveaxis(x, dx!, 0);
    return [[
      bind1(pad_p, [xb, v], {
        lo: [0, ...params.lo],
        hi: [0, ...params.hi],
        interior: [0, ...params.interior],
      }),
    ], [0]];
  },
});
const sub_ref = () => getPrimitive("sub");
/**
 * Sum over axes, looked up by name: `reduce.ts` builds on this module (broadcasts, reshapes),
 * so importing it back would make a cycle.
 */
function reduceSum(x: Tensor, axes: readonly number[]): Tensor {
  return axes.length === 0 ? x : bind1(getPrimitive("reduce_sum"), [x], { axes: [...axes] });
}
const select_ref = () => getPrimitive("select");
/** Pads with a scalar value; negative lo/hi crop. */
export function pad(
  x: Tensor,
  value: Tensor,
  lo: readonly number[],
  hi: readonly number[],
  interior?: readonly number[],
): Tensor {
  const it = interior ?? lo.map(() => 0);
  if (lo.every((l) => l === 0) && hi.every((h) => h === 0) && it.every((i) => i === 0)) return x;
  return bind1(pad_p, [x, value], { lo: [...lo], hi: [...hi], interior: [...it] });
}

// ---------------------------------------------------------------- concatenate

/** Params of `concatenate`: the axis joined along. */
export type ConcatenateParams = { readonly axis: number };
export const concatenate_p: Primitive<ConcatenateParams> = definePrimitive<ConcatenateParams>(
  "concatenate",
  {
    params: { axis: "required" },
    abstractEval(xs, { axis }) {
      const a0 = xs[0];
      if (!a0) throw new TypeError("Cannot concatenate zero arrays");
      const ok = xs.every((a) =>
        a.dtype === a0.dtype && a.ndim === a0.ndim &&
        a.shape.every((n, k) => k === axis || n === a0.shape[k])
      ) && axis >= 0 && axis < a0.ndim;
      if (!ok) {
        throw new TypeError(
          `Cannot concatenate ${
            fmtAvals(xs)
          } along axis ${axis}: shapes must agree except on that axis`,
        );
      }
      const shape = [...a0.shape];
      shape[axis] = xs.reduce((s, a) => s + a.shape[axis], 0);
      return [new ShapedArray(shape, a0.dtype)];
    },
    impl(xs, { axis }, [o]) {
      const out = alloc(o);
      const outer = prod(o.shape.slice(0, axis)), inner = prod(o.shape.slice(axis + 1));
      const rowOut = o.shape[axis] * inner;
      let off = 0;
      for (const x of xs) {
        const row = x.aval.shape[axis] * inner;
        for (let i = 0; i < outer; i++) {
          for (let j = 0; j < row; j++) out[i * rowOut + off + j] = x.data[i * row + j];
        }
        off += row;
      }
      return [out];
    },
    jvp(xs, ts, params) {
      return [[bind1(concatenate_p, xs, params)], [
        isFloat(xs[0].dtype) ? bind1(concatenate_p, ts, params) : null,
      ]];
    },
    transpose([ct], xs, { axis }) {
      if (!ct) return xs.map(() => null);
      let off = 0;
      return xs.map((x) => {
        const a = x instanceof UndefinedPrimal ? x.aval : (x as Tensor).aval;
        const start = a.shape.map((_, k) => (k === axis ? off : 0));
        const limit = a.shape.map((n, k) => (k === axis ? off + n : n));
        off += a.shape[axis];
        return isUndef(x) ? slice(ct, start, limit) : null;
      });
    },
    batch(xs, dims, { axis }, size) {
      const moved = xs.map((x, i) =>
        dims[i] === null
          ? broadcastInDim(x, [size, ...x.shape], x.shape.map((_, k) => k + 1))
          : moveaxis(x, dims[i]!, 0)
      );
      return [[bind1(concatenate_p, moved, { axis: axis + 1 })], [0]];
    },
  },
);
/** Concatenates along an existing axis. */
export function concatenate(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 1) return xs[0];
  return bind1(concatenate_p, [...xs], { axis });
}

// ---------------------------------------------------------------- rev

/** Params of `rev`: the axes reversed. */
export type RevParams = { readonly axes: readonly number[] };
export const rev_p: Primitive<RevParams> = definePrimitive<RevParams>("rev", {
  params: { axes: "required" },
  abstractEval([x], { axes }) {
    if (axes.some((a: number) => a < 0 || a >= x.ndim)) {
      throw new RangeError(`Cannot reverse ${x} along axes [${axes}]`);
    }
    return [x];
  },
  impl([x], { axes }, [o]) {
    const out = alloc(o);
    const xs = stridesOf(x.aval.shape);
    const src = x.data;
    forEachIndex(o.shape, (idx, flat) => {
      let off = 0;
      for (let k = 0; k < idx.length; k++) {
        off += (axes.includes(k) ? o.shape[k] - 1 - idx[k] : idx[k]) * xs[k];
      }
      out[flat] = src[off];
    });
    return [out];
  },
  jvp([x], [t], { axes }) {
    return [[rev(x, axes)], [rev(t, axes)]];
  },
  transpose([ct], _x, { axes }) {
    return [ct ? rev(ct, axes) : null];
  },
  batch([x], [d], { axes }) {
    const xb = moveaxis(x, d!, 0);
    return [[rev(xb, axes.map((a: number) => a + 1))], [0]];
  },
});
/** Reverses along axes. */
export function rev(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length === 0) return x;
  return bind1(rev_p, [x], { axes: [...axes] });
}

// ---------------------------------------------------------------- iota

/** Params of `iota`: the result shape and dtype, and the dimension that counts. */
export type IotaParams = {
  readonly shape: readonly number[];
  readonly dimension: number;
  readonly dtype: DType;
};
export const iota_p: Primitive<IotaParams> = definePrimitive<IotaParams>("iota", {
  params: { shape: "required", dimension: "required", dtype: "required" },
  abstractEval(_a, { shape, dimension, dtype }) {
    if (dimension < 0 || dimension >= shape.length) {
      throw new RangeError(`iota: dimension ${dimension} out of range for shape [${shape}]`);
    }
    return [new ShapedArray(shape, dtype)];
  },
  impl(_a, { dimension }, [o]) {
    const out = alloc(o);
    forEachIndex(o.shape, (idx, flat) => (out[flat] = idx[dimension]));
    return [out];
  },
  jvp(_p, _t, params) {
    return [[bind1(iota_p, [], params)], [null]];
  },
  batch() {
    throw new Error("internal: iota has no operands to batch");
  },
});
/** Indices along `dimension` of an array of `shape`. */
export function iota(dtype: DType, shape: readonly number[], dimension = 0): Tensor {
  return bind1(iota_p, [], { shape: [...shape], dimension, dtype });
}
