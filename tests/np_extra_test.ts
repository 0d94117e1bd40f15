// Tests of the np functions in core/numpy_extra.ts: take, takeAlongAxis, sort, argsort, topK,
// the cumulative ops, pad, split, tile, repeat, einsum, and the index/at Tensor methods.
import { numGrad } from "./backend.ts";
import { prod as size } from "../core/aval.ts";
import { distinctTensor as tensor, flat } from "./helpers.ts";
import { assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, makeJaxpr, np, type Tensor, vmap } from "../mod.ts";

// ---------------------------------------------------------------- helpers

const H = 2 ** -10;
/** grad(f)(x) against central differences, with f evaluated in float64. */
async function checkGrad(f: (x: Tensor) => Tensor, x: Tensor, tol = 2e-3): Promise<void> {
  assertAllClose(await flat(grad(f)(x)), await numGrad(f, x, H), { rtol: tol, atol: tol });
}
function weighted(g: (x: Tensor) => Tensor): (x: Tensor) => Tensor {
  return (x) => {
    const y = g(x);
    return np.sum(np.multiply(y, tensor([...y.shape], 99)));
  };
}
/** vmap(f) over axis 0 of every argument equals stacking f over the examples. */
async function checkVmap(f: (...xs: Tensor[]) => Tensor, ...args: Tensor[]): Promise<void> {
  const got = vmap(f)(...args);
  const loop = Array.from(
    { length: args[0].shape[0] },
    (_, b) => f(...args.map((a) => a.index(b))),
  );
  assertAllClose(await got.toArray(), await np.stack(loop).toArray());
}

// ---------------------------------------------------------------- take

Deno.test("take follows NumPy for axes, negative indices and the flattened array", async () => {
  const x = np.array([[1, 2, 3], [4, 5, 6]]);
  assertEquals(await np.take(x, [2, -3], { axis: 1 }).toArray(), [[3, 1], [6, 4]]);
  assertEquals(await np.take(x, [[0], [-1]], { axis: 0 }).toArray(), [[[1, 2, 3]], [[4, 5, 6]]]);
  assertEquals(await np.take(x, [5, 0, -1]).toArray(), [6, 1, 6]);
  assertEquals(await np.take(x, 1, { axis: -1 }).toArray(), [2, 5]);
  assertEquals(await x.take(np.array([-1, 0], "i32"), { axis: 1 }).toArray(), [[3, 1], [6, 4]]);
});

Deno.test("take clamps, fills or wraps out-of-range indices by mode", async () => {
  const x = np.array([10, 20, 30]);
  assertEquals(await np.take(x, [-5, 3, 7]).toArray(), [10, 30, 30]);
  assertEquals(await np.take(x, [-5, 1, 7], { mode: "fill" }).toArray(), [NaN, 20, NaN]);
  assertEquals(await np.take(x, [-5, 1, 7], { mode: "fill", fillValue: -1 }).toArray(), [
    -1,
    20,
    -1,
  ]);
  assertEquals(await np.take(x, [-5, 4, 7], { mode: "wrap" }).toArray(), [20, 20, 20]);
  assertEquals(await np.take(np.array([1, 2], "i32"), [2], { mode: "fill" }).toArray(), [
    -2147483648,
  ]);
});

Deno.test("take rejects float indices and bad axes", () => {
  const x = np.zeros([2, 3]);
  assertThrows(() => np.take(x, [0.5]), TypeError, "take: indices must be integers, got 0.5");
  assertThrows(
    () => np.take(x, np.array([1])),
    TypeError,
    "take: indices must be integers, got f32[1]",
  );
  assertThrows(
    () => np.take(x, [0], { axis: 2 }),
    RangeError,
    "take: axis 2 is out of bounds for f32[2,3]",
  );
  assertThrows(
    () => np.take(np.array(1), [0], { axis: 0 }),
    RangeError,
    "take: axis 0 is out of bounds for f32[]",
  );
});

