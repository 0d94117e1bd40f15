// The compile helper (gpu/precompile.ts): when it is on, which programs it takes, that the
// worker's stand-in resources fit every kernel of real programs (a conv net's training step, a
// scan), that a program compiled with it computes what the cpu reference does, and that the
// worker is ended once idle (the test sanitizers would report it otherwise).
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { rng, withEnv } from "./helpers.ts";
import { grad, jit, lax, nn, np, type Tensor } from "../mod.ts";
import { currentBackend } from "../core/backend.ts";
import type { WebGpuBackend } from "../gpu/backend.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";
import {
  forgetKernels,
  mesaCacheOn,
  PRECOMPILE_MIN_KERNELS,
  precompileEnabled,
  precompileIdle,
  precompileProgram,
  precompileStats,
  setPrecompile,
  setPrecompileWorkerUrl,
  standInTexture,
} from "../gpu/precompile.ts";

const gpu = BACKEND === "webgpu";
const ctx = () => (currentBackend() as WebGpuBackend).runtime.ctx;

const data = (n: number, seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r() * 2 - 1);
};

/** A small conv net's loss: conv, relu, max pool, conv, mean pool, dense, cross-entropy. */
function loss(p: Record<string, Tensor>, x: Tensor, y: Tensor): Tensor {
  let h = lax.conv(x, p.k1, [1, 1], "SAME").add(p.b1.reshape([1, -1, 1, 1]));
  h = nn.relu(h);
  h = lax.maxPool(h, { kernelSize: 2 });
  h = nn.relu(lax.conv(h, p.k2, [1, 1], "SAME"));
  const f = h.mean({ axis: [2, 3] });
  const logits = f.matmul(p.w).add(p.b);
  return y.mul(nn.logSoftmax(logits)).sum({ axis: -1 }).mean().neg();
}

const SHAPES: Record<string, number[]> = {
  k1: [6, 3, 3, 3],
  b1: [6],
  k2: [8, 6, 3, 3],
  w: [8, 5],
  b: [5],
};

function inputs() {
  const p = Object.fromEntries(
    Object.entries(SHAPES).map(([k, s], i) => [
      k,
      np.array(data(s.reduce((a, b) => a * b, 1), 10 + i), { shape: s }).mul(0.5),
    ]),
  );
  const x = np.array(data(4 * 3 * 10 * 10, 3), { shape: [4, 3, 10, 10] });
  const y = np.eye(4, 5);
  return { p, x, y };
}

Deno.test("precompile: standInTexture keeps which sides are powers of two", () => {
  const t = (width: number, height: number, layers: number) =>
    standInTexture({ width, height, layers, format: "rgba32float" });
  assertEquals(t(512, 1024, 1), { kind: "texture", format: "rgba32float", size: [1, 1, 1] });
  assertEquals(t(196, 64, 3), { kind: "texture", format: "rgba32float", size: [3, 1, 3] });
  assertEquals(t(7, 9, 2), { kind: "texture", format: "rgba32float", size: [3, 3, 1] });
});

Deno.test("precompile: mesaCacheOn reads Mesa's variables", () => {
  const names = ["MESA_SHADER_CACHE_DISABLE", "MESA_GLSL_CACHE_DISABLE", "MESA_SHADER_CACHE_DIR"];
  const saved = names.map((n) => Deno.env.get(n));
  try {
    names.forEach((n) => Deno.env.delete(n));
    Deno.env.set("MESA_SHADER_CACHE_DIR", "/tmp/x");
    assert(mesaCacheOn());
    Deno.env.set("MESA_SHADER_CACHE_DISABLE", "true");
    assert(!mesaCacheOn());
    Deno.env.set("MESA_SHADER_CACHE_DISABLE", "false");
    assert(mesaCacheOn());
    Deno.env.set("MESA_GLSL_CACHE_DISABLE", "1");
    assert(!mesaCacheOn());
  } finally {
    names.forEach((n, i) =>
      saved[i] === undefined ? Deno.env.delete(n) : Deno.env.set(n, saved[i]!)
    );
  }
});

Deno.test({
  name: "precompile: DENAX_PRECOMPILE and setPrecompile decide over the adapter",
  ignore: !gpu,
  fn() {
    withEnv({ DENAX_PRECOMPILE: "0" }, () => assert(!precompileEnabled(ctx())));
    withEnv({ DENAX_PRECOMPILE: "1" }, () => {
      assert(precompileEnabled(ctx()));
      setPrecompile(false);
      try {
        assert(!precompileEnabled(ctx()));
      } finally {
        setPrecompile(null);
      }
    });
  },
});

