/**
 * Loading the platform's BLAS for the native backend with `Deno.dlopen` (this folder is the one
 * place outside `gpu/device.ts`, `data/` and `examples/` that touches `Deno.*`: the FFI is the
 * point of the backend; nothing here runs until the backend is created, so importing it stays
 * portable).
 *
 * The search: `$DENAX_BLAS` alone when it is set (an explicit choice; `none` asks for the
 * TypeScript GEMM), otherwise the usual places — Debian's OpenBLAS
 * (`/usr/lib/x86_64-linux-gnu/libopenblas.so.0`, the `openblas-pthread` alternatives, the
 * reference `libcblas.so.3`), `/usr/lib/libopenblas.so`, `/usr/lib64`, Homebrew, Apple's
 * Accelerate on macOS, `libopenblas.dll` on Windows. A candidate that does not exist is skipped;
 * one that exists but cannot be loaded (another architecture, not a library, no `cblas_sgemm`)
 * is a {@link BlasLoadError} naming the path. Without `--allow-ffi`, or with no library found,
 * the backend uses `sgemmJs` and prints one line on stderr saying why.
 *
 * @module
 */
import { sgemmJs } from "./gemm_js.ts";

/** Raised when a BLAS library exists but cannot be used (not a library, wrong architecture). */
export class BlasLoadError extends Error {
  /** The library path that was tried. */
  readonly path: string;
  /**
   * Makes the error.
   * @param path the library path that was tried
   * @param message what went wrong
   */
  constructor(path: string, message: string) {
    super(message);
    this.name = "BlasLoadError";
    this.path = path;
  }
}

/** A row-major single-precision GEMM, `C ← alpha · op(A) · op(B) + beta · C` (see `sgemmJs`). */
export type Sgemm = typeof sgemmJs;

/** The GEMM the native backend uses and where it came from. */
export interface Blas {
  /** The GEMM. */
  readonly sgemm: Sgemm;
  /** The library path, or null for the TypeScript GEMM. */
  readonly path: string | null;
  /** A short description (library and its configuration, or why the fallback is used). */
  readonly description: string;
}

/** Where to look for a BLAS, in order, on this operating system. */
export function blasCandidates(os: string = _os()): string[] {
  switch (os) {
    case "darwin":
      return [
        "/System/Library/Frameworks/Accelerate.framework/Accelerate",
        "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
        "/usr/local/opt/openblas/lib/libopenblas.dylib",
      ];
    case "windows":
      return ["libopenblas.dll", "openblas.dll"];
    default:
      return [
        "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
        "/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3",
        "/usr/lib/libopenblas.so",
        "/usr/lib/libopenblas.so.0",
        "/usr/lib64/libopenblas.so.0",
        "/usr/lib64/libopenblaso.so.0",
        "/usr/local/lib/libopenblas.so",
        "/usr/lib/x86_64-linux-gnu/libcblas.so.3",
      ];
  }
}

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const;

/**
 * Multiply-adds under which a GEMM runs on one OpenBLAS thread: a small product does not pay
 * for waking and synchronizing the others, and on a busy machine waiting for a descheduled
 * worker costs more than the product (the MLP step's and the convolutions' GEMMs, up to 2× slower
 * with two threads at a load average of 8 on two cores). Larger GEMMs use one thread per core.
 */
export const SMALL_GEMM = 2 ** 25;

const _loaded = new Map<string, Blas>();
let _warned = false;

/** Options of {@link loadBlas}. */
export interface LoadBlasOptions {
  /** A library path to use instead of the search, or `false` for the TypeScript GEMM. */
  readonly blas?: string | false;
  /** Where the one-line notice about the fallback goes (default: stderr). */
  readonly warn?: (line: string) => void;
}

/**
 * Finds and loads a BLAS, or returns the TypeScript GEMM with a one-line notice.
 *
 * @param opts an explicit path (or `false`) and the notice sink
 * @returns the GEMM with its origin
 * @throws {BlasLoadError} when a library exists at a searched path but cannot be loaded
 * @example
 * ```ts
 * import { loadBlas } from "./blas.ts";
 * const notices: string[] = [];
 * const blas = loadBlas({ blas: false, warn: (line) => notices.push(line) });
 * console.log(blas.path); // null: the TypeScript GEMM, with one notice saying why
 * if (blas.path !== null || notices.length !== 1) throw new Error(`got ${blas.path}`);
 * ```
 */
