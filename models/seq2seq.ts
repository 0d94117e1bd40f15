/**
 * Recurrent sequence-to-sequence models [M26, M27] in d2l's layout (§10.7 and §11.4, the
 * PyTorch edition): a GRU encoder and a GRU decoder fed the encoder's context, optionally with
 * Bahdanau additive attention over the encoder's outputs; teacher forcing in training (`apply`),
 * greedy decoding and beam search (beam width, length penalty) for prediction. Train with
 * `nn.losses.maskedSequenceCrossEntropy(logits, targets, { validLens })` and score with
 * `nn.metrics.bleu` / `nn.metrics.d2lBleu`.
 *
 * Parameter names are d2l's: `encoder.embedding.weight`, `encoder.rnn.weight_ih_l0`,
 * `decoder.embedding.weight`, `decoder.rnn.weight_ih_l0`, `decoder.dense.weight` and, with
 * attention, `decoder.attention.W_q.weight`, `decoder.attention.W_k.weight`,
 * `decoder.attention.w_v.weight`.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { logSoftmax } from "../layers/activations.ts";
import { additiveAttention, type AdditiveAttentionParams } from "../layers/attention.ts";
import { embedding, type EmbeddingParams } from "../layers/embedding.ts";
import type { ApplyOptions, Layer } from "../layers/layer.ts";
import { linear, type LinearParams } from "../layers/linear.ts";
import { _splitKeys } from "../layers/_util.ts";
import type { RnnParams } from "../layers/rnn.ts";
import { _checkPositive } from "./_common.ts";
import { _checkIds, _seqLayer } from "./rnn_lm.ts";

/** Config of {@link seq2seqGru}. */
export interface Seq2SeqGruConfig {
  /** Source vocabulary size. */
  srcVocab: number;
  /** Target vocabulary size. */
  tgtVocab: number;
  /** Embedding size (both sides). */
  embed: number;
  /** GRU hidden size H. */
  hidden: number;
  /** GRU layers (default 1). */
  layers?: number;
  /** Dropout between GRU layers in training (default 0). */
  dropout?: number;
  /** Bahdanau additive attention over the encoder's outputs (default false) [M27]. */
  attention?: boolean;
}

/** Parameters of {@link seq2seqGru} (d2l's names). */
export interface Seq2SeqGruParams {
  /** `encoder.embedding`, `encoder.rnn`. */
  encoder: { embedding: EmbeddingParams; rnn: RnnParams };
  /** `decoder.embedding`, `decoder.rnn`, `decoder.dense`, `decoder.attention` (with attention). */
  decoder: {
    embedding: EmbeddingParams;
    rnn: RnnParams;
    dense: LinearParams;
    attention?: AdditiveAttentionParams;
  };
}

/** Input of {@link seq2seqGru}: source ids, teacher-forced target ids, valid source lengths. */
export interface Seq2SeqGruInput {
  /** i32[batch, S]. */
  src: Tensor;
  /** i32[batch, T]: `<bos>` then the target shifted right. */
  tgt: Tensor;
  /** i32[batch]: real (unpadded) source lengths; attention ignores the rest (default S). */
  srcValidLens?: Tensor;
}

/** The encoder's results the decoder reads. */
export interface EncoderState {
  /** The top layer's outputs f32[batch, S, H]. */
  outputs: Tensor;
  /** The final hidden state f32[L, batch, H] (the decoder's initial state). */
  h: Tensor;
  /** i32[batch] valid source lengths, if given. */
  validLens?: Tensor;
}

/** A recurrent seq2seq model: teacher-forced `apply`, plus `encode` and `decodeStep`. */
export interface Seq2SeqGru extends Layer<Seq2SeqGruParams, Seq2SeqGruInput, Tensor> {
  /** The config, defaults filled in. */
  readonly config: Required<Seq2SeqGruConfig>;
  /** Runs the encoder: src i32[batch, S]. */
  encode(p: Seq2SeqGruParams, src: Tensor, validLens?: Tensor, opts?: ApplyOptions): EncoderState;
  /** One decoder step: ids i32[batch] and the decoder state h f32[L, batch, H] → logits f32[batch, V]. */
  decodeStep(
    p: Seq2SeqGruParams,
    enc: EncoderState,
    h: Tensor,
    ids: Tensor,
  ): { logits: Tensor; h: Tensor };
}

