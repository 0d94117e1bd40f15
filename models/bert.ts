/**
 * BERT [M31] (Devlin et al. 2019) with the parameter names and shapes of Hugging Face's
 * `BertModel` and `BertForPreTraining`: embeddings (word, position, token type, LayerNorm), a
 * post-norm encoder, the pooler, and the masked-LM and next-sentence-prediction heads.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { gelu, softmax, tanh } from "../layers/activations.ts";
import type { Layer } from "../layers/layer.ts";
import type { LinearParams } from "../layers/linear.ts";
import { _splitKeys } from "../layers/_util.ts";
import { layerNorm, type NormParams } from "../layers/norm.ts";
import { _checkPositive } from "./_common.ts";
import { _checkIds } from "./rnn_lm.ts";

/** Config of {@link bert}; the defaults are BERT-base. */
export interface BertConfig {
  /** Vocabulary size V (default 30522). */
  vocabSize?: number;
  /** Width d (default 768). */
  hiddenSize?: number;
  /** Encoder layers (default 12). */
  numHiddenLayers?: number;
  /** Heads; must divide d (default 12). */
  numAttentionHeads?: number;
  /** Feed-forward width (default 3072). */
  intermediateSize?: number;
  /** Longest sequence P (default 512). */
  maxPositionEmbeddings?: number;
  /** Segment vocabulary (default 2). */
  typeVocabSize?: number;
  /** LayerNorm ε (default 1e-12). */
  layerNormEps?: number;
}

/** One encoder layer `encoder.layer.N` (Hugging Face names; linears are `nn.Linear` [out, in]). */
export interface BertLayerParams {
  /** `attention.self.{query,key,value}` and `attention.output.{dense,LayerNorm}`. */
  attention: {
    self: { query: LinearParams; key: LinearParams; value: LinearParams };
    output: { dense: LinearParams; LayerNorm: NormParams };
  };
  /** `intermediate.dense` [I, d]. */
  intermediate: { dense: LinearParams };
  /** `output.dense` [d, I] and `output.LayerNorm`. */
  output: { dense: LinearParams; LayerNorm: NormParams };
}

/** Parameters of {@link bert}: `BertModel.state_dict()`. */
export interface BertParams {
  /** Word, position and token-type tables f32[·, d] and their LayerNorm. */
  embeddings: {
    word_embeddings: { weight: Tensor };
    position_embeddings: { weight: Tensor };
    token_type_embeddings: { weight: Tensor };
    LayerNorm: NormParams;
  };
  /** `encoder.layer.N.…`. */
  encoder: { layer: BertLayerParams[] };
  /** `pooler.dense` [d, d]. */
  pooler: { dense: LinearParams };
}

/** Input of {@link bert}. */
export interface BertInput {
  /** i32[batch, T]. */
  inputIds: Tensor;
  /** i32[batch, T] segment ids (default zeros). */
  tokenTypeIds?: Tensor;
  /** [batch, T], 1 for real tokens, 0 for padding (default all ones). */
  attentionMask?: Tensor;
}

/** What {@link bert} returns. */
export interface BertOutput {
  /** The last layer's hidden states f32[batch, T, d]. */
  lastHiddenState: Tensor;
  /** tanh(W h_[CLS] + b): f32[batch, d]. */
  poolerOutput: Tensor;
}

/** The BERT encoder. */
export interface Bert extends Layer<BertParams, BertInput, BertOutput> {
  /** The config, defaults filled in. */
  readonly config: Required<BertConfig>;
}

const lin = (p: LinearParams, x: Tensor): Tensor =>
  np.add(np.matmul(x, np.transpose(p.weight)), p.bias!);

function _initLinear(key: Tensor, out: number, inp: number): LinearParams {
  return { weight: np.multiply(random.normal(key, [out, inp]), 0.02), bias: np.zeros([out]) };
}

/**
 * BERT's encoder [M31], Hugging Face's `BertModel`: `x_0 = LayerNorm(E_word[ids] + E_pos[t] +
 * E_type[seg])`, then per layer (post-norm) `a = LayerNorm(x + W_o MHA(x) + b_o)`, `x =
 * LayerNorm(a + W_2 gelu(W_1 a + b_1) + b_2)` with the exact (erf) gelu, where MHA's scores get
 * `(1 − mask)·min_f32` added so padding is never attended to; the pooler is `tanh(W x_[CLS] + b)`.
 *
 * Input {@link BertInput}; output `{ lastHiddenState: f32[batch, T, d], poolerOutput: f32[batch, d] }`.
 * Params: {@link BertParams}, keys `embeddings.word_embeddings.weight`,
 * `encoder.layer.0.attention.self.query.weight`, `…attention.output.dense.weight`,
 * `…intermediate.dense.weight`, `…output.LayerNorm.weight`, `pooler.dense.weight`. Init N(0, 0.02)
 * for weights and tables, zeros for biases, unit LayerNorms. Files from `transformers` versions
 * that saved the `embeddings.position_ids` buffer load with `{ strict: false }`. Dropout is
 * not applied (evaluation mode).
 *
 * Seeds: S3 (BERT, masked LM and NSP), d2l §15.8 (CATALOG M31).
 *
 * @param config {@link BertConfig}.
 * @returns The model.
 * @throws {RangeError} For non-positive sizes or heads not dividing the width.
 * @throws {TypeError} From `apply`, for ids not `[batch, T]` integers or masks of another shape.
 * @throws {RangeError} From `apply`, for T > maxPositionEmbeddings or ids outside the vocabulary.
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const net = models.bert({ vocabSize: 30, hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 16 });
 * const y = net.apply(net.init(random.key(0)), { inputIds: np.array([[2, 5, 7, 3]], { dtype: "i32" }) });
 * console.log(String(y.lastHiddenState), String(y.poolerOutput)); // Tensor(f32[1,4,8]) Tensor(f32[1,8])
 * if (`${y.lastHiddenState} ${y.poolerOutput}` !== "Tensor(f32[1,4,8]) Tensor(f32[1,8])") throw new Error(`got ${y.lastHiddenState} ${y.poolerOutput}`);
 * ```
 */
