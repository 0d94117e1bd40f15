/**
 * Layer combinators: `sequential` (a stack, PyTorch's `nn.Sequential`), `residual`
 * (`y = inner(x) + shortcut(x)`), `concat` (branches on the same input, outputs concatenated:
 * Inception blocks, DenseNet's dense blocks) and `parallel` (branches on the same input, the
 * outputs as a tuple). All accept layers, stateful layers, and plain functions `(x) => y`
 * (activations such as `relu`), which act as layers without parameters.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import {
  type AnyLayer,
  type ApplyOptions,
  isStateful,
  type Layer,
  type Params,
  type State,
  type StatefulLayer,
} from "./layer.ts";
import { _splitKeys } from "./_util.ts";
import { _observer } from "./_observe.ts";

/** A layer, or a plain function of one tensor (a layer without parameters). */
export type LayerLike = AnyLayer | ((x: Tensor) => Tensor);

/** `Layer` when no element of `L` is stateful, else `StatefulLayer`. */
export type CombinedLayer<L, P, S> = [Extract<L, { readonly stateful: true }>] extends [never]
  ? Layer<P>
  : StatefulLayer<P, S>;

/** The params type of a layer (`Record<string, never>` for a plain function). */
export type ParamsOf<L> = L extends StatefulLayer<infer P, unknown, never, unknown> ? P
  : L extends Layer<infer P, never, unknown> ? P
  : Record<string, never>;

/** The state type of a layer (`null` for a stateless layer or a plain function). */
export type StateOf<L> = L extends StatefulLayer<unknown, infer S, never, unknown> ? S : null;

/** The params of a tuple of layers: one entry per layer, as {@link sequential} takes them. */
export type ParamsTuple<L extends readonly unknown[]> = {
  -readonly [K in keyof L]: ParamsOf<L[K]>;
};

/** The state of a tuple of layers: one entry per layer (`null` for stateless ones). */
export type StateTuple<L extends readonly unknown[]> = { -readonly [K in keyof L]: StateOf<L[K]> };

function _asLayer(l: LayerLike): AnyLayer {
  if (typeof l !== "function") return l;
  return { name: l.name || "fn", init: () => ({}), apply: (_p: unknown, x: Tensor) => l(x) };
}

/** Applies one child with its own key and state; returns `[y, newState]`. */
function _applyChild(
  l: AnyLayer,
  params: Params,
  x: unknown,
  opts: ApplyOptions,
  key: Tensor | undefined,
  state: State,
  seg: string | number,
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
): [any, State] {
  const obs = _observer();
  obs?.enter(seg);
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
  let r: [any, State];
  if (isStateful(l)) {
    const o = l.apply(params, x, { train: opts.train, key, state });
    r = [o.y, o.state];
  } else {
    r = [l.apply(params, x, { train: opts.train, key }), null];
  }
  obs?.leave(l, params, r[0]);
  return r;
}

// ---------------------------------------------------------------- sequential

/**
 * A stack of layers applied in order, PyTorch's `nn.Sequential`: `y = f_n(… f_1(x))`.
 *
 * Params are an array, one entry per layer (`{}` for layers without parameters), so paths
 * read `[0].weight`, `[2].bias` — PyTorch's `0.weight`, `2.bias`. `init(key)` gives each
 * layer its own key (`random.split(key, n)`), and so does `apply` when a key is passed
 * (dropout in training).
 *
 * The stack is stateful when any layer is (batch norm): then `initState()` returns an array
 * (`null` for stateless layers) and `apply(params, x, { state, train })` returns
 * `{ y, state }`. Otherwise it is a plain `Layer` returning `y`.
 *
 * @param layers The layers, in order; plain functions (`relu`) act as parameterless layers.
 * @returns The combined layer.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { sequential } from "@denax/denax/nn";
 * import { linear } from "@denax/denax/nn";
 *
 * const mlp = sequential([
 *   linear({ inFeatures: 4, outFeatures: 8 }),
 *   (x) => np.maximum(x, 0),
 *   linear({ inFeatures: 8, outFeatures: 2 }),
 * ]);
 * const params = mlp.init(random.key(0)); // [{ weight, bias }, {}, { weight, bias }]
 * const y = mlp.apply(params, np.ones([3, 4]));
 * console.log(String(y)); // Tensor(f32[3,2])
 * if (String(y) !== "Tensor(f32[3,2])") throw new Error(`got ${y}`);
 * ```
 */
