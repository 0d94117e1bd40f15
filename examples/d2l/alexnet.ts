/**
 * AlexNet on Fashion-MNIST as d2l §7.1 ("Deep Convolutional Neural Networks (AlexNet)")
 * trains it — minibatch SGD with learning rate 0.01, batch size 128, 10 epochs, Xavier-uniform
 * weights (`train_ch6`); d2l reports a test accuracy of about 0.88 — but on the 28×28 images
 * instead of d2l's 224×224 resize, which `models.alexnet` (torchvision's layout, at least
 * 63×63) cannot take. The network is d2l's, with the first layer adjusted:
 *
 * ```text
 * d2l (224×224):  Conv2d(1, 96, 11, stride 4, padding 1) → 54×54, MaxPool2d(3, 2) → 26×26, …
 * here (28×28):   Conv2d(1, 96, 3, stride 1, padding 1)  → 28×28, MaxPool2d(3, 2) → 13×13,
 *                 Conv2d(96, 256, 5, padding 2), ReLU, MaxPool2d(3, 2)            →  6×6,
 *                 Conv2d(256, 384, 3, p 1), ReLU, Conv2d(384, 384, 3, p 1), ReLU,
 *                 Conv2d(384, 256, 3, p 1), ReLU, MaxPool2d(3, 2)                 →  2×2,
 *                 Flatten, Linear(1024, 4096), ReLU, Dropout(0.5),
 *                 Linear(4096, 4096), ReLU, Dropout(0.5), Linear(4096, 10)
 * ```
 *
 * (d2l's first dense layer is `Linear(6400, 4096)`: 24.7M parameters here against 46.8M.)
 *
 * Run: `deno run -A examples/d2l/alexnet.ts [--epochs N] [--limit N]` (`--help` for the
 * rest); writes `out/d2l/alexnet.svg`.
 *
 * @module
 */
import { nn } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l's AlexNet with the first layer adjusted to 28×28 inputs (see the module comment). */
export function alexnet28(): nn.Layer {
  const conv = (i: number, o: number, k: number, stride = 1, padding = 0) =>
    nn.conv2d({ inChannels: i, outChannels: o, kernelSize: k, stride, padding });
  const pool = () => nn.maxPool2d({ kernelSize: 3, stride: 2 });
  return nn.sequential([
    conv(1, 96, 3, 1, 1),
    nn.relu,
    pool(),
    conv(96, 256, 5, 1, 2),
    nn.relu,
    pool(),
    conv(256, 384, 3, 1, 1),
    nn.relu,
    conv(384, 384, 3, 1, 1),
    nn.relu,
    conv(384, 256, 3, 1, 1),
    nn.relu,
    pool(),
    nn.flatten(),
    nn.linear({ inFeatures: 1024, outFeatures: 4096 }),
    nn.relu,
    nn.dropout({ rate: 0.5 }),
    nn.linear({ inFeatures: 4096, outFeatures: 4096 }),
    nn.relu,
    nn.dropout({ rate: 0.5 }),
    nn.linear({ inFeatures: 4096, outFeatures: 10 }),
  ]) as nn.Layer;
}

/** d2l §7.1's experiment at 28×28. */
export const spec: D2lSpec = {
  family: "alexnet",
  title: "AlexNet",
  makeModel: alexnet28,
  lr: 0.01,
  batchSize: 128,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.88,
};

if (import.meta.main) await main(spec);
