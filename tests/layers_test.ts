/**
 * Feed-forward, convolution, pooling, normalization, embedding and combinator layers: values
 * against hand computations and plain-JS loops over PyTorch's formulas, parameter gradients
 * against central differences (float64), jit and vmap against eager, and a small CNN whose
 * jitted SGD step lowers the loss.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, init, jit, np, random, type Tensor, tree, vmap } from "../mod.ts";
import { dropout, flatten, identityLayer, linear } from "../layers/linear.ts";
import {
  adaptiveAvgPool2d,
  avgPool1d,
  avgPool2d,
  conv1d,
  conv2d,
  convTranspose2d,
  globalAvgPool,
  maxPool1d,
  maxPool2d,
} from "../layers/conv.ts";
import { batchNorm1d, batchNorm2d, groupNorm, instanceNorm, layerNorm } from "../layers/norm.ts";
import { embedding } from "../layers/embedding.ts";
import { residual, sequential } from "../layers/combinators.ts";
import type { AnyLayer } from "../layers/layer.ts";
import { flat, uniform } from "./helpers.ts";
import { checkDirectionalGrad, fdStep, fdTol } from "./backend.ts";

await init({ backend: Deno.env.get("DENAX_BACKEND") ?? "cpu" });

// ---------------------------------------------------------------- helpers

/** A JS array with a shape, row-major. */
interface Arr {
  d: number[];
  s: number[];
}
const arr = async (t: Tensor): Promise<Arr> => ({ d: await flat(t), s: [...t.shape] });
const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const relu = (x: Tensor) => np.maximum(x, 0);

/** The directional gradient check at this file's step and tolerances. */
const checkGrad = <P>(loss: (p: P) => Tensor, p: P, seed: number) =>
  checkDirectionalGrad(loss, p, seed, { h: fdStep(1e-4), ...fdTol({ rtol: 1e-5, atol: 1e-7 }) });

/** A weighted sum of the output: a scalar loss sensitive to every output element. */
function weightedSum(y: Tensor, seed: number): Tensor {
  return y.mul(uniform(seed, y.shape)).sum();
}

// ---------------------------------------------------------------- plain-JS references

interface ConvRef {
  stride: number[];
  pad: [number, number][];
  dil: number[];
  groups: number;
}

/** PyTorch's conv2d formula as a loop; x [N, C, H, W], w [O, C/groups, KH, KW]. */
function refConv2d(x: Arr, w: Arr, b: number[] | null, o: ConvRef): Arr {
  const [n, c, hh, ww] = x.s, [oc, cg, kh, kw] = w.s;
  const oh = Math.floor((hh + o.pad[0][0] + o.pad[0][1] - o.dil[0] * (kh - 1) - 1) / o.stride[0]) +
    1;
  const ow = Math.floor((ww + o.pad[1][0] + o.pad[1][1] - o.dil[1] * (kw - 1) - 1) / o.stride[1]) +
    1;
  const out: number[] = [];
  for (let ni = 0; ni < n; ni++) {
    for (let k = 0; k < oc; k++) {
      const g = Math.floor(k / (oc / o.groups));
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = b ? b[k] : 0;
          for (let ci = 0; ci < cg; ci++) {
            for (let p = 0; p < kh; p++) {
              for (let q = 0; q < kw; q++) {
                const y = i * o.stride[0] - o.pad[0][0] + p * o.dil[0];
                const xx = j * o.stride[1] - o.pad[1][0] + q * o.dil[1];
                if (y < 0 || y >= hh || xx < 0 || xx >= ww) continue;
                s += x.d[((ni * c + g * cg + ci) * hh + y) * ww + xx] *
                  w.d[((k * cg + ci) * kh + p) * kw + q];
              }
            }
          }
          out.push(s);
        }
      }
    }
  }
  return { d: out, s: [n, oc, oh, ow] };
}

/** PyTorch's conv_transpose2d as a scatter loop; w [C, O/groups, KH, KW]. */
function refConvT2d(
  x: Arr,
  w: Arr,
  b: number[] | null,
  o: { stride: number[]; pad: number[]; outPad: number[]; dil: number[]; groups: number },
): Arr {
  const [n, c, hh, ww] = x.s, [, og, kh, kw] = w.s;
  const oc = og * o.groups, cg = c / o.groups;
  const oh = (hh - 1) * o.stride[0] - 2 * o.pad[0] + o.dil[0] * (kh - 1) + o.outPad[0] + 1;
  const ow = (ww - 1) * o.stride[1] - 2 * o.pad[1] + o.dil[1] * (kw - 1) + o.outPad[1] + 1;
  const out = new Array(n * oc * oh * ow).fill(0);
  for (let ni = 0; ni < n; ni++) {
    for (let k = 0; k < oc; k++) {
      for (let i = 0; i < oh * ow; i++) out[(ni * oc + k) * oh * ow + i] = b ? b[k] : 0;
    }
    for (let ci = 0; ci < c; ci++) {
      const g = Math.floor(ci / cg);
      for (let i = 0; i < hh; i++) {
        for (let j = 0; j < ww; j++) {
          for (let ko = 0; ko < og; ko++) {
            for (let p = 0; p < kh; p++) {
              for (let q = 0; q < kw; q++) {
                const y = i * o.stride[0] - o.pad[0] + p * o.dil[0];
                const xx = j * o.stride[1] - o.pad[1] + q * o.dil[1];
                if (y < 0 || y >= oh || xx < 0 || xx >= ow) continue;
                out[((ni * oc + g * og + ko) * oh + y) * ow + xx] +=
                  x.d[((ni * c + ci) * hh + i) * ww + j] * w.d[((ci * og + ko) * kh + p) * kw + q];
              }
            }
          }
        }
      }
    }
  }
  return { d: out, s: [n, oc, oh, ow] };
}

interface PoolRef {
  k: number[];
  s: number[];
  p: number[];
  d: number[];
  ceil: boolean;
}

/** PyTorch's pooling_output_shape. */
function poolOut(n: number, o: PoolRef, i: number): number {
  const num = n + 2 * o.p[i] - o.d[i] * (o.k[i] - 1) - 1 + (o.ceil ? o.s[i] - 1 : 0);
  let out = Math.floor(num / o.s[i]) + 1;
  if (o.ceil && (out - 1) * o.s[i] >= n + o.p[i]) out--;
  return out;
}

