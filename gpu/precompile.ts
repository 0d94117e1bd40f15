/**
 * Compiling a new program's kernels on two threads. A software adapter (llvmpipe) generates a
 * kernel's machine code at its first dispatch, one kernel after another on its queue's thread:
 * a network's first jitted step spends most of its seconds there, on one core. When a
 * program brings many kernels no earlier one compiled, they are also sent, last first, to a
 * worker with a device of its own (`precompile_worker.ts`), which dispatches each once over
 * stand-in resources. Its compiles land in Mesa's on-disk shader cache, shared by both devices of
 * the process, so the main thread's first dispatch of a kernel the worker has done loads it
 * instead of compiling it; the two meet in the middle. A shared word per kernel, set once the
 * main thread has compiled it, lets the worker skip what the main thread has done. The results
 * are the same bits: the same source is compiled either way.
 *
 * Used only where it helps: llvmpipe (lavapipe), Mesa's cache on ({@link mesaCacheOn}), two or
 * more cores, and a program with at least {@link PRECOMPILE_MIN_KERNELS} kernels
 * new to this process that was not itself loaded from denax's program cache (then Mesa's cache
 * has its kernels already). `DENAX_PRECOMPILE=0` turns it off, `1` on wherever a second device
 * can be had. The worker is ended as soon as it has nothing left to do: it keeps the process
 * alive only while it compiles.
 *
 * @module
 */
import type { TextureSpec } from "./kernels/common.ts";
import { envVar, type GpuContext, REQUESTED_LIMITS } from "./device.ts";
import { ownModuleUrl } from "../core/env.ts";
import type { Program, Res } from "./jit/program.ts";
import type { PrecompileJob, StandIn } from "./standin.ts";

/** Programs with fewer new kernels than this compile on the main thread alone. */
export const PRECOMPILE_MIN_KERNELS = 8;

/** Counters, for tests and `bench/compile_bench.ts`. */
export const precompileStats = {
  /** Batches sent to the worker. */
  batches: 0,
  /** Kernels sent. */
  kernels: 0,
  /** Kernels the worker compiled (the rest the main thread reached first). */
  compiled: 0,
  /** Kernels whose dispatch WebGPU refused in the worker (stand-ins that do not fit: a bug). */
  failed: 0,
  /** Workers started. */
  workers: 0,
};

let _forced: boolean | null = null;

/**
 * Turns the compile helper on or off regardless of the environment (tests), or back to the
 * default with `null`.
 *
 * @param on On, off, or null for the default.
 */
export function setPrecompile(on: boolean | null): void {
  _forced = on;
}

/**
 * Whether programs on this device use the compile helper (see the module doc).
 *
 * @param ctx The device.
 * @returns True when new programs' kernels are also compiled on the worker.
 */
export function precompileEnabled(ctx: GpuContext): boolean {
  if (_forced !== null) return _forced;
  const v = envVar("DENAX_PRECOMPILE");
  if (v === "0") return false;
  if (v === "1") return true;
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return /llvmpipe|lavapipe/i.test(ctx.description) && mesaCacheOn() && cores >= 2;
}

/**
 * Whether Mesa's on-disk shader cache is on: not disabled (`MESA_SHADER_CACHE_DISABLE`, or the
 * older `MESA_GLSL_CACHE_DISABLE`), and with a directory (`MESA_SHADER_CACHE_DIR`,
 * `XDG_CACHE_HOME` or `HOME`).
 *
 * @returns True when it is on.
 */
export function mesaCacheOn(): boolean {
  const set = (name: string) => /^(1|true|yes)$/i.test(envVar(name) ?? "");
  if (set("MESA_SHADER_CACHE_DISABLE") || set("MESA_GLSL_CACHE_DISABLE")) return false;
  return Boolean(envVar("MESA_SHADER_CACHE_DIR") || envVar("XDG_CACHE_HOME") || envVar("HOME"));
}

/** The pending batches' shared words, by source. */
const _claims = new Map<string, { flags: Int32Array; i: number }>();
let _worker: Worker | null = null;
let _busy = 0;
const _idle: (() => void)[] = [];
/** Per batch sent and not yet done, in order: what to call when the worker reports it done. */
const _batchDone: ((() => void) | undefined)[] = [];

/** Kernels created since the last submit, and those of the command buffer submitted last. */
let _noted: string[] = [];
let _inFlight: string[] = [];

/**
 * Notes that the main thread creates a kernel's pipeline (`GpuRuntime.pipeline` calls it).
 *
 * @param wgsl The source.
 */
export function noteKernel(wgsl: string): void {
  if (_claims.has(wgsl)) _noted.push(wgsl);
}

/**
 * Called after each `queue.submit` of the main device. On lavapipe a submit returns once the
 * command buffer before it has run, so the kernels first dispatched there are compiled and in
 * Mesa's cache: the worker skips them. (Marking kernels when their pipelines are created would
 * be too early: a program's first call records well ahead of its queue, and the worker then
 * skipped kernels the main thread only compiled seconds later.)
 */
