// The small form of the texture convolutions (gpu/kernels/conv_small.ts): which tiles a small
// convolution takes, that a large one keeps its own, and that the small form computes what the
// cpu backend does (forward, input and kernel gradient) across strides, padding, dilations and
// groups, as the large form does.
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { rng } from "./helpers.ts";
import { jit, lax, np, type Tensor, vjp } from "../mod.ts";
import { lastCompiled, setTiered } from "../gpu/jit/mod.ts";
import { convGeneralDilated, type ConvOptions } from "../core/lax_conv.ts";
import type { ConvParams } from "../core/prims/conv.ts";
import { convOutShape, convPlan, plainConvStore } from "../gpu/kernels/conv.ts";
import { convTexturePlan } from "../gpu/kernels/conv_texture.ts";
import {
  setSmallConvMacs,
  SMALL_CONV_MACS,
  SMALL_SLIDE_TM,
  smallConv,
  smallConvMacs,
} from "../gpu/kernels/conv_small.ts";

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const data = (shape: readonly number[], seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: size(shape) }, () => r() * 2 - 1);
};
const arr = (d: Float32Array, shape: readonly number[]) => np.array(d, { shape: [...shape] });
const LIM = { maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 };

function params(opts: ConvOptions, nsp = 2): ConvParams {
  return {
    windowStrides: opts.windowStrides ?? Array(nsp).fill(1),
    padding: (opts.padding as [number, number][] | undefined) ??
      Array.from({ length: nsp }, () => [0, 0] as [number, number]),
    lhsDilation: opts.lhsDilation ?? Array(nsp).fill(1),
    rhsDilation: opts.rhsDilation ?? Array(nsp).fill(1),
    featureGroupCount: opts.featureGroupCount ?? 1,
    batchGroupCount: opts.batchGroupCount ?? 1,
  } as ConvParams;
}

/** Runs `f` with the small-form limit at `macs`, restoring the default after. */
function withLimit<T>(macs: number, f: () => T): T {
  setSmallConvMacs(macs);
  try {
    return f();
  } finally {
    setSmallConvMacs(null);
  }
}

/** The multiply of a texture convolution's plan: its source and its accumulator count. */
function multiplyOf(xs: number[], ws: number[], opts: ConvOptions) {
  const p = params(opts, xs.length - 2);
  const plan = convTexturePlan("f32", xs, ws, convOutShape(xs, ws, p), p, LIM, plainConvStore)!;
  const step = plan.steps[2];
  assert(step.kind === "dispatch");
  const wgsl = step.kernel.wgsl;
  return {
    wgsl,
    slide: wgsl.includes("for (var kh = k0"),
    accumulators: (wgsl.match(/var c\d+_\d+ =/g) ?? []).length,
    workgroup: step.kernel.workgroupSize,
  };
}

Deno.test("the small-form limit: 2^25 multiply-adds by default, settable", () => {
  assertEquals(SMALL_CONV_MACS, 2 ** 25);
  assertEquals(smallConvMacs(), 2 ** 25);
  assert(smallConv(2 ** 25 - 1) && !smallConv(2 ** 25));
  withLimit(0, () => assert(!smallConv(1)));
  assertEquals(smallConvMacs(), 2 ** 25);
});

Deno.test({
  name: "a small convolution's sliding multiply takes 6 × 4 tiles; a large one keeps 12 × 8",
  ignore: BACKEND !== "webgpu",
  fn() {
    // GoogLeNet's 1 × 1, 192 → 64 layer at 12 × 12, batch 8: 14 M multiply-adds
    const xs = [8, 192, 12, 12], ws = [64, 192, 1, 1];
    const small = multiplyOf(xs, ws, {});
    assert(small.slide);
    assertEquals(small.accumulators, SMALL_SLIDE_TM); // 6 positions × one quad of 4 features
    const large = withLimit(0, () => multiplyOf(xs, ws, {}));
    assert(large.slide);
    assertEquals(large.accumulators, 12 * 2); // 12 positions × two quads
    // its 3 × 3, 64 → 192 layer at 24 × 24 (510 M) is large at the default limit
    const big = multiplyOf([8, 64, 24, 24], [192, 64, 3, 3], { padding: [[1, 1], [1, 1]] });
    assertEquals(big.accumulators, 12 * 2);
    assert(small.wgsl.length < large.wgsl.length / 2);
  },
});

