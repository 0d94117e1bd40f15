/**
 * The convolution layers that `bench/conv_gemm_bench.ts` and `bench/conv_ratio.ts` compare with
 * matmul at equal FLOPs, and the three `conv_general_dilated` calls of each (forward, input
 * gradient, kernel gradient) exactly as the core's transpose rules emit them.
 *
 * @module
 */
import { lax, makeJaxpr, np, type Tensor, vjp } from "../mod.ts";

/** A convolution layer: shapes, stride, symmetric padding, calls per timed turn. */
export interface Layer {
  readonly name: string;
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly stride: number;
  readonly pad: number;
  /** Convolutions per timed turn (the completion poll has a floor of a few ms). */
  readonly reps: number;
}

/** W4's two layers and ResNet-18-like ones (batch 8). */
export const LAYERS: readonly Layer[] = [
  { name: "W4 conv1 1→6 5×5 p2", x: [64, 1, 28, 28], w: [6, 1, 5, 5], stride: 1, pad: 2, reps: 8 },
  { name: "W4 conv2 6→16 5×5", x: [64, 6, 28, 28], w: [16, 6, 5, 5], stride: 1, pad: 0, reps: 2 },
  { name: "R18 64→64 3×3 p1", x: [8, 64, 28, 28], w: [64, 64, 3, 3], stride: 1, pad: 1, reps: 1 },
  {
    name: "R18 64→128 3×3 s2 p1",
    x: [8, 64, 28, 28],
    w: [128, 64, 3, 3],
    stride: 2,
    pad: 1,
    reps: 1,
  },
  // ResNet-18's stem at Fashion-MNIST size: one channel, 7 × 7, stride 2 (its sliding multiplies
  // loop over kernel columns)
  {
    name: "R18 stem 1→64 7×7 s2 p3",
    x: [8, 1, 28, 28],
    w: [64, 1, 7, 7],
    stride: 2,
    pad: 3,
    reps: 4,
  },
  // GoogLeNet's second block at 96 × 96 inputs: 24 positions to a row, 192 features
  {
    name: "GLN 64→192 3×3 p1 at 24×24",
    x: [8, 64, 24, 24],
    w: [192, 64, 3, 3],
    stride: 1,
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
export function layerFlops(l: Layer): number {
  const o = l.x.slice(2).map((s, i) => Math.floor((s + 2 * l.pad - l.w[2 + i]) / l.stride) + 1);
  return 2 * l.x[0] * l.w[0] * o[0] * o[1] * l.w[1] * l.w[2] * l.w[3];
}

/** A deterministic tensor of the shape, values in [-0.5, 0.5). */
export const fill = (shape: readonly number[]) =>
  np.array(
    Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      (_, i) => ((i * 7919) % 1000) / 1000 - 0.5,
    ),
    { shape: [...shape] },
  );

/** The three convolutions of a layer: forward, input gradient, kernel gradient. */
export function directions(l: Layer) {
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
