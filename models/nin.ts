/**
 * Network in Network [M11] (Lin, Chen & Yan 2014; S4 §8.3 L449–453) as in d2l.
 *
 * @module
 */
import type { LayerLike } from "../layers/combinators.ts";
import { sequential } from "../layers/combinators.ts";
import { adaptiveAvgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import type { AnyLayer, Layer } from "../layers/layer.ts";
import { dropout } from "../layers/linear.ts";
import {
  _act,
  _checked,
  _checkImageShape,
  _checkPositive,
  _flattenTrailing,
  _imageCheck,
  type _Op,
  _walk,
  type ImageShape,
} from "./_common.ts";

/** Config of {@link nin}. */
export interface NiNConfig {
  /** Input `[C, H, W]` (default `[1, 224, 224]`, d2l's resized Fashion-MNIST). */
  inputShape?: ImageShape;
  /** Number of classes = channels of the last NiN block (default 10). */
  numClasses?: number;
  /** Channels of the first three NiN blocks (default d2l's `[96, 256, 384]`). */
  channels?: readonly [number, number, number];
  /** Dropout rate before the last block (default 0.5). */
  dropout?: number;
}

/** A NiN block: conv k×k → ReLU → 1×1 conv → ReLU → 1×1 conv → ReLU. */
function _ninBlock(cin: number, cout: number, k: number, s: number, p: number): LayerLike {
  const relu = _act("relu");
  return sequential([
    conv2d({ inChannels: cin, outChannels: cout, kernelSize: k, stride: s, padding: p }),
    relu,
    conv2d({ inChannels: cout, outChannels: cout, kernelSize: 1 }),
    relu,
    conv2d({ inChannels: cout, outChannels: cout, kernelSize: 1 }),
    relu,
  ]);
}

/**
 * Network in Network [M11]: NiN blocks — a k×k convolution followed by two 1×1 convolutions
 * (a per-pixel MLP, the "local nonlinearity"), ReLU after each — separated by 3×3/2 max pools;
 * the last block has `numClasses` channels and global average pooling replaces the dense
 * classifier (far fewer parameters). As d2l §8.3:
 *
 * ```text
 * 0 nin_block(96, 11, stride 4, pad 0)  1 MaxPool2d(3, 2)
 * 2 nin_block(256, 5, pad 2)            3 MaxPool2d(3, 2)
 * 4 nin_block(384, 3, pad 1)            5 MaxPool2d(3, 2)   6 Dropout(0.5)
 * 7 nin_block(numClasses, 3, pad 1)     8 AdaptiveAvgPool2d((1, 1))  9 Flatten
 * ```
 *
 * Params are the nested `nn.Sequential`'s (`0.0.weight`, `0.2.weight`, `7.4.bias`, …). Any
 * input from 67×67 up works (224×224 gives 5×5 before the global pool).
 *
 * @param config `{ inputShape = [1, 224, 224], numClasses = 10, channels = [96, 256, 384],
 *   dropout = 0.5 }`.
 * @returns The model: f32[..., C, H, W] → f32[..., numClasses] logits.
 * @throws {RangeError} When the configured input is too small (the message names the layer).
 * @throws {TypeError} From `apply`, for a wrong channel count or too small an input.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { nin } from "@denax/denax/models";
 *
 * const net = nin({ inputShape: [1, 67, 67], numClasses: 10, channels: [8, 8, 8] });
 * const params = net.init(random.key(0));
 * const y = net.apply(params, np.zeros([2, 1, 67, 67]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function nin(config: NiNConfig = {}): Layer {
  const model = "nin";
  const shape = _checkImageShape(model, config.inputShape ?? [1, 224, 224]);
  const numClasses = _checkPositive(model, "numClasses", config.numClasses ?? 10);
  const [c1, c2, c3] = config.channels ?? [96, 256, 384];
  const ops: _Op[] = [
    { kind: "conv", path: "0.0", out: c1, k: 11, s: 4 },
    { kind: "pool", path: "1", k: 3, s: 2 },
    { kind: "conv", path: "2.0", out: c2, k: 5, p: 2 },
    { kind: "pool", path: "3", k: 3, s: 2 },
    { kind: "conv", path: "4.0", out: c3, k: 3, p: 1 },
    { kind: "pool", path: "5", k: 3, s: 2 },
    { kind: "conv", path: "7.0", out: numClasses, k: 3, p: 1 },
  ];
  _walk(model, ops, shape, "config");
  const mp = () => maxPool2d({ kernelSize: 3, stride: 2 });
  const net = sequential([
    _ninBlock(shape[0], c1, 11, 4, 0),
    mp(),
    _ninBlock(c1, c2, 5, 1, 2),
    mp(),
    _ninBlock(c2, c3, 3, 1, 1),
    mp(),
    dropout({ rate: config.dropout ?? 0.5 }),
    _ninBlock(c3, numClasses, 3, 1, 1),
    adaptiveAvgPool2d({ outputSize: 1 }),
    _flattenTrailing(3),
  ]);
  const name = `NiN([${shape}] → ${numClasses})`;
  return _checked(name, net as AnyLayer, _imageCheck(model, ops, shape, false)) as Layer;
}