Deno.test({
  name: "a small convolution's plain multiply takes at most 4 × 4 tiles",
  ignore: BACKEND !== "webgpu",
  fn() {
    // rows 6 wide (the plain multiply), 1152 of them against 16 features: textureTiles gives
    // 12 rows per invocation (a narrow N), the small form 4
    const xs = [32, 16, 6, 6], ws = [16, 16, 1, 1];
    const small = multiplyOf(xs, ws, {});
    const large = withLimit(0, () => multiplyOf(xs, ws, {}));
    assert(!small.slide && !large.slide);
    assertEquals(small.accumulators, 4);
    assertEquals(large.accumulators, 12);
    // a strided input gradient's phase multiply (gpu/kernels/conv_phase_texture.ts) likewise
    const p = params({ lhsDilation: [2, 2], padding: [[1, 2], [1, 2]] });
    const cs = [32, 48, 6, 6], ks = [16, 48, 3, 3];
    const phase = (macs: number) =>
      withLimit(macs, () => {
        const plan = convPlan("f32", cs, ks, p, { ...LIM, textures: true });
        assertEquals(plan.steps.length, 3); // one multiply for every phase
        const step = plan.steps[2];
        assert(step.kind === "dispatch");
        return (step.kernel.wgsl.match(/var c\d+_\d+ =/g) ?? []).length;
      });
    assertEquals(phase(Infinity), 4);
    assertEquals(phase(0), 12);
  },
});

Deno.test({
  name: "a small convolution with 4 or more channel quads steps its kernel position and packs " +
    "textures off the powers of two; one with fewer keeps the large form's loop",
  ignore: BACKEND !== "webgpu",
  fn() {
    const pot = (n: number) => (n & (n - 1)) === 0;
    const planOf = (xs: number[], ws: number[]) => {
      const p = params({});
      return convTexturePlan("f32", xs, ws, convOutShape(xs, ws, p), p, LIM, plainConvStore)!;
    };
    // 16 channels (4 quads), rows 6 wide: texture X is 6 · 4 = 24 wide and 8 · 6 = 48 tall,
    // texture W 32 / 4 = 8 wide (a power of two) and 3 · 3 · 16 = 144 tall
    const shared = planOf([8, 16, 6, 6], [32, 16, 3, 3]);
    const wgsl = (plan: typeof shared) => {
      const step = plan.steps[2];
      assert(step.kind === "dispatch");
      return step.kernel.wgsl;
    };
    assert(wgsl(shared).includes("var kh = k0 / 3u;") && !wgsl(shared).includes("kp / 3u"));
    assertEquals(shared.textures!.map((t) => [t.width, t.height]), [[24, 48], [9, 144]]);
    assert(shared.textures!.every((t) => !pot(t.width) && !pot(t.height)));
    // 8 channels (2 quads: a kernel gradient at batch 8): the channel loop stays a literal
    const apart = planOf([8, 8, 6, 6], [32, 8, 3, 3]);
    assert(wgsl(apart).includes("kp / 3u") && !wgsl(apart).includes("var kh"));
    assertEquals(apart.textures!.map((t) => [t.width, t.height]), [[12, 48], [8, 72]]);
  },
});

interface Case {
  readonly name: string;
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly opts: ConvOptions;
}

// every case has more than 8 features per group (where the small tiles differ from the large)
const CASES: readonly Case[] = [
  { name: "3×3, padding 1, 24 features", x: [2, 5, 10, 12], w: [24, 5, 3, 3], opts: {} },
  {
    name: "stride 2 with padding (input gradient by phases)",
    x: [2, 6, 17, 18],
    w: [20, 6, 3, 3],
    opts: { windowStrides: [2, 2], padding: [[1, 1], [1, 2]] },
  },
  {
    name: "rhs dilation 2, stride (1, 2)",
    x: [2, 7, 14, 19],
    w: [36, 7, 3, 2],
    opts: { windowStrides: [1, 2], rhsDilation: [2, 2], padding: [[2, 0], [1, 1]] },
  },
  {
    name: "lhs dilation with negative padding",
    x: [2, 4, 6, 7],
    w: [12, 4, 3, 3],
    opts: { lhsDilation: [2, 2], padding: [[1, -1], [0, 2]] },
  },
  {
    name: "feature groups, 5×5",
    x: [2, 6, 12, 12],
    w: [30, 2, 5, 5],
    opts: { featureGroupCount: 3, padding: [[2, 2], [2, 2]] },
  },
  { name: "batch groups", x: [4, 3, 10, 11], w: [24, 3, 2, 2], opts: { batchGroupCount: 2 } },
  { name: "1×1, 6×6 rows (plain)", x: [40, 16, 6, 6], w: [16, 16, 1, 1], opts: {} },
  { name: "1-D, stride 3", x: [3, 5, 40], w: [20, 5, 4], opts: { windowStrides: [3] } },
];

