/**
 * The native convolution lowerings against the reference backend's convolution: every lowering
 * (`im2col`, `taps`, `outputs`, `scatter`) on the W4 shapes and their gradients, and on seeded
 * random convolutions over strides, padding (negative too), lhs and rhs dilation, feature and
 * batch groups and 1 to 3 spatial dims, with both GEMMs (BLAS and the TypeScript one); the
 * gradients of x and of the kernel through the native backend against the cpu backend.
 *
 * @module
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { withCpu } from "./backend.ts";
import { grad, lax, np, type Tensor } from "../mod.ts";
import { currentBackend, setBackend } from "../core/backend.ts";
import { getPrimitive } from "../core/primitive.ts";
import { ShapedArray } from "../core/aval.ts";
import { createNativeBackend } from "../native/backend.ts";
import {
  chooseConv,
  convF32,
  type ConvMethod,
  type ConvParamsLike,
  im2colImages,
} from "../native/conv.ts";
import { geometry } from "../native/conv_geo.ts";
import { sgemmJs } from "../native/gemm_js.ts";
import { cropTaps } from "../native/conv_crop.ts";
import { rng } from "./helpers.ts";

const native = createNativeBackend();

function host(seed: number, shape: readonly number[]): Float32Array {
  const r = rng(seed), n = shape.reduce((a, b) => a * b, 1), d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = 2 * r() - 1;
  return d;
}

const cp = (nsp: number, o: Partial<ConvParamsLike> = {}): ConvParamsLike => ({
  windowStrides: Array(nsp).fill(1),
  padding: Array(nsp).fill([0, 0]),
  lhsDilation: Array(nsp).fill(1),
  rhsDilation: Array(nsp).fill(1),
  featureGroupCount: 1,
  batchGroupCount: 1,
  ...o,
});
const pad2 = (lo: number, hi = lo): [number, number][] => [[lo, hi], [lo, hi]];

/** The reference convolution (float64 accumulation) and its output shape. */
function reference(
  x: Float32Array,
  xs: readonly number[],
  w: Float32Array,
  ws: readonly number[],
  p: ConvParamsLike,
): { out: Float32Array; shape: number[] } | null {
  const prim = getPrimitive("conv_general_dilated");
  const la = new ShapedArray(xs, "f32"), ra = new ShapedArray(ws, "f32");
  let oa: ShapedArray;
  try {
    [oa] = prim.abstractEval([la, ra], p);
  } catch {
    return null;
  }
  const [out] = prim.impl!([{ data: x, aval: la }, { data: w, aval: ra }], p, [oa]);
  return { out: out as Float32Array, shape: [...oa.shape] };
}

/**
 * The lowerings that apply to `p` (`taps` and `scatter` need unit strides, `chlast` one group
 * and no lhs dilation).
 */
function methodsFor(p: ConvParamsLike): ConvMethod[] {
  const unit = p.windowStrides.every((s) => s === 1);
  const chlast = p.featureGroupCount === 1 && p.batchGroupCount === 1 &&
    p.lhsDilation.every((d) => d === 1);
  return [
    ...(unit
      ? ["im2col", "outputs", "taps", "scatter", "classes"] as const
      : ["im2col", "outputs", "classes"] as const),
    ...(chlast ? ["chlast"] as const : []),
  ];
}

function checkAll(xs: number[], ws: number[], p: ConvParamsLike, seed: number, tol: number) {
  const x = host(seed, xs), w = host(seed + 1, ws);
  const ref = reference(x, xs, w, ws, p);
  if (!ref) return false;
  for (const m of methodsFor(p)) {
    for (const sgemm of [native.blas.sgemm, sgemmJs]) {
      const got = new Float32Array(ref.out.length).fill(NaN);
      convF32(sgemm, m, x, xs, w, ws, p, got, ref.shape);
      assertAllClose(got, ref.out, {
        rtol: tol,
        atol: tol,
        msg: `${m} ${JSON.stringify({ xs, ws, p })}`,
      });
    }
  }
  return true;
}

