/**
 * `conv_general_dilated` as an implicit GEMM over textures, for CPU adapters (the profile
 * whose GEMM is `gemm_texture.ts`: on llvmpipe a `textureLoad` costs about a tenth of a
 * storage read). Nothing of size im2col is ever written: the input is packed once, each of its
 * elements read once, and the multiply computes the im2col index of every operand on the fly.
 *
 * Packing. The input becomes texture X: texel `(w · GX·Cg4 + g·Cg4 + c4, (n mod NPL) · Hp + h)`
 * of layer `⌊n / NPL⌋` holds channels `4·c4 … 4·c4 + 3` of feature group g at position (h, w)
 * of the padded, lhs-dilated input of batch entry n, zeros off the dilation grid, in the
 * padding and beyond the group's Cg channels. Only the positions the convolution reads are
 * packed: Hp = (OH − 1)·strideH + (KH − 1)·dilationH + 1, likewise Wp (so negative padding
 * crops). NPL batch entries share a layer (as many as fit the texture height). The kernel
 * becomes texture W: row `(kpos · Cg4 + c4) · 4 + j` holds input channel `4·c4 + j` at kernel
 * position kpos, as texels of four consecutive output features of the group. Small packings
 * run the shape-generic kernels of `conv_pack.ts` (one pipeline for every convolution).
 *
 * Multiply. Per group g, rows m = (n, output position), columns = the group's Og output
 * features, contraction (kernel position, channel). Each invocation accumulates TM rows × TN
 * columns in registers (the tiles of the texture GEMM); per kernel position and four channels
 * it reads one texel of X per row (its coordinate is the row's base plus the kernel offset, so
 * no index arithmetic per element) and 4 · TN/4 texels of W. So the forward pass, the input
 * gradient (a convolution of the padded, lhs-dilated cotangent: the transposed implicit GEMM,
 * no scatter) and the kernel gradient (a convolution whose contraction is N·OH·OW) run the
 * same kernel. Long contractions (the kernel gradient) are split over kernel positions across
 * workgroups into partial sums, which a last pass adds up.
 *
 * The output goes through `storeC(g, m, n, v)` with `lin`, the output's linear NCHW index, so
 * the jit's fused epilogues (bias, activation, batch-norm scale) apply as for `conv.ts`.
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
import { packInputShared, packKernelShared, sharedPacking } from "./conv_pack.ts";
import { heavyStore, tileStores } from "./conv_store.ts";
import { type TextureLimits, textureTiles } from "./gemm_texture.ts";

/** Register block and workgroup shape of the texture convolution (as the texture GEMM's). */
export interface ConvTextureTiles {
  /** Output rows (n, position) per invocation. */
  readonly TM: number;
  /** Output features per invocation (a multiple of 4). */
  readonly TN: number;
  /** Invocations along features. */
  readonly WX: number;
  /** Invocations along rows. */
  readonly WY: number;
}

/** Kernels at most this wide run the sliding-window multiply ({@link _multiplySlide}). */
const _MAX_SLIDE_KW = 7;
/** Unrolled multiply-adds per kernel row beyond which wider kernels do not slide. */
const _MAX_SLIDE_FMAS = 4096;
/**
 * Groups of at most this many output features take the dot-product multiply (measured on
 * llvmpipe: W4's first-layer input gradient, one feature, 53 → 20 ms; with six features the
 * dot form was 1.5× slower than four features per invocation).
 */
const _MAX_DOT_OG = 2;
/**
 * Output positions per invocation of the sliding-window multiply (at most). Measured on
 * llvmpipe (GPU time): 24 over 12 on W4's second layer 19.5 → 16.6 ms, 14 over 10 on a 28 × 28
 * 64 → 64 layer 16.9 → 13.7 ms, 16 over 8 on a 16 × 16 one 43 → 33 ms.
 */
const _SLIDE_TM = 24;

/** Bytes of packed textures beyond which the texture convolution declines. */
const _MAX_PACKED_BYTES = 512 * 2 ** 20;
/** Inner iterations (kernel positions × channel quads) per invocation and split. */
const _MAX_ITERS = 4096;
/** Splits are added until the multiply has at least this many workgroups. */
const _MIN_GROUPS = 32;
const _WG = 64;

