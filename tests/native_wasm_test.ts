/**
 * The native backend's Wasm SIMD128 kernels (`native/wasm_*.ts`): the vector `exp`, `log`,
 * `tanh` and `logistic` against `Math.*` (max ulp error over dense sweeps, bounded), their
 * special values, the scalar ports giving the kernels' bits, and the jit's fused Wasm loops
 * giving eager native evaluation's bits (and the JavaScript loops' bits with Wasm off). Runs
 * on the native backend whatever `DENAX_BACKEND` says.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { jit, np, type Tensor } from "../mod.ts";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { createNativeBackend } from "../native/backend.ts";
import { nativeJitConfig } from "../native/jit_codegen.ts";
import {
  BLOCK,
  compileChain,
  scalarMath,
  simdAvailable,
  wasmConfig,
} from "../native/wasm_kernels.ts";
import { SCALAR_MATH } from "../native/wasm_math.ts";
import { rng } from "./helpers.ts";
import { withCpu } from "./backend.ts";

const native = createNativeBackend({ warn: () => {} });

async function onNative<T>(fn: () => Promise<T>): Promise<T> {
  const prev: Backend = currentBackend();
  setBackend(native);
  try {
    return await fn();
  } finally {
    setBackend(prev);
  }
}

/** Distance in f32 steps between `a` (an f32) and `exact` rounded to f32. */
function ulps(a: number, exact: number): number {
  if (Number.isNaN(a) || Number.isNaN(exact)) {
    return Number.isNaN(a) === Number.isNaN(exact) ? 0 : Infinity;
  }
  const b = Math.fround(exact);
  if (a === b) return Object.is(a, b) || a !== 0 ? 0 : Infinity; // a signed zero must match
  const v = new Float32Array([a, b]), u = new Int32Array(v.buffer);
  const ord = (i: number) => (i < 0 ? -(i & 0x7fffffff) : i);
  return Math.abs(ord(u[0]) - ord(u[1]));
}

/** Every `step`-th f32 bit pattern (both signs, all exponents), and a dense grid of [lo, hi]. */
function sweep(step: number, lo: number, hi: number, n: number): Float32Array {
  const out: number[] = [];
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let b = 0; b < 2 ** 32; b += step) {
    u[0] = b;
    out.push(f[0]);
  }
  for (let i = 0; i <= n; i++) out.push(lo + ((hi - lo) * i) / n);
  return Float32Array.from(out);
}

const REF: Record<string, (x: number) => number> = {
  exp: Math.exp,
  log: Math.log,
  tanh: Math.tanh,
  logistic: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
};
/** The largest errors measured over the sweeps below (the tests fail above them). */
const MAX_ULP: Record<string, number> = { exp: 1, log: 1, tanh: 2, logistic: 2 };
const RANGE: Record<string, [number, number]> = {
  exp: [-104, 89],
  log: [0, 10],
  tanh: [-10, 10],
  logistic: [-105, 105],
};

const chainOf = (prim: string) =>
  compileChain({
    ops: [{ name: "t", prim, ins: ["x"] }],
    vec: ["x"],
    scalars: [],
    outs: ["t"],
    lits: new Map(),
  });

for (const prim of Object.keys(REF)) {
  Deno.test(`the vector ${prim} is within ${MAX_ULP[prim]} ulp of Math's over dense sweeps, and its scalar port and one-lane function give the same bits`, () => {
    const [lo, hi] = RANGE[prim];
    const x = sweep(4099, lo, hi, 1 << 20);
    const y = new Float32Array(x.length);
    const k = chainOf(prim);
    assertEquals(!!k, simdAvailable() && wasmConfig.enabled, "a kernel wherever SIMD128 is on");
    const port = SCALAR_MATH[prim], lane = scalarMath()[prim];
    if (k) k.run(x.length, [x], [0], [], [y], [0]);
    else for (let i = 0; i < x.length; i++) y[i] = port(x[i]);
    let worst = 0, at = 0;
    for (let i = 0; i < x.length; i++) {
      const s = Math.fround(port(x[i])), w = Math.fround(lane(x[i]));
      if (!(Object.is(s, y[i]) || (Number.isNaN(s) && Number.isNaN(y[i])))) {
        throw new Error(`${prim}(${x[i]}): kernel ${y[i]}, scalar port ${s}`);
      }
      if (!(Object.is(w, y[i]) || (Number.isNaN(w) && Number.isNaN(y[i])))) {
        throw new Error(`${prim}(${x[i]}): kernel ${y[i]}, one-lane function ${w}`);
      }
      const e = ulps(y[i], REF[prim](x[i]));
      if (e > worst) [worst, at] = [e, i];
    }
    console.log(`${prim}: max ${worst} ulp (at ${x[at]}) over ${x.length} values`);
    assert(worst <= MAX_ULP[prim], `${prim}: ${worst} ulp at ${x[at]}`);
  });
}