/**
 * d2l's GRU encoder-decoder [M26] and, with `attention: true`, its Bahdanau attention decoder
 * [M27]. Encoder: `(o_1…o_S, h_S) = GRU(E_src[src])`. Decoder without attention: context
 * `c = h_S` (the encoder's top layer), `s_t = GRU([E_tgt[y_{t−1}] ; c], s_{t−1})` from `s_0 = h_S`;
 * with attention, `c_t = Σ_j α_tj o_j`, `α_t = maskedSoftmax(w_vᵀ tanh(W_q s_{t−1}^{top} +
 * W_k o_j))` over the valid source positions, and `s_t = GRU([c_t ; E_tgt[y_{t−1}]], s_{t−1})`
 * (d2l's orders). Logits `W_dense s_t^{top} + b`. As in d2l, the encoder reads the padding
 * too; attention ignores it (`srcValidLens`); the context of the plain decoder is the encoder's
 * (d2l 1.0), at training and prediction alike.
 *
 * Input {@link Seq2SeqGruInput}, output f32[batch, T, tgtVocab].
 *
 * Seeds: S2 L2136 (seq2seq, BLEU), d2l §10.6–10.8, §11.4 (CATALOG M26, M27).
 *
 * @param config {@link Seq2SeqGruConfig}.
 * @returns The model.
 * @throws {RangeError} For non-positive sizes.
 * @throws {TypeError} From `apply`, for ids not `[batch, seq]` integers or batches that differ.
 * @throws {RangeError} From `apply`, for (concrete) ids outside the vocabularies.
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const net = models.seq2seqGru({ srcVocab: 10, tgtVocab: 12, embed: 8, hidden: 16, attention: true });
 * const p = net.init(random.key(0));
 * const y = net.apply(p, {
 *   src: np.array([[3, 4, 5, 1]], { dtype: "i32" }),
 *   tgt: np.array([[2, 6, 7]], { dtype: "i32" }),
 *   srcValidLens: np.array([3], { dtype: "i32" }),
 * });
 * console.log(String(y)); // Tensor(f32[1,3,12])
 * if (String(y) !== "Tensor(f32[1,3,12])") throw new Error(`got ${y}`);
 * ```
 */
