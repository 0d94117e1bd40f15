import { F64, fdStep, fdTol, withCpu } from "./backend.ts";
import { assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { rng } from "./helpers.ts";
import { grad, jit, jvp, np, type Tensor, vjp, vmap } from "../mod.ts";
import {
  avgPool,
  conv,
  convGeneralDilated,
  convTranspose,
  maxPool,
  reduceWindow,
  type WindowOp,
} from "../core/lax_conv.ts";
import { convGeneralDilatedPrim, type ConvParams } from "../core/prims/conv.ts";
import { withFloat64 } from "../core/prims/host.ts";

// ---------------------------------------------------------------- helpers

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function randData(shape: readonly number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: size(shape) }, () => r() * 2 - 1);
}
const tensor = (data: ArrayLike<number>, shape: readonly number[]): Tensor =>
  np.array(Float32Array.from(data), { shape });
const rand = (shape: readonly number[], seed: number): Tensor =>
  tensor(randData(shape, seed), shape);
const host = async (t: Tensor): Promise<number[]> => Array.from(await t.data());

/** All multi-indices of a shape, row-major. */
function indices(shape: readonly number[]): number[][] {
  const out: number[][] = [[]];
  for (const n of shape) {
    const next: number[][] = [];
    for (const p of out) for (let i = 0; i < n; i++) next.push([...p, i]);
    out.splice(0, out.length, ...next);
  }
  return out;
}
const flatIndex = (shape: readonly number[], idx: readonly number[]) =>
  idx.reduce((acc, i, d) => acc * shape[d] + i, 0);

/**
 * The definition of conv_general_dilated, as directly as it can be written: read the
 * dilated, padded input at `y·stride + k·rhsDilation`, sum over the group's channels.
 */
function naiveConv(
  x: ArrayLike<number>,
  xs: readonly number[],
  w: ArrayLike<number>,
  wsh: readonly number[],
  p: ConvParams,
): { data: number[]; shape: number[] } {
  const nsp = xs.length - 2;
  const [N, C] = xs, [O, Cg] = wsh;
  const outSp = xs.slice(2).map((n, d) => {
    const din = (n - 1) * p.lhsDilation[d] + 1 + p.padding[d][0] + p.padding[d][1];
    const dk = (wsh[d + 2] - 1) * p.rhsDilation[d] + 1;
    return din < dk ? 0 : Math.floor((din - dk) / p.windowStrides[d]) + 1;
  });
  const shape = [N / p.batchGroupCount, O, ...outSp];
  const inputAt = (n: number, c: number, pos: number[]): number => {
    const idx = [n, c];
    for (let d = 0; d < nsp; d++) {
      const q = pos[d] - p.padding[d][0];
      if (q < 0 || q % p.lhsDilation[d] !== 0 || q / p.lhsDilation[d] >= xs[d + 2]) return 0;
      idx.push(q / p.lhsDilation[d]);
    }
    return x[flatIndex(xs, idx)];
  };
  const data = indices(shape).map(([n, o, ...y]) => {
    const gF = Math.floor(o / (O / p.featureGroupCount));
    const gB = Math.floor(o / (O / p.batchGroupCount));
    let s = 0;
    for (let c = 0; c < Cg; c++) {
      for (const k of indices(wsh.slice(2))) {
        const pos = y.map((yi, d) => yi * p.windowStrides[d] + k[d] * p.rhsDilation[d]);
        s += inputAt(gB * shape[0] + n, gF * Cg + c, pos) * w[flatIndex(wsh, [o, c, ...k])];
      }
    }
    return s;
  });
  void C;
  return { data, shape };
}

const P = (nsp: number, over: Partial<ConvParams> = {}): ConvParams => ({
  windowStrides: new Array(nsp).fill(1),
  padding: new Array(nsp).fill([0, 0]),
  lhsDilation: new Array(nsp).fill(1),
  rhsDilation: new Array(nsp).fill(1),
  featureGroupCount: 1,
  batchGroupCount: 1,
  ...over,
});

