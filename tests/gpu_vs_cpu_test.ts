/**
 * Differential test: every first-order primitive on the webgpu backend against the core's
 * reference implementation (the cpu backend's oracle), with the core's own abstract
 * evaluation and params. The per-op JS loops live in the other gpu_*_test.ts files; this
 * file catches drift between the two backends' semantics (such as integer `x / 0 = x`).
 * Floats compare to 1e-5 relative (1e-4 for conv), everything else exactly.
 */
import { assertEquals } from "@std/assert";
import "../core/lax.ts";
import "../core/numpy.ts";
import { ShapedArray } from "../core/aval.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import { getPrimitive } from "../core/primitive.ts";
import { gpu, HAS_GPU, numel, randArray, rng } from "./gpu_helpers_test.ts";

interface In {
  data: TypedArray;
  shape: number[];
  dtype: DType;
}

/** Runs `name` on both backends; returns a description of the first mismatch, if any. */
async function compare(
  name: string,
  ins: In[],
  params: Record<string, unknown>,
  tol: number,
): Promise<string | null> {
  const p = getPrimitive(name);
  const avals = ins.map((x) => new ShapedArray(x.shape, x.dtype));
  const outAvals = p.abstractEval!(avals, params) as ShapedArray[];
  const want = p.impl!(ins.map((x, i) => ({ data: x.data, aval: avals[i] })), params, outAvals);
  const g = await gpu();
  const outs = g.execute(
    name,
    ins.map((x, i) => g.upload(x.data, avals[i])),
    avals,
    params,
    outAvals,
  );
  for (let k = 0; k < outs.length; k++) {
    const got = await g.read(outs[k], outAvals[k]), w = want[k];
    if (got.constructor !== w.constructor || got.length !== w.length) {
      return `${name}: got ${got.constructor.name}(${got.length}), want ${w.constructor.name}(${w.length})`;
    }
    for (let i = 0; i < w.length; i++) {
      const a = Number(got[i]), b = Number(w[i]);
      if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
      if (!(Math.abs(a - b) <= tol * (1 + Math.abs(b)))) {
        const sig = ins.map((x) => `${x.dtype}[${x.shape}]`).join(", ");
        return `${name}(${sig}) ${JSON.stringify(params)} output ${k} at ${i}: got ${a}, want ${b}`;
      }
    }
  }
  return null;
}

