/**
 * Convolution throughput as a fraction of matmul's at equal FLOPs, per direction, measured in
 * one process with the two taking turns (round r times the convolution, then the matmul), so
 * that a loaded machine slows both alike: the figure of issue #13 §2 (≥ 0.6). The layers and
 * the three convolutions (forward, input gradient, kernel gradient, read from the jaxpr of the
 * VJP) are those of `conv_gemm_bench.ts`; this prints, per direction, the median over rounds of
 * matmul time / convolution time, and both medians in milliseconds.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno run -A bench/conv_ratio.ts [--rounds 7] [--only W4]
 * [--dir forward|"input grad"|"kernel grad"]`
 *
 * Measured on llvmpipe (2 cores, load 9–10 from other jobs), `--only W4 --rounds 7`, the tree
 * before keeping llvmpipe's vectors full (b267767) and after, back to back, two rounds each;
 * the process-CPU-time ratio (the wall ratio swings more under load; conv1's convolutions are
 * ~5 ms, where the fixed cost of a dispatch and a sync counts):
 *
 * | layer    | forward                 | input grad              | kernel grad             |
 * | -------- | ----------------------- | ----------------------- | ----------------------- |
 * | W4 conv1 | 0.20, 0.17 → 0.46, 0.35 | 0.22, 0.24 → 0.45, 0.48 | 0.24, 0.24 → 0.33, 0.30 |
 * | W4 conv2 | 0.40, 0.39 → 0.58, 0.79 | 0.24, 0.22 → 0.66, 0.71 | 0.43, 0.42 → 0.67, 0.73 |
 *
 * @module
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { createWebGpuBackend, webgpuAvailable } from "../gpu/backend.ts";
import { init } from "../mod.ts";
import { directions, layerFlops, LAYERS } from "./_conv_layers.ts";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "7" },
    only: { type: "string", default: "" },
    dir: { type: "string", default: "" },
  },
});
await init({ backend: "cpu" });
if (!(await webgpuAvailable())) throw new Error("conv_ratio: no WebGPU adapter");
const gpu = await createWebGpuBackend();

// deno-lint-ignore no-explicit-any
async function timeIt(reps: number, run: () => any, aval: any): Promise<[number, number]> {
  const c0 = cpuUsage(), t0 = performance.now();
  const outs = [];
  for (let r = 0; r < reps; r++) outs.push(run());
  await gpu.sync!();
  const ms = (performance.now() - t0) / reps, c1 = cpuUsage(c0);
  for (const o of outs) gpu.release!(o, aval);
  return [ms, (c1.user + c1.system) / 1000 / reps];
}

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const rounds = Number(args.rounds);
const load = () => Deno.loadavg()[0].toFixed(1);
console.log(`load ${load()} at start, ${rounds} rounds`);
for (const l of LAYERS) {
  if (args.only && !l.name.startsWith(args.only)) continue;
  const n = Math.round(Math.cbrt(layerFlops(l) / 2));
  const mA = { shape: [n, n], dtype: "f32" as const };
  const ma = gpu.upload(new Float32Array(n * n), mA), mb = gpu.upload(new Float32Array(n * n), mA);
  const mp = { contracting: [[1], [0]], batch: [[], []] };
  const mm = () => gpu.execute("dot_general", [ma, mb], [mA, mA], mp, [mA])[0];
  for (const d of directions(l)) {
    if (args.dir && d.dir !== args.dir) continue;
    const a = gpu.upload(new Float32Array(d.ins[0].size), d.ins[0]);
    const b = gpu.upload(new Float32Array(d.ins[1].size), d.ins[1]);
    const cv = () => gpu.execute("conv_general_dilated", [a, b], d.ins, d.params, [d.out])[0];
    // warm up (compiles, and the autotuner's choices)
    await timeIt(1, cv, d.out);
    await timeIt(1, mm, mA);
    await gpu.autotuner?.settled();
    await timeIt(1, cv, d.out);
    await timeIt(1, mm, mA);
    const tc: number[] = [], tm: number[] = [], ratio: number[] = [], cratio: number[] = [];
    const cc: number[] = [], cm: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const [c, cu] = await timeIt(l.reps, cv, d.out);
      const [m, mu] = await timeIt(l.reps, mm, mA);
      tc.push(c), tm.push(m), ratio.push(m / c), cc.push(cu), cm.push(mu), cratio.push(mu / cu);
    }
    const f = (v: number) => v.toFixed(2);
    console.log(
      `${l.name.padEnd(22)} ${d.dir.padEnd(11)} wall ratio ${f(median(ratio))} ` +
        `[${f(Math.min(...ratio))}–${f(Math.max(...ratio))}] conv ${f(median(tc))} ms ` +
        `mm ${n}² ${f(median(tm))} ms | cpu ratio ${f(median(cratio))} ` +
        `[${f(Math.min(...cratio))}–${f(Math.max(...cratio))}] conv ${f(median(cc))} ms ` +
        `mm ${f(median(cm))} ms (load ${load()})`,
    );
  }
}
