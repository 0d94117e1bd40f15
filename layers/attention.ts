/**
 * Attention: d2l's `maskedSoftmax`, dot-product and scaled dot-product attention (the
 * functional form of PyTorch's `F.scaled_dot_product_attention`), Bahdanau's additive
 * attention as a layer, and PyTorch's `nn.MultiheadAttention` with its packed parameters.
 *
 * **Two mask conventions**, both PyTorch's, so code ports without flipping masks:
 *
 * - {@link scaledDotProductAttention} / {@link dotProductAttention} / {@link attentionWeights}:
 *   a boolean `mask` is **true where attention is allowed** (`F.scaled_dot_product_attention`'s
 *   `attn_mask`);
 * - {@link multiHeadAttention}: a boolean `attnMask` or `keyPaddingMask` is **true where
 *   attention is NOT allowed** (`nn.MultiheadAttention`'s `attn_mask`, `key_padding_mask`).
 *
 * In both, a float mask is added to the scores (use −∞ or a large negative number to block).
 * Boolean-masked scores are replaced by a large negative finite number (−0.7 · f32 max, as
 * `jax.nn.dot_product_attention`) rather than −∞, so a fully masked row gives uniform weights
 * where PyTorch gives NaN.
 *
 * @module
 */
import { checkOptions } from "../core/validate.ts";
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { softmax } from "./activations.ts";
import type { ApplyOptions, Layer } from "./layer.ts";
import { dropout, linear, type LinearParams } from "./linear.ts";
import { _float, _splitKeys } from "./_util.ts";

/** The score that a boolean mask puts on blocked positions (JAX's choice). */
const NEG = -0.7 * 3.4028234663852886e38;

// ---------------------------------------------------------------- masked softmax

/**
 * d2l's masked softmax: a softmax over the last axis of `scores` f32[..., Q, K] in which only
 * the first `validLens` keys count; the others get the score −10⁶ (d2l's value), hence weight
 * ≈ 0. `validLens` is i32/f32 [...] (one length per row block, d2l's 1-D case) or [..., Q]
 * (one per query); omitted, it is a plain softmax. Source: d2l §11.3 (CATALOG L42, M27).
 *
 * @param scores f32[..., Q, K].
 * @param validLens [...] or [..., Q] key counts, or undefined.
 * @returns Weights f32[..., Q, K], rows summing to 1.
 * @throws {TypeError} When `validLens` fits neither shape.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { maskedSoftmax } from "@denax/denax/nn";
 *
 * const w = maskedSoftmax(np.zeros([1, 2, 4]), np.array([[2, 3]]));
 * console.log(await w.toArray()); // ≈ [[[0.5, 0.5, 0, 0], [0.333, 0.333, 0.333, 0]]]
 * const err = await w.sub([[[0.5, 0.5, 0, 0], [0.333, 0.333, 0.333, 0]]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function maskedSoftmax(scores: Tensor, validLens?: Tensor): Tensor {
  const s = _float(scores);
  if (validLens === undefined) return softmax(s);
  return softmax(np.where(_lengthMask("maskedSoftmax", s.shape, validLens), s, -1e6));
}

/** `arange(K) < validLens`, broadcast against scores [..., Q, K]. */
function _lengthMask(op: string, shape: readonly number[], validLens: Tensor): Tensor {
  const nd = shape.length, k = shape[nd - 1];
  const lead = shape.slice(0, -2).join(), leadQ = shape.slice(0, -1).join();
  let vl: Tensor;
  if (validLens.ndim === nd - 2 && validLens.shape.join() === lead) {
    vl = np.expandDims(validLens, [-1, -2]);
  } else if (validLens.ndim === nd - 1 && validLens.shape.join() === leadQ) {
    vl = np.expandDims(validLens, -1);
  } else {
    throw new TypeError(
      `${op}: validLens ${validLens.aval} must be [${shape.slice(0, -2)}] or ` +
        `[${shape.slice(0, -1)}] for scores [${shape}]`,
    );
  }
  return np.less(np.arange(k), vl);
}

// ---------------------------------------------------------------- dot-product attention

