/**
 * Reference math for JAX's threefry2x32 PRNG, on plain typed arrays, bit-exact with JAX in its
 * classic mode (`jax_threefry_partitionable=False`, the default before JAX 0.5.0).
 *
 * This module is the oracle: the `random_bits` primitive's reference implementation, the WGSL
 * kernel's tests and the traced `random` module's tests all compare against it. It ports
 * `jax/_src/prng.py` (`threefry2x32_p`, `threefry_2x32`, `_threefry_split_original`,
 * `threefry_fold_in`, `_threefry_random_bits_original`, `threefry_seed`) and the bit-level
 * samplers of `jax/_src/random.py` (`_uniform`, `_normal_real`, `_randint`). The hash is
 * Threefry-2x32 with 20 rounds from Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"
 * (SC 2011), as Random123 defines it.
 *
 * Keys are two uint32 words `[k0, k1]`. Everything here is pure; no function mutates its input.
 *
 * @example
 * ```ts
 * import { keyFromSeed, normalFromBits, randomBits, split } from "./threefry.ts";
 *
 * const key = keyFromSeed(0);
 * const keys = split(key); // [[4146024105, 967050713], [2718843009, 1272950319]]
 * const z = normalFromBits(randomBits(keys.subarray(2, 4), 32, 1));
 * if (Math.abs(z[0] - -1.2515389) > 1e-5) throw new Error("not JAX's numbers");
 * ```
 *
 * @module
 */

// Rotation constants of Threefry-2x32 (Random123 `R_32x2_*`), used four at a time, alternating.
const ROT_A = [13, 15, 26, 6] as const;
const ROT_B = [17, 29, 16, 24] as const;
// Key-schedule parity constant of Threefish/Threefry: k2 = k0 ^ k1 ^ C240.
const C240 = 0x1bd11bda;

/**
 * Hashes one counter pair with one key pair and stores the result at index `i` of the outputs.
 * Arithmetic stays in int32 (`| 0`, `>>>`), which is uint32 arithmetic modulo 2^32; a
 * Uint32Array store maps the int32 bit pattern back to the unsigned value.
 */
function _hashInto(
  k0: number,
  k1: number,
  x0: number,
  x1: number,
  out0: Uint32Array,
  out1: Uint32Array,
  i: number,
): void {
  const ks0 = k0 | 0, ks1 = k1 | 0, ks2 = (k0 ^ k1 ^ C240) | 0;
  const ks = (m: number) => (m === 0 ? ks0 : m === 1 ? ks1 : ks2);
  let a = (x0 + ks0) | 0, b = (x1 + ks1) | 0;
  // Five blocks of four rounds; after block j (1..5) inject ks[j % 3], ks[(j + 1) % 3] + j,
  // exactly the unrolled `_threefry2x32_lowering` of prng.py.
  for (let j = 1; j <= 5; j++) {
    const rot = j % 2 === 1 ? ROT_A : ROT_B;
    for (let r = 0; r < 4; r++) {
      a = (a + b) | 0;
      const s = rot[r];
      b = ((b << s) | (b >>> (32 - s))) ^ a;
    }
    a = (a + ks(j % 3)) | 0;
    b = (b + ks((j + 1) % 3) + j) | 0;
  }
  out0[i] = a;
  out1[i] = b;
}

function _checkKey(op: string, key: ArrayLike<number>): void {
  if (key.length !== 2) {
    throw new TypeError(
      `Cannot ${op} with a key of ${key.length} words: a threefry2x32 key is u32[2]`,
    );
  }
}

/**
 * The Threefry-2x32 block cipher (20 rounds) applied elementwise with one key: JAX's
 * `threefry2x32_p` with scalar keys.
 *
 * @param key0 First key word (taken modulo 2^32).
 * @param key1 Second key word (taken modulo 2^32).
 * @param x0 First counter words, u32[n].
 * @param x1 Second counter words, u32[n].
 * @returns The two output words, each u32[n].
 * @throws {TypeError} When `x0` and `x1` differ in length.
 * @example
 * ```ts
 * import { threefry2x32 } from "./threefry.ts";
 *
 * // Random123's known-answer vector for a zero key and zero counter.
 * const [y0, y1] = threefry2x32(0, 0, new Uint32Array([0]), new Uint32Array([0]));
 * if (y0[0] !== 0x6b200159 || y1[0] !== 0x99ba4efe) throw new Error("wrong hash");
 * ```
 */
