// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * Recurrent layers: cells against single steps computed in plain JS float64 from PyTorch's
 * equations (gate order i, f, g, o and r, z, n), sequence layers against a JS loop over the
 * cells, multi-layer and bidirectional shapes and values, gradients against central
 * differences, and jit(grad(·)) through a 24-step LSTM without retracing.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, np, random, type Tensor, tree, vmap } from "../mod.ts";
import { withFloat64 } from "../core/prims/host.ts";
import {
  gru,
  gruCell,
  lstm,
  lstmCell,
  peepholeLstm,
  peepholeLstmCell,
  rnn,
  rnnCell,
  type RnnParams,
} from "../layers/rnn.ts";
import { flat, uniform } from "./helpers.ts";
import { checkDirectionalGrad, F64 } from "./backend.ts";

/**
 * Central differences run in float64 on the cpu reference; other backends compute in f32, so
 * they take a larger step and a looser tolerance.
 */
const FD = F64 ? { h: 1e-4, rtol: 1e-6, atol: 1e-8 } : { h: 1e-2, rtol: 1e-2, atol: 1e-3 };

// ---------------------------------------------------------------- plain-JS reference

type Vec = number[];
type Mat = number[][];
const sig = (v: number): number => 1 / (1 + Math.exp(-v));
const mv = (w: Mat, x: Vec): Vec => w.map((r) => r.reduce((s, wij, j) => s + wij * x[j], 0));
const addv = (...vs: Vec[]): Vec => vs[0].map((_, i) => vs.reduce((s, v) => s + v[i], 0));
const block = (v: Vec, k: number, h: number): Vec => v.slice(k * h, (k + 1) * h);

/** A cell's parameters read back as JS arrays. */
interface JsCell {
  wih: Mat;
  whh: Mat;
  bih: Vec;
  bhh: Vec;
  ci?: Vec;
  cf?: Vec;
  co?: Vec;
}
async function jsCell(p: Record<string, Tensor>, sfx = ""): Promise<JsCell> {
  const get = async (n: string) => p[n + sfx] ? await p[n + sfx].toArray() as any : undefined;
  const wih = await get("weight_ih") as Mat;
  const g = wih.length;
  return {
    wih,
    whh: await get("weight_hh"),
    bih: (await get("bias_ih")) ?? new Array(g).fill(0),
    bhh: (await get("bias_hh")) ?? new Array(g).fill(0),
    ci: await get("weight_ci"),
    cf: await get("weight_cf"),
    co: await get("weight_co"),
  };
}

/** PyTorch's equations, one step, in float64. Returns [h] or [h, c]. */
function jsStep(kind: string, p: JsCell, x: Vec, state: Vec[]): Vec[] {
  const h = state[0], hs = h.length;
  const gx = addv(mv(p.wih, x), p.bih), gh = addv(mv(p.whh, h), p.bhh);
  if (kind === "tanh") return [addv(gx, gh).map(Math.tanh)];
  if (kind === "relu") return [addv(gx, gh).map((v) => Math.max(v, 0))];
  if (kind === "gru") {
    const r = addv(block(gx, 0, hs), block(gh, 0, hs)).map(sig);
    const z = addv(block(gx, 1, hs), block(gh, 1, hs)).map(sig);
    const ghn = block(gh, 2, hs);
    const n = block(gx, 2, hs).map((v, j) => Math.tanh(v + r[j] * ghn[j]));
    return [n.map((nj, j) => (1 - z[j]) * nj + z[j] * h[j])];
  }
  const c = state[1], g = addv(gx, gh);
  const peep = kind === "peephole";
  const i = block(g, 0, hs).map((v, j) => sig(v + (peep ? p.ci![j] * c[j] : 0)));
  const f = block(g, 1, hs).map((v, j) => sig(v + (peep ? p.cf![j] * c[j] : 0)));
  const gg = block(g, 2, hs).map(Math.tanh);
  const c2 = c.map((cj, j) => f[j] * cj + i[j] * gg[j]);
  const o = block(g, 3, hs).map((v, j) => sig(v + (peep ? p.co![j] * c2[j] : 0)));
  return [o.map((oj, j) => oj * Math.tanh(c2[j])), c2];
}

/**
 * A JS loop over cells for a whole (multi-layer, bidirectional) sequence layer, one batch row
 * at a time: xs [T][I] → { output [T][D·H], hN [L·D][H], cN }.
 */
