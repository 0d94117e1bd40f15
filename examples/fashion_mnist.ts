/**
 * Fashion-MNIST with an MLP (784 → 256 → 10, ReLU, softmax cross-entropy, Adam) on standardized
 * pixels, trained with `train.fit`: a progress bar, validation metrics every epoch, the test
 * accuracy at the end, then a checkpoint (`out/fashion_mnist.safetensors`, PyTorch
 * `state_dict` keys `0.weight`, `0.bias`, `2.weight`, `2.bias`) and the training curves
 * (`out/fashion_mnist_curves.svg`).
 *
 * The data comes from `$DENAX_DATA`, the user cache, or the Debian package
 * `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`); when it is missing, the demo
 * says so and trains on a synthetic 10-class set of the same shape instead.
 *
 * Run: `deno task demo`, or
 * `deno run -A examples/fashion_mnist.ts --epochs 3 --batch-size 64 --lr 1e-3 --backend cpu`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { init, nn, np, optim, random, type Tensor } from "../mod.ts";
import { loadMnistLike, mnistTensors, splitData, unpackBytes } from "../data/mod.ts";
import { evaluate, fit, save, writeTrainingCurves } from "../train/mod.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    epochs: { type: "string", default: "3" },
    "batch-size": { type: "string", default: "64" },
    lr: { type: "string", default: "1e-3" },
    hidden: { type: "string", default: "256" },
    optimizer: { type: "string", default: "adam" },
    backend: { type: "string" },
    limit: { type: "string" },
    "data-dir": { type: "string" },
    out: { type: "string", default: "out" },
    seed: { type: "string", default: "0" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (args.help) {
  console.log(
    `usage: deno run -A examples/fashion_mnist.ts [options]
  --epochs N         epochs (default 3)
  --batch-size N     examples per step (default 64)
  --lr X             learning rate (default 1e-3 for adam, use ~0.1 for sgd)
  --hidden N         hidden units (default 256)
  --optimizer NAME   adam or sgd (momentum 0.9) (default adam)
  --backend NAME     cpu or webgpu (default: DENAX_BACKEND, else webgpu when available)
  --limit N          train on the first N training images only
  --data-dir DIR     where the four dataset files are (default: $DENAX_DATA, the user cache,
                     /usr/share/datasets/fashion-mnist)
  --out DIR          where the checkpoint and the curves go (default out)
  --seed N           PRNG seed (default 0)`,
  );
  Deno.exit(0);
}

function intArg(name: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer ≥ ${min}, got ${v}`);
    Deno.exit(2);
  }
  return n;
}

const epochs = intArg("epochs", args.epochs);
const batchSize = intArg("batch-size", args["batch-size"]);
const hidden = intArg("hidden", args.hidden);
const seed = intArg("seed", args.seed, 0);
const lr = Number(args.lr);
if (!(lr > 0)) {
  console.error(`--lr must be a positive number, got ${args.lr}`);
  Deno.exit(2);
}
if (args.optimizer !== "adam" && args.optimizer !== "sgd") {
  console.error(`--optimizer must be adam or sgd, got ${args.optimizer}`);
  Deno.exit(2);
}

const backend = await init(args.backend ? { backend: args.backend } : {});
console.log(`backend: ${backend.name} (${backend.description})`);

type Split = { x: Tensor; y: Tensor };
const root = random.key(seed);

/**
 * A stand-in with Fashion-MNIST's shapes: 10 class prototypes, faint against the noise
 * (`x = clip(½ + (p_y − ½) / 10 + 0.3 ε, 0, 1)`), so the classes overlap as real ones do.
 */
function syntheticSet(key: Tensor, n: number, prototypes: Tensor): Split {
  const y = random.randint(random.foldIn(key, 0), [n], 0, 10);
  const noise = random.normal(random.foldIn(key, 1), [n, 784]).mul(0.3);
  const signal = np.take(prototypes, y, { axis: 0 }).sub(0.5).div(10).add(0.5);
  return { x: np.clip(signal.add(noise), 0, 1), y };
}

/** Mean and standard deviation of bytes, scaled to [0, 1]. */
function byteStats(bytes: Uint8Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const b of bytes) (s += b), (s2 += b * b);
  const mean = s / bytes.length;
  return { mean: mean / 255, std: Math.sqrt(s2 / bytes.length - mean * mean) / 255 };
}

