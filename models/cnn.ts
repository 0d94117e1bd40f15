/**
 * Convolutional classifiers [M07, M08]: a generic CNN builder (conv → activation → pool
 * blocks, flatten, dense head, from a config list) and LeNet-5 as in d2l (§7.6, the sigmoid /
 * average-pooling original and the ReLU / max-pooling modern variant) and its batch-norm
 * version (d2l §8.5).
 *
 * Every model takes its input shape `[C, H, W]` and number of classes in the config, so one
 * constructor gives a Fashion-MNIST `[1, 28, 28]` and an ImageNet `[3, 224, 224]` instance; the
 * size of the flattened features is computed from the input shape with PyTorch's formulas, and
 * a configuration whose downsampling empties the feature map is refused at construction with a
 * `RangeError` naming the model, the layer and the shapes.
 *
 * @module
 */
import { sequential } from "../layers/combinators.ts";
import { avgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import type { AnyLayer, Layer, StatefulLayer } from "../layers/layer.ts";
import { dropout, linear } from "../layers/linear.ts";
import { batchNorm1d, batchNorm2d } from "../layers/norm.ts";
import type { LayerLike } from "../layers/combinators.ts";
import {
  _act,
  _checked,
  _checkImageShape,
  _checkPositive,
  _flattenTrailing,
  _imageCheck,
  _named,
  type _Op,
  _walk,
  type Activation,
  type ImageShape,
} from "./_common.ts";

// ---------------------------------------------------------------- generic CNN [M07]

/** One conv block of {@link cnn}: conv → (batch norm) → activation → (pool). */
export interface ConvBlockConfig {
  /** Output channels of the convolution. */
  channels: number;
  /** Square kernel size (default 3). */
  kernelSize?: number;
  /** Stride (default 1). */
  stride?: number;
  /** Zero padding on each side (default `floor(kernelSize / 2)`, "same" at stride 1 for odd kernels). */
  padding?: number;
  /** Convolution groups: must divide the input and output channels (default 1). */
  groups?: number;
  /** Batch norm after the convolution (default: the network's `batchNorm`). */
  batchNorm?: boolean;
  /** Pooling after the activation (default 2×2 max pooling; `null` for none). */
  pool?: { kind?: "max" | "avg"; size: number; stride?: number } | null;
}

/** Config of {@link cnn}. */
export interface CnnConfig {
  /** Input `[C, H, W]`. */
  inputShape: ImageShape;
  /** Number of output logits. */
  numClasses: number;
  /** The conv blocks, in order. */
  blocks: readonly ConvBlockConfig[];
  /** Widths of the hidden dense layers of the head (default none: one linear layer). */
  hidden?: readonly number[];
  /** Activation after every conv and hidden dense layer (default "relu"). */
  activation?: Activation;
  /** Dropout rate after every hidden dense layer (default 0: none). */
  dropout?: number;
  /** Batch norm after every convolution (default false); makes the model stateful. */
  batchNorm?: boolean;
}

/**
 * A generic CNN [M07] (S1 item 13, S2 §12, S4 ch. 7): blocks of
 * `conv → (batch norm) → activation → pool`, then flatten and a dense head
 * `(linear → activation → dropout)* → linear` to `numClasses` logits.
 *
 * Per block the feature map goes `[C, H, W] → [c', ⌊(H + 2p − k)/s⌋ + 1, …]` (conv) then
 * `⌊(H − k_p)/s_p⌋ + 1` (pool); the flattened size `c'·H'·W'` after the last block sizes the
 * first dense layer. Params `{ features: [...], classifier: [...] }` (paths
 * `features.0.weight`, `classifier.0.bias`, as a PyTorch module with two `nn.Sequential`s);
 * with batch norm the model is stateful (`initState()`, `apply → { y, state }`).
 *
 * @param config `{ inputShape, numClasses, blocks, hidden = [], activation = "relu",
 *   dropout = 0, batchNorm = false }`.
 * @returns The model (a `StatefulLayer` with batch norm, else a `Layer`): `apply(params, x)`
 *   maps f32[..., C, H, W] to f32[..., numClasses].
 * @throws {RangeError} When a block's groups do not divide its channels or the downsampling
 *   empties the feature map (the message names the layer and the shapes).
 * @throws {TypeError} From `apply`, when the input is not [..., C, H, W] of the configured shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { cnn } from "@denax/denax/models";
 *
 * const net = cnn({
 *   inputShape: [1, 28, 28], numClasses: 10,
 *   blocks: [{ channels: 8 }, { channels: 16 }], hidden: [32],
 * });
 * const params = net.init(random.key(0));
 * const y = net.apply(params, np.zeros([2, 1, 28, 28]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function cnn(config: CnnConfig & { batchNorm: true }): StatefulLayer;
/** {@link cnn} without batch norm anywhere: a stateless `Layer`. */
export function cnn(
  config: CnnConfig & {
    batchNorm?: false;
    blocks: readonly (ConvBlockConfig & { batchNorm?: false })[];
  },
): Layer;
/** {@link cnn} with any config: a `Layer`, or a `StatefulLayer` when a block has batch norm. */
export function cnn(config: CnnConfig): Layer | StatefulLayer;
export function cnn(config: CnnConfig): Layer | StatefulLayer {
  const model = "cnn";
  const shape = _checkImageShape(model, config.inputShape);
  const numClasses = _checkPositive(model, "numClasses", config.numClasses);
  const act = _act(config.activation ?? "relu");
  const feats: LayerLike[] = [], ops: _Op[] = [];
  let c = shape[0];
  for (const b of config.blocks) {
    const k = b.kernelSize ?? 3, s = b.stride ?? 1, p = b.padding ?? Math.floor(k / 2);
    const groups = b.groups ?? 1;
    ops.push({ kind: "conv", path: `features.${feats.length}`, out: b.channels, k, s, p, groups });
    _walk(model, ops, shape, "config"); // checks groups before conv2d's own message
    feats.push(conv2d({
      inChannels: c,
      outChannels: b.channels,
      kernelSize: k,
      stride: s,
      padding: p,
      groups,
    }));
    if (b.batchNorm ?? config.batchNorm ?? false) {
      feats.push(batchNorm2d({ numFeatures: b.channels }));
    }
    feats.push(act);
    const pool = b.pool === undefined ? { kind: "max" as const, size: 2 } : b.pool;
    if (pool) {
      const ps = pool.stride ?? pool.size;
      ops.push({ kind: "pool", path: `features.${feats.length}`, k: pool.size, s: ps });
      feats.push(
        (pool.kind ?? "max") === "max"
          ? maxPool2d({ kernelSize: pool.size, stride: ps })
          : avgPool2d({ kernelSize: pool.size, stride: ps }),
      );
    }
    c = b.channels;
  }
  const [fc, fh, fw] = _walk(model, ops, shape, "config");
  const head: LayerLike[] = [];
  let width = fc * fh * fw;
  for (const h of config.hidden ?? []) {
    head.push(linear({ inFeatures: width, outFeatures: h }), act);
    if ((config.dropout ?? 0) > 0) head.push(dropout({ rate: config.dropout }));
    width = h;
  }
  head.push(linear({ inFeatures: width, outFeatures: numClasses }));
  const net = _named(model, [
    ["features", sequential(feats)],
    ["flatten", _flattenTrailing(3)],
    ["classifier", sequential(head)],
  ]);
  const name = `CNN([${shape}] → ${
    config.blocks.map((b) => b.channels).join("-")
  } → ${numClasses})`;
  return _checked(name, net, _imageCheck(model, ops, shape, true)) as Layer | StatefulLayer;
}

// ---------------------------------------------------------------- LeNet [M08]

/** Config of {@link lenet}. */
export interface LeNetConfig {
  /** Input `[C, H, W]` (default `[1, 28, 28]`, Fashion-MNIST as d2l). */
  inputShape?: ImageShape;
  /** Number of output logits (default 10). */
  numClasses?: number;
  /**
   * `"classic"` (default): d2l's LeNet-5, sigmoid activations and 2×2 average pooling;
   * `"modern"`: ReLU and 2×2 max pooling, same shapes.
   */
  variant?: "classic" | "modern";
}

/**
 * LeNet-5 [M08] (LeCun et al. 1998) as in d2l §7.6 (S4 L415–421), PyTorch's
 *
 * ```text
 * nn.Sequential(Conv2d(C, 6, 5, padding=2), Sigmoid(), AvgPool2d(2, 2),
 *               Conv2d(6, 16, 5), Sigmoid(), AvgPool2d(2, 2), Flatten(),
 *               Linear(16·H'·W', 120), Sigmoid(), Linear(120, 84), Sigmoid(),
 *               Linear(84, numClasses))
 * ```
 *
 * with `H' = ⌊(H − 4)/2⌋ … = 5` for a 28×28 input (so `Linear(400, 120)`). The `"modern"`
 * variant uses ReLU and max pooling. Params are the `nn.Sequential`'s: paths `0.weight`,
 * `3.weight`, `7.weight`, `9.weight`, `11.weight` (and biases), so the d2l PyTorch model's
 * `state_dict` loads as it is.
 *
 * @param config `{ inputShape = [1, 28, 28], numClasses = 10, variant = "classic" }`.
 * @returns The model: f32[..., C, H, W] → f32[..., numClasses] logits.
 * @throws {RangeError} When the input shape is too small for the two 5×5 convs and pools.
 * @throws {TypeError} From `apply`, for an input other than [..., C, H, W].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { lenet } from "@denax/denax/models";
 *
 * const net = lenet({ inputShape: [1, 28, 28], numClasses: 10 });
 * const params = net.init(random.key(0)); // [0].weight f32[6,1,5,5] … [11].weight f32[10,84]
 * const y = net.apply(params, np.zeros([2, 1, 28, 28]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function lenet(config: LeNetConfig = {}): Layer {
  const model = "lenet";
  const shape = _checkImageShape(model, config.inputShape ?? [1, 28, 28]);
  const numClasses = _checkPositive(model, "numClasses", config.numClasses ?? 10);
  const modern = (config.variant ?? "classic") === "modern";
  const act = _act(modern ? "relu" : "sigmoid");
  const pool = () => (modern ? maxPool2d : avgPool2d)({ kernelSize: 2, stride: 2 });
  const ops: _Op[] = [
    { kind: "conv", path: "0", out: 6, k: 5, p: 2 },
    { kind: "pool", path: "2", k: 2 },
    { kind: "conv", path: "3", out: 16, k: 5 },
    { kind: "pool", path: "5", k: 2 },
  ];
  const [c, h, w] = _walk(model, ops, shape, "config");
  const net = sequential([
    conv2d({ inChannels: shape[0], outChannels: 6, kernelSize: 5, padding: 2 }),
    act,
    pool(),
    conv2d({ inChannels: 6, outChannels: 16, kernelSize: 5 }),
    act,
    pool(),
    _flattenTrailing(3),
    linear({ inFeatures: c * h * w, outFeatures: 120 }),
    act,
    linear({ inFeatures: 120, outFeatures: 84 }),
    act,
    linear({ inFeatures: 84, outFeatures: numClasses }),
  ]);
  const name = `LeNet${modern ? "-modern" : ""}([${shape}] → ${numClasses})`;
  return _checked(name, net as AnyLayer, _imageCheck(model, ops, shape, true)) as Layer;
}

/** Config of {@link lenetBN}. */
export interface LeNetBNConfig {
  /** Input `[C, H, W]` (default `[1, 28, 28]`). */
  inputShape?: ImageShape;
  /** Number of output logits (default 10). */
  numClasses?: number;
}

/**
 * LeNet with batch normalization, d2l §8.5 (Ioffe & Szegedy 2015): batch norm after every
 * conv and hidden dense layer, before the sigmoid, PyTorch's
 *
 * ```text
 * nn.Sequential(Conv2d(C, 6, 5), BatchNorm2d(6), Sigmoid(), AvgPool2d(2, 2),
 *               Conv2d(6, 16, 5), BatchNorm2d(16), Sigmoid(), AvgPool2d(2, 2), Flatten(),
 *               Linear(16·H'·W', 120), BatchNorm1d(120), Sigmoid(),
 *               Linear(120, 84), BatchNorm1d(84), Sigmoid(), Linear(84, numClasses))
 * ```
 *
 * (no padding on the first conv: `Linear(256, 120)` for 28×28). Stateful: params and state
 * are arrays by position (`1.running_mean`, `10.running_var`, …) like the `nn.Sequential`'s
 * `state_dict`; `apply(params, x, { state, train })` returns `{ y, state }`, with batch
 * statistics (and updated running averages) in training and the running averages otherwise.
 *
 * @param config `{ inputShape = [1, 28, 28], numClasses = 10 }`.
 * @returns The stateful model: f32[N, C, H, W] → f32[N, numClasses].
 * @throws {RangeError} When the input shape is too small for the network.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { lenetBN } from "@denax/denax/models";
 *
 * const net = lenetBN();
 * const params = net.init(random.key(0));
 * const { y, state } = net.apply(params, random.normal(random.key(1), [2, 1, 28, 28]), {
 *   state: net.initState(), train: true,
 * });
 * const batches = await state[1].num_batches_tracked.item();
 * console.log(String(y), batches); // Tensor(f32[2,10]) 1
 * if (String(y) !== "Tensor(f32[2,10])" || batches !== 1) throw new Error(`got ${y} ${batches}`);
 * ```
 */
export function lenetBN(config: LeNetBNConfig = {}): StatefulLayer {
  const model = "lenetBN";
  const shape = _checkImageShape(model, config.inputShape ?? [1, 28, 28]);
  const numClasses = _checkPositive(model, "numClasses", config.numClasses ?? 10);
  const act = _act("sigmoid");
  const ops: _Op[] = [
    { kind: "conv", path: "0", out: 6, k: 5 },
    { kind: "pool", path: "3", k: 2 },
    { kind: "conv", path: "4", out: 16, k: 5 },
    { kind: "pool", path: "7", k: 2 },
  ];
  const [c, h, w] = _walk(model, ops, shape, "config");
  const net = sequential([
    conv2d({ inChannels: shape[0], outChannels: 6, kernelSize: 5 }),
    batchNorm2d({ numFeatures: 6 }),
    act,
    avgPool2d({ kernelSize: 2, stride: 2 }),
    conv2d({ inChannels: 6, outChannels: 16, kernelSize: 5 }),
    batchNorm2d({ numFeatures: 16 }),
    act,
    avgPool2d({ kernelSize: 2, stride: 2 }),
    _flattenTrailing(3),
    linear({ inFeatures: c * h * w, outFeatures: 120 }),
    batchNorm1d({ numFeatures: 120 }),
    act,
    linear({ inFeatures: 120, outFeatures: 84 }),
    batchNorm1d({ numFeatures: 84 }),
    act,
    linear({ inFeatures: 84, outFeatures: numClasses }),
  ]);
  const name = `LeNetBN([${shape}] → ${numClasses})`;
  return _checked(name, net, _imageCheck(model, ops, shape, true));
}

export type { Activation, ImageShape } from "./_common.ts";
