/**
 * `train`: the jitted train step (loss, gradient, optimizer update in one program with the
 * parameters and optimizer state donated), evaluation, the `fit` loop with a progress bar and
 * early stopping, training curves as SVG, and safetensors checkpoints with PyTorch-style keys.
 *
 * @example
 * ```ts
 * import { nn, optim, random } from "@denax/denax";
 * import { twoMoons } from "@denax/denax/data";
 * import { fit, save } from "@denax/denax/train";
 * const net = nn.sequential([
 *   nn.linear({ inFeatures: 2, outFeatures: 16 }),
 *   nn.relu,
 *   nn.linear({ inFeatures: 16, outFeatures: 2 }),
 * ]);
 * const { crossEntropy } = nn.losses, { accuracy } = nn.metrics;
 * const ds = twoMoons(random.key(0), { n: 256 });
 * const loss = (p: any, b: any) => crossEntropy(net.apply(p, b.x), b.y);
 * const { params, history } = await fit({
 *   params: net.init(random.key(1)), optimizer: optim.adam({ lr: 0.01 }), loss,
 *   trainData: ds, epochs: 20, batchSize: 32, key: random.key(2), progress: false,
 *   metrics: { accuracy: (p: any, b: any) => accuracy(net.apply(p, b.x), b.y) },
 * });
 * console.log(history.train_accuracy.at(-1)); // ≈ 0.9 or better
 * const dir = await Deno.makeTempDir();
 * await save(`${dir}/moons.safetensors`, params); // keys 0.bias, 0.weight, 2.bias, 2.weight
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
export * from "./step.ts";
export * from "./fit.ts";
export * from "./progress.ts";
export * from "./svg.ts";
export * from "./checkpoint.ts";
export * from "./torch.ts";