// the W4 workload's convolutions: forward, and the gradients as the transposes bind them
const W4: [string, number[], number[], ConvParamsLike][] = [
  ["conv1 forward", [64, 1, 28, 28], [6, 1, 5, 5], cp(2, { padding: pad2(2) })],
  ["conv2 forward", [64, 6, 28, 28], [16, 6, 5, 5], cp(2)],
  ["conv2 input gradient", [64, 16, 24, 24], [6, 16, 5, 5], cp(2, { padding: pad2(4) })],
  ["conv2 kernel gradient", [6, 64, 28, 28], [16, 64, 24, 24], cp(2)],
  ["conv1 input gradient", [64, 6, 28, 28], [1, 6, 5, 5], cp(2, { padding: pad2(2) })],
  ["conv1 kernel gradient", [1, 64, 28, 28], [6, 64, 28, 28], cp(2, { padding: pad2(2) })],
];

Deno.test("every native conv lowering computes a pointwise layer's kernel gradient (its kernel covers the input grid) as the reference does", () => {
  // [C, N, H, W] × [O, N, H, W] → [C, O, 1, 1]: `outputs` reads the kernel in place
  assert(checkAll([6, 4, 7, 7], [5, 4, 7, 7], cp(2), 11, 2e-4));
  assert(checkAll([3, 2, 1, 9], [4, 2, 1, 9], cp(2), 12, 2e-4));
});

for (const [name, xs, ws, p] of W4) {
  Deno.test(`every native conv lowering computes W4's ${name} as the reference does`, () => {
    // batch cut to 4 (the lowerings loop over images; the long contractions need f32 slack)
    const small = (s: number[], i: number) => s.map((d, j) => (j === i && d === 64 ? 4 : d));
    const batchDim = name.includes("kernel") ? 1 : 0;
    checkAll(small(xs, batchDim), small(ws, batchDim), p, 7, 2e-4);
  });
}

Deno.test("W4 chooses scatter for input gradients, taps and outputs elsewhere", () => {
  const want: ConvMethod[] = ["taps", "taps", "scatter", "outputs", "scatter", "outputs"];
  const got = W4.map(([, xs, ws, p]) => {
    const prim = getPrimitive("conv_general_dilated");
    const [oa] = prim.abstractEval([new ShapedArray(xs, "f32"), new ShapedArray(ws, "f32")], p);
    return chooseConv(xs, ws, oa.shape, p, true, true);
  });
  assertEquals(got, want);
});

// the classes lowering's edges: 1×1 and odd maps, positions no tap reads (their class has no
// taps), strides, lhs dilation (input gradients), feature and batch groups
const CLASSES: [string, number[], number[], ConvParamsLike][] = [
  ["1×1 map, 3×3 padded", [5, 6, 1, 1], [7, 6, 3, 3], cp(2, { padding: pad2(1) })],
  ["2×2 map, 3×3 padded", [4, 5, 2, 2], [3, 5, 3, 3], cp(2, { padding: pad2(1) })],
  [
    "3×5 map, stride 2",
    [3, 4, 3, 5],
    [6, 4, 3, 3],
    cp(2, { windowStrides: [2, 2], padding: pad2(1) }),
  ],
  ["outputs that read only padding", [2, 3, 2, 3], [4, 3, 1, 1], cp(2, { padding: pad2(2) })],
  [
    "lhs-dilated 1×1 (an input gradient)",
    [3, 4, 1, 1],
    [5, 4, 3, 3],
    cp(2, { padding: pad2(1, 2), lhsDilation: [2, 2] }),
  ],
  [
    "feature groups, odd sizes",
    [3, 6, 3, 1],
    [9, 2, 3, 1],
    cp(2, { padding: pad2(1), featureGroupCount: 3 }),
  ],
  [
    "batch groups (a grouped kernel gradient)",
    [4, 3, 3, 3],
    [6, 3, 2, 2],
    cp(2, { padding: pad2(1), batchGroupCount: 2 }),
  ],
  ["kernel gradient on a 2×2 map", [6, 5, 2, 2], [4, 5, 2, 2], cp(2, { padding: pad2(1) })],
  ["1-d, dilated kernel", [3, 2, 5], [4, 2, 3], cp(1, { padding: [[2, 1]], rhsDilation: [2] })],
];

/** Checks one lowering against the reference with both GEMMs. */
function checkMethod(
  m: ConvMethod,
  xs: number[],
  ws: number[],
  p: ConvParamsLike,
  seed: number,
  tol: number,
  msg: string,
) {
  const x = host(seed, xs), w = host(seed + 1, ws);
  const ref = reference(x, xs, w, ws, p)!;
  for (const sgemm of [native.blas.sgemm, sgemmJs]) {
    const got = new Float32Array(ref.out.length).fill(NaN);
    convF32(sgemm, m, x, xs, w, ws, p, got, ref.shape);
    assertAllClose(got, ref.out, { rtol: tol, atol: tol, msg });
  }
}

