// The doc examples of the converted files check what they show (tools/doc_examples.ts): a
// print-only example there (one that cannot fail on a wrong value) fails this test.
import { assert, assertEquals } from "@std/assert";
import {
  ALLOWED,
  asserts,
  type DocExample,
  examplesOf,
  publishedFiles,
  unexcused,
} from "../tools/doc_examples.ts";

/** The files whose examples all assert (or are in ALLOWED); widen as files are converted. */
const CONVERTED: readonly string[] = [
  "mod.ts",
  ...[
    "aval",
    "backend",
    "checks",
    "custom",
    "dtype",
    "env",
    "errors",
    "init",
    "jaxpr",
    "jit_prim",
    "lax",
    "lax_control",
    "lax_conv",
    "linalg",
    "numpy",
    "numpy_base",
    "numpy_extra",
    "primitive",
    "random",
    "tensor",
    "threefry",
    "transforms",
    "tree",
    "validate",
  ].map((f) => `core/${f}.ts`),
  ...[
    "conv",
    "convert",
    "cumulative",
    "decomp",
    "decomp_spectral",
    "elementwise",
    "host",
    "indexing",
    "linalg",
    "names",
    "reduce",
    "sort",
    "structural",
    "threefry_prim",
    "window",
  ].map((f) => `core/prims/${f}.ts`),
  "gpu/lowerings.ts",
  "gpu/target.ts",
  ...[
    "compile",
    "exec",
    "expr",
    "fusion",
    "gemm_fused",
    "graph",
    "kernels",
    "mod",
    "plan",
    "program",
  ].map((f) => `gpu/jit/${f}.ts`),
  ...[
    "common",
    "conv",
    "cumulative",
    "dot",
    "elementwise",
    "gather",
    "gemm",
    "gemm_texture",
    "linalg",
    "linalg_jacobi",
    "math",
    "movement",
    "random",
    "reduce",
    "sort",
    "window",
  ].map((f) => `gpu/kernels/${f}.ts`),
  ...[
    "activations",
    "attention",
    "combinators",
    "conv",
    "embedding",
    "init",
    "linear",
    "losses",
    "metrics",
    "mod",
    "norm",
    "rnn",
    "summary",
    "transformer",
  ].map((f) => `layers/${f}.ts`),
  ...[
    "alexnet",
    "autoencoder",
    "bert",
    "cnn",
    "densenet",
    "gan",
    "generate",
    "googlenet",
    "gpt",
    "linear_models",
    "nin",
    "pca",
    "resnet",
    "rnn_lm",
    "seq2seq",
    "transformer",
    "vgg",
    "vit",
  ].map((f) => `models/${f}.ts`),
  ...["adam", "mod", "optimizers", "scale_by", "schedules", "wrappers"].map((f) => `optim/${f}.ts`),
  ...[
    "batches",
    "bpe",
    "checkpoint_error",
    "either",
    "fashion_mnist",
    "idx",
    "mod",
    "safetensors",
    "synthetic",
    "text",
    "vocab",
  ].map((f) => `data/${f}.ts`),
];

const where = (e: DocExample) => `${e.file}:${e.line} (${e.symbol})`;
const published = publishedFiles(); // runs `deno info` once per deno.json export

Deno.test("every doc example of the converted files asserts what it shows", () => {
  const missing = CONVERTED.filter((f) => !published.includes(f));
  assertEquals(missing, [], "converted files that deno.json exports do not reach");
  const examples = CONVERTED.flatMap((f) => examplesOf(f));
  assert(examples.length > 250, `only ${examples.length} examples found: is the parser broken?`);
  const bad = unexcused(examples).map(where);
  assertEquals(bad, [], "print-only doc examples (add a check that throws, see issue 12)");
});

Deno.test("every entry of the allow-list names a print-only example that exists", () => {
  const all = published.flatMap((f) => examplesOf(f));
  for (const key of Object.keys(ALLOWED)) {
    const hit = all.filter((e) => `${e.file}#${e.symbol}` === key);
    assert(hit.length > 0, `ALLOWED lists ${key}, which has no doc example`);
    assert(hit.some((e) => !e.asserts), `ALLOWED lists ${key}, whose examples all assert`);
  }
});

Deno.test("an example asserts when its code throws or calls assert, not when it only prints", () => {
  assert(!asserts("console.log(await y.item()); // 6"));
  assert(!asserts('console.log("throw"); // throw in a string or a comment does not count'));
  assert(!asserts("const x = f(); /* throw */"));
  assert(asserts('if (await y.item() !== 6) throw new Error("expected 6");'));
  assert(asserts("assertEquals(a, b);"));
  assert(asserts("console.log(`${a}`);\nif (a !== b) {\n  throw new Error(`got ${a}`);\n}"));
});
