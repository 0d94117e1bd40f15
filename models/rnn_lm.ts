/**
 * Recurrent language models and the RNN topologies of the notes [M17, M18, M20–M24]: a
 * token-level language model over a vanilla RNN, an LSTM, a peephole LSTM or a GRU, deep
 * (stacked) and bidirectional, with an embedding or one-hot input and a linear read-out; and
 * four small ready models for the topologies one-to-many, many-to-one (a classifier),
 * many-to-many aligned, and encoder-decoder.
 *
 * Parameter names equal those of a PyTorch language model built from `nn.Embedding`, `nn.RNN` /
 * `nn.LSTM` / `nn.GRU` (`batch_first=True`) and `nn.Linear` as attributes `embedding`, `rnn`,
 * `fc`: `embedding.weight`, `rnn.weight_ih_l0`, `rnn.weight_hh_l0_reverse`, `fc.weight`, … so
 * its `state_dict()` loads with `train.loadInto` unchanged.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { checkValue, valueChecksApply } from "../core/checks.ts";
import type { Tensor } from "../core/tensor.ts";
import { oneHot } from "../layers/activations.ts";
import { embedding, type EmbeddingParams } from "../layers/embedding.ts";
import type { ApplyOptions, Layer, Params } from "../layers/layer.ts";
import { linear, type LinearParams } from "../layers/linear.ts";
import { _splitKeys } from "../layers/_util.ts";
import {
  gru,
  lstm,
  type LstmOutput,
  peepholeLstm,
  rnn,
  type RnnLayer,
  type RnnParams,
} from "../layers/rnn.ts";
import { _checkPositive } from "./_common.ts";
import type { IncrementalLM, StepOutput } from "./generate.ts";

/** The recurrent cell of a model: Elman RNN (tanh), LSTM, peephole LSTM or GRU. */
export type RnnCellKind = "rnn" | "lstm" | "peephole" | "gru";

/** The recurrent state of a model: hidden (and for LSTMs cell) states f32[L·D, batch, H]. */
export interface RnnState {
  /** f32[L·D, batch, H]. */
  h: Tensor;
  /** LSTMs only: f32[L·D, batch, H]. */
  c?: Tensor;
}

/** @internal Builds the sequence layer of a cell kind (batch-first). */
export function _seqLayer(
  model: string,
  cell: RnnCellKind,
  inputSize: number,
  hiddenSize: number,
  numLayers: number,
  bidirectional: boolean,
  dropout = 0,
): RnnLayer<LstmOutput> {
  const cfg = { inputSize, hiddenSize, numLayers, bidirectional, dropout, batchFirst: true };
  switch (cell) {
    case "rnn":
      return rnn(cfg) as RnnLayer<LstmOutput>;
    case "lstm":
      return lstm(cfg);
    case "peephole":
      return peepholeLstm(cfg);
    case "gru":
      return gru(cfg) as RnnLayer<LstmOutput>;
  }
  throw new RangeError(
    `${model}: cell must be "rnn", "lstm", "peephole" or "gru", got ${JSON.stringify(cell)}`,
  );
}

/** @internal Runs a sequence layer from an optional state; returns outputs and the new state. */
function _runSeq(
  layer: RnnLayer<LstmOutput>,
  p: RnnParams,
  x: Tensor,
  state: RnnState | undefined,
  opts: ApplyOptions,
): { output: Tensor; state: RnnState } {
  const r = layer.apply(p, x, { h0: state?.h, c0: state?.c, train: opts.train, key: opts.key });
  return { output: r.output, state: r.cN ? { h: r.hN, c: r.cN } : { h: r.hN } };
}

// ---------------------------------------------------------------- language model [M17]

/** Config of {@link rnnLM}. */
export interface RnnLMConfig {
  /** The recurrent cell (default "lstm"). */
  cell?: RnnCellKind;
  /** Size V of the vocabulary: token ids in [0, V), logits over V. */
  vocabSize: number;
  /** Hidden size H of every layer and direction. */
  hidden: number;
  /** Number L of stacked layers (default 1) [M23]. */
  layers?: number;
  /** Run every layer in both directions and concatenate (default false) [M24]. */
  bidirectional?: boolean;
  /** Embedding size E: an `nn.Embedding(V, E)` in front; omitted: one-hot input (d2l's RNNModel). */
  embed?: number;
  /** Dropout between stacked layers in training (default 0). */
  dropout?: number;
}

/** Parameters of {@link rnnLM}: PyTorch's `embedding`, `rnn`, `fc` attributes. */
export interface RnnLMParams {
  /** `embedding.weight` f32[V, E] (absent with one-hot input). */
  embedding?: EmbeddingParams;
  /** `rnn.weight_ih_l0` … (PyTorch's `nn.RNN/LSTM/GRU` names). */
  rnn: RnnParams;
  /** `fc.weight` f32[V, D·H], `fc.bias` f32[V]. */
  fc: LinearParams;
}

