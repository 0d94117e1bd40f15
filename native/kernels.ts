/**
 * Tight typed-array loops for the native backend's elementwise, reduction and movement
 * primitives. Each loop is its own function over `Float32Array` (one element kind per call
 * site, no per-element closure), so V8 compiles it to straight-line machine code. The math is
 * the reference backend's (same `Math.*` calls, results rounded to f32 on store), so results are
 * bit-identical to it, except `exp`, `log`, `tanh` and `logistic`: they run as Wasm SIMD128
 * kernels (`wasm_kernels.ts`, within 2 ulp of the true value), whose bits the jit's fused loops
 * reproduce. Sums accumulate in float64 like the reference.
 *
 * @module
 */
import type { TypedArray } from "../core/dtype.ts";
import { EAGER_MIN, simpleChain, unaryMathF32 } from "./wasm_kernels.ts";

/** A loop over one f32 input producing one f32 output of the same length. */
type Unary = (x: Float32Array, out: Float32Array) => void;
/** A loop over two f32 inputs of one length. */
type Binary = (x: Float32Array, y: Float32Array, out: TypedArray) => void;

const _u = (f: (x: Float32Array, o: Float32Array, n: number) => void): Unary => (x, o) =>
  f(x, o, x.length);

/** A unary loop that runs as a Wasm kernel on long arrays (same bits), else as `f`. */
const _uw =
  (prim: string, f: (x: Float32Array, o: Float32Array, n: number) => void): Unary => (x, o) => {
    const k = x.length >= EAGER_MIN ? simpleChain(prim, 1) : null;
    if (k) k.run(x.length, [x], [0], [], [o], [0]);
    else f(x, o, x.length);
  };

/** f32 → f32 loops by primitive name. */
export const UNARY_F32: Readonly<Record<string, Unary>> = {
  neg: _uw("neg", (x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = -x[i];
  }),
  abs: _uw("abs", (x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.abs(x[i]);
  }),
  exp: unaryMathF32("exp")!,
  expm1: _u((x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.expm1(x[i]);
  }),
  log: unaryMathF32("log")!,
  log1p: _u((x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.log1p(x[i]);
  }),
  sqrt: _uw("sqrt", (x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.sqrt(x[i]);
  }),
  rsqrt: _u((x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = 1 / Math.sqrt(x[i]);
  }),
  tanh: unaryMathF32("tanh")!,
  sin: _u((x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.sin(x[i]);
  }),
  cos: _u((x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.cos(x[i]);
  }),
  logistic: unaryMathF32("logistic")!,
  stop_gradient: _u((x, o) => o.set(x)),
  sign: _u((x, o, n) => {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      o[i] = v > 0 ? 1 : v < 0 ? -1 : v;
    }
  }),
  floor: _u((x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.floor(x[i]);
  }),
  ceil: _u((x, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.ceil(x[i]);
  }),
};

const _b = (
  f: (x: Float32Array, y: Float32Array, o: TypedArray, n: number) => void,
): Binary =>
(x, y, o) => f(x, y, o, x.length);

/** A binary f32 loop that runs as a Wasm kernel on long arrays (same bits), else as `f`. */
const _bw = (
  prim: string,
  f: (x: Float32Array, y: Float32Array, o: TypedArray, n: number) => void,
): Binary =>
(x, y, o) => {
  const k = x.length >= EAGER_MIN && o instanceof Float32Array ? simpleChain(prim, 2) : null;
  if (k) k.run(x.length, [x, y], [0, 0], [], [o as Float32Array], [0]);
  else f(x, y, o, x.length);
};

/** (u32, u32) → u32 loops by primitive name (the reference's bits: shifts of 32 or more give 0). */
export const BINARY_U32: Readonly<
  Record<string, (x: Uint32Array, y: Uint32Array, o: Uint32Array) => void>
> = {
  and: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] & y[i];
  },
  or: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] | y[i];
  },
  xor: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] ^ y[i];
  },
  shift_right_logical: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = y[i] >= 32 ? 0 : x[i] >>> y[i];
  },
  shift_left: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = y[i] >= 32 ? 0 : x[i] << y[i];
  },
};

/** (i32, i32) → bool comparisons by primitive name (masks of max pooling's gradient). */
export const CMP_I32: Readonly<
  Record<string, (x: Int32Array, y: Int32Array, o: Uint8Array) => void>
> = {
  eq: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] === y[i] ? 1 : 0;
  },
  ne: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] !== y[i] ? 1 : 0;
  },
  lt: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] < y[i] ? 1 : 0;
  },
  le: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] <= y[i] ? 1 : 0;
  },
  gt: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] > y[i] ? 1 : 0;
  },
  ge: (x, y, o) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i] >= y[i] ? 1 : 0;
  },
};

