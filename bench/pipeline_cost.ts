/**
 * What each pipeline of a program costs to compile on the adapter: reads the WGSL sources a
 * `DENAX_DEBUG=3` run printed (stderr), and for each, in this one process with Mesa's shader
 * cache disabled, creates the pipeline and dispatches one workgroup on dummy resources (llvmpipe
 * compiles at the first dispatch), printing one JSON line per source: the op, its length, the
 * wall time and the process CPU time (all threads; less sensitive to other load) of creating
 * and first dispatching it. Then a summary by op.
 *
 * Run:
 * `XDG_RUNTIME_DIR=/tmp MESA_SHADER_CACHE_DISABLE=true DENAX_BACKEND=webgpu DENAX_DEBUG=3 deno
 * run -A bench/compile_bench.ts resnet18 2> /tmp/r18.log`, then
 * `XDG_RUNTIME_DIR=/tmp MESA_SHADER_CACHE_DISABLE=true deno run -A bench/pipeline_cost.ts
 * /tmp/r18.log`.
 *
 * @module
 */
import process from "node:process";
import { dispatchOverStandIns, type StandIn } from "../gpu/standin.ts";

/** The sources of a `DENAX_DEBUG=3` log, with the op each was compiled for. */
export function sourcesOf(log: string): { op: string; wgsl: string }[] {
  const out: { op: string; wgsl: string }[] = [];
  let cur: { op: string; lines: string[] } | null = null;
  const end = () => {
    if (cur?.lines.length) out.push({ op: cur.op, wgsl: cur.lines.join("\n") });
    cur = null;
  };
  for (const line of log.split("\n")) {
    const head = /\[denax:gpu\] compile (?:\(async\) )?(.*) \(\d+ lines\)/.exec(line);
    if (head) {
      end();
      cur = { op: head[1], lines: [] };
      continue;
    }
    const numbered = /^\s*\d+ \| ?(.*)$/.exec(line);
    if (numbered && cur) cur.lines.push(numbered[1]);
    else end();
  }
  end();
  return out;
}

/** Stand-ins for the bindings a source declares (sized from the declarations). */
function standIns(code: string): (StandIn | null)[] {
  const out: (StandIn | null)[] = [];
  for (const m of code.matchAll(/@group\(0\) @binding\((\d+)\) var(<[^>]*>)? (\w+): ([^;]*);/g)) {
    const [, b, kind = "", name, ty] = m;
    // "auto" layouts drop the bindings the entry point does not use
    if (code.split(new RegExp(`\\b${name}\\b`)).length <= 2) continue;
    let s: StandIn;
    if (kind.startsWith("<uniform")) {
      s = { kind: "uniform", bytes: 16 * Number(/, (\d+)>/.exec(ty)?.[1] ?? 1) };
    } else if (kind.startsWith("<storage")) s = { kind: "storage", bytes: 1 << 16 };
    else {
      const format = ty.startsWith("texture_storage") || ty.includes("f32")
        ? "rgba32float"
        : ty.includes("u32")
        ? "rgba32uint"
        : "rgba32sint";
      s = { kind: "texture", format, size: [1, 1, 1] };
    }
    out[Number(b)] = s;
  }
  return Array.from(out, (s) => s ?? null);
}

async function costOf(device: GPUDevice, code: string): Promise<{ ms: number; cpuMs: number }> {
  const u0 = process.cpuUsage(), t0 = performance.now();
  const accepted = dispatchOverStandIns(device, { wgsl: code, bindings: standIns(code) });
  await device.queue.onSubmittedWorkDone();
  const u = process.cpuUsage(u0), ms = performance.now() - t0;
  // a bind group the layout refuses (a local variable named like an unused binding) skips the
  // dispatch, and with it the compile: a cost of a few ms that is not one
  if (!(await accepted)) throw new Error("pipeline_cost: the dispatch failed validation");
  return { ms, cpuMs: (u.user + u.system) / 1000 };
}

if (import.meta.main) {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("pipeline_cost: no WebGPU adapter");
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
    },
  });
  const byOp = new Map<string, { n: number; cpuMs: number }>();
  let total = 0;
  for (const { op, wgsl } of sourcesOf(await Deno.readTextFile(Deno.args[0]))) {
    const { ms, cpuMs } = await costOf(device, wgsl);
    total += cpuMs;
    const key = op.startsWith("fused") ? "fused" : op;
    const s = byOp.get(key) ?? { n: 0, cpuMs: 0 };
    byOp.set(key, { n: s.n + 1, cpuMs: s.cpuMs + cpuMs });
    console.log(
      JSON.stringify({ op, chars: wgsl.length, ms: +ms.toFixed(1), cpuMs: +cpuMs.toFixed(1) }),
    );
  }
  for (const [op, s] of [...byOp].sort((a, b) => b[1].cpuMs - a[1].cpuMs)) {
    console.log(`${op}: ${s.n} pipelines, ${s.cpuMs.toFixed(0)} ms CPU`);
  }
  console.log(`total: ${total.toFixed(0)} ms CPU`);
}
