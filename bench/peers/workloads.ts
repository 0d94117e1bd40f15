/**
 * The five peer-comparison workloads, shared by every library runner: shapes, seeded data, the
 * timing protocol, and the comparison of every library's result with a float64 host reference.
 *
 * - W1 matmul: f32 `A·B`, both N × N, N = 256, 512, 1024; GFLOP/s = 2N³ / time.
 * - W2 elementwise: `tanh(x*2+1)*sigmoid(x) - exp(-x*x)` on 2²⁰ floats, eager and jitted.
 * - W3 MLP 784-256-256-10, ReLU, softmax cross-entropy, batch 128, SGD lr 0.1: one jitted
 *   training step (forward, backward, update), loss read back every step or every 10 steps.
 * - W4 conv: x 64×1×28×28 → conv 6 filters 5×5 padding 2 → conv 16 filters 5×5 valid;
 *   loss = Σ y ⊙ c for a fixed cotangent c; forward + backward (grads of x and both kernels).
 * - W5 cold start: a fresh process, from the import to the first MLP step's loss on the host.
 *
 * Layouts are NCHW / OIHW (denax, jax-js); the tfjs runner converts to its NHWC / HWIO on the
 * host, outside the timed region. The float64 references are in `reference.ts`.
 *
 * @module
 */

// ------------------------------------------------------------------ shapes and constants

/** Matrix sizes of W1, with the products per timed iteration (the readback costs ≥ 10 ms). */
export const MATMUL_SIZES: readonly { n: number; reps: number }[] = [
  { n: 256, reps: 16 },
  { n: 512, reps: 4 },
  { n: 1024, reps: 1 },
];
/** Elements of W2. */
export const ELEMENTWISE_SIZE = 1 << 20;
/** Calls of the W2 function per timed iteration (one wait for the device at the end). */
export const ELEMENTWISE_CALLS = 5;
/** Layer sizes of W3. */
export const MLP_SIZES = [784, 256, 256, 10] as const;
/** Batch of W3. */
export const MLP_BATCH = 128;
/** Learning rate of W3. */
export const MLP_LR = 0.1;
/** Shapes of W4 (NCHW / OIHW). */
export const CONV = {
  x: [64, 1, 28, 28],
  k1: [6, 1, 5, 5],
  pad1: 2,
  k2: [16, 6, 5, 5],
  h: [64, 6, 28, 28],
  y: [64, 16, 24, 24],
} as const;

/** The parameter names of the MLP, in order: w1 b1 w2 b2 w3 b3. */
export const MLP_PARAM_NAMES = ["w1", "b1", "w2", "b2", "w3", "b3"] as const;
/** MLP parameters as flat f32 host arrays with their shapes. */
export type MlpHostParams = Record<(typeof MLP_PARAM_NAMES)[number], HostTensor>;

/** A flat host array with its shape (row-major). */
export interface HostTensor {
  data: Float32Array<ArrayBuffer>;
  shape: number[];
}

// ------------------------------------------------------------------ seeded data

/** mulberry32: a small, fast, seeded 32-bit PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `size` floats uniform in [lo, hi), rounded to f32. */
export function uniform(seed: number, shape: readonly number[], lo = -1, hi = 1): HostTensor {
  const r = prng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * r();
  return { data, shape: [...shape] };
}

/** W1 operands. */
export function matmulData(n: number): { a: HostTensor; b: HostTensor } {
  return { a: uniform(100 + n, [n, n]), b: uniform(200 + n, [n, n]) };
}

/** W2 input, uniform in [-3, 3). */
export function elementwiseData(): HostTensor {
  return uniform(7, [ELEMENTWISE_SIZE], -3, 3);
}

/** W3 initial parameters (Glorot-uniform weights, small uniform biases) and batch. */
export function mlpData(): { params: MlpHostParams; x: HostTensor; y: HostTensor } {
  const [d0, d1, d2, d3] = MLP_SIZES;
  const g = (fi: number, fo: number) => Math.sqrt(6 / (fi + fo));
  const params: MlpHostParams = {
    w1: uniform(11, [d0, d1], -g(d0, d1), g(d0, d1)),
    b1: uniform(12, [d1], -0.05, 0.05),
    w2: uniform(13, [d1, d2], -g(d1, d2), g(d1, d2)),
    b2: uniform(14, [d2], -0.05, 0.05),
    w3: uniform(15, [d2, d3], -g(d2, d3), g(d2, d3)),
    b3: uniform(16, [d3], -0.05, 0.05),
  };
  const x = uniform(17, [MLP_BATCH, d0], 0, 1);
  const r = prng(18);
  const y = new Float32Array(MLP_BATCH * d3);
  for (let i = 0; i < MLP_BATCH; i++) y[i * d3 + Math.floor(r() * d3)] = 1;
  return { params, x, y: { data: y, shape: [MLP_BATCH, d3] } };
}

