/**
 * Dtypes, their typed-array storage, and type promotion with weak types.
 *
 * @module
 */
import { checkDType } from "./validate.ts";

/** The element types of a Tensor. */
export type DType = "f32" | "i32" | "u32" | "bool";

/** All dtypes, in promotion order. */
export const DTYPES: readonly DType[] = ["bool", "u32", "i32", "f32"];

/** The typed array that stores a dtype on the host. */
export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint8Array | Float64Array;

/** Creates a zero-filled typed array for `dtype` of `size` elements. */
export function allocTyped(dtype: DType, size: number): TypedArray {
  switch (dtype) {
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

/** Whether a dtype is a floating-point type. */
export function isFloat(dtype: DType): boolean {
  return dtype === "f32";
}

/** Whether a dtype is an integer type (i32 or u32). */
export function isInt(dtype: DType): boolean {
  return dtype === "i32" || dtype === "u32";
}

/** Bytes per element as stored on the host (bool is one byte on the host, four on a GPU). */
export function itemSize(dtype: DType): number {
  return dtype === "bool" ? 1 : 4;
}

/**
 * Parses a dtype name: one of `f32`, `i32`, `u32`, `bool`. NumPy's names (`float32`, ...)
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
 * `i32 + u32 → i32` (no i64 here: documented deviation from JAX, which would give i64).
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
  const kind = (d: DType) => (d === "f32" ? 2 : d === "bool" ? 0 : 1);
  return kind(weak) > kind(strong) ? weak : strong;
}