/** The geometry of one texture convolution, all sizes derived from the shapes and params. */
interface _Geo {
  NB: number;
  Nout: number;
  O: number;
  G: number;
  GX: number;
  Og: number;
  Og4: number;
  Cg: number;
  Cg4: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  KH: number;
  /** Stacked kernel rows: texels of X hold 4 rows of one channel (Cg = 1, sliding). */
  stack?: boolean;
  KW: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  lh: number;
  lw: number;
  ph: number;
  pw: number;
  Hp: number;
  Wp: number;
  NPL: number;
  LX: number;
  HB: number;
  LB: number;
  M: number;
  KS: number;
}

function _geometry(
  lhs: readonly number[],
  rhs: readonly number[],
  outShape: readonly number[],
  p: ConvParams,
  lim: TextureLimits,
): _Geo | null {
  const nsp = lhs.length - 2;
  if (nsp < 1 || nsp > 2) return null;
  // a 1-D convolution is a 2-D one of height 1
  const two = <T>(a: readonly T[], one: T): T[] => (nsp === 1 ? [one, a[0]] : [a[0], a[1]]);
  const [H, W] = two(lhs.slice(2), 1), [KH, KW] = two(rhs.slice(2), 1);
  const [OH, OW] = two(outShape.slice(2), 1);
  const [sh, sw] = two(p.windowStrides, 1), [dh, dw] = two(p.rhsDilation, 1);
  const [lh, lw] = two(p.lhsDilation, 1);
  const [ph, pw] = two(p.padding.map((q) => q[0]), 0);
  const [NB, C] = lhs, [Nout, O] = outShape;
  const fg = p.featureGroupCount, G = fg * p.batchGroupCount;
  const Cg = rhs[1], Og = O / G;
  if (!NB || !C || !O || !OH || !OW || !Nout) return null;
  const Cg4 = Math.ceil(Cg / 4), Og4 = Math.ceil(Og / 4);
  const Hp = (OH - 1) * sh + (KH - 1) * dh + 1, Wp = (OW - 1) * sw + (KW - 1) * dw + 1;
  const D = lim.maxTextureDimension2D;
  const GX = fg;
  const NPL = Math.floor(D / Hp);
  if (NPL < 1 || Wp * GX * Cg4 > D || G * Og4 > D) return null;
  const LX = Math.ceil(NB / NPL);
  const KS = KH * KW, Kp = KS * Cg4 * 4;
  const HB = Math.min(Kp, Math.floor(D / 4) * 4), LB = Math.ceil(Kp / HB);
  if (LX > lim.maxTextureArrayLayers || LB > lim.maxTextureArrayLayers) return null;
  const bytes = 16 * (Wp * GX * Cg4 * Math.min(NB, NPL) * Hp * LX + G * Og4 * HB * LB);
  if (bytes > _MAX_PACKED_BYTES) return null;
  return {
    NB,
    Nout,
    O,
    G,
    GX,
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
    sh,
    sw,
    dh,
    dw,
    lh,
    lw,
    ph,
    pw,
    Hp,
    Wp,
    NPL,
    LX,
    HB,
    LB,
    M: Nout * OH * OW,
    KS,
  };
}

/**
 * The texture convolution as a plan (pack input, pack kernel, multiply, and a sum of partial
 * products when the contraction is split), or null where it does not apply: bool, more than
 * two spatial dimensions, empty operands, or textures beyond the device's limits.
 *
 * @param dtype f32, i32 or u32.
 * @param lhs The lhs shape `[N, C, ...spatial]` (one or two spatial dimensions).
 * @param rhs The rhs shape `[O, C / featureGroupCount, ...kernel]`.
 * @param outShape The output shape (`convOutShape`).
 * @param p The parameters.
 * @param lim The device's texture limits.
 * @param store The statements of the output's `storeC` (see `conv.ts`'s `ConvStore`).
 * @param opts For tuning and tests: `tiles` (register blocking) and `slide` (whether the
 *   sliding-window multiply runs; default: for kernels at most 7 wide) and `dot` (whether it
 *   takes channel-quad dot products, for few output features; default: at most 2) and `stack`
 *   (whether a one-channel input stacks four kernel rows per texel; default: yes).
 * @returns The plan (inputs lhs, rhs → output 0), or null.
 */
