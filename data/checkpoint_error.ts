/**
 * The error of every checkpoint and safetensors I/O path: a file that cannot be read or
 * written, or bytes that break a rule of the format, with `kind` naming the rule.
 *
 * @module
 */

/** What went wrong with a checkpoint; see {@link CheckpointError}. */
export type CheckpointErrorKind =
  | "not-found"
  | "io"
  | "truncated"
  | "header-too-large"
  | "invalid-header"
  | "invalid-entry"
  | "duplicate-name"
  | "unknown-dtype"
  | "invalid-offsets"
  | "size-mismatch"
  | "shape-mismatch"
  | "dtype-mismatch"
  | "missing-tensor"
  | "unexpected-tensor";

/**
 * A checkpoint could not be read, written or decoded. `kind` says which rule failed; the
 * message names the tensor and the numbers involved.
 *
 * @example
 * ```ts
 * import { CheckpointError } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const e = new CheckpointError("truncated", "Cannot decode safetensors: file has 3 bytes");
 * assertEquals(e.kind, "truncated");
 * assertEquals(e.name, "CheckpointError");
 * ```
 */
export class CheckpointError extends Error {
  /** Which rule failed. */
  readonly kind: CheckpointErrorKind;
  /**
   * Makes a checkpoint error.
   *
   * @param kind which rule failed
   * @param message sentence case, no period, naming the tensor and the numbers involved
   * @param options the underlying error, if any
   */
  constructor(kind: CheckpointErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CheckpointError";
    this.kind = kind;
  }
}
