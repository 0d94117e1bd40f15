/**
 * The `outputs` lowering of the native convolution, for few output positions and a long
 * contraction (weight gradients, whose "kernel" is an activation): the kernel is zero-padded onto
 * the padded input grid and each output position is a contraction over (channel, padded
 * position), `[N, C/g · S] · [C/g · S, O/g]`, either one GEMM per position or, with few images,
 * the positions' rows copied into one matrix.
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { chanOf, type Geo, padInput, wide } from "./conv_geo.ts";
import { scratchF32 as scratch } from "./kernels.ts";

/**
 * The `outputs` lowering (see `native/conv.ts`): the kernel placed on the padded input grid,
 * each output position a contraction over (channel, padded position).
 *
 * @param sgemm the GEMM
 * @param g the geometry
 * @param x lhs data `[N, C, ...spatial]` (finite: padding meets the kernel's zeros)
 * @param w rhs data `[O, C/g, ...kernel]`
 * @param out the result, written in full
 */
export function convOutputs(
  sgemm: Sgemm,
  g: Geo,
  x: Float32Array,
  w: Float32Array,
  out: Float32Array,
) {
  const { O, Cg, Og, P, Sp, kS, rd } = g;
  const K2 = kS[2], rd2 = rd[2], rowOff = new Int32Array(kS[0] * kS[1]);
  for (let k0 = 0, r = 0; k0 < kS[0]; k0++) {
    for (let k1 = 0; k1 < kS[1]; k1++) rowOff[r++] = wide(g, k0 * rd[0], k1 * rd[1], 0);
  }
  // the contraction ends at the last channel's last tap: an output position's reads then end
  // within the grid (its window fits), so an unpadded, undilated input is read in place
  const CS = (Cg - 1) * Sp + rowOff[rowOff.length - 1] + (K2 - 1) * rd2 + 1;
  const plain = [0, 1, 2].every((d) => g.lo[d] === 0 && g.hi[d] === 0 && g.ld[d] === 1);
  const xp = plain ? x : padInput(x, g, false, 0);
  // the kernel placed on the padded grid: [O, C/g, Sp] (the kernel itself where it covers the
  // grid exactly, as a pointwise layer's weight gradient's does: one output position)
  const covers = [0, 1, 2].every((d) => kS[d] === g.padS[d] && (kS[d] === 1 || rd[d] === 1));
  const wk = covers ? w : scratch("kernel", O * Cg * Sp, true);
  for (let oc = 0, k = 0; !covers && oc < O * Cg; oc++) {
    for (let r = 0; r < rowOff.length; r++) {
      const d = oc * Sp + rowOff[r];
      for (let k2 = 0; k2 < K2; k2++) wk[d + k2 * rd2] = w[k++];
    }
  }
  const outN = g.outN, tmp = scratch("tmp", P * outN * O, false);
  // few images (M of a GEMM per position): the positions' rows are copied into one matrix;
  // measured on W4's weight gradients, 1 image × 6 channels gains, 6 × 16 loses
  if (outN * 4 > Og) outputsPerPosition(sgemm, g, CS, xp, wk, tmp);
  else outputsRows(sgemm, g, CS, xp, wk, tmp);
  for (let n = 0; n < outN; n++) {
    for (let o = 0; o < O; o++) {
      const d = (n * O + o) * P;
      for (let q = 0; q < P; q++) out[d + q] = tmp[(q * outN + n) * O + o];
    }
  }
}

/** `outputs`: one GEMM `[images, C/g · block] · [C/g · block, O/g]` per output position. */
function outputsPerPosition(
  sgemm: Sgemm,
  g: Geo,
  CS: number,
  xp: Float32Array,
  wk: Float32Array,
  tmp: Float32Array,
): void {
  const { C, O, Cg, Og, Sp, outS, ws } = g;
  const [O0, O1, O2] = outS, outN = g.outN;
  // one GEMM per position, over the contraction in blocks whose kernel slice stays in cache
  // across all output positions (else every position re-reads the kernel from memory)
  const KB = Math.max(1024, Math.floor(65536 / Math.max(Og, outN, 1)));
  for (let kb = 0; kb < CS; kb += KB) {
    const kn = Math.min(KB, CS - kb);
    let y = 0;
    for (let y0 = 0; y0 < O0; y0++) {
      for (let y1 = 0; y1 < O1; y1++) {
        for (let y2 = 0; y2 < O2; y2++, y++) {
          const off = wide(g, y0 * ws[0], y1 * ws[1], y2 * ws[2]);
          for (let grp = 0; grp < g.G; grp++) {
            const img0 = g.bgc > 1 ? grp * g.nPerB : 0, c0 = chanOf(g, grp), oBase = grp * Og;
            sgemm(
              false,
              true,
              outN,
              Og,
              kn,
              1,
              xp.subarray((img0 * C + c0) * Sp + off + kb),
              C * Sp,
              wk.subarray(oBase * Cg * Sp + kb),
              Cg * Sp,
              kb === 0 ? 0 : 1,
              tmp.subarray(y * outN * O + oBase),
              O,
            );
          }
        }
      }
    }
  }
}

/** `outputs`: the positions' rows copied into one matrix, one GEMM per block of them. */
function outputsRows(
  sgemm: Sgemm,
  g: Geo,
  CS: number,
  xp: Float32Array,
  wk: Float32Array,
  tmp: Float32Array,
): void {
  const { C, O, Cg, Og, P, Sp, outS, ws } = g;
  const [O0, O1, O2] = outS, outN = g.outN;
  const offs = new Int32Array(P);
  let y = 0;
  for (let y0 = 0; y0 < O0; y0++) {
    for (let y1 = 0; y1 < O1; y1++) {
      for (let y2 = 0; y2 < O2; y2++) offs[y++] = wide(g, y0 * ws[0], y1 * ws[1], y2 * ws[2]);
    }
  }
  // the rows (output position, image) of a block of positions, copied from the padded input
  // (long contiguous runs) for a slice of the contraction, so that one GEMM with M = positions
  // · images serves them all; the block of rows fills about 1 MiB
  const KB = Math.min(CS, 2048);
  const PB = Math.max(1, Math.min(P, Math.floor(262144 / (KB * outN))));
  const rows = scratch("rows", PB * outN * KB, false);
  for (let pa = 0; pa < P; pa += PB) {
    const pb = Math.min(P, pa + PB), m = (pb - pa) * outN;
    for (let grp = 0; grp < g.G; grp++) {
      const img0 = g.bgc > 1 ? grp * g.nPerB : 0, oBase = grp * Og;
      const src = (img0 * C + chanOf(g, grp)) * Sp;
      for (let kb = 0; kb < CS; kb += KB) {
        const kn = Math.min(KB, CS - kb);
        let r = 0;
        for (let q = pa; q < pb; q++) {
          for (let n = 0; n < outN; n++, r += kn) {
            const s = src + n * C * Sp + offs[q] + kb;
            rows.set(xp.subarray(s, s + kn), r);
          }
        }
        sgemm(
          false,
          true,
          m,
          Og,
          kn,
          1,
          rows,
          kn,
          wk.subarray(oBase * Cg * Sp + kb),
          Cg * Sp,
          kb === 0 ? 0 : 1,
          tmp.subarray(pa * outN * O + oBase),
          O,
        );
      }
    }
  }
}
