/**
 * WebGPU `dot_general` and `conv_general_dilated` against JS reference loops: batched and
 * transposed matmuls, multiple contracting dims, integer dots, and 1-D/2-D/3-D convolutions
 * with strides, padding, dilations, feature groups and batch groups. f32 results are compared
 * with rtol 1e-5 and an atol of 1e-6 times the sum of |products| (summation order differs).
 */
import { assertAllClose, assertEquals } from "@std/assert";
import type { DType } from "../core/dtype.ts";
import { dotGeneralPlan } from "../gpu/kernels/dot.ts";
import { textureTiles } from "../gpu/kernels/gemm_texture.ts";
import type { WebGpuBackend } from "../gpu/backend.ts";
import {
  gpu,
  gpuSharedGemm,
  HAS_GPU,
  numel,
  op,
  randArray,
  ravel,
  rng,
  run,
  unravel,
} from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;

interface DotCase {
  lhs: number[];
  rhs: number[];
  contracting: [number[], number[]];
  batch: [number[], number[]];
}

function refDot(a: ArrayLike<number>, b: ArrayLike<number>, c: DotCase, dtype: DType) {
  const [lc, rc] = c.contracting, [lb, rb] = c.batch;
  const lf = c.lhs.map((_, d) => d).filter((d) => !lc.includes(d) && !lb.includes(d));
  const rf = c.rhs.map((_, d) => d).filter((d) => !rc.includes(d) && !rb.includes(d));
  const bShape = lb.map((d) => c.lhs[d]), kShape = lc.map((d) => c.lhs[d]);
  const outShape = [...bShape, ...lf.map((d) => c.lhs[d]), ...rf.map((d) => c.rhs[d])];
  const K = numel(kShape);
  const out: number[] = [], mag: number[] = [];
  for (let o = 0; o < numel(outShape); o++) {
    const oi = unravel(o, outShape);
    const bi = oi.slice(0, lb.length), mi = oi.slice(lb.length, lb.length + lf.length);
    const ni = oi.slice(lb.length + lf.length);
    let s = 0, m = 0;
    for (let k = 0; k < K; k++) {
      const ki = unravel(k, kShape);
      const li = new Array(c.lhs.length), ri = new Array(c.rhs.length);
      lb.forEach((d, j) => (li[d] = bi[j]));
      rb.forEach((d, j) => (ri[d] = bi[j]));
      lc.forEach((d, j) => (li[d] = ki[j]));
      rc.forEach((d, j) => (ri[d] = ki[j]));
      lf.forEach((d, j) => (li[d] = mi[j]));
      rf.forEach((d, j) => (ri[d] = ni[j]));
      const p = a[ravel(li, c.lhs)] * b[ravel(ri, c.rhs)];
      s = dtype === "i32" ? (s + p) | 0 : s + p;
      m += Math.abs(p);
    }
    out.push(s);
    mag.push(m);
  }
  return { out, mag, outShape };
}

const PATHS: [string, () => Promise<WebGpuBackend>][] = [["default", gpu], [
  "shared-memory",
  gpuSharedGemm,
]];

