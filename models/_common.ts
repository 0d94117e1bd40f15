/**
 * Shared pieces of the classic model files (`cnn.ts`, `alexnet.ts`, `vgg.ts`, `nin.ts`,
 * `autoencoder.ts`, `gan.ts`): the image-shape type, activations by name, a combinator whose
 * parameters are a record of named stages (torchvision's `features` / `classifier`), a wrapper
 * that checks a model's input first, and a static shape walk through convolutions and poolings
 * that turns "input too small" and "channels do not divide" into errors naming the model, the
 * layer and the shapes.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { leakyRelu, relu, sigmoid, tanh } from "../layers/activations.ts";
import type { LayerLike } from "../layers/combinators.ts";
import {
  type AnyLayer,
  type ApplyOptions,
  isStateful,
  type Layer,
  type Params,
  type State,
  type StatefulLayer,
} from "../layers/layer.ts";
import { _splitKeys } from "../layers/_util.ts";

/** An image shape `[channels, height, width]` (PyTorch's NCHW without the batch). */
export type ImageShape = readonly [channels: number, height: number, width: number];

/** An activation by name, or any function of one tensor. */
export type Activation =
  | "relu"
  | "sigmoid"
  | "tanh"
  | "leakyRelu"
  | "identity"
  | ((x: Tensor) => Tensor);

/** @internal The function of an {@link Activation}. */
export function _act(a: Activation): (x: Tensor) => Tensor {
  if (typeof a === "function") return a;
  switch (a) {
    case "relu":
      return relu;
    case "sigmoid":
      return (x: Tensor) => sigmoid(x);
    case "tanh":
      return tanh;
    case "leakyRelu":
      return (x: Tensor) => leakyRelu(x, 0.2);
    case "identity":
      return (x: Tensor) => x;
  }
  throw new RangeError(`unknown activation ${JSON.stringify(a)}`);
}

/** @internal Checks a config's `[C, H, W]` (positive integers). */
export function _checkImageShape(model: string, s: ImageShape | undefined): ImageShape {
  if (
    !Array.isArray(s) || s.length !== 3 || !s.every((d) => Number.isInteger(d) && d >= 1)
  ) {
    throw new RangeError(
      `${model}: inputShape must be [channels, height, width] (positive integers), got ${
        JSON.stringify(s)
      }`,
    );
  }
  return s;
}

