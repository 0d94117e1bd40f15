/**
 * ResNet-18 on Fashion-MNIST as d2l §8.6 ("Residual Networks (ResNet)") trains it:
 * `models.d2lResNet18()` (d2l's layout: biased convs, batch norm, a bare 1×1 conv shortcut),
 * minibatch SGD with learning rate 0.05, batch size 256, 10 epochs, Xavier-uniform weights
 * (`train_ch6`); d2l reports a test accuracy of about 0.91. Here on the 28×28 images instead
 * of d2l's 96×96 resize, with the network unchanged: the stem (7×7/2 conv, 3×3/2 max pool)
 * gives 7×7 maps, and the four stages see 7, 4, 2 and 1 pixels a side (24×24 … 3×3 in d2l)
 * before the global average pool (11.2M parameters, as d2l's).
 *
 * Run: `deno run -A examples/d2l/resnet.ts [--epochs N] [--limit N]` (`--help` for the rest);
 * writes `out/d2l/resnet.svg`.
 *
 * @module
 */
import { models } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l §8.6's experiment at 28×28. */
export const spec: D2lSpec = {
  family: "resnet",
  title: "ResNet-18",
  makeModel: () => models.d2lResNet18(),
  lr: 0.05,
  batchSize: 256,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.91,
};

if (import.meta.main) await main(spec);