/** Options of {@link scaledDotProductAttention}, {@link dotProductAttention}, {@link attentionWeights}. */
export interface AttentionOptions {
  /**
   * Broadcastable to [..., L, S]. Boolean: **true = may attend** (as PyTorch's
   * `F.scaled_dot_product_attention`; the opposite of `nn.MultiheadAttention`). Float: added to
   * the scores.
   */
  mask?: Tensor;
  /**
   * Causal (look-ahead) masking: query i attends to keys j ≤ i, aligned top-left as PyTorch's
   * `is_causal` (`tril(ones(L, S))`). Combines with `mask` (PyTorch forbids both at once).
   */
  causal?: boolean;
  /** d2l-style valid key counts, [...] or [..., L] (see {@link maskedSoftmax}). */
  validLens?: Tensor;
  /** Multiplies the scores q·k (default 1/√E for the scaled form, 1 for the plain one). */
  scale?: number;
  /** Dropout rate on the attention weights (default 0); needs `key` when positive. */
  dropout?: number;
  /** PRNG key for the dropout. */
  key?: Tensor;
}

/**
 * The attention weights softmax(scale · q kᵀ + masks) f32[..., L, S] of {@link
 * scaledDotProductAttention} (before dropout), for inspecting or plotting.
 *
 * @param q f32[..., L, E].
 * @param k f32[..., S, E].
 * @param opts `{ mask, causal, validLens, scale = 1/√E }`.
 * @returns f32[..., L, S], rows summing to 1.
 * @throws {TypeError} For mismatched shapes.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { attentionWeights } from "@denax/denax/nn";
 *
 * const w = attentionWeights(np.ones([3, 2]), np.ones([3, 2]), { causal: true });
 * console.log(await w.toArray()); // ≈ [[1, 0, 0], [0.5, 0.5, 0], [0.333, 0.333, 0.333]]
 * const err = await w.sub([[1, 0, 0], [0.5, 0.5, 0], [0.333, 0.333, 0.333]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function attentionWeights(q: Tensor, k: Tensor, opts: AttentionOptions = {}): Tensor {
  return _weights("attentionWeights", q, k, opts, 1 / Math.sqrt(q.shape[q.ndim - 1]));
}

function _weights(op: string, q: Tensor, k: Tensor, opts: AttentionOptions, dflt: number): Tensor {
  if (q.ndim < 2 || k.ndim < 2 || q.shape[q.ndim - 1] !== k.shape[k.ndim - 1]) {
    throw new TypeError(
      `${op} expects q [..., L, E] and k [..., S, E] with the same E, got ${q.aval} and ${k.aval}`,
    );
  }
  const scale = opts.scale ?? dflt;
  let scores = np.matmul(_float(q), np.swapaxes(_float(k), -1, -2)).mul(scale);
  const [l, s] = scores.shape.slice(-2);
  let allowed: Tensor | null = null;
  const allow = (m: Tensor) => (allowed = allowed ? np.logicalAnd(allowed, m) : m);
  if (opts.mask) {
    if (opts.mask.dtype === "bool") allow(opts.mask);
    else scores = scores.add(opts.mask);
  }
  if (opts.causal) allow(np.astype(np.tri(l, s), "bool"));
  if (opts.validLens) allow(_lengthMask(op, scores.shape, opts.validLens));
  if (allowed) scores = np.where(allowed, scores, NEG);
  return softmax(scores);
}

function _attend(op: string, q: Tensor, k: Tensor, v: Tensor, o: AttentionOptions, dflt: number) {
  if (v.ndim < 2 || v.shape[v.ndim - 2] !== k.shape[k.ndim - 2]) {
    throw new TypeError(`${op} expects v [..., S, Ev] with k's S, got k ${k.aval} and v ${v.aval}`);
  }
  let w = _weights(op, q, k, o, dflt);
  const rate = o.dropout ?? 0;
  if (rate > 0) {
    if (!o.key) throw new TypeError(`${op}: dropout needs a PRNG key (opts.key)`);
    w = dropout({ rate }).apply({}, w, { train: true, key: o.key });
  }
  return np.matmul(w, _float(v));
}

/**
 * Scaled dot-product attention (Vaswani et al. 2017; CATALOG L35):
 * softmax(q kᵀ / √E + masks) v, PyTorch's `F.scaled_dot_product_attention`.
 *
 * Shapes q f32[..., L, E], k f32[..., S, E], v f32[..., S, Ev] → f32[..., L, Ev]; leading
 * dimensions broadcast (e.g. [batch, heads]). A boolean `mask` is **true where attention is
 * allowed** (PyTorch's SDPA convention); a float mask is added. `causal` blocks keys after
 * the query (top-left aligned). Dropout (rate `dropout`, with `key`) acts on the weights, as
 * PyTorch's `dropout_p`; there is no train flag here, pass `dropout: 0` at evaluation.
 *
 * @param q Queries f32[..., L, E].
 * @param k Keys f32[..., S, E].
 * @param v Values f32[..., S, Ev].
 * @param opts `{ mask, causal, validLens, scale = 1/√E, dropout = 0, key }`.
 * @returns f32[..., L, Ev].
 * @throws {TypeError} For mismatched shapes, or dropout without a key.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { scaledDotProductAttention } from "@denax/denax/nn";
 *
 * const q = np.array([[1, 0]]), k = np.array([[1, 0], [0, 1]]), v = np.array([[10], [20]]);
 * const o = scaledDotProductAttention(q, k, v, { mask: np.array([[true, false]]) });
 * console.log(await o.toArray()); // [[10]]
 * const err = await o.sub([[10]]).abs().max().item();
 * if (Number(err) > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
): Tensor {
  return _attend("scaledDotProductAttention", q, k, v, opts, 1 / Math.sqrt(q.shape[q.ndim - 1]));
}

/**
 * Dot-product attention with the plain score qᵀk (CATALOG L34: S0 L100, S1 L544; Luong's
 * "dot"): softmax(q kᵀ + masks) v. The same as {@link scaledDotProductAttention} with
 * `scale` defaulting to 1 instead of 1/√E (d2l's `DotProductAttention` is the scaled one).
 *
 * @param q Queries f32[..., L, E].
 * @param k Keys f32[..., S, E].
 * @param v Values f32[..., S, Ev].
 * @param opts As {@link scaledDotProductAttention}, with `scale = 1`.
 * @returns f32[..., L, Ev].
 * @throws {TypeError} For mismatched shapes, or dropout without a key.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { dotProductAttention } from "@denax/denax/nn";
 *
 * const q = np.array([[0, 0]]), k = np.array([[1, 0], [0, 1]]), v = np.array([[10], [20]]);
 * const y = dotProductAttention(q, k, v);
 * console.log(await y.toArray()); // [[15]]
 * const err = await y.sub([[15]]).abs().max().item();
 * if (Number(err) > 0.001) throw new Error(`off by ${err}`);
 * ```
 */
