/**
 * `conv_general_dilated` on the native backend as GEMM. Four lowerings compute the same
 * convolution (layouts `lhs [N, C, ...]`, `rhs [O, C/g, ...]`, every stride, padding, dilation
 * and group of the primitive; the gradients arrive here as convolutions too):
 *
 * - `im2col` (any parameters): per output image and group, blocks of output rows; the block's
 *   patch matrix `[C/g · taps, positions]` is gathered (never the whole matrix) and multiplied
 *   by the kernel `[O/g, C/g · taps]`; images with few positions and a long contraction go
 *   several to a GEMM ({@link im2colImages}).
 * - `taps` (unit strides): per output image and group, the patch rows (channel, tap) are shifted
 *   copies of the zero-padded (and lhs-dilated) input's rows over the "wide" positions (the
 *   padded grid's, from the first valid output to the last); one GEMM
 *   `[O/g, C/g · taps] · [C/g · taps, wide positions]`, then the valid positions are kept.
 *   (`DENAX_NATIVE_WIDE=0`: one GEMM per tap instead, accumulating over all images.)
 * - `outputs` (few output positions, as weight gradients, whose "kernel" is an activation;
 *   `native/conv_outputs.ts`): the kernel is zero-padded onto the padded input grid and each
 *   output position is a contraction over (channel, padded position)
 *   `[N, C/g · S] · [C/g · S, O/g]`. The contraction also reads input values that meet zero
 *   weights, so it is used only on finite inputs.
 * - `scatter` (unit strides, `native/conv_scatter.ts`): col2im, each input position's products
 *   with every tap added at their shifted places; one GEMM per tap accumulating straight into
 *   the output where the lhs dilation is 1. The lowering of input gradients (wide padding) and
 *   transposed convolutions.
 *
 * - `classes` (any parameters, `native/conv_classes.ts`): output positions grouped by the kernel
 *   taps that read an input element; one GEMM per class over all images at once
 *   `[O/g, C/g · taps] · [C/g · taps, images · positions]`. The lowering of small feature maps
 *   (ResNet-18's 4×4, 2×2 and 1×1 at 28×28 input), where a per-image GEMM has a handful of
 *   columns and costs the reading of the whole kernel.
 * - `chlast` (one group, no lhs dilation; `native/conv_chlast.ts`): im2col over a channels-last
 *   copy of the input, each patch row gathered in runs of a kernel row's taps times the
 *   channels (`im2col`'s runs are one output row long); kernel gradients split the contraction
 *   by kernel rows. The lowering of AlexNet's and most of ResNet-18's layers and gradients.
 *
 * The choice is by an estimate of each one's cost (gather traffic, multiply-adds and the
 * kernel's reads per GEMM, measured by `bench/conv_lowering_bench.ts`);
 * `DENAX_NATIVE_CONV=im2col|taps|outputs|scatter|classes|chlast` forces one where it applies. Padding
 * and dilation holes contribute `0 · w` (NaN where a weight is ±∞, as XLA's and PyTorch's
 * convolutions) except in `classes`, which skips them as the reference backend does.
 * Accumulation is the GEMM's (f32 for BLAS).
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { scratchF32 as scratch } from "./kernels.ts";
import { convScatter } from "./conv_scatter.ts";
import { convOutputs } from "./conv_outputs.ts";
import { classStats, convClasses } from "./conv_classes.ts";
import { chlastApplies, chlastRows, convChlast } from "./conv_chlast.ts";
import {
  chanOf,
  type ConvParamsLike,
  copyRows,
  type Geo,
  geometry,
  imageOf,
  padInput,
  wide,
} from "./conv_geo.ts";

export type { ConvParamsLike } from "./conv_geo.ts";

/** The lowerings of {@link convF32}. */
export type ConvMethod = "im2col" | "taps" | "outputs" | "scatter" | "classes" | "chlast";

function allFinite(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (x[i] - x[i] !== 0) return false;
  return true;
}

