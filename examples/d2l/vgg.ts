/**
 * VGG on Fashion-MNIST as d2l §7.2 ("Networks Using Blocks (VGG)") trains it: the VGG-11
 * layout with every width divided by 4 (`small_conv_arch = [(1, 16), (1, 32), (2, 64),
 * (2, 128), (2, 128)]`), minibatch SGD with learning rate 0.05, batch size 128, 10 epochs,
 * Xavier-uniform weights (`train_ch6`); d2l reports a test accuracy of about 0.92. Here on
 * the 28×28 images instead of d2l's 224×224 resize: five 2×2 pools would shrink 28×28 to
 * nothing, so the last block has no pool and the classifier sees 128×1×1 features:
 *
 * ```text
 * d2l (224×224):  5 blocks, each ending in MaxPool2d(2, 2) → 128×7×7, Flatten,
 *                 Linear(6272, 4096), ReLU, Dropout(0.5), Linear(4096, 4096), ReLU,
 *                 Dropout(0.5), Linear(4096, 10)
 * here (28×28):   16 M 32 M 64 64 M 128 128 M 128 128 (no 5th pool) → 128×1×1,
 *                 (AdaptiveAvgPool2d(1), an identity), Flatten,
 *                 Linear(128, 4096), ReLU, Dropout(0.5), Linear(4096, 4096), ReLU,
 *                 Dropout(0.5), Linear(4096, 10)
 * ```
 *
 * (`models.vgg` with `layers` and `poolSize: 1`; 17.7M parameters against d2l's 42.7M.)
 *
 * Run: `deno run -A examples/d2l/vgg.ts [--epochs N] [--limit N]` (`--help` for the rest);
 * writes `out/d2l/vgg.svg`.
 *
 * @module
 */
import { models } from "../../mod.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l §7.2's experiment at 28×28. */
export const spec: D2lSpec = {
  family: "vgg",
  title: "VGG-11/4",
  makeModel: () =>
    models.vgg({
      inputShape: [1, 28, 28],
      numClasses: 10,
      layers: [16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128],
      hidden: 4096,
      dropout: 0.5,
      poolSize: 1,
    }),
  lr: 0.05,
  batchSize: 128,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.92,
};

if (import.meta.main) await main(spec);
