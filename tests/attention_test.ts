// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * Attention and transformer layers: masked softmax and (scaled) dot-product attention against
 * hand values with padding and causal masks, additive attention and multi-head attention
 * against plain-JS float64 computations from the packed PyTorch weights, the sinusoidal table
 * against its formula, transformer layers (shapes, post- vs pre-norm, causality, PyTorch
 * parameter names) and gradients against central differences.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, np, random, type Tensor, tree } from "../mod.ts";
import {
  additiveAttention,
  attentionWeights,
  dotProductAttention,
  maskedSoftmax,
  multiHeadAttention,
  type MultiHeadAttentionParams,
  scaledDotProductAttention,
} from "../layers/attention.ts";
import {
  learnedPositionalEncoding,
  positionalEncoding,
  positionwiseFeedForward,
  sinusoidalEncoding,
  transformerDecoder,
  transformerDecoderLayer,
  transformerEncoder,
  transformerEncoderLayer,
} from "../layers/transformer.ts";
import { layerNorm } from "../layers/norm.ts";
import { flat, uniform } from "./helpers.ts";
import { checkDirectionalGrad, F64 } from "./backend.ts";

/**
 * Central differences run in float64 on the cpu reference; other backends compute in f32, so
 * they take a larger step and a looser tolerance.
 */
const FD = F64 ? { h: 1e-4, rtol: 1e-6, atol: 1e-8 } : { h: 1e-2, rtol: 1e-2, atol: 1e-3 };