export function submitted(): void {
  if (!_inFlight.length && !_noted.length) return; // every submit but a new program's first
  for (const wgsl of _inFlight) {
    const c = _claims.get(wgsl);
    if (!c) continue;
    Atomics.store(c.flags, c.i, 1);
    _claims.delete(wgsl);
  }
  _inFlight = _noted;
  _noted = [];
}

/**
 * Resolves when the worker has finished every batch sent (at once when none is pending).
 *
 * @returns A promise.
 */
export function precompileIdle(): Promise<void> {
  return _busy === 0 ? Promise.resolve() : new Promise((r) => _idle.push(r));
}

/**
 * Sends the kernels of `p` that `has` does not know, last first, to the worker, when there are
 * at least {@link PRECOMPILE_MIN_KERNELS} of them.
 *
 * @param ctx The device (its features are requested for the worker's, as are its adapter's
 *   maximal limits).
 * @param p The program.
 * @param has Whether the main thread has a pipeline for a source already.
 * @param min The fewest kernels worth a worker.
 * @returns The number of kernels sent.
 */
export function precompileProgram(
  ctx: GpuContext,
  p: Program,
  has: (wgsl: string) => boolean,
  min: number = PRECOMPILE_MIN_KERNELS,
): number {
  const jobs = precompileJobs(p, has);
  if (jobs.length < Math.max(min, 1)) return 0;
  return precompileBatch(ctx, jobs.reverse());
}

/**
 * The jobs of `p`'s kernels that `has` does not know (a source bound to textures of other
 * kinds is a job of its own), in program order.
 *
 * @param p The program.
 * @param has Whether the main thread has a pipeline for a source already.
 * @returns The jobs.
 */
export function precompileJobs(p: Program, has: (wgsl: string) => boolean): PrecompileJob[] {
  const jobs = new Map<string, PrecompileJob>();
  _collect(p, has, jobs);
  return [...jobs.values()];
}

/**
 * Sends jobs to the worker (started if need be), to be compiled in the order given.
 *
 * @param ctx The device.
 * @param list The jobs.
 * @param onDone Called once the worker has done them (or has stopped without doing them).
 * @returns The number of jobs sent: 0 when there is no worker to take them (`onDone` is then
 *   not called).
 */
export function precompileBatch(
  ctx: GpuContext,
  list: readonly PrecompileJob[],
  onDone?: () => void,
): number {
  if (!list.length) return 0;
  let worker: Worker;
  try {
    worker = _worker ?? _start(ctx);
  } catch {
    return 0; // no worker (no --allow-read of the module, say): the main thread compiles all
  }
  const flags = new Int32Array(new SharedArrayBuffer(4 * list.length));
  list.forEach((j, i) => {
    _claims.set(j.wgsl, { flags, i });
    _know(j.wgsl, _textureKinds(j.bindings));
  });
  _busy++;
  _batchDone.push(onDone);
  Atomics.store(_ctrl, 1, 1); // a batch on its way: an exit now waits for the worker
  precompileStats.batches++;
  precompileStats.kernels += list.length;
  worker.postMessage({ jobs: list, flags });
  return list.length;
}

let _url: string | null = null;

/**
 * Points the compile helper at another worker module (tests: one that fails to load), or back
 * at `precompile_worker.ts` with `null`.
 *
 * @param url The module's URL, or null.
 */
export function setPrecompileWorkerUrl(url: string | null): void {
  _url = url;
}

function _start(ctx: GpuContext): Worker {
  const url = _url ??
    ownModuleUrl(import.meta.url, "./precompile_worker.ts", "./gpu/precompile_worker.js").href;
  const w = new Worker(url, { type: "module" });
  const features: GPUFeatureName[] = [];
  if (ctx.timestampQuery) features.push("timestamp-query");
  if (ctx.shaderF16) features.push("shader-f16");
  _ctrl = new Int32Array(new SharedArrayBuffer(8));
  w.postMessage({ limits: REQUESTED_LIMITS, features, ctrl: _ctrl });
  globalThis.addEventListener("unload", _onUnload);
  w.onmessage = (ev: MessageEvent) => {
    precompileStats.compiled += ev.data.compiled ?? 0;
    precompileStats.failed += ev.data.failed ?? 0;
    _batchDone.shift()?.();
    // nothing pending: end it, so that an idle worker never keeps the process alive
    if (--_busy === 0) _stop(w);
  };
  w.onerror = (ev: ErrorEvent) => {
    ev.preventDefault(); // a worker that cannot start: the main thread compiles everything
    _busy = 0;
    _stop(w);
  };
  precompileStats.workers++;
  _worker = w;
  return w;
}

