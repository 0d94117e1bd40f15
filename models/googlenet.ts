/**
 * GoogLeNet / Inception v1 (Szegedy et al. 2015, "Going Deeper with Convolutions"; CATALOG
 * M12: Inception blocks of parallel 1×1, 3×3, 5×5 convolutions and pooling whose outputs are
 * concatenated, 1×1 convs reducing the channels before the larger ones; seed S4 §8.4, S2 §12),
 * in torchvision's structure: `googlenet().init` has exactly the keys and shapes of
 * `torchvision.models.googlenet(aux_logits=False, transform_input=False).state_dict()`.
 *
 * | layer         | output (224 input) | 1×1 | 3×3 reduce | 3×3 | 5×5 reduce | 5×5 | pool proj |
 * | ------------- | ------------------ | --- | ---------- | --- | ---------- | --- | --------- |
 * | conv1         | 64×112×112         | 7×7/2 conv                                             |
 * | maxpool1      | 64×56×56           | 3×3/2 max (ceil)                                       |
 * | conv2, conv3  | 192×56×56          | 1×1 conv 64; 3×3 conv 192                              |
 * | maxpool2      | 192×28×28          | 3×3/2 max (ceil)                                       |
 * | inception3a   | 256×28×28          | 64  | 96         | 128 | 16         | 32  | 32        |
 * | inception3b   | 480×28×28          | 128 | 128        | 192 | 32         | 96  | 64        |
 * | maxpool3      | 480×14×14          | 3×3/2 max (ceil)                                       |
 * | inception4a   | 512×14×14          | 192 | 96         | 208 | 16         | 48  | 64        |
 * | inception4b   | 512×14×14          | 160 | 112        | 224 | 24         | 64  | 64        |
 * | inception4c   | 512×14×14          | 128 | 128        | 256 | 24         | 64  | 64        |
 * | inception4d   | 528×14×14          | 112 | 144        | 288 | 32         | 64  | 64        |
 * | inception4e   | 832×14×14          | 256 | 160        | 320 | 32         | 128 | 128       |
 * | maxpool4      | 832×7×7            | 2×2/2 max (ceil)                                       |
 * | inception5a   | 832×7×7            | 256 | 160        | 320 | 32         | 128 | 128       |
 * | inception5b   | 1024×7×7           | 384 | 192        | 384 | 48         | 128 | 128       |
 * | head          | classes            | adaptive avg pool 1×1, dropout 0.2, `fc`               |
 *
 * Every conv is torchvision's `BasicConv2d`: conv without bias, BN (ε = 0.001), ReLU. As in
 * torchvision, the "5×5" branch uses a 3×3 kernel (pytorch/vision#906), and the auxiliary
 * classifiers (training-only in the paper) are left out, as `aux_logits=False`.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import type { Tensor } from "../core/tensor.ts";
import { relu } from "../layers/activations.ts";
import { adaptiveAvgPool2d, conv2d, maxPool2d } from "../layers/conv.ts";
import { truncatedNormal } from "../layers/init.ts";
import type { AnyLayer, Params, State, StatefulLayer } from "../layers/layer.ts";
import { dropout, linear } from "../layers/linear.ts";
import { batchNorm2d } from "../layers/norm.ts";
import {
  _batched,
  _catChannels,
  _checkSpatial,
  type _Down,
  _module,
  _positive,
} from "./_blocks.ts";

/** Config of {@link googlenet}. */
export interface GoogLeNetConfig {
  /** Output classes (default 1000). */
  numClasses?: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** Divide every width of the table by this (default 1; 8 gives a small test network). */
  widthDivisor?: number;
  /** Dropout before `fc` in training (default 0.2). */
  dropout?: number;
  /**
   * `"torchvision"` (default): BasicConv2d (conv + BN + ReLU), a 3×3 "5×5" branch, 3×3/2
   * ceil-mode pools and a 2×2 maxpool4. `"d2l"`: d2l's GoogLeNet (§8.4): biased convs + ReLU
   * without BN, true 5×5 convs, 3×3/2 pools with padding 1, no dropout.
   */
  variant?: "torchvision" | "d2l";
  /** The model's name in errors. */
  name?: string;
}

/** The Inception table: [name, in, 1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5, pool proj]. */
const TABLE:
  readonly (readonly [string, number, number, number, number, number, number, number])[] = [
    ["inception3a", 192, 64, 96, 128, 16, 32, 32],
    ["inception3b", 256, 128, 128, 192, 32, 96, 64],
    ["inception4a", 480, 192, 96, 208, 16, 48, 64],
    ["inception4b", 512, 160, 112, 224, 24, 64, 64],
    ["inception4c", 512, 128, 128, 256, 24, 64, 64],
    ["inception4d", 512, 112, 144, 288, 32, 64, 64],
    ["inception4e", 528, 256, 160, 320, 32, 128, 128],
    ["inception5a", 832, 256, 160, 320, 32, 128, 128],
    ["inception5b", 832, 384, 192, 384, 48, 128, 128],
  ];