for (const [path, backend] of PATHS) {
  Deno.test({
    name:
      `webgpu dot_general (${path} GEMM) matches JS for batched, transposed and multi-dim contractions`,
    ignore,
    fn: async () => {
      const g = await backend();
      const r = rng(1);
      const cases: DotCase[] = [
        { lhs: [3, 17], rhs: [17, 5], contracting: [[1], [0]], batch: [[], []] }, // plain
        { lhs: [17, 3], rhs: [5, 17], contracting: [[0], [1]], batch: [[], []] }, // both transposed
        { lhs: [1, 1], rhs: [1, 1], contracting: [[1], [0]], batch: [[], []] },
        { lhs: [65, 130], rhs: [130, 67], contracting: [[1], [0]], batch: [[], []] }, // several tiles
        { lhs: [70, 33], rhs: [70, 65], contracting: [[0], [0]], batch: [[], []] }, // lhsᵀ rhs
        { lhs: [3, 17, 5], rhs: [3, 5, 7], contracting: [[2], [1]], batch: [[0], [0]] }, // batched
        { lhs: [5, 3, 17], rhs: [17, 7, 3], contracting: [[2], [0]], batch: [[1], [2]] }, // batch not leading
        { lhs: [2, 3, 4, 5], rhs: [4, 5, 6], contracting: [[2, 3], [0, 1]], batch: [[], []] }, // K = 20
        { lhs: [4, 3, 2], rhs: [2, 3, 7], contracting: [[1, 2], [1, 0]], batch: [[], []] }, // K permuted
        { lhs: [17], rhs: [17], contracting: [[0], [0]], batch: [[], []] }, // inner product
        { lhs: [3], rhs: [5], contracting: [[], []], batch: [[], []] }, // outer product
        { lhs: [2, 3, 4], rhs: [2, 4, 3], contracting: [[], []], batch: [[0, 1], [0, 2]] }, // no K
        { lhs: [3, 0], rhs: [0, 4], contracting: [[1], [0]], batch: [[], []] }, // empty K gives 0
        // dense operands with 256-byte rows: copied into textures instead of packed
        { lhs: [2, 5, 64], rhs: [2, 64, 128], contracting: [[2], [1]], batch: [[0], [0]] },
        { lhs: [64, 5], rhs: [64, 64], contracting: [[0], [0]], batch: [[], []] },
      ];
      for (const c of cases) {
        for (const dtype of ["f32", "i32"] as DType[]) {
          const a = randArray(r, dtype, numel(c.lhs), -3, 3),
            b = randArray(r, dtype, numel(c.rhs), -3, 3);
          const { out, mag, outShape } = refDot(a, b, c, dtype);
          const [y] = await run(
            "dot_general",
            [op(a, c.lhs, dtype), op(b, c.rhs, dtype)],
            {
              contracting: c.contracting,
              batch: c.batch,
            },
            [{ shape: outShape, dtype }],
            g,
          );
          const msg = `dot ${dtype}[${c.lhs}]·[${c.rhs}] ${JSON.stringify(c.contracting)} ${
            JSON.stringify(c.batch)
          }`;
          if (dtype === "i32") assertEquals(Array.from(y), out, msg);
          else {
            for (let k = 0; k < out.length; k++) {
              assertAllClose(y[k], out[k], {
                rtol: 1e-5,
                atol: 1e-6 * mag[k],
                msg: `${msg} [${k}]`,
              });
            }
          }
        }
      }
    },
  });
}

Deno.test({
  name: "webgpu dot_general multiplies 257 x 129 by 129 x 255 exactly enough",
  ignore,
  fn: async () => {
    const r = rng(2);
    const c: DotCase = {
      lhs: [257, 129],
      rhs: [129, 255],
      contracting: [[1], [0]],
      batch: [[], []],
    };
    const a = randArray(r, "f32", numel(c.lhs), -1, 1),
      b = randArray(r, "f32", numel(c.rhs), -1, 1);
    const { out, outShape } = refDot(a, b, c, "f32");
    const [y] = await run(
      "dot_general",
      [op(a, c.lhs, "f32"), op(b, c.rhs, "f32")],
      c as unknown as Record<string, unknown>,
      [{
        shape: outShape,
        dtype: "f32",
      }],
    );
    assertAllClose(y, out, { rtol: 1e-4, atol: 1e-4 });
  },
});

interface ConvCase {
  lhs: number[];
  rhs: number[];
  strides: number[];
  padding: [number, number][];
  lhsDil: number[];
  rhsDil: number[];
  fgc: number;
  bgc: number;
}

function refConv(x: ArrayLike<number>, w: ArrayLike<number>, c: ConvCase) {
  const nd = c.lhs.length - 2;
  const [N, C] = c.lhs, [O, Cg] = c.rhs;
  const sp = c.lhs.slice(2).map((n, d) => {
    const din = (n - 1) * c.lhsDil[d] + 1, dk = (c.rhs[d + 2] - 1) * c.rhsDil[d] + 1;
    return Math.floor((din + c.padding[d][0] + c.padding[d][1] - dk) / c.strides[d]) + 1;
  });
  const Nout = N / c.bgc;
  const outShape = [Nout, O, ...sp];
  const G = c.fgc * c.bgc, Og = O / G;
  const kShape = c.rhs.slice(2);
  const out: number[] = [];
  for (let o = 0; o < numel(outShape); o++) {
    const [n, f, ...pos] = unravel(o, outShape);
    const g = Math.floor(f / Og);
    let s = 0;
    for (let ci = 0; ci < Cg; ci++) {
      for (let kk = 0; kk < numel(kShape); kk++) {
        const kp = unravel(kk, kShape);
        const ip: number[] = [];
        let ok = true;
        for (let d = 0; d < nd; d++) {
          const q = pos[d] * c.strides[d] + kp[d] * c.rhsDil[d] - c.padding[d][0];
          if (q < 0 || q % c.lhsDil[d] !== 0 || q / c.lhsDil[d] >= c.lhs[d + 2]) ok = false;
          ip.push(q / c.lhsDil[d]);
        }
        if (!ok) continue;
        const nb = c.bgc > 1 ? n + g * Nout : n, ch = c.fgc > 1 ? ci + g * Cg : ci;
        s += x[ravel([nb, ch, ...ip], c.lhs)] * w[ravel([f, ci, ...kp], c.rhs)];
      }
    }
    out.push(s);
  }
  void C;
  return { out, outShape };
}

