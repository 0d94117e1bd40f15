/**
 * LeNet with batch normalization on Fashion-MNIST as d2l §8.5 ("Batch Normalization", the
 * concise version) trains it: batch norm after every conv and hidden dense layer, before the
 * sigmoid (`models.lenetBN()`: conv 5×5 → 6, conv 5×5 → 16, dense 256 → 120 → 84 → 10),
 * Xavier-uniform weights (`train_ch6`), minibatch SGD with learning rate 1.0, batch size 256,
 * 10 epochs, 28×28 inputs (as d2l). The running statistics are carried through training and
 * used for the test accuracy. d2l reports a test accuracy of about 0.88.
 *
 * Run: `deno run -A examples/d2l/lenet_bn.ts [--epochs N] [--limit N]` (`--help` for the
 * rest); writes `out/d2l/lenet_bn.svg`.
 *
 * @module
 */
import { models } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l §8.5's experiment. */
export const spec: D2lSpec = {
  family: "lenet_bn",
  title: "BN-LeNet",
  makeModel: () => models.lenetBN({ inputShape: [1, 28, 28], numClasses: 10 }),
  lr: 1.0,
  batchSize: 256,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.88,
};

if (import.meta.main) await main(spec);
