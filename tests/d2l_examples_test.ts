/**
 * The d2l examples (examples/d2l/) on a few hundred Fashion-MNIST images: training lowers the
 * loss and writes its curves, the autoencoder writes its reconstruction grid, the results
 * table lists every family; and `models.pca` on the first 400 test images against NumPy's
 * explained-variance ratios (tests/testdata/models/pca_fashion_mnist.json, made by
 * tools/pca_fixture.py). The tests that read Fashion-MNIST are skipped when it is not
 * installed.
 *
 * @module
 */
import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertRejects } from "@std/assert";
import { models, np, random, type Tensor, train, tree } from "../mod.ts";
import { loadMnistLike } from "../data/mod.ts";
import { d2lInit, parseD2lArgs, trainD2l } from "../examples/d2l/_common.ts";
import { spec as softmaxSpec } from "../examples/d2l/softmax.ts";
import { spec as lenetBNSpec } from "../examples/d2l/lenet_bn.ts";
import { trainAutoencoder } from "../examples/d2l/autoencoder.ts";
import { families, resultsTable } from "../examples/d2l/run_all.ts";

const real = await loadMnistLike("fashion-mnist", { download: false });
const noData = real._tag === "Left";
if (noData) console.log("d2l_examples_test: Fashion-MNIST is not installed; its tests are skipped");

const assertIncludes = (s: string, part: string) =>
  assert(s.includes(part), `expected ${JSON.stringify(part)} in:\n${s}`);

const isPng = async (path: string) => {
  const b = await Deno.readFile(path);
  return b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
};

