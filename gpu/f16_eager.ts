/**
 * f16 arrays as 2-byte f16 storage on WebGPU (where the device has `shader-f16`; see
 * `createWebGpuBackend`'s `f16` option): their bytes, host conversion, and the plan of one
 * primitive on them.
 *
 * Elementwise primitives (unary, binary, `select`, `convert`) read and write f16 storage in
 * one kernel ({@link halfLanewisePlan}); `dot_general` on the texture GEMM (CPU adapters) packs
 * its f16 operands straight into its textures. Every other primitive (convolution on either
 * GEMM form and its gradients, reductions, `argmax`, movement ops, the workgroup-memory GEMM)
 * runs its f32 kernels with the f16 bindings rewritten ({@link halfStoragePlan}): operands are
 * read as `array<f16>` and widened as each element is loaded, results are rounded once as they
 * are stored into `array<f16>` (without the rounding after a primitive that only moves values,
 * {@link F16_EXACT}). So matmul, convolution and reductions read f16, accumulate in f32 and
 * round once, as the reference does (core/f16.ts), and move no f32 copies of f16 arrays. A
 * binding the rewrite cannot follow (a result read back by its own plan, a buffer copied into
 * a texture) keeps an f32 temporary with a widening or rounding pass, for it alone.
 *
 * @module
 */
import type { AvalLike } from "../core/backend.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import { F16_EXACT, storageAval, storageParams } from "../core/f16.ts";
import { BINARY_PRIMS, type BinaryPrim, UNARY_PRIMS, type UnaryPrim } from "../core/prims/names.ts";
import { paramsOf } from "../core/primitive.ts";
import { dot_general_p } from "../core/prims/linalg.ts";
import { copyPlan, type Plan, size } from "./kernels/common.ts";
import { dotGeneralHalfPlan } from "./kernels/dot.ts";
import type { GemmCaps } from "./kernels/gemm.ts";
import { binaryExpr, convertExpr, unaryExpr } from "./kernels/elementwise.ts";
import { halfLanewisePlan, type LaneSlot } from "./kernels/f16.ts";
import { halfStoragePlan } from "./kernels/f16_bind.ts";
import type { LowerCtx } from "./lowerings.ts";

const _UNARY: ReadonlySet<string> = new Set(UNARY_PRIMS);
const _BINARY: ReadonlySet<string> = new Set(BINARY_PRIMS);

/** A lowering context without the GEMM capabilities (they are chosen per storage). */
export type F16Ctx = Omit<LowerCtx, "gemm">;

/**
 * Bytes of device storage of an array: 2 an element for f16 storage (padded to a multiple of
 * 4, as WebGPU sizes buffer writes and copies), else 4.
 *
 * @param a The array's aval.
 * @param half Whether f16 arrays are f16 storage.
 * @returns The byte count.
 */
export function storageBytes(a: AvalLike, half: boolean): number {
  const n = size(a.shape);
  return half && a.dtype === "f16" ? Math.ceil(n / 2) * 4 : n * 4;
}

/**
 * Whether a primitive application meets f16 (an f16 operand, result or `dtype` param).
 *
 * @param c The application.
 * @returns True when it does.
 */
export function involvesF16(c: F16Ctx): boolean {
  if (c.ins.some((a) => a.dtype === "f16") || c.outs.some((a) => a.dtype === "f16")) return true;
  for (const k in c.params) if (c.params[k] === "f16") return true;
  return false;
}

/**
 * Host f16 values (a Float32Array, each exactly an f16) as the bytes of f16 storage.
 *
 * @param data The values.
 * @returns The bytes, padded to a multiple of 4.
 */
export function toHalfBytes(data: TypedArray): Uint16Array<ArrayBuffer> {
  const h = new Uint16Array(Math.ceil(data.length / 2) * 2);
  new Float16Array(h.buffer).set(data as ArrayLike<number>);
  return h;
}

/**
 * f16 storage read back: the values as a Float32Array.
 *
 * @param bytes The storage's bytes.
 * @param n The element count.
 * @returns The values.
 */
