/**
 * The on-disk cache of compiled programs: a second process that jits the same function on the
 * same adapter reads the program (fused WGSL kernels and buffer plan) instead of fusing,
 * planning and generating code again (ResNet-18's training step: 0.3 s on a quiet machine,
 * 0.6-0.8 s under load).
 *
 * One file per program, `<hash>.json` in {@link programCacheDir} (`$DENAX_CACHE_DIR`, else
 * `~/.cache/denax/programs`), keyed by the canonical text of the traced jaxpr
 * (`jaxprKeyText`), the donation flags and inlined literals, and the context the compiler reads:
 * the adapter's description, the granted limits, the device profile, the GEMM capabilities, the
 * shape-generic kernel switches, {@link PROGRAM_CACHE_VERSION}, and a fingerprint of denax's
 * `core/` and `gpu/` sources when they are local files (their sizes and modification times: a
 * changed code generator misses; a published package is immutable per version). The file holds the whole key and a hit needs it
 * equal, so a hash collision is a miss. A file that cannot be read, parsed or checked is a miss
 * (and is rewritten), never an error. The directory is kept under `DENAX_CACHE_BYTES` (bytes, or
 * `512M`; default 64 MiB), least recently used files out. `DENAX_CACHE=0` turns the cache off; under
 * `DENAX_STRICT=1` (the test task) it is off unless `DENAX_CACHE_DIR` names a directory.
 *
 * @module
 */
import type { Jaxpr } from "../../core/jaxpr.ts";
import { inBundle } from "../../core/env.ts";
import {
  envBytes,
  listFiles,
  programCacheDir,
  readTextFileOrNull,
  sourceStamps,
  updateFile,
  writeTextFileSyncIfAllowed,
} from "../device.ts";
import { genericKernelsEnabled, genericMaxWork } from "../kernels/common.ts";
import { smallConvMacs } from "../kernels/conv_small.ts";
import { kernelSharingEnabled } from "./share.ts";
import { jaxprKeyText, programFromJson, programToJson } from "./program_io.ts";
import type { Program } from "./program.ts";

/** Bumped when the text form of programs or the executor's reading of them changes. */
export const PROGRAM_CACHE_VERSION = 1;

/** Counters of the program cache, for tests and `DENAX_DEBUG`. */
export const programCacheStats = {
  /** Programs read from the cache. */
  hits: 0,
  /** Lookups that found no usable file. */
  misses: 0,
  /** Programs written. */
  stores: 0,
};

/** What the compiler reads besides the jaxpr (see `compileJaxpr`). */
export interface CacheContext {
  /** The adapter's description. */
  readonly description: string;
  /** Everything else the compile depends on (limits, profile, GEMM capabilities). */
  readonly settings: unknown;
}

let _fingerprint: string | undefined;

/**
 * What compiled programs and autotuning choices were made with: a hash of the stamps (sizes and
 * modification times) of denax's `core/` and `gpu/` sources, or of the bundle's files when denax
 * runs from its bundle (`tools/bundle.ts`), or of this module's URL when the files cannot be
 * read (a remote import, whose URL carries its version).
 *
 * @returns The hash.
 */
export function sourceFingerprint(): string {
  return _fingerprint ??= fingerprintAt(import.meta.url);
}

/**
 * {@link sourceFingerprint} for this module at `here`: from the sources (`here` ends in `.ts`,
 * in `gpu/jit/`), the stamps of `core/` and `gpu/`; from the bundle (a chunk in the bundle's
 * folder), the stamps of the bundle's `.js` files; the URL itself where they cannot be read.
 *
 * @param here The module's URL.
 * @returns The hash.
 */
export function fingerprintAt(here: string): string {
  const stamps = inBundle(here)
    ? sourceStamps([new URL("./", here)], ".js")
    : sourceStamps([new URL("../../core/", here), new URL("../", here)]);
  return hashText(stamps ? stamps.join("\n") : here);
}

/**
 * A 64-bit hash of a string as 16 hex digits (two multiply-xorshift lanes over the UTF-16 code
 * units; a file name, not a security measure: the full key is compared on load).
 *
 * @param s The string.
 * @returns The hash.
 */
