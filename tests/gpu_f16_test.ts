/**
 * f16 on WebGPU, in both storages: 2-byte f16 (`shader-f16`; the default where the device has
 * it) and the f32-held fallback (`f16: "f32"`, or `DENAX_GPU_F16=0`). The bytes of an f16 array
 * halve; elementwise ops, reductions, matmul, convolution, gradients and fused `jit` give the
 * cpu reference's bits (f32 arithmetic rounded to f16 after every primitive, ties to even) at
 * rounding boundaries: ties, the overflow threshold, subnormals, signed zeros and NaN. Run it
 * under `DENAX_GPU_PROFILE=gpu` too for the path real GPUs take.
 */
import { assert, assertEquals } from "@std/assert";
import { grad, jit, lax, np, type Tensor } from "../mod.ts";
import { type Backend, setBackend } from "../core/backend.ts";
import { createCpuBackend } from "../core/cpu.ts";
import {
  createWebGpuBackend,
  type WebGpuArray,
  webgpuAvailable,
  type WebGpuBackend,
} from "../gpu/backend.ts";
import { countKernels, lastCompiled } from "../gpu/jit/mod.ts";
import type { ConvOptions } from "../core/lax_conv.ts";
import { rng } from "./helpers.ts";

const HAS_GPU = await webgpuAvailable();
const cpu = createCpuBackend();
const h = Math.f16round;

const _backends = new Map<string, WebGpuBackend>();
/** The webgpu backend with f16 `storage` (made current), or null where the device lacks it. */
async function gpu(storage: "f16" | "f32"): Promise<WebGpuBackend | null> {
  let b = _backends.get(storage);
  if (!b) {
    b = await createWebGpuBackend({ f16: storage === "f16" ? "auto" : "f32", autotune: false });
    _backends.set(storage, b);
  }
  if (storage === "f16" && !b.storesF16) return null;
  setBackend(b);
  return b;
}

/** The f16 bit patterns of values (±0 and ±Infinity distinguished; every NaN as 0x7e00). */
function bits16(vs: ArrayLike<number>): number[] {
  const u = new Uint16Array(vs.length);
  new Float16Array(u.buffer).set(vs);
  return Array.from(u, (b, i) => (Number.isNaN(vs[i]) ? 0x7e00 : b));
}

/** The f32 bit patterns of values (every NaN as 0x7fc00000). */
function bits32(vs: ArrayLike<number>): number[] {
  const u = new Uint32Array(Float32Array.from(vs).buffer);
  return Array.from(u, (b, i) => (Number.isNaN(vs[i]) ? 0x7fc00000 : b));
}

/** Runs `f` on f16 tensors made from `args` on `backend` and reads the results' bits. */
async function run(
  backend: Backend,
  f: (...xs: Tensor[]) => Tensor | Tensor[],
  args: readonly { data: number[]; shape: number[] }[],
): Promise<number[][]> {
  setBackend(backend);
  const xs = args.map((a) => np.array(a.data, { shape: a.shape, dtype: "f16" }));
  const r = f(...xs);
  const outs = Array.isArray(r) ? r : [r];
  return await Promise.all(
    outs.map(async (o) => {
      const d = await o.data();
      return o.dtype === "f16" ? bits16(d) : o.dtype === "f32" ? bits32(d) : Array.from(d, Number);
    }),
  );
}

/** Asserts `f` gives the cpu reference's bits on the webgpu backend with `storage`. */
async function assertSameBits(
  storage: "f16" | "f32",
  what: string,
  f: (...xs: Tensor[]) => Tensor | Tensor[],
  args: readonly { data: number[]; shape: number[] }[],
): Promise<void> {
  const g = await gpu(storage);
  if (!g) return;
  const want = await run(cpu, f, args);
  const got = await run(g, f, args);
  for (let k = 0; k < want.length; k++) {
    for (let i = 0; i < want[k].length; i++) {
      if (got[k][i] !== want[k][i]) {
        throw new Error(
          `${what} [${storage} storage] result ${k}[${i}]: bits ${got[k][i]}, expected ${
            want[k][i]
          }`,
        );
      }
    }
  }
}