interface Case {
  name: string;
  lhs: number[];
  rhs: number[];
  p: ConvParams;
}
const CASES: Case[] = [
  {
    name: "1-D with stride, padding and kernel dilation",
    lhs: [2, 3, 9],
    rhs: [4, 3, 3],
    p: P(1, { windowStrides: [2], padding: [[1, 2]], rhsDilation: [2] }),
  },
  {
    name: "2-D with two feature groups",
    lhs: [2, 4, 7, 6],
    rhs: [6, 2, 3, 2],
    p: P(2, {
      windowStrides: [1, 2],
      padding: [[1, 1], [0, 1]],
      rhsDilation: [1, 2],
      featureGroupCount: 2,
    }),
  },
  {
    name: "2-D with three feature groups",
    lhs: [1, 6, 5, 5],
    rhs: [3, 2, 3, 3],
    p: P(2, { padding: [[1, 1], [1, 1]], featureGroupCount: 3 }),
  },
  {
    name: "depthwise 2-D with channel multiplier 2",
    lhs: [2, 4, 6, 6],
    rhs: [8, 1, 3, 3],
    p: P(2, { windowStrides: [2, 2], padding: [[1, 1], [1, 0]], featureGroupCount: 4 }),
  },
  {
    name: "2-D with lhs dilation",
    lhs: [1, 2, 4, 5],
    rhs: [3, 2, 2, 3],
    p: P(2, { windowStrides: [1, 2], padding: [[1, 1], [2, 0]], lhsDilation: [2, 3] }),
  },
  {
    name: "3-D with strides and dilation",
    lhs: [1, 2, 4, 5, 3],
    rhs: [2, 2, 2, 3, 2],
    p: P(3, {
      windowStrides: [1, 2, 1],
      padding: [[0, 1], [1, 1], [0, 0]],
      rhsDilation: [1, 1, 2],
    }),
  },
  {
    name: "2-D with two batch groups",
    lhs: [4, 3, 5, 5],
    rhs: [6, 3, 3, 3],
    p: P(2, { padding: [[1, 0], [0, 1]], batchGroupCount: 2 }),
  },
  {
    name: "1-D with negative padding",
    lhs: [1, 1, 8],
    rhs: [2, 1, 3],
    p: P(1, { padding: [[-1, -2]] }),
  },
];

// ---------------------------------------------------------------- values

Deno.test("a 1-D convolution matches hand-computed values", async () => {
  const x = np.array([[[1, 2, 3, 4, 5]]]), w = np.array([[[1, 2]]]);
  assertEquals(await conv(x, w, [1]).toArray(), [[[5, 8, 11, 14]]]);
  assertEquals(await conv(x, w, [2]).toArray(), [[[5, 11]]]);
  // zero padding on both sides, then kernel dilation 2: taps x[i] and x[i+2]
  const padded = convGeneralDilated(x, w, { padding: [[1, 1]], rhsDilation: [2] });
  assertEquals(await padded.toArray(), [[[4, 7, 10, 13, 4]]]);
  // lhs dilation 2 inserts a zero between elements: [1, 0, 2] ⋆ [1, 1]
  const dilated = convGeneralDilated(np.array([[[1, 2]]]), np.array([[[1, 1]]]), {
    lhsDilation: [2],
  });
  assertEquals(await dilated.toArray(), [[[1, 2]]]);
});

Deno.test("a 2-D convolution matches hand-computed values", async () => {
  const x = np.array([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]);
  const w = np.array([[[[1, 2], [3, 4]]]]);
  assertEquals(await conv(x, w, [1, 1]).toArray(), [[[[37, 47], [67, 77]]]]);
  // two output channels, the second the identity tap at the bottom right
  const w2 = np.array([[[[1, 2], [3, 4]]], [[[0, 0], [0, 1]]]]);
  const y = conv(x, w2, [1, 1], [[1, 0], [0, 0]]);
  assertEquals(await y.toArray(), [[[[11, 18], [37, 47], [67, 77]], [[2, 3], [5, 6], [8, 9]]]]);
});

