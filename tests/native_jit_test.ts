/**
 * The native backend's compiled `jit` (`native/jit.ts`) against the reference backend's eager
 * evaluation: random programs of elementwise chains, broadcasts, transposes, reshapes and
 * reductions (bit-identical to eager native evaluation: the fused loops round to f32 where it
 * stores, and use its vector math; within its ulps of the reference), GEMM
 * epilogues (bias + activation, the SGD update of a weight gradient), donation, and arena reuse
 * across calls. Runs on the native backend whatever `DENAX_BACKEND` says.
 *
 * @module
 */
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { withCpu } from "./backend.ts";
import { grad, jit, np, type Tensor } from "../mod.ts";
import { type Backend, currentBackend, setBackend } from "../core/backend.ts";
import { createNativeBackend } from "../native/backend.ts";
import { nativeJitStats } from "../native/jit.ts";
import { nativeJitConfig } from "../native/jit_codegen.ts";
import { sharedLoop } from "../native/jit_shared.ts";
import { rng } from "./helpers.ts";

const native = createNativeBackend();

const cpu = withCpu(() => currentBackend());

/** Runs `fn` with backend `b` current until its promise settles (across its awaits). */
async function on<T>(b: Backend, fn: () => Promise<T>): Promise<T> {
  const prev = currentBackend();
  setBackend(b);
  try {
    return await fn();
  } finally {
    setBackend(prev);
  }
}
const onNative = <T>(fn: () => Promise<T>): Promise<T> => on(native, fn);
const onCpu = <T>(fn: () => Promise<T>): Promise<T> => on(cpu, fn);

function host(seed: number, shape: readonly number[], lo = -2, hi = 2): Float32Array {
  const r = rng(seed), n = shape.reduce((a, b) => a * b, 1), d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * r();
  return d;
}

type Fn = (...xs: Tensor[]) => Tensor[];

/**
 * Runs `f` jitted on native and eagerly on the reference backend, on the same host data:
 * `"exact"` compiles with exact rounding and expects equal bits; `"fast"` compiles with the
 * default rounding; `"gemm"` too, where GEMMs accumulate in f32. The last two compare with a
 * tolerance.
 */
async function compare(
  f: Fn,
  inputs: { data: Float32Array; shape: number[] }[],
  mode: "exact" | "fast" | "gemm" = "exact",
): Promise<void> {
  const mk = () => inputs.map((x) => np.array(x.data, { shape: x.shape }));
  const got = await onNative(async () => {
    const prev = nativeJitConfig.rounding;
    nativeJitConfig.rounding = mode === "exact" ? "exact" : "fast";
    try {
      const outs = jit(f)(...mk());
      return await Promise.all(outs.map((o) => o.data()));
    } finally {
      nativeJitConfig.rounding = prev;
    }
  });
  const want = await onCpu(async () => {
    const outs = f(...mk());
    return await Promise.all(outs.map((o) => o.data()));
  });
  // exact rounding gives eager native evaluation's bits; the reference's, but for the ulps of
  // the vector math (exp, log, tanh, logistic: native/wasm_math.ts)
  const eager = await onNative(async () => {
    const outs = f(...mk());
    return await Promise.all(outs.map((o) => o.data()));
  });
  assertEquals(got.length, want.length);
  got.forEach((g, k) => {
    if (mode === "exact") {
      assertEquals(Array.from(g), Array.from(eager[k]), `output ${k}`);
      assertAllClose(Array.from(g), Array.from(want[k]), { rtol: 1e-5, atol: 1e-6 });
    } else {
      const tol = mode === "gemm" ? 1e-5 : 2e-6;
      assertAllClose(Array.from(g), Array.from(want[k]), { rtol: tol, atol: tol });
    }
  });
}

const UNARY: ((x: Tensor) => Tensor)[] = [
  (x) => np.tanh(x),
  (x) => np.exp(x.mul(0.5)),
  (x) => np.sigmoid(x),
  (x) => x.neg(),
  (x) => np.sqrt(np.abs(x)),
  (x) => np.log1p(np.abs(x)),
  (x) => np.where(np.greater(x, 0.25), x, x.mul(0.1)),
];
const BINARY: ((x: Tensor, y: Tensor) => Tensor)[] = [
  (x, y) => x.add(y),
  (x, y) => x.sub(y),
  (x, y) => x.mul(y),
  (x, y) => x.div(np.abs(y).add(1)),
  (x, y) => np.maximum(x, y),
  (x, y) => np.where(np.less(x, y), y, x.add(1)),
];

