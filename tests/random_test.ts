import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, makeJaxpr, np, type Tensor, vmap } from "../mod.ts";
import * as random from "../core/random.ts";
import { CPU_ADAPTER_PROFILE, setActiveProfile } from "../gpu/target.ts";
import { threefry2x32 } from "../core/prims/threefry_prim.ts";
import {
  keyFromSeed,
  randintFromBits,
  randomBits,
  split as splitRef,
  threefry2x32Arrays,
  uniformFromBits,
} from "../core/threefry.ts";

// Known values come from the same sources as tests/threefry_test.ts ([JT] JAX's
// tests/random_test.py in classic threefry mode, [QS] the quickstart's normal(key(0), (10,)),
// [DOC] the PRNG tutorial, [L] a lesson text verified on jax 0.4.38 CPU). Where no JAX value
// is quoted, the traced samplers are checked against the plain-array oracle in
// core/threefry.ts, composed as JAX composes them.

const f32 = (xs: readonly number[]): Float32Array => new Float32Array(xs);
const u32 = (xs: readonly number[]): Uint32Array => new Uint32Array(xs);
const data = (t: Tensor): Promise<unknown> => t.data();

/** zlib's adler32, which JAX's test table uses to derive one seed per case. */
function adler32(s: string): number {
  let a = 1, b = 0;
  for (const byte of new TextEncoder().encode(s)) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}
/** The key of a row of JAX's `_RANDOM_VALUES_CASES` table [JT]. */
const caseKey = (name: string): Tensor => random.key(adler32(name + "threefry2x32"));

