/**
 * VGG on Fashion-MNIST as d2l §7.2 ("Networks Using Blocks (VGG)") trains it: the VGG-11
 * layout with every width divided by 4 (`small_conv_arch = [(1, 16), (1, 32), (2, 64),
 * (2, 128), (2, 128)]`), minibatch SGD with learning rate 0.05, batch size 128, 10 epochs,
 * Xavier-uniform weights (`train_ch6`); d2l reports a test accuracy of about 0.92. Here on
 * the 28×28 images instead of d2l's 224×224 resize: the first two blocks keep their pools and the
 * last three drop theirs, so that the classifier reads 128×7×7 features as d2l's does after five
 * pools of 224×224, and the network is d2l's, weight for weight (43.1M parameters):
 *
 * ```text
 * d2l (224×224):  5 blocks, each ending in MaxPool2d(2, 2) → 128×7×7, Flatten,
 *                 Linear(6272, 4096), ReLU, Dropout(0.5), Linear(4096, 4096), ReLU,
 *                 Dropout(0.5), Linear(4096, 10)
 * here (28×28):   16 M 32 M 64 64 128 128 128 128 → 128×7×7,
 *                 (AdaptiveAvgPool2d(7), an identity), Flatten, the same classifier
 * ```
 *
 * An earlier version dropped only the fifth pool (128×1×1 features, a Linear(128, 4096) and 17.7M
 * parameters, a quarter of the convolutions' work): it sat six of its ten epochs at chance and
 * ended at 0.794, where PyTorch's run of this layout (`bench/d2l_torch.py --model vgg7`) leaves
 * that plateau within 150 steps (`bench/RESULTS.md`).
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
      layers: [16, "M", 32, "M", 64, 64, 128, 128, 128, 128],
      hidden: 4096,
      dropout: 0.5,
      poolSize: 7,
    }),
  lr: 0.05,
  batchSize: 128,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.92,
};

if (import.meta.main) await main(spec);
