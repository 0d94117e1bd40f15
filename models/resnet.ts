/**
 * ResNet (He, Zhang, Ren & Sun 2016, "Deep Residual Learning for Image Recognition"; CATALOG
 * M13: H(x) = F(x) + x, blocks of 2–3 convs with BN + ReLU and an identity shortcut; seed S0 §4,
 * S4 §8.6), in torchvision's structure, so `resnet18().init` has exactly the keys and shapes of
 * `torchvision.models.resnet18().state_dict()` and a converted torchvision checkpoint loads
 * with `train.loadTorchStateDict` and gives the same logits.
 *
 * | stage   | output (224 input) | resnet18/34 (basic)      | resnet50/101/152 (bottleneck)           |
 * | ------- | ------------------ | ------------------------ | --------------------------------------- |
 * | conv1   | 112×112            | 7×7, 64, stride 2, BN, ReLU                                          |
 * | maxpool | 56×56              | 3×3 max, stride 2, padding 1                                         |
 * | layer1  | 56×56              | [3×3, 64; 3×3, 64] × 2/3 | [1×1, 64; 3×3, 64; 1×1, 256] × 3/3/3     |
 * | layer2  | 28×28              | [3×3, 128] ×2 per block, × 2/4 | [1×1, 128; 3×3, 128; 1×1, 512] × 4/4/8 |
 * | layer3  | 14×14              | [3×3, 256] ×2, × 2/6     | [1×1, 256; 3×3, 256; 1×1, 1024] × 6/23/36 |
 * | layer4  | 7×7                | [3×3, 512] ×2, × 2/3     | [1×1, 512; 3×3, 512; 1×1, 2048] × 3/3/3  |
 * | head    | 1×1                | adaptive average pool, `fc` Linear(512·e → classes)                   |
 *
 * A block computes `y = ReLU(F(x) + shortcut(x))`; the shortcut is the identity, or
 * `downsample` = 1×1 conv (stride s) + BN when the stride or the width changes. Strides sit on
 * the first block of layer2–4 (on the 3×3 conv of a bottleneck, "ResNet v1.5", as torchvision).
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { relu } from "../layers/activations.ts";
import { adaptiveAvgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import { kaimingNormal } from "../layers/init.ts";
import type { AnyLayer, Params, State, StatefulLayer } from "../layers/layer.ts";
import { linear } from "../layers/linear.ts";
import { batchNorm2d } from "../layers/norm.ts";
import { _batched, _checkSpatial, type _Down, _module, _positive } from "./_blocks.ts";

/** Config of {@link resnet}. */
export interface ResNetConfig {
  /** `"basic"` (two 3×3 convs, expansion 1) or `"bottleneck"` (1×1, 3×3, 1×1; expansion 4). */
  block: "basic" | "bottleneck";
  /** Blocks per stage, e.g. `[2, 2, 2, 2]` for ResNet-18 (any number of stages ≥ 1). */
  layers: readonly number[];
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Input channels (default 3; 1 for Fashion-MNIST). */
  inChannels?: number;
  /** Stem width, torchvision's `inplanes` (default 64). */
  stemWidth?: number;
  /** `planes` per stage (default `64·2^i`: 64, 128, 256, 512). */
  widths?: readonly number[];
  /** Groups of the bottleneck's 3×3 conv (default 1; ResNeXt uses 32). */
  groups?: number;
  /** torchvision's `width_per_group` (default 64; 128 for wide ResNets). */
  widthPerGroup?: number;
  /** Zero the last BN weight of each block, so blocks start as identities (default false). */
  zeroInitResidual?: boolean;
  /** Convolutions with biases (default false; d2l's ResNet has them). */
  convBias?: boolean;
  /** Batch norm after the shortcut's 1×1 conv (default true; d2l's ResNet has none). */
  shortcutNorm?: boolean;
  /** The model's name in errors (default from the block and layers, e.g. "resnet18"). */
  name?: string;
}

/** Options of the named ResNets ({@link resnet18} …). */
export type ResNetOptions = Omit<ResNetConfig, "block" | "layers">;

const KNOWN: Record<string, string> = {
  "basic:2,2,2,2": "resnet18",
  "basic:3,4,6,3": "resnet34",
  "bottleneck:3,4,6,3": "resnet50",
  "bottleneck:3,4,23,3": "resnet101",
  "bottleneck:3,8,36,3": "resnet152",
};

