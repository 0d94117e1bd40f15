import { assert, assertEquals, assertThrows } from "@std/assert";
import { grad, init, np, random, ShapedArray, type Tensor } from "../mod.ts";
import {
  checkpointKey,
  decodeCheckpoint,
  encodeCheckpoint,
  load,
  loadInto,
  save,
  stateDict,
} from "../train/mod.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsEntry } from "../data/mod.ts";
import { sequential } from "../layers/combinators.ts";
import { linear } from "../layers/linear.ts";
import { flat } from "./helpers.ts";

await init({ backend: "cpu" });

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "denax_ckpt_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function unwrap<T>(r: { _tag: "Left"; left: Error } | { _tag: "Right"; right: T }): T {
  if (r._tag === "Left") throw r.left;
  return r.right;
}

const bytesOf = (ta: ArrayBufferView) => new Uint8Array(ta.buffer, ta.byteOffset, ta.byteLength);

Deno.test("checkpoints round-trip nested params with arrays, scalars and every dtype", async () => {
  const params = {
    encoder: {
      layers: [
        { weight: np.array([[1.5, -2], [3, 4]]), bias: np.array([0.25, -0.5]) },
        { weight: np.array([[7, 8]]), bias: np.array([9]) },
      ],
      scale: np.array(0.125),
    },
    counts: np.array([1, -2, 3], "i32"),
    seed: np.array([4294967295, 7], "u32"),
    mask: np.array([true, false, true]),
  };
  await withDir(async (dir) => {
    const path = `${dir}/model.safetensors`;
    unwrap(await save(path, params, { metadata: { epoch: "3" } }));
    const file = unwrap(decodeSafetensors(await Deno.readFile(path)));
    assertEquals(file.metadata, { epoch: "3" });
    assertEquals(
      [...file.tensors.keys()].sort(),
      [
        "counts",
        "encoder.layers.0.bias",
        "encoder.layers.0.weight",
        "encoder.layers.1.bias",
        "encoder.layers.1.weight",
        "encoder.scale",
        "mask",
        "seed",
      ],
    );
    assertEquals(file.tensors.get("mask")!.dtype, "BOOL");
    assertEquals(file.tensors.get("seed")!.dtype, "U32");
    const back = unwrap(await load(path)) as typeof params; // the structure it saved
    assert(Array.isArray(back.encoder.layers));
    assertEquals(back.encoder.layers.length, 2);
    assertEquals(await back.encoder.layers[0].weight.toArray(), [[1.5, -2], [3, 4]]);
    assertEquals(await back.encoder.layers[1].bias.toArray(), [9]);
    assertEquals([back.encoder.scale.shape, await back.encoder.scale.item()], [[], 0.125]);
    assertEquals([back.counts.dtype, await back.counts.toArray()], ["i32", [1, -2, 3]]);
    assertEquals([back.seed.dtype, await back.seed.toArray()], ["u32", [4294967295, 7]]);
    assertEquals([back.mask.dtype, await back.mask.toArray()], ["bool", [true, false, true]]);
  });
});

Deno.test("sequential params are saved under PyTorch's state_dict keys", async () => {
  const net = sequential([
    linear({ inFeatures: 4, outFeatures: 3 }),
    (x: Tensor) => np.maximum(x, 0),
    linear({ inFeatures: 3, outFeatures: 2 }),
  ]);
  const params = net.init(random.key(0));
  assertEquals([...stateDict(params).keys()], ["0.bias", "0.weight", "2.bias", "2.weight"]);
  await withDir(async (dir) => {
    const path = `${dir}/seq.safetensors`;
    unwrap(await save(path, params));
    const file = unwrap(decodeSafetensors(await Deno.readFile(path)));
    assertEquals(file.tensors.get("0.weight")!.shape, [3, 4]); // [out, in], as nn.Linear
    // keys 0 and 2 are not dense, so plain load keeps an object…
    const loose = unwrap(await load(path));
    assertEquals(Object.keys(loose).sort(), ["0", "2"]);
    // …and loadInto restores the template's array (with {} for the activation)
    const restored = unwrap(await loadInto(path, net.init(random.key(5))));
    assertEquals(restored.length, 3);
    assertEquals(restored[1], {});
    assertEquals(await flat(restored[2].weight), await flat(params[2].weight));
    const x = random.normal(random.key(1), [5, 4]);
    assertEquals(await flat(net.apply(restored, x)), await flat(net.apply(params, x)));
  });
});

Deno.test("checkpointKey turns pytree paths into dotted keys", () => {
  assertEquals(checkpointKey("[0].weight"), "0.weight");
  assertEquals(checkpointKey("layers[12].attn.bias"), "layers.12.attn.bias");
  assertEquals(checkpointKey('["0"]["a b"]'), "0.a b");
  assertThrows(() => checkpointKey(""), TypeError, "not a lone Tensor");
  assertThrows(() => checkpointKey('a["x.y"]'), TypeError, 'the component "x.y"');
  assertThrows(() => stateDict({ w: 1 }), TypeError, "Cannot checkpoint w: expected a Tensor");
});

