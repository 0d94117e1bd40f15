/** Laws checked with fast-check (seeds fixed and printed in the test names). */
import fc from "fast-check";
import { assertAllClose, assertEquals } from "@std/assert";
import { init, jvp, np, type Tensor, vmap } from "../mod.ts";
import { flat } from "./helpers.ts";

await init({ backend: Deno.env.get("DENAX_BACKEND") ?? "cpu" });

const SEED = 4242;
const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 3 });
const floatsFor = (n: number) =>
  fc.array(fc.float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }), {
    minLength: n,
    maxLength: n,
  });
const tensorArb = shapeArb.chain((shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return floatsFor(n).map((v) => np.array(new Float32Array(v), { shape }));
});

Deno.test(`broadcasting is symmetric: a + b == b + a (seed ${SEED})`, async () => {
  await fc.assert(
    fc.asyncProperty(
      shapeArb,
      fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      async (shape, drop) => {
        const other = shape.map((d, i) => (drop[i] ? 1 : d));
        const a = np.ones(shape).mul(
          np.arange(shape.reduce((x, y) => x * y, 1)).reshape(shape).astype("f32"),
        );
        const b = np.ones(other).mul(2);
        const ab = a.add(b), ba = b.add(a);
        assertEquals(ab.shape, ba.shape);
        assertEquals(await flat(ab), await flat(ba));
      },
    ),
    { seed: SEED, numRuns: 40 },
  );
});

Deno.test(`transposing with a permutation and its inverse is the identity (seed ${SEED})`, async () => {
  await fc.assert(
    fc.asyncProperty(tensorArb, fc.integer({ min: 0, max: 5 }), async (x, r) => {
      const perm = [...Array(x.ndim).keys()];
      for (let i = perm.length - 1; i > 0; i--) {
        const j = (r * 7 + i) % (i + 1);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      const inv = perm.map((_, i) => perm.indexOf(i));
      const back = np.transpose(np.transpose(x, perm), inv);
      assertEquals(await flat(back), await flat(x));
    }),
    { seed: SEED, numRuns: 40 },
  );
});

Deno.test(`vmap equals stacking per-example results (seed ${SEED})`, async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 4 }), floatsFor(12), async (b, vals) => {
      const x = np.array(new Float32Array(vals.slice(0, b * 3)), { shape: [b, 3] });
      const g = (v: Tensor) => np.tanh(v).mul(v.sum());
      const batched = vmap(g)(x) as Tensor;
      const rows = [];
      for (let i = 0; i < b; i++) rows.push(g(np.slice(x, [i, 0], [i + 1, 3]).reshape([3])));
      assertAllClose(await flat(batched), await flat(np.stack(rows)), { rtol: 1e-5, atol: 1e-6 });
    }),
    { seed: SEED, numRuns: 30 },
  );
});

Deno.test(`jvp is linear in the tangent (seed ${SEED})`, async () => {
  await fc.assert(
    fc.asyncProperty(
      floatsFor(4),
      floatsFor(4),
      floatsFor(4),
      fc.float({ min: -3, max: 3, noNaN: true }),
      async (xv, t1v, t2v, a) => {
        const g = (v: Tensor) => np.sin(v).mul(v).sum();
        const x = np.array(xv), t1 = np.array(t1v), t2 = np.array(t2v);
        const d = (t: Tensor) => jvp(g, [x], [t])[1] as Tensor;
        const lhs = await d(t1.mul(a).add(t2)).item() as number;
        const rhs = (await d(t1).item() as number) * a + (await d(t2).item() as number);
        assertAllClose(lhs, rhs, { rtol: 1e-3, atol: 1e-2 });
      },
    ),
    { seed: SEED, numRuns: 30 },
  );
});
