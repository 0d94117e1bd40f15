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
import { init, lax, makeJaxpr, np, type Tensor, vjp } from "../mod.ts";

await init({ backend: "cpu" });
const available = await webgpuAvailable();
const gpu = available ? await createWebGpuBackend() : null;

interface Layer {
  readonly name: string;
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly stride: number;
  readonly pad: number;
  /** Convolutions per timed iteration (the completion poll has a ~10 ms floor). */
  readonly reps: number;
}

const LAYERS: readonly Layer[] = [
  { name: "W4 conv1 1→6 5×5 p2", x: [64, 1, 28, 28], w: [6, 1, 5, 5], stride: 1, pad: 2, reps: 4 },
  { name: "W4 conv2 6→16 5×5", x: [64, 6, 28, 28], w: [16, 6, 5, 5], stride: 1, pad: 0, reps: 1 },
  { name: "R18 64→64 3×3 p1", x: [8, 64, 28, 28], w: [64, 64, 3, 3], stride: 1, pad: 1, reps: 1 },
  {
    name: "R18 64→128 3×3 s2 p1",
    x: [8, 64, 28, 28],
    w: [128, 64, 3, 3],
    stride: 2,
    pad: 1,
    reps: 1,
  },
  // ResNet-18's first strided layer at Fashion-MNIST size: the input gradient's phases have
  // rows of 3-4 outputs (one texture multiply for all phases, gpu/kernels/conv_phase_texture.ts)
  {
    name: "R18 64→128 3×3 s2 p1 at 7×7",
    x: [8, 64, 7, 7],
    w: [128, 64, 3, 3],
    stride: 2,
    pad: 1,
    reps: 4,
  },
];

/** The layer's multiply-adds × 2: N · O · OH · OW · C · KH · KW · 2. */
function layerFlops(l: Layer): number {
  const o = l.x.slice(2).map((s, i) => Math.floor((s + 2 * l.pad - l.w[2 + i]) / l.stride) + 1);
  return 2 * l.x[0] * l.w[0] * o[0] * o[1] * l.w[1] * l.w[2] * l.w[3];
}

const fill = (shape: readonly number[]) =>
  np.array(
    Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      (_, i) => ((i * 7919) % 1000) / 1000 - 0.5,
    ),
    { shape: [...shape] },
  );

/** The three convolutions of a layer: forward, input gradient, kernel gradient. */
function directions(l: Layer) {
  const x = fill(l.x), w = fill(l.w);
  const conv = (a: Tensor, b: Tensor) =>
    lax.convGeneralDilated(a, b, [l.stride, l.stride], [[l.pad, l.pad], [l.pad, l.pad]]);
  const y = conv(x, w);
  const grab = (f: (ct: Tensor, a: Tensor, b: Tensor) => Tensor) => {
    const eqns = makeJaxpr(f)(y, x, w).jaxpr.eqns.filter((e) =>
      e.prim.name === "conv_general_dilated"
    );
    const e = eqns[eqns.length - 1];
    return { ins: e.inputs.map((v) => v.aval), params: e.params, out: e.outputs[0].aval };
  };
  return [
    { dir: "forward", ...grab((_ct, a, b) => conv(a, b)) },
    { dir: "input grad", ...grab((ct, a, b) => vjp((a2: Tensor) => conv(a2, b), a)[1](ct)[0]) },
    { dir: "kernel grad", ...grab((ct, a, b) => vjp((b2: Tensor) => conv(a, b2), b)[1](ct)[0]) },
  ];
}

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
