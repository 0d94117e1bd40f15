/**
 * `jit` on WebGPU: a jaxpr is lowered once into a program of fused WGSL kernels (see
 * `graph.ts`, `conv_fold.ts`, `fusion.ts`, `plan.ts`, `kernels.ts`, `gemm_fused.ts`,
 * `share.ts`) and replayed on every call (`exec.ts`): one command buffer per call, cached
 * pipelines and bind groups, no readback.
 *
 * `DENAX_DEBUG=1` prints a line per compile, `2` also the program, `3` also the WGSL of every
 * fused kernel.
 *
 * @example
 * ```ts ignore
 * import { init, jit, np } from "@denax/denax";
 * await init({ backend: "webgpu" });
 * const f = jit((x: any) => np.tanh(x.mul(2).add(1)));
 * const y = (await f(np.array([0, 1])).toArray()) as number[]; // one fused kernel
 * console.log(y); // [0.7616, 0.9951] = tanh(1), tanh(3)
 * if (Math.abs(y[0] - Math.tanh(1)) > 1e-5 || Math.abs(y[1] - Math.tanh(3)) > 1e-5) {
 *   throw new Error(`got ${y}`);
 * }
 * ```
 *
 * @module
 */
import type { Jaxpr } from "../../core/jaxpr.ts";
import { debugLevel } from "../device.ts";
import { compileGraph } from "./compile.ts";
import { loadProgram, programCacheKey, storeProgram } from "./disk_cache.ts";
import { type Executable, executable, type JitEnv, jitStats } from "./exec.ts";
import { flatten } from "./graph.ts";
import type { HalfIo } from "./half_io.ts";
import { kernelSharingEnabled, shareKernels } from "./share.ts";
import { countKernels, printProgram, type Program, type Res } from "./program.ts";
import { GpuError } from "../errors.ts";
import {
  noteProgram,
  precompileBatch,
  precompileEnabled,
  precompileJobs,
  precompileProgram,
} from "../precompile.ts";
import { hasConvolution, tieredExecutable, tieringEnabled, tierOne } from "./tier.ts";

export { type Executable, type JitEnv, jitStats };
export { countKernels, printProgram, type Program } from "./program.ts";
export { PROGRAM_CACHE_VERSION, programCacheStats } from "./disk_cache.ts";
export { setTiered, setTierTwoCalls, tierStats } from "./tier.ts";

/** Options of {@link compileJaxpr}. */
export interface JitCompileOptions {
  /** One flag per input (constants first): the input's buffer may receive an output. */
  readonly donated?: readonly boolean[];
  /**
   * Host values of 0-d inputs known at compile time (constants made from numbers): they are
   * inlined into the kernels as literals instead of read from buffers.
   */
  readonly literals?: readonly (number | undefined)[];
  /**
   * The f16 inputs and results of the program this one is the f32 storage form of
   * (`core/f16_jit.ts`): with f16 storage, the executable takes and gives them as 2-byte f16
   * tensors, bound directly where its kernels allow (`half_io.ts`), else widened and rounded.
   */
  readonly f16?: HalfIo;
}

let _last: Executable | null = null;

/**
 * The executable compiled last (tests inspect its program).
 *
 * @returns The executable, or null before the first compile.
 */
export function lastCompiled(): Executable | null {
  return _last;
}

/**
 * Compiles a jaxpr (constvars, if any, are its leading inputs) for the webgpu backend.
 *
 * @param env The backend's hooks.
 * @param j The jaxpr.
 * @param opts Donation flags.
 * @returns A function from input tensors to output tensors, replaying the program.
 */