async function jsSequence(
  kind: string,
  params: RnnParams,
  xs: Mat,
  numLayers: number,
  nd: number,
  hs: number,
): Promise<{ output: Mat; hN: Mat; cN: Mat }> {
  let input = xs;
  const hN: Mat = [], cN: Mat = [];
  const lstmLike = kind === "lstm" || kind === "peephole";
  for (let l = 0; l < numLayers; l++) {
    const outs: Mat[] = [];
    for (let d = 0; d < nd; d++) {
      const p = await jsCell(params, `_l${l}${d ? "_reverse" : ""}`);
      let state: Vec[] = lstmLike ? [Array(hs).fill(0), Array(hs).fill(0)] : [Array(hs).fill(0)];
      const ys: Mat = Array(input.length);
      for (let s = 0; s < input.length; s++) {
        const t = d === 0 ? s : input.length - 1 - s;
        state = jsStep(kind, p, input[t], state);
        ys[t] = state[0];
      }
      outs.push(ys);
      hN.push(state[0]);
      if (lstmLike) cN.push(state[1]);
    }
    input = input.map((_, t) => outs.flatMap((o) => o[t]));
  }
  return { output: input, hN, cN };
}

const rowOf = async (t: Tensor, i: number): Promise<Mat> =>
  (await np.squeeze(np.slice(t, [0, i], [null, i + 1]), 1).toArray()) as Mat;

// ---------------------------------------------------------------- cells vs hand steps

const x1 = [0.5, -1.2, 0.3];
const hPrev = [0.1, -0.4];
const cPrev = [0.7, -0.2];

Deno.test("rnnCell matches tanh and relu steps computed by hand", async () => {
  for (const nl of ["tanh", "relu"] as const) {
    const cell = rnnCell({ inputSize: 3, hiddenSize: 2, nonlinearity: nl });
    const p = cell.init(random.key(1));
    const got = cell.apply(p, np.array([x1]), { h: np.array([hPrev]) });
    const want = jsStep(nl, await jsCell(p as any), x1, [hPrev])[0];
    assertAllClose(await flat(got), want, { atol: 1e-6 });
  }
});

Deno.test("lstmCell uses PyTorch's gate order i, f, g, o", async () => {
  const cell = lstmCell({ inputSize: 3, hiddenSize: 2 });
  const p = cell.init(random.key(2));
  assertEquals(p.weight_ih.shape, [8, 3]);
  assertEquals(p.weight_hh.shape, [8, 2]);
  assertEquals(p.bias_ih!.shape, [8]);
  const { h, c } = cell.apply(p, np.array([x1]), { h: np.array([hPrev]), c: np.array([cPrev]) });
  const [hw, cw] = jsStep("lstm", await jsCell(p as any), x1, [hPrev, cPrev]);
  assertAllClose(await flat(h), hw, { atol: 1e-6 });
  assertAllClose(await flat(c), cw, { atol: 1e-6 });
});

Deno.test("lstmCell gate order is checked with hand-picked weights", async () => {
  // one unit, zero input weights: only the biases choose the gates i, f, g, o
  const cell = lstmCell({ inputSize: 1, hiddenSize: 1 });
  const p = {
    weight_ih: np.zeros([4, 1]),
    weight_hh: np.zeros([4, 1]),
    bias_ih: np.array([1, -2, 0.5, 3]),
    bias_hh: np.zeros([4]),
  };
  const { h, c } = cell.apply(p, np.array([0]), { h: np.array([0]), c: np.array([2]) });
  const cWant = sig(-2) * 2 + sig(1) * Math.tanh(0.5);
  assertAllClose(await flat(c), [cWant], { atol: 1e-6 });
  assertAllClose(await flat(h), [sig(3) * Math.tanh(cWant)], { atol: 1e-6 });
});

Deno.test("gruCell uses r, z, n with the reset gate on the projected state", async () => {
  const cell = gruCell({ inputSize: 3, hiddenSize: 2 });
  const p = cell.init(random.key(3));
  assertEquals(p.weight_ih.shape, [6, 3]);
  const h = cell.apply(p, np.array([x1]), { h: np.array([hPrev]) });
  assertAllClose(await flat(h), jsStep("gru", await jsCell(p as any), x1, [hPrev])[0], {
    atol: 1e-6,
  });
  // h' = (1 − z) n + z h: a saturated update gate (z → 1) keeps the old state
  const keep = {
    weight_ih: np.zeros([3, 1]),
    weight_hh: np.zeros([3, 1]),
    bias_ih: np.array([0, 50, 0.3]),
    bias_hh: np.zeros([3]),
  };
  const one = gruCell({ inputSize: 1, hiddenSize: 1 });
  assertAllClose(await flat(one.apply(keep, np.array([1]), { h: np.array([0.25]) })), [0.25], {
    atol: 1e-6,
  });
});

