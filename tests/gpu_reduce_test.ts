/**
 * WebGPU reductions, arg-reductions, scans, reduce_window and sort against JS reference loops.
 *
 * f32 sums are compared with rtol 1e-5 plus an atol scaled by the sum of magnitudes (the
 * device sums in a different order); max/min/arg/sort results are exact.
 */
import { assertAllClose, assertEquals } from "@std/assert";
import type { DType, TypedArray } from "../core/dtype.ts";
import { HAS_GPU, numel, op, randArray, ravel, rng, run, unravel } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;
const f32 = Math.fround;

type Mono = "sum" | "max" | "min" | "prod";
const IDENT: Record<DType, Record<Mono, number>> = {
  f16: { sum: 0, prod: 1, max: -Infinity, min: Infinity },
  f32: { sum: 0, prod: 1, max: -Infinity, min: Infinity },
  i32: { sum: 0, prod: 1, max: -2147483648, min: 2147483647 },
  u32: { sum: 0, prod: 1, max: 0, min: 4294967295 },
  bool: { sum: 0, prod: 1, max: 0, min: 1 },
};

function combine(m: Mono, dtype: DType, a: number, b: number): number {
  let v: number;
  if (m === "sum") v = a + b;
  else if (m === "prod") v = dtype === "f32" ? a * b : Math.imul(a, b);
  else if (Number.isNaN(a) || Number.isNaN(b)) v = NaN;
  else v = m === "max" ? Math.max(a, b) : Math.min(a, b);
  return dtype === "i32" ? v | 0 : dtype === "u32" ? v >>> 0 : v;
}

function refReduce(x: TypedArray, shape: number[], axes: number[], m: Mono, dtype: DType) {
  const outShape = shape.filter((_, d) => !axes.includes(d));
  const out = new Array(numel(outShape)).fill(IDENT[dtype][m]);
  const mag = new Array(numel(outShape)).fill(0);
  for (let k = 0; k < x.length; k++) {
    const o = ravel(unravel(k, shape).filter((_, d) => !axes.includes(d)), outShape);
    out[o] = combine(m, dtype, out[o], x[k]);
    mag[o] += Math.abs(x[k]);
  }
  return { out, mag, outShape };
}

Deno.test({
  name: "webgpu reductions over any axes match JS loops, empty ones giving the identity",
  ignore,
  fn: async () => {
    const r = rng(1);
    const cases: [number[], number[]][] = [
      [[17], [0]],
      [[3, 17], [1]],
      [[3, 17], [0]],
      [[3, 5, 7], [0, 2]],
      [[2, 3, 4, 5], [1, 2]],
      [[257, 3], [0, 1]],
      [[4, 0, 3], [1]],
      [[3, 1], []],
      [[1000, 70], [0]], // R > 512 with many outputs: sequential
      [[3, 20000], [1]], // workgroup, one chunk
      [[70001], [0]], // workgroup, several chunks
    ];
    const ops: [string, Mono][] = [["reduce_sum", "sum"], ["reduce_max", "max"], [
      "reduce_min",
      "min",
    ], [
      "reduce_prod",
      "prod",
    ]];
    for (const [shape, axes] of cases) {
      for (const dtype of ["f32", "i32", "u32"] as DType[]) {
        for (const [name, m] of ops) {
          const big = numel(shape) > 5000;
          if (big && (m === "prod" || dtype === "u32")) continue;
          const x = m === "prod"
            ? (dtype === "f32"
              ? randArray(r, dtype, numel(shape), 0.5, 1.5)
              : randArray(r, dtype, numel(shape), 0, 3))
            : randArray(r, dtype, numel(shape), dtype === "u32" ? 0 : -50, 50);
          if (dtype === "f32" && m === "max" && x.length > 20) x[13] = NaN; // NaN propagates
          const { out, mag, outShape } = refReduce(x, shape, axes, m, dtype);
          const [y] = await run(name, [op(x, shape, dtype)], { axes }, [{
            shape: outShape,
            dtype,
          }]);
          const msg = `${name} ${dtype}[${shape}] axes ${axes}`;
          if (dtype === "f32") {
            for (let k = 0; k < out.length; k++) {
              assertAllClose(y[k], f32(out[k]), {
                rtol: 1e-5,
                atol: 1e-6 * mag[k],
                msg: `${msg} [${k}]`,
              });
            }
          } else assertEquals(Array.from(y), out, msg);
        }
      }
    }
  },
});

