/**
 * `random`: explicit-key pseudo-random numbers, bit-exact with JAX's classic threefry2x32
 * PRNG (`jax_threefry_partitionable=False`, the default before JAX 0.5.0, with 64-bit types
 * off). There is no global seed: every sampler takes a key, and the same key always gives the
 * same numbers. Split a key to get independent ones; never reuse a key for two draws.
 *
 * A key is a `u32[2]` Tensor. Everything here is written with lax-level ops over the one
 * `threefry2x32` primitive, so samplers work on traced keys under `jit`, `vmap` (map over the
 * rows of `split(key, n)`) and `grad` (samples are differentiable in their float parameters,
 * e.g. `minval`/`maxval` of `uniform`). The algorithms port `jax/_src/prng.py` and
 * `jax/_src/random.py`; `core/threefry.ts` holds the same math on plain arrays as the oracle.
 *
 * Unlike PyTorch (`torch.manual_seed`, stateful generators), nothing here has hidden state.
 *
 * @example
 * ```ts
 * import { random, type Tensor, vmap } from "@denax/denax";
 *
 * const key = random.key(0);
 * const z = random.normal(random.foldIn(key, 1), [3]); // f32[3]
 * const u = random.uniform(random.foldIn(key, 2), [2, 2], { minval: -1, maxval: 1 });
 * const rows = vmap((k: Tensor) => random.normal(k, [4]))(random.split(key, 8)); // f32[8,4]
 * const shapes = `${z} ${u} ${rows}`;
 * console.log(shapes); // Tensor(f32[3]) Tensor(f32[2,2]) Tensor(f32[8,4])
 * if (shapes !== "Tensor(f32[3]) Tensor(f32[2,2]) Tensor(f32[8,4])") throw new Error(shapes);
 * if (Number(await u.abs().max().item()) > 1) throw new Error("u is outside [-1, 1)");
 * ```
 *
 * @module
 */
import { broadcastShapes, prod } from "./aval.ts";
import { type DType, isFloat, isInt } from "./dtype.ts";
import * as np from "./numpy.ts";
import * as ew from "./prims/elementwise.ts";
import { cumsum } from "./prims/cumulative.ts";
import { gather } from "./prims/indexing.ts";
import * as rd from "./prims/reduce.ts";
import { sort } from "./prims/sort.ts";
import * as st from "./prims/structural.ts";
import { threefry2x32 } from "./prims/threefry_prim.ts";
import { knownScalar, Tensor, type TensorLike } from "./tensor.ts";
import { checkArity, checkOptions, checkShape } from "./validate.ts";
import { keyFromSeed } from "./threefry.ts";

/** A shape: a list of non-negative integers, or one integer for a 1-d shape. */
export type Shape = readonly number[] | number;

// ---------------------------------------------------------------- checks

function _checkKey(op: string, key: unknown): Tensor {
  const ok = key instanceof Tensor && key.dtype === "u32" && key.ndim === 1 &&
    key.shape[0] === 2;
  if (ok) return key;
  const got = key instanceof Tensor ? String(key.aval) : String(key);
  const batched = key instanceof Tensor && key.dtype === "u32" && key.ndim > 1 &&
    key.shape[key.ndim - 1] === 2;
  throw new TypeError(
    `random.${op} expects a key of u32[2], got ${got}` +
      (batched
        ? `\nhelp: to draw with each of several keys, vmap over them`
        : `\nhelp: make a key with random.key(seed)`),
  );
}

