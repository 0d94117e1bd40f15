/**
 * WebGPU elementwise kernels against JS reference loops: every unary and binary primitive,
 * select, convert, bitcast and threefry2x32, on odd shapes (and one launch large enough to
 * fold the grid into 2-D).
 *
 * Tolerances (llvmpipe): exact ops are compared exactly; transcendentals to rtol 2e-6 with a
 * small atol where the function crosses zero (sin, tan, erf, ...); pow to rtol 1e-5, its
 * exp2(y log2 x) form losing |y log2 x| ulps.
 */
import { CPU_ADAPTER_PROFILE, GPU_PROFILE, setActiveProfile } from "../gpu/target.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { binaryPlan, unaryPlan } from "../gpu/kernels/elementwise.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import { erf, erfInv, threefry2x32Arrays } from "../core/threefry.ts";
import { HAS_GPU, op, randArray, rng, run } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;
// 8 and 64 × 64 take the four-lane path (the latter through textures on CPU adapters)
const SHAPES: number[][] = [[1], [3], [17], [257], [3, 17], [8], [64, 64]];
const f32 = Math.fround;

interface UnaryRow {
  ref: (x: number) => number;
  lo: number;
  hi: number;
  rtol?: number;
  atol?: number;
  extra?: number[];
}

const NAN = NaN, INF = Infinity;
// Subnormal results flush to zero on the device, so float comparisons allow FLT_MIN.
const FLT_MIN = 1.2e-38;
const UNARY_F32: Record<string, UnaryRow> = {
  neg: { ref: (x) => -x, lo: -10, hi: 10, rtol: 0, atol: 0, extra: [0, INF, -INF] },
  abs: { ref: Math.abs, lo: -10, hi: 10, rtol: 0, atol: 0, extra: [-0, INF, -INF] },
  sign: { ref: Math.sign, lo: -10, hi: 10, rtol: 0, atol: 0, extra: [0, NAN, -INF] },
  exp: { ref: Math.exp, lo: -20, hi: 20, rtol: 2e-6, extra: [0, -INF, INF, 100, -100] },
  expm1: { ref: Math.expm1, lo: -5, hi: 5, rtol: 2e-6, extra: [1e-7, -3e-4, 0.4999, -0.5, 0.5] },
  log: { ref: Math.log, lo: 1e-3, hi: 100, rtol: 2e-6, atol: 1e-7, extra: [0, 1, INF, -1] },
  log1p: { ref: Math.log1p, lo: -0.99, hi: 10, rtol: 2e-6, extra: [1e-7, -3e-4, -1, -0.5, 0.5] },
  sqrt: { ref: Math.sqrt, lo: 0, hi: 100, rtol: 1e-6, extra: [0, INF, -1] },
  rsqrt: { ref: (x) => 1 / Math.sqrt(x), lo: 1e-3, hi: 100, rtol: 2e-6, extra: [0, INF] },
  sin: { ref: Math.sin, lo: -10, hi: 10, rtol: 2e-6, atol: 1e-6 },
  cos: { ref: Math.cos, lo: -10, hi: 10, rtol: 2e-6, atol: 1e-6 },
  tan: { ref: Math.tan, lo: -1.5, hi: 1.5, rtol: 4e-6, atol: 1e-6 },
  tanh: { ref: Math.tanh, lo: -12, hi: 12, rtol: 2e-6, extra: [1e-6, -1e-4, 50, -50, INF] },
  asin: { ref: Math.asin, lo: -1, hi: 1, rtol: 2e-6, atol: 1e-7, extra: [1, -1, 2] },
  acos: { ref: Math.acos, lo: -1, hi: 1, rtol: 2e-6, atol: 1e-6, extra: [1, -1] },
  atan: { ref: Math.atan, lo: -10, hi: 10, rtol: 2e-6, extra: [INF, -INF, 0] },
  sinh: { ref: Math.sinh, lo: -10, hi: 10, rtol: 2e-6, extra: [1e-6, -1e-3, 88, -89] },
  cosh: { ref: Math.cosh, lo: -10, hi: 10, rtol: 2e-6, extra: [0, 88, -89] },
  logistic: {
    ref: (x) => 1 / (1 + Math.exp(-x)),
    lo: -30,
    hi: 30,
    rtol: 2e-6,
    extra: [0, 100, -100, -200],
  },
  floor: { ref: Math.floor, lo: -10, hi: 10, rtol: 0, atol: 0, extra: [-0.5, 2.5] },
  ceil: { ref: Math.ceil, lo: -10, hi: 10, rtol: 0, atol: 0, extra: [-0.5, 2.5] },
  round: { ref: _roundHalfEven, lo: -10, hi: 10, rtol: 0, atol: 0, extra: [0.5, 1.5, 2.5, -2.5] },
  erf: { ref: erf, lo: -5, hi: 5, rtol: 2e-6, atol: 1e-7, extra: [1e-5, -1e-3, 3.9, 10, -INF] },
  erf_inv: { ref: erfInv, lo: -1, hi: 1, rtol: 4e-6, atol: 1e-7, extra: [0, 1, -1, 0.9999] },
};

