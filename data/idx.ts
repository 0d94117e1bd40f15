/**
 * IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/,
 * "FILE FORMATS"), optionally gzipped:
 *
 * ```text
 * bytes 0-1  0x00 0x00
 * byte  2    element type: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
 * byte  3    number of dimensions d
 * 4·d bytes  the dimensions, u32 big-endian
 * rest       the elements, big-endian, C order
 * ```
 *
 * So `train-images-idx3-ubyte` starts `00 00 08 03`, then 60000, 28, 28. Parsing checks the
 * magic, the type code and that the file holds exactly `product(dims)` elements; a truncated or
 * corrupt file (or gzip stream) is a `Left` `DataError`, never a wrong array.
 *
 * @module
 */

import * as E from "./_either_ops.ts";
import type { Either } from "./either.ts";

/** Element type of an IDX file, in denax's dtype names. */
export type IdxDtype = "u8" | "i8" | "i16" | "i32" | "f32" | "f64";

/** A parsed IDX file: its shape and elements in native (little-endian) typed-array order. */
export type IdxArray =
  | { readonly dtype: "u8"; readonly shape: readonly number[]; readonly data: Uint8Array }
  | { readonly dtype: "i8"; readonly shape: readonly number[]; readonly data: Int8Array }
  | { readonly dtype: "i16"; readonly shape: readonly number[]; readonly data: Int16Array }
  | { readonly dtype: "i32"; readonly shape: readonly number[]; readonly data: Int32Array }
  | { readonly dtype: "f32"; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: "f64"; readonly shape: readonly number[]; readonly data: Float64Array };

/** What went wrong loading data; see {@link DataError}. */
export type DataErrorKind =
  | "not-found"
  | "io"
  | "gzip"
  | "too-large"
  | "bad-magic"
  | "unknown-dtype"
  | "truncated"
  | "trailing-bytes"
  | "inconsistent"
  | "missing-dataset"
  | "download";

/**
 * A dataset or data file could not be found, read, downloaded or parsed. `kind` says which;
 * the message names the file and the numbers, with a `help:` line where there is a fix.
 *
 * @example
 * ```ts
 * import { DataError } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * const e = new DataError("bad-magic", "Cannot parse x.idx: first two bytes are 1f 00, not 00 00");
 * assertEquals([e.name, e.kind], ["DataError", "bad-magic"]);
 * ```
 */
export class DataError extends Error {
  /** Which step failed. */
  readonly kind: DataErrorKind;
  /**
   * Makes a data error.
   *
   * @param kind which step failed
   * @param message sentence case, no period, naming the file and the numbers
   * @param options the underlying error, if any
   */
  constructor(kind: DataErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DataError";
    this.kind = kind;
  }
}

const codes: Readonly<Record<number, { dtype: IdxDtype; size: number }>> = {
  0x08: { dtype: "u8", size: 1 },
  0x09: { dtype: "i8", size: 1 },
  0x0b: { dtype: "i16", size: 2 },
  0x0c: { dtype: "i32", size: 4 },
  0x0d: { dtype: "f32", size: 4 },
  0x0e: { dtype: "f64", size: 8 },
};
const codeOf: Readonly<Record<IdxDtype, number>> = {
  u8: 0x08,
  i8: 0x09,
  i16: 0x0b,
  i32: 0x0c,
  f32: 0x0d,
  f64: 0x0e,
};

const hex = (b: ArrayLike<number>): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

/**
 * Parses the bytes of an (uncompressed) IDX file.
 *
 * @param bytes the file contents
 * @param options `name`: how messages refer to the data (default `"IDX data"`)
 * @returns dtype, shape and elements (a copy, in native byte order), or a `DataError` of kind
 *   `bad-magic`, `unknown-dtype`, `truncated` or `trailing-bytes`
 *
 * @example
 * ```ts
 * import { parseIdx } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * // u8, 2 dims: 2 x 3
 * const bytes = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
 * const r = parseIdx(bytes);
 * if (E.isLeft(r)) throw r.left;
 * assertEquals(r.right.shape, [2, 3]);
 * assertEquals(r.right.data, new Uint8Array([1, 2, 3, 4, 5, 6]));
 * const cut = parseIdx(bytes.subarray(0, 17));
 * assertEquals(E.isLeft(cut) && cut.left.kind, "truncated");
 * ```
 */
