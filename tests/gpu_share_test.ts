/**
 * Kernels that differ only in integer literals share one pipeline (`gpu/jit/share.ts`): the
 * literals that differ move into a uniform, the rest stay; literals WGSL needs constant never
 * move; textures of another power-of-two kind keep kernels apart; and a jitted program computes
 * the same bits with sharing on and off.
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { BACKEND, withCpu } from "./backend.ts";
import { jit, lax, np, type Tensor } from "../mod.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";
import { setKernelSharing, shareKernels } from "../gpu/jit/share.ts";
import type { DispatchOp, Program, Res } from "../gpu/jit/program.ts";
import type { TextureSpec } from "../gpu/kernels/common.ts";

const SRC = (n: number, m: number, t = 4) =>
  `@group(0) @binding(0) var<storage, read> x0: array<f32>;
@group(0) @binding(1) var<storage, read_write> o0: array<f32>;
var<workgroup> sv: array<f32, 64>;
const T = ${t}u;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= ${n}u) { return; }
  let k = i32(g.x) + ${m}i;
  o0[g.x] = x0[(g.x * ${m}u) % 7u] + f32(k) * ${m}.5f + sv[0] * f32(T) * 0.25f;
}`;

function dispatch(wgsl: string, bindings: Res[] = [{ kind: "slot", slot: 0 }, {
  kind: "slot",
  slot: 1,
}]): DispatchOp {
  return { kind: "dispatch", wgsl, label: "t", grid: [1, 1, 1], bindings, fused: true };
}

function program(ops: DispatchOp[], textures: TextureSpec[] = []): Program {
  return { ops, textures } as unknown as Program;
}

Deno.test("sources that differ only in suffixed literals share one, with the differences in a uniform", () => {
  const a = dispatch(SRC(100, 3)), b = dispatch(SRC(200, 3)), c = dispatch(SRC(300, 5));
  const p = shareKernels(program([a, b, c, a]));
  const ops = p.ops as DispatchOp[];
  assertEquals(new Set(ops.map((o) => o.wgsl)).size, 1, "one source");
  const w = ops[0].wgsl;
  assert(w.startsWith("@group(0) @binding(2) var<uniform> _hl: array<vec4u, 1>;\n"), w);
  // one column per distinct run of values: the guard's, the i32 addend's, the product's, the
  // f32 factor's
  assert(w.includes("if (g.x >= _hl[0].x)"), w);
  assert(w.includes("i32(g.x) + bitcast<i32>(_hl[0].y)"), w);
  assert(w.includes("(g.x * _hl[0].z) % 7u"), "an equal literal stays");
  assert(w.includes("f32(k) * bitcast<f32>(_hl[0].w)") && w.includes("* 0.25f"), "floats too");
  assert(w.includes("const T = 4u;"), "a const declaration stays");
  assert(w.includes("@workgroup_size(64)") && w.includes("array<f32, 64>"));
  const words = ops.map((o) => (o.bindings[2] as { readonly words: readonly number[] }).words);
  const f = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];
  assertEquals(words, [[100, 3, 3, f(3.5)], [200, 3, 3, f(3.5)], [300, 5, 5, f(5.5)], [
    100,
    3,
    3,
    f(3.5),
  ]]);
  assertEquals(ops[0].bindings.slice(0, 2), a.bindings, "its own bindings first");
});

Deno.test("a const declaration that differs keeps the sources apart", () => {
  // T differs, and it is a constant expression: the templates differ there
  const p = shareKernels(program([dispatch(SRC(100, 3)), dispatch(SRC(200, 3, 8))]));
  assertEquals(p.ops.map((o) => (o as DispatchOp).wgsl.includes("_hl")), [false, false]);
});

Deno.test("sources over textures of another power-of-two kind are not shared", () => {
  const tex = (w: number): TextureSpec => ({
    width: w,
    height: 4,
    layers: 1,
    format: "rgba32float",
  });
  const b = (i: number): Res[] => [{ kind: "tex", index: i }, { kind: "slot", slot: 1 }];
  const p = shareKernels(program(
    [dispatch(SRC(100, 3), b(0)), dispatch(SRC(200, 3), b(1)), dispatch(SRC(300, 3), b(2))],
    [tex(8), tex(6), tex(16)],
  ));
  const shared = p.ops.map((o) => (o as DispatchOp).wgsl.includes("_hl"));
  assertEquals(shared, [true, false, true], "widths 8 and 16 share; 6 does not");
});

const LOOPED = (setup: number, inner: number, flat: number) =>
  `@group(0) @binding(0) var<storage, read> x0: array<f32>;
@group(0) @binding(1) var<storage, read_write> o0: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let row = g.x / ${setup}u;
  let col = (g.x + 1u) % ${setup}u;
  let flat = g.x * 3u / ${flat}u;
  var acc = 0.0;
  for (var k = 0u; k < 8u; k = k + 1u) { acc = acc + x0[(row + k) % ${inner}u]; }
  o0[g.x] = acc + f32(col + flat);
}`;

Deno.test("a setup division of a looping kernel is hoisted as a multiply-high; others are not", () => {
  const p = shareKernels(program([dispatch(LOOPED(7, 5, 9)), dispatch(LOOPED(12, 5, 9))]));
  const [a, b] = p.ops as DispatchOp[];
  assertEquals(a.wgsl, b.wgsl);
  assert(a.wgsl.includes("let row = _hl_div(g.x, _hl[0].x, _hl[0].y, _hl[0].z);"), a.wgsl);
  assert(a.wgsl.includes("let col = _hl_mod((g.x + 1u), _hl[0].x, _hl[0].y, _hl[0].z);"));
  assert(a.wgsl.includes("g.x * 3u / 9u"), "a dividend after a tighter operator: not hoisted");
  const words = (o: DispatchOp) => (o.bindings[2] as { readonly words: readonly number[] }).words;
  assertEquals([words(a)[0], words(b)[0]], [7, 12], "the divisors, then multiplier and shift");
  // the words give the exact quotient by the helpers' multiply-high form
  for (const [d, m, sh] of [words(a).slice(0, 3), words(b).slice(0, 3)]) {
    for (const x of [0, 1, d - 1, d, 12345, 2 ** 32 - 1]) {
      const t = Number((BigInt(m) * BigInt(x)) >> 32n);
      assertEquals(Math.floor((t + Math.floor((x - t) / 2)) / 2 ** sh), Math.floor(x / d));
    }
  }
  const inner = shareKernels(program([dispatch(LOOPED(7, 5, 9)), dispatch(LOOPED(7, 6, 9))]));
  assertEquals(inner.ops.map((o) => (o as DispatchOp).wgsl.includes("_hl")), [false, false]);
  const flat = shareKernels(program([dispatch(LOOPED(7, 5, 9)), dispatch(LOOPED(7, 5, 10))]));
  assertEquals(flat.ops.map((o) => (o as DispatchOp).wgsl.includes("_hl")), [false, false]);
  const one = shareKernels(program([dispatch(LOOPED(1, 5, 9)), dispatch(LOOPED(3, 5, 9))]));
  assertEquals(words(one.ops[0] as DispatchOp).slice(0, 3), [1, 0, 0], "1 divides by select");
});

Deno.test("an elementwise kernel's divisions are hoisted only where its work is small", () => {
  const ew = (d: number, blocks: number): DispatchOp => ({
    ...dispatch(`@group(0) @binding(0) var<storage, read_write> o0: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { o0[g.x] = g.x % ${d}u; }`),
    grid: [blocks, 1, 1],
    bindings: [{ kind: "slot", slot: 0 }],
  });
  // 4096 workgroups of 64: over genericWork's limit, a division per element stays literal
  const big = shareKernels(program([ew(3, 4096), ew(5, 4096)]));
  assertEquals(big.ops.map((o) => (o as DispatchOp).wgsl.includes("_hl")), [false, false]);
  const small = shareKernels(program([ew(3, 4), ew(5, 4)]));
  const srcs = small.ops.map((o) => (o as DispatchOp).wgsl);
  assert(srcs[0] === srcs[1] && srcs[0].includes("o0[g.x] = _hl_mod(g.x, _hl[0].x"), srcs[0]);
});

Deno.test("pooling kernels are never shared", () => {
  const pool = (w: string) => ({ ...dispatch(w), label: "reduce_window" });
  const p = shareKernels(program([pool(SRC(100, 3)), pool(SRC(200, 3))]));
  assertEquals(p.ops.map((o) => (o as DispatchOp).wgsl.includes("_hl")), [false, false]);
});

Deno.test("a single source or identical ones are left alone", () => {
  const a = dispatch(SRC(100, 3));
  const p = program([a, a]);
  assert(shareKernels(p) === p);
});

Deno.test({
  name: "a jitted program with repeated layer shapes shares kernels, to the same bits",
  ignore: BACKEND !== "webgpu",
  async fn() {
    // layers that differ in their input channels: their kernels share on either profile
    const f = (x: Tensor, k1: Tensor, y: Tensor, k2: Tensor, r: Tensor, s: Tensor) => {
      const a = np.maximum(lax.conv(x, k1, [1, 1], "SAME"), 0);
      const b = np.maximum(lax.conv(y, k2, [1, 1], "SAME"), 0);
      return [
        np.sum(a, { axis: [0, 2, 3] }),
        np.sum(b, { axis: [0, 2, 3] }),
        a.mean(),
        b.mean(),
        np.sum(np.exp(r), { axis: 1 }).mul(0.5),
        np.sum(np.exp(s), { axis: 1 }).mul(0.25),
      ];
    };
    const fill = (shape: number[], s: number) =>
      np.array(
        Float32Array.from({ length: shape.reduce((p, q) => p * q) }, (_, i) => Math.sin(i * s)),
      ).reshape(shape);
    const args = () =>
      [
        fill([2, 16, 4, 4], 0.7),
        fill([8, 16, 3, 3], 1.3),
        fill([2, 32, 4, 4], 0.4),
        fill([8, 32, 3, 3], 0.9),
        fill([64, 37], 0.3),
        fill([48, 53], 0.8),
      ] as const;
    const want = await withCpu(async () => await Promise.all(f(...args()).map((t) => t.data())));
    const run = async (on: boolean) => {
      setKernelSharing(on);
      try {
        const outs = jit(f)(...args());
        const got = await Promise.all(outs.map((t) => t.data()));
        const srcs = new Set(
          lastCompiled()!.program.ops.flatMap((o) => (o.kind === "dispatch" ? [o.wgsl] : [])),
        );
        return { got, srcs };
      } finally {
        setKernelSharing(null);
      }
    };
    const on = await run(true), off = await run(false);
    for (let i = 0; i < want.length; i++) {
      assertAllClose(Array.from(on.got[i]), Array.from(want[i]), { rtol: 1e-4, atol: 1e-5 });
      assertEquals(Array.from(on.got[i]), Array.from(off.got[i]), `output ${i}: same bits`);
    }
    assert(on.srcs.size < off.srcs.size, `${on.srcs.size} sources shared vs ${off.srcs.size}`);
    assert([...on.srcs].some((s) => s.includes("var<uniform> _hl")));
  },
});
