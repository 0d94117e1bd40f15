import { assert, assertEquals, assertThrows } from "@std/assert";
import * as E from "fp-ts/lib/Either.js";
import {
  DataError,
  type DataErrorKind,
  encodeIdx,
  gunzip,
  type IdxArray,
  isGzip,
  parseIdx,
  readIdx,
} from "../data/idx.ts";
import {
  datasetSearchDirs,
  fashionMnistClassNames,
  findDataset,
  loadMnistLike,
} from "../data/fashion_mnist.ts";

const DEBIAN_DIR = "/usr/share/datasets/fashion-mnist";
const haveDebian = (() => {
  try {
    return Deno.statSync(`${DEBIAN_DIR}/t10k-images-idx3-ubyte.gz`).isFile;
  } catch {
    return false;
  }
})();

async function gzip(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const s = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

function expectLeft(
  r: E.Either<DataError, unknown>,
  kind: DataErrorKind,
  text?: string,
): DataError {
  if (E.isRight(r)) throw new Error(`expected a ${kind} error, got a value`);
  assert(r.left instanceof DataError);
  assertEquals(r.left.kind, kind, r.left.message);
  if (text !== undefined) {
    assert(
      r.left.message.includes(text),
      `message ${JSON.stringify(r.left.message)} lacks ${text}`,
    );
  }
  return r.left;
}

async function withTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseIdx reads hand-built big-endian files of every type", () => {
  const header = (code: number, dims: number[]) => [
    0,
    0,
    code,
    dims.length,
    ...dims.flatMap((d) => [d >>> 24, (d >>> 16) & 255, (d >>> 8) & 255, d & 255]),
  ];
  const cases: [number[], IdxArray][] = [
    [
      [...header(0x08, [2, 2, 3]), 0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255],
      {
        dtype: "u8",
        shape: [2, 2, 3],
        data: new Uint8Array([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]),
      },
    ],
    [[...header(0x09, [2]), 0xff, 0x7f], {
      dtype: "i8",
      shape: [2],
      data: new Int8Array([-1, 127]),
    }],
    [
      [...header(0x0b, [2]), 0x01, 0x02, 0xff, 0xfe],
      { dtype: "i16", shape: [2], data: new Int16Array([0x0102, -2]) },
    ],
    [
      [...header(0x0c, [1, 1]), 0x80, 0, 0, 0],
      { dtype: "i32", shape: [1, 1], data: new Int32Array([-(2 ** 31)]) },
    ],
    [
      [...header(0x0d, [2]), 0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0],
      { dtype: "f32", shape: [2], data: new Float32Array([1, -2.5]) },
    ],
    [
      [...header(0x0e, [1]), 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18],
      { dtype: "f64", shape: [1], data: new Float64Array([Math.PI]) },
    ],
    [[...header(0x08, [0, 28])], { dtype: "u8", shape: [0, 28], data: new Uint8Array(0) }],
  ];
  for (const [bytes, want] of cases) {
    const r = parseIdx(new Uint8Array(bytes));
    assertEquals(r, E.right(want));
    assertEquals(encodeIdx(want), new Uint8Array(bytes)); // and back
  }
});

Deno.test("parseIdx rejects every truncation and any trailing byte", () => {
  const bytes = encodeIdx({
    dtype: "i16",
    shape: [2, 3],
    data: new Int16Array([1, 2, 3, 4, 5, 6]),
  });
  for (let len = 0; len < bytes.length; len++) {
    expectLeft(parseIdx(bytes.subarray(0, len)), "truncated");
  }
  expectLeft(
    parseIdx(bytes.subarray(0, bytes.length - 1)),
    "truncated",
    "i16[2,3] needs 24 bytes but the data has 23",
  );
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  expectLeft(parseIdx(longer), "trailing-bytes", "1 extra");
});

Deno.test("parseIdx rejects wrong magic numbers with a clear message", () => {
  expectLeft(parseIdx(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 0])), "bad-magic", "not an IDX file");
  expectLeft(
    parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0])),
    "bad-magic",
    "help: the data is gzipped",
  );
  expectLeft(parseIdx(new Uint8Array([0, 0, 0x0a, 1, 0, 0, 0, 0])), "unknown-dtype", "0x0a");
  expectLeft(parseIdx(new Uint8Array([0, 0, 8, 0])), "bad-magic", "0 dimensions");
  // Dimensions whose product is astronomically large are a size mismatch, not an allocation.
  expectLeft(
    parseIdx(
      new Uint8Array([0, 0, 0x0e, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]),
    ),
    "truncated",
  );
  const e = expectLeft(
    parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 1]), { name: "x.idx" }),
    "truncated",
  );
  assertEquals(e.message, "Cannot parse x.idx: u8[3] needs 11 bytes but the data has 9");
});