/** The worker's exit word and busy word (see `precompile_worker.ts`). */
let _ctrl: Int32Array<ArrayBufferLike> = new Int32Array(2);

/**
 * At exit (`Deno.exit` or the end of the program) with the worker still compiling: asks it to
 * stop and waits (at most 5 s) until its device has no work. A process that exits while a
 * second Vulkan device compiles on another thread crashed in 2 of 10 tries on lavapipe.
 */
function _onUnload(): void {
  Atomics.store(_ctrl, 0, 1);
  const end = performance.now() + 5000;
  while (Atomics.load(_ctrl, 1) === 1 && performance.now() < end) Atomics.wait(_ctrl, 1, 1, 50);
}

function _stop(w: Worker): void {
  globalThis.removeEventListener("unload", _onUnload);
  Atomics.store(_ctrl, 1, 0);
  _claims.clear();
  _noted = [];
  _inFlight = [];
  w.terminate();
  _worker = null;
  _batchDone.splice(0).forEach((r) => r?.());
  _idle.splice(0).forEach((r) => r());
}

/**
 * Kernels the main thread dispatches (its programs') or the worker was sent: by source, the
 * kinds of textures bound (JSON of the stand-ins; "" for none). Bounded: cleared past
 * {@link _KNOWN_MAX} sources.
 */
const _known = new Map<string, Set<string>>();
const _KNOWN_MAX = 4096;

function _know(wgsl: string, tex: string): void {
  if (_known.size >= _KNOWN_MAX && !_known.has(wgsl)) _known.clear();
  let kinds = _known.get(wgsl);
  if (!kinds) _known.set(wgsl, kinds = new Set());
  kinds.add(tex);
}

/**
 * Notes that the main thread runs `p` (its first call compiles every kernel it has not): later
 * programs' jobs leave these kernels out.
 *
 * @param p The program.
 */
export function noteProgram(p: Program): void {
  _each(p, (wgsl, _b, tex) => _know(wgsl, tex));
}

/** Forgets the kernels {@link noteProgram} and the batches noted (tests). */
export function forgetKernels(): void {
  _known.clear();
}

/** Calls `fn` for each dispatch of `p` (and its scans' bodies) with its stand-ins. */
function _each(
  p: Program,
  fn: (wgsl: string, bindings: StandIn[], tex: string) => void,
): void {
  const standIn = (r: Res): StandIn => {
    if (r.kind === "params") return { kind: "uniform", bytes: 4 * r.words.length };
    if (r.kind === "step") return { kind: "uniform", bytes: 16 };
    if (r.kind === "tex") return standInTexture(p.textures[r.index]);
    let bytes = 256;
    if (r.kind === "tmp") bytes = p.temps[r.index];
    else if (r.kind === "slot") {
      const s = p.slots[r.slot];
      if (s.kind === "in") bytes = p.inAvals[s.index].size * 4;
      else if (s.kind !== "ext") bytes = s.bytes;
    }
    // the stand-ins are read and written by one workgroup: a MiB is plenty
    return { kind: "storage", bytes: Math.min(Math.max(bytes, 256), 1 << 20) };
  };
  for (const op of p.ops) {
    if (op.kind === "scan") _each(op.body, fn);
    if (op.kind !== "dispatch") continue;
    const bindings = op.bindings.map(standIn);
    fn(op.wgsl, bindings, _textureKinds(bindings));
  }
}

/** The kinds of textures a job binds, as {@link _known} keys them ("" for none). */
function _textureKinds(bindings: readonly (StandIn | null)[]): string {
  return bindings.filter((b) => b?.kind === "texture").map((b) => JSON.stringify(b)).join();
}

function _collect(p: Program, has: (wgsl: string) => boolean, out: Map<string, PrecompileJob>) {
  // llvmpipe compiles a kernel once per kind of texture bound (sides powers of two or not): one
  // source bound to both kinds is two jobs, and a source the main thread has a pipeline for is
  // done only where it binds no texture, or where it was dispatched or sent with these kinds
  _each(p, (wgsl, bindings, tex) => {
    const id = tex ? `${tex}\n${wgsl}` : wgsl;
    if (out.has(id) || _known.get(wgsl)?.has(tex) || (!tex && has(wgsl))) return;
    out.set(id, { wgsl, bindings });
  });
}

/**
 * The stand-in of a texture: small, with its format, and sides that are powers of two exactly
 * where the real one's are (llvmpipe specialises a kernel on that, so the worker's compile
 * would not be the one the main thread looks for otherwise).
 *
 * @param t The real texture.
 * @returns Its stand-in.
 */
export function standInTexture(t: TextureSpec): StandIn {
  const side = (n: number) => ((n & (n - 1)) === 0 ? 1 : 3);
  return {
    kind: "texture",
    format: t.format,
    size: [side(t.width), side(t.height), side(t.layers)],
  };
}
