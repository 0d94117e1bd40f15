/**
 * `reduce_window`: a sum, max or min over sliding windows of every dimension of one operand
 * (pooling), as XLA's ReduceWindow with the op's identity as the initial value.
 *
 * Params (plain JSON, read by the WGSL lowering in `gpu/kernels/window.ts` as `WindowParams`):
 * - `op: "sum" | "max" | "min"`;
 * - `windowDimensions: number[]` — window size per dim (≥ 1);
 * - `windowStrides: number[]` — stride per dim (≥ 1);
 * - `padding: [lo, hi][]` — per dim, applied after base dilation; padded elements are the op's
 *   identity (0, −∞, +∞; the dtype's extremes for integers), so they never win; may be negative;
 * - `baseDilation: number[]` — operand dilation (holes hold the identity too);
 * - `windowDilation: number[]` — window dilation.
 *
 * Out size per dim: `floor((dilatedIn + lo + hi − dilatedWindow) / stride) + 1` (0 when the
 * window does not fit).
 *
 * Rules: sum is linear, and its transpose is a padded (interior = stride − 1) sum over the
 * cotangent, as JAX's `_reduce_window_sum_transpose_rule`. For max/min the tangent is taken at
 * the selected element of each window (the first extremum in row-major window order, as XLA's
 * select-and-gather); it is composed from pad, slice, concatenate, argmax/argmin, select and
 * reduce_sum, so it is differentiable again and transposes with those primitives' rules. The
 * batching rule adds a window of size 1 over the batch axis.
 *
 * @module
 */
import { fmtAvals, ShapedArray, stridesOf } from "../aval.ts";
import { type DType, isFloat } from "../dtype.ts";
import {
  definePrimitive,
  type HostArray,
  type Primitive,
  type UndefinedPrimal,
} from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { dilateDim, vjpLhsPadding, windowOutDim } from "./conv.ts";
import { eq, select } from "./elementwise.ts";
import { alloc, forEachIndex } from "./host.ts";
import { argmax, argmin, reduceSum } from "./reduce.ts";
import {
  broadcastInDim,
  concatenate,
  full,
  iota,
  moveaxis,
  pad,
  reshape,
  slice,
  zerosLikeT,
} from "./structural.ts";

/** The reduction of `reduce_window`. */
export type WindowOp = "sum" | "max" | "min";

/** Parameters of `reduce_window` (a type alias: assignable to the generic `Params` record). */
export type WindowParams = {
  /** "sum", "max" or "min". */
  readonly op: WindowOp;
  /** Window size per dim. */
  readonly windowDimensions: readonly number[];
  /** Stride per dim. */
  readonly windowStrides: readonly number[];
  /** `[lo, hi]` padding per dim. */
  readonly padding: readonly (readonly [number, number])[];
  /** Base (input) dilation per dim. */
  readonly baseDilation: readonly number[];
  /** Window dilation per dim. */
  readonly windowDilation: readonly number[];
};

/** The identity of a window reduction for a dtype (the value that padding holds). */
export function windowIdentity(op: WindowOp, dtype: DType): number {
  if (op === "sum") return 0;
  const fl = dtype === "f32" || dtype === "f16";
  const lowest = fl ? -Infinity : dtype === "u32" ? 0 : -2147483648;
  const highest = fl ? Infinity : dtype === "u32" ? 4294967295 : 2147483647;
  return op === "max" ? lowest : highest;
}

const isPosInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;

/** The output shape of `reduce_window`. */
export function windowOutShape(shape: readonly number[], p: WindowParams): number[] {
  return shape.map((n, d) =>
    windowOutDim(
      n,
      p.baseDilation[d],
      p.windowDimensions[d],
      p.windowDilation[d],
      p.padding[d][0],
      p.padding[d][1],
      p.windowStrides[d],
    )
  );
}

function windowAval(x: ShapedArray, p: WindowParams): ShapedArray {
  const what = `Cannot reduce_window ${fmtAvals([x])}`;
  if (!["sum", "max", "min"].includes(p.op)) {
    throw new TypeError(`${what}: op must be "sum", "max" or "min", got ${JSON.stringify(p.op)}`);
  }
  if (x.dtype === "bool") throw new TypeError(`${what}: bool operands are not supported`);
  const list = (name: keyof WindowParams, ok: (v: unknown) => boolean, kind: string) => {
    const v: unknown = p[name];
    if (!Array.isArray(v) || v.length !== x.ndim || !v.every(ok)) {
      throw new RangeError(
        `${what}: ${name} must list ${x.ndim} ${kind} (one per dimension), got ${
          JSON.stringify(v)
        }`,
      );
    }
  };
  list("windowDimensions", isPosInt, "positive integers");
  list("windowStrides", isPosInt, "positive integers");
  list("baseDilation", isPosInt, "positive integers");
  list("windowDilation", isPosInt, "positive integers");
  list(
    "padding",
    (q) => Array.isArray(q) && q.length === 2 && q.every(Number.isInteger),
    "[lo, hi] integer pairs",
  );
  x.shape.forEach((n, d) => {
    if (dilateDim(n, p.baseDilation[d]) + p.padding[d][0] + p.padding[d][1] < 0) {
      throw new RangeError(
        `${what}: padding [${p.padding[d]}] crops more than dimension ${d} holds`,
      );
    }
  });
  return new ShapedArray(windowOutShape(x.shape, p), x.dtype);
}

