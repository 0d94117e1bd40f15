/**
 * f32 `pad` and `reduce_window` (pooling and its gradient) for the native backend: typed,
 * monomorphic loops with the same arithmetic as the reference implementations
 * (`core/prims/structural.ts`, `core/prims/window.ts`): a window sum is accumulated in float64
 * in row-major tap order from 0 and rounded once, a max/min keeps the first NaN, so the bits
 * are the reference's. The reference's loops index untyped `ArrayLike`s and test the op per
 * tap; on d2l's LeNet these two primitives took more than half of a training step.
 *
 * @module
 */
import { type WindowParams, windowTaps } from "../core/prims/window_base.ts";
import { stridesOf } from "./kernels.ts";
import { extremumListed, extremumSeparable } from "./window_max.ts";

/**
 * `pad` of an f32 array: `value` everywhere, then every element of `x` at
 * `lo + i · (interior + 1)` per dim (negative `lo`/`hi` crop).
 *
 * @param x the operand
 * @param shape its shape
 * @param value the padding value
 * @param lo low padding per dim
 * @param interior interior padding per dim
 * @param out the result (of shape `oshape`), written whole
 * @param oshape the result's shape
 */
export function padF32(
  x: Float32Array,
  shape: readonly number[],
  value: number,
  lo: readonly number[],
  interior: readonly number[],
  out: Float32Array,
  oshape: readonly number[],
): void {
  out.fill(value);
  const nd = shape.length;
  if (nd === 0) {
    if (out.length > 0) out[0] = x[0];
    return;
  }
  if (x.length === 0) return;
  const os = stridesOf(oshape), xs = stridesOf(shape);
  const last = nd - 1, n = shape[last], step = interior[last] + 1, lim = oshape[last];
  // the input positions of the last dim that land inside the output
  let i0 = 0;
  while (i0 < n && lo[last] + i0 * step < 0) i0++;
  let i1 = n;
  while (i1 > i0 && lo[last] + (i1 - 1) * step >= lim) i1--;
  const idx = new Array<number>(nd).fill(0);
  const rows = x.length / n;
  for (let r = 0; r < rows; r++) {
    // the output offset of this row, or -1 when an outer index falls outside
    let off = 0, src = 0;
    for (let k = 0; k < last; k++) {
      const p = lo[k] + idx[k] * (interior[k] + 1);
      if (p < 0 || p >= oshape[k]) {
        off = -1;
        break;
      }
      off += p * os[k];
      src += idx[k] * xs[k];
    }
    if (off >= 0) {
      let o = off + lo[last] + i0 * step;
      if (step === 1) out.set(x.subarray(src + i0, src + i1), o);
      else for (let i = src + i0; i < src + i1; i++, o += step) out[o] = x[i];
    }
    for (let k = last - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

/**
 * Whether {@link reduceWindowF32} handles the reduction: at least 2 dims, and every dim but the
 * last two maps output to input one to one (pooling over NCHW).
 */
export function windowFast(
  shape: readonly number[],
  oshape: readonly number[],
  p: WindowParams,
): boolean {
  if (shape.length < 2) return false;
  for (let d = 0; d < shape.length - 2; d++) {
    if (
      p.windowDimensions[d] !== 1 || p.windowStrides[d] !== 1 || p.padding[d][0] !== 0 ||
      p.baseDilation[d] !== 1 || oshape[d] !== shape[d]
    ) return false;
  }
  return true;
}

/**
 * `reduce_window` of an f32 array over its last two dims (where {@link windowFast} holds).
 *
 * @param x the operand
 * @param shape its shape
 * @param p the window
 * @param out the result (of shape `oshape`), written whole
 * @param oshape the result's shape
 */
export function reduceWindowF32(
  x: Float32Array,
  shape: readonly number[],
  p: WindowParams,
  out: Float32Array,
  oshape: readonly number[],
): void {
  const nd = shape.length, H = shape[nd - 2], W = shape[nd - 1];
  const OH = oshape[nd - 2], OW = oshape[nd - 1];
  const taps = windowTaps(shape, p, oshape), th = taps[nd - 2], tw = taps[nd - 1];
  const wh = p.windowDimensions[nd - 2], ww = p.windowDimensions[nd - 1];
  const lead = OH * OW === 0 ? 0 : out.length / (OH * OW);
  const h1 = _single(th, OH, wh), w1 = _single(tw, OW, ww);
  if (h1 && w1) {
    // at most one tap per output in each dim (the transpose of pooling with stride = window):
    // a gather, 0 (or the op's identity) where no tap lands
    _gather(
      x,
      out,
      lead,
      H * W,
      W,
      OH,
      OW,
      h1,
      w1,
      p.op === "sum" ? 0 : p.op === "max" ? -Infinity : Infinity,
    );
    return;
  }
  const dense = p.baseDilation[nd - 2] === 1 && p.baseDilation[nd - 1] === 1 &&
    p.windowDilation[nd - 2] === 1 && p.windowDilation[nd - 1] === 1;
  if (p.op === "sum" && dense) {
    const sh = p.windowStrides[nd - 2], sw = p.windowStrides[nd - 1];
    _sumDense(
      x,
      out,
      lead,
      H,
      W,
      OH,
      OW,
      wh,
      ww,
      sh,
      sw,
      p.padding[nd - 2][0],
      p.padding[nd - 1][0],
    );
  } else if (p.op === "sum") _sum(x, out, lead, H * W, W, OH, OW, th, tw, wh, ww);
  else {
    // window by window on wide maps; separably (long tap-by-tap loops) on narrow ones
    const g = { lead, H, W, OH, OW, th, tw, wh, ww };
    if (OW >= 8) extremumListed(x, out, g, p.op === "max");
    else extremumSeparable(x, out, g, p.op === "max");
  }
}

/** Per output position the one input index its taps reach (−1: none), or null if some reach two. */
function _single(t: Int32Array, on: number, w: number): Int32Array | null {
  const one = new Int32Array(on).fill(-1);
  for (let y = 0; y < on; y++) {
    for (let j = 0; j < w; j++) {
      const i = t[y * w + j];
      if (i < 0) continue;
      if (one[y] >= 0) return null;
      one[y] = i;
    }
  }
  return one;
}

function _gather(
  x: Float32Array,
  out: Float32Array,
  lead: number,
  plane: number,
  W: number,
  OH: number,
  OW: number,
  h1: Int32Array,
  w1: Int32Array,
  id: number,
): void {
  let o = 0;
  for (let l = 0; l < lead; l++) {
    const ib = l * plane;
    for (let y = 0; y < OH; y++) {
      const r = h1[y];
      if (r < 0) {
        out.fill(id, o, o + OW);
        o += OW;
        continue;
      }
      const rb = ib + r * W;
      for (let xo = 0; xo < OW; xo++) {
        const c = w1[xo];
        out[o++] = c < 0 ? id : x[rb + c];
      }
    }
  }
}

/** A window sum without dilations: the taps of each output are a clipped rectangle. */
function _sumDense(
  x: Float32Array,
  out: Float32Array,
  lead: number,
  H: number,
  W: number,
  OH: number,
  OW: number,
  wh: number,
  ww: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
): void {
  let o = 0;
  for (let l = 0; l < lead; l++) {
    const ib = l * H * W;
    for (let y = 0; y < OH; y++) {
      const r0 = y * sh - ph, ra = r0 < 0 ? 0 : r0, rb = r0 + wh > H ? H : r0 + wh;
      for (let xo = 0; xo < OW; xo++) {
        const c0 = xo * sw - pw, ca = c0 < 0 ? 0 : c0, cb = c0 + ww > W ? W : c0 + ww;
        let acc = 0;
        for (let r = ra; r < rb; r++) {
          const b = ib + r * W;
          for (let c = ca; c < cb; c++) acc += x[b + c];
        }
        out[o++] = acc;
      }
    }
  }
}

function _sum(
  x: Float32Array,
  out: Float32Array,
  lead: number,
  plane: number,
  W: number,
  OH: number,
  OW: number,
  th: Int32Array,
  tw: Int32Array,
  wh: number,
  ww: number,
): void {
  let o = 0;
  for (let l = 0; l < lead; l++) {
    const ib = l * plane;
    for (let y = 0; y < OH; y++) {
      for (let xo = 0; xo < OW; xo++) {
        let acc = 0;
        for (let a = 0; a < wh; a++) {
          const r = th[y * wh + a];
          if (r < 0) continue;
          const rb = ib + r * W;
          for (let b = 0; b < ww; b++) {
            const c = tw[xo * ww + b];
            if (c >= 0) acc += x[rb + c];
          }
        }
        out[o++] = acc;
      }
    }
  }
}