export function threefry2x32(
  key0: number,
  key1: number,
  x0: Uint32Array,
  x1: Uint32Array,
): [Uint32Array, Uint32Array] {
  if (x0.length !== x1.length) {
    throw new TypeError(
      `Cannot threefry2x32 u32[${x0.length}] and u32[${x1.length}]: counter lengths differ`,
    );
  }
  const n = x0.length, out0 = new Uint32Array(n), out1 = new Uint32Array(n);
  for (let i = 0; i < n; i++) _hashInto(key0, key1, x0[i], x1[i], out0, out1, i);
  return [out0, out1];
}

/**
 * Threefry-2x32 with a key per element: the reference for the `threefry2x32` primitive once
 * its four operands have been broadcast to one shape (as JAX's primitive broadcasts them).
 *
 * @param k0 First key words, u32[n].
 * @param k1 Second key words, u32[n].
 * @param x0 First counter words, u32[n].
 * @param x1 Second counter words, u32[n].
 * @returns The two output words, each u32[n].
 * @throws {TypeError} When the four arrays differ in length.
 * @example
 * ```ts
 * import { threefry2x32Arrays } from "./threefry.ts";
 *
 * const k0 = new Uint32Array([0, 0xffffffff]), k1 = new Uint32Array([0, 0xffffffff]);
 * const [y0] = threefry2x32Arrays(k0, k1, k0, k1);
 * if (y0[0] !== 0x6b200159 || y0[1] !== 0x1cb996fc) throw new Error("wrong hash");
 * ```
 */
export function threefry2x32Arrays(
  k0: Uint32Array,
  k1: Uint32Array,
  x0: Uint32Array,
  x1: Uint32Array,
): [Uint32Array, Uint32Array] {
  const n = x0.length;
  if (k0.length !== n || k1.length !== n || x1.length !== n) {
    throw new TypeError(
      `Cannot threefry2x32 u32[${k0.length}], u32[${k1.length}], u32[${n}] and ` +
        `u32[${x1.length}]: lengths differ`,
    );
  }
  const out0 = new Uint32Array(n), out1 = new Uint32Array(n);
  for (let i = 0; i < n; i++) _hashInto(k0[i], k1[i], x0[i], x1[i], out0, out1, i);
  return [out0, out1];
}

/**
 * JAX's `threefry_2x32(keypair, count)`: hashes a flat count array of any length.
 *
 * The counts are not paired neighbour with neighbour. An odd-length array first gets one `0`
 * appended; the (even) array is then cut in halves `x0 = c[:m]`, `x1 = c[m:]`, hashed
 * pairwise, the two outputs concatenated, and the padding word dropped. So for 3 counts the
 * pairs are `(c0, c2)` and `(c1, 0)`, and the result is `[y0[0], y0[1], y1[0]]`.
 *
 * @param key The key `[k0, k1]`.
 * @param count The counts, u32[n].
 * @returns The hashed words, u32[n].
 * @throws {TypeError} When the key is not two words.
 * @example
 * ```ts
 * import { threefryHash } from "./threefry.ts";
 *
 * const bits = threefryHash([0, 0], new Uint32Array([0, 1, 2]));
 * // [4146024105, 1351547692, 2718843009], as jax.random.bits(key(0), (3,)) prints.
 * if (bits[1] !== 1351547692) throw new Error("wrong odd-length handling");
 * ```
 */
export function threefryHash(key: ArrayLike<number>, count: Uint32Array): Uint32Array {
  _checkKey("hash", key);
  const n = count.length;
  const m = (n + (n % 2)) / 2;
  const x0 = count.slice(0, m);
  const x1 = new Uint32Array(m); // the padding word, if any, stays 0
  x1.set(count.subarray(m));
  const [y0, y1] = threefry2x32(key[0], key[1], x0, x1);
  const out = new Uint32Array(n);
  out.set(y0);
  out.set(y1.subarray(0, n - m), m);
  return out;
}

