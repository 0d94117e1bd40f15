/**
 * `conv_general_dilated`: N-d convolution (1 to 3 spatial dimensions) with window strides,
 * padding, lhs (input) and rhs (kernel) dilation, feature groups and batch groups, in the fixed
 * PyTorch layouts `lhs [N, C, ...spatial]`, `rhs [O, C / featureGroupCount, ...kernel]`,
 * `out [N / batchGroupCount, O, ...spatial']`.
 *
 * Params (plain JSON, read by the WGSL lowering in `gpu/kernels/conv.ts` as `ConvParams`):
 * - `windowStrides: number[]` — stride per spatial dim (≥ 1);
 * - `padding: [lo, hi][]` — zero padding per spatial dim, applied after lhs dilation (may be
 *   negative, which crops);
 * - `lhsDilation: number[]` — input dilation (`lhsDilation − 1` zeros between input elements;
 *   a transposed convolution);
 * - `rhsDilation: number[]` — kernel dilation (atrous convolution);
 * - `featureGroupCount: number` — input channels split into groups, each convolved with its own
 *   slice of `O / featureGroupCount` output channels (depthwise when it equals C);
 * - `batchGroupCount: number` — as XLA: the batch splits into `batchGroupCount` contiguous
 *   groups and output channel group g (of `O / batchGroupCount`) sees batch group g only; the
 *   weight gradient of a grouped convolution uses it.
 *
 * Out spatial size: `floor((dilatedIn + lo + hi − dilatedKernel) / stride) + 1` (0 when the
 * padded input is smaller than the dilated kernel), where `dilatedIn = (in − 1)·lhsDilation + 1`
 * and `dilatedKernel = (k − 1)·rhsDilation + 1`.
 *
 * The rules follow JAX's `jax/_src/lax/convolution.py`: the JVP is bilinear, both transposes
 * are convolutions again (`_conv_general_dilated_transpose_lhs/rhs`, with the layouts made
 * explicit by transposes here since ours are fixed), and the batching rule folds the vmapped
 * axis into the batch or the channel dimensions (`_conv_general_dilated_batch_rule`).
 *
 * @module
 */
import { prod, ShapedArray } from "../aval.ts";
import type { TypedArray } from "../dtype.ts";
import { definePrimitive, type HostArray, type Primitive, UndefinedPrimal } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { add } from "./elementwise.ts";
import { alloc } from "./host.ts";
import { moveaxis, reshape, rev, transpose, zerosLikeT } from "./structural.ts";

/**
 * Parameters of `conv_general_dilated` (a type alias, so that it is assignable to the generic
 * `Params` record).
 */
export type ConvParams = {
  /** Stride per spatial dim. */
  readonly windowStrides: readonly number[];
  /** `[lo, hi]` padding per spatial dim (may be negative). */
  readonly padding: readonly (readonly [number, number])[];
  /** Input (transposed-conv) dilation per spatial dim. */
  readonly lhsDilation: readonly number[];
  /** Kernel (atrous) dilation per spatial dim. */
  readonly rhsDilation: readonly number[];
  /** Feature groups. */
  readonly featureGroupCount: number;
  /** Batch groups. */
  readonly batchGroupCount: number;
};

/** `(d − 1)·f + 1`, the size of a dimension of size d dilated by f (0 stays 0). */
export function dilateDim(d: number, f: number): number {
  return d === 0 ? 0 : (d - 1) * f + 1;
}

/** The output size of a window of `k` (dilated by `kd`) sliding over `n` (dilated by `nd`). */
export function windowOutDim(
  n: number,
  nd: number,
  k: number,
  kd: number,
  lo: number,
  hi: number,
  stride: number,
): number {
  const span = dilateDim(n, nd) + lo + hi - ((k - 1) * kd + 1);
  return span < 0 ? 0 : Math.floor(span / stride) + 1;
}

const isPosInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;

