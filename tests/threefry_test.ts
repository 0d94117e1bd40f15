import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  erf,
  erfInv,
  foldIn,
  keyFromSeed,
  normalFromBits,
  randintFromBits,
  randomBits,
  split,
  threefry2x32,
  threefry2x32Arrays,
  threefryHash,
  uniformFromBits,
} from "../core/threefry.ts";

// Sources of the known values below:
// [R123]  Random123's known-answer tests (libs/random/test/test_threefry.cpp, lines 30-32),
//         as copied into JAX's tests/random_test.py `testThreefry2x32`.
// [JT]    JAX's tests/random_test.py, classic mode (each test is skipped under
//         jax_threefry_partitionable): `testRngRandomBits`, `testPRNGValues`, and the
//         `_RANDOM_VALUES_CASES` table of `testRandomDistributionValues` (key =
//         key(zlib.adler32(name + "threefry2x32")), f32, shape (5,), printed to 6 digits).
// [QS]    JAX's quickstart notebook, `random.normal(random.PRNGKey(0), (10,))`, reproduced in many
//         public notebooks run on JAX 0.4.x.
// [DOC]   JAX's "Pseudo random numbers" tutorial output (split of key [0 0], then a normal of the
//         subkey), as printed in a translated copy of the JAX docs.
// [L]     A JAX lesson text whose values were "verified, jax 0.4.38 CPU" (bits, normal,
//         split, fold_in of key(0)); it quotes the odd-length padding of threefry_2x32.

const key0 = keyFromSeed(0);
const f32 = (xs: readonly number[]): Float32Array => new Float32Array(xs);

/** zlib's adler32, which JAX's test table uses to derive one seed per case. */
function adler32(s: string): number {
  let a = 1, b = 0;
  for (const byte of new TextEncoder().encode(s)) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const caseKey = (name: string): Uint32Array => keyFromSeed(adler32(name + "threefry2x32"));

Deno.test("threefry2x32 reproduces the Random123 known-answer vectors [R123]", () => {
  const cases: [number, number, number, number, number, number][] = [
    [0, 0, 0, 0, 0x6b200159, 0x99ba4efe],
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x1cb996fc, 0xbb002be7],
    [0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3, 0xc4923a9c, 0x483df7a0],
  ];
  for (const [k0, k1, x0, x1, y0, y1] of cases) {
    const out = threefry2x32(k0, k1, new Uint32Array([x0]), new Uint32Array([x1]));
    assertEquals(out, [new Uint32Array([y0]), new Uint32Array([y1])]);
  }
});

Deno.test("threefry2x32Arrays hashes each element with its own key [R123]", () => {
  const k0 = new Uint32Array([0, 0xffffffff, 0x13198a2e]);
  const k1 = new Uint32Array([0, 0xffffffff, 0x03707344]);
  const x0 = new Uint32Array([0, 0xffffffff, 0x243f6a88]);
  const x1 = new Uint32Array([0, 0xffffffff, 0x85a308d3]);
  assertEquals(threefry2x32Arrays(k0, k1, x0, x1), [
    new Uint32Array([0x6b200159, 0x1cb996fc, 0xc4923a9c]),
    new Uint32Array([0x99ba4efe, 0xbb002be7, 0x483df7a0]),
  ]);
});

Deno.test("threefryHash pairs the first half of the counts with the second (testThreefry2x32Large) [JT]", () => {
  const n = 1000;
  const count = new Uint32Array(2 * n);
  count.fill(0x243f6a88, 0, n);
  count.fill(0x85a308d3, n);
  const out = threefryHash([0x13198a2e, 0x03707344], count);
  assert(out.subarray(0, n).every((v) => v === 0xc4923a9c));
  assert(out.subarray(n).every((v) => v === 0x483df7a0));
});

