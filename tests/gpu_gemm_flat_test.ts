/**
 * The flat texture GEMM (`gpu/kernels/gemm_flat.ts`): dense operands of either orientation are
 * copied into textures, others packed; every orientation pair, with padded and clamped edges,
 * against a host reference, and where `gemmPlan` takes it instead of `gemm_texture.ts`.
 */
import { assertAllClose, assertEquals } from "@std/assert";
import { LOWERINGS } from "../gpu/backend.ts";
import { flatGemmPacks, flatGemmPlan } from "../gpu/kernels/gemm_flat.ts";
import { gemmPlan, type GemmSpec } from "../gpu/kernels/gemm.ts";
import type { DType } from "../core/dtype.ts";
import { grad, jit, np, type Tensor } from "../mod.ts";
import { currentBackend, setBackend, useBackend } from "../core/backend.ts";
import { gpu, HAS_GPU, randArray, rng } from "./gpu_helpers_test.ts";

const ignore = !HAS_GPU;

/** A dot_general case: lhs `[M, K]` or (`ta`) `[K, M]`, rhs `[K, N]` or (`tb`) `[N, K]`. */
interface Case {
  M: number;
  N: number;
  K: number;
  ta: boolean;
  tb: boolean;
  dtype?: DType;
}

const dims = (c: Case) => ({
  contracting: [[c.ta ? 0 : 1], [c.tb ? 1 : 0]],
  batch: [[], []],
});

/** C = A · B on the host, A and B in the case's layouts. */
function reference(c: Case, a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let m = 0; m < c.M; m++) {
    for (let n = 0; n < c.N; n++) {
      let s = 0;
      for (let k = 0; k < c.K; k++) {
        s += a[c.ta ? k * c.M + m : m * c.K + k] * b[c.tb ? n * c.K + k : k * c.N + n];
      }
      out.push(s);
    }
  }
  return out;
}

async function run(c: Case) {
  const g = await gpu();
  const dtype = c.dtype ?? "f32";
  const ins = [
    { shape: c.ta ? [c.K, c.M] : [c.M, c.K], dtype },
    { shape: c.tb ? [c.N, c.K] : [c.K, c.N], dtype },
  ];
  const outAval = { shape: [c.M, c.N], dtype };
  const r = rng(c.M * 7 + c.N * 3 + c.K);
  const data = ins.map((a) => randArray(r, dtype, a.shape[0] * a.shape[1]));
  const caps = { ...g.gemmCaps("add", { ins: [], outs: [], params: {} }), textures: true };
  const plan = LOWERINGS.dot_general({ ins, outs: [outAval], params: dims(c), gemm: caps });
  const bufs = ins.map((a, i) => g.upload(data[i], a) as { buffer: GPUBuffer });
  const o = g.alloc!(outAval) as { buffer: GPUBuffer };
  g.runtime.run(plan, bufs.map((b) => b.buffer), [o.buffer], "dot_general");
  const got = Array.from(await g.read(o, outAval) as ArrayLike<number>);
  g.release!(o, outAval);
  bufs.forEach((b, i) => g.release!(b, ins[i]));
  return { plan, got, want: reference(c, data[0], data[1]) };
}

const kinds = (steps: readonly { kind: string }[]) => steps.map((s) => s.kind).join(",");

Deno.test({
  name: "flat texture GEMM: every orientation pair matches the host, copied or packed",
  ignore,
  fn: async () => {
    const cases: [Case, string][] = [
      // row-major A of 16 columns and B of 20: both copied (the row layout packs both)
      [{ M: 12, N: 20, K: 16, ta: false, tb: false }, "toTexture,toTexture,dispatch"],
      // transposed A (k-major) and transposed B (n-major): both copied
      [{ M: 36, N: 28, K: 16, ta: true, tb: true }, "toTexture,toTexture,dispatch"],
      // transposed A of 10 columns (not a multiple of 4): packed; B copied
      [{ M: 10, N: 8, K: 8, ta: true, tb: false }, "dispatch,toTexture,dispatch"],
      // B of 10 columns in a large product: packed with zero padding; transposed A copied
      [{ M: 2048, N: 10, K: 128, ta: true, tb: false }, "toTexture,dispatch,dispatch"],
      // texel counts (27, 60) no row of 16 texels divides: both packed, the row layout stays
      [{ M: 9, N: 20, K: 12, ta: false, tb: false }, "dispatch,dispatch,dispatch"],
      // a tall narrow product (rows on x) with transposed B copied
      [{ M: 96, N: 8, K: 16, ta: false, tb: true }, "toTexture,toTexture,dispatch"],
      // a 10-wide B read element by element from its copy (no pack), row-major A copied
      [{ M: 128, N: 10, K: 32, ta: false, tb: false }, "toTexture,toTexture,dispatch"],
      // K = 10: a 10-wide A read element by element, B = the 10-wide transposed copy
      [{ M: 128, N: 32, K: 10, ta: false, tb: true }, "toTexture,toTexture,dispatch"],
      // K = 10 with copies of texels of four m (A^T) and four n (B), rows beyond K masked
      [{ M: 32, N: 32, K: 10, ta: true, tb: false }, "toTexture,toTexture,dispatch"],
      // K = 6 with a packed B (rows beyond K zero): its 6 columns cannot be copied
      [{ M: 32, N: 6, K: 6, ta: true, tb: false }, "toTexture,dispatch,dispatch"],
      // integers
      [{ M: 8, N: 16, K: 8, ta: true, tb: true, dtype: "i32" }, "toTexture,toTexture,dispatch"],
    ];
    for (const [c, steps] of cases) {
      const { plan, got, want } = await run(c);
      const msg = JSON.stringify(c);
      assertEquals(kinds(plan.steps), steps, msg);
      if (c.dtype === "i32") assertEquals(got, want, msg);
      else assertAllClose(got, want, { rtol: 1e-4, atol: 1e-4, msg });
    }
  },
});