export function convTexturePlan(
  dtype: DType,
  lhs: readonly number[],
  rhs: readonly number[],
  outShape: readonly number[],
  p: ConvParams,
  lim: TextureLimits,
  store: readonly string[],
  opts: {
    readonly tiles?: ConvTextureTiles;
    readonly slide?: boolean;
    readonly dot?: boolean;
    readonly stack?: boolean;
  } = {},
): Plan | null {
  if (dtype !== "f32" && dtype !== "i32" && dtype !== "u32") return null;
  const g0 = _geometry(lhs, rhs, outShape, p, lim);
  if (!g0) return null;
  let g = g0;
  // narrow kernels slide over rows of at least 8 outputs (over 4, VGG's 256 → 512 layer at 4 × 4
  // took 606 ms sliding against 459 ms plain, GPU time on llvmpipe; at 8 × 8 230 against 373);
  // wide kernels (a kernel gradient's cotangent) over rows of 4 or more, where the unrolled
  // kernel row stays small (W4's second kernel gradient: 35 against 63 ms)
  const slide = opts.slide ??
    (g.KW <= _MAX_SLIDE_KW
      ? g.OW >= 8
      : g.OW >= 4 && g.KW * _slideTiles(g).TM * _slideTiles(g).TN * 4 <= _MAX_SLIDE_FMAS);
  // few output features: channel-quad dot products against a kernel packed by channels
  const dot = slide && (opts.dot ?? g.Og <= _MAX_DOT_OG) &&
    g.G * g.Og * g.Cg4 <= lim.maxTextureDimension2D &&
    g.KS <= lim.maxTextureDimension2D;
  if (slide && !dot && g.Cg === 1 && g.KH >= 4 && (opts.stack ?? true)) {
    // one channel: a texel holds four kernel rows' inputs instead of three zero channels; the
    // last quad starts at row KH − 4 (its rows already summed get zero weights), so every row
    // read lies in the output's window
    const Kp = Math.ceil(g.KH / 4) * g.KW * 4, D = lim.maxTextureDimension2D;
    const HB = Math.min(Kp, Math.floor(D / 4) * 4), LB = Math.ceil(Kp / HB);
    if (LB <= lim.maxTextureArrayLayers) g = { ...g, stack: true, HB, LB };
  }
  const tl = opts.tiles ??
    (dot
      ? { TM: _slideTiles(g).TM, TN: g.Og, WX: 1, WY: 64 }
      : slide
      ? _slideTiles(g)
      : textureTiles(g.M, g.Og, g.KS * g.Cg4 * 4));
  // the work items: row tiles × column tiles × groups, each over the whole contraction
  const rowsM = slide ? g.Nout * g.OH * Math.ceil(g.OW / tl.TM) : Math.ceil(g.M / tl.TM);
  const tilesM = Math.ceil(rowsM / tl.WY), tilesN = Math.ceil(g.Og / (tl.TN * tl.WX));
  // split the outer loop (kernel rows when sliding, else kernel positions)
  const outer = slide ? _khLoop(g) : g.KS;
  const iters = outer * g.Cg4;
  const groups = g.G * tilesM * tilesN;
  let splits = Math.ceil(iters / _MAX_ITERS);
  if (groups < _MIN_GROUPS) splits = Math.max(splits, Math.ceil(_MIN_GROUPS / groups));
  splits = Math.min(splits, outer);
  const chunk = Math.ceil(outer / splits);
  splits = Math.ceil(outer / chunk);
  const t = storageType(dtype), format = TEXEL_FORMAT[t];
  const texX: TexRef = { kind: "tex", index: 0 }, texW: TexRef = { kind: "tex", index: 1 };
  const S = g.OH * g.OW;
  const storeFn = `fn storeC(g: u32, m: u32, n: u32, v: ${t}) {
  let lin = ((m / ${u(S)}) * ${u(g.O)} + g * ${u(g.Og)} + n) * ${u(S)} + m % ${u(S)};
  ${store.join("\n  ")}
}`;
  const steps: Plan["steps"][number][] = [
    { kind: "dispatch", kernel: packConvInput(g, t, format, texX) },
    { kind: "dispatch", kernel: dot ? _packWDot(g, t, format, texW) : _packW(g, t, format, texW) },
    {
      kind: "dispatch",
      kernel: slide
        ? _multiplySlide(g, tl, splits, chunk, t, texX, texW, storeFn, dot)
        : _multiply(g, tl, splits, chunk, t, texX, texW, storeFn),
    },
  ];
  const temps: number[] = [];
  if (splits > 1) {
    steps.push({ kind: "dispatch", kernel: sumConvSplits(g, splits, t, storeFn) });
    temps.push(splits * g.G * g.M * g.Og * 4);
  }
  return {
    steps,
    temps,
    textures: [
      { width: g.Wp * g.GX * g.Cg4, height: Math.min(g.NB, g.NPL) * g.Hp, layers: g.LX, format },
      dot
        ? { width: g.G * g.Og * g.Cg4, height: g.KS, layers: 1, format }
        : { width: g.G * g.Og4, height: g.HB, layers: g.LB, format },
    ],
  };
}

