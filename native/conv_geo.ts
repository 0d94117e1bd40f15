/**
 * The geometry the native convolution lowerings share (`native/conv.ts`, `conv_outputs.ts`,
 * `conv_scatter.ts`): the operands' sizes with the spatial dims padded to three, and the input
 * copied onto its zero-padded grid.
 *
 * @module
 */
import { scratchF32 as scratch } from "./kernels.ts";

/** `conv_general_dilated`'s parameters, as bound (see `core/prims/conv.ts`'s `ConvParams`). */
export type ConvParamsLike = {
  /** Stride per spatial dim. */
  readonly windowStrides: readonly number[];
  /** `[lo, hi]` padding per spatial dim. */
  readonly padding: readonly (readonly [number, number])[];
  /** Input dilation per spatial dim. */
  readonly lhsDilation: readonly number[];
  /** Kernel dilation per spatial dim. */
  readonly rhsDilation: readonly number[];
  /** Feature groups. */
  readonly featureGroupCount: number;
  /** Batch groups. */
  readonly batchGroupCount: number;
};

/**
 * Everything the lowerings share: sizes, with the spatial dims padded to three by leading
 * size-1 dims (so the innermost, contiguous dim is always a real one).
 */
export interface Geo {
  /** Input images. */
  N: number;
  /** Input channels. */
  C: number;
  /** Output channels. */
  O: number;
  /** Input channels per group. */
  Cg: number;
  /** Groups (feature or batch). */
  G: number;
  /** Output channels per group. */
  Og: number;
  /** Output images. */
  outN: number;
  /** Input images per batch group. */
  nPerB: number;
  /** Feature groups. */
  fgc: number;
  /** Batch groups. */
  bgc: number;
  /** Input extent per dim. */
  inS: number[];
  /** Kernel extent per dim. */
  kS: number[];
  /** Output extent per dim. */
  outS: number[];
  /** Stride per dim. */
  ws: number[];
  /** Low padding per dim. */
  lo: number[];
  /** High padding per dim. */
  hi: number[];
  /** Input (lhs) dilation per dim. */
  ld: number[];
  /** Kernel (rhs) dilation per dim. */
  rd: number[];
  /** Padded (and lhs-dilated) input extent per dim. */
  padS: number[];
  /** Output positions per image. */
  P: number;
  /** Kernel taps. */
  K: number;
  /** Positions of the padded input grid. */
  Sp: number;
}

/**
 * The geometry of a convolution of these shapes.
 *
 * @param lShape lhs shape `[N, C, ...spatial]`
 * @param rShape rhs shape `[O, C/g, ...kernel]`
 * @param oShape output shape
 * @param p the convolution's parameters
 * @returns the sizes, per spatial dim padded to three
 * @example
 * ```ts
 * import { geometry } from "./conv_geo.ts";
 * const p = { windowStrides: [1], padding: [[1, 1] as [number, number]], lhsDilation: [1],
 *   rhsDilation: [1], featureGroupCount: 1, batchGroupCount: 1 };
 * const g = geometry([2, 3, 10], [4, 3, 3], [2, 4, 10], p);
 * if (g.inS.join() !== "1,1,10" || g.padS.join() !== "1,1,12" || g.K !== 3) throw new Error();
 * ```
 */
export function geometry(
  lShape: readonly number[],
  rShape: readonly number[],
  oShape: readonly number[],
  p: ConvParamsLike,
): Geo {
  const nsp = lShape.length - 2;
  // leading size-1 dims, so that the innermost (contiguous) dim is a real one
  const sp = (s: readonly number[]) => [1, 1, 1, ...s.slice(2)].slice(-3);
  const per = (v: readonly number[], d: number) => [d, d, d, ...v].slice(-3);
  const inS = sp(lShape), kS = sp(rShape), outS = sp(oShape);
  const ws = per(p.windowStrides, 1), ld = per(p.lhsDilation, 1), rd = per(p.rhsDilation, 1);
  const lo = per(p.padding.map((q) => q[0]), 0), hi = per(p.padding.map((q) => q[1]), 0);
  const padS = [0, 1, 2].map((d) =>
    d >= 3 - nsp ? (inS[d] === 0 ? 0 : (inS[d] - 1) * ld[d] + 1) + lo[d] + hi[d] : 1
  );
  const [N, C] = lShape, [O, Cg] = rShape;
  const fgc = p.featureGroupCount, bgc = p.batchGroupCount;
  const G = Math.max(fgc, bgc);
  return {
    N,
    C,
    O,
    Cg,
    G,
    Og: O / G,
    outN: oShape[0],
    nPerB: N / bgc,
    fgc,
    bgc,
    inS,
    kS,
    outS,
    ws,
    lo,
    hi,
    ld,
    rd,
    padS,
    P: outS[0] * outS[1] * outS[2],
    K: kS[0] * kS[1] * kS[2],
    Sp: padS[0] * padS[1] * padS[2],
  };
}