export function dotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
): Tensor {
  return _attend("dotProductAttention", q, k, v, opts, 1);
}

// ---------------------------------------------------------------- additive attention

/** Config of {@link additiveAttention}. */
export interface AdditiveAttentionConfig {
  /** Size of a query vector. */
  querySize: number;
  /** Size of a key vector. */
  keySize: number;
  /** Hidden size h of the scoring network. */
  numHiddens: number;
  /** Dropout rate on the attention weights in training (default 0). */
  dropout?: number;
}

/** Parameters of {@link additiveAttention}: d2l's `W_q`, `W_k`, `w_v` (bias-free linears). */
export interface AdditiveAttentionParams {
  /** `{ weight: f32[h, querySize] }`. */
  W_q: LinearParams;
  /** `{ weight: f32[h, keySize] }`. */
  W_k: LinearParams;
  /** `{ weight: f32[1, h] }`. */
  w_v: LinearParams;
}

/** Inputs of attention layers: queries, keys and values. */
export interface QueryKeyValue {
  /** f32[..., Q, querySize]. */
  queries: Tensor;
  /** f32[..., K, keySize]. */
  keys: Tensor;
  /** f32[..., K, valueSize]. */
  values: Tensor;
}

/** Options of {@link additiveAttention}'s `apply`. */
export interface AdditiveAttentionApplyOptions extends ApplyOptions {
  /** Valid key counts, [...] or [..., Q] (see {@link maskedSoftmax}). */
  validLens?: Tensor;
}

/** What attention layers return: the output and the attention weights. */
export interface AttentionOutput {
  /** The attended values. */
  output: Tensor;
  /** The attention weights (after dropout, as PyTorch returns them). */
  weights: Tensor;
}

/** The layer of {@link additiveAttention}. */
export interface AdditiveAttentionLayer
  extends Layer<AdditiveAttentionParams, QueryKeyValue, AttentionOutput> {
  /** Scores every query against every key and averages the values. */
  apply(
    params: AdditiveAttentionParams,
    x: QueryKeyValue,
    opts?: AdditiveAttentionApplyOptions,
  ): AttentionOutput;
}

