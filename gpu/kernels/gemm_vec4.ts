/**
 * A register-blocked batched GEMM that reads its operands straight from storage as `vec4`s,
 * without workgroup memory, for operands whose layout allows aligned vec4 loads.
 *
 * Why: on llvmpipe (Mesa's CPU driver) every storage or workgroup-memory load is a loop over
 * the SIMD lanes, so loads, not FMAs, bound a GEMM; a vec4 load moves four floats per lane
 * iteration, and a large per-invocation block (TM × TN outputs in registers) reuses each
 * loaded value TM or TN times. Barriers (coroutine switches there) are avoided altogether.
 * On discrete GPUs the caches serve the repeated reads.
 *
 * Each invocation computes rows `m0 + ty·TM + i` (i < TM) and columns `n0 + tx·TN + c`
 * (c < TN, TN a multiple of 4) for 4 values of k per step. Rows or columns past the edge are
 * clamped on load and skipped on store.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import { foldGrid, inp, type Kernel, out, storageType, u } from "./common.ts";

/** Layout of the GEMM operands, in elements. */
export interface Vec4GemmSpec {
  /** f32, i32 or u32. */
  readonly dtype: DType;
  /** Batch count. */
  readonly batch: number;
  /** Rows of C. */
  readonly M: number;
  /** Columns of C (a multiple of 4). */
  readonly N: number;
  /** Contracted length (a multiple of 4). */
  readonly K: number;
  /** A's strides for (m, k); one of them is 1, the other a multiple of 4. */
  readonly aStrides: readonly [number, number];
  /** B's strides for (k, n); one of them is 1, the other a multiple of 4. */
  readonly bStrides: readonly [number, number];
  /** WGSL statements setting `aBase` and `bBase` (element offsets, multiples of 4) from `bi`. */
  readonly batchOffsets: string;
}

/** Block shape of the vec4 GEMM. */
export interface Vec4Tiles {
  /** Rows per invocation (a multiple of 4). */
  readonly TM: number;
  /** Columns per invocation (a multiple of 4). */
  readonly TN: number;
  /** Invocations along n. */
  readonly WX: number;
  /** Invocations along m. */
  readonly WY: number;
}

/** Default blocks: 8 × 8 per invocation, 8 × 8 invocations (64 × 64 per workgroup). */
export const VEC4_TILES: Vec4Tiles = { TM: 8, TN: 8, WX: 8, WY: 8 };

/**
 * Whether a GEMM layout suits {@link vec4GemmKernel}.
 *
 * @param K Contracted length.
 * @param N Columns of C.
 * @param M Rows of C.
 * @param aStrides A's (m, k) strides.
 * @param bStrides B's (k, n) strides.
 * @returns True when every vec4 load is aligned.
 */
export function vec4GemmApplies(
  M: number,
  N: number,
  K: number,
  aStrides: readonly [number, number],
  bStrides: readonly [number, number],
): boolean {
  const ok = (s: readonly [number, number], fast0: number, fast1: number) =>
    (s[1] === 1 && s[0] % 4 === 0 && fast1 % 4 === 0) ||
    (s[0] === 1 && s[1] % 4 === 0 && fast0 % 4 === 0);
  return N % 4 === 0 && K % 4 === 0 && M > 0 && ok(aStrides, M, K) && ok(bStrides, K, N);
}

/**
 * The vec4 GEMM kernel: inputs (a, b) → output 0, C row-major `[batch, M, N]`.
 *
 * @param spec The problem and operand layouts.
 * @param tiles The block shape.
 * @returns The kernel.
 */
