/**
 * Transformer building blocks (Vaswani et al. 2017; CATALOG M29, L31, L45): sinusoidal and
 * learned positional encodings, the position-wise feed-forward network, PyTorch's
 * `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer` (post-norm by default,
 * pre-norm with `normFirst`) and the stacks `nn.TransformerEncoder` / `nn.TransformerDecoder`.
 *
 * Parameter pytrees use PyTorch's `state_dict` names: `self_attn.in_proj_weight`,
 * `self_attn.out_proj.weight`, `linear1`, `linear2`, `norm1`, `norm2` (decoder: plus
 * `multihead_attn`, `norm3`), and `layers[i]` / `norm` for the stacks (PyTorch's
 * `layers.0.…`). Masks follow `nn.MultiheadAttention`: boolean **true = NOT allowed**.
 *
 * @module
 */
import { checkOptions } from "../core/validate.ts";
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { gelu, relu } from "./activations.ts";
import {
  multiHeadAttention,
  type MultiHeadAttentionApplyOptions,
  type MultiHeadAttentionParams,
} from "./attention.ts";
import type { ApplyOptions, Layer } from "./layer.ts";
import { dropout, linear, type LinearParams, type NoParams } from "./linear.ts";
import { _float, _splitKeys } from "./_util.ts";
import { layerNorm, type NormParams } from "./norm.ts";

// ---------------------------------------------------------------- positional encodings

/**
 * The sinusoidal positional-encoding table f32[length, dModel] (Vaswani et al. 2017; CATALOG
 * L31): PE(pos, 2i) = sin(pos / 10000^{2i/d}), PE(pos, 2i+1) = cos(pos / 10000^{2i/d}) for
 * i = 0 … ⌈d/2⌉ − 1, so sine and cosine pair up on the columns 2i, 2i+1. The seeds disagree on
 * the range of i (CATALOG §0.2, "Sinusoidal PE index i": S1 L610 says 0 … d−1, S2 L1888
 * 0 … d/2); S2's pairing is the paper's and is the one used here. Computed in float64 on the
 * host, then rounded to f32. An odd `dModel` ends with a sine column.
 *
 * @param length Number of positions.
 * @param dModel Number of features.
 * @returns f32[length, dModel].
 * @example
 * ```ts
 * import "../mod.ts"; // starts the default backend
 * import { sinusoidalEncoding } from "@denax/denax/nn";
 *
 * const y = sinusoidalEncoding(2, 4);
 * console.log(await y.toArray()); // ≈ [[0, 1, 0, 1], [0.841, 0.540, 0.01, 1]]
 * const err = await y.sub([[0, 1, 0, 1], [0.841, 0.540, 0.01, 1]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function sinusoidalEncoding(length: number, dModel: number): Tensor {
  const d = new Float64Array(length * dModel);
  for (let pos = 0; pos < length; pos++) {
    for (let j = 0; j < dModel; j++) {
      const angle = pos / Math.pow(10000, (j - (j % 2)) / dModel); // 2i = j rounded down to even
      d[pos * dModel + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return np.array(d, { shape: [length, dModel] });
}

/** Config of {@link positionalEncoding} and {@link learnedPositionalEncoding}. */
export interface PositionalEncodingConfig {
  /** Number of features d. */
  dModel: number;
  /** The longest sequence (default 5000, as PyTorch's tutorial). */
  maxLen?: number;
  /** Dropout rate applied after adding, in training (default 0). */
  dropout?: number;
  /** Inputs are [batch, seq, d] instead of [seq, batch, d] (default false). */
  batchFirst?: boolean;
}

