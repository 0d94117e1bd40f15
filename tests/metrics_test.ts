import "./backend.ts";
import { assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { jit, np, type Tensor, vmap } from "../mod.ts";
import * as M from "../layers/metrics.ts";

const flat = async (t: Tensor): Promise<number[]> =>
  Array.from(await t.data() as ArrayLike<number>);
const num = async (t: Tensor): Promise<number> => await t.item() as number;

const LOGITS = [
  [2, 1, 0],
  [0, 3, 1],
  [5, 4, 6],
  [0.1, 0.2, 0.0],
  [1, 1.5, 3],
  [2, 0, 1],
  [0, 0, 1],
  [3, 1, 2],
];
const LABELS = [0, 1, 1, 2, 2, 0, 1, 2];
const PREDS = LOGITS.map((r) => r.indexOf(Math.max(...r))); // [0, 1, 2, 1, 2, 0, 2, 0]

/** Confusion counts in float64, rows true, columns predicted. */
function cmRef(p: number[], l: number[], C: number): number[][] {
  const m = Array.from({ length: C }, () => Array(C).fill(0));
  p.forEach((pi, i) => m[l[i]][pi]++);
  return m;
}

Deno.test("accuracy takes logits or predicted classes", async () => {
  const want = PREDS.filter((p, i) => p === LABELS[i]).length / 8;
  assertAllClose(await num(M.accuracy(np.array(LOGITS), np.array(LABELS, "i32"))), want);
  assertAllClose(await num(M.accuracy(np.array(PREDS, "i32"), np.array(LABELS, "i32"))), want);
  // spatial logits [N, C, d]: the class axis is 1
  const x = np.array([[[1, 0], [0, 2]], [[3, 0], [1, 1]]]); // argmax over axis 1: [[0, 1], [0, 1]]
  assertAllClose(await num(M.accuracy(x, np.array([[0, 1], [1, 1]], "i32"))), 0.75);
  assertThrows(
    () => M.accuracy(np.zeros([4, 3]), np.zeros([5], "i32")),
    TypeError,
    "Cannot accuracy f32[4,3] and i32[5]: labels must have the logits' shape without the class axis 1, [4]",
  );
});

Deno.test("topKAccuracy counts labels among the k highest logits", async () => {
  const x = np.array(LOGITS), l = np.array(LABELS, "i32");
  const rank = LOGITS.map((r, i) => r.filter((v) => v > r[LABELS[i]]).length);
  for (const k of [1, 2, 3]) {
    assertAllClose(await num(M.topKAccuracy(x, l, { k })), rank.filter((r) => r < k).length / 8, {
      msg: `k ${k}`,
    });
  }
  assertAllClose(await num(M.topKAccuracy(x, l, { k: 1 })), await num(M.accuracy(x, l)));
  // ties count for the label
  assertAllClose(
    await num(M.topKAccuracy(np.array([[1, 1, 1]]), np.array([2], "i32"), { k: 1 })),
    1,
  );
});

Deno.test("confusionMatrix has true classes as rows and predicted classes as columns", async () => {
  const l = np.array(LABELS, "i32");
  const cm = M.confusionMatrix(np.array(LOGITS), l);
  assertEquals(cm.dtype, "i32");
  assertEquals(await cm.toArray(), cmRef(PREDS, LABELS, 3));
  assertEquals(
    await M.confusionMatrix(np.array(PREDS, "i32"), l, { numClasses: 4 }).toArray(),
    cmRef(PREDS, LABELS, 4),
  );
  assertThrows(() => M.confusionMatrix(np.array(PREDS, "i32"), l), TypeError, "pass numClasses");
});

Deno.test("precision, recall, f1 and specificity match scikit-learn's definitions", async () => {
  const C = 3, m = cmRef(PREDS, LABELS, C);
  const tp = m.map((r, i) => r[i]);
  const fp = tp.map((t, j) => m.reduce((s, r) => s + r[j], 0) - t);
  const fn = tp.map((t, i) => m[i].reduce((s, v) => s + v, 0) - t);
  const tn = tp.map((t, i) => 8 - t - fp[i] - fn[i]);
  const div = (a: number, b: number) => (b > 0 ? a / b : 0);
  const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
  const table: [string, typeof M.precision, number[], number[]][] = [
    ["precision", M.precision, tp, tp.map((t, i) => t + fp[i])],
    ["recall", M.recall, tp, tp.map((t, i) => t + fn[i])],
    ["f1", M.f1, tp.map((t) => 2 * t), tp.map((t, i) => 2 * t + fp[i] + fn[i])],
    ["specificity", M.specificity, tn, tn.map((t, i) => t + fp[i])],
  ];
  const x = np.array(LOGITS), l = np.array(LABELS, "i32");
  for (const [name, f, nums, dens] of table) {
    const per = nums.map((a, i) => div(a, dens[i]));
    assertAllClose(await flat(f(x, l, { average: "none" })), per, { msg: `${name} none` });
    assertAllClose(await num(f(x, l)), sum(per) / C, { msg: `${name} macro` });
    assertAllClose(await num(f(x, l, { average: "micro" })), div(sum(nums), sum(dens)), {
      msg: `${name} micro`,
    });
  }
  // micro precision = recall = f1 = accuracy for single-label data
  assertAllClose(await num(M.f1(x, l, { average: "micro" })), await num(M.accuracy(x, l)));
  // binary: TP 2, FP 1, FN 1, TN 0 for class 1
  const bp = np.array([1, 1, 0, 1], "i32"), bl = np.array([1, 0, 1, 1], "i32");
  assertAllClose(await num(M.precision(bp, bl, { numClasses: 2, average: "binary" })), 2 / 3);
  assertAllClose(await num(M.recall(bp, bl, { numClasses: 2, average: "binary" })), 2 / 3);
  assertAllClose(await num(M.specificity(bp, bl, { numClasses: 2, average: "binary" })), 0);
  // a class never predicted has precision 0 (zero_division = 0)
  assertAllClose(
    await flat(
      M.precision(np.array([0, 0], "i32"), np.array([0, 1], "i32"), {
        numClasses: 2,
        average: "none",
      }),
    ),
    [0.5, 0],
  );
  assertThrows(
    () => M.f1(x, l, { average: "binary" }),
    TypeError,
    'average "binary" needs 2 classes, got 3',
  );
});

Deno.test("perplexity is the exponential of the mean cross-entropy", async () => {
  assertAllClose(await num(M.perplexity(np.array(Math.log(42)))), 42, { rtol: 1e-6 });
  assertAllClose(await num(M.perplexity(np.array(0))), 1);
});

Deno.test("iou and meanIou compute intersection over union", async () => {
  const a = np.array([[1, 1, 0, 0], [1, 0, 0, 0]]), b = np.array([[0, 1, 1, 0], [0, 0, 0, 0]]);
  assertAllClose(await num(M.iou(a, b)), 1 / 4);
  assertAllClose(await flat(M.iou(a, b, { axis: 1 })), [1 / 3, 0]);
  assertAllClose(
    await flat(M.iou(np.zeros([2, 2]), np.zeros([2, 2]), { axis: 1, zeroDivision: 1 })),
    [1, 1],
  );
  assertAllClose(await num(M.iou(np.array([true, false]), np.array([true, true]))), 0.5);
  // meanIou over the classes that occur: IoU_c = TP / (TP + FP + FN)
  const m = cmRef(PREDS, LABELS, 3);
  const per = [0, 1, 2].map((c) =>
    m[c][c] / (m[c].reduce((s, v) => s + v, 0) + m.reduce((s, r) => s + r[c], 0) - m[c][c])
  );
  assertAllClose(
    await num(M.meanIou(np.array(LOGITS), np.array(LABELS, "i32"))),
    (per[0] + per[1] + per[2]) / 3,
  );
  assertAllClose(
    await num(
      M.meanIou(np.array([0, 0, 1, 1], "i32"), np.array([0, 1, 1, 1], "i32"), { numClasses: 5 }),
    ),
    (1 / 2 + 2 / 3) / 2,
  );
});

Deno.test("boxIou compares corner-form boxes pairwise", async () => {
  const a = np.array([[0, 0, 2, 2], [1, 1, 2, 3]]),
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]);
  assertAllClose(await M.boxIou(a, b).toArray(), [[1 / 7, 1, 0], [2 / 4, 1 / 5, 0]]);
  assertThrows(
    () => M.boxIou(np.zeros([2, 3]), b),
    TypeError,
    "Cannot boxIou f32[2,3] and f32[3,4]",
  );
});

