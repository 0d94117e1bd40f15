// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * Memory that does not depend on luck: long jitted training loops and long runs of eager ops
 * keep their device bytes and buffer counts flat *without* a forced collection by the test
 * (the runtime's memory budget asks for one itself; see `gpu/runtime.ts`), `using` frees a
 * tensor at the end of its scope, the pool's caps hold, and the jit and pipeline caches stay
 * at their bounds however many shapes a function sees.
 *
 * None of these tests calls `gc()`; they pass with or without `--expose-gc`.
 */
import "./backend.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { compileStats, jitCacheLimits } from "../core/jit_prim.ts";
import { backendInfo, init, jit, np, random, type Tensor } from "../mod.ts";
import { sequential } from "../layers/combinators.ts";
import { linear } from "../layers/linear.ts";
import { crossEntropy } from "../layers/losses.ts";
import { sgd } from "../optim/mod.ts";
import { makeTrainStep } from "../train/step.ts";
import type { WebGpuBackend } from "../gpu/backend.ts";
import { BufferPool } from "../gpu/pool.ts";
import { DEFAULT_MEMORY_BUDGET } from "../gpu/runtime.ts";
import { gpu, HAS_GPU } from "./gpu_helpers_test.ts";

/** Runs `f` with `b` as the current backend and `budget` as its memory budget. */
async function onGpu<T>(budget: number, f: (g: WebGpuBackend) => Promise<T>): Promise<T> {
  const g = await gpu();
  const prev = currentBackend();
  const prevBudget = g.memoryBudget;
  setBackend(g as Backend);
  g.memoryBudget = budget;
  try {
    return await f(g);
  } finally {
    g.memoryBudget = prevBudget;
    setBackend(prev);
  }
}

interface Sample {
  readonly step: number;
  readonly liveBytes: number;
  readonly liveBuffers: number;
  readonly pooledBuffers: number;
}

/** Waits for the device (one readback-sized wait), then lets finalizers run, and samples. */
async function sample(g: WebGpuBackend, step: number): Promise<Sample> {
  await g.sync!();
  await new Promise((r) => setTimeout(r, 0));
  const m = g.memory;
  return {
    step,
    liveBytes: m.liveBytes + m.programBytes,
    liveBuffers: m.liveBuffers,
    pooledBuffers: m.pooledBuffers,
  };
}

/**
 * Asserts that the curve is flat after warm-up: the largest value over the second half is no
 * more than the value at 10% plus `slack`, for each counter.
 */
function assertFlat(samples: readonly Sample[], slack: Omit<Sample, "step">): void {
  const at10 = samples[Math.floor(samples.length / 10)];
  const late = samples.slice(Math.floor(samples.length / 2));
  const show = samples.map((s) => `${s.step}:${s.liveBytes}B/${s.liveBuffers}+${s.pooledBuffers}`);
  for (const k of ["liveBytes", "liveBuffers", "pooledBuffers"] as const) {
    const max = Math.max(...late.map((s) => s[k]));
    assert(max <= at10[k] + slack[k], `${k} grew from ${at10[k]} to ${max}: ${show.join(" ")}`);
  }
}

const BUDGET = 128 * 1024;

Deno.test({
  name: "20k jitted training steps keep device bytes and buffer counts flat without a forced GC",
  ignore: !HAS_GPU,
  fn: async () => {
    await onGpu(BUDGET, async (g) => {
      const net = sequential([
        linear({ inFeatures: 4, outFeatures: 8 }),
        (x: Tensor) => np.maximum(x, 0),
        linear({ inFeatures: 8, outFeatures: 3 }),
      ]);
      const opt = sgd({ lr: 0.05 });
      const step = makeTrainStep((p: any, b: any) => crossEntropy(net.apply(p, b.x), b.y), opt);
      let params = net.init(random.key(0));
      let state = opt.init(params);
      const batch = {
        x: random.normal(random.key(1), [4, 4]),
        y: random.randint(random.key(2), [4], 0, 3),
      };
      const key = random.key(3);
      const every = 1000;
      const samples: Sample[] = [];
      let loss: Tensor | null = null;
      for (let i = 1; i <= 20_000; i++) {
        const r = step(params, state, batch, key);
        [params, state, loss] = [r.params, r.optState, r.loss];
        if (i % every === 0) samples.push(await sample(g, i));
      }
      assert(Number.isFinite(await loss!.item() as number));
      // a step leaves one dead buffer (its loss) until a collection: between two samples
      // at most `every` of them, whatever V8 would have done on its own
      const maxLive = Math.max(...samples.map((s) => s.liveBytes));
      assert(maxLive <= BUDGET + every * 256, `live bytes reached ${maxLive}`);
      assertFlat(samples, { liveBytes: 16 * 1024, liveBuffers: 64, pooledBuffers: 64 });
      assert(g.memory.collections > 0);
    });
  },
});

Deno.test({
  name: "50k eager webgpu ops keep device bytes and buffer counts flat without a forced GC",
  ignore: !HAS_GPU,
  fn: async () => {
    await onGpu(BUDGET, async (g) => {
      let x = np.ones([64]);
      const every = 1000;
      const samples: Sample[] = [];
      for (let i = 1; i <= 25_000; i++) {
        x = x.mul(0.5).add(0.5); // two ops, each leaving the previous array dead
        if (i % every === 0) samples.push(await sample(g, 2 * i));
      }
      assertAllClose(await x.data(), new Float32Array(64).fill(1));
      const maxLive = Math.max(...samples.map((s) => s.liveBytes));
      assert(maxLive <= BUDGET + 2 * every * 256, `live bytes reached ${maxLive}`);
      assertFlat(samples, { liveBytes: 16 * 1024, liveBuffers: 64, pooledBuffers: 64 });
    });
  },
});

Deno.test({
  name: "eager ops on tiny arrays stay under the live buffer count without a byte budget",
  ignore: !HAS_GPU,
  fn: async () => {
    await onGpu(0, async (g) => {
      const rt = g.runtime;
      const saved = rt.maxLiveBuffers;
      rt.maxLiveBuffers = 512;
      const collections = rt.memory.collections;
      try {
        let x = np.ones([4]);
        const every = 250;
        const samples: Sample[] = [];
        const made = () =>
          rt.stats.storage.live + rt.stats.storage.destroyed + rt.memory.pooledBuffers;
        let perStretch = 0;
        for (let i = 1; i <= 5000; i++) {
          const before = i % every === 1 ? made() : 0;
          x = x.mul(0.5).add(0.5);
          if (i % every === 1) perStretch = Math.max(perStretch, made() - before);
          if (i % every === 0) samples.push(await sample(g, 2 * i));
        }
        assertAllClose(await x.data(), new Float32Array(4).fill(1));
        const maxLive = Math.max(...samples.map((s) => s.liveBuffers));
        // what one stretch between two awaits leaves, on top of the threshold's doubling
        const bound = 2 * 512 + every * Math.max(perStretch, 2) + 64;
        assert(maxLive <= bound, `${maxLive} live buffers, bound ${bound}`);
        assert(rt.memory.collections > collections, "no collection was requested");
        assertFlat(samples, { liveBytes: 16 * 1024, liveBuffers: 64, pooledBuffers: 64 });
      } finally {
        rt.maxLiveBuffers = saved;
      }
    });
  },
});

Deno.test({
  name: "a tensor declared with `using` returns its buffer at the end of its scope",
  ignore: !HAS_GPU,
  fn: async () => {
    await onGpu(0, async (g) => {
      const x = np.ones([32]);
      let inside = 0, total = 0;
      {
        using y = x.mul(2);
        using z = y.add(1);
        await g.sync!();
        inside = g.memory.liveBuffers;
        total = (await z.sum().item()) as number;
      }
      await g.sync!();
      // y and z are back in the pool; the sum's result may still wait for a collection
      assert(g.memory.liveBuffers <= inside - 1, `${g.memory.liveBuffers} live, ${inside} inside`);
      assertEquals(total, 96);
      // disposing twice, or disposing a donated argument, is a no-op
      const w = x.add(1);
      w[Symbol.dispose]();
      w[Symbol.dispose]();
      const f = jit((a: Tensor) => a.mul(3), { donateArgnums: 0 });
      const d = x.add(2);
      const out = f(d);
      d[Symbol.dispose]();
      assertAllClose(await out.data(), new Float32Array(32).fill(9));
    });
  },
});

Deno.test({
  name: "the memory budget trims the pool before the live bytes reach it",
  ignore: !HAS_GPU,
  fn: async () => {
    await onGpu(0, async (g) => {
      await g.sync!();
      const rt = g.runtime;
      rt.storage.trim();
      const held0 = g.memory.liveBytes + g.memory.programBytes;
      rt.memoryBudget = held0 + 512 * 1024;
      const bufs = Array.from({ length: 64 }, () => rt.acquire(4096));
      for (const b of bufs) rt.release(b);
      await g.sync!();
      assert(g.memory.pooledBytes >= 64 * 4096, `pooled ${g.memory.pooledBytes}`);
      const trims = g.memory.trims;
      const b = rt.acquire(384 * 1024); // over the budget with the pool, not without it
      const m = g.memory;
      assert(m.trims > trims);
      assert(m.pooledBytes < 64 * 4096);
      assert(m.liveBytes + m.programBytes + m.pooledBytes <= rt.memoryBudget, JSON.stringify(m));
      rt.release(b);
    });
  },
});

Deno.test({
  name: "the pool caps each size bucket and destroys buffers no request needed for a while",
  ignore: !HAS_GPU,
  fn: async () => {
    const g = await gpu();
    const pool = new BufferPool(g.runtime.ctx.device, 0x80 | 0x8, {
      maxPerBucket: 8,
      idleTicks: 4,
    });
    const bufs = Array.from({ length: 20 }, () => pool.acquire(1000));
    assertEquals(pool.stats.liveBytes, 20 * 1024);
    for (const b of bufs) pool.release(b);
    assertEquals(pool.stats.pooled, 8);
    assertEquals(pool.stats.destroyed, 12);
    // a period in which 3 of the 8 were needed at once: 5 were idle throughout
    for (let t = 0; t < 4; t++) pool.tick(); // the first sweep only starts the watermark
    const held = [pool.acquire(1000), pool.acquire(1000), pool.acquire(1000)];
    for (const b of held) pool.release(b);
    for (let t = 0; t < 4; t++) pool.tick();
    assertEquals(pool.stats.pooled, 3);
    for (let t = 0; t < 4; t++) pool.tick();
    assertEquals(pool.stats.pooled, 0);
    assertEquals(pool.stats.live, 0);
  },
});

Deno.test({
  name: "a jitted function called with 600 shapes keeps the compile caches at their bounds",
  fn: async () => {
    const saved = { ...jitCacheLimits };
    const g = HAS_GPU && currentBackend().name === "webgpu"
      ? currentBackend() as WebGpuBackend
      : null;
    const savedPipes = g?.runtime.pipelineCacheLimits;
    jitCacheLimits.maxEntries = 32;
    if (g) g.runtime.pipelineCacheLimits = { maxEntries: 48 };
    try {
      const f = jit((x: Tensor) => np.tanh(x.mul(2).add(1)).sum());
      const ev = compileStats.evictions;
      let last: Tensor | null = null;
      for (let n = 1; n <= 600; n++) {
        last = f(np.array(new Float32Array(n).fill(0.25))); // an upload: no kernel per shape
        assert(compileStats.cached <= 32, `${compileStats.cached} executables cached`);
        if (g) assert(g.runtime.stats.pipelines <= 48, `${g.runtime.stats.pipelines} pipelines`);
      }
      assertAllClose(await last!.item() as number, 600 * Math.tanh(1.5), { rtol: 1e-5 });
      assert(compileStats.evictions - ev >= 600 - 32);
      // Small kernels are shape-generic (sizes in a uniform), so these 600 shapes share their
      // pipelines and the bound above holds without evicting any; the pipeline LRU's eviction
      // itself is tested in gpu_runtime_test.ts.
      // the first shape was evicted long ago: it compiles again and computes the same
      const compiles = compileStats.compiles;
      const again = f(np.array([0.25, 0.25, 0.25]));
      assertEquals(compileStats.compiles - compiles, 1);
      assertAllClose(await again.item() as number, 3 * Math.tanh(1.5), { rtol: 1e-5 });
      // and a cached one does not
      f(np.array(new Float32Array(600).fill(0.25)));
      assertEquals(compileStats.compiles - compiles, 1);
    } finally {
      Object.assign(jitCacheLimits, saved);
      if (g && savedPipes) g.runtime.pipelineCacheLimits = savedPipes;
    }
  },
});

Deno.test("a jitted function keeps at most jitCacheLimits.maxEntries traces, least recent out", () => {
  const saved = { ...jitCacheLimits };
  try {
    jitCacheLimits.maxEntries = 4;
    const f = jit((x: Tensor) => x.mul(2));
    for (let n = 1; n <= 6; n++) f(np.zeros([n]));
    assertEquals(f.traceCount, 6);
    f(np.zeros([6])); // still cached
    f(np.zeros([3])); // cached, and now the most recent
    assertEquals(f.traceCount, 6);
    f(np.zeros([1])); // evicted: traced again
    assertEquals(f.traceCount, 7);
    f(np.zeros([3])); // survived the eviction because it was used
    assertEquals(f.traceCount, 7);
  } finally {
    Object.assign(jitCacheLimits, saved);
  }
});

Deno.test("the documented cache and budget defaults", () => {
  assertEquals(DEFAULT_MEMORY_BUDGET, 2 ** 30);
  assertEquals(jitCacheLimits.maxEntries, Number(Deno.env.get("DENAX_JIT_CACHE") ?? 256));
});

Deno.test({
  name: "init takes a memory budget and backendInfo reports the device memory",
  ignore: !HAS_GPU,
  fn: async () => {
    const prev = currentBackend();
    try {
      await init({ backend: "webgpu", memoryBudget: 3 * 2 ** 20 });
      const x = np.ones([1000]);
      await x.data();
      const m = backendInfo().memory!;
      assertEquals(m.budget, 3 * 2 ** 20);
      assert(m.liveBytes >= 4000 && m.liveBuffers >= 1, JSON.stringify(m));
      await init({ backend: "cpu" });
      assertEquals(backendInfo().memory, undefined);
    } finally {
      setBackend(prev);
    }
  },
});
