// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * `jit` on WebGPU: fused kernels against eager WebGPU and the cpu backend, the shape of the
 * compiled programs (how many kernels, what fused), the replay (no pipeline compile and no
 * readback on a second call, one submit per call, scans included) and donation.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import {
  checkpoint,
  customJvp,
  grad,
  init,
  jit,
  lax,
  np,
  type Tensor,
  valueAndGrad,
  vmap,
} from "../mod.ts";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { createCpuBackend } from "../core/cpu.ts";
import type { DType } from "../core/dtype.ts";
import { compileStats, jit_call_p } from "../core/jit_prim.ts";
import {
  createWebGpuBackend,
  type WebGpuArray,
  webgpuAvailable,
  type WebGpuBackend,
} from "../gpu/backend.ts";
import {
  countKernels,
  jitStats,
  lastCompiled,
  printProgram,
  type Program,
} from "../gpu/jit/mod.ts";
import {
  activeProfile,
  CPU_ADAPTER_PROFILE,
  GPU_PROFILE,
  setActiveProfile,
} from "../gpu/target.ts";
import type { DispatchOp } from "../gpu/jit/program.ts";
import { setGenericMaxWork } from "../gpu/kernels/common.ts";
import { rng } from "./helpers.ts";

const HAS_GPU = await webgpuAvailable();
const ignore = !HAS_GPU;
const cpu = createCpuBackend();
let _gpu: WebGpuBackend | null = null;
let _shared: WebGpuBackend | null = null;

/** The webgpu backend (made current). */
async function webgpu(): Promise<WebGpuBackend> {
  if (!_gpu) {
    await init({ backend: "webgpu" });
    _gpu = currentBackend() as WebGpuBackend;
  }
  setBackend(_gpu);
  return _gpu;
}

/** A webgpu backend whose GEMMs are one kernel (workgroup-memory tiles), made current. */
async function webgpuShared(): Promise<WebGpuBackend> {
  _shared ??= await createWebGpuBackend({ gemm: "shared" });
  setBackend(_shared);
  return _shared;
}

/** Seeded data in [lo, hi) (floored for integer dtypes). */
function rand(seed: number, n: number, lo = -1, hi = 1, dtype: DType = "f32"): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const v = lo + (hi - lo) * r();
    return dtype === "f32" ? v : Math.floor(v);
  });
}

/** An input: shape, dtype and seeded data. */
interface In {
  shape: number[];
  dtype?: DType;
  lo?: number;
  hi?: number;
}

const _size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function makeInputs(ins: readonly In[], seed: number): Tensor[] {
  return ins.map((x, k) => {
    const dtype = x.dtype ?? "f32";
    const data = dtype === "bool"
      ? rand(seed + k, _size(x.shape)).map((v) => v > 0)
      : rand(seed + k, _size(x.shape), x.lo ?? -1, x.hi ?? 1, dtype);
    return np.array(data as number[], { shape: x.shape, dtype });
  });
}

async function readAll(outs: unknown): Promise<number[][]> {
  const ts = (Array.isArray(outs) ? outs.flat(2) : [outs]) as Tensor[];
  return await Promise.all(ts.map(async (t) => Array.from(await t.data(), Number)));
}

/** Runs `f` on `backend` (eagerly, or jitted) and reads the results back. */
async function runOn(
  backend: Backend,
  f: (...xs: any[]) => unknown,
  ins: readonly In[],
  jitted: boolean,
): Promise<number[][]> {
  setBackend(backend);
  return await readAll((jitted ? jit(f) : f)(...makeInputs(ins, 11)));
}

/** Asserts jitted webgpu == eager webgpu == cpu; returns the compiled program. */
async function agrees(
  f: (...xs: any[]) => unknown,
  ins: readonly In[],
  opts: { rtol?: number; atol?: number; backend?: WebGpuBackend } = {},
): Promise<Program> {
  const g = opts.backend ?? await webgpu();
  const want = await runOn(cpu, f, ins, false);
  const eager = await runOn(g, f, ins, false);
  const fused = await runOn(g, f, ins, true);
  const tol = { rtol: opts.rtol ?? 2e-5, atol: opts.atol ?? 2e-5 };
  want.forEach((w, k) => {
    assertAllClose(eager[k], w, tol);
    assertAllClose(fused[k], w, tol);
  });
  return lastCompiled()!.program;
}

const labels = (p: Program) =>
  p.ops.flatMap((op) => (op.kind === "dispatch" ? [op.label] : op.kind === "copy" ? ["copy"] : []));

Deno.test({
  name: "jitted elementwise chains with broadcasts match eager webgpu and the cpu backend",
  ignore,
  fn: async () => {
    await agrees(
      (x, y, z) =>
        np.tanh(x.mul(y).add(z)).sub(np.exp(x.mul(x).neg()).mul(0.5)).add(
          np.where(x.greater(0), x, y),
        ),
      [{ shape: [7, 13] }, { shape: [13] }, { shape: [7, 1] }],
    );
    await agrees(
      (a, b) => np.where(a.mul(3).add(b).greater(4), np.mod(a, 7), b.sub(a)),
      [{ shape: [5, 3], dtype: "i32", lo: -20, hi: 20 }, {
        shape: [3],
        dtype: "i32",
        lo: -9,
        hi: 9,
      }],
    );
    await agrees(
      (p, x) => [np.logicalAnd(p, x.less(0.3)), np.any(p, { axis: 1 }), np.all(p, { axis: 0 })],
      [{ shape: [4, 9], dtype: "bool" }, { shape: [4, 9] }],
    );
  },
});