export function fromHalfBytes(bytes: ArrayBuffer, n: number): Float32Array {
  return Float32Array.from(new Float16Array(bytes, 0, n));
}

const _slot = (a: AvalLike): LaneSlot =>
  a.dtype === "f16" ? { dtype: "f32", half: true } : { dtype: a.dtype, half: false };

/** The one-kernel plan of an elementwise primitive on f16 storage, or null for other ones. */
function _lanewise(prim: string, c: F16Ctx): Plan | null {
  const ins = c.ins.map(_slot), res = _slot(c.outs[0]), n = size(c.outs[0].shape);
  if (_UNARY.has(prim)) {
    return halfLanewisePlan(
      ins,
      res,
      n,
      ([x], h) => unaryExpr(prim as UnaryPrim, ins[0].dtype, x, h),
    );
  }
  if (_BINARY.has(prim)) {
    return halfLanewisePlan(
      ins,
      res,
      n,
      ([x, y], h) => binaryExpr(prim as BinaryPrim, ins[0].dtype, x, y, h),
    );
  }
  if (prim === "select") {
    return halfLanewisePlan(ins, res, n, ([p, a, b]) => `select(${b}, ${a}, ${p} != 0u)`);
  }
  if (prim === "convert") {
    const to: DType = res.dtype;
    return halfLanewisePlan(ins, res, n, ([x], h) => convertExpr(ins[0].dtype, to, x, h));
  }
  return null;
}

/**
 * The application on f32 storage: f16 avals as f32, `dtype: "f16"` params as f32 (but
 * `convert`'s, which on f32 storage rounds).
 *
 * @param prim The primitive.
 * @param c The application.
 * @returns The application on f32 storage.
 */
export function f32Ctx(prim: string, c: F16Ctx): F16Ctx {
  return {
    ins: c.ins.map((a) => storageAval(a)),
    outs: c.outs.map((a) => storageAval(a)),
    params: prim === "convert" ? c.params : storageParams(c.params),
  };
}

/**
 * `dot_general` of two f16 operands as the texture GEMM reading them as f16 (f32 products and
 * sums), its f32 result rounded into f16 storage; null for other applications.
 */
function _dot(prim: string, c: F16Ctx, caps: GemmCaps): Plan | null {
  if (prim !== "dot_general" || c.ins.some((a) => a.dtype !== "f16")) return null;
  const [l, r] = c.ins, o = c.outs[0];
  const p = dotGeneralHalfPlan(l.shape, r.shape, paramsOf(dot_general_p, c.params), caps);
  if (!p) return null;
  const n = (a: AvalLike) => size(a.shape);
  return halfStoragePlan(p, [{ n: n(l), half: false }, { n: n(r), half: false }], [
    { n: n(o), half: true },
  ]);
}

/**
 * The plan of one primitive on arrays where f16 is f16 storage (see the module doc).
 *
 * @param prim The primitive.
 * @param c The application (f16 avals and params as bound).
 * @param lowerF32 Lowers an application on f32 storage (the backend's lowering).
 * @param caps The device's GEMM capabilities.
 * @returns The plan: inputs and outputs as in `c`.
 */
export function f16StoragePlan(
  prim: string,
  c: F16Ctx,
  lowerF32: (c: F16Ctx) => Plan,
  caps: GemmCaps,
): Plan {
  // a reshape moves no bytes: its f16 storage is copied as it is
  if (prim === "reshape") return copyPlan(storageBytes(c.ins[0], true));
  const fast = _lanewise(prim, c) ?? _dot(prim, c, caps);
  if (fast) return fast;
  const sc = f32Ctx(prim, c);
  const slots = (as: readonly AvalLike[]) =>
    as.map((a) => ({ n: size(a.shape), half: a.dtype === "f16" }));
  return halfStoragePlan(lowerF32(sc), slots(c.ins), slots(c.outs), F16_EXACT.has(prim));
}