Deno.test("threefryHash pads an odd count with a zero and drops the extra word [L]", () => {
  // bits(key(0), (3,)) hashes the pairs (0, 2) and (1, 0): entries 0 and 2 agree with the
  // 4-word draw, which pairs (0, 2) and (1, 3); entry 1 does not.
  assertEquals(
    threefryHash([0, 0], new Uint32Array([0, 1, 2])),
    new Uint32Array([4146024105, 1351547692, 2718843009]),
  );
  assertEquals(
    threefryHash([0, 0], new Uint32Array([0, 1, 2, 3])),
    new Uint32Array([4146024105, 967050713, 2718843009, 1272950319]),
  );
  const [y0, y1] = threefry2x32(0, 0, new Uint32Array([1]), new Uint32Array([0]));
  assertEquals([y0[0], y1[0]], [1351547692, threefryHash([0, 0], new Uint32Array([1, 0]))[1]]);
  assertEquals(threefryHash([0, 0], new Uint32Array(0)), new Uint32Array(0));
});

Deno.test("split of key(0) gives JAX's two keys [DOC] and its four keys [JT]", () => {
  assertEquals(split(key0), new Uint32Array([4146024105, 967050713, 2718843009, 1272950319]));
  assertEquals(
    split(key0, 4),
    new Uint32Array([
      2285895361,
      1501764800,
      1518642379,
      4090693311,
      433833334,
      4221794875,
      839183663,
      3740430601,
    ]),
  );
  // Splitting is the same hash as drawing bits of twice the length [L].
  assertEquals(split(key0, 4), randomBits(key0, 32, 8));
  assertEquals(split(key0, 0), new Uint32Array(0));
});

Deno.test("foldIn hashes the counter pair (0, data) [JT] [L]", () => {
  assertEquals(foldIn(key0, 4), new Uint32Array([2285895361, 433833334]));
  assertEquals(foldIn(key0, 3), new Uint32Array([2467461003, 3840466878]));
  assertEquals(foldIn(key0, 2 ** 32 + 3), foldIn(key0, 3));
  assertEquals(foldIn(key0, -1), foldIn(key0, 0xffffffff));
});

Deno.test("keyFromSeed matches JAX's seeds with 64-bit types off [JT]", () => {
  const cases: [number, number][] = [
    [0, 0],
    [1, 1],
    [-1, 4294967295],
    [-2, 4294967294],
    [2147483647 + 100, 2147483747],
    [-2147483648 - 100, 2147483548],
  ];
  for (const [seed, word] of cases) assertEquals(keyFromSeed(seed), new Uint32Array([0, word]));
  assertThrows(() => keyFromSeed(Math.PI), TypeError, "must be an integer");
});

Deno.test("randomBits of key(1701) gives JAX's 8, 16 and 32-bit words (testRngRandomBits) [JT]", () => {
  const key = keyFromSeed(1701);
  assertEquals(randomBits(key, 8, 3), new Uint32Array([216, 115, 43]));
  assertEquals(randomBits(key, 16, 3), new Uint32Array([41682, 1300, 55017]));
  assertEquals(randomBits(key, 32, 3), new Uint32Array([56197195, 4200222568, 961309823]));
});

Deno.test("randomBits matches the bits rows of JAX's distribution table [JT]", () => {
  const key = caseKey("bits");
  assertEquals(randomBits(key, 8, 5), new Uint32Array([10, 158, 82, 54, 158]));
  assertEquals(randomBits(key, 16, 5), new Uint32Array([6738, 38161, 50695, 57337, 61600]));
  assertEquals(
    randomBits(key, 32, 5),
    new Uint32Array([1978747883, 4134381225, 3628107870, 689687174, 2788938207]),
  );
});

Deno.test("randomBits of widths 8 and 16 are little-endian views of the 32-bit words", () => {
  const key = keyFromSeed(1701), words = randomBits(key, 32, 10);
  const bytes = new Uint8Array(new Uint32Array(words).buffer);
  assertEquals(randomBits(key, 8, 40), Uint32Array.from(bytes));
  const halves = new Uint16Array(new Uint32Array(words).buffer);
  assertEquals(randomBits(key, 16, 20), Uint32Array.from(halves));
});