Deno.test({
  name: "movement ops fuse as index arithmetic and match the cpu backend",
  ignore,
  fn: async () => {
    const p = await agrees(
      (x) => np.concatenate([x.T, np.flip(x.T, 0).mul(2)], 1).reshape([3, 10]).add(1),
      [{ shape: [5, 3] }],
    );
    assertEquals(countKernels(p), 1);
    await agrees((x) => np.pad(x, [[1, 2], [0, 3]]).mul(2).T, [{ shape: [4, 3] }]);
    await agrees(
      (x) =>
        lax.slice(x, [1, 0], [7, 5], [2, 2]).add(
          lax.pad(x, np.array(0.5), [1, -1], [0, 2], [1, 0]).sum(),
        ),
      [{ shape: [7, 5] }],
    );
  },
});

Deno.test({
  name: "reductions with fused prologues and epilogues match the cpu backend on odd shapes",
  ignore,
  fn: async () => {
    const softmax = (x: Tensor) => {
      const e = np.exp(x.sub(np.max(x, { axis: 1, keepdims: true })));
      return e.div(np.sum(e, { axis: 1, keepdims: true }));
    };
    const sm = await agrees(softmax, [{ shape: [5, 1031] }]);
    assertEquals(countKernels(sm), 3);
    await agrees((x) => np.logsumexp(x, { axis: 1 }), [{ shape: [3, 70000] }], { rtol: 1e-4 });
    await agrees((x) => np.sum(x.mul(x), { axis: [0, 2] }), [{ shape: [37, 5, 3] }]);
    await agrees((x) => [np.mean(x, { axis: 0 }), np.var(x), np.min(x.abs(), { axis: 1 })], [{
      shape: [9, 600],
    }], { rtol: 1e-4 });
    await agrees((x) => np.prod(x.mul(0.1).add(1), { axis: 1 }), [{ shape: [6, 7] }]);
  },
});

Deno.test({
  name: "a chain of 10 elementwise ops compiles to one kernel",
  ignore,
  fn: async () => {
    const f = (x: Tensor) =>
      np.exp(np.sin(x.mul(2).add(1)).sub(x).mul(0.5)).tanh().abs().sqrt().neg().add(x);
    const p = await agrees(f, [{ shape: [1001] }]);
    assertEquals(countKernels(p), 1);
    assertEquals(countKernels(p, true), 1);
  },
});

Deno.test({
  name: "matmul + bias + relu is one GEMM kernel with the bias and relu in its epilogue",
  ignore,
  fn: async () => {
    const f = (x: Tensor, w: Tensor, b: Tensor) => np.maximum(np.matmul(x, w).add(b), 0);
    const ins = [{ shape: [33, 65] }, { shape: [65, 17] }, { shape: [17] }];
    const shared = await agrees(f, ins, { backend: await webgpuShared() });
    assertEquals(labels(shared), ["dot_general"]);
    const wgsl = (shared.ops[0] as { wgsl: string }).wgsl;
    assert(/fn storeC[^}]*_fmax/.test(wgsl), "the epilogue applies the relu");
    // The texture GEMM (CPU adapters) packs operands first, but still no elementwise kernel.
    const tex = await agrees(f, ins);
    assert(labels(tex).every((l) => l === "dot_general"), labels(tex).join());
    await agrees((x, w) => np.matmul(x.T.mul(2), np.tanh(w)), [{ shape: [65, 33] }, {
      shape: [65, 17],
    }]);
    await agrees((x, w) => np.matmul(x, w), [{ shape: [3, 5, 7] }, { shape: [3, 7, 4] }], {
      backend: await webgpuShared(),
    });
  },
});

Deno.test({
  name: "conv + bias + relu puts the bias and relu in the implicit GEMM's store",
  ignore,
  fn: async () => {
    const f = (x: Tensor, w: Tensor, b: Tensor) =>
      np.maximum(
        lax.convGeneralDilated(x, w, { padding: "SAME", windowStrides: [2, 1] }).add(
          b.reshape([1, 5, 1, 1]),
        ),
        0,
      );
    const ins = [{ shape: [2, 3, 9, 7] }, { shape: [5, 3, 3, 3] }, { shape: [5] }];
    for (const backend of [await webgpuShared(), await webgpu()]) {
      const p = await agrees(f, ins, { backend });
      assert(labels(p).every((l) => l === "conv_general_dilated"), labels(p).join());
    }
  },
});

Deno.test({
  name: "GEMM operands and results of other dtypes are converted inside the fused kernels",
  ignore,
  fn: async () => {
    // a one-hot matrix built from int labels, and an int result of a float product
    await agrees(
      (a, b, w) => np.matmul(np.equal(a.reshape([-1, 1]), b).astype("f32"), w).astype("i32"),
      [{ shape: [5], dtype: "i32", lo: 0, hi: 4 }, { shape: [4], dtype: "i32", lo: 0, hi: 4 }, {
        shape: [4, 3],
        lo: -9,
        hi: 9,
      }],
    );
  },
});

