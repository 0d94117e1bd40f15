/**
 * The real-GPU benchmark: denax on the WebGPU backend against PyTorch (CUDA) and JAX on the same
 * GPU, for a user with a GPU. Installs nothing and reaches no network.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno run -A bench/gpu.ts [--quick] [--allow-software]
 * [--peak-tflops N] [--no-peers] [--write]`
 *
 * - prints the adapter and the device profile (`gpu/target.ts`) and fails when the adapter is a
 *   software one (llvmpipe, lavapipe, SwiftShader, WARP) unless `--allow-software`;
 * - runs matmul 4096² f32 (GFLOP/s, and the fraction of the GPU's fp32 peak: `--peak-tflops`, or
 *   a table of known adapters) and f16 (f16 operands and product, f32 accumulation; PyTorch's
 *   and JAX's use the tensor cores), one ResNet-18 training step (SGD, batch 128, 3 × 224², 1000
 *   classes; batch norm in training mode) and one Transformer encoder layer forward (batch 8,
 *   sequence 512, d = 1024, 16 heads, feed-forward 4096; post-norm, no dropout);
 * - runs `bench/gpu_peers.py` in its own process (`python3`, or `$PYTHON`) for PyTorch CUDA and
 *   JAX when they import and see a GPU (`--no-peers` skips it);
 * - prints a markdown table, and appends it to bench/RESULTS.md with `--write`.
 *
 * `--quick` uses tiny sizes (matmul 256², ResNet-18 at batch 2 and 32², the encoder layer at
 * batch 2, sequence 16, d = 32), to check that the script runs end to end (on the software
 * adapter: `--quick --allow-software`).
 *
 * Each timed call reads its result back (a scalar), as a user's loop would; the figure is the
 * median of the timed repetitions after two warm-up calls (the first compiles).
 *
 * No GPU figure exists yet: this script was written and run end to end (`--quick
 * --allow-software`) on a machine with only the software adapter; nobody has run it on a GPU.
 *
 * @module
 */
import { init, jit, models, nn, optim, random, type Tensor, train } from "../mod.ts";

const args = new Set(Deno.args);
const argValue = (name: string): string | undefined => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
};
const quick = args.has("--quick");

/** fp32 peaks (TFLOP/s, dense, no tensor cores) of known adapters, matched on the description. */
const PEAKS: [RegExp, number][] = [
  [/H100.*(PCIe)/i, 51],
  [/H100|H200|GH200/i, 67],
  [/A100/i, 19.5],
  [/L40S/i, 91.6],
  [/RTX 4090/i, 82.6],
  [/RTX 3090/i, 35.6],
];

const info = await init({ backend: "webgpu" });
const { activeProfile, isSoftwareAdapter } = await import("../gpu/target.ts");
const desc = String((info as { description?: string }).description ?? JSON.stringify(info));
const software = isSoftwareAdapter({ description: desc });
console.error(`adapter: ${desc}; device profile: ${activeProfile().name}`);
if (software && !args.has("--allow-software")) {
  console.error(
    `bench:gpu: the adapter is a software one (${desc}); this benchmark is for GPUs ` +
      "(pass --allow-software to run it anyway)",
  );
  Deno.exit(1);
}
const peak = Number(argValue("--peak-tflops")) || PEAKS.find(([re]) => re.test(desc))?.[1];

/** Median milliseconds of `reps` calls of `f` after two warm-up calls. */
async function time(f: () => Promise<unknown>, reps: number): Promise<number> {
  await f();
  await f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[ts.length >> 1];
}

interface Row {
  bench: string;
  size: string;
  ms: number;
  rate?: string;
}
const rows: Row[] = [];

// matmul: the sum is read back (a reduction of N² elements, small next to the 2N³ flops)
{
  const N = quick ? 256 : 4096;
  const a = random.normal(random.key(0), [N, N]), b = random.normal(random.key(1), [N, N]);
  const mm = jit((x: Tensor, y: Tensor) => x.matmul(y).sum());
  const ms = await time(() => mm(a, b).item(), quick ? 3 : 10);
  const gf = 2 * N ** 3 / (ms * 1e6);
  const frac = peak ? `, ${(100 * gf / (peak * 1e3)).toFixed(1)}% of ${peak} TFLOP/s` : "";
  rows.push({ bench: "matmul f32", size: `${N}²`, ms, rate: `${gf.toFixed(0)} GFLOP/s${frac}` });
  // f16 operands and product (2-byte storage where the device has shader-f16), f32 accumulation
  const a16 = a.astype("f16"), b16 = b.astype("f16");
  const mm16 = jit((x: Tensor, y: Tensor) => x.matmul(y).astype("f32").sum());
  const ms16 = await time(() => mm16(a16, b16).item(), quick ? 3 : 10);
  const gf16 = 2 * N ** 3 / (ms16 * 1e6);
  rows.push({ bench: "matmul f16", size: `${N}²`, ms: ms16, rate: `${gf16.toFixed(0)} GFLOP/s` });
}

