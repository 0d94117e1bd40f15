/**
 * A tiled, register-blocked batched GEMM template, `C[b, m, n] = Σ_k A[b, m, k] · B[b, k, n]`,
 * whose operand reads are WGSL functions supplied by the caller. `dot_general` supplies
 * strided loads (so transposed operands need no copies) and `conv_general_dilated` supplies
 * implicit-GEMM loads (im2col computed on the fly).
 *
 * Each workgroup computes a BM × BN tile of C for one batch entry. Per BK-slice of K it stages
 * the A tile (`[BM][BK]`, k fastest) and the B tile (`[BK][BN]`, n fastest) in workgroup
 * memory as vec4s, four elements per cooperative load step; then invocation (tx, ty)
 * accumulates the TM × TN block of rows `ty·TM + i` and columns `tx·TN + c` in registers,
 * reading A four k at a time and B four columns at a time.
 *
 * This is the GEMM for discrete GPUs (the classic shape: tiles in shared memory, register
 * blocking, vec4 shared reads, few barriers per K step). On CPU adapters the backend uses the
 * texture GEMM of `gemm_texture.ts` instead: llvmpipe (Mesa 22.x) turns every storage read,
 * and every workgroup-memory access, into a loop over the SIMD lanes (a storage read costs
 * ~10 ns per lane and float), which holds this kernel to about 1.8 GFLOP/s at 1024³ there,
 * against 15–18 for the texture GEMM. Both paths are tested on every adapter.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import {
  type BufRef,
  declareBindings,
  foldGrid,
  inp,
  type Kernel,
  out,
  type Plan,
  single,
  storageType,
  tmp,
  u,
} from "./common.ts";
import {
  textureGemmPlan,
  type TextureGemmTiles,
  type TextureLimits,
  textureTiles,
} from "./gemm_texture.ts";
import { flatGemmPacks, flatGemmPlan } from "./gemm_flat.ts";

/** What the GEMM lowering may use on the device. */
export interface GemmCaps extends TextureLimits {
  /** Pack operands into textures (`gemm_texture.ts`): the fast path on CPU adapters. */
  readonly textures: boolean;
  /**
   * A tile variant of {@link GEMM_VARIANTS} (chosen by the autotuner); absent or unknown:
   * the default tiles.
   */
  readonly variant?: string;
}

/**
 * The GEMM as a plan: the texture GEMM where `caps.textures` is set and the operands fit,
 * else the workgroup-memory kernel of {@link gemmKernel}, with the tiles of `caps.variant`.
 *
 * @param spec The problem and its operand accessors.
 * @param caps Device capabilities (absent: workgroup-memory kernel).
 * @returns The plan.
 */
export function gemmPlan(spec: GemmSpec, caps?: GemmCaps): Plan {
  const v = caps?.variant ? GEMM_VARIANTS[caps.variant] : undefined;
  if (caps?.textures) {
    // the default's tiles also depend on K
    const tiles = v?.kind === "texture" && caps.variant !== "tex:default"
      ? v.tiles(spec.M, spec.N)
      : undefined;
    const p = textureGemmPlan(spec, caps, tiles);
    // the flat layout where it packs fewer operands (it copies dense ones of any orientation):
    // on llvmpipe each pack kernel is another pipeline to compile (20-35 ms at a cold start)
    const flat = p && !v ? flatGemmPacks(spec, caps) : null;
    if (p && flat !== null && flat < p.steps.filter((s) => s.kind === "dispatch").length - 1) {
      return flatGemmPlan(spec, caps)!;
    }
    if (p) return p;
  }
  const split = splitKPlan(spec, caps);
  if (split) return split;
  return single(gemmKernel(spec, v?.kind === "shared" ? v.tiles(spec.M, spec.N) : undefined));
}

/**
 * Contractions longer than this are split (llvmpipe stops an invocation's loops after
 * {@link MAX_LOOP_ITERATIONS} iterations in all; both GEMM kernels loop fewer than once per
 * element of K, measured wrong from K ≈ 95000 on, so K ≤ 16384 keeps a margin of 4).
 */
export const SPLIT_K_THRESHOLD: number = 16384;
/** The contraction chunk of a split-K GEMM (see {@link SPLIT_K_THRESHOLD}). */
export const SPLIT_K_CHUNK: number = 8192;

