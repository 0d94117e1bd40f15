/**
 * Backend selection: `init()` picks webgpu where an adapter exists, else cpu.
 *
 * @module
 */
import {
  type Backend,
  backendNames,
  currentBackend,
  preferredBackend,
  registerBackend,
  setDefaultBackendFactory,
  useBackend,
} from "./backend.ts";
import { createCpuBackend } from "./cpu.ts";
import { setStrictChecks } from "./jaxpr.ts";
import { env } from "./env.ts";

setDefaultBackendFactory(createCpuBackend);
registerBackend("cpu", () => Promise.resolve(createCpuBackend()));

/** Options of `init`. */
export interface InitOptions {
  /** "cpu", "webgpu", or undefined to choose (DENAX_BACKEND, then webgpu when available). */
  backend?: string;
  /**
   * Device bytes past which a backend with a memory budget (webgpu) trims its buffer pool and
   * asks for a garbage collection; 0 turns it off. Default: `DENAX_MEMORY_BUDGET`, else 1 GiB.
   */
  memoryBudget?: number;
}

function envBackend(): string | undefined {
  return env("DENAX_BACKEND", true);
}

/**
 * Chooses and starts a backend. Without options: `DENAX_BACKEND` when set, otherwise
 * "webgpu" when an adapter exists, otherwise "cpu".
 * @returns the backend's name and description
 * @example
 * ```ts
 * import { init } from "@denax/denax";
 * const { name } = await init({ backend: "cpu" });
 * console.log(name); // cpu
 * if (name !== "cpu") throw new Error(`got ${name}`);
 * ```
 */
export async function init(opts: InitOptions = {}): Promise<{ name: string; description: string }> {
  // DENAX_STRICT=1 checks every traced jaxpr (the test task sets it)
  if (env("DENAX_STRICT") === "1") setStrictChecks(true);
  const want = opts.backend ?? envBackend();
  let b: Backend;
  let preferred: string | undefined; // e.g. native where WebGPU has only a software adapter
  if (want) b = await useBackend(want);
  else if ((preferred = await preferredBackend())) b = await useBackend(preferred);
  else if (backendNames().includes("webgpu")) {
    try {
      b = await useBackend("webgpu");
    } catch {
      b = await useBackend("cpu");
    }
  } else b = await useBackend("cpu");
  if (opts.memoryBudget !== undefined && "memoryBudget" in b) {
    (b as { memoryBudget: number }).memoryBudget = opts.memoryBudget;
  }
  return { name: b.name, description: b.description };
}

/**
 * The current backend's name and description, and for backends that account for device
 * memory (webgpu) its counters: `liveBytes`, `liveBuffers`, `pooledBytes`, `pooledBuffers`,
 * `programBytes`, `programBuffers`, `budget`, `trims`, `collections`.
 */
export function backendInfo(): {
  name: string;
  description: string;
  memory?: Readonly<Record<string, number>>;
} {
  const b = currentBackend();
  const memory = (b as { memory?: Readonly<Record<string, number>> }).memory;
  return { name: b.name, description: b.description, ...(memory ? { memory } : {}) };
}
