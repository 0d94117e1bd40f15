/**
 * Data as the d2l book gives it: {@link loadDataFashionMnist} is `d2l.load_data_fashion_mnist(
 * batch_size, resize)` — shuffled Fashion-MNIST training batches and in-order test batches of
 * `f32[b, 1, h, w]` images in [0, 1] with `i32[b]` labels, optionally resized (bilinear, as
 * torchvision's `Resize`) for the CNN chapters' 224 / 96 / 64 pixel inputs.
 *
 * The images stay on the device as bytes packed four to a u32 word (47 MB for the 60000
 * training images instead of 188 MB of f32, which is more than some WebGPU adapters bind in
 * one buffer — llvmpipe allows 128 MiB); each batch is gathered, unpacked, scaled and resized
 * on the device by one jitted program. A loader is a {@link BatchSource}: iterate it for one
 * epoch, or hand it to `train.fit` / `train.evaluate`, which ask it for batches.
 *
 * @module
 */
import * as E from "./_either_ops.ts";
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import { Tensor } from "../core/tensor.ts";
import { jit, type Jitted } from "../core/transforms.ts";
import { batches, numExamples, packBytes, unpackBytes } from "./batches.ts";
import { loadMnistLike, type LoadMnistLikeOptions, type MnistSplit } from "./fashion_mnist.ts";

/** Options of {@link BatchSource.batches}. */
export interface SourceBatchesOptions {
  /** Examples per batch (default: the source's `batchSize`). */
  readonly batchSize?: number;
  /** A PRNG key to shuffle with, or `false` to keep the order (default: the source's setting). */
  readonly shuffle?: Tensor | false;
  /** The epoch number, folded into the shuffle key (default: a counter of the source). */
  readonly epoch?: number;
  /** Drop the last batch when it is smaller than `batchSize` (default false). */
  readonly dropLast?: boolean;
}

/**
 * A dataset that makes its own batches (a PyTorch `DataLoader`): iterating it yields one
 * epoch of batches (reshuffled every time when it shuffles), and `batches(opts)` gives one
 * epoch with explicit options — what `train.fit` and `train.evaluate` call.
 */
export interface BatchSource<B = unknown> extends Iterable<B> {
  /** The number of examples. */
  readonly numExamples: number;
  /** The default batch size. */
  readonly batchSize: number;
  /** One epoch of batches. */
  batches(opts?: SourceBatchesOptions): Iterable<B>;
}

/**
 * Whether `x` is a {@link BatchSource} (has a `batches` method and a `numExamples` count).
 *
 * @param x anything
 * @returns true for batch sources
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { isBatchSource, tensorSource } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const data = { x: np.zeros([4, 2]), y: np.zeros([4]) };
 * assertEquals([isBatchSource(data), isBatchSource(tensorSource(data, { batchSize: 2 }))], [
 *   false,
 *   true,
 * ]);
 * ```
 */
export function isBatchSource<B>(x: B | BatchSource<B>): x is BatchSource<B>;
/**
 * Whether `x` is a {@link BatchSource}, for a value of unknown type.
 *
 * @param x anything
 * @returns true for batch sources
 */
export function isBatchSource(x: unknown): x is BatchSource;
export function isBatchSource(x: unknown): x is BatchSource {
  return x !== null && typeof x === "object" && !(x instanceof Tensor) &&
    typeof (x as BatchSource).batches === "function" &&
    typeof (x as BatchSource).numExamples === "number";
}

/** Options of {@link tensorSource}. */
export interface TensorSourceOptions<T, B> {
  /** Examples per batch. */
  readonly batchSize: number;
  /** A PRNG key: shuffle every epoch (a new order each time the source is iterated). */
  readonly shuffle?: Tensor | false;
  /** Drop the last partial batch when iterating (default false, as PyTorch's DataLoader). */
  readonly dropLast?: boolean;
  /** Applied to every batch on the device, jitted (unpacking, scaling, resizing, …). */
  readonly transform?: (batch: T) => B;
}

/**
 * A {@link BatchSource} over a device-resident dataset (a pytree of Tensors with the examples
 * along axis 0), batched as `data.batches` does, with an optional jitted per-batch
 * `transform` — so the stored data can be compact (packed bytes) and each batch expanded on
 * the device.
 *
 * @param data a pytree of Tensors, e.g. `{ x, y }`
 * @param opts `batchSize`, `shuffle` (a key, reshuffled every epoch), `dropLast`, `transform`
 * @returns the source
 * @throws {TypeError} as `numExamples` for malformed data
 * @throws {RangeError} for a `batchSize` below 1
 *
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { tensorSource } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const src = tensorSource({ x: np.arange(5), y: np.arange(5) }, {
 *   batchSize: 2, shuffle: random.key(0), transform: (b) => ({ x: b.x.mul(10), y: b.y }),
 * });
 * const seen: number[] = [];
 * for (const b of src) seen.push(...(await b.x.toArray()) as number[]);
 * assertEquals(seen.sort((a, b) => a - b), [0, 10, 20, 30, 40]);
 * ```
 */
