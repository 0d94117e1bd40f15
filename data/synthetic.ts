/**
 * Small synthetic datasets, generated on the device from an explicit PRNG key so the same key
 * always gives the same data: linear regression with Gaussian noise (Dive into Deep Learning's
 * `synthetic_data`), two interleaving moons (scikit-learn's `make_moons`), spirals (the CS231n
 * classification toy), and the truth tables of AND, OR and XOR.
 *
 * Every generator returns `{ x, y }` with the examples along the leading axis, ready for
 * `batches` (`data/batches.ts`).
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor, TensorLike } from "../core/tensor.ts";

/** A supervised dataset: inputs and targets with the examples along axis 0. */
export interface XY {
  /** Inputs, `[n, ...]`. */
  readonly x: Tensor;
  /** Targets, `[n, ...]`. */
  readonly y: Tensor;
}

function checkCount(op: string, name: string, n: number, min = 0): void {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`${op}: ${name} must be an integer ≥ ${min}, got ${n}`);
  }
}

function checkNoise(op: string, noise: number): void {
  if (!(noise >= 0) || !Number.isFinite(noise)) {
    throw new RangeError(`${op}: noise must be a finite number ≥ 0, got ${noise}`);
  }
}

/** Options of {@link linearRegression}. */
export interface LinearRegressionOptions {
  /** The true weights, `f32[d]` (default `[2, -3.4]`, as Dive into Deep Learning). */
  readonly w?: TensorLike;
  /** The true bias (default 4.2). */
  readonly b?: number;
  /** Number of examples (default 1000). */
  readonly n?: number;
  /** Standard deviation σ of the Gaussian noise (default 0.01). */
  readonly noise?: number;
}

/**
 * Linear-regression data `y = X w + b + σ ε` with `X, ε ~ N(0, 1)`, as Dive into Deep
 * Learning's `synthetic_data` (§3.4).
 *
 * @param key PRNG key, `u32[2]`
 * @param opts `w` (`f32[d]`), `b`, `n`, `noise` σ
 * @returns `x: f32[n, d]`, `y: f32[n]` (d2l reshapes y to `[n, 1]`; add `.reshape(-1, 1)` for that)
 * @throws {TypeError} when `w` is not a vector
 * @throws {RangeError} for a negative `n` or `noise`
 *
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 * import { linearRegression } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const { x, y } = linearRegression(random.key(0), { w: [2, -3.4], b: 4.2, n: 100 });
 * assertEquals([x.shape, y.shape], [[100, 2], [100]]);
 * ```
 */
export function linearRegression(key: Tensor, opts: LinearRegressionOptions = {}): XY {
  const w = np.asarray(opts.w ?? [2, -3.4], "f32");
  const b = opts.b ?? 4.2, n = opts.n ?? 1000, noise = opts.noise ?? 0.01;
  if (w.ndim !== 1) {
    throw new TypeError(`linearRegression expects weights f32[d], got ${w.aval}`);
  }
  checkCount("linearRegression", "n", n);
  checkNoise("linearRegression", noise);
  const [kx, ke] = [random.foldIn(key, 0), random.foldIn(key, 1)];
  const x = random.normal(kx, [n, w.shape[0]]);
  const y = np.matmul(x, w).add(b).add(random.normal(ke, [n]).mul(noise));
  return { x, y };
}

/** Options of {@link twoMoons}. */
export interface TwoMoonsOptions {
  /** Number of points, split as evenly as possible between the moons (default 200). */
  readonly n?: number;
  /** Standard deviation of the Gaussian noise added to each coordinate (default 0.1). */
  readonly noise?: number;
  /** Shuffle the points (default true, as scikit-learn); false lists moon 0, then moon 1. */
  readonly shuffle?: boolean;
}

/**
 * Two interleaving half circles, scikit-learn's `make_moons`: `n − ⌊n/2⌋` points on the outer
 * moon `(cos t, sin t)` (label 0) and `⌊n/2⌋` on the inner moon `(1 − cos t, ½ − sin t)`
 * (label 1), `t` evenly spaced in `[0, π]`, plus Gaussian noise.
 *
 * @param key PRNG key, `u32[2]` (noise and shuffling)
 * @param opts `n`, `noise`, `shuffle`
 * @returns `x: f32[n, 2]`, `y: i32[n]` in {0, 1}
 * @throws {RangeError} for a negative `n` or `noise`
 *
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 * import { twoMoons } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const { x, y } = twoMoons(random.key(0), { n: 10, noise: 0 });
 * assertEquals([x.shape, y.dtype], [[10, 2], "i32"]);
 * assertEquals(await y.sum().item(), 5);
 * ```
 */
export function twoMoons(key: Tensor, opts: TwoMoonsOptions = {}): XY {
  const n = opts.n ?? 200, noise = opts.noise ?? 0.1;
  checkCount("twoMoons", "n", n);
  checkNoise("twoMoons", noise);
  const nIn = Math.floor(n / 2), nOut = n - nIn;
  const tOut = np.linspace(0, Math.PI, nOut), tIn = np.linspace(0, Math.PI, nIn);
  const outer = np.stack([np.cos(tOut), np.sin(tOut)], 1);
  const inner = np.stack([np.cos(tIn).neg().add(1), np.sin(tIn).neg().add(0.5)], 1);
  let x = np.concatenate([outer, inner], 0);
  let y = np.concatenate([np.zeros([nOut], "i32"), np.ones([nIn], "i32")], 0);
  if (noise > 0) x = x.add(random.normal(random.foldIn(key, 0), [n, 2]).mul(noise));
  if (opts.shuffle ?? true) {
    const perm = random.permutation(random.foldIn(key, 1), n);
    x = np.take(x, perm, { axis: 0 });
    y = np.take(y, perm, { axis: 0 });
  }
  return { x, y };
}

