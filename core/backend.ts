/**
 * The `Backend` interface: everything the core asks of a device. Backends register here; the
 * core never imports from `gpu/`.
 *
 * @module
 */
import type { DType, TypedArray } from "./dtype.ts";

/** An abstract value: the shape and dtype of an array, without its data. */
export interface AvalLike {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** An opaque handle to a backend's storage for one array. */
export type Buf = unknown;

/** What the core needs from a device. */
export interface Backend {
  /** The backend's name: "cpu" or "webgpu". */
  readonly name: string;
  /** A human-readable description of the device (e.g. the adapter's name). */
  readonly description: string;
  /** Copies host data (already of the right typed array for `aval.dtype`) to the device. */
  upload(data: TypedArray, aval: AvalLike): Buf;
  /** Reads an array back to the host. */
  read(buf: Buf, aval: AvalLike): Promise<TypedArray>;
  /** Reads an array back synchronously, where the backend can (the cpu backend can). */
  readSync?(buf: Buf, aval: AvalLike): TypedArray;
  /**
   * Runs one first-order primitive on device buffers and returns the output buffers.
   * `params` are the primitive's parameters as bound; `outAvals` come from its abstract
   * evaluation.
   */
  execute(
    prim: string,
    inputs: readonly Buf[],
    inAvals: readonly AvalLike[],
    params: Readonly<Record<string, unknown>>,
    outAvals: readonly AvalLike[],
  ): Buf[];
  /** Optionally frees a buffer now (otherwise it is left to the garbage collector). */
  release?(buf: Buf, aval: AvalLike): void;
  /**
   * The largest buffer the device can hold, in bytes, where known (WebGPU's `maxBufferSize`);
   * shapes are checked against it at creation (`core/validate.ts`).
   */
  readonly maxBufferBytes?: number;
  /**
   * True when the backend stores f16 arrays itself (2 bytes an element) and rounds the f16
   * results of every primitive in its own kernels: the core then hands it f16 avals and
   * params unchanged. Absent: f16 arrays are f32 storage and the core rounds (core/f16.ts).
   */
  readonly storesF16?: boolean;
  /**
   * True when `compileJaxpr` lowers `convert` with `dtype: "f16"` on f32 storage as the
   * rounding to f16 values (as `execute` does): `jit` then compiles f16 programs rewritten to
   * f32 storage with a rounding after each primitive (`core/f16_jit.ts`), instead of running
   * them primitive by primitive.
   */
  readonly fusesF16?: boolean;
  /** Waits for all submitted work to finish. */
  sync?(): Promise<void>;
  /** Allocates a buffer for `aval` whose contents will be written later (see `defer`). */
  alloc?(aval: AvalLike): Buf;
  /** Copies `src` into `dst` (both of `aval`). */
  copy?(src: Buf, dst: Buf, aval: AvalLike): void;
  /**
   * For backends without synchronous reads (webgpu): runs an asynchronous `task` after all work
   * already issued and before any work issued later, which the backend holds back (queues)
   * until the task finishes; reads wait for it too. Inside the task, `direct(fn)` runs a
   * synchronous section whose work (and reads) go to the device immediately. An error thrown
   * by the task surfaces at the next read or `sync`. Data-dependent loops (`whileLoop`) use it.
   */
  defer?(task: (direct: <T>(fn: () => T) => T) => Promise<void>): void;
}

let _current: Backend | null = null;
const _registry = new Map<string, () => Promise<Backend>>();

const _preferWhen = new Map<string, () => Promise<boolean>>();

/**
 * Registers a backend factory under a name ("cpu", "webgpu", "native"); `preferWhen`, when
 * given, tells `init()` to choose this backend by default where it resolves true.
 */
export function registerBackend(
  name: string,
  factory: () => Promise<Backend>,
  preferWhen?: () => Promise<boolean>,
): void {
  _registry.set(name, factory);
  if (preferWhen) _preferWhen.set(name, preferWhen);
}

/** The first registered backend whose `preferWhen` resolves true here, if any. */
export async function preferredBackend(): Promise<string | undefined> {
  for (const [name, when] of _preferWhen) if (await when().catch(() => false)) return name;
  return undefined;
}

/** The names of the registered backends. */
export function backendNames(): string[] {
  return [..._registry.keys()];
}

/** Creates (or re-creates) the backend called `name` and makes it current. */
export async function useBackend(name: string): Promise<Backend> {
  const f = _registry.get(name);
  if (!f) {
    throw new RangeError(
      `Unknown backend '${name}': registered backends are ${backendNames().join(", ")}`,
    );
  }
  _current = await f();
  return _current;
}

/** Makes an already-created backend current. */
export function setBackend(b: Backend): void {
  _current = b;
}

/** The current backend if one was chosen or created, else null (creates nothing). */
export function peekBackend(): Backend | null {
  return _current;
}

/** The current backend; the cpu backend is created on first use when none was chosen. */
export function currentBackend(): Backend {
  if (!_current) {
    const f = _defaultFactory;
    if (!f) throw new Error("internal: no backend registered");
    _current = f();
  }
  return _current;
}

let _defaultFactory: (() => Backend) | null = null;
/** Sets the synchronous factory used when no backend was chosen with `init()`. */
export function setDefaultBackendFactory(f: () => Backend): void {
  _defaultFactory = f;
}
