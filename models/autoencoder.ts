/**
 * Autoencoders [M36, M38, M40]: the dense and the convolutional autoencoder, their denoising
 * variant (noise added to the input in training), and the variational autoencoder with its
 * reparameterisation and loss.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { sequential } from "../layers/combinators.ts";
import type { LayerLike } from "../layers/combinators.ts";
import { conv2d, convTranspose2d } from "../layers/conv.ts";
import type { ApplyOptions, Layer, Params } from "../layers/layer.ts";
import { linear } from "../layers/linear.ts";
import { _float, _splitKeys } from "../layers/_util.ts";
import { binaryCrossEntropy } from "../layers/losses.ts";
import {
  _act,
  _checkImageShape,
  _checkPositive,
  type Activation,
  type ImageShape,
} from "./_common.ts";

const _fmt = (s: readonly number[]): string => `[${s.join(", ")}]`;

/** The corruption of a denoising autoencoder [M38]. */
export type Noise =
  | { kind: "gaussian"; std: number }
  | { kind: "masking"; rate: number };

/**
 * Corrupts `x` for a denoising autoencoder [M38] (S2 L1280): `"gaussian"` adds `std · ε`,
 * `ε ~ N(0, 1)`; `"masking"` zeroes each entry with probability `rate` (no rescaling: the
 * network learns to fill in what is missing).
 *
 * @param x Any shape.
 * @param noise The corruption.
 * @param key The PRNG key.
 * @returns The corrupted f32 tensor of `x`'s shape.
 * @throws {RangeError} For a negative std or a rate outside [0, 1].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { corrupt } from "@denax/denax/models";
 *
 * const y = corrupt(np.ones([2, 3]), { kind: "masking", rate: 0.5 }, random.key(0));
 * console.log(String(y)); // Tensor(f32[2,3]) with entries 0 or 1
 * if (String(y) !== "Tensor(f32[2,3])") throw new Error(`got ${y}`);
 * ```
 */
export function corrupt(x: Tensor, noise: Noise, key: Tensor): Tensor {
  const xf = _float(x);
  if (noise.kind === "gaussian") {
    if (!(noise.std >= 0)) throw new RangeError(`corrupt: std must be ≥ 0, got ${noise.std}`);
    return xf.add(random.normal(key, xf.shape).mul(noise.std));
  }
  if (!(noise.rate >= 0 && noise.rate <= 1)) {
    throw new RangeError(`corrupt: rate must be in [0, 1], got ${noise.rate}`);
  }
  return np.where(random.bernoulli(key, 1 - noise.rate, xf.shape), xf, 0);
}

/** Parameters of the autoencoders: `{ encoder, decoder }` (each a `sequential`'s array). */
export interface AutoencoderParams {
  /** The encoder's parameters. */
  encoder: Params;
  /** The decoder's parameters. */
  decoder: Params;
}

/** An autoencoder: a layer `x ↦ decode(encode(x))` with its two halves exposed. */
export interface Autoencoder extends Layer<AutoencoderParams> {
  /** The code (bottleneck) of `x`. */
  encode(params: AutoencoderParams, x: Tensor): Tensor;
  /** The reconstruction from a code. */
  decode(params: AutoencoderParams, z: Tensor): Tensor;
}

/** Applies a denoising corruption in training (key required), then encode and decode. */
function _aeApply(
  name: string,
  noise: Noise | undefined,
  encode: (p: AutoencoderParams, x: Tensor) => Tensor,
  decode: (p: AutoencoderParams, z: Tensor) => Tensor,
): (p: AutoencoderParams, x: Tensor, opts?: ApplyOptions) => Tensor {
  return (p, x, opts = {}) => {
    let xin = x;
    if (noise && opts.train) {
      if (!opts.key) {
        throw new TypeError(
          `${name} (denoising) needs a PRNG key in training mode\n` +
            `help: pass apply(params, x, { train: true, key })`,
        );
      }
      xin = corrupt(x, noise, opts.key);
    }
    return decode(p, encode(p, xin));
  };
}

