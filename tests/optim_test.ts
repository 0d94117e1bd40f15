// deno-lint-ignore-file no-explicit-any -- typed in a later pass
import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { jit, np, type Tensor, tree, valueAndGrad } from "../mod.ts";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { createCpuBackend } from "../core/cpu.ts";
import * as optim from "../optim/mod.ts";
import type { GradientTransformation, OneCycleOptions } from "../optim/mod.ts";

// ---------------------------------------------------------------- helpers

type Vec = number[];
type Params = { w: Tensor; b: Tensor };

/** The fixed problem of the step-by-step tests: f(p) = Σ cᵢ pᵢ² over p = [w₀, w₁, b]. */
const C = [0.5, 2, 3];
const P0 = [1, -2, 0.5];
const gradOf = (p: Vec): Vec => p.map((x, i) => 2 * C[i] * x);
const quad = (p: Params) =>
  np.square(p.w).mul(np.array([C[0], C[1]])).sum().add(np.square(p.b).mul(C[2]));
const params0 = (): Params => ({ w: np.array([P0[0], P0[1]]), b: np.array(P0[2]) });
const flatOf = async (p: Params): Promise<Vec> => [
  ...Array.from(await p.w.data()),
  ...Array.from(await p.b.data()),
];

/** Runs `n` jitted steps of `opt` on `loss` and returns the state of every step. */
function makeStep<S>(opt: GradientTransformation<S>, loss: (p: any) => Tensor) {
  return jit((params: any, state: any) => {
    const [l, g] = valueAndGrad(loss)(params);
    const [u, s] = opt.update(g, state, params);
    return [optim.applyUpdates(params, u), s, l];
  });
}

async function runSteps<S>(opt: GradientTransformation<S>, n = 3): Promise<Vec[]> {
  const step = makeStep(opt, quad);
  let p: any = params0(), s: any = opt.init(p);
  const out: Vec[] = [];
  for (let k = 0; k < n; k++) {
    [p, s] = step(p, s);
    out.push(await flatOf(p));
  }
  assertEquals(step.traceCount, 1);
  return out;
}

/** A PyTorch reference step in float64: `(p, g, k) → p'`, k the 0-based step. */
type RefStep = (p: Vec, g: Vec, k: number) => Vec;
type RefLr = number | ((k: number) => number);
const lrOf = (lr: RefLr, k: number) => (typeof lr === "number" ? lr : lr(k));

function refRun(step: RefStep, n = 3): Vec[] {
  let p = [...P0];
  const out: Vec[] = [];
  for (let k = 0; k < n; k++) {
    p = step(p, gradOf(p), k);
    out.push([...p]);
  }
  return out;
}
const zeros = () => P0.map(() => 0);
const withL2 = (g: Vec, p: Vec, wd: number) => g.map((gi, i) => gi + wd * p[i]);

// ---------------------------------------------------------------- PyTorch algorithms (float64)
// Transcribed from the algorithm boxes of the torch.optim documentation.

function torchSgd(
  o: { lr: RefLr; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number },
): RefStep {
  const { momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 } = o;
  let buf: Vec | null = null;
  return (p, g0, k) => {
    let g = withL2(g0, p, weightDecay);
    if (momentum !== 0) {
      const b: Vec = buf === null
        ? [...g]
        : buf.map((bi, i) => momentum * bi + (1 - dampening) * g[i]);
      buf = b;
      g = nesterov ? g.map((gi, i) => gi + momentum * b[i]) : b;
    }
    return p.map((x, i) => x - lrOf(o.lr, k) * g[i]);
  };
}

function torchAdagrad(
  o: { lr?: number; lrDecay?: number; weightDecay?: number; init?: number; eps?: number },
): RefStep {
  const { lr = 0.01, lrDecay = 0, weightDecay = 0, init = 0, eps = 1e-10 } = o;
  const sum = P0.map(() => init);
  return (p, g0, k) => {
    const t = k + 1;
    const clr = lr / (1 + (t - 1) * lrDecay);
    const g = withL2(g0, p, weightDecay);
    g.forEach((gi, i) => (sum[i] += gi * gi));
    return p.map((x, i) => x - clr * g[i] / (Math.sqrt(sum[i]) + eps));
  };
}