/** W4 input, kernels and output cotangent (NCHW / OIHW). */
export function convData(): { x: HostTensor; k1: HostTensor; k2: HostTensor; c: HostTensor } {
  return {
    x: uniform(21, CONV.x),
    k1: uniform(22, CONV.k1, -0.2, 0.2),
    k2: uniform(23, CONV.k2, -0.08, 0.08),
    c: uniform(24, CONV.y),
  };
}

/** Transposes a row-major host tensor (for the tfjs NHWC layouts). */
export function transposeHost(t: HostTensor, perm: readonly number[]): HostTensor {
  const shape = perm.map((p) => t.shape[p]);
  const inStrides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const n = t.data.length;
  const out = new Float32Array(n);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let k = 0; k < shape.length; k++) src += idx[k] * inStrides[perm[k]];
    out[o] = t.data[src];
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return { data: out, shape };
}

// ------------------------------------------------------------------ checked results

/** Rows of the W1 product that are checked: 32 evenly spaced ones (a full float64 1024³ is slow). */
export function matmulCheckedRows(n: number): number[] {
  const step = Math.max(1, Math.floor(n / 32));
  const rows: number[] = [];
  for (let i = 0; i < n; i += step) rows.push(i);
  return rows;
}

/** Picks the checked rows out of a full `n × n` result. */
export function matmulPickRows(full: ArrayLike<number>, n: number): Float64Array {
  const rows = matmulCheckedRows(n);
  const out = new Float64Array(rows.length * n);
  rows.forEach((i, r) => {
    for (let j = 0; j < n; j++) out[r * n + j] = full[i * n + j];
  });
  return out;
}

/** The MLP result that is checked: the first step's loss and the updated parameters. */
export type MlpResult =
  & { loss: number }
  & Record<(typeof MLP_PARAM_NAMES)[number], ArrayLike<number>>;

/** The W4 result that is checked: the loss and the gradients of x, k1 and k2 (NCHW / OIHW). */
export interface ConvResult {
  loss: number;
  dx: ArrayLike<number>;
  dk1: ArrayLike<number>;
  dk2: ArrayLike<number>;
}

// ------------------------------------------------------------------ checking

/** How far a result is from its reference. */
export interface Check {
  ok: boolean;
  /** max |a − r| / (atol + rtol·|r|) over all compared values (≤ 1 passes). */
  worst: number;
  /** max |a − r| over all compared values. */
  maxAbs: number;
  detail: string;
}

/** Compares named arrays (or scalars) against references with `atol + rtol·|r|`. */
export function compare(
  actual: Record<string, ArrayLike<number> | number>,
  expected: Record<string, ArrayLike<number> | number>,
  tol: { rtol: number; atol: number },
): Check {
  let worst = 0, maxAbs = 0;
  const parts: string[] = [];
  for (const [name, e] of Object.entries(expected)) {
    const a = actual[name];
    const av = typeof a === "number" ? [a] : a, ev = typeof e === "number" ? [e] : e;
    if (!av || av.length !== ev.length) {
      return {
        ok: false,
        worst: Infinity,
        maxAbs: Infinity,
        detail: `${name}: length ${av?.length} vs ${ev.length}`,
      };
    }
    let w = 0, m = 0;
    for (let i = 0; i < ev.length; i++) {
      const d = Math.abs(av[i] - ev[i]);
      const q = d / (tol.atol + tol.rtol * Math.abs(ev[i]));
      if (!(q <= w)) w = Number.isNaN(q) ? Infinity : Math.max(w, q);
      if (!(d <= m)) m = Number.isNaN(d) ? Infinity : Math.max(m, d);
    }
    worst = Math.max(worst, w);
    maxAbs = Math.max(maxAbs, m);
    if (w > 1) parts.push(`${name}: max|err| ${m.toExponential(2)}`);
  }
  return {
    ok: worst <= 1,
    worst,
    maxAbs,
    detail: parts.length ? parts.join(", ") : `max|err| ${maxAbs.toExponential(2)}`,
  };
}

/** Tolerances per workload (f32 on the device vs float64 on the host). */
export const TOLERANCE = {
  matmul: { rtol: 1e-3, atol: 1e-3 },
  elementwise: { rtol: 1e-4, atol: 1e-5 },
  mlp: { rtol: 1e-3, atol: 1e-5 },
  conv: { rtol: 1e-3, atol: 1e-3 },
} as const;