/** A random broadcastable shape of the base: some dims 1, some leading dims dropped. */
function subShape(r: () => number, base: number[]): number[] {
  const s = base.map((d) => (r() < 0.3 ? 1 : d));
  const drop = Math.floor(r() * 2);
  return s.slice(drop);
}

function broadcastable(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 1; i <= Math.min(a.length, b.length); i++) {
    const x = a[a.length - i], y = b[b.length - i];
    if (x !== y && x !== 1 && y !== 1) return false;
  }
  return true;
}

/** A random program over `n` inputs of the base shape's broadcasts. */
function randomProgram(seed: number, base: number[], n: number): Fn {
  return (...xs: Tensor[]): Tensor[] => {
    const r = rng(seed);
    const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
    const vals: Tensor[] = [...xs];
    for (let k = 0; k < 6; k++) {
      const op = r();
      if (op < 0.35) vals.push(pick(UNARY)(pick(vals)));
      else if (op < 0.75) {
        const a = pick(vals);
        const bs = vals.filter((b) => broadcastable(a.shape, b.shape));
        vals.push(pick(BINARY)(a, pick(bs)));
      } else if (op < 0.85) {
        const v = pick(vals);
        vals.push(v.ndim >= 2 ? np.transpose(v) : v.mul(2));
      } else {
        const v = pick(vals);
        const axis = Math.floor(r() * Math.max(1, v.ndim));
        const keep = r() < 0.5;
        vals.push(
          v.ndim === 0
            ? v.add(1)
            : r() < 0.5
            ? np.sum(v, { axis, keepdims: keep })
            : np.max(v, { axis, keepdims: keep }),
        );
      }
    }
    // the last value, one more of the same base shape, and a full reduction
    const last = vals[vals.length - 1];
    const big = vals.filter((v) => v.size === base.reduce((a, b) => a * b, 1));
    return [last, big[big.length - 1].mul(3).add(np.sum(last)), np.sum(vals[n])];
  };
}

function randomCase(seed: number): [Fn, { data: Float32Array; shape: number[] }[]] {
  const r = rng(1000 + seed);
  const base = [2 + Math.floor(r() * 5), 3 + Math.floor(r() * 6), 1 + Math.floor(r() * 7)];
  const n = 2 + Math.floor(r() * 3);
  const shapes = [base, ...Array.from({ length: n - 1 }, () => subShape(r, base))];
  const inputs = shapes.map((s, i) => ({ data: host(seed * 10 + i, s), shape: s }));
  return [randomProgram(seed, base, n), inputs];
}

Deno.test("random elementwise and reduction programs compiled with exact rounding equal eager native evaluation bit for bit", async () => {
  for (let seed = 1; seed <= 40; seed++) await compare(...randomCase(seed), "exact");
});

Deno.test("random programs compiled with the default (float64 intermediates) rounding agree with the reference to f32 rounding", async () => {
  for (let seed = 1; seed <= 40; seed++) await compare(...randomCase(seed), "fast");
});

Deno.test("float64 intermediates are rounded where a comparison reads them: a ReLU mask and an argmax tie agree with the stored values", async () => {
  // 1 + 2⁻³⁰ is 1 in f32 but not in float64: the tie with the max and the mask must see the
  // rounded value, as the stored output does
  const x = { data: new Float32Array([1, 0.5, -3, 1]), shape: [4] };
  const y = { data: new Float32Array([2 ** -30, 0.5, 0, 0]), shape: [4] };
  await compare(
    (a, b) => {
      const s = a.add(b);
      const m = np.max(s);
      const d = s.sub(1);
      return [s, np.where(np.greater(d, 0), 1, 0).astype("f32"), np.equal(s, m).astype("f32")];
    },
    [x, y],
    "fast",
  );
});

Deno.test("reshapes that merge or split dims of computed values, and transposed reads, fuse correctly", async () => {
  const a = { data: host(1, [4, 6, 5]), shape: [4, 6, 5] };
  const b = { data: host(2, [5]), shape: [5] };
  await compare((x, y) => {
    const t = np.tanh(x.add(y)); // [4,6,5]
    const merged = np.reshape(t, [24, 5]).mul(2); // merge of a computed value
    const split = np.reshape(np.exp(y.mul(0.1)), [5, 1]).add(1); // split + unit dim
    const tr = np.transpose(t, [2, 0, 1]).sub(1); // a transposed read
    return [merged, split, tr, np.sum(tr, { axis: [0, 2] }), np.max(merged, { axis: 0 })];
  }, [a, b]);
});

