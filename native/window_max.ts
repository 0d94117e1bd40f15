/**
 * Max and min pooling and their window selection (the max-pool gradient's) for the native
 * backend, with the reference's values and selections (`core/prims/window.ts`,
 * `core/prims/window_select.ts`): an extremum is exact, ties keep the first tap in row-major
 * order, a NaN wins (the selection keeps a window's first NaN).
 *
 * Two ways: window by window — a window whose taps all land in the input through a loop
 * generated per window geometry with its taps unrolled at fixed offsets (the extremum without
 * branches, then the first tap equal to it), the others through a list of each output
 * position's tap offsets in its plane (computed once per call: no per-tap tables of both dims,
 * no padding tests) — and, for the pooling of narrow maps, separably: each input row's
 * extremum per output column first (a row pass over the column taps), then per output the
 * extremum of its rows' results (a pass over the row taps); the taps of a window over the last
 * two dims are the product of a row set and a column set, so this is the same row-major order.
 * Each separable pass runs tap by tap over a block of planes, so its inner loops are long even
 * where the planes are small (GoogLeNet's 2 × 2 and 4 × 4 maps).
 *
 * @module
 */
import { scratchF32 } from "./kernels.ts";

/** The geometry of a window over the last two dims: tap tables per dim (−1: no tap). */
export interface PlaneTaps {
  /** Planes (the product of the leading dims). */
  readonly lead: number;
  /** Input rows. */
  readonly H: number;
  /** Input columns. */
  readonly W: number;
  /** Output rows. */
  readonly OH: number;
  /** Output columns. */
  readonly OW: number;
  /** Row taps: `th[oy · wh + a]` is output row oy's a-th input row (−1: none). */
  readonly th: Int32Array;
  /** Column taps: `tw[ox · ww + b]` is output column ox's b-th input column. */
  readonly tw: Int32Array;
  /** Row taps per window. */
  readonly wh: number;
  /** Column taps per window. */
  readonly ww: number;
}

/** Elements of a block of planes' row-pass results (stays in the L2 cache). */
const BLOCK_ELEMS = 32768;

const _planesPerBlock = (g: PlaneTaps) =>
  Math.max(1, Math.floor(BLOCK_ELEMS / Math.max(1, g.H * Math.max(g.W, g.OW))));

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
  const LB = _planesPerBlock(g);
  const rows = scratchF32("window-max-rows", Math.min(lead, LB) * H * OW, false);
  // with s = ±1, `s·v > s·a` is the max's or the min's strict improvement; a NaN v always
  // replaces, and a NaN a is never replaced (s·v > NaN is false)
  for (let l0 = 0; l0 < lead; l0 += LB) {
    const nl = Math.min(LB, lead - l0), nr = nl * H, xb = l0 * H * W;
    // row pass: rows[r, ox] over the block's rows r, one column tap at a time
    for (let ox = 0; ox < OW; ox++) {
      let first = true;
      for (let b = 0; b < ww; b++) {
        const c = tw[ox * ww + b];
        if (c < 0) continue;
        if (first) { for (let r = 0; r < nr; r++) rows[r * OW + ox] = x[xb + r * W + c]; }
        else {
          for (let r = 0, i = xb + c, k = ox; r < nr; r++, i += W, k += OW) {
            const v = x[i];
            if (s * v > s * rows[k] || v !== v) rows[k] = v;
          }
        }
        first = false;
      }
      if (first) { for (let r = 0; r < nr; r++) rows[r * OW + ox] = id; }
    }
    // column pass: out[l, oy, :] over the block's planes l, one row tap at a time
    const ob = l0 * OH * OW;
    for (let oy = 0; oy < OH; oy++) {
      let first = true;
      for (let a = 0; a < wh; a++) {
        const r = th[oy * wh + a];
        if (r < 0) continue;
        for (let l = 0; l < nl; l++) {
          const o = ob + (l * OH + oy) * OW, k = (l * H + r) * OW;
          if (first) { for (let q = 0; q < OW; q++) out[o + q] = rows[k + q]; }
          else {
            for (let q = 0; q < OW; q++) {
              const v = rows[k + q];
              if (s * v > s * out[o + q] || v !== v) out[o + q] = v;
            }
          }
        }
        first = false;
      }
      if (first) {
        for (let l = 0; l < nl; l++) {
          out.fill(id, ob + (l * OH + oy) * OW, ob + (l * OH + oy + 1) * OW);
        }
      }
    }
  }
}