function directions(c: Case, xd: Float32Array, wd: Float32Array, cd: Float32Array) {
  const x = arr(xd, c.x), w = arr(wd, c.w);
  const f = (a: Tensor, b: Tensor) => convGeneralDilated(a, b, c.opts);
  const y = f(x, w);
  const ct = arr(cd, y.shape);
  const [, back] = vjp(f, x, w);
  const [dx, dw] = back(ct);
  return [y, dx, dw];
}

const DIRS = ["forward", "input gradient", "kernel gradient"];

for (const c of CASES) {
  Deno.test(`small conv ${c.name}: matches the cpu backend and the large form`, async () => {
    const xd = data(c.x, 1), wd = data(c.w, 2);
    const yShape = withCpu(() => convGeneralDilated(arr(xd, c.x), arr(wd, c.w), c.opts).shape);
    const macs = size(yShape) * size(c.w.slice(1));
    assert(smallConv(macs), `${c.name}: ${macs} multiply-adds`);
    const cd = data(yShape, 3);
    const want = await withCpu(() =>
      Promise.all(directions(c, xd, wd, cd).map(async (t) => Array.from(await t.data())))
    );
    const run = (limit: number) =>
      withLimit(
        limit,
        () => Promise.all(directions(c, xd, wd, cd).map(async (t) => Array.from(await t.data()))),
      );
    const small = await run(Infinity), large = await run(0);
    for (let i = 0; i < 3; i++) {
      assertAllClose(small[i], want[i], { rtol: 1e-4, atol: 1e-4, msg: `${c.name}: ${DIRS[i]}` });
      // the same products, split into partial sums alike unless the tiles change the count of
      // workgroups (a split adds workgroups to a grid of fewer than 32)
      assertAllClose(small[i], large[i], {
        rtol: 1e-5,
        atol: 1e-5,
        msg: `${c.name}: ${DIRS[i]}, small against large form`,
      });
    }
  });
}

Deno.test({
  name: "small convolutions of other kernel widths and texture sizes share their multiply",
  ignore: BACKEND !== "webgpu",
  async fn() {
    // 3 × 3 and 5 × 5 over 6 × 6 rows (the plain multiply), 32 features each: the large form
    // divides by the kernel width in its loop and packs textures a power of two wide for one
    const f = (x: Tensor, k: Tensor, y: Tensor, l: Tensor) => [
      lax.conv(x, k, [1, 1], "SAME"),
      lax.conv(y, l, [1, 1], "SAME"),
    ];
    const shapes = [[8, 16, 6, 6], [32, 16, 3, 3], [8, 20, 6, 6], [32, 20, 5, 5]];
    const ds = shapes.map((s, i) => data(s, 20 + i));
    const args = () => shapes.map((s, i) => arr(ds[i], s)) as [Tensor, Tensor, Tensor, Tensor];
    const want = await withCpu(() =>
      Promise.all(f(...args()).map(async (t) => [...await t.data()]))
    );
    const run = async (limit: number) => {
      setSmallConvMacs(limit);
      setTiered(false); // the first call's program as compiled at this limit, not tier one
      try {
        const got = await Promise.all(jit(f)(...args()).map(async (t) => [...await t.data()]));
        const multiplies = new Set(
          lastCompiled()!.program.ops.flatMap((o) =>
            o.kind === "dispatch" && o.wgsl.includes("var TX:") && o.wgsl.includes("kp = k0")
              ? [o.wgsl]
              : []
          ),
        );
        return { got, multiplies: multiplies.size };
      } finally {
        setSmallConvMacs(null);
        setTiered(null);
      }
    };
    const small = await run(Infinity), large = await run(0);
    // (the real-GPU profile, DENAX_GPU_PROFILE=gpu, has no texture convolutions: values only)
    if (large.multiplies > 0) {
      assertEquals(small.multiplies, 1, "one multiply for both convolutions");
      assertEquals(large.multiplies, 2);
    }
    for (let i = 0; i < 2; i++) {
      assertAllClose(small.got[i], want[i], { rtol: 1e-4, atol: 1e-4 });
      assertAllClose(large.got[i], want[i], { rtol: 1e-4, atol: 1e-4 });
    }
  },
});
