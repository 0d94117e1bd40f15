/**
 * The primitive table: one row per primitive with its sample domain, hand-computed values and
 * tolerances. For every row the tests check the shape rule against the implementation, the
 * values, JVP against central differences computed in float64 on the reference, the VJP
 * identity ⟨t, vjp(c)⟩ = ⟨jvp(t), c⟩, vmap against a loop, and jit against eager. A coverage
 * test fails when a primitive has no row.
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { init, jit, jvp, np, type Tensor, vjp, vmap } from "../mod.ts";
import { ShapedArray } from "../core/aval.ts";
import { allPrimitives, getPrimitive, type HostArray, type Params } from "../core/primitive.ts";
import { withFloat64 } from "../core/prims/host.ts";
import { bind } from "../core/trace.ts";
import { currentBackend } from "../core/backend.ts";
import { flat, uniform } from "./helpers.ts";
import type { DType } from "../core/dtype.ts";

await init({ backend: Deno.env.get("DENAX_BACKEND") ?? "cpu" });

type Domain = { shape: number[]; lo?: number; hi?: number; dtype?: DType; values?: number[] };
interface Row {
  prim: string;
  /** Sample operands (domains avoid kinks and poles). */
  inputs: Domain[];
  params?: Params;
  /** Hand-computed cases: operands as nested arrays (with dtypes from `inputs`) and the expected output(s). */
  cases?: { args: number[][] | number[]; expected: number[] | number[][]; params?: Params }[];
  /** Whether to check derivatives (float rows). */
  diff?: boolean;
  /** Relative tolerance of the derivative checks. */
  tol?: number;
  /** Step of the float64 central differences (default 1e-6). */
  h?: number;
  /** Skip vmap over this operand (e.g. index operands). */
  noBatch?: boolean;
}

const f = (shape: number[], lo = -1, hi = 1): Domain => ({ shape, lo, hi });
const pos = (shape: number[]) => f(shape, 0.5, 2);
const int = (shape: number[], lo = -5, hi = 6): Domain => ({ shape, lo, hi, dtype: "i32" });
const bool = (shape: number[]): Domain => ({ shape, lo: 0, hi: 2, dtype: "bool" });

const un = (prim: string, d: Domain, cases: Row["cases"], diff = true): Row => ({
  prim,
  inputs: [d],
  cases,
  diff,
});
const bin = (prim: string, a: Domain, b: Domain, cases: Row["cases"], diff = true): Row => ({
  prim,
  inputs: [a, b],
  cases,
  diff,
});

