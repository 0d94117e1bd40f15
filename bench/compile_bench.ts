/**
 * Compile cost of a CNN's first jitted training step on webgpu: a fresh `deno run` process per
 * network builds the model, traces and compiles `makeTrainStep` (SGD) and runs it once: with
 * Mesa's on-disk shader cache disabled (every shader compiles, one after another), with an
 * empty private Mesa cache (the "cold" case: every shader compiles and is written to
 * the cache), and again in a process
 * started after one that filled a private Mesa cache ("warm": a second process). The child
 * prints one JSON line: the kernels of the program, the pipelines the step created
 * (`pipelineMisses` of the runtime) and those the eager parameter initialization created
 * (`initPipelines`), `compileStats`, the time to the first loss, and that of a second step
 * (running only: the difference is tracing, compiling and pipeline creation; the median of
 * `DENAX_COMPILE_STEPS` steps, default 1), and the CPU
 * time the process spent on the first step, all threads (`firstStepCpuMs`: Mesa compiles on
 * its queue thread; a figure that depends less than the wall time on other load).
 *
 * Where the time goes (llvmpipe): creating a pipeline costs ~1 ms in Deno (WGSL parsing and
 * translation), and Mesa compiles its machine code at its first dispatch, on its queue thread,
 * one pipeline after another; where Mesa's cache is on, a worker with a device of its own
 * compiles the program's kernels from the last one back into that cache meanwhile
 * (`gpu/precompile.ts`; the `precompile` field counts what it did), so the empty-cache runs use
 * two cores and the no-cache runs one. `bench/pipeline_cost.ts` times each source of a program alone
 * (process CPU time): ~14 ms for a trivial kernel, ~25-40 ms for most elementwise and
 * reduction kernels, 35-85 ms for the texture multiplies of convolutions since their tiles are
 * stored in loops (80-250 ms before; the sliding multiplies loop over the columns of large kernel
 * rows: ResNet-18's 7 × 7 stem took 450-700 ms each way unrolled, ~150 ms looped, ~84 ms with
 * looped stores; GoogLeNet's 24 × 24 layers 2.7 s at 192 accumulators per invocation, 0.7 s at
 * 96). Kernels that differ only in literals share one pipeline (`gpu/jit/share.ts`). ResNet-18's 245 sources
 * (init and step, batch 8) took ~10 s CPU, half of it in convolutions. A shape-generic form of a kernel compiles 1.5-2.5×
 * slower than a specialised one (its index arithmetic does not fold; each size occurrence is
 * its own uniform word), so generic kernels pay where several layers share one: kernels are
 * shape-generic (sizes in a uniform, `genericKernel` in `gpu/kernels/common.ts`) except the
 * convolution and GEMM kernels and large kernels that divide by sizes (window kernels are, since
 * their windows are walked in helper functions that keep their literals) — though small
 * packings of the texture convolution share two hand-written generic kernels
 * (`gpu/kernels/conv_pack.ts`), and a strided input gradient with short rows runs all its
 * phases as one multiply (`gpu/kernels/conv_phase_texture.ts`): with both, ResNet-18's step
 * creates 160 pipelines instead of 252; `DENAX_GENERIC_KERNELS=0` gives the shape-specialised
 * kernels for comparison.
 *
 * Where the step's program started on tier one (`gpu/jit/tier.ts`: on llvmpipe with Mesa's cache
 * on, every convolution in the small form first), `tierTwo` gives the steps after the later ones
 * until the one that ran on tier two (`calls`; tier two starts after `DENAX_TIER_TWO_CALLS` calls,
 * default 20, and compiles on the compile helper's worker beside the steps) and their time
 * (`readyMs`), the median of as many tier-two steps as later steps (`stepMs`, the figure to compare
 * with an untiered run's later steps) and the pipelines tier two added; `DENAX_TIERED=0` for the
 * untiered program.
 *
 * The parameters are initialized under `jit` (`jit((k) => net.init(k))`, as the README advises on
 * webgpu: eager, ResNet-18's initialization is 1560 dispatches, each intermediate a fresh buffer,
 * and took 1.5-6 s on llvmpipe against 0.35-1.2 s jitted; `DENAX_COMPILE_INIT=eager` gives the eager
 * form, and `initPipelines` counts the pipelines either creates), and the clock of the first
 * step starts once the device has finished that work: the step's figures cover the step alone
 * (before, they included the tail of the eager initialization still queued). `stepSubmitMs` is
 * the time the step's submits blocked (lavapipe's `queue.submit` waits for the previous command
 * buffer to finish).
 *
 * The bench time includes starting Deno and importing denax (~0.5 s). Inputs are d2l's
 * Fashion-MNIST shapes: 1×28×28 for ResNet-18 and LeNet, 1×32×32 for VGG-11 (hidden width 256),
 * 1×96×96 for GoogLeNet, DenseNet and NiN (d2l resizes; they need the room), batch
 * `DENAX_COMPILE_BATCH` (default 8, as llvmpipe would spend minutes running a 128-example step
 * of the full-width networks; the batch may change GEMM tile choices, so set 128 to check).
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/compile_bench.ts`, or for one network
 * `XDG_RUNTIME_DIR=/tmp MESA_SHADER_CACHE_DIR=$(mktemp -d) DENAX_CACHE_DIR=$(mktemp -d)
 * DENAX_BACKEND=webgpu deno run -A bench/compile_bench.ts resnet18` (empty caches; or
 * `MESA_SHADER_CACHE_DISABLE=true DENAX_CACHE=0` for no caches).
 *
 * @module
 */