Deno.test("SAME padding gives ceil(in / stride) outputs with the extra padding at the end", async () => {
  const y = conv(np.ones([1, 1, 7, 6]), np.ones([1, 1, 3, 4]), [2, 3], "SAME");
  assertEquals(y.shape, [1, 1, 4, 2]);
  // rows: (4−1)·2 + 3 − 7 = 2 → pad 1/1; cols: (2−1)·3 + 4 − 6 = 1 → pad 0/1
  assertEquals((await y.toArray() as number[][][][])[0][0][0], [8, 6]);
  const one = convGeneralDilated(np.array([[[1, 2, 3, 4]]]), np.array([[[1, 1]]]), {
    padding: "SAME",
  });
  assertEquals(await one.toArray(), [[[3, 5, 7, 4]]]);
});

for (const c of CASES) {
  Deno.test(`conv_general_dilated matches the naive loop: ${c.name}`, async () => {
    const x = randData(c.lhs, 1), w = randData(c.rhs, 2);
    const want = naiveConv(x, c.lhs, w, c.rhs, c.p);
    const got = convGeneralDilatedPrim(tensor(x, c.lhs), tensor(w, c.rhs), c.p);
    assertEquals(got.shape, want.shape);
    assertAllClose(await host(got), want.data, { rtol: 1e-5, atol: 1e-5 });
  });
}

// LeNet's first layer at batch 64 (it once took minutes on the reference backend; its speed is
// measured in bench/conv_bench.ts, not here). The gradients of sum(conv(x, w)) have closed forms:
// ∂/∂w[o,0,i,j] = Σ_{n,p,q} x[n,0,p+i,q+j] and ∂/∂x[n,0,a,b] = Σ over the taps that read (a, b).
Deno.test("a 64×1×28×28 by 6×1×5×5 convolution's gradients match their closed forms", async () => {
  const xd = randData([64, 1, 28, 28], 3), wd = randData([6, 1, 5, 5], 4);
  const x = tensor(xd, [64, 1, 28, 28]), w = tensor(wd, [6, 1, 5, 5]);
  const y = conv(x, w, [1, 1]);
  assertEquals(y.shape, [64, 6, 24, 24]);
  const [gx, gw] = grad((a: Tensor, b: Tensor) => conv(a, b, [1, 1]).sum(), { argnums: [0, 1] })(
    x,
    w,
  );
  assertEquals(gw.shape, [6, 1, 5, 5]);
  const wantW = new Float64Array(25), wSum = new Float64Array(25);
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 5; j++) {
      let acc = 0;
      for (let n = 0; n < 64; n++) {
        for (let p = 0; p < 24; p++) {
          for (let q = 0; q < 24; q++) acc += xd[n * 784 + (p + i) * 28 + q + j];
        }
      }
      wantW[i * 5 + j] = acc;
      for (let o = 0; o < 6; o++) wSum[i * 5 + j] += wd[o * 25 + i * 5 + j];
    }
  }
  const wantX = new Float64Array(64 * 784);
  for (let n = 0; n < 64; n++) {
    for (let a = 0; a < 28; a++) {
      for (let b = 0; b < 28; b++) {
        let acc = 0;
        for (let i = Math.max(0, a - 23); i <= Math.min(4, a); i++) {
          for (let j = Math.max(0, b - 23); j <= Math.min(4, b); j++) acc += wSum[i * 5 + j];
        }
        wantX[n * 784 + a * 28 + b] = acc;
      }
    }
  }
  assertAllClose(await host(gw), Array.from({ length: 150 }, (_, k) => wantW[k % 25]), {
    rtol: 1e-4,
    atol: 2e-3,
  });
  assertAllClose(await host(gx), Array.from(wantX), { rtol: 1e-4, atol: 1e-4 });
});

// ---------------------------------------------------------------- gradients