/** Whether every dim but the last two maps output to input one to one (pooling's layout). */
function _leadingIdentity(
  shape: readonly number[],
  oshape: readonly number[],
  p: WindowParams,
): boolean {
  for (let d = 0; d < shape.length - 2; d++) {
    if (
      p.windowDimensions[d] !== 1 || p.windowStrides[d] !== 1 || p.padding[d][0] !== 0 ||
      p.baseDilation[d] !== 1 || oshape[d] !== shape[d]
    ) return false;
  }
  return true;
}

/**
 * The window reduction over the last two dims for every leading index, with the per-dim tap
 * tables of {@link windowImpl} (the input row/column of each output position and tap, or −1):
 * flat loops instead of a recursive walk, which runs pooling and its gradient 10–30× faster.
 */
function _window2d(
  data: ArrayLike<number>,
  out: { [i: number]: number },
  shape: readonly number[],
  oshape: readonly number[],
  tabs: Int32Array[],
  W: readonly number[],
  op: WindowParams["op"],
  id: number,
  dtype: string,
): void {
  const nd = shape.length, H = shape[nd - 2], Wd = shape[nd - 1];
  const OH = oshape[nd - 2], OW = oshape[nd - 1], wh = W[nd - 2], ww = W[nd - 1];
  const th = tabs[nd - 2], tw = tabs[nd - 1];
  let lead = 1;
  for (let d = 0; d < nd - 2; d++) lead *= shape[d];
  const wrap = dtype === "i32"
    ? (v: number) => v | 0
    : dtype === "u32"
    ? (v: number) => v >>> 0
    : null;
  for (let l = 0; l < lead; l++) {
    const ib = l * H * Wd, ob = l * OH * OW;
    for (let y = 0; y < OH; y++) {
      for (let xo = 0; xo < OW; xo++) {
        let acc = id;
        for (let a = 0; a < wh; a++) {
          const r = th[y * wh + a];
          if (r < 0) continue;
          const rb = ib + r * Wd;
          for (let b = 0; b < ww; b++) {
            const c = tw[xo * ww + b];
            if (c < 0) continue;
            const v = data[rb + c];
            if (op === "sum") acc += v;
            else if (Number.isNaN(acc) || Number.isNaN(v)) acc = NaN;
            else if (op === "max" ? v > acc : v < acc) acc = v;
          }
        }
        out[ob + y * OW + xo] = wrap ? wrap(acc) : acc;
      }
    }
  }
}

function windowImpl(x: HostArray, p: WindowParams, o: ShapedArray): ReturnType<typeof alloc> {
  const out = alloc(o);
  const nd = x.aval.ndim;
  const W = p.windowDimensions;
  // per dim, for each (output position, window tap): the input index, or −1 (padding or hole)
  const tabs = x.aval.shape.map((n, d) => {
    const t = new Int32Array(o.shape[d] * W[d]);
    for (let y = 0; y < o.shape[d]; y++) {
      for (let j = 0; j < W[d]; j++) {
        const pos = y * p.windowStrides[d] + j * p.windowDilation[d] - p.padding[d][0];
        const i = pos / p.baseDilation[d];
        t[y * W[d] + j] = pos >= 0 && pos % p.baseDilation[d] === 0 && i < n ? i : -1;
      }
    }
    return t;
  });
  const xs = stridesOf(x.aval.shape), data = x.data;
  const id = windowIdentity(p.op, x.aval.dtype);
  if (nd >= 2 && _leadingIdentity(x.aval.shape, o.shape, p)) {
    _window2d(data, out, x.aval.shape, o.shape, tabs, W, p.op, id, o.dtype);
    return out;
  }
  const combine = p.op === "sum"
    ? (a: number, b: number) => a + b
    : p.op === "max"
    ? (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b)
    : (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b);
  let acc = 0;
  const walk = (idx: readonly number[], d: number, off: number): void => {
    if (d === nd) {
      acc = combine(acc, data[off]);
      return;
    }
    const t = tabs[d], w = W[d], row = idx[d] * w;
    for (let j = 0; j < w; j++) {
      const i = t[row + j];
      if (i >= 0) walk(idx, d + 1, off + i * xs[d]);
    }
  };
  const wrap = o.dtype === "i32"
    ? (v: number) => v | 0
    : o.dtype === "u32"
    ? (v: number) => v >>> 0
    : (v: number) => v;
  forEachIndex(o.shape, (idx, flat) => {
    acc = id;
    walk(idx, 0, 0);
    out[flat] = wrap(acc);
  });
  return out;
}