// ResNet-18 training step (SGD, momentum 0.9)
{
  const B = quick ? 2 : 128, S = quick ? 32 : 224;
  const net = models.resnet18({ numClasses: 1000 });
  const loss = (p: unknown, s: unknown, batch: { x: Tensor; y: Tensor }, key: unknown) => {
    // deno-lint-ignore no-explicit-any -- the peers' result objects are untyped JSON
    const { y, state } = (net as any).apply(p, batch.x, { state: s, train: true, key });
    return [nn.losses.crossEntropy(y, batch.y), state] as const;
  };
  const opt = optim.sgd({ lr: 0.01, momentum: 0.9 });
  // deno-lint-ignore no-explicit-any -- the peers' result objects are untyped JSON
  const step: any = train.makeTrainStep(loss as any, opt, { stateful: true });
  let params = net.init(random.key(2)), optState = opt.init(params), state = net.initState();
  const batch = {
    x: random.normal(random.key(3), [B, 3, S, S]),
    y: random.randint(random.key(4), [B], 0, 1000),
  };
  let k = 0;
  const ms = await time(async () => {
    const out = step(params, optState, state, batch, random.key(10 + k++));
    ({ params, optState, state } = out);
    return await out.loss.item();
  }, quick ? 2 : 10);
  rows.push({
    bench: "ResNet-18 train step",
    size: `batch ${B}, ${S}²`,
    ms,
    rate: `${(B / ms * 1e3).toFixed(0)} img/s`,
  });
}

// Transformer encoder layer forward
{
  const B = quick ? 2 : 8, L = quick ? 16 : 512, D = quick ? 32 : 1024, H = quick ? 4 : 16;
  const F = 4 * D;
  const enc = nn.transformerEncoderLayer({
    dModel: D,
    nhead: H,
    dimFeedforward: F,
    dropout: 0,
    batchFirst: true,
  });
  const p = enc.init(random.key(5));
  const x = random.normal(random.key(6), [B, L, D]);
  // deno-lint-ignore no-explicit-any -- the peers' result objects are untyped JSON
  const fwd = jit((p: any, x: Tensor) => enc.apply(p, x, { train: false }).sum());
  const ms = await time(() => fwd(p, x).item(), quick ? 3 : 10);
  // flops: 4 projections 2·B·L·D² each, attention 2 · 2·B·L²·D, feed-forward 2 · 2·B·L·D·F
  const flops = 8 * B * L * D * D + 4 * B * L * L * D + 4 * B * L * D * F;
  rows.push({
    bench: "Transformer encoder layer fwd",
    size: `batch ${B}, seq ${L}, d ${D}, ${H} heads, ff ${F}`,
    ms,
    rate: `${(flops / (ms * 1e6)).toFixed(0)} GFLOP/s`,
  });
}

interface PeerRow {
  lib: string;
  bench: string;
  ms: number;
  rate?: string;
  error?: string;
}
let peers: PeerRow[] = [];
if (!args.has("--no-peers")) {
  const py = Deno.env.get("PYTHON") ?? "python3";
  const script = new URL("./gpu_peers.py", import.meta.url).pathname;
  try {
    const out = await new Deno.Command(py, {
      args: [script, ...(quick ? ["--quick"] : [])],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    peers = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  } catch (e) {
    console.error(`bench:gpu: peers not run (${py}: ${(e as Error).message})`);
  }
}

const lines = [
  `### bench:gpu — ${desc} (profile ${activeProfile().name})${quick ? " — quick sizes" : ""}`,
  "",
  `\`deno task bench:gpu${Deno.args.length ? " " + Deno.args.join(" ") : ""}\`, ${
    new Date().toISOString().slice(0, 10)
  }`,
  "",
  "| library | benchmark | size | median ms | rate |",
  "| --- | --- | --- | --- | --- |",
  ...rows.map((r) => `| denax | ${r.bench} | ${r.size} | ${r.ms.toFixed(2)} | ${r.rate ?? ""} |`),
  ...peers.map((r) => {
    const size = rows.find((d) => d.bench === r.bench)?.size ?? "";
    return r.error
      ? `| ${r.lib} | ${r.bench} | ${size} | — | ${r.error} |`
      : `| ${r.lib} | ${r.bench} | ${size} | ${r.ms.toFixed(2)} | ${r.rate ?? ""} |`;
  }),
  "",
];
const table = lines.join("\n");
console.log(table);
if (args.has("--write")) {
  const path = new URL("./RESULTS.md", import.meta.url).pathname;
  await Deno.writeTextFile(path, "\n" + table, { append: true });
  console.error(`appended to ${path}`);
}
