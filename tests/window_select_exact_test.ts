/**
 * `select_and_scatter_add` (max/min pooling's gradient) on the backend under test against the
 * cpu reference, bit for bit, eager and jitted: ties (the first extremum wins), NaNs (the first
 * NaN wins), ±0, windows wholly in padding, stride 2 with overlapping and disjoint windows, base
 * and window dilation, min pooling, windows over every dim, f32 and i32. The cotangents are
 * multiples of 1/4, so every sum is exact in any order and a difference is a wrong selection.
 * Then the WebGPU lowering's shape: a selection pass writing one u32 per window to a temporary,
 * then a gather pass reading it; in a jitted program both passes, unshared, with the temporary
 * allocated as the program's own. The window kernels merge adjacent trivial dims (pooling's batch
 * and channels), so that layers differing only there get one source.
 */
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertEquals } from "@std/assert";
import { rng } from "./helpers.ts";
import { jit, lax, np, type Tensor, vjp } from "../mod.ts";
import type { DType } from "../core/dtype.ts";
import { selectAndScatterAdd } from "../core/prims/window_select.ts";
import { windowOutShape, type WindowParams } from "../core/prims/window_base.ts";
import { LOWERINGS } from "../gpu/lowerings.ts";
import { canonicalWindow } from "../gpu/kernels/window.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";
import type { DispatchOp } from "../gpu/jit/program.ts";

interface Case {
  readonly name: string;
  readonly shape: number[];
  readonly p: WindowParams;
}

/** Params of a window over the trailing dims (the leading ones get windows of 1). */
function params(
  rank: number,
  op: "max" | "min",
  win: number[],
  str: number[],
  pad: [number, number][],
  base = win.map(() => 1),
  wdil = win.map(() => 1),
): WindowParams {
  const lead = rank - win.length;
  const ones = Array(lead).fill(1);
  return {
    op,
    windowDimensions: [...ones, ...win],
    windowStrides: [...ones, ...str],
    padding: [...Array(lead).fill([0, 0]), ...pad],
    baseDilation: [...ones, ...base],
    windowDilation: [...ones, ...wdil],
  };
}

const CASES: readonly Case[] = [
  {
    name: "max 3×3 stride 1 padded (GoogLeNet's)",
    shape: [2, 3, 6, 5],
    p: params(4, "max", [3, 3], [1, 1], [[1, 1], [1, 1]]),
  },
  {
    name: "max 3×3 stride 2 padded (overlapping)",
    shape: [1, 2, 7, 8],
    p: params(4, "max", [3, 3], [2, 2], [[1, 1], [0, 2]]),
  },
  {
    name: "max 2×2 stride 2 (disjoint)",
    shape: [2, 2, 6, 6],
    p: params(4, "max", [2, 2], [2, 2], [[0, 0], [0, 0]]),
  },
  {
    name: "max 2×2 stride 3, windows over padding alone",
    shape: [1, 2, 4, 5],
    p: params(4, "max", [2, 2], [3, 3], [[3, 2], [3, 3]]),
  },
  {
    name: "min 2×3, base dilation 2, window dilation 2",
    shape: [1, 2, 5, 6],
    p: params(4, "min", [2, 3], [1, 2], [[1, 0], [0, 1]], [2, 1], [1, 2]),
  },
  {
    name: "max over every dim of a 3-D operand, base-dilated",
    shape: [3, 4, 5],
    p: params(3, "max", [2, 2, 3], [1, 2, 1], [[0, 1], [1, 1], [2, 0]], [1, 2, 1], [2, 1, 1]),
  },
  {
    name: "min 1-D, stride 2, window dilation 3",
    shape: [13],
    p: params(1, "min", [3], [2], [[4, 2]], [1], [3]),
  },
];

const _size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Operand values on a coarse grid (ties in most windows); f32 also gets ±0 and some NaNs. */
function operand(n: number, dtype: DType, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, k) => {
    const v = Math.floor(r() * 5) - 2;
    if (dtype !== "f32") return v;
    if (k % 11 === 7) return NaN;
    return v === 0 && r() < 0.5 ? -0 : v;
  });
}