/**
 * The input as texture X (see the module doc): one invocation per texel.
 *
 * @param g The geometry (the input's, its padding, Hp × Wp, NPL).
 * @param t The storage type.
 * @param format The texel format.
 * @param dst The texture.
 * @returns The packing kernel (input 0 → `dst`).
 */
export function packConvInput(g: _Geo, t: string, format: string, dst: TexRef): Kernel {
  if (sharedPacking(g, "input")) return packInputShared(g, t, format, dst);
  const total = g.NB * g.Hp * g.Wp * g.GX * g.Cg4;
  const grid = foldGrid(Math.ceil(total / _WG));
  const C = g.Cg * g.GX;
  const axis = (q: string, pad: number, ld: number, n: number) =>
    ld === 1
      ? `let ${q} = i32(${q}p) - (${pad}); ok = ok && ${q} >= 0 && ${q} < ${n};`
      : `let ${q}d = i32(${q}p) - (${pad}); ok = ok && ${q}d >= 0 && ${q}d % ${ld} == 0 && ${q}d / ${ld} < ${n}; let ${q} = ${q}d / ${ld};`;
  const lane = (l: number) =>
    g.stack
      ? `select(${t}(0), a[base0 + u32(max(hs${l}, 0)) * ${u(g.W)}], okw && ok${l})`
      : `select(${t}(0), a[base + min(c4 * 4u + ${u(l)}, ${u(g.Cg - 1)}) * ${
        u(g.H * g.W)
      }], ok && c4 * 4u + ${u(l)} < ${u(g.Cg)})`;
  // stacked: lane l reads input row hp + l·dilationH (one channel)
  const stackRows = !g.stack ? "" : [0, 1, 2, 3].map((l) => {
    const q = `i32(hp) + ${l * g.dh} - (${g.ph})`;
    return g.lh === 1
      ? `let hs${l} = ${q}; let ok${l} = hs${l} >= 0 && hs${l} < ${g.H};`
      : `let hd${l} = ${q}; let ok${l} = hd${l} >= 0 && hd${l} % ${g.lh} == 0 && hd${l} / ${g.lh} < ${g.H}; let hs${l} = hd${l} / ${g.lh};`;
  }).join("\n  ");
  const wgsl = `@group(0) @binding(0) var<storage, read> a: array<${t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_WG)} + lid;
  if (i >= ${u(total)}) { return; }
  let c4 = i % ${u(g.Cg4)};
  var r = i / ${u(g.Cg4)};
  let gx = r % ${u(g.GX)};
  r = r / ${u(g.GX)};
  let wp = r % ${u(g.Wp)};
  r = r / ${u(g.Wp)};
  let hp = r % ${u(g.Hp)};
  let n = r / ${u(g.Hp)};
  var ok = true;
  ${axis("h", g.ph, g.lh, g.H)}
  ${axis("w", g.pw, g.lw, g.W)}
  let base = (n * ${u(C)} + gx * ${u(g.Cg)}) * ${u(g.H * g.W)} + u32(max(h, 0)) * ${
    u(g.W)
  } + u32(max(w, 0));
  ${
    g.stack
      ? `var okw = true;
  ${axis("w2", g.pw, g.lw, g.W).replaceAll("ok = ok", "okw = okw").replace("i32(w2p)", "i32(wp)")}
  let base0 = (n * ${u(C)} + gx) * ${u(g.H * g.W)} + u32(max(w2, 0));
  ${stackRows}`
      : ""
  }
  let v = vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")});
  textureStore(T, vec2u((wp * ${u(g.GX)} + gx) * ${u(g.Cg4)} + c4, (n % ${u(g.NPL)}) * ${
    u(g.Hp)
  } + hp), n / ${u(g.NPL)}, v);
}
`;
  return {
    wgsl,
    workgroupSize: [_WG, 1, 1],
    dispatch: grid.dispatch,
    bindings: [inp(0), dst],
  };
}