const ROWS: Row[] = [
  un("neg", f([3, 4]), [{ args: [[1, -2]], expected: [-1, 2] }]),
  un("abs", f([3, 4]), [{ args: [[-3, 2]], expected: [3, 2] }]),
  un("sign", f([5]), [{ args: [[-3, 0, 2]], expected: [-1, 0, 1] }], false),
  un("exp", f([2, 3]), [{ args: [[0, 1]], expected: [1, Math.E] }]),
  un("expm1", f([2, 3]), [{ args: [[0, 1e-5]], expected: [0, 1.000005e-5] }]),
  un("log", pos([4]), [{ args: [[1, Math.E]], expected: [0, 1] }]),
  un("log1p", pos([4]), [{ args: [[0, 1e-5]], expected: [0, 9.99995e-6] }]),
  un("sqrt", pos([4]), [{ args: [[4, 9]], expected: [2, 3] }]),
  un("rsqrt", pos([4]), [{ args: [[4, 0.25]], expected: [0.5, 2] }]),
  un("sin", f([3, 3], -3, 3), [{ args: [[0, Math.PI / 2]], expected: [0, 1] }]),
  un("cos", f([3, 3], -3, 3), [{ args: [[0, Math.PI]], expected: [1, -1] }]),
  un("tan", f([4], -1, 1), [{ args: [[0, Math.PI / 4]], expected: [0, 1] }]),
  un("tanh", f([4], -2, 2), [{ args: [[0, 1000, -1000]], expected: [0, 1, -1] }]),
  un("asin", f([4], -0.9, 0.9), [{ args: [[0, 1]], expected: [0, Math.PI / 2] }]),
  un("acos", f([4], -0.9, 0.9), [{ args: [[1, 0]], expected: [0, Math.PI / 2] }]),
  un("atan", f([4], -3, 3), [{ args: [[0, 1]], expected: [0, Math.PI / 4] }]),
  un("sinh", f([4]), [{ args: [[0, 1]], expected: [0, Math.sinh(1)] }]),
  un("cosh", f([4]), [{ args: [[0, 1]], expected: [1, Math.cosh(1)] }]),
  un("logistic", f([4], -4, 4), [{ args: [[0, 1000, -1000]], expected: [0.5, 1, 0] }]),
  un("floor", f([4], 0.1, 0.9), [{ args: [[1.5, -1.5]], expected: [1, -2] }], false),
  un("ceil", f([4], 0.1, 0.9), [{ args: [[1.5, -1.5]], expected: [2, -1] }], false),
  un(
    "round",
    f([4], 0.1, 0.4),
    [{ args: [[2.5, -0.5, 1.5, 0.4]], expected: [2, -0, 2, 0] }],
    false,
  ),
  un("erf", f([4], -2, 2), [{
    args: [[0, 0.5, 1, 2]],
    expected: [0, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527],
  }]),
  // the reference erf_inv rounds to f32 internally (XLA's Giles polynomial), so a wider step
  {
    ...un("erf_inv", f([4], -0.9, 0.9), [{
      args: [[0, 0.5204998778130465, 0.8427007929497149]],
      expected: [0, 0.5, 1],
    }]),
    h: 1e-3,
  },
  { prim: "not", inputs: [bool([5])], cases: [{ args: [[1, 0]], expected: [0, 1] }] },
  un("is_nan", f([3]), [{ args: [[NaN, 1, Infinity]], expected: [1, 0, 0] }], false),
  un("is_inf", f([3]), [{ args: [[NaN, -Infinity, Infinity, 2]], expected: [0, 1, 1, 0] }], false),
  un("stop_gradient", f([3]), [{ args: [[1, 2]], expected: [1, 2] }], false),
  bin("add", f([2, 3]), f([2, 3]), [{ args: [[1, 2], [3, 4]], expected: [4, 6] }]),
  bin("sub", f([2, 3]), f([2, 3]), [{ args: [[1, 2], [3, 5]], expected: [-2, -3] }]),
  bin("mul", f([2, 3]), f([2, 3]), [{ args: [[1, 2], [3, 5]], expected: [3, 10] }]),
  bin("div", f([2, 3]), pos([2, 3]), [{ args: [[1, 3], [2, 4]], expected: [0.5, 0.75] }]),
  bin("pow", pos([3]), f([3]), [{ args: [[2, 9], [3, 0.5]], expected: [8, 3] }]),
  bin("max", f([5]), f([5]), [{ args: [[1, NaN, -1], [2, 1, -3]], expected: [2, NaN, -1] }]),
  bin("min", f([5]), f([5]), [{ args: [[1, NaN, -1], [2, 1, -3]], expected: [1, NaN, -3] }]),
  bin("rem", f([4], 0.1, 0.9), f([4], 1.2, 2), [{
    args: [[7, -7, 7.5], [3, 3, 2]],
    expected: [1, -1, 1.5],
  }]),
  bin("atan2", f([4]), f([4]), [{ args: [[1, 1], [1, 0]], expected: [Math.PI / 4, Math.PI / 2] }]),
  {
    prim: "and",
    inputs: [int([4]), int([4])],
    cases: [{ args: [[6, 5], [3, 4]], expected: [2, 4] }],
  },
  {
    prim: "or",
    inputs: [int([4]), int([4])],
    cases: [{ args: [[6, 1], [3, 4]], expected: [7, 5] }],
  },
  {
    prim: "xor",
    inputs: [int([4]), int([4])],
    cases: [{ args: [[6, 1], [3, 4]], expected: [5, 5] }],
  },
  {
    prim: "shift_left",
    inputs: [int([4], 0, 100), int([4], 0, 31)],
    cases: [{ args: [[1, 3, 1], [4, 1, 40]], expected: [16, 6, 0] }],
  },
  {
    prim: "shift_right_logical",
    inputs: [int([4], 0, 100), int([4], 0, 31)],
    cases: [{ args: [[16, -1], [2, 28]], expected: [4, 15] }],
  },
  ...(["eq", "ne", "lt", "le", "gt", "ge"] as const).map((p, i): Row => ({
    prim: p,
    inputs: [int([6]), int([6])],
    cases: [{
      args: [[1, 2, 3], [2, 2, 2]],
      expected: [[0, 1, 0], [1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1]][i],
    }],
  })),
  {
    prim: "select",
    inputs: [bool([2, 3]), f([2, 3]), f([2, 3])],
    diff: true,
    cases: [{ args: [[1, 0], [1, 2], [3, 4]], expected: [1, 4] }],
  },
  {
    prim: "convert",
    inputs: [f([4], -3, 3)],
    params: { dtype: "i32" },
    cases: [{ args: [[1.7, -1.7, 2.5]], expected: [1, -1, 2] }],
  },
  {
    prim: "bitcast",
    inputs: [f([3])],
    params: { dtype: "u32" },
    cases: [{ args: [[1, -2]], expected: [0x3f800000, 0xc0000000] }],
  },
  {
    prim: "broadcast_in_dim",
    inputs: [f([3, 1])],
    params: { shape: [2, 3, 4], broadcastDimensions: [1, 2] },
    diff: true,
    cases: [{
      args: [[1, 2, 3]],
      expected: [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3],
    }],
  },
  {
    prim: "reshape",
    inputs: [f([2, 3])],
    params: { shape: [3, 2] },
    diff: true,
    cases: [{ args: [[1, 2, 3, 4, 5, 6]], expected: [1, 2, 3, 4, 5, 6] }],
  },
  {
    prim: "transpose",
    inputs: [f([2, 3])],
    params: { perm: [1, 0] },
    diff: true,
    cases: [{ args: [[1, 2, 3, 4, 5, 6]], expected: [1, 4, 2, 5, 3, 6] }],
  },
  {
    prim: "slice",
    inputs: [f([4, 5])],
    params: { start: [1, 0], limit: [4, 5], strides: [2, 2] },
    diff: true,
    cases: [{ args: [[...Array(20).keys()]], expected: [5, 7, 9, 15, 17, 19] }],
  },
  {
    prim: "pad",
    inputs: [f([2, 3]), f([])],
    params: { lo: [1, -1], hi: [0, 2], interior: [1, 0] },
    diff: true,
    cases: [{
      args: [[1, 2, 3, 4, 5, 6], [9]],
      expected: [9, 9, 9, 9, 2, 3, 9, 9, 9, 9, 9, 9, 5, 6, 9, 9],
    }],
  },
  {
    prim: "concatenate",
    inputs: [f([2, 1]), f([2, 2])],
    params: { axis: 1 },
    diff: true,
    cases: [{ args: [[1, 2], [3, 4, 5, 6]], expected: [1, 3, 4, 2, 5, 6] }],
  },
  {
    prim: "rev",
    inputs: [f([2, 3])],
    params: { axes: [1] },
    diff: true,
    cases: [{ args: [[1, 2, 3, 4, 5, 6]], expected: [3, 2, 1, 6, 5, 4] }],
  },
  {
    prim: "iota",
    inputs: [],
    params: { shape: [2, 3], dimension: 1, dtype: "i32" },
    cases: [{ args: [], expected: [0, 1, 2, 0, 1, 2] }],
  },
  {
    prim: "reduce_sum",
    inputs: [f([3, 4])],
    params: { axes: [1] },
    diff: true,
    cases: [{ args: [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]], expected: [10, 26, 42] }],
  },
  {
    prim: "reduce_max",
    inputs: [f([3, 4])],
    params: { axes: [0] },
    diff: true,
    cases: [{ args: [[1, 9, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]], expected: [9, 10, 11, 12] }],
  },
  {
    prim: "reduce_min",
    inputs: [f([3, 4])],
    params: { axes: [0, 1] },
    diff: true,
    cases: [{ args: [[4, 2, 3, 1, 5, 6, 7, 8, 9, 10, 11, 12]], expected: [1] }],
  },
  {
    prim: "reduce_prod",
    inputs: [f([3, 4], 0.5, 1.5)],
    params: { axes: [1] },
    diff: true,
    cases: [{ args: [[1, 2, 3, 4, 0, 6, 7, 8, 1, 1, 1, 2]], expected: [24, 0, 2] }],
  },
  {
    prim: "argmax",
    inputs: [f([3, 4])],
    params: { axis: 1, indexDtype: "i32" },
    cases: [{ args: [[1, 5, 5, 0, 0, 0, 0, 0, 1, NaN, 2, 3]], expected: [1, 0, 1] }],
  },
  {
    prim: "argmin",
    inputs: [f([3, 4])],
    params: { axis: 0, indexDtype: "i32" },
    cases: [{ args: [[1, 5, 5, 0, 0, 6, 0, 0, 1, 0, 2, 3]], expected: [1, 2, 1, 0] }],
  },
  {
    prim: "dot_general",
    inputs: [f([2, 3, 4]), f([2, 4, 5])],
    params: { contracting: [[2], [1]], batch: [[0], [0]] },
    diff: true,
    cases: [{
      args: [[1, 2, 3, 4, 5, 6], [1, 0, 0, 1]],
      expected: [1, 2, 3, 4, 5, 6],
      params: { contracting: [[1], [0]], batch: [[], []] },
    }],
  },
];