/** Cotangents: small multiples of 1/4 (integers for i32), so sums are exact in any order. */
function cotangent(n: number, dtype: DType, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const v = Math.floor(r() * 33) - 16;
    return dtype === "f32" ? v / 4 : v;
  });
}

for (const dtype of ["f32", "i32"] as const) {
  for (const c of CASES) {
    Deno.test(`select_and_scatter_add equals the cpu reference bit for bit: ${c.name}, ${dtype}`, async () => {
      const os = windowOutShape(c.shape, c.p);
      const xv = operand(_size(c.shape), dtype, 7), cv = cotangent(_size(os), dtype, 8);
      const run = (f: (ct: Tensor, x: Tensor) => Tensor) =>
        f(np.array(cv, { shape: os, dtype }), np.array(xv, { shape: c.shape, dtype }));
      const s = (ct: Tensor, x: Tensor) => selectAndScatterAdd(ct, x, c.p);
      const want = Array.from(await withCpu(() => run(s)).data());
      // not a vacuous comparison of zeros
      assert(want.some((v) => v !== 0), c.name);
      assertEquals(Array.from(await run(s).data()), want, `${BACKEND} eager`);
      assertEquals(Array.from(await run(jit(s)).data()), want, `${BACKEND} jit`);
    });
  }
}

Deno.test("max pooling's gradient equals the cpu reference bit for bit, jitted, with NaNs and ties", async () => {
  const shape = [2, 3, 9, 9];
  const xv = operand(_size(shape), "f32", 9);
  const pool = (x: Tensor) =>
    lax.reduceWindow(x, "max", {
      windowDimensions: [1, 1, 3, 3],
      windowStrides: [1, 1, 2, 2],
      padding: [[0, 0], [0, 0], [1, 1], [1, 1]],
    });
  const g = (x: Tensor) => {
    const [y, back] = vjp(pool, x);
    return back(np.array(cotangent(y.size, "f32", 10), { shape: y.shape }))[0];
  };
  const x = () => np.array(xv, { shape });
  const want = Array.from(await withCpu(() => g(x())).data());
  assertEquals(Array.from(await jit(g)(x()).data()), want);
});

Deno.test("the WebGPU lowering selects per window into a u32 temporary, then gathers without re-selecting", () => {
  for (const c of CASES) {
    const os = windowOutShape(c.shape, c.p);
    const plan = LOWERINGS.select_and_scatter_add({
      ins: [{ shape: os, dtype: "f32" }, { shape: c.shape, dtype: "f32" }],
      outs: [{ shape: c.shape, dtype: "f32" }],
      params: c.p as unknown as Record<string, unknown>,
      // pooling takes no GEMM: the caps of a device without texture GEMMs
      gemm: { textures: false, maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 },
    });
    assertEquals(plan.temps, [_size(os) * 4], c.name);
    assertEquals(plan.steps.map((s) => s.kind), ["dispatch", "dispatch"], c.name);
    const [sel, gather] = plan.steps.map((s) => (s.kind === "dispatch" ? s.kernel : null)!);
    const t = { kind: "tmp", index: 0 } as const;
    assertEquals(sel.bindings, [{ kind: "in", index: 1 }, t], c.name);
    assertEquals(gather.bindings, [{ kind: "in", index: 0 }, t, { kind: "out", index: 0 }]);
    assert(sel.wgsl.includes("var<storage, read_write> sel: array<u32>;"), sel.wgsl);
    assert(sel.wgsl.includes("fn pick(") && sel.wgsl.includes("sel[i] = pick(i);"), sel.wgsl);
    assert(gather.wgsl.includes("var<storage, read> sel: array<u32>;"), gather.wgsl);
    assert(!gather.wgsl.includes("pick(") && !gather.wgsl.includes(" x["), gather.wgsl);
    assert(gather.wgsl.includes("if (sel[ol] == e) { acc = acc + ct[ol]; }"), gather.wgsl);
  }
});