/** Options of {@link RnnLM.applyWithState}. */
export interface RnnLMApplyOptions extends ApplyOptions {
  /** The state to start from (zeros by default). */
  state?: RnnState;
}

/**
 * A recurrent language model: `apply(params, ids) → logits`, the stateful form, and one-token
 * decoding from a hidden state for `generate` (unidirectional models only).
 */
export interface RnnLM extends Layer<RnnLMParams>, IncrementalLM<RnnLMParams, RnnState> {
  /** The config, defaults filled in. */
  readonly config: Required<Omit<RnnLMConfig, "embed">> & { embed?: number };
  /** Logits and the final state: `ids` i32[batch, seq] → f32[batch, seq, V]. */
  applyWithState(
    params: RnnLMParams,
    ids: Tensor,
    opts?: RnnLMApplyOptions,
  ): { logits: Tensor; state: RnnState };
}

/** @internal Checks token ids: integer, `[batch, seq]`, and (when concrete) inside the vocabulary. */
export function _checkIds(model: string, ids: Tensor, vocab: number): Tensor {
  if (ids.dtype === "bool") {
    throw new TypeError(`${model} expects integer token ids, got ${ids.aval}`);
  }
  if (ids.ndim !== 2) {
    throw new TypeError(`${model} expects token ids [batch, seq], got ${ids.aval}`);
  }
  const t = ids.dtype === "i32" ? ids : np.astype(ids, "i32");
  if (t.size > 0 && valueChecksApply(t)) {
    const bad = np.astype(
      np.reshape(np.logicalOr(np.less(t, 0), np.greaterEqual(t, vocab)), [-1]),
      "i32",
    );
    checkValue(
      np.any(bad),
      np.take(np.reshape(t, [-1]), np.argmax(bad)),
      (v) =>
        new RangeError(
          `${model}: token id ${v} is outside the vocabulary of ${vocab} (ids ${ids.aval})`,
        ),
    );
  }
  return t;
}

const _LM_KEYS = new Set([
  "cell",
  "vocabSize",
  "hidden",
  "layers",
  "bidirectional",
  "embed",
  "dropout",
]);

/**
 * A recurrent language model over tokens (characters or words) [M17], d2l's `RNNModel` (§9.6)
 * generalised: `x_t = E[w_t]` (or one-hot), `h_t = cell(x_t, h_{t−1})` through L stacked layers
 * [M23] (each optionally bidirectional [M24]: `[h→_t ; h←_t]`), and logits
 * `o_t = W_fc h_t + b_fc` predicting token t + 1. The cell is a tanh RNN (`h_t = tanh(W_ih x_t +
 * b_ih + W_hh h_{t−1} + b_hh)`), an LSTM [M20], a peephole LSTM [M21] or a GRU [M22] (equations
 * in `layers/rnn.ts`). A bidirectional model sees the future, so it is an encoder / tagger, not a
 * generator.
 *
 * Input ids i32[batch, seq]; output f32[batch, seq, V]. Params `{ embedding?: { weight: [V, E] },
 * rnn: { weight_ih_l0: [G·H, E or V], … }, fc: { weight: [V, D·H], bias: [V] } }`.
 *
 * Seeds: S1 L346 (RNN LM), S2 L1488, d2l §9.5–9.6, §10.1–10.4 (CATALOG M17–M24).
 *
 * @param config `{ cell = "lstm", vocabSize, hidden, layers = 1, bidirectional = false, embed?,
 *   dropout = 0 }`.
 * @returns The model.
 * @throws {RangeError} For a non-positive size or an unknown cell.
 * @throws {TypeError} From `apply`, for ids that are not `[batch, seq]` integers.
 * @throws {RangeError} From `apply`, for (concrete) ids outside the vocabulary.
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const lm = models.rnnLM({ cell: "gru", vocabSize: 28, hidden: 16, embed: 8, layers: 2 });
 * const p = lm.init(random.key(0));
 * const logits = lm.apply(p, np.array([[1, 2, 3]], { dtype: "i32" }));
 * console.log(String(logits)); // Tensor(f32[1,3,28])
 * if (String(logits) !== "Tensor(f32[1,3,28])") throw new Error(`got ${logits}`);
 * ```
 */