/** f16 operands at rounding boundaries: each pair's sum, difference or product is a tie. */
function boundaryPairs(): { a: number[]; b: number[] } {
  const a: number[] = [], b: number[] = [];
  const r = rng(11);
  for (let k = 2048; k < 2048 + 64; k++) a.push(k), b.push(k % 2 ? 1 : 3); // ties above 2048
  for (let k = 0; k < 64; k++) {
    // (1 + k·2^-10)·(1 + 2^-10) is k·2^-20 past an f16 value: near a boundary, not on it
    a.push(h(1 + k * 2 ** -10)), b.push(h(1 + 2 ** -10));
  }
  a.push(65504, 65504, -65504, 2 ** -24, 2 ** -24, -0, 0, NaN, Infinity, -Infinity, 2 ** -14);
  b.push(16, 8, -8, 2 ** -1, 3 * 2 ** -1, 0, -0, 1, 1, 2, -(2 ** -24));
  for (let k = 0; k < 150; k++) a.push(h((r() - 0.5) * 8)), b.push(h((r() - 0.5) * 8));
  return { a, b };
}

for (const storage of ["f16", "f32"] as const) {
  const name = (s: string) => `f16 on webgpu [${storage} storage]: ${s}`;

  Deno.test({
    name: name("an f16 array takes 2 bytes an element (4 when held as f32)"),
    ignore: !HAS_GPU,
    async fn() {
      const g = await gpu(storage);
      if (!g) return;
      const n = 1 << 20;
      const x = np.zeros([n], "f16"), y = np.zeros([n], "f32");
      const bx = x._buf as WebGpuArray, by = y._buf as WebGpuArray;
      assertEquals(bx.bytes, storage === "f16" ? 2 * n : 4 * n);
      assertEquals(by.bytes, 4 * n);
      assertEquals(bx.buffer.size, storage === "f16" ? by.buffer.size / 2 : by.buffer.size);
      // odd lengths pad to 4 bytes, and read back exactly
      const odd = np.array([1.5, -2.25, 65504], { dtype: "f16" });
      assertEquals((odd._buf as WebGpuArray).bytes, storage === "f16" ? 8 : 12);
      assertEquals(await odd.toArray(), [1.5, -2.25, 65504]);
      // a result of an f16 op is f16 storage too
      const s = x.add(1);
      assertEquals((s._buf as WebGpuArray).bytes, storage === "f16" ? 2 * n : 4 * n);
      await s.data();
      for (const t of [x, y, odd, s]) t[Symbol.dispose]();
    },
  });

  Deno.test({
    name: name("elementwise ops give the reference's bits at rounding boundaries"),
    ignore: !HAS_GPU,
    async fn() {
      const { a, b } = boundaryPairs();
      const args = [{ data: a, shape: [a.length] }, { data: b, shape: [b.length] }];
      const ops: [string, (x: Tensor, y: Tensor) => Tensor | Tensor[]][] = [
        ["add", (x, y) => np.add(x, y)],
        ["subtract", (x, y) => np.subtract(x, y)],
        ["multiply", (x, y) => np.multiply(x, y)],
        ["max/min/neg/abs", (x, y) => [np.maximum(x, y), np.minimum(x, y), np.abs(np.negative(x))]],
        ["compare and where", (x, y) => [np.less(x, y), np.where(np.greater(x, y), x, y)]],
        ["with weak scalars", (x) => [x.mul(1.5), x.add(0.1), np.square(x)]],
        ["floor, ceil, isnan", (x) => [np.floor(x.mul(0.75)), np.ceil(x.mul(0.3)), np.isnan(x)]],
        ["casts", (x) => [
          x.astype("f32"),
          // NaN and ±Infinity to i32 are undefined (in WGSL and in JAX alike)
          np.where(np.isfinite(x), x, 0).astype("i32").astype("f16"),
          x.astype("bool"),
        ]],
        ["f32 to f16", (x, y) => x.astype("f32").mul(y.astype("f32")).add(1e-4).astype("f16")],
      ];
      for (const [what, f] of ops) await assertSameBits(storage, what, f, args);
      // a length that is not a multiple of 4 (the vec4<f16> lanes' tail)
      await assertSameBits(storage, "odd length", (x, y) => x.add(y), [
        { data: a.slice(0, 7), shape: [7] },
        { data: b.slice(0, 7), shape: [7] },
      ]);
    },
  });

  Deno.test({
    name: name("reductions, matmul and convolution round once, as the reference"),
    ignore: !HAS_GPU,
    async fn() {
      // integer data: every f32 partial sum is exact in any order, so the one rounding to f16
      // is the whole difference, and sums past 2048 are ties (odd integers) half the time
      const r = rng(21);
      const ints = (n: number, lo: number, hi: number) =>
        Array.from({ length: n }, () => lo + Math.floor((hi - lo) * r()));
      const x = ints(6 * 400, 0, 24);
      await assertSameBits(storage, "sum/max/mean", (t) => [
        np.sum(t, { axis: 1 }),
        np.max(t, { axis: 0 }),
        np.sum(t),
        np.mean(t.mul(0.5), { axis: 1 }),
      ], [{ data: x, shape: [6, 400] }]);
      const a = ints(9 * 300, -8, 9), b = ints(300 * 13, 0, 9);
      await assertSameBits(storage, "matmul", (p, q) => [np.matmul(p, q), np.matmul(q.T, p.T)], [
        { data: a, shape: [9, 300] },
        { data: b, shape: [300, 13] },
      ]);
      // dense rows of 256-byte multiples (copied into f16 textures on CPU adapters)
      await assertSameBits(storage, "matmul, dense", (p, q) => np.matmul(p, q), [
        { data: ints(8 * 256, -8, 9), shape: [8, 256] },
        { data: ints(256 * 128, 0, 9), shape: [256, 128] },
      ]);
      const xs = ints(2 * 64 * 7 * 7, 0, 9), ws = ints(5 * 64 * 3 * 3, -4, 5);
      await assertSameBits(
        storage,
        "conv",
        (p, q) => lax.convGeneralDilated(p, q, { padding: "SAME", windowStrides: [2, 1] }),
        [{ data: xs, shape: [2, 64, 7, 7] }, { data: ws, shape: [5, 64, 3, 3] }],
      );
    },
  });

  Deno.test({
    name: name("convolution and both its gradients give the reference's bits"),
    ignore: !HAS_GPU,
    async fn() {
      // integer data: the f32 sums are exact in any order, the one rounding to f16 is the whole
      // difference (sums pass 2048, where half the integers are ties)
      const r = rng(51);
      const ints = (n: number, lo: number, hi: number) =>
        Array.from({ length: n }, () => lo + Math.floor((hi - lo) * r()));
      const cases: [string, number[], number[], ConvOptions][] = [
        ["stride 2x1, SAME", [2, 16, 7, 7], [5, 16, 3, 3], {
          padding: "SAME",
          windowStrides: [2, 1],
        }],
        ["feature groups 2, rhs dilation, uneven padding", [2, 6, 9, 8], [4, 3, 3, 2], {
          padding: [[1, 0], [0, 2]],
          rhsDilation: [2, 1],
          featureGroupCount: 2,
        }],
        ["depthwise, stride 2", [1, 4, 8, 8], [4, 1, 3, 3], {
          padding: "SAME",
          windowStrides: [2, 2],
          featureGroupCount: 4,
        }],
        ["1-d, stride 3", [3, 5, 20], [6, 5, 4], { padding: "VALID", windowStrides: [3] }],
        ["3-d", [1, 3, 5, 4, 4], [2, 3, 2, 3, 2], { padding: "SAME" }],
        ["lhs dilation", [2, 3, 5, 5], [4, 3, 3, 3], {
          padding: [[2, 2], [1, 2]],
          lhsDilation: [2, 2],
        }],
        ["batch groups 2", [4, 3, 5, 5], [6, 3, 3, 3], { padding: "VALID", batchGroupCount: 2 }],
      ];
      for (const [what, xs, ws, opts] of cases) {
        const conv = (x: Tensor, w: Tensor) => lax.convGeneralDilated(x, w, opts);
        const os = cpuConvShape(xs, ws, opts);
        const n = (s: number[]) => s.reduce((p, q) => p * q, 1);
        await assertSameBits(storage, `conv ${what}`, (x, w, g) => [
          conv(x, w),
          // the input gradient and the kernel gradient: convolutions of their own
          ...grad((p: Tensor, q: Tensor) => np.sum(conv(p, q).mul(g)), { argnums: [0, 1] })(x, w),
        ], [
          { data: ints(n(xs), -2, 25), shape: xs },
          { data: ints(n(ws), -4, 5), shape: ws },
          { data: ints(n(os), -3, 4), shape: os },
        ]);
      }
    },
  });

  Deno.test({
    name: name("reductions read f16 and round once, as the reference"),
    ignore: !HAS_GPU,
    async fn() {
      const r = rng(61);
      const x = Array.from({ length: 5 * 7 * 33 }, () => Math.floor(r() * 300) - 20);
      await assertSameBits(storage, "sum, max, min, argmax, argmin over axes", (t) => [
        np.sum(t, { axis: 2 }),
        np.sum(t, { axis: [0, 2] }),
        np.sum(t.mul(16)),
        np.max(t, { axis: 1 }),
        np.min(t, { axis: [0, 1] }),
        np.argmax(t, { axis: 2 }),
        np.argmin(t, { axis: 0 }),
        np.mean(t, { axis: 0 }),
      ], [{ data: x, shape: [5, 7, 33] }]);
      // max and min of values at the edges: every result is an operand
      const { a } = boundaryPairs();
      const edge = a.slice(0, 8 * 40).filter((v) => !Number.isNaN(v) && !Object.is(v, -0));
      const m = edge.length - (edge.length % 8);
      await assertSameBits(storage, "max and min at the edges", (t) => [
        np.max(t, { axis: 1 }),
        np.min(t, { axis: 0 }),
        np.argmax(t, { axis: 1 }),
      ], [{ data: edge.slice(0, m), shape: [8, m / 8] }]);
      // a long contraction: split along K on discrete GPUs
      const p = Array.from({ length: 3 * 8192 }, () => Math.floor(r() * 9) - 4);
      const q = Array.from({ length: 8192 * 5 }, () => Math.floor(r() * 9));
      await assertSameBits(storage, "matmul, long K", (u, v) => np.matmul(u, v), [
        { data: p, shape: [3, 8192] },
        { data: q, shape: [8192, 5] },
      ]);
    },
  });

  Deno.test({
    name: name("movement ops keep every bit of their f16 operands"),
    ignore: !HAS_GPU,
    async fn() {
      const { a, b } = boundaryPairs();
      // the edge values (±0, NaN, ±Infinity, subnormals, 65504) among the first 150
      const v = [...a.slice(128), ...b].slice(0, 6 * 50);
      const args = [{ data: v, shape: [6, 50] }];
      await assertSameBits(storage, "transpose, slice, rev, broadcast", (t) => [
        t.T,
        lax.slice(t, [1, 3], [6, 47], [2, 3]),
        lax.rev(t, [1]),
        np.broadcastTo(t.reshape([6, 1, 50]), [6, 3, 50]),
        np.moveaxis(t.reshape([2, 3, 50]), 0, 2),
      ], args);
      await assertSameBits(storage, "pad, concatenate, take, tile", (t) => [
        lax.pad(t, np.array(-0.5, { dtype: "f16" }), [1, -2], [0, 3], [1, 0]),
        np.concatenate([t, t.mul(0.5), lax.slice(t, [2, 0], [6, 50])], 0),
        np.take(t, np.array([5, 0, 3, 3], { dtype: "i32" }), { axis: 0 }),
        np.tile(t.reshape([300]).reshape([3, 100]), [2, 1]),
      ], args);
    },
  });

  Deno.test({
    name: name("gradients give the reference's bits"),
    ignore: !HAS_GPU,
    async fn() {
      const r = rng(31);
      const ints = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 7) - 3);
      const loss = (x: Tensor, w: Tensor) => np.sum(np.square(np.matmul(x, w)).mul(0.5));
      await assertSameBits(
        storage,
        "grad matmul",
        (x, w) => grad(loss, { argnums: [0, 1] })(x, w),
        [
          { data: ints(5 * 40), shape: [5, 40] },
          { data: ints(40 * 6), shape: [40, 6] },
        ],
      );
      const closs = (x: Tensor, k: Tensor) =>
        np.sum(np.maximum(lax.convGeneralDilated(x, k, { padding: "SAME" }), 0));
      const convArgs = [
        { data: ints(2 * 3 * 6 * 6), shape: [2, 3, 6, 6] },
        { data: ints(4 * 3 * 3 * 3), shape: [4, 3, 3, 3] },
      ];
      const gconv = grad(closs, { argnums: [0, 1] });
      await assertSameBits(storage, "grad conv", (x, k) => gconv(x, k), convArgs);
      // jitted (its f16 inputs and results bound directly where its kernels allow), twice
      const jconv = jit(gconv);
      await assertSameBits(storage, "grad conv, jit", (x, k) => jconv(x, k), convArgs);
      await assertSameBits(storage, "grad conv, jit again", (x, k) => jconv(x, k), convArgs);
    },
  });

  Deno.test({
    name: name("scan, whileLoop and reshapes give the reference's bits, eager and jitted"),
    ignore: !HAS_GPU,
    async fn() {
      const prog = (x: Tensor) => {
        const step = (c: Tensor, v: Tensor): [Tensor, Tensor] => {
          const n = c.mul(1.1).add(v);
          return [n, n.mul(0.3)];
        };
        const [c, ys] = lax.scan(step, np.zeros([3], "f16"), x.reshape([5, 3]));
        const grow = (s: Tensor) => s.mul(1.7).add(0.1);
        const w = lax.whileLoop((s: Tensor) => np.less(np.sum(s), 500), grow, c);
        return [c, ys.reshape([15]), w];
      };
      const args = [{ data: Array.from({ length: 15 }, (_, i) => h(i * 0.37)), shape: [15] }];
      await assertSameBits(storage, "control flow", prog, args);
      await assertSameBits(storage, "control flow, jit", jit(prog), args);
    },
  });

  Deno.test({
    name: name("jit fuses an f16 chain into one kernel that rounds after every op"),
    ignore: !HAS_GPU,
    async fn() {
      const g = await gpu(storage);
      if (!g) return;
      const r = rng(41);
      const data = Array.from({ length: 4099 }, () => h((r() - 0.5) * 6));
      const f = (x: Tensor) => x.mul(1.7).add(0.3).mul(x).sub(x.mul(0.25)).mul(x);
      const x = np.array(data, { dtype: "f16" });
      const jf = jit(f);
      const y = jf(x);
      assertEquals(y.dtype, "f16");
      assertEquals(countKernels(lastCompiled()!.program), 1, "one fused kernel");
      const got = bits16(await y.data());
      assertEquals(got, bits16(await f(x).data()), "jit equals eager");
      assertEquals(got, (await run(cpu, f, [{ data, shape: [4099] }]))[0], "jit equals cpu");
      // rounding only the chain's end would differ: the test sees the per-op roundings
      const once = data.map((v) => {
        const m = (p: number, q: number) => Math.fround(p * q);
        const t = Math.fround(m(Math.fround(m(v, Math.fround(1.7)) + Math.fround(0.3)), v));
        return h(m(Math.fround(t - m(v, 0.25)), v));
      });
      assert(bits16(once).some((b, i) => b !== got[i]), "rounding once differs somewhere");
      setBackend(g);
      // a program with matmul, a reduction and transcendental ops equals eager, bit for bit
      const p = (a: Tensor, w: Tensor) =>
        np.sum(np.tanh(np.matmul(a, w)).mul(a.sum()), { axis: 1 });
      const a = np.array(data.slice(0, 5 * 8), { shape: [5, 8], dtype: "f16" });
      const w = np.array(data.slice(100, 124), { shape: [8, 3], dtype: "f16" });
      const jp = jit(p)(a, w);
      assert(lastCompiled() !== null && countKernels(lastCompiled()!.program) >= 1);
      assertEquals(bits16(await jp.data()), bits16(await p(a, w).data()));
      // jit of grad
      const gl = grad((t: Tensor) => np.sum(np.sin(t).mul(t)));
      assertEquals(bits16(await jit(gl)(x).data()), bits16(await gl(x).data()));
    },
  });

  Deno.test({
    name: name("random f16 programs give eager's bits jitted, donated or not"),
    ignore: !HAS_GPU,
    async fn() {
      if (!(await gpu(storage))) return;
      const r = rng(47);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
      type Op = (a: Tensor, b: Tensor) => Tensor;
      const ops: Op[] = [
        (a) => np.tanh(a),
        (a) => a.mul(1.3).add(0.2),
        (a) => np.maximum(a, 0),
        (a) => a.T,
        (a) => np.sum(a, { axis: 1, keepdims: true }).add(a),
        (a) => np.max(a, { axis: 0, keepdims: true }).sub(a),
        (a) => np.matmul(a, a.T).mul(0.05),
        (a) => np.sum(np.concatenate([a, a.mul(2)], 0).reshape([2, ...a.shape]), { axis: 0 }),
        (a) => np.where(np.greater(a, 0), a, a.mul(0.5)),
        (a) => np.flip(a, 1),
        (a, b) => a.add(b),
        (a, b) => np.maximum(a, b),
        (a, b) => np.matmul(a, b.T).mul(0.1),
      ];
      // two GEMMs that differ in a literal share one pipeline (its literals from a uniform
      // declared at the top, which must come after the kernel's `enable f16;`)
      const two = (x: Tensor, y: Tensor) => [
        np.matmul(x, y).mul(0.05).add(x),
        np.matmul(y, x).mul(0.1).add(y),
      ];
      const sq = (k: number) =>
        np.array(Array.from({ length: 64 }, (_, i) => h(((i * (7 + k)) % 13) / 4 - 1.5)), {
          shape: [8, 8],
          dtype: "f16",
        });
      const want2 = two(sq(0), sq(1)), got2 = jit(two)(sq(0), sq(1));
      for (let k = 0; k < 2; k++) {
        assertEquals(bits16(await got2[k].data()), bits16(await want2[k].data()));
      }
      for (let trial = 0; trial < 12; trial++) {
        const n = pick([4, 8, 33]);
        const plan = Array.from({ length: 2 + Math.floor(r() * 4) }, () => ({
          op: pick(ops),
          i: Math.floor(r() * 8),
          j: Math.floor(r() * 8),
        }));
        const donate = trial % 3 === 2;
        const f = (x: Tensor, y: Tensor) => {
          const vals = [x, y];
          for (const p of plan) vals.push(p.op(vals[p.i % vals.length], vals[p.j % vals.length]));
          const last = vals.at(-1)!;
          return donate ? [last, x.sub(last.mul(0.1))] : [last, vals.at(-2)!];
        };
        const xd = Array.from({ length: n * n }, () => h((r() - 0.5) * 4));
        const yd = Array.from({ length: n * n }, () => h((r() - 0.5) * 4));
        const args = () => [
          np.array(xd, { shape: [n, n], dtype: "f16" }),
          np.array(yd, { shape: [n, n], dtype: "f16" }),
        ];
        const [x0, y0] = args();
        const want = await Promise.all(f(x0, y0).map(async (t) => bits16(await t.data())));
        const [x1, y1] = args();
        const jf = jit(f, donate ? { donateArgnums: 0 } : {});
        const got = await Promise.all(jf(x1, y1).map(async (t) => bits16(await t.data())));
        assertEquals(got, want, `trial ${trial}: n ${n}, ${plan.length} ops`);
      }
    },
  });

  Deno.test({
    name: name("jit keeps f16 values in 2 bytes: inputs, results and intermediates"),
    ignore: !HAS_GPU || storage !== "f16",
    async fn() {
      const g = await gpu(storage);
      if (!g) return;
      const r = rng(43);
      const data = Array.from({ length: 4099 }, () => h((r() - 0.5) * 6));
      const x = np.array(data, { dtype: "f16" });
      const f = (t: Tensor) => t.mul(1.7).add(0.3).mul(t);
      const jf = jit(f);
      await jf(x).data(); // compiled
      const { inAvals, outAvals, slots } = lastCompiled()!.program;
      assertEquals([inAvals[0].dtype, outAvals[0].dtype], ["f16", "f16"], "bound directly");
      assert(slots.some((s) => s.kind === "out" && s.bytes === Math.ceil(4099 / 2) * 4));
      const before = g.runtime.stats.dispatches;
      const y = jf(x);
      assertEquals(g.runtime.stats.dispatches - before, 0, "no widening or rounding kernel");
      assertEquals(y.dtype, "f16");
      assertEquals((y._buf as WebGpuArray).bytes, Math.ceil(4099 / 2) * 4);
      assertEquals(bits16(await y.data()), bits16(await f(x).data()), "jit equals eager");
      // an SGD update that donates its f16 parameter: the result takes over the buffer
      const upd = jit((w: Tensor, d: Tensor) => w.sub(d.mul(0.1)), { donateArgnums: 0 });
      const w0 = np.array(data.slice(0, 1024), { dtype: "f16" });
      const d = np.array(data.slice(1024, 2048), { dtype: "f16" });
      const want = bits16(await w0.sub(d.mul(0.1)).data());
      const w1 = upd(w0, d);
      assertEquals(bits16(await w1.data()), want);
      const q = lastCompiled()!.program;
      assertEquals([q.inAvals[1].dtype, q.outAvals[0].dtype], ["f16", "f16"], "updated in place");
      // matmul, a reduction and a result used twice keep eager's bits whichever inputs bind
      const p = (a: Tensor, b: Tensor) => {
        const m = np.tanh(np.matmul(a, b));
        return [m, np.sum(m.mul(a.sum()), { axis: 1 }), m];
      };
      const a = np.array(data.slice(0, 5 * 8), { shape: [5, 8], dtype: "f16" });
      const b = np.array(data.slice(100, 124), { shape: [8, 3], dtype: "f16" });
      const got = jit(p)(a, b), ref = p(a, b);
      for (let k = 0; k < 3; k++) {
        assertEquals(got[k].dtype, "f16");
        assertEquals(bits16(await got[k].data()), bits16(await ref[k].data()), `result ${k}`);
      }
      // a two-layer convolution's kernel gradients: 2-byte intermediates, eager's bits
      const layer = (t: Tensor, k: Tensor) =>
        np.maximum(lax.convGeneralDilated(t, k, { padding: "SAME" }), 0);
      const closs = (t: Tensor, k1: Tensor, k2: Tensor) => np.sum(np.tanh(layer(layer(t, k1), k2)));
      const cstep = grad(closs, { argnums: [1, 2] });
      const scratch = (dt: "f16" | "f32") => {
        const t = np.array(data.slice(0, 2 * 8 * 256), { shape: [2, 8, 16, 16], dtype: dt });
        const k1 = np.array(data.slice(0, 16 * 72).map((v) => v / 16), {
          shape: [16, 8, 3, 3],
          dtype: dt,
        });
        const k2 = np.array(data.slice(9, 9 + 16 * 144).map((v) => v / 32), {
          shape: [16, 16, 3, 3],
          dtype: dt,
        });
        const out = jit(cstep)(t, k1, k2);
        const q = lastCompiled()!.program;
        const bytes = q.slots.reduce((n, s) => n + (s.kind === "scratch" ? s.bytes : 0), 0);
        return { out, bytes, q, ref: cstep(t, k1, k2) };
      };
      const c16 = scratch("f16"), c32 = scratch("f32");
      for (let k = 0; k < 2; k++) {
        assertEquals(bits16(await c16.out[k].data()), bits16(await c16.ref[k].data()));
      }
      assert(c16.q.outAvals.every((a) => a.dtype === "f16"), "results written as f16");
      assert(
        c16.bytes <= 0.7 * c32.bytes,
        `f16 intermediates ${c16.bytes} bytes against f32's ${c32.bytes}`,
      );
      // f16 and f32 inputs and results mixed
      const mixed = (t: Tensor, s: Tensor) => [t.astype("f32").mul(s), t.mul(2)];
      const s32 = np.array(data.slice(0, 4099).map((v) => v * 0.5));
      const [m32, m16] = jit(mixed)(x, s32);
      const [r32, r16] = mixed(x, s32);
      assertEquals([m32.dtype, m16.dtype], ["f32", "f16"]);
      assertEquals(Array.from(await m32.data()), Array.from(await r32.data()));
      assertEquals(bits16(await m16.data()), bits16(await r16.data()));
    },
  });
}

/** The output shape of a convolution (the cpu reference's, from a zero-size-free probe). */
function cpuConvShape(xs: number[], ws: number[], opts: ConvOptions): number[] {
  setBackend(cpu);
  return lax.convGeneralDilated(np.zeros(xs, "f16"), np.zeros(ws, "f16"), opts).shape.slice();
}