Deno.test("take is differentiable and vmaps over both the array and the indices", async () => {
  await checkGrad(weighted((x) => np.take(x, [4, -1, 0, 4], { axis: 1 })), tensor([3, 5]));
  const xs = tensor([4, 3, 5]), idx = np.array([[0, -1], [2, 2], [1, 0], [-2, 4]], "i32");
  await checkVmap((a, i) => np.take(a, i, { axis: 1 }), xs, idx);
  assertAllClose(
    await jit((a: Tensor, i: Tensor) => np.take(a, i, { axis: 1 }))(xs, idx).toArray(),
    await np.take(xs, idx, { axis: 1 }).toArray(),
  );
});

// ---------------------------------------------------------------- takeAlongAxis

Deno.test("takeAlongAxis reorders lines with argsort and broadcasts the other axes", async () => {
  const x = np.array([[10, 30, 20], [60, 40, 50]]);
  assertEquals(await np.takeAlongAxis(x, np.argsort(x, { axis: 1 }), 1).toArray(), [[10, 20, 30], [
    40,
    50,
    60,
  ]]);
  assertEquals(await np.takeAlongAxis(x, [[-1], [0]], -1).toArray(), [[20], [60]]);
  // indices of shape [1, 2] broadcast over the rows
  assertEquals(await np.takeAlongAxis(x, [[2, 0]], 1).toArray(), [[20, 10], [50, 60]]);
  assertEquals(await np.takeAlongAxis(x, [[1, 0, 1]], 0).toArray(), [[60, 30, 50]]);
  assertEquals(await np.takeAlongAxis(x, [5, 0], null).toArray(), [50, 10]);
  assertThrows(
    () => np.takeAlongAxis(x, [1, 0], 1),
    TypeError,
    "Cannot takeAlongAxis f32[2,3] with indices i32[2]",
  );
});

Deno.test("takeAlongAxis is differentiable, vmappable and jittable", async () => {
  const idx = np.array([[2, 2, 0, 1], [1, 0, 0, 3], [3, 3, 3, 3]], "i32");
  await checkGrad(weighted((x) => np.takeAlongAxis(x, idx, 1)), tensor([3, 4]));
  await checkVmap((a, i) => np.takeAlongAxis(a, i, 0), tensor([3, 4]), idx);
  const f = (a: Tensor) => np.takeAlongAxis(a, idx, -1);
  assertAllClose(await jit(f)(tensor([3, 4])).toArray(), await f(tensor([3, 4])).toArray());
});

// ---------------------------------------------------------------- sort, argsort, topK

Deno.test("sort and argsort match Array.prototype.sort along any axis of odd shapes", async () => {
  const x = tensor([3, 17]), xs = await flat(x);
  const rows = await flat(np.sort(x));
  const arg = await flat(np.argsort(x, { axis: -1 }));
  for (let r = 0; r < 3; r++) {
    const line = xs.slice(r * 17, r * 17 + 17);
    const order = line.map((_, i) => i).sort((a, b) => line[a] - line[b]);
    assertEquals(arg.slice(r * 17, r * 17 + 17), order);
    assertAllClose(rows.slice(r * 17, r * 17 + 17), order.map((i) => line[i]));
  }
  assertAllClose(
    await flat(np.sort(x, { axis: null, descending: true })),
    [...xs].sort((a, b) => b - a),
  );
  const cols = await np.sort(np.array([[3, 1], [1, 2], [2, 0]]), { axis: 0 }).toArray();
  assertEquals(cols, [[1, 0], [2, 1], [3, 2]]);
  assertEquals(np.argsort(x).dtype, "i32");
});

Deno.test("argsort is stable in both directions and keeps NaNs last", async () => {
  const x = np.array([2, NaN, 1, 2, 1]);
  assertEquals(await np.argsort(x).toArray(), [2, 4, 0, 3, 1]);
  assertEquals(await np.argsort(x, { descending: true, stable: true }).toArray(), [0, 3, 2, 4, 1]);
  assertEquals(await np.sort(np.array([true, false, true])).toArray(), [false, true, true]);
});

Deno.test("topK returns the k largest with ties broken by the lower index", async () => {
  const [v, i] = np.topK(np.array([[1, 5, 3, 5], [0, -1, 7, 2]]), 3);
  assertEquals(await v.toArray(), [[5, 5, 3], [7, 2, 0]]);
  assertEquals(await i.toArray(), [[1, 3, 2], [2, 3, 0]]);
  assertEquals(np.topK(np.zeros([4]), 0)[0].shape, [0]);
  assertThrows(
    () => np.topK(np.zeros([4]), 5),
    RangeError,
    "topK: k = 5 is out of range for f32[4]",
  );
  assertThrows(() => np.topK(np.array(1), 1), RangeError, "topK: needs an array of rank ≥ 1");
  assertThrows(
    () => np.sort(np.zeros([2]), { axis: 1 }),
    RangeError,
    "sort: axis 1 is out of bounds for f32[2]",
  );
});

