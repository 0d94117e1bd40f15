/**
 * Generated JavaScript loops of the native jit, kept once per source (`jit_codegen.ts`).
 *
 * @module
 */
import type { LoopKernel } from "./jit_codegen.ts";

/** Distinct generated loops kept for sharing (oldest out first). */
const MAX_SHARED_LOOPS = 4096;
const _loops = new Map<string, LoopKernel["fn"]>();

/**
 * One function per distinct generated loop: the loops that repeat across a network's layers (a
 * batch norm per layer of one shape) share their type feedback and optimized code, so V8
 * optimizes them once instead of running each in its interpreter for its first calls. (A
 * loop's scratch arrays are temporaries of one call, so sharing them is safe: calls never nest.)
 *
 * @param key the loop's source and whatever else its closure depends on
 * @param make builds the function
 * @returns the function kept for `key`
 */
export function sharedLoop(key: string, make: () => LoopKernel["fn"]): LoopKernel["fn"] {
  let fn = _loops.get(key);
  if (!fn) {
    fn = make();
    if (_loops.size >= MAX_SHARED_LOOPS) _loops.delete(_loops.keys().next().value!);
    _loops.set(key, fn);
  }
  return fn;
}