Deno.test({
  name: "flat texture GEMM: gemmPlan keeps the row layout where it packs no more operands",
  ignore,
  fn: async () => {
    const g = await gpu();
    const caps = { ...g.gemmCaps("add", { ins: [], outs: [], params: {} }), textures: true };
    const spec = (M: number, N: number, K: number, o: Partial<GemmSpec>): GemmSpec => ({
      dtype: "f32",
      batch: 1,
      M,
      N,
      K,
      loadA: "fn loadA(bi: u32, m: u32, k: u32) -> f32 { return a[m * 1u + k]; }",
      loadB: "fn loadB(bi: u32, k: u32, n: u32) -> f32 { return b[k + n]; }",
      storeC: "fn storeC(bi: u32, m: u32, n: u32, v: f32) { o[m + n] = v; }",
      ...o,
    });
    // rows of 256 bytes: the row layout copies both, so it stays
    const rows = gemmPlan(spec(128, 256, 256, { aDense: true, bDense: true }), caps);
    assertEquals(kinds(rows.steps), "toTexture,toTexture,dispatch");
    assertEquals(rows.textures?.[0].height, 128); // one texture row per row of A
    // a transposed dense A: the flat layout copies it
    const t = spec(128, 256, 256, { aDenseT: true, bDense: true });
    assertEquals(flatGemmPacks(t, caps), 0);
    assertEquals(kinds(gemmPlan(t, caps).steps), "toTexture,toTexture,dispatch");
    // declined: a batch, f16 operands
    assertEquals(flatGemmPlan({ ...t, batch: 2 }, caps), null);
    assertEquals(flatGemmPlan({ ...t, halfOperands: true }, caps), null);
    // a 10-wide operand is read from its copy in a small product, packed in a large one
    assertEquals(flatGemmPacks(spec(128, 10, 256, { aDense: true, bDense: true }), caps), 0);
    assertEquals(flatGemmPacks(spec(1024, 10, 1024, { aDense: true, bDense: true }), caps), 1);
  },
});

/** The MLP of the peer benchmark, small: softmax cross-entropy of relu layers. */
function loss(p: Tensor[], x: Tensor, y: Tensor): Tensor {
  const h = np.maximum(x.matmul(p[0]).add(p[1]), 0);
  const logits = h.matmul(p[2]);
  const lse = np.log(np.exp(logits).sum({ axis: -1, keepdims: true }));
  return y.mul(logits.sub(lse)).sum({ axis: -1 }).mean().neg();
}

Deno.test({
  name: "flat texture GEMM: a jitted MLP gradient (transposed operands) matches cpu",
  ignore,
  fn: async () => {
    const r = rng(5);
    const shapes = [[20, 16], [16], [16, 10], [12, 20], [12, 10]];
    const host = shapes.map((s) => randArray(r, "f32", s.reduce((a, b) => a * b, 1)));
    const results: number[][][] = [];
    for (const b of ["cpu", "webgpu"] as const) {
      const be = b === "cpu" ? await useBackend("cpu") : await gpu();
      const prev = currentBackend();
      setBackend(be);
      try {
        const t = host.map((d, i) => np.array(d, { shape: shapes[i] }));
        const g = jit(grad(loss))([t[0], t[1], t[2]], t[3], t[4]) as Tensor[];
        results.push(await Promise.all(g.map(async (x) => Array.from(await x.data()))));
      } finally {
        setBackend(prev);
      }
    }
    results[1].forEach((g, i) =>
      assertAllClose(g, results[0][i], { rtol: 1e-4, atol: 1e-5, msg: `grad ${i}` })
    );
  },
});
