/**
 * The linear models of the notes and the MLP: the perceptron [M01] with Rosenblatt's learning
 * rule, linear regression [M02] (the model, and its closed-form least-squares fit), logistic
 * regression [M03], softmax regression [M04] and the multilayer perceptron [M05].
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { scan } from "../core/lax.ts";
import type { Tensor } from "../core/tensor.ts";
import { jit } from "../core/transforms.ts";
import { step } from "../layers/activations.ts";
import { sequential } from "../layers/combinators.ts";
import type { LayerLike } from "../layers/combinators.ts";
import type { Layer } from "../layers/layer.ts";
import { dropout, linear, type LinearParams } from "../layers/linear.ts";
import { _float } from "../layers/_util.ts";
import { _act, _checkPositive, _flattenTrailing, type Activation } from "./_common.ts";

const _fmt = (s: readonly number[]): string => `[${s.join(", ")}]`;

// ---------------------------------------------------------------- perceptron [M01]

/** Config of {@link perceptron}. */
export interface PerceptronConfig {
  /** The number of inputs d. */
  inFeatures: number;
  /** Fire only when `z > 0` (S2 L244) instead of `z ≥ 0` (S1 L19, the default). */
  strict?: boolean;
}

/** Parameters of {@link perceptron}: `weight` f32[d] and the bias (S2's W₀) f32[]. */
export interface PerceptronParams {
  /** f32[d]. */
  weight: Tensor;
  /** f32[]. */
  bias: Tensor;
}

/**
 * Rosenblatt's perceptron [M01] (S1 item 1 L9–20, S2 §2 L228–300): a binary threshold unit
 * `ŷ = step(Σ wⱼ xⱼ + b)` with `step(z) = 1 if z ≥ 0 else 0` (`strict`: `z > 0`), so the
 * decision boundary is the hyperplane `w·x + b = 0`. It represents AND, OR and NOT but not
 * XOR (no line separates XOR's classes). The step has zero gradient: train it with the
 * perceptron rule ({@link perceptronFit}), not with gradient descent.
 *
 * Input f32[..., d], output f32[...] with values in {0, 1}. `init` returns zeros (the rule
 * converges from any start on separable data).
 *
 * @param config `{ inFeatures, strict = false }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, when the last input dimension is not d.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { perceptron } from "@denax/denax/models";
 *
 * const p = perceptron({ inFeatures: 2 });
 * const params = { weight: np.array([1, 1]), bias: np.array(-1.5) }; // AND
 * const y = await p.apply(params, np.array([[0, 0], [0, 1], [1, 0], [1, 1]])).toArray();
 * console.log(y); // [0, 0, 0, 1]
 * if (JSON.stringify(y) !== "[0,0,0,1]") throw new Error(`got ${y}`);
 * ```
 */
export function perceptron(config: PerceptronConfig): Layer<PerceptronParams> {
  const d = _checkPositive("perceptron", "inFeatures", config.inFeatures);
  const name = `Perceptron(${d})`;
  return {
    name,
    init: () => ({ weight: np.zeros([d]), bias: np.zeros([]) }),
    apply(p: PerceptronParams, x: Tensor): Tensor {
      if (x.ndim < 1 || x.shape[x.ndim - 1] !== d) {
        throw new TypeError(`${name} expects input [..., ${d}], got ${x.aval}`);
      }
      const z = np.matmul(_float(x), p.weight).add(p.bias);
      return step(z, { strict: config.strict ?? false });
    },
  };
}

/** Options of {@link perceptronFit}. */
export interface PerceptronFitOptions {
  /** The learning rate η (default 1). */
  lr?: number;
  /** Stop after this many epochs even with mistakes left (default 100). */
  maxEpochs?: number;
  /** The threshold convention of {@link perceptron} (default false: fire at `z ≥ 0`). */
  strict?: boolean;
}

