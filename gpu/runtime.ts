/**
 * The WebGPU runtime: owns the device, the buffer pools, the pipeline cache and the shared
 * command encoder. Kernels (pure data, see `kernels/common.ts`) are recorded into one compute
 * pass of a shared encoder, which is submitted lazily: when a readback needs the results, or
 * every {@link RuntimeOptions.flushEvery} dispatches, never once per op.
 *
 * Buffer reuse is safe against the lazy submit: a buffer released while unsubmitted commands
 * may still use it waits in a deferred list and joins the pool only when those commands are
 * submitted (after which queue order protects it, `writeBuffer` included).
 *
 * Deferred work (`Backend.defer`, used by `whileLoop`): every operation that reaches the device
 * (dispatch, copy, upload, read, sync, explicit release) goes through a {@link Scheduler}, which
 * holds it back while a deferred task is pending and replays it in order afterwards (see
 * `defer.ts`); garbage-collected buffers that held-back work still uses stay out of the pool
 * until that work has run.
 *
 * Memory (see {@link RuntimeOptions.memoryBudget}): the runtime counts the bytes of live and
 * pooled storage buffers and of compiled programs' own buffers. When a request would take the
 * total over the budget, it first trims the pool; when the live bytes alone are over it, it
 * asks V8 for a full garbage collection at the next turn of the event loop (once per quarter
 * budget allocated), so that the buffers of unreachable Tensors come back through their
 * finalizers. Collection cannot happen inside one synchronous stretch of code: a loop that
 * never awaits frees garbage Tensors only with `using`/`dispose`. A collection also runs every
 * {@link RuntimeOptions.collectEvery} submits, for the native objects (encoders, bind groups)
 * that each submit leaves to the collector.
 *
 * The pipeline cache is an LRU bounded by count and by WGSL source bytes (see
 * {@link RuntimeOptions.pipelineCache}); compiled programs keep the pipelines they use.
 *
 * Profiling (`DENAX_PROFILE=1` or {@link RuntimeOptions.profile}, where the device has
 * `timestamp-query`): every dispatch is timed on the GPU, and per-op times are printed per
 * submit and as totals at exit (see `profile.ts`).
 *
 * Errors: a WGSL compile failure is caught with a validation error scope around pipeline
 * creation and reported with the op's name, the compiler's messages and the numbered source;
 * it, and any uncaptured device error, is thrown by the next {@link GpuRuntime.read} or
 * {@link GpuRuntime.sync}. A lost device rejects them with `GpuUnavailableError`.
 *
 * @module
 */
import { type DeferredTask, Scheduler } from "./defer.ts";
import { debugLevel, envVar, type GpuContext, requestGpu } from "./device.ts";
import { envBytes, primeStaging, readMapped } from "./device.ts";
import { GpuError, GpuUnavailableError, numberLines } from "./errors.ts";
import type { BufRef, Kernel, Plan, TexRef, TextureSpec } from "./kernels/common.ts";
import { bucketBytes, BufferPool, type PoolStats } from "./pool.ts";
import { KernelProfiler } from "./profile.ts";
import { noteKernel, submitted } from "./precompile.ts";

/** Options of {@link GpuRuntime.create}. */
export interface RuntimeOptions {
  /** Submit the shared encoder after this many dispatches (default 64). */
  readonly flushEvery?: number;
  /**
   * Time every kernel with timestamp queries and print per-op GPU times to stderr, or to the
   * given function (default: on when the `DENAX_PROFILE` environment variable is "1"). Ignored
   * without `timestamp-query`.
   */
  readonly profile?: boolean | ((line: string) => void);
  /**
   * The device profile (`gpu/target.ts`): "cpu" (CPU-adapter tuning) or "gpu"; default: the
   * `DENAX_GPU_PROFILE` environment variable, else chosen from the adapter.
   */
  readonly deviceProfile?: "cpu" | "gpu";
  /**
   * Device bytes (live and pooled storage buffers plus compiled programs' own buffers) past
   * which the runtime trims its pool and asks for a garbage collection. Default: the
   * `DENAX_MEMORY_BUDGET` environment variable (bytes, or with a K/M/G suffix: "512M"), else
   * 1 GiB; 0 or Infinity turns the budget off. Settable later with
   * {@link GpuRuntime.memoryBudget}.
   */
  readonly memoryBudget?: number;
  /**
   * Whether a budget overrun may run a full garbage collection (default true unless the
   * environment has `DENAX_GC=0`). It uses `globalThis.gc` when the process runs with
   * `--v8-flags=--expose-gc`, and otherwise exposes it through `node:v8`.
   */
  readonly collect?: boolean;
  /**
   * Also run a full garbage collection every this many submits (default 4096, or the
   * `DENAX_GC_EVERY` environment variable; 0: never). Every call of a jitted program and
   * every 64 eager dispatches submit; each leaves command encoders, command buffers and bind
   * groups whose native memory V8 does not see and frees only when it collects their
   * wrappers: without this, a long loop of small steps grows the process by kilobytes a step.
   */
  readonly collectEvery?: number;
  /**
   * Request a garbage collection when more storage buffers than this are live (default 4096,
   * or `DENAX_MAX_LIVE_BUFFERS`; 0: never) and twice as many as survived the last one: each
   * buffer holds host memory too, however small its device bytes, and eager ops on small
   * arrays leave one dead buffer each.
   */
  readonly maxLiveBuffers?: number;
  /**
   * Bounds of the pipeline cache, least recently used first out: `maxEntries` pipelines
   * (default 1024, or the `DENAX_PIPELINE_CACHE` environment variable) and `maxBytes` of WGSL
   * source (default 32 MiB).
   */
  readonly pipelineCache?: { readonly maxEntries?: number; readonly maxBytes?: number };
}