export function loadBlas(opts: LoadBlasOptions = {}): Blas {
  const warn = opts.warn ?? ((line: string) => {
    if (_warned) return;
    _warned = true;
    console.error(line);
  });
  const fallback = (why: string): Blas => {
    warn(`denax native: ${why}; using the TypeScript GEMM (several times slower)`);
    return { sgemm: sgemmJs, path: null, description: `TypeScript GEMM (${why})` };
  };
  const env = _env("DENAX_BLAS");
  const explicit = opts.blas !== undefined ? opts.blas : env;
  if (explicit === false || explicit === "none") return fallback("BLAS disabled by request");
  const deno = _deno();
  if (!deno?.dlopen) return fallback("this runtime has no Deno.dlopen");
  try {
    if (deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return fallback("--allow-ffi is not granted");
    }
  } catch {
    return fallback("--allow-ffi is not granted");
  }
  const paths = explicit ? [explicit] : blasCandidates();
  for (const path of paths) {
    const hit = _loaded.get(path);
    if (hit) return hit;
    if (!_exists(deno, path)) continue;
    let blas: Blas;
    try {
      blas = _open(deno, path);
    } catch (e) {
      // a bare name (Windows) that the loader cannot find is a missing library, not a broken one
      if (_bare(path) && !explicit) continue;
      throw e;
    }
    _loaded.set(path, blas);
    return blas;
  }
  return fallback(
    explicit
      ? `no BLAS at DENAX_BLAS=${explicit}`
      : `no BLAS found (looked in ${paths.join(", ")}; set DENAX_BLAS)`,
  );
}

/** The Deno namespace, absent outside Deno (the module still loads in a browser). */
type DenoNs = typeof Deno;

function _open(deno: DenoNs, path: string): Blas {
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = deno.dlopen(path, SYMBOLS);
  } catch (e) {
    throw new BlasLoadError(
      path,
      `Cannot load the BLAS library ${path}: ${(e as Error).message}` +
        `\nhelp: install OpenBLAS (Debian: apt-get install libopenblas0), point DENAX_BLAS at a ` +
        `working libopenblas, or set DENAX_BLAS=none for the TypeScript GEMM`,
    );
  }
  const s = lib.symbols;
  let config = "";
  // one thread per core, unless the user chose a count for OpenBLAS already; GEMMs under
  // SMALL_GEMM multiply-adds run on one thread (below)
  const setThreads = s.openblas_set_num_threads &&
      !_env("OPENBLAS_NUM_THREADS") && !_env("OMP_NUM_THREADS")
    ? s.openblas_set_num_threads
    : null;
  const cores = Math.max(1, _cores(deno));
  let threads = cores;
  setThreads?.(cores);
  if (s.openblas_get_config) {
    const p = s.openblas_get_config();
    if (p) config = ` (${deno.UnsafePointerView.getCString(p)})`;
  }
  const f = s.cblas_sgemm;
  const sgemm: Sgemm = (tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => {
    if (m === 0 || n === 0) return;
    if (k === 0) {
      // some BLAS reject lda = 0; the product is empty, so only the beta scaling is left
      sgemmJs(tA, tB, m, n, 0, alpha, a, 1, b, 1, beta, c, ldc);
      return;
    }
    if (setThreads && cores > 1) {
      const want = m * n * k < SMALL_GEMM ? 1 : cores;
      if (want !== threads) setThreads(threads = want);
    }
    f(101, tA ? 112 : 111, tB ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  };
  return { sgemm, path, description: `${path}${config}` };
}

function _deno(): DenoNs | undefined {
  return (globalThis as { Deno?: DenoNs }).Deno;
}
function _os(): string {
  return _deno()?.build?.os ?? "linux";
}
function _env(name: string): string | undefined {
  try {
    return _deno()?.env?.get(name) || undefined;
  } catch {
    return undefined;
  }
}
function _exists(deno: DenoNs, path: string): boolean {
  // bare names (Windows DLLs) are found by the loader's own search
  if (_bare(path)) return true;
  try {
    return deno.statSync(path).isFile;
  } catch (e) {
    // without --allow-read, let dlopen decide
    return e instanceof deno.errors.NotFound ? false : !(e instanceof deno.errors.NotADirectory);
  }
}
function _bare(path: string): boolean {
  return !path.includes("/") && !path.includes("\\");
}
function _cores(deno: DenoNs): number {
  try {
    const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
    // older Deno releases had an unstable `systemCpuInfo`, which the types no longer declare
    const old = deno as { systemCpuInfo?: () => { cores?: number } };
    return nav?.hardwareConcurrency ?? old.systemCpuInfo?.().cores ?? 1;
  } catch {
    return 1;
  }
}
