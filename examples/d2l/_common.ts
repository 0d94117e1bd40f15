/**
 * What the d2l examples share: the command line (`--epochs N`, `--limit N`, …), Fashion-MNIST
 * loading as d2l's `load_data_fashion_mnist` (pixels in [0, 1], no normalization, shuffled
 * training batches, in-order test batches), d2l's weight initialization, and the train-and-report
 * loop of d2l's `train_ch3` / `train_ch6`: minibatch SGD on the mean cross-entropy, the test
 * accuracy after every epoch, a progress bar, and the curves as an SVG.
 *
 * Each `examples/d2l/<family>.ts` describes one network as a {@link D2lSpec} (d2l's optimizer,
 * learning rate, batch size and epochs) and calls {@link main}; `examples/d2l/run_all.ts` runs
 * them all and writes the results table.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { init, nn, optim, random, type Tensor, tree } from "../../mod.ts";
import { loadMnistLike, type MnistLike, mnistSource } from "../../data/mod.ts";
import type { AnyLayer } from "../../layers/layer.ts";
import { isStateful } from "../../layers/layer.ts";
import {
  evaluate,
  fit,
  type History,
  loadInto,
  loadMetadata,
  save,
  writeTrainingCurves,
} from "../../train/mod.ts";

/** One of d2l's Fashion-MNIST experiments. */
export interface D2lSpec {
  /** The file name and key in the results table, e.g. `"lenet"`. */
  readonly family: string;
  /** The name printed in the table, e.g. `"LeNet"`. */
  readonly title: string;
  /** Builds the network: f32[N, 1, 28, 28] → f32[N, 10] logits. */
  readonly makeModel: () => AnyLayer;
  /** d2l's learning rate (plain minibatch SGD, as d2l's `torch.optim.SGD(net.parameters(), lr)`). */
  readonly lr: number;
  /** d2l's batch size. */
  readonly batchSize: number;
  /** d2l's number of epochs. */
  readonly epochs: number;
  /**
   * d2l's initialization of every `Linear` and `Conv2d` weight: `"normal"` is
   * `nn.init.normal_(w, std=0.01)` (chapters 3–4), `"xavier"` is `nn.init.xavier_uniform_(w)`
   * (`train_ch6`); biases and batch-norm parameters keep PyTorch's defaults.
   */
  readonly init: "normal" | "xavier";
  /** The test accuracy d2l reports for this experiment. */
  readonly d2lAccuracy: number;
}

/** Options of {@link trainD2l} (the command line's, parsed). */
export interface D2lRunOptions {
  /** Epochs (default: d2l's). */
  readonly epochs?: number;
  /** Train on the first N training images only (default: all 60000). */
  readonly limit?: number;
  /** Evaluate on the first N test images only (default: all 10000). */
  readonly testLimit?: number;
  /** Batch size (default: d2l's). */
  readonly batchSize?: number;
  /** Learning rate (default: d2l's). */
  readonly lr?: number;
  /** Folder for the SVG (default `out/d2l`). */
  readonly out?: string;
  /** PRNG seed (default 0). */
  readonly seed?: number;
  /** Show the progress bar (default true). */
  readonly progress?: boolean;
  /** Called after every epoch with the row so far (the command line writes `--json` here). */
  readonly onEpoch?: (partial: D2lResult) => void | Promise<void>;
  /**
   * A safetensors file to save the parameters (and batch-norm statistics, and the optimizer's
   * state where it has one) in after every epoch, with the run so far in its metadata; when it
   * exists at the start, the run resumes after its last epoch as if it had not stopped (the
   * epochs' shuffles and dropout keys depend on the epoch's number). It must come from the same
   * experiment: family, seed, images, batch size and learning rate.
   */
  readonly checkpoint?: string;
}