/**
 * Chooses a lowering for a convolution of these shapes: the applicable one with the smallest
 * estimated cost (one unit per gathered element, a fraction per multiply-add).
 *
 * @param lShape lhs shape `[N, C, ...]`
 * @param rShape rhs shape `[O, C/g, ...]`
 * @param oShape output shape
 * @param p the convolution's parameters
 * @param finite whether the lhs holds only finite values (needed by `outputs`), or a function
 *   that says so, called only when `outputs` would be chosen (the scan costs a pass over the lhs)
 * @param blas whether the GEMM is a BLAS (multiply-adds are then far cheaper than gathers)
 * @param macUnits the cost of a multiply-add in gathered elements (default: {@link convCosts}'s)
 * @returns the lowering to use
 */
export function chooseConv(
  lShape: readonly number[],
  rShape: readonly number[],
  oShape: readonly number[],
  p: ConvParamsLike,
  finite: boolean | (() => boolean),
  blas: boolean,
  macUnits?: number,
): ConvMethod {
  const isFinite = () => (typeof finite === "function" ? finite() : finite);
  const g = geometry(lShape, rShape, oShape, p);
  const forced = _env("DENAX_NATIVE_CONV");
  const unitStride = g.ws.every((s) => s === 1);
  if (forced === "im2col") return "im2col";
  if (forced === "taps" && unitStride) return "taps";
  if (forced === "outputs" && isFinite()) return "outputs";
  if (forced === "scatter" && unitStride) return "scatter";
  if (forced === "classes") return "classes";
  if (forced === "chlast" && chlastApplies(g)) return "chlast";
  const cost = convCosts(g, blas, macUnits);
  // later in the list wins ties, scatter only when strictly cheaper
  const order: ConvMethod[] = ["outputs", "classes", "taps", "chlast", "scatter"];
  const pick = (withOutputs: boolean): ConvMethod => {
    let best: ConvMethod = "im2col";
    for (const m of order) {
      if (!withOutputs && m === "outputs") continue;
      if (m === "scatter" ? cost[m] < cost[best] : cost[m] <= cost[best]) best = m;
    }
    return best;
  };
  const m = pick(true);
  return m === "outputs" && !isFinite() ? pick(false) : m;
}

/**
 * The estimated cost of each lowering of a convolution, in {@link chooseConv}'s units (one
 * gathered element); `Infinity` where a lowering does not apply.
 *
 * @param g the geometry
 * @param blas whether the GEMM is a BLAS
 * @param macUnits the cost of a multiply-add, in gathered elements (default: fitted, below)
 * @returns the estimate per lowering
 */
