/**
 * Principal component analysis [M61], as scikit-learn's `PCA(svd_solver="full")`: the SVD of
 * the centred data `X − μ = U·diag(S)·Vᵀ`; the principal axes are the rows of `Vᵀ`, the
 * explained variances `S²/(n − 1)`, and the signs follow scikit-learn's `svd_flip` with
 * `u_based_decision=False` (scikit-learn ≥ 1.5): in each component, the entry of largest
 * magnitude is positive.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";

/** Config of {@link pca}. */
export interface PcaConfig {
  /** Components kept (default: all, `min(nSamples, nFeatures)`). */
  nComponents?: number;
}

/** A fitted PCA (scikit-learn's attribute names). */
export interface PcaFit {
  /** f32[d]: the per-feature mean of the training data. */
  readonly mean: Tensor;
  /** f32[k, d]: the principal axes, by decreasing explained variance. */
  readonly components: Tensor;
  /** f32[k]: the variance along each component (`S²/(n − 1)`). */
  readonly explainedVariance: Tensor;
  /** f32[k]: each component's share of the total variance (of all components, kept or not). */
  readonly explainedVarianceRatio: Tensor;
  /** f32[k]: the singular values of the centred data. */
  readonly singularValues: Tensor;
}

/** The PCA model of {@link pca}. */
export interface Pca {
  /** Fits to `x` f32[n, d] (n ≥ 2). */
  fit(x: Tensor): PcaFit;
  /** Projects `x` f32[m, d] onto the components: f32[m, k]. */
  transform(fit: PcaFit, x: Tensor): Tensor;
  /** Maps scores `z` f32[m, k] back to the data space: f32[m, d]. */
  inverseTransform(fit: PcaFit, z: Tensor): Tensor;
}

/**
 * Principal component analysis [M61] by the SVD of the centred data (see the module doc).
 *
 * @param config `nComponents`: how many components to keep (default all).
 * @returns `{ fit, transform, inverseTransform }`.
 * @throws {RangeError} From `fit`, when `nComponents` is not in `[1, min(n, d)]`.
 * @throws {TypeError} From `fit`/`transform`/`inverseTransform`, for inputs that are not f32
 *   matrices of the expected widths.
 * @example
 * ```ts
 * import { models, np } from "@denax/denax";
 * const p = models.pca({ nComponents: 1 });
 * const f = p.fit(np.array([[0, 0], [1, 1], [2, 2], [3, 3.5]]));
 * const ratio = Number(await f.explainedVarianceRatio.item());
 * console.log(ratio); // 0.99…
 * if (!(ratio > 0.99 && ratio <= 1)) throw new Error(`got ${ratio}`);
 * const z = p.transform(f, np.array([[1, 1]]));
 * const back = p.inverseTransform(f, z);
 * console.log(String(back.aval)); // f32[1,2]
 * if (String(back.aval) !== "f32[1,2]") throw new Error(`got ${back.aval}`);
 * ```
 */
export function pca(config: PcaConfig = {}): Pca {
  const checkMatrix = (what: string, x: Tensor, width?: number) => {
    if (x.dtype !== "f32" || x.ndim !== 2 || (width !== undefined && x.shape[1] !== width)) {
      const want = width === undefined ? "f32[n, d]" : `f32[n, ${width}]`;
      throw new TypeError(`pca.${what}: expected ${want}, got ${x.aval}`);
    }
  };
  return {
    fit(x: Tensor): PcaFit {
      checkMatrix("fit", x);
      const [n, d] = x.shape;
      const kMax = Math.min(n, d);
      const k = config.nComponents ?? kMax;
      if (!Number.isInteger(k) || k < 1 || k > kMax || n < 2) {
        throw new RangeError(
          `pca.fit: nComponents ${k} must be an integer in [1, min(n, d) = ${kMax}] (n >= 2) ` +
            `for ${x.aval}`,
        );
      }
      const mean = x.mean({ axis: 0 });
      const { S, Vh } = np.linalg.svd(x.sub(mean));
      // svd_flip(u_based_decision=False): the largest-|.| entry of each row of Vh positive
      const idx = np.argmax(Vh.abs(), { axis: 1, keepdims: true });
      const signs = np.sign(np.takeAlongAxis(Vh, idx, 1));
      const flip = np.where(signs.equal(0), 1, signs);
      const comps = Vh.mul(flip);
      const variance = S.mul(S).div(n - 1);
      const ratio = variance.div(variance.sum());
      const head = (t: Tensor) => t.index([0, k, 1]);
      return {
        mean,
        components: comps.index([0, k, 1], null),
        explainedVariance: head(variance),
        explainedVarianceRatio: head(ratio),
        singularValues: head(S),
      };
    },
    transform(fit: PcaFit, x: Tensor): Tensor {
      checkMatrix("transform", x, fit.mean.shape[0]);
      return x.sub(fit.mean).matmul(fit.components.swapaxes(0, 1));
    },
    inverseTransform(fit: PcaFit, z: Tensor): Tensor {
      checkMatrix("inverseTransform", z, fit.components.shape[0]);
      return z.matmul(fit.components).add(fit.mean);
    },
  };
}