const NORMAL_KEY0_10 = [
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

/** Row `i` of a stack of keys, as a u32[2] key. */
const row = (keys: Tensor, i: number): Tensor =>
  np.reshape(np.slice(keys, [i, 0], [i + 1, 2]), [2]);

/** A stable argsort of plain numbers (the oracle for the shuffle's sort by random keys). */
function argsortStable(xs: ArrayLike<number>): number[] {
  return Array.from(xs, (_, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
}

// ---------------------------------------------------------------- the primitive

Deno.test("threefry2x32 reproduces the Random123 known-answer vectors elementwise", async () => {
  const k0 = np.array(u32([0, 0xffffffff, 0x13198a2e]));
  const k1 = np.array(u32([0, 0xffffffff, 0x03707344]));
  const x0 = np.array(u32([0, 0xffffffff, 0x243f6a88]));
  const x1 = np.array(u32([0, 0xffffffff, 0x85a308d3]));
  const [y0, y1] = threefry2x32(k0, k1, x0, x1);
  assertEquals(await y0.data(), u32([0x6b200159, 0x1cb996fc, 0xc4923a9c]));
  assertEquals(await y1.data(), u32([0x99ba4efe, 0xbb002be7, 0x483df7a0]));
});

Deno.test("threefry2x32 rejects operands that are not four u32 arrays of one shape", () => {
  const a = np.array(u32([1, 2])), b = np.array(u32([1, 2, 3]));
  assertThrows(
    () => threefry2x32(a, a, a, b),
    TypeError,
    "Cannot threefry2x32 u32[2], u32[2], u32[2] and u32[3]: expects four u32 operands",
  );
  assertThrows(() => threefry2x32(a, a, a, np.array([1, 2])), TypeError, "f32[2]");
});

Deno.test("vmap of threefry2x32 with a batched key and shared counters is one batched op", async () => {
  const keys = np.array(u32([0, 0, 0xffffffff, 0xffffffff]), { shape: [2, 2] });
  const x = np.array(u32([0, 0xffffffff]));
  const f = (k: Tensor) => {
    const k0 = np.broadcastTo(np.reshape(np.slice(k, [0], [1]), []), [2]);
    const k1 = np.broadcastTo(np.reshape(np.slice(k, [1], [2]), []), [2]);
    return threefry2x32(k0, k1, x, x)[0];
  };
  const k = u32([0, 0, 0xffffffff, 0xffffffff]), xs = u32([0, 0xffffffff, 0, 0xffffffff]);
  assertEquals(await vmap(f)(keys).data(), threefry2x32Arrays(k, k, xs, xs)[0]);
  const jaxpr = String(makeJaxpr(vmap(f))(keys));
  assertEquals(jaxpr.match(/threefry2x32/g)?.length, 1);
});

Deno.test("threefry2x32 under jit equals eager", async () => {
  const x = np.array(u32([0, 1, 2, 0xffffffff]));
  const k = np.array(u32([7, 7, 7, 7]));
  const f = (a: Tensor, b: Tensor) => threefry2x32(a, a, b, b);
  const [e0, e1] = f(k, x), [j0, j1] = jit(f)(k, x);
  assertEquals(await j0.data(), await e0.data());
  assertEquals(await j1.data(), await e1.data());
});

// ---------------------------------------------------------------- keys

Deno.test("key holds [0, seed mod 2^32] as JAX with 64-bit types off", async () => {
  assertEquals(await random.key(0).data(), u32([0, 0]));
  assertEquals(await random.key(42).data(), u32([0, 42]));
  assertEquals(await random.key(-1).data(), u32([0, 4294967295]));
  assertEquals(await random.key(2147483647 + 100).data(), u32([0, 2147483747]));
  assertEquals(String(random.key(0)), "Tensor(u32[2])");
  assertEquals(await random.key(np.array(-2, { dtype: "i32" })).data(), u32([0, 4294967294]));
});

Deno.test("key rejects seeds that are not integers", () => {
  assertThrows(() => random.key(1.5), TypeError, "random.key expects an integer seed, got 1.5");
  assertThrows(() => random.key(np.array(1)), TypeError, "got f32[]");
  assertThrows(() => random.key(np.array([1, 2], { dtype: "i32" })), TypeError, "got i32[2]");
});

Deno.test("split of key(0) gives JAX's two keys [DOC] and four keys [JT]", async () => {
  const key = random.key(0);
  assertEquals(await random.split(key).toArray(), [[4146024105, 967050713], [
    2718843009,
    1272950319,
  ]]);
  assertEquals(await random.split(key, 4).data(), splitRef(keyFromSeed(0), 4));
  assertEquals(String(random.split(key, 4)), "Tensor(u32[4,2])");
  assertEquals(String(random.split(key, [2, 3])), "Tensor(u32[2,3,2])");
  assertEquals(await random.split(key, [2, 3]).data(), splitRef(keyFromSeed(0), 6));
  assertEquals(String(random.split(key, 0)), "Tensor(u32[0,2])");
});

Deno.test("foldIn hashes the counter pair (0, data) [JT] [L]", async () => {
  const key = random.key(0);
  assertEquals(await random.foldIn(key, 4).data(), u32([2285895361, 433833334]));
  assertEquals(await random.foldIn(key, 3).data(), u32([2467461003, 3840466878]));
  assertEquals(await random.foldIn(key, -1).data(), await random.foldIn(key, 0xffffffff).data());
  const traced = jit((k: Tensor, d: Tensor) => random.foldIn(k, d));
  assertEquals(
    await traced(key, np.array(3, { dtype: "i32" })).data(),
    u32([2467461003, 3840466878]),
  );
  assertThrows(() => random.foldIn(key, 0.5), TypeError, "random.foldIn expects integer data");
});

// ---------------------------------------------------------------- bits

Deno.test("bits of key(1701) gives JAX's 32, 16 and 8-bit words (testRngRandomBits) [JT]", async () => {
  const key = random.key(1701);
  assertEquals(await random.bits(key, [3]).data(), u32([56197195, 4200222568, 961309823]));
  assertEquals(await random.bits(key, [3], { bitWidth: 16 }).data(), u32([41682, 1300, 55017]));
  assertEquals(await random.bits(key, [3], { bitWidth: 8 }).data(), u32([216, 115, 43]));
  assertEquals(
    await random.bits(caseKey("bits"), [5]).data(),
    randomBits(keyFromSeed(adler32("bitsthreefry2x32")), 32, 5),
  );
});

Deno.test("bits pads an odd count with a zero word, as JAX's threefry_2x32 does [L]", async () => {
  const key = random.key(0);
  assertEquals(await random.bits(key, [3]).data(), u32([4146024105, 1351547692, 2718843009]));
  assertEquals(
    await random.bits(key, [4]).data(),
    u32([4146024105, 967050713, 2718843009, 1272950319]),
  );
  const b = random.bits(key, [3, 5]);
  assertEquals(String(b), "Tensor(u32[3,5])");
  assertEquals(await b.data(), randomBits(keyFromSeed(0), 32, 15));
  assertEquals(String(random.bits(key)), "Tensor(u32[])");
  assertEquals(await random.bits(key, [0]).data(), u32([]));
});

// ---------------------------------------------------------------- uniform and normal

Deno.test("normal(key(0), [10]) is JAX's quickstart sample bit for bit [QS]", async () => {
  assertEquals(await random.normal(random.key(0), [10]).data(), f32(NORMAL_KEY0_10));
});

Deno.test("normal shows JAX's odd-count padding for 9, 4 and 3 samples [L]", async () => {
  const key = random.key(0);
  const nine = [...NORMAL_KEY0_10.slice(0, 9)];
  nine[4] = 0.44973662; // count 4 pairs with the padding word instead of with 9
  assertEquals(await random.normal(key, [9]).data(), f32(nine));
  assertEquals(
    await random.normal(key, [4]).data(),
    f32([1.8160863, -0.75488514, 0.33988908, -0.53483534]),
  );
  assertEquals(await random.normal(key, [3]).data(), f32([1.8160863, -0.48262316, 0.33988908]));
});

Deno.test("normal of the subkey of split(key(0)) is the tutorial's -1.2515389 [DOC]", async () => {
  const sub = row(random.split(random.key(0)), 1);
  assertEquals(await random.normal(sub).data(), f32([-1.2515389]));
  assertEquals(String(random.normal(sub)), "Tensor(f32[])");
});

Deno.test("uniform and normal match JAX's distribution table [JT]", async () => {
  assertAllClose(
    await random.uniform(caseKey("uniform"), [5]).data(),
    [0.298671, 0.073213, 0.873356, 0.260549, 0.412797],
    { atol: 1e-6 },
  );
  assertAllClose(
    await random.normal(caseKey("normal"), [5]).data(),
    [-1.173234, -1.511662, 0.070593, -0.099764, 1.052845],
    { atol: 1e-6 },
  );
});

Deno.test("uniform scales in f32 exactly as the oracle, with bounds that broadcast", async () => {
  const key = random.key(7), ref = randomBits(keyFromSeed(7), 32, 6);
  assertEquals(await random.uniform(key, [6]).data(), uniformFromBits(ref));
  assertEquals(
    await random.uniform(key, [6], { minval: -3, maxval: 5 }).data(),
    uniformFromBits(ref, { minval: -3, maxval: 5 }),
  );
  // Per-column bounds [2, 3] broadcast against the shape [2, 3].
  const lo = np.array([0, 10, 20]), hi = np.array([1, 20, 40]);
  const u = await random.uniform(key, [2, 3], { minval: lo, maxval: hi }).data();
  const expected = [0, 1, 2, 3, 4, 5].map((i) => {
    const [l, h] = [[0, 1], [10, 20], [20, 40]][i % 3];
    return uniformFromBits(ref.subarray(i, i + 1), { minval: l, maxval: h })[0];
  });
  assertEquals(u, f32(expected));
});

// ---------------------------------------------------------------- the other samplers

Deno.test("randint(key(0), [3, 3], 0, 8) is JAX's [[2, 1, 3], [6, 1, 5], [6, 3, 4]] [JT]", async () => {
  const r = random.randint(random.key(0), [3, 3], 0, 8);
  assertEquals(String(r), "Tensor(i32[3,3])");
  assertEquals(await r.toArray(), [[2, 1, 3], [6, 1, 5], [6, 3, 4]]);
  assertEquals(await random.randint(caseKey("randint"), [5], 0, 10).toArray(), [0, 5, 7, 7, 5]);
});

Deno.test("randint wraps like XLA's uint32 arithmetic at the edges of the int32 range", async () => {
  const key = random.key(3), keys = splitRef(keyFromSeed(3));
  const hi = randomBits(keys.subarray(0, 2), 32, 6), lo = randomBits(keys.subarray(2, 4), 32, 6);
  const cases: [number, number][] = [
    [-(2 ** 31), 2 ** 31],
    [0, 2 ** 17],
    [-7, 100],
    [0, 2 ** 40],
  ];
  for (const [minval, maxval] of cases) {
    const clipped = Math.min(maxval, 2 ** 31);
    const expected = maxval > 2 ** 31
      ? randintFromBits(hi, lo, { minval, maxval: 2 ** 31 })
      : randintFromBits(hi, lo, { minval, maxval: clipped });
    assertEquals(
      await random.randint(key, [6], minval, maxval).data(),
      expected,
      `randint in [${minval}, ${maxval})`,
    );
  }
});

Deno.test("randint takes tensor bounds that broadcast to the shape", async () => {
  const r = random.randint(
    random.key(1),
    [1000, 3],
    np.array([0, 10, -5], { dtype: "i32" }),
    np.array([2, 13, -4], { dtype: "i32" }),
  );
  const v = await r.toArray() as number[][];
  for (const [a, b, c] of v) assert(a >= 0 && a < 2 && b >= 10 && b < 13 && c === -5);
  assert(v.some(([a]) => a === 1) && v.some(([, b]) => b === 12));
});

Deno.test("bernoulli, gumbel, exponential and truncatedNormal match JAX's distribution table [JT]", async () => {
  assertEquals(
    await random.bernoulli(caseKey("bernoulli"), 0.5, [5]).toArray(),
    [false, true, true, true, false],
  );
  assertAllClose(
    await random.gumbel(caseKey("gumbel"), [5]).data(),
    [2.06701, 0.911726, 0.145736, 0.185427, -0.00711],
    { atol: 1e-6 },
  );
  assertAllClose(
    await random.exponential(caseKey("exponential"), [5]).data(),
    [0.526067, 0.043046, 0.039932, 0.46427, 0.123886],
    { atol: 1e-6 },
  );
  assertAllClose(
    await random.truncatedNormal(caseKey("truncated_normal"), 0, 2, [5]).data(),
    [0.582807, 1.709771, 0.159513, 0.861376, 0.36148],
    { atol: 1e-6 },
  );
});

Deno.test("truncatedNormal stays strictly inside its bounds, even infinite ones", async () => {
  const key = random.key(5);
  const z = await random.truncatedNormal(key, -0.5, 0.25, [2000]).data();
  assert(z.every((v) => v > -0.5 && v < 0.25));
  const w = await random.truncatedNormal(key, -Infinity, Infinity, [2000]).data();
  assert(w.every((v) => Number.isFinite(v)));
  // The shape defaults to the broadcast of the bounds.
  const b = random.truncatedNormal(key, np.array([[-1], [0]]), np.array([1, 2, 3]));
  assertEquals(String(b), "Tensor(f32[2,3])");
});

Deno.test("bernoulli takes its shape from p by default", async () => {
  const m = random.bernoulli(random.key(0), np.array([0, 1, 0, 1]));
  assertEquals(String(m), "Tensor(bool[4])");
  assertEquals(await m.toArray(), [false, true, false, true]);
  assertEquals(String(random.bernoulli(random.key(0))), "Tensor(bool[])");
});

Deno.test("categorical is the argmax of logits plus the Gumbel noise of the same key", async () => {
  const key = random.key(11);
  const logits = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]));
  const g = random.gumbel(key, [4, 2, 3]);
  const expected = np.argmax(np.add(g, logits), { axis: -1 });
  const draws = random.categorical(key, logits, { shape: [4, 2] });
  assertEquals(String(draws), "Tensor(i32[4,2])");
  assertEquals(await draws.data(), await expected.data());
  // Categories on axis 0: logits [3, 2], batch shape [2].
  const t = np.transpose(logits);
  const d0 = random.categorical(key, t, { axis: 0 });
  const g0 = random.gumbel(key, [3, 2]);
  assertEquals(await d0.data(), await np.argmax(np.add(g0, t), { axis: 0 }).data());
});

