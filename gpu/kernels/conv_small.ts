/**
 * The small form of the texture convolutions (`conv_texture.ts`, `conv_phase_texture.ts`): a
 * convolution of fewer than {@link SMALL_CONV_MACS} multiply-adds takes register tiles of at
 * most 6 × 4 (sliding multiply) or 4 × 4 (plain multiply) outputs per invocation, whose WGSL
 * llvmpipe compiles in about half the time of the large tiles (12 × 8 accumulators, 20-36
 * unrolled texture loads), for a running time a little longer: on a software adapter a
 * convolution that small costs more to compile at a network's first step than it costs to
 * run in many later ones (as `genericWork` decides for elementwise kernels).
 *
 * Small convolutions also share pipelines across layers (`gpu/jit/share.ts` shares kernels
 * that differ in literals only): with at least {@link SMALL_SHARE_CG4} channel quads, the plain
 * multiply steps its kernel position's row and column instead of dividing by the kernel width
 * in its loop (a divisor there is never hoisted), the sliding multiply loops over its kernel
 * columns instead of unrolling them (the width becomes a loop bound), and their textures are
 * sized off the powers of two ({@link smallConvTexture}). GoogLeNet's first step at batch 8
 * created 137 pipelines before, 125 with the small form.
 *
 * @module
 */
import { envVar } from "../device.ts";
import type { TextureGemmTiles } from "./gemm_texture.ts";

/**
 * Convolutions of fewer multiply-adds than this (`G · M · Og · Cg · kernel positions`; the
 * `DENAX_SMALL_CONV_MACS` environment variable overrides it, 0 turns the small form off) take
 * the small tiles ({@link smallConvTiles}, {@link SMALL_SLIDE_TM}). Measured on llvmpipe
 * (2026-12-07, `bench/conv_tile_cost.ts`, process CPU time to compile, GPU time per dispatch
 * of GoogLeNet's and DenseNet's convolutions at batch 8): the sliding multiply at 6 × 4
 * instead of 12 × 8 compiled in 46-68 instead of 100-165 ms and ran 0.5-1.2 ms longer
 * (3-6 ms per dispatch below the limit); above it a convolution runs 10-60 ms, where a fourth
 * slower is several ms per step. GoogLeNet's first step (batch 8, empty caches) created 125
 * pipelines at this limit, 117 at 2^26 (its later steps' convolutions of 37-64 M multiply-adds
 * then ran ~1.2 ms, 30-40%, slower each), 134 at 2^24; DenseNet's dense layers at 12 × 12 span
 * 32-64 M, so one of them leaves their shared pipeline at this limit.
 */
export const SMALL_CONV_MACS: number = 2 ** 25;

let _limit: number | undefined;

/**
 * The limit {@link smallConv} applies: {@link setSmallConvMacs}'s, else
 * `DENAX_SMALL_CONV_MACS`, else {@link SMALL_CONV_MACS}.
 *
 * @returns Multiply-adds.
 */
export function smallConvMacs(): number {
  if (_limit === undefined) {
    const n = Number(envVar("DENAX_SMALL_CONV_MACS") ?? NaN);
    _limit = Number.isFinite(n) && n >= 0 ? n : SMALL_CONV_MACS;
  }
  return _limit;
}

/**
 * Sets {@link smallConvMacs} for this process (tests pin either form with it; denax's program
 * cache keys on it); `null` rereads the environment.
 *
 * @param macs Multiply-adds, or null.
 */
export function setSmallConvMacs(macs: number | null): void {
  _limit = macs ?? undefined;
}

/**
 * Runs `fn` with {@link smallConvMacs} at `macs`, then puts the limit back as it was (the jit's
 * first tier compiles every convolution in the small form: `gpu/jit/tier.ts`).
 *
 * @param macs Multiply-adds.
 * @param fn What to run.
 * @returns What `fn` returns.
 */
export function withSmallConvMacs<T>(macs: number, fn: () => T): T {
  const prev = _limit;
  _limit = macs;
  try {
    return fn();
  } finally {
    _limit = prev;
  }
}

