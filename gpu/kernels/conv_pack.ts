/**
 * Shape-generic packing kernels of the texture convolution (`conv_texture.ts`): the input as
 * texture X and the kernel as texture W, with every size in a uniform, so that all the
 * convolutions of a program share one pipeline per packing (per storage type). On llvmpipe each
 * pipeline costs ~14 ms of compiling however small, and a network's convolutions each packed by
 * their own specialised kernels: ResNet-18's first training step (Fashion-MNIST size) compiled
 * 56 of them.
 *
 * Written by hand rather than by hoisting the literals of the specialised kernels
 * (`hoistLiterals` in `common.ts`): hoisting gives each literal occurrence its own division
 * and uniform word and keeps sizes of 1 and signed paddings as literals, so ResNet-18's 68
 * packing kernels became 28 distinct ones that together compiled slower than the 68. Here each
 * index is divided once per invocation, by multiply-high with a multiplier from the uniform
 * (`UDIV_WGSL`), and the lanes share it.
 *
 * @module
 */
import {
  foldGrid,
  genericKernelsEnabled,
  genericWork,
  inp,
  type Kernel,
  out,
  type TexRef,
  tmp,
  u,
  UDIV_WGSL,
  udivMagic,
} from "./common.ts";

/** The sizes the packing kernels read (a subset of `conv_texture.ts`'s geometry). */
export interface ConvPackSizes {
  readonly NB: number;
  readonly G: number;
  readonly GX: number;
  readonly Og: number;
  readonly Og4: number;
  readonly Cg: number;
  readonly Cg4: number;
  readonly H: number;
  readonly W: number;
  readonly lh: number;
  readonly lw: number;
  readonly ph: number;
  readonly pw: number;
  readonly Hp: number;
  readonly Wp: number;
  readonly NPL: number;
  readonly HB: number;
  readonly KS: number;
}

const _WG = 64;

/**
 * Whether a convolution packs an operand with the shared kernel: not stacked, generic kernels
 * on (`DENAX_GENERIC_KERNELS`), and the packing small (`genericWork`: the shared kernels divide
 * by sizes from the uniform; measured 1.4-1.6× slower than the specialised ones on llvmpipe
 * for 64 × 64 × 28 × 28 inputs).
 *
 * @param g The sizes (`stack`: four kernel rows per texel, packed by `conv_texture.ts` alone).
 * @param operand Which packing.
 * @returns Whether to use {@link packInputShared} or {@link packKernelShared}.
 */
export function sharedPacking(
  g: ConvPackSizes & { readonly stack?: boolean },
  operand: "input" | "kernel",
): boolean {
  const texels = operand === "input"
    ? g.NB * g.Hp * g.Wp * g.GX * g.Cg4
    : g.G * g.Og4 * g.KS * g.Cg4 * 4;
  return !g.stack && genericKernelsEnabled() && genericWork(texels);
}

/** Division helpers valid for every divisor ≥ 1 (the magic form needs d ≥ 2). */
const _DIV = `${UDIV_WGSL}
fn _q(x: u32, d: vec3u) -> u32 { return select(_udiv(x, d.y, d.z), x, d.x == 1u); }
fn _r(x: u32, d: vec3u) -> u32 { return x - _q(x, d) * d.x; }`;

/** The uniform words of a divisor: d, multiplier, shift (read as `vec3u` by `_q`, `_r`). */
function _div(d: number): number[] {
  if (d === 1) return [1, 0, 0, 0];
  const { m, s } = udivMagic(d);
  return [d, m, s, 0];
}

/** A kernel over `total` invocations whose uniform holds `words` (vec4 slots). */
function _kernel(
  wgsl: (grid: string) => string,
  total: number,
  words: number[],
  bindings: Kernel["bindings"],
): Kernel {
  const groups = Math.ceil(total / _WG);
  const grid = foldGrid(groups);
  const gx = grid.dispatch[0], gy = grid.dispatch[1];
  // the flat workgroup index from the uniform (a folded grid's widths differ per shape)
  const flat = "(wid.x + (wid.y + wid.z * _P[0].y) * _P[0].x)";
  const all = [gx, gy, total, 0, ...words];
  return {
    wgsl: wgsl(flat),
    workgroupSize: [_WG, 1, 1],
    dispatch: grid.dispatch,
    bindings,
    params: all,
  };
}

