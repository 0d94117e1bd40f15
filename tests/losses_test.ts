import { fdTol, numGrad } from "./backend.ts";
import { flat } from "./helpers.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, np, type Tensor, vmap } from "../mod.ts";
import * as L from "../layers/losses.ts";
import { logSoftmax } from "../layers/activations.ts";

/** Central differences of a scalar function, evaluated in float64 (step 2^-12). */
const num = async (t: Tensor): Promise<number> => await t.item() as number;
const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const mean = (v: number[]) => sum(v) / v.length;
const logSig = (x: number) => -(Math.max(-x, 0) + Math.log1p(Math.exp(-Math.abs(x)))); // log σ(x)

async function checkReductions(
  f: (r: L.Reduction) => Tensor,
  perElement: number[],
  msg: string,
  tol = { rtol: 1e-5, atol: 1e-6 },
): Promise<void> {
  assertAllClose(await flat(f("none")), perElement, { ...tol, msg: `${msg} none` });
  assertAllClose(await num(f("sum")), sum(perElement), { ...tol, msg: `${msg} sum` });
  assertAllClose(await num(f("mean")), mean(perElement), { ...tol, msg: `${msg} mean` });
}

const P = [0.3, -1.2, 2.5, 0.8, -0.1, 1.7], T = [0.1, -0.7, 0.5, 0.8, 1.4, -1.3];
const pred = np.array(P), targ = np.array(T);

Deno.test("regression losses match their formulas with every reduction", async () => {
  const d = P.map((p, i) => p - T[i]);
  await checkReductions((r) => L.mse(pred, targ, { reduction: r }), d.map((x) => x * x), "mse");
  await checkReductions((r) => L.l1(pred, targ, { reduction: r }), d.map(Math.abs), "l1");
  const hub = (
    x: number,
    k: number,
  ) => (Math.abs(x) < k ? 0.5 * x * x : k * (Math.abs(x) - 0.5 * k));
  await checkReductions(
    (r) => L.huber(pred, targ, { reduction: r }),
    d.map((x) => hub(x, 1)),
    "huber",
  );
  await checkReductions(
    (r) => L.huber(pred, targ, { delta: 0.5, reduction: r }),
    d.map((x) => hub(x, 0.5)),
    "huber 0.5",
  );
  const sl1 = (x: number, b: number) => (Math.abs(x) < b ? 0.5 * x * x / b : Math.abs(x) - 0.5 * b);
  await checkReductions(
    (r) => L.smoothL1(pred, targ, { reduction: r }),
    d.map((x) => sl1(x, 1)),
    "smoothL1",
  );
  await checkReductions(
    (r) => L.smoothL1(pred, targ, { beta: 0.3, reduction: r }),
    d.map((x) => sl1(x, 0.3)),
    "smoothL1 .3",
  );
  await checkReductions(
    (r) => L.smoothL1(pred, targ, { beta: 0, reduction: r }),
    d.map(Math.abs),
    "smoothL1 β=0",
  );
  assertAllClose(await num(L.mse(pred, 1)), mean(P.map((p) => (p - 1) ** 2)));
});

Deno.test("losses refuse targets of another shape instead of broadcasting", () => {
  const e = assertThrows(() => L.mse(np.zeros([4, 1]), np.zeros([4])), TypeError);
  assertEquals(
    e.message,
    "Cannot mse f32[4,1] and f32[4]: shapes differ\nhelp: reshape the target to [4,1] (broadcasting here is usually a bug)",
  );
  assertThrows(
    () => L.bceWithLogits(np.zeros([3]), np.zeros([3, 1])),
    TypeError,
    "Cannot bceWithLogits f32[3]",
  );
  assertThrows(
    () => L.mse(pred, targ, { reduction: "avg" as L.Reduction }),
    TypeError,
    'reduction must be "mean"',
  );
});

