import { assertAllClose, assertEquals, assertThrows } from "@std/assert";
import {
  checkpoint,
  customJvp,
  customVjp,
  grad,
  init,
  jit,
  jvp,
  lax,
  makeJaxpr,
  np,
  type Tensor,
  vmap,
} from "../mod.ts";
import { flat, numericGrad, uniform } from "./helpers.ts";

await init({ backend: Deno.env.get("DENAX_BACKEND") ?? "cpu" });

const rnn = (w: Tensor, xs: Tensor) =>
  lax.scan(
    (h: Tensor, x: Tensor) => {
      const h2 = np.tanh(h.mul(w).add(x));
      return [h2, h2];
    },
    np.array(0.5),
    xs,
  )[1].sum();

Deno.test("scan computes running sums and stacks outputs", async () => {
  const [tot, ys] = lax.scan(
    (c: Tensor, x: Tensor) => [c.add(x), c.add(x)],
    np.array(0),
    np.array([1, 2, 3]),
  );
  assertEquals(await tot.item(), 6);
  assertEquals(await ys.toArray(), [1, 3, 6]);
  const [, rev] = lax.scan(
    (c: Tensor, x: Tensor) => [c.add(x), c.add(x)],
    np.array(0),
    np.array([1, 2, 3]),
    { reverse: true },
  );
  assertEquals(await rev.toArray(), [6, 5, 3]);
});

Deno.test("grad through scan matches central differences", async () => {
  const xs = uniform(1, [12]);
  const w = np.array(0.7);
  const g = await grad(rnn)(w, xs).item() as number;
  const [fd] = await numericGrad((v) => rnn(v, xs), w, 1e-2);
  assertAllClose(g, fd, { rtol: 1e-2 });
});

Deno.test("grad through scan is O(length): one forward and one reverse scan", () => {
  const jp = makeJaxpr(grad(rnn))(np.array(0.7), uniform(2, [50]));
  const scans = jp.jaxpr.eqns.filter((e) => e.prim.name === "scan");
  assertEquals(scans.length, 2);
  assertEquals(scans.map((e) => e.params.reverse), [false, true]);
});

Deno.test("second-order derivatives through scan", async () => {
  const xs = uniform(3, [6]);
  const g2 = await grad(grad(rnn))(np.array(0.4), xs).item() as number;
  const [fd] = await numericGrad((v) => grad(rnn)(v, xs), np.array(0.4), 1e-2);
  assertAllClose(g2, fd, { rtol: 3e-2 });
});

Deno.test("vmap and jit of grad through scan", async () => {
  const xs = uniform(4, [8]);
  const ws = np.array([0.7, 0.2, -0.3]);
  const v = vmap(grad(rnn), { inAxes: [0, null] })(ws, xs) as Tensor;
  const j = jit(vmap(grad(rnn), { inAxes: [0, null] }))(ws, xs) as Tensor;
  const loop = [];
  for (const w of [0.7, 0.2, -0.3]) loop.push(await grad(rnn)(np.array(w), xs).item());
  assertAllClose(await flat(v), loop, { rtol: 1e-5 });
  assertAllClose(await flat(j), loop, { rtol: 1e-5 });
});

Deno.test("scan over pytrees of carries and xs, with batched xs under vmap", async () => {
  const f = (xs: { a: Tensor; b: Tensor }) =>
    lax.scan(
      (c: { s: Tensor }, x: { a: Tensor; b: Tensor }) => [{ s: c.s.add(x.a.mul(x.b)) }, x.a],
      { s: np.array(0) },
      xs,
    )[0].s;
  const a = uniform(5, [2, 4]), b = uniform(6, [2, 4]);
  const out = vmap(f)({ a, b }) as Tensor;
  assertAllClose(await flat(out), await flat(a.mul(b).sum({ axis: 1 })), { rtol: 1e-5 });
});

Deno.test("scan rejects a carry whose type changes", () => {
  assertThrows(
    () => lax.scan((c: Tensor, x: Tensor) => [c.reshape([1]), x], np.array(0), np.array([1, 2])),
    TypeError,
    "the carry changed type",
  );
});

Deno.test("cond picks a branch and differentiates through it", async () => {
  const fc = (x: Tensor) =>
    lax.cond(x.greater(0), (a: Tensor) => a.mul(a), (a: Tensor) => a.neg(), x);
  assertEquals(await fc(np.array(3)).item(), 9);
  assertEquals(await fc(np.array(-3)).item(), 3);
  assertEquals(await grad(fc)(np.array(3)).item(), 6);
  assertEquals(await grad(fc)(np.array(-3)).item(), -1);
  assertEquals(await jit(grad(fc))(np.array(2)).item(), 4);
  assertEquals(await vmap(fc)(np.array([3, -2])).toArray(), [9, 2]);
  assertEquals(await vmap(grad(fc))(np.array([3, -2])).toArray(), [6, -1]);
});

