/**
 * W5 cold start, run in a fresh process by `run.ts` (and `bench/coldstart_bench.ts`): the time
 * from importing a library to the first MLP training step's loss on the host, printed as one
 * JSON line `{ lib, backend, ms, importMs, loss }`.
 *
 * Usage: `deno run -A bench/peers/cold.ts denax|denax-bundle|jax-js|tfjs [backend]`
 * (`denax-bundle`: denax from `dist/mod.js`, built by `deno task bundle`, or `DENAX_BUNDLE`)
 *
 * The library is imported dynamically after the clock starts (static imports would run before
 * it). The parent sets `MESA_SHADER_CACHE_DISABLE=true`, so shaders really compile.
 *
 * @module
 */
const t0 = performance.now();
const lib = Deno.args[0] ?? "denax";
const backend = Deno.args[1] ?? "webgpu";
const modules: Record<string, string> = {
  "denax": "./denax.ts",
  "denax-bundle": "./denax_bundle.ts",
  "jax-js": "./jaxjs.ts",
  "tfjs": "./tfjs.ts",
};
if (!(lib in modules)) {
  console.error(`cold.ts: unknown library "${lib}" (expected ${Object.keys(modules)})`);
  Deno.exit(2);
}
try {
  const mod = await import(modules[lib]);
  const t1 = performance.now();
  const loss: number = await mod.firstStepLoss(backend);
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ lib, backend, ms, importMs: t1 - t0, loss }));
  Deno.exit(0); // jax-js's wasm workers would keep the process alive
} catch (e) {
  console.log(JSON.stringify({ lib, backend, error: String((e as Error)?.message ?? e) }));
  Deno.exit(1);
}