/**
 * `iota`: each element's index along `dimension`.
 *
 * @param out the result, written whole
 * @param shape its shape
 * @param dimension the dimension that counts
 */
export function iotaFill(out: TypedArray, shape: readonly number[], dimension: number): void {
  let outer = 1, inner = 1;
  for (let d = 0; d < dimension; d++) outer *= shape[d];
  for (let d = dimension + 1; d < shape.length; d++) inner *= shape[d];
  const n = shape[dimension];
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (let k = 0; k < n; k++, o += inner) out.fill(k as never, o, o + inner);
  }
}

/**
 * `argmax`/`argmin` of an f32 array along `axis`: the first extremum, a NaN counting as the
 * extremum (the reference's rule).
 *
 * @param x the operand
 * @param shape its shape
 * @param axis the reduced axis
 * @param max argmax (else argmin)
 * @param out the indices (the shape without `axis`)
 */
export function argReduceF32(
  x: Float32Array,
  shape: readonly number[],
  axis: number,
  max: boolean,
  out: Int32Array | Uint32Array,
): void {
  let outer = 1, inner = 1;
  for (let d = 0; d < axis; d++) outer *= shape[d];
  for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
  const n = shape[axis];
  const best = new Float32Array(inner);
  for (let a = 0; a < outer; a++) {
    const base = a * n * inner, ob = a * inner;
    best.set(x.subarray(base, base + inner));
    out.fill(0, ob, ob + inner);
    for (let k = 1; k < n; k++) {
      const row = base + k * inner;
      for (let i = 0; i < inner; i++) {
        const v = x[row + i], b = best[i];
        if (b === b && (v !== v || (max ? v > b : v < b))) {
          best[i] = v;
          out[ob + i] = k;
        }
      }
    }
  }
}

/**
 * Concatenation along `axis` of arrays of one type.
 *
 * @param xs the operands
 * @param shapes their shapes
 * @param axis the axis
 * @param out the result, written whole
 * @param oshape its shape
 */
export function concatenate(
  xs: readonly TypedArray[],
  shapes: readonly (readonly number[])[],
  axis: number,
  out: TypedArray,
  oshape: readonly number[],
): void {
  let outer = 1, inner = 1;
  for (let d = 0; d < axis; d++) outer *= oshape[d];
  for (let d = axis + 1; d < oshape.length; d++) inner *= oshape[d];
  const rowOut = oshape[axis] * inner;
  let off = 0;
  xs.forEach((x, k) => {
    const row = shapes[k][axis] * inner;
    if (row === 1) {
      for (let i = 0, o = off; i < outer; i++, o += rowOut) out[o] = x[i];
    } else {
      for (let i = 0; i < outer; i++) {
        (out as Float32Array).set(
          (x as Float32Array).subarray(i * row, (i + 1) * row),
          i * rowOut + off,
        );
      }
    }
    off += row;
  });
}

/** (f32, f32) → f32 or bool loops by primitive name. */
export const BINARY_F32: Readonly<Record<string, Binary>> = {
  add: _bw("add", (x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] + y[i];
  }),
  sub: _bw("sub", (x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] - y[i];
  }),
  mul: _bw("mul", (x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] * y[i];
  }),
  div: _bw("div", (x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] / y[i];
  }),
  pow: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = Math.pow(x[i], y[i]);
  }),
  max: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) {
      const a = x[i], b = y[i];
      o[i] = a !== a || b !== b ? NaN : a > b ? a : b;
    }
  }),
  min: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) {
      const a = x[i], b = y[i];
      o[i] = a !== a || b !== b ? NaN : a < b ? a : b;
    }
  }),
  eq: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] === y[i] ? 1 : 0;
  }),
  ne: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] !== y[i] ? 1 : 0;
  }),
  lt: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] < y[i] ? 1 : 0;
  }),
  le: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] <= y[i] ? 1 : 0;
  }),
  gt: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] > y[i] ? 1 : 0;
  }),
  ge: _b((x, y, o, n) => {
    for (let i = 0; i < n; i++) o[i] = x[i] >= y[i] ? 1 : 0;
  }),
};

/** `out[i] = p[i] ? a[i] : b[i]` over f32 operands. */
export function selectF32(
  p: Uint8Array,
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
): void {
  for (let i = 0; i < p.length; i++) out[i] = p[i] ? a[i] : b[i];
}

/**
 * `out[flat] = src[base + Σ idx[d]·strides[d]]` over the row-major indices of `shape`: every
 * movement primitive (transpose, broadcast, slice, rev) is this gather with its strides.
 * Adjacent dimensions that are contiguous in `src` are merged first, so the inner loop is as
 * long as possible; a unit inner stride copies with `set`, a zero one fills.
 */