Deno.test("randomBits rejects unsupported widths and counts", () => {
  assertThrows(() => randomBits(key0, 64, 3), RangeError, "use 8, 16 or 32");
  assertThrows(() => randomBits(key0, 32, -1), RangeError, "count must be");
  assertThrows(() => randomBits(key0, 32, 1.5), RangeError, "count must be");
  assertThrows(() => split(new Uint32Array(3)), TypeError, "a threefry2x32 key is u32[2]");
});

Deno.test("uniformFromBits matches JAX's uniform values [JT]", () => {
  const u = uniformFromBits(randomBits(caseKey("uniform"), 32, 5));
  assertAllClose(u, [0.298671, 0.073213, 0.873356, 0.260549, 0.412797], { atol: 1e-6 });
});

Deno.test("uniformFromBits keeps 23 bits, scales in f32 and clamps at minval", () => {
  const bits = new Uint32Array([0, 0x1ff, 0x200, 0xffffffff]);
  assertEquals(uniformFromBits(bits), f32([0, 0, 2 ** -23, 1 - 2 ** -23]));
  assertEquals(
    uniformFromBits(bits, { minval: -3, maxval: 5 }),
    f32([-3, -3, -3 + 8 * 2 ** -23, 5 - 8 * 2 ** -23]),
  );
  // With minval = nextafter(-1, 0) the span rounds to 2 in f32 (the normal sampler's range).
  assertEquals(
    uniformFromBits(new Uint32Array([0]), { minval: -(1 - 2 ** -24), maxval: 1 }),
    f32([-(1 - 2 ** -24)]),
  );
});

Deno.test("normalFromBits reproduces normal(key(0), (10,)) bit for bit [QS]", () => {
  const expected = [
    -0.3721109,
    0.26423115,
    -0.18252768,
    -0.7368197,
    -0.44030377,
    -0.1521442,
    -0.67135346,
    -0.5908641,
    0.73168886,
    0.5673026,
  ];
  assertEquals(normalFromBits(randomBits(key0, 32, 10)), f32(expected));
});

Deno.test("normalFromBits shows the odd-count padding in normal(key(0), (9,)) [L]", () => {
  // Entry 4 pairs count 4 with the padding 0 instead of with 9, so only it moves.
  const z = normalFromBits(randomBits(key0, 32, 9));
  assertEquals(
    z,
    f32([
      -0.3721109,
      0.26423115,
      -0.18252768,
      -0.7368197,
      0.44973662,
      -0.1521442,
      -0.67135346,
      -0.5908641,
      0.73168886,
    ]),
  );
  assertEquals(
    normalFromBits(randomBits(key0, 32, 4)),
    f32([1.8160863, -0.75488514, 0.33988908, -0.53483534]),
  );
  assertEquals(normalFromBits(randomBits(key0, 32, 3)), f32([1.8160863, -0.48262316, 0.33988908]));
});

Deno.test("normalFromBits of the subkey of split(key(0)) gives the docs' -1.2515389 [DOC]", () => {
  const subkey = split(key0).subarray(2, 4);
  assertEquals(normalFromBits(randomBits(subkey, 32, 1)), f32([-1.2515389]));
});

Deno.test("normalFromBits matches JAX's normal values [JT]", () => {
  const z = normalFromBits(randomBits(caseKey("normal"), 32, 5));
  assertAllClose(z, [-1.173234, -1.511662, 0.070593, -0.099764, 1.052845], { atol: 1e-6 });
});

Deno.test("randintFromBits reproduces randint(key(0), (3, 3), 0, 8) [JT]", () => {
  const keys = split(key0);
  const hi = randomBits(keys.subarray(0, 2), 32, 9), lo = randomBits(keys.subarray(2, 4), 32, 9);
  assertEquals(
    randintFromBits(hi, lo, { minval: 0, maxval: 8 }),
    new Int32Array([2, 1, 3, 6, 1, 5, 6, 3, 4]),
  );
});

