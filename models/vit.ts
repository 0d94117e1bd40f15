/**
 * Vision Transformer (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"; CATALOG M30:
 * split the image into patches, embed them linearly, run a Transformer encoder; seed S4 §11.8,
 * S3), in torchvision's structure: `vitB16().init` has exactly the keys and shapes of
 * `torchvision.models.vit_b_16().state_dict()`.
 *
 * | part                                 | shape (ViT-B/16, 224 input)  | computation               |
 * | ------------------------------------ | ---------------------------- | ------------------------- |
 * | `conv_proj`                          | [N, 768, 14, 14] → [N, 196, 768] | 16×16 conv, stride 16 (patch embedding) |
 * | `class_token`                        | [N, 197, 768]                | prepend a learned token   |
 * | `encoder.pos_embedding`              | [1, 197, 768]                | add learned positions, dropout |
 * | `encoder.layers.encoder_layer_i` ×12 | [N, 197, 768]                | x += MHA(ln_1(x)); x += MLP(ln_2(x)) |
 * | `encoder.ln`                         | [N, 197, 768]                | LayerNorm (ε = 1e-6)      |
 * | `heads.head`                         | [N, classes]                 | Linear on the class token |
 *
 * Each encoder block is pre-norm: `x = x + dropout(MHA(ln_1(x)))`, `x = x + MLP(ln_2(x))`
 * with `MLP = Linear(d, mlp) → GELU (exact) → dropout → Linear(mlp, d) → dropout`
 * (torchvision's `mlp.0` and `mlp.3`); attention is `nn.MultiheadAttention` (`in_proj_weight`
 * packs q, k, v).
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { foldIn } from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { gelu } from "../layers/activations.ts";
import { multiHeadAttention } from "../layers/attention.ts";
import { conv2d } from "../layers/conv.ts";
import { glorotUniform, normal, truncatedNormal, zeros } from "../layers/init.ts";
import type { ApplyOptions, Layer, Params } from "../layers/layer.ts";
import { dropout, linear } from "../layers/linear.ts";
import { _splitKeys } from "../layers/_util.ts";
import { layerNorm } from "../layers/norm.ts";
import { _positive } from "./_blocks.ts";

/** Config of {@link vit}. */
export interface ViTConfig {
  /** Input height and width, fixed by the position embedding (default 224). */
  imageSize?: number;
  /** Patch height and width; must divide `imageSize` (default 16). */
  patchSize?: number;
  /** Encoder blocks (default 12). */
  numLayers?: number;
  /** Attention heads; must divide `hiddenDim` (default 12). */
  numHeads?: number;
  /** Token width d (default 768). */
  hiddenDim?: number;
  /** MLP hidden width (default 3072). */
  mlpDim?: number;
  /** Dropout after the position embedding, the attention and in the MLP (default 0). */
  dropout?: number;
  /** Dropout on the attention weights (default 0). */
  attentionDropout?: number;
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** The model's name in errors. */
  name?: string;
}

/** Options of the named ViTs. */
export type ViTOptions = Pick<
  ViTConfig,
  "numClasses" | "inChannels" | "imageSize" | "dropout" | "attentionDropout"
>;

