/**
 * No silent wrong values (issue 11): JS coercion of tensors, positional options, bad shapes
 * and dtypes, out-of-range inputs, empty reductions, disposed and donated tensors. Each guard
 * is a clear error naming the op (and a help line where a one-line fix exists).
 */
import "./backend.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { checksEnabled, setChecks } from "../core/env.ts";
import { currentBackend, setBackend } from "../core/backend.ts";
import { createCpuBackend } from "../core/cpu.ts";

function assertStringIncludes(s: string, part: string): void {
  assert(s.includes(part), `expected ${JSON.stringify(s)} to include ${JSON.stringify(part)}`);
}
import { grad, jit, lax, nn, np, random, type Tensor, valueAndGrad, vmap } from "../mod.ts";

// ---------------------------------------------------------------- item 3: JS operators

Deno.test("a JS comparison or arithmetic on a tensor throws and points to np ops", () => {
  const t = np.array(5);
  // deno-lint-ignore no-explicit-any
  const a = t as any;
  const e = assertThrows(() => a > 0, TypeError, "Cannot convert Tensor(f32[])");
  assertStringIncludes((e as Error).message, "np.greater");
  assertStringIncludes((e as Error).message, "await x.item()");
  assertThrows(() => a + 1, TypeError, "JS operators");
  assertThrows(() => +a, TypeError, "to a JS number");
  assertThrows(() => a == 5, TypeError);
  assertThrows(() => Number(a), TypeError);
});

Deno.test("String and template literals of a tensor still print its aval", () => {
  const t = np.zeros([2, 2]);
  assertEquals(String(t), "Tensor(f32[2,2])");
  assertEquals(`${t}`, "Tensor(f32[2,2])");
  assertEquals(t.toString(), "Tensor(f32[2,2])");
});

Deno.test("a JS ternary on a tracer comparison inside jit throws instead of picking a branch", () => {
  // deno-lint-ignore no-explicit-any
  const f = jit((x: any) => (x > 0 ? x : x.neg()));
  assertThrows(() => f(np.array(-1)), TypeError, "Cannot convert Tracer<");
});

// ---------------------------------------------------------------- item 6: array input

Deno.test("np.array rejects strings and plain objects", () => {
  // deno-lint-ignore no-explicit-any
  const bad = (x: unknown) => np.array(x as any);
  assertThrows(() => bad(["a"]), TypeError, "array: expected a Tensor, a number");
  assertThrows(() => bad(["a"]), TypeError, '"a"');
  assertThrows(() => bad({ a: 1 }), TypeError, "an object { a }");
  // deno-lint-ignore no-explicit-any
  const e = assertThrows(() => np.asarray({ y: np.zeros([2]), state: {} } as any), TypeError);
  assertStringIncludes((e as Error).message, "help: a stateful layer returns { y, state }");
  assertThrows(() => bad([1, null]), TypeError, "element null");
});

Deno.test("integers that do not fit the dtype are a RangeError naming value and dtype", () => {
  assertThrows(
    () => np.array([2 ** 40], "i32"),
    RangeError,
    "value 1099511627776 is out of bounds for i32",
  );
  assertThrows(() => np.array([-1], "u32"), RangeError, "value -1 is out of bounds for u32");
  assertThrows(
    () => np.array(new Float64Array([2 ** 32]), "i32"),
    RangeError,
    "out of bounds for i32",
  );
  assertThrows(() => np.full([2], 2 ** 33, "i32"), RangeError, "full: value 8589934592");
  // the edges fit
  assertEquals(np.array([2 ** 31 - 1, -(2 ** 31)], "i32").dtype, "i32");
});

// ---------------------------------------------------------------- item 8: shapes and dtypes