for (const [path, backend] of PATHS) {
  Deno.test({
    name:
      `webgpu conv_general_dilated (${path} GEMM) matches JS in 1-D, 2-D and 3-D with groups and dilations`,
    ignore,
    fn: async () => {
      const g = await backend();
      const r = rng(3);
      const one = (n: number) => new Array(n).fill(1);
      const cases: ConvCase[] = [
        {
          lhs: [2, 3, 17],
          rhs: [5, 3, 3],
          strides: [1],
          padding: [[0, 0]],
          lhsDil: [1],
          rhsDil: [1],
          fgc: 1,
          bgc: 1,
        },
        {
          lhs: [1, 2, 17],
          rhs: [3, 2, 4],
          strides: [3],
          padding: [[2, 1]],
          lhsDil: [1],
          rhsDil: [2],
          fgc: 1,
          bgc: 1,
        },
        {
          lhs: [2, 3, 9, 7],
          rhs: [4, 3, 3, 3],
          strides: [1, 1],
          padding: [[1, 1], [1, 1]],
          lhsDil: [1, 1],
          rhsDil: [1, 1],
          fgc: 1,
          bgc: 1,
        },
        {
          lhs: [1, 4, 8, 9],
          rhs: [6, 2, 3, 2],
          strides: [2, 1],
          padding: [[0, 1], [1, 0]],
          lhsDil: [1, 1],
          rhsDil: [1, 2],
          fgc: 2,
          bgc: 1,
        },
        {
          lhs: [2, 3, 5, 4],
          rhs: [2, 3, 3, 3],
          strides: [1, 1],
          padding: [[2, 2], [1, 2]],
          lhsDil: [2, 2],
          rhsDil: [1, 1],
          fgc: 1,
          bgc: 1,
        }, // transposed conv
        {
          lhs: [2, 6, 7, 7],
          rhs: [6, 1, 3, 3],
          strides: [1, 1],
          padding: [[1, 1], [1, 1]],
          lhsDil: [1, 1],
          rhsDil: [1, 1],
          fgc: 6,
          bgc: 1,
        }, // depthwise
        {
          lhs: [4, 3, 6, 5],
          rhs: [6, 3, 2, 2],
          strides: [1, 1],
          padding: [[0, 0], [0, 0]],
          lhsDil: [1, 1],
          rhsDil: [1, 1],
          fgc: 1,
          bgc: 2,
        }, // batch groups
        {
          lhs: [1, 2, 5, 4, 6],
          rhs: [3, 2, 2, 3, 2],
          strides: [1, 2, 1],
          padding: [[1, 0], [0, 1], [1, 1]],
          lhsDil: one(3),
          rhsDil: [1, 1, 2],
          fgc: 1,
          bgc: 1,
        },
        {
          lhs: [2, 3, 5],
          rhs: [2, 3, 3],
          strides: [1],
          padding: [[-1, 1]],
          lhsDil: [1],
          rhsDil: [1],
          fgc: 1,
          bgc: 1,
        }, // negative padding
        {
          lhs: [2, 16, 9, 9],
          rhs: [70, 16, 3, 3],
          strides: [1, 1],
          padding: [[1, 1], [1, 1]],
          lhsDil: [1, 1],
          rhsDil: [1, 1],
          fgc: 1,
          bgc: 1,
        }, // several tiles
      ];
      for (const c of cases) {
        const x = randArray(r, "f32", numel(c.lhs), -1, 1),
          w = randArray(r, "f32", numel(c.rhs), -1, 1);
        const { out, outShape } = refConv(x, w, c);
        const [y] = await run(
          "conv_general_dilated",
          [op(x, c.lhs, "f32"), op(w, c.rhs, "f32")],
          {
            windowStrides: c.strides,
            padding: c.padding,
            lhsDilation: c.lhsDil,
            rhsDilation: c.rhsDil,
            featureGroupCount: c.fgc,
            batchGroupCount: c.bgc,
          },
          [{ shape: outShape, dtype: "f32" }],
          g,
        );
        assertAllClose(y, out, { rtol: 1e-5, atol: 1e-5, msg: `conv [${c.lhs}] * [${c.rhs}]` });
      }
    },
  });
}