export function convCosts(
  g: Geo,
  blas: boolean,
  macUnits?: number,
): Record<ConvMethod, number> {
  const unitStride = g.ws.every((s) => s === 1);
  // units: one gathered element; a gather costs about three units and a multiply-add 0.0125
  // with BLAS (~0.6 with the TypeScript GEMM): fitted on AlexNet's, NiN's and ResNet-18's
  // convolutions (`bench/conv_cost_fit.ts`), where the model now picks lowerings that take 1567
  // ms in all against 1929 with the 0.04 first measured on W4's small ones (OpenBLAS's AVX-512
  // kernels; 2210 against 2505 with its AVX2 ones). With im2col's images per GEMM (2026-12-07
  // 14:50 UTC, a slower machine): 1269 ms against the fastest lowerings' 1215 (before: 1474
  // against 1366)
  const mac = macUnits ?? (blas ? 0.0125 : 0.6), gatherCost = 3;
  const base = g.O * g.Cg * g.outN;
  const pad = g.N * g.C * g.Sp;
  // the per-image lowerings multiply the whole kernel by one image's columns: each GEMM packs
  // (reads) the kernel, which dominates when an image has few positions (bench/
  // conv_lowering_bench.ts: ResNet-18's 2×2 and 1×1 maps, about 0.15 units per element)
  const pack = blas ? 0.15 : 0, kernelReads = pack * g.O * g.Cg * g.K * g.outN;
  // a pointwise convolution (1 × 1, unit strides, no padding or dilation) reads its input as
  // its patch matrix, gathering nothing (`convIm2col`'s `pointwise`)
  const pointwise = g.K === 1 &&
    [0, 1, 2].every((d) =>
      g.ws[d] === 1 && g.lo[d] === 0 && g.ld[d] === 1 && g.outS[d] === g.inS[d]
    );
  // (a whole image's rows are gathered at two thirds of the cost; images that share a GEMM
  // pack the kernel once and copy their results to their places)
  const imgs = im2colImages(g, pointwise);
  const whole = g.ld[2] === 1 && (imgs > 1 || g.Cg * g.K * g.P <= BLOCK);
  // (and each patch row of O2 positions pays loop overhead: about 3 units in a whole image's
  // gather, 15 in the general one, where kernel gradients whose "positions" are a 1 × 1 map
  // gather one element per row)
  const rows = g.G * g.Cg * g.K * g.outN * g.outS[0] * g.outS[1];
  const gathered = pointwise
    ? 0
    : (whole ? 2 : gatherCost) * g.G * g.Cg * g.K * g.P * g.outN + (whole ? 3 : 15) * rows;
  // (and its multiply-adds at 0.6 of the fitted cost: fitted, so that the model picks im2col
  // where it measured fastest, AlexNet's 5 × 5 and 6 × 6 layers; the GEMM alone gains less,
  // [256, 2400] · [2400, N] at 374 GFLOP/s with N = 1690 against 308 with N = 169, operands in
  // cache, and the rest is the kernel's and the patches' traffic that per-image GEMMs repeat)
  const im2col = gathered + (imgs > 1 ? 0.6 : 1) * mac * base * g.K * g.P + kernelReads / imgs +
    (imgs > 1 ? g.O * g.P * g.outN : 0);
  // the TypeScript GEMM pays a fixed cost per 4 × 4 tile, heavy when C/g is small
  const tapMac = blas ? mac : mac * (1 + 4 / Math.max(1, g.Cg));
  // (and copies a fifth of a unit per patch element, `set` of long runs)
  const copies = 0.2 * g.G * g.Cg * g.K * g.outN * g.Sp;
  const taps = unitStride
    ? pad + copies + tapMac * base * g.K * g.Sp + g.O * g.outN * g.Sp + kernelReads
    : Infinity;
  const outputs = pad + g.O * g.Cg * g.Sp + mac * base * g.P * g.Sp;
  const scatter = unitStride ? scatterCost(g, mac) + kernelReads : Infinity;
  // classes: only the (tap, position) pairs that read the input, gathered across images,
  // one GEMM per class (and per block of images) packing that class's taps of the kernel
  // (its gathers read across images: about four units each)
  const { pairs, classes, kernelTaps } = classStats(g);
  const blocks = Math.max(1, Math.ceil(g.Cg * pairs * g.outN / classes / (1 << 20)));
  const classCost = (4 + mac * g.Og) * g.G * g.Cg * pairs * g.outN + g.O * g.outN * g.P +
    blocks * (g.G * classes * 330 + pack * g.O * g.Cg * kernelTaps);
  // chlast: the input and kernel reordered once (a unit an element), patch rows gathered in runs
  // of a kernel row's taps times C (0.3 units an element and 10 a run: set by hand, not fitted;
  // with them the model picks the fastest lowering on every AlexNet shape and chlast wherever it
  // was the fastest on ResNet-18's and NiN's but the 2 × 2 maps, bench/conv_lowering_bench.ts on
  // 2026-12-07), the GEMM's results copied to their places where images share a GEMM
  let chlast = Infinity;
  if (chlastApplies(g)) {
    const [, imgs] = chlastRows(g);
    const runs = g.outN * g.P * g.kS[0] * g.kS[1] * (g.rd[2] === 1 ? 1 : g.kS[2]);
    chlast = g.N * g.C * (g.inS[0] * g.inS[1] * g.inS[2]) + g.O * g.C * g.K +
      0.3 * g.C * g.K * g.P * g.outN + 10 * runs + mac * base * g.K * g.P +
      (imgs > 1 ? g.O * g.P * g.outN : 0);
  }
  return { im2col, taps, outputs, scatter, classes: classCost, chlast };
}