function _iota(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

/**
 * The key data of `jax.random.key(seed)` with 64-bit types off (JAX's default): the words
 * `[0, seed mod 2^32]`. (With `jax_enable_x64` JAX would put `seed >> 32` in the first word.)
 *
 * @param seed An integer seed; negative seeds wrap, so `-1` gives `[0, 4294967295]`.
 * @returns The key, u32[2].
 * @throws {TypeError} When the seed is not an integer.
 * @example
 * ```ts
 * import { keyFromSeed } from "./threefry.ts";
 *
 * const key = keyFromSeed(-2); // Uint32Array [0, 4294967294]
 * if (key[1] !== 4294967294) throw new Error("wrong seed wrap");
 * ```
 */
export function keyFromSeed(seed: number): Uint32Array {
  if (!Number.isInteger(seed)) {
    throw new TypeError(`Cannot make a PRNG key from seed ${seed}: the seed must be an integer`);
  }
  return new Uint32Array([0, seed >>> 0]);
}

/**
 * JAX's classic `split(key, num)`: `threefry_2x32(key, iota(2 * num))` read as `num` keys.
 *
 * @param key The key, u32[2].
 * @param num How many keys to make (default 2).
 * @returns The new keys, u32[num, 2] flattened row-major (key `i` is words `2i`, `2i + 1`).
 * @throws {TypeError} When the key is not two words.
 * @throws {RangeError} When `num` is not a non-negative integer.
 * @example
 * ```ts
 * import { split } from "./threefry.ts";
 *
 * const keys = split(new Uint32Array([0, 0])); // [[4146024105, 967050713], [2718843009, 1272950319]]
 * if (keys[0] !== 4146024105 || keys[3] !== 1272950319) throw new Error("wrong split");
 * ```
 */
export function split(key: ArrayLike<number>, num = 2): Uint32Array {
  _checkKey("split", key);
  if (!Number.isInteger(num) || num < 0) {
    throw new RangeError(`Cannot split a key into ${num} keys: num must be an integer >= 0`);
  }
  return threefryHash(key, _iota(2 * num));
}

/**
 * JAX's `fold_in(key, data)`: `threefry_2x32(key, threefry_seed(uint32(data)))`, that is the
 * hash of the counter pair `(0, data)`.
 *
 * @param key The key, u32[2].
 * @param data The integer folded in, taken modulo 2^32 (as `jnp.uint32(data)` wraps).
 * @returns The new key, u32[2].
 * @throws {TypeError} When the key is not two words or `data` is not an integer.
 * @example
 * ```ts
 * import { foldIn } from "./threefry.ts";
 *
 * const k = foldIn(new Uint32Array([0, 0]), 4); // [2285895361, 433833334]
 * if (k[0] !== 2285895361 || k[1] !== 433833334) throw new Error("wrong fold_in");
 * ```
 */
export function foldIn(key: ArrayLike<number>, data: number): Uint32Array {
  _checkKey("fold_in", key);
  if (!Number.isInteger(data)) {
    throw new TypeError(`Cannot fold_in ${data}: data must be an integer`);
  }
  return threefryHash(key, new Uint32Array([0, data >>> 0]));
}

/**
 * JAX's classic `random_bits(key, bit_width, shape)` for `count = prod(shape)` elements.
 *
 * 32 bits: `threefry_2x32(key, iota(count))`. 8 and 16 bits: `ceil(count * w / 32)` words are
 * hashed the same way and cut into `32 / w` little-endian pieces each (what `bits.view(uint8)`
 * would give), keeping the first `count`. 64-bit words are not supported (denax has no u64).
 *
 * @param key The key, u32[2].
 * @param bitWidth 8, 16 or 32.
 * @param count The number of elements (the product of the shape).
 * @returns The bits, u32[count], each value below `2 ** bitWidth`.
 * @throws {TypeError} When the key is not two words.
 * @throws {RangeError} When `bitWidth` is not 8, 16 or 32, or `count` is not an integer in
 *   `[0, 2^32 - 1)` words (JAX switches to split blocks beyond that; no JS array is that big).
 * @example
 * ```ts
 * import { keyFromSeed, randomBits } from "./threefry.ts";
 *
 * const bits = randomBits(keyFromSeed(1701), 32, 3); // JAX's testRngRandomBits
 * if (bits[0] !== 56197195 || bits[2] !== 961309823) throw new Error("wrong bits");
 * ```
 */
export function randomBits(key: ArrayLike<number>, bitWidth: number, count: number): Uint32Array {
  _checkKey("random_bits", key);
  if (bitWidth !== 8 && bitWidth !== 16 && bitWidth !== 32) {
    throw new RangeError(`Cannot draw random bits of width ${bitWidth}: use 8, 16 or 32`);
  }
  const words = Math.ceil((count * bitWidth) / 32);
  if (!Number.isInteger(count) || count < 0 || words >= 0xffffffff) {
    throw new RangeError(`Cannot draw ${count} random values: count must be in [0, 2^32 - 1)`);
  }
  const bits = threefryHash(key, _iota(words));
  if (bitWidth === 32) return bits;
  const per = 32 / bitWidth, mask = (1 << bitWidth) - 1, out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] = (bits[Math.floor(i / per)] >>> (bitWidth * (i % per))) & mask;
  }
  return out;
}

