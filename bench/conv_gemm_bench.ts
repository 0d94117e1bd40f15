/**
 * Convolution throughput against matmul throughput at equal FLOPs, per direction: for each
 * layer, the forward convolution, the input gradient and the kernel gradient — each exactly the
 * `conv_general_dilated` the core's transpose rules emit (read from the jaxpr of the VJP) —
 * run alone on the WebGPU backend, next to a square f32 matmul of the layer's FLOPs
 * (2·N·O·C·KH·KW·OH·OW; the input gradient's padded form does more). The ratio of the
 * matmul's time to a convolution's is the figure issue #13 §2 targets (≥ 0.6).
 *
 * Layers: W4's two (x 64×1×28×28 → 6@5×5 pad 2 → 16@5×5 valid) and a ResNet-18-like 3×3
 * layer (batch 8, 64 → 64 channels, 28×28, pad 1; batch kept small for the software adapter).
 *
 * Run: `XDG_RUNTIME_DIR=/tmp DENAX_BACKEND=webgpu deno bench -A bench/conv_gemm_bench.ts`
 *
 * Measured on llvmpipe (2 cores, shared with other jobs), back to back with the tree before
 * the texture implicit GEMM (commit 50fa980): matmul time / convolution time, i.e. the
 * convolution's throughput as a fraction of matmul's, before → after (the W4 conv1 rows are
 * ~9 ms per convolution, near the completion-polling floor):
 *
 * | layer      | forward     | input grad  | kernel grad |
 * | ---------- | ----------- | ----------- | ----------- |
 * | W4 conv1   | 0.26 → 0.52 | 0.49 → 0.50 | 0.22 → 0.46 |
 * | W4 conv2   | 0.38 → 0.70 | 0.54 → 0.56 | 0.31 → 0.62 |
 * | R18 64→64  | 0.92 → 1.42 | 0.84 → 1.38 | 0.74 → 0.74 |
 *
 * @module
 */
import { createWebGpuBackend, webgpuAvailable } from "../gpu/backend.ts";
import { init } from "../mod.ts";
import { directions, layerFlops, LAYERS } from "./_conv_layers.ts";

await init({ backend: "cpu" });
const available = await webgpuAvailable();
const gpu = available ? await createWebGpuBackend() : null;

for (const l of LAYERS) {
  for (const d of directions(l)) {
    const gf = (layerFlops(l) / 1e9).toFixed(3);
    const conv = gpu && {
      a: gpu.upload(new Float32Array(d.ins[0].size), d.ins[0]),
      b: gpu.upload(new Float32Array(d.ins[1].size), d.ins[1]),
    };
    Deno.bench({
      name: `conv ${l.name} ${d.dir} (${gf} GFLOP × ${l.reps})`,
      group: `${l.name} ${d.dir}`,
      ignore: !gpu,
      async fn(t) {
        const g = gpu!;
        t.start();
        const outs = [];
        for (let r = 0; r < l.reps; r++) {
          outs.push(
            g.execute("conv_general_dilated", [conv!.a, conv!.b], d.ins, d.params, [d.out])[0],
          );
        }
        await g.sync!();
        t.end();
        for (const o of outs) g.release!(o, d.out);
      },
    });
    // the square matmul of the layer's FLOPs (2·N·O·C·KS·OH·OW, the same in every direction)
    const n = Math.round(Math.cbrt(layerFlops(l) / 2));
    const aA = { shape: [n, n], dtype: "f32" as const };
    const bA = aA, cA = aA;
    const mm = gpu && {
      a: gpu.upload(new Float32Array(n * n), aA),
      b: gpu.upload(new Float32Array(n * n), bA),
    };
    const params = { contracting: [[1], [0]], batch: [[], []] };
    Deno.bench({
      name: `matmul ${n}² (same FLOPs × ${l.reps})`,
      group: `${l.name} ${d.dir}`,
      baseline: true,
      ignore: !gpu,
      async fn(t) {
        const g = gpu!;
        t.start();
        const outs = [];
        for (let r = 0; r < l.reps; r++) {
          outs.push(g.execute("dot_general", [mm!.a, mm!.b], [aA, bA], params, [cA])[0]);
        }
        await g.sync!();
        t.end();
        for (const o of outs) g.release!(o, cA);
      },
    });
  }
}
