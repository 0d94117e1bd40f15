/**
 * The `scatter` lowering of the native convolution (col2im): for unit window strides, each
 * input position's products with every kernel tap land on the output at a shifted place
 * (`y = i · lhsDilation + lo − k · rhsDilation`). Its traffic is `O/g · taps · input positions`,
 * against `C/g · taps · output positions` for gathering patches: the lowering of the gradients
 * that arrive as convolutions with a wide padding or an lhs dilation (the input gradient of a
 * convolution, transposed convolutions).
 *
 * - Unit lhs dilation: the input image is laid on a grid as wide as the region the products
 *   land on, so that a tap's shift is one offset, and each tap is one GEMM
 *   `[O/g, C/g] · [C/g, input run]` accumulating (`beta = 1`) into that region, which is the
 *   output itself for the input gradient of an unpadded convolution (W4's: no copy of the
 *   products at all), else cropped into the output.
 * - Any lhs dilation: per output image and group, `cols [O/g · taps, positions] =
 *   Wᵗ [O/g · taps, C/g] · x [C/g, positions]` (in blocks of input rows that keep `cols` in
 *   cache), then for each (output channel, tap) and input row a run of `cols` is added to the
 *   output row it lands on, with a step of `lhsDilation`.
 *
 * Padding and lhs-dilation holes meet no product (the widened grid's gaps are zeros, which
 * meet the weights: `0 · w`, NaN where a weight is ±∞, as in the other lowerings).
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { chanOf, copyRows, type Geo, imageOf } from "./conv_geo.ts";
import { scratchF32 as scratch } from "./kernels.ts";

/** Elements of one block of products (1 MiB of f32, the L2 of one core). */
const COLS_BLOCK = 1 << 18;

/**
 * Per tap of one dim: the output index of input index 0, and the range `[a, b)` of input
 * indices whose output index lies in `[0, out)`.
 */
function tapRanges(
  nIn: number,
  nOut: number,
  k: number,
  lo: number,
  ld: number,
  rd: number,
): Int32Array {
  const t = new Int32Array(3 * k);
  for (let j = 0; j < k; j++) {
    const shift = lo - j * rd;
    // y = i·ld + shift ∈ [0, nOut)
    const a = Math.max(0, Math.ceil(-shift / ld));
    const b = Math.min(nIn, Math.floor((nOut - 1 - shift) / ld) + 1);
    t[3 * j] = shift;
    t[3 * j + 1] = a;
    t[3 * j + 2] = Math.max(a, b);
  }
  return t;
}

/**
 * Computes a convolution with unit window strides by scattering products (see the module
 * comment); any padding, lhs and rhs dilation, feature and batch groups.
 *
 * @param sgemm the GEMM
 * @param g the convolution's geometry (`windowStrides` all 1)
 * @param x lhs data, `[N, C, ...spatial]`
 * @param w rhs data, `[O, C/g, ...kernel]`
 * @param out the result, written in full
 */
export function convScatter(
  sgemm: Sgemm,
  g: Geo,
  x: Float32Array,
  w: Float32Array,
  out: Float32Array,
): void {
  if (g.ld.every((d) => d === 1)) convScatterTaps(sgemm, g, x, w, out);
  else convScatterRows(sgemm, g, x, w, out);
}

/**
 * Unit lhs dilation: every tap is one GEMM `[O/g, C/g] · [C/g, input run]` accumulating
 * (`beta = 1`) straight into the output at the tap's shift. The input is laid on a grid whose
 * rows (and planes) have the extent of the region its products land on, so that a tap's shift
 * is one offset; where that region is the output itself (the input gradient of an unpadded
 * convolution) the GEMMs write the result in place, otherwise into that region, cropped after.
 */
function convScatterTaps(
  sgemm: Sgemm,
  g: Geo,
  x: Float32Array,
  w: Float32Array,
  out: Float32Array,
): void {
  const { C, O, Cg, Og, K, P, inS, kS, outS, rd, lo } = g;
  // per dim, the region [eMin, eMin + E) that the products land on, with the output in it
  const eMin = [0, 1, 2].map((d) => Math.min(0, lo[d] - (kS[d] - 1) * rd[d]));
  const E = [0, 1, 2].map((d) => Math.max(outS[d], inS[d] + lo[d]) - eMin[d]);
  const [E0, E1, E2] = E, [I0, I1, I2] = inS, [O0, O1, O2] = outS;
  const Eimg = E0 * E1 * E2;
  const direct = Eimg === P;
  // the input on a grid of strides (E1 · E2, E2, 1): one image's channel block is Xs long
  const Xs = I0 * E1 * E2, run = ((I0 - 1) * E1 + I1 - 1) * E2 + I2;
  // rows already as wide as the region: the input is read in place
  const inPlace = E1 === I1 && E2 === I2;
  const xw = inPlace ? x : scratch("scatterX", Cg * Xs, true);
  const ext = direct ? out : scratch("scatterExt", Og * Eimg, false);
  // the kernel per tap: [taps, O, C/g]
  const wk = scratch("scatterW", K * O * Cg, false);
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < Cg; c++) {
      const s = (o * Cg + c) * K;
      for (let k = 0; k < K; k++) wk[(k * O + o) * Cg + c] = w[s + k];
    }
  }
  const shifts = new Int32Array(K);
  let t = 0;
  for (let k0 = 0; k0 < kS[0]; k0++) {
    for (let k1 = 0; k1 < kS[1]; k1++) {
      for (let k2 = 0; k2 < kS[2]; k2++) {
        const e0 = lo[0] - k0 * rd[0] - eMin[0], e1 = lo[1] - k1 * rd[1] - eMin[1];
        shifts[t++] = (e0 * E1 + e1) * E2 + lo[2] - k2 * rd[2] - eMin[2];
      }
    }
  }
  const Ipos = I0 * I1 * I2;
  if (direct) out.fill(0);
  for (let n = 0; n < g.outN; n++) {
    for (let grp = 0; grp < g.G; grp++) {
      const xImg = (imageOf(g, n, grp) * C + chanOf(g, grp)) * Ipos, oBase = grp * Og;
      // widen the rows: the gaps stay zero between calls
      if (!inPlace) copyRows(x, xImg, I2, xw, 0, E2, I2, Cg * I0 * I1, I1, E1 - I1);
      const cBase = direct ? (n * O + oBase) * P : 0;
      if (!direct) ext.fill(0);
      const xv = inPlace ? x.subarray(xImg) : xw;
      for (let k = 0; k < K; k++) {
        sgemm(
          false,
          false,
          Og,
          run,
          Cg,
          1,
          wk.subarray((k * O + oBase) * Cg),
          Cg,
          xv,
          inPlace ? Ipos : Xs,
          1,
          ext.subarray(cBase + shifts[k]),
          Eimg,
        );
      }
      if (direct) continue;
      // crop the region to the output
      for (let o = 0; o < Og; o++) {
        for (let y0 = 0; y0 < O0; y0++) {
          const s = o * Eimg + ((y0 - eMin[0]) * E1 - eMin[1]) * E2 - eMin[2];
          const d = ((n * O + oBase + o) * O0 + y0) * O1 * O2;
          copyRows(ext, s, E2, out, d, O2, O2, O1, O1, 0);
        }
      }
    }
  }
}

