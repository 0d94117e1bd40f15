/**
 * Generative adversarial networks [M41, M42]: d2l's MLP GAN (§20.1) and DCGAN (§20.2), and a
 * jitted training step for both players (discriminator first, then the generator with the
 * non-saturating loss).
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { jit, type Jitted, valueAndGrad } from "../core/transforms.ts";
import { sequential } from "../layers/combinators.ts";
import type { LayerLike } from "../layers/combinators.ts";
import { conv2d, convTranspose2d } from "../layers/conv.ts";
import {
  type AnyLayer,
  type ApplyOptions,
  isStateful,
  type Layer,
  type Params,
  type State,
  type StatefulLayer,
} from "../layers/layer.ts";
import { linear } from "../layers/linear.ts";
import { _splitKeys } from "../layers/_util.ts";
import { bceWithLogits } from "../layers/losses.ts";
import { batchNorm2d } from "../layers/norm.ts";
import { applyUpdates, type GradientTransformation } from "../optim/transform.ts";
import {
  _act,
  _checked,
  _checkImageShape,
  _checkPositive,
  type Activation,
  type ImageShape,
} from "./_common.ts";

/** A GAN: a generator (noise → data) and a discriminator (data → one logit per example). */
export interface Gan<G extends AnyLayer = AnyLayer, D extends AnyLayer = AnyLayer> {
  /** Maps noise f32[N, ...noiseShape] to data f32[N, ...dataShape]. */
  readonly generator: G;
  /** Maps data f32[N, ...dataShape] to logits f32[N] (real vs fake). */
  readonly discriminator: D;
  /** The shape of one noise vector, e.g. `[2]` or `[100, 1, 1]`. */
  readonly noiseShape: readonly number[];
}

/** Config of {@link mlpGan}. */
export interface MlpGanConfig {
  /** Noise dimension (default 2, as d2l). */
  latentDim?: number;
  /** Data dimension (default 2). */
  dataDim?: number;
  /** Hidden widths of the generator (default none: G is affine, as d2l's `Linear(2, 2)`). */
  generatorHidden?: readonly number[];
  /** Hidden widths of the discriminator (default d2l's `[5, 3]`). */
  discriminatorHidden?: readonly number[];
  /** Hidden activation (default "tanh", as d2l). */
  activation?: Activation;
}

function _mlpStack(sizes: readonly number[], act: (x: Tensor) => Tensor): Layer {
  const ls: LayerLike[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    ls.push(linear({ inFeatures: sizes[i], outFeatures: sizes[i + 1] }));
    if (i + 2 < sizes.length) ls.push(act);
  }
  return sequential(ls) as unknown as Layer;
}

/**
 * d2l's MLP GAN [M41] (S3 §10 L99–111, S4 §20.1 L1556–1611; Goodfellow et al. 2014): a
 * generator MLP from noise `z ~ N(0, I)` to data, and a discriminator MLP to one logit,
 * `D(x) = σ(logit)`. They play `min_G max_D E_x[log D(x)] + E_z[log(1 − D(G(z)))]`; train them
 * with {@link makeGanStep}. d2l's defaults: `G = Linear(2, 2)` (it learns an affine map of a
 * Gaussian), `D = Linear(2, 5) tanh Linear(5, 3) tanh Linear(3, 1)`.
 *
 * Params of each player: the `nn.Sequential`'s (`0.weight`, `2.weight`, …).
 *
 * @param config `{ latentDim = 2, dataDim = 2, generatorHidden = [],
 *   discriminatorHidden = [5, 3], activation = "tanh" }`.
 * @returns The GAN (`generator`, `discriminator`, `noiseShape`).
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { mlpGan } from "@denax/denax/models";
 *
 * const { generator: g, discriminator: d } = mlpGan();
 * const fake = g.apply(g.init(random.key(0)), random.normal(random.key(1), [4, 2]));
 * const score = d.apply(d.init(random.key(2)), fake);
 * console.log(String(fake), String(score)); // Tensor(f32[4,2]) Tensor(f32[4])
 * if (`${fake} ${score}` !== "Tensor(f32[4,2]) Tensor(f32[4])") throw new Error(`got ${score}`);
 * ```
 */
export function mlpGan(config: MlpGanConfig = {}): Gan<Layer, Layer> {
  const model = "mlpGan";
  const zd = _checkPositive(model, "latentDim", config.latentDim ?? 2);
  const xd = _checkPositive(model, "dataDim", config.dataDim ?? 2);
  const act = _act(config.activation ?? "tanh");
  const g = _mlpStack([zd, ...(config.generatorHidden ?? []), xd], act);
  const dStack = _mlpStack([xd, ...(config.discriminatorHidden ?? [5, 3]), 1], act);
  const d: Layer = {
    name: `MLPGAN.D(${xd})`,
    init: (k: Tensor) => dStack.init(k),
    apply: (p: Params, x: Tensor, o?: ApplyOptions) => {
      const y = dStack.apply(p, x, o);
      return np.reshape(y, y.shape.slice(0, -1));
    },
  };
  return { generator: g, discriminator: d, noiseShape: [zd] };
}