Deno.test("negative, fractional, NaN or huge sizes are a RangeError naming the op", () => {
  assertThrows(
    () => np.zeros([-1]),
    RangeError,
    "zeros: invalid shape [-1]: size -1 at dimension 0",
  );
  assertThrows(() => np.ones([2.5]), RangeError, "ones: invalid shape [2.5]");
  assertThrows(() => np.zeros([NaN]), RangeError, "size NaN");
  assertThrows(() => np.zeros([1e6, 1e6]), RangeError, "more than the limit of 2147483647");
  assertThrows(() => np.zeros([2 ** 31]), RangeError, "zeros: shape [2147483648]");
  assertThrows(() => np.eye(-1), RangeError, "eye: invalid shape [-1, -1]");
  assertThrows(() => np.full([3, -2], 1), RangeError, "full: invalid shape");
  assertThrows(() => np.zeros([2]).reshape([-2, -1]), RangeError, "reshape: invalid shape");
  assertThrows(() => np.broadcastTo(np.zeros([1]), [-3]), RangeError, "broadcastTo: invalid shape");
  assertThrows(() => np.linspace(0, 1, -2), RangeError, "linspace: invalid shape");
});

Deno.test("a shape computed from a tracer is rejected while tracing", () => {
  // deno-lint-ignore no-explicit-any
  const f = jit((x: any) => np.ones([Number(x)]));
  assertThrows(() => f(np.array(3)), TypeError, "Cannot convert Tracer<");
  // deno-lint-ignore no-explicit-any
  const g = jit((x: any) => np.ones([x]));
  assertThrows(() => g(np.array(3)), RangeError, "ones: invalid shape");
});

Deno.test("an unknown dtype name is rejected at the boundary with the denax spelling", () => {
  // deno-lint-ignore no-explicit-any
  const e = assertThrows(() => np.zeros([2]).astype("float32" as any), TypeError);
  assertStringIncludes(
    (e as Error).message,
    'astype: unknown dtype "float32"; the dtypes are f16, f32',
  );
  assertStringIncludes((e as Error).message, 'help: write "f32" for float32');
  // deno-lint-ignore no-explicit-any
  assertThrows(() => np.zeros([2], "f64" as any), TypeError, 'zeros: unknown dtype "f64"');
  assertThrows(() => np.array([1], { dtype: "int32" }), TypeError, 'help: write "i32"');
});

// ---------------------------------------------------------------- item 7: vmap outAxes

Deno.test("vmap with an out axis past the output's rank is a RangeError", () => {
  // deno-lint-ignore no-explicit-any
  const f = vmap((v: any) => v.mul(2), { outAxes: 3 });
  assertThrows(
    () => f(np.zeros([4, 5])),
    RangeError,
    "vmap: outAxes 3 is out of bounds for output 0: its per-example value f32[5] has rank 1",
  );
  // deno-lint-ignore no-explicit-any
  assertThrows(() => vmap((v: any) => v, { outAxes: -3 })(np.zeros([4, 5])), RangeError);
  // the edges are fine
  // deno-lint-ignore no-explicit-any
  assertEquals(vmap((v: any) => v, { outAxes: 1 })(np.zeros([4, 5])).shape, [5, 4]);
  // deno-lint-ignore no-explicit-any
  assertEquals(vmap((v: any) => v, { outAxes: -2 })(np.zeros([4, 5])).shape, [4, 5]);
});

// ---------------------------------------------------------------- grad help

Deno.test("grad of a function returning [loss, aux] without hasAux names hasAux", () => {
  // deno-lint-ignore no-explicit-any
  const f = (x: any) => [x.sum(), x];
  // @ts-expect-error the types reject this misuse; the run-time message is for untyped callers
  const e = assertThrows(() => grad(f)(np.ones([2])), TypeError, "grad requires a scalar f32");
  assertStringIncludes((e as Error).message, "hasAux: true");
  // deno-lint-ignore no-explicit-any
  const e2 = assertThrows(() => valueAndGrad((x: any) => x)(np.ones([2])), TypeError);
  assertStringIncludes((e2 as Error).message, "help: reduce the output");
});

// ---------------------------------------------------------------- item 9: empty reductions

Deno.test("max, min, argmax and argmin of an empty array raise like NumPy", () => {
  const e = np.zeros([0]);
  assertThrows(
    () => np.max(e),
    RangeError,
    "max: zero-size array to reduction operation max which has no identity",
  );
  assertThrows(() => np.min(e), RangeError, "reduction operation min");
  assertThrows(() => np.argmax(e), RangeError, "reduction operation argmax");
  assertThrows(() => e.argmin(), RangeError, "reduction operation argmin");
  assertThrows(() => np.max(np.zeros([2, 0]), { axis: 1 }), RangeError, "f32[2,0], axis 1");
  // reducing a non-empty axis of an empty array is fine, as in NumPy
  assertEquals(np.max(np.zeros([2, 0]), { axis: 0 }).shape, [0]);
  assertEquals(np.sum(e).shape, []);
});

