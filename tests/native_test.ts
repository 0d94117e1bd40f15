// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * The native backend against the reference backend: dot_general in every layout, convolutions
 * (each lowering, every parameter) and their gradients, jit, the TypeScript GEMM fallback, and
 * the errors for a broken BLAS. f32 GEMMs accumulate in f32 (the reference in float64), so the
 * sizes keep the contraction short enough for rtol 1e-5.
 *
 * @module
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { withCpu } from "./backend.ts";
import { grad, jit, lax, np, type Tensor } from "../mod.ts";
import { currentBackend, setBackend } from "../core/backend.ts";
import { getPrimitive } from "../core/primitive.ts";
import { ShapedArray } from "../core/aval.ts";
import { createNativeBackend } from "../native/backend.ts";
import { BlasLoadError, loadBlas } from "../native/blas.ts";
import { chooseConv, convF32, type ConvMethod, type ConvParamsLike } from "../native/conv.ts";
import { sgemmJs } from "../native/gemm_js.ts";
import { rng } from "./helpers.ts";

// created at module level: loading the library is not a resource of any one test
const native = createNativeBackend();
const nativeJs = createNativeBackend({ blas: false, warn: () => {} });

function on<T>(b: typeof native, fn: () => T): T {
  const prev = currentBackend();
  setBackend(b);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

function host(seed: number, shape: readonly number[]): Float32Array {
  const r = rng(seed), n = shape.reduce((a, b) => a * b, 1), d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = 2 * r() - 1;
  return d;
}
const t = (d: Float32Array, shape: readonly number[]): Tensor => np.array(d, { shape });

/** Runs `f` on fresh tensors of `shapes` on cpu and on both native GEMMs; compares. */
async function compare(
  shapes: readonly (readonly number[])[],
  f: (...xs: Tensor[]) => Tensor,
  tol = { rtol: 1e-5, atol: 1e-6 },
): Promise<void> {
  const data = shapes.map((s, i) => host(17 + i, s));
  const run = () => f(...data.map((d, i) => t(d, shapes[i])));
  const want = await withCpu(run).toArray();
  for (const b of [native, nativeJs]) {
    const got = await on(b, run).toArray();
    assertAllClose(got, want, { ...tol, msg: b.description });
  }
}

const DOTS: [string, number[], number[], [number[], number[]], [number[], number[]]][] = [
  ["plain", [5, 7], [7, 3], [[1], [0]], [[], []]],
  ["lhs transposed", [7, 5], [7, 3], [[0], [0]], [[], []]],
  ["rhs transposed", [5, 7], [3, 7], [[1], [1]], [[], []]],
  ["both transposed", [7, 5], [3, 7], [[0], [1]], [[], []]],
  ["batched", [2, 5, 7], [2, 7, 3], [[2], [1]], [[0], [0]]],
  ["batched, transposed", [2, 7, 5], [2, 3, 7], [[1], [2]], [[0], [0]]],
  ["batch axis in the middle", [5, 2, 7], [7, 2, 3], [[2], [0]], [[1], [1]]],
  ["two batch axes", [2, 3, 4, 6], [2, 3, 6, 5], [[3], [2]], [[0, 1], [0, 1]]],
  ["vector · vector", [9], [9], [[0], [0]], [[], []]],
  ["matrix · vector", [4, 9], [9], [[1], [0]], [[], []]],
  ["vector · matrix", [9], [9, 4], [[0], [0]], [[], []]],
  ["outer product", [4], [3], [[], []], [[], []]],
  ["two contracting axes in swapped order", [4, 3, 5], [5, 3, 2], [[1, 2], [1, 0]], [[], []]],
  ["empty contraction", [3, 0], [0, 4], [[1], [0]], [[], []]],
  ["large (K = 300: f32 sums, so an absolute tolerance)", [64, 300], [300, 48], [[1], [0]], [
    [],
    [],
  ]],
];

for (const [name, ls, rs, contracting, batch] of DOTS) {
  Deno.test(`native dot_general matches the reference: ${name}`, async () => {
    const tol = { rtol: 1e-5, atol: name.startsWith("large") ? 1e-4 : 1e-6 };
    await compare([ls, rs], (l, r) => lax.dotGeneral(l, r, { contracting, batch }), tol);
  });
}

Deno.test("the TypeScript GEMM matches a float64 product for every transpose and beta", () => {
  const m = 13, n = 11, k = 37;
  const a = host(1, [m * k]), b = host(2, [k * n]), c0 = host(3, [m * n]);
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      for (const beta of [0, 0.5]) {
        const c = c0.slice();
        sgemmJs(ta, tb, m, n, k, 2, a, ta ? m : k, b, tb ? k : n, beta, c, n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < k; p++) {
              s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            }
            const want = 2 * s + beta * c0[i * n + j];
            assert(Math.abs(c[i * n + j] - want) <= 1e-5 * (1 + Math.abs(want)), `${ta} ${tb}`);
          }
        }
      }
    }
  }
});

interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  p: ConvParamsLike;
  /** Tolerance (default 1e-5; f32 sums of ~1000 products of values in ±1 need more). */
  tol?: number;
}
const cp = (nsp: number, o: Partial<ConvParamsLike> = {}): ConvParamsLike => ({
  windowStrides: Array(nsp).fill(1),
  padding: Array(nsp).fill([0, 0]),
  lhsDilation: Array(nsp).fill(1),
  rhsDilation: Array(nsp).fill(1),
  featureGroupCount: 1,
  batchGroupCount: 1,
  ...o,
});
const CONVS: ConvCase[] = [
  { name: "padding 2", x: [3, 2, 9, 9], w: [4, 2, 5, 5], p: cp(2, { padding: [[2, 2], [2, 2]] }) },
  { name: "valid", x: [2, 3, 8, 7], w: [5, 3, 3, 2], p: cp(2) },
  {
    name: "stride 2, uneven padding",
    x: [2, 3, 9, 8],
    w: [4, 3, 3, 3],
    p: cp(2, { windowStrides: [2, 3], padding: [[1, 0], [0, 2]] }),
  },
  {
    name: "lhs and rhs dilation",
    x: [2, 2, 5, 6],
    w: [3, 2, 3, 2],
    p: cp(2, { lhsDilation: [2, 1], rhsDilation: [1, 2], padding: [[2, 1], [1, 1]] }),
  },
  {
    name: "negative padding (a crop)",
    x: [1, 2, 8, 8],
    w: [2, 2, 3, 3],
    p: cp(2, { padding: [[-1, 0], [1, -2]] }),
  },
  { name: "feature groups", x: [2, 4, 7, 7], w: [6, 2, 3, 3], p: cp(2, { featureGroupCount: 2 }) },
  {
    name: "depthwise",
    x: [2, 3, 6, 6],
    w: [3, 1, 3, 3],
    p: cp(2, { featureGroupCount: 3, padding: [[1, 1], [1, 1]] }),
  },
  { name: "batch groups", x: [4, 3, 6, 6], w: [4, 3, 2, 2], p: cp(2, { batchGroupCount: 2 }) },
  { name: "pointwise", x: [2, 5, 4, 4], w: [3, 5, 1, 1], p: cp(2) },
  {
    name: "1-d, stride and dilation",
    x: [2, 3, 20],
    w: [4, 3, 3],
    p: cp(1, { windowStrides: [2], rhsDilation: [2], padding: [[1, 2]] }),
  },
  {
    name: "3-d",
    x: [1, 2, 5, 4, 6],
    w: [3, 2, 2, 3, 2],
    p: cp(3, { padding: [[1, 0], [0, 0], [1, 1]] }),
  },
  { name: "kernel almost as large as the input", x: [6, 4, 12, 12], w: [3, 4, 10, 10], p: cp(2) },
  // `outputs` contracts over C/g · padded positions = 2 · 576 in blocks (of 1024 for 64 outputs)
  {
    name: "a long contraction, in blocks",
    x: [2, 2, 24, 24],
    w: [64, 2, 22, 22],
    p: cp(2),
    tol: 1e-4,
  },
];

function refConv(x: Float32Array, c: ConvCase): { out: Float32Array; shape: number[] } {
  const prim = getPrimitive("conv_general_dilated");
  const la = new ShapedArray(c.x, "f32"), ra = new ShapedArray(c.w, "f32");
  const [oa] = prim.abstractEval([la, ra], c.p);
  const w = host(99, c.w);
  const [out] = prim.impl!([{ data: x, aval: la }, { data: w, aval: ra }], c.p, [oa]);
  return { out: out as Float32Array, shape: [...oa.shape] };
}

for (const c of CONVS) {
  Deno.test(`every native conv lowering matches the reference: ${c.name}`, () => {
    const x = host(98, c.x), w = host(99, c.w);
    const { out: want, shape } = refConv(x, c);
    const methods: ConvMethod[] = ["im2col", "outputs"];
    if (c.p.windowStrides.every((s) => s === 1)) methods.push("taps");
    for (const m of methods) {
      for (const sgemm of [native.blas.sgemm, sgemmJs]) {
        const got = new Float32Array(want.length).fill(NaN);
        convF32(sgemm, m, x, c.x, w, c.w, c.p, got, shape);
        const tol = c.tol ?? 1e-5;
        assertAllClose(got, want, { rtol: tol, atol: tol, msg: m });
      }
    }
  });
}