Deno.test("the vector math keeps Math's special values: ±0, ±∞, NaN, overflow, underflow, subnormals", () => {
  const NONE = -12345; // not a special value: within the ulp bound of Math's
  const cases: [string, number, number][] = [
    ["exp", 0, 1],
    ["exp", -0, 1],
    ["exp", Infinity, Infinity],
    ["exp", -Infinity, 0],
    ["exp", NaN, NaN],
    ["exp", 88.8, Infinity],
    ["exp", 1e30, Infinity],
    ["exp", -104, 0],
    ["exp", -1e30, 0],
    ["exp", -100, NONE], // subnormal
    ["exp", 88.7, NONE],
    ["exp", -87.5, NONE], // the scale's two halves
    ["log", 0, -Infinity],
    ["log", -0, -Infinity],
    ["log", -1, NaN],
    ["log", -Infinity, NaN],
    ["log", Infinity, Infinity],
    ["log", NaN, NaN],
    ["log", 1, 0],
    ["log", 1e-45, NONE], // the smallest subnormal
    ["log", 1e-40, NONE],
    ["log", 3.4028234663852886e38, NONE],
    ["tanh", 0, 0],
    ["tanh", -0, -0],
    ["tanh", Infinity, 1],
    ["tanh", -Infinity, -1],
    ["tanh", NaN, NaN],
    ["tanh", 20, 1],
    ["tanh", -1e-30, NONE],
    ["logistic", 0, 0.5],
    ["logistic", -0, 0.5],
    ["logistic", Infinity, 1],
    ["logistic", -Infinity, 0],
    ["logistic", NaN, NaN],
    ["logistic", -200, 0],
    ["logistic", 100, 1],
  ];
  const x = new Float32Array(cases.map((c) => c[1]));
  for (const prim of Object.keys(REF)) {
    const mine = cases.map((c, i) => [c, i] as const).filter(([c]) => c[0] === prim);
    // a kernel over 64 copies (so Wasm runs where available), and the scalar port
    const xs = new Float32Array(64 * x.length).map((_, i) => x[i % x.length]);
    const y = new Float32Array(xs.length);
    const k = chainOf(prim);
    if (k) k.run(xs.length, [xs], [0], [], [y], [0]);
    else y.set(xs.map(SCALAR_MATH[prim]));
    for (const [[, v, want], i] of mine) {
      for (
        const got of [y[i], y[i + x.length * 63], Math.fround(SCALAR_MATH[prim](Math.fround(v)))]
      ) {
        if (want === NONE) {
          const e = ulps(got, REF[prim](Math.fround(v)));
          assert(e <= MAX_ULP[prim], `${prim}(${v}) = ${got}: ${e} ulp`);
        } else {
          assert(
            Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)),
            `${prim}(${v}) = ${got}, want ${want}`,
          );
        }
      }
    }
  }
});

const W2 = (x: Tensor) => np.tanh(x.mul(2).add(1)).mul(np.sigmoid(x)).sub(np.exp(x.mul(x).neg()));

/** A chain with bool intermediates (lane masks in a Wasm kernel). */
const MASKS = (a: Tensor, b: Tensor) => {
  const m = np.logicalOr(np.logicalAnd(np.greater(a, 0), np.less(b, a)), np.isnan(a));
  const k = np.logicalXor(np.logicalNot(np.isinf(b)), np.greaterEqual(a, b));
  return np.where(m, a, b.mul(0.1)).add(k.astype("f32")).sub(np.where(k, np.exp(a), 1));
};

async function evalAll(
  f: (...xs: Tensor[]) => Tensor,
  data: { d: Float32Array; s: number[] }[],
  jitted: boolean,
): Promise<Float32Array> {
  return await onNative(async () => {
    const xs = data.map(({ d, s }) => np.array(d, { shape: s }));
    return (await (jitted ? jit(f) : f)(...xs).data()) as Float32Array;
  });
}

function host(seed: number, n: number, lo = -6, hi = 6): Float32Array {
  const r = rng(seed), d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * r();
  return d;
}