export function sequential<const L extends readonly LayerLike[]>(
  layers: L,
): CombinedLayer<L[number], ParamsTuple<L>, StateTuple<L>> {
  const ls = layers.map(_asLayer);
  const n = ls.length;
  const name = `Sequential(${ls.map((l) => l.name).join(" → ")})`;
  const init = (key: Tensor): Params[] => {
    const ks = n > 0 ? _splitKeys(key, n) : [];
    return ls.map((l, i) => l.init(ks[i]));
  };
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
  const run = (params: Params[], x: unknown, opts: ApplyOptions = {}): [any, State[]] => {
    if (!Array.isArray(params) || params.length !== n) {
      throw new TypeError(`${name} expects an array of ${n} parameter entries, got ${params}`);
    }
    const ks = opts.key && n > 0 ? _splitKeys(opts.key, n) : [];
    const states: State[] = [];
    let y = x;
    ls.forEach((l, i) => {
      const [yi, si] = _applyChild(l, params[i], y, opts, ks[i], opts.state?.[i], i);
      y = yi;
      states.push(si);
    });
    return [y, states];
  };
  if (!ls.some(isStateful)) {
    const layer: Layer<Params[]> = { name, init, apply: (p, x, o) => run(p, x, o)[0] };
    return layer as unknown as CombinedLayer<L[number], ParamsTuple<L>, StateTuple<L>>;
  }
  const layer: StatefulLayer<Params[], State[]> = {
    name,
    stateful: true,
    init,
    initState: () => ls.map((l) => (isStateful(l) ? l.initState() : null)),
    apply(p, x, o) {
      const [y, state] = run(p, x, o);
      return { y, state };
    },
  };
  return layer as unknown as CombinedLayer<L[number], ParamsTuple<L>, StateTuple<L>>;
}

// ---------------------------------------------------------------- residual

/** Parameters of {@link residual}. */
export interface ResidualParams<I = Params, S = Params> {
  /** The inner (main) branch's parameters. */
  inner: I;
  /** The shortcut's parameters (`{}` for the identity shortcut). */
  shortcut: S;
}

/** State of a stateful {@link residual}: each branch's state (`null` when stateless). */
export interface ResidualState<I = State, S = State> {
  /** The inner branch's state. */
  inner: I;
  /** The shortcut's state. */
  shortcut: S;
}

/**
 * A residual connection (He et al. 2016): `y = inner(x) + shortcut(x)`, with the identity as
 * the default shortcut (pass e.g. a 1×1 `conv2d` to project when shapes change, as ResNet's
 * `downsample`).
 *
 * Params `{ inner, shortcut }`; with a stateful branch the layer is stateful with state
 * `{ inner, shortcut }` (`null` for a stateless branch). Keys are split between the branches.
 *
 * @param inner The main branch.
 * @param shortcut The skip branch (default: identity).
 * @returns The combined layer.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { residual } from "@denax/denax/nn";
 * import { linear } from "@denax/denax/nn";
 *
 * const block = residual(linear({ inFeatures: 4, outFeatures: 4 }));
 * const params = block.init(random.key(0)); // { inner: { weight, bias }, shortcut: {} }
 * const y = block.apply(params, np.ones([2, 4]));
 * console.log(String(y)); // Tensor(f32[2,4])
 * if (String(y) !== "Tensor(f32[2,4])") throw new Error(`got ${y}`);
 * ```
 */
export function residual<I extends LayerLike, S extends LayerLike = Layer<Record<string, never>>>(
  inner: I,
  shortcut?: S,
): CombinedLayer<
  I | S,
  ResidualParams<ParamsOf<I>, ParamsOf<S>>,
  ResidualState<StateOf<I>, StateOf<S>>
