import { assert, assertEquals, assertThrows } from "@std/assert";
import * as E from "fp-ts/lib/Either.js";
import fc from "fast-check";
import {
  CheckpointError,
  type CheckpointErrorKind,
  decodeSafetensors,
  encodeSafetensors,
  readBytes,
  type SafetensorsDtype,
  type SafetensorsEntry,
  safetensorsItemSize,
  saveBytesAtomic,
} from "../data/safetensors.ts";

const enc = new TextEncoder();

/** A file from a header string (padded to 8 bytes unless `pad: false`) and a data buffer. */
function build(header: string, data: Uint8Array | number = 0, pad = true): Uint8Array {
  const json = enc.encode(header);
  const n = pad ? json.length + (8 - json.length % 8) % 8 : json.length;
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + n + body.length).fill(0x20, 8, 8 + n);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.set(body, 8 + n);
  return out;
}

function f32Bytes(xs: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(xs).buffer);
}

function expectLeft(
  r: E.Either<CheckpointError, unknown>,
  kind: CheckpointErrorKind,
  text?: string,
): CheckpointError {
  if (E.isRight(r)) throw new Error(`expected a ${kind} error, decoded fine`);
  assert(r.left instanceof CheckpointError);
  assertEquals(r.left.kind, kind, r.left.message);
  if (text !== undefined) {
    assert(
      r.left.message.includes(text),
      `message ${JSON.stringify(r.left.message)} lacks ${text}`,
    );
  }
  return r.left;
}

const attn0 = f32Bytes([0, 1, 2, 3, 4, 5]);

Deno.test("encodeSafetensors matches the reference serializer byte for byte", () => {
  // safetensors/src/tensor.rs, test_serialization: no padding needed (header is 64 bytes).
  assertEquals(
    encodeSafetensors([{ name: "attn.0", dtype: "F32", shape: [1, 2, 3], data: attn0 }]),
    new Uint8Array([
      64,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      123,
      34,
      97,
      116,
      116,
      110,
      46,
      48,
      34,
      58,
      123,
      34,
      100,
      116,
      121,
      112,
      101,
      34,
      58,
      34,
      70,
      51,
      50,
      34,
      44,
      34,
      115,
      104,
      97,
      112,
      101,
      34,
      58,
      91,
      49,
      44,
      50,
      44,
      51,
      93,
      44,
      34,
      100,
      97,
      116,
      97,
      95,
      111,
      102,
      102,
      115,
      101,
      116,
      115,
      34,
      58,
      91,
      48,
      44,
      50,
      52,
      93,
      125,
      125,
      0,
      0,
      0,
      0,
      0,
      0,
      128,
      63,
      0,
      0,
      0,
      64,
      0,
      0,
      64,
      64,
      0,
      0,
      128,
      64,
      0,
      0,
      160,
      64,
    ]),
  );
  // test_serialization_forced_alignement: 7 spaces of padding.
  assertEquals(
    encodeSafetensors([{ name: "attn0", dtype: "F32", shape: [1, 1, 2, 3], data: attn0 }]),
    new Uint8Array([
      72,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      123,
      34,
      97,
      116,
      116,
      110,
      48,
      34,
      58,
      123,
      34,
      100,
      116,
      121,
      112,
      101,
      34,
      58,
      34,
      70,
      51,
      50,
      34,
      44,
      34,
      115,
      104,
      97,
      112,
      101,
      34,
      58,
      91,
      49,
      44,
      49,
      44,
      50,
      44,
      51,
      93,
      44,
      34,
      100,
      97,
      116,
      97,
      95,
      111,
      102,
      102,
      115,
      101,
      116,
      115,
      34,
      58,
      91,
      48,
      44,
      50,
      52,
      93,
      125,
      125,
      32,
      32,
      32,
      32,
      32,
      32,
      32,
      0,
      0,
      0,
      0,
      0,
      0,
      128,
      63,
      0,
      0,
      0,
      64,
      0,
      0,
      64,
      64,
      0,
      0,
      128,
      64,
      0,
      0,
      160,
      64,
    ]),
  );
});

