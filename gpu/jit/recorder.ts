/**
 * The command recorder of a compiled program's call (see `exec.ts`).
 *
 * @module
 */
import type { GpuRuntime } from "../runtime.ts";

/**
 * `chunkMs`: milliseconds of recording (pipeline creation, mostly) after which a call that is
 * creating pipelines submits what it has recorded so far (tests set 0: a submit at every new
 * pipeline).
 */
export const recorderSettings: { chunkMs: number } = { chunkMs: 15 };

/**
 * Records commands into one encoder, a compute pass kept open across dispatches.
 *
 * A call that creates pipelines (a program's first) submits its commands in chunks instead:
 * once `recorderSettings.chunkMs` have passed since the last submit, at the next new pipeline. On
 * llvmpipe the queue thread then compiles (or loads from Mesa's shader cache) and runs the
 * kernels already recorded while this thread translates the WGSL of the next ones, where one
 * command buffer left the queue idle until the last pipeline existed. Submits keep queue order,
 * so the chunks compute what one command buffer would. Later calls find every pipeline made
 * and submit one command buffer.
 */
export class Recorder {
  #enc: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #since = performance.now();
  readonly #rt: GpuRuntime;
  readonly #onSubmit: () => void;
  /**
   * A recorder on the runtime's device.
   *
   * @param rt The runtime.
   * @param onSubmit Called after each submit (the jit counts them).
   */
  constructor(rt: GpuRuntime, onSubmit: () => void) {
    this.#rt = rt;
    this.#onSubmit = onSubmit;
  }
  /** A pipeline was created for the dispatch about to be recorded. */
  madePipeline(): void {
    if (this.#enc !== null && performance.now() - this.#since >= recorderSettings.chunkMs) {
      this.submit();
    }
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
    this.#rt.submitEncoder(enc);
    this.#since = performance.now();
    this.#onSubmit();
  }
}