Deno.test("sort and topK are differentiable and vmappable", async () => {
  await checkGrad(weighted((x) => np.sort(x, { axis: 0 })), tensor([5, 3]));
  await checkGrad(weighted((x) => np.topK(x, 2)[0]), tensor([3, 5]));
  await checkVmap((a) => np.topK(a, 2)[1], tensor([3, 5]));
  await checkVmap((a) => np.sort(a, { descending: true }), tensor([4, 6]));
});

// ---------------------------------------------------------------- cumulative

Deno.test("cumsum, cumprod, cummax and cummin scan an axis or the flattened array", async () => {
  const x = np.array([[1, 2, 3], [4, 5, 6]]);
  assertEquals(await np.cumsum(x, { axis: 1 }).toArray(), [[1, 3, 6], [4, 9, 15]]);
  assertEquals(await np.cumsum(x, { axis: -2 }).toArray(), [[1, 2, 3], [5, 7, 9]]);
  assertEquals(await np.cumsum(x).toArray(), [1, 3, 6, 10, 15, 21]);
  assertEquals(await np.cumprod(x, { axis: 0 }).toArray(), [[1, 2, 3], [4, 10, 18]]);
  assertEquals(await np.cummax(np.array([1, 3, 2, 5])).toArray(), [1, 3, 3, 5]);
  assertEquals(await np.cummin(np.array([[3, 1], [2, 4]]), { axis: 0 }).toArray(), [[3, 1], [
    2,
    1,
  ]]);
  const b = np.cumsum(np.array([true, true, false, true]));
  assertEquals([b.dtype, await b.toArray()], ["i32", [1, 2, 2, 3]]);
  assertThrows(
    () => np.cumsum(x, { axis: 2 }),
    RangeError,
    "cumsum: axis 2 is out of bounds for f32[2,3]",
  );
});

Deno.test("the np cumulative ops are differentiable", async () => {
  await checkGrad(weighted((x) => np.cumsum(x, { axis: 0 })), tensor([17, 1]));
  await checkGrad(weighted((x) => np.cumprod(x)), tensor([2, 3]));
});

// ---------------------------------------------------------------- pad

Deno.test("pad in every mode matches NumPy, also for pads wider than the axis", async () => {
  const x = np.array([1, 2, 3]);
  const pw: [number, number] = [4, 5];
  assertEquals(await np.pad(x, [2, 1]).toArray(), [0, 0, 1, 2, 3, 0]);
  assertEquals(await np.pad(x, 1, { constantValues: 9 }).toArray(), [9, 1, 2, 3, 9]);
  assertEquals(await np.pad(x, pw, { mode: "edge" }).toArray(), [
    1,
    1,
    1,
    1,
    1,
    2,
    3,
    3,
    3,
    3,
    3,
    3,
  ]);
  assertEquals(await np.pad(x, pw, { mode: "reflect" }).toArray(), [
    1,
    2,
    3,
    2,
    1,
    2,
    3,
    2,
    1,
    2,
    3,
    2,
  ]);
  assertEquals(await np.pad(x, pw, { mode: "symmetric" }).toArray(), [
    3,
    3,
    2,
    1,
    1,
    2,
    3,
    3,
    2,
    1,
    1,
    2,
  ]);
  assertEquals(await np.pad(x, pw, { mode: "wrap" }).toArray(), [
    3,
    1,
    2,
    3,
    1,
    2,
    3,
    1,
    2,
    3,
    1,
    2,
  ]);
  assertEquals(await np.pad(np.array([7]), 2, { mode: "reflect" }).toArray(), [7, 7, 7, 7, 7]);
});