/** What {@link trainD2l} returns: one row of the results table. */
export interface D2lResult {
  /** The family (`spec.family`). */
  readonly family: string;
  /** The model's title (`spec.title`). */
  readonly model: string;
  /** The number of trainable parameters. */
  readonly params: number;
  /** Epochs trained. */
  readonly epochs: number;
  /** Training images used per epoch. */
  readonly limit: number;
  /** Test images evaluated. */
  readonly testLimit: number;
  /** Batch size used. */
  readonly batchSize: number;
  /** Learning rate used. */
  readonly lr: number;
  /** The PRNG seed (initial weights and batch order; absent in rows written before it was kept). */
  readonly seed?: number;
  /** The test accuracy after the last epoch. */
  readonly testAcc: number;
  /** The mean training loss of each epoch. */
  readonly losses: readonly number[];
  /** The test accuracy after each epoch. */
  readonly testAccs: readonly number[];
  /**
   * Seconds per epoch of training (the test evaluation not counted): the mean over epochs 2…
   * when there are several (epoch 1 also compiles the step and initializes), else epoch 1's.
   */
  readonly secondsPerEpoch: number;
  /** The backend's name (`native`, `cpu`, `webgpu`). */
  readonly backend: string;
  /** The date of the run (UTC, YYYY-MM-DD). */
  readonly date: string;
  /** d2l's reported test accuracy. */
  readonly d2lAccuracy: number;
  /** The SVG written. */
  readonly svg: string;
  /** The epochs after which the run stopped and was resumed from its checkpoint (if any). */
  readonly resumedAfter?: readonly number[];
}

/** What a d2l checkpoint's metadata keeps of the run (key `d2l`, as JSON). */
interface D2lProgress {
  readonly family: string;
  readonly seed: number;
  readonly limit: number;
  readonly testLimit: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly losses: readonly number[];
  readonly testAccs: readonly number[];
  readonly times: readonly number[];
  readonly resumedAfter: readonly number[];
}

