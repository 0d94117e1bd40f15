/**
 * Evaluation metrics (`nn.metrics.*`): plain functions of Tensors that return Tensors, so they
 * run on the device and under `jit` and `vmap` (options such as `numClasses` and `k` are
 * static). They are not differentiable (they count). The exception is {@link bleu}, which
 * works on host-side JS token arrays and returns a number.
 *
 * Class conventions match the losses: logits are `[N, C, d1, …]` with the class axis 1
 * (axis 0 for a single unbatched `[C]`), labels are integer class indices `[N, d1, …]`, and
 * a confusion matrix has rows = true class, columns = predicted class (seed S2 L2067).
 *
 * Seed references (`shared/CATALOG.md` §4.2): K01 accuracy, K02 top-k accuracy, K05
 * precision, K06 recall, K07 F1, K08 specificity, K09 confusion matrix, K13 BLEU,
 * K15 perplexity, K16 IoU.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { iota } from "../core/prims/structural.ts";
import type { Tensor, TensorLike } from "../core/tensor.ts";
import { oneHot } from "./activations.ts";

/** How per-class scores combine: "macro" (unweighted mean over classes), "micro" (pooled counts), "none" (per class), or "binary" (class 1 only). */
export type Average = "macro" | "micro" | "none" | "binary";

/** Options of the classification metrics computed from a confusion matrix. */
export interface ClassMetricOptions {
  /** The number of classes C (default: the class axis of logits; required for class-index predictions). */
  numClasses?: number;
  /** "macro" (default), "micro", "none" (f32[C]) or "binary" (the positive class 1). */
  average?: Average;
}

function _classAxis(x: Tensor): number {
  return x.ndim === 1 ? 0 : 1;
}

/** Predicted class indices from logits (`ndim = labels.ndim + 1`) or from indices of the labels' shape. */
function _predictions(op: string, preds: Tensor, labels: Tensor): Tensor {
  if (preds.ndim === labels.ndim + 1) {
    const ax = _classAxis(preds);
    const want = preds.shape.filter((_, i) => i !== ax);
    if (want.join() !== labels.shape.join()) {
      throw new TypeError(
        `Cannot ${op} ${preds.aval} and ${labels.aval}: labels must have the logits' shape without the class axis ${ax}, [${want}]`,
      );
    }
    return np.argmax(preds, { axis: ax });
  }
  if (preds.shape.join() !== labels.shape.join()) {
    throw new TypeError(
      `Cannot ${op} ${preds.aval} and ${labels.aval}: give logits with a class axis, or predicted classes of the labels' shape`,
    );
  }
  return preds;
}

function _safeDiv(a: Tensor, b: Tensor): Tensor {
  const pos = np.greater(b, 0);
  return np.where(pos, np.divide(a, np.where(pos, b, 1)), 0);
}

/**
 * Accuracy (seed S2 L2001: `(TP + TN) / total`): the fraction of positions whose predicted
 * class equals the label. Predictions are logits with a class axis (argmax taken on axis 1,
 * or 0 for a single `[C]`) or class indices of the labels' shape.
 *
 * @param logitsOrPreds f32[N, C, ...] logits, or predicted classes of the labels' shape.
 * @param labels Integer class indices [N, ...].
 * @returns An f32 scalar in [0, 1].
 * @throws {TypeError} If the shapes do not fit.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { accuracy } = nn.metrics;
 * const logits = np.array([[2, 1], [0, 3], [5, 4]]);
 * const v = await accuracy(logits, np.array([0, 1, 1], "i32")).item();
 * console.log(v); // 0.6666667
 * if (Math.abs(Number(v) - 0.6666667) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function accuracy(logitsOrPreds: TensorLike, labels: TensorLike): Tensor {
  const l = np.asarray(labels);
  const p = _predictions("accuracy", np.asarray(logitsOrPreds), l);
  return np.mean(np.astype(np.equal(p, l), "f32"));
}

/** Options of {@link topKAccuracy}. */
export interface TopKOptions {
  /** How many of the highest-scoring classes count as a hit (default 5). */
  k?: number;
}

