/**
 * Acquires the WebGPU adapter and device, with the adapter's own limits requested (the defaults
 * are far tighter: 8 storage buffers, 16 KiB of workgroup memory, 256 invocations), and turns
 * device loss and uncaptured errors into the typed errors of `errors.ts`.
 *
 * This is the one module of `gpu/` that touches `Deno.*` (STYLE.md §22): the environment is
 * read here (`DENAX_DEBUG`), and `XDG_RUNTIME_DIR` is given a private directory when it is unset
 * (see {@link ensureXdgRuntimeDir}).
 *
 * @module
 */
import { GpuError, GpuUnavailableError } from "./errors.ts";
import {
  type DeviceProfile,
  isSoftwareAdapter,
  selectProfile,
  setActiveProfile,
} from "./target.ts";

/** The limits a device is requested with, each at the adapter's maximum. */
export const REQUESTED_LIMITS: readonly (keyof GPUSupportedLimits)[] = [
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupsPerDimension",
  "maxTextureDimension2D",
  "maxTextureArrayLayers",
];

/** The granted limits that kernels and the runtime plan with. */
export interface GpuLimits {
  /** Storage buffers one kernel may bind. */
  readonly maxStorageBuffersPerShaderStage: number;
  /** Bytes of `var<workgroup>` memory. */
  readonly maxComputeWorkgroupStorageSize: number;
  /** Invocations per workgroup. */
  readonly maxComputeInvocationsPerWorkgroup: number;
  /** Workgroups per dispatch dimension (65535 everywhere today). */
  readonly maxComputeWorkgroupsPerDimension: number;
  /** Bytes one storage binding may cover. */
  readonly maxStorageBufferBindingSize: number;
  /** Bytes one buffer may hold. */
  readonly maxBufferSize: number;
  /** Width and height of a 2-D texture. */
  readonly maxTextureDimension2D: number;
  /** Layers of a 2-D array texture. */
  readonly maxTextureArrayLayers: number;
}

/** A device with its adapter, limits and error channel. */
export interface GpuContext {
  /** The adapter, kept referenced for the process lifetime (see {@link requestGpu}). */
  readonly adapter: GPUAdapter;
  /** The device. */
  readonly device: GPUDevice;
  /** The adapter's description, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"`. */
  readonly description: string;
  /** The limits granted. */
  readonly limits: GpuLimits;
  /** Whether `timestamp-query` was enabled. */
  readonly timestampQuery: boolean;
  /** Whether `shader-f16` was enabled. */
  readonly shaderF16: boolean;
  /**
   * Whether the adapter is a CPU implementation (llvmpipe, lavapipe, SwiftShader, WARP):
   * kernels that prefer textures over storage reads for their operands use this.
   */
  readonly software: boolean;
  /**
   * The device profile (`gpu/target.ts`): "cpu-adapter" for software adapters, "gpu" otherwise,
   * or what `DENAX_GPU_PROFILE=cpu|gpu` names.
   */
  readonly profile: DeviceProfile;
  /**
   * Returns (and clears) the errors the device reported since the last call, oldest first:
   * `GpuError`s for uncaptured validation, out-of-memory or internal errors, and once the
   * device is lost a `GpuUnavailableError` (that one is never cleared).
   */
  takeErrors(): Error[];
  /** Resolves with a `GpuUnavailableError` when the device is lost; never rejects. */
  readonly lost: Promise<GpuUnavailableError>;
}

// Adapters are never released: Deno panics reading an adapter's info once the adapter object
// has been collected, so every adapter we hand out stays referenced here.
const _adapters: GPUAdapter[] = [];
let _available: Promise<boolean> | null = null;

/**
 * Requests an adapter and a device with the adapter's maxima as `requiredLimits`, and the
 * `timestamp-query` and `shader-f16` features where present, and chooses the device profile
 * (`gpu/target.ts`), which the kernel builders then read.
 *
 * @param profile "cpu" or "gpu" to force a device profile; default: `DENAX_GPU_PROFILE`, else
 *   by the adapter (software adapters get "cpu-adapter").
 * @returns The device context.
 * @throws {GpuUnavailableError} When WebGPU is missing or no adapter or device can be had.
 */
