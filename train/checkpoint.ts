/**
 * Checkpoints: pytrees of Tensors saved as safetensors files whose tensor names are PyTorch
 * `state_dict` keys. A leaf at `params[0].weight` (`tree.flattenWithPath`) is stored as
 * `0.weight`: indices become dotted components, so a `sequential` stack's file reads like
 * `nn.Sequential`'s and a PyTorch checkpoint loads into the matching pytree with
 * {@link loadInto}.
 *
 * Files are written atomically (temporary file, then rename) and read as untrusted input: the
 * decoder checks every rule of the format, {@link load} rejects names that do not form a tree,
 * and {@link loadInto} checks every leaf's name, shape and dtype against a template.
 *
 * Dtypes: f16, f32, i32, u32 and bool are stored as F16, F32, I32, U32 and BOOL. Loading accepts
 * what PyTorch writes and converts it: F16, BF16 and F64 to f32 (F64 rounds; F16 to f32 so that
 * PyTorch's half checkpoints load into f32 models, and {@link loadInto} casts it back to f16
 * for an f16 leaf),
 * U8, I8 and I16 to i32, and I64 (e.g. BatchNorm's `num_batches_tracked`) to i32 when every
 * value fits.
 *
 * @module
 */
import * as E from "../data/_either_ops.ts";
import * as np from "../core/numpy.ts";
import { ShapedArray } from "../core/aval.ts";
import type { DType } from "../core/dtype.ts";
import { Tensor, Tracer } from "../core/tensor.ts";
import * as tree from "../core/tree.ts";
import {
  CheckpointError,
  type CheckpointErrorKind,
  decodeSafetensors,
  encodeSafetensors,
  readBytes,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsTensor,
  saveBytesAtomic,
} from "../data/safetensors.ts";
import type { Either } from "../data/either.ts";

// The error class comes with `export *` so that deno doc lists it in the `train` namespace.
export * from "../data/checkpoint_error.ts";

const isLeaf = (x: unknown): boolean => x instanceof Tensor || x instanceof ShapedArray;
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function left(kind: CheckpointError["kind"], message: string): Either<CheckpointError, never> {
  return E.left(new CheckpointError(kind, message));
}

const right = E.right;

/** Names the file in a decoding error (read errors name it already). */
const inFile = (path: string) => (e: CheckpointError): CheckpointError =>
  new CheckpointError(e.kind, `${e.message} (in ${path})`, { cause: e.cause });

/**
 * The components of a printed pytree path (`tree.keyPath`): `params.layers[1]["my key"]` →
 * `["params", "layers", "1", "my key"]`.
 */
