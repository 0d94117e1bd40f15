import "./backend.ts";
import { assertAllClose, assertThrows } from "@std/assert";
import { jit, models, np, type Tensor, vmap } from "../mod.ts";
import { checkDirectionalGrad, fdStep, fdTol, withCpu } from "./backend.ts";
import { flat, uniform } from "./helpers.ts";

interface Case {
  n: number;
  a: number[][];
  spd: number[][];
  sym: number[][];
  tall: number[][];
  wide: number[][];
  cholesky: number[][];
  eigvalsSym: number[];
  svdTall: number[];
  svdWide: number[];
  det: number;
  sign: number;
  logabsdet: number;
  inv: number[][];
  absRTall: number[][];
  norms: { fro: number; nuc: number; two: number; one: number; inf: number };
}
const CASES: Case[] = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/linalg/decompositions.json", import.meta.url)),
);
const tol = { rtol: 2e-4, atol: 2e-4 };
const arr = async (t: Tensor) => await t.toArray();

Deno.test("cholesky, eigh, svd, qr, det, slogdet, inv and norm match NumPy", async () => {
  for (const c of CASES) {
    const a = np.array(c.a), spd = np.array(c.spd), sym = np.array(c.sym);
    assertAllClose(await arr(np.linalg.cholesky(spd)), c.cholesky, tol);
    assertAllClose(await arr(np.linalg.eigh(sym).eigenvalues), c.eigvalsSym, tol);
    assertAllClose(await arr(np.linalg.svd(np.array(c.tall)).S), c.svdTall, tol);
    assertAllClose(await arr(np.linalg.svd(np.array(c.wide)).S), c.svdWide, tol);
    assertAllClose(await arr(np.linalg.qr(np.array(c.tall)).R.abs()), c.absRTall, tol);
    assertAllClose(await np.linalg.det(a).item() as number, c.det, { rtol: 1e-3, atol: 1e-4 });
    const sd = np.linalg.slogdet(a);
    assertAllClose(await sd.sign.item() as number, c.sign);
    assertAllClose(await sd.logabsdet.item() as number, c.logabsdet, tol);
    assertAllClose(await arr(np.linalg.inv(a)), c.inv, { rtol: 1e-3, atol: 1e-3 });
    const nm = (ord?: number | "fro" | "nuc") => np.linalg.norm(a, { ord }).item();
    assertAllClose(await nm(), c.norms.fro, tol);
    assertAllClose(await nm("nuc"), c.norms.nuc, tol);
    assertAllClose(await nm(2), c.norms.two, tol);
    assertAllClose(await nm(1), c.norms.one, tol);
    assertAllClose(await nm(Infinity), c.norms.inf, tol);
  }
});

Deno.test("decompositions reconstruct their input and have the stated structure", async () => {
  for (const c of CASES) {
    const n = c.n;
    const spd = np.array(c.spd), sym = np.array(c.sym), eye = np.eye(n);
    const L = np.linalg.cholesky(spd);
    assertAllClose(await arr(L.matmul(L.swapaxes(0, 1))), c.spd, { rtol: 1e-4, atol: 1e-3 });
    assertAllClose(await arr(np.triu(L, 1)), await arr(np.zeros([n, n])));
    const { eigenvalues: w, eigenvectors: V } = np.linalg.eigh(sym);
    assertAllClose(await arr(sym.matmul(V)), await arr(V.mul(w)), { rtol: 1e-3, atol: 1e-4 });
    assertAllClose(await arr(V.swapaxes(0, 1).matmul(V)), await arr(eye), { atol: 1e-5 });
    for (const m of [c.tall, c.wide]) {
      const x = np.array(m);
      const { Q, R } = np.linalg.qr(x);
      assertAllClose(await arr(Q.matmul(R)), m, { rtol: 1e-4, atol: 1e-4 });
      assertAllClose(await arr(np.tril(R, -1)), await arr(np.zeros(R.shape)));
      const k = Q.shape[1];
      assertAllClose(await arr(Q.swapaxes(0, 1).matmul(Q)), await arr(np.eye(k)), { atol: 1e-5 });
      const { U, S, Vh } = np.linalg.svd(x);
      assertAllClose(await arr(U.mul(S).matmul(Vh)), m, { rtol: 1e-4, atol: 1e-4 });
      assertAllClose(await arr(U.swapaxes(0, 1).matmul(U)), await arr(np.eye(k)), { atol: 1e-5 });
      assertAllClose(await arr(Vh.matmul(Vh.swapaxes(0, 1))), await arr(np.eye(k)), {
        atol: 1e-5,
      });
    }
    const a = np.array(c.a);
    const { lu, perm } = np.linalg.lu(a);
    const Lf = np.tril(lu, -1).add(eye), Uf = np.triu(lu);
    const pa = a.take(perm, { axis: 0 });
    assertAllClose(await arr(Lf.matmul(Uf)), await arr(pa), { rtol: 1e-4, atol: 1e-4 });
    const b = uniform(n, [n, 2]);
    const x = np.linalg.solve(a, b);
    assertAllClose(await arr(a.matmul(x)), await arr(b), { rtol: 1e-3, atol: 1e-3 });
    const t = np.linalg.triangularSolve(L, b);
    assertAllClose(await arr(L.matmul(t)), await arr(b), { rtol: 1e-4, atol: 1e-4 });
    const tt = np.linalg.triangularSolve(L, b, { transposeA: true });
    assertAllClose(await arr(L.swapaxes(0, 1).matmul(tt)), await arr(b), {
      rtol: 1e-4,
      atol: 1e-4,
    });
  }
});