/** Options of {@link uniformFromBits}. */
export interface UniformOptions {
  /** Inclusive lower bound, rounded to f32 (default 0). */
  readonly minval?: number;
  /** Exclusive upper bound, rounded to f32 (default 1). */
  readonly maxval?: number;
}

/**
 * JAX's `_uniform` for f32, from 32 random bits per element, in f32 arithmetic:
 * `f = bitcast_f32((bits >>> 9) | 0x3f800000) - 1` (a float in [1, 2) minus one, so [0, 1) on
 * a 2^-23 grid), then `max(minval, f * (maxval - minval) + minval)`, each operation rounded to
 * f32 as XLA rounds it.
 *
 * @param bits The random words, u32[n] (from {@link randomBits} with width 32).
 * @param opts `minval` and `maxval`.
 * @returns The samples, f32[n].
 * @example
 * ```ts
 * import { uniformFromBits } from "./threefry.ts";
 *
 * const u = uniformFromBits(new Uint32Array([0, 0xffffffff]));
 * if (u[0] !== 0 || u[1] !== 1 - 2 ** -23) throw new Error("wrong uniform");
 * ```
 */
export function uniformFromBits(bits: Uint32Array, opts: UniformOptions = {}): Float32Array {
  const lo = Math.fround(opts.minval ?? 0), hi = Math.fround(opts.maxval ?? 1);
  const span = Math.fround(hi - lo);
  const out = new Float32Array(bits.length);
  // One 4-byte buffer viewed both ways does the bitcast.
  const word = new Uint32Array(1), asFloat = new Float32Array(word.buffer);
  for (let i = 0; i < bits.length; i++) {
    word[0] = (bits[i] >>> 9) | 0x3f800000;
    const f = asFloat[0] - 1; // exact: both in [1, 2) on the same grid
    out[i] = Math.max(lo, Math.fround(Math.fround(f * span) + lo));
  }
  return out;
}

// np.nextafter(np.float32(-1), np.float32(0)) = -(1 - 2^-24)
const _NEXTAFTER_MINUS_ONE = -(1 - 2 ** -24);
const _SQRT2_F32 = Math.fround(Math.SQRT2);

