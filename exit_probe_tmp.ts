import { init, jit, np, optim, random, type Tensor } from "./mod.ts";
import { crossEntropy } from "./layers/losses.ts";
import { d2lGoogLeNet } from "./models/googlenet.ts";
import { makeTrainStep } from "./train/step.ts";
const T0 = performance.now();
await init({ backend: "webgpu" });
const net = d2lGoogLeNet();
const x = random.uniform(random.key(1), [8, 1, 96, 96]);
const y = np.array(Array.from({ length: 8 }, (_, i) => i % 10), { dtype: "i32" });
const opt = optim.sgd({ lr: 0.01 });
const params = jit((k: Tensor) => net.init(k))(random.key(0));
// deno-lint-ignore no-explicit-any
const step = makeTrainStep((p: any, s: any, b: any, key: Tensor) => { const r = (net as any).apply(p, b.x, { state: s, train: true, key }); return [crossEntropy(r.y, b.y), r.state] as const; }, opt, { stateful: true });
// deno-lint-ignore no-explicit-any
let o: any = step(params, opt.init(params), (net as any).initState(), { x, y }, random.key(2));
const n = Number(Deno.args[0] ?? 3);
for (let i = 1; i < n; i++) { await o.loss.item(); o = step(o.params, o.optState, o.state, { x, y }, random.key(3)); }
console.log("last loss", await o.loss.item(), "script done at", Math.round(performance.now() - T0), "ms");
