/**
 * Recurrent layers: PyTorch's `nn.RNNCell`, `nn.LSTMCell`, `nn.GRUCell` and the multi-layer,
 * optionally bidirectional sequence layers `nn.RNN`, `nn.LSTM`, `nn.GRU`, plus a peephole LSTM
 * (Gers & Schmidhuber 2000). Every sequence layer runs on `lax.scan`, so it is reverse-
 * differentiable in O(length), jits to one program and works under `vmap`.
 *
 * Parameter names, shapes, gate order and default initialization are PyTorch's, so a PyTorch
 * `state_dict` maps onto the pytrees name for name:
 *
 * - cells: `{ weight_ih: [G·H, I], weight_hh: [G·H, H], bias_ih: [G·H], bias_hh: [G·H] }` with
 *   G = 1 (RNN), 4 (LSTM, gate rows i, f, g, o) or 3 (GRU, gate rows r, z, n);
 * - sequence layers: the same four per layer `k` and direction, named `weight_ih_l{k}`,
 *   `weight_hh_l{k}`, `bias_ih_l{k}`, `bias_hh_l{k}` and, for the backward direction of a
 *   bidirectional layer, `…_l{k}_reverse`; layer k > 0 has input size D·H.
 * - every parameter starts as U(−1/√H, 1/√H), as PyTorch.
 *
 * The seeds name the weights differently (CATALOG §0.2, "Vanilla RNN weight names": S1 L346
 * `W h + U x`, S2 L1488 `U x + W s`, S3 L67 swapped); we use PyTorch's `W_ih x + W_hh h`.
 *
 * @module
 */
import { checkOptions } from "../core/validate.ts";
import * as lax from "../core/lax.ts";
import * as np from "../core/numpy.ts";
import * as random from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import type { ApplyOptions, Layer } from "./layer.ts";
import { dropout } from "./linear.ts";
import { _fanInUniform, _float, _splitKeys } from "./_util.ts";

/** The cell kinds the shared machinery below runs. */
type Kind = "rnn_tanh" | "rnn_relu" | "lstm" | "gru" | "peephole";

const GATES: Readonly<Record<Kind, number>> = {
  rnn_tanh: 1,
  rnn_relu: 1,
  lstm: 4,
  gru: 3,
  peephole: 4,
};
const TITLE: Readonly<Record<Kind, string>> = {
  rnn_tanh: "RNN",
  rnn_relu: "RNN",
  lstm: "LSTM",
  gru: "GRU",
  peephole: "PeepholeLSTM",
};
const hasCellState = (k: Kind): boolean => k === "lstm" || k === "peephole";

// ---------------------------------------------------------------- parameter types

/**
 * Parameters of a cell (PyTorch names): `weight_ih` f32[G·H, I], `weight_hh` f32[G·H, H],
 * `bias_ih`, `bias_hh` f32[G·H] (absent with `bias: false`).
 */
export interface RnnCellParams {
  /** f32[G·H, inputSize], gate blocks stacked along the rows. */
  weight_ih: Tensor;
  /** f32[G·H, hiddenSize]. */
  weight_hh: Tensor;
  /** f32[G·H]. */
  bias_ih?: Tensor;
  /** f32[G·H]. */
  bias_hh?: Tensor;
}

/** Parameters of a peephole LSTM cell: an LSTM cell plus the diagonal peepholes, f32[H] each. */
export interface PeepholeLstmCellParams extends RnnCellParams {
  /** Peephole of the input gate onto c_{t−1}, f32[H]. */
  weight_ci: Tensor;
  /** Peephole of the forget gate onto c_{t−1}, f32[H]. */
  weight_cf: Tensor;
  /** Peephole of the output gate onto c_t, f32[H]. */
  weight_co: Tensor;
}

/**
 * Parameters of a sequence layer: `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`,
 * `weight_ih_l0_reverse`, …, exactly PyTorch's `state_dict` keys (peephole LSTM adds
 * `weight_ci_l0`, `weight_cf_l0`, `weight_co_l0`).
 */
export type RnnParams = Record<string, Tensor>;

// ---------------------------------------------------------------- the step functions

/** The last-axis slice `[k·H, (k+1)·H)`: gate block k. */
function _chunk(x: Tensor, k: number, h: number): Tensor {
  const start = x.shape.map(() => 0), stop: number[] = [...x.shape];
  start[x.ndim - 1] = k * h;
  stop[x.ndim - 1] = (k + 1) * h;
  return np.slice(x, start, stop);
}

/** `x W_ihᵀ + b_ih`: the input half of every gate, for all time steps at once. */
function _inputProj(p: RnnCellParams, x: Tensor): Tensor {
  const y = np.matmul(x, np.transpose(p.weight_ih));
  return p.bias_ih ? y.add(p.bias_ih) : y;
}

