/**
 * Accuracy of long f32 reductions on every backend: sums must not saturate at 2^24 (the cpu
 * reference accumulates in float64, webgpu with Kahan compensation), and means and variances
 * of data with a large offset must match a float64 reference (no catastrophic cancellation
 * from an inaccurate mean). Non-finite values still propagate through compensated sums.
 */
import { BACKEND } from "./backend.ts";
import { assertAllClose, assertEquals } from "@std/assert";
import { jit, np } from "../mod.ts";
import { rng } from "./helpers.ts";

/** More ones than f32 counts exactly one by one (2^24), as in the report. */
const N_BIG = 20_000_000;

Deno.test(`[${BACKEND}] the sum of 20 million ones is exactly 20 million, eagerly and under jit`, async () => {
  const x = np.ones([N_BIG]);
  assertEquals(await np.sum(x).item(), N_BIG);
  assertEquals(await jit((t) => np.sum(t))(x).item(), N_BIG);
});

Deno.test(`[${BACKEND}] the mean of 20 million ones is 1`, async () => {
  const x = np.ones([N_BIG]);
  assertEquals(await np.mean(x).item(), 1);
});

/** 1e4 plus uniform noise of half-width 0.01 (variance 1/3 · 1e-4): values and f64 moments. */
function offsetData(n: number, seed: number) {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let k = 0; k < n; k++) a[k] = 1e4 + 0.02 * (r() - 0.5);
  let s = 0;
  for (let k = 0; k < n; k++) s += a[k];
  const mean = s / n;
  let v = 0;
  for (let k = 0; k < n; k++) v += (a[k] - mean) ** 2;
  return { a, sum: s, mean, variance: v / n };
}

Deno.test(`[${BACKEND}] mean, sum and var of 2^21 values of 1e4 plus small noise match float64`, async () => {
  const n = 2 ** 21;
  const d = offsetData(n, 11);
  const x = np.array(d.a);
  // f32 rounds 1e4 + noise to 2^-10 ≈ 1e-3, so the mean is good to half of that
  assertAllClose(await np.mean(x).item() as number, d.mean, { rtol: 0, atol: 6e-4 });
  assertAllClose(await np.sum(x).item() as number, d.sum, { rtol: 1e-6 });
  // the variance (≈ 3.3e-5) survives only with an accurate mean
  assertAllClose(await np.var(x).item() as number, d.variance, { rtol: 2e-2 });
  assertAllClose(await jit((t) => np.var(t))(x).item() as number, d.variance, { rtol: 2e-2 });
});

Deno.test(`[${BACKEND}] per-row variances of 64 rows of 65536 offset values match float64`, async () => {
  const rows = 64, n = 65536;
  const d = offsetData(rows * n, 12);
  const want: number[] = [];
  for (let i = 0; i < rows; i++) {
    const row = d.a.subarray(i * n, (i + 1) * n);
    let s = 0;
    for (const v of row) s += v;
    const m = s / n;
    let q = 0;
    for (const v of row) q += (v - m) ** 2;
    want.push(q / n);
  }
  const got = await np.var(np.array(d.a, { shape: [rows, n] }), { axis: 1 }).data();
  assertAllClose(Array.from(got), want, { rtol: 5e-2 });
});

Deno.test(`[${BACKEND}] compensated sums still propagate infinities and NaN`, async () => {
  const n = 100_000;
  const at = (k: number, v: number) => {
    const a = new Float32Array(n).fill(1);
    a[k] = v;
    return np.array(a);
  };
  assertEquals(await np.sum(at(77_777, Infinity)).item(), Infinity);
  assertEquals(await np.sum(at(5, -Infinity)).item(), -Infinity);
  assertEquals(Number.isNaN(await np.sum(at(99_000, NaN)).item()), true);
  const both = new Float32Array(n).fill(1);
  both[3] = Infinity;
  both[90_000] = -Infinity;
  assertEquals(Number.isNaN(await np.sum(np.array(both)).item()), true);
  assertEquals(await np.sum(np.array(new Float32Array(n).fill(3e38))).item(), Infinity);
});