Deno.test("encodeIdx round-trips every dtype and rejects bad shapes", () => {
  const arrays: IdxArray[] = [
    { dtype: "u8", shape: [3], data: new Uint8Array([0, 128, 255]) },
    { dtype: "i8", shape: [3], data: new Int8Array([-128, 0, 127]) },
    { dtype: "i16", shape: [1, 3], data: new Int16Array([-32768, 1, 32767]) },
    { dtype: "i32", shape: [3, 1], data: new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]) },
    { dtype: "f32", shape: [3], data: new Float32Array([-0, Infinity, 1.5]) },
    { dtype: "f64", shape: [1, 1, 3], data: new Float64Array([NaN, -1e300, 5e-324]) },
  ];
  for (const a of arrays) assertEquals(parseIdx(encodeIdx(a)), E.right(a));
  assertThrows(() => encodeIdx({ dtype: "u8", shape: [], data: new Uint8Array(1) }), RangeError);
  assertThrows(
    () => encodeIdx({ dtype: "u8", shape: [2 ** 32], data: new Uint8Array(0) }),
    RangeError,
  );
  assertThrows(() => encodeIdx({ dtype: "u8", shape: [2], data: new Uint8Array(3) }), TypeError);
});

Deno.test("gunzip inflates CompressionStream output and rejects truncated or corrupt streams", async () => {
  const raw = encodeIdx({
    dtype: "u8",
    shape: [50, 20],
    data: Uint8Array.from({ length: 1000 }, (_, i) => i % 7),
  });
  const gz = await gzip(raw);
  assert(isGzip(gz) && !isGzip(raw));
  assertEquals(await gunzip(gz), E.right(raw));
  for (let len = 0; len < gz.length; len++) {
    expectLeft(await gunzip(gz.subarray(0, len)), "gzip", "gzip stream");
  }
  const flipped = gz.slice();
  flipped[gz.length - 6] ^= 0xff; // CRC32
  expectLeft(await gunzip(flipped), "gzip");
  const trailing = new Uint8Array(gz.length + 2);
  trailing.set(gz);
  expectLeft(await gunzip(trailing), "gzip", "data follows the end");
  expectLeft(await gunzip(gz, { maxBytes: 100 }), "too-large", "100 bytes");
});

