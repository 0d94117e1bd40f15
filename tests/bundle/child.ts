/**
 * Run by `tests/bundle_test.ts` in a process of its own: imports the bundle in `Deno.args[0]`
 * (`mod.js` and the test's probe), runs the workloads on cpu, native (two threads: the pool's
 * worker module) and webgpu (with the compile helper's worker module, and the program cache in
 * the folder the parent gave), and prints what it got as one JSON line.
 *
 * @module
 */
import { bigElementwise, convStep, type DenaxLib } from "./workloads.ts";

const dir = Deno.args[0];
const dx: DenaxLib = await import(`${dir}/mod.js`);
const probe = await import(`${dir}/tests/bundle/probe.js`);
const out: Record<string, unknown> = {
  fingerprint: probe.sourceFingerprint(),
  cores: navigator.hardwareConcurrency,
};

await dx.init({ backend: "cpu" });
out.cpu = await convStep(dx);

await dx.init({ backend: "native" });
// until a worker has taken a chunk (the first calls may find the workers booting)
const t0 = performance.now();
do {
  out.native = await bigElementwise(dx);
  await new Promise((r) => setTimeout(r, 20));
} while (probe.poolStats.workerChunks === 0 && performance.now() - t0 < 20_000);
out.pool = { ...probe.poolStats };

if (await navigator.gpu?.requestAdapter()) {
  await dx.init({ backend: "webgpu" });
  probe.setPrecompile(true);
  out.webgpu = await convStep(dx);
  await probe.precompileIdle();
  // every kernel of that program to the worker, as if the main thread had compiled none
  probe.forgetKernels();
  const ctx = probe.currentBackend().runtime.ctx;
  const sent = probe.precompileProgram(ctx, probe.lastCompiled().program, () => false, 1);
  await probe.precompileIdle();
  out.precompile = { sent, ...probe.precompileStats };
  out.programCache = { ...probe.programCacheStats };
}
console.log(JSON.stringify(out));
Deno.exit(0);