Deno.test({
  name: "a reduction with an elementwise prologue is one kernel",
  ignore,
  fn: async () => {
    const p = await agrees((x) => np.sum(np.exp(x.mul(2).sub(1)), { axis: 1 }), [{
      shape: [6, 100],
    }]);
    assertEquals(countKernels(p), 1);
  },
});

Deno.test({
  name: "ops without a fused form run their eager kernels inside the program",
  ignore,
  fn: async () => {
    const p = await agrees(
      (x) => [np.argmax(x.mul(x), { axis: 1 }), np.cumsum(x.add(1), { axis: 0 }), np.sort(x.neg())],
      [{ shape: [4, 6] }],
    );
    assert(labels(p).includes("argmax") && labels(p).includes("cumsum"), labels(p).join());
  },
});

Deno.test({
  name: "calls, custom rules, checkpoint, cond and while inside jit match the cpu backend",
  ignore,
  fn: async () => {
    const softplus = customJvp((x: Tensor) => np.log1p(np.exp(x)));
    softplus.defjvp(([x]: Tensor[], [t]: Tensor[]) => [softplus(x), np.sigmoid(x).mul(t)]);
    const inner = jit((x: Tensor) => checkpoint((y: Tensor) => np.sin(y).mul(y))(x));
    await agrees(grad((x: Tensor) => softplus(inner(x)).sum()), [{ shape: [17] }]);
    const c = (i: Tensor, x: Tensor) =>
      lax.cond(i, (y: Tensor) => y.mul(2), (y: Tensor) => np.sin(y), x);
    for (const hi of [1, 2]) {
      await agrees(c, [{ shape: [], dtype: "i32", lo: hi - 1, hi }, { shape: [5] }]);
    }
    const w = (x: Tensor) =>
      lax.whileLoop(
        (s: Tensor[]) => s[0].less(10),
        (s: Tensor[]) => [s[0].add(1), s[1].mul(1.5)],
        [np.array(0, { dtype: "i32" }), x.add(1)],
      )[1].mul(2);
    const p = await agrees(w, [{ shape: [5] }]);
    assert(p.ops.some((op) => op.kind === "core"));
  },
});

/** The 784-256-10 MLP's SGD step on a mean cross-entropy loss. */
function mlpStep(
  p: Record<string, Tensor>,
  x: Tensor,
  y: Tensor,
): [Record<string, Tensor>, Tensor] {
  const loss = (q: Record<string, Tensor>) => {
    const h = np.maximum(np.matmul(x, q.w1).add(q.b1), 0);
    const logits = np.matmul(h, q.w2).add(q.b2);
    const logp = logits.sub(np.logsumexp(logits, { axis: 1, keepdims: true }));
    return np.mean(np.sum(y.mul(logp), { axis: 1 })).neg();
  };
  const [l, g] = valueAndGrad(loss)(p) as [Tensor, Record<string, Tensor>];
  const next: Record<string, Tensor> = {};
  for (const k of Object.keys(p)) next[k] = p[k].sub(g[k].mul(0.1));
  return [next, l];
}

function mlpInputs(): [Record<string, Tensor>, Tensor, Tensor] {
  const [w1, b1, w2, b2, x] = makeInputs([
    { shape: [784, 256], lo: -0.05, hi: 0.05 },
    { shape: [256], lo: -0.1, hi: 0.1 },
    { shape: [256, 10], lo: -0.1, hi: 0.1 },
    { shape: [10], lo: -0.1, hi: 0.1 },
    { shape: [32, 784] },
  ], 3);
  const y = np.array(
    Array.from({ length: 320 }, (_, k) => (k % 10 === (k / 10 | 0) % 10 ? 1 : 0)),
    {
      shape: [32, 10],
    },
  );
  return [{ w1, b1, w2, b2 }, x, y];
}

Deno.test({
  name: "the jitted MLP training step recompiles nothing and reads nothing back on later calls",
  ignore,
  fn: async () => {
    setBackend(cpu);
    let [cp] = mlpInputs();
    const [, cx, cy] = mlpInputs();
    const want: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [n, l] = mlpStep(cp, cx, cy);
      cp = n;
      want.push(await l.item() as number);
    }
    const g = await webgpu();
    let [gp] = mlpInputs();
    const [, gx, gy] = mlpInputs();
    const step = jit(mlpStep, { donateArgnums: 0 });
    const rt = g.runtime;
    let reads = 0;
    const read = rt.read.bind(rt);
    rt.read = (b: GPUBuffer, n: number) => (reads++, read(b, n));
    const got: Tensor[] = [];
    try {
      const compiles = compileStats.compiles;
      for (let i = 0; i < 3; i++) {
        const misses = rt.stats.pipelineMisses, r0 = reads;
        const [n, l] = step(gp, gx, gy);
        if (i > 0) {
          assertEquals(rt.stats.pipelineMisses - misses, 0, `call ${i} created pipelines`);
          assertEquals(reads - r0, 0, `call ${i} read back`);
        }
        gp = n;
        got.push(l);
      }
      assertEquals(compileStats.compiles - compiles, 1);
    } finally {
      delete (rt as { read?: unknown }).read;
    }
    assertAllClose(await Promise.all(got.map((l) => l.item() as Promise<number>)), want, {
      rtol: 1e-5,
    });
    for (const k of ["w1", "b1", "w2", "b2"]) {
      assertAllClose(Array.from(await gp[k].data()), Array.from(await cp[k].data()), {
        rtol: 1e-4,
        atol: 1e-6,
      });
    }
    const prog = lastCompiled()!.program;
    // every weight update is the epilogue of its gradient's GEMM or reduction
    assert(labels(prog).every((l) => !l.startsWith("fused(f32[784,256]")), labels(prog).join());
  },
});