type Mat = number[][];
const softmaxJs = (r: number[]): number[] => {
  const m = Math.max(...r), e = r.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const matT = async (t: Tensor): Promise<Mat> => (await t.toArray()) as Mat;
const dot = (a: number[], b: number[]): number => a.reduce((s, v, i) => s + v * b[i], 0);
const mv = (w: Mat, x: number[]): number[] => w.map((r) => dot(r, x));

/** Plain attention in float64: rows of q against rows of k, `allowed(i, j)` masks. */
function attendJs(
  q: Mat,
  k: Mat,
  v: Mat,
  scale: number,
  allowed: (i: number, j: number) => boolean = () => true,
  add: (i: number, j: number) => number = () => 0,
): { out: Mat; w: Mat } {
  const w = q.map((qi, i) =>
    softmaxJs(k.map((kj, j) => (allowed(i, j) ? dot(qi, kj) * scale + add(i, j) : -1e30)))
  );
  const out = w.map((wi) => v[0].map((_, c) => wi.reduce((s, a, j) => s + a * v[j][c], 0)));
  return { out, w };
}

/** The directional gradient check at this file's step and tolerances. */
const checkGrad = <P>(f: (p: P) => Tensor, p: P, seed: number, rtol = FD.rtol) =>
  checkDirectionalGrad(f, p, seed, { ...FD, rtol });

// ---------------------------------------------------------------- masked softmax, SDPA

Deno.test("maskedSoftmax keeps only the first validLens keys of each row, as d2l", async () => {
  const s = uniform(1, [2, 2, 4]);
  const w = (await maskedSoftmax(s, np.array([2, 3])).toArray()) as number[][][];
  const sa = (await s.toArray()) as number[][][];
  for (const [b, len] of [[0, 2], [1, 3]]) {
    for (let i = 0; i < 2; i++) {
      const want = [...softmaxJs(sa[b][i].slice(0, len)), ...Array(4 - len).fill(0)];
      assertAllClose(w[b][i], want, { atol: 1e-6 });
    }
  }
  // per-query lengths [B, Q]
  const w2 = (await maskedSoftmax(np.zeros([1, 2, 3]), np.array([[1, 3]])).toArray()) as any;
  assertAllClose(w2, [[[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]]], { atol: 1e-6 });
  assertAllClose(await flat(maskedSoftmax(np.array([[0, Math.log(3)]]))), [0.25, 0.75]);
  assertThrows(() => maskedSoftmax(s, np.array([1, 2, 3])), TypeError, "validLens");
});

Deno.test("scaledDotProductAttention matches hand values with boolean, float and causal masks", async () => {
  const q = uniform(2, [3, 4]), k = uniform(3, [5, 4]), v = uniform(4, [5, 2]);
  const [qa, ka, va] = [await matT(q), await matT(k), await matT(v)];
  const sc = 1 / 2;
  assertAllClose(await matT(scaledDotProductAttention(q, k, v)), attendJs(qa, ka, va, sc).out, {
    atol: 1e-6,
  });
  // bool mask: true = may attend (F.scaled_dot_product_attention's convention)
  const allowed = (i: number, j: number) => (i + j) % 3 !== 0;
  const m = np.array([0, 1, 2].map((i) => [0, 1, 2, 3, 4].map((j) => allowed(i, j))));
  assertAllClose(
    await matT(scaledDotProductAttention(q, k, v, { mask: m })),
    attendJs(qa, ka, va, sc, allowed).out,
    { atol: 1e-6 },
  );
  // float mask: added to the scores
  const addM = uniform(5, [3, 5]), am = await matT(addM);
  assertAllClose(
    await matT(scaledDotProductAttention(q, k, v, { mask: addM })),
    attendJs(qa, ka, va, sc, undefined, (i, j) => am[i][j]).out,
    { atol: 1e-6 },
  );
  // causal: top-left aligned, key j ≤ query i
  assertAllClose(
    await matT(scaledDotProductAttention(q, k, v, { causal: true })),
    attendJs(qa, ka, va, sc, (i, j) => j <= i).out,
    { atol: 1e-6 },
  );
  // validLens (padding): the last keys of the sequence are ignored
  assertAllClose(
    await matT(scaledDotProductAttention(q, k, v, { validLens: np.array(3), scale: 0.3 })),
    attendJs(qa, ka, va, 0.3, (_i, j) => j < 3).out,
    { atol: 1e-6 },
  );
});

Deno.test("attention broadcasts leading dimensions and dotProductAttention is unscaled", async () => {
  const q = uniform(6, [2, 3, 4, 8]), k = uniform(7, [2, 1, 6, 8]), v = uniform(8, [6, 5]);
  const o = scaledDotProductAttention(q, k, v);
  assertEquals(o.shape, [2, 3, 4, 5]);
  const a = dotProductAttention(q, k, v), b = scaledDotProductAttention(q, k, v, { scale: 1 });
  assertAllClose(await flat(a), await flat(b));
  const w = attentionWeights(q, k, { causal: true });
  assertEquals(w.shape, [2, 3, 4, 6]);
  const rows = await flat(np.sum(w, { axis: -1 }));
  assertAllClose(rows, rows.map(() => 1), { atol: 1e-6 });
});

Deno.test("a fully masked row gets uniform weights instead of NaN", async () => {
  const w = attentionWeights(uniform(9, [2, 3]), uniform(10, [4, 3]), {
    mask: np.array([[false, false, false, false], [true, true, false, false]]),
  });
  assertAllClose(await flat(np.slice(w, [0], [1])), [0.25, 0.25, 0.25, 0.25]);
});

Deno.test("attention dropout needs a key and is deterministic given one", async () => {
  const q = uniform(11, [4, 4]), v = uniform(12, [4, 4]);
  assertThrows(() => scaledDotProductAttention(q, q, v, { dropout: 0.5 }), TypeError, "key");
  const a = await flat(scaledDotProductAttention(q, q, v, { dropout: 0.5, key: random.key(0) }));
  const b = await flat(scaledDotProductAttention(q, q, v, { dropout: 0.5, key: random.key(0) }));
  assertAllClose(a, b);
  const plain = await flat(scaledDotProductAttention(q, q, v));
  assert(a.some((x, i) => Math.abs(x - plain[i]) > 1e-4), "dropout changed nothing");
});

// ---------------------------------------------------------------- additive attention

Deno.test("additiveAttention computes w_vᵀ tanh(W_q q + W_k k) with d2l's masking", async () => {
  const att = additiveAttention({ querySize: 3, keySize: 2, numHiddens: 4 });
  const p = att.init(random.key(13));
  assertEquals(p.W_q.weight.shape, [4, 3]);
  assertEquals(p.W_k.weight.shape, [4, 2]);
  assertEquals(p.w_v.weight.shape, [1, 4]);
  const queries = uniform(14, [2, 2, 3]), keys = uniform(15, [2, 5, 2]);
  const values = uniform(16, [2, 5, 3]);
  const { output, weights } = att.apply(p, { queries, keys, values }, {
    validLens: np.array([2, 4]),
  });
  const [wq, wk, wv] = [
    await matT(p.W_q.weight),
    await matT(p.W_k.weight),
    await matT(p.w_v.weight),
  ];
  const qa = (await queries.toArray()) as number[][][], ka = (await keys.toArray()) as number[][][];
  const va = (await values.toArray()) as number[][][];
  const outW: number[][][] = [], outO: number[][][] = [];
  for (const [b, len] of [[0, 2], [1, 4]]) {
    const scores = qa[b].map((qi) =>
      ka[b].map((kj) => {
        const f = mv(wq, qi).map((x, c) => Math.tanh(x + mv(wk, kj)[c]));
        return dot(wv[0], f);
      })
    );
    const w = scores.map((r) => [...softmaxJs(r.slice(0, len)), ...Array(5 - len).fill(0)]);
    outW.push(w);
    outO.push(
      w.map((wi) => va[b][0].map((_, c) => wi.reduce((s, a, j) => s + a * va[b][j][c], 0))),
    );
  }
  assertAllClose(await weights.toArray(), outW, { atol: 1e-6 });
  assertAllClose(await output.toArray(), outO, { atol: 1e-6 });
});

// ---------------------------------------------------------------- multi-head attention

/**
 * nn.MultiheadAttention in float64 from the parameters, batch-first arrays [N][L][E];
 * `blocked(n, h, i, j)` is true where attention is NOT allowed.
 */
async function mhaJs(
  p: MultiHeadAttentionParams,
  q: number[][][],
  k: number[][][],
  v: number[][][],
  nh: number,
  blocked: (n: number, h: number, i: number, j: number) => boolean = () => false,
): Promise<{ out: number[][][]; w: number[][][] }> {
  let wq: Mat, wk: Mat, wv: Mat;
  if (p.in_proj_weight) {
    const w = await matT(p.in_proj_weight), e = w.length / 3;
    [wq, wk, wv] = [w.slice(0, e), w.slice(e, 2 * e), w.slice(2 * e)];
  } else {
    [wq, wk, wv] = [
      await matT(p.q_proj_weight!),
      await matT(p.k_proj_weight!),
      await matT(p.v_proj_weight!),
    ];
  }
  const e = wq.length, d = e / nh;
  const b = p.in_proj_bias ? await flat(p.in_proj_bias) : Array(3 * e).fill(0);
  const wo = await matT(p.out_proj.weight);
  const bo = p.out_proj.bias ? await flat(p.out_proj.bias) : Array(e).fill(0);
  const proj = (w: Mat, off: number) => (x: number[]) => mv(w, x).map((y, i) => y + b[off + i]);
  const out: number[][][] = [], wAvg: number[][][] = [];
  for (let n = 0; n < q.length; n++) {
    const Q = q[n].map(proj(wq, 0)), K = k[n].map(proj(wk, e)), V = v[n].map(proj(wv, 2 * e));
    const concat: Mat = Q.map(() => []);
    const avg: Mat = Q.map(() => K.map(() => 0));
    for (let h = 0; h < nh; h++) {
      const cut = (m: Mat) => m.map((r) => r.slice(h * d, (h + 1) * d));
      const r = attendJs(cut(Q), cut(K), cut(V), 1 / Math.sqrt(d), (i, j) => !blocked(n, h, i, j));
      r.out.forEach((row, i) => concat[i].push(...row));
      r.w.forEach((row, i) => row.forEach((x, j) => (avg[i][j] += x / nh)));
    }
    out.push(concat.map((x) => mv(wo, x).map((y, i) => y + bo[i])));
    wAvg.push(avg);
  }
  return { out, w: wAvg };
}

/** Random non-zero biases so that the test sees them (PyTorch initializes them to zero). */
function jitterBiases(p: MultiHeadAttentionParams, seed: number): MultiHeadAttentionParams {
  return {
    ...p,
    in_proj_bias: p.in_proj_bias && uniform(seed, p.in_proj_bias.shape),
    out_proj: {
      weight: p.out_proj.weight,
      bias: p.out_proj.bias && uniform(seed + 1, p.out_proj.bias.shape),
    },
  };
}

Deno.test("multiHeadAttention has PyTorch's packed parameters and initialization", async () => {
  const mha = multiHeadAttention({ embedDim: 8, numHeads: 2 });
  const p = mha.init(random.key(0));
  assertEquals(Object.keys(p).sort(), ["in_proj_bias", "in_proj_weight", "out_proj"]);
  assertEquals(p.in_proj_weight!.shape, [24, 8]);
  assertAllClose(await flat(p.in_proj_bias!), Array(24).fill(0));
  assertAllClose(await flat(p.out_proj.bias!), Array(8).fill(0));
  const bound = Math.sqrt(6 / 32); // xavier_uniform on [3E, E]
  assert((await flat(p.in_proj_weight!)).every((x) => Math.abs(x) <= bound));
  assert((await flat(p.out_proj.weight)).every((x) => Math.abs(x) <= 1 / Math.sqrt(8)));
  const sep = multiHeadAttention({ embedDim: 8, numHeads: 2, kdim: 3, vdim: 5, bias: false })
    .init(random.key(0));
  assertEquals(Object.keys(sep).sort(), [
    "k_proj_weight",
    "out_proj",
    "q_proj_weight",
    "v_proj_weight",
  ]);
  assertEquals(sep.k_proj_weight!.shape, [8, 3]);
  assertEquals(sep.v_proj_weight!.shape, [8, 5]);
  assertEquals(sep.out_proj.bias, undefined);
  assertThrows(() => multiHeadAttention({ embedDim: 6, numHeads: 4 }), RangeError, "divisible");
});

Deno.test("multiHeadAttention self-attention matches a manual computation with the packed weights", async () => {
  const mha = multiHeadAttention({ embedDim: 6, numHeads: 3 });
  const p = jitterBiases(mha.init(random.key(20)), 21);
  const x = uniform(22, [4, 2, 6]); // [L, N, E]
  const { output, weights } = mha.apply(p, x);
  assertEquals(output.shape, [4, 2, 6]);
  assertEquals(weights.shape, [2, 4, 4]);
  const xb = (await np.swapaxes(x, 0, 1).toArray()) as number[][][];
  const want = await mhaJs(p, xb, xb, xb, 3);
  assertAllClose(await np.swapaxes(output, 0, 1).toArray(), want.out, { atol: 1e-5 });
  assertAllClose(await weights.toArray(), want.w, { atol: 1e-6 });
});

Deno.test("multiHeadAttention cross-attention with kdim and vdim uses separate projections", async () => {
  const mha = multiHeadAttention({ embedDim: 4, numHeads: 2, kdim: 3, vdim: 5, batchFirst: true });
  const p = jitterBiases(mha.init(random.key(23)), 24);
  const q = uniform(25, [2, 3, 4]), k = uniform(26, [2, 6, 3]), v = uniform(27, [2, 6, 5]);
  const { output, weights } = mha.apply(p, { query: q, key: k, value: v });
  assertEquals(output.shape, [2, 3, 4]);
  assertEquals(weights.shape, [2, 3, 6]);
  const arr = async (t: Tensor) => (await t.toArray()) as number[][][];
  const want = await mhaJs(p, await arr(q), await arr(k), await arr(v), 2);
  assertAllClose(await output.toArray(), want.out, { atol: 1e-5 });
});

Deno.test("multiHeadAttention masks: key padding and attnMask true = NOT allowed, and causal", async () => {
  const mha = multiHeadAttention({ embedDim: 4, numHeads: 2, batchFirst: true });
  const p = jitterBiases(mha.init(random.key(28)), 29);
  const x = uniform(30, [2, 4, 4]);
  const xb = (await x.toArray()) as number[][][];
  const pad = [[false, false, true, true], [false, false, false, true]];
  const kpm = np.array(pad);
  const attn = np.array([[false, true, false, false], [false, false, false, false], [
    true,
    false,
    false,
    false,
  ], [false, false, false, false]]);
  const am = (await attn.toArray()) as boolean[][];
  const r = mha.apply(p, x, { keyPaddingMask: kpm, attnMask: attn });
  const want = await mhaJs(p, xb, xb, xb, 2, (n, _h, i, j) => pad[n][j] || am[i][j]);
  assertAllClose(await r.output.toArray(), want.out, { atol: 1e-5 });
  assertAllClose(await r.weights.toArray(), want.w, { atol: 1e-6 });
  // the padded keys get zero weight
  const w = (await r.weights.toArray()) as number[][][];
  assert(w[0].every((row) => row[2] === 0 && row[3] === 0));
  // causal
  const c = mha.apply(p, x, { causal: true });
  const wc = await mhaJs(p, xb, xb, xb, 2, (_n, _h, i, j) => j > i);
  assertAllClose(await c.output.toArray(), wc.out, { atol: 1e-5 });
  // a float key padding mask of −∞ is the same as a boolean one
  const f = mha.apply(p, x, { keyPaddingMask: np.where(kpm, -Infinity, 0), attnMask: attn });
  assertAllClose(await flat(f.output), await flat(r.output), { atol: 1e-6 });
  // a per-head [N·h, L, S] mask: block key 0 for head 1 only
  const perHead = np.array(
    [0, 1, 2, 3].map((nh) => [0, 1, 2, 3].map(() => [nh % 2 === 1, false, false, false])),
  );
  const ph = mha.apply(p, x, { attnMask: perHead, averageAttnWeights: false });
  assertEquals(ph.weights.shape, [2, 2, 4, 4]);
  const wph = await mhaJs(p, xb, xb, xb, 2, (_n, h, _i, j) => h === 1 && j === 0);
  assertAllClose(await ph.output.toArray(), wph.out, { atol: 1e-5 });
});

Deno.test("multiHeadAttention handles batchFirst, unbatched input and reports bad shapes", async () => {
  const tm = multiHeadAttention({ embedDim: 4, numHeads: 2 });
  const bf = multiHeadAttention({ embedDim: 4, numHeads: 2, batchFirst: true });
  const p = tm.init(random.key(31));
  const x = uniform(32, [3, 2, 4]);
  const a = tm.apply(p, x).output, b = bf.apply(p, np.swapaxes(x, 0, 1)).output;
  assertAllClose(await flat(np.swapaxes(b, 0, 1)), await flat(a), { atol: 1e-6 });
  const u = tm.apply(p, np.slice(x, [0, 0], [null, 1]).reshape([3, 4]));
  assertEquals(u.output.shape, [3, 4]);
  assertEquals(u.weights.shape, [3, 3]);
  assertAllClose(await flat(u.output), await flat(np.slice(a, [0, 0], [null, 1])), { atol: 1e-6 });
  assertThrows(
    () => tm.apply(p, np.zeros([3, 2, 5])),
    TypeError,
    "MultiheadAttention(4, heads=2) expects query [seq, batch, 4], got f32[3,2,5]",
  );
  assertThrows(
    () => tm.apply(p, x, { keyPaddingMask: np.zeros([3, 2], "bool") }),
    TypeError,
    "keyPaddingMask [2,3]",
  );
});

Deno.test("multiHeadAttention's gradient matches central differences", async () => {
  const mha = multiHeadAttention({ embedDim: 4, numHeads: 2, batchFirst: true });
  const p = jitterBiases(mha.init(random.key(33)), 34);
  const q = uniform(35, [2, 3, 4]), kv = uniform(36, [2, 5, 4]);
  const pad = np.array([[false, false, false, true, true], [false, false, false, false, false]]);
  const loss = (pp: MultiHeadAttentionParams) =>
    np.square(mha.apply(pp, { query: q, key: kv, value: kv }, { keyPaddingMask: pad }).output)
      .sum();
  await checkGrad(loss, p, 50);
});

// ---------------------------------------------------------------- positional encodings

Deno.test("the sinusoidal table is sin(pos/10000^(2i/d)) on even and cos on odd columns", async () => {
  for (const d of [6, 5]) {
    const t = (await sinusoidalEncoding(7, d).toArray()) as Mat;
    for (let pos = 0; pos < 7; pos++) {
      for (let i = 0; 2 * i < d; i++) {
        const a = pos / Math.pow(10000, (2 * i) / d);
        assertAllClose(t[pos][2 * i], Math.sin(a), { atol: 1e-6 });
        if (2 * i + 1 < d) assertAllClose(t[pos][2 * i + 1], Math.cos(a), { atol: 1e-6 });
      }
    }
  }
});

Deno.test("positional encodings add the table along the sequence axis", async () => {
  const x = uniform(40, [3, 2, 4]);
  const pe = positionalEncoding({ dModel: 4, maxLen: 10 });
  const tbl = sinusoidalEncoding(3, 4);
  assertAllClose(await flat(pe.apply({}, x)), await flat(x.add(np.expandDims(tbl, 1))), {
    atol: 1e-6,
  });
  const bf = positionalEncoding({ dModel: 4, maxLen: 10, batchFirst: true });
  assertAllClose(
    await flat(bf.apply({}, np.swapaxes(x, 0, 1))),
    await flat(np.swapaxes(pe.apply({}, x), 0, 1)),
  );
  assertThrows(() => pe.apply({}, np.zeros([11, 1, 4])), TypeError, "seq ≤ 10");
  const lp = learnedPositionalEncoding({ dModel: 4, maxLen: 10 });
  const p = lp.init(random.key(0));
  assertEquals(p.weight.shape, [10, 4]);
  const w3 = np.slice(p.weight, [0, 0], [3, 4]);
  assertAllClose(await flat(lp.apply(p, x)), await flat(x.add(np.expandDims(w3, 1))), {
    atol: 1e-6,
  });
  const g = grad((pp: typeof p) => lp.apply(pp, x).sum())(p);
  assertAllClose(await flat(np.slice(g.weight, [3, 0], [10, 4])), Array(28).fill(0));
  assertAllClose(await flat(np.slice(g.weight, [0, 0], [3, 4])), Array(12).fill(2));
});

Deno.test("the position-wise feed-forward network is linear2(act(linear1(x)))", async () => {
  const ffn = positionwiseFeedForward({ dModel: 3, dimFeedforward: 5 });
  const p = ffn.init(random.key(41));
  const x = uniform(42, [2, 3]);
  const h = np.maximum(np.matmul(x, p.linear1.weight.T).add(p.linear1.bias!), 0);
  const want = np.matmul(h, p.linear2.weight.T).add(p.linear2.bias!);
  assertAllClose(await flat(ffn.apply(p, x)), await flat(want), { atol: 1e-6 });
});

// ---------------------------------------------------------------- transformer layers

const tiny = { dModel: 4, nhead: 2, dimFeedforward: 8 };

Deno.test("encoder and decoder layers use PyTorch's state_dict names", () => {
  const enc = transformerEncoder(transformerEncoderLayer(tiny), 2, {
    norm: layerNorm({ normalizedShape: 4 }),
  });
  const [pairs] = tree.flattenWithPath(enc.init(random.key(0)));
  const names = pairs.map(([path]) => path.replace(/\[(\d+)\]/g, ".$1")).sort();
  const layerKeys = [
    "linear1.bias",
    "linear1.weight",
    "linear2.bias",
    "linear2.weight",
    "norm1.bias",
    "norm1.weight",
    "norm2.bias",
    "norm2.weight",
    "self_attn.in_proj_bias",
    "self_attn.in_proj_weight",
    "self_attn.out_proj.bias",
    "self_attn.out_proj.weight",
  ];
  const want = [0, 1].flatMap((i) => layerKeys.map((k) => `layers.${i}.${k}`));
  assertEquals(names, [...want, "norm.bias", "norm.weight"].sort());
  const dec = transformerDecoderLayer(tiny).init(random.key(0));
  assertEquals(Object.keys(dec).sort(), [
    "linear1",
    "linear2",
    "multihead_attn",
    "norm1",
    "norm2",
    "norm3",
    "self_attn",
  ]);
  assertEquals((dec.linear1.weight as Tensor).shape, [8, 4]);
});

Deno.test("a post-norm encoder layer is norm2(x + FF(norm1(x + SA(x)))) and pre-norm differs", async () => {
  const post = transformerEncoderLayer({ ...tiny, batchFirst: true });
  const pre = transformerEncoderLayer({ ...tiny, batchFirst: true, normFirst: true });
  const p = post.init(random.key(43));
  const x = uniform(44, [2, 5, 4]).mul(3);
  const mha = multiHeadAttention({ embedDim: 4, numHeads: 2, batchFirst: true });
  const ffn = positionwiseFeedForward({ dModel: 4, dimFeedforward: 8 });
  const ln = layerNorm({ normalizedShape: 4 });
  const sa = (y: Tensor) => mha.apply(p.self_attn, y).output;
  const ff = (y: Tensor) => ffn.apply(p, y);
  const h1 = ln.apply(p.norm1, x.add(sa(x)));
  const wantPost = ln.apply(p.norm2, h1.add(ff(h1)));
  const yPost = post.apply(p, x);
  assertAllClose(await flat(yPost), await flat(wantPost), { atol: 1e-5 });
  const g1 = x.add(sa(ln.apply(p.norm1, x)));
  const wantPre = g1.add(ff(ln.apply(p.norm2, g1)));
  const yPre = pre.apply(p, x);
  assertAllClose(await flat(yPre), await flat(wantPre), { atol: 1e-5 });
  // post-norm rows are normalized (weight 1, bias 0); pre-norm rows are not
  const mean = (t: Tensor) => flat(np.abs(np.mean(t, { axis: -1 })));
  assert((await mean(yPost)).every((m) => m < 1e-5));
  assert((await mean(yPre)).some((m) => m > 1e-2));
});

Deno.test("causal layers make position t independent of later positions", async () => {
  const enc = transformerEncoderLayer({ ...tiny, batchFirst: true });
  const dec = transformerDecoderLayer({ ...tiny, batchFirst: true, normFirst: true });
  const pe = enc.init(random.key(45)), pd = dec.init(random.key(46));
  const x = uniform(47, [1, 5, 4]), mem = uniform(48, [1, 3, 4]);
  const x2 = np.concatenate([np.slice(x, [0, 0], [1, 3]), uniform(49, [1, 2, 4])], 1);
  const first3 = (t: Tensor) => flat(np.slice(t, [0, 0], [1, 3]));
  const e1 = enc.apply(pe, x, { isCausal: true }), e2 = enc.apply(pe, x2, { isCausal: true });
  assertAllClose(await first3(e1), await first3(e2), { atol: 1e-6 });
  const d1 = dec.apply(pd, { tgt: x, memory: mem }, { tgtIsCausal: true });
  const d2 = dec.apply(pd, { tgt: x2, memory: mem }, { tgtIsCausal: true });
  assertAllClose(await first3(d1), await first3(d2), { atol: 1e-6 });
  // without the mask the later positions leak into the earlier ones
  const n1 = enc.apply(pe, x), n2 = enc.apply(pe, x2);
  const a = await first3(n1), b = await first3(n2);
  assert(a.some((v, i) => Math.abs(v - b[i]) > 1e-4));
});

Deno.test("transformer dropout is active only in training, with a key", async () => {
  const enc = transformerEncoderLayer({ ...tiny, dropout: 0.5 });
  const p = enc.init(random.key(50));
  const x = uniform(51, [3, 2, 4]);
  const noDrop = transformerEncoderLayer({ ...tiny, dropout: 0 });
  assertAllClose(await flat(enc.apply(p, x)), await flat(noDrop.apply(p, x)));
  assertThrows(() => enc.apply(p, x, { train: true }), TypeError, "PRNG key");
  const a = await flat(enc.apply(p, x, { train: true, key: random.key(1) }));
  const b = await flat(enc.apply(p, x, { train: true, key: random.key(1) }));
  assertAllClose(a, b);
  const c = await flat(enc.apply(p, x, { train: true, key: random.key(2) }));
  assert(a.some((v, i) => Math.abs(v - c[i]) > 1e-4));
});

Deno.test("encoder and decoder stacks chain layers and apply the final norm", async () => {
  const layer = transformerEncoderLayer({ ...tiny, dropout: 0 });
  const enc = transformerEncoder(layer, 2, { norm: layerNorm({ normalizedShape: 4 }) });
  const p = enc.init(random.key(52));
  const x = uniform(53, [3, 2, 4]);
  const ln = layerNorm({ normalizedShape: 4 });
  const want = ln.apply(p.norm!, layer.apply(p.layers[1], layer.apply(p.layers[0], x)));
  assertAllClose(await flat(enc.apply(p, x)), await flat(want), { atol: 1e-5 });
  const dl = transformerDecoderLayer({ ...tiny, dropout: 0 });
  const dec = transformerDecoder(dl, 2);
  const pd = dec.init(random.key(54));
  const mem = enc.apply(p, x), tgt = uniform(55, [4, 2, 4]);
  const y = dec.apply(pd, { tgt, memory: mem }, { tgtIsCausal: true });
  const o = { tgtIsCausal: true };
  const want2 = dl.apply(pd.layers[1], {
    tgt: dl.apply(pd.layers[0], { tgt, memory: mem }, o),
    memory: mem,
  }, o);
  assertEquals(y.shape, [4, 2, 4]);
  assertAllClose(await flat(y), await flat(want2), { atol: 1e-5 });
});

for (const normFirst of [false, true]) {
  Deno.test(`transformer layer gradients match central differences (normFirst ${normFirst})`, async () => {
    const cfg = { ...tiny, dropout: 0, normFirst, batchFirst: true };
    const enc = transformerEncoderLayer(cfg);
    const dec = transformerDecoderLayer({ ...cfg, activation: "gelu" });
    const pe = enc.init(random.key(56)), pd = dec.init(random.key(57));
    const x = uniform(58, [2, 3, 4]), tgt = uniform(59, [2, 2, 4]);
    const w = uniform(60, [2, 3, 4]), w2 = uniform(61, [2, 2, 4]);
    await checkGrad(
      (p: typeof pe) => enc.apply(p, x, { isCausal: true }).mul(w).sum(),
      pe,
      70,
      F64 ? 1e-5 : FD.rtol,
    );
    await checkGrad(
      (p: typeof pd) => dec.apply(p, { tgt, memory: x }, { tgtIsCausal: true }).mul(w2).sum(),
      pd,
      90,
      F64 ? 1e-5 : FD.rtol,
    );
  });
}

Deno.test("a jitted encoder layer matches eager and does not retrace", async () => {
  const enc = transformerEncoderLayer({ ...tiny, batchFirst: true });
  const p = enc.init(random.key(62));
  const f = jit((pp: typeof p, x: Tensor, key: Tensor) => enc.apply(pp, x, { train: true, key }));
  const x = uniform(63, [2, 3, 4]);
  const a = f(p, x, random.key(1));
  f(p, uniform(64, [2, 3, 4]), random.key(2));
  assertEquals(f.traceCount, 1);
  assertAllClose(await flat(a), await flat(enc.apply(p, x, { train: true, key: random.key(1) })), {
    atol: 1e-5,
  });
});
