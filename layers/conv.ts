/**
 * Convolution and pooling layers in PyTorch's layouts (NCHW activations, OIHW kernels):
 * `conv1d`, `conv2d`, `convTranspose2d`, `maxPool1d`, `maxPool2d`, `avgPool1d`, `avgPool2d`,
 * `adaptiveAvgPool2d`, `globalAvgPool`.
 *
 * Every layer accepts any number of leading batch dimensions before `[C, ...spatial]`,
 * including none (one example, e.g. under `vmap`). They are built on `lax.convGeneralDilated`
 * and `lax.reduceWindow`, so they differentiate, batch and jit like any other op.
 *
 * @module
 */
import { checkOptions } from "../core/validate.ts";
import { convGeneralDilated, convTranspose, type Padding, reduceWindow } from "../core/lax_conv.ts";
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Initializer } from "./init.ts";
import type { Layer } from "./layer.ts";
import type { NoParams } from "./linear.ts";
import { _checkTrailing, _fanInUniform, _float, _splitKeys, _torchDefaultInit } from "./_util.ts";

/** A size per spatial dimension, or one number for all of them. */
export type SizeArg = number | readonly number[];

/**
 * Padding of a convolution, as PyTorch's `padding`: a number or one number per spatial dim
 * (both sides), `"valid"` (none), `"same"` (output size = input size at stride 1), or
 * explicit `[lo, hi]` pairs per spatial dim.
 */
export type ConvPadding = SizeArg | "same" | "valid" | readonly (readonly [number, number])[];

/** Parameters of a convolution: `weight` and (unless `bias: false`) `bias` f32[out]. */
export interface ConvParams {
  /** f32[out, in / groups, ...kernel] (convTranspose: f32[in, out / groups, ...kernel]). */
  weight: Tensor;
  /** f32[out]. */
  bias?: Tensor;
}

// ---------------------------------------------------------------- helpers

function _tuple(op: string, name: string, v: SizeArg, n: number): number[] {
  const a = typeof v === "number" ? new Array(n).fill(v) : [...v];
  if (a.length !== n || !a.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new RangeError(
      `${op}: ${name} must be an integer or ${n} integers, got ${JSON.stringify(v)}`,
    );
  }
  return a;
}

const _prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Runs `f` on `x` reshaped to exactly one batch dim, then restores the leading dims. */
function _withOneBatchDim(x: Tensor, nTrailing: number, f: (x: Tensor) => Tensor): Tensor {
  const lead = x.shape.slice(0, x.ndim - nTrailing);
  const x4 = np.reshape(x, [_prod(lead), ...x.shape.slice(lead.length)]);
  const y = f(x4);
  return np.reshape(y, [...lead, ...y.shape.slice(1)]);
}

function _spatialNames(n: number): string[] {
  return n === 1 ? ["L"] : n === 2 ? ["H", "W"] : ["D", "H", "W"];
}

function _addBias(y: Tensor, bias: Tensor | undefined, nsp: number): Tensor {
  return bias ? y.add(np.reshape(bias, [bias.shape[0], ...new Array(nsp).fill(1)])) : y;
}

// ---------------------------------------------------------------- convolution

/** Config of {@link conv1d} and {@link conv2d}. */
export interface ConvConfig {
  /** Input channels C. */
  inChannels: number;
  /** Output channels O. */
  outChannels: number;
  /** Kernel size per spatial dim. */
  kernelSize: SizeArg;
  /** Stride per spatial dim (default 1). */
  stride?: SizeArg;
  /** Padding (default 0). */
  padding?: ConvPadding;
  /** Kernel dilation per spatial dim (default 1). */
  dilation?: SizeArg;
  /** Groups: both C and O must be divisible by it (default 1; C for depthwise). */
  groups?: number;
  /** Whether to add a learned bias (default true). */
  bias?: boolean;
  /** Initializer of `weight` (default PyTorch's, `U(−1/√fanIn, 1/√fanIn)`). */
  weightInit?: Initializer;
  /** Initializer of `bias` [out] (default PyTorch's, `U(−1/√fanIn, 1/√fanIn)`). */
  biasInit?: Initializer;
}

