/**
 * A GEMM whose operands are first packed into rgba32 array textures, for CPU adapters.
 *
 * Why: on llvmpipe every storage-buffer or workgroup-memory access is a loop over the SIMD
 * lanes with a branch per lane (Mesa 22.x `emit_load_mem`); a storage read costs about 10 ns
 * per lane and float, while `textureLoad` takes the sampler's vectorised path, about 1 ns per
 * lane and float (both measured here). Packing costs one storage read per operand element; the GEMM then reads
 * only textures: 1024³ f32 runs at 15–18 GFLOP/s on an idle 2-core llvmpipe, against
 * 1.8 GFLOP/s for the GEMM staged through workgroup memory. Dense operands whose rows are
 * multiples of 256 bytes skip the pack kernel: `copyBufferToTexture` lays them out as is.
 *
 * Layout: A is packed as rows m (per batch entry) of texels holding 4 consecutive k; B as
 * rows k of texels holding 4 consecutive n; K is padded to a multiple of 4 with zeros. Rows
 * beyond the texture height spill into further layers, so M, K up to height · layers fit.
 * Each invocation accumulates TM rows × TN columns in registers, reading per 4 k one texel
 * of A per row and 4 · TN/4 texels of B.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import {
  type BufRef,
  foldGrid,
  inp,
  type Kernel,
  out,
  type Plan,
  storageType,
  TEXEL_FORMAT,
  type TexRef,
  u,
} from "./common.ts";
import { lightStore, tileStores, vecAccumulators } from "./conv_store.ts";
import type { GemmSpec } from "./gemm.ts";

/** Texture limits of the device. */
export interface TextureLimits {
  /** Width and height of a 2-D texture. */
  readonly maxTextureDimension2D: number;
  /** Layers of an array texture. */
  readonly maxTextureArrayLayers: number;
}

/** Register block and workgroup shape of the texture GEMM. */
export interface TextureGemmTiles {
  /** Rows per invocation. */
  readonly TM: number;
  /** Columns per invocation (a multiple of 4). */
  readonly TN: number;
  /** Invocations along n. */
  readonly WX: number;
  /** Invocations along m. */
  readonly WY: number;
}

/**
 * Default tiles by problem size: 12 × 12 per invocation when M and N are both ≥ 768, 8 × 8
 * when both are ≥ 256 and K ≥ 256, else 4 × 4 (fewer for tiny M or N); 8 × 8 invocations per
 * workgroup. Measured on llvmpipe: at N = 1024 12 × 12 beats 8 × 8 by 10–40%; at N = 256–512
 * 8 × 8 beats 12 × 12 and 4 × 4 (by 20–45%); on the MLP step (batch 128) 4 × 4 is as fast as
 * 8 × 8. Larger blocks also cost compile time, which dominates a cold start: llvmpipe compiles
 * a shader at its first dispatch, ~0.1 s for 4 × 4, ~0.3–0.45 s for 8 × 8 and 0.5–1.2 s for
 * 12 × 12 with a fused epilogue. (4 × 4 invocations per workgroup were 2–3× slower.)
 *
 * @param M Rows of C.
 * @param N Columns of C.
 * @param K The contracted length (default: large).
 * @returns The tiles.
 */
export function textureTiles(M: number, N: number, K = Infinity): TextureGemmTiles {
  const lo = Math.min(M, N);
  const block = lo >= 768 ? 12 : lo >= 256 && K >= 256 ? 8 : 4;
  // a long side against a narrow one (a convolution's pixels × channels) takes 12, and a
  // narrow N of 5–8 one tile of 8 columns (A is then read once per row, not twice)
  const narrow = lo < 32 && Math.max(M, N) >= 768;
  const pick = (n: number) => (n < 32 ? 4 : narrow && n >= 768 ? 12 : block);
  const TM = pick(M), TN = narrow && N > 4 && N <= 8 ? 8 : pick(N);
  return {
    TM,
    TN,
    WX: Math.max(1, Math.min(8, Math.ceil(N / TN))),
    WY: Math.max(1, Math.min(8, Math.ceil(M / TM))),
  };
}

