/**
 * W5 of the peer comparison with denax alone: a fresh `deno run` process's time from importing
 * denax to the first jitted MLP training step's loss on the host (`bench/peers/cold.ts`), with
 * Mesa's on-disk shader cache disabled (every shader really compiles: a first run on a
 * machine) and enabled (warm from earlier runs: what a user sees the second time), and on cpu.
 *
 * The bench time includes starting Deno itself (~50–100 ms); `bench/peers/run.ts` reports the
 * in-process import-to-loss time and compares with jax-js and tfjs.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/coldstart_bench.ts`
 *
 * @module
 */
const script = new URL("./peers/cold.ts", import.meta.url).pathname;
const webgpu = !!(await navigator.gpu?.requestAdapter().catch(() => null));

async function coldStart(backend: string, shaderCache: boolean): Promise<void> {
  const env: Record<string, string> = { XDG_RUNTIME_DIR: "/tmp" };
  // no shader cache: no cache of compiled programs either (denax's on-disk one, DENAX_CACHE=0)
  if (!shaderCache) Object.assign(env, { MESA_SHADER_CACHE_DISABLE: "true", DENAX_CACHE: "0" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "denax", backend],
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
