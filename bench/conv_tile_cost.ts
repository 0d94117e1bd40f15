/**
 * Compile and running cost of a texture convolution's multiply on the adapter, per shape and
 * per form: for each convolution (lhs, rhs, stride, padding), the multiply kernel of
 * `convTexturePlan` in its default form and in the form `DENAX_SMALL_CONV_MACS=0` gives, each
 * created and first dispatched in this process with Mesa's shader cache disabled (the process
 * CPU time, all threads: llvmpipe compiles at the first dispatch), then dispatched `runs`
 * times over zero textures of the plan's sizes (the median GPU wall time per dispatch).
 *
 * Run: `XDG_RUNTIME_DIR=/tmp MESA_SHADER_CACHE_DISABLE=true deno run -A bench/conv_tile_cost.ts`.
 *
 * @module
 */
import process from "node:process";
import { convOutShape } from "../gpu/kernels/conv.ts";
import { convTexturePlan } from "../gpu/kernels/conv_texture.ts";
import { setSmallConvMacs } from "../gpu/kernels/conv_small.ts";
import type { Kernel, Plan } from "../gpu/kernels/common.ts";
import type { ConvParams } from "../core/prims/conv.ts";

/** Dispatches per timed submit. */
const REPS = 8;
const LIM = { maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 };

/** The convolutions: GoogLeNet's and DenseNet's at 96 × 96, batch 8 (forward). */
const SHAPES: [number[], number[], number, number][] = [
  [[8, 192, 12, 12], [64, 192, 1, 1], 1, 0],
  [[8, 16, 12, 12], [32, 16, 5, 5], 1, 2],
  [[8, 32, 12, 12], [96, 32, 3, 3], 1, 1],
  [[8, 96, 12, 12], [32, 96, 3, 3], 1, 1],
  [[8, 480, 6, 6], [96, 480, 1, 1], 1, 0],
  [[8, 112, 6, 6], [32, 112, 3, 3], 1, 1],
  [[8, 64, 24, 24], [64, 64, 1, 1], 1, 0],
];

function params(nsp: number, s: number, pad: number): ConvParams {
  return {
    windowStrides: Array(nsp).fill(s),
    padding: Array.from({ length: nsp }, () => [pad, pad] as [number, number]),
    lhsDilation: Array(nsp).fill(1),
    rhsDilation: Array(nsp).fill(1),
    featureGroupCount: 1,
    batchGroupCount: 1,
  } as ConvParams;
}

async function measure(device: GPUDevice, plan: Plan, outBytes: number, runs: number) {
  const k = plan.steps[2] as { kind: "dispatch"; kernel: Kernel };
  const kernel = k.kernel;
  const texs = plan.textures!.map((t) =>
    device.createTexture({
      size: [t.width, t.height, t.layers],
      format: "rgba32float",
      usage: GPUTextureUsage.TEXTURE_BINDING,
    }).createView({ dimension: "2d-array" })
  );
  const bufBytes = Math.max(outBytes, ...(plan.temps ?? []).map((b) => b), 16);
  const buf = device.createBuffer({ size: bufBytes, usage: GPUBufferUsage.STORAGE });
  const u0 = process.cpuUsage();
  const module = device.createShaderModule({ code: kernel.wgsl });
  const pipe = device.createComputePipeline({
    layout: "auto",
    compute: { module, entryPoint: "main" },
  });
  const entries: GPUBindGroupEntry[] = kernel.bindings.map((b, i) => ({
    binding: i,
    resource: b.kind === "tex" ? texs[b.index] : { buffer: buf },
  }));
  const bg = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
  const run = async (reps = 1) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, bg);
    for (let r = 0; r < reps; r++) pass.dispatchWorkgroups(...kernel.dispatch);
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await run();
  const u = process.cpuUsage(u0);
  const ts: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await run(REPS);
    ts.push((performance.now() - t0) / REPS);
  }
  ts.sort((a, b) => a - b);
  return {
    compileCpuMs: +((u.user + u.system) / 1000).toFixed(1),
    runMs: +ts[ts.length >> 1].toFixed(2),
    chars: kernel.wgsl.length,
  };
}

if (import.meta.main) {
  const adapter = await navigator.gpu.requestAdapter();
  const device = await adapter!.requestDevice();
  const runs = Number(Deno.args[0] ?? 15);
  for (const [lhs, rhs, s, pad] of SHAPES) {
    const p = params(2, s, pad);
    const outShape = convOutShape(lhs, rhs, p);
    const outBytes = outShape.reduce((a, b) => a * b, 1) * 4;
    const macs = outShape.reduce((a, b) => a * b, 1) * rhs.slice(1).reduce((a, b) => a * b, 1);
    const res: Record<string, unknown> = { lhs, rhs, macs };
    for (const [name, limit] of [["large", 0], ["small", null]] as const) {
      setSmallConvMacs(limit);
      const plan = convTexturePlan("f32", lhs, rhs, outShape, p, LIM, ["o[lin] = v;"])!;
      res[name] = await measure(device, plan, outBytes, runs);
    }
    setSmallConvMacs(null);
    console.log(JSON.stringify(res));
  }
}
