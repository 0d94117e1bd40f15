/**
 * VGG [M10] (Simonyan & Zisserman 2015; S4 §8.2 L441–447, S1 table L305–306): VGG-11/13/16/19,
 * with and without batch norm, in torchvision's layout, so torchvision's
 * `vgg16_bn().state_dict()` (and the others) load as they are.
 *
 * @module
 */
import type { LayerLike } from "../layers/combinators.ts";
import { sequential } from "../layers/combinators.ts";
import { adaptiveAvgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import type { Layer, StatefulLayer } from "../layers/layer.ts";
import { dropout, linear } from "../layers/linear.ts";
import { batchNorm2d } from "../layers/norm.ts";
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
  type ImageShape,
} from "./_common.ts";

/** A VGG feature config: conv output channels, `"M"` for a 2×2 max pool (torchvision's cfgs). */
export type VggLayers = readonly (number | "M")[];

/** torchvision's `cfgs`: "A" = VGG-11, "B" = VGG-13, "D" = VGG-16, "E" = VGG-19. */
export const vggLayers: Readonly<Record<11 | 13 | 16 | 19, VggLayers>> = {
  11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
  13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
  16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
  19: [
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
  ],
};

/** Config of {@link vgg}. */
export interface VggConfig {
  /** Input `[C, H, W]` (default `[3, 224, 224]`). */
  inputShape?: ImageShape;
  /** Number of output logits (default 1000). */
  numClasses?: number;
  /** 11, 13, 16 or 19 weight layers (default 11); ignored when `layers` is given. */
  depth?: 11 | 13 | 16 | 19;
  /** The feature config (default `vggLayers[depth]`); narrower widths keep the key names. */
  layers?: VggLayers;
  /** Batch norm after every convolution (torchvision's `vgg*_bn`; default false). */
  batchNorm?: boolean;
  /** Width of the two hidden dense layers (default 4096). */
  hidden?: number;
  /** Dropout rate after the two hidden dense layers (default 0.5). */
  dropout?: number;
  /** Output size of the adaptive average pool before the classifier (default 7). */
  poolSize?: number;
}

/**
 * VGG [M10]: blocks of 3×3 convolutions (padding 1, each followed by ReLU — and batch norm
 * before it in the `_bn` variants) separated by 2×2 max pools, channels 64 → 512, then an
 * adaptive average pool to 7×7 and three dense layers — torchvision's `VGG`:
 *
 * ```text
 * features:   per number n of the config: Conv2d(c, n, 3, pad 1), [BatchNorm2d(n)], ReLU
 *             per "M": MaxPool2d(2, 2)
 * avgpool:    AdaptiveAvgPool2d((7, 7)) → flatten to 512·7·7 = 25088
 * classifier: 0 Linear(25088, 4096) 1 ReLU 2 Dropout 3 Linear(4096, 4096) 4 ReLU 5 Dropout
 *             6 Linear(4096, numClasses)
 * ```
 *
 * | depth | config `vggLayers[depth]` | params (1000 classes) |
 * |---|---|---|
 * | 11 | 64 M 128 M 256 256 M 512 512 M 512 512 M | 132.9M |
 * | 13 | 64 64 M 128 128 M 256 256 M 512 512 M 512 512 M | 133.0M |
 * | 16 | … 256×3, 512×3, 512×3 | 138.4M |
 * | 19 | … 256×4, 512×4, 512×4 | 143.7M |
 *
 * Checkpoint keys and shapes of params and state (`features.0.weight`, `features.1.running_mean`,
 * `classifier.6.bias`, …) equal torchvision's `state_dict()`. With batch norm the model is
 * stateful (`initState()`, `apply(params, x, { state, train }) → { y, state }`). Thanks to the
 * adaptive pool (PyTorch's windows `[⌊i·n/7⌋, ⌈(i+1)·n/7⌉)`) any input of at least 2^pools
 * pixels a side works, 32×32 included.
 *
 * @param config `{ inputShape = [3, 224, 224], numClasses = 1000, depth = 11, layers,
 *   batchNorm = false, hidden = 4096, dropout = 0.5, poolSize = 7 }`.
 * @returns The model, stateful with batch norm: f32[..., C, H, W] → f32[..., numClasses].
 * @throws {RangeError} For an unknown depth, or a configured input too small for the pools.
 * @throws {TypeError} From `apply`, for a wrong channel count or too small an input.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { vgg } from "@denax/denax/models";
 *
 * const net = vgg({
 *   inputShape: [3, 32, 32], numClasses: 10, layers: [8, "M", 16, "M", 16, "M"], hidden: 32,
 * });
 * const params = net.init(random.key(0));
 * const y = net.apply(params, np.zeros([2, 3, 32, 32]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function vgg(config: VggConfig & { batchNorm: true }): StatefulLayer;
/** {@link vgg} without batch norm: a stateless `Layer`. */
export function vgg(config?: VggConfig & { batchNorm?: false }): Layer;
/** {@link vgg} with any config: a `StatefulLayer` with batch norm, else a `Layer`. */
export function vgg(config?: VggConfig): Layer | StatefulLayer;
export function vgg(config: VggConfig = {}): Layer | StatefulLayer {
  const depth = config.depth ?? 11;
  const bn = config.batchNorm ?? false;
  const model = `vgg${config.layers ? "" : depth}${bn ? "_bn" : ""}`;
  const shape = _checkImageShape(model, config.inputShape ?? [3, 224, 224]);
  const numClasses = _checkPositive(model, "numClasses", config.numClasses ?? 1000);
  const layers = config.layers ?? vggLayers[depth];
  if (!layers) {
    throw new RangeError(`vgg: depth must be 11, 13, 16 or 19, got ${depth}`);
  }
  const hidden = _checkPositive(model, "hidden", config.hidden ?? 4096);
  const pool = _checkPositive(model, "poolSize", config.poolSize ?? 7);
  const rate = config.dropout ?? 0.5;
  const relu = _act("relu");
  const feats: LayerLike[] = [], ops: _Op[] = [];
  let c = shape[0];
  for (const v of layers) {
    const path = `features.${feats.length}`;
    if (v === "M") {
      ops.push({ kind: "pool", path, k: 2 });
      feats.push(maxPool2d({ kernelSize: 2, stride: 2 }));
      continue;
    }
    _checkPositive(model, "a conv width", v);
    ops.push({ kind: "conv", path, out: v, k: 3, p: 1 });
    feats.push(conv2d({ inChannels: c, outChannels: v, kernelSize: 3, padding: 1 }));
    if (bn) feats.push(batchNorm2d({ numFeatures: v }));
    feats.push(relu);
    c = v;
  }
  _walk(model, ops, shape, "config");
  const net = _named(model, [
    ["features", sequential(feats)],
    ["avgpool", adaptiveAvgPool2d({ outputSize: pool })],
    ["flatten", _flattenTrailing(3)],
    [
      "classifier",
      sequential([
        linear({ inFeatures: c * pool * pool, outFeatures: hidden }),
        relu,
        dropout({ rate }),
        linear({ inFeatures: hidden, outFeatures: hidden }),
        relu,
        dropout({ rate }),
        linear({ inFeatures: hidden, outFeatures: numClasses }),
      ]),
    ],
  ]);
  const name = `VGG${config.layers ? "" : `-${depth}`}${
    bn ? "-BN" : ""
  }([${shape}] → ${numClasses})`;
  return _checked(name, net, _imageCheck(model, ops, shape, false)) as Layer | StatefulLayer;
}
