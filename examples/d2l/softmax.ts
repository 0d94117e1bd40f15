/**
 * Softmax regression on Fashion-MNIST as d2l §3.7 ("Concise Implementation of Softmax
 * Regression") trains it: `nn.Sequential(nn.Flatten(), nn.Linear(784, 10))`, weights
 * N(0, 0.01²), minibatch SGD with learning rate 0.1, batch size 256, 10 epochs, 28×28 inputs
 * (as d2l). d2l reports a test accuracy of about 0.83.
 *
 * Run: `deno run -A examples/d2l/softmax.ts [--epochs N] [--limit N]` (`--help` for the rest);
 * writes `out/d2l/softmax.svg`.
 *
 * @module
 */
import { models } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l §3.7's experiment. */
export const spec: D2lSpec = {
  family: "softmax",
  title: "Softmax regression",
  makeModel: () => models.softmaxRegression({ inputShape: [1, 28, 28], numClasses: 10 }),
  lr: 0.1,
  batchSize: 256,
  epochs: 10,
  init: "normal",
  d2lAccuracy: 0.83,
};

if (import.meta.main) await main(spec);