/** The result of {@link perceptronFit}. */
export interface PerceptronFitResult {
  /** The learned parameters. */
  params: PerceptronParams;
  /** The number of misclassified examples in each epoch (during that epoch's updates). */
  mistakes: number[];
  /** Whether an epoch ended with no mistake (the data were separated). */
  converged: boolean;
}

/**
 * Rosenblatt's perceptron learning rule (G06, S2 §4 L463–500): for each example k in turn,
 * `ŷₖ = step(w·xₖ + b)`, then `w ← w + η (tₖ − ŷₖ) xₖ` and `b ← b + η (tₖ − ŷₖ)` — an
 * error-correcting update, not a gradient step (it changes nothing when `ŷₖ = tₖ`). Epochs
 * repeat until one passes with no mistake or `maxEpochs` is reached; by the perceptron
 * convergence theorem this stops iff the data are linearly separable (AND, OR), and XOR never
 * does.
 *
 * One epoch is a jitted `lax.scan` over the examples (the updates are sequential); the number
 * of mistakes is read back after each epoch to decide whether to stop.
 *
 * @param params Initial parameters (`perceptron(…).init(key)`: zeros).
 * @param x Inputs f32[N, d].
 * @param t Targets f32[N] with values in {0, 1}.
 * @param opts `{ lr = 1, maxEpochs = 100, strict = false }`.
 * @returns The parameters, the mistakes per epoch and whether it converged.
 * @throws {TypeError} When x is not [N, d] or t is not [N].
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { perceptron, perceptronFit } from "@denax/denax/models";
 *
 * const x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]]);
 * const or = await perceptronFit(perceptron({ inFeatures: 2 }).init(random.key(0)), x,
 *   np.array([0, 1, 1, 1]));
 * console.log(or.converged, or.mistakes.at(-1)); // true 0
 * if (!or.converged || or.mistakes.at(-1) !== 0) throw new Error("OR is separable: it must converge");
 * ```
 */
export async function perceptronFit(
  params: PerceptronParams,
  x: Tensor,
  t: Tensor,
  opts: PerceptronFitOptions = {},
): Promise<PerceptronFitResult> {
  const d = params.weight.shape[0];
  if (x.ndim !== 2 || x.shape[1] !== d || t.ndim !== 1 || t.shape[0] !== x.shape[0]) {
    throw new TypeError(
      `perceptronFit expects x [N, ${d}] and targets [N], got x ${x.aval}, targets ${t.aval}`,
    );
  }
  const lr = opts.lr ?? 1, maxEpochs = opts.maxEpochs ?? 100, strict = opts.strict ?? false;
  const epoch = jit((p: PerceptronParams, xs: Tensor, ts: Tensor) => {
    const [[w, b, errs]] = scan(
      ([w, b, errs]: [Tensor, Tensor, Tensor], [xk, tk]: [Tensor, Tensor]) => {
        const yk = step(np.dot(xk, w).add(b), { strict });
        const e = tk.sub(yk); // t − ŷ ∈ {−1, 0, 1}
        const next: [Tensor, Tensor, Tensor] = [
          w.add(xk.mul(e.mul(lr))),
          b.add(e.mul(lr)),
          errs.add(np.abs(e)),
        ];
        return [next, null];
      },
      [p.weight, p.bias, np.zeros([])] as [Tensor, Tensor, Tensor],
      [xs, ts] as [Tensor, Tensor],
    );
    return { params: { weight: w, bias: b }, errs };
  });
  const xs = _float(x), ts = _float(t);
  let p = params;
  const mistakes: number[] = [];
  for (let i = 0; i < maxEpochs; i++) {
    const out = epoch(p, xs, ts);
    p = out.params;
    mistakes.push(Math.round(await out.errs.item() as number));
    if (mistakes[i] === 0) return { params: p, mistakes, converged: true };
  }
  return { params: p, mistakes, converged: false };
}

// ---------------------------------------------------------------- linear regression [M02]

/** Config of {@link linearRegression}. */
export interface LinearRegressionConfig {
  /** The number of features d. */
  inFeatures: number;
  /** The number of targets (default 1). */
  outFeatures?: number;
}