/**
 * JAX's `_normal_real` for f32: `u = uniform(bits, minval = nextafter(-1, 0), maxval = 1)`, then
 * `sqrt(2) * erf_inv(u)` with XLA's f32 `erf_inv` ({@link erfInv}).
 *
 * @param bits The random words, u32[n].
 * @returns Standard normal samples, f32[n].
 * @example
 * ```ts
 * import { keyFromSeed, normalFromBits, randomBits } from "./threefry.ts";
 *
 * const z = normalFromBits(randomBits(keyFromSeed(0), 32, 4));
 * // jax.random.normal(key(0), (4,)) = [1.8160863, -0.75488514, 0.33988908, -0.53483534]
 * if (Math.abs(z[0] - 1.8160863) > 1e-5) throw new Error("wrong normal");
 * ```
 */
export function normalFromBits(bits: Uint32Array): Float32Array {
  const u = uniformFromBits(bits, { minval: _NEXTAFTER_MINUS_ONE, maxval: 1 });
  const out = new Float32Array(u.length);
  for (let i = 0; i < u.length; i++) out[i] = Math.fround(_SQRT2_F32 * erfInv(u[i]));
  return out;
}

/** Options of {@link randintFromBits}. */
export interface RandintOptions {
  /** Inclusive lower bound, an integer clipped to the int32 range. */
  readonly minval: number;
  /** Exclusive upper bound, an integer clipped to the int32 range. */
  readonly maxval: number;
}

const _I32_MAX = 2147483647, _I32_MIN = -2147483648;

/** Unsigned remainder with XLA's rule for a zero divisor: `x % 0 = x`. */
function _urem(x: number, y: number): number {
  return y === 0 ? x : (x % y) >>> 0;
}

/**
 * JAX's `_randint` for int32, from the bits of its two subkeys (`k1, k2 = split(key)`,
 * `higher = random_bits(k1, 32, shape)`, `lower = random_bits(k2, 32, shape)`), in uint32
 * arithmetic that wraps exactly as XLA's does:
 *
 * ```
 * span = u32(maxval - minval), or 1 when maxval <= minval (+1 if maxval was above int32 max)
 * m = (2^16 % span)^2 % span            // the square wraps modulo 2^32, as in JAX
 * offset = ((higher % span) * m + lower % span) % span
 * out = minval + i32(offset)
 * ```
 *
 * @param higher Bits from the first subkey, u32[n].
 * @param lower Bits from the second subkey, u32[n].
 * @param opts `minval` and `maxval`.
 * @returns The samples, i32[n].
 * @throws {TypeError} When the bit arrays differ in length or a bound is not an integer.
 * @example
 * ```ts
 * import { keyFromSeed, randintFromBits, randomBits, split } from "./threefry.ts";
 *
 * const keys = split(keyFromSeed(0));
 * const hi = randomBits(keys.subarray(0, 2), 32, 9), lo = randomBits(keys.subarray(2, 4), 32, 9);
 * const r = randintFromBits(hi, lo, { minval: 0, maxval: 8 });
 * // jax.random.randint(key(0), (3, 3), 0, 8) = [[2, 1, 3], [6, 1, 5], [6, 3, 4]]
 * if (r.join() !== "2,1,3,6,1,5,6,3,4") throw new Error("wrong randint");
 * ```
 */
export function randintFromBits(
  higher: Uint32Array,
  lower: Uint32Array,
  opts: RandintOptions,
): Int32Array {
  if (higher.length !== lower.length) {
    throw new TypeError(
      `Cannot randint from u32[${higher.length}] and u32[${lower.length}]: lengths differ`,
    );
  }
  if (!Number.isInteger(opts.minval) || !Number.isInteger(opts.maxval)) {
    throw new TypeError(
      `Cannot randint in [${opts.minval}, ${opts.maxval}): bounds must be integers`,
    );
  }
  const clip = (v: number) => Math.min(_I32_MAX, Math.max(_I32_MIN, v));
  const outOfRange = opts.maxval > _I32_MAX;
  const lo = clip(opts.minval), hi = clip(opts.maxval);
  let span = (hi - lo) >>> 0;
  if (hi <= lo) span = 1;
  if (outOfRange && hi > lo) span = (span + 1) >>> 0;
  let mult = _urem(2 ** 16, span);
  mult = _urem(Math.imul(mult, mult) >>> 0, span);
  const out = new Int32Array(higher.length);
  for (let i = 0; i < out.length; i++) {
    const a = Math.imul(_urem(higher[i], span), mult) >>> 0;
    const offset = _urem((a + _urem(lower[i], span)) >>> 0, span);
    out[i] = (lo + (offset | 0)) | 0;
  }
  return out;
}

