/**
 * A small pool of worker threads for the native backend's large Wasm kernels: the operands sit
 * in one shared `WebAssembly.Memory`, the index range is cut into chunks, and the main thread
 * and the workers take chunks (a compare-exchange on a word of the shared memory) until none is
 * left; the main thread then waits (`Atomics.wait`) for the chunks the workers took.
 *
 * Off unless `DENAX_NATIVE_THREADS` (or {@link poolConfig}.threads) asks for more than one
 * thread: on the 2-core machine it was measured on (2026-12-06, its cores busy with other
 * processes, load average 4), the W2 chain over 2²⁰ values took 10–14 ms on one thread and
 * 15 ms on two (the whole range is copied through the shared memory, where one thread streams
 * it through cache-sized blocks). At most
 * `navigator.hardwareConcurrency` threads; the workers start on the first large kernel, are
 * `unref`'d (a script using the pool exits when its own work is done) and never make the main
 * thread wait for them to start: a chunk nobody has taken yet is computed by the main thread.
 * A worker that fails sets an error word, and one that takes longer than
 * {@link poolConfig}.timeoutMs to finish a chunk is given up: the main thread computes the whole
 * range itself (the kernels write only their outputs, so doing a chunk twice is harmless) and
 * the pool is closed for the rest of the process.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { env, ownModuleUrl } from "../core/env.ts";

/**
 * Words of the control block at the start of the shared memory.
 *
 * @example
 * ```ts
 * import { CTL } from "./pool.ts";
 * if (CTL.words * 4 > 4096) throw new Error("the block fits before the kernels' blocks");
 * ```
 */
export const CTL = {
  /** Int32 words of the block. */
  words: 16,
  /** `(generation & 0xffff) << 16 | next chunk`. */
  next: 0,
  /** Chunks finished in the current task. */
  done: 1,
  /** Set by a worker that failed. */
  error: 2,
} as const;

/**
 * A kernel over `n` elements from `base` (bytes), operand slots `stride` bytes apart (the
 * signature of the generated Wasm chains).
 */
export type PoolKernel = (base: number, n: number, stride: number, ...scalars: number[]) => void;

/**
 * The pool's settings, read when a large kernel runs.
 *
 * @example
 * ```ts
 * import { poolConfig } from "./pool.ts";
 * if (poolConfig.threads < 1) throw new Error("at least the main thread");
 * ```
 */
export const poolConfig: { threads: number; minElements: number; timeoutMs: number } = {
  threads: Math.max(1, Number(env("DENAX_NATIVE_THREADS") ?? 1) || 1),
  minElements: 1 << 17,
  timeoutMs: 5000,
};

/**
 * Counters (tests read them): tasks run on the pool, chunks the workers took, fallbacks to
 * the main thread, workers started.
 *
 * @example
 * ```ts
 * import { poolStats } from "./pool.ts";
 * if (poolStats.fallbacks < 0) throw new Error("a count");
 * ```
 */
export const poolStats = { tasks: 0, workerChunks: 0, fallbacks: 0, started: 0 };

interface Pool {
  readonly workers: Worker[];
  readonly ctl: Int32Array;
  readonly known: Set<number>;
  gen: number;
}

let _pool: Pool | null = null;
let _closed = false;

/**
 * Whether the pool would run a kernel of `n` elements now.
 *
 * @param n elements
 * @returns true when more than one thread is asked for, `n` is large and the pool is open
 * @example
 * ```ts
 * import { poolConfig, poolWanted } from "./pool.ts";
 * if (poolWanted(poolConfig.minElements - 1)) throw new Error("small kernels stay on one thread");
 * ```
 */
export function poolWanted(n: number): boolean {
  return !_closed && poolConfig.threads > 1 && n >= poolConfig.minElements;
}