Deno.test("encodeSafetensors writes empty files and metadata as the reference does", () => {
  // test_empty
  assertEquals(
    encodeSafetensors([]),
    new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]),
  );
  assertEquals(
    encodeSafetensors([], { framework: "pt" }),
    new Uint8Array([
      40,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      123,
      34,
      95,
      95,
      109,
      101,
      116,
      97,
      100,
      97,
      116,
      97,
      95,
      95,
      34,
      58,
      123,
      34,
      102,
      114,
      97,
      109,
      101,
      119,
      111,
      114,
      107,
      34,
      58,
      34,
      112,
      116,
      34,
      125,
      125,
      32,
      32,
      32,
      32,
      32,
    ]),
  );
});

Deno.test("encodeSafetensors sorts by dtype alignment descending, then by name", () => {
  const dtypes: SafetensorsDtype[] = [
    "BOOL",
    "U8",
    "I8",
    "I16",
    "F16",
    "BF16",
    "I32",
    "U32",
    "F32",
    "F64",
    "I64",
  ];
  const entries: SafetensorsEntry[] = [...dtypes, "F32" as const].map((dtype, i) => ({
    name: i === dtypes.length ? "a" : `t${i}`,
    dtype,
    shape: [1],
    data: new Uint8Array(safetensorsItemSize[dtype]).fill(i),
  }));
  const bytes = encodeSafetensors(entries);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const order = [...header.matchAll(/"(\w+)":\{"dtype":"(\w+)"/g)].map((m) => `${m[1]}:${m[2]}`);
  assertEquals(order, [
    "t10:I64",
    "t9:F64",
    "a:F32",
    "t8:F32",
    "t7:U32",
    "t6:I32",
    "t5:BF16",
    "t4:F16",
    "t3:I16",
    "t2:I8",
    "t1:U8",
    "t0:BOOL",
  ]);
  // Every tensor starts aligned to its item size when the buffer is.
  const file = decodeSafetensors(bytes, { copy: false });
  if (E.isLeft(file)) throw file.left;
  for (const t of file.right.tensors.values()) {
    assertEquals(t.data.byteOffset % safetensorsItemSize[t.dtype], 0);
  }
});

Deno.test("encodeSafetensors keeps integer-like names and metadata keys in order", () => {
  const bytes = encodeSafetensors(
    [
      { name: "10", dtype: "U8", shape: [1], data: new Uint8Array([1]) },
      { name: "2", dtype: "U8", shape: [1], data: new Uint8Array([2]) },
    ],
    { b: "1", a: "2" },
  );
  const header = new TextDecoder().decode(bytes.subarray(8)).trimEnd();
  assert(header.startsWith('{"__metadata__":{"b":"1","a":"2"},"10":'), header);
});

Deno.test("safetensors round-trips every dtype, scalars, empty tensors and metadata", () => {
  const entries: SafetensorsEntry[] = [
    { name: "w", dtype: "F32", shape: [2, 3], data: f32Bytes([1, 2, 3, 4, 5, 6]) },
    {
      name: "scalar",
      dtype: "F64",
      shape: [],
      data: new Uint8Array(new Float64Array([Math.PI]).buffer),
    },
    { name: "empty", dtype: "I32", shape: [0, 5], data: new Uint8Array(0) },
    { name: "empty2", dtype: "F32", shape: [3, 0], data: new Uint8Array(0) },
    { name: "mask", dtype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) },
    { name: "ids", dtype: "I64", shape: [2], data: new Uint8Array(16).fill(7) },
    { name: "h", dtype: "BF16", shape: [1, 1, 1], data: new Uint8Array([0x80, 0x3f]) },
    { name: "名前/ü", dtype: "I16", shape: [2], data: new Uint8Array([1, 2, 3, 4]) },
  ];
  const meta = { format: "denax", "step/键": "42", ["__proto__"]: "x" };
  const file = decodeSafetensors(encodeSafetensors(entries, meta));
  if (E.isLeft(file)) throw file.left;
  assertEquals(file.right.metadata, meta);
  assertEquals(file.right.metadata["__proto__"], "x"); // an own key, not a prototype
  assertEquals(file.right.tensors.size, entries.length);
  for (const e of entries) {
    const t = file.right.tensors.get(e.name);
    assert(t !== undefined, e.name);
    assertEquals([t.dtype, t.shape, t.data], [e.dtype, e.shape, e.data]);
    assertEquals(t.data.byteOffset, 0); // copies own their buffer
  }
});

