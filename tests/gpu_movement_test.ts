/**
 * WebGPU data-movement kernels against JS reference loops: broadcast_in_dim, reshape,
 * transpose, slice, pad, concatenate, rev, iota, gather and scatter, on odd shapes.
 */
import { assertAllClose, assertEquals } from "@std/assert";
import type { DType, TypedArray } from "../core/dtype.ts";
import { HAS_GPU, numel, op, randArray, ravel, rng, run, unravel } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;

/** A reference "for each output index, read input at f(index)" loop. */
function mapIndex(
  x: TypedArray,
  inShape: readonly number[],
  outShape: readonly number[],
  f: (o: number[]) => number[] | null,
  fill = 0,
): number[] {
  return Array.from({ length: numel(outShape) }, (_, k) => {
    const src = f(unravel(k, outShape));
    return src === null ? fill : x[ravel(src, inShape)];
  });
}

Deno.test({
  name: "webgpu broadcast_in_dim maps operand dims and broadcasts size-1 dims",
  ignore,
  fn: async () => {
    const r = rng(1);
    const cases: [number[], number[], number[]][] = [
      [[3], [17, 3], [1]],
      [[17, 1], [17, 5], [0, 1]],
      [[1, 3], [2, 257, 3], [0, 2]],
      [[], [3, 3], []],
      [[3, 1, 5], [3, 4, 5, 2], [0, 1, 2]],
    ];
    for (const [inShape, shape, dims] of cases) {
      for (const dtype of ["f32", "i32", "bool"] as DType[]) {
        const x = randArray(r, dtype, numel(inShape));
        const [y] = await run("broadcast_in_dim", [op(x, inShape, dtype)], {
          shape,
          broadcastDimensions: dims,
        }, [{ shape, dtype }]);
        const want = mapIndex(
          x,
          inShape,
          shape,
          (o) => dims.map((d, k) => (inShape[k] === 1 ? 0 : o[d])),
        );
        assertEquals(Array.from(y), want, `${inShape} -> ${shape}`);
      }
    }
  },
});

Deno.test({
  name: "webgpu reshape keeps the row-major data",
  ignore,
  fn: async () => {
    const x = randArray(rng(2), "i32", 3 * 17, -9, 9);
    const [y] = await run("reshape", [op(x, [3, 17], "i32")], { shape: [17, 3] }, [{
      shape: [17, 3],
      dtype: "i32",
    }]);
    assertEquals(y, x);
  },
});

Deno.test({
  name: "webgpu transpose permutes dims of odd shapes",
  ignore,
  fn: async () => {
    const r = rng(3);
    const cases: [number[], number[]][] = [
      [[3, 17], [1, 0]],
      [[3, 1, 17], [2, 0, 1]],
      [[2, 3, 5, 7], [3, 1, 0, 2]],
      [[257], [0]],
    ];
    for (const [shape, perm] of cases) {
      const x = randArray(r, "f32", numel(shape));
      const outShape = perm.map((p) => shape[p]);
      const [y] = await run("transpose", [op(x, shape, "f32")], { perm }, [{
        shape: outShape,
        dtype: "f32",
      }]);
      const want = mapIndex(x, shape, outShape, (o) => {
        const idx = new Array(shape.length);
        perm.forEach((p, j) => (idx[p] = o[j]));
        return idx;
      });
      assertEquals(Array.from(y), want);
    }
  },
});

Deno.test({
  name: "webgpu slice with strides reads start + k * stride",
  ignore,
  fn: async () => {
    const r = rng(4);
    const cases: [number[], number[], number[], number[]][] = [
      [[17], [2], [15], [3]],
      [[3, 17], [1, 0], [3, 17], [1, 4]],
      [[5, 7, 3], [0, 6, 1], [5, 7, 2], [2, 1, 1]],
      [[257], [0], [0], [1]],
    ];
    for (const [shape, start, limit, strides] of cases) {
      const x = randArray(r, "u32", numel(shape), 0, 1000);
      const outShape = start.map((s, d) => Math.max(0, Math.ceil((limit[d] - s) / strides[d])));
      const [y] = await run("slice", [op(x, shape, "u32")], { start, limit, strides }, [{
        shape: outShape,
        dtype: "u32",
      }]);
      const want = mapIndex(x, shape, outShape, (o) => o.map((k, d) => start[d] + k * strides[d]));
      assertEquals(Array.from(y), want);
    }
  },
});