Deno.test("cond rejects branches that return different types", () => {
  assertThrows(
    () => lax.cond(np.array(true), () => np.zeros([2]), () => np.zeros([3])),
    TypeError,
    "branches return different types",
  );
});

Deno.test("whileLoop runs until the condition fails, forward-differentiates, and vmaps a batched predicate", async () => {
  const fw = (x: Tensor) => lax.whileLoop((v: Tensor) => v.less(10), (v: Tensor) => v.mul(2), x);
  assertEquals(await fw(np.array(1)).item(), 16);
  assertEquals(await vmap(fw)(np.array([1, 3, 11])).toArray(), [16, 12, 11]);
  assertEquals(await jvp(fw, [np.array(1.5)], [np.array(1)])[1].item(), 8);
  assertEquals(await jit(fw)(np.array(5)).item(), 10);
});

Deno.test("reverse-mode through whileLoop is a clear error", () => {
  const fw = (x: Tensor) => lax.whileLoop((v: Tensor) => v.less(10), (v: Tensor) => v.mul(2), x);
  assertThrows(
    () => grad(fw)(np.array(1)),
    TypeError,
    "Reverse-mode differentiation does not work for lax.whileLoop",
  );
});

Deno.test("foriLoop with static bounds is a differentiable scan", async () => {
  const f = (x: Tensor) => lax.foriLoop(0, 3, (_i: Tensor, v: Tensor) => v.mul(x), np.array(1));
  assertEquals(await f(np.array(2)).item(), 8);
  assertEquals(await grad(f)(np.array(2)).item(), 12);
  const g = lax.foriLoop(
    np.array(0, { dtype: "i32" }),
    np.array(4, { dtype: "i32" }),
    (i: Tensor, v: Tensor) => v.add(i),
    np.array(0, { dtype: "i32" }),
  );
  assertEquals(await g.item(), 6);
});

Deno.test("customJvp rules are used by jvp, grad, vmap and jit", async () => {
  const sp = customJvp((x: Tensor) => np.log1p(np.exp(x)));
  sp.defjvp(([x]: Tensor[], [t]: Tensor[]) => [sp(x), np.sigmoid(x).mul(t)]);
  assertEquals(await grad(sp)(np.array(1000)).item(), 1);
  assertEquals(await jvp(sp, [np.array(1000)], [np.array(2)])[1].item(), 2);
  assertAllClose(await flat(vmap(grad(sp))(np.array([0, 1000])) as Tensor), [0.5, 1]);
  assertAllClose(await jit(grad(sp))(np.array(0)).item(), 0.5);
});

Deno.test("customVjp's backward rule replaces the gradient; its jvp is an error", async () => {
  const clip = customVjp((x: Tensor) => x);
  clip.defvjp((x: Tensor) => [x, null], (_r: unknown, g: Tensor) => [np.clip(g, -1, 1)]);
  assertEquals(await grad((x: Tensor) => clip(x).mul(10))(np.array(2)).item(), 1);
  assertEquals(await vmap(grad((x: Tensor) => clip(x).mul(10)))(np.array([2, 3])).toArray(), [
    1,
    1,
  ]);
  assertEquals(await jit(grad((x: Tensor) => clip(x).mul(0.5)))(np.array(2)).item(), 0.5);
  assertThrows(() => jvp(clip, [np.array(1)], [np.array(1)]), TypeError, "forward-mode");
});

Deno.test("checkpoint recomputes the forward pass in the backward pass", async () => {
  const blk = checkpoint((x: Tensor) => np.sin(np.sin(x)));
  assertAllClose(
    await grad((x: Tensor) => blk(x))(np.array(0.5)).item(),
    Math.cos(Math.sin(0.5)) * Math.cos(0.5),
    { rtol: 1e-6 },
  );
  const jp = makeJaxpr(grad((x: Tensor) => blk(x)))(np.array(0.5));
  // the backward equation recomputes sin from the input, not from saved residuals
  const last = jp.jaxpr.eqns[jp.jaxpr.eqns.length - 1];
  assertEquals(last.prim.name, "checkpoint");
  assertEquals(
    (last.params.jaxpr as { eqns: { prim: { name: string } }[] }).eqns.some((e) =>
      e.prim.name === "sin"
    ),
    true,
  );
  assertAllClose(await flat(vmap(grad((x: Tensor) => blk(x)))(np.array([0.5, 1])) as Tensor), [
    Math.cos(Math.sin(0.5)) * Math.cos(0.5),
    Math.cos(Math.sin(1)) * Math.cos(1),
  ], { rtol: 1e-6 });
});