export function seq2seqGru(config: Seq2SeqGruConfig): Seq2SeqGru {
  const cfg: Required<Seq2SeqGruConfig> = { layers: 1, dropout: 0, attention: false, ...config };
  const model =
    `seq2seqGru(src=${cfg.srcVocab}, tgt=${cfg.tgtVocab}, H=${cfg.hidden}, L=${cfg.layers}${
      cfg.attention ? ", attention" : ""
    })`;
  for (const k of ["srcVocab", "tgtVocab", "embed", "hidden", "layers"] as const) {
    _checkPositive(model, k, cfg[k]);
  }
  const { embed: E, hidden: H, layers: L } = cfg;
  const srcEmb = embedding({ numEmbeddings: cfg.srcVocab, embeddingDim: E });
  const tgtEmb = embedding({ numEmbeddings: cfg.tgtVocab, embeddingDim: E });
  const enc = _seqLayer(model, "gru", E, H, L, false, cfg.dropout);
  const dec = _seqLayer(model, "gru", E + H, H, L, false, cfg.dropout);
  const dense = linear({ inFeatures: H, outFeatures: cfg.tgtVocab });
  const att = cfg.attention ? additiveAttention({ querySize: H, keySize: H, numHiddens: H }) : null;
  const top = (h: Tensor) => np.squeeze(np.slice(h, [L - 1, 0, 0], [L, h.shape[1], H]), 0);

  const encode = (
    p: Seq2SeqGruParams,
    src: Tensor,
    validLens?: Tensor,
    opts: ApplyOptions = {},
  ): EncoderState => {
    const s = _checkIds(`${model} (source)`, src, cfg.srcVocab);
    const r = enc.apply(p.encoder.rnn, srcEmb.apply(p.encoder.embedding, s), opts);
    if (validLens && (validLens.ndim !== 1 || validLens.shape[0] !== src.shape[0])) {
      throw new TypeError(
        `${model}: srcValidLens must be [${src.shape[0]}] (one per source), got ${validLens.aval}`,
      );
    }
    return { outputs: r.output, h: r.hN, validLens };
  };
  // one step of the attention decoder: x f32[B, E]
  const attStep = (p: Seq2SeqGruParams, e: EncoderState, h: Tensor, x: Tensor) => {
    const q = np.expandDims(top(h), 1); // [B, 1, H]
    const ctx = att!.apply(p.decoder.attention!, {
      queries: q,
      keys: e.outputs,
      values: e.outputs,
    }, { validLens: e.validLens }).output; // [B, 1, H]
    const inp = np.concatenate([ctx, np.expandDims(x, 1)], -1);
    const r = dec.apply(p.decoder.rnn, inp, { h0: h });
    return { out: r.output, h: r.hN }; // out [B, 1, H]
  };
  const decodeStep = (p: Seq2SeqGruParams, e: EncoderState, h: Tensor, ids: Tensor) => {
    const B = h.shape[1];
    if (ids.ndim !== 1 || ids.shape[0] !== B) {
      throw new TypeError(`${model}.decodeStep expects ids [${B}], got ${ids.aval}`);
    }
    const x = tgtEmb.apply(
      p.decoder.embedding,
      _checkIds(`${model} (target)`, np.reshape(ids, [B, 1]), cfg.tgtVocab),
    );
    if (att) {
      const r = attStep(p, e, h, np.reshape(x, [B, E]));
      return { logits: np.reshape(dense.apply(p.decoder.dense, r.out), [B, cfg.tgtVocab]), h: r.h };
    }
    const inp = np.concatenate([x, np.expandDims(top(e.h), 1)], -1);
    const r = dec.apply(p.decoder.rnn, inp, { h0: h });
    return {
      logits: np.reshape(dense.apply(p.decoder.dense, r.output), [B, cfg.tgtVocab]),
      h: r.hN,
    };
  };

  return {
    name: model,
    config: cfg,
    init(key: Tensor): Seq2SeqGruParams {
      const k = _splitKeys(key, 6);
      const decoder: Seq2SeqGruParams["decoder"] = {
        embedding: tgtEmb.init(k[2]),
        rnn: dec.init(k[3]),
        dense: dense.init(k[4]),
      };
      if (att) decoder.attention = att.init(k[5]);
      return { encoder: { embedding: srcEmb.init(k[0]), rnn: enc.init(k[1]) }, decoder };
    },
    apply(p: Seq2SeqGruParams, x: Seq2SeqGruInput, opts: ApplyOptions = {}): Tensor {
      if (x.src.ndim !== 2 || x.tgt.ndim !== 2 || x.src.shape[0] !== x.tgt.shape[0]) {
        throw new TypeError(
          `${model} expects src [batch, S] and tgt [batch, T] of one batch, got ${x.src.aval} and ${x.tgt.aval}`,
        );
      }
      const [k1, k2] = opts.key ? _splitKeys(opts.key, 2) : [undefined, undefined];
      const e = encode(p, x.src, x.srcValidLens, { train: opts.train, key: k1 });
      const t = _checkIds(`${model} (target)`, x.tgt, cfg.tgtVocab);
      const emb = tgtEmb.apply(p.decoder.embedding, t); // [B, T, E]
      const [B, T] = t.shape;
      if (!att) {
        const ctx = np.broadcastTo(np.expandDims(top(e.h), 1), [B, T, H]);
        const r = dec.apply(p.decoder.rnn, np.concatenate([emb, ctx], -1), {
          h0: e.h,
          train: opts.train,
          key: k2,
        });
        return dense.apply(p.decoder.dense, r.output);
      }
      let h = e.h;
      const outs: Tensor[] = [];
      for (let i = 0; i < T; i++) {
        const x_i = np.squeeze(np.slice(emb, [0, i, 0], [B, i + 1, E]), 1);
        const r = attStep(p, e, h, x_i);
        outs.push(r.out);
        h = r.h;
      }
      return dense.apply(p.decoder.dense, np.concatenate(outs, 1));
    },
    encode,
    decodeStep,
  };
}