Deno.test({
  name: "webgpu reductions of bool are or (sum, max) and and (prod, min)",
  ignore,
  fn: async () => {
    const x = new Uint8Array([0, 1, 0, 0, 0, 0, 1, 1, 1]);
    for (
      const [name, want] of [["reduce_sum", [1, 0, 1]], ["reduce_max", [1, 0, 1]], ["reduce_prod", [
        0,
        0,
        1,
      ]], ["reduce_min", [0, 0, 1]]] as const
    ) {
      const [y] = await run(name, [op(x, [3, 3], "bool")], { axes: [1] }, [{
        shape: [3],
        dtype: "bool",
      }]);
      assertEquals(Array.from(y), [...want], name);
    }
  },
});

Deno.test({
  name: "webgpu argmax and argmin return the first extreme, NaN counting as extreme",
  ignore,
  fn: async () => {
    const r = rng(2);
    const cases: [number[], number][] = [[[17], 0], [[3, 17], 1], [[5, 4, 3], 1], [[2, 3000], 1], [[
      257,
      3,
    ], 0]];
    for (const [shape, axis] of cases) {
      for (const dtype of ["f32", "i32", "u32"] as DType[]) {
        const x = randArray(r, dtype, numel(shape), 0, 9); // many ties
        if (dtype === "f32" && x.length > 30) {
          x[5] = NaN;
          x[29] = NaN;
        }
        const outShape = shape.filter((_, d) => d !== axis);
        for (const name of ["argmax", "argmin"]) {
          const [y] = await run(name, [op(x, shape, dtype)], { axis, indexDtype: "i32" }, [{
            shape: outShape,
            dtype: "i32",
          }]);
          const want = Array.from({ length: numel(outShape) }, (_, k) => {
            const o = unravel(k, outShape);
            let best = -1, bv = 0;
            for (let j = 0; j < shape[axis]; j++) {
              const v = x[ravel([...o.slice(0, axis), j, ...o.slice(axis)], shape)];
              if (best >= 0 && Number.isNaN(bv)) break;
              if (best < 0 || Number.isNaN(v) || (name === "argmax" ? v > bv : v < bv)) {
                best = j;
                bv = v;
              }
            }
            return best;
          });
          assertEquals(Array.from(y), want, `${name} ${dtype}[${shape}] axis ${axis}`);
        }
      }
    }
  },
});

Deno.test({
  name: "webgpu cumulative ops scan inclusively, forwards and in reverse",
  ignore,
  fn: async () => {
    const r = rng(3);
    const cases: [number[], number][] = [[[17], 0], [[3, 17], 1], [[5, 4, 3], 1], [[257, 3], 0], [[
      3,
      0,
    ], 1]];
    const ops: [string, Mono][] = [["cumsum", "sum"], ["cumprod", "prod"], ["cummax", "max"], [
      "cummin",
      "min",
    ]];
    for (const [shape, axis] of cases) {
      for (const dtype of ["f32", "i32"] as DType[]) {
        for (const [name, m] of ops) {
          for (const reverse of [false, true]) {
            const x = m === "prod"
              ? (dtype === "f32"
                ? randArray(r, dtype, numel(shape), 0.9, 1.1)
                : randArray(r, dtype, numel(shape), -2, 3))
              : randArray(r, dtype, numel(shape), -20, 20);
            const [y] = await run(name, [op(x, shape, dtype)], { axis, reverse }, [{
              shape,
              dtype,
            }]);
            const want = new Array(x.length).fill(0);
            const L = shape[axis];
            for (let k = 0; k < x.length; k++) {
              const o = unravel(k, shape);
              if (o[axis] !== 0) continue;
              let acc = IDENT[dtype][m];
              for (let j = 0; j < L; j++) {
                o[axis] = reverse ? L - 1 - j : j;
                const at = ravel(o, shape);
                acc = combine(m, dtype, acc, x[at]);
                if (dtype === "f32") acc = f32(acc);
                want[at] = acc;
              }
            }
            const msg = `${name} ${dtype}[${shape}] axis ${axis} reverse ${reverse}`;
            if (dtype === "f32") assertAllClose(y, want, { rtol: 1e-5, atol: 1e-5, msg });
            else assertEquals(Array.from(y), want, msg);
          }
        }
      }
    }
  },
});