export function tensorSource<T, B = T>(
  data: T,
  opts: TensorSourceOptions<T, B>,
): BatchSource<B> {
  const n = numExamples(data);
  const batchSize = opts.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`tensorSource: batchSize must be an integer ≥ 1, got ${batchSize}`);
  }
  const transform: Jitted<(b: T) => B> | undefined = opts.transform
    ? jit(opts.transform)
    : undefined;
  let epochs = 0;
  function* epoch(o: SourceBatchesOptions = {}): Generator<B, void, undefined> {
    const shuffle = o.shuffle === undefined ? opts.shuffle ?? false : o.shuffle;
    const e = o.epoch ?? ++epochs;
    for (
      const b of batches(data, {
        batchSize: o.batchSize ?? batchSize,
        shuffle,
        epoch: shuffle ? e : undefined,
        dropLast: o.dropLast ?? opts.dropLast ?? false,
      })
    ) {
      yield transform ? transform(b) : b as unknown as B;
    }
  }
  return {
    numExamples: n,
    batchSize,
    batches: epoch,
    [Symbol.iterator]: () => epoch(),
  };
}

/** The `[out, in]` matrix of half-pixel bilinear interpolation along one axis. */
function interpMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.max((i + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const t = src - i0;
    m[i * inSize + i0] += 1 - t;
    m[i * inSize + i1] += t;
  }
  return m;
}

/**
 * Bilinear resizing of the last two axes, PyTorch's `F.interpolate(x, size, mode="bilinear",
 * align_corners=False)` and torchvision's `Resize` on tensors without antialiasing (the same
 * for enlarging, as d2l's 28 → 64 / 96 / 224): output pixel `i` samples the input at
 * `max((i + ½)·in/out − ½, 0)`, interpolating its two neighbours (the last one repeated at the
 * edge). Computed as two matrix products, so it runs on the device and under `jit`, `grad`
 * and `vmap`.
 *
 * @param x `f32[..., H, W]` (at least 2-d)
 * @param size `[h, w]`, or one number for a square output
 * @returns `f32[..., h, w]`
 * @throws {TypeError} when `x` has fewer than 2 axes
 * @throws {RangeError} for a size that is not a positive integer
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { resizeBilinear } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const y = resizeBilinear(np.array([[0, 4]]), [1, 4]);
 * assertEquals(await y.toArray(), [[0, 1, 3, 4]]);
 * ```
 */
export function resizeBilinear(x: Tensor, size: number | readonly [number, number]): Tensor {
  const [h, w] = typeof size === "number" ? [size, size] : size;
  if (x.ndim < 2) {
    throw new TypeError(`resizeBilinear expects an input [..., H, W], got ${x.aval}`);
  }
  if (![h, w].every((d) => Number.isInteger(d) && d >= 1)) {
    throw new RangeError(`resizeBilinear: size must be positive integers, got [${h}, ${w}]`);
  }
  const [H, W] = x.shape.slice(-2);
  const xf = x.dtype === "f32" ? x : x.astype("f32");
  const rows = H === h ? xf : np.matmul(np.array(interpMatrix(H, h), { shape: [h, H] }), xf);
  if (W === w) return rows;
  const cols = np.array(interpMatrix(W, w), { shape: [w, W] });
  return np.matmul(rows, np.transpose(cols));
}

/** Options of {@link loadDataFashionMnist}. */
export interface LoadDataFashionMnistOptions extends LoadMnistLikeOptions {
  /** Resize the 28×28 images to this size (bilinear, on the device per batch); default none. */
  readonly resize?: number | readonly [number, number];
  /** The key the training batches are shuffled with (a new order every epoch); default key 0. */
  readonly key?: Tensor;
  /** Use only the first `limit` training and test examples (default: all). */
  readonly limit?: number;
}

/** What {@link loadDataFashionMnist} returns. */
export interface FashionMnistLoaders {
  /** Shuffled training batches `{ x: f32[b, 1, h, w], y: i32[b] }` (60000 examples). */
  readonly train: BatchSource<{ x: Tensor; y: Tensor }>;
  /** Test batches in order (10000 examples). */
  readonly test: BatchSource<{ x: Tensor; y: Tensor }>;
  /** The label names (`"T-shirt/top"`, …). */
  readonly classNames: readonly string[];
}