function convAval(l: ShapedArray, r: ShapedArray, p: ConvParams): ShapedArray {
  const bad = (why: string) => new TypeError(`Cannot conv ${l} with ${r}: ${why}`);
  if (l.dtype !== r.dtype) throw bad(`dtypes differ (${l.dtype} vs ${r.dtype})`);
  if (l.dtype === "bool") throw bad("bool operands are not supported");
  if (l.ndim !== r.ndim) {
    throw bad(
      `ranks differ (${l.ndim} vs ${r.ndim}); expected lhs [N, C, ...spatial] and ` +
        `rhs [O, C / featureGroupCount, ...kernel]`,
    );
  }
  if (l.ndim < 3 || l.ndim > 5) {
    throw bad(`expected 1 to 3 spatial dimensions (rank 3 to 5), got rank ${l.ndim}`);
  }
  const nsp = l.ndim - 2;
  const { windowStrides: ws, padding: pad, lhsDilation: ld, rhsDilation: rd } = p;
  const fgc = p.featureGroupCount, bgc = p.batchGroupCount;
  const list = (name: string, v: unknown, ok: (x: unknown) => boolean, what: string) => {
    if (!Array.isArray(v) || v.length !== nsp || !v.every(ok)) {
      throw new RangeError(
        `Cannot conv ${l} with ${r}: ${name} must list ${nsp} ${what} (one per spatial ` +
          `dimension), got ${JSON.stringify(v)}`,
      );
    }
  };
  list("windowStrides", ws, isPosInt, "positive integers");
  list("lhsDilation", ld, isPosInt, "positive integers");
  list("rhsDilation", rd, isPosInt, "positive integers");
  list(
    "padding",
    pad,
    (q) => Array.isArray(q) && q.length === 2 && q.every(Number.isInteger),
    "[lo, hi] integer pairs",
  );
  if (!isPosInt(fgc)) {
    throw new RangeError(
      `Cannot conv ${l} with ${r}: featureGroupCount ${fgc} is not a positive integer`,
    );
  }
  if (!isPosInt(bgc)) {
    throw new RangeError(
      `Cannot conv ${l} with ${r}: batchGroupCount ${bgc} is not a positive integer`,
    );
  }
  const [n, c] = l.shape, [o, cg] = r.shape;
  if (c !== cg * fgc) {
    throw bad(`input channels ${c} do not match kernel channels ${cg} × featureGroupCount ${fgc}`);
  }
  if (o % fgc !== 0) {
    throw bad(`kernel output channels ${o} are not divisible by featureGroupCount ${fgc}`);
  }
  if (fgc > 1 && bgc > 1) {
    throw bad(`featureGroupCount ${fgc} and batchGroupCount ${bgc} cannot both exceed 1`);
  }
  if (n % bgc !== 0) throw bad(`batch size ${n} is not divisible by batchGroupCount ${bgc}`);
  if (o % bgc !== 0) {
    throw bad(`kernel output channels ${o} are not divisible by batchGroupCount ${bgc}`);
  }
  const spatial = l.shape.slice(2).map((d, i) => {
    if (dilateDim(d, ld[i]) + pad[i][0] + pad[i][1] < 0) {
      throw bad(
        `padding [${pad[i]}] crops more than the ${
          dilateDim(d, ld[i])
        } elements of spatial dimension ${i}`,
      );
    }
    return windowOutDim(d, ld[i], r.shape[i + 2], rd[i], pad[i][0], pad[i][1], ws[i]);
  });
  return new ShapedArray([n / bgc, o, ...spatial], l.dtype);
}

/**
 * Per spatial dim, for each (output position, kernel tap): the input index it reads, or −1
 * where it lands in padding or in a hole of the lhs dilation.
 */
function tapTable(
  nIn: number,
  nOut: number,
  k: number,
  stride: number,
  lo: number,
  ld: number,
  rd: number,
): Int32Array {
  const t = new Int32Array(nOut * k);
  for (let y = 0; y < nOut; y++) {
    for (let j = 0; j < k; j++) {
      const pos = y * stride + j * rd - lo;
      const i = pos / ld;
      t[y * k + j] = pos >= 0 && pos % ld === 0 && i < nIn ? i : -1;
    }
  }
  return t;
}