// torchvision: trunc_normal_(std=0.01, a=-2, b=2) for every conv and linear weight
const wInit = truncatedNormal({ std: 0.01, a: -2, b: 2 });

/** torchvision's BasicConv2d (`{ conv, bn }`), or d2l's conv + ReLU (`{ conv }` with bias). */
function _basicConv(
  path: string,
  d2l: boolean,
  cin: number,
  cout: number,
  k: number,
  s = 1,
  p = 0,
): AnyLayer {
  const conv = conv2d({
    inChannels: cin,
    outChannels: cout,
    kernelSize: k,
    stride: s,
    padding: p,
    bias: d2l,
    weightInit: d2l ? undefined : wInit,
  });
  if (d2l) return _module(path, { conv }, (call, x) => relu(call("conv", x)));
  const bn = batchNorm2d({ numFeatures: cout, eps: 0.001 });
  return _module(path, { conv, bn }, (call, x) => relu(call("bn", call("conv", x))));
}

function _inception(path: string, d2l: boolean, ch: readonly number[]): [AnyLayer, number] {
  const [cin, c1, c3r, c3, c5r, c5, cp] = ch;
  const k5 = d2l ? 5 : 3;
  const seq = (p: string, ls: AnyLayer[]) =>
    _module(p, ls, (call, x) => ls.reduce((y, _, i) => call(i, y), x));
  const pool = maxPool2d({ kernelSize: 3, stride: 1, padding: 1, ceilMode: !d2l });
  const children = {
    branch1: _basicConv(`${path}.branch1`, d2l, cin, c1, 1),
    branch2: seq(`${path}.branch2`, [
      _basicConv(`${path}.branch2.0`, d2l, cin, c3r, 1),
      _basicConv(`${path}.branch2.1`, d2l, c3r, c3, 3, 1, 1),
    ]),
    branch3: seq(`${path}.branch3`, [
      _basicConv(`${path}.branch3.0`, d2l, cin, c5r, 1),
      _basicConv(`${path}.branch3.1`, d2l, c5r, c5, k5, 1, (k5 - 1) / 2),
    ]),
    branch4: seq(`${path}.branch4`, [pool, _basicConv(`${path}.branch4.1`, d2l, cin, cp, 1)]),
  };
  const layer = _module(
    path,
    children,
    (call, x) =>
      _catChannels([
        call("branch1", x),
        call("branch2", x),
        call("branch3", x),
        call("branch4", x),
      ]),
  );
  return [layer, c1 + c3 + c5 + cp];
}