export async function requestGpu(profile?: "cpu" | "gpu"): Promise<GpuContext> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) throw new GpuUnavailableError("WebGPU is not available: navigator.gpu is undefined");
  ensureXdgRuntimeDir();
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    throw new GpuUnavailableError(`WebGPU adapter request failed: ${e}`, { cause: e });
  }
  if (!adapter) throw new GpuUnavailableError("WebGPU is not available: no adapter was found");
  _adapters.push(adapter);
  const requiredLimits: Record<string, number> = {};
  for (const k of REQUESTED_LIMITS) requiredLimits[k] = adapter.limits[k] as number;
  const wanted: GPUFeatureName[] = ["timestamp-query", "shader-f16"];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new GpuUnavailableError(`WebGPU device request failed: ${e}`, { cause: e });
  }
  const pending: Error[] = [];
  let lostError: GpuUnavailableError | null = null;
  const lost = device.lost.then((info) => {
    lostError = new GpuUnavailableError(
      `The WebGPU device was lost (${info.reason}): ${info.message}`,
    );
    return lostError;
  });
  // addEventListener rather than the `onuncapturederror` attribute: Deno's default type library
  // (`deno.window`) declares GPUDevice's events but not that attribute, which only `dom` adds.
  device.addEventListener("uncapturederror", (ev: Event) => {
    if (!(ev instanceof GPUUncapturedErrorEvent)) return;
    const kind = ev.error.constructor?.name ?? "GPUError";
    if (pending.length < 100) {
      pending.push(
        new GpuError(`Uncaptured WebGPU ${kind}: ${ev.error.message}`, {
          cause: ev.error,
        }),
      );
    }
  });
  drainAtExit(device);
  const l = device.limits;
  const prof = selectProfile(adapter.info, profile ?? envVar("DENAX_GPU_PROFILE"));
  setActiveProfile(prof);
  return {
    adapter,
    device,
    description: adapter.info?.description || adapter.info?.vendor || "webgpu",
    limits: {
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxTextureDimension2D: l.maxTextureDimension2D,
      maxTextureArrayLayers: l.maxTextureArrayLayers,
    },
    software: isSoftwareAdapter(adapter.info),
    profile: prof,
    timestampQuery: requiredFeatures.includes("timestamp-query"),
    shaderF16: requiredFeatures.includes("shader-f16"),
    takeErrors(): Error[] {
      const es = pending.splice(0);
      if (lostError) es.push(lostError);
      return es;
    },
    lost,
  };
}

/**
 * Whether a WebGPU adapter can be had here (cached after the first call).
 *
 * @returns `true` when `navigator.gpu.requestAdapter()` gives an adapter.
 */
export function gpuAdapterAvailable(): Promise<boolean> {
  _available ??= (async () => {
    try {
      const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
      if (!gpu) return false;
      ensureXdgRuntimeDir();
      const a = await gpu.requestAdapter();
      if (a) _adapters.push(a);
      return a !== null;
    } catch {
      return false;
    }
  })();
  return _available;
}

/**
 * An environment variable, or undefined when unset or unreadable (no `--allow-env`).
 *
 * @param name The variable's name.
 * @returns Its value.
 */
export function envVar(name: string): string | undefined {
  try {
    return globalThis.Deno?.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * The autotuning cache file: `$XDG_CACHE_HOME/denax/autotune.json`, else
 * `$HOME/.cache/denax/autotune.json`; null when neither variable can be read.
 *
 * @returns The path, or null.
 */
export function autotuneCachePath(): string | null {
  const base = envVar("XDG_CACHE_HOME") || (envVar("HOME") ? `${envVar("HOME")}/.cache` : "");
  return base ? `${base}/denax/autotune.json` : null;
}

/**
 * A byte count from the environment ("1073741824", "512M", "2G", "64K"), or undefined when unset.
 *
 * @param name The variable.
 * @returns The bytes.
 * @throws {RangeError} When the value is not a byte count.
 */
export function envBytes(name: string): number | undefined {
  const v = envVar(name)?.trim();
  if (!v) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(v);
  if (!m) {
    throw new RangeError(`Cannot read ${name}=${v}: expected bytes, or a number with K, M or G`);
  }
  const scale = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2].toLowerCase() as "" | "k"];
  return Math.round(Number(m[1]) * scale);
}

