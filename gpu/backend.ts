/**
 * The WebGPU backend: eager execution of every first-order primitive as cached WGSL kernels
 * recorded into a shared, lazily submitted command encoder (see `runtime.ts`).
 *
 * Arrays live in pooled storage buffers owned by {@link WebGpuArray} handles; a handle that is
 * garbage-collected returns its buffer to the pool, and `release` returns it at once. bool
 * arrays are u32 0/1 on the GPU and `Uint8Array`s on the host (converted at upload/readback);
 * f16 arrays are 2-byte f16 on a device with `shader-f16` (see `f16_eager.ts`), else f32, and
 * `Float32Array`s on the host.
 *
 * @example
 * ```ts ignore
 * import { createWebGpuBackend } from "./backend.ts";
 *
 * const gpu = await createWebGpuBackend();
 * const aval = { shape: [3], dtype: "f32" } as const;
 * const x = gpu.upload(new Float32Array([1, 2, 3]), aval);
 * const [y] = gpu.execute("exp", [x], [aval], {}, [aval]);
 * console.log(await gpu.read(y, aval)); // Float32Array [2.718…, 7.389…, 20.08…]
 * ```
 *
 * @module
 */
import { type AvalLike, type Backend, type Buf, registerBackend } from "../core/backend.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import { Autotuner } from "./autotune.ts";
import { autotuneCachePath, envVar, gpuAdapterAvailable } from "./device.ts";
import { type Plan, size } from "./kernels/common.ts";
import { type GemmCaps, gemmVariantNames } from "./kernels/gemm.ts";
import { BufferOwnerRegistry } from "./pool.ts";
import { type LowerCtx, type Lowering, LOWERINGS } from "./lowerings.ts";

export { type LowerCtx, type Lowering, LOWERINGS };

const _n = (a: AvalLike) => size(a.shape);
import { GpuRuntime, type MemoryStats, type RuntimeOptions } from "./runtime.ts";
import { GpuError } from "./errors.ts";
import {
  type F16Ctx,
  f16StoragePlan,
  f32Ctx,
  fromHalfBytes,
  involvesF16,
  storageBytes,
  toHalfBytes,
} from "./f16_eager.ts";
import type { Jaxpr } from "../core/jaxpr.ts";
import { compileJaxpr, type Executable, type JitCompileOptions } from "./jit/mod.ts";

/** A device array: a pooled storage buffer and its byte length. */
export class WebGpuArray {
  /** The buffer (its size is the pool bucket's, at least `bytes`). */
  readonly buffer: GPUBuffer;
  /** Bytes of data (4 per element; 2 for f16 storage, padded to a multiple of 4). */
  readonly bytes: number;
  /** Set once the buffer went back to the pool. */
  released = false;

  /** Wraps a buffer holding `bytes` bytes. */
  constructor(buffer: GPUBuffer, bytes: number) {
    this.buffer = buffer;
    this.bytes = bytes;
  }
}

/** Options of {@link createWebGpuBackend}. */
export interface WebGpuOptions extends RuntimeOptions {
  /**
   * How GEMM-shaped ops (dot_general, conv) read their operands: "texture" packs them into
   * textures first (much faster on CPU adapters), "shared" stages tiles in workgroup memory,
   * "auto" (default) picks "texture" on CPU adapters and "shared" elsewhere.
   */
  readonly gemm?: "auto" | "texture" | "shared";
  /**
   * Autotuning of matmul and conv tiles (see `autotune.ts`): `false` turns it off, an object
   * sets the cache file (`null`: memory only). Default: on, with the user's cache file,
   * unless the environment has `DENAX_AUTOTUNE=0`.
   */
  readonly autotune?: boolean | { readonly cacheFile?: string | null; readonly reps?: number };
  /**
   * How f16 arrays are stored: "f16" as 2-byte f16 (read and written as `array<f16>`, needs
   * the `shader-f16` feature), "f32" as f32 values rounded to f16 (core/f16.ts), "auto"
   * (default) "f16" where the device has `shader-f16`, unless the environment has
   * `DENAX_GPU_F16=0`.
   */
  readonly f16?: "auto" | "f16" | "f32";
}