const _buffer = (t: Tensor) => (t._buf as WebGpuArray).buffer;

Deno.test({
  name: "donated params are updated in place: the new params live in the old buffers",
  ignore,
  fn: async () => {
    const g = await webgpu();
    const [p, x, y] = mlpInputs();
    const cj = jit(mlpStep).lower(p, x, y);
    const nc = cj.consts.length;
    const donated = [...cj.consts.map(() => false), true, true, true, true, false, false];
    const exe = g.compileJaxpr(cj.jaxpr, { donated });
    const plain = g.compileJaxpr(cj.jaxpr);
    assertEquals(exe.program.plan.donations.length, 4);
    const leaves = [p.b1, p.b2, p.w1, p.w2]; // sorted keys, as the tree flattens them
    const want = await readAll(plain([...cj.consts, ...leaves, x, y]));
    const before = leaves.map(_buffer);
    const outs = exe([...cj.consts, ...leaves, x, y]);
    assertEquals(outs.slice(0, 4).map(_buffer), before);
    (await readAll(outs)).forEach((o, k) => assertAllClose(o, want[k], { rtol: 1e-6 }));
    assertThrows(() => exe([...cj.consts, ...leaves, x, y]), TypeError, "was donated");
    assert(nc > 0);
  },
});

Deno.test({
  name: "a donated input goes to the output computed from it at its own index, whatever the order",
  ignore,
  fn: async () => {
    const g = await webgpu();
    // four same-shaped donated inputs and a gradient-like fifth; each output updates one of the
    // four (as SGD or a running statistic does), in another order than the inputs'
    const f = (a: Tensor, b: Tensor, c: Tensor, d: Tensor, g: Tensor) => [
      // an output that updates none of them comes first, and must not take one of their
      // buffers (the in-place matches are made first)
      g.mul(3),
      d.sub(g.mul(0.5)),
      b.mul(2).add(g),
      c.add(1),
      a.sub(g),
    ];
    const vals = [1, 2, 3, 4, 5].map((k) => [k, k + 0.5, -k, 7 * k]);
    const xs = vals.map((v) => np.array(v));
    const cj = jit(f).lower(xs[0], xs[1], xs[2], xs[3], xs[4]);
    const nc = cj.consts.length;
    const donated = [...cj.consts.map(() => false), true, true, true, true, false];
    const exe = g.compileJaxpr(cj.jaxpr, { donated });
    // output k + 1 updates input (d, b, c, a)[k] in place; output 0 has no buffer left to take
    const want = [3, 1, 2, 0].map((i) => nc + i);
    const ds = exe.program.plan.donations;
    assertEquals(
      ds.map((d) => [d.output, d.input, d.inPlace]),
      want.map((i, k) => [k + 1, i, true]),
    );
    const ref = await readAll(g.compileJaxpr(cj.jaxpr)([...cj.consts, ...xs]));
    const outs = exe([...cj.consts, ...vals.map((v) => np.array(v))]);
    (await readAll(outs)).forEach((o, k) => assertAllClose(o, ref[k], { rtol: 1e-6 }));
  },
});

Deno.test({
  name: "jit with donateArgnums reuses the donated param buffers",
  // needs core/jit_prim.ts to pass the jit_call's `donated` flags to compileJaxpr
  ignore: ignore || !String(jit_call_p.evalImpl).includes("donated"),
  fn: async () => {
    await webgpu();
    const [p, x, y] = mlpInputs();
    const step = jit(mlpStep, { donateArgnums: 0 });
    const [p1] = step(p, x, y);
    const before = Object.keys(p1).map((k) => _buffer(p1[k]));
    const [p2] = step(p1, x, y);
    assertEquals(Object.keys(p2).map((k) => _buffer(p2[k])), before);
  },
});

Deno.test({
  name: "a scan of 20 steps runs as one submit and matches the cpu backend",
  ignore,
  fn: async () => {
    const rnn = (w: Tensor, h0: Tensor, xs: Tensor) =>
      lax.scan(
        (h: Tensor, x: Tensor) => {
          const hn = np.tanh(np.matmul(h, w).add(x));
          return [hn, hn.sum({ axis: 1 })];
        },
        h0,
        xs,
      );
    const ins = [{ shape: [16, 16], lo: -0.3, hi: 0.3 }, { shape: [4, 16] }, {
      shape: [20, 4, 16],
    }];
    await agrees(rnn, ins);
    await agrees(
      (xs: Tensor) =>
        lax.scan((c: Tensor, x: Tensor) => [c.add(x), c.mul(2)], np.zeros([3]), xs, {
          reverse: true,
        }),
      [{ shape: [5, 3] }],
    );
    const g = await webgpu();
    const f = jit(rnn);
    const xs = makeInputs(ins, 5);
    await readAll(f(xs[0], xs[1], xs[2])); // compiles, creates pipelines
    await g.sync!();
    const queue = g.runtime.ctx.device.queue;
    const submit = queue.submit.bind(queue);
    let n = 0;
    queue.submit = (cbs: GPUCommandBuffer[]) => (n++, submit(cbs));
    try {
      const s0 = jitStats.submits;
      f(xs[0], xs[1], xs[2]);
      assertEquals(n, 1);
      assertEquals(jitStats.submits - s0, 1);
    } finally {
      delete (queue as { submit?: unknown }).submit;
    }
  },
});

