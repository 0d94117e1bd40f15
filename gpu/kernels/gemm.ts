/**
 * A tiled, register-blocked batched GEMM template, `C[b, m, n] = Σ_k A[b, m, k] · B[b, k, n]`,
 * whose operand accesses are WGSL functions supplied by the caller. `dot_general` supplies
 * strided loads (so transposed operands need no copies) and `conv_general_dilated` supplies
 * implicit-GEMM loads (im2col computed on the fly).
 *
 * Each workgroup computes a BM × BN tile of C for one batch entry: per BK-slice of K it stages
 * A and B tiles in workgroup memory (a cooperative, bounds-checked load), then each invocation
 * accumulates a TM × TN block in registers. Invocation (tx, ty) owns rows `ty + i·WY` and
 * columns `tx + j·WX` (WX = BN/TN, WY = BM/TM), so neighbouring invocations read neighbouring
 * columns of the B tile and the same row of the A tile.
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
  storageType,
  u,
} from "./common.ts";

/** Tile sizes of the GEMM template. */
export interface GemmTiles {
  /** Rows of C per workgroup. */
  readonly BM: number;
  /** Columns of C per workgroup. */
  readonly BN: number;
  /** Depth of one K slice. */
  readonly BK: number;
  /** Rows per invocation. */
  readonly TM: number;
  /** Columns per invocation. */
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
  /** Whether consecutive k are adjacent in A's memory (then k varies fastest in its loads). */
  readonly aKFast: boolean;
  /** Whether consecutive k are adjacent in B's memory (else n varies fastest in its loads). */
  readonly bKFast: boolean;
  /** The bindings of `a`, `b` and `o` (default inputs 0, 1 and output 0). */
  readonly refs?: readonly [BufRef, BufRef, BufRef];
}

/**
 * Picks tiles for a problem size: 64 × 64 × 8 with 4 × 4 per invocation for large problems,
 * smaller tiles where M or N is small so that fewer invocations idle.
 *
 * @param M Rows of C.
 * @param N Columns of C.
 * @returns The tiles.
 */
export function chooseTiles(M: number, N: number): GemmTiles {
  const BM = M >= 64 ? 64 : M >= 32 ? 32 : 16;
  const BN = N >= 64 ? 64 : N >= 32 ? 32 : 16;
  return { BM, BN, BK: 8, TM: 4, TN: 4 };
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
  const t = storageType(spec.dtype);
  const tilesM = Math.ceil(spec.M / BM), tilesN = Math.ceil(spec.N / BN);
  const groups = spec.M && spec.N ? tilesM * tilesN * spec.batch : 0;
  const grid = foldGrid(groups);
  const refs = spec.refs ?? [inp(0), inp(1), out(0)];
  const zero = `${t}(0)`;
  const acc: string[] = [];
  const fma: string[] = [];
  const store: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) {
      acc.push(`var c${i}_${j} = ${zero};`);
      fma.push(`c${i}_${j} = c${i}_${j} + a${i} * b${j};`);
      store.push(
        `{ let m = m0 + ty + ${u(i * WY)}; let n = n0 + tx + ${u(j * WX)};` +
          ` if (m < ${u(spec.M)} && n < ${u(spec.N)}) { storeC(bt, m, n, c${i}_${j}); } }`,
      );
    }
  }
  const aReads = Array.from({ length: TM }, (_, i) => `let a${i} = As[kk * ${u(BM)} + ty + ${u(i * WY)}];`);
  const bReads = Array.from({ length: TN }, (_, j) => `let b${j} = Bs[kk * ${u(BN)} + tx + ${u(j * WX)}];`);
  // Cooperative tile loads: element e of the tile; the fast index follows memory order.
  const aIdx = spec.aKFast
    ? `let kk = e % ${u(BK)}; let mm = e / ${u(BK)};`
    : `let kk = e / ${u(BM)}; let mm = e % ${u(BM)};`;
  const bIdx = spec.bKFast
    ? `let kk = e % ${u(BK)}; let nn = e / ${u(BK)};`
    : `let kk = e / ${u(BN)}; let nn = e % ${u(BN)};`;
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
var<workgroup> As: array<${t}, ${BK * BM}>;
var<workgroup> Bs: array<${t}, ${BK * BN}>;
@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = ${grid.flatGroup};
  let tn = g % ${u(tilesN)};
  let gr = g / ${u(tilesN)};
  let tm = gr % ${u(tilesM)};
  let bt = gr / ${u(tilesM)};
  let valid = bt < ${u(spec.batch)};
  let m0 = tm * ${u(BM)};
  let n0 = tn * ${u(BN)};
  let tx = lid3.x;
  let ty = lid3.y;
  ${acc.join("\n  ")}
  for (var k0 = 0u; k0 < ${u(spec.K)}; k0 = k0 + ${u(BK)}) {
    for (var e = lid; e < ${u(BK * BM)}; e = e + ${u(NT)}) {
      ${aIdx}
      let m = m0 + mm;
      let k = k0 + kk;
      var v = ${zero};
      if (valid && m < ${u(spec.M)} && k < ${u(spec.K)}) { v = loadA(bt, m, k); }
      As[kk * ${u(BM)} + mm] = v;
    }
    for (var e = lid; e < ${u(BK * BN)}; e = e + ${u(NT)}) {
      ${bIdx}
      let n = n0 + nn;
      let k = k0 + kk;
      var v = ${zero};
      if (valid && n < ${u(spec.N)} && k < ${u(spec.K)}) { v = loadB(bt, k, n); }
      Bs[kk * ${u(BN)} + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${u(BK)}; kk = kk + 1u) {
      ${aReads.join("\n      ")}
      ${bReads.join("\n      ")}
      ${fma.join("\n      ")}
    }
    workgroupBarrier();
  }
  if (valid) {
    ${store.join("\n    ")}
  }
}
`;
  return { wgsl, workgroupSize: [WX, WY, 1], dispatch: grid.dispatch, bindings: refs };
}
