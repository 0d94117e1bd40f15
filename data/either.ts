/**
 * The one result type of every fallible I/O path in denax (datasets, safetensors, checkpoints):
 * fp-ts's `Either`, declared here structurally.
 *
 * fp-ts's own `Either` lives in an npm package, so `deno doc --lint` counts it as a private type
 * in our signatures (and re-exporting it would pull fp-ts's undocumented interfaces into our
 * docs). These declarations are structurally identical to fp-ts's (`_tag`, `left`, `right`), so
 * every fp-ts function accepts them and `E.left(...)` / `E.right(...)` produce them.
 *
 * @example
 * ```ts
 * import { type Either, readBytes } from "@denax/denax/data";
 * import * as E from "fp-ts/lib/Either.js";
 * import { pipe } from "fp-ts/lib/function.js";
 * import { assertEquals } from "@std/assert";
 * const r: Either<Error, Uint8Array> = await readBytes("/nonexistent/file");
 * assertEquals(pipe(r, E.match((e) => e.name, (b) => `${b.length} bytes`)), "CheckpointError");
 * ```
 *
 * @module
 */

/** The failure case of an {@link Either}: `{ _tag: "Left", left }`. */
export interface Left<L> {
  /** Discriminant. */
  readonly _tag: "Left";
  /** The error. */
  readonly left: L;
}

/** The success case of an {@link Either}: `{ _tag: "Right", right }`. */
export interface Right<R> {
  /** Discriminant. */
  readonly _tag: "Right";
  /** The value. */
  readonly right: R;
}

/**
 * fp-ts's `Either` (structurally the same type): `Left` holds an error, `Right` a value. Use
 * fp-ts to take it apart: `E.isLeft(r)`, `E.match(onError, onValue)(r)`, `pipe(r, E.map(f))`.
 */
export type Either<L, R> = Left<L> | Right<R>;
