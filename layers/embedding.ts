/**
 * The embedding (lookup table) layer, PyTorch's `nn.Embedding`.
 *
 * @module
 */
import { checkOptions } from "../core/validate.ts";
import * as np from "../core/numpy.ts";
import { checkValue, valueChecksApply } from "../core/checks.ts";
import { take } from "../core/numpy_extra.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import type { Initializer } from "./init.ts";
import type { Layer } from "./layer.ts";

/** Config of {@link embedding}. */
export interface EmbeddingConfig {
  /** Size of the vocabulary (rows of the table). */
  numEmbeddings: number;
  /** Size of each embedding vector. */
  embeddingDim: number;
  /**
   * A row that is initialized to zeros and gets no gradient (padding tokens), as PyTorch's
   * `padding_idx`; negative values count from the end.
   */
  paddingIdx?: number;
  /** Initializer of `weight` (default N(0, 1), as PyTorch); the padding row is zeroed after. */
  weightInit?: Initializer;
}

/** Parameters of {@link embedding}: `weight` f32[numEmbeddings, embeddingDim]. */
export interface EmbeddingParams {
  /** The table, f32[numEmbeddings, embeddingDim]. */
  weight: Tensor;
}

const _EMBEDDING_KEYS: ReadonlySet<string> = new Set([
  "numEmbeddings",
  "embeddingDim",
  "paddingIdx",
  "weightInit",
]);

/**
 * A lookup table, PyTorch's `nn.Embedding`: `y[..., :] = weight[x[...], :]`.
 *
 * Input integer indices of any shape (i32, or f32 holding integers), output
 * f32[...x.shape, embeddingDim]. Params `{ weight: [num, dim] }` initialized from N(0, 1) as
 * PyTorch, with row `paddingIdx` (if given) set to zeros. That row's gradient is always zero
 * (the lookup of it is wrapped in `stopGradient`), so training leaves it as it is.
 *
 * Indices outside `[0, numEmbeddings)` raise a RangeError naming the layer, the index and the
 * table size when they are concrete (PyTorch: "index out of range in self"). Inside `jit` their
 * values are unknown: out-of-range indices clamp to the table (`np.take`'s default mode),
 * unless checked mode (`DENAX_CHECKS=1`) is on, in which case the jitted call raises (see
 * `core/checks.ts`; on WebGPU at the next read).
 *
 * @param config `{ numEmbeddings, embeddingDim, paddingIdx, weightInit }`.
 * @returns The layer.
 * @throws {RangeError} When `paddingIdx` is outside the table.
 * @throws {TypeError} From `apply`, for boolean indices.
 * @throws {RangeError} From `apply`, for a concrete index outside the table.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { embedding } from "@denax/denax/nn";
 *
 * const emb = embedding({ numEmbeddings: 10, embeddingDim: 3, paddingIdx: 0 });
 * const params = emb.init(random.key(0));
 * const y = emb.apply(params, np.array([[0, 2], [5, 0]], { dtype: "i32" }));
 * console.log(String(y)); // Tensor(f32[2,2,3])
 * if (String(y) !== "Tensor(f32[2,2,3])") throw new Error(`got ${y}`);
 * const pad = Array.from(await y.data()).slice(0, 3); // the row of index 0, the padding
 * console.log(pad); // [0, 0, 0]
 * if (pad.some((v) => v !== 0)) throw new Error(`the padding row is ${pad}`);
 * ```
 */
export function embedding(config: EmbeddingConfig): Layer<EmbeddingParams> {
  checkOptions("nn.embedding", config, _EMBEDDING_KEYS);
  const { numEmbeddings: num, embeddingDim: dim } = config;
  let pad = config.paddingIdx;
  if (pad !== undefined) {
    if (!Number.isInteger(pad) || pad < -num || pad >= num) {
      throw new RangeError(`embedding: paddingIdx ${pad} is outside the table of ${num} rows`);
    }
    if (pad < 0) pad += num;
  }
  const name = `Embedding(${num}, ${dim})`;
  return {
    name,
    init(key: Tensor): EmbeddingParams {
      const w = config.weightInit
        ? config.weightInit(key, [num, dim])
        : random.normal(key, [num, dim]);
      if (pad === undefined) return { weight: w };
      const keep = np.notEqual(np.reshape(np.arange(num), [num, 1]), pad);
      return { weight: np.where(keep, w, 0) };
    },
    apply(params: EmbeddingParams, x: Tensor): Tensor {
      if (x.dtype === "bool") {
        throw new TypeError(`${name} expects integer indices, got ${x.aval}`);
      }
      const idx = x.dtype === "i32" ? x : np.astype(x, "i32");
      const rows = params.weight.shape[0];
      if (idx.size > 0 && valueChecksApply(idx)) {
        const bad = np.astype(
          np.reshape(np.logicalOr(np.less(idx, 0), np.greaterEqual(idx, rows)), [-1]),
          "i32",
        );
        checkValue(
          np.any(bad),
          np.take(np.reshape(idx, [-1]), np.argmax(bad)),
          (v) =>
            new RangeError(
              `${name}: index ${v} is out of range for a table of ${rows} rows ` +
                `(indices ${x.aval}); indices must be in [0, ${rows - 1}]`,
            ),
        );
      }
      const y = take(params.weight, idx, { axis: 0 });
      if (pad === undefined) return y;
      // PyTorch's padding_idx: the padding row receives no gradient
      const isPad = np.expandDims(np.equal(idx, pad), -1);
      return np.where(isPad, np.stopGradient(y), y);
    },
  };
}
