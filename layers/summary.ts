/**
 * Model inspection: {@link paramCount} (the number of scalars in a parameter pytree,
 * PyTorch's `sum(p.numel() for p in net.parameters())`) and {@link summary} (a table of a
 * layer tree — every nested layer's path, name, output shape and parameter count — as
 * PyTorch's `print(net)` with torchsummary's shapes, or Keras' `model.summary()`).
 *
 * The summary traces the layer on an abstract input (`makeJaxpr`), so it computes nothing and
 * is cheap even for 224×224 inputs.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { Tensor } from "../core/tensor.ts";
import { makeJaxpr } from "../core/transforms.ts";
import * as tree from "../core/tree.ts";
import type { DType } from "../core/dtype.ts";
import { _observeChildren } from "./_observe.ts";
import { type AnyLayer, isStateful, type Params, type State } from "./layer.ts";

const isTensor = (x: unknown): boolean => x instanceof Tensor;

/**
 * The number of parameters: the total size of the Tensor leaves of a pytree.
 *
 * @param params A parameter pytree (nested objects/arrays of Tensors).
 * @returns The sum of the leaves' sizes (0 for a tree without Tensors).
 * @example
 * ```ts
 * import { random } from "@denax/denax";
 * import { linear } from "@denax/denax/nn";
 * import { paramCount } from "@denax/denax/nn";
 * import { assertEquals } from "@std/assert";
 * const fc = linear({ inFeatures: 784, outFeatures: 256 });
 * assertEquals(paramCount(fc.init(random.key(0))), 200960); // 784·256 + 256
 * ```
 */
export function paramCount(params: Params): number {
  return tree.leaves(params, isTensor).reduce(
    (n: number, l) => n + (l instanceof Tensor ? l.size : 0),
    0,
  );
}

/** One row of a {@link summary}: a layer applied inside the tree. */
export interface SummaryRow {
  /** Dotted path of the layer in the parameter tree (`"0"`, `"2.inner.1"`, …), `""` for the root. */
  readonly path: string;
  /** Nesting depth (0 for the root). */
  readonly depth: number;
  /** The layer's name, e.g. `"Linear(784 → 256)"`. */
  readonly name: string;
  /** The output's type, e.g. `"f32[1,256]"` (several, comma-separated, for tuple outputs). */
  readonly output: string;
  /** The number of parameters of the layer, its children's included. */
  readonly params: number;
}

/** Options of {@link summary} and {@link summaryRows}. */
export interface SummaryOptions {
  /** The input's shape, e.g. `[1, 1, 28, 28]`. */
  readonly inputShape: readonly number[];
  /** The input's dtype (default `"f32"`; `"i32"` for token ids). */
  readonly dtype?: DType;
  /** The layer's state (stateful layers; default `layer.initState()`). */
  readonly state?: State;
  /** Show layers nested at most this deep (default: all; 1 lists the top level only). */
  readonly maxDepth?: number;
}

function outType(y: unknown): string {
  const ls = tree.leaves(y, isTensor);
  return ls.map((l) => (l instanceof Tensor ? String(l.aval) : typeof l)).join(", ");
}

/**
 * The rows of {@link summary}: the root layer and every layer a combinator (`sequential`,
 * `residual`, `concat`, `parallel`) applies inside it, in the order they run, with their
 * output types on an input of `inputShape` (evaluation mode).
 *
 * @param layer The layer or model.
 * @param params Its parameters.
 * @param opts `inputShape`, `dtype`, `state`, `maxDepth`.
 * @returns The rows, the root first.
 * @throws {TypeError} When the layer does not accept the input (its own message).
 * @example
 * ```ts
 * import { np, random } from "@denax/denax";
 * import { sequential } from "@denax/denax/nn";
 * import { linear } from "@denax/denax/nn";
 * import { summaryRows } from "@denax/denax/nn";
 * import { assertEquals } from "@std/assert";
 * const net = sequential([linear({ inFeatures: 4, outFeatures: 8 }), (x) => np.maximum(x, 0)]);
 * const rows = summaryRows(net, net.init(random.key(0)), { inputShape: [2, 4] });
 * assertEquals(rows.map((r) => [r.path, r.output, r.params]), [
 *   ["", "f32[2,8]", 40], ["0", "f32[2,8]", 40], ["1", "f32[2,8]", 0],
 * ]);
 * ```
 */