function torchRmsprop(
  o: {
    lr?: number;
    alpha?: number;
    eps?: number;
    weightDecay?: number;
    momentum?: number;
    centered?: boolean;
  },
): RefStep {
  const { lr = 0.01, alpha = 0.99, eps = 1e-8, weightDecay = 0, momentum = 0, centered = false } =
    o;
  const v = zeros(), gAve = zeros(), b = zeros();
  return (p, g0) => {
    const g = withL2(g0, p, weightDecay);
    return p.map((x, i) => {
      v[i] = alpha * v[i] + (1 - alpha) * g[i] * g[i];
      let vt = v[i];
      if (centered) {
        gAve[i] = gAve[i] * alpha + (1 - alpha) * g[i];
        vt = vt - gAve[i] * gAve[i];
      }
      if (momentum > 0) {
        b[i] = momentum * b[i] + g[i] / (Math.sqrt(vt) + eps);
        return x - lr * b[i];
      }
      return x - lr * g[i] / (Math.sqrt(vt) + eps);
    });
  };
}

function torchAdadelta(
  o: { lr?: number; rho?: number; eps?: number; weightDecay?: number },
): RefStep {
  const { lr = 1, rho = 0.9, eps = 1e-6, weightDecay = 0 } = o;
  const v = zeros(), u = zeros();
  return (p, g0) => {
    const g = withL2(g0, p, weightDecay);
    return p.map((x, i) => {
      v[i] = v[i] * rho + g[i] * g[i] * (1 - rho);
      const dx = Math.sqrt(u[i] + eps) / Math.sqrt(v[i] + eps) * g[i];
      u[i] = u[i] * rho + dx * dx * (1 - rho);
      return x - lr * dx;
    });
  };
}

function torchAdam(
  o: {
    lr?: RefLr;
    betas?: [number, number];
    eps?: number;
    weightDecay?: number;
    amsgrad?: boolean;
    decoupled?: boolean;
  },
): RefStep {
  const { lr = 1e-3, betas: [b1, b2] = [0.9, 0.999], eps = 1e-8, amsgrad = false } = o;
  const decoupled = o.decoupled ?? false;
  const weightDecay = o.weightDecay ?? (decoupled ? 1e-2 : 0);
  const m = zeros(), v = zeros(), vMax = zeros();
  return (p0, g0, k) => {
    const t = k + 1, rate = lrOf(lr, k);
    // AdamW: θ ← θ − γλθ first; Adam: g ← g + λθ
    const p = decoupled ? p0.map((x) => x - rate * weightDecay * x) : p0;
    const g = decoupled ? g0 : withL2(g0, p0, weightDecay);
    return p.map((x, i) => {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mHat = m[i] / (1 - b1 ** t);
      vMax[i] = Math.max(vMax[i], v[i]);
      const vHat = (amsgrad ? vMax[i] : v[i]) / (1 - b2 ** t);
      return x - rate * mHat / (Math.sqrt(vHat) + eps);
    });
  };
}

const TOL = { rtol: 2e-5, atol: 2e-6 };

async function matchesTorch(opt: GradientTransformation<any>, ref: RefStep): Promise<void> {
  assertAllClose(await runSteps(opt), refRun(ref), TOL);
}

// ---------------------------------------------------------------- step-by-step vs PyTorch

Deno.test("sgd matches torch.optim.SGD for three steps (plain, momentum, dampening, nesterov, decay)", async () => {
  const configs = [
    { lr: 0.1 },
    { lr: 0.1, momentum: 0.9 },
    { lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 },
    { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1 },
  ];
  for (const c of configs) await matchesTorch(optim.sgd(c), torchSgd(c));
});

Deno.test("sgd initialises the momentum buffer to the first gradient, as PyTorch", async () => {
  // with zero initialisation the first step would be lr·(1 − dampening)·g, not lr·g
  const [first] = await runSteps(optim.sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5 }), 1);
  assertAllClose(first, P0.map((x, i) => x - 0.1 * gradOf(P0)[i]), TOL);
});