/**
 * A long contraction as two passes: a GEMM of batch × chunks over chunks of K
 * ({@link SPLIT_K_CHUNK}) into a scratch buffer of partial products, then a pass that sums each
 * output's chunks (Kahan-compensated) and stores the sum through `spec.storeC` (so the
 * epilogue runs once, on the sum). The scratch is the temporary after those `spec.refs` name
 * (whose sizes the plan leaves 0, for the caller to set). Null for short contractions (and
 * for bool).
 */
function splitKPlan(spec: GemmSpec, caps?: GemmCaps): Plan | null {
  const { M, N, K, batch } = spec;
  if (K <= SPLIT_K_THRESHOLD || !M || !N || !batch || spec.dtype === "bool") return null;
  const C = Math.ceil(K / SPLIT_K_CHUNK), Kc = SPLIT_K_CHUNK;
  const t = storageType(spec.dtype);
  const refs = spec.refs ?? [inp(0), inp(1), out(0)];
  // the scratch follows any temporaries the caller's refs name (their sizes are the caller's)
  const sIdx = Math.max(-1, ...refs.filter((r) => r.kind === "tmp").map((r) => r.index)) + 1;
  const scratch = tmp(sIdx);
  const part: GemmSpec = {
    dtype: spec.dtype,
    batch: batch * C,
    M,
    N,
    K: Kc,
    loadA: `${spec.loadA}
fn splitA(bc: u32, m: u32, k: u32) -> ${t} {
  let kg = (bc % ${u(C)}) * ${u(Kc)} + k;
  if (kg < ${u(K)}) { return loadA(bc / ${u(C)}, m, kg); }
  return ${t}(0);
}`,
    loadB: `${spec.loadB}
fn splitB(bc: u32, k: u32, n: u32) -> ${t} {
  let kg = (bc % ${u(C)}) * ${u(Kc)} + k;
  if (kg < ${u(K)}) { return loadB(bc / ${u(C)}, kg, n); }
  return ${t}(0);
}`,
    storeC: `fn storePart(bc: u32, m: u32, n: u32, v: ${t}) {
  o[(bc * ${u(M)} + m) * ${u(N)} + n] = v;
}`,
    calls: { a: "splitA", b: "splitB", c: "storePart" },
    refs: [refs[0], refs[1], scratch],
  };
  const first = caps?.textures ? textureGemmPlan(part, caps) : null;
  const firstSteps = first
    ? first.steps
    : [{ kind: "dispatch" as const, kernel: gemmKernel(part) }];
  const total = batch * M * N;
  const grid = foldGrid(Math.ceil(total / _SUM_WG));
  const sum = t === "f32"
    ? `var s = 0.0;
  var cmp = 0.0;
  let z = wid.z & 0x80000000u;
  for (var c = 0u; c < ${u(C)}; c = c + 1u) {
    let y = p[base + c * ${u(M * N)}] - cmp;
    let tt = bitcast<f32>(bitcast<u32>(s + y) ^ z);
    let d = (tt - s) - y;
    cmp = select(0.0, d, abs(d) < 3.0e38);
    s = tt;
  }`
    : `var s = ${t}(0);
  for (var c = 0u; c < ${u(C)}; c = c + 1u) { s = s + p[base + c * ${u(M * N)}]; }`;
  const wgsl = `${
    declareBindings([
      { name: "p", type: t, access: "read", ref: scratch },
      { name: "o", type: t, access: "read_write", ref: refs[2] },
    ])
  }
${spec.storeC}
@compute @workgroup_size(${_SUM_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_SUM_WG)} + lid;
  if (i >= ${u(total)}) { return; }
  let n = i % ${u(N)};
  let m = (i / ${u(N)}) % ${u(M)};
  let bt = i / ${u(M * N)};
  let base = bt * ${u(C * M * N)} + m * ${u(N)} + n;
  ${sum}
  ${spec.calls?.c ?? "storeC"}(bt, m, n, s);
}
`;
  const final: Kernel = {
    wgsl,
    workgroupSize: [_SUM_WG, 1, 1],
    dispatch: grid.dispatch,
    bindings: [scratch, refs[2]],
  };
  return {
    steps: [...firstSteps, { kind: "dispatch", kernel: final }],
    temps: [...Array(sIdx).fill(0), total * C * 4],
    textures: first?.textures,
  };
}