/**
 * The input image that output image `n` reads in group `grp` (batch groups split the batch).
 *
 * @param g the geometry
 * @param n the output image
 * @param grp the group
 * @returns the input image
 * @example
 * ```ts
 * import { geometry, imageOf } from "./conv_geo.ts";
 * const p = { windowStrides: [1], padding: [[0, 0] as [number, number]], lhsDilation: [1],
 *   rhsDilation: [1], featureGroupCount: 1, batchGroupCount: 2 };
 * if (imageOf(geometry([4, 3, 5], [2, 3, 1], [2, 2, 5], p), 1, 1) !== 3) throw new Error();
 * ```
 */
export const imageOf = (g: Geo, n: number, grp: number): number =>
  g.bgc > 1 ? grp * g.nPerB + n : n;

/**
 * The first input channel of group `grp` (feature groups split the channels).
 *
 * @param g the geometry
 * @param grp the group
 * @returns the channel
 * @example
 * ```ts
 * import { chanOf, geometry } from "./conv_geo.ts";
 * const p = { windowStrides: [1], padding: [[0, 0] as [number, number]], lhsDilation: [1],
 *   rhsDilation: [1], featureGroupCount: 3, batchGroupCount: 1 };
 * if (chanOf(geometry([1, 6, 5], [3, 2, 1], [1, 3, 5], p), 2) !== 4) throw new Error();
 * ```
 */
export const chanOf = (g: Geo, grp: number): number => (g.fgc > 1 ? grp * g.Cg : 0);

/** Per dim: the input index at each position of the padded grid, or −1 (padding or a hole). */
function padMap(n: number, padded: number, lo: number, ld: number): Int32Array {
  const m = new Int32Array(padded);
  for (let q = 0; q < padded; q++) {
    const pos = q - lo, i = pos / ld;
    m[q] = pos >= 0 && pos % ld === 0 && i < n ? i : -1;
  }
  return m;
}

/**
 * The input on the padded grid, `[outer][inner][Sp]` plus `tail` zeros, where (outer, inner)
 * is (C, N) for `channelsFirst`, else (N, C) (a scratch array, valid until the next call).
 *
 * @param x the input `[N, C, ...spatial]`
 * @param g the geometry
 * @param channelsFirst whether channels are the outer dim
 * @param tail zeros after the grid (for reads past its end)
 * @returns the padded input
 * @example
 * ```ts
 * import { geometry, padInput } from "./conv_geo.ts";
 * const p = { windowStrides: [1], padding: [[1, 1] as [number, number]], lhsDilation: [1],
 *   rhsDilation: [1], featureGroupCount: 1, batchGroupCount: 1 };
 * const g = geometry([1, 1, 2], [1, 1, 1], [1, 1, 4], p);
 * const xp = padInput(new Float32Array([5, 6]), g, false, 1);
 * if (xp.join() !== "0,5,6,0,0") throw new Error(`got ${xp}`);
 * ```
 */