/** Adds `table[:seq]` to x ([seq, batch, d], [batch, seq, d] or [seq, d]), then dropout. */
function _addPositions(
  name: string,
  table: Tensor,
  x: Tensor,
  cfg: PositionalEncodingConfig,
  opts: ApplyOptions,
): Tensor {
  const maxLen = table.shape[0], d = cfg.dModel;
  const seqAxis = x.ndim === 3 && cfg.batchFirst ? 1 : 0;
  if (x.ndim < 2 || x.ndim > 3 || x.shape[x.ndim - 1] !== d || x.shape[seqAxis] > maxLen) {
    const dims = cfg.batchFirst
      ? `[batch, seq ≤ ${maxLen}, ${d}]`
      : `[seq ≤ ${maxLen}, batch, ${d}]`;
    throw new TypeError(`${name} expects input ${dims} or [seq, ${d}], got ${x.aval}`);
  }
  let pe = np.slice(table, [0, 0], [x.shape[seqAxis], d]);
  if (x.ndim === 3 && seqAxis === 0) pe = np.expandDims(pe, 1); // [seq, 1, d]
  return dropout({ rate: cfg.dropout ?? 0 }).apply({}, _float(x).add(pe), opts);
}

const _POSITIONALENCODING_KEYS: ReadonlySet<string> = new Set([
  "dModel",
  "maxLen",
  "dropout",
  "batchFirst",
]);

/**
 * Adds the fixed sinusoidal encoding of {@link sinusoidalEncoding} to a sequence, then applies
 * dropout in training: the `PositionalEncoding` module of PyTorch's transformer tutorial and
 * d2l. Input f32[seq, batch, d] (`batchFirst`: f32[batch, seq, d]; or f32[seq, d]); no
 * parameters.
 *
 * @param config `{ dModel, maxLen = 5000, dropout = 0, batchFirst = false }`.
 * @returns A layer without parameters.
 * @throws {TypeError} From `apply`, for a wrong shape or a sequence longer than `maxLen`.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { positionalEncoding } from "@denax/denax/nn";
 *
 * const pe = positionalEncoding({ dModel: 4, batchFirst: true });
 * const y = pe.apply({}, np.zeros([1, 2, 4]));
 * console.log(await y.toArray()); // ≈ [[[0, 1, 0, 1], [0.841, 0.540, 0.01, 1]]]
 * const err = await y.sub([[[0, 1, 0, 1], [0.841, 0.540, 0.01, 1]]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function positionalEncoding(config: PositionalEncodingConfig): Layer<NoParams> {
  checkOptions("nn.positionalEncoding", config, _POSITIONALENCODING_KEYS);
  const table = sinusoidalEncoding(config.maxLen ?? 5000, config.dModel);
  const name = `PositionalEncoding(${config.dModel})`;
  return {
    name,
    init: () => ({}),
    apply: (_p: NoParams, x: Tensor, opts: ApplyOptions = {}) =>
      _addPositions(name, table, x, config, opts),
  };
}

/** Parameters of {@link learnedPositionalEncoding}: an embedding table. */
export interface LearnedPositionalParams {
  /** f32[maxLen, dModel]. */
  weight: Tensor;
}

const _LEARNEDPOSITIONALENCODING_KEYS: ReadonlySet<string> = new Set([
  "dModel",
  "maxLen",
  "dropout",
  "batchFirst",
]);

/**
 * A learned positional embedding (CATALOG L32; BERT's and GPT's `position_embeddings`): adds
 * `weight[pos]` to the input at position pos, then dropout in training. Params `{ weight:
 * f32[maxLen, d] }` initialized N(0, 1) as PyTorch's `nn.Embedding`. Shapes as
 * {@link positionalEncoding}.
 *
 * @param config `{ dModel, maxLen = 5000, dropout = 0, batchFirst = false }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, for a wrong shape or a sequence longer than `maxLen`.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { learnedPositionalEncoding } from "@denax/denax/nn";
 *
 * const pe = learnedPositionalEncoding({ dModel: 4, maxLen: 16 });
 * const p = pe.init(random.key(0));
 * const y = pe.apply(p, np.zeros([5, 2, 4]));
 * console.log(String(p.weight), String(y)); // Tensor(f32[16,4]) Tensor(f32[5,2,4])
 * if (`${p.weight} ${y}` !== "Tensor(f32[16,4]) Tensor(f32[5,2,4])") throw new Error(`got ${y}`);
 * ```
 */