/** PyTorch's max_pool2d / avg_pool2d CPU kernels as loops over x [M, H, W]. */
function refPool2d(x: Arr, o: PoolRef, kind: "max" | "avg", includePad = true): Arr {
  const [hh, ww] = x.s.slice(-2), m = prod(x.s.slice(0, -2));
  const oh = poolOut(hh, o, 0), ow = poolOut(ww, o, 1);
  const out: number[] = [];
  for (let mi = 0; mi < m; mi++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        if (kind === "max") {
          let best = -Infinity;
          for (let p = 0; p < o.k[0]; p++) {
            for (let q = 0; q < o.k[1]; q++) {
              const y = i * o.s[0] - o.p[0] + p * o.d[0], xx = j * o.s[1] - o.p[1] + q * o.d[1];
              if (y >= 0 && y < hh && xx >= 0 && xx < ww) {
                best = Math.max(best, x.d[(mi * hh + y) * ww + xx]);
              }
            }
          }
          out.push(best);
        } else {
          let h0 = i * o.s[0] - o.p[0], w0 = j * o.s[1] - o.p[1];
          let h1 = Math.min(h0 + o.k[0], hh + o.p[0]), w1 = Math.min(w0 + o.k[1], ww + o.p[1]);
          const poolSize = (h1 - h0) * (w1 - w0);
          h0 = Math.max(h0, 0), w0 = Math.max(w0, 0), h1 = Math.min(h1, hh), w1 = Math.min(w1, ww);
          let s = 0;
          for (let y = h0; y < h1; y++) {
            for (let xx = w0; xx < w1; xx++) s += x.d[(mi * hh + y) * ww + xx];
          }
          out.push(s / (includePad ? poolSize : (h1 - h0) * (w1 - w0)));
        }
      }
    }
  }
  return { d: out, s: [...x.s.slice(0, -2), oh, ow] };
}

/** Normalizes groups of `size` consecutive values of `d` (biased variance), in place order. */
function refNormalize(d: number[], size: number, eps = 1e-5): number[] {
  const out: number[] = [];
  for (let i = 0; i < d.length; i += size) {
    const g = d.slice(i, i + size);
    const mu = g.reduce((a, b) => a + b, 0) / size;
    const v = g.reduce((a, b) => a + (b - mu) ** 2, 0) / size;
    out.push(...g.map((z) => (z - mu) / Math.sqrt(v + eps)));
  }
  return out;
}

// ---------------------------------------------------------------- linear, flatten, dropout

Deno.test("linear computes x Wᵀ + b over any leading dimensions", async () => {
  const fc = linear({ inFeatures: 2, outFeatures: 3 });
  const p = { weight: np.array([[1, 2], [3, 4], [5, 6]]), bias: np.array([1, 0, -1]) };
  const y = fc.apply(p, np.array([[1, 1], [0, 2]]));
  assertEquals(await y.toArray(), [[4, 7, 10], [5, 8, 11]]);
  assertEquals(await fc.apply(p, np.array([1, 1])).toArray(), [4, 7, 10]);
  const x3 = uniform(1, [2, 3, 2]);
  const y3 = fc.apply(p, x3);
  assertEquals(y3.shape, [2, 3, 3]);
  assertAllClose(await flat(y3), await flat(fc.apply(p, np.reshape(x3, [6, 2]))), { rtol: 1e-6 });
  const nb = linear({ inFeatures: 2, outFeatures: 3, bias: false });
  assertEquals(Object.keys(nb.init(random.key(0))), ["weight"]);
  assertEquals(await nb.apply({ weight: p.weight }, np.array([1, 1])).toArray(), [3, 7, 11]);
});

Deno.test("linear initializes weight and bias from U(−1/√in, 1/√in) as PyTorch", async () => {
  const fc = linear({ inFeatures: 16, outFeatures: 64 });
  const p = fc.init(random.key(3));
  assertEquals(p.weight.shape, [64, 16]);
  assertEquals(p.bias!.shape, [64]);
  const w = await flat(p.weight), b = await flat(p.bias!);
  assert(w.every((v) => Math.abs(v) <= 0.25) && b.every((v) => Math.abs(v) <= 0.25));
  assert(Math.max(...w) > 0.2 && Math.min(...w) < -0.2, "weights spread over the interval");
  assert(w.slice(0, 64).join() !== b.join(), "weight and bias use different keys");
});

Deno.test("linear names the layer and the expected shape when the input does not fit", () => {
  const fc = linear({ inFeatures: 4, outFeatures: 2 });
  const p = fc.init(random.key(0));
  assertThrows(
    () => fc.apply(p, np.ones([3, 5])),
    TypeError,
    "Linear(4 → 2) expects input [N, 4], got f32[3,5]",
  );
  assertThrows(() => fc.apply(p, np.ones([])), TypeError, "expects input [..., 4], got f32[]");
});

Deno.test("flatten merges dimensions startDim..endDim as PyTorch's nn.Flatten", () => {
  const x = np.ones([2, 3, 4, 5]);
  assertEquals(flatten().apply({}, x).shape, [2, 60]);
  assertEquals(flatten({ startDim: -3 }).apply({}, np.ones([3, 4, 5])).shape, [60]);
  assertEquals(flatten({ startDim: 1, endDim: 2 }).apply({}, x).shape, [2, 12, 5]);
  assertEquals(flatten({ startDim: 0 }).apply({}, x).shape, [120]);
  assertThrows(
    () => flatten({ startDim: 3, endDim: 1 }).apply({}, x),
    RangeError,
    "cannot flatten",
  );
  assertEquals(identityLayer().apply({}, x), x);
});