function _convPadding(op: string, p: ConvPadding, nsp: number): Padding {
  if (typeof p === "string") {
    const u = p.toUpperCase();
    if (u !== "SAME" && u !== "VALID") {
      throw new RangeError(
        `${op}: padding must be "same", "valid", numbers or [lo, hi] pairs, got "${p}"`,
      );
    }
    return u as Padding;
  }
  if (Array.isArray(p) && p.length > 0 && Array.isArray(p[0])) {
    const pairs = p as readonly (readonly [number, number])[];
    if (pairs.length !== nsp || !pairs.every((q) => q.length === 2 && q.every(Number.isInteger))) {
      throw new RangeError(
        `${op}: padding needs ${nsp} [lo, hi] integer pairs, got ${JSON.stringify(p)}`,
      );
    }
    return pairs.map(([lo, hi]) => [lo, hi] as [number, number]);
  }
  return _tuple(op, "padding", p as SizeArg, nsp).map((v) => [v, v] as [number, number]);
}

/** Weight and bias from the config's initializers or PyTorch's defaults. */
function _initConv(
  key: Tensor,
  c: { weightInit?: Initializer; biasInit?: Initializer; bias?: boolean },
  wshape: number[],
  cout: number,
  fanIn: number,
): ConvParams {
  const [kw, kb] = _splitKeys(key, 2);
  const weight = (c.weightInit ?? _torchDefaultInit)(kw, wshape);
  if (!(c.bias ?? true)) return { weight };
  return { weight, bias: c.biasInit ? c.biasInit(kb, [cout]) : _fanInUniform(kb, [cout], fanIn) };
}

function _conv(nsp: number, config: ConvConfig): Layer<ConvParams> {
  const { inChannels: cin, outChannels: cout } = config;
  const op = `conv${nsp}d`;
  const groups = config.groups ?? 1;
  const kernel = _tuple(op, "kernelSize", config.kernelSize, nsp);
  const stride = _tuple(op, "stride", config.stride ?? 1, nsp);
  const dilation = _tuple(op, "dilation", config.dilation ?? 1, nsp);
  const padding = _convPadding(op, config.padding ?? 0, nsp);
  if (!(Number.isInteger(groups) && groups >= 1 && cin % groups === 0 && cout % groups === 0)) {
    throw new RangeError(
      `${op}: groups ${groups} must divide inChannels ${cin} and outChannels ${cout}`,
    );
  }
  if (kernel.some((k) => k < 1) || stride.some((s) => s < 1) || dilation.some((d) => d < 1)) {
    throw new RangeError(`${op}: kernelSize, stride and dilation must be positive`);
  }
  const name = `Conv${nsp}d(${cin} → ${cout}, kernel [${kernel}])`;
  const fanIn = (cin / groups) * _prod(kernel);
  return {
    name,
    init: (key: Tensor): ConvParams =>
      _initConv(key, config, [cout, cin / groups, ...kernel], cout, fanIn),
    apply(params: ConvParams, x: Tensor): Tensor {
      _checkTrailing(name, x, [cin, ..._spatialNames(nsp)]);
      return _withOneBatchDim(_float(x), nsp + 1, (x4) => {
        const y = convGeneralDilated(x4, params.weight, {
          windowStrides: stride,
          padding,
          rhsDilation: dilation,
          featureGroupCount: groups,
        });
        return _addBias(y, params.bias, nsp);
      });
    },
  };
}

const _CONV1D_KEYS: ReadonlySet<string> = new Set([
  "inChannels",
  "outChannels",
  "kernelSize",
  "stride",
  "padding",
  "dilation",
  "groups",
  "bias",
  "weightInit",
  "biasInit",
]);

/**
 * 1-d convolution, PyTorch's `nn.Conv1d` (cross-correlation):
 * `y[n, o, l] = b[o] + Σ_{c ∈ group(o), k} W[o, c, k] · x_pad[n, c, l·stride + k·dilation]`.
 *
 * Input f32[..., C, L] (any leading dims, including none), output f32[..., O, L'] with
 * `L' = floor((L + lo + hi − dilation·(k − 1) − 1) / stride) + 1`. Params
 * `{ weight: [O, C / groups, k], bias: [O] }`, initialized as PyTorch:
 * `U(−1/√fanIn, 1/√fanIn)` with `fanIn = C / groups · k` (`kaimingUniform({ a: √5 })` for the
 * weight), unless `weightInit`/`biasInit` are given.
 *
 * Padding as PyTorch (a number, `"same"`, `"valid"`) or explicit `[lo, hi]` pairs; `"same"`
 * puts the odd element of padding at the end, as PyTorch, and also works with strides > 1,
 * where it gives `ceil(L / stride)` outputs as JAX/TensorFlow (PyTorch refuses that case).
 *
 * @param config `{ inChannels, outChannels, kernelSize, stride = 1, padding = 0,
 *   dilation = 1, groups = 1, bias = true, weightInit, biasInit }`.
 * @returns The layer.
 * @throws {RangeError} For malformed sizes, or groups that do not divide the channels.
 * @throws {TypeError} From `apply`, when the input is not [..., C, L].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { conv1d } from "@denax/denax/nn";
 *
 * const conv = conv1d({ inChannels: 2, outChannels: 4, kernelSize: 3, padding: "same" });
 * const y = conv.apply(conv.init(random.key(0)), np.ones([8, 2, 10]));
 * console.log(String(y)); // Tensor(f32[8,4,10])
 * if (String(y) !== "Tensor(f32[8,4,10])") throw new Error(`got ${y}`);
 * ```
 */