export function padInput(
  x: Float32Array,
  g: Geo,
  channelsFirst: boolean,
  tail: number,
): Float32Array {
  const { N, C, inS, padS, Sp } = g;
  const out = scratch("pad", N * C * Sp + tail, true);
  const m = [0, 1, 2].map((d) => padMap(inS[d], padS[d], g.lo[d], g.ld[d]));
  const [m0, m1, m2] = m, [, I1, I2] = inS, [S0, S1, S2] = padS;
  const inSize = inS[0] * I1 * I2;
  // the contiguous run of valid positions of the innermost dim (unit dilation)
  let q2a = 0, q2b = -1;
  const lo2 = g.lo[2];
  if (g.ld[2] === 1) {
    q2a = Math.max(0, lo2);
    q2b = Math.min(S2, lo2 + I2);
  }
  // unit lhs dilation in the two inner dims: per plane, one block of consecutive rows
  let q1a = 0, q1b = -1;
  if (g.ld[1] === 1 && q2b >= 0) {
    q1a = Math.max(0, g.lo[1]);
    q1b = Math.min(S1, g.lo[1] + I1);
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const src = (n * C + c) * inSize;
      const dst = (channelsFirst ? c * N + n : n * C + c) * Sp;
      if (q1b >= 0) {
        for (let q0 = 0; q0 < S0; q0++) {
          const i0 = m0[q0];
          if (i0 < 0 || q1b <= q1a || q2b <= q2a) continue;
          const s = src + (i0 * I1 + q1a - g.lo[1]) * I2 + q2a - lo2;
          const d = dst + (q0 * S1 + q1a) * S2 + q2a;
          copyRows(x, s, I2, out, d, S2, q2b - q2a, q1b - q1a, q1b - q1a, 0);
        }
        continue;
      }
      for (let q0 = 0; q0 < S0; q0++) {
        const i0 = m0[q0];
        if (i0 < 0) continue;
        for (let q1 = 0; q1 < S1; q1++) {
          const i1 = m1[q1];
          if (i1 < 0) continue;
          const s = src + (i0 * I1 + i1) * I2, d = dst + (q0 * S1 + q1) * S2;
          if (q2b >= 0) {
            const sh = s - lo2 - d;
            for (let q = d + q2a, e = d + q2b; q < e; q++) out[q] = x[q + sh];
          } else {
            for (let q2 = 0; q2 < S2; q2++) {
              const i2 = m2[q2];
              if (i2 >= 0) out[d + q2] = x[s + i2];
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * The flat offset on the padded grid of a spatial index.
 *
 * @param g the geometry
 * @param a0 index in the first (outermost) of the three dims
 * @param a1 index in the second
 * @param a2 index in the third (contiguous)
 * @returns the offset
 * @example
 * ```ts
 * import { geometry, wide } from "./conv_geo.ts";
 * const p = { windowStrides: [1, 1], padding: [[1, 1], [2, 2]] as [number, number][],
 *   lhsDilation: [1, 1], rhsDilation: [1, 1], featureGroupCount: 1, batchGroupCount: 1 };
 * const g = geometry([1, 1, 3, 3], [1, 1, 1, 1], [1, 1, 5, 7], p);
 * if (wide(g, 0, 1, 2) !== 9) throw new Error(); // row 1 of the 7-wide padded grid, column 2
 * ```
 */
export const wide = (g: Geo, a0: number, a1: number, a2: number): number =>
  (a0 * g.padS[1] + a1) * g.padS[2] + a2;

/**
 * Copies `rows` runs of `len` elements from `src` (row stride `ss`) to `dst` (row stride `ds`);
 * after every `group` rows the destination skips `skip` more rows (the gaps of a widened grid).
 * A small function, so that the engine optimizes it after a few calls of a lowering.
 *
 * @param src the source
 * @param s the first source row's offset
 * @param ss the source's row stride
 * @param dst the destination
 * @param d the first destination row's offset
 * @param ds the destination's row stride
 * @param len elements per row
 * @param rows rows to copy
 * @param group rows between the destination's skips
 * @param skip destination rows skipped after each group
 * @example
 * ```ts
 * import { copyRows } from "./conv_geo.ts";
 * const dst = new Float32Array(6);
 * copyRows(new Float32Array([1, 2, 3, 4]), 0, 2, dst, 0, 3, 2, 2, 1, 0);
 * if (dst.join() !== "1,2,0,3,4,0") throw new Error(`got ${dst}`);
 * ```
 */
export function copyRows(
  src: Float32Array,
  s: number,
  ss: number,
  dst: Float32Array,
  d: number,
  ds: number,
  len: number,
  rows: number,
  group: number,
  skip: number,
): void {
  for (let r = 0, k = 0; r < rows; r++, s += ss, d += ds) {
    for (let j = 0; j < len; j++) dst[d + j] = src[s + j];
    if (++k === group) {
      k = 0;
      d += skip * ds;
    }
  }
}
