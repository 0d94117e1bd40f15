/**
 * The `chlast` lowering of `conv_general_dilated` on the native backend (`native/conv.ts`):
 * im2col over a channels-last copy of the input.
 *
 * The input `[N, C, ...spatial]` is first copied to `[N, ...spatial, C]`, so that a tap's C
 * channels are contiguous, and so are the taps of a kernel row where the kernel dilation is 1:
 * a patch row `(tap, channel)` of an output position is then gathered in a few runs of
 * `(taps of a kernel row) · C` elements (AlexNet's 5 × 5 layer: 5 runs of 480; its kernel
 * gradient, a convolution with a 13 × 13 "kernel" over 128 images as channels: 13 runs of
 * 1664), where `im2col`'s patch rows are copied in runs of one output row (13, 6 or 5
 * elements). The kernel is reordered once to `[O, taps · C]`, and each GEMM
 * `[O, taps · C] · [taps · C, positions]` reads the patches transposed (as `[positions,
 * taps · C]`), writing straight into the output when its positions are one image's, and
 * through a copy per image and output channel when several images share a GEMM. Where the
 * kernel matrix is large and the positions few (kernel gradients), each GEMM takes all positions
 * and some kernel rows of the contraction instead, accumulating, so that the kernel is packed
 * once rather than once per block of positions.
 *
 * Applies to convolutions without groups and without input (lhs) dilation; strides, kernel
 * dilation and any padding are handled (a kernel dilation above 1 copies tap by tap, runs of C).
 * Padding contributes `0 · w`, as in the other lowerings.
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { scratchF32 as scratch } from "./kernels.ts";
import type { Geo } from "./conv_geo.ts";

/** Patch elements gathered per GEMM (16 MiB of f32). */
const CL_BLOCK = 1 << 22;

/**
 * Whether the `chlast` lowering applies: one group, no input dilation.
 *
 * @param g the geometry
 * @returns whether {@link convChlast} computes this convolution
 */
export function chlastApplies(g: Geo): boolean {
  return g.G === 1 && g.ld.every((d) => d === 1);
}

/**
 * Output positions per GEMM of {@link convChlast} (whole images where an image fits in a
 * block of patches), and the images per GEMM.
 *
 * @param g the geometry
 * @returns `[rows, images]`: rows per GEMM, images per GEMM (1 where an image is split)
 */
export function chlastRows(g: Geo): [number, number] {
  const KC = g.K * g.C;
  const rows = Math.max(1, Math.floor(CL_BLOCK / Math.max(1, KC)));
  if (g.P >= rows) return [rows, 1];
  const imgs = Math.max(1, Math.min(g.outN, Math.floor(rows / Math.max(1, g.P))));
  return [imgs * g.P, imgs];
}

/**
 * `dst[n, s, c] = src[n, c, s]` for `n < outer`: each `[C, S]` block transposed, eight
 * channels at a time (AlexNet's `[128, 256, 169]` input gradient in 8 ms, 22 ms by 32 × 32 tiles
 * one element at a time).
 *
 * @param src `[outer, C, S]`
 * @param dst `[outer, S, C]`
 * @param outer blocks
 * @param C channels
 * @param S positions
 */
export function channelsLast(
  src: Float32Array,
  dst: Float32Array,
  outer: number,
  C: number,
  S: number,
): void {
  for (let n = 0; n < outer; n++) {
    const from = n * C * S, to = n * S * C;
    let c = 0;
    for (; c + 8 <= C; c += 8) {
      for (let s = 0, i = from + c * S, d = to + c; s < S; s++, i++, d += C) {
        dst[d] = src[i];
        dst[d + 1] = src[i + S];
        dst[d + 2] = src[i + 2 * S];
        dst[d + 3] = src[i + 3 * S];
        dst[d + 4] = src[i + 4 * S];
        dst[d + 5] = src[i + 5 * S];
        dst[d + 6] = src[i + 6 * S];
        dst[d + 7] = src[i + 7 * S];
      }
    }
    for (; c < C; c++) {
      for (let s = 0, i = from + c * S, d = to + c; s < S; s++, i++, d += C) dst[d] = src[i];
    }
  }
}

/**
 * The convolution through channels-last patches (see the module comment).
 *
 * @param sgemm the GEMM
 * @param g the geometry ({@link chlastApplies} holds)
 * @param x the input, `[N, C, ...spatial]`
 * @param w the kernel, `[O, C, ...taps]`
 * @param out the output, `[N, O, ...spatial']`, written in full
 */