/** `h W_hhᵀ + b_hh`: the recurrent half of every gate (`whhT` = W_hhᵀ, hoisted out of scans). */
function _hiddenProj(p: RnnCellParams, h: Tensor, whhT: Tensor): Tensor {
  const y = np.matmul(h, whhT);
  return p.bias_hh ? y.add(p.bias_hh) : y;
}

/**
 * One time step. `carry` is `[h]` or `[h, c]`; `gx` is the precomputed input projection
 * `x W_ihᵀ + b_ih` f32[..., G·H]. The equations are PyTorch's (docs of nn.RNN/LSTM/GRU):
 *
 * - RNN: h' = act(gx + W_hh h + b_hh), act = tanh or relu.
 * - LSTM: [i, f, g, o] = blocks of gx + W_hh h + b_hh; i, f, o = σ(·), g = tanh(·);
 *   c' = f ⊙ c + i ⊙ g; h' = o ⊙ tanh(c').
 * - GRU: r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r ⊙ gh_n) with
 *   gh_n = W_hn h + b_hn (the reset gate multiplies the *projected* state, PyTorch/cuDNN's
 *   form, not Cho et al.'s W(r ⊙ h)); h' = (1 − z) ⊙ n + z ⊙ h.
 * - peephole LSTM: as LSTM with i, f pre-activations + w_ci ⊙ c, w_cf ⊙ c (c = c_{t−1}) and
 *   o's + w_co ⊙ c' (the *new* cell).
 */
function _step(
  kind: Kind,
  p: RnnCellParams,
  carry: Tensor[],
  gx: Tensor,
  whhT: Tensor = np.transpose(p.weight_hh),
): Tensor[] {
  const hs = p.weight_hh.shape[1];
  const h = carry[0];
  const gh = _hiddenProj(p, h, whhT);
  switch (kind) {
    case "rnn_tanh":
      return [np.tanh(gx.add(gh))];
    case "rnn_relu":
      return [np.maximum(gx.add(gh), 0)];
    case "gru": {
      const r = np.sigmoid(_chunk(gx, 0, hs).add(_chunk(gh, 0, hs)));
      const z = np.sigmoid(_chunk(gx, 1, hs).add(_chunk(gh, 1, hs)));
      const n = np.tanh(_chunk(gx, 2, hs).add(r.mul(_chunk(gh, 2, hs))));
      // (1 − z) ⊙ n + z ⊙ h = n + z ⊙ (h − n)
      return [n.add(z.mul(h.sub(n)))];
    }
    case "lstm":
    case "peephole": {
      const c = carry[1];
      const g = gx.add(gh);
      let iPre = _chunk(g, 0, hs), fPre = _chunk(g, 1, hs), oPre = _chunk(g, 3, hs);
      const pp = p as PeepholeLstmCellParams;
      if (kind === "peephole") {
        iPre = iPre.add(pp.weight_ci.mul(c));
        fPre = fPre.add(pp.weight_cf.mul(c));
      }
      const cNew = np.sigmoid(fPre).mul(c).add(np.sigmoid(iPre).mul(np.tanh(_chunk(g, 2, hs))));
      if (kind === "peephole") oPre = oPre.add(pp.weight_co.mul(cNew));
      return [np.sigmoid(oPre).mul(np.tanh(cNew)), cNew];
    }
    default:
      return kind satisfies never;
  }
}

// ---------------------------------------------------------------- initialization

/** U(−1/√H, 1/√H) for every tensor of one cell; `forgetBias` overrides the forget block. */
function _initCell(
  kind: Kind,
  key: Tensor,
  inputSize: number,
  hs: number,
  bias: boolean,
  forgetBias: number | undefined,
): RnnCellParams {
  const g = GATES[kind] * hs;
  const ks = _splitKeys(key, 7);
  const p: RnnCellParams & Partial<PeepholeLstmCellParams> = {
    weight_ih: _fanInUniform(ks[0], [g, inputSize], hs),
    weight_hh: _fanInUniform(ks[1], [g, hs], hs),
  };
  if (bias) {
    let bih = _fanInUniform(ks[2], [g], hs), bhh = _fanInUniform(ks[3], [g], hs);
    if (forgetBias !== undefined) {
      // the gate sees b_ih + b_hh: put the whole value in b_ih and zero b_hh's block
      const put = (b: Tensor, v: number) =>
        np.concatenate([_chunk(b, 0, hs), np.full([hs], v), _chunk(b, 2, hs), _chunk(b, 3, hs)]);
      bih = put(bih, forgetBias);
      bhh = put(bhh, 0);
    }
    p.bias_ih = bih;
    p.bias_hh = bhh;
  }
  if (kind === "peephole") {
    p.weight_ci = _fanInUniform(ks[4], [hs], hs);
    p.weight_cf = _fanInUniform(ks[5], [hs], hs);
    p.weight_co = _fanInUniform(ks[6], [hs], hs);
  }
  return p;
}