/**
 * Linear regression [M02] (S4 §3.1–3.5, S2 §16): `ŷ = x Wᵀ + b`, a one-layer fully connected
 * net with no hidden units; with the squared loss, fitting it is maximum likelihood under
 * Gaussian noise. Train it by minibatch SGD on `nn.losses.mse` (d2l's from-scratch and concise
 * versions), or solve it in closed form with {@link linearRegressionFit}.
 *
 * Input f32[..., d], output f32[..., outFeatures]; params `{ weight: [out, d], bias: [out] }`
 * (PyTorch's `nn.Linear`).
 *
 * @param config `{ inFeatures, outFeatures = 1 }`.
 * @returns The layer.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { linearRegression } from "@denax/denax/models";
 *
 * const m = linearRegression({ inFeatures: 2 });
 * const y = m.apply(m.init(random.key(0)), np.ones([5, 2]));
 * console.log(String(y)); // Tensor(f32[5,1])
 * if (String(y) !== "Tensor(f32[5,1])") throw new Error(`got ${y}`);
 * ```
 */
export function linearRegression(config: LinearRegressionConfig): Layer<LinearParams> {
  const d = _checkPositive("linearRegression", "inFeatures", config.inFeatures);
  const k = _checkPositive("linearRegression", "outFeatures", config.outFeatures ?? 1);
  const l = linear({ inFeatures: d, outFeatures: k });
  return { name: `LinearRegression(${d} → ${k})`, init: l.init, apply: l.apply };
}

/** Options of {@link linearRegressionFit}. */
export interface LinearRegressionFitOptions {
  /** Ridge penalty λ on the weights (not the bias), `λ‖W‖²` (default 0). */
  l2?: number;
}

/**
 * The least-squares fit of {@link linearRegression} in closed form, by the normal equations:
 * with `A = [X 1]` (a column of ones for the bias) and `θ = [W b]ᵀ`,
 * `(AᵀA + λ D) θ = Aᵀ Y` (`D` = the identity without the bias entry), the minimizer of
 * `‖Aθ − Y‖² + λ‖W‖²`.
 *
 * X and Y are read back once; the (d+1)×(d+1) system is formed and solved on the host in
 * float64 by a Cholesky factorization (`AᵀA` is symmetric positive semi-definite). This is
 * for the modest d of the notes' examples (the cost is O(N d² + d³) on the host).
 *
 * @param x Features f32[N, d].
 * @param y Targets f32[N] or f32[N, k].
 * @param opts `{ l2 = 0 }`.
 * @returns `{ weight: f32[k, d], bias: f32[k] }` (k = 1 for y [N]), the params of
 *   `linearRegression({ inFeatures: d, outFeatures: k })`.
 * @throws {TypeError} When x is not [N, d] or y not [N] / [N, k].
 * @throws {RangeError} When the normal equations are singular (collinear features, or
 *   N < d + 1, with λ = 0).
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { linearRegressionFit } from "@denax/denax/models";
 *
 * const x = np.array([[0], [1], [2], [3]]);
 * const p = await linearRegressionFit(x, np.array([1, 3, 5, 7])); // y = 2x + 1
 * console.log(await p.weight.toArray(), await p.bias!.toArray()); // ≈ [[2]] ≈ [1]
 * const err = Math.max(
 *   Number(await p.weight.sub([[2]]).abs().max().item()),
 *   Number(await p.bias!.sub([1]).abs().max().item()),
 * );
 * if (err > 1e-4) throw new Error(`off by ${err}`);
 * ```
 */
