/**
 * Normalization layers: `batchNorm1d`, `batchNorm2d` (stateful: running statistics),
 * `layerNorm`, `groupNorm` and `instanceNorm`, with PyTorch's names, layouts, defaults and
 * formulas (Ioffe & Szegedy 2015; Ba et al. 2016; Wu & He 2018; Ulyanov et al. 2016).
 *
 * All of them compute `y = (x − μ) / √(σ² + ε) · weight + bias` with the biased variance σ²
 * over a layer-specific set of axes; they differ in those axes.
 *
 * @module
 */
import { checkOptions } from "../core/validate.ts";
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { type ApplyOptions, checkInput, type Layer, type StatefulLayer } from "./layer.ts";
import { _checkTrailing, _float } from "./_util.ts";

/** Affine parameters of a normalization layer (absent when `affine` is false). */
export interface NormParams {
  /** The scale γ, initialized to ones. */
  weight?: Tensor;
  /** The shift β, initialized to zeros. */
  bias?: Tensor;
}

/** `(x − mean) / √(var + eps)` with `mean`/`var` already broadcastable to `x`. */
function _normalize(x: Tensor, mean: Tensor, variance: Tensor, eps: number): Tensor {
  return x.sub(mean).mul(np.rsqrt(variance.add(eps)));
}

/** Mean and biased variance over `axes`, kept as size-1 dims. */
function _moments(x: Tensor, axes: number[]): [Tensor, Tensor] {
  const mean = x.mean({ axis: axes, keepdims: true });
  const d = x.sub(mean);
  return [mean, d.mul(d).mean({ axis: axes, keepdims: true })];
}

/** Applies per-channel `weight`/`bias` of shape [C] along `axis` of `y`. */
function _affine(y: Tensor, p: NormParams, axis: number): Tensor {
  const shape = y.shape.map((d, i) => (i === axis ? d : 1));
  if (p.weight) y = y.mul(np.reshape(p.weight, shape));
  if (p.bias) y = y.add(np.reshape(p.bias, shape));
  return y;
}

function _affineParams(affine: boolean, shape: readonly number[]): NormParams {
  return affine ? { weight: np.ones(shape), bias: np.zeros(shape) } : {};
}

// ---------------------------------------------------------------- batch norm

/** Config of {@link batchNorm1d} and {@link batchNorm2d}. */
export interface BatchNormConfig {
  /** The number of channels C. */
  numFeatures: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /**
   * Weight of the new batch statistic in the running averages (default 0.1, as PyTorch:
   * `running = (1 − momentum) · running + momentum · batch`). `null` gives the cumulative
   * average `running += (batch − running) / num_batches_tracked`, as PyTorch's `momentum=None`.
   */
  momentum?: number | null;
  /** Learned `weight`/`bias` per channel (default true). */
  affine?: boolean;
  /**
   * Keep running statistics for evaluation (default true). Without them the state is `{}`
   * and batch statistics are used in evaluation too, as PyTorch.
   */
  trackRunningStats?: boolean;
}

/** State of a batch norm layer (PyTorch's buffers). */
export interface BatchNormState {
  /** f32[C], initialized to zeros. */
  running_mean?: Tensor;
  /** f32[C], initialized to ones. */
  running_var?: Tensor;
  /** i32[] (int64 in PyTorch), the number of training batches seen. */
  num_batches_tracked?: Tensor;
}