export function convChlast(
  sgemm: Sgemm,
  g: Geo,
  x: Float32Array,
  w: Float32Array,
  out: Float32Array,
): void {
  const { N, C, O, K, P, inS, kS, outS, ws, rd, lo } = g;
  const [I0, I1, I2] = inS, [K0, K1, K2] = kS, [, O1, O2] = outS;
  const S = I0 * I1 * I2, KC = K * C;
  // the input channels-last, [N, S, C], and the kernel as [O, K · C] (the same reorder)
  const xh = scratch("chlastIn", N * S * C, false);
  channelsLast(x, xh, N, C, S);
  const wt = scratch("chlastW", O * KC, false);
  channelsLast(w, wt, O, C, K);
  // per output index of the innermost dim, the taps [a, b) that read the input (kernel
  // dilation 1: one run of (b - a) · C elements)
  const run2 = rd[2] === 1;
  const ka = new Int32Array(O2), kb = new Int32Array(O2);
  for (let y2 = 0; y2 < O2; y2++) {
    const base = y2 * ws[2] - lo[2];
    ka[y2] = Math.min(K2, Math.max(0, -base));
    kb[y2] = Math.max(ka[y2], Math.min(K2, I2 - base));
  }
  // the GEMM's [O, m · P] result for images n0 … n0 + m - 1 (columns `cols` apart), to their
  // places in out
  const toImages = (yb: Float32Array, n0: number, m: number, cols: number) => {
    for (let j = 0; j < m; j++) {
      for (let o = 0; o < O; o++) {
        const s = o * cols + j * P, d = ((n0 + j) * O + o) * P;
        if (P >= 64) out.set(yb.subarray(s, s + P), d);
        else for (let i = 0; i < P; i++) out[d + i] = yb[s + i];
      }
    }
  };
  // kernel rows [r0, r1) (r = k0 · K1 + k1) of the patch row of image n at output position p
  // (y0, y1, y2), written from q
  const rowW = K2 * C;
  const gatherRow = (
    col: Float32Array,
    q: number,
    n: number,
    p: number,
    r0: number,
    r1: number,
  ) => {
    const y2 = p % O2, y01 = (p - y2) / O2, y1 = y01 % O1, y0 = (y01 - y1) / O1;
    const img = n * S, i2base = y2 * ws[2] - lo[2];
    for (let r = r0; r < r1; r++, q += rowW) {
      const k0 = (r / K1) | 0, k1 = r - k0 * K1;
      const i0 = y0 * ws[0] + k0 * rd[0] - lo[0], i1 = y1 * ws[1] + k1 * rd[1] - lo[1];
      if (i0 < 0 || i0 >= I0 || i1 < 0 || i1 >= I1) {
        col.fill(0, q, q + rowW);
        continue;
      }
      const rowBase = img + (i0 * I1 + i1) * I2;
      if (run2) {
        const a = ka[y2], b = kb[y2];
        if (a > 0) col.fill(0, q, q + a * C);
        if (b > a) {
          const s = (rowBase + i2base + a) * C, len = (b - a) * C, d = q + a * C;
          if (len >= 32) col.set(xh.subarray(s, s + len), d);
          else for (let i = 0; i < len; i++) col[d + i] = xh[s + i];
        }
        if (b < K2) col.fill(0, q + b * C, q + rowW);
      } else {
        for (let k2 = 0; k2 < K2; k2++) {
          const i2 = i2base + k2 * rd[2], d = q + k2 * C;
          if (i2 < 0 || i2 >= I2) col.fill(0, d, d + C);
          else {
            const s = (rowBase + i2) * C;
            if (C >= 32) col.set(xh.subarray(s, s + C), d);
            else for (let i = 0; i < C; i++) col[d + i] = xh[s + i];
          }
        }
      }
    }
  };
  const R = K0 * K1, total = g.outN * P;
  // A GEMM packs its operands: where the kernel matrix is large and positions few (kernel
  // gradients: AlexNet's 5 × 5 one multiplies a [256, 21632] "kernel" by 2400 positions), every
  // block of positions would pack the whole kernel again; there the contraction is split by
  // kernel rows instead, all positions at once, accumulating
  const blocks = Math.ceil(total / chlastRows(g)[0]);
  if (total * rowW <= CL_BLOCK && blocks * KC > 2 * R * total) {
    const per = Math.max(1, Math.floor(CL_BLOCK / (total * rowW)));
    const col = scratch("chlastCol", total * per * rowW, false);
    const yb = scratch("chlastOut", O * total, false);
    for (let r0 = 0; r0 < R; r0 += per) {
      const r1 = Math.min(R, r0 + per), W = (r1 - r0) * rowW;
      for (let n = 0, i = 0; n < g.outN; n++) {
        for (let p = 0; p < P; p++, i++) gatherRow(col, i * W, n, p, r0, r1);
      }
      sgemm(false, true, O, total, W, 1, wt.subarray(r0 * rowW), KC, col, W, r0 ? 1 : 0, yb, total);
    }
    toImages(yb, 0, g.outN, total);
    return;
  }
  const [rows, imgs] = chlastRows(g);
  const col = scratch("chlastCol", rows * KC, false);
  if (imgs === 1) {
    // one image per GEMM (in blocks of positions), written in place
    for (let n = 0; n < g.outN; n++) {
      for (let p0 = 0; p0 < P; p0 += rows) {
        const m = Math.min(rows, P - p0);
        for (let i = 0; i < m; i++) gatherRow(col, i * KC, n, p0 + i, 0, R);
        sgemm(false, true, O, m, KC, 1, wt, KC, col, KC, 0, out.subarray(n * O * P + p0), P);
      }
    }
    return;
  }
  const yb = scratch("chlastOut", O * rows, false);
  for (let n0 = 0; n0 < g.outN; n0 += imgs) {
    const m = Math.min(imgs, g.outN - n0), cols = m * P;
    for (let j = 0; j < m; j++) {
      for (let p = 0; p < P; p++) gatherRow(col, (j * P + p) * KC, n0 + j, p, 0, R);
    }
    sgemm(false, true, O, cols, KC, 1, wt, KC, col, KC, 0, yb, cols);
    toImages(yb, n0, m, cols);
  }
}