Deno.test("saving traced values is an error", () => {
  let err: unknown;
  grad((w: Tensor) => {
    try {
      stateDict({ w });
    } catch (e) {
      err = e;
    }
    return w.sum();
  })(np.array([1, 2]));
  assert(err instanceof TypeError && err.message.includes("traced value"), String(err));
});

Deno.test("save is atomic and reports I/O failures as a Left", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/m.safetensors`;
    unwrap(await save(path, { w: np.ones([3]) }));
    unwrap(await save(path, { w: np.zeros([3]) })); // replaces the file
    assertEquals(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["m.safetensors"],
    );
    assertEquals(await flat((unwrap(await load(path)) as { w: Tensor }).w), [0, 0, 0]);
    const r = await save(`${dir}/missing/m.safetensors`, { w: np.ones([3]) });
    assertEquals(r._tag === "Left" && r.left.kind, "io");
    assertEquals([...Deno.readDirSync(dir)].length, 1);
  });
});

Deno.test("load rejects truncated files at every cut", async () => {
  const bytes = await encodeCheckpoint({
    a: np.ones([4, 4]),
    b: np.arange(5, undefined, 1, "i32"),
  });
  const headerEnd = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const cuts = [0, 3, 8, 20, headerEnd - 1, headerEnd, headerEnd + 7, bytes.length - 1];
  for (const cut of cuts) {
    const r = decodeCheckpoint(bytes.subarray(0, cut));
    assert(r._tag === "Left", `a file cut at ${cut} of ${bytes.length} bytes was accepted`);
    assert(
      ["truncated", "invalid-header", "invalid-offsets"].includes(r.left.kind),
      `cut ${cut}: ${r.left.kind}`,
    );
  }
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/cut.safetensors`, bytes.subarray(0, bytes.length - 4));
    const r = await load(`${dir}/cut.safetensors`);
    assert(r._tag === "Left" && r.left.message.includes(`${dir}/cut.safetensors`));
    const missing = await load(`${dir}/none.safetensors`);
    assertEquals(missing._tag === "Left" && missing.left.kind, "not-found");
  });
});