/** ⟨∇f, u⟩ against the central difference (f(x + hu) − f(x − hu)) / 2h, in float64. */
async function checkDirectional(
  f: (...xs: Tensor[]) => Tensor,
  args: Tensor[],
  argnum: number,
  seed: number,
  opts: { rtol?: number; atol?: number; h?: number } = {},
): Promise<void> {
  // f32 backends: pooling cases (small h, kinks nearby) get 1e-3, smooth ones 1e-2
  const x = args[argnum];
  const h = fdStep(opts.h ?? 1e-3);
  for (let k = 0; k < 2; k++) {
    const u = rand(x.shape, seed + k);
    const at = (s: number) => {
      const a = [...args];
      a[argnum] = x.add(u.mul(s));
      return f(...a);
    };
    const [g, fp, fm] = withFloat64(() => [grad(f, { argnums: argnum })(...args), at(h), at(-h)]);
    const fd = (Number(await fp.item()) - Number(await fm.item())) / (2 * h);
    const dot = Number(await withFloat64(() => g.mul(u).sum()).item());
    assertAllClose(dot, fd, fdTol({ rtol: opts.rtol ?? 1e-6, atol: opts.atol ?? 1e-8 }));
  }
}

for (const c of CASES) {
  Deno.test(`gradients of both conv operands match central differences: ${c.name}`, async () => {
    const x = rand(c.lhs, 5), w = rand(c.rhs, 6);
    const outShape = convGeneralDilatedPrim(x, w, c.p).shape;
    const r = rand(outShape, 7);
    const f = (a: Tensor, b: Tensor) => convGeneralDilatedPrim(a, b, c.p).mul(r).sum();
    await checkDirectional(f, [x, w], 0, 10);
    await checkDirectional(f, [x, w], 1, 20);
  });
}

Deno.test("the conv JVP is bilinear: conv(dl, r) + conv(l, dr)", async () => {
  const c = CASES[1];
  const x = rand(c.lhs, 1), w = rand(c.rhs, 2), dx = rand(c.lhs, 3), dw = rand(c.rhs, 4);
  const f = (a: Tensor, b: Tensor) => convGeneralDilatedPrim(a, b, c.p);
  const [, dy] = jvp(f, [x, w], [dx, dw]);
  const want = f(dx, w).add(f(x, dw));
  assertAllClose(await host(dy), await host(want), { rtol: 1e-5, atol: 1e-5 });
});

Deno.test("second derivatives through conv match central differences of the gradient", async () => {
  // g(x) = Σ (∂/∂w Σ conv(x, w)²)², differentiated with respect to x
  const c = CASES[1];
  const x = rand(c.lhs, 8), w = rand(c.rhs, 9);
  const inner = (a: Tensor, b: Tensor) =>
    convGeneralDilatedPrim(a, b, c.p).mul(convGeneralDilatedPrim(a, b, c.p)).sum();
  const g = (a: Tensor, b: Tensor) =>
    grad(inner, { argnums: 1 })(a, b).mul(grad(inner, { argnums: 1 })(a, b)).sum();
  await checkDirectional(g, [x, w], 0, 30, { rtol: 1e-5 });
});