export function bert(config: BertConfig = {}): Bert {
  const cfg: Required<BertConfig> = {
    vocabSize: 30522,
    hiddenSize: 768,
    numHiddenLayers: 12,
    numAttentionHeads: 12,
    intermediateSize: 3072,
    maxPositionEmbeddings: 512,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    ...config,
  };
  const d = cfg.hiddenSize, nh = cfg.numAttentionHeads;
  const model = `bert(V=${cfg.vocabSize}, d=${d}, L=${cfg.numHiddenLayers}, h=${nh})`;
  for (
    const k of [
      "vocabSize",
      "hiddenSize",
      "numHiddenLayers",
      "numAttentionHeads",
      "intermediateSize",
      "maxPositionEmbeddings",
      "typeVocabSize",
    ] as const
  ) _checkPositive(model, k, cfg[k]);
  if (d % nh !== 0) throw new RangeError(`${model}: ${nh} heads do not divide hiddenSize ${d}`);
  const hd = d / nh;
  const ln = layerNorm({ normalizedShape: d, eps: cfg.layerNormEps });
  const heads = (t: Tensor) => {
    const [B, T] = t.shape;
    return np.swapaxes(np.reshape(t, [B, T, nh, hd]), 1, 2);
  };
  return {
    name: model,
    config: cfg,
    init(key: Tensor): BertParams {
      const ks = _splitKeys(key, 4 + 6 * cfg.numHiddenLayers);
      const table = (k: Tensor, n: number) => ({
        weight: np.multiply(random.normal(k, [n, d]), 0.02),
      });
      return {
        embeddings: {
          word_embeddings: table(ks[0], cfg.vocabSize),
          position_embeddings: table(ks[1], cfg.maxPositionEmbeddings),
          token_type_embeddings: table(ks[2], cfg.typeVocabSize),
          LayerNorm: ln.init(ks[0]),
        },
        encoder: {
          layer: Array.from({ length: cfg.numHiddenLayers }, (_, l) => {
            const k = ks.slice(4 + 6 * l, 10 + 6 * l);
            return {
              attention: {
                self: {
                  query: _initLinear(k[0], d, d),
                  key: _initLinear(k[1], d, d),
                  value: _initLinear(k[2], d, d),
                },
                output: { dense: _initLinear(k[3], d, d), LayerNorm: ln.init(k[0]) },
              },
              intermediate: { dense: _initLinear(k[4], cfg.intermediateSize, d) },
              output: {
                dense: _initLinear(k[5], d, cfg.intermediateSize),
                LayerNorm: ln.init(k[0]),
              },
            };
          }),
        },
        pooler: { dense: _initLinear(ks[3], d, d) },
      };
    },
    apply(p: BertParams, x: BertInput): BertOutput {
      const ids = _checkIds(model, x.inputIds, cfg.vocabSize);
      const [B, T] = ids.shape;
      if (T > cfg.maxPositionEmbeddings) {
        throw new RangeError(
          `${model}: a sequence of ${T} tokens (${x.inputIds.aval}) is longer than the positional table of ${cfg.maxPositionEmbeddings}`,
        );
      }
      for (const [n, m] of [["tokenTypeIds", x.tokenTypeIds], ["attentionMask", x.attentionMask]]) {
        const t = m as Tensor | undefined;
        if (t && (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== T)) {
          throw new TypeError(`${model}: ${n} must be [${B}, ${T}] like inputIds, got ${t.aval}`);
        }
      }
      const seg = x.tokenTypeIds
        ? _checkIds(`${model} (token types)`, x.tokenTypeIds, cfg.typeVocabSize)
        : np.zeros([B, T], "i32");
      const e = p.embeddings;
      let h = np.add(
        np.add(
          np.take(e.word_embeddings.weight, ids, { axis: 0 }),
          np.take(e.token_type_embeddings.weight, seg, { axis: 0 }),
        ),
        np.slice(e.position_embeddings.weight, [0, 0], [T, d]),
      );
      h = ln.apply(e.LayerNorm, h);
      // HF's extended mask: (1 − mask) · min_f32 added to every query's scores
      const bias = x.attentionMask
        ? np.reshape(
          np.multiply(np.subtract(1, np.astype(x.attentionMask, "f32")), -3.4028234663852886e38),
          [B, 1, 1, T],
        )
        : null;
      for (const l of p.encoder.layer) {
        const s = l.attention.self;
        const q = heads(lin(s.query, h)), k = heads(lin(s.key, h)), v = heads(lin(s.value, h));
        let sc = np.divide(np.matmul(q, np.swapaxes(k, -1, -2)), Math.sqrt(hd));
        if (bias) sc = np.add(sc, bias);
        const ctx = np.reshape(np.swapaxes(np.matmul(softmax(sc, { axis: -1 }), v), 1, 2), [
          B,
          T,
          d,
        ]);
        const a = ln.apply(
          l.attention.output.LayerNorm,
          np.add(h, lin(l.attention.output.dense, ctx)),
        );
        const f = lin(l.output.dense, gelu(lin(l.intermediate.dense, a)));
        h = ln.apply(l.output.LayerNorm, np.add(a, f));
      }
      const cls = np.reshape(np.slice(h, [0, 0, 0], [B, 1, d]), [B, d]);
      return { lastHiddenState: h, poolerOutput: tanh(lin(p.pooler.dense, cls)) };
    },
  };
}