export function summaryRows(layer: AnyLayer, params: Params, opts: SummaryOptions): SummaryRow[] {
  const rows: {
    path: string;
    depth: number;
    name: string;
    output: string;
    params: number;
  }[] = [];
  const stack: (string | number)[] = [];
  const open: number[] = [];
  const maxDepth = opts.maxDepth ?? Infinity;
  const observer = {
    enter(seg: string | number) {
      stack.push(seg);
      rows.push({ path: stack.join("."), depth: stack.length, name: "", output: "", params: 0 });
      open.push(rows.length - 1);
    },
    leave(l: AnyLayer, p: Params, y: unknown) {
      const row = rows[open.pop()!];
      row.name = l.name;
      row.output = outType(y);
      row.params = paramCount(p);
      stack.pop();
    },
  };
  const state = opts.state ?? (isStateful(layer) ? layer.initState() : null);
  let rootOut = "";
  const x = np.zeros(opts.inputShape, opts.dtype ?? "f32");
  makeJaxpr((p: Params, s: State, xt: Tensor) =>
    _observeChildren(observer, () => {
      const y = isStateful(layer)
        ? layer.apply(p, xt, { state: s, train: false }).y
        : layer.apply(p, xt, { train: false });
      rootOut = outType(y);
      return tree.leaves(y, isTensor) as Tensor[];
    })
  )(params, state, x);
  const root = {
    path: "",
    depth: 0,
    name: layer.name,
    output: rootOut,
    params: paramCount(params),
  };
  return [root, ...rows.filter((r) => r.depth <= maxDepth)];
}

function group(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A printable table of a layer tree, PyTorch's `print(net)` with output shapes
 * (torchsummary) or Keras' `model.summary()`: one line per layer — its path in the parameter
 * tree (indented by depth), its name, its output type on an input of `inputShape` and its
 * number of parameters (children included) — then the total parameter count. The layer is
 * traced abstractly (`makeJaxpr`), in evaluation mode; nothing is computed.
 *
 * @param layer The layer or model (`nn.sequential`, …).
 * @param params Its parameters.
 * @param opts `inputShape` (e.g. `[1, 1, 28, 28]`), `dtype`, `state`, `maxDepth`.
 * @returns The table, lines joined with `\n`.
 * @throws {TypeError} When the layer does not accept the input (its own message).
 * @example
 * ```ts
 * import { nn, random } from "@denax/denax";
 * import { summary } from "@denax/denax/nn";
 * import { assert } from "@std/assert";
 * const net = nn.sequential([nn.flatten(), nn.linear({ inFeatures: 784, outFeatures: 256 }),
 *   nn.relu, nn.linear({ inFeatures: 256, outFeatures: 10 })]);
 * const table = summary(net, net.init(random.key(0)), { inputShape: [1, 1, 28, 28] });
 * console.log(table);
 * assert(table.includes("Total params: 203,530"));
 * ```
 */
export function summary(layer: AnyLayer, params: Params, opts: SummaryOptions): string {
  const rows = summaryRows(layer, params, opts);
  const cells = rows.map((r) => [
    r.depth === 0 ? "(root)" : `${"  ".repeat(r.depth - 1)}${r.path}`,
    r.name,
    r.output,
    group(r.params),
  ]);
  const head = ["Layer (path)", "Name", "Output", "Params"];
  const maxName = 48;
  const clip = (s: string) => (s.length > maxName ? `${s.slice(0, maxName - 1)}…` : s);
  const all = [head, ...cells].map((c) => [c[0], clip(c[1]), c[2], c[3]]);
  const widths = head.map((_, j) => Math.max(...all.map((c) => c[j].length)));
  const line = (c: string[]) =>
    c.map((v, j) => (j === 3 ? v.padStart(widths[j]) : v.padEnd(widths[j]))).join("  ")
      .trimEnd();
  const rule = "─".repeat(widths.reduce((a, w) => a + w, 0) + 6);
  const dtype = opts.dtype ?? "f32";
  return [
    line(all[0]),
    rule,
    ...all.slice(1).map(line),
    rule,
    `Total params: ${group(rows[0].params)}`,
    `Input: ${dtype}[${opts.inputShape.join(",")}]  Output: ${rows[0].output}`,
  ].join("\n");
}
