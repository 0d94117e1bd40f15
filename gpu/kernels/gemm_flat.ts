/**
 * A texture GEMM whose operands lie in their textures as flat texel streams, so that dense
 * operands in either orientation are copied (`copyBufferToTexture`), not packed.
 *
 * Why: on llvmpipe every pipeline costs a compile of 20-35 ms at its first dispatch (a cold
 * start has no shader cache), and the texture GEMM of `gemm_texture.ts` packs every operand
 * that is not dense row-major with 256-byte rows (`x` of 784 columns, every transposed
 * operand of a backward pass) with a kernel of its own. Here a texture holds its operand's
 * elements in memory order, four to a texel, `width` texels to a row (a power of two, a
 * multiple of 16 so that a row is a multiple of 256 bytes): any dense operand whose
 * contiguous dim is a multiple of 4 is a plain copy, in the orientation it has.
 *
 * Orientations: A is "k" (a texel holds four consecutive k of one row m: row-major `[M, K]`)
 * or "m" (four consecutive m of one k: `[K, M]`, a transposed operand); B is "n" (`[K, N]`)
 * or "k" (`[N, K]`). An operand that is not dense (a fused prologue, a strided view) is
 * packed into orientation "k" (A) or "n" (B) by one kernel, as in `gemm_texture.ts`. The
 * multiply reads, per four k, TM × 4 values of A and 4 × TN of B in whichever orientation,
 * and accumulates TM × TN results in registers.
 *
 * @module
 */
import {
  type BufRef,
  foldGrid,
  inp,
  type Kernel,
  out,
  type Plan,
  type Step,
  storageType,
  TEXEL_FORMAT,
  type TexRef,
  u,
} from "./common.ts";
import type { GemmSpec } from "./gemm.ts";
import { type TextureLimits, textureTiles } from "./gemm_texture.ts";

/** How an operand lies in its texture. */
interface _Side {
  /** The GEMM dim four of which share a texel ("k", or "m" for A, "n" for B). */
  readonly inner: "k" | "m" | "n";
  /** Texels per outer index: ceil(inner length / 4). */
  readonly inner4: number;
  /** Texels in all. */
  readonly texels: number;
  /** Texels per texture row (a power of two). */
  readonly width: number;
  /** Texture rows. */
  readonly height: number;
  /** Copied from the buffer (else packed by a kernel). */
  readonly copy: boolean;
}

/** The texture row width for `texels` texels, or null: a power of two ≥ 16 dividing them. */
function _width(texels: number, D: number, exact: boolean): number | null {
  let w = 16;
  while (w * 2 <= D && w * 2 <= texels) w *= 2;
  for (; w >= 16; w /= 2) {
    if ((!exact || texels % w === 0) && Math.ceil(texels / w) <= D) return w;
  }
  return null;
}

function _side(
  inner: "k" | "m" | "n",
  innerLen: number,
  outerLen: number,
  copy: boolean,
  D: number,
): _Side | null {
  const inner4 = Math.ceil(innerLen / 4);
  const texels = inner4 * outerLen;
  const width = _width(texels, D, copy);
  if (width === null) return null;
  return { inner, inner4, texels, width, height: Math.ceil(texels / width), copy };
}

/** The two operands' layouts: copies where the operand allows one, else packs. */
function _sides(spec: GemmSpec, D: number): [_Side, _Side] | null {
  const { M, N, K } = spec;
  const a = spec.aDense && K % 4 === 0
    ? _side("k", K, M, true, D)
    : spec.aDenseT && M % 4 === 0
    ? _side("m", M, K, true, D)
    : null;
  const b = spec.bDense && N % 4 === 0
    ? _side("n", N, K, true, D)
    : spec.bDenseT && K % 4 === 0
    ? _side("k", K, N, true, D)
    : null;
  const A = a ?? _side("k", K, M, false, D), B = b ?? _side("n", N, K, false, D);
  return A && B ? [A, B] : null;
}

/**
 * Pack kernels the flat GEMM would run for `spec` (0, 1 or 2), or null when it does not take
 * the problem: a batch other than 1, K not a multiple of 4, an f16 or bool operand, split-K
 * accessors, or operands beyond the texture limits.
 *
 * @param spec The problem.
 * @param lim The device's texture limits.
 * @returns The count, or null.
 */
export function flatGemmPacks(spec: GemmSpec, lim: TextureLimits): number | null {
  const s = _take(spec, lim);
  return s && s.filter((x) => !x.copy).length;
}

