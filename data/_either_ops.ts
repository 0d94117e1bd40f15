/**
 * The few `Either` functions denax's own I/O code uses, on the structural `Either` of
 * `either.ts` (fp-ts's representation: `{ _tag: "Left", left }` / `{ _tag: "Right", right }`),
 * so that importing denax does not load fp-ts: its CommonJS build goes through Deno's Node
 * compatibility loader, which cost 25-40 ms of every process's start (W5's cold start). Users
 * take the results apart with fp-ts as before; these are not exported.
 *
 * @module
 */
import type { Either, Left, Right } from "./either.ts";

/** A failure (fp-ts's `E.left`). */
export const left = <L, R = never>(l: L): Either<L, R> => ({ _tag: "Left", left: l });

/** A success (fp-ts's `E.right`). */
export const right = <R, L = never>(r: R): Either<L, R> => ({ _tag: "Right", right: r });

/** Whether `e` is a failure (fp-ts's `E.isLeft`). */
export const isLeft = <L, R>(e: Either<L, R>): e is Left<L> => e._tag === "Left";

/** Whether `e` is a success (fp-ts's `E.isRight`). */
export const isRight = <L, R>(e: Either<L, R>): e is Right<R> => e._tag === "Right";

/** `f` of the value of a success; a failure as it is (fp-ts's `E.flatMap(e, f)`). */
export const flatMap = <L, R, L2, R2>(
  e: Either<L, R>,
  f: (r: R) => Either<L2, R2>,
): Either<L | L2, R2> => (e._tag === "Left" ? e : f(e.right));

/** A failure with `f` applied to its error; a success as it is (fp-ts's `E.mapLeft(e, f)`). */
export const mapLeft = <L, R, L2>(e: Either<L, R>, f: (l: L) => L2): Either<L2, R> =>
  e._tag === "Left" ? { _tag: "Left", left: f(e.left) } : e;
