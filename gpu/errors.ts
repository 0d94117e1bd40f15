/**
 * The typed errors of the WebGPU backend. Every device failure (no adapter, a lost device, a
 * validation error, a shader that does not compile) surfaces as one of these, at the call that
 * can observe it (device creation, or the next readback), never as a hang.
 *
 * @module
 */

/** No WebGPU adapter or device can be had, or the device was lost. */
export class GpuUnavailableError extends Error {
  /** Makes the error; `reason` says why the device is missing or was lost. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "GpuUnavailableError";
  }
}

/** A device-side error: a WGSL compile failure, a validation error, an out-of-memory error. */
export class GpuError extends Error {
  /** The op whose kernel failed, where known (e.g. `"exp"`). */
  readonly op: string | undefined;
  /** The WGSL source of the failing kernel, where known. */
  readonly wgsl: string | undefined;

  /** Makes the error; `op` and `wgsl` name the kernel that failed, where known. */
  constructor(message: string, opts: { op?: string; wgsl?: string; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = "GpuError";
    this.op = opts.op;
    this.wgsl = opts.wgsl;
  }
}

/**
 * Numbers the lines of a WGSL source for an error message (`  12 | let x = ...`).
 *
 * @param src The WGSL source.
 * @returns The source with right-aligned line numbers.
 */
export function numberLines(src: string): string {
  const lines = src.split("\n");
  const w = String(lines.length).length;
  return lines.map((l, i) => `${String(i + 1).padStart(w)} | ${l}`).join("\n");
}