const _MAX_PACKED_BYTES = 512 * 2 ** 20;

interface _Layout {
  WA: number;
  HA: number;
  LA: number;
  WB: number;
  HB: number;
  LB: number;
  Kp: number;
}

function _layout(spec: GemmSpec, lim: TextureLimits): _Layout | null {
  const D = lim.maxTextureDimension2D;
  const Kp = Math.ceil(spec.K / 4) * 4;
  const WA = Math.max(1, Kp / 4), WB = Math.max(1, Math.ceil(spec.N / 4));
  const HA = Math.max(1, Math.min(spec.M, D));
  const HB = Math.max(4, Math.min(Kp, Math.floor(D / 4) * 4));
  const LA = Math.ceil(spec.M / HA), LB = Math.max(1, Math.ceil(Kp / HB));
  if (WA > D || WB > D) return null;
  if (spec.batch * LA > lim.maxTextureArrayLayers || spec.batch * LB > lim.maxTextureArrayLayers) {
    return null;
  }
  // Packed operands beyond this many bytes (an im2col of a large conv, say) are not worth the
  // memory: the workgroup-memory GEMM runs in place.
  const bytes = 16 * spec.batch * (WA * HA * LA + WB * HB * LB);
  if (bytes > _MAX_PACKED_BYTES) return null;
  return { WA, HA, LA, WB, HB, LB, Kp };
}

/**
 * The texture GEMM as a plan (pack A, pack B, multiply), or null when the operands do not fit
 * the device's texture limits.
 *
 * @param spec The problem and its operand accessors (as for `gemmKernel`).
 * @param lim The device's texture limits.
 * @param tiles Optional register blocking (for tuning).
 * @returns The plan: inputs `spec.refs` (default in 0, in 1) → output (default out 0).
 */
export function textureGemmPlan(
  spec: GemmSpec,
  lim: TextureLimits,
  tiles: TextureGemmTiles = textureTiles(spec.M, spec.N, spec.K),
): Plan | null {
  if (spec.dtype === "bool" || spec.M === 0 || spec.N === 0 || spec.batch === 0) return null;
  const L = _layout(spec, lim);
  if (!L) return null;
  const dt = spec.dtype;
  const format = TEXEL_FORMAT[storageType(dt)];
  const refs = spec.refs ?? [inp(0), inp(1), out(0)];
  const texA: TexRef = { kind: "tex", index: 0 }, texB: TexRef = { kind: "tex", index: 1 };
  // Dense operands whose rows are 256-byte multiples are copied, not packed: a texel row is
  // then exactly a row of the matrix (one layer per batch entry).
  // f16 operands (2 bytes an element) are copied into rgba16float textures, read back as f32
  const eb = spec.halfOperands ? 2 : 4, row = 256 / eb;
  const copyA = !!spec.aDense && spec.K > 0 && spec.K % row === 0 && L.LA === 1;
  const copyB = !!spec.bDense && spec.K > 0 && spec.N % row === 0 && spec.K % 4 === 0 &&
    L.LB === 1;
  const fmt = (copy: boolean) => (copy && spec.halfOperands ? "rgba16float" : format);
  return {
    steps: [
      copyA
        ? { kind: "toTexture", src: refs[0], dst: texA, bytesPerRow: spec.K * eb }
        : { kind: "dispatch", kernel: _packA(spec, L, format, refs[0], texA) },
      copyB
        ? { kind: "toTexture", src: refs[1], dst: texB, bytesPerRow: spec.N * eb }
        : { kind: "dispatch", kernel: _packB(spec, L, format, refs[1], texB) },
      { kind: "dispatch", kernel: _multiply(spec, L, tiles, texA, texB, refs[2]) },
    ],
    temps: [],
    textures: [
      { width: L.WA, height: L.HA, layers: spec.batch * L.LA, format: fmt(copyA) },
      { width: L.WB, height: L.HB, layers: spec.batch * L.LB, format: fmt(copyB) },
    ],
  };
}

const _WG = 64;