export function conv1d(config: ConvConfig): Layer<ConvParams> {
  checkOptions("nn.conv1d", config, _CONV1D_KEYS);
  return _conv(1, config);
}

const _CONV2D_KEYS: ReadonlySet<string> = new Set([
  "inChannels",
  "outChannels",
  "kernelSize",
  "stride",
  "padding",
  "dilation",
  "groups",
  "bias",
  "weightInit",
  "biasInit",
]);

/**
 * 2-d convolution, PyTorch's `nn.Conv2d` (cross-correlation):
 * `y[n, o, i, j] = b[o] + Σ_{c ∈ group(o), p, q} W[o, c, p, q] ·
 * x_pad[n, g(o)·C/groups + c, i·sh + p·dh, j·sw + q·dw]`.
 *
 * Input f32[..., C, H, W] (NCHW with any leading dims, including none), output
 * f32[..., O, H', W'] with `H' = floor((H + lo + hi − dh·(kh − 1) − 1) / sh) + 1`. Params
 * `{ weight: [O, C / groups, kh, kw], bias: [O] }`, initialized as PyTorch:
 * `U(−1/√fanIn, 1/√fanIn)` with `fanIn = C / groups · kh · kw`. Padding as {@link conv1d}.
 *
 * @param config `{ inChannels, outChannels, kernelSize, stride = 1, padding = 0,
 *   dilation = 1, groups = 1, bias = true, weightInit, biasInit }`.
 * @returns The layer.
 * @throws {RangeError} For malformed sizes, or groups that do not divide the channels.
 * @throws {TypeError} From `apply`, when the input is not [..., C, H, W].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { conv2d } from "@denax/denax/nn";
 *
 * const conv = conv2d({ inChannels: 3, outChannels: 8, kernelSize: 3, stride: 2, padding: 1 });
 * const y = conv.apply(conv.init(random.key(0)), np.ones([4, 3, 32, 32]));
 * console.log(String(y)); // Tensor(f32[4,8,16,16])
 * if (String(y) !== "Tensor(f32[4,8,16,16])") throw new Error(`got ${y}`);
 * ```
 */
export function conv2d(config: ConvConfig): Layer<ConvParams> {
  checkOptions("nn.conv2d", config, _CONV2D_KEYS);
  return _conv(2, config);
}

/** Config of {@link convTranspose2d}. */
export interface ConvTransposeConfig {
  /** Input channels C. */
  inChannels: number;
  /** Output channels O. */
  outChannels: number;
  /** Kernel size per spatial dim. */
  kernelSize: SizeArg;
  /** Stride per spatial dim (default 1). */
  stride?: SizeArg;
  /** Implicit padding removed from both sides of the output, `dilation·(k − 1) − padding` pads the input (default 0). */
  padding?: SizeArg;
  /** Extra size added to one side of the output (default 0; less than stride or dilation). */
  outputPadding?: SizeArg;
  /** Kernel dilation per spatial dim (default 1). */
  dilation?: SizeArg;
  /** Groups (default 1). */
  groups?: number;
  /** Whether to add a learned bias (default true). */
  bias?: boolean;
  /** Initializer of `weight` (default PyTorch's, `U(−1/√fanIn, 1/√fanIn)`). */
  weightInit?: Initializer;
  /** Initializer of `bias` [out] (default PyTorch's, `U(−1/√fanIn, 1/√fanIn)`). */
  biasInit?: Initializer;
}

const _CONVTRANSPOSE2D_KEYS: ReadonlySet<string> = new Set([
  "inChannels",
  "outChannels",
  "kernelSize",
  "stride",
  "padding",
  "outputPadding",
  "dilation",
  "groups",
  "bias",
  "weightInit",
  "biasInit",
]);