/** The output shape of a convolution. */
function outShape(xs: number[], ws: number[], p: ConvParamsLike): number[] {
  const prim = getPrimitive("conv_general_dilated");
  const [oa] = prim.abstractEval([new ShapedArray(xs, "f32"), new ShapedArray(ws, "f32")], p);
  return oa.shape as number[];
}

for (const [name, xs, ws, p] of CLASSES) {
  Deno.test(`the classes conv lowering matches the reference: ${name}`, () => {
    checkMethod("classes", xs, ws, p, 11, 1e-5, name);
  });
}

// the chlast lowering's paths: position blocks of one image, images sharing a GEMM, runs of a
// kernel row's taps (set) or of one tap (kernel dilation), strides with negative padding, 3-d
const CHLAST: [string, number[], number[], ConvParamsLike][] = [
  ["one image in position blocks", [1, 256, 48, 48], [4, 256, 3, 3], cp(2, { padding: pad2(1) })],
  ["images sharing a GEMM", [5, 40, 9, 9], [6, 40, 5, 5], cp(2, { padding: pad2(2) })],
  [
    "kernel dilation, 48 channels",
    [3, 48, 9, 9],
    [5, 48, 3, 3],
    cp(2, { rhsDilation: [2, 2], padding: [[2, 1], [0, 3]] }),
  ],
  [
    "stride 2, negative padding",
    [3, 40, 11, 11],
    [4, 40, 3, 3],
    cp(2, { windowStrides: [2, 2], padding: [[-1, 2], [1, -1]] }),
  ],
  ["a kernel gradient's shape", [6, 36, 9, 9], [5, 36, 7, 7], cp(2, { padding: pad2(1) })],
  // the contraction split by kernel rows (5, 5 and 3 of 13 per GEMM), accumulated
  ["a large kernel gradient", [20, 128, 13, 13], [8, 128, 13, 13], cp(2, { padding: pad2(2) })],
  ["3-d", [2, 33, 4, 5, 6], [3, 33, 2, 3, 3], cp(3, { padding: [[1, 0], [1, 1], [0, 2]] })],
];

for (const [name, xs, ws, p] of CHLAST) {
  Deno.test(`the chlast conv lowering matches the reference: ${name}`, () => {
    checkMethod("chlast", xs, ws, p, 21, 1e-4, name);
  });
}

Deno.test("ResNet-18's 2×2 maps and lhs-dilated gradients choose classes, its 4×4 and 7×7 maps chlast", () => {
  // bench/conv_lowering_bench.ts --model resnet --rounds 5 (2026-12-07 23:50 UTC): 2×2 classes
  // 16.6 ms (chlast 12.8), the strided 4×4 layer chlast 8.6 (classes 13.6), the 4×4 kernel
  // gradient chlast 12.9 (classes 32.1), the 7×7 layer chlast 19.9 (scatter 17.1, taps 21.4)
  const choose = (xs: number[], ws: number[], p: ConvParamsLike) => {
    const prim = getPrimitive("conv_general_dilated");
    const [oa] = prim.abstractEval([new ShapedArray(xs, "f32"), new ShapedArray(ws, "f32")], p);
    return chooseConv(xs, ws, oa.shape, p, true, true);
  };
  const p1 = cp(2, { padding: pad2(1) }), s2 = cp(2, { windowStrides: [2, 2], padding: pad2(1) });
  assertEquals(choose([256, 256, 2, 2], [256, 256, 3, 3], p1), "classes");
  assertEquals(choose([256, 128, 4, 4], [256, 128, 3, 3], s2), "chlast");
  assertEquals(choose([128, 256, 4, 4], [128, 256, 4, 4], p1), "chlast");
  const grad1 = cp(2, { padding: pad2(1, 2), lhsDilation: [2, 2] });
  assertEquals(choose([256, 512, 1, 1], [256, 512, 3, 3], grad1), "classes");
  assertEquals(choose([256, 64, 7, 7], [64, 64, 3, 3], p1), "chlast");
});