Deno.test("adagrad matches torch.optim.Adagrad for three steps", async () => {
  await matchesTorch(optim.adagrad(), torchAdagrad({}));
  await matchesTorch(
    optim.adagrad({ lr: 0.1, lrDecay: 0.5, weightDecay: 0.1, initialAccumulatorValue: 0.2 }),
    torchAdagrad({ lr: 0.1, lrDecay: 0.5, weightDecay: 0.1, init: 0.2 }),
  );
});

Deno.test("rmsprop matches torch.optim.RMSprop for three steps (plain, centered with momentum)", async () => {
  await matchesTorch(optim.rmsprop(), torchRmsprop({}));
  const c = { lr: 0.01, alpha: 0.9, momentum: 0.9, centered: true, weightDecay: 0.1 };
  await matchesTorch(optim.rmsprop(c), torchRmsprop(c));
  await matchesTorch(optim.rmsprop({ centered: true }), torchRmsprop({ centered: true }));
});

Deno.test("adadelta matches torch.optim.Adadelta for three steps", async () => {
  await matchesTorch(optim.adadelta(), torchAdadelta({}));
  const c = { lr: 0.5, rho: 0.8, weightDecay: 0.1 };
  await matchesTorch(optim.adadelta(c), torchAdadelta(c));
});

Deno.test("adam matches torch.optim.Adam for three steps (plain, L2 decay, amsgrad)", async () => {
  await matchesTorch(optim.adam({ lr: 0.1 }), torchAdam({ lr: 0.1 }));
  const c = { lr: 0.5, betas: [0.8, 0.9] as [number, number], weightDecay: 0.1, amsgrad: true };
  await matchesTorch(optim.adam(c), torchAdam(c));
  // the amsgrad maximum matters on this problem: b overshoots to ≈0, so v shrinks
  const plain = await runSteps(optim.adam({ ...c, amsgrad: false }));
  const ams = await runSteps(optim.adam(c));
  assert(Math.abs(plain[2][2] - ams[2][2]) > 1e-3, "amsgrad should change the third step");
});

Deno.test("adamw matches torch.optim.AdamW for three steps (decoupled decay, amsgrad)", async () => {
  await matchesTorch(optim.adamw({ lr: 0.1 }), torchAdam({ lr: 0.1, decoupled: true }));
  const c = { lr: 0.2, weightDecay: 0.3, amsgrad: true };
  await matchesTorch(optim.adamw(c), torchAdam({ ...c, decoupled: true }));
});

Deno.test("a schedule's value at count k is the learning rate of the k-th step (0-based), as a per-step PyTorch scheduler", async () => {
  const lr = optim.exponentialLR({ init: 0.1, gamma: 0.5 });
  await matchesTorch(optim.adam({ lr }), torchAdam({ lr: (k) => 0.1 * 0.5 ** k }));
  const lr2 = optim.stepLR({ init: 0.2, stepSize: 2, gamma: 0.1 });
  await matchesTorch(
    optim.sgd({ lr: lr2, momentum: 0.9 }),
    torchSgd({ lr: (k) => 0.2 * 0.1 ** Math.floor(k / 2), momentum: 0.9 }),
  );
});

// ---------------------------------------------------------------- convergence

const rosenbrock = (p: { x: Tensor; y: Tensor }) =>
  np.square(np.subtract(1, p.x)).add(np.square(p.y.sub(np.square(p.x))).mul(100));
const TARGET = { w: [1, -2], b: 3 };
const shiftedQuad = (p: Params) =>
  np.square(p.w.sub(np.array(TARGET.w))).mul(np.array([1, 4])).sum()
    .add(np.square(p.b.sub(TARGET.b)).mul(2));

async function converge<S>(
  opt: GradientTransformation<S>,
  loss: (p: any) => Tensor,
  p0: unknown,
  steps: number,
): Promise<number> {
  const step = makeStep(opt, loss);
  let p: any = p0, s: any = opt.init(p0);
  for (let i = 0; i < steps; i++) [p, s] = step(p, s);
  assertEquals(step.traceCount, 1, "the jitted step must not retrace");
  return (await loss(p).item()) as number;
}

