/**
 * The safetensors checkpoint format, byte for byte, with no dependency on the tensor library:
 * entries are typed-array bytes plus a shape.
 *
 * Layout (https://huggingface.co/docs/safetensors, reference implementation
 * `huggingface/safetensors`, `safetensors/src/tensor.rs`):
 *
 * ```text
 * 8 bytes   N, u64 little-endian: the header length
 * N bytes   UTF-8 JSON object, starting with `{`, padded with spaces (0x20) so 8 + N is a
 *           multiple of 8: { "__metadata__": {string: string},
 *                            "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [b, e] } }
 * rest      the data buffer; offsets are relative to its start, little-endian, C order
 * ```
 *
 * Decoding treats the bytes as untrusted: every rule of the spec is checked (header bound,
 * UTF-8, JSON, no duplicate keys, known dtypes, integer shapes and offsets, sizes agree, the
 * tensors tile the data buffer with no gap and no overlap) and a failure is a `Left`
 * `CheckpointError`, never an exception and never a wrong array.
 *
 * @module
 */

import * as E from "./_either_ops.ts";
import { CheckpointError, type CheckpointErrorKind } from "./checkpoint_error.ts";
import type { Either } from "./either.ts";
import {
  asIndex,
  describe,
  type Json,
  JsonSyntaxError,
  parseJson,
  quote,
} from "./safetensors_json.ts";

// Declared in its own module so that `export *` carries it into both the `data` and the `train`
// namespaces, which deno doc follows (it does not follow a named re-export into a namespace).
export * from "./checkpoint_error.ts";

/** A safetensors dtype that denax reads and writes (the spec's names). */
export type SafetensorsDtype =
  | "F32"
  | "I32"
  | "U32"
  | "BOOL"
  | "F64"
  | "I64"
  | "F16"
  | "U8"
  | "I8"
  | "I16"
  | "BF16";

/**
 * Bytes per element of each {@link SafetensorsDtype}.
 *
 * @example
 * ```ts
 * import { safetensorsItemSize } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(safetensorsItemSize.BF16, 2);
 * ```
 */
export const safetensorsItemSize: Readonly<Record<SafetensorsDtype, number>> = Object.freeze({
  BOOL: 1,
  U8: 1,
  I8: 1,
  I16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
});

// The reference sorts tensors by its `Dtype` enum in descending order (the enum is declared in
// increasing alignment: BOOL, U8, I8, F8_*, I16, U16, F16, BF16, I32, U32, F32, [C64], F64,
// I64, U64), then by name. These ranks keep that relative order for the dtypes we support.
const dtypeRank: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  U32: 7,
  F32: 8,
  F64: 9,
  I64: 10,
};

// Valid in the spec, not (yet) in denax: named in the error so the user knows why.
const otherSpecDtypes: ReadonlySet<string> = new Set([
  "U16",
  "U64",
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F4",
  "F6_E2M3",
  "F6_E3M2",
  "C64",
]);

/** One tensor to write: its name, dtype, shape and little-endian C-order bytes. */
export interface SafetensorsEntry {
  /** Tensor name, unique in the file; `__metadata__` is reserved. */
  readonly name: string;
  /** Element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions; `[]` is a scalar. */
  readonly shape: readonly number[];
  /** `product(shape) * itemsize` bytes. */
  readonly data: Uint8Array;
}