Deno.test("readIdx gunzips by content, not by name", async () => {
  await withTempDir(async (dir) => {
    const arr: IdxArray = { dtype: "f32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) };
    const raw = encodeIdx(arr), gz = await gzip(raw);
    await Deno.writeFile(`${dir}/a.gz`, gz);
    await Deno.writeFile(`${dir}/b`, gz); // gzip without the extension
    await Deno.writeFile(`${dir}/c.gz`, raw); // already inflated, misleading name
    for (const f of ["a.gz", "b", "c.gz"]) assertEquals(await readIdx(`${dir}/${f}`), E.right(arr));
    await Deno.writeFile(`${dir}/cut.gz`, gz.subarray(0, gz.length - 10));
    expectLeft(await readIdx(`${dir}/cut.gz`), "gzip", `${dir}/cut.gz`);
    // Valid gzip around a truncated IDX file.
    await Deno.writeFile(`${dir}/short.gz`, await gzip(raw.slice(0, raw.length - 4)));
    expectLeft(await readIdx(`${dir}/short.gz`), "truncated", `Cannot parse ${dir}/short.gz`);
    expectLeft(await readIdx(`${dir}/missing`), "not-found");
    expectLeft(await readIdx(dir), "io");
  });
});

Deno.test({
  name: "readIdx loads the Debian Fashion-MNIST test set",
  ignore: !haveDebian,
  fn: async () => {
    const images = await readIdx(`${DEBIAN_DIR}/t10k-images-idx3-ubyte.gz`);
    const labels = await readIdx(`${DEBIAN_DIR}/t10k-labels-idx1-ubyte.gz`);
    if (E.isLeft(images)) throw images.left;
    if (E.isLeft(labels)) throw labels.left;
    assertEquals([images.right.dtype, images.right.shape], ["u8", [10000, 28, 28]]);
    assertEquals([labels.right.dtype, labels.right.shape], ["u8", [10000]]);
    assert(labels.right.data.every((l) => l < 10));
    const counts = new Array(10).fill(0);
    for (const l of labels.right.data) counts[l]++;
    assertEquals(counts, new Array(10).fill(1000)); // the test set is balanced
  },
});

Deno.test({
  name: "loadMnistLike loads both splits of the Debian Fashion-MNIST",
  ignore: !haveDebian,
  fn: async () => {
    const ds = await loadMnistLike("fashion-mnist", { dirs: [DEBIAN_DIR], download: false });
    if (E.isLeft(ds)) throw ds.left;
    const { train, test, rows, cols, classNames } = ds.right;
    assertEquals([train.n, test.n, rows, cols], [60000, 10000, 28, 28]);
    assertEquals([train.images.length, test.images.length], [60000 * 784, 10000 * 784]);
    assertEquals(classNames, fashionMnistClassNames);
    assert(datasetSearchDirs("fashion-mnist").includes(DEBIAN_DIR));
  },
});

/** Writes a tiny MNIST-like dataset (n images per split) into `dir`. */
async function writeFake(dir: string, n: number, opts: { gz?: boolean; labels?: number } = {}) {
  const images = encodeIdx({
    dtype: "u8",
    shape: [n, 28, 28],
    data: Uint8Array.from({ length: n * 784 }, (_, i) => i & 255),
  });
  const labels = encodeIdx({
    dtype: "u8",
    shape: [opts.labels ?? n],
    data: Uint8Array.from({ length: opts.labels ?? n }, (_, i) => i % 10),
  });
  for (const split of ["train", "t10k"]) {
    const ext = opts.gz ? ".gz" : "";
    await Deno.writeFile(
      `${dir}/${split}-images-idx3-ubyte${ext}`,
      opts.gz ? await gzip(images) : images,
    );
    await Deno.writeFile(
      `${dir}/${split}-labels-idx1-ubyte${ext}`,
      opts.gz ? await gzip(labels) : labels,
    );
  }
}

Deno.test("findDataset takes the first directory with all four files, plain or gzipped", async () => {
  await withTempDir(async (root) => {
    const [empty, partial, full] = [`${root}/empty`, `${root}/partial`, `${root}/full`];
    for (const d of [empty, partial, full]) await Deno.mkdir(d);
    await writeFake(full, 3, { gz: true });
    await Deno.copyFile(
      `${full}/train-images-idx3-ubyte.gz`,
      `${partial}/train-images-idx3-ubyte.gz`,
    );
    await Deno.copyFile(`${full}/train-labels-idx1-ubyte.gz`, `${partial}/train-labels.idx1-ubyte`);
    const r = findDataset("mnist", { dirs: [empty, partial, full] });
    assertEquals(
      r,
      E.right({
        dir: full,
        trainImages: `${full}/train-images-idx3-ubyte.gz`,
        trainLabels: `${full}/train-labels-idx1-ubyte.gz`,
        testImages: `${full}/t10k-images-idx3-ubyte.gz`,
        testLabels: `${full}/t10k-labels-idx1-ubyte.gz`,
      }),
    );
    const e = expectLeft(
      findDataset("fashion-mnist", { dirs: [empty, partial] }),
      "missing-dataset",
    );
    assert(e.message.includes(`${empty} (no dataset files)`), e.message);
    assert(
      e.message.includes(
        `${partial} (lacks t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])`,
      ),
      e.message,
    );
    assert(e.message.includes("apt-get install dataset-fashion-mnist"), e.message);
    assert(e.message.includes("DENAX_DATA"), e.message);
  });
});

Deno.test("loadMnistLike loads a fake dataset and checks it is consistent", async () => {
  await withTempDir(async (dir) => {
    await writeFake(dir, 5);
    const ds = await loadMnistLike("mnist", { dirs: [dir], download: false });
    if (E.isLeft(ds)) throw ds.left;
    assertEquals([ds.right.train.n, ds.right.test.n], [5, 5]);
    assertEquals(ds.right.train.labels, new Uint8Array([0, 1, 2, 3, 4]));
    assertEquals(ds.right.classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    await writeFake(dir, 5, { labels: 4 });
    expectLeft(
      await loadMnistLike("mnist", { dirs: [dir], download: false }),
      "inconsistent",
      "has 5 images but",
    );
    await writeFake(dir, 5);
    await Deno.writeFile(
      `${dir}/t10k-labels-idx1-ubyte`,
      encodeIdx({ dtype: "u8", shape: [5], data: new Uint8Array([0, 1, 10, 3, 4]) }),
    );
    expectLeft(
      await loadMnistLike("mnist", { dirs: [dir], download: false }),
      "inconsistent",
      "label 10 at index 2",
    );
    await Deno.writeFile(
      `${dir}/t10k-images-idx3-ubyte`,
      encodeIdx({ dtype: "u8", shape: [5, 784], data: new Uint8Array(5 * 784) }),
    );
    expectLeft(
      await loadMnistLike("mnist", { dirs: [dir], download: false }),
      "inconsistent",
      "u8[n,28,28]",
    );
  });
});

Deno.test("loadMnistLike without the data or the network says where it looked and what to do", async () => {
  await withTempDir(async (dir) => {
    const e = expectLeft(
      await loadMnistLike("fashion-mnist", { dirs: [dir], download: false }),
      "missing-dataset",
      dir,
    );
    assert(e.message.includes("help: run `apt-get install dataset-fashion-mnist`"), e.message);
  });
});

Deno.test("loadMnistLike turns an unreachable download host into a clean DataError", async () => {
  await withTempDir(async (dir) => {
    const cacheDir = `${dir}/cache`;
    const e = expectLeft(
      await loadMnistLike("fashion-mnist", {
        dirs: [dir],
        baseUrl: "http://127.0.0.1:9/",
        cacheDir,
        progress: false,
      }),
      "download",
      "Cannot download http://127.0.0.1:9/train-images-idx3-ubyte.gz",
    );
    assert(e.message.includes("apt-get install dataset-fashion-mnist"), e.message);
    assert(e.message.includes(`fashion-mnist is not in ${dir}`), e.message);
    // A port nothing listens on: connection refused rather than a blocked port.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    expectLeft(
      await loadMnistLike("mnist", {
        dirs: [dir],
        baseUrl: `http://127.0.0.1:${port}/`,
        cacheDir,
        progress: false,
      }),
      "download",
      `Cannot download http://127.0.0.1:${port}/train-images-idx3-ubyte.gz`,
    );
    expectLeft(
      await loadMnistLike("mnist", { dirs: [dir], baseUrl: "not a url", cacheDir }),
      "download",
      "invalid baseUrl not a url",
    );
    const left = [];
    for await (const f of Deno.readDir(cacheDir)) left.push(f.name);
    assertEquals(left, []); // no partial files
  });
});

Deno.test("loadMnistLike downloads into the cache directory from a local server", async () => {
  await withTempDir(async (dir) => {
    const served = `${dir}/served`, cacheDir = `${dir}/cache`;
    await Deno.mkdir(served);
    await writeFake(served, 4, { gz: true });
    const requests: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const path = new URL(req.url).pathname;
      requests.push(path);
      if (path.startsWith("/missing/")) return new Response("no", { status: 404 });
      const body = await Deno.readFile(`${served}/${path.split("/").at(-1)}`);
      if (path.startsWith("/corrupt/")) body[body.length - 5] ^= 0xff;
      return new Response(body);
    });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const opts = { dirs: [dir], cacheDir, progress: false };
      expectLeft(
        await loadMnistLike("mnist", { ...opts, baseUrl: `${base}/missing/` }),
        "download",
        "HTTP 404",
      );
      expectLeft(await loadMnistLike("mnist", { ...opts, baseUrl: `${base}/corrupt/` }), "gzip");
      let names: string[] = [];
      for await (const f of Deno.readDir(cacheDir)) names.push(f.name);
      assertEquals(names, []); // the corrupt download was removed
      requests.length = 0;
      const ds = await loadMnistLike("mnist", { ...opts, baseUrl: `${base}/ok` });
      if (E.isLeft(ds)) throw ds.left;
      assertEquals([ds.right.train.n, ds.right.test.n], [4, 4]);
      assertEquals(requests.length, 4);
      names = [];
      for await (const f of Deno.readDir(cacheDir)) names.push(f.name);
      assertEquals(names.sort(), [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
      ]);
      // Next time the cache is found without any request.
      requests.length = 0;
      const again = await loadMnistLike("mnist", { dirs: [cacheDir], progress: false });
      assert(E.isRight(again));
      assertEquals(requests, []);
    } finally {
      await server.shutdown();
    }
  });
});