Deno.test({
  name: "a jitted program runs both passes, unshared, on a temporary of its own",
  ignore: BACKEND !== "webgpu",
  async fn() {
    // two pools of different sizes: kernels that would share if pooling's could
    const [a, b] = [CASES[0], { ...CASES[0], shape: [2, 3, 8, 7] }];
    const oa = windowOutShape(a.shape, a.p), ob = windowOutShape(b.shape, b.p);
    const f = (ca: Tensor, xa: Tensor, cb: Tensor, xb: Tensor) => [
      selectAndScatterAdd(ca, xa, a.p),
      selectAndScatterAdd(cb, xb, b.p),
    ];
    const args = (): [Tensor, Tensor, Tensor, Tensor] => [
      np.array(cotangent(_size(oa), "f32", 1), { shape: oa }),
      np.array(operand(_size(a.shape), "f32", 2), { shape: a.shape }),
      np.array(cotangent(_size(ob), "f32", 3), { shape: ob }),
      np.array(operand(_size(b.shape), "f32", 4), { shape: b.shape }),
    ];
    const got = jit(f)(...args());
    const want = await withCpu(() => Promise.all(f(...args()).map((t) => t.data())));
    for (let k = 0; k < 2; k++) assertEquals(Array.from(await got[k].data()), [...want[k]]);
    const p = lastCompiled()!.program;
    const ops = p.ops.filter((o): o is DispatchOp =>
      o.kind === "dispatch" && o.label === "select_and_scatter_add"
    );
    assertEquals(ops.length, 4);
    assert(ops.every((o) => !o.wgsl.includes("_hl")), "pooling kernels are never shared");
    for (const [k, os] of [[0, oa], [2, ob]] as const) {
      const [w, r] = [ops[k].bindings[1], ops[k + 1].bindings[1]];
      assert(w.kind === "tmp" && r.kind === "tmp" && w.index === r.index, `${w.kind} ${r.kind}`);
      assertEquals(p.temps[w.index], _size(os) * 4);
    }
  },
});

Deno.test("canonicalWindow merges adjacent trivial dims and keeps the rest", () => {
  const p = params(4, "max", [3, 3], [2, 2], [[1, 1], [0, 2]]);
  const c = canonicalWindow([2, 3, 7, 8], p);
  assertEquals(c.shape, [6, 7, 8]);
  assertEquals(c.p.windowDimensions, [1, 3, 3]);
  assertEquals(c.p.windowStrides, [1, 2, 2]);
  assertEquals(c.p.padding, [[0, 0], [1, 1], [0, 2]]);
  // a window over every dim: nothing merges
  const all = params(3, "min", [2, 1, 2], [1, 1, 2], [[0, 1], [0, 0], [1, 0]]);
  assertEquals(canonicalWindow([3, 4, 5], all).shape, [3, 4, 5]);
  // trivial dims apart from each other stay apart
  const mid = params(3, "max", [2, 1, 1], [1, 1, 1], [[0, 0], [0, 0], [0, 0]]);
  assertEquals(canonicalWindow([4, 5, 6], mid).shape, [4, 30]);
});

Deno.test("pooling kernels of layers that differ in batch and channels only have one source", () => {
  const p = params(4, "max", [3, 3], [1, 1], [[1, 1], [1, 1]]);
  const gemm = { textures: false, maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 };
  const sources = (shape: number[]) => {
    const os = windowOutShape(shape, p);
    const pr = p as unknown as Record<string, unknown>;
    const f32 = (s: number[]) => ({ shape: s, dtype: "f32" as const });
    const plans = [
      LOWERINGS.reduce_window({ ins: [f32(shape)], outs: [f32(os)], params: pr, gemm }),
      LOWERINGS.select_and_scatter_add({
        ins: [f32(os), f32(shape)],
        outs: [f32(shape)],
        params: pr,
        gemm,
      }),
      LOWERINGS.select_and_gather_add({
        ins: [f32(shape), f32(shape)],
        outs: [f32(os)],
        params: pr,
        gemm,
      }),
    ];
    return plans.flatMap((pl) => pl.steps.map((s) => (s.kind === "dispatch" ? s.kernel.wgsl : "")));
  };
  const [a, b] = [sources([2, 3, 12, 12]), sources([8, 192, 12, 12])];
  assertEquals(a.length, 4);
  for (let k = 0; k < a.length; k++) assertEquals(a[k], b[k]);
  // another spatial size is another source
  assert(sources([2, 3, 6, 6])[0] !== a[0]);
});
