/**
 * The native backend's own loops for pooling and the d2l data pipeline against the reference
 * backend, bit for bit: f32 `reduce_window` (sum, max, min; strides, padding, base and window
 * dilation; NaN), f32 `pad` (interior, negative), the u32 bit operations and `concatenate` of
 * `unpackBytes`, u32 → f32 `convert`, the max-pool derivatives (`select_and_*`); the gradient of
 * average pooling as window sums without a pad, and the native jit's Wasm loops over more than
 * two loop dims (a per-channel operand, a transposed store), against eager native evaluation.
 *
 * @module
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { withCpu } from "./backend.ts";
import { grad, jit, lax, makeJaxpr, np, type Tensor } from "../mod.ts";
import { currentBackend, setBackend } from "../core/backend.ts";
import { createNativeBackend } from "../native/backend.ts";
import { flattenJaxpr } from "../native/jit_plan.ts";
import { unpackBytes } from "../data/mod.ts";
import { rng } from "./helpers.ts";
import { selectAndGatherAdd, selectAndScatterAdd } from "../core/prims/window_select.ts";
import { windowOutShape, type WindowParams } from "../core/prims/window_base.ts";
import { windowFast } from "../native/window.ts";
import { selectAndGatherAddF32, selectAndScatterAddF32 } from "../native/window_select.ts";

const native = createNativeBackend();
const nativeEager = createNativeBackend();
delete (nativeEager as { compileJaxpr?: unknown }).compileJaxpr;

async function on<T>(b: typeof native, fn: () => Promise<T>): Promise<T> {
  const prev = currentBackend();
  setBackend(b);
  try {
    return await fn();
  } finally {
    setBackend(prev);
  }
}

function data(seed: number, n: number, nan = false): Float32Array {
  const r = rng(seed), d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = nan && i % 7 === 3 ? NaN : 2 * r() - 1;
  return d;
}

/** The bits of `f` on the cpu reference and on the native backend (eager). */
async function both(f: () => Tensor): Promise<[number[], number[]]> {
  const want = await withCpu(() => f().toArray()) as number[];
  const got = await on(nativeEager, () => f().toArray()) as number[];
  return [got.flat(9) as number[], want.flat(9) as number[]];
}

const WINDOWS: [string, number[], "sum" | "max" | "min", Parameters<typeof lax.reduceWindow>[2]][] =
  [
    ["2×2 stride 2 (avg pool)", [2, 3, 8, 8], "sum", {
      windowDimensions: [1, 1, 2, 2],
      windowStrides: [1, 1, 2, 2],
    }],
    ["3×3 stride 2 padded (max pool)", [2, 3, 9, 7], "max", {
      windowDimensions: [1, 1, 3, 3],
      windowStrides: [1, 1, 2, 2],
      padding: [[0, 0], [0, 0], [1, 1], [1, 1]],
    }],
    ["min, window dilation 2, uneven padding", [1, 2, 9, 10], "min", {
      windowDimensions: [1, 1, 2, 3],
      windowDilation: [1, 1, 2, 2],
      padding: [[0, 0], [0, 0], [2, 0], [1, 3]],
    }],
    ["sum over a base-dilated operand (pooling's gradient)", [2, 2, 5, 5], "sum", {
      windowDimensions: [1, 1, 2, 2],
      baseDilation: [1, 1, 2, 2],
      padding: [[0, 0], [0, 0], [1, 1], [1, 1]],
    }],
    ["sum, overlapping 3×3 over a base-dilated operand", [1, 2, 6, 4], "sum", {
      windowDimensions: [1, 1, 3, 3],
      windowStrides: [1, 1, 1, 2],
      baseDilation: [1, 1, 2, 3],
      padding: [[0, 0], [0, 0], [1, 2], [0, 2]],
    }],
    ["max with one tap per output and padding", [2, 1, 4, 4], "max", {
      windowDimensions: [1, 1, 2, 2],
      baseDilation: [1, 1, 2, 2],
      padding: [[0, 0], [0, 0], [3, 3], [1, 1]],
    }],
  ];

for (const [name, shape, op, opts] of WINDOWS) {
  Deno.test(`native reduce_window ${op}: ${name} equals the reference bit for bit (NaN included)`, async () => {
    const n = shape.reduce((a, b) => a * b, 1);
    for (const nan of [false, true]) {
      const x = data(3, n, nan);
      const [got, want] = await both(() => lax.reduceWindow(np.array(x, { shape }), op, opts));
      assertEquals(got, want);
    }
  });
}