/**
 * Loaders of one split of an MNIST-like dataset: the images packed on the device, each batch
 * unpacked to `f32[b, 1, 28, 28]` in [0, 1] and resized by one jitted program.
 *
 * @param split images `u8[n, 28, 28]` and labels `u8[n]`
 * @param batchSize examples per batch
 * @param opts `resize`, `shuffle` (a key, or false), `limit`
 * @returns the source
 * @throws {RangeError} for a bad `batchSize` or `resize`
 *
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * import { mnistSource } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * await init({ backend: "cpu" });
 * const split = { images: new Uint8Array(3 * 784).fill(255), labels: new Uint8Array([1, 2, 3]), n: 3 };
 * const [b] = mnistSource(split, 4, { resize: 32 });
 * assertEquals([b.x.shape, await b.x.max().item(), await b.y.toArray()], [[3, 1, 32, 32], 1, [1, 2, 3]]);
 * ```
 */
export function mnistSource(
  split: MnistSplit,
  batchSize: number,
  opts: { resize?: number | readonly [number, number]; shuffle?: Tensor | false; limit?: number } =
    {},
): BatchSource<{ x: Tensor; y: Tensor }> {
  const n = Math.min(split.n, opts.limit ?? split.n);
  const x = packBytes(split.images.subarray(0, n * 784), [n, 784]);
  const y = np.array(Int32Array.from(split.labels.subarray(0, n)));
  const size = opts.resize;
  if (size !== undefined) resizeBilinear(np.zeros([28, 28]), size); // validates the size
  return tensorSource({ x, y }, {
    batchSize,
    shuffle: opts.shuffle ?? false,
    transform: (b: { x: Tensor; y: Tensor }) => {
      const img = unpackBytes(b.x).div(255).reshape(b.x.shape[0], 1, 28, 28);
      return { x: size === undefined ? img : resizeBilinear(img, size), y: b.y };
    },
  });
}

/**
 * d2l's `load_data_fashion_mnist(batch_size, resize=None)`: Fashion-MNIST as shuffled
 * training batches and in-order test batches of `{ x: f32[b, 1, h, w], y: i32[b] }`, pixels
 * in [0, 1] (`ToTensor`), optionally resized bilinearly (`Resize`; 28 → 224 for AlexNet, 96
 * for ResNet, 64 for …). The files are found as `loadMnistLike` does (`$DENAX_DATA`, the user
 * cache, the Debian package's `/usr/share/datasets/fashion-mnist`). Both loaders are
 * {@link BatchSource}s: `for (const { x, y } of train)` runs one epoch (a new order each
 * time), and `train.fit({ trainData: train, ... })` batches them itself.
 *
 * The images live on the device as packed bytes (a quarter of f32's memory) and every batch
 * is converted on the device, so the whole training set works on adapters that cannot bind
 * 188 MB (the f32 set) in one buffer.
 *
 * @param batchSize examples per batch (the last batch of an epoch may be smaller)
 * @param opts `resize`, `key` (shuffling), `limit`, and `loadMnistLike`'s options (`dirs`,
 *   `download`, …)
 * @returns `{ train, test, classNames }`
 * @throws {DataError} when the dataset cannot be found or read (the message says where it
 *   looked and how to get it)
 * @throws {RangeError} for a bad `batchSize` or `resize`
 *
 * @example
 * ```ts ignore
 * import { random } from "@denax/denax";
 * import { loadDataFashionMnist } from "@denax/denax/data";
 * const { train, test } = await loadDataFashionMnist(256, { resize: 64, key: random.key(0) });
 * for (const { x, y } of train) {
 *   console.log(String(x), String(y)); // Tensor(f32[256,1,64,64]) Tensor(i32[256])
 *   break;
 * }
 * console.log(test.numExamples); // 10000
 * ```
 */
export async function loadDataFashionMnist(
  batchSize: number,
  opts: LoadDataFashionMnistOptions = {},
): Promise<FashionMnistLoaders> {
  const { resize, key, limit, ...loadOpts } = opts;
  const ds = await loadMnistLike("fashion-mnist", loadOpts);
  if (E.isLeft(ds)) throw ds.left;
  const { train, test, classNames } = ds.right;
  return {
    train: mnistSource(train, batchSize, { resize, limit, shuffle: key ?? random.key(0) }),
    test: mnistSource(test, batchSize, { resize, limit, shuffle: false }),
    classNames,
  };
}