/** The WebGPU backend, with its runtime exposed for tests and profiling. */
export interface WebGpuBackend extends Backend {
  /** The runtime (device, pools, pipeline cache, encoder). */
  readonly runtime: GpuRuntime;
  /** The device memory the runtime accounts for (see `GpuRuntime.memory`). */
  readonly memory: MemoryStats;
  /**
   * The memory budget in bytes (see `RuntimeOptions.memoryBudget`; 0 sets none, read back as
   * Infinity).
   */
  memoryBudget: number;
  /** Whether f16 arrays are 2-byte f16 storage (see `WebGpuOptions.f16`). */
  readonly storesF16: boolean;
  /** The GEMM autotuner, or null when autotuning is off. */
  readonly autotuner: Autotuner | null;
  /**
   * The GEMM capabilities for one application of `dot_general` or `conv_general_dilated`,
   * with the autotuned tile variant where one is known (other ops: the plain capabilities).
   */
  gemmCaps(prim: string, ctx: Omit<LowerCtx, "gemm">): GemmCaps;
  /** Compiles a jaxpr into fused kernels, replayed per call (see `jit/mod.ts`). */
  compileJaxpr(j: Jaxpr, opts?: JitCompileOptions): Executable;
}

function _toDevice(data: TypedArray, dtype: DType): ArrayBufferView<ArrayBuffer> {
  const Ctor = dtype === "f32" || dtype === "f16"
    ? Float32Array
    : dtype === "i32"
    ? Int32Array
    : Uint32Array;
  if (data instanceof Ctor && data.buffer instanceof ArrayBuffer) {
    return data as ArrayBufferView<ArrayBuffer>;
  }
  return Ctor.from(data as ArrayLike<number>);
}

function _fromDevice(bytes: ArrayBuffer, dtype: DType): TypedArray {
  switch (dtype) {
    case "f16": // f16 arrays are f32 storage (core/f16.ts)
    case "f32":
      return new Float32Array(bytes);
    case "i32":
      return new Int32Array(bytes);
    case "u32":
      return new Uint32Array(bytes);
    case "bool":
      return Uint8Array.from(new Uint32Array(bytes), (v) => (v ? 1 : 0));
    default:
      throw new TypeError(`Unknown dtype ${dtype satisfies never}`);
  }
}

/**
 * Creates the WebGPU backend on a new device.
 *
 * @param opts Backend options (encoder flushing, GEMM strategy).
 * @returns The backend, named "webgpu".
 * @throws {GpuUnavailableError} When no adapter or device can be had.
 */
export async function createWebGpuBackend(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
  const rt = await GpuRuntime.create(opts);
  const gemm = _baseGemmCaps(rt, opts);
  const tuner = _makeAutotuner(rt, opts);
  const half = _halfStorage(rt, opts);
  const arrays = new _DeviceArrays(rt);
  return _assembleBackend(rt, gemm, tuner, _gemmCapsChooser(gemm, tuner), arrays, half);
}

/** Whether f16 arrays are f16 storage: the option, else the environment and the device. */
function _halfStorage(rt: GpuRuntime, opts: WebGpuOptions): boolean {
  const want = opts.f16 ?? (envVar("DENAX_GPU_F16") === "0" ? "f32" : "auto");
  if (want === "f16" && !rt.ctx.shaderF16) {
    throw new GpuError(
      `f16 storage needs the shader-f16 feature, which this adapter (${rt.ctx.description}) ` +
        `lacks\nhelp: pass f16: "auto" to hold f16 arrays as f32 here`,
    );
  }
  return want !== "f32" && rt.ctx.shaderF16;
}

/** The GEMM capabilities of the device: the operand strategy (option, else the profile's). */
function _baseGemmCaps(rt: GpuRuntime, opts: WebGpuOptions): GemmCaps {
  const lim = rt.ctx.limits;
  return {
    textures: (opts.gemm ?? "auto") === "auto"
      ? rt.ctx.profile.textureGemm
      : opts.gemm === "texture",
    maxTextureDimension2D: lim.maxTextureDimension2D,
    maxTextureArrayLayers: lim.maxTextureArrayLayers,
  };
}

/** The GEMM autotuner the options ask for (default: on unless `DENAX_AUTOTUNE=0`), or null. */
function _makeAutotuner(rt: GpuRuntime, opts: WebGpuOptions): Autotuner | null {
  const at = opts.autotune ?? envVar("DENAX_AUTOTUNE") !== "0";
  return at === false ? null : new Autotuner(rt, {
    cacheFile: at === true || at.cacheFile === undefined ? autotuneCachePath() : at.cacheFile,
    reps: at === true ? undefined : at.reps,
  });
}

/**
 * The capabilities for one application of a primitive: for `dot_general` and
 * `conv_general_dilated` with a tuner, the tile variant it chooses (timing the candidates the
 * first time a key is seen); otherwise the plain capabilities.
 */