export function learnedPositionalEncoding(
  config: PositionalEncodingConfig,
): Layer<LearnedPositionalParams> {
  checkOptions("nn.learnedPositionalEncoding", config, _LEARNEDPOSITIONALENCODING_KEYS);
  const maxLen = config.maxLen ?? 5000;
  const name = `LearnedPositionalEncoding(${maxLen}, ${config.dModel})`;
  return {
    name,
    init: (key: Tensor) => ({ weight: random.normal(key, [maxLen, config.dModel]) }),
    apply: (p: LearnedPositionalParams, x: Tensor, opts: ApplyOptions = {}) =>
      _addPositions(name, p.weight, x, config, opts),
  };
}

// ---------------------------------------------------------------- feed-forward

/** An activation name or function. */
export type TransformerActivation = "relu" | "gelu" | ((x: Tensor) => Tensor);

const _act = (a: TransformerActivation): (x: Tensor) => Tensor =>
  a === "relu" ? relu : a === "gelu" ? (x: Tensor) => gelu(x) : a;

/** Config of {@link positionwiseFeedForward}. */
export interface FeedForwardConfig {
  /** Model dimension d. */
  dModel: number;
  /** Hidden dimension (default 2048, PyTorch's `dim_feedforward`). */
  dimFeedforward?: number;
  /** "relu" (default), "gelu" (exact, as PyTorch) or a function. */
  activation?: TransformerActivation;
  /** Dropout between the two linears in training (default 0). */
  dropout?: number;
  /** Whether the linears have biases (default true). */
  bias?: boolean;
}

/** Parameters of the feed-forward block: PyTorch's `linear1` [F, d] and `linear2` [d, F]. */
export interface FeedForwardParams {
  /** `{ weight: f32[F, d], bias: f32[F] }`. */
  linear1: LinearParams;
  /** `{ weight: f32[d, F], bias: f32[d] }`. */
  linear2: LinearParams;
}

function _feedForward(cfg: FeedForwardConfig) {
  const f = cfg.dimFeedforward ?? 2048, bias = cfg.bias ?? true;
  const l1 = linear({ inFeatures: cfg.dModel, outFeatures: f, bias });
  const l2 = linear({ inFeatures: f, outFeatures: cfg.dModel, bias });
  const act = _act(cfg.activation ?? "relu");
  const drop = dropout({ rate: cfg.dropout ?? 0 });
  return {
    init(key: Tensor): FeedForwardParams {
      const [a, b] = _splitKeys(key, 2);
      return { linear1: l1.init(a), linear2: l2.init(b) };
    },
    apply: (p: FeedForwardParams, x: Tensor, opts: ApplyOptions): Tensor =>
      l2.apply(p.linear2, drop.apply({}, act(l1.apply(p.linear1, x)), opts)),
  };
}

const _POSITIONWISEFEEDFORWARD_KEYS: ReadonlySet<string> = new Set([
  "dModel",
  "dimFeedforward",
  "activation",
  "dropout",
  "bias",
]);

/**
 * The position-wise feed-forward network (CATALOG M29; d2l's `PositionWiseFFN`, the FFN inside
 * PyTorch's transformer layers): linear2(dropout(act(linear1(x)))), applied to every position
 * independently. Input f32[..., d] → f32[..., d]. Params `{ linear1: { weight: [F, d], bias:
 * [F] }, linear2: { weight: [d, F], bias: [d] } }`, PyTorch's default `nn.Linear` init.
 *
 * @param config `{ dModel, dimFeedforward = 2048, activation = "relu", dropout = 0, bias = true }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, when the last dimension is not `dModel`.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { positionwiseFeedForward } from "@denax/denax/nn";
 *
 * const ffn = positionwiseFeedForward({ dModel: 4, dimFeedforward: 16, activation: "gelu" });
 * const y = ffn.apply(ffn.init(random.key(0)), np.ones([2, 3, 4]));
 * console.log(String(y)); // Tensor(f32[2,3,4])
 * if (String(y) !== "Tensor(f32[2,3,4])") throw new Error(`got ${y}`);
 * ```
 */