function _take(spec: GemmSpec, lim: TextureLimits): [_Side, _Side] | null {
  const { M, N, K } = spec;
  if (spec.batch !== 1 || !M || !N || !K || K % 4 !== 0 || spec.calls) return null;
  if (
    spec.halfOperands || !(spec.dtype === "f32" || spec.dtype === "i32" || spec.dtype === "u32")
  ) {
    return null;
  }
  return _sides(spec, lim.maxTextureDimension2D);
}

/**
 * The flat texture GEMM as a plan (each operand copied or packed, then the multiply), or null
 * where it does not take the problem (see {@link flatGemmPacks}).
 *
 * @param spec The problem and its operand accessors (`aDense`/`aDenseT`, `bDense`/`bDenseT`
 * say which operands may be copied).
 * @param lim The device's texture limits.
 * @returns The plan: inputs `spec.refs` (default in 0, in 1) → output (default out 0).
 */
export function flatGemmPlan(spec: GemmSpec, lim: TextureLimits): Plan | null {
  const sides = _take(spec, lim);
  if (!sides) return null;
  const [A, B] = sides;
  const format = TEXEL_FORMAT[storageType(spec.dtype) as keyof typeof TEXEL_FORMAT];
  const refs = spec.refs ?? [inp(0), inp(1), out(0)];
  const texA: TexRef = { kind: "tex", index: 0 }, texB: TexRef = { kind: "tex", index: 1 };
  const fill = (s: _Side, src: BufRef, dst: TexRef, which: "a" | "b"): Step =>
    s.copy
      ? { kind: "toTexture", src, dst, bytesPerRow: s.width * 16 }
      : { kind: "dispatch", kernel: _pack(spec, s, which, format, src, dst) };
  return {
    steps: [
      fill(A, refs[0], texA, "a"),
      fill(B, refs[1], texB, "b"),
      { kind: "dispatch", kernel: _multiply(spec, A, B, texA, texB, refs[2]) },
    ],
    temps: [],
    textures: [A, B].map((s) => ({ width: s.width, height: s.height, layers: 1, format })),
  };
}

const _WG = 64;

/** The texture coordinates of flat texel `t` of a side. */
const _at = (s: _Side, t: string) =>
  `vec2u((${t}) & ${u(s.width - 1)}, (${t}) >> ${u(Math.log2(s.width))})`;

/** A pack kernel: A as rows m of texels of four k, or B as rows k of texels of four n. */
function _pack(
  spec: GemmSpec,
  s: _Side,
  which: "a" | "b",
  format: string,
  src: BufRef,
  dst: TexRef,
): Kernel {
  const t = storageType(spec.dtype);
  const grid = foldGrid(Math.ceil(s.texels / _WG));
  const len = which === "a" ? spec.K : spec.N;
  const load = (d: number) => {
    const v = `load${which.toUpperCase()}(0u, r, c + ${u(d)})`;
    return len % 4 === 0 ? v : `select(${t}(0), ${v}, c + ${u(d)} < ${u(len)})`;
  };
  const wgsl = `@group(0) @binding(0) var<storage, read> ${which}: array<${t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
${which === "a" ? spec.loadA : spec.loadB}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_WG)} + lid;
  if (i >= ${u(s.texels)}) { return; }
  let r = i / ${u(s.inner4)};
  let c = (i % ${u(s.inner4)}) * 4u;
  textureStore(T, ${_at(s, "i")}, 0u, vec4<${t}>(${[0, 1, 2, 3].map(load).join(", ")}));
}
`;
  return { wgsl, workgroupSize: [_WG, 1, 1], dispatch: grid.dispatch, bindings: [src, dst] };
}