/** The kernel as texture W (see the module doc): one invocation per texel. */
function _packW(g: _Geo, t: string, format: string, dst: TexRef): Kernel {
  if (sharedPacking(g, "kernel")) return packKernelShared(g, t, format, dst);
  const width = g.G * g.Og4, rows = (g.stack ? _khLoop(g) * g.KW : g.KS) * g.Cg4 * 4;
  const total = width * rows;
  const grid = foldGrid(Math.ceil(total / _WG));
  // stacked: row (kq · KW + kw) · 4 + c holds kernel row min(4·kq, KH − 4) + c of the one
  // channel, zero where an earlier quad has that row
  const kh = g.stack ? `min((kp / ${u(g.KW)}) * 4u, ${u(g.KH - 4)}) + c` : "";
  const at = g.stack
    ? `(${kh}) * ${u(g.KW)} + kp % ${u(g.KW)}`
    : `min(c, ${u(g.Cg - 1)}) * ${u(g.KS)} + kp`;
  const okc = g.stack ? `${kh} >= (kp / ${u(g.KW)}) * 4u` : `c < ${u(g.Cg)}`;
  const lane = (l: number) =>
    `select(${t}(0), b[(gr * ${u(g.Og)} + min(o4 * 4u + ${u(l)}, ${u(g.Og - 1)})) * ${
      u(g.Cg * g.KS)
    } + ${at}], ${okc} && o4 * 4u + ${u(l)} < ${u(g.Og)})`;
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
  let v = vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")});
  textureStore(T, vec2u(x, row % ${u(g.HB)}), row / ${u(g.HB)}, v);
}
`;
  return {
    wgsl,
    workgroupSize: [_WG, 1, 1],
    dispatch: grid.dispatch,
    bindings: [inp(1), dst],
  };
}

/**
 * The kernel packed by channels, for the dot-product multiply: texel
 * `((g · Og + o) · Cg4 + c4, kpos)` holds input channels 4·c4 … 4·c4 + 3 of output feature o
 * of group g at kernel position kpos (zero beyond Cg).
 */
function _packWDot(g: _Geo, t: string, format: string, dst: TexRef): Kernel {
  const width = g.G * g.Og * g.Cg4, total = width * g.KS;
  const grid = foldGrid(Math.ceil(total / _WG));
  const lane = (l: number) =>
    `select(${t}(0), b[(og * ${u(g.Cg)} + min(c4 * 4u + ${u(l)}, ${u(g.Cg - 1)})) * ${
      u(g.KS)
    } + kp], c4 * 4u + ${u(l)} < ${u(g.Cg)})`;
  const wgsl = `@group(0) @binding(0) var<storage, read> b: array<${t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_WG)} + lid;
  if (i >= ${u(total)}) { return; }
  let x = i % ${u(width)};
  let kp = i / ${u(width)};
  let og = x / ${u(g.Cg4)};
  let c4 = x % ${u(g.Cg4)};
  textureStore(T, vec2u(x, kp), 0u, vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")}));
}
`;
  return { wgsl, workgroupSize: [_WG, 1, 1], dispatch: grid.dispatch, bindings: [inp(1), dst] };
}

function _multiply(
  g: _Geo,
  tl: ConvTextureTiles,
  splits: number,
  chunk: number,
  t: string,
  texX: TexRef,
  texW: TexRef,
  storeFn: string,
): Kernel {
  const { TM, TN, WX, WY } = tl;
  const TN4 = TN / 4, BM = TM * WY, BN = TN * WX;
  const tilesM = Math.ceil(g.M / BM), tilesN = Math.ceil(g.Og / BN);
  const grid = foldGrid(tilesM * tilesN * g.G * splits);
  const S = g.OH * g.OW, GC4 = g.GX * g.Cg4;
  const comp = ["x", "y", "z", "w"];
  const bgc = g.G / g.GX;
  const pre: string[] = [], body: string[] = [], st: string[] = [];
  for (let i = 0; i < TM; i++) {
    pre.push(`let m${i} = min(mb + ${u(i)}, ${u(g.M - 1)});`);
    pre.push(`let s${i} = m${i} % ${u(S)};`);
    // batch groups read batch block g
    pre.push(`let n${i} = m${i} / ${u(S)}${bgc > 1 ? ` + gr * ${u(g.Nout)}` : ""};`);
    pre.push(`let la${i} = n${i} / ${u(g.NPL)};`);
    pre.push(`let y${i} = (n${i} % ${u(g.NPL)}) * ${u(g.Hp)} + (s${i} / ${u(g.OW)}) * ${u(g.sh)};`);
    pre.push(
      `let x${i} = (s${i} % ${u(g.OW)}) * ${u(g.sw * GC4)}${
        g.GX > 1 ? ` + gr * ${u(g.Cg4)}` : ""
      };`,
    );
  }
  for (let j = 0; j < TN4; j++) {
    pre.push(`let cx${j} = gr * ${u(g.Og4)} + min(nb / 4u + ${u(j)}, ${u(g.Og4 - 1)});`);
  }
  for (let i = 0; i < TM; i++) {
    for (let c = 0; c < TN; c++) pre.push(`var c${i}_${c} = ${t}(0);`);
  }
  const c4 = g.Cg4 === 1 ? "0u" : "c4";
  for (let i = 0; i < TM; i++) {
    body.push(`let a${i} = textureLoad(TX, vec2u(x${i} + dx + ${c4}, y${i} + dy), la${i}, 0);`);
  }
  body.push(`let kb = kr + ${c4} * 4u;`);
  if (g.LB > 1) body.push(`let lb = kb / ${u(g.HB)};`, `let yb = kb % ${u(g.HB)};`);
  for (let kk = 0; kk < 4; kk++) {
    for (let j = 0; j < TN4; j++) {
      body.push(
        `let b${kk}_${j} = textureLoad(TW, vec2u(cx${j}, ${g.LB > 1 ? "yb" : "kb"} + ${u(kk)}), ${
          g.LB > 1 ? "lb" : "0"
        }, 0);`,
      );
    }
  }
  for (let kk = 0; kk < 4; kk++) {
    for (let i = 0; i < TM; i++) {
      for (let c = 0; c < TN; c++) {
        body.push(`c${i}_${c} = c${i}_${c} + a${i}.${comp[kk]} * b${kk}_${c >> 2}.${comp[c & 3]};`);
      }
    }
  }
  st.push(...tileStores(TM, TN, t, splits === 1 && heavyStore(storeFn), (i, n, v) => {
    const m = `mb + ${i}`;
    const put = splits > 1
      ? `o[((sp * ${u(g.G)} + gr) * ${u(g.M)} + ${m}) * ${u(g.Og)} + ${n}] = ${v};`
      : `storeC(gr, ${m}, ${n}, ${v});`;
    return `if (${m} < ${u(g.M)} && ${n} < ${u(g.Og)}) { ${put} }`;
  }));
  const inner = g.Cg4 === 1
    ? body.join("\n      ")
    : `for (var c4 = 0u; c4 < ${u(g.Cg4)}; c4 = c4 + 1u) {\n        ${
      body.join("\n        ")
    }\n      }`;
  const wgsl = `@group(0) @binding(0) var TX: texture_2d_array<${t}>;