/**
 * The input as texture X (`conv_texture.ts`'s layout, not stacked): texel
 * `((wp · GX + gx) · Cg4 + c4, (n mod NPL) · Hp + hp)` of layer `⌊n / NPL⌋` holds channels
 * 4·c4 … 4·c4 + 3 of group gx at padded, lhs-dilated position (hp, wp) of batch entry n.
 *
 * @param g The sizes.
 * @param t The storage type.
 * @param format The texel format.
 * @param dst The texture.
 * @returns The kernel (input 0 → `dst`), with its uniform words.
 */
export function packInputShared(
  g: ConvPackSizes,
  t: string,
  format: string,
  dst: TexRef,
): Kernel {
  const total = g.NB * g.Hp * g.Wp * g.GX * g.Cg4;
  const C = g.Cg * g.GX;
  // slot 0: grid; slots 1-7: divisors; slots 8-9: sizes
  const words = [
    ..._div(g.Cg4),
    ..._div(g.GX),
    ..._div(g.Wp),
    ..._div(g.Hp),
    ..._div(g.NPL),
    ..._div(g.lh),
    ..._div(g.lw),
    g.H,
    g.W,
    g.ph | 0,
    g.pw | 0,
    C,
    g.Cg,
    g.H * g.W,
    0,
  ].map((x) => x >>> 0);
  const lane = (l: number) =>
    `select(${t}(0), a[base + min(c4 * 4u + ${u(l)}, cg - 1u) * hw], ok && c4 * 4u + ${u(l)} < cg)`;
  return _kernel(
    (flat) =>
      `@group(0) @binding(0) var<storage, read> a: array<${t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
@group(0) @binding(2) var<uniform> _P: array<vec4u, 11>;
${_DIV}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${flat} * ${u(_WG)} + lid;
  if (i >= _P[0].z) { return; }
  let c4 = _r(i, _P[1].xyz);
  var r = _q(i, _P[1].xyz);
  let gx = _r(r, _P[2].xyz);
  r = _q(r, _P[2].xyz);
  let wp = _r(r, _P[3].xyz);
  r = _q(r, _P[3].xyz);
  let hp = _r(r, _P[4].xyz);
  let n = _q(r, _P[4].xyz);
  let hd = i32(hp) - bitcast<i32>(_P[8].z);
  let wd = i32(wp) - bitcast<i32>(_P[8].w);
  let h = _q(u32(max(hd, 0)), _P[6].xyz);
  let w = _q(u32(max(wd, 0)), _P[7].xyz);
  let ok = hd >= 0 && wd >= 0 && _r(u32(hd), _P[6].xyz) == 0u && _r(u32(wd), _P[7].xyz) == 0u &&
    h < _P[8].x && w < _P[8].y;
  let cg = _P[9].y;
  let hw = _P[9].z;
  let base = (n * _P[9].x + gx * cg) * hw + h * _P[8].y + w;
  let v = vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")});
  textureStore(T, vec2u((wp * _P[2].x + gx) * _P[1].x + c4, _r(n, _P[5].xyz) * _P[4].x + hp),
    _q(n, _P[5].xyz), v);
}
`,
    total,
    [...words, 0, 0, 0, 0],
    [inp(0), dst],
  );
}

/**
 * The kernel as texture W (`conv_texture.ts`'s layout, not stacked): row `(kpos · Cg4 + c4) · 4
 * + j` holds input channel 4·c4 + j at kernel position kpos, as texels of four consecutive
 * output features of the group (zero beyond Cg and Og).
 *
 * @param g The sizes.
 * @param t The storage type.
 * @param format The texel format.
 * @param dst The texture.
 * @returns The kernel (input 1 → `dst`), with its uniform words.
 */
