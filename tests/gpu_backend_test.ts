/**
 * The webgpu backend through the public API: data-dependent loops (`whileLoop`, `foriLoop`
 * with traced bounds) run as deferred tasks (`Backend.defer`), and work issued after a loop
 * waits for it. Each test runs the same function on webgpu and on cpu and compares.
 */
import { assert, assertAllClose, assertEquals, assertRejects } from "@std/assert";
import { type Backend, currentBackend, setBackend, useBackend } from "../core/backend.ts";
import { jit, lax, np, type Tensor, vmap } from "../mod.ts";
import { createWebGpuBackend, LOWERINGS } from "../gpu/backend.ts";
import { AUTOTUNE_CACHE_VERSION } from "../gpu/autotune.ts";
import { sourceFingerprint } from "../gpu/jit/disk_cache.ts";
import { GEMM_VARIANTS, gemmVariantNames } from "../gpu/kernels/gemm.ts";
import { gpu, HAS_GPU, numel, randArray, rng as rngOf } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;
const cpu = await useBackend("cpu");

/** Runs `f` with `b` as the current backend and reads every result back before switching. */
async function on(b: Backend, f: () => Tensor | Tensor[]): Promise<number[][]> {
  const prev = currentBackend();
  setBackend(b);
  try {
    const r = f();
    const outs = Array.isArray(r) ? r : [r];
    return await Promise.all(
      outs.map(async (t) => Array.from(await t.data() as ArrayLike<number>)),
    );
  } finally {
    setBackend(prev);
  }
}

/** Asserts that `f` gives the same values on webgpu as on cpu, and returns them. */
async function sameOnBoth(f: () => Tensor | Tensor[], atol = 1e-5): Promise<number[][]> {
  const want = await on(cpu, f);
  const got = await on(await gpu(), f);
  assertEquals(got.length, want.length);
  got.forEach((g, i) => assertAllClose(g, want[i], { atol, rtol: 1e-5 }));
  return got;
}

const doubling = (x: Tensor) =>
  lax.whileLoop((v: Tensor) => v.less(10), (v: Tensor) => v.mul(2), x);

Deno.test({
  name: "whileLoop on webgpu matches cpu, and ops issued after the loop see its result",
  ignore,
  fn: async () => {
    const [y, z, w, u] = await sameOnBoth(() => {
      const x = np.array(1.5);
      const y = doubling(x);
      const z = y.add(1);
      const w = np.exp(y.mul(0.1)).add(np.array(2)); // an upload after the loop, too
      const u = x.sub(1); // an op on the loop's input, issued after it
      return [y, z, w, u];
    });
    assertEquals(y, [12]);
    assertEquals(z, [13]);
    assertAllClose(w, [Math.exp(1.2) + 2], { rtol: 1e-6 });
    assertEquals(u, [0.5]);
  },
});

Deno.test({
  name: "vmap of whileLoop with a batched predicate on webgpu matches cpu",
  ignore,
  fn: async () => {
    const [r] = await sameOnBoth(() => vmap(doubling)(np.array([1, 3, 11, 2, 0.5])));
    assertEquals(r.slice(0, 3), [16, 12, 11]);
  },
});

Deno.test({
  name: "foriLoop with traced bounds on webgpu matches cpu",
  ignore,
  fn: async () => {
    const [r, s] = await sameOnBoth(() => {
      const i32 = (v: number) => np.array(v, { dtype: "i32" });
      const acc = lax.foriLoop(i32(2), i32(7), (i: Tensor, v: Tensor) => v.add(i.mul(i)), i32(0));
      const f = lax.foriLoop(
        i32(0),
        i32(3),
        (_i: Tensor, v: Tensor) => np.tanh(v.mul(1.5)),
        np.array([0.1, -0.4, 2]),
      );
      return [acc, f];
    });
    assertEquals(r, [4 + 9 + 16 + 25 + 36]);
    assertEquals(s.length, 3);
  },
});