Deno.test("pad takes one pair per axis and pads 2-D arrays axis by axis", async () => {
  const x = np.array([[1, 2], [3, 4]]);
  assertEquals(await np.pad(x, [[1, 0], [0, 2]], { mode: "edge" }).toArray(), [[1, 2, 2, 2], [
    1,
    2,
    2,
    2,
  ], [3, 4, 4, 4]]);
  assertEquals(await np.pad(x, [[0, 1], [1, 0]], { mode: "reflect" }).toArray(), [[2, 1, 2], [
    4,
    3,
    4,
  ], [2, 1, 2]]);
  assertEquals(
    await np.pad(np.array([1, 2], "i32"), 1, { constantValues: np.array(-1, "i32") }).toArray(),
    [-1, 1, 2, -1],
  );
  const w = [[4, 3, 4, 3], [2, 1, 2, 1], [4, 3, 4, 3], [2, 1, 2, 1]];
  assertEquals(await np.pad(x, [[1, 1]], { mode: "wrap" }).toArray(), w);
});

Deno.test("pad rejects negative widths, mismatched pairs and non-constant pads of empty axes", () => {
  const x = np.zeros([2, 3]);
  assertThrows(() => np.pad(x, -1), RangeError, "pad: widths must be non-negative integers");
  assertThrows(
    () => np.pad(x, [[1, 1], [1, 1], [1, 1]]),
    TypeError,
    "pad: padWidth has 3 pairs but the operand f32[2,3] has 2 axes",
  );
  assertThrows(
    () => np.pad(np.zeros([0]), 1, { mode: "edge" }),
    RangeError,
    'cannot pad the empty axis 0 of f32[0] in mode "edge"',
  );
});

Deno.test("pad is differentiable in every mode and vmappable", async () => {
  for (const mode of ["constant", "edge", "reflect", "symmetric", "wrap"] as const) {
    await checkGrad(weighted((x) => np.pad(x, [[2, 3], [1, 0]], { mode })), tensor([3, 2]));
  }
  await checkVmap((a) => np.pad(a, [3, 1], { mode: "reflect" }), tensor([2, 3]));
});

// ---------------------------------------------------------------- split, tile, repeat

Deno.test("split makes equal sections or cuts at indices", async () => {
  const parts = np.split(np.arange(6), 3);
  assertEquals(await Promise.all(parts.map((p) => p.toArray())), [[0, 1], [2, 3], [4, 5]]);
  const cut = np.split(np.arange(5), [2, -1, 9]);
  assertEquals(await Promise.all(cut.map((p) => p.toArray())), [[0, 1], [2, 3], [4], []]);
  const cols = np.split(np.array([[1, 2, 3], [4, 5, 6]]), [1], 1);
  assertEquals(await Promise.all(cols.map((p) => p.toArray())), [[[1], [4]], [[2, 3], [5, 6]]]);
  assertThrows(
    () => np.split(np.arange(5), 2),
    TypeError,
    "split: an axis of size 5 of i32[5] does not divide into 2 equal sections",
  );
});

Deno.test("tile repeats the whole array and repeat repeats each element", async () => {
  assertEquals(await np.tile(np.array([1, 2]), 2).toArray(), [1, 2, 1, 2]);
  assertEquals(await np.tile(np.array([1, 2]), [2, 2]).toArray(), [[1, 2, 1, 2], [1, 2, 1, 2]]);
  assertEquals(await np.tile(np.array([[1], [2]]), 3).toArray(), [[1, 1, 1], [2, 2, 2]]);
  assertEquals(await np.repeat(np.array([[1, 2], [3, 4]]), 2).toArray(), [1, 1, 2, 2, 3, 3, 4, 4]);
  assertEquals(await np.repeat(np.array([[1, 2], [3, 4]]), 2, { axis: 0 }).toArray(), [
    [1, 2],
    [1, 2],
    [3, 4],
    [3, 4],
  ]);
  assertEquals(await np.repeat(np.array([1, 2, 3]), [0, 2, 1]).toArray(), [2, 2, 3]);
  assertThrows(
    () => np.repeat(np.array([1, 2]), [1, 2, 3]),
    RangeError,
    "repeat: expected 2 non-negative integer repeats",
  );
  await checkGrad(weighted((x) => np.tile(np.repeat(x, 2, { axis: 1 }), [2, 1])), tensor([3, 1]));
});

// ---------------------------------------------------------------- einsum