/** @internal Checks a positive integer config field. */
export function _checkPositive(model: string, name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 1)) {
    throw new RangeError(`${model}: ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

// ---------------------------------------------------------------- named stages

/**
 * @internal A record of named stages applied in order (an `nn.Module` with attributes
 * `features`, `avgpool`, `classifier`): params and state are records keyed by stage name, so
 * checkpoint keys read `features.0.weight`. Stateful when any stage is.
 */
export function _named(
  name: string,
  stages: readonly (readonly [string, LayerLike])[],
): AnyLayer {
  const ls = stages.map(([n, l]): [string, AnyLayer] => [
    n,
    typeof l === "function" ? { name: n, init: () => ({}), apply: (_p, x) => l(x) } : l,
  ]);
  const init = (key: Tensor): Params => {
    const ks = _splitKeys(key, ls.length);
    return Object.fromEntries(ls.map(([n, l], i) => [n, l.init(ks[i])]));
  };
  const run = (p: Params, x: Tensor, opts: ApplyOptions = {}): [Tensor, State] => {
    const ks = opts.key ? _splitKeys(opts.key, ls.length) : [];
    const st: Record<string, State> = {};
    let y = x;
    ls.forEach(([n, l], i) => {
      if (isStateful(l)) {
        const r = l.apply(p[n], y, { train: opts.train, key: ks[i], state: opts.state?.[n] });
        y = r.y;
        st[n] = r.state;
      } else {
        y = l.apply(p[n], y, { train: opts.train, key: ks[i] });
        st[n] = null;
      }
    });
    return [y, st];
  };
  if (!ls.some(([, l]) => isStateful(l))) {
    const layer: Layer = { name, init, apply: (p, x, o) => run(p, x, o)[0] };
    return layer;
  }
  const layer: StatefulLayer = {
    name,
    stateful: true,
    init,
    initState: () =>
      Object.fromEntries(ls.map(([n, l]) => [n, isStateful(l) ? l.initState() : null])),
    apply(p, x, o) {
      const [y, state] = run(p, x, o);
      return { y, state };
    },
  };
  return layer;
}

/** @internal `inner` renamed, with `check(x)` run before every `apply`; keeps statefulness. */
export function _checked<L extends AnyLayer>(
  name: string,
  inner: L,
  check: (x: Tensor) => void,
): L {
  if (isStateful(inner)) {
    const l: StatefulLayer = {
      name,
      stateful: true,
      init: (k) => inner.init(k),
      initState: () => inner.initState(),
      apply(p, x, o) {
        check(x);
        return inner.apply(p, x, o);
      },
    };
    return l as L;
  }
  const l: Layer = {
    name,
    init: (k) => inner.init(k),
    apply(p, x, o) {
      check(x);
      return inner.apply(p, x, o);
    },
  };
  return l as L;
}

// ---------------------------------------------------------------- static shape walk

/** @internal One spatial stage of a network, for {@link _walk}. */
export type _Op =
  | {
    kind: "conv" | "convT";
    path: string;
    out: number;
    k: number;
    s?: number;
    p?: number;
    op?: number;
    groups?: number;
  }
  | { kind: "pool"; path: string; k: number; s?: number; p?: number }
  | { kind: "adaptive"; path: string; out: number };

const _fmt = (s: readonly number[]): string => `[${s.join(", ")}]`;

function _opName(o: _Op): string {
  if (o.kind === "adaptive") return `AdaptiveAvgPool2d(${o.out})`;
  const sp = `kernel ${o.k}, stride ${o.s ?? (o.kind === "pool" ? o.k : 1)}, padding ${o.p ?? 0}`;
  if (o.kind === "pool") return `Pool2d(${sp})`;
  return `${o.kind === "conv" ? "Conv2d" : "ConvTranspose2d"}(→ ${o.out}, ${sp})`;
}

/**
 * @internal Walks `[C, H, W]` through the stages with PyTorch's size formulas; returns the
 * final `[C, H, W]`. Throws `err` (RangeError for configs, TypeError for inputs) naming the
 * model, the stage (its checkpoint path and kind), the feature map it receives and the network
 * input, when a stage would give an empty output or its groups do not divide the channels.
 */
export function _walk(
  model: string,
  ops: readonly _Op[],
  input: ImageShape,
  err: "config" | "input",
): [number, number, number] {
  let [c, h, w] = input;
  const fail = (o: _Op, why: string): never => {
    const msg = `${model}: layer ${o.path} ${_opName(o)} ${why} (feature map ${
      _fmt([c, h, w])
    } at that layer, network input ${_fmt(input)})`;
    throw err === "config"
      ? new RangeError(`${msg}\nhelp: use a larger inputShape or fewer downsampling stages`)
      : new TypeError(msg);
  };
  for (const o of ops) {
    if (o.kind === "adaptive") {
      h = o.out, w = o.out;
      continue;
    }
    const s = o.s ?? (o.kind === "pool" ? o.k : 1), p = o.p ?? 0;
    const size = (n: number) =>
      o.kind === "convT"
        ? (n - 1) * s - 2 * p + o.k + (o.op ?? 0)
        : Math.floor((n + 2 * p - o.k) / s) + 1;
    const [oh, ow] = [size(h), size(w)];
    if (o.kind !== "pool") {
      const g = o.groups ?? 1;
      if (c % g !== 0 || o.out % g !== 0) {
        fail(o, `has groups = ${g}, which must divide its ${c} input and ${o.out} output channels`);
      }
    }
    if (oh < 1 || ow < 1) fail(o, `would give an empty ${oh}×${ow} output`);
    if (o.kind !== "pool") c = o.out;
    h = oh, w = ow;
  }
  return [c, h, w];
}

/**
 * @internal The input check of an image model: `x` is `[..., C, H, W]` with the configured C,
 * and the spatial size passes {@link _walk}; with `fixed`, H and W must equal the configured
 * ones (a dense head sized for them).
 */
export function _imageCheck(
  model: string,
  ops: readonly _Op[],
  shape: ImageShape,
  fixed: boolean,
): (x: Tensor) => void {
  return (x: Tensor) => {
    const [c, h, w] = x.shape.slice(-3);
    if (x.ndim < 3 || c !== shape[0] || (fixed && (h !== shape[1] || w !== shape[2]))) {
      throw new TypeError(
        `${model} expects input [..., ${shape[0]}, ${fixed ? shape[1] : "H"}, ${
          fixed ? shape[2] : "W"
        }] (inputShape ${_fmt(shape)}), got ${x.aval}`,
      );
    }
    if (!fixed) _walk(model, ops, [c, h, w], "input");
  };
}

/** @internal Reshapes f32[..., a, b, c] → f32[..., a·b·c] (the trailing `n` dims flattened). */
export function _flattenTrailing(n: number): (x: Tensor) => Tensor {
  return (x: Tensor) => {
    const lead = x.shape.slice(0, x.ndim - n);
    return np.reshape(x, [...lead, x.shape.slice(x.ndim - n).reduce((a, b) => a * b, 1)]);
  };
}
