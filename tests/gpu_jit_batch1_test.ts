/**
 * Jitted gradients over a batch of one, where a one-element value computed in a fused kernel is
 * read at another lane's index (this raised "internal: a kernel's result read off its output
 * index" on webgpu).
 */
import "./backend.ts";
import { assertAllClose } from "@std/assert";
import { grad, jit, nn, np, type Tensor } from "../mod.ts";

Deno.test("jit(grad(crossEntropy)) over a batch of one equals the eager gradient", async () => {
  for (const shape of [[1, 2], [1, 3], [2, 2]]) {
    const y = np.array(shape[0] === 1 ? [1] : [1, 0], { dtype: "i32" });
    const n = shape[0] * shape[1];
    const x = np.array(Array.from({ length: n }, (_, i) => i * 0.3 - 0.2), { shape });
    const f = (l: Tensor) => nn.losses.crossEntropy(l, y);
    assertAllClose(await jit(grad(f))(x).toArray(), await grad(f)(x).toArray(), {
      rtol: 1e-6,
      atol: 1e-7,
    });
  }
});
