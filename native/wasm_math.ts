/**
 * f32 transcendental functions for the native backend, in two forms that give the same bits:
 * SIMD128 code emitted into a generated Wasm function (four lanes at once), and scalar
 * JavaScript ports of the same operation sequence (every step rounded to f32 with
 * `Math.fround`, which is exactly the f32 operation: an f32 `+ − × ÷` computed in float64 and
 * rounded once equals the f32 instruction's result). Eager native ops, the jit's Wasm kernels
 * and its JavaScript loops all use them, so a fused chain gives the bits of op-by-op evaluation
 * whether or not WebAssembly SIMD is available.
 *
 * The algorithms are Cephes' single-precision ones (range reduction, then a minimax
 * polynomial): `exp` reduces by `n·ln 2` (`n` rounded half-even with the `1.5·2²³` trick) and
 * scales by `2^n` in two halves (so subnormal results round once); `log` splits mantissa and
 * exponent (subnormals prescaled by 2²³); `tanh` is a polynomial below 0.625 and
 * `1 − 2/(e^{2|x|} + 1)` above, with the sign of `x` put back (so `tanh(−0) = −0`);
 * `logistic` is `1/(1 + e^{−|x|})` or `e^{−|x|}/(1 + e^{−|x|})` by sign. Errors against the
 * correctly rounded result are within 2 ulp (`tests/native_wasm_test.ts` measures them);
 * ±∞, NaN, ±0, overflow and underflow follow `Math.*`.
 *
 * @module
 */
import { S, T, WasmFunc } from "./wasm_emit.ts";

const fr = Math.fround;

// exp
const EXP_HI = 89, EXP_LO = -104;
const LOG2E = fr(1.44269504088896341);
const MAGIC = 12582912; // 1.5 · 2^23: adding it rounds to an integer, half-even
const C1 = fr(0.693359375), C2 = fr(-2.12194440e-4);
const EP = [
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
].map(fr);
// log
const SQRTHF = fr(0.707106781186547524);
const LP = [
  7.0376836292e-2,
  -1.1514610310e-1,
  1.1676998740e-1,
  -1.2420140846e-1,
  1.4249322787e-1,
  -1.6668057665e-1,
  2.0000714765e-1,
  -2.4999993993e-1,
  3.3333331174e-1,
].map(fr);
const TWO23 = 8388608, MIN_NORMAL = 2 ** -126;
// tanh
const TP = [
  -5.70498872745e-3,
  2.06390887954e-2,
  -5.37397155531e-2,
  1.33314422036e-1,
  -3.33332819422e-1,
].map(fr);
const TANH_SMALL = 0.625, TANH_CLAMP = 10;

/** 2^k for k in [-75, 64] (the two halves of exp's scale), at k + 75. */
const POW2 = Float64Array.from({ length: 140 }, (_, i) => 2 ** (i - 75));

/**
 * e^x rounded as the Wasm kernels compute it (within 2 ulp of the true value).
 *
 * @param x an f32 value
 * @returns the f32 result
 * @example
 * ```ts
 * import { expf } from "./wasm_math.ts";
 * if (Math.abs(expf(1) - Math.E) > 1e-6) throw new Error(`got ${expf(1)}`);
 * ```
 */
export function expf(x: number): number {
  const c = Math.max(Math.min(x, EXP_HI), EXP_LO);
  if (c !== c) return c;
  const n = fr(fr(fr(c * LOG2E) + MAGIC) - MAGIC);
  let r = fr(c - fr(n * C1));
  r = fr(r - fr(n * C2));
  const z = fr(r * r);
  let p = EP[0];
  for (let k = 1; k < 6; k++) p = fr(fr(p * r) + EP[k]);
  const y = fr(fr(fr(p * z) + r) + 1);
  const n1 = n >> 1, n2 = n - n1;
  return fr(fr(y * POW2[n1 + 75]) * POW2[n2 + 75]);
}

/** POW2L[i] = 2^(i − 150): POW2L[150 − e] = 2^−e for the exponents e of normal f32 values. */
const POW2L = Float64Array.from({ length: 280 }, (_, i) => 2 ** (i - 150));

