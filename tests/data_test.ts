import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { compileStats, init, jit, np, random, type Tensor } from "../mod.ts";
import {
  batches,
  charDataset,
  chars,
  epochKey,
  linearRegression,
  lmWindows,
  mnistTensors,
  numBatches,
  numExamples,
  packBytes,
  padSequences,
  spirals,
  splitData,
  subset,
  timeMachineOpening,
  trainValSplit,
  truthTable,
  twoMoons,
  unpackBytes,
  Vocab,
} from "../data/mod.ts";
import { flat } from "./helpers.ts";

await init({ backend: "cpu" });

// ---------------------------------------------------------------- synthetic

Deno.test("linearRegression follows y = Xw + b with noise of the requested spread", async () => {
  const w = [2, -3.4, 0.5];
  const { x, y } = linearRegression(random.key(0), { w, b: 4.2, n: 4000, noise: 0.1 });
  assertEquals([x.shape, y.shape, x.dtype, y.dtype], [[4000, 3], [4000], "f32", "f32"]);
  const resid = y.sub(np.matmul(x, np.array(w))).sub(4.2);
  assertAllClose(await resid.mean().item() as number, 0, { atol: 0.01 });
  assertAllClose(await resid.std().item() as number, 0.1, { rtol: 0.05 });
  // X ~ N(0, 1)
  assertAllClose(await x.mean().item() as number, 0, { atol: 0.05 });
  assertAllClose(await x.std().item() as number, 1, { rtol: 0.05 });
});

Deno.test("synthetic sets are reproducible from the key and differ across keys", async () => {
  const a = linearRegression(random.key(3), { n: 20 });
  const b = linearRegression(random.key(3), { n: 20 });
  const c = linearRegression(random.key(4), { n: 20 });
  assertEquals(await flat(a.x), await flat(b.x));
  assertEquals(await flat(a.y), await flat(b.y));
  assert((await flat(a.x)).join() !== (await flat(c.x)).join());
  const m1 = twoMoons(random.key(5), { n: 30 }), m2 = twoMoons(random.key(5), { n: 30 });
  assertEquals(await flat(m1.x), await flat(m2.x));
  assertEquals(await flat(m1.y), await flat(m2.y));
});

Deno.test("twoMoons without noise puts each class on its half circle", async () => {
  const { x, y } = twoMoons(random.key(1), { n: 101, noise: 0 });
  assertEquals([x.shape, y.shape, y.dtype], [[101, 2], [101], "i32"]);
  const xs = await flat(x), ys = await flat(y);
  assertEquals(ys.filter((v) => v === 0).length, 51); // n − ⌊n/2⌋ on the outer moon
  for (let i = 0; i < 101; i++) {
    const [px, py] = [xs[2 * i], xs[2 * i + 1]];
    const r = ys[i] === 0 ? Math.hypot(px, py) : Math.hypot(px - 1, py - 0.5);
    assertAllClose(r, 1, { atol: 1e-5 });
    assert(ys[i] === 0 ? py >= -1e-6 : py <= 0.5 + 1e-6);
  }
});