Deno.test("binaryCrossEntropy clamps its logs at -100 as PyTorch", async () => {
  const p = [0.2, 0.9, 0, 1, 0.5, 1e-30], y = [1, 0, 1, 0, 0.3, 0], w = [1, 2, 1, 1, 0.5, 1];
  const lg = (u: number) => Math.max(Math.log(u), -100);
  const want = p.map((pi, i) => -w[i] * (y[i] * lg(pi) + (1 - y[i]) * lg(1 - pi)));
  await checkReductions(
    (r) => L.binaryCrossEntropy(np.array(p), np.array(y), { weight: np.array(w), reduction: r }),
    want,
    "bce",
  );
  const g = await flat(
    grad((t: Tensor) => L.binaryCrossEntropy(t, np.array([1, 0, 1])))(np.array([0, 1, 0.5])),
  );
  assert(g.every(Number.isFinite), `${g}`);
});

Deno.test("bceWithLogits matches −[pw·y·log σ(x) + (1 − y) log(1 − σ(x))] and is stable at ±1000", async () => {
  const x = [-2, 0.5, 3, -0.3, 1000, -1000],
    y = [1, 0, 0.4, 1, 0, 1],
    pw = 2.5,
    w = [1, 1, 2, 0.5, 1, 1];
  const ref = (pwt: number) =>
    x.map((xi, i) => -w[i] * (pwt * y[i] * logSig(xi) + (1 - y[i]) * logSig(-xi)));
  const xs = np.array(x), ys = np.array(y), ws = np.array(w);
  await checkReductions(
    (r) => L.bceWithLogits(xs, ys, { weight: ws, reduction: r }),
    ref(1),
    "bceWithLogits",
  );
  await checkReductions(
    (r) => L.bceWithLogits(xs, ys, { weight: ws, posWeight: pw, reduction: r }),
    ref(pw),
    "posWeight",
  );
  // posWeight per class, along the last axis
  const x2 = np.array([[0.5, -1], [2, 0.3]]), y2 = np.array([[1, 1], [0, 1]]);
  const want = [[0.5, -1], [2, 0.3]].flatMap((r, i) =>
    r.map((xi, j) =>
      -([2, 3][j] * [[1, 1], [0, 1]][i][j] * logSig(xi) +
        (1 - [[1, 1], [0, 1]][i][j]) * logSig(-xi))
    )
  );
  assertAllClose(
    await flat(L.bceWithLogits(x2, y2, { posWeight: np.array([2, 3]), reduction: "none" })),
    want,
  );
  const g = await flat(grad((t: Tensor) => L.bceWithLogits(t, ys, { posWeight: pw }))(xs));
  assert(g.every(Number.isFinite), `${g}`);
  // it agrees with binaryCrossEntropy(sigmoid(x)) where the latter is accurate
  const m = np.array([-1.5, 0.2, 2]), t = np.array([0, 1, 1]);
  assertAllClose(
    await num(L.bceWithLogits(m, t)),
    await num(L.binaryCrossEntropy(np.sigmoid(m), t)),
    { rtol: 1e-5 },
  );
});

// ------------------------------------------------------------------ cross-entropy

/** PyTorch's CrossEntropyLoss for class-index targets, in float64, positions as rows of C logits. */
function ceRef(
  rows: number[][],
  target: number[],
  o: { weight?: number[]; ignoreIndex?: number; eps?: number; reduction?: L.Reduction } = {},
): number | number[] {
  const C = rows[0].length,
    w = o.weight ?? Array(C).fill(1),
    ig = o.ignoreIndex ?? -100,
    eps = o.eps ?? 0;
  const nll: number[] = [], smooth: number[] = [], wt: number[] = [];
  rows.forEach((x, i) => {
    const m = Math.max(...x);
    const lse = m + Math.log(sum(x.map((a) => Math.exp(a - m))));
    const lp = x.map((a) => a - lse), y = target[i];
    if (y === ig) {
      nll.push(0), smooth.push(0), wt.push(0);
      return;
    }
    nll.push(-w[y] * lp[y]);
    wt.push(w[y]);
    smooth.push(-sum(lp.map((l, c) => w[c] * l)));
  });
  const r = o.reduction ?? "mean";
  if (r === "none") return nll.map((l, i) => (1 - eps) * l + (eps / C) * smooth[i]);
  const tot = (1 - eps) * sum(nll) + (eps / C) * sum(smooth);
  return r === "sum" ? tot : tot / sum(wt);
}