interface _Geom {
  basic: boolean;
  bias: boolean;
  shortcutNorm: boolean;
  groups: number;
  widthPerGroup: number;
  zeroInit: boolean;
}

// torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu") for every conv
const convInit = kaimingNormal({ mode: "fanOut", nonlinearity: "relu" });

function _conv(cin: number, cout: number, k: number, s: number, g: _Geom, groups = 1): AnyLayer {
  return conv2d({
    inChannels: cin,
    outChannels: cout,
    kernelSize: k,
    stride: s,
    padding: (k - 1) / 2,
    groups,
    bias: g.bias,
    weightInit: convInit,
  });
}

function _bn(c: number, zero = false): AnyLayer {
  const bn = batchNorm2d({ numFeatures: c });
  if (!zero) return bn;
  return { ...bn, init: () => ({ weight: np.zeros([c]), bias: np.zeros([c]) }) };
}

function _block(
  g: _Geom,
  path: string,
  cin: number,
  planes: number,
  stride: number,
): [StatefulLayer<Params, State>, number] {
  const basic = g.basic;
  const exp = basic ? 1 : 4;
  const cout = planes * exp;
  const children: Record<string, AnyLayer> = {};
  if (basic) {
    children.conv1 = _conv(cin, planes, 3, stride, g);
    children.bn1 = _bn(planes);
    children.conv2 = _conv(planes, planes, 3, 1, g);
    children.bn2 = _bn(planes, g.zeroInit);
  } else {
    const width = Math.floor(planes * (g.widthPerGroup / 64)) * g.groups;
    children.conv1 = _conv(cin, width, 1, 1, g);
    children.bn1 = _bn(width);
    children.conv2 = _conv(width, width, 3, stride, g, g.groups);
    children.bn2 = _bn(width);
    children.conv3 = _conv(width, cout, 1, 1, g);
    children.bn3 = _bn(cout, g.zeroInit);
  }
  const down = stride !== 1 || cin !== cout;
  if (down) {
    const proj = _conv(cin, cout, 1, stride, g);
    children.downsample = _module(
      `${path}.downsample`,
      g.shortcutNorm ? [proj, _bn(cout)] : [proj],
      (call, x) => (g.shortcutNorm ? call(1, call(0, x)) : call(0, x)),
    );
  }
  const layer = _module(path, children, (call, x) => {
    let y = relu(call("bn1", call("conv1", x)));
    y = call("bn2", call("conv2", y));
    if (!basic) y = call("bn3", call("conv3", relu(y)));
    return relu(y.add(down ? call("downsample", x) : x));
  });
  return [layer, cout];
}

/** Checks a ResNet config; returns the model name, widths, sizes and block geometry. */
function _resnetConfig(config: ResNetConfig) {
  const layers = config.layers;
  const model = config.name ?? KNOWN[`${config.block}:${layers}`] ??
    `resnet(${config.block}, [${layers}])`;
  if (config.block !== "basic" && config.block !== "bottleneck") {
    throw new RangeError(
      `${model}: block must be "basic" or "bottleneck", got ${JSON.stringify(config.block)}`,
    );
  }
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new RangeError(`${model}: layers must list the blocks of at least one stage`);
  }
  layers.forEach((n, i) => _positive(model, `layers[${i}]`, n));
  const widths = config.widths ?? layers.map((_, i) => 64 * 2 ** i);
  if (widths.length !== layers.length) {
    throw new RangeError(
      `${model}: widths has ${widths.length} entries but layers has ${layers.length} stages`,
    );
  }
  widths.forEach((w, i) => _positive(model, `widths[${i}]`, w));
  const g: _Geom = {
    basic: config.block === "basic",
    bias: config.convBias ?? false,
    shortcutNorm: config.shortcutNorm ?? true,
    groups: _positive(model, "groups", config.groups ?? 1),
    widthPerGroup: _positive(model, "widthPerGroup", config.widthPerGroup ?? 64),
    zeroInit: config.zeroInitResidual ?? false,
  };
  if (g.basic && (g.groups !== 1 || g.widthPerGroup !== 64)) {
    throw new RangeError(
      `${model}: basic blocks only support groups = 1 and widthPerGroup = 64 (as torchvision), ` +
        `got groups ${g.groups}, widthPerGroup ${g.widthPerGroup}`,
    );
  }
  return {
    model,
    layers,
    widths,
    g,
    inC: _positive(model, "inChannels", config.inChannels ?? 3),
    classes: _positive(model, "numClasses", config.numClasses ?? 1000),
    stem: _positive(model, "stemWidth", config.stemWidth ?? 64),
  };
}

