// Tests of the gather, scatter, sort and cumulative primitives (core/prims/indexing.ts,
// sort.ts, cumulative.ts): values against plain-JS references, gradients against central
// differences, vmap against a loop, jit against eager, and the error messages.
import { numGrad } from "./backend.ts";
import { prod as size } from "../core/aval.ts";
import { distinctTensor as tensor, flat } from "./helpers.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, jvp, np, type Tensor, vjp, vmap } from "../mod.ts";
import { gather, scatter, takeAlongAxis } from "../core/prims/indexing.ts";
import { sort } from "../core/prims/sort.ts";
import { cummax, cummin, cumprod, cumsum } from "../core/prims/cumulative.ts";

// ---------------------------------------------------------------- helpers

/** An i32 tensor from JS integers (a flat list with `shape`, or nested lists). */
const i32 = (x: number[] | number[][], shape?: number[]): Tensor =>
  shape ? np.array(new Int32Array(x as number[]), { shape }) : np.array(x, "i32");

const H = 2 ** -10;
/**
 * Checks grad(f)(x) against central differences (f(x + h e_i) − f(x − h e_i)) / 2h, with f
 * evaluated in float64 (the reference backend's test mode) so that only the gradient is f32.
 */
async function checkGrad(f: (x: Tensor) => Tensor, x: Tensor, tol = 2e-3): Promise<void> {
  assertAllClose(await flat(grad(f)(x)), await numGrad(f, x, H), { rtol: tol, atol: tol });
}
/** A fixed weighting so that f(x) = Σ w·g(x) is a scalar with a generic gradient. */
function weighted(g: (x: Tensor) => Tensor): (x: Tensor) => Tensor {
  return (x) => {
    const y = g(x);
    return np.sum(np.multiply(y, tensor([...y.shape], 99)));
  };
}
/** vmap(f) over axis `axes` equals stacking f over the examples. */
async function checkVmap(
  f: (...xs: Tensor[]) => Tensor,
  args: Tensor[],
  axes: (number | null)[],
): Promise<void> {
  const n = args[axes.findIndex((a) => a !== null)].shape[axes.find((a) => a !== null)!];
  const got = vmap(f, { inAxes: axes })(...args);
  const loop = Array.from({ length: n }, (_, b) =>
    f(...args.map((a, i) => {
      const ax = axes[i];
      return ax === null ? a : np.squeeze(
        np.slice(
          a,
          a.shape.map((_, k) => (k === ax ? b : 0)),
          a.shape.map((d, k) => (k === ax ? b + 1 : d)),
        ),
        ax,
      );
    })));
  assertAllClose(await got.toArray(), await np.stack(loop).toArray());
}
async function checkJit(f: (...xs: Tensor[]) => Tensor, args: Tensor[]): Promise<void> {
  assertAllClose(await jit(f)(...args).toArray(), await f(...args).toArray());
}

