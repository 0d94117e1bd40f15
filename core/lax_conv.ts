/**
 * Convolution and pooling at the lax level: `convGeneralDilated`, `conv`, `convTranspose`,
 * `reduceWindow`, `maxPool`, `avgPool`. Layouts are PyTorch's and fixed: activations
 * `[N, C, ...spatial]`, kernels `[O, C / groups, ...kernel]`. Operands need equal dtypes (no
 * promotion at this level).
 *
 * @module
 */
import { type DType, isFloat } from "./dtype.ts";
import { convGeneralDilatedPrim, type ConvParams, dilateDim } from "./prims/conv.ts";
import { convert, div } from "./prims/elementwise.ts";
import { broadcastInDim, constant, full, reshape, rev, transpose } from "./prims/structural.ts";
import { reduceWindowPrim, type WindowOp, type WindowParams } from "./prims/window.ts";
import type { Tensor } from "./tensor.ts";
import { checkArity, checkOptions, fmtValue } from "./validate.ts";

export type { WindowOp };

/**
 * Padding of a windowed op: `"VALID"` (none), `"SAME"` (output size `ceil(in / stride)`, the
 * odd element of padding at the end, as JAX/TensorFlow), or explicit `[lo, hi]` per spatial
 * dimension (negative values crop).
 */
export type Padding = "SAME" | "VALID" | readonly (readonly [number, number])[];

/** Options of {@linkcode convGeneralDilated}. */
export interface ConvOptions {
  /** Stride per spatial dimension (default 1). */
  windowStrides?: readonly number[];
  /** Padding (default `"VALID"`). */
  padding?: Padding;
  /** Input dilation per spatial dimension: a transposed ("fractionally strided") conv. */
  lhsDilation?: readonly number[];
  /** Kernel dilation per spatial dimension (atrous convolution). */
  rhsDilation?: readonly number[];
  /** Groups of input channels (default 1; C for a depthwise convolution). */
  featureGroupCount?: number;
  /** Groups of the batch, as XLA (default 1; the weight gradient of grouped convs uses it). */
  batchGroupCount?: number;
}

const CONVT_OPTS: ReadonlySet<string> = new Set([
  "strides",
  "padding",
  "rhsDilation",
  "transposeKernel",
  "featureGroupCount",
]);
const RW_OPTS: ReadonlySet<string> = new Set([
  "windowDimensions",
  "windowStrides",
  "padding",
  "baseDilation",
  "windowDilation",
]);
const POOL_OPTS: ReadonlySet<string> = new Set(["kernelSize", "strides", "padding", "dilation"]);
const AVGPOOL_OPTS: ReadonlySet<string> = new Set([...POOL_OPTS, "countIncludePad"]);