Deno.test("twoMoons shuffles by default and keeps moon order with shuffle false", async () => {
  const ordered = await flat(twoMoons(random.key(2), { n: 10, shuffle: false }).y);
  assertEquals(ordered, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const shuffled = await flat(twoMoons(random.key(2), { n: 40 }).y);
  assertEquals(shuffled.reduce((a, b) => a + b), 20);
  assert(shuffled.join() !== [...shuffled].sort().join());
});

Deno.test("spirals have n points per class inside the unit disc", async () => {
  const { x, y } = spirals(random.key(0), { n: 60, classes: 3, noise: 0.3 });
  assertEquals([x.shape, y.shape], [[180, 2], [180]]);
  const xs = await flat(x), ys = await flat(y);
  for (let c = 0; c < 3; c++) assertEquals(ys.filter((v) => v === c).length, 60);
  for (let i = 0; i < 180; i++) assert(Math.hypot(xs[2 * i], xs[2 * i + 1]) <= 1 + 1e-6);
  assertThrows(() => spirals(random.key(0), { classes: 0 }), RangeError, "classes");
});

Deno.test("truthTable gives AND, OR, XOR and parity for more inputs", async () => {
  assertEquals(await flat(truthTable("and").y), [0, 0, 0, 1]);
  assertEquals(await flat(truthTable("or").y), [0, 1, 1, 1]);
  assertEquals(await flat(truthTable("xor").y), [0, 1, 1, 0]);
  assertEquals(await flat(truthTable("nand").y), [1, 1, 1, 0]);
  const three = truthTable("xor", { inputs: 3, dtype: "i32" });
  assertEquals([three.x.shape, three.y.dtype], [[8, 3], "i32"]);
  assertEquals(await flat(three.y), [0, 1, 1, 0, 1, 0, 0, 1]);
  assertThrows(() => truthTable("implies" as "and"), RangeError, "unknown op");
});

// ---------------------------------------------------------------- text

Deno.test("a character vocabulary round-trips the corpus", () => {
  const vocab = Vocab.build(chars(timeMachineOpening));
  assertEquals(vocab.tokens.slice(0, 4), ["<pad>", "<bos>", "<eos>", "<unk>"]);
  assertEquals([vocab.pad, vocab.bos, vocab.eos, vocab.unk], [0, 1, 2, 3]);
  assertEquals(vocab.tokens[4], " "); // the most frequent character
  const ids = vocab.encode(timeMachineOpening, { bos: true, eos: true });
  assertEquals([ids[0], ids.at(-1)], [vocab.bos, vocab.eos]);
  assert(!ids.includes(vocab.unk));
  assertEquals(vocab.decode(ids), timeMachineOpening);
  assertEquals(vocab.decode(new Int32Array([1, 0, 0])), "");
});

Deno.test("Vocab maps rare and unseen tokens to UNK and does not depend on corpus order", () => {
  const toks = chars(timeMachineOpening);
  const v = Vocab.build(toks, { minFreq: 5 });
  const rare = toks.filter((c) => toks.filter((d) => d === c).length < 5);
  assert(rare.length > 0);
  assert(rare.every((c) => v.id(c) === v.unk));
  assertEquals(v.decode(v.encode("é")), "<unk>");
  assertEquals(Vocab.build([...toks].reverse()).tokens, Vocab.build(toks).tokens);
  assertEquals(Vocab.build(toks, { maxSize: 3 }).size, 7);
  assertThrows(() => v.decode([v.size]), RangeError, "outside the vocabulary");
  assertThrows(() => Vocab.build(toks, { minFreq: 0 }), RangeError, "minFreq");
});

Deno.test("lmWindows pairs each window with the next tokens", async () => {
  const ids = Array.from({ length: 20 }, (_, i) => i);
  const { x, y } = lmWindows(ids, { seqLen: 4, stride: 3 });
  assertEquals(x.shape, [6, 4]); // ⌊(20 − 1 − 4) / 3⌋ + 1
  const xs = await flat(x), ys = await flat(y);
  for (let k = 0; k < 6; k++) {
    for (let j = 0; j < 4; j++) {
      assertEquals(xs[k * 4 + j], 3 * k + j);
      assertEquals(ys[k * 4 + j], 3 * k + j + 1);
    }
  }
  assertThrows(() => lmWindows([1, 2, 3], { seqLen: 3 }), RangeError, "too short");
  const ds = charDataset(timeMachineOpening, { seqLen: 16, stride: 1 });
  assertEquals(ds.x.shape, [Array.from(timeMachineOpening).length - 16, 16]);
  assertEquals(ds.vocab.decode(await ds.x.index(0).data()), timeMachineOpening.slice(0, 16));
});

Deno.test("padSequences pads with PAD and masks the padding", async () => {
  const { ids, mask, lengths } = padSequences([[4, 5], [6, 7, 8, 9]], { length: 3, padId: 0 });
  assertEquals(await ids.toArray(), [[4, 5, 0], [6, 7, 8]]);
  assertEquals(await mask.toArray(), [[1, 1, 0], [1, 1, 1]]);
  assertEquals(await lengths.toArray(), [2, 3]);
});

// ---------------------------------------------------------------- batches

const indexData = (n: number) => ({
  x: np.arange(2 * n).reshape(n, 2).astype("f32"),
  y: np.arange(n, undefined, 1, "i32"),
});

async function epochOrder(
  n: number,
  opts: Parameters<typeof batches>[1],
): Promise<{ order: number[]; sizes: number[] }> {
  const order: number[] = [], sizes: number[] = [];
  for (const b of batches(indexData(n), opts)) {
    const ys = await flat(b.y), xs = await flat(b.x);
    ys.forEach((v, i) => assertEquals([xs[2 * i], xs[2 * i + 1]], [2 * v, 2 * v + 1]));
    order.push(...ys);
    sizes.push(ys.length);
  }
  return { order, sizes };
}

Deno.test("batches cover every example once per epoch, keeping x and y aligned", async () => {
  const key = random.key(7);
  const { order, sizes } = await epochOrder(23, { batchSize: 5, shuffle: key, epoch: 1 });
  assertEquals(sizes, [5, 5, 5, 5, 3]);
  assertEquals([...order].sort((a, b) => a - b), Array.from({ length: 23 }, (_, i) => i));
  assert(order.join() !== Array.from({ length: 23 }, (_, i) => i).join());
});

Deno.test("batches shuffle deterministically by key and epoch", async () => {
  const key = random.key(11);
  const a = await epochOrder(16, { batchSize: 4, shuffle: key, epoch: 2 });
  const b = await epochOrder(16, { batchSize: 4, shuffle: key, epoch: 2 });
  const c = await epochOrder(16, { batchSize: 4, shuffle: key, epoch: 3 });
  const d = await epochOrder(16, { batchSize: 4, shuffle: epochKey(key, 2) });
  assertEquals(a.order, b.order);
  assertEquals(a.order, d.order); // epoch e uses foldIn(key, e)
  assert(a.order.join() !== c.order.join());
});

Deno.test("batches without shuffling keep order, and dropLast drops the remainder", async () => {
  const plain = await epochOrder(10, { batchSize: 4 });
  assertEquals(plain.order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assertEquals(plain.sizes, [4, 4, 2]);
  const dropped = await epochOrder(10, { batchSize: 4, dropLast: true, shuffle: random.key(0) });
  assertEquals(dropped.sizes, [4, 4]);
  assertEquals(new Set(dropped.order).size, 8);
  assertEquals((await epochOrder(3, { batchSize: 4, dropLast: true })).sizes, []);
  assertEquals([numBatches(10, 4, false), numBatches(10, 4, true)], [3, 2]);
  assertThrows(() => batches(indexData(3), { batchSize: 0 }).next(), RangeError, "batchSize");
});

Deno.test("batches accept any pytree and reject leaves of different lengths", async () => {
  const data = { inputs: [np.zeros([6, 2]), np.ones([6])], label: np.arange(6) };
  const got = [...batches(data, { batchSize: 4 })];
  assertEquals(got.map((b) => b.inputs[0].shape), [[4, 2], [2, 2]]);
  assertEquals(await got[1].label.toArray(), [4, 5]);
  assertThrows(
    () => numExamples({ x: np.zeros([3, 2]), y: np.zeros([4]) }),
    TypeError,
    "leaves disagree on the number of examples: x f32[3,2], y f32[4]",
  );
  assertThrows(() => numExamples({ x: np.zeros([]) }), TypeError, "leading example axis");
  assertThrows(() => numExamples({ x: [1, 2] }), TypeError, "must be a Tensor");
});

Deno.test("trainValSplit sizes are disjoint and cover every index", async () => {
  const { train, val } = trainValSplit(50, 0.2, random.key(0));
  assertEquals([train.shape, val.shape, train.dtype], [[40], [10], "i32"]);
  const all = [...await flat(train), ...await flat(val)].sort((a, b) => a - b);
  assertEquals(all, Array.from({ length: 50 }, (_, i) => i));
  assertEquals(trainValSplit(7, 0, random.key(0)).val.shape, [0]);
  assertEquals(trainValSplit(7, 1, random.key(0)).train.shape, [0]);
  assertThrows(() => trainValSplit(7, 1.5, random.key(0)), RangeError, "valFraction");
  const again = trainValSplit(50, 0.2, random.key(0));
  assertEquals(await flat(again.val), await flat(val));
});

Deno.test("splitData and subset gather examples on the device", async () => {
  const data = indexData(10);
  const s = subset(data, [9, 0, 3]);
  assertEquals(await s.y.toArray(), [9, 0, 3]);
  assertEquals(await s.x.toArray(), [[18, 19], [0, 1], [6, 7]]);
  const { train, val } = splitData(data, 0.3, random.key(2));
  assertEquals([numExamples(train), numExamples(val)], [7, 3]);
  const ys = [...await flat(train.y), ...await flat(val.y)].sort((a, b) => a - b);
  assertEquals(ys, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("mnistTensors scales, flattens and limits a split", async () => {
  const images = new Uint8Array(3 * 784);
  images[784] = 255;
  images[2 * 784 + 5] = 51;
  const split = { images, labels: new Uint8Array([7, 2, 9]), n: 3 };
  const { x, y } = mnistTensors(split, { limit: 2 });
  assertEquals([x.shape, y.shape, y.dtype], [[2, 784], [2], "i32"]);
  assertEquals(await flat(x.index(1).index([0, 1])), [1]);
  const raw = mnistTensors(split, { flatten: false, scale: false });
  assertEquals(raw.x.shape, [3, 28, 28]);
  assertEquals(await flat(raw.x.reshape(3, 784).index(2).index([5, 6])), [51]);
});

Deno.test("batches gather every full batch with one compiled program", () => {
  const data = { x: np.zeros([37, 3]), y: np.zeros([37], "i32") };
  const before = compileStats.traces;
  for (const _ of batches(data, { batchSize: 4, shuffle: random.key(0), epoch: 1 }));
  assertEquals(compileStats.traces - before, 1);
  for (const _ of batches(data, { batchSize: 4, shuffle: random.key(0), epoch: 2 }));
  assertEquals(compileStats.traces - before, 1);
});

Deno.test("packBytes stores four bytes per u32 and unpackBytes restores them, also under jit", async () => {
  const bytes = new Uint8Array(2 * 12).map((_, i) => (i * 37) % 256);
  const packed = packBytes(bytes, [2, 12]);
  assertEquals([packed.dtype, packed.shape], ["u32", [2, 3]]);
  const back = unpackBytes(packed);
  assertEquals([back.dtype, back.shape], ["f32", [2, 12]]);
  assertEquals(await flat(back), Array.from(bytes));
  const viaJit = jit((w: Tensor) => unpackBytes(w).sum())(packed);
  assertEquals(await viaJit.item(), bytes.reduce((a, b) => a + b, 0));
  // an unaligned view is copied first
  assertEquals(await flat(unpackBytes(packBytes(bytes.subarray(1, 5), [4]))), [37, 74, 111, 148]);
  assertThrows(() => packBytes(bytes, [4, 6]), TypeError, "multiple of 4");
  assertThrows(() => unpackBytes(np.zeros([3])), TypeError, "u32[..., k]");
});

Deno.test("mnistTensors packed keeps bytes and gathers like the f32 version", async () => {
  const images = new Uint8Array(3 * 784).map((_, i) => (i * 7) % 256);
  const split = { images, labels: new Uint8Array([1, 2, 3]), n: 3 };
  const packed = mnistTensors(split, { packed: true });
  assertEquals([packed.x.dtype, packed.x.shape], ["u32", [3, 196]]);
  const rows = subset(packed, [2, 0]);
  const plain = subset(mnistTensors(split, { scale: false }), [2, 0]);
  assertEquals(await flat(unpackBytes(rows.x)), await flat(plain.x));
});