Deno.test("randintFromBits matches JAX's randint values [JT]", () => {
  const keys = split(caseKey("randint"));
  const hi = randomBits(keys.subarray(0, 2), 32, 5), lo = randomBits(keys.subarray(2, 4), 32, 5);
  assertEquals(
    randintFromBits(hi, lo, { minval: 0, maxval: 10 }),
    new Int32Array([0, 5, 7, 7, 5]),
  );
});

Deno.test("randintFromBits wraps like XLA's uint32 arithmetic at the edges", () => {
  const hi = new Uint32Array([0, 7, 0xffffffff]), lo = new Uint32Array([5, 9, 0xfffffffe]);
  // maxval <= minval always returns minval.
  assertEquals(randintFromBits(hi, lo, { minval: 3, maxval: 3 }), new Int32Array([3, 3, 3]));
  assertEquals(randintFromBits(hi, lo, { minval: 5, maxval: -5 }), new Int32Array([5, 5, 5]));
  // The full int32 range: span wraps to 0 and x % 0 = x, so the result is minval + lower.
  assertEquals(
    randintFromBits(hi, lo, { minval: -(2 ** 31), maxval: 2 ** 31 }),
    new Int32Array([-(2 ** 31) + 5, -(2 ** 31) + 9, 2 ** 31 - 2]),
  );
  // span = 2^17: (2^16 % span)^2 = 2^32 wraps to 0, so only the low bits count (as in JAX).
  assertEquals(
    randintFromBits(hi, lo, { minval: 0, maxval: 2 ** 17 }),
    new Int32Array([5, 9, 2 ** 17 - 2]),
  );
  assertThrows(() => randintFromBits(hi, lo, { minval: 0.5, maxval: 2 }), TypeError, "integers");
});

Deno.test("the samplers composed as JAX composes them give its bernoulli, gumbel, exponential and truncated normal values [JT]", () => {
  const f = Math.fround;
  // bernoulli: uniform < p.
  const ub = uniformFromBits(randomBits(caseKey("bernoulli"), 32, 5));
  assertEquals(Array.from(ub, (u) => u < 0.5), [false, true, true, true, false]);
  // gumbel: -log(-log(uniform(minval = tiny, maxval = 1))).
  const tiny = 2 ** -126;
  const ug = uniformFromBits(randomBits(caseKey("gumbel"), 32, 5), { minval: tiny, maxval: 1 });
  assertAllClose(
    Array.from(ug, (u) => f(-Math.log(f(-Math.log(u))))),
    [2.06701, 0.911726, 0.145736, 0.185427, -0.00711],
    { atol: 1e-6 },
  );
  // exponential: -log1p(-uniform).
  const ue = uniformFromBits(randomBits(caseKey("exponential"), 32, 5));
  assertAllClose(
    Array.from(ue, (u) => f(-Math.log1p(-u))),
    [0.526067, 0.043046, 0.039932, 0.46427, 0.123886],
    { atol: 1e-6 },
  );
  // truncated_normal(lower = 0, upper = 2): sqrt2 * erf_inv(uniform(erf(lo/sqrt2), erf(up/sqrt2))).
  const s2 = f(Math.SQRT2);
  const a = f(erf(f(0 / s2))), b = f(erf(f(2 / s2)));
  const ut = uniformFromBits(randomBits(caseKey("truncated_normal"), 32, 5), {
    minval: a,
    maxval: b,
  });
  assertAllClose(
    Array.from(ut, (u) => f(s2 * erfInv(u))),
    [0.582807, 1.709771, 0.159513, 0.861376, 0.36148],
    { atol: 1e-6 },
  );
});

Deno.test("erf matches known values to double precision", () => {
  const cases: [number, number][] = [
    [0, 0],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [3, 0.9999779095030014],
    [-1, -0.8427007929497149],
  ];
  for (const [x, y] of cases) assertAllClose(erf(x), y, { rtol: 1e-14, atol: 0 });
  assertEquals([erf(Infinity), erf(-Infinity), erf(7)], [1, -1, 1]);
  assert(Number.isNaN(erf(NaN)));
});

