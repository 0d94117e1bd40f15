/**
 * The `threefry2x32` primitive: JAX's Threefry-2x32 block cipher (20 rounds), elementwise over
 * four u32 operands of one shape, giving two u32 outputs. It is the only random primitive; the
 * `random` module builds keys, bits and every sampler from it with ordinary lax-level ops.
 *
 * Params: none (`{}`). Inputs: `(k0, k1, x0, x1)`, all `u32[...shape]`. Outputs: `(y0, y1)`,
 * both `u32[...shape]`. JAX's `threefry2x32_p` broadcasts its operands; here the caller
 * broadcasts first, as for every lax-level elementwise primitive.
 *
 * @module
 */
import { fmtAvals, sameShape, ShapedArray } from "../aval.ts";
import { definePrimitive, type NoParams, type PlainPrimitive } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { threefry2x32Arrays } from "../threefry.ts";
import { bind } from "../trace.ts";
import { batchElementwise } from "./elementwise.ts";

/** Views a host array as Uint32Array (the cpu backend stores u32 data as Uint32Array). */
function _u32(data: ArrayLike<number>): Uint32Array {
  return data instanceof Uint32Array ? data : Uint32Array.from(data);
}

/** The `threefry2x32` primitive: `(k0, k1, x0, x1) → (y0, y1)`, all u32 of one shape, no params. */
export const threefry2x32_p: PlainPrimitive = definePrimitive<NoParams>("threefry2x32", {
  params: {},
  multipleResults: true,
  abstractEval(avals) {
    const [k0] = avals;
    const ok = avals.length === 4 &&
      avals.every((a) => a.dtype === "u32" && sameShape(a.shape, k0.shape));
    if (!ok) {
      throw new TypeError(
        `Cannot threefry2x32 ${fmtAvals(avals)}: expects four u32 operands ` +
          `(k0, k1, x0, x1) of one shape`,
      );
    }
    return [new ShapedArray(k0.shape, "u32"), new ShapedArray(k0.shape, "u32")];
  },
  impl([k0, k1, x0, x1]) {
    return threefry2x32Arrays(_u32(k0.data), _u32(k1.data), _u32(x0.data), _u32(x1.data));
  },
  // The outputs are u32: no tangents flow through a hash.
  jvp(primals) {
    return [bind(threefry2x32_p, primals), [null, null]];
  },
});
(threefry2x32_p as { batch: unknown }).batch = batchElementwise(threefry2x32_p);

/**
 * Threefry-2x32 of counters `(x0, x1)` under keys `(k0, k1)`, elementwise (lax level: no
 * broadcasting).
 *
 * @param k0 First key words, `u32[...shape]`.
 * @param k1 Second key words, `u32[...shape]`.
 * @param x0 First counter words, `u32[...shape]`.
 * @param x1 Second counter words, `u32[...shape]`.
 * @returns `[y0, y1]`, both `u32[...shape]`.
 * @throws {TypeError} When the operands are not four u32 arrays of one shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { threefry2x32 } from "./threefry_prim.ts";
 *
 * const zero = np.zeros([1], "u32");
 * const [y0, y1] = threefry2x32(zero, zero, zero, zero);
 * const got = [await y0.toArray(), await y1.toArray()];
 * console.log(...got); // [1797259609] [2579123966]
 * // Random123's known answer for Threefry-2x32-20, zero key and counter: 0x6b200159 0x99ba4efe
 * if (JSON.stringify(got) !== "[[1797259609],[2579123966]]") throw new Error(`got ${got}`);
 * ```
 */
export function threefry2x32(k0: Tensor, k1: Tensor, x0: Tensor, x1: Tensor): [Tensor, Tensor] {
  const [y0, y1] = bind(threefry2x32_p, [k0, k1, x0, x1]);
  return [y0, y1];
}
