// deno-lint-ignore-file no-explicit-any -- typed in a later pass
import { assertAllClose, assertEquals, assertThrows } from "@std/assert";
import {
  compileStats,
  ConcretizationError,
  grad,
  hessian,
  init,
  jacfwd,
  jacrev,
  jit,
  jvp,
  linearize,
  makeJaxpr,
  np,
  type Tensor,
  TracerLeakError,
  valueAndGrad,
  vjp,
  vmap,
} from "../mod.ts";
import { checkJaxpr } from "../core/jaxpr.ts";
import { flat, numericGrad, uniform } from "./helpers.ts";

await init({ backend: Deno.env.get("DENAX_BACKEND") ?? "cpu" });

const f3 = (x: Tensor) => np.sin(x).mul(np.exp(x.mul(0.3))).sum();

Deno.test("grad composes to third order (d³/dx³ sin x = −cos x)", async () => {
  const d3 = grad(grad(grad((x: Tensor) => np.sin(x))));
  assertAllClose(await d3(np.array(0.7)).item(), -Math.cos(0.7), { rtol: 1e-5 });
});

Deno.test("grad matches central differences on a composite function", async () => {
  const x = uniform(1, [5]);
  assertAllClose(await flat(grad(f3)(x)), await numericGrad(f3, x), { rtol: 2e-2, atol: 1e-3 });
});

Deno.test("vmap(grad(f)) gives per-example gradients", async () => {
  const w = np.array([0.5, -1, 2]);
  const loss = (w: Tensor, x: Tensor, y: Tensor) => np.square(np.dot(x, w).sub(y));
  const xs = uniform(2, [4, 3]), ys = uniform(3, [4]);
  const per = vmap(grad(loss), { inAxes: [null, 0, 0] })(w, xs, ys) as Tensor;
  assertEquals(per.shape, [4, 3]);
  for (let i = 0; i < 4; i++) {
    const gi = grad(loss)(
      w,
      np.slice(xs, [i, 0], [i + 1, 3]).reshape(3),
      np.slice(ys, [i], [i + 1]).reshape([]),
    );
    assertAllClose((await flat(per)).slice(i * 3, i * 3 + 3), await flat(gi), { rtol: 1e-5 });
  }
});

Deno.test("jit(vmap(grad(f))) equals the eager composition", async () => {
  const xs = uniform(4, [3, 5]);
  const a = vmap(grad(f3))(xs) as Tensor, b = jit(vmap(grad(f3)))(xs) as Tensor;
  assertAllClose(await flat(b), await flat(a), { rtol: 1e-6 });
});

Deno.test("grad(jit(f)) equals grad(f)", async () => {
  const x = uniform(5, [4]);
  assertAllClose(await flat(grad(jit(f3))(x)), await flat(grad(f3)(x)), { rtol: 1e-6 });
});

Deno.test("jvp(vmap(f)) equals vmap(jvp(f))", async () => {
  const xs = uniform(6, [3, 4]), ts = uniform(7, [3, 4]);
  const g = (x: Tensor) => np.tanh(x).mul(x);
  const [, a] = jvp(vmap(g), [xs], [ts]);
  const b = vmap((x: Tensor, t: Tensor) => jvp(g, [x], [t])[1])(xs, ts) as Tensor;
  assertAllClose(await flat(a as Tensor), await flat(b), { rtol: 1e-6 });
});

Deno.test("vmap(vmap(f)) maps over two axes", async () => {
  const x = uniform(8, [2, 3, 4]);
  const out = vmap(vmap((v: Tensor) => v.sum()))(x) as Tensor;
  assertEquals(out.shape, [2, 3]);
  assertAllClose(await flat(out), await flat(x.sum({ axis: 2 })), { rtol: 1e-6 });
});

Deno.test("vmap moves the batch axis when inAxes is negative and honours outAxes", async () => {
  const x = uniform(9, [4, 3]);
  const out = vmap((v: Tensor) => v.mul(2), { inAxes: -1, outAxes: 1 })(x) as Tensor;
  assertEquals(out.shape, [4, 3]);
  assertAllClose(await flat(out), await flat(x.mul(2)));
});

