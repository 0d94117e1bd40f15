/**
 * The native CPU backend on the peer workloads (`bench/peers/workloads.ts`): W1 matmul 1024²,
 * W2 the jitted elementwise chain over 2²⁰ values (per call), W3 the jitted MLP 784-256-256-10
 * SGD step at batch 128 (loss read back every step), W4 the two-conv forward + backward; with
 * the cpu reference backend as the baseline.
 *
 * As benchmarks: `deno bench -A bench/native_bench.ts`. As a table of medians (to print beside
 * `bench/torch_cpu.py`, run back to back): `deno run -A bench/native_bench.ts [--reps N]
 * [--backend native|cpu|webgpu] [--profile]`. `--profile` also prints, per workload, where the
 * compiled steps of the native jit spend their time (`native/jit.ts`); `DENAX_NATIVE_JIT=0`
 * measures the interpreted jit instead.
 *
 * @module
 */
import { createRunner } from "./peers/denax.ts";
import { currentBackend, setBackend } from "../core/backend.ts";
import { nativeJitProfile } from "../native/jit.ts";

type Prepared = { per: number; iter(): Promise<void> };

async function prepare(backend: string): Promise<Record<string, Prepared>> {
  const r = await createRunner(backend);
  const ew = await r.elementwise(true);
  if (!ew) throw new Error("denax's runner has no jitted elementwise workload");
  return {
    "matmul 1024": await r.matmul(1024, 1),
    "elementwise jit": ew,
    "mlp step": await r.mlp(1),
    "conv fwd+bwd": await r.conv(),
  };
}

if (import.meta.main) {
  const arg = (name: string, dflt: string) => {
    const i = Deno.args.indexOf(`--${name}`);
    return i >= 0 ? Deno.args[i + 1] : dflt;
  };
  const reps = Number(arg("reps", "20")), backend = arg("backend", "native");
  const profile = Deno.args.includes("--profile");
  const t0 = performance.now();
  const cases = await prepare(backend);
  const out: Record<string, number | string> = { backend };
  for (const [name, p] of Object.entries(cases)) {
    for (let i = 0; i < 2; i++) await p.iter();
    const ts: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      await p.iter();
      ts.push((performance.now() - t) / p.per);
    }
    ts.sort((a, b) => a - b);
    out[`${name} ms`] = +ts[ts.length >> 1].toFixed(2);
    if (profile) {
      nativeJitProfile.times.clear();
      nativeJitProfile.on = true;
      for (let i = 0; i < reps; i++) await p.iter();
      nativeJitProfile.on = false;
      const rows = [...nativeJitProfile.times].sort((a, b) => b[1][0] - a[1][0]);
      console.error(`${name}: time per iteration in the compiled steps`);
      for (const [label, [ms, n]] of rows.slice(0, 12)) {
        console.error(`  ${(ms / reps).toFixed(3)} ms  ×${n / reps}  ${label}`);
      }
    }
  }
  out["matmul 1024 GFLOP/s"] = +(2 * 1024 ** 3 / (out["matmul 1024 ms"] as number) / 1e6).toFixed(
    1,
  );
  out["total s"] = +((performance.now() - t0) / 1000).toFixed(1);
  console.log(JSON.stringify(out));
} else {
  for (const backend of ["native", "cpu"]) {
    const cases = await prepare(backend);
    // each bench runs on the backend its data were made on (init() switches the current one)
    const b = currentBackend();
    for (const [name, p] of Object.entries(cases)) {
      Deno.bench({
        name: `${name} (${backend})`,
        group: name,
        baseline: backend === "cpu",
        n: backend === "cpu" ? 3 : undefined,
        async fn() {
          setBackend(b);
          await p.iter();
        },
      });
    }
  }
}