const PEEP = ["weight_ci", "weight_cf", "weight_co"] as const;

/** PyTorch's suffix of layer `l`, direction `d`: `_l0`, `_l0_reverse`, … */
const _suffix = (l: number, d: number): string => `_l${l}${d === 1 ? "_reverse" : ""}`;

// ---------------------------------------------------------------- cells

/** Config of {@link rnnCell}. */
export interface RnnCellConfig {
  /** Size of the input features I. */
  inputSize: number;
  /** Size of the hidden state H. */
  hiddenSize: number;
  /** Whether to learn `bias_ih`, `bias_hh` (default true). */
  bias?: boolean;
  /** The nonlinearity (default "tanh"). */
  nonlinearity?: "tanh" | "relu";
}

/** Config of {@link lstmCell}, {@link gruCell} and {@link peepholeLstmCell}. */
export interface GatedCellConfig {
  /** Size of the input features I. */
  inputSize: number;
  /** Size of the hidden state H. */
  hiddenSize: number;
  /** Whether to learn `bias_ih`, `bias_hh` (default true). */
  bias?: boolean;
  /**
   * LSTMs only: initialize the forget gate's total bias to this value (in `bias_ih`, with
   * `bias_hh`'s block zero), the +1…+2 recommendation of CATALOG O17 (S1 L442). PyTorch has
   * no such option; leave it unset for PyTorch's plain uniform init.
   */
  forgetBias?: number;
}

/** Options of a cell's `apply`: the previous hidden state (zeros by default). */
export interface CellApplyOptions extends ApplyOptions {
  /** h_{t−1}, f32[...batch, H]. */
  h?: Tensor;
}

/** Options of an LSTM cell's `apply`: the previous hidden and cell states (zeros by default). */
export interface LstmCellApplyOptions extends CellApplyOptions {
  /** c_{t−1}, f32[...batch, H]. */
  c?: Tensor;
}

/** The state an LSTM cell returns: PyTorch's `(h_1, c_1)`. */
export interface LstmState {
  /** h_t, f32[...batch, H]. */
  h: Tensor;
  /** c_t, f32[...batch, H]. */
  c: Tensor;
}

/** A single-step cell whose state is h: `apply(params, x, { h }) → h'`. */
export interface RnnCellLayer<P = RnnCellParams> extends Layer<P, Tensor, Tensor> {
  /** One step: x f32[...batch, I] → h' f32[...batch, H]. */
  apply(params: P, x: Tensor, opts?: CellApplyOptions): Tensor;
}

/** A single-step LSTM cell: `apply(params, x, { h, c }) → { h, c }`. */
export interface LstmCellLayer<P = RnnCellParams> extends Layer<P, Tensor, LstmState> {
  /** One step: x f32[...batch, I] → { h, c } f32[...batch, H]. */
  apply(params: P, x: Tensor, opts?: LstmCellApplyOptions): LstmState;
}

function _checkState(name: string, what: string, s: Tensor | undefined, shape: number[]): Tensor {
  if (s === undefined) return np.zeros(shape);
  if (s.shape.join() !== shape.join()) {
    throw new TypeError(`${name} expects ${what} [${shape.join(", ")}], got ${s.aval}`);
  }
  return _float(s);
}

function _cellStep(
  kind: Kind,
  name: string,
  inputSize: number,
  hs: number,
  p: RnnCellParams,
  x: Tensor,
  opts: LstmCellApplyOptions,
): Tensor[] {
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inputSize) {
    throw new TypeError(`${name} expects input [...batch, ${inputSize}], got ${x.aval}`);
  }
  const lead = [...x.shape.slice(0, -1), hs];
  const carry = [_checkState(name, "h", opts.h, lead)];
  if (hasCellState(kind)) carry.push(_checkState(name, "c", opts.c, lead));
  return _step(kind, p, carry, _inputProj(p, _float(x)));
}

// deno-lint-ignore no-explicit-any -- cell params differ by kind (LSTM/GRU/RNN); the public constructors give the types
function _makeCell(kind: Kind, cfg: GatedCellConfig): Layer<any, Tensor, any> {
  const { inputSize, hiddenSize } = cfg;
  const bias = cfg.bias ?? true;
  const name = `${TITLE[kind]}Cell(${inputSize} → ${hiddenSize}${
    kind === "rnn_relu" ? ", relu" : ""
  })`;
  return {
    name,
    init: (key: Tensor) => _initCell(kind, key, inputSize, hiddenSize, bias, cfg.forgetBias),
    apply(p: RnnCellParams, x: Tensor, opts: LstmCellApplyOptions = {}) {
      const out = _cellStep(kind, name, inputSize, hiddenSize, p, x, opts);
      return hasCellState(kind) ? { h: out[0], c: out[1] } : out[0];
    },
  };
}

const _RNNCELL_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "bias",
  "nonlinearity",
]);