/**
 * A ResNet of any depth (He et al. 2016) in torchvision's structure (see the module doc for
 * the table): stem conv1 7×7/2 + bn1 + ReLU + maxpool 3×3/2, stages `layer1…layerK` of basic
 * or bottleneck blocks, adaptive average pooling to 1×1, `fc`.
 *
 * Input f32[N, C, H, W] (or one example [C, H, W]), any H, W ≥ 1; output f32[N, numClasses].
 * Params and state use torchvision's `state_dict` names (`conv1.weight`, `bn1.weight`,
 * `layer1[0].conv1.weight`, `layer2[0].downsample[1].weight`, `fc.weight`; the state tree
 * holds `running_mean`, `running_var`, `num_batches_tracked` of every BN). Init as
 * torchvision: Kaiming-normal (fan-out, ReLU) convs, BN weight 1 and bias 0, PyTorch's
 * default Linear init for `fc`.
 *
 * @param config `{ block, layers, numClasses = 1000, inChannels = 3, stemWidth = 64,
 *   widths = [64, 128, 256, 512], groups = 1, widthPerGroup = 64, zeroInitResidual = false,
 *   convBias = false, shortcutNorm = true, name }`.
 * @returns A stateful layer: `apply(params, x, { state, train }) → { y, state }`.
 * @throws {RangeError} For a malformed config (naming the model and the field).
 * @throws {TypeError} From `apply`, for an input that is not [N, C, H, W] with the configured C.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { resnet } from "@denax/denax/models";
 *
 * const net = resnet({ block: "basic", layers: [1, 1], widths: [8, 16], stemWidth: 8,
 *   inChannels: 1, numClasses: 10 });
 * const { y } = net.apply(net.init(random.key(0)), np.ones([2, 1, 28, 28]),
 *   { state: net.initState() });
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function resnet(config: ResNetConfig): StatefulLayer<Params, State> {
  const { model, layers, widths, g, inC, classes, stem } = _resnetConfig(config);
  const steps: _Down[] = [
    { path: "conv1", what: "Conv2d 7×7, stride 2, padding 3", k: 7, s: 2, p: 3, c: stem },
    { path: "maxpool", what: "MaxPool2d 3×3, stride 2, padding 1", k: 3, s: 2, p: 1, c: stem },
  ];
  const children: Record<string, AnyLayer> = {
    conv1: _conv(inC, stem, 7, 2, g),
    bn1: _bn(stem),
  };
  let cin = stem;
  layers.forEach((n, i) => {
    const blocks: AnyLayer[] = [];
    for (let b = 0; b < n; b++) {
      const stride = i > 0 && b === 0 ? 2 : 1;
      const [blk, cout] = _block(g, `${model}.layer${i + 1}[${b}]`, cin, widths[i], stride);
      if (stride > 1) {
        steps.push({
          path: `layer${i + 1}.0`,
          what: "3×3 conv, stride 2",
          k: 3,
          s: 2,
          p: 1,
          c: cout,
        });
      }
      blocks.push(blk);
      cin = cout;
    }
    children[`layer${i + 1}`] = _module(`${model}.layer${i + 1}`, blocks, (call, x) => {
      for (let b = 0; b < n; b++) x = call(b, x);
      return x;
    });
  });
  children.fc = linear({ inFeatures: cin, outFeatures: classes });
  const pool = maxPool2d({ kernelSize: 3, stride: 2, padding: 1 });
  const avg = adaptiveAvgPool2d({ outputSize: 1 });
  const net = _module(model, children, (call, x) => {
    _checkSpatial(model, x, steps);
    let y = pool.apply({}, relu(call("bn1", call("conv1", x))));
    for (let i = 0; i < layers.length; i++) y = call(`layer${i + 1}`, y);
    y = np.reshape(avg.apply({}, y), [y.shape[0], cin]);
    return call("fc", y);
  });
  return {
    ...net,
    apply: (params, x, opts = {}) => _batched(model, x, inC, (x4) => net.apply(params, x4, opts)),
  };
}

/**
 * ResNet-18 (basic blocks, `[2, 2, 2, 2]`, 11.7M params at 1000 classes), torchvision's
 * `resnet18()`. See {@link resnet}.
 *
 * @param opts `{ numClasses = 1000, inChannels = 3, … }` (the fields of {@link resnet}).
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { resnet18 } from "@denax/denax/models";
 *
 * const net = resnet18({ numClasses: 10, inChannels: 1, stemWidth: 8, widths: [8, 8, 8, 8] });
 * const { y } = net.apply(net.init(random.key(0)), np.ones([1, 1, 32, 32]),
 *   { state: net.initState() });
 * console.log(String(y)); // Tensor(f32[1,10])
 * if (String(y) !== "Tensor(f32[1,10])") throw new Error(`got ${y}`);
 * ```
 */