Deno.test("svd of a rank-deficient matrix still has orthonormal U and V", async () => {
  const x = np.array([[1, 2, 3], [2, 4, 6], [1, 1, 1], [0, 0, 0]]);
  const { U, S, Vh } = np.linalg.svd(x);
  assertAllClose(await arr(U.mul(S).matmul(Vh)), await arr(x), { atol: 1e-4 });
  assertAllClose(await arr(U.swapaxes(0, 1).matmul(U)), await arr(np.eye(3)), { atol: 1e-4 });
  assertAllClose((await flat(S))[2], 0, { atol: 1e-4 });
});

// Derivatives: directional derivatives against central differences. Outputs defined up to sign
// (eigenvectors, singular vectors) enter squared; symmetric inputs are built as x·xᵀ + n·I.
const fd = fdTol({ h: fdStep(1e-4, 3e-3), rtol: 2e-3, atol: 2e-4 });
const spdOf = (x: Tensor) => x.matmul(x.swapaxes(-1, -2)).add(np.eye(x.shape[x.ndim - 1]).mul(3));
const symOf = (x: Tensor) => x.add(x.swapaxes(-1, -2));
const weigh = (t: Tensor, seed: number) => t.mul(uniform(seed, t.shape)).sum();

Deno.test("the gradients of cholesky, eigh, svd and qr match central differences", async () => {
  const x = uniform(11, [4, 4]);
  await checkDirectionalGrad((p: Tensor) => weigh(np.linalg.cholesky(spdOf(p)), 1), x, 2, fd);
  await checkDirectionalGrad(
    (p: Tensor) => {
      const { eigenvalues, eigenvectors } = np.linalg.eigh(symOf(p));
      return weigh(eigenvalues, 3).add(weigh(eigenvectors.mul(eigenvectors), 4));
    },
    x,
    5,
    fd,
  );
  for (const shape of [[5, 3], [3, 3], [3, 5]]) {
    await checkDirectionalGrad(
      (p: Tensor) => {
        const { U, S, Vh } = np.linalg.svd(p);
        return weigh(S, 6).add(weigh(U.mul(U), 7)).add(weigh(Vh.mul(Vh), 8));
      },
      uniform(12, shape),
      9,
      fd,
    );
  }
  for (const shape of [[5, 3], [4, 4]]) {
    await checkDirectionalGrad(
      (p: Tensor) => {
        const { Q, R } = np.linalg.qr(p);
        return weigh(Q, 10).add(weigh(R, 11));
      },
      uniform(13, shape),
      12,
      fd,
    );
  }
});

Deno.test("the gradients of solve, inv, det, slogdet, triangularSolve and norm match central differences", async () => {
  const a = uniform(21, [4, 4]).add(np.eye(4).mul(2));
  const b = uniform(22, [4, 2]);
  await checkDirectionalGrad(
    (p: { a: Tensor; b: Tensor }) => weigh(np.linalg.solve(p.a, p.b), 1),
    { a, b },
    2,
    fd,
  );
  await checkDirectionalGrad((p: Tensor) => weigh(np.linalg.inv(p), 3), a, 4, fd);
  await checkDirectionalGrad((p: Tensor) => np.linalg.det(p), a, 5, fd);
  await checkDirectionalGrad((p: Tensor) => np.linalg.slogdet(p).logabsdet, a, 6, fd);
  await checkDirectionalGrad(
    (p: { a: Tensor; b: Tensor }) =>
      weigh(np.linalg.triangularSolve(p.a, p.b, { transposeA: true }), 7),
    { a, b },
    8,
    fd,
  );
  await checkDirectionalGrad((p: Tensor) => np.linalg.norm(p, { ord: "nuc" }), a, 9, fd);
  await checkDirectionalGrad((p: Tensor) => np.linalg.norm(p, { ord: 2 }), a, 10, fd);
});

