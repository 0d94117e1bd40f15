/**
 * W4 of the peer comparison with denax alone: x 64×1×28×28 → conv 6 filters 5×5 padding 2 →
 * conv 16 filters 5×5 valid, loss = Σ y ⊙ c; forward only, and forward + backward (gradients
 * of x and both kernels), each jitted, on the backend `init()` picks. Each iteration reads the
 * loss back, which waits for the whole program.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/conv_bench.ts`
 *
 * Measured on llvmpipe (2 cores), back to back with the tree before the texture implicit GEMM
 * (commit 50fa980): forward 75.8 → 38.0 ms, forward + backward 190.0 → 104.9 ms. Keeping
 * llvmpipe's 8-lane vectors full (rows along the workgroup's x), against b267767, two
 * back-to-back rounds at load 8.5–8.7 (`DENAX_BACKEND=webgpu`): forward 97.7, 111.3 → 63.7,
 * 62.2 ms; forward + backward 357.8, 359.7 → 153.8, 143.4 ms.
 *
 * @module
 */
import { init, jit, np, valueAndGrad } from "../mod.ts";
import { convLoss } from "./peers/denax.ts";
import { convData } from "./peers/workloads.ts";

const { name: backend } = await init();
const d = convData();
const [x, k1, k2, c] = [d.x, d.k1, d.k2, d.c].map((t) => np.array(t.data, { shape: t.shape }));
const forward = jit(convLoss);
const forwardBackward = jit(valueAndGrad(convLoss, { argnums: [0, 1, 2] }));

Deno.bench({
  name: `conv 2 layers, forward (${backend})`,
  group: "conv",
  n: 8,
  warmup: 1,
  async fn() {
    await forward(x, k1, k2, c).data();
  },
});

Deno.bench({
  name: `conv 2 layers, forward + backward (${backend})`,
  group: "conv",
  baseline: true,
  n: 8,
  warmup: 1,
  async fn() {
    const [loss] = forwardBackward(x, k1, k2, c);
    await loss.data();
  },
});
