/**
 * f32 matmul on the WebGPU backend: `dot_general` of two N × N matrices, N = 256, 512, 1024,
 * waiting for the device inside the timed region (a submit and `onSubmittedWorkDone`, whose
 * 10 ms polling floor is why the small sizes run several products per iteration).
 *
 * Run: `XDG_RUNTIME_DIR=/tmp deno bench -A bench/matmul_bench.ts`
 *
 * Measured on llvmpipe (LLVM 15.0.6, 256 bits; Mesa 22.3 lavapipe) on this 2-core machine
 * while it was otherwise idle, `XDG_RUNTIME_DIR=/tmp deno bench -A bench/matmul_bench.ts`
 * (times per iteration include the ~10 ms completion-polling floor; GFLOP/s = 2N³ · products
 * / time):
 *
 * | N    | products/iter | avg      | min      | GFLOP/s avg (min-time) |
 * | ---- | ------------- | -------- | -------- | ---------------------- |
 * | 256  | 16            | 64.1 ms  | 53.4 ms  | 8.4 (10.1)             |
 * | 512  | 4             | 94.2 ms  | 76.6 ms  | 11.4 (14.0)            |
 * | 1024 | 1             | 141.0 ms | 119.5 ms | 15.2 (18.0)            |
 *
 * Peers on this adapter at N = 1024: jax-js webgpu 4.9 GFLOP/s, tfjs webgpu 5.8 GFLOP/s
 * (DESIGN.md §1), so 2.6× the faster peer. The speed comes from the texture-packed GEMM
 * (`gpu/kernels/gemm_texture.ts`) that the backend picks on CPU adapters; the
 * workgroup-memory GEMM (`createWebGpuBackend({ gemm: "shared" })`) does 1.8 GFLOP/s at 1024
 * here, because llvmpipe's storage and workgroup-memory reads cost ~10 ns per lane. With
 * other jobs on the machine the figures drop by up to 2×.
 *
 * @module
 */
import { createWebGpuBackend, webgpuAvailable } from "../gpu/backend.ts";

const available = await webgpuAvailable();
const gpu = available ? await createWebGpuBackend() : null;

for (const [N, reps] of [[256, 16], [512, 4], [1024, 1]]) {
  const aval = { shape: [N, N], dtype: "f32" as const };
  const data = Float32Array.from({ length: N * N }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const a = gpu?.upload(data, aval), b = gpu?.upload(data, aval);
  const params = { contracting: [[1], [0]], batch: [[], []] };
  Deno.bench({
    name: `matmul ${N}x${N} f32 (${reps} per iteration)`,
    group: "matmul",
    baseline: N === 1024,
    ignore: !gpu,
    async fn(t) {
      const g = gpu!;
      t.start();
      const outs = [];
      for (let r = 0; r < reps; r++) {
        outs.push(g.execute("dot_general", [a, b], [aval, aval], params, [aval])[0]);
      }
      await g.sync!();
      t.end();
      for (const o of outs) g.release!(o, aval);
    },
  });
}
