/**
 * Trains a character-level recurrent language model (d2l §9.5–9.6, §10.1–10.3) on the opening
 * of H. G. Wells's *The Time Machine* that `data/text.ts` ships (no Debian or npm package ships
 * the book; pass `--file <path>` to train on any other text), printing the perplexity
 * `exp(mean cross-entropy)` and the time of every epoch, and a greedy continuation of
 * "the time traveller" after each.
 *
 * `--cell gpt` trains a small GPT (models/gpt.ts: 2 blocks, width 64, 4 heads) instead; its
 * samples come from the same `models.generate`, with the key/value cache.
 *
 * Run: `deno run -A examples/char_lm.ts [--cell gru|lstm|peephole|rnn|gpt] [--epochs 40] [--hidden 64] [--file book.txt]`
 *
 * @module
 */
import { init, models, np, optim, random, type Tensor } from "../mod.ts";
import { charDataset, timeMachineOpening } from "../data/text.ts";
import { crossEntropy } from "../layers/losses.ts";
import { makeTrainStep } from "../train/step.ts";

const arg = (name: string, dflt: string): string => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : dflt;
};
const cell = arg("cell", "gru");
const epochs = Number(arg("epochs", "40"));
const hidden = Number(arg("hidden", "64"));
const file = arg("file", "");
const text = (file ? await Deno.readTextFile(file) : timeMachineOpening).toLowerCase();

const { name: backend } = await init();
const seqLen = 32, batch = 32;
const { vocab, x, y } = charDataset(text, { seqLen, stride: 1 });
const V = vocab.size, n = x.shape[0];
console.log(`backend ${backend}; ${text.length} characters, vocabulary ${V}, ${n} windows`);

const lm = cell === "gpt"
  ? models.gpt2({ vocabSize: V, nPositions: 128, nEmbd: hidden, nLayer: 2, nHead: 4 })
  : models.rnnLM({ cell: cell as models.RnnCellKind, vocabSize: V, hidden, embed: 32 });
// deno-lint-ignore no-explicit-any -- the example keeps its model params untyped for brevity
const loss = (p: any, b: { x: Tensor; y: Tensor }) =>
  crossEntropy(np.reshape(lm.apply(p, b.x), [-1, V]), np.reshape(b.y, [-1]));
const opt = optim.chain(optim.clipByGlobalNorm(1), optim.adam({ lr: 0.01 }));
const step = makeTrainStep(loss, opt);
// deno-lint-ignore no-explicit-any -- the example keeps its model params untyped for brevity
let params: any = lm.init(random.key(0));
let optState = opt.init(params);

const prompt = vocab.encode("the time traveller");
for (let epoch = 1; epoch <= epochs; epoch++) {
  const t0 = performance.now();
  const perm = np.astype(random.permutation(random.key(1000 + epoch), n), "i32");
  let sum = 0, count = 0;
  for (let s = 0; s + batch <= n; s += batch) {
    const idx = np.slice(perm, [s], [s + batch]);
    const out = step(params, optState, {
      x: np.take(x, idx, { axis: 0 }),
      y: np.take(y, idx, { axis: 0 }),
    }, random.key(epoch));
    ({ params, optState } = out);
    sum += (await out.loss.item()) as number;
    count++;
  }
  const secs = (performance.now() - t0) / 1000;
  // deno-lint-ignore no-explicit-any -- the example keeps its model params untyped for brevity
  const { tokens } = await models.generate(lm as any, params, [prompt], { maxNewTokens: 50 });
  console.log(
    `epoch ${epoch}: perplexity ${Math.exp(sum / count).toFixed(3)}, ${secs.toFixed(2)} s` +
      ` | the time traveller${vocab.decode(tokens[0])}`,
  );
}