export function positionwiseFeedForward(config: FeedForwardConfig): Layer<FeedForwardParams> {
  checkOptions("nn.positionwiseFeedForward", config, _POSITIONWISEFEEDFORWARD_KEYS);
  const ff = _feedForward(config);
  return {
    name: `PositionwiseFeedForward(${config.dModel} → ${config.dimFeedforward ?? 2048})`,
    init: ff.init,
    apply: (p: FeedForwardParams, x: Tensor, opts: ApplyOptions = {}) => ff.apply(p, x, opts),
  };
}

// ---------------------------------------------------------------- encoder and decoder layers

/** Config of {@link transformerEncoderLayer} and {@link transformerDecoderLayer}. */
export interface TransformerLayerConfig {
  /** Model dimension d. */
  dModel: number;
  /** Number of attention heads. */
  nhead: number;
  /** Hidden size of the feed-forward block (default 2048). */
  dimFeedforward?: number;
  /** Dropout rate of every dropout in the layer, in training (default 0.1, as PyTorch). */
  dropout?: number;
  /** "relu" (default), "gelu" or a function. */
  activation?: TransformerActivation;
  /** LayerNorm ε (default 1e-5). */
  layerNormEps?: number;
  /** Inputs are [batch, seq, d] instead of [seq, batch, d] (default false). */
  batchFirst?: boolean;
  /** Pre-norm (x + f(norm(x))) instead of post-norm (norm(x + f(x))); default false. */
  normFirst?: boolean;
  /** Biases in the linears, attention projections and norms (default true). */
  bias?: boolean;
}

/** Parameters of {@link transformerEncoderLayer} (PyTorch names). */
export interface TransformerEncoderLayerParams extends FeedForwardParams {
  /** The self-attention block. */
  self_attn: MultiHeadAttentionParams;
  /** Norm of the attention sublayer. */
  norm1: NormParams;
  /** Norm of the feed-forward sublayer. */
  norm2: NormParams;
}

/** Parameters of {@link transformerDecoderLayer} (PyTorch names). */
export interface TransformerDecoderLayerParams extends TransformerEncoderLayerParams {
  /** The cross-attention (encoder–decoder) block. */
  multihead_attn: MultiHeadAttentionParams;
  /** Norm of the feed-forward sublayer (norm2 is the cross-attention's). */
  norm3: NormParams;
}

/** Options of {@link transformerEncoderLayer}'s `apply` (PyTorch's forward arguments). */
export interface EncoderApplyOptions extends ApplyOptions {
  /** [L, L] or [N·h, L, L], boolean true = NOT allowed (nn.MultiheadAttention's `attn_mask`). */
  srcMask?: Tensor;
  /** [N, L], boolean true = padding to ignore. */
  srcKeyPaddingMask?: Tensor;
  /** Causal self-attention (builds the mask; PyTorch's `is_causal` is only a hint). */
  isCausal?: boolean;
}

/** Options of {@link transformerDecoderLayer}'s `apply` (PyTorch's forward arguments). */
export interface DecoderApplyOptions extends ApplyOptions {
  /** Self-attention mask [T, T] or [N·h, T, T], boolean true = NOT allowed. */
  tgtMask?: Tensor;
  /** Cross-attention mask [T, S] or [N·h, T, S], boolean true = NOT allowed. */
  memoryMask?: Tensor;
  /** [N, T], boolean true = padding to ignore. */
  tgtKeyPaddingMask?: Tensor;
  /** [N, S], boolean true = padding to ignore. */
  memoryKeyPaddingMask?: Tensor;
  /** Causal self-attention over the target (the usual decoder setting). */
  tgtIsCausal?: boolean;
  /** Causal cross-attention (rare). */
  memoryIsCausal?: boolean;
}