Deno.test({
  name: "webgpu pad handles low, high, interior and negative (cropping) padding",
  ignore,
  fn: async () => {
    const r = rng(5);
    const cases: [number[], number[], number[], number[]][] = [
      [[3], [1], [2], [0]],
      [[3, 5], [2, -1], [0, 3], [1, 2]],
      [[17], [-3], [-2], [0]],
      [[2, 3, 4], [0, 1, -1], [1, 0, 2], [0, 1, 1]],
    ];
    for (const [shape, lo, hi, interior] of cases) {
      for (const dtype of ["f32", "i32"] as DType[]) {
        const x = randArray(r, dtype, numel(shape));
        const pv = dtype === "f32" ? new Float32Array([-7.5]) : new Int32Array([-7]);
        const outShape = shape.map((n, d) => lo[d] + hi[d] + n + Math.max(0, n - 1) * interior[d]);
        const [y] = await run(
          "pad",
          [op(x, shape, dtype), op(pv, [], dtype)],
          { lo, hi, interior },
          [{
            shape: outShape,
            dtype,
          }],
        );
        const want = mapIndex(x, shape, outShape, (o) => {
          const idx: number[] = [];
          for (let d = 0; d < shape.length; d++) {
            const t = o[d] - lo[d], s = interior[d] + 1;
            if (t < 0 || t % s !== 0 || t / s >= shape[d]) return null;
            idx.push(t / s);
          }
          return idx;
        }, pv[0]);
        assertEquals(Array.from(y), want, `pad ${shape} ${lo} ${hi} ${interior}`);
      }
    }
  },
});

Deno.test({
  name: "webgpu concatenate joins operands along an axis",
  ignore,
  fn: async () => {
    const r = rng(6);
    const cases: [number[][], number][] = [
      [[[3], [17], [1]], 0],
      [[[3, 2], [3, 5], [3, 1]], 1],
      [[[2, 3, 4], [1, 3, 4]], 0],
      [[[2, 3, 4], [2, 0, 4], [2, 2, 4]], 1],
    ];
    for (const [shapes, axis] of cases) {
      const xs = shapes.map((s) => randArray(r, "f32", numel(s)));
      const outShape = [...shapes[0]];
      outShape[axis] = shapes.reduce((a, s) => a + s[axis], 0);
      const [y] = await run("concatenate", xs.map((x, k) => op(x, shapes[k], "f32")), { axis }, [{
        shape: outShape,
        dtype: "f32",
      }]);
      const want = Array.from({ length: numel(outShape) }, (_, k) => {
        const o = unravel(k, outShape);
        let j = 0;
        while (o[axis] >= shapes[j][axis]) o[axis] -= shapes[j++][axis];
        return xs[j][ravel(o, shapes[j])];
      });
      assertEquals(Array.from(y), want);
    }
  },
});

Deno.test({
  name: "webgpu rev reverses the listed axes",
  ignore,
  fn: async () => {
    const r = rng(7);
    for (
      const [shape, axes] of [[[17], [0]], [[3, 5, 2], [0, 2]], [[4, 3], []]] as [
        number[],
        number[],
      ][]
    ) {
      const x = randArray(r, "i32", numel(shape), -50, 50);
      const [y] = await run("rev", [op(x, shape, "i32")], { axes }, [{ shape, dtype: "i32" }]);
      const want = mapIndex(
        x,
        shape,
        shape,
        (o) => o.map((k, d) => (axes.includes(d) ? shape[d] - 1 - k : k)),
      );
      assertEquals(Array.from(y), want);
    }
  },
});

Deno.test({
  name: "webgpu iota counts along its dimension in every dtype",
  ignore,
  fn: async () => {
    for (const dtype of ["f32", "i32", "u32"] as DType[]) {
      for (
        const [shape, dimension] of [[[17], 0], [[3, 5], 1], [[3, 5, 2], 0]] as [number[], number][]
      ) {
        const [y] = await run("iota", [], { shape, dimension, dtype }, [{ shape, dtype }]);
        assertEquals(
          Array.from(y),
          Array.from({ length: numel(shape) }, (_, k) => unravel(k, shape)[dimension]),
        );
      }
    }
  },
});

