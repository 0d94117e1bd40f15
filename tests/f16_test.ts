/**
 * f16 on every backend (`DENAX_BACKEND`): creation and `astype` round to nearest-even, JAX's
 * promotion table, every op computes in f32 and rounds its result (checked against the cpu
 * reference computed in f32 and rounded with `Math.f16round`), reductions, matmul and
 * convolution accumulate in f32, gradients match central differences taken in f32, `jit`
 * equals eager, and the primitives without an f16 form say so.
 */
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, lax, np, random, type Tensor, vmap } from "../mod.ts";
import { type DType, promoteTypes } from "../core/dtype.ts";
import { flat, rng } from "./helpers.ts";
import { decodeCheckpoint, encodeCheckpoint, loadInto } from "../train/checkpoint.ts";

const h = Math.f16round;

/** Values in [lo, hi) already rounded to f16. */
function halfs(seed: number, n: number, lo = -2, hi = 2): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => h(lo + (hi - lo) * r()));
}

/** The spacing of f16 values at `v` (one unit in the last place). */
function ulp16(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -14) return 2 ** -24;
  return 2 ** (Math.floor(Math.log2(a)) - 10);
}

/**
 * Asserts `got` within `ulps` f16 ulps of `want` elementwise (the backends' f32 arithmetic may
 * differ in the last f32 bit, which can move a result across an f16 rounding boundary).
 */
function assertUlps(got: number[], want: number[], ulps: number, what: string): void {
  assertEquals(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w)) {
      assert(Number.isNaN(g), `${what}[${i}]: ${g}, expected NaN`);
      continue;
    }
    if (!Number.isFinite(w)) {
      assertEquals(g, w, `${what}[${i}]`);
      continue;
    }
    const tol = ulps * ulp16(w);
    assert(Math.abs(g - w) <= tol, `${what}[${i}]: ${g}, expected ${w} (±${tol})`);
  }
}

/** Each value is exactly an f16. */
function assertAllHalf(vs: number[], what: string): void {
  for (let i = 0; i < vs.length; i++) {
    if (Number.isNaN(vs[i])) continue;
    assertEquals(h(vs[i]), vs[i], `${what}[${i}] = ${vs[i]} is not an f16 value`);
  }
}

/** The reference: `f` on f32 copies of the f16 operands on the cpu backend, rounded to f16. */
async function reference(
  f: (...xs: Tensor[]) => Tensor,
  args: { data: number[]; shape: number[] }[],
): Promise<number[]> {
  const out = withCpu(() => f(...args.map((a) => np.array(a.data, { shape: a.shape }))));
  return (await flat(out)).map(h);
}

Deno.test(`f16 [${BACKEND}]: creation rounds to nearest, ties to even`, async () => {
  const x = np.array(
    [2049, 2051, 65519, 65520, -65520, 2 ** -25, 3 * 2 ** -25, 0.1, 1 / 3, NaN],
    { dtype: "f16" },
  );
  assertEquals(x.dtype, "f16");
  const d = await x.data();
  assert(d instanceof Float32Array, "f16 data() is a Float32Array of f16 values");
  const v = Array.from(d);
  assertEquals(v.slice(0, 9), [
    2048,
    2052,
    65504,
    Infinity,
    -Infinity,
    0,
    2 ** -23,
    0.0999755859375,
    0.333251953125,
  ]);
  assert(Number.isNaN(v[9]));
  assertEquals(await np.zeros([2], "f16").toArray(), [0, 0]);
  assertEquals(np.ones([2, 3], "f16").dtype, "f16");
  assertEquals(await np.full([2], 0.1, "f16").toArray(), [0.0999755859375, 0.0999755859375]);
  assertThrows(
    () => np.array([1], { dtype: "float16" as DType }),
    TypeError,
    'help: write "f16" for float16',
  );
  assertEquals(await np.array(7.3, { dtype: "f16" }).item(), 7.30078125);
});