/**
 * A Vision Transformer (Dosovitskiy et al. 2021) in torchvision's structure (see the module
 * doc). Input f32[N, C, imageSize, imageSize] (or one example [C, imageSize, imageSize]);
 * output f32[N, numClasses]. Stateless: `apply(params, x, { train, key })` (`key` for dropout
 * in training).
 *
 * Params use torchvision's names: `class_token` [1, 1, d], `conv_proj.weight` [d, C, p, p],
 * `encoder.pos_embedding` [1, (S/p)² + 1, d], `encoder.layers.encoder_layer_0.ln_1.weight`,
 * `….self_attention.in_proj_weight` [3d, d], `….mlp["0"].weight` (`mlp.0.weight`),
 * `….mlp["3"]`, `encoder.ln`, `heads.head`. Init as torchvision: truncated-normal patch
 * embedding (σ = 1/√fanIn) with zero bias, zero class token, N(0, 0.02²) positions,
 * Xavier-uniform MLP weights with N(0, 10⁻¹²) biases, PyTorch's MHA init, zero head.
 *
 * @param config `{ imageSize = 224, patchSize = 16, numLayers = 12, numHeads = 12,
 *   hiddenDim = 768, mlpDim = 3072, dropout = 0, attentionDropout = 0, numClasses = 1000,
 *   inChannels = 3, name }`.
 * @returns The layer.
 * @throws {RangeError} For a malformed config (patch size not dividing the image size, heads
 *   not dividing the width).
 * @throws {TypeError} From `apply`, for an input that is not [N, C, imageSize, imageSize].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { vit } from "@denax/denax/models";
 *
 * const net = vit({ imageSize: 28, patchSize: 7, numLayers: 1, numHeads: 2, hiddenDim: 16,
 *   mlpDim: 32, inChannels: 1, numClasses: 10 });
 * const y = net.apply(net.init(random.key(0)), np.ones([2, 1, 28, 28]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function vit(config: ViTConfig = {}): Layer<Params> {
  const model = config.name ?? "vit";
  const size = _positive(model, "imageSize", config.imageSize ?? 224);
  const patch = _positive(model, "patchSize", config.patchSize ?? 16);
  const nLayers = _positive(model, "numLayers", config.numLayers ?? 12);
  const heads = _positive(model, "numHeads", config.numHeads ?? 12);
  const d = _positive(model, "hiddenDim", config.hiddenDim ?? 768);
  const mlpDim = _positive(model, "mlpDim", config.mlpDim ?? 3072);
  const classes = _positive(model, "numClasses", config.numClasses ?? 1000);
  const inC = _positive(model, "inChannels", config.inChannels ?? 3);
  const rate = config.dropout ?? 0, attnRate = config.attentionDropout ?? 0;
  if (size % patch !== 0) {
    throw new RangeError(`${model}: patchSize ${patch} must divide imageSize ${size}`);
  }
  if (d % heads !== 0) {
    throw new RangeError(`${model}: numHeads ${heads} must divide hiddenDim ${d}`);
  }
  const seq = (size / patch) ** 2 + 1;
  const proj = conv2d({
    inChannels: inC,
    outChannels: d,
    kernelSize: patch,
    stride: patch,
    weightInit: truncatedNormal({ std: Math.sqrt(1 / (inC * patch * patch)) }),
    biasInit: zeros,
  });
  const ln = layerNorm({ normalizedShape: d, eps: 1e-6 });
  const attn = multiHeadAttention({
    embedDim: d,
    numHeads: heads,
    batchFirst: true,
    dropout: attnRate,
  });
  const mlpInit = { weightInit: glorotUniform(), biasInit: normal(0, 1e-6) };
  const fc1 = linear({ inFeatures: d, outFeatures: mlpDim, ...mlpInit });
  const fc2 = linear({ inFeatures: mlpDim, outFeatures: d, ...mlpInit });
  const head = linear({ inFeatures: d, outFeatures: classes, weightInit: zeros, biasInit: zeros });
  const drop = dropout({ rate });
  const name = model;
  const blockInit = (key: Tensor): Params => {
    const [ka, k1, k2] = _splitKeys(key, 3);
    return {
      ln_1: ln.init(ka),
      self_attention: attn.init(ka),
      ln_2: ln.init(ka),
      mlp: { "0": fc1.init(k1), "3": fc2.init(k2) },
    };
  };
  const block = (p: Params, x: Tensor, opts: ApplyOptions, i: number): Tensor => {
    const k = (j: number) => (opts.key ? foldIn(opts.key, 4 * i + j + 1) : undefined);
    const o = { train: opts.train };
    const h = ln.apply(p.ln_1, x);
    const a = attn.apply(p.self_attention, h, { ...o, key: k(0) }).output;
    x = x.add(drop.apply({}, a, { ...o, key: k(1) }));
    let y = gelu(fc1.apply(p.mlp["0"], ln.apply(p.ln_2, x)));
    y = drop.apply({}, y, { ...o, key: k(2) });
    y = drop.apply({}, fc2.apply(p.mlp["3"], y), { ...o, key: k(3) });
    return x.add(y);
  };
  return {
    name,
    init(key: Tensor): Params {
      const ks = _splitKeys(key, 4 + nLayers);
      const layers: Record<string, Params> = {};
      for (let i = 0; i < nLayers; i++) layers[`encoder_layer_${i}`] = blockInit(ks[4 + i]);
      return {
        class_token: np.zeros([1, 1, d]),
        conv_proj: proj.init(ks[0]),
        encoder: {
          pos_embedding: normal(0, 0.02)(ks[1], [1, seq, d]),
          layers,
          ln: ln.init(ks[2]),
        },
        heads: { head: head.init(ks[3]) },
      };
    },
    apply(params: Params, x: Tensor, opts: ApplyOptions = {}): Tensor {
      const ok = (x.ndim === 4 || x.ndim === 3) &&
        x.shape.slice(-3).join() === `${inC},${size},${size}`;
      if (!ok) {
        throw new TypeError(
          `${model} expects input [N, ${inC}, ${size}, ${size}] (imageSize ${size}, patches ` +
            `${patch}×${patch}), got ${x.aval}`,
        );
      }
      const x4 = x.ndim === 3 ? np.expandDims(x, 0) : x;
      const n = x4.shape[0];
      const e = proj.apply(params.conv_proj, x4); // [N, d, S/p, S/p]
      let t = np.swapaxes(np.reshape(e, [n, d, seq - 1]), 1, 2); // [N, seq − 1, d]
      t = np.concatenate([np.broadcastTo(params.class_token, [n, 1, d]), t], 1);
      t = t.add(params.encoder.pos_embedding);
      t = drop.apply({}, t, { train: opts.train, key: opts.key && foldIn(opts.key, 0) });
      for (let i = 0; i < nLayers; i++) {
        t = block(params.encoder.layers[`encoder_layer_${i}`], t, opts, i);
      }
      t = ln.apply(params.encoder.ln, t);
      const cls = np.reshape(np.slice(t, [0, 0, 0], [n, 1, d]), [n, d]);
      const y = head.apply(params.heads.head, cls);
      return x.ndim === 3 ? np.squeeze(y, 0) : y;
    },
  };
}

/**
 * ViT-B/16 (patch 16, 12 layers, 12 heads, width 768, MLP 3072; 86.6M params at 1000 classes),
 * torchvision's `vit_b_16()`. See {@link vit}.
 *
 * @param opts `{ numClasses = 1000, inChannels = 3, imageSize = 224, dropout, attentionDropout }`.
 * @returns The layer.
 * @example
 * ```ts
 * import { vitB16 } from "@denax/denax/models";
 * const { name } = vitB16();
 * console.log(name); // vit_b_16
 * if (name !== "vit_b_16") throw new Error(`got ${name}`);
 * ```
 */