/** Config of {@link autoencoder}. */
export interface AutoencoderConfig {
  /** Encoder widths, input first, code last (`[784, 128, 32]`); the decoder mirrors them. */
  sizes: readonly number[];
  /** Shape of one example when it is not a vector (e.g. `[1, 28, 28]`; ∏ = sizes[0]). */
  inputShape?: readonly number[];
  /** Hidden activation (default "relu"). */
  activation?: Activation;
  /** Output activation (default "sigmoid", for data in [0, 1]; "identity" for real data). */
  outputActivation?: Activation;
  /** Input corruption in training: a denoising autoencoder [M38] (default none). */
  noise?: Noise;
}

/**
 * The dense autoencoder [M36] (S2 §11 L1255–1285, S0 §2): an encoder MLP to a bottleneck code
 * and a mirrored decoder MLP back, trained to reconstruct its input — MSE for continuous data,
 * binary cross-entropy for data in [0, 1]. Uses: dimensionality reduction, pre-training,
 * denoising, anomaly detection by reconstruction error ({@link reconstructionError}).
 *
 * ```text
 * encoder: Linear(d₀, d₁) g … Linear(d_{k−1}, d_k)        (linear code of size d_k)
 * decoder: Linear(d_k, d_{k−1}) g … Linear(d₁, d₀) out    (out = sigmoid by default)
 * ```
 *
 * With `noise` it is the denoising autoencoder [M38]: in training (`{ train: true, key }`)
 * the input is corrupted ({@link corrupt}) before encoding, and the loss compares the output
 * with the clean input. Input f32[..., d₀] (or f32[..., ...inputShape]), output of the same
 * shape. Params `{ encoder: [...], decoder: [...] }` (`encoder.0.weight`, …).
 *
 * @param config `{ sizes, inputShape, activation = "relu", outputActivation = "sigmoid",
 *   noise }`.
 * @returns The autoencoder (`apply`, `encode`, `decode`).
 * @throws {RangeError} For fewer than two sizes or an `inputShape` whose size is not sizes[0].
 * @throws {TypeError} From `apply`, for an input of another shape, or training with noise and
 *   no key.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { autoencoder } from "@denax/denax/models";
 *
 * const ae = autoencoder({ sizes: [784, 64, 8], inputShape: [1, 28, 28] });
 * const params = ae.init(random.key(0));
 * const x = np.zeros([2, 1, 28, 28]);
 * const z = ae.encode(params, x), y = ae.apply(params, x);
 * console.log(String(z), String(y)); // Tensor(f32[2,8]) Tensor(f32[2,1,28,28])
 * if (`${z} ${y}` !== "Tensor(f32[2,8]) Tensor(f32[2,1,28,28])") throw new Error(`got ${z} ${y}`);
 * ```
 */
export function autoencoder(config: AutoencoderConfig): Autoencoder {
  const model = "autoencoder", sizes = config.sizes;
  if (!Array.isArray(sizes) || sizes.length < 2) {
    throw new RangeError(`${model}: sizes needs an input and a code width, got ${_fmt(sizes)}`);
  }
  sizes.forEach((v) => _checkPositive(model, "sizes", v));
  const shape = config.inputShape ?? [sizes[0]];
  if (shape.reduce((a, b) => a * b, 1) !== sizes[0]) {
    throw new RangeError(
      `${model}: inputShape ${_fmt(shape)} does not have sizes[0] = ${sizes[0]} values`,
    );
  }
  const act = _act(config.activation ?? "relu"), out = _act(config.outputActivation ?? "sigmoid");
  const half = (ws: readonly number[], last: ((x: Tensor) => Tensor) | null) => {
    const ls: LayerLike[] = [];
    for (let i = 0; i + 1 < ws.length; i++) {
      ls.push(linear({ inFeatures: ws[i], outFeatures: ws[i + 1] }));
      if (i + 2 < ws.length) ls.push(act);
      else if (last) ls.push(last);
    }
    return sequential(ls) as unknown as Layer;
  };
  const enc = half(sizes, null), dec = half([...sizes].reverse(), out);
  const name = `Autoencoder(${sizes.join(" → ")})${config.noise ? " denoising" : ""}`;
  const encode = (p: AutoencoderParams, x: Tensor): Tensor => {
    const t = x.shape.slice(x.ndim - shape.length);
    if (x.ndim < shape.length || t.some((v, i) => v !== shape[i])) {
      throw new TypeError(`${name} expects input [..., ${shape.join(", ")}], got ${x.aval}`);
    }
    const lead = x.shape.slice(0, x.ndim - shape.length);
    return enc.apply(p.encoder, np.reshape(x, [...lead, sizes[0]]));
  };
  const decode = (p: AutoencoderParams, z: Tensor): Tensor => {
    const y = dec.apply(p.decoder, z);
    return np.reshape(y, [...y.shape.slice(0, -1), ...shape]);
  };
  return {
    name,
    init(key: Tensor): AutoencoderParams {
      const [ke, kd] = _splitKeys(key, 2);
      return { encoder: enc.init(ke), decoder: dec.init(kd) };
    },
    apply: _aeApply(name, config.noise, encode, decode),
    encode,
    decode,
  };
}

