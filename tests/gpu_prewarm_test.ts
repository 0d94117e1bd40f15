/**
 * Compiling a program's new pipelines on a second device (`gpu/jit/prewarm.ts`): on a software
 * adapter with Mesa's shader cache on, the first large program asks for the second device, a
 * later one hands it the later half of its new pipelines, which it dispatches over dummy
 * resources without a validation error, and the program computes what it computes without it.
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { BACKEND, withCpu } from "./backend.ts";
import { jit, np, type Tensor } from "../mod.ts";
import { currentBackend, setBackend } from "../core/backend.ts";
import { createWebGpuBackend } from "../gpu/backend.ts";
import {
  prewarmEnabled,
  prewarmIdle,
  prewarmReady,
  prewarmStats,
  setPrewarmMinimum,
} from "../gpu/jit/prewarm.ts";
import { HAS_GPU } from "./gpu_helpers_test.ts";

/** A jitted program of `k` reductions whose kernels differ in structure (chains of k ops). */
function chains(k: number, flavour: (x: Tensor) => Tensor) {
  return (x: Tensor) => {
    let acc = np.zeros([]);
    for (let i = 0; i < k; i++) {
      let t = x.add(acc);
      for (let j = 0; j <= i; j++) t = flavour(t);
      acc = np.sum(t, { axis: 1 }).mean();
    }
    return acc;
  };
}

Deno.test({
  name: "a second device compiles the last part of a large program's new pipelines",
  ignore: BACKEND !== "webgpu" || !HAS_GPU,
  async fn() {
    const backend = await createWebGpuBackend();
    const rt = backend.runtime;
    if (!prewarmEnabled(rt)) return; // a hardware adapter, or Mesa's cache is off here
    const prev = currentBackend();
    setPrewarmMinimum(4);
    try {
      const x = () => np.array(Float32Array.from({ length: 6 * 7 }, (_, i) => Math.cos(i) / 4));
      const f1 = chains(6, (t) => np.tanh(t).mul(1.5));
      const f2 = chains(6, (t) => np.sin(t).add(0.25));
      setBackend(backend);
      const got1 = await jit(f1)(x().reshape([6, 7])).data();
      assert(prewarmReady(rt), "the first large program asked for the second device");
      const before = { ...prewarmStats };
      const got2 = await jit(f2)(x().reshape([6, 7])).data();
      await prewarmIdle(rt);
      assertEquals(prewarmStats.programs, before.programs + 1, "the second program prewarmed");
      assert(prewarmStats.pipelines >= before.pipelines + 2, "its last part");
      assertEquals(prewarmStats.errors, before.errors, "the dummy dispatches were valid");
      const [want1, want2] = withCpu(() => [f1(x().reshape([6, 7])), f2(x().reshape([6, 7]))]);
      assertAllClose(Array.from(got1), Array.from(await want1.data()), { rtol: 1e-4 });
      assertAllClose(Array.from(got2), Array.from(await want2.data()), { rtol: 1e-4 });
    } finally {
      setPrewarmMinimum(null);
      setBackend(prev);
    }
  },
});

Deno.test({
  name: "no second device where Mesa's shader cache is disabled or DENAX_PREWARM=0",
  ignore: BACKEND !== "webgpu" || !HAS_GPU,
  async fn() {
    const rt = (await createWebGpuBackend()).runtime;
    const saved = ["MESA_SHADER_CACHE_DISABLE", "DENAX_PREWARM"].map((k) => [k, Deno.env.get(k)]);
    try {
      Deno.env.set("MESA_SHADER_CACHE_DISABLE", "true");
      assert(!prewarmEnabled(rt));
      Deno.env.delete("MESA_SHADER_CACHE_DISABLE");
      Deno.env.set("DENAX_PREWARM", "0");
      assert(!prewarmEnabled(rt));
      Deno.env.delete("DENAX_PREWARM");
      assertEquals(prewarmEnabled(rt), rt.ctx.software, "else on software adapters only");
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k!) : Deno.env.set(k!, v);
    }
  },
});
