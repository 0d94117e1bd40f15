/**
 * The `classes` lowering of the native convolution, for small feature maps: the output
 * positions are grouped by the set of kernel taps that read an input element (on a 2×2 map
 * with a 3×3 kernel and padding 1 each of the 4 positions has its own 4 taps; on a 7×7 map the
 * 25 inner positions share all 9), and each class is one GEMM over every image at once,
 * `[O/g, C/g · taps] · [C/g · taps, images · positions]`. No product meets padding, and the
 * GEMM's columns span the batch, where the per-image lowerings multiply the whole kernel by a
 * handful of columns (ResNet-18's last stages at 28×28 input: 4, 1 and 16 positions per image).
 *
 * @module
 */
import type { Sgemm } from "./blas.ts";
import { chanOf, type Geo, imageOf } from "./conv_geo.ts";
import { scratchF32 as scratch } from "./kernels.ts";

/** Outputs of one spatial dim that read the same taps. */
interface DimClass {
  /** The taps, ascending. */
  readonly taps: number[];
  /** The output indices. */
  readonly ys: number[];
  /** Per output (in `ys` order), per tap: the input index. */
  readonly idx: number[][];
}

/** One dim's outputs grouped by the taps that read an input element (taps that meet none out). */
function dimClasses(
  outS: number,
  k: number,
  inS: number,
  ws: number,
  rd: number,
  lo: number,
  ld: number,
): DimClass[] {
  const byKey = new Map<string, DimClass>();
  for (let y = 0; y < outS; y++) {
    const taps: number[] = [], idx: number[] = [];
    for (let j = 0; j < k; j++) {
      const pos = y * ws + j * rd - lo, i = pos / ld;
      if (pos >= 0 && pos % ld === 0 && i < inS) {
        taps.push(j);
        idx.push(i);
      }
    }
    const key = taps.join();
    let c = byKey.get(key);
    if (!c) byKey.set(key, c = { taps, ys: [], idx: [] });
    c.ys.push(y);
    c.idx.push(idx);
  }
  return [...byKey.values()];
}

/** A class of output positions: its taps (flat kernel indices) and positions (flat). */
interface PosClass {
  /** Flat kernel index of each tap. */
  readonly taps: Int32Array;
  /** Flat output index of each position. */
  readonly pos: Int32Array;
  /** Input offset (flat spatial) of tap `t` at position `q`: `offs[t · positions + q]`. */
  readonly offs: Int32Array;
}

/**
 * The position classes of a convolution: the products of each dim's classes.
 *
 * @param g the geometry
 * @returns the classes (positions that no tap reads are in a class without taps)
 */
export function positionClasses(g: Geo): PosClass[] {
  const { inS, kS, outS } = g;
  const dims = [0, 1, 2].map((d) =>
    dimClasses(outS[d], kS[d], inS[d], g.ws[d], g.rd[d], g.lo[d], g.ld[d])
  );
  const out: PosClass[] = [];
  for (const a of dims[0]) {
    for (const b of dims[1]) {
      for (const c of dims[2]) {
        const Kv = a.taps.length * b.taps.length * c.taps.length;
        const Pc = a.ys.length * b.ys.length * c.ys.length;
        const taps = new Int32Array(Kv), pos = new Int32Array(Pc);
        const offs = new Int32Array(Kv * Pc);
        let t = 0;
        for (let ja = 0; ja < a.taps.length; ja++) {
          for (let jb = 0; jb < b.taps.length; jb++) {
            for (let jc = 0; jc < c.taps.length; jc++, t++) {
              taps[t] = (a.taps[ja] * kS[1] + b.taps[jb]) * kS[2] + c.taps[jc];
              let q = 0;
              for (let ya = 0; ya < a.ys.length; ya++) {
                for (let yb = 0; yb < b.ys.length; yb++) {
                  for (let yc = 0; yc < c.ys.length; yc++, q++) {
                    if (t === 0) pos[q] = (a.ys[ya] * outS[1] + b.ys[yb]) * outS[2] + c.ys[yc];
                    offs[t * Pc + q] = (a.idx[ya][ja] * inS[1] + b.idx[yb][jb]) * inS[2] +
                      c.idx[yc][jc];
                  }
                }
              }
            }
          }
        }
        if (Kv === 0) {
          let q = 0;
          for (const ya of a.ys) {
            for (const yb of b.ys) {
              for (const yc of c.ys) pos[q++] = (ya * outS[1] + yb) * outS[2] + yc;
            }
          }
        }
        out.push({ taps, pos, offs });
      }
    }
  }
  return out;
}

