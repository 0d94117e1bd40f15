/**
 * Imported first by test files whose results must hold on every backend: selects the backend
 * named by `DENAX_BACKEND` (default cpu), so `DENAX_BACKEND=webgpu deno task test` runs them
 * on WebGPU.
 *
 * @module
 */
import { assertAllClose, assertEquals } from "@std/assert";
import { grad, init, np, type Tensor, tree } from "../mod.ts";
import { flat, uniform } from "./helpers.ts";
import { withFloat64 } from "../core/prims/host.ts";
import { currentBackend, setBackend } from "../core/backend.ts";
import { createCpuBackend } from "../core/cpu.ts";

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

const _cpu = createCpuBackend();
/**
 * Runs `fn` on the cpu reference backend (the oracle), then restores the current backend.
 * Inputs must be created inside `fn` (from host data), since tensors do not move between
 * backends without a synchronous read.
 */
export function withCpu<T>(fn: () => T): T {
  const prev = currentBackend();
  setBackend(_cpu);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

/** Central differences of a scalar function, element by element (float64 on cpu). */
export async function numGrad(
  f: (x: Tensor) => Tensor,
  x: Tensor,
  h = fdStep(2 ** -12),
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < x.size; i++) {
    const e = new Float32Array(x.size);
    e[i] = h;
    const d = np.array(e, { shape: x.shape });
    const [fp, fm] = withFloat64(() => [f(np.add(x, d)), f(np.subtract(x, d))]);
    out.push(((await fp.item() as number) - (await fm.item() as number)) / (2 * h));
  }
  return out;
}

/**
 * Checks ⟨∇f(p), u⟩ against (f(p + hu) − f(p − hu)) / 2h along a seeded random direction u
 * over every leaf of the pytree `p`, all evaluated in float64 on cpu.
 */
export async function checkDirectionalGrad<P>(
  f: (p: P) => Tensor,
  p: P,
  seed: number,
  fd: { readonly h: number; readonly rtol: number; readonly atol: number },
): Promise<void> {
  const [leaves, def] = tree.flatten<Tensor>(p);
  const u = leaves.map((l, i) => uniform(seed + i, l.shape));
  const shift = (s: number) => def.unflatten<P>(leaves.map((l, i) => l.add(u[i].mul(s))));
  const [g, fp, fm] = withFloat64(() => [grad(f)(p), f(shift(fd.h)), f(shift(-fd.h))]);
  const num = (Number(await fp.item()) - Number(await fm.item())) / (2 * fd.h);
  const gl = tree.leaves<Tensor>(g);
  assertEquals(gl.length, leaves.length);
  let dot = 0;
  for (let i = 0; i < gl.length; i++) {
    const a = await flat(gl[i]), b = await flat(u[i]);
    dot += a.reduce((s, v, j) => s + v * b[j], 0);
  }
  assertAllClose(dot, num, { rtol: fd.rtol, atol: fd.atol });
}