/**
 * Top-k accuracy (seed S1 L301: ImageNet's top-1 / top-5): the fraction of positions whose
 * label is among the `k` highest logits, computed without sorting as "fewer than k classes
 * score strictly higher than the label". Ties therefore count in the label's favour
 * (`torch.topk` breaks ties arbitrarily).
 *
 * @param logits f32[N, C, ...] (class axis 1; or [C]).
 * @param labels Integer class indices [N, ...].
 * @param opts `{ k = 5 }`.
 * @returns An f32 scalar in [0, 1].
 * @throws {TypeError} If the shapes do not fit.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { topKAccuracy } = nn.metrics;
 * const logits = np.array([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05]]);
 * const v = await topKAccuracy(logits, np.array([2, 2], "i32"), { k: 2 }).item();
 * console.log(v); // 0.5
 * if (Math.abs(Number(v) - 0.5) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function topKAccuracy(
  logits: TensorLike,
  labels: TensorLike,
  opts: TopKOptions = {},
): Tensor {
  const x = np.asarray(logits), l = np.asarray(labels), k = opts.k ?? 5;
  if (x.ndim !== l.ndim + 1) {
    throw new TypeError(
      `Cannot topKAccuracy ${x.aval} and ${l.aval}: expects logits with a class axis and labels without it`,
    );
  }
  _predictions("topKAccuracy", x, l); // shape check
  const ax = _classAxis(x), C = x.shape[ax];
  const hot = oneHot(l, C, { axis: ax, dtype: "bool" });
  const trueScore = np.sum(np.where(hot, x, 0), { axis: ax, keepdims: true });
  const higher = np.sum(np.greater(x, trueScore), { axis: ax });
  const inRange = np.any(hot, { axis: ax });
  return np.mean(np.astype(np.logicalAnd(np.less(higher, k), inRange), "f32"));
}

/** Options of {@link confusionMatrix}. */
export interface ConfusionMatrixOptions {
  /** The number of classes C (default: the logits' class axis). */
  numClasses?: number;
}

function _numClasses(op: string, preds: Tensor, labels: Tensor, n: number | undefined): number {
  if (n !== undefined) return n;
  if (preds.ndim === labels.ndim + 1) return preds.shape[_classAxis(preds)];
  throw new TypeError(`${op}: pass numClasses when the predictions are class indices`);
}

/**
 * The confusion matrix (seed S2 L2067): `M[i, j]` = the number of positions with true class
 * `i` predicted as class `j` (rows true, columns predicted, as scikit-learn). Computed as
 * `onehot(labels)ᵀ · onehot(preds)`, exact for counts below 2^24; labels or predictions
 * outside `[0, C)` are not counted.
 *
 * @param preds Logits f32[N, C, ...] or predicted classes of the labels' shape.
 * @param labels Integer class indices [N, ...].
 * @param opts `{ numClasses }` (required for class-index predictions).
 * @returns i32[C, C].
 * @throws {TypeError} If the shapes do not fit.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { confusionMatrix } = nn.metrics;
 * const preds = np.array([0, 1, 1, 2], "i32"), labels = np.array([0, 1, 2, 2], "i32");
 * const cm = await confusionMatrix(preds, labels, { numClasses: 3 }).toArray();
 * console.log(cm); // [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
 * if (JSON.stringify(cm) !== "[[1,0,0],[0,1,0],[0,1,1]]") throw new Error(`got ${cm}`);
 * ```
 */
export function confusionMatrix(
  preds: TensorLike,
  labels: TensorLike,
  opts: ConfusionMatrixOptions = {},
): Tensor {
  const pt = np.asarray(preds), l = np.asarray(labels);
  const C = _numClasses("confusionMatrix", pt, l, opts.numClasses);
  const p = _predictions("confusionMatrix", pt, l);
  const P = oneHot(np.reshape(p, [-1]), C), L = oneHot(np.reshape(l, [-1]), C);
  return np.astype(np.matmul(np.transpose(L), P), "i32");
}

