/**
 * Runs the d2l Fashion-MNIST experiments one after another, each in its own subprocess
 * (`deno run -A examples/d2l/<family>.ts --json …`), and writes the results table — model,
 * parameters, epochs, training and test images, test accuracy beside d2l's, seconds per
 * epoch, backend, date — as Markdown to `out/d2l/results.md` (and prints it). The curves go
 * to `out/d2l/<family>.svg`, each run's numbers to `out/d2l/json/<family>.json`.
 *
 * By default every experiment runs at d2l's length (its epochs, all 60000 training and 10000
 * test images). `--reduced` runs the plan below instead, sized for a 2-core machine (the
 * convolutional networks on part of the data for fewer epochs); the table says how far each
 * got. `--epochs N`, `--limit N` and `--test-limit N` override every experiment.
 *
 * With `--checkpoints DIR` each experiment saves its weights to `DIR/<family>.safetensors`
 * after every epoch and, run again, resumes after the last epoch saved (see `--checkpoint` in
 * `_common.ts`): a run longer than the machine's session continues where it stopped.
 *
 * Run: `deno task d2l`, or
 * `deno run -A examples/d2l/run_all.ts [--reduced] [--only lenet,mlp] [--checkpoints DIR]
 * [--table-only]` (`--table-only` rebuilds the table from the JSON files of earlier runs).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { D2lResult } from "./_common.ts";

/** The experiments, in d2l's order, with d2l's reported test accuracies. */
export const families: readonly { family: string; title: string; d2l: number }[] = [
  { family: "softmax", title: "Softmax regression", d2l: 0.83 },
  { family: "mlp", title: "MLP", d2l: 0.85 },
  { family: "lenet", title: "LeNet", d2l: 0.80 },
  { family: "alexnet", title: "AlexNet", d2l: 0.88 },
  { family: "vgg", title: "VGG-11/4", d2l: 0.92 },
  { family: "nin", title: "NiN", d2l: 0.87 },
  { family: "googlenet", title: "GoogLeNet", d2l: 0.90 },
  { family: "lenet_bn", title: "BN-LeNet", d2l: 0.88 },
  { family: "resnet", title: "ResNet-18", d2l: 0.91 },
  { family: "densenet", title: "DenseNet", d2l: 0.91 },
];

/**
 * `--reduced`: what fitted a shared 2-core CPU in about an hour (softmax, MLP, LeNet and
 * BN-LeNet at d2l's length, the large networks for one or two epochs on
 * the first `limit` training images, evaluated on the first `testLimit` test images).
 */
export const reducedPlan: Readonly<
  Record<string, { epochs?: number; limit?: number; testLimit?: number }>
> = {
  softmax: {},
  mlp: {},
  lenet: {},
  lenet_bn: {},
  alexnet: { epochs: 1, limit: 512, testLimit: 500 },
  vgg: { epochs: 2, limit: 10240, testLimit: 2000 },
  nin: { epochs: 1, limit: 512, testLimit: 500 },
  googlenet: { epochs: 2, limit: 4096, testLimit: 1000 },
  resnet: { epochs: 2, limit: 10240, testLimit: 2000 },
  densenet: { epochs: 2, limit: 10240, testLimit: 2000 },
};

const pct = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : "–");

/**
 * The results table as Markdown.
 *
 * @param results the runs, by family (missing ones are listed as not run)
 * @returns the table
 */
export function resultsTable(results: Readonly<Record<string, D2lResult | undefined>>): string {
  const head = "| model | parameters | epochs | train images | test images | test acc | d2l acc " +
    "| s/epoch | s per 60000 (est.) | backend | date |";
  const rows = families.map(({ family, title, d2l }) => {
    const r = results[family];
    if (!r) return `| ${title} | | not run | | | | ${d2l.toFixed(2)} | | | | |`;
    const full = r.secondsPerEpoch * 60000 / r.limit;
    return `| ${title} | ${r.params.toLocaleString("en-US")} | ${r.epochs} | ${r.limit} | ` +
      `${r.testLimit} | ${pct(r.testAcc)} | ${d2l.toFixed(2)} | ${
        r.secondsPerEpoch.toFixed(1)
      } | ` +
      `${full.toFixed(0)} | ${r.backend} | ${r.date} |`;
  });
  return [head, "|" + " --- |".repeat(11), ...rows].join("\n");
}

async function readResult(path: string): Promise<D2lResult | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as D2lResult;
  } catch {
    return undefined;
  }
}

if (import.meta.main) {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      reduced: { type: "boolean", default: false },
      only: { type: "string" },
      epochs: { type: "string" },
      limit: { type: "string" },
      "test-limit": { type: "string" },
      out: { type: "string", default: "out/d2l" },
      checkpoints: { type: "string" },
      backend: { type: "string" },
      "table-only": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (v.help) {
    console.log(`usage: deno run -A examples/d2l/run_all.ts [options]
  --reduced         the 2-core plan (see reducedPlan) instead of d2l's full length
  --only a,b        run only these (${families.map((f) => f.family).join(", ")})
  --epochs N        epochs for every experiment
  --limit N         training images for every experiment
  --test-limit N    test images for every experiment
  --out DIR         output folder (default out/d2l)
  --checkpoints DIR save each experiment's weights there after every epoch; resume from them
  --backend NAME    cpu, native or webgpu for every experiment
  --table-only      only rebuild the table from DIR/json/*.json`);
    Deno.exit(0);
  }
  const only = v.only?.split(",").map((s) => s.trim());
  const unknown = only?.filter((f) => !families.some((x) => x.family === f)) ?? [];
  if (unknown.length) {
    console.error(`run_all: unknown families ${unknown.join(", ")}`);
    Deno.exit(2);
  }
  const out = v.out;
  await Deno.mkdir(`${out}/json`, { recursive: true });
  if (v.checkpoints) await Deno.mkdir(v.checkpoints, { recursive: true });
  const here = new URL(".", import.meta.url).pathname;
  let failed = 0;
  if (!v["table-only"]) {
    for (const { family } of families) {
      if (only && !only.includes(family)) continue;
      const plan = v.reduced ? reducedPlan[family] : {};
      const args = ["run", "-A", `${here}${family}.ts`, "--json", `${out}/json/${family}.json`];
      args.push("--out", out);
      if (v.checkpoints) args.push("--checkpoint", `${v.checkpoints}/${family}.safetensors`);
      if (v.backend) args.push("--backend", v.backend);
      const epochs = v.epochs ?? plan.epochs, limit = v.limit ?? plan.limit;
      const testLimit = v["test-limit"] ?? plan.testLimit;
      if (epochs !== undefined) args.push("--epochs", String(epochs));
      if (limit !== undefined) args.push("--limit", String(limit));
      if (testLimit !== undefined) args.push("--test-limit", String(testLimit));
      console.log(`\n== ${family}: deno ${args.slice(2).join(" ")}`);
      const t0 = performance.now();
      const { code } = await new Deno.Command(Deno.execPath(), {
        args,
        stdout: "inherit",
        stderr: "inherit",
        env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
      }).output();
      const secs = ((performance.now() - t0) / 1000).toFixed(0);
      console.log(`== ${family}: exit code ${code} after ${secs} s`);
      if (code !== 0) failed++;
    }
  }
  const results: Record<string, D2lResult | undefined> = {};
  for (const { family } of families) {
    results[family] = await readResult(`${out}/json/${family}.json`);
  }
  const table = resultsTable(results);
  await Deno.writeTextFile(`${out}/results.md`, table + "\n");
  console.log(`\n${table}\n\nwrote ${out}/results.md`);
  if (failed) Deno.exit(1);
}