/** Options of {@link beamSearch} and {@link greedyTranslate}. */
export interface TranslateOptions {
  /** The `<bos>` id fed first. */
  bos: number;
  /** The `<eos>` id that ends a hypothesis. */
  eos: number;
  /** The most tokens to generate (default 20). */
  maxLen?: number;
  /** Beams kept per step (beamSearch only; default 4; 1 is greedy). */
  beamWidth?: number;
  /** α of the length penalty: hypotheses rank by log P / L^α (beamSearch only; default 0.75, d2l §10.8). */
  lengthPenalty?: number;
  /**
   * Pad the source to this length, as in training (d2l's `truncate_pad`): the GRU encoder reads
   * padding, so a model trained on padded sources should translate padded ones (default: no
   * padding). Attention still ignores the padding (the valid length is the source's).
   */
  padTo?: number;
  /** The padding id used by `padTo` (default 0, `<pad>` of `data.Vocab`). */
  padId?: number;
}

/** A decoded translation. */
export interface Translation {
  /** Target ids, without `<bos>`, up to (and without) `<eos>`. */
  tokens: number[];
  /** Its score: log P / L^α (greedy: log P). */
  score: number;
}

/**
 * Translates one source sentence greedily (d2l's `predict_seq2seq`): feed `<bos>`, then each
 * argmax, until `<eos>` or `maxLen` tokens.
 *
 * @param model The seq2seq model.
 * @param p Its parameters.
 * @param src Source ids (one sentence, unpadded).
 * @param opts {@link TranslateOptions}.
 * @returns A promise of the translation.
 * @throws {RangeError} For an empty source or ids outside the vocabularies.
 * @example
 * ```ts
 * import { models, random } from "@denax/denax";
 *
 * const net = models.seq2seqGru({ srcVocab: 10, tgtVocab: 12, embed: 4, hidden: 8 });
 * const t = await models.greedyTranslate(net, net.init(random.key(0)), [3, 4], { bos: 1, eos: 2, maxLen: 5 });
 * console.log(t.tokens.length <= 5); // true: at most maxLen tokens
 * if (t.tokens.length > 5) throw new Error(`got ${t.tokens.length} tokens`);
 * ```
 */
export function greedyTranslate(
  model: Seq2SeqGru,
  p: Seq2SeqGruParams,
  src: readonly number[],
  opts: TranslateOptions,
): Promise<Translation> {
  return beamSearch(model, p, src, { ...opts, beamWidth: 1, lengthPenalty: 0 });
}

/**
 * Beam search (d2l §10.8): keep the `beamWidth` most probable partial translations; each step
 * extends every live hypothesis by every token (one batched decoder step over the beams) and
 * keeps the best `beamWidth` of them; a hypothesis ending in `<eos>` is finished. The result is
 * the finished (or, at `maxLen`, live) hypothesis of the best `log P / L^α`, L its length
 * counting `<eos>`. `beamWidth: 1` is greedy decoding.
 *
 * @param model The seq2seq model.
 * @param p Its parameters.
 * @param src Source ids (one sentence, unpadded).
 * @param opts {@link TranslateOptions}.
 * @returns A promise of the best translation.
 * @throws {RangeError} For an empty source, a non-positive beam width or maxLen, or ids outside
 *   the vocabularies.
 * @example
 * ```ts
 * import { models, random } from "@denax/denax";
 *
 * const net = models.seq2seqGru({ srcVocab: 10, tgtVocab: 12, embed: 4, hidden: 8, attention: true });
 * const t = await models.beamSearch(net, net.init(random.key(0)), [3, 4, 5], { bos: 1, eos: 2, beamWidth: 3 });
 * console.log(t.score); // log P / L^α of the best hypothesis: ≤ 0
 * if (!(t.score <= 0)) throw new Error(`got ${t.score}`);
 * ```
 */
