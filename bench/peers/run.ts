/**
 * The peer comparison: denax vs `@jax-js/jax` and `@tensorflow/tfjs` on the same five workloads
 * (see `workloads.ts`), in one process on the same adapter, every result checked against a
 * float64 host reference; prints a markdown table with the ratios and targets.
 *
 * Usage:
 * ```sh
 * XDG_RUNTIME_DIR=/tmp deno run -A bench/peers/run.ts [options]
 *   --backend webgpu|cpu       denax's backend (default webgpu)
 *   --peers jax-js,tfjs        which peers to run (default both; "" for none; "jax-js:wasm"
 *                              or "tfjs:cpu" adds a column on that backend)
 *   --only W1,W2,W3,W4,W5      which workloads (default all)
 *   --jaxjs-device webgpu|wasm jax-js's device (default webgpu; wasm also on webgpu failure)
 *   --tfjs-backend webgpu|cpu  tfjs's backend (default webgpu; cpu also on webgpu failure)
 *   --cold-runs N              fresh processes per library for W5 (default 5; at most 3
 *                              without the shader cache, where one run takes up to ~20 s)
 *   --quick                    3 timed iterations per case instead of ≥ 5
 *   --json FILE                also write every sample and check as JSON
 * ```
 *
 * A workload that throws or fails its check prints FAILED / ✗ in its cell; the table is
 * always printed. Peers are used only here, never by the library.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Check,
  compare,
  configureSampling,
  type LibRunner,
  MATMUL_SIZES,
  median,
  type Prepared,
  type SampleOptions,
  samplingFor,
  TOLERANCE,
} from "./workloads.ts";
import { convReference, elementwiseReference, matmulReference, mlpReference } from "./reference.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "webgpu" },
    peers: { type: "string", default: "jax-js,tfjs" },
    only: { type: "string", default: "W1,W2,W3,W4,W5" },
    "jaxjs-device": { type: "string", default: "webgpu" },
    "tfjs-backend": { type: "string", default: "webgpu" },
    "cold-runs": { type: "string", default: "5" },
    quick: { type: "boolean", default: false },
    json: { type: "string" },
  },
});
const only = new Set(args.only!.split(",").map((s) => s.trim().toUpperCase()));
const peerNames = args.peers!.split(",").map((s) => s.trim()).filter((s) => s);
if (args.quick) configureSampling({ minReps: 3, maxReps: 3 });
const started = performance.now();
const log = (msg: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${msg}`);
const loadavg = () => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
};
const loadAtStart = loadavg();
/** A workload still running after this long is reported as FAILED and left behind. */
const WORKLOAD_TIMEOUT_S = 240;
// a library's stray rejection or error event must not end the run before the table
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  log(`unhandled rejection: ${errText(e.reason)}`);
});
globalThis.addEventListener("error", (e) => {
  e.preventDefault();
  log(`uncaught error: ${errText(e.error ?? e.message)}`);
});

// ------------------------------------------------------------------ the libraries

interface Lib {
  label: string; // column header, e.g. "jax-js" or "jax-js (wasm)"
  key: string; // denax | jax-js | tfjs
  backend: string;
  runner?: LibRunner;
  error?: string;
  note?: string;
}

async function makeDenax(): Promise<Lib> {
  const backend = args.backend!;
  const label = backend === "webgpu" ? "denax" : `denax (${backend})`;
  try {
    const { createRunner } = await import("./denax.ts");
    const runner = await createRunner(backend);
    return { label, key: "denax", backend: runner.backend, runner };
  } catch (e) {
    return { label, key: "denax", backend, error: errText(e) };
  }
}

async function makePeer(spec: string): Promise<Lib> {
  const [key, explicit] = spec.split(":");
  const want = explicit ?? (key === "jax-js" ? args["jaxjs-device"]! : args["tfjs-backend"]!);
  const fallback = key === "jax-js" ? "wasm" : "cpu";
  const path = key === "jax-js" ? "./jaxjs.ts" : key === "tfjs" ? "./tfjs.ts" : null;
  if (!path) return { label: key, key, backend: want, error: `unknown peer "${key}"` };
  let mod: { createRunner(b: string): Promise<LibRunner> };
  try {
    mod = await import(path);
  } catch (e) {
    return { label: key, key, backend: want, error: `import failed: ${errText(e)}` };
  }
  try {
    const runner = await mod.createRunner(want);
    const label = want === "webgpu" ? key : `${key} (${want})`;
    return { label, key, backend: runner.backend, runner };
  } catch (e) {
    const why = errText(e);
    if (want === fallback) return { label: key, key, backend: want, error: why };
    log(`${key}: ${want} failed (${why}); falling back to ${fallback}`);
    try {
      const runner = await mod.createRunner(fallback);
      return {
        label: `${key} (${fallback})`,
        key,
        backend: fallback,
        runner,
        note: `${key} could not run on ${want}: ${why}`,
      };
    } catch (e2) {
      return { label: key, key, backend: want, error: `${why}; ${fallback}: ${errText(e2)}` };
    }
  }
}