/**
 * 2-d transposed convolution ("deconvolution"), PyTorch's `nn.ConvTranspose2d`: the gradient
 * of a `conv2d` with the same stride/padding/dilation with respect to its input.
 *
 * Input f32[..., C, H, W], output f32[..., O, H', W'] with
 * `H' = (H − 1)·sh − 2·ph + dh·(kh − 1) + oph + 1`. Params in PyTorch's layout
 * `{ weight: [C, O / groups, kh, kw], bias: [O] }`, initialized as PyTorch (which computes the
 * fan-in from the weight's second axis): `U(−1/√fanIn, 1/√fanIn)`, `fanIn = O / groups · kh · kw`.
 * Computed as a convolution of the stride-dilated input, padded by `dh·(kh − 1) − ph` (plus
 * `oph` at the end), with the flipped, channel-swapped kernel.
 *
 * @param config `{ inChannels, outChannels, kernelSize, stride = 1, padding = 0,
 *   outputPadding = 0, dilation = 1, groups = 1, bias = true, weightInit, biasInit }`.
 * @returns The layer.
 * @throws {RangeError} For malformed sizes, `outputPadding ≥ max(stride, dilation)`, or groups
 *   that do not divide the channels.
 * @throws {TypeError} From `apply`, when the input is not [..., C, H, W].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { convTranspose2d } from "@denax/denax/nn";
 *
 * const up = convTranspose2d({
 *   inChannels: 8, outChannels: 3, kernelSize: 3, stride: 2, padding: 1, outputPadding: 1,
 * });
 * const y = up.apply(up.init(random.key(0)), np.ones([4, 8, 16, 16]));
 * console.log(String(y)); // Tensor(f32[4,3,32,32])
 * if (String(y) !== "Tensor(f32[4,3,32,32])") throw new Error(`got ${y}`);
 * ```
 */
export function convTranspose2d(config: ConvTransposeConfig): Layer<ConvParams> {
  checkOptions("nn.convTranspose2d", config, _CONVTRANSPOSE2D_KEYS);
  const nsp = 2, op = "convTranspose2d";
  const { inChannels: cin, outChannels: cout } = config;
  const groups = config.groups ?? 1;
  const kernel = _tuple(op, "kernelSize", config.kernelSize, nsp);
  const stride = _tuple(op, "stride", config.stride ?? 1, nsp);
  const dilation = _tuple(op, "dilation", config.dilation ?? 1, nsp);
  const pad = _tuple(op, "padding", config.padding ?? 0, nsp);
  const outPad = _tuple(op, "outputPadding", config.outputPadding ?? 0, nsp);
  if (!(Number.isInteger(groups) && groups >= 1 && cin % groups === 0 && cout % groups === 0)) {
    throw new RangeError(
      `${op}: groups ${groups} must divide inChannels ${cin} and outChannels ${cout}`,
    );
  }
  if (kernel.some((k) => k < 1) || stride.some((s) => s < 1) || dilation.some((d) => d < 1)) {
    throw new RangeError(`${op}: kernelSize, stride and dilation must be positive`);
  }
  if (outPad.some((o, i) => o >= Math.max(stride[i], dilation[i]))) {
    throw new RangeError(
      `${op}: outputPadding [${outPad}] must be smaller than either stride [${stride}] or ` +
        `dilation [${dilation}]`,
    );
  }
  const name = `ConvTranspose2d(${cin} → ${cout}, kernel [${kernel}])`;
  const fanIn = (cout / groups) * _prod(kernel);
  const padding = kernel.map((k, i) => {
    const a = dilation[i] * (k - 1) - pad[i];
    return [a, a + outPad[i]] as [number, number];
  });
  return {
    name,
    init: (key: Tensor): ConvParams =>
      _initConv(key, config, [cin, cout / groups, ...kernel], cout, fanIn),
    apply(params: ConvParams, x: Tensor): Tensor {
      _checkTrailing(name, x, [cin, "H", "W"]);
      return _withOneBatchDim(_float(x), nsp + 1, (x4) => {
        const y = convTranspose(x4, params.weight, {
          strides: stride,
          padding,
          rhsDilation: dilation,
          featureGroupCount: groups,
          transposeKernel: true,
        });
        return _addBias(y, params.bias, nsp);
      });
    },
  };
}