/** The `scatter` lowering's estimate, in {@link chooseConv}'s units. */
function scatterCost(g: Geo, mac: number): number {
  const { inS, kS, outS, lo, rd } = g;
  const base = g.O * g.Cg * g.outN, ipos = g.outN * g.C * inS[0] * inS[1] * inS[2];
  if (g.ld.some((d) => d !== 1)) {
    // products of every (tap, input position), added by JavaScript loops
    return mac * base * g.K * (ipos / g.outN / g.C) + 1.2 * g.O * g.K * (ipos / g.C);
  }
  // one GEMM call per (image, group, tap), over a run on the widened grid
  const E = [0, 1, 2].map((d) =>
    Math.max(outS[d], inS[d] + lo[d]) - Math.min(0, lo[d] - (kS[d] - 1) * rd[d])
  );
  const run = ((inS[0] - 1) * E[1] + inS[1] - 1) * E[2] + inS[2];
  const crop = E[0] * E[1] * E[2] === g.P ? 0 : g.O * g.outN * g.P;
  // each call costs ~0.3 µs and reads and writes its [O/g, run] block of the result
  return ipos + mac * base * g.K * run + (330 + 0.1 * g.Og * run) * g.outN * g.G * g.K + crop;
}

/**
 * Computes a convolution of f32 operands into `out` with the given lowering.
 *
 * @param sgemm the GEMM
 * @param method the lowering (see {@link chooseConv}; `taps` needs unit strides, `outputs` a
 *   finite lhs)
 * @param l lhs data, `[N, C, ...spatial]`
 * @param lShape lhs shape
 * @param r rhs data, `[O, C/g, ...kernel]`
 * @param rShape rhs shape
 * @param p the convolution's parameters
 * @param out the result, `[N/batchGroups, O, ...spatial']`, written in full
 * @param oShape its shape
 */
export function convF32(
  sgemm: Sgemm,
  method: ConvMethod,
  l: Float32Array,
  lShape: readonly number[],
  r: Float32Array,
  rShape: readonly number[],
  p: ConvParamsLike,
  out: Float32Array,
  oShape: readonly number[],
): void {
  if (out.length === 0) return;
  const g = geometry(lShape, rShape, oShape, p);
  if (g.Cg === 0 || g.K === 0) {
    out.fill(0);
    return;
  }
  if (method === "taps") {
    if (_env("DENAX_NATIVE_WIDE") === "0") convTaps(sgemm, g, l, r, out);
    else convWide(sgemm, g, l, r, out);
  } else if (method === "outputs") convOutputs(sgemm, g, l, r, out);
  else if (method === "scatter") convScatter(sgemm, g, l, r, out);
  else if (method === "classes") convClasses(sgemm, g, l, r, out);
  else if (method === "chlast") convChlast(sgemm, g, l, r, out);
  else convIm2col(sgemm, g, l, r, out);
}

/** Elements of one gathered patch block (4 MiB of f32). */
const BLOCK = 1 << 20;
/** The columns `im2col` aims at per GEMM when an image has fewer positions. */
const IM2COL_COLS = 2048;

/**
 * How many images `im2col` multiplies in one GEMM: one, unless an image has 16–1023 output
 * positions and the contraction (C/g · taps) is at least 2048; then as many as give
 * {@link IM2COL_COLS} columns, within 16 MiB of patches. A per-image GEMM on NiN's and
 * AlexNet's 13 × 13 maps has 169 columns and reads the whole kernel per call (alone, with its
 * operands in cache, `[256, 2400] · [2400, 169]` ran at 308 GFLOP/s against 374 with 1690
 * columns); with the whole-image gather, AlexNet's 5 × 5 layer (`[128, 96, 13, 13] ×
 * [256, 96, 5, 5]`, the lowering alone, run four times) went from 218 to 150 ms and its 3 × 3
 * layers at 6 × 6 from 86 to 44 and 174 to 68 ms.
 * Pointwise convolutions read the input in place and gain nothing from a copy.
 *
 * @param g the geometry
 * @param pointwise whether the convolution is pointwise (1 × 1, unit strides, no padding)
 * @returns images per GEMM
 */