Deno.test("categorical draws each category about as often as its probability", async () => {
  const p = [0.1, 0.2, 0.7];
  const draws = await random.categorical(random.key(2), np.log(np.array(p)), { shape: [10000] })
    .data();
  for (let c = 0; c < 3; c++) {
    const freq = Array.from(draws).filter((d) => d === c).length / 10000;
    assertAllClose(freq, p[c], { atol: 0.02 });
  }
});

// ---------------------------------------------------------------- permutations and choice

Deno.test("permutation sorts by the bits of the subkey, as JAX's shuffle", async () => {
  // One round for n < 1626: key, subkey = split(key); sort arange(n) by bits(subkey, (n,)).
  const sub = splitRef(keyFromSeed(0)).subarray(2, 4);
  const expected = argsortStable(randomBits(sub, 32, 10));
  const perm = random.permutation(random.key(0), 10);
  assertEquals(String(perm), "Tensor(i32[10])");
  assertEquals(await perm.toArray(), expected);
  // An array along axis 0 is permuted with the same order.
  const x = np.multiply(np.arange(10), 10);
  assertEquals(await random.permutation(random.key(0), x).toArray(), expected.map((i) => i * 10));
});

Deno.test("permutation sorts twice from 1626 elements on, as JAX's round count asks", async () => {
  // rounds = ceil(3 ln(n) / ln(2^32 - 1)): 1 below n = 1626, 2 from there to about 2^21.
  const n = 2000;
  let k = splitRef(keyFromSeed(8)), order = Array.from({ length: n }, (_, i) => i);
  for (let round = 0; round < 2; round++) {
    const b = randomBits(k.subarray(2, 4), 32, n);
    order = argsortStable(b).map((i) => order[i]);
    k = splitRef(k.subarray(0, 2));
  }
  assertEquals(await random.permutation(random.key(8), n).toArray(), order);
});