/** Brute-force einsum over explicit letter subscripts. */
function refEinsum(spec: string, ops: { data: number[]; shape: number[] }[]): number[] {
  const [lhs, out] = spec.split("->");
  const terms = lhs.split(",");
  const sizes = new Map<string, number>();
  terms.forEach((t, i) =>
    [...t].forEach((l, k) => sizes.set(l, Math.max(sizes.get(l) ?? 1, ops[i].shape[k])))
  );
  const letters = [...sizes.keys()];
  const res = new Array(size([...out].map((l) => sizes.get(l)!))).fill(0);
  const val = new Map<string, number>();
  const at = (i: number) => {
    let off = 0;
    [...terms[i]].forEach((
      l,
      k,
    ) => (off = off * ops[i].shape[k] + (ops[i].shape[k] === 1 ? 0 : val.get(l)!)));
    return ops[i].data[off];
  };
  const rec = (d: number): void => {
    if (d === letters.length) {
      let p = 1;
      for (let i = 0; i < ops.length; i++) p *= at(i);
      let o = 0;
      for (const l of out) o = o * sizes.get(l)! + val.get(l)!;
      res[o] += p;
      return;
    }
    for (let v = 0; v < sizes.get(letters[d])!; v++) {
      val.set(letters[d], v);
      rec(d + 1);
    }
  };
  rec(0);
  return res;
}

Deno.test("einsum matches a brute-force reference for products, traces, diagonals and broadcasting", async () => {
  // [subscripts, shapes, equivalent explicit subscripts for the reference]
  const cases: [string, number[][], string][] = [
    ["ij,jk->ik", [[3, 17], [17, 1]], "ij,jk->ik"],
    ["ij,jk", [[2, 3], [3, 4]], "ij,jk->ik"],
    ["ba", [[3, 2]], "ba->ab"],
    ["i,i->", [[17], [17]], "i,i->"],
    ["i,j->ij", [[3], [2]], "i,j->ij"],
    ["ii->i", [[3, 3]], "ii->i"],
    ["ii", [[3, 3]], "ii->"],
    ["iij->j", [[2, 2, 3]], "iij->j"],
    ["bij,bjk->bik", [[2, 3, 4], [2, 4, 1]], "bij,bjk->bik"],
    ["ijk,jl,lk->i", [[2, 3, 4], [3, 5], [5, 4]], "ijk,jl,lk->i"],
    ["ij,ij->ij", [[3, 1], [3, 4]], "ij,ij->ij"],
    ["...ij,...jk->...ik", [[2, 1, 3, 4], [5, 4, 2]], "abij,bjk->abik"],
    ["i...->...", [[3, 2, 2]], "iab->ab"],
    ["...i", [[2, 3]], "ai->ai"],
    ["i j , j -> i", [[2, 3], [3]], "ij,j->i"],
  ];
  for (const [sub, shapes, ref] of cases) {
    const ops = shapes.map((s, i) => tensor(s, i + 3));
    const got = np.einsum(sub, ...ops);
    const want = refEinsum(
      ref,
      await Promise.all(ops.map(async (o) => ({ data: await flat(o), shape: [...o.shape] }))),
    );
    assertAllClose(await flat(got), want, { rtol: 1e-5, atol: 1e-5, msg: sub });
  }
});

Deno.test("einsum of a matrix product compiles to a single dot_general", () => {
  const j = makeJaxpr((a: Tensor, b: Tensor) => np.einsum("ij,jk->ik", a, b))(
    np.zeros([2, 3]),
    np.zeros([3, 4]),
  );
  assertEquals(j.jaxpr.eqns.map((e) => e.prim.name), ["dot_general"]);
  const b = makeJaxpr((a: Tensor, c: Tensor) => np.einsum("bij,bjk->bik", a, c))(
    np.zeros([5, 2, 3]),
    np.zeros([5, 3, 4]),
  );
  assertEquals(b.jaxpr.eqns.map((e) => e.prim.name), ["dot_general"]);
});