/**
 * The natural logarithm rounded as the Wasm kernels compute it.
 *
 * @param x an f32 value
 * @returns the f32 result (NaN below 0, −∞ at ±0)
 * @example
 * ```ts
 * import { logf } from "./wasm_math.ts";
 * if (Math.abs(logf(10) - Math.log(10)) > 1e-6) throw new Error(`got ${logf(10)}`);
 * ```
 */
export function logf(x: number): number {
  if (!(x > 0) || x === Infinity) return x === 0 ? -Infinity : x < 0 ? NaN : x;
  const small = x < MIN_NORMAL;
  const xs = small ? x * TWO23 : x;
  // the exponent from log2 (exact after the correction), the mantissa by an exact division
  let e = Math.floor(Math.log2(xs));
  let m = xs * POW2L[150 - e];
  if (m >= 2) {
    e++;
    m *= 0.5;
  } else if (m < 1) {
    e--;
    m *= 2;
  }
  m *= 0.5; // in [0.5, 1), the exponent one more (frexp's convention)
  e += 1 - (small ? 23 : 0);
  let f: number;
  if (m < SQRTHF) {
    e--;
    f = fr(m + m - 1);
  } else f = fr(m - 1);
  const fe = e;
  const z = fr(f * f);
  let y = LP[0];
  for (let k = 1; k < 9; k++) y = fr(fr(y * f) + LP[k]);
  y = fr(fr(y * f) * z);
  y = fr(y + fr(fe * C2));
  y = fr(y + fr(-0.5 * z));
  const r = fr(f + y);
  return fr(r + fr(fe * C1));
}

/**
 * tanh rounded as the Wasm kernels compute it.
 *
 * @param x an f32 value
 * @returns the f32 result
 * @example
 * ```ts
 * import { tanhf } from "./wasm_math.ts";
 * if (Math.abs(tanhf(0.5) - Math.tanh(0.5)) > 1e-7) throw new Error(`got ${tanhf(0.5)}`);
 * ```
 */
export function tanhf(x: number): number {
  const a = Math.abs(x);
  let y: number;
  if (a > TANH_SMALL) {
    const c = Math.min(a, TANH_CLAMP);
    y = fr(1 - fr(2 / fr(expf(fr(c + c)) + 1)));
  } else {
    const z = fr(a * a);
    let p = TP[0];
    for (let k = 1; k < 5; k++) p = fr(fr(p * z) + TP[k]);
    y = fr(fr(fr(p * z) * a) + a);
  }
  return x < 0 || (x === 0 && 1 / x < 0) ? -y : y;
}

/**
 * The logistic sigmoid `1/(1 + e^{−x})` rounded as the Wasm kernels compute it.
 *
 * @param x an f32 value
 * @returns the f32 result
 * @example
 * ```ts
 * import { logisticf } from "./wasm_math.ts";
 * if (logisticf(0) !== 0.5) throw new Error(`got ${logisticf(0)}`);
 * ```
 */
export function logisticf(x: number): number {
  const e = expf(-Math.abs(x));
  const d = fr(1 + e);
  return x >= 0 ? fr(1 / d) : fr(e / d);
}

/** The scalar ports by primitive name. */
export const SCALAR_MATH: Readonly<Record<string, (x: number) => number>> = {
  exp: expf,
  log: logf,
  tanh: tanhf,
  logistic: logisticf,
};

const _bf32 = new Float32Array(1), _bi32 = new Int32Array(_bf32.buffer);
const _bitsOf = (f: number): number => {
  _bf32[0] = f;
  return _bi32[0];
};

/** A vector operand: a v128 local, or a constant splatted to four lanes. */
export type Opd = number | { f: number } | { i: number };

