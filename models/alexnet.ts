/**
 * AlexNet [M09] (Krizhevsky, Sutskever & Hinton 2012; S4 §8.1 L432–439) in torchvision's
 * layout, so torchvision's `alexnet().state_dict()` loads as it is.
 *
 * @module
 */
import { sequential } from "../layers/combinators.ts";
import { adaptiveAvgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import type { Layer } from "../layers/layer.ts";
import { dropout, linear } from "../layers/linear.ts";
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

/** Config of {@link alexnet}. */
export interface AlexNetConfig {
  /** Input `[C, H, W]` (default `[3, 224, 224]`). */
  inputShape?: ImageShape;
  /** Number of output logits (default 1000). */
  numClasses?: number;
  /**
   * Output channels of the five convolutions (default torchvision's `[64, 192, 384, 256, 256]`;
   * smaller widths give the same structure and key names).
   */
  channels?: readonly [number, number, number, number, number];
  /** Width of the two hidden dense layers (default 4096). */
  hidden?: number;
  /** Dropout rate before the first two dense layers (default 0.5). */
  dropout?: number;
  /** Output size of the adaptive average pool before the classifier (default 6). */
  poolSize?: number;
}

/**
 * AlexNet [M09]: five convolutions (the first 11×11 at stride 4, then 5×5 and three 3×3, each
 * followed by ReLU, with 3×3/2 max pooling after the 1st, 2nd and 5th), an adaptive average pool
 * to 6×6, and three dense layers with ReLU and dropout — torchvision's `AlexNet`:
 *
 * ```text
 * features:   0 Conv2d(C, 64, 11, stride 4, pad 2)  1 ReLU  2 MaxPool2d(3, 2)
 *             3 Conv2d(64, 192, 5, pad 2)           4 ReLU  5 MaxPool2d(3, 2)
 *             6 Conv2d(192, 384, 3, pad 1)          7 ReLU
 *             8 Conv2d(384, 256, 3, pad 1)          9 ReLU
 *            10 Conv2d(256, 256, 3, pad 1)         11 ReLU 12 MaxPool2d(3, 2)
 * avgpool:     AdaptiveAvgPool2d((6, 6))  → flatten to 256·6·6 = 9216
 * classifier: 0 Dropout  1 Linear(9216, 4096)  2 ReLU  3 Dropout  4 Linear(4096, 4096)  5 ReLU
 *             6 Linear(4096, numClasses)
 * ```
 *
 * Params `{ features: [...13], avgpool: {}, flatten: {}, classifier: [...7] }`; their checkpoint
 * keys (`features.0.weight`, `classifier.6.bias`, …) and shapes equal torchvision's
 * `state_dict()` (57M parameters at the default sizes). The adaptive pool averages over
 * PyTorch's windows `[⌊i·n/6⌋, ⌈(i+1)·n/6⌉)`, so inputs from 63×63 up work (a 224×224 input
 * gives 6×6 before it).
 *
 * @param config `{ inputShape = [3, 224, 224], numClasses = 1000, channels, hidden = 4096,
 *   dropout = 0.5, poolSize = 6 }`.
 * @returns The model: f32[..., C, H, W] → f32[..., numClasses] (dropout active with
 *   `{ train: true, key }`).
 * @throws {RangeError} When the configured input is too small (the message names the layer).
 * @throws {TypeError} From `apply`, for a wrong channel count or too small an input.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { alexnet } from "@denax/denax/models";
 *
 * const net = alexnet({
 *   inputShape: [3, 64, 64], numClasses: 10, channels: [8, 8, 8, 8, 8], hidden: 16,
 * });
 * const params = net.init(random.key(0)); // features[0].weight f32[8,3,11,11], …
 * const y = net.apply(params, np.zeros([2, 3, 64, 64]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function alexnet(config: AlexNetConfig = {}): Layer {
  const model = "alexnet";
  const shape = _checkImageShape(model, config.inputShape ?? [3, 224, 224]);
  const numClasses = _checkPositive(model, "numClasses", config.numClasses ?? 1000);
  const [c1, c2, c3, c4, c5] = config.channels ?? [64, 192, 384, 256, 256];
  const hidden = _checkPositive(model, "hidden", config.hidden ?? 4096);
  const pool = _checkPositive(model, "poolSize", config.poolSize ?? 6);
  const rate = config.dropout ?? 0.5;
  const ops: _Op[] = [
    { kind: "conv", path: "features.0", out: c1, k: 11, s: 4, p: 2 },
    { kind: "pool", path: "features.2", k: 3, s: 2 },
    { kind: "conv", path: "features.3", out: c2, k: 5, p: 2 },
    { kind: "pool", path: "features.5", k: 3, s: 2 },
    { kind: "conv", path: "features.6", out: c3, k: 3, p: 1 },
    { kind: "conv", path: "features.8", out: c4, k: 3, p: 1 },
    { kind: "conv", path: "features.10", out: c5, k: 3, p: 1 },
    { kind: "pool", path: "features.12", k: 3, s: 2 },
  ];
  _walk(model, ops, shape, "config");
  const relu = _act("relu");
  const conv = (i: number, o: number, k: number, s: number, p: number) =>
    conv2d({ inChannels: i, outChannels: o, kernelSize: k, stride: s, padding: p });
  const mp = () => maxPool2d({ kernelSize: 3, stride: 2 });
  const net = _named(model, [
    [
      "features",
      sequential([
        conv(shape[0], c1, 11, 4, 2),
        relu,
        mp(),
        conv(c1, c2, 5, 1, 2),
        relu,
        mp(),
        conv(c2, c3, 3, 1, 1),
        relu,
        conv(c3, c4, 3, 1, 1),
        relu,
        conv(c4, c5, 3, 1, 1),
        relu,
        mp(),
      ]),
    ],
    ["avgpool", adaptiveAvgPool2d({ outputSize: pool })],
    ["flatten", _flattenTrailing(3)],
    [
      "classifier",
      sequential([
        dropout({ rate }),
        linear({ inFeatures: c5 * pool * pool, outFeatures: hidden }),
        relu,
        dropout({ rate }),
        linear({ inFeatures: hidden, outFeatures: hidden }),
        relu,
        linear({ inFeatures: hidden, outFeatures: numClasses }),
      ]),
    ],
  ]);
  const name = `AlexNet([${shape}] → ${numClasses})`;
  return _checked(name, net, _imageCheck(model, ops, shape, false)) as Layer;
}