Deno.test("convTranspose with a PyTorch ConvTranspose weight is the gradient of the forward conv", async () => {
  // forward conv: Cin 4 → Cout 6, groups 2, stride [2, 1], padding p = [1, 0], dilation [1, 2]
  const xs = [2, 4, 7, 6], ws = [6, 2, 3, 2];
  const s = [2, 1], p = [1, 0], d = [1, 2], g = 2;
  const fwd = (x: Tensor, w: Tensor) =>
    convGeneralDilated(x, w, {
      windowStrides: s,
      padding: p.map((v) => [v, v] as [number, number]),
      rhsDilation: d,
      featureGroupCount: g,
    });
  const x = rand(xs, 11), w = rand(ws, 12);
  const y = fwd(x, w);
  const ct = rand(y.shape, 13);
  const [, back] = vjp((a: Tensor) => fwd(a, w), x);
  const want = back(ct)[0] as Tensor;
  // PyTorch: out = (in − 1)·s − 2p + d·(k − 1) + output_padding + 1; choose output_padding to get xs back
  const k = ws.slice(2);
  const outPad = xs.slice(2).map((n, i) =>
    n - ((y.shape[i + 2] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1)
  );
  const a = k.map((ki, i) => d[i] * (ki - 1) - p[i]);
  const got = convTranspose(ct, w, {
    strides: s,
    padding: a.map((ai, i) => [ai, ai + outPad[i]] as [number, number]),
    rhsDilation: d,
    featureGroupCount: g,
    transposeKernel: true,
  });
  assertEquals(got.shape, xs);
  assertAllClose(await host(got), await host(want), { rtol: 1e-5, atol: 1e-5 });
});

Deno.test("convTranspose SAME and VALID give in·stride and in·stride + max(k − s, 0) outputs", () => {
  const x = np.ones([1, 2, 4, 4]), w = np.ones([3, 2, 3, 3]);
  assertEquals(convTranspose(x, w, { strides: [2, 2], padding: "SAME" }).shape, [1, 3, 8, 8]);
  assertEquals(convTranspose(x, w, { strides: [2, 2], padding: "VALID" }).shape, [1, 3, 9, 9]);
});

// ---------------------------------------------------------------- vmap and jit

async function stackLoop(f: (b: number) => Tensor, n: number): Promise<number[]> {
  const parts: number[] = [];
  for (let b = 0; b < n; b++) parts.push(...await host(f(b)));
  return parts;
}

for (const c of [CASES[0], CASES[1], CASES[3], CASES[6]]) {
  Deno.test(`vmap of conv over lhs, over rhs and over both matches a loop: ${c.name}`, async () => {
    const B = 3;
    const xb = randData([B, ...c.lhs], 40), wb = randData([B, ...c.rhs], 41);
    const X = tensor(xb, [B, ...c.lhs]), W = tensor(wb, [B, ...c.rhs]);
    const xi = (b: number) => tensor(xb.subarray(b * size(c.lhs), (b + 1) * size(c.lhs)), c.lhs);
    const wi = (b: number) => tensor(wb.subarray(b * size(c.rhs), (b + 1) * size(c.rhs)), c.rhs);
    const f = (a: Tensor, w: Tensor) => convGeneralDilatedPrim(a, w, c.p);
    const opts = { rtol: 1e-5, atol: 1e-5 };
    const overL = vmap(f, { inAxes: [0, null] })(X, wi(0));
    assertAllClose(await host(overL), await stackLoop((b) => f(xi(b), wi(0)), B), opts);
    const overR = vmap(f, { inAxes: [null, 0] })(xi(0), W);
    assertAllClose(await host(overR), await stackLoop((b) => f(xi(0), wi(b)), B), opts);
    const both = vmap(f)(X, W);
    assertAllClose(await host(both), await stackLoop((b) => f(xi(b), wi(b)), B), opts);
    // a batch axis in the middle, and on the output too
    const mid = vmap(f, { inAxes: [2, 0], outAxes: 0 })(np.moveaxis(X, 0, 2), W);
    assertAllClose(await host(mid), await host(both), opts);
  });
}

Deno.test("vmap of the conv gradient with respect to both operands matches a loop", async () => {
  const c = CASES[1], B = 2;
  const xb = randData([B, ...c.lhs], 50), wb = randData([B, ...c.rhs], 51);
  const f = (a: Tensor, w: Tensor) => convGeneralDilatedPrim(a, w, c.p).sum();
  const gf = grad(f, { argnums: [0, 1] });
  const [gx, gw] = vmap(gf)(tensor(xb, [B, ...c.lhs]), tensor(wb, [B, ...c.rhs]));
  const per = (b: number) =>
    gf(
      tensor(xb.subarray(b * size(c.lhs), (b + 1) * size(c.lhs)), c.lhs),
      tensor(wb.subarray(b * size(c.rhs), (b + 1) * size(c.rhs)), c.rhs),
    );
  assertAllClose(await host(gx), await stackLoop((b) => per(b)[0], B), { rtol: 1e-5, atol: 1e-5 });
  assertAllClose(await host(gw), await stackLoop((b) => per(b)[1], B), { rtol: 1e-5, atol: 1e-5 });
});

Deno.test("jit of conv and of its gradient matches eager", async () => {
  const c = CASES[3];
  const x = rand(c.lhs, 60), w = rand(c.rhs, 61);
  const f = (a: Tensor, b: Tensor) => convGeneralDilatedPrim(a, b, c.p);
  assertAllClose(await host(jit(f)(x, w)), await host(f(x, w)), { rtol: 1e-6 });
  const g = grad((a: Tensor, b: Tensor) => f(a, b).mul(f(a, b)).sum(), { argnums: [0, 1] });
  const [ja, jb] = jit(g)(x, w), [ea, eb] = g(x, w);
  assertAllClose(await host(ja), await host(ea), { rtol: 1e-5, atol: 1e-6 });
  assertAllClose(await host(jb), await host(eb), { rtol: 1e-5, atol: 1e-6 });
});

// ---------------------------------------------------------------- pooling

Deno.test("max-pool gradients flow to the first maximum of each window, ties included", async () => {
  const x = np.array([[[1, 3, 3, 2]]]);
  const g1 = grad((a: Tensor) => maxPool(a, { kernelSize: 2 }).sum())(x);
  assertEquals(await g1.toArray(), [[[0, 1, 1, 0]]]);
  // stride 1: windows [1,3], [3,3], [3,2] pick indices 1, 1 (first of the tie) and 2
  const g2 = grad((a: Tensor) => maxPool(a, { kernelSize: 2, strides: 1 }).sum())(x);
  assertEquals(await g2.toArray(), [[[0, 2, 1, 0]]]);
  // an all-equal 2-D input: each 2×2 window sends its gradient to its top-left element
  const g3 = grad((a: Tensor) => maxPool(a, { kernelSize: 2 }).sum())(np.ones([1, 1, 4, 4]));
  assertEquals(await g3.toArray(), [[[[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]]]);
  const gmin = grad((a: Tensor) => reduceWindow(a, "min", { windowDimensions: [1, 1, 2] }).sum())(
    x,
  );
  assertEquals(await gmin.toArray(), [[[1, 1, 0, 1]]]);
});

/**
 * Pooling gradients: float64 central differences on cpu; on f32 backends the cpu oracle's
 * gradient on the same data (window maxima closer than f32 differences can resolve).
 */
async function checkPoolGrad(
  make: (r: Tensor) => (a: Tensor) => Tensor,
  x: Tensor,
  r: Tensor,
  seed: number,
): Promise<void> {
  if (F64) return await checkDirectional(make(r), [x], 0, seed, { h: 1e-5, rtol: 1e-5 });
  const xd = await x.data(), rd = await r.data();
  const g = await grad(make(r))(x).data();
  const gc = await withCpu(() =>
    grad(make(np.array(rd, { shape: r.shape })))(np.array(xd, { shape: x.shape }))
  ).data();
  assertAllClose(Array.from(g), Array.from(gc), { rtol: 1e-5, atol: 1e-6 });
}

Deno.test("max-pool values and gradients with padding, strides and dilation match central differences", async () => {
  const x = rand([2, 3, 7, 6], 70);
  const opts = { kernelSize: [3, 2], strides: [2, 1], padding: 1, dilation: [1, 2] };
  const y = maxPool(x, opts);
  // direct check of the values: −∞ padding never wins
  const xd = await host(x);
  const want = indices(y.shape).map(([n, c, i, j]) => {
    let m = -Infinity;
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 2; b++) {
        const r = i * 2 + a - 1, s = j + 2 * b - 1;
        if (r >= 0 && r < 7 && s >= 0 && s < 6) {
          m = Math.max(m, xd[flatIndex(x.shape, [n, c, r, s])]);
        }
      }
    }
    return m;
  });
  assertAllClose(await host(y), want);
  const r = rand(y.shape, 71);
  await checkPoolGrad((rr) => (a: Tensor) => maxPool(a, opts).mul(rr).sum(), x, r, 72);
  const minOpts = {
    windowDimensions: [1, 2, 2, 3],
    windowStrides: [1, 1, 2, 2],
    padding: "SAME" as const,
  };
  const r2 = rand(reduceWindow(x, "min", minOpts).shape, 73);
  const fmin = (rr: Tensor) => (a: Tensor) => reduceWindow(a, "min", minOpts).mul(rr).sum();
  await checkPoolGrad(fmin, x, r2, 74);
});