/** Config of {@link dcgan}. */
export interface DcganConfig {
  /** Noise dimension (default 100). */
  latentDim?: number;
  /** Image `[C, H, W]` (default `[3, 64, 64]`); H = W, divisible by 2^stages. */
  imageShape?: ImageShape;
  /** Width unit: the generator's last hidden stage and the discriminator's first (default 64). */
  features?: number;
  /**
   * Number of stride-2 stages (default: as many as keep the base size `H / 2^stages` ≥ 4 and
   * integral, at most 4 — 4 for 64×64, base 4; 2 for 28×28, base 7).
   */
  stages?: number;
}

/**
 * DCGAN [M42] (Radford et al. 2016; S4 §20.2 L1613–1638) as d2l: the generator upsamples
 * noise `z` f32[N, latent, 1, 1] with transposed convolutions, batch norm and ReLU to a tanh
 * image; the discriminator downsamples with strided convolutions, batch norm and LeakyReLU(0.2)
 * to a single logit. For a 64×64 image (f = features, b = 4 the base size):
 *
 * ```text
 * G: 0 [ConvT(latent, 8f, b, 1, 0) BN ReLU]  → [8f, 4, 4]
 *    1 [ConvT(8f, 4f, 4, 2, 1) BN ReLU] 2 [ConvT(4f, 2f, …)] 3 [ConvT(2f, f, …)] → [f, 32, 32]
 *    4 ConvT(f, C, 4, 2, 1)  5 tanh                                              → [C, 64, 64]
 * D: 0 [Conv(C, f, 4, 2, 1) BN LeakyReLU(0.2)] 1 [Conv(f, 2f, …)] 2 [… 4f] 3 [… 8f] → [8f, 4, 4]
 *    4 Conv(8f, 1, b, 1, 0) → [1, 1, 1] → logit f32[N]
 * ```
 *
 * (convolutions without bias, as d2l). With `stages` k the image side is `b·2^k`; both players
 * are stateful (batch norm): `initState()`, `apply(params, x, { state, train }) → { y, state }`.
 * The generator takes z as f32[N, latent, 1, 1] (`noiseShape`).
 *
 * @param config `{ latentDim = 100, imageShape = [3, 64, 64], features = 64, stages }`.
 * @returns The GAN.
 * @throws {RangeError} For a non-square image or a side not divisible by 2^stages (the
 *   message names the model, the stage and the sizes).
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { dcgan } from "@denax/denax/models";
 *
 * const { generator: g, noiseShape } = dcgan({ latentDim: 16, imageShape: [1, 28, 28], features: 4 });
 * const z = random.normal(random.key(1), [2, ...noiseShape]); // f32[2,16,1,1]
 * const { y } = g.apply(g.init(random.key(0)), z, { state: g.initState(), train: true });
 * console.log(String(y)); // Tensor(f32[2,1,28,28])
 * if (String(y) !== "Tensor(f32[2,1,28,28])") throw new Error(`got ${y}`);
 * ```
 */
export function dcgan(config: DcganConfig = {}): Gan<StatefulLayer, StatefulLayer> {
  const model = "dcgan";
  const zd = _checkPositive(model, "latentDim", config.latentDim ?? 100);
  const shape = _checkImageShape(model, config.imageShape ?? [3, 64, 64]);
  const f = _checkPositive(model, "features", config.features ?? 64);
  const side = shape[1];
  if (shape[2] !== side) {
    throw new RangeError(`${model}: the image must be square, got imageShape [${shape}]`);
  }
  let k = config.stages ?? 0;
  if (config.stages === undefined) {
    while (k < 4 && side % 2 ** (k + 1) === 0 && side / 2 ** (k + 1) >= 4) k++;
  }
  _checkPositive(model, "stages", k);
  if (side % 2 ** k !== 0) {
    throw new RangeError(
      `${model}: G layer ${k - 1} ConvTranspose2d(stride 2) and D layer 0 Conv2d(stride 2): ` +
        `an image side of ${side} (imageShape [${shape}]) is not divisible by 2^${k} = ${2 ** k}` +
        `\nhelp: choose stages so that side / 2^stages is an integer`,
    );
  }
  return {
    generator: _dcganGenerator(zd, shape, f, k),
    discriminator: _dcganDiscriminator(shape, f, k),
    noiseShape: [zd, 1, 1],
  };
}