const convergers: [
  string,
  () => GradientTransformation<any>,
  () => GradientTransformation<any>,
  number,
][] = [
  // name, optimizer for the quadratic, optimizer for Rosenbrock, Rosenbrock threshold
  [
    "sgd",
    () => optim.sgd({ lr: 0.05, momentum: 0.5 }),
    () => optim.sgd({ lr: 1e-3, momentum: 0.9 }),
    0.05,
  ],
  ["adagrad", () => optim.adagrad({ lr: 0.5 }), () => optim.adagrad({ lr: 0.5 }), 0.05],
  [
    "rmsprop",
    () => optim.rmsprop({ lr: optim.cosineAnnealing({ init: 0.05, tMax: 400 }) }),
    () => optim.rmsprop({ lr: 3e-3 }),
    0.05,
  ],
  ["adadelta", () => optim.adadelta({ lr: 5 }), () => optim.adadelta(), 1],
  ["adam", () => optim.adam({ lr: 0.1 }), () => optim.adam({ lr: 0.05 }), 0.05],
  ["adamw", () => optim.adamw({ lr: 0.1, weightDecay: 0 }), () => optim.adamw({ lr: 0.05 }), 0.05],
];

for (const [name, forQuad, forRosen, threshold] of convergers) {
  Deno.test(`${name} converges on a quadratic and on Rosenbrock with one jitted trace`, async () => {
    const quadLoss = await converge(
      forQuad(),
      shiftedQuad,
      { w: np.zeros([2]), b: np.array(0) },
      400,
    );
    assert(quadLoss < 1e-3, `${name}: quadratic loss ${quadLoss} (from 34)`);
    const rLoss = await converge(
      forRosen(),
      rosenbrock,
      { x: np.array(-1.2), y: np.array(1) },
      2000,
    );
    assert(rLoss < threshold, `${name}: Rosenbrock loss ${rLoss} (from 24.2)`);
  });
}

Deno.test("a whole train step jits into one program that reads nothing back", async () => {
  const prev = currentBackend();
  const cpu = createCpuBackend();
  let reads = 0;
  const counting: Backend = {
    ...cpu,
    read: (b, a) => (reads++, cpu.read(b, a)),
    readSync: (b, a) => (reads++, cpu.readSync!(b, a)),
  };
  setBackend(counting);
  try {
    const opt = optim.chain(
      optim.clipByGlobalNorm(5),
      optim.multiSteps(
        optim.adamw({ lr: optim.warmupCosine({ peak: 0.1, warmupSteps: 5, decaySteps: 60 }) }),
        2,
      ),
      optim.masked(optim.scale(1), { w: true, b: false }),
    );
    const step = jit((params: Params, state: any) => {
      const [l, g] = valueAndGrad(shiftedQuad)(params);
      const [u, s] = opt.update(g, state, params);
      return [optim.applyUpdates(params, u), s, l];
    }, { donateArgnums: [0, 1] });
    let p: any = { w: np.zeros([2]), b: np.array(0) }, s: any = opt.init(p), l: any;
    for (let i = 0; i < 120; i++) [p, s, l] = step(p, s);
    assertEquals(reads, 0, "no value may be read back during training");
    assertEquals(step.traceCount, 1);
    assert((await l.item()) < 0.5);
    assert(reads > 0);
  } finally {
    setBackend(prev);
  }
});

// ---------------------------------------------------------------- schedules

async function valuesAt(s: optim.Schedule, steps: number[]): Promise<number[]> {
  const f = jit((t: Tensor) => s(t));
  const out: number[] = [];
  for (const t of steps) out.push((await f(np.array(t, { dtype: "i32" })).item()) as number);
  assertEquals(f.traceCount, 1, "a schedule must not retrace when the step changes");
  return out;
}
const STOL = { rtol: 1e-5, atol: 1e-6 };
async function matchesFormula(s: optim.Schedule, steps: number[], formula: (t: number) => number) {
  assertAllClose(await valuesAt(s, steps), steps.map(formula), STOL);
}