export async function linearRegressionFit(
  x: Tensor,
  y: Tensor,
  opts: LinearRegressionFitOptions = {},
): Promise<LinearParams> {
  if (x.ndim !== 2 || (y.ndim !== 1 && y.ndim !== 2) || y.shape[0] !== x.shape[0]) {
    throw new TypeError(
      `linearRegressionFit expects x [N, d] and y [N] or [N, k], got x ${x.aval}, y ${y.aval}`,
    );
  }
  const [n, d] = x.shape, k = y.ndim === 1 ? 1 : y.shape[1], m = d + 1;
  const xs = await x.data(), ys = await y.data();
  const lam = opts.l2 ?? 0;
  // G = AᵀA + λD and R = AᵀY in float64, A = [X 1]
  const g = new Float64Array(m * m), r = new Float64Array(m * k);
  const row = new Float64Array(m);
  for (let s = 0; s < n; s++) {
    for (let i = 0; i < d; i++) row[i] = Number(xs[s * d + i]);
    row[d] = 1;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j <= i; j++) g[i * m + j] += row[i] * row[j];
      for (let c = 0; c < k; c++) r[i * k + c] += row[i] * Number(ys[s * k + c]);
    }
  }
  for (let i = 0; i < d; i++) g[i * m + i] += lam;
  const theta = _choleskySolve(g, r, m, k, `x ${x.aval}`);
  const w = new Float32Array(k * d), b = new Float32Array(k);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < d; i++) w[c * d + i] = theta[i * k + c];
    b[c] = theta[d * k + c];
  }
  return { weight: np.array(w, { shape: [k, d] }), bias: np.array(b, { shape: [k] }) };
}

/** Solves G θ = R (G symmetric positive definite, lower triangle filled) by Cholesky. */
function _choleskySolve(
  g: Float64Array,
  r: Float64Array,
  m: number,
  k: number,
  what: string,
): Float64Array {
  const l = new Float64Array(m * m);
  let maxDiag = 0;
  for (let i = 0; i < m; i++) maxDiag = Math.max(maxDiag, g[i * m + i]);
  for (let j = 0; j < m; j++) {
    let s = g[j * m + j];
    for (let p = 0; p < j; p++) s -= l[j * m + p] ** 2;
    if (!(s > 1e-12 * maxDiag)) {
      throw new RangeError(
        `linearRegressionFit: the normal equations are singular for ${what} ` +
          `(collinear features, or fewer than d + 1 = ${m} samples)\nhelp: pass { l2: λ > 0 }`,
      );
    }
    l[j * m + j] = Math.sqrt(s);
    for (let i = j + 1; i < m; i++) {
      let t = g[i * m + j];
      for (let p = 0; p < j; p++) t -= l[i * m + p] * l[j * m + p];
      l[i * m + j] = t / l[j * m + j];
    }
  }
  const z = new Float64Array(m * k), th = new Float64Array(m * k);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < m; i++) { // L z = R
      let s = r[i * k + c];
      for (let p = 0; p < i; p++) s -= l[i * m + p] * z[p * k + c];
      z[i * k + c] = s / l[i * m + i];
    }
    for (let i = m - 1; i >= 0; i--) { // Lᵀ θ = z
      let s = z[i * k + c];
      for (let p = i + 1; p < m; p++) s -= l[p * m + i] * th[p * k + c];
      th[i * k + c] = s / l[i * m + i];
    }
  }
  return th;
}

// ---------------------------------------------------------------- logistic regression [M03]

/** Config of {@link logisticRegression}. */
export interface LogisticRegressionConfig {
  /** The number of features d. */
  inFeatures: number;
  /**
   * `"probability"` (default): `σ(w·x + b)`, to pair with `nn.losses.binaryCrossEntropy`;
   * `"logit"`: `w·x + b`, to pair with the stabler `nn.losses.bceWithLogits`.
   */
  output?: "probability" | "logit";
}