Deno.test("loadInto checks every leaf's name, shape and dtype against the template", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/m.safetensors`;
    unwrap(await save(path, { fc: { weight: np.ones([2, 3]), bias: np.zeros([2]) } }));
    const shapes = await loadInto(path, {
      fc: { weight: np.zeros([3, 2]), bias: np.zeros([2]) },
    });
    assert(shapes._tag === "Left");
    assertEquals(shapes.left.kind, "shape-mismatch");
    assert(shapes.left.message.includes("fc.weight is f32[2,3], expected f32[3,2]"));
    const dtype = await loadInto(path, {
      fc: { weight: new ShapedArray([2, 3], "i32"), bias: np.zeros([2]) },
    });
    assert(dtype._tag === "Left" && dtype.left.kind === "dtype-mismatch");
    assert(dtype.left.message.includes("fc.weight is F32[2,3], expected i32[2,3]"));
    const missing = await loadInto(path, {
      fc: { weight: np.zeros([2, 3]) },
      extra: np.zeros([1]),
    });
    assert(missing._tag === "Left");
    assertEquals(missing.left.kind, "missing-tensor");
    assert(missing.left.message.includes("missing extra (f32[1])"), missing.left.message);
    assert(missing.left.message.includes("unexpected fc.bias (F32[2])"), missing.left.message);
    const lax = await loadInto(path, { fc: { weight: np.zeros([2, 3]) } }, { strict: false });
    assertEquals(await flat(unwrap(lax).fc.weight), [1, 1, 1, 1, 1, 1]);
  });
});

Deno.test("load rejects names that do not form a tree", () => {
  const f32 = (name: string): SafetensorsEntry => ({
    name,
    dtype: "F32",
    shape: [1],
    data: bytesOf(new Float32Array([1])),
  });
  const both = decodeCheckpoint(encodeSafetensors([f32("a"), f32("a.b")]));
  assert(both._tag === "Left" && both.left.kind === "invalid-entry");
  const empty = decodeCheckpoint(encodeSafetensors([f32("a..b")]));
  assert(empty._tag === "Left" && empty.left.message.includes("empty component"));
  // a hostile name cannot reach Object.prototype
  const proto = unwrap(decodeCheckpoint(encodeSafetensors([f32("__proto__.polluted")])));
  assertEquals(({} as Record<string, unknown>).polluted, undefined);
  assert(Object.hasOwn(proto, "__proto__"));
});

Deno.test("load converts PyTorch's other dtypes and rejects I64 beyond i32", async () => {
  const entries: SafetensorsEntry[] = [
    {
      name: "half",
      dtype: "F16",
      shape: [3],
      data: bytesOf(new Uint16Array([0x3c00, 0xc000, 0x3555])),
    },
    { name: "bf", dtype: "BF16", shape: [2], data: bytesOf(new Uint16Array([0x3f80, 0xc040])) },
    { name: "dbl", dtype: "F64", shape: [2], data: bytesOf(new Float64Array([0.1, -3])) },
    { name: "tracked", dtype: "I64", shape: [], data: bytesOf(new BigInt64Array([123n])) },
    { name: "small", dtype: "I8", shape: [2], data: bytesOf(new Int8Array([-5, 7])) },
    { name: "pix", dtype: "U8", shape: [2], data: new Uint8Array([0, 255]) },
  ];
  const t = unwrap(decodeCheckpoint(encodeSafetensors(entries))) as Record<string, Tensor>;
  assertEquals([t.half.dtype, await flat(t.half)], ["f32", [1, -2, 0.333251953125]]);
  assertEquals(await flat(t.bf), [1, -3]);
  assertEquals(await flat(t.dbl), [Math.fround(0.1), -3]);
  assertEquals([t.tracked.dtype, t.tracked.shape, await t.tracked.item()], ["i32", [], 123]);
  assertEquals([t.small.dtype, await flat(t.small)], ["i32", [-5, 7]]);
  assertEquals(await flat(t.pix), [0, 255]);
  const big = decodeCheckpoint(encodeSafetensors([
    { name: "n", dtype: "I64", shape: [1], data: bytesOf(new BigInt64Array([1n << 40n])) },
  ]));
  assert(big._tag === "Left" && big.left.message.includes("does not fit in i32"));
});

Deno.test("save removes the temporary files that killed saves of the same file left behind", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/m.safetensors`;
    const hour = new Date(Date.now() - 2 * 3_600_000);
    // pid 4194305 is above Linux's pid_max, so no process can own this file.
    const stale = `${path}.tmp-4194305-0123456789ab`;
    const legacy = `${path}.tmp-abcdef012345`; // the name before pids: kept while fresh
    const fresh = `${path}.tmp-fedcba987654`;
    const otherTarget = `${dir}/other.safetensors.tmp-4194305-0123456789ab`;
    const liveWriter = `${path}.tmp-1-0123456789ab`; // pid 1 runs as long as the machine does
    for (const f of [stale, legacy, fresh, otherTarget, liveWriter]) {
      await Deno.writeFile(f, new Uint8Array(1024));
    }
    await Deno.utime(legacy, hour, hour);
    unwrap(await save(path, { w: np.ones([3]) }));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const expected = [
      "m.safetensors",
      "m.safetensors.tmp-fedcba987654",
      "other.safetensors.tmp-4194305-0123456789ab",
    ];
    if (Deno.build.os === "linux") expected.push("m.safetensors.tmp-1-0123456789ab");
    assertEquals(names, expected.sort());
    assertEquals(await flat((unwrap(await load(path)) as { w: Tensor }).w), [1, 1, 1]);
  });
});

Deno.test("save flushes the file, renames it, then flushes the directory", async () => {
  if (Deno.build.os === "windows") return; // directories cannot be opened there
  await withDir(async (dir) => {
    const path = `${dir}/m.safetensors`;
    const calls: string[] = [];
    const name = (p: string | URL) =>
      String(p).replace(dir, "<dir>").replace(/tmp-\d+-\w+$/, "tmp");
    const open = Deno.open, rename = Deno.rename;
    const D = Deno as { open: typeof Deno.open; rename: typeof Deno.rename };
    D.open = async (p, o) => {
      const f = await open(p, o);
      calls.push(`open ${name(p)}`);
      const sync = f.sync.bind(f);
      f.sync = () => (calls.push(`sync ${name(p)}`), sync());
      return f;
    };
    D.rename = (from, to) => (calls.push(`rename ${name(from)} ${name(to)}`), rename(from, to));
    try {
      unwrap(await save(path, { w: np.ones([2]) }));
    } finally {
      D.open = open;
      D.rename = rename;
    }
    assertEquals(calls, [
      "open <dir>/m.safetensors.tmp",
      "sync <dir>/m.safetensors.tmp",
      "rename <dir>/m.safetensors.tmp <dir>/m.safetensors",
      "open <dir>",
      "sync <dir>",
    ]);
  });
});

Deno.test("F16 entries decode subnormals, signed zeros, infinities and NaN exactly", async () => {
  const half = new Uint16Array([0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x7bff, 0x03ff]);
  const t = unwrap(decodeCheckpoint(encodeSafetensors([
    { name: "h", dtype: "F16", shape: [7], data: bytesOf(half) },
  ]))) as Record<string, Tensor>;
  const got = await flat(t.h);
  assertEquals(got.slice(0, 4), [2 ** -24, -0, Infinity, -Infinity]);
  assert(Number.isNaN(got[4]));
  assertEquals(got.slice(5), [65504, 1023 * 2 ** -24]);
});