/** One decoded tensor. */
export interface SafetensorsTensor {
  /** Element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions. */
  readonly shape: readonly number[];
  /** Little-endian C-order bytes (a copy, aligned to its own buffer, unless `copy: false`). */
  readonly data: Uint8Array;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  /** Tensors in file (offset) order. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  /** The `__metadata__` map, `{}` when absent. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Largest header the reference accepts (`MAX_HEADER_SIZE`). */
const MAX_HEADER_BYTES = 100_000_000;

const utf8Encoder = new TextEncoder();

function fail(kind: CheckpointErrorKind, what: string): Either<CheckpointError, never> {
  return E.left(new CheckpointError(kind, `Cannot decode safetensors: ${what}`));
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(",")}]`;
}

/**
 * Compares strings by their UTF-8 bytes, as Rust's `String::cmp` does. UTF-8 byte order is code
 * point order, which differs from JS's UTF-16 order only where a surrogate (a code point above
 * U+FFFF) meets a code unit in U+E000..U+FFFF.
 */
function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    const sx = x >= 0xd800 && x <= 0xdfff, sy = y >= 0xd800 && y <= 0xdfff;
    return sx === sy ? x - y : sx ? 1 : -1;
  }
  return a.length - b.length;
}

function isDim(d: unknown): d is number {
  return typeof d === "number" && Number.isSafeInteger(d) && d >= 0;
}

/**
 * Encodes tensors as a safetensors file, exactly as the reference serializer does: tensors
 * sorted by dtype alignment (descending) then by name (UTF-8 byte order), laid out
 * contiguously in that order; the compact JSON header lists `__metadata__` first, then the
 * tensors in the same order with keys `dtype`, `shape`, `data_offsets`, and is padded with
 * spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
 *
 * @param entries tensors to write; names must be unique and not `__metadata__`
 * @param metadata optional free-form string map, stored as `__metadata__`
 * @returns the whole file
 * @throws {CheckpointError} `duplicate-name`, `invalid-entry` (bad shape, name or metadata) or
 *   `size-mismatch` (`data.length !== product(shape) * itemsize`)
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * const w = new Float32Array([1, 2, 3, 4, 5, 6]);
 * const bytes = encodeSafetensors(
 *   [{ name: "w", dtype: "F32", shape: [2, 3], data: new Uint8Array(w.buffer) }],
 *   { step: "10" },
 * );
 * assertEquals(new DataView(bytes.buffer).getUint32(0, true) % 8, 0); // aligned header
 * const file = decodeSafetensors(bytes);
 * if (E.isLeft(file)) throw file.left;
 * const t = file.right.tensors.get("w")!;
 * assertEquals(t.shape, [2, 3]);
 * assertEquals(new Float32Array(t.data.buffer, t.data.byteOffset, 6), w);
 * assertEquals(file.right.metadata, { step: "10" });
 * ```
 */
