/**
 * Whether this machine's only WebGPU adapter is a software one, for `init()`'s default choice
 * of the native backend.
 *
 * @module
 */
import { ensureXdgRuntimeDir } from "../gpu/device.ts";

// adapters stay referenced: Deno panics reading the info of a collected adapter
const _adapters: unknown[] = [];
let _probe: Promise<boolean> | null = null;

/** Adapter descriptions of CPU implementations of WebGPU/Vulkan/D3D. */
export const SOFTWARE_ADAPTER: RegExp = /llvmpipe|lavapipe|swiftshader|warp|software/i;

/**
 * Whether WebGPU here offers no adapter, or only a software/fallback one
 * (`info.isFallbackAdapter`, or an llvmpipe/lavapipe/SwiftShader/WARP description or vendor).
 * Cached after the first call; requests an adapter but never a device.
 *
 * @returns `true` when the native CPU backend should be the default
 * @example
 * ```ts
 * import { softwareOnlyAdapter } from "./select.ts";
 * const onlySoftware = await softwareOnlyAdapter();
 * console.log(onlySoftware); // true on a machine without a GPU (llvmpipe or no adapter)
 * if (typeof onlySoftware !== "boolean") throw new Error(`got ${onlySoftware}`);
 * ```
 */
export function softwareOnlyAdapter(): Promise<boolean> {
  _probe ??= (async () => {
    try {
      const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
      if (!gpu) return true;
      ensureXdgRuntimeDir();
      const a = await gpu.requestAdapter({ powerPreference: "high-performance" });
      if (!a) return true;
      _adapters.push(a);
      const info = a.info ?? {};
      return !!info.isFallbackAdapter ||
        SOFTWARE_ADAPTER.test(
          `${info.description ?? ""} ${info.vendor ?? ""} ${info.device ?? ""}`,
        );
    } catch {
      return true;
    }
  })();
  return _probe;
}
