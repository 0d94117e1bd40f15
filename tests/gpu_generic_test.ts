/**
 * Shape-generic kernels: the elementwise, movement, reduction and random kernels, and the jit's
 * fused kernels, read their sizes from a uniform, so that calls that differ only in shape share
 * one pipeline (each distinct pipeline costs llvmpipe ~10-25 ms of compiling).
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { jit, np, random, type Tensor } from "../mod.ts";
import { setBackend } from "../core/backend.ts";
import {
  directivesFirst,
  GENERIC_MAX_WORK,
  genericKernelsEnabled,
  genericPays,
  hoistLiterals,
  setGenericKernels,
  setGenericMaxWork,
  udivMagic,
} from "../gpu/kernels/common.ts";
import type { WebGpuArray, WebGpuBackend } from "../gpu/backend.ts";
import { lanewisePlan } from "../gpu/kernels/elementwise.ts";
import { activeProfile } from "../gpu/target.ts";
import { canonicalNames } from "../gpu/jit/kernels.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";
import { gpu, HAS_GPU, rng } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;

Deno.test("a uniform declared at the top of an f16 kernel goes after its enable directive", () => {
  const src = [
    "enable f16;",
    "@group(0) @binding(0) var<storage, read_write> o: array<f16>;",
    "@compute @workgroup_size(64)",
    "fn main(@builtin(global_invocation_id) g: vec3u) {",
    "  if (g.x < 100u) { o[g.x] = f16(7.0); }",
    "}",
  ].join("\n");
  const { wgsl, params } = hoistLiterals(src, 1);
  assertEquals(params, [100]);
  assert(wgsl.startsWith("enable f16;\n@group(0) @binding(1) var<uniform> _P"), wgsl);
  assertEquals(wgsl.match(/enable f16;/g)?.length, 1);
  // already first, or none: unchanged
  assertEquals(directivesFirst(src), src);
  assertEquals(directivesFirst("fn f() {}\n"), "fn f() {}\n");
  assertEquals(
    directivesFirst("@group(0) @binding(2) var<uniform> u: vec4u;\nenable f16;\nfn f() {}\n"),
    "enable f16;\n@group(0) @binding(2) var<uniform> u: vec4u;\nfn f() {}\n",
  );
});

Deno.test("hoistLiterals moves main's size literals into the uniform and keeps the rest", () => {
  const src = [
    "@group(0) @binding(0) var<storage, read_write> o: array<f32>;",
    "var<workgroup> sv: array<f32, 64>;",
    "fn helper(x: u32) -> u32 { return x * 3u; }",
    "@compute @workgroup_size(64)",
    "fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {",
    "  let i = wid.x * 64u + lid;",
    "  if (i >= 35u) { return; }",
    "  let m = bitcast<u32>(o[i]) & 0x7f800000u;",
    "  o[i] = f32((i % 7u) * 1u + 0u + m) + f32(vec4u(5u, 6u, 7u, 8u).x);",
    "}",
    "",
  ].join("\n");
  const { wgsl, params } = hoistLiterals(src, 1);
  // the division first (its divisor, multiplier and shift), then the other literals in order
  const { m, s: sh } = udivMagic(7);
  assertEquals(params, [7, m, sh, 64, 35, 5, 6, 7, 8]);
  assert(wgsl.startsWith("@group(0) @binding(1) var<uniform> _P: array<vec4u, 3>;\n"), wgsl);
  assert(wgsl.includes("fn _udiv(") && wgsl.includes("fn _umod("), wgsl);
  // outside main: untouched
  assert(wgsl.includes("return x * 3u;") && wgsl.includes("@workgroup_size(64)"), wgsl);
  assert(wgsl.includes("array<f32, 64>"), wgsl);
  // inside: 0u, 1u, hex literals and type names stay
  assert(wgsl.includes("let i = wid.x * _P[0].w + lid;"), wgsl);
  assert(wgsl.includes("if (i >= _P[1].x)"), wgsl);
  assert(wgsl.includes("(_umod(i, _P[0].x, _P[0].y, _P[0].z)) * 1u + 0u"), wgsl);
  assert(wgsl.includes("0x7f800000u") && wgsl.includes("vec4u(_P[1].y, _P[1].z"), wgsl);
  // a dividend that something binds tighter to keeps a plain division (by the uniform)
  const tight = hoistLiterals("\nfn main() { let a = 3u * i / 5u; let b = -j % 6u; }", 0);
  assert(!tight.wgsl.includes("_udiv("), tight.wgsl);
  assert(tight.wgsl.includes("_P[0].x * i / _P[0].y; let b = -j % _P[0].z;"), tight.wgsl);
  // an indexed, called or parenthesised dividend is divided by the helper
  const ops = hoistLiterals("\nfn main() { let a = f(i)[2u] / 5u + (i + j) % 6u; }", 0);
  assert(ops.wgsl.includes("_udiv(f(i)[_P[1].y], _P[0].x, _P[0].y)"), ops.wgsl);
  assert(ops.wgsl.includes("_umod((i + j), _P[0].z, _P[0].w, _P[1].x)"), ops.wgsl);
  // nothing to hoist: the source is returned as is
  const plain = "@compute @workgroup_size(8)\nfn main() { let a = 1u; }";
  assertEquals(hoistLiterals(plain, 0), { wgsl: plain, params: [] });
});

Deno.test({
  name: "eager elementwise, movement, reduction and random calls of two shapes share pipelines",
  ignore,
  fn: async () => {
    const g = await gpu();
    setBackend(g);
    assert(genericKernelsEnabled());
    const work = async (n: number, m: number) => {
      const x = random.uniform(random.key(n), [n, m]);
      const y = np.exp(x).mul(x);
      const z = np.sum(np.broadcastTo(y.reshape([n, 1, m]), [n, 3, m]), { axis: 1 });
      const s = np.slice(np.concatenate([z, x], 0), [1, 0], [n + 1, m]);
      return [await x.data(), await s.data()] as const;
    };
    await work(5, 9); // the first shape compiles the kernels
    const before = (g as WebGpuBackend).runtime.stats.pipelineMisses;
    const [x, s] = await work(11, 13); // another shape of the same structure
    assertEquals((g as WebGpuBackend).runtime.stats.pipelineMisses - before, 0);
    // and the results are right: rows 1..n of [3·x·exp(x); x]
    const want = Array.from({ length: 11 * 13 }, (_, k) => {
      const j = k + 13;
      return j < 11 * 13 ? 3 * x[j] * Math.exp(x[j]) : x[j - 11 * 13];
    });
    assertAllClose(Array.from(s), want, { rtol: 1e-5, atol: 1e-6 });
  },
});

Deno.test({
  name: "jitted fused kernels of two shapes share pipelines, and each gives its own results",
  ignore,
  fn: async () => {
    const g = await gpu();
    setBackend(g);
    const f = (x: Tensor, b: Tensor) => np.tanh(x.mul(b)).sum({ axis: 0 }).add(b.mul(0.5));
    const go = async (n: number, m: number) => {
      const x = random.normal(random.key(n), [n, m]);
      const b = random.normal(random.key(m), [m]);
      const out = await jit(f)(x, b).data();
      const xs = await x.data(), bs = await b.data();
      const want = Array.from({ length: m }, (_, j) => {
        let acc = 0;
        for (let i = 0; i < n; i++) acc += Math.tanh(xs[i * m + j] * bs[j]);
        return acc + bs[j] * 0.5;
      });
      assertAllClose(Array.from(out), want, { rtol: 1e-4, atol: 1e-5 });
    };
    await go(6, 10);
    const before = (g as WebGpuBackend).runtime.stats.pipelineMisses;
    await go(9, 14);
    assertEquals((g as WebGpuBackend).runtime.stats.pipelineMisses - before, 0);
  },
});

Deno.test({
  name: "with generic kernels off, a second shape compiles its own pipelines",
  ignore,
  fn: async () => {
    const g = await gpu();
    setBackend(g);
    setGenericKernels(false);
    try {
      const x = np.arange(7 * 3).reshape([7, 3]).astype("f32");
      await np.exp(x).data();
      const before = (g as WebGpuBackend).runtime.stats.pipelineMisses;
      const y = np.arange(8 * 5).reshape([8, 5]).astype("f32");
      const e = await np.exp(y).data();
      assert((g as WebGpuBackend).runtime.stats.pipelineMisses > before);
      assertAllClose(Array.from(e), Array.from({ length: 40 }, (_, k) => Math.exp(k)), {
        rtol: 1e-5,
      });
    } finally {
      setGenericKernels(true);
    }
  },
});

Deno.test("canonicalNames renumbers leaf names one-to-one in order of first appearance", () => {
  const src = "var<storage> x37: array<f32>;\nvar<storage> x5v: array<vec4<f32>>;\n" +
    "fn main() { let a = x37[0u] + x5v[1u].x + x5[2u] + f(0x12u, x37[3u]); }";
  assertEquals(
    canonicalNames(src),
    "var<storage> x0: array<f32>;\nvar<storage> x1v: array<vec4<f32>>;\n" +
      "fn main() { let a = x0[0u] + x1v[1u].x + x2[2u] + f(0x12u, x0[3u]); }",
  );
});

Deno.test({
  name: "texture-staged operands are addressed right over several rows and layers",
  ignore,
  fn: async () => {
    const g = await gpu();
    if (!activeProfile().textureStaging) return; // the "gpu" profile reads storage only
    // small texture limits force several layers: 656 · 656 · 2 texels are 2 layers of 656 rows
    // of 656 texels (f32(1/656) is below 1/656: without its correction the quotient of 656 by
    // 656 would be 0), 11264 texels 11 layers of 64 rows of 16 texels
    for (const [texels, side] of [[656 * 656 * 2, 656], [11264, 64]]) {
      const n = texels * 4;
      const caps = { maxTextureDimension2D: side, maxTextureArrayLayers: 256 };
      const plan = lanewisePlan(["f32", "f32"], "f32", n, ([a, b]) => `(${a} - 2.0 * ${b})`, caps);
      assert(plan.textures?.length === 2 && plan.textures[0].layers > 1, "staged in layers");
      const xs = Float32Array.from({ length: n }, (_, k) => k % 1000);
      const ys = Float32Array.from({ length: n }, (_, k) => (k * 7) % 501);
      const a = g.upload(xs, { shape: [n], dtype: "f32" }) as WebGpuArray;
      const b = g.upload(ys, { shape: [n], dtype: "f32" }) as WebGpuArray;
      const o = g.runtime.acquire(n * 4);
      g.runtime.run(plan, [a.buffer, b.buffer], [o], "test");
      const got = new Float32Array(await g.runtime.read(o, n * 4));
      const bad = got.findIndex((v, k) => v !== xs[k] - 2 * ys[k]);
      assertEquals(bad, -1, `texels ${texels}: element ${bad} is ${got[bad]}`);
      g.runtime.release(o);
    }
  },
});

Deno.test("the division helpers of generic kernels divide every u32 exactly", () => {
  // a JS port of the WGSL (_mulhi from 16-bit halves, then _udiv), against exact division
  const mulhi = (a: number, b: number) => {
    const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
    const p01 = a0 * b1, p10 = a1 * b0;
    const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
  };
  const udiv = (x: number, d: number) => {
    const { m, s } = udivMagic(d);
    const t = mulhi(m, x);
    return ((t + (((x - t) >>> 0) >>> 1)) >>> 0) >>> s;
  };
  const r = rng(7);
  const ds = [2, 3, 5, 7, 49, 196, 656, 65535, 65536, 65537, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
  for (let k = 0; k < 300; k++) ds.push(2 + Math.floor(r() * 5000), 2 + Math.floor(r() * 2 ** 31));
  for (const d of ds) {
    const xs = [0, 1, d - 1, d, (d + 1) >>> 0, 2 ** 32 - 1, 2 ** 31, (2 ** 32 - d) >>> 0];
    for (let k = 0; k < 50; k++) xs.push(Math.floor(r() * 2 ** 32));
    for (const x of xs) {
      if (udiv(x, d) !== Math.floor(x / d)) throw new Error(`${x} / ${d}: ${udiv(x, d)}`);
    }
  }
});

Deno.test("large kernels whose indexing divides or reads staged textures stay specialised", () => {
  const div = "@compute @workgroup_size(64)\nfn main() { let d = i % 7u; }";
  const tex =
    "@compute @workgroup_size(64)\nfn main() { let v = textureLoad(t, vec2u(i, 0u), 0u, 0); }";
  const flat =
    "@compute @workgroup_size(64)\nfn main() { if (i >= 4096u) { return; } o[i] = a[i]; }";
  assert(genericPays(div, GENERIC_MAX_WORK - 1) && genericPays(tex, GENERIC_MAX_WORK - 1));
  assert(!genericPays(div, GENERIC_MAX_WORK) && !genericPays(tex, GENERIC_MAX_WORK));
  assert(genericPays(flat, 2 ** 30)); // a division by 1 or none: the uniform costs nothing
});

Deno.test({
  name: "four-lane fused kernels carry the lanes' indices across rows of any size",
  ignore,
  fn: async () => {
    const g = await gpu();
    setBackend(g);
    // every kernel large: four lanes whatever the size
    setGenericMaxWork(0);
    try {
      // lanes that cross the last dimension (6), or several at once (2 × 2), or size-1 dimensions
      for (const shape of [[2, 3, 6], [5, 3, 2, 2], [4, 3, 1, 1, 3]]) {
        const f = (x: Tensor, b: Tensor) =>
          np.maximum(x.mul(b.reshape([1, 3, ...shape.slice(2).map(() => 1)])).add(1), 0.25);
        const x = random.normal(random.key(shape.length), shape);
        const b = np.array([0.5, -2, 3]);
        const out = await jit(f)(x, b).data();
        const exe = lastCompiled()!;
        const carried = exe.program.ops.some((o) =>
          o.kind === "dispatch" && /array<vec4<f32>>/.test(o.wgsl) &&
          /select\(0u, 1u, e\d+ ==/.test(o.wgsl)
        );
        // the real-GPU profile runs one element per invocation
        assert(carried === activeProfile().fourLane, `four-lane kernel, carried indices: ${shape}`);
        const xs = await x.data();
        const inner = shape.slice(2).reduce((a, c) => a * c, 1);
        const want = Array.from(
          xs,
          (v, k) => Math.max(v * [0.5, -2, 3][Math.floor(k / inner) % 3] + 1, 0.25),
        );
        assertAllClose(Array.from(out), want, { rtol: 1e-6, atol: 1e-6 });
      }
    } finally {
      setGenericMaxWork(null);
    }
  },
});
