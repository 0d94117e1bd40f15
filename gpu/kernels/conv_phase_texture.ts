/**
 * Every phase of an lhs-dilated convolution (`conv_phase.ts`) in one texture implicit GEMM
 * (`conv_texture.ts`), for CPU adapters: three pipelines (pack input, pack kernel, multiply;
 * a fourth adds split partial sums) instead of a gather, two packs and a multiply per phase
 * and a zero fill per phase without taps. On llvmpipe each pipeline costs ~14 ms of compiling
 * however small (`bench/compile_bench.ts`); ResNet-18's strided input gradients at
 * Fashion-MNIST size made 52 of its 252 pipelines by phases.
 *
 * Packing. The input (the cotangent) is packed once, with the largest low padding of the
 * phases (P) and room for the longest reach, so phase c reads its sub-convolution's padded
 * input at a row (column) offset `P − lo_c`. The kernel is packed once as the taps of every
 * phase in turn: tap `tb_c + j` (phase c's j-th tap, row-major over its taps) holds kernel
 * position `(k0_h + j_h · step_h, k0_w + j_w · step_w)`; the layout is `conv_texture.ts`'s
 * texture W with that many kernel positions.
 *
 * Multiply. The row tiles of all phases form one grid, each phase's rows (n, a_h, a_w) padded
 * to whole tiles, so every workgroup belongs to one phase; it reads its phase's constants
 * (rows, outputs per row, tap count and first tap, input offsets) by its tile index and runs
 * the plain texture multiply over the phase's taps only — no product meets an inserted zero,
 * and a phase without taps stores zeros. The stores go through `storeC` with the row of the
 * full output (a_h · L_h + r_h, a_w · L_w + r_w), so fused epilogues apply as for any
 * convolution. Only where every phase would run the plain multiply alone (rows narrower than
 * the sliding multiply's): the sliding multiply unrolls its kernel row, so phases of different
 * widths could share no code.
 *
 * @module
 */
import type { ConvParams } from "../../core/prims/conv.ts";
import type { DType } from "../../core/dtype.ts";
import {
  foldGrid,
  inp,
  type Kernel,
  out,
  type Plan,
  storageType,
  TEXEL_FORMAT,
  type TexRef,
  tmp,
  u,
} from "./common.ts";
import { smallConv, smallConvShared, smallConvTexture, smallConvTiles } from "./conv_small.ts";
import { lightStore, tileStores } from "./conv_store.ts";
import { sumConvSplits, texMultiplyTile } from "./conv_texture.ts";
import { type ConvTexGeometry, packConvInput, packConvKernel } from "./conv_texture_pack.ts";
import { type TextureLimits, textureTiles } from "./gemm_texture.ts";

/** The geometry of a texture convolution (`conv_texture_pack.ts`'s, which its packing reads). */
type ConvTextureGeo = ConvTexGeometry;

/** One phase along one spatial dim of an lhs-dilated convolution (see `conv_phase.ts`). */
export interface Phase {
  /** The phase r (outputs a·L + r). */
  readonly r: number;
  /** Outputs of the phase. */
  readonly A: number;
  /** Kernel taps of the phase: first, step, count. */
  readonly k0: number;
  readonly step: number;
  readonly Kr: number;
  /** The sub-convolution's params along this dim. */
  readonly lo: number;
  readonly hi: number;
  readonly rd: number;
}

/** One combination of phases (height, width) and its place in the merged multiply. */
interface _Combo {
  readonly h: Phase;
  readonly w: Phase;
  /** Taps (0: the phase's outputs are zeros). */
  readonly KS: number;
  /** Rows: n × A_h × A_w. */
  readonly M: number;
  /** First tap in the packed kernel. */
  readonly tb: number;
  /** First row tile. */
  readonly t0: number;
  /** Taps per split. */
  readonly chunk: number;
}

const _SPLIT_ITERS = 4096;
const _MIN_GROUPS = 32;
const _MAX_PACKED_BYTES = 512 * 2 ** 20;
const _WG = 64;