Deno.test("max and min reductions propagate NaN and sums keep the reference's order", async () => {
  const d = host(3, [3, 50]);
  d[7] = NaN;
  d[60] = Infinity;
  await compare((x) => {
    const y = x.mul(1.5).add(0.25);
    return [np.max(y, { axis: 1 }), np.min(y, { axis: 0 }), np.sum(y.mul(y), { axis: 1 })];
  }, [{ data: d, shape: [3, 50] }]);
});

Deno.test("a GEMM with a bias and ReLU epilogue, and its gradient, match the reference", async () => {
  const x = { data: host(4, [16, 24]), shape: [16, 24] };
  const w = { data: host(5, [24, 12], -0.3, 0.3), shape: [24, 12] };
  const b = { data: host(6, [12]), shape: [12] };
  const loss = (x: Tensor, w: Tensor, b: Tensor) => np.sum(np.maximum(x.matmul(w).add(b), 0));
  await compare(
    (x, w, b) => {
      const h = np.maximum(x.matmul(w).add(b), 0);
      const [gw, gb] = grad(loss, { argnums: [1, 2] })(x, w, b) as unknown as Tensor[];
      return [h, gw, gb, w.sub(gw.mul(0.1))];
    },
    [x, w, b],
    "gemm",
  );
});

Deno.test("donated inputs receive the outputs, and arena buffers are not shared with results of earlier calls", async () => {
  const step = (w: Tensor, g: Tensor): Tensor[] => [w.sub(g.mul(0.5)), np.sum(np.tanh(g))];
  await onNative(async () => {
    const f = jit(step, { donateArgnums: [0] });
    const g1 = np.array(host(7, [8, 9]), { shape: [8, 9] });
    const g2 = np.array(host(8, [8, 9]), { shape: [8, 9] });
    const w0 = host(9, [8, 9]);
    const before = nativeJitStats.donatedWrites;
    const [w1, s1] = f(np.array(w0, { shape: [8, 9] }), g1);
    const [w2, s2] = f(w1, g2);
    assert(nativeJitStats.donatedWrites >= before + 2, "outputs were written into donated arrays");
    const want1 = await onCpu(() =>
      step(np.array(w0, { shape: [8, 9] }), np.array(host(7, [8, 9]), { shape: [8, 9] }))[1].data()
    );
    assertEquals(Array.from(await s1.data()), Array.from(want1));
    const ref = await onCpu(async () => {
      const gg1 = np.array(host(7, [8, 9]), { shape: [8, 9] });
      const gg2 = np.array(host(8, [8, 9]), { shape: [8, 9] });
      const [a] = step(np.array(w0, { shape: [8, 9] }), gg1);
      const [b, s] = step(a, gg2);
      return [await b.data(), await s.data()];
    });
    assertEquals(Array.from(await w2.data()), Array.from(ref[0]));
    assertEquals(Array.from(await s2.data()), Array.from(ref[1]));
  });
});

Deno.test("results of one call survive the next call of the same executable", async () => {
  await onNative(async () => {
    const f = jit((x: Tensor) => {
      const h = np.tanh(x.mul(2)); // an intermediate in the arena
      return [np.sum(h, { axis: 1 }), h.add(np.max(h))];
    });
    const a = np.array(host(10, [5, 7]), { shape: [5, 7] });
    const b = np.array(host(11, [5, 7]), { shape: [5, 7] });
    const [s1, h1] = f(a);
    const v1 = [Array.from(await s1.data()), Array.from(await h1.data())];
    const [s2] = f(b);
    await s2.data();
    assertEquals(Array.from(await s1.data()), v1[0]);
    assertEquals(Array.from(await h1.data()), v1[1]);
  });
});

Deno.test("literals, bool outputs, integer values and pass-through outputs compile", async () => {
  const a = { data: host(12, [3, 4]), shape: [3, 4] };
  await compare((x) => {
    const m = np.greater(x, 0);
    return [m.astype("f32"), x, np.where(m, 1, -1).astype("f32").mul(x), x.mul(0).add(-0)];
  }, [a]);
  await onNative(async () => {
    const f = jit((x: Tensor) => [np.greater(x, 0), np.arange(4).add(1)]);
    const [m, i] = f(np.array([-1, 2, 0, 3]));
    assertEquals(Array.from(await m.data()), [0, 1, 0, 1]);
    assertEquals(Array.from(await i.data()), [1, 2, 3, 4]);
  });
});