export function parseIdx(
  bytes: Uint8Array,
  options: { readonly name?: string } = {},
): Either<DataError, IdxArray> {
  const name = options.name ?? "IDX data";
  const fail = (kind: DataErrorKind, what: string) =>
    E.left(new DataError(kind, `Cannot parse ${name}: ${what}`));
  if (bytes.length < 4) {
    return fail("truncated", `${bytes.length} bytes is shorter than the 4-byte magic number`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b
      ? "\nhelp: the data is gzipped; use readIdx or gunzip first"
      : "";
    return fail(
      "bad-magic",
      `magic number ${hex(bytes.subarray(0, 4))} does not start with 00 00; not an IDX file${gz}`,
    );
  }
  const code = codes[bytes[2]];
  if (code === undefined) {
    return fail(
      "unknown-dtype",
      `magic number ${hex(bytes.subarray(0, 4))} has type code 0x${hex([bytes[2]])}; ` +
        `expected 08 (u8), 09 (i8), 0b (i16), 0c (i32), 0d (f32) or 0e (f64)`,
    );
  }
  const ndim = bytes[3];
  if (ndim === 0) return fail("bad-magic", "magic number declares 0 dimensions");
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) {
    return fail(
      "truncated",
      `${bytes.length} bytes cannot hold the header of ${ndim} dimensions (${headerLen} bytes)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    shape.push(d);
    count *= d; // exact while below 2^53; anything larger fails the size check below anyway
  }
  const need = headerLen + count * code.size;
  const dims = `${code.dtype}[${shape.join(",")}]`;
  if (bytes.length < need) {
    return fail(
      "truncated",
      `${dims} needs ${need} bytes but the data has ${bytes.length}`,
    );
  }
  if (bytes.length > need) {
    return fail(
      "trailing-bytes",
      `${dims} needs ${need} bytes but the data has ${bytes.length} (${bytes.length - need} extra)`,
    );
  }
  const body = bytes.slice(headerLen); // own buffer, offset 0: aligned for every view below
  const bv = new DataView(body.buffer);
  switch (code.dtype) {
    case "u8":
      return E.right({ dtype: "u8", shape, data: body });
    case "i8":
      return E.right({ dtype: "i8", shape, data: new Int8Array(body.buffer) });
    case "i16": {
      const data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = bv.getInt16(2 * i, false);
      return E.right({ dtype: "i16", shape, data });
    }
    case "i32": {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = bv.getInt32(4 * i, false);
      return E.right({ dtype: "i32", shape, data });
    }
    case "f32": {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = bv.getFloat32(4 * i, false);
      return E.right({ dtype: "f32", shape, data });
    }
    case "f64": {
      const data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = bv.getFloat64(8 * i, false);
      return E.right({ dtype: "f64", shape, data });
    }
    default:
      return code.dtype satisfies never;
  }
}

/**
 * Encodes an array as an IDX file (uncompressed, big-endian), the inverse of
 * {@link parseIdx}.
 *
 * @param arr dtype, shape (1 to 255 dimensions, each below 2^32) and elements
 * @returns the file contents
 * @throws {RangeError} when the shape has no dimensions, more than 255, or a dimension that
 *   does not fit in u32
 * @throws {TypeError} when `data.length` differs from `product(shape)`
 *
 * @example
 * ```ts
 * import { encodeIdx, parseIdx } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * const labels = { dtype: "u8", shape: [3], data: new Uint8Array([7, 2, 1]) } as const;
 * const bytes = encodeIdx(labels);
 * assertEquals(Array.from(bytes.subarray(0, 4)), [0, 0, 8, 1]);
 * assertEquals(parseIdx(bytes), E.right(labels));
 * ```
 */
export function encodeIdx(arr: IdxArray): Uint8Array<ArrayBuffer> {
  const { dtype, shape, data } = arr;
  const ndim = shape.length;
  if (ndim < 1 || ndim > 255) {
    throw new RangeError(`Cannot encode IDX ${dtype}[${shape.join(",")}]: needs 1 to 255 dims`);
  }
  if (!shape.every((d) => Number.isInteger(d) && d >= 0 && d < 2 ** 32)) {
    throw new RangeError(
      `Cannot encode IDX ${dtype}[${shape.join(",")}]: dimensions must be integers in [0, 2^32)`,
    );
  }
  const count = shape.reduce((a, d) => a * d, 1);
  if (data.length !== count) {
    throw new TypeError(
      `Cannot encode IDX ${dtype}[${shape.join(",")}]: data has ${data.length} elements, ` +
        `shape needs ${count}`,
    );
  }
  const size = codes[codeOf[dtype]].size;
  const headerLen = 4 + 4 * ndim;
  const out = new Uint8Array(headerLen + count * size);
  const v = new DataView(out.buffer);
  out.set([0, 0, codeOf[dtype], ndim]);
  shape.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const o = headerLen;
  switch (arr.dtype) {
    case "u8":
      out.set(arr.data, o);
      break;
    case "i8":
      out.set(new Uint8Array(arr.data.buffer, arr.data.byteOffset, count), o);
      break;
    case "i16":
      arr.data.forEach((x, i) => v.setInt16(o + 2 * i, x, false));
      break;
    case "i32":
      arr.data.forEach((x, i) => v.setInt32(o + 4 * i, x, false));
      break;
    case "f32":
      arr.data.forEach((x, i) => v.setFloat32(o + 4 * i, x, false));
      break;
    case "f64":
      arr.data.forEach((x, i) => v.setFloat64(o + 8 * i, x, false));
      break;
    default:
      arr satisfies never;
  }
  return out;
}

/**
 * Whether `bytes` starts with the gzip magic number `1f 8b`.
 *
 * @param bytes file contents
 * @returns true for gzip data
 *
 * @example
 * ```ts
 * import { isGzip } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * assertEquals(isGzip(new Uint8Array([0x1f, 0x8b, 8])), true);
 * assertEquals(isGzip(new Uint8Array([0, 0, 8, 3])), false);
 * ```
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Default bound on decompressed size: 1 GiB, far above any MNIST-like file. */
const DEFAULT_MAX_BYTES = 2 ** 30;

/**
 * Decompresses one gzip member with `DecompressionStream("gzip")`, checking its CRC and
 * length: a truncated or corrupt stream, or data after its end, is a `Left`. Output larger
 * than `maxBytes` is refused (a defence against gzip bombs).
 *
 * @param bytes gzip data
 * @param options `maxBytes` (default 1 GiB) bounds the output; `name` is used in messages
 * @returns the decompressed bytes, or a `DataError` of kind `gzip` or `too-large`
 *
 * @example
 * ```ts
 * import { gunzip } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * const raw = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 42]);
 * const gz = new Uint8Array(
 *   await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("gzip")))
 *     .arrayBuffer(),
 * );
 * assertEquals(await gunzip(gz), E.right(raw));
 * const cut = await gunzip(gz.subarray(0, gz.length - 3));
 * assertEquals(E.isLeft(cut) && cut.left.kind, "gzip");
 * ```
 */
export async function gunzip(
  bytes: Uint8Array,
  options: { readonly maxBytes?: number; readonly name?: string } = {},
): Promise<Either<DataError, Uint8Array>> {
  const name = options.name ?? "gzip data";
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const input = new ReadableStream<BufferSource>({
    start(c) {
      // The stream wants ArrayBuffer-backed chunks; copy the (rare) shared-memory view.
      c.enqueue(
        bytes.buffer instanceof ArrayBuffer ? bytes as Uint8Array<ArrayBuffer> : bytes.slice(),
      );
      c.close();
    },
  });
  const reader = input.pipeThrough(new DecompressionStream("gzip")).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        return E.left(
          new DataError(
            "too-large",
            `Cannot decompress ${name}: output exceeds ${maxBytes} bytes\n` +
              `help: pass a larger maxBytes if the file is trusted`,
          ),
        );
      }
      chunks.push(value);
    }
  } catch (e) {
    const msg = (e as Error).message;
    // Deno's decoder reports bytes after the end of the member as a failed write.
    const why = /whole buffer/.test(msg)
      ? "data follows the end of the gzip stream (concatenated gzip members are not supported)"
      : `truncated or corrupt gzip stream (${msg})`;
    return E.left(new DataError("gzip", `Cannot decompress ${name}: ${why}`, { cause: e }));
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return E.right(out);
}

/**
 * Reads and parses an IDX file, gunzipping it first when it starts with the gzip magic number
 * `1f 8b`. The contents decide, not the name: a `.gz` file that a browser already
 * decompressed still loads.
 *
 * @param path the file, e.g. `t10k-labels-idx1-ubyte.gz`
 * @param options `maxBytes` bounds the decompressed size (default 1 GiB)
 * @returns the parsed array, or a `DataError` (`not-found`, `io`, `gzip`, `too-large`, or a
 *   parse failure from {@link parseIdx}) naming the file
 *
 * @example
 * ```ts
 * import { encodeIdx, readIdx } from "@denax/denax/data";
 * import { assertEquals } from "@std/assert";
 * import * as E from "fp-ts/lib/Either.js";
 * const path = await Deno.makeTempFile({ suffix: ".gz" });
 * const idx = encodeIdx({ dtype: "f32", shape: [2], data: new Float32Array([0.5, -2]) });
 * const gz = new Response(new Blob([idx]).stream().pipeThrough(new CompressionStream("gzip")));
 * await Deno.writeFile(path, new Uint8Array(await gz.arrayBuffer()));
 * const r = await readIdx(path);
 * assertEquals(E.isRight(r) && r.right.data, new Float32Array([0.5, -2]));
 * await Deno.remove(path);
 * ```
 */
export async function readIdx(
  path: string,
  options: { readonly maxBytes?: number } = {},
): Promise<Either<DataError, IdxArray>> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    const kind = e instanceof Deno.errors.NotFound ? "not-found" : "io";
    return E.left(
      new DataError(kind, `Cannot read ${path}: ${(e as Error).message}`, { cause: e }),
    );
  }
  if (isGzip(bytes)) {
    const raw = await gunzip(bytes, { maxBytes: options.maxBytes, name: path });
    if (E.isLeft(raw)) return raw;
    bytes = raw.right;
  }
  return parseIdx(bytes, { name: path });
}