Deno.test(`f16 [${BACKEND}]: astype both ways`, async () => {
  const r = rng(3);
  const src = Array.from({ length: 257 }, () => (r() - 0.5) * 2 ** (40 * r() - 20));
  src.push(65519.99, 65520, 1e9, -1e-9, 2 ** -24, 1.5 * 2 ** -24, 2.5 * 2 ** -24);
  const f32 = np.array(src);
  const half = f32.astype("f16");
  assertEquals(half.dtype, "f16");
  assertEquals(await flat(half), src.map((v) => h(Math.fround(v))));
  const back = half.astype("f32");
  assertEquals(back.dtype, "f32");
  assertEquals(await flat(back), await flat(half));
  // ints and bools
  const ints = np.array([4097, -4099, 100000, 7], { dtype: "i32" }).astype("f16");
  assertEquals(await flat(ints), [4096, -4100, Infinity, 7]);
  assertEquals(await flat(np.array([1.9, -2.7, 3e4], { dtype: "f16" }).astype("i32")), [
    1,
    -2,
    30000,
  ]);
  assertEquals(await flat(np.array([0, 0.5], { dtype: "f16" }).astype("bool")), [0, 1]);
  assertEquals(await flat(np.array([true, false]).astype("f16")), [1, 0]);
});

Deno.test(`f16 [${BACKEND}]: rounding is exact at every f16 boundary`, async () => {
  // every positive finite f16, the midpoints to its successor (ties) and one f32 ulp either
  // side of each midpoint, both signs, plus the overflow threshold
  const bits = new Uint16Array(1);
  const as16 = new Float16Array(bits.buffer);
  const vs: number[] = [];
  for (let k = 0; k < 0x7bff; k++) {
    bits[0] = k;
    const lo = as16[0];
    bits[0] = k + 1;
    const mid = (lo + as16[0]) / 2;
    const f = new Float32Array([mid]), u = new Uint32Array(f.buffer);
    const below = (u[0] -= 1, f[0]), above = (u[0] += 2, f[0]);
    vs.push(lo, mid, below, above, -mid, -above);
  }
  vs.push(65504, 65519.99, 65520, -65520, Infinity, -Infinity);
  const got = await flat(np.array(vs).astype("f16"));
  const want = vs.map((v) => h(Math.fround(v)));
  for (let i = 0; i < vs.length; i++) {
    if (got[i] !== want[i]) throw new Error(`f16(${vs[i]}) gave ${got[i]}, expected ${want[i]}`);
  }
});

Deno.test("f16: the promotion table (JAX's, without 64-bit types)", () => {
  const table: [DType, boolean, DType, boolean, DType][] = [
    ["f16", false, "f32", false, "f32"],
    ["f16", false, "f16", false, "f16"],
    ["f16", false, "i32", false, "f16"],
    ["u32", false, "f16", false, "f16"],
    ["bool", false, "f16", false, "f16"],
    ["f16", false, "f32", true, "f16"], // a JS float keeps f16
    ["f16", false, "i32", true, "f16"], // a JS int keeps f16
    ["i32", false, "f32", true, "f32"], // a JS float makes an int the default float
    ["f16", true, "f32", false, "f32"],
  ];
  for (const [a, aw, b, bw, want] of table) {
    assertEquals(promoteTypes(a, aw, b, bw), want, `${a}${aw ? "(weak)" : ""} + ${b}`);
    assertEquals(promoteTypes(b, bw, a, aw), want, `${b} + ${a}${aw ? "(weak)" : ""}`);
  }
  const x = np.ones([2], "f16");
  assertEquals(np.add(x, np.ones([2])).dtype, "f32");
  assertEquals(np.multiply(x, 2.5).dtype, "f16");
  assertEquals(np.add(x, np.ones([2], "i32")).dtype, "f16");
  assertEquals(np.add(x, np.ones([2], "bool")).dtype, "f16");
  assertEquals(np.exp(np.ones([2], "i32")).dtype, "f32");
  assertEquals(np.sqrt(x).dtype, "f16");
  assertEquals(np.mean(x).dtype, "f16");
});

const UNARY: [string, (x: Tensor) => Tensor, number, number][] = [
  ["negative", np.negative, -4, 4],
  ["abs", np.abs, -4, 4],
  ["exp", np.exp, -6, 6],
  ["log", np.log, 0.01, 50],
  ["sqrt", np.sqrt, 0, 100],
  ["sin", np.sin, -6, 6],
  ["cos", np.cos, -6, 6],
  ["tanh", np.tanh, -4, 4],
  ["sigmoid", lax.logistic, -8, 8],
  ["floor", np.floor, -9, 9],
  ["square", np.square, -200, 200],
  ["reciprocal", np.reciprocal, 0.1, 10],
  ["erf", lax.erf, -2, 2],
];

