/**
 * Every native convolution lowering that applies, timed on the convolutions of a jitted d2l
 * training step (forward, input and kernel gradients, as the transposes bind them; taps that
 * meet only padding are cropped first, as the jit does), with the one `chooseConv` picks marked.
 * The lowerings take turns within each round, so load from other processes falls on all alike;
 * a cell is the fastest of the rounds, in ms.
 *
 * Run: `deno run -A bench/conv_lowering_bench.ts [--model resnet|alexnet|nin]
 * [--rounds 3] [--json FILE]` (the shapes are ResNet-18's at 28×28 input and batch 256, and
 * AlexNet's and NiN's at 28×28 and batch 128; `--json` writes every lowering's time and the
 * pick, which `bench/conv_cost_fit.ts` reads).
 *
 * @module
 */
import { parseArgs } from "node:util";
import "../mod.ts";
import { loadBlas } from "../native/blas.ts";
import {
  chooseConv,
  convCosts,
  convF32,
  type ConvMethod,
  type ConvParamsLike,
} from "../native/conv.ts";
import { cropTaps } from "../native/conv_crop.ts";
import { chlastApplies } from "../native/conv_chlast.ts";
import { geometry } from "../native/conv_geo.ts";
import { getPrimitive } from "../core/primitive.ts";
import { ShapedArray } from "../core/aval.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "resnet" },
    rounds: { type: "string", default: "3" },
    json: { type: "string" },
    methods: { type: "string" },
  },
});
const only = v.methods?.split(",");

const cp = (o: Partial<ConvParamsLike> = {}): ConvParamsLike => ({
  windowStrides: [1, 1],
  padding: [[0, 0], [0, 0]],
  lhsDilation: [1, 1],
  rhsDilation: [1, 1],
  featureGroupCount: 1,
  batchGroupCount: 1,
  ...o,
});
const P = (a: number, b = a): [number, number][] => [[a, b], [a, b]];
type Case = [number[], number[], ConvParamsLike];
const SHAPES: Record<string, Case[]> = {
  resnet: [
    [[256, 64, 7, 7], [64, 64, 3, 3], cp({ padding: P(1) })],
    [[256, 128, 4, 4], [128, 128, 3, 3], cp({ padding: P(1) })],
    [[256, 256, 2, 2], [256, 256, 3, 3], cp({ padding: P(1) })],
    [[256, 512, 1, 1], [512, 512, 3, 3], cp({ padding: P(1) })],
    [[256, 64, 7, 7], [128, 64, 3, 3], cp({ windowStrides: [2, 2], padding: P(1) })],
    [[256, 128, 4, 4], [256, 128, 3, 3], cp({ windowStrides: [2, 2], padding: P(1) })],
    [[256, 256, 2, 2], [512, 256, 3, 3], cp({ windowStrides: [2, 2], padding: P(1) })],
    [[256, 256, 2, 2], [512, 256, 1, 1], cp({ windowStrides: [2, 2] })],
    [[256, 1, 28, 28], [64, 1, 7, 7], cp({ windowStrides: [2, 2], padding: P(3) })],
    // kernel gradients
    [[64, 256, 7, 7], [64, 256, 7, 7], cp({ padding: P(1) })],
    [[128, 256, 4, 4], [128, 256, 4, 4], cp({ padding: P(1) })],
    [[256, 256, 2, 2], [256, 256, 2, 2], cp({ padding: P(1) })],
    [[512, 256, 1, 1], [512, 256, 1, 1], cp({ padding: P(1) })],
    [[64, 256, 7, 7], [128, 256, 4, 4], cp({ padding: P(1), rhsDilation: [2, 2] })],
    [[128, 256, 4, 4], [256, 256, 2, 2], cp({ padding: P(1, 0), rhsDilation: [2, 2] })],
    [[1, 256, 28, 28], [64, 256, 14, 14], cp({ padding: P(3, 2), rhsDilation: [2, 2] })],
    // input gradients of the strided convs
    [[256, 512, 1, 1], [256, 512, 3, 3], cp({ padding: P(1, 2), lhsDilation: [2, 2] })],
    [[256, 256, 2, 2], [128, 256, 3, 3], cp({ padding: P(1, 2), lhsDilation: [2, 2] })],
    [[256, 128, 4, 4], [64, 128, 3, 3], cp({ padding: P(1), lhsDilation: [2, 2] })],
  ],
  // d2l's AlexNet at 28×28 (examples/d2l/alexnet.ts), batch 128: forward, input and kernel
  // gradients of its 5 × 5 and 3 × 3 layers
  alexnet: [
    [[128, 96, 13, 13], [256, 96, 5, 5], cp({ padding: P(2) })],
    [[128, 256, 13, 13], [96, 256, 5, 5], cp({ padding: P(2) })],
    [[96, 128, 13, 13], [256, 128, 13, 13], cp({ padding: P(2) })],
    [[128, 256, 6, 6], [384, 256, 3, 3], cp({ padding: P(1) })],
    [[128, 384, 6, 6], [384, 384, 3, 3], cp({ padding: P(1) })],
    [[128, 384, 6, 6], [256, 384, 3, 3], cp({ padding: P(1) })],
    [[384, 128, 6, 6], [384, 128, 6, 6], cp({ padding: P(1) })],
  ],
  // d2l's NiN at 28×28 (examples/d2l/nin.ts), batch 128: the layers AlexNet's list lacks
  nin: [
    [[128, 1, 28, 28], [96, 1, 3, 3], cp({ padding: P(1) })],
    [[1, 128, 28, 28], [96, 128, 28, 28], cp({ padding: P(1) })],
    [[128, 96, 28, 28], [96, 96, 1, 1], cp()],
    [[96, 128, 28, 28], [96, 128, 28, 28], cp()],
    [[128, 256, 13, 13], [256, 256, 1, 1], cp()],
    [[256, 128, 13, 13], [256, 128, 13, 13], cp()],
    [[128, 384, 6, 6], [384, 384, 1, 1], cp()],
    [[384, 128, 6, 6], [384, 128, 6, 6], cp()],
    [[128, 384, 2, 2], [10, 384, 3, 3], cp({ padding: P(1) })],
    [[128, 10, 2, 2], [384, 10, 3, 3], cp({ padding: P(1) })],
    [[384, 128, 2, 2], [10, 128, 2, 2], cp({ padding: P(1) })],
  ],
};