Deno.test("dropout zeroes with probability rate and scales survivors by 1/(1 − rate)", async () => {
  const drop = dropout({ rate: 0.25 });
  const x = np.ones([4000]);
  const y = await flat(drop.apply({}, x, { train: true, key: random.key(7) }));
  assert(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
  const zeros = y.filter((v) => v === 0).length / y.length;
  assert(Math.abs(zeros - 0.25) < 0.03, `dropped fraction ${zeros}`);
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  assert(Math.abs(mean - 1) < 0.05, `mean ${mean}`);
  // same key, same mask; eval is the identity; rate 0 and 1
  assertEquals(await flat(drop.apply({}, x, { train: true, key: random.key(7) })), y);
  assertEquals(drop.apply({}, x), x);
  assertEquals(dropout({ rate: 0 }).apply({}, x, { train: true, key: random.key(1) }), x);
  assertEquals(
    await dropout({ rate: 1 }).apply({}, np.ones([3]), { train: true, key: random.key(1) })
      .toArray(),
    [0, 0, 0],
  );
});

Deno.test("dropout in training without a key throws a helpful error", () => {
  assertThrows(
    () => dropout().apply({}, np.ones([3]), { train: true }),
    TypeError,
    "needs a PRNG key",
  );
  assertThrows(() => dropout({ rate: 1.5 }), RangeError, "rate must be in [0, 1]");
});

// ---------------------------------------------------------------- convolution

const convCases: {
  name: string;
  cfg: Parameters<typeof conv2d>[0];
  x: number[];
  pad: [number, number][];
}[] = [
  {
    name: "stride 2 and padding 1",
    cfg: { inChannels: 3, outChannels: 4, kernelSize: 3, stride: 2, padding: 1 },
    x: [2, 3, 7, 6],
    pad: [[1, 1], [1, 1]],
  },
  {
    name: "groups 2, dilation 2 and padding pairs",
    cfg: {
      inChannels: 4,
      outChannels: 6,
      kernelSize: [2, 3],
      padding: [1, 2],
      dilation: [2, 1],
      groups: 2,
    },
    x: [1, 4, 6, 5],
    pad: [[1, 1], [2, 2]],
  },
  {
    name: "'same' padding with an even kernel (odd padding at the end)",
    cfg: { inChannels: 2, outChannels: 2, kernelSize: [4, 3], padding: "same", bias: false },
    x: [2, 2, 5, 5],
    pad: [[1, 2], [1, 1]],
  },
  {
    name: "explicit [lo, hi] pairs and depthwise groups",
    cfg: {
      inChannels: 3,
      outChannels: 3,
      kernelSize: 2,
      stride: [1, 2],
      padding: [[0, 1], [2, 0]],
      groups: 3,
    },
    x: [2, 3, 4, 5],
    pad: [[0, 1], [2, 0]],
  },
];

for (const [i, c] of convCases.entries()) {
  Deno.test(`conv2d matches PyTorch's formula with ${c.name}`, async () => {
    const conv = conv2d(c.cfg);
    const p = conv.init(random.key(10 + i));
    const x = uniform(20 + i, c.x);
    const y = conv.apply(p, x);
    const k = typeof c.cfg.kernelSize === "number"
      ? [c.cfg.kernelSize, c.cfg.kernelSize]
      : c.cfg.kernelSize;
    assertEquals(p.weight.shape, [c.cfg.outChannels, c.cfg.inChannels / (c.cfg.groups ?? 1), ...k]);
    const norm = (v: number | readonly number[] | undefined) =>
      typeof v === "number" ? [v, v] : v ? [...v] : [1, 1];
    const ref = refConv2d(await arr(x), await arr(p.weight), p.bias ? await flat(p.bias) : null, {
      stride: norm(c.cfg.stride),
      pad: c.pad,
      dil: norm(c.cfg.dilation),
      groups: c.cfg.groups ?? 1,
    });
    assertEquals(y.shape, ref.s);
    assertAllClose(await flat(y), ref.d, { rtol: 1e-5, atol: 1e-6 });
  });
}

Deno.test("conv2d 'same' with stride 2 gives ceil(in / stride) outputs (JAX's SAME)", () => {
  const conv = conv2d({ inChannels: 1, outChannels: 1, kernelSize: 3, stride: 2, padding: "same" });
  assertEquals(conv.apply(conv.init(random.key(0)), np.ones([1, 1, 7, 8])).shape, [1, 1, 4, 4]);
});

Deno.test("conv2d takes unbatched and multi-batch inputs and initializes as PyTorch", async () => {
  const conv = conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, groups: 1 });
  const p = conv.init(random.key(1));
  const x = uniform(2, [2, 2, 2, 5, 5]);
  const y = conv.apply(p, x);
  assertEquals(y.shape, [2, 2, 3, 3, 3]);
  const one = conv.apply(p, np.reshape(np.slice(x, [1, 0, 0, 0, 0], [2, 1, 2, 5, 5]), [2, 5, 5]));
  assertAllClose(await flat(one), (await flat(y)).slice(54, 81), { rtol: 1e-5, atol: 1e-6 });
  const bound = 1 / Math.sqrt(2 * 9);
  assert((await flat(p.weight)).every((v) => Math.abs(v) <= bound));
  assertThrows(
    () => conv.apply(p, np.ones([1, 3, 5, 5])),
    TypeError,
    "Conv2d(2 → 3, kernel [3,3]) expects input [N, 2, H, W], got f32[1,3,5,5]",
  );
  assertThrows(
    () => conv2d({ inChannels: 3, outChannels: 4, kernelSize: 3, groups: 2 }),
    RangeError,
    "groups 2 must divide",
  );
});

Deno.test("conv1d matches PyTorch's formula with stride, padding and dilation", async () => {
  const conv = conv1d({
    inChannels: 2,
    outChannels: 4,
    kernelSize: 3,
    stride: 2,
    padding: 2,
    dilation: 2,
    groups: 2,
  });
  const p = conv.init(random.key(5));
  const x = uniform(6, [3, 2, 9]);
  const y = conv.apply(p, x);
  const ref = refConv2d(
    { d: await flat(x), s: [3, 2, 1, 9] },
    { d: await flat(p.weight), s: [4, 1, 1, 3] },
    await flat(p.bias!),
    { stride: [1, 2], pad: [[0, 0], [2, 2]], dil: [1, 2], groups: 2 },
  );
  assertEquals(y.shape, [3, 4, 5]);
  assertAllClose(await flat(y), ref.d, { rtol: 1e-5, atol: 1e-6 });
});

Deno.test("convTranspose2d matches PyTorch's scatter formula with outputPadding and groups", async () => {
  for (
    const o of [
      { stride: [2, 2], pad: [1, 1], outPad: [1, 1], dil: [1, 1], groups: 1 },
      { stride: [2, 3], pad: [0, 2], outPad: [1, 0], dil: [2, 1], groups: 2 },
    ]
  ) {
    const layer = convTranspose2d({
      inChannels: 4,
      outChannels: 6,
      kernelSize: 3,
      stride: o.stride,
      padding: o.pad,
      outputPadding: o.outPad,
      dilation: o.dil,
      groups: o.groups,
    });
    const p = layer.init(random.key(8));
    assertEquals(p.weight.shape, [4, 6 / o.groups, 3, 3]);
    const x = uniform(9, [2, 4, 3, 4]);
    const y = layer.apply(p, x);
    const ref = refConvT2d(await arr(x), await arr(p.weight), await flat(p.bias!), o);
    assertEquals(y.shape, ref.s);
    assertAllClose(await flat(y), ref.d, { rtol: 1e-5, atol: 1e-6 });
  }
  assertThrows(
    () =>
      convTranspose2d({
        inChannels: 1,
        outChannels: 1,
        kernelSize: 3,
        stride: 2,
        outputPadding: 2,
      }),
    RangeError,
    "outputPadding",
  );
});