/**
 * An Elman RNN cell, PyTorch's `nn.RNNCell`: h' = act(W_ih x + b_ih + W_hh h + b_hh), act =
 * tanh (default) or relu. Source: CATALOG M17 (S1 L346, S2 L1488).
 *
 * Input f32[...batch, I] (no batch dimension is fine), `h` f32[...batch, H] (default zeros),
 * output h' f32[...batch, H]. Params `{ weight_ih: [H, I], weight_hh: [H, H], bias_ih: [H],
 * bias_hh: [H] }`, all U(−1/√H, 1/√H).
 *
 * @param config `{ inputSize, hiddenSize, bias = true, nonlinearity = "tanh" }`.
 * @returns The cell.
 * @throws {TypeError} From `apply`, when x's last dimension is not I or h has the wrong shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { rnnCell } from "@denax/denax/nn";
 *
 * const cell = rnnCell({ inputSize: 3, hiddenSize: 4 });
 * const p = cell.init(random.key(0));
 * const h1 = cell.apply(p, np.ones([2, 3]));
 * const h2 = cell.apply(p, np.ones([2, 3]), { h: h1 });
 * console.log(String(h2)); // Tensor(f32[2,4])
 * if (String(h2) !== "Tensor(f32[2,4])") throw new Error(`got ${h2}`);
 * ```
 */
export function rnnCell(config: RnnCellConfig): RnnCellLayer {
  checkOptions("nn.rnnCell", config, _RNNCELL_KEYS);
  const kind: Kind = (config.nonlinearity ?? "tanh") === "relu" ? "rnn_relu" : "rnn_tanh";
  return _makeCell(kind, config) as RnnCellLayer;
}

const _LSTMCELL_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "bias",
  "forgetBias",
]);

/**
 * An LSTM cell, PyTorch's `nn.LSTMCell` (Hochreiter & Schmidhuber 1997; CATALOG M20):
 *
 * i = σ(W_ii x + b_ii + W_hi h + b_hi), f = σ(W_if x + b_if + W_hf h + b_hf),
 * g = tanh(W_ig x + b_ig + W_hg h + b_hg), o = σ(W_io x + b_io + W_ho h + b_ho),
 * c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').
 *
 * The gate blocks are stacked in PyTorch's order **i, f, g, o** along the rows of `weight_ih`
 * [4H, I], `weight_hh` [4H, H], `bias_ih`, `bias_hh` [4H]; all start U(−1/√H, 1/√H).
 * Input f32[...batch, I]; `h`, `c` f32[...batch, H] (default zeros); returns `{ h, c }`.
 *
 * @param config `{ inputSize, hiddenSize, bias = true, forgetBias? }`.
 * @returns The cell.
 * @throws {TypeError} From `apply`, for a wrong input or state shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { lstmCell } from "@denax/denax/nn";
 *
 * const cell = lstmCell({ inputSize: 3, hiddenSize: 4 });
 * const p = cell.init(random.key(0));
 * const { h, c } = cell.apply(p, np.ones([2, 3]));
 * console.log(String(p.weight_ih), String(h), String(c)); // Tensor(f32[16,3]) Tensor(f32[2,4]) Tensor(f32[2,4])
 * if (`${p.weight_ih} ${h} ${c}` !== "Tensor(f32[16,3]) Tensor(f32[2,4]) Tensor(f32[2,4])") throw new Error(`got ${p.weight_ih} ${h} ${c}`);
 * ```
 */
export function lstmCell(config: GatedCellConfig): LstmCellLayer {
  checkOptions("nn.lstmCell", config, _LSTMCELL_KEYS);
  return _makeCell("lstm", config) as LstmCellLayer;
}

const _GRUCELL_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "bias",
  "forgetBias",
]);

/**
 * A GRU cell, PyTorch's `nn.GRUCell` (Cho et al. 2014; CATALOG M22):
 *
 * r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
 * n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
 *
 * Gate blocks in PyTorch's order **r, z, n** (`weight_ih` [3H, I], `weight_hh` [3H, H]). Note
 * the conventions: z weights the *old* state here (PyTorch), while S1 L458 and S2 L1706 write
 * h' = (1 − z) h + z h̃ (z weights the candidate) — the same family with z ↔ 1 − z; and r
 * multiplies the projected state W_hn h + b_hn (PyTorch/cuDNN), not h before projecting.
 *
 * @param config `{ inputSize, hiddenSize, bias = true }`.
 * @returns The cell.
 * @throws {TypeError} From `apply`, for a wrong input or state shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { gruCell } from "@denax/denax/nn";
 *
 * const cell = gruCell({ inputSize: 3, hiddenSize: 4 });
 * const h = cell.apply(cell.init(random.key(0)), np.ones([3]));
 * console.log(String(h)); // Tensor(f32[4])
 * if (String(h) !== "Tensor(f32[4])") throw new Error(`got ${h}`);
 * ```
 */