export function encodeSafetensors(
  entries: readonly SafetensorsEntry[],
  metadata?: Readonly<Record<string, string>>,
): Uint8Array<ArrayBuffer> {
  const bad = (kind: CheckpointErrorKind, what: string) =>
    new CheckpointError(kind, `Cannot encode safetensors: ${what}`);
  const seen = new Set<string>();
  for (const e of entries) {
    if (typeof e.name !== "string") throw bad("invalid-entry", "a tensor name is not a string");
    if (e.name === "__metadata__") {
      throw bad("invalid-entry", `the tensor name "__metadata__" is reserved for the metadata map`);
    }
    if (seen.has(e.name)) throw bad("duplicate-name", `tensor name ${quote(e.name)} appears twice`);
    seen.add(e.name);
    if (!Object.hasOwn(dtypeRank, e.dtype)) {
      throw bad("unknown-dtype", `tensor ${quote(e.name)} has unknown dtype ${String(e.dtype)}`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every(isDim)) {
      throw bad(
        "invalid-entry",
        `tensor ${quote(e.name)} has shape ${String(e.shape)}; ` +
          `dimensions must be non-negative safe integers`,
      );
    }
    if (!(e.data instanceof Uint8Array)) {
      throw bad("invalid-entry", `tensor ${quote(e.name)} data is not a Uint8Array`);
    }
    const need = e.shape.reduce((a, d) => a * BigInt(d), 1n) *
      BigInt(safetensorsItemSize[e.dtype]);
    if (need !== BigInt(e.data.length)) {
      throw bad(
        "size-mismatch",
        `tensor ${quote(e.name)} is ${e.dtype}${
          formatShape(e.shape)
        }, which needs ${need} bytes, ` +
          `but its data has ${e.data.length}`,
      );
    }
  }
  if (metadata !== undefined) {
    if (typeof metadata !== "object" || metadata === null) {
      throw bad("invalid-entry", "metadata must be an object of strings");
    }
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") {
        throw bad("invalid-entry", `metadata value for ${quote(k)} is a ${typeof v}, not a string`);
      }
    }
  }

  const sorted = [...entries].sort((a, b) =>
    dtypeRank[b.dtype] - dtypeRank[a.dtype] || compareUtf8(a.name, b.name)
  );
  // Built by hand so the key order is fixed (a JS object would move integer-like names first).
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const e of sorted) {
    const end = offset + e.data.length;
    parts.push(
      `${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":${formatShape(e.shape)},` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = utf8Encoder.encode(`{${parts.join(",")}}`);
  const headerLen = json.length + (8 - json.length % 8) % 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let at = 8 + headerLen;
  for (const e of sorted) {
    out.set(e.data, at);
    at += e.data.length;
  }
  return out;
}

/**
 * Decodes a safetensors file, validating it as untrusted input: the header length is at most
 * 100 MB and fits in the file; the header is UTF-8, starts with `{` and is one JSON object
 * with no duplicate keys; `__metadata__`, if present, maps strings to strings; every other
 * key is a tensor with a known dtype, a shape of non-negative integers and integer
 * `data_offsets` `[begin, end]` with `end − begin = product(shape) · itemsize`; sorted by
 * offset, the tensors tile the data buffer exactly (no gap, no overlap, nothing left over).
 * Unknown keys inside a tensor entry are ignored, as the reference does.
 *
 * @param bytes the whole file
 * @param options `copy` (default `true`): give each tensor its own aligned copy of its bytes;
 *   `false` returns views into `bytes` (no copy, but possibly unaligned and keeping `bytes` alive)
 * @returns the tensors in file order and the metadata, or a `CheckpointError` saying which
 *   rule failed, for which tensor, with the numbers
 *
 * @example
 * ```ts
 * import { decodeSafetensors } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * // The reference implementation's own doc example: one I32[2,2] tensor of zeros.
 * const json = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
 * const bytes = new Uint8Array(8 + json.length + 16);
 * bytes[0] = json.length;
 * bytes.set(new TextEncoder().encode(json), 8);
 * const r = decodeSafetensors(bytes);
 * assertEquals(E.isRight(r) && r.right.tensors.get("test")?.shape, [2, 2]);
 * const bad = decodeSafetensors(bytes.subarray(0, bytes.length - 1));
 * assertEquals(E.isLeft(bad) && bad.left.kind, "invalid-offsets");
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  options: { readonly copy?: boolean } = {},
): Either<CheckpointError, SafetensorsFile> {
  const header = readHeader(bytes);
  if (E.isLeft(header)) return header;
  const { root, headerLen } = header.right;
  const dataLen = bytes.length - 8 - headerLen;
  const entries = readEntries(root, dataLen);
  if (E.isLeft(entries)) return entries;
  const { metadata, infos } = entries.right;
  const tiled = checkTiling(infos, dataLen);
  if (E.isLeft(tiled)) return tiled;
  const tensors = sliceTensors(bytes, 8 + headerLen, infos, options.copy ?? true);
  return E.right({ tensors, metadata });
}

/** A tensor entry of the header, checked, with its byte range in the data buffer. */
interface EntryInfo {
  readonly name: string;
  readonly tensor: Omit<SafetensorsTensor, "data">;
  /** Begin and end offsets in the data buffer. */
  readonly b: number;
  readonly e: number;
}

/**
 * Step 1: the header length (within the file and the 100 MB bound), its UTF-8 text starting
 * with `{`, parsed as one JSON object.
 */
function readHeader(
  bytes: Uint8Array,
): Either<CheckpointError, { root: Map<string, Json>; headerLen: number }> {
  if (!(bytes instanceof Uint8Array)) return fail("invalid-header", "input is not a Uint8Array");
  if (bytes.length < 8) {
    return fail(
      "truncated",
      `file has ${bytes.length} bytes, fewer than the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) {
    return fail(
      "header-too-large",
      `header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const n = Number(n64);
  if (n > bytes.length - 8) {
    return fail(
      "truncated",
      `header length ${n} exceeds the ${bytes.length - 8} bytes after the length field`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, 8 + n),
    );
  } catch {
    return fail("invalid-header", "header is not valid UTF-8");
  }
  if (!text.startsWith("{")) {
    return fail("invalid-header", "header does not start with '{'");
  }
  let root: Json;
  try {
    root = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      return fail("invalid-header", `header is not valid JSON: ${e.message}`);
    }
    throw e;
  }
  if (!(root instanceof Map)) return fail("invalid-header", "header is not a JSON object");
  return E.right({ root, headerLen: n });
}

/** Step 2: the metadata and every tensor entry of the header, each checked on its own. */
function readEntries(
  root: Map<string, Json>,
  dataLen: number,
): Either<CheckpointError, { metadata: Record<string, string>; infos: EntryInfo[] }> {
  let metadata: Record<string, string> = {};
  const infos: EntryInfo[] = [];
  for (const [name, entry] of root) {
    if (name === "__metadata__") {
      if (entry === null) continue; // serde reads `null` as no metadata
      const m = readMetadata(entry);
      if (E.isLeft(m)) return m;
      metadata = m.right;
      continue;
    }
    const info = readTensorEntry(name, entry, dataLen);
    if (E.isLeft(info)) return info;
    infos.push(info.right);
  }
  return E.right({ metadata, infos });
}

/** `__metadata__`: an object of strings. */
function readMetadata(entry: Json): Either<CheckpointError, Record<string, string>> {
  if (!(entry instanceof Map)) {
    return fail("invalid-header", `__metadata__ is ${describe(entry)}, not an object`);
  }
  const pairs: [string, string][] = [];
  for (const [k, v] of entry) {
    if (typeof v !== "string") {
      return fail(
        "invalid-header",
        `__metadata__ value for ${quote(k)} is ${describe(v)}, not a string`,
      );
    }
    pairs.push([k, v]);
  }
  return E.right(Object.fromEntries(pairs));
}

/**
 * A tensor entry: a known dtype, a shape of non-negative integers, integer `data_offsets`
 * `[begin, end]` within the data buffer spanning `product(shape) · itemsize` bytes.
 */
function readTensorEntry(
  name: string,
  entry: Json,
  dataLen: number,
): Either<CheckpointError, EntryInfo> {
  const t = quote(name);
  if (!(entry instanceof Map)) {
    return fail("invalid-entry", `tensor ${t} is ${describe(entry)}, not an object`);
  }
  const dtype = entry.get("dtype"), shape = entry.get("shape"), offs = entry.get("data_offsets");
  if (dtype === undefined || shape === undefined || offs === undefined) {
    const missing = ["dtype", "shape", "data_offsets"].filter((k) => !entry.has(k));
    return fail("invalid-entry", `tensor ${t} lacks ${missing.join(", ")}`);
  }
  if (typeof dtype !== "string" || !Object.hasOwn(dtypeRank, dtype)) {
    const why = typeof dtype === "string" && otherSpecDtypes.has(dtype)
      ? " (a safetensors dtype that denax does not support)"
      : "";
    return fail(
      "unknown-dtype",
      `tensor ${t} has unknown dtype ${describe(dtype)}${why}\n` +
        `help: denax reads ${Object.keys(dtypeRank).join(", ")}`,
    );
  }
  const dt = dtype as SafetensorsDtype;
  if (!Array.isArray(shape)) {
    return fail("invalid-entry", `tensor ${t} has shape ${describe(shape)}, not an array`);
  }
  const dims: number[] = [];
  for (const d of shape) {
    const k = asIndex(d);
    if (k === undefined) {
      return fail(
        "invalid-entry",
        `tensor ${t} has dimension ${describe(d)}; dimensions must be non-negative integers`,
      );
    }
    dims.push(k);
  }
  if (!Array.isArray(offs) || offs.length !== 2) {
    return fail(
      "invalid-offsets",
      `tensor ${t} has data_offsets ${describe(offs)}; expected [begin, end]`,
    );
  }
  const b = asIndex(offs[0]), e = asIndex(offs[1]);
  if (b === undefined || e === undefined) {
    return fail(
      "invalid-offsets",
      `tensor ${t} has data_offsets [${describe(offs[0])}, ${describe(offs[1])}]; ` +
        `offsets must be non-negative integers`,
    );
  }
  if (e < b) {
    return fail("invalid-offsets", `tensor ${t} has data_offsets [${b}, ${e}] with end < begin`);
  }
  if (e > dataLen) {
    return fail(
      "invalid-offsets",
      `tensor ${t} has data_offsets [${b}, ${e}] but the data buffer has ${dataLen} bytes` +
        ` (truncated file?)`,
    );
  }
  const need = dims.reduce((a, d) => a * BigInt(d), 1n) * BigInt(safetensorsItemSize[dt]);
  if (need !== BigInt(e - b)) {
    return fail(
      "size-mismatch",
      `tensor ${t} is ${dt}${formatShape(dims)}, which needs ${need} bytes, ` +
        `but its data_offsets [${b}, ${e}] span ${e - b}`,
    );
  }
  return E.right({ name, tensor: { dtype: dt, shape: dims }, b, e });
}

/**
 * Step 3: sorted by offset (in place), the tensors tile the data buffer exactly: no gap, no
 * overlap, nothing left over.
 */
function checkTiling(infos: EntryInfo[], dataLen: number): Either<CheckpointError, void> {
  infos.sort((x, y) => x.b - y.b || x.e - y.e);
  let at = 0;
  let prev = "";
  for (const info of infos) {
    if (info.b > at) {
      return fail(
        "invalid-offsets",
        `gap in the data buffer: bytes [${at}, ${info.b}) belong to no tensor` +
          ` (before ${quote(info.name)})`,
      );
    }
    if (info.b < at) {
      return fail(
        "invalid-offsets",
        `tensors ${quote(prev)} and ${quote(info.name)} overlap at bytes [${info.b}, ${at})`,
      );
    }
    at = info.e;
    prev = info.name;
  }
  if (at !== dataLen) {
    return fail(
      "invalid-offsets",
      `the tensors cover ${at} bytes but the data buffer has ${dataLen}; ` +
        `bytes [${at}, ${dataLen}) belong to no tensor`,
    );
  }
  return E.right(undefined);
}

/** Step 4: each tensor's bytes (a copy, or a view into `bytes`), keyed by name. */
function sliceTensors(
  bytes: Uint8Array,
  start: number,
  infos: readonly EntryInfo[],
  copy: boolean,
): Map<string, SafetensorsTensor> {
  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, tensor, b, e } of infos) {
    const data = copy ? bytes.slice(start + b, start + e) : bytes.subarray(start + b, start + e);
    tensors.set(name, { ...tensor, data });
  }
  return tensors;
}

