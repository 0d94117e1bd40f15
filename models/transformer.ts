/**
 * The Transformer encoder-decoder [M29] (Vaswani et al. 2017) as a sequence-to-sequence model:
 * token embeddings scaled by √d plus sinusoidal positions, PyTorch's `nn.Transformer` (post-norm
 * encoder and decoder stacks, each with a final LayerNorm), and a linear `generator` to target
 * logits, as PyTorch's translation tutorial's `Seq2SeqTransformer`. The parameters under
 * `transformer` are exactly `torch.nn.Transformer`'s `state_dict()`
 * (`encoder.layers.0.self_attn.in_proj_weight`, `…linear1.weight`, `…norm1.weight`,
 * `decoder.layers.0.multihead_attn.in_proj_weight`, `encoder.norm.weight`, `decoder.norm.bias`).
 * `decoderFor(params, src)` decodes one target position at a time with a fixed-size key/value
 * cache for the self-attention (an `IncrementalLM` for `models.generate`, one compiled step).
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { embedding, type EmbeddingParams } from "../layers/embedding.ts";
import type { ApplyOptions, Layer } from "../layers/layer.ts";
import { linear, type LinearParams } from "../layers/linear.ts";
import { _splitKeys } from "../layers/_util.ts";
import { layerNorm } from "../layers/norm.ts";
import {
  sinusoidalEncoding,
  transformerDecoder,
  transformerDecoderLayer,
  type TransformerDecoderLayerParams,
  transformerEncoder,
  transformerEncoderLayer,
  type TransformerEncoderLayerParams,
  type TransformerStackParams,
} from "../layers/transformer.ts";
import { _checkPositive } from "./_common.ts";
import { _checkIds } from "./rnn_lm.ts";
import type { IncrementalLM, StepOutput } from "./generate.ts";
import { checkValue, valueChecksApply } from "../core/checks.ts";
import { softmax } from "../layers/activations.ts";
import type { MultiHeadAttentionParams } from "../layers/attention.ts";

/** Config of {@link seq2seqTransformer}. */
export interface Seq2SeqTransformerConfig {
  /** Source vocabulary size. */
  srcVocab: number;
  /** Target vocabulary size. */
  tgtVocab: number;
  /** Model width d (default 512). */
  dModel?: number;
  /** Heads (default 8). */
  nhead?: number;
  /** Encoder layers (default 6). */
  numEncoderLayers?: number;
  /** Decoder layers (default 6). */
  numDecoderLayers?: number;
  /** Feed-forward width (default 2048). */
  dimFeedforward?: number;
  /** Dropout in training (default 0.1). */
  dropout?: number;
  /** The longest source or target sequence (rows of the positional table; default 512). */
  maxLen?: number;
  /** Padding token id: positions holding it are masked as keys (default: no masking). */
  padId?: number;
}

/** Parameters of `torch.nn.Transformer`: `encoder` and `decoder` stacks with final norms. */
export interface TorchTransformerParams {
  /** `encoder.layers.N.…`, `encoder.norm`. */
  encoder: TransformerStackParams<TransformerEncoderLayerParams>;
  /** `decoder.layers.N.…`, `decoder.norm`. */
  decoder: TransformerStackParams<TransformerDecoderLayerParams>;
}

/** Parameters of {@link seq2seqTransformer}. */
export interface Seq2SeqTransformerParams {
  /** `src_tok_emb.weight` f32[srcVocab, d]. */
  src_tok_emb: EmbeddingParams;
  /** `tgt_tok_emb.weight` f32[tgtVocab, d]. */
  tgt_tok_emb: EmbeddingParams;
  /** `torch.nn.Transformer`'s parameters. */
  transformer: TorchTransformerParams;
  /** `generator.weight` f32[tgtVocab, d], `generator.bias`. */
  generator: LinearParams;
}

/** Input of {@link seq2seqTransformer}: source ids and (shifted, teacher-forced) target ids. */
export interface Seq2SeqInput {
  /** i32[batch, S]. */
  src: Tensor;
  /** i32[batch, T]. */
  tgt: Tensor;
}

/**
 * The decoder's incremental state: the encoder's memory f32[batch, S, d] with its padding mask
 * bool[batch, S] (true = padding), and a self-attention key/value cache
 * f32[layers, 2, batch, heads, maxLen, d/heads] with its position counter (a device scalar).
 */
export interface TransformerDecoderCache {
  /** f32[batch, S, d]. */
  memory: Tensor;
  /** bool[batch, S], true at padded source positions. */
  memoryPad: Tensor;
  /** f32[layers, 2, batch, heads, maxLen, headDim]. */
  kv: Tensor;
  /** i32[]: the next target position. */
  pos: Tensor;
}