export function gather(
  src: TypedArray,
  base: number,
  shape: readonly number[],
  strides: readonly number[],
  out: TypedArray,
): void {
  // drop unit dims, merge contiguous neighbours
  const sh: number[] = [], st: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 0) return;
    if (shape[d] === 1) continue;
    const k = sh.length - 1;
    if (k >= 0 && st[k] === strides[d] * shape[d]) {
      sh[k] *= shape[d];
      st[k] = strides[d];
    } else {
      sh.push(shape[d]);
      st.push(strides[d]);
    }
  }
  const nd = sh.length;
  if (nd === 0) {
    out[0] = src[base];
    return;
  }
  const n = sh[nd - 1], s = st[nd - 1];
  let outer = 1;
  for (let d = 0; d < nd - 1; d++) outer *= sh[d];
  const idx = new Int32Array(nd);
  let off = base;
  const same = src.constructor === out.constructor;
  for (let o = 0, q = 0; o < outer; o++, q += n) {
    if (s === 1 && same && n >= 16) (out as Float32Array).set(src.subarray(off, off + n), q);
    else if (s === 0) out.fill(src[off], q, q + n);
    else if (s === 1) { for (let j = 0; j < n; j++) out[q + j] = src[off + j]; }
    else for (let j = 0, p = off; j < n; j++, p += s) out[q + j] = src[p];
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d] < sh[d]) {
        off += st[d];
        break;
      }
      off -= st[d] * (sh[d] - 1);
      idx[d] = 0;
    }
  }
}

/** Row-major strides of `shape`. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** The reductions with fast loops, and how each combines. */
export type ReduceKind = "sum" | "max" | "min";

/**
 * Reduces `x` (row-major `[outer, r, inner]`) over the middle axis into `out` (`[outer, inner]`).
 * Sums accumulate in float64; max/min propagate NaN (as the reference).
 */
export function reduceMiddle(
  x: Float32Array,
  outer: number,
  r: number,
  inner: number,
  kind: ReduceKind,
  out: Float32Array,
): void {
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      const b = o * r;
      if (kind === "sum") {
        let s = 0;
        for (let i = 0; i < r; i++) s += x[b + i];
        out[o] = s;
      } else {
        let m = kind === "max" ? -Infinity : Infinity, nan = false;
        if (kind === "max") {
          for (let i = 0; i < r; i++) {
            const v = x[b + i];
            if (v > m) m = v;
            else if (v !== v) nan = true;
          }
        } else {
          for (let i = 0; i < r; i++) {
            const v = x[b + i];
            if (v < m) m = v;
            else if (v !== v) nan = true;
          }
        }
        out[o] = nan ? NaN : m;
      }
    }
    return;
  }
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    const b = o * r * inner;
    if (kind === "sum") {
      acc.fill(0);
      for (let i = 0; i < r; i++) {
        const rb = b + i * inner;
        for (let j = 0; j < inner; j++) acc[j] += x[rb + j];
      }
    } else {
      acc.fill(kind === "max" ? -Infinity : Infinity);
      for (let i = 0; i < r; i++) {
        const rb = b + i * inner;
        if (kind === "max") {
          for (let j = 0; j < inner; j++) {
            const v = x[rb + j], a = acc[j];
            if (v > a || v !== v) acc[j] = a !== a ? a : v;
          }
        } else {
          for (let j = 0; j < inner; j++) {
            const v = x[rb + j], a = acc[j];
            if (v < a || v !== v) acc[j] = a !== a ? a : v;
          }
        }
      }
    }
    for (let j = 0; j < inner; j++) out[o * inner + j] = acc[j];
  }
}

const _scratch = new Map<string, Float32Array>();

/**
 * A scratch array of `n` elements for one role, kept between calls (the largest asked so far):
 * the lowerings' padded inputs, patch blocks and wide outputs are megabytes, and fresh ones cost
 * their page faults on every call. Zeroed when `zero`; otherwise the caller writes all of it.
 * (Calls do not nest, so one array per role suffices.)
 *
 * @param role who uses it (one array per role)
 * @param n elements
 * @param zero whether to zero it
 * @returns an array of `n` elements, valid until the next call for the same role
 * @example
 * ```ts
 * import { scratchF32 } from "./kernels.ts";
 * const a = scratchF32("example", 4, true);
 * a[0] = 1;
 * if (scratchF32("example", 4, true)[0] !== 0) throw new Error("zeroed on reuse");
 * ```
 */
export function scratchF32(role: string, n: number, zero: boolean): Float32Array {
  let a = _scratch.get(role);
  if (!a || a.length < n) _scratch.set(role, a = new Float32Array(n));
  else if (zero) a.fill(0, 0, n);
  return a.length === n ? a : a.subarray(0, n);
}