Deno.test("permutation of a matrix moves whole slices along the axis, or each slice independently", async () => {
  const key = random.key(4);
  const x = np.reshape(np.arange(12), [3, 4]);
  const sub = splitRef(keyFromSeed(4)).subarray(2, 4);
  const order = argsortStable(randomBits(sub, 32, 4));
  const cols = await random.permutation(key, x, { axis: 1 }).toArray() as number[][];
  assertEquals(cols, [0, 1, 2].map((r) => order.map((c) => 4 * r + c)));
  // independent: sort keys of the full shape [3, 4], each row sorted by its own keys.
  const bits = randomBits(sub, 32, 12);
  const ind = await random.permutation(key, x, { axis: 1, independent: true }).toArray();
  assertEquals(
    ind,
    [0, 1, 2].map((r) => argsortStable(bits.subarray(4 * r, 4 * r + 4)).map((c) => 4 * r + c)),
  );
  assertEquals(await random.permutation(key, 1).toArray(), [0]);
  assertEquals(await random.permutation(key, 0).toArray(), []);
});

Deno.test("choice without p draws randint indices, or the head of a permutation", async () => {
  const key = random.key(9);
  assertEquals(
    await random.choice(key, 5, { shape: [2, 3] }).data(),
    await random.randint(key, [2, 3], 0, 5).data(),
  );
  const x = np.array([[1, 2], [3, 4], [5, 6], [7, 8]]);
  const rows = random.choice(key, x, { shape: [3] });
  assertEquals(String(rows), "Tensor(f32[3,2])");
  const idx = await random.randint(key, [3], 0, 4).toArray() as number[];
  assertEquals(await rows.toArray(), idx.map((i) => [2 * i + 1, 2 * i + 2]));
  const perm = await random.permutation(key, 4).toArray() as number[];
  const noRep = await random.choice(key, 4, { shape: [3], replace: false }).toArray();
  assertEquals(noRep, perm.slice(0, 3));
  const cols = random.choice(key, x, { shape: [1], replace: false, axis: 1 });
  assertEquals(String(cols), "Tensor(f32[4,1])");
  assertEquals(String(random.choice(key, 3)), "Tensor(i32[])");
});

