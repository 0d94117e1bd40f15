/**
 * Two tiers for a new program on a software adapter. llvmpipe spends most of a network's first
 * jitted step generating machine code, and its convolutions cost the most: a large register tile
 * compiles in two to three times the time of the small form's (`conv_small.ts`), which also shares
 * one pipeline across layers. So a program with convolutions is first compiled with every
 * convolution in the small form (tier one: fewer and cheaper pipelines, each step a few percent
 * slower), and runs that way while the program as it would otherwise be (tier two: large tiles
 * where they pay) is compiled once the program has run {@link TIER_TWO_CALLS} times and its new
 * kernels go to the compile helper (`precompile.ts`), a few at a time, which puts them in Mesa's
 * shader cache on its own thread. Once the helper has done them all, the next call switches to
 * tier two, whose pipelines then load from that cache. denax's program cache stores tier one
 * apart, and tier two once its kernels are compiled: a later process starts on tier two, or on
 * tier one (whose kernels are in Mesa's cache) when the first ended before tier two was ready.
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
import type { HalfIo } from "./half_io.ts";
import type { PrecompileJob } from "../standin.ts";

/**
 * Calls of a tier-one program after which tier two starts (`DENAX_TIER_TWO_CALLS` overrides it):
 * once that call's work is done and the event loop has had a turn, or at twice as many calls
 * without a turn (a loop that never awaits). Early, because every tier-one step is a few percent
 * slower: a 30-step GoogLeNet run (batch 8) took 4.4 s longer than untiered with tier two starting
 * at the 20th call, where its first step had saved 0.8 s.
 */
export const TIER_TWO_CALLS = 2;

/**
 * Tier two's new kernels go to the compile helper this many at a time, the next batch when the
 * last is done if the program was called meanwhile (else at its next call): a process that ends
 * waits for the batch its compile helper is on (exiting while a second Vulkan device compiles can
 * crash lavapipe), so it waits for a few kernels, not for all of them (a 3-step GoogLeNet script
 * ended 3.4 s after its last line when tier two's 28 kernels went as one batch).
 */
export const TIER_TWO_BATCH = 6;

let _calls: number | null = null;

/**
 * The calls after which tier two starts: {@link setTierTwoCalls}'s, else
 * `DENAX_TIER_TWO_CALLS`, else {@link TIER_TWO_CALLS}.
 *
 * @returns Calls (at least 1).
 */
export function tierTwoCalls(): number {
  if (_calls !== null) return _calls;
  const n = Math.floor(Number(envVar("DENAX_TIER_TWO_CALLS") ?? NaN));
  return Number.isFinite(n) && n >= 1 ? n : TIER_TWO_CALLS;
}

/**
 * Sets {@link tierTwoCalls} for this process (tests), or back to the default with `null`.
 *
 * @param calls Calls (at least 1), or null.
 */
export function setTierTwoCalls(calls: number | null): void {
  _calls = calls === null ? null : Math.max(1, Math.floor(calls));
}

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

/** The compile helper, as {@link tieredExecutable} uses it. */
export interface TierHelper {
  /** The jobs of a program's kernels the main thread has not compiled. */
  jobs(p: Program): PrecompileJob[];
  /** Sends jobs to the worker; 0 when there is none (`done` is then not called). */
  send(jobs: readonly PrecompileJob[], done: () => void): number;
}

/**
 * An executable that runs tier one, and after {@link tierTwoCalls} calls compiles tier two
 * (`second`) and sends its new kernels to the compile helper ({@link TIER_TWO_BATCH} at a time,
 * while the program is in use), then switches to it at the first call after the last batch is
 * done (at once without a helper: the main thread then compiles them as it dispatches them).
 *
 * @param env The backend's hooks.
 * @param first Tier one's program.
 * @param second Compiles tier two.
 * @param helper The compile helper, or null.
 * @param onReady Called with tier two when it is ready (the program cache stores it).
 * @param io The f16 inputs and results the caller holds as f16 tensors (see `executable`).
 * @returns The executable.
 */
export function tieredExecutable(
  env: JitEnv,
  first: Program,
  second: () => Program,
  helper: TierHelper | null,
  onReady: (p: Program) => void,
  io?: HalfIo,
): Executable {
  tierStats.tiered++;
  let cur = executable(env, first, io);
  let next: Program | null = null;
  let pending: PrecompileJob[] = []; // tier two's jobs not sent yet
  let inFlight = false; // a batch of them is with the helper
  let ready = false;
  let started = false; // tier two is armed to start
  let begun = false; // and has started
  let calls = 0; // calls since the last (re)arming
  let gen = 0; // a release abandons a tier two not yet started
  let called = false; // a call since the last batch was sent
  const done = () => {
    inFlight = false;
    // the next batch at once while the program is in use; else at its next call
    if (called) pump();
  };
  const pump = () => {
    if (inFlight || !next || ready) return;
    called = false;
    const batch = pending.splice(0, TIER_TWO_BATCH);
    if (batch.length && helper) {
      inFlight = true;
      if (helper.send(batch, done) > 0) return;
      inFlight = false; // no worker after all: the main thread compiles the rest
    }
    pending = [];
    ready = true;
    onReady(next);
  };
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
    pending = helper ? helper.jobs(next) : [];
    pump();
  };
  const exe = ((args: Tensor[]): Tensor[] => {
    called = true;
    if (next && !ready) pump();
    if (ready && next) {
      cur.release();
      cur = executable(env, next, io);
      next = null;
      tierStats.switches++;
      if (debugLevel() >= 1) console.error("[denax:jit] switched to tier two");
    }
    const out = cur(args);
    calls++;
    const n = tierTwoCalls();
    if (!started && calls >= n) {
      // tier two starts once this call's work is done, and after what else that turn runs (what
      // the caller does with the results comes first)
      started = true;
      const g = gen;
      env.rt.ctx.device.queue.onSubmittedWorkDone().then(
        () => setTimeout(() => start(g), 0),
        () => {},
      );
    } else if (started && !begun && calls >= 2 * n) {
      start(gen); // a caller that never yields to the event loop
    }
    return out;
  }) as Executable;
  Object.defineProperties(exe, {
    program: { get: () => cur.program },
    f16Io: { value: io !== undefined },
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