/**
 * The directory of the on-disk program cache (`gpu/jit/disk_cache.ts`): `$DENAX_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/denax/programs`, else `$HOME/.cache/denax/programs`. Null (no cache) when
 * `DENAX_CACHE=0`, when `DENAX_STRICT=1` and `DENAX_CACHE_DIR` is unset (the test task: a test
 * run writes nothing into the user's cache), or when no variable can be read.
 *
 * @returns The directory, or null.
 */
export function programCacheDir(): string | null {
  if (envVar("DENAX_CACHE") === "0") return null;
  const dir = envVar("DENAX_CACHE_DIR");
  if (dir) return dir;
  if (envVar("DENAX_STRICT") === "1") return null;
  const base = envVar("XDG_CACHE_HOME") || (envVar("HOME") ? `${envVar("HOME")}/.cache` : "");
  return base ? `${base}/denax/programs` : null;
}

/**
 * The plain files of a directory with their sizes and modification times (ms since the epoch);
 * empty when it is missing or unreadable.
 *
 * @param dir The directory.
 * @returns The files.
 */
export function listFiles(dir: string): { path: string; size: number; mtime: number }[] {
  const D = globalThis.Deno;
  const out: { path: string; size: number; mtime: number }[] = [];
  try {
    if (!D || !_granted("read", dir)) return out;
    for (const e of D.readDirSync(dir)) {
      if (!e.isFile) continue;
      const path = `${dir}/${e.name}`;
      try {
        const st = D.statSync(path);
        out.push({ path, size: st.size, mtime: st.mtime?.getTime() ?? 0 });
      } catch { /* removed meanwhile */ }
    }
  } catch { /* unreadable: no files */ }
  return out;
}

/**
 * Removes a file, or sets its modification time to now (`touch`); errors are ignored.
 *
 * @param path The file.
 * @param how "remove" or "touch".
 */
export function updateFile(path: string, how: "remove" | "touch"): void {
  const D = globalThis.Deno;
  try {
    if (!D || !_granted("write", path)) return;
    if (how === "remove") D.removeSync(path);
    else D.utimeSync(path, new Date(), new Date());
  } catch { /* gone, or not ours */ }
}

/**
 * Writes a text file now, like {@link writeTextFileIfAllowed} (through a temporary file renamed
 * into place), for writes that must be done before the process may exit.
 *
 * @param path The file.
 * @param text The contents.
 * @returns Whether it was written.
 */
export function writeTextFileSyncIfAllowed(path: string, text: string): boolean {
  const D = globalThis.Deno;
  if (!D) return false;
  const tmp = `${path}.${D.pid}.tmp`;
  try {
    if (!_granted("write", path)) return false;
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) D.mkdirSync(dir, { recursive: true });
    D.writeTextFileSync(tmp, text);
    D.renameSync(tmp, path);
    return true;
  } catch {
    updateFile(tmp, "remove");
    return false;
  }
}

/**
 * The name, size and modification time of each file with extension `ext` (`.ts` unless given)
 * in the `file:` directories given
 * (recursively, in path order): what the program cache fingerprints, so that a changed code
 * generator misses (stat calls: reading and hashing the 1 MB of sources took 60 ms). Null when a
 * directory is not a local one (a published package, immutable per version) or unreadable.
 *
 * @param dirs The directories, as URLs ending in "/".
 * @param ext The files' extension.
 * @returns One line per file, or null.
 */
