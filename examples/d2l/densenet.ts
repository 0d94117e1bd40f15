/**
 * DenseNet on Fashion-MNIST as d2l §8.7 ("Densely Connected Networks (DenseNet)") trains it:
 * `models.d2lDenseNet()` (64 stem channels, growth rate 32, four dense blocks of four
 * BN-ReLU-3×3 conv layers, transitions halving the channels), minibatch SGD with learning
 * rate 0.1, batch size 256, 10 epochs, Xavier-uniform weights (`train_ch6`); d2l reports a
 * test accuracy of about 0.91. d2l resizes to 96×96; a 28×28 image is too small for the
 * network's stride 32 (the third transition's 2×2 pool would get a 1×1 map), so each 28×28
 * image is zero-padded by 2 pixels a side to 32×32 (its pixels unchanged, no resampling);
 * the blocks then see 8, 4, 2 and 1 pixels a side (0.76M parameters, as d2l's).
 *
 * Run: `deno run -A examples/d2l/densenet.ts [--epochs N] [--limit N]` (`--help` for the
 * rest); writes `out/d2l/densenet.svg`.
 *
 * @module
 */
import { models, np, type Tensor } from "../../mod.ts";
import type { AnyLayer } from "../../layers/layer.ts";
import { type D2lSpec, main } from "./_common.ts";

/** d2l's DenseNet on 28×28 images zero-padded to 32×32 (see the module comment). */
export function densenet32(): AnyLayer {
  const net = models.d2lDenseNet();
  const pad = (x: Tensor): Tensor => np.pad(x, [[0, 0], [0, 0], [2, 2], [2, 2]]);
  return {
    ...net,
    name: `${net.name} on 28×28 zero-padded to 32×32`,
    apply: (params, x, opts) => net.apply(params, pad(x), opts),
  } as AnyLayer;
}

/** d2l §8.7's experiment with 28×28 images padded to 32×32. */
export const spec: D2lSpec = {
  family: "densenet",
  title: "DenseNet",
  makeModel: densenet32,
  lr: 0.1,
  batchSize: 256,
  epochs: 10,
  init: "xavier",
  d2lAccuracy: 0.91,
};

if (import.meta.main) await main(spec);
