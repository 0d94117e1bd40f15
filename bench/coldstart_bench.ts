/**
 * W5 of the peer comparison with denax alone: a fresh `deno run` process's time from importing
 * denax to the first jitted MLP training step's loss on the host (`bench/peers/cold.ts`), with
 * Mesa's on-disk shader cache disabled (every shader really compiles: a first run on a
 * machine) and enabled (warm from earlier runs: what a user sees the second time), and on cpu.
 *
 * The bench time includes starting Deno itself (~50–100 ms); `bench/peers/run.ts` reports the
 * in-process import-to-loss time and compares with jax-js and tfjs. The same with denax imported
 * from its bundle (`tools/bundle.ts`, built into a temporary folder first), and the `import`
 * group: a process that imports denax and exits, from the sources or from the bundle.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/coldstart_bench.ts`
 *
 * @module
 */
import { bundle } from "../tools/bundle.ts";

const script = new URL("./peers/cold.ts", import.meta.url).pathname;
const webgpu = !!(await navigator.gpu?.requestAdapter().catch(() => null));
const bundleDir = await Deno.makeTempDir({ prefix: "denax_bench_bundle_" });
const bundled = await bundle({ outdir: `${bundleDir}/dist` });
globalThis.addEventListener("unload", () => Deno.removeSync(bundleDir, { recursive: true }));

async function coldStart(backend: string, shaderCache: boolean, lib = "denax"): Promise<void> {
  const env: Record<string, string> = { XDG_RUNTIME_DIR: "/tmp", DENAX_BUNDLE: bundled };
  // no shader cache: no cache of compiled programs either (denax's on-disk one, DENAX_CACHE=0)
  if (!shaderCache) Object.assign(env, { MESA_SHADER_CACHE_DISABLE: "true", DENAX_CACHE: "0" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, lib, backend],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`cold start failed: ${new TextDecoder().decode(out.stdout)}
${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.bench({
  name: "cold start to first MLP loss, webgpu, no shader cache",
  group: "coldstart",
  baseline: true,
  ignore: !webgpu,
  n: 3,
  warmup: 0,
  async fn() {
    await coldStart("webgpu", false);
  },
});

Deno.bench({
  name: "cold start to first MLP loss, webgpu, warm shader cache",
  group: "coldstart",
  ignore: !webgpu,
  n: 5,
  warmup: 1,
  async fn() {
    await coldStart("webgpu", true);
  },
});

Deno.bench({
  name: "cold start to first MLP loss, cpu",
  group: "coldstart",
  n: 5,
  warmup: 1,
  async fn() {
    await coldStart("cpu", true);
  },
});

Deno.bench({
  name: "cold start to first MLP loss, webgpu, warm shader cache, denax from its bundle",
  group: "coldstart",
  ignore: !webgpu,
  n: 5,
  warmup: 1,
  async fn() {
    await coldStart("webgpu", true, "denax-bundle");
  },
});

async function importOnly(entry: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "await import(Deno.env.get('ENTRY')!)"],
    env: { ENTRY: entry },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.bench({
  name: "a process that imports denax from its sources (mod.ts)",
  group: "import",
  baseline: true,
  n: 10,
  warmup: 2,
  async fn() {
    await importOnly(new URL("../mod.ts", import.meta.url).href);
  },
});

Deno.bench({
  name: "a process that imports denax from its bundle (dist/mod.js)",
  group: "import",
  n: 10,
  warmup: 2,
  async fn() {
    await importOnly(`file://${bundled}`);
  },
});