function _gemmCapsChooser(
  gemm: GemmCaps,
  tuner: Autotuner | null,
): (prim: string, c: Omit<LowerCtx, "gemm">) => GemmCaps {
  return (prim, c) => {
    if (!tuner || (prim !== "dot_general" && prim !== "conv_general_dilated")) return gemm;
    const lower = LOWERINGS[prim];
    const key = tuner.key(prim, c.ins, c.params, gemm.textures ? "texture" : "shared");
    const variant = tuner.choose(
      key,
      () =>
        gemmVariantNames(gemm).map((name) => ({
          name,
          plan: lower({ ...c, gemm: { ...gemm, variant: name } }),
        })),
      { inBytes: c.ins.map((a) => _n(a) * 4), outBytes: c.outs.map((a) => _n(a) * 4) },
    );
    return variant ? { ...gemm, variant } : gemm;
  };
}

/**
 * The ownership of device arrays: pooled buffers wrapped in {@link WebGpuArray} handles that
 * return their buffer to the pool when released or garbage-collected.
 */
class _DeviceArrays {
  readonly #rt: GpuRuntime;
  readonly #owners: BufferOwnerRegistry;
  readonly #releasing = new WeakSet<WebGpuArray>();

  constructor(rt: GpuRuntime) {
    this.#rt = rt;
    this.#owners = new BufferOwnerRegistry((buf) => rt.release(buf));
  }