/**
 * Binary logistic regression [M03] (S2 §16 L2093): `P(y = 1 | x) = σ(w·x + b) =
 * 1 / (1 + e^{−(w·x + b)})`, trained with binary cross-entropy.
 *
 * Input f32[..., d], output f32[...] (one probability, or logit, per example). Params
 * `{ weight: [1, d], bias: [1] }` (a PyTorch `nn.Linear(d, 1)`).
 *
 * @param config `{ inFeatures, output = "probability" }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, when the last input dimension is not d.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { logisticRegression } from "@denax/denax/models";
 *
 * const m = logisticRegression({ inFeatures: 3 });
 * const y = m.apply(m.init(random.key(0)), np.ones([4, 3]));
 * console.log(String(y)); // Tensor(f32[4])
 * if (String(y) !== "Tensor(f32[4])") throw new Error(`got ${y}`);
 * ```
 */
export function logisticRegression(config: LogisticRegressionConfig): Layer<LinearParams> {
  const d = _checkPositive("logisticRegression", "inFeatures", config.inFeatures);
  const l = linear({ inFeatures: d, outFeatures: 1 });
  const logit = config.output === "logit";
  return {
    name: `LogisticRegression(${d})`,
    init: l.init,
    apply(p: LinearParams, x: Tensor): Tensor {
      const z = l.apply(p, x);
      const z1 = np.reshape(z, z.shape.slice(0, -1));
      return logit ? z1 : np.sigmoid(z1);
    },
  };
}

// ---------------------------------------------------------------- softmax regression [M04]

/** Config of {@link softmaxRegression}. */
export interface SoftmaxRegressionConfig {
  /** Shape of one example, flattened before the affine map (e.g. `[1, 28, 28]` or `[784]`). */
  inputShape: readonly number[];
  /** Number of classes q. */
  numClasses: number;
}

/**
 * Softmax regression [M04] (S4 §4.1–4.5, S2 §16): one affine output per class,
 * `o = W x + b`, with `P(y = i | x) = exp(oᵢ) / Σⱼ exp(oⱼ)` and the loss `−log P(true class)`;
 * predict with `argmax o`. `apply` returns the logits `o` (the softmax is folded into
 * `nn.losses.crossEntropy`, stably, as d2l's concise version).
 *
 * Input f32[..., ...inputShape] (flattened to d = ∏ inputShape), output f32[..., q]. Params
 * `{ weight: [q, d], bias: [q] }`.
 *
 * @param config `{ inputShape, numClasses }`.
 * @returns The layer.
 * @throws {TypeError} From `apply`, when the trailing dims are not `inputShape`.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { softmaxRegression } from "@denax/denax/models";
 *
 * const m = softmaxRegression({ inputShape: [1, 28, 28], numClasses: 10 });
 * const y = m.apply(m.init(random.key(0)), np.zeros([2, 1, 28, 28]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function softmaxRegression(config: SoftmaxRegressionConfig): Layer<LinearParams> {
  const model = "softmaxRegression";
  const shape = config.inputShape;
  shape.forEach((v) => _checkPositive(model, "inputShape", v));
  const q = _checkPositive(model, "numClasses", config.numClasses);
  const d = shape.reduce((a, b) => a * b, 1);
  const l = linear({ inFeatures: d, outFeatures: q });
  const name = `SoftmaxRegression(${_fmt(shape)} → ${q})`;
  const flat = _flattenTrailing(shape.length);
  return {
    name,
    init: l.init,
    apply(p: LinearParams, x: Tensor): Tensor {
      _checkTrailingShape(name, x, shape);
      return l.apply(p, flat(x));
    },
  };
}

function _checkTrailingShape(name: string, x: Tensor, shape: readonly number[]): void {
  const t = x.shape.slice(x.ndim - shape.length);
  if (x.ndim < shape.length || t.some((v, i) => v !== shape[i])) {
    throw new TypeError(`${name} expects input [..., ${shape.join(", ")}], got ${x.aval}`);
  }
}

// ---------------------------------------------------------------- MLP [M05]

/** Config of {@link mlp}. */
export interface MlpConfig {
  /** Layer widths, input first, output last: `[784, 256, 10]` is one hidden layer of 256. */
  sizes: readonly number[];
  /** Activation after every hidden layer (default "relu"). */
  activation?: Activation;
  /** Dropout rate after each hidden layer's activation: one rate, or one per hidden layer (default 0). */
  dropout?: number | readonly number[];
  /**
   * The shape of one example when it is not a vector (e.g. `[1, 28, 28]`): its dims are
   * flattened first, as d2l's `nn.Flatten()`; ∏ inputShape must equal `sizes[0]`.
   */
  inputShape?: readonly number[];
}