function convImpl([l, r]: HostArray[], p: ConvParams, o: ShapedArray): TypedArray {
  const out = alloc(o);
  const nsp = l.aval.ndim - 2;
  // pad the spatial dims to three (size-1 dims with a single tap) so one loop nest serves all
  const sp = (shape: readonly number[]) => [...shape.slice(2), 1, 1, 1].slice(0, 3);
  const inS = sp(l.aval.shape), kS = sp(r.aval.shape), outS = sp(o.shape);
  const tabs = [0, 1, 2].map((d) =>
    d < nsp
      ? tapTable(
        inS[d],
        outS[d],
        kS[d],
        p.windowStrides[d],
        p.padding[d][0],
        p.lhsDilation[d],
        p.rhsDilation[d],
      )
      : new Int32Array([0])
  );
  const [t0, t1, t2] = tabs;
  const [O0, O1, O2] = outS, [K0, K1, K2] = kS, [, I1, I2] = inS;
  const [N, C] = l.aval.shape, [O, Cg] = r.aval.shape;
  const inSize = prod(inS), kSize = prod(kS), outSize = prod(outS);
  const fgc = p.featureGroupCount, bgc = p.batchGroupCount;
  const oPerF = O / fgc, oPerB = O / bgc, nPerB = N / bgc, outN = o.shape[0];
  const ld = l.data, rd = r.data;
  const acc = new Float64Array(outSize);
  const wrap = o.dtype === "i32"
    ? (v: number) => v | 0
    : o.dtype === "u32"
    ? (v: number) => v >>> 0
    : null;
  for (let n = 0; n < outN; n++) {
    for (let oc = 0; oc < O; oc++) {
      const gF = Math.floor(oc / oPerF), gB = Math.floor(oc / oPerB);
      const nIn = gB * nPerB + n;
      acc.fill(0);
      for (let c = 0; c < Cg; c++) {
        const lBase = (nIn * C + gF * Cg + c) * inSize;
        const rBase = (oc * Cg + c) * kSize;
        for (let k0 = 0; k0 < K0; k0++) {
          for (let k1 = 0; k1 < K1; k1++) {
            for (let k2 = 0; k2 < K2; k2++) {
              const w = rd[rBase + (k0 * K1 + k1) * K2 + k2];
              for (let y0 = 0; y0 < O0; y0++) {
                const i0 = t0[y0 * K0 + k0];
                if (i0 < 0) continue;
                for (let y1 = 0; y1 < O1; y1++) {
                  const i1 = t1[y1 * K1 + k1];
                  if (i1 < 0) continue;
                  const lRow = lBase + (i0 * I1 + i1) * I2, aRow = (y0 * O1 + y1) * O2;
                  for (let y2 = 0; y2 < O2; y2++) {
                    const i2 = t2[y2 * K2 + k2];
                    if (i2 >= 0) acc[aRow + y2] += w * ld[lRow + i2];
                  }
                }
              }
            }
          }
        }
      }
      const base = (n * O + oc) * outSize;
      if (wrap) { for (let i = 0; i < outSize; i++) out[base + i] = wrap(acc[i]); }
      else for (let i = 0; i < outSize; i++) out[base + i] = acc[i];
    }
  }
  return out;
}

// ---------------------------------------------------------------- layout helpers

/** Swaps the two leading axes (N ↔ C of an activation, O ↔ I of a kernel). */
function swap01(x: Tensor): Tensor {
  return transpose(x, [1, 0, ...[...Array(x.ndim - 2).keys()].map((i) => i + 2)]);
}

/**
 * Merges axis `src` into axis `dst` (numbered after `src` is removed), `src` outermost: JAX's
 * `_reshape_axis_into`.
 */
function reshapeAxisInto(src: number, dst: number, x: Tensor): Tensor {
  const perm = [...Array(x.ndim).keys()].filter((i) => i !== src);
  perm.splice(dst, 0, src);
  const shape = x.shape.filter((_, i) => i !== src);
  shape[dst] *= x.shape[src];
  return reshape(transpose(x, perm), shape);
}

/** Splits axis `src` into `[size1, n / size1]`: JAX's `_reshape_axis_out_of`. */
function reshapeAxisOutOf(src: number, size1: number, x: Tensor): Tensor {
  const shape = [...x.shape];
  shape.splice(src, 1, size1, x.shape[src] / size1);
  return reshape(x, shape);
}

/** Padding of the lhs-gradient convolution (JAX's `_conv_general_vjp_lhs_padding`). */
export function vjpLhsPadding(
  inShape: readonly number[],
  window: readonly number[],
  strides: readonly number[],
  outShape: readonly number[],
  padding: readonly (readonly [number, number])[],
  lhsDilation: readonly number[],
  rhsDilation: readonly number[],
): [number, number][] {
  return inShape.map((n, i) => {
    const lhsD = dilateDim(n, lhsDilation[i]), rhsD = dilateDim(window[i], rhsDilation[i]);
    const outD = dilateDim(outShape[i], strides[i]);
    const before = rhsD - padding[i][0] - 1;
    return [before, lhsD + rhsD - 1 - outD - before];
  });
}

