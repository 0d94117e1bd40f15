/**
 * Cumulative (inclusive scan) primitives along one axis: `cumsum`, `cumprod`, `cummax`,
 * `cummin`, each with params `{ axis, reverse }`.
 *
 * Derivatives follow JAX: `cumsum` is linear (its transpose is the scan in the other
 * direction); `cumprod`, `cummax` and `cummin` are differentiated through a parallel prefix
 * scan (JAX's `associative_scan`, ported below), which needs no division, so zeros are safe,
 * and splits the tangent of ties as `max`/`min` do.
 *
 * @module
 */
import { prod, ShapedArray } from "../aval.ts";
import { type DType, isFloat } from "../dtype.ts";
import {
  definePrimitive,
  type HostArray,
  type Primitive,
  type PrimitiveRules,
} from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { add, eq, max as emax, min as emin, mul, select } from "./elementwise.ts";
import { alloc } from "./host.ts";
import { concatenate, full, moveaxis, pad, reshape, rev, slice, zerosLikeT } from "./structural.ts";

type Op = "cumsum" | "cumprod" | "cummax" | "cummin";

const nanMax = (a: number, b: number) => (a !== a || b !== b ? NaN : a > b ? a : b);
const nanMin = (a: number, b: number) => (a !== a || b !== b ? NaN : a < b ? a : b);

function combiner(op: Op, dt: DType): (a: number, b: number) => number {
  switch (op) {
    case "cumsum":
      return dt === "i32"
        ? (a, b) => (a + b) | 0
        : dt === "u32"
        ? (a, b) => (a + b) >>> 0
        : dt === "bool"
        ? (a, b) => (a || b ? 1 : 0)
        : (a, b) => a + b;
    case "cumprod":
      return dt === "i32"
        ? (a, b) => Math.imul(a, b)
        : dt === "u32"
        ? (a, b) => Math.imul(a, b) >>> 0
        : (a, b) => a * b;
    case "cummax":
      return nanMax;
    case "cummin":
      return nanMin;
  }
}

/** Params of the cumulative primitives: the scanned axis, and whether from the end. */
export type CumulativeParams = { readonly axis: number; readonly reverse: boolean };

function defCumulative(
  op: Op,
  rules: Pick<PrimitiveRules<CumulativeParams>, "jvp" | "transpose">,
): Primitive<CumulativeParams> {
  const p: Primitive<CumulativeParams> = definePrimitive<CumulativeParams>(op, {
    params: { axis: "required", reverse: "required" },
    abstractEval([x], { axis, reverse }) {
      if (!Number.isInteger(axis) || axis < 0 || axis >= x.ndim) {
        throw new RangeError(`${op}: axis ${axis} is out of bounds for ${x}`);
      }
      if (typeof reverse !== "boolean") {
        throw new TypeError(`${op}: reverse must be a boolean, got ${reverse}`);
      }
      return [new ShapedArray(x.shape, x.dtype)];
    },
    impl([x]: HostArray[], { axis, reverse }, [o]) {
      const out = alloc(o);
      const shape = x.aval.shape;
      const P = prod(shape.slice(0, axis)), L = shape[axis], Q = prod(shape.slice(axis + 1));
      const f = combiner(op, o.dtype), d = x.data;
      for (let p = 0; p < P; p++) {
        for (let q = 0; q < Q; q++) {
          const base = p * L * Q + q;
          let acc = 0;
          for (let s = 0; s < L; s++) {
            const k = base + (reverse ? L - 1 - s : s) * Q;
            acc = s === 0 ? d[k] : f(acc, d[k]);
            out[k] = acc;
          }
        }
      }
      return [out];
    },
    batch([x], [d], { axis, reverse }) {
      return [[bind1(p, [moveaxis(x, d!, 0)], { axis: axis + 1, reverse })], [0]];
    },
    ...rules,
  });
  return p;
}

/** `cumsum` {axis, reverse}: inclusive running sums (bool: running logical or). */
export const cumsum_p: Primitive<CumulativeParams> = defCumulative("cumsum", {
  jvp([x], [t], params) {
    return [[bind1(cumsum_p, [x], params)], [
      isFloat(x.dtype) ? bind1(cumsum_p, [t], params) : null,
    ]];
  },
  // y_i = Σ_{j ≤ i} x_j, so x̄_j = Σ_{i ≥ j} ȳ_i: the scan in the other direction
  transpose([ct], _x, { axis, reverse }) {
    return [ct ? bind1(cumsum_p, [ct], { axis, reverse: !reverse }) : null];
  },
});

/** `cumprod` {axis, reverse}: inclusive running products. */
export const cumprod_p: Primitive<CumulativeParams> = defCumulative("cumprod", {
  // JVP of the parallel scan of dual numbers (a, da)·(b, db) = (ab, da·b + a·db): no division
  jvp([x], [t], params) {
    const y = bind1(cumprod_p, [x], params);
    if (!isFloat(x.dtype)) return [[y], [null]];
    const [, dy] = associativeScan(
      ([a, da], [b, db]) => [mul(a, b), add(mul(da, b), mul(a, db))],
      [x, t],
      params.axis,
      params.reverse,
    );
    return [[y], [dy]];
  },
});

