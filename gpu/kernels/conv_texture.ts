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
 * the jit's fused epilogues (bias, activation, batch-norm scale) apply as for `conv.ts`. The
 * geometry and the packing kernels live in `conv_texture_pack.ts`. Small convolutions take
 * smaller tiles and forms that share pipelines across layers (`conv_small.ts`).
 *
 * @module
 */
import type { ConvParams } from "../../core/prims/conv.ts";
import type { DType } from "../../core/dtype.ts";
import {
  foldGrid,
  genericKernelsEnabled,
  genericWork,
  type Kernel,
  out,
  type Plan,
  storageType,
  TEXEL_FORMAT,
  type TexRef,
  tmp,
  u,
} from "./common.ts";
import { sumSplitsShared } from "./conv_pack.ts";
import {
  SMALL_SLIDE_TM,
  smallConv,
  smallConvShared,
  smallConvTexture,
  smallConvTiles,
} from "./conv_small.ts";
import { lightStore, linOnlyStore, tileStores, vecAccumulators } from "./conv_store.ts";
import {
  type ConvTexGeometry,
  convTexGeometry,
  khLoop,
  packConvInput,
  packConvKernel,
  packConvKernelDot,
} from "./conv_texture_pack.ts";
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
  /**
   * Whether rows run along the workgroup's x axis (default: when WX < 8). llvmpipe vectorizes
   * invocations along x only, 8 to a vector on AVX2: a workgroup 4 wide leaves half of every
   * vector idle, one 1 wide seven eighths.
   */
  readonly rowsX?: boolean;
  /**
   * Splits of the contraction per workgroup, side by side with the rows along x (sliding
   * multiply only; default 1): a kernel gradient has fewer row blocks than a vector has lanes.
   */
  readonly SL?: number;
}