/** Padding of the rhs-gradient convolution (JAX's `_conv_general_vjp_rhs_padding`). */
function vjpRhsPadding(
  inShape: readonly number[],
  window: readonly number[],
  strides: readonly number[],
  outShape: readonly number[],
  padding: readonly (readonly [number, number])[],
  lhsDilation: readonly number[],
  rhsDilation: readonly number[],
): [number, number][] {
  return inShape.map((n, i) => {
    const lhsD = dilateDim(n, lhsDilation[i]), rhsD = dilateDim(window[i], rhsDilation[i]);
    const outD = dilateDim(outShape[i], strides[i]);
    const lo = padding[i][0];
    return [lo, outD - lhsD + (rhsD - lo - 1)];
  });
}

const spatialOf = (s: readonly number[]): number[] => s.slice(2);

// ---------------------------------------------------------------- transposes

/**
 * Cotangent of lhs: a convolution of the output cotangent with the spatially reversed kernel,
 * its in/out channels swapped (and the groups moved onto the new output channels), lhs
 * dilation = the forward strides, strides = the forward lhs dilation.
 */
function transposeLhs(ct: Tensor, rhs: Tensor, lhsAval: ShapedArray, p: ConvParams): Tensor {
  const fgc = p.featureGroupCount, bgc = p.batchGroupCount;
  const g = fgc > 1 ? fgc : bgc;
  let w = rhs; // [O, Cg, ...k]
  if (g > 1) w = reshapeAxisInto(0, 1, reshapeAxisOutOf(0, g, w)); // [O/g, g·Cg, ...k]
  const nsp = lhsAval.ndim - 2;
  w = rev(swap01(w), [...Array(nsp).keys()].map((i) => i + 2)); // [g·Cg, O/g, ...k] reversed
  const padding = vjpLhsPadding(
    spatialOf(lhsAval.shape),
    spatialOf(rhs.shape),
    p.windowStrides,
    spatialOf(ct.shape),
    p.padding,
    p.lhsDilation,
    p.rhsDilation,
  );
  let out = convGeneralDilatedPrim(ct, w, {
    windowStrides: p.lhsDilation,
    padding,
    lhsDilation: p.windowStrides,
    rhsDilation: p.rhsDilation,
    featureGroupCount: g,
    batchGroupCount: 1,
  });
  if (bgc > 1) out = reshapeAxisInto(1, 0, reshapeAxisOutOf(1, bgc, out)); // [N/b, b·C] → [N, C]
  return out;
}

/**
 * Cotangent of rhs: a convolution of lhs (N and C swapped) with the output cotangent (N and O
 * swapped) as the kernel; feature groups become batch groups and vice versa.
 */
function transposeRhs(ct: Tensor, lhs: Tensor, rhsAval: ShapedArray, p: ConvParams): Tensor {
  if (ct.size === 0) return zerosLikeT(rhsAval);
  const fgc = p.featureGroupCount, bgc = p.batchGroupCount;
  const padding = vjpRhsPadding(
    spatialOf(lhs.shape),
    spatialOf(rhsAval.shape),
    p.windowStrides,
    spatialOf(ct.shape),
    p.padding,
    p.lhsDilation,
    p.rhsDilation,
  );
  const out = convGeneralDilatedPrim(swap01(lhs), swap01(ct), {
    windowStrides: p.rhsDilation,
    padding,
    lhsDilation: p.lhsDilation,
    rhsDilation: p.windowStrides,
    featureGroupCount: bgc > 1 ? bgc : 1,
    batchGroupCount: bgc > 1 ? 1 : fgc,
  }); // [Cg, O, ...k]
  return swap01(out);
}

// ---------------------------------------------------------------- batching