/** Config of {@link convAutoencoder}. */
export interface ConvAutoencoderConfig {
  /** Input `[C, H, W]`; H and W must be divisible by 2^(number of stages). */
  inputShape: ImageShape;
  /** Channels of the stride-2 encoder stages (default `[16, 32]`); the decoder mirrors them. */
  channels?: readonly number[];
  /** Hidden activation (default "relu"). */
  activation?: Activation;
  /** Output activation (default "sigmoid"). */
  outputActivation?: Activation;
  /** Input corruption in training: a denoising autoencoder [M38] (default none). */
  noise?: Noise;
}

/**
 * The convolutional autoencoder [M36]: stride-2 3×3 convolutions halve the feature map at each
 * encoder stage; stride-2 transposed convolutions (kernel 3, padding 1, output padding 1)
 * double it back in the decoder:
 *
 * ```text
 * encoder: Conv2d(C, c₁, 3, s2, p1) g … Conv2d(c_{k−1}, c_k, 3, s2, p1) g   → [c_k, H/2^k, W/2^k]
 * decoder: ConvT(c_k, c_{k−1}, 3, s2, p1, op1) g … ConvT(c₁, C, 3, s2, p1, op1) out
 * ```
 *
 * `noise` makes it a denoising autoencoder [M38] as for {@link autoencoder}. Input and output
 * f32[..., C, H, W]; params `{ encoder: [...], decoder: [...] }`.
 *
 * @param config `{ inputShape, channels = [16, 32], activation = "relu",
 *   outputActivation = "sigmoid", noise }`.
 * @returns The autoencoder (`apply`, `encode`, `decode`).
 * @throws {RangeError} When H or W is not divisible by 2^stages (the message names the stage).
 * @throws {TypeError} From `apply`, for an input other than [..., C, H, W].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { convAutoencoder } from "@denax/denax/models";
 *
 * const ae = convAutoencoder({ inputShape: [1, 28, 28], channels: [8, 16] });
 * const params = ae.init(random.key(0));
 * const x = np.zeros([2, 1, 28, 28]);
 * const z = ae.encode(params, x), y = ae.apply(params, x);
 * console.log(String(z), String(y)); // Tensor(f32[2,16,7,7]) Tensor(f32[2,1,28,28])
 * if (`${z} ${y}` !== "Tensor(f32[2,16,7,7]) Tensor(f32[2,1,28,28])") throw new Error(`got ${z}`);
 * ```
 */