export function rnnLM(config: RnnLMConfig): RnnLM {
  for (const k of Object.keys(config)) {
    if (!_LM_KEYS.has(k)) throw new TypeError(`rnnLM: unknown option ${JSON.stringify(k)}`);
  }
  const cfg = {
    cell: config.cell ?? "lstm",
    vocabSize: config.vocabSize,
    hidden: config.hidden,
    layers: config.layers ?? 1,
    bidirectional: config.bidirectional ?? false,
    embed: config.embed,
    dropout: config.dropout ?? 0,
  };
  const model = `rnnLM(${cfg.cell}, V=${cfg.vocabSize}, H=${cfg.hidden}, L=${cfg.layers}${
    cfg.bidirectional ? ", bidirectional" : ""
  })`;
  _checkPositive(model, "vocabSize", cfg.vocabSize);
  _checkPositive(model, "hidden", cfg.hidden);
  _checkPositive(model, "layers", cfg.layers);
  if (cfg.embed !== undefined) _checkPositive(model, "embed", cfg.embed);
  const V = cfg.vocabSize, D = cfg.bidirectional ? 2 : 1;
  const emb = cfg.embed === undefined
    ? null
    : embedding({ numEmbeddings: V, embeddingDim: cfg.embed });
  const seq = _seqLayer(
    model,
    cfg.cell,
    cfg.embed ?? V,
    cfg.hidden,
    cfg.layers,
    cfg.bidirectional,
    cfg.dropout,
  );
  const fc = linear({ inFeatures: D * cfg.hidden, outFeatures: V });
  const applyWithState = (p: RnnLMParams, ids: Tensor, opts: RnnLMApplyOptions = {}) => {
    const t = _checkIds(model, ids, V);
    const x = emb ? emb.apply(p.embedding!, t) : oneHot(t, V);
    const { output, state } = _runSeq(seq, p.rnn, x, opts.state, opts);
    return { logits: fc.apply(p.fc, output), state };
  };
  return {
    name: model,
    config: cfg,
    init(key: Tensor): RnnLMParams {
      const [ke, kr, kf] = _splitKeys(key, 3);
      const rnnP = seq.init(kr), fcP = fc.init(kf);
      return emb ? { embedding: emb.init(ke), rnn: rnnP, fc: fcP } : { rnn: rnnP, fc: fcP };
    },
    apply: (p: RnnLMParams, ids: Tensor, opts: ApplyOptions = {}): Tensor =>
      applyWithState(p, ids, opts).logits,
    applyWithState,
    vocabSize: V,
    maxLength: Infinity,
    initCache(batch: number): RnnState {
      _checkPositive(model, "batch", batch);
      const z = np.zeros([cfg.layers * D, batch, cfg.hidden]);
      return cfg.cell === "lstm" || cfg.cell === "peephole" ? { h: z, c: z } : { h: z };
    },
    step(p: RnnLMParams, cache: RnnState, ids: Tensor): StepOutput<RnnState> {
      if (cfg.bidirectional) {
        throw new RangeError(`${model}: a bidirectional model cannot decode one token at a time`);
      }
      const B = cache.h.shape[1];
      if (ids.ndim !== 1 || ids.shape[0] !== B) {
        throw new TypeError(`${model}.step expects ids [${B}] (one per sequence), got ${ids.aval}`);
      }
      const r = applyWithState(p, np.reshape(ids, [B, 1]), { state: cache });
      return { logits: np.reshape(r.logits, [B, V]), cache: r.state };
    },
  };
}

// ---------------------------------------------------------------- topologies [M18]

/** Config shared by the topology models of {@link rnnTopology}. */
export interface RnnTopologyConfig {
  /** "oneToMany", "manyToOne", "manyToMany" (aligned) or "encoderDecoder". */
  kind: "oneToMany" | "manyToOne" | "manyToMany" | "encoderDecoder";
  /** The recurrent cell (default "gru"). */
  cell?: RnnCellKind;
  /** Input feature size I (per step; for oneToMany, of the single input vector). */
  inputSize: number;
  /** Hidden size H. */
  hidden: number;
  /** Output size O per step (manyToOne: the number of classes). */
  outputSize: number;
  /** Stacked layers (default 1). */
  layers?: number;
  /** oneToMany only: the length T of the generated sequence. */
  length?: number;
  /** encoderDecoder only: the decoder's input feature size (default `inputSize`). */
  targetSize?: number;
}

/** Input of an encoder-decoder topology: source and (teacher-forced) target features. */
export interface SrcTgt {
  /** f32[batch, S, I]. */
  src: Tensor;
  /** f32[batch, T, targetSize]. */
  tgt: Tensor;
}

/**
 * Parameters of an {@link rnnTopology} model by part: `rnn` (or `encoder` and `decoder`), the
 * recurrent stacks, and `fc`, the output layer.
 */
export interface RnnTopologyParams {
  /** The parameters of one part (`rnn`, `encoder`, `decoder`, `fc`). */
  readonly [part: string]: Params;
}

