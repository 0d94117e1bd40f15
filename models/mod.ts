/**
 * `models`: the model families of the study notes, one namespace per family. Each family is a
 * pure `init`/`apply` pair over a parameter pytree, built from `nn` layers: a config type in,
 * a `Layer` out (`const net = models.mlp({ sizes: [784, 256, 10] })`), with a doc comment
 * giving its equations and source, and a test that trains it.
 *
 * Imported as `models` from the package root, or directly as `@denax/denax/models`.
 *
 * @module
 */
export * from "./resnet.ts";
export * from "./googlenet.ts";
export * from "./densenet.ts";
export * from "./vit.ts";
export * from "./linear_models.ts";
export * from "./cnn.ts";
export * from "./alexnet.ts";
export * from "./vgg.ts";
export * from "./nin.ts";
export * from "./autoencoder.ts";
export * from "./gan.ts";
export * from "./rnn_lm.ts";
export * from "./gpt.ts";
export * from "./generate.ts";
export * from "./transformer.ts";
export * from "./bert.ts";
export * from "./seq2seq.ts";
export * from "./pca.ts";