Deno.test("native pad with interior, negative and plain padding equals the reference", async () => {
  const x = data(5, 2 * 3 * 4);
  for (
    const [lo, hi, interior] of [
      [[0, 1, 2], [1, 0, 2], [0, 1, 1]],
      [[0, -1, 1], [0, 2, -2], [1, 0, 2]],
      [[1, 0, 0], [0, 0, 0], [0, 0, 0]],
    ]
  ) {
    const [got, want] = await both(() =>
      lax.pad(np.array(x, { shape: [2, 3, 4] }), np.array(0.5), lo, hi, interior)
    );
    assertEquals(got, want, `pad lo ${lo} hi ${hi} interior ${interior}`);
  }
});

Deno.test("native u32 bit operations, concatenate and convert (unpackBytes) equal the reference", async () => {
  const r = rng(9), w = new Uint32Array(6 * 5);
  for (let i = 0; i < w.length; i++) w[i] = Math.floor(r() * 2 ** 32) >>> 0;
  const words = () => np.array(w, { shape: [6, 5], dtype: "u32" });
  const shifts = () => np.array([0, 1, 8, 31, 32, 40], { shape: [6, 1], dtype: "u32" });
  const cases: [string, () => Tensor][] = [
    ["unpackBytes", () => unpackBytes(words())],
    ["shift_right_logical", () => lax.shiftRightLogical(words(), np.broadcastTo(shifts(), [6, 5]))],
    ["shift_left", () => lax.shiftLeft(words(), np.broadcastTo(shifts(), [6, 5]))],
    ["or, xor", () => lax.or(words(), lax.xor(words(), np.full([6, 5], 0x0f0f0f0f, "u32")))],
    ["concatenate", () => np.concatenate([words(), lax.slice(words(), [0, 0], [6, 2])], 1)],
  ];
  for (const [name, f] of cases) {
    const [got, want] = await both(() => f().astype(name === "unpackBytes" ? "f32" : "u32"));
    assertEquals(got, want, name);
  }
});

/** avg-pool → sigmoid → avg-pool, summed: its gradient has two pooling transposes. */
const pooled = (x: Tensor) =>
  lax.avgPool(np.sigmoid(lax.avgPool(x, { kernelSize: 2 })).mul(3), { kernelSize: 2 }).sum();

Deno.test("average pooling's gradient reaches the native jit as window sums over the cotangent (no pad) and matches eager evaluation", async () => {
  const shape = [3, 4, 12, 12];
  const x = data(11, 3 * 4 * 144);
  const g = grad(pooled);
  const cj = makeJaxpr(g)(np.array(x, { shape }));
  // the core transposes a window sum into one window sum with base dilation (no zero pad); the
  // jit inlines 0-d constants as literals
  const lits = [];
  for (const c of cj.consts) lits.push(c.ndim === 0 ? await c.toArray() as number : undefined);
  const prims = flattenJaxpr(cj.jaxpr, [...lits, undefined]).eqns.map((e) => e.prim);
  assert(prims.filter((p) => p === "reduce_window").length === 3, prims.join(" "));
  assert(!prims.includes("pad"), `a pad is left: ${prims.join(" ")}`);
  const eager = await on(nativeEager, () => g(np.array(x, { shape })).toArray());
  const jitted = await on(native, () => jit(g)(np.array(x, { shape })).toArray());
  const ref = await withCpu(() => g(np.array(x, { shape })).toArray());
  assertEquals(jitted, eager, "jit against eager native");
  assertAllClose(jitted as number[], ref as number[], { rtol: 1e-6, atol: 1e-7 });
});

Deno.test("native jit Wasm loops over three loop dims (a per-channel operand, a transposed store) equal eager evaluation", async () => {
  const x = data(13, 4 * 6 * 80), b = data(14, 6);
  const f = (x: Tensor, b: Tensor) => {
    const y = np.sigmoid(x.add(b.reshape([1, 6, 1])));
    return [y, np.transpose(y.mul(x), [1, 0, 2])] as const;
  };
  const args = () => [np.array(x, { shape: [4, 6, 80] }), np.array(b)] as const;
  const eager = await on(nativeEager, async () => {
    const [y, z] = f(...args());
    return [await y.toArray(), await z.toArray()];
  });
  const jitted = await on(native, async () => {
    const [y, z] = jit(f)(...args());
    return [await y.toArray(), await z.toArray()];
  });
  assertEquals(jitted, eager);
});