function pathComponents(path: string): string[] {
  const parts: string[] = [];
  const re = /\.?([A-Za-z_$][\w$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  let at = 0;
  while (at < path.length) {
    re.lastIndex = at;
    const m = re.exec(path);
    if (m === null) throw new Error(`internal: cannot parse pytree path ${path}`);
    parts.push(m[1] ?? m[2] ?? JSON.parse(m[3]));
    at = re.lastIndex;
  }
  return parts;
}

/**
 * The checkpoint key of a pytree path, PyTorch's dotted form: `[0].weight` → `0.weight`,
 * `encoder.layers[2].bias` → `encoder.layers.2.bias`.
 *
 * @param path a path as printed by `tree.flattenWithPath` / `tree.keyPath`
 * @returns the dotted key
 * @throws {TypeError} when a component is empty or contains a dot (it could not be read back)
 *
 * @example
 * ```ts
 * import { checkpointKey } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * assertEquals(checkpointKey("[0].weight"), "0.weight");
 * assertEquals(checkpointKey('blocks[1]["attn-out"].bias'), "blocks.1.attn-out.bias");
 * ```
 */
export function checkpointKey(path: string): string {
  const parts = pathComponents(path);
  const bad = parts.find((p) => p === "" || p.includes("."));
  if (parts.length === 0 || bad !== undefined) {
    throw new TypeError(
      `Cannot name the checkpoint entry at ${path || "the root"}: ` +
        (parts.length === 0
          ? "a checkpoint holds a pytree of named leaves, not a lone Tensor"
          : `the component ${JSON.stringify(bad)} is empty or contains "."`) +
        `\nhelp: wrap or rename it, e.g. { weight: t }`,
    );
  }
  return parts.join(".");
}

const toSafetensors: Readonly<Record<DType, SafetensorsDtype>> = {
  f16: "F16",
  f32: "F32",
  i32: "I32",
  u32: "U32",
  bool: "BOOL",
};

/**
 * The flat state dict of a pytree: checkpoint key ({@link checkpointKey}) → Tensor, in
 * flatten order.
 *
 * @param params a pytree of Tensors
 * @returns the entries
 * @throws {TypeError} for a leaf that is not a concrete Tensor, or a path that cannot be
 *   named (see {@link checkpointKey})
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { stateDict } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const sd = stateDict([{ weight: np.zeros([2, 3]), bias: np.zeros([2]) }, {}]);
 * assertEquals([...sd.keys()], ["0.bias", "0.weight"]);
 * ```
 */
export function stateDict(params: unknown): Map<string, Tensor> {
  const [pairs] = tree.flattenWithPath<unknown>(params, isLeaf);
  const out = new Map<string, Tensor>();
  for (const [path, leaf] of pairs) {
    if (!(leaf instanceof Tensor) || leaf instanceof Tracer) {
      throw new TypeError(
        `Cannot checkpoint ${path || "the root"}: ` +
          (leaf instanceof Tracer
            ? `it is a traced value ${leaf.aval}\nhelp: save outside jit/grad`
            : `expected a Tensor, got ${leaf === null ? "null" : typeof leaf}`),
      );
    }
    const key = checkpointKey(path);
    if (out.has(key)) {
      throw new TypeError(`Cannot checkpoint ${path}: its key ${key} is taken by another leaf`);
    }
    out.set(key, leaf);
  }
  return out;
}

async function bytesOf(t: Tensor): Promise<Uint8Array> {
  const d = await t.data();
  // The float64 test mode stores f32 in Float64Array: narrow to the stored type first.
  const typed = t.dtype === "f16"
    ? Float16Array.from(d as ArrayLike<number>) // exact: f16 values are held as f32
    : t.dtype === "f32"
    ? (d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>))
    : t.dtype === "i32"
    ? (d instanceof Int32Array ? d : Int32Array.from(d as ArrayLike<number>))
    : t.dtype === "u32"
    ? (d instanceof Uint32Array ? d : Uint32Array.from(d as ArrayLike<number>))
    : Uint8Array.from(d as ArrayLike<number>, (v) => (v ? 1 : 0));
  if (!littleEndian && typed.BYTES_PER_ELEMENT > 1) {
    throw new Error("internal: checkpoints need a little-endian host");
  }
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

/** Options of {@link save} and {@link encodeCheckpoint}. */
export interface SaveOptions {
  /** Free-form strings stored in the file's `__metadata__` (e.g. `{ epoch: "3" }`). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Encodes a pytree of Tensors as safetensors bytes (reads every tensor back from the device).
 *
 * @param params a pytree of Tensors
 * @param opts `metadata`
 * @returns the file's bytes
 * @throws {TypeError} as {@link stateDict}
 *
 * @example
 * ```ts
 * import { np, type Tensor } from "@denax/denax";
 * import { decodeCheckpoint, encodeCheckpoint } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const bytes = await encodeCheckpoint({ w: np.array([1, 2]) });
 * const back = decodeCheckpoint(bytes);
 * if (back._tag === "Left") throw back.left;
 * const { w } = back.right as { w: Tensor }; // the structure that was encoded
 * assertEquals(await w.toArray(), [1, 2]);
 * ```
 */
export async function encodeCheckpoint(
  params: unknown,
  opts: SaveOptions = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const sd = stateDict(params);
  const entries: SafetensorsEntry[] = await Promise.all(
    [...sd].map(async ([name, t]) => ({
      name,
      dtype: toSafetensors[t.dtype],
      shape: [...t.shape],
      data: await bytesOf(t),
    })),
  );
  return encodeSafetensors(entries, opts.metadata);
}

/**
 * Saves a pytree of Tensors to a safetensors file, atomically (a temporary file in the same
 * directory, flushed, then renamed over `path`). Keys are PyTorch-style dotted paths
 * ({@link checkpointKey}).
 *
 * @param path destination file (its directory must exist)
 * @param params a pytree of Tensors
 * @param opts `metadata`
 * @returns `Right(undefined)` once written, or a `CheckpointError` of kind `io`
 * @throws {TypeError} as {@link stateDict}
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { load, save } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const dir = await Deno.makeTempDir();
 * const params = { layers: [{ weight: np.ones([2, 2]) }, { weight: np.zeros([1, 2]) }] };
 * await save(`${dir}/model.safetensors`, params);
 * const back = await load(`${dir}/model.safetensors`);
 * if (back._tag === "Left") throw back.left;
 * const { layers } = back.right as typeof params; // (loadInto checks a template's structure)
 * assertEquals(await layers[1].weight.toArray(), [[0, 0]]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function save(
  path: string,
  params: unknown,
  opts: SaveOptions = {},
): Promise<Either<CheckpointError, void>> {
  return saveBytesAtomic(path, await encodeCheckpoint(params, opts));
}

/** Converts one decoded tensor to a denax Tensor, or says why it cannot. */
function toTensor(name: string, t: SafetensorsTensor): Either<CheckpointError, Tensor> {
  const n = t.shape.reduce((a, d) => a * d, 1);
  const buf = t.data.buffer as ArrayBuffer, off = t.data.byteOffset;
  if (!littleEndian && t.dtype !== "BOOL" && t.dtype !== "U8" && t.dtype !== "I8") {
    throw new Error("internal: checkpoints need a little-endian host");
  }
  // decodeSafetensors copies each tensor into its own buffer, so these views are aligned.
  const make = (data: ArrayLike<number>, dtype: DType) =>
    right(np.array(data, { shape: t.shape, dtype }));
  switch (t.dtype) {
    case "F32":
      return make(new Float32Array(buf, off, n), "f32");
    case "I32":
      return make(new Int32Array(buf, off, n), "i32");
    case "U32":
      return make(new Uint32Array(buf, off, n), "u32");
    case "BOOL":
      return make(Uint8Array.from(t.data, (v) => (v ? 1 : 0)), "bool");
    case "F64":
      return make(Float32Array.from(new Float64Array(buf, off, n)), "f32");
    case "F16":
      // The runtime's Float16Array decodes IEEE half floats (subnormals, ±Inf, NaN) exactly.
      return make(Float32Array.from(new Float16Array(buf, off, n)), "f32");
    case "BF16": {
      const hi = new Uint16Array(buf, off, n), bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = hi[i] << 16;
      return make(new Float32Array(bits.buffer), "f32");
    }
    case "U8":
      return make(Int32Array.from(t.data), "i32");
    case "I8":
      return make(Int32Array.from(new Int8Array(buf, off, n)), "i32");
    case "I16":
      return make(Int32Array.from(new Int16Array(buf, off, n)), "i32");
    case "I64": {
      const big = new BigInt64Array(buf, off, n), out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        if (big[i] < -2147483648n || big[i] > 2147483647n) {
          return left(
            "invalid-entry",
            `Cannot load tensor ${JSON.stringify(name)}: I64 value ${big[i]} at index ${i} ` +
              `does not fit in i32 (denax has no 64-bit integers)`,
          );
        }
        out[i] = Number(big[i]);
      }
      return make(out, "i32");
    }
    default:
      return t.dtype satisfies never;
  }
}

type Nested = Map<string, Nested | Tensor>;

function describeKey(k: string): string {
  return JSON.stringify(k.length > 80 ? `${k.slice(0, 77)}...` : k);
}

/**
 * A checkpoint as {@link load} and {@link decodeCheckpoint} give it: nested objects of Tensors,
 * with arrays where the keys are exactly `0 … n−1`. Its structure is the file's, known only at
 * run time: narrow it, or load into a typed template with {@link loadInto}.
 */
export type CheckpointTree =
  | Tensor
  | readonly CheckpointTree[]
  | { readonly [name: string]: CheckpointTree };

/** Plain objects from the Maps; dense numeric keys 0..n-1 become arrays. */
function materialize(node: Nested | Tensor): CheckpointTree {
  if (node instanceof Tensor) return node;
  const keys = [...node.keys()];
  const dense = keys.length > 0 && keys.every((k) => /^(0|[1-9]\d*)$/.test(k)) &&
    keys.every((k) => Number(k) < keys.length);
  if (dense) return Array.from({ length: keys.length }, (_, i) => materialize(node.get(`${i}`)!));
  // Object.fromEntries defines own properties, so a "__proto__" key cannot reach a prototype.
  return Object.fromEntries(keys.sort().map((k) => [k, materialize(node.get(k)!)]));
}

/**
 * Decodes checkpoint bytes into nested objects of Tensors: dotted keys become nesting, and an
 * object whose keys are exactly `0 … n−1` becomes an array (so `0.weight`, `1.weight` load as
 * `[{ weight }, { weight }]`, while `0.weight`, `2.weight` stay `{ "0": …, "2": … }`).
 *
 * @param bytes a safetensors file
 * @returns the tree, or a `CheckpointError`: the decoder's kinds, or `invalid-entry` for names
 *   that do not form a tree (an empty component, or a name that is both a tensor and a prefix
 *   of another) and I64 values beyond i32
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { decodeCheckpoint, encodeCheckpoint } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const bytes = await encodeCheckpoint({ a: [np.array(1), np.array(2)] });
 * const bad = decodeCheckpoint(bytes.subarray(0, bytes.length - 2));
 * assertEquals(bad._tag === "Left" && bad.left.kind, "invalid-offsets");
 * ```
 */
export function decodeCheckpoint(bytes: Uint8Array): Either<CheckpointError, CheckpointTree> {
  const file = decodeSafetensors(bytes);
  if (file._tag === "Left") return file;
  const root: Nested = new Map();
  for (const [name, entry] of file.right.tensors) {
    const parts = name.split(".");
    if (parts.some((p) => p === "")) {
      return left(
        "invalid-entry",
        `Cannot load tensor ${describeKey(name)}: its name has an empty component`,
      );
    }
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const child = node.get(parts[i]);
      if (child instanceof Tensor) {
        return left(
          "invalid-entry",
          `Cannot load tensor ${describeKey(name)}: ${
            describeKey(parts.slice(0, i + 1).join("."))
          } is a tensor, not a module`,
        );
      }
      if (child === undefined) node.set(parts[i], node = new Map());
      else node = child;
    }
    const last = parts[parts.length - 1];
    if (node.has(last)) {
      return left(
        "invalid-entry",
        `Cannot load tensor ${describeKey(name)}: other tensors are nested under this name`,
      );
    }
    const t = toTensor(name, entry);
    if (t._tag === "Left") return t;
    node.set(last, t.right);
  }
  return right(materialize(root));
}

/**
 * Loads a checkpoint written by {@link save} (or by PyTorch's `safetensors.torch.save_file`)
 * as nested objects of Tensors; see {@link decodeCheckpoint} for how names become nesting.
 *
 * @param path the file
 * @returns the tree, or a `CheckpointError` (`not-found`, `io`, the decoder's kinds,
 *   `invalid-entry`)
 *
 * @example
 * ```ts
 * import { load } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const r = await load("/nonexistent/model.safetensors");
 * assertEquals(r._tag === "Left" && r.left.kind, "not-found");
 * ```
 */
export async function load(path: string): Promise<Either<CheckpointError, CheckpointTree>> {
  return E.flatMap(
    await readBytes(path),
    (bytes) => E.mapLeft(decodeCheckpoint(bytes), inFile(path)),
  );
}

/**
 * The `__metadata__` string map of a checkpoint (what {@link save} was given as `metadata`;
 * `{}` when it had none), e.g. to resume a run from the epoch it saved.
 *
 * @param path the file
 * @returns the map, or a `CheckpointError` as {@link load}'s
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { loadMetadata, save } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const dir = await Deno.makeTempDir();
 * await save(`${dir}/m.safetensors`, { w: np.ones([2]) }, { metadata: { epoch: "3" } });
 * const meta = await loadMetadata(`${dir}/m.safetensors`);
 * assertEquals(meta._tag === "Right" && meta.right, { epoch: "3" });
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadMetadata(
  path: string,
): Promise<Either<CheckpointError, Readonly<Record<string, string>>>> {
  return E.flatMap(
    await readBytes(path),
    (bytes) =>
      E.flatMap(E.mapLeft(decodeSafetensors(bytes), inFile(path)), (f) => E.right(f.metadata)),
  );
}

/** Options of {@link loadInto}. */
export interface LoadIntoOptions {
  /** Reject tensors in the file that the template lacks (default true, as PyTorch's `strict`). */
  readonly strict?: boolean;
}

/**
 * Loads a checkpoint into the structure of a template pytree, checking every leaf: the file
 * must hold a tensor under each leaf's {@link checkpointKey} with the leaf's shape and dtype
 * (after the conversions listed in the module doc), and, with `strict`, nothing else.
 *
 * @param path the file
 * @param like the template: a pytree whose leaves are Tensors (or `ShapedArray`s)
 * @param opts `strict` (default true)
 * @returns a tree of `like`'s structure, or a `CheckpointError` listing the problems:
 *   the kind of the first problem (`missing-tensor`, `unexpected-tensor`, `dtype-mismatch`,
 *   `shape-mismatch`), or the kinds of {@link load}
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { loadInto, save } from "@denax/denax/train";
 * import { assertEquals } from "@std/assert";
 * const dir = await Deno.makeTempDir();
 * await save(`${dir}/m.safetensors`, { fc: { weight: np.ones([2, 3]), bias: np.zeros([2]) } });
 * const ok = await loadInto(`${dir}/m.safetensors`, {
 *   fc: { weight: np.zeros([2, 3]), bias: np.zeros([2]) },
 * });
 * assertEquals(ok._tag, "Right");
 * const bad = await loadInto(`${dir}/m.safetensors`, {
 *   fc: { weight: np.zeros([3, 2]), bias: np.zeros([2]) },
 * });
 * assertEquals(bad._tag === "Left" && bad.left.kind, "shape-mismatch");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadInto<T>(
  path: string,
  like: T,
  opts: LoadIntoOptions = {},
): Promise<Either<CheckpointError, T>> {
  const [pairs, def] = tree.flattenWithPath<unknown>(like, isLeaf);
  const want = pairs.map(([p, leaf]) => {
    if (!(leaf instanceof Tensor || leaf instanceof ShapedArray)) {
      throw new TypeError(
        `loadInto: the template's leaf ${p || "at the root"} is ${
          leaf === null ? "null" : typeof leaf
        }, not a Tensor or ShapedArray`,
      );
    }
    return { key: checkpointKey(p), aval: leaf instanceof Tensor ? leaf.aval : leaf };
  });
  const file = E.flatMap(
    await readBytes(path),
    (bytes) => E.mapLeft(decodeSafetensors(bytes), inFile(path)),
  );
  if (E.isLeft(file)) return file;
  const tensors = file.right.tensors;
  const problems: string[] = [];
  let kind: CheckpointErrorKind | null = null;
  const problem = (k: CheckpointErrorKind, msg: string) => {
    kind ??= k;
    problems.push(msg);
  };
  const leaves: Tensor[] = [];
  for (const { key, aval } of want) {
    const entry = tensors.get(key);
    if (entry === undefined) {
      problem("missing-tensor", `missing ${key} (${aval})`);
      continue;
    }
    const t0 = toTensor(key, entry);
    if (t0._tag === "Left") {
      problem(t0.left.kind, t0.left.message);
      continue;
    }
    // an F16 entry decodes to f32; an f16 leaf takes it back exactly
    const t = entry.dtype === "F16" && aval.dtype === "f16" ? t0.right.astype("f16") : t0.right;
    const got = t.aval;
    if (got.dtype !== aval.dtype) {
      problem("dtype-mismatch", `${key} is ${entry.dtype}[${entry.shape}], expected ${aval}`);
    } else if (got.shape.join() !== aval.shape.join()) {
      problem("shape-mismatch", `${key} is ${got}, expected ${aval}`);
    }
    leaves.push(t);
  }
  if (opts.strict ?? true) {
    const expected = new Set(want.map((w) => w.key));
    for (const [name, e] of tensors) {
      if (!expected.has(name)) {
        problem("unexpected-tensor", `unexpected ${name} (${e.dtype}[${e.shape}])`);
      }
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).map((p) => `  ${p}`);
    if (problems.length > 10) shown.push(`  … and ${problems.length - 10} more`);
    return left(
      kind ?? "invalid-entry",
      `Cannot load ${path} into the template: ${problems.length} problem${
        problems.length > 1 ? "s" : ""
      }\n${shown.join("\n")}`,
    );
  }
  return right(def.unflatten<T>(leaves));
}
