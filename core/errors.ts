/**
 * The named error classes of the core.
 *
 * @module
 */

/** A tracer was used outside the transformation that created it. */
export class TracerLeakError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "TracerLeakError";
  }
}

/** A traced (abstract) value was used where a concrete one is needed. */
export class ConcretizationError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConcretizationError";
  }
}
