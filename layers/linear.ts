/**
 * Dense layers and the small parameterless ones: `linear`, `flatten`, `dropout`,
 * `identityLayer`.
 *
 * Parameters follow PyTorch's names and layouts (`weight` [out, in], `bias` [out]) and its
 * default initialization, so a PyTorch `state_dict` maps onto the pytree name for name.
 *
 * @module
 */
import { checkOptions } from "../core/validate.ts";
import * as np from "../core/numpy.ts";
import { dotGeneral } from "../core/prims/linalg.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Initializer } from "./init.ts";
import type { Layer } from "./layer.ts";
import { _checkTrailing, _fanInUniform, _float, _splitKeys, _torchDefaultInit } from "./_util.ts";

/** An empty parameter pytree (layers without parameters). */
export type NoParams = Record<string, never>;

// ---------------------------------------------------------------- linear

/** Config of {@link linear}. */
export interface LinearConfig {
  /** Size of the last input dimension. */
  inFeatures: number;
  /** Size of the last output dimension. */
  outFeatures: number;
  /** Whether to add a learned bias (default true). */
  bias?: boolean;
  /** Initializer of `weight` [out, in] (default PyTorch's, `U(−1/√in, 1/√in)`). */
  weightInit?: Initializer;
  /** Initializer of `bias` [out] (default PyTorch's, `U(−1/√in, 1/√in)`). */
  biasInit?: Initializer;
}

/** Parameters of {@link linear}: `weight` f32[out, in], `bias` f32[out] (absent without bias). */
export interface LinearParams {
  /** f32[outFeatures, inFeatures]. */
  weight: Tensor;
  /** f32[outFeatures]. */
  bias?: Tensor;
}

const _LINEAR_KEYS: ReadonlySet<string> = new Set([
  "inFeatures",
  "outFeatures",
  "bias",
  "weightInit",
  "biasInit",
]);

/**
 * A fully connected layer, PyTorch's `nn.Linear`: `y = x Wᵀ + b`.
 *
 * Input f32[...batch, inFeatures] (any number of leading dimensions, including none), output
 * f32[...batch, outFeatures]. Params `{ weight: [out, in], bias: [out] }`, initialized as
 * PyTorch does: `W, b ~ U(−1/√in, 1/√in)` (`kaimingUniform({ a: √5 })` for the weight), unless
 * `weightInit`/`biasInit` (initializers of `./init.ts`) are given.
 *
 * @param config `{ inFeatures, outFeatures, bias = true, weightInit, biasInit }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, when the last input dimension is not `inFeatures`.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { linear } from "@denax/denax/nn";
 *
 * const fc = linear({ inFeatures: 3, outFeatures: 2 });
 * const params = fc.init(random.key(0)); // { weight: f32[2,3], bias: f32[2] }
 * const y = fc.apply(params, np.ones([5, 3]));
 * console.log(String(y)); // Tensor(f32[5,2])
 * if (String(y) !== "Tensor(f32[5,2])") throw new Error(`got ${y}`);
 * ```
 */
export function linear(config: LinearConfig): Layer<LinearParams> {
  checkOptions("nn.linear", config, _LINEAR_KEYS);
  const { inFeatures, outFeatures } = config;
  const useBias = config.bias ?? true;
  const name = `Linear(${inFeatures} → ${outFeatures})`;
  return {
    name,
    init(key: Tensor): LinearParams {
      const [kw, kb] = _splitKeys(key, 2);
      const weight = (config.weightInit ?? _torchDefaultInit)(kw, [outFeatures, inFeatures]);
      if (!useBias) return { weight };
      const bias = config.biasInit
        ? config.biasInit(kb, [outFeatures])
        : _fanInUniform(kb, [outFeatures], inFeatures);
      return { weight, bias };
    },
    apply(params: LinearParams, x: Tensor): Tensor {
      _checkTrailing(name, x, [inFeatures]);
      const xf = _float(x);
      // contract x's last axis with the weight's `in` axis: [..., in] · [out, in] → [..., out]
      const y = dotGeneral(xf, params.weight, {
        contracting: [[xf.ndim - 1], [1]],
        batch: [[], []],
      });
      return params.bias ? y.add(params.bias) : y;
    },
  };
}

// ---------------------------------------------------------------- flatten

/** Config of {@link flatten}. */
export interface FlattenConfig {
  /** First dimension to flatten (default 1, as PyTorch; negative counts from the end). */
  startDim?: number;
  /** Last dimension to flatten, inclusive (default −1). */
  endDim?: number;
}

const _FLATTEN_KEYS: ReadonlySet<string> = new Set(["startDim", "endDim"]);