Deno.test("SGD steps of a two-layer MLP fuse each weight update into its GEMM and match the reference", async () => {
  const shapes = { w1: [12, 16], b1: [16], w2: [16, 5], b2: [5] } as const;
  type P = Record<keyof typeof shapes, Tensor>;
  const loss = (p: P, x: Tensor) => {
    const h = np.maximum(x.matmul(p.w1).add(p.b1), 0);
    return np.sum(np.tanh(h.matmul(p.w2).add(p.b2)));
  };
  const step = (p: P, x: Tensor, lr: Tensor): [P, Tensor] => {
    const g = grad(loss)(p, x) as unknown as P;
    const q = {} as P;
    for (const k of Object.keys(shapes) as (keyof P)[]) q[k] = p[k].sub(g[k].mul(lr));
    return [q, loss(p, x)];
  };
  const init = () => {
    const p = {} as P;
    (Object.keys(shapes) as (keyof P)[]).forEach((k, i) => {
      p[k] = np.array(host(20 + i, shapes[k], -0.5, 0.5), { shape: [...shapes[k]] });
    });
    return p;
  };
  const xd = host(30, [8, 12]);
  const run = async (jitted: boolean) => {
    let p = init();
    const x = np.array(xd, { shape: [8, 12] }), lr = np.array(0.05);
    const f = jitted ? jit(step, { donateArgnums: [0] }) : step;
    const losses: number[] = [];
    for (let s = 0; s < 3; s++) {
      const [q, l] = f(p, x, lr);
      losses.push((await l.data())[0]);
      p = q;
    }
    return { losses, w1: Array.from(await p.w1.data()), w2: Array.from(await p.w2.data()) };
  };
  const before = nativeJitStats.gemmEpilogues, writes = nativeJitStats.donatedWrites;
  const got = await onNative(() => run(true));
  assertEquals(nativeJitStats.gemmEpilogues - before, 2, "both weight updates are GEMM epilogues");
  assertEquals(nativeJitStats.donatedWrites - writes, 12, "every parameter updated in place");
  const want = await onCpu(() => run(false));
  assertAllClose(got.losses, want.losses, { rtol: 1e-5 });
  assertAllClose(got.w1, want.w1, { rtol: 1e-5, atol: 1e-6 });
  assertAllClose(got.w2, want.w2, { rtol: 1e-5, atol: 1e-6 });
});

Deno.test("long loops run in chunks with exact rounding and still equal eager native evaluation bit for bit", async () => {
  const x = { data: host(40, [3, 1500], -3, 3), shape: [3, 1500] };
  const b = { data: host(41, [1500]), shape: [1500] };
  const c = { data: host(42, [3, 1]), shape: [3, 1] };
  await compare(
    (x, b, c) => {
      const h = np.tanh(x.mul(2).add(b)).mul(np.sigmoid(x)).sub(np.exp(x.neg().mul(x)));
      const g = np.where(np.greater(h, 0), h.mul(c), h.add(c)); // broadcasts along both dims
      return [
        g,
        np.sum(g.mul(g), { axis: 1 }),
        np.max(h.add(c), { axis: 1 }),
        np.sum(g, { axis: 0 }),
      ];
    },
    [x, b, c],
    "exact",
  );
});

Deno.test("branch-free max, min, select, sigmoid and NaN/∞ tests keep the reference's special values", async () => {
  const v = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 2.5, -2.5];
  const xs: number[] = [], ys: number[] = [];
  for (const a of v) for (const b of v) xs.push(a), ys.push(b);
  const n = xs.length;
  const x = { data: new Float32Array(xs), shape: [n] },
    y = { data: new Float32Array(ys), shape: [n] };
  await compare(
    (a, b) => [
      np.maximum(a, b),
      np.minimum(a, b),
      np.where(np.greater(a, b), a, b),
      np.sigmoid(a),
      np.isnan(a.add(b)).astype("f32"),
      np.isinf(a.mul(b)).astype("f32"),
      np.logicalNot(np.less(a, b)).astype("f32"),
    ],
    [x, y],
    "exact",
  );
});

Deno.test("native jit loops of the same source share one function and give each program's values", async () => {
  let built = 0;
  const make = () => {
    built++;
    return () => {};
  };
  assert(sharedLoop("test: one source", make) === sharedLoop("test: one source", make));
  assertEquals(built, 1);
  // two programs whose loops are the same text (a chunked exact-rounding loop with scratch
  // arrays, and a reduction), called alternately on different data: each gets its own values
  const f: Fn = (x) => [np.exp(x.mul(0.5)).add(x).mul(x), np.sum(x.mul(x), { axis: 1 })];
  const g: Fn = (x) => [np.exp(x.mul(0.5)).add(x).mul(x), np.sum(x.mul(x), { axis: 1 })];
  for (let seed = 0; seed < 3; seed++) {
    await compare(f, [{ data: host(40 + seed, [3, 1200]), shape: [3, 1200] }]);
    await compare(g, [{ data: host(50 + seed, [3, 1200]), shape: [3, 1200] }]);
  }
});