function _shape(op: string, shape: Shape): number[] {
  const s = typeof shape === "number" ? [shape] : shape;
  if (!Array.isArray(s) || !s.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(
      `random.${op}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  checkShape(`random.${op}`, s);
  return [...s];
}

/** A bound's value when known on the host (a number, or a 0-d tensor made from one). */
function _hostBound(x: TensorLike): number | undefined {
  if (typeof x === "number") return Math.trunc(x);
  return x instanceof Tensor ? knownScalar(x) : undefined;
}

const DTYPE_OPTS: ReadonlySet<string> = new Set(["dtype"]);
const BITS_OPTS: ReadonlySet<string> = new Set(["bitWidth"]);
const UNIFORM_OPTS: ReadonlySet<string> = new Set(["minval", "maxval", "dtype"]);
const CATEGORICAL_OPTS: ReadonlySet<string> = new Set(["axis", "shape"]);
const PERMUTATION_OPTS: ReadonlySet<string> = new Set(["axis", "independent"]);
const CHOICE_OPTS: ReadonlySet<string> = new Set(["shape", "replace", "p", "axis"]);

function _floatDtype(op: string, dtype: DType | undefined): "f32" {
  if (dtype !== undefined && !isFloat(dtype)) {
    throw new TypeError(`random.${op} only accepts floating-point dtypes, got ${dtype}`);
  }
  if (dtype === "f16") throw new TypeError(`random.${op} does not support dtype f16 (use f32)`);
  return "f32";
}

/** Converts a parameter to f32 and broadcasts it to `shape`, naming the op when it cannot. */
function _param(op: string, name: string, x: TensorLike, shape: readonly number[]): Tensor {
  const t = np.astype(x, "f32");
  return _broadcastParam(op, name, t, shape);
}

function _broadcastParam(op: string, name: string, t: Tensor, shape: readonly number[]): Tensor {
  let ok = t.ndim <= shape.length;
  if (ok) {
    try {
      ok = broadcastShapes(op, t.shape, shape).every((d, i) => d === shape[i]);
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new TypeError(
      `random.${op}: ${name} of ${t.aval} does not broadcast to the shape [${shape}]`,
    );
  }
  return np.broadcastTo(t, shape);
}

// ---------------------------------------------------------------- the hash

const _u32 = (v: number, shape: readonly number[] = []): Tensor => st.full(shape, v, "u32");

/** Word `i` of a key, as a u32 scalar. */
function _word(key: Tensor, i: number): Tensor {
  return st.reshape(st.slice(key, [i], [i + 1]), []);
}

/**
 * JAX's `threefry_2x32(key, count)`: the flat counts are padded to even length with a 0, cut
 * into halves `x0 = c[:m]`, `x1 = c[m:]`, hashed pairwise, the outputs concatenated and the
 * padding word dropped (see `threefryHash` in core/threefry.ts).
 */
function _hash(key: Tensor, count: Tensor): Tensor {
  const n = count.size, odd = n % 2, m = (n + odd) / 2;
  let flat = st.reshape(count, [n]);
  if (odd) flat = st.concatenate([flat, _u32(0, [1])], 0);
  const x0 = st.slice(flat, [0], [m]), x1 = st.slice(flat, [m], [2 * m]);
  const k0 = st.broadcastInDim(_word(key, 0), [m], []);
  const k1 = st.broadcastInDim(_word(key, 1), [m], []);
  const [y0, y1] = threefry2x32(k0, k1, x0, x1);
  const out = st.concatenate([y0, y1], 0);
  return st.reshape(odd ? st.slice(out, [0], [n]) : out, count.shape);
}

/** `random_bits(key, 32, shape)`: the hash of `iota(prod(shape))`. */
function _bits32(key: Tensor, shape: readonly number[]): Tensor {
  const n = prod(shape);
  return st.reshape(_hash(key, st.iota("u32", [n])), shape);
}

/** `split(key)` as two keys. */
function _split2(key: Tensor): [Tensor, Tensor] {
  const ks = _hash(key, st.iota("u32", [4]));
  return [st.slice(ks, [0], [2]), st.slice(ks, [2], [4])];
}

// ---------------------------------------------------------------- keys

/**
 * Makes a key from an integer seed: the words `[0, seed mod 2^32]`, as JAX's
 * `random.PRNGKey(seed)` (and the data of `random.key(seed)`) with 64-bit types off.
 *
 * @param seed An integer (negative seeds wrap: `-1` gives `[0, 4294967295]`), or a scalar
 *   integer Tensor (which may be traced).
 * @returns The key, `u32[2]`.
 * @throws {TypeError} When the seed is not an integer or a scalar integer Tensor.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const k = await random.key(42).toArray();
 * console.log(k); // [0, 42]
 * if (JSON.stringify(k) !== "[0,42]") throw new Error(`got ${k}`);
 * ```
 */
export function key(seed: number | Tensor): Tensor {
  checkArity("random.key", arguments.length, 1);
  if (seed instanceof Tensor) {
    if (seed.ndim !== 0 || !(isInt(seed.dtype) || seed.dtype === "bool")) {
      throw new TypeError(`random.key expects an integer seed, got ${seed.aval}`);
    }
    return st.concatenate([_u32(0, [1]), st.reshape(ew.convert(seed, "u32"), [1])], 0);
  }
  if (typeof seed !== "number" || !Number.isInteger(seed)) {
    throw new TypeError(`random.key expects an integer seed, got ${String(seed)}`);
  }
  return st.constant(keyFromSeed(seed), [2], "u32");
}

/**
 * Splits a key into `num` new keys (JAX's classic `split`: the hash of `iota(2 * num)`).
 * Index a row with `keys.index(i)`, or `vmap` over the rows.
 *
 * @param key A key, `u32[2]`.
 * @param num How many keys (default 2), or a shape for an array of keys.
 * @returns The keys, `u32[num, 2]` (or `u32[...shape, 2]`).
 * @throws {TypeError} When the key is not `u32[2]` or `num` is not a count or shape.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const keys = await random.split(random.key(0)).toArray();
 * console.log(keys); // [[4146024105, 967050713], [2718843009, 1272950319]]
 * if (JSON.stringify(keys) !== "[[4146024105,967050713],[2718843009,1272950319]]") throw new Error(`got ${keys}`);
 * ```
 */
export function split(key: Tensor, num: Shape = 2): Tensor {
  checkArity("random.split", arguments.length, 2);
  const k = _checkKey("split", key);
  const shape = _shape("split", num);
  return st.reshape(_hash(k, st.iota("u32", [2 * prod(shape)])), [...shape, 2]);
}

/**
 * Folds an integer into a key, giving a new key (JAX's `fold_in`: the hash of the counter
 * pair `(0, data)`). Handy for per-step or per-layer keys: `foldIn(key, step)`.
 *
 * @param key A key, `u32[2]`.
 * @param data An integer (taken modulo 2^32), or a scalar integer Tensor (may be traced).
 * @returns The new key, `u32[2]`.
 * @throws {TypeError} When the key is not `u32[2]` or `data` is not an integer.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const y = await random.foldIn(random.key(0), 4).toArray();
 * console.log(y); // [2285895361, 433833334]
 * if (JSON.stringify(y) !== "[2285895361,433833334]") throw new Error(`got ${y}`);
 * ```
 */
export function foldIn(key: Tensor, data: number | Tensor): Tensor {
  checkArity("random.foldIn", arguments.length, 2);
  const k = _checkKey("foldIn", key);
  let d: Tensor;
  if (data instanceof Tensor) {
    if (data.ndim !== 0 || !(isInt(data.dtype) || data.dtype === "bool")) {
      throw new TypeError(`random.foldIn expects integer data, got ${data.aval}`);
    }
    d = st.reshape(ew.convert(data, "u32"), [1]);
  } else {
    if (typeof data !== "number" || !Number.isInteger(data)) {
      throw new TypeError(`random.foldIn expects integer data, got ${String(data)}`);
    }
    d = _u32(data >>> 0, [1]);
  }
  return _hash(k, st.concatenate([_u32(0, [1]), d], 0));
}

// ---------------------------------------------------------------- bits and uniform

/** Options of {@link bits}. */
export interface BitsOptions {
  /** Bits per value: 32 (default), 16 or 8; narrow values come back as u32 below 2^width. */
  readonly bitWidth?: 8 | 16 | 32;
}

/**
 * Uniformly random bits (JAX's `random.bits` / classic `random_bits`): the threefry hash of
 * the counters `0 … n-1` under the key. Widths 8 and 16 cut each 32-bit word into
 * little-endian pieces, as `bits.view(uint8)` would; denax has no u8/u16, so they come back
 * as u32.
 *
 * @param key A key, `u32[2]`.
 * @param shape The shape of the result.
 * @param opts `bitWidth` (default 32).
 * @returns `u32[...shape]`.
 * @throws {TypeError} When the key is not `u32[2]` or the shape is invalid.
 * @throws {RangeError} When `bitWidth` is not 8, 16 or 32.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const bits = await random.bits(random.key(1701), [3]).toArray();
 * console.log(bits); // [56197195, 4200222568, 961309823]
 * if (JSON.stringify(bits) !== "[56197195,4200222568,961309823]") throw new Error(`got ${bits}`);
 * ```
 */
export function bits(key: Tensor, shape: Shape = [], opts: BitsOptions = {}): Tensor {
  checkArity("random.bits", arguments.length, 3);
  checkOptions("random.bits", opts, BITS_OPTS);
  const k = _checkKey("bits", key);
  const s = _shape("bits", shape);
  const w = opts.bitWidth ?? 32;
  if (w === 32) return _bits32(k, s);
  if (w !== 8 && w !== 16) {
    throw new RangeError(`random.bits: bitWidth must be 8, 16 or 32, got ${w}`);
  }
  const n = prod(s), per = 32 / w, words = Math.ceil(n / per);
  const ws = st.broadcastInDim(_bits32(k, [words]), [words, per], [0]);
  const shifts = ew.mul(_u32(w, [words, per]), st.iota("u32", [words, per], 1));
  const pieces = ew.and(ew.shiftRightLogical(ws, shifts), _u32(2 ** w - 1, [words, per]));
  return st.reshape(st.slice(st.reshape(pieces, [words * per]), [0], [n]), s);
}

/** Floats in [0, 1) on a 2^-23 grid from 32 random bits: `bitcast((b >> 9) | 1.0) - 1`. */
function _unitFromBits(b: Tensor): Tensor {
  const sh = b.shape;
  const mant = ew.or(ew.shiftRightLogical(b, _u32(9, sh)), _u32(0x3f800000, sh));
  return ew.sub(ew.bitcast(mant, "f32"), st.full(sh, 1, "f32"));
}

/** JAX's `_uniform` with bounds already f32 of the result's shape. */
function _uniform(key: Tensor, shape: readonly number[], lo: Tensor, hi: Tensor): Tensor {
  const f = _unitFromBits(_bits32(key, shape));
  return ew.max(lo, ew.add(ew.mul(f, ew.sub(hi, lo)), lo));
}

/** Options of {@link uniform}. */
export interface UniformOptions {
  /** Inclusive lower bound (default 0), broadcast to the shape. */
  readonly minval?: TensorLike;
  /** Exclusive upper bound (default 1), broadcast to the shape. */
  readonly maxval?: TensorLike;
  /** The float dtype (only "f32"). */
  readonly dtype?: DType;
}

/**
 * Uniform samples in `[minval, maxval)`, as JAX's `random.uniform`: 23 random mantissa bits
 * make a float in [1, 2), minus one, scaled to the range in f32, and clamped below at
 * `minval`. Differentiable in `minval` and `maxval`.
 *
 * @param key A key, `u32[2]`.
 * @param shape The shape of the result (default `[]`).
 * @param opts `minval`, `maxval` (numbers or tensors broadcastable to `shape`), `dtype`.
 * @returns `f32[...shape]`.
 * @throws {TypeError} For a bad key, shape, dtype, or bounds that do not broadcast.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const u = random.uniform(random.key(0), [2, 3], { minval: -1, maxval: 1 });
 * console.log(String(u)); // Tensor(f32[2,3])
 * if (String(u) !== "Tensor(f32[2,3])") throw new Error(`got ${u}`);
 * ```
 */
export function uniform(key: Tensor, shape: Shape = [], opts: UniformOptions = {}): Tensor {
  checkArity("random.uniform", arguments.length, 3);
  checkOptions("random.uniform", opts, UNIFORM_OPTS);
  const k = _checkKey("uniform", key);
  const s = _shape("uniform", shape);
  _floatDtype("uniform", opts.dtype);
  const lo = _param("uniform", "minval", opts.minval ?? 0, s);
  const hi = _param("uniform", "maxval", opts.maxval ?? 1, s);
  return _uniform(k, s, lo, hi);
}

// ---------------------------------------------------------------- normal family

/** Options of the float samplers that take only a dtype. */
export interface DtypeOptions {
  /** The float dtype (only "f32"). */
  readonly dtype?: DType;
}

// np.nextafter(np.float32(-1), np.float32(0)): the normal sampler's open lower bound.
const _NEXTAFTER_MINUS_ONE = -(1 - 2 ** -24);

/**
 * Standard normal samples, as JAX's `random.normal`: `sqrt(2) · erfinv(u)` with `u` uniform
 * in `(-1, 1)`.
 *
 * @param key A key, `u32[2]`.
 * @param shape The shape of the result (default `[]`).
 * @param opts `dtype` (only "f32").
 * @returns `f32[...shape]`.
 * @throws {TypeError} For a bad key, shape or dtype.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const z = random.normal(random.key(0), [3]);
 * console.log(await z.toArray()); // [1.8160863, -0.48262316, 0.33988908]
 * const err = await z.sub([1.8160863, -0.48262316, 0.33988908]).abs().max().item();
 * if (Number(err) > 1e-6) throw new Error(`off by ${err}`);
 * ```
 */
export function normal(key: Tensor, shape: Shape = [], opts: DtypeOptions = {}): Tensor {
  checkArity("random.normal", arguments.length, 3);
  checkOptions("random.normal", opts, DTYPE_OPTS);
  const k = _checkKey("normal", key);
  const s = _shape("normal", shape);
  _floatDtype("normal", opts.dtype);
  return _normal(k, s);
}

function _normal(key: Tensor, shape: readonly number[]): Tensor {
  const u = _uniform(
    key,
    shape,
    st.full(shape, _NEXTAFTER_MINUS_ONE, "f32"),
    st.full(shape, 1, "f32"),
  );
  return ew.mul(st.full(shape, Math.SQRT2, "f32"), ew.erfInv(u));
}

/** The next f32 after `x` towards +∞ (`up`) or −∞, by stepping the bit pattern. */
function _nextafter(x: Tensor, up: boolean): Tensor {
  const sh = x.shape, zero = st.full(sh, 0, "f32");
  const b = ew.bitcast(x, "i32");
  // Positive floats order like their bits, negative ones reversed; ±0 steps to ±2^-149.
  const grow = up ? ew.gt(x, zero) : ew.lt(x, zero);
  const step = ew.select(grow, st.full(sh, 1, "i32"), st.full(sh, -1, "i32"));
  const moved = ew.bitcast(ew.add(b, step), "f32");
  const fromZero = st.full(sh, up ? 2 ** -149 : -(2 ** -149), "f32");
  const stuck = ew.or(ew.isNan(x), ew.eq(x, st.full(sh, up ? Infinity : -Infinity, "f32")));
  return ew.select(stuck, x, ew.select(ew.eq(x, zero), fromZero, moved));
}

/**
 * Normal samples truncated to `(lower, upper)`, as JAX's `random.truncated_normal`:
 * `sqrt(2) · erfinv(u)` with `u` uniform in `[erf(lower/√2), erf(upper/√2))`, clamped to the
 * open interval. Differentiable in `lower` and `upper`.
 *
 * @param key A key, `u32[2]`.
 * @param lower Lower bound(s) (number or tensor; may be -Infinity).
 * @param upper Upper bound(s) (number or tensor; may be Infinity).
 * @param shape The result shape; defaults to the broadcast shape of `lower` and `upper`,
 *   which must broadcast to it.
 * @param opts `dtype` (only "f32").
 * @returns `f32[...shape]`, each value strictly between its bounds.
 * @throws {TypeError} For a bad key, shape or dtype, or bounds that do not broadcast.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const z = random.truncatedNormal(random.key(0), -2, 2, [1000]);
 * const max = Number(await z.abs().max().item());
 * console.log(max < 2); // true
 * if (!(max < 2)) throw new Error(`|z| reaches ${max}`);
 * ```
 */
export function truncatedNormal(
  key: Tensor,
  lower: TensorLike,
  upper: TensorLike,
  shape?: Shape,
  opts: DtypeOptions = {},
): Tensor {
  checkArity("random.truncatedNormal", arguments.length, 5);
  checkOptions("random.truncatedNormal", opts, DTYPE_OPTS);
  const k = _checkKey("truncatedNormal", key);
  _floatDtype("truncatedNormal", opts.dtype);
  let lo = np.astype(lower, "f32"), hi = np.astype(upper, "f32");
  const s = shape === undefined
    ? broadcastShapes("random.truncatedNormal", lo.shape, hi.shape)
    : _shape("truncatedNormal", shape);
  lo = _broadcastParam("truncatedNormal", "lower", lo, s);
  hi = _broadcastParam("truncatedNormal", "upper", hi, s);
  const sqrt2 = st.full(s, Math.SQRT2, "f32");
  const a = ew.erf(ew.div(lo, sqrt2)), b = ew.erf(ew.div(hi, sqrt2));
  const out = ew.mul(sqrt2, ew.erfInv(_uniform(k, s, a, b)));
  // Rounding (or drawing u = a exactly) could land on a bound: clamp into the open interval.
  const floor = _nextafter(ew.stopGradient(lo), true),
    ceil = _nextafter(ew.stopGradient(hi), false);
  return ew.min(ew.max(out, floor), ceil);
}

/**
 * Gumbel samples, as JAX's `random.gumbel`: `-log(-log(u))` with `u` uniform in
 * `[tiny, 1)` (`tiny` = 2^-126, the smallest normal f32).
 *
 * @param key A key, `u32[2]`.
 * @param shape The shape of the result (default `[]`).
 * @param opts `dtype` (only "f32").
 * @returns `f32[...shape]`.
 * @throws {TypeError} For a bad key, shape or dtype.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const y = random.gumbel(random.key(0), [4]);
 * console.log(String(y)); // Tensor(f32[4])
 * if (String(y) !== "Tensor(f32[4])") throw new Error(`got ${y}`);
 * ```
 */
export function gumbel(key: Tensor, shape: Shape = [], opts: DtypeOptions = {}): Tensor {
  checkArity("random.gumbel", arguments.length, 3);
  checkOptions("random.gumbel", opts, DTYPE_OPTS);
  const k = _checkKey("gumbel", key);
  const s = _shape("gumbel", shape);
  _floatDtype("gumbel", opts.dtype);
  return _gumbel(k, s);
}

function _gumbel(key: Tensor, shape: readonly number[]): Tensor {
  const u = _uniform(key, shape, st.full(shape, 2 ** -126, "f32"), st.full(shape, 1, "f32"));
  return ew.neg(ew.log(ew.neg(ew.log(u))));
}

/**
 * Exponential samples with rate 1, as JAX's `random.exponential`: `-log1p(-u)` with `u`
 * uniform in [0, 1).
 *
 * @param key A key, `u32[2]`.
 * @param shape The shape of the result (default `[]`).
 * @param opts `dtype` (only "f32").
 * @returns `f32[...shape]`, all ≥ 0.
 * @throws {TypeError} For a bad key, shape or dtype.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const e = random.exponential(random.key(0), [1000]);
 * const min = Number(await e.min().item());
 * console.log(min >= 0); // true
 * if (!(min >= 0)) throw new Error(`min is ${min}`);
 * ```
 */
export function exponential(key: Tensor, shape: Shape = [], opts: DtypeOptions = {}): Tensor {
  checkArity("random.exponential", arguments.length, 3);
  checkOptions("random.exponential", opts, DTYPE_OPTS);
  const k = _checkKey("exponential", key);
  const s = _shape("exponential", shape);
  _floatDtype("exponential", opts.dtype);
  const u = _uniform(k, s, st.full(s, 0, "f32"), st.full(s, 1, "f32"));
  return ew.neg(ew.log1p(ew.neg(u)));
}

// ---------------------------------------------------------------- discrete

/**
 * Bernoulli samples: `true` with probability `p`, as JAX's `random.bernoulli`
 * (`uniform(key, shape) < p`).
 *
 * @param key A key, `u32[2]`.
 * @param p The probability of `true` (default 0.5), a number or a tensor broadcastable to
 *   `shape`.
 * @param shape The result shape (default: the shape of `p`).
 * @returns `bool[...shape]`.
 * @throws {TypeError} For a bad key or shape, or a `p` that does not broadcast.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const mask = random.bernoulli(random.key(0), 0.9, [5]); // a dropout keep-mask
 * console.log(String(mask)); // Tensor(bool[5])
 * if (String(mask) !== "Tensor(bool[5])") throw new Error(`got ${mask}`);
 * ```
 */
export function bernoulli(key: Tensor, p: TensorLike = 0.5, shape?: Shape): Tensor {
  checkArity("random.bernoulli", arguments.length, 3);
  const k = _checkKey("bernoulli", key);
  const pt = np.astype(p, "f32");
  const s = shape === undefined ? [...pt.shape] : _shape("bernoulli", shape);
  const pb = _broadcastParam("bernoulli", "p", pt, s);
  return ew.lt(_uniform(k, s, st.full(s, 0, "f32"), st.full(s, 1, "f32")), pb);
}

/** Converts a randint bound to i32 (JAX's `_convert_and_clip_integer`) and flags maxval > 2^31-1. */
function _intBound(
  op: string,
  name: string,
  x: TensorLike,
  shape: readonly number[],
): [Tensor, Tensor] {
  const I32_MAX = 2147483647, I32_MIN = -2147483648;
  if (typeof x === "number") {
    if (!Number.isFinite(x)) {
      throw new TypeError(`random.${op}: ${name} must be a finite number, got ${x}`);
    }
    const v = Math.min(I32_MAX, Math.max(I32_MIN, Math.trunc(x)));
    return [st.full(shape, v, "i32"), st.full(shape, x > I32_MAX ? 1 : 0, "bool")];
  }
  let t = np.asarray(x);
  let over = st.full(t.shape, 0, "bool");
  if (t.dtype === "u32") {
    const max = st.full(t.shape, I32_MAX, "u32");
    over = ew.gt(t, max);
    t = ew.min(t, max);
  }
  t = ew.convert(t, "i32"); // floats truncate and saturate, as astype(int)
  return [
    _broadcastParam(op, name, t, shape),
    _broadcastParam(op, name, over, shape),
  ];
}

/** `x % y` in u32 with XLA's rule for a zero divisor (`x % 0 = x`). */
function _urem(x: Tensor, y: Tensor): Tensor {
  return ew.select(ew.eq(y, _u32(0, y.shape)), x, ew.rem(x, y));
}

/** Options of {@link randint}. */
export interface RandintOptions {
  /** The integer dtype (only "i32"). */
  readonly dtype?: DType;
}

/**
 * Uniform integers in `[minval, maxval)`, as JAX's `random.randint`: two 32-bit words per
 * value (from the two halves of `split(key)`) reduced modulo the span, which keeps the bias
 * small for spans that are not powers of two. Bounds are clipped to the int32 range; `maxval =
 * 2^31` reaches the int32 maximum. An empty range (`maxval <= minval`) raises when both bounds
 * are host numbers (as NumPy's "low >= high"); with tensor bounds, whose values are not read,
 * such elements give `minval` (as JAX).
 *
 * @param key A key, `u32[2]`.
 * @param shape The shape of the result.
 * @param minval Inclusive lower bound(s), broadcastable to `shape`.
 * @param maxval Exclusive upper bound(s), broadcastable to `shape`.
 * @param opts `dtype` (only "i32").
 * @returns `i32[...shape]`.
 * @throws {TypeError} For a bad key, shape or dtype, or bounds that do not broadcast.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const r = await random.randint(random.key(0), [3, 3], 0, 8).toArray();
 * console.log(r); // [[2, 1, 3], [6, 1, 5], [6, 3, 4]]
 * if (JSON.stringify(r) !== "[[2,1,3],[6,1,5],[6,3,4]]") throw new Error(`got ${r}`);
 * ```
 */
export function randint(
  key: Tensor,
  shape: Shape,
  minval: TensorLike,
  maxval: TensorLike,
  opts: RandintOptions = {},
): Tensor {
  checkArity("random.randint", arguments.length, 5);
  checkOptions("random.randint", opts, DTYPE_OPTS);
  const k = _checkKey("randint", key);
  const s = _shape("randint", shape);
  const lo0 = _hostBound(minval), hi0 = _hostBound(maxval);
  if (lo0 !== undefined && hi0 !== undefined && lo0 >= hi0) {
    throw new RangeError(
      `random.randint: minval ${lo0} >= maxval ${hi0}: the range [minval, maxval) is empty ` +
        `(NumPy raises "low >= high"; JAX would return minval)`,
    );
  }
  if (opts.dtype !== undefined && opts.dtype !== "i32") {
    throw new TypeError(`random.randint only accepts the integer dtype i32, got ${opts.dtype}`);
  }
  const [lo] = _intBound("randint", "minval", minval, s);
  const [hi, over] = _intBound("randint", "maxval", maxval, s);
  const [k1, k2] = _split2(k);
  const higher = _bits32(k1, s), lower = _bits32(k2, s);
  const one = _u32(1, s);
  let span = ew.convert(ew.sub(hi, lo), "u32"); // wraps as uint32, as in JAX
  span = ew.select(ew.le(hi, lo), one, span);
  span = ew.select(ew.and(over, ew.gt(hi, lo)), ew.add(span, one), span);
  // (a · b) mod span = ((a mod span) · (b mod span)) mod span, with 2^32 mod span = m^2 mod
  // span for m = 2^16 mod span (the square may wrap, exactly as JAX's does).
  let mult = _urem(_u32(2 ** 16, s), span);
  mult = _urem(ew.mul(mult, mult), span);
  const offset = _urem(ew.add(ew.mul(_urem(higher, span), mult), _urem(lower, span)), span);
  return ew.add(lo, ew.convert(offset, "i32"));
}

/** Options of {@link categorical}. */
export interface CategoricalOptions {
  /** The axis of the categories in `logits` (default -1). */
  readonly axis?: number;
  /** The result shape; its trailing dimensions must match the batch shape of `logits`. */
  readonly shape?: Shape;
}

/**
 * Samples category indices from unnormalized log-probabilities, as JAX's
 * `random.categorical`: the Gumbel-max trick, `argmax(logits + gumbel)` along `axis`.
 *
 * @param key A key, `u32[2]`.
 * @param logits `f32[..., k, ...]`: log-probabilities up to a constant, categories on `axis`.
 * @param opts `axis` (default -1) and `shape` (default: `logits`' shape without `axis`).
 * @returns `i32[...shape]`, indices in `[0, k)`.
 * @throws {TypeError} For a bad key, or a `shape` that does not end with the batch shape.
 * @throws {RangeError} When `axis` is out of range.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 *
 * const logits = np.log(np.array([0.1, 0.2, 0.7]));
 * const draws = random.categorical(random.key(0), logits, { shape: [5] });
 * console.log(String(draws)); // Tensor(i32[5])
 * if (String(draws) !== "Tensor(i32[5])") throw new Error(`got ${draws}`);
 * ```
 */
export function categorical(
  key: Tensor,
  logits: TensorLike,
  opts: CategoricalOptions = {},
): Tensor {
  checkArity("random.categorical", arguments.length, 3);
  checkOptions("random.categorical", opts, CATEGORICAL_OPTS);
  const k = _checkKey("categorical", key);
  const l = np.astype(logits, "f32");
  if (l.ndim === 0) {
    throw new TypeError(`random.categorical: logits must have an axis, got ${l.aval}`);
  }
  const ax = opts.axis ?? -1;
  if (!Number.isInteger(ax) || ax < -l.ndim || ax >= l.ndim) {
    throw new RangeError(`random.categorical: axis ${ax} is out of bounds for ${l.aval}`);
  }
  const axis = ax < 0 ? ax + l.ndim : ax;
  const batch = l.shape.filter((_, i) => i !== axis);
  const s = opts.shape === undefined ? batch : _shape("categorical", opts.shape);
  const tail = s.slice(s.length - batch.length);
  let ok = s.length >= batch.length;
  try {
    ok &&= broadcastShapes("categorical", batch, tail).every((d, i) => d === tail[i]);
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new TypeError(
      `random.categorical: shape [${s}] must end with the batch shape [${batch}] of ${l.aval}`,
    );
  }
  const prefix = s.slice(0, s.length - batch.length);
  const gShape = [...prefix, ...tail.slice(0, axis), l.shape[axis], ...tail.slice(axis)];
  const lg = st.reshape(l, [...prefix.map(() => 1), ...l.shape]);
  return np.argmax(np.add(_gumbel(k, gShape), lg), { axis: prefix.length + axis });
}

// ---------------------------------------------------------------- permutations

/** Sorts `vals` by `keys` along `axis`, stably: JAX's `lax.sort_key_val`. */
function _sortKeyVal(keys: Tensor, vals: Tensor, axis: number, descending = false): Tensor {
  return sort([keys, vals], axis, descending)[1];
}

/** `np.take(x, ind, axis)` for in-range integer indices (JAX's `jnp.take` in `choice`). */
function _take(x: Tensor, ind: Tensor, axis: number): Tensor {
  return gather(x, ew.convert(ind, "i32"), axis);
}

/** JAX's `_shuffle`: enough rounds of sorting by random 32-bit keys to make ties unlikely. */
function _shuffle(key: Tensor, x: Tensor, axis: number): Tensor {
  const rounds = Math.ceil((3 * Math.log(Math.max(1, x.size))) / Math.log(4294967295));
  let k = key, out = x;
  for (let r = 0; r < rounds; r++) {
    const [next, sub] = _split2(k);
    k = next;
    out = _sortKeyVal(_bits32(sub, out.shape), out, axis);
  }
  return out;
}

/** Options of {@link permutation}. */
export interface PermutationOptions {
  /** The axis to permute (default 0). */
  readonly axis?: number;
  /** Shuffle each slice along `axis` independently (default false: one permutation of it). */
  readonly independent?: boolean;
}

/**
 * A random permutation, as JAX's `random.permutation`: of `arange(n)` for a number `n`, or of
 * a tensor's slices along `axis` (with `independent`, each 1-d slice along `axis` is shuffled
 * on its own). JAX shuffles by sorting with random 32-bit keys, in enough rounds that ties
 * are unlikely.
 *
 * @param key A key, `u32[2]`.
 * @param x A non-negative integer `n`, or a tensor with at least one axis.
 * @param opts `axis` (default 0), `independent` (default false).
 * @returns `i32[n]` for a number, else a tensor of `x`'s shape and dtype.
 * @throws {TypeError} For a bad key, a non-integer `n`, or a 0-d tensor.
 * @throws {RangeError} When `axis` is out of range.
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 *
 * const perm = await random.permutation(random.key(0), 5).toArray();
 * const sorted = [...perm as number[]].sort();
 * console.log(sorted); // [0, 1, 2, 3, 4]
 * if (JSON.stringify(sorted) !== "[0,1,2,3,4]") throw new Error(`not a permutation: ${perm}`);
 * ```
 */
export function permutation(
  key: Tensor,
  x: number | TensorLike,
  opts: PermutationOptions = {},
): Tensor {
  checkArity("random.permutation", arguments.length, 3);
  checkOptions("random.permutation", opts, PERMUTATION_OPTS);
  const k = _checkKey("permutation", key);
  if (typeof x === "number") {
    if (!Number.isInteger(x) || x < 0) {
      throw new TypeError(`random.permutation expects a non-negative integer, got ${x}`);
    }
    if ((opts.axis ?? 0) !== 0) {
      throw new RangeError(`random.permutation: axis ${opts.axis} is out of bounds for an integer`);
    }
    return _shuffle(k, np.arange(x, undefined, 1, "i32"), 0);
  }
  const t = np.asarray(x);
  if (t.ndim === 0) {
    throw new TypeError(
      `random.permutation expects a JS integer or an array with an axis, got ${t.aval}` +
        `\nhelp: pass the length as a number`,
    );
  }
  const ax = opts.axis ?? 0;
  if (!Number.isInteger(ax) || ax < -t.ndim || ax >= t.ndim) {
    throw new RangeError(`random.permutation: axis ${ax} is out of bounds for ${t.aval}`);
  }
  const axis = ax < 0 ? ax + t.ndim : ax;
  if (opts.independent || t.ndim === 1) return _shuffle(k, t, axis);
  const ind = _shuffle(k, np.arange(t.shape[axis], undefined, 1, "i32"), 0);
  return _take(t, ind, axis);
}

/** Options of {@link choice}. */
export interface ChoiceOptions {
  /** The shape of the draws (default `[]`: one draw). */
  readonly shape?: Shape;
  /** Draw with replacement (default true). */
  readonly replace?: boolean;
  /** Probabilities of the `n` candidates, `f32[n]` (default uniform). */
  readonly p?: TensorLike;
  /** The axis of `a` to draw slices from (default 0). */
  readonly axis?: number;
}

/**
 * Random draws from `arange(n)` (for a number `n`) or from the slices of `a` along `axis`, as
 * JAX's `random.choice`: uniform with replacement uses `randint`; without replacement, the
 * first draws of a `permutation`; with probabilities `p`, inverse-CDF sampling (with
 * replacement) or the Gumbel top-k trick (without).
 *
 * @param key A key, `u32[2]`.
 * @param a A positive integer `n`, or a tensor with at least one axis.
 * @param opts `shape`, `replace` (default true), `p`, `axis` (default 0).
 * @returns For a number, `i32[...shape]`; else `a`'s dtype with `axis` replaced by `shape`.
 * @throws {TypeError} For a bad key or `p`, or more draws than candidates without replacement.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 *
 * const x = np.array([10, 20, 30, 40]);
 * const picks = random.choice(random.key(0), x, { shape: [2], replace: false });
 * console.log(String(picks)); // Tensor(f32[2])
 * if (String(picks) !== "Tensor(f32[2])") throw new Error(`got ${picks}`);
 * ```
 */
export function choice(key: Tensor, a: number | TensorLike, opts: ChoiceOptions = {}): Tensor {
  checkArity("random.choice", arguments.length, 3);
  checkOptions("random.choice", opts, CHOICE_OPTS);
  const k = _checkKey("choice", key);
  const s = _shape("choice", opts.shape ?? []);
  const replace = opts.replace ?? true;
  const isN = typeof a === "number";
  let arr: Tensor | null = null, axis = 0, n: number;
  if (isN) {
    if (!Number.isInteger(a)) throw new TypeError(`random.choice expects an integer n, got ${a}`);
    n = a;
  } else {
    arr = np.asarray(a);
    if (arr.ndim === 0) {
      throw new TypeError(
        `random.choice expects a JS integer or an array with an axis, got ${arr.aval}`,
      );
    }
    const ax = opts.axis ?? 0;
    if (!Number.isInteger(ax) || ax < -arr.ndim || ax >= arr.ndim) {
      throw new RangeError(`random.choice: axis ${ax} is out of bounds for ${arr.aval}`);
    }
    axis = ax < 0 ? ax + arr.ndim : ax;
    n = arr.shape[axis];
  }
  const draws = prod(s);
  const outShape = arr ? [...arr.shape.slice(0, axis), ...s, ...arr.shape.slice(axis + 1)] : s;
  if (draws === 0) return st.full(outShape, 0, arr ? arr.dtype : "i32");
  if (n <= 0) {
    throw new TypeError(`random.choice: a must be greater than 0 unless no samples are taken`);
  }
  if (!replace && draws > n) {
    throw new TypeError(
      `random.choice: cannot take a larger sample (${draws}) than the population (${n}) ` +
        `when replace is false`,
    );
  }
  let ind: Tensor;
  if (opts.p === undefined) {
    if (replace) ind = randint(k, s, 0, n);
    else {
      const perm = permutation(k, arr ?? n, { axis });
      const start = perm.shape.map(() => 0), limit = [...perm.shape];
      limit[axis] = draws;
      return st.reshape(st.slice(perm, start, limit), outShape);
    }
  } else {
    const p = np.astype(opts.p, "f32");
    if (p.ndim !== 1 || p.shape[0] !== n) {
      throw new TypeError(`random.choice: p must be f32[${n}] (one per candidate), got ${p.aval}`);
    }
    if (replace) ind = _inverseCdf(k, p, s);
    else {
      // Gumbel top-k: the indices of the `draws` largest log(p) + gumbel.
      const g = ew.add(_gumbel(k, [n]), ew.log(p));
      const order = _sortKeyVal(g, np.arange(n, undefined, 1, "i32"), 0, true);
      ind = st.reshape(st.slice(order, [0], [draws]), s);
    }
  }
  return arr ? st.reshape(_take(arr, ind, axis), outShape) : ind;
}

/** Inverse-CDF draws: `searchsorted(cumsum(p), total · (1 - u))`, JAX's `choice` with `p`. */
function _inverseCdf(key: Tensor, p: Tensor, shape: readonly number[]): Tensor {
  const n = p.shape[0];
  // XLA sums a short cumsum left to right, as the reference backend does; long ones (and GPU
  // kernels) may associate differently, moving the CDF by an ulp or so.
  const cdf = cumsum(p, 0);
  const total = st.broadcastInDim(st.reshape(st.slice(cdf, [n - 1], [n]), []), shape, []);
  const u = _uniform(key, shape, st.full(shape, 0, "f32"), st.full(shape, 1, "f32"));
  const r = ew.mul(total, ew.sub(st.full(shape, 1, "f32"), u));
  // searchsorted (side = left): the number of CDF entries below r.
  const full = [...shape, n];
  const below = ew.lt(
    st.broadcastInDim(cdf, full, [shape.length]),
    st.broadcastInDim(r, full, [...shape.keys()]),
  );
  return rd.reduceSum(ew.convert(below, "i32"), [shape.length]);
}
