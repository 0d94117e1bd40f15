/**
 * Activation functions (`nn.relu`, `nn.softmax`, …): pure functions of Tensors, composed from
 * `np` ops (no new primitives), numerically stable, and usable under `grad`, `vmap` and `jit`.
 *
 * Conventions follow PyTorch (`torch.nn.functional`) where it and JAX differ, and each doc
 * comment says so. Derivatives at kinks are chosen as JAX/PyTorch do: `relu'(0) = 0`,
 * `leakyRelu'(0) = negativeSlope`, `hardTanh'` is 0 at the clipping bounds.
 *
 * Seed references (`shared/CATALOG.md` §3): A01 step, A02/A03 sigmoid with temperature,
 * A04 identity, A05 ReLU, A06 leaky ReLU, A07 PReLU, A08 tanh, A09 softmax, A10 stochastic
 * binary neuron, A11 ELU, A12 GELU, A13 Swish.
 *
 * @module
 */
import { isFloat } from "../core/dtype.ts";
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import { iota } from "../core/prims/structural.ts";
import type { Tensor, TensorLike } from "../core/tensor.ts";
import type { DType } from "../core/dtype.ts";

/** Converts to a float tensor (integers and booleans become f32). */
function _f(x: TensorLike): Tensor {
  const t = np.asarray(x);
  return isFloat(t.dtype) ? t : np.astype(t, "f32");
}

// ---------------------------------------------------------------- threshold units

/** Options of {@link step}. */
export interface StepOptions {
  /** The threshold Θ (default 0). */
  threshold?: number;
  /**
   * Whether the unit fires only strictly above the threshold (`z > Θ`, seed S2 L244).
   * Default false: it fires at `z ≥ Θ` (seed S1 L19, and NumPy's `heaviside(z, 1)`).
   */
  strict?: boolean;
}

/**
 * The binary threshold unit (Heaviside step) of the perceptron:
 * `step(z) = 1 if z ≥ Θ else 0` (f32 values 0 and 1).
 *
 * The seeds disagree at the threshold (CATALOG §0.2: S1 L19 fires at `z ≥ 0`, S2 L244 at
 * `z > Θ`). We pick `≥` by default (Rosenblatt's perceptron as written in S1; NumPy
 * `heaviside(z, 1)`); pass `{ strict: true }` for S2's `>`. The gradient is zero everywhere
 * (the derivative is 0 off the threshold and undefined on it), so train a perceptron with the
 * perceptron rule, or use {@link sigmoid} with a small temperature as a smooth surrogate.
 *
 * @param x Any shape.
 * @param opts `{ threshold = 0, strict = false }`.
 * @returns f32 of `x`'s shape, with values in {0, 1}.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { step } from "@denax/denax/nn";
 * const y = step(np.array([-1, 0, 2]));
 * console.log(await y.toArray()); // [0, 1, 1]
 * const err = await y.sub([0, 1, 1]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * const out = step(np.array([-1, 0, 2]), { strict: true });
 * console.log(await out.toArray()); // [0, 0, 1]
 * const diff = await out.sub([0, 0, 1]).abs().max().item();
 * if (Number(diff) > 1e-5) throw new Error(`off by ${diff}`);
 * ```
 */
export function step(x: TensorLike, opts: StepOptions = {}): Tensor {
  const t = _f(x), th = opts.threshold ?? 0;
  const fire = opts.strict ? np.greater(t, th) : np.greaterEqual(t, th);
  return np.astype(fire, t.dtype); // a comparison: no tangent flows, the gradient is zero
}

/** Alias of {@link step}: the Heaviside step function with `H(0) = 1` by default. */
export const heaviside: (x: TensorLike, opts?: StepOptions) => Tensor = step;

// ---------------------------------------------------------------- sigmoid family

/** Options of {@link sigmoid}. */
export interface SigmoidOptions {
  /** The temperature T > 0 (default 1): `σ(x / T)`. */
  temperature?: number;
}