export function convAutoencoder(config: ConvAutoencoderConfig): Autoencoder {
  const model = "convAutoencoder";
  const shape = _checkImageShape(model, config.inputShape);
  const chans = config.channels ?? [16, 32];
  if (chans.length < 1) throw new RangeError(`${model}: channels needs at least one stage`);
  chans.forEach((v) => _checkPositive(model, "channels", v));
  let [h, w] = [shape[1], shape[2]];
  chans.forEach((c, i) => {
    if (h % 2 !== 0 || w % 2 !== 0) {
      throw new RangeError(
        `${model}: encoder.${2 * i} Conv2d(→ ${c}, kernel 3, stride 2) receives a ${h}×${w} ` +
          `feature map (input ${_fmt(shape)}); H and W must be divisible by 2^${chans.length} ` +
          `so the decoder restores them\nhelp: use fewer channels stages or pad the input`,
      );
    }
    h /= 2, w /= 2;
  });
  const act = _act(config.activation ?? "relu"), out = _act(config.outputActivation ?? "sigmoid");
  const all = [shape[0], ...chans];
  const encL: LayerLike[] = [], decL: LayerLike[] = [];
  for (let i = 0; i < chans.length; i++) {
    encL.push(
      conv2d({ inChannels: all[i], outChannels: all[i + 1], kernelSize: 3, stride: 2, padding: 1 }),
      act,
    );
  }
  for (let i = chans.length; i > 0; i--) {
    decL.push(
      convTranspose2d({
        inChannels: all[i],
        outChannels: all[i - 1],
        kernelSize: 3,
        stride: 2,
        padding: 1,
        outputPadding: 1,
      }),
      i > 1 ? act : out,
    );
  }
  const enc = sequential(encL) as unknown as Layer, dec = sequential(decL) as unknown as Layer;
  const name = `ConvAutoencoder(${_fmt(shape)} → ${chans.join("-")})${
    config.noise ? " denoising" : ""
  }`;
  const encode = (p: AutoencoderParams, x: Tensor): Tensor => {
    const t = x.shape.slice(-3);
    if (x.ndim < 3 || t.some((v, i) => v !== shape[i])) {
      throw new TypeError(`${name} expects input [..., ${shape.join(", ")}], got ${x.aval}`);
    }
    return enc.apply(p.encoder, x);
  };
  const decode = (p: AutoencoderParams, z: Tensor): Tensor => dec.apply(p.decoder, z);
  return {
    name,
    init(key: Tensor): AutoencoderParams {
      const [ke, kd] = _splitKeys(key, 2);
      return { encoder: enc.init(ke), decoder: dec.init(kd) };
    },
    apply: _aeApply(name, config.noise, encode, decode),
    encode,
    decode,
  };
}

/**
 * The per-example reconstruction error `mean((decode(encode(x)) − x)²)` over each example's
 * values, for anomaly detection [M36]: examples unlike the training data reconstruct worse.
 *
 * @param ae The autoencoder.
 * @param params Its parameters.
 * @param x A batch f32[N, ...] of the autoencoder's input shape.
 * @returns f32[N].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { autoencoder, reconstructionError } from "@denax/denax/models";
 *
 * const ae = autoencoder({ sizes: [4, 2] });
 * const err = reconstructionError(ae, ae.init(random.key(0)), np.ones([3, 4]));
 * console.log(String(err)); // Tensor(f32[3])
 * if (String(err) !== "Tensor(f32[3])") throw new Error(`got ${err}`);
 * ```
 */
export function reconstructionError(ae: Autoencoder, params: AutoencoderParams, x: Tensor): Tensor {
  const d = ae.apply(params, x).sub(x);
  const axes = [...Array(x.ndim - 1).keys()].map((i) => i + 1);
  return d.mul(d).mean({ axis: axes });
}

// ---------------------------------------------------------------- VAE [M40]

/** Config of {@link vae}. */
export interface VaeConfig {
  /** Encoder hidden widths, input first (`[784, 256]`); the decoder mirrors them. */
  sizes: readonly number[];
  /** Latent dimension. */
  latent: number;
  /** Shape of one example when it is not a vector (∏ = sizes[0]). */
  inputShape?: readonly number[];
  /** Hidden activation (default "relu"). */
  activation?: Activation;
  /** Output activation (default "sigmoid": Bernoulli means for data in [0, 1]). */
  outputActivation?: Activation;
}

/** Parameters of {@link vae}. */
export interface VaeParams {
  /** The shared encoder trunk. */
  encoder: Params;
  /** The head giving μ. */
  mu: Params;
  /** The head giving log σ². */
  logvar: Params;
  /** The decoder. */
  decoder: Params;
}

/** The output of a VAE's `apply`. */
export interface VaeOutput {
  /** The reconstruction, of the input's shape. */
  recon: Tensor;
  /** The posterior means f32[..., latent]. */
  mu: Tensor;
  /** The posterior log-variances f32[..., latent]. */
  logvar: Tensor;
  /** The latent code used: `μ + σ·ε` when sampled, else μ. */
  z: Tensor;
}

/** A variational autoencoder: `apply` returns {@link VaeOutput}; `encode`, `decode`, `sample`. */
export interface Vae extends Layer<VaeParams, Tensor, VaeOutput> {
  /** μ and log σ² of q(z | x). */
  encode(params: VaeParams, x: Tensor): { mu: Tensor; logvar: Tensor };
  /** The decoder's output for codes z f32[..., latent]. */
  decode(params: VaeParams, z: Tensor): Tensor;
  /** Decodes `n` draws of the prior `z ~ N(0, I)`. */
  sample(params: VaeParams, key: Tensor, n: number): Tensor;
}

