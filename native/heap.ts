/**
 * Freed memory kept for reuse: the native backend asks glibc's `malloc` (through `mallopt`,
 * loaded with `Deno.dlopen`) to serve large blocks from its heap instead of fresh `mmap`s, and
 * to keep the heap's free top instead of returning it to the system.
 *
 * Every tensor the backend returns is a new `Float32Array`, and V8 takes large backing stores
 * from `calloc`: by default glibc maps each block over its threshold (128 KiB at first, rising
 * to at most 32 MiB as mapped blocks are freed) freshly from the kernel and unmaps it when it is
 * freed, so such a result pays a page fault per 4 KiB at its first write. On the virtual
 * machines this project is measured on a fault costs 5–10 µs: a jitted `relu(x + b)` of NiN's
 * `[128, 96, 28, 28]` activations took 110 ms per call with fresh pages and 13 ms once freed
 * blocks were reused.
 * With `M_MMAP_MAX = 0` and `M_TRIM_THRESHOLD` at its largest, a freed block returns to the
 * heap and the next result of its size reuses its pages (zeroed by `calloc`'s `memset`, not by
 * faults). The process keeps its peak heap instead of shrinking after it, as caching
 * allocators (PyTorch's CUDA one, jemalloc's) do.
 *
 * Linux with glibc only (elsewhere, and without `--allow-ffi`, nothing changes);
 * `DENAX_NATIVE_HEAP=0` leaves `malloc` as it is.
 *
 * @module
 */

import { env } from "../core/env.ts";

/** `mallopt` parameters (glibc's `malloc.h`). */
const M_TRIM_THRESHOLD = -1, M_MMAP_MAX = -4;

let _state: boolean | undefined;

/**
 * Makes glibc's `malloc` keep freed memory for reuse (see the module doc), once per process.
 *
 * @returns whether glibc accepted the settings (false: not Linux with glibc, no FFI permission,
 *   or `DENAX_NATIVE_HEAP=0`)
 * @example
 * ```ts
 * import { keepFreedMemory } from "./heap.ts";
 * const on = keepFreedMemory();
 * if (typeof on !== "boolean" || keepFreedMemory() !== on) throw new Error("not idempotent");
 * ```
 */
export function keepFreedMemory(): boolean {
  if (_state !== undefined) return _state;
  _state = false;
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  try {
    if (!deno?.dlopen || deno.build.os !== "linux" || deno.build.env === "musl") return false;
    if (env("DENAX_NATIVE_HEAP") === "0") return false;
    if (deno.permissions.querySync({ name: "ffi" }).state !== "granted") return false;
    const lib = deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
    });
    // mallopt returns 1 on success
    const trim = lib.symbols.mallopt(M_TRIM_THRESHOLD, 0x7fffffff);
    const mmap = lib.symbols.mallopt(M_MMAP_MAX, 0);
    _state = trim === 1 && mmap === 1;
  } catch {
    // no glibc: malloc stays as it is
  }
  return _state;
}
