/**
 * A DCGAN on Fashion-MNIST (d2l §20.2's architecture at 28×28: `models.dcgan({ latentDim: 64,
 * imageShape: [1, 28, 28], features: 32 })`, two stride-2 stages from a 7×7 base), trained
 * with `models.makeGanStep` (the discriminator on ½[BCE(D(x), 1) + BCE(D(G(z)), 0)], then the
 * generator on the non-saturating BCE(D(G(z)), 1)) and Adam with d2l's DCGAN betas (0.5,
 * 0.999), learning rate 2e-4, batches of 128. Real images are scaled to [−1, 1] to match the
 * generator's tanh. Writes `out/d2l/gan_samples.png`: 64 samples from fixed noise (generator in
 * training mode, batch statistics, as d2l draws them).
 *
 * Run: `deno run -A examples/d2l/gan.ts [--epochs N] [--limit N] [--out DIR] [--backend NAME]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { init, models, optim, random, type Tensor } from "../../mod.ts";
import { imageGrid, mnistSource, savePng } from "../../data/mod.ts";
import { progressBar } from "../../train/mod.ts";
import { fashionMnist } from "./_common.ts";

/** Options of {@link trainGan}. */
export interface GanRunOptions {
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
  const gan = models.dcgan({ latentDim: 64, imageShape: [1, 28, 28], features: 32 });
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
        b.x.mul(2).sub(1),
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
  const { y } = gan.generator.apply(state.g, z, { state: state.gState, train: true });
  const file = `${out}/gan_samples.png`;
  await savePng(file, await imageGrid(y.add(1).div(2), { cols: 8 }));
  return { lossD, lossG, file };
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      epochs: { type: "string", default: "1" },
      limit: { type: "string" },
      out: { type: "string", default: "out/d2l" },
      backend: { type: "string" },
      quiet: { type: "boolean", default: false },
    },
  });
  const backend = await init(v.backend ? { backend: v.backend } : {});
  console.log(`DCGAN on Fashion-MNIST, backend ${backend.name}`);
  const r = await trainGan({
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