Deno.test({
  name: "webgpu gather takes along an axis and clamps out-of-range indices",
  ignore,
  fn: async () => {
    const r = rng(8);
    const cases: [number[], number[], number][] = [
      [[17], [5], 0],
      [[3, 17], [2, 3], 1],
      [[5, 3, 4], [7], 0],
      [[2, 257, 3], [1], 1],
    ];
    for (const [xShape, idxShape, axis] of cases) {
      const A = xShape[axis];
      const x = randArray(r, "f32", numel(xShape));
      const idx = randArray(r, "i32", numel(idxShape), -3, A + 3) as Int32Array;
      const outShape = [...xShape.slice(0, axis), ...idxShape, ...xShape.slice(axis + 1)];
      const [y] = await run("gather", [op(x, xShape, "f32"), op(idx, idxShape, "i32")], { axis }, [{
        shape: outShape,
        dtype: "f32",
      }]);
      const ni = idxShape.length;
      const want = mapIndex(x, xShape, outShape, (o) => {
        const j = ravel(o.slice(axis, axis + ni), idxShape);
        const k = Math.min(Math.max(idx[j], 0), A - 1);
        return [...o.slice(0, axis), k, ...o.slice(axis + ni)];
      });
      assertEquals(Array.from(y), want);
    }
  },
});

Deno.test({
  name: "webgpu scatter sets and adds exactly, dropping out-of-range indices",
  ignore,
  fn: async () => {
    const r = rng(9);
    const cases: [number[], number[], number][] = [
      [[17], [40], 0],
      [[3, 17], [2, 9], 1],
      [[5, 3, 4], [7], 0],
    ];
    for (const [xShape, idxShape, axis] of cases) {
      for (const dtype of ["f32", "i32", "u32"] as DType[]) {
        const A = xShape[axis];
        const x = randArray(r, dtype, numel(xShape), 0, 20).map(Math.floor);
        // duplicates are frequent: 40 indices into 17 slots
        const idx = randArray(r, "i32", numel(idxShape), -2, A + 2) as Int32Array;
        const uShape = [...xShape.slice(0, axis), ...idxShape, ...xShape.slice(axis + 1)];
        // integer-valued floats keep f32 sums exact in any order
        const upd = dtype === "f32"
          ? Float32Array.from({ length: numel(uShape) }, () => Math.floor(r() * 100) - 50)
          : randArray(r, dtype, numel(uShape), 0, 100);
        const ni = idxShape.length;
        const ins = [op(x, xShape, dtype), op(idx, idxShape, "i32"), op(upd, uShape, dtype)];
        const [added] = await run("scatter", ins, { axis, mode: "add" }, [{
          shape: xShape,
          dtype,
        }]);
        const want = Array.from(x);
        for (let k = 0; k < upd.length; k++) {
          const o = unravel(k, uShape);
          const t = idx[ravel(o.slice(axis, axis + ni), idxShape)];
          if (t < 0 || t >= A) continue;
          const dst = ravel([...o.slice(0, axis), t, ...o.slice(axis + ni)], xShape);
          want[dst] = dtype === "u32" ? (want[dst] + upd[k]) >>> 0 : want[dst] + upd[k];
        }
        assertAllClose(added, want, { rtol: 0, atol: 0, msg: `scatter-add ${dtype}` });
        const [set] = await run("scatter", ins, { axis, mode: "set" }, [{ shape: xShape, dtype }]);
        // every written slot holds one of the updates aimed at it; others keep x
        const cands = new Map<number, number[]>();
        for (let k = 0; k < upd.length; k++) {
          const o = unravel(k, uShape);
          const t = idx[ravel(o.slice(axis, axis + ni), idxShape)];
          if (t < 0 || t >= A) continue;
          const dst = ravel([...o.slice(0, axis), t, ...o.slice(axis + ni)], xShape);
          cands.set(dst, [...(cands.get(dst) ?? []), upd[k]]);
        }
        for (let k = 0; k < x.length; k++) {
          const c = cands.get(k);
          if (c) assertEquals(c.includes(set[k]), true, `scatter-set slot ${k}`);
          else assertEquals(set[k], x[k]);
        }
      }
    }
  },
});

Deno.test({
  name: "webgpu scatter-add accumulates non-integer f32 updates without losing any",
  ignore,
  fn: async () => {
    const n = 5000;
    const upd = Float32Array.from({ length: n }, (_, k) => 0.001 * (k % 7) + 0.5);
    const idx = Int32Array.from({ length: n }, (_, k) => k % 3);
    const x = new Float32Array(3);
    const [y] = await run(
      "scatter",
      [op(x, [3], "f32"), op(idx, [n], "i32"), op(upd, [n], "f32")],
      {
        axis: 0,
        mode: "add",
      },
      [{ shape: [3], dtype: "f32" }],
    );
    const want = [0, 0, 0];
    upd.forEach((v, k) => (want[k % 3] += v));
    assertAllClose(y, want, { rtol: 1e-5 });
  },
});