export function im2colImages(g: Geo, pointwise: boolean): number {
  const CK = g.Cg * g.K;
  // (with a short contraction the GEMM gains little and the copies cost: ResNet-18's 3 × 3
  // layers on 7 × 7 and 4 × 4 maps, C/g · taps 576 and 1152, ran slower; under 16 positions an
  // image's rows are also written a few elements per cache line, a column block apart: NiN's
  // 1 × 1 kernel gradients gathered 9.6 M one-element rows that way at ~40 ns each)
  if (pointwise || CK < 2048 || g.P < 16 || 2 * g.P >= IM2COL_COLS) return 1;
  return Math.max(
    1,
    Math.min(g.outN, Math.ceil(IM2COL_COLS / g.P), Math.floor(4 * BLOCK / (CK * g.P))),
  );
}

function convIm2col(sgemm: Sgemm, g: Geo, x: Float32Array, w: Float32Array, out: Float32Array) {
  const { C, O, Cg, Og, K, P, inS, kS, outS } = g;
  const [O0, O1, O2] = outS, [K0, K1, K2] = kS, [, I1, I2] = inS;
  const inSize = inS[0] * I1 * I2;
  const tab = [0, 1, 2].map((d) => {
    const t = new Int32Array(outS[d] * kS[d]);
    for (let y = 0; y < outS[d]; y++) {
      for (let j = 0; j < kS[d]; j++) {
        const pos = y * g.ws[d] + j * g.rd[d] - g.lo[d], i = pos / g.ld[d];
        t[y * kS[d] + j] = pos >= 0 && pos % g.ld[d] === 0 && i < inS[d] ? i : -1;
      }
    }
    return t;
  });
  const [t0, t1, t2] = tab;
  const CK = Cg * K;
  // a pointwise convolution reads the input as its own patch matrix
  const pointwise = K === 1 && P === inSize && t0.every((v, i) => v === i) &&
    t1.every((v, i) => v === i) && t2.every((v, i) => v === i);
  // blocks of output rows (the flat (y0, y1) index: rows of O2 positions)
  const R = O0 * O1, rowsPerBlock = Math.max(1, Math.min(R, Math.floor(BLOCK / (CK * O2))));
  // per tap of the innermost dim, the output range [a, b) whose input index
  // y2 · stride + k2 · rd − lo is valid, where the lhs dilation is 1 (else the table)
  const ws2 = g.ws[2], runs = new Int32Array(2 * K2), plain2 = g.ld[2] === 1;
  for (let k2 = 0; k2 < K2; k2++) {
    const base = k2 * g.rd[2] - g.lo[2];
    const a = Math.min(O2, Math.max(0, Math.ceil(-base / ws2)));
    runs[2 * k2] = a;
    runs[2 * k2 + 1] = Math.max(a, Math.min(O2, Math.floor((I2 - 1 - base) / ws2) + 1));
  }
  // image `img`'s patch rows for output rows [ra, rb), into `col` at `off`, rows `ld` apart
  // (all rows of an image without lhs dilation in the innermost dim by loops over (y0, y1), with
  // no division per row and a fill per padded row: 1.5× as fast)
  const gather = (
    col: Float32Array,
    off: number,
    ld: number,
    img: number,
    c0: number,
    ra: number,
    rb: number,
  ) => {
    const fast = plain2 && ra === 0 && rb === R;
    let row = 0;
    for (let c = 0; c < Cg; c++) {
      const src = (img * C + c0 + c) * inSize;
      for (let k0 = 0; k0 < K0; k0++) {
        for (let k1 = 0; k1 < K1; k1++) {
          for (let k2 = 0; k2 < K2; k2++, row++) {
            const a2 = runs[2 * k2], b2 = runs[2 * k2 + 1];
            const base2 = k2 * g.rd[2] - g.lo[2];
            const q = row * ld + off;
            if (fast) gatherRows(col, q, src + base2, k0, k1, a2, b2);
            else {
              for (let r = ra, qr = q; r < rb; r++, qr += O2) {
                const y0 = (r / O1) | 0, y1 = r - y0 * O1;
                const i0 = t0[y0 * K0 + k0], i1 = t1[y1 * K1 + k1];
                if (i0 < 0 || i1 < 0) {
                  col.fill(0, qr, qr + O2);
                  continue;
                }
                const s = src + (i0 * I1 + i1) * I2;
                if (plain2) {
                  for (let y2 = 0; y2 < a2; y2++) col[qr + y2] = 0;
                  for (let y2 = a2, i = s + a2 * ws2 + base2; y2 < b2; y2++, i += ws2) {
                    col[qr + y2] = x[i];
                  }
                  for (let y2 = b2; y2 < O2; y2++) col[qr + y2] = 0;
                } else {
                  for (let y2 = 0; y2 < O2; y2++) {
                    const i2 = t2[y2 * K2 + k2];
                    col[qr + y2] = i2 >= 0 ? x[s + i2] : 0;
                  }
                }
              }
            }
          }
        }
      }
    }
  };
  // one patch row (tap k0, k1; innermost inputs [a2, b2) from `s`) over all of an image's output
  // rows, written from `q`
  const gatherRows = (
    col: Float32Array,
    q: number,
    s0: number,
    k0: number,
    k1: number,
    a2: number,
    b2: number,
  ) => {
    for (let y0 = 0; y0 < O0; y0++) {
      const i0 = t0[y0 * K0 + k0];
      if (i0 < 0) {
        col.fill(0, q, q + O1 * O2);
        q += O1 * O2;
        continue;
      }
      for (let y1 = 0; y1 < O1; y1++, q += O2) {
        const i1 = t1[y1 * K1 + k1];
        if (i1 < 0) {
          for (let y2 = 0; y2 < O2; y2++) col[q + y2] = 0;
          continue;
        }
        const s = s0 + (i0 * I1 + i1) * I2;
        let y2 = 0;
        for (; y2 < a2; y2++) col[q + y2] = 0;
        if (ws2 === 1) { for (; y2 < b2; y2++) col[q + y2] = x[s + y2]; }
        else for (; y2 < b2; y2++) col[q + y2] = x[s + y2 * ws2];
        for (; y2 < O2; y2++) col[q + y2] = 0;
      }
    }
  };
  // images with few positions go several to a GEMM (its columns), the result copied to its
  // place per image afterwards
  const imgs = im2colImages(g, pointwise);
  if (imgs > 1) {
    const col = scratch("col", CK * imgs * P, false),
      yb = scratch("im2colOut", Og * imgs * P, false);
    for (let grp = 0; grp < g.G; grp++) {
      const c0 = chanOf(g, grp), oBase = grp * Og, wv = w.subarray(oBase * CK);
      for (let n0 = 0; n0 < g.outN; n0 += imgs) {
        const m = Math.min(imgs, g.outN - n0), ld = m * P;
        for (let j = 0; j < m; j++) gather(col, j * P, ld, imageOf(g, n0 + j, grp), c0, 0, R);
        sgemm(false, false, Og, ld, CK, 1, wv, CK, col, ld, 0, yb, ld);
        for (let j = 0; j < m; j++) {
          for (let o = 0; o < Og; o++) {
            const s = o * ld + j * P, d = ((n0 + j) * O + oBase + o) * P;
            // (a subarray per short run costs more than the run)
            if (P >= 64) out.set(yb.subarray(s, s + P), d);
            else for (let i = 0; i < P; i++) out[d + i] = yb[s + i];
          }
        }
      }
    }
    return;
  }
  const col = pointwise ? new Float32Array(0) : scratch("col", CK * rowsPerBlock * O2, false);
  for (let n = 0; n < g.outN; n++) {
    for (let grp = 0; grp < g.G; grp++) {
      const img = imageOf(g, n, grp), c0 = chanOf(g, grp), oBase = grp * Og;
      const wv = w.subarray(oBase * CK);
      if (pointwise) {
        const xv = x.subarray((img * C + c0) * inSize);
        sgemm(false, false, Og, P, Cg, 1, wv, CK, xv, P, 0, out.subarray((n * O + oBase) * P), P);
        continue;
      }
      for (let ra = 0; ra < R; ra += rowsPerBlock) {
        const rb = Math.min(R, ra + rowsPerBlock), pb = (rb - ra) * O2;
        gather(col, 0, pb, img, c0, ra, rb);
        const ov = out.subarray((n * O + oBase) * P + ra * O2);
        sgemm(false, false, Og, pb, CK, 1, wv, CK, col, pb, 0, ov, P);
      }
    }
  }
}