/**
 * The logistic sigmoid `σ(x) = 1 / (1 + e^{−x})`, optionally with a temperature:
 * `σ(x / T)` (seed S2 L340–354: T = 1 is the standard sigmoid, T → 0 approaches the step
 * unit, T → ∞ flattens it). Stable for large |x|; `σ' = σ(1 − σ)`.
 *
 * @param x Any shape.
 * @param opts `{ temperature = 1 }`.
 * @returns Values in (0, 1), same shape.
 * @throws {RangeError} If the temperature is not positive.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { sigmoid } from "@denax/denax/nn";
 * const y = sigmoid(np.array([0, 1000, -1000]));
 * console.log(await y.toArray()); // [0.5, 1, 0]
 * const err = await y.sub([0.5, 1, 0]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function sigmoid(x: TensorLike, opts: SigmoidOptions = {}): Tensor {
  const T = opts.temperature ?? 1;
  if (!(T > 0)) throw new RangeError(`sigmoid: temperature must be positive, got ${T}`);
  const t = _f(x);
  return np.sigmoid(T === 1 ? t : np.divide(t, T));
}

/**
 * `log σ(x) = −softplus(−x)`, stable for large |x| (no `log(0)` for very negative x).
 *
 * @param x Any shape.
 * @returns Values ≤ 0, same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { logSigmoid } from "@denax/denax/nn";
 * const y = logSigmoid(np.array([-1000, 0]));
 * console.log(await y.toArray()); // [-1000, -0.6931472]
 * const err = await y.sub([-1000, -0.6931472]).abs().max().item();
 * if (Number(err) > 0.01) throw new Error(`off by ${err}`);
 * ```
 */
export function logSigmoid(x: TensorLike): Tensor {
  return np.negative(softplus(np.negative(_f(x))));
}

/**
 * The identity (linear) activation `f(x) = x`, for regression outputs (seed S2 L356).
 *
 * @param x Any tensor.
 * @returns `x` itself.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { identity } from "@denax/denax/nn";
 * const y = identity(np.array([-2, 3]));
 * console.log(await y.toArray()); // [-2, 3]
 * const err = await y.sub([-2, 3]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function identity(x: Tensor): Tensor {
  return x;
}

// ---------------------------------------------------------------- rectifiers

/**
 * The rectified linear unit `relu(x) = max(0, x)`, with `relu'(0) = 0` as JAX, PyTorch and
 * seed S1 (written as a select, so the tie at 0 does not split the gradient as
 * `np.maximum` would).
 *
 * @param x Any shape (integers stay integers).
 * @returns Same shape and dtype.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { relu } from "@denax/denax/nn";
 * const y = relu(np.array([-1, 0, 2]));
 * console.log(await y.toArray()); // [0, 0, 2]
 * const err = await y.sub([0, 0, 2]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function relu(x: TensorLike): Tensor {
  const t = np.asarray(x);
  return np.where(np.greater(t, 0), t, 0);
}

/**
 * Leaky ReLU: `x` for `x ≥ 0`, `negativeSlope · x` otherwise (seed S1 L57, S2 L382;
 * PyTorch's default slope 0.01). The derivative at 0 is `negativeSlope`, as PyTorch's
 * backward (`x > 0 ? 1 : slope`).
 *
 * @param x Any shape.
 * @param negativeSlope The slope for negative inputs (default 0.01).
 * @returns Same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { leakyRelu } from "@denax/denax/nn";
 * const y = leakyRelu(np.array([-100, 3]));
 * console.log(await y.toArray()); // [-1, 3]
 * const err = await y.sub([-1, 3]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function leakyRelu(x: TensorLike, negativeSlope = 0.01): Tensor {
  const t = _f(x);
  return np.where(np.greater(t, 0), t, np.multiply(t, negativeSlope));
}

/**
 * Parametric ReLU (He et al. 2015; seed S1 L69): `x` for `x > 0`, `α · x` otherwise, with a
 * learned `α` that broadcasts against `x` (a scalar, or one per channel shaped to broadcast,
 * e.g. `f32[C, 1, 1]` for `[N, C, H, W]` inputs). Differentiable in both `x` and `α`.
 *
 * @param x Any shape.
 * @param alpha The learned slope(s), broadcastable to `x`.
 * @returns The broadcast shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { prelu } from "@denax/denax/nn";
 * const y = prelu(np.array([-2, 3]), np.array(0.25));
 * console.log(await y.toArray()); // [-0.5, 3]
 * const err = await y.sub([-0.5, 3]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function prelu(x: TensorLike, alpha: TensorLike): Tensor {
  const t = _f(x);
  return np.where(np.greater(t, 0), t, np.multiply(alpha, t));
}

/**
 * The exponential linear unit (Clevert et al. 2016): `x` for `x > 0`,
 * `α (e^x − 1)` otherwise; the derivative at 0 is α (PyTorch's backward). `e^x − 1` is taken
 * of `where(x > 0, 0, x)`, so large positive inputs never overflow in the unused branch
 * (which would give NaN gradients through the select).
 *
 * @param x Any shape.
 * @param alpha The saturation value for negative inputs (default 1).
 * @returns Same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { elu } from "@denax/denax/nn";
 * const y = elu(np.array([-1000, 0, 2]));
 * console.log(await y.toArray()); // [-1, 0, 2]
 * const err = await y.sub([-1, 0, 2]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function elu(x: TensorLike, alpha = 1): Tensor {
  const t = _f(x);
  const pos = np.greater(t, 0);
  // expm1 of where(x > 0, 0, x), not of min(x, 0): min would split the gradient at the tie x = 0
  const neg = np.multiply(np.expm1(np.where(pos, 0, t)), alpha);
  return np.where(pos, t, neg);
}

/** SELU's α (Klambauer et al. 2017), as PyTorch. */
const SELU_ALPHA = 1.6732632423543772848170429916717;
/** SELU's scale λ (Klambauer et al. 2017), as PyTorch. */
const SELU_SCALE = 1.0507009873554804934193349852946;

