import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import { jit, np, random, type Tensor } from "../mod.ts";
import * as I from "../layers/init.ts";

const flat = async (t: Tensor): Promise<number[]> =>
  Array.from(await t.data() as ArrayLike<number>);

function stats(v: number[]): { mean: number; std: number; min: number; max: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, std, min: Math.min(...v), max: Math.max(...v) };
}

Deno.test("computeFans follows PyTorch for linear [out, in] and conv [out, in/groups, k...] weights", () => {
  assertEquals(I.computeFans([256, 784]), { fanIn: 784, fanOut: 256 });
  assertEquals(I.computeFans([16, 3, 5, 5]), { fanIn: 75, fanOut: 400 });
  assertEquals(I.computeFans([8, 4, 3]), { fanIn: 12, fanOut: 24 });
  assertThrows(
    () => I.computeFans([5]),
    TypeError,
    "Cannot compute fan in and fan out of shape [5]",
  );
});

Deno.test("calculateGain reproduces PyTorch's table", () => {
  for (
    const n of ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"] as const
  ) {
    assertEquals(I.calculateGain(n), 1);
  }
  assertEquals(I.calculateGain("tanh"), 5 / 3);
  assertEquals(I.calculateGain("relu"), Math.sqrt(2));
  assertEquals(I.calculateGain("leaky_relu"), Math.sqrt(2 / (1 + 0.01 ** 2)));
  assertEquals(I.calculateGain("leaky_relu", 0.2), Math.sqrt(2 / 1.04));
  assertEquals(I.calculateGain("leaky_relu", 0), Math.sqrt(2));
  assertEquals(I.calculateGain("selu"), 0.75);
  assertThrows(
    () => I.calculateGain("swish" as I.Nonlinearity),
    TypeError,
    'unsupported nonlinearity "swish"',
  );
});

Deno.test("constant initializers ignore the key and honour the dtype", async () => {
  const k = random.key(0);
  assertEquals(await I.zeros(k, [2, 2]).toArray(), [[0, 0], [0, 0]]);
  assertEquals(I.zeros(k, [3], "i32").dtype, "i32");
  assertEquals(await I.ones(k, [2]).toArray(), [1, 1]);
  assertEquals(await I.constant(1.5)(k, [2]).toArray(), [1.5, 1.5]);
});

Deno.test("random initializers have the PyTorch bounds and variances", async () => {
  const k = random.key(42);
  const shape = [200, 300]; // fanIn 300, fanOut 200
  const cases: [string, I.Initializer, { std: number; bound?: number; mean?: number }][] = [
    ["uniform(-2, 1)", I.uniform(-2, 1), { mean: -0.5, std: 3 / Math.sqrt(12) }],
    ["normal(1, 0.5)", I.normal(1, 0.5), { mean: 1, std: 0.5 }],
    ["glorotUniform", I.glorotUniform(), { std: Math.sqrt(2 / 500), bound: Math.sqrt(6 / 500) }],
    ["xavierUniform gain", I.xavierUniform({ gain: 5 / 3 }), {
      std: (5 / 3) * Math.sqrt(2 / 500),
      bound: (5 / 3) * Math.sqrt(6 / 500),
    }],
    ["glorotNormal", I.glorotNormal(), { std: Math.sqrt(2 / 500) }],
    ["kaimingUniform", I.kaimingUniform(), { std: Math.sqrt(2 / 300), bound: Math.sqrt(6 / 300) }],
    ["heUniform fanOut", I.heUniform({ mode: "fanOut" }), {
      std: Math.sqrt(2 / 200),
      bound: Math.sqrt(6 / 200),
    }],
    ["kaimingNormal", I.kaimingNormal(), { std: Math.sqrt(2 / 300) }],
    ["heNormal tanh", I.heNormal({ nonlinearity: "tanh" }), { std: (5 / 3) / Math.sqrt(300) }],
    ["kaimingNormal leaky 0.2", I.kaimingNormal({ a: 0.2 }), {
      std: Math.sqrt(2 / 1.04) / Math.sqrt(300),
    }],
    ["lecunUniform", I.lecunUniform(), { std: 1 / Math.sqrt(300), bound: Math.sqrt(3 / 300) }],
    ["lecunNormal", I.lecunNormal(), { std: 1 / Math.sqrt(300) }],
  ];
  for (const [name, init, want] of cases) {
    const w = init(k, shape);
    assertEquals(w.shape, shape, name);
    assertEquals(w.dtype, "f32", name);
    const s = stats(await flat(w));
    // 60000 samples: the sample std is within ~1% of the true one
    assertAllClose(s.std, want.std, { rtol: 0.02, msg: `${name} std` });
    assertAllClose(s.mean, want.mean ?? 0, {
      atol: 4 * want.std / Math.sqrt(60000),
      msg: `${name} mean`,
    });
    if (want.bound !== undefined) {
      const b = want.bound;
      assert(s.min >= -b && s.max <= b, `${name} bound ${b}: ${s.min} ${s.max}`);
      assert(
        s.min < -0.99 * b && s.max > 0.99 * b,
        `${name} fills [${-b}, ${b}]: ${s.min} ${s.max}`,
      );
    }
  }
});