function convTaps(sgemm: Sgemm, g: Geo, x: Float32Array, w: Float32Array, out: Float32Array) {
  const { N, C, O, Cg, Og, K, Sp, kS, rd } = g;
  const wideStride = [g.padS[1] * g.padS[2], g.padS[2], 1];
  // the last kernel dim with several taps is folded into the contraction: the input is copied
  // once per tap of that dim (shifted), so each GEMM contracts over C/g · taps-of-that-dim
  let f = 2;
  while (f > 0 && kS[f] === 1) f--;
  const KF = kS[f], fStep = rd[f] * wideStride[f], T = K / KF;
  const offs = new Int32Array(T), kf = Cg * KF;
  const wt = new Float32Array(K * O * Cg);
  let flat = 0;
  for (let k0 = 0; k0 < kS[0]; k0++) {
    for (let k1 = 0; k1 < kS[1]; k1++) {
      for (let k2 = 0; k2 < kS[2]; k2++, flat++) {
        const ks = [k0, k1, k2], j = ks[f];
        ks[f] = 0;
        const t = (ks[0] * kS[1] + ks[1]) * kS[2] + ks[2];
        const tap = f === 2 ? t / KF : f === 1 ? ks[0] * kS[2] + ks[2] : ks[1] * kS[2] + ks[2];
        offs[tap] = wide(g, ks[0] * rd[0], ks[1] * rd[1], ks[2] * rd[2]);
        // the kernel as one [O, C/g · KF] matrix per remaining tap
        for (let o = 0; o < O; o++) {
          for (let c = 0; c < Cg; c++) {
            wt[(tap * O + o) * kf + c * KF + j] = w[(o * Cg + c) * K + flat];
          }
        }
      }
    }
  }
  let maxOff = 0;
  for (let t = 0; t < T; t++) maxOff = Math.max(maxOff, offs[t]);
  const L = N * Sp;
  const xp = padInput(x, g, true, maxOff + (KF - 1) * fStep);
  let xf = xp;
  if (KF > 1) {
    xf = new Float32Array(C * KF * L + maxOff);
    for (let c = 0; c < C; c++) {
      for (let j = 0; j < KF; j++) {
        const s = c * L + j * fStep;
        xf.set(xp.subarray(s, s + L), (c * KF + j) * L);
      }
    }
  }
  const ncols = g.outN * Sp;
  const yw = new Float32Array(O * ncols);
  // column blocks whose operand rows stay in cache across the taps
  const CB = Math.max(512, Math.min(ncols, Math.floor(32768 / Math.max(kf, Og, 1)) * 4));
  for (let cb = 0; cb < ncols; cb += CB) {
    const nb = Math.min(CB, ncols - cb);
    for (let grp = 0; grp < g.G; grp++) {
      const c0 = chanOf(g, grp), img0 = g.bgc > 1 ? grp * g.nPerB : 0, oBase = grp * Og;
      const cv = yw.subarray(oBase * ncols + cb);
      for (let t = 0; t < T; t++) {
        sgemm(
          false,
          false,
          Og,
          nb,
          kf,
          1,
          wt.subarray((t * O + oBase) * kf),
          kf,
          xf.subarray(c0 * KF * L + img0 * Sp + offs[t] + cb),
          L,
          t === 0 ? 0 : 1,
          cv,
          ncols,
        );
      }
    }
  }
  compactWide(g, yw, ncols, out);
}

