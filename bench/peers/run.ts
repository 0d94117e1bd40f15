/**
 * The peer comparison: denax vs `@jax-js/jax` and `@tensorflow/tfjs` on the same five workloads
 * (see `workloads.ts`), with PyTorch on the CPU and jax-js's wasm backend as the CPU anchors a
 * user would pick instead, every result checked against a float64 host reference; prints a
 * markdown table with the ratios and targets.
 *
 * **Each library runs in its own fresh process**, `--runs` times (default 3), round-robin over
 * the libraries; a cell is the median of the runs' medians, with the spread (min–max of the
 * runs) beside it. Run in one process, the peers measured 2–5× slower than alone, which
 * overstated our lead. The protocol is the same for every library: each timed iteration ends
 * with its result on the host (`workloads.ts`); the calls per readback are part of each
 * workload's label.
 *
 * Usage:
 * ```sh
 * XDG_RUNTIME_DIR=/tmp deno run -A bench/peers/run.ts [options]
 *   --backend webgpu|cpu       denax's backend (default webgpu)
 *   --peers jax-js,tfjs,jax-js:wasm
 *                              which peers to run (default these three; "" for none;
 *                              "lib:backend" picks a backend, e.g. "tfjs:cpu")
 *   --torch auto|no            PyTorch CPU anchor via /usr/bin/python3 (default auto: when
 *                              torch imports; OPENBLAS_CORETYPE/L2_SIZE unset for every library)
 *   --runs N                   fresh processes per library (default 3)
 *   --lib SPEC                 internal: measure one library in this process, write --json
 *   --only W1,W2,W3,W4,W5      which workloads (default all)
 *   --jaxjs-device webgpu|wasm jax-js's device (default webgpu; wasm also on webgpu failure)
 *   --tfjs-backend webgpu|cpu  tfjs's backend (default webgpu; cpu also on webgpu failure)
 *   --cold-runs N              fresh processes per library for W5 (default 5; at most 3
 *                              without the shader cache, where one run takes up to ~20 s)
 *   --denax-entry source|bundle
 *                              what W5's denax imports: the sources (mod.ts, default) or the
 *                              bundle (dist/mod.js, built first by tools/bundle.ts)
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
  ELEMENTWISE_CALLS,
  type LibRunner,
  MATMUL_SIZES,
  matmulPickRows,
  median,
  type Prepared,
  type SampleOptions,
  samplingFor,
  TOLERANCE,
} from "./workloads.ts";
import { convReference, elementwiseReference, matmulReference, mlpReference } from "./reference.ts";
import { bundle } from "../../tools/bundle.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "webgpu" },
    peers: { type: "string", default: "jax-js,tfjs,jax-js:wasm" },
    torch: { type: "string", default: "auto" },
    runs: { type: "string", default: "3" },
    lib: { type: "string" },
    only: { type: "string", default: "W1,W2,W3,W4,W5" },
    "jaxjs-device": { type: "string", default: "webgpu" },
    "tfjs-backend": { type: "string", default: "webgpu" },
    "cold-runs": { type: "string", default: "5" },
    "denax-entry": { type: "string", default: "source" },
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
  adapter?: string;
  error?: string;
  note?: string;
}

async function makeDenax(backend: string): Promise<Lib> {
  const label = backend === "webgpu" ? "denax" : `denax (${backend})`;
  try {
    const { createRunner } = await import("./denax.ts");
    const runner = await createRunner(backend);
    return { label, key: "denax", backend: runner.backend, runner, adapter: runner.adapter };
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
    return { label, key, backend: runner.backend, runner, adapter: runner.adapter };
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
        adapter: runner.adapter,
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

/** What a child process reports: its library and its rows. */
interface ChildReport {
  lib: Omit<Lib, "runner">;
  rows: Row[];
}

const libs: Lib[] = [];
const childMode = args.lib !== undefined;
const inProcess = ["W1", "W2", "W3", "W4"].filter((w) => only.has(w));

if (childMode) {
  const spec = args.lib!;
  const [key, backend] = spec.split(":");
  libs.push(key === "denax" ? await makeDenax(backend ?? args.backend!) : await makePeer(spec));
  const l = libs[0];
  log(`${l.label}: ${l.error ? `unavailable: ${l.error}` : `${l.backend} ${l.adapter ?? ""}`}`);
  await measureInProcess();
  const { runner: _r, ...lib } = l;
  await Deno.writeTextFile(args.json!, JSON.stringify({ lib, rows } satisfies ChildReport));
  Deno.exit(0); // jax-js's wasm workers would keep the process alive
}

