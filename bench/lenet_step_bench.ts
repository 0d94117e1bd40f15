/**
 * One jitted SGD training step of LeNet-5 at batch 128 (Fashion-MNIST shapes, 1×28×28), on the
 * backend `init()` picks: d2l's classic network (sigmoid, 2×2 average pooling) and the modern
 * variant (ReLU, 2×2 max pooling, whose gradient is `select_and_scatter_add`). Each iteration
 * reads the loss back, which waits for the whole step.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp DENAX_BACKEND=webgpu deno bench -A bench/lenet_step_bench.ts`
 *
 * Measured on llvmpipe: see the module documentation of `bench/conv_gemm_bench.ts` (the figures
 * of this session's convolution and pooling work are collected there).
 *
 * @module
 */
import { init, np, optim, random, type Tensor } from "../mod.ts";
import { crossEntropy } from "../layers/losses.ts";
import { lenet } from "../models/cnn.ts";
import { makeTrainStep } from "../train/step.ts";

const { name: backend } = await init();
const batch = 128;
const x = random.uniform(random.key(1), [batch, 1, 28, 28]);
const y = np.array(Array.from({ length: batch }, (_, i) => i % 10), { dtype: "i32" });

for (const variant of ["classic", "modern"] as const) {
  const net = lenet({ variant });
  const opt = optim.sgd({ lr: 0.01 });
  const step = makeTrainStep(
    // deno-lint-ignore no-explicit-any -- the network's params are a nested record
    (p: any, b: { x: Tensor; y: Tensor }, key: Tensor) =>
      crossEntropy(net.apply(p, b.x, { train: true, key }), b.y),
    opt,
  );
  let params = net.init(random.key(0));
  let optState = opt.init(params);
  Deno.bench({
    name: `LeNet ${variant} training step, batch ${batch} (${backend})`,
    n: 10,
    warmup: 2,
    async fn() {
      const o = step(params, optState, { x, y }, random.key(2));
      params = o.params;
      optState = o.optState;
      await o.loss.item();
    },
  });
}