function _roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

for (const [name, row] of Object.entries(UNARY_F32)) {
  Deno.test({
    name: `webgpu ${name} matches the JS reference on f32 odd shapes`,
    ignore,
    fn: async () => {
      const r = rng(name.length * 7919 + 1);
      for (const shape of SHAPES) {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = randArray(r, "f32", n, row.lo, row.hi) as Float32Array;
        if (n >= 17 && row.extra) x.set(row.extra.slice(0, n));
        const [y] = await run(name, [op(x, shape, "f32")], {}, [{ shape, dtype: "f32" }]);
        const want = Array.from(x, (v) => f32(row.ref(v)));
        assertAllClose(y, want, {
          rtol: row.rtol ?? 1e-6,
          atol: row.atol ?? FLT_MIN,
          msg: `${name}${shape}`,
        });
      }
    },
  });
}

Deno.test({
  name: "webgpu is_nan and is_inf test bit patterns and give bool",
  ignore,
  fn: async () => {
    const x = new Float32Array([0, -0, NAN, INF, -INF, 1, -3.5, 3.4e38, 1e-45]);
    const u = new Uint32Array(x.buffer);
    u[1] = 0xffc00001; // a negative NaN with payload
    const shape = [x.length];
    const [isnan] = await run("is_nan", [op(x, shape, "f32")], {}, [{ shape, dtype: "bool" }]);
    const [isinf] = await run("is_inf", [op(x, shape, "f32")], {}, [{ shape, dtype: "bool" }]);
    assertEquals(isnan, new Uint8Array([0, 1, 1, 0, 0, 0, 0, 0, 0]));
    assertEquals(isinf, new Uint8Array([0, 0, 0, 1, 1, 0, 0, 0, 0]));
  },
});

Deno.test({
  name: "webgpu integer unary ops (neg, abs, sign, not) match JS",
  ignore,
  fn: async () => {
    const r = rng(3);
    for (const shape of SHAPES) {
      const n = shape.reduce((a, b) => a * b, 1);
      const xi = randArray(r, "i32", n, -1000, 1000) as Int32Array;
      const xu = randArray(r, "u32", n, 0, 1e9) as Uint32Array;
      const xb = randArray(r, "bool", n) as Uint8Array;
      const cases: [string, Int32Array | Uint32Array | Uint8Array, DType, (v: number) => number][] =
        [
          ["neg", xi, "i32", (v) => -v | 0],
          ["abs", xi, "i32", Math.abs],
          ["sign", xi, "i32", Math.sign],
          ["not", xi, "i32", (v) => ~v],
          ["neg", xu, "u32", (v) => (-v) >>> 0],
          ["not", xu, "u32", (v) => ~v >>> 0],
          ["sign", xu, "u32", (v) => (v > 0 ? 1 : 0)],
          ["not", xb, "bool", (v) => 1 - v],
        ];
      for (const [name, x, dtype, ref] of cases) {
        const [y] = await run(name, [op(x, shape, dtype)], {}, [{ shape, dtype }]);
        const want = (x.constructor as typeof Int32Array).from(x, ref);
        assertEquals(y, want, `${name} ${dtype}${shape}`);
      }
    }
  },
});

interface BinaryRow {
  ref: (a: number, b: number) => number;
  dtypes: DType[];
  lo?: number;
  hi?: number;
  bLo?: number;
  bHi?: number;
  rtol?: number;
  atol?: number;
}