// ---------------------------------------------------------------- pooling

/** Config of the max pooling layers. */
export interface MaxPoolConfig {
  /** Window size per spatial dim. */
  kernelSize: SizeArg;
  /** Stride per spatial dim (default: `kernelSize`, as PyTorch). */
  stride?: SizeArg;
  /** Implicit −∞ padding on both sides (default 0; at most half the dilated window). */
  padding?: SizeArg;
  /** Window dilation (default 1). */
  dilation?: SizeArg;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
}

/** Config of the average pooling layers. */
export interface AvgPoolConfig {
  /** Window size per spatial dim. */
  kernelSize: SizeArg;
  /** Stride per spatial dim (default: `kernelSize`, as PyTorch). */
  stride?: SizeArg;
  /** Implicit zero padding on both sides (default 0; at most half the window). */
  padding?: SizeArg;
  /** Round the output size up instead of down (default false). */
  ceilMode?: boolean;
  /** Count the padded zeros in the divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
  /** Divide every window by this instead (PyTorch's `divisor_override`). */
  divisorOverride?: number;
}

interface _PoolGeom {
  kernel: number[];
  stride: number[];
  pad: number[];
  dilation: number[];
  ceilMode: boolean;
}

function _poolGeom(op: string, nsp: number, c: MaxPoolConfig): _PoolGeom {
  const kernel = _tuple(op, "kernelSize", c.kernelSize, nsp);
  const stride = _tuple(op, "stride", c.stride ?? kernel, nsp);
  const pad = _tuple(op, "padding", c.padding ?? 0, nsp);
  const dilation = _tuple(op, "dilation", c.dilation ?? 1, nsp);
  if (kernel.some((k) => k < 1) || stride.some((s) => s < 1) || dilation.some((d) => d < 1)) {
    throw new RangeError(`${op}: kernelSize, stride and dilation must be positive`);
  }
  if (pad.some((p, i) => p > Math.floor((dilation[i] * (kernel[i] - 1) + 1) / 2))) {
    throw new RangeError(
      `${op}: padding [${pad}] should be at most half of the kernel size [${kernel}]`,
    );
  }
  return { kernel, stride, pad, dilation, ceilMode: c.ceilMode ?? false };
}

/** PyTorch's `pooling_output_shape`. */
function _poolOut(n: number, g: _PoolGeom, i: number): number {
  const dk = g.dilation[i] * (g.kernel[i] - 1) + 1, s = g.stride[i], p = g.pad[i];
  const span = n + 2 * p - dk + (g.ceilMode ? s - 1 : 0);
  let out = Math.floor(span / s) + 1;
  // the last window must start inside the input or the left padding
  if (g.ceilMode && (out - 1) * s >= n + p) out--;
  return Math.max(out, 0);
}

/** `[lo, hi]` pads for reduce_window that give PyTorch's output sizes (ceilMode adds to hi). */
function _poolPads(spatial: readonly number[], g: _PoolGeom): [number, number][] {
  return spatial.map((n, i) => {
    const out = _poolOut(n, g, i);
    const dk = g.dilation[i] * (g.kernel[i] - 1) + 1;
    const extra = Math.max(0, (out - 1) * g.stride[i] + dk - (n + 2 * g.pad[i]));
    return [g.pad[i], g.pad[i] + extra];
  });
}

function _pool(
  op: "max" | "sum",
  x: Tensor,
  g: _PoolGeom,
  nsp: number,
): Tensor {
  const lead = x.ndim - nsp;
  const ones = new Array(lead).fill(1);
  return reduceWindow(x, op, {
    windowDimensions: [...ones, ...g.kernel],
    windowStrides: [...ones, ...g.stride],
    padding: [...new Array(lead).fill([0, 0]), ..._poolPads(x.shape.slice(lead), g)],
    windowDilation: [...ones, ...g.dilation],
  });
}

function _maxPool(nsp: number, config: MaxPoolConfig): Layer<NoParams> {
  const g = _poolGeom(`maxPool${nsp}d`, nsp, config);
  const name = `MaxPool${nsp}d(kernel [${g.kernel}], stride [${g.stride}])`;
  return {
    name,
    init: () => ({}),
    apply(_p: NoParams, x: Tensor): Tensor {
      _checkTrailing(name, x, ["C", ..._spatialNames(nsp)]);
      return _pool("max", x, g, nsp);
    },
  };
}