// The tangent of max(a, b) goes to the operand equal to the result, half each on ties (JAX's
// _balanced_eq); scanning it reproduces JAX's derivative of cummax/cummin.
function chooserCombine(f: (a: Tensor, b: Tensor) => Tensor) {
  return ([a, da]: Tensor[], [b, db]: Tensor[]): Tensor[] => {
    const out = f(a, b);
    const one = full(a.shape, 1, a.dtype), half = full(a.shape, 0.5, a.dtype), zero = zerosLikeT(a);
    const wa = select(eq(a, out), select(eq(b, out), half, one), zero);
    const wb = select(eq(b, out), select(eq(a, out), half, one), zero);
    return [out, add(mul(da, wa), mul(db, wb))];
  };
}
function chooserJvp(
  pr: () => Primitive<CumulativeParams>,
  f: (a: Tensor, b: Tensor) => Tensor,
): PrimitiveRules<CumulativeParams>["jvp"] {
  return ([x], [t], params) => {
    const y = bind1(pr(), [x], params);
    if (!isFloat(x.dtype)) return [[y], [null]];
    const [, dy] = associativeScan(chooserCombine(f), [x, t], params.axis, params.reverse);
    return [[y], [dy]];
  };
}
/** `cummax` {axis, reverse}: running maxima (NaN propagates from its position on). */
export const cummax_p: Primitive<CumulativeParams> = defCumulative("cummax", {
  jvp: chooserJvp(() => cummax_p, emax),
});
/** `cummin` {axis, reverse}: running minima (NaN propagates from its position on). */
export const cummin_p: Primitive<CumulativeParams> = defCumulative("cummin", {
  jvp: chooserJvp(() => cummin_p, emin),
});

// ---------------------------------------------------------------- associative scan

function sliceAxis(x: Tensor, axis: number, start: number, limit: number, stride = 1): Tensor {
  const s = x.shape.map((_, k) => (k === axis ? start : 0));
  const l = x.shape.map((n, k) => (k === axis ? limit : n));
  return slice(x, s, l, x.shape.map((_, k) => (k === axis ? stride : 1)));
}

/** Interleaves `a` (m long) and `b` (m or m − 1 long) along `axis`: a0 b0 a1 b1 … */
function interleave(a: Tensor, b: Tensor, axis: number): Tensor {
  const m = a.shape[axis], short = b.shape[axis] < m;
  const bb = short
    ? pad(
      b,
      full([], 0, b.dtype),
      b.shape.map(() => 0),
      b.shape.map((_, k) => (k === axis ? 1 : 0)),
    )
    : b;
  const ex = (t: Tensor) =>
    reshape(t, [...t.shape.slice(0, axis + 1), 1, ...t.shape.slice(axis + 1)]);
  const both = concatenate([ex(a), ex(bb)], axis + 1);
  const merged = reshape(both, [...a.shape.slice(0, axis), 2 * m, ...a.shape.slice(axis + 1)]);
  return short ? sliceAxis(merged, axis, 0, 2 * m - 1) : merged;
}

/**
 * An inclusive scan of `elems` (a tuple of equal-shape tensors) with the associative
 * `combine(earlier, later)`, in O(log n) depth: a port of JAX's `lax.associative_scan`
 * (Blelloch-style odd/even recursion, after Ladner and Fischer), so that derivatives taken
 * through it — including how ties split — match JAX's.
 */
export function associativeScan(
  combine: (a: Tensor[], b: Tensor[]) => Tensor[],
  elems: Tensor[],
  axis: number,
  reverse = false,
): Tensor[] {
  const flip = (xs: Tensor[]) => (reverse ? xs.map((x) => rev(x, [axis])) : xs);
  const scan = (es: Tensor[]): Tensor[] => {
    const n = es[0].shape[axis];
    if (n < 2) return es;
    // combine adjacent pairs, scan the pair sums: these are the odd positions of the result
    const reduced = combine(
      es.map((e) => sliceAxis(e, axis, 0, n - 1, 2)),
      es.map((e) => sliceAxis(e, axis, 1, n, 2)),
    );
    const odd = scan(reduced);
    // even positions (after the first) combine the previous odd result with their element
    const rest = es.map((e) => sliceAxis(e, axis, 2, n, 2));
    const no = odd[0].shape[axis];
    const prev = n % 2 === 0 ? odd.map((e) => sliceAxis(e, axis, 0, no - 1)) : odd;
    const evenTail = rest[0].shape[axis] > 0 ? combine(prev, rest) : null;
    const even = es.map((e, i) => {
      const first = sliceAxis(e, axis, 0, 1);
      return evenTail ? concatenate([first, evenTail[i]], axis) : first;
    });
    return even.map((e, i) => interleave(e, odd[i], axis));
  };
  return flip(scan(flip(elems)));
}

// ---------------------------------------------------------------- wrappers

function cum(p: Primitive<CumulativeParams>, x: Tensor, axis: number, reverse: boolean): Tensor {
  return bind1(p, [x], { axis, reverse });
}
/** Inclusive cumulative sum along `axis` (from the end when `reverse`). */
export function cumsum(x: Tensor, axis: number, reverse = false): Tensor {
  return cum(cumsum_p, x, axis, reverse);
}
/** Inclusive cumulative product along `axis`. */
export function cumprod(x: Tensor, axis: number, reverse = false): Tensor {
  return cum(cumprod_p, x, axis, reverse);
}
/** Inclusive cumulative maximum along `axis`. */
export function cummax(x: Tensor, axis: number, reverse = false): Tensor {
  return cum(cummax_p, x, axis, reverse);
}
/** Inclusive cumulative minimum along `axis`. */
export function cummin(x: Tensor, axis: number, reverse = false): Tensor {
  return cum(cummin_p, x, axis, reverse);
}