export function resnet18(opts: ResNetOptions = {}): StatefulLayer<Params, State> {
  return resnet({ ...opts, block: "basic", layers: [2, 2, 2, 2] });
}

/**
 * ResNet-34 (basic blocks, `[3, 4, 6, 3]`), torchvision's `resnet34()`. See {@link resnet}.
 *
 * @param opts the fields of {@link resnet} other than `block` and `layers`.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { resnet34 } from "@denax/denax/models";
 * const { name } = resnet34();
 * console.log(name); // resnet34
 * if (name !== "resnet34") throw new Error(`got ${name}`);
 * ```
 */
export function resnet34(opts: ResNetOptions = {}): StatefulLayer<Params, State> {
  return resnet({ ...opts, block: "basic", layers: [3, 4, 6, 3] });
}

/**
 * ResNet-50 (bottlenecks, `[3, 4, 6, 3]`, 25.6M params), torchvision's `resnet50()`.
 *
 * @param opts the fields of {@link resnet} other than `block` and `layers`.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { resnet50 } from "@denax/denax/models";
 * const { name } = resnet50();
 * console.log(name); // resnet50
 * if (name !== "resnet50") throw new Error(`got ${name}`);
 * ```
 */
export function resnet50(opts: ResNetOptions = {}): StatefulLayer<Params, State> {
  return resnet({ ...opts, block: "bottleneck", layers: [3, 4, 6, 3] });
}

/**
 * ResNet-101 (bottlenecks, `[3, 4, 23, 3]`), torchvision's `resnet101()`.
 *
 * @param opts the fields of {@link resnet} other than `block` and `layers`.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { resnet101 } from "@denax/denax/models";
 * const { name } = resnet101();
 * console.log(name); // resnet101
 * if (name !== "resnet101") throw new Error(`got ${name}`);
 * ```
 */
export function resnet101(opts: ResNetOptions = {}): StatefulLayer<Params, State> {
  return resnet({ ...opts, block: "bottleneck", layers: [3, 4, 23, 3] });
}

/**
 * ResNet-152 (bottlenecks, `[3, 8, 36, 3]`), torchvision's `resnet152()`.
 *
 * @param opts the fields of {@link resnet} other than `block` and `layers`.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { resnet152 } from "@denax/denax/models";
 * const { name } = resnet152();
 * console.log(name); // resnet152
 * if (name !== "resnet152") throw new Error(`got ${name}`);
 * ```
 */
export function resnet152(opts: ResNetOptions = {}): StatefulLayer<Params, State> {
  return resnet({ ...opts, block: "bottleneck", layers: [3, 8, 36, 3] });
}

/**
 * d2l's ResNet-18 for Fashion-MNIST (Dive into Deep Learning §8.6; seed S4 §8.6): the
 * ResNet-18 layout with biased convolutions and a shortcut that is a bare 1×1 conv (no BN),
 * one input channel and 10 classes; d2l trains it on 96×96 resized images, and any size works.
 * Names follow torchvision (`layer2[0].downsample[0]` is d2l's `conv3`).
 *
 * @param opts overrides, e.g. `{ widths: [16, 32, 64, 128] }` for a narrower net.
 * @returns A stateful layer.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { d2lResNet18 } from "@denax/denax/models";
 *
 * const net = d2lResNet18({ stemWidth: 8, widths: [8, 16, 16, 16] });
 * const { y } = net.apply(net.init(random.key(0)), np.ones([2, 1, 28, 28]),
 *   { state: net.initState() });
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function d2lResNet18(opts: ResNetOptions = {}): StatefulLayer<Params, State> {
  return resnet({
    name: "d2lResNet18",
    inChannels: 1,
    numClasses: 10,
    convBias: true,
    shortcutNorm: false,
    ...opts,
    block: "basic",
    layers: [2, 2, 2, 2],
  });
}
