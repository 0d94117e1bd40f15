/**
 * `train`: the jitted train step (loss, gradient, optimizer update in one program with the
 * parameters, optimizer state and model state donated), evaluation, the `fit` loop with a
 * progress bar and early stopping, training curves as SVG, and safetensors checkpoints with
 * PyTorch-style keys.
 *
 * Stateful models (batch norm) are trained as Equinox and Flax do: the model state (running
 * statistics) goes into every step and comes back updated — `makeTrainStep(loss, opt,
 * { stateful: true })`, or `fit({ model, loss, ... })`, which returns `{ params, state }` —
 * and evaluation (`evaluate(model, params, state, data)`) applies the model with
 * `train: false`, using the running statistics.
 *
 * @example
 * ```ts
 * import { nn, optim, random } from "@denax/denax";
 * import { twoMoons } from "@denax/denax/data";
 * import { fit, load, save } from "@denax/denax/train";
 * const net = nn.sequential([
 *   nn.linear({ inFeatures: 2, outFeatures: 16 }),
 *   nn.relu,
 *   nn.linear({ inFeatures: 16, outFeatures: 2 }),
 * ]);
 * const { crossEntropy } = nn.losses, { accuracy } = nn.metrics;
 * const ds = twoMoons(random.key(0), { n: 256 });
 * type P = ReturnType<typeof net.init>;
 * type B = typeof ds;
 * const loss = (p: P, b: B) => crossEntropy(net.apply(p, b.x), b.y);
 * const { params, history } = await fit({
 *   params: net.init(random.key(1)), optimizer: optim.adam({ lr: 0.01 }), loss,
 *   trainData: ds, epochs: 20, batchSize: 32, key: random.key(2), progress: false,
 *   metrics: { accuracy: (p: P, b: B) => accuracy(net.apply(p, b.x), b.y) },
 * });
 * const acc = history.train_accuracy.at(-1)!;
 * console.log(acc); // ≈ 0.9 or better
 * if (!(acc > 0.8)) throw new Error(`train accuracy ${acc}`);
 * const dir = await Deno.makeTempDir();
 * await save(`${dir}/moons.safetensors`, params); // keys 0.bias, 0.weight, 2.bias, 2.weight
 * const back = await load(`${dir}/moons.safetensors`);
 * await Deno.remove(dir, { recursive: true });
 * if (back._tag === "Left") throw back.left;
 * const keys = Object.keys(back.right).sort().join();
 * if (keys !== "0,2") throw new Error(`saved ${keys}`);
 * ```
 *
 * @example Keras-style: a model with batch norm, its state carried through training
 * ```ts
 * import { nn, optim, random } from "@denax/denax";
 * import { twoMoons } from "@denax/denax/data";
 * import { evaluate, fit } from "@denax/denax/train";
 * const net = nn.sequential([
 *   nn.linear({ inFeatures: 2, outFeatures: 16 }),
 *   nn.batchNorm1d({ numFeatures: 16 }),
 *   nn.relu,
 *   nn.linear({ inFeatures: 16, outFeatures: 2 }),
 * ]);
 * const ds = twoMoons(random.key(0), { n: 256 });
 * const { params, state } = await fit({
 *   model: net, loss: nn.losses.crossEntropy, metrics: { accuracy: nn.metrics.accuracy },
 *   optimizer: optim.adam({ lr: 0.01 }), trainData: ds, epochs: 10, batchSize: 32,
 *   key: random.key(1), progress: false,
 * });
 * const { accuracy } = await evaluate(net, params, state, ds);
 * console.log(accuracy); // ≈ 0.9
 * if (!(accuracy > 0.8)) throw new Error(`accuracy ${accuracy}`);
 * ```
 *
 * @module
 */
export * from "./step.ts";
export * from "./evaluate.ts";
export * from "./fit.ts";
export * from "./progress.ts";
export * from "./svg.ts";
export * from "./checkpoint.ts";
export * from "./torch.ts";