Deno.test("max-pool is differentiable twice (its JVP is composed of linear primitives)", async () => {
  const x = rand([1, 2, 6, 6], 80), u = rand([1, 2, 6, 6], 81);
  const f = (a: Tensor) =>
    maxPool(a, { kernelSize: 3, strides: 2, padding: 1 }).mul(
      maxPool(a, { kernelSize: 3, strides: 2, padding: 1 }),
    ).sum();
  const [, hv] = jvp(grad(f), [x], [u]);
  const h = fdStep(1e-4, 1e-3);
  const [gp, gm] = withFloat64(() => [grad(f)(x.add(u.mul(h))), grad(f)(x.sub(u.mul(h)))]);
  const gpd = await host(gp), gmd = await host(gm);
  assertAllClose(
    await host(hv),
    gpd.map((v, i) => (v - gmd[i]) / (2 * h)),
    fdTol({ rtol: 1e-4, atol: 1e-5 }),
  );
});

Deno.test("reduce_window sum with base and window dilation matches a loop and its gradient is exact", async () => {
  const x = rand([3, 5], 90);
  const opts = {
    windowDimensions: [2, 3],
    windowStrides: [2, 1],
    padding: [[1, 0], [2, 1]] as [number, number][],
    baseDilation: [2, 1],
    windowDilation: [1, 2],
  };
  const y = reduceWindow(x, "sum", opts);
  const xd = await host(x);
  const want = indices(y.shape).map(([i, j]) => {
    let s = 0;
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 3; b++) {
        const r = i * 2 + a - 1, c = j + 2 * b - 2;
        if (r >= 0 && r % 2 === 0 && r / 2 < 3 && c >= 0 && c < 5) s += xd[(r / 2) * 5 + c];
      }
    }
    return s;
  });
  assertEquals(y.shape, [3, 4]);
  assertAllClose(await host(y), want, { rtol: 1e-6 });
  const r = rand(y.shape, 91);
  await checkDirectional((a: Tensor) => reduceWindow(a, "sum", opts).mul(r).sum(), [x], 0, 92);
});