/** The device memory a runtime accounts for (see {@link GpuRuntime.memory}). */
export interface MemoryStats {
  /** Bytes of storage buffers that arrays (and in-flight temporaries) hold. */
  readonly liveBytes: number;
  /** Storage buffers that arrays (and in-flight temporaries) hold. */
  readonly liveBuffers: number;
  /** Bytes of released storage buffers kept for reuse. */
  readonly pooledBytes: number;
  /** Released storage buffers kept for reuse. */
  readonly pooledBuffers: number;
  /** Bytes of the buffers and textures compiled programs keep between calls. */
  readonly programBytes: number;
  /** Buffers and textures compiled programs keep between calls. */
  readonly programBuffers: number;
  /** The budget in bytes (Infinity: none). */
  readonly budget: number;
  /** Times the pool was trimmed because the budget was exceeded. */
  readonly trims: number;
  /** Garbage collections requested because live bytes exceeded the budget. */
  readonly collections: number;
}

/** Counters of the runtime, for tests and profiling. */
export interface RuntimeStats {
  /** Pipeline cache hits. */
  readonly pipelineHits: number;
  /** Pipelines compiled (cache misses). */
  readonly pipelineMisses: number;
  /** Compute dispatches recorded. */
  readonly dispatches: number;
  /** Command buffers submitted. */
  readonly submits: number;
  /** The storage buffer pool's counters. */
  readonly storage: PoolStats;
  /** Pipelines in the cache. */
  readonly pipelines: number;
  /** Pipelines dropped from the cache by its bounds. */
  readonly pipelineEvictions: number;
  /**
   * Milliseconds spent creating pipelines (shader module and pipeline objects: WGSL parsing and
   * translation). On llvmpipe the machine code is compiled later, at the first dispatch, and
   * counts in {@link submitMs}.
   */
  readonly pipelineMs: number;
  /** Milliseconds spent in `queue.submit` (llvmpipe compiles new pipelines there). */
  readonly submitMs: number;
}

/** Default {@link RuntimeOptions.memoryBudget}: 1 GiB. */
export const DEFAULT_MEMORY_BUDGET: number = 2 ** 30;
/** Default pipeline cache bound, in pipelines. */
export const DEFAULT_PIPELINE_ENTRIES = 1024;
/** Default pipeline cache bound, in bytes of WGSL source. */
export const DEFAULT_PIPELINE_BYTES: number = 32 * 2 ** 20;

// GPUBufferUsage flags, spelled out so that importing this module needs no WebGPU globals:
// MAP_READ 0x1, COPY_SRC 0x4, COPY_DST 0x8, STORAGE 0x80.
const _STORAGE_USAGE = 0x80 | 0x4 | 0x8;
const _STAGING_USAGE = 0x1 | 0x8;