/** DCGAN's generator: k upsampling stages from z [latent, 1, 1] to a tanh image. */
function _dcganGenerator(zd: number, shape: ImageShape, f: number, k: number): StatefulLayer {
  const base = shape[1] / 2 ** k;
  const width = (i: number) => f * 2 ** (k - 1 - i); // output width of stage i
  const relu = _act("relu");
  const block = (i: number, o: number, ks: number, s: number, p: number) =>
    sequential([
      convTranspose2d({
        inChannels: i,
        outChannels: o,
        kernelSize: ks,
        stride: s,
        padding: p,
        bias: false,
      }),
      batchNorm2d({ numFeatures: o }),
      relu,
    ]);
  const gl: LayerLike[] = [block(zd, width(0), base, 1, 0)];
  for (let i = 1; i < k; i++) gl.push(block(width(i - 1), width(i), 4, 2, 1));
  gl.push(
    convTranspose2d({
      inChannels: width(k - 1),
      outChannels: shape[0],
      kernelSize: 4,
      stride: 2,
      padding: 1,
      bias: false,
    }),
    np.tanh,
  );
  const net = sequential(gl);
  const name = `DCGAN.G(${zd} → [${shape}])`;
  return _checked(name, net, (z: Tensor) => {
    if (z.ndim < 4 || z.shape.slice(-3).join() !== [zd, 1, 1].join()) {
      throw new TypeError(`${name} expects noise [..., ${zd}, 1, 1], got ${z.aval}`);
    }
  });
}

/** DCGAN's discriminator: k strided stages, then a base×base conv to one logit per image. */
function _dcganDiscriminator(shape: ImageShape, f: number, k: number): StatefulLayer {
  const base = shape[1] / 2 ** k;
  const lrelu = _act("leakyRelu");
  const dl: LayerLike[] = [];
  let cin = shape[0];
  for (let i = 0; i < k; i++) {
    const o = f * 2 ** i;
    dl.push(
      sequential([
        conv2d({
          inChannels: cin,
          outChannels: o,
          kernelSize: 4,
          stride: 2,
          padding: 1,
          bias: false,
        }),
        batchNorm2d({ numFeatures: o }),
        lrelu,
      ]),
    );
    cin = o;
  }
  dl.push(
    conv2d({ inChannels: cin, outChannels: 1, kernelSize: base, bias: false }),
    (x: Tensor) => np.reshape(x, x.shape.slice(0, -3)),
  );
  const name = `DCGAN.D([${shape}])`;
  return _checked(name, sequential(dl), (x: Tensor) => {
    if (x.ndim < 3 || x.shape.slice(-3).join() !== shape.join()) {
      throw new TypeError(`${name} expects images [..., ${shape.join(", ")}], got ${x.aval}`);
    }
  });
}

// ---------------------------------------------------------------- training

/** The training state of both players. */
export interface GanState {
  /** Generator parameters. */
  g: Params;
  /** Discriminator parameters. */
  d: Params;
  /** Generator model state (batch norm; `null` when stateless). */
  gState: State;
  /** Discriminator model state. */
  dState: State;
  /** Generator optimizer state. */
  optG: unknown;
  /** Discriminator optimizer state. */
  optD: unknown;
}

/** The result of one {@link makeGanStep} step. */
export interface GanStepResult {
  /** The updated state (use it; the one passed in was donated). */
  state: GanState;
  /** The discriminator's loss before its update, `½[BCE(D(x), 1) + BCE(D(G(z)), 0)]`. */
  lossD: Tensor;
  /** The generator's non-saturating loss after D's update, `BCE(D(G(z)), 1)`. */
  lossG: Tensor;
}

/**
 * The initial {@link GanState}: parameters from `key`, model states, optimizer states.
 *
 * @param gan The GAN.
 * @param optG The generator's optimizer.
 * @param optD The discriminator's optimizer.
 * @param key The PRNG key for both players' parameters.
 * @returns The state.
 * @example
 * ```ts
 * import { optim, random } from "@denax/denax";
 * import { initGanState, mlpGan } from "@denax/denax/models";
 *
 * const s = initGanState(mlpGan(), optim.adam({ lr: 0.05 }), optim.adam({ lr: 0.005 }), random.key(0));
 * const keys = Object.keys(s).join();
 * console.log(keys); // g,d,gState,dState,optG,optD
 * if (keys !== "g,d,gState,dState,optG,optD") throw new Error(`got ${keys}`);
 * ```
 */
export function initGanState(
  gan: Gan,
  optG: GradientTransformation<unknown>,
  optD: GradientTransformation<unknown>,
  key: Tensor,
): GanState {
  const [kg, kd] = _splitKeys(key, 2);
  const g = gan.generator.init(kg), d = gan.discriminator.init(kd);
  const st = (l: AnyLayer) => (isStateful(l) ? l.initState() : null);
  return {
    g,
    d,
    gState: st(gan.generator),
    dState: st(gan.discriminator),
    optG: optG.init(g),
    optD: optD.init(d),
  };
}

