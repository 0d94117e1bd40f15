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
 * Rules: sum is linear, and its transpose is a window sum over the cotangent dilated by the
 * strides and padded, as JAX's `_reduce_window_sum_transpose_rule` (here one `reduce_window`
 * whose base dilation and padding do what JAX's `pad` does, so no padded copy is made). For
 * max/min the tangent is taken at the selected element of each window (the first extremum in
 * row-major window order, as XLA's select-and-gather): `select_and_gather_add` (`window_select.ts`), linear in the tangent, whose
 * transpose `select_and_scatter_add` is the cotangent of max/min pooling — two primitives with
 * their own kernels, so no window copies of the operand are ever built. The batching rule adds
 * a window of size 1 over the batch axis.
 *
 * @module
 */
import { type ShapedArray, stridesOf } from "../aval.ts";
import { isFloat } from "../dtype.ts";
import {
  definePrimitive,
  type HostArray,
  type Primitive,
  type UndefinedPrimal,
} from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { vjpLhsPadding } from "./conv.ts";
import { alloc, forEachIndex } from "./host.ts";
import { moveaxis } from "./structural.ts";
import { windowAval, windowIdentity, type WindowParams, windowTaps } from "./window_base.ts";
import { selectAndGatherAdd } from "./window_select.ts";

export type { WindowOp, WindowParams } from "./window_base.ts";
export { windowIdentity, windowOutShape } from "./window_base.ts";

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
  const tabs = windowTaps(x.aval.shape, p, o.shape);
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
      return [[y], [q.op === "sum" ? reduceWindowPrim(t, q) : selectAndGatherAdd(t, x, q)]];
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
      // the cotangent, dilated by the strides and padded, summed over the window: one
      // reduce_window reading ct in place (no padded copy)
      return [
        reduceWindowPrim(ct, {
          op: "sum",
          windowDimensions: q.windowDimensions,
          windowStrides: q.baseDilation,
          padding: pads.map((v): [number, number] => [v[0], v[1]]),
          baseDilation: q.windowStrides,
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
