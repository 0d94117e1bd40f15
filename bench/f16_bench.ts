/**
 * What f16 costs against f32 on one backend (`DENAX_BACKEND`, default native): an eager
 * 512 × 512 matmul, an eager 3 × 3 convolution and its two gradients, an eager row sum and
 * transpose of 1024 × 1024, an eager `exp` over 2^20 elements, and a jitted chain of eight
 * elementwise ops over 2^20 elements, each read back to the host inside the timed region.
 *
 * On webgpu with `shader-f16` the f16 rows use 2-byte f16 storage and the jitted f16 chain is
 * one fused kernel that rounds after every op; the `held` rows are the f32-held storage
 * (`f16: "f32"`, what every adapter had before, and what one without `shader-f16` has), and
 * the `op by op` row is the jitted chain as it ran before f16 programs were fused (held
 * storage, a rounding pass after each primitive).
 *
 * Run: `XDG_RUNTIME_DIR=/tmp DENAX_AUTOTUNE=0 DENAX_BACKEND=webgpu deno bench -A bench/f16_bench.ts`,
 * or, on a loaded machine, `deno run -A bench/f16_bench.ts [rounds]` (interleaved rounds,
 * medians of wall and process CPU time).
 *
 * Figures: bench/RESULTS.md ("f16").
 *
 * @module
 */
import { grad, init, jit, lax, np, type Tensor } from "../mod.ts";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { createWebGpuBackend } from "../gpu/backend.ts";
import process from "node:process";

const name = Deno.env.get("DENAX_BACKEND") ?? "native";
await init({ backend: name });
const main = currentBackend();

const N = 512, E = 2 ** 20;
const mat = Float32Array.from({ length: N * N }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
const vec = Float32Array.from({ length: E }, (_, i) => ((i * 104729) % 2000) / 1000 - 1);
/** A 3 × 3 convolution (4 × 32 × 28 × 28 input, 32 features) and its two gradients. */
const CX = [4, 32, 28, 28], CW = [32, 32, 3, 3];
const cx = Float32Array.from({ length: 4 * 32 * 28 * 28 }, (_, i) => ((i * 31) % 17) / 8 - 1);
const cw = Float32Array.from({ length: 32 * 32 * 9 }, (_, i) => ((i * 13) % 11) / 32 - 0.15);
const conv = (x: Tensor, w: Tensor) => lax.convGeneralDilated(x, w, { padding: "SAME" });
const convGrads = grad((x: Tensor, w: Tensor) => np.sum(conv(x, w)), { argnums: [0, 1] });
const chain = (x: Tensor) => x.mul(1.5).add(0.25).mul(x).sub(0.5).mul(x).add(1).mul(0.75).sub(x);

/** The backends to compare: this one, and on webgpu the held storage with and without fusion. */
const backends: [string, Backend][] = [["", main]];
if (name === "webgpu") {
  const held = await createWebGpuBackend({ f16: "f32" });
  backends.push([" held", held]);
  // the jit before f16 programs were fused: a backend that does not fuse f16 roundings
  backends.push([" held, op by op", Object.create(held, { fusesF16: { value: false } })]);
}

async function timed(b: Backend, f: () => Tensor | Tensor[]): Promise<void> {
  setBackend(b);
  const r = f();
  const ys = Array.isArray(r) ? r : [r];
  for (const y of ys) await y.data();
  for (const y of ys) y[Symbol.dispose]();
}

/** One row: its group, its name, and one timed iteration. */
interface Case {
  readonly group: string;
  readonly name: string;
  readonly baseline: boolean;
  readonly fn: () => Promise<void>;
}
const cases: Case[] = [];

for (const dtype of ["f32", "f16"] as const) {
  for (const [tag, b] of backends) {
    if (tag && dtype === "f32") continue;
    setBackend(b);
    const a: Tensor = np.array(mat, { shape: [N, N], dtype });
    const x: Tensor = np.array(vec, { dtype });
    const jc = jit(chain);
    const label = `${dtype}${tag} [${name}]`;
    const baseline = dtype === "f32";
    if (!tag.includes("op by op")) {
      cases.push({
        group: "matmul",
        name: `matmul ${N}x${N} ${label}`,
        baseline,
        fn: () => timed(b, () => np.matmul(a, a)),
      });
      const x4 = np.array(cx, { shape: CX, dtype }), w4 = np.array(cw, { shape: CW, dtype });
      const sq = x.reshape([1024, 1024]);
      cases.push({
        group: "conv",
        name: `conv 3x3 4x32x28x28 ${label}`,
        baseline,
        fn: () => timed(b, () => conv(x4, w4)),
      });
      cases.push({
        group: "conv grads",
        name: `conv grads (input, kernel) ${label}`,
        baseline,
        fn: () => timed(b, () => convGrads(x4, w4) as Tensor[]),
      });
      cases.push({
        group: "sum",
        name: `sum rows 1024x1024 ${label}`,
        baseline,
        fn: () => timed(b, () => np.sum(sq, { axis: 1 })),
      });
      cases.push({
        group: "transpose",
        name: `transpose 1024x1024 ${label}`,
        baseline,
        fn: () => timed(b, () => sq.T),
      });
      cases.push({
        group: "exp",
        name: `exp 2^20 ${label}`,
        baseline,
        fn: () => timed(b, () => np.exp(x)),
      });
    }
    cases.push({
      group: "jit chain",
      name: `jit chain of 8 ops 2^20 ${label}`,
      baseline,
      fn: () => timed(b, () => jc(x)),
    });
  }
}

if (import.meta.main) await _interleaved(Number(Deno.args[0] ?? 7));
else for (const c of cases) Deno.bench(c);

/**
 * `deno run -A bench/f16_bench.ts [rounds]`: every row once per round, rounds interleaved (so
 * that the machine's load falls on all rows alike), after one warm-up round; prints the median
 * wall time and the median process CPU time (the llvmpipe threads' work included) per row.
 */
async function _interleaved(rounds: number): Promise<void> {
  const wall = cases.map(() => [] as number[]), cpu = cases.map(() => [] as number[]);
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let r = -1; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const w0 = performance.now(), c0 = cpuNow();
      await cases[k].fn();
      if (r >= 0) wall[k].push(performance.now() - w0), cpu[k].push(cpuNow() - c0);
    }
  }
  const med = (v: number[]) => v.sort((p, q) => p - q)[v.length >> 1].toFixed(1);
  console.log(`${rounds} rounds; medians of wall ms and process CPU ms per iteration`);
  cases.forEach((c, k) =>
    console.log(`${c.name.padEnd(44)} ${med(wall[k]).padStart(8)} ${med(cpu[k]).padStart(8)}`)
  );
}