Deno.test("constantSchedule is constant", async () => {
  await matchesFormula(optim.constantSchedule(0.3), [0, 5, 1000], () => 0.3);
});

Deno.test("stepLR follows init · gamma^floor(t / stepSize)", async () => {
  await matchesFormula(
    optim.stepLR({ init: 0.5, stepSize: 3, gamma: 0.1 }),
    [0, 1, 2, 3, 4, 5, 6, 8, 9, 10],
    (t) => 0.5 * 0.1 ** Math.floor(t / 3),
  );
});

Deno.test("exponentialDecay follows optax (transition begin, staircase, end bound)", async () => {
  const ts = [0, 1, 2, 3, 6, 10, 30];
  await matchesFormula(
    optim.exponentialDecay({ init: 2, transitionSteps: 4, decayRate: 0.5, transitionBegin: 2 }),
    ts,
    (t) => (t <= 2 ? 2 : 2 * 0.5 ** ((t - 2) / 4)),
  );
  await matchesFormula(
    optim.exponentialDecay({
      init: 2,
      transitionSteps: 4,
      decayRate: 0.5,
      staircase: true,
      end: 0.3,
    }),
    ts,
    (t) => Math.max(0.3, 2 * 0.5 ** Math.floor(t / 4)),
  );
  await matchesFormula(
    optim.exponentialDecay({ init: 1, transitionSteps: 2, decayRate: 2, end: 3 }),
    ts,
    (t) => Math.min(3, 2 ** (t / 2)),
  );
});

Deno.test("multiStepLR multiplies by gamma at each milestone (bisect_right)", async () => {
  await matchesFormula(
    optim.multiStepLR({ init: 1, milestones: [2, 5], gamma: 0.1 }),
    [0, 1, 2, 3, 4, 5, 6, 100],
    (t) => 0.1 ** [2, 5].filter((m) => m <= t).length,
  );
});

Deno.test("exponentialLR follows init · gamma^t", async () => {
  await matchesFormula(
    optim.exponentialLR({ init: 0.1, gamma: 0.9 }),
    [0, 1, 2, 10],
    (t) => 0.1 * 0.9 ** t,
  );
});

Deno.test("cosineAnnealing follows PyTorch's closed form, including past tMax", async () => {
  const [init, tMax, etaMin] = [0.1, 10, 0.001];
  await matchesFormula(
    optim.cosineAnnealing({ init, tMax, etaMin }),
    [0, 1, 5, 9, 10, 11, 15, 20],
    (t) => etaMin + (init - etaMin) * (1 + Math.cos(Math.PI * t / tMax)) / 2,
  );
});

/** PyTorch OneCycleLR.get_lr, transcribed (learning rate only). */
function torchOneCycle(o: OneCycleOptions): (t: number) => number {
  const { maxLr, totalSteps, pctStart = 0.3, annealStrategy = "cos" } = o;
  const { divFactor = 25, finalDivFactor = 1e4, threePhase = false } = o;
  const initial = maxLr / divFactor, min = initial / finalDivFactor;
  const phases = threePhase
    ? [
      { end: pctStart * totalSteps - 1, start: initial, stop: maxLr },
      { end: 2 * pctStart * totalSteps - 2, start: maxLr, stop: initial },
      { end: totalSteps - 1, start: initial, stop: min },
    ]
    : [
      { end: pctStart * totalSteps - 1, start: initial, stop: maxLr },
      { end: totalSteps - 1, start: maxLr, stop: min },
    ];
  const anneal = (a: number, b: number, pct: number) =>
    annealStrategy === "cos" ? b + (a - b) / 2 * (Math.cos(Math.PI * pct) + 1) : (b - a) * pct + a;
  return (t) => {
    let startStep = 0;
    for (let i = 0; i < phases.length; i++) {
      const ph = phases[i];
      if (t <= ph.end || i === phases.length - 1) {
        return anneal(ph.start, ph.stop, (t - startStep) / (ph.end - startStep));
      }
      startStep = ph.end;
    }
    throw new Error("unreachable");
  };
}

