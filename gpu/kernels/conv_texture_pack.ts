/**
 * The geometry of the texture convolution (`conv_texture.ts`) and its packing kernels: the input
 * as texture X, the kernel as texture W (by output features, or by channels for the
 * dot-product multiply). The layouts are described in `conv_texture.ts`'s module doc.
 *
 * @module
 */
import type { ConvParams } from "../../core/prims/conv.ts";
import { foldGrid, inp, type Kernel, type TexRef, u } from "./common.ts";
import { packInputShared, packKernelShared, sharedPacking } from "./conv_pack.ts";
import type { TextureLimits } from "./gemm_texture.ts";

/** Bytes of packed textures beyond which the texture convolution declines. */
const _MAX_PACKED_BYTES = 512 * 2 ** 20;
const _WG = 64;

/** The geometry of one texture convolution, all sizes derived from the shapes and params. */
export interface ConvTexGeometry {
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

export function convTexGeometry(
  lhs: readonly number[],
  rhs: readonly number[],
  outShape: readonly number[],
  p: ConvParams,
  lim: TextureLimits,
): ConvTexGeometry | null {
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

/** The input as texture X (see the module doc): one invocation per texel. */
export function packConvInput(g: ConvTexGeometry, t: string, format: string, dst: TexRef): Kernel {
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
export function packConvKernel(g: ConvTexGeometry, t: string, format: string, dst: TexRef): Kernel {
  if (sharedPacking(g, "kernel")) return packKernelShared(g, t, format, dst);
  const width = g.G * g.Og4, rows = (g.stack ? khLoop(g) * g.KW : g.KS) * g.Cg4 * 4;
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
export function packConvKernelDot(
  g: ConvTexGeometry,
  t: string,
  format: string,
  dst: TexRef,
): Kernel {
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

/** Iterations of the sliding multiply's kernel-row loop (quads of rows when stacked). */
export function khLoop(g: ConvTexGeometry): number {
  return g.stack ? Math.ceil(g.KH / 4) : g.KH;
}