Deno.test("fused Wasm loops give eager native evaluation's bits, and so do the JavaScript loops with Wasm off", async () => {
  const n = 2 * BLOCK + 13; // two full blocks and a tail that is not a multiple of 4
  const x = host(1, n);
  x.set([0, -0, Infinity, -Infinity, NaN, 100, -100, 1e-40]);
  const rows = 3, cols = 700;
  const cases: [(...xs: Tensor[]) => Tensor, { d: Float32Array; s: number[] }[]][] = [
    [W2, [{ d: x, s: [n] }]],
    // a bias over rows (a per-row... per-column vector) and a per-row scalar
    [
      (a, b, c) =>
        np.log(np.abs(np.tanh(a.add(b)).mul(c)).add(1e-3)).sub(np.maximum(a, b.mul(0.5))),
      [
        { d: host(2, rows * cols), s: [rows, cols] },
        { d: host(3, cols), s: [cols] },
        { d: host(4, rows), s: [rows, 1] },
      ],
    ],
    // bools as lane masks: comparisons, where (select), logical ops, NaN/∞ tests, bool → f32
    [
      MASKS,
      [{ d: x, s: [n] }, { d: host(9, n), s: [n] }],
    ],
    // transcendentals inside long reductions get a Wasm loop and a buffer of their own
    [
      (a) => {
        const e = np.exp(a.sub(np.max(a, { axis: 1, keepdims: true })));
        const lse = np.log(np.sum(np.exp(a), { axis: 1, keepdims: true }));
        return e.div(np.sum(e, { axis: 1, keepdims: true })).add(lse);
      },
      [{ d: host(13, 8 * 1000), s: [8, 1000] }],
    ],
    // rows longer than half a block (one kernel call per row)
    [
      (a, b) => np.tanh(a.mul(b)).add(b),
      [{ d: host(10, 2 * 5000), s: [2, 5000] }, { d: host(11, 5000), s: [5000] }],
    ],
    [(a) => np.sigmoid(np.sqrt(np.abs(a))).div(np.minimum(a, 0.5).sub(7)), [{
      d: host(5, 4096),
      s: [64, 64],
    }]],
  ];
  const prev = nativeJitConfig.rounding, prevW = wasmConfig.enabled;
  try {
    nativeJitConfig.rounding = "exact";
    for (const [f, data] of cases) {
      const eager = await evalAll(f, data, false);
      wasmConfig.enabled = true;
      const wasm = await evalAll(f, data, true);
      wasmConfig.enabled = false;
      const js = await evalAll(f, data, true);
      assertEquals(Array.from(wasm), Array.from(eager));
      assertEquals(Array.from(js), Array.from(eager));
    }
  } finally {
    nativeJitConfig.rounding = prev;
    wasmConfig.enabled = prevW;
  }
});

Deno.test("the fused W2 chain (and one with bool masks) compiles to one Wasm kernel where SIMD128 is available, and to JavaScript with Wasm off", async () => {
  const x = np.array(host(6, 1 << 12));
  const lowered = await onNative(() => Promise.resolve(jit(W2).lower(x)));
  const prev = wasmConfig.enabled;
  try {
    wasmConfig.enabled = true;
    const text = (exe: unknown) => (exe as { program: string }).program;
    const on = text(native.compileJaxpr!(lowered.jaxpr));
    wasmConfig.enabled = false;
    const off = text(native.compileJaxpr!(lowered.jaxpr));
    assertEquals(on.split("\n")[0].startsWith("loop"), true, on);
    assertEquals(on.includes("wasm ("), simdAvailable(), on);
    assert(on.includes("tanh(") && on.includes("logistic(") && on.includes("exp("), on);
    assert(!off.includes("wasm ("), off);
    assert(off.includes("M.tanh(") && off.includes("M.exp("), off);
    // bool intermediates stay inside the kernel as lane masks
    wasmConfig.enabled = true;
    const y = np.array(host(7, 1 << 12));
    const masks = text(native.compileJaxpr!(
      (await onNative(() => Promise.resolve(jit(MASKS).lower(x, y)))).jaxpr,
    ));
    assertEquals(masks.includes("wasm ("), simdAvailable(), masks);
    assert(simdAvailable() === (masks.includes("select(") && masks.includes("xor(")), masks);
    // the exp inside a long sum is a Wasm loop of its own
    const z = np.array(host(8, 8000), { shape: [8, 1000] });
    const lse = (a: Tensor) => np.log(np.sum(np.exp(a), { axis: 1 }));
    const red = text(native.compileJaxpr!(
      (await onNative(() => Promise.resolve(jit(lse).lower(z)))).jaxpr,
    ));
    assertEquals(/wasm \(r0; \) -> t0\n {2}t0 = exp\(r0\)/.test(red), simdAvailable(), red);
  } finally {
    wasmConfig.enabled = prev;
  }
});

