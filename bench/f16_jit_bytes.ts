/**
 * What a jitted f16 program keeps on the device against the same program in f32 (webgpu): the
 * kernel gradients of two 3 × 3 convolutions with ReLU (a 32 × 16 × 28 × 28 batch, 16 and 32
 * features), compiled once, then timed over `calls` calls with the results read back at the end.
 * Prints the program's arena (`deviceBytes`: scratch buffers, temporaries and textures kept
 * between calls), the bytes of its scratch slots, its inputs' and results' storage, and the mean
 * time per call.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp DENAX_AUTOTUNE=0 deno run -A bench/f16_jit_bytes.ts [calls]`
 * (`DENAX_GPU_PROFILE=gpu` for the real-GPU path).
 *
 * Figures: bench/RESULTS.md ("f16").
 *
 * @module
 */
import { grad, init, jit, lax, np, type Tensor } from "../mod.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";

const calls = Number(Deno.args[0] ?? 20);
await init({ backend: "webgpu" });
const layer = (x: Tensor, k: Tensor) =>
  np.maximum(lax.convGeneralDilated(x, k, { padding: "SAME" }), 0);
const loss = (x: Tensor, k1: Tensor, k2: Tensor) => np.sum(np.tanh(layer(layer(x, k1), k2)));
const step = grad(loss, { argnums: [1, 2] });
const fill = (n: number, s: number) =>
  Array.from({ length: n }, (_, i) => (((i * 7919) % 1000) / 1000 - 0.5) * s);

for (const dt of ["f32", "f16"] as const) {
  const x = np.array(fill(32 * 16 * 28 * 28, 2), { shape: [32, 16, 28, 28], dtype: dt });
  const k1 = np.array(fill(16 * 16 * 9, 0.2), { shape: [16, 16, 3, 3], dtype: dt });
  const k2 = np.array(fill(32 * 16 * 9, 0.2), { shape: [32, 16, 3, 3], dtype: dt });
  const f = jit(step);
  await f(x, k1, k2)[0].data();
  const exe = lastCompiled()!;
  const p = exe.program;
  const scratch = p.slots.reduce((n, s) => n + (s.kind === "scratch" ? s.bytes : 0), 0);
  const t0 = performance.now();
  let out: Tensor[] = [];
  for (let i = 0; i < calls; i++) out = f(x, k1, k2);
  await out[1].data();
  const ms = (performance.now() - t0) / calls;
  const io = [...p.inAvals.filter((a) => a.ndim > 0), ...p.outAvals].map((a) => a.dtype);
  console.log(
    `${dt}: arena ${(exe.deviceBytes / 2 ** 20).toFixed(2)} MiB, scratch ${
      (scratch / 2 ** 20).toFixed(2)
    } MiB, inputs and results stored as ${io.join(" ")}, ${ms.toFixed(1)} ms per call`,
  );
}