function _batchNorm(
  name: string,
  cfg: BatchNormConfig,
  channelAxis: (x: Tensor) => number,
): StatefulLayer<NormParams, BatchNormState> {
  const c = cfg.numFeatures, eps = cfg.eps ?? 1e-5;
  const momentum = cfg.momentum === undefined ? 0.1 : cfg.momentum;
  const affine = cfg.affine ?? true, track = cfg.trackRunningStats ?? true;
  return {
    name,
    stateful: true,
    init: () => _affineParams(affine, [c]),
    initState(): BatchNormState {
      if (!track) return {};
      return {
        running_mean: np.zeros([c]),
        running_var: np.ones([c]),
        num_batches_tracked: np.zeros([], "i32"),
      };
    },
    apply(params: NormParams, x: Tensor, opts: ApplyOptions & { state?: BatchNormState } = {}) {
      const ax = channelAxis(x);
      const xf = _float(x);
      const axes = [...Array(x.ndim).keys()].filter((i) => i !== ax);
      const bshape = x.shape.map((d, i) => (i === ax ? d : 1));
      const state = opts.state;
      if (track && !state?.running_mean) {
        throw new TypeError(
          `${name} needs its state\nhelp: pass apply(params, x, { state: layer.initState() })`,
        );
      }
      if (!opts.train && track) {
        const mean = np.reshape(state!.running_mean!, bshape);
        const variance = np.reshape(state!.running_var!, bshape);
        return { y: _affine(_normalize(xf, mean, variance, eps), params, ax), state: state! };
      }
      const n = axes.reduce((a, k) => a * x.shape[k], 1);
      if (n <= 1) {
        throw new TypeError(
          `${name} expected more than 1 value per channel when training, got input ${x.aval}`,
        );
      }
      const [mean, variance] = _moments(xf, axes);
      const y = _affine(_normalize(xf, mean, variance, eps), params, ax);
      if (!track || !opts.train) return { y, state: track ? state! : {} };
      // running statistics see the unbiased variance (Bessel's correction), as PyTorch
      const bm = np.stopGradient(np.reshape(mean, [c]));
      const bv = np.stopGradient(np.reshape(variance, [c]).mul(n / (n - 1)));
      const nbt = state!.num_batches_tracked!.add(1);
      const m: Tensor | number = momentum === null ? np.divide(1, np.astype(nbt, "f32")) : momentum;
      const ema = (run: Tensor, b: Tensor) => run.add(b.sub(run).mul(m));
      return {
        y,
        state: {
          running_mean: ema(state!.running_mean!, bm),
          running_var: ema(state!.running_var!, bv),
          num_batches_tracked: nbt,
        },
      };
    },
  };
}

const _BATCHNORM1D_KEYS: ReadonlySet<string> = new Set([
  "numFeatures",
  "eps",
  "momentum",
  "affine",
  "trackRunningStats",
]);

/**
 * Batch normalization over a 2-d or 3-d input, PyTorch's `nn.BatchNorm1d` (Ioffe & Szegedy
 * 2015): input f32[N, C] or f32[N, C, L] (or f32[C] for one example in evaluation, e.g. under
 * `vmap`), normalized per channel C over the other axes.
 *
 * - Training (`train: true`): `y = (x − μ_B) / √(σ²_B + ε) · weight + bias` with the batch mean
 *   μ_B and the **biased** batch variance σ²_B; the returned state updates
 *   `running_mean ← (1 − m)·running_mean + m·μ_B` and
 *   `running_var ← (1 − m)·running_var + m·σ²_B·n/(n − 1)` (the **unbiased** variance, n values
 *   per channel), momentum m = 0.1, and increments `num_batches_tracked`.
 * - Evaluation: uses `running_mean`/`running_var`; the state comes back unchanged.
 *
 * Params `{ weight: ones[C], bias: zeros[C] }`; state `{ running_mean: zeros[C], running_var:
 * ones[C], num_batches_tracked: i32 0 }` from `initState()`.
 *
 * @param config `{ numFeatures, eps = 1e-5, momentum = 0.1, affine = true,
 *   trackRunningStats = true }`.
 * @returns A stateful layer: `apply(params, x, { state, train }) → { y, state }`.
 * @throws {TypeError} From `apply`, for a wrong input shape, a missing state, or a single value
 *   per channel in training.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { batchNorm1d } from "@denax/denax/nn";
 *
 * const bn = batchNorm1d({ numFeatures: 2 });
 * const params = bn.init(random.key(0));
 * const x = np.array([[1, 10], [3, 30]]);
 * const { y, state } = bn.apply(params, x, { state: bn.initState(), train: true });
 * console.log(await y.toArray()); // ≈ [[-1, -1], [1, 1]]
 * const err = await y.sub([[-1, -1], [1, 1]]).abs().max().item();
 * if (Number(err) > 1e-3) throw new Error(`off by ${err}`);
 * console.log(await state.running_mean!.toArray()); // ≈ [0.2, 2]
 * const diff = await state.running_mean!.sub([0.2, 2]).abs().max().item();
 * if (Number(diff) > 1e-5) throw new Error(`off by ${diff}`);
 * ```
 */
