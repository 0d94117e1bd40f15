/**
 * Loading PyTorch weights: {@link loadTorchStateDict} turns a flat `state_dict`
 * (`{ "layer1.0.conv1.weight": Tensor, … }`, or a safetensors file of one) into the
 * `{ params, state }` trees of a denax model whose names follow PyTorch's (the `models` zoo,
 * `nn.sequential` stacks, every `nn` layer).
 *
 * Exporting from PyTorch, with the `safetensors` package:
 *
 * ```python
 * from safetensors.torch import save_file
 * save_file(model.state_dict(), "resnet18.safetensors")
 * ```
 *
 * Without it (Debian's python3-torch does not ship it), with this repository's writer, which
 * needs only torch, json and struct:
 *
 * ```python
 * import sys; sys.path.insert(0, "tools"); from torch_to_safetensors import save_safetensors
 * save_safetensors(model.state_dict(), "resnet18.safetensors")
 * ```
 *
 * or from a shell, for a file written by `torch.save(model.state_dict(), "resnet18.pt")`:
 * `python3 tools/torch_to_safetensors.py resnet18.pt resnet18.safetensors`.
 *
 * @module
 */
import * as np from "../core/numpy.ts";
import { ShapedArray } from "../core/aval.ts";
import { key as prngKey } from "../core/random.ts";
import { Tensor } from "../core/tensor.ts";
import { makeJaxpr } from "../core/transforms.ts";
import * as tree from "../core/tree.ts";
import { CheckpointError, type CheckpointErrorKind } from "../data/checkpoint_error.ts";
import { checkpointKey, load, stateDict } from "./checkpoint.ts";

/**
 * What {@link loadTorchStateDict} needs of a model: `init`, and `initState` when stateful.
 *
 * @typeParam P the parameters' type
 * @typeParam S the state's type
 */
export interface TorchLoadable<P = unknown, S = unknown> {
  /** The model's name, for errors. */
  readonly name?: string;
  /** Creates the parameters (only their structure and shapes are used). */
  init(key: Tensor): P;
  /** Creates the state (stateful models). */
  initState?(): S;
}

/** A flat PyTorch state dict: dotted key → Tensor. */
export type FlatStateDict = ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>;

/** Options of {@link loadTorchStateDict}. */
export interface LoadTorchOptions {
  /** Reject keys the model does not have (default true, as PyTorch's `strict`). */
  readonly strict?: boolean;
}

/** The model's params and state, loaded from a PyTorch state dict. */
export interface TorchWeights<P = unknown, S = unknown> {
  /** The parameter pytree, in the structure of `model.init(key)`. */
  readonly params: P;
  /** The state pytree (batch-norm running statistics), or null for a stateless model. */
  readonly state: S;
}

const isLeaf = (x: unknown): boolean => x instanceof Tensor || x instanceof ShapedArray;

/**
 * The shapes and dtypes of `f()`'s leaves (a pytree of `ShapedArray`s), found by tracing, so
 * a large model's `init` allocates nothing; falls back to running `f` when it cannot be traced.
 */
export function _shapeTree(f: (key: Tensor) => unknown): unknown {
  let def: tree.TreeDef | undefined;
  try {
    const jx = makeJaxpr((k: Tensor) => {
      const [leaves, d] = tree.flatten(f(k), isLeaf);
      def = d;
      return leaves;
    })(prngKey(0));
    return def!.unflatten(jx.jaxpr.outAvals);
  } catch {
    const out = f(prngKey(0));
    return tree.map((t: Tensor) => t.aval, out);
  }
}

function _flat(sd: FlatStateDict): Map<string, Tensor> {
  return sd instanceof Map ? new Map(sd) : new Map(Object.entries(sd as Record<string, Tensor>));
}

/** The tensor converted to the template's dtype, or an error sentence. */
function _convert(key: string, t: Tensor, want: ShapedArray): Tensor | string {
  if (t.shape.join() !== want.shape.join()) {
    return `${key} has shape [${t.shape}] in the state dict but the model expects [${want.shape}]`;
  }
  if (t.dtype === want.dtype) return t;
  const intLike = t.dtype === "i32" || t.dtype === "u32" || t.dtype === "bool";
  if (want.dtype === "f32" || (want.dtype === "i32" && intLike)) return np.astype(t, want.dtype);
  return `${key} is ${t.aval} in the state dict but the model expects ${want}`;
}