const LOGITS = [[1.2, -0.4, 0.3, 2.0], [0.1, 0.1, -1.5, 0.7], [-2.0, 3.1, 0.4, 0.0], [
  0.5,
  -0.5,
  1.5,
  -1.0,
], [
  0.9,
  0.2,
  -0.3,
  1.1,
]];
const LABELS = [3, -100, 1, 0, 2];
const W = [0.5, 2.0, 1.0, 1.5];

Deno.test("crossEntropy with class indices follows PyTorch: weights, ignoreIndex, label smoothing", async () => {
  const x = np.array(LOGITS), t = np.array(LABELS, "i32");
  for (const weight of [undefined, W]) {
    for (const eps of [0, 0.1, 0.35]) {
      for (const reduction of ["mean", "sum", "none"] as const) {
        const got = L.crossEntropy(x, t, {
          weight: weight && np.array(weight),
          labelSmoothing: eps,
          reduction,
        });
        const want = ceRef(LOGITS, LABELS, { weight, eps, reduction });
        const msg = `weight ${!!weight} ε ${eps} ${reduction}`;
        assertAllClose(reduction === "none" ? await flat(got) : await num(got), want, {
          rtol: 1e-5,
          atol: 1e-6,
          msg,
        });
      }
    }
  }
  // a different ignoreIndex that is also a valid class
  const want = ceRef(LOGITS, [3, 0, 1, 0, 2], { ignoreIndex: 0, weight: W });
  assertAllClose(
    await num(
      L.crossEntropy(x, np.array([3, 0, 1, 0, 2], "i32"), { ignoreIndex: 0, weight: np.array(W) }),
    ),
    want as number,
    { rtol: 1e-5 },
  );
  // a hand value: label smoothing 0.1 on [1, 2, 3] with class 0
  const lp = [1, 2, 3].map((a) => a - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
  const hand = 0.9 * -lp[0] + (0.1 / 3) * -sum(lp);
  assertAllClose(
    await num(L.crossEntropy(np.array([[1, 2, 3]]), np.array([0], "i32"), { labelSmoothing: 0.1 })),
    hand,
  );
});

Deno.test("crossEntropy takes the class axis 1 of spatial inputs and axis 0 of a single example", async () => {
  // [N=2, C=3, d=2]
  const x = [[[0.2, 1.0], [-0.5, 0.3], [1.1, -0.2]], [[0.0, 2.0], [0.4, -1.0], [-0.3, 0.6]]];
  const t = [[2, 0], [-100, 1]];
  const rows: number[][] = [], labels: number[] = [];
  for (let n = 0; n < 2; n++) {
    for (let d = 0; d < 2; d++) rows.push([0, 1, 2].map((c) => x[n][c][d])), labels.push(t[n][d]);
  }
  const got = L.crossEntropy(np.array(x), np.array(t, "i32"), {
    reduction: "none",
    weight: np.array([1, 2, 3]),
  });
  assertEquals(got.shape, [2, 2]);
  assertAllClose(
    await flat(got),
    ceRef(rows, labels, { reduction: "none", weight: [1, 2, 3] }) as number[],
  );
  assertAllClose(
    await num(L.crossEntropy(np.array(x), np.array(t, "i32"), { labelSmoothing: 0.2 })),
    ceRef(rows, labels, { eps: 0.2 }) as number,
  );
  // unbatched [C] with a scalar target
  assertAllClose(
    await num(L.crossEntropy(np.array([0.5, 1.5, -1]), np.array(1, "i32"))),
    ceRef([[0.5, 1.5, -1]], [1]) as number,
  );
  assertThrows(
    () => L.crossEntropy(np.zeros([4, 3]), np.zeros([4, 1], "i32")),
    TypeError,
    "Cannot crossEntropy f32[4,3] and i32[4,1]: class-index targets must have the input's shape without the class axis 1, [4]",
  );
  assertThrows(
    () => L.crossEntropy(np.zeros([2, 3]), np.zeros([2], "i32"), { weight: np.ones([4]) }),
    TypeError,
    "f32[3]",
  );
});

Deno.test("crossEntropy with class probabilities follows PyTorch, smoothing included", async () => {
  const q = [[0.1, 0.2, 0.3, 0.4], [1, 0, 0, 0], [0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25], [
    0,
    0,
    0,
    1,
  ]];
  for (const weight of [undefined, W]) {
    for (const eps of [0, 0.2]) {
      const per = LOGITS.map((x, i) => {
        const m = Math.max(...x), lse = m + Math.log(sum(x.map((a) => Math.exp(a - m))));
        return -sum(
          x.map((a, c) => (weight ? weight[c] : 1) * (q[i][c] * (1 - eps) + eps / 4) * (a - lse)),
        );
      });
      await checkReductions(
        (r) =>
          L.crossEntropy(np.array(LOGITS), np.array(q), {
            weight: weight && np.array(weight),
            labelSmoothing: eps,
            reduction: r,
          }),
        per,
        `probabilities weight ${!!weight} ε ${eps}`,
      );
    }
  }
});

Deno.test("crossEntropy and nll stay finite at logits of ±1000", async () => {
  const x = np.array([[1000, -1000, 0], [-1000, 1000, 1000]]), t = np.array([1, 2], "i32");
  const v = await num(L.crossEntropy(x, t));
  assertAllClose(v, (2000 + Math.LN2) / 2, { rtol: 1e-6 });
  const g = await flat(grad((u: Tensor) => L.crossEntropy(u, t, { labelSmoothing: 0.1 }))(x));
  assert(g.every(Number.isFinite), `${g}`);
  // a masked (−∞) class that is not the target does not poison the loss
  const m = np.array([[0, -Infinity, 1]]);
  assertAllClose(await num(L.crossEntropy(m, np.array([2], "i32"))), Math.log1p(Math.exp(-1)), {
    rtol: 1e-6,
  });
});

Deno.test("nll on log-probabilities equals crossEntropy on logits", async () => {
  const x = np.array(LOGITS), t = np.array(LABELS, "i32");
  assertAllClose(
    await num(L.nll(logSoftmax(x, { axis: 1 }), t, { weight: np.array(W) })),
    await num(L.crossEntropy(x, t, { weight: np.array(W) })),
  );
  assertThrows(() => L.nll(x, np.zeros([5])), TypeError, "targets must be integer class indices");
});

Deno.test("klDiv follows PyTorch's pointwise y·(log y − x) and its reductions", async () => {
  const x = [[-1.2, -0.4, -2.0], [-0.1, -3.0, -0.9]], y = [[0.2, 0.8, 0], [0.5, 0.25, 0.25]];
  const per = x.flatMap((r, i) =>
    r.map((a, j) => (y[i][j] === 0 ? 0 : y[i][j] * (Math.log(y[i][j]) - a)))
  );
  const xs = np.array(x), ys = np.array(y);
  await checkReductions((r) => L.klDiv(xs, ys, { reduction: r }), per, "klDiv");
  assertAllClose(await num(L.klDiv(xs, ys, { reduction: "batchmean" })), sum(per) / 2);
  const lt = y.map((r) => r.map((a) => Math.log(a + 0.1)));
  const perLog = x.flatMap((r, i) => r.map((a, j) => Math.exp(lt[i][j]) * (lt[i][j] - a)));
  assertAllClose(
    await num(L.klDiv(xs, np.array(lt), { logTarget: true, reduction: "sum" })),
    sum(perLog),
    { rtol: 1e-5 },
  );
  const g = await flat(grad((u: Tensor) => L.klDiv(u, ys))(xs));
  assertAllClose(g, y.flat().map((a) => -a / 6));
});

Deno.test("hinge, multiMargin and cosineEmbedding match their formulas", async () => {
  const s = [2, 0.5, 1, -0.2], yb = [1, 1, -1, -1];
  await checkReductions(
    (r) => L.hinge(np.array(s), np.array(yb), { reduction: r }),
    s.map((a, i) => Math.max(0, 1 - yb[i] * a)),
    "hinge",
  );
  // MultiMarginLoss: Σ_{c≠y} w[y]·max(0, margin − x_y + x_c)^p / C
  const x = [[0.1, 0.2, 0.4, 0.8], [1.0, -0.5, 0.3, 0.9], [0.0, 0.0, 2.0, -1.0]],
    y = [3, 0, 1],
    w = [1, 2, 0.5, 3];
  for (const p of [1, 2] as const) {
    for (const weight of [undefined, w]) {
      for (const margin of [1, 0.5]) {
        const per = x.map((r, i) =>
          sum(
            r.map((a, c) => (c === y[i]
              ? 0
              : (weight ? weight[y[i]] : 1) * Math.max(0, margin - r[y[i]] + a) ** p)
            ),
          ) / 4
        );
        await checkReductions(
          (red) =>
            L.multiMargin(np.array(x), np.array(y, "i32"), {
              p,
              margin,
              weight: weight && np.array(weight),
              reduction: red,
            }),
          per,
          `multiMargin p ${p} margin ${margin} weight ${!!weight}`,
        );
      }
    }
  }
  assertAllClose(
    await num(L.multiMargin(np.array([0.1, 0.2, 0.4, 0.8]), np.array(3, "i32"))),
    0.325,
  );
  const a = [[1, 2, 0], [0.5, -1, 2], [3, 0, 1]],
    b = [[2, 1, 1], [0.5, -1, 2], [-1, 2, 0.5]],
    yc = [1, -1, -1];
  const cos = a.map((r, i) => {
    const dot = sum(r.map((v, j) => v * b[i][j]));
    return dot /
      Math.sqrt((sum(r.map((v) => v * v)) + 1e-12) * (sum(b[i].map((v) => v * v)) + 1e-12));
  });
  await checkReductions(
    (r) => L.cosineEmbedding(np.array(a), np.array(b), np.array(yc), { margin: 0.1, reduction: r }),
    cos.map((c, i) => (yc[i] === 1 ? 1 - c : Math.max(0, c - 0.1))),
    "cosineEmbedding",
  );
});

Deno.test("maskedSequenceCrossEntropy averages over valid tokens; d2l's loss is a mean over T", async () => {
  const x = [[[0.5, 1.0, -1.0], [2.0, 0.0, 0.1], [0.3, 0.3, 0.9], [1.0, 1.0, 1.0]], [
    [
      -0.2,
      0.4,
      1.2,
    ],
    [0.0, 0.0, 0.0],
    [1.5, -1.5, 0.5],
    [0.7, 0.1, -0.3],
  ]];
  const t = [[1, 0, 2, 2], [2, 1, 0, 0]], lens = [3, 1];
  const tok = x.map((s, b) =>
    s.map((r, i) => ceRef([r], [t[b][i]], { reduction: "sum" }) as number)
  );
  const m = tok.map((s, b) => s.map((_, i) => (i < lens[b] ? 1 : 0)));
  const masked = tok.map((s, b) => s.map((l, i) => l * m[b][i]));
  const xs = np.array(x), ts = np.array(t, "i32"), vl = np.array(lens, "i32");
  const none = L.maskedSequenceCrossEntropy(xs, ts, { validLens: vl, reduction: "none" });
  assertAllClose(await none.toArray(), masked);
  assertAllClose(
    await num(L.maskedSequenceCrossEntropy(xs, ts, { validLens: vl })),
    sum(masked.flat()) / 4,
  );
  assertAllClose(
    await num(L.maskedSequenceCrossEntropy(xs, ts, { validLens: vl, reduction: "sum" })),
    sum(masked.flat()),
  );
  assertAllClose(
    await num(L.maskedSequenceCrossEntropy(xs, ts, { mask: np.array(m) })),
    sum(masked.flat()) / 4,
  );
  assertAllClose(await none.mean({ axis: -1 }).toArray(), masked.map(mean)); // d2l's MaskedSoftmaxCELoss
  assertAllClose(await num(L.maskedSequenceCrossEntropy(xs, ts)), mean(tok.flat()));
  assertThrows(
    () => L.maskedSequenceCrossEntropy(xs, ts, { validLens: np.array([1], "i32") }),
    TypeError,
    "one length per sequence",
  );
});

Deno.test("GAN losses are the BCE of D's logits and stay finite at ±1000", async () => {
  const r = [1.5, -0.3, 1000], f = [-2, 0.4, -1000, 1000];
  const dWant = mean(r.map((a) => -logSig(a))) + mean(f.map((a) => -logSig(-a)));
  assertAllClose(await num(L.ganDiscriminator(np.array(r), np.array(f))), dWant, { rtol: 1e-6 });
  assertAllClose(
    await num(L.ganDiscriminator(np.array(r), np.array(f), { reduction: "sum" })),
    sum(r.map((a) => -logSig(a))) + sum(f.map((a) => -logSig(-a))),
    { rtol: 1e-6 },
  );
  assertAllClose(await num(L.ganGenerator(np.array(f))), mean(f.map((a) => -logSig(a))), {
    rtol: 1e-6,
  });
  assertAllClose(
    await num(L.ganGenerator(np.array(f), { nonSaturating: false })),
    mean(f.map((a) => logSig(-a))),
    { rtol: 1e-6 },
  );
  // non-saturating gradient: −(1 − σ(f)) / N, large where D rejects the fakes
  const g = await flat(grad((t: Tensor) => L.ganGenerator(t))(np.array(f)));
  assertAllClose(g, f.map((a) => -(1 - 1 / (1 + Math.exp(-a))) / 4), { atol: 1e-7 });
  assertThrows(
    () => L.ganDiscriminator(np.array(r), np.array(f), { reduction: "none" }),
    TypeError,
  );
});

Deno.test("gaussianKl is −½ Σ (1 + log σ² − μ² − σ²) per example", async () => {
  const mu = [[0.5, -1.0, 0.0], [2.0, 0.1, -0.3]], lv = [[0.0, -0.5, 1.0], [0.3, 0.0, -2.0]];
  const per = mu.map((r, i) =>
    -0.5 * sum(r.map((m, j) => 1 + lv[i][j] - m * m - Math.exp(lv[i][j])))
  );
  await checkReductions(
    (red) => L.gaussianKl(np.array(mu), np.array(lv), { reduction: red }),
    per,
    "gaussianKl",
  );
  assertAllClose(await num(L.gaussianKl(np.zeros([4]), np.zeros([4]))), 0);
});

Deno.test("penalties sum over the float leaves of a parameter tree", async () => {
  const params = {
    layers: [{ w: np.array([[1, -2], [0.5, 0]]), b: np.array([3]) }],
    steps: np.array([7], "i32"),
    lr: 0.1,
  };
  const v = [1, -2, 0.5, 0, 3];
  assertAllClose(await num(L.l1Penalty(params)), sum(v.map(Math.abs)));
  assertAllClose(await num(L.l2Penalty(params)), 0.5 * sum(v.map((a) => a * a)));
  assertAllClose(await num(L.elasticNet(params, 0.3)), 0.3 * 6.5 + 0.7 * 0.5 * 14.25);
  assertEquals(await num(L.l2Penalty({})), 0);
  // ∇ ½Σw² = w; ∇ Σ|w| = sign(w)
  const g = grad((p: { w: Tensor }) => L.l2Penalty(p))({ w: np.array([1, -2, 0.5]) });
  assertAllClose(await flat(g.w), [1, -2, 0.5]);
  const g1 = grad((p: { w: Tensor }) => L.l1Penalty(p))({ w: np.array([1, -2, 0.5]) });
  assertAllClose(await flat(g1.w), [1, -1, 1]);
  assertThrows(() => L.elasticNet(params, 1.5), RangeError, "l1Ratio must be in [0, 1]");
});

Deno.test("loss gradients match central differences", async () => {
  const x = np.array([[0.3, -1.1, 0.8], [1.4, 0.2, -0.6]]);
  const y = np.array([[0.1, 0.5, 1.2], [1.0, -0.4, 0.3]]);
  const prob = np.array([[0.2, 0.7, 0.4], [0.9, 0.35, 0.6]]);
  const cases: [string, (t: Tensor) => Tensor, Tensor][] = [
    ["mse", (t) => L.mse(t, y), x],
    ["huber", (t) => L.huber(t, y, { delta: 0.5 }), x],
    ["smoothL1", (t) => L.smoothL1(t, y, { beta: 0.4 }), x],
    ["l1", (t) => L.l1(t, y), x],
    [
      "binaryCrossEntropy",
      (t) => L.binaryCrossEntropy(t, np.array([[1, 0, 0.3], [1, 1, 0]])),
      prob,
    ],
    [
      "bceWithLogits",
      (t) =>
        L.bceWithLogits(t, np.array([[1, 0, 0.3], [1, 1, 0]]), { posWeight: np.array([1, 2, 3]) }),
      x,
    ],
    [
      "crossEntropy",
      (t) =>
        L.crossEntropy(t, np.array([2, 0], "i32"), {
          weight: np.array([1, 2, 0.5]),
          labelSmoothing: 0.1,
        }),
      x,
    ],
    ["crossEntropy probs", (t) => L.crossEntropy(t, np.array([[0.2, 0.3, 0.5], [1, 0, 0]])), x],
    [
      "klDiv",
      (t) =>
        L.klDiv(logSoftmax(t), np.array([[0.2, 0.3, 0.5], [1, 0, 0]]), { reduction: "batchmean" }),
      x,
    ],
    [
      "multiMargin p=2",
      (t) => L.multiMargin(t, np.array([1, 2], "i32"), { p: 2, weight: np.array([1, 2, 3]) }),
      x,
    ],
    ["cosineEmbedding", (t) => L.cosineEmbedding(t, y, np.array([1, -1])), x],
    ["hinge", (t) => L.hinge(t, np.array([[1, -1, 1], [-1, 1, 1]])), x],
    [
      "maskedSequenceCE",
      (t) =>
        L.maskedSequenceCrossEntropy(np.reshape(t, [1, 2, 3]), np.array([[1, 2]], "i32"), {
          validLens: np.array([1], "i32"),
        }),
      x,
    ],
    ["gaussianKl", (t) => L.gaussianKl(t, y), x],
    ["ganDiscriminator", (t) => L.ganDiscriminator(t, y), x],
  ];
  for (const [name, f, at] of cases) {
    assertAllClose(
      await flat(grad(f)(at)),
      await numGrad(f, at),
      fdTol({ rtol: 1e-4, atol: 2e-5, msg: name }),
    );
  }
});

Deno.test("losses trace under jit and vmap", async () => {
  const x = np.array(LOGITS), t = np.array(LABELS, "i32"), w = np.array(W);
  const f = (a: Tensor, b: Tensor) => L.crossEntropy(a, b, { weight: w, labelSmoothing: 0.1 });
  assertAllClose(await num(jit(f)(x, t)), await num(f(x, t)), { rtol: 1e-6 });
  const gf = (a: Tensor) => grad((u: Tensor) => f(u, t).add(L.l2Penalty({ u })))(a);
  assertAllClose(await jit(gf)(x).toArray(), await gf(x).toArray(), { rtol: 1e-5, atol: 1e-7 });
  // per-example losses under vmap (class axis 0 of each [C] example) equal the batched "none"
  const none = (a: Tensor, b: Tensor) => L.crossEntropy(a, b, { weight: w, reduction: "none" });
  assertAllClose(await flat(vmap(none)(x, t)), await flat(none(x, t)));
  // one example's weighted mean is its unweighted loss (w[y]·ℓ / w[y]); an ignored one is 0/0
  const per = vmap((a: Tensor, b: Tensor) => L.crossEntropy(a, b, { weight: w }))(x, t);
  const plain = await flat(L.crossEntropy(x, t, { reduction: "none" }));
  assertAllClose(await flat(per), plain.map((l, i) => (LABELS[i] === -100 ? NaN : l)));
});
