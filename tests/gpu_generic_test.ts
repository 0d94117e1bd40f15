/**
 * Shape-generic kernels: the elementwise, movement, reduction and random kernels, and the jit's
 * fused kernels, read their sizes from a uniform, so that calls that differ only in shape share
 * one pipeline (each distinct pipeline costs llvmpipe ~10-25 ms of compiling).
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { jit, np, random, type Tensor } from "../mod.ts";
import { setBackend } from "../core/backend.ts";
import { genericKernelsEnabled, hoistLiterals, setGenericKernels } from "../gpu/kernels/common.ts";
import type { WebGpuBackend } from "../gpu/backend.ts";
import { canonicalNames } from "../gpu/jit/kernels.ts";
import { gpu, HAS_GPU } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;

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
  assertEquals(params, [64, 35, 7, 5, 6, 7, 8]);
  assert(wgsl.startsWith("@group(0) @binding(1) var<uniform> _P: array<vec4u, 2>;\n"), wgsl);
  // outside main: untouched
  assert(wgsl.includes("return x * 3u;") && wgsl.includes("@workgroup_size(64)"), wgsl);
  assert(wgsl.includes("array<f32, 64>"), wgsl);
  // inside: 0u, 1u, hex literals and type names stay
  assert(wgsl.includes("let i = wid.x * _P[0].x + lid;"), wgsl);
  assert(wgsl.includes("if (i >= _P[0].y)"), wgsl);
  assert(wgsl.includes("(i % _P[0].z) * 1u + 0u"), wgsl);
  assert(wgsl.includes("0x7f800000u") && wgsl.includes("vec4u(_P[0].w, _P[1].x"), wgsl);
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