/** A sequence-to-sequence transformer; also exposes `encode`, `decode` and cached decoding. */
export interface Seq2SeqTransformer extends Layer<Seq2SeqTransformerParams, Seq2SeqInput, Tensor> {
  /**
   * The decoder as an {@link IncrementalLM} over one batch of sources: `initCache(batch,
   * maxLen)` encodes `src` (batch must be its batch), `step` decodes one target position with a
   * key/value cache, so `generate(model.decoderFor(p, src), p, bos…, { stopToken: eos })`
   * translates with one compiled step.
   */
  decoderFor(
    p: Seq2SeqTransformerParams,
    src: Tensor,
  ): IncrementalLM<Seq2SeqTransformerParams, TransformerDecoderCache>;
  /** The encoder's output ("memory") f32[batch, S, d]. */
  encode(p: Seq2SeqTransformerParams, src: Tensor, opts?: ApplyOptions): Tensor;
  /** Target logits f32[batch, T, tgtVocab] from the memory (causal over the target). */
  decode(
    p: Seq2SeqTransformerParams,
    tgt: Tensor,
    memory: Tensor,
    src: Tensor,
    opts?: ApplyOptions,
  ): Tensor;
}

/**
 * A Transformer translator [M29]: `memory = Encoder(√d·E_src[src] + PE)`, `logits =
 * generator(Decoder(√d·E_tgt[tgt] + PE, memory))` with a causal mask on the target's self-
 * attention and, with `padId`, key-padding masks on the source (encoder and cross-attention)
 * and the target, so a padded position never changes a real position's output. Encoder layer:
 * `x = norm1(x + SA(x)); x = norm2(x + FF(x))`; decoder layer adds `norm2(x + CA(x, memory))`
 * between; FF(x) = W₂ relu(W₁ x + b₁) + b₂ (PyTorch's defaults, batch-first).
 *
 * Input `{ src: i32[batch, S], tgt: i32[batch, T] }` (teacher forcing: tgt is the shifted target,
 * starting with `<bos>`), output f32[batch, T, tgtVocab]. Params: {@link Seq2SeqTransformerParams}.
 *
 * Seeds: S2 L1842 (encoder-decoder transformer), d2l §11.7 (CATALOG M29).
 *
 * @param config {@link Seq2SeqTransformerConfig}.
 * @returns The model.
 * @throws {RangeError} For non-positive sizes or nhead not dividing dModel.
 * @throws {TypeError} From `apply`, for ids that are not `[batch, seq]` integers.
 * @throws {RangeError} From `apply`, for sequences longer than `maxLen` or ids outside the
 *   vocabularies.
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const net = models.seq2seqTransformer({
 *   srcVocab: 10, tgtVocab: 12, dModel: 8, nhead: 2, numEncoderLayers: 1, numDecoderLayers: 1,
 *   dimFeedforward: 16, maxLen: 20, padId: 0,
 * });
 * const p = net.init(random.key(0));
 * const y = net.apply(p, {
 *   src: np.array([[3, 4, 5, 0]], { dtype: "i32" }),
 *   tgt: np.array([[1, 6, 7]], { dtype: "i32" }),
 * });
 * console.log(String(y)); // Tensor(f32[1,3,12])
 * if (String(y) !== "Tensor(f32[1,3,12])") throw new Error(`got ${y}`);
 * ```
 */
