/**
 * An autoencoder on Fashion-MNIST, trained briefly, and its reconstructions as a PNG grid:
 * `out/d2l/ae_recon.png` holds 16 test images (top two rows) above their reconstructions
 * (bottom two rows).
 *
 * `--model ae` (default): the dense autoencoder `models.autoencoder({ sizes: [784, 256, 32] })`
 * (784 → 256 → 32 → 256 → 784, ReLU, a sigmoid output) trained on the mean squared error.
 * `--model vae`: the variational autoencoder `models.vae({ sizes: [784, 256], latent: 16 })`
 * trained on the negative ELBO (`models.vaeLoss`, binary cross-entropy), reconstructing with
 * z = μ; it also writes `out/d2l/vae_samples.png`, 32 decodings of z ~ N(0, I). Both use Adam
 * (learning rate 1e-3) with batches of 128.
 *
 * Run: `deno run -A examples/d2l/autoencoder.ts [--model ae|vae] [--epochs N] [--limit N]
 * [--out DIR] [--backend NAME]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { init, models, nn, np, optim, random, type Tensor } from "../../mod.ts";
import { imageGrid, mnistSource, savePng } from "../../data/mod.ts";
import { fit } from "../../train/mod.ts";
import { fashionMnist } from "./_common.ts";

/** Options of {@link trainAutoencoder}. */
export interface AutoencoderRunOptions {
  /** `"ae"` (dense autoencoder, MSE) or `"vae"` (negative ELBO). */
  readonly model?: "ae" | "vae";
  /** Epochs (default 3). */
  readonly epochs?: number;
  /** Training images (default all 60000). */
  readonly limit?: number;
  /** Output folder (default `out/d2l`). */
  readonly out?: string;
  /** Show the progress bar (default true). */
  readonly progress?: boolean;
}

/** What {@link trainAutoencoder} returns. */
export interface AutoencoderRunResult {
  /** The mean training loss of each epoch. */
  readonly losses: readonly number[];
  /** The mean squared error of the 16 shown test reconstructions. */
  readonly testMse: number;
  /** The PNG files written. */
  readonly files: readonly string[];
}

/**
 * Trains the autoencoder (or VAE) and writes the reconstruction grid (and the VAE's samples).
 * Call `init()` first.
 *
 * @param opts the run's options
 * @returns the losses, the shown reconstructions' error, and the files written
 */
export async function trainAutoencoder(
  opts: AutoencoderRunOptions = {},
): Promise<AutoencoderRunResult> {
  const kind = opts.model ?? "ae", out = opts.out ?? "out/d2l";
  const ds = await fashionMnist();
  const key = random.key(0);
  const trainData = mnistSource(ds.train, 128, {
    limit: opts.limit,
    shuffle: random.foldIn(key, 0),
  });
  const [shown] = mnistSource(ds.test, 16, { limit: 16 });
  const x16 = shown.x; // f32[16, 1, 28, 28]
  const common = {
    optimizer: optim.adam({ lr: 1e-3 }),
    trainData,
    epochs: opts.epochs ?? 3,
    key: random.foldIn(key, 1),
    progress: opts.progress ?? true,
    logEvery: 20,
  };
  let recon: Tensor;
  let losses: number[];
  const files: string[] = [];
  if (kind === "vae") {
    const m = models.vae({ sizes: [784, 256], latent: 16, inputShape: [1, 28, 28] });
    const r = await fit({
      ...common,
      params: m.init(random.foldIn(key, 2)),
      loss: (p: models.VaeParams, b: { x: Tensor }, k: Tensor) =>
        models.vaeLoss(m.apply(p, b.x, { train: true, key: k }), b.x),
    });
    losses = r.history.loss;
    recon = m.apply(r.params, x16).recon;
    const samples = m.sample(r.params, random.foldIn(key, 3), 32).reshape(32, 1, 28, 28);
    const path = `${out}/vae_samples.png`;
    await savePng(path, await imageGrid(samples, { cols: 8 }));
    files.push(path);
  } else {
    const m = models.autoencoder({ sizes: [784, 256, 32], inputShape: [1, 28, 28] });
    const r = await fit({
      ...common,
      params: m.init(random.foldIn(key, 2)),
      loss: (p: models.AutoencoderParams, b: { x: Tensor }) => nn.losses.mse(m.apply(p, b.x), b.x),
    });
    losses = r.history.loss;
    recon = m.apply(r.params, x16);
  }
  recon = recon.reshape(16, 1, 28, 28);
  const testMse = await np.square(recon.sub(x16)).mean().item() as number;
  const path = `${out}/ae_recon.png`;
  await savePng(path, await imageGrid(np.concatenate([x16, recon], 0), { cols: 8 }));
  files.unshift(path);
  return { losses, testMse, files };
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string", default: "ae" },
      epochs: { type: "string", default: "3" },
      limit: { type: "string" },
      out: { type: "string", default: "out/d2l" },
      backend: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  if (v.model !== "ae" && v.model !== "vae") {
    console.error(`--model must be ae or vae, got ${v.model}`);
    Deno.exit(2);
  }
  const backend = await init(v.backend ? { backend: v.backend } : {});
  console.log(`${v.model} on Fashion-MNIST, backend ${backend.name}`);
  const r = await trainAutoencoder({
    model: v.model,
    epochs: Number(v.epochs),
    limit: v.limit === undefined ? undefined : Number(v.limit),
    out: v.out,
    progress: !v.quiet,
  });
  console.log(
    `losses per epoch: ${r.losses.map((l) => l.toFixed(4)).join(", ")}; ` +
      `MSE of the shown test reconstructions ${r.testMse.toFixed(4)}; wrote ${r.files.join(", ")}`,
  );
}