const _ADDITIVEATTENTION_KEYS: ReadonlySet<string> = new Set([
  "querySize",
  "keySize",
  "numHiddens",
  "dropout",
]);

/**
 * Additive (Bahdanau) attention as a layer, d2l's `AdditiveAttention` (Bahdanau et al. 2015;
 * CATALOG L36, M27): score(q, k) = w_vᵀ tanh(W_q q + W_k k), weights = maskedSoftmax(scores,
 * validLens), output = dropout(weights) · values.
 *
 * Inputs `{ queries: f32[..., Q, querySize], keys: f32[..., K, keySize], values:
 * f32[..., K, Dv] }`; returns `{ output: f32[..., Q, Dv], weights: f32[..., Q, K] }`. Params
 * `{ W_q: { weight: [h, querySize] }, W_k: { weight: [h, keySize] }, w_v: { weight: [1, h] } }`
 * (d2l's names, bias-free `nn.Linear`s, default init U(−1/√in, 1/√in)).
 *
 * @param config `{ querySize, keySize, numHiddens, dropout = 0 }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, for mismatched shapes or dropout without a key.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { additiveAttention } from "@denax/denax/nn";
 *
 * const att = additiveAttention({ querySize: 4, keySize: 3, numHiddens: 8 });
 * const p = att.init(random.key(0));
 * const { output, weights } = att.apply(p, {
 *   queries: np.ones([2, 1, 4]),
 *   keys: np.ones([2, 5, 3]),
 *   values: np.ones([2, 5, 6]),
 * }, { validLens: np.array([2, 5]) });
 * console.log(String(output), String(weights)); // Tensor(f32[2,1,6]) Tensor(f32[2,1,5])
 * if (`${output} ${weights}` !== "Tensor(f32[2,1,6]) Tensor(f32[2,1,5])") throw new Error(`got ${output} ${weights}`);
 * ```
 */
export function additiveAttention(config: AdditiveAttentionConfig): AdditiveAttentionLayer {
  checkOptions("nn.additiveAttention", config, _ADDITIVEATTENTION_KEYS);
  const { querySize, keySize, numHiddens } = config;
  const wq = linear({ inFeatures: querySize, outFeatures: numHiddens, bias: false });
  const wk = linear({ inFeatures: keySize, outFeatures: numHiddens, bias: false });
  const wv = linear({ inFeatures: numHiddens, outFeatures: 1, bias: false });
  const drop = dropout({ rate: config.dropout ?? 0 });
  const name = `AdditiveAttention(${querySize}, ${keySize} → ${numHiddens})`;
  return {
    name,
    init(key: Tensor): AdditiveAttentionParams {
      const [a, b, c] = _splitKeys(key, 3);
      return { W_q: wq.init(a), W_k: wk.init(b), w_v: wv.init(c) };
    },
    apply(params: AdditiveAttentionParams, x: QueryKeyValue, opts = {}): AttentionOutput {
      const { queries, keys, values } = x;
      if (values.ndim < 2 || values.shape[values.ndim - 2] !== keys.shape[keys.ndim - 2]) {
        throw new TypeError(
          `${name}: values ${values.aval} must have keys' length (keys ${keys.aval})`,
        );
      }
      // [..., Q, 1, h] + [..., 1, K, h] → [..., Q, K, h] → score [..., Q, K]
      const qh = np.expandDims(wq.apply(params.W_q, queries), -2);
      const kh = np.expandDims(wk.apply(params.W_k, keys), -3);
      const scores = np.squeeze(wv.apply(params.w_v, np.tanh(qh.add(kh))), -1);
      const weights = drop.apply({}, maskedSoftmax(scores, opts.validLens), opts);
      return { output: np.matmul(weights, _float(values)), weights };
    },
  };
}

// ---------------------------------------------------------------- multi-head attention

/** Config of {@link multiHeadAttention} (PyTorch's `nn.MultiheadAttention` arguments). */
export interface MultiHeadAttentionConfig {
  /** Model dimension E (queries' features and the output's). */
  embedDim: number;
  /** Number of heads h; E must be divisible by h. */
  numHeads: number;
  /** Whether the input and output projections have biases (default true). */
  bias?: boolean;
  /** Keys' feature size (default E). */
  kdim?: number;
  /** Values' feature size (default E). */
  vdim?: number;
  /** Inputs and outputs are [batch, seq, E] instead of [seq, batch, E] (default false). */
  batchFirst?: boolean;
  /** Dropout rate on the attention weights in training (default 0). */
  dropout?: number;
}

