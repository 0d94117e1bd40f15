/**
 * Imported first by test files whose results must hold on every backend: selects the backend
 * named by `DENAX_BACKEND` (default cpu), so `DENAX_BACKEND=webgpu deno task test` runs them
 * on WebGPU.
 *
 * @module
 */
import { init } from "../mod.ts";

/** The backend the tests run on. */
export const BACKEND: string = Deno.env.get("DENAX_BACKEND") ?? "cpu";
await init({ backend: BACKEND });

/** Whether finite differences can run in float64 (the cpu reference honours `withFloat64`). */
export const F64: boolean = BACKEND === "cpu";

/** A finite-difference step: `h` on cpu (float64), at least `min` on f32 backends. */
export function fdStep(h: number, min = 1e-2): number {
  return F64 ? h : Math.max(h, min);
}

/** Tolerances for comparing against finite differences: as given on cpu, f32-sized elsewhere. */
export function fdTol<T extends { rtol?: number; atol?: number }>(t: T): T {
  return F64 ? t : { ...t, rtol: Math.max(t.rtol ?? 0, 1e-2), atol: Math.max(t.atol ?? 0, 1e-3) };
}