Deno.test("bleu is Papineni's corpus BLEU with clipped counts and the brevity penalty", () => {
  // Papineni et al. 2002 §2.1: "the the the the the the the" has modified unigram precision 2/7
  const the = ["the", "the", "the", "the", "the", "the", "the"];
  const refs = [["the", "cat", "is", "on", "the", "mat"], [
    "there",
    "is",
    "a",
    "cat",
    "on",
    "the",
    "mat",
  ]];
  assertAllClose(M.bleu([the], [refs], { maxN: 1 }), 2 / 7); // c = 7 = r: no penalty
  // precisions 4/5, 3/4, 2/3, 1/2 with one wrong token at the end, no penalty (c = r = 5)
  const cand = [1, 2, 3, 4, 9], ref = [1, 2, 3, 4, 5];
  assertAllClose(
    M.bleu([cand], [[ref]]),
    Math.exp((Math.log(4 / 5) + Math.log(3 / 4) + Math.log(2 / 3) + Math.log(1 / 2)) / 4),
  );
  // brevity penalty exp(1 − r/c): c = 3, the closest reference has length 4
  const short = [1, 2, 3];
  assertAllClose(
    M.bleu([short], [[[1, 2, 3, 4], [1, 2, 3, 4, 5, 6, 7]]], { maxN: 2 }),
    Math.exp(1 - 4 / 3),
  );
  // corpus-level pooling of counts and lengths
  const got = M.bleu([[1, 2, 3], [7, 8]], [[[1, 2, 3]], [[7, 9]]], { maxN: 2 });
  assertAllClose(got, Math.sqrt((4 / 5) * (2 / 3)));
  // no 4-gram match: 0 without smoothing, positive with it
  assertEquals(M.bleu([[1, 2, 3, 9, 4]], [[[1, 2, 3, 4, 5]]]), 0);
  const add1 = Math.exp(
    (Math.log(4 / 5) + Math.log(3 / 5) + Math.log(2 / 4) + Math.log(1 / 3)) / 4,
  );
  assertAllClose(M.bleu([[1, 2, 3, 9, 4]], [[[1, 2, 3, 4, 5]]], { smoothing: "add1" }), add1);
  assertThrows(() => M.bleu([[1]], []), TypeError, "1 candidates but 0 reference sets");
});

Deno.test("metrics trace under jit and map under vmap", async () => {
  const x = np.array(LOGITS), l = np.array(LABELS, "i32");
  const f = (a: Tensor, b: Tensor) =>
    np.stack([
      M.accuracy(a, b),
      M.f1(a, b),
      M.topKAccuracy(a, b, { k: 2 }),
      M.meanIou(a, b),
      M.recall(a, b, { average: "micro" }),
    ]);
  assertAllClose(await flat(jit(f)(x, l)), await flat(f(x, l)));
  assertEquals(
    await jit((a: Tensor, b: Tensor) => M.confusionMatrix(a, b))(x, l).toArray(),
    cmRef(PREDS, LABELS, 3),
  );
  const hits = vmap((a: Tensor, b: Tensor) => M.accuracy(a, b))(x, l);
  assertAllClose(await flat(hits), PREDS.map((p, i) => (p === LABELS[i] ? 1 : 0)));
});
