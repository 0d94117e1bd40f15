/**
 * The webgpu jit folds the layout glue of convolution gradients into the convolutions
 * (`gpu/jit/conv_fold.ts`): a kernel gradient stores its result transposed, so an SGD update
 * becomes its epilogue. The steps must match the cpu reference on every backend, and on webgpu
 * the update must run inside the convolution's kernels.
 */
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose } from "@std/assert";
import { rng } from "./helpers.ts";
import { grad, jit, lax, np, type Tensor } from "../mod.ts";
import { convGeneralDilated, type ConvOptions } from "../core/lax_conv.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const data = (shape: readonly number[], seed: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: size(shape) }, () => r() * 2 - 1);
};
const arr = (d: Float32Array, shape: readonly number[]) => np.array(d, { shape: [...shape] });

interface Layer {
  readonly name: string;
  readonly x: readonly number[];
  readonly w: readonly number[];
  readonly opts: ConvOptions;
}

const LAYERS: readonly Layer[] = [
  { name: "3×3, padding 1", x: [2, 6, 7, 7], w: [5, 6, 3, 3], opts: { padding: [[1, 1], [1, 1]] } },
  { name: "1×1, stride 2", x: [2, 8, 8, 8], w: [12, 8, 1, 1], opts: { windowStrides: [2, 2] } },
  {
    // a long contraction: the kernel gradient's multiply is split, its sum stores the update
    name: "7×7 stem, stride 2, padding 3",
    x: [4, 1, 28, 28],
    w: [16, 1, 7, 7],
    opts: { windowStrides: [2, 2], padding: [[3, 3], [3, 3]] },
  },
  {
    name: "two feature groups",
    x: [2, 8, 6, 6],
    w: [10, 4, 3, 3],
    opts: { padding: [[1, 1], [1, 1]], featureGroupCount: 2 },
  },
  { name: "1-D, stride 2", x: [3, 5, 12], w: [7, 5, 3], opts: { windowStrides: [2] } },
  // ResNet-18's last stage: a 1 × 1 cotangent, one kernel position, an unsplit kernel gradient
  // whose multiply stores the update through the swapped index itself
  {
    name: "32 → 64 channels, 3×3 at 1×1",
    x: [4, 32, 1, 1],
    w: [64, 32, 3, 3],
    opts: { padding: [[1, 1], [1, 1]] },
  },
];

const lossOf = (l: Layer) => (w: Tensor, x: Tensor) =>
  np.tanh(convGeneralDilated(x, w, l.opts)).square().sum();

Deno.test("a jitted SGD step of a convolution's kernel matches the cpu backend, in place", async () => {
  for (const [k, l] of LAYERS.entries()) {
    const wd = data(l.w, 10 + k), xd = data(l.x, 20 + k);
    const step = (w: Tensor, x: Tensor) => w.sub(grad(lossOf(l))(w, x).mul(0.05));
    const want = await withCpu(() => step(arr(wd, l.w), arr(xd, l.x)).data());
    const got = await jit(step, { donateArgnums: 0 })(arr(wd, l.w), arr(xd, l.x)).data();
    assertAllClose(Array.from(got), Array.from(want), { rtol: 1e-4, atol: 1e-5, msg: l.name });
    if (BACKEND === "webgpu") {
      // the update is the kernel gradient's epilogue: no elementwise kernel of the kernel's shape
      const label = `fused(f32[${l.w.join(",")}])`;
      const ops = lastCompiled()!.program.ops;
      assert(
        !ops.some((o) => o.kind === "dispatch" && o.label === label),
        `${l.name}: a separate ${label}`,
      );
    }
  }
});

Deno.test("a kernel gradient read by several consumers, and a transposed conv read otherwise too, match the cpu backend", async () => {
  const l = LAYERS[0];
  const wd = data(l.w, 1), xd = data(l.x, 2), vd = data(l.w, 3);
  // momentum: the gradient feeds the velocity and the update, and is an output itself
  const step = (w: Tensor, x: Tensor, v: Tensor) => {
    const g = grad(lossOf(l))(w, x);
    const v2 = v.mul(0.9).add(g);
    return [w.sub(v2.mul(0.05)), v2, g];
  };
  const ins = () => [arr(wd, l.w), arr(xd, l.x), arr(vd, l.w)] as const;
  const want = await withCpu(() => Promise.all(step(...ins()).map((t) => t.data())));
  const got = await Promise.all(
    jit(step, { donateArgnums: [0, 2] })(...ins()).map((t) => t.data()),
  );
  got.forEach((g, j) =>
    assertAllClose(Array.from(g), Array.from(want[j]), { rtol: 1e-4, atol: 1e-5 })
  );
  // a convolution read both transposed and as it is: not folded
  const both = (x: Tensor, w: Tensor) => {
    const y = convGeneralDilated(x, w, l.opts);
    return [np.transpose(y, [1, 0, 2, 3]).mul(2), y.add(1)];
  };
  const ins2 = () => [arr(xd, l.x), arr(wd, l.w)] as const;
  const want2 = await withCpu(() => Promise.all(both(...ins2()).map((t) => t.data())));
  const got2 = await Promise.all(jit(both)(...ins2()).map((t) => t.data()));
  got2.forEach((g, j) =>
    assertAllClose(Array.from(g), Array.from(want2[j]), { rtol: 1e-4, atol: 1e-5 })
  );
  // a transposed conv alone, with an epilogue, folded
  const one = (x: Tensor, w: Tensor) =>
    np.transpose(convGeneralDilated(x, w, l.opts), [1, 0, 2, 3]).mul(3).add(x.sum());
  const want3 = await withCpu(() => one(...ins2()).data());
  const got3 = await jit(one)(...ins2()).data();
  assertAllClose(Array.from(got3), Array.from(want3), { rtol: 1e-4, atol: 1e-5 });
});