export function hashText(s: string): string {
  let h1 = 0xdeadbeef, h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
}

/**
 * The cache key of compiling `j` with these options in this context: null when the cache is
 * off or the jaxpr has no canonical text.
 *
 * @param j The jaxpr.
 * @param opts Donation flags and inlined literals.
 * @param ctx The compile context.
 * @returns The key text, or null.
 */
export function programCacheKey(
  j: Jaxpr,
  opts: {
    readonly donated?: readonly boolean[];
    readonly literals?: readonly unknown[];
    readonly f16?: { readonly ins: readonly boolean[]; readonly outs: readonly boolean[] };
  },
  ctx: CacheContext,
): string | null {
  if (programCacheDir() === null) return null;
  const text = jaxprKeyText(j);
  if (text === null) return null;
  return JSON.stringify({
    version: PROGRAM_CACHE_VERSION,
    sources: sourceFingerprint(),
    adapter: ctx.description,
    settings: ctx.settings,
    generic: [genericKernelsEnabled(), genericMaxWork(), smallConvMacs()],
    shared: kernelSharingEnabled(),
    donated: opts.donated?.map(Number).join("") ?? "",
    f16: opts.f16 ? [opts.f16.ins.map(Number).join(""), opts.f16.outs.map(Number).join("")] : "",
    literals: opts.literals?.map((
      v,
    ) => (v === undefined ? "" : Object.is(v, -0) ? "-0" : String(v))),
  }) + "\n" + text;
}

/**
 * The program cached under `key`, or null (a miss: no file, another key in it, or a file that
 * does not parse).
 *
 * @param key The key text.
 * @returns The program, or null.
 */
export function loadProgram(key: string): Program | null {
  const dir = programCacheDir();
  const path = dir && `${dir}/${hashText(key)}.json`;
  const text = path ? readTextFileOrNull(path) : null;
  try {
    if (text !== null) {
      const f = JSON.parse(text);
      if (f?.key === key && Array.isArray(f.sources)) {
        const p = programFromJson(f.program, f.sources);
        updateFile(path!, "touch");
        programCacheStats.hits++;
        return p;
      }
    }
  } catch { /* corrupt: a miss, rewritten after this compile */ }
  programCacheStats.misses++;
  return null;
}

/**
 * Writes a program under `key` (synchronously: a process may exit right after its first step),
 * then trims the directory to `DENAX_CACHE_BYTES`. Programs with `core` operations are not
 * written; I/O errors are ignored.
 *
 * @param key The key text.
 * @param p The program.
 */
export function storeProgram(key: string, p: Program): void {
  const dir = programCacheDir();
  if (!dir) return;
  const sources: string[] = [];
  const program = programToJson(p, sources);
  if (program === null) return;
  const path = `${dir}/${hashText(key)}.json`;
  const text = JSON.stringify({ key, sources, program });
  if (!writeTextFileSyncIfAllowed(path, text)) return;
  programCacheStats.stores++;
  const bound = envBytes("DENAX_CACHE_BYTES") ?? 64 * 2 ** 20;
  // the directory is listed at the first store and when the running total passes the bound
  const known = _dirBytes.get(dir);
  if (known !== undefined && known + text.length <= bound) _dirBytes.set(dir, known + text.length);
  else _dirBytes.set(dir, _trim(dir, bound, path));
}

/** Bytes in each cache directory as of its last listing plus what this process wrote since. */
const _dirBytes = new Map<string, number>();

/**
 * Removes the least recently used files of `dir` until it holds at most `bytes`.
 *
 * @returns The bytes left.
 */
function _trim(dir: string, bytes: number, keep: string): number {
  const files = listFiles(dir).filter((f) => f.path.endsWith(".json"));
  let total = files.reduce((s, f) => s + f.size, 0);
  files.sort((a, b) => a.mtime - b.mtime);
  for (const f of files) {
    if (total <= bytes) break;
    if (f.path === keep) continue;
    updateFile(f.path, "remove");
    total -= f.size;
  }
  return total;
}
