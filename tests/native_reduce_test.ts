/**
 * The native jit's channel sums (`native/wasm_reduce.ts`: a batch norm's statistics and their
 * gradients, f32[N, C, …] summed over every dim but the channels) and its side-by-side JavaScript
 * sums (`native/jit_codegen.ts`, kept dims outside the reduced ones) against eager native
 * evaluation, bit for bit, and the reference backend: random shapes, chains with per-channel
 * operands and bool masks, rows whose length is or is not a multiple of four. Runs on the native
 * backend whatever `DENAX_BACKEND` says.
 *
 * @module
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { withCpu } from "./backend.ts";
import { grad, jit, np, random, type Tensor } from "../mod.ts";
import { batchNorm2d } from "../layers/mod.ts";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { createNativeBackend } from "../native/backend.ts";
import { nativeJitProfile } from "../native/jit.ts";
import { rng } from "./helpers.ts";

const native = createNativeBackend();
const cpu = withCpu(() => currentBackend());

async function on<T>(b: Backend, fn: () => Promise<T>): Promise<T> {
  const prev = currentBackend();
  setBackend(b);
  try {
    return await fn();
  } finally {
    setBackend(prev);
  }
}

function host(r: () => number, n: number): Float32Array {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = 4 * r() - 2;
  return d;
}

/** The step labels of the compiled program's loops (`loop/wasm …`, `loop/js …`) for one call. */
async function labels<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
  nativeJitProfile.times.clear();
  nativeJitProfile.on = true;
  try {
    const r = await fn();
    return [r, [...nativeJitProfile.times.keys()]];
  } finally {
    nativeJitProfile.on = false;
  }
}

Deno.test("native jit channel sums (Wasm and side-by-side JavaScript) equal eager native evaluation bit for bit on random shapes", async () => {
  const r = rng(2024);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  let wasm = 0, js = 0;
  for (let t = 0; t < 24; t++) {
    const N = 1 + Math.floor(r() * 5), C = pick([4, 8, 12, 16, 24, 32, 6, 3]);
    const H = pick([2, 4, 3, 8, 7]), W = pick([4, 8, 2, 5, 1, 7]);
    const shape = [N, C, H, W], n = N * C * H * W;
    const x = host(r, n), g = host(r, n), m = host(r, C), s = host(r, C);
    const axes = pick([[0, 2, 3], [0, 2, 3], [2, 3], [0, 3], [0]]);
    const kind = t % 4;
    const f = (x: Tensor, g: Tensor, m: Tensor, s: Tensor, mask: Tensor) => {
      const mc = m.reshape([1, C, 1, 1]), sc = s.reshape([1, C, 1, 1]);
      const d = x.sub(mc);
      const v = kind === 0
        ? x
        : kind === 1
        ? d.mul(d)
        : kind === 2
        ? np.where(mask, g, np.zeros(shape)).mul(d).mul(sc)
        : g.mul(d).add(sc);
      // one sum reads the chain fused; two read it from a buffer
      return t % 3 === 2
        ? [v.sum({ axis: axes }), v.mul(0.5).sum({ axis: axes })]
        : [v.sum({ axis: axes })];
    };
    // the mask arrives as a bool buffer (a ReLU's, saved by the forward pass)
    const mk = () =>
      [
        np.array(x, { shape }),
        np.array(g, { shape }),
        np.array(m),
        np.array(s),
        np.greater(np.array(x, { shape }), 0.3),
      ] as const;
    const [got, seen] = await on(native, () =>
      labels(async () => {
        const outs = jit(f)(...mk());
        return await Promise.all(outs.map((o) => o.data()));
      }));
    const eager = await on(native, async () => {
      const outs = f(...mk());
      return await Promise.all(outs.map((o) => o.data()));
    });
    const want = await on(cpu, async () => {
      const outs = f(...mk());
      return await Promise.all(outs.map((o) => o.data()));
    });
    const name = `case ${t}: ${shape} over ${axes}, chain ${kind}`;
    for (let k = 0; k < got.length; k++) {
      assertEquals(Array.from(got[k]), Array.from(eager[k]), `${name}, output ${k}`);
      assertAllClose(Array.from(got[k]), Array.from(want[k]), { rtol: 1e-5, atol: 1e-5 });
    }
    if (seen.some((l) => l.startsWith("loop/wasm"))) wasm++;
    if (seen.some((l) => l.startsWith("loop/js"))) js++;
  }
  // both kinds of loop ran (the cases are fixed by the seed)
  assert(wasm > 3 && js > 3, `Wasm sums in ${wasm} cases, JavaScript in ${js}`);
});

