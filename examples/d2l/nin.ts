/**
 * Network in Network on Fashion-MNIST as d2l §7.3 ("Network in Network (NiN)") trains it —
 * minibatch SGD with learning rate 0.1, batch size 128, 10 epochs, Xavier-uniform weights
 * (`train_ch6`); d2l reports a test accuracy of about 0.87 — but on the 28×28 images instead
 * of d2l's 224×224 resize, which `models.nin` (at least 67×67) cannot take. The network is
 * d2l's, with the first block adjusted:
 *
 * ```text
 * d2l (224×224):  nin_block(1, 96, kernel 11, stride 4, padding 0) → 54×54, MaxPool2d(3, 2), …
 * here (28×28):   nin_block(1, 96, kernel 3, stride 1, padding 1)  → 28×28, MaxPool2d(3, 2) → 13,
 *                 nin_block(96, 256, 5, 1, 2), MaxPool2d(3, 2)                              →  6,
 *                 nin_block(256, 384, 3, 1, 1), MaxPool2d(3, 2)                             →  2,
 *                 Dropout(0.5), nin_block(384, 10, 3, 1, 1), AdaptiveAvgPool2d(1), Flatten
 * ```
 *
 * where `nin_block(i, o, k, s, p)` is `Conv2d(i, o, k, s, p), ReLU, Conv2d(o, o, 1), ReLU,
 * Conv2d(o, o, 1), ReLU` (the same 2.0M parameters as d2l's).
 *
 * Run: `deno run -A examples/d2l/nin.ts [--epochs N] [--limit N]` (`--help` for the rest);
 * writes `out/d2l/nin.svg`.
 *
 * @module
 */
import { nn } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

function ninBlock(i: number, o: number, k: number, stride: number, padding: number): nn.Layer {
  return nn.sequential([
    nn.conv2d({ inChannels: i, outChannels: o, kernelSize: k, stride, padding }),
    nn.relu,
    nn.conv2d({ inChannels: o, outChannels: o, kernelSize: 1 }),
    nn.relu,
    nn.conv2d({ inChannels: o, outChannels: o, kernelSize: 1 }),
    nn.relu,
  ]) as nn.Layer;
}

/** d2l's NiN with the first block adjusted to 28×28 inputs (see the module comment). */
export function nin28(): nn.Layer {
  const pool = () => nn.maxPool2d({ kernelSize: 3, stride: 2 });
  return nn.sequential([
    ninBlock(1, 96, 3, 1, 1),
    pool(),
    ninBlock(96, 256, 5, 1, 2),
    pool(),
    ninBlock(256, 384, 3, 1, 1),
    pool(),
    nn.dropout({ rate: 0.5 }),
    ninBlock(384, 10, 3, 1, 1),
    nn.adaptiveAvgPool2d({ outputSize: 1 }),
    nn.flatten(),
  ]) as nn.Layer;
}

/** d2l §7.3's experiment at 28×28. */
export const spec: D2lSpec = {
  family: "nin",
  title: "NiN",
  makeModel: nin28,
  lr: 0.1,
  batchSize: 128,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.87,
};

if (import.meta.main) await main(spec);