const _SUM_WG = 64;

/** A named tile variant of one of the two GEMM kernels, as a function of M and N. */
export type GemmVariant =
  | { readonly kind: "texture"; readonly tiles: (M: number, N: number) => TextureGemmTiles }
  | { readonly kind: "shared"; readonly tiles: (M: number, N: number) => GemmTiles };

const _up4 = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);

/** Texture-GEMM tiles of TM × TN per invocation (clipped to the problem), w × w invocations. */
function _tex(tm: number, tn: number, w: number): GemmVariant {
  return {
    kind: "texture",
    tiles: (M, N) => {
      const TM = Math.max(1, Math.min(tm, M)), TN = Math.min(tn, _up4(N));
      return {
        TM,
        TN,
        WX: Math.max(1, Math.min(w, Math.ceil(N / TN))),
        WY: Math.max(1, Math.min(w, Math.ceil(M / TM))),
      };
    },
  };
}

/** Workgroup-memory GEMM tiles: BM × BN per workgroup, TM × TN per invocation, BK 16. */
function _shared(bm: number, bn: number, tm: number, tn: number): GemmVariant {
  return {
    kind: "shared",
    tiles: (M, N) => {
      const d = chooseTiles(M, N);
      // never larger than the default (which already shrinks for small M or N)
      const BM = Math.min(bm, d.BM), BN = Math.min(bn, d.BN);
      return { BM, BN, BK: 16, TM: Math.min(tm, BM / 4), TN: Math.min(tn, BN / 4) };
    },
  };
}

/**
 * The tile variants the autotuner times, by name: `tex:*` for the texture GEMM, `wg:*` for
 * the workgroup-memory GEMM (`*:default` are the hand-picked defaults). Kept small: on
 * llvmpipe each variant costs a pipeline compile of ~0.5 s. (Measured there, f32 square
 * matmuls: 16 × 8 beat 12 × 12 by 10–50% at 128–1024; 4 × 4 on 16 × 16
 * invocations was never faster and was dropped.)
 */
export const GEMM_VARIANTS: Readonly<Record<string, GemmVariant>> = {
  "tex:default": { kind: "texture", tiles: textureTiles },
  "tex:8x8": _tex(8, 8, 8),
  "tex:16x8": _tex(16, 8, 8),
  "tex:8x16": _tex(8, 16, 8),
  "wg:default": { kind: "shared", tiles: chooseTiles },
  "wg:64": _shared(64, 64, 4, 4),
  "wg:32": _shared(32, 32, 4, 4),
  "wg:128x64": _shared(128, 64, 8, 4),
};

/**
 * The variant names for the GEMM path `caps` selects.
 *
 * @param caps Device capabilities.
 * @returns Names of {@link GEMM_VARIANTS}, the default first.
 */
export function gemmVariantNames(caps: GemmCaps): string[] {
  const kind = caps.textures ? "texture" : "shared";
  return Object.keys(GEMM_VARIANTS).filter((k) => GEMM_VARIANTS[k].kind === kind);
}

/** Tile sizes of the GEMM template. */
export interface GemmTiles {
  /** Rows of C per workgroup (TM · invocations along y). */
  readonly BM: number;
  /** Columns of C per workgroup (TN · invocations along x). */
  readonly BN: number;
  /** Depth of one K slice (a multiple of 4). */
  readonly BK: number;
  /** Rows per invocation. */
  readonly TM: number;
  /** Columns per invocation (a multiple of 4). */
  readonly TN: number;
}

