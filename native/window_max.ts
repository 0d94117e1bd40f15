/**
 * Max and min pooling and their window selection (the max-pool gradient's) for the native
 * backend, computed separably: each input row's extremum per output column first (a row pass
 * over the column taps), then per output the extremum of its rows' results (a pass over the
 * row taps). The taps of a window over the last two dims are the product of a row set and a
 * column set, so this visits the taps in row-major order as the reference
 * (`core/prims/window.ts`, `core/prims/window_select.ts`) does and gives its values and
 * selections: an extremum is exact, ties keep the first tap, a NaN wins (the selection takes a
 * window's first NaN). A 3 × 3 window costs 6 comparisons per output instead of 9, in loops
 * without per-tap table lookups of both dims.
 *
 * @module
 */
import { scratchF32 } from "./kernels.ts";

/** The geometry of a window over the last two dims: tap tables per dim (−1: no tap). */
export interface PlaneTaps {
  /** Planes (the product of the leading dims). */
  readonly lead: number;
  /** Input rows and columns. */
  readonly H: number;
  readonly W: number;
  /** Output rows and columns. */
  readonly OH: number;
  readonly OW: number;
  /** Row taps: `th[oy · wh + a]` is output row oy's a-th input row (−1: none). */
  readonly th: Int32Array;
  /** Column taps: `tw[ox · ww + b]`. */
  readonly tw: Int32Array;
  readonly wh: number;
  readonly ww: number;
}

/**
 * `reduce_window` max or min over the last two dims, separably (see the module doc).
 *
 * @param x the operand (`lead × H × W`)
 * @param out the result (`lead × OH × OW`), written whole
 * @param g the window's taps
 * @param max max (else min)
 */
export function extremumSeparable(
  x: Float32Array,
  out: Float32Array,
  g: PlaneTaps,
  max: boolean,
): void {
  const { lead, H, W, OH, OW, th, tw, wh, ww } = g;
  const id = max ? -Infinity : Infinity, s = max ? 1 : -1;
  const rows = scratchF32("window-max-rows", lead * H * OW, false);
  // row pass: per input row, per output column, the extremum over the column taps; with s =
  // ±1, `s·v > s·acc` is the max's or the min's strict improvement, and a NaN always wins
  for (let r = 0, ib = 0, ob = 0; r < lead * H; r++, ib += W, ob += OW) {
    for (let ox = 0, tb = 0; ox < OW; ox++, tb += ww) {
      let acc = id;
      for (let b = 0; b < ww; b++) {
        const c = tw[tb + b];
        if (c < 0) continue;
        const v = x[ib + c];
        if (s * v > s * acc || v !== v) acc = v;
      }
      rows[ob + ox] = acc;
    }
  }
  // column pass: per output row, the extremum of its input rows' results, column by column
  for (let l = 0, o = 0; l < lead; l++) {
    const pb = l * H * OW;
    for (let oy = 0; oy < OH; oy++, o += OW) {
      out.fill(id, o, o + OW);
      for (let a = 0; a < wh; a++) {
        const r = th[oy * wh + a];
        if (r < 0) continue;
        const rb = pb + r * OW;
        for (let ox = 0; ox < OW; ox++) {
          const v = rows[rb + ox], acc = out[o + ox];
          if (s * v > s * acc || v !== v) out[o + ox] = v;
        }
      }
    }
  }
}

/**
 * Per window (row-major over the output), the flat index of its selected element (the first
 * NaN, else the first extremum in row-major tap order), or −1 where no tap lands in the input.
 *
 * @param x the operand (`lead × H × W`)
 * @param g the window's taps
 * @param max select the max (else the min)
 * @param sel the result (`lead × OH × OW`), written whole
 */
export function selectSeparable(
  x: Float32Array,
  g: PlaneTaps,
  max: boolean,
  sel: Int32Array,
): void {
  const { lead, H, W, OH, OW, th, tw, wh, ww } = g;
  const s = max ? 1 : -1, n = lead * H * OW;
  const vals = scratchF32("window-select-vals", n, false);
  const cb = scratchF32("window-select-cols", n, false);
  const cols = new Int32Array(cb.buffer, cb.byteOffset, n);
  // row pass: per input row and output column, the selected column (its first NaN, else its
  // first extremum) and its value
  for (let r = 0, ib = 0, ob = 0; r < lead * H; r++, ib += W, ob += OW) {
    for (let ox = 0, tb = 0; ox < OW; ox++, tb += ww) {
      let at = -1, best = 0;
      for (let b = 0; b < ww; b++) {
        const c = tw[tb + b];
        if (c < 0) continue;
        const v = x[ib + c];
        if (v !== v) {
          at = c;
          best = v;
          break;
        }
        if (at < 0 || s * v > s * best) {
          best = v;
          at = c;
        }
      }
      vals[ob + ox] = best;
      cols[ob + ox] = at;
    }
  }
  // column pass: the rows' selections in row order, the same rule
  for (let l = 0, o = 0; l < lead; l++) {
    const pb = l * H * OW, xb = l * H * W;
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++, o++) {
        let at = -1, best = 0;
        for (let a = 0; a < wh; a++) {
          const r = th[oy * wh + a];
          if (r < 0) continue;
          const k = pb + r * OW + ox, c = cols[k];
          if (c < 0) continue;
          const v = vals[k];
          if (v !== v) {
            at = xb + r * W + c;
            break;
          }
          if (at < 0 || s * v > s * best) {
            best = v;
            at = xb + r * W + c;
          }
        }
        sel[o] = at;
      }
    }
  }
}
