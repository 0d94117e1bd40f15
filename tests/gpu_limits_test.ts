/**
 * Kernels at sizes past the device limits that tile or split work: 65535 workgroups per
 * dispatch dimension (grids are folded into 2-D) and 65535 loop iterations per invocation
 * (llvmpipe, the software adapter, silently ends longer loops). Every result is compared
 * with the cpu reference backend on the same host data, eagerly and under `jit`.
 *
 * Each size is the smallest that crosses the limit it targets, since the software adapter
 * is slow.
 */
import { BACKEND, withCpu } from "./backend.ts";
import { assertAllClose, assertEquals } from "@std/assert";
import { jit, lax, np, type Tensor } from "../mod.ts";
import { rng } from "./helpers.ts";

/** The per-invocation loop limit of llvmpipe (and the per-dimension workgroup limit). */
const LIMIT = 65535;

/** Random f32 data in [-1, 1). */
function randn(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let k = 0; k < n; k++) a[k] = 2 * r() - 1;
  return a;
}

/** `fn` of tensors made from `data` on the current backend and on cpu: both results. */
async function both(
  fn: (...xs: Tensor[]) => Tensor,
  data: { a: Float32Array | Int32Array; shape: number[] }[],
): Promise<[Float32Array | Int32Array, Float32Array | Int32Array]> {
  const make = () => data.map((d) => np.array(d.a, { shape: d.shape }));
  const want = await withCpu(() => fn(...make())).data() as Float32Array | Int32Array;
  const got = await fn(...make()).data() as Float32Array | Int32Array;
  return [got, want];
}

/** The first index where `got` and `want` differ (NaN equal to NaN), or -1. */
function firstMismatch(got: ArrayLike<number>, want: ArrayLike<number>): number {
  for (let k = 0; k < want.length; k++) {
    if (got[k] !== want[k] && !(Number.isNaN(got[k]) && Number.isNaN(want[k]))) return k;
  }
  return got.length === want.length ? -1 : want.length;
}

Deno.test(`[${BACKEND}] cumsum, cumprod and cummax of 70000 elements match cpu past index 65535`, async () => {
  const n = 70000;
  const ones = new Float32Array(n).fill(1);
  const signs = new Float32Array(n).map((_, k) => (k % 9973 === 0 ? -1 : 1));
  const x = randn(n, 1);
  const cases: [string, (t: Tensor) => Tensor, Float32Array][] = [
    ["cumsum", (t) => np.cumsum(t), ones],
    ["cumsum reverse", (t) => lax.cumsum(t, 0, true), ones],
    ["cumprod", (t) => np.cumprod(t), signs],
    ["cummax", (t) => np.cummax(t), x],
  ];
  for (const [name, f, a] of cases) {
    for (const [mode, g] of [["eager", f], ["jit", jit(f)]] as const) {
      const [got, want] = await both(g, [{ a, shape: [n] }]);
      assertEquals(firstMismatch(got, want), -1, `${name} (${mode})`);
    }
  }
  const [got] = await both((t) => np.cumsum(t), [{ a: ones, shape: [n] }]);
  assertEquals([got[LIMIT - 1], got[LIMIT], got[n - 1]], [LIMIT, LIMIT + 1, n]);
});

Deno.test(`[${BACKEND}] cumulative scans along a long middle or leading axis match cpu`, async () => {
  const a = randn(2 * 4500 * 3, 2);
  for (const [shape, axis] of [[[2, 4500, 3], 1], [[6000, 2], 0]] as const) {
    const data = a.subarray(0, shape.reduce((p, q) => p * q, 1));
    for (const rev of [false, true]) {
      const f = (t: Tensor) => lax.cummax(t, axis, rev);
      const [got, want] = await both(f, [{ a: data, shape: [...shape] }]);
      assertEquals(firstMismatch(got, want), -1, `cummax [${shape}] axis ${axis} reverse ${rev}`);
      const g = (t: Tensor) => lax.cumsum(t, axis, rev);
      const [gs, ws] = await both(g, [{ a: data, shape: [...shape] }]);
      assertAllClose(gs, ws, { rtol: 1e-4, atol: 1e-3 });
    }
  }
});

Deno.test(`[${BACKEND}] elementwise ops over more than 65535 workgroups of 64 match cpu`, async () => {
  const n = LIMIT * 64 + 3 + 64;
  const a = randn(n, 3), b = randn(n, 4);
  const f = (x: Tensor, y: Tensor) => np.add(np.multiply(x, y), 1);
  for (const g of [f, jit(f)]) {
    const [got, want] = await both(g, [{ a, shape: [n] }, { a: b, shape: [n] }]);
    assertEquals(firstMismatch(got, want), -1);
  }
});