export function batchNorm1d(config: BatchNormConfig): StatefulLayer<NormParams, BatchNormState> {
  checkOptions("nn.batchNorm1d", config, _BATCHNORM1D_KEYS);
  const c = config.numFeatures;
  const name = `BatchNorm1d(${c})`;
  return _batchNorm(name, config, (x) => {
    if (x.ndim === 1) checkInput(name, x, [c]);
    else if (x.ndim === 2) checkInput(name, x, ["N", c]);
    else checkInput(name, x, ["N", c, "L"]);
    return x.ndim === 1 ? 0 : 1;
  });
}

const _BATCHNORM2D_KEYS: ReadonlySet<string> = new Set([
  "numFeatures",
  "eps",
  "momentum",
  "affine",
  "trackRunningStats",
]);

/**
 * Batch normalization over 4-d input, PyTorch's `nn.BatchNorm2d`: input f32[N, C, H, W]
 * (any number of leading dimensions, including none for one example under `vmap`),
 * normalized per channel over N, H and W. The formulas, parameters and state are those of
 * {@link batchNorm1d}: biased batch variance to normalize, unbiased variance into
 * `running_var`, momentum 0.1, running statistics in evaluation.
 *
 * @param config `{ numFeatures, eps = 1e-5, momentum = 0.1, affine = true,
 *   trackRunningStats = true }`.
 * @returns A stateful layer: `apply(params, x, { state, train }) → { y, state }`.
 * @throws {TypeError} From `apply`, for a wrong input shape or a missing state.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { batchNorm2d } from "@denax/denax/nn";
 *
 * const bn = batchNorm2d({ numFeatures: 3 });
 * const params = bn.init(random.key(0));
 * const x = random.normal(random.key(1), [4, 3, 5, 5]);
 * const { y } = bn.apply(params, x, { state: bn.initState(), train: true });
 * console.log(String(y)); // Tensor(f32[4,3,5,5])
 * if (String(y) !== "Tensor(f32[4,3,5,5])") throw new Error(`got ${y}`);
 * ```
 */
export function batchNorm2d(config: BatchNormConfig): StatefulLayer<NormParams, BatchNormState> {
  checkOptions("nn.batchNorm2d", config, _BATCHNORM2D_KEYS);
  const c = config.numFeatures;
  const name = `BatchNorm2d(${c})`;
  return _batchNorm(name, config, (x) => {
    _checkTrailing(name, x, [c, "H", "W"]);
    return x.ndim - 3;
  });
}

// ---------------------------------------------------------------- layer norm

/** Config of {@link layerNorm}. */
export interface LayerNormConfig {
  /** The trailing shape to normalize over (a number for the last dimension only). */
  normalizedShape: number | readonly number[];
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learned `weight` (and `bias`) of shape `normalizedShape` (default true). */
  elementwiseAffine?: boolean;
  /** Whether the affine transform has a bias (default true). */
  bias?: boolean;
}

const _LAYERNORM_KEYS: ReadonlySet<string> = new Set([
  "normalizedShape",
  "eps",
  "elementwiseAffine",
  "bias",
]);