/** Shapes used by the hand cases (when they differ from the sample domain). */
const CASE_SHAPES: Record<string, number[][]> = {
  broadcast_in_dim: [[3, 1]],
  reshape: [[2, 3]],
  transpose: [[2, 3]],
  slice: [[4, 5]],
  pad: [[2, 3], []],
  concatenate: [[2, 1], [2, 2]],
  rev: [[2, 3]],
  reduce_sum: [[3, 4]],
  reduce_max: [[3, 4]],
  reduce_min: [[3, 4]],
  reduce_prod: [[3, 4]],
  argmax: [[3, 4]],
  argmin: [[3, 4]],
  select: [[2], [2], [2]],
  dot_general: [[3, 2], [2, 2]],
};

/** Higher-order primitives are covered by tests/transforms_test.ts and tests/control_test.ts. */
const HIGHER_ORDER_TESTS: Record<string, string> = {
  jit_call: "tests/transforms_test.ts",
  scan: "tests/control_test.ts",
  cond: "tests/control_test.ts",
  while: "tests/control_test.ts",
  custom_jvp_call: "tests/control_test.ts",
  custom_vjp_call: "tests/control_test.ts",
  custom_lin: "tests/control_test.ts",
  checkpoint: "tests/control_test.ts",
};
/** Primitives whose table rows live with their own module's tests. */
const OWN_TABLES: Record<string, string> = {
  threefry2x32: "tests/random_test.ts",
  conv_general_dilated: "tests/conv_test.ts",
  gather: "tests/indexing_test.ts",
  scatter: "tests/indexing_test.ts",
  sort: "tests/indexing_test.ts",
  cumsum: "tests/indexing_test.ts",
  cumprod: "tests/indexing_test.ts",
  cummax: "tests/indexing_test.ts",
  cummin: "tests/indexing_test.ts",
  reduce_window: "tests/conv_test.ts",
  select_and_gather_add: "tests/window_select_test.ts",
  select_and_scatter_add: "tests/window_select_test.ts",
  cholesky: "tests/linalg_test.ts",
  triangular_solve: "tests/linalg_test.ts",
  lu: "tests/linalg_test.ts",
  eigh: "tests/linalg_test.ts",
  qr: "tests/linalg_test.ts",
  svd: "tests/linalg_test.ts",
};
export function registerOwnTable(prims: string[], file: string): void {
  for (const p of prims) OWN_TABLES[p] = file;
}