/** Parameters of {@link bertForPreTraining}: `bert.…` and the `cls.…` heads. */
export interface BertForPreTrainingParams {
  /** The encoder ({@link BertParams}). */
  bert: BertParams;
  /** The heads. */
  cls: {
    /** MLM: `transform.dense` [d, d], `transform.LayerNorm`, output `bias` [V]; the decoder's weight is tied to the word embeddings. */
    predictions: {
      bias: Tensor;
      transform: { dense: LinearParams; LayerNorm: NormParams };
    };
    /** NSP: `seq_relationship` [2, d]. */
    seq_relationship: LinearParams;
  };
}

/** What {@link bertForPreTraining} returns. */
export interface BertPreTrainingOutput {
  /** Masked-LM logits f32[batch, T, V]. */
  predictionLogits: Tensor;
  /** Next-sentence logits f32[batch, 2] (index 0: "is next"). */
  seqRelationshipLogits: Tensor;
}

/**
 * BERT with its pre-training heads [M31], Hugging Face's `BertForPreTraining`: masked-LM logits
 * `LayerNorm(gelu(W_t h + b_t)) E_wordᵀ + b` (decoder tied to the word embeddings) at every
 * position, and next-sentence logits `W_s pooled + b_s`. Keys `bert.…`,
 * `cls.predictions.transform.dense.weight`, `cls.predictions.transform.LayerNorm.weight`,
 * `cls.predictions.bias`, `cls.seq_relationship.weight`; a Hugging Face file also holds the tied
 * copies `cls.predictions.decoder.weight` / `.bias`: load it with `{ strict: false }`.
 *
 * @param config {@link BertConfig}.
 * @returns The model.
 * @throws As {@link bert}.
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const net = models.bertForPreTraining({ vocabSize: 30, hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 16 });
 * const y = net.apply(net.init(random.key(0)), { inputIds: np.array([[2, 5, 7, 3]], { dtype: "i32" }) });
 * console.log(String(y.predictionLogits), String(y.seqRelationshipLogits)); // Tensor(f32[1,4,30]) Tensor(f32[1,2])
 * if (`${y.predictionLogits} ${y.seqRelationshipLogits}` !== "Tensor(f32[1,4,30]) Tensor(f32[1,2])") throw new Error(`got ${y.predictionLogits} ${y.seqRelationshipLogits}`);
 * ```
 */
export function bertForPreTraining(
  config: BertConfig = {},
): Layer<BertForPreTrainingParams, BertInput, BertPreTrainingOutput> {
  const enc = bert(config);
  const { hiddenSize: d, vocabSize: V } = enc.config;
  const ln = layerNorm({ normalizedShape: d, eps: enc.config.layerNormEps });
  return {
    name: enc.name.replace("bert", "bertForPreTraining"),
    init(key: Tensor): BertForPreTrainingParams {
      const [a, b, c] = _splitKeys(key, 3);
      return {
        bert: enc.init(a),
        cls: {
          predictions: {
            bias: np.zeros([V]),
            transform: { dense: _initLinear(b, d, d), LayerNorm: ln.init(b) },
          },
          seq_relationship: _initLinear(c, 2, d),
        },
      };
    },
    apply(p: BertForPreTrainingParams, x: BertInput): BertPreTrainingOutput {
      const { lastHiddenState, poolerOutput } = enc.apply(p.bert, x);
      const t = p.cls.predictions.transform;
      const h = ln.apply(t.LayerNorm, gelu(lin(t.dense, lastHiddenState)));
      const logits = np.add(
        np.matmul(h, np.transpose(p.bert.embeddings.word_embeddings.weight)),
        p.cls.predictions.bias,
      );
      return {
        predictionLogits: logits,
        seqRelationshipLogits: lin(p.cls.seq_relationship, poolerOutput),
      };
    },
  };
}