/**
 * Parameters of {@link multiHeadAttention}, PyTorch's names: the packed `in_proj_weight`
 * f32[3E, E] (rows q, k, v) when kdim = vdim = E, else `q_proj_weight` [E, E],
 * `k_proj_weight` [E, kdim], `v_proj_weight` [E, vdim]; `in_proj_bias` f32[3E]; `out_proj`
 * `{ weight: [E, E], bias: [E] }`. Biases are absent with `bias: false`.
 */
export interface MultiHeadAttentionParams {
  /** f32[3E, E] (same-size keys and values). */
  in_proj_weight?: Tensor;
  /** f32[E, E] (separate projections). */
  q_proj_weight?: Tensor;
  /** f32[E, kdim]. */
  k_proj_weight?: Tensor;
  /** f32[E, vdim]. */
  v_proj_weight?: Tensor;
  /** f32[3E]. */
  in_proj_bias?: Tensor;
  /** The output projection. */
  out_proj: LinearParams;
}

/** Inputs of {@link multiHeadAttention}: `key` and `value` default to `query` (self-attention). */
export interface MultiHeadAttentionInput {
  /** f32[L, N, E] (batchFirst: f32[N, L, E]; unbatched f32[L, E]). */
  query: Tensor;
  /** f32[S, N, kdim] (default: query). Not a PRNG key, which goes in the options. */
  key?: Tensor;
  /** f32[S, N, vdim] (default: key). */
  value?: Tensor;
}

/** Options of {@link multiHeadAttention}'s `apply`. */
export interface MultiHeadAttentionApplyOptions extends ApplyOptions {
  /** f32/bool[N, S]: boolean **true = ignore this key** (padding), as PyTorch; float: added. */
  keyPaddingMask?: Tensor;
  /** [L, S] or [N·h, L, S]: boolean **true = NOT allowed**, as PyTorch's MHA; float: added. */
  attnMask?: Tensor;
  /**
   * Apply a causal mask (query i sees keys j ≤ i). PyTorch's `is_causal` is only a hint that
   * `attn_mask` is causal; here it builds the mask itself (and combines with `attnMask`).
   */
  causal?: boolean;
  /** Average the returned weights over heads (default true, as PyTorch). */
  averageAttnWeights?: boolean;
}

/** A multi-head attention layer. */
export interface MultiHeadAttentionLayer
  extends Layer<MultiHeadAttentionParams, Tensor | MultiHeadAttentionInput, AttentionOutput> {
  /** Attends; a bare Tensor means self-attention. */
  apply(
    params: MultiHeadAttentionParams,
    x: Tensor | MultiHeadAttentionInput,
    opts?: MultiHeadAttentionApplyOptions,
  ): AttentionOutput;
}

/** Glorot/Xavier uniform U(±√(6 / (fanIn + fanOut))) for a [out, in] matrix. */
function _xavier(key: Tensor, shape: [number, number]): Tensor {
  const b = Math.sqrt(6 / (shape[0] + shape[1]));
  return random.uniform(key, shape, { minval: -b, maxval: b });
}

/** `x Wᵀ + b` over the last axis. */
function _proj(x: Tensor, w: Tensor, b: Tensor | undefined): Tensor {
  const y = np.matmul(x, np.transpose(w));
  return b ? y.add(b) : y;
}

/**
 * Applies nn.MultiheadAttention's masks to scores f32[N, h, L, S]: boolean entries true =
 * blocked (replaced by NEG), float entries added.
 */