/** PyTorch's avg_pool divisor per output position of one spatial dim. */
function _avgDivisors(n: number, g: _PoolGeom, i: number, includePad: boolean): number[] {
  const k = g.kernel[i], s = g.stride[i], p = g.pad[i];
  return Array.from({ length: _poolOut(n, g, i) }, (_, o) => {
    const start = o * s - p;
    const end = Math.min(start + k, n + p);
    const poolSize = end - start;
    return includePad ? poolSize : Math.min(end, n) - Math.max(start, 0);
  });
}

function _avgPool(nsp: number, config: AvgPoolConfig): Layer<NoParams> {
  const g = _poolGeom(`avgPool${nsp}d`, nsp, config);
  const includePad = config.countIncludePad ?? true;
  const name = `AvgPool${nsp}d(kernel [${g.kernel}], stride [${g.stride}])`;
  return {
    name,
    init: () => ({}),
    apply(_p: NoParams, x: Tensor): Tensor {
      _checkTrailing(name, x, ["C", ..._spatialNames(nsp)]);
      const s = _pool("sum", _float(x), g, nsp);
      if (config.divisorOverride !== undefined) return s.div(config.divisorOverride);
      // divisor[i, j] = d_H[i] · d_W[j], a host constant (PyTorch's pool_size rule)
      const per = x.shape.slice(x.ndim - nsp).map((n, i) => _avgDivisors(n, g, i, includePad));
      let div = np.array(per[0]);
      for (const d of per.slice(1)) div = np.outer(div, np.array(d));
      return s.div(div);
    },
  };
}

const _MAXPOOL1D_KEYS: ReadonlySet<string> = new Set([
  "kernelSize",
  "stride",
  "padding",
  "dilation",
  "ceilMode",
]);

/**
 * 1-d max pooling, PyTorch's `nn.MaxPool1d`: the maximum over windows of size k (dilated by
 * `dilation`) at steps of `stride` (default k) along the last axis, padded with −∞.
 *
 * Input f32[..., C, L] (any leading dims), output f32[..., C, L'] with
 * `L' = floor((L + 2p − dilation·(k − 1) − 1) / stride) + 1` (`ceil` with `ceilMode`, as
 * PyTorch: a last window starting in the right padding is dropped). The gradient goes to the
 * first maximum of each window.
 *
 * @param config `{ kernelSize, stride = kernelSize, padding = 0, dilation = 1, ceilMode = false }`.
 * @returns A layer without parameters.
 * @throws {RangeError} For malformed sizes or padding over half the window.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { maxPool1d } from "@denax/denax/nn";
 *
 * const pool = maxPool1d({ kernelSize: 2 });
 * const y = pool.apply({}, np.array([[1, 5, 2, 3, 9]]));
 * console.log(await y.toArray()); // [[5, 3]]
 * const err = await y.sub([[5, 3]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function maxPool1d(config: MaxPoolConfig): Layer<NoParams> {
  checkOptions("nn.maxPool1d", config, _MAXPOOL1D_KEYS);
  return _maxPool(1, config);
}

const _MAXPOOL2D_KEYS: ReadonlySet<string> = new Set([
  "kernelSize",
  "stride",
  "padding",
  "dilation",
  "ceilMode",
]);

/**
 * 2-d max pooling, PyTorch's `nn.MaxPool2d`: the maximum over kh × kw windows (dilated by
 * `dilation`) at steps of `stride` (default the kernel size) over the last two axes, padded
 * with −∞. Input f32[..., C, H, W], output f32[..., C, H', W'] with the sizes of
 * {@link maxPool1d} per axis.
 *
 * @param config `{ kernelSize, stride = kernelSize, padding = 0, dilation = 1, ceilMode = false }`.
 * @returns A layer without parameters.
 * @throws {RangeError} For malformed sizes or padding over half the window.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { maxPool2d } from "@denax/denax/nn";
 *
 * const x = np.reshape(np.arange(16, undefined, 1, "f32"), [1, 1, 4, 4]);
 * const y = maxPool2d({ kernelSize: 2 }).apply({}, x);
 * console.log(await y.toArray()); // [[[[5, 7], [13, 15]]]]
 * const err = await y.sub([[[[5, 7], [13, 15]]]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function maxPool2d(config: MaxPoolConfig): Layer<NoParams> {
  checkOptions("nn.maxPool2d", config, _MAXPOOL2D_KEYS);
  return _maxPool(2, config);
}

const _AVGPOOL1D_KEYS: ReadonlySet<string> = new Set([
  "kernelSize",
  "stride",
  "padding",
  "ceilMode",
  "countIncludePad",
  "divisorOverride",
]);

/**
 * 1-d average pooling, PyTorch's `nn.AvgPool1d`: the mean over windows of size k at steps of
 * `stride` (default k) along the last axis, with zero padding p on both sides.
 *
 * The divisor follows PyTorch exactly: with `countIncludePad` (default) it is the window size
 * clipped to the padded input (`min(start + k, L + p) − start`, which differs from k only at
 * a `ceilMode` edge); without, the number of real input elements in the window;
 * `divisorOverride` replaces both. Input f32[..., C, L], output f32[..., C, L'] with the
 * sizes of {@link maxPool1d}.
 *
 * @param config `{ kernelSize, stride = kernelSize, padding = 0, ceilMode = false,
 *   countIncludePad = true, divisorOverride }`.
 * @returns A layer without parameters.
 * @throws {RangeError} For malformed sizes or padding over half the window.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { avgPool1d } from "@denax/denax/nn";
 *
 * const x = np.array([[1, 2, 3, 4]]);
 * const y = avgPool1d({ kernelSize: 2 }).apply({}, x);
 * console.log(await y.toArray()); // [[1.5, 3.5]]
 * const err = await y.sub([[1.5, 3.5]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * const noPad = avgPool1d({ kernelSize: 2, padding: 1, countIncludePad: false });
 * const out = noPad.apply({}, x);
 * console.log(await out.toArray()); // [[1, 2.5, 4]]
 * const diff = await out.sub([[1, 2.5, 4]]).abs().max().item();
 * if (Number(diff) > 1e-4) throw new Error(`off by ${diff}`);
 * ```
 */