Deno.test("choice with p follows the probabilities, with and without replacement", async () => {
  const p = np.array([0.1, 0.0, 0.6, 0.3]);
  const draws = Array.from(await random.choice(random.key(1), 4, { shape: [10000], p }).data());
  assertEquals(draws.filter((d) => d === 1).length, 0);
  for (const [c, pc] of [[0, 0.1], [2, 0.6], [3, 0.3]]) {
    assertAllClose(draws.filter((d) => d === c).length / 10000, pc, { atol: 0.02 });
  }
  for (let seed = 0; seed < 5; seed++) {
    const picks = await random.choice(random.key(seed), 4, { shape: [3], p, replace: false })
      .toArray() as number[];
    assertEquals(new Set(picks).size, 3);
    assert(!picks.includes(1), `seed ${seed}: drew an impossible candidate`);
  }
});

Deno.test("choice rejects impossible requests", () => {
  const key = random.key(0);
  assertThrows(
    () => random.choice(key, 3, { shape: [4], replace: false }),
    TypeError,
    "cannot take a larger sample (4) than the population (3)",
  );
  assertThrows(() => random.choice(key, 3, { p: np.array([0.5, 0.5]) }), TypeError, "f32[3]");
  assertThrows(() => random.permutation(key, np.array(3)), TypeError, "help: pass the length");
});

