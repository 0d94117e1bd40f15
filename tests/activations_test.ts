import { fdTol, numGrad } from "./backend.ts";
import { flat } from "./helpers.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, np, random, type Tensor, vmap } from "../mod.ts";
import { erf } from "../core/threefry.ts";
import * as A from "../layers/activations.ts";

/** Central differences of a scalar function, evaluated in float64 (step 2^-12). */

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const SELU_A = 1.6732632423543772848170429916717, SELU_L = 1.0507009873554804934193349852946;
const softplus64 = (x: number, beta = 1, th = 20) =>
  beta * x > th
    ? x
    : Math.log1p(Math.exp(-Math.abs(beta * x))) / beta + Math.max(beta * x, 0) / beta;

/** Each activation with its float64 reference formula (PyTorch's definitions). */
const TABLE: [string, (x: Tensor) => Tensor, (x: number) => number][] = [
  ["relu", A.relu, (x) => Math.max(0, x)],
  ["leakyRelu", (x) => A.leakyRelu(x), (x) => (x > 0 ? x : 0.01 * x)],
  ["leakyRelu(0.2)", (x) => A.leakyRelu(x, 0.2), (x) => (x > 0 ? x : 0.2 * x)],
  ["elu", (x) => A.elu(x), (x) => (x > 0 ? x : Math.expm1(x))],
  ["elu(0.5)", (x) => A.elu(x, 0.5), (x) => (x > 0 ? x : 0.5 * Math.expm1(x))],
  ["selu", A.selu, (x) => SELU_L * (x > 0 ? x : SELU_A * Math.expm1(x))],
  ["gelu", (x) => A.gelu(x), (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))],
  [
    "gelu tanh",
    (x) => A.gelu(x, { approximate: true }),
    (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  ],
  ["silu", A.silu, (x) => x * sig(x)],
  ["swish(2)", (x) => A.swish(x, 2), (x) => x * sig(2 * x)],
  ["softplus", (x) => A.softplus(x), (x) => softplus64(x)],
  ["softplus β=2", (x) => A.softplus(x, { beta: 2 }), (x) => softplus64(x, 2)],
  ["softplus θ=1", (x) => A.softplus(x, { threshold: 1 }), (x) => softplus64(x, 1, 1)],
  ["softsign", A.softsign, (x) => x / (1 + Math.abs(x))],
  ["tanh", A.tanh, Math.tanh],
  ["hardTanh", (x) => A.hardTanh(x), (x) => Math.min(1, Math.max(-1, x))],
  ["hardTanh(0,2)", (x) => A.hardTanh(x, { min: 0, max: 2 }), (x) => Math.min(2, Math.max(0, x))],
  ["sigmoid", (x) => A.sigmoid(x), sig],
  ["sigmoid T=0.5", (x) => A.sigmoid(x, { temperature: 0.5 }), (x) => sig(x / 0.5)],
  ["logSigmoid", A.logSigmoid, (x) => -softplus64(-x, 1, Infinity)],
  ["identity", A.identity, (x) => x],
  ["step", (x) => A.step(x), (x) => (x >= 0 ? 1 : 0)],
  ["step strict", (x) => A.step(x, { strict: true }), (x) => (x > 0 ? 1 : 0)],
  ["prelu", (x) => A.prelu(x, np.array(0.25)), (x) => (x > 0 ? x : 0.25 * x)],
];

const XS = [-6, -2.5, -1, -0.3, 0, 0.3, 0.7, 1, 1.7, 2.5, 6, 25];

Deno.test("activations match their float64 formulas on a grid", async () => {
  const x = np.array(XS);
  for (const [name, f, ref] of TABLE) {
    assertAllClose(await flat(f(x)), XS.map(ref), { rtol: 2e-6, atol: 1e-6, msg: name });
  }
});

Deno.test("activation gradients match central differences away from kinks", async () => {
  const pts = [-2.3, -0.7, -0.2, 0.4, 1.3, 2.9];
  const x = np.array(pts);
  const smooth = new Set(["step", "step strict", "hardTanh", "hardTanh(0,2)"]);
  for (const [name, f] of TABLE) {
    if (smooth.has(name)) continue;
    const g = await flat(grad((t: Tensor) => f(t).sum())(x));
    assertAllClose(
      g,
      await numGrad((t) => f(t).sum(), x),
      fdTol({ rtol: 1e-4, atol: 1e-5, msg: name }),
    );
  }
});