// ---------------------------------------------------------------- pooling

Deno.test("maxPool2d matches PyTorch's kernel with padding, dilation and ceilMode", async () => {
  const x = uniform(30, [2, 3, 7, 8]);
  const xa = await arr(x);
  for (
    const o of [
      { k: [2, 2], s: [2, 2], p: [0, 0], d: [1, 1], ceil: false },
      { k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], ceil: true },
      { k: [3, 2], s: [2, 1], p: [1, 0], d: [2, 2], ceil: false },
      { k: [2, 3], s: [3, 2], p: [0, 1], d: [1, 1], ceil: true },
    ]
  ) {
    const pool = maxPool2d({
      kernelSize: o.k,
      stride: o.s,
      padding: o.p,
      dilation: o.d,
      ceilMode: o.ceil,
    });
    const y = pool.apply({}, x);
    const ref = refPool2d(xa, o, "max");
    assertEquals(y.shape, ref.s, JSON.stringify(o));
    assertAllClose(await flat(y), ref.d);
  }
  assertThrows(() => maxPool2d({ kernelSize: 2, padding: 2 }), RangeError, "at most half");
});

Deno.test("avgPool2d divides as PyTorch: countIncludePad, ceilMode edges and divisorOverride", async () => {
  const x = uniform(31, [2, 6, 7]);
  const xa = await arr(x);
  for (
    const o of [
      { k: [2, 2], s: [2, 2], p: [0, 0], d: [1, 1], ceil: false },
      { k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], ceil: true },
      { k: [3, 2], s: [2, 3], p: [1, 1], d: [1, 1], ceil: true },
    ]
  ) {
    for (const includePad of [true, false]) {
      const pool = avgPool2d({
        kernelSize: o.k,
        stride: o.s,
        padding: o.p,
        ceilMode: o.ceil,
        countIncludePad: includePad,
      });
      const y = pool.apply({}, x);
      const ref = refPool2d(xa, o, "avg", includePad);
      assertEquals(y.shape, ref.s);
      assertAllClose(await flat(y), ref.d, { rtol: 1e-5, atol: 1e-6 });
    }
  }
  // hand values: PyTorch's avg_pool2d(ones(6, 6), 3, 2, 1, ceil_mode=True) has 4/9 in the corner
  const ones = avgPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true }).apply(
    {},
    np.ones([1, 6, 6]),
  );
  assertAllClose((await ones.toArray() as number[][][])[0][0], [4 / 9, 2 / 3, 2 / 3, 1 / 3], {
    rtol: 1e-6,
  });
  const over = avgPool2d({ kernelSize: 2, divisorOverride: 1 }).apply({}, np.ones([1, 2, 2]));
  assertEquals(await over.toArray(), [[[4]]]);
});

Deno.test("maxPool1d and avgPool1d pool the last axis", async () => {
  const x = np.array([[1, 5, 2, 3, 9]]);
  assertEquals(await maxPool1d({ kernelSize: 2 }).apply({}, x).toArray(), [[5, 3]]);
  assertEquals(await maxPool1d({ kernelSize: 2, ceilMode: true }).apply({}, x).toArray(), [[
    5,
    3,
    9,
  ]]);
  assertEquals(await maxPool1d({ kernelSize: 3, stride: 1, padding: 1 }).apply({}, x).toArray(), [[
    5,
    5,
    5,
    9,
    9,
  ]]);
  const y = np.array([[1, 2, 3, 4]]);
  assertEquals(await avgPool1d({ kernelSize: 2 }).apply({}, y).toArray(), [[1.5, 3.5]]);
  assertEquals(await avgPool1d({ kernelSize: 2, padding: 1 }).apply({}, y).toArray(), [[
    0.5,
    2.5,
    2,
  ]]);
  assertEquals(
    await avgPool1d({ kernelSize: 2, padding: 1, countIncludePad: false }).apply({}, y).toArray(),
    [[1, 2.5, 4]],
  );
});

Deno.test("adaptiveAvgPool2d averages PyTorch's floor/ceil bins, and globalAvgPool the whole map", async () => {
  const x = uniform(32, [2, 3, 7, 5]);
  const xa = await arr(x);
  for (const [oh, ow] of [[3, 2], [7, 5], [1, 1], [4, 5]]) {
    const y = adaptiveAvgPool2d({ outputSize: [oh, ow] }).apply({}, x);
    const ref: number[] = [];
    for (let m = 0; m < 6; m++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const h0 = Math.floor(i * 7 / oh), h1 = Math.ceil((i + 1) * 7 / oh);
          const w0 = Math.floor(j * 5 / ow), w1 = Math.ceil((j + 1) * 5 / ow);
          let s = 0;
          for (let a = h0; a < h1; a++) {
            for (let b = w0; b < w1; b++) s += xa.d[(m * 7 + a) * 5 + b];
          }
          ref.push(s / ((h1 - h0) * (w1 - w0)));
        }
      }
    }
    assertEquals(y.shape, [2, 3, oh, ow]);
    assertAllClose(await flat(y), ref, { rtol: 1e-5, atol: 1e-6 });
  }
  assertEquals(adaptiveAvgPool2d({ outputSize: [null, 2] }).apply({}, x).shape, [2, 3, 7, 2]);
  const g = globalAvgPool().apply({}, x);
  assertEquals(g.shape, [2, 3]);
  const a1 = adaptiveAvgPool2d({ outputSize: 1 }).apply({}, x);
  assertAllClose(await flat(g), await flat(a1), { rtol: 1e-5, atol: 1e-6 });
  assertEquals(globalAvgPool({ keepdims: true }).apply({}, x).shape, [2, 3, 1, 1]);
});

// ---------------------------------------------------------------- normalization

