/**
 * Private building blocks of the vision models (ResNet, GoogLeNet, DenseNet, ViT): a named
 * module whose parameter and state trees follow PyTorch's `state_dict` nesting, the input
 * check shared by the models, and a static walk of the downsampling layers that reports an
 * input too small for the network before any kernel runs.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { foldIn } from "../core/random.ts";
import type { Tensor } from "../core/tensor.ts";
import {
  type AnyLayer,
  type ApplyOptions,
  isStateful,
  type Params,
  type State,
  type StatefulLayer,
} from "../layers/layer.ts";
import { _splitKeys } from "../layers/_util.ts";

/** Applies a named child to `x` (its params, state, train flag and key are threaded). */
export type _Call = (child: string | number, x: Tensor) => Tensor;

/**
 * A module of named children (an object: PyTorch attribute names) or indexed children (an
 * array: `nn.Sequential`). Params hold every child's params under its name; the state holds
 * the state of every stateful child (objects omit stateless children, arrays keep `null` in
 * their place so indices stay PyTorch's). `forward(call, x, opts)` wires the children.
 */
export function _module(
  name: string,
  children: Readonly<Record<string, AnyLayer>> | readonly AnyLayer[],
  forward: (call: _Call, x: Tensor, opts: ApplyOptions) => Tensor,
): StatefulLayer<Params, State> {
  const isArr = Array.isArray(children);
  const entries: [string | number, AnyLayer][] = isArr
    ? (children as readonly AnyLayer[]).map((c, i) => [i, c])
    : Object.entries(children);
  const build = (f: (c: AnyLayer, i: number) => unknown, skipNull: boolean): Params => {
    if (isArr) return entries.map(([, c], i) => f(c, i));
    const out: Record<string, unknown> = {};
    entries.forEach(([k, c], i) => {
      const v = f(c, i);
      if (!(skipNull && v === null)) out[k as string] = v;
    });
    return out;
  };
  return {
    name,
    stateful: true,
    init(key: Tensor): Params {
      const ks = entries.length > 0 ? _splitKeys(key, entries.length) : [];
      return build((c, i) => c.init(ks[i]), false);
    },
    initState: (): State => build((c) => (isStateful(c) ? c.initState() : null), true),
    apply(params: Params, x: Tensor, opts: ApplyOptions = {}) {
      const state = opts.state;
      if (state === undefined || state === null) {
        throw new TypeError(
          `${name} needs its state (batch-norm running statistics)\n` +
            `help: pass apply(params, x, { state: model.initState() })`,
        );
      }
      const next: State = isArr ? [...state] : { ...state };
      const lookup = new Map(entries);
      let calls = 0, changed = false;
      const call: _Call = (k, xi) => {
        const c = lookup.get(k);
        if (c === undefined) throw new Error(`internal: ${name} has no child ${k}`);
        const key = opts.key && opts.train ? foldIn(opts.key, calls++) : undefined;
        if (!isStateful(c)) return c.apply(params[k], xi, { train: opts.train, key });
        const r = c.apply(params[k], xi, { train: opts.train, key, state: state[k] });
        if (r.state !== state[k]) changed = true;
        next[k] = r.state;
        return r.y;
      };
      const y = forward(call, x, opts);
      // evaluation hands the state back as it came (no child changed it)
      return { y, state: changed ? next : state };
    },
  };
}

/**
 * Checks a model's input `[N, C, H, W]` (or one example `[C, H, W]`) and runs `f` on the
 * batched form, restoring the unbatched form of the output.
 */
export function _batched<R extends { y: Tensor }>(
  model: string,
  x: Tensor,
  inChannels: number,
  f: (x4: Tensor) => R,
): R {
  if (!((x.ndim === 4 || x.ndim === 3) && x.shape[x.ndim - 3] === inChannels)) {
    throw new TypeError(
      `${model} expects input [N, ${inChannels}, H, W] (or [${inChannels}, H, W]), got ${x.aval}`,
    );
  }
  if (x.ndim === 4) return f(x);
  const r = f(np.expandDims(x, 0));
  return { ...r, y: np.squeeze(r.y, 0) };
}

/** One spatial step of a network: a conv or pool window along H and W. */
export interface _Down {
  /** The layer's state_dict path, e.g. `features.pool0`. */
  readonly path: string;
  /** Its description, e.g. `MaxPool2d(3, stride 2, ceil)`. */
  readonly what: string;
  /** Window size. */
  readonly k: number;
  /** Stride. */
  readonly s: number;
  /** Padding on both sides. */
  readonly p: number;
  /** Round up (pooling's `ceil_mode`). */
  readonly ceil?: boolean;
  /** Channels after the step (for messages). */
  readonly c: number;
}

/** PyTorch's output size of one step (pooling's ceil_mode rule included). */
function _out(n: number, d: _Down): number {
  const span = n + 2 * d.p - d.k;
  if (!d.ceil) return Math.floor(span / d.s) + 1;
  let o = Math.ceil(span / d.s) + 1;
  if ((o - 1) * d.s >= n + d.p) o--;
  return o;
}

/** Walks the steps from `size`; returns the index of the first step that fails, or -1. */
function _walk(size: number, steps: readonly _Down[]): [number, number] {
  let n = size;
  for (let i = 0; i < steps.length; i++) {
    if (_out(n, steps[i]) < 1) return [i, n];
    n = _out(n, steps[i]);
  }
  return [-1, n];
}

/**
 * Throws a TypeError naming the model, the first layer whose window does not fit and the
 * shapes, with the smallest input size that fits, when `[N, C, H, W]` is too small for the
 * network's chain of convolutions and poolings.
 */
export function _checkSpatial(model: string, x: Tensor, steps: readonly _Down[]): void {
  const [h, w] = x.shape.slice(-2);
  for (const [axis, n0] of [["H", h], ["W", w]] as const) {
    const [bad, n] = _walk(n0, steps);
    if (bad < 0) continue;
    let min = n0 + 1;
    while (_walk(min, steps)[0] >= 0) min++;
    const prevC = bad === 0 ? x.shape[x.ndim - 3] : steps[bad - 1].c;
    throw new TypeError(
      `${model}: input ${x.aval} is too small: ${steps[bad].path} (${steps[bad].what}) gets ` +
        `${axis} = ${n} (a [${prevC}, ${axis === "H" ? `${n}, …` : `…, ${n}`}] feature map) ` +
        `and cannot fit its window\nhelp: the input must be at least ${min}×${min} for this ` +
        `network`,
    );
  }
}

/** Concatenates branch outputs f32[N, Ci, H, W] along the channels. */
export function _catChannels(xs: readonly Tensor[]): Tensor {
  return np.concatenate(xs, 1);
}

/** Throws a RangeError naming the model when a size in its config is not a positive integer. */
export function _positive(model: string, what: string, v: unknown): number {
  if (!(typeof v === "number" && Number.isInteger(v) && v >= 1)) {
    throw new RangeError(`${model}: ${what} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}