Deno.test({
  name: "scan bodies with opaque ops, repeated outputs, passthroughs and nested scans match cpu",
  ignore,
  fn: async () => {
    await agrees(
      (w: Tensor, c0: Tensor, xs: Tensor) =>
        lax.scan(
          (c: Tensor, x: Tensor) => {
            const y = np.matmul(c, w); // a GEMM result stacked into ys (copied at the step offset)
            const n = np.cumsum(x.add(c), { axis: 1 });
            return [n, [y, n, c, np.argmax(n, { axis: 1 })]];
          },
          c0,
          xs,
        ),
      [{ shape: [5, 5], lo: -0.5, hi: 0.5 }, { shape: [2, 5] }, { shape: [7, 2, 5] }],
    );
    await agrees(
      (xs: Tensor) =>
        lax.scan(
          (c: Tensor, row: Tensor) => {
            const [inner, ys] = lax.scan(
              (a: Tensor, v: Tensor) => [a.mul(0.5).add(v), a],
              c,
              row,
            ) as [Tensor, Tensor];
            return [inner, ys.sum()];
          },
          np.zeros([]),
          xs,
        ),
      [{ shape: [4, 6] }],
    );
  },
});

Deno.test({
  name: "jit returns inputs, repeated outputs and constants, and composes with vmap and grad",
  ignore,
  fn: async () => {
    await agrees((x: Tensor, y: Tensor) => [
      x,
      y.mul(2),
      y.mul(2),
      x,
      np.ones([3]),
      vmap((r: Tensor) => np.exp(r).sum())(y),
    ], [
      { shape: [3] },
      { shape: [2, 2] },
    ]);
    await agrees(
      (x: Tensor, w: Tensor) =>
        jit((v: Tensor) => np.tanh(np.matmul(v, w)).sum())(x).add(
          grad((v: Tensor) => np.sin(v).mul(v).sum())(x).sum(),
        ),
      [{ shape: [4] }, { shape: [4, 3] }],
    );
  },
});

const fusedWgsl = (p: Program) =>
  p.ops.flatMap((op) => (op.kind === "dispatch" && op.fused ? [op.wgsl] : []));

Deno.test({
  name: "constants made from host numbers are literals of the kernel, not buffers",
  ignore,
  fn: async () => {
    const p = await agrees((x) => x.mul(2).add(np.array(-0.25)).sub(np.sqrt(x.abs())), [{
      shape: [37],
    }]);
    const [src] = fusedWgsl(p);
    // one input and one output buffer: 2 and -0.25 are inlined (by their bits, masked with the
    // zero step uniform so that the compiler keeps the order of operations); in generic kernels
    // the bits are words of the size uniform `_P`, like the sizes
    assertEquals(src.match(/var<storage/g)?.length, 2, src);
    if (activeProfile().literalMask) {
      const op = p.ops.find((o) => o.kind === "dispatch" && o.fused) as DispatchOp;
      const words = op.bindings.flatMap((r) => (r.kind === "params" ? r.words : []));
      const has = (bits: number) =>
        src.includes(`${bits}u ^ _step.w`) ||
        (words.includes(bits) && src.includes(`_P[${words.indexOf(bits) >> 2}].`));
      assert(has(1073741824) && has(3196059648), src);
    } else {
      // the gpu profile: plain literals
      assert(src.includes("2.0f") && src.includes("(-0.25f)") && !src.includes("_step.w"), src);
    }
    // a 0-d tensor argument stays a buffer (its value may change between calls)
    setBackend(await webgpu());
    const f = jit((x: Tensor, s: Tensor) => x.mul(s));
    const x = np.array([1, 2, 3]);
    assertEquals(Array.from(await f(x, np.array(2)).data()), [2, 4, 6]);
    assertEquals(Array.from(await f(x, np.array(-1)).data()), [-1, -2, -3]);
    assertEquals(f.traceCount, 1);
  },
});

