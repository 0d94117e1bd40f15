/**
 * BN-LeNet (`examples/d2l/lenet_bn.ts`) against PyTorch on identical weights and batches: loads
 * the Xavier-initialized state_dict that `bench/d2l_torch.py --model bnlenet --dump DIR` wrote,
 * runs the same 5 SGD steps (lr 1.0, the first 5×256 training images in order, the mean
 * cross-entropy, batch statistics and running averages as `nn.BatchNorm2d/1d` in training mode),
 * and prints the largest differences from PyTorch's losses, final parameters, running
 * statistics and eval-mode logits (running statistics) on the first 256 test images.
 *
 * Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/d2l_torch.py
 * --model bnlenet --dump /tmp/bnlenet --threads 1`, then
 * `deno run -A bench/d2l_bnlenet_check.ts /tmp/bnlenet [--backend cpu|native]`.
 *
 * @module
 */
import { init, models, nn, np, type Tensor, tree, valueAndGrad } from "../mod.ts";
import { mnistTensors } from "../data/mod.ts";
import { loadTorchStateDict } from "../train/mod.ts";
import { fashionMnist } from "../examples/d2l/_common.ts";

const dir = Deno.args[0] ?? "/tmp/bnlenet";
const bi = Deno.args.indexOf("--backend");
const backend = await init(bi >= 0 ? { backend: Deno.args[bi + 1] } : {});
const want = JSON.parse(await Deno.readTextFile(`${dir}/steps.json`)) as {
  steps: number;
  batch: number;
  lr: number;
  losses: number[];
  test_logits: number[][];
};
const model = models.lenetBN({ inputShape: [1, 28, 28], numClasses: 10 });
type P = unknown;
type S = unknown;
let { params, state } = await loadTorchStateDict<P, S>(model, `${dir}/init.safetensors`);
const ds = await fashionMnist();
const train = mnistTensors(ds.train, { flatten: false, limit: want.steps * want.batch });
const test = mnistTensors(ds.test, { flatten: false, limit: 256 });
const x = train.x.reshape([-1, 1, 28, 28]), xt = test.x.reshape([-1, 1, 28, 28]);
const loss = (p: P, s: S, xb: Tensor, yb: Tensor) => {
  const r = model.apply(p as never, xb, { state: s as never, train: true }) as {
    y: Tensor;
    state: S;
  };
  return [nn.losses.crossEntropy(r.y, yb), r.state] as [Tensor, S];
};
const step = valueAndGrad(loss, { hasAux: true });
const losses: number[] = [];
for (let i = 0; i < want.steps; i++) {
  const xb = x.reshape([want.steps, want.batch, 1, 28, 28]).take(i, { axis: 0 });
  const yb = train.y.reshape([want.steps, want.batch]).take(i, { axis: 0 });
  const [[l, s2], g] = step(params, state, xb, yb);
  losses.push(Number(await l.item()));
  params = tree.map((p: Tensor, d: Tensor) => p.sub(d.mul(want.lr)), params, g) as P;
  state = s2;
}
const ref = await loadTorchStateDict<P, S>(model, `${dir}/final.safetensors`);
const maxDiff = async (a: unknown, b: unknown) => {
  const la = tree.leaves(a) as Tensor[], lb = tree.leaves(b) as Tensor[];
  let m = 0;
  for (let i = 0; i < la.length; i++) {
    if (la[i].dtype !== "f32") continue;
    m = Math.max(m, Number(await np.abs(la[i].sub(lb[i])).max().item()));
  }
  return m;
};
const out = model.apply(params as never, xt, { state: state as never, train: false }) as {
  y: Tensor;
};
const logits = await out.y.toArray() as number[][];
let dl = 0, agree = 0;
logits.forEach((row, i) => {
  row.forEach((v, j) => (dl = Math.max(dl, Math.abs(v - want.test_logits[i][j]))));
  const am = (r: number[]) => r.indexOf(Math.max(...r));
  if (am(row) === am(want.test_logits[i])) agree++;
});
console.log(`BN-LeNet, ${want.steps} SGD steps on ${backend.name} vs PyTorch:`);
console.log(`  losses denax   ${losses.map((v) => v.toFixed(5)).join(" ")}`);
console.log(`  losses PyTorch ${want.losses.map((v) => v.toFixed(5)).join(" ")}`);
console.log(
  `  max |Δ| params ${(await maxDiff(params, ref.params)).toExponential(2)}, running ` +
    `statistics ${(await maxDiff(state, ref.state)).toExponential(2)}, eval logits ` +
    `${dl.toExponential(2)}; eval argmax agrees on ${agree}/256`,
);
