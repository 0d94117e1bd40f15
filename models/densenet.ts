/**
 * DenseNet (Huang, Liu, van der Maaten & Weinberger 2017, "Densely Connected Convolutional
 * Networks"; CATALOG M14: dense blocks whose layers see the concatenation of all earlier
 * feature maps, transition layers that halve the channels and the resolution; seed S4 §8.7),
 * in torchvision's structure: `densenet121().init` has exactly the keys and shapes of
 * `torchvision.models.densenet121().state_dict()`.
 *
 * | part                     | output (224 input) | densenet121 / 169 / 201 (k = 32)        |
 * | ------------------------ | ------------------ | --------------------------------------- |
 * | features.conv0/norm0     | 112×112            | 7×7 conv, 64, stride 2; BN; ReLU         |
 * | features.pool0           | 56×56              | 3×3 max pool, stride 2, padding 1        |
 * | features.denseblock1     | 56×56              | [BN-ReLU-1×1 conv 4k, BN-ReLU-3×3 conv k] × 6 |
 * | features.transition1     | 28×28              | BN-ReLU-1×1 conv (c/2), 2×2 avg pool /2  |
 * | features.denseblock2     | 28×28              | [ … ] × 12                               |
 * | features.transition2     | 14×14              | as transition1                           |
 * | features.denseblock3     | 14×14              | [ … ] × 24 / 32 / 48                     |
 * | features.transition3     | 7×7                | as transition1                           |
 * | features.denseblock4     | 7×7                | [ … ] × 16 / 32 / 32                     |
 * | features.norm5, head     | 1×1                | BN, ReLU, adaptive avg pool, `classifier` |
 *
 * Dense layer ℓ of a block computes `x_ℓ = H_ℓ([x_0, x_1, …, x_{ℓ−1}])` (channel
 * concatenation), so a block with c₀ input channels and L layers outputs c₀ + L·k channels.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { relu } from "../layers/activations.ts";
import { adaptiveAvgPool2d, avgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import { kaimingNormal, zeros } from "../layers/init.ts";
import type { AnyLayer, Params, State, StatefulLayer } from "../layers/layer.ts";
import { dropout, linear } from "../layers/linear.ts";
import { batchNorm2d } from "../layers/norm.ts";
import {
  _batched,
  _catChannels,
  _checkSpatial,
  type _Down,
  _module,
  _positive,
} from "./_blocks.ts";

/** Config of {@link densenet}. */
export interface DenseNetConfig {
  /** Channels each dense layer adds, k (default 32). */
  growthRate?: number;
  /** Dense layers per block (default `[6, 12, 24, 16]`, DenseNet-121). */
  blockConfig?: readonly number[];
  /** Channels of the stem conv (default 64). */
  numInitFeatures?: number;
  /** Bottleneck width factor: the 1×1 conv gives `bnSize·k` channels (default 4); `null`: no
   * bottleneck (BN-ReLU-3×3 conv only, as d2l's DenseNet). */
  bnSize?: number | null;
  /** Dropout after each dense layer in training (default 0). */
  dropRate?: number;
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** Convolutions with biases (default false; d2l's DenseNet has them). */
  convBias?: boolean;
  /** The model's name in errors. */
  name?: string;
}

/** Options of the named DenseNets. */
export type DenseNetOptions = Omit<
  DenseNetConfig,
  "growthRate" | "blockConfig" | "numInitFeatures"
>;

const convInit = kaimingNormal();

function _conv(cin: number, cout: number, k: number, s: number, p: number, bias: boolean) {
  return conv2d({
    inChannels: cin,
    outChannels: cout,
    kernelSize: k,
    stride: s,
    padding: p,
    bias,
    weightInit: convInit,
  });
}

function _denseLayer(
  path: string,
  cin: number,
  k: number,
  bnSize: number | null,
  rate: number,
  bias: boolean,
): AnyLayer {
  const drop = dropout({ rate });
  const children: Record<string, AnyLayer> = bnSize === null
    ? { norm1: batchNorm2d({ numFeatures: cin }), conv1: _conv(cin, k, 3, 1, 1, bias) }
    : {
      norm1: batchNorm2d({ numFeatures: cin }),
      conv1: _conv(cin, bnSize * k, 1, 1, 0, bias),
      norm2: batchNorm2d({ numFeatures: bnSize * k }),
      conv2: _conv(bnSize * k, k, 3, 1, 1, bias),
    };
  return _module(path, children, (call, x, opts) => {
    let y = call("conv1", relu(call("norm1", x)));
    if (bnSize !== null) y = call("conv2", relu(call("norm2", y)));
    return drop.apply({}, y, opts);
  });
}

interface _FeatCfg {
  inC: number;
  c0: number;
  k: number;
  blocks: readonly number[];
  bnSize: number | null;
  rate: number;
  bias: boolean;
}

/** torchvision's `features`: stem, dense blocks with transitions between them, final norm. */
function _features(
  model: string,
  { inC, c0, k, blocks, bnSize, rate, bias }: _FeatCfg,
): { features: AnyLayer; steps: _Down[]; c: number } {
  const steps: _Down[] = [
    { path: "features.conv0", what: "Conv2d 7×7, stride 2, padding 3", k: 7, s: 2, p: 3, c: c0 },
    { path: "features.pool0", what: "MaxPool2d 3×3, stride 2, padding 1", k: 3, s: 2, p: 1, c: c0 },
  ];
  const feats: Record<string, AnyLayer> = {
    conv0: _conv(inC, c0, 7, 2, 3, bias),
    norm0: batchNorm2d({ numFeatures: c0 }),
  };
  let c = c0;
  const order: string[] = [];
  blocks.forEach((n, i) => {
    const layers: Record<string, AnyLayer> = {};
    const names: string[] = [];
    for (let j = 0; j < n; j++) {
      const nm = `denselayer${j + 1}`;
      layers[nm] = _denseLayer(
        `${model}.features.denseblock${i + 1}.${nm}`,
        c + j * k,
        k,
        bnSize,
        rate,
        bias,
      );
      names.push(nm);
    }
    feats[`denseblock${i + 1}`] = _module(
      `${model}.features.denseblock${i + 1}`,
      layers,
      (call, x) => {
        const fs = [x];
        for (const nm of names) fs.push(call(nm, _catChannels(fs)));
        return _catChannels(fs);
      },
    );
    order.push(`denseblock${i + 1}`);
    c += n * k;
    if (i < blocks.length - 1) {
      const half = Math.floor(c / 2);
      const pool = avgPool2d({ kernelSize: 2, stride: 2 });
      const path = `${model}.features.transition${i + 1}`;
      feats[`transition${i + 1}`] = _module(path, {
        norm: batchNorm2d({ numFeatures: c }),
        conv: _conv(c, half, 1, 1, 0, bias),
      }, (call, x) => pool.apply({}, call("conv", relu(call("norm", x)))));
      steps.push({
        path: `features.transition${i + 1}.pool`,
        what: "AvgPool2d 2×2, stride 2",
        k: 2,
        s: 2,
        p: 0,
        c: half,
      });
      order.push(`transition${i + 1}`);
      c = half;
    }
  });
  feats[`norm${blocks.length + 1}`] = batchNorm2d({ numFeatures: c });
  const pool0 = maxPool2d({ kernelSize: 3, stride: 2, padding: 1 });
  const features = _module(`${model}.features`, feats, (call, x) => {
    let y = pool0.apply({}, relu(call("norm0", call("conv0", x))));
    for (const nm of order) y = call(nm, y);
    return call(`norm${blocks.length + 1}`, y);
  });
  return { features, steps, c };
}

/**
 * A DenseNet of any configuration (Huang et al. 2017) in torchvision's structure (see the
 * module doc): `features` = conv0, norm0, relu, pool0, then `denseblock{i}` (with
 * `denselayer{j}` children: norm1, conv1 1×1 to `bnSize·k`, norm2, conv2 3×3 to k) and
 * `transition{i}` (norm, conv 1×1 to half the channels, 2×2 average pool) between blocks,
 * and `norm5`; then ReLU, adaptive average pooling to 1×1 and `classifier`.
 *
 * Input f32[N, C, H, W] (or [C, H, W]); output f32[N, numClasses]. The input must survive
 * the 2 + (blocks − 1) halvings (at least 29×29 for four blocks); a smaller one is a
 * TypeError naming the model, the layer and the shapes. Init as torchvision: Kaiming-normal
 * convs, BN weight 1 and bias 0, classifier bias 0.
 *
 * @param config `{ growthRate = 32, blockConfig = [6, 12, 24, 16], numInitFeatures = 64,
 *   bnSize = 4, dropRate = 0, numClasses = 1000, inChannels = 3, convBias = false, name }`.
 * @returns A stateful layer: `apply(params, x, { state, train, key }) → { y, state }` (`key`
 *   for dropout when `dropRate > 0` in training).
 * @throws {RangeError} For a malformed config.
 * @throws {TypeError} From `apply`, for a wrong input shape or an input too small.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { densenet } from "@denax/denax/models";
 *
 * const net = densenet({ growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8,
 *   inChannels: 1, numClasses: 10 });
 * const { y } = net.apply(net.init(random.key(0)), np.ones([2, 1, 28, 28]),
 *   { state: net.initState() });
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function densenet(config: DenseNetConfig = {}): StatefulLayer<Params, State> {
  const k0 = config.growthRate ?? 32;
  const blocks = config.blockConfig ?? [6, 12, 24, 16];
  const init0 = config.numInitFeatures ?? 64;
  const model = config.name ?? `densenet(k=${k0}, [${blocks}])`;
  const k = _positive(model, "growthRate", k0);
  if (!Array.isArray(blocks) || blocks.length === 0) {
    throw new RangeError(`${model}: blockConfig must list the layers of at least one block`);
  }
  blocks.forEach((n, i) => _positive(model, `blockConfig[${i}]`, n));
  const c0 = _positive(model, "numInitFeatures", init0);
  const bnSize = config.bnSize === undefined ? 4 : config.bnSize;
  if (bnSize !== null) _positive(model, "bnSize", bnSize);
  const rate = config.dropRate ?? 0;
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`${model}: dropRate must be in [0, 1), got ${rate}`);
  }
  const inC = _positive(model, "inChannels", config.inChannels ?? 3);
  const classes = _positive(model, "numClasses", config.numClasses ?? 1000);
  const bias = config.convBias ?? false;
  const { features, steps, c } = _features(model, { inC, c0, k, blocks, bnSize, rate, bias });
  const avg = adaptiveAvgPool2d({ outputSize: 1 });
  const cFinal = c;
  const net = _module(model, {
    features,
    classifier: linear({ inFeatures: cFinal, outFeatures: classes, biasInit: zeros }),
  }, (call, x) => {
    _checkSpatial(model, x, steps);
    const y = avg.apply({}, relu(call("features", x)));
    return call("classifier", np.reshape(y, [y.shape[0], cFinal]));
  });
  return {
    ...net,
    apply: (params, x, opts = {}) =>
      _batched(model, x, inC, (x4: Tensor) => net.apply(params, x4, opts)),
  };
}

/**
 * DenseNet-121 (k = 32, blocks `[6, 12, 24, 16]`, 64 initial features; 8.0M params),
 * torchvision's `densenet121()`. See {@link densenet}.
 *
 * @param opts `{ numClasses = 1000, inChannels = 3, bnSize, dropRate, convBias }`.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { densenet121 } from "@denax/denax/models";
 * const { name } = densenet121();
 * console.log(name); // densenet121
 * if (name !== "densenet121") throw new Error(`got ${name}`);
 * ```
 */
export function densenet121(opts: DenseNetOptions = {}): StatefulLayer<Params, State> {
  return densenet({ name: "densenet121", ...opts, growthRate: 32, blockConfig: [6, 12, 24, 16] });
}

/**
 * DenseNet-169 (k = 32, blocks `[6, 12, 32, 32]`), torchvision's `densenet169()`.
 *
 * @param opts `{ numClasses = 1000, inChannels = 3, bnSize, dropRate, convBias }`.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { densenet169 } from "@denax/denax/models";
 * const { name } = densenet169();
 * console.log(name); // densenet169
 * if (name !== "densenet169") throw new Error(`got ${name}`);
 * ```
 */
export function densenet169(opts: DenseNetOptions = {}): StatefulLayer<Params, State> {
  return densenet({ name: "densenet169", ...opts, growthRate: 32, blockConfig: [6, 12, 32, 32] });
}

/**
 * DenseNet-201 (k = 32, blocks `[6, 12, 48, 32]`), torchvision's `densenet201()`.
 *
 * @param opts `{ numClasses = 1000, inChannels = 3, bnSize, dropRate, convBias }`.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { densenet201 } from "@denax/denax/models";
 * const { name } = densenet201();
 * console.log(name); // densenet201
 * if (name !== "densenet201") throw new Error(`got ${name}`);
 * ```
 */
export function densenet201(opts: DenseNetOptions = {}): StatefulLayer<Params, State> {
  return densenet({ name: "densenet201", ...opts, growthRate: 32, blockConfig: [6, 12, 48, 32] });
}

/**
 * d2l's DenseNet for Fashion-MNIST (Dive into Deep Learning §8.7; seed S4 §8.7): 64 stem
 * channels, growth 32, four blocks of 4 layers, each layer BN-ReLU-3×3 conv with no
 * bottleneck, biased convolutions, transitions halving the channels; one input channel and
 * 10 classes (d2l trains it on 96×96 resized images). Names follow torchvision (each layer's
 * `norm1`, `conv1`).
 *
 * @param opts overrides, e.g. `{ growthRate: 8, numInitFeatures: 16 }` for a smaller net.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { d2lDenseNet } from "@denax/denax/models";
 *
 * const net = d2lDenseNet({ growthRate: 4, numInitFeatures: 8 });
 * const { y } = net.apply(net.init(random.key(0)), np.ones([2, 1, 32, 32]),
 *   { state: net.initState() });
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function d2lDenseNet(opts: DenseNetConfig = {}): StatefulLayer<Params, State> {
  return densenet({
    name: "d2lDenseNet",
    growthRate: 32,
    blockConfig: [4, 4, 4, 4],
    numInitFeatures: 64,
    bnSize: null,
    convBias: true,
    inChannels: 1,
    numClasses: 10,
    ...opts,
  });
}