Deno.test({
  name: "aligned elementwise kernels compute four lanes per invocation, others one",
  ignore,
  fn: async () => {
    // four-lane kernels are the CPU-adapter profile's (pinned)
    const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
    // every kernel large: four lanes whatever the size
    setGenericMaxWork(0);
    try {
      const f = (x: Tensor, y: Tensor, b: Tensor) =>
        np.where(x.greater(y), np.tanh(x.mul(y)), np.exp(y.neg())).add(b);
      // 4 | size: x, y and the output are vec4 bindings; the broadcast bias is read per lane
      const p = await agrees(f, [{ shape: [6, 10] }, { shape: [6, 10] }, { shape: [10] }]);
      const [src] = fusedWgsl(p);
      assert(/array<vec4<f32>>/.test(src) && /array<f32>/.test(src), src);
      // odd sizes, integer and boolean outputs
      const q = await agrees(
        (a, m) => [a.mul(3).sub(1), np.logicalNot(m)],
        [{ shape: [17], dtype: "i32", lo: -9, hi: 9 }, { shape: [17], dtype: "bool" }],
      );
      assert(!fusedWgsl(q).some((s) => s.includes("vec4<")));
      const r = await agrees(
        (a, m) => [a.mul(3).sub(1), np.logicalNot(m)],
        [{ shape: [4, 5], dtype: "i32", lo: -9, hi: 9 }, { shape: [20], dtype: "bool" }],
      );
      const rs = fusedWgsl(r);
      assert(rs.some((s) => s.includes("vec4<i32>")) && rs.some((s) => s.includes("vec4<u32>")));
      // a leaf read both at the lane indices and transposed falls back to one lane
      const t = await agrees((x) => x.add(x.T), [{ shape: [8, 8] }]);
      assert(!fusedWgsl(t).some((s) => s.includes("vec4<")));
    } finally {
      setGenericMaxWork(null);
      setActiveProfile(prev);
    }
  },
});

Deno.test({
  name: "a donated buffer updated in place by a four-lane kernel",
  ignore,
  fn: async () => {
    // four-lane kernels are the CPU-adapter profile's (pinned)
    const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
    // every kernel large: four lanes whatever the size
    setGenericMaxWork(0);
    try {
      setBackend(await webgpu());
      const step = jit((p: Tensor, g: Tensor) => p.sub(g.mul(0.5)), { donateArgnums: 0 });
      let p = np.array([1, 2, 3, 4, 5, 6, 7, 8]);
      const g = np.array([2, 2, 2, 2, 4, 4, 4, 4]);
      p = step(p, g);
      p = step(p, g);
      assertEquals(Array.from(await p.data()), [-1, 0, 1, 2, 1, 2, 3, 4]);
      const src = fusedWgsl(lastCompiled()!.program).join("\n");
      assert(src.includes("vec4<f32>"), src);
    } finally {
      setGenericMaxWork(null);
      setActiveProfile(prev);
    }
  },
});