/**
 * The environment of every library's process: this one's, without `OPENBLAS_CORETYPE` and
 * `OPENBLAS_L2_SIZE`, which some machines set and which pin OpenBLAS to slower kernels (on this
 * project's AVX-512 machines: Haswell's AVX2 ones). PyTorch and denax's native backend both use
 * OpenBLAS, so both run without them: the same protocol for all.
 */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = { ...Deno.env.toObject(), ...extra };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** Runs `--lib spec` in a fresh process and returns its report. */
async function runChild(spec: string): Promise<ChildReport> {
  const json = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--lib",
        spec,
        "--backend",
        args.backend!,
        "--only",
        inProcess.join(","),
        "--json",
        json,
        ...(args.quick ? ["--quick"] : []),
      ],
      env: childEnv({ XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" }),
      clearEnv: true,
      stdout: "inherit",
      stderr: "inherit",
      signal: AbortSignal.timeout(1_800_000),
    }).output();
    const text = await Deno.readTextFile(json);
    if (!text) throw new Error(`exited with ${out.code} before reporting`);
    return JSON.parse(text);
  } finally {
    await Deno.remove(json).catch(() => {});
  }
}

/** PyTorch on the CPU in its own process (bench/peers/torch_cpu.py), as a report. */
async function runTorch(): Promise<ChildReport> {
  const dir = await Deno.makeTempDir();
  const lib = { label: "PyTorch (cpu)", key: "pytorch", backend: "cpu" };
  try {
    const env = childEnv();
    const out = await new Deno.Command(TORCH_PYTHON, {
      args: [
        torchScript,
        "--out",
        dir,
        "--only",
        inProcess.join(","),
        ...(args.quick ? ["--quick"] : []),
      ],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const res = JSON.parse(lines[lines.length - 1] || "{}");
    if (!out.success || !res.rows) throw new Error(`torch_cpu.py exited with ${out.code}`);
    const f32 = (name: string) => new Float32Array(Deno.readFileSync(`${dir}/${name}.f32`).buffer);
    const num = (name: string) => JSON.parse(Deno.readTextFileSync(`${dir}/${name}.json`));
    const cell = (id: string, result: () => Check, unitValue = (ms: number) => ms): Cell => {
      const r = res.rows[id];
      if (!r) return { error: "n/a" };
      return { value: unitValue(r.ms), samples: r.samples.map(unitValue), check: result() };
    };
    const out_rows: Row[] = [];
    const push = (id: string, c: Cell) =>
      out_rows.push({ id, workload: id, unit: "ms", cells: { [lib.label]: c } });
    for (const { n } of MATMUL_SIZES) {
      if (!res.rows[`W1-${n}`]) continue;
      const c = cell(
        `W1-${n}`,
        () =>
          compare(
            { c: matmulPickRows(f32(`W1-${n}`), n) },
            { c: matmulReference(n) },
            TOLERANCE.matmul,
          ),
        (ms) => (2 * n ** 3) / ms / 1e6,
      );
      out_rows.push({ id: `W1-${n}`, workload: "", unit: "GFLOP/s", cells: { [lib.label]: c } });
    }
    if (res.rows["W2-eager"]) {
      const c = cell(
        "W2-eager",
        () => compare({ y: f32("W2-eager") }, { y: elementwiseReference() }, TOLERANCE.elementwise),
      );
      push("W2-eager", c);
      push("W2-jit", { ...c, note: "eager, no jit" });
    }
    for (const steps of [1, 10]) {
      if (!res.rows[`W3-${steps}`]) continue;
      push(
        `W3-${steps}`,
        cell(`W3-${steps}`, () => {
          const got: Record<string, ArrayLike<number> | number> = { loss: num("W3-loss") };
          for (const k of ["w1", "b1", "w2", "b2", "w3", "b3"]) got[k] = f32(`W3-${k}`);
          return compare(got, mlpReference() as never, TOLERANCE.mlp);
        }),
      );
    }
    if (res.rows["W4"]) {
      push(
        "W4",
        cell("W4", () =>
          compare(
            { loss: num("W4-loss"), dx: f32("W4-dx"), dk1: f32("W4-dk1"), dk2: f32("W4-dk2") },
            convReference() as never,
            TOLERANCE.conv,
          )),
      );
    }
    log(`PyTorch ${res.version}, ${res.threads} intra-op threads`);
    return { lib: { ...lib, adapter: `torch ${res.version}` }, rows: out_rows };
  } catch (e) {
    return { lib: { ...lib, error: errText(e) }, rows: [] };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const TORCH_PYTHON = "/usr/bin/python3";
const torchScript = new URL("./torch_cpu.py", import.meta.url).pathname;
async function torchAvailable(): Promise<boolean> {
  if (args.torch === "no") return false;
  try {
    const o = await new Deno.Command(TORCH_PYTHON, { args: ["-c", "import torch"] }).output();
    return o.success;
  } catch {
    return false;
  }
}

/**
 * The parent: every library in fresh processes, `--runs` rounds; each round visits the
 * libraries in turn so that load from elsewhere hits them alike. A cell becomes the median of
 * the rounds' medians; its samples are those medians (the spread printed beside it).
 */
async function measureInChildren(): Promise<void> {
  const specs = [`denax:${args.backend}`, ...peerNames];
  const withTorch = await torchAvailable();
  const runs = Math.max(1, Number(args.runs));
  const merged = new Map<string, Row>();
  const perCell = new Map<string, { values: number[]; checks: Check[]; errors: string[] }>();
  const seen = new Map<string, Lib>();
  for (let round = 0; round < runs && inProcess.length; round++) {
    for (const spec of [...specs, ...(withTorch ? ["pytorch"] : [])]) {
      log(`round ${round + 1}/${runs}: ${spec} in a fresh process…`);
      let rep: ChildReport;
      try {
        rep = spec === "pytorch" ? await runTorch() : await runChild(spec);
      } catch (e) {
        rep = {
          lib: { label: spec, key: spec.split(":")[0], backend: "?", error: errText(e) },
          rows: [],
        };
      }
      if (!seen.has(rep.lib.label)) seen.set(rep.lib.label, rep.lib);
      for (const row of rep.rows) {
        const m = merged.get(row.id) ?? { ...row, cells: {} };
        if (!merged.has(row.id) || !m.workload) {
          merged.set(row.id, { ...m, ...(row.workload ? row : {}), cells: m.cells });
        }
        for (const [label, c] of Object.entries(row.cells)) {
          const k = `${row.id}\u0000${label}`;
          const agg = perCell.get(k) ?? { values: [], checks: [], errors: [] };
          if (c.value !== undefined) {
            agg.values.push(c.value);
            if (c.check) agg.checks.push(c.check);
          } else if (c.error) agg.errors.push(c.error);
          perCell.set(k, agg);
          const r = merged.get(row.id)!;
          r.cells[label] = { note: c.note };
        }
      }
    }
  }
  libs.push(...seen.values());
  if (!inProcess.length) {
    // W5 only: the labels the children would have given
    for (const spec of specs) {
      const [key, b] = spec.split(":");
      const backend = b ??
        (key === "jax-js"
          ? args["jaxjs-device"]!
          : key === "tfjs"
          ? args["tfjs-backend"]!
          : args.backend!);
      const label = key === "denax"
        ? (backend === "webgpu" ? "denax" : `denax (${backend})`)
        : backend === "webgpu"
        ? key
        : `${key} (${backend})`;
      libs.push({ label, key, backend });
    }
    if (withTorch) libs.push({ label: "PyTorch (cpu)", key: "pytorch", backend: "cpu" });
  }
  for (const r of merged.values()) {
    for (const label of Object.keys(r.cells)) {
      const agg = perCell.get(`${r.id}\u0000${label}`)!;
      const note = r.cells[label].note;
      if (!agg.values.length) {
        r.cells[label] = { error: agg.errors[0] ?? "not run" };
        continue;
      }
      const bad = agg.checks.find((c) => !c.ok);
      r.cells[label] = {
        value: median(agg.values),
        samples: agg.values,
        check: bad ?? agg.checks[0],
        note,
      };
    }
  }
  // rows in the order of the workloads (the first report's order)
  rows.push(...merged.values());
}

async function measureInProcess(): Promise<void> {
  if (only.has("W1")) {
    for (const { n, reps } of MATMUL_SIZES) {
      const ref = matmulReference(n);
      await runRow(
        {
          id: `W1-${n}`,
          workload: `W1 matmul ${n}×${n} f32, ${reps} per readback`,
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
          workload: `W2 elementwise 2²⁰, ${
            useJit ? "jit" : "eager"
          }, ${ELEMENTWISE_CALLS} calls per readback`,
          unit: "ms",
          ...(useJit ? { target: 2 } : {}),
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
}

/** The library `cold.ts` imports for `key`: denax's sources or its bundle (`--denax-entry`). */
function coldKey(key: string): string {
  return key === "denax" && args["denax-entry"] === "bundle" ? "denax-bundle" : key;
}

async function coldRow(id: string, workload: string, shaderCache: boolean, runs: number) {
  const ref = mlpReference().loss;
  const row: Row = { id, workload, unit: "ms", target: 2, cells: {} };
  const times: Record<string, number[]> = {}, errors: Record<string, string> = {};
  const losses: Record<string, number> = {};
  const coldPath = new URL("./cold.ts", import.meta.url).pathname;
  const env = childEnv({ XDG_RUNTIME_DIR: "/tmp" });
  // no shader cache: no cache of compiled programs either (denax's on-disk one, DENAX_CACHE=0)
  if (!shaderCache) Object.assign(env, { MESA_SHADER_CACHE_DISABLE: "true", DENAX_CACHE: "0" });
  // with the cache, one untimed run per library first fills it (Mesa's, and denax's programs)
  for (let i = shaderCache ? -1 : 0; i < runs; i++) {
    for (const lib of libs) {
      if (errors[lib.label]) continue;
      log(`${workload} ${i < 0 ? "warm-up" : `${i + 1}/${runs}`}: ${lib.label}…`);
      try {
        const torch = lib.key === "pytorch"; // the CPU anchor: its own interpreter and script
        const out = await new Deno.Command(torch ? TORCH_PYTHON : Deno.execPath(), {
          args: torch
            ? [torchScript, "--cold"]
            : ["run", "-A", coldPath, coldKey(lib.key), lib.backend],
          env,
          clearEnv: true,
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

await measureInChildren();

if (only.has("W5")) {
  const runs = Math.max(1, Number(args["cold-runs"]));
  if (!["source", "bundle"].includes(args["denax-entry"]!)) {
    throw new Error(`--denax-entry: "source" or "bundle", not "${args["denax-entry"]}"`);
  }
  if (args["denax-entry"] === "bundle") {
    log(`W5: denax from its bundle, ${await bundle()}`);
  }
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
  const f = (x: number) =>
    unit === "GFLOP/s" ? x.toFixed(2) : x >= 100 ? x.toFixed(0) : x.toFixed(1);
  const mark = c.check?.ok ? "" : ` ✗ (${c.check?.detail})`;
  // the spread over the runs (each sample is one fresh process's median)
  const s = c.samples ?? [];
  const spread = s.length > 1 ? ` [${f(Math.min(...s))}–${f(Math.max(...s))}]` : "";
  return `${f(v)}${spread}${c.note ? ` (${c.note})` : ""}${mark}`;
}

/** Speedup of denax over `peer` (> 1: denax faster). */
function speedup(row: Row, d: Cell, p: Cell): number {
  return row.unit === "GFLOP/s" ? d.value! / p.value! : p.value! / d.value!;
}

const usable = (c: Cell | undefined): c is Cell => !!c && c.value !== undefined && !!c.check?.ok;

const lines: string[] = [];
const adapter = libs.find((l) => l.key === "denax" && l.adapter)?.adapter ??
  libs.find((l) => l.adapter)?.adapter ?? "?";
lines.push(`Peer comparison — ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`);
lines.push("");
lines.push(
  `Adapter: ${adapter}; Deno ${Deno.version.deno} (V8 ${Deno.version.v8}); ` +
    `${navigator.hardwareConcurrency} CPU threads; load average ${loadAtStart} at start, ${loadavg()} at end.`,
);
lines.push(
  `Libraries: ${
    libs.map((l) => `${l.label} on ${l.backend}${l.adapter ? ` (${l.adapter})` : ""}`).join("; ")
  }.`,
);
lines.push(
  "Units: ms per call / step, or GFLOP/s (2N³ / time): the median over fresh processes of each " +
    "process's median, [min–max over the processes]. Ratio = denax's speedup " +
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
    if (row.target) met = best >= row.target ? "yes" : "no";
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
if (only.has("W5")) {
  notes.push(
    `- W5: denax imported from ${
      args["denax-entry"] === "bundle" ? "its bundle (dist/mod.js)" : "its sources (mod.ts)"
    }.`,
  );
}
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
        libs: libs.map(({ runner: _r, ...l }) => l),
        rows,
      },
      null,
      1,
    ),
  );
}
Deno.exit(0); // jax-js's wasm workers would keep the process alive