/**
 * The variational autoencoder [M40] (Kingma & Welling 2014; named only in the seeds, S0 L78,
 * S2 L2193, so the formulas are the paper's): the encoder gives the parameters of a diagonal
 * Gaussian posterior `q(z | x) = N(μ, diag σ²)` (two linear heads, μ and log σ², on a shared
 * MLP trunk); the reparameterisation `z = μ + σ·ε, ε ~ N(0, I)` with an explicit key keeps the
 * sample differentiable in μ and σ; the decoder maps z back to the data space. Train with
 * {@link vaeLoss} (the negative ELBO).
 *
 * `apply(params, x, { train, key })` samples z when a key is given (required with
 * `train: true`), else uses z = μ; it returns `{ recon, mu, logvar, z }`. Params
 * `{ encoder, mu, logvar, decoder }`.
 *
 * @param config `{ sizes, latent, inputShape, activation = "relu", outputActivation = "sigmoid" }`.
 * @returns The VAE.
 * @throws {RangeError} For an empty `sizes`, a non-positive latent size, or a mismatched
 *   `inputShape`.
 * @throws {TypeError} From `apply`, for another input shape or `train` without a key.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { vae, vaeLoss } from "@denax/denax/models";
 *
 * const m = vae({ sizes: [784, 128], latent: 8, inputShape: [1, 28, 28] });
 * const params = m.init(random.key(0));
 * const x = random.uniform(random.key(1), [2, 1, 28, 28]);
 * const out = m.apply(params, x, { train: true, key: random.key(2) });
 * const loss = vaeLoss(out, x);
 * console.log(String(out.recon), String(out.mu), String(loss)); // Tensor(f32[2,1,28,28]) Tensor(f32[2,8]) Tensor(f32[])
 * const shown = `${out.recon} ${out.mu} ${loss}`;
 * if (shown !== "Tensor(f32[2,1,28,28]) Tensor(f32[2,8]) Tensor(f32[])") throw new Error(shown);
 * ```
 */
export function vae(config: VaeConfig): Vae {
  const model = "vae", sizes = config.sizes;
  if (!Array.isArray(sizes) || sizes.length < 1) {
    throw new RangeError(`${model}: sizes needs at least the input width, got ${_fmt(sizes)}`);
  }
  sizes.forEach((v) => _checkPositive(model, "sizes", v));
  const latent = _checkPositive(model, "latent", config.latent);
  const shape = config.inputShape ?? [sizes[0]];
  if (shape.reduce((a, b) => a * b, 1) !== sizes[0]) {
    throw new RangeError(
      `${model}: inputShape ${_fmt(shape)} does not have sizes[0] = ${sizes[0]} values`,
    );
  }
  const act = _act(config.activation ?? "relu"), out = _act(config.outputActivation ?? "sigmoid");
  const trunk: LayerLike[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    trunk.push(linear({ inFeatures: sizes[i], outFeatures: sizes[i + 1] }), act);
  }
  const h = sizes[sizes.length - 1];
  const rev = [latent, ...[...sizes].reverse()];
  const decL: LayerLike[] = [];
  for (let i = 0; i + 1 < rev.length; i++) {
    decL.push(
      linear({ inFeatures: rev[i], outFeatures: rev[i + 1] }),
      i + 2 < rev.length ? act : out,
    );
  }
  const enc = sequential(trunk) as unknown as Layer, dec = sequential(decL) as unknown as Layer;
  const muL = linear({ inFeatures: h, outFeatures: latent });
  const lvL = linear({ inFeatures: h, outFeatures: latent });
  const name = `VAE(${sizes.join(" → ")} → ${latent})`;
  const encode = (p: VaeParams, x: Tensor) => {
    const t = x.shape.slice(x.ndim - shape.length);
    if (x.ndim < shape.length || t.some((v, i) => v !== shape[i])) {
      throw new TypeError(`${name} expects input [..., ${shape.join(", ")}], got ${x.aval}`);
    }
    const lead = x.shape.slice(0, x.ndim - shape.length);
    const hid = enc.apply(p.encoder, np.reshape(_float(x), [...lead, sizes[0]]));
    return { mu: muL.apply(p.mu, hid), logvar: lvL.apply(p.logvar, hid) };
  };
  const decode = (p: VaeParams, z: Tensor) => {
    const y = dec.apply(p.decoder, z);
    return np.reshape(y, [...y.shape.slice(0, -1), ...shape]);
  };
  return {
    name,
    init(key: Tensor): VaeParams {
      const [k1, k2, k3, k4] = _splitKeys(key, 4);
      return {
        encoder: enc.init(k1),
        mu: muL.init(k2),
        logvar: lvL.init(k3),
        decoder: dec.init(k4),
      };
    },
    apply(p: VaeParams, x: Tensor, opts: ApplyOptions = {}): VaeOutput {
      if (opts.train && !opts.key) {
        throw new TypeError(
          `${name} needs a PRNG key in training mode (the reparameterisation draws ε)\n` +
            `help: pass apply(params, x, { train: true, key })`,
        );
      }
      const { mu, logvar } = encode(p, x);
      const z = opts.key
        ? mu.add(np.exp(logvar.mul(0.5)).mul(random.normal(opts.key, mu.shape)))
        : mu;
      return { recon: decode(p, z), mu, logvar, z };
    },
    encode,
    decode,
    sample: (p, key, n) => decode(p, random.normal(key, [n, latent])),
  };
}