/** Per-class counts TP, FP, FN, TN (f32[C]) from a confusion matrix. */
function _counts(cm: Tensor): { tp: Tensor; fp: Tensor; fn: Tensor; tn: Tensor } {
  const m = np.astype(cm, "f32"), C = m.shape[0];
  const diag = np.equal(iota("i32", [C, C], 0), iota("i32", [C, C], 1));
  const tp = np.sum(np.where(diag, m, 0), { axis: 1 });
  const fp = np.subtract(np.sum(m, { axis: 0 }), tp);
  const fn = np.subtract(np.sum(m, { axis: 1 }), tp);
  const tn = np.subtract(np.subtract(np.subtract(np.sum(m), tp), fp), fn);
  return { tp, fp, fn, tn };
}

/** Computes a per-class ratio `num/den` from counts and averages it. */
function _classMetric(
  op: string,
  preds: TensorLike,
  labels: TensorLike,
  opts: ClassMetricOptions,
  ratio: (c: { tp: Tensor; fp: Tensor; fn: Tensor; tn: Tensor }) => [Tensor, Tensor],
): Tensor {
  const cm = confusionMatrix(preds, labels, { numClasses: opts.numClasses });
  const c = _counts(cm);
  const [num, den] = ratio(c);
  const avg = opts.average ?? "macro";
  switch (avg) {
    case "none":
      return _safeDiv(num, den);
    case "macro":
      return np.mean(_safeDiv(num, den));
    case "micro":
      return _safeDiv(np.sum(num), np.sum(den));
    case "binary":
      if (cm.shape[0] !== 2) {
        throw new TypeError(`${op}: average "binary" needs 2 classes, got ${cm.shape[0]}`);
      }
      return np.reshape(np.slice(_safeDiv(num, den), [1], [2]), []);
    default:
      avg satisfies never;
      throw new TypeError(
        `${op}: average must be "macro", "micro", "none" or "binary", got "${avg}"`,
      );
  }
}

