/**
 * Where W5's cold start goes: fresh processes that run the same first MLP step as
 * `bench/peers/cold.ts` (denax on webgpu) with the WebGPU calls timed, and the medians over the
 * processes of each phase:
 *
 * - `import`: importing denax (and the bench's peer module), as cold.ts times it (with the
 *   module graph's building: the files read and their imports resolved);
 * - `webgpuLoad`: Deno loading its WebGPU JavaScript at the first touch of `navigator.gpu` (done
 *   here before the clock's phases, to install the timers; in cold.ts it counts in `init`);
 * - `init`: `init({ backend: "webgpu" })`, of which `adapter` (`requestAdapter`) and `device`
 *   (`requestDevice`);
 * - `data`: the bench's host data (`mlpData`) and its upload;
 * - `toFirstPipeline`: from the jitted call to its first shader module (tracing, the program
 *   cache's lookup, the program's buffers);
 * - `modules` and `pipelines`: `createShaderModule` and `createComputePipeline` (WGSL parsing,
 *   validation and translation; llvmpipe compiles or loads from Mesa's cache at first dispatch);
 * - `submits`: `queue.submit` (it waits when the queue is still busy with the last one);
 * - `call`: the whole jitted call, and `read`: from its return to the loss on the host.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno run -A bench/coldstart_breakdown.ts [--runs N] [--no-cache]
 * [--lib jax-js|denax-bundle]` (`--no-cache`: Mesa's shader cache and denax's program cache off,
 * as W5's first row; `--lib jax-js`: the peer's first step, with only its import and WebGPU calls
 * split out; `--lib denax-bundle`: denax imported from `dist/mod.js`, `deno task bundle`).
 * Time it under `chrt -r 10` on a shared machine.
 *
 * @module
 */
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    child: { type: "boolean", default: false },
    runs: { type: "string", default: "5" },
    "no-cache": { type: "boolean", default: false },
    lib: { type: "string", default: "denax" },
  },
});

/** Milliseconds and calls per timed WebGPU method. */
type Timings = Record<string, { ms: number; calls: number; first?: number }>;

/**
 * Wraps `proto[name]` to add the time of its calls to `acc`: until the call returns, also for
 * the promise-returning ones (Deno's WebGPU does their work inside the call, on this thread:
 * `requestAdapter` ~35 ms to return, then nothing to wait; `createComputePipelineAsync` as long
 * as `createComputePipeline`), so that overlapping promises are not counted twice.
 */
function timeMethod(proto: object, name: string, acc: Timings): void {
  const p = proto as Record<string, (...a: unknown[]) => unknown>;
  const orig = p[name];
  p[name] = function (this: unknown, ...a: unknown[]) {
    const t = performance.now();
    const add = () => {
      const e = acc[name] ??= { ms: 0, calls: 0, first: t };
      e.ms += performance.now() - t;
      e.calls++;
    };
    const r = orig.apply(this, a);
    add();
    return r;
  };
}

async function child(): Promise<void> {
  const t0 = performance.now();
  const acc: Timings = {};
  // touching navigator.gpu loads Deno's WebGPU code, which the timers need
  const gpuProto = Object.getPrototypeOf(navigator.gpu);
  const tLoad = performance.now();
  timeMethod(gpuProto, "requestAdapter", acc);
  timeMethod(GPUAdapter.prototype, "requestDevice", acc);
  for (const m of ["createShaderModule", "createComputePipeline", "createComputePipelineAsync"]) {
    timeMethod(GPUDevice.prototype, m, acc);
  }
  timeMethod(GPUQueue.prototype, "submit", acc);
  // a specifier Deno cannot analyse, as cold.ts's: the module graph is built inside the
  // timed import (a literal one would be fetched before the script starts: ~10 ms less)
  const dir = new URL(".", import.meta.url).href;
  const ms = (k: string) => acc[k]?.ms ?? 0;
  const gpuCalls = () => ({
    adapter: ms("requestAdapter"),
    device: ms("requestDevice"),
    modules: ms("createShaderModule"),
    pipelines: ms("createComputePipeline") + ms("createComputePipelineAsync"),
    pipelineCount: (acc.createComputePipeline?.calls ?? 0) +
      (acc.createComputePipelineAsync?.calls ?? 0),
    submits: ms("submit"),
  });
  if (args.lib === "jax-js") {
    // the peer's own first step (cold.ts's): only its WebGPU calls are split out
    const t1 = performance.now();
    const jaxjs = await import(`${dir}peers/jaxjs.ts`);
    const t2 = performance.now();
    const value = await jaxjs.firstStepLoss("webgpu");
    const t3 = performance.now();
    console.log(JSON.stringify({
      total: t3 - t1,
      webgpuLoad: tLoad - t0,
      import: t2 - t1,
      step: t3 - t2,
      ...gpuCalls(),
      loss: value,
    }));
    Deno.exit(0); // its wasm workers would keep the process alive
  }
  const t1 = performance.now();
  const entry = args.lib === "denax-bundle" ? `${dir}../dist/mod.js` : `${dir}../mod.ts`;
  const mod: typeof import("../mod.ts") = await import(entry).catch((e) => {
    throw new Error(`${entry} did not load (for the bundle: deno task bundle): ${e}`);
  });
  const peer: typeof import("./peers/denax_mlp.ts") = await import(`${dir}peers/denax_mlp.ts`);
  const t2 = performance.now();
  await mod.init({ backend: "webgpu" });
  const t3 = performance.now();
  const mlp = peer.mlpFns(mod);
  const { params, x, y } = mlp.inputs();
  const t4 = performance.now();
  const [, loss] = mod.jit(mlp.step, { donateArgnums: [0] })(params, x, y);
  const t5 = performance.now();
  const value = (await loss.data())[0];
  const t6 = performance.now();
  console.log(JSON.stringify({
    total: t6 - t1,
    webgpuLoad: tLoad - t0,
    import: t2 - t1,
    init: t3 - t2,
    data: t4 - t3,
    toFirstPipeline: (acc.createShaderModule?.first ?? t5) - t4,
    ...gpuCalls(),
    call: t5 - t4,
    read: t6 - t5,
    loss: value,
  }));
  Deno.exit(0);
}

async function parent(): Promise<void> {
  const runs = Math.max(1, Number(args.runs));
  const env: Record<string, string> = {
    XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp",
  };
  if (args["no-cache"]) Object.assign(env, { MESA_SHADER_CACHE_DISABLE: "true", DENAX_CACHE: "0" });
  const script = new URL(import.meta.url).pathname;
  const rows: Record<string, number>[] = [];
  // with the caches, one untimed run fills them first
  for (let i = args["no-cache"] ? 0 : -1; i < runs; i++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, "--child", "--lib", args.lib!],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      throw new Error(`child failed: ${text}\n${new TextDecoder().decode(out.stderr)}`);
    }
    if (i >= 0) rows.push(JSON.parse(text.split("\n").pop()!));
  }
  const median = (k: string) => {
    const v = rows.map((r) => r[k]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  console.log(
    `W5 breakdown, ${args.lib} on webgpu, ${
      args["no-cache"] ? "no shader cache" : "warm caches"
    }, ` +
      `median of ${runs} processes (ms); ${new Date().toISOString()}, load ${load}`,
  );
  for (const k of Object.keys(rows[0])) {
    const v = median(k);
    console.log(`  ${k.padEnd(16)} ${k === "loss" ? v : v.toFixed(k === "pipelineCount" ? 0 : 1)}`);
  }
}

if (args.child) await child();
else await parent();