export function gruCell(config: GatedCellConfig): RnnCellLayer {
  checkOptions("nn.gruCell", config, _GRUCELL_KEYS);
  return _makeCell("gru", config) as RnnCellLayer;
}

const _PEEPHOLELSTMCELL_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "bias",
  "forgetBias",
]);

/**
 * A peephole LSTM cell (Gers & Schmidhuber 2000; CATALOG M21, S2 §14 L1654): the LSTM of
 * {@link lstmCell} whose gates also see the cell state through diagonal weights,
 *
 * i = σ(… + w_ci ⊙ c_{t−1}), f = σ(… + w_cf ⊙ c_{t−1}), c_t = f ⊙ c_{t−1} + i ⊙ g,
 * o = σ(… + w_co ⊙ c_t), h_t = o ⊙ tanh(c_t).
 *
 * Choices, documented: the output gate peeks at the *new* cell c_t (Gers & Schmidhuber; S2
 * L1654), whereas S1 L387 (CATALOG §0.2, "LSTM parametrisation") gives all three gates a
 * full matrix V on c_{t−1} and no biases; we follow the paper's diagonal (element-wise)
 * peepholes, as TensorFlow's `LSTMCell(use_peepholes=True)` and Keras' `PeepholeLSTMCell`. Params are an LSTM cell's plus
 * `weight_ci`, `weight_cf`, `weight_co` f32[H], all U(−1/√H, 1/√H) (PyTorch has no peephole
 * LSTM; the names extend its scheme).
 *
 * @param config `{ inputSize, hiddenSize, bias = true, forgetBias? }`.
 * @returns The cell.
 * @throws {TypeError} From `apply`, for a wrong input or state shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { peepholeLstmCell } from "@denax/denax/nn";
 *
 * const cell = peepholeLstmCell({ inputSize: 3, hiddenSize: 4 });
 * const p = cell.init(random.key(0));
 * const { h } = cell.apply(p, np.ones([2, 3]));
 * console.log(String(p.weight_co), String(h)); // Tensor(f32[4]) Tensor(f32[2,4])
 * if (`${p.weight_co} ${h}` !== "Tensor(f32[4]) Tensor(f32[2,4])") throw new Error(`got ${p.weight_co} ${h}`);
 * ```
 */
export function peepholeLstmCell(config: GatedCellConfig): LstmCellLayer<PeepholeLstmCellParams> {
  checkOptions("nn.peepholeLstmCell", config, _PEEPHOLELSTMCELL_KEYS);
  return _makeCell("peephole", config) as LstmCellLayer<PeepholeLstmCellParams>;
}

// ---------------------------------------------------------------- sequence layers

/** Config of {@link rnn}, {@link lstm}, {@link gru} and {@link peepholeLstm}. */
export interface RnnConfig {
  /** Size of the input features I. */
  inputSize: number;
  /** Size of the hidden state H. */
  hiddenSize: number;
  /** Number of stacked layers L (default 1). */
  numLayers?: number;
  /** Whether to learn biases (default true). */
  bias?: boolean;
  /** Inputs and outputs are [batch, seq, feature] instead of [seq, batch, feature] (default false). */
  batchFirst?: boolean;
  /** Dropout rate on the outputs of every layer but the last, in training (default 0). */
  dropout?: number;
  /** Run a second, backward direction per layer and concatenate (default false). */
  bidirectional?: boolean;
  /** {@link rnn} only: "tanh" (default) or "relu". */
  nonlinearity?: "tanh" | "relu";
  /** LSTMs only: initial forget-gate bias (see {@link GatedCellConfig.forgetBias}). */
  forgetBias?: number;
}

/** Options of a sequence layer's `apply`. */
export interface RnnApplyOptions extends ApplyOptions {
  /** Initial hidden state f32[L·D, batch, H] (f32[L·D, H] unbatched); zeros by default. */
  h0?: Tensor;
  /** LSTMs only: initial cell state, shaped like `h0`; zeros by default. */
  c0?: Tensor;
}

/** What a sequence layer returns (PyTorch's `output, h_n` / `output, (h_n, c_n)`). */
export interface RnnOutput {
  /** The last layer's hidden states at every step: f32[seq, batch, D·H] (batch-first: f32[batch, seq, D·H]). */
  output: Tensor;
  /** The final hidden state of every layer and direction: f32[L·D, batch, H]. */
  hN: Tensor;
}

/** What an LSTM sequence layer returns: {@link RnnOutput} plus the final cell states. */
export interface LstmOutput extends RnnOutput {
  /** f32[L·D, batch, H]. */
  cN: Tensor;
}