Deno.test("oneCycle follows PyTorch OneCycleLR at every step (cos, linear, three phases)", async () => {
  const all = (n: number) => Array.from({ length: n + 1 }, (_, i) => i);
  const configs = [
    { maxLr: 0.1, totalSteps: 20 },
    { maxLr: 1, totalSteps: 25, pctStart: 0.4, annealStrategy: "linear" as const, divFactor: 10 },
    { maxLr: 0.5, totalSteps: 30, threePhase: true, finalDivFactor: 100 },
    { maxLr: 0.5, totalSteps: 30, threePhase: true, annealStrategy: "linear" as const },
  ];
  for (const c of configs) {
    await matchesFormula(optim.oneCycle(c), all(c.totalSteps), torchOneCycle(c));
  }
  assertThrows(
    () => optim.oneCycle({ maxLr: 1, totalSteps: 3, pctStart: 0.2 }),
    RangeError,
    "phase 1",
  );
  assertThrows(() => optim.oneCycle({ maxLr: 1, totalSteps: 0 }), RangeError, "totalSteps");
});

Deno.test("linearWarmup rises linearly to peak, then stays", async () => {
  await matchesFormula(
    optim.linearWarmup({ init: 0.1, peak: 1, warmupSteps: 5 }),
    [0, 1, 4, 5, 6, 50],
    (t) => 0.1 + 0.9 * Math.min(t, 5) / 5,
  );
  await matchesFormula(optim.linearWarmup({ init: 0, peak: 2, warmupSteps: 0 }), [0, 3], () => 2);
});

Deno.test("warmupCosine follows optax warmup_cosine_decay_schedule", async () => {
  const [peak, w, d, end] = [1, 10, 50, 0.1];
  await matchesFormula(
    optim.warmupCosine({ peak, warmupSteps: w, decaySteps: d, end }),
    [0, 5, 9, 10, 11, 30, 49, 50, 60],
    (t) =>
      t < w
        ? peak * t / w
        : end + (peak - end) * (1 + Math.cos(Math.PI * Math.min(t - w, d - w) / (d - w))) / 2,
  );
  assertThrows(
    () => optim.warmupCosine({ peak: 1, warmupSteps: 10, decaySteps: 10 }),
    RangeError,
    "decaySteps",
  );
});

Deno.test("polynomial follows optax polynomial_schedule", async () => {
  await matchesFormula(
    optim.polynomial({ init: 1, end: 0.01, power: 2, decaySteps: 10, transitionBegin: 3 }),
    [0, 3, 4, 8, 13, 20],
    (t) => {
      const c = Math.min(Math.max(t - 3, 0), 10);
      return 0.99 * (1 - c / 10) ** 2 + 0.01;
    },
  );
});

// ---------------------------------------------------------------- transformations

const arr = async (t: Tensor) => Array.from(await t.data());

Deno.test("clipByGlobalNorm rescales to maxNorm only when the global norm exceeds it", async () => {
  const g = { a: np.array([3, 0]), b: np.array([[4]]) }; // global norm 5
  const [big] = optim.clipByGlobalNorm(1).update(g, {});
  assertAllClose(await arr(big.a), [0.6, 0], STOL);
  assertAllClose(await arr(big.b), [0.8], STOL);
  const [small] = optim.clipByGlobalNorm(10).update(g, {});
  assertEquals(await arr(small.a), [3, 0]);
  assertEquals(await arr(small.b), [4]);
  assertAllClose(await optim.globalNorm(big).item(), 1, STOL);
  const [zero] = optim.clipByGlobalNorm(1).update({ a: np.zeros([2]) }, {});
  assertEquals(await arr(zero.a), [0, 0]);
  assertThrows(() => optim.clipByGlobalNorm(0), RangeError, "maxNorm");
});

Deno.test("clipByValue clips each element, with optional bounds", async () => {
  const g = np.array([-3, -0.5, 0.5, 3]);
  assertEquals(await arr(optim.clipByValue(-1, 1).update(g, {})[0]), [-1, -0.5, 0.5, 1]);
  assertEquals(await arr(optim.clipByValue(null, 1).update(g, {})[0]), [-3, -0.5, 0.5, 1]);
  assertEquals(await arr(optim.clipByValue(0).update(g, {})[0]), [0, 0, 0.5, 3]);
  assertThrows(() => optim.clipByValue(1, -1), RangeError, "min");
});