const _cmp = (f: (a: number, b: number) => boolean) => (a: number, b: number) => (f(a, b) ? 1 : 0);
const _nanmax = (a: number, b: number) => (isNaN(a) || isNaN(b) ? NaN : Math.max(a, b));
const _nanmin = (a: number, b: number) => (isNaN(a) || isNaN(b) ? NaN : Math.min(a, b));
const ALL: DType[] = ["f32", "i32", "u32"];
const BINARY: Record<string, BinaryRow> = {
  add: { ref: (a, b) => a + b, dtypes: ALL },
  sub: { ref: (a, b) => a - b, dtypes: ALL },
  mul: { ref: (a, b) => a * b, dtypes: ALL },
  div: { ref: (a, b) => a / b, dtypes: ["f32"], rtol: 1e-6 },
  pow: { ref: Math.pow, dtypes: ["f32"], lo: 0.1, hi: 3, bLo: -3, bHi: 3, rtol: 1e-5 },
  max: { ref: _nanmax, dtypes: ALL },
  min: { ref: _nanmin, dtypes: ALL },
  rem: { ref: (a, b) => a % b, dtypes: ["f32"], lo: -100, hi: 100, bLo: 0.5, bHi: 7 },
  atan2: { ref: Math.atan2, dtypes: ["f32"], rtol: 2e-6, atol: 1e-7 },
  eq: { ref: _cmp((a, b) => a === b), dtypes: ALL },
  ne: { ref: _cmp((a, b) => a !== b), dtypes: ALL },
  lt: { ref: _cmp((a, b) => a < b), dtypes: ALL },
  le: { ref: _cmp((a, b) => a <= b), dtypes: ALL },
  gt: { ref: _cmp((a, b) => a > b), dtypes: ALL },
  ge: { ref: _cmp((a, b) => a >= b), dtypes: ALL },
};

function _wrap(dtype: DType, v: number): number {
  if (dtype === "i32") return v | 0;
  if (dtype === "u32") return v >>> 0;
  if (dtype === "bool") return v;
  return f32(v);
}

const _isCmp = (name: string) => ["eq", "ne", "lt", "le", "gt", "ge"].includes(name);

for (const [name, row] of Object.entries(BINARY)) {
  Deno.test({
    name: `webgpu ${name} matches the JS reference on ${row.dtypes.join(", ")}`,
    ignore,
    fn: async () => {
      const r = rng(name.length * 31 + 5);
      for (const dtype of row.dtypes) {
        for (const shape of SHAPES) {
          const n = shape.reduce((a, b) => a * b, 1);
          const isF = dtype === "f32";
          const lo = row.lo ?? (isF ? -10 : dtype === "u32" ? 0 : -50);
          const hi = row.hi ?? (isF ? 10 : 50);
          const a = randArray(r, dtype, n, lo, hi);
          const b = randArray(r, dtype, n, row.bLo ?? lo, row.bHi ?? hi);
          if (n >= 17) { // equal pairs for comparisons, NaNs for floats
            a[0] = b[0];
            if (isF && !["pow", "rem", "div", "atan2"].includes(name)) {
              a[1] = NaN;
              b[2] = NaN;
            }
          }
          const outDtype: DType = _isCmp(name) ? "bool" : dtype;
          const [y] = await run(name, [op(a, shape, dtype), op(b, shape, dtype)], {}, [{
            shape,
            dtype: outDtype,
          }]);
          const want = Array.from(a, (v, k) => _wrap(outDtype, row.ref(v, b[k])));
          if (isF) {
            assertAllClose(y, want, {
              rtol: row.rtol ?? 0,
              atol: row.atol ?? FLT_MIN,
              msg: `${name} ${dtype}${shape}`,
            });
          } else {
            assertEquals(Array.from(y), want, `${name} ${dtype}${shape}`);
          }
        }
      }
    },
  });
}

