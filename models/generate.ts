/**
 * Text generation for any language model that decodes one token at a time from a cache
 * ({@link IncrementalLM}: {@link gpt2}'s key/value cache, a recurrent LM's hidden state):
 * greedy decoding and sampling with temperature, top-k and top-p (nucleus), seeded by a PRNG key,
 * with a stop token. The whole step — the model's step and the sampling — is one jitted
 * function, so a generation of any length traces and compiles once.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { jit, type Jitted } from "../core/transforms.ts";
import { softmax } from "../layers/activations.ts";
import { _splitKeys } from "../layers/_util.ts";

/** What one decoding step returns: next-token logits f32[batch, V] and the updated cache. */
export interface StepOutput<C> {
  /** f32[batch, V]. */
  logits: Tensor;
  /** The state after the step. */
  cache: C;
}

/**
 * A language model that decodes one token at a time from a cache: what {@link generate} drives.
 * Implemented by `gpt2` and `rnnLM` (unidirectional).
 */
export interface IncrementalLM<P, C> {
  /** The model's name, for error messages. */
  readonly name: string;
  /** Vocabulary size V. */
  readonly vocabSize: number;
  /** The longest sequence the model can hold (prompt + generated), or Infinity. */
  readonly maxLength: number;
  /** A fresh (empty) cache for `batch` sequences of at most `maxLen` positions. */
  initCache(batch: number, maxLen?: number): C;
  /** Feeds one token per sequence, ids i32[batch], at the cache's position. Pure: jit it. */
  step(params: P, cache: C, ids: Tensor): StepOutput<C>;
}

/** How to pick the next token from logits. */
export interface SampleOptions {
  /** Pick the most likely token (default false; true when no key is given to {@link generate}). */
  greedy?: boolean;
  /** Divide the logits by this (default 1): below 1 sharpens, above 1 flattens. */
  temperature?: number;
  /** Keep only the k most likely tokens (default: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (default 1). */
  topP?: number;
}

/**
 * Picks the next token of every row of `logits` f32[batch, V]: `argmax` when greedy; otherwise
 * a draw from `softmax(logits / temperature)` restricted to the top-k tokens and to the nucleus
 * (the most likely tokens whose cumulative probability first reaches `topP`; the most likely
 * token is always kept), via `random.categorical`.
 *
 * @param key A PRNG key (ignored when greedy).
 * @param logits f32[batch, V].
 * @param opts {@link SampleOptions}.
 * @returns i32[batch].
 * @throws {RangeError} For temperature ≤ 0, topK outside [1, V] or topP outside (0, 1].
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const logits = np.array([[0, 5, 1], [3, 0, 0]]);
 * const y = models.sampleLogits(random.key(0), logits, { greedy: true });
 * console.log(await y.toArray()); // [1, 0]
 * const err = await y.sub([1, 0]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * const out = models.sampleLogits(random.key(0), logits, { topK: 1 });
 * console.log(await out.toArray()); // [1, 0]
 * const diff = await out.sub([1, 0]).abs().max().item();
 * if (Number(diff) > 1e-5) throw new Error(`off by ${diff}`);
 * ```
 */
export function sampleLogits(key: Tensor, logits: Tensor, opts: SampleOptions = {}): Tensor {
  const V = logits.shape[logits.ndim - 1];
  if (opts.greedy) return np.astype(np.argmax(logits, { axis: -1 }), "i32");
  const temp = opts.temperature ?? 1;
  if (!(temp > 0)) throw new RangeError(`sampleLogits: temperature must be > 0, got ${temp}`);
  let l = np.divide(np.astype(logits, "f32"), temp);
  if (opts.topK !== undefined) {
    if (!Number.isInteger(opts.topK) || opts.topK < 1 || opts.topK > V) {
      throw new RangeError(
        `sampleLogits: topK must be an integer in [1, ${V}] (the vocabulary of ${logits.aval}), got ${opts.topK}`,
      );
    }
    const kth = np.min(np.topK(l, opts.topK)[0], { axis: -1, keepdims: true });
    l = np.where(np.less(l, kth), -Infinity, l);
  }
  if (opts.topP !== undefined && opts.topP < 1) {
    if (!(opts.topP > 0)) {
      throw new RangeError(`sampleLogits: topP must be in (0, 1], got ${opts.topP}`);
    }
    const sorted = np.sort(l, { axis: -1, descending: true });
    const probs = softmax(sorted, { axis: -1 });
    const before = np.subtract(np.cumsum(probs, { axis: -1 }), probs); // mass of better tokens
    const kept = np.where(np.less(before, opts.topP), sorted, Infinity);
    const cut = np.min(kept, { axis: -1, keepdims: true });
    l = np.where(np.less(l, cut), -Infinity, l);
  }
  return np.astype(random.categorical(key, l, { axis: -1 }), "i32");
}

/** The jitted step of a model: its `step` followed by sampling, carrying cache and key. */
export type GenerateStep<P = unknown, C = unknown> = (
  params: P,
  cache: C,
  ids: Tensor,
  key: Tensor,
) => { next: Tensor; cache: C; key: Tensor };

const _steps = new WeakMap<object, Map<string, Jitted<GenerateStep<never, never>>>>();

/** The jitted step (model step + sampling) of a model and sampling options, made once. */
function _stepFn<P, C>(lm: IncrementalLM<P, C>, sample: SampleOptions): Jitted<GenerateStep<P, C>> {
  let m = _steps.get(lm);
  if (!m) _steps.set(lm, m = new Map());
  const k = JSON.stringify(sample);
  // one map serves every model type: the entries of `lm` were made by this function for P, C
  let f = m.get(k) as Jitted<GenerateStep<P, C>> | undefined;
  if (!f) {
    f = jit((p: P, cache: C, ids: Tensor, key: Tensor) => {
      const { logits, cache: next } = lm.step(p, cache, ids);
      const [k1, k2] = _splitKeys(key, 2);
      return { next: sampleLogits(k1, logits, sample), cache: next, key: k2 };
    });
    m.set(k, f as unknown as Jitted<GenerateStep<never, never>>);
  }
  return f;
}