Deno.test("derivatives at kinks follow PyTorch: relu'(0) = 0, leakyRelu'(0) = slope, elu'(0) = alpha", async () => {
  const z = np.array([0]);
  const d = async (f: (x: Tensor) => Tensor) => (await flat(grad((t: Tensor) => f(t).sum())(z)))[0];
  assertEquals(await d(A.relu), 0);
  assertAllClose(await d((t) => A.leakyRelu(t, 0.2)), 0.2);
  assertAllClose(await d((t) => A.elu(t, 0.5)), 0.5);
  assertAllClose(await d(A.selu), SELU_L * SELU_A, { rtol: 1e-6 });
  assertAllClose(await d((t) => A.softplus(t)), 0.5);
  assertAllClose(await d((t) => A.gelu(t)), 0.5);
  const g = await flat(grad((t: Tensor) => A.hardTanh(t).sum())(np.array([-1, 1, -2, 0.5])));
  assertEquals(g, [0, 0, 0, 1]);
});

Deno.test("step has zero gradient and fires at the threshold unless strict", async () => {
  const x = np.array([-1, 0.5, 1, 2]);
  assertEquals(await flat(grad((t: Tensor) => A.step(t).sum())(x)), [0, 0, 0, 0]);
  assertEquals(await flat(A.step(x, { threshold: 1 })), [0, 0, 1, 1]);
  assertEquals(await flat(A.heaviside(x, { threshold: 1, strict: true })), [0, 0, 0, 1]);
  // a small temperature turns the sigmoid into the step (seed S2 L340)
  assertAllClose(await flat(A.sigmoid(np.array([-0.5, 0.5]), { temperature: 1e-3 })), [0, 1]);
});

Deno.test("activations stay finite with finite gradients at ±1000", async () => {
  const x = np.array([-1000, -100, 100, 1000]);
  const fs: [string, (x: Tensor) => Tensor][] = [
    ["softplus", (t) => A.softplus(t)],
    ["softplus β=2 θ=∞", (t) => A.softplus(t, { beta: 2, threshold: Infinity })],
    ["sigmoid", (t) => A.sigmoid(t)],
    ["logSigmoid", A.logSigmoid],
    ["silu", A.silu],
    ["elu", (t) => A.elu(t)],
    ["selu", A.selu],
    ["gelu", (t) => A.gelu(t)],
    ["gelu tanh", (t) => A.gelu(t, { approximate: true })],
    ["softsign", A.softsign],
    ["softmax", (t) => A.softmax(t).mul(np.array([1, 2, 3, 4]))],
    ["logSoftmax", (t) => A.logSoftmax(t).mul(np.array([1, 2, 3, 4]))],
  ];
  for (const [name, f] of fs) {
    const v = await flat(f(x)), g = await flat(grad((t: Tensor) => f(t).sum())(x));
    assert(v.every(Number.isFinite), `${name} values: ${v}`);
    assert(g.every(Number.isFinite), `${name} gradients: ${g}`);
  }
  assertAllClose(await flat(A.softplus(x)), [0, 3.720075976020836e-44, 100, 1000], { atol: 1e-30 });
  assertAllClose(await flat(A.logSigmoid(x)), [-1000, -100, 0, 0], { atol: 1e-30 });
});

Deno.test("softmax and logSoftmax are exact at ±1000 and along any axis", async () => {
  const x = np.array([[1000, 1000, -1000], [-1000, 0, 1000]]);
  assertAllClose(await A.softmax(x).toArray(), [[0.5, 0.5, 0], [0, 0, 1]]);
  assertAllClose(await A.logSoftmax(x).toArray(), [[-Math.LN2, -Math.LN2, -2000 - Math.LN2], [
    -2000,
    -1000,
    0,
  ]]);
  // axis 0 and both axes, against float64 formulas
  const v = [[0.5, -1, 2], [1.5, 0, -0.25]];
  const t = np.array(v);
  const col = [0, 1, 2].map((j) => Math.exp(v[0][j]) + Math.exp(v[1][j]));
  assertAllClose(
    await A.softmax(t, { axis: 0 }).toArray(),
    v.map((r) => r.map((a, j) => Math.exp(a) / col[j])),
  );
  const all = v.flat().reduce((s, a) => s + Math.exp(a), 0);
  assertAllClose(
    await A.logSoftmax(t, { axis: [0, 1] }).toArray(),
    v.map((r) => r.map((a) => a - Math.log(all))),
  );
  // a −∞ entry (a mask) gets probability 0 and no NaN gradient
  const m = np.array([1, -Infinity, 2]);
  assertAllClose(await flat(A.softmax(m)), [1 / (1 + Math.E), 0, Math.E / (1 + Math.E)]);
  const g = await flat(grad((u: Tensor) => A.softmax(u).mul(np.array([1, 2, 3])).sum())(m));
  assert(g.every(Number.isFinite), `${g}`);
});