Deno.test("vmap of reduce_window matches a loop for each op", async () => {
  const B = 3, shape = [2, 5, 4];
  const xb = randData([B, ...shape], 100);
  for (const op of ["sum", "max", "min"] as WindowOp[]) {
    const f = (a: Tensor) =>
      reduceWindow(a, op, {
        windowDimensions: [1, 2, 3],
        windowStrides: [1, 2, 1],
        padding: "SAME",
      });
    const got = vmap(f, { inAxes: 1, outAxes: 2 })(np.moveaxis(tensor(xb, [B, ...shape]), 0, 1));
    const want = await stackLoop((b) => f(tensor(xb.subarray(b * 40, (b + 1) * 40), shape)), B);
    assertAllClose(await host(np.moveaxis(got, 2, 0)), want, { rtol: 1e-6 });
  }
});

Deno.test("jit of max-pool gradients matches eager", async () => {
  const x = rand([2, 2, 5, 5], 110);
  const g = grad((a: Tensor) => maxPool(a, { kernelSize: 2, strides: 1 }).mul(a.sum()).sum());
  assertAllClose(await host(jit(g)(x)), await host(g(x)), { rtol: 1e-6 });
});

Deno.test("avg-pool counts padding in the divisor by default, as PyTorch", async () => {
  const x = np.array([[[1, 2, 3, 4]]]);
  assertEquals(await avgPool(x, { kernelSize: 2 }).toArray(), [[[1.5, 3.5]]]);
  assertEquals(await avgPool(x, { kernelSize: 2, padding: 1 }).toArray(), [[[0.5, 2.5, 2]]]);
  assertEquals(await avgPool(x, { kernelSize: 2, padding: 1, countIncludePad: false }).toArray(), [[
    [1, 2.5, 4],
  ]]);
  const x2 = np.arange(16).reshape([1, 1, 4, 4]);
  const y2 = avgPool(x2, { kernelSize: 3, strides: 2, padding: 1, countIncludePad: false });
  // windows of rows/cols {0,1}, {1,2,3}: means of the covered elements
  assertEquals(await y2.toArray(), [[[[2.5, 4], [8.5, 10]]]]);
  // each element is in one 2×2 window: gradient 1/4
  const g = grad((a: Tensor) => avgPool(a, { kernelSize: 2 }).sum())(np.ones([1, 1, 4, 4]));
  assertEquals(await g.toArray(), [[[[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25], [
    0.25,
    0.25,
    0.25,
    0.25,
  ], [0.25, 0.25, 0.25, 0.25]]]]);
});

