/**
 * Bundled beside the library by `tests/bundle_test.ts` (an extra entry of `tools/bundle.ts`, so
 * that it shares the library's chunks and state): the internals the test reads in the bundle.
 *
 * @module
 */
export {
  forgetKernels,
  precompileIdle,
  precompileProgram,
  precompileStats,
  setPrecompile,
} from "../../gpu/precompile.ts";
export { lastCompiled } from "../../gpu/jit/mod.ts";
export { programCacheStats, sourceFingerprint } from "../../gpu/jit/disk_cache.ts";
export { poolStats } from "../../native/pool.ts";
export { currentBackend } from "../../core/backend.ts";