/** Options of {@link spirals}. */
export interface SpiralsOptions {
  /** Points per class (default 100). */
  readonly n?: number;
  /** Number of classes, one arm each (default 2). */
  readonly classes?: number;
  /** Standard deviation of the noise added to the angle (default 0.2). */
  readonly noise?: number;
  /** Shuffle the points (default true); false lists class 0, then class 1, … */
  readonly shuffle?: boolean;
}

/**
 * Interleaved spiral arms, the CS231n toy classification set: for class `j` and point `i`,
 * `r = i / (n − 1)`, `t = 4 (j + r) + σ ε` and the point is `(r sin t, r cos t)`, so each arm
 * winds from the origin to the unit circle. Not linearly separable: a linear classifier gets
 * about `1 / classes`, a small MLP nearly 100%.
 *
 * @param key PRNG key, `u32[2]` (noise and shuffling)
 * @param opts `n` per class, `classes`, `noise`, `shuffle`
 * @returns `x: f32[classes·n, 2]` inside the unit disc, `y: i32[classes·n]` in `[0, classes)`
 * @throws {RangeError} for a negative `n`, fewer than one class or a negative `noise`
 *
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 * import { spirals } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const { x, y } = spirals(random.key(0), { n: 50, classes: 3 });
 * assertEquals([x.shape, y.shape], [[150, 2], [150]]);
 * ```
 */
export function spirals(key: Tensor, opts: SpiralsOptions = {}): XY {
  const n = opts.n ?? 100, classes = opts.classes ?? 2, noise = opts.noise ?? 0.2;
  checkCount("spirals", "n", n);
  checkCount("spirals", "classes", classes, 1);
  checkNoise("spirals", noise);
  const total = n * classes;
  const r = np.tile(np.linspace(0, 1, n), classes);
  const label = np.repeat(np.arange(classes, undefined, 1, "i32"), n);
  let t = label.astype("f32").add(r).mul(4);
  if (noise > 0) t = t.add(random.normal(random.foldIn(key, 0), [total]).mul(noise));
  let x = np.stack([r.mul(np.sin(t)), r.mul(np.cos(t))], 1);
  let y = label;
  if (opts.shuffle ?? true) {
    const perm = random.permutation(random.foldIn(key, 1), total);
    x = np.take(x, perm, { axis: 0 });
    y = np.take(y, perm, { axis: 0 });
  }
  return { x, y };
}

/** A boolean function of {@link truthTable}. */
export type LogicOp = "and" | "or" | "xor" | "nand" | "nor" | "xnor";

const logic: Readonly<Record<LogicOp, (bits: readonly number[]) => boolean>> = {
  and: (b) => b.every((v) => v === 1),
  or: (b) => b.some((v) => v === 1),
  xor: (b) => b.reduce((a, v) => a ^ v, 0) === 1,
  nand: (b) => !b.every((v) => v === 1),
  nor: (b) => !b.some((v) => v === 1),
  xnor: (b) => b.reduce((a, v) => a ^ v, 0) === 0,
};

/** Options of {@link truthTable}. */
export interface TruthTableOptions {
  /** Number of inputs (default 2); XOR of more inputs is parity. */
  readonly inputs?: number;
  /** Target dtype: "f32" (default, for MSE or binary cross-entropy) or "i32" (class index). */
  readonly dtype?: "f32" | "i32";
}

/**
 * The truth table of a boolean function, rows in binary counting order (`[0,0], [0,1],
 * [1,0], [1,1]` for two inputs). XOR is the classic problem a single-layer perceptron cannot
 * learn (Minsky and Papert, 1969) and a two-layer network can.
 *
 * @param op `"and"`, `"or"`, `"xor"`, `"nand"`, `"nor"` or `"xnor"`
 * @param opts `inputs` (default 2), `dtype` of the targets
 * @returns `x: f32[2^inputs, inputs]` of 0/1, `y: [2^inputs]` of 0/1
 * @throws {RangeError} for an unknown op or a number of inputs outside [1, 16]
 *
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * import { truthTable } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * await init({ backend: "cpu" });
 * const { x, y } = truthTable("xor");
 * assertEquals(await x.toArray(), [[0, 0], [0, 1], [1, 0], [1, 1]]);
 * assertEquals(await y.toArray(), [0, 1, 1, 0]);
 * ```
 */
export function truthTable(op: LogicOp, opts: TruthTableOptions = {}): XY {
  const k = opts.inputs ?? 2;
  if (!Object.hasOwn(logic, op)) {
    throw new RangeError(
      `truthTable: unknown op ${JSON.stringify(op)}; expected ${Object.keys(logic).join(", ")}`,
    );
  }
  if (!Number.isInteger(k) || k < 1 || k > 16) {
    throw new RangeError(`truthTable: inputs must be an integer in [1, 16], got ${k}`);
  }
  const rows = 1 << k;
  const xs = new Float32Array(rows * k), ys = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const bits = Array.from({ length: k }, (_, j) => (r >> (k - 1 - j)) & 1);
    xs.set(bits, r * k);
    ys[r] = logic[op](bits) ? 1 : 0;
  }
  return {
    x: np.array(xs, { shape: [rows, k] }),
    y: np.array(ys, { dtype: opts.dtype ?? "f32" }),
  };
}