Deno.test({
  name: "texture GEMM epilogues store four columns at a time where N allows",
  ignore,
  fn: async () => {
    const g = await webgpu();
    if (!g.runtime.ctx.profile.textureGemm) return; // the texture GEMM: CPU-adapter profile
    const mlp = (x: Tensor, w: Tensor, b: Tensor, p: Tensor) =>
      np.maximum(x.matmul(w).add(b), 0).sub(p.mul(0.5));
    // N = 12: four-column stores (p is read at the lanes)
    const p4 = await agrees(mlp, [{ shape: [37, 19] }, { shape: [19, 12] }, { shape: [12] }, {
      shape: [37, 12],
    }], { rtol: 1e-4, atol: 1e-5 });
    const src4 = p4.ops.flatMap((op) => (op.kind === "dispatch" ? [op.wgsl] : [])).join("\n");
    assert(src4.includes("fn storeC4("), src4);
    // the bias, read along its own last dim at the four columns, is one vec4 load per store
    const b4 = /var<storage, read> (x\d+v): array<vec4<f32>>/.exec(src4);
    assert(b4 && src4.includes(`${b4[1]}[(`), src4);
    // … loaded once per column group (`colC4`, before the loop over the rows), not once per row
    assert(src4.includes("fn colC4(n: u32)") && /storeC4\([^;]*, cs\)/.test(src4), src4);
    assert(
      /let cs = colC4\([^;]*\);\n(\s*let (tq|tsr)\d+ = [^;]*;\n)*\s*for \(var ti /.test(src4),
      src4,
    );
    // a leaf read at the columns and along the rows falls back to elementwise reads; a
    // transposed leaf's last dim runs along the rows: elementwise too
    const mixed = await agrees(
      (x, w, b) => x.matmul(w).add(b).mul(b.reshape([12, 1])),
      [{ shape: [12, 19] }, { shape: [19, 12] }, { shape: [12] }],
      { rtol: 1e-4, atol: 1e-5 },
    );
    const srcM = mixed.ops.flatMap((op) => (op.kind === "dispatch" ? [op.wgsl] : [])).join("\n");
    assert(srcM.includes("fn storeC4(") && !/read> x\d+v:/.test(srcM), srcM);
    const tr = await agrees(
      (x, w, c) => x.matmul(w).add(c.T),
      [{ shape: [36, 19] }, { shape: [19, 12] }, { shape: [12, 36] }],
      { rtol: 1e-4, atol: 1e-5 },
    );
    const srcT = tr.ops.flatMap((op) => (op.kind === "dispatch" ? [op.wgsl] : [])).join("\n");
    assert(srcT.includes("fn storeC4(") && !/read> x\d+v:/.test(srcT), srcT);
    // N = 10: one column at a time
    const p1 = await agrees(mlp, [{ shape: [37, 19] }, { shape: [19, 10] }, { shape: [10] }, {
      shape: [37, 10],
    }], { rtol: 1e-4, atol: 1e-5 });
    const src1 = p1.ops.flatMap((op) => (op.kind === "dispatch" ? [op.wgsl] : [])).join("\n");
    assert(!src1.includes("fn storeC4(") && src1.includes("fn storeC("), src1);
    // batched, with a transposed operand
    await agrees(
      (a, b) => np.einsum("bij,bkj->bik", a, b).mul(2),
      [{ shape: [3, 9, 7] }, { shape: [3, 8, 7] }],
      { rtol: 1e-4, atol: 1e-5 },
    );
  },
});

Deno.test({
  name: "a convolution with few output channels runs as the texture implicit GEMM, epilogue fused",
  ignore,
  fn: async () => {
    const g = await webgpu();
    const f = (x: Tensor, k: Tensor, b: Tensor) =>
      np.maximum(lax.conv(x, k, [1, 1], [[2, 2], [2, 2]]).add(b.reshape([1, 2, 1, 1])), 0);
    const p = await agrees(f, [{ shape: [3, 8, 5, 5] }, { shape: [2, 8, 3, 3] }, { shape: [2] }], {
      rtol: 1e-4,
      atol: 1e-5,
    });
    if (!g.runtime.ctx.profile.textureGemm) return; // the texture form is the CPU adapters'
    const srcs = p.ops.flatMap((op) => (op.kind === "dispatch" ? [op.wgsl] : []));
    assert(srcs.some((s) => s.includes("var TX: texture_2d_array<f32>")), srcs.join("\n\n"));
    // the bias and the ReLU are applied in the one store of the output (the multiply's, or the
    // sum's where the contraction is split)
    const stores = srcs.filter((s) =>
      /fn storeC\(g: u32, m: u32, n: u32, v: f32\) \{\n {2}let lin/.test(s)
    );
    assertEquals(stores.length, 1, srcs.join("\n\n"));
    assertEquals(countKernels(p, true), countKernels(p));
    // and the input gradient of a convolution takes the same form
    const dx = await agrees(
      (x, k) => grad((x: Tensor) => lax.conv(x, k, [1, 1], "VALID").mul(x.sum()).sum())(x),
      [{ shape: [2, 3, 9, 9] }, { shape: [8, 3, 5, 5] }],
      { rtol: 1e-4, atol: 1e-4 },
    );
    assert(
      dx.ops.some((op) => op.kind === "dispatch" && op.wgsl.includes("var TX: texture_2d_array")),
    );
  },
});

Deno.test({
  name: "large leaves of four-lane kernels are read through textures on CPU adapters",
  ignore,
  fn: async () => {
    // every kernel large: four lanes whatever the size
    setGenericMaxWork(0);
    try {
      const g = await webgpu();
      const f = (
        x: Tensor,
        y: Tensor,
        n: Tensor,
      ) => [np.tanh(x.mul(y)).add(y.mean({ axis: 0 })), n.mul(3).sub(1)];
      const p = await agrees(f, [{ shape: [64, 96] }, { shape: [64, 96] }, {
        shape: [64, 96],
        dtype: "i32",
        lo: -50,
        hi: 50,
      }], { rtol: 1e-4, atol: 1e-5 });
      const staged = p.ops.filter((op) => op.kind === "toTexture").length;
      if (g.runtime.ctx.profile.textureStaging) {
        assert(staged >= 2, printProgram(p));
        const src = p.ops.flatMap((op) => (op.kind === "dispatch" ? [op.wgsl] : [])).join("\n");
        assert(src.includes("texture_2d_array<i32>") && src.includes("textureLoad("), src);
      }
      // 16 · 1031 texels have no texture shape: storage reads, same results
      const q = await agrees((x: Tensor) => x.mul(x).add(1), [{ shape: [16 * 1031 * 4] }]);
      assertEquals(q.ops.filter((op) => op.kind === "toTexture").length, 0);
    } finally {
      setGenericMaxWork(null);
    }
  },
});

Deno.test({
  name: "inlined literals keep NaN, ±Inf, integers and booleans exact",
  ignore,
  fn: async () => {
    await agrees(
      (x: Tensor) => [
        np.where(x.greater(0), x, NaN),
        x.mul(Infinity),
        np.maximum(x, -Infinity),
        np.isnan(x.mul(NaN)),
      ],
      [{ shape: [12] }],
    );
    await agrees(
      (a: Tensor, m: Tensor) => [a.mul(-7).add(2147483647), np.logicalAnd(m, np.array(true))],
      [{ shape: [8], dtype: "i32", lo: -3, hi: 3 }, { shape: [8], dtype: "bool" }],
    );
  },
});

Deno.test({
  name: "a scan body reading a large constant through a texture matches the cpu backend",
  ignore,
  fn: async () => {
    const f = (w: Tensor, c0: Tensor) =>
      lax.scan(
        (c: Tensor, _x: Tensor) => {
          const next = np.tanh(c.mul(w).add(w.mul(0.5)));
          return [next, next.sum()];
        },
        c0,
        np.zeros([5]),
      );
    await agrees(f, [{ shape: [64, 64] }, { shape: [64, 64] }], { rtol: 1e-4, atol: 1e-5 });
  },
});

Deno.test({
  name: "a fused kernel with more large leaves than textures may be bound still compiles",
  ignore,
  fn: async () => {
    const xs = Array.from({ length: 20 }, () => ({ shape: [64, 64] }));
    await agrees((...ts: Tensor[]) => ts.reduce((a, b) => a.add(b.mul(0.5))), xs, {
      rtol: 1e-5,
      atol: 1e-5,
    });
  },
});

Deno.test({
  name: "random elementwise programs with broadcasts, transposes and in-place updates match cpu",
  ignore,
  fn: async () => {
    // seeded programs over shapes that take the scalar, four-lane and texture-staged paths
    const shapes = [[3, 5], [4, 8], [64, 64], [32, 128], [7, 16]];
    const unary = [np.tanh, np.exp, np.sin, (t: Tensor) => t.abs().sqrt(), (t: Tensor) => t.neg()];
    const binary = [
      (a: Tensor, b: Tensor) => a.add(b),
      (a: Tensor, b: Tensor) => a.mul(b),
      (a: Tensor, b: Tensor) => np.maximum(a, b),
      (a: Tensor, b: Tensor) => np.where(a.greater(b), a, b.mul(0.5)),
    ];
    let state = 12345;
    const pick = (n: number) => {
      state = (state * 1103515245 + 12345) >>> 0;
      return (state >>> 8) % n;
    };
    for (let trial = 0; trial < 12; trial++) {
      const [r, c] = shapes[pick(shapes.length)];
      const steps = Array.from({ length: 4 }, () => [pick(3), pick(5), pick(4)]);
      const f = (x: Tensor, row: Tensor, col: Tensor, sq: Tensor) => {
        let v = x;
        for (const [kind, u, b] of steps) {
          const other = kind === 0 ? row : kind === 1 ? col : sq.reshape([r, c]);
          v = binary[b](unary[u](v), other.add(0.25));
        }
        return [v, v.sum({ axis: 0 })];
      };
      await agrees(f, [{ shape: [r, c] }, { shape: [c] }, { shape: [r, 1] }, { shape: [r * c] }], {
        rtol: 1e-4,
        atol: 1e-5,
      });
      // and as an in-place update of a donated argument
      setBackend(await webgpu());
      const step = jit((p: Tensor, g: Tensor) => p.sub(np.tanh(g).mul(0.1)), { donateArgnums: 0 });
      const p0 = makeInputs([{ shape: [r, c] }], trial)[0],
        g = makeInputs([{ shape: [r, c] }], 99)[0];
      const pd = await p0.data(), gd = await g.data();
      const got = await step(p0, g).data();
      const ref = Array.from(pd, (v, k) => Math.fround(v - Math.fround(Math.tanh(gd[k]) * 0.1)));
      assertAllClose(Array.from(got), ref, { rtol: 1e-5, atol: 1e-6 });
    }
  },
});

Deno.test({
  name: "a product scaled by a literal rounds as the cpu backend does, bit for bit",
  ignore,
  fn: async () => {
    // Mesa reassociates (a·b)·#c when c is a compile-time constant; the literal must not be one
    const f = (x: Tensor, y: Tensor) => x.mul(y).mul(Math.SQRT2).add(x.mul(0.1).mul(y));
    const ins = [{ shape: [4096] }, { shape: [4096] }];
    const want = await runOn(cpu, f, ins, false);
    // the literal mask is the CPU-adapter profile's (pinned); the gpu profile emits plain
    // literals, which Mesa may reassociate: there the results agree to rounding only
    const prev = setActiveProfile(CPU_ADAPTER_PROFILE);
    try {
      assertEquals(await runOn(await webgpu(), f, ins, true), want);
    } finally {
      setActiveProfile(prev);
    }
    const prev2 = setActiveProfile(GPU_PROFILE);
    try {
      const got = await runOn(await webgpu(), f, ins, true);
      got.forEach((g, j) => assertAllClose(g, want[j], { rtol: 1e-6 }));
    } finally {
      setActiveProfile(prev2);
    }
  },
});

Deno.test({
  name: "sibling sums are one reduction kernel, bit for bit the sums of separate kernels and eager",
  ignore,
  fn: async () => {
    const g = await webgpu();
    const sums = [
      (x: Tensor, _y: Tensor) => np.sum(x, { axis: 1 }),
      (x: Tensor, y: Tensor) => np.sum(x.mul(y), { axis: 1 }),
      (x: Tensor, _y: Tensor) => np.sum(np.exp(x), { axis: 1 }),
    ];
    const both = (x: Tensor, y: Tensor) => sums.map((s) => s(x, y));
    // one invocation per output, a workgroup per output, and partials folded by a second kernel
    for (const n of [300, 1031, 70000]) {
      const ins = [{ shape: [3, n] }, { shape: [3, n] }];
      const fused = await runOn(g, both, ins, true);
      const p = lastCompiled()!.program;
      assert(labels(p).every((l) => l === "reduce_sum"), labels(p).join());
      assertEquals(countKernels(p), n > 16384 ? 2 : 1);
      for (const [j, s] of sums.entries()) {
        assertEquals(fused[j], (await runOn(g, s, ins, true))[0], `sum ${j} over ${n}`);
        assertEquals(fused[j], (await runOn(g, s, ins, false))[0], `eager sum ${j} over ${n}`);
      }
      const want = await runOn(cpu, both, ins, false);
      want.forEach((w, j) => assertAllClose(fused[j], w, { rtol: 1e-5, atol: 1e-5 }));
    }
  },
});
