// Run by tests/gpu_exit_test.ts: queues a jitted conv step's gradient on webgpu (its first call:
// the kernels compile, on the compile helper's worker too) and calls Deno.exit at once, with
// the work still running. The process must exit with code 0.
import { grad, init, jit, lax, nn, np, type Tensor } from "../../mod.ts";

await init({ backend: "webgpu" });
const w = Number(Deno.args[0] ?? 10);
function loss(k1: Tensor, k2: Tensor, x: Tensor): Tensor {
  const h = nn.relu(lax.conv(x, k1, [1, 1], "SAME"));
  const g = lax.maxPool(h, { kernelSize: 2 });
  return nn.relu(lax.conv(g, k2, [1, 1], "SAME")).mean({ axis: [2, 3] }).sum();
}
const k1 = np.ones([4, 3, 3, 3]).mul(0.1), k2 = np.ones([5, 4, 3, 3]).mul(0.1);
jit(grad(loss, { argnums: [0, 1] }))(k1, k2, np.ones([2, 3, w, w]));
Deno.exit(0);