Deno.test("softmax and logSoftmax gradients match central differences", async () => {
  const x = np.array([[0.3, -1.2, 2.0, 0.1], [1.1, 0.4, -0.6, -2.2]]);
  const c = np.array([[0.5, -1, 2, 0.25], [1, 3, -0.5, 0.7]]);
  for (
    const f of [
      (t: Tensor) => A.softmax(t, { axis: 1 }),
      (t: Tensor) => A.logSoftmax(t, { axis: 0 }),
    ]
  ) {
    const loss = (t: Tensor) => f(t).mul(c).sum();
    assertAllClose(
      await flat(grad(loss)(x)),
      await numGrad(loss, x),
      fdTol({ rtol: 1e-4, atol: 1e-5 }),
    );
  }
});

Deno.test("oneHot encodes along any axis and leaves out-of-range labels empty", async () => {
  const l = np.array([1, -100, 0], "i32");
  assertEquals(await A.oneHot(l, 3).toArray(), [[0, 1, 0], [0, 0, 0], [1, 0, 0]]);
  assertEquals(await A.oneHot(l, 3, { axis: 0 }).toArray(), [[0, 0, 1], [1, 0, 0], [0, 0, 0]]);
  assertEquals(A.oneHot(np.array([[1, 2]], "i32"), 4, { axis: 1 }).shape, [1, 4, 2]);
  assertEquals(A.oneHot(l, 3, { dtype: "bool" }).dtype, "bool");
});

Deno.test("stochasticBinary samples Bernoulli(p) from a key with a straight-through gradient", async () => {
  const n = 4000;
  const p = np.full([n], 0.3);
  const s = A.stochasticBinary(random.key(7), p);
  const v = await flat(s);
  assert(v.every((a) => a === 0 || a === 1));
  const freq = v.reduce((a: number, b) => a + b, 0) / n;
  assert(Math.abs(freq - 0.3) < 3 * Math.sqrt(0.3 * 0.7 / n), `frequency ${freq}`);
  assertEquals(await flat(A.stochasticBinary(random.key(7), p)), v); // same key, same sample
  // logits: P(s = 1) = σ(z); straight-through: ds/dz = σ'(z)
  const z = np.array([-1, 0, 2]);
  const g = await flat(
    grad((t: Tensor) => A.stochasticBinary(random.key(1), t, { logits: true }).sum())(z),
  );
  assertAllClose(g, [-1, 0, 2].map((a) => sig(a) * (1 - sig(a))));
  const g0 = await flat(
    grad((t: Tensor) => A.stochasticBinary(random.key(1), t, { gradient: "none" }).sum())(
      np.array([0.2, 0.9]),
    ),
  );
  assertEquals(g0, [0, 0]);
  assertEquals(
    await flat(
      A.stochasticBinary(random.key(3), np.array([-1000, 1000, -90, 90]), { logits: true }),
    ),
    [0, 1, 0, 1],
  );
});

Deno.test("activations give the same values under jit and vmap as eagerly", async () => {
  const x = np.array([[-1.5, 0.2, 3], [0.7, -0.1, -4]]);
  const f = (t: Tensor) =>
    A.softmax(A.gelu(A.leakyRelu(A.elu(t), 0.1)).add(A.softplus(t, { beta: 2 })), { axis: -1 });
  assertAllClose(await jit(f)(x).toArray(), await f(x).toArray(), { rtol: 1e-6 });
  const rows = [0, 1].map((i) => A.logSoftmax(np.reshape(np.slice(x, [i, 0], [i + 1, 3]), [3])));
  assertAllClose(
    await vmap((r: Tensor) => A.logSoftmax(r))(x).toArray(),
    await np.stack(rows).toArray(),
  );
  const gj = jit(grad((t: Tensor) => A.selu(t).mul(A.silu(t)).sum()));
  assertAllClose(
    await gj(x).toArray(),
    await grad((t: Tensor) => A.selu(t).mul(A.silu(t)).sum())(x).toArray(),
    { rtol: 1e-6 },
  );
});

Deno.test("activations reject bad hyperparameters with RangeError", () => {
  assertThrows(
    () => A.sigmoid(np.array([1]), { temperature: 0 }),
    RangeError,
    "temperature must be positive",
  );
  assertThrows(() => A.softplus(np.array([1]), { beta: -1 }), RangeError, "beta must be positive");
  assertThrows(
    () => A.hardTanh(np.array([1]), { min: 2, max: 1 }),
    RangeError,
    "min (2) must not exceed max (1)",
  );
  assertThrows(() => A.oneHot(np.array([1], "i32"), 3, { axis: 2 }), RangeError, "oneHot: axis 2");
});