Deno.test("native argmax/argmin (first extremum, NaN wins), iota and i32 comparisons equal the reference", async () => {
  const x = data(21, 5 * 4 * 6, true);
  // ties: repeat some values along the reduced axes
  for (let i = 0; i < x.length; i += 5) x[i] = 0.25;
  const t = () => np.array(x, { shape: [5, 4, 6] });
  const cases: [string, () => Tensor][] = [
    ["argmax axis 0", () => lax.argmax(t(), 0)],
    ["argmax axis 1", () => lax.argmax(t(), 1)],
    ["argmin axis 2", () => lax.argmin(t(), 2)],
    ["iota dim 1", () => lax.iota("i32", [3, 4, 5], 1)],
    ["iota f32 dim 2", () => lax.iota("f32", [2, 3, 4], 2)],
    ["i32 eq, lt", () =>
      lax.eq(lax.argmax(t(), 0), lax.iota("i32", [4, 6], 1)).astype("i32").add(
        lax.lt(lax.argmin(t(), 0), lax.iota("i32", [4, 6], 0)).astype("i32").mul(2),
      )],
  ];
  for (const [name, f] of cases) {
    const [got, want] = await both(f);
    assertEquals(got, want, name);
  }
});

Deno.test("the gradient of max pooling on native (jit and eager) equals the reference", async () => {
  const shape = [2, 3, 9, 9];
  const x = data(23, 2 * 3 * 81);
  for (let i = 0; i < x.length; i += 4) x[i] = 0.5; // ties inside windows
  const g = grad((x: Tensor) =>
    lax.maxPool(x, { kernelSize: 3, strides: 2, padding: 1 }).mul(lax.iota("f32", [2, 3, 5, 5], 3))
      .sum()
  );
  const eager = await on(nativeEager, () => g(np.array(x, { shape })).toArray());
  const jitted = await on(native, () => jit(g)(np.array(x, { shape })).toArray());
  const ref = await withCpu(() => g(np.array(x, { shape })).toArray());
  assertEquals(eager, ref);
  assertEquals(jitted, ref);
});

Deno.test("native jit Wasm loops read bool masks (a ReLU gradient over three loop dims) as eager evaluation does", async () => {
  const x = data(31, 4 * 6 * 80), g = data(32, 4 * 6 * 80), b = data(33, 6);
  const f = (x: Tensor, g: Tensor, b: Tensor, m: Tensor) => {
    const y = x.add(b.reshape([1, 6, 1]));
    // the mask arrives as a buffer; the loop selects, converts and combines it with f32 values
    return np.where(m, g.mul(y), np.zeros([4, 6, 80])).add(m.astype("f32").mul(0.5));
  };
  const args = () => {
    const xt = np.array(x, { shape: [4, 6, 80] });
    return [xt, np.array(g, { shape: [4, 6, 80] }), np.array(b), np.greater(xt, 0.1)] as const;
  };
  const eager = await on(nativeEager, () => f(...args()).toArray());
  const jitted = await on(native, () => jit(f)(...args()).toArray());
  const ref = await withCpu(() => f(...args()).toArray());
  assertEquals(jitted, eager);
  assertEquals(jitted, ref);
});

