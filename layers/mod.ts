/**
 * `nn`: the building blocks of the study notes as pure functions over parameter pytrees —
 * activations, initializers (`nn.init`), layers, losses (`nn.losses`) and metrics
 * (`nn.metrics`). PyTorch's layouts and `state_dict` names are kept so weights move across.
 *
 * @example
 * ```ts
 * import { init, nn, random, np } from "../mod.ts";
 * await init({ backend: "cpu" });
 * const net = nn.sequential([nn.linear({ inFeatures: 4, outFeatures: 8 }), nn.relu, nn.linear({ inFeatures: 8, outFeatures: 2 })]);
 * const params = net.init(random.key(0));
 * const logits = net.apply(params, np.ones([3, 4]));
 * console.log(String(logits)); // Tensor(f32[3,2])
 * ```
 *
 * @module
 */
export * from "./layer.ts";
export {
  elu,
  gelu,
  type GeluOptions,
  hardTanh,
  type HardTanhOptions,
  heaviside,
  identity,
  leakyRelu,
  logSigmoid,
  logSoftmax,
  oneHot,
  type OneHotOptions,
  prelu,
  relu,
  selu,
  sigmoid,
  type SigmoidOptions,
  silu,
  softmax,
  softplus,
  type SoftplusOptions,
  softsign,
  step,
  type StepOptions,
  stochasticBinary,
  type StochasticBinaryOptions,
  swish,
  tanh,
} from "./activations.ts";
export * as init from "./init.ts";
export * as losses from "./losses.ts";
export * as metrics from "./metrics.ts";
export {
  dropout,
  type DropoutConfig,
  flatten,
  type FlattenConfig,
  identity as identityLayer,
  linear,
  type LinearConfig,
  type LinearParams,
  type NoParams,
} from "./linear.ts";
export * from "./conv.ts";
export * from "./norm.ts";
export * from "./embedding.ts";
export * from "./combinators.ts";
export * from "./rnn.ts";
export * from "./attention.ts";
export * from "./transformer.ts";
