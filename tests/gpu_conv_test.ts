import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { rng } from "./helpers.ts";
import { grad, jit, makeJaxpr, np, type Tensor, vjp } from "../mod.ts";
import { avgPool, convGeneralDilated, type ConvOptions, maxPool } from "../core/lax_conv.ts";
import { convOutShape } from "../gpu/kernels/conv.ts";
import { convTexturePlan } from "../gpu/kernels/conv_texture.ts";
import { convByPhases, convPhasePlan } from "../gpu/kernels/conv_phase.ts";
import { plainConvStore } from "../gpu/kernels/conv.ts";
import { createWebGpuBackend, webgpuAvailable } from "../gpu/backend.ts";

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const data = (shape: readonly number[], seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: size(shape) }, () => r() * 2 - 1);
};
const arr = (d: Float32Array, shape: readonly number[]) => np.array(d, { shape: [...shape] });

interface Case {
  readonly name: string;
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly opts: ConvOptions;
}

// forward, input gradient and kernel gradient of each case run through the backend's
// convolution (on a CPU adapter: the texture implicit GEMM of gpu/kernels/conv_texture.ts)
const CASES: readonly Case[] = [
  { name: "plain 3×3", x: [2, 3, 7, 12], w: [5, 3, 3, 3], opts: {} },
  {
    name: "stride 2 with padding",
    x: [2, 4, 9, 8],
    w: [6, 4, 3, 3],
    opts: { windowStrides: [2, 2], padding: [[1, 1], [1, 2]] },
  },
  {
    name: "rhs dilation and stride (1, 2)",
    x: [1, 5, 10, 9],
    w: [3, 5, 2, 3],
    opts: { windowStrides: [1, 2], rhsDilation: [2, 1], padding: [[2, 0], [1, 1]] },
  },
  {
    name: "lhs dilation (transposed convolution) with negative padding",
    x: [2, 2, 5, 4],
    w: [3, 2, 3, 2],
    opts: { lhsDilation: [2, 3], padding: [[1, -1], [0, 2]] },
  },
  {
    name: "feature groups",
    x: [2, 6, 6, 5],
    w: [9, 2, 3, 2],
    opts: { featureGroupCount: 3, padding: [[1, 1], [0, 0]] },
  },
  {
    name: "depthwise (feature groups = channels), stride 2",
    x: [2, 4, 7, 7],
    w: [4, 1, 3, 3],
    opts: { featureGroupCount: 4, windowStrides: [2, 2], padding: [[1, 1], [1, 1]] },
  },
  { name: "batch groups", x: [4, 3, 5, 5], w: [6, 3, 2, 2], opts: { batchGroupCount: 2 } },
  { name: "1-D, stride 3", x: [3, 5, 17], w: [4, 5, 4], opts: { windowStrides: [3] } },
  { name: "one output channel, one input channel", x: [3, 1, 8, 8], w: [1, 1, 5, 5], opts: {} },
  // one input channel per group: four kernel rows per texel (the last quad overlapping)
  {
    name: "one input channel, 5×4 kernel, stride (2, 1)",
    x: [2, 1, 11, 12],
    w: [6, 1, 5, 4],
    opts: { windowStrides: [2, 1], padding: [[2, 2], [1, 0]] },
  },
  {
    name: "one input channel, lhs and rhs dilation",
    x: [2, 1, 5, 10],
    w: [5, 1, 4, 3],
    opts: { lhsDilation: [2, 1], rhsDilation: [1, 2], padding: [[2, 1], [1, 1]] },
  },
  {
    name: "grouped 5×5 with one channel per group",
    x: [2, 4, 9, 9],
    w: [12, 1, 5, 5],
    opts: { featureGroupCount: 4, padding: [[2, 2], [2, 2]] },
  },
  // 40 features: five column tiles of 8 (the workgroup takes 8 along features)
  { name: "forty output channels", x: [1, 3, 5, 6], w: [40, 3, 3, 3], opts: {} },
  // kernel gradients with a 10-wide cotangent as the kernel: over 5 output columns (sliding
  // multiply), over 3 (plain multiply)
  { name: "long rows", x: [2, 5, 6, 14], w: [4, 5, 3, 5], opts: { padding: [[1, 1], [0, 0]] } },
  { name: "short rows", x: [2, 3, 6, 12], w: [4, 3, 3, 3], opts: {} },
  {
    name: "two output channels",
    x: [2, 7, 6, 6],
    w: [2, 7, 3, 3],
    opts: { windowStrides: [2, 1] },
  },
  // strided: the input gradients run by phases (gpu/kernels/conv_phase.ts); with rhs dilation
  // sharing a factor with the stride, or a kernel narrower than the stride, some phases have no
  // kernel taps (their outputs are zeros)
  {
    name: "stride 2 with rhs dilation 2, stride 3 with a 2-wide kernel",
    x: [2, 3, 11, 10],
    w: [5, 3, 3, 2],
    opts: { windowStrides: [2, 3], rhsDilation: [2, 1], padding: [[1, 2], [0, 1]] },
  },
  {
    name: "1×1 kernel, stride 2 (the ResNet shortcut)",
    x: [2, 8, 9, 8],
    w: [12, 8, 1, 1],
    opts: { windowStrides: [2, 2] },
  },
  {
    name: "stride 4, 7×7, one input channel (a stem)",
    x: [2, 1, 19, 17],
    w: [8, 1, 7, 7],
    opts: { windowStrides: [4, 4], padding: [[3, 3], [3, 2]] },
  },
  {
    name: "batch groups with stride 2",
    x: [4, 3, 7, 7],
    w: [6, 3, 3, 3],
    opts: { batchGroupCount: 2, windowStrides: [2, 2], padding: [[1, 1], [1, 1]] },
  },
  // rows of 8 or more slide; groups of up to 8 features are one column tile of any width, and
  // a kernel gradient with few row blocks puts splits of its contraction beside them
  {
    name: "one input channel to 6, 5×5, padding 2, odd sizes",
    x: [2, 1, 13, 11],
    w: [6, 1, 5, 5],
    opts: { padding: [[2, 2], [2, 2]] },
  },
  // kernel rows of more than 1,024 multiply-adds loop over their columns, stride 2 in steps of
  // two columns (the last one ragged when the width is odd)
  {
    name: "the 7×7 stem, stride 2, one channel to 16",
    x: [2, 1, 28, 27],
    w: [16, 1, 7, 7],
    opts: { windowStrides: [2, 2], padding: [[3, 3], [3, 3]] },
  },
  {
    name: "two features, 3×13 kernel, stride 2 along rows (channel-quad dot products)",
    x: [1, 3, 6, 40],
    w: [2, 3, 3, 13],
    opts: { windowStrides: [1, 2] },
  },
  // rows of 20 outputs × 24 features: at most 128 accumulators, two blocks of 10 per row
  {
    name: "24 features over rows of 20",
    x: [1, 3, 4, 20],
    w: [24, 3, 3, 3],
    opts: { padding: [[1, 1], [1, 1]] },
  },
  {
    name: "3 → 7 channels, stride 2 with rhs dilation 2",
    x: [2, 3, 21, 23],
    w: [7, 3, 3, 3],
    opts: { windowStrides: [2, 2], rhsDilation: [2, 2], padding: [[1, 0], [2, 1]] },
  },
  {
    name: "two feature groups of 5 features, wide rows",
    x: [1, 4, 9, 17],
    w: [10, 2, 3, 3],
    opts: { featureGroupCount: 2, padding: [[1, 1], [0, 2]] },
  },
  {
    name: "twelve output channels (three column tiles), padding 1",
    x: [2, 5, 10, 12],
    w: [12, 5, 3, 3],
    opts: { padding: [[1, 1], [1, 1]] },
  },
  {
    name: "batch 1, 9 → 3 channels, 5×5, lhs dilation 2",
    x: [1, 9, 6, 7],
    w: [3, 9, 5, 5],
    opts: { lhsDilation: [2, 2], padding: [[2, 2], [2, 2]] },
  },
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

for (const c of CASES) {
  Deno.test(`conv ${c.name}: forward and both gradients match the cpu backend`, async () => {
    const xd = data(c.x, 1), wd = data(c.w, 2);
    const yShape = withCpu(() => convGeneralDilated(arr(xd, c.x), arr(wd, c.w), c.opts).shape);
    const cd = data(yShape, 3);
    const want = await withCpu(() =>
      Promise.all(directions(c, xd, wd, cd).map(async (t) => Array.from(await t.data())))
    );
    const got = directions(c, xd, wd, cd);
    for (let i = 0; i < 3; i++) {
      assertAllClose(Array.from(await got[i].data()), want[i], {
        rtol: 1e-4,
        atol: 1e-4,
        msg: `${c.name}: ${["forward", "input gradient", "kernel gradient"][i]}`,
      });
    }
  });
}

Deno.test("a jitted conv with bias and relu (a fused epilogue) matches the cpu backend", async () => {
  const xs = [4, 3, 9, 9], ws = [8, 3, 3, 3];
  const xd = data(xs, 4), wd = data(ws, 5), bd = data([8], 6);
  const f = (x: Tensor, w: Tensor, b: Tensor) =>
    np.maximum(
      convGeneralDilated(x, w, { padding: [[1, 1], [1, 1]] }).add(b.reshape([1, 8, 1, 1])),
      0,
    );
  const want = await withCpu(() => f(arr(xd, xs), arr(wd, ws), arr(bd, [8])).data());
  const got = await jit(f)(arr(xd, xs), arr(wd, ws), arr(bd, [8])).data();
  assertAllClose(Array.from(got), Array.from(want), { rtol: 1e-4, atol: 1e-4 });
});

Deno.test("a jitted strided input gradient with a fused epilogue (by phases) matches the cpu backend", async () => {
  const xs = [3, 4, 11, 10], ws = [6, 4, 3, 3];
  const opts: ConvOptions = { windowStrides: [2, 2], padding: [[1, 1], [1, 0]] };
  const xd = data(xs, 11), wd = data(ws, 12);
  // the input gradient, scaled and passed through tanh: an epilogue on the phase convolutions
  const f = (x: Tensor, w: Tensor) =>
    np.tanh(grad((a: Tensor) => convGeneralDilated(a, w, opts).square().sum())(x).mul(0.5));
  const want = await withCpu(() => f(arr(xd, xs), arr(wd, ws)).data());
  const got = await jit(f)(arr(xd, xs), arr(wd, ws)).data();
  assertAllClose(Array.from(got), Array.from(want), { rtol: 1e-4, atol: 1e-4 });
});

Deno.test("a strided convolution's input gradient multiplies no inserted zeros", () => {
  // the transposed convolution of a 2×2-strided 3×3 layer (padding 1): per dim, the even outputs
  // take kernel tap 1, the odd ones taps 0 and 2
  const ct = [2, 6, 5, 5], w = [4, 6, 3, 3];
  const p = {
    windowStrides: [1, 1],
    padding: [[1, 1], [1, 1]] as [number, number][],
    lhsDilation: [2, 2],
    rhsDilation: [1, 1],
    featureGroupCount: 1,
    batchGroupCount: 1,
  };
  assert(convByPhases(p));
  const taps: number[][] = [];
  convPhasePlan("f32", ct, w, convOutShape(ct, w, p), p, undefined, plainConvStore, (...a) => {
    taps.push(a[2].slice(2));
    return { steps: [], temps: [] };
  }, convOutShape);
  assertEquals(taps, [[1, 1], [1, 2], [2, 1], [2, 2]]);
  // 9 taps per output over 4 phases: 9/4 on average instead of 9 with the zeros
  assertEquals(taps.reduce((s, t) => s + t[0] * t[1], 0), 9);
});

Deno.test({
  name: "the texture convolution keeps llvmpipe's 8-lane vectors full on W4's convolutions",
  ignore: BACKEND !== "webgpu",
  fn() {
    // llvmpipe vectorizes invocations along a workgroup's x only: every multiply of W4's six
    // convolutions (each layer's forward pass, input and kernel gradient) is at least 8 wide
    const lim = { maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 };
    const p = (pad: number) => ({
      windowStrides: [1, 1],
      padding: [[pad, pad], [pad, pad]] as [number, number][],
      lhsDilation: [1, 1],
      rhsDilation: [1, 1],
      featureGroupCount: 1,
      batchGroupCount: 1,
    });
    const convs: [number[], number[], number][] = [
      [[64, 1, 28, 28], [6, 1, 5, 5], 2], // conv1
      [[64, 6, 28, 28], [1, 6, 5, 5], 2], // its input gradient
      [[1, 64, 28, 28], [6, 64, 28, 28], 2], // its kernel gradient
      [[64, 6, 28, 28], [16, 6, 5, 5], 0], // conv2
      [[64, 16, 24, 24], [6, 16, 5, 5], 4], // its input gradient
      [[6, 64, 28, 28], [16, 64, 24, 24], 0], // its kernel gradient
    ];
    for (const [xs, ws, pad] of convs) {
      const os = convOutShape(xs, ws, p(pad));
      const plan = convTexturePlan("f32", xs, ws, os, p(pad), lim, plainConvStore)!;
      const multiply = plan.steps[2];
      assert(multiply.kind === "dispatch" && multiply.kernel.wgsl.includes("var TX:"));
      const wg = multiply.kernel.workgroupSize;
      assert(wg[0] >= 8, `${xs} * ${ws}: workgroup ${wg}`);
    }
  },
});

Deno.test({
  name: "the texture convolution spills batch entries and kernel rows into further layers",
  ignore: BACKEND !== "webgpu" || !(await webgpuAvailable()),
  async fn() {
    const g = await createWebGpuBackend();
    const xs = [5, 3, 6, 6], ws = [4, 3, 3, 3];
    const params = {
      windowStrides: [1, 1],
      padding: [[1, 1], [1, 1]] as [number, number][],
      lhsDilation: [1, 1],
      rhsDilation: [1, 1],
      featureGroupCount: 1,
      batchGroupCount: 1,
    };
    const os = convOutShape(xs, ws, params);
    const xd = data(xs, 7), wd = data(ws, 8);
    const want = await withCpu(() =>
      convGeneralDilated(arr(xd, xs), arr(wd, ws), { padding: params.padding }).data()
    );
    const fa = (s: readonly number[]) => ({ shape: [...s], dtype: "f32" as const });
    const bufs = [g.upload(xd, fa(xs)), g.upload(wd, fa(ws))] as unknown as { buffer: GPUBuffer }[];
    // height 16: two 6-row (padded 8) images per layer, and 16-row layers of the kernel
    const lim = { maxTextureDimension2D: 16, maxTextureArrayLayers: 64 };
    for (
      const [opts, layers] of [
        [{ slide: true, dot: false }, [3, 3]],
        [{ slide: false }, [3, 3]],
        [{ slide: true, dot: true }, [3, 1]],
      ] as const
    ) {
      const plan = convTexturePlan("f32", xs, ws, os, params, lim, plainConvStore, opts)!;
      assertEquals(plan.textures!.map((t) => t.layers), [...layers]);
      const o = g.alloc!(fa(os)) as { buffer: GPUBuffer };
      g.runtime.run(plan, bufs.map((b) => b.buffer), [o.buffer], "conv_general_dilated");
      const got = Array.from(await g.read(o, fa(os)) as Float32Array);
      assertAllClose(got, Array.from(want), { rtol: 1e-4, atol: 1e-4, msg: JSON.stringify(opts) });
    }
  },
});

// pooling: forward and gradient against the cpu backend. The gradients run no scatter and build
// no window copies: max pool's cotangent is `select_and_scatter_add`, which the WebGPU backend
// computes in gather form (each window's selection first, then each input element visits its
// windows), and the transpose of the window sum is an interior-padded window sum.
const POOLS: readonly {
  readonly name: string;
  readonly f: (x: Tensor) => Tensor;
}[] = [
  { name: "max pool 2×2 stride 2", f: (x) => maxPool(x, { kernelSize: [2, 2], strides: [2, 2] }) },
  {
    name: "max pool 3×3 stride 2, padded, overlapping",
    f: (x) => maxPool(x, { kernelSize: [3, 3], strides: [2, 2], padding: [[1, 1], [1, 1]] }),
  },
  {
    name: "avg pool 3×3 stride 2, SAME",
    f: (x) => avgPool(x, { kernelSize: [3, 3], strides: [2, 2], padding: "SAME" }),
  },
];

for (const p of POOLS) {
  Deno.test(`${p.name}: forward and gradient match the cpu backend, with no scatter`, async () => {
    const xs = [2, 3, 7, 6];
    // distinct values: the selected maximum is unique
    const xd = Float32Array.from({ length: size(xs) }, (_, i) => Math.sin(i * 12.9898) * 10);
    const run = (x: Tensor) => {
      const [y, back] = vjp(p.f, x);
      const ct = arr(data(y.shape, 9), y.shape);
      return [y, back(ct)[0]];
    };
    const want = await withCpu(() =>
      Promise.all(run(arr(xd, xs)).map(async (t) => Array.from(await t.data())))
    );
    const got = run(arr(xd, xs));
    for (let i = 0; i < 2; i++) {
      assertAllClose(Array.from(await got[i].data()), want[i], { rtol: 1e-5, atol: 1e-5 });
    }
    const prims = makeJaxpr((x: Tensor) => vjp(p.f, x)[1](p.f(x))[0])(arr(xd, xs))
      .jaxpr.eqns.map((e) => e.prim.name);
    const banned = ["scatter", "concatenate", "argmax", "argmin", "gather", "slice"];
    assertEquals(prims.filter((n) => banned.includes(n)), []);
    if (p.name.startsWith("max")) assert(prims.includes("select_and_scatter_add"));
  });
}