/** Explicit `[lo, hi]` pads for "SAME"/"VALID" (JAX's `padtype_to_pads`). */
function padtypeToPads(
  inShape: readonly number[],
  window: readonly number[],
  strides: readonly number[],
  padding: Padding,
  op: string,
): [number, number][] {
  if (padding === "VALID") return inShape.map(() => [0, 0]);
  if (padding === "SAME") {
    return inShape.map((n, i) => {
      const out = Math.ceil(n / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + window[i] - n);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
  }
  if (!Array.isArray(padding)) {
    throw new TypeError(
      `${op}: padding must be "SAME", "VALID" or [lo, hi] pairs, got ${JSON.stringify(padding)}`,
    );
  }
  return padding.map((q) => [q[0], q[1]]);
}

const ones = (n: number): number[] => new Array(n).fill(1);

function spatialRank(op: string, x: Tensor, min = 3): number {
  if (x.ndim < min || x.ndim > 5) {
    throw new TypeError(
      `${op}: expected [N, C, ...spatial] with 1 to 3 spatial dimensions, got ${x.aval}`,
    );
  }
  return x.ndim - 2;
}

/**
 * General N-d convolution (1 to 3 spatial dimensions), XLA's ConvGeneralDilated in PyTorch's
 * layouts: cross-correlation as in every deep-learning library (the kernel is not flipped).
 *
 * `out[n, o, y] = Σ_{c, k} lhs_padded_dilated[g_b·N' + n, g_f·C_g + c, y·stride + k·rhsDilation]
 * · rhs[o, c, k]`, where `g_f`/`g_b` are the feature/batch groups of output channel o.
 *
 * @param lhs the input, `[N, C, ...spatial]`
 * @param rhs the kernel, `[O, C / featureGroupCount, ...kernel]`
 * @param opts strides, padding, dilations and group counts
 * @returns `[N / batchGroupCount, O, ...spatial']`, with spatial' =
 *   `floor((dilatedIn + lo + hi − dilatedKernel) / stride) + 1`
 * @throws TypeError when ranks, dtypes or channel counts disagree, e.g. `Cannot conv
 *   f32[1,3,8,8] with f32[2,4,3,3]: input channels 3 do not match kernel channels 4 ×
 *   featureGroupCount 1`; RangeError for malformed strides, dilations or padding
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const x = np.array([[[1, 2, 3, 4]]]);           // [N=1, C=1, W=4]
 * const w = np.array([[[1, 0, -1]]]);             // [O=1, I=1, K=3]
 * const y = lax.convGeneralDilated(x, w, { padding: "SAME" });
 * console.log(await y.toArray()); // [[[-2, -2, -2, 3]]]
 * const err = await y.sub([[[-2, -2, -2, 3]]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function convGeneralDilated(lhs: Tensor, rhs: Tensor, opts?: ConvOptions): Tensor;
/**
 * JAX's positional form, `lax.conv_general_dilated(lhs, rhs, window_strides, padding,
 * lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count, batch_group_count)`;
 * `dimensionNumbers` must be null (the layouts are `NC...`/`OI...`).
 *
 * @param lhs the input, `[N, C, ...spatial]`
 * @param rhs the kernel, `[O, C / featureGroupCount, ...kernel]`
 * @param windowStrides stride per spatial dimension
 * @param padding `"SAME"`, `"VALID"` or `[lo, hi]` pairs
 * @returns `[N / batchGroupCount, O, ...spatial']`
 */
export function convGeneralDilated(
  lhs: Tensor,
  rhs: Tensor,
  windowStrides: readonly number[],
  padding: Padding,
  lhsDilation?: readonly number[] | null,
  rhsDilation?: readonly number[] | null,
  dimensionNumbers?: null,
  featureGroupCount?: number,
  batchGroupCount?: number,
): Tensor;
export function convGeneralDilated(lhs: Tensor, rhs: Tensor, ...rest: unknown[]): Tensor {
  const opts = convArgs(rest);
  const nsp = spatialRank("convGeneralDilated", lhs);
  const windowStrides = opts.windowStrides ?? ones(nsp);
  const lhsDilation = opts.lhsDilation ?? ones(nsp);
  const rhsDilation = opts.rhsDilation ?? ones(nsp);
  const pad = opts.padding ?? "VALID";
  if (pad === "SAME" && lhsDilation.some((d) => d !== 1)) {
    throw new TypeError(
      `convGeneralDilated: "SAME" padding is not defined with lhsDilation [${lhsDilation}]` +
        `\nhelp: give explicit [lo, hi] pairs, or use lax.convTranspose`,
    );
  }
  const kernel = rhs.shape.slice(2).map((k, i) => dilateDim(k, rhsDilation[i] ?? 1));
  const params: ConvParams = {
    windowStrides,
    padding: padtypeToPads(lhs.shape.slice(2), kernel, windowStrides, pad, "convGeneralDilated"),
    lhsDilation,
    rhsDilation,
    featureGroupCount: opts.featureGroupCount ?? 1,
    batchGroupCount: opts.batchGroupCount ?? 1,
  };
  return convGeneralDilatedPrim(lhs, rhs, params);
}

const CONV_OPTS: ReadonlySet<string> = new Set([
  "windowStrides",
  "padding",
  "lhsDilation",
  "rhsDilation",
  "featureGroupCount",
  "batchGroupCount",
]);

/** The options of either calling form of convGeneralDilated. */
function convArgs(rest: unknown[]): ConvOptions {
  const op = "convGeneralDilated";
  if (rest.length === 0) return {};
  if (rest.length === 1 && !Array.isArray(rest[0])) {
    checkOptions(op, rest[0], CONV_OPTS);
    return (rest[0] ?? {}) as ConvOptions;
  }
  // JAX's positional form: window_strides, padding, lhs_dilation, rhs_dilation,
  // dimension_numbers, feature_group_count, batch_group_count
  checkArity(op, rest.length + 2, 9);
  const [windowStrides, padding, lhsDilation, rhsDilation, dn, fgc, bgc] = rest;
  if (dn !== undefined && dn !== null) {
    throw new TypeError(
      `${op}: dimensionNumbers ${fmtValue(dn)} are not supported: the layouts are ` +
        `[N, C, ...spatial] and [O, I, ...kernel]\nhelp: transpose to these layouts and pass null`,
    );
  }
  const o: Record<string, unknown> = { windowStrides, padding, lhsDilation, rhsDilation };
  o.featureGroupCount = fgc;
  o.batchGroupCount = bgc;
  for (const k in o) if (o[k] === undefined || o[k] === null) delete o[k];
  return o as ConvOptions;
}

/**
 * Convolution with strides and padding only, as `jax.lax.conv` (layouts `NC...`/`OI...`).
 *
 * @param lhs the input, `[N, C, ...spatial]`
 * @param rhs the kernel, `[O, C, ...kernel]`
 * @param windowStrides stride per spatial dimension
 * @param padding `"SAME"`, `"VALID"` or `[lo, hi]` pairs (default `"VALID"`)
 * @returns `[N, O, ...spatial']`
 * @throws TypeError as {@linkcode convGeneralDilated}
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const x = np.ones([1, 1, 4, 4]), w = np.ones([1, 1, 2, 2]);
 * const y = lax.conv(x, w, [2, 2], "VALID");
 * console.log(await y.toArray()); // [[[[4, 4], [4, 4]]]]
 * const err = await y.sub([[[[4, 4], [4, 4]]]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function conv(
  lhs: Tensor,
  rhs: Tensor,
  windowStrides: readonly number[],
  padding: Padding = "VALID",
): Tensor {
  checkArity("conv", arguments.length, 4);
  return convGeneralDilated(lhs, rhs, { windowStrides, padding });
}

/** Options of {@linkcode convTranspose}. */
export interface ConvTransposeOptions {
  /** The fractional stride (the lhs dilation) per spatial dimension. */
  strides: readonly number[];
  /**
   * `"SAME"`/`"VALID"` name the padding of the forward convolution this one inverts (as
   * `jax.lax.conv_transpose`: out = in·stride for "SAME"); explicit `[lo, hi]` pairs pad the
   * stride-dilated input directly (JAX's default, `use_consistent_padding=False`).
   */
  padding: Padding;
  /** Kernel dilation per spatial dimension. */
  rhsDilation?: readonly number[];
  /**
   * Flip the kernel spatially and swap its in/out channels, so that a forward convolution's
   * kernel (or a PyTorch `ConvTranspose` weight) gives the gradient of that convolution.
   */
  transposeKernel?: boolean;
  /** Groups of input channels (default 1). */
  featureGroupCount?: number;
}

/** JAX's `_conv_transpose_padding` for one dimension. */
function convTransposePadding(k: number, s: number, padding: "SAME" | "VALID"): [number, number] {
  let padLen: number, a: number;
  if (padding === "SAME") {
    padLen = k + s - 2;
    a = s > k - 1 ? k - 1 : Math.ceil(padLen / 2);
  } else {
    padLen = k + s - 2 + Math.max(k - s, 0);
    a = k - 1;
  }
  return [a, padLen - a];
}

/**
 * Transposed ("fractionally strided", "deconvolution") convolution, as `jax.lax.conv_transpose`
 * in the layouts `NC...`/`OI...`: a convolution of the input dilated by `strides`.
 *
 * PyTorch: `F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d,
 * groups=g)`, whose weight has the layout `[in, out / groups, kh, kw]` (the kernel of the
 * forward convolution it is the gradient of), equals
 * `convTranspose(x, w, { strides: [s, s], padding: [[a, a + op], [a, a + op]], rhsDilation:
 * [d, d], featureGroupCount: g, transposeKernel: true })` with `a = d·(k − 1) − p`: the kernel
 * is flipped, its two channel axes swapped per group (`[g, in/g, out/g, ...] → [g, out/g, in/g,
 * ...]`), and the output size is `(in − 1)·s − 2p + d·(k − 1) + op + 1`.
 *
 * @param lhs the input, `[N, C, ...spatial]`
 * @param rhs the kernel, `[O, C / groups, ...kernel]`; with `transposeKernel`,
 *   `[C, O / groups, ...kernel]` (a forward conv's kernel, or a PyTorch ConvTranspose weight)
 * @param opts strides, padding, dilation, groups
 * @returns `[N, O, ...spatial']`
 * @throws TypeError as {@linkcode convGeneralDilated}
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const x = np.array([[[1, 2]]]);                  // [1, 1, 2]
 * const w = np.array([[[1, 1, 1]]]);               // [1, 1, 3]
 * const y = lax.convTranspose(x, w, { strides: [2], padding: "VALID" });
 * console.log(await y.toArray()); // [[[1, 1, 3, 2, 2]]]
 * const err = await y.sub([[[1, 1, 3, 2, 2]]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function convTranspose(lhs: Tensor, rhs: Tensor, opts: ConvTransposeOptions): Tensor {
  checkArity("convTranspose", arguments.length, 3);
  checkOptions("convTranspose", opts, CONVT_OPTS);
  const nsp = spatialRank("convTranspose", lhs);
  const rhsDilation = opts.rhsDilation ?? ones(nsp);
  const g = opts.featureGroupCount ?? 1;
  let w = rhs;
  if (opts.transposeKernel) {
    spatialRank("convTranspose", rhs);
    const [ci, co] = rhs.shape, ks = rhs.shape.slice(2);
    const sp = ks.map((_, i) => i + 3);
    if (ci % g !== 0) {
      throw new TypeError(
        `convTranspose: kernel ${rhs.aval} has ${ci} input channels, not divisible by ` +
          `featureGroupCount ${g}`,
      );
    }
    // [g·in/g, out/g, k] → [g, out/g, in/g, k] → [out, in/g, k], flipped
    w = reshape(rhs, [g, ci / g, co, ...ks]);
    w = transpose(w, [0, 2, 1, ...sp]);
    w = rev(reshape(w, [g * co, ci / g, ...ks]), ks.map((_, i) => i + 2));
  }
  const padding = typeof opts.padding === "string"
    ? w.shape.slice(2).map((k, i) =>
      convTransposePadding(dilateDim(k, rhsDilation[i]), opts.strides[i], opts.padding as "SAME")
    )
    : padtypeToPads([], [], [], opts.padding, "convTranspose");
  return convGeneralDilatedPrim(lhs, w, {
    windowStrides: ones(nsp),
    padding,
    lhsDilation: opts.strides,
    rhsDilation,
    featureGroupCount: g,
    batchGroupCount: 1,
  });
}

// ---------------------------------------------------------------- windows

/** Options of {@linkcode reduceWindow}. */
export interface ReduceWindowOptions {
  /** Window size per dimension of the operand (every dimension; use 1 to skip one). */
  windowDimensions: readonly number[];
  /** Stride per dimension (default 1). */
  windowStrides?: readonly number[];
  /** Padding (default `"VALID"`); padded elements are the op's identity. */
  padding?: Padding;
  /** Operand dilation per dimension (default 1). */
  baseDilation?: readonly number[];
  /** Window dilation per dimension (default 1). */
  windowDilation?: readonly number[];
}

/**
 * Reduces sliding windows over every dimension with a sum, max or min (XLA's ReduceWindow with
 * the op's identity as the initial value: 0, −∞, +∞). `"SAME"` padding uses the dilated window
 * and operand sizes (JAX uses the plain sizes; they agree without dilation).
 *
 * @param x the operand (f32, i32 or u32)
 * @param op `"sum"`, `"max"` or `"min"`
 * @param opts window, strides, padding and dilations, one entry per dimension of `x`
 * @returns the reduced windows, one dimension per operand dimension
 * @throws TypeError for bool operands or unknown ops; RangeError for malformed options
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]]);
 * const y = lax.reduceWindow(x, "max", { windowDimensions: [2, 2], windowStrides: [2, 2] });
 * console.log(await y.toArray()); // [[6, 8]]
 * const err = await y.sub([[6, 8]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function reduceWindow(x: Tensor, op: WindowOp, opts: ReduceWindowOptions): Tensor {
  checkArity("reduceWindow", arguments.length, 3);
  checkOptions("reduceWindow", opts, RW_OPTS);
  const nd = x.ndim;
  const windowStrides = opts.windowStrides ?? ones(nd);
  const baseDilation = opts.baseDilation ?? ones(nd);
  const windowDilation = opts.windowDilation ?? ones(nd);
  const pad = opts.padding ?? "VALID";
  const padding = typeof pad === "string"
    ? padtypeToPads(
      x.shape.map((n, i) => dilateDim(n, baseDilation[i] ?? 1)),
      opts.windowDimensions.map((k, i) => dilateDim(k, windowDilation[i] ?? 1)),
      windowStrides,
      pad,
      "reduceWindow",
    )
    : padtypeToPads([], [], [], pad, "reduceWindow");
  const p: WindowParams = {
    op,
    windowDimensions: opts.windowDimensions,
    windowStrides,
    padding,
    baseDilation,
    windowDilation,
  };
  return reduceWindowPrim(x, p);
}

/** Options of {@linkcode maxPool} and {@linkcode avgPool}. */
export interface PoolOptions {
  /** Window size over the trailing spatial dimensions (a number repeats over them). */
  kernelSize: number | readonly number[];
  /** Stride per spatial dimension; defaults to `kernelSize` as in PyTorch. */
  strides?: number | readonly number[];
  /**
   * A number or one number per spatial dimension pads both sides (PyTorch); or `"SAME"`,
   * `"VALID"`, or `[lo, hi]` pairs. Default 0.
   */
  padding?: number | readonly number[] | Padding;
  /** Window dilation per spatial dimension (max pooling only; default 1). */
  dilation?: number | readonly number[];
}

/** Options of {@linkcode avgPool}. */
export interface AvgPoolOptions extends PoolOptions {
  /** Count padded zeros in the divisor (default true, as PyTorch; false divides by the number of real elements). */
  countIncludePad?: boolean;
}

function poolSpatial(
  op: string,
  x: Tensor,
  opts: PoolOptions,
): { k: number; params: WindowParams } {
  const kernel = typeof opts.kernelSize === "number" ? null : [...opts.kernelSize];
  const k = kernel?.length ?? Math.max(1, x.ndim - 2);
  if (k < 1 || k > x.ndim) {
    throw new TypeError(`${op}: kernelSize [${kernel}] has more dimensions than ${x.aval}`);
  }
  const per = (
    v: number | readonly number[] | undefined,
    dflt: number[],
    name: string,
  ): number[] => {
    if (v === undefined) return dflt;
    const a = typeof v === "number" ? new Array(k).fill(v) : [...v];
    if (a.length !== k) {
      throw new RangeError(`${op}: ${name} [${a}] needs ${k} entries, one per spatial dimension`);
    }
    return a;
  };
  const window = kernel ?? new Array(k).fill(opts.kernelSize);
  const strides = per(opts.strides, window, "strides");
  const dilation = per(opts.dilation, ones(k), "dilation");
  const sp = x.shape.slice(x.ndim - k);
  let padding: [number, number][];
  const pad = opts.padding ?? 0;
  if (typeof pad === "number" || (Array.isArray(pad) && pad.every((v) => typeof v === "number"))) {
    padding = per(pad as number | number[], [], "padding").map((v) => [v, v]);
  } else {
    padding = padtypeToPads(
      sp,
      window.map((w, i) => dilateDim(w, dilation[i])),
      strides,
      pad as Padding,
      op,
    );
    if (padding.length !== k) {
      throw new RangeError(`${op}: padding needs ${k} [lo, hi] pairs, one per spatial dimension`);
    }
  }
  const lead = x.ndim - k;
  const pre = (v: number[], fill: number) => [...new Array(lead).fill(fill), ...v];
  return {
    k,
    params: {
      op: "max",
      windowDimensions: pre(window, 1),
      windowStrides: pre(strides, 1),
      padding: [...new Array(lead).fill([0, 0]), ...padding],
      baseDilation: ones(x.ndim),
      windowDilation: pre(dilation, 1),
    },
  };
}

/**
 * Max pooling over the trailing spatial dimensions (`[N, C, ...spatial]` or `[C, ...spatial]`),
 * as PyTorch's `MaxPool1d/2d/3d` without `ceil_mode`: strides default to the kernel size and
 * padding holds −∞. The gradient flows to the first maximum of each window.
 *
 * @param x the input, `[..., ...spatial]`
 * @param opts kernel size, strides, padding, dilation
 * @returns the pooled input
 * @throws TypeError/RangeError for malformed options
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const x = np.arange(16).reshape([1, 1, 4, 4]);
 * const y = lax.maxPool(x, { kernelSize: 2 });
 * console.log(await y.toArray()); // [[[[5, 7], [13, 15]]]]
 * const err = await y.sub([[[[5, 7], [13, 15]]]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function maxPool(x: Tensor, opts: PoolOptions): Tensor {
  checkArity("maxPool", arguments.length, 2);
  checkOptions("maxPool", opts, POOL_OPTS);
  const { params } = poolSpatial("maxPool", x, opts);
  return reduceWindowPrim(x, params);
}

/**
 * Average pooling over the trailing spatial dimensions, as PyTorch's `AvgPool1d/2d/3d` without
 * `ceil_mode`: strides default to the kernel size and, with `countIncludePad` (the default),
 * padded zeros count in the divisor. Integer inputs are converted to f32.
 *
 * @param x the input, `[..., ...spatial]`
 * @param opts kernel size, strides, padding, countIncludePad
 * @returns the pooled input (f32)
 * @throws TypeError/RangeError for malformed options, or when `dilation` is given
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const x = np.array([[[1, 2, 3, 4]]]);
 * const y = lax.avgPool(x, { kernelSize: 2 });
 * console.log(await y.toArray()); // [[[1.5, 3.5]]]
 * const err = await y.sub([[[1.5, 3.5]]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * console.log(await lax.avgPool(x, { kernelSize: 2, padding: 1, countIncludePad: false }).toArray());
 * // [[[1, 2.5, 4]]]
 * ```
 */
export function avgPool(x: Tensor, opts: AvgPoolOptions): Tensor {
  checkArity("avgPool", arguments.length, 2);
  checkOptions("avgPool", opts, AVGPOOL_OPTS);
  if (opts.dilation !== undefined) {
    throw new TypeError("avgPool: dilation is not supported (PyTorch's AvgPool has none either)");
  }
  const { k, params } = poolSpatial("avgPool", x, opts);
  const xf = isFloat(x.dtype) ? x : convert(x, "f32" as DType);
  const s = reduceWindowPrim(xf, { ...params, op: "sum" });
  const lead = x.ndim - k;
  const window = params.windowDimensions.slice(lead);
  if (opts.countIncludePad ?? true) {
    return div(s, full(s.shape, window.reduce((a, b) => a * b, 1), s.dtype));
  }
  // the divisor: real (unpadded) elements per window, a host-computed constant
  const outSp = s.shape.slice(lead);
  const perDim = outSp.map((n, d) => {
    const size = x.shape[lead + d];
    const stride = params.windowStrides[lead + d], lo = params.padding[lead + d][0];
    return Array.from({ length: n }, (_, y) => {
      const first = y * stride - lo;
      return Math.max(0, Math.min(size, first + window[d]) - Math.max(0, first));
    });
  });
  const count = new Float32Array(outSp.reduce((a, b) => a * b, 1));
  count.forEach((_, flat) => {
    let rem = flat, c = 1;
    for (let d = outSp.length - 1; d >= 0; d--) {
      c *= perDim[d][rem % outSp[d]];
      rem = Math.floor(rem / outSp[d]);
    }
    count[flat] = c;
  });
  const counts = constant(count, outSp, s.dtype);
  return div(s, broadcastInDim(counts, s.shape, outSp.map((_, d) => lead + d)));
}