/**
 * A pack kernel: row `row` of batch entry `bt` of an operand, as texels of four consecutive
 * columns (`col` … `col + 3`), zero beyond `cols` and on rows where `rowOk` fails.
 */
function _pack(
  spec: GemmSpec,
  o: {
    readonly buf: "a" | "b";
    readonly load: (col: string) => string;
    readonly width: number;
    readonly rows: number;
    readonly cols: number;
    readonly rowOk: string;
    readonly height: number;
    readonly layers: number;
  },
  format: string,
  src: BufRef,
  dst: TexRef,
): Kernel {
  const t = storageType(spec.dtype);
  const total = spec.batch * o.rows * o.width;
  const grid = foldGrid(Math.ceil(total / _WG));
  const lane = (d: number) =>
    `select(${t}(0), ${o.load(`col + ${u(d)}`)}, col + ${u(d)} < ${u(o.cols)})`;
  const half = spec.halfOperands;
  const wgsl = `${
    half ? "enable f16;\n" : ""
  }@group(0) @binding(0) var<storage, read> ${o.buf}: array<${half ? "f16" : t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
${o.buf === "a" ? spec.loadA : spec.loadB}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_WG)} + lid;
  if (i >= ${u(total)}) { return; }
  let c4 = i % ${u(o.width)};
  let r = i / ${u(o.width)};
  let row = r % ${u(o.rows)};
  let bt = r / ${u(o.rows)};
  let col = c4 * 4u;
  var v = vec4<${t}>(${t}(0));
  if (${o.rowOk}) { v = vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")}); }
  textureStore(T, vec2u(c4, row % ${u(o.height)}), bt * ${u(o.layers)} + row / ${u(o.height)}, v);
}
`;
  return { wgsl, workgroupSize: [_WG, 1, 1], dispatch: grid.dispatch, bindings: [src, dst] };
}

/** A as rows m of texels of four consecutive k. */
function _packA(spec: GemmSpec, L: _Layout, format: string, src: BufRef, dst: TexRef): Kernel {
  return _pack(
    spec,
    {
      buf: "a",
      load: (k) => `${spec.calls?.a ?? "loadA"}(bt, row, ${k})`,
      width: L.WA,
      rows: spec.M,
      cols: spec.K,
      rowOk: `col < ${u(spec.K)}`,
      height: L.HA,
      layers: L.LA,
    },
    format,
    src,
    dst,
  );
}

/** B as rows k (padded to a multiple of 4 with zero rows) of texels of four consecutive n. */
function _packB(spec: GemmSpec, L: _Layout, format: string, src: BufRef, dst: TexRef): Kernel {
  return _pack(
    spec,
    {
      buf: "b",
      load: (n) => `${spec.calls?.b ?? "loadB"}(bt, row, ${n})`,
      width: L.WB,
      rows: L.Kp,
      cols: spec.N,
      rowOk: `row < ${u(spec.K)}`,
      height: L.HB,
      layers: L.LB,
    },
    format,
    src,
    dst,
  );
}