// ---------------------------------------------------------------- transformations

Deno.test("the samplers give the same bits under jit with a traced key", async () => {
  // bit-exact jit on the software adapter rests on the CPU-adapter profile's literal mask
  // (Mesa reassociates products with plain literals): pinned, the suite also runs under gpu
  const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
  try {
    await _samplersUnderJit();
  } finally {
    setActiveProfile(prev);
  }
});

async function _samplersUnderJit(): Promise<void> {
  const key = random.key(0);
  const f = jit((k: Tensor) => random.normal(k, [10]));
  assertEquals(await f(key).data(), f32(NORMAL_KEY0_10));
  const g = jit((k: Tensor) => [
    random.split(k),
    random.randint(k, [3, 3], 0, 8),
    random.uniform(k, [4], { minval: -2, maxval: 2 }),
    random.permutation(k, 10),
    random.bernoulli(k, 0.3, [6]),
  ]);
  const eager = [
    random.split(key),
    random.randint(key, [3, 3], 0, 8),
    random.uniform(key, [4], { minval: -2, maxval: 2 }),
    random.permutation(key, 10),
    random.bernoulli(key, 0.3, [6]),
  ];
  const traced = g(key) as Tensor[];
  for (let i = 0; i < eager.length; i++) assertEquals(await data(traced[i]), await data(eager[i]));
  assertEquals(
    await jit((s: Tensor) => random.key(s))(np.array(42, { dtype: "i32" })).data(),
    u32([0, 42]),
  );
}

Deno.test("vmap over split keys equals drawing with each key in a loop", async () => {
  const keys = random.split(random.key(0), 4);
  const samplers: ((k: Tensor) => Tensor)[] = [
    (k) => random.uniform(k, [2]),
    (k) => random.normal(k, [3]),
    (k) => random.randint(k, [5], -3, 3),
    (k) => random.split(k, 3),
    (k) => random.permutation(k, 6),
    (k) => random.foldIn(k, 7),
    (k) => random.categorical(k, np.array([0, 1, 2]), { shape: [2] }),
    (k) => random.choice(k, np.array([5, 6, 7]), { shape: [2] }),
  ];
  for (const f of samplers) {
    const loop = np.stack([0, 1, 2, 3].map((i) => f(row(keys, i))));
    assertEquals(await vmap(f)(keys).data(), await loop.data(), String(f));
  }
  // vmap over integer seeds makes one key per seed.
  const seeds = np.array([0, 1, -1], { dtype: "i32" });
  assertEquals(await vmap((s: Tensor) => random.key(s))(seeds).toArray(), [[0, 0], [0, 1], [
    0,
    4294967295,
  ]]);
});

Deno.test("uniform is differentiable in its bounds", async () => {
  const key = random.key(3);
  const f01 = await random.uniform(key, [8]).data();
  const sumF = Array.from(f01).reduce((a, b) => a + b, 0);
  // u = f·(hi − lo) + lo, so ∂Σu/∂hi = Σf and ∂Σu/∂lo = n − Σf (no sample sits on the clamp).
  const dhi = grad((hi: Tensor) => random.uniform(key, [8], { minval: 1, maxval: hi }).sum());
  const dlo = grad((lo: Tensor) => random.uniform(key, [8], { minval: lo, maxval: 3 }).sum());
  assertAllClose(await dhi(np.array(4)).item(), sumF, { rtol: 1e-5 });
  assertAllClose(await dlo(np.array(1)).item(), 8 - sumF, { rtol: 1e-5 });
});

