/**
 * `sort`: a stable sort along one axis by the first operand, permuting any further operands
 * identically (JAX's `lax.sort` with `num_keys = 1`).
 *
 * @module
 */
import { fmtAvals, prod, sameShape } from "../aval.ts";
import { isFloat } from "../dtype.ts";
import { definePrimitive, type HostArray, type Primitive } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind } from "../trace.ts";
import { alloc } from "./host.ts";
import { takeAlongAxis } from "./indexing.ts";
import { broadcastInDim, iota, moveaxis } from "./structural.ts";

/** Sorted positions of one line of keys: stable, NaN last, -0 equal to +0. */
function sortLine(keys: Float64Array, descending: boolean): Uint32Array {
  const perm = new Uint32Array(keys.length);
  for (let i = 0; i < perm.length; i++) perm[i] = i;
  const sign = descending ? -1 : 1;
  perm.sort((i, j) => {
    const a = keys[i], b = keys[j];
    const an = a !== a, bn = b !== b; // NaN tests
    if (an || bn) return an && bn ? i - j : an ? 1 : -1;
    if (a < b) return -sign;
    if (a > b) return sign;
    return i - j;
  });
  return perm;
}

/**
 * `sort` {axis, numKeys: 1, descending}: n operands of one shape (dtypes may differ), n
 * outputs. Sorts every line along `axis` by the first operand and applies the same
 * permutation to the others. The sort is stable in both directions (equal keys keep their
 * order), NaNs sort last in both directions (NumPy's order for ascending), and -0 equals +0.
 */
/**
 * Params of `sort`: the axis, the number of leading operands that are keys (only 1), and the
 * direction.
 */
export type SortParams = {
  readonly axis: number;
  readonly numKeys?: number;
  readonly descending?: boolean;
};
export const sort_p: Primitive<SortParams> = definePrimitive<SortParams>("sort", {
  params: { axis: "required", numKeys: "optional", descending: "optional" },
  multipleResults: true,
  abstractEval(avals, { axis, numKeys }) {
    if (avals.length === 0) throw new TypeError("Cannot sort zero operands");
    const x = avals[0];
    if (!avals.every((a) => sameShape(a.shape, x.shape))) {
      throw new TypeError(`Cannot sort ${fmtAvals(avals)}: operands must have equal shapes`);
    }
    if (!Number.isInteger(axis) || axis < 0 || axis >= x.ndim) {
      throw new RangeError(`sort: axis ${axis} is out of bounds for ${fmtAvals(avals)}`);
    }
    if ((numKeys ?? 1) !== 1) {
      throw new TypeError(`sort: only numKeys = 1 is supported, got ${numKeys}`);
    }
    return avals;
  },
  impl(inputs: HostArray[], { axis, descending }, outAvals) {
    const shape = inputs[0].aval.shape;
    const P = prod(shape.slice(0, axis)), L = shape[axis], Q = prod(shape.slice(axis + 1));
    const outs = outAvals.map((o) => alloc(o));
    const keys = new Float64Array(L);
    const kd = inputs[0].data;
    for (let p = 0; p < P; p++) {
      for (let q = 0; q < Q; q++) {
        const base = p * L * Q + q;
        for (let l = 0; l < L; l++) keys[l] = kd[base + l * Q];
        const perm = sortLine(keys, !!descending);
        inputs.forEach((x, i) => {
          const src = x.data, dst = outs[i];
          for (let l = 0; l < L; l++) dst[base + l * Q] = src[base + perm[l] * Q];
        });
      }
    }
    return outs;
  },
  // the sort is a permutation P of each line: d sort(x) = P·dx. P comes from sorting an
  // extra iota operand along; tangents are then permuted with takeAlongAxis.
  jvp(primals, tangents, params) {
    const { axis } = params;
    const x = primals[0];
    const outs = bind(sort_p, [...primals, iota("i32", x.shape, axis)], params);
    const perm = outs[primals.length];
    const touts = primals.map((
      p,
      i,
    ) => (isFloat(p.dtype) ? takeAlongAxis(tangents[i], perm, axis) : null));
    return [outs.slice(0, primals.length), touts];
  },
  batch(args, dims, params, size) {
    const moved = args.map((a, i) => {
      const d = dims[i];
      return d === null
        ? broadcastInDim(a, [size, ...a.shape], a.shape.map((_, k) => k + 1))
        : moveaxis(a, d, 0);
    });
    const outs = bind(sort_p, moved, { ...params, axis: params.axis + 1 });
    return [outs, outs.map(() => 0)];
  },
});

/** Sorts `operands` along `axis` by the first one (stable; NaNs last); returns them all. */
export function sort(operands: readonly Tensor[], axis: number, descending = false): Tensor[] {
  return bind(sort_p, [...operands], { axis, numKeys: 1, descending });
}
