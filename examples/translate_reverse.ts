/**
 * Trains the seq2seq models on a synthetic translation task the repository generates: a
 * sentence of 3–7 digit words ("three one four") translates to its digits reversed ("4 1 3").
 * Both d2l's GRU encoder-decoder with Bahdanau attention (models/seq2seq.ts) and the
 * Transformer (models/transformer.ts) learn it with teacher forcing and masked cross-entropy;
 * after training, held-out sentences are translated (beam search for the GRU, cached greedy
 * decoding for the Transformer) and scored with d2l's BLEU (k = 2, averaged) and corpus BLEU.
 *
 * Run: `deno run -A examples/translate_reverse.ts [--epochs 30] [--model gru|transformer|both]`
 *
 * @module
 */
import { init, models, nn, np, optim, random, type Tensor } from "../mod.ts";
import { WordVocab } from "../data/vocab.ts";
import { makeTrainStep } from "../train/step.ts";

const arg = (name: string, dflt: string): string => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < Deno.args.length ? Deno.args[i + 1] : dflt;
};
const epochs = Number(arg("epochs", "30"));
const which = arg("model", "both");
const { name: backend } = await init();

const NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
let seed = 12345;
const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 4294967296);
function pair(): [string, string] {
  const n = 3 + Math.floor(rand() * 5);
  const d = Array.from({ length: n }, () => Math.floor(rand() * 10));
  return [d.map((x) => NAMES[x]).join(" "), [...d].reverse().join(" ")];
}
const train = Array.from({ length: 1024 }, pair), test = Array.from({ length: 50 }, pair);
const srcV = WordVocab.build(train.map((p) => p[0]));
const tgtV = WordVocab.build(train.map((p) => p[1]));
const L = 9; // 7 words + <eos> (+ <bos> on the decoder side)
const src = srcV.encodeBatch(train.map((p) => p[0]), { length: L });
const out = tgtV.encodeBatch(train.map((p) => p[1]), { length: L });
const decIn = tgtV.encodeBatch(train.map((p) => p[1]), { length: L, bos: true, eos: false });
const i32 = (a: number[] | number[][]) => np.array(a, { dtype: "i32" });
const data = {
  src: i32(src.ids),
  srcValid: i32(src.validLens),
  tgtIn: i32(decIn.ids),
  tgtOut: i32(out.ids),
  tgtValid: i32(out.validLens),
};
console.log(
  `backend ${backend}; ${train.length} training pairs, e.g. "${train[0][0]}" → "${train[0][1]}"`,
);

type Batch = typeof data;
async function fit<P>(name: string, apply: (p: P, b: Batch) => Tensor, params: P): Promise<P> {
  const loss = (p: P, b: Batch) =>
    nn.losses.maskedSequenceCrossEntropy(apply(p, b), b.tgtOut, { validLens: b.tgtValid });
  const opt = optim.chain(optim.clipByGlobalNorm(1), optim.adam({ lr: 0.005 }));
  const step = makeTrainStep(loss, opt);
  let optState = opt.init(params);
  const B = 64, n = train.length;
  for (let e = 1; e <= epochs; e++) {
    const t0 = performance.now();
    const perm = np.astype(random.permutation(random.key(e), n), "i32");
    let sum = 0, k = 0;
    for (let s = 0; s < n; s += B) {
      const idx = np.slice(perm, [s], [s + B]);
      const b = Object.fromEntries(
        Object.entries(data).map(([key, t]) => [key, np.take(t, idx, { axis: 0 })]),
      ) as Batch;
      const r = step(params, optState, b, random.key(1000 * e + k));
      ({ params, optState } = r);
      sum += (await r.loss.item()) as number;
      k++;
    }
    if (e % 5 === 0 || e === epochs) {
      const secs = ((performance.now() - t0) / 1000).toFixed(2);
      console.log(`${name} epoch ${e}: loss ${(sum / k).toFixed(4)}, ${secs} s/epoch`);
    }
  }
  return params;
}

function score(name: string, preds: string[]) {
  const refs = test.map((p) => p[1].split(" "));
  const d2l = preds.reduce((a, p, i) => a + nn.metrics.d2lBleu(p.split(" "), refs[i], 2), 0) /
    test.length;
  const corpus = nn.metrics.bleu(preds.map((p) => p.split(" ")), refs.map((r) => [r]));
  const exact = preds.filter((p, i) => p === test[i][1]).length / test.length;
  console.log(
    `${name}: d2l BLEU ${d2l.toFixed(3)}, corpus BLEU ${corpus.toFixed(3)}, exact ${
      (100 * exact).toFixed(0)
    }%`,
  );
  for (let i = 0; i < 3; i++) console.log(`  ${test[i][0]} → ${preds[i]}`);
}

if (which === "gru" || which === "both") {
  const net = models.seq2seqGru({
    srcVocab: srcV.size,
    tgtVocab: tgtV.size,
    embed: 32,
    hidden: 64,
    attention: true,
  });
  const p = await fit(
    "GRU+attention",
    (p, b) => net.apply(p, { src: b.src, tgt: b.tgtIn, srcValidLens: b.srcValid }),
    net.init(random.key(0)),
  );
  const preds: string[] = [];
  for (const [s] of test) {
    const t = await models.beamSearch(net, p, srcV.encode(s, { eos: true }), {
      bos: tgtV.vocab.bos,
      eos: tgtV.vocab.eos,
      maxLen: L,
      beamWidth: 3,
      padTo: L,
    });
    preds.push(tgtV.decode(t.tokens));
  }
  score("GRU+attention (beam 3)", preds);
}

if (which === "transformer" || which === "both") {
  const net = models.seq2seqTransformer({
    srcVocab: srcV.size,
    tgtVocab: tgtV.size,
    dModel: 32,
    nhead: 4,
    numEncoderLayers: 2,
    numDecoderLayers: 2,
    dimFeedforward: 64,
    dropout: 0,
    maxLen: 16,
    padId: 0,
  });
  const p = await fit(
    "Transformer",
    (p, b) => net.apply(p, { src: b.src, tgt: b.tgtIn }),
    net.init(random.key(0)),
  );
  const srcs = srcV.encodeBatch(test.map((t) => t[0]), { length: L });
  const dec = net.decoderFor(p, i32(srcs.ids));
  const { tokens } = await models.generate(dec, p, test.map(() => [tgtV.vocab.bos]), {
    maxNewTokens: L,
    stopToken: tgtV.vocab.eos,
  });
  score("Transformer (greedy, kv cache)", tokens.map((t) => tgtV.decode(t)));
}