/**
 * The scaled ELU (Klambauer et al. 2017, "Self-Normalizing Neural Networks"):
 * `selu(x) = λ · elu(x, α)` with `α = 1.6732632423543772848170429916717` and
 * `λ = 1.0507009873554804934193349852946` (PyTorch's constants).
 *
 * @param x Any shape.
 * @returns Same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { selu } from "@denax/denax/nn";
 * const y = selu(np.array([1]));
 * console.log(await y.toArray()); // [1.050701]
 * const err = await y.sub([1.050701]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function selu(x: TensorLike): Tensor {
  return np.multiply(elu(x, SELU_ALPHA), SELU_SCALE);
}

/** Options of {@link gelu}. */
export interface GeluOptions {
  /**
   * Use the tanh approximation (default false: the exact erf form, as PyTorch's
   * `approximate="none"`; JAX's `jax.nn.gelu` defaults to the approximation).
   */
  approximate?: boolean;
}

/**
 * The Gaussian error linear unit (Hendrycks & Gimpel 2016; "used in Transformers", seed S3
 * L36): exactly `x · Φ(x) = ½ x (1 + erf(x / √2))`, or with `{ approximate: true }`
 * `½ x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
 *
 * @param x Any shape.
 * @param opts `{ approximate = false }`.
 * @returns Same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { gelu } from "@denax/denax/nn";
 * const y = gelu(np.array([1]));
 * console.log(await y.toArray()); // [0.8413447]
 * const err = await y.sub([0.8413447]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * const out = gelu(np.array([1]), { approximate: true });
 * console.log(await out.toArray()); // [0.8411920]
 * const diff = await out.sub([0.8411920]).abs().max().item();
 * if (Number(diff) > 1e-5) throw new Error(`off by ${diff}`);
 * ```
 */
export function gelu(x: TensorLike, opts: GeluOptions = {}): Tensor {
  const t = _f(x);
  if (opts.approximate) {
    const inner = np.multiply(
      np.add(t, np.multiply(np.multiply(np.square(t), t), 0.044715)),
      Math.sqrt(2 / Math.PI),
    );
    return np.multiply(np.multiply(t, 0.5), np.add(np.tanh(inner), 1));
  }
  return np.multiply(np.multiply(t, 0.5), np.add(np.erf(np.multiply(t, Math.SQRT1_2)), 1));
}

/**
 * The sigmoid linear unit `silu(x) = x · σ(x)` (Elfwing et al. 2017; Swish with β = 1).
 *
 * @param x Any shape.
 * @returns Same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { silu } from "@denax/denax/nn";
 * const y = silu(np.array([0, 1000]));
 * console.log(await y.toArray()); // [0, 1000]
 * const err = await y.sub([0, 1000]).abs().max().item();
 * if (Number(err) > 0.01) throw new Error(`off by ${err}`);
 * ```
 */
export function silu(x: TensorLike): Tensor {
  const t = _f(x);
  return np.multiply(t, np.sigmoid(t));
}