function _multiply(
  spec: GemmSpec,
  A: _Side,
  B: _Side,
  texA: TexRef,
  texB: TexRef,
  dst: BufRef,
): Kernel {
  const { M, N, K } = spec;
  const { TM, TN, WX, WY } = textureTiles(M, N, K);
  const rowsX = WX < 8 && WY > WX;
  const t = storageType(spec.dtype);
  const BM = TM * WY, BN = TN * WX, TM4 = TM / 4, TN4 = TN / 4;
  const tilesM = Math.ceil(M / BM), tilesN = Math.ceil(N / BN);
  const grid = foldGrid(tilesM * tilesN);
  const comp = ["x", "y", "z", "w"];
  const pre: string[] = [], body: string[] = [], store: string[] = [];
  const ld = (tex: string, s: _Side, idx: string) => `textureLoad(${tex}, ${_at(s, idx)}, 0, 0)`;
  // A's values at (row i of the block, k4 * 4 + kk) and B's at (k4 * 4 + kk, column c)
  let aVal: (i: number, kk: number) => string, bVal: (kk: number, c: number) => string;
  if (A.inner === "k") {
    for (let i = 0; i < TM; i++) {
      pre.push(`let ra${i} = min(mb + ${u(i)}, ${u(M - 1)}) * ${u(A.inner4)};`);
    }
    for (let i = 0; i < TM; i++) body.push(`let a${i} = ${ld("TA", A, `ra${i} + k4`)};`);
    aVal = (i, kk) => `a${i}.${comp[kk]}`;
  } else {
    for (let i = 0; i < TM4; i++) {
      pre.push(`let ca${i} = min(mb / 4u + ${u(i)}, ${u(A.inner4 - 1)});`);
    }
    for (let kk = 0; kk < 4; kk++) {
      for (let i = 0; i < TM4; i++) {
        body.push(
          `let a${kk}_${i} = ${ld("TA", A, `(k4 * 4u + ${u(kk)}) * ${u(A.inner4)} + ca${i}`)};`,
        );
      }
    }
    aVal = (i, kk) => `a${kk}_${i >> 2}.${comp[i & 3]}`;
  }
  if (B.inner === "n") {
    for (let j = 0; j < TN4; j++) {
      pre.push(`let cb${j} = min(nb / 4u + ${u(j)}, ${u(B.inner4 - 1)});`);
    }
    for (let kk = 0; kk < 4; kk++) {
      for (let j = 0; j < TN4; j++) {
        body.push(
          `let b${kk}_${j} = ${ld("TB", B, `(k4 * 4u + ${u(kk)}) * ${u(B.inner4)} + cb${j}`)};`,
        );
      }
    }
    bVal = (kk, c) => `b${kk}_${c >> 2}.${comp[c & 3]}`;
  } else {
    for (let c = 0; c < TN; c++) {
      pre.push(`let rb${c} = min(nb + ${u(c)}, ${u(N - 1)}) * ${u(B.inner4)};`);
    }
    for (let c = 0; c < TN; c++) body.push(`let b${c} = ${ld("TB", B, `rb${c} + k4`)};`);
    bVal = (kk, c) => `b${c}.${comp[kk]}`;
  }
  for (let i = 0; i < TM; i++) {
    for (let c = 0; c < TN; c++) pre.push(`var c${i}_${c} = ${t}(0);`);
  }
  for (let kk = 0; kk < 4; kk++) {
    for (let i = 0; i < TM; i++) {
      for (let c = 0; c < TN; c++) {
        body.push(`c${i}_${c} = c${i}_${c} + ${aVal(i, kk)} * ${bVal(kk, c)};`);
      }
    }
  }
  // four columns per store where the spec allows (nb is a multiple of TN, hence of 4)
  const vec = spec.storeC4 !== undefined && N % 4 === 0;
  for (let i = 0; i < TM; i++) {
    const m = `mb + ${u(i)}`;
    if (vec) {
      for (let j = 0; j < TN4; j++) {
        const lanes = [0, 1, 2, 3].map((l) => `c${i}_${4 * j + l}`).join(", ");
        store.push(
          `if (${m} < ${u(M)} && nb + ${u(4 * j)} < ${u(N)}) { storeC4(0u, ${m}, nb + ${
            u(4 * j)
          }, vec4<${t}>(${lanes})); }`,
        );
      }
    } else {
      for (let c = 0; c < TN; c++) {
        store.push(
          `if (${m} < ${u(M)} && nb + ${u(c)} < ${u(N)}) { storeC(0u, ${m}, nb + ${
            u(c)
          }, c${i}_${c}); }`,
        );
      }
    }
  }
  const wgsl = `@group(0) @binding(0) var TA: texture_2d_array<${t}>;
@group(0) @binding(1) var TB: texture_2d_array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${vec ? `vec4<${t}>` : t}>;
${vec ? spec.storeC4 : spec.storeC}
@compute @workgroup_size(${rowsX ? `${WY}, ${WX}` : `${WX}, ${WY}`})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let g = ${grid.flatGroup};
  let valid = g < ${u(tilesM * tilesN)};
  let tn = g % ${u(tilesN)};
  let tm = min(g / ${u(tilesN)}, ${u(tilesM - 1)});
  let mb = tm * ${u(BM)} + lid.${rowsX ? "x" : "y"} * ${u(TM)};
  let nb = tn * ${u(BN)} + lid.${rowsX ? "y" : "x"} * ${u(TN)};
  ${pre.join("\n  ")}
  for (var k4 = 0u; k4 < ${u(K / 4)}; k4 = k4 + 1u) {
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