const blas = loadBlas();
const dump: unknown[] = [];
const rounds = Number(v.rounds);
const prim = getPrimitive("conv_general_dilated");
for (const [xs, ws0, p0] of SHAPES[v.model!] ?? []) {
  const [oa] = prim.abstractEval([new ShapedArray(xs, "f32"), new ShapedArray(ws0, "f32")], p0);
  const os = oa.shape;
  const x = Float32Array.from({ length: xs.reduce((a, b) => a * b) }, () => Math.random() - 0.5);
  const w0 = Float32Array.from({ length: ws0.reduce((a, b) => a * b) }, () => Math.random() - 0.5);
  const c = cropTaps(xs, w0, ws0, os, p0);
  const [w, ws, p] = c ? [c.r, c.rShape, c.p] : [w0, ws0, p0];
  const unit = p.windowStrides.every((s) => s === 1);
  const methods: ConvMethod[] = (unit
    ? ["im2col", "taps", "outputs", "scatter", "classes", "chlast"] as ConvMethod[]
    : ["im2col", "outputs", "classes", "chlast"] as ConvMethod[])
    .filter((m) =>
      m !== "chlast" || chlastApplies(geometry(xs, ws, os, p))
    )
    .filter((m) => !only || only.includes(m));
  const pick = chooseConv(xs, ws, os, p, true, blas.path !== null);
  const best = new Map<ConvMethod, number>();
  const out = new Float32Array(os.reduce((a, b) => a * b));
  for (let r = 0; r < rounds; r++) {
    for (const m of methods) {
      const t0 = performance.now();
      convF32(blas.sgemm, m, x, xs, w, ws, p, out, os);
      const t = performance.now() - t0;
      best.set(m, Math.min(best.get(m) ?? Infinity, t));
    }
  }
  const est = convCosts(geometry(xs, ws, os, p), blas.path !== null);
  const cells = methods.map((m) =>
    `${m}${m === pick ? "*" : ""} ${best.get(m)!.toFixed(1)} (${(est[m] / 1e6).toFixed(1)})`
  );
  console.log(
    `${JSON.stringify(xs)}×${JSON.stringify(ws0)}→${JSON.stringify(os)}: ${cells.join(", ")}`,
  );
  dump.push({ xs, ws, os, p, ms: Object.fromEntries(best), pick });
}
if (v.json) {
  Deno.writeTextFileSync(v.json, JSON.stringify({ blas: blas.description, rows: dump }));
}