/** Emits SIMD128 expressions into a function, each result in a fresh v128 local. */
export class VecBuilder {
  /** The function emitted into. */
  readonly f: WasmFunc;
  /**
   * Code that sets the constants' locals, for the caller to place before its loop (a
   * `v128.const` in the loop costs several instructions each time on x64).
   */
  readonly prologue: WasmFunc = new WasmFunc([], []);
  readonly #consts = new Map<number, number>();
  /**
   * See the class.
   *
   * @param f the function
   */
  constructor(f: WasmFunc) {
    this.f = f;
  }
  /**
   * Pushes an operand.
   *
   * @param a an operand to push
   * @returns this
   */
  push(a: Opd): this {
    if (typeof a === "number") this.f.get(a);
    else {
      const bits = "f" in a ? _bitsOf(a.f) : a.i | 0;
      let l = this.#consts.get(bits);
      if (l === undefined) {
        this.#consts.set(bits, l = this.f.local(T.v128));
        this.prologue.i32x4(bits).set(l);
      }
      this.f.get(l);
    }
    return this;
  }
  /** Pops the top of the stack into a fresh local. @returns the local */
  put(): number {
    const l = this.f.local(T.v128);
    this.f.set(l);
    return l;
  }
  /**
   * A unary SIMD operation into a fresh local.
   *
   * @param op unary SIMD op
   * @param a operand
   * @returns the result's local
   */
  un(op: number, a: Opd): number {
    this.push(a).f.simd(op);
    return this.put();
  }
  /**
   * A binary SIMD operation into a fresh local.
   *
   * @param op binary SIMD op
   * @param a left
   * @param b right
   * @returns the result's local
   */
  bin(op: number, a: Opd, b: Opd): number {
    this.push(a).push(b).f.simd(op);
    return this.put();
  }
  /**
   * A lane-wise choice (`v128.bitselect`) into a fresh local.
   *
   * @param a where `m` is set
   * @param b elsewhere
   * @param m mask
   * @returns the result's local
   */
  sel(a: Opd, b: Opd, m: Opd): number {
    this.push(a).push(b).push(m).f.simd(S.bitselect);
    return this.put();
  }
  /**
   * A lane-wise shift by a constant into a fresh local.
   *
   * @param op a shift
   * @param a operand
   * @param k bits
   * @returns the result's local
   */
  shift(op: number, a: Opd, k: number): number {
    this.push(a).f.i32(k).simd(op);
    return this.put();
  }
  /** `a·b + c` with both roundings. @returns the result's local */
  madd(a: Opd, b: Opd, c: Opd): number {
    return this.bin(S.f32x4_add, this.bin(S.f32x4_mul, a, b), c);
  }
}

const _c = (f: number): Opd => ({ f });
const _ci = (i: number): Opd => ({ i });

/**
 * Emits e^x over four lanes ({@link expf}'s sequence).
 *
 * @param v the builder
 * @param x the operand
 * @returns the result's local
 */
export function vexp(v: VecBuilder, x: Opd): number {
  // pmin/pmax keep their first operand when it is NaN (one instruction each, unlike min/max)
  const c = v.bin(S.f32x4_pmax, v.bin(S.f32x4_pmin, x, _c(EXP_HI)), _c(EXP_LO));
  const t = v.bin(S.f32x4_mul, c, _c(LOG2E));
  const s = v.bin(S.f32x4_add, t, _c(MAGIC));
  const n = v.bin(S.f32x4_sub, s, _c(MAGIC));
  let r = v.bin(S.f32x4_sub, c, v.bin(S.f32x4_mul, n, _c(C1)));
  r = v.bin(S.f32x4_sub, r, v.bin(S.f32x4_mul, n, _c(C2)));
  const z = v.bin(S.f32x4_mul, r, r);
  let p: Opd = _c(EP[0]);
  for (let k = 1; k < 6; k++) p = v.madd(p, r, _c(EP[k]));
  const y = v.bin(S.f32x4_add, v.madd(p, z, r), _c(1));
  // n as an integer: the low mantissa bits of 1.5·2^23 + n
  const ni = v.bin(S.i32x4_sub, s, _ci(0x4b400000));
  const n1 = v.shift(S.i32x4_shr_s, ni, 1);
  const n2 = v.bin(S.i32x4_sub, ni, n1);
  const s1 = v.shift(S.i32x4_shl, v.bin(S.i32x4_add, n1, _ci(127)), 23);
  const s2 = v.shift(S.i32x4_shl, v.bin(S.i32x4_add, n2, _ci(127)), 23);
  return v.bin(S.f32x4_mul, v.bin(S.f32x4_mul, y, s1), s2);
}

/**
 * Emits the natural logarithm over four lanes ({@link logf}'s sequence).
 *
 * @param v the builder
 * @param x the operand
 * @returns the result's local
 */