Deno.test(`[${BACKEND}] take of more than 65535 * 64 indices matches cpu`, async () => {
  const n = LIMIT * 64 + 67;
  const idx = new Int32Array(n).map((_, k) => (k * 7919) % 1000);
  const table = randn(1000, 5);
  const [got, want] = await both((t, i) => np.take(t, i), [
    { a: table, shape: [1000] },
    { a: idx, shape: [n] },
  ]);
  assertEquals(firstMismatch(got, want), -1);
});

Deno.test(`[${BACKEND}] argmax and max of an axis longer than 65535 * 256 match cpu`, async () => {
  const n = LIMIT * 256 + 300;
  const a = randn(n, 6);
  a[n - 5] = 7; // past every invocation's first 65535 strided visits
  for (const f of [(t: Tensor) => np.argmax(t), (t: Tensor) => np.max(t)]) {
    const [got, want] = await both(f, [{ a, shape: [n] }]);
    assertEquals([...got], [...want]);
  }
});

Deno.test(`[${BACKEND}] sort of a 70000-element axis matches cpu`, async () => {
  const n = 70000;
  const a = randn(n, 7);
  const [got, want] = await both((t) => np.sort(t), [{ a, shape: [n] }]);
  assertEquals(firstMismatch(got, want), -1);
});

Deno.test(`[${BACKEND}] reduce_window over a 70000-element window matches cpu`, async () => {
  const a = randn(2 * 280 * 250, 8);
  for (const op of ["max", "sum"] as const) {
    const f = (t: Tensor) =>
      lax.reduceWindow(t, op, { windowDimensions: [1, 280, 250], windowStrides: [1, 1, 1] });
    const [got, want] = await both(f, [{ a, shape: [2, 280, 250] }]);
    if (op === "max") assertEquals([...got], [...want]);
    else assertAllClose(got, want, { rtol: 1e-5, atol: 1e-3 });
  }
});

/** `f` eagerly and under `jit` on random data of `shapes`, against cpu (rtol 1e-4, atol 0.05). */
async function agreesLong(f: (...xs: Tensor[]) => Tensor, shapes: number[][], seed: number) {
  const data = shapes.map((shape, i) => ({
    a: randn(shape.reduce((p, q) => p * q, 1), seed + i),
    shape,
  }));
  for (const [mode, g] of [["eager", f], ["jit", jit(f)]] as const) {
    const [got, want] = await both(g, data);
    assertAllClose(got, want, { rtol: 1e-4, atol: 0.05, msg: `${mode} [${shapes.join("] [")}]` });
  }
}

const LONG_K = 131072;

Deno.test(`[${BACKEND}] matmuls contracting 131072 elements match cpu (split-K)`, async () => {
  const K = LONG_K;
  const ones = (n: number) => new Float32Array(n).fill(1);
  for (const [M, N] of [[1, 1], [1, 64], [64, 64]]) {
    for (const [mode, g] of [["eager", np.matmul], ["jit", jit(np.matmul)]] as const) {
      const [got] = await both(g as (a: Tensor, b: Tensor) => Tensor, [
        { a: ones(M * K), shape: [M, K] },
        { a: ones(K * N), shape: [K, N] },
      ]);
      assertEquals(firstMismatch(got, new Float32Array(M * N).fill(K)), -1, `${mode} ${M}x${N}`);
    }
  }
  await agreesLong((a, b) => np.matmul(a, b), [[3, K], [K, 5]], 20);
});

Deno.test(`[${BACKEND}] a batched matmul contracting 131072 elements matches cpu`, async () => {
  await agreesLong((a, b) => np.matmul(a, b), [[2, 2, LONG_K], [2, LONG_K, 3]], 30);
});

Deno.test(`[${BACKEND}] convs contracting over 100000 elements (C·kh·kw) match cpu`, async () => {
  const conv = (x: Tensor, w: Tensor) =>
    lax.convGeneralDilated(x, w, { padding: "VALID", windowStrides: [1, 1] });
  const C = 100000;
  for (const [mode, g] of [["eager", conv], ["jit", jit(conv)]] as const) {
    const [got] = await both(g, [
      { a: new Float32Array(C).fill(1), shape: [1, C, 1, 1] },
      { a: new Float32Array(C).fill(1), shape: [1, C, 1, 1] },
    ]);
    assertEquals([...got], [C], mode);
  }
  await agreesLong(conv, [[1, 12000, 4, 3], [2, 12000, 3, 3]], 40);
});

Deno.test(`[${BACKEND}] a jitted matmul + bias + relu contracting 131072 elements matches cpu`, async () => {
  const f = (x: Tensor, w: Tensor, b: Tensor) => np.maximum(np.matmul(x, w).add(b), 0);
  await agreesLong(f, [[4, LONG_K], [LONG_K, 8], [8]], 50);
});