/** Any lhs dilation: the products of blocks of input rows, added in runs by JavaScript loops. */
function convScatterRows(
  sgemm: Sgemm,
  g: Geo,
  x: Float32Array,
  w: Float32Array,
  out: Float32Array,
): void {
  const { C, O, Cg, Og, K, P, inS, kS, outS, ld, rd, lo } = g;
  const [I0, I1, I2] = inS, [K0, K1, K2] = kS, [O0, O1, O2] = outS;
  const rowIn = I1 * I2, Ipos = I0 * rowIn, OK = Og * K;
  // the kernel as [O, taps, C/g]: group grp's [O/g · taps, C/g] block starts at grp · O/g · K · C/g
  const wt = scratch("scatterW", O * K * Cg, false);
  for (let o = 0; o < O; o++) {
    for (let c = 0; c < Cg; c++) {
      const s = (o * Cg + c) * K;
      for (let k = 0; k < K; k++) wt[(o * K + k) * Cg + c] = w[s + k];
    }
  }
  const r0 = tapRanges(I0, O0, K0, lo[0], ld[0], rd[0]);
  const r1 = tapRanges(I1, O1, K1, lo[1], ld[1], rd[1]);
  const r2 = tapRanges(I2, O2, K2, lo[2], ld[2], rd[2]);
  const l0 = ld[0], l1 = ld[1], l2 = ld[2];
  const rows = Math.max(1, Math.min(I0, Math.floor(COLS_BLOCK / Math.max(1, OK * rowIn))));
  const cols = scratch("scatterCols", OK * rows * rowIn, false);
  out.fill(0);
  for (let n = 0; n < g.outN; n++) {
    for (let grp = 0; grp < g.G; grp++) {
      const xImg = (imageOf(g, n, grp) * C + chanOf(g, grp)) * Ipos;
      const oBase = grp * Og, wv = wt.subarray(oBase * K * Cg);
      for (let ia = 0; ia < I0; ia += rows) {
        const ib = Math.min(I0, ia + rows), nb = (ib - ia) * rowIn;
        sgemm(
          false,
          false,
          OK,
          nb,
          Cg,
          1,
          wv,
          Cg,
          x.subarray(xImg + ia * rowIn),
          Ipos,
          0,
          cols,
          nb,
        );
        let src = 0;
        for (let o = 0; o < Og; o++) {
          const ob = (n * O + oBase + o) * P;
          for (let k0 = 0; k0 < K0; k0++) {
            const s0 = r0[3 * k0],
              a0 = Math.max(ia, r0[3 * k0 + 1]),
              b0 = Math.min(ib, r0[3 * k0 + 2]);
            for (let k1 = 0; k1 < K1; k1++) {
              const s1 = r1[3 * k1], a1 = r1[3 * k1 + 1], b1 = r1[3 * k1 + 2];
              for (let k2 = 0; k2 < K2; k2++, src += nb) {
                const s2 = r2[3 * k2], a2 = r2[3 * k2 + 1], b2 = r2[3 * k2 + 2];
                for (let i0 = a0; i0 < b0; i0++) {
                  const d0 = ob + (i0 * l0 + s0) * O1 * O2, c0 = src + (i0 - ia) * rowIn;
                  for (let i1 = a1; i1 < b1; i1++) {
                    const cs = c0 + i1 * I2;
                    let d = d0 + (i1 * l1 + s1) * O2 + a2 * l2 + s2;
                    if (l2 === 1) {
                      const off = d - a2 - cs;
                      for (let i2 = cs + a2, e = cs + b2; i2 < e; i2++) out[i2 + off] += cols[i2];
                    } else {
                      for (let i2 = a2; i2 < b2; i2++, d += l2) out[d] += cols[cs + i2];
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
