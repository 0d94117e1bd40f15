/**
 * Shared test helpers: seeded random inputs, central differences in float64, and tensor
 * comparison.
 *
 * @module
 */
import { assertAllClose } from "@std/assert";
import { np, type Tensor } from "../mod.ts";
import type { DType } from "../core/dtype.ts";

/** A small seeded PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `fn` with the environment variables set (undefined: deleted), then puts them back as they
 * were (once its promise settles, when it returns one).
 */
export function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const put = (vs: Record<string, string | undefined>) =>
    Object.entries(vs).forEach(([k, v]) =>
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v)
    );
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  put(vars);
  let r: T;
  try {
    r = fn();
  } catch (e) {
    put(old);
    throw e;
  }
  if (r instanceof Promise) return r.finally(() => put(old)) as T;
  put(old);
  return r;
}

/** Uniform values in [lo, hi) of a shape, as a Tensor. */
export function uniform(
  seed: number,
  shape: readonly number[],
  lo = -1,
  hi = 1,
  dtype: DType = "f32",
): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = lo + (hi - lo) * r();
    d[i] = dtype === "f32" || dtype === "f16" ? v : Math.floor(v);
  }
  return np.array(d, { shape, dtype });
}

/** Reads a tensor as a plain number array (flat). */
export async function flat(t: Tensor): Promise<number[]> {
  return Array.from(await t.data() as ArrayLike<number>);
}

/** Asserts two tensors are close (same shape). */
export async function assertTensorClose(
  actual: Tensor,
  expected: Tensor | number[] | number,
  opts: { rtol?: number; atol?: number; msg?: string } = {},
): Promise<void> {
  if (typeof expected === "number" || Array.isArray(expected)) {
    assertAllClose(await flat(actual), typeof expected === "number" ? [expected] : expected, opts);
    return;
  }
  if (actual.shape.join() !== expected.shape.join()) {
    throw new Error(`${opts.msg ?? ""} shapes differ: ${actual.aval} vs ${expected.aval}`);
  }
  assertAllClose(await flat(actual), await flat(expected), opts);
}

/**
 * Central-difference gradient of a scalar function of one tensor, evaluated with f32 ops
 * (step h); good to ~1e-2 relative for well-conditioned functions.
 */
export async function numericGrad(
  f: (x: Tensor) => Tensor,
  x: Tensor,
  h = 1e-2,
): Promise<number[]> {
  const base = await flat(x);
  const g: number[] = [];
  for (let i = 0; i < base.length; i++) {
    const p = base.slice(), m = base.slice();
    p[i] += h;
    m[i] -= h;
    const fp = await f(np.array(new Float32Array(p), { shape: x.shape })).item() as number;
    const fm = await f(np.array(new Float32Array(m), { shape: x.shape })).item() as number;
    g.push((fp - fm) / (2 * h));
  }
  return g;
}

/** `n` distinct values in [-2, 2] on a 0.01 grid (no ties, so argmax/sort have one answer). */
export function distinctValues(n: number, seed = 1): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  const used = new Set<number>();
  while (out.length < n) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = Math.round(((s / 2 ** 32) * 4 - 2) * 100) / 100;
    if (!used.has(v)) {
      used.add(v);
      out.push(v);
    }
  }
  return out;
}

/** A tensor of `distinctValues`. */
export function distinctTensor(shape: number[], seed = 1): Tensor {
  return np.array(new Float32Array(distinctValues(shape.reduce((a, b) => a * b, 1), seed)), {
    shape,
  });
}