/**
 * Per output position of a plane, its taps' offsets inside the plane in row-major tap order,
 * taps in padding or holes left out: `offs[start[o] … start[o + 1])`.
 */
function _tapLists(g: PlaneTaps): { start: Int32Array; offs: Int32Array } {
  const { W, OH, OW, th, tw, wh, ww } = g;
  const start = new Int32Array(OH * OW + 1), offs: number[] = [];
  for (let oy = 0, o = 0; oy < OH; oy++) {
    for (let ox = 0; ox < OW; ox++, o++) {
      for (let a = 0; a < wh; a++) {
        const r = th[oy * wh + a];
        if (r < 0) continue;
        for (let b = 0; b < ww; b++) {
          const c = tw[ox * ww + b];
          if (c >= 0) offs.push(r * W + c);
        }
      }
      start[o + 1] = offs.length;
    }
  }
  return { start, offs: Int32Array.from(offs) };
}

/**
 * `reduce_window` max or min over the last two dims, window by window through each output's
 * list of tap offsets (row-major tap order: the reference's values, ties and NaN).
 *
 * @param x the operand (`lead × H × W`)
 * @param out the result (`lead × OH × OW`), written whole
 * @param g the window's taps
 * @param max max (else min)
 */
export function extremumListed(
  x: Float32Array,
  out: Float32Array,
  g: PlaneTaps,
  max: boolean,
): void {
  _listed(x, g, max, out, true);
}

/**
 * Per output index of one dim, its first tap's input index when every tap lands in the input at
 * one common step (`first + j · step`), else −1; null where no output has all its taps so.
 */
function _fullTaps(
  t: Int32Array,
  n: number,
  k: number,
): { first: Int32Array; step: number } | null {
  const first = new Int32Array(n).fill(-1);
  let step = -1, any = false;
  for (let y = 0; y < n; y++) {
    const a = t[y * k];
    if (a < 0) continue;
    const d = k > 1 ? t[y * k + 1] - a : 0;
    if (k > 1 && (d <= 0 || (step >= 0 && d !== step))) continue;
    let ok = true;
    for (let j = 1; j < k && ok; j++) ok = t[y * k + j] === a + j * d;
    if (!ok) continue;
    if (k > 1) step = d;
    first[y] = a;
    any = true;
  }
  return any ? { first, step: Math.max(step, 0) } : null;
}

/** Taps per window up to which {@link _selectLoop} unrolls a window's comparisons. */
const UNROLL_MAX = 64;

type SelectLoop = (
  x: Float32Array,
  out: Int32Array | Float32Array,
  lead: number,
  plane: number,
  OH: number,
  OW: number,
  rowFirst: Int32Array,
  colFirst: Int32Array,
  start: Int32Array,
  offs: Int32Array,
) => void;

const _selectLoops = new Map<string, SelectLoop>();

/**
 * The window loop for windows of `wh × ww` taps at steps `dh` (rows) and `dw` (columns) in
 * planes `W` wide: a window whose taps all land in the input reads them at fixed offsets,
 * takes their extremum without branches (`Math.max`/`Math.min`), and selects the first tap in
 * row-major order that equals it (as the strict comparison keeps the first of ties, −0 and +0
 * included); a window with a NaN tap (its extremum NaN) and every window with taps in padding
 * go through its tap list instead, the reference's way. It writes each window's selected index,
 * or with `value` its extremum.
 */