/**
 * Precision (seed S2 L2031): `TP / (TP + FP)` per class, 0 where nothing was predicted
 * (scikit-learn's `zero_division=0`). "macro" averages the per-class values, "micro" pools
 * the counts (for single-label multiclass data it equals accuracy), "binary" reports class 1.
 *
 * @param preds Logits f32[N, C, ...] or predicted classes of the labels' shape.
 * @param labels Integer class indices [N, ...].
 * @param opts `{ numClasses, average = "macro" }`.
 * @returns An f32 scalar, or f32[C] with `average: "none"`.
 * @throws {TypeError} If the shapes do not fit or numClasses is missing.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { precision } = nn.metrics;
 * const preds = np.array([1, 1, 0, 1], "i32"), labels = np.array([1, 0, 0, 1], "i32");
 * const v = await precision(preds, labels, { numClasses: 2, average: "binary" }).item();
 * console.log(v); // 0.6666667
 * if (Math.abs(Number(v) - 0.6666667) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function precision(
  preds: TensorLike,
  labels: TensorLike,
  opts: ClassMetricOptions = {},
): Tensor {
  return _classMetric("precision", preds, labels, opts, (c) => [c.tp, np.add(c.tp, c.fp)]);
}

/**
 * Recall, sensitivity, true-positive rate (seed S2 L2038): `TP / (TP + FN)` per class, 0 for
 * classes absent from the labels; averaged as {@link precision}.
 *
 * @param preds Logits f32[N, C, ...] or predicted classes of the labels' shape.
 * @param labels Integer class indices [N, ...].
 * @param opts `{ numClasses, average = "macro" }`.
 * @returns An f32 scalar, or f32[C] with `average: "none"`.
 * @throws {TypeError} If the shapes do not fit or numClasses is missing.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { recall } = nn.metrics;
 * const preds = np.array([1, 1, 0, 0], "i32"), labels = np.array([1, 0, 0, 1], "i32");
 * const y = recall(preds, labels, { numClasses: 2, average: "none" });
 * console.log(await y.toArray()); // [0.5, 0.5]
 * const err = await y.sub([0.5, 0.5]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function recall(
  preds: TensorLike,
  labels: TensorLike,
  opts: ClassMetricOptions = {},
): Tensor {
  return _classMetric("recall", preds, labels, opts, (c) => [c.tp, np.add(c.tp, c.fn)]);
}

/**
 * F1 score (seed S2 L2045): `2PR / (P + R) = 2TP / (2TP + FP + FN)` per class (0 when
 * undefined). "macro" is the mean of the per-class F1 (scikit-learn's definition, not the F1
 * of macro precision and recall); "micro" pools the counts.
 *
 * @param preds Logits f32[N, C, ...] or predicted classes of the labels' shape.
 * @param labels Integer class indices [N, ...].
 * @param opts `{ numClasses, average = "macro" }`.
 * @returns An f32 scalar, or f32[C] with `average: "none"`.
 * @throws {TypeError} If the shapes do not fit or numClasses is missing.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { f1 } = nn.metrics;
 * const preds = np.array([1, 1, 0, 1], "i32"), labels = np.array([1, 0, 0, 1], "i32");
 * const v = await f1(preds, labels, { numClasses: 2, average: "binary" }).item();
 * console.log(v); // 0.8
 * if (Math.abs(Number(v) - 0.8) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function f1(preds: TensorLike, labels: TensorLike, opts: ClassMetricOptions = {}): Tensor {
  return _classMetric("f1", preds, labels, opts, (c) => {
    const tp2 = np.multiply(c.tp, 2);
    return [tp2, np.add(np.add(tp2, c.fp), c.fn)];
  });
}

/**
 * Specificity, true-negative rate (seed S2 L2059): `TN / (TN + FP)` per class (one class
 * against the rest), averaged as {@link precision}.
 *
 * @param preds Logits f32[N, C, ...] or predicted classes of the labels' shape.
 * @param labels Integer class indices [N, ...].
 * @param opts `{ numClasses, average = "macro" }`.
 * @returns An f32 scalar, or f32[C] with `average: "none"`.
 * @throws {TypeError} If the shapes do not fit or numClasses is missing.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { specificity } = nn.metrics;
 * const preds = np.array([1, 1, 0, 1], "i32"), labels = np.array([1, 0, 0, 1], "i32");
 * const v = await specificity(preds, labels, { numClasses: 2, average: "binary" }).item();
 * console.log(v); // 0.5
 * if (Math.abs(Number(v) - 0.5) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function specificity(
  preds: TensorLike,
  labels: TensorLike,
  opts: ClassMetricOptions = {},
): Tensor {
  return _classMetric("specificity", preds, labels, opts, (c) => [c.tn, np.add(c.tn, c.fp)]);
}

/**
 * Perplexity (seed S2 L2147, S4 §9.3): `exp(mean cross-entropy)` =
 * `exp(−(1/N) Σ log P(wᵢ | w<ᵢ))`; lower is better (CATALOG §0.2 on S2's contradictory
 * wording). Pass the mean per-token cross-entropy in nats.
 *
 * @param meanCrossEntropy A scalar (or any shape) of mean cross-entropies.
 * @returns `exp` of it.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { perplexity } = nn.metrics;
 * const v = await perplexity(np.log(np.array(10))).item();
 * console.log(v); // 10
 * if (Math.abs(Number(v) - 10) > 1e-4) throw new Error(`got ${v}`);
 * ```
 */
export function perplexity(meanCrossEntropy: TensorLike): Tensor {
  return np.exp(meanCrossEntropy);
}

/** Options of {@link iou}. */
export interface IouOptions {
  /** Axes to reduce over (default all): e.g. `[1, 2]` for one IoU per mask of `[N, H, W]`. */
  axis?: number | readonly number[];
  /** The value when both masks are empty (default 0, as scikit-learn's `zero_division`). */
  zeroDivision?: number;
}