/** Owns a device and runs kernels on it. */
export class GpuRuntime {
  /** The device context. */
  readonly ctx: GpuContext;
  /** Storage buffers (STORAGE | COPY_SRC | COPY_DST). */
  readonly storage: BufferPool;
  #staging: BufferPool;
  #pipelines = new Map<string, GPUComputePipeline>();
  #params = new Map<string, GPUBuffer>();
  #pipelineBytes = 0;
  #maxPipelines: number;
  #maxPipelineBytes: number;
  #pipelineEvictions = 0;
  #budget = Infinity;
  #collect: boolean;
  #programBytes = 0;
  #programBuffers = 0;
  #trims = 0;
  #collections = 0;
  #allocated = 0;
  #collectAfter = 0;
  #collectPending = false;
  #sinceCollect = 0;
  #minLiveSinceCollect = 0;
  /**
   * Live storage buffers past which a garbage collection is requested (0: never); see
   * {@link RuntimeOptions.maxLiveBuffers}.
   */
  maxLiveBuffers: number;
  /**
   * Submits between two periodic collections (0: none); see
   * {@link RuntimeOptions.collectEvery}.
   */
  collectEvery: number;
  #checks = new Map<string, Promise<GpuError | null>>();
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #pending = 0;
  #deferred: GPUBuffer[] = [];
  #deferredTex: (() => void)[] = [];
  #textures = new Map<string, GPUTexture[]>();
  #error: Error | null = null;
  #failedLabels = new Set<string>();
  #labels = 0;
  #flushEvery: number;
  #hits = 0;
  #misses = 0;
  #dispatches = 0;
  #submits = 0;
  #pipelineMs = 0;
  #submitMs = 0;
  #debug = debugLevel();
  #sched = new Scheduler();
  /** The kernel profiler, when profiling is on (see {@link RuntimeOptions.profile}). */
  readonly profiler: KernelProfiler | null;