/**
 * Flattens dimensions `startDim..endDim` (inclusive) into one, PyTorch's `nn.Flatten`:
 * f32[N, C, H, W] → f32[N, C·H·W] with the defaults `startDim = 1, endDim = −1`.
 *
 * Under `vmap` the mapped axis is invisible, so count from the end instead (`startDim: −3`
 * flattens [C, H, W] both with and without a leading batch).
 *
 * @param config `{ startDim = 1, endDim = −1 }`.
 * @returns A layer without parameters.
 * @throws {RangeError} From `apply`, when the dimensions are out of range or in the wrong order.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { flatten } from "@denax/denax/nn";
 *
 * const f = flatten();
 * const y = f.apply({}, np.ones([2, 3, 4, 5]));
 * console.log(String(y)); // Tensor(f32[2,60])
 * if (String(y) !== "Tensor(f32[2,60])") throw new Error(`got ${y}`);
 * ```
 */
export function flatten(config: FlattenConfig = {}): Layer<NoParams> {
  checkOptions("nn.flatten", config, _FLATTEN_KEYS);
  const startDim = config.startDim ?? 1, endDim = config.endDim ?? -1;
  const name = `Flatten(${startDim}, ${endDim})`;
  return {
    name,
    init: () => ({}),
    apply(_params: NoParams, x: Tensor): Tensor {
      const nd = Math.max(x.ndim, 1);
      const s = startDim < 0 ? startDim + nd : startDim, e = endDim < 0 ? endDim + nd : endDim;
      if (s < 0 || s >= nd || e < 0 || e >= nd || s > e) {
        throw new RangeError(
          `${name} cannot flatten dimensions ${startDim}..${endDim} of ${x.aval}`,
        );
      }
      if (x.ndim === 0) return np.reshape(x, [1]);
      const shape = x.shape;
      const mid = shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
      return np.reshape(x, [...shape.slice(0, s), mid, ...shape.slice(e + 1)]);
    },
  };
}

// ---------------------------------------------------------------- dropout

/** Config of {@link dropout}. */
export interface DropoutConfig {
  /** Probability of zeroing an element (PyTorch's `p`), in [0, 1]. Default 0.5. */
  rate?: number;
}

const _DROPOUT_KEYS: ReadonlySet<string> = new Set(["rate"]);

/**
 * Inverted dropout, PyTorch's `nn.Dropout`: in training each element is zeroed with
 * probability `rate` and the survivors are scaled by `1 / (1 − rate)`, so the expected output
 * equals the input; in evaluation (the default, `train: false`) it is the identity.
 *
 * Training needs a PRNG key (`apply(params, x, { train: true, key })`); the mask is
 * `random.bernoulli(key, 1 − rate, x.shape)`, so the same key gives the same mask.
 *
 * @param config `{ rate = 0.5 }`.
 * @returns A layer without parameters.
 * @throws {RangeError} When `rate` is outside [0, 1].
 * @throws {TypeError} From `apply`, when `train` is set without a `key`.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { dropout } from "@denax/denax/nn";
 *
 * const drop = dropout({ rate: 0.5 });
 * const x = np.ones([4]);
 * const y = drop.apply({}, x, { train: true, key: random.key(1) }); // entries 0 or 2
 * const kept = await drop.apply({}, x).toArray(); // evaluation: the identity
 * console.log(kept, await y.toArray()); // [1, 1, 1, 1] and entries 0 or 2
 * if (JSON.stringify(kept) !== "[1,1,1,1]") throw new Error(`got ${kept}`);
 * if ((await y.data()).some((v) => v !== 0 && v !== 2)) throw new Error("entries not 0 or 2");
 * ```
 */
export function dropout(config: DropoutConfig = {}): Layer<NoParams> {
  checkOptions("nn.dropout", config, _DROPOUT_KEYS);
  const rate = config.rate ?? 0.5;
  if (!(rate >= 0 && rate <= 1)) {
    throw new RangeError(`dropout: rate must be in [0, 1], got ${rate}`);
  }
  const name = `Dropout(${rate})`;
  return {
    name,
    init: () => ({}),
    apply(_params: NoParams, x: Tensor, opts = {}): Tensor {
      if (!opts.train || rate === 0) return x;
      if (!opts.key) {
        throw new TypeError(
          `${name} needs a PRNG key in training mode\n` +
            `help: pass apply(params, x, { train: true, key: random.key(seed) })`,
        );
      }
      const xf = _float(x);
      if (rate === 1) return np.zerosLike(xf);
      const keep = random.bernoulli(opts.key, 1 - rate, xf.shape);
      return np.where(keep, xf.div(1 - rate), 0);
    },
  };
}

// ---------------------------------------------------------------- identity

/**
 * The identity layer, PyTorch's `nn.Identity` (named `identityLayer` beside the `identity`
 * activation): returns its input unchanged (a placeholder, or
 * the default shortcut of `residual`).
 *
 * @returns A layer without parameters.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { identityLayer } from "@denax/denax/nn";
 *
 * const y = identityLayer().apply({}, np.array([1, 2]));
 * console.log(await y.toArray()); // [1, 2]
 * const err = await y.sub([1, 2]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function identityLayer(): Layer<NoParams> {
  return { name: "Identity", init: () => ({}), apply: (_p: NoParams, x: Tensor) => x };
}
