/**
 * How well `chooseConv`'s cost model picks the native convolution lowerings, and at which cost
 * of a multiply-add it would pick best: reads `bench/conv_lowering_bench.ts --json` files (every
 * lowering timed on the convolutions of d2l networks), and for each candidate multiply-add cost
 * sums, per file, the time of the lowerings the model picks against the fastest per convolution.
 *
 * Run: `deno run -A bench/conv_cost_fit.ts FILE.json…` (files of one BLAS configuration, e.g.
 * one per `--model`).
 *
 * @module
 */
import { chooseConv, type ConvMethod, type ConvParamsLike } from "../native/conv.ts";

interface Row {
  xs: number[];
  ws: number[];
  os: number[];
  p: ConvParamsLike;
  ms: Partial<Record<ConvMethod, number>>;
  pick: ConvMethod;
}
const files = Deno.args.map((f) => ({
  name: f,
  ...(JSON.parse(Deno.readTextFileSync(f)) as { blas: string; rows: Row[] }),
}));
if (files.length === 0) throw new Error("usage: conv_cost_fit.ts FILE.json…");
console.log(files[0].blas);
const best = (r: Row) => Math.min(...Object.values(r.ms) as number[]);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const line = (label: string, pickOf: (r: Row) => ConvMethod) => {
  const cells = files.map((f) => {
    const got = sum(f.rows.map((r) => r.ms[pickOf(r)] ?? Infinity));
    return `${f.name.replace(/^.*\//, "")} ${got.toFixed(0)}`;
  });
  const all = sum(files.flatMap((f) => f.rows.map((r) => r.ms[pickOf(r)] ?? Infinity)));
  console.log(`${label.padEnd(14)} total ${all.toFixed(0)} ms: ${cells.join(", ")}`);
};
line(
  "fastest",
  (r) => (Object.entries(r.ms) as [ConvMethod, number][]).find(([, t]) => t === best(r))![0],
);
line("as run", (r) => r.pick);
for (const mac of [0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05]) {
  line(`mac ${mac}`, (r) => chooseConv(r.xs, r.ws, r.os, r.p, true, true, mac));
}
