/**
 * Dispatching a kernel once over stand-in resources: what makes llvmpipe compile it (it generates
 * a kernel's machine code at the first dispatch) without the real buffers. The compile helper's
 * worker (`precompile_worker.ts`) and `bench/pipeline_cost.ts` both use it. Imports nothing.
 *
 * @module
 */

/** One stand-in resource: a storage or uniform buffer of `bytes`, or a texture. */
export type StandIn =
  | { readonly kind: "storage" | "uniform"; readonly bytes: number }
  | {
    readonly kind: "texture";
    readonly format: GPUTextureFormat;
    /** Width, height and layers (the worker's: 1 where the real one's is a power of two, else 3). */
    readonly size: readonly [number, number, number];
  };

/** A kernel to compile: its source and the stand-in of each binding (null: not bound). */
export interface PrecompileJob {
  /** The WGSL source (entry point `main`, bind group 0). */
  readonly wgsl: string;
  /** Stand-ins of bindings 0, 1, … */
  readonly bindings: readonly (StandIn | null)[];
}

// GPUBufferUsage STORAGE 0x80 | UNIFORM 0x40; GPUTextureUsage TEXTURE_BINDING 0x04 | STORAGE 0x08
const _USAGE = { storage: 0x80, uniform: 0x40 } as const;

/**
 * Creates the job's pipeline (layout "auto") and stand-ins, dispatches one workgroup, submits,
 * and lets the stand-ins go (WebGPU keeps them until the submitted work is done).
 *
 * @param device The device.
 * @param job The kernel and its stand-ins.
 * @returns Resolves with whether WebGPU accepted it all (no validation error).
 */
export function dispatchOverStandIns(device: GPUDevice, job: PrecompileJob): Promise<boolean> {
  const own: (GPUBuffer | GPUTexture)[] = [];
  device.pushErrorScope("validation");
  const entries: GPUBindGroupEntry[] = [];
  job.bindings.forEach((s, binding) => {
    if (s === null) return;
    if (s.kind === "texture") {
      const t = device.createTexture({ size: [...s.size], format: s.format, usage: 0x04 | 0x08 });
      own.push(t);
      entries.push({ binding, resource: t.createView({ dimension: "2d-array" }) });
      return;
    }
    const size = Math.ceil(Math.max(s.bytes, 16) / 16) * 16;
    const b = device.createBuffer({ size, usage: _USAGE[s.kind] });
    own.push(b);
    entries.push({ binding, resource: { buffer: b } });
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