/** Inputs of a decoder layer: the target sequence and the encoder's output. */
export interface DecoderInput {
  /** f32[T, N, d] (batchFirst: f32[N, T, d]). */
  tgt: Tensor;
  /** f32[S, N, d] (batchFirst: f32[N, S, d]). */
  memory: Tensor;
}

/** A transformer encoder layer: `apply(params, src, opts) → f32` shaped like src. */
export interface TransformerEncoderLayer extends Layer<TransformerEncoderLayerParams> {
  /** Runs the layer. */
  apply(params: TransformerEncoderLayerParams, src: Tensor, opts?: EncoderApplyOptions): Tensor;
}

/** A transformer decoder layer: `apply(params, { tgt, memory }, opts) → f32` shaped like tgt. */
export interface TransformerDecoderLayer
  extends Layer<TransformerDecoderLayerParams, DecoderInput, Tensor> {
  /** Runs the layer. */
  apply(params: TransformerDecoderLayerParams, x: DecoderInput, opts?: DecoderApplyOptions): Tensor;
}

/** The shared pieces of both layers. */
function _parts(cfg: TransformerLayerConfig) {
  const bias = cfg.bias ?? true, rate = cfg.dropout ?? 0.1;
  const attn = multiHeadAttention({
    embedDim: cfg.dModel,
    numHeads: cfg.nhead,
    bias,
    batchFirst: cfg.batchFirst ?? false,
    dropout: rate,
  });
  const norm = layerNorm({ normalizedShape: cfg.dModel, eps: cfg.layerNormEps ?? 1e-5, bias });
  const ff = _feedForward({ ...cfg, dropout: rate, bias });
  const drop = dropout({ rate });
  /** `x + sub(norm(x))` (pre-norm) or `norm(x + sub(x))` (post-norm). */
  const residual = (np_: NormParams, x: Tensor, sub: (y: Tensor) => Tensor): Tensor =>
    cfg.normFirst ? x.add(sub(norm.apply(np_, x))) : norm.apply(np_, x.add(sub(x)));
  /** Keys for the sublayers: `n` keys when training with a key, else none. */
  const keys = (opts: ApplyOptions, n: number): (Tensor | undefined)[] =>
    opts.train && opts.key ? _splitKeys(opts.key, n) : Array(n).fill(undefined);
  return { attn, norm, ff, drop, residual, keys };
}

const _TRANSFORMERENCODERLAYER_KEYS: ReadonlySet<string> = new Set([
  "dModel",
  "nhead",
  "dimFeedforward",
  "dropout",
  "activation",
  "layerNormEps",
  "batchFirst",
  "normFirst",
  "bias",
]);

/**
 * A transformer encoder layer, PyTorch's `nn.TransformerEncoderLayer` (Vaswani et al. 2017;
 * CATALOG M29, L45):
 *
 * - post-norm (default, the paper and S2 L1842): x = norm1(x + SA(x)); x = norm2(x + FF(x));
 * - pre-norm (`normFirst`): x = x + SA(norm1(x)); x = x + FF(norm2(x));
 *
 * with SA(x) = dropout1(self_attn(x, x, x)) and FF(x) = dropout2(linear2(dropout(act(
 * linear1(x))))). Input f32[L, N, d] (`batchFirst`: f32[N, L, d]; unbatched f32[L, d]) →
 * same shape. Params `{ self_attn: { in_proj_weight, in_proj_bias, out_proj }, linear1,
 * linear2, norm1, norm2 }` with PyTorch's init. Training dropout needs `key`.
 *
 * @param config `{ dModel, nhead, dimFeedforward = 2048, dropout = 0.1, activation = "relu",
 *   layerNormEps = 1e-5, batchFirst = false, normFirst = false, bias = true }`.
 * @returns The layer.
 * @throws {RangeError} When `dModel` is not divisible by `nhead`.
 * @throws {TypeError} From `apply`, for wrong shapes, or training dropout without a key.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { transformerEncoderLayer } from "@denax/denax/nn";
 *
 * const enc = transformerEncoderLayer({ dModel: 8, nhead: 2, dimFeedforward: 16 });
 * const p = enc.init(random.key(0));
 * const y = enc.apply(p, np.ones([5, 3, 8]), { train: true, key: random.key(1) });
 * console.log(String(y)); // Tensor(f32[5,3,8])
 * if (String(y) !== "Tensor(f32[5,3,8])") throw new Error(`got ${y}`);
 * ```
 */
