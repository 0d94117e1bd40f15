/**
 * What f16 costs against f32 on one backend (`DENAX_BACKEND`, default native): an eager
 * 512 × 512 matmul and an eager `exp` over 2^20 elements, each read back to the host inside the
 * timed region. f16 is held as f32 and rounded after each op (core/f16.ts), so the f16 rows pay
 * one extra rounding pass over the result and gain no bandwidth.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp DENAX_BACKEND=webgpu deno bench -A bench/f16_bench.ts`
 *
 * Measured 2026-12-06 on the shared 2-core machine (load average 8–9 from other jobs, so the
 * figures are noisy), `DENAX_AUTOTUNE=0`, native then webgpu (llvmpipe) back to back; avg per
 * iteration, read-back included:
 *
 * | op             | native f32 | native f16 | webgpu f32 | webgpu f16 |
 * | -------------- | ---------- | ---------- | ---------- | ---------- |
 * | matmul 512²    | 4.4 ms     | 4.7 ms     | 53.7 ms    | 56.7 ms    |
 * | exp over 2^20  | 8.9 ms     | 11.8 ms    | 24.2 ms    | 33.9 ms    |
 *
 * @module
 */
import { init, np, type Tensor } from "../mod.ts";

const backend = Deno.env.get("DENAX_BACKEND") ?? "native";
await init({ backend });

const N = 512, E = 2 ** 20;
const mat = Float32Array.from({ length: N * N }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
const vec = Float32Array.from({ length: E }, (_, i) => ((i * 104729) % 2000) / 1000 - 1);

for (const dtype of ["f32", "f16"] as const) {
  const a: Tensor = np.array(mat, { shape: [N, N], dtype });
  const x: Tensor = np.array(vec, { dtype });
  Deno.bench({
    name: `matmul ${N}x${N} ${dtype} [${backend}]`,
    group: "matmul",
    baseline: dtype === "f32",
    async fn() {
      const y = np.matmul(a, a);
      await y.data();
      y[Symbol.dispose]();
    },
  });
  Deno.bench({
    name: `exp 2^20 ${dtype} [${backend}]`,
    group: "exp",
    baseline: dtype === "f32",
    async fn() {
      const y = np.exp(x);
      await y.data();
      y[Symbol.dispose]();
    },
  });
}
