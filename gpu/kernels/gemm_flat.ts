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
 * or "k" (`[N, K]`). In a small product, a dense operand whose contiguous dim is not a multiple
 * of 4 (the 10 classes of a classifier head) is copied too and read element by element. Any
 * other operand (a strided view, a fused prologue) is packed into orientation "k" (A) or "n"
 * (B) by one kernel, as in `gemm_texture.ts`. K is rounded up to a multiple of 4: packs write
 * zeros there, and reads from copies are masked. The multiply reads, per four k, TM × 4 values
 * of A and 4 × TN of B in whichever layout, and accumulates TM × TN results in registers in
 * the order of `gemm_texture.ts` (the same sums).
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
import { lightStore, tileStores, vecAccumulators } from "./conv_store.ts";

/** How an operand lies in its texture. */
interface _Side {
  /**
   * "texel": copied, four consecutive elements of its contiguous dim `inner` to a texel;
   * "scalar": copied with a contiguous dim that is not a multiple of 4, each element read on
   * its own; "pack": written by a pack kernel in orientation `inner` (zero-padded).
   */
  readonly mode: "texel" | "scalar" | "pack";
  /** The GEMM dim along which the operand is contiguous ("k", or "m" for A, "n" for B). */
  readonly inner: "k" | "m" | "n";
  /** Texels per outer index (texel and pack modes). */
  readonly inner4: number;
  /** Texels in all. */
  readonly texels: number;
  /** Texels per texture row (a power of two). */
  readonly width: number;
  /** Texture rows. */
  readonly height: number;
}

/**
 * GEMMs of at most this many multiply-adds read a dense operand whose contiguous dim is not a
 * multiple of 4 (the 10 classes of a classifier's head) element by element from a copy rather
 * than pack it: four texel reads per value instead of one, against a pipeline fewer.
 */
const _SCALAR_MAX_WORK = 2 ** 21;

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
  mode: _Side["mode"],
  inner: _Side["inner"],
  inner4: number,
  texels: number,
  D: number,
): _Side | null {
  const width = _width(texels, D, mode !== "pack");
  if (width === null) return null;
  return { mode, inner, inner4, texels, width, height: Math.ceil(texels / width) };
}

/** A copy of a dense operand `[outer, len]` contiguous along `inner`, or null. */
function _copy(
  inner: _Side["inner"],
  len: number,
  outer: number,
  scalarOk: boolean,
  D: number,
): _Side | null {
  if (len % 4 === 0) return _side("texel", inner, len / 4, (len / 4) * outer, D);
  const n = len * outer;
  return scalarOk && n % 4 === 0 ? _side("scalar", inner, 0, n / 4, D) : null;
}

/** The two operands' layouts: copies where the operand allows one, else packs. */
function _sides(spec: GemmSpec, D: number): [_Side, _Side] | null {
  const { M, N, K } = spec;
  const Kp4 = Math.ceil(K / 4);
  const small = M * N * K <= _SCALAR_MAX_WORK;
  const a = (spec.aDense ? _copy("k", K, M, small, D) : null) ??
    (spec.aDenseT ? _copy("m", M, K, small, D) : null);
  const b = (spec.bDense ? _copy("n", N, K, small, D) : null) ??
    (spec.bDenseT ? _copy("k", K, N, small, D) : null);
  const A = a ?? _side("pack", "k", Kp4, Kp4 * M, D);
  const B = b ?? _side("pack", "n", Math.ceil(N / 4), Math.ceil(N / 4) * Kp4 * 4, D);
  return A && B ? [A, B] : null;
}

/**
 * Pack kernels the flat GEMM would run for `spec` (0, 1 or 2), or null when it does not take
 * the problem: a batch other than 1, an f16 or bool operand, split-K accessors, or operands
 * beyond the texture limits.
 *
 * @param spec The problem.
 * @param lim The device's texture limits.
 * @returns The count, or null.
 */
export function flatGemmPacks(spec: GemmSpec, lim: TextureLimits): number | null {
  const s = _take(spec, lim);
  return s && s.filter((x) => x.mode === "pack").length;
}