export function transformerEncoderLayer(config: TransformerLayerConfig): TransformerEncoderLayer {
  checkOptions("nn.transformerEncoderLayer", config, _TRANSFORMERENCODERLAYER_KEYS);
  const { attn, norm, ff, drop, residual, keys } = _parts(config);
  return {
    name: `TransformerEncoderLayer(${config.dModel}, nhead=${config.nhead}${
      config.normFirst ? ", normFirst" : ""
    })`,
    init(key: Tensor): TransformerEncoderLayerParams {
      const [a, b] = _splitKeys(key, 2);
      return { self_attn: attn.init(a), ...ff.init(b), norm1: norm.init(a), norm2: norm.init(b) };
    },
    apply(p: TransformerEncoderLayerParams, src: Tensor, opts: EncoderApplyOptions = {}): Tensor {
      const train = opts.train ?? false;
      const [k0, k1, k2, k3] = keys(opts, 4);
      const mha: MultiHeadAttentionApplyOptions = {
        attnMask: opts.srcMask,
        keyPaddingMask: opts.srcKeyPaddingMask,
        causal: opts.isCausal,
        train,
        key: k0,
      };
      let x = residual(
        p.norm1,
        _float(src),
        (y) => drop.apply({}, attn.apply(p.self_attn, y, mha).output, { train, key: k1 }),
      );
      x = residual(
        p.norm2,
        x,
        (y) => drop.apply({}, ff.apply(p, y, { train, key: k2 }), { train, key: k3 }),
      );
      return x;
    },
  };
}

const _TRANSFORMERDECODERLAYER_KEYS: ReadonlySet<string> = new Set([
  "dModel",
  "nhead",
  "dimFeedforward",
  "dropout",
  "activation",
  "layerNormEps",
  "batchFirst",
  "normFirst",
  "bias",
]);

/**
 * A transformer decoder layer, PyTorch's `nn.TransformerDecoderLayer` (CATALOG M29, L41):
 * masked self-attention over the target, cross-attention with queries from the target and
 * keys/values from `memory` (the encoder output), then the feed-forward block, each wrapped
 * as post-norm x = norm_k(x + f(x)) (default) or pre-norm x = x + f(norm_k(x)) (`normFirst`),
 * with norm1, norm2, norm3 in that order. Inputs `{ tgt: f32[T, N, d], memory: f32[S, N, d] }`
 * (or batch-first) → f32[T, N, d]. Params `{ self_attn, multihead_attn, linear1, linear2,
 * norm1, norm2, norm3 }`. Pass `tgtIsCausal: true` (or a `tgtMask`) for autoregressive
 * decoding.
 *
 * @param config As {@link transformerEncoderLayer}.
 * @returns The layer.
 * @throws {RangeError} When `dModel` is not divisible by `nhead`.
 * @throws {TypeError} From `apply`, for wrong shapes, or training dropout without a key.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { transformerDecoderLayer } from "@denax/denax/nn";
 *
 * const dec = transformerDecoderLayer({ dModel: 8, nhead: 2, dimFeedforward: 16, batchFirst: true });
 * const p = dec.init(random.key(0));
 * const y = dec.apply(p, { tgt: np.ones([3, 4, 8]), memory: np.ones([3, 6, 8]) }, { tgtIsCausal: true });
 * console.log(String(y)); // Tensor(f32[3,4,8])
 * if (String(y) !== "Tensor(f32[3,4,8])") throw new Error(`got ${y}`);
 * ```
 */
