/**
 * Two tiers for a new program on a software adapter. llvmpipe spends most of a network's first
 * jitted step generating machine code, and its convolutions cost the most: a large register
 * tile compiles in two to three times the time of the small form's (`conv_small.ts`), which also
 * shares one pipeline across layers. So a program with convolutions is first compiled with every
 * convolution in the small form (tier one: fewer and cheaper pipelines, each step a few percent
 * slower), and runs that way while the program as it would otherwise be (tier two: large tiles
 * where they pay) is compiled after the second call's work is done and its new kernels go to the
 * compile helper (`precompile.ts`), which puts them in Mesa's shader cache on its own thread.
 * Once the helper reports them done, the next call switches to tier two, whose pipelines then
 * load from that cache. denax's program cache stores tier one apart, and tier two once its
 * kernels are compiled: a later process starts on tier two, or on tier one (whose kernels are in
 * Mesa's cache) when the first ended before tier two was ready.
 *
 * The small form changes which outputs an invocation holds, not the order in which each output's
 * products are summed: the results were the same bits either side of the switch wherever
 * compared (`tests/gpu_tier_test.ts`; the losses of ResNet-18, DenseNet and GoogLeNet in
 * `bench/compile_bench.ts`).
 *
 * On where the compile helper is, under the CPU-adapter profile ({@link tieringEnabled});
 * `DENAX_TIERED=0` turns it off, `1` on wherever a program has convolutions.
 *
 * @module
 */
import { ClosedJaxpr, Jaxpr } from "../../core/jaxpr.ts";
import type { Tensor } from "../../core/tensor.ts";
import { debugLevel, envVar, type GpuContext } from "../device.ts";
import { withSmallConvMacs } from "../kernels/conv_small.ts";
import { precompileEnabled } from "../precompile.ts";
import { type Executable, executable, type JitEnv } from "./exec.ts";
import type { Program } from "./program.ts";

/**
 * Calls after which tier two starts without waiting for the event loop (a loop of jitted calls
 * that never awaits gives the promise that starts it no turn).
 */
export const TIER_TWO_CALLS = 10;

/** Counters, for tests and `bench/compile_bench.ts`. */
export const tierStats = {
  /** Programs started on tier one. */
  tiered: 0,
  /** Switches to tier two. */
  switches: 0,
  /** Tier-two compiles that failed (the program stays on tier one; a bug, reported at debug 1). */
  failed: 0,
};

let _forced: boolean | null = null;

/**
 * Turns tiering on or off regardless of the environment (tests), or back to the default with
 * `null`.
 *
 * @param on On, off, or null for the default.
 */
export function setTiered(on: boolean | null): void {
  _forced = on;
}

/**
 * Whether a new program with convolutions starts on tier one: where the compile helper runs
 * (llvmpipe with Mesa's cache on and two cores) under the CPU-adapter profile, whose texture
 * convolutions have the small form, unless `DENAX_TIERED` says otherwise.
 *
 * @param ctx The device.
 * @returns True when tiering is on.
 */
export function tieringEnabled(ctx: GpuContext): boolean {
  if (_forced !== null) return _forced;
  const v = envVar("DENAX_TIERED");
  if (v === "0") return false;
  if (v === "1") return true;
  // the small form is the texture convolutions' (the CPU-adapter profile's)
  return ctx.profile.name === "cpu-adapter" && precompileEnabled(ctx);
}

/**
 * Whether a jaxpr has a convolution (where tier one differs from tier two), also inside the
 * jaxprs its equations carry (a scan's body, a checkpointed function).
 *
 * @param j The jaxpr.
 * @returns True when it has one.
 */
export function hasConvolution(j: Jaxpr): boolean {
  return j.eqns.some((e) =>
    e.prim.name === "conv_general_dilated" ||
    Object.values(e.params).some((v) => {
      const inner = v instanceof ClosedJaxpr ? v.jaxpr : v;
      return inner instanceof Jaxpr && hasConvolution(inner);
    })
  );
}

/**
 * Compiles tier one: `build` with every convolution in the small form.
 *
 * @param build Compiles the program under the current settings.
 * @returns The program.
 */
export function tierOne(build: () => Program): Program {
  return withSmallConvMacs(Infinity, build);
}

/**
 * An executable that runs tier one, and after its second call's work compiles tier two
 * (`second`), hands it to `precompile` (which calls `done` once its new kernels are compiled,
 * at once when it sent none) and switches to it at the first call after that.
 *
 * @param env The backend's hooks.
 * @param first Tier one's program.
 * @param second Compiles tier two (and stores it in the program cache).
 * @param precompile Sends a program's new kernels to the compile helper.
 * @returns The executable.
 */
export function tieredExecutable(
  env: JitEnv,
  first: Program,
  second: () => Program,
  precompile: (p: Program, done: () => void) => number,
): Executable {
  tierStats.tiered++;
  let cur = executable(env, first);
  let next: Program | null = null;
  let ready = false;
  let started = false; // tier two is armed to start
  let begun = false; // and has started
  let calls = 0; // calls since the last (re)arming
  let gen = 0; // a release abandons a tier two not yet started
  const start = (g: number) => {
    if (g !== gen || begun) return;
    begun = true;
    try {
      next = second();
    } catch (e) {
      tierStats.failed++;
      if (debugLevel() >= 1) console.error(`[denax:jit] tier two failed to compile: ${e}`);
      return;
    }
    precompile(next, () => ready = true);
  };
  const exe = ((args: Tensor[]): Tensor[] => {
    if (ready && next) {
      cur.release();
      cur = executable(env, next);
      next = null;
      tierStats.switches++;
      if (debugLevel() >= 1) console.error("[denax:jit] switched to tier two");
    }
    const out = cur(args);
    calls++;
    if (!started && calls >= 2) {
      // tier two starts once the second call's work is done, and after what else that turn
      // runs: the first call (compiling) and whatever the caller does with its results first
      started = true;
      const g = gen;
      env.rt.ctx.device.queue.onSubmittedWorkDone().then(
        () => setTimeout(() => start(g), 0),
        () => {},
      );
    } else if (started && !begun && calls >= TIER_TWO_CALLS) {
      start(gen); // a caller that never yields to the event loop
    }
    return out;
  }) as Executable;
  Object.defineProperties(exe, {
    program: { get: () => cur.program },
    deviceBytes: { get: () => cur.deviceBytes },
    release: {
      value: () => {
        gen++;
        if (!next && !ready) started = begun = false; // a later call starts tier two again
        calls = 0;
        cur.release();
      },
    },
  });
  return exe;
}