/**
 * Swish (Ramachandran et al. 2017; seed S1 L103 names it): `x · σ(β x)`; β = 1 is
 * {@link silu}.
 *
 * @param x Any shape.
 * @param beta The slope inside the sigmoid (default 1).
 * @returns Same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { swish } from "@denax/denax/nn";
 * const y = swish(np.array([1]), 2);
 * console.log(await y.toArray()); // [0.8807971]
 * const err = await y.sub([0.8807971]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function swish(x: TensorLike, beta = 1): Tensor {
  const t = _f(x);
  return np.multiply(t, np.sigmoid(beta === 1 ? t : np.multiply(t, beta)));
}

/** Options of {@link softplus}. */
export interface SoftplusOptions {
  /** The sharpness β > 0 (default 1). */
  beta?: number;
  /** Above `β x > threshold` the function is taken as linear (default 20, as PyTorch). */
  threshold?: number;
}

/**
 * Softplus, PyTorch's `F.softplus`: `(1/β) log(1 + e^{β x})`, and `x` itself where
 * `β x > threshold`. Computed stably as `max(z, 0) + log1p(e^{−|z|})` with `z = β x`,
 * so it neither overflows for large `x` nor loses precision for very negative `x`; the
 * derivative is `σ(β x)` everywhere, including 0 (where `max` splits the tie).
 *
 * @param x Any shape.
 * @param opts `{ beta = 1, threshold = 20 }`.
 * @returns Positive values, same shape.
 * @throws {RangeError} If `beta` is not positive.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { softplus } from "@denax/denax/nn";
 * const y = softplus(np.array([-1000, 0, 1000]));
 * console.log(await y.toArray()); // [0, 0.6931472, 1000]
 * const err = await y.sub([0, 0.6931472, 1000]).abs().max().item();
 * if (Number(err) > 0.01) throw new Error(`off by ${err}`);
 * ```
 */
export function softplus(x: TensorLike, opts: SoftplusOptions = {}): Tensor {
  const beta = opts.beta ?? 1, threshold = opts.threshold ?? 20;
  if (!(beta > 0)) throw new RangeError(`softplus: beta must be positive, got ${beta}`);
  const t = _f(x);
  const z = beta === 1 ? t : np.multiply(t, beta);
  let sp = np.add(np.maximum(z, 0), np.log1p(np.exp(np.negative(np.abs(z)))));
  if (beta !== 1) sp = np.divide(sp, beta);
  return np.where(np.greater(z, threshold), t, sp);
}

/**
 * Softsign `x / (1 + |x|)`.
 *
 * @param x Any shape.
 * @returns Values in (−1, 1), same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { softsign } from "@denax/denax/nn";
 * const y = softsign(np.array([-3, 1]));
 * console.log(await y.toArray()); // [-0.75, 0.5]
 * const err = await y.sub([-0.75, 0.5]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function softsign(x: TensorLike): Tensor {
  const t = _f(x);
  return np.divide(t, np.add(np.abs(t), 1));
}

/**
 * The hyperbolic tangent (seed S2 L396): `tanh' = 1 − tanh²`, range (−1, 1).
 *
 * @param x Any shape.
 * @returns Same shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { tanh } from "@denax/denax/nn";
 * const y = tanh(np.array([0, 1000]));
 * console.log(await y.toArray()); // [0, 1]
 * const err = await y.sub([0, 1]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function tanh(x: TensorLike): Tensor {
  return np.tanh(_f(x));
}

/** Options of {@link hardTanh}. */
export interface HardTanhOptions {
  /** Lower bound (default −1). */
  min?: number;
  /** Upper bound (default 1). */
  max?: number;
}

/**
 * Hard tanh, PyTorch's `F.hardtanh`: `clip(x, min, max)`. The derivative is 1 strictly
 * inside `(min, max)` and 0 elsewhere, including at the bounds (PyTorch's backward).
 *
 * @param x Any shape.
 * @param opts `{ min = −1, max = 1 }`.
 * @returns Same shape.
 * @throws {RangeError} If `min > max`.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { hardTanh } from "@denax/denax/nn";
 * const y = hardTanh(np.array([-3, 0.5, 3]));
 * console.log(await y.toArray()); // [-1, 0.5, 1]
 * const err = await y.sub([-1, 0.5, 1]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function hardTanh(x: TensorLike, opts: HardTanhOptions = {}): Tensor {
  const lo = opts.min ?? -1, hi = opts.max ?? 1;
  if (lo > hi) throw new RangeError(`hardTanh: min (${lo}) must not exceed max (${hi})`);
  const t = _f(x);
  return np.where(np.lessEqual(t, lo), lo, np.where(np.greaterEqual(t, hi), hi, t));
}

// ---------------------------------------------------------------- softmax

/** Options of {@link softmax} and {@link logSoftmax}. */
export interface SoftmaxOptions {
  /** The axis or axes to normalize over (default −1, the last). */
  axis?: number | readonly number[];
}
type Axis = number | readonly number[];
const _axisOf = (o: SoftmaxOptions | Axis): Axis =>
  typeof o === "number" || Array.isArray(o) ? o as Axis : (o as SoftmaxOptions).axis ?? -1;