/**
 * Intersection over union of two binary masks (seed S2 L2156, S4 §14.4):
 * `|A ∩ B| / |A ∪ B|`, nonzero values counting as set.
 *
 * @param predMask Predicted mask (bool or numbers), any shape.
 * @param trueMask True mask of the same shape.
 * @param opts `{ axis, zeroDivision = 0 }`.
 * @returns An f32 scalar (or one per position left after reducing `axis`).
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { iou } = nn.metrics;
 * const v = await iou(np.array([1, 1, 0, 0]), np.array([0, 1, 1, 0])).item();
 * console.log(v); // 0.3333333
 * if (Math.abs(Number(v) - 0.3333333) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function iou(predMask: TensorLike, trueMask: TensorLike, opts: IouOptions = {}): Tensor {
  const a = np.astype(predMask, "bool"), b = np.astype(trueMask, "bool");
  const inter = np.astype(np.sum(np.logicalAnd(a, b), { axis: opts.axis }), "f32");
  const union = np.astype(np.sum(np.logicalOr(a, b), { axis: opts.axis }), "f32");
  return np.where(np.greater(union, 0), _safeDiv(inter, union), opts.zeroDivision ?? 0);
}

/** Options of {@link meanIou}. */
export interface MeanIouOptions {
  /** The number of classes C (default: the logits' class axis). */
  numClasses?: number;
}

/**
 * Mean intersection over union for semantic segmentation: per class
 * `IoU_c = TP / (TP + FP + FN)` from the confusion matrix, averaged over the classes that
 * occur in the labels or the predictions (classes with an empty union are skipped, as
 * `nanmean`; NaN if none occurs).
 *
 * @param preds Logits f32[N, C, H, W] or predicted classes i32[N, H, W].
 * @param labels Class indices i32[N, H, W] (any shape matching the predictions).
 * @param opts `{ numClasses }` (required for class-index predictions).
 * @returns An f32 scalar.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { meanIou } = nn.metrics;
 * const preds = np.array([0, 0, 1, 1], "i32"), labels = np.array([0, 1, 1, 1], "i32");
 * const v = await meanIou(preds, labels, { numClasses: 3 }).item();
 * console.log(v); // 0.5833333 = (1/2 + 2/3) / 2
 * if (Math.abs(Number(v) - 0.5833333) > 1e-5) throw new Error(`got ${v}`);
 * ```
 */
export function meanIou(preds: TensorLike, labels: TensorLike, opts: MeanIouOptions = {}): Tensor {
  const { tp, fp, fn } = _counts(confusionMatrix(preds, labels, opts));
  const union = np.add(np.add(tp, fp), fn);
  const present = np.greater(union, 0);
  const per = _safeDiv(tp, union);
  return np.divide(np.sum(np.where(present, per, 0)), np.sum(np.astype(present, "f32")));
}

/**
 * Pairwise IoU of axis-aligned boxes in corner form `(x1, y1, x2, y2)`, as
 * `torchvision.ops.box_iou` and d2l's `box_iou` (S4 §14.4): `IoU[i, j] = area(aᵢ ∩ bⱼ) /
 * area(aᵢ ∪ bⱼ)`.
 *
 * @param boxes1 f32[N, 4].
 * @param boxes2 f32[M, 4].
 * @returns f32[N, M].
 * @throws {TypeError} If the inputs are not `[·, 4]`.
 * @example
 * ```ts
 * import { nn, np } from "@denax/denax";
 * const { boxIou } = nn.metrics;
 * const a = np.array([[0, 0, 2, 2]]), b = np.array([[1, 1, 3, 3], [0, 0, 2, 2]]);
 * const y = boxIou(a, b);
 * console.log(await y.toArray()); // [[0.1428571, 1]]
 * const err = await y.sub([[0.1428571, 1]]).abs().max().item();
 * if (Number(err) > 1e-5) throw new Error(`off by ${err}`);
 * ```
 */