Deno.test(`f16 [${BACKEND}]: unary ops compute in f32 and round`, async () => {
  for (const [name, f, lo, hi] of UNARY) {
    const data = halfs(11, 64, lo, hi);
    const got = f(np.array(data, { dtype: "f16" }));
    assertEquals(got.dtype, "f16", name);
    const vs = await flat(got);
    assertAllHalf(vs, name);
    const want = await reference(f, [{ data, shape: [64] }]);
    // the cpu reference is the oracle: exact there; elsewhere the f32 result may differ by an
    // f32 ulp, which moves the f16 rounding by at most one f16 ulp
    assertUlps(vs, want, BACKEND === "cpu" ? 0 : 1, name);
  }
});

const BINARY: [string, (x: Tensor, y: Tensor) => Tensor, number, number][] = [
  ["add", np.add, -100, 100],
  ["subtract", np.subtract, -100, 100],
  ["multiply", np.multiply, -300, 300],
  ["divide", np.divide, 0.5, 40],
  ["power", np.power, 0.5, 3],
  ["maximum", np.maximum, -5, 5],
  ["minimum", np.minimum, -5, 5],
];

Deno.test(`f16 [${BACKEND}]: binary ops compute in f32 and round`, async () => {
  for (const [name, f, lo, hi] of BINARY) {
    const a = halfs(21, 48, lo, hi), b = halfs(22, 48, lo, hi);
    const got = f(np.array(a, { dtype: "f16" }), np.array(b, { dtype: "f16" }));
    assertEquals(got.dtype, "f16", name);
    const vs = await flat(got);
    assertAllHalf(vs, name);
    const want = await reference(f, [{ data: a, shape: [48] }, { data: b, shape: [48] }]);
    assertUlps(vs, want, BACKEND === "cpu" ? 0 : 1, name);
  }
  // overflow goes to infinity, as f16 does
  const big = np.multiply(np.array([300, -300], { dtype: "f16" }), 300);
  assertEquals(await flat(big), [Infinity, -Infinity]);
  // comparisons give bool
  const lt = np.less(np.array([1, 2], { dtype: "f16" }), 1.5);
  assertEquals([lt.dtype, await flat(lt)], ["bool", [1, 0]]);
});

Deno.test(`f16 [${BACKEND}]: reductions accumulate in f32 and round once`, async () => {
  // 4096 × 0.1 in f16: f32 accumulation gives 409.5; accumulating in f16 would stall at 256
  // (past 256 the f16 spacing is 0.25, more than twice each 0.1 added)
  const x = np.full([4096], 0.1, "f16");
  const s = np.sum(x);
  assertEquals(s.dtype, "f16");
  assertEquals(await s.item(), h(4096 * h(0.1)));
  assertEquals(await s.item(), 409.5);
  let naive = 0;
  for (let i = 0; i < 4096; i++) naive = h(naive + h(0.1));
  assert(naive <= 256, `naive f16 accumulation stalls (${naive})`);
  const m = np.mean(x);
  assertEquals([m.dtype, await m.item()], ["f16", h(409.5 / 4096)]);
  const data = halfs(5, 6 * 50, -3, 3);
  const t = np.array(data, { shape: [6, 50], dtype: "f16" });
  const want = await reference((a) => np.sum(a, { axis: 1 }), [{ data, shape: [6, 50] }]);
  assertUlps(await flat(np.sum(t, { axis: 1 })), want, BACKEND === "cpu" ? 0 : 1, "sum");
  const mx = await reference((a) => np.max(a, { axis: 0 }), [{ data, shape: [6, 50] }]);
  assertEquals(await flat(np.max(t, { axis: 0 })), mx);
  assertEquals(np.argmax(t, { axis: 1 }).dtype, "i32");
});

Deno.test(`f16 [${BACKEND}]: a length-4096 dot accumulates in f32`, async () => {
  const a = halfs(7, 4096, 0, 1), b = halfs(8, 4096, 0, 1);
  const d = np.dot(np.array(a, { dtype: "f16" }), np.array(b, { dtype: "f16" }));
  assertEquals(d.dtype, "f16");
  let exact = 0, naive = 0;
  for (let i = 0; i < 4096; i++) {
    exact += a[i] * b[i];
    naive = h(naive + h(a[i] * b[i]));
  }
  const got = await d.item() as number;
  // f32 accumulation then one rounding: within one f16 ulp of the exact sum's rounding
  assertUlps([got], [h(exact)], 1, "dot");
  // an f16 accumulator drifts by many ulps (its spacing reaches 0.5 past 512)
  assert(Math.abs(naive - exact) > 8 * ulp16(exact), `naive ${naive} vs exact ${exact}`);
});