/**
 * Softmax along `axis` (seed S1 L95, S2 L2097): `e^{x_i} / Σ_j e^{x_j}`. The maximum is
 * subtracted first (and not differentiated through, as JAX), so inputs of ±1000 give finite
 * results; `−∞` entries (masks) get probability 0.
 *
 * @param x Any shape with at least one dimension.
 * @param opts `{ axis }`: the axis or axes to normalize over (default −1, the last), as
 *   `jax.nn.softmax(x, axis=…)`. A bare number (or array) is still accepted (deprecated).
 * @returns Probabilities of `x`'s shape, summing to 1 along `axis`.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { softmax } from "@denax/denax/nn";
 * const y = softmax(np.array([1000, 1000, -1000]));
 * console.log(await y.toArray()); // [0.5, 0.5, 0]
 * const err = await y.sub([0.5, 0.5, 0]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * const out = softmax(np.zeros([2, 2]), { axis: 0 });
 * console.log(await out.toArray()); // [[0.5, 0.5], [0.5, 0.5]]
 * const diff = await out.sub([[0.5, 0.5], [0.5, 0.5]]).abs().max().item();
 * if (Number(diff) > 1e-5) throw new Error(`off by ${diff}`);
 * ```
 */
export function softmax(x: TensorLike, opts?: SoftmaxOptions): Tensor;
/** @deprecated pass `{ axis }` (as `jax.nn.softmax(x, axis=…)`); a bare axis is kept for old code. */
export function softmax(x: TensorLike, axis: number | readonly number[]): Tensor;
export function softmax(x: TensorLike, opts: SoftmaxOptions | Axis = {}): Tensor {
  const axis = _axisOf(opts);
  const t = _f(x);
  const m = np.stopGradient(np.max(t, { axis, keepdims: true }));
  const e = np.exp(np.subtract(t, np.where(np.isfinite(m), m, 0)));
  return np.divide(e, np.sum(e, { axis, keepdims: true }));
}

/**
 * Log-softmax along `axis`: `x_i − log Σ_j e^{x_j}`, computed as
 * `(x − max) − log Σ e^{x − max}` so that ±1000 stays finite and exact.
 *
 * @param x Any shape with at least one dimension.
 * @param opts `{ axis }`: the axis or axes to normalize over (default −1), as
 *   `jax.nn.log_softmax(x, axis=…)`. A bare number (or array) is still accepted (deprecated).
 * @returns Log-probabilities of `x`'s shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { logSoftmax } from "@denax/denax/nn";
 * const y = logSoftmax(np.array([1000, -1000]));
 * console.log(await y.toArray()); // [0, -2000]
 * const err = await y.sub([0, -2000]).abs().max().item();
 * if (Number(err) > 1e-3) throw new Error(`off by ${err}`);
 * const z = logSoftmax(np.zeros([1, 2]), { axis: 1 });
 * console.log(await z.toArray()); // [[-0.693…, -0.693…]]: ln ½
 * const diff = await z.sub([[-Math.LN2, -Math.LN2]]).abs().max().item();
 * if (Number(diff) > 1e-6) throw new Error(`off by ${diff}`);
 * ```
 */
export function logSoftmax(x: TensorLike, opts?: SoftmaxOptions): Tensor;
/** @deprecated pass `{ axis }` (as `jax.nn.log_softmax(x, axis=…)`); a bare axis is kept for old code. */
export function logSoftmax(x: TensorLike, axis: number | readonly number[]): Tensor;
export function logSoftmax(x: TensorLike, opts: SoftmaxOptions | Axis = {}): Tensor {
  const axis = _axisOf(opts);
  const t = _f(x);
  const m = np.stopGradient(np.max(t, { axis, keepdims: true }));
  const shifted = np.subtract(t, np.where(np.isfinite(m), m, 0));
  return np.subtract(shifted, np.log(np.sum(np.exp(shifted), { axis, keepdims: true })));
}

