/**
 * Minibatches on the device. A dataset is any pytree of Tensors whose leaves share the leading
 * (example) axis, e.g. `{ x: f32[n, 784], y: i32[n] }`. {@link batches} draws one permutation
 * per epoch on the device (`random.permutation` of the epoch's key) and gathers each batch
 * with `np.take` inside one jitted program, so iterating never reads an index back to the
 * host and every full batch runs the same compiled gather.
 *
 * Epoch keys follow the JAX idiom `random.foldIn(key, epoch)` ({@link epochKey}): one key for
 * the whole run, a different, reproducible order each epoch.
 *
 * @module
 */
import * as lax from "../core/lax.ts";
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import { Tensor } from "../core/tensor.ts";
import { jit } from "../core/transforms.ts";
import * as tree from "../core/tree.ts";
import type { MnistSplit } from "./fashion_mnist.ts";

const isTensor = (x: unknown): boolean => x instanceof Tensor;

function dataLeaves(op: string, data: unknown): [Tensor[], tree.TreeDef] {
  const [pairs, def] = tree.flattenWithPath<unknown>(data, isTensor);
  if (pairs.length === 0) throw new TypeError(`${op}: the dataset has no Tensor leaves`);
  const bad = pairs.find(([, l]) => !(l instanceof Tensor));
  if (bad) {
    throw new TypeError(
      `${op}: every leaf of the dataset must be a Tensor, but ${bad[0] || "the root"} is ` +
        `${bad[1] === null ? "null" : typeof bad[1]}\nhelp: convert with np.array(…)`,
    );
  }
  const leaves = pairs.map(([, l]) => l as Tensor);
  const scalar = pairs.find(([, l]) => (l as Tensor).ndim === 0);
  if (scalar) {
    throw new TypeError(
      `${op}: every leaf needs a leading example axis, but ${scalar[0] || "the root"} is ` +
        `${(scalar[1] as Tensor).aval}`,
    );
  }
  const n = leaves[0].shape[0];
  const other = pairs.findIndex(([, l]) => (l as Tensor).shape[0] !== n);
  if (other >= 0) {
    throw new TypeError(
      `${op}: leaves disagree on the number of examples: ` +
        pairs.map(([p, l]) => `${p || "root"} ${(l as Tensor).aval}`).join(", ") +
        `\nhelp: every leaf must have the examples along axis 0`,
    );
  }
  return [leaves, def];
}

/**
 * The number of examples of a dataset: the common leading dimension of its leaves.
 *
 * @param data a pytree of Tensors, `[n, ...]` each
 * @returns `n`
 * @throws {TypeError} when a leaf is not a Tensor, is 0-d, or the leading dimensions differ
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { numExamples } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(numExamples({ x: np.zeros([5, 3]), y: np.zeros([5]) }), 5);
 * ```
 */
export function numExamples(data: unknown): number {
  return dataLeaves("numExamples", data)[0][0].shape[0];
}

/**
 * The number of batches of an epoch: `⌊n / batchSize⌋` with `dropLast`, else `⌈n / batchSize⌉`.
 *
 * @param n number of examples
 * @param batchSize examples per batch
 * @param dropLast drop the last, partial batch
 * @returns the number of batches
 * @throws {RangeError} for a `batchSize` below 1
 *
 * @example
 * ```ts
 * import { numBatches } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals([numBatches(10, 4, false), numBatches(10, 4, true)], [3, 2]);
 * ```
 */
export function numBatches(n: number, batchSize: number, dropLast: boolean): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batches: batchSize must be an integer ≥ 1, got ${batchSize}`);
  }
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/**
 * The key of epoch `epoch`: `random.foldIn(key, epoch)`, so one run key gives every epoch its
 * own reproducible shuffle.
 *
 * @param key the run's key, `u32[2]`
 * @param epoch the epoch number (any integer)
 * @returns a new key, `u32[2]`
 *
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 * import { epochKey } from "@denax/denax/data";
 * const y = await epochKey(random.key(0), 4).toArray();
 * console.log(y); // [2285895361, 433833334]
 * if (JSON.stringify(y) !== "[2285895361,433833334]") throw new Error(`got ${y}`);
 * ```
 */