Deno.test("addDecayedWeights adds weightDecay · params, honouring a mask", async () => {
  const p = { w: np.array([10, 20]), b: np.array(5) };
  const g = { w: np.array([1, 1]), b: np.array(1) };
  const [u] = optim.addDecayedWeights(0.1).update(g, {}, p);
  assertAllClose(await arr(u.w), [2, 3], STOL);
  assertAllClose(await arr(u.b), [1.5], STOL);
  const [m] = optim.addDecayedWeights(0.1, (t: any) => tree.map((x: Tensor) => x.ndim > 0, t))
    .update(g, {}, p);
  assertAllClose(await arr(m.w), [2, 3], STOL);
  assertEquals(await arr(m.b), [1]);
  assertThrows(() => optim.addDecayedWeights(0.1).update(g, {}), TypeError, "needs the parameters");
});

Deno.test("multiSteps with k = 3 applies the mean of three gradients once, then carries inner state", async () => {
  const inner = optim.sgd({ lr: 0.1, momentum: 0.9 });
  const opt = optim.multiSteps(inner, 3);
  const step = jit((p: Tensor, s: any, g: Tensor) => {
    const [u, s2] = opt.update(g, s, p);
    return [optim.applyUpdates(p, u), s2, u];
  });
  const gs = [[1, 2], [3, -4], [5, 8], [0, 1], [2, 2], [-2, 3]];
  let p: any = np.array([1, 1]), s: any = opt.init(p), u: any;
  const seen: Vec[] = [];
  for (const g of gs) {
    [p, s, u] = step(p, s, np.array(g));
    seen.push(await arr(p));
    if (seen.length % 3 !== 0) assertEquals(await arr(u), [0, 0], "no update between inner steps");
  }
  const mean = (a: Vec[]) => a[0].map((_, i) => a.reduce((s, v) => s + v[i], 0) / a.length);
  const m1 = mean(gs.slice(0, 3)), m2 = mean(gs.slice(3));
  const p3 = [1 - 0.1 * m1[0], 1 - 0.1 * m1[1]]; // first SGD step: buffer = gradient
  const buf = m1.map((b, i) => 0.9 * b + m2[i]);
  assertAllClose(seen, [[1, 1], [1, 1], p3, p3, p3, p3.map((x, i) => x - 0.1 * buf[i])], STOL);
  assertEquals(await s.miniStep.item(), 0);
  assertEquals(await s.inner[2].count.item(), 2);
  assertEquals(step.traceCount, 1);
  assertThrows(() => optim.multiSteps(inner, 0), RangeError, "everyK");
});

Deno.test("masked applies the inner transformation to masked leaves and passes the rest through", async () => {
  const p = { w: np.array([1, 2]), b: np.array(3), head: { k: np.array([4]), v: np.array([5]) } };
  const g = { w: np.array([1, -1]), b: np.array(2), head: { k: np.array([3]), v: np.array([4]) } };
  // a prefix mask: one boolean covers the whole `head` subtree
  const t = optim.masked(optim.adam({ lr: 0.1 }), { w: true, b: false, head: true });
  const s = t.init(p);
  assertEquals(String(tree.structure(s.inner[1].mu)), "{b: null, head: {k: *, v: *}, w: *}");
  const [u, s2] = t.update(g, s, p);
  assertAllClose(await arr(u.w), [-0.1, 0.1], STOL);
  assertEquals(await arr(u.b), [2]);
  assertAllClose(await arr(u.head.k), [-0.1], STOL);
  assertEquals(await s2.inner[2].count.item(), 1);
  const byFn = optim.masked(optim.scale(0), (tr: any) => tree.map((x: Tensor) => x.ndim === 0, tr));
  const [u2] = byFn.update(g, byFn.init(p));
  assertEquals(await arr(u2.w), [1, -1]);
  assertEquals(await arr(u2.b), [0]);
  assertThrows(
    () => optim.masked(optim.scale(0), { w: true }).init(p),
    TypeError,
    "no entry for b",
  );
  assertThrows(() => optim.masked(optim.scale(0), [true]).init(p), TypeError, "does not match");
});