Deno.test("batchNorm1d trains with batch statistics and tracks the unbiased running variance", async () => {
  const bn = batchNorm1d({ numFeatures: 2 });
  const p = { weight: np.array([2, 3]), bias: np.array([0.5, -1]) };
  const x = np.array([[1, 2], [3, 6], [5, 4], [7, 8]]);
  // channel 0: mean 4, biased var 5, unbiased 20/3; channel 1: mean 5, same variances
  const s0 = bn.initState();
  const { y, state } = bn.apply(p, x, { state: s0, train: true });
  const xs = [[1, 2], [3, 6], [5, 4], [7, 8]];
  const hand = xs.map((
    [a, b],
  ) => [2 * (a - 4) / Math.sqrt(5 + 1e-5) + 0.5, 3 * (b - 5) / Math.sqrt(5 + 1e-5) - 1]);
  assertAllClose(await y.toArray(), hand, { rtol: 1e-5 });
  assertAllClose(await state.running_mean!.toArray(), [0.4, 0.5], { rtol: 1e-6 });
  const rv = 0.9 + 0.1 * 20 / 3;
  assertAllClose(await state.running_var!.toArray(), [rv, rv], { rtol: 1e-6 });
  assertEquals(await state.num_batches_tracked!.item(), 1);
  assertEquals(state.num_batches_tracked!.dtype, "i32");
  // a second step folds in again with momentum 0.1
  const r2 = bn.apply(p, x, { state, train: true });
  assertAllClose(await r2.state.running_mean!.toArray(), [0.9 * 0.4 + 0.4, 0.9 * 0.5 + 0.5], {
    rtol: 1e-6,
  });
  assertAllClose(await r2.state.running_var!.toArray(), [0.9 * rv + 2 / 3, 0.9 * rv + 2 / 3], {
    rtol: 1e-6,
  });
  assertEquals(await r2.state.num_batches_tracked!.item(), 2);
  // evaluation uses the running statistics and leaves the state alone
  const ev = bn.apply(p, x, { state });
  const evHand = xs.map((
    [a, b],
  ) => [2 * (a - 0.4) / Math.sqrt(rv + 1e-5) + 0.5, 3 * (b - 0.5) / Math.sqrt(rv + 1e-5) - 1]);
  assertAllClose(await ev.y.toArray(), evHand, { rtol: 1e-5 });
  assertEquals(ev.state, state);
  // [N, C, L] reduces over N and L
  const x3 = uniform(40, [3, 2, 4]);
  const y3 = bn.apply({}, x3, { state: s0, train: true }).y;
  const d = await flat(x3);
  const per = [0, 1].map((c) =>
    [0, 1, 2].flatMap((n) => d.slice((n * 2 + c) * 4, (n * 2 + c) * 4 + 4))
  );
  const normed = per.map((v) => refNormalize(v, 12));
  const ref = [0, 1, 2].flatMap((n) => [0, 1].flatMap((c) => normed[c].slice(n * 4, n * 4 + 4)));
  assertAllClose(await flat(y3), ref, { rtol: 1e-5, atol: 1e-6 });
});

Deno.test("batchNorm with momentum null keeps the cumulative average, as PyTorch", async () => {
  const bn = batchNorm1d({ numFeatures: 1, momentum: null });
  const p = bn.init(random.key(0));
  const r1 = bn.apply(p, np.array([[1], [3]]), { state: bn.initState(), train: true });
  assertAllClose(await r1.state.running_mean!.toArray(), [2]);
  assertAllClose(await r1.state.running_var!.toArray(), [2]);
  const r2 = bn.apply(p, np.array([[5], [9]]), { state: r1.state, train: true });
  assertAllClose(await r2.state.running_mean!.toArray(), [(2 + 7) / 2]);
  assertAllClose(await r2.state.running_var!.toArray(), [(2 + 8) / 2]);
});

Deno.test("batchNorm2d normalizes per channel over N, H, W and checks its inputs", async () => {
  const bn = batchNorm2d({ numFeatures: 3 });
  const p = { weight: np.array([1, 2, 0.5]), bias: np.array([0, 1, -1]) };
  const x = uniform(41, [2, 3, 2, 3]);
  const { y, state } = bn.apply(p, x, { state: bn.initState(), train: true });
  const d = await flat(x);
  const ref = new Array(36).fill(0);
  for (let c = 0; c < 3; c++) {
    const idx = [0, 1].flatMap((n) => [...Array(6).keys()].map((k) => (n * 3 + c) * 6 + k));
    const v = refNormalize(idx.map((i) => d[i]), 12);
    idx.forEach((i, k) => (ref[i] = v[k] * [1, 2, 0.5][c] + [0, 1, -1][c]));
  }
  assertAllClose(await flat(y), ref, { rtol: 1e-5, atol: 1e-6 });
  assertEquals(state.running_mean!.shape, [3]);
  assertThrows(() => bn.apply(p, x, { train: true }), TypeError, "needs its state");
  assertThrows(
    () => bn.apply(p, np.ones([2, 4, 2, 2]), { state }),
    TypeError,
    "BatchNorm2d(3) expects input [N, 3, H, W]",
  );
  assertThrows(
    () =>
      batchNorm1d({ numFeatures: 2 }).apply({}, np.ones([1, 2]), {
        state: batchNorm1d({ numFeatures: 2 }).initState(),
        train: true,
      }),
    TypeError,
    "more than 1 value per channel",
  );
  // without running statistics the state is empty and batch statistics are always used
  const bare = batchNorm2d({ numFeatures: 3, trackRunningStats: false, affine: false });
  assertEquals(bare.initState(), {});
  assertEquals(bare.init(random.key(0)), {});
  const ev = bare.apply({}, x, { state: {} });
  assertAllClose(
    await flat(ev.y),
    await flat(bn.apply({}, x, { state: bn.initState(), train: true }).y),
    { rtol: 1e-6 },
  );
});

Deno.test("layerNorm normalizes the trailing normalizedShape with elementwise affine", async () => {
  const ln = layerNorm({ normalizedShape: [2, 3] });
  const p = { weight: uniform(42, [2, 3]), bias: uniform(43, [2, 3]) };
  const x = uniform(44, [4, 2, 3]);
  const y = ln.apply(p, x);
  const w = await flat(p.weight), b = await flat(p.bias);
  const ref = refNormalize(await flat(x), 6).map((v, i) => v * w[i % 6] + b[i % 6]);
  assertAllClose(await flat(y), ref, { rtol: 1e-5, atol: 1e-6 });
  const simple = layerNorm({ normalizedShape: 2 });
  assertAllClose(
    await simple.apply(simple.init(random.key(0)), np.array([[1, 3], [0, 10]])).toArray(),
    [[-1, 1], [-1, 1]],
    {
      rtol: 1e-5,
    },
  );
  assertEquals(Object.keys(layerNorm({ normalizedShape: 2, bias: false }).init(random.key(0))), [
    "weight",
  ]);
  assertThrows(
    () => ln.apply(p, np.ones([4, 3, 2])),
    TypeError,
    "LayerNorm([2,3]) expects input [N, 2, 3]",
  );
});