Deno.test("decodeSafetensors reads a hand-built file laid out as the spec describes", () => {
  // Unsorted keys, metadata last, names in any order, tab/newline whitespace, escapes.
  const header =
    '{ "b\\u00e9": {"data_offsets": [8, 12], "shape": [2], "dtype": "U16x", "x": 1},\n' +
    '\t"a": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}, "__metadata__": {"k": "v"}}';
  const data = new Uint8Array([0, 0, 128, 63, 0, 0, 0, 64, 1, 0, 2, 0]);
  // Unknown dtype first; then the same file with the right dtype.
  expectLeft(decodeSafetensors(build(header, data)), "unknown-dtype", '"U16x"');
  const good = build(header.replace("U16x", "I16"), data);
  const file = decodeSafetensors(good);
  if (E.isLeft(file)) throw file.left;
  assertEquals([...file.right.tensors.keys()], ["a", "bé"]);
  const a = file.right.tensors.get("a")!;
  assertEquals(new Float32Array(a.data.buffer), new Float32Array([1, 2]));
  assertEquals(new Int16Array(file.right.tensors.get("bé")!.data.buffer), new Int16Array([1, 2]));
  assertEquals(file.right.metadata, { k: "v" });
  // No padding is fine too (the spec only says the header MAY be padded).
  assert(
    E.isRight(
      decodeSafetensors(build('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', 1, false)),
    ),
  );
  // `__metadata__: null` means no metadata, as in the reference.
  const nul = decodeSafetensors(build('{"__metadata__":null}'));
  assertEquals(E.isRight(nul) && nul.right.metadata, {});
});

Deno.test("decodeSafetensors rejects header lengths beyond 100 MB or beyond the file", () => {
  const big = new Uint8Array(16);
  new DataView(big.buffer).setBigUint64(0, 100_000_001n, true);
  expectLeft(decodeSafetensors(big), "header-too-large", "100000001");
  new DataView(big.buffer).setBigUint64(0, 0xffff_ffff_ffff_ffffn, true);
  expectLeft(decodeSafetensors(big), "header-too-large");
  new DataView(big.buffer).setBigUint64(0, 9n, true);
  expectLeft(decodeSafetensors(big), "truncated", "header length 9 exceeds the 8 bytes");
  expectLeft(decodeSafetensors(new Uint8Array(7)), "truncated", "7 bytes");
});

Deno.test("decodeSafetensors rejects headers that are not one UTF-8 JSON object", () => {
  const cases: [string | Uint8Array, string][] = [
    ["{", "not valid JSON"],
    ['{"a":1,}', "not valid JSON"],
    ['{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}} x', "after the JSON value"],
    ["[]", "does not start with '{'"],
    [" {}", "does not start with '{'"],
    [new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), "does not start with '{'"], // BOM
    [new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), "UTF-8"],
    ['{"a\\ud800":1}', "lone surrogate"],
    ['{"a\u0001":1}', "control character"],
    [`{"a":${"[".repeat(100)}${"]".repeat(100)}}`, "nesting too deep"],
    ['{"__metadata__":{"k":1}}', "not a string"],
    ['{"__metadata__":[]}', "not an object"],
  ];
  for (const [h, text] of cases) {
    const json = typeof h === "string" ? enc.encode(h) : h;
    const bytes = new Uint8Array(8 + json.length);
    bytes[0] = json.length;
    bytes.set(json, 8);
    expectLeft(decodeSafetensors(bytes), "invalid-header", text);
  }
});