// ------------------------------------------------------------------ timing

/** Options of {@linkcode sample}. */
export interface SampleOptions {
  /** Untimed calls first (the first compiles). Default 2. */
  warmup?: number;
  /** Timed calls at least. Default 5. */
  minReps?: number;
  /** Timed calls at most. Default 30. */
  maxReps?: number;
  /** Stop after `minReps` once this much time went into timed calls. Default 3000 ms. */
  budgetMs?: number;
}

/**
 * The sampling protocol of each workload, the same for every library: a warm-up (the first
 * call traces and compiles), then at least `minReps` timed iterations, more while the budget
 * lasts (fast cases get more samples, slow ones stop at `minReps`).
 */
export const SAMPLING = {
  matmul: (n: number): SampleOptions => ({
    warmup: n >= 1024 ? 1 : 2,
    maxReps: 20,
    budgetMs: 4000,
  }),
  elementwise: { warmup: 2, maxReps: 20, budgetMs: 3000 } as SampleOptions,
  mlp: (stepsPerReadback: number): SampleOptions => ({
    warmup: stepsPerReadback > 1 ? 1 : 3,
    maxReps: stepsPerReadback > 1 ? 10 : 30,
    budgetMs: 4000,
  }),
  conv: { warmup: 1, maxReps: 20, budgetMs: 5000 } as SampleOptions,
};

let _override: SampleOptions = {};
/** Overrides every workload's sampling (e.g. `{ minReps: 3 }` for a quick run). */
export function configureSampling(o: SampleOptions): void {
  _override = { ...o };
}
/** A workload's sampling options with the override applied, defaults filled in. */
export function samplingFor(o: SampleOptions): Required<SampleOptions> {
  const { warmup = 2, minReps = 5, maxReps = 30, budgetMs = 3000 } = { ...o, ..._override };
  return { warmup, minReps, maxReps: Math.max(maxReps, minReps, 1), budgetMs };
}

/**
 * A workload set up on a library (data uploaded, functions built): `iter` runs one timed
 * iteration of `per` units and waits for the device; `result` gives the values to check.
 */
export interface Prepared<R> {
  /** Units (products, calls, steps) per iteration. */
  per: number;
  /** The workload's sampling protocol. */
  sampling: SampleOptions;
  /** One timed iteration, ending when the device has finished it. */
  iter(): Promise<void>;
  /** The values checked against the float64 reference (untimed). */
  result(): Promise<R>;
  /** Frees what the workload holds (optional). */
  dispose?(): void;
}

/** Runs the warm-up and the timed iterations of one prepared workload on its own. */
export async function measure<R>(p: Prepared<R>): Promise<Measured<R>> {
  const { warmup, minReps, maxReps, budgetMs } = samplingFor(p.sampling);
  for (let i = 0; i < warmup; i++) await p.iter();
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < maxReps && (samples.length < minReps || spent < budgetMs)) {
    const t0 = performance.now();
    await p.iter();
    const dt = performance.now() - t0;
    spent += dt;
    samples.push(dt / p.per);
  }
  const result = await p.result();
  p.dispose?.();
  return { ms: median(samples), samples, result };
}

/** Median of a list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One workload's measurement: median ms per unit, the samples, and the values to check. */
export interface Measured<R> {
  ms: number;
  samples: number[];
  result: R;
}

/**
 * What a library runner exports for the comparison: the five workloads, each prepared on the
 * library; `measure(await runner.matmul(n, reps))` gives `{ ms, samples, result }`.
 */
export interface LibRunner {
  /** e.g. "denax", "jax-js", "tfjs". */
  name: string;
  /** The backend it ended up on (e.g. "webgpu", "wasm"). */
  backend: string;
  /** The adapter, where the library exposes it. */
  adapter?: string;
  /** W1: `reps` products per iteration; result = the checked rows of A·B. */
  matmul(n: number, reps: number): Promise<Prepared<Float64Array>>;
  /** W2: calls per iteration; result = f(x). `jit` false runs eagerly; null where no jit. */
  elementwise(jit: boolean): Promise<Prepared<ArrayLike<number>> | null>;
  /** W3: steps per iteration; result = the first step's loss and updated params. */
  mlp(stepsPerReadback: number): Promise<Prepared<MlpResult>>;
  /** W4: one forward + backward per iteration; result = loss and grads (NCHW / OIHW). */
  conv(): Promise<Prepared<ConvResult>>;
}
