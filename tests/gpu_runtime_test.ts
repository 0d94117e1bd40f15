/**
 * The WebGPU runtime: pipeline cache, lazy submission, compile errors, device loss, the
 * buffer pool's leak check, and the lowering table's coverage of every primitive.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { ShapedArray } from "../core/aval.ts";
import { traceClosed } from "../core/builder.ts";
import "../mod.ts"; // installs the tensor methods the traced function uses
import type { Tensor } from "../mod.ts";
import { createWebGpuBackend, LOWERINGS } from "../gpu/backend.ts";
import { GpuError, GpuUnavailableError } from "../gpu/errors.ts";
import { elementwiseKernel, inp, out } from "../gpu/kernels/common.ts";
import { bucketBytes } from "../gpu/pool.ts";
import { PRIM_NAMES } from "../core/prims/names.ts";
import { gpu, HAS_GPU } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;
const f32x = (n: number) => ({ shape: [n], dtype: "f32" as const });

Deno.test("every first-order primitive has a webgpu lowering", () => {
  const missing = PRIM_NAMES.filter((p) => typeof LOWERINGS[p] !== "function");
  assertEquals(missing, []);
  assertEquals(new Set(PRIM_NAMES).size, PRIM_NAMES.length);
});

Deno.test("pool buckets are powers of two or 1.5x powers of two, at least 256 bytes", () => {
  assertEquals([0, 4, 256, 257, 384, 385, 512, 513, 1000, 4096].map(bucketBytes), [
    256,
    256,
    256,
    384,
    384,
    512,
    512,
    768,
    1024,
    4096,
  ]);
});

Deno.test({
  name: "webgpu pipeline cache hits for a repeated op and shape",
  ignore,
  fn: async () => {
    const g = await gpu();
    const x = g.upload(new Float32Array(33).fill(1), f32x(33));
    const before = g.runtime.stats;
    const [a] = g.execute("cosh", [x], [f32x(33)], {}, [f32x(33)]);
    const mid = g.runtime.stats;
    const [b] = g.execute("cosh", [a], [f32x(33)], {}, [f32x(33)]);
    const after = g.runtime.stats;
    assertEquals(after.pipelineHits - mid.pipelineHits, 1);
    assertEquals(after.pipelineMisses, mid.pipelineMisses);
    assert(mid.pipelineMisses + mid.pipelineHits > before.pipelineMisses + before.pipelineHits);
    const y = await g.read(b, f32x(33)) as Float32Array;
    assert(Math.abs(y[0] - Math.cosh(Math.cosh(1))) < 1e-5);
    for (const h of [x, a, b]) g.release!(h, f32x(33));
  },
});

Deno.test({
  name: "webgpu records many dispatches per submit instead of one submit per op",
  ignore,
  fn: async () => {
    const g = await gpu();
    await g.sync!();
    const s0 = g.runtime.stats;
    let x = g.upload(new Float32Array([0.5]), f32x(1));
    for (let k = 0; k < 10; k++) {
      const [y] = g.execute("neg", [x], [f32x(1)], {}, [f32x(1)]);
      g.release!(x, f32x(1));
      x = y;
    }
    const v = await g.read(x, f32x(1));
    const s1 = g.runtime.stats;
    assertEquals(v[0], 0.5);
    assertEquals(s1.dispatches - s0.dispatches, 10);
    assertEquals(s1.submits - s0.submits, 1);
    g.release!(x, f32x(1));
  },
});

Deno.test({
  name: "a WGSL kernel that does not compile raises GpuError naming the op, with the source",
  ignore,
  fn: async () => {
    const g = await gpu();
    const bad = "@compute @workgroup_size(1) fn main() { let x: f32 = undefined_thing; }";
    const e = await assertRejects(() => g.runtime.checkCompile(bad, "my_op"), GpuError);
    assert(e.message.includes("my_op"), e.message);
    assert(e.message.includes("undefined_thing"), e.message);
    assert(e.message.includes("1 | @compute"), "numbered source in the message");
    assertEquals(e.op, "my_op");
    assertEquals(e.wgsl, bad);
  },
});

Deno.test({
  name: "a compile error in an eager dispatch surfaces at the next readback",
  ignore,
  fn: async () => {
    const g = await gpu();
    const k = elementwiseKernel({
      bindings: [
        { name: "a", type: "f32", access: "read", ref: inp(0) },
        { name: "o", type: "f32", access: "read_write", ref: out(0) },
      ],
      total: 4,
      body: "o[i] = a[i] +* 1.0;",
    });
    const x = g.upload(new Float32Array(4), f32x(4));
    const [y] = g.execute("neg", [x], [f32x(4)], {}, [f32x(4)]);
    g.runtime.run(
      { steps: [{ kind: "dispatch", kernel: k }], temps: [] },
      [
        (x as { buffer: GPUBuffer }).buffer,
      ],
      [(y as { buffer: GPUBuffer }).buffer],
      "broken_op",
    );
    const e = await assertRejects(() => g.read(y, f32x(4)), GpuError);
    assert(e.message.includes("broken_op"), e.message);
    // the error is reported once; the backend keeps working afterwards
    const [z] = g.execute("neg", [x], [f32x(4)], {}, [f32x(4)]);
    assertEquals(Array.from(await g.read(z, f32x(4))), [-0, -0, -0, -0]);
    for (const h of [x, y, z]) g.release!(h, f32x(4));
  },
});

Deno.test({
  name: "buffers return to the pool: live count goes back to its baseline",
  ignore,
  fn: async () => {
    const g = await gpu();
    await g.sync!();
    const base = g.runtime.stats.storage.live;
    const shape = [3, 17];
    const aval = { shape, dtype: "f32" as const };
    for (let k = 0; k < 5; k++) {
      const x = g.upload(new Float32Array(51).fill(k), aval);
      const [s] = g.execute("reduce_sum", [x], [aval], { axes: [1] }, [{
        shape: [3],
        dtype: "f32",
      }]);
      const [srt] = g.execute("sort", [x], [aval], { axis: 1, numKeys: 1, descending: false }, [
        aval,
      ]);
      assertEquals(Array.from(await g.read(s, { shape: [3], dtype: "f32" })), [
        17 * k,
        17 * k,
        17 * k,
      ]);
      g.release!(x, aval);
      g.release!(s, aval);
      g.release!(srt, aval);
    }
    await g.sync!();
    const st = g.runtime.stats.storage;
    assertEquals(st.live, base);
    assert(st.pooled > 0);
    // a reacquired buffer comes from the pool, not a new createBuffer
    const created = st.created;
    const y = g.upload(new Float32Array(51), aval);
    assertEquals(g.runtime.stats.storage.created, created);
    g.release!(y, aval);
  },
});

Deno.test({
  name: "a garbage-collected array handle returns its buffer to the pool",
  ignore: ignore || typeof (globalThis as { gc?: () => void }).gc !== "function",
  fn: async () => {
    const g = await gpu();
    await g.sync!();
    const base = g.runtime.stats.storage.live;
    (() => {
      for (let k = 0; k < 10; k++) g.upload(new Float32Array(8), f32x(8));
    })();
    assertEquals(g.runtime.stats.storage.live, base + 10);
    for (let k = 0; k < 5 && g.runtime.stats.storage.live > base; k++) {
      (globalThis as unknown as { gc: () => void }).gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(g.runtime.stats.storage.live, base);
  },
});

Deno.test({
  name: "a lost device rejects readback with GpuUnavailableError instead of hanging",
  ignore,
  fn: async () => {
    const g = await createWebGpuBackend();
    const x = g.upload(new Float32Array([1, 2]), f32x(2));
    g.runtime.ctx.device.destroy();
    await g.runtime.ctx.lost;
    await assertRejects(() => g.read(x, f32x(2)), GpuUnavailableError);
  },
});

Deno.test({
  name: "pipelines created asynchronously share the cache and report compile errors",
  ignore,
  fn: async () => {
    const g = await gpu();
    const src = `@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1)
fn main() { o[0] = 41.0 + 1.0; } // async ${Math.random()}`;
    const p = await g.runtime.pipelineAsync(src, "async_op");
    assert(g.runtime.pipeline(src, "async_op") === p);
    assert(await g.runtime.pipelineAsync(src, "async_op") === p);
    const bad = src.replace("41.0 + 1.0", "undefined_name");
    const e = await assertRejects(() => g.runtime.pipelineAsync(bad, "async_bad"), GpuError);
    assert(e.message.includes("async_bad") && e.message.includes("undefined_name"), e.message);
    assert(/^ *3 \|/m.test(e.message), e.message); // the numbered source
  },
});

Deno.test({
  name:
    "a kernel binding more than the per-buffer limit is a GpuError naming the op, eager and jit",
  ignore,
  fn: async () => {
    const g = await gpu();
    const limit = g.runtime.ctx.limits.maxStorageBufferBindingSize;
    const rows = Math.ceil(limit / 4096) + 16; // rows of 1024 f32: just over the limit
    const big = { shape: [rows, 1024], dtype: "f32" as const };
    const x = g.upload(new Float32Array(4), f32x(4));
    const e = assertThrows(() => g.execute("neg", [x], [big], {}, [big]), GpuError);
    assert(e.message.includes("neg") && e.message.includes(`f32[${rows},1024]`), e.message);
    assert(e.message.includes("maxStorageBufferBindingSize"), e.message);
    // jit: at compile time, before any buffer exists
    const { jaxpr } = traceClosed(
      (a: Tensor) => [a.mul(2).add(1)],
      [new ShapedArray(big.shape, "f32")],
    );
    const je = assertThrows(() => g.compileJaxpr(jaxpr), GpuError);
    assert(je.message.includes("maxStorageBufferBindingSize"), je.message);
    g.release!(x, f32x(4));
  },
});

Deno.test({
  name: "the pipeline cache keeps its bounds, evicting the least recently used source first",
  ignore,
  fn: async () => {
    const g = await gpu();
    const rt = g.runtime;
    const saved = rt.pipelineCacheLimits;
    const tag = Math.random();
    const src = (k: number) =>
      `@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1)
fn main() { o[0] = ${k}.0; } // lru ${tag}`;
    try {
      rt.pipelineCacheLimits = { maxEntries: 4 };
      assert(rt.stats.pipelines <= 4);
      const first = [0, 1, 2, 3].map((k) => rt.pipeline(src(k), `lru${k}`));
      rt.pipeline(src(0), "lru0"); // 0 is now the most recently used
      const ev = rt.stats.pipelineEvictions;
      rt.pipeline(src(4), "lru4"); // evicts 1
      assertEquals(rt.stats.pipelines, 4);
      assertEquals(rt.stats.pipelineEvictions, ev + 1);
      assert(rt.pipeline(src(0), "lru0") === first[0]);
      const misses = rt.stats.pipelineMisses;
      const again = rt.pipeline(src(1), "lru1"); // compiled again, and it works
      assertEquals(rt.stats.pipelineMisses, misses + 1);
      assert(again !== first[1]);
      await rt.checkCompile(src(1), "lru1");
      // by bytes: a bound below two sources keeps one
      rt.pipelineCacheLimits = { maxEntries: 100, maxBytes: src(0).length + 1 };
      assertEquals(rt.stats.pipelines, 1);
    } finally {
      rt.pipelineCacheLimits = saved;
    }
  },
});