// XLA's f32 erf_inv: M. Giles, "Approximating the erfinv function", GPU Computing Gems Jade
// Edition (2011), the single-precision version. Coefficients as in XLA's `ErfInv32`
// (xla/client/lib/math.cc) and StableHLO's `erfInv32` (ChloLegalizeToStablehlo.cpp).
const _ERFINV_LT5 = [
  2.81022636e-08,
  3.43273939e-07,
  -3.5233877e-06,
  -4.39150654e-06,
  0.00021858087,
  -0.00125372503,
  -0.00417768164,
  0.246640727,
  1.50140941,
].map(Math.fround);
const _ERFINV_GE5 = [
  -0.000200214257,
  0.000100950558,
  0.00134934322,
  -0.00367342844,
  0.00573950773,
  -0.0076224613,
  0.00943887047,
  1.00167406,
  2.83297682,
].map(Math.fround);

/**
 * The inverse error function as XLA computes it for f32 (what `lax.erf_inv` gives in JAX):
 * Giles' single-precision approximation, every step rounded to f32:
 *
 * ```
 * w = -log1p(-x * x)
 * w < 5:  p = P(w - 2.5)        else:  p = Q(sqrt(w) - 3)      (degree-8 polynomials)
 * erfinv(x) = p * x,  and ±Infinity at x = ±1 (NaN beyond)
 * ```
 *
 * It matches XLA up to its `log1p` and `sqrt` roundings (a few f32 ulps at most); the
 * approximation itself is good to about 4e-7 relative against the true erfinv.
 *
 * @param x A number in [-1, 1], rounded to f32 first.
 * @returns erfinv(x) as an f32 value.
 * @example
 * ```ts
 * import { erf, erfInv } from "./threefry.ts";
 *
 * if (Math.abs(erfInv(erf(0.5)) - 0.5) > 1e-6) throw new Error("not an inverse");
 * ```
 */
export function erfInv(x: number): number {
  const f = Math.fround;
  const x32 = f(x);
  if (Math.abs(x32) === 1) return x32 * Infinity;
  let w = -f(Math.log1p(-f(x32 * x32)));
  const lt = w < 5;
  const c = lt ? _ERFINV_LT5 : _ERFINV_GE5;
  w = lt ? f(w - 2.5) : f(f(Math.sqrt(w)) - 3);
  let p = c[0];
  for (let i = 1; i < c.length; i++) p = f(c[i] + f(p * w));
  return f(p * x32);
}

/**
 * The error function in double precision, relative error below 1e-14 (far inside f32's 6e-8):
 *
 * - `|x| < 2.5`: the everywhere-convergent series with positive terms (Abramowitz & Stegun
 *   7.1.6), `erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1))`, which
 *   has no cancellation;
 * - `|x| >= 2.5`: `erf(x) = 1 - erfc(x)` with Laplace's continued fraction (A&S 7.1.14),
 *   `erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`, evaluated
 *   bottom-up.
 *
 * Chosen over XLA's f32 rational approximations so that tests have an oracle that is more
 * exact than any kernel under test; it needs no tables.
 *
 * @param x Any number.
 * @returns erf(x), with erf(±Infinity) = ±1 and erf(NaN) = NaN.
 * @example
 * ```ts
 * import { erf } from "./threefry.ts";
 *
 * if (Math.abs(erf(1) - 0.8427007929497149) > 1e-15) throw new Error("wrong erf");
 * ```
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x), sign = x < 0 ? -1 : 1;
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x, sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  }
  if (ax > 6) return sign; // erfc(6) ~ 2e-17 is below half an ulp of 1
  let frac = ax;
  for (let n = 80; n >= 1; n--) frac = ax + n / 2 / frac;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / frac;
  return sign * (1 - erfc);
}
