/**
 * Where a d2l Fashion-MNIST training epoch spends its time on the native backend: trains
 * `examples/d2l/<model>.ts`'s network for 2 short epochs (`--limit` images, d2l's batch size)
 * and, in the second, sums the time of every compiled step of the native jit by label
 * (`nativeJitProfile`, `native/jit.ts`); what the steps do not cover (batching, dispatch,
 * host copies, the loss read-back) is printed as "outside the compiled steps".
 *
 * Run: `deno run -A bench/d2l_profile.ts [--model lenet|resnet|lenet_bn|…] [--limit 2560]
 * [--test-limit 500] [--top 25] [--cpu]`. The last line gives the time per 1024 training
 * images and per 60000-image epoch (of the compiled steps and of the whole epoch; with a small
 * `--test-limit` the test pass inside the epoch costs next to nothing). With `--cpu` the steps are timed by the process's CPU time (all threads:
 * set `OPENBLAS_NUM_THREADS=1` to count the work once), which load from other processes does
 * not inflate as it does wall time. With `--faults` the figures are minor page faults instead
 * of milliseconds (first touches of freshly mapped memory).
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { init } from "../mod.ts";
import { nativeJitProfile } from "../native/jit.ts";
import { type D2lSpec, trainD2l } from "../examples/d2l/_common.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "lenet" },
    limit: { type: "string", default: "2560" },
    "test-limit": { type: "string", default: "500" },
    top: { type: "string", default: "25" },
    grep: { type: "string" },
    cpu: { type: "boolean", default: false },
    faults: { type: "boolean", default: false },
  },
});
const { spec } = await import(`../examples/d2l/${v.model}.ts`) as { spec: D2lSpec };
await init({ backend: "native" });
if (v.faults) {
  // "ms" below are then minor page faults (first touches of fresh memory)
  nativeJitProfile.clock = () => process.resourceUsage().minorPageFault;
} else if (v.cpu) {
  nativeJitProfile.clock = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
}
let epochStart = 0, epochMs = 0;
const r = await trainD2l(spec, {
  epochs: 2,
  limit: Number(v.limit),
  testLimit: Number(v["test-limit"]),
  progress: false,
  out: "/tmp/denax-d2l-profile",
  onEpoch: (p) => {
    if (p.epochs === 1) {
      nativeJitProfile.times.clear();
      nativeJitProfile.on = true;
      epochStart = nativeJitProfile.clock();
    } else if (p.epochs === 2) {
      nativeJitProfile.on = false;
      epochMs = nativeJitProfile.clock() - epochStart;
    }
  },
});
const steps = Math.floor(r.limit / r.batchSize);
const rows = [...nativeJitProfile.times].sort((a, b) => b[1][0] - a[1][0]);
const inSteps = rows.reduce((s, [, [ms]]) => s + ms, 0);
console.log(
  `${spec.title}: epoch 2 ${r.secondsPerEpoch.toFixed(2)} s for ${steps} steps ` +
    `(${(r.secondsPerEpoch * 1000 / steps).toFixed(1)} ms/step); ${
      v.cpu ? "CPU time: " : ""
    }compiled steps ` +
    `${(inSteps / steps).toFixed(1)} ms/step; epoch incl. test ${
      (epochMs / steps).toFixed(1)
    } ms/step`,
);
const byKind = new Map<string, number>();
for (const [label, [ms]] of rows) {
  const k = label.split(/[ (:]/)[0];
  byKind.set(k, (byKind.get(k) ?? 0) + ms);
}
console.log(
  "by kind: " + [...byKind].sort((a, b) => b[1] - a[1])
    .map(([k, ms]) => `${k} ${(ms / steps).toFixed(1)}`).join(", ") +
    " (ms/step)",
);
for (
  const [label, [ms, n]] of rows.filter(([l]) => !v.grep || l.includes(v.grep)).slice(
    0,
    Number(v.top),
  )
) {
  console.log(
    `  ${(ms / steps).toFixed(3)} ms  ×${(n / steps).toFixed(1)}  ${label.slice(0, 150)}`,
  );
}
const per1024 = (ms: number) => (ms / 1000) * 1024 / (steps * r.batchSize);
console.log(
  `per 1024 training images${v.cpu ? " (CPU)" : ""}: compiled steps ${
    per1024(inSteps).toFixed(2)
  } s, epoch ${per1024(epochMs).toFixed(2)} s; a 60000-image epoch: ${
    (per1024(epochMs) * 60000 / 1024).toFixed(0)
  } s`,
);
