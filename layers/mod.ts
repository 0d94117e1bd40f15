/**
 * `nn`: the building blocks of the study notes as pure functions over parameter pytrees —
 * activations, initializers (`nn.init`), layers, losses (`nn.losses`) and metrics
 * (`nn.metrics`). PyTorch's layouts and `state_dict` names are kept so weights move across.
 *
 * @example
 * ```ts
 * import { init, nn, random, np } from "@denax/denax";
 * await init({ backend: "cpu" });
 * const net = nn.sequential([nn.linear({ inFeatures: 4, outFeatures: 8 }), nn.relu, nn.linear({ inFeatures: 8, outFeatures: 2 })]);
 * const params = net.init(random.key(0));
 * const logits = net.apply(params, np.ones([3, 4]));
 * console.log(String(logits)); // Tensor(f32[3,2])
 * if (String(logits) !== "Tensor(f32[3,2])") throw new Error(`got ${logits}`);
 * ```
 *
 * @module
 */
export * from "./layer.ts";
export * from "./activations.ts";
export * as init from "./init.ts";
export * as losses from "./losses.ts";
export * as metrics from "./metrics.ts";
export * from "./linear.ts";
export * from "./conv.ts";
export * from "./norm.ts";
export * from "./embedding.ts";
export * from "./combinators.ts";
export * from "./rnn.ts";
export * from "./attention.ts";
export * from "./transformer.ts";
export * from "./summary.ts";