/**
 * Layer normalization, PyTorch's `nn.LayerNorm` (Ba et al. 2016): over the trailing
 * `normalizedShape` dims, `y = (x − μ) / √(σ² + ε) · weight + bias` with the biased variance,
 * independently for every leading index. Input f32[..., ...normalizedShape].
 *
 * Params `{ weight: ones[normalizedShape], bias: zeros[normalizedShape] }` (elementwise).
 *
 * @param config `{ normalizedShape, eps = 1e-5, elementwiseAffine = true, bias = true }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, when the trailing dims are not `normalizedShape`.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { layerNorm } from "@denax/denax/nn";
 *
 * const ln = layerNorm({ normalizedShape: 2 });
 * const y = ln.apply(ln.init(random.key(0)), np.array([[1, 3], [0, 10]]));
 * console.log(await y.toArray()); // ≈ [[-1, 1], [-1, 1]]
 * const err = await y.sub([[-1, 1], [-1, 1]]).abs().max().item();
 * if (Number(err) > 1e-3) throw new Error(`off by ${err}`);
 * ```
 */
export function layerNorm(config: LayerNormConfig): Layer<NormParams> {
  checkOptions("nn.layerNorm", config, _LAYERNORM_KEYS);
  const shape = typeof config.normalizedShape === "number"
    ? [config.normalizedShape]
    : [...config.normalizedShape];
  const eps = config.eps ?? 1e-5, affine = config.elementwiseAffine ?? true;
  const useBias = config.bias ?? true;
  const name = `LayerNorm([${shape}])`;
  return {
    name,
    init(): NormParams {
      if (!affine) return {};
      return useBias
        ? { weight: np.ones(shape), bias: np.zeros(shape) }
        : { weight: np.ones(shape) };
    },
    apply(params: NormParams, x: Tensor): Tensor {
      _checkTrailing(name, x, shape);
      const xf = _float(x);
      const axes = shape.map((_, i) => x.ndim - shape.length + i);
      const [mean, variance] = _moments(xf, axes);
      let y = _normalize(xf, mean, variance, eps);
      if (params.weight) y = y.mul(params.weight);
      if (params.bias) y = y.add(params.bias);
      return y;
    },
  };
}

// ---------------------------------------------------------------- group norm

/** Config of {@link groupNorm}. */
export interface GroupNormConfig {
  /** Number of groups G; must divide `numChannels`. */
  numGroups: number;
  /** Number of channels C. */
  numChannels: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learned per-channel `weight`/`bias` (default true). */
  affine?: boolean;
}

const _GROUPNORM_KEYS: ReadonlySet<string> = new Set(["numGroups", "numChannels", "eps", "affine"]);

/**
 * Group normalization, PyTorch's `nn.GroupNorm` (Wu & He 2018): input f32[N, C, ...spatial]
 * (channels on axis 1, as PyTorch); the C channels split into G contiguous groups and each
 * (example, group) is normalized over its C/G channels and all spatial positions with the
 * biased variance, then scaled and shifted per channel. `numGroups = 1` normalizes whole
 * examples (LayerNorm over C, H, W); `numGroups = C` is instance normalization.
 *
 * Params `{ weight: ones[C], bias: zeros[C] }`.
 *
 * @param config `{ numGroups, numChannels, eps = 1e-5, affine = true }`.
 * @returns The layer.
 * @throws {RangeError} When `numGroups` does not divide `numChannels`.
 * @throws {TypeError} From `apply`, when the input is not [N, C, ...].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { groupNorm } from "@denax/denax/nn";
 *
 * const gn = groupNorm({ numGroups: 2, numChannels: 4 });
 * const y = gn.apply(gn.init(random.key(0)), random.normal(random.key(1), [2, 4, 3, 3]));
 * console.log(String(y)); // Tensor(f32[2,4,3,3])
 * if (String(y) !== "Tensor(f32[2,4,3,3])") throw new Error(`got ${y}`);
 * ```
 */