export function vec4GemmKernel(spec: Vec4GemmSpec, tiles: Vec4Tiles = VEC4_TILES): Kernel {
  const { TM, TN, WX, WY } = tiles;
  const { M, N, K } = spec;
  const t = storageType(spec.dtype);
  const v = `vec4<${t}>`;
  const BM = TM * WY, BN = TN * WX;
  const tilesM = Math.ceil(M / BM), tilesN = Math.ceil(N / BN);
  const grid = foldGrid(tilesM * tilesN * spec.batch);
  const [sam, sak] = spec.aStrides, [sbk, sbn] = spec.bStrides;
  const aAlongK = sak === 1, bAlongN = sbn === 1;
  const lines: string[] = [];
  // Row and column indices, clamped so that loads stay in range.
  for (let i = 0; i < TM; i++) lines.push(`let r${i} = min(mb + ${u(i)}, ${u(M - 1)});`);
  for (let c = 0; c < TN; c += 4) lines.push(`let cn${c} = min(nb + ${u(c)}, ${u(N - 4)});`);
  for (let i = 0; i < TM; i++) {
    for (let c = 0; c < TN; c++) lines.push(`var c${i}_${c} = ${t}(0);`);
  }
  // a(i, kk): element of A at row i, depth k + kk; b(kk, c) likewise.
  const aLoads: string[] = [], bLoads: string[] = [];
  let aAt: (i: number, kk: number) => string;
  let bAt: (kk: number, c: number) => string;
  const comp = ["x", "y", "z", "w"];
  if (aAlongK) {
    for (let i = 0; i < TM; i++) {
      aLoads.push(`let a${i} = A[(aBase + r${i} * ${u(sam)} + k) >> 2u];`);
    }
    aAt = (i, kk) => `a${i}.${comp[kk]}`;
  } else {
    // vec4 over 4 rows: rows mb + 4q … mb + 4q + 3 (clamped as a group).
    for (let q = 0; q < TM / 4; q++) {
      for (let kk = 0; kk < 4; kk++) {
        aLoads.push(
          `let a${q}_${kk} = A[(aBase + min(mb + ${u(4 * q)}, ${u(M - 4 < 0 ? 0 : M - 4)}) + (k + ${
            u(kk)
          }) * ${u(sak)}) >> 2u];`,
        );
      }
    }
    aAt = (i, kk) => `a${Math.floor(i / 4)}_${kk}.${comp[i % 4]}`;
  }
  if (bAlongN) {
    for (let kk = 0; kk < 4; kk++) {
      for (let c = 0; c < TN; c += 4) {
        bLoads.push(`let b${kk}_${c} = B[(bBase + (k + ${u(kk)}) * ${u(sbk)} + cn${c}) >> 2u];`);
      }
    }
    bAt = (kk, c) => `b${kk}_${c - (c % 4)}.${comp[c % 4]}`;
  } else {
    for (let c = 0; c < TN; c++) {
      bLoads.push(
        `let b${c} = B[(bBase + min(nb + ${u(c)}, ${u(N - 1)}) * ${u(sbn)} + k) >> 2u];`,
      );
    }
    bAt = (kk, c) => `b${c}.${comp[kk]}`;
  }
  const fmas: string[] = [];
  for (let kk = 0; kk < 4; kk++) {
    for (let i = 0; i < TM; i++) {
      for (let c = 0; c < TN; c++) {
        fmas.push(`c${i}_${c} = c${i}_${c} + ${aAt(i, kk)} * ${bAt(kk, c)};`);
      }
    }
  }
  const stores: string[] = [];
  for (let i = 0; i < TM; i++) {
    for (let c = 0; c < TN; c += 4) {
      stores.push(
        `if (mb + ${u(i)} < ${u(M)} && nb + ${u(c)} < ${u(N)}) { C[(cBase + (mb + ${u(i)}) * ${
          u(N)
        } + nb + ${u(c)}) >> 2u] = ${v}(c${i}_${c}, c${i}_${c + 1}, c${i}_${c + 2}, c${i}_${
          c + 3
        }); }`,
      );
    }
  }
  if (!aAlongK && M < 4) throw new Error("internal: vec4 GEMM along m needs M >= 4");
  const wgsl = `@group(0) @binding(0) var<storage, read> A: array<${v}>;
@group(0) @binding(1) var<storage, read> B: array<${v}>;
@group(0) @binding(2) var<storage, read_write> C: array<${v}>;
@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let g = ${grid.flatGroup};
  let tn = g % ${u(tilesN)};
  let gr = g / ${u(tilesN)};
  let tm = gr % ${u(tilesM)};
  let bi = min(gr / ${u(tilesM)}, ${u(spec.batch - 1)});
  let valid = gr / ${u(tilesM)} < ${u(spec.batch)};
  ${spec.batchOffsets}
  let cBase = bi * ${u(M * N)};
  let mb = tm * ${u(BM)} + lid.y * ${u(TM)};
  let nb = tn * ${u(BN)} + lid.x * ${u(TN)};
  ${lines.join("\n  ")}
  for (var k = 0u; k < ${u(K)}; k = k + 4u) {
    ${aLoads.join("\n    ")}
    ${bLoads.join("\n    ")}
    ${fmas.join("\n    ")}
  }
  if (valid) {
    ${stores.join("\n    ")}
  }
}
`;
  return {
    wgsl,
    workgroupSize: [WX, WY, 1],
    dispatch: grid.dispatch,
    bindings: [inp(0), inp(1), out(0)],
  };
}