/** The workgroup layout: its size, and the local ids that index features and rows. */
function _lanes(tl: ConvTextureTiles): { size: [number, number, number]; f: string; r: string } {
  return (tl.rowsX ?? tl.WX < 8)
    ? { size: [tl.WY, tl.WX, 1], f: "lid.y", r: "lid.x" }
    : { size: [tl.WX, tl.WY, 1], f: "lid.x", r: "lid.y" };
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
/**
 * Accumulators per invocation of the sliding multiply (at most): llvmpipe's compile time grows
 * faster than the tile. GoogLeNet's 24 × 24 layers (96 × 96 inputs) at 24 positions × 8
 * features compiled in 2.7 s of CPU each (3 × 3, 64 → 192, and 1 × 1, 64 → 64), at 12 × 8 in
 * 0.8 s; the 3 × 3 one ran 10-15% slower (forward 45-46 → 50-53 ms CPU, kernel gradient the
 * same), a few ms of a step that takes seconds on llvmpipe.
 */
const _MAX_SLIDE_ACC = 128;
/**
 * Output positions per invocation (at most) of a looped multiply over one stacked channel:
 * ResNet-18's 7 × 7 stem at 28 × 28 (64 features, TN 8) compiles in 150 instead of 340 ms of
 * CPU with 7 positions instead of 14, and runs as fast or faster (process CPU 2.37 and 2.31 ms
 * against 3.09 and 2.50 ms, llvmpipe, load 6-7); with 3 × 3 kernels over 64 channels or W4's
 * second layer shorter rows ran 20-25% slower.
 */
const _STACK_LOOP_TM = 8;
/**
 * Output positions per invocation where one invocation takes all (at most 8) features of a
 * group: 14 against 7 and 10 on W4's first layer (6 features), 6.5 against 7.3 and 7.2 ms.
 */
const _SLIDE_TM_ALL = 14;

/** Inner iterations (kernel positions × channel quads) per invocation and split. */
const _MAX_ITERS = 4096;
/**
 * Multiply-adds per kernel row (and channel quad) up to which the sliding multiply unrolls its
 * kernel columns; beyond, it loops over them. llvmpipe compiled the unrolled 7 × 7 stem of
 * ResNet-18 (3,500 lines) in 0.5-0.7 s of CPU, looped (and 7 positions) in 0.15 s; the loop
 * also ran faster (process CPU time, llvmpipe, load 5-7, against the unrolled kernel): W4's
 * first layer 4.1-4.5 → 3.2-3.4 ms, its second 19.1 → 14.5-15.1 ms, the stem's kernel
 * gradient 3.2-3.7 → 1.7-1.9 ms.
 */
const _MAX_UNROLLED_FMAS = 1024;
/** Splits are added until the multiply has at least this many workgroups. */
const _MIN_GROUPS = 32;
const _WG = 64;

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
  const g0 = convTexGeometry(lhs, rhs, outShape, p, lim);
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
  // a small convolution (conv_small.ts): smaller tiles, which llvmpipe compiles faster
  const small = smallConv(g.G * g.M * g.Og * g.KS * g.Cg);
  const plainTiles = () => {
    const tl = textureTiles(g.M, g.Og, g.KS * g.Cg4 * 4);
    return small ? smallConvTiles(tl, g.M, g.Og) : tl;
  };
  let tl: ConvTextureTiles = opts.tiles ?? (slide ? _slideTiles(g, small) : plainTiles());
  // the work items: row tiles × column tiles × groups, each over the whole contraction
  const rowsM = slide ? g.Nout * g.OH * Math.ceil(g.OW / tl.TM) : Math.ceil(g.M / tl.TM);
  const tilesM = Math.ceil(rowsM / tl.WY), tilesN = Math.ceil(g.Og / (tl.TN * tl.WX));
  // split the outer loop (kernel rows when sliding, else kernel positions)
  const outer = slide ? khLoop(g) : g.KS;
  const iters = outer * g.Cg4;
  const groups = g.G * tilesM * tilesN;
  let splits = Math.ceil(iters / _MAX_ITERS);
  if (groups < _MIN_GROUPS) splits = Math.max(splits, Math.ceil(_MIN_GROUPS / groups));
  splits = Math.min(splits, outer);
  const chunk = Math.ceil(outer / splits);
  splits = Math.ceil(outer / chunk);
  if (slide && !opts.tiles && splits > 1 && rowsM < 8) {
    // fewer row blocks than lanes (a kernel gradient): splits side by side in one workgroup,
    // at least 4 workgroups
    const SL = Math.min(Math.floor(64 / rowsM), Math.ceil(splits / 4));
    if (SL > 1) tl = { ...tl, WY: rowsM * SL, SL };
  }
  // a small convolution with 4 or more channel quads shares its pipeline across kernel widths
  // and texture sizes (conv_small.ts): its plain multiply steps its kernel position, and its
  // sliding multiply loops over its kernel columns (not a stem's or the dot form's)
  const shared = smallConvShared(small, g.Cg4);
  const loopAll = shared && !g.stack && !dot;
  const t = storageType(dtype), format = TEXEL_FORMAT[t];
  const texX: TexRef = { kind: "tex", index: 0 }, texW: TexRef = { kind: "tex", index: 1 };
  const S = g.OH * g.OW;
  const storeFn = `fn storeC(g: u32, m: u32, n: u32, v: ${t}) {
  let lin = ((m / ${u(S)}) * ${u(g.O)} + g * ${u(g.Og)} + n) * ${u(S)} + m % ${u(S)};
  ${store.join("\n  ")}
}`;
  const steps: Plan["steps"][number][] = [
    { kind: "dispatch", kernel: packConvInput(g, t, format, texX) },
    {
      kind: "dispatch",
      kernel: dot ? packConvKernelDot(g, t, format, texW) : packConvKernel(g, t, format, texW),
    },
    {
      kind: "dispatch",
      kernel: slide
        ? _multiplySlide(g, tl, splits, chunk, t, texX, texW, storeFn, dot, loopAll)
        : _multiply(g, tl, splits, chunk, t, texX, texW, storeFn, shared),
    },
  ];
  const temps: number[] = [];
  if (splits > 1) {
    steps.push({ kind: "dispatch", kernel: sumConvSplits(g, splits, t, storeFn, store) });
    temps.push(splits * g.G * g.M * g.Og * 4);
  }
  const textures = [
    { width: g.Wp * g.GX * g.Cg4, height: Math.min(g.NB, g.NPL) * g.Hp, layers: g.LX, format },
    dot
      ? { width: g.G * g.Og * g.Cg4, height: g.KS, layers: 1, format }
      : { width: g.G * g.Og4, height: g.HB, layers: g.LB, format },
  ];
  // a small convolution's textures: one kind of texture for llvmpipe (conv_small.ts)
  return {
    steps,
    temps,
    textures: shared ? textures.map((x) => smallConvTexture(x, lim)) : textures,
  };
}

