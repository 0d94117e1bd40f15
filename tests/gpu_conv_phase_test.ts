import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { rng } from "./helpers.ts";
import { grad, jit, np, type Tensor } from "../mod.ts";
import { convGeneralDilated, type ConvOptions } from "../core/lax_conv.ts";
import type { ConvParams } from "../core/prims/conv.ts";
import { convOutShape, convPlan } from "../gpu/kernels/conv.ts";
import { createWebGpuBackend, webgpuAvailable } from "../gpu/backend.ts";
import { genericKernelsEnabled } from "../gpu/kernels/common.ts";

// Convolutions of an lhs-dilated input (strided input gradients, transposed convolutions) whose
// phases run as one texture multiply on CPU adapters (gpu/kernels/conv_phase_texture.ts),
// against the cpu backend's convolution.

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const data = (shape: readonly number[], seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: size(shape) }, () => r() * 2 - 1);
};
const arr = (d: Float32Array, shape: readonly number[]) => np.array(d, { shape: [...shape] });

interface PhaseCase {
  readonly name: string;
  readonly lhs: readonly number[];
  readonly rhs: readonly number[];
  readonly opts: ConvOptions;
}

const CASES: readonly PhaseCase[] = [
  {
    name: "3×3, stride 2, padding 1 (ResNet's input gradient, odd output)",
    lhs: [2, 16, 4, 4],
    rhs: [12, 16, 3, 3],
    opts: { lhsDilation: [2, 2], padding: [[1, 1], [1, 1]] },
  },
  {
    name: "1×1, stride 2 (the shortcut: three phases without taps)",
    lhs: [2, 16, 4, 4],
    rhs: [12, 16, 1, 1],
    opts: { lhsDilation: [2, 2], padding: [[0, 1], [0, 1]] },
  },
  {
    name: "strides 3 and 2, rhs dilation 2, uneven padding",
    lhs: [1, 9, 4, 5],
    rhs: [10, 9, 3, 2],
    opts: { lhsDilation: [3, 2], rhsDilation: [2, 1], padding: [[2, 1], [1, 0]] },
  },
  {
    name: "stride 2 and rhs dilation 2 (a common factor: phases without taps)",
    lhs: [2, 10, 4, 4],
    rhs: [9, 10, 3, 3],
    opts: { lhsDilation: [2, 2], rhsDilation: [2, 2], padding: [[2, 2], [2, 2]] },
  },
  {
    name: "three feature groups",
    lhs: [2, 12, 3, 3],
    rhs: [12, 4, 3, 3],
    opts: { lhsDilation: [2, 2], padding: [[1, 1], [1, 1]], featureGroupCount: 3 },
  },
  {
    name: "1-D, stride 3, 4-wide kernel",
    lhs: [3, 10, 5],
    rhs: [11, 10, 4],
    opts: { lhsDilation: [3], padding: [[3, 3]] },
  },
  {
    name: "strides 2 and 3 with negative padding",
    lhs: [2, 9, 5, 4],
    rhs: [10, 9, 3, 2],
    opts: { lhsDilation: [2, 3], padding: [[1, -1], [0, 2]] },
  },
  {
    name: "64 channels on a small grid (taps split across workgroups)",
    lhs: [1, 64, 2, 2],
    rhs: [16, 64, 3, 3],
    opts: { lhsDilation: [2, 2], padding: [[1, 1], [1, 1]] },
  },
];

const params = (c: PhaseCase): ConvParams => {
  const n = c.lhs.length - 2;
  return {
    windowStrides: Array(n).fill(1),
    padding: c.opts.padding as [number, number][],
    lhsDilation: c.opts.lhsDilation ?? Array(n).fill(1),
    rhsDilation: c.opts.rhsDilation ?? Array(n).fill(1),
    featureGroupCount: c.opts.featureGroupCount ?? 1,
    batchGroupCount: 1,
  };
};
const LIMITS = { maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 };

Deno.test("strided input gradients with short rows take one texture multiply for all phases", () => {
  for (const c of CASES) {
    const plan = convPlan("f32", c.lhs, c.rhs, params(c), { textures: true, ...LIMITS });
    // pack input, pack taps, multiply, and the sum of split partial products where the grid
    // is small
    assertEquals(plan.steps.length, plan.temps.length ? 4 : 3, c.name);
    if (c.name.startsWith("64")) assertEquals(plan.temps.length, 1);
    // the one tap of a 1 × 1 kernel in kernel order: the shared packing (conv_pack.ts)
    const pack = plan.steps[1];
    if (c.name.startsWith("1×1") && genericKernelsEnabled()) {
      assert(pack.kind === "dispatch" && pack.kernel.params, c.name);
    }
    assertEquals(plan.textures?.length, 2, c.name);
  }
  // rows of 10 outputs per phase: the sliding multiply, one sub-convolution per phase
  const wide: PhaseCase = {
    name: "wide",
    lhs: [1, 16, 10, 10],
    rhs: [12, 16, 3, 3],
    opts: { lhsDilation: [2, 2], padding: [[1, 1], [1, 1]] },
  };
  const plan = convPlan("f32", wide.lhs, wide.rhs, params(wide), { textures: true, ...LIMITS });
  assert(plan.steps.length > 4);
});

