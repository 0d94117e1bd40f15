/**
 * LeNet-5 on Fashion-MNIST as d2l §6.6 ("Convolutional Neural Networks (LeNet)") trains it:
 * sigmoid activations and 2×2 average pooling (`models.lenet()`, the classic variant: conv
 * 5×5 with padding 2 → 6 channels, conv 5×5 → 16, dense 400 → 120 → 84 → 10), Xavier-uniform
 * weights (`train_ch6`), minibatch SGD with learning rate 0.9, batch size 256, 10 epochs,
 * 28×28 inputs (as d2l). d2l reports a test accuracy of about 0.80.
 *
 * Run: `deno run -A examples/d2l/lenet.ts [--epochs N] [--limit N]` (`--help` for the rest);
 * writes `out/d2l/lenet.svg`.
 *
 * @module
 */
import { models } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l §6.6's experiment. */
export const spec: D2lSpec = {
  family: "lenet",
  title: "LeNet",
  makeModel: () => models.lenet({ inputShape: [1, 28, 28], numClasses: 10, variant: "classic" }),
  lr: 0.9,
  batchSize: 256,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.80,
};

if (import.meta.main) await main(spec);