export function avgPool1d(config: AvgPoolConfig): Layer<NoParams> {
  checkOptions("nn.avgPool1d", config, _AVGPOOL1D_KEYS);
  return _avgPool(1, config);
}

const _AVGPOOL2D_KEYS: ReadonlySet<string> = new Set([
  "kernelSize",
  "stride",
  "padding",
  "ceilMode",
  "countIncludePad",
  "divisorOverride",
]);

/**
 * 2-d average pooling, PyTorch's `nn.AvgPool2d`: the mean over kh × kw windows over the last
 * two axes, with the divisor rules of {@link avgPool1d} (per axis, multiplied).
 * Input f32[..., C, H, W], output f32[..., C, H', W'].
 *
 * @param config `{ kernelSize, stride = kernelSize, padding = 0, ceilMode = false,
 *   countIncludePad = true, divisorOverride }`.
 * @returns A layer without parameters.
 * @throws {RangeError} For malformed sizes or padding over half the window.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { avgPool2d } from "@denax/denax/nn";
 *
 * const x = np.reshape(np.arange(16, undefined, 1, "f32"), [1, 1, 4, 4]);
 * const y = avgPool2d({ kernelSize: 2 }).apply({}, x);
 * console.log(await y.toArray()); // [[[[2.5, 4.5], [10.5, 12.5]]]]
 * const err = await y.sub([[[[2.5, 4.5], [10.5, 12.5]]]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function avgPool2d(config: AvgPoolConfig): Layer<NoParams> {
  checkOptions("nn.avgPool2d", config, _AVGPOOL2D_KEYS);
  return _avgPool(2, config);
}

/** Config of {@link adaptiveAvgPool2d}. */
export interface AdaptiveAvgPoolConfig {
  /** Output size `[oh, ow]` (one number for both; `null` keeps that input size). */
  outputSize: number | readonly (number | null)[];
}

/** The [out, n] averaging matrix of PyTorch's adaptive pooling along one axis. */
function _adaptiveMatrix(n: number, out: number): Tensor {
  const m = new Float32Array(out * n);
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * n) / out), end = Math.ceil(((i + 1) * n) / out);
    for (let j = start; j < end; j++) m[i * n + j] = 1 / (end - start);
  }
  return np.array(m, { shape: [out, n] });
}

const _ADAPTIVEAVGPOOL2D_KEYS: ReadonlySet<string> = new Set(["outputSize"]);