Deno.test("vmap with pytree inAxes and null entries", async () => {
  const p = { w: np.array([1, 2]), b: np.array(1) };
  const xs = np.array([[1, 1], [2, 0]]);
  const out = vmap((p: { w: Tensor; b: Tensor }, x: Tensor) => np.dot(p.w, x).add(p.b), {
    inAxes: [null, 0],
  })(p, xs);
  assertEquals(await (out as Tensor).toArray(), [4, 3]);
});

Deno.test("vmap reports mismatched batch sizes clearly", () => {
  assertThrows(
    () => vmap((a: Tensor, b: Tensor) => a.add(b))(np.zeros([3]), np.zeros([4])),
    TypeError,
    "vmap got inconsistent sizes for the mapped axis",
  );
});

Deno.test("vmap of a matrix-vector product becomes one batched dot_general", () => {
  const A = np.ones([3, 4]);
  const jp = makeJaxpr(vmap((v: Tensor) => np.matmul(A, v)))(np.ones([5, 4]));
  const dots = jp.jaxpr.eqns.filter((e) => e.prim.name === "dot_general");
  assertEquals(dots.length, 1);
  assertEquals(jp.jaxpr.eqns.some((e) => e.prim.name === "scan"), false);
});

Deno.test("jacfwd, jacrev and hessian agree with hand derivatives", async () => {
  const g = (x: Tensor) => x.mul(x).mul(x);
  const x = np.array([1, 2]);
  assertEquals(await jacfwd(g)(x).toArray(), [[3, 0], [0, 12]]);
  assertEquals(await jacrev(g)(x).toArray(), [[3, 0], [0, 12]]);
  assertEquals(await hessian((v: Tensor) => v.mul(v).mul(v).sum())(x).toArray(), [[6, 0], [0, 12]]);
});

Deno.test("linearize evaluates the jvp without recomputing the primal", async () => {
  const [y, fl] = linearize((x: Tensor) => np.sin(x), np.array(0.5));
  assertAllClose(await (y as Tensor).item(), Math.sin(0.5), { rtol: 1e-6 });
  assertAllClose(await (fl(np.array(2)) as Tensor).item(), 2 * Math.cos(0.5), { rtol: 1e-6 });
});

Deno.test("grad with argnums array and hasAux", async () => {
  const h = (a: Tensor, b: Tensor) => [a.mul(b).sum(), { prod: a.mul(b) }];
  const [[v, aux], [ga, gb]] = valueAndGrad(h, { argnums: [0, 1], hasAux: true })(
    np.array([1, 2]),
    np.array([3, 4]),
  );
  assertEquals(await v.item(), 11);
  assertEquals(await aux.prod.toArray(), [3, 8]);
  assertEquals(await ga.toArray(), [3, 4]);
  assertEquals(await gb.toArray(), [1, 2]);
});

Deno.test("grad of a pytree of parameters returns the same structure", async () => {
  const p = { w: np.array([1, 2]), layers: [{ b: np.array(3) }] };
  const g = grad((p: any) => p.w.sum().mul(p.layers[0].b))(p);
  assertEquals(await g.w.toArray(), [3, 3]);
  assertEquals(await g.layers[0].b.item(), 3);
});

Deno.test("vjp returns one cotangent per argument", async () => {
  const [y, back] = vjp((a: Tensor, b: Tensor) => a.mul(b), np.array([1, 2]), np.array([3, 4]));
  assertEquals(await (y as Tensor).toArray(), [3, 8]);
  const [ca, cb] = back(np.array([1, 1]));
  assertEquals(await ca.toArray(), [3, 4]);
  assertEquals(await cb.toArray(), [1, 2]);
});

