/**
 * d2l's data: bilinear resizing against PyTorch / torchvision (fixture made by
 * `tools/make_d2l_resize_fixture.py`), the packed-bytes MNIST loaders on synthetic splits,
 * and `loadDataFashionMnist` on the real files when they are installed.
 */
import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { np, random } from "../mod.ts";
import {
  DataError,
  encodeIdx,
  findDataset,
  loadDataFashionMnist,
  loadMnistLike,
  mnistSource,
  resizeBilinear,
  tensorSource,
} from "../data/mod.ts";

const fixture = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/d2l/resize.json", import.meta.url)),
);

Deno.test("resizeBilinear matches PyTorch's bilinear interpolation (align_corners=False)", async () => {
  const x = np.array(fixture.input);
  for (const c of fixture.cases) {
    const y = resizeBilinear(x, c.size);
    assertEquals(y.shape, [1, 2, ...c.size]);
    assertAllClose(await y.toArray(), c.output, { rtol: 1e-5, atol: 1e-5 });
  }
});

Deno.test("resizeBilinear to 64 matches torchvision's Resize, and d2l's PIL path up to u8 rounding", async () => {
  const img = np.array(fixture.image).div(255);
  const y = resizeBilinear(img.reshape(1, 1, 28, 28), 64);
  const got = (await y.reshape(64, 64).toArray()) as number[][];
  assertAllClose(got, fixture.image64_torchvision, { rtol: 1e-5, atol: 1e-5 });
  // PIL interpolates with the same weights for enlarging, rounding to a byte after each of its
  // two passes (rows, then columns): at most one u8 step apart
  const pil = fixture.image64_pil as number[][];
  let worst = 0;
  got.forEach((row, i) =>
    row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v * 255 - pil[i][j]))))
  );
  assert(worst <= 1 + 1e-3, `largest difference to PIL ${worst} (in u8 steps)`);
});

Deno.test("resizeBilinear rejects bad sizes and inputs", () => {
  assertThrows(() => resizeBilinear(np.ones([4]), 8), TypeError, "f32[4]");
  assertThrows(() => resizeBilinear(np.ones([4, 4]), [0, 3]), RangeError, "[0, 3]");
});

/** A synthetic split: image i is filled with byte 10·i (plus its pixel index mod 7), label i mod 10. */
function split(n: number) {
  const images = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 784; p++) images[i * 784 + p] = (10 * i + (p % 7)) % 256;
  }
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10), n };
}

Deno.test("mnistSource gives f32[b, 1, 28, 28] batches in [0, 1] with i32 labels, in order", async () => {
  const src = mnistSource(split(10), 4);
  assertEquals([src.numExamples, src.batchSize], [10, 4]);
  const bs = [...src];
  assertEquals(bs.map((b) => b.x.shape), [[4, 1, 28, 28], [4, 1, 28, 28], [2, 1, 28, 28]]);
  assertEquals(bs[0].x.dtype, "f32");
  assertEquals(bs[2].y.dtype, "i32");
  assertEquals(await bs[2].y.toArray(), [8, 9]);
  const first = (await bs[1].x.toArray()) as number[][][][];
  // example 5, row 0, pixels 0..7: bytes 50 + p mod 7
  assertAllClose(first[1][0][0].slice(0, 8), [50, 51, 52, 53, 54, 55, 56, 50].map((v) => v / 255), {
    rtol: 1e-6,
  });
  assertEquals([...src.batches({ dropLast: true })].length, 2);
});

