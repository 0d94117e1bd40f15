/**
 * PCA [M61] of Fashion-MNIST: `models.pca` fitted to the first N training images (pixels
 * scaled to [0, 1], 784 features), printing the explained-variance ratio of the first 10
 * components next to NumPy's.
 *
 * NumPy's ratios (`np.linalg.svd` of the centred float64 data, `S²/ΣS²`), computed once on
 * 2026-12-05 with NumPy from Debian's python3-numpy:
 *
 * ```py
 * x = train_images[:N].reshape(N, 784) / 255; s = np.linalg.svd(x - x.mean(0), compute_uv=False)
 * r = s**2 / (s**2).sum()
 * # N = 1000: [0.2955, 0.1764, 0.0573, 0.0538, 0.0396, 0.0349, 0.0223, 0.0207, 0.0132, 0.0124]
 * ```
 *
 * The data comes from `$DENAX_DATA`, the user cache, or the Debian package
 * `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`); without it the example exits
 * with a message.
 *
 * Run: `deno run -A examples/pca_fashion_mnist.ts --backend cpu`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { init, models, np } from "../mod.ts";
import { loadMnistLike } from "../data/mod.ts";

const N = 1000;
const NUMPY_RATIOS = [
  0.2955,
  0.1764,
  0.0573,
  0.0538,
  0.0396,
  0.0349,
  0.0223,
  0.0207,
  0.0132,
  0.0124,
];

const { values: args } = parseArgs({
  args: Deno.args,
  options: { backend: { type: "string" }, "data-dir": { type: "string" } },
});
await init(args.backend ? { backend: args.backend } : {});

const loaded = await loadMnistLike("fashion-mnist", {
  download: false,
  ...(args["data-dir"] ? { dirs: [args["data-dir"]] } : {}),
});
if (loaded._tag !== "Right") {
  console.log(`Fashion-MNIST not found (${loaded.left.message}); nothing to do.`);
  Deno.exit(0);
}
const pixels = new Float32Array(N * 784);
const bytes = loaded.right.train.images;
for (let i = 0; i < pixels.length; i++) pixels[i] = bytes[i] / 255;
const x = np.array(pixels, { shape: [N, 784] });

const t0 = performance.now();
const pca = models.pca({ nComponents: 10 });
const fit = pca.fit(x);
const ratios = (await fit.explainedVarianceRatio.toArray()) as number[];
const secs = ((performance.now() - t0) / 1000).toFixed(1);

console.log(`PCA of the first ${N} Fashion-MNIST training images (784 features), ${secs} s`);
console.log("component  denax    numpy");
ratios.forEach((r, i) => {
  console.log(`${String(i + 1).padStart(9)}  ${r.toFixed(4)}   ${NUMPY_RATIOS[i].toFixed(4)}`);
});
const total = ratios.reduce((a, b) => a + b, 0);
console.log(
  `first 10 together: ${total.toFixed(4)} (numpy ${
    NUMPY_RATIOS.reduce((a, b) => a + b, 0).toFixed(4)
  })`,
);