import process from "node:process";
import { compileStats, init, jit, np, optim, random, type Tensor } from "../mod.ts";
import { currentBackend } from "../core/backend.ts";
import type { WebGpuBackend } from "../gpu/backend.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";
import { countKernels } from "../gpu/jit/program.ts";
import { precompileStats } from "../gpu/precompile.ts";
import { tierStats, tierTwoCalls } from "../gpu/jit/tier.ts";
import { type AnyLayer, isStateful } from "../layers/layer.ts";
import { crossEntropy } from "../layers/losses.ts";
import { lenet } from "../models/cnn.ts";
import { d2lDenseNet } from "../models/densenet.ts";
import { d2lGoogLeNet } from "../models/googlenet.ts";
import { nin } from "../models/nin.ts";
import { d2lResNet18 } from "../models/resnet.ts";
import { vgg } from "../models/vgg.ts";
import { makeTrainStep } from "../train/step.ts";

/** The networks, each with its input `[C, H, W]`. */
const NETS: Record<string, () => { net: AnyLayer; shape: [number, number, number] }> = {
  resnet18: () => ({ net: d2lResNet18(), shape: [1, 28, 28] }),
  googlenet: () => ({ net: d2lGoogLeNet(), shape: [1, 96, 96] }),
  densenet: () => ({ net: d2lDenseNet(), shape: [1, 96, 96] }),
  nin: () => ({ net: nin({ inputShape: [1, 96, 96] }), shape: [1, 96, 96] }),
  vgg11: () => ({
    net: vgg({ inputShape: [1, 32, 32], numClasses: 10, hidden: 256 }),
    shape: [1, 32, 32],
  }),
  lenet: () => ({ net: lenet(), shape: [1, 28, 28] }),
};

