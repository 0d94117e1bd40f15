/**
 * GoogLeNet on Fashion-MNIST as d2l §7.4 ("Multi-Branch Networks (GoogLeNet)") trains it:
 * `models.d2lGoogLeNet()` (d2l's Inception table, biased convs, ReLU, no batch norm),
 * minibatch SGD with learning rate 0.1, batch size 128, 10 epochs, Xavier-uniform weights
 * (`train_ch6`); d2l reports a test accuracy of about 0.90. Here on the 28×28 images instead
 * of d2l's 96×96 resize, with the network unchanged: the stem (7×7/2 conv, 3×3/2 max pool,
 * 1×1 and 3×3 convs, 3×3/2 max pool) gives 4×4 maps to the Inception 3 blocks instead of
 * 12×12, then 2×2 and 1×1 before the global average pool (5.98M parameters, as d2l's).
 *
 * Run: `deno run -A examples/d2l/googlenet.ts [--epochs N] [--limit N]` (`--help` for the
 * rest); writes `out/d2l/googlenet.svg`.
 *
 * @module
 */
import { models } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l §7.4's experiment at 28×28. */
export const spec: D2lSpec = {
  family: "googlenet",
  title: "GoogLeNet",
  makeModel: () => models.d2lGoogLeNet(),
  lr: 0.1,
  batchSize: 128,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.90,
};

if (import.meta.main) await main(spec);