export function vitB16(opts: ViTOptions = {}): Layer<Params> {
  return vit({
    name: "vit_b_16",
    ...opts,
    patchSize: 16,
    numLayers: 12,
    numHeads: 12,
    hiddenDim: 768,
    mlpDim: 3072,
  });
}

/**
 * ViT-B/32 (patch 32, otherwise ViT-B/16), torchvision's `vit_b_32()`.
 *
 * @param opts `{ numClasses = 1000, inChannels = 3, imageSize = 224, dropout, attentionDropout }`.
 * @returns The layer.
 * @example
 * ```ts
 * import { vitB32 } from "@denax/denax/models";
 * const { name } = vitB32();
 * console.log(name); // vit_b_32
 * if (name !== "vit_b_32") throw new Error(`got ${name}`);
 * ```
 */
export function vitB32(opts: ViTOptions = {}): Layer<Params> {
  return vit({
    name: "vit_b_32",
    ...opts,
    patchSize: 32,
    numLayers: 12,
    numHeads: 12,
    hiddenDim: 768,
    mlpDim: 3072,
  });
}

/**
 * ViT-L/16 (patch 16, 24 layers, 16 heads, width 1024, MLP 4096), torchvision's `vit_l_16()`.
 *
 * @param opts `{ numClasses = 1000, inChannels = 3, imageSize = 224, dropout, attentionDropout }`.
 * @returns The layer.
 * @example
 * ```ts
 * import { vitL16 } from "@denax/denax/models";
 * const { name } = vitL16();
 * console.log(name); // vit_l_16
 * if (name !== "vit_l_16") throw new Error(`got ${name}`);
 * ```
 */
export function vitL16(opts: ViTOptions = {}): Layer<Params> {
  return vit({
    name: "vit_l_16",
    ...opts,
    patchSize: 16,
    numLayers: 24,
    numHeads: 16,
    hiddenDim: 1024,
    mlpDim: 4096,
  });
}