async function child(name: string): Promise<void> {
  const t0 = performance.now();
  await init({ backend: "webgpu" });
  const rt = (currentBackend() as WebGpuBackend).runtime;
  const { net, shape } = NETS[name]();
  const batch = Number(Deno.env.get("DENAX_COMPILE_BATCH") ?? 8);
  const x = random.uniform(random.key(1), [batch, ...shape]);
  const y = np.array(Array.from({ length: batch }, (_, i) => i % 10), { dtype: "i32" });
  const opt = optim.sgd({ lr: 0.01 });
  const eagerInit = Deno.env.get("DENAX_COMPILE_INIT") === "eager";
  const params = eagerInit
    ? net.init(random.key(0))
    : jit((k: Tensor) => net.init(k))(random.key(0));
  const optState = opt.init(params);
  await rt.sync(); // the initialization's work is done: the step's clock starts on an idle device
  const misses0 = rt.stats.pipelineMisses;
  const submit0 = rt.stats.submitMs;
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  let loss: Tensor;
  let again: () => Promise<unknown>;
  if (isStateful(net)) {
    const step = makeTrainStep(
      // deno-lint-ignore no-explicit-any -- the networks' params and states differ per network
      (p: any, s: any, b: any, key: Tensor) => {
        const r = net.apply(p, b.x, { state: s, train: true, key });
        return [crossEntropy(r.y, b.y), r.state] as const;
      },
      opt,
      { stateful: true },
    );
    let o = step(params, optState, net.initState(), { x, y }, random.key(2));
    loss = o.loss;
    again = () => {
      o = step(o.params, o.optState, o.state, { x, y }, random.key(3));
      return o.loss.item();
    };
  } else {
    const step = makeTrainStep(
      // deno-lint-ignore no-explicit-any -- the networks' params and states differ per network
      (p: any, b: any, key: Tensor) => crossEntropy(net.apply(p, b.x, { train: true, key }), b.y),
      opt,
    );
    let o = step(params, optState, { x, y }, random.key(2));
    loss = o.loss;
    again = () => {
      o = step(o.params, o.optState, { x, y }, random.key(3));
      return o.loss.item();
    };
  }
  const value = Number(await loss.item());
  const t2 = performance.now();
  const c2 = process.cpuUsage(c1);
  const stepSubmitMs = rt.stats.submitMs - submit0;
  const firstPipelines = rt.stats.pipelineMisses - misses0;
  const exe = lastCompiled();
  // later steps (running only): the median of DENAX_COMPILE_STEPS of them (default 1)
  const later: number[] = [];
  for (let i = Number(Deno.env.get("DENAX_COMPILE_STEPS") ?? 1); i > 0; i--) {
    const t = performance.now();
    await again();
    later.push(performance.now() - t);
  }
  later.sort((a, b) => a - b);
  // where the program started on tier one (gpu/jit/tier.ts): steps until it ran on tier two
  // (each waiting for the last's loss, as a training loop that reads it does; tier two starts
  // after `tierTwoCalls()` calls, and the compile helper then compiles it beside the steps),
  // their time, and the median of tier two's steps
  let tierTwo:
    | { calls: number; readyMs: number; stepMs: number; pipelines: number }
    | null = null;
  if (tierStats.tiered) {
    const t = performance.now(), switches = tierStats.switches;
    let calls = 0;
    for (const most = 2 * tierTwoCalls() + 40; tierStats.switches === switches && calls < most;) {
      calls++;
      await again();
      await new Promise((r) => setTimeout(r, 0)); // the turn in which tier two starts
    }
    const readyMs = performance.now() - t;
    const steps: number[] = [];
    for (let i = Math.max(later.length, 1); i > 0; i--) {
      const t = performance.now();
      await again();
      steps.push(performance.now() - t);
    }
    steps.sort((a, b) => a - b);
    tierTwo = {
      calls,
      readyMs: Math.round(readyMs),
      stepMs: Math.round(steps[steps.length >> 1]),
      pipelines: rt.stats.pipelineMisses - misses0 - firstPipelines,
    };
  }
  console.log(JSON.stringify({
    name,
    batch,
    init: eagerInit ? "eager" : "jit",
    loss: value,
    kernels: exe ? countKernels(exe.program) : null,
    pipelines: firstPipelines,
    initPipelines: misses0,
    pipelineMs: Math.round(rt.stats.pipelineMs),
    submitMs: Math.round(rt.stats.submitMs),
    stepSubmitMs: Math.round(stepSubmitMs),
    compileStats,
    precompile: precompileStats,
    initMs: Math.round(t1 - t0),
    firstStepMs: Math.round(t2 - t1),
    firstStepCpuMs: Math.round((c2.user + c2.system) / 1000),
    secondStepMs: Math.round(later[later.length >> 1]),
    tierTwo,
    tiers: tierStats,
  }));
}

async function run(name: string, cacheDir?: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, name],
    // no cache directory: Mesa's shader cache disabled and no program cache; else both in it
    env: cacheDir === undefined
      ? { XDG_RUNTIME_DIR: "/tmp", MESA_SHADER_CACHE_DISABLE: "true", DENAX_CACHE: "0" }
      : {
        XDG_RUNTIME_DIR: "/tmp",
        MESA_SHADER_CACHE_DIR: cacheDir,
        DENAX_CACHE_DIR: `${cacheDir}/denax`,
      },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`compile_bench ${name} failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  }
  console.log(text.trim());
}

if (import.meta.main && Deno.args.length) {
  await child(Deno.args[0]);
} else {
  const webgpu = !!(await navigator.gpu?.requestAdapter().catch(() => null));
  for (const name of Object.keys(NETS)) {
    Deno.bench({
      name: `first jitted SGD step of ${name}, webgpu, shader cache disabled`,
      group: "compile",
      ignore: !webgpu,
      n: 1,
      warmup: 0,
      fn: () => run(name),
    });
    // in fresh cache directories: the timed process alone (empty caches), or after one that
    // filled them (a second process, caches warm)
    const inCaches = (warm: boolean) => async (b: Deno.BenchContext) => {
      const dir = await Deno.makeTempDir({ prefix: "denax_mesa_" });
      try {
        if (warm) await run(name, dir);
        b.start();
        await run(name, dir);
        b.end();
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    };
    Deno.bench({
      name: `first jitted SGD step of ${name}, webgpu, empty shader cache`,
      group: "compile-empty",
      ignore: !webgpu,
      n: 1,
      warmup: 0,
      fn: inCaches(false),
    });
    Deno.bench({
      name: `first jitted SGD step of ${name}, webgpu, second process (Mesa cache warm)`,
      group: "compile-warm",
      ignore: !webgpu,
      n: 1,
      warmup: 0,
      fn: inCaches(true),
    });
  }
}