function _selectLoop(
  max: boolean,
  W: number,
  wh: number,
  ww: number,
  dh: number,
  dw: number,
  value = false,
) {
  const key = `${max} ${W} ${wh} ${ww} ${dh} ${dw} ${value}`;
  let f = _selectLoops.get(key);
  if (f) return f;
  const cmp = max ? ">" : "<", ext = max ? "Math.max" : "Math.min";
  const ds: number[] = [];
  for (let a = 0; a < wh; a++) for (let b = 0; b < ww; b++) ds.push(a * dh * W + b * dw);
  // the extremum first (Math.max/min: no branches; NaN if any tap is NaN), then the first tap
  // that equals it (−0 and +0 are equal, as the strict comparison would leave the first)
  const vals = ds.map((d, k) => `const v${k} = x[i + ${d}];`).join(" ");
  const m = ds.slice(1).reduce((e, _, k) => `${ext}(${e}, v${k + 1})`, "v0");
  const find = ds.map((d, k) => `v${k} === m ? i + ${d} : `).join("") + "-1";
  // (a value: the extremum, or where it is a zero the first tap equal to it, −0 or +0, as the
  // reference's comparisons leave it; a window with NaNs takes its last one through the list,
  // as the reference's loop does, where a selection takes its first)
  const store = value ? `m !== 0 ? m : x[${find}]` : find;
  const body = `
for (let l = 0, o = 0, base = 0; l < lead; l++, base += plane) {
  for (let oy = 0; oy < OH; oy++) {
    const r0 = rowFirst[oy];
    for (let ox = 0; ox < OW; ox++, o++) {
      const c0 = colFirst[ox];
      if (r0 >= 0 && c0 >= 0) {
        const i = base + r0 * ${W} + c0;
        ${vals}
        const m = ${m};
        if (m === m) { out[o] = ${store}; continue; }
      }
      const p = oy * OW + ox;
      let at = -1, best = ${value ? (max ? "-Infinity" : "Infinity") : "0"};
      for (let k = start[p], e = start[p + 1]; k < e; k++) {
        const i = base + offs[k], v = x[i];
        if (v !== v) { at = i; best = v; ${value ? "continue" : "break"}; }
        if (at < 0 || v ${cmp} best) { best = v; at = i; }
      }
      out[o] = ${value ? "best" : "at"};
    }
  }
}`;
  f = new Function(
    "x",
    "out",
    "lead",
    "plane",
    "OH",
    "OW",
    "rowFirst",
    "colFirst",
    "start",
    "offs",
    body,
  ) as SelectLoop;
  _selectLoops.set(key, f);
  return f;
}

/**
 * Per window (row-major over the output), the flat index of its selected element (the first
 * NaN, else the first extremum in row-major tap order), or −1 where no tap lands in the input:
 * windows whose taps all land in the input through a generated loop with the taps unrolled,
 * the others through each output's list of tap offsets.
 *
 * @param x the operand (`lead × H × W`)
 * @param g the window's taps
 * @param max select the max (else the min)
 * @param sel the result (`lead × OH × OW`), written whole
 */
export function selectListed(x: Float32Array, g: PlaneTaps, max: boolean, sel: Int32Array): void {
  _listed(x, g, max, sel, false);
}

/** Each window's selected index (or with `value` its extremum) through {@link _selectLoop}. */
function _listed(
  x: Float32Array,
  g: PlaneTaps,
  max: boolean,
  out: Int32Array | Float32Array,
  value: boolean,
): void {
  const { lead, H, W, OH, OW, wh, ww } = g;
  const { start, offs } = _tapLists(g);
  // (windows of more than UNROLL_MAX taps, a global pooling's, all through the tap lists)
  const unroll = wh * ww <= UNROLL_MAX;
  const rows = unroll ? _fullTaps(g.th, OH, wh) : null;
  const cols = unroll ? _fullTaps(g.tw, OW, ww) : null;
  const none = new Int32Array(Math.max(OH, OW)).fill(-1);
  const loop = _selectLoop(max, W, wh, ww, rows?.step ?? 0, cols?.step ?? 0, value);
  loop(x, out, lead, H * W, OH, OW, rows?.first ?? none, cols?.first ?? none, start, offs);
}