@group(0) @binding(1) var TW: texture_2d_array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${t}>;
${splits > 1 ? "" : storeFn}
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
  let mb = tm * ${u(BM)} + lid.y * ${u(TM)};
  let nb = tn * ${u(BN)} + lid.x * ${u(TN)};
  ${pre.join("\n  ")}
  let k0 = sp * ${u(chunk)};
  let k1 = min(k0 + ${u(chunk)}, ${u(g.KS)});
  for (var kp = k0; kp < k1; kp = kp + 1u) {
    let dy = (kp / ${u(g.KW)}) * ${u(g.dh)};
    let dx = (kp % ${u(g.KW)}) * ${u(g.dw * GC4)};
    let kr = kp * ${u(g.Cg4 * 4)};
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

/** Iterations of the sliding multiply's kernel-row loop (quads of rows when stacked). */
function _khLoop(g: _Geo): number {
  return g.stack ? Math.ceil(g.KH / 4) : g.KH;
}

/**
 * Tiles of the sliding-window multiply: TM consecutive output positions of one output row
 * (OW split into near-equal blocks of at most {@link _SLIDE_TM}), TN = 4 output features for
 * groups of up to 16 features, else 8, on at least 4 invocations along features (64 per
 * workgroup). Measured on llvmpipe (GPU time, W4's second layer, 64 × 6 × 28 × 28 → 16
 * features): 4 invocations along features beat 2 by 2–3× and 1 (TN = 16) by 10×, even where
 * some of them only repeat a clamped column (6 features).
 */
function _slideTiles(g: _Geo): ConvTextureTiles {
  const TM = Math.ceil(g.OW / Math.ceil(g.OW / _SLIDE_TM));
  const TN = g.Og <= 16 ? 4 : 8;
  const WX = Math.ceil(g.Og / TN) <= 4 ? 4 : 8;
  // no more invocations along rows than there are row blocks (a kernel gradient has few)
  const rows = g.Nout * g.OH * Math.ceil(g.OW / TM);
  return { TM, TN, WX, WY: Math.min(64 / WX, rows) };
}

/**
 * The multiply with sliding-window reuse: an invocation's TM rows are consecutive output
 * positions of one output row, so along a kernel row their input texels overlap; per kernel
 * row and four channels it loads the (TM − 1)·strideW + (KW − 1)·dilationW + 1 texels they
 * span once and reuses them for every kernel column (instead of KW · TM loads), then KW · TN
 * texels of W. The split runs over kernel rows.
 */
function _multiplySlide(
  g: _Geo,
  tl: ConvTextureTiles,
  splits: number,
  chunk: number,
  t: string,
  texX: TexRef,
  texW: TexRef,
  storeFn: string,
  dot: boolean,
): Kernel {
  const { TM, TN, WX, WY } = tl;
  const TN4 = dot ? 0 : TN / 4, BN = TN * WX;
  const OWB = Math.ceil(g.OW / TM);
  const rows = g.Nout * g.OH * OWB;
  const tilesM = Math.ceil(rows / WY), tilesN = Math.ceil(g.Og / BN);
  const grid = foldGrid(tilesM * tilesN * g.G * splits);
  const GC4 = g.GX * g.Cg4;
  const span = (TM - 1) * g.sw + (g.KW - 1) * g.dw + 1;
  const comp = ["x", "y", "z", "w"];
  const bgc = g.G / g.GX;
  const pre: string[] = [], body: string[] = [], st: string[] = [];
  pre.push(
    `let rb = min(tm * ${u(WY)} + lid.y, ${u(rows - 1)});`,
    `let rvalid = tm * ${u(WY)} + lid.y < ${u(rows)};`,
    `let owb = rb % ${u(OWB)};`,
    `let noh = rb / ${u(OWB)};`,
    `let oh = noh % ${u(g.OH)};`,
    `let nn = noh / ${u(g.OH)}${bgc > 1 ? ` + gr * ${u(g.Nout)}` : ""};`,
    `let ow0 = owb * ${u(TM)};`,
    `let la = nn / ${u(g.NPL)};`,
    `let y0 = (nn % ${u(g.NPL)}) * ${u(g.Hp)} + oh * ${u(g.sh)};`,
    `let x0 = ow0 * ${u(g.sw * GC4)}${g.GX > 1 ? ` + gr * ${u(g.Cg4)}` : ""};`,
    `let mrow = noh * ${u(g.OW)} + ow0;`,
    `let gx = gr * ${u(g.Og * g.Cg4)};`,
  );
  for (let j = 0; j < TN4; j++) {
    pre.push(`let cx${j} = gr * ${u(g.Og4)} + min(nb / 4u + ${u(j)}, ${u(g.Og4 - 1)});`);
  }
  for (let i = 0; i < TM; i++) {
    for (let c = 0; c < TN; c++) pre.push(`var c${i}_${c} = ${t}(0);`);
  }
  const c4 = g.Cg4 === 1 ? "0u" : "c4";
  for (let j = 0; j < span; j++) {
    body.push(`let a${j} = textureLoad(TX, vec2u(x0 + ${u(j * GC4)} + ${c4}, yy), la, 0);`);
  }
  for (let kw = 0; kw < g.KW && dot; kw++) {
    for (let c = 0; c < TN; c++) {
      body.push(
        `let b${kw}_${c} = textureLoad(TW, vec2u(${u(c * g.Cg4)} + gx + ${c4}, ky + ${
          u(kw)
        }), 0, 0);`,
      );
    }
    for (let i = 0; i < TM; i++) {
      const a = i * g.sw + kw * g.dw;
      for (let c = 0; c < TN; c++) body.push(`c${i}_${c} = c${i}_${c} + dot(a${a}, b${kw}_${c});`);
    }
  }
  for (let kw = 0; kw < g.KW && !dot; kw++) {
    body.push(`let kb${kw} = kr + ${u(kw * g.Cg4 * 4)} + ${c4} * 4u;`);
    if (g.LB > 1) {
      body.push(`let lb${kw} = kb${kw} / ${u(g.HB)};`, `let yb${kw} = kb${kw} % ${u(g.HB)};`);
    }
    for (let kk = 0; kk < 4; kk++) {
      for (let j = 0; j < TN4; j++) {
        body.push(
          `let b${kw}_${kk}_${j} = textureLoad(TW, vec2u(cx${j}, ${
            g.LB > 1 ? `yb${kw}` : `kb${kw}`
          } + ${u(kk)}), ${g.LB > 1 ? `lb${kw}` : "0"}, 0);`,
        );
      }
    }
    for (let kk = 0; kk < 4; kk++) {
      for (let i = 0; i < TM; i++) {
        const a = i * g.sw + kw * g.dw;
        for (let c = 0; c < TN; c++) {
          body.push(
            `c${i}_${c} = c${i}_${c} + a${a}.${comp[kk]} * b${kw}_${kk}_${c >> 2}.${comp[c & 3]};`,
          );
        }
      }
    }
  }
  st.push(...tileStores(TM, TN, t, splits === 1 && heavyStore(storeFn), (i, n, v) => {
    const m = `mrow + ${i}`;
    const put = splits > 1
      ? `o[((sp * ${u(g.G)} + gr) * ${u(g.M)} + ${m}) * ${u(g.Og)} + ${n}] = ${v};`
      : `storeC(gr, ${m}, ${n}, ${v});`;
    return `if (ow0 + ${i} < ${u(g.OW)} && ${n} < ${u(g.Og)}) { ${put} }`;
  }));
  const inner = g.Cg4 === 1
    ? body.join("\n      ")
    : `for (var c4 = 0u; c4 < ${u(g.Cg4)}; c4 = c4 + 1u) {\n        ${
      body.join("\n        ")
    }\n      }`;
  const wgsl = `@group(0) @binding(0) var TX: texture_2d_array<${t}>;
@group(0) @binding(1) var TW: texture_2d_array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${t}>;
${splits > 1 ? "" : storeFn}
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
  let nb = tn * ${u(BN)} + lid.x * ${u(TN)};
  ${pre.join("\n  ")}
  let k0 = sp * ${u(chunk)};
  let k1 = min(k0 + ${u(chunk)}, ${u(_khLoop(g))});
  for (var kh = k0; kh < k1; kh = kh + 1u) {
    let yy = y0 + ${g.stack ? `min(kh * 4u, ${u(g.KH - 4)})` : "kh"} * ${u(g.dh)};
    let kr = kh * ${u(g.KW * g.Cg4 * 4)};
    let ky = kh * ${u(g.KW)};
    ${inner}
  }
  if (valid && rvalid) {
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

/**
 * Adds the splits' partial products (temporary 0, `((split · G + g) · M + m) · Og + n`) and
 * stores each sum through `storeC`.
 *
 * @param g The geometry (G, M, Og).
 * @param splits The number of splits.
 * @param t The storage type.
 * @param storeFn The WGSL of `storeC`.
 * @returns The kernel (temporary 0 → output 0).
 */
export function sumConvSplits(g: _Geo, splits: number, t: string, storeFn: string): Kernel {
  const total = g.G * g.M * g.Og;
  const grid = foldGrid(Math.ceil(total / _WG));
  const wgsl = `@group(0) @binding(0) var<storage, read> part: array<${t}>;
@group(0) @binding(1) var<storage, read_write> o: array<${t}>;
${storeFn}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(_WG)} + lid;
  if (i >= ${u(total)}) { return; }
  var s = ${t}(0);
  for (var c = 0u; c < ${u(splits)}; c = c + 1u) { s = s + part[c * ${u(total)} + i]; }
  let n = i % ${u(g.Og)};
  let r = i / ${u(g.Og)};
  storeC(r / ${u(g.M)}, r % ${u(g.M)}, n, s);
}
`;
  return {
    wgsl,
    workgroupSize: [_WG, 1, 1],
    dispatch: grid.dispatch,
    bindings: [tmp(0), out(0)],
  };
}
