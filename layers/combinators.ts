/**
 * Layer combinators: `sequential` (a stack, PyTorch's `nn.Sequential`) and `residual`
 * (`y = inner(x) + shortcut(x)`). Both accept layers, stateful layers, and plain functions
 * `(x) => y` (activations such as `relu`), which act as layers without parameters.
 *
 * @module
 */
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
import { _splitKeys } from "./linear.ts";

/** A layer, or a plain function of one tensor (a layer without parameters). */
export type LayerLike = AnyLayer | ((x: Tensor) => Tensor);

/** `Layer` when no element of `L` is stateful, else `StatefulLayer`. */
export type CombinedLayer<L, P, S> = [Extract<L, { readonly stateful: true }>] extends [never]
  ? Layer<P>
  : StatefulLayer<P, S>;

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
): [any, State] {
  if (isStateful(l)) {
    const r = l.apply(params, x, { train: opts.train, key, state });
    return [r.y, r.state];
  }
  return [l.apply(params, x, { train: opts.train, key }), null];
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
 * import { np, random } from "../mod.ts";
 * import { sequential } from "./combinators.ts";
 * import { linear } from "./linear.ts";
 *
 * const mlp = sequential([
 *   linear({ inFeatures: 4, outFeatures: 8 }),
 *   (x) => np.maximum(x, 0),
 *   linear({ inFeatures: 8, outFeatures: 2 }),
 * ]);
 * const params = mlp.init(random.key(0)); // [{ weight, bias }, {}, { weight, bias }]
 * console.log(String(mlp.apply(params, np.ones([3, 4])))); // Tensor(f32[3,2])
 * ```
 */
export function sequential<const L extends readonly LayerLike[]>(
  layers: L,
): CombinedLayer<L[number], Params[], State[]> {
  const ls = layers.map(_asLayer);
  const n = ls.length;
  const name = `Sequential(${ls.map((l) => l.name).join(" → ")})`;
  const init = (key: Tensor): Params[] => {
    const ks = n > 0 ? _splitKeys(key, n) : [];
    return ls.map((l, i) => l.init(ks[i]));
  };
  const run = (params: Params[], x: unknown, opts: ApplyOptions = {}): [any, State[]] => {
    if (!Array.isArray(params) || params.length !== n) {
      throw new TypeError(`${name} expects an array of ${n} parameter entries, got ${params}`);
    }
    const ks = opts.key && n > 0 ? _splitKeys(opts.key, n) : [];
    const states: State[] = [];
    let y = x;
    ls.forEach((l, i) => {
      const [yi, si] = _applyChild(l, params[i], y, opts, ks[i], opts.state?.[i]);
      y = yi;
      states.push(si);
    });
    return [y, states];
  };
  if (!ls.some(isStateful)) {
    const layer: Layer<Params[]> = { name, init, apply: (p, x, o) => run(p, x, o)[0] };
    return layer as CombinedLayer<L[number], Params[], State[]>;
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
  return layer as CombinedLayer<L[number], Params[], State[]>;
}

// ---------------------------------------------------------------- residual

/** Parameters of {@link residual}. */
export interface ResidualParams {
  /** The inner (main) branch's parameters. */
  inner: Params;
  /** The shortcut's parameters (`{}` for the identity shortcut). */
  shortcut: Params;
}

/** State of a stateful {@link residual}: each branch's state (`null` when stateless). */
export interface ResidualState {
  /** The inner branch's state. */
  inner: State;
  /** The shortcut's state. */
  shortcut: State;
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
 * import { np, random } from "../mod.ts";
 * import { residual } from "./combinators.ts";
 * import { linear } from "./linear.ts";
 *
 * const block = residual(linear({ inFeatures: 4, outFeatures: 4 }));
 * const params = block.init(random.key(0)); // { inner: { weight, bias }, shortcut: {} }
 * console.log(String(block.apply(params, np.ones([2, 4])))); // Tensor(f32[2,4])
 * ```
 */
export function residual<I extends LayerLike, S extends LayerLike = Layer<Record<string, never>>>(
  inner: I,
  shortcut?: S,
): CombinedLayer<I | S, ResidualParams, ResidualState> {
  const li = _asLayer(inner);
  const ls = _asLayer(shortcut ?? ((x: Tensor) => x));
  const name = `Residual(${li.name}${shortcut ? ` + ${ls.name}` : ""})`;
  const init = (key: Tensor): ResidualParams => {
    const [ki, ks] = _splitKeys(key, 2);
    return { inner: li.init(ki), shortcut: ls.init(ks) };
  };
  const run = (p: ResidualParams, x: Tensor, opts: ApplyOptions = {}): [Tensor, ResidualState] => {
    const [ki, ks] = opts.key ? _splitKeys(opts.key, 2) : [undefined, undefined];
    const [a, sa] = _applyChild(li, p.inner, x, opts, ki, opts.state?.inner);
    const [b, sb] = _applyChild(ls, p.shortcut, x, opts, ks, opts.state?.shortcut);
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
    return layer as CombinedLayer<I | S, ResidualParams, ResidualState>;
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
  return layer as CombinedLayer<I | S, ResidualParams, ResidualState>;
}