  private constructor(ctx: GpuContext, opts: RuntimeOptions) {
    this.ctx = ctx;
    this.storage = new BufferPool(ctx.device, _STORAGE_USAGE);
    this.#staging = new BufferPool(ctx.device, _STAGING_USAGE, { maxPooledBytes: 1 << 28 });
    primeStaging(this.#staging); // a first small readback then skips Deno's map latency
    this.memoryBudget = opts.memoryBudget ?? envBytes("DENAX_MEMORY_BUDGET") ??
      DEFAULT_MEMORY_BUDGET;
    this.#collect = opts.collect ?? envVar("DENAX_GC") !== "0";
    const every = Number(envVar("DENAX_GC_EVERY") ?? NaN);
    const maxLive = Number(envVar("DENAX_MAX_LIVE_BUFFERS") ?? NaN);
    this.maxLiveBuffers = opts.maxLiveBuffers ??
      (Number.isFinite(maxLive) && maxLive >= 0 ? maxLive : 4096);
    this.collectEvery = opts.collectEvery ?? (Number.isFinite(every) && every >= 0 ? every : 4096);
    const pc = opts.pipelineCache ?? {};
    const envEntries = Number(envVar("DENAX_PIPELINE_CACHE") ?? NaN);
    this.#maxPipelines = pc.maxEntries ??
      (Number.isFinite(envEntries) && envEntries > 0 ? envEntries : DEFAULT_PIPELINE_ENTRIES);
    this.#maxPipelineBytes = pc.maxBytes ?? DEFAULT_PIPELINE_BYTES;
    this.#flushEvery = opts.flushEvery ?? 64;
    const level = envVar("DENAX_PROFILE");
    const profile = opts.profile ?? (level === "1" || level === "2");
    this.profiler = profile && ctx.timestampQuery
      ? new KernelProfiler(ctx.device, {
        print: typeof profile === "function" ? profile : undefined,
        each: opts.profile === undefined && level === "2",
      })
      : null;
    if (this.profiler && opts.profile === undefined) {
      const prof = this.profiler;
      globalThis.addEventListener?.("unload", () => console.error(prof.report()));
    }
  }

  /**
   * Requests a device and makes a runtime on it.
   *
   * @param opts Runtime options.
   * @returns The runtime.
   * @throws {GpuUnavailableError} When no device can be had.
   */
  static async create(opts: RuntimeOptions = {}): Promise<GpuRuntime> {
    return new GpuRuntime(await requestGpu(opts.deviceProfile), opts);
  }

  /** The runtime's counters. */
  get stats(): RuntimeStats {
    return {
      pipelineHits: this.#hits,
      pipelineMisses: this.#misses,
      dispatches: this.#dispatches,
      submits: this.#submits,
      storage: this.storage.stats,
      pipelines: this.#pipelines.size,
      pipelineEvictions: this.#pipelineEvictions,
      pipelineMs: this.#pipelineMs,
      submitMs: this.#submitMs,
    };
  }

  /**
   * The memory budget in bytes (Infinity: none; see {@link RuntimeOptions.memoryBudget}).
   * Setting it also caps the pool at half of it.
   */
  get memoryBudget(): number {
    return this.#budget;
  }
  set memoryBudget(bytes: number) {
    if (!(bytes >= 0)) {
      throw new RangeError(`Cannot set the webgpu memory budget to ${bytes}: need bytes >= 0`);
    }
    this.#budget = bytes === 0 ? Infinity : bytes;
    this.storage.maxPooledBytes = Math.min(2 ** 30, this.#budget / 2);
  }

  /** The pipeline cache's bounds (see {@link RuntimeOptions.pipelineCache}). */
  get pipelineCacheLimits(): { maxEntries: number; maxBytes: number } {
    return { maxEntries: this.#maxPipelines, maxBytes: this.#maxPipelineBytes };
  }
  set pipelineCacheLimits(l: { readonly maxEntries?: number; readonly maxBytes?: number }) {
    this.#maxPipelines = l.maxEntries ?? this.#maxPipelines;
    this.#maxPipelineBytes = l.maxBytes ?? this.#maxPipelineBytes;
    this.#evictPipelines(null);
  }

  /** The device memory the runtime accounts for, and what the budget did. */
  get memory(): MemoryStats {
    const s = this.storage.stats;
    return {
      liveBytes: s.liveBytes,
      liveBuffers: s.live,
      pooledBytes: s.pooledBytes,
      pooledBuffers: s.pooled,
      programBytes: this.#programBytes,
      programBuffers: this.#programBuffers,
      budget: this.#budget,
      trims: this.#trims,
      collections: this.#collections,
    };
  }

  /**
   * A storage buffer from the pool, under the memory budget: when the request would take the
   * accounted bytes over it, the pool is trimmed first, and while the live bytes stay over it
   * a garbage collection is requested (see the module doc).
   *
   * @param bytes The size needed.
   * @returns A buffer (release it with {@link release} or {@link releaseOrdered}).
   */
  acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    this.#allocated += size;
    if (this.#budget !== Infinity) this.#pressure(size);
    this.#countPressure();
    return this.storage.acquire(size);
  }

  /**
   * Every live buffer also costs host memory that V8 does not see: when the live count is
   * past {@link RuntimeOptions.maxLiveBuffers} and twice the lowest count seen since the last
   * collection (what survived it), another collection is due.
   */
  #countPressure(): void {
    const live = this.storage.liveCount;
    if (live < this.#minLiveSinceCollect) this.#minLiveSinceCollect = live;
    if (
      this.maxLiveBuffers > 0 && live > this.maxLiveBuffers &&
      live > 2 * this.#minLiveSinceCollect && this.#collect && !this.#collectPending
    ) this.#requestCollect();
  }

  #pressure(size: number): void {
    const s = this.storage.stats;
    const held = s.liveBytes + this.#programBytes + size;
    if (held + s.pooledBytes <= this.#budget) return;
    if (s.pooledBytes > 0) {
      this.storage.trim(Math.max(0, this.#budget - held));
      this.#trims++;
    }
    if (held <= this.#budget || !this.#collect || this.#collectPending) return;
    if (this.#allocated < this.#collectAfter) return;
    // at most one collection per quarter budget allocated, however much stays live
    this.#collectAfter = this.#allocated + this.#budget / 4;
    this.#requestCollect();
  }

  /** Runs a full garbage collection at the next turn of the event loop (one at a time). */
  #requestCollect(): void {
    this.#collectPending = true;
    this.#sinceCollect = 0;
    this.#minLiveSinceCollect = this.storage.liveCount;
    // at the next turn: nothing unreachable can be finalized before the current job ends
    queueMicrotask(async () => {
      try {
        const gc = await _gcFunction();
        if (gc) {
          gc();
          this.#collections++;
        }
      } finally {
        this.#collectPending = false;
      }
    });
  }

  /**
   * Accounts for buffers or textures a compiled program creates (positive) or destroys
   * (negative), so that they count against the memory budget.
   *
   * @param bytes Bytes created (negative: destroyed).
   * @param count Resources created (negative: destroyed).
   */
  trackProgram(bytes: number, count: number): void {
    this.#programBytes += bytes;
    this.#programBuffers += count;
  }

  /**
   * The compute pipeline of a WGSL source (entry point `main`), compiled once and cached by
   * its source text. A compile error is recorded (see the module doc) and also available
   * from {@link checkCompile}.
   *
   * @param wgsl The source.
   * @param op The op it implements, for error messages and debug output.
   * @returns The pipeline (invalid, if the source does not compile).
   */
  pipeline(wgsl: string, op: string): GPUComputePipeline {
    const hit = this.#lookup(wgsl, op, "");
    if (hit) return hit;
    noteKernel(wgsl); // see precompile.ts
    const device = this.ctx.device;
    // A unique label lets later errors caused by this pipeline being invalid be recognised.
    const label = `${op}#${++this.#labels}`;
    const t0 = performance.now();
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: wgsl, label });
    const pipe = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
      label,
    });
    const ms = performance.now() - t0;
    this.#pipelineMs += ms;
    if (this.#debug >= 1) console.error(`[denax:gpu] created ${label} in ${ms.toFixed(1)} ms`);
    const check = device.popErrorScope().then(async (err) => {
      if (!err) return null;
      const e = await _compileError(op, wgsl, module, err, err.message);
      if (this.#pipelines.get(wgsl) === pipe) this.#uncache(wgsl);
      this.#failedLabels.add(label);
      this.#error ??= e;
      return e;
    });
    this.#checks.set(wgsl, check);
    check.finally(() => this.#checks.delete(wgsl));
    this.#cache(wgsl, pipe);
    return pipe;
  }

  /**
   * Whether the pipeline of a source is in the cache (counted neither as a hit nor as a miss).
   *
   * @param wgsl The source.
   * @returns True when {@link pipeline} would return a cached pipeline.
   */
  hasPipeline(wgsl: string): boolean {
    return this.#pipelines.has(wgsl);
  }

  #cache(wgsl: string, pipe: GPUComputePipeline): void {
    this.#pipelines.set(wgsl, pipe);
    this.#pipelineBytes += wgsl.length;
    this.#evictPipelines(wgsl);
  }

  #evictPipelines(keep: string | null): void {
    for (const old of this.#pipelines.keys()) {
      if (
        this.#pipelines.size <= this.#maxPipelines && this.#pipelineBytes <= this.#maxPipelineBytes
      ) {
        break;
      }
      if (old === keep) continue;
      this.#uncache(old);
      this.#pipelineEvictions++;
    }
  }

  #uncache(wgsl: string): void {
    if (this.#pipelines.delete(wgsl)) this.#pipelineBytes -= wgsl.length;
  }

  /** The cached pipeline of a source (counted as a hit), or undefined (a miss, printed). */
  #lookup(wgsl: string, op: string, how: string): GPUComputePipeline | undefined {
    const hit = this.#pipelines.get(wgsl);
    if (hit) {
      this.#hits++;
      // most recently used last: eviction takes the first entries
      this.#pipelines.delete(wgsl);
      this.#pipelines.set(wgsl, hit);
      return hit;
    }
    this.#misses++;
    if (this.#debug >= 1) {
      console.error(`[denax:gpu] compile ${how}${op} (${wgsl.split("\n").length} lines)`);
    }
    if (this.#debug >= 3) console.error(numberLines(wgsl));
    return undefined;
  }

  /**
   * The pipeline of a WGSL source, created with `createComputePipelineAsync` (cached with the
   * synchronous {@link pipeline}, so later dispatches of the source find it). For callers that
   * can wait: the autotuner's background jobs. (Measured on Deno 2.9 with llvmpipe, the async
   * call does the same work before resolving, and llvmpipe compiles the machine code at the
   * first dispatch either way, so synchronous creation costs no more on the eager path.)
   *
   * @param wgsl The source.
   * @param op The op it implements.
   * @returns The pipeline.
   * @throws {GpuError} With the compiler's message and the numbered source.
   */
  async pipelineAsync(wgsl: string, op: string): Promise<GPUComputePipeline> {
    const hit = this.#lookup(wgsl, op, "(async) ");
    if (hit) return hit;
    const device = this.ctx.device;
    const label = `${op}#${++this.#labels}`;
    const module = device.createShaderModule({ code: wgsl, label });
    let pipe: GPUComputePipeline;
    try {
      pipe = await device.createComputePipelineAsync({
        layout: "auto",
        compute: { module, entryPoint: "main" },
        label,
      });
    } catch (err) {
      throw await _compileError(op, wgsl, module, err, String((err as Error)?.message ?? err));
    }
    // a synchronous creation of the same source while this one was pending wins
    const raced = this.#pipelines.get(wgsl);
    if (raced) return raced;
    this.#cache(wgsl, pipe);
    return pipe;
  }

  /**
   * Compiles a WGSL source and waits for the compiler's verdict.
   *
   * @param wgsl The source.
   * @param op The op it implements.
   * @returns The pipeline.
   * @throws {GpuError} With the compiler's message and the numbered source.
   */
  async checkCompile(wgsl: string, op: string): Promise<GPUComputePipeline> {
    const p = this.pipeline(wgsl, op);
    const e = await (this.#checks.get(wgsl) ?? Promise.resolve(null));
    if (e) {
      if (this.#error === e) this.#error = null; // reported here, not at the next read
      throw e;
    }
    return p;
  }

  /**
   * The uniform buffer holding `words` (u32s), the `_P` of a shape-generic kernel (see
   * `genericKernel` in `kernels/common.ts`). Buffers are immutable and shared by content: one
   * per distinct word list, the least recently used dropped past 4096 (a dropped buffer lives
   * on while commands or bind groups still hold it).
   *
   * @param words The words.
   * @returns The buffer (at least 16 bytes).
   */
  paramsBuffer(words: readonly number[]): GPUBuffer {
    const key = words.join(",");
    const hit = this.#params.get(key);
    if (hit) {
      this.#params.delete(key);
      this.#params.set(key, hit);
      return hit;
    }
    const bytes = Math.max(16, Math.ceil(words.length / 4) * 16);
    // UNIFORM 0x40
    const buf = this.ctx.device.createBuffer({ size: bytes, usage: 0x40, mappedAtCreation: true });
    new Uint32Array(buf.getMappedRange()).set(words);
    buf.unmap();
    this.#params.set(key, buf);
    if (this.#params.size > 4096) this.#params.delete(this.#params.keys().next().value!);
    return buf;
  }

  #beginPass(): GPUComputePassEncoder {
    this.#encoder ??= this.ctx.device.createCommandEncoder();
    this.#pass ??= this.#encoder.beginComputePass();
    return this.#pass;
  }

  #endPass(): GPUCommandEncoder {
    this.#encoder ??= this.ctx.device.createCommandEncoder();
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    return this.#encoder;
  }

  /**
   * Records one kernel dispatch into the shared encoder.
   *
   * @param kernel The kernel.
   * @param buffers The buffer of each binding, in order (the uniform of its
   * {@link Kernel.params} follows them; the runtime binds it).
   * @param op The op, for errors and debug output.
   */
  dispatch(kernel: Kernel, buffers: readonly (GPUBuffer | GPUTexture)[], op: string): void {
    this.#sched.submit(() => this.#dispatch(kernel, buffers, op), buffers);
  }

  #dispatch(kernel: Kernel, buffers: readonly (GPUBuffer | GPUTexture)[], op: string): void {
    const [x, y, z] = kernel.dispatch;
    if (x === 0 || y === 0 || z === 0) return;
    const pipe = this.pipeline(kernel.wgsl, op);
    const entries: GPUBindGroupEntry[] = buffers.map((r, binding) => ({
      binding,
      resource: r instanceof GPUBuffer ? { buffer: r } : r.createView({ dimension: "2d-array" }),
    }));
    if (kernel.params) {
      entries.push({
        binding: entries.length,
        resource: { buffer: this.paramsBuffer(kernel.params) },
      });
    }
    const bindGroup = this.ctx.device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries,
    });
    const prof = this.profiler;
    if (prof && this.#encoder && prof.full(this.#encoder)) this.flush();
    // Profiling: one pass per dispatch, its start and end time-stamped.
    const pass = prof ? this.beginPass(this.#endPass(), op)! : this.#beginPass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (prof) pass.end();
    this.#dispatches++;
    if (++this.#pending >= this.#flushEvery) this.flush();
  }

  /**
   * Records a buffer-to-buffer copy into the shared encoder.
   *
   * @param src Source buffer.
   * @param dst Destination buffer.
   * @param bytes Bytes to copy (a multiple of 4).
   */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
    this.#sched.submit(() => this.#copy(src, dst, bytes), [src, dst]);
  }

  #copy(src: GPUBuffer, dst: GPUBuffer, bytes: number): void {
    if (bytes === 0) return;
    this.#endPass().copyBufferToBuffer(src, 0, dst, 0, bytes);
    this.#pending++;
  }

  /**
   * Runs a lowered primitive: acquires its temporaries, records its steps, releases the
   * temporaries.
   *
   * @param plan The plan.
   * @param inputs Input buffers.
   * @param outputs Output buffers.
   * @param op The op, for errors.
   */
  run(plan: Plan, inputs: readonly GPUBuffer[], outputs: readonly GPUBuffer[], op: string): void {
    this.#sched.submit(() => this.#run(plan, inputs, outputs, op), [...inputs, ...outputs]);
  }

  #run(plan: Plan, inputs: readonly GPUBuffer[], outputs: readonly GPUBuffer[], op: string): void {
    const temps = plan.temps.map((b) => this.acquire(b));
    const texs = (plan.textures ?? []).map((t) => this.#acquireTexture(t));
    const pick = (r: BufRef) =>
      r.kind === "in" ? inputs[r.index] : r.kind === "out" ? outputs[r.index] : temps[r.index];
    const pickAny = (r: BufRef | TexRef) => (r.kind === "tex" ? texs[r.index][1] : pick(r));
    for (const s of plan.steps) {
      if (s.kind === "dispatch") this.#dispatch(s.kernel, s.kernel.bindings.map(pickAny), op);
      else if (s.kind === "copy") this.#copy(pick(s.src), pick(s.dst), s.bytes);
      else {
        const t = plan.textures![s.dst.index];
        this.#endPass().copyBufferToTexture(
          { buffer: pick(s.src), offset: 0, bytesPerRow: s.bytesPerRow, rowsPerImage: t.height },
          { texture: texs[s.dst.index][1] },
          [t.width, t.height, t.layers],
        );
        this.#pending++;
      }
    }
    for (const t of temps) this.#release(t);
    for (const [key, t] of texs) this.#releaseTexture(key, t);
  }

  #acquireTexture(t: TextureSpec): [string, GPUTexture] {
    const key = `${t.width}x${t.height}x${t.layers}:${t.format}`;
    const hit = this.#textures.get(key)?.pop();
    if (hit) return [key, hit];
    const tex = this.ctx.device.createTexture({
      size: [t.width, t.height, t.layers],
      format: t.format,
      // COPY_DST 0x02 | TEXTURE_BINDING 0x04 | STORAGE_BINDING 0x08
      usage: 0x02 | 0x04 | 0x08,
    });
    return [key, tex];
  }