function _mhaMasks(
  name: string,
  scores: Tensor,
  opts: MultiHeadAttentionApplyOptions,
  nh: number,
  unbatched: boolean,
): Tensor {
  const [n, , l, s] = scores.shape;
  let blocked: Tensor | null = null;
  const use = (m: Tensor) => {
    if (m.dtype === "bool") blocked = blocked ? np.logicalOr(blocked, m) : m;
    else scores = scores.add(m);
  };
  const am = opts.attnMask;
  if (am) {
    const ok = (am.ndim === 2 && am.shape.join() === `${l},${s}`) ||
      (am.ndim === 3 && am.shape.join() === `${n * nh},${l},${s}`);
    if (!ok) {
      throw new TypeError(
        `${name} expects attnMask [${l}, ${s}] or [${n * nh}, ${l}, ${s}], got ${am.aval}`,
      );
    }
    use(am.ndim === 3 ? np.reshape(am, [n, nh, l, s]) : am);
  }
  const kpm = opts.keyPaddingMask;
  if (kpm) {
    const want = unbatched ? [s] : [n, s];
    if (kpm.shape.join() !== want.join()) {
      throw new TypeError(`${name} expects keyPaddingMask [${want}], got ${kpm.aval}`);
    }
    use(np.reshape(kpm, [n, 1, 1, s]));
  }
  if (opts.causal) use(np.logicalNot(np.astype(np.tri(l, s), "bool")));
  return blocked ? np.where(blocked, NEG, scores) : scores;
}

const _MULTIHEADATTENTION_KEYS: ReadonlySet<string> = new Set([
  "embedDim",
  "numHeads",
  "bias",
  "kdim",
  "vdim",
  "batchFirst",
  "dropout",
]);

/**
 * Multi-head attention, PyTorch's `nn.MultiheadAttention` (Vaswani et al. 2017; CATALOG L39):
 * head_i = softmax(Q_i K_iᵀ / √(E/h) + masks) V_i with Q = query W_qᵀ + b_q (and K, V alike)
 * split into h heads of E/h features; output = Concat(head_1 … head_h) W_oᵀ + b_o.
 *
 * Inputs `query` f32[L, N, E], `key` f32[S, N, kdim], `value` f32[S, N, vdim] (`batchFirst`:
 * batch first; unbatched [L, E] works too); a bare Tensor is self-attention, and `key`,
 * `value` default to the query. Returns `{ output: f32[L, N, E], weights: f32[N, L, S] }` —
 * weights averaged over heads as PyTorch's default (`averageAttnWeights: false` gives
 * [N, h, L, S]), after dropout as PyTorch returns them.
 *
 * Masks follow **nn.MultiheadAttention: boolean true = NOT allowed** (`keyPaddingMask` [N, S],
 * `attnMask` [L, S] or [N·h, L, S]); float masks are added. This is the opposite of
 * {@link scaledDotProductAttention}'s boolean `mask`.
 *
 * Params (PyTorch names, see {@link MultiHeadAttentionParams}) and init as PyTorch's
 * `_reset_parameters`: Xavier-uniform input projections, zero `in_proj_bias` and
 * `out_proj.bias`, `out_proj.weight` U(−1/√E, 1/√E). Not supported: `add_bias_kv`,
 * `add_zero_attn`.
 *
 * @param config `{ embedDim, numHeads, bias = true, kdim = E, vdim = E, batchFirst = false,
 *   dropout = 0 }`.
 * @returns The layer.
 * @throws {RangeError} When `embedDim` is not divisible by `numHeads`.
 * @throws {TypeError} From `apply`, for mismatched shapes, or dropout in training without a key.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { multiHeadAttention } from "@denax/denax/nn";
 *
 * const mha = multiHeadAttention({ embedDim: 8, numHeads: 2, batchFirst: true });
 * const p = mha.init(random.key(0)); // { in_proj_weight: [24, 8], in_proj_bias, out_proj }
 * const x = np.ones([3, 5, 8]);
 * const pad = np.array([[false, false, false, true, true], [false, false, false, false, false],
 *   [false, true, true, true, true]]);
 * const { output, weights } = mha.apply(p, x, { keyPaddingMask: pad });
 * console.log(String(output), String(weights)); // Tensor(f32[3,5,8]) Tensor(f32[3,5,5])
 * if (`${output} ${weights}` !== "Tensor(f32[3,5,8]) Tensor(f32[3,5,5])") throw new Error(`got ${output} ${weights}`);
 * ```
 */