> {
  const li = _asLayer(inner);
  const ls = _asLayer(shortcut ?? ((x: Tensor) => x));
  const name = `Residual(${li.name}${shortcut ? ` + ${ls.name}` : ""})`;
  const init = (key: Tensor): ResidualParams => {
    const [ki, ks] = _splitKeys(key, 2);
    return { inner: li.init(ki), shortcut: ls.init(ks) };
  };
  const run = (p: ResidualParams, x: Tensor, opts: ApplyOptions = {}): [Tensor, ResidualState] => {
    const [ki, ks] = opts.key ? _splitKeys(opts.key, 2) : [undefined, undefined];
    const [a, sa] = _applyChild(li, p.inner, x, opts, ki, opts.state?.inner, "inner");
    const [b, sb] = _applyChild(ls, p.shortcut, x, opts, ks, opts.state?.shortcut, "shortcut");
    if (!(a as Tensor).aval.equals((b as Tensor).aval)) {
      throw new TypeError(
        `${name}: the branches' outputs differ: ${(a as Tensor).aval} vs ${(b as Tensor).aval}` +
          `\nhelp: pass a shortcut layer that projects x to the inner branch's output shape`,
      );
    }
    return [(a as Tensor).add(b), { inner: sa, shortcut: sb }];
  };
  if (!isStateful(li) && !isStateful(ls)) {
    const layer: Layer<ResidualParams> = { name, init, apply: (p, x, o) => run(p, x, o)[0] };
    return layer as unknown as CombinedLayer<
      I | S,
      ResidualParams<ParamsOf<I>, ParamsOf<S>>,
      ResidualState<StateOf<I>, StateOf<S>>
    >;
  }
  const layer: StatefulLayer<ResidualParams, ResidualState> = {
    name,
    stateful: true,
    init,
    initState: () => ({
      inner: isStateful(li) ? li.initState() : null,
      shortcut: isStateful(ls) ? ls.initState() : null,
    }),
    apply(p, x, o) {
      const [y, state] = run(p, x, o);
      return { y, state };
    },
  };
  return layer as unknown as CombinedLayer<
    I | S,
    ResidualParams<ParamsOf<I>, ParamsOf<S>>,
    ResidualState<StateOf<I>, StateOf<S>>
  >;
}

// ---------------------------------------------------------------- parallel and concat

/** Applies every branch to the same input; returns the outputs and the branches' states. */
function _branches(
  name: string,
  ls: AnyLayer[],
  params: Params[],
  x: unknown,
  opts: ApplyOptions,
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
): [any[], State[]] {
  const n = ls.length;
  if (!Array.isArray(params) || params.length !== n) {
    throw new TypeError(`${name} expects an array of ${n} parameter entries, got ${params}`);
  }
  const ks = opts.key && n > 0 ? _splitKeys(opts.key, n) : [];
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
  const ys: any[] = [], states: State[] = [];
  ls.forEach((l, i) => {
    const [y, s] = _applyChild(l, params[i], x, opts, ks[i], opts.state?.[i], i);
    ys.push(y);
    states.push(s);
  });
  return [ys, states];
}

/** A layer (stateful when a branch is) from a function of the branches' outputs. */
function _multiBranch<Out>(
  name: string,
  branches: readonly LayerLike[],
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
  combine: (ys: any[]) => Out,
): AnyLayer {
  const ls = branches.map(_asLayer);
  if (ls.length === 0) throw new RangeError(`${name}: needs at least one branch`);
  const init = (key: Tensor): Params[] => {
    const ks = _splitKeys(key, ls.length);
    return ls.map((l, i) => l.init(ks[i]));
  };
  const run = (p: Params[], x: unknown, o: ApplyOptions = {}): [Out, State[]] => {
    const [ys, states] = _branches(name, ls, p, x, o);
    return [combine(ys), states];
  };
  if (!ls.some(isStateful)) {
    // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
    const layer: Layer<Params[], any, Out> = { name, init, apply: (p, x, o) => run(p, x, o)[0] };
    return layer;
  }
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
  const layer: StatefulLayer<Params[], State[], any, Out> = {
    name,
    stateful: true,
    init,
    initState: () => ls.map((l) => (isStateful(l) ? l.initState() : null)),
    apply(p, x, o) {
      const [y, state] = run(p, x, o);
      return { y, state };
    },
  };
  return layer;
}

/**
 * Branches applied to the same input, their outputs returned as an array (a tuple):
 * `[f_1(x), …, f_n(x)]` — the fork of a multi-branch block, for combinations other than
 * concatenation (sums with weights, multiple heads).
 *
 * Params and state are arrays with one entry per branch, as {@link sequential}'s (`{}` and
 * `null` for branches without them); the layer is stateful when a branch is. Each branch gets
 * its own key.
 *
 * @param branches The branches; plain functions act as parameterless branches.
 * @returns The combined layer, `apply(params, x) → [y_1, …, y_n]`.
 * @throws {RangeError} Without branches.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { parallel } from "@denax/denax/nn";
 * import { linear } from "@denax/denax/nn";
 *
 * const heads = parallel([linear({ inFeatures: 4, outFeatures: 2 }), (x) => x.sum({ axis: 1 })]);
 * const [a, b] = heads.apply(heads.init(random.key(0)), np.ones([3, 4]));
 * console.log(String(a), String(b)); // Tensor(f32[3,2]) Tensor(f32[3])
 * if (`${a} ${b}` !== "Tensor(f32[3,2]) Tensor(f32[3])") throw new Error(`got ${a} ${b}`);
 * ```
 */
