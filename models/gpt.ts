/**
 * GPT [M32]: a decoder-only causal transformer with the parameter names, shapes and numerics of
 * Hugging Face's GPT-2 (`GPT2Model` + the tied `lm_head` of `GPT2LMHeadModel`), so a GPT-2
 * safetensors file loads with `train.loadInto` unchanged, and incremental decoding with a
 * fixed-size key/value cache in one jitted step function.
 *
 * @module
 */
import { checkValue, valueChecksApply } from "../core/checks.ts";
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { gelu, softmax } from "../layers/activations.ts";
import type { ApplyOptions, Layer } from "../layers/layer.ts";
import { _splitKeys } from "../layers/_util.ts";
import { layerNorm, type NormParams } from "../layers/norm.ts";
import { _checkPositive } from "./_common.ts";
import { _checkIds } from "./rnn_lm.ts";
import type { IncrementalLM, StepOutput } from "./generate.ts";

/** Config of {@link gpt2}; the defaults are GPT-2 small (124M). */
export interface Gpt2Config {
  /** Vocabulary size V (default 50257). */
  vocabSize?: number;
  /** Length P of the learned positional table, the longest sequence (default 1024). */
  nPositions?: number;
  /** Model width d (default 768). */
  nEmbd?: number;
  /** Number of blocks L (default 12). */
  nLayer?: number;
  /** Number of heads h; must divide d (default 12). */
  nHead?: number;
  /** LayerNorm ε (default 1e-5). */
  layerNormEpsilon?: number;
}

/** GPT-2's `Conv1D`: `y = x W + b` with `weight` f32[in, out] (transposed from `nn.Linear`). */
export interface Conv1DParams {
  /** f32[in, out]. */
  weight: Tensor;
  /** f32[out]. */
  bias: Tensor;
}

/** One block `h.N`: `ln_1`, `attn.c_attn` [d, 3d], `attn.c_proj` [d, d], `ln_2`, `mlp.c_fc` [d, 4d], `mlp.c_proj` [4d, d]. */
export interface Gpt2BlockParams {
  /** LayerNorm before attention. */
  ln_1: NormParams;
  /** Attention: fused q, k, v projection and output projection. */
  attn: { c_attn: Conv1DParams; c_proj: Conv1DParams };
  /** LayerNorm before the MLP. */
  ln_2: NormParams;
  /** MLP: d → 4d → d with gelu_new. */
  mlp: { c_fc: Conv1DParams; c_proj: Conv1DParams };
}

/** Parameters of {@link gpt2}, Hugging Face's `GPT2Model` names. */
export interface Gpt2Params {
  /** Token embeddings f32[V, d]; also the (tied) output projection. */
  wte: { weight: Tensor };
  /** Position embeddings f32[P, d]. */
  wpe: { weight: Tensor };
  /** The blocks `h.0` … `h.{L−1}`. */
  h: Gpt2BlockParams[];
  /** The final LayerNorm. */
  ln_f: NormParams;
}

/**
 * A key/value cache: `kv` f32[L, 2, batch, h, maxLen, d/h] (keys at index 0, values at 1) and
 * `pos` i32[] (a device scalar), the number of positions filled.
 */
export interface KvCache {
  /** f32[L, 2, batch, heads, maxLen, headDim]. */
  kv: Tensor;
  /** i32[]: the next position to write. */
  pos: Tensor;
}

/** The GPT-2 model: a `Layer` (ids → logits) that also decodes incrementally. */
export interface Gpt2 extends Layer<Gpt2Params>, IncrementalLM<Gpt2Params, KvCache> {
  /** The config, defaults filled in. */
  readonly config: Required<Gpt2Config>;
}

const _GPT_KEYS = new Set([
  "vocabSize",
  "nPositions",
  "nEmbd",
  "nLayer",
  "nHead",
  "layerNormEpsilon",
]);

/** GPT-2's Conv1D. */
function _conv1d(p: Conv1DParams, x: Tensor): Tensor {
  return np.add(np.matmul(x, p.weight), p.bias);
}