Deno.test("every native conv lowering matches the reference on random parameters", () => {
  const r = rng(2024);
  const ri = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
  let checked = 0;
  for (let trial = 0; trial < 160; trial++) {
    const nsp = 1 + (trial % 3);
    const groups = ri(1, 3), batchGroups = ri(0, 2) === 0 ? groups : 1;
    const fgc = batchGroups > 1 ? 1 : groups;
    const list = <T>(f: () => T): T[] => Array.from({ length: nsp }, f);
    const inS = list(() => ri(1, nsp === 3 ? 5 : 9)), kS = list(() => ri(1, 4));
    const p = cp(nsp, {
      windowStrides: list(() => (trial % 2 ? 1 : ri(1, 3))),
      padding: list(() => [ri(-1, 4), ri(-1, 4)] as [number, number]),
      lhsDilation: list(() => (trial % 4 < 2 ? 1 : ri(1, 3))),
      rhsDilation: list(() => ri(1, 2)),
      featureGroupCount: fgc,
      batchGroupCount: batchGroups,
    });
    const xs = [ri(1, 3) * batchGroups, ri(1, trial % 7 === 0 ? 8 : 3) * fgc, ...inS];
    const ws = [ri(1, trial % 5 === 0 ? 9 : 3) * groups, xs[1] / fgc, ...kS];
    if (checkAll(xs, ws, p, 100 + trial, 1e-5)) checked++;
  }
  // most draws are valid convolutions (the rest crop more than the input)
  if (checked < 100) throw new Error(`only ${checked} random convolutions were valid`);
});