/** A sequence layer: `apply(params, x, { h0, c0, train, key }) → { output, hN, cN? }`. */
export interface RnnLayer<O extends RnnOutput = RnnOutput> extends Layer<RnnParams, Tensor, O> {
  /** Runs the whole sequence. */
  apply(params: RnnParams, x: Tensor, opts?: RnnApplyOptions): O;
}

/** Row `i` of the leading axis. */
function _row(x: Tensor, i: number): Tensor {
  return np.squeeze(np.slice(x, [i], [i + 1]), 0);
}

function _cellParams(kind: Kind, params: RnnParams, sfx: string, name: string): RnnCellParams {
  const get = (n: string): Tensor => {
    const t = params[n + sfx];
    if (t === undefined) throw new TypeError(`${name}: missing parameter ${n + sfx}`);
    return t;
  };
  const p: Record<string, Tensor> = { weight_ih: get("weight_ih"), weight_hh: get("weight_hh") };
  if (params["bias_ih" + sfx]) {
    p.bias_ih = get("bias_ih");
    p.bias_hh = get("bias_hh");
  }
  if (kind === "peephole") { for (const n of PEEP) p[n] = get(n); }
  return p as unknown as RnnCellParams;
}

/** The stacked (bi)directional scan shared by every sequence layer. */
function _runSequence(
  kind: Kind,
  cfg: Required<Omit<RnnConfig, "nonlinearity" | "forgetBias">>,
  name: string,
  params: RnnParams,
  x: Tensor,
  opts: RnnApplyOptions,
): LstmOutput {
  const { inputSize, hiddenSize: hs, numLayers, batchFirst, bidirectional } = cfg;
  const nd = bidirectional ? 2 : 1;
  if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[x.ndim - 1] !== inputSize) {
    const seqBatch = batchFirst ? "batch, seq" : "seq, batch";
    throw new TypeError(
      `${name} expects input [${seqBatch}, ${inputSize}] or [seq, ${inputSize}], got ${x.aval}`,
    );
  }
  const unbatched = x.ndim === 2;
  // internally time-major and batched: [T, B, I]
  let xs = _float(x);
  xs = unbatched ? np.expandDims(xs, 1) : batchFirst ? np.swapaxes(xs, 0, 1) : xs;
  const batch = xs.shape[1];
  const stateShape = unbatched ? [numLayers * nd, hs] : [numLayers * nd, batch, hs];
  const prepState = (s: Tensor | undefined, what: string): Tensor => {
    const t = _checkState(name, what, s, stateShape);
    return unbatched ? np.expandDims(t, 1) : t;
  };
  const lstmLike = hasCellState(kind);
  const h0 = prepState(opts.h0, "h0");
  const c0 = lstmLike ? prepState(opts.c0, "c0") : null;
  const drop = opts.train === true && cfg.dropout > 0 && numLayers > 1;
  if (drop && !opts.key) {
    throw new TypeError(
      `${name} needs a PRNG key for inter-layer dropout in training mode\n` +
        `help: pass apply(params, x, { train: true, key: random.key(seed) })`,
    );
  }
  let input = xs;
  const hN: Tensor[] = [], cN: Tensor[] = [];
  for (let l = 0; l < numLayers; l++) {
    if (l > 0 && drop) {
      // dropout on the previous layer's output, PyTorch's `dropout` argument
      const key = random.foldIn(opts.key!, l);
      input = dropout({ rate: cfg.dropout }).apply({}, input, { train: true, key });
    }
    const outs: Tensor[] = [];
    for (let d = 0; d < nd; d++) {
      const p = _cellParams(kind, params, _suffix(l, d), name);
      const gx = _inputProj(p, input); // [T, B, G·H]: one matmul for the whole sequence
      const whhT = np.transpose(p.weight_hh); // transposed once, outside the loop
      const i = l * nd + d;
      const init = c0 ? [_row(h0, i), _row(c0, i)] : [_row(h0, i)];
      const [carry, ys] = lax.scan(
        (c: Tensor[], g: Tensor): [Tensor[], Tensor] => {
          const next = _step(kind, p, c, g, whhT);
          return [next, next[0]];
        },
        init,
        gx,
        { reverse: d === 1 },
      );
      outs.push(ys);
      hN.push(carry[0]);
      if (c0) cN.push(carry[1]);
    }
    input = nd === 2 ? np.concatenate(outs, -1) : outs[0];
  }
  const fixState = (s: Tensor[]) => (unbatched ? np.squeeze(np.stack(s), 1) : np.stack(s));
  const output = unbatched ? np.squeeze(input, 1) : batchFirst ? np.swapaxes(input, 0, 1) : input;
  return lstmLike
    ? { output, hN: fixState(hN), cN: fixState(cN) }
    : { output, hN: fixState(hN) } as LstmOutput;
}