Deno.test("native conv gradients (as convolutions) match the reference", async () => {
  for (const c of CONVS.filter((c) => c.p.batchGroupCount === 1)) {
    const loss = (x: Tensor, w: Tensor, y: Tensor) =>
      lax.convGeneralDilated(x, w, c.p).mul(y).sum();
    const [, shape] = [0, refConv(host(98, c.x), c).shape];
    for (const argnum of [0, 1]) {
      await compare([c.x, c.w, shape], (x, w, y) => grad(loss, { argnums: argnum })(x, w, y), {
        rtol: 1e-5,
        atol: 1e-5,
      });
    }
  }
});

Deno.test("the conv lowering is chosen by cost: taps for layers, outputs for weight gradients", () => {
  const p = cp(2, { padding: [[2, 2], [2, 2]] });
  assertEquals(
    chooseConv([64, 6, 28, 28], [16, 6, 5, 5], [64, 16, 24, 24], cp(2), true, true),
    "taps",
  );
  assertEquals(chooseConv([64, 1, 28, 28], [6, 1, 5, 5], [64, 6, 28, 28], p, true, true), "taps");
  // the weight gradient of the second layer: lhs [C, N, ...], "kernel" [O, N, 24, 24]
  assertEquals(
    chooseConv([6, 64, 28, 28], [16, 64, 24, 24], [6, 16, 5, 5], cp(2), true, true),
    "outputs",
  );
  // a non-finite input rules out the lowering that multiplies padding by zeros
  assert(
    chooseConv([6, 64, 28, 28], [16, 64, 24, 24], [6, 16, 5, 5], cp(2), false, true) !== "outputs",
  );
  const s2 = cp(2, { windowStrides: [2, 2] });
  assert(chooseConv([8, 16, 32, 32], [32, 16, 3, 3], [8, 32, 15, 15], s2, true, true) !== "taps");
});

Deno.test("a non-finite input far from the window does not leak into native conv outputs", async () => {
  const x = new Float32Array(2 * 3 * 10 * 10).fill(1);
  x[5] = Infinity; // image 0, channel 0, row 0
  const w = host(5, [4, 3, 8, 8]);
  const f = () => lax.convGeneralDilated(t(x, [2, 3, 10, 10]), t(w, [4, 3, 8, 8]));
  const want = await withCpu(f).toArray();
  assertAllClose(await on(native, f).toArray(), want, { rtol: 1e-5, atol: 1e-5 });
});

Deno.test("native elementwise, reductions and movement match the reference bit for bit, but for the vector math's ulps", async () => {
  const s = [3, 4, 5];
  // exp, log, tanh and logistic run as Wasm SIMD kernels within 2 ulp (native/wasm_math.ts)
  for (
    const f of [
      (x: Tensor, y: Tensor) =>
        np.tanh(x.mul(2).add(1)).mul(np.sigmoid(y)).sub(np.exp(x.neg().mul(y))),
      (x: Tensor, y: Tensor) =>
        np.where(np.greater(x, y), np.log(np.abs(x).add(1)), np.sqrt(np.abs(y))),
    ]
  ) await compare([s, s], f, { rtol: 1e-6, atol: 1e-7 });
  const fs: ((x: Tensor, y: Tensor) => Tensor)[] = [
    (x, y) => np.maximum(x, y).div(np.minimum(x, y).add(3)),
    (x, y) => np.where(np.greater(x, y), np.log1p(np.abs(x)), np.sqrt(np.abs(y))),
    (x) => x.sum({ axis: 1 }),
    (x) => x.max({ axis: [0, 2] }),
    (x) => x.min({ axis: 2 }),
    (x) => x.sum(),
    (x) => np.transpose(x, [2, 0, 1]),
    (x) => np.flip(x, 1),
    (x) => np.slice(x, [1, 0, 1], [3, 4, 5]),
    (x, y) => x.sum({ axis: 0 }).reshape([1, 4, 5]).add(y),
  ];
  for (const f of fs) await compare([s, s], f, { rtol: 0, atol: 0 });
});

Deno.test("a jitted MLP training step on native matches the reference", async () => {
  const step = (w1: Tensor, w2: Tensor, x: Tensor, y: Tensor) => {
    const loss = (a: Tensor, b: Tensor) =>
      np.square(np.maximum(x.matmul(a), 0).matmul(b).sub(y)).mean();
    const [ga, gb] = grad(loss, { argnums: [0, 1] })(w1, w2) as Tensor[];
    return w1.sub(ga.mul(0.1)).add(w2.sum().sub(gb.sum()));
  };
  await compare([[16, 8], [8, 3], [10, 16], [10, 3]], jit(step));
});

Deno.test("the fallback GEMM is used, with a notice, when BLAS is disabled", () => {
  const lines: string[] = [];
  const b = loadBlas({ blas: false, warn: (l) => lines.push(l) });
  assertEquals(b.path, null);
  assertEquals(b.sgemm, sgemmJs);
  assertEquals(lines.length, 1);
  assert(lines[0].startsWith("denax native: "), lines[0]);
});

