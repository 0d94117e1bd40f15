/**
 * Fits a 2-layer MLP to two interleaved spirals with `jit(valueAndGrad)` and plain SGD
 * written with `tree.map`, printing the loss as it falls and the final accuracy.
 *
 * Run: `deno run -A examples/spirals.ts`
 *
 * @module
 */
import { init, jit, np, random, tree, valueAndGrad } from "../mod.ts";
import type { Tensor } from "../mod.ts";

const { name, description } = await init();
console.log(`backend: ${name} (${description})`);

/** Two spirals, n points each: inputs f32[2n, 2], labels f32[2n] in {0, 1}. */
function spirals(n: number, seed: number): { x: Tensor; y: Tensor } {
  let s = seed >>> 0;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 4294967296);
  const xs: number[] = [], ys: number[] = [];
  for (let c = 0; c < 2; c++) {
    for (let i = 0; i < n; i++) {
      const r = (i / n) * 1.0 + 0.05;
      const t = (i / n) * 2.5 * Math.PI + c * Math.PI;
      xs.push(r * Math.cos(t) + (rand() - 0.5) * 0.04, r * Math.sin(t) + (rand() - 0.5) * 0.04);
      ys.push(c);
    }
  }
  return {
    x: np.array(new Float32Array(xs), { shape: [2 * n, 2] }),
    y: np.array(new Float32Array(ys)),
  };
}

const hidden = 64;
const root = random.key(0);
const params = {
  w1: random.normal(random.foldIn(root, 1), [2, hidden]).mul(3.0),
  b1: np.zeros([hidden]),
  w2: random.normal(random.foldIn(root, 2), [hidden, 1]).mul(Math.sqrt(1 / hidden)),
  b2: np.zeros([1]),
};
type P = typeof params;

const forward = (p: P, x: Tensor): Tensor =>
  np.matmul(np.tanh(np.matmul(x, p.w1).add(p.b1)), p.w2).add(p.b2).reshape(-1);

// binary cross-entropy on logits: mean(softplus(z) − y·z), stable for large |z|
const loss = (p: P, x: Tensor, y: Tensor): Tensor => {
  const z = forward(p, x);
  const softplus = np.log1p(np.exp(z.abs().neg())).add(np.maximum(z, 0));
  return softplus.sub(y.mul(z)).mean();
};

const lr = 1.0;
const step = jit((p: P, x: Tensor, y: Tensor) => {
  const [l, g] = valueAndGrad(loss)(p, x, y);
  return [tree.map((w: Tensor, gw: Tensor) => w.sub(gw.mul(lr)), p, g) as P, l] as const;
});

const { x, y } = spirals(100, 1);
let p = params;
const t0 = performance.now();
for (let i = 1; i <= 1500; i++) {
  const [np_, l] = step(p, x, y);
  p = np_;
  if (i % 250 === 0) console.log(`step ${i}  loss ${(await l.item() as number).toFixed(4)}`);
}
const pred = forward(p, x).greater(0).astype("f32");
const acc = await pred.equal(y).astype("f32").mean().item() as number;
console.log(
  `accuracy ${(acc * 100).toFixed(1)}%  (${
    ((performance.now() - t0) / 1000).toFixed(1)
  } s, ${step.traceCount} trace)`,
);
