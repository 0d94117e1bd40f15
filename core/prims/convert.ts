/**
 * Casts (`convert`, `bitcast`) and the batching rule shared by the elementwise primitives
 * (`elementwise.ts` re-exports all of it).
 *
 * @module
 */
import { ShapedArray } from "../aval.ts";
import { type DType, isFloat } from "../dtype.ts";
import { definePrimitive, type Params, type Primitive } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind, bind1 } from "../trace.ts";
import { alloc } from "./host.ts";
import { broadcastInDim, moveaxis } from "./structural.ts";

/** Batching rule for elementwise primitives: batch axes move to 0, unbatched operands broadcast. */
export function batchElementwise(
  prim: Primitive,
): (
  args: Tensor[],
  dims: (number | null)[],
  params: Params,
  size: number,
) => [Tensor[], (number | null)[]] {
  return (args, dims, params, size) => {
    const moved = args.map((a, i) => {
      const d = dims[i];
      if (d === null) {
        return broadcastInDim(a, [size, ...a.shape], a.shape.map((_, k) => k + 1));
      }
      return moveaxis(a, d, 0);
    });
    const outs = prim.multipleResults ? bind(prim, moved, params) : [bind1(prim, moved, params)];
    return [outs, outs.map(() => 0)];
  };
}

function castScalar(v: number, to: DType): number {
  switch (to) {
    case "bool":
      return v !== 0 ? 1 : 0;
    case "i32":
      return Number.isNaN(v) ? 0 : Math.max(-2147483648, Math.min(2147483647, Math.trunc(v)));
    case "u32":
      return Number.isNaN(v) ? 0 : Math.max(0, Math.min(4294967295, Math.trunc(v)));
    case "f32":
      return v;
    case "f16":
      // f16 arrays are f32 storage: `convert` to f16 rounds (see core/f16.ts)
      return Math.f16round(v);
  }
}

/** Params of `convert` and `bitcast`: the result dtype. */
export type DtypeParams = { readonly dtype: DType };
export const convert_p: Primitive<DtypeParams> = definePrimitive<DtypeParams>("convert", {
  params: { dtype: "required" },
  abstractEval([x], { dtype }) {
    return [new ShapedArray(x.shape, dtype)];
  },
  impl([x], { dtype }, [o]) {
    const out = alloc(o);
    const d = x.data;
    // i32 → u32 and back wrap as bit patterns (as C casts); floats saturate
    if (x.aval.dtype === "i32" && dtype === "u32") {
      for (let i = 0; i < d.length; i++) out[i] = d[i] >>> 0;
    } else if (x.aval.dtype === "u32" && dtype === "i32") {
      for (let i = 0; i < d.length; i++) out[i] = d[i] | 0;
    } else if (dtype === "f16") out.set(new Float16Array(d)); // one rounding, in bulk
    else for (let i = 0; i < d.length; i++) out[i] = castScalar(d[i], dtype);
    return [out];
  },
  jvp([x], [t], { dtype }) {
    const y = convert(x, dtype);
    // f16 ↔ f32: the tangent is cast with the value
    return [[y], [isFloat(x.dtype) && isFloat(dtype) ? convert(t, dtype) : null]];
  },
  transpose([ct], [x], { dtype }) {
    if (!ct || !isFloat(dtype)) return [null];
    // f16 ↔ f32: the cotangent goes back in the operand's dtype
    return [isFloat(x.aval.dtype) ? convert(ct, x.aval.dtype) : ct];
  },
});
(convert_p as { batch: unknown }).batch = batchElementwise(convert_p);
/** Converts the dtype (floats to ints truncate toward zero and saturate). */
export function convert(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return bind1(convert_p, [x], { dtype });
}

export const bitcast_p: Primitive<DtypeParams> = definePrimitive<DtypeParams>("bitcast", {
  params: { dtype: "required" },
  abstractEval([x], { dtype }) {
    if (x.dtype === "bool" || dtype === "bool") {
      throw new TypeError(`Cannot bitcast ${x} to ${dtype}: bool has no 32-bit representation`);
    }
    return [new ShapedArray(x.shape, dtype)];
  },
  impl([x], _p, [o]) {
    const out = alloc(o);
    const src = x.data instanceof Float64Array ? new Float32Array(x.data) : x.data;
    if (out instanceof Float64Array) {
      out.set(new Float32Array(src.buffer, src.byteOffset, src.length));
    } else {new Uint8Array(out.buffer).set(
        new Uint8Array(src.buffer, src.byteOffset, src.byteLength),
      );}
    return [out];
  },
  jvp([x], _t, { dtype }) {
    return [[bitcast(x, dtype)], [null]];
  },
});
(bitcast_p as { batch: unknown }).batch = batchElementwise(bitcast_p);
/** Reinterprets the 32-bit pattern as another dtype. */
export function bitcast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return bind1(bitcast_p, [x], { dtype });
}