Deno.test({
  name: "jit of whileLoop on webgpu matches cpu",
  ignore,
  fn: async () => {
    const f = jit((x: Tensor, lim: Tensor) =>
      lax.whileLoop(
        ([v]: Tensor[]) => v.sum().less(lim),
        ([v, n]: Tensor[]) => [v.mul(1.5).add(0.25), n.add(1)],
        [x, np.array(0, { dtype: "i32" })],
      )
    );
    const [v, n] = await sameOnBoth(() => f(np.array([0.5, 1, -0.25]), np.array(40)));
    assertEquals(v.length, 3);
    assert(n[0] > 3, `expected several iterations, got ${n[0]}`);
  },
});

Deno.test({
  name: "nested whileLoops and loops issued while another is pending run in order on webgpu",
  ignore,
  fn: async () => {
    const [a, b, c] = await sameOnBoth(() => {
      const inner = (v: Tensor) =>
        lax.whileLoop((u: Tensor) => u.less(v.add(5)), (u: Tensor) => u.add(1), v);
      const nested = lax.whileLoop((v: Tensor) => v.less(30), inner, np.array(1));
      const second = doubling(nested.mul(0.125)); // a loop issued while the first is pending
      return [nested, second, second.add(nested)];
    });
    assertEquals(a, [31]);
    assertEquals(b, [31 / 8 * 4]);
    assertEquals(c, [31 / 2 + 31]);
  },
});

const f32x = (n: number) => ({ shape: [n], dtype: "f32" as const });

/** A gate: a promise and the function that opens it. */
function gate(): [Promise<void>, () => void] {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return [p, open];
}

Deno.test({
  name: "webgpu holds work issued after a deferred task until the task has finished",
  ignore,
  fn: async () => {
    const g = await gpu();
    const a = g.upload(new Float32Array([1, 2, 3]), f32x(3));
    const b = g.upload(new Float32Array([10, 20, 30]), f32x(3));
    const [wait, open] = gate();
    let direct = false;
    g.defer!(async (run) => {
      await wait;
      // the task's own work goes to the device at once, and its reads see it
      run(() => g.copy!(b, a, f32x(3)));
      const seen = await run(() => g.read(a, f32x(3)));
      direct = seen[0] === 10;
    });
    const [n] = g.execute("neg", [a], [f32x(3)], {}, [f32x(3)]); // held back
    const c = g.upload(new Float32Array([7, 8, 9]), f32x(3)); // held back
    const [s] = g.execute("add", [n, c], [f32x(3), f32x(3)], {}, [f32x(3)]);
    assertEquals(g.runtime.pendingTasks, 1);
    const out = g.read(s, f32x(3)); // waits for the task
    await new Promise((r) => setTimeout(r, 20));
    open();
    assertEquals(Array.from(await out), [-3, -12, -21]);
    assert(direct, "a read inside direct() saw the task's own copy");
    assertEquals(g.runtime.pendingTasks, 0);
    for (const h of [a, b, n, c, s]) g.release!(h, f32x(3));
  },
});

Deno.test({
  name: "an error thrown by a deferred task surfaces at the next read, and later work still runs",
  ignore,
  fn: async () => {
    const g = await gpu();
    const a = g.upload(new Float32Array([4]), f32x(1));
    g.defer!(() => Promise.reject(new Error("the loop body failed")));
    const [e] = g.execute("exp", [a], [f32x(1)], {}, [f32x(1)]);
    await assertRejects(() => g.read(e, f32x(1)), Error, "the loop body failed");
    assertAllClose(Array.from(await g.read(e, f32x(1))), [Math.exp(4)], { rtol: 1e-6 });
    await g.sync!();
    g.release!(a, f32x(1));
    g.release!(e, f32x(1));
  },
});