export function boxIou(boxes1: TensorLike, boxes2: TensorLike): Tensor {
  const a = np.astype(boxes1, "f32"), b = np.astype(boxes2, "f32");
  if (a.ndim !== 2 || b.ndim !== 2 || a.shape[1] !== 4 || b.shape[1] !== 4) {
    throw new TypeError(
      `Cannot boxIou ${a.aval} and ${b.aval}: expects boxes [N, 4] and [M, 4] as (x1, y1, x2, y2)`,
    );
  }
  const col = (t: Tensor, j: number) => np.slice(t, [0, j], [t.shape[0], j + 1]); // [N, 1]
  const area = (t: Tensor) =>
    np.multiply(np.subtract(col(t, 2), col(t, 0)), np.subtract(col(t, 3), col(t, 1)));
  const bT = (j: number) => np.transpose(col(b, j)); // [1, M]
  const w = np.maximum(np.subtract(np.minimum(col(a, 2), bT(2)), np.maximum(col(a, 0), bT(0))), 0);
  const h = np.maximum(np.subtract(np.minimum(col(a, 3), bT(3)), np.maximum(col(a, 1), bT(1))), 0);
  const inter = np.multiply(w, h);
  const union = np.subtract(np.add(area(a), np.transpose(area(b))), inter);
  return _safeDiv(inter, union);
}

// ---------------------------------------------------------------- BLEU (host side)

/** A token: a vocabulary id or a string. */
export type Token = number | string;

/** Options of {@link bleu}. */
export interface BleuOptions {
  /** The largest n-gram order N (default 4). */
  maxN?: number;
  /** Weights wₙ of the log precisions (default uniform, 1/N each). */
  weights?: readonly number[];
  /**
   * "none" (default: BLEU is 0 when some order has no match), "add1" (Lin & Och 2004: add 1
   * to the matched and total counts of orders n ≥ 2), or "epsilon" (0.1 matches for orders
   * with none, as NLTK's `method1`).
   */
  smoothing?: "none" | "add1" | "epsilon";
}

