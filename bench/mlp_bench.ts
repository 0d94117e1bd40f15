/**
 * W3 of the peer comparison with denax alone: one jitted SGD training step (forward, backward,
 * update; params donated) of the MLP 784-256-256-10 with ReLU and softmax cross-entropy, batch
 * 128, lr 0.1, on the backend `init()` picks.
 *
 * Each iteration runs 10 steps (divide the time by 10 for a step), reading the loss back after
 * every step, or once after the 10th. Reading back costs ≥ 10 ms in Deno (DESIGN §1), which is
 * why training loops should not read the loss back every step.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/mlp_bench.ts`
 *
 * @module
 */
import { init, jit, type Tensor } from "../mod.ts";
import { mlpInputs, mlpStep } from "./peers/denax.ts";

const { name: backend } = await init();
const step = jit(mlpStep, { donateArgnums: [0] });
let { params } = mlpInputs();
const { x, y } = mlpInputs();

Deno.bench({
  name: `mlp train 10 steps, loss read every step (${backend})`,
  group: "mlp",
  baseline: true,
  n: 8,
  warmup: 1,
  async fn() {
    for (let s = 0; s < 10; s++) {
      let loss: Tensor;
      [params, loss] = step(params, x, y);
      await loss.data();
    }
  },
});

Deno.bench({
  name: `mlp train 10 steps, one readback (${backend})`,
  group: "mlp",
  n: 8,
  warmup: 1,
  async fn() {
    let loss: Tensor | undefined;
    for (let s = 0; s < 10; s++) [params, loss] = step(params, x, y);
    await loss!.data();
  },
});