/** What a GEMM computes and how it reaches its operands. */
export interface GemmSpec {
  /** The element dtype of A, B and C (f32, i32 or u32). */
  readonly dtype: DType;
  /** Batch count. */
  readonly batch: number;
  /** Rows of C. */
  readonly M: number;
  /** Columns of C. */
  readonly N: number;
  /** The contracted length. */
  readonly K: number;
  /** `fn loadA(b: u32, m: u32, k: u32) -> T` (called with in-range indices), reading `a`. */
  readonly loadA: string;
  /** `fn loadB(b: u32, k: u32, n: u32) -> T` (in-range indices), reading `b`. */
  readonly loadB: string;
  /** `fn storeC(b: u32, m: u32, n: u32, v: T)` (in-range indices), writing `o`. */
  readonly storeC: string;
  /**
   * Optionally `fn storeC4(b: u32, m: u32, n: u32, v: vec4<T>)` storing columns n … n + 3
   * (n a multiple of 4, N too), writing `o` declared as `array<vec4<T>>`: templates that
   * store four columns at a time use it instead of `storeC` (fewer, wider storage accesses).
   */
  readonly storeC4?: string;
  /**
   * Whether `storeC4` defines `fn colC4(n: u32) -> ColC4` too (the values of columns n … n + 3
   * it needs, n a multiple of 4 below N) and takes them as a fifth argument `cs: ColC4`: the
   * templates call `colC4` once per column group, not `storeC4` once per row (a bias is read
   * once).
   */
  readonly colC4?: boolean;
  /**
   * The names the templates call instead of `loadA`, `loadB` and `storeC` (functions of the
   * same signatures defined in those strings; used by the split-K plan). Absent: those three.
   */
  readonly calls?: { readonly a: string; readonly b: string; readonly c: string };
  /** The bindings of `a`, `b` and `o` (default inputs 0, 1 and output 0). */
  readonly refs?: readonly [BufRef, BufRef, BufRef];
  /** A is dense row-major `[batch, M, K]` from offset 0 (lets the texture GEMM copy it). */
  readonly aDense?: boolean;
  /** B is dense row-major `[batch, K, N]` from offset 0. */
  readonly bDense?: boolean;
  /** A is dense row-major `[batch, K, M]` (transposed) from offset 0 (`gemm_flat.ts`). */
  readonly aDenseT?: boolean;
  /** B is dense row-major `[batch, N, K]` (transposed) from offset 0. */
  readonly bDenseT?: boolean;
  /**
   * `a` and `b` are f16 storage (`array<f16>`; `loadA`/`loadB` widen to f32, `dtype` is f32):
   * only the texture GEMM (`textureGemmPlan`) takes such a spec.
   */
  readonly halfOperands?: boolean;
}

/**
 * Picks tiles for a problem size: 128 × 128 × 16 with 8 × 8 per invocation for large
 * problems, smaller where M or N is small so that fewer invocations idle.
 *
 * @param M Rows of C.
 * @param N Columns of C.
 * @returns The tiles.
 */
export function chooseTiles(M: number, N: number): GemmTiles {
  const pick = (n: number) => (n > 96 ? 128 : n > 48 ? 64 : n > 24 ? 32 : 16);
  const BM = pick(M), BN = pick(N);
  const TM = Math.min(8, BM / 4), TN = Math.min(8, BN / 4);
  return { BM, BN, BK: 16, TM, TN };
}

/**
 * The GEMM kernel.
 *
 * @param spec The problem and its operand accessors.
 * @param tiles Tile sizes (default from {@link chooseTiles}).
 * @returns The kernel.
 */