/**
 * Unit strides, as `taps`, but per output image (and group) the patch rows (channel, tap) are
 * shifted copies (`set`) of the padded input image's rows, spanning the wide positions from the
 * first valid output to the last (`(O0 − 1)·S1·S2 + (O1 − 1)·S2 + O2`), in column blocks that
 * stay in cache; one GEMM per block contracts over all C/g · taps at once, and the image's wide
 * result is compacted into the output while it is in cache.
 */
function convWide(sgemm: Sgemm, g: Geo, x: Float32Array, w: Float32Array, out: Float32Array) {
  const { C, O, Cg, Og, K, Sp, kS, rd, outS, padS } = g;
  // the innermost kernel dim's taps are patch rows (copies shifted by k2 · rd2); the other taps
  // are offsets into those rows, one GEMM each, accumulating (W4's conv2: 5 × fewer copies)
  // (a short contraction, C/g · KF < 16, is slower than the copies it saves)
  const KF = Cg * kS[2] >= 16 ? kS[2] : K, T = K / KF, CK = Cg * KF;
  const outer = new Int32Array(T), inner = new Int32Array(KF);
  let t = 0;
  for (let k0 = 0; k0 < kS[0]; k0++) {
    for (let k1 = 0; k1 < kS[1]; k1++) {
      for (let k2 = 0; k2 < kS[2]; k2++, t++) {
        const off = wide(g, k0 * rd[0], k1 * rd[1], k2 * rd[2]);
        if (t % KF === 0) outer[t / KF] = off;
        if (t < KF) inner[t] = off;
      }
    }
  }
  // the kernel as [T, O, C/g · KF]
  const wt = scratch("wideW", O * Cg * K, false);
  for (let o = 0, s = 0; o < O; o++) {
    for (let c = 0; c < Cg; c++) {
      for (let t = 0; t < T; t++) {
        const d = (t * O + o) * CK + c * KF;
        for (let k = 0; k < KF; k++) wt[d + k] = w[s++];
      }
    }
  }
  const [O0, O1, O2] = outS, S1 = padS[1], S2 = padS[2];
  const Lw = wide(g, O0 - 1, O1 - 1, O2 - 1) + 1, span = outer[T - 1];
  // unpadded and undilated, the input is its own padded grid (the last run ends at its end)
  const plain = [0, 1, 2].every((d) => g.lo[d] === 0 && g.hi[d] === 0 && g.ld[d] === 1);
  const xp = plain ? x : padInput(x, g, false, inner[KF - 1] + span + Lw);
  const yw = scratch("wide", Og * Lw, false);
  // a block of patch rows fills about 1 MiB (the L2 of one core)
  const nb0 = Math.max(64, Math.min(Lw, Math.floor(262144 / CK) - span));
  const col = scratch("col", CK * (nb0 + span), false);
  for (let n = 0; n < g.outN; n++) {
    for (let grp = 0; grp < g.G; grp++) {
      const src = (imageOf(g, n, grp) * C + chanOf(g, grp)) * Sp, oBase = grp * Og;
      for (let cb = 0; cb < Lw; cb += nb0) {
        const nb = Math.min(nb0, Lw - cb), len = nb + span;
        for (let c = 0, r = 0; c < Cg; c++) {
          const base = src + c * Sp + cb;
          for (let k = 0; k < KF; k++, r += len) {
            const s = base + inner[k];
            col.set(xp.subarray(s, s + len), r);
          }
        }
        for (let t = 0; t < T; t++) {
          const wv = wt.subarray((t * O + oBase) * CK);
          const cv = col.subarray(outer[t]);
          sgemm(false, false, Og, nb, CK, 1, wv, CK, cv, len, t ? 1 : 0, yw.subarray(cb), Lw);
        }
      }
      for (let o = 0; o < Og; o++) {
        for (let y0 = 0; y0 < O0; y0++) {
          const d = ((n * O + oBase + o) * O0 + y0) * O1 * O2;
          copyRows(yw, o * Lw + y0 * S1 * S2, S2, out, d, O2, O2, O1, O1, 0);
        }
      }
    }
  }
}

/** Keeps the valid positions of a wide result `[O, outN · Sp]` in `out`. */
function compactWide(g: Geo, yw: Float32Array, ncols: number, out: Float32Array): void {
  const { O, P, Sp, outS } = g;
  const [O0, O1, O2] = outS;
  for (let n = 0; n < g.outN; n++) {
    for (let o = 0; o < O; o++) {
      const src = o * ncols + n * Sp;
      let d = (n * O + o) * P;
      for (let y0 = 0; y0 < O0; y0++) {
        for (let y1 = 0; y1 < O1; y1++) {
          const s = src + wide(g, y0, y1, 0);
          for (let y2 = 0; y2 < O2; y2++) out[d++] = yw[s + y2];
        }
      }
    }
  }
}

/** Whether the conv's lhs is finite (the `outputs` lowering's precondition). */
export { allFinite };

function _env(name: string): string | undefined {
  try {
    return (globalThis as { Deno?: typeof Deno }).Deno?.env?.get(name) || undefined;
  } catch {
    return undefined;
  }
}