export async function beamSearch(
  model: Seq2SeqGru,
  p: Seq2SeqGruParams,
  src: readonly number[],
  opts: TranslateOptions,
): Promise<Translation> {
  const K = opts.beamWidth ?? 4, maxLen = opts.maxLen ?? 20, alpha = opts.lengthPenalty ?? 0.75;
  const V = model.config.tgtVocab;
  if (src.length === 0) throw new RangeError(`beamSearch(${model.name}): empty source`);
  _checkPositive(`beamSearch(${model.name})`, "beamWidth", K);
  _checkPositive(`beamSearch(${model.name})`, "maxLen", maxLen);
  for (const id of [opts.bos, opts.eos]) {
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new RangeError(
        `beamSearch(${model.name}): bos/eos id ${id} is outside the target vocabulary of ${V}`,
      );
    }
  }
  for (const id of src) {
    if (!Number.isInteger(id) || id < 0 || id >= model.config.srcVocab) {
      throw new RangeError(
        `beamSearch(${model.name}): source id ${id} is outside the vocabulary of ${model.config.srcVocab}`,
      );
    }
  }
  const padded = [
    ...src,
    ...new Array(Math.max(0, (opts.padTo ?? 0) - src.length)).fill(opts.padId ?? 0),
  ];
  const e1 = model.encode(
    p,
    np.array([padded], { dtype: "i32" }),
    np.array([src.length], { dtype: "i32" }),
  );
  const rep = (t: Tensor, n: number, axis: number) => np.take(t, np.zeros([n], "i32"), { axis });
  const norm = (logp: number, len: number) => logp / Math.pow(len, alpha);
  let beams = [{ tokens: [] as number[], logp: 0 }];
  let h = e1.h; // [L, beams, H]
  const finished: Translation[] = [];
  for (let step = 0; step < maxLen && beams.length > 0; step++) {
    const n = beams.length;
    const enc = { outputs: rep(e1.outputs, n, 0), h: rep(e1.h, n, 1) };
    const last = beams.map((b) => (b.tokens.length ? b.tokens[b.tokens.length - 1] : opts.bos));
    const r = model.decodeStep(p, enc, h, np.array(last, { dtype: "i32" }));
    const lp = (await logSoftmax(r.logits, { axis: -1 }).data()) as Float32Array;
    const cands: { beam: number; tok: number; logp: number }[] = [];
    for (let b = 0; b < n; b++) {
      for (let v = 0; v < V; v++) {
        cands.push({ beam: b, tok: v, logp: beams[b].logp + lp[b * V + v] });
      }
    }
    cands.sort((a, b) => b.logp - a.logp);
    const next: { beam: number; tokens: number[]; logp: number }[] = [];
    for (const c of cands) {
      if (next.length >= K) break;
      const tokens = [...beams[c.beam].tokens, c.tok];
      if (c.tok === opts.eos) {
        finished.push({ tokens: tokens.slice(0, -1), score: norm(c.logp, tokens.length) });
        if (K === 1) break;
        continue;
      }
      next.push({ beam: c.beam, tokens, logp: c.logp });
    }
    if (K === 1 && finished.length > 0) break;
    beams = next.map(({ tokens, logp }) => ({ tokens, logp }));
    if (beams.length > 0) {
      h = np.take(r.h, np.array(next.map((c) => c.beam), { dtype: "i32" }), { axis: 1 });
    }
  }
  for (const b of beams) finished.push({ tokens: b.tokens, score: norm(b.logp, b.tokens.length) });
  finished.sort((a, b) => b.score - a.score);
  return finished[0];
}
