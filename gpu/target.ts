/**
 * The device profile: every code-generation choice that is tuned for one kind of adapter, chosen
 * once when the device is requested (`gpu/device.ts`) and read by the kernel builders.
 *
 * Two profiles exist. "cpu-adapter" is for software adapters (Mesa's llvmpipe/lavapipe,
 * SwiftShader, WARP), where storage reads cost a loop over the SIMD lanes and textures are read
 * several times faster, whole vec4s are loaded much faster than scalars, and the shader compiler
 * reassociates products with literals. "gpu" is for real GPUs and carries none of that tuning:
 * plain f32 literals, storage reads, no texture staging, one element per invocation.
 *
 * Kept on both profiles because they are about correctness, not speed: the chunking of long loops
 * ({@link MAX_LOOP_ITERATIONS} in `kernels/common.ts`; llvmpipe ends an invocation's loops after
 * 65535 iterations, and other drivers have watchdogs) and the opaque zero that keeps the Kahan
 * compensation of `kernels/reduce.ts` from being folded (any compiler that reassociates IEEE
 * sums may fold it).
 *
 * `DENAX_GPU_PROFILE=cpu|gpu` overrides the choice (the whole test suite runs under both on the
 * software adapter, so the path real GPUs take is tested).
 *
 * @module
 */

/** The name of a device profile. */
export type ProfileName = "cpu-adapter" | "gpu";

/** Code-generation choices tuned for one kind of adapter. */
export interface DeviceProfile {
  /** "cpu-adapter" (software adapters) or "gpu". */
  readonly name: ProfileName;
  /** GEMMs pack their operands into textures (`kernels/gemm_texture.ts`) by default. */
  readonly textureGemm: boolean;
  /** Elementwise kernels (eager and jitted) copy large operands into textures first. */
  readonly textureStaging: boolean;
  /** Operands of at least this many texels (vec4s) are staged when `textureStaging` is set. */
  readonly stageMinTexels: number;
  /** Elementwise kernels compute four consecutive elements per invocation with vec4 loads. */
  readonly fourLane: boolean;
  /**
   * f32 literals are emitted as `bitcast<f32>(bits ^ _step.w)` (an opaque zero) so that Mesa does
   * not reassociate `(a·b)·#c` into `a·(b·#c)`, which changes the rounding.
   */
  readonly literalMask: boolean;
}

/** The profile of software adapters (llvmpipe, lavapipe, SwiftShader, WARP). */
export const CPU_ADAPTER_PROFILE: DeviceProfile = Object.freeze({
  name: "cpu-adapter",
  textureGemm: true,
  textureStaging: true,
  stageMinTexels: 1024,
  fourLane: true,
  literalMask: true,
});

/** The profile of real GPUs: none of the CPU-adapter tuning. */
export const GPU_PROFILE: DeviceProfile = Object.freeze({
  name: "gpu",
  textureGemm: false,
  textureStaging: false,
  stageMinTexels: Infinity,
  fourLane: false,
  literalMask: false,
});

/** What {@link selectProfile} reads of an adapter (a subset of `GPUAdapterInfo`). */
export interface AdapterFacts {
  /** Whether the browser/runtime marks the adapter as a fallback (software) adapter. */
  readonly isFallbackAdapter?: boolean;
  /** The vendor, e.g. `"mesa"`, `"nvidia"`. */
  readonly vendor?: string;
  /** The architecture, e.g. `"hopper"`. */
  readonly architecture?: string;
  /** The description, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"`. */
  readonly description?: string;
}

const _SOFTWARE = /llvmpipe|lavapipe|swiftshader|warp|software/i;

/**
 * Whether an adapter is a CPU implementation: marked as a fallback adapter, or its vendor,
 * architecture or description names llvmpipe, lavapipe, SwiftShader or WARP.
 *
 * @param info The adapter's info.
 * @returns True for software adapters.
 * @example
 * ```ts
 * import { isSoftwareAdapter } from "./target.ts";
 * if (!isSoftwareAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)" })) throw new Error();
 * if (isSoftwareAdapter({ vendor: "nvidia", architecture: "hopper" })) throw new Error();
 * ```
 */
export function isSoftwareAdapter(info: AdapterFacts | undefined): boolean {
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  return [info.vendor, info.architecture, info.description].some((s) => !!s && _SOFTWARE.test(s));
}

/**
 * Chooses the device profile of an adapter: "cpu-adapter" for software adapters, "gpu" otherwise,
 * unless `override` (the value of `DENAX_GPU_PROFILE` or an init option) names one.
 *
 * @param info The adapter's info.
 * @param override `"cpu"`, `"cpu-adapter"` or `"gpu"`; empty or undefined: by the adapter.
 * @returns The profile.
 * @throws {RangeError} When `override` names no profile.
 * @example
 * ```ts
 * import { selectProfile } from "./target.ts";
 * if (selectProfile({ description: "llvmpipe" }).name !== "cpu-adapter") throw new Error();
 * if (selectProfile({ description: "llvmpipe" }, "gpu").name !== "gpu") throw new Error();
 * ```
 */
export function selectProfile(info: AdapterFacts | undefined, override?: string): DeviceProfile {
  const o = override?.trim().toLowerCase();
  if (o) {
    if (o === "cpu" || o === "cpu-adapter") return CPU_ADAPTER_PROFILE;
    if (o === "gpu") return GPU_PROFILE;
    throw new RangeError(`DENAX_GPU_PROFILE: expected "cpu" or "gpu", got "${override}"`);
  }
  return isSoftwareAdapter(info) ? CPU_ADAPTER_PROFILE : GPU_PROFILE;
}

let _active: DeviceProfile = CPU_ADAPTER_PROFILE;

/**
 * The profile of the device the kernels are built for: set by `requestGpu` when the device is
 * requested (all devices of a process come from the one adapter), "cpu-adapter" before that.
 *
 * @returns The active profile.
 * @example
 * ```ts
 * import { activeProfile } from "./target.ts";
 * const p = activeProfile();
 * if (p.name !== "cpu-adapter" && p.name !== "gpu") throw new Error();
 * ```
 */
export function activeProfile(): DeviceProfile {
  return _active;
}

/**
 * Sets the profile kernels are built for (called by `requestGpu`; tests may pin a profile and
 * restore the previous one).
 *
 * @param p The profile.
 * @returns The previous profile.
 * @example
 * ```ts
 * import { activeProfile, GPU_PROFILE, setActiveProfile } from "./target.ts";
 * const prev = setActiveProfile(GPU_PROFILE);
 * if (activeProfile() !== GPU_PROFILE) throw new Error("the profile was not set");
 * setActiveProfile(prev);
 * ```
 */
export function setActiveProfile(p: DeviceProfile): DeviceProfile {
  const prev = _active;
  _active = p;
  return prev;
}