/**
 * Whether a convolution is small enough for the small form.
 *
 * @param macs Its multiply-adds.
 * @returns Whether they are under {@link smallConvMacs}.
 */
export function smallConv(macs: number): boolean {
  return macs < smallConvMacs();
}

/**
 * Output positions per invocation (at most) of a small convolution's sliding multiply, with 4
 * features (6 `vec4` accumulators against 24): see {@link SMALL_CONV_MACS}.
 */
export const SMALL_SLIDE_TM = 6;

/**
 * The plain multiply's tiles for a small convolution: `textureTiles`' (its 4 × 4, or 12 rows
 * against a narrow N, or 8 × 8) capped at 4 rows and 4 columns (8 for an N of 5-8: one tile of
 * the group's features), the workgroup as tall as the tiles need and as wide, rounded up to a
 * power of two (at most 8 × 8: workgroup sizes are literals, and each one a pipeline).
 *
 * @param tl The tiles `textureTiles` chose.
 * @param M Rows.
 * @param N Columns (features of a group).
 * @returns The small tiles.
 */
export function smallConvTiles(tl: TextureGemmTiles, M: number, N: number): TextureGemmTiles {
  const TM = Math.min(tl.TM, 4), TN = Math.min(tl.TN, N > 4 && N <= 8 ? 8 : 4);
  // a power of two along features: fewer workgroup shapes, each a pipeline of its own
  const WX = Math.min(8, 2 ** Math.ceil(Math.log2(Math.ceil(N / TN))));
  return {
    TM,
    TN,
    WX,
    WY: Math.max(1, Math.min(8, Math.ceil(M / TM))),
  };
}

/**
 * A small convolution's texture, its width and height off the powers of two (one texel more
 * where one is, within the device's limit; the extra column or row is never read): llvmpipe
 * compiles a kernel once more for each kind of texture bound (a width or height a power of two
 * or not, one layer or more; see `gpu/jit/share.ts`), so small convolutions that differ in
 * sizes alone share their pipelines (multiply and packing) only over textures of one kind.
 * GoogLeNet's step at batch 8 split its texture multiplies' 28 templates into 62 pipelines, of
 * which ~20 by texture kinds alone.
 *
 * @param t The texture as the plan sizes it.
 * @param lim The device's texture limits.
 * @returns The texture, with a width and height that are not powers of two where they fit.
 */
export function smallConvTexture<T extends { readonly width: number; readonly height: number }>(
  t: T,
  lim: { readonly maxTextureDimension2D: number },
): T {
  const off = (n: number) => {
    if ((n & (n - 1)) !== 0) return n;
    const m = n === 1 ? 3 : n + 1;
    return m <= lim.maxTextureDimension2D ? m : n;
  };
  return { ...t, width: off(t.width), height: off(t.height) };
}

/**
 * Channel quads per kernel position from which a small convolution's multiply is made to share
 * its pipeline with other kernel widths and texture sizes ({@link smallConvShared}). Below, the
 * kernel gradients of a batch of 8 (2 quads: the batch is their contraction's channels): shared
 * with the other layers' (kernel position stepped, textures off the powers of two), ResNet-18's
 * 64-feature kernel gradients ran ~1.9× slower on llvmpipe (7.8 → 14.6 ms per dispatch), with
 * their channel loop written out as well, and not for their textures off the powers of two
 * (alone, as fast); unsettled, most likely their loop over 49 kernel positions, a short body
 * whose bounds a shared source reads from the uniform, which the compiler no longer unrolls.
 */
export const SMALL_SHARE_CG4 = 4;

/**
 * Whether a convolution takes the forms that let small convolutions share one pipeline: its
 * kernel position's row and column stepped instead of divided out in the loop, and textures
 * of one kind ({@link smallConvTexture}).
 *
 * @param small Whether the convolution is small ({@link smallConv}).
 * @param Cg4 Its channel quads per group.
 * @returns Whether it is small with at least {@link SMALL_SHARE_CG4} channel quads.
 */
export function smallConvShared(small: boolean, Cg4: number): boolean {
  return small && Cg4 >= SMALL_SHARE_CG4;
}