export function transformerDecoderLayer(config: TransformerLayerConfig): TransformerDecoderLayer {
  checkOptions("nn.transformerDecoderLayer", config, _TRANSFORMERDECODERLAYER_KEYS);
  const { attn, norm, ff, drop, residual, keys } = _parts(config);
  return {
    name: `TransformerDecoderLayer(${config.dModel}, nhead=${config.nhead}${
      config.normFirst ? ", normFirst" : ""
    })`,
    init(key: Tensor): TransformerDecoderLayerParams {
      const [a, b, c] = _splitKeys(key, 3);
      return {
        self_attn: attn.init(a),
        multihead_attn: attn.init(b),
        ...ff.init(c),
        norm1: norm.init(a),
        norm2: norm.init(b),
        norm3: norm.init(c),
      };
    },
    apply(p: TransformerDecoderLayerParams, inp: DecoderInput, opts: DecoderApplyOptions = {}) {
      const train = opts.train ?? false;
      const k = keys(opts, 6);
      const memory = _float(inp.memory);
      let x = residual(p.norm1, _float(inp.tgt), (y) => {
        const o = attn.apply(p.self_attn, y, {
          attnMask: opts.tgtMask,
          keyPaddingMask: opts.tgtKeyPaddingMask,
          causal: opts.tgtIsCausal,
          train,
          key: k[0],
        }).output;
        return drop.apply({}, o, { train, key: k[1] });
      });
      x = residual(p.norm2, x, (y) => {
        const o = attn.apply(p.multihead_attn, { query: y, key: memory, value: memory }, {
          attnMask: opts.memoryMask,
          keyPaddingMask: opts.memoryKeyPaddingMask,
          causal: opts.memoryIsCausal,
          train,
          key: k[2],
        }).output;
        return drop.apply({}, o, { train, key: k[3] });
      });
      return residual(
        p.norm3,
        x,
        (y) => drop.apply({}, ff.apply(p, y, { train, key: k[4] }), { train, key: k[5] }),
      );
    },
  };
}

// ---------------------------------------------------------------- stacks

/** Options of {@link transformerEncoder} and {@link transformerDecoder}. */
export interface TransformerStackOptions {
  /** A final norm layer (PyTorch's `norm` argument), e.g. `layerNorm({ normalizedShape: d })`. */
  norm?: Layer<NormParams>;
}

const _STACK_KEYS: ReadonlySet<string> = new Set(["norm"]);

/** Parameters of a stack: PyTorch's `layers.0.…` as `layers[0]`, and the optional `norm`. */
export interface TransformerStackParams<P> {
  /** One parameter tree per layer. */
  layers: P[];
  /** The final norm's parameters (when the stack has one). */
  norm?: NormParams;
}

/** A stack of encoder layers. */
export interface TransformerEncoder
  extends Layer<TransformerStackParams<TransformerEncoderLayerParams>> {
  /** Runs every layer in order (then the final norm). */
  apply(
    params: TransformerStackParams<TransformerEncoderLayerParams>,
    src: Tensor,
    opts?: EncoderApplyOptions,
  ): Tensor;
}

/** A stack of decoder layers. */
export interface TransformerDecoder
  extends Layer<TransformerStackParams<TransformerDecoderLayerParams>, DecoderInput, Tensor> {
  /** Runs every layer in order (then the final norm). */
  apply(
    params: TransformerStackParams<TransformerDecoderLayerParams>,
    x: DecoderInput,
    opts?: DecoderApplyOptions,
  ): Tensor;
}

function _stackInit<P>(layer: Layer<P, never>, n: number, norm: Layer<NormParams> | undefined) {
  return (key: Tensor): TransformerStackParams<P> => {
    const ks = _splitKeys(key, n);
    const p: TransformerStackParams<P> = { layers: ks.map((k) => layer.init(k)) };
    if (norm) p.norm = norm.init(key);
    return p;
  };
}

/** Per-layer options: layer i gets `foldIn(key, i)`. */
const _layerOpts = <O extends ApplyOptions>(opts: O, i: number): O =>
  opts.key ? { ...opts, key: random.foldIn(opts.key, i) } : opts;