async function runFallback(
  env: Record<string, string>,
  perms: string[],
): Promise<{ out: any; err: string[] }> {
  const script = new URL("./testdata/native/fallback_main.ts", import.meta.url).pathname;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", ...perms, script],
    env,
    stdout: "piped",
    stderr: "piped",
  });
  const r = await cmd.output();
  const err = new TextDecoder().decode(r.stderr).split("\n").filter((l) => l.trim());
  assertEquals(r.code, 0, err.join("\n"));
  return { out: JSON.parse(new TextDecoder().decode(r.stdout)), err };
}

const EXPECTED = { product: [[7, -1], [16, -1]], conv: [[[[10, 18], [42, 50]]]] };

Deno.test("DENAX_BLAS at a missing path falls back with one line on stderr", async () => {
  const { out, err } = await runFallback({ DENAX_BLAS: "/nonexistent/libblas.so" }, ["-A"]);
  assertEquals(err.length, 1, err.join("\n"));
  assert(err[0].includes("no BLAS at DENAX_BLAS=/nonexistent/libblas.so"), err[0]);
  assertEquals({ product: out.product, conv: out.conv }, EXPECTED);
  assert(out.description.includes("TypeScript GEMM"), out.description);
});

Deno.test("without --allow-ffi the native backend falls back with one line on stderr", async () => {
  const { out, err } = await runFallback({}, ["--allow-read", "--allow-env"]);
  assertEquals(err.length, 1, err.join("\n"));
  assert(err[0].includes("--allow-ffi is not granted"), err[0]);
  assertEquals({ product: out.product, conv: out.conv }, EXPECTED);
});

Deno.test("a BLAS path that is not a library is an error naming the path", async () => {
  const path = await Deno.makeTempFile({ suffix: ".so" });
  try {
    await Deno.writeTextFile(path, "not a shared library\n");
    const e = assertThrows(() => createNativeBackend({ blas: path }), BlasLoadError);
    assertEquals(e.path, path);
    assert(e.message.startsWith(`Cannot load the BLAS library ${path}: `), e.message);
    assert(e.message.includes("help: "), e.message);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a library without cblas_sgemm is an error naming the path", () => {
  const libc = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"].find(
    (p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    },
  );
  if (!libc) return; // not a Debian x86-64 machine: the other error test covers the message
  const e = assertThrows(() => createNativeBackend({ blas: libc }), BlasLoadError);
  assert(e.message.includes(libc) && e.message.includes("cblas_sgemm"), e.message);
});

// rev of the trailing dims is a reversal of each flat block (a kernel's spatial flip); other
// axis sets take the strided gather: both against the reference, bit for bit
const REVS: [string, number[], number[]][] = [
  ["a kernel's spatial flip", [4, 3, 3, 3], [2, 3]],
  ["the last dim", [5, 7], [1]],
  ["every dim", [2, 3, 4], [0, 1, 2]],
  ["trailing dims given out of order", [3, 2, 5], [2, 1]],
  ["size-1 trailing dims", [6, 1, 1], [1, 2]],
  ["not the trailing dims", [3, 4, 5], [0, 2]],
  ["a middle dim", [3, 4, 5], [1]],
];
for (const [name, shape, axes] of REVS) {
  Deno.test(`native rev equals the reference: ${name}`, async () => {
    const d = host(5, shape);
    d[1] = NaN;
    const run = () => lax.rev(t(d, shape), axes);
    const want = await withCpu(run).data();
    const got = await on(native, run).data();
    assertEquals([...got].map(String), [...want].map(String));
  });
}

async function heapChild(env: Record<string, string>) {
  const script = new URL("./testdata/native/heap_main.ts", import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", script],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  return JSON.parse(new TextDecoder().decode(r.stdout)) as {
    keep: boolean;
    faultsPerCall: number;
    pages: number;
  };
}

Deno.test({
  name: "the native backend reuses freed result memory instead of faulting in fresh pages (glibc)",
  ignore: Deno.build.os !== "linux" || Deno.build.env !== "gnu",
  async fn() {
    // each call returns a 40 MiB result (and its 40 MiB copy on the host), dropped and
    // collected before the next: with glibc's defaults every one is a fresh mapping, a fault
    // per 4 KiB page; with freed memory kept, the pages are reused
    const kept = await heapChild({});
    assert(kept.keep, "mallopt was not applied");
    assert(kept.faultsPerCall < kept.pages / 10, JSON.stringify(kept));
    const system = await heapChild({ DENAX_NATIVE_HEAP: "0" });
    assert(!system.keep);
    assert(system.faultsPerCall > system.pages, JSON.stringify(system));
  },
});