Deno.test({
  name: "webgpu reduce_window pools with strides, padding and dilations",
  ignore,
  fn: async () => {
    const r = rng(4);
    interface Case {
      shape: number[];
      win: number[];
      strides: number[];
      pad: [number, number][];
      base: number[];
      wdil: number[];
    }
    const cases: Case[] = [
      { shape: [17], win: [3], strides: [2], pad: [[1, 1]], base: [1], wdil: [1] },
      {
        shape: [2, 3, 9, 7],
        win: [1, 1, 3, 3],
        strides: [1, 1, 2, 2],
        pad: [[0, 0], [0, 0], [1, 1], [0, 1]],
        base: [1, 1, 1, 1],
        wdil: [1, 1, 1, 1],
      },
      {
        shape: [5, 6],
        win: [2, 3],
        strides: [1, 2],
        pad: [[0, 1], [2, 0]],
        base: [2, 1],
        wdil: [1, 2],
      },
    ];
    for (const c of cases) {
      const outShape = c.shape.map((n, d) => {
        const din = (n - 1) * c.base[d] + 1, dw = (c.win[d] - 1) * c.wdil[d] + 1;
        return Math.floor((din + c.pad[d][0] + c.pad[d][1] - dw) / c.strides[d]) + 1;
      });
      for (const m of ["sum", "max", "min"] as const) {
        const x = randArray(r, "f32", numel(c.shape));
        const [y] = await run("reduce_window", [op(x, c.shape, "f32")], {
          op: m,
          windowDimensions: c.win,
          windowStrides: c.strides,
          padding: c.pad,
          baseDilation: c.base,
          windowDilation: c.wdil,
        }, [{ shape: outShape, dtype: "f32" }]);
        const want = Array.from({ length: numel(outShape) }, (_, k) => {
          const o = unravel(k, outShape);
          let acc = IDENT.f32[m];
          for (let w = 0; w < numel(c.win); w++) {
            const wi = unravel(w, c.win);
            const src: number[] = [];
            let ok = true;
            for (let d = 0; d < c.shape.length; d++) {
              const q = o[d] * c.strides[d] + wi[d] * c.wdil[d] - c.pad[d][0];
              if (q < 0 || q % c.base[d] !== 0 || q / c.base[d] >= c.shape[d]) ok = false;
              src.push(q / c.base[d]);
            }
            if (ok) acc = combine(m, "f32", acc, x[ravel(src, c.shape)]);
          }
          return acc;
        });
        assertAllClose(y, want, { rtol: 1e-5, atol: 1e-5, msg: `reduce_window ${m} [${c.shape}]` });
      }
    }
  },
});

/** The stable sort permutation of one line (NaNs last; descending keeps ties in order). */
function refOrder(v: number[], descending: boolean): number[] {
  const idx = v.map((_, k) => k);
  const key = (a: number) => (Number.isNaN(a) ? Infinity : descending ? -a : a);
  return idx.sort((a, b) => {
    const na = Number.isNaN(v[a]), nb = Number.isNaN(v[b]);
    if (na !== nb) return na ? 1 : -1;
    const d = key(v[a]) - key(v[b]);
    return d !== 0 && !Number.isNaN(d) ? d : a - b;
  });
}

Deno.test({
  name: "webgpu sort is stable, puts NaNs last and permutes the other operands alike",
  ignore,
  fn: async () => {
    const r = rng(5);
    const cases: [number[], number][] = [[[17], 0], [[3, 17], 1], [[17, 3], 0], [[2, 5000], 1], [[
      1,
    ], 0], [[4, 1024], 1]];
    for (const [shape, axis] of cases) {
      for (const dtype of ["f32", "i32", "u32"] as DType[]) {
        for (const descending of [false, true]) {
          const keys = randArray(r, dtype, numel(shape), dtype === "u32" ? 0 : -20, 20);
          if (dtype === "f32" && keys.length > 10) {
            keys[3] = NaN;
            keys[7] = -0;
            keys[8] = 0;
            keys[9] = -Infinity;
          }
          const payload = Int32Array.from({ length: keys.length }, (_, k) => k);
          const outs = [{ shape, dtype }, { shape, dtype: "i32" as DType }];
          const [sk, sp] = await run("sort", [op(keys, shape, dtype), op(payload, shape, "i32")], {
            axis,
            numKeys: 1,
            descending,
          }, outs);
          const wantK = new Array(keys.length), wantP = new Array(keys.length);
          for (let k = 0; k < keys.length; k++) {
            const o = unravel(k, shape);
            if (o[axis] !== 0) continue;
            const at = (j: number) => ravel(o.map((v, d) => (d === axis ? j : v)), shape);
            const line = Array.from({ length: shape[axis] }, (_, j) => keys[at(j)]);
            refOrder(line, descending).forEach((src, j) => {
              wantK[at(j)] = line[src];
              wantP[at(j)] = payload[at(src)];
            });
          }
          const msg = `sort ${dtype}[${shape}] axis ${axis} desc ${descending}`;
          assertEquals(Array.from(sk), wantK, msg);
          assertEquals(Array.from(sp), wantP, msg);
        }
      }
    }
  },
});