// deno-lint-ignore no-explicit-any -- sequence params differ by cell kind; the public constructors give the types
function _makeSequence(kind: Kind, config: RnnConfig): RnnLayer<any> {
  const cfg = {
    inputSize: config.inputSize,
    hiddenSize: config.hiddenSize,
    numLayers: config.numLayers ?? 1,
    bias: config.bias ?? true,
    batchFirst: config.batchFirst ?? false,
    dropout: config.dropout ?? 0,
    bidirectional: config.bidirectional ?? false,
  };
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) {
    throw new RangeError(`${TITLE[kind]}: dropout must be in [0, 1), got ${cfg.dropout}`);
  }
  if (!Number.isInteger(cfg.numLayers) || cfg.numLayers < 1) {
    throw new RangeError(
      `${TITLE[kind]}: numLayers must be a positive integer, got ${cfg.numLayers}`,
    );
  }
  const nd = cfg.bidirectional ? 2 : 1;
  const extras = [
    kind === "rnn_relu" ? "relu" : "",
    cfg.numLayers > 1 ? `numLayers=${cfg.numLayers}` : "",
    cfg.bidirectional ? "bidirectional" : "",
  ].filter((s) => s).map((s) => ", " + s).join("");
  const name = `${TITLE[kind]}(${cfg.inputSize} → ${cfg.hiddenSize}${extras})`;
  return {
    name,
    init(key: Tensor): RnnParams {
      const keys = _splitKeys(key, cfg.numLayers * nd);
      const params: RnnParams = {};
      for (let l = 0; l < cfg.numLayers; l++) {
        for (let d = 0; d < nd; d++) {
          const inSize = l === 0 ? cfg.inputSize : nd * cfg.hiddenSize;
          const cell = _initCell(
            kind,
            keys[l * nd + d],
            inSize,
            cfg.hiddenSize,
            cfg.bias,
            config.forgetBias,
          ) as unknown as Record<string, Tensor>;
          for (const [n, t] of Object.entries(cell)) params[n + _suffix(l, d)] = t;
        }
      }
      return params;
    },
    apply: (params: RnnParams, x: Tensor, opts: RnnApplyOptions = {}) =>
      _runSequence(kind, cfg, name, params, x, opts),
  };
}

const _RNN_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "numLayers",
  "bias",
  "batchFirst",
  "dropout",
  "bidirectional",
  "nonlinearity",
  "forgetBias",
]);

/**
 * A multi-layer Elman RNN over a sequence, PyTorch's `nn.RNN`: for each layer k and step t,
 * h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh) (CATALOG M17, M23, M24); layer k > 0 reads
 * layer k − 1's outputs (with dropout in training), and a bidirectional layer concatenates a
 * forward and a backward pass along the features.
 *
 * Input f32[seq, batch, I] (`batchFirst`: f32[batch, seq, I]; unbatched f32[seq, I] too).
 * Returns `{ output: f32[seq, batch, D·H], hN: f32[L·D, batch, H] }` (D = 2 if bidirectional;
 * hN rows ordered layer-major: l0, l0_reverse, l1, …). Params `weight_ih_l0` [H, I],
 * `weight_hh_l0` [H, H], `bias_ih_l0`, `bias_hh_l0` [H], `…_reverse`, `…_l1` with input size D·H.
 * Built on `lax.scan` (one scan per layer and direction).
 *
 * @param config `{ inputSize, hiddenSize, numLayers = 1, nonlinearity = "tanh", bias = true,
 *   batchFirst = false, dropout = 0, bidirectional = false }`.
 * @returns The layer.
 * @throws {RangeError} For a bad `dropout` or `numLayers`.
 * @throws {TypeError} From `apply`, for a wrong input or `h0` shape, or dropout in training
 *   without a key.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { rnn } from "@denax/denax/nn";
 *
 * const net = rnn({ inputSize: 3, hiddenSize: 5, numLayers: 2 });
 * const p = net.init(random.key(0)); // weight_ih_l0, weight_hh_l0, bias_ih_l0, …, bias_hh_l1
 * const { output, hN } = net.apply(p, np.ones([7, 2, 3]));
 * console.log(String(output), String(hN)); // Tensor(f32[7,2,5]) Tensor(f32[2,2,5])
 * if (`${output} ${hN}` !== "Tensor(f32[7,2,5]) Tensor(f32[2,2,5])") throw new Error(`got ${output} ${hN}`);
 * ```
 */
export function rnn(config: RnnConfig): RnnLayer {
  checkOptions("nn.rnn", config, _RNN_KEYS);
  return _makeSequence(
    (config.nonlinearity ?? "tanh") === "relu" ? "rnn_relu" : "rnn_tanh",
    config,
  );
}

const _LSTM_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "numLayers",
  "bias",
  "batchFirst",
  "dropout",
  "bidirectional",
  "forgetBias",
]);