/** Options of {@link oneHot}. */
export interface OneHotOptions {
  /** Where the class axis goes in the result (default −1, the last). */
  axis?: number;
  /** The result dtype (default "f32"). */
  dtype?: DType;
}

/**
 * One-hot encoding, as `jax.nn.one_hot`: `out[..., c] = (labels[...] == c)`. Labels outside
 * `[0, numClasses)` (e.g. an ignore index of −100) give all-zero rows.
 *
 * @param labels Integer class indices of any shape.
 * @param numClasses The number of classes C.
 * @param opts `{ axis = −1, dtype = "f32" }`.
 * @returns `labels.shape` with an axis of size C inserted at `axis`.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { oneHot } from "@denax/denax/nn";
 * const y = oneHot(np.array([2, 0], "i32"), 3);
 * console.log(await y.toArray()); // [[0, 0, 1], [1, 0, 0]]
 * const err = await y.sub([[0, 0, 1], [1, 0, 0]]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function oneHot(labels: TensorLike, numClasses: number, opts: OneHotOptions = {}): Tensor {
  const l = np.asarray(labels);
  const nd = l.ndim + 1;
  const ax = opts.axis ?? -1;
  const a = ax < 0 ? ax + nd : ax;
  if (a < 0 || a >= nd) {
    throw new RangeError(
      `oneHot: axis ${ax} is out of range for ${l.aval} with a class axis added`,
    );
  }
  const shape = Array.from({ length: nd }, (_, i) => (i === a ? numClasses : 1));
  const classes = iota(l.dtype === "u32" ? "u32" : isFloat(l.dtype) ? "f32" : "i32", shape, a);
  return np.astype(np.equal(np.expandDims(l, a), classes), opts.dtype ?? "f32");
}

// ---------------------------------------------------------------- stochastic units

/** Options of {@link stochasticBinary}. */
export interface StochasticBinaryOptions {
  /** Whether the second argument holds logits z (P(s = 1) = σ(z)); default false: probabilities. */
  logits?: boolean;
  /**
   * The gradient: "straightThrough" (default) passes `∂s/∂p = 1` (Bengio et al. 2013's
   * straight-through estimator: the forward value is the sample, the backward pass is that
   * of `p`); "none" makes the sample a constant (zero gradient).
   */
  gradient?: "straightThrough" | "none";
}

/**
 * The stochastic binary neuron (seed S2 L409): `s ~ Bernoulli(p)` with `p` given directly or
 * as `σ(z)` from logits, sampled from an explicit key (`u < p` with `u ~ U[0, 1)`, as
 * `random.bernoulli`). The sample is f32 in {0, 1}. Its gradient is, by default, the
 * straight-through estimator `∂s/∂p := 1` (so with logits, `∂s/∂z = σ'(z)`); pass
 * `{ gradient: "none" }` for a zero gradient.
 *
 * @param key A PRNG key (`random.key(seed)`).
 * @param p Probabilities in [0, 1] (or logits with `{ logits: true }`), any shape.
 * @param opts `{ logits = false, gradient = "straightThrough" }`.
 * @returns f32 samples of `p`'s shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { stochasticBinary } from "@denax/denax/nn";
 * const s = stochasticBinary(random.key(0), np.array([0, 1, 0, 1]));
 * console.log(await s.toArray()); // [0, 1, 0, 1]
 * const err = await s.sub([0, 1, 0, 1]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function stochasticBinary(
  key: Tensor,
  p: TensorLike,
  opts: StochasticBinaryOptions = {},
): Tensor {
  const z = _f(p);
  const prob = opts.logits ? np.sigmoid(z) : z;
  const sample = np.astype(random.bernoulli(key, np.stopGradient(prob)), prob.dtype);
  const g = opts.gradient ?? "straightThrough";
  if (g === "none") return sample;
  if (g !== "straightThrough") {
    throw new TypeError(
      `stochasticBinary: gradient must be "straightThrough" or "none", got "${g}"`,
    );
  }
  // forward: sample + p − p = sample; backward: d/dp = 1
  return np.add(sample, np.subtract(prob, np.stopGradient(prob)));
}