/**
 * The register tile of a texture multiply, shared by `conv_texture.ts` and
 * `conv_phase_texture.ts`: the declarations (`cx{j}`, the texel columns of W for the tile's
 * features; the accumulators `c{i}_{j}`, `vec4`s of columns 4j … 4j + 3, see
 * `vecAccumulators`) and the inner step over the input channels of one kernel position. The
 * kernel using it defines `gr`, `nb`, per row `x{i}`, `y{i}`, `la{i}` and, per kernel position,
 * `dx`, `dy` and `kr` (W's first row of the position).
 *
 * @param g The geometry (Og4, Cg4, HB, LB).
 * @param TM Rows per invocation.
 * @param TN Features per invocation (a multiple of 4).
 * @param t The storage type.
 * @returns The declarations, the inner step and the accumulators' `vec4`s (`tileStores`).
 */
export function texMultiplyTile(
  g: ConvTexGeometry,
  TM: number,
  TN: number,
  t: string,
): { decls: string[]; inner: string; vec: (i: number, j: number) => string } {
  const TN4 = TN / 4, comp = ["x", "y", "z", "w"];
  const decls: string[] = [], body: string[] = [];
  for (let j = 0; j < TN4; j++) {
    decls.push(`let cx${j} = gr * ${u(g.Og4)} + min(nb / 4u + ${u(j)}, ${u(g.Og4 - 1)});`);
  }
  const acc = vecAccumulators(TM, TN, t);
  decls.push(...acc.decls);
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
      for (let j = 0; j < TN4; j++) {
        body.push(`c${i}_${j} = c${i}_${j} + a${i}.${comp[kk]} * b${kk}_${j};`);
      }
    }
  }
  const inner = g.Cg4 === 1
    ? body.join("\n      ")
    : `for (var c4 = 0u; c4 < ${u(g.Cg4)}; c4 = c4 + 1u) {\n        ${
      body.join("\n        ")
    }\n      }`;
  return { decls, inner, vec: acc.vec };
}