Deno.test("groupNorm normalizes each group of channels and spatial positions", async () => {
  const gn = groupNorm({ numGroups: 2, numChannels: 6 });
  const p = { weight: uniform(45, [6]), bias: uniform(46, [6]) };
  const x = uniform(47, [2, 6, 2, 2]);
  const y = gn.apply(p, x);
  const w = await flat(p.weight), b = await flat(p.bias);
  const ref = refNormalize(await flat(x), 12).map((v, i) =>
    v * w[Math.floor(i / 4) % 6] + b[Math.floor(i / 4) % 6]
  );
  assertAllClose(await flat(y), ref, { rtol: 1e-5, atol: 1e-6 });
  assertThrows(() => groupNorm({ numGroups: 4, numChannels: 6 }), RangeError, "must divide");
  assertThrows(
    () => gn.apply(p, np.ones([2, 4, 3])),
    TypeError,
    "GroupNorm(2, 6) expects input [N, 6, d0]",
  );
});

Deno.test("instanceNorm normalizes each channel of each example over its spatial dims", async () => {
  const inorm = instanceNorm({ numFeatures: 3 });
  assertEquals(inorm.init(random.key(0)), {});
  const x = uniform(48, [2, 3, 2, 3]);
  assertAllClose(await flat(inorm.apply({}, x)), refNormalize(await flat(x), 6), {
    rtol: 1e-5,
    atol: 1e-6,
  });
  const one = instanceNorm({ numFeatures: 2, spatialDims: 1, affine: true });
  const p = { weight: np.array([1, 2]), bias: np.array([0, 1]) };
  assertAllClose(await one.apply(p, np.array([[1, 3], [0, 4]])).toArray(), [[-1, 1], [-1, 3]], {
    rtol: 1e-5,
  });
});

// ---------------------------------------------------------------- embedding

Deno.test("embedding looks rows up; the padding row starts at zero and gets no gradient", async () => {
  const emb = embedding({ numEmbeddings: 5, embeddingDim: 3, paddingIdx: 1 });
  const p = emb.init(random.key(50));
  const w = await p.weight.toArray() as number[][];
  assertEquals(w[1], [0, 0, 0]);
  assert(w[0].some((v) => v !== 0));
  const idx = np.array([[2, 1], [4, 2]], { dtype: "i32" });
  const y = emb.apply(p, idx);
  assertEquals(y.shape, [2, 2, 3]);
  assertEquals(await y.toArray(), [[w[2], w[1]], [w[4], w[2]]]);
  // a padding row that was changed still reads its value, but never learns
  const p2 = { weight: p.weight.add(1) };
  const g = grad((q: typeof p) => weightedSum(emb.apply(q, idx), 51))(p2);
  const gw = await g.weight.toArray() as number[][];
  assertEquals(gw[1], [0, 0, 0]);
  assertEquals(gw[0], [0, 0, 0]);
  const u = await flat(uniform(51, [2, 2, 3]));
  assertAllClose(gw[2], [0, 1, 2].map((k) => u[k] + u[9 + k]), { rtol: 1e-6 });
  assertEquals((await emb.apply(p2, np.array([1], { dtype: "i32" })).toArray() as number[][])[0], [
    1,
    1,
    1,
  ]);
  assertThrows(
    () => embedding({ numEmbeddings: 3, embeddingDim: 2, paddingIdx: 3 }),
    RangeError,
    "paddingIdx",
  );
  const negPad = embedding({ numEmbeddings: 3, embeddingDim: 2, paddingIdx: -1 }).init(
    random.key(0),
  );
  assertEquals((await negPad.weight.toArray() as number[][])[2], [0, 0]);
});

// ---------------------------------------------------------------- combinators

Deno.test("sequential chains layers with array params whose paths read [i].weight", async () => {
  const net = sequential([
    linear({ inFeatures: 3, outFeatures: 4 }),
    relu,
    dropout({ rate: 0.5 }),
    linear({ inFeatures: 4, outFeatures: 2 }),
  ]);
  const p = net.init(random.key(60));
  const paths = tree.flattenWithPath(p)[0].map(([k]) => String(k));
  assertEquals(paths, ["[0].bias", "[0].weight", "[3].bias", "[3].weight"]);
  assertEquals(net.stateful, undefined);
  const x = uniform(61, [5, 3]);
  const manual = linear({ inFeatures: 4, outFeatures: 2 }).apply(
    p[3],
    relu(linear({ inFeatures: 3, outFeatures: 4 }).apply(p[0], x)),
  );
  assertAllClose(await flat(net.apply(p, x)), await flat(manual), { rtol: 1e-6 });
  // a key reaches dropout in training; different keys give different masks
  const a = await flat(net.apply(p, x, { train: true, key: random.key(1) }));
  const b = await flat(net.apply(p, x, { train: true, key: random.key(2) }));
  assertEquals(await flat(net.apply(p, x, { train: true, key: random.key(1) })), a);
  assert(a.join() !== b.join());
  assertThrows(() => net.apply(p, x, { train: true }), TypeError, "needs a PRNG key");
});

Deno.test("sequential is stateful when a child is, and threads each child's state", async () => {
  const net = sequential([
    linear({ inFeatures: 2, outFeatures: 3 }),
    batchNorm1d({ numFeatures: 3 }),
    relu,
  ]);
  assert(net.stateful);
  const p = net.init(random.key(62));
  const s0 = net.initState();
  assertEquals(s0[0], null);
  assertEquals(s0[2], null);
  const x = uniform(63, [6, 2]);
  const { y, state } = net.apply(p, x, { state: s0, train: true });
  assertEquals(y.shape, [6, 3]);
  assertEquals(await state[1].num_batches_tracked!.item(), 1);
  const h = linear({ inFeatures: 2, outFeatures: 3 }).apply(p[0], x);
  assertAllClose(
    await flat(state[1].running_mean!),
    (await flat(h.mean({ axis: 0 }))).map((v) => 0.1 * v),
    { rtol: 1e-5 },
  );
  // evaluation returns the state unchanged
  assertEquals(net.apply(p, x, { state }).state[1], state[1]);
});