function _ngrams(tokens: readonly Token[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const g = tokens.slice(i, i + n).map((t) => `${typeof t}:${t}`).join("\u0000");
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

/**
 * Corpus BLEU (Papineni et al. 2002; seed S2 L2136: `BLEU = BP · exp(Σₙ wₙ log pₙ)`), on
 * host-side JS arrays of tokens — not a Tensor function, because n-gram matching is
 * dictionary work (decode model outputs to ids first). `pₙ` is the modified precision:
 * candidate n-gram counts clipped by their maximum count in any reference, summed over the
 * corpus, over the candidates' n-gram totals. The brevity penalty is `BP = 1` if `c > r` else
 * `e^{1 − r/c}`, with `c` the total candidate length and `r` the sum of the reference
 * lengths closest to each candidate's (the shorter on ties), as NLTK's `corpus_bleu`. A
 * single sentence is `bleu([cand], [refs])`. (d2l's §10.7 `bleu` is a different, sentence-level
 * variant weighting `pₙ` by `1/2ⁿ`.)
 *
 * @param candidates One token list per candidate translation.
 * @param references For each candidate, one or more reference token lists.
 * @param opts `{ maxN = 4, weights, smoothing = "none" }`.
 * @returns BLEU in [0, 1].
 * @throws {TypeError} If the corpus sizes differ, a candidate has no reference, or the weights do not match maxN.
 * @example
 * ```ts
 * import { nn } from "@denax/denax";
 * const { bleu } = nn.metrics;
 * const cand = [[1, 2, 3, 4, 5]];
 * const v = bleu(cand, [[[1, 2, 3, 4, 5]]]);
 * console.log(v); // 1
 * if (Math.abs(v - 1) > 1e-5) throw new Error(`got ${v}`);
 * const value = bleu(cand, [[[1, 2, 3, 4, 6]]], { maxN: 2 });
 * console.log(value); // 0.7745967 = √(4/5 · 3/4)
 * if (Math.abs(value - 0.7745967) > 1e-5) throw new Error(`got ${value}`);
 * ```
 */
export function bleu(
  candidates: readonly (readonly Token[])[],
  references: readonly (readonly (readonly Token[])[])[],
  opts: BleuOptions = {},
): number {
  const maxN = opts.maxN ?? 4;
  const weights = opts.weights ?? Array(maxN).fill(1 / maxN);
  const smoothing = opts.smoothing ?? "none";
  if (candidates.length !== references.length) {
    throw new TypeError(
      `bleu: ${candidates.length} candidates but ${references.length} reference sets`,
    );
  }
  if (weights.length !== maxN) {
    throw new TypeError(`bleu: ${weights.length} weights for maxN = ${maxN}`);
  }
  const matched = new Array(maxN).fill(0), total = new Array(maxN).fill(0);
  let c = 0, r = 0;
  candidates.forEach((cand, i) => {
    const refs = references[i];
    if (refs.length === 0) throw new TypeError(`bleu: candidate ${i} has no reference`);
    c += cand.length;
    // the closest reference length, the shorter on ties
    r += refs.map((x) => x.length).reduce((best, len) => {
      const d = Math.abs(len - cand.length), bd = Math.abs(best - cand.length);
      return d < bd || (d === bd && len < best) ? len : best;
    });
    for (let n = 1; n <= maxN; n++) {
      const counts = _ngrams(cand, n);
      const maxRef = new Map<string, number>();
      for (const ref of refs) {
        for (const [g, k] of _ngrams(ref, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, k));
      }
      for (const [g, k] of counts) matched[n - 1] += Math.min(k, maxRef.get(g) ?? 0);
      total[n - 1] += Math.max(0, cand.length - n + 1);
    }
  });
  if (c === 0) return 0;
  let logSum = 0;
  for (let n = 1; n <= maxN; n++) {
    let m = matched[n - 1], t = total[n - 1];
    if (smoothing === "add1" && n >= 2) {
      m += 1;
      t += 1;
    } else if (smoothing === "epsilon" && m === 0) m = 0.1;
    if (m === 0 || t === 0) {
      if (weights[n - 1] === 0) continue;
      return 0;
    }
    logSum += weights[n - 1] * Math.log(m / t);
  }
  const bp = c > r ? 1 : Math.exp(1 - r / c);
  return bp * Math.exp(logSum);
}

/**
 * BLEU as d2l defines it (§10.7, `d2l.bleu`), for one predicted sentence against one label:
 * `exp(min(0, 1 − len_label/len_pred)) · Πₙ pₙ^{1/2ⁿ}` for n = 1 … min(k, len_pred), with pₙ
 * the clipped n-gram precision (each label n-gram matches at most as often as it occurs). The
 * weight 1/2ⁿ makes longer matches count more; a perfect prediction scores 1. (Corpus BLEU as
 * Papineni et al. and NLTK define it is {@link bleu}.)
 *
 * @param pred The predicted tokens (ids or strings).
 * @param label The reference tokens.
 * @param k The largest n-gram order (d2l uses 2).
 * @returns The score in [0, 1]; 0 for an empty prediction.
 * @throws {RangeError} For k not a positive integer.
 * @example
 * ```ts
 * import { nn } from "@denax/denax";
 * const { d2lBleu } = nn.metrics;
 * const v = d2lBleu(["il", "est", "riche", "."], ["il", "est", "riche", "."], 2);
 * console.log(v); // 1
 * if (Math.abs(v - 1) > 1e-5) throw new Error(`got ${v}`);
 * const value = d2lBleu(["a", "b", "c", "d"], ["a", "b", "c", "e"], 2);
 * console.log(value); // ≈ 0.78254 = (3/4)^½ (2/3)^¼
 * if (Math.abs(value - 0.78254) > 1e-5) throw new Error(`got ${value}`);
 * ```
 */
export function d2lBleu(pred: readonly Token[], label: readonly Token[], k: number): number {
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`d2lBleu: k must be a positive integer, got ${k}`);
  }
  const lp = pred.length, ll = label.length;
  if (lp === 0) return 0;
  let score = Math.exp(Math.min(0, 1 - ll / lp));
  for (let n = 1; n <= Math.min(k, lp); n++) {
    const subs = _ngrams(label, n);
    let matches = 0;
    for (let i = 0; i + n <= lp; i++) {
      const g = pred.slice(i, i + n).map((t) => `${typeof t}:${t}`).join("\u0000");
      const c = subs.get(g) ?? 0;
      if (c > 0) {
        matches++;
        subs.set(g, c - 1);
      }
    }
    score *= Math.pow(matches / (lp - n + 1), Math.pow(0.5, n));
  }
  return score;
}