function _take(spec: GemmSpec, lim: TextureLimits): [_Side, _Side] | null {
  const { M, N, K } = spec;
  if (spec.batch !== 1 || !M || !N || !K || spec.calls) return null;
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
    s.mode !== "pack"
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

/**
 * A pack kernel: A as rows m of texels of four k, or B as rows k (K rounded up to a multiple
 * of 4) of texels of four n; zero beyond K, N.
 */
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
  const lane = (d: number) => {
    const v = `load${which.toUpperCase()}(0u, r, min(c + ${u(d)}, ${u(len - 1)}))`;
    return len % 4 === 0 ? v : `select(${t}(0), ${v}, c + ${u(d)} < ${u(len)})`;
  };
  // B's rows beyond K are zero (A's k beyond K are its lanes beyond len)
  const rowOk = which === "b" && spec.K % 4 !== 0 ? `r < ${u(spec.K)}` : "true";
  const wgsl = `@group(0) @binding(0) var<storage, read> ${which}: array<${t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
${which === "a" ? spec.loadA : spec.loadB}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_WG)} + lid;
  if (i >= ${u(s.texels)}) { return; }
  let r = i / ${u(s.inner4)};
  let c = (i % ${u(s.inner4)}) * 4u;
  var v = vec4<${t}>(${t}(0));
  if (${rowOk}) { v = vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")}); }
  textureStore(T, ${_at(s, "i")}, 0u, v);
}
`;
  return { wgsl, workgroupSize: [_WG, 1, 1], dispatch: grid.dispatch, bindings: [src, dst] };
}

/**
 * WGSL reading one operand of the multiply per four k (`k4`): `pre` statements before the loop,
 * `body` statements in it, and `val(j, kk)`, its value at free index `base + j` (a row of A,
 * a column of B; `T` of them, clamped below `F`) and k = 4 k4 + kk, and `quad(q, kk)`, the
 * `vec4` of free indices `4q … 4q + 3`.
 */
interface _Reads {
  readonly pre: string[];
  readonly body: string[];
  readonly val: (j: number, kk: number) => string;
  readonly quad: (q: number, kk: number) => string;
}