Deno.test({
  name: "the all-phase texture multiply matches the cpu convolution, also spilled into layers",
  ignore: BACKEND !== "webgpu" || !(await webgpuAvailable()),
  async fn() {
    const g = await createWebGpuBackend();
    const fa = (s: readonly number[]) => ({ shape: [...s], dtype: "f32" as const });
    let spilled = 0;
    for (const c of CASES) {
      const p = params(c), os = convOutShape(c.lhs, c.rhs, p);
      const ld = data(c.lhs, 1), rd = data(c.rhs, 2);
      const want = Array.from(
        await withCpu(() => convGeneralDilated(arr(ld, c.lhs), arr(rd, c.rhs), c.opts).data()),
      );
      const bufs = [g.upload(ld, fa(c.lhs)), g.upload(rd, fa(c.rhs))] as unknown as {
        buffer: GPUBuffer;
      }[];
      // 32-texel textures: batch entries and taps spill into further layers
      for (const lim of [LIMITS, { maxTextureDimension2D: 32, maxTextureArrayLayers: 64 }]) {
        const plan = convPlan("f32", c.lhs, c.rhs, p, { textures: true, ...lim });
        if (plan.steps.length > 4) continue; // beyond the small limits: per phase
        if (lim !== LIMITS) spilled++;
        const o = g.alloc!(fa(os)) as { buffer: GPUBuffer };
        g.runtime.run(plan, bufs.map((b) => b.buffer), [o.buffer], "conv_general_dilated");
        const got = Array.from(await g.read(o, fa(os)) as Float32Array);
        assertAllClose(got, want, { rtol: 1e-4, atol: 1e-4, msg: `${c.name} ${lim}` });
      }
    }
    assert(spilled >= 4, `${spilled} cases spilled`);
  },
});

Deno.test("strided input gradients of many channels match the cpu backend, eager and jitted with a fused epilogue", async () => {
  // forward strides 2 (3×3, padding 1), 3 (1-D), 2 (1×1) and 2 with 2 feature groups
  const layers: { x: number[]; w: number[]; opts: ConvOptions }[] = [
    {
      x: [2, 12, 7, 7],
      w: [16, 12, 3, 3],
      opts: { windowStrides: [2, 2], padding: [[1, 1], [1, 1]] },
    },
    { x: [3, 10, 14], w: [8, 10, 4], opts: { windowStrides: [3], padding: [[1, 2]] } },
    { x: [2, 16, 8, 7], w: [24, 16, 1, 1], opts: { windowStrides: [2, 2] } },
    {
      x: [2, 12, 9, 8],
      w: [16, 6, 3, 3],
      opts: { windowStrides: [2, 2], padding: [[1, 1], [0, 1]], featureGroupCount: 2 },
    },
  ];
  for (const [k, l] of layers.entries()) {
    const xd = data(l.x, 10 + k), wd = data(l.w, 20 + k), zd = data(l.x, 30 + k);
    const dx = (x: Tensor, w: Tensor) =>
      grad((a: Tensor) => convGeneralDilated(a, w, l.opts).square().sum())(x);
    // the epilogue reads another operand (a heavy store: stored by a loop)
    const f = (x: Tensor, w: Tensor, z: Tensor) => np.tanh(dx(x, w).mul(z));
    const ins = () => [arr(xd, l.x), arr(wd, l.w), arr(zd, l.x)] as const;
    const want = await withCpu(async () => [
      Array.from(await dx(ins()[0], ins()[1]).data()),
      Array.from(await f(...ins()).data()),
    ]);
    const eager = Array.from(await dx(ins()[0], ins()[1]).data());
    assertAllClose(eager, want[0], { rtol: 1e-4, atol: 1e-4, msg: `layer ${k}` });
    const fused = Array.from(await jit(f)(...ins()).data());
    assertAllClose(fused, want[1], { rtol: 1e-4, atol: 1e-4, msg: `layer ${k}, jitted` });
  }
});
