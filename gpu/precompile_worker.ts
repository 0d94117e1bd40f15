/**
 * The compile helper's worker (see `precompile.ts`): a second WebGPU device on its own thread
 * that dispatches each kernel it is sent once, over one workgroup and stand-in resources, so
 * that the software adapter compiles it here, in parallel with the main thread, and puts the
 * machine code in Mesa's shader cache, where the main device's first dispatch finds it.
 *
 * Messages in: `{ limits, features, ctrl }` once (the limits to request at the adapter's maxima,
 * and the features: as the main device was requested; `ctrl`, see `_ctrl`), then batches
 * `{ jobs, flags }`: kernels in the order to compile them, and a shared `Int32Array` with one
 * word per job that the main thread sets once it has compiled that kernel itself (the job is
 * then skipped). Messages out: `{ done, compiled, failed }` per batch (`failed`: dispatches WebGPU
 * refused, which would mean the stand-ins do not fit; tests check it is 0). Nothing here throws to
 * the main thread: the main thread compiles every kernel itself and reports its errors. With no
 * batch left, the device is destroyed (the main thread then ends the worker).
 *
 * It imports one small module (`standin.ts`), so that it starts in a few milliseconds.
 *
 * @module
 */
import { dispatchOverStandIns, type PrecompileJob } from "./standin.ts";

/** The worker's global scope, as much of it as this uses (the default types describe a window). */
const _scope = self as unknown as {
  onmessage: ((ev: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

let _limits: readonly string[] = [];
let _features: GPUFeatureName[] = [];
let _device: Promise<GPUDevice | null> | null = null;
/** Batches not yet done, in the order they came. */
const _queue: { jobs: PrecompileJob[]; flags: Int32Array }[] = [];
let _running = false;

async function _open(): Promise<GPUDevice | null> {
  const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return null;
  const requiredLimits: Record<string, number> = {};
  for (const k of _limits) {
    requiredLimits[k] = adapter.limits[k as keyof GPUSupportedLimits] as number;
  }
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: _features });
  // errors stay here: the main thread compiles every kernel again and reports its own
  device.addEventListener("uncapturederror", (ev) => ev.preventDefault());
  return device;
}

/**
 * Shared with the main thread: word 0 is set when the process is about to exit (no more jobs),
 * word 1 is 1 while the worker has batches (the main thread sets it when it sends one, the worker
 * when it starts on them) until its device is destroyed with nothing left to do (the main
 * thread's exit waits for 0: a process that exits while another thread opens or compiles on a
 * Vulkan device may crash).
 */
let _ctrl: Int32Array<ArrayBufferLike> = new Int32Array(2);

/** Runs the queued batches one after the other; with none left, lets the device go. */
async function _drain(): Promise<void> {
  _running = true;
  Atomics.store(_ctrl, 1, 1);
  while (_queue.length && !Atomics.load(_ctrl, 0)) {
    const { jobs, flags } = _queue.shift()!;
    const device = await (_device ??= _open().catch(() => null));
    const checks: Promise<boolean>[] = [];
    for (let i = 0; i < jobs.length && device; i++) {
      if (Atomics.load(_ctrl, 0)) break; // exiting
      // 1: the main thread has compiled this kernel already; 2: taken here
      if (Atomics.compareExchange(flags, i, 0, 2) !== 0) continue;
      try {
        checks.push(dispatchOverStandIns(device, jobs[i]));
      } catch {
        checks.push(Promise.resolve(false));
      }
    }
    if (device) await device.queue.onSubmittedWorkDone();
    const ok = await Promise.all(checks);
    const compiled = ok.filter((v) => v).length;
    _scope.postMessage({ done: jobs.length, compiled, failed: ok.length - compiled });
  }
  // nothing left (or exiting): let the device go, then tell the main thread
  const device = await _device;
  device?.destroy();
  _device = null;
  _running = false;
  Atomics.store(_ctrl, 1, 0);
  Atomics.notify(_ctrl, 1);
}

_scope.onmessage = (ev: MessageEvent) => {
  const m = ev.data;
  if (m.limits) {
    _limits = m.limits;
    _features = m.features;
    _ctrl = m.ctrl;
    _device = _open().catch(() => null); // opened while the first batch is on its way
    return;
  }
  _queue.push(m);
  if (!_running) _drain();
};