/**
 * The tangent of a max/min window reduction: each window's tangent at its first extremum.
 * Window patches come from strided slices of the padded operand, stacked on a new leading
 * axis; argmax/argmin over that axis picks the element and a select keeps its tangent.
 */
function chooserTangent(
  x: Tensor,
  t: Tensor,
  p: WindowParams,
  outShape: readonly number[],
): Tensor {
  const lo = p.padding.map((q) => q[0]), hi = p.padding.map((q) => q[1]);
  const interior = p.baseDilation.map((b) => b - 1);
  const xp = pad(x, full([], windowIdentity(p.op, x.dtype), x.dtype), lo, hi, interior);
  const tp = pad(t, full([], 0, t.dtype), lo, hi, interior);
  const xs: Tensor[] = [], ts: Tensor[] = [];
  const patch = (a: Tensor, start: number[]) => {
    const limit = start.map((s, d) =>
      s + (outShape[d] === 0 ? 0 : (outShape[d] - 1) * p.windowStrides[d] + 1)
    );
    return reshape(slice(a, start, limit, p.windowStrides), [1, ...outShape]);
  };
  forEachIndex(p.windowDimensions, (w) => {
    const start = w.map((wi, d) => wi * p.windowDilation[d]);
    xs.push(patch(xp, start));
    ts.push(patch(tp, start));
  });
  const X = concatenate(xs, 0), T = concatenate(ts, 0);
  const pick = p.op === "max" ? argmax(X, 0) : argmin(X, 0);
  const nd = outShape.length;
  const shape = [xs.length, ...outShape];
  const mask = eq(
    iota("i32", shape, 0),
    broadcastInDim(pick, shape, [...Array(nd).keys()].map((i) => i + 1)),
  );
  return reduceSum(select(mask, T, zerosLikeT(T)), [0]);
}

export const reduce_window_p: Primitive<WindowParams> = definePrimitive<WindowParams>(
  "reduce_window",
  {
    params: {
      op: "required",
      windowDimensions: "required",
      windowStrides: "required",
      padding: "required",
      baseDilation: "required",
      windowDilation: "required",
    },
    abstractEval([x], p) {
      return [windowAval(x, p)];
    },
    impl([x], p, [o]) {
      return [windowImpl(x, p, o)];
    },
    jvp([x], [t], q) {
      const y = reduceWindowPrim(x, q);
      if (!isFloat(x.dtype)) return [[y], [null]];
      // sum is linear; max/min pass the tangent of the selected element
      return [[y], [q.op === "sum" ? reduceWindowPrim(t, q) : chooserTangent(x, t, q, y.shape)]];
    },
    transpose([ct], [x], q) {
      if (q.op !== "sum") throw new Error(`internal: reduce_window ${q.op} is not linear`);
      if (!ct) return [null];
      const xa = (x as UndefinedPrimal).aval;
      const pads = vjpLhsPadding(
        xa.shape,
        q.windowDimensions,
        q.windowStrides,
        ct.shape,
        q.padding,
        q.baseDilation,
        q.windowDilation,
      );
      const padded = pad(
        ct,
        full([], 0, ct.dtype),
        pads.map((v) => v[0]),
        pads.map((v) => v[1]),
        q.windowStrides.map((s) => s - 1),
      );
      return [
        reduceWindowPrim(padded, {
          op: "sum",
          windowDimensions: q.windowDimensions,
          windowStrides: q.baseDilation,
          padding: xa.shape.map(() => [0, 0]),
          baseDilation: xa.shape.map(() => 1),
          windowDilation: q.windowDilation,
        }),
      ];
    },
    batch([x], [d], q) {
      return [[
        reduceWindowPrim(moveaxis(x, d!, 0), {
          op: q.op,
          windowDimensions: [1, ...q.windowDimensions],
          windowStrides: [1, ...q.windowStrides],
          padding: [[0, 0], ...q.padding],
          baseDilation: [1, ...q.baseDilation],
          windowDilation: [1, ...q.windowDilation],
        }),
      ], [0]];
    },
  },
);

/** Binds `reduce_window` with complete, explicit params. */
export function reduceWindowPrim(x: Tensor, p: WindowParams): Tensor {
  return bind1(reduce_window_p, [x], {
    op: p.op,
    windowDimensions: [...p.windowDimensions],
    windowStrides: [...p.windowStrides],
    padding: p.padding.map(([lo, hi]): [number, number] => [lo, hi]),
    baseDilation: [...p.baseDilation],
    windowDilation: [...p.windowDilation],
  });
}