Deno.test({
  name: "the softmax example trains: the loss falls over two epochs and the curves are written",
  ignore: noData,
  fn: async () => {
    const out = await Deno.makeTempDir();
    try {
      const r = await trainD2l(softmaxSpec, {
        epochs: 2,
        limit: 512,
        testLimit: 500,
        progress: false,
        out,
      }, "test");
      assertEquals([r.epochs, r.limit, r.testLimit, r.params], [2, 512, 500, 7850]);
      assert(r.losses[1] < r.losses[0], `losses ${r.losses}`);
      assert(r.testAcc > 0.3, `test accuracy ${r.testAcc} is no better than chance`);
      assert(r.secondsPerEpoch > 0);
      assertIncludes(await Deno.readTextFile(`${out}/softmax.svg`), "<polyline");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "the BN-LeNet example carries its running statistics into the test evaluation",
  ignore: noData,
  fn: async () => {
    const out = await Deno.makeTempDir();
    try {
      const r = await trainD2l(lenetBNSpec, {
        epochs: 1,
        limit: 256,
        testLimit: 256,
        batchSize: 64,
        progress: false,
        out,
      }, "test");
      assertEquals(r.losses.length, 1);
      assert(Number.isFinite(r.losses[0]) && r.testAcc >= 0 && r.testAcc <= 1);
      assert((await Deno.stat(`${out}/lenet_bn.svg`)).isFile);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "a d2l run resumed from its checkpoint ends as the uninterrupted run, statistics included",
  ignore: noData,
  fn: async () => {
    const out = await Deno.makeTempDir();
    try {
      // BN-LeNet: parameters and running statistics in the checkpoint; dropout-free, but the
      // shuffle of each epoch depends on its number
      const opts = { limit: 192, testLimit: 256, batchSize: 64, progress: false, out };
      const whole = await trainD2l(lenetBNSpec, {
        ...opts,
        epochs: 3,
        checkpoint: `${out}/whole.safetensors`,
      }, "test");
      const ck = `${out}/part.safetensors`;
      const first = await trainD2l(lenetBNSpec, { ...opts, epochs: 1, checkpoint: ck }, "test");
      assertEquals(first.losses, whole.losses.slice(0, 1));
      const rest = await trainD2l(lenetBNSpec, { ...opts, epochs: 3, checkpoint: ck }, "test");
      assertEquals(rest.losses, whole.losses);
      assertEquals(rest.testAccs, whole.testAccs);
      assertEquals(rest.resumedAfter, [1]);
      assertEquals(whole.resumedAfter, undefined);
      const a = await train.load(`${out}/whole.safetensors`);
      const b = await train.load(ck);
      if (a._tag === "Left" || b._tag === "Left") throw new Error("checkpoint unreadable");
      const flat = (t: unknown) => Promise.all(tree.leaves(t).map((x) => (x as Tensor).toArray()));
      assertEquals(await flat(b.right), await flat(a.right));
      assert(tree.leaves((a.right as { state: unknown }).state).length > 0, "no statistics saved");
      // another run's checkpoint is refused, naming what differs
      await assertRejects(
        () => trainD2l(lenetBNSpec, { ...opts, lr: 0.5, epochs: 4, checkpoint: ck }, "test"),
        Error,
        "its lr is 1, this run's 0.5",
      );
      await assertRejects(
        () => trainD2l(lenetBNSpec, { ...opts, epochs: 3, checkpoint: ck }, "test"),
        Error,
        "already holds 3 epochs of 3",
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("the d2l command line parses its options, --checkpoint included", () => {
  const a = parseD2lArgs([
    "--epochs",
    "3",
    "--limit",
    "512",
    "--seed",
    "0",
    "--lr",
    "0.05",
    "--checkpoint",
    "runs/nin.safetensors",
    "--json",
    "nin.json",
    "--quiet",
  ]);
  assertEquals(
    [a.epochs, a.limit, a.seed, a.lr, a.checkpoint, a.json, a.progress, a.help],
    [3, 512, 0, 0.05, "runs/nin.safetensors", "nin.json", false, false],
  );
  assertEquals(parseD2lArgs([]).checkpoint, undefined);
  let err: unknown;
  try {
    parseD2lArgs(["--epochs", "0"]);
  } catch (e) {
    err = e;
  }
  assert(err instanceof RangeError && err.message === "--epochs must be a positive integer, got 0");
});

Deno.test("d2lInit re-draws conv and linear weights only, with d2l's scales", async () => {
  const net = models.lenetBN();
  const p = net.init(random.key(0)) as unknown as Record<string, { weight?: Tensor }>;
  const q = d2lInit(p, "xavier", random.key(1)) as typeof p;
  // conv 0: 6×1×5×5, Glorot bound √(6 / (25 + 150))
  const w0 = q[0].weight!;
  assert((await w0.abs().max().item() as number) <= Math.sqrt(6 / 175) + 1e-6);
  const moved = await w0.sub(p[0].weight!).abs().max().item() as number;
  assert(moved > 1e-3, "the conv weight was not re-drawn");
  // batch norm 1: its 1-d weight (γ = 1) is kept
  assertAllClose(await q[1].weight!.toArray(), await p[1].weight!.toArray());
  const n = d2lInit(
    { weight: np.zeros([256, 784]), bias: np.ones([256]) },
    "normal",
    random.key(2),
  );
  const std = await n.weight.std().item() as number;
  assert(Math.abs(std - 0.01) < 5e-4, `std ${std}`);
  assertAllClose(await n.bias.toArray(), new Array(256).fill(1));
});

Deno.test({
  name: "the autoencoder example lowers its loss and writes originals above reconstructions",
  ignore: noData,
  fn: async () => {
    const out = await Deno.makeTempDir();
    try {
      const r = await trainAutoencoder({ epochs: 2, limit: 512, out, progress: false });
      assert(r.losses[1] < r.losses[0], `losses ${r.losses}`);
      assertEquals(r.files, [`${out}/ae_recon.png`]);
      assert(await isPng(r.files[0]));
      // 32 tiles 28×28 (16 originals, 16 reconstructions) in 8 columns, 2 pixels of padding:
      // 8·28 + 9·2 wide, 4·28 + 5·2 high
      const b = await Deno.readFile(r.files[0]);
      const v = new DataView(b.buffer);
      assertEquals([v.getUint32(16), v.getUint32(20)], [242, 122]);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("the results table has a row per family and says which were not run", () => {
  const table = resultsTable({
    lenet: {
      family: "lenet",
      model: "LeNet",
      params: 61706,
      epochs: 2,
      limit: 6000,
      testLimit: 1000,
      batchSize: 256,
      lr: 0.9,
      testAcc: 0.5,
      losses: [2.3, 1.1],
      testAccs: [0.1, 0.5],
      secondsPerEpoch: 10,
      backend: "native",
      date: "2026-12-06",
      d2lAccuracy: 0.8,
      svg: "out/d2l/lenet.svg",
    },
  });
  const rows = table.split("\n");
  assertEquals(rows.length, 2 + families.length);
  assertIncludes(table, "| LeNet | 61,706 | 2 | 6000 | 1000 | 0.500 | 0.80 | 10.0 | 100 |");
  assertEquals(rows.filter((r) => r.includes("not run")).length, families.length - 1);
});

Deno.test({
  name: "models.pca of 400 Fashion-MNIST test images explains the variance NumPy finds",
  ignore: noData,
  fn: async () => {
    if (real._tag === "Left") return;
    const ref = JSON.parse(
      await Deno.readTextFile(new URL("testdata/models/pca_fashion_mnist.json", import.meta.url)),
    ) as { n: number; k: number; explained_variance_ratio: number[]; explained_variance: number[] };
    const { n, k } = ref;
    const bytes = real.right.test.images.subarray(0, n * 784);
    const x = np.array(Float32Array.from(bytes, (b) => b / 255), { shape: [n, 784] });
    const fit = models.pca({ nComponents: k }).fit(x);
    assertAllClose(await fit.explainedVarianceRatio.toArray(), ref.explained_variance_ratio, {
      rtol: 2e-3,
      atol: 1e-5,
    });
    assertAllClose(await fit.explainedVariance.toArray(), ref.explained_variance, {
      rtol: 2e-3,
      atol: 1e-5,
    });
  },
});