/**
 * The convolution of an lhs-dilated input (window strides 1 along the dilated dims) as one
 * texture implicit GEMM over all its phases (see the module documentation), or null where it
 * does not apply: other dtypes, other than one or two spatial dims, batch groups, few output
 * features (`conv.ts`'s products-and-gather form may apply to a phase), rows wide enough for
 * the sliding multiply, textures beyond the limits.
 *
 * @param dtype f32, i32 or u32.
 * @param lhs The lhs shape `[N, C, ...spatial]`.
 * @param rhs The rhs shape `[O, C / G, ...kernel]`.
 * @param outShape The output shape.
 * @param p The parameters.
 * @param per The phases of each spatial dim (`conv_phase.ts`).
 * @param lim The device's texture limits.
 * @param store The statements of the output's `storeC` (see `conv.ts`'s `ConvStore`).
 * @returns The plan (inputs lhs, rhs → output 0), or null.
 */
export function convPhaseTexturePlan(
  dtype: DType,
  lhs: readonly number[],
  rhs: readonly number[],
  outShape: readonly number[],
  p: ConvParams,
  per: readonly (readonly Phase[])[],
  lim: TextureLimits,
  store: readonly string[],
): Plan | null {
  const nsp = lhs.length - 2;
  if (dtype !== "f32" && dtype !== "i32" && dtype !== "u32") return null;
  if (nsp < 1 || nsp > 2 || p.batchGroupCount !== 1) return null;
  const G = p.featureGroupCount, [NB, C] = lhs, [Nout, O] = outShape, Cg = rhs[1], Og = O / G;
  if (!NB || !C || !O || !Nout || (G === 1 && O <= 8)) return null;
  // a 1-D convolution is a 2-D one of height 1
  const one: Phase = { r: 0, A: 1, k0: 0, step: 1, Kr: 1, lo: 0, hi: 0, rd: 1 };
  const two = <T>(a: readonly T[], o: T): T[] => (nsp === 1 ? [o, a[0]] : [a[0], a[1]]);
  const [phH, phW] = two(per, [one]);
  const [H, W] = two(lhs.slice(2), 1), [KH, KW] = two(rhs.slice(2), 1);
  const [OH, OW] = two(outShape.slice(2), 1), [Lh, Lw] = two(p.lhsDilation, 1);
  const liveH = phH.filter((q) => q.Kr > 0), liveW = phW.filter((q) => q.Kr > 0);
  if (!liveH.length || !liveW.length) return null;
  // conv_texture.ts slides kernels up to 7 wide over rows of 8 outputs, wider ones over 4
  if (liveW.some((q) => (q.Kr <= 7 ? q.A >= 8 : q.A >= 4))) return null;
  // one packing for all phases: the largest low padding, and rows for the longest reach
  const reach = (live: Phase[], P: number) =>
    Math.max(...live.map((q) => P - q.lo + q.A + (q.Kr - 1) * q.rd));
  const Ph = Math.max(...liveH.map((q) => q.lo)), Pw = Math.max(...liveW.map((q) => q.lo));
  const Hp = reach(liveH, Ph), Wp = reach(liveW, Pw);
  const rdh = liveH[0].rd, rdw = liveW[0].rd;
  const D = lim.maxTextureDimension2D;
  const Cg4 = Math.ceil(Cg / 4), Og4 = Math.ceil(Og / 4), GC4 = G * Cg4;
  const NPL = Math.floor(D / Hp);
  if (NPL < 1 || Wp * GC4 > D || G * Og4 > D) return null;
  // the phases with the most taps first: their workgroups run longest
  const combos0 = phH.flatMap((h) =>
    phW.map((w) => ({ h, w, KS: h.Kr * w.Kr, M: Nout * h.A * w.A }))
  ).sort((a, b) => b.KS - a.KS);
  const KSall = combos0.reduce((s, c) => s + c.KS, 0),
    KSmax = Math.max(...combos0.map((c) => c.KS));
  const LX = Math.ceil(NB / NPL), Kp = KSall * Cg4 * 4;
  const HB = Math.min(Kp, Math.floor(D / 4) * 4), LB = Math.ceil(Kp / HB);
  if (LX > lim.maxTextureArrayLayers || LB > lim.maxTextureArrayLayers) return null;
  if (16 * (Wp * GC4 * Math.min(NB, NPL) * Hp * LX + G * Og4 * HB * LB) > _MAX_PACKED_BYTES) {
    return null;
  }
  const Mfull = Nout * OH * OW;
  const g: ConvTextureGeo = {
    NB,
    Nout,
    O,
    G,
    GX: G,
    Og,
    Og4,
    Cg,
    Cg4,
    H,
    W,
    OH,
    OW,
    KH,
    KW,
    sh: 1,
    sw: 1,
    dh: rdh,
    dw: rdw,
    lh: 1,
    lw: 1,
    ph: Ph,
    pw: Pw,
    Hp,
    Wp,
    NPL,
    LX,
    HB,
    LB,
    M: Mfull,
    KS: KSall,
  };
  const tl0 = textureTiles(Math.max(...combos0.map((c) => c.M)), Og, KSmax * Cg4 * 4);
  // a small convolution (its products without inserted zeros): smaller tiles (conv_small.ts)
  const macs = combos0.reduce((s, c) => s + c.M * c.KS, 0) * G * Og * Cg;
  const small = smallConv(macs);
  const tl = small ? smallConvTiles(tl0, Math.max(...combos0.map((c) => c.M)), Og) : tl0;
  const BM = tl.TM * tl.WY, BN = tl.TN * tl.WX;
  const tilesN = Math.ceil(Og / BN);
  const tilesM = combos0.reduce((s, c) => s + Math.ceil(c.M / BM), 0);
  // split the taps until the grid has enough workgroups (as conv_texture.ts does)
  const groups = G * tilesM * tilesN;
  let splits = Math.ceil((KSmax * Cg4) / _SPLIT_ITERS);
  if (groups < _MIN_GROUPS) splits = Math.max(splits, Math.ceil(_MIN_GROUPS / groups));
  splits = Math.min(splits, KSmax);
  let tb = 0, t0 = 0;
  const combos: _Combo[] = combos0.map((c) => {
    const r = { ...c, tb, t0, chunk: Math.ceil(c.KS / splits) };
    tb += c.KS;
    t0 += Math.ceil(c.M / BM);
    return r;
  });
  const t = storageType(dtype), format = TEXEL_FORMAT[t];
  const texX: TexRef = { kind: "tex", index: 0 }, texW: TexRef = { kind: "tex", index: 1 };
  const S = OH * OW;
  const storeFn = `fn storeC(g: u32, m: u32, n: u32, v: ${t}) {
  let lin = ((m / ${u(S)}) * ${u(O)} + g * ${u(Og)} + n) * ${u(S)} + m % ${u(S)};
  ${store.join("\n  ")}
}`;
  const geo = { g, combos, Lh, Lw, tl, splits, tilesM, tilesN };
  const steps: Plan["steps"][number][] = [
    { kind: "dispatch", kernel: packConvInput(g, t, format, texX) },
    { kind: "dispatch", kernel: _packTaps(g, combos, t, format, texW) },
    { kind: "dispatch", kernel: _multiply(geo, t, texX, texW, storeFn) },
  ];
  const temps: number[] = [];
  if (splits > 1) {
    steps.push({ kind: "dispatch", kernel: sumConvSplits(g, splits, t, storeFn, store) });
    temps.push(splits * G * Mfull * Og * 4);
  }
  const textures = [
    { width: Wp * GC4, height: Math.min(NB, NPL) * Hp, layers: LX, format },
    { width: G * Og4, height: HB, layers: LB, format },
  ];
  // a small convolution's textures: one kind of texture for llvmpipe (conv_small.ts)
  return {
    steps,
    temps,
    textures: smallConvShared(small, Cg4)
      ? textures.map((x) => smallConvTexture(x, lim))
      : textures,
  };
}