/** The temporary files of {@link saveBytesAtomic}: `<name>.tmp-<pid>-<hex>` (or, as written
 * before the pid was added, `<name>.tmp-<hex>`). */
const TMP_RE = /^\.tmp-(?:(\d+)-)?[0-9a-f]{12}$/;

/** Whether process `pid` may still be writing its temporary file. */
function writerAlive(pid: number | null, mtime: Date | null): boolean {
  if (pid === Deno.pid) return false; // an earlier save of this process that failed half-way
  if (pid !== null && Deno.build.os === "linux") {
    try {
      Deno.statSync(`/proc/${pid}`);
      return true;
    } catch {
      return false;
    }
  }
  // No process table to ask: a file untouched for an hour is abandoned.
  return mtime !== null && Date.now() - mtime.getTime() < 3_600_000;
}

/**
 * Removes the temporary files that interrupted saves of `path` left behind (the writer was
 * killed between creating and renaming them), so repeated kills do not pile up partial copies.
 * A file whose writer is still running is kept.
 */
async function removeStaleTemps(dir: string, base: string): Promise<void> {
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(dir)) if (e.isFile) names.push(e.name);
  } catch {
    return; // unreadable directory: the write below reports the real problem
  }
  for (const name of names) {
    if (!name.startsWith(base)) continue;
    const m = TMP_RE.exec(name.slice(base.length));
    if (m === null) continue;
    const file = `${dir}/${name}`;
    const mtime = await Deno.stat(file).then((st) => st.mtime, () => null);
    if (!writerAlive(m[1] === undefined ? null : Number(m[1]), mtime)) {
      await Deno.remove(file).catch(() => {});
    }
  }
}