Deno.test("a shuffling mnistSource sees every example once per epoch, in a new order each epoch", async () => {
  const src = mnistSource(split(12), 5, { shuffle: random.key(3), resize: [8, 6] });
  const epoch = async () => {
    const ys: number[] = [];
    for (const b of src) {
      assertEquals(b.x.shape.slice(1), [1, 8, 6]);
      // each resized image is constant per example up to the p mod 7 ripple: mean ≈ 10·i + 3
      ys.push(...(await b.y.toArray()) as number[]);
    }
    return ys;
  };
  const [e1, e2] = [await epoch(), await epoch()];
  assertEquals([...e1].sort((a, b) => a - b), [0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert(e1.join() !== e2.join(), `the same order twice: ${e1}`);
  // an explicit epoch reproduces the order
  const order = async (epoch: number) => {
    const ys: number[] = [];
    for (const b of src.batches({ epoch })) ys.push(...(await b.y.toArray()) as number[]);
    return ys;
  };
  assertEquals(await order(7), await order(7));
});

Deno.test("tensorSource validates its batch size", () => {
  assertThrows(() => tensorSource({ x: np.ones([3]) }, { batchSize: 0 }), RangeError, "batchSize");
});

Deno.test("loadDataFashionMnist reads IDX files into packed loaders", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = split(6);
    const images = encodeIdx({ dtype: "u8", shape: [6, 28, 28], data: s.images });
    const labels = encodeIdx({ dtype: "u8", shape: [6], data: s.labels });
    for (const name of ["train", "t10k"]) {
      await Deno.writeFile(`${dir}/${name}-images-idx3-ubyte`, images);
      await Deno.writeFile(`${dir}/${name}-labels-idx1-ubyte`, labels);
    }
    const { train, test, classNames } = await loadDataFashionMnist(4, {
      dirs: [dir],
      download: false,
      resize: 32,
      key: random.key(1),
    });
    assertEquals(classNames[9], "Ankle boot");
    assertEquals([train.numExamples, test.numExamples], [6, 6]);
    const [b] = test;
    assertEquals(b.x.shape, [4, 1, 32, 32]);
    assertEquals(await b.y.toArray(), [0, 1, 2, 3]);
    const empty = await Deno.makeTempDir();
    await assertRejects(
      () => loadDataFashionMnist(4, { dirs: [empty], download: false }),
      DataError,
      empty,
    );
    await Deno.remove(empty);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const real = findDataset("fashion-mnist");

Deno.test({
  name: "loadDataFashionMnist gives the real Fashion-MNIST's pixels and labels, resized on request",
  ignore: real._tag === "Left",
  async fn() {
    const raw = await loadMnistLike("fashion-mnist", { download: false });
    if (raw._tag === "Left") throw raw.left;
    const { train, test } = await loadDataFashionMnist(64, { limit: 200, download: false });
    assertEquals([train.numExamples, test.numExamples], [200, 200]);
    const [b] = test;
    assertEquals(b.x.shape, [64, 1, 28, 28]);
    const want = Array.from(raw.right.test.images.subarray(0, 784), (v) => v / 255);
    assertAllClose(((await b.x.toArray()) as number[][][][])[0][0].flat(), want, { rtol: 1e-6 });
    assertEquals(await b.y.toArray(), Array.from(raw.right.test.labels.subarray(0, 64)));
    const big = await loadDataFashionMnist(16, { limit: 32, resize: 96, download: false });
    const [t] = big.train;
    assertEquals(t.x.shape, [16, 1, 96, 96]);
    const m = await t.x.max().item() as number;
    assert(m > 0.5 && m <= 1 + 1e-6, `max pixel ${m}`);
  },
});

if (real._tag === "Left") {
  console.log("d2l_data_test: Fashion-MNIST is not installed; the real-data test is skipped");
}

Deno.test({
  name: "the whole Fashion-MNIST training set loads without one 188 MB f32 buffer",
  ignore: real._tag === "Left",
  async fn() {
    const { train } = await loadDataFashionMnist(256, { download: false, key: random.key(0) });
    assertEquals(train.numExamples, 60000);
    const it = train[Symbol.iterator]();
    const first = it.next().value!;
    assertEquals(first.x.shape, [256, 1, 28, 28]);
    const ys = (await first.y.toArray()) as number[];
    assert(ys.every((y) => y >= 0 && y < 10));
    // shuffled: not the file's first 256 labels
    const raw = await loadMnistLike("fashion-mnist", { download: false });
    if (raw._tag === "Left") throw raw.left;
    assert(ys.join() !== Array.from(raw.right.train.labels.subarray(0, 256)).join());
  },
});