export function packKernelShared(
  g: ConvPackSizes,
  t: string,
  format: string,
  dst: TexRef,
): Kernel {
  const width = g.G * g.Og4, rows = g.KS * g.Cg4 * 4, total = width * rows;
  // slot 0: grid; slots 1-4: divisors; slot 5: sizes
  const words = [
    ..._div(width),
    ..._div(g.Og4),
    ..._div(g.Cg4 * 4),
    ..._div(g.HB),
    g.Og,
    g.Cg,
    g.Cg * g.KS,
    g.KS,
  ];
  const lane = (l: number) =>
    `select(${t}(0), b[(gr * og + min(o4 * 4u + ${
      u(l)
    }, og - 1u)) * _P[5].z + at], c < _P[5].y && o4 * 4u + ${u(l)} < og)`;
  return _kernel(
    (flat) =>
      `@group(0) @binding(0) var<storage, read> b: array<${t}>;
@group(0) @binding(1) var T: texture_storage_2d_array<${format}, write>;
@group(0) @binding(2) var<uniform> _P: array<vec4u, 6>;
${_DIV}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${flat} * ${u(_WG)} + lid;
  if (i >= _P[0].z) { return; }
  let x = _r(i, _P[1].xyz);
  let row = _q(i, _P[1].xyz);
  let gr = _q(x, _P[2].xyz);
  let o4 = _r(x, _P[2].xyz);
  let kp = _q(row, _P[3].xyz);
  let c = _r(row, _P[3].xyz);
  let og = _P[5].x;
  let at = min(c, _P[5].y - 1u) * _P[5].w + kp;
  let v = vec4<${t}>(${[0, 1, 2, 3].map(lane).join(", ")});
  textureStore(T, vec2u(x, _r(row, _P[4].xyz)), _q(row, _P[4].xyz), v);
}
`,
    total,
    words,
    [inp(1), dst],
  );
}

/**
 * The sum of a split texture multiply's partial products (`conv_texture.ts`'s
 * `sumConvSplits`) where the output's epilogue reads and writes at `lin` alone
 * (`conv_store.ts`'s `linOnlyStore`: a plain store, an optimizer update, a ReLU's mask …):
 * temporary 0 holds `splits` blocks of `G · M · Og` partial sums, element `(g · M + m) · Og + n`
 * of each, and the epilogue runs at `lin = ((m / S) · O + g · Og + n) · S + m mod S` (or at
 * the swapped index `((g · Og + n) · N + m / S) · S + m mod S`). Every size is in the uniform,
 * so the sums of all convolutions with the same epilogue share one pipeline (GoogLeNet's
 * kernel gradients with their SGD updates: 16 of them).
 *
 * @param s The sizes: groups, rows (N × S), features per group, all features, batch, positions.
 * @param splits The number of partial sums per output.
 * @param t The storage type.
 * @param e The epilogue's statements at `lin` (the value `v`), and whether the index swaps.
 * @returns The kernel (temporary 0 → output 0).
 */
export function sumSplitsShared(
  s: {
    readonly G: number;
    readonly M: number;
    readonly Og: number;
    readonly O: number;
    readonly Nout: number;
    readonly S: number;
  },
  splits: number,
  t: string,
  e: { readonly body: readonly string[]; readonly swap: boolean },
): Kernel {
  const total = s.G * s.M * s.Og;
  // slots 1-3: divisors; slot 4: splits, O, Og, N
  const words = [..._div(s.Og), ..._div(s.M), ..._div(s.S), splits, s.O, s.Og, s.Nout];
  const lin = e.swap
    ? "((g * _P[4].z + n) * _P[4].w + sp) * _P[3].x + m - sp * _P[3].x"
    : "(sp * _P[4].y + g * _P[4].z + n) * _P[3].x + m - sp * _P[3].x";
  return _kernel(
    (flat) =>
      `@group(0) @binding(0) var<storage, read> part: array<${t}>;
@group(0) @binding(1) var<storage, read_write> o: array<${t}>;
@group(0) @binding(2) var<uniform> _P: array<vec4u, 5>;
${_DIV}
fn storeC(g: u32, m: u32, n: u32, v: ${t}) {
  let sp = _q(m, _P[3].xyz);
  let lin = ${lin};
  ${e.body.join("\n  ")}
}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${flat} * ${u(_WG)} + lid;
  if (i >= _P[0].z) { return; }
  var s = ${t}(0);
  for (var c = 0u; c < _P[4].x; c = c + 1u) { s = s + part[c * _P[0].z + i]; }
  let r = _q(i, _P[1].xyz);
  storeC(_q(r, _P[2].xyz), _r(r, _P[2].xyz), _r(i, _P[1].xyz), s);
}
`,
    total,
    words,
    [tmp(0), out(0)],
  );
}