export function seq2seqTransformer(config: Seq2SeqTransformerConfig): Seq2SeqTransformer {
  const cfg = {
    dModel: 512,
    nhead: 8,
    numEncoderLayers: 6,
    numDecoderLayers: 6,
    dimFeedforward: 2048,
    dropout: 0.1,
    maxLen: 512,
    ...config,
  };
  const d = cfg.dModel;
  const model =
    `seq2seqTransformer(src=${cfg.srcVocab}, tgt=${cfg.tgtVocab}, d=${d}, h=${cfg.nhead}, ` +
    `${cfg.numEncoderLayers}+${cfg.numDecoderLayers} layers)`;
  for (
    const k of [
      "srcVocab",
      "tgtVocab",
      "dModel",
      "nhead",
      "numEncoderLayers",
      "numDecoderLayers",
      "dimFeedforward",
      "maxLen",
    ] as const
  ) _checkPositive(model, k, cfg[k]);
  if (d % cfg.nhead !== 0) {
    throw new RangeError(`${model}: nhead ${cfg.nhead} does not divide dModel ${d}`);
  }
  const layerCfg = {
    dModel: d,
    nhead: cfg.nhead,
    dimFeedforward: cfg.dimFeedforward,
    dropout: cfg.dropout,
    batchFirst: true,
  };
  const enc = transformerEncoder(transformerEncoderLayer(layerCfg), cfg.numEncoderLayers, {
    norm: layerNorm({ normalizedShape: d }),
  });
  const dec = transformerDecoder(transformerDecoderLayer(layerCfg), cfg.numDecoderLayers, {
    norm: layerNorm({ normalizedShape: d }),
  });
  const srcEmb = embedding({ numEmbeddings: cfg.srcVocab, embeddingDim: d });
  const tgtEmb = embedding({ numEmbeddings: cfg.tgtVocab, embeddingDim: d });
  const gen = linear({ inFeatures: d, outFeatures: cfg.tgtVocab });
  const pe = sinusoidalEncoding(cfg.maxLen, d);
  const embed = (
    table: typeof srcEmb,
    p: EmbeddingParams,
    ids: Tensor,
    vocab: number,
    what: string,
  ) => {
    const t = _checkIds(`${model} (${what})`, ids, vocab);
    const n = t.shape[1];
    if (n > cfg.maxLen) {
      throw new RangeError(
        `${model}: a ${what} of ${n} tokens (${ids.aval}) is longer than the positional table of ${cfg.maxLen}`,
      );
    }
    return np.add(np.multiply(table.apply(p, t), Math.sqrt(d)), np.slice(pe, [0, 0], [n, d]));
  };
  const padMask = (ids: Tensor) => cfg.padId === undefined ? undefined : np.equal(ids, cfg.padId);
  const encode = (p: Seq2SeqTransformerParams, src: Tensor, opts: ApplyOptions = {}) =>
    enc.apply(p.transformer.encoder, embed(srcEmb, p.src_tok_emb, src, cfg.srcVocab, "source"), {
      srcKeyPaddingMask: padMask(src),
      train: opts.train,
      key: opts.key,
    });
  const decode = (
    p: Seq2SeqTransformerParams,
    tgt: Tensor,
    memory: Tensor,
    src: Tensor,
    opts: ApplyOptions = {},
  ) => {
    const x = embed(tgtEmb, p.tgt_tok_emb, tgt, cfg.tgtVocab, "target");
    const y = dec.apply(p.transformer.decoder, { tgt: x, memory }, {
      tgtIsCausal: true,
      tgtKeyPaddingMask: padMask(tgt),
      memoryKeyPaddingMask: padMask(src),
      train: opts.train,
      key: opts.key,
    });
    return gen.apply(p.generator, y);
  };
  const nh = cfg.nhead, hd = d / nh, nDec = cfg.numDecoderLayers;
  const ln = layerNorm({ normalizedShape: d });
  // nn.MultiheadAttention's packed projection: rows [q; k; v] of in_proj_weight
  const proj = (a: MultiHeadAttentionParams, x: Tensor, i: number) => {
    const w = np.slice(a.in_proj_weight!, [i * d, 0], [(i + 1) * d, d]);
    const b = np.slice(a.in_proj_bias!, [i * d], [(i + 1) * d]);
    return np.add(np.matmul(x, np.transpose(w)), b);
  };
  const outProj = (a: MultiHeadAttentionParams, x: Tensor) =>
    np.add(np.matmul(x, np.transpose(a.out_proj.weight)), a.out_proj.bias!);
  const lin = (l: LinearParams, x: Tensor) => np.add(np.matmul(x, np.transpose(l.weight)), l.bias!);
  /** Attention of queries [B, h, 1, hd] over keys/values [B, h, K, hd], `allowed` [B|1, 1, 1, K]. */
  const attend = (q: Tensor, k: Tensor, v: Tensor, allowed: Tensor) => {
    const sc = np.divide(np.matmul(q, np.swapaxes(k, -1, -2)), Math.sqrt(hd));
    return np.matmul(softmax(np.where(allowed, sc, -Infinity), { axis: -1 }), v);
  };
  const decoderFor = (
    p0: Seq2SeqTransformerParams,
    src: Tensor,
  ): IncrementalLM<Seq2SeqTransformerParams, TransformerDecoderCache> => ({
    name: `${model}.decoder`,
    vocabSize: cfg.tgtVocab,
    maxLength: cfg.maxLen,
    initCache(batch: number, maxLen = cfg.maxLen): TransformerDecoderCache {
      if (batch !== src.shape[0]) {
        throw new TypeError(
          `${model}: the decoder was made for ${src.shape[0]} sources (${src.aval}), not ${batch}`,
        );
      }
      if (!Number.isInteger(maxLen) || maxLen < 1 || maxLen > cfg.maxLen) {
        throw new RangeError(
          `${model}: cache length ${maxLen} must be an integer in [1, ${cfg.maxLen}] (the positional table)`,
        );
      }
      const memoryPad = cfg.padId === undefined
        ? np.zeros(src.shape, "bool")
        : np.equal(src, cfg.padId);
      return {
        memory: encode(p0, src),
        memoryPad,
        kv: np.zeros([nDec, 2, batch, nh, maxLen, hd]),
        pos: np.array(0, { dtype: "i32" }),
      };
    },
    step(
      p: Seq2SeqTransformerParams,
      c: TransformerDecoderCache,
      ids: Tensor,
    ): StepOutput<TransformerDecoderCache> {
      const [, , B, , M] = c.kv.shape;
      if (ids.ndim !== 1 || ids.shape[0] !== B) {
        throw new TypeError(`${model}.decoder.step expects ids [${B}], got ${ids.aval}`);
      }
      const t = _checkIds(`${model} (target)`, np.reshape(ids, [B, 1]), cfg.tgtVocab);
      if (valueChecksApply(c.pos)) {
        checkValue(
          np.greaterEqual(c.pos, M),
          c.pos,
          (v) =>
            new RangeError(
              `${model}: the decoder's key/value cache is full (${v} of ${M} positions, cache ${c.kv.aval})`,
            ),
        );
      }
      const S = c.memory.shape[1];
      const heads = (u: Tensor, n: number) => np.swapaxes(np.reshape(u, [B, n, nh, hd]), 1, 2);
      let x = np.add(
        np.multiply(tgtEmb.apply(p.tgt_tok_emb, t), Math.sqrt(d)),
        np.reshape(np.take(pe, c.pos, { axis: 0 }), [1, 1, d]),
      ); // [B, 1, d]
      const slots = np.arange(M);
      const here = np.reshape(np.equal(slots, c.pos), [1, 1, M, 1]);
      const seen = np.reshape(np.lessEqual(slots, c.pos), [1, 1, 1, M]);
      const memAllowed = np.reshape(np.logicalNot(c.memoryPad), [B, 1, 1, S]);
      const layers: Tensor[] = [];
      p.transformer.decoder.layers.forEach((lp, l) => {
        const sa = lp.self_attn;
        const q = heads(proj(sa, x, 0), 1);
        const layer = np.squeeze(np.slice(c.kv, [l, 0, 0, 0, 0, 0], [l + 1, 2, B, nh, M, hd]), 0);
        const kc = np.where(
          here,
          heads(proj(sa, x, 1), 1),
          np.squeeze(np.slice(layer, [0, 0, 0, 0, 0], [1, B, nh, M, hd]), 0),
        );
        const vc = np.where(
          here,
          heads(proj(sa, x, 2), 1),
          np.squeeze(np.slice(layer, [1, 0, 0, 0, 0], [2, B, nh, M, hd]), 0),
        );
        layers.push(np.stack([kc, vc]));
        const merge = (y: Tensor) => np.reshape(np.swapaxes(y, 1, 2), [B, 1, d]);
        x = ln.apply(lp.norm1, np.add(x, outProj(sa, merge(attend(q, kc, vc, seen)))));
        const ca = lp.multihead_attn;
        const cq = heads(proj(ca, x, 0), 1);
        const ck = heads(proj(ca, c.memory, 1), S), cv = heads(proj(ca, c.memory, 2), S);
        x = ln.apply(lp.norm2, np.add(x, outProj(ca, merge(attend(cq, ck, cv, memAllowed)))));
        x = ln.apply(
          lp.norm3,
          np.add(x, lin(lp.linear2, np.maximum(lin(lp.linear1, x), 0))),
        );
      });
      const y = ln.apply(p.transformer.decoder.norm!, x);
      return {
        logits: np.reshape(gen.apply(p.generator, y), [B, cfg.tgtVocab]),
        cache: {
          memory: c.memory,
          memoryPad: c.memoryPad,
          kv: np.stack(layers),
          pos: np.add(c.pos, np.array(1, { dtype: "i32" })),
        },
      };
    },
  });
  return {
    name: model,
    decoderFor,
    init(key: Tensor): Seq2SeqTransformerParams {
      const [a, b, c, e, f] = _splitKeys(key, 5);
      return {
        src_tok_emb: srcEmb.init(a),
        tgt_tok_emb: tgtEmb.init(b),
        transformer: { encoder: enc.init(c), decoder: dec.init(e) },
        generator: gen.init(f),
      };
    },
    apply(p: Seq2SeqTransformerParams, x: Seq2SeqInput, opts: ApplyOptions = {}): Tensor {
      const [k1, k2] = opts.key ? _splitKeys(opts.key, 2) : [undefined, undefined];
      const memory = encode(p, x.src, { train: opts.train, key: k1 });
      return decode(p, x.tgt, memory, x.src, { train: opts.train, key: k2 });
    },
    encode,
    decode,
  };
}