/**
 * 2-d adaptive average pooling, PyTorch's `nn.AdaptiveAvgPool2d`: output position i of an axis
 * of size n averages the input over `[floor(i·n / out), ceil((i + 1)·n / out))`, so any input
 * size gives the requested output size (windows may overlap when n is not a multiple).
 *
 * Input f32[..., C, H, W], output f32[..., C, oh, ow]. Computed as two small matmuls with
 * averaging matrices, `A_h · x · A_wᵀ`.
 *
 * @param config `{ outputSize }`.
 * @returns A layer without parameters.
 * @throws {RangeError} When an output size is not a positive integer.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { adaptiveAvgPool2d } from "@denax/denax/nn";
 *
 * const pool = adaptiveAvgPool2d({ outputSize: [1, 2] });
 * const x = np.reshape(np.arange(6, undefined, 1, "f32"), [1, 2, 3]);
 * const y = pool.apply({}, x);
 * console.log(await y.toArray()); // [[[2, 3]]]
 * const err = await y.sub([[[2, 3]]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function adaptiveAvgPool2d(config: AdaptiveAvgPoolConfig): Layer<NoParams> {
  checkOptions("nn.adaptiveAvgPool2d", config, _ADAPTIVEAVGPOOL2D_KEYS);
  const os = typeof config.outputSize === "number"
    ? [config.outputSize, config.outputSize]
    : [...config.outputSize];
  if (os.length !== 2 || !os.every((v) => v === null || (Number.isInteger(v) && v >= 1))) {
    throw new RangeError(
      `adaptiveAvgPool2d: outputSize must be a positive integer or two of them (or null), got ${
        JSON.stringify(config.outputSize)
      }`,
    );
  }
  const name = `AdaptiveAvgPool2d([${os}])`;
  return {
    name,
    init: () => ({}),
    apply(_p: NoParams, x: Tensor): Tensor {
      _checkTrailing(name, x, ["C", "H", "W"]);
      const [h, w] = x.shape.slice(-2);
      const oh = os[0] ?? h, ow = os[1] ?? w;
      let y = _float(x);
      if (ow !== w) y = np.matmul(y, np.transpose(_adaptiveMatrix(w, ow)));
      if (oh !== h) {
        // contract H: [..., H, ow] → [..., ow, H] · A_hᵀ → [..., ow, oh] → [..., oh, ow]
        y = np.swapaxes(
          np.matmul(np.swapaxes(y, -1, -2), np.transpose(_adaptiveMatrix(h, oh))),
          -1,
          -2,
        );
      }
      return y;
    },
  };
}

/** Config of {@link globalAvgPool}. */
export interface GlobalAvgPoolConfig {
  /** Number of trailing spatial dims to average (default 2). */
  spatialDims?: number;
  /** Keep the averaged dims as size 1 (default false). */
  keepdims?: boolean;
}

const _GLOBALAVGPOOL_KEYS: ReadonlySet<string> = new Set(["spatialDims", "keepdims"]);

/**
 * Global average pooling: the mean over the trailing `spatialDims` axes, f32[..., C, H, W] →
 * f32[..., C] (or f32[..., C, 1, 1] with `keepdims`). Equals `adaptiveAvgPool2d({ outputSize:
 * 1 })` followed by a flatten of the two size-1 axes.
 *
 * @param config `{ spatialDims = 2, keepdims = false }`.
 * @returns A layer without parameters.
 * @throws {TypeError} From `apply`, when the input has fewer than `spatialDims + 1` dims.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { globalAvgPool } from "@denax/denax/nn";
 *
 * const x = np.reshape(np.arange(8, undefined, 1, "f32"), [1, 2, 2, 2]);
 * const y = globalAvgPool().apply({}, x);
 * console.log(await y.toArray()); // [[1.5, 5.5]]
 * const err = await y.sub([[1.5, 5.5]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function globalAvgPool(config: GlobalAvgPoolConfig = {}): Layer<NoParams> {
  checkOptions("nn.globalAvgPool", config, _GLOBALAVGPOOL_KEYS);
  const sd = config.spatialDims ?? 2, keepdims = config.keepdims ?? false;
  if (![1, 2, 3].includes(sd)) {
    throw new RangeError(`globalAvgPool: spatialDims must be 1, 2 or 3, got ${sd}`);
  }
  const name = `GlobalAvgPool(${sd}d)`;
  return {
    name,
    init: () => ({}),
    apply(_p: NoParams, x: Tensor): Tensor {
      _checkTrailing(name, x, ["C", ..._spatialNames(sd)]);
      const axes = [...Array(sd).keys()].map((i) => x.ndim - sd + i);
      return _float(x).mean({ axis: axes, keepdims });
    },
  };
}