Deno.test("decodeSafetensors rejects duplicate tensor names", () => {
  const h = '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' +
    '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}';
  expectLeft(decodeSafetensors(build(h, 2)), "invalid-header", 'duplicate key "a"');
});

Deno.test("decodeSafetensors rejects malformed entries, unknown dtypes and bad shapes", () => {
  const entry = (e: string, data = 4) => decodeSafetensors(build(`{"t":${e}}`, data));
  expectLeft(entry("[]"), "invalid-entry", "not an object");
  expectLeft(entry('{"dtype":"F32","shape":[1]}'), "invalid-entry", "lacks data_offsets");
  expectLeft(
    entry('{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}'),
    "unknown-dtype",
    "does not support",
  );
  expectLeft(entry('{"dtype":"f32","shape":[1],"data_offsets":[0,4]}'), "unknown-dtype", "help:");
  expectLeft(entry('{"dtype":7,"shape":[1],"data_offsets":[0,4]}'), "unknown-dtype");
  expectLeft(entry('{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}'), "invalid-entry", "-1");
  expectLeft(entry('{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}'), "invalid-entry", "1.0");
  expectLeft(entry('{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}'), "invalid-entry");
  expectLeft(
    entry('{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,4]}'),
    "invalid-entry",
  );
  expectLeft(entry('{"dtype":"F32","shape":"1","data_offsets":[0,4]}'), "invalid-entry");
});

Deno.test("decodeSafetensors rejects offsets out of range, overlapping or leaving gaps", () => {
  const t = (name: string, b: number, e: number) =>
    `"${name}":{"dtype":"U8","shape":[${e - b}],"data_offsets":[${b},${e}]}`;
  const file = (data: number, ...ts: string[]) =>
    decodeSafetensors(build(`{${ts.join(",")}}`, data));
  assert(E.isRight(file(6, t("a", 0, 2), t("b", 2, 6))));
  expectLeft(file(6, t("a", 0, 2), t("b", 2, 7)), "invalid-offsets", "data buffer has 6 bytes");
  expectLeft(file(6, t("a", 0, 4), t("b", 2, 6)), "invalid-offsets", "overlap");
  expectLeft(file(6, t("a", 0, 2), t("b", 3, 6)), "invalid-offsets", "gap");
  expectLeft(file(6, t("a", 1, 6)), "invalid-offsets", "gap");
  expectLeft(
    file(6, t("a", 0, 2), t("b", 2, 5)),
    "invalid-offsets",
    "bytes [5, 6) belong to no tensor",
  );
});

Deno.test("decodeSafetensors allows several empty tensors at the same offset", () => {
  const h = '{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},' +
    '"b":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},' +
    '"c":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},' +
    '"d":{"dtype":"I64","shape":[0],"data_offsets":[1,1]}}';
  const r = decodeSafetensors(build(h, 1));
  if (E.isLeft(r)) throw r.left;
  assertEquals([...r.right.tensors.keys()], ["a", "b", "c", "d"]);
});

Deno.test("decodeSafetensors rejects offsets that are not [begin, end] integers", () => {
  const off = (o: string) =>
    decodeSafetensors(build(`{"t":{"dtype":"U8","shape":[2],"data_offsets":${o}}}`, 2));
  expectLeft(off("[0]"), "invalid-offsets", "expected [begin, end]");
  expectLeft(off("[0,2,4]"), "invalid-offsets");
  expectLeft(off("[2,0]"), "invalid-offsets", "end < begin");
  expectLeft(off("[0,2.5]"), "invalid-offsets", "2.5");
  expectLeft(off('["0",2]'), "invalid-offsets");
});