export function parallel<const L extends readonly LayerLike[]>(
  branches: L,
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
): CombinedLayerOut<L[number], ParamsTuple<L>, StateTuple<L>, any[]> {
  const ls = branches.map(_asLayer);
  const name = `Parallel(${ls.map((l) => l.name).join(" | ")})`;
  return _multiBranch(name, branches, (ys) => ys) as CombinedLayerOut<
    L[number],
    ParamsTuple<L>,
    StateTuple<L>,
    // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
    any[]
  >;
}

/** `Layer` (or `StatefulLayer`) of {@link CombinedLayer} with output type `Out`. */
export type CombinedLayerOut<L, P, S, Out> = [Extract<L, { readonly stateful: true }>] extends
  [never] ? Layer<P, Tensor, Out>
  : StatefulLayer<P, S, Tensor, Out>;

/** Options of {@link concat}. */
export interface ConcatOptions {
  /** The axis the outputs are concatenated on (default 1: channels of NCHW; negative counts from the end). */
  axis?: number;
}

/**
 * Branches applied to the same input, their outputs concatenated along `axis`:
 * `concatenate([f_1(x), …, f_n(x)], axis)` — GoogLeNet's Inception block (four branches,
 * channels joined: `torch.cat(outputs, dim=1)`), and with the identity as a branch DenseNet's
 * `cat([x, conv_block(x)], 1)`.
 *
 * Params and state are arrays with one entry per branch (`{}` / `null` for branches without
 * them), so paths read `[0][1].weight` as PyTorch's `b1.1.weight` in a sequential branch; the
 * layer is stateful (batch norm inside a branch) when any branch is. Each branch gets its own
 * key for `init` and `apply`.
 *
 * @param branches The branches; plain functions (`(x) => x`) act as parameterless branches.
 * @param opts `{ axis = 1 }`.
 * @returns The combined layer.
 * @throws {RangeError} Without branches; from `apply`, for an axis out of range.
 * @throws {TypeError} From `apply`, when the outputs differ in rank or in a dimension other
 *   than `axis` (the message lists every branch's output).
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { concat } from "@denax/denax/nn";
 * import { conv2d } from "@denax/denax/nn";
 *
 * const block = concat([
 *   conv2d({ inChannels: 3, outChannels: 4, kernelSize: 1 }),
 *   conv2d({ inChannels: 3, outChannels: 2, kernelSize: 3, padding: 1 }),
 *   (x) => x,
 * ]);
 * const y = block.apply(block.init(random.key(0)), np.ones([2, 3, 8, 8]));
 * console.log(String(y)); // Tensor(f32[2,9,8,8])
 * if (String(y) !== "Tensor(f32[2,9,8,8])") throw new Error(`got ${y}`);
 * ```
 */
export function concat<const L extends readonly LayerLike[]>(
  branches: L,
  opts: ConcatOptions = {},
): CombinedLayer<L[number], ParamsTuple<L>, StateTuple<L>> {
  const axis = opts.axis ?? 1;
  const ls = branches.map(_asLayer);
  const name = `Concat(${ls.map((l) => l.name).join(" | ")}${axis === 1 ? "" : `, axis=${axis}`})`;
  // deno-lint-ignore no-explicit-any -- children are heterogeneous: each output has its child's own type, the public signatures give the tuple
  const combine = (ys: any[]): Tensor => {
    const ts = ys as Tensor[];
    const nd = ts[0].ndim;
    if (!Number.isInteger(axis) || axis < -nd || axis >= nd) {
      throw new RangeError(`${name}: axis ${axis} is out of range for outputs ${ts[0].aval}`);
    }
    const a = axis < 0 ? axis + nd : axis;
    const fits = ts.every((t) =>
      t.ndim === nd && t.shape.every((d, i) => i === a || d === ts[0].shape[i])
    );
    if (!fits) {
      throw new TypeError(
        `${name}: the branches' outputs must agree except on axis ${axis}, got ` +
          ts.map((t, i) => `[${i}] ${t.aval}`).join(", "),
      );
    }
    return ts.length === 1 ? ts[0] : np.concatenate(ts, a);
  };
  return _multiBranch(name, branches, combine) as CombinedLayer<
    L[number],
    ParamsTuple<L>,
    StateTuple<L>
  >;
}