// ---------------------------------------------------------------- item 10: disposed / donated

Deno.test("a disposed tensor raises when used as an operand or read", async () => {
  const x = np.ones([3, 4]);
  x[Symbol.dispose]();
  assertThrows(() => x.add(1), TypeError, "Tensor f32[3,4] was disposed and cannot be used again");
  assertThrows(() => x.data(), TypeError, "data(): Tensor f32[3,4] was disposed");
  x[Symbol.dispose](); // disposing twice is harmless
  {
    using y = np.ones([2]);
    assertEquals(await y.toArray(), [1, 1]);
  }
});

Deno.test("a donated argument raises on later use, naming the jit and the argument", async () => {
  const step = jit(function step(p: Tensor, g: Tensor) {
    return p.sub(g.mul(0.5));
  }, { donateArgnums: 0 });
  const p = np.array([1, 2, 3, 4]);
  const g = np.array([2, 2, 2, 2]);
  const p1 = step(p, g);
  assertEquals(await p1.toArray(), [0, 1, 2, 3]);
  assertThrows(() => p.add(1), TypeError, "was donated to jit(step) (argument 0)");
  assertThrows(
    () => step(p, g),
    TypeError,
    "jit(step): Tensor f32[4] was donated to jit(step) (argument 0)",
  );
  assertThrows(() => p.data(), TypeError, "was donated");
  // the non-donated argument and the result stay usable
  assertEquals(await g.add(p1).toArray(), [2, 3, 4, 5]);
  // a donated argument returned unchanged stays usable
  const ident = jit((a: Tensor) => a, { donateArgnums: 0 });
  const q = np.array([1]);
  const q1 = ident(q);
  assertEquals(await q1.toArray(), [1]);
});

// ---------------------------------------------------------------- item 4: options and arity

Deno.test("convGeneralDilated accepts JAX's positional form with strides and padding", async () => {
  const x = np.arange(16, undefined, 1, "f32").reshape([1, 1, 4, 4]);
  const w = np.ones([1, 1, 3, 3]);
  const positional = lax.convGeneralDilated(x, w, [2, 2], [[1, 1], [1, 1]]);
  const named = lax.convGeneralDilated(x, w, { windowStrides: [2, 2], padding: [[1, 1], [1, 1]] });
  assertEquals(positional.shape, [1, 1, 2, 2]);
  assertEquals(await positional.toArray(), await named.toArray());
  // lhs/rhs dilation and groups in their JAX positions
  const dil = lax.convGeneralDilated(x, w, [1, 1], "VALID", null, [2, 2]);
  assertEquals(dil.shape, [1, 1, 0, 0]);
  assertThrows(
    () => lax.convGeneralDilated(x, w, [1, 1], "VALID", null, null, "NHWC" as unknown as null),
    TypeError,
    "dimensionNumbers",
  );
});

