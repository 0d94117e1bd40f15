/**
 * @internal How `summary` sees inside combinators: they report every child they apply to the
 * observer in effect (none outside `summary`). Not exported from `nn`.
 *
 * @module
 */
import type { AnyLayer, Params } from "./layer.ts";

/**
 * @internal Observes the children a combinator applies (for `summary`): `enter` before a child
 * runs (its path segment), `leave` after it with the child, its params and its output.
 */
export interface _ChildObserver {
  /** A child at path segment `seg` of the current combinator is about to run. */
  enter(seg: string | number): void;
  /** That child ran. */
  leave(layer: AnyLayer, params: Params, y: unknown): void;
}

let current: _ChildObserver | null = null;

/** @internal The observer in effect, if any. */
export function _observer(): _ChildObserver | null {
  return current;
}

/**
 * @internal Runs `fn` with `obs` observing every combinator child applied meanwhile.
 *
 * @param obs The observer.
 * @param fn What to run.
 * @returns What `fn` returns.
 */
export function _observeChildren<T>(obs: _ChildObserver, fn: () => T): T {
  const prev = current;
  current = obs;
  try {
    return fn();
  } finally {
    current = prev;
  }
}