export function sourceStamps(dirs: readonly URL[], ext = ".ts"): string[] | null {
  const D = globalThis.Deno;
  if (!D) return null;
  const out: string[] = [];
  const walk = (dir: string) => {
    const names = [...D.readDirSync(dir)].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of names) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (e.isFile && e.name.endsWith(ext)) {
        const st = D.statSync(path);
        out.push(`${path} ${st.size} ${st.mtime?.getTime()}`);
      }
    }
  };
  try {
    for (const u of dirs) {
      if (u.protocol !== "file:") return null;
      const dir = decodeURIComponent(u.pathname).replace(/\/$/, "");
      if (!_granted("read", dir)) return null;
      walk(dir);
    }
    return out;
  } catch {
    return null;
  }
}

/**
 * Gives `XDG_RUNTIME_DIR` a private directory (a fresh `Deno.makeTempDir`, mode 0700) when it is
 * unset or empty and the process may read and set it, so that requesting an adapter does not
 * make the Mesa/Vulkan loader print `XDG_RUNTIME_DIR is invalid or not set` twice. Called before
 * every adapter request; a no-op once the variable is set, without `--allow-env`, or where the
 * directory cannot be made.
 *
 * @returns the directory now in `XDG_RUNTIME_DIR`, or undefined when it was left alone unset
 */
export function ensureXdgRuntimeDir(): string | undefined {
  const D = globalThis.Deno;
  if (!D) return undefined;
  try {
    const q = D.permissions.querySync?.({ name: "env", variable: "XDG_RUNTIME_DIR" });
    if (q?.state !== "granted") return undefined;
    const cur = D.env.get("XDG_RUNTIME_DIR");
    if (cur) return cur;
    const dir = D.makeTempDirSync({ prefix: "denax-xdg-" });
    D.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        D.removeSync(dir, { recursive: true });
      } catch {
        // already gone, or no write permission left: a stray empty directory in the temp dir
      }
    });
    return dir;
  } catch {
    return undefined;
  }
}

// Asks without prompting: a permission that is not granted already counts as denied.
function _granted(name: "read" | "write", path: string): boolean {
  return globalThis.Deno?.permissions.querySync?.({ name, path }).state === "granted";
}

/**
 * Reads a text file, or gives null when it is missing or unreadable (no `--allow-read`).
 *
 * @param path The file.
 * @returns Its text, or null.
 */
export function readTextFileOrNull(path: string): string | null {
  try {
    if (!_granted("read", path)) return null;
    return globalThis.Deno?.readTextFileSync(path) ?? null;
  } catch {
    return null;
  }
}

/**
 * Writes a text file, creating its directory, through a temporary file renamed into place
 * (so a concurrent reader never sees half a file).
 *
 * @param path The file.
 * @param text The contents.
 * @returns Whether it was written (false without `--allow-write`, or on any I/O error).
 */