Deno.test("erf is continuous where it switches from the series to the continued fraction", () => {
  const below = erf(2.5 - 1e-12), above = erf(2.5);
  assertAllClose(below, above, { rtol: 1e-14, atol: 0 });
  assertAllClose(erf(2.5), 0.999593047982555, { rtol: 1e-14, atol: 0 });
});

Deno.test("erfInv handles its edges like XLA's f32 erf_inv", () => {
  assertEquals([erfInv(0), erfInv(1), erfInv(-1)], [0, Infinity, -Infinity]);
  assert(Number.isNaN(erfInv(1.5)));
  assert(Object.is(erfInv(-0), -0));
  assertAllClose(erfInv(0.5), 0.4769362762044699, { rtol: 1e-6, atol: 0 });
});

/** erfinv in double precision by Newton's method on {@link erf}: the oracle for erfInv. */
function erfInvDouble(x: number): number {
  let y = 0;
  for (let i = 0; i < 100; i++) {
    const step = (erf(y) - x) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-y * y));
    y -= step;
    if (Math.abs(step) <= 1e-15 * Math.abs(y)) break;
  }
  return y;
}

Deno.test("erfInv is within 1e-6 relative of the true erfinv on both of Giles' branches", () => {
  // w = -log(1 - x^2) < 5 for |x| < 0.9966, else the sqrt(w) branch; inputs are f32 values.
  const xs = [1e-3, 0.25, 0.5, 0.9, 0.99, 0.9966, 0.999, 0.99999, 1 - 2 ** -24].map(Math.fround);
  for (const x of [...xs, ...xs.map((v) => -v)]) {
    assertAllClose(erfInv(x), erfInvDouble(x), { rtol: 1e-6, atol: 0, msg: `erfInv(${x})` });
  }
});

const SEED = 20250611;

Deno.test(`erfInv inverts erf to f32 accuracy (fast-check seed ${SEED})`, () => {
  fc.assert(
    fc.property(fc.double({ min: -3.5, max: 3.5, noNaN: true }), (x) => {
      const y = erfInv(erf(x));
      // The slope of erfinv grows like e^(x^2): allow a few f32 ulps of erf(x) through it.
      const tol = 2e-6 * Math.abs(x) + 1e-7 * Math.exp(x * x);
      return Math.abs(y - x) <= tol;
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

Deno.test(`threefry2x32Arrays with constant keys equals threefry2x32 (fast-check seed ${SEED})`, () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(
    fc.property(u32, u32, fc.array(fc.tuple(u32, u32), { maxLength: 8 }), (k0, k1, xs) => {
      const x0 = Uint32Array.from(xs, (p) => p[0]), x1 = Uint32Array.from(xs, (p) => p[1]);
      const keys0 = new Uint32Array(xs.length).fill(k0);
      const keys1 = new Uint32Array(xs.length).fill(k1);
      const a = threefry2x32(k0, k1, x0, x1), b = threefry2x32Arrays(keys0, keys1, x0, x1);
      return a[0].every((v, i) => v === b[0][i]) && a[1].every((v, i) => v === b[1][i]);
    }),
    { seed: SEED, numRuns: 200 },
  );
});

Deno.test("threefry2x32 rejects counters of different lengths", () => {
  assertThrows(
    () => threefry2x32(0, 0, new Uint32Array(2), new Uint32Array(3)),
    TypeError,
    "Cannot threefry2x32 u32[2] and u32[3]: counter lengths differ",
  );
  assertThrows(
    () =>
      threefry2x32Arrays(
        new Uint32Array(1),
        new Uint32Array(2),
        new Uint32Array(2),
        new Uint32Array(2),
      ),
    TypeError,
    "lengths differ",
  );
});
