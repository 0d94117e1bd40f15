/**
 * Dtypes, their typed-array storage, and type promotion with weak types.
 *
 * @module
 */
import { checkDType } from "./validate.ts";

/**
 * The element types of a Tensor. `f16` (IEEE binary16, NumPy's `float16`) holds values that
 * are exactly representable in f16: every op computes in f32 and rounds its f16 results to
 * nearest-even (see `core/f16.ts`). On the host they are f32 values; on webgpu with
 * `shader-f16` they are 2-byte f16 storage.
 */
export type DType = "f16" | "f32" | "i32" | "u32" | "bool";

/** All dtypes, in promotion order. */
export const DTYPES: readonly DType[] = ["bool", "u32", "i32", "f16", "f32"];

/**
 * The typed array that stores a dtype on the host (f16 is stored in a Float32Array, each value
 * exactly representable in f16).
 */
export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint8Array | Float64Array;

/**
 * Copies host numbers into `buf` through `cast`: with `Number` and an array of `buf`'s own type
 * (a Float32Array of weights) one `set`, else element by element.
 *
 * @param buf The destination, as long as `data`.
 * @param data The numbers.
 * @param cast Each number's conversion (`Number`: none).
 */
export function copyNumbers(
  buf: TypedArray,
  data: ArrayLike<number>,
  cast: (v: unknown) => number,
): void {
  if (cast === Number && data instanceof buf.constructor && data.length === buf.length) {
    buf.set(data as TypedArray);
  } else for (let i = 0; i < buf.length; i++) buf[i] = cast(data[i]);
}

/** Creates a zero-filled typed array for `dtype` of `size` elements. */
export function allocTyped(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case "f16":
    case "f32":
      return new Float32Array(size);
    case "i32":
      return new Int32Array(size);
    case "u32":
      return new Uint32Array(size);
    case "bool":
      return new Uint8Array(size);
    default:
      throw new TypeError(`Unknown dtype ${dtype satisfies never}`);
  }
}

/** Whether a dtype is a floating-point type (f16 or f32). */
export function isFloat(dtype: DType): boolean {
  return dtype === "f32" || dtype === "f16";
}

/** Whether a dtype is an integer type (i32 or u32). */
export function isInt(dtype: DType): boolean {
  return dtype === "i32" || dtype === "u32";
}

/**
 * Bytes per element as stored on the host (bool is one byte on the host, four on a GPU; f16 is
 * held as f32, four bytes, on the host; on webgpu with `shader-f16` it is two on the device).
 */
export function itemSize(dtype: DType): number {
  return dtype === "bool" ? 1 : 4;
}

/**
 * Parses a dtype name: one of `f16`, `f32`, `i32`, `u32`, `bool`. NumPy's names (`float32`, ...)
 * are rejected with a help line giving the denax name, so a typo never reaches a kernel.
 *
 * @param name The dtype name.
 * @returns The dtype.
 * @throws {TypeError} for any other name.
 */
export function toDType(name: string): DType {
  return checkDType("dtype", name);
}

/**
 * Promotes two dtypes as JAX does, where a weak type (a JS number) never widens a strong one:
 * `f32 * 2 → f32`, `i32 * 2.5 → f32` (weak float promotes an int to the default float),
 * `i32 + u32 → i32` (no i64 here: documented deviation from JAX, which would give i64);
 * `f16 + f32 → f32`, `f16 * 2.5 → f16` (a weak float keeps f16), `i32 + f16 → f16`.
 */
export function promoteTypes(a: DType, aWeak: boolean, b: DType, bWeak: boolean): DType {
  if (a === b) return a;
  if (aWeak && !bWeak) return weakJoin(b, a);
  if (bWeak && !aWeak) return weakJoin(a, b);
  const ra = DTYPES.indexOf(a), rb = DTYPES.indexOf(b);
  return ra >= rb ? a : b;
}

function weakJoin(strong: DType, weak: DType): DType {
  // a weak value takes the strong type unless it is of a higher kind (float > int > bool)
  const kind = (d: DType) => (isFloat(d) ? 2 : d === "bool" ? 0 : 1);
  return kind(weak) > kind(strong) ? weak : strong;
}
