/**
 * Tokens per second of greedy GPT generation (models/gpt.ts, models/generate.ts) with the
 * key/value cache — `generate`: one jitted step per token, O(t) work at position t — and
 * without it — the whole sequence padded to the model's length through one jitted `apply`
 * per token, O(P²) work, reading the logits of the last real position (a causal model ignores
 * the padding after it). Both compile once; the first (warm-up) run is not timed.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno run -A bench/generate_bench.ts [--tokens 64] [--layers 2] [--width 64]`
 *
 * @module
 */
import { init, jit, models, np, random, type Tensor } from "../mod.ts";

const arg = (name: string, dflt: number): number => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
};
const N = arg("tokens", 64), L = arg("layers", 2), d = arg("width", 64);
const { name: backend } = await init();
const P = 128, V = 256;
const gpt = models.gpt2({ vocabSize: V, nPositions: P, nEmbd: d, nLayer: L, nHead: 4 });
const params = gpt.init(random.key(0));
const prompt = [[1, 2, 3, 4, 5, 6, 7, 8]];

async function withCache(): Promise<number[]> {
  return (await models.generate(gpt, params, prompt, { maxNewTokens: N })).tokens[0];
}

const full = jit((p: models.Gpt2Params, ids: Tensor) => gpt.apply(p, ids));
async function withoutCache(): Promise<number[]> {
  const seq = [...prompt[0]];
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const padded = [...seq, ...new Array(P - seq.length).fill(0)];
    const logits = full(params, np.array([padded], { dtype: "i32" }));
    const last = np.slice(logits, [0, seq.length - 1, 0], [1, seq.length, V]);
    const next = ((await np.argmax(last, { axis: -1 }).toArray()) as number[][])[0][0];
    seq.push(next);
    out.push(next);
  }
  return out;
}

const rows: string[] = [];
let ref: number[] | null = null;
for (const [name, fn] of [["kv cache", withCache], ["no cache", withoutCache]] as const) {
  const warm = await fn();
  ref ??= warm;
  if (warm.join() !== ref.join()) throw new Error(`${name}: tokens differ from the cached run`);
  const t0 = performance.now();
  await fn();
  const s = (performance.now() - t0) / 1000;
  rows.push(`${name}: ${(N / s).toFixed(1)} tokens/s (${N} tokens in ${s.toFixed(2)} s)`);
}
console.log(`GPT-2 d=${d} L=${L} P=${P} V=${V}, prompt 8, ${N} new tokens, backend ${backend}`);
for (const r of rows) console.log("  " + r);