Deno.test("decodeSafetensors rejects a shape that disagrees with the byte count", () => {
  const h = '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}';
  expectLeft(
    decodeSafetensors(build(h, 20)),
    "size-mismatch",
    'tensor "w" is F32[2,3], which needs 24 bytes, but its data_offsets [0, 20] span 20',
  );
  // A product that overflows 64 bits is still just a mismatch, not a crash.
  const huge =
    '{"w":{"dtype":"F64","shape":[9007199254740991,9007199254740991],"data_offsets":[0,8]}}';
  expectLeft(decodeSafetensors(build(huge, 8)), "size-mismatch");
});

Deno.test("decodeSafetensors rejects every truncation of a small valid file", () => {
  const bytes = encodeSafetensors(
    [
      { name: "w", dtype: "F32", shape: [2, 2], data: f32Bytes([1, 2, 3, 4]) },
      { name: "b", dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) },
    ],
    { epoch: "3" },
  );
  assert(E.isRight(decodeSafetensors(bytes)));
  for (let len = 0; len < bytes.length; len++) {
    const r = decodeSafetensors(bytes.slice(0, len));
    assert(E.isLeft(r), `prefix of ${len} bytes decoded`);
  }
  // One byte too many is a gap at the end.
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  expectLeft(decodeSafetensors(longer), "invalid-offsets", "belong to no tensor");
});

Deno.test("encodeSafetensors throws on invalid entries", () => {
  const u8 = (n: number) => new Uint8Array(n);
  const kindOf = (f: () => unknown) => assertThrows(f, CheckpointError).kind;
  assertEquals(
    kindOf(() => encodeSafetensors([{ name: "w", dtype: "F32", shape: [2], data: u8(4) }])),
    "size-mismatch",
  );
  assertEquals(
    kindOf(() =>
      encodeSafetensors([
        { name: "w", dtype: "U8", shape: [1], data: u8(1) },
        { name: "w", dtype: "U8", shape: [1], data: u8(1) },
      ])
    ),
    "duplicate-name",
  );
  assertEquals(
    kindOf(() =>
      encodeSafetensors([{ name: "__metadata__", dtype: "U8", shape: [1], data: u8(1) }])
    ),
    "invalid-entry",
  );
  assertEquals(
    kindOf(() => encodeSafetensors([{ name: "w", dtype: "U8", shape: [-1], data: u8(0) }])),
    "invalid-entry",
  );
  assertEquals(
    kindOf(() =>
      encodeSafetensors([{ name: "w", dtype: "X" as SafetensorsDtype, shape: [1], data: u8(1) }])
    ),
    "unknown-dtype",
  );
  assertEquals(kindOf(() => encodeSafetensors([], { a: 1 as unknown as string })), "invalid-entry");
  const e = assertThrows(
    () => encodeSafetensors([{ name: "w", dtype: "F32", shape: [2, 3], data: u8(4) }]),
    CheckpointError,
  );
  assertEquals(
    e.message,
    'Cannot encode safetensors: tensor "w" is F32[2,3], which needs 24 bytes, but its data has 4',
  );
});

const dtypeArb = fc.constantFrom<SafetensorsDtype>(
  ...(Object.keys(safetensorsItemSize) as SafetensorsDtype[]),
);
const entryArb = fc.record({
  name: fc.string({ unit: "grapheme", maxLength: 12 }),
  dtype: dtypeArb,
  shape: fc.array(fc.nat(3), { maxLength: 3 }),
});

Deno.test("safetensors round-trips arbitrary entries (fast-check, seed 20240601)", () => {
  const seed = 20240601;
  fc.assert(
    fc.property(
      fc.uniqueArray(entryArb, { selector: (e) => e.name, maxLength: 6 }),
      fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
      (specs, meta) => {
        const entries = specs.filter((s) => s.name !== "__metadata__").map((s) => {
          const n = s.shape.reduce((a, d) => a * d, 1) * safetensorsItemSize[s.dtype];
          return { ...s, data: Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 255) };
        });
        const bytes = encodeSafetensors(entries, meta);
        const file = decodeSafetensors(bytes);
        if (E.isLeft(file)) throw file.left;
        assertEquals(file.right.metadata, { ...meta });
        assertEquals(file.right.tensors.size, entries.length);
        for (const e of entries) {
          const t = file.right.tensors.get(e.name)!;
          assertEquals([t.dtype, t.shape, t.data], [e.dtype, e.shape, e.data]);
        }
      },
    ),
    { seed, numRuns: 200 },
  );
});