/** The run saved in `path`, or undefined when there is no such file. */
async function readProgress(path: string): Promise<D2lProgress | undefined> {
  try {
    await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const meta = await loadMetadata(path);
  if (meta._tag === "Left") throw meta.left;
  const json = meta.right.d2l;
  if (json === undefined) throw new Error(`${path} is not a d2l checkpoint (no "d2l" metadata)`);
  return JSON.parse(json) as D2lProgress;
}

let cached: Promise<MnistLike> | undefined;

/** Fashion-MNIST from `$DENAX_DATA`, the user cache or `/usr/share/datasets/fashion-mnist`. */
export function fashionMnist(): Promise<MnistLike> {
  cached ??= loadMnistLike("fashion-mnist", { download: false }).then((r) => {
    if (r._tag === "Left") throw r.left;
    return r.right;
  });
  return cached;
}

/**
 * Re-initializes every conv and linear weight (the leaves named `weight` with at least 2
 * dimensions) as d2l does, leaving biases and batch-norm parameters as they are.
 *
 * @param params the model's parameters
 * @param kind `"normal"` (N(0, 0.01²)) or `"xavier"` (Glorot uniform)
 * @param key PRNG key
 * @returns the parameters with new weights
 */
export function d2lInit<P>(params: P, kind: "normal" | "xavier", key: Tensor): P {
  const [leaves, def] = tree.flattenWithPath<unknown>(params);
  const f = kind === "xavier" ? nn.init.glorotUniform() : nn.init.normal(0, 0.01);
  return tree.unflatten<P>(
    def,
    leaves.map(([path, leaf], i) => {
      const t = leaf as Tensor;
      const isWeight = /(^|\.)weight$/.test(path) && typeof t === "object" && t !== null &&
        "ndim" in t && t.ndim >= 2;
      return isWeight ? f(random.foldIn(key, i), t.shape) : leaf;
    }),
  );
}

/**
 * Trains `spec`'s network on Fashion-MNIST as d2l does (SGD on the mean cross-entropy over
 * shuffled minibatches, the test accuracy after every epoch) and writes the curves (training
 * loss, test accuracy) to `<out>/<family>.svg`. Call `init()` first.
 *
 * @param spec the experiment
 * @param opts overrides of d2l's settings and the run's size
 * @param backend the backend's name, for the report
 * @returns the run's row of the results table
 * @throws {DataError} when Fashion-MNIST cannot be found
 */
export async function trainD2l(
  spec: D2lSpec,
  opts: D2lRunOptions = {},
  backend = "unknown",
): Promise<D2lResult> {
  const epochs = opts.epochs ?? spec.epochs;
  const batchSize = opts.batchSize ?? spec.batchSize;
  const lr = opts.lr ?? spec.lr;
  const key = random.key(opts.seed ?? 0);
  const ds = await fashionMnist();
  const limit = Math.min(opts.limit ?? ds.train.n, ds.train.n);
  const testLimit = Math.min(opts.testLimit ?? ds.test.n, ds.test.n);
  const trainData = mnistSource(ds.train, batchSize, {
    limit,
    shuffle: random.foldIn(key, 0),
  });
  const test = mnistSource(ds.test, Math.min(500, testLimit), {
    limit: testLimit,
    shuffle: false,
  });
  const model = spec.makeModel();
  let params = d2lInit(model.init(random.foldIn(key, 1)), spec.init, random.foldIn(key, 2));
  let state = isStateful(model) ? model.initState() : null;
  const nParams = nn.paramCount(params);
  const testAccs: number[] = [], losses: number[] = [], times: number[] = [];
  const resumedAfter: number[] = [];
  const run = { family: spec.family, seed: opts.seed ?? 0, limit, testLimit, batchSize, lr };
  const optimizer = optim.sgd({ lr });
  let optState = optimizer.init(params);
  // what a checkpoint holds: the parameters, the batch-norm statistics, the optimizer's state
  // (none for d2l's plain SGD)
  const held = <A, B, C>(p: A, st: B | null, os: C) => ({
    params: p,
    ...(st === null ? {} : { state: st }),
    ...(tree.leaves(os).length ? { opt: os } : {}),
  });
  const saved = opts.checkpoint ? await readProgress(opts.checkpoint) : undefined;
  if (saved) {
    for (const [k, v] of Object.entries(run)) {
      const was = saved[k as keyof typeof run];
      if (was !== v) {
        throw new Error(
          `${opts.checkpoint} holds another run of ${saved.family}: its ${k} is ${was}, this ` +
            `run's ${v}`,
        );
      }
    }
    const back = await loadInto(opts.checkpoint!, held(params, state, optState));
    if (back._tag === "Left") throw back.left;
    const got = back.right as {
      params: typeof params;
      state?: typeof state;
      opt?: typeof optState;
    };
    params = got.params;
    state = got.state ?? state;
    optState = got.opt ?? optState;
    losses.push(...saved.losses);
    testAccs.push(...saved.testAccs);
    times.push(...saved.times);
    resumedAfter.push(...saved.resumedAfter, saved.losses.length);
  }
  const done = losses.length;
  if (done >= epochs) {
    throw new Error(`${opts.checkpoint} already holds ${done} epochs of ${epochs}`);
  }
  const svg = `${opts.out ?? "out/d2l"}/${spec.family}.svg`;
  /** The row for the epochs done so far; writes the curves. */
  const report = async (): Promise<D2lResult> => {
    const rest = times.length > 1 ? times.slice(1) : times;
    const testAcc = testAccs.at(-1) ?? NaN;
    const history: History = {
      epoch: losses.map((_, i) => i + 1),
      loss: losses,
      test_accuracy: testAccs,
    };
    await writeTrainingCurves(svg, history, {
      title: `${spec.title} on Fashion-MNIST: ${losses.length} epochs, ${limit} images, ` +
        `test acc ${testAcc.toFixed(3)} (${backend})`,
    });
    return {
      family: spec.family,
      model: spec.title,
      params: nParams,
      epochs: losses.length,
      limit,
      testLimit,
      batchSize,
      lr,
      seed: opts.seed ?? 0,
      testAcc,
      losses: [...losses],
      testAccs: [...testAccs],
      secondsPerEpoch: rest.reduce((a, b) => a + b, 0) / rest.length,
      backend,
      date: new Date().toISOString().slice(0, 10),
      d2lAccuracy: spec.d2lAccuracy,
      svg,
      ...(resumedAfter.length ? { resumedAfter: [...resumedAfter] } : {}),
    };
  };
  let t0 = performance.now();
  await fit({
    model,
    params,
    ...(state === null ? {} : { state }),
    optState,
    loss: nn.losses.crossEntropy,
    optimizer,
    trainData,
    epochs,
    initialEpoch: done,
    batchSize,
    key: random.foldIn(key, 3),
    evalTrain: false,
    logEvery: 10,
    progress: opts.progress ?? true,
    // the test evaluation is not counted in the epoch's time
    onEpochEnd: async (epoch, logs, p, st, os) => {
      times.push((performance.now() - t0) / 1000);
      losses.push(logs.loss);
      const { accuracy } = await evaluate(model, p, st, test);
      testAccs.push(accuracy);
      if (opts.progress ?? true) {
        console.error(
          `${spec.title} epoch ${epoch}/${epochs}: loss ${logs.loss.toFixed(4)}, ` +
            `test acc ${accuracy.toFixed(4)}`,
        );
      }
      if (opts.checkpoint) {
        const progress: D2lProgress = { ...run, losses, testAccs, times, resumedAfter };
        await save(opts.checkpoint, held(p, st, os), {
          metadata: { d2l: JSON.stringify(progress) },
        });
      }
      if (opts.onEpoch) await opts.onEpoch(await report());
      t0 = performance.now();
    },
  });
  return await report();
}

const usage = (spec: D2lSpec): string =>
  `usage: deno run -A examples/d2l/${spec.family}.ts [options]
  --epochs N        epochs (default d2l's ${spec.epochs})
  --limit N         train on the first N training images (default all 60000)
  --test-limit N    evaluate on the first N test images (default all 10000)
  --batch-size N    examples per step (default d2l's ${spec.batchSize})
  --lr X            SGD learning rate (default d2l's ${spec.lr})
  --backend NAME    cpu, native or webgpu (default: DENAX_BACKEND, else init()'s choice)
  --out DIR         where the SVG goes (default out/d2l)
  --json FILE       also write the result as JSON (run_all.ts reads it)
  --checkpoint FILE save the weights there after every epoch; resume from it if it exists
  --seed N          PRNG seed (default 0)
  --quiet           no progress bar`;

function intArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || (n === 0 && name !== "seed")) {
    throw new RangeError(`--${name} must be a positive integer, got ${v}`);
  }
  return n;
}