Deno.test("options objects reject arrays and unknown keys, and functions reject extra arguments", () => {
  // deno-lint-ignore no-explicit-any
  const any_ = (v: unknown) => v as any;
  const x = np.zeros([2, 3]);
  assertThrows(
    () => np.sum(x, any_(0)),
    TypeError,
    "sum: expected an options object { axis, keepdims }, got number 0",
  );
  assertThrows(
    () => np.sum(x, any_({ axes: 0 })),
    TypeError,
    "sum: unknown option 'axes'; allowed options are axis, keepdims",
  );
  assertThrows(
    () => np.mean(x, any_({ axis: 0, dtype: "f32" })),
    TypeError,
    "mean: unknown option 'dtype'",
  );
  assertThrows(
    () => np.var(x, any_({ ddof: 1, correction: 1 })),
    TypeError,
    "var: unknown option 'correction'",
  );
  assertThrows(() => any_(np.add)(x, 1, 2), TypeError, "add: takes at most 2 arguments, got 3");
  assertThrows(() => any_(np.greater)(x, 1, 2), TypeError, "greater: takes at most 2 arguments");
  assertThrows(() => any_(np.reshape)(x, 3, 2), TypeError, "reshape: takes at most 2 arguments");
  assertThrows(
    () => np.cumsum(x, any_([1])),
    TypeError,
    "cumsum: expected an options object { axis }, got an array [1]",
  );
  assertThrows(
    () => np.take(x, [0], any_({ axis: 0, mod: "clip" })),
    TypeError,
    "take: unknown option 'mod'",
  );
  assertThrows(
    () => lax.convGeneralDilated(np.zeros([1, 1, 4]), np.zeros([1, 1, 2]), any_({ stride: [2] })),
    TypeError,
    "convGeneralDilated: unknown option 'stride'",
  );
  assertThrows(
    () => lax.maxPool(np.zeros([1, 1, 4]), any_({ kernelSize: 2, stride: 2 })),
    TypeError,
    "maxPool: unknown option 'stride'",
  );
  assertThrows(
    () =>
      lax.scan(
        any_((c: Tensor, v: Tensor) => [c, v]),
        np.zeros([]),
        np.zeros([3]),
        any_({ reversed: true }),
      ),
    TypeError,
    "scan: unknown option 'reversed'",
  );
  assertThrows(
    () => random.uniform(random.key(0), [2], any_({ min: 0 })),
    TypeError,
    "random.uniform: unknown option 'min'",
  );
  assertThrows(
    () => any_(random.normal)(random.key(0), [2], {}, 1),
    TypeError,
    "random.normal: takes at most 3 arguments",
  );
  // deno-lint-ignore no-explicit-any
  const id = (v: any) => v;
  assertThrows(
    () => grad(id, any_({ argnum: 0 })),
    TypeError,
    "grad: unknown option 'argnum'; allowed options are argnums, hasAux",
  );
  assertThrows(() => vmap(id, any_({ in_axes: 0 })), TypeError, "vmap: unknown option 'in_axes'");
  assertThrows(() => jit(id, any_({ donate: [0] })), TypeError, "jit: unknown option 'donate'");
  assertThrows(() => any_(jit)(id, {}, 1), TypeError, "jit: takes at most 2 arguments");
});

Deno.test("a layer config with an unknown key names the layer and its keys", () => {
  // deno-lint-ignore no-explicit-any
  const bad = (v: unknown) => v as any;
  assertThrows(
    () => nn.linear(bad({ inFeature: 3, outFeatures: 2 })),
    TypeError,
    "nn.linear: unknown option 'inFeature'; allowed options are inFeatures, outFeatures, bias",
  );
  assertThrows(
    () => nn.conv2d(bad({ inChannels: 1, outChannels: 1, kernel: 3 })),
    TypeError,
    "nn.conv2d: unknown option 'kernel'",
  );
  assertThrows(
    () => nn.layerNorm(bad({ normalizedShape: [3], epsilon: 1e-5 })),
    TypeError,
    "nn.layerNorm: unknown option 'epsilon'",
  );
  assertThrows(
    () => nn.lstm(bad({ inputSize: 2, hiddenSize: 3, nonlinearity: "relu" })),
    TypeError,
    "nn.lstm: unknown option 'nonlinearity'",
  );
  assertThrows(
    () => nn.embedding(bad({ numEmbeddings: 3, embeddingDims: 2 })),
    TypeError,
    "nn.embedding: unknown option 'embeddingDims'",
  );
  assertThrows(
    () => nn.multiHeadAttention(bad({ embedDim: 4, numHeads: 2, heads: 2 })),
    TypeError,
    "nn.multiHeadAttention: unknown option 'heads'",
  );
  assertThrows(
    () => nn.transformerEncoderLayer(bad({ dModel: 4, nhead: 2, dimFF: 8 })),
    TypeError,
    "nn.transformerEncoderLayer: unknown option 'dimFF'",
  );
  assertThrows(
    () => nn.dropout(bad([0.5])),
    TypeError,
    "nn.dropout: expected an options object { rate }",
  );
});