Deno.test(`f16 [${BACKEND}]: matmul matches the f32 product rounded`, async () => {
  const a = halfs(31, 17 * 300, -1, 1), b = halfs(32, 300 * 23, -1, 1);
  const got = np.matmul(
    np.array(a, { shape: [17, 300], dtype: "f16" }),
    np.array(b, { shape: [300, 23], dtype: "f16" }),
  );
  assertEquals([got.dtype, got.shape], ["f16", [17, 23]]);
  const vs = await flat(got);
  assertAllHalf(vs, "matmul");
  const want = await reference(np.matmul, [
    { data: a, shape: [17, 300] },
    { data: b, shape: [300, 23] },
  ]);
  assertUlps(vs, want, 1, "matmul");
  // batched, with an f32 operand: promotes to f32
  const mixed = np.matmul(
    np.array(a.slice(0, 2 * 3 * 4), { shape: [2, 3, 4], dtype: "f16" }),
    np.ones([4, 5]),
  );
  assertEquals(mixed.dtype, "f32");
});

Deno.test(`f16 [${BACKEND}]: conv_general_dilated accumulates in f32`, async () => {
  // 256 input channels × 3×3 taps: 2304 products per output, all 0.1 × 0.1 (f16)
  const x = np.full([1, 256, 5, 5], 0.1, "f16");
  const w = np.full([4, 256, 3, 3], 0.1, "f16");
  const y = lax.convGeneralDilated(x, w, { padding: "VALID" });
  assertEquals([y.dtype, y.shape], ["f16", [1, 4, 3, 3]]);
  const one = h(0.1) * h(0.1);
  assertUlps(await flat(y), Array(36).fill(h(2304 * one)), 1, "conv");
  // random operands against the f32 convolution rounded
  const xd = halfs(41, 2 * 3 * 9 * 9, -1, 1), wd = halfs(42, 5 * 3 * 3 * 3, -1, 1);
  const conv = (p: Tensor, q: Tensor) =>
    lax.convGeneralDilated(p, q, { padding: "SAME", windowStrides: [2, 1] });
  const got = conv(
    np.array(xd, { shape: [2, 3, 9, 9], dtype: "f16" }),
    np.array(wd, { shape: [5, 3, 3, 3], dtype: "f16" }),
  );
  const want = await reference(conv, [
    { data: xd, shape: [2, 3, 9, 9] },
    { data: wd, shape: [5, 3, 3, 3] },
  ]);
  assertUlps(await flat(got), want, 1, "conv SAME");
});

/** Central differences of `f` in f32 at the f32 copy of `x0`. */
async function centralF32(f: (x: Tensor) => Tensor, x0: number[], shape: number[]) {
  const eps = 1e-2, out: number[] = [];
  for (let i = 0; i < x0.length; i++) {
    const p = x0.slice(), m = x0.slice();
    p[i] += eps;
    m[i] -= eps;
    const fp = await f(np.array(p, { shape })).item() as number;
    const fm = await f(np.array(m, { shape })).item() as number;
    out.push((fp - fm) / (2 * eps));
  }
  return out;
}

/** Gradients agree to f16 precision (relative to the largest component). */
function assertGradClose(got: number[], want: number[], what: string): void {
  const scale = Math.max(...want.map(Math.abs), 1e-3);
  for (let i = 0; i < got.length; i++) {
    assert(
      Math.abs(got[i] - want[i]) <= 2e-2 * scale,
      `${what}[${i}]: ${got[i]}, central difference ${want[i]}`,
    );
  }
}