export function gemmKernel(spec: GemmSpec, tiles: GemmTiles = chooseTiles(spec.M, spec.N)): Kernel {
  const { BM, BN, BK, TM, TN } = tiles;
  const WX = BN / TN, WY = BM / TM, NT = WX * WY;
  const BK4 = BK / 4, BN4 = BN / 4;
  const t = storageType(spec.dtype);
  const v4 = `vec4<${t}>`;
  const { M, N, K } = spec;
  const tilesM = Math.ceil(M / BM), tilesN = Math.ceil(N / BN);
  const groups = M && N ? tilesM * tilesN * spec.batch : 0;
  const grid = foldGrid(groups);
  const refs = spec.refs ?? [inp(0), inp(1), out(0)];
  const calls = spec.calls ?? { a: "loadA", b: "loadB", c: "storeC" };
  const zero = `${t}(0)`;
  const comp = ["x", "y", "z", "w"];
  const acc: string[] = [], body: string[] = [], store: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let c = 0; c < TN; c++) acc.push(`var c${i}_${c} = ${zero};`);
  }
  for (let i = 0; i < TM; i++) {
    body.push(`let a${i} = As[(ty * ${u(TM)} + ${u(i)}) * ${u(BK4)} + k4];`);
  }
  for (let kk = 0; kk < 4; kk++) {
    for (let j = 0; j < TN / 4; j++) {
      body.push(
        `let b${kk}_${j} = Bs[(k4 * 4u + ${u(kk)}) * ${u(BN4)} + tx * ${u(TN / 4)} + ${u(j)}];`,
      );
    }
  }
  for (let kk = 0; kk < 4; kk++) {
    for (let i = 0; i < TM; i++) {
      for (let c = 0; c < TN; c++) {
        body.push(
          `c${i}_${c} = c${i}_${c} + a${i}.${comp[kk]} * b${kk}_${c >> 2}.${comp[c & 3]};`,
        );
      }
    }
  }
  for (let i = 0; i < TM; i++) {
    for (let c = 0; c < TN; c++) {
      store.push(
        `if (m${i} < ${u(M)} && n0 + ${u(c)} < ${u(N)}) { ${calls.c}(bt, m${i}, n0 + ${
          u(c)
        }, c${i}_${c}); }`,
      );
    }
  }
  const load4 = (f: string, args: (d: number) => string) =>
    `${v4}(${[0, 1, 2, 3].map((d) => `${f}(${args(d)})`).join(", ")})`;
  const wgsl = `${
    declareBindings([
      { name: "a", type: t, access: "read", ref: refs[0] },
      { name: "b", type: t, access: "read", ref: refs[1] },
      { name: "o", type: t, access: "read_write", ref: refs[2] },
    ])
  }
${spec.loadA}
${spec.loadB}
${spec.storeC}
fn ldA(bt: u32, m: u32, k: u32) -> ${t} {
  if (m < ${u(M)} && k < ${u(K)}) { return ${calls.a}(bt, m, k); }
  return ${zero};
}
fn ldB(bt: u32, k: u32, n: u32) -> ${t} {
  if (n < ${u(N)} && k < ${u(K)}) { return ${calls.b}(bt, k, n); }
  return ${zero};
}
var<workgroup> As: array<${v4}, ${BM * BK4}>;
var<workgroup> Bs: array<${v4}, ${BK * BN4}>;
@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = ${grid.flatGroup};
  let tn = g % ${u(tilesN)};
  let gr = g / ${u(tilesN)};
  let tm = gr % ${u(tilesM)};
  let bt = min(gr / ${u(tilesM)}, ${u(Math.max(spec.batch - 1, 0))});
  let valid = gr / ${u(tilesM)} < ${u(spec.batch)};
  let mt = tm * ${u(BM)};
  let nt = tn * ${u(BN)};
  let tx = lid3.x;
  let ty = lid3.y;
  ${acc.join("\n  ")}
  for (var k0 = 0u; k0 < ${u(K)}; k0 = k0 + ${u(BK)}) {
    for (var e = lid; e < ${u(BM * BK4)}; e = e + ${u(NT)}) {
      let m = mt + e / ${u(BK4)};
      let k = k0 + (e % ${u(BK4)}) * 4u;
      As[e] = ${load4("ldA", (d) => `bt, m, k + ${u(d)}`)};
    }
    for (var e = lid; e < ${u(BK * BN4)}; e = e + ${u(NT)}) {
      let k = k0 + e / ${u(BN4)};
      let n = nt + (e % ${u(BN4)}) * 4u;
      Bs[e] = ${load4("ldB", (d) => `bt, k, n + ${u(d)}`)};
    }
    workgroupBarrier();
    for (var k4 = 0u; k4 < ${u(BK4)}; k4 = k4 + 1u) {
      ${body.join("\n      ")}
    }
    workgroupBarrier();
  }
  if (valid) {
    let n0 = nt + tx * ${u(TN)};
    ${
    Array.from({ length: TM }, (_, i) => `let m${i} = mt + ty * ${u(TM)} + ${u(i)};`).join("\n    ")
  }
    ${store.join("\n    ")}
  }
}
`;
  return { wgsl, workgroupSize: [WX, WY, 1], dispatch: grid.dispatch, bindings: refs };
}