Deno.test("uniform draws from [a, b)", async () => {
  const s = stats(await flat(I.uniform(-2, 1)(random.key(9), [10000])));
  assert(s.min >= -2 && s.max < 1 && s.min < -1.99 && s.max > 0.99, `${s.min} ${s.max}`);
});

Deno.test("truncatedNormal cuts at absolute bounds a and b, as PyTorch", async () => {
  const v = await flat(I.truncatedNormal({ mean: 1, std: 2, a: 0, b: 3 })(random.key(1), [20000]));
  assert(v.every((x) => x >= 0 && x <= 3));
  // N(1, 4) truncated to [0, 3] = z in [-0.5, 1]: mean 1 + 2 (φ(-0.5) - φ(1)) / (Φ(1) - Φ(-0.5))
  const phi = (z: number) => Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI);
  const mass = 0.8413447460685429 - 0.3085375387259869;
  assertAllClose(stats(v).mean, 1 + 2 * (phi(-0.5) - phi(1)) / mass, { atol: 0.02 });
  const d = await flat(I.truncatedNormal()(random.key(2), [20000]));
  assert(d.every((x) => x >= -2 && x <= 2));
  assertAllClose(stats(d).std, 0.8796256610342398, { rtol: 0.02 }); // std of N(0,1) cut at ±2
});

Deno.test("initializers are pure functions of the key", async () => {
  const f = I.kaimingUniform();
  const a = await flat(f(random.key(3), [4, 5])), b = await flat(f(random.key(3), [4, 5]));
  assertEquals(a, b);
  assertNotEquals(a, await flat(f(random.key(4), [4, 5])));
  // and they trace: jit gives the same draw
  const j = jit((k: Tensor) => I.glorotNormal()(k, [3, 4]));
  assertAllClose(await flat(j(random.key(5))), await flat(I.glorotNormal()(random.key(5), [3, 4])));
});

Deno.test("orthogonal gives orthonormal rows or columns scaled by the gain", async () => {
  const eye = (n: number) =>
    Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  const wide = I.orthogonal()(random.key(0), [3, 5]);
  assertAllClose(await np.matmul(wide, wide.T).toArray(), eye(3), { atol: 1e-5 });
  const tall = I.orthogonal({ gain: 2 })(random.key(1), [6, 4]);
  assertAllClose(await np.matmul(tall.T, tall).toArray(), eye(4).map((r) => r.map((x) => 4 * x)), {
    atol: 2e-5,
  });
  // a conv weight [out, in, k, k] is flattened to [out, in·k·k] with orthonormal rows
  const conv = I.orthogonal()(random.key(2), [4, 2, 3, 3]);
  assertEquals(conv.shape, [4, 2, 3, 3]);
  const m = np.reshape(conv, [4, 18]);
  assertAllClose(await np.matmul(m, m.T).toArray(), eye(4), { atol: 1e-5 });
  const sq = I.orthogonal()(random.key(3), [32, 32]);
  assertAllClose(await np.matmul(sq, sq.T).toArray(), eye(32), { atol: 1e-5 });
  assertThrows(() => I.orthogonal()(random.key(0), [4]), TypeError, "2 or more dimensions");
});

Deno.test("random initializers reject non-float dtypes and bad options", () => {
  assertThrows(
    () => I.glorotUniform()(random.key(0), [2, 2], "i32"),
    TypeError,
    "produce f32, got dtype i32",
  );
  assertThrows(() => I.glorotUniform()(random.key(0), [4]), TypeError, "at least 2 dimensions");
  assertThrows(
    () => I.truncatedNormal({ a: 1, b: 0 }),
    RangeError,
    "a (1) must be less than b (0)",
  );
  assertThrows(
    () => I.kaimingNormal({ mode: "fan_in" as I.FanMode })(random.key(0), [2, 2]),
    TypeError,
    'mode must be "fanIn"',
  );
});
