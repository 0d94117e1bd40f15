/**
 * Rounding f32 storage to f16 values on the GPU (see core/f16.ts: f16 arrays are f32 storage,
 * and `convert` with `dtype: "f16"` rounds). The rounding works on the f32 bits with integer
 * operations, so it is exact, ties to even, and the same on every adapter, with or without the
 * `shader-f16` feature (WGSL's own f32 → f16 conversion leaves the rounding direction and the
 * out-of-range result to the implementation).
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import type { Helpers, Plan } from "./common.ts";
import { convertExpr, type LaneCaps, lanewisePlan } from "./elementwise.ts";

/**
 * The WGSL function `round_f16(x: f32) -> f32`: the nearest f16 value (ties to even), ±Infinity
 * at or beyond ±65520, NaN and infinities kept, subnormal f16 results exact (f32 subnormal
 * operands, which a device may flush, round to ±0 either way).
 */
export const ROUND_F16_WGSL: string = `fn round_f16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let s = b & 0x80000000u;
  let a = b & 0x7fffffffu;
  if (a >= 0x7f800000u) { return x; }
  if (a >= 0x477ff000u) { return bitcast<f32>(s | 0x7f800000u); }
  if (a < 0x38800000u) {
    // below the smallest normal f16 (2^-14): a multiple of 2^-24, rounded half to even
    let m = round(bitcast<f32>(a) * 16777216.0) * 5.9604644775390625e-8;
    return bitcast<f32>(s | bitcast<u32>(m));
  }
  // normal: drop 13 of the 23 mantissa bits, ties to even (a carry moves into the exponent)
  let r = (a + 0xfffu + ((a >> 13u) & 1u)) & 0xffffe000u;
  return bitcast<f32>(s | r);
}`;

/**
 * The WGSL expression of `x` (of dtype `from`) converted to f32 and rounded to f16.
 *
 * @param from The operand's dtype.
 * @param x The operand expression.
 * @param h The kernel's helper functions (`round_f16` is added).
 * @returns The expression, an f32.
 */
export function roundF16Expr(from: DType, x: string, h: Helpers): string {
  h.add(ROUND_F16_WGSL);
  return `round_f16(${convertExpr(from, "f32", x)})`;
}

/**
 * `convert` to f16 of `n` elements of dtype `from` (f32 storage for f16 values): input 0 →
 * output 0, f32.
 *
 * @param from The operand's dtype.
 * @param n The element count.
 * @param caps Device capabilities.
 * @returns The plan.
 */
export function roundF16Plan(from: DType, n: number, caps?: LaneCaps): Plan {
  return lanewisePlan([from], "f32", n, ([x], h) => roundF16Expr(from, x, h), caps);
}