Deno.test("native select_and_gather_add / select_and_scatter_add loops equal the reference bit for bit (ties, NaN, padding-only windows, dilations, min)", async () => {
  const cases: [string, number[], WindowParams][] = [
    ["max 3×3 stride 2 padded", [2, 3, 9, 7], {
      op: "max",
      windowDimensions: [1, 1, 3, 3],
      windowStrides: [1, 1, 2, 2],
      padding: [[0, 0], [0, 0], [1, 1], [1, 1]],
      baseDilation: [1, 1, 1, 1],
      windowDilation: [1, 1, 1, 1],
    }],
    ["min, window dilation 2, windows over padding only", [1, 2, 6, 5], {
      op: "min",
      windowDimensions: [1, 1, 2, 3],
      windowStrides: [1, 1, 1, 2],
      padding: [[0, 0], [0, 0], [3, 0], [1, 4]],
      baseDilation: [1, 1, 1, 1],
      windowDilation: [1, 1, 2, 2],
    }],
    ["max over a base-dilated operand", [2, 2, 5, 4], {
      op: "max",
      windowDimensions: [1, 1, 3, 2],
      windowStrides: [1, 1, 2, 1],
      padding: [[0, 0], [0, 0], [1, 1], [0, 1]],
      baseDilation: [1, 1, 2, 2],
      windowDilation: [1, 1, 1, 1],
    }],
  ];
  for (const [name, shape, p] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = data(41, n);
    for (let i = 0; i < n; i++) {
      // ties at the windows' extremum, and a few NaNs
      if (i % 6 === 0) x[i] = 0.999;
      else if (i % 6 === 3) x[i] = -0.999;
      else if (i % 37 === 5) x[i] = NaN;
    }
    const xT = () => np.array(x, { shape });
    const oshape = windowOutShape(shape, p);
    const t = data(42, n), ct = data(43, oshape.reduce((a, b) => a * b, 1));
    const wantG = await withCpu(() => selectAndGatherAdd(np.array(t, { shape }), xT(), p).data());
    const wantS = await withCpu(() =>
      selectAndScatterAdd(np.array(ct, { shape: oshape }), xT(), p).data()
    );
    // the loops themselves (so the test fails if they do, whatever the backend dispatches)
    assert(windowFast(shape, oshape, p), name);
    const gotG = new Float32Array(wantG.length), gotS = new Float32Array(n);
    selectAndGatherAddF32(t, x, shape, p, gotG, oshape);
    selectAndScatterAddF32(ct, x, shape, p, gotS, oshape);
    assertEquals([...gotG], [...wantG], `${name}: gather`);
    assertEquals([...gotS], [...wantS], `${name}: scatter`);
    // and through the native backend
    const viaNative = await on(
      nativeEager,
      () => selectAndScatterAdd(np.array(ct, { shape: oshape }), xT(), p).data(),
    );
    assertEquals([...viaNative], [...wantS], `${name}: native backend`);
  }
});

Deno.test("native max/min pooling (tap lists on wide maps, separable on narrow ones) and its selection equal the reference on random windows (small planes, several plane blocks, ties, signed zeros, NaN, infinities)", async () => {
  const r = rng(77);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  // GoogLeNet's and DenseNet's pools first, then random ones; [2, 600, 8, 8] spans two blocks
  const cases: [number[], number, number, number][] = [
    [[2, 5, 2, 2], 3, 1, 1],
    [[3, 4, 4, 4], 3, 2, 1],
    [[2, 600, 8, 8], 3, 1, 1],
    [[1, 3, 16, 16], 3, 2, 1],
  ];
  for (let i = 0; i < 8; i++) {
    cases.push([
      [1 + Math.floor(r() * 3), 1 + Math.floor(r() * 5), pick([1, 2, 3, 5, 7]), pick([1, 2, 4, 6])],
      pick([1, 2, 3]),
      pick([1, 2, 3]),
      pick([0, 1]),
    ]);
  }
  for (const [shape, k, st, pad] of cases) {
    for (const op of ["max", "min"] as const) {
      const p: WindowParams = {
        op,
        windowDimensions: [1, 1, k, k],
        windowStrides: [1, 1, st, st],
        padding: [[0, 0], [0, 0], [pad, pad], [pad, pad]],
        baseDilation: [1, 1, 1, 1],
        windowDilation: [1, 1, 1, 1],
      };
      const n = shape.reduce((a, b) => a * b, 1);
      const oshape = windowOutShape(shape, p);
      if (oshape.some((d) => d <= 0)) continue;
      const x = data(Math.floor(r() * 1e6), n);
      for (let j = 0; j < n; j++) {
        const u = r();
        if (u < 0.15) x[j] = 0.5; // ties
        else if (u < 0.25) x[j] = u < 0.2 ? 0 : -0; // signed zeros
        else if (u < 0.27) x[j] = NaN;
        else if (u < 0.29) x[j] = u < 0.28 ? Infinity : -Infinity;
      }
      const name = `${op} ${shape} k${k} s${st} p${pad}`;
      const opts = {
        windowDimensions: p.windowDimensions,
        windowStrides: p.windowStrides,
        padding: p.padding,
      };
      const [got, want] = await both(() => lax.reduceWindow(np.array(x, { shape }), op, opts));
      assertEquals(
        got.map((v) => Object.is(v, -0) ? "-0" : v),
        want.map((v) => Object.is(v, -0) ? "-0" : v),
        name,
      );
      const ct = data(Math.floor(r() * 1e6), oshape.reduce((a, b) => a * b, 1));
      const wantS = await withCpu(() =>
        selectAndScatterAdd(np.array(ct, { shape: oshape }), np.array(x, { shape }), p).data()
      );
      const gotS = new Float32Array(n);
      selectAndScatterAddF32(ct, x, shape, p, gotS, oshape);
      assertEquals([...gotS], [...wantS], `${name}: scatter`);
    }
  }
});
