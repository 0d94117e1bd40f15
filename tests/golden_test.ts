/**
 * Printed IR is golden: `UPDATE=1 deno test -A tests/golden_test.ts` rewrites the files under
 * tests/testdata/, which are reviewed like code.
 */
import { assertEquals } from "@std/assert";
import { grad, init, lax, makeJaxpr, np, type Tensor } from "../mod.ts";

await init({ backend: "cpu" });
const UPDATE = Deno.env.get("UPDATE") === "1";

async function golden(name: string, text: string): Promise<void> {
  const path = new URL(`./testdata/${name}.txt`, import.meta.url);
  if (UPDATE) {
    await Deno.writeTextFile(path, text + "\n");
    return;
  }
  const want = await Deno.readTextFile(path);
  assertEquals(
    text + "\n",
    want,
    `golden file ${name}.txt differs (rerun with UPDATE=1 after review)`,
  );
}

type P = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor };
const mlpLoss = (p: P, x: Tensor, y: Tensor) => {
  const h = np.maximum(np.matmul(x, p.w1).add(p.b1), 0);
  const logits = np.matmul(h, p.w2).add(p.b2);
  const lse = np.logsumexp(logits, { axis: 1 });
  return lse.sub(logits.mul(y).sum({ axis: 1 })).mean();
};
const params: P = {
  w1: np.zeros([4, 3]),
  b1: np.zeros([3]),
  w2: np.zeros([3, 2]),
  b2: np.zeros([2]),
};
const x = np.zeros([5, 4]), y = np.zeros([5, 2]);

Deno.test("golden: the IR of an MLP loss", async () => {
  await golden("mlp_loss", String(makeJaxpr(mlpLoss)(params, x, y)));
});

Deno.test("golden: the IR of the MLP loss gradient", async () => {
  await golden("mlp_grad", String(makeJaxpr(grad(mlpLoss))(params, x, y)));
});

Deno.test("golden: the IR of a scan", async () => {
  const f = (xs: Tensor) =>
    lax.scan((c: Tensor, v: Tensor) => [c.mul(v).add(1), c], np.array(1), xs);
  await golden("scan", String(makeJaxpr(f)(np.zeros([6]))));
});