Deno.test({
  name: "webgpu integer div truncates toward zero with x / 0 = x, and rem by zero gives 0",
  ignore,
  fn: async () => {
    const a = new Int32Array([7, -7, 7, -7, 5, 0, -2147483648, 3]);
    const b = new Int32Array([2, 2, -2, -2, 0, 3, 7, 0]);
    const shape = [a.length];
    const [q] = await run("div", [op(a, shape, "i32"), op(b, shape, "i32")], {}, [{
      shape,
      dtype: "i32",
    }]);
    const [m] = await run("rem", [op(a, shape, "i32"), op(b, shape, "i32")], {}, [{
      shape,
      dtype: "i32",
    }]);
    assertEquals(Array.from(q), [3, -3, -3, 3, 5, 0, -306783378, 3]);
    assertEquals(Array.from(m), [1, -1, 1, -1, 0, 0, -2, 0]);
    const ua = new Uint32Array([7, 4000000000, 5]), ub = new Uint32Array([2, 3, 0]);
    const s3 = [3];
    const [uq] = await run("div", [op(ua, s3, "u32"), op(ub, s3, "u32")], {}, [{
      shape: s3,
      dtype: "u32",
    }]);
    const [ur] = await run("rem", [op(ua, s3, "u32"), op(ub, s3, "u32")], {}, [{
      shape: s3,
      dtype: "u32",
    }]);
    assertEquals(Array.from(uq), [3, 1333333333, 5]);
    assertEquals(Array.from(ur), [1, 1, 0]);
  },
});

Deno.test({
  name: "webgpu pow, rem, max and min follow numpy on special values",
  ignore,
  fn: async () => {
    const a = new Float32Array([
      -2,
      -2,
      -8,
      0,
      0,
      -0,
      1,
      NAN,
      2,
      -INF,
      INF,
      0.5,
      -1,
      5.5,
      -5.5,
      1e4,
    ]);
    const b = new Float32Array([3, 2, 1 / 3, -1, 0, -3, NAN, 0, INF, 3, -2, -INF, INF, 2, 2, 0.3]);
    const shape = [a.length];
    const ins = [op(a, shape, "f32"), op(b, shape, "f32")];
    const [p] = await run("pow", ins, {}, [{ shape, dtype: "f32" }]);
    const powWant = Array.from(a, (v, k) => f32(Math.pow(v, b[k])));
    powWant[6] = 1; // numpy: 1 ** nan = 1, Math.pow says NaN
    powWant[12] = 1; // numpy: (-1) ** inf = 1, Math.pow says NaN
    assertAllClose(p, powWant, { rtol: 1e-5 });
    const [r] = await run("rem", ins, {}, [{ shape, dtype: "f32" }]);
    assertAllClose(r, Array.from(a, (v, k) => f32(v % b[k])), { rtol: 0, atol: 0 });
    const [mx] = await run("max", ins, {}, [{ shape, dtype: "f32" }]);
    assertAllClose(mx, Array.from(a, (v, k) => _nanmax(v, b[k])), { rtol: 0, atol: 0 });
  },
});

Deno.test({
  name: "webgpu rem is exact fmod for quotients up to 1e6",
  ignore,
  fn: async () => {
    const r = rng(99);
    const n = 4097;
    const a = Float32Array.from({ length: n }, () => (r() - 0.5) * 2e5);
    const b = Float32Array.from({ length: n }, () => (r() + 0.01) * (r() < 0.5 ? -1 : 1));
    const [y] = await run("rem", [op(a, [n], "f32"), op(b, [n], "f32")], {}, [{
      shape: [n],
      dtype: "f32",
    }]);
    assertAllClose(y, Array.from(a, (v, k) => f32(v % b[k])), { rtol: 0, atol: 0 });
  },
});