Deno.test("jit compiles once per signature and the second call does not retrace", async () => {
  const step = jit((w: Tensor, x: Tensor) =>
    w.sub(grad((w: Tensor) => np.square(x.mul(w)).sum())(w).mul(0.1))
  );
  const before = compileStats.compiles;
  let w = np.array([1, 2]);
  for (let i = 0; i < 3; i++) w = step(w, np.array([1, 1]));
  assertEquals(step.traceCount, 1);
  assertEquals(compileStats.compiles - before, 1);
  step(np.zeros([3]), np.ones([3]));
  assertEquals(step.traceCount, 2);
  assertAllClose(await flat(w), [1 * 0.8 ** 3, 2 * 0.8 ** 3], { rtol: 1e-5 });
});

Deno.test("jit static arguments are part of the cache key", async () => {
  const f = jit((x: Tensor, n: number) => x.mul(n), { staticArgnums: 1 });
  assertEquals(await f(np.array(2), 3).item(), 6);
  assertEquals(await f(np.array(2), 4).item(), 8);
  assertEquals(f.traceCount, 2);
});

Deno.test("reading a traced value inside jit raises a ConcretizationError with help", () => {
  const e = assertThrows(() => jit((x: Tensor) => (x.item(), x))(np.array(1)), ConcretizationError);
  assertEquals(e.message.includes("lax.cond"), true);
  assertEquals(e.message.includes("staticArgnums"), true);
});

Deno.test("a leaked tracer is reported as a TracerLeakError", () => {
  let leaked: Tensor | null = null;
  jit((x: Tensor) => {
    leaked = x;
    return x;
  })(np.array(1));
  assertThrows(() => np.sin(leaked!), TracerLeakError, "escaped");
});

Deno.test("grad of a non-scalar output is a clear error", () => {
  assertThrows(
    () => grad((x: Tensor) => x.mul(2))(np.array([1, 2])),
    TypeError,
    "grad requires a scalar f32 output, got f32[2]",
  );
});

Deno.test("grad with respect to an integer input is a clear error", () => {
  assertThrows(
    () => grad((x: Tensor) => x.sum().astype("f32"))(np.array([1], { dtype: "i32" })),
    TypeError,
    "grad requires float (f32 or f16) inputs",
  );
});

Deno.test("the IR checker accepts the jaxprs of every transformation", () => {
  const x = uniform(10, [3]);
  for (const fn of [f3, grad(f3), vmap(grad(f3)), jit(grad(f3))]) {
    checkJaxpr(makeJaxpr(fn as (x: Tensor) => Tensor)(x).jaxpr);
  }
  checkJaxpr(makeJaxpr(vmap(grad(f3)))(uniform(11, [2, 3])).jaxpr);
});

Deno.test("DCE drops unused equations, CSE merges equal ones, constant folding evaluates constant ones", async () => {
  const { cse, dce, foldConstants, ClosedJaxpr, Jaxpr } = await import("../core/jaxpr.ts");
  const jp = makeJaxpr((x: Tensor) => {
    np.exp(x); // dead
    const a = np.sin(x), b = np.sin(x); // common
    return a.add(b);
  })(np.array([1, 2]));
  const j = jp.jaxpr;
  const names = (jj: typeof j) => jj.eqns.map((e) => e.prim.name);
  assertEquals(names(j).filter((n) => n === "exp").length, 1);
  assertEquals(names(dce(j)).includes("exp"), false);
  assertEquals(names(cse(dce(j))).filter((n) => n === "sin").length, 1);
  checkJaxpr(cse(dce(j)));
  // constant folding: an equation on constants only becomes a constant
  const c = np.array([1, 2]);
  const v = j.invars[0];
  const folded = foldConstants(
    new ClosedJaxpr(new Jaxpr([v], [], j.eqns, j.outvars), [c]),
  );
  assertEquals(folded.jaxpr.eqns.length, 0);
  assertAllClose(await flat(folded.consts[folded.consts.length - 1]), [
    2 * Math.sin(1),
    2 * Math.sin(2),
  ], { rtol: 1e-6 });
});