Deno.test("decodeSafetensors returns Left, never throws, on random bytes (fast-check, seed 42)", () => {
  const seed = 42;
  const valid = encodeSafetensors([
    { name: "w", dtype: "F32", shape: [2], data: f32Bytes([1, 2]) },
    { name: "m", dtype: "BOOL", shape: [1], data: new Uint8Array([1]) },
  ], { k: "v" });
  const check = (bytes: Uint8Array) => {
    const r = decodeSafetensors(bytes); // must not throw
    assert(E.isLeft(r) || E.isRight(r));
    if (E.isLeft(r)) assert(r.left instanceof CheckpointError);
  };
  // Pure noise, and noise behind a plausible header length.
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { seed, numRuns: 2000 });
  fc.assert(
    fc.property(fc.nat(120), fc.uint8Array({ maxLength: 160 }), (n, tail) => {
      const b = new Uint8Array(8 + tail.length);
      b[0] = n;
      b.set(tail, 8);
      check(b);
    }),
    { seed, numRuns: 2000 },
  );
  // Byte flips in a valid file: most are caught; none may crash.
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      (flips) => {
        const b = valid.slice();
        for (const [i, v] of flips) b[i] = v;
        check(b);
      },
    ),
    { seed, numRuns: 3000 },
  );
  // Random JSON-ish headers.
  const tok = fc.constantFrom(
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"dtype"',
    '"F32"',
    '"shape"',
    '"data_offsets"',
    '"__metadata__"',
    "0",
    "4",
    "-1",
    "1.5",
    "null",
    '"\\ud800"',
    "true",
  );
  fc.assert(
    fc.property(fc.array(tok, { maxLength: 30 }), fc.nat(16), (toks, extra) => {
      check(build(`{${toks.join("")}`, extra));
    }),
    { seed, numRuns: 3000 },
  );
});

Deno.test("saveBytesAtomic replaces a file and leaves no temporary behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/model.safetensors`;
    const bytes = encodeSafetensors([{
      name: "w",
      dtype: "U8",
      shape: [2],
      data: new Uint8Array([1, 2]),
    }]);
    assert(E.isRight(await saveBytesAtomic(path, new Uint8Array([9]))));
    assert(E.isRight(await saveBytesAtomic(path, bytes)));
    assertEquals(await readBytes(path), E.right(bytes));
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["model.safetensors"]);
    const bad = await saveBytesAtomic(`${dir}/no/such/dir/x`, bytes);
    assertEquals(E.isLeft(bad) && bad.left.kind, "io");
    const missing = await readBytes(`${dir}/absent`);
    assertEquals(E.isLeft(missing) && missing.left.kind, "not-found");
    const isDir = await readBytes(dir);
    assertEquals(E.isLeft(isDir) && isDir.left.kind, "io");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encodeSafetensors orders names by UTF-8 bytes like the reference", () => {
  // UTF-16 order would put "\u{10000}" (a surrogate pair) before "\uffff"; UTF-8 puts it after.
  const names = ["b", "\uffff", "\u{10000}", "a", "ab", "é", ""];
  const bytes = encodeSafetensors(
    names.map((name) => ({ name, dtype: "U8", shape: [0], data: new Uint8Array(0) })),
  );
  const file = decodeSafetensors(bytes);
  if (E.isLeft(file)) throw file.left;
  const byOffset = [...file.right.tensors.keys()]; // all at offset 0: ties keep header order
  const header = new TextDecoder().decode(bytes.subarray(8)).trimEnd();
  const order = Object.keys(JSON.parse(header));
  assertEquals(order, ["", "a", "ab", "b", "é", "\uffff", "\u{10000}"]);
  assertEquals(byOffset.length, names.length);
});