/**
 * GPT-2 (Radford et al. 2019) [M32], Hugging Face's layout. With x_0 = wte[ids] + wpe[0..T),
 * each block is pre-LN: `x += c_proj(attn(ln_1(x)))`, `x += mlp(ln_2(x))`, where `attn` is
 * causal multi-head self-attention `softmax(q kᵀ/√(d/h) + mask) v` over the fused projection
 * `[q | k | v] = x W_attn + b` (W_attn f32[d, 3d], Conv1D's [in, out] layout), and
 * `mlp(x) = gelu_new(x W_fc + b_fc) W_proj + b_proj` with gelu_new the tanh approximation
 * `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`; logits = ln_f(x_L) wteᵀ (the tied `lm_head`).
 *
 * Input ids i32[batch, T] with T ≤ P, output f32[batch, T, V]. Params: {@link Gpt2Params}, keys
 * `wte.weight`, `wpe.weight`, `h.0.ln_1.weight`, `h.0.attn.c_attn.weight`, …, `ln_f.bias`, as
 * `GPT2Model.state_dict()` (the Hub's files also hold `h.N.attn.bias` mask buffers: load them
 * with `loadInto(path, like, { strict: false })`). Initialization as GPT-2: N(0, 0.02) weights,
 * the residual projections N(0, 0.02/√(2L)), zero biases, unit LayerNorms. GPT-2's dropouts
 * (embedding, attention, residual; 0.1 in pre-training) are not applied: `apply` is the
 * evaluation-mode forward pass, also in training.
 *
 * `step(params, cache, ids)` decodes one position for every sequence from a {@link KvCache}
 * (`initCache(batch, maxLen = P)`): it writes this position's keys and values into the fixed-size
 * cache with a masked select at the device counter `cache.pos` and attends over the filled
 * prefix, so `jit(step)` traces once for any number of tokens.
 *
 * Seeds: S3 (GPT, decoder-only), d2l §11.9 (CATALOG M32).
 *
 * @param config {@link Gpt2Config}.
 * @returns The model.
 * @throws {RangeError} For non-positive sizes, or nHead not dividing nEmbd.
 * @throws {TypeError} From `apply`, for ids that are not `[batch, seq]` integers.
 * @throws {RangeError} From `apply`, for a sequence longer than P, or (concrete) ids outside
 *   the vocabulary; from `step` on concrete inputs, for a full cache.
 * @example
 * ```ts
 * import { models, np, random } from "@denax/denax";
 *
 * const gpt = models.gpt2({ vocabSize: 50, nPositions: 16, nEmbd: 8, nLayer: 2, nHead: 2 });
 * const p = gpt.init(random.key(0));
 * const y = gpt.apply(p, np.array([[1, 2, 3]], { dtype: "i32" }));
 * console.log(String(y)); // Tensor(f32[1,3,50])
 * if (String(y) !== "Tensor(f32[1,3,50])") throw new Error(`got ${y}`);
 * const { logits } = gpt.step(p, gpt.initCache(1), np.array([1], { dtype: "i32" }));
 * console.log(String(logits)); // Tensor(f32[1,50])
 * if (String(logits) !== "Tensor(f32[1,50])") throw new Error(`got ${logits}`);
 * ```
 */