/** Plain-JS take along an axis with clamped indices. */
function refTake(
  x: number[],
  shape: number[],
  idx: number[],
  idxShape: number[],
  axis: number,
): number[] {
  const P = size(shape.slice(0, axis)), A = shape[axis], Q = size(shape.slice(axis + 1));
  const out: number[] = [];
  void idxShape;
  for (let p = 0; p < P; p++) {
    for (const k0 of idx) {
      const k = Math.min(Math.max(k0, 0), A - 1);
      for (let q = 0; q < Q; q++) out.push(x[(p * A + k) * Q + q]);
    }
  }
  return out;
}
/** Plain-JS scatter along an axis (out-of-range dropped). */
function refScatter(
  x: number[],
  shape: number[],
  idx: number[],
  u: number[],
  axis: number,
  mode: "set" | "add",
  firstWins = false,
): number[] {
  const P = size(shape.slice(0, axis)), A = shape[axis], Q = size(shape.slice(axis + 1));
  const out = [...x];
  const order = idx.map((_, j) => j);
  if (firstWins) order.reverse();
  for (let p = 0; p < P; p++) {
    for (const j of order) {
      const k = idx[j];
      if (k < 0 || k >= A) continue;
      for (let q = 0; q < Q; q++) {
        const d = (p * A + k) * Q + q, s = (p * idx.length + j) * Q + q;
        out[d] = mode === "set" ? u[s] : out[d] + u[s];
      }
    }
  }
  return out;
}
/** Plain-JS inclusive scan along an axis. */
function refScan(
  x: number[],
  shape: number[],
  axis: number,
  f: (a: number, b: number) => number,
  reverse = false,
): number[] {
  const P = size(shape.slice(0, axis)), L = shape[axis], Q = size(shape.slice(axis + 1));
  const out = [...x];
  for (let p = 0; p < P; p++) {
    for (let q = 0; q < Q; q++) {
      let acc = 0;
      for (let s = 0; s < L; s++) {
        const k = (p * L + (reverse ? L - 1 - s : s)) * Q + q;
        acc = s === 0 ? x[k] : f(acc, x[k]);
        out[k] = acc;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- gather

Deno.test("gather matches a plain-JS take for odd shapes, every axis and clamped indices", async () => {
  const shape = [3, 1, 17];
  const x = tensor(shape), xs = await flat(x);
  const cases: [number[], number[]][] = [[[0], [1]], [[2, -4, 40, 5, 16, 0], [2, 3]], [[7], []]];
  for (let axis = 0; axis < 3; axis++) {
    for (const [idx, ishape] of cases) {
      const got = gather(x, i32(idx, ishape), axis);
      assertEquals(got.shape, [...shape.slice(0, axis), ...ishape, ...shape.slice(axis + 1)]);
      assertAllClose(await flat(got), refTake(xs, shape, idx, ishape, axis));
    }
  }
});

Deno.test("gather from an empty axis gives zeros and integer operands gather exactly", async () => {
  const e = gather(np.zeros([2, 0]), i32([0, 1]), 1);
  assertEquals(await e.toArray(), [[0, 0], [0, 0]]);
  const xi = np.array([[5, 6], [7, 8]], "i32");
  assertEquals(await gather(xi, i32([1, 1, 0]), 0).toArray(), [[7, 8], [7, 8], [5, 6]]);
});

Deno.test("gather rejects non-i32 indices and bad axes with messages naming the operands", () => {
  const x = np.zeros([3, 4]);
  assertThrows(
    () => gather(x, np.array([1]), 0),
    TypeError,
    "Cannot gather f32[3,4] and f32[1] along axis 0: indices must be i32",
  );
  assertThrows(
    () => gather(x, i32([1]), 2),
    RangeError,
    "gather: axis 2 is out of bounds for f32[3,4]",
  );
});

Deno.test("the gradient of gather adds up the cotangents of repeated indices", async () => {
  const idx = i32([2, 0, 2, 2, 16], [5]);
  await checkGrad(weighted((x) => gather(x, idx, 1)), tensor([3, 17]));
  const [, pull] = vjp((x: Tensor) => gather(x, i32([1, 1, 9]), 0), np.array([1, 2, 3]));
  // index 9 clamps to 2, so its cotangent lands there
  assertEquals(await pull(np.array([1, 10, 100]))[0].toArray(), [0, 11, 100]);
});

Deno.test("gather is differentiable twice", async () => {
  const idx = i32([0, 2, 2]);
  const f = (x: Tensor) => np.sum(np.power(gather(x, idx, 0), 3));
  const g2 = grad((x: Tensor) => np.sum(grad(f)(x)));
  // d/dx Σ_j 3 x_{idx_j}² = 6 x · count
  assertAllClose(await g2(np.array([1, 2, 3])).toArray(), [6, 0, 36]);
});

Deno.test("vmap of gather matches a loop whether x, the indices or both are batched", async () => {
  const x = tensor([4, 3, 5]), idx = i32([0, 4, 9, 1, 3, 2, 2, 1, 0, 4, 4, 4], [4, 3]);
  const f = (a: Tensor, i: Tensor) => gather(a, i, 1);
  await checkVmap(f, [x, idx], [0, 0]);
  await checkVmap(f, [x, idx], [1, 1]);
  await checkVmap((a, i) => gather(a, i, 0), [x, i32([1, 0, 2])], [1, null]);
  await checkVmap((a, i) => gather(a, i, 0), [tensor([3, 5]), idx], [null, 0]);
  await checkVmap((a, i) => gather(a, i, 1), [tensor([3, 5]), idx], [null, 1]);
});

Deno.test("jit of gather matches eager", async () => {
  await checkJit((a, i) => gather(a, i, 1), [tensor([2, 7, 3]), i32([6, 0, -1, 3])]);
});

// ---------------------------------------------------------------- scatter

Deno.test("scatter matches a plain-JS reference, dropping out-of-range indices", async () => {
  const shape = [3, 17];
  const x = tensor(shape), xs = await flat(x);
  for (const axis of [0, 1]) {
    const idx = axis === 0 ? [2, -1, 0, 3, 2] : [16, 0, 16, 40, -3, 5];
    const ushape = axis === 0 ? [5, 17] : [3, 6];
    const u = tensor(ushape, 7), us = await flat(u);
    assertAllClose(
      await flat(scatter(x, i32(idx), u, axis, "add")),
      refScatter(xs, shape, idx, us, axis, "add"),
    );
    // "set" with a duplicate index: one of the two updates wins, which one is unspecified (as
    // in JAX/XLA on GPUs, where the writes race): each element is the last or the first writer's
    const got = await flat(scatter(x, i32(idx), u, axis, "set"));
    const last = refScatter(xs, shape, idx, us, axis, "set");
    const first = refScatter(xs, shape, idx, us, axis, "set", true);
    got.forEach((g, i) => {
      assert(
        Math.abs(g - last[i]) < 1e-6 || Math.abs(g - first[i]) < 1e-6,
        `element ${i}: ${g} is neither ${last[i]} nor ${first[i]}`,
      );
    });
  }
});

Deno.test("scatter-add accumulates integers and ors booleans", async () => {
  const xi = np.array([1, 2, 3], "i32");
  assertEquals(await scatter(xi, i32([0, 0, 2]), np.array([5, 5, 1], "i32"), 0, "add").toArray(), [
    11,
    2,
    4,
  ]);
  const xb = np.array([false, false, true]);
  assertEquals(await scatter(xb, i32([1, 1]), np.array([true, false]), 0, "add").toArray(), [
    false,
    true,
    true,
  ]);
});

Deno.test("scatter checks the updates' shape and the mode", () => {
  const x = np.zeros([3, 4]);
  assertThrows(
    () => scatter(x, i32([1, 2]), np.zeros([2, 5]), 0, "add"),
    TypeError,
    "Cannot scatter f32[3,4], i32[2] and f32[2,5] along axis 0: updates must be f32[2,4]",
  );
  assertThrows(
    () => scatter(x, i32([1]), np.zeros([1, 4]), 0, "mul" as "add"),
    TypeError,
    'mode must be "set" or "add"',
  );
});

Deno.test("the gradients of scatter-add flow to x and to the in-range updates", async () => {
  const idx = i32([1, 1, 5, 0]);
  const u0 = tensor([4, 3], 5), x0 = tensor([3, 3], 6);
  await checkGrad(weighted((x) => scatter(x, idx, u0, 0, "add")), x0);
  await checkGrad(weighted((u) => scatter(x0, idx, u, 0, "add")), u0);
  const g = grad((u: Tensor) => np.sum(scatter(np.zeros([3]), i32([2, 7]), u, 0, "add")))(
    np.array([1, 1]),
  );
  assertEquals(await g.toArray(), [1, 0]); // index 7 is dropped
});

Deno.test("the gradients of scatter-set send each cotangent to the winning update only", async () => {
  const idx = i32([2, 0, 2]);
  const u0 = tensor([3, 4], 5), x0 = tensor([3, 4], 6);
  await checkGrad(weighted((x) => scatter(x, idx, u0, 0, "set")), x0);
  await checkGrad(weighted((u) => scatter(x0, idx, u, 0, "set")), u0);
  // forward mode agrees with reverse mode: <t, vjp(c)> = <jvp(t), c>
  const f = (x: Tensor, u: Tensor) => scatter(x, idx, u, 0, "set");
  const tx = tensor([3, 4], 11), tu = tensor([3, 4], 12), c = tensor([3, 4], 13);
  const [, dy] = jvp(f, [x0, u0], [tx, tu]);
  const [, pull] = vjp(f, x0, u0);
  const [cx, cu] = pull(c);
  const lhs = await np.add(np.sum(np.multiply(tx, cx)), np.sum(np.multiply(tu, cu))).item();
  const rhs = await np.sum(np.multiply(dy, c)).item();
  assertAllClose(lhs, rhs, { rtol: 1e-5 });
});

Deno.test("vmap of scatter matches a loop for every combination of batched operands", async () => {
  const x = tensor([2, 4, 3]),
    u = tensor([2, 4, 5], 3),
    idx = i32([0, 2, 2, 7, 1, -1, 1, 1, 3, 3], [2, 5]);
  for (const mode of ["set", "add"] as const) {
    const f = (a: Tensor, i: Tensor, v: Tensor) => scatter(a, i, v, 1, mode);
    await checkVmap(f, [x, idx, u], [0, 0, 0]);
    await checkVmap(f, [x, idx.index(0), u], [0, null, 0]);
    await checkVmap(f, [x.index(0), idx, u], [null, 0, 0]);
    await checkVmap(f, [x, idx, u.index(0)], [0, 0, null]);
    await checkVmap(f, [x.index(0), idx.index(1), u], [null, null, 0]);
    await checkVmap(f, [np.moveaxis(x, 0, 2), idx, np.moveaxis(u, 0, 1)], [2, 0, 1]);
  }
});

Deno.test("jit of scatter matches eager", async () => {
  await checkJit((a, i, v) => scatter(a, i, v, 0, "add"), [
    tensor([5, 2]),
    i32([4, 4, 0]),
    tensor([3, 2], 2),
  ]);
});

// ---------------------------------------------------------------- sort

Deno.test("sort is stable, permutes the other operands alike, and puts NaNs last", async () => {
  const x = np.array([3, NaN, 1, 3, -0, 0, 1, NaN, -5]);
  const pos = np.arange(9);
  const [s, p] = sort([x, pos], 0);
  assertEquals(await s.toArray(), [-5, -0, 0, 1, 1, 3, 3, NaN, NaN]);
  assertEquals(await p.toArray(), [8, 4, 5, 2, 6, 0, 3, 1, 7]);
  const [sd, pd] = sort([x, pos], 0, true);
  assertEquals(await sd.toArray(), [3, 3, 1, 1, -0, 0, -5, NaN, NaN]);
  assertEquals(await pd.toArray(), [0, 3, 2, 6, 4, 5, 8, 1, 7]);
});

Deno.test("sort along inner and outer axes of odd shapes matches Array.prototype.sort", async () => {
  const shape = [3, 17, 1];
  const x = tensor(shape), xs = await flat(x);
  const got = await flat(sort([x], 1)[0]);
  for (let r = 0; r < 3; r++) {
    const row = xs.slice(r * 17, r * 17 + 17).sort((a, b) => a - b);
    assertAllClose(got.slice(r * 17, r * 17 + 17), row);
  }
  const col = await flat(sort([x], 0, true)[0]);
  for (let c = 0; c < 17; c++) {
    const want = [xs[c], xs[17 + c], xs[34 + c]].sort((a, b) => b - a);
    assertAllClose([col[c], col[17 + c], col[34 + c]], want);
  }
});

Deno.test("sort rejects operands of different shapes and bad axes", () => {
  assertThrows(
    () => sort([np.zeros([3]), np.zeros([4])], 0),
    TypeError,
    "Cannot sort f32[3] and f32[4]: operands must have equal shapes",
  );
  assertThrows(
    () => sort([np.zeros([3])], 1),
    RangeError,
    "sort: axis 1 is out of bounds for f32[3]",
  );
});

Deno.test("the gradient of sort follows the permutation, for keys and carried operands", async () => {
  await checkGrad(weighted((x) => sort([x], 1)[0]), tensor([3, 5]));
  const keys = tensor([7], 4);
  await checkGrad(weighted((v) => sort([keys, v], 0, true)[1]), tensor([7], 5));
});

Deno.test("vmap and jit of sort match a loop and eager", async () => {
  const x = tensor([4, 6]), y = tensor([4, 6], 2);
  await checkVmap((a, b) => sort([a, b], 0)[1], [x, y], [1, 1]);
  await checkVmap((a, b) => sort([a, b], 0)[1], [x, y.index(0)], [0, null]);
  await checkJit((a) => sort([a], 0, true)[0], [x]);
});

// ---------------------------------------------------------------- cumulative

const scans = [
  ["cumsum", cumsum, (a: number, b: number) => a + b],
  ["cumprod", cumprod, (a: number, b: number) => a * b],
  ["cummax", cummax, Math.max],
  ["cummin", cummin, Math.min],
] as const;

Deno.test("cumulative ops match plain-JS scans along every axis, in both directions", async () => {
  const shape = [3, 1, 17];
  const x = tensor(shape), xs = await flat(x);
  for (const [name, op, f] of scans) {
    for (let axis = 0; axis < 3; axis++) {
      for (const reverse of [false, true]) {
        assertAllClose(await flat(op(x, axis, reverse)), refScan(xs, shape, axis, f, reverse), {
          rtol: 1e-5,
          atol: 1e-5,
          msg: `${name} axis ${axis} reverse ${reverse}`,
        });
      }
    }
  }
});

Deno.test("cummax propagates NaN and integer scans wrap like i32", async () => {
  assertEquals(await cummax(np.array([1, NaN, 3]), 0).toArray(), [1, NaN, NaN]);
  assertEquals(await cummin(np.array([2, 1, NaN, 0]), 0, true).toArray(), [NaN, NaN, NaN, 0]);
  const big = np.array([2147483647, 1, 1], "i32");
  assertEquals(await cumsum(big, 0).toArray(), [2147483647, -2147483648, -2147483647]);
});

Deno.test("cumulative ops reject an out-of-range axis", () => {
  assertThrows(
    () => cumsum(np.zeros([2, 3]), 2),
    RangeError,
    "cumsum: axis 2 is out of bounds for f32[2,3]",
  );
});

Deno.test("the gradients of cumsum, cumprod, cummax and cummin match central differences", async () => {
  for (const [name, op] of scans) {
    for (const reverse of [false, true]) {
      await checkGrad(weighted((x) => op(x, 1, reverse)), tensor([2, 9], name.length));
    }
  }
});

Deno.test("the gradient of cumprod is exact at zeros", async () => {
  const x = np.array([2, 0, 3, 0, 5]);
  await checkGrad(weighted((v) => cumprod(v, 0)), x);
  await checkGrad(weighted((v) => cumprod(v, 0, true)), x);
});

Deno.test("cummax splits the gradient of ties as JAX's associative scan does", async () => {
  // jax.grad(lambda x: lax.cummax(x).sum())(jnp.array([1., 1., 1., 0.])) == [2, 1, 1, 0]
  assertEquals(await grad((x: Tensor) => np.sum(cummax(x, 0)))(np.array([1, 1, 1, 0])).toArray(), [
    2,
    1,
    1,
    0,
  ]);
});

Deno.test("cumprod is differentiable twice", async () => {
  // y = x0 x1 x2 summed with its prefixes: Σ cumprod = x0 + x0 x1 + x0 x1 x2
  const f = (x: Tensor) => np.sum(cumprod(x, 0));
  const hvp = grad((x: Tensor) => np.sum(np.multiply(grad(f)(x), np.array([1, 0, 0]))));
  // ∂/∂x of ∂f/∂x0 = 1 + x1 + x1 x2 → [0, 1 + x2, x1]
  assertAllClose(await hvp(np.array([2, 3, 4])).toArray(), [0, 5, 3]);
});

Deno.test("vmap and jit of the cumulative ops match a loop and eager", async () => {
  for (const [, op] of scans) {
    await checkVmap((a) => op(a, 0, true), [tensor([3, 5])], [1]);
    await checkJit((a) => op(a, 1), [tensor([2, 5])]);
  }
  await checkVmap((a) => np.sum(grad((b: Tensor) => np.sum(cumprod(b, 0)))(a)), [tensor([4, 3])], [
    0,
  ]);
});

// ---------------------------------------------------------------- takeAlongAxis

Deno.test("lax takeAlongAxis gathers per line and is differentiable and batchable", async () => {
  const x = tensor([3, 5]);
  const idx = i32([4, 0, 0, 1, 1, 1, 2, 3, 9], [3, 3]);
  const got = await takeAlongAxis(x, idx, 1).toArray() as number[][];
  const xs = await x.toArray() as number[][];
  const want = [[xs[0][4], xs[0][0], xs[0][0]], [xs[1][1], xs[1][1], xs[1][1]], [
    xs[2][2],
    xs[2][3],
    xs[2][4],
  ]];
  assertAllClose(got, want);
  await checkGrad(weighted((a) => takeAlongAxis(a, idx, 1)), x);
  await checkVmap((a, i) => takeAlongAxis(a, i, 0), [x, idx], [0, 0]);
  assertThrows(
    () => takeAlongAxis(x, i32([1]), 1),
    TypeError,
    "Cannot takeAlongAxis f32[3,5] and i32[1] along axis 1",
  );
});