/**
 * GoogLeNet (Szegedy et al. 2015) in torchvision's structure (see the module doc for the
 * table), or d2l's variant. Input f32[N, C, H, W] (or [C, H, W]); output f32[N, numClasses].
 * The five stride-2 stages need an input of at least 15×15 (torchvision variant; torchvision
 * fails below it too); a smaller one is a TypeError naming the model, the layer and the shapes.
 *
 * Params and state use torchvision's names: `conv1.conv.weight`, `conv1.bn.running_mean`,
 * `inception3a.branch2[1].conv.weight` (`branch2.1.conv.weight`), `inception3a.branch4[1]…`
 * (index 0 is the pool), `fc.weight`. Init as torchvision: truncated normal (σ = 0.01)
 * conv and fc weights, BN weight 1 and bias 0.
 *
 * @param config `{ numClasses = 1000, inChannels = 3, widthDivisor = 1, dropout = 0.2,
 *   variant = "torchvision", name }`.
 * @returns A stateful layer: `apply(params, x, { state, train, key }) → { y, state }`
 *   (training with dropout needs `key`).
 * @throws {RangeError} For a malformed config (a divisor that does not divide every width).
 * @throws {TypeError} From `apply`, for a wrong input shape or an input too small.
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { googlenet } from "@denax/denax/models";
 *
 * const net = googlenet({ widthDivisor: 8, inChannels: 1, numClasses: 10 });
 * const { y } = net.apply(net.init(random.key(0)), np.ones([2, 1, 32, 32]),
 *   { state: net.initState() });
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function googlenet(config: GoogLeNetConfig = {}): StatefulLayer<Params, State> {
  const d2l = config.variant === "d2l";
  if (config.variant !== undefined && config.variant !== "torchvision" && !d2l) {
    throw new RangeError(
      `googlenet: variant must be "torchvision" or "d2l", got ${JSON.stringify(config.variant)}`,
    );
  }
  const model = config.name ?? (d2l ? "d2lGoogLeNet" : "googlenet");
  const div = _positive(model, "widthDivisor", config.widthDivisor ?? 1);
  const inC = _positive(model, "inChannels", config.inChannels ?? 3);
  const classes = _positive(model, "numClasses", config.numClasses ?? 1000);
  const rate = d2l ? 0 : config.dropout ?? 0.2;
  if (!(rate >= 0 && rate < 1)) throw new RangeError(`${model}: dropout must be in [0, 1)`);
  const w = (c: number): number => {
    if (c % div !== 0) {
      throw new RangeError(
        `${model}: widthDivisor ${div} must divide every width of the table, and not ${c}\n` +
          `help: 1, 2, 4 or 8 divide them all`,
      );
    }
    return c / div;
  };
  const children: Record<string, AnyLayer> = {
    conv1: _basicConv(`${model}.conv1`, d2l, inC, w(64), 7, 2, 3),
    conv2: _basicConv(`${model}.conv2`, d2l, w(64), w(64), 1),
    conv3: _basicConv(`${model}.conv3`, d2l, w(64), w(192), 3, 1, 1),
  };
  let c = 0;
  for (const [nm, ...ch] of TABLE) {
    const [layer, out] = _inception(`${model}.${nm}`, d2l, ch.map(w));
    children[nm] = layer;
    c = out;
  }
  children.fc = linear({
    inFeatures: c,
    outFeatures: classes,
    weightInit: d2l ? undefined : wInit,
  });
  const pool = (k: number) =>
    d2l
      ? maxPool2d({ kernelSize: 3, stride: 2, padding: 1 })
      : maxPool2d({ kernelSize: k, stride: 2, ceilMode: true });
  const [p1, p2, p3, p4] = [pool(3), pool(3), pool(3), pool(2)];
  const step = (i: number, cc: number, k: number): _Down =>
    d2l
      ? { path: `maxpool${i}`, what: "MaxPool2d 3×3, stride 2, padding 1", k: 3, s: 2, p: 1, c: cc }
      : {
        path: `maxpool${i}`,
        what: `MaxPool2d ${k}×${k}, stride 2, ceil`,
        k,
        s: 2,
        p: 0,
        ceil: true,
        c: cc,
      };
  const steps: _Down[] = [
    { path: "conv1.conv", what: "Conv2d 7×7, stride 2, padding 3", k: 7, s: 2, p: 3, c: w(64) },
    step(1, w(64), 3),
    step(2, w(192), 3),
    step(3, w(480), 3),
    step(4, w(832), 2),
  ];
  const drop = dropout({ rate });
  const avg = adaptiveAvgPool2d({ outputSize: 1 });
  const net = _module(model, children, (call, x, opts) => {
    _checkSpatial(model, x, steps);
    let y = p1.apply({}, call("conv1", x));
    y = p2.apply({}, call("conv3", call("conv2", y)));
    y = p3.apply({}, call("inception3b", call("inception3a", y)));
    for (const nm of ["inception4a", "inception4b", "inception4c", "inception4d", "inception4e"]) {
      y = call(nm, y);
    }
    y = call("inception5b", call("inception5a", p4.apply({}, y)));
    y = np.reshape(avg.apply({}, y), [y.shape[0], c]);
    return call("fc", drop.apply({}, y, opts));
  });
  return {
    ...net,
    apply: (params, x, opts = {}) =>
      _batched(model, x, inC, (x4: Tensor) => net.apply(params, x4, opts)),
  };
}

/**
 * d2l's GoogLeNet for Fashion-MNIST (Dive into Deep Learning §8.4; seed S4 §8.4): the same
 * Inception table with biased convs and ReLU but no batch norm, true 5×5 convolutions, 3×3/2
 * max pools with padding 1, no dropout; one input channel and 10 classes (d2l trains it on
 * 96×96 resized images). `googlenet({ variant: "d2l", … })`.
 *
 * @param opts overrides, e.g. `{ widthDivisor: 8 }` for a narrow net.
 * @returns A stateful layer (its state is empty: no batch norm).
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { d2lGoogLeNet } from "@denax/denax/models";
 *
 * const net = d2lGoogLeNet({ widthDivisor: 8 });
 * const { y } = net.apply(net.init(random.key(0)), np.ones([2, 1, 32, 32]),
 *   { state: net.initState() });
 * console.log(String(y)); // Tensor(f32[2,10])
 * if (String(y) !== "Tensor(f32[2,10])") throw new Error(`got ${y}`);
 * ```
 */
export function d2lGoogLeNet(
  opts: Omit<GoogLeNetConfig, "variant"> = {},
): StatefulLayer<Params, State> {
  return googlenet({ inChannels: 1, numClasses: 10, ...opts, variant: "d2l" });
}