/** Flushes a directory's entries (the rename) to disk; directories cannot be opened on Windows. */
async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/**
 * Writes `bytes` to `path` atomically and durably: first to `${path}.tmp-<pid>-<random>` in the
 * same directory, flushed to disk, then renamed over `path`, and the directory flushed so the
 * rename itself survives a power loss. A crash leaves either the old file or the new one, never
 * half of one. Temporary files that earlier interrupted saves of the same `path` left behind
 * (their process is gone) are removed first.
 *
 * @param path destination file
 * @param bytes the contents
 * @returns `Right(undefined)` once renamed, or a `CheckpointError` of kind `io` (the temporary
 *   file is removed)
 *
 * @example
 * ```ts
 * import { readBytes, saveBytesAtomic } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * const dir = await Deno.makeTempDir();
 * const saved = await saveBytesAtomic(`${dir}/ckpt.safetensors`, new Uint8Array([1, 2, 3]));
 * assertEquals(E.isRight(saved), true);
 * assertEquals(await readBytes(`${dir}/ckpt.safetensors`), E.right(new Uint8Array([1, 2, 3])));
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveBytesAtomic(
  path: string,
  bytes: Uint8Array,
): Promise<Either<CheckpointError, void>> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  await removeStaleTemps(dir, path.slice(slash + 1));
  const rnd = crypto.getRandomValues(new Uint8Array(6));
  const hex = Array.from(rnd, (b) => b.toString(16).padStart(2, "0")).join("");
  const tmp = `${path}.tmp-${Deno.pid}-${hex}`;
  try {
    const f = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let done = 0;
      while (done < bytes.length) done += await f.write(bytes.subarray(done));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    return E.left(
      new CheckpointError("io", `Cannot write ${path}: ${(e as Error).message}`, { cause: e }),
    );
  }
  try {
    await syncDir(dir);
  } catch (e) {
    return E.left(
      new CheckpointError("io", `Cannot flush the directory of ${path}: ${(e as Error).message}`, {
        cause: e,
      }),
    );
  }
  return E.right(undefined);
}

/**
 * Reads a whole file.
 *
 * @param path the file
 * @returns its bytes, or a `CheckpointError` of kind `not-found` or `io`
 *
 * @example
 * ```ts
 * import { readBytes } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * const missing = await readBytes("/nonexistent/ckpt.safetensors");
 * assertEquals(E.isLeft(missing) && missing.left.kind, "not-found");
 * ```
 */
export async function readBytes(path: string): Promise<Either<CheckpointError, Uint8Array>> {
  try {
    return E.right(await Deno.readFile(path));
  } catch (e) {
    const kind = e instanceof Deno.errors.NotFound ? "not-found" : "io";
    return E.left(
      new CheckpointError(kind, `Cannot read ${path}: ${(e as Error).message}`, { cause: e }),
    );
  }
}