export function compileJaxpr(env: JitEnv, j: Jaxpr, opts: JitCompileOptions = {}): Executable {
  const t0 = performance.now();
  const ctx = env.rt.ctx;
  const maxBindings = ctx.limits.maxStorageBuffersPerShaderStage;
  const io = env.backend.storesF16 && opts.f16 ? opts.f16 : undefined;
  const key = programCacheKey(j, { ...opts, f16: io }, {
    description: ctx.description,
    settings: { limits: ctx.limits, profile: ctx.profile, gemm: env.gemm, maxBindings },
  });
  let p = key === null ? null : loadProgram(key);
  const cached = p !== null;
  const build = () => {
    let q = compileGraph(flatten(j, opts.literals), {
      gemm: env.gemm,
      maxBindings,
      donated: opts.donated,
      f16: io,
    });
    if (kernelSharingEnabled()) q = shareKernels(q);
    return q;
  };
  // a new program with convolutions on a software adapter starts on tier one (see tier.ts),
  // which the program cache keeps apart until tier two's kernels are all compiled
  const tiered = !cached && tieringEnabled(ctx) && hasConvolution(j);
  const key1 = key === null ? null : `tier one\n${key}`;
  let tierOneCached = false;
  if (p === null && tiered && key1 !== null) tierOneCached = (p = loadProgram(key1)) !== null;
  if (p === null) {
    p = tiered ? tierOne(build) : build();
    if (key !== null) storeProgram(tiered ? key1! : key, p);
  }
  _checkBindings(p, ctx.limits.maxStorageBufferBindingSize);
  jitStats.compiles++;
  const level = debugLevel();
  if (level >= 1) {
    console.error(
      `[denax:jit] ${
        cached ? "cached" : tiered ? "compile (tier one)" : "compile"
      } ${j.eqns.length} eqns -> ${countKernels(p)} kernels (${
        countKernels(p, true)
      } fused), ${p.plan.donations.length} donated buffers, ${
        (performance.now() - t0).toFixed(1)
      } ms`,
    );
  }
  if (level >= 2) console.error(printProgram(p));
  if (level >= 3) _printWgsl(p);
  // kernels of a program compiled here are likely new to Mesa's cache too: two threads compile
  const has = (w: string) => env.rt.hasPipeline(w);
  if (!cached && !tierOneCached && precompileEnabled(ctx)) precompileProgram(ctx, p, has);
  noteProgram(p); // its first call compiles the rest: later programs' jobs leave them out
  const exe = tiered
    ? tieredExecutable(
      env,
      p,
      () => {
        const q = build();
        _checkBindings(q, ctx.limits.maxStorageBufferBindingSize);
        if (level >= 3) _printWgsl(q);
        return q;
      },
      precompileEnabled(ctx)
        ? { jobs: (q) => precompileJobs(q, has), send: (b, done) => precompileBatch(ctx, b, done) }
        : null,
      // stored once its kernels are in Mesa's cache: a later process then starts on it
      (q) => key !== null && storeProgram(key, q),
      io,
    )
    : executable(env, p, io);
  _last = exe;
  return exe;
}

function _printWgsl(p: Parameters<typeof printProgram>[0]): void {
  for (const op of p.ops) {
    if (op.kind === "dispatch" && op.fused) console.error(`// ${op.label}\n${op.wgsl}`);
    else if (op.kind === "scan") _printWgsl(op.body);
  }
}

/**
 * Throws a GpuError naming the kernel when one would bind a buffer over the adapter's
 * per-binding limit (WebGPU would report it later, as an uncaptured validation error).
 */
function _checkBindings(p: Program, limit: number): void {
  const bytesOf = (r: Res): number => {
    if (r.kind === "tmp") return p.temps[r.index];
    if (r.kind !== "slot") return 0;
    const s = p.slots[r.slot];
    if (s.kind === "in") return p.inAvals[s.index].size * 4;
    return s.kind === "ext" ? 0 : s.bytes;
  };
  for (const op of p.ops) {
    if (op.kind === "scan") _checkBindings(op.body, limit);
    if (op.kind !== "dispatch") continue;
    const big = op.bindings.map(bytesOf).find((b) => b > limit);
    if (big !== undefined) {
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      throw new GpuError(
        `Cannot compile ${op.label} (${op.note ?? op.label}) for webgpu: it binds a buffer of ${
          mib(big)
        }, over this adapter's ${
          mib(limit)
        } per-buffer binding limit (maxStorageBufferBindingSize). Work on slices of the data, or use the cpu backend.`,
        { op: op.label },
      );
    }
  }
}