Deno.test("batch norm's training gradient, jitted on native with Wasm channel sums, matches the reference", async () => {
  const shape = [6, 8, 8, 8];
  const bn = batchNorm2d({ numFeatures: 8 });
  type P = ReturnType<typeof bn.init>;
  const r = rng(5), x = host(r, 6 * 8 * 64), w = host(r, 6 * 8 * 64);
  const loss = (p: P, x: Tensor) => {
    const { y } = bn.apply(p, x, { state: bn.initState(), train: true });
    return np.maximum(y, 0).mul(np.array(w, { shape })).sum();
  };
  const g = grad(loss, { argnums: [0, 1] });
  // the parameters (ones and zeros) made on the backend that runs
  const run = async (fn: typeof g) => {
    const [gp, gx] = fn(bn.init(random.key(0)), np.array(x, { shape })) as [P, Tensor];
    return [await gp.weight!.data(), await gp.bias!.data(), await gx.data()];
  };
  const [got, seen] = await on(native, () => labels(() => run(jit(g) as typeof g)));
  assert(seen.some((l) => l.startsWith("loop/wasm") && l.endsWith("f32[8]")), seen.join("\n"));
  const eager = await on(native, () => run(g));
  const want = await on(cpu, () => run(g));
  for (let k = 0; k < 3; k++) {
    assertEquals(Array.from(got[k]), Array.from(eager[k]), `output ${k}`);
    assertAllClose(Array.from(got[k]), Array.from(want[k]), { rtol: 1e-4, atol: 1e-5 });
  }
});

Deno.test("native jit packed Wasm rows (per-channel operands in phases, bool masks read and written, transposed stores) equal eager native evaluation bit for bit", async () => {
  const r = rng(99);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  let packed = 0;
  // short rows first (GoogLeNet's small maps: packed only in long loops), then random ones
  const short = [[8, 96, 4, 4], [16, 128, 2, 2], [4, 64, 7, 7]];
  for (let t = 0; t < 12; t++) {
    const N = 1 + Math.floor(r() * 4), C = pick([3, 5, 16, 24, 40, 96]);
    const [H, W] = pick([[8, 8], [16, 16], [8, 10], [10, 10], [4, 16]]);
    const shape = t < short.length ? short[t] : [N, C, H, W];
    const n = shape.reduce((a, b) => a * b, 1), C_ = shape[1];
    const x = host(r, n), g = host(r, n), m = host(r, C_), s = host(r, C_);
    const f = (x: Tensor, g: Tensor, m: Tensor, s: Tensor, mask: Tensor) => {
      const y = x.sub(m.reshape([1, C_, 1, 1])).mul(s.reshape([1, C_, 1, 1])).add(g.mul(0.25));
      const relu = np.maximum(y, 0);
      const back = np.where(mask, g, np.zeros(shape)).mul(s.reshape([1, C_, 1, 1]));
      return [relu, np.greater(y, 0), back, np.transpose(relu.add(g), [1, 0, 2, 3])];
    };
    const mk = () => {
      const xt = np.array(x, { shape });
      return [xt, np.array(g, { shape }), np.array(m), np.array(s), np.greater(xt, 0.5)] as const;
    };
    const [got, seen] = await on(native, () =>
      labels(async () => {
        const outs = jit(f)(...mk());
        return await Promise.all(outs.map((o) => o.data()));
      }));
    const eager = await on(native, async () => {
      const outs = f(...mk());
      return await Promise.all(outs.map((o) => o.data()));
    });
    for (let k = 0; k < got.length; k++) {
      assertEquals(Array.from(got[k]), Array.from(eager[k]), `case ${t} ${shape}, output ${k}`);
    }
    const wasm = seen.some((l) => l.startsWith("loop/wasm") && l.includes("bool"));
    if (wasm) packed++;
    else assert(t >= short.length, `short rows ${shape} not packed:\n${seen.join("\n")}`);
  }
  assert(packed >= 8, `Wasm loops with masks in ${packed} of 12 cases`);
});