function batchRule(
  [lhs, rhs]: Tensor[],
  [dl, dr]: (number | null)[],
  q: ConvParams,
): [Tensor[], (number | null)[]] {
  const fgc = q.featureGroupCount, bgc = q.batchGroupCount;
  const conv = (l: Tensor, r: Tensor, over: Partial<ConvParams> = {}) =>
    convGeneralDilatedPrim(l, r, { ...q, ...over });
  if (dl !== null && dr !== null) {
    const l = moveaxis(lhs, dl, 0), r = moveaxis(rhs, dr, 0);
    const b = l.shape[0];
    // the vmapped axis becomes extra groups: of the batch when batch-grouped, else of features
    const out = bgc > 1
      ? conv(reshapeAxisInto(0, 0, l), reshapeAxisInto(0, 0, r), { batchGroupCount: bgc * b })
      : conv(reshapeAxisInto(0, 1, l), reshapeAxisInto(0, 0, r), { featureGroupCount: fgc * b });
    return [[reshapeAxisOutOf(1, b, out)], [1]];
  }
  if (dl !== null) {
    const l = moveaxis(lhs, dl, 0);
    const b = l.shape[0];
    if (bgc === 1) return [[reshapeAxisOutOf(0, b, conv(reshapeAxisInto(0, 0, l), rhs))], [0]];
    // keep the batch groups outermost: [b, N] → [bgc, b, N/bgc] → [bgc·b·N/bgc]
    let nl = reshapeAxisOutOf(1, bgc, l); // [b, bgc, N/bgc, ...]
    nl = reshapeAxisInto(0, 1, nl); // [bgc, b·N/bgc, ...]
    nl = reshapeAxisInto(0, 0, nl);
    return [[reshapeAxisOutOf(0, b, conv(nl, rhs))], [0]];
  }
  const r = moveaxis(rhs, dr!, 0);
  const b = r.shape[0];
  if (fgc === 1 && bgc === 1) {
    return [[reshapeAxisOutOf(1, b, conv(lhs, reshapeAxisInto(0, 0, r)))], [1]];
  }
  // groups must stay outermost in O: [b, O] → [g, b·O/g]; the output is unshuffled likewise
  const g = fgc > 1 ? fgc : bgc;
  let nr = reshapeAxisOutOf(1, g, r); // [b, g, O/g, ...]
  nr = reshapeAxisInto(0, 1, nr); // [g, b·O/g, ...]
  nr = reshapeAxisInto(0, 0, nr);
  let out = reshapeAxisOutOf(1, g, conv(lhs, nr)); // [N', g, b·O/g, ...]
  out = reshapeAxisOutOf(2, b, out); // [N', g, b, O/g, ...]
  out = reshapeAxisInto(1, 2, out); // [N', b, g·O/g, ...]
  return [[out], [1]];
}

// ---------------------------------------------------------------- the primitive

export const conv_general_dilated_p: Primitive<ConvParams> = definePrimitive<ConvParams>(
  "conv_general_dilated",
  {
    params: {
      windowStrides: "required",
      padding: "required",
      lhsDilation: "required",
      rhsDilation: "required",
      featureGroupCount: "required",
      batchGroupCount: "required",
    },
    abstractEval([l, r], p) {
      return [convAval(l, r, p)];
    },
    impl([l, r], p, [o]) {
      return [convImpl([l, r], p, o)];
    },
    // bilinear: d conv(l, r) = conv(dl, r) + conv(l, dr); symbolic zeros skip a term, so
    // differentiating only the kernel (the usual training step) costs no extra forward conv
    symbolicZeros: true,
    jvp([l, r], [tl, tr]: (Tensor | null)[], q) {
      const y = convGeneralDilatedPrim(l, r, q);
      const a = tl ? convGeneralDilatedPrim(tl, r, q) : null;
      const b = tr ? convGeneralDilatedPrim(l, tr, q) : null;
      return [[y], [a && b ? add(a, b) : a ?? b]];
    },
    transpose([ct], [l, r], q) {
      if (!ct) return [null, null];
      const lu = l instanceof UndefinedPrimal, ru = r instanceof UndefinedPrimal;
      if (lu && ru) {
        throw new Error("internal: conv_general_dilated transpose with both operands linear");
      }
      return [
        lu ? transposeLhs(ct, r as Tensor, l.aval, q) : null,
        ru ? transposeRhs(ct, l as Tensor, r.aval, q) : null,
      ];
    },
    batch: batchRule,
  },
);

/** Binds `conv_general_dilated` with complete, explicit params (no defaults, no "SAME"). */
export function convGeneralDilatedPrim(lhs: Tensor, rhs: Tensor, p: ConvParams): Tensor {
  return bind1(conv_general_dilated_p, [lhs, rhs], {
    windowStrides: [...p.windowStrides],
    padding: p.padding.map(([lo, hi]): [number, number] => [lo, hi]),
    lhsDilation: [...p.lhsDilation],
    rhsDilation: [...p.rhsDilation],
    featureGroupCount: p.featureGroupCount,
    batchGroupCount: p.batchGroupCount,
  });
}