Deno.test({
  name: "webgpu logic and shift ops match JS on bool, i32 and u32",
  ignore,
  fn: async () => {
    const r = rng(11);
    for (const shape of SHAPES) {
      const n = shape.reduce((a, b) => a * b, 1);
      const cases: [DType, TypedArray, TypedArray][] = [
        ["bool", randArray(r, "bool", n), randArray(r, "bool", n)],
        ["i32", randArray(r, "i32", n, -1e9, 1e9), randArray(r, "i32", n, -1e9, 1e9)],
        ["u32", randArray(r, "u32", n, 0, 4e9), randArray(r, "u32", n, 0, 4e9)],
      ];
      for (const [dtype, a, b] of cases) {
        for (
          const [name, f] of [["and", (x: number, y: number) => x & y], [
            "or",
            (x: number, y: number) => x | y,
          ], ["xor", (x: number, y: number) => x ^ y]] as const
        ) {
          const [y] = await run(name, [op(a, shape, dtype), op(b, shape, dtype)], {}, [{
            shape,
            dtype,
          }]);
          assertEquals(
            Array.from(y),
            Array.from(a, (v, k) => _wrap(dtype, f(v, b[k]))),
            `${name} ${dtype}`,
          );
        }
        if (dtype === "bool") continue;
        const s = randArray(r, dtype, n, 0, 40); // shifts of 32 and more give 0
        for (
          const [name, f] of [["shift_left", (x: number, k: number) => (k >= 32 ? 0 : x << k)], [
            "shift_right_logical",
            (x: number, k: number) => (k >= 32 ? 0 : x >>> k),
          ]] as const
        ) {
          const [y] = await run(name, [op(a, shape, dtype), op(s, shape, dtype)], {}, [{
            shape,
            dtype,
          }]);
          assertEquals(
            Array.from(y),
            Array.from(a, (v, k) => _wrap(dtype, f(v, s[k]))),
            `${name} ${dtype}`,
          );
        }
      }
    }
  },
});

Deno.test({
  name: "webgpu select picks onTrue where the predicate holds",
  ignore,
  fn: async () => {
    const r = rng(5);
    for (const dtype of ["f32", "i32", "u32", "bool"] as DType[]) {
      for (const shape of SHAPES) {
        const n = shape.reduce((a, b) => a * b, 1);
        const p = randArray(r, "bool", n), a = randArray(r, dtype, n), b = randArray(r, dtype, n);
        const [y] = await run(
          "select",
          [op(p, shape, "bool"), op(a, shape, dtype), op(b, shape, dtype)],
          {},
          [{ shape, dtype }],
        );
        assertEquals(Array.from(y), Array.from(p, (v, k) => (v ? a[k] : b[k])));
      }
    }
  },
});

Deno.test({
  name: "webgpu convert truncates floats, maps bools to 0/1 and nonzero to true",
  ignore,
  fn: async () => {
    const x = new Float32Array([1.7, -1.7, 0, -0, 2.5, NAN, 1e9, -3e5, 0.25]);
    const shape = [x.length];
    const conv = async (data: TypedArray, from: DType, to: DType) =>
      (await run("convert", [op(data, shape, from)], { dtype: to }, [{ shape, dtype: to }]))[0];
    const xi = await conv(x.map((v) => (isNaN(v) ? 0 : v)), "f32", "i32");
    assertEquals(Array.from(xi), [1, -1, 0, 0, 2, 0, 1000000000, -300000, 0]);
    assertEquals(Array.from(await conv(x, "f32", "bool")), [1, 1, 0, 0, 1, 1, 1, 1, 1]);
    const b = new Uint8Array([1, 0, 1, 1, 0, 0, 1, 0, 1]);
    assertEquals(Array.from(await conv(b, "bool", "f32")), Array.from(b));
    assertEquals(Array.from(await conv(b, "bool", "i32")), Array.from(b));
    const i = new Int32Array([-1, 0, 5, -2147483648, 2147483647, 3, -7, 8, 9]);
    assertEquals(await conv(i, "i32", "u32"), new Uint32Array(i.buffer.slice(0)));
    assertEquals(await conv(i, "i32", "f32"), Float32Array.from(i));
    assertEquals(Array.from(await conv(i, "i32", "bool")), Array.from(i, (v) => (v ? 1 : 0)));
    const u = new Uint32Array([4294967295, 0, 3, 2147483648, 1, 2, 3, 4, 5]);
    assertEquals(await conv(u, "u32", "f32"), Float32Array.from(u));
    assertEquals(await conv(u, "u32", "i32"), new Int32Array(u.buffer.slice(0)));
  },
});

Deno.test({
  name: "webgpu bitcast reinterprets 32-bit patterns",
  ignore,
  fn: async () => {
    const x = new Float32Array([1, -2.5, 0, NAN, INF]);
    const shape = [5];
    const [u] = await run("bitcast", [op(x, shape, "f32")], { dtype: "u32" }, [{
      shape,
      dtype: "u32",
    }]);
    assertEquals(u, new Uint32Array(x.buffer.slice(0)));
    const [back] = await run("bitcast", [op(u, shape, "u32")], { dtype: "f32" }, [{
      shape,
      dtype: "f32",
    }]);
    assertEquals(new Uint32Array(back.buffer), new Uint32Array(x.buffer));
  },
});

