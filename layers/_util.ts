/**
 * Private helpers the layer files share: trailing-shape checks, key splitting, PyTorch's
 * default initializers, and the cast to f32. Not part of the public API.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import { type Initializer, kaimingUniform } from "./init.ts";
import { checkInput } from "./layer.ts";

/**
 * @internal Checks that `x` is `[...batch, ...trailing]` (any number of leading dims, including
 * none) via {@link checkInput}, so the message names every dimension.
 */
export function _checkTrailing(
  layer: string,
  x: Tensor,
  trailing: readonly (number | string)[],
): void {
  const lead = x.ndim - trailing.length;
  if (lead < 0) {
    throw new TypeError(`${layer} expects input [..., ${trailing.join(", ")}], got ${x.aval}`);
  }
  if (lead > 1) {
    // several leading dims: say "any leading dims" rather than naming each one "batch"
    const ok = trailing.every((d, i) => typeof d === "string" || d === x.shape[lead + i]);
    if (!ok) {
      throw new TypeError(
        `${layer} expects input [..., ${trailing.join(", ")}] (any leading dims), got ${x.aval}`,
      );
    }
    return;
  }
  checkInput(layer, x, [...Array(lead).fill("N"), ...trailing]);
}

/** @internal `n` independent keys from `key` (rows of `random.split`). */
export function _splitKeys(key: Tensor, n: number): Tensor[] {
  const ks = random.split(key, n);
  return Array.from({ length: n }, (_, i) => np.reshape(np.slice(ks, [i, 0], [i + 1, 2]), [2]));
}

/** @internal PyTorch's default `U(−1/√fanIn, 1/√fanIn)` (kaiming_uniform with a = √5). */
export function _fanInUniform(key: Tensor, shape: readonly number[], fanIn: number): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return random.uniform(key, shape, { minval: -bound, maxval: bound });
}

/**
 * @internal PyTorch's default weight initializer of Linear and Conv layers,
 * `kaiming_uniform_(w, a=√5)`, which is `U(−1/√fanIn, 1/√fanIn)`.
 */
export const _torchDefaultInit: Initializer = kaimingUniform({ a: Math.sqrt(5) });

/** @internal Converts non-float inputs to f32 (layers compute in floating point). */
export function _float(x: Tensor): Tensor {
  return x.dtype === "f32" ? x : np.astype(x, "f32");
}
