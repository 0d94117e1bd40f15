/**
 * Shared helpers of the WebGPU kernel tests (`tests/gpu_*_test.ts`): a seeded PRNG, random
 * typed arrays, a one-call `run` that uploads, executes a primitive and reads back, and index
 * helpers for the JS reference loops. The tests in this file check the helpers themselves.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import type { DType, TypedArray } from "../core/dtype.ts";
import { createWebGpuBackend, webgpuAvailable, type WebGpuBackend } from "../gpu/backend.ts";
import { rng } from "./helpers.ts";

/** The shared seeded generator (tests import it from here too). */
export { rng };

/** Whether the GPU tests run here (a WebGPU adapter exists). */
export const HAS_GPU: boolean = await webgpuAvailable();

let _gpu: Promise<WebGpuBackend> | null = null;
let _shared: Promise<WebGpuBackend> | null = null;
/** The shared backend of the GPU tests (created on first use). */
export function gpu(): Promise<WebGpuBackend> {
  _gpu ??= createWebGpuBackend();
  return _gpu;
}

/** A second backend whose GEMMs stage tiles in workgroup memory (the non-texture path). */
export function gpuSharedGemm(): Promise<WebGpuBackend> {
  _shared ??= createWebGpuBackend({ gemm: "shared" });
  return _shared;
}

/** Random data of a dtype: floats uniform in [lo, hi), ints in [lo, hi), bools fair. */
export function randArray(
  r: () => number,
  dtype: DType,
  n: number,
  lo = -5,
  hi = 5,
): TypedArray {
  switch (dtype) {
    case "f16":
      return Float32Array.from({ length: n }, () => Math.f16round(lo + (hi - lo) * r()));
    case "f32":
      return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
    case "i32":
      return Int32Array.from({ length: n }, () => Math.floor(lo + (hi - lo) * r()));
    case "u32":
      return Uint32Array.from(
        { length: n },
        () => Math.floor(Math.max(lo, 0) + (hi - Math.max(lo, 0)) * r()),
      );
    case "bool":
      return Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
  }
}

/** An operand: data with its shape and dtype. */
export interface Operand {
  /** Flat row-major data. */
  readonly data: TypedArray;
  /** The shape. */
  readonly shape: readonly number[];
  /** The dtype. */
  readonly dtype: DType;
}

/** Makes an operand. */
export function op(data: TypedArray, shape: readonly number[], dtype: DType): Operand {
  return { data, shape, dtype };
}

/**
 * Uploads the operands, executes `prim` on the GPU and reads every output back.
 *
 * @returns The outputs' data.
 */
export async function run(
  prim: string,
  inputs: readonly Operand[],
  params: Record<string, unknown>,
  outs: readonly { shape: readonly number[]; dtype: DType }[],
  backend?: WebGpuBackend,
): Promise<TypedArray[]> {
  const g = backend ?? await gpu();
  const bufs = inputs.map((x) => g.upload(x.data, x));
  const res = g.execute(prim, bufs, inputs, params, outs);
  const data = await Promise.all(res.map((b, k) => g.read(b, outs[k])));
  for (const b of bufs) g.release!(b, inputs[0]);
  res.forEach((b, k) => g.release!(b, outs[k]));
  return data;
}

/** The number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** The multi-index of flat index `i`. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** The flat index of a multi-index. */
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d] + idx[d];
  return f;
}

Deno.test("the seeded PRNG repeats its sequence for a seed", () => {
  const a = rng(7), b = rng(7);
  const xs = [a(), a(), a()], ys = [b(), b(), b()];
  assertEquals(xs, ys);
  assertEquals(xs.every((x) => x >= 0 && x < 1), true);
});

Deno.test("ravel inverts unravel on an odd shape", () => {
  const shape = [3, 1, 17];
  for (let i = 0; i < numel(shape); i += 5) assertEquals(ravel(unravel(i, shape), shape), i);
});