function sample(d: Domain, seed: number, batch?: number): Tensor {
  const shape = batch === undefined ? d.shape : [batch, ...d.shape];
  if (d.dtype === "bool") return uniform(seed, shape, 0, 2, "i32").astype("bool");
  return uniform(seed, shape, d.lo ?? -1, d.hi ?? 1, d.dtype ?? "f32");
}

function apply(row: Row, args: Tensor[], params = row.params ?? {}): Tensor {
  return bind(getPrimitive(row.prim), args, params)[0];
}

/** Evaluates the primitive's reference implementation in float64 on host data. */
function refF64(row: Row, args: Float64Array[], shapes: number[][], dtypes: DType[]): Float64Array {
  const p = getPrimitive(row.prim);
  const avals = shapes.map((s, i) => new ShapedArray(s, dtypes[i]));
  const outAvals = p.abstractEval(avals, row.params ?? {});
  return withFloat64(() => {
    const hs: HostArray[] = args.map((a, i) => ({ data: a, aval: avals[i] }));
    return p.impl!(hs, row.params ?? {}, outAvals)[0] as Float64Array;
  });
}

function at0(x: Tensor, b: number): Tensor {
  return np.squeeze(
    np.slice(x, [b, ...x.shape.slice(1).map(() => 0)], [b + 1, ...x.shape.slice(1)]),
    0,
  );
}

