/**
 * `data`: datasets and batching. Synthetic sets (linear regression, two moons, spirals, truth
 * tables), character-level text (vocabulary, language-modelling windows), device-resident
 * minibatches with per-epoch shuffling, train/validation splits, Fashion-MNIST and MNIST
 * loading, and the byte-level IDX and safetensors formats.
 *
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 * import * as data from "@denax/denax/data";
 * const { x, y } = data.twoMoons(random.key(0), { n: 100 });
 * const { train, val } = data.splitData({ x, y }, 0.2, random.key(1));
 * let seen = 0;
 * for (const batch of data.batches(train, { batchSize: 32, shuffle: random.key(2), epoch: 1 })) {
 *   seen += batch.x.shape[0];
 * }
 * console.log(seen, data.numExamples(val)); // 80 20
 * if (seen !== 80 || data.numExamples(val) !== 20) throw new Error(`got ${seen}`);
 * ```
 *
 * @module
 */
export * from "./either.ts";
export * from "./safetensors.ts";
export * from "./idx.ts";
export * from "./fashion_mnist.ts";
export * from "./synthetic.ts";
export * from "./text.ts";
export * from "./batches.ts";
export * from "./d2l.ts";
export * from "./vocab.ts";
export * from "./bpe.ts";
export * from "./png.ts";