Deno.test("eager native arithmetic over long arrays (Wasm kernels) equals the reference bit for bit, special values included", async () => {
  const n = BLOCK + 77;
  const a = host(7, n, -3, 3), b = host(8, n, -3, 3);
  const sp = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 3e38, -3e38, 1];
  for (let i = 0; i < sp.length; i++) {
    for (let j = 0; j < sp.length; j++) {
      a[i * sp.length + j] = sp[i];
      b[i * sp.length + j] = sp[j];
    }
  }
  const fs: ((x: Tensor, y: Tensor) => Tensor)[] = [
    (x, y) => x.add(y),
    (x, y) => x.sub(y),
    (x, y) => x.mul(y),
    (x, y) => x.div(y),
    (x) => x.neg(),
    (x) => np.abs(x),
    (x) => np.sqrt(x),
  ];
  for (const f of fs) {
    const run = () => f(np.array(a), np.array(b)).data();
    const got = await onNative(run);
    const want = await withCpu(run);
    assertEquals(Array.from(got), Array.from(want), f.toString());
  }
});

/** Runs `code` in a fresh `deno eval` (permissions as this test's); returns its exit and output. */
async function evalScript(code: string): Promise<{ code: number; out: string; err: string }> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", code],
    stdout: "piped",
    stderr: "piped",
  });
  const child = cmd.spawn();
  // a script kept alive by its workers would hang: give up after 60 s
  const timer = setTimeout(() => child.kill(), 60_000);
  const r = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

const POOL = new URL("../native/pool.ts", import.meta.url).href;
const KERNELS = new URL("../native/wasm_kernels.ts", import.meta.url).href;

Deno.test("a script using the worker pool gets the single thread's bits and exits by itself", async () => {
  const r = await evalScript(`
    import { poolConfig, poolStats } from "${POOL}";
    import { compileChain } from "${KERNELS}";
    const n = (1 << 18) + 5;
    const x = new Float32Array(n).map((_, i) => (i % 1000) / 100 - 5);
    const k = compileChain({
      ops: [{ name: "t", prim: "tanh", ins: ["x"] }, { name: "u", prim: "mul", ins: ["t", "x"] }],
      vec: ["x"], scalars: [], outs: ["u"], lits: new Map(),
    });
    const a = new Float32Array(n), b = new Float32Array(n);
    if (k) {
      poolConfig.threads = 2;
      for (let r = 0; r < 3; r++) k.run(n, [x], [0], [], [a], [0]);
      poolConfig.threads = 1;
      k.run(n, [x], [0], [], [b], [0]);
    }
    const same = a.every((v, i) => Object.is(v, b[i]));
    console.log(JSON.stringify({ same, simd: !!k, cores: navigator.hardwareConcurrency, ...poolStats }));
  `);
  assertEquals(r.code, 0, r.err);
  const o = JSON.parse(r.out);
  assert(o.same, r.out);
  // with two cores or more a worker started and took part (the main thread may not wait)
  if (o.simd && o.cores >= 2) assert(o.started >= 1 && o.tasks === 3, r.out);
  assertEquals(o.fallbacks, 0, r.out);
});

Deno.test("a pool worker that fails does not hang the call: the main thread computes the range and the pool closes", async () => {
  const r = await evalScript(`
    import { poolConfig, poolStats, runPooled } from "${POOL}";
    poolConfig.threads = 2;
    const mem = new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true });
    const H = new Float32Array(mem.buffer);
    const n = 40000, base = 4096, stride = n * 4;
    for (let i = 0; i < n; i++) H[base / 4 + i] = i;
    // the main thread's kernel doubles slot 0 into slot 1; the workers get a module that
    // does not compile, so each chunk they take fails
    const fn = (b, m) => { for (let i = 0; i < m; i++) H[(b + stride) / 4 + i] = 2 * H[b / 4 + i]; };
    const t0 = performance.now();
    const out = H.subarray((base + stride) / 4, (base + stride) / 4 + n);
    let ok = true;
    // until a worker has started and failed on a chunk (the first calls may find it booting:
    // under load its boot took over 2 s, so the wait is bounded by time, not by tries)
    while (poolStats.fallbacks === 0 && performance.now() - t0 < 20_000) {
      out.fill(0);
      runPooled(mem, 1, new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]), fn, n, base, stride, []);
      ok &&= out.every((v, i) => v === 2 * i);
      await new Promise((r) => setTimeout(r, 20));
    }
    const tasks = poolStats.tasks;
    out.fill(0);
    runPooled(mem, 1, new Uint8Array(0), fn, n, base, stride, []); // closed: main thread only
    ok &&= out.every((v, i) => v === 2 * i) && poolStats.tasks === tasks;
    console.log(JSON.stringify({ ok, ms: performance.now() - t0, cores: navigator.hardwareConcurrency, ...poolStats }));
  `);
  assertEquals(r.code, 0, r.err);
  const o = JSON.parse(r.out);
  assert(o.ok, r.out);
  assert(o.ms < 30_000, r.out);
  if (o.cores >= 2) assert(o.started >= 1 && o.fallbacks === 1 && o.workerChunks >= 1, r.out);
});