Deno.test({
  name: "precompile: a training step compiled with the worker computes what the cpu does",
  ignore: !gpu,
  async fn() {
    setPrecompile(true);
    const before = { ...precompileStats };
    try {
      const step = jit((p: Record<string, Tensor>, x: Tensor, y: Tensor) => {
        const g = grad(loss)(p, x, y);
        return [loss(p, x, y), ...Object.keys(SHAPES).map((k) => p[k].sub(g[k].mul(0.1)))];
      });
      const { p, x, y } = inputs();
      const got = await Promise.all(step(p, x, y).map((t) => t.data()));
      await precompileIdle();
      const want = await withCpu(() => {
        const { p, x, y } = inputs();
        const g = grad(loss)(p, x, y);
        const outs = [loss(p, x, y), ...Object.keys(SHAPES).map((k) => p[k].sub(g[k].mul(0.1)))];
        return Promise.all(outs.map((t) => t.data()));
      });
      got.forEach((g, i) => assertAllClose(g, want[i], { rtol: 1e-4, atol: 1e-5 }));
      const sent = precompileStats.kernels - before.kernels;
      // the program's kernels were all new unless an earlier test compiled the same ones
      assert(sent === 0 || sent >= PRECOMPILE_MIN_KERNELS, `sent ${sent}`);
      assertEquals(precompileStats.failed, before.failed);
    } finally {
      setPrecompile(null);
    }
  },
});

Deno.test({
  name: "precompile: the worker's stand-ins fit every kernel of a conv step and of a scan",
  ignore: !gpu,
  async fn() {
    const programs = [];
    const { p, x, y } = inputs();
    const step = jit((p: Record<string, Tensor>, x: Tensor, y: Tensor) => grad(loss)(p, x, y));
    await Promise.all(Object.values(step(p, x, y)).map((t) => t.data()));
    programs.push(lastCompiled()!.program);
    const rnn = jit((h0: Tensor, xs: Tensor, w: Tensor, u: Tensor) =>
      lax.scan(
        (h: Tensor, xt: Tensor) => {
          const h2 = np.tanh(xt.matmul(w).add(h.matmul(u)));
          return [h2, h2.sum()];
        },
        h0,
        xs,
      )[1].sum()
    );
    const r = (s: number[], seed: number) =>
      np.array(data(s.reduce((a, b) => a * b, 1), seed), { shape: s });
    await rnn(r([2, 4], 1), r([5, 2, 3], 2), r([3, 4], 3), r([4, 4], 4)).data();
    programs.push(lastCompiled()!.program);
    for (const prog of programs) {
      await precompileIdle(); // the jit's own batches for these programs
      const before = { ...precompileStats };
      // every kernel, as if none had been compiled: the main thread claims none of them
      forgetKernels();
      const sent = precompileProgram(ctx(), prog, () => false, 1);
      await precompileIdle();
      assert(sent > 0);
      assertEquals(
        precompileStats.failed - before.failed,
        0,
        "dispatches the worker's device refused",
      );
      assertEquals(precompileStats.compiled - before.compiled, sent);
    }
  },
});

Deno.test({
  name: "precompile: programs with few new kernels compile on the main thread alone",
  ignore: !gpu,
  async fn() {
    setPrecompile(true);
    try {
      const before = precompileStats.batches;
      const f = jit((a: Tensor) => np.exp(a).add(1).sum());
      await f(np.array(data(37, 5), { shape: [37] })).data();
      assertEquals(precompileStats.batches, before);
    } finally {
      setPrecompile(null);
    }
  },
});

Deno.test({
  name: "precompile: a worker that cannot load leaves the main thread to compile everything",
  ignore: !gpu,
  async fn() {
    await precompileIdle();
    setPrecompile(true);
    setPrecompileWorkerUrl(
      'data:application/javascript,throw new Error("this worker does not start")',
    );
    try {
      const before = { ...precompileStats };
      // a program of its own (a width no other test uses), so that its kernels are new
      const f = jit((p: Record<string, Tensor>, x: Tensor, y: Tensor) => grad(loss)(p, x, y));
      const { p, x, y } = inputs();
      const x2 = np.concatenate([x, x], 2); // 20 × 10 images
      const got = await Promise.all(Object.values(f(p, x2, y)).map((t) => t.data()));
      await precompileIdle();
      assertEquals(precompileStats.workers - before.workers, 1);
      assertEquals(precompileStats.compiled, before.compiled);
      const want = await withCpu(() => {
        const { p, x, y } = inputs();
        const g = grad(loss)(p, np.concatenate([x, x], 2), y);
        return Promise.all(Object.values(g).map((t) => t.data()));
      });
      got.forEach((g, i) => assertAllClose(g, want[i], { rtol: 1e-4, atol: 1e-5 }));
    } finally {
      setPrecompileWorkerUrl(null);
      setPrecompile(null);
    }
  },
});