Deno.test("einsum rejects malformed subscripts and mismatched shapes", () => {
  const a = np.zeros([2, 3]);
  assertThrows(() => np.einsum("ij,jk->ik", a), TypeError, "2 input terms but 1 operands");
  assertThrows(
    () => np.einsum("ij,jk->ik", a, np.zeros([4, 5])),
    TypeError,
    `Cannot einsum f32[2,3] and f32[4,5] with "ij,jk->ik": index 'j' has sizes 3 and 4`,
  );
  assertThrows(() => np.einsum("ij->k", a), TypeError, "the output index 'k' appears in no input");
  assertThrows(
    () => np.einsum("ijk", a),
    TypeError,
    `the term "ijk" has 3 indices but operand 0 is f32[2,3]`,
  );
  assertThrows(() => np.einsum("i1", a), TypeError, "invalid character '1'");
  assertThrows(() => np.einsum("ij->ii", a), TypeError, "the output index 'i' is repeated");
});

Deno.test("einsum is differentiable and vmappable", async () => {
  const b = tensor([3, 4], 5);
  await checkGrad(weighted((a) => np.einsum("ij,jk->ki", a, b)), tensor([2, 3]));
  await checkGrad((a) => np.einsum("ii", a), tensor([3, 3]));
  await checkVmap((a, c) => np.einsum("ij,jk->ik", a, c), tensor([4, 2, 3]), tensor([4, 3, 2], 7));
});

// ---------------------------------------------------------------- index and at

Deno.test("index takes integers, nulls and NumPy slices on the leading axes", async () => {
  const x = np.array([[1, 2, 3], [4, 5, 6]]);
  assertEquals(await x.index(1).toArray(), [4, 5, 6]);
  assertEquals(await x.index(-1, -1).item(), 6);
  assertEquals(await x.index(null, 1).toArray(), [2, 5]);
  assertEquals(await x.index([null, null, -1], [1, null]).toArray(), [[5, 6], [2, 3]]);
  assertEquals(await x.index(0, [null, null, -2]).toArray(), [3, 1]);
  assertEquals(await x.index([5, 9]).toArray(), []);
  assertThrows(() => x.index(2), RangeError, "index 2 is out of bounds for axis 0 with size 2");
  assertThrows(() => x.index(0, 0, 0), RangeError, "index: too many indices for f32[2,3]: 3 given");
  await checkGrad(weighted((a) => a.index([1, null, 2], -2)), tensor([4, 3]));
});

Deno.test("at sets, adds and gets along the first axis without mutating", async () => {
  const x = np.zeros([3, 2]);
  assertEquals(await x.at(1).set(5).toArray(), [[0, 0], [5, 5], [0, 0]]);
  assertEquals(await x.at(-1).set([1, 2]).toArray(), [[0, 0], [0, 0], [1, 2]]);
  assertEquals(await x.at([0, 0, 7]).add(1).toArray(), [[2, 2], [0, 0], [0, 0]]);
  assertEquals(await x.at(np.array([2, -3], "i32")).add([[1, 2], [3, 4]]).toArray(), [[3, 4], [
    0,
    0,
  ], [1, 2]]);
  assertEquals(await np.array([4, 5, 6]).at([2, -3]).get().toArray(), [6, 4]);
  assertEquals(await np.array([1, 2], "i32").at(0).set(2.7).toArray(), [2, 2]);
  assertEquals(await x.toArray(), [[0, 0], [0, 0], [0, 0]]);
  assertThrows(() => x.at(0).set([1, 2, 3]), TypeError);
  assertThrows(() => np.array(1).at(0), TypeError, "at: cannot index the 0-d array f32[]");
});

Deno.test("at updates are differentiable, vmappable and jittable", async () => {
  const u = tensor([2], 4);
  await checkGrad(weighted((x) => x.at([2, 0]).set(u)), tensor([4]));
  await checkGrad(weighted((v) => np.zeros([3]).at([1, 1]).add(v)), u);
  await checkGrad(weighted((v) => np.ones([3]).at([2, 2]).set(v)), u);
  const xs = tensor([3, 4]), is = np.array([0, 3, -1], "i32"), vs = tensor([3], 6);
  const f = (x: Tensor, i: Tensor, v: Tensor) => x.at(i).set(v);
  await checkVmap(f, xs, is, vs);
  await checkVmap((x: Tensor, i: Tensor, v: Tensor) => x.at(i).add(v), xs, is, vs);
  assertAllClose(
    await jit(f)(xs.index(0), is, vs).toArray(),
    await f(xs.index(0), is, vs).toArray(),
  );
});