Deno.test("vmap of each decomposition equals a loop over the batch", async () => {
  const xs = uniform(31, [3, 4, 4]);
  const fns: [string, (x: Tensor) => Tensor][] = [
    ["cholesky", (x) => np.linalg.cholesky(spdOf(x))],
    ["eigh", (x) => np.linalg.eigh(symOf(x)).eigenvalues],
    ["svd", (x) => np.linalg.svd(x).S],
    ["qr", (x) => np.linalg.qr(x).R.abs()],
    ["det", (x) => np.linalg.det(x)],
    ["solve", (x) => np.linalg.solve(x.add(np.eye(4).mul(3)), np.ones([4, 2]))],
  ];
  for (const [name, f] of fns) {
    const batched = await arr(vmap(f)(xs));
    const looped = await arr(np.stack([0, 1, 2].map((i) => f(xs.index(i)))));
    assertAllClose(batched, looped, { rtol: 1e-4, atol: 1e-5, msg: name } as never);
    // leading batch axes without vmap as well
    assertAllClose(await arr(f(xs)), looped, { rtol: 1e-4, atol: 1e-5 });
  }
  // vmap over an axis other than 0, and with an unbatched operand
  const tri = np.linalg.cholesky(spdOf(uniform(32, [4, 4])));
  const bs = uniform(33, [4, 3, 2]);
  const solved = vmap((b: Tensor) => np.linalg.triangularSolve(tri, b), { inAxes: 1 })(bs);
  const ref = np.stack([0, 1, 2].map((i) => np.linalg.triangularSolve(tri, bs.index(null, i))));
  assertAllClose(await arr(solved), await arr(ref), { rtol: 1e-5, atol: 1e-6 });
});

Deno.test("jit of the decompositions equals eager evaluation", async () => {
  const x = uniform(41, [5, 4]);
  const f = (p: Tensor) => {
    const { U, S, Vh } = np.linalg.svd(p);
    const { Q, R } = np.linalg.qr(p);
    const g = p.swapaxes(0, 1).matmul(p);
    return [U.mul(S).matmul(Vh), Q.matmul(R), np.linalg.eigh(g).eigenvalues, np.linalg.det(g)];
  };
  const eager = await Promise.all(f(x).map(arr));
  const jitted = await Promise.all(jit(f)(x).map(arr));
  assertAllClose(jitted, eager, { rtol: 1e-4, atol: 1e-4 });
});

Deno.test("results agree with the cpu reference backend", async () => {
  const data = Array.from(await flat(uniform(51, [2, 5, 5])));
  const run = () => {
    const x = np.array(data, { shape: [2, 5, 5] } as never) as Tensor;
    return [
      np.linalg.cholesky(spdOf(x)),
      np.linalg.eigh(symOf(x)).eigenvalues,
      np.linalg.svd(x).S,
      np.linalg.qr(x).R.abs(),
      np.linalg.slogdet(x).logabsdet,
    ];
  };
  const ref = await Promise.all(withCpu(run).map(arr));
  const got = await Promise.all(run().map(arr));
  assertAllClose(got, ref, { rtol: 2e-4, atol: 2e-4 });
});

Deno.test("linalg errors name the op and the operand shapes", () => {
  assertThrows(() => np.linalg.cholesky(np.zeros([2, 3])), TypeError, "cholesky");
  assertThrows(() => np.linalg.cholesky(np.zeros([2, 3])), TypeError, "f32[2,3]");
  assertThrows(() => np.linalg.eigh(np.zeros([3])), TypeError, "f32[3]");
  assertThrows(() => np.linalg.svd(np.zeros([2, 2], "i32")), TypeError, "i32[2,2]");
  assertThrows(() => np.linalg.det(np.zeros([2, 3, 4])), TypeError, "f32[2,3,4]");
  assertThrows(() => np.linalg.inv(np.zeros([3, 2])), TypeError, "f32[3,2]");
  assertThrows(() => np.linalg.solve(np.eye(3), np.ones([2])), TypeError, "linalg.solve");
  assertThrows(
    () => np.linalg.triangularSolve(np.eye(3), np.ones([2, 2])),
    TypeError,
    "triangular_solve",
  );
  assertThrows(() => np.linalg.norm(np.ones([2, 2]), { ord: 3 }), RangeError, "norm");
});