Deno.test("peepholeLstmCell lets i and f see c_{t-1} and o see c_t", async () => {
  const cell = peepholeLstmCell({ inputSize: 3, hiddenSize: 2 });
  const p = cell.init(random.key(4));
  assertEquals(p.weight_ci.shape, [2]);
  const { h, c } = cell.apply(p, np.array(x1), { h: np.array(hPrev), c: np.array(cPrev) });
  const [hw, cw] = jsStep("peephole", await jsCell(p as any), x1, [hPrev, cPrev]);
  assertAllClose(await flat(h), hw, { atol: 1e-6 });
  assertAllClose(await flat(c), cw, { atol: 1e-6 });
});

Deno.test("cells start from zero states and accept any leading batch dimensions", async () => {
  const cell = lstmCell({ inputSize: 3, hiddenSize: 2 });
  const p = cell.init(random.key(5));
  const x = uniform(6, [2, 3, 3]);
  const { h } = cell.apply(p, x);
  assertEquals(h.shape, [2, 3, 2]);
  const js = await jsCell(p as any);
  const xa = (await x.toArray()) as number[][][];
  const want = xa.flatMap((r) => r.flatMap((v) => jsStep("lstm", js, v, [[0, 0], [0, 0]])[0]));
  assertAllClose(await flat(h), want, { atol: 1e-6 });
});

Deno.test("cell initialization is U(-1/sqrt(H), 1/sqrt(H)) for every parameter", async () => {
  const p = gruCell({ inputSize: 5, hiddenSize: 16 }).init(random.key(7));
  for (const t of tree.leaves<Tensor>(p)) {
    const v = await flat(t);
    assert(v.every((a) => Math.abs(a) <= 0.25), "outside the bound");
    assert(Math.max(...v.map(Math.abs)) > 0.2, "not spread over the range");
  }
});

Deno.test("forgetBias puts the forget gate's total bias at the given value", async () => {
  const p = lstmCell({ inputSize: 2, hiddenSize: 3, forgetBias: 1 }).init(random.key(8));
  const bi = await flat(p.bias_ih!), bh = await flat(p.bias_hh!);
  assertAllClose(bi.slice(3, 6).map((v, i) => v + bh[3 + i]), [1, 1, 1]);
  assertAllClose(bh.slice(3, 6), [0, 0, 0]);
});

Deno.test("bias: false leaves the bias parameters out", () => {
  const p = lstm({ inputSize: 2, hiddenSize: 3, bias: false }).init(random.key(0));
  assertEquals(Object.keys(p).sort(), ["weight_hh_l0", "weight_ih_l0"]);
});

// ---------------------------------------------------------------- sequence layers

Deno.test("sequence layers name their parameters as PyTorch's state_dict", () => {
  const p = lstm({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true })
    .init(random.key(0));
  const names = Object.keys(p).sort();
  const want: string[] = [];
  for (const l of [0, 1]) {
    for (const s of ["", "_reverse"]) {
      for (const n of ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]) want.push(`${n}_l${l}${s}`);
    }
  }
  assertEquals(names, want.sort());
  assertEquals(p.weight_ih_l0.shape, [16, 3]);
  assertEquals(p.weight_ih_l1.shape, [16, 8]);
  assertEquals(p.weight_hh_l1_reverse.shape, [16, 4]);
});

for (const kind of ["tanh", "relu", "gru", "lstm", "peephole"] as const) {
  Deno.test(`a 2-layer bidirectional ${kind} sequence layer matches a JS loop over cells`, async () => {
    const cfg = { inputSize: 3, hiddenSize: 2, numLayers: 2, bidirectional: true };
    const net = kind === "gru"
      ? gru(cfg)
      : kind === "lstm"
      ? lstm(cfg)
      : kind === "peephole"
      ? peepholeLstm(cfg)
      : rnn({ ...cfg, nonlinearity: kind });
    const p = net.init(random.key(10));
    const x = uniform(11, [5, 2, 3]); // [seq, batch, I]
    const r = net.apply(p, x) as { output: Tensor; hN: Tensor; cN?: Tensor };
    assertEquals(r.output.shape, [5, 2, 4]);
    assertEquals(r.hN.shape, [4, 2, 2]);
    for (let b = 0; b < 2; b++) {
      const want = await jsSequence(kind, p, await rowOf(x, b), 2, 2, 2);
      assertAllClose(await rowOf(r.output, b), want.output, { atol: 1e-5 });
      assertAllClose(await rowOf(r.hN, b), want.hN, { atol: 1e-5 });
      if (r.cN) assertAllClose(await rowOf(r.cN, b), want.cN, { atol: 1e-5 });
    }
  });
}