export function vlog(v: VecBuilder, x: Opd): number {
  const small = v.bin(S.f32x4_lt, x, _c(MIN_NORMAL));
  const xs = v.sel(v.bin(S.f32x4_mul, x, _c(TWO23)), x, small);
  let e = v.bin(
    S.i32x4_sub,
    v.shift(S.i32x4_shr_u, v.bin(S.and, xs, _ci(0x7f800000)), 23),
    _ci(126),
  );
  e = v.bin(S.i32x4_sub, e, v.bin(S.and, small, _ci(23)));
  const m = v.bin(S.or, v.bin(S.and, xs, _ci(0x007fffff)), _ci(0x3f000000));
  const lt = v.bin(S.f32x4_lt, m, _c(SQRTHF));
  e = v.bin(S.i32x4_add, e, lt); // lt is -1 where set
  const f = v.bin(S.f32x4_sub, v.sel(v.bin(S.f32x4_add, m, m), m, lt), _c(1));
  const fe = v.un(S.f32x4_convert_i32x4_s, e);
  const z = v.bin(S.f32x4_mul, f, f);
  let y: Opd = _c(LP[0]);
  for (let k = 1; k < 9; k++) y = v.madd(y, f, _c(LP[k]));
  y = v.bin(S.f32x4_mul, v.bin(S.f32x4_mul, y, f), z);
  y = v.madd(fe, _c(C2), y);
  y = v.bin(S.f32x4_add, y, v.bin(S.f32x4_mul, _c(-0.5), z));
  let r = v.bin(S.f32x4_add, f, y);
  r = v.bin(S.f32x4_add, r, v.bin(S.f32x4_mul, fe, _c(C1)));
  // special values: x < 0 → NaN, ±0 → −∞, +∞ → +∞, NaN → NaN
  r = v.sel(_c(NaN), r, v.bin(S.f32x4_lt, x, _c(0)));
  r = v.sel(_c(-Infinity), r, v.bin(S.f32x4_eq, x, _c(0)));
  r = v.sel(x, r, v.bin(S.f32x4_eq, x, _c(Infinity)));
  return v.sel(x, r, v.bin(S.f32x4_ne, x, x));
}

/**
 * Emits tanh over four lanes ({@link tanhf}'s sequence).
 *
 * @param v the builder
 * @param x the operand
 * @returns the result's local
 */
export function vtanh(v: VecBuilder, x: Opd): number {
  const a = v.un(S.f32x4_abs, x);
  const z = v.bin(S.f32x4_mul, a, a);
  let p: Opd = _c(TP[0]);
  for (let k = 1; k < 5; k++) p = v.madd(p, z, _c(TP[k]));
  const ys = v.madd(v.bin(S.f32x4_mul, p, z), a, a);
  const c = v.bin(S.f32x4_pmin, a, _c(TANH_CLAMP));
  const e = vexp(v, v.bin(S.f32x4_add, c, c));
  const yl = v.bin(
    S.f32x4_sub,
    _c(1),
    v.bin(S.f32x4_div, _c(2), v.bin(S.f32x4_add, e, _c(1))),
  );
  const y = v.sel(yl, ys, v.bin(S.f32x4_gt, a, _c(TANH_SMALL)));
  return v.bin(S.or, y, v.bin(S.and, x, _ci(0x80000000 | 0)));
}

/**
 * Emits the logistic sigmoid over four lanes ({@link logisticf}'s sequence).
 *
 * @param v the builder
 * @param x the operand
 * @returns the result's local
 */
export function vlogistic(v: VecBuilder, x: Opd): number {
  const e = vexp(v, v.un(S.f32x4_neg, v.un(S.f32x4_abs, x)));
  const d = v.bin(S.f32x4_add, _c(1), e);
  // one division: 1/d or e/d by sign
  return v.bin(S.f32x4_div, v.sel(_c(1), e, v.bin(S.f32x4_ge, x, _c(0))), d);
}

/** The vector emitters by primitive name (the same set as {@link SCALAR_MATH}). */
export const VECTOR_MATH: Readonly<Record<string, (v: VecBuilder, x: Opd) => number>> = {
  exp: vexp,
  log: vlog,
  tanh: vtanh,
  logistic: vlogistic,
};
