import { BACKEND } from "./backend.ts";
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { rng } from "./helpers.ts";
import type { ConvParams } from "../core/prims/conv.ts";
import { convOutShape, plainConvStore } from "../gpu/kernels/conv.ts";
import { convTexturePlan } from "../gpu/kernels/conv_texture.ts";
import { genericKernelsEnabled, setGenericKernels } from "../gpu/kernels/common.ts";
import { createWebGpuBackend, webgpuAvailable } from "../gpu/backend.ts";

// The texture convolution's shared packing kernels (gpu/kernels/conv_pack.ts): one pipeline per
// packing for every small convolution, the same textures as the specialised kernels; likewise
// the shared sum of a split multiply's partial products.

const LIMITS = { maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 };
const params = (o: Partial<ConvParams> = {}): ConvParams => ({
  windowStrides: [1, 1],
  padding: [[1, 1], [1, 1]],
  lhsDilation: [1, 1],
  rhsDilation: [1, 1],
  featureGroupCount: 1,
  batchGroupCount: 1,
  ...o,
});
const packs = (x: number[], w: number[], p: ConvParams, lim = LIMITS) => {
  const plan = convTexturePlan("f32", x, w, convOutShape(x, w, p), p, lim, plainConvStore)!;
  return plan.steps.slice(0, 2).map((s) => (s.kind === "dispatch" ? s.kernel.wgsl : ""));
};

Deno.test("small convolutions of different shapes share their packing kernels", () => {
  // the generic form is what is tested: pinned on whatever DENAX_GENERIC_KERNELS says
  const was = genericKernelsEnabled();
  setGenericKernels(true);
  try {
    const a = packs([2, 8, 7, 7], [16, 8, 3, 3], params());
    const b = packs([4, 12, 5, 6], [8, 3, 1, 2], params({ featureGroupCount: 4 }));
    const c = packs([1, 5, 4, 4], [6, 5, 2, 2], params({ lhsDilation: [2, 3] }));
    assertEquals(b, a);
    assertEquals(c, a);
    // a large input (64 × 30 × 30 × 16 texels) keeps its specialised packing
    const big = packs([64, 64, 28, 28], [16, 64, 3, 3], params());
    assertNotEquals(big[0], a[0]);
    assertEquals(big[1], a[1]);
    // and so does every convolution with generic kernels off
    setGenericKernels(false);
    assertNotEquals(packs([2, 8, 7, 7], [16, 8, 3, 3], params()), a);
  } finally {
    setGenericKernels(was);
  }
});

const CASES: { name: string; x: number[]; w: number[]; p: ConvParams }[] = [
  { name: "3×3 padded", x: [3, 6, 7, 6], w: [10, 6, 3, 3], p: params() },
  {
    name: "lhs dilation, negative padding",
    x: [2, 5, 5, 4],
    w: [7, 5, 3, 2],
    p: params({ lhsDilation: [2, 3], padding: [[1, -1], [0, 2]] }),
  },
  {
    name: "feature groups, stride 2",
    x: [2, 9, 8, 9],
    w: [6, 3, 3, 3],
    p: params({ featureGroupCount: 3, windowStrides: [2, 2] }),
  },
  {
    name: "1×1, nine features",
    x: [5, 13, 3, 3],
    w: [9, 13, 1, 1],
    p: params({ padding: [[0, 0], [0, 0]] }),
  },
  // few workgroups over a long contraction: split, summed by the shared kernel
  { name: "64 channels, 2 × 2 (split)", x: [1, 64, 2, 2], w: [16, 64, 3, 3], p: params() },
  {
    name: "a kernel gradient's shape (split)",
    x: [6, 4, 10, 10],
    w: [5, 4, 8, 8],
    p: params({ padding: [[0, 0], [0, 0]] }),
  },
];

Deno.test({
  name:
    "the shared packing and sum kernels compute what the specialised ones do, also spilled into layers",
  ignore: BACKEND !== "webgpu" || !(await webgpuAvailable()),
  async fn() {
    const g = await createWebGpuBackend();
    const fa = (s: readonly number[]) => ({ shape: [...s], dtype: "f32" as const });
    const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
    let spilled = 0, shared = 0;
    for (const c of CASES) {
      const r = rng(size(c.x));
      const bufs = [c.x, c.w].map((s) =>
        (g.upload(Float32Array.from({ length: size(s) }, () => r() - 0.5), fa(s)) as unknown as {
          buffer: GPUBuffer;
        }).buffer
      );
      const os = convOutShape(c.x, c.w, c.p);
      // 16-texel textures: several batch entries per layer, kernel rows over several layers
      for (const lim of [LIMITS, { maxTextureDimension2D: 16, maxTextureArrayLayers: 256 }]) {
        const got: number[][] = [];
        for (const generic of [true, false]) {
          setGenericKernels(generic);
          try {
            const plan = convTexturePlan("f32", c.x, c.w, os, c.p, lim, plainConvStore, {
              slide: false,
            });
            if (!plan) continue; // beyond the small limits
            if (lim !== LIMITS && generic) spilled++;
            // the partial sums of a split multiply: the shared kernel, when generic
            const sum = plan.steps.length > 3 ? plan.steps[3] : null;
            if (sum?.kind === "dispatch" && sum.kernel.wgsl.includes("c < _P[4].x")) {
              assert(generic, c.name);
              shared++;
            }
            const o = g.alloc!(fa(os)) as { buffer: GPUBuffer };
            g.runtime.run(plan, bufs, [o.buffer], "conv_general_dilated");
            got.push(Array.from(await g.read(o, fa(os)) as Float32Array));
          } finally {
            setGenericKernels(true);
          }
        }
        // the same products in the same order: equal to the last bit
        assertEquals(got[0], got[1], `${c.name}, ${lim.maxTextureDimension2D}`);
      }
    }
    assert(spilled >= 2, `${spilled} cases spilled`);
    assert(shared >= 2, `${shared} split sums shared`);
  },
});