// Fashion-MNIST stays on the device as bytes packed four to a u32 word: 47 MB instead of
// 188 MB of f32, which is more than some WebGPU adapters bind in one buffer (llvmpipe: 128 MiB).
// Each batch is unpacked and standardized inside the jitted step.
let trainAll: Split, test: Split, source: string, stats: { mean: number; std: number };
const loaded = await loadMnistLike("fashion-mnist", {
  download: false,
  ...(args["data-dir"] ? { dirs: [args["data-dir"]] } : {}),
});
if (loaded._tag === "Right") {
  const { train, test: testSplit } = loaded.right;
  const limit = args.limit === undefined ? train.n : intArg("limit", args.limit);
  trainAll = mnistTensors(train, { limit, packed: true });
  test = mnistTensors(testSplit, { packed: true });
  stats = byteStats(train.images.subarray(0, Math.min(limit, train.n) * 784));
  source = "Fashion-MNIST";
} else {
  console.warn(`${loaded.left.message}\nTraining on a synthetic 10-class set instead.`);
  const prototypes = random.uniform(random.foldIn(root, 10), [10, 784]);
  trainAll = syntheticSet(random.foldIn(root, 11), 12000, prototypes);
  test = syntheticSet(random.foldIn(root, 12), 2000, prototypes);
  stats = {
    mean: await trainAll.x.mean().item() as number,
    std: await trainAll.x.std().item() as number,
  };
  source = "synthetic";
}
/** The network's input: pixels in [0, 1], standardized with the training set's statistics. */
const input = (x: Tensor): Tensor =>
  (x.dtype === "u32" ? unpackBytes(x).div(255) : x).sub(stats.mean).div(stats.std);
const { train: trainData, val: valData } = splitData(trainAll, 1 / 12, random.foldIn(root, 1));
console.log(
  `${source}: ${trainData.x.shape[0]} train, ${valData.x.shape[0]} validation, ` +
    `${test.x.shape[0]} test images`,
);

const net = nn.sequential([
  nn.linear({ inFeatures: 784, outFeatures: hidden }),
  nn.relu,
  nn.linear({ inFeatures: hidden, outFeatures: 10 }),
]);
console.log(net.name);
const optimizer: optim.GradientTransformation<unknown> = args.optimizer === "adam"
  ? optim.adam({ lr })
  : optim.sgd({ lr, momentum: 0.9 });
const loss = (p: unknown, b: Split) =>
  nn.losses.crossEntropy(net.apply(p as never, input(b.x)), b.y);
const metrics = {
  loss,
  accuracy: (p: unknown, b: Split) => nn.metrics.accuracy(net.apply(p as never, input(b.x)), b.y),
};

const { params, history, step } = await fit({
  params: net.init(random.foldIn(root, 2)),
  optimizer,
  loss,
  trainData,
  valData,
  epochs,
  batchSize,
  key: random.foldIn(root, 3),
  metrics,
  logEvery: 20,
});

const result = await evaluate(params, test, metrics);
const perEpoch = history.time.map((t) => t.toFixed(1)).join(", ");
console.log(
  `test accuracy ${(result.accuracy * 100).toFixed(2)}%  test loss ${result.loss.toFixed(4)}`,
);
console.log(`seconds per epoch (incl. validation): ${perEpoch}; step traced ${step.traceCount}×`);

await Deno.mkdir(args.out, { recursive: true });
const ckpt = `${args.out}/fashion_mnist.safetensors`, svg = `${args.out}/fashion_mnist_curves.svg`;
const saved = await save(ckpt, params, {
  metadata: {
    model: net.name,
    data: source,
    epochs: String(history.epoch.length),
    test_accuracy: result.accuracy.toFixed(4),
  },
});
if (saved._tag === "Left") {
  console.error(saved.left.message);
  Deno.exit(1);
}
await writeTrainingCurves(svg, history, {
  title: `${net.name} on ${source} (test accuracy ${(result.accuracy * 100).toFixed(1)}%)`,
});
console.log(`wrote ${ckpt} and ${svg}`);