/** Applies a player in training mode; returns `[y, newState]`. */
function _run(l: AnyLayer, p: Params, s: State, x: Tensor, key: Tensor): [Tensor, State] {
  if (isStateful(l)) {
    const r = l.apply(p, x, { state: s, train: true, key });
    return [r.y, r.state];
  }
  return [l.apply(p, x, { train: true, key }), null];
}

/**
 * Makes the jitted GAN training step (S3 §10, S4 §20.1): for a batch of real data x and noise
 * `z ~ N(0, I)` drawn from `key`,
 *
 * 1. the discriminator ascends `E[log D(x)] + E[log(1 − D(G(z)))]`, i.e. descends
 *    `lossD = ½[BCE(D(x), 1) + BCE(D(G(z)), 0)]` with G(z) held fixed (`stopGradient`);
 * 2. then the generator descends the **non-saturating** loss `lossG = BCE(D'(G(z)), 1) =
 *    −E[log D'(G(z))]` against the updated discriminator D' (it maximizes `log D(G(z))` rather
 *    than minimizing `log(1 − D(G(z)))`, whose gradient vanishes while D wins).
 *
 * Both players run in training mode (batch statistics; running statistics threaded through
 * the returned state, as d2l). The whole step is one `jit` program; the state is donated.
 *
 * @param gan The GAN.
 * @param optG The generator's optimizer.
 * @param optD The discriminator's optimizer.
 * @returns `step(state, real, key) → { state, lossD, lossG }`.
 * @example
 * ```ts
 * import { optim, random } from "@denax/denax";
 * import { initGanState, makeGanStep, mlpGan } from "@denax/denax/models";
 *
 * const gan = mlpGan();
 * const optG = optim.adam({ lr: 0.005 }), optD = optim.adam({ lr: 0.05 });
 * const step = makeGanStep(gan, optG, optD);
 * let state = initGanState(gan, optG, optD, random.key(0));
 * const real = random.normal(random.key(1), [8, 2]).add(2);
 * const r = step(state, real, random.key(2));
 * state = r.state;
 * console.log(String(r.lossD), String(r.lossG)); // Tensor(f32[]) Tensor(f32[])
 * if (`${r.lossD} ${r.lossG}` !== "Tensor(f32[]) Tensor(f32[])") throw new Error(`got ${r.lossD} ${r.lossG}`);
 * ```
 */
export function makeGanStep(
  gan: Gan,
  optG: GradientTransformation<unknown>,
  optD: GradientTransformation<unknown>,
): Jitted<(state: GanState, real: Tensor, key: Tensor) => GanStepResult> {
  const G = gan.generator, D = gan.discriminator;
  const ganStep = (s: GanState, real: Tensor, key: Tensor): GanStepResult => {
    const n = real.shape[0];
    const [kz, kg1, kd1, kd2, kg2, kd3] = _splitKeys(key, 6);
    const z = random.normal(kz, [n, ...gan.noiseShape]);
    const [fake, gState1] = _run(G, s.g, s.gState, z, kg1);
    const fakeFixed = np.stopGradient(fake);
    const lossDFn = (dp: Params) => {
      const [yReal, ds1] = _run(D, dp, s.dState, real, kd1);
      const [yFake, ds2] = _run(D, dp, ds1, fakeFixed, kd2);
      const l = bceWithLogits(yReal, np.onesLike(yReal)).add(
        bceWithLogits(yFake, np.zerosLike(yFake)),
      ).mul(0.5);
      return [l, ds2];
    };
    const [[lossD, dState1], gD] = valueAndGrad(lossDFn, { hasAux: true })(s.d);
    const [uD, optDState] = optD.update(gD, s.optD, s.d);
    const d = applyUpdates(s.d, uD);
    const lossGFn = (gp: Params) => {
      const [f, gs] = _run(G, gp, gState1, z, kg2);
      const [y, ds] = _run(D, d, dState1, f, kd3);
      return [bceWithLogits(y, np.onesLike(y)), { gs, ds }];
    };
    const [[lossG, { gs, ds }], gG] = valueAndGrad(lossGFn, { hasAux: true })(s.g);
    const [uG, optGState] = optG.update(gG, s.optG, s.g);
    return {
      state: {
        g: applyUpdates(s.g, uG),
        d,
        gState: gs,
        dState: ds,
        optG: optGState,
        optD: optDState,
      },
      lossD,
      lossG,
    };
  };
  return jit(ganStep, { donateArgnums: [0] });
}