function _multiply(
  spec: GemmSpec,
  L: _Layout,
  tiles: TextureGemmTiles,
  texA: TexRef,
  texB: TexRef,
  dst: BufRef,
): Kernel {
  const { TM, TN, WX, WY } = tiles;
  // llvmpipe vectorizes invocations along x only (8 to a vector): fewer than 8 invocations
  // along columns put the rows on x instead (see conv_texture.ts's ConvTextureTiles.rowsX)
  const rowsX = WX < 8 && WY > WX;
  const { M, N } = spec;
  const t = storageType(spec.dtype);
  const BM = TM * WY, BN = TN * WX, TN4 = TN / 4;
  const tilesM = Math.ceil(M / BM), tilesN = Math.ceil(N / BN);
  const grid = foldGrid(tilesM * tilesN * spec.batch);
  const comp = ["x", "y", "z", "w"];
  const pre: string[] = [], body: string[] = [], store: string[] = [];
  for (let i = 0; i < TM; i++) {
    pre.push(`let m${i} = min(mb + ${u(i)}, ${u(M - 1)});`);
    pre.push(`let ya${i} = m${i} % ${u(L.HA)};`);
    pre.push(`let la${i} = bt * ${u(L.LA)} + m${i} / ${u(L.HA)};`);
  }
  for (let j = 0; j < TN4; j++) pre.push(`let cx${j} = min(nb / 4u + ${u(j)}, ${u(L.WB - 1)});`);
  // accumulators c{i}_{j}: vec4s of four columns (conv_store.ts)
  const acc = vecAccumulators(TM, TN, t);
  pre.push(...acc.decls);
  for (let i = 0; i < TM; i++) {
    body.push(`let a${i} = textureLoad(TA, vec2u(k4, ya${i}), la${i}, 0);`);
  }
  body.push(
    `let kb = k4 * 4u;`,
    `let lb = bt * ${u(L.LB)} + kb / ${u(L.HB)};`,
    `let yb = kb % ${u(L.HB)};`,
  );
  for (let kk = 0; kk < 4; kk++) {
    for (let j = 0; j < TN4; j++) {
      body.push(`let b${kk}_${j} = textureLoad(TB, vec2u(cx${j}, yb + ${u(kk)}), lb, 0);`);
    }
  }
  for (let kk = 0; kk < 4; kk++) {
    for (let i = 0; i < TM; i++) {
      for (let j = 0; j < TN4; j++) {
        body.push(`c${i}_${j} = c${i}_${j} + a${i}.${comp[kk]} * b${kk}_${j};`);
      }
    }
  }
  // four columns per store where the spec allows (nb is a multiple of TN, hence of 4); the
  // stores by a loop, `storeC` written once (conv_store.ts's tileStores)
  const vec = spec.storeC4 !== undefined && N % 4 === 0;
  // per-column values (GemmSpec.colC4), clamped below N: they serve only stores in range
  const colPre = (n: string) => [`let cs = colC4(min(${n}, ${u(N - 4)}));`];
  store.push(...tileStores("TA", TM, TN, acc.vec, (i, n, v) => {
    const guard = `mb + ${i} < ${u(M)} && ${n} < ${u(N)}`;
    return vec
      ? `if (${guard}) { storeC4(bt, mb + ${i}, ${n}, ${v}${spec.colC4 ? ", cs" : ""}); }`
      : `if (${guard}) { ${spec.calls?.c ?? "storeC"}(bt, mb + ${i}, ${n}, ${v}); }`;
  }, {
    quads: vec,
    colPre: vec && spec.colC4 ? colPre : undefined,
    light: lightStore(spec.storeC),
  }));
  const wgsl = `@group(0) @binding(0) var TA: texture_2d_array<${t}>;
@group(0) @binding(1) var TB: texture_2d_array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${vec ? `vec4<${t}>` : t}>;
${vec ? spec.storeC4 : spec.storeC}
@compute @workgroup_size(${rowsX ? `${WY}, ${WX}` : `${WX}, ${WY}`})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let g = ${grid.flatGroup};
  let tn = g % ${u(tilesN)};
  let gr = g / ${u(tilesN)};
  let tm = gr % ${u(tilesM)};
  let valid = gr / ${u(tilesM)} < ${u(spec.batch)};
  let bt = min(gr / ${u(tilesM)}, ${u(spec.batch - 1)});
  let mb = tm * ${u(BM)} + lid.${rowsX ? "x" : "y"} * ${u(TM)};
  let nb = tn * ${u(BN)} + lid.${rowsX ? "y" : "x"} * ${u(TN)};
  ${pre.join("\n  ")}
  for (var k4 = 0u; k4 < ${u(L.Kp / 4)}; k4 = k4 + 1u) {
    ${body.join("\n    ")}
  }
  if (valid) {
    ${store.join("\n    ")}
  }
}
`;
  return {
    wgsl,
    workgroupSize: rowsX ? [WY, WX, 1] : [WX, WY, 1],
    dispatch: grid.dispatch,
    bindings: [texA, texB, dst],
  };
}

/** The dtypes the texture GEMM supports. */
export function textureGemmSupports(dtype: DType): boolean {
  return dtype === "f32" || dtype === "i32" || dtype === "u32";
}
