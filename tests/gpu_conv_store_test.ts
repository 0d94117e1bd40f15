/**
 * The texture convolution's tile stores: with a fused epilogue that reads other buffers, the
 * multiply stores its tile by a loop (`gpu/kernels/conv_store.ts`), which must store what the
 * written-out stores do.
 */
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { jit, np, type Tensor } from "../mod.ts";
import { convGeneralDilated } from "../core/lax_conv.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";
import { heavyStore, linOnlyStore, swapStore } from "../gpu/kernels/conv_store.ts";
import { activeProfile } from "../gpu/target.ts";

function data(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s >>> 8) / 2 ** 24 - 0.5;
  });
}

Deno.test("a conv store is heavy where it reads a buffer besides the output", () => {
  assert(!heavyStore("fn storeC(g: u32, m: u32, n: u32, v: f32) {\n  o[lin] = max(v, 0.0);\n}"));
  assert(heavyStore("fn storeC(g: u32, m: u32, n: u32, v: f32) {\n  o[lin] = v + x0[n];\n}"));
});

Deno.test("a jitted conv with a batch-norm-like epilogue stores its tiles by a loop, right", async () => {
  // 1 × 1 kernels: one kernel position, so the multiply runs unsplit (split sums store apart)
  for (const [xs, ws] of [[[8, 64, 4, 4], [128, 64, 1, 1]], [[4, 8, 16, 16], [24, 8, 1, 1]]]) {
    const O = ws[0], pad = (ws[2] - 1) / 2;
    const xd = data(xs.reduce((a, b) => a * b), 1), wd = data(ws.reduce((a, b) => a * b), 2);
    const sd = data(O, 3), bd = data(O, 4);
    const f = (x: Tensor, w: Tensor, s: Tensor, b: Tensor) =>
      np.maximum(
        convGeneralDilated(x, w, { padding: [[pad, pad], [pad, pad]] })
          .mul(s.reshape([1, O, 1, 1])).add(b.reshape([1, O, 1, 1])),
        0,
      );
    const args = () =>
      [np.array(xd).reshape(xs), np.array(wd).reshape(ws), np.array(sd), np.array(bd)] as const;
    const want = await withCpu(() => f(...args()).data());
    const got = await jit(f)(...args()).data();
    assertAllClose(Array.from(got), Array.from(want), { rtol: 1e-4, atol: 1e-4 });
    if (BACKEND === "webgpu" && activeProfile().name !== "gpu") {
      const looped = lastCompiled()!.program.ops.some((o) =>
        o.kind === "dispatch" && o.wgsl.includes("var acc = array<f32")
      );
      assert(looped, `the multiply of ${xs} * ${ws} stores by a loop`);
    }
  }
});

Deno.test("a conv epilogue at lin alone is recognised, also stored swapped", () => {
  const sgd = ["let v0 = o[lin];", "let t1 = (v0 + v * 0.5);", "o[lin] = t1;"];
  assertEquals(linOnlyStore(sgd, 12, 5, 9), { body: sgd, swap: false });
  assertEquals(linOnlyStore(swapStore([12, 5, 3, 3], sgd), 12, 5, 9), { body: sgd, swap: true });
  // swapped with other sizes, or an index besides lin: not at lin alone
  assertEquals(linOnlyStore(swapStore([12, 6, 3, 3], sgd), 12, 5, 9), null);
  assertEquals(linOnlyStore(["let v0 = x0[lin / 9u % 12u];", "o[lin] = v + v0;"], 12, 5, 9), null);
  assertEquals(linOnlyStore(["o[lin] = v * f32(lin % 3u);"], 12, 5, 9), null);
});