Deno.test("residual adds the inner branch to the shortcut, identity by default", async () => {
  const inner = linear({ inFeatures: 3, outFeatures: 3 });
  const block = residual(inner);
  const p = block.init(random.key(64));
  assertEquals(p.shortcut, {});
  const x = uniform(65, [2, 3]);
  assertAllClose(await flat(block.apply(p, x)), await flat(inner.apply(p.inner, x).add(x)), {
    rtol: 1e-6,
  });
  const proj = residual(
    linear({ inFeatures: 3, outFeatures: 2 }),
    linear({ inFeatures: 3, outFeatures: 2, bias: false }),
  );
  const pp = proj.init(random.key(66));
  assertEquals(pp.shortcut.weight.shape, [2, 3]);
  assertEquals(proj.apply(pp, x).shape, [2, 2]);
  const bad = residual(linear({ inFeatures: 3, outFeatures: 2 }));
  assertThrows(
    () => bad.apply(bad.init(random.key(0)), x),
    TypeError,
    "the branches' outputs differ",
  );
  const withBn = residual(
    sequential([
      conv2d({ inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1 }),
      batchNorm2d({ numFeatures: 2 }),
    ]),
  );
  assert(withBn.stateful);
  const r = withBn.apply(withBn.init(random.key(0)), uniform(67, [2, 2, 4, 4]), {
    state: withBn.initState(),
    train: true,
  });
  assertEquals(r.state.shortcut, null);
  assertEquals(await r.state.inner[1].num_batches_tracked!.item(), 1);
});

// ---------------------------------------------------------------- gradients

interface GradCase {
  name: string;
  layer: AnyLayer;
  x: number[];
  opts?: Record<string, unknown>;
}

const gradCases: GradCase[] = [
  { name: "linear", layer: linear({ inFeatures: 3, outFeatures: 2 }), x: [4, 3] },
  {
    name: "conv1d",
    layer: conv1d({ inChannels: 2, outChannels: 2, kernelSize: 3, stride: 2, padding: 1 }),
    x: [2, 2, 7],
  },
  {
    name: "conv2d with groups and dilation",
    layer: conv2d({
      inChannels: 4,
      outChannels: 2,
      kernelSize: 2,
      dilation: 2,
      groups: 2,
      padding: "same",
    }),
    x: [2, 4, 4, 4],
  },
  {
    name: "convTranspose2d",
    layer: convTranspose2d({
      inChannels: 2,
      outChannels: 4,
      kernelSize: 3,
      stride: 2,
      padding: 1,
      outputPadding: 1,
      groups: 2,
    }),
    x: [1, 2, 3, 3],
  },
  {
    name: "batchNorm2d in training",
    layer: batchNorm2d({ numFeatures: 2 }),
    x: [3, 2, 2, 2],
    opts: { train: true },
  },
  { name: "layerNorm", layer: layerNorm({ normalizedShape: [4] }), x: [3, 4] },
  { name: "groupNorm", layer: groupNorm({ numGroups: 2, numChannels: 4 }), x: [2, 4, 3] },
  { name: "instanceNorm", layer: instanceNorm({ numFeatures: 2, affine: true }), x: [2, 2, 2, 3] },
];

for (const [i, c] of gradCases.entries()) {
  Deno.test(`the ${c.name} parameter gradient matches central differences`, async () => {
    const l = c.layer;
    // perturb the initial params so norm weights/biases are not exactly 1 and 0
    const p0 = l.init(random.key(70 + i));
    const p = tree.map((t: Tensor) => t.add(uniform(80 + i, t.shape).mul(0.3)), p0);
    const x = uniform(90 + i, c.x);
    const out = (q: unknown) => {
      const o = l.stateful
        ? l.apply(q, x, { ...c.opts, state: l.initState() }).y
        : l.apply(q, x, c.opts);
      return weightedSum(o, 100 + i);
    };
    await checkGrad(out, p, 110 + i);
  });
}

Deno.test("the embedding gradient matches central differences", async () => {
  const emb = embedding({ numEmbeddings: 6, embeddingDim: 2 });
  const idx = np.array([0, 3, 3, 5], { dtype: "i32" });
  await checkGrad(
    (q: { weight: Tensor }) => weightedSum(emb.apply(q, idx), 120),
    emb.init(random.key(121)),
    122,
  );
});

Deno.test("pooling input gradients match central differences", async () => {
  const layers = [
    maxPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true }),
    avgPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
    adaptiveAvgPool2d({ outputSize: [2, 3] }),
  ];
  for (const [i, l] of layers.entries()) {
    const x = uniform(130 + i, [2, 5, 6]);
    await checkGrad((z: Tensor) => weightedSum(l.apply({}, z), 140 + i), x, 150 + i);
  }
});

// ---------------------------------------------------------------- jit and vmap

const transformCases: { name: string; layer: AnyLayer; x: number[]; int?: number }[] = [
  { name: "linear", layer: linear({ inFeatures: 3, outFeatures: 2 }), x: [4, 3] },
  {
    name: "conv2d",
    layer: conv2d({
      inChannels: 2,
      outChannels: 3,
      kernelSize: 3,
      stride: 2,
      padding: 1,
      groups: 1,
    }),
    x: [3, 2, 5, 5],
  },
  {
    name: "conv1d",
    layer: conv1d({ inChannels: 2, outChannels: 2, kernelSize: 2, groups: 2 }),
    x: [3, 2, 5],
  },
  {
    name: "convTranspose2d",
    layer: convTranspose2d({ inChannels: 2, outChannels: 2, kernelSize: 2, stride: 2 }),
    x: [2, 2, 3, 3],
  },
  { name: "maxPool2d", layer: maxPool2d({ kernelSize: 2, padding: 1 }), x: [2, 2, 5, 5] },
  {
    name: "avgPool2d",
    layer: avgPool2d({ kernelSize: 2, stride: 1, padding: 1, countIncludePad: false }),
    x: [2, 2, 4, 4],
  },
  { name: "adaptiveAvgPool2d", layer: adaptiveAvgPool2d({ outputSize: 2 }), x: [2, 2, 5, 3] },
  { name: "layerNorm", layer: layerNorm({ normalizedShape: 3 }), x: [4, 3] },
  { name: "instanceNorm", layer: instanceNorm({ numFeatures: 2 }), x: [3, 2, 3, 3] },
  { name: "batchNorm2d in evaluation", layer: batchNorm2d({ numFeatures: 2 }), x: [3, 2, 2, 2] },
  {
    name: "embedding",
    layer: embedding({ numEmbeddings: 7, embeddingDim: 3, paddingIdx: 0 }),
    x: [4, 2],
    int: 7,
  },
];