function _start(mem: WebAssembly.Memory): Pool | null {
  if (_pool || _closed) return _pool;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency ?? 1;
  const n = Math.min(poolConfig.threads, cores) - 1;
  if (n < 1) return null;
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const w = new Worker(
        ownModuleUrl(import.meta.url, "./pool_worker.ts", "./native/pool_worker.js"),
      );
      w.unref();
      w.on("error", () => close());
      w.postMessage({ kind: "memory", mem });
      workers.push(w);
      poolStats.started++;
    }
  } catch {
    for (const w of workers) w.terminate();
    _closed = true;
    return null;
  }
  _pool = { workers, ctl: new Int32Array(mem.buffer, 0, CTL.words), known: new Set(), gen: 0 };
  return _pool;
}

/**
 * Closes the pool (its workers are terminated); later kernels run on the main thread.
 *
 * @example
 * ```ts
 * import { close, poolWanted } from "./pool.ts";
 * close();
 * if (poolWanted(1 << 30)) throw new Error("a closed pool runs nothing");
 * ```
 */
export function close(): void {
  _closed = true;
  if (_pool) { for (const w of _pool.workers) w.terminate(); }
  _pool = null;
}

/**
 * Runs `fn` over `n` elements split between the main thread and the pool's workers (or on the
 * main thread alone when the pool is off, closed or has no worker).
 *
 * @param mem the shared memory the kernel reads and writes
 * @param id the kernel's identity (its module is sent to each worker once)
 * @param bytes the kernel's module
 * @param fn the main thread's instance of the kernel
 * @param n elements
 * @param base byte offset of element 0 of the first operand
 * @param stride bytes between operand slots
 * @param scalars the kernel's scalar arguments
 * @example
 * ```ts
 * import { runPooled } from "./pool.ts";
 * const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
 * const h = new Float32Array(mem.buffer);
 * h.fill(3, 16, 20);
 * // with the pool off (the default) the main thread runs the whole range
 * const double = (base: number, n: number, stride: number) => {
 *   for (let i = 0; i < n; i++) h[(base + stride) / 4 + i] = 2 * h[base / 4 + i];
 * };
 * runPooled(mem, -1, new Uint8Array(0), double, 4, 64, 16, []);
 * if (h[20] !== 6) throw new Error(`got ${h[20]}`);
 * ```
 */
export function runPooled(
  mem: WebAssembly.Memory,
  id: number,
  bytes: Uint8Array<ArrayBuffer>,
  fn: PoolKernel,
  n: number,
  base: number,
  stride: number,
  scalars: readonly number[],
): void {
  const p = _start(mem);
  if (!p) {
    fn(base, n, stride, ...scalars);
    return;
  }
  if (!p.known.has(id)) {
    for (const w of p.workers) w.postMessage({ kind: "kernel", id, bytes });
    p.known.add(id);
  }
  const threads = p.workers.length + 1;
  const chunk = Math.max(16384, Math.ceil(n / (threads * 4) / 4) * 4);
  const chunks = Math.ceil(n / chunk);
  const c = p.ctl, gen = (p.gen = (p.gen + 1) & 0xffff);
  Atomics.store(c, CTL.done, 0);
  Atomics.store(c, CTL.next, gen << 16);
  poolStats.tasks++;
  const task = { kind: "task", id, gen, chunks, chunk, n, base, stride, scalars: [...scalars] };
  for (const w of p.workers) w.postMessage(task);
  let mine = 0;
  for (;;) {
    const w = Atomics.load(c, CTL.next), q = w & 0xffff;
    if (q >= chunks) break;
    if (Atomics.compareExchange(c, CTL.next, w, w + 1) !== w) continue;
    const s = q * chunk;
    fn(base + 4 * s, Math.min(n, s + chunk) - s, stride, ...scalars);
    Atomics.add(c, CTL.done, 1);
    mine++;
  }
  poolStats.workerChunks += chunks - mine;
  const t0 = performance.now();
  for (;;) {
    const d = Atomics.load(c, CTL.done);
    if (d >= chunks) return;
    if (Atomics.load(c, CTL.error) || performance.now() - t0 > poolConfig.timeoutMs) break;
    Atomics.wait(c, CTL.done, d, 50);
  }
  // a worker failed or hangs: compute everything here and stop using the pool
  poolStats.fallbacks++;
  close();
  fn(base, n, stride, ...scalars);
}