export function groupNorm(config: GroupNormConfig): Layer<NormParams> {
  checkOptions("nn.groupNorm", config, _GROUPNORM_KEYS);
  const { numGroups: g, numChannels: c } = config;
  const eps = config.eps ?? 1e-5, affine = config.affine ?? true;
  if (!(Number.isInteger(g) && g >= 1 && c % g === 0)) {
    throw new RangeError(`groupNorm: numGroups ${g} must divide numChannels ${c}`);
  }
  const name = `GroupNorm(${g}, ${c})`;
  return {
    name,
    init: () => _affineParams(affine, [c]),
    apply(params: NormParams, x: Tensor): Tensor {
      if (x.ndim < 2) checkInput(name, x, ["N", c, "..."]);
      checkInput(name, x, ["N", c, ...x.shape.slice(2).map((_, i) => `d${i}`)]);
      const xf = _float(x);
      const grouped = np.reshape(xf, [x.shape[0], g, -1]);
      const [mean, variance] = _moments(grouped, [2]);
      const y = np.reshape(_normalize(grouped, mean, variance, eps), x.shape);
      return _affine(y, params, 1);
    },
  };
}

// ---------------------------------------------------------------- instance norm

/** Config of {@link instanceNorm}. */
export interface InstanceNormConfig {
  /** Number of channels C. */
  numFeatures: number;
  /** Number of spatial dims after the channel axis (1, 2 or 3; default 2). */
  spatialDims?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** Learned per-channel `weight`/`bias` (default false, as PyTorch). */
  affine?: boolean;
}

const _INSTANCENORM_KEYS: ReadonlySet<string> = new Set([
  "numFeatures",
  "spatialDims",
  "eps",
  "affine",
]);

/**
 * Instance normalization, PyTorch's `nn.InstanceNorm{1,2,3}d` (Ulyanov et al. 2016): input
 * f32[..., C, ...spatial] (with `spatialDims` spatial dims and any leading dims), each
 * (example, channel) normalized over its spatial positions with the biased variance.
 * Running statistics are not tracked (PyTorch's default `track_running_stats=False`), so
 * training and evaluation agree.
 *
 * Params `{}`, or `{ weight: ones[C], bias: zeros[C] }` with `affine: true`.
 *
 * @param config `{ numFeatures, spatialDims = 2, eps = 1e-5, affine = false }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, when the input is not [..., C, ...spatial].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { instanceNorm } from "@denax/denax/nn";
 *
 * const inorm = instanceNorm({ numFeatures: 1, spatialDims: 1 });
 * const y = inorm.apply(inorm.init(random.key(0)), np.array([[[1, 3]]]));
 * console.log(await y.toArray()); // ≈ [[[-1, 1]]]
 * const err = await y.sub([[[-1, 1]]]).abs().max().item();
 * if (Number(err) > 1e-3) throw new Error(`off by ${err}`);
 * ```
 */
export function instanceNorm(config: InstanceNormConfig): Layer<NormParams> {
  checkOptions("nn.instanceNorm", config, _INSTANCENORM_KEYS);
  const c = config.numFeatures, sd = config.spatialDims ?? 2;
  const eps = config.eps ?? 1e-5, affine = config.affine ?? false;
  if (![1, 2, 3].includes(sd)) {
    throw new RangeError(`instanceNorm: spatialDims must be 1, 2 or 3, got ${sd}`);
  }
  const name = `InstanceNorm${sd}d(${c})`;
  const spatialNames = sd === 1 ? ["L"] : sd === 2 ? ["H", "W"] : ["D", "H", "W"];
  return {
    name,
    init: () => _affineParams(affine, [c]),
    apply(params: NormParams, x: Tensor): Tensor {
      _checkTrailing(name, x, [c, ...spatialNames]);
      const xf = _float(x);
      const axes = [...Array(sd).keys()].map((i) => x.ndim - sd + i);
      const [mean, variance] = _moments(xf, axes);
      return _affine(_normalize(xf, mean, variance, eps), params, x.ndim - sd - 1);
    },
  };
}