Deno.test({
  name: "webgpu texture GEMM spills rows past the texture height into further layers",
  ignore,
  fn: async () => {
    const g = await gpu();
    const r = rng(9);
    const c: DotCase = {
      lhs: [2, 37, 45],
      rhs: [2, 45, 13],
      contracting: [[2], [1]],
      batch: [[0], [0]],
    };
    const a = randArray(r, "f32", numel(c.lhs)), b = randArray(r, "f32", numel(c.rhs));
    const { out, outShape } = refDot(a, b, c, "f32");
    // A 16-texel texture limit makes A (37 rows) and B (48 rows) span 3 layers per batch entry.
    const plan = dotGeneralPlan("f32", c.lhs, c.rhs, c, {
      textures: true,
      maxTextureDimension2D: 16,
      maxTextureArrayLayers: 64,
    });
    assertEquals(plan.textures?.map((t) => t.layers), [6, 6]);
    const aval = (shape: number[]) => ({ shape, dtype: "f32" as DType });
    const ha = g.upload(a, aval(c.lhs)) as { buffer: GPUBuffer };
    const hb = g.upload(b, aval(c.rhs)) as { buffer: GPUBuffer };
    const o = g.runtime.storage.acquire(numel(outShape) * 4);
    g.runtime.run(plan, [ha.buffer, hb.buffer], [o], "dot_general");
    const y = new Float32Array(await g.runtime.read(o, numel(outShape) * 4));
    assertAllClose(y, out, { rtol: 1e-5, atol: 1e-5 });
    g.runtime.release(o);
  },
});

Deno.test({
  name: "webgpu conv_general_dilated works on i32",
  ignore,
  fn: async () => {
    const r = rng(4);
    const c: ConvCase = {
      lhs: [1, 2, 6, 5],
      rhs: [3, 2, 2, 2],
      strides: [1, 2],
      padding: [[1, 0], [0, 1]],
      lhsDil: [1, 1],
      rhsDil: [1, 1],
      fgc: 1,
      bgc: 1,
    };
    const x = randArray(r, "i32", numel(c.lhs), -5, 5),
      w = randArray(r, "i32", numel(c.rhs), -5, 5);
    const { out, outShape } = refConv(x, w, c);
    const [y] = await run("conv_general_dilated", [op(x, c.lhs, "i32"), op(w, c.rhs, "i32")], {
      windowStrides: c.strides,
      padding: c.padding,
      lhsDilation: c.lhsDil,
      rhsDilation: c.rhsDil,
      featureGroupCount: 1,
      batchGroupCount: 1,
    }, [{ shape: outShape, dtype: "i32" }]);
    assertEquals(Array.from(y), out);
  },
});

Deno.test("texture GEMM tiles grow with the problem (compile time against speed)", () => {
  assertEquals(textureTiles(1024, 1024).TM, 12);
  assertEquals(textureTiles(512, 512, 512).TN, 8);
  // the MLP's batch of 128, and a weight gradient contracting over the batch
  assertEquals(textureTiles(128, 256, 784).TM, 4);
  assertEquals(textureTiles(784, 256, 128).TM, 4);
  assertEquals(textureTiles(5, 1000, 1000).TM, 4);
});

Deno.test("texture GEMM tiles for a convolution's pixels × channels", () => {
  const t = textureTiles(50176, 6, 400);
  assertEquals([t.TM, t.TN], [12, 8]);
  assertEquals(textureTiles(36864, 16, 150).TM, 12);
});
