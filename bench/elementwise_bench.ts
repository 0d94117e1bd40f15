/**
 * W2 of the peer comparison with denax alone: `tanh(x*2+1)*sigmoid(x) - exp(-x*x)` on 2²⁰
 * f32, eager (one kernel per primitive) and jitted, on the backend `init()` picks (webgpu
 * where an adapter exists; `DENAX_BACKEND=cpu` for the reference backend).
 *
 * Each iteration calls the function once and waits for the device by reading one element of
 * the result back, so times include the ~10 ms readback floor of Deno's WebGPU (DESIGN §1);
 * `bench/peers/run.ts` amortises it over 5 calls and compares with jax-js and tfjs.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/elementwise_bench.ts`
 *
 * @module
 */
import { init, jit, np, type Tensor } from "../mod.ts";
import { elementwiseFn } from "./peers/denax.ts";
import { elementwiseData } from "./peers/workloads.ts";

const { name: backend } = await init();
const x = np.array(elementwiseData().data);
const jitted = jit(elementwiseFn);
const readOne = async (t: Tensor) => void (await np.slice(t, [0], [1]).data());

Deno.bench({
  name: `elementwise 2^20 f32, eager (${backend})`,
  group: "elementwise",
  n: 20,
  warmup: 2,
  async fn() {
    await readOne(elementwiseFn(x));
  },
});

Deno.bench({
  name: `elementwise 2^20 f32, jit (${backend})`,
  group: "elementwise",
  baseline: true,
  n: 50,
  warmup: 3,
  async fn() {
    await readOne(jitted(x));
  },
});