Deno.test({
  name: "webgpu agrees with the core's reference implementation on every first-order primitive",
  ignore: !HAS_GPU,
  fn: async () => {
    const r = rng(42);
    const mk = (dtype: DType, lo: number, hi: number) => (shape: number[], a = lo, b = hi): In => ({
      data: randArray(r, dtype, numel(shape), a, b),
      shape,
      dtype,
    });
    const f = mk("f32", -5, 5), ii = mk("i32", -50, 50), uu = mk("u32", 0, 1e9);
    const bb = mk("bool", 0, 1);
    const S = [3, 17];
    const cases: [string, In[], Record<string, unknown>, number?][] = [];
    const add = (name: string, ins: In[], params: Record<string, unknown> = {}, tol = 1e-5) =>
      cases.push([name, ins, params, tol]);
    for (
      const op
        of "neg abs sign exp expm1 sin cos tanh atan sinh cosh logistic floor ceil round erf stop_gradient is_nan is_inf"
          .split(" ")
    ) add(op, [f(S)]);
    for (const op of ["log", "log1p", "sqrt", "rsqrt"]) add(op, [f(S, 0.01, 10)]);
    for (const op of ["asin", "acos", "erf_inv"]) add(op, [f(S, -0.99, 0.99)]);
    add("tan", [f(S, -1.4, 1.4)]);
    for (const op of ["neg", "abs", "sign", "not"]) add(op, [ii(S)]);
    add("not", [bb(S)]);
    add("not", [uu(S)]);
    for (const op of "add sub mul div max min rem atan2 eq ne lt le gt ge".split(" ")) {
      add(op, [f(S), f(S)]);
    }
    add("pow", [f(S, 0.1, 3), f(S)]);
    for (const op of "add sub mul div max min rem eq lt and or xor".split(" ")) {
      add(op, [ii(S), ii(S, -7, 7)]);
    }
    for (const op of "add mul div rem max and or xor shift_left shift_right_logical".split(" ")) {
      add(op, [uu(S), uu(S, 0, 40)]);
    }
    for (const op of ["shift_left", "shift_right_logical"]) {
      add(op, [ii(S, -1e6, 1e6), ii(S, 0, 40)]);
    }
    for (const op of ["and", "or", "xor", "eq", "ne"]) add(op, [bb(S), bb(S)]);
    add("select", [bb(S), f(S), f(S)]);
    const of: Record<DType, (s: number[]) => In> = {
      f16: (s) => ({ ...f(s), dtype: "f16" }),
      f32: f,
      i32: ii,
      u32: uu,
      bool: bb,
    };
    for (
      const [from, to] of [
        ["f32", "i32"],
        ["f32", "bool"],
        ["i32", "f32"],
        ["bool", "f32"],
        ["u32", "i32"],
        ["i32", "u32"],
        ["i32", "bool"],
      ] as [DType, DType][]
    ) {
      add("convert", [of[from](S)], { dtype: to });
    }
    add("bitcast", [f(S)], { dtype: "u32" });
    add("broadcast_in_dim", [f([3, 1])], { shape: [2, 3, 5], broadcastDimensions: [1, 2] });
    add("reshape", [f([3, 4])], { shape: [2, 6] });
    add("transpose", [f([2, 3, 5])], { perm: [2, 0, 1] });
    add("slice", [f([5, 7])], { start: [1, 0], limit: [5, 7], strides: [2, 3] });
    add("pad", [f([3, 4]), f([])], { lo: [1, -1], hi: [2, 0], interior: [1, 0] });
    add("concatenate", [f([2, 3]), f([2, 1]), f([2, 4])], { axis: 1 });
    add("rev", [f([3, 4])], { axes: [1] });
    add("iota", [], { shape: [3, 4], dimension: 1, dtype: "i32" });
    add("gather", [f([4, 5]), ii([3, 2], -2, 7)], { axis: 1 });
    const counting = {
      data: Float32Array.from({ length: 12 }, (_, k) => k),
      shape: [4, 3],
      dtype: "f32" as DType,
    };
    add("scatter", [f([4, 5]), ii([3], -1, 6), counting], { axis: 1, mode: "add" });
    add("scatter", [ii([4, 5]), ii([3], 0, 5), ii([4, 3])], { axis: 1, mode: "add" });
    for (const op of ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"]) {
      add(op, [f([3, 4, 5], 0.5, 1.5)], { axes: [0, 2] });
      add(op, [ii([3, 4, 5], -3, 3)], { axes: [1] });
    }
    add("reduce_max", [f([3, 0])], { axes: [1] });
    add("reduce_sum", [bb([3, 4])], { axes: [1] });
    for (const op of ["argmax", "argmin"]) add(op, [ii(S, 0, 5)], { axis: 1, indexDtype: "i32" });
    for (const op of ["cumsum", "cumprod", "cummax", "cummin"]) {
      add(op, [f([3, 5], 0.5, 1.5)], { axis: 1, reverse: true });
    }
    add("dot_general", [f([2, 3, 4]), f([2, 4, 5])], {
      contracting: [[2], [1]],
      batch: [[0], [0]],
    });
    add("dot_general", [ii([3, 4]), ii([5, 4])], { contracting: [[1], [1]], batch: [[], []] });
    const conv = (
      s: number[],
      pad: [number, number][],
      ld: number[],
      rd: number[],
      fg: number,
      bg: number,
    ) => ({
      windowStrides: s,
      padding: pad,
      lhsDilation: ld,
      rhsDilation: rd,
      featureGroupCount: fg,
      batchGroupCount: bg,
    });
    add(
      "conv_general_dilated",
      [f([4, 4, 6, 5]), f([6, 2, 3, 2])],
      conv([1, 2], [[1, 1], [0, 1]], [1, 1], [2, 1], 2, 1),
      1e-4,
    );
    add(
      "conv_general_dilated",
      [f([4, 3, 6, 5]), f([6, 3, 2, 2])],
      conv([1, 1], [[0, 0], [0, 0]], [1, 1], [1, 1], 1, 2),
      1e-4,
    );
    add(
      "conv_general_dilated",
      [f([2, 3, 5]), f([4, 3, 3])],
      conv([2], [[2, 1]], [2], [1], 1, 1),
      1e-4,
    );
    // few output channels against a padded input (one column tile of every feature on CPU adapters)
    add(
      "conv_general_dilated",
      [f([2, 8, 4, 4]), f([2, 8, 3, 3])],
      conv([1, 1], [[2, 2], [2, 2]], [1, 1], [1, 1], 1, 1),
      1e-4,
    );
    add(
      "conv_general_dilated",
      [f([2, 6, 3, 4]), f([1, 6, 3, 2])],
      conv([1, 1], [[2, 2], [1, 1]], [2, 2], [1, 2], 1, 1),
      1e-4,
    );
    add(
      "conv_general_dilated",
      [f([2, 8, 6, 6]), f([1, 8, 3, 3])],
      conv([2, 2], [[2, 2], [2, 2]], [1, 1], [1, 1], 1, 1),
      1e-4,
    );
    add(
      "conv_general_dilated",
      [ii([3, 5, 4], -3, 3), ii([2, 5, 3], -2, 2)],
      conv([1], [[2, 2]], [1], [1], 1, 1),
    );
    for (const op of ["sum", "max", "min"]) {
      add("reduce_window", [f([2, 5, 6])], {
        op,
        windowDimensions: [1, 2, 3],
        windowStrides: [1, 2, 1],
        padding: [[0, 0], [1, 0], [1, 1]],
        baseDilation: [1, 1, 2],
        windowDilation: [1, 2, 1],
      });
    }
    const keys = f(S);
    keys.data[4] = NaN;
    keys.data[5] = -0;
    add("sort", [keys, ii(S)], { axis: 1, numKeys: 1, descending: true });
    add("sort", [ii(S, 0, 4), f(S)], { axis: 0, numKeys: 1, descending: false });
    add("threefry2x32", [0, 1, 2, 3].map(() => uu([5], 0, 4e9)));
    const fails: string[] = [];
    for (const [name, ins, params, tol] of cases) {
      const m = await compare(name, ins, params, tol ?? 1e-5);
      if (m) fails.push(m);
    }
    assertEquals(fails, []);
  },
});