/**
 * The KL divergence of the VAE's posterior from the prior, per example:
 * `KL(N(μ, σ²) ‖ N(0, I)) = −½ Σⱼ (1 + log σⱼ² − μⱼ² − σⱼ²)`.
 *
 * @param mu f32[..., latent].
 * @param logvar f32[..., latent].
 * @returns f32[...] (summed over the latent axis).
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { vaeKl } from "@denax/denax/models";
 *
 * const y = vaeKl(np.array([[0, 0], [1, 0]]), np.zeros([2, 2]));
 * console.log(await y.toArray()); // [0, 0.5]
 * const err = await y.sub([0, 0.5]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function vaeKl(mu: Tensor, logvar: Tensor): Tensor {
  return np.add(logvar, 1).sub(mu.mul(mu)).sub(np.exp(logvar)).sum({ axis: -1 }).mul(-0.5);
}

/** Options of {@link vaeLoss}. */
export interface VaeLossOptions {
  /** `"bce"` (default; data in [0, 1], sigmoid outputs) or `"mse"` (squared error). */
  reconstruction?: "bce" | "mse";
  /** Weight of the KL term (default 1: the ELBO; β-VAE otherwise). */
  beta?: number;
}

/**
 * The VAE loss, the negative ELBO averaged over the batch:
 * `mean_n [ Σ_pixels ℓ(recon, x) + β · KL(q(z | x) ‖ N(0, I)) ]` with ℓ the binary
 * cross-entropy (or the squared error) summed over each example's values and the KL of
 * {@link vaeKl}.
 *
 * @param out The VAE's output for `x`.
 * @param x The input batch f32[N, ...].
 * @param opts `{ reconstruction = "bce", beta = 1 }`.
 * @returns f32[].
 * @throws {TypeError} When the reconstruction's shape differs from x's.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { vaeLoss } from "@denax/denax/models";
 *
 * const x = np.array([[1, 0]]);
 * const out = { recon: np.array([[0.5, 0.5]]), mu: np.zeros([1, 2]), logvar: np.zeros([1, 2]), z: np.zeros([1, 2]) };
 * const v = await vaeLoss(out, x).item();
 * console.log(v); // 2·ln 2 ≈ 1.3862944
 * if (Math.abs(Number(v) - 2 * Math.LN2) > 1e-6) throw new Error(`got ${v}`);
 * ```
 */
export function vaeLoss(out: VaeOutput, x: Tensor, opts: VaeLossOptions = {}): Tensor {
  if (out.recon.shape.join() !== x.shape.join()) {
    throw new TypeError(`vaeLoss: recon ${out.recon.aval} and x ${x.aval} differ in shape`);
  }
  const xf = _float(x);
  const per = opts.reconstruction === "mse"
    ? out.recon.sub(xf).mul(out.recon.sub(xf))
    : binaryCrossEntropy(out.recon, xf, { reduction: "none" });
  const klN = vaeKl(out.mu, out.logvar);
  const n = klN.size;
  return per.sum().div(n).add(klN.mean().mul(opts.beta ?? 1));
}
