/**
 * f32 `select_and_gather_add` and `select_and_scatter_add` (the derivatives of max and min
 * pooling) for the native backend, over windows of the last two dims (where `windowFast`
 * holds): typed loops with the reference's selection (`core/prims/window_select.ts`: a window's
 * first NaN, else its first extremum in row-major tap order, padding and holes never selected)
 * and its arithmetic (the scatter adds in window order into an f32 array), so the bits are the
 * reference's. The reference walks the taps recursively per window; on a ResNet stem's
 * max-pool gradient (256 × 64 × 14², 3 × 3 / 2) that took about 180 ms per step.
 *
 * @module
 */
import { type WindowParams, windowTaps } from "../core/prims/window_base.ts";
import { selectListed } from "./window_max.ts";

/**
 * Per window (row-major over `oshape`), the flat index in `x` of its selected element, or −1
 * where every tap lands in padding or holes. The array is reused by the next call: read it
 * before then.
 *
 * @param x the operand that decides the selection
 * @param shape its shape
 * @param p the window (its `op`, "max" or "min", says which element a window selects)
 * @param oshape the windows' shape (`reduce_window`'s output shape)
 * @returns the selected indices
 */
export function windowSelectionF32(
  x: Float32Array,
  shape: readonly number[],
  p: WindowParams,
  oshape: readonly number[],
): Int32Array {
  const nd = shape.length, H = shape[nd - 2], W = shape[nd - 1];
  const OH = oshape[nd - 2], OW = oshape[nd - 1];
  const taps = windowTaps(shape, p, oshape), th = taps[nd - 2], tw = taps[nd - 1];
  const wh = p.windowDimensions[nd - 2], ww = p.windowDimensions[nd - 1];
  const total = oshape.reduce((a, b) => a * b, 1);
  const lead = OH * OW === 0 ? 0 : total / (OH * OW);
  if (_sel.length < total) _sel = new Int32Array(total);
  const sel = _sel.length === total ? _sel : _sel.subarray(0, total);
  selectListed(x, { lead, H, W, OH, OW, th, tw, wh, ww }, p.op === "max", sel);
  return sel;
}

/** The selections' array, reused (freshly mapped memory costs a page fault per 4 KiB touched). */
let _sel = new Int32Array(0);

/**
 * `select_and_gather_add(t, x)`: each window's element of `t` where `x` selects (0 where none).
 *
 * @param t the tangent, of `x`'s shape
 * @param x the operand that decides the selection
 * @param shape `x`'s shape
 * @param p the window
 * @param out the result, of `oshape`, written whole
 * @param oshape the windows' shape
 */
export function selectAndGatherAddF32(
  t: Float32Array,
  x: Float32Array,
  shape: readonly number[],
  p: WindowParams,
  out: Float32Array,
  oshape: readonly number[],
): void {
  const sel = windowSelectionF32(x, shape, p, oshape);
  for (let k = 0; k < sel.length; k++) out[k] = sel[k] >= 0 ? t[sel[k]] : 0;
}

/**
 * `select_and_scatter_add(ct, x)`: each element of `x` gets the sum of `ct` over the windows
 * that select it, added in window order.
 *
 * @param ct the cotangent, of the windows' shape `oshape`
 * @param x the operand that decides the selection
 * @param shape `x`'s shape
 * @param p the window
 * @param out the result, of `shape`, written whole
 * @param oshape the windows' shape
 */
export function selectAndScatterAddF32(
  ct: Float32Array,
  x: Float32Array,
  shape: readonly number[],
  p: WindowParams,
  out: Float32Array,
  oshape: readonly number[],
): void {
  const sel = windowSelectionF32(x, shape, p, oshape);
  out.fill(0);
  for (let k = 0; k < sel.length; k++) if (sel[k] >= 0) out[sel[k]] += ct[k];
}