Deno.test({
  name: "a buffer collected while held-back work uses it is not reused before that work runs",
  ignore,
  fn: async () => {
    const g = await gpu();
    const n = 1000;
    const x = g.upload(new Float32Array(n).fill(0.5), f32x(n));
    const [wait, open] = gate();
    let w: unknown;
    g.defer!(async (run) => {
      await wait;
      // without pinning, this upload would get x's buffer from the pool and overwrite it
      w = run(() => g.upload(new Float32Array(n).fill(-7), f32x(n)));
    });
    const [y] = g.execute("exp", [x], [f32x(n)], {}, [f32x(n)]); // held back, reads x
    // what the garbage collector does when x's Tensor goes: straight back to the runtime
    g.runtime.release((x as { buffer: GPUBuffer }).buffer);
    open();
    const v = await g.read(y, f32x(n)) as Float32Array;
    assertAllClose(Array.from(v.subarray(0, 4)), [1, 1, 1, 1].map(() => Math.exp(0.5)), {
      rtol: 1e-6,
    });
    assert(w !== undefined);
    g.release!(w, f32x(n));
    g.release!(y, f32x(n));
  },
});

Deno.test({
  name: "an explicit dispose of a loop's input while the loop is pending is safe on webgpu",
  ignore,
  fn: async () => {
    const got = await on(await gpu(), () => {
      const x = np.array([1, 2, 3]);
      const y = lax.whileLoop((v: Tensor) => v.sum().less(50), (v: Tensor) => v.mul(2), x);
      x[Symbol.dispose]();
      const z = np.array([5, 5, 5]); // may reuse x's buffer: must not clobber the loop's input
      return [y, z];
    });
    assertEquals(got, [[16, 32, 48], [5, 5, 5]]);
  },
});

// ---------------------------------------------------------------- autotuning

const mat = (r: number, c: number) => ({ shape: [r, c], dtype: "f32" as const });
const MM = { contracting: [[1], [0]], batch: [[], []] };

Deno.test({
  name: "autotuning times GEMM variants once per key and its choice round-trips through the cache",
  ignore,
  fn: async () => {
    const cacheFile = `${await Deno.makeTempDir()}/denax/autotune.json`;
    const g = await createWebGpuBackend({ autotune: { cacheFile, reps: 1 } });
    const [M, K, N] = [70, 130, 90];
    const a = g.upload(Float32Array.from({ length: M * K }, (_, i) => (i % 7) - 3), mat(M, K));
    const b = g.upload(Float32Array.from({ length: K * N }, (_, i) => (i % 5) - 2), mat(K, N));
    const [c0] = g.execute("dot_general", [a, b], [mat(M, K), mat(K, N)], MM, [mat(M, N)]);
    const first = await g.read(c0, mat(M, N));
    await g.autotuner!.settled();
    const tuned = [...g.autotuner!.entries];
    assertEquals(tuned.length, 1);
    const [key, entry] = tuned[0];
    assert(key.includes("dot_general") && key.includes("128x256,256x128"), key);
    assert(entry.variant in GEMM_VARIANTS, entry.variant);
    assert(Object.keys(entry.ms).length >= 2, JSON.stringify(entry));
    // the tuned variant computes the same product, and no second job starts
    const [c1] = g.execute("dot_general", [a, b], [mat(M, K), mat(K, N)], MM, [mat(M, N)]);
    assertEquals(Array.from(await g.read(c1, mat(M, N))), Array.from(first));
    await g.autotuner!.settled();
    assertEquals(g.autotuner!.entries.size, 1);
    // the file holds the choice, and a new backend starts from it
    const file = JSON.parse(await Deno.readTextFile(cacheFile));
    assertEquals(file.entries[key].variant, entry.variant);
    const g2 = await createWebGpuBackend({ autotune: { cacheFile } });
    assertEquals(g2.autotuner!.entries.get(key)?.variant, entry.variant);
    await Deno.remove(cacheFile.slice(0, cacheFile.lastIndexOf("/denax")), { recursive: true });
  },
});

