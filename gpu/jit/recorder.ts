/**
 * The command recorder of a compiled program's call (see `exec.ts`).
 *
 * @module
 */
import type { GpuRuntime } from "../runtime.ts";

/**
 * `chunkMs`: milliseconds of recording (pipeline creation, mostly) after which a call that is
 * creating pipelines submits what it has recorded so far, at least (the interval grows while the
 * queue falls behind; tests set 0: a submit at every new pipeline until a submit has to wait).
 */
export const recorderSettings: { chunkMs: number } = { chunkMs: 15 };

/** A submit that took this long waited for the queue (an idle queue takes well under 1 ms). */
const _WAITED_MS = 2;

/**
 * WGSL sources this long submit the work recorded before them whatever the interval: Deno's
 * `createShaderModule` grows faster than linearly with a function's statements (llvmpipe, Deno
 * 2.9: 4 KB of WGSL ~3 ms; ResNet-18's 7 × 7 stem convolutions took 180-340 ms each while they
 * were unrolled into 140 KB, before `conv_texture.ts` looped over their kernel columns).
 */
export const LONG_SOURCE_CHARS = 32_768;

/**
 * Records commands into one encoder, a compute pass kept open across dispatches.
 *
 * A call that creates pipelines (a program's first) submits its commands in chunks instead:
 * once an interval (at least `recorderSettings.chunkMs`) has passed since the last submit, before
 * the next new pipeline is created, or before a long one ({@link LONG_SOURCE_CHARS}). On
 * llvmpipe the queue thread then compiles (or loads from Mesa's shader cache) and runs the
 * kernels already recorded while this thread translates the WGSL of the next ones, where one
 * command buffer left the queue idle until the last pipeline existed. Submits keep queue order,
 * so the chunks compute what one command buffer would. Later calls find every pipeline made
 * and submit one command buffer.
 *
 * On lavapipe a submit returns at once while the queue is idle, but waits for the previous
 * command buffer to finish otherwise, and Deno has no way to ask whether it has finished without
 * waiting (`onSubmittedWorkDone` and `mapAsync` wait inside the call). A submit that had to wait
 * means the chunk before it held more work than the queue could run in one interval, and this
 * thread sat idle instead of creating pipelines: the interval then grows by the time waited, so
 * that the next submit finds the queue done; a submit that did not wait halves it again (down to
 * `chunkMs`). ResNet-18's first step in a second process (160 pipelines, llvmpipe, 2 cores at
 * load 10-11) waited 0.6-1.5 s (mean 1.29 s over six runs) in its submits with a fixed interval,
 * 0.47-1.16 s (mean 0.83 s) with this; alone on the machine, 0.18-0.34 s either way (the queue's
 * threads then keep both cores busy while this one waits).
 */
export class Recorder {
  #enc: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #since: number;
  #interval = recorderSettings.chunkMs;
  readonly #rt: GpuRuntime;
  readonly #onSubmit: () => void;
  readonly #now: () => number;
  /**
   * A recorder on the runtime's device.
   *
   * @param rt The runtime.
   * @param onSubmit Called after each submit (the jit counts them).
   * @param now The clock in milliseconds (tests pass their own).
   */
  constructor(rt: GpuRuntime, onSubmit: () => void, now: () => number = () => performance.now()) {
    this.#rt = rt;
    this.#onSubmit = onSubmit;
    this.#now = now;
    this.#since = now();
  }
  /** Milliseconds of recording after which the next new pipeline submits (see the class doc). */
  get interval(): number {
    return this.#interval;
  }
  /**
   * A pipeline is about to be created for the next dispatch: submits what was recorded when the
   * interval has passed, or when the source is long enough that creating it takes a while
   * (the queue then runs the work recorded so far meanwhile).
   *
   * @param chars The length of the pipeline's WGSL source.
   */
  newPipeline(chars: number): void {
    if (this.#enc === null) return;
    if (this.#now() - this.#since >= this.#interval || chars >= LONG_SOURCE_CHARS) this.submit();
  }
  /** Whether commands were recorded and not submitted yet. */
  get pending(): boolean {
    return this.#enc !== null;
  }
  /** The encoder commands are recorded into (made on first use). */
  get encoder(): GPUCommandEncoder {
    return this.#enc ??= this.#rt.ctx.device.createCommandEncoder();
  }
  /**
   * The compute pass for the next dispatch: one shared pass, or with profiling
   * (`DENAX_PROFILE=1`) a fresh time-stamped pass per dispatch that `done` ends.
   */
  pass(label: string): GPUComputePassEncoder {
    const timed = this.#rt.profiler ? this.#rt.beginPass(this.outside(), label) : null;
    if (timed) return timed;
    return this.#pass ??= this.encoder.beginComputePass();
  }
  /** Ends a time-stamped pass (no-op for the shared pass). */
  done(pass: GPUComputePassEncoder): void {
    if (pass !== this.#pass) pass.end();
  }
  /** The encoder, with the shared compute pass ended (for copies). */
  outside(): GPUCommandEncoder {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    return this.encoder;
  }
  /** Submits after the runtime's pending eager work (queue order). */
  submit(): void {
    if (!this.#enc) return;
    const enc = this.outside();
    this.#enc = null;
    // after the runtime's pending eager work; resolves timestamp queries when profiling
    const t0 = this.#now();
    this.#rt.submitEncoder(enc);
    this.#since = this.#now();
    const waited = this.#since - t0;
    this.#interval = waited >= _WAITED_MS
      ? this.#interval + waited
      : Math.max(recorderSettings.chunkMs, this.#interval / 2);
    this.#onSubmit();
  }
}