/**
 * Loads a PyTorch `state_dict` into a model's `{ params, state }` trees: the structure comes
 * from `model.init` (traced, so nothing is allocated) and `model.initState()`; each leaf at
 * path `layer1[0].conv1.weight` takes the tensor under PyTorch's key `layer1.0.conv1.weight`.
 * Running statistics and `num_batches_tracked` land in the state tree (PyTorch's int64
 * counters become i32). Dtypes convert to the model's where lossless in kind (integers to f32
 * or i32, floats to f32).
 *
 * @param model a denax model (`models.resnet18()`, `nn.sequential([...])`, any layer)
 * @param source a flat state dict (`Map` or object of dotted key → Tensor), or the path of a
 *   safetensors file of one (see the module doc for the two-line Python export)
 * @param opts `strict` (default true): keys the model lacks are errors
 * @returns `{ params, state }` (`state` null for a stateless model)
 * @throws {CheckpointError} listing every problem with its key: `missing-tensor` (with the
 *   expected shape), `unexpected-tensor`, `shape-mismatch` (both shapes), `dtype-mismatch`, or
 *   the file's `not-found`/decoding kinds
 * @example
 * ```ts
 * import { nn, np, random } from "@denax/denax";
 * import { loadTorchStateDict } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const net = nn.sequential([nn.linear({ inFeatures: 3, outFeatures: 2 }),
 *   nn.batchNorm1d({ numFeatures: 2 })]);
 * const sd = {
 *   "0.weight": np.ones([2, 3]), "0.bias": np.zeros([2]),
 *   "1.weight": np.ones([2]), "1.bias": np.zeros([2]),
 *   "1.running_mean": np.zeros([2]), "1.running_var": np.ones([2]),
 *   "1.num_batches_tracked": np.array(7, { dtype: "i32" }),
 * };
 * const { params, state } = await loadTorchStateDict(net, sd);
 * assertEquals(params[0].weight.shape, [2, 3]);
 * assertEquals(await state[1].num_batches_tracked!.item(), 7);
 * ```
 */
export async function loadTorchStateDict<P, S = null>(
  model: TorchLoadable<P, S>,
  source: FlatStateDict | string,
  opts: LoadTorchOptions = {},
): Promise<TorchWeights<P, S>> {
  const who = `loadTorchStateDict(${model.name ?? "model"})`;
  let flat: Map<string, Tensor>;
  if (typeof source === "string") {
    const r = await load(source);
    if (r._tag === "Left") throw new CheckpointError(r.left.kind, `${who}: ${r.left.message}`);
    flat = stateDict(r.right);
  } else {
    flat = _flat(source);
  }
  const problems: string[] = [];
  let kind: CheckpointErrorKind | null = null;
  const problem = (k: CheckpointErrorKind, msg: string) => {
    kind ??= k;
    problems.push(msg);
  };
  const used = new Set<string>();
  const fill = (template: unknown): unknown => {
    const [pairs, def] = tree.flattenWithPath<ShapedArray | Tensor>(template, isLeaf);
    const leaves = pairs.map(([path, leaf]) => {
      const want = leaf instanceof Tensor ? leaf.aval : leaf;
      const key = checkpointKey(path);
      const t = flat.get(key);
      if (t === undefined) {
        problem("missing-tensor", `missing ${key} (the model expects ${want})`);
        return null;
      }
      used.add(key);
      const c = _convert(key, t, want);
      if (typeof c === "string") {
        problem(c.includes("shape") ? "shape-mismatch" : "dtype-mismatch", c);
        return null;
      }
      return c;
    });
    return def.unflatten(leaves);
  };
  const params = fill(_shapeTree((k) => model.init(k)));
  const stateful = typeof model.initState === "function";
  const state = stateful ? fill(model.initState!()) : null;
  if (opts.strict ?? true) {
    for (const [k, t] of flat) {
      if (!used.has(k)) problem("unexpected-tensor", `unexpected ${k} (${t.aval})`);
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 12).map((p) => `  ${p}`);
    if (problems.length > 12) shown.push(`  … and ${problems.length - 12} more`);
    throw new CheckpointError(
      kind!,
      `${who}: ${problems.length} problem${problems.length > 1 ? "s" : ""} with the state dict` +
        `${typeof source === "string" ? ` ${source}` : ""}\n${shown.join("\n")}`,
    );
  }
  return { params: params as P, state: state as S };
}