  /** A new array of `bytes` bytes from the pool. */
  alloc = (bytes: number): WebGpuArray => {
    const arr = new WebGpuArray(this.#rt.acquire(bytes), bytes);
    this.#owners.register(arr, arr.buffer);
    return arr;
  };

  /** The live webgpu array behind a core buffer handle. */
  handle = (b: Buf): WebGpuArray => {
    if (!(b instanceof WebGpuArray)) {
      throw new TypeError("Cannot use a buffer of another backend on webgpu");
    }
    if (b.released) throw new Error("internal: webgpu buffer used after release");
    return b;
  };

  /** Returns an array's buffer to the pool, once (after the work issued before it). */
  release(buf: Buf): void {
    if (!(buf instanceof WebGpuArray)) this.handle(buf);
    const arr = buf as WebGpuArray;
    // idempotent: a second dispose, or one of a donated array, has nothing left to free
    if (arr.released || this.#releasing.has(arr)) return;
    this.#releasing.add(arr);
    this.#owners.unregister(arr);
    // While a deferred task (a loop) is pending it may still use the buffer: the release,
    // and the use-after-release check, wait until the work issued before it has run.
    this.#rt.releaseOrdered(arr.buffer, () => arr.released = true);
  }

  /** Moves a (donated) array's buffer into a new handle; the old one reads as released. */
  adopt = (arr: WebGpuArray): WebGpuArray => {
    arr.released = true;
    this.#owners.unregister(arr);
    const next = new WebGpuArray(arr.buffer, arr.bytes);
    this.#owners.register(next, next.buffer);
    return next;
  };
}

/**
 * Runs one primitive eagerly: lowers it to a plan (with f16 storage, around the f32 plan; see
 * `f16_eager.ts`), checks its bindings, records it.
 */
function _executeEager(
  rt: GpuRuntime,
  arrays: _DeviceArrays,
  gemmCaps: (prim: string, c: Omit<LowerCtx, "gemm">) => GemmCaps,
  half: boolean,
  prim: string,
  inputs: readonly Buf[],
  inAvals: readonly AvalLike[],
  params: LowerCtx["params"],
  outAvals: readonly AvalLike[],
): Buf[] {
  const lower = (LOWERINGS as Record<string, Lowering | undefined>)[prim];
  if (!lower) throw new Error(`Cannot execute ${prim} on webgpu: no lowering`);
  const c = { ins: inAvals, outs: outAvals, params };
  const lowerAt = (c: F16Ctx) => lower({ ...c, gemm: gemmCaps(prim, c) });
  const plan = half && involvesF16(c)
    ? f16StoragePlan(prim, c, lowerAt, gemmCaps(prim, f32Ctx(prim, c)))
    : lowerAt(c);
  const bytes = (a: AvalLike) => storageBytes(a, half);
  _checkBindings(plan, prim, inAvals, outAvals, rt.ctx.limits.maxStorageBufferBindingSize, bytes);
  const outs = outAvals.map((a) => arrays.alloc(bytes(a)));
  rt.run(
    plan,
    inputs.map((b) => arrays.handle(b).buffer),
    outs.map((o) => o.buffer),
    prim,
  );
  return outs;
}

/** The backend object: the core's `Backend` methods over the runtime and the arrays. */
function _assembleBackend(
  rt: GpuRuntime,
  gemm: GemmCaps,
  tuner: Autotuner | null,
  gemmCaps: (prim: string, c: Omit<LowerCtx, "gemm">) => GemmCaps,
  arrays: _DeviceArrays,
  half: boolean,
): WebGpuBackend {
  const { alloc, handle, adopt } = arrays;
  const bytes = (a: AvalLike) => storageBytes(a, half);
  return {
    name: "webgpu",
    description: rt.ctx.description,
    // shapes are checked against it when created (core/validate.ts), before any allocation
    maxBufferBytes: rt.ctx.limits.maxBufferSize,
    // the jit lowers `convert` to "f16" on f32 storage as the rounding (core/f16_jit.ts)
    fusesF16: true,
    storesF16: half,
    runtime: rt,
    autotuner: tuner,
    get memory(): MemoryStats {
      return rt.memory;
    },
    set memoryBudget(bytes: number) {
      rt.memoryBudget = bytes;
    },
    get memoryBudget(): number {
      return rt.memoryBudget;
    },
    gemmCaps,
    upload(data: TypedArray, aval: AvalLike): Buf {
      const arr = alloc(bytes(aval));
      const f16 = half && aval.dtype === "f16";
      rt.write(arr.buffer, f16 ? toHalfBytes(data) : _toDevice(data, aval.dtype));
      return arr;
    },
    async read(buf: Buf, aval: AvalLike): Promise<TypedArray> {
      const got = await rt.read(handle(buf).buffer, bytes(aval));
      return half && aval.dtype === "f16"
        ? fromHalfBytes(got, _n(aval))
        : _fromDevice(got, aval.dtype);
    },
    execute(prim, inputs, inAvals, params, outAvals): Buf[] {
      return _executeEager(rt, arrays, gemmCaps, half, prim, inputs, inAvals, params, outAvals);
    },
    release(buf: Buf): void {
      arrays.release(buf);
    },
    sync(): Promise<void> {
      return rt.sync();
    },
    alloc(aval: AvalLike): Buf {
      return alloc(bytes(aval));
    },
    copy(src: Buf, dst: Buf, aval: AvalLike): void {
      rt.copy(handle(src).buffer, handle(dst).buffer, bytes(aval));
    },
    defer(task: (direct: <T>(fn: () => T) => T) => Promise<void>): void {
      rt.defer(task);
    },
    compileJaxpr(this: WebGpuBackend, j: Jaxpr, o?: JitCompileOptions): Executable {
      return compileJaxpr({ rt, gemm, backend: this, alloc, handle, adopt }, j, o);
    },
  };
}

/**
 * Whether a WebGPU adapter exists here (cached).
 *
 * @returns `true` when the webgpu backend can be created.
 */
export function webgpuAvailable(): Promise<boolean> {
  return gpuAdapterAvailable();
}

/** Registers {@link createWebGpuBackend} with the core under the name "webgpu". */
export function registerWebGpuBackend(): void {
  registerBackend("webgpu", createWebGpuBackend);
}

/**
 * Throws a GpuError naming the op and the operand when a kernel of `plan` would bind a buffer
 * larger than the adapter's per-binding limit (which WebGPU would otherwise report later, as an
 * uncaptured validation error without the op).
 */
function _checkBindings(
  plan: Plan,
  op: string,
  ins: readonly AvalLike[],
  outs: readonly AvalLike[],
  limit: number,
  bytesOf: (a: AvalLike) => number,
): void {
  for (const step of plan.steps) {
    if (step.kind !== "dispatch") continue;
    for (const r of step.kernel.bindings) {
      if (r.kind !== "in" && r.kind !== "out") continue;
      const a = (r.kind === "in" ? ins : outs)[r.index];
      const bytes = bytesOf(a);
      if (bytes > limit) {
        throw new GpuError(
          `Cannot run ${op} on webgpu: its ${
            r.kind === "in" ? "operand" : "result"
          } ${r.index} (${a.dtype}[${a.shape}], ${_mib(bytes)}) is over this adapter's ${
            _mib(limit)
          } per-buffer binding limit (maxStorageBufferBindingSize). Work on slices of it, or use the cpu backend.`,
          { op },
        );
      }
    }
  }
}

const _mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 ? 1 : 0)} MiB`;