/**
 * A multi-layer LSTM over a sequence, PyTorch's `nn.LSTM` (gate order i, f, g, o; see
 * {@link lstmCell} for the equations). Shapes and parameter names as {@link rnn} with G = 4:
 * `weight_ih_l0` [4H, I], `weight_hh_l0` [4H, H], `bias_ih_l0`, `bias_hh_l0` [4H]. Returns
 * `{ output, hN, cN }`; `c0` sets the initial cell state. (PyTorch's `proj_size` is not
 * supported.)
 *
 * @param config `{ inputSize, hiddenSize, numLayers = 1, bias = true, batchFirst = false,
 *   dropout = 0, bidirectional = false, forgetBias? }`.
 * @returns The layer.
 * @throws {RangeError} For a bad `dropout` or `numLayers`.
 * @throws {TypeError} From `apply`, for a wrong input or state shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { lstm } from "@denax/denax/nn";
 *
 * const net = lstm({ inputSize: 3, hiddenSize: 4, bidirectional: true, batchFirst: true });
 * const p = net.init(random.key(0));
 * const { output, hN, cN } = net.apply(p, np.ones([2, 6, 3]));
 * console.log(String(output), String(hN), String(cN)); // Tensor(f32[2,6,8]) Tensor(f32[2,2,4]) Tensor(f32[2,2,4])
 * if (`${output} ${hN} ${cN}` !== "Tensor(f32[2,6,8]) Tensor(f32[2,2,4]) Tensor(f32[2,2,4])") throw new Error(`got ${output} ${hN} ${cN}`);
 * ```
 */
export function lstm(config: Omit<RnnConfig, "nonlinearity">): RnnLayer<LstmOutput> {
  checkOptions("nn.lstm", config, _LSTM_KEYS);
  return _makeSequence("lstm", config) as RnnLayer<LstmOutput>;
}

const _GRU_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "numLayers",
  "bias",
  "batchFirst",
  "dropout",
  "bidirectional",
]);

/**
 * A multi-layer GRU over a sequence, PyTorch's `nn.GRU` (gate order r, z, n; see
 * {@link gruCell}). Shapes and parameter names as {@link rnn} with G = 3.
 *
 * @param config `{ inputSize, hiddenSize, numLayers = 1, bias = true, batchFirst = false,
 *   dropout = 0, bidirectional = false }`.
 * @returns The layer.
 * @throws {RangeError} For a bad `dropout` or `numLayers`.
 * @throws {TypeError} From `apply`, for a wrong input or `h0` shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { gru } from "@denax/denax/nn";
 *
 * const net = gru({ inputSize: 3, hiddenSize: 4 });
 * const { output, hN } = net.apply(net.init(random.key(0)), np.ones([5, 3]));
 * console.log(String(output), String(hN)); // Tensor(f32[5,4]) Tensor(f32[1,4])
 * if (`${output} ${hN}` !== "Tensor(f32[5,4]) Tensor(f32[1,4])") throw new Error(`got ${output} ${hN}`);
 * ```
 */
export function gru(config: Omit<RnnConfig, "nonlinearity" | "forgetBias">): RnnLayer {
  checkOptions("nn.gru", config, _GRU_KEYS);
  return _makeSequence("gru", config);
}

const _PEEPHOLELSTM_KEYS: ReadonlySet<string> = new Set([
  "inputSize",
  "hiddenSize",
  "numLayers",
  "bias",
  "batchFirst",
  "dropout",
  "bidirectional",
  "forgetBias",
]);

/**
 * A multi-layer peephole LSTM over a sequence (see {@link peepholeLstmCell} for the equations
 * and the documented choices). Parameters as {@link lstm} plus `weight_ci_l0`, `weight_cf_l0`,
 * `weight_co_l0` f32[H] per layer and direction.
 *
 * @param config As {@link lstm}.
 * @returns The layer.
 * @throws {RangeError} For a bad `dropout` or `numLayers`.
 * @throws {TypeError} From `apply`, for a wrong input or state shape.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { peepholeLstm } from "@denax/denax/nn";
 *
 * const net = peepholeLstm({ inputSize: 3, hiddenSize: 4 });
 * const p = net.init(random.key(0));
 * const { output, cN } = net.apply(p, np.ones([5, 2, 3]));
 * console.log(String(p.weight_cf_l0), String(output), String(cN)); // Tensor(f32[4]) Tensor(f32[5,2,4]) Tensor(f32[1,2,4])
 * if (`${p.weight_cf_l0} ${output} ${cN}` !== "Tensor(f32[4]) Tensor(f32[5,2,4]) Tensor(f32[1,2,4])") throw new Error(`got ${p.weight_cf_l0} ${output} ${cN}`);
 * ```
 */
export function peepholeLstm(config: Omit<RnnConfig, "nonlinearity">): RnnLayer<LstmOutput> {
  checkOptions("nn.peepholeLstm", config, _PEEPHOLELSTM_KEYS);
  return _makeSequence("peephole", config) as RnnLayer<LstmOutput>;
}