/**
 * Parses the command line of a d2l example.
 *
 * @param args the arguments (`Deno.args`)
 * @returns the run options, plus `backend`, `json`, `help`
 * @throws {RangeError} for a malformed number
 */
export function parseD2lArgs(
  args: readonly string[],
): D2lRunOptions & { backend?: string; json?: string; help: boolean } {
  const { values: v } = parseArgs({
    args: [...args],
    options: {
      epochs: { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      backend: { type: "string" },
      out: { type: "string" },
      json: { type: "string" },
      checkpoint: { type: "string" },
      seed: { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const lr = v.lr === undefined ? undefined : Number(v.lr);
  if (lr !== undefined && !(lr > 0)) throw new RangeError(`--lr must be positive, got ${v.lr}`);
  return {
    epochs: intArg("epochs", v.epochs),
    limit: intArg("limit", v.limit),
    testLimit: intArg("test-limit", v["test-limit"]),
    batchSize: intArg("batch-size", v["batch-size"]),
    lr,
    seed: intArg("seed", v.seed),
    out: v.out,
    backend: v.backend,
    json: v.json,
    checkpoint: v.checkpoint,
    progress: !v.quiet,
    help: v.help,
  };
}

/**
 * The command-line entry of a d2l example: parses `Deno.args`, initializes the backend, trains
 * with {@link trainD2l}, prints the result (and writes it as JSON with `--json`).
 *
 * @param spec the experiment
 * @returns the result (undefined after `--help`)
 */
export async function main(spec: D2lSpec): Promise<D2lResult | undefined> {
  let args;
  try {
    args = parseD2lArgs(Deno.args);
  } catch (e) {
    console.error(`${(e as Error).message}\n${usage(spec)}`);
    Deno.exit(2);
  }
  if (args.help) {
    console.log(usage(spec));
    return undefined;
  }
  const backend = await init(args.backend ? { backend: args.backend } : {});
  console.log(`${spec.title}: backend ${backend.name} (${backend.description})`);
  const writeJson = async (r: D2lResult) => {
    if (!args.json) return;
    const slash = args.json.lastIndexOf("/");
    if (slash > 0) await Deno.mkdir(args.json.slice(0, slash), { recursive: true });
    await Deno.writeTextFile(args.json, JSON.stringify(r, null, 1));
  };
  // with --json the row is rewritten after every epoch, so a run cut short still reports
  const r = await trainD2l(spec, { ...args, onEpoch: writeJson }, backend.name);
  console.log(
    `${spec.title}: ${r.params} parameters, ${r.epochs} epochs on ${r.limit} images, ` +
      `test accuracy ${r.testAcc.toFixed(4)} on ${r.testLimit} (d2l: ${spec.d2lAccuracy}), ` +
      `${r.secondsPerEpoch.toFixed(1)} s per epoch; wrote ${r.svg}`,
  );
  return r;
}