Deno.test("randint with an empty range raises as NumPy's low >= high", () => {
  assertThrows(
    () => random.randint(random.key(0), [3], 5, 2),
    RangeError,
    "random.randint: minval 5 >= maxval 2",
  );
  assertThrows(
    () => random.randint(random.key(0), [3], 3, 3),
    RangeError,
    "the range [minval, maxval) is empty",
  );
  assertThrows(
    () => random.randint(random.key(0), [3], np.array(4), 1),
    RangeError,
    "minval 4 >= maxval 1",
  );
  assertEquals(random.randint(random.key(0), [3], 2, 3).shape, [3]);
  assertThrows(
    () => random.normal(random.key(0), [-1]),
    TypeError,
    "shape must be a list of non-negative integers",
  );
  assertThrows(
    () => random.normal(random.key(0), [2 ** 20, 2 ** 20]),
    RangeError,
    "random.normal: shape [1048576, 1048576]",
  );
});

// ---------------------------------------------------------------- items 5 and 9: value checks

/** Runs `f` and reads its result: a value check raises at the call (cpu) or at the read. */
async function run(f: () => Tensor): Promise<void> {
  await f().data();
}

Deno.test("crossEntropy and nll raise for a concrete class index out of range", async () => {
  const logits = np.array([[2, 0, 0], [0, 1, 0]]);
  await assertRejects(
    () => run(() => nn.losses.crossEntropy(logits, np.array([0, 3], "i32"))),
    RangeError,
    "crossEntropy: target 3 is out of bounds for 3 classes (input f32[2,3], target i32[2])",
  );
  await assertRejects(
    () => run(() => nn.losses.nll(logits, np.array([-5, 1], "i32"))),
    RangeError,
    "nll: target -5 is out of bounds for 3 classes",
  );
  // the ignore index is not an error, and neither is a custom one
  assertEquals((await nn.losses.crossEntropy(logits, np.array([-100, 1], "i32")).data()).length, 1);
  await run(() => nn.losses.nll(logits, np.array([7, 1], "i32"), { ignoreIndex: 7 }));
});

Deno.test("binaryCrossEntropy raises for a concrete probability outside [0, 1]", async () => {
  const y = np.array([1, 0]);
  await assertRejects(
    () => run(() => nn.losses.binaryCrossEntropy(np.array([1.5, 0.5]), y)),
    RangeError,
    "binaryCrossEntropy: input 1.5 is not a probability",
  );
  await assertRejects(
    () => run(() => nn.losses.binaryCrossEntropy(np.array([0.5, -0.25]), y)),
    RangeError,
    "help: for logits, use bceWithLogits",
  );
  await run(() => nn.losses.binaryCrossEntropy(np.array([1, 0]), y));
});

Deno.test("an embedding index past the table raises naming the layer, index and table size", async () => {
  const emb = nn.embedding({ numEmbeddings: 4, embeddingDim: 2 });
  const p = emb.init(random.key(0));
  await assertRejects(
    () => run(() => emb.apply(p, np.array([1, 4], "i32"))),
    RangeError,
    "Embedding(4, 2): index 4 is out of range for a table of 4 rows (indices i32[2])",
  );
  await assertRejects(() => run(() => emb.apply(p, np.array([-1], "i32"))), RangeError, "index -1");
  await run(() => emb.apply(p, np.array([0, 3], "i32")));
});