export async function writeTextFileIfAllowed(path: string, text: string): Promise<boolean> {
  const D = globalThis.Deno;
  if (!D) return false;
  try {
    if (!_granted("write", path)) return false;
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) await D.mkdir(dir, { recursive: true });
    const tmp = `${path}.${D.pid}.tmp`;
    await D.writeTextFile(tmp, text);
    await D.rename(tmp, path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the process's exit wait for the device's queue: on lavapipe, `Deno.exit()` while a
 * command buffer still runs crashed the process (SIGSEGV or abort) in 7 of 16 tries. A submit
 * there returns only once the command buffer before it has run, so two empty submits in an
 * `unload` listener (which `Deno.exit()` and the end of the program dispatch) wait for the
 * queue; on other adapters they return at once.
 *
 * @param device The device.
 */
export function drainAtExit(device: GPUDevice): void {
  const ref = new WeakRef(device); // the listener does not keep a dropped device alive
  globalThis.addEventListener?.("unload", () => {
    const d = ref.deref();
    try {
      for (let k = 0; d && k < 2; k++) d.queue.submit([d.createCommandEncoder().finish()]);
    } catch {
      // a destroyed or lost device has nothing running
    }
  });
}

/**
 * The debug level from `DENAX_DEBUG` (0 when unset or unreadable): 1 prints compile events,
 * 2 the IR, 3 the generated WGSL.
 *
 * @returns The level, an integer >= 0.
 */
export function debugLevel(): number {
  const v = envVar("DENAX_DEBUG"); // unreadable (no --allow-env): debugging stays off
  const n = v ? parseInt(v, 10) : 0;
  return Number.isFinite(n) ? n : 0;
}

/**
 * Waits for one turn of the event loop, where Deno dispatches the device's pending
 * `uncapturederror` events (a task of the loop, which microtasks never reach): a zero timeout.
 * It costs about 2 ms here under load; the completion of a file stat (0.1 ms) did not always reach that task.
 *
 * @returns A promise resolved after the turn.
 */
export function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

// Buffers whose mapAsync promise has resolved at least once (see readMapped).
const _mappedOnce = new WeakSet<GPUBuffer>();
let _earlyMap = true;

/**
 * Maps `buf` (a MAP_READ buffer, unmapped) for reading and returns a copy of its first `bytes`
 * bytes, leaving it unmapped.
 *
 * Deno's `mapAsync` waits for the device inside the call, so the buffer is mapped when the call
 * returns, but its promise settles only after a 10 ms sleep of the op's poll loop: every
 * readback would cost at least 10 ms, on any adapter. Where the range can be had right after
 * the call, it is taken then, and the promise is left to settle on its own. Only for buffers
 * whose map has resolved once before: Deno records the map mode when the promise resolves, and
 * needs it to hand out a range. An implementation that follows the specification throws for
 * the range of a pending map; the promise is then awaited, and the early path is not tried
 * again. The early path still waits for one turn of the event loop (see {@link eventLoopTurn}),
 * which delivers the uncaptured errors of the work read back before the caller looks for them.
 *
 * @param buf The buffer.
 * @param bytes How many bytes (a multiple of 4).
 * @param wait Awaits the map (the runtime races it against device loss).
 * @returns The bytes.
 */
export async function readMapped(
  buf: GPUBuffer,
  bytes: number,
  wait: (p: Promise<undefined>) => Promise<unknown>,
): Promise<ArrayBuffer> {
  const p = buf.mapAsync(0x1, 0, bytes); // GPUMapMode.READ
  if (_earlyMap && _mappedOnce.has(buf)) {
    let data: ArrayBuffer | null = null;
    try {
      data = buf.getMappedRange(0, bytes).slice(0);
    } catch {
      _earlyMap = false;
    }
    if (data) {
      buf.unmap();
      p.catch(() => {}); // settles later; a failure would have failed the range above
      await eventLoopTurn();
      return data;
    }
  }
  await wait(p);
  _mappedOnce.add(buf);
  const data = buf.getMappedRange(0, bytes).slice(0);
  buf.unmap();
  return data;
}

/**
 * Maps the smallest staging buffer of `pool` once, in the background, and returns it to the
 * pool: the first small readback (a loss) can then take the early path of {@link readMapped}
 * instead of waiting out Deno's 10 ms map latency.
 *
 * @param pool The staging pool (MAP_READ | COPY_DST buffers).
 */
export function primeStaging(
  pool: { acquire(bytes: number): GPUBuffer; release(buf: GPUBuffer): void },
): void {
  const buf = pool.acquire(4);
  // A device error (or a device lost meanwhile, which makes `unmap` throw) is left for the first
  // readback to report: nothing here may reject unhandled.
  const done = () => {
    try {
      _mappedOnce.add(buf);
      buf.unmap();
      pool.release(buf);
    } catch {
      _mappedOnce.delete(buf);
    }
  };
  try {
    buf.mapAsync(0x1).then(done, () => {}); // GPUMapMode.READ
  } catch {
    // mapAsync on a lost device may throw at once
  }
}