export function epochKey(key: Tensor, epoch: number): Tensor {
  return random.foldIn(key, epoch);
}

/**
 * Indices of a random train/validation split: a permutation of `0 … n−1` (on the device),
 * the first `n − round(n · valFraction)` for training and the rest for validation.
 *
 * @param n number of examples
 * @param valFraction share of the examples held out, in `[0, 1]`
 * @param key PRNG key, `u32[2]`
 * @returns `train: i32[nTrain]`, `val: i32[nVal]`, disjoint, covering `0 … n−1`
 * @throws {RangeError} for a negative `n` or a `valFraction` outside `[0, 1]`
 *
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 * import { trainValSplit } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const { train, val } = trainValSplit(10, 0.2, random.key(0));
 * assertEquals([train.shape, val.shape], [[8], [2]]);
 * ```
 */
export function trainValSplit(
  n: number,
  valFraction: number,
  key: Tensor,
): { train: Tensor; val: Tensor } {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`trainValSplit: n must be an integer ≥ 0, got ${n}`);
  }
  if (!(valFraction >= 0 && valFraction <= 1)) {
    throw new RangeError(`trainValSplit: valFraction must be in [0, 1], got ${valFraction}`);
  }
  const nVal = Math.round(n * valFraction), nTrain = n - nVal;
  const perm = random.permutation(key, n);
  return { train: np.slice(perm, [0], [nTrain]), val: np.slice(perm, [nTrain], [n]) };
}

/**
 * The examples of a dataset at the given indices, gathered on the device (every leaf along
 * axis 0).
 *
 * @param data a pytree of Tensors, `[n, ...]` each
 * @param indices integer indices, `i32[m]` (or a JS array)
 * @returns the same structure with `[m, ...]` leaves
 * @throws {TypeError} as {@link numExamples}, or for non-integer indices
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { subset } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const s = subset({ x: np.array([[1], [2], [3]]) }, [2, 0]);
 * assertEquals(await s.x.toArray(), [[3], [1]]);
 * ```
 */
export function subset<T>(data: T, indices: Tensor | readonly number[]): T {
  const [leaves, def] = dataLeaves("subset", data);
  const idx = indices instanceof Tensor ? indices : np.array(indices as number[], "i32");
  return def.unflatten<T>(leaves.map((l) => np.take(l, idx, { axis: 0 })));
}

/**
 * Splits a dataset into random training and validation parts ({@link trainValSplit} then
 * {@link subset}).
 *
 * @param data a pytree of Tensors, `[n, ...]` each
 * @param valFraction share held out, in `[0, 1]`
 * @param key PRNG key, `u32[2]`
 * @returns `train` and `val`, each with the data's structure
 * @throws {TypeError} as {@link numExamples}
 * @throws {RangeError} as {@link trainValSplit}
 *
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { numExamples, splitData } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const { train, val } = splitData({ x: np.zeros([10, 2]) }, 0.3, random.key(1));
 * assertEquals([numExamples(train), numExamples(val)], [7, 3]);
 * ```
 */
export function splitData<T>(
  data: T,
  valFraction: number,
  key: Tensor,
): { train: T; val: T } {
  const n = numExamples(data);
  const { train, val } = trainValSplit(n, valFraction, key);
  return { train: subset(data, train), val: subset(data, val) };
}

/** Options of {@link batches}. */
export interface BatchesOptions {
  /** Examples per batch. */
  readonly batchSize: number;
  /**
   * A PRNG key to shuffle with (a new order for every `epoch`), or `false` (default) to keep
   * the data's order.
   */
  readonly shuffle?: Tensor | false;
  /**
   * Drop the last batch when it is smaller than `batchSize` (default false). Dropping keeps
   * every batch the same shape, so a jitted step traces once.
   */
  readonly dropLast?: boolean;
  /** The epoch number, folded into the shuffle key with {@link epochKey} (default: none). */
  readonly epoch?: number;
}