Deno.test({
  name: "autotuning ignores a cache file written by other kernel code (version or sources)",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const cacheFile = `${dir}/autotune.json`;
    const entries = { "some-key": { variant: "stale", ms: { stale: 1 } } };
    const loaded = async (j: unknown) => {
      await Deno.writeTextFile(cacheFile, JSON.stringify(j));
      const g = await createWebGpuBackend({ autotune: { cacheFile } });
      return g.autotuner!.entries.get("some-key")?.variant;
    };
    const source = sourceFingerprint();
    const version = AUTOTUNE_CACHE_VERSION;
    assertEquals(await loaded({ version, source, entries }), "stale"); // current: kept
    assertEquals(await loaded({ version: version - 1, source, entries }), undefined);
    assertEquals(await loaded({ version, source: source + "x", entries }), undefined);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "every GEMM tile variant gives the same dot_general and conv results on webgpu",
  ignore,
  fn: async () => {
    const g = await gpu();
    const r = rngOf(3);
    const cases = [
      { prim: "dot_general", ins: [mat(37, 61), mat(61, 45)], params: MM, out: mat(37, 45) },
      {
        prim: "conv_general_dilated",
        ins: [
          { shape: [2, 4, 9, 7], dtype: "f32" as const },
          { shape: [6, 2, 3, 3], dtype: "f32" as const },
        ],
        params: {
          windowStrides: [1, 2],
          padding: [[1, 1], [0, 1]],
          lhsDilation: [1, 1],
          rhsDilation: [1, 1],
          featureGroupCount: 2,
          batchGroupCount: 1,
        },
        out: { shape: [2, 6, 9, 4], dtype: "f32" as const },
      },
    ];
    for (const c of cases) {
      const data = c.ins.map((a) => randArray(r, "f32", numel(a.shape)));
      const bufs = c.ins.map((a, i) => g.upload(data[i], a));
      const results: [string, number[]][] = [];
      for (const caps of [{ textures: true }, { textures: false }]) {
        const base = { ...g.gemmCaps("add", { ins: [], outs: [], params: {} }), ...caps };
        for (const variant of gemmVariantNames(base)) {
          const plan = LOWERINGS[c.prim as "dot_general"]({
            ins: c.ins,
            outs: [c.out],
            params: c.params,
            gemm: { ...base, variant },
          });
          const [o] = [g.alloc!(c.out) as { buffer: GPUBuffer }];
          g.runtime.run(
            plan,
            bufs.map((b) => (b as { buffer: GPUBuffer }).buffer),
            [o.buffer],
            c.prim,
          );
          results.push([variant, Array.from(await g.read(o, c.out) as Float32Array)]);
          g.release!(o, c.out);
        }
      }
      for (const [v, got] of results.slice(1)) {
        assertAllClose(got, results[0][1], { rtol: 1e-5, atol: 1e-5, msg: `${c.prim} ${v}` });
      }
      bufs.forEach((b, i) => g.release!(b, c.ins[i]));
    }
  },
});

// ---------------------------------------------------------------- profiling

Deno.test({
  name: "profiling times every dispatch on the GPU and prints per-op times per submit",
  ignore,
  fn: async () => {
    const lines: string[] = [];
    const g = await createWebGpuBackend({ profile: (l) => lines.push(l), autotune: false });
    const prof = g.runtime.profiler;
    if (!prof) return; // no timestamp-query on this adapter
    const x = g.upload(new Float32Array(4096).fill(0.5), f32x(4096));
    const [e] = g.execute("exp", [x], [f32x(4096)], {}, [f32x(4096)]);
    const [s] = g.execute("add", [e, x], [f32x(4096), f32x(4096)], {}, [f32x(4096)]);
    await g.read(s, f32x(4096));
    await prof.settled();
    const t = Object.fromEntries(prof.totals().map((k) => [k.op, k]));
    assertEquals([t.exp?.count, t.add?.count], [1, 1]);
    assert(t.exp.ms >= 0 && t.exp.ms < 10_000, `${t.exp.ms}`);
    assert(
      lines.some((l) => /submit #\d+: 2 kernels/.test(l) && l.includes("exp")),
      lines.join("\n"),
    );
    assert(prof.report().includes("add"));
  },
});