  #releaseTexture(key: string, tex: GPUTexture): void {
    const put = () => {
      let list = this.#textures.get(key);
      if (!list) this.#textures.set(key, list = []);
      if (list.length < 4) list.push(tex);
      else tex.destroy();
    };
    if (this.#encoder) this.#deferredTex.push(put);
    else put();
  }

  /**
   * For code that records its own command encoders (compiled programs): begins a compute pass
   * for one dispatch of `op`, timed when profiling. Without profiling it returns null and the
   * caller may keep one pass for many dispatches.
   *
   * @param encoder The caller's encoder.
   * @param op The label the dispatch is profiled under.
   * @returns The pass (end it after the dispatch), or null when not profiling.
   */
  beginPass(encoder: GPUCommandEncoder, op: string): GPUComputePassEncoder | null {
    return this.profiler ? encoder.beginComputePass(this.profiler.pass(encoder, op)) : null;
  }

  /**
   * Submits a command encoder recorded outside the runtime (a compiled program's) after the
   * runtime's own pending work, with its timestamp queries resolved when profiling.
   *
   * @param encoder The encoder (no pass open).
   */
  submitEncoder(encoder: GPUCommandEncoder): void {
    this.flush();
    this.#submit(encoder);
  }

  #submit(enc: GPUCommandEncoder): void {
    const timed = this.profiler?.resolve(enc);
    const t0 = performance.now();
    this.ctx.device.queue.submit([enc.finish()]);
    this.#submitMs += performance.now() - t0;
    submitted();
    timed?.();
    this.#submits++;
    this.storage.tick();
    if (
      this.collectEvery > 0 && ++this.#sinceCollect >= this.collectEvery && this.#collect &&
      !this.#collectPending
    ) this.#requestCollect();
  }

  /** Submits the shared encoder, if it holds anything. */
  flush(): void {
    if (!this.#encoder) return;
    const enc = this.#endPass();
    this.#encoder = null;
    this.#pending = 0;
    this.#submit(enc);
    for (const b of this.#deferred) this.storage.release(b);
    this.#deferred.length = 0;
    for (const put of this.#deferredTex) put();
    this.#deferredTex.length = 0;
  }

  /**
   * Returns a storage buffer to the pool, deferred while unsubmitted commands, or commands held
   * back behind a deferred task, may use it. For buffers whose owner is gone (collected); an
   * explicit release goes through {@link releaseOrdered}.
   *
   * @param buf A buffer from {@link storage}.
   */
  release(buf: GPUBuffer): void {
    this.#sched.whenUnused(buf, () => this.#release(buf));
  }

  /**
   * Releases a buffer after all work issued so far (an explicit `dispose`): while a deferred
   * task is pending the release waits in line, since the task may still read the buffer.
   *
   * @param buf A buffer from {@link storage}.
   * @param then Called when the release happens.
   */
  releaseOrdered(buf: GPUBuffer, then?: () => void): void {
    this.#sched.submit(() => {
      then?.();
      this.release(buf);
    });
  }

  #release(buf: GPUBuffer): void {
    if (this.#encoder) this.#deferred.push(buf);
    else this.storage.release(buf);
  }

  /**
   * Uploads host bytes into a storage buffer (queue order: after all submitted work).
   *
   * @param buf The destination buffer.
   * @param data The bytes (a multiple of 4); copied if the upload has to wait.
   */
  write(buf: GPUBuffer, data: ArrayBufferView<ArrayBuffer>): void {
    if (data.byteLength === 0) return;
    if (this.#sched.blocked) {
      data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    }
    this.#sched.submit(() => this.ctx.device.queue.writeBuffer(buf, 0, data), [buf]);
  }

  /**
   * Runs `op` now, or after the pending deferred tasks (see `defer.ts`), keeping `uses` out of
   * the pool until it has run. For callers that record commands of their own (compiled
   * programs); the runtime's own methods already go through this.
   *
   * @param op The operation.
   * @param uses The buffers it reads or writes.
   */
  enqueue(op: () => void, uses: readonly GPUBuffer[] = []): void {
    this.#sched.submit(op, uses);
  }

  /**
   * Runs an asynchronous task after all work issued so far and before any work issued later,
   * which is held back until it finishes (`Backend.defer`). Work issued inside `direct(fn)`
   * runs at once; an error thrown by the task is thrown by the next read or sync.
   *
   * @param task The task.
   */
  defer(task: DeferredTask): void {
    this.#sched.defer(task);
  }

  /** Deferred tasks now pending (running or waiting), for tests. */
  get pendingTasks(): number {
    return this.#sched.pendingTasks;
  }

  async #raise(): Promise<void> {
    if (this.#checks.size) await Promise.all(this.#checks.values());
    // Errors about using a pipeline that failed to compile are consequences of the compile
    // error already recorded, not news.
    const others = this.ctx.takeErrors().filter((e) =>
      ![...this.#failedLabels].some((l) => e.message.includes(`'${l}'`))
    );
    const lost = others.find((x) => x instanceof GpuUnavailableError);
    const e = this.#error ?? lost ?? this.#sched.takeError()?.value ?? others[0];
    this.#error = null;
    if (e) throw e;
  }

  async #wait<T>(p: Promise<T>): Promise<T> {
    const r = await Promise.race([p, this.ctx.lost]);
    if (r instanceof Error) throw r;
    return r as T;
  }

  /**
   * Reads `bytes` bytes of a storage buffer back: submits pending work with a copy into a
   * pooled staging buffer and maps it.
   *
   * @param buf The buffer.
   * @param bytes How many bytes (a multiple of 4).
   * @returns A copy of the bytes.
   * @throws {GpuError} For a compile or device error recorded since the last readback.
   * @throws {GpuUnavailableError} When the device is lost.
   */
  read(buf: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    return this.#sched.submitAsync(() => this.#read(buf, bytes), [buf]);
  }

  async #read(buf: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    if (bytes === 0) {
      this.flush();
      await this.#raise();
      return new ArrayBuffer(0);
    }
    const staging = this.#staging.acquire(bytes);
    this.#endPass().copyBufferToBuffer(buf, 0, staging, 0, bytes);
    this.flush();
    let data: ArrayBuffer;
    try {
      data = await readMapped(staging, bytes, (p) => this.#wait(p));
    } catch (e) {
      await this.#raise();
      throw e;
    }
    this.#staging.release(staging);
    await this.#raise();
    return data;
  }

  /**
   * Submits pending work and waits for the device to finish it.
   *
   * @throws {GpuError} For a compile or device error recorded since the last readback.
   * @throws {GpuUnavailableError} When the device is lost.
   */
  sync(): Promise<void> {
    return this.#sched.submitAsync(() => this.#sync());
  }

  async #sync(): Promise<void> {
    this.flush();
    await this.#wait(this.ctx.device.queue.onSubmittedWorkDone());
    await this.#raise();
  }
}

/** The error of a WGSL source that does not compile: the compiler's messages and the source. */
async function _compileError(
  op: string,
  wgsl: string,
  module: GPUShaderModule,
  cause: unknown,
  fallback: string,
): Promise<GpuError> {
  let detail = fallback;
  try {
    const msgs = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
    if (msgs.length) {
      detail = msgs.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message.trim()}`).join("\n");
    }
  } catch { /* keep the fallback message */ }
  return new GpuError(`Cannot compile the WGSL kernel of ${op}: ${detail}\n${numberLines(wgsl)}`, {
    op,
    wgsl,
    cause,
  });
}

let _gc: Promise<(() => void) | null> | null = null;

/**
 * V8's full garbage collection: `globalThis.gc` under `--expose-gc`, else the same function
 * exposed at run time through `node:v8` (null where neither works).
 */
function _gcFunction(): Promise<(() => void) | null> {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === "function") return Promise.resolve(g);
  _gc ??= (async () => {
    try {
      const v8 = await import("node:v8");
      const vm = await import("node:vm");
      v8.setFlagsFromString("--expose-gc");
      const fn = vm.runInNewContext("gc");
      return typeof fn === "function" ? fn as () => void : null;
    } catch {
      return null;
    }
  })();
  return _gc;
}