// One program for every full batch: row `b` of the epoch's [batches, batchSize] order, then
// each leaf's rows at those indices. `b` is a device scalar, so the signature never changes.
const gatherBatch = jit((leaves: Tensor[], order: Tensor, b: Tensor): Tensor[] => {
  const idx = np.take(order, b, { axis: 0 });
  return leaves.map((l) => np.take(l, idx, { axis: 0 }));
});

/**
 * Iterates over a dataset in minibatches that stay on the device. With a `shuffle` key the
 * order is `random.permutation` of the epoch's key (`random.foldIn(key, epoch)` when `epoch`
 * is given), computed once per epoch on the device; every example appears exactly once per
 * epoch (minus the remainder with `dropLast`). Batch `b` holds the examples at positions
 * `[b · batchSize, (b + 1) · batchSize)` of that order.
 *
 * @param data a pytree of Tensors with a common leading dimension, e.g. `{ x, y }`
 * @param opts `batchSize`, `shuffle` (key or false), `dropLast`, `epoch`
 * @returns a generator of batches with the data's structure
 * @throws {TypeError} as {@link numExamples}
 * @throws {RangeError} for a `batchSize` below 1
 *
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { batches } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const data = { x: np.arange(10).reshape(5, 2), y: np.arange(5) };
 * const seen: number[] = [];
 * for (const b of batches(data, { batchSize: 2, shuffle: random.key(0), epoch: 3 })) {
 *   seen.push(...(await b.y.toArray()) as number[]);
 * }
 * assertEquals(seen.sort(), [0, 1, 2, 3, 4]); // each example once; last batch has 1
 * ```
 */
export function* batches<T>(data: T, opts: BatchesOptions): Generator<T, void, undefined> {
  const [leaves, def] = dataLeaves("batches", data);
  const n = leaves[0].shape[0], bs = opts.batchSize;
  const dropLast = opts.dropLast ?? false;
  const full = numBatches(n, bs, true), count = numBatches(n, bs, dropLast);
  if (count === 0) return;
  const key = opts.shuffle
    ? (opts.epoch === undefined ? opts.shuffle : epochKey(opts.shuffle, opts.epoch))
    : undefined;
  const perm = key ? random.permutation(key, n) : np.arange(n, undefined, 1, "i32");
  if (full > 0) {
    const order = full * bs === n ? perm : np.slice(perm, [0], [full * bs]);
    const rows = order.reshape(full, bs);
    for (let b = 0; b < full; b++) {
      yield def.unflatten<T>(gatherBatch(leaves, rows, np.array(b, "i32")));
    }
  }
  if (count > full) {
    const rest = np.slice(perm, [full * bs], [n]);
    yield def.unflatten<T>(leaves.map((l) => np.take(l, rest, { axis: 0 })));
  }
}

/**
 * Uploads bytes packed four to a u32 word (little-endian: byte `4j + k` is bits `8k…8k+7` of
 * word `j`), so u8 data such as images takes a quarter of the device memory f32 would: a
 * 60000-image MNIST-like set is 47 MB instead of 188 MB (more than some adapters can bind in
 * one buffer — llvmpipe allows 128 MiB). {@link unpackBytes} undoes it, typically inside the
 * jitted step.
 *
 * @param bytes the data, C order
 * @param shape its shape; the last dimension must be a multiple of 4
 * @returns `u32[...shape[:-1], shape[-1] / 4]`
 * @throws {TypeError} when the shape does not hold the bytes or its last dimension is not a
 *   multiple of 4
 *
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * import { packBytes, unpackBytes } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * await init({ backend: "cpu" });
 * const p = packBytes(new Uint8Array([1, 2, 3, 255, 0, 0, 0, 7]), [1, 8]);
 * assertEquals([p.dtype, p.shape], ["u32", [1, 2]]);
 * assertEquals(await unpackBytes(p).toArray(), [[1, 2, 3, 255, 0, 0, 0, 7]]);
 * ```
 */