/**
 * A stack of `numLayers` encoder layers, PyTorch's `nn.TransformerEncoder(layer, num_layers,
 * norm)`: the output of layer i feeds layer i + 1, then the optional final `norm`. Params
 * `{ layers: [p0, p1, …], norm? }` — PyTorch's `layers.0.self_attn.in_proj_weight` is
 * `layers[0].self_attn.in_proj_weight`. Unlike PyTorch, which deep-copies one layer (so all
 * start equal), every layer is initialized from its own key.
 *
 * @param layer The layer to repeat (e.g. {@link transformerEncoderLayer}).
 * @param numLayers How many.
 * @param opts `{ norm? }`.
 * @returns The stack.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { transformerEncoder, transformerEncoderLayer } from "@denax/denax/nn";
 *
 * const layer = transformerEncoderLayer({ dModel: 8, nhead: 2, dimFeedforward: 16 });
 * const enc = transformerEncoder(layer, 2);
 * const p = enc.init(random.key(0));
 * const y = enc.apply(p, np.ones([4, 2, 8]));
 * console.log(p.layers.length, String(y)); // 2 Tensor(f32[4,2,8])
 * if (p.layers.length !== 2 || String(y) !== "Tensor(f32[4,2,8])") throw new Error(`got ${y}`);
 * ```
 */
export function transformerEncoder(
  layer: TransformerEncoderLayer,
  numLayers: number,
  opts: TransformerStackOptions = {},
): TransformerEncoder {
  checkOptions("nn.transformerEncoder", opts, _STACK_KEYS);
  return {
    name: `TransformerEncoder(${numLayers} × ${layer.name})`,
    init: _stackInit(layer, numLayers, opts.norm),
    apply(p, src, o: EncoderApplyOptions = {}) {
      let x = src;
      p.layers.forEach((lp, i) => (x = layer.apply(lp, x, _layerOpts(o, i))));
      return opts.norm && p.norm ? opts.norm.apply(p.norm, x) : x;
    },
  };
}

/**
 * A stack of `numLayers` decoder layers, PyTorch's `nn.TransformerDecoder(layer, num_layers,
 * norm)`: every layer attends to the same `memory`. Params as {@link transformerEncoder}.
 *
 * @param layer The layer to repeat (e.g. {@link transformerDecoderLayer}).
 * @param numLayers How many.
 * @param opts `{ norm? }`.
 * @returns The stack.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { transformerDecoder, transformerDecoderLayer } from "@denax/denax/nn";
 * import { layerNorm } from "@denax/denax/nn";
 *
 * const layer = transformerDecoderLayer({ dModel: 8, nhead: 2, dimFeedforward: 16 });
 * const dec = transformerDecoder(layer, 2, { norm: layerNorm({ normalizedShape: 8 }) });
 * const p = dec.init(random.key(0));
 * const y = dec.apply(p, { tgt: np.ones([3, 2, 8]), memory: np.ones([5, 2, 8]) }, { tgtIsCausal: true });
 * console.log(String(y)); // Tensor(f32[3,2,8])
 * if (String(y) !== "Tensor(f32[3,2,8])") throw new Error(`got ${y}`);
 * ```
 */
export function transformerDecoder(
  layer: TransformerDecoderLayer,
  numLayers: number,
  opts: TransformerStackOptions = {},
): TransformerDecoder {
  checkOptions("nn.transformerDecoder", opts, _STACK_KEYS);
  return {
    name: `TransformerDecoder(${numLayers} × ${layer.name})`,
    init: _stackInit(layer, numLayers, opts.norm),
    apply(p, inp, o: DecoderApplyOptions = {}) {
      let x = inp.tgt;
      p.layers.forEach((
        lp,
        i,
      ) => (x = layer.apply(lp, { tgt: x, memory: inp.memory }, _layerOpts(o, i))));
      return opts.norm && p.norm ? opts.norm.apply(p.norm, x) : x;
    },
  };
}