// ---------------------------------------------------------------- errors

Deno.test("conv errors name the op, both operands and what differs", () => {
  assertThrows(
    () => conv(np.ones([1, 3, 8, 8]), np.ones([2, 4, 3, 3]), [1, 1]),
    TypeError,
    "Cannot conv f32[1,3,8,8] with f32[2,4,3,3]: input channels 3 do not match kernel channels 4 × featureGroupCount 1",
  );
  assertThrows(
    () => convGeneralDilated(np.ones([1, 4, 8]), np.ones([3, 2, 3]), { featureGroupCount: 2 }),
    TypeError,
    "Cannot conv f32[1,4,8] with f32[3,2,3]: kernel output channels 3 are not divisible by featureGroupCount 2",
  );
  assertThrows(
    () => conv(np.ones([1, 3, 8, 8]), np.ones([2, 3, 3]), [1, 1]),
    TypeError,
    "Cannot conv f32[1,3,8,8] with f32[2,3,3]: ranks differ (4 vs 3)",
  );
  assertThrows(
    () => conv(np.ones([1, 3, 8]), np.ones([2, 3, 3], "i32"), [1]),
    TypeError,
    "Cannot conv f32[1,3,8] with i32[2,3,3]: dtypes differ (f32 vs i32)",
  );
  assertThrows(
    () => convGeneralDilated(np.ones([3, 2, 8]), np.ones([4, 2, 3]), { batchGroupCount: 2 }),
    TypeError,
    "batch size 3 is not divisible by batchGroupCount 2",
  );
  assertThrows(
    () => conv(np.ones([1, 3, 8, 8]), np.ones([2, 3, 3, 3]), [1]),
    RangeError,
    "windowStrides must list 2 positive integers",
  );
  assertThrows(
    () =>
      convGeneralDilated(np.ones([1, 1, 8]), np.ones([1, 1, 3]), {
        padding: "SAME",
        lhsDilation: [2],
      }),
    TypeError,
    `"SAME" padding is not defined with lhsDilation [2]`,
  );
});

Deno.test("reduce_window errors name the op and the operand", () => {
  assertThrows(
    () => reduceWindow(np.ones([2, 3]), "max", { windowDimensions: [2] }),
    RangeError,
    "Cannot reduce_window f32[2,3]: windowDimensions must list 2 positive integers",
  );
  assertThrows(
    () => reduceWindow(np.ones([2, 3], "bool"), "sum", { windowDimensions: [1, 1] }),
    TypeError,
    "Cannot reduce_window bool[2,3]: bool operands are not supported",
  );
  assertThrows(
    () => reduceWindow(np.ones([2, 3]), "prod" as WindowOp, { windowDimensions: [1, 1] }),
    TypeError,
    `op must be "sum", "max" or "min"`,
  );
});
