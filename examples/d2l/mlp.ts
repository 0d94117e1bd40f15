/**
 * The multilayer perceptron on Fashion-MNIST as d2l §4.3 ("Concise Implementation of
 * Multilayer Perceptrons") trains it: `nn.Sequential(nn.Flatten(), nn.Linear(784, 256),
 * nn.ReLU(), nn.Linear(256, 10))`, weights N(0, 0.01²), minibatch SGD with learning rate 0.1,
 * batch size 256, 10 epochs, 28×28 inputs (as d2l). d2l reports a test accuracy of about 0.85.
 *
 * Run: `deno run -A examples/d2l/mlp.ts [--epochs N] [--limit N]` (`--help` for the rest);
 * writes `out/d2l/mlp.svg`.
 *
 * @module
 */
import { models } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l §4.3's experiment. */
export const spec: D2lSpec = {
  family: "mlp",
  title: "MLP",
  makeModel: () => models.mlp({ sizes: [784, 256, 10], inputShape: [1, 28, 28] }),
  lr: 0.1,
  batchSize: 256,
  epochs: 10,
  init: "normal",
  d2lAccuracy: 0.85,
};

if (import.meta.main) await main(spec);