/**
 * The RNN topologies of the notes [M18] (Karpathy's diagram, S1 L346 / S2 L1488) as small ready
 * models, each `rnn` + `fc` with PyTorch names (`encoder`/`decoder` for the last):
 *
 * - `oneToMany`: x f32[batch, I] fed at each of `length` steps, `y_t = fc(h_t)`:
 *   f32[batch, length, O] (e.g. image → caption features);
 * - `manyToOne`: x f32[batch, T, I] → `fc(h_T)` of the last layer: f32[batch, O] (sequence
 *   classification);
 * - `manyToMany`: x f32[batch, T, I] → `fc(h_t)` per step: f32[batch, T, O] (tagging);
 * - `encoderDecoder`: `{ src: f32[batch, S, I], tgt: f32[batch, T, targetSize] }` → the encoder's
 *   final state starts the decoder, which reads `tgt` (teacher forcing): f32[batch, T, O].
 *
 * @param config See {@link RnnTopologyConfig}.
 * @returns The model.
 * @throws {RangeError} For a non-positive size, or oneToMany without `length`.
 * @throws {TypeError} From `apply`, for inputs of the wrong shape.
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const clf = models.rnnTopology({ kind: "manyToOne", inputSize: 3, hidden: 8, outputSize: 2 });
 * const y = clf.apply(clf.init(random.key(0)), np.ones([4, 5, 3]));
 * console.log(String(y)); // Tensor(f32[4,2])
 * if (String(y) !== "Tensor(f32[4,2])") throw new Error(`got ${y}`);
 * ```
 */
export function rnnTopology(
  config: RnnTopologyConfig,
): Layer<RnnTopologyParams, Tensor | SrcTgt, Tensor> {
  const cell = config.cell ?? "gru", L = config.layers ?? 1;
  const model = `rnnTopology(${config.kind}, ${cell})`;
  _checkPositive(model, "inputSize", config.inputSize);
  _checkPositive(model, "hidden", config.hidden);
  _checkPositive(model, "outputSize", config.outputSize);
  _checkPositive(model, "layers", L);
  const H = config.hidden, I = config.inputSize;
  const fc = linear({ inFeatures: H, outFeatures: config.outputSize });
  const check3 = (x: Tensor, what: string, f: number) => {
    if (x.ndim !== 3 || x.shape[2] !== f) {
      throw new TypeError(`${model} expects ${what} [batch, seq, ${f}], got ${x.aval}`);
    }
  };
  switch (config.kind) {
    case "oneToMany": {
      const T = config.length;
      if (T === undefined) throw new RangeError(`${model}: length (of the output) is required`);
      _checkPositive(model, "length", T);
      const seq = _seqLayer(model, cell, I, H, L, false);
      return {
        name: model,
        init: (k: Tensor) => {
          const [a, b] = _splitKeys(k, 2);
          return { rnn: seq.init(a), fc: fc.init(b) };
        },
        apply(p, x: Tensor): Tensor {
          if (x.ndim !== 2 || x.shape[1] !== I) {
            throw new TypeError(`${model} expects x [batch, ${I}], got ${x.aval}`);
          }
          const xs = np.broadcastTo(np.expandDims(x, 1), [x.shape[0], T, I]);
          return fc.apply(p.fc, seq.apply(p.rnn, xs).output);
        },
      };
    }
    case "manyToOne":
    case "manyToMany": {
      const seq = _seqLayer(model, cell, I, H, L, false);
      const last = config.kind === "manyToOne";
      return {
        name: model,
        init: (k: Tensor) => {
          const [a, b] = _splitKeys(k, 2);
          return { rnn: seq.init(a), fc: fc.init(b) };
        },
        apply(p, x: Tensor): Tensor {
          check3(x, "x", I);
          const { output, hN } = seq.apply(p.rnn, x);
          return fc.apply(p.fc, last ? np.squeeze(np.slice(hN, [L - 1], [L]), 0) : output);
        },
      };
    }
    case "encoderDecoder": {
      const tS = config.targetSize ?? I;
      _checkPositive(model, "targetSize", tS);
      const enc = _seqLayer(model, cell, I, H, L, false);
      const dec = _seqLayer(model, cell, tS, H, L, false);
      return {
        name: model,
        init: (k: Tensor) => {
          const [a, b, c] = _splitKeys(k, 3);
          return { encoder: enc.init(a), decoder: dec.init(b), fc: fc.init(c) };
        },
        apply(p, x: SrcTgt): Tensor {
          check3(x.src, "src", I);
          check3(x.tgt, "tgt", tS);
          const e = _runSeq(enc, p.encoder, x.src, undefined, {});
          return fc.apply(p.fc, _runSeq(dec, p.decoder, x.tgt, e.state, {}).output);
        },
      };
    }
  }
  throw new RangeError(`${model}: unknown kind ${JSON.stringify(config.kind)}`);
}