/**
 * What the cost estimate in `native/conv.ts` needs: the (tap, output position) pairs that read
 * an input element, the position classes, and the taps summed over the classes (the kernel
 * columns the GEMMs read).
 *
 * @param g the geometry
 * @returns the counts
 */
export function classStats(g: Geo): { pairs: number; classes: number; kernelTaps: number } {
  let pairs = 1, classes = 1, kernelTaps = 1;
  for (let d = 0; d < 3; d++) {
    const cs = dimClasses(g.outS[d], g.kS[d], g.inS[d], g.ws[d], g.rd[d], g.lo[d], g.ld[d]);
    pairs *= cs.reduce((s, c) => s + c.taps.length * c.ys.length, 0);
    kernelTaps *= cs.reduce((s, c) => s + c.taps.length, 0);
    classes *= cs.length;
  }
  return { pairs, classes, kernelTaps };
}

/** Elements of one gathered column block (4 MiB of f32). */
const BLOCK = 1 << 20;

/**
 * The `classes` lowering (see `native/conv.ts`): per group and class of output positions, the
 * kernel's taps of the class as `[O/g, C/g · taps]` times the patches of blocks of images
 * `[C/g · taps, images · positions]`, scattered into the output.
 *
 * @param sgemm the GEMM
 * @param g the geometry
 * @param x lhs data `[N, C, ...spatial]`
 * @param w rhs data `[O, C/g, ...kernel]`
 * @param out the result, written in full
 */
export function convClasses(
  sgemm: Sgemm,
  g: Geo,
  x: Float32Array,
  w: Float32Array,
  out: Float32Array,
): void {
  const { O, Cg, Og, K, P, outN } = g;
  const inSize = g.inS[0] * g.inS[1] * g.inS[2];
  for (const cls of positionClasses(g)) {
    const Kv = cls.taps.length, Pc = cls.pos.length, CK = Cg * Kv;
    if (Kv === 0) {
      for (let n = 0; n < outN; n++) {
        for (let o = 0; o < O; o++) {
          const d = (n * O + o) * P;
          for (let q = 0; q < Pc; q++) out[d + cls.pos[q]] = 0;
        }
      }
      continue;
    }
    const nb = Math.max(1, Math.min(outN, Math.floor(BLOCK / (CK * Pc))));
    const wc = scratch("classW", Og * CK, false);
    const col = scratch("classCol", CK * nb * Pc, false);
    const y = scratch("classY", Og * nb * Pc, false);
    for (let grp = 0; grp < g.G; grp++) {
      const c0 = chanOf(g, grp), oBase = grp * Og;
      for (let o = 0, d = 0; o < Og; o++) {
        for (let c = 0; c < Cg; c++) {
          const s = ((oBase + o) * Cg + c) * K;
          for (let t = 0; t < Kv; t++) wc[d++] = w[s + cls.taps[t]];
        }
      }
      for (let n0 = 0; n0 < outN; n0 += nb) {
        const n1 = Math.min(outN, n0 + nb), cols = (n1 - n0) * Pc;
        gatherClass(g, x, cls, grp, n0, n1, c0, inSize, col);
        sgemm(false, false, Og, cols, CK, 1, wc, CK, col, cols, 0, y, cols);
        // image by image, so that the writes stay within the image's block of the output
        for (let n = n0; n < n1; n++) {
          for (let o = 0, s = (n - n0) * Pc; o < Og; o++, s += cols) {
            const d = (n * O + oBase + o) * P;
            for (let q = 0; q < Pc; q++) out[d + cls.pos[q]] = y[s + q];
          }
        }
      }
    }
  }
}

/**
 * The patches of images `[n0, n1)` for one class: rows (channel, tap), columns (image,
 * position), written in order; a channel's reads stay within its planes of the block's images.
 */
function gatherClass(
  g: Geo,
  x: Float32Array,
  cls: PosClass,
  grp: number,
  n0: number,
  n1: number,
  c0: number,
  inSize: number,
  col: Float32Array,
): void {
  const { C, Cg } = g, Kv = cls.taps.length, Pc = cls.pos.length, offs = cls.offs;
  let k = 0;
  for (let c = 0; c < Cg; c++) {
    for (let t = 0; t < Kv; t++) {
      const ot = t * Pc;
      for (let n = n0; n < n1; n++) {
        const s = (imageOf(g, n, grp) * C + c0 + c) * inSize;
        if (Pc === 1) col[k++] = x[s + offs[ot]];
        else for (let q = 0; q < Pc; q++) col[k++] = x[s + offs[ot + q]];
      }
    }
  }
}