Deno.test(`f16 [${BACKEND}]: grad through matmul, conv and unary ops`, async () => {
  const wd = halfs(51, 6 * 4, -1, 1);
  const W32 = np.array(wd, { shape: [6, 4] }), W16 = W32.astype("f16");
  const loss = (W: Tensor) => (x: Tensor) =>
    np.sum(np.tanh(np.matmul(x, x.dtype === "f16" ? W : W32)));
  const xd = halfs(52, 3 * 6, -1, 1);
  const x16 = np.array(xd, { shape: [3, 6], dtype: "f16" });
  const g = grad(loss(W16))(x16);
  assertEquals(g.dtype, "f16");
  const gv = await flat(g);
  assertAllHalf(gv, "grad matmul");
  assertGradClose(gv, await centralF32(loss(W32), xd, [3, 6]), "grad matmul");

  const kd = halfs(53, 2 * 3 * 3 * 3, -1, 1);
  const K32 = np.array(kd, { shape: [2, 3, 3, 3] }), K16 = K32.astype("f16");
  const closs = (x: Tensor) =>
    np.sum(np.square(lax.convGeneralDilated(x, x.dtype === "f16" ? K16 : K32, {
      padding: "SAME",
    })));
  const cd = halfs(54, 3 * 5 * 5, -1, 1);
  const gc = grad(closs)(np.array(cd, { shape: [1, 3, 5, 5], dtype: "f16" }));
  assertEquals(gc.dtype, "f16");
  assertGradClose(await flat(gc), await centralF32(closs, cd, [1, 3, 5, 5]), "grad conv");

  // the cotangent of a cast goes back in the operand's dtype
  const gcast = grad((t: Tensor) => np.sum(np.exp(t.astype("f32"))))(
    np.array([0.5, -1], { dtype: "f16" }),
  );
  assertEquals(gcast.dtype, "f16");
  assertUlps(await flat(gcast), [h(Math.exp(0.5)), h(Math.exp(-1))], 1, "grad cast");
});

Deno.test(`f16 [${BACKEND}]: jit and vmap equal eager`, async () => {
  const f = (x: Tensor, w: Tensor) => np.sum(np.maximum(np.matmul(x, w), 0), { axis: 1 });
  const x = np.array(halfs(61, 5 * 8), { shape: [5, 8], dtype: "f16" });
  const w = np.array(halfs(62, 8 * 3), { shape: [8, 3], dtype: "f16" });
  const eager = await flat(f(x, w));
  const jf = jit(f);
  const j1 = jf(x, w);
  assertEquals(j1.dtype, "f16");
  assertEquals(await flat(j1), eager);
  assertEquals(await flat(jf(x, w)), eager); // the cached executable
  // a static JS number stays weak: f16 * 2.5 → f16
  const scale = jit((t: Tensor, s: number) => np.multiply(t, s), { staticArgnums: 1 });
  assertEquals(scale(x, 2.5).dtype, "f16");
  assertEquals(await flat(scale(x, 2.5)), await flat(np.multiply(x, 2.5)));
  const gj = jit(grad((t: Tensor) => np.sum(np.sin(t))))(x);
  assertEquals(await flat(gj), await flat(grad((t: Tensor) => np.sum(np.sin(t)))(x)));
  const vm = vmap((row: Tensor) => np.dot(row, row))(x);
  assertEquals(vm.dtype, "f16");
  assertUlps(
    await flat(vm),
    await Promise.all([0, 1, 2, 3, 4].map(async (i) => {
      const r = (await flat(x)).slice(8 * i, 8 * i + 8);
      return h(r.reduce((s, v) => s + v * v, 0));
    })),
    1,
    "vmap dot",
  );
});

Deno.test(`f16 [${BACKEND}]: primitives without an f16 form name the op and dtype`, () => {
  const x = np.ones([2, 2], "f16");
  assertThrows(() => lax.bitcast(x, "i32"), TypeError, "bitcast does not support dtype f16");
  assertThrows(() => np.linalg.cholesky(x), TypeError, "f16");
  assertThrows(
    () => random.uniform(random.key(0), [2], { dtype: "f16" }),
    TypeError,
    "random.uniform does not support dtype f16",
  );
});

Deno.test(`f16 [${BACKEND}]: checkpoints store F16 and load back into f16 leaves`, async () => {
  const p = { w: np.array([0.1, -2, 65504], { dtype: "f16" }) };
  const bytes = await encodeCheckpoint(p);
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  await Deno.writeFile(path, bytes);
  const back = await loadInto(path, { w: np.zeros([3], "f16") });
  await Deno.remove(path);
  assert(back._tag === "Right", back._tag === "Left" ? back.left.message : "");
  const w = (back.right as { w: Tensor }).w;
  assertEquals([w.dtype, await flat(w)], ["f16", await flat(p.w)]);
  const plain = decodeCheckpoint(bytes);
  assert(plain._tag === "Right");
  assertEquals((plain.right as { w: Tensor }).w.dtype, "f32"); // PyTorch's halves load as f32
});