function on<T>(fn: () => T): T {
  const prev = currentBackend();
  setBackend(native);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

const GRADS: [string, number[], number[], ConvParamsLike][] = [
  ["padded", [3, 2, 9, 9], [4, 2, 3, 3], cp(2, { padding: pad2(1) })],
  ["stride 2", [2, 3, 10, 10], [4, 3, 3, 3], cp(2, { windowStrides: [2, 2], padding: pad2(1) })],
  ["dilated kernel", [2, 2, 11, 11], [3, 2, 3, 3], cp(2, { rhsDilation: [2, 2] })],
  ["feature groups", [2, 4, 8, 8], [6, 2, 3, 3], cp(2, { featureGroupCount: 2 })],
  ["depthwise", [2, 3, 8, 8], [3, 1, 5, 5], cp(2, { featureGroupCount: 3, padding: pad2(2) })],
  ["lhs dilation", [2, 2, 5, 5], [3, 2, 3, 3], cp(2, { lhsDilation: [2, 2], padding: pad2(2) })],
  ["1-d", [2, 3, 17], [4, 3, 4], cp(1, { padding: [[2, 1]] })],
  ["W4 conv2 at batch 4", [4, 6, 28, 28], [16, 6, 5, 5], cp(2)],
  // taps that meet only padding (cropped by conv_crop.ts)
  ["1×1 image, 3×3 padded", [4, 8, 1, 1], [6, 8, 3, 3], cp(2, { padding: pad2(1) })],
  [
    "2×2 image, stride 2",
    [3, 4, 2, 2],
    [5, 4, 3, 3],
    cp(2, { windowStrides: [2, 2], padding: pad2(1) }),
  ],
  [
    "2×2 image, dilated kernel",
    [2, 3, 2, 2],
    [4, 3, 3, 3],
    cp(2, { rhsDilation: [2, 2], padding: pad2(2) }),
  ],
  ["1×3 image, uneven padding", [2, 3, 1, 3], [4, 3, 3, 5], cp(2, { padding: [[1, 1], [3, 0]] })],
];

const CROPS: [string, number[], number[], ConvParamsLike, number[]][] = [
  ["1×1 image", [4, 8, 1, 1], [6, 8, 3, 3], cp(2, { padding: pad2(1) }), [6, 8, 1, 1]],
  [
    "2×2 image, stride 2",
    [3, 4, 2, 2],
    [5, 4, 3, 3],
    cp(2, { windowStrides: [2, 2], padding: pad2(1) }),
    [5, 4, 2, 2],
  ],
  [
    "2×2 image, dilated",
    [2, 3, 2, 2],
    [4, 3, 3, 3],
    cp(2, { rhsDilation: [2, 2], padding: pad2(2) }),
    [4, 3, 1, 1],
  ],
  ["1×3 image, uneven", [2, 3, 1, 3], [4, 3, 3, 5], cp(2, { padding: [[1, 1], [3, 0]] }), [
    4,
    3,
    1,
    3,
  ]],
  [
    "lhs-dilated 1×1 (an input gradient)",
    [2, 4, 1, 1],
    [3, 4, 3, 3],
    cp(2, { lhsDilation: [2, 2], padding: [[1, 2], [1, 2]] }),
    [3, 4, 2, 2],
  ],
];

for (const [name, xs, ws, p, kept] of CROPS) {
  Deno.test(`taps that meet only padding are cropped and the result is unchanged: ${name}`, () => {
    const x = host(7, xs), w = host(8, ws);
    const want = reference(x, xs, w, ws, p)!;
    const c = cropTaps(xs, w, ws, want.shape, p);
    assert(c, "nothing cropped");
    assertEquals(c.rShape, kept);
    const got = reference(x, xs, c.r, c.rShape, c.p)!;
    assertEquals(got.shape, want.shape);
    assertAllClose(got.out, want.out, { rtol: 1e-6, atol: 1e-7 });
  });
}

Deno.test("a convolution whose every tap reads the input is not cropped", () => {
  const xs = [2, 3, 5, 5], ws = [4, 3, 3, 3], p = cp(2, { padding: pad2(1) });
  assertEquals(cropTaps(xs, host(1, ws), ws, [2, 4, 5, 5], p), null);
});

for (const [name, xs, ws, p] of GRADS) {
  Deno.test(`native conv gradients of x and the kernel match cpu: ${name}`, async () => {
    const x = host(3, xs), w = host(4, ws);
    const shape = reference(x, xs, w, ws, p)!.shape, y = host(5, shape);
    const loss = (a: Tensor, b: Tensor, c: Tensor) => lax.convGeneralDilated(a, b, p).mul(c).sum();
    for (const argnum of [0, 1]) {
      const run = () =>
        grad(loss, { argnums: argnum })(
          np.array(x, { shape: xs }),
          np.array(w, { shape: ws }),
          np.array(y, { shape }),
        );
      const want = await withCpu(run).toArray();
      const got = await on(run).toArray();
      assertAllClose(got, want, { rtol: 1e-4, atol: 1e-4, msg: `argnum ${argnum}` });
    }
  });
}

Deno.test("the conv choice scans the lhs for non-finite values only when outputs would win", () => {
  let scans = 0;
  const scan = (v: boolean) => () => (scans++, v);
  const [, xs, ws, p] = W4[1]; // conv2 forward: taps
  assertEquals(chooseConv(xs, ws, [64, 16, 24, 24], p, scan(true), true), "taps");
  assertEquals(scans, 0);
  const [, gx, gw, gp] = W4[3]; // conv2 kernel gradient: outputs, unless the lhs is not finite
  assertEquals(chooseConv(gx, gw, [6, 16, 5, 5], gp, scan(true), true), "outputs");
  const other = chooseConv(gx, gw, [6, 16, 5, 5], gp, scan(false), true);
  assertEquals([scans, other === "outputs"], [2, false]);
});

Deno.test("the conv choice's multiply-add cost: AlexNet's 5 × 5 kernel gradient contracts per output", () => {
  // d2l's AlexNet at 28×28, batch 128 (bench/conv_lowering_bench.ts --model alexnet): the kernel
  // gradient measured 207–287 ms as `outputs` and 630–723 ms as `classes`, which the cost of a
  // multiply-add first measured on W4's small convolutions (0.04 units) picked; im2col with
  // seven "images" (input channels) per GEMM beat both (250 ms against outputs' 303–348), and
  // chlast's runs of 13 · 128 channels-last elements beat im2col's runs of 5 (2026-12-07 23:50
  // UTC: 239 ms against im2col's 478, outputs' 514)
  const p = cp(2, { padding: pad2(2) });
  const args = [[96, 128, 13, 13], [256, 128, 13, 13], [96, 256, 5, 5], p, true, true] as const;
  assertEquals(chooseConv(...args), "chlast");
});

Deno.test("im2col multiplies several images per GEMM only where an image has few positions and a long contraction", () => {
  const images = (xs: number[], ws: number[], p: ConvParamsLike) =>
    im2colImages(geometry(xs, ws, outShape(xs, ws, p), p), false);
  const p2 = cp(2, { padding: pad2(2) }), p1 = cp(2, { padding: pad2(1) });
  // AlexNet's 5 × 5 layer on 13 × 13 maps: 2400-long contraction, 169 positions → 10 images
  // (16 MiB of patches; 13 would give 2048 columns)
  assertEquals(images([128, 96, 13, 13], [256, 96, 5, 5], p2), 10);
  // its 3 × 3 layers on 6 × 6 maps: 33 images of 36 positions
  assertEquals(images([128, 384, 6, 6], [384, 384, 3, 3], p1), 33);
  // ResNet-18's 3 × 3 layers on 7 × 7 and 4 × 4 maps (contractions of 576 and 1152) and large
  // maps stay per image
  assertEquals(images([256, 64, 7, 7], [64, 64, 3, 3], p1), 1);
  assertEquals(images([256, 128, 4, 4], [128, 128, 3, 3], p1), 1);
  assertEquals(images([128, 96, 32, 32], [96, 96, 5, 5], p2), 1);
  // AlexNet's forward layers choose chlast where the channels-last gather applies (207 and 88
  // ms against im2col's 299 and 131 on 2026-12-07), never with feature groups
  assertEquals(
    chooseConv([128, 96, 13, 13], [256, 96, 5, 5], [128, 256, 13, 13], p2, true, true),
    "chlast",
  );
  assertEquals(
    chooseConv([128, 384, 6, 6], [384, 384, 3, 3], [128, 384, 6, 6], p1, true, true),
    "chlast",
  );
  const g2 = cp(2, { padding: pad2(2), featureGroupCount: 2 });
  const grouped = chooseConv(
    [128, 192, 13, 13],
    [256, 96, 5, 5],
    [128, 256, 13, 13],
    g2,
    true,
    true,
  );
  assert(grouped !== "chlast", grouped);
});

// im2col's images-per-GEMM path (contractions ≥ 2048, 16–1023 positions): blocks with a
// remainder, groups, batch groups, strides, dilations and the general gather (lhs dilation)
const MULTI: [string, number[], number[], ConvParamsLike][] = [
  ["7 images in blocks of 4 and 3", [7, 96, 20, 20], [4, 96, 5, 5], cp(2, { padding: pad2(2) })],
  ["feature groups", [5, 2 * 96, 9, 9], [2 * 3, 96, 5, 5], cp(2, { featureGroupCount: 2 })],
  [
    "batch groups",
    [2 * 3, 64, 8, 8],
    [2 * 3, 64, 6, 6],
    cp(2, { batchGroupCount: 2, padding: pad2(1) }),
  ],
  [
    "stride 2, rhs dilation 2",
    [5, 96, 15, 15],
    [3, 96, 5, 5],
    cp(2, { windowStrides: [2, 2], padding: pad2(3), rhsDilation: [2, 2] }),
  ],
  [
    "lhs dilation (general gather)",
    [5, 256, 5, 5],
    [3, 256, 3, 3],
    cp(2, { padding: pad2(2, 1), lhsDilation: [2, 2] }),
  ],
  [
    "asymmetric and negative padding",
    [4, 100, 11, 7],
    [5, 100, 5, 5],
    cp(2, { padding: [[3, -1], [0, 2]] }),
  ],
];

for (const [name, xs, ws, p] of MULTI) {
  Deno.test(`im2col with several images per GEMM matches the reference: ${name}`, () => {
    assert(im2colImages(geometry(xs, ws, outShape(xs, ws, p), p), false) > 1, "takes the path");
    checkMethod("im2col", xs, ws, p, 31, 1e-4, name);
  });
}

Deno.test("the conv choice counts no gathers for a pointwise convolution's im2col (its input is the patch matrix)", () => {
  // NiN's 1 × 1 layers at 28 × 28, batch 128 (bench/conv_lowering_bench.ts --model nin):
  // im2col 13.4 ms, scatter 18.3 ms
  const p = cp(2);
  assertEquals(
    chooseConv([128, 96, 28, 28], [96, 96, 1, 1], [128, 96, 28, 28], p, true, true),
    "im2col",
  );
  // with padding the patch matrix is gathered again
  const padded = cp(2, { padding: pad2(1) });
  assert(
    chooseConv([128, 96, 28, 28], [96, 96, 1, 1], [128, 96, 30, 30], padded, true, true) !==
      "im2col",
  );
});