// ---------------------------------------------------------------- statistics

Deno.test("10k normals have mean ≈ 0 and variance ≈ 1; 10k uniforms mean ≈ 1/2, variance ≈ 1/12", async () => {
  const z = random.normal(random.key(123), [10000]);
  // Standard errors: 0.01 for the mean, about 0.014 for the variance; allow 4 of them.
  assertAllClose(await np.mean(z).item(), 0, { atol: 0.04 });
  assertAllClose(await np.var(z).item(), 1, { atol: 0.06 });
  const u = random.uniform(random.key(123), [10000]);
  assertAllClose(await np.mean(u).item(), 0.5, { atol: 0.012 });
  assertAllClose(await np.var(u).item(), 1 / 12, { atol: 0.004 });
  const e = random.exponential(random.key(9), [10000]);
  assertAllClose(await np.mean(e).item(), 1, { atol: 0.04 });
  const g = random.gumbel(random.key(9), [10000]);
  assertAllClose(await np.mean(g).item(), 0.5772157, { atol: 0.05 });
});

// ---------------------------------------------------------------- shapes, dtypes, errors

Deno.test("samplers give the documented shapes and dtypes", () => {
  const key = random.key(0);
  const cases: [Tensor, string][] = [
    [random.uniform(key), "f32[]"],
    [random.uniform(key, 3), "f32[3]"],
    [random.normal(key, [2, 0, 3]), "f32[2,0,3]"],
    [random.bits(key, [2, 2]), "u32[2,2]"],
    [random.randint(key, [4], 0, 3), "i32[4]"],
    [random.bernoulli(key, 0.5, [2]), "bool[2]"],
    [random.gumbel(key, [1, 2]), "f32[1,2]"],
    [random.exponential(key, [5]), "f32[5]"],
    [random.truncatedNormal(key, -1, 1, [2]), "f32[2]"],
    [random.categorical(key, np.zeros([3, 4])), "i32[3]"],
    [random.permutation(key, np.zeros([3, 2], "i32")), "i32[3,2]"],
    [random.choice(key, np.array([true, false]), { shape: [3] }), "bool[3]"],
  ];
  for (const [t, aval] of cases) assertEquals(String(t.aval), aval);
});

Deno.test("samplers reject keys that are not u32[2], naming the op and the key's aval", () => {
  assertThrows(
    () => random.uniform(np.array([1, 2, 3]), [2]),
    TypeError,
    "random.uniform expects a key of u32[2], got f32[3]",
  );
  assertThrows(
    () => random.normal(random.split(random.key(0), 3), [2]),
    TypeError,
    "random.normal expects a key of u32[2], got u32[3,2]\nhelp: to draw with each of several keys, vmap over them",
  );
  assertThrows(() => random.split(np.array([0, 0])), TypeError, "random.split expects a key");
  assertThrows(
    () => random.randint(0 as unknown as Tensor, [2], 0, 1),
    TypeError,
    "random.randint expects a key of u32[2], got 0",
  );
});

Deno.test("samplers reject bad shapes, dtypes and parameters", () => {
  const key = random.key(0);
  assertThrows(
    () => random.normal(key, [2, -1]),
    TypeError,
    "shape must be a list of non-negative",
  );
  assertThrows(
    () => random.uniform(key, [2], { dtype: "i32" }),
    TypeError,
    "only accepts floating-point",
  );
  assertThrows(
    () => random.randint(key, [2], 0, 3, { dtype: "f32" }),
    TypeError,
    "only accepts the integer dtype i32",
  );
  assertThrows(
    () => random.uniform(key, [2], { minval: np.zeros([3]) }),
    TypeError,
    "random.uniform: minval of f32[3] does not broadcast to the shape [2]",
  );
  assertThrows(() => random.bits(key, [2], { bitWidth: 64 as 32 }), RangeError, "8, 16 or 32");
  assertThrows(
    () => random.categorical(key, np.zeros([3, 4]), { shape: [2] }),
    TypeError,
    "batch shape [3]",
  );
  assertThrows(() => random.categorical(key, np.zeros([3]), { axis: 1 }), RangeError, "axis 1");
});