for (const [i, c] of transformCases.entries()) {
  Deno.test(`jit and vmap of ${c.name} agree with eager`, async () => {
    const l = c.layer;
    const p = l.init(random.key(160 + i));
    const x = c.int
      ? np.astype(np.floor(uniform(170 + i, c.x, 0, c.int)), "i32")
      : uniform(170 + i, c.x);
    const s = l.stateful ? l.initState() : undefined;
    const f = (q: unknown, z: Tensor): Tensor =>
      l.stateful ? l.apply(q, z, { state: s }).y : l.apply(q, z);
    const eager = f(p, x);
    const jitted = jit(f)(p, x);
    assertEquals(jitted.shape, eager.shape);
    assertAllClose(await flat(jitted), await flat(eager), { rtol: 1e-5, atol: 1e-6 });
    const mapped = vmap((z: Tensor) => f(p, z))(x);
    assertEquals(mapped.shape, eager.shape);
    assertAllClose(await flat(mapped), await flat(eager), { rtol: 1e-5, atol: 1e-6 });
  });
}

Deno.test("vmap of groupNorm and of batchNorm2d in training equals a loop over the mapped axis", async () => {
  const gn = groupNorm({ numGroups: 2, numChannels: 4 });
  const gp = tree.map((t: Tensor) => t.add(0.5), gn.init(random.key(0)));
  const x = uniform(180, [3, 2, 4, 3]);
  const bn = batchNorm2d({ numFeatures: 4 });
  const bp = bn.init(random.key(1));
  const x5 = uniform(181, [3, 2, 4, 2, 2]);
  const loop = (f: (z: Tensor) => Tensor, z: Tensor) =>
    np.stack(
      [0, 1, 2].map((k) =>
        f(np.reshape(
          np.slice(z, [
            k,
            ...z.shape.slice(1).map(() => 0),
          ], [k + 1, ...z.shape.slice(1)]),
          z.shape.slice(1),
        ))
      ),
    );
  const g = (z: Tensor) => gn.apply(gp, z);
  assertAllClose(await flat(vmap(g)(x)), await flat(loop(g, x)), { rtol: 1e-5, atol: 1e-6 });
  const b = (z: Tensor) => bn.apply(bp, z, { state: bn.initState(), train: true }).y;
  assertAllClose(await flat(vmap(b)(x5)), await flat(loop(b, x5)), { rtol: 1e-5, atol: 1e-6 });
});

Deno.test("dropout under jit and vmap draws the same masks as eager", async () => {
  const drop = dropout({ rate: 0.5 });
  const x = uniform(182, [3, 8]);
  const f = (z: Tensor, k: Tensor) => drop.apply({}, z, { train: true, key: k });
  const key = random.key(9);
  assertEquals(await flat(jit(f)(x, key)), await flat(f(x, key)));
  const keys = random.split(key, 3);
  const mapped = vmap(f)(x, keys);
  const rows = [0, 1, 2].map((k) =>
    f(
      np.reshape(np.slice(x, [k, 0], [k + 1, 8]), [8]),
      np.reshape(np.slice(keys, [k, 0], [k + 1, 2]), [2]),
    )
  );
  assertAllClose(await flat(mapped), await flat(np.stack(rows)));
});

// ---------------------------------------------------------------- training

Deno.test("a small CNN's jitted SGD step lowers the loss on a fixed batch", async () => {
  const net = sequential([
    conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1 }),
    relu,
    maxPool2d({ kernelSize: 2 }),
    flatten(),
    linear({ inFeatures: 4 * 4 * 4, outFeatures: 3 }),
  ]);
  let params = net.init(random.key(200));
  const x = uniform(201, [8, 1, 8, 8]);
  const labels = np.array([0, 1, 2, 0, 1, 2, 0, 1], { dtype: "i32" });
  const onehot = np.equal(np.reshape(labels, [8, 1]), np.reshape(np.arange(3), [1, 3]));
  const loss = (p: unknown, z: Tensor) => {
    const logits = net.apply(p as never, z);
    return np.logsumexp(logits, { axis: 1 }).sub(np.where(onehot, logits, 0).sum({ axis: 1 }))
      .mean();
  };
  const step = jit((p: typeof params, z: Tensor): typeof params => {
    const g = grad(loss)(p, z);
    return tree.map((w: Tensor, dw: Tensor) => w.sub(dw.mul(0.5)), p, g);
  });
  const before = Number(await loss(params, x).item());
  for (let i = 0; i < 15; i++) params = step(params, x);
  const after = Number(await loss(params, x).item());
  assertEquals(step.traceCount, 1);
  assert(after < 0.5 * before, `loss ${before} → ${after}`);
});

Deno.test("weightInit and biasInit replace PyTorch's default initializers", async () => {
  const ones = (_k: Tensor, s: readonly number[]) => np.ones(s);
  const zeros = (_k: Tensor, s: readonly number[]) => np.zeros(s);
  const fc = linear({ inFeatures: 2, outFeatures: 3, weightInit: ones, biasInit: zeros });
  const p = fc.init(random.key(0));
  assertEquals(await p.weight.toArray(), [[1, 1], [1, 1], [1, 1]]);
  assertEquals(await p.bias!.toArray(), [0, 0, 0]);
  const conv = conv2d({ inChannels: 2, outChannels: 2, kernelSize: 1, weightInit: ones });
  assertEquals(await conv.init(random.key(0)).weight.toArray(), [[[[1]], [[1]]], [[[1]], [[1]]]]);
  const emb = embedding({ numEmbeddings: 3, embeddingDim: 1, paddingIdx: 2, weightInit: ones });
  assertEquals(await emb.init(random.key(0)).weight.toArray(), [[1], [1], [0]]);
});

Deno.test("a dense layer given an image names the feature size it wants, not one 'batch' per dim", () => {
  const l = linear({ inFeatures: 784, outFeatures: 8 });
  assertThrows(
    () => l.apply(l.init(random.key(0)), np.zeros([4, 1, 28, 28])),
    TypeError,
    "Linear(784 → 8) expects input [..., 784] (any leading dims), got f32[4,1,28,28]",
  );
});
