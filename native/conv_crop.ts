/**
 * Kernel taps that only ever meet padding: on a small image a padded convolution's outer taps
 * read nothing but the padding (ResNet-18 on 28×28 inputs runs its last stage's 3×3 convs on
 * 1×1 images: 8 of 9 taps see only zeros). {@link cropTaps} drops them — a smaller kernel and
 * less padding, every output reading the same input positions with the same weights — so the
 * GEMMs shrink with them (9× on a 1×1 image).
 *
 * @module
 */
import type { ConvParamsLike } from "./conv_geo.ts";

/** A convolution's kernel and params after {@link cropTaps}. */
export interface Cropped<P extends ConvParamsLike> {
  /** The kept taps of the kernel, `[O, Cg, ...k']`. */
  readonly r: Float32Array;
  /** Its shape. */
  readonly rShape: readonly number[];
  /** The params with the padding that keeps each output's input positions. */
  readonly p: P;
}

/**
 * Per spatial dim, the first and last tap that reads an input element for some output
 * position; null when every tap does (nothing to crop) or a dim has none.
 */
function _usefulTaps(
  lShape: readonly number[],
  rShape: readonly number[],
  oShape: readonly number[],
  p: ConvParamsLike,
): [number, number][] | null {
  const nsp = lShape.length - 2;
  const range: [number, number][] = [];
  let crops = false;
  for (let d = 0; d < nsp; d++) {
    const n = lShape[d + 2], k = rShape[d + 2], on = oShape[d + 2];
    const s = p.windowStrides[d], ld = p.lhsDilation[d], rd = p.rhsDilation[d];
    const lo = p.padding[d][0];
    let j0 = -1, j1 = -1;
    for (let j = 0; j < k; j++) {
      for (let y = 0; y < on; y++) {
        const pos = y * s + j * rd - lo;
        if (pos >= 0 && pos % ld === 0 && pos / ld < n) {
          if (j0 < 0) j0 = j;
          j1 = j;
          break;
        }
      }
    }
    if (j0 < 0) return null;
    if (j0 > 0 || j1 < k - 1) crops = true;
    range.push([j0, j1]);
  }
  return crops ? range : null;
}

/**
 * The convolution without the kernel taps that only meet padding, or null when there are none
 * (or the new high padding would be negative).
 *
 * @param l_shape the input's shape `[N, C, ...spatial]`
 * @param r the kernel `[O, Cg, ...k]`
 * @param rShape its shape
 * @param oShape the output's shape
 * @param p the params
 * @returns the cropped kernel and params, or null
 */
export function cropTaps<P extends ConvParamsLike>(
  lShape: readonly number[],
  r: Float32Array,
  rShape: readonly number[],
  oShape: readonly number[],
  p: P,
): Cropped<P> | null {
  if (lShape.length < 3) return null;
  const range = _usefulTaps(lShape, rShape, oShape, p);
  if (!range) return null;
  const padding: [number, number][] = [];
  for (let d = 0; d < range.length; d++) {
    const [j0, j1] = range[d], rd = p.rhsDilation[d];
    const n = lShape[d + 2], dilIn = n === 0 ? 0 : (n - 1) * p.lhsDilation[d] + 1;
    const lo = p.padding[d][0] - j0 * rd, dk = (j1 - j0) * rd + 1;
    // the high padding that keeps the output's extent
    const hi = (oShape[d + 2] - 1) * p.windowStrides[d] + dk - dilIn - lo;
    if (hi < 0 || lo < 0) return null;
    padding.push([lo, hi]);
  }
  const rShape2 = [rShape[0], rShape[1], ...range.map(([a, b]) => b - a + 1)];
  const r2 = new Float32Array(rShape2.reduce((a, b) => a * b, 1));
  if (range.length <= 3) {
    _copyKept(r, rShape, range, r2);
    return { r: r2, rShape: rShape2, p: { ...p, padding } };
  }
  // copy the kept taps: every (o, c) and every index of the cropped spatial dims
  const nd = rShape.length;
  const strides = new Array<number>(nd);
  strides[nd - 1] = 1;
  for (let d = nd - 2; d >= 0; d--) strides[d] = strides[d + 1] * rShape[d + 1];
  const idx = new Array<number>(nd).fill(0);
  const last = nd - 1, run = rShape2[last], first = range[last - 2][0];
  for (let o = 0; o < r2.length; o += run) {
    let src = first;
    for (let d = 0; d < last; d++) src += (idx[d] + (d >= 2 ? range[d - 2][0] : 0)) * strides[d];
    r2.set(r.subarray(src, src + run), o);
    for (let d = last - 1; d >= 0; d--) {
      if (++idx[d] < rShape2[d]) break;
      idx[d] = 0;
    }
  }
  return { r: r2, rShape: rShape2, p: { ...p, padding } };
}

/**
 * The kept taps of a kernel with up to three spatial dims, copied by plain nested loops (the
 * general odometer above cost 33 ms for ResNet-18's 512×512×3×3 kernels cropped to 1×1).
 */
function _copyKept(
  r: Float32Array,
  rShape: readonly number[],
  range: readonly (readonly [number, number])[],
  r2: Float32Array,
): void {
  const pad = <T>(v: readonly T[], fill: T) => [fill, fill, fill, ...v].slice(-3);
  const [, K1, K2] = pad(rShape.slice(2), 1);
  const [[a0, a1], [b0, b1], [c0, c1]] = pad(range, [0, 0] as const);
  const K = rShape.slice(2).reduce((a, b) => a * b, 1), rows = rShape[0] * rShape[1];
  let o = 0;
  for (let oc = 0; oc < rows; oc++) {
    for (let a = a0; a <= a1; a++) {
      for (let b = b0; b <= b1; b++) {
        const s = oc * K + (a * K1 + b) * K2;
        for (let c = c0; c <= c1; c++) r2[o++] = r[s + c];
      }
    }
  }
}