Deno.test({
  name: "webgpu stop_gradient copies its operand",
  ignore,
  fn: async () => {
    const x = randArray(rng(1), "f32", 257);
    const [y] = await run("stop_gradient", [op(x, [257], "f32")], {}, [{
      shape: [257],
      dtype: "f32",
    }]);
    assertEquals(y, x);
  },
});

Deno.test({
  name: "webgpu threefry2x32 matches the JS reference and JAX's known answer",
  ignore,
  fn: async () => {
    const shape = [1];
    const ins = [0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3].map((v) =>
      op(new Uint32Array([v]), shape, "u32")
    );
    const outs = [{ shape, dtype: "u32" as DType }, { shape, dtype: "u32" as DType }];
    const [y0, y1] = await run("threefry2x32", ins, {}, outs);
    assertEquals([y0[0], y1[0]], [0xc4923a9c, 0x483df7a0]);
    const r = rng(8);
    const n = 1000, s = [10, 100];
    const data = [0, 1, 2, 3].map(() => randArray(r, "u32", n, 0, 4294967295) as Uint32Array);
    const [z0, z1] = await run(
      "threefry2x32",
      data.map((d) => op(d, s, "u32")),
      {},
      [{ shape: s, dtype: "u32" }, { shape: s, dtype: "u32" }],
    );
    const [w0, w1] = threefry2x32Arrays(data[0], data[1], data[2], data[3]);
    assertEquals(z0, w0);
    assertEquals(z1, w1);
  },
});

Deno.test({
  name: "webgpu add folds a launch past 65535 workgroups into a 2-D grid",
  ignore,
  fn: async () => {
    const n = 65535 * 64 + 4099;
    const a = new Float32Array(n), b = new Float32Array(n);
    for (let k = 0; k < n; k++) {
      a[k] = k % 1000;
      b[k] = (k * 7) % 13;
    }
    const [y] = await run("add", [op(a, [n], "f32"), op(b, [n], "f32")], {}, [{
      shape: [n],
      dtype: "f32",
    }]);
    let bad = -1;
    for (let k = 0; k < n; k++) {
      if (y[k] !== a[k] + b[k]) {
        bad = k;
        break;
      }
    }
    assertEquals(bad, -1);
  },
});

Deno.test("lane-wise plans: four lanes when aligned, textures for large operands on CPU adapters", () => {
  // the CPU-adapter profile's choices (pinned: the suite also runs under DENAX_GPU_PROFILE=gpu)
  const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
  try {
    _lanewiseCpuAdapter();
  } finally {
    setActiveProfile(prev);
  }
});

Deno.test("lane-wise plans of the gpu profile: one element per invocation, storage reads", () => {
  const prev = setActiveProfile(GPU_PROFILE);
  try {
    const caps = { textures: true, maxTextureDimension2D: 16384, maxTextureArrayLayers: 2048 };
    const p = binaryPlan("add", "f32", 4096, caps);
    assertEquals(p.steps.map((s) => s.kind), ["dispatch"]);
    const s0 = p.steps[0];
    assert(s0.kind === "dispatch" && !s0.kernel.wgsl.includes("vec4<"), String(s0));
  } finally {
    setActiveProfile(prev);
  }
});

function _lanewiseCpuAdapter(): void {
  const cpuAdapter = { textures: true, maxTextureDimension2D: 16384, maxTextureArrayLayers: 2048 };
  const kinds = (p: { steps: readonly { kind: string }[] }) => p.steps.map((s) => s.kind);
  assertEquals(kinds(binaryPlan("add", "f32", 4096, cpuAdapter)), [
    "toTexture",
    "toTexture",
    "dispatch",
  ]);
  // without the device's texture limits nothing is staged
  assertEquals(kinds(binaryPlan("add", "f32", 4096)), ["dispatch"]);
  const small = binaryPlan("add", "f32", 8, cpuAdapter).steps[0];
  assert(small.kind === "dispatch" && small.kernel.wgsl.includes("array<vec4<f32>>"));
  const odd = unaryPlan("neg", "f32", 4097, cpuAdapter).steps[0];
  assert(odd.kind === "dispatch" && !odd.kernel.wgsl.includes("vec4<"));
}
