/**
 * A compiled program's first call, which creates its pipelines, submits its commands in chunks
 * (`gpu/jit/recorder.ts`) so that the queue runs the first kernels while later pipelines are made;
 * later calls submit one command buffer, and every call computes the same values.
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { jit, np, type Tensor } from "../mod.ts";
import { setBackend } from "../core/backend.ts";
import { jitStats } from "../gpu/jit/mod.ts";
import { recorderSettings } from "../gpu/jit/recorder.ts";
import { gpu, HAS_GPU } from "./gpu_helpers_test.ts";

Deno.test({
  name: "a program's first call submits in chunks while it creates pipelines, later calls once",
  ignore: !HAS_GPU,
  fn: async () => {
    setBackend(await gpu());
    // stages a reduction apart, so that each is a kernel of its own
    const ops = [np.sin, np.cos, np.tanh, np.exp, np.sigmoid];
    const f = (x: Tensor) => {
      let y = x;
      for (const op of ops) y = op(y).sum({ axis: 0, keepdims: true }).mul(0.25).add(x);
      return y;
    };
    const host = (x: number[][]) => {
      const fns = [Math.sin, Math.cos, Math.tanh, Math.exp, (v: number) => 1 / (1 + Math.exp(-v))];
      let y = x;
      for (const fn of fns) {
        const s = y[0].map((_, j) => y.reduce((a, row) => a + fn(row[j]), 0));
        y = x.map((row) => row.map((v, j) => s[j] * 0.25 + v));
      }
      return y.flat();
    };
    const xs = [[0.1, -0.4, 0.7], [0.3, 0.2, -0.9], [-0.5, 0.6, 0.05], [0.8, -0.1, 0.4]];
    const x = np.array(xs);
    const old = recorderSettings.chunkMs;
    recorderSettings.chunkMs = 0; // a submit at every new pipeline
    try {
      const g = jit(f);
      const s0 = jitStats.submits;
      const first = await g(x).data();
      const s1 = jitStats.submits;
      const second = await g(x).data();
      const s2 = jitStats.submits;
      assert(s1 - s0 >= 2, `the first call submitted ${s1 - s0} command buffers`);
      assertEquals(s2 - s1, 1);
      assertEquals(Array.from(second), Array.from(first));
      assertAllClose(Array.from(first), host(xs), { rtol: 1e-5, atol: 1e-5 });
    } finally {
      recorderSettings.chunkMs = old;
    }
  },
});