export function packBytes(bytes: Uint8Array, shape: readonly number[]): Tensor {
  const n = shape.reduce((a, d) => a * d, 1), last = shape.at(-1) ?? 1;
  if (n !== bytes.length || shape.length === 0 || last % 4 !== 0) {
    throw new TypeError(
      `packBytes: shape [${shape}] must hold the ${bytes.length} bytes and end in a multiple of 4`,
    );
  }
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, n / 4);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    throw new Error("internal: packBytes needs a little-endian host");
  }
  return np.array(words, { shape: [...shape.slice(0, -1), last / 4], dtype: "u32" });
}

/**
 * Unpacks {@link packBytes}'s words into one f32 value in `[0, 255]` per byte. Works on traced
 * values (inside `jit`, `grad`, `vmap`).
 *
 * @param words `u32[..., k]`
 * @returns `f32[..., 4k]`
 * @throws {TypeError} when `words` is not u32 or is 0-d
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { unpackBytes } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(await unpackBytes(np.array([0x04030201], "u32")).toArray(), [1, 2, 3, 4]);
 * ```
 */
export function unpackBytes(words: Tensor): Tensor {
  if (words.dtype !== "u32" || words.ndim === 0) {
    throw new TypeError(`unpackBytes expects packed words u32[..., k], got ${words.aval}`);
  }
  const mask = np.full(words.shape, 255, "u32");
  const bytes = [0, 8, 16, 24].map((s) =>
    lax.and(lax.shiftRightLogical(words, np.full(words.shape, s, "u32")), mask)
  );
  const out = np.stack(bytes, -1); // [..., k, 4]: byte 4j + i is word j's byte i
  return out.reshape([...words.shape.slice(0, -1), words.shape[words.ndim - 1] * 4]).astype(
    "f32",
  );
}

/** Options of {@link mnistTensors}. */
export interface MnistTensorsOptions {
  /** `[n, 784]` images (default true); false keeps `[n, 28, 28]`. */
  readonly flatten?: boolean;
  /** Scale pixels from 0…255 to 0…1 (default true). */
  readonly scale?: boolean;
  /** Use only the first `limit` examples (default: all). */
  readonly limit?: number;
  /**
   * Keep the pixels as bytes packed four to a u32 word ({@link packBytes}): `x` is
   * `u32[n, 196]`, a quarter of the memory; `flatten` and `scale` do not apply. Unpack each
   * batch with {@link unpackBytes}. Default false.
   */
  readonly packed?: boolean;
}

/**
 * Uploads one split of an MNIST-like dataset (from `loadMnistLike`) as device Tensors.
 *
 * @param split images `u8[n, 28, 28]` and labels `u8[n]`
 * @param opts `flatten` (default true), `scale` (default true), `limit`, `packed`
 * @returns `x: f32[n, 784]` (or `f32[n, 28, 28]`, or `u32[n, 196]` packed) and `y: i32[n]`
 *
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * import { mnistTensors } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * await init({ backend: "cpu" });
 * const split = { images: new Uint8Array(2 * 784).fill(255), labels: new Uint8Array([3, 1]), n: 2 };
 * const { x, y } = mnistTensors(split);
 * assertEquals([x.shape, await x.max().item(), await y.toArray()], [[2, 784], 1, [3, 1]]);
 * ```
 */
export function mnistTensors(
  split: MnistSplit,
  opts: MnistTensorsOptions = {},
): { x: Tensor; y: Tensor } {
  const n = Math.min(split.n, opts.limit ?? split.n);
  const y = np.array(Int32Array.from(split.labels.subarray(0, n)));
  if (opts.packed) return { x: packBytes(split.images.subarray(0, n * 784), [n, 784]), y };
  const s = opts.scale ?? true ? 1 / 255 : 1;
  const px = new Float32Array(n * 784);
  for (let i = 0; i < px.length; i++) px[i] = split.images[i] * s;
  const shape = opts.flatten ?? true ? [n, 784] : [n, 28, 28];
  return { x: np.array(px, { shape }), y };
}