/**
 * The kernel taps of every phase as texture W (`conv_texture.ts`'s layout with `KSall` kernel
 * positions): row `(tap · Cg4 + c4) · 4 + j` holds input channel 4·c4 + j of the tap, as
 * texels of four consecutive output features of the group. One invocation per texel.
 */
function _packTaps(
  g: ConvTextureGeo,
  combos: readonly _Combo[],
  t: string,
  format: string,
  dst: TexRef,
): Kernel {
  const KS = g.KH * g.KW;
  // taps in kernel order (a 1 × 1 kernel's one tap): the plain packing, which small kernels
  // share with every convolution (conv_pack.ts)
  const taps = combos.flatMap((c) =>
    Array.from(
      { length: c.KS },
      (_, j) =>
        (c.h.k0 + Math.floor(j / c.w.Kr) * c.h.step) * g.KW + c.w.k0 + (j % c.w.Kr) * c.w.step,
    )
  );
  if (taps.length === KS && taps.every((kp, j) => kp === j)) {
    return packConvKernel(g, t, format, dst);
  }
  const width = g.G * g.Og4, rows = g.KS * g.Cg4 * 4, total = width * rows;
  const grid = foldGrid(Math.ceil(total / _WG));
  // the kernel position of tap kp: phase c's taps k0 + j · step along each dim
  const chain = combos.filter((c) => c.KS > 0).map((c, i) => {
    const l = `kp - ${u(c.tb)}`;
    return `${i ? " else " : ""}if (kp < ${u(c.tb + c.KS)}) {
    kh = ${u(c.h.k0)} + ((${l}) / ${u(c.w.Kr)}) * ${u(c.h.step)};
    kw = ${u(c.w.k0)} + ((${l}) % ${u(c.w.Kr)}) * ${u(c.w.step)};
  }`;
  }).join("");
  const lane = (l: number) =>
    `select(${t}(0), b[(gr * ${u(g.Og)} + min(o4 * 4u + ${u(l)}, ${u(g.Og - 1)})) * ${
      u(g.Cg * KS)
    } + at], c < ${u(g.Cg)} && o4 * 4u + ${u(l)} < ${u(g.Og)})`;
  const wgsl = `@group(0) @binding(0) var<storage, read> b: array<${t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_WG)} + lid;
  if (i >= ${u(total)}) { return; }
  let x = i % ${u(width)};
  let row = i / ${u(width)};
  let gr = x / ${u(g.Og4)};
  let o4 = x % ${u(g.Og4)};
  let kp = row / ${u(g.Cg4 * 4)};
  let c = row % ${u(g.Cg4 * 4)};
  var kh = 0u;
  var kw = 0u;
  ${chain}
  let at = min(c, ${u(g.Cg - 1)}) * ${u(KS)} + kh * ${u(g.KW)} + kw;
  let v = vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")});
  textureStore(T, vec2u(x, row % ${u(g.HB)}), row / ${u(g.HB)}, v);
}
`;
  return { wgsl, workgroupSize: [_WG, 1, 1], dispatch: grid.dispatch, bindings: [inp(1), dst] };
}