function dot(a: number[], b: number[]): number {
  return a.reduce((s, v, i) => s + v * b[i], 0);
}

Deno.test("every primitive has a row in the table (or a named test file)", () => {
  const covered = new Set([
    ...ROWS.map((r) => r.prim),
    ...Object.keys(HIGHER_ORDER_TESTS),
    ...Object.keys(OWN_TABLES),
  ]);
  const missing = allPrimitives().map((p) => p.name).filter((n) => !covered.has(n));
  assertEquals(missing, [], `primitives without a test row: ${missing.join(", ")}`);
});

for (const row of ROWS) {
  Deno.test(`${row.prim}: shape rule matches the implementation and hand values hold`, async () => {
    const args = row.inputs.map((d, i) => sample(d, 7 + i));
    const p = getPrimitive(row.prim);
    const outAvals = p.abstractEval(args.map((a) => a.aval), row.params ?? {});
    const out = bind(p, args, row.params ?? {});
    out.forEach((o, i) => assertEquals(String(o.aval), String(outAvals[i])));
    assert(out[0]._backend === currentBackend());
    for (const c of row.cases ?? []) {
      const shapes = CASE_SHAPES[row.prim] ?? (c.args as number[][]).map((a) => [a.length]);
      const cargs = (c.args as number[][]).map((a, i) =>
        np.array(new Float64Array(a), {
          shape: shapes[i] ?? [a.length],
          dtype: row.inputs[i].dtype ?? "f32",
        })
      );
      const y = bind(p, cargs, c.params ?? row.params ?? {})[0];
      const got = await flat(y);
      const exp = c.expected as number[];
      assertAllClose(got.slice(0, exp.length), exp, { rtol: 2e-6, atol: 1e-6 });
    }
  });

  if (row.diff) {
    Deno.test(`${row.prim}: jvp matches float64 central differences`, async () => {
      const args = row.inputs.map((d, i) => sample(d, 11 + i));
      const isF = row.inputs.map((d) => (d.dtype ?? "f32") === "f32");
      const tans = args.map((a, i) => (isF[i] ? uniform(50 + i, a.shape as number[]) : a));
      const [, dy] = jvp(
        (...xs: Tensor[]) => apply(row, args.map((a, i) => (isF[i] ? xs[i] : a))),
        args,
        tans.map((t, i) => (isF[i] ? t : np.zerosLike(args[i]))),
      );
      const shapes = args.map((a) => [...a.shape]);
      const dtypes = args.map((a) => a.dtype);
      const base = await Promise.all(args.map(async (a) => Float64Array.from(await flat(a))));
      const tv = await Promise.all(
        tans.map(async (t, i) => (isF[i] ? Float64Array.from(await flat(t)) : null)),
      );
      const h = row.h ?? 1e-6;
      const shift = (s: number) =>
        base.map((b, i) => (tv[i] ? b.map((v, k) => v + s * h * tv[i]![k]) : b));
      const fp = refF64(row, shift(1), shapes, dtypes), fm = refF64(row, shift(-1), shapes, dtypes);
      const fd = Array.from(fp).map((v, k) => (v - fm[k]) / (2 * h));
      assertAllClose(await flat(dy as Tensor), fd, { rtol: row.tol ?? 2e-3, atol: 2e-4 });
    });

    Deno.test(`${row.prim}: vjp satisfies <t, vjp(c)> = <jvp(t), c>`, async () => {
      const args = row.inputs.map((d, i) => sample(d, 21 + i));
      const isF = row.inputs.map((d) => (d.dtype ?? "f32") === "f32");
      const fi = (...xs: Tensor[]) => apply(row, args.map((a, i) => (isF[i] ? xs[i] : a)));
      const tans = args.map((
        a,
        i,
      ) => (isF[i] ? uniform(60 + i, a.shape as number[]) : np.zerosLike(a)));
      const [y, dy] = jvp(fi, args, tans);
      const c = uniform(77, (y as Tensor).shape as number[]);
      const [, back] = vjp(fi, ...args);
      const cts = back(c);
      let lhs = 0;
      for (let i = 0; i < args.length; i++) {
        if (isF[i]) lhs += dot(await flat(tans[i]), await flat(cts[i]));
      }
      const rhs = dot(await flat(dy as Tensor), await flat(c));
      assertAllClose(lhs, rhs, { rtol: 1e-3, atol: 1e-4 });
    });
  }

  if (row.inputs.length > 0) {
    Deno.test(`${row.prim}: vmap matches a loop (batch axis 0 and one unbatched operand)`, async () => {
      const B = 3;
      const batched = row.inputs.map((d, i) => sample(d, 31 + i, B));
      const fn = (...xs: Tensor[]) => apply(row, xs);
      const got = vmap(fn)(...batched) as Tensor;
      const per = [];
      for (let b = 0; b < B; b++) per.push(fn(...batched.map((x) => at0(x, b))));
      assertAllClose(await flat(got), (await Promise.all(per.map(flat))).flat(), {
        rtol: 1e-5,
        atol: 1e-6,
      });
      if (row.inputs.length > 1) {
        const un = sample(row.inputs[0], 41);
        const inAxes = [null, ...row.inputs.slice(1).map(() => 0)];
        const got2 = vmap(fn, { inAxes })(un, ...batched.slice(1)) as Tensor;
        const per2 = [];
        for (let b = 0; b < B; b++) per2.push(fn(un, ...batched.slice(1).map((x) => at0(x, b))));
        assertAllClose(await flat(got2), (await Promise.all(per2.map(flat))).flat(), {
          rtol: 1e-5,
          atol: 1e-6,
        });
      }
    });
  }

  Deno.test(`${row.prim}: jit matches eager`, async () => {
    const args = row.inputs.map((d, i) => sample(d, 51 + i));
    const fn = (...xs: Tensor[]) => apply(row, xs);
    assertAllClose(await flat(jit(fn)(...args)), await flat(fn(...args)), {
      rtol: 1e-6,
      atol: 1e-7,
    });
  });
}

Deno.test("the table's sample domains are valid for every row", () => {
  for (const row of ROWS) assert(row.inputs.every((d) => d.shape.every((n) => n > 0)), row.prim);
});

Deno.test("np.array copies a typed array of its own type, and converts any other", async () => {
  const f = new Float32Array([1.5, -2.25, 3.1, 65520]);
  assertEquals(Array.from(await np.array(f).data()), Array.from(f));
  // another element type: converted one by one
  assertEquals(Array.from(await np.array(new Int32Array([1, -2, 3])).data()), [1, -2, 3]);
  // f16 rounds each element even from a Float32Array
  const h = await np.array(f, { dtype: "f16" }).astype("f32").data();
  assertEquals(Array.from(h), Array.from(f).map((v) => Math.f16round(v)));
});