const INPUT_LAYERS: readonly Layer[] = [
  ...LAYERS,
  {
    name: "3×3, stride 2 (phases)",
    x: [2, 8, 9, 9],
    w: [12, 8, 3, 3],
    opts: { windowStrides: [2, 2], padding: [[1, 1], [1, 1]] },
  },
  // two input channels: the input gradient has two features (the dot-product multiply)
  { name: "two input channels", x: [2, 2, 10, 10], w: [6, 2, 3, 3], opts: {} },
  // one output feature, 5 × 5: the input gradient's input has one channel (stacked rows)
  { name: "one feature, 5×5", x: [2, 6, 12, 12], w: [1, 6, 5, 5], opts: {} },
  { name: "rhs dilation 2", x: [2, 4, 9, 9], w: [6, 4, 3, 3], opts: { rhsDilation: [2, 2] } },
];

Deno.test("a jitted input gradient reads the flipped kernel through a view, matching the cpu backend", async () => {
  for (const [k, l] of INPUT_LAYERS.entries()) {
    const wd = data(l.w, 30 + k), xd = data(l.x, 40 + k), zd = data(l.x, 50 + k);
    const f = (x: Tensor, w: Tensor, z: Tensor) => grad((a: Tensor) => lossOf(l)(w, a))(x).mul(z);
    const ins = () => [arr(xd, l.x), arr(wd, l.w), arr(zd, l.x)] as const;
    const want = await withCpu(() => f(...ins()).data());
    const got = await jit(f)(...ins()).data();
    assertAllClose(Array.from(got), Array.from(want), { rtol: 1e-4, atol: 1e-5, msg: l.name });
    if (BACKEND === "webgpu" && !l.opts.featureGroupCount) {
      // no kernel writes the flipped kernel
      const label = `fused(f32[${[l.w[1], l.w[0], ...l.w.slice(2)].join(",")}])`;
      const ops = lastCompiled()!.program.ops;
      assert(!ops.some((o) => o.kind === "dispatch" && o.label === label), `${l.name}: ${label}`);
    }
  }
});

Deno.test("two kernel gradients of one input, and a transposed input read elsewhere too, match the cpu backend", async () => {
  const xs = [2, 6, 8, 8], w1s = [5, 6, 3, 3], w2s = [7, 6, 1, 1];
  const xd = data(xs, 60), w1d = data(w1s, 61), w2d = data(w2s, 62);
  const loss = (w1: Tensor, w2: Tensor, x: Tensor) =>
    np.tanh(convGeneralDilated(x, w1, { padding: [[1, 1], [1, 1]] })).square().sum()
      .add(convGeneralDilated(x, w2, { windowStrides: [2, 2] }).square().sum());
  const step = (w1: Tensor, w2: Tensor, x: Tensor) => {
    const [g1, g2] = grad(loss, { argnums: [0, 1] })(w1, w2, x);
    return [w1.sub(g1.mul(0.05)), w2.sub(g2.mul(0.05)), np.transpose(x, [1, 0, 2, 3]).mul(2)];
  };
  const ins = () => [arr(w1d, w1s), arr(w2d, w2s), arr(xd, xs)] as const;
  const want = await withCpu(() => Promise.all(step(...ins()).map((t) => t.data())));
  const got = await Promise.all(jit(step)(...ins()).map((t) => t.data()));
  got.forEach((g, j) =>
    assertAllClose(Array.from(g), Array.from(want[j]), { rtol: 1e-4, atol: 1e-5, msg: `${j}` })
  );
  const one = (w1: Tensor, w2: Tensor, x: Tensor) => step(w1, w2, x).slice(0, 2);
  const want1 = await withCpu(() => Promise.all(one(...ins()).map((t) => t.data())));
  const got1 = await Promise.all(jit(one)(...ins()).map((t) => t.data()));
  got1.forEach((g, j) =>
    assertAllClose(Array.from(g), Array.from(want1[j]), { rtol: 1e-4, atol: 1e-5, msg: `${j}` })
  );
  if (BACKEND === "webgpu") {
    // the transposed input is not written: both kernel gradients read x through views
    const ops = lastCompiled()!.program.ops;
    const label = `fused(f32[${[xs[1], xs[0], ...xs.slice(2)].join(",")}])`;
    assert(!ops.some((o) => o.kind === "dispatch" && o.label === label), label);
  }
});

Deno.test("SGD steps of a convolution's kernel in a scan body match the cpu backend", async () => {
  const l = LAYERS[0];
  const wd = data(l.w, 70), xsd = data([3, ...l.x], 71);
  // the body is compiled on its own (scan bodies fold their glue as well)
  const train = (w: Tensor, xs: Tensor) =>
    lax.scan(
      (p: Tensor, x: Tensor) => {
        const p2 = p.sub(grad(lossOf(l))(p, x).mul(0.05));
        return [p2, p2.sum()];
      },
      w,
      xs,
    );
  const ins = () => [arr(wd, l.w), arr(xsd, [3, ...l.x])] as const;
  const want = await withCpu(() => Promise.all(train(...ins()).map((t) => t.data())));
  const got = await Promise.all(jit(train)(...ins()).map((t) => t.data()));
  got.forEach((g, j) =>
    assertAllClose(Array.from(g), Array.from(want[j]), { rtol: 1e-4, atol: 1e-4, msg: `${j}` })
  );
});