/**
 * The multilayer perceptron [M05] (S2 §1, §6 L682–705; S3 §1; S4 ch. 5): the layer recursion
 * `z⁽ᵏ⁾ = W⁽ᵏ⁾ y⁽ᵏ⁻¹⁾ + b⁽ᵏ⁾`, `y⁽ᵏ⁾ = g(z⁽ᵏ⁾)` through the hidden layers (ReLU by default,
 * dropout after each when set), then a linear output layer (logits). "Deep" means more than
 * one hidden layer; the width of a layer is its number of units.
 *
 * Input f32[..., sizes[0]] (or f32[..., ...inputShape]), output f32[..., sizes.at(−1)]; works
 * under `vmap`. Params are the `nn.Sequential`'s, one entry per stage: `[0].weight`,
 * `[2].weight`, … (`[1].weight`, … after the flatten stage when `inputShape` is given, as
 * d2l's `nn.Sequential(nn.Flatten(), nn.Linear(…), …)`).
 *
 * @param config `{ sizes, activation = "relu", dropout = 0, inputShape }`.
 * @returns The layer (dropout active with `{ train: true, key }`).
 * @throws {RangeError} For fewer than two sizes, a non-positive size, dropout rates that do
 *   not match the hidden layers, or an `inputShape` whose size is not `sizes[0]`.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { mlp } from "@denax/denax/models";
 *
 * const net = mlp({ sizes: [784, 256, 10], inputShape: [1, 28, 28], dropout: 0.2 });
 * const params = net.init(random.key(0)); // [{}, { weight: f32[256,784], bias }, {}, {}, …]
 * const y = net.apply(params, np.zeros([2, 1, 28, 28]));
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function mlp(config: MlpConfig): Layer {
  const model = "mlp", sizes = config.sizes;
  if (!Array.isArray(sizes) || sizes.length < 2) {
    throw new RangeError(`${model}: sizes needs an input and an output width, got ${_fmt(sizes)}`);
  }
  sizes.forEach((v) => _checkPositive(model, "sizes", v));
  const nh = sizes.length - 2;
  const rates = typeof config.dropout === "object"
    ? [...config.dropout]
    : new Array(nh).fill(config.dropout ?? 0);
  if (rates.length !== nh) {
    throw new RangeError(
      `${model}: dropout gives ${rates.length} rates for ${nh} hidden layers (sizes ${
        _fmt(sizes)
      })`,
    );
  }
  const stages: LayerLike[] = [];
  const shape = config.inputShape;
  if (shape) {
    const d = shape.reduce((a, b) => a * b, 1);
    if (d !== sizes[0]) {
      throw new RangeError(
        `${model}: inputShape ${_fmt(shape)} has ${d} values but sizes[0] is ${sizes[0]}`,
      );
    }
    const flat = _flattenTrailing(shape.length);
    const name = `Flatten(${_fmt(shape)})`;
    stages.push({
      name,
      init: () => ({}),
      apply: (_p: unknown, x: Tensor) => {
        _checkTrailingShape(`MLP ${name}`, x, shape);
        return flat(x);
      },
    });
  }
  const act = _act(config.activation ?? "relu");
  for (let i = 0; i + 1 < sizes.length; i++) {
    stages.push(linear({ inFeatures: sizes[i], outFeatures: sizes[i + 1] }));
    if (i < nh) {
      stages.push(act);
      if (rates[i] > 0) stages.push(dropout({ rate: rates[i] }));
    }
  }
  const net = sequential(stages) as unknown as Layer;
  return { name: `MLP(${sizes.join(" → ")})`, init: net.init, apply: net.apply };
}