export function multiHeadAttention(config: MultiHeadAttentionConfig): MultiHeadAttentionLayer {
  checkOptions("nn.multiHeadAttention", config, _MULTIHEADATTENTION_KEYS);
  const e = config.embedDim, nh = config.numHeads;
  if (!(nh > 0 && e % nh === 0)) {
    throw new RangeError(`multiHeadAttention: embedDim ${e} must be divisible by numHeads ${nh}`);
  }
  const kdim = config.kdim ?? e, vdim = config.vdim ?? e;
  const packed = kdim === e && vdim === e;
  const useBias = config.bias ?? true, batchFirst = config.batchFirst ?? false;
  const rate = config.dropout ?? 0;
  const outProj = linear({ inFeatures: e, outFeatures: e, bias: useBias });
  const name = `MultiheadAttention(${e}, heads=${nh}${
    packed ? "" : `, kdim=${kdim}, vdim=${vdim}`
  })`;
  return {
    name,
    init(key: Tensor): MultiHeadAttentionParams {
      const ks = _splitKeys(key, 4);
      const out = outProj.init(ks[3]);
      const p: MultiHeadAttentionParams = {
        out_proj: useBias ? { weight: out.weight, bias: np.zeros([e]) } : out,
      };
      if (packed) p.in_proj_weight = _xavier(ks[0], [3 * e, e]);
      else {
        p.q_proj_weight = _xavier(ks[0], [e, e]);
        p.k_proj_weight = _xavier(ks[1], [e, kdim]);
        p.v_proj_weight = _xavier(ks[2], [e, vdim]);
      }
      if (useBias) p.in_proj_bias = np.zeros([3 * e]);
      return p;
    },
    apply(params, x, opts = {}) {
      const inp = x instanceof Object && "query" in x ? x : { query: x as Tensor };
      const query = _float(inp.query);
      const key = _float(inp.key ?? query), value = _float(inp.value ?? inp.key ?? query);
      const ub = query.ndim === 2;
      const lay = (t: Tensor, f: number, what: string): Tensor => {
        if (t.ndim !== query.ndim || t.ndim < 2 || t.ndim > 3 || t.shape[t.ndim - 1] !== f) {
          const dims = ub
            ? `[seq, ${f}]`
            : batchFirst
            ? `[batch, seq, ${f}]`
            : `[seq, batch, ${f}]`;
          throw new TypeError(`${name} expects ${what} ${dims}, got ${t.aval}`);
        }
        // internally [N, seq, features]
        return ub ? np.expandDims(t, 0) : batchFirst ? t : np.swapaxes(t, 0, 1);
      };
      const q0 = lay(query, e, "query"), k0 = lay(key, kdim, "key"), v0 = lay(value, vdim, "value");
      const [n, l] = q0.shape, s = k0.shape[1];
      if (k0.shape[0] !== n || v0.shape[0] !== n || v0.shape[1] !== s) {
        throw new TypeError(
          `${name}: query ${query.aval}, key ${key.aval} and value ${value.aval} disagree on batch or source length`,
        );
      }
      const rows = (w: Tensor | undefined, i: number) => w && np.slice(w, [i * e], [(i + 1) * e]);
      const b = params.in_proj_bias;
      const wq = packed ? rows(params.in_proj_weight, 0)! : params.q_proj_weight!;
      const wk = packed ? rows(params.in_proj_weight, 1)! : params.k_proj_weight!;
      const wv = packed ? rows(params.in_proj_weight, 2)! : params.v_proj_weight!;
      // [N, seq, E] → [N, h, seq, E/h]
      const heads = (t: Tensor, len: number) =>
        np.transpose(np.reshape(t, [n, len, nh, e / nh]), [0, 2, 1, 3]);
      const q = heads(_proj(q0, wq, rows(b, 0)), l);
      const k = heads(_proj(k0, wk, rows(b, 1)), s);
      const v = heads(_proj(v0, wv, rows(b, 2)), s);
      let scores = np.matmul(q, np.swapaxes(k, -1, -2)).mul(1 / Math.sqrt(e / nh)); // [N,h,L,S]
      scores = _mhaMasks(name, scores, opts, nh, ub);
      let w = softmax(scores);
      if (opts.train && rate > 0) {
        if (!opts.key) throw new TypeError(`${name} needs a PRNG key for dropout in training mode`);
        w = dropout({ rate }).apply({}, w, opts);
      }
      // [N, h, L, E/h] → [N, L, E]
      const o = np.reshape(np.transpose(np.matmul(w, v), [0, 2, 1, 3]), [n, l, e]);
      const y = outProj.apply(params.out_proj, o);
      const weights = opts.averageAttnWeights === false ? w : np.mean(w, { axis: 1 });
      return {
        output: ub ? np.squeeze(y, 0) : batchFirst ? y : np.swapaxes(y, 0, 1),
        weights: ub ? np.squeeze(weights, 0) : weights,
      };
    },
  };
}