Deno.test("the output's last forward step and first backward step are the final states", async () => {
  const net = gru({ inputSize: 2, hiddenSize: 3, bidirectional: true });
  const p = net.init(random.key(12));
  const { output, hN } = net.apply(p, uniform(13, [4, 1, 2]));
  const out = (await output.toArray()) as number[][][];
  const hn = (await hN.toArray()) as number[][][];
  assertAllClose(out[3][0].slice(0, 3), hn[0][0], { atol: 1e-6 });
  assertAllClose(out[0][0].slice(3), hn[1][0], { atol: 1e-6 });
});

Deno.test("batchFirst transposes input and output but not hN", async () => {
  const cfg = { inputSize: 3, hiddenSize: 2, numLayers: 2 };
  const tm = lstm(cfg), bf = lstm({ ...cfg, batchFirst: true });
  const p = tm.init(random.key(14));
  const x = uniform(15, [6, 2, 3]);
  const a = tm.apply(p, x), b = bf.apply(p, np.swapaxes(x, 0, 1));
  assertEquals(b.output.shape, [2, 6, 2]);
  assertAllClose(await flat(np.swapaxes(b.output, 0, 1)), await flat(a.output), { atol: 1e-6 });
  assertAllClose(await flat(b.hN), await flat(a.hN), { atol: 1e-6 });
  assertAllClose(await flat(b.cN), await flat(a.cN), { atol: 1e-6 });
});

Deno.test("h0 and c0 set the initial states, per layer and direction", async () => {
  const net = lstm({ inputSize: 2, hiddenSize: 2, numLayers: 2 });
  const p = net.init(random.key(16));
  const x = uniform(17, [3, 1, 2]);
  const h0 = uniform(18, [2, 1, 2]), c0 = uniform(19, [2, 1, 2]);
  const { output } = net.apply(p, x, { h0, c0 });
  // reference: layer 0 from (h0[0], c0[0]), layer 1 from (h0[1], c0[1])
  const xs = await rowOf(x, 0), h0a = await rowOf(h0, 0), c0a = await rowOf(c0, 0);
  let input = xs;
  for (let l = 0; l < 2; l++) {
    const cp = await jsCell(p, `_l${l}`);
    let st = [h0a[l], c0a[l]];
    input = input.map((v) => (st = jsStep("lstm", cp, v, st))[0]);
  }
  assertAllClose(await rowOf(output, 0), input, { atol: 1e-5 });
});

Deno.test("an unbatched [seq, I] input gives [seq, D·H] and hN [L·D, H]", async () => {
  const net = rnn({ inputSize: 3, hiddenSize: 2, bidirectional: true });
  const p = net.init(random.key(20));
  const x = uniform(21, [4, 3]);
  const u = net.apply(p, x);
  assertEquals(u.output.shape, [4, 4]);
  assertEquals(u.hN.shape, [2, 2]);
  const b = net.apply(p, np.expandDims(x, 1));
  assertAllClose(await flat(u.output), await flat(b.output), { atol: 1e-6 });
});

Deno.test("vmap over the batch axis equals the batched layer", async () => {
  const net = gru({ inputSize: 3, hiddenSize: 2, batchFirst: true });
  const p = net.init(random.key(22));
  const x = uniform(23, [3, 5, 3]);
  const v = vmap((xi: Tensor) => net.apply(p, xi).output)(x);
  assertAllClose(await flat(v), await flat(net.apply(p, x).output), { atol: 1e-6 });
});

