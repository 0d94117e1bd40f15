/**
 * The compile helper's worker (see `precompile.ts`): a second WebGPU device on its own thread
 * that dispatches each kernel it is sent once, over one workgroup and stand-in resources, so
 * that the software adapter compiles it here, in parallel with the main thread, and puts the
 * machine code in Mesa's shader cache, where the main device's first dispatch finds it.
 *
 * Messages in: `{ limits, features }` once (the limits to request at the adapter's maxima, and
 * the features: as the main device was requested), then batches
 * `{ jobs, flags }`: kernels in the order to compile them, and a shared `Int32Array` with one
 * word per job that the main thread sets once it has compiled that kernel itself (the job is
 * then skipped). Messages out: `{ done, compiled, failed }` per batch (`failed`: dispatches WebGPU
 * refused, which would mean the stand-ins do not fit; tests check it is 0). Nothing here throws to
 * the main thread: the main thread compiles every kernel itself and reports its errors. With no
 * batch left, the device is destroyed (the main thread then ends the worker).
 *
 * It imports nothing, so that it starts in a few milliseconds.
 *
 * @module
 */

/** One stand-in resource: a storage or uniform buffer of `bytes`, or a texture. */
export type StandIn =
  | { readonly kind: "storage" | "uniform"; readonly bytes: number }
  | {
    readonly kind: "texture";
    readonly format: GPUTextureFormat;
    /** Width, height and layers: 1 where the real one's is a power of two, else 3. */
    readonly size: readonly [number, number, number];
  };

/** A kernel to compile: its source and binding `i`'s stand-in. */
export interface PrecompileJob {
  /** The WGSL source (entry point `main`, bind group 0). */
  readonly wgsl: string;
  /** Stand-ins of bindings 0, 1, … */
  readonly bindings: readonly StandIn[];
}

// GPUBufferUsage STORAGE 0x80 | UNIFORM 0x40; GPUTextureUsage TEXTURE_BINDING 0x04 | STORAGE 0x08
const _USAGE = { storage: 0x80, uniform: 0x40 } as const;

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

/** Dispatches one job's kernel over stand-ins; resolves with whether WebGPU accepted it. */
function _compile(device: GPUDevice, job: PrecompileJob): Promise<boolean> {
  const own: (GPUBuffer | GPUTexture)[] = [];
  device.pushErrorScope("validation");
  const entries = job.bindings.map((s, binding): GPUBindGroupEntry => {
    if (s.kind === "texture") {
      const t = device.createTexture({ size: [...s.size], format: s.format, usage: 0x04 | 0x08 });
      own.push(t);
      return { binding, resource: t.createView({ dimension: "2d-array" }) };
    }
    const size = Math.ceil(Math.max(s.bytes, 16) / 16) * 16;
    const b = device.createBuffer({ size, usage: _USAGE[s.kind] });
    own.push(b);
    return { binding, resource: { buffer: b } };
  });
  const module = device.createShaderModule({ code: job.wgsl });
  const pipe = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }));
  pass.dispatchWorkgroups(1);
  pass.end();
  device.queue.submit([enc.finish()]);
  for (const r of own) r.destroy();
  return device.popErrorScope().then((e) => e === null, () => false);
}

/** Runs the queued batches one after the other; with none left, lets the device go. */
async function _drain(): Promise<void> {
  _running = true;
  while (_queue.length) {
    const { jobs, flags } = _queue.shift()!;
    const device = await (_device ??= _open().catch(() => null));
    const checks: Promise<boolean>[] = [];
    for (let i = 0; i < jobs.length && device; i++) {
      // 1: the main thread has compiled this kernel already; 2: taken here
      if (Atomics.compareExchange(flags, i, 0, 2) !== 0) continue;
      try {
        checks.push(_compile(device, jobs[i]));
      } catch {
        checks.push(Promise.resolve(false));
      }
    }
    if (device) await device.queue.onSubmittedWorkDone();
    const ok = await Promise.all(checks);
    if (!_queue.length && device) {
      device.destroy();
      _device = null;
    }
    const compiled = ok.filter((v) => v).length;
    _scope.postMessage({ done: jobs.length, compiled, failed: ok.length - compiled });
  }
  _running = false;
}

_scope.onmessage = (ev: MessageEvent) => {
  const m = ev.data;
  if (m.limits) {
    _limits = m.limits;
    _features = m.features;
    _device = _open().catch(() => null); // opened while the first batch is on its way
    return;
  }
  _queue.push(m);
  if (!_running) _drain();
};