function errText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split("\n")[0].slice(0, 160);
}

// ------------------------------------------------------------------ measuring

/** One cell: a value (ms or GFLOP/s), its check, or the failure. */
interface Cell {
  value?: number;
  samples?: number[];
  check?: Check;
  error?: string;
  note?: string; // e.g. "eager" where a peer has no jit
}

interface Row {
  id: string;
  workload: string;
  unit: "ms" | "GFLOP/s";
  /** Target speedup of denax over the faster peer (or over jax-js for W5). */
  target?: number;
  targetText?: string;
  cells: Record<string, Cell>;
}

const rows: Row[] = [];

/** Awaits `p`, or rejects after WORKLOAD_TIMEOUT_S (the stuck work is left behind). */
async function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} timed out after ${WORKLOAD_TIMEOUT_S} s`)),
      WORKLOAD_TIMEOUT_S * 1000,
    );
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A library's state while a row is measured. */
interface Running<R> {
  lib: Lib;
  prep: Prepared<R>;
  opts: Required<SampleOptions>;
  samples: number[];
  spent: number;
}

/**
 * Measures one workload on every library: each prepares it and warms up, then the timed
 * iterations go round-robin over the libraries (so load from elsewhere on the machine hits
 * them alike), until each has `minReps` samples and has spent its budget (or has `maxReps`).
 * Every result is then checked; a library that throws gets FAILED in its cell.
 */
async function runRow<R>(
  row: Row,
  prepare: (r: LibRunner) => Promise<Prepared<R> | null>,
  check: (r: R) => Check,
  value: (msPerUnit: number) => number = (ms) => ms,
): Promise<void> {
  const running: Running<R>[] = [];
  const fail = (lib: Lib, e: unknown) => {
    row.cells[lib.label] = { error: `FAILED: ${errText(e)}` };
    log(`${row.workload}: ${lib.label} FAILED: ${errText(e)}`);
  };
  for (const lib of libs) {
    if (!lib.runner) {
      row.cells[lib.label] = { error: lib.error ?? "not available" };
      continue;
    }
    try {
      log(`${row.workload}: ${lib.label} prepare + warm-up…`);
      const prep = await withTimeout(prepare(lib.runner), "prepare");
      if (!prep) {
        row.cells[lib.label] = { error: "n/a" };
        continue;
      }
      const opts = samplingFor(prep.sampling);
      for (let i = 0; i < opts.warmup; i++) await withTimeout(prep.iter(), "warm-up");
      running.push({ lib, prep, opts, samples: [], spent: 0 });
    } catch (e) {
      fail(lib, e);
    }
  }
  let active = [...running];
  while (active.length) {
    for (const r of active) {
      try {
        const t0 = performance.now();
        await withTimeout(r.prep.iter(), "iteration");
        const dt = performance.now() - t0;
        r.spent += dt;
        r.samples.push(dt / r.prep.per);
      } catch (e) {
        fail(r.lib, e);
        r.samples = [];
        r.opts.maxReps = 0;
      }
    }
    active = active.filter((r) =>
      r.samples.length < r.opts.maxReps &&
      (r.samples.length < r.opts.minReps || r.spent < r.opts.budgetMs)
    );
  }
  for (const r of running) {
    if (!r.samples.length) continue;
    try {
      const result = await withTimeout(r.prep.result(), "result");
      r.prep.dispose?.();
      const c: Cell = {
        value: value(median(r.samples)),
        samples: r.samples.map(value),
        check: check(result),
      };
      row.cells[r.lib.label] = c;
      log(
        `${row.workload}: ${r.lib.label} ${c.value!.toFixed(2)} ${row.unit} (${r.samples.length} ` +
          `samples; ${c.check!.ok ? "ok" : "CHECK FAILED"}, ${c.check!.detail})`,
      );
    } catch (e) {
      fail(r.lib, e);
    }
  }
  rows.push(row);
}

// ------------------------------------------------------------------ main

const libs: Lib[] = [await makeDenax()];
for (const p of peerNames) libs.push(await makePeer(p));
for (const l of libs) {
  log(
    `${l.label}: ${
      l.error ? `unavailable: ${l.error}` : `${l.backend} ${l.runner?.adapter ?? ""}`
    }`,
  );
}

if (only.has("W1")) {
  for (const { n, reps } of MATMUL_SIZES) {
    const ref = matmulReference(n);
    await runRow(
      {
        id: `W1-${n}`,
        workload: `W1 matmul ${n}×${n} f32`,
        unit: "GFLOP/s",
        ...(n === 1024 ? { target: 2 } : {}),
        cells: {},
      },
      (r) => r.matmul(n, reps),
      (c) => compare({ c }, { c: ref }, TOLERANCE.matmul),
      (ms) => (2 * n ** 3) / ms / 1e6,
    );
  }
}

if (only.has("W2")) {
  const ref = elementwiseReference();
  for (const useJit of [false, true]) {
    await runRow(
      {
        id: useJit ? "W2-jit" : "W2-eager",
        workload: `W2 elementwise 2²⁰, ${useJit ? "jit" : "eager"}`,
        unit: "ms",
        ...(useJit ? { target: 1.3 } : {}),
        cells: {},
      },
      (r) => r.elementwise(useJit),
      (y) => compare({ y }, { y: ref }, TOLERANCE.elementwise),
    );
  }
  // tfjs has no jit: its eager time stands in the jit row, marked, as its best
  const jitRow = rows.find((r) => r.id === "W2-jit"),
    eagerRow = rows.find((r) => r.id === "W2-eager");
  for (const [label, c] of Object.entries(jitRow?.cells ?? {})) {
    if (c.error === "n/a" && eagerRow?.cells[label]?.value !== undefined) {
      jitRow!.cells[label] = { ...eagerRow.cells[label], note: "eager, no jit" };
    }
  }
}

if (only.has("W3")) {
  const ref = mlpReference();
  for (const steps of [1, 10]) {
    await runRow(
      {
        id: `W3-${steps}`,
        workload: `W3 MLP train step, ${
          steps === 1 ? "loss read every step" : "10 steps per readback"
        }`,
        unit: "ms",
        target: 2,
        cells: {},
      },
      (r) => r.mlp(steps),
      (m) => compare(m as never, ref as never, TOLERANCE.mlp),
    );
  }
}

if (only.has("W4")) {
  const ref = convReference();
  await runRow(
    { id: "W4", workload: "W4 conv 2 layers, fwd + bwd", unit: "ms", target: 2, cells: {} },
    (r) => r.conv(),
    (m) => compare(m as never, ref as never, TOLERANCE.conv),
  );
}

async function coldRow(id: string, workload: string, shaderCache: boolean, runs: number) {
  const ref = mlpReference().loss;
  const row: Row = { id, workload, unit: "ms", targetText: "≤ jax-js", cells: {} };
  const times: Record<string, number[]> = {}, errors: Record<string, string> = {};
  const losses: Record<string, number> = {};
  const coldPath = new URL("./cold.ts", import.meta.url).pathname;
  const env: Record<string, string> = { XDG_RUNTIME_DIR: "/tmp" };
  if (!shaderCache) env.MESA_SHADER_CACHE_DISABLE = "true";
  // with the cache, one untimed run per library first fills it
  for (let i = shaderCache ? -1 : 0; i < runs; i++) {
    for (const lib of libs) {
      if (errors[lib.label] || (!lib.runner && lib.error)) continue;
      log(`${workload} ${i < 0 ? "warm-up" : `${i + 1}/${runs}`}: ${lib.label}…`);
      try {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", coldPath, lib.key, lib.backend],
          env,
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(180_000),
        }).output();
        const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
        const res = JSON.parse(lines[lines.length - 1] || "{}");
        if (res.error || !out.success) {
          throw new Error(res.error ?? new TextDecoder().decode(out.stderr).slice(-300));
        }
        if (i < 0) continue;
        (times[lib.label] ??= []).push(res.ms);
        losses[lib.label] = res.loss;
        log(
          `${workload}: ${lib.label} ${res.ms.toFixed(0)} ms (import ${
            res.importMs.toFixed(0)
          } ms)`,
        );
      } catch (e) {
        errors[lib.label] = `FAILED: ${errText(e)}`;
      }
    }
  }
  for (const lib of libs) {
    const t = times[lib.label];
    row.cells[lib.label] = t
      ? {
        value: median(t),
        samples: t,
        check: compare({ loss: losses[lib.label] }, { loss: ref }, TOLERANCE.mlp),
      }
      : { error: errors[lib.label] ?? lib.error ?? "not run" };
  }
  rows.push(row);
}

if (only.has("W5")) {
  const runs = Math.max(1, Number(args["cold-runs"]));
  await coldRow(
    "W5",
    "W5 cold start to first MLP loss, no shader cache",
    false,
    Math.max(1, Math.min(runs, 3)),
  );
  await coldRow("W5-cache", "W5 cold start, warm Mesa shader cache", true, runs);
}

// ------------------------------------------------------------------ the table

const denaxLabel = libs[0].label;
const peerLabels = libs.slice(1).map((l) => l.label);
// the ratio compares with peers on denax's backend (the same adapter), else with all of them
const sameBackend = libs.slice(1).filter((l) => l.backend === libs[0].backend && !l.note);
const ratioLabels = (sameBackend.length ? sameBackend : libs.slice(1)).map((l) => l.label);

function fmtValue(c: Cell | undefined, unit: string): string {
  if (!c) return "—";
  if (c.error) {
    return c.error === "n/a" ? "n/a" : c.error.startsWith("FAILED") ? c.error : `— (${c.error})`;
  }
  const v = c.value!;
  const num = unit === "GFLOP/s" ? v.toFixed(2) : v >= 100 ? v.toFixed(0) : v.toFixed(1);
  const mark = c.check?.ok ? "" : ` ✗ (${c.check?.detail})`;
  return `${num}${c.note ? ` (${c.note})` : ""}${mark}`;
}

/** Speedup of denax over `peer` (> 1: denax faster). */
function speedup(row: Row, d: Cell, p: Cell): number {
  return row.unit === "GFLOP/s" ? d.value! / p.value! : p.value! / d.value!;
}

const usable = (c: Cell | undefined): c is Cell => !!c && c.value !== undefined && !!c.check?.ok;

const lines: string[] = [];
const adapter = libs.find((l) => l.runner?.adapter)?.runner?.adapter ?? "?";
lines.push(`Peer comparison — ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`);
lines.push("");
lines.push(
  `Adapter: ${adapter}; Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); ` +
    `${navigator.hardwareConcurrency} CPU threads; load average ${loadAtStart} at start, ${loadavg()} at end.`,
);
lines.push(
  `Libraries: ${
    libs.map((l) =>
      `${l.label} on ${l.backend}${l.runner?.adapter ? ` (${l.runner.adapter})` : ""}`
    ).join("; ")
  }.`,
);
lines.push(
  "Units: ms per call / step (median), or GFLOP/s (2N³ / median time). Ratio = denax's speedup " +
    `over the faster of ${ratioLabels.join(", ")} (> 1: denax faster); ✗ = result off the ` +
    "float64 reference (then not used in the ratio).",
);
lines.push("");
const head = ["workload", denaxLabel, ...peerLabels, "ratio vs faster peer", "target", "met?"];
lines.push(`| ${head.join(" | ")} |`);
lines.push(`| ${head.map(() => "---").join(" | ")} |`);
for (const row of rows) {
  const d = row.cells[denaxLabel];
  const peers = ratioLabels.map((l) => row.cells[l]).filter(usable);
  let ratio = "—", met = "—";
  const target = row.targetText ?? (row.target ? `${row.target}×` : "—");
  if (usable(d) && peers.length) {
    const best = peers.map((p) => speedup(row, d, p)).reduce((a, b) => Math.min(a, b));
    ratio = `${best.toFixed(2)}×`;
    if (row.id.startsWith("W5")) {
      const j = peerLabels.find((l) => l.startsWith("jax-js"));
      const jc = j ? row.cells[j] : undefined;
      met = usable(jc) ? (d.value! <= jc.value! ? "yes" : "no") : "—";
    } else if (row.target) met = best >= row.target ? "yes" : "no";
  } else if (d && !usable(d)) met = row.target || row.targetText ? "no" : "—";
  const unit = row.unit === "ms" ? " (ms)" : " (GFLOP/s)";
  lines.push(
    `| ${row.workload}${unit} | ${fmtValue(d, row.unit)} | ${
      peerLabels.map((l) => fmtValue(row.cells[l], row.unit)).join(" | ")
    } | ${ratio} | ${target} | ${met} |`,
  );
}
const notes = libs.filter((l) => l.note || l.error).map((l) =>
  `- ${l.label}: ${l.note ?? l.error}`
);
if (notes.length) lines.push("", ...notes);
lines.push("", `Total run time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
console.log(lines.join("\n"));

if (args.json) {
  await Deno.writeTextFile(
    args.json,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        adapter,
        libs: libs.map(({ runner: _r, ...l }) => ({ ...l, adapter: _r?.adapter })),
        rows,
      },
      null,
      1,
    ),
  );
}
Deno.exit(0); // jax-js's wasm workers would keep the process alive