Deno.test("inter-layer dropout is active only in training and needs a key", async () => {
  const net = lstm({ inputSize: 2, hiddenSize: 8, numLayers: 2, dropout: 0.5 });
  const p = net.init(random.key(24));
  const x = uniform(25, [4, 3, 2]);
  const plain = await flat(net.apply(p, x).output);
  const noDrop = lstm({ inputSize: 2, hiddenSize: 8, numLayers: 2 });
  assertAllClose(plain, await flat(noDrop.apply(p, x).output));
  assertThrows(() => net.apply(p, x, { train: true }), TypeError, "PRNG key");
  const a = await flat(net.apply(p, x, { train: true, key: random.key(1) }).output);
  const b = await flat(net.apply(p, x, { train: true, key: random.key(1) }).output);
  assertAllClose(a, b);
  assert(a.some((v, i) => Math.abs(v - plain[i]) > 1e-4), "dropout changed nothing");
});

Deno.test("a wrong input or state shape names the layer and the expected shape", () => {
  const net = lstm({ inputSize: 3, hiddenSize: 2 });
  const p = net.init(random.key(0));
  assertThrows(
    () => net.apply(p, np.zeros([5, 2, 4])),
    TypeError,
    "LSTM(3 → 2) expects input [seq, batch, 3] or [seq, 3], got f32[5,2,4]",
  );
  assertThrows(
    () => net.apply(p, np.zeros([5, 2, 3]), { h0: np.zeros([1, 3, 2]) }),
    TypeError,
    "expects h0 [1, 2, 2], got f32[1,3,2]",
  );
  assertThrows(() => lstm({ inputSize: 3, hiddenSize: 2, dropout: 1 }), RangeError, "dropout");
  assertThrows(
    () => lstmCell({ inputSize: 3, hiddenSize: 2 }).apply(p as any, np.zeros([2])),
    TypeError,
  );
});

// ---------------------------------------------------------------- gradients

/** The directional gradient check at this file's step and tolerances. */
const checkGrad = (f: (p: RnnParams) => Tensor, p: RnnParams, seed: number) =>
  checkDirectionalGrad(f, p, seed, FD);

for (const kind of ["lstm", "gru", "peephole", "relu"] as const) {
  Deno.test(`the ${kind} layer's parameter gradient matches central differences`, async () => {
    const cfg = { inputSize: 2, hiddenSize: 3, numLayers: 2, bidirectional: true };
    const net = kind === "lstm"
      ? lstm(cfg)
      : kind === "gru"
      ? gru(cfg)
      : kind === "peephole"
      ? peepholeLstm(cfg)
      : rnn({ ...cfg, nonlinearity: "relu" });
    const p = net.init(random.key(30));
    const x = uniform(31, [4, 2, 2]);
    const w = uniform(32, [4, 2, 6]);
    const loss = (q: RnnParams) => {
      const r = net.apply(q, x);
      return r.output.mul(w).sum().add(np.square(r.hN).sum());
    };
    await checkGrad(loss, p, 40);
  });
}

Deno.test("the input gradient of an LSTM matches central differences", async () => {
  const net = lstm({ inputSize: 2, hiddenSize: 3 });
  const p = net.init(random.key(33));
  const f = (x: Tensor) => np.square(net.apply(p, x).output).sum();
  const x = uniform(34, [5, 2]), u = uniform(35, [5, 2]), h = FD.h;
  const [g, fp, fm] = withFloat64(() => [grad(f)(x), f(x.add(u.mul(h))), f(x.sub(u.mul(h)))]);
  const fd = (Number(await fp.item()) - Number(await fm.item())) / (2 * h);
  const dot = Number(await withFloat64(() => g.mul(u).sum()).item());
  assertAllClose(dot, fd, FD);
});

Deno.test("jit(grad) through a 24-step LSTM matches eager and does not retrace", async () => {
  const net = lstm({ inputSize: 4, hiddenSize: 8, batchFirst: true });
  const p = net.init(random.key(36));
  const loss = (q: RnnParams, x: Tensor) => np.square(net.apply(q, x).hN).mean();
  const x1 = uniform(37, [3, 24, 4]), x2 = uniform(38, [3, 24, 4]);
  const eager = grad(loss)(p, x1);
  const step = jit(grad(loss));
  const a = step(p, x1);
  const b = step(p, x2);
  assertEquals(step.traceCount, 1);
  for (const n of Object.keys(p)) {
    assertAllClose(await flat(a[n]), await flat(eager[n]), { rtol: 1e-4, atol: 1e-6 });
    assertEquals(b[n].shape, p[n].shape);
  }
  assert((await flat(a.weight_hh_l0)).some((v) => Math.abs(v) > 1e-6), "zero gradient");
});