function _reads(
  s: _Side,
  tex: string,
  name: string,
  base: string,
  F: number,
  T: number,
  K: number,
  t: string,
): _Reads {
  const comp = ["x", "y", "z", "w"];
  const pre: string[] = [], body: string[] = [];
  const quad = (val: (j: number, kk: number) => string) => (q: number, kk: number) =>
    `vec4<${t}>(${[0, 1, 2, 3].map((l) => val(4 * q + l, kk)).join(", ")})`;
  const ld = (idx: string) => `textureLoad(${tex}, ${_at(s, idx)}, 0, 0)`;
  const kOk = (kk: number) => `k4 * 4u + ${u(kk)} < ${u(K)}`;
  const kRow = (kk: number) => `min(k4 * 4u + ${u(kk)}, ${u(K - 1)})`;
  if (s.mode === "scalar") {
    // the element of (free index f, k) of a copy contiguous along k ([F, K]) or f ([K, F])
    for (let j = 0; j < T; j++) pre.push(`let s${name}${j} = min(${base} + ${u(j)}, ${u(F - 1)});`);
    for (let kk = 0; kk < 4; kk++) {
      for (let j = 0; j < T; j++) {
        const e = s.inner === "k"
          ? `s${name}${j} * ${u(K)} + ${kRow(kk)}`
          : `${kRow(kk)} * ${u(F)} + s${name}${j}`;
        const v = `${ld(`e${name}${j}_${kk} >> 2u`)}[e${name}${j}_${kk} & 3u]`;
        body.push(`let e${name}${j}_${kk} = ${e};`);
        body.push(`let ${name}${j}_${kk} = ${K % 4 ? `select(${t}(0), ${v}, ${kOk(kk)})` : v};`);
      }
    }
    const val = (j: number, kk: number) => `${name}${j}_${kk}`;
    return { pre, body, val, quad: quad(val) };
  }
  if (s.inner === "k") {
    // texels of four k: one per free index (a pack or a copy zero-pads, or K % 4 == 0)
    for (let j = 0; j < T; j++) {
      pre.push(`let r${name}${j} = min(${base} + ${u(j)}, ${u(F - 1)}) * ${u(s.inner4)};`);
      body.push(`let ${name}${j} = ${ld(`r${name}${j} + k4`)};`);
    }
    const val = (j: number, kk: number) => `${name}${j}.${comp[kk]}`;
    return { pre, body, val, quad: quad(val) };
  }
  // texels of four free indices, one per k: a copy has K rows (masked beyond), a pack K
  // rounded up to a multiple of 4 (zero rows)
  const masked = s.mode === "texel" && K % 4 !== 0;
  for (let j = 0; j < T / 4; j++) {
    pre.push(`let c${name}${j} = min(${base} / 4u + ${u(j)}, ${u(s.inner4 - 1)});`);
  }
  for (let kk = 0; kk < 4; kk++) {
    const row = masked ? kRow(kk) : `(k4 * 4u + ${u(kk)})`;
    for (let j = 0; j < T / 4; j++) {
      const v = ld(`${row} * ${u(s.inner4)} + c${name}${j}`);
      body.push(
        `let ${name}${kk}_${j} = ${masked ? `select(vec4<${t}>(${t}(0)), ${v}, ${kOk(kk)})` : v};`,
      );
    }
  }
  return {
    pre,
    body,
    val: (j, kk) => `${name}${kk}_${j >> 2}.${comp[j & 3]}`,
    quad: (q, kk) => `${name}${kk}_${q}`,
  };
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
  const BM = TM * WY, BN = TN * WX, TN4 = TN / 4;
  const tilesM = Math.ceil(M / BM), tilesN = Math.ceil(N / BN);
  const grid = foldGrid(tilesM * tilesN);
  const store: string[] = [];
  const ra = _reads(A, "TA", "a", "mb", M, TM, K, t);
  const rb = _reads(B, "TB", "b", "nb", N, TN, K, t);
  const pre = [...ra.pre, ...rb.pre], body = [...ra.body, ...rb.body];
  // accumulators c{i}_{j}: vec4s of four columns (conv_store.ts)
  const acc = vecAccumulators(TM, TN, t);
  pre.push(...acc.decls);
  for (let kk = 0; kk < 4; kk++) {
    for (let i = 0; i < TM; i++) {
      for (let j = 0; j < TN4; j++) {
        body.push(`c${i}_${j} = c${i}_${j} + ${ra.val(i, kk)} * ${rb.quad(j, kk)};`);
      }
    }
  }
  // four columns per store where the spec allows (nb is a multiple of TN, hence of 4); the
  // stores by a loop, `storeC` written once (conv_store.ts's tileStores)
  const vec = spec.storeC4 !== undefined && N % 4 === 0;
  const colPre = (n: string) => [`let cs = colC4(min(${n}, ${u(N - 4)}));`];
  store.push(...tileStores("TA", TM, TN, acc.vec, (i, n, v) => {
    const guard = `mb + ${i} < ${u(M)} && ${n} < ${u(N)}`;
    return vec
      ? `if (${guard}) { storeC4(0u, mb + ${i}, ${n}, ${v}${spec.colC4 ? ", cs" : ""}); }`
      : `if (${guard}) { storeC(0u, mb + ${i}, ${n}, ${v}); }`;
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
  let valid = g < ${u(tilesM * tilesN)};
  let tn = g % ${u(tilesN)};
  let tm = min(g / ${u(tilesN)}, ${u(tilesM - 1)});
  let mb = tm * ${u(BM)} + lid.${rowsX ? "x" : "y"} * ${u(TM)};
  let nb = tn * ${u(BN)} + lid.${rowsX ? "y" : "x"} * ${u(TN)};
  ${pre.join("\n  ")}
  for (var k4 = 0u; k4 < ${u(Math.ceil(K / 4))}; k4 = k4 + 1u) {
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