/** Options of {@link generate}. */
export interface GenerateOptions extends SampleOptions {
  /** Number of tokens to generate after the prompt. */
  maxNewTokens: number;
  /** A PRNG key for sampling; without one, decoding is greedy. */
  key?: Tensor;
  /** Stop a sequence when it emits this token (kept in the output); stop all when all have. */
  stopToken?: number;
  /** Cache length (default prompt + maxNewTokens). */
  cacheLength?: number;
}

/** What {@link generate} returns. */
export interface GenerateResult<P = unknown, C = unknown> {
  /** The generated tokens of every sequence (after the prompt, up to and including a stop token). */
  tokens: number[][];
  /**
   * The jitted step function, shared by every generation with this model and these sampling
   * options (`traceCount` stays 1 across generations of one batch size and cache length).
   */
  stepFn: Jitted<GenerateStep<P, C>>;
}

/**
 * Generates `maxNewTokens` tokens after `prompt` for every sequence of a batch. The prompt is
 * fed one position at a time through the same jitted step as the generation (the model's `step`
 * followed by {@link sampleLogits}), so the program is traced and compiled once for any prompt
 * and output length, and reused by later calls with the same model, sampling options, batch
 * size and cache length. Tokens after a sequence's stop token are not returned.
 *
 * @param lm The model ({@link IncrementalLM}).
 * @param params Its parameters.
 * @param prompt Token ids, one non-empty array per sequence, all of one length.
 * @param opts {@link GenerateOptions}.
 * @returns A promise of `{ tokens, stepFn }`.
 * @throws {RangeError} For ids outside the vocabulary, an empty or ragged prompt, or a prompt
 *   plus `maxNewTokens` longer than the model's positional table or the cache.
 * @example
 * ```ts
 * import { models, random } from "@denax/denax";
 *
 * const gpt = models.gpt2({ vocabSize: 20, nPositions: 16, nEmbd: 8, nLayer: 1, nHead: 2 });
 * const p = gpt.init(random.key(0));
 * const { tokens, stepFn } = await models.generate(gpt, p, [[1, 2, 3]], { maxNewTokens: 4 });
 * console.log(tokens[0].length, stepFn.traceCount); // 4 1: one trace serves every step
 * if (tokens[0].length !== 4 || stepFn.traceCount !== 1) throw new Error("expected 4 tokens, 1 trace");
 * ```
 */
export async function generate<P, C>(
  lm: IncrementalLM<P, C>,
  params: P,
  prompt: readonly (readonly number[])[],
  opts: GenerateOptions,
): Promise<GenerateResult<P, C>> {
  const B = prompt.length, T = prompt[0]?.length ?? 0, N = opts.maxNewTokens;
  if (B === 0 || T === 0 || prompt.some((r) => r.length !== T)) {
    throw new RangeError(
      `generate(${lm.name}): the prompt must be one non-empty row of one length per sequence, got lengths [${
        prompt.map((r) => r.length)
      }]`,
    );
  }
  if (!Number.isInteger(N) || N < 1) {
    throw new RangeError(`generate(${lm.name}): maxNewTokens must be a positive integer, got ${N}`);
  }
  for (const r of prompt) {
    for (const t of r) {
      if (!Number.isInteger(t) || t < 0 || t >= lm.vocabSize) {
        throw new RangeError(
          `generate(${lm.name}): token id ${t} is outside the vocabulary of ${lm.vocabSize}`,
        );
      }
    }
  }
  // the last generated token is never fed back, so the cache holds T + N − 1 positions
  const need = T + N - 1;
  if (need > lm.maxLength) {
    throw new RangeError(
      `generate(${lm.name}): a prompt of ${T} plus ${N} new tokens needs ${need} positions, more than the positional table of ${lm.maxLength}`,
    );
  }
  const len = opts.cacheLength ?? (Number.isFinite(lm.maxLength) ? need : undefined);
  if (len !== undefined && len < need) {
    throw new RangeError(
      `generate(${lm.name}): the cache of ${len} positions is full before a prompt of ${T} plus ${N} new tokens (${need} positions)`,
    );
  }
  const greedy = opts.greedy ?? opts.key === undefined;
  const sample: SampleOptions = {
    greedy,
    temperature: opts.temperature,
    topK: opts.topK,
    topP: opts.topP,
  };
  const stepFn = _stepFn(lm, sample);
  let cache = lm.initCache(B, len);
  let key = opts.key ?? random.key(0);
  let out: Tensor | null = null;
  for (let t = 0; t < T; t++) {
    const r = stepFn(params, cache, np.array(prompt.map((row) => row[t]), { dtype: "i32" }), key);
    cache = r.cache;
    key = r.key;
    out = r.next;
  }
  const tokens: number[][] = prompt.map(() => []);
  const done = prompt.map(() => false);
  for (let i = 0; i < N; i++) {
    const ids = Array.from(await out!.data() as Int32Array);
    ids.forEach((id, b) => {
      if (done[b]) return;
      tokens[b].push(id);
      if (id === opts.stopToken) done[b] = true;
    });
    if (i === N - 1 || done.every((x) => x)) break;
    const r = stepFn(params, cache, out!, key);
    cache = r.cache;
    key = r.key;
    out = r.next;
  }
  return { tokens, stepFn };
}