Deno.test("a 64×64 eigh, svd and cholesky (sweeps split over several dispatches) reconstruct", async () => {
  const x = uniform(61, [64, 64]);
  const s = symOf(x);
  const { eigenvalues: w, eigenvectors: V } = np.linalg.eigh(s);
  assertAllClose(await arr(V.mul(w).matmul(V.swapaxes(0, 1))), await arr(s), { atol: 2e-3 });
  const { U, S, Vh } = np.linalg.svd(x.index([0, 64, 1], null));
  assertAllClose(await arr(U.mul(S).matmul(Vh)), await arr(x.index([0, 64, 1], null)), {
    atol: 1e-3,
  });
  const L = np.linalg.cholesky(spdOf(x));
  assertAllClose(await arr(L.matmul(L.swapaxes(0, 1))), await arr(spdOf(x)), {
    rtol: 1e-4,
    atol: 2e-3,
  });
});

Deno.test("pca matches NumPy's explained variances, and its projections invert", async () => {
  const fx = JSON.parse(
    await Deno.readTextFile(new URL("./testdata/linalg/pca.json", import.meta.url)),
  );
  const x = np.array(fx.x);
  const full = models.pca();
  const f = full.fit(x);
  assertAllClose(await arr(f.mean), fx.mean, { rtol: 1e-5, atol: 1e-5 });
  assertAllClose(await arr(f.singularValues), fx.singularValues, tol);
  assertAllClose(await arr(f.explainedVariance), fx.explainedVariance, tol);
  assertAllClose(await arr(f.explainedVarianceRatio), fx.explainedVarianceRatio, tol);
  assertAllClose(await arr(f.components.abs()), fx.absComponents, { rtol: 1e-3, atol: 1e-4 });
  // svd_flip: the largest-magnitude entry of each component is positive
  const comps = (await f.components.toArray()) as number[][];
  for (const row of comps) {
    const big = row.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
    assertAllClose(Math.sign(big), 1);
  }
  // all components: the round trip is exact; two: the reconstruction is the rank-2 projection
  assertAllClose(await arr(full.inverseTransform(f, full.transform(f, x))), fx.x, { atol: 1e-3 });
  const two = models.pca({ nComponents: 2 });
  const f2 = two.fit(x);
  const z = two.transform(f2, x);
  assertAllClose(z.shape, [60, 2]);
  assertAllClose(await arr(f2.explainedVarianceRatio), fx.explainedVarianceRatio.slice(0, 2), tol);
  const zVar = await arr(z.var({ axis: 0, ddof: 1 } as never));
  assertAllClose(zVar, fx.explainedVariance.slice(0, 2), { rtol: 1e-3 });
  assertThrows(() => models.pca({ nComponents: 7 }).fit(x), RangeError, "pca.fit");
  assertThrows(() => two.transform(f2, np.ones([3, 5])), TypeError, "f32[3,5]");
});

Deno.test("cholesky of a matrix that is not positive definite is all NaN, as JAX", async () => {
  const L = np.linalg.cholesky(np.array([[[1, 2], [2, 1]], [[2, 0], [0, 3]]]));
  const v = await flat(L);
  assertAllClose(v.slice(0, 4).map((x) => Number.isNaN(x)), [true, true, true, true]);
  assertAllClose(v.slice(4), [Math.SQRT2, 0, 0, Math.sqrt(3)], { rtol: 1e-6 });
});

Deno.test("batched svd of single-column and single-row matrices keeps each matrix apart", async () => {
  const cols = uniform(71, [5, 3, 1]);
  const rows = uniform(72, [5, 1, 3]);
  for (const x of [cols, rows]) {
    const { U, S, Vh } = np.linalg.svd(x);
    assertAllClose(await arr(U.mul(S.expandDims(-2)).matmul(Vh)), await arr(x), { atol: 1e-5 });
    const norms = await arr(x.mul(x).sum({ axis: [-2, -1] }).sqrt());
    assertAllClose(await arr(S.squeeze(-1)), norms, { rtol: 1e-5 });
  }
});