export function gpt2(config: Gpt2Config = {}): Gpt2 {
  for (const k of Object.keys(config)) {
    if (!_GPT_KEYS.has(k)) throw new TypeError(`gpt2: unknown option ${JSON.stringify(k)}`);
  }
  const cfg: Required<Gpt2Config> = {
    vocabSize: config.vocabSize ?? 50257,
    nPositions: config.nPositions ?? 1024,
    nEmbd: config.nEmbd ?? 768,
    nLayer: config.nLayer ?? 12,
    nHead: config.nHead ?? 12,
    layerNormEpsilon: config.layerNormEpsilon ?? 1e-5,
  };
  const { vocabSize: V, nPositions: P, nEmbd: d, nLayer: L, nHead: nh } = cfg;
  const model = `gpt2(V=${V}, P=${P}, d=${d}, L=${L}, h=${nh})`;
  for (const k of ["vocabSize", "nPositions", "nEmbd", "nLayer", "nHead"] as const) {
    _checkPositive(model, k, cfg[k]);
  }
  if (d % nh !== 0) throw new RangeError(`${model}: nHead ${nh} does not divide nEmbd ${d}`);
  const hd = d / nh;
  const ln = layerNorm({ normalizedShape: d, eps: cfg.layerNormEpsilon });
  const mlp = (p: Gpt2BlockParams, x: Tensor) =>
    _conv1d(p.mlp.c_proj, gelu(_conv1d(p.mlp.c_fc, x), { approximate: true }));
  // [..., T, d] → [..., h, T, hd]
  const heads = (t: Tensor) => {
    const s = t.shape;
    return np.swapaxes(np.reshape(t, [...s.slice(0, -1), nh, hd]), -2, -3);
  };
  const merge = (t: Tensor) => {
    const s = np.swapaxes(t, -2, -3).shape; // [..., T, h, hd]
    return np.reshape(np.swapaxes(t, -2, -3), [...s.slice(0, -2), d]);
  };
  const splitQkv = (qkv: Tensor) => {
    const n = qkv.ndim - 1;
    return [0, 1, 2].map((i) => {
      const start = qkv.shape.map((_, a) => (a === n ? i * d : 0));
      const stop = qkv.shape.map((s, a) => (a === n ? (i + 1) * d : s));
      return np.slice(qkv, start, stop);
    });
  };
  const lmHead = (p: Gpt2Params, x: Tensor) =>
    np.matmul(ln.apply(p.ln_f, x), np.transpose(p.wte.weight));

  const apply = (p: Gpt2Params, ids: Tensor, _opts: ApplyOptions = {}): Tensor => {
    const t = _checkIds(model, ids, V);
    const T = t.shape[1];
    if (T > P) {
      throw new RangeError(
        `${model}: a sequence of ${T} tokens (ids ${ids.aval}) is longer than the positional table of ${P}`,
      );
    }
    let x = np.add(np.take(p.wte.weight, t, { axis: 0 }), np.slice(p.wpe.weight, [0, 0], [T, d]));
    const future = np.logicalNot(np.tril(np.ones([T, T])).astype("bool")); // key after query
    for (const b of p.h) {
      const [q, k, v] = splitQkv(_conv1d(b.attn.c_attn, ln.apply(b.ln_1, x))).map(heads);
      const s = np.divide(np.matmul(q, np.swapaxes(k, -1, -2)), Math.sqrt(hd));
      const w = softmax(np.where(future, -1e30, s), { axis: -1 });
      x = np.add(x, _conv1d(b.attn.c_proj, merge(np.matmul(w, v))));
      x = np.add(x, mlp(b, ln.apply(b.ln_2, x)));
    }
    return lmHead(p, x);
  };

  const initCache = (batch: number, maxLen = P): KvCache => {
    _checkPositive(model, "batch", batch);
    if (!Number.isInteger(maxLen) || maxLen < 1 || maxLen > P) {
      throw new RangeError(
        `${model}: cache length ${maxLen} must be an integer in [1, ${P}] (the positional table)`,
      );
    }
    return { kv: np.zeros([L, 2, batch, nh, maxLen, hd]), pos: np.array(0, { dtype: "i32" }) };
  };

  const step = (p: Gpt2Params, cache: KvCache, ids: Tensor): StepOutput<KvCache> => {
    const [, , B, , M] = cache.kv.shape;
    if (ids.ndim !== 1 || ids.shape[0] !== B) {
      throw new TypeError(`${model}.step expects ids [${B}] (one per sequence), got ${ids.aval}`);
    }
    const t = _checkIds(model, np.reshape(ids, [B, 1]), V);
    const pos = cache.pos;
    if (valueChecksApply(pos)) {
      checkValue(
        np.greaterEqual(pos, M),
        pos,
        (v) =>
          new RangeError(
            `${model}: the key/value cache is full (${v} of ${M} positions, cache ${cache.kv.aval})`,
          ),
      );
    }
    let x = np.add(
      np.take(p.wte.weight, np.reshape(t, [B]), { axis: 0 }),
      np.take(p.wpe.weight, pos, { axis: 0 }),
    ); // [B, d]
    const slots = np.arange(M);
    const here = np.reshape(np.equal(slots, pos), [1, 1, M, 1]); // the slot written now
    const seen = np.reshape(np.lessEqual(slots, pos), [1, 1, M]); // slots attended to
    const layers: Tensor[] = [];
    p.h.forEach((b, l) => {
      const [q, k, v] = splitQkv(_conv1d(b.attn.c_attn, ln.apply(b.ln_1, x))).map((u) =>
        np.reshape(u, [B, nh, 1, hd])
      );
      const layer = np.squeeze(np.slice(cache.kv, [l, 0, 0, 0, 0, 0], [l + 1, 2, B, nh, M, hd]), 0);
      const kc = np.where(
        here,
        k,
        np.squeeze(np.slice(layer, [0, 0, 0, 0, 0], [1, B, nh, M, hd]), 0),
      );
      const vc = np.where(
        here,
        v,
        np.squeeze(np.slice(layer, [1, 0, 0, 0, 0], [2, B, nh, M, hd]), 0),
      );
      layers.push(np.stack([kc, vc]));
      const s = np.divide(np.squeeze(np.matmul(q, np.swapaxes(kc, -1, -2)), 2), Math.sqrt(hd)); // [B, h, M]
      const w = softmax(np.where(seen, s, -1e30), { axis: -1 });
      const y = np.reshape(np.matmul(np.expandDims(w, 2), vc), [B, d]);
      x = np.add(x, _conv1d(b.attn.c_proj, y));
      x = np.add(x, mlp(b, ln.apply(b.ln_2, x)));
    });
    return {
      logits: lmHead(p, x),
      cache: { kv: np.stack(layers), pos: np.add(pos, np.array(1, { dtype: "i32" })) },
    };
  };

  return {
    name: model,
    config: cfg,
    vocabSize: V,
    maxLength: P,
    init(key: Tensor): Gpt2Params {
      const ks = _splitKeys(key, 2 + 4 * L);
      const nrm = (k: Tensor, shape: number[], std = 0.02) =>
        np.multiply(random.normal(k, shape), std);
      const conv = (k: Tensor, i: number, o: number, std = 0.02): Conv1DParams => ({
        weight: nrm(k, [i, o], std),
        bias: np.zeros([o]),
      });
      const rstd = 0.02 / Math.sqrt(2 * L);
      return {
        wte: { weight: nrm(ks[0], [V, d]) },
        wpe: { weight: nrm(ks[1], [P, d], 0.01) },
        h: Array.from({ length: L }, (_, l) => {
          const [a, b, c, e] = ks.slice(2 + 4 * l, 6 + 4 * l);
          return {
            ln_1: ln.init(a),
            attn: { c_attn: conv(a, d, 3 * d), c_proj: conv(b, d, d, rstd) },
            ln_2: ln.init(c),
            mlp: { c_fc: conv(c, d, 4 * d), c_proj: conv(e, 4 * d, d, rstd) },
          };
        }),
        ln_f: ln.init(ks[0]),
      };
    },
    apply,
    initCache,
    step,
  };
}
