/**
 * A GAN on Fashion-MNIST, trained with `models.makeGanStep` (the discriminator on
 * ½[BCE(D(x), 1) + BCE(D(G(z)), 0)], then the generator on the non-saturating BCE(D(G(z)), 1))
 * and Adam with d2l's GAN betas (0.5, 0.999), learning rate 2e-4, batches of 128; real images
 * are scaled to [−1, 1]. Writes `out/d2l/gan_samples.png`: 64 samples from fixed noise.
 *
 * `--model mlp` (default; a few seconds an epoch on a CPU): d2l §20.1's MLP GAN at image size,
 * `models.mlpGan({ latentDim: 64, dataDim: 784, generatorHidden: [256, 512],
 * discriminatorHidden: [512, 256], activation: "leakyRelu" })`, the generator's linear output
 * clipped to [−1, 1] for the picture.
 * `--model dcgan`: d2l §20.2's DCGAN at 28×28 (`models.dcgan({ latentDim: 64, imageShape:
 * [1, 28, 28], features: 32 })`, two stride-2 stages from a 7×7 base, a tanh output), sampled
 * in training mode (batch statistics, as d2l draws them); it needs an epoch or more, which is
 * slow on a CPU.
 *
 * Run: `deno run -A examples/d2l/gan.ts [--model mlp|dcgan] [--epochs N] [--limit N]
 * [--out DIR] [--backend NAME]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { init, models, np, optim, random, type Tensor } from "../../mod.ts";
import { isStateful } from "../../layers/layer.ts";
import { imageGrid, mnistSource, savePng } from "../../data/mod.ts";
import { progressBar } from "../../train/mod.ts";
import { fashionMnist } from "./_common.ts";

/** Options of {@link trainGan}. */
export interface GanRunOptions {
  /** `"mlp"` (default) or `"dcgan"`. */
  readonly model?: "mlp" | "dcgan";
  /** Epochs (default 1). */
  readonly epochs?: number;
  /** Training images (default all 60000). */
  readonly limit?: number;
  /** Output folder (default `out/d2l`). */
  readonly out?: string;
  /** Show the progress bar (default true). */
  readonly progress?: boolean;
}

/** What {@link trainGan} returns. */
export interface GanRunResult {
  /** The discriminator's mean loss per epoch. */
  readonly lossD: readonly number[];
  /** The generator's mean loss per epoch. */
  readonly lossG: readonly number[];
  /** The PNG written. */
  readonly file: string;
}

/**
 * Trains the DCGAN and writes the sample grid. Call `init()` first.
 *
 * @param opts the run's options
 * @returns the per-epoch losses and the file written
 */
export async function trainGan(opts: GanRunOptions = {}): Promise<GanRunResult> {
  const out = opts.out ?? "out/d2l", epochs = opts.epochs ?? 1, batch = 128;
  const ds = await fashionMnist();
  const key = random.key(0);
  const data = mnistSource(ds.train, batch, { limit: opts.limit, shuffle: random.foldIn(key, 0) });
  const dc = opts.model === "dcgan";
  const gan: models.Gan = dc
    ? models.dcgan({ latentDim: 64, imageShape: [1, 28, 28], features: 32 })
    : models.mlpGan({
      latentDim: 64,
      dataDim: 784,
      generatorHidden: [256, 512],
      discriminatorHidden: [512, 256],
      activation: "leakyRelu",
    });
  const real = (x: Tensor): Tensor => (dc ? x : x.reshape(x.shape[0], 784)).mul(2).sub(1);
  const optG = optim.adam({ lr: 2e-4, betas: [0.5, 0.999] });
  const optD = optim.adam({ lr: 2e-4, betas: [0.5, 0.999] });
  const step = models.makeGanStep(gan, optG, optD);
  let state = models.initGanState(gan, optG, optD, random.foldIn(key, 1));
  const steps = Math.floor(data.numExamples / batch);
  const bar = opts.progress === false
    ? undefined
    : progressBar({ epochs, steps, batchSize: batch });
  const lossD: number[] = [], lossG: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    bar?.startEpoch(epoch);
    let sd: Tensor | undefined, sg: Tensor | undefined, i = 0;
    for (const b of data.batches({ epoch, dropLast: true })) {
      const r = step(
        state,
        real(b.x),
        random.foldIn(random.foldIn(key, 2), epoch * 1e5 + i),
      );
      state = r.state;
      sd = sd ? sd.add(r.lossD) : r.lossD;
      sg = sg ? sg.add(r.lossG) : r.lossG;
      if (++i % 20 === 0 && bar) bar.update(i, await r.lossD.item() as number);
    }
    lossD.push((await sd!.item() as number) / i);
    lossG.push((await sg!.item() as number) / i);
    bar?.endEpoch({ loss_D: lossD.at(-1)!, loss_G: lossG.at(-1)! });
  }
  const z = random.normal(random.foldIn(key, 3), [64, ...gan.noiseShape]);
  const g = gan.generator;
  const y = isStateful(g)
    ? g.apply(state.g, z, { state: state.gState, train: true }).y
    : g.apply(state.g, z);
  const file = `${out}/gan_samples.png`;
  const images = np.clip(y, -1, 1).add(1).div(2).reshape(64, 1, 28, 28);
  await savePng(file, await imageGrid(images, { cols: 8 }));
  return { lossD, lossG, file };
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string", default: "mlp" },
      epochs: { type: "string", default: "1" },
      limit: { type: "string" },
      out: { type: "string", default: "out/d2l" },
      backend: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  if (v.model !== "mlp" && v.model !== "dcgan") {
    console.error(`--model must be mlp or dcgan, got ${v.model}`);
    Deno.exit(2);
  }
  const backend = await init(v.backend ? { backend: v.backend } : {});
  console.log(`${v.model} GAN on Fashion-MNIST, backend ${backend.name}`);
  const r = await trainGan({
    model: v.model,
    epochs: Number(v.epochs),
    limit: v.limit === undefined ? undefined : Number(v.limit),
    out: v.out,
    progress: !v.quiet,
  });
  console.log(
    `loss_D per epoch ${r.lossD.map((l) => l.toFixed(3)).join(", ")}, loss_G ${
      r.lossG.map((l) => l.toFixed(3)).join(", ")
    }; wrote ${r.file}`,
  );
}