Deno.test("chain, identity, scale and scaleByLearningRate compose left to right", async () => {
  const g = np.array([1, -2]);
  const opt = optim.chain(optim.identity(), optim.scale(2), optim.scaleByLearningRate(0.5));
  const [u, s] = opt.update(g, opt.init(g));
  assertEquals(await arr(u), [-1, 2]);
  assertEquals(s.length, 3);
  const sched = optim.scaleByLearningRate(optim.exponentialLR({ init: 1, gamma: 0.5 }));
  let st = sched.init(g), v: any;
  for (let i = 0; i < 3; i++) [v, st] = sched.update(g, st);
  assertAllClose(await arr(v), [-0.25, 0.5], STOL);
  assertEquals(await st.count.item(), 3);
  // @ts-expect-error: the type already rejects a wrong state; the runtime check is tested here
  assertThrows(() => opt.update(g, []), TypeError, "array of 3 states");
});

Deno.test("optimizers validate hyperparameters and structures with clear errors", () => {
  assertThrows(() => optim.sgd({ lr: 0.1, nesterov: true }), RangeError, "nesterov");
  assertThrows(() => optim.sgd({ lr: -1 }), RangeError, "sgd: lr must be ≥ 0");
  assertThrows(() => optim.adam({ betas: [1, 0.9] }), RangeError, "betas[0]");
  assertThrows(() => optim.adadelta({ rho: 2 }), RangeError, "rho");
  const p = { w: np.array([1]) };
  const opt = optim.adam({ weightDecay: 0.1 });
  assertThrows(
    () => opt.update(p, opt.init(p)),
    TypeError,
    "adam: weight decay needs the parameters",
  );
  assertThrows(
    () => {
      const both = { w: np.array([1]), b: np.array(1) };
      return opt.update(both, opt.init(p), both);
    },
    TypeError,
    "adam: state.mu has structure {w: *} but the updates have {b: *, w: *}",
  );
  assertThrows(
    () => optim.applyUpdates(p, { v: np.array([1]) } as any),
    TypeError,
    "applyUpdates: updates has structure",
  );
});

Deno.test("adam, sgd and rmsprop are chains of the small transforms, step for step", async () => {
  const p = { w: np.array([1, -2, 3]) };
  const gs = [[0.5, -1, 2], [1, 1, -1], [-2, 0.25, 0.5]].map((g) => ({ w: np.array(g) }));
  const pairs: [optim.GradientTransformation<any>, optim.GradientTransformation<any>][] = [
    [
      optim.adam({ lr: 0.1, weightDecay: 0.01 }),
      optim.chain(
        optim.addDecayedWeights(0.01),
        optim.scaleByAdam(),
        optim.scaleByLearningRate(0.1),
      ),
    ],
    [
      optim.adamw({ lr: 0.1 }),
      optim.chain(
        optim.scaleByAdam(),
        optim.addDecayedWeights(0.01),
        optim.scaleByLearningRate(0.1),
      ),
    ],
    [
      optim.sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5 }),
      optim.chain(
        optim.identity(),
        optim.trace({ decay: 0.9, dampening: 0.5 }),
        optim.scaleByLearningRate(0.1),
      ),
    ],
    [
      optim.rmsprop({ lr: 0.01, momentum: 0.5, centered: true }),
      optim.chain(
        optim.scaleByRms({ centered: true }),
        optim.trace({ decay: 0.5 }),
        optim.scaleByLearningRate(0.01),
      ),
    ],
  ];
  for (const [a, b] of pairs) {
    let pa: any = p, pb: any = p, sa = a.init(p), sb = b.init(p), ua: any, ub: any;
    for (const g of gs) {
      [ua, sa] = a.update(g, sa, pa);
      [ub, sb] = b.update(g, sb, pb);
      pa = optim.applyUpdates(pa, ua);
      pb = optim.applyUpdates(pb, ub);
    }
    assertEquals(await arr(pa.w), await arr(pb.w));
  }
});