Deno.test("under jit, value checks are off by default and on with DENAX_CHECKS=1", async () => {
  const logits = np.array([[2, 0, 0], [0, 1, 0]]);
  const bad = np.array([0, 3], "i32"), good = np.array([0, 2], "i32");
  const prev = checksEnabled();
  try {
    setChecks(false);
    const f = jit((x: Tensor, t: Tensor) => nn.losses.crossEntropy(x, t));
    await run(() => f(logits, bad)); // documented: the out-of-range target counts for nothing
    setChecks(true);
    const g = jit((x: Tensor, t: Tensor) => nn.losses.crossEntropy(x, t));
    assertEquals((await g(logits, good).data()).length, 1);
    await assertRejects(
      () => run(() => g(logits, bad)),
      RangeError,
      "crossEntropy: target 3 is out of bounds",
    );
    // inside grad inside jit (a train step)
    const step = jit((x: Tensor, t: Tensor) =>
      grad((z: Tensor) => nn.losses.crossEntropy(z, t))(x)
    );
    assertEquals(step(logits, good).shape, [2, 3]);
    await assertRejects(
      () => run(() => step(logits, bad)),
      RangeError,
      "target 3 is out of bounds",
    );
    // nested jit: the inner program's check reaches the outer one
    const outer = jit((x: Tensor, t: Tensor) => g(x, t).mul(2));
    await assertRejects(() => run(() => outer(logits, bad)), RangeError, "target 3");
    const emb = nn.embedding({ numEmbeddings: 4, embeddingDim: 2 });
    const p = emb.init(random.key(0));
    const e = jit((w: Tensor, i: Tensor) => emb.apply({ weight: w }, i));
    await assertRejects(
      () => run(() => e(p.weight, np.array([9], "i32"))),
      RangeError,
      "index 9 is out of range",
    );
  } finally {
    setChecks(prev);
  }
});

Deno.test("a shape larger than the backend's largest buffer is rejected before allocating", () => {
  const prev = currentBackend();
  setBackend({ ...createCpuBackend(), maxBufferBytes: 64 });
  try {
    assertEquals(np.zeros([16]).shape, [16]);
    assertThrows(
      () => np.zeros([17]),
      RangeError,
      "zeros: shape [17] needs 68 bytes, more than the largest buffer of the cpu backend (64 bytes)",
    );
  } finally {
    setBackend(prev);
  }
});

Deno.test("a huge shape fails fast on the cpu backend instead of filling memory", () => {
  const t0 = performance.now();
  assertThrows(() => np.zeros([2 ** 31]), RangeError, "more than the limit");
  assertThrows(() => np.ones([2 ** 16, 2 ** 16]), RangeError, "more than the limit");
  assert(performance.now() - t0 < 1000);
});

Deno.test("full broadcasts a tensor fill value instead of coercing it", async () => {
  assertEquals(await np.full([2], np.array(3)).toArray(), [3, 3]);
  assertEquals(await np.full([2, 2], np.array([1, 2]), "i32").toArray(), [[1, 2], [1, 2]]);
  // deno-lint-ignore no-explicit-any
  assertThrows(() => np.full([2], "3" as any), TypeError, "full: expected a Tensor, a number");
});

Deno.test("unary np functions reject an extra argument", () => {
  // deno-lint-ignore no-explicit-any
  const anyFn = (f: unknown) => f as any;
  assertThrows(
    () => anyFn(np.exp)(np.ones([2]), 2),
    TypeError,
    "exp: takes at most 1 argument, got 2",
  );
  assertThrows(() => anyFn(np.abs)(np.ones([2]), {}), TypeError, "abs: takes at most 1 argument");
});

Deno.test("without --allow-env, init says once on stderr that DENAX_BACKEND cannot be read", async () => {
  const dir = await Deno.makeTempDir();
  const script = `${dir}/init.ts`;
  await Deno.writeTextFile(
    script,
    `import { init } from ${JSON.stringify(import.meta.resolve("../core/init.ts"))};\n` +
      `await init(); await init();\n`,
  );
  const run = (allowEnv: boolean) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-config", ...(allowEnv ? ["--allow-env"] : []), script],
      env: { DENAX_BACKEND: "cpu" },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const denied = new TextDecoder().decode((await run(false)).stderr);
  const lines = denied.split("\n").filter((l) => l.includes("cannot read DENAX_BACKEND"));
  assertEquals(lines.length, 1, denied);
  assertStringIncludes(denied, "help: run with --allow-env");
  const allowed = new TextDecoder().decode((await run(true)).stderr);
  assert(!allowed.includes("DENAX_BACKEND"), allowed);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a shape over the webgpu backend's largest buffer is a RangeError before allocating", () => {
  const b = currentBackend();
  if (b.maxBufferBytes === undefined) return; // cpu: no device limit (the element limit applies)
  assertThrows(
    () => np.zeros([Math.ceil(b.maxBufferBytes! / 4) + 1]),
    RangeError,
    `more than the largest buffer of the ${b.name} backend`,
  );
});
