/**
 * `jit` on WebGPU keeps input stagings between calls: a texture filled from the inputs of a
 * program (a GEMM operand's packing, an elementwise leaf's copy) is not filled again while the
 * next call passes the very same arrays, and is refilled for any other array, including a new
 * array that took over the buffer of a disposed one, and for donated inputs.
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { jit, np, type Tensor } from "../mod.ts";
import { type Backend, setBackend } from "../core/backend.ts";
import { createCpuBackend } from "../core/cpu.ts";
import { createWebGpuBackend, webgpuAvailable, type WebGpuBackend } from "../gpu/backend.ts";
import { jitStats } from "../gpu/jit/mod.ts";
import { CPU_ADAPTER_PROFILE, setActiveProfile } from "../gpu/target.ts";
import { rng } from "./helpers.ts";

const ignore = !(await webgpuAvailable());
const cpu = createCpuBackend();
let _gpu: WebGpuBackend | null = null;

/** A webgpu backend whose GEMMs pack their operands into textures, made current. */
async function textureGpu(): Promise<WebGpuBackend> {
  _gpu ??= await createWebGpuBackend({ gemm: "texture" });
  setBackend(_gpu);
  return _gpu;
}

const data = (seed: number, n: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => 2 * r() - 1);
};

/** `f` on the cpu backend, for the same host data. */
async function onCpu(
  f: (...xs: Tensor[]) => Tensor[],
  ins: { d: number[]; shape: number[] }[],
  back: Backend,
): Promise<number[][]> {
  setBackend(cpu);
  const outs = f(...ins.map((x) => np.array(x.d, { shape: x.shape })));
  const res = await Promise.all(outs.map(async (t) => Array.from(await t.data())));
  setBackend(back);
  return res;
}

const read = async (ts: Tensor[]) =>
  await Promise.all(ts.map(async (t) => Array.from(await t.data())));

/** x [64, 128] (8192 elements, staged for the elementwise kernel), w [128, 32]. */
const fn = (x: Tensor, w: Tensor): Tensor[] => [np.matmul(x, w), np.tanh(x).mul(2)];
const X = [64, 128], W = [128, 32];

Deno.test({
  name: "jit keeps the stagings of unchanged inputs and refills them for any other array",
  ignore,
  fn: async () => {
    const g = await textureGpu();
    const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
    try {
      const f = jit(fn);
      const dx = data(1, 64 * 128), dx2 = data(2, 64 * 128), dw = data(3, 128 * 32);
      let x = np.array(dx, { shape: X });
      const w = np.array(dw, { shape: W });
      const want = await onCpu(fn, [{ d: dx, shape: X }, { d: dw, shape: W }], g);
      const want2 = await onCpu(fn, [{ d: dx2, shape: X }, { d: dw, shape: W }], g);
      const tol = { rtol: 1e-4, atol: 1e-5 };
      assertAllClose((await read(f(x, w))).flat(), want.flat(), tol);
      const k0 = jitStats.stagingsKept;
      assertAllClose((await read(f(x, w))).flat(), want.flat(), tol);
      const kept = jitStats.stagingsKept - k0;
      assert(kept >= 2, `the second call kept ${kept} stagings, expected x's and w's at least`);
      // another array: everything staged from it is refilled
      const x2 = np.array(dx2, { shape: X });
      assertAllClose((await read(f(x2, w))).flat(), want2.flat(), tol);
      assertAllClose((await read(f(x, w))).flat(), want.flat(), tol);
      // a new array in the buffer of a disposed one (the pool hands the buffer back)
      x[Symbol.dispose]();
      x2[Symbol.dispose]();
      await g.sync!();
      x = np.array(dx2, { shape: X });
      assertAllClose((await read(f(x, w))).flat(), want2.flat(), tol);
    } finally {
      setActiveProfile(prev);
    }
  },
});

Deno.test({
  name: "jit restages donated inputs on every call",
  ignore,
  fn: async () => {
    const g = await textureGpu();
    const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
    try {
      // w is both a GEMM operand and updated in place: its staging must follow every update
      const step = (w: Tensor, x: Tensor): Tensor[] => [
        w.sub(np.matmul(np.transpose(x), np.matmul(x, w)).mul(1e-3)),
      ];
      const dx = data(4, 64 * 128), dw = data(5, 128 * 32);
      let want = [{ d: dw, shape: W }];
      for (let i = 0; i < 3; i++) {
        const [next] = await onCpu(step, [want[0], { d: dx, shape: X }], g);
        want = [{ d: next, shape: W }];
      }
      const f = jit(step, { donateArgnums: [0] });
      const x = np.array(dx, { shape: X });
      let w = np.array(dw, { shape: W });
      for (let i = 0; i < 3; i++) [w] = f(w, x);
      const got = Array.from(await w.data());
      assertEquals(got.length, want[0].d.length);
      assertAllClose(got, want[0].d, { rtol: 1e-4, atol: 1e-5 });
    } finally {
      setActiveProfile(prev);
    }
  },
});