function _multiply(
  g: ConvTexGeometry,
  tl: ConvTextureTiles,
  splits: number,
  chunk: number,
  t: string,
  texX: TexRef,
  texW: TexRef,
  storeFn: string,
  shared: boolean,
): Kernel {
  const { TM, TN, WX, WY } = tl;
  const BM = TM * WY, BN = TN * WX, lanes = _lanes(tl);
  const tilesM = Math.ceil(g.M / BM), tilesN = Math.ceil(g.Og / BN);
  const grid = foldGrid(tilesM * tilesN * g.G * splits);
  const S = g.OH * g.OW, GC4 = g.GX * g.Cg4;
  const bgc = g.G / g.GX;
  const pre: string[] = [], st: string[] = [];
  for (let i = 0; i < TM; i++) {
    pre.push(`let m${i} = min(mb + ${u(i)}, ${u(g.M - 1)});`);
    pre.push(`let s${i} = m${i} % ${u(S)};`);
    // batch groups read batch block g
    pre.push(`let n${i} = m${i} / ${u(S)}${bgc > 1 ? ` + gr * ${u(g.Nout)}` : ""};`);
    // one layer holds every batch entry (LX = 1): n < NPL
    pre.push(`let la${i} = ${g.LX > 1 ? `n${i} / ${u(g.NPL)}` : "0u"};`);
    pre.push(
      `let y${i} = ${g.LX > 1 ? `(n${i} % ${u(g.NPL)})` : `n${i}`} * ${u(g.Hp)} + (s${i} / ${
        u(g.OW)
      }) * ${u(g.sh)};`,
    );
    pre.push(
      `let x${i} = (s${i} % ${u(g.OW)}) * ${u(g.sw * GC4)}${
        g.GX > 1 ? ` + gr * ${u(g.Cg4)}` : ""
      };`,
    );
  }
  const tile = texMultiplyTile(g, TM, TN, t);
  pre.push(...tile.decls);
  const vecParts = _partialQuads(g, splits, TN);
  st.push(...tileStores("TX", TM, TN, tile.vec, (i, n, v) => {
    const m = `mb + ${i}`;
    const at = `((sp * ${u(g.G)} + gr) * ${u(g.M)} + ${m}) * ${u(g.Og)} + ${n}`;
    const put = splits > 1
      ? `o[${vecParts ? `(${at}) / 4u` : at}] = ${v};`
      : `storeC(gr, ${m}, ${n}, ${v});`;
    return `if (${m} < ${u(g.M)} && ${n} < ${u(g.Og)}) { ${put} }`;
  }, { quads: vecParts, light: splits > 1 || lightStore(storeFn) }));
  const inner = tile.inner;
  // a small convolution steps its kernel position's row and column instead of dividing by the
  // kernel's width in the loop (share.ts hoists no divisor there: kernels of other widths would
  // not share the pipeline)
  const loop = shared
    ? `var kh = k0 / ${u(g.KW)};
  var kw = k0 % ${u(g.KW)};
  for (var kp = k0; kp < k1; kp = kp + 1u) {
    let dy = kh * ${u(g.dh)};
    let dx = kw * ${u(g.dw * GC4)};
    kw = kw + 1u;
    if (kw == ${u(g.KW)}) { kw = 0u; kh = kh + 1u; }`
    : `for (var kp = k0; kp < k1; kp = kp + 1u) {
    let dy = (kp / ${u(g.KW)}) * ${u(g.dh)};
    let dx = (kp % ${u(g.KW)}) * ${u(g.dw * GC4)};`;
  const wgsl = `@group(0) @binding(0) var TX: texture_2d_array<${t}>;
@group(0) @binding(1) var TW: texture_2d_array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${vecParts ? `vec4<${t}>` : t}>;
${splits > 1 ? "" : storeFn}
@compute @workgroup_size(${lanes.size.join(", ")})
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
  let mb = tm * ${u(BM)} + ${lanes.r} * ${u(TM)};
  let nb = tn * ${u(BN)} + ${lanes.f} * ${u(TN)};
  ${pre.join("\n  ")}
  let k0 = sp * ${u(chunk)};
  let k1 = min(k0 + ${u(chunk)}, ${u(g.KS)});
  ${loop}
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
    workgroupSize: lanes.size,
    dispatch: grid.dispatch,
    bindings: [texX, texW, splits > 1 ? tmp(0) : out(0)],
  };
}

/**
 * Whether a split multiply stores its partial sums four features at a time (`o` as an array of
 * `vec4`s): the features of a group are a multiple of 4, so every quad `nb + 4·j` of a tile
 * lies inside the group or past it. Per tile row a quarter of the stores, which llvmpipe
 * compiles (a store is a loop over the SIMD lanes) and runs for each: ResNet-18's 4 × 4
 * multiplies 47 → 44 ms of CPU to compile.
 */
function _partialQuads(g: ConvTexGeometry, splits: number, TN: number): boolean {
  return splits > 1 && g.Og % 4 === 0 && TN % 4 === 0;
}

/**
 * Tiles of the sliding-window multiply: TM consecutive output positions of one output row
 * (OW split into near-equal blocks of at most {@link _SLIDE_TM}, or {@link _SLIDE_TM_ALL} where
 * one invocation takes every feature), and TN output features.
 *
 * llvmpipe runs a workgroup as vectors of 8 invocations consecutive along x (AVX2), so x must
 * be at least 8 wide and no invocation may only repeat another's work. A group of up to 8
 * features is one column tile (TN = Og, any count) with 64 row blocks along x; up to 32
 * features take tiles of 4 (≤ 16) or 8 features, one per workgroup row, rows along x; wider
 * groups 8 tiles of 8 along x. Measured on llvmpipe (process CPU time, load 8–9), against 4
 * invocations along features (half of every vector idle, and with 6 features half of the rest
 * repeating a clamped column): W4's first layer (6 features) 18.1 → 6.5 ms, its second (16)
 * 44.6 → 28.6 ms, its second layer's input gradient (6 features) 22 ms against 61 ms for the
 * GEMM-then-gather form. A small convolution (`small`, see `conv_small.ts`) takes 4 features
 * and at most {@link SMALL_SLIDE_TM} positions where its group has more than 8 features.
 */
function _slideTiles(g: ConvTexGeometry, small = false): ConvTextureTiles {
  const block = (most: number) => Math.ceil(g.OW / Math.ceil(g.OW / most));
  const rowsOf = (TM: number) => g.Nout * g.OH * Math.ceil(g.OW / TM);
  if (g.Og <= 8) {
    const TM = block(_SLIDE_TM_ALL);
    return { TM, TN: g.Og, WX: 1, WY: Math.min(64, rowsOf(TM)) };
  }
  // a small convolution (conv_small.ts): 4 features, at most SMALL_SLIDE_TM positions (not
  // one stacked channel: a stem, whose tiles _STACK_LOOP_TM sets)
  const sm = small && !g.stack;
  const TN = sm || g.Og <= 16 ? 4 : 8, tiles = Math.ceil(g.Og / TN);
  let TM = block(sm ? SMALL_SLIDE_TM : _SLIDE_TM);
  // one stacked channel with a looped kernel row: shorter rows (see _STACK_LOOP_TM)
  if (g.stack && g.KW * TM * TN * 4 > _MAX_UNROLLED_FMAS) TM = block(_STACK_LOOP_TM);
  if (TM * TN > _MAX_SLIDE_ACC) TM = block(Math.floor(_MAX_SLIDE_ACC / TN));
  // no more invocations along rows than there are row blocks (a kernel gradient has few)
  if (tiles <= 4) return { TM, TN, WX: tiles, WY: Math.min(8 * Math.floor(8 / tiles), rowsOf(TM)) };
  return { TM, TN, WX: 8, WY: Math.min(8, rowsOf(TM)) };
}

/**
 * The multiply with sliding-window reuse: an invocation's TM rows are consecutive output
 * positions of one output row, so along a kernel row their input texels overlap; per kernel
 * row and four channels it loads the (TM − 1)·strideW + (KW − 1)·dilationW + 1 texels they
 * span once and reuses them for every kernel column (instead of KW · TM loads), then KW · TN
 * texels of W. The split runs over kernel rows.
 */
function _multiplySlide(
  g: ConvTexGeometry,
  tl: ConvTextureTiles,
  splits: number,
  chunk: number,
  t: string,
  texX: TexRef,
  texW: TexRef,
  storeFn: string,
  dot: boolean,
  loopAll: boolean,
): Kernel {
  const { TM, TN, WX, WY } = tl;
  const TN4 = dot ? 0 : Math.ceil(TN / 4), BN = TN * WX, lanes = _lanes(tl);
  const OWB = Math.ceil(g.OW / TM);
  const rows = g.Nout * g.OH * OWB;
  // SL splits side by side: RW rows per workgroup, SB blocks of SL splits
  const SL = tl.SL ?? 1, RW = WY / SL, SB = Math.ceil(splits / SL);
  const tilesM = Math.ceil(rows / RW), tilesN = Math.ceil(g.Og / BN);
  const grid = foldGrid(tilesM * tilesN * g.G * SB);
  const lr = SL > 1 ? `(${lanes.r} % ${u(RW)})` : lanes.r;
  const GC4 = g.GX * g.Cg4;
  const span = (TM - 1) * g.sw + (g.KW - 1) * g.dw + 1;
  const comp = ["x", "y", "z", "w"];
  const bgc = g.G / g.GX;
  const pre: string[] = [], st: string[] = [];
  pre.push(
    `let rb = min(tm * ${u(RW)} + ${lr}, ${u(rows - 1)});`,
    `let rvalid = tm * ${u(RW)} + ${lr} < ${u(rows)};`,
    `let owb = rb % ${u(OWB)};`,
    `let noh = rb / ${u(OWB)};`,
    `let oh = noh % ${u(g.OH)};`,
    `let nn = noh / ${u(g.OH)}${bgc > 1 ? ` + gr * ${u(g.Nout)}` : ""};`,
    `let ow0 = owb * ${u(TM)};`,
    `let la = ${g.LX > 1 ? `nn / ${u(g.NPL)}` : "0u"};`,
    `let y0 = ${g.LX > 1 ? `(nn % ${u(g.NPL)})` : "nn"} * ${u(g.Hp)} + oh * ${u(g.sh)};`,
    `let x0 = ow0 * ${u(g.sw * GC4)}${g.GX > 1 ? ` + gr * ${u(g.Cg4)}` : ""};`,
    `let mrow = noh * ${u(g.OW)} + ow0;`,
    `let gx = gr * ${u(g.Og * g.Cg4)};`,
  );
  for (let j = 0; j < TN4; j++) {
    pre.push(`let cx${j} = gr * ${u(g.Og4)} + min(nb / 4u + ${u(j)}, ${u(g.Og4 - 1)});`);
  }
  // the dot form accumulates one column per scalar (`c{i}_{c}`), the other a quad per vector
  const acc = vecAccumulators(TM, TN, t);
  if (!dot) pre.push(...acc.decls);
  for (let i = 0; dot && i < TM; i++) {
    for (let c = 0; c < TN; c++) pre.push(`var c${i}_${c} = ${t}();`);
  }
  const vec = dot
    ? (i: number, j: number) =>
      `vec4<${t}>(${
        [0, 1, 2, 3].map((l) => (4 * j + l < TN ? `c${i}_${4 * j + l}` : `${t}(0)`)).join(", ")
      })`
    : acc.vec;
  const c4 = g.Cg4 === 1 ? "0u" : "c4";
  // one kernel column's multiply-adds: `a(i)` names row i's input texel, `kw` the column (a
  // WGSL expression); kkMin: the first of a texel's four contraction lanes that has a weight
  // (stacked rows of the last quad below it were summed by the quad before)
  const tap = (
    a: (i: number) => string,
    kw: number | string,
    n: number,
    kkMin: number,
  ): string[] => {
    const body: string[] = [];
    const ky = typeof kw === "number" ? u(kw) : kw;
    const kc = typeof kw === "number" ? u(kw * g.Cg4 * 4) : `(${kw}) * ${u(g.Cg4 * 4)}`;
    if (dot) {
      for (let c = 0; c < TN; c++) {
        body.push(
          `let b${n}_${c} = textureLoad(TW, vec2u(${
            u(c * g.Cg4)
          } + gx + ${c4}, ky + ${ky}), 0, 0);`,
        );
      }
      for (let i = 0; i < TM; i++) {
        for (let c = 0; c < TN; c++) {
          body.push(`c${i}_${c} = c${i}_${c} + dot(${a(i)}, b${n}_${c});`);
        }
      }
      return body;
    }
    body.push(`let kb${n} = kr + ${kc} + ${c4} * 4u;`);
    if (g.LB > 1) {
      body.push(`let lb${n} = kb${n} / ${u(g.HB)};`, `let yb${n} = kb${n} % ${u(g.HB)};`);
    }
    for (let kk = kkMin; kk < 4; kk++) {
      for (let j = 0; j < TN4; j++) {
        body.push(
          `let b${n}_${kk}_${j} = textureLoad(TW, vec2u(cx${j}, ${
            g.LB > 1 ? `yb${n}` : `kb${n}`
          } + ${u(kk)}), ${g.LB > 1 ? `lb${n}` : "0"}, 0);`,
        );
      }
    }
    for (let kk = kkMin; kk < 4; kk++) {
      for (let i = 0; i < TM; i++) {
        for (let j = 0; j < TN4; j++) {
          body.push(
            `c${i}_${j} = c${i}_${j} + ${a(i)}.${comp[kk]} * b${n}_${kk}_${j}${acc.swizzle(j)};`,
          );
        }
      }
    }
    return body;
  };
  const load = (x: string) => `textureLoad(TX, vec2u(x0 + ${x} + ${c4}, yy), la, 0)`;
  // the statements of one kernel row (or quad of stacked rows) and channel quad
  // large kernel rows loop over their columns (llvmpipe compiles the unrolled 7 × 7 stem of
  // ResNet-18, 3,500 lines, in 0.5-0.7 s)
  // and a small convolution's (conv_small.ts) loop whatever their width: as cheap to compile
  // (1 × 1) or cheaper (GoogLeNet's 5 × 5 at 12 × 12, 64 → 55 ms; a kernel gradient 12 wide,
  // 90 → 50 ms), and kernels of every width share one pipeline
  const looped = loopAll || g.KW * TM * TN * 4 > _MAX_UNROLLED_FMAS;
  const makeBody = (kkMin: number): string[] => {
    if (!looped) {
      // every kernel column unrolled over the span's texels, each loaded once
      const body = Array.from({ length: span }, (_, j) => `let a${j} = ${load(u(j * GC4))};`);
      for (let kw = 0; kw < g.KW; kw++) {
        body.push(...tap((i) => `a${i * g.sw + kw * g.dw}`, kw, kw, kkMin));
      }
      return body;
    }
    // a loop over the kernel columns: column kw reads row i's texel sw·i + kw·dw. Its
    // stride-phase (kw mod P) windows are P · TM registers: window 0 serves the column, then
    // the windows rotate, window 0 moving last and shifting down by SH registers as its top
    // loads anew (every texel of the span loads once, the last P − 1 columns load a few past it)
    const gcd = (a: number, b: number): number => b ? gcd(b, a % b) : a;
    const P = g.sw / gcd(g.sw, g.dw), SH = P * g.dw / g.sw;
    const body: string[] = [];
    for (let ph = 0; ph < P; ph++) {
      for (let i = 0; i < TM; i++) {
        body.push(`var a${ph}_${i} = ${load(u((i * g.sw + ph * g.dw) * GC4))};`);
      }
    }
    const rotate: string[] = [];
    for (let i = 0; i < TM; i++) rotate.push(`let r${i} = a0_${i};`);
    for (let ph = 0; ph + 1 < P; ph++) {
      for (let i = 0; i < TM; i++) rotate.push(`a${ph}_${i} = a${ph + 1}_${i};`);
    }
    for (let i = 0; i < TM; i++) {
      rotate.push(
        i + SH < TM
          ? `a${P - 1}_${i} = r${i + SH};`
          : `a${P - 1}_${i} = ${
            load(`${u(i * g.sw * GC4)} + (kw + ${u(P - 1)}) * ${u(g.dw * GC4)}`)
          };`,
      );
    }
    body.push(
      `var kw = 0u;`,
      `loop {`,
      ...tap((i) => `a0_${i}`, "kw", 0, kkMin).map((l) => `  ${l}`),
      `  kw = kw + 1u;`,
      `  if (kw >= ${u(g.KW)}) { break; }`,
      ...rotate.map((l) => `  ${l}`),
      `}`,
    );
    return body;
  };
  const vecParts = !dot && _partialQuads(g, splits, TN);
  st.push(...tileStores("TX", TM, TN, vec, (i, n, v) => {
    const m = `mrow + ${i}`;
    const at = `((sp * ${u(g.G)} + gr) * ${u(g.M)} + ${m}) * ${u(g.Og)} + ${n}`;
    const put = splits > 1
      ? `o[${vecParts ? `(${at}) / 4u` : at}] = ${v};`
      : `storeC(gr, ${m}, ${n}, ${v});`;
    return `if (ow0 + ${i} < ${u(g.OW)} && ${n} < ${u(g.Og)}) { ${put} }`;
  }, { quads: vecParts, light: splits > 1 || lightStore(storeFn) }));
  const body = makeBody(0);
  const inner = g.Cg4 === 1
    ? body.join("\n      ")
    : `for (var c4 = 0u; c4 < ${u(g.Cg4)}; c4 = c4 + 1u) {\n        ${
      body.join("\n        ")
    }\n      }`;
  // stacked rows without a split: the quads unrolled, so that the last multiplies only the
  // rows it adds (W4's first layer: 5 kernel rows in 2 quads, 5 of 8 rows' products)
  const quads = g.stack && splits === 1 && !looped ? khLoop(g) : 0;
  const loop = quads
    ? Array.from({ length: quads }, (_, q) => {
      const r0 = Math.min(4 * q, g.KH - 4);
      return `{
    let yy = y0 + ${u(r0 * g.dh)};
    let kr = ${u(q * g.KW * 4)};
    ${makeBody(4 * q - r0).join("\n    ")}
  }`;
    }).join("\n  ")
    : `for (var kh = k0; kh < k1; kh = kh + 1u) {
    let yy = y0 + ${g.stack ? `min(kh * 4u, ${u(g.KH - 4)})` : "kh"} * ${u(g.dh)};
    let kr = kh * ${u(g.KW * g.Cg4 * 4)};
    let ky = kh * ${u(g.KW)};
    ${inner}
  }`;
  const wgsl = `@group(0) @binding(0) var TX: texture_2d_array<${t}>;
@group(0) @binding(1) var TW: texture_2d_array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${vecParts ? `vec4<${t}>` : t}>;
${splits > 1 ? "" : storeFn}
@compute @workgroup_size(${lanes.size.join(", ")})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let q = ${grid.flatGroup};
  let tn = q % ${u(tilesN)};
  var r = q / ${u(tilesN)};
  let tm = r % ${u(tilesM)};
  r = r / ${u(tilesM)};
  let gs = min(r, ${u(g.G * SB - 1)});
  let gr = gs % ${u(g.G)};
  let sp = ${SL > 1 ? `(gs / ${u(g.G)}) * ${u(SL)} + ${lanes.r} / ${u(RW)}` : `gs / ${u(g.G)}`};
  let valid = r < ${u(g.G * SB)}${SL > 1 ? ` && sp < ${u(splits)}` : ""};
  let nb = tn * ${u(BN)} + ${lanes.f} * ${u(TN)};
  ${pre.join("\n  ")}
  let k0 = sp * ${u(chunk)};
  let k1 = min(k0 + ${u(chunk)}, ${u(khLoop(g))});
  ${loop}
  if (valid && rvalid) {
    ${st.join("\n    ")}
  }
}
`;
  return {
    wgsl,
    workgroupSize: lanes.size,
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
 * @param store Its statements (given, an epilogue at `lin` alone sums by the shared kernel).
 * @returns The kernel (temporary 0 → output 0).
 */
export function sumConvSplits(
  g: ConvTexGeometry,
  splits: number,
  t: string,
  storeFn: string,
  store?: readonly string[],
): Kernel {
  const total = g.G * g.M * g.Og;
  // an epilogue at `lin` alone: the shape-generic sum (one pipeline per epilogue), if small
  const e = store && linOnlyStore(store, g.O, g.Nout, g.OH * g.OW);
  if (e && genericKernelsEnabled() && genericWork(total * splits)) {
    return sumSplitsShared({ ...g, S: g.OH * g.OW }, splits, t, e);
  }
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