/**
 * The multiply over every phase (see the module documentation): `conv_texture.ts`'s plain
 * multiply, its per-phase sizes chosen by the workgroup's row tile.
 */
function _multiply(
  geo: {
    readonly g: ConvTextureGeo;
    readonly combos: readonly _Combo[];
    readonly Lh: number;
    readonly Lw: number;
    readonly tl: { TM: number; TN: number; WX: number; WY: number };
    readonly splits: number;
    readonly tilesM: number;
    readonly tilesN: number;
  },
  t: string,
  texX: TexRef,
  texW: TexRef,
  storeFn: string,
): Kernel {
  const { g, combos, Lh, Lw, splits, tilesM, tilesN } = geo;
  const { TM, TN, WX, WY } = geo.tl;
  const BM = TM * WY, BN = TN * WX;
  const grid = foldGrid(tilesM * tilesN * g.G * splits);
  const GC4 = g.GX * g.Cg4;
  // a constant of the workgroup's phase combination
  const sel = (f: (c: _Combo) => number) => {
    const v = combos.map(f);
    return v.reduce((e, x, i) => (i === 0 ? u(x) : `select(${e}, ${u(x)}, pc == ${u(i)})`), "");
  };
  const pc = combos.slice(1).map((c, i) => `if (tm >= ${u(c.t0)}) { pc = ${u(i + 1)}; }`);
  const pre: string[] = [
    "var pc = 0u;",
    ...pc,
    `let tb0 = ${sel((c) => c.t0)};`,
    `let mc = ${sel((c) => c.M)};`,
    `let sc = ${sel((c) => c.h.A * c.w.A)};`,
    `let aw = ${sel((c) => c.w.A)};`,
    `let ks = ${sel((c) => c.KS)};`,
    `let kw = ${sel((c) => Math.max(c.w.Kr, 1))};`,
    `let kb = ${sel((c) => c.tb)};`,
    `let chunk = ${sel((c) => c.chunk)};`,
    `let yo = ${sel((c) => (c.KS ? g.ph - c.h.lo : 0))};`,
    `let xo = ${sel((c) => (c.KS ? (g.pw - c.w.lo) * GC4 : 0))};`,
    `let rh = ${sel((c) => c.h.r)};`,
    `let rw = ${sel((c) => c.w.r)};`,
    `let mb = (tm - tb0) * ${u(BM)} + lid.y * ${u(TM)};`,
    `let nb = tn * ${u(BN)} + lid.x * ${u(TN)};`,
  ];
  const st: string[] = [];
  for (let i = 0; i < TM; i++) {
    pre.push(`let m${i} = min(mb + ${u(i)}, mc - 1u);`);
    pre.push(`let s${i} = m${i} % sc;`);
    pre.push(`let n${i} = m${i} / sc;`);
    // one layer holds every batch entry (LX = 1): n < NPL
    pre.push(`let la${i} = ${g.LX > 1 ? `n${i} / ${u(g.NPL)}` : "0u"};`);
    pre.push(
      `let y${i} = ${g.LX > 1 ? `(n${i} % ${u(g.NPL)})` : `n${i}`} * ${u(g.Hp)} + s${i} / aw + yo;`,
    );
    pre.push(`let x${i} = (s${i} % aw) * ${u(GC4)} + xo${g.GX > 1 ? ` + gr * ${u(g.Cg4)}` : ""};`);
  }
  const tile = texMultiplyTile(g, TM, TN, t);
  pre.push(...tile.decls);
  st.push(...tileStores("TX", TM, TN, tile.vec, (i, n, v) => {
    const m = `fullRow(mb + ${i}, sc, aw, rh, rw)`;
    const put = splits > 1
      ? `o[((sp * ${u(g.G)} + gr) * ${u(g.M)} + ${m}) * ${u(g.Og)} + ${n}] = ${v};`
      : `storeC(gr, ${m}, ${n}, ${v});`;
    return `if (mb + ${i} < mc && ${n} < ${u(g.Og)}) { ${put} }`;
  }, { light: splits > 1 || lightStore(storeFn) }));
  const inner = tile.inner;
  const wgsl = `@group(0) @binding(0) var TX: texture_2d_array<${t}>;
@group(0) @binding(1) var TW: texture_2d_array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${t}>;
${splits > 1 ? "" : storeFn}
fn fullRow(m: u32, sc: u32, aw: u32, rh: u32, rw: u32) -> u32 {
  let s = m % sc;
  return (m / sc) * ${u(g.OH * g.OW)} + ((s / aw) * ${u(Lh)} + rh) * ${u(g.OW)} + (s % aw) * ${
    u(Lw)
  } + rw;
}
@compute @workgroup_size(${WX}, ${WY})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let q = ${grid.flatGroup};
  let tn = q % ${u(tilesN)};
  var r = q / ${u(tilesN)};
  let tm = r % ${u(tilesM)};
  r = r / ${u(tilesM)};
  let valid = r < ${u(g.G * splits)};
  let gs = min(r, ${u(g.G * splits - 1)});
  let gr = gs % ${u(g.G)};
  let sp = gs / ${u(g.G)};
  ${pre.join("\n  ")}
  let k0 = sp * chunk;
  let k1 = min(k0 + chunk, ks);
  for (var kp = k0; kp < k1; kp = kp + 1u) {
    let dy = (kp / kw) * ${u(g.dh)};
    let dx = (kp % kw) * ${u(g.dw * GC4)};
    let kr = (kb + kp) * ${u(g.Cg4 * 4)};
    ${inner}
  }
  if (valid) {
    ${st.join("\n    ")}
  }
}
`;
  return {
    wgsl,
    workgroupSize: [WX, WY, 1],
    dispatch: grid.dispatch,
    bindings: [texX, texW, splits > 1 ? tmp(0) : out(0)],
  };
}
