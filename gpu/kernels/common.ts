/**
 * The data a kernel generator returns, and the small WGSL helpers every generator shares:
 * storage types per dtype, index decoding with baked-in shapes, and grid folding.
 *
 * Kernels are pure functions of avals and params that return {@link Kernel} data; they never
 * touch the device (STYLE.md §5). Generators write shapes and strides into the source as
 * literals; {@link genericKernel} then moves the `main` body's u32 literals into a uniform, so
 * that one pipeline serves every shape of the same structure (the runtime caches pipelines by
 * source, and on llvmpipe each distinct pipeline costs ~10-25 ms of compiling at its first
 * dispatch).
 *
 * @module
 */
import { activeProfile, CPU_ADAPTER_PROFILE } from "../target.ts";
import type { DType } from "../../core/dtype.ts";

/** Which buffer a binding refers to: an input, an output or a temporary of the plan. */
export interface BufRef {
  /** The buffer's role. */
  readonly kind: "in" | "out" | "tmp";
  /** Its index among the inputs, outputs or temporaries. */
  readonly index: number;
}

/**
 * A temporary 2-D array texture of the plan (index into {@link Plan.textures}), bound as a
 * `2d-array` view: sampled (`texture_2d_array<T>`, read with `textureLoad`) or write-only
 * storage (`texture_storage_2d_array<F, write>`), as the WGSL declares it.
 */
export interface TexRef {
  /** Always "tex". */
  readonly kind: "tex";
  /** Its index among the plan's textures. */
  readonly index: number;
}

/** A temporary texture: four 32-bit channels per texel (four f16 ones for `rgba16float`). */
export interface TextureSpec {
  /** Texels per row. */
  readonly width: number;
  /** Rows per layer. */
  readonly height: number;
  /** Layers. */
  readonly layers: number;
  /** The texel format. */
  readonly format: "rgba32float" | "rgba32sint" | "rgba32uint" | "rgba16float";
}

/** One compute dispatch: WGSL source, launch shape and buffer bindings. */
export interface Kernel {
  /** The WGSL source; entry point `main`, bind group 0. */
  readonly wgsl: string;
  /** The `@workgroup_size` of `main` (for information; the source has it). */
  readonly workgroupSize: readonly [number, number, number];
  /** Workgroups to launch in x, y, z. A zero anywhere means nothing to do. */
  readonly dispatch: readonly [number, number, number];
  /** Binding `i` of group 0 is the buffer (or texture) `bindings[i]`. */
  readonly bindings: readonly (BufRef | TexRef)[];
  /**
   * The u32 words of a shape-generic kernel's `_P` uniform (see {@link genericKernel}), bound
   * after `bindings` (binding `bindings.length`); absent: the kernel has no such uniform.
   */
  readonly params?: readonly number[];
}

/** One step of a lowered primitive. */
export type Step =
  | { readonly kind: "dispatch"; readonly kernel: Kernel }
  | { readonly kind: "copy"; readonly src: BufRef; readonly dst: BufRef; readonly bytes: number }
  | {
    /** `copyBufferToTexture` of a whole texture from a buffer starting at offset 0. */
    readonly kind: "toTexture";
    readonly src: BufRef;
    readonly dst: TexRef;
    /** Bytes between buffer rows (a multiple of 256). */
    readonly bytesPerRow: number;
  };

/** A lowered primitive: steps run in order, with temporaries of the given byte sizes. */
export interface Plan {
  /** The steps, in order. */
  readonly steps: readonly Step[];
  /** Byte sizes of the temporary buffers that `tmp` refs index. */
  readonly temps: readonly number[];
  /** Temporary textures that `tex` refs index. */
  readonly textures?: readonly TextureSpec[];
}

/** Shorthand for input `i`. */
export const inp = (index: number): BufRef => ({ kind: "in", index });
/** Shorthand for output `i`. */
export const out = (index: number): BufRef => ({ kind: "out", index });
/** Shorthand for temporary `i`. */
export const tmp = (index: number): BufRef => ({ kind: "tmp", index });

/** A plan of one dispatch and no temporaries. */
export function single(kernel: Kernel): Plan {
  return { steps: [{ kind: "dispatch", kernel }], temps: [] };
}

/** A plan that copies input 0 to output 0 (`bytes` bytes). */
export function copyPlan(bytes: number): Plan {
  return { steps: bytes > 0 ? [{ kind: "copy", src: inp(0), dst: out(0), bytes }] : [], temps: [] };
}

/**
 * The WGSL storage type of a dtype: bool is stored as u32 (0 or 1) on the GPU, and f16 as f32
 * (the core hands backends f16 arrays as f32 storage; see core/f16.ts).
 *
 * @param dtype The dtype.
 * @returns `"f32"`, `"i32"` or `"u32"`.
 */
export function storageType(dtype: DType): "f32" | "i32" | "u32" {
  return dtype === "bool" ? "u32" : dtype === "f16" ? "f32" : dtype;
}

/** Bytes per element on the GPU (every dtype is 4 bytes there). */
export const GPU_ITEM_BYTES: number = 4;

/** The number of elements of a shape. */
export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape, in elements. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** A u32 literal. */
export function u(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new Error(`internal: ${n} is not a u32 literal`);
  }
  return `${n}u`;
}

/** An i32 literal (the most negative one written as an expression, as WGSL requires). */
export function i(n: number): string {
  if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) {
    throw new Error(`internal: ${n} is not an i32 literal`);
  }
  return n === -0x80000000 ? "(-2147483647i - 1i)" : `${n}i`;
}

/**
 * WGSL lines that decode the linear row-major index `lin` into `${name}0 … ${name}{r-1}` for
 * `shape` (u32 `let`s; dims of size 1 decode to `0u` without arithmetic).
 *
 * @param lin A u32 expression (evaluated once).
 * @param shape The shape.
 * @param name The prefix of the per-dimension variables.
 * @returns WGSL statements.
 */
export function decode(lin: string, shape: readonly number[], name: string): string {
  const r = shape.length;
  if (r === 0) return "";
  const lines = [`var ${name}_r = ${lin};`];
  for (let d = r - 1; d >= 0; d--) {
    const n = shape[d];
    if (d === 0) lines.push(`let ${name}${d} = ${name}_r;`);
    else if (n === 1) lines.push(`let ${name}${d} = 0u;`);
    else lines.push(`let ${name}${d} = ${name}_r % ${u(n)}; ${name}_r = ${name}_r / ${u(n)};`);
  }
  return lines.join("\n  ");
}

/**
 * A linear-offset expression `Σ terms[d] * strides[d]` (terms are WGSL u32 expressions),
 * skipping zero strides.
 */
export function dotStrides(terms: readonly string[], strides: readonly number[]): string {
  const parts: string[] = [];
  for (let d = 0; d < terms.length; d++) {
    if (strides[d] === 0) continue;
    parts.push(strides[d] === 1 ? `(${terms[d]})` : `(${terms[d]}) * ${u(strides[d])}`);
  }
  return parts.length ? parts.join(" + ") : "0u";
}

/** The largest number of workgroups in one dispatch dimension (WebGPU's default and max). */
export const MAX_WORKGROUPS_PER_DIM: number = 65535;

/**
 * The most loop iterations one invocation may run, all its loops together. llvmpipe (Mesa's
 * software rasterizer, the adapter of CPU-only machines) ends every loop of an invocation once
 * 65535 back-edges have been taken in total, silently: a kernel looping longer computes with
 * whatever it had. Generators keep each invocation's loops well under this bound by splitting
 * long loops across invocations (blocked scans, chunked reductions).
 */
export const MAX_LOOP_ITERATIONS: number = 65535;

/** A launch of `groups` workgroups folded into x, y (and z) when it exceeds 65535. */
export interface Grid {
  /** The dispatch dimensions. */
  readonly dispatch: [number, number, number];
  /** A WGSL u32 expression for the flat workgroup index, from `wid: vec3u`. */
  readonly flatGroup: string;
}

/**
 * Folds a 1-D launch of `groups` workgroups into a 2-D or 3-D grid when it exceeds the
 * per-dimension limit. Some workgroups of the last row may lie past `groups`; kernels guard.
 *
 * @param groups Workgroups needed (0 gives an empty dispatch).
 * @returns The grid.
 */
export function foldGrid(groups: number): Grid {
  const M = MAX_WORKGROUPS_PER_DIM;
  if (groups <= M) return { dispatch: [groups, 1, 1], flatGroup: "wid.x" };
  const y = Math.ceil(groups / M);
  if (y <= M) {
    const x = Math.ceil(groups / y);
    return { dispatch: [x, y, 1], flatGroup: `(wid.x + wid.y * ${u(x)})` };
  }
  const z = Math.ceil(groups / (M * M));
  const yy = Math.ceil(groups / (M * z));
  const x = Math.ceil(groups / (yy * z));
  return {
    dispatch: [x, yy, z],
    flatGroup: `(wid.x + (wid.y + wid.z * ${u(yy)}) * ${u(x)})`,
  };
}

/** A storage binding declaration for {@link elementwiseKernel} and friends. */
export interface BindingDecl {
  /** The WGSL variable name. */
  readonly name: string;
  /** The element type (`f32`, `i32`, `u32`, `atomic<u32>` …). */
  readonly type: string;
  /** Read-only or read-write. */
  readonly access: "read" | "read_write";
  /** The buffer it binds. */
  readonly ref: BufRef;
}

/** WGSL declarations of storage bindings 0…n-1 of group 0. */
export function declareBindings(decls: readonly BindingDecl[]): string {
  return decls
    .map((d, k) =>
      `@group(0) @binding(${k}) var<storage, ${d.access}> ${d.name}: array<${d.type}>;`
    )
    .join("\n");
}

/**
 * A texture shape holding exactly `q` texels in rows of a multiple of 16 texels (the 256-byte
 * row pitch of a buffer-to-texture copy), rows no narrower than 1/64 of the widest possible,
 * or null when there is none within the device's limits.
 *
 * @param q Texels.
 * @param lim The device's texture limits.
 * @returns Width, height and layers with W · H · L = q, or null.
 */
export function texelShape(
  q: number,
  lim: { readonly maxTextureDimension2D: number; readonly maxTextureArrayLayers: number },
): { W: number; H: number; L: number } | null {
  const D = lim.maxTextureDimension2D;
  const top = Math.min(D, q) - (Math.min(D, q) % 16);
  for (let W = top; W >= 16 && W * 64 >= top; W -= 16) {
    if (q % W !== 0) continue;
    const rows = q / W;
    const H = Math.min(rows, D);
    if (rows % H === 0 && rows / H <= lim.maxTextureArrayLayers) return { W, H, L: rows / H };
  }
  return null;
}

/**
 * Operands of at least this many texels (vec4s) are read through textures on CPU adapters (the
 * "cpu-adapter" device profile's `stageMinTexels`, `gpu/target.ts`, which the builders read).
 */
export const STAGE_MIN_TEXELS: number = CPU_ADAPTER_PROFILE.stageMinTexels;

/** The rgba32 texture format of a storage type. */
export const TEXEL_FORMAT = {
  f32: "rgba32float",
  i32: "rgba32sint",
  u32: "rgba32uint",
} as const satisfies Record<"f32" | "i32" | "u32", TextureSpec["format"]>;

/**
 * WGSL loading texel `q` (row-major over W × H × L) of a `texture_2d_array` named `name`.
 *
 * @param name The texture variable.
 * @param shape Its shape from {@link texelShape}.
 * @param q The texel index expression.
 * @returns The expression (a vec4).
 */
export function texelLoad(name: string, shape: { W: number; H: number }, q: string): string {
  const { W, H } = shape;
  return `textureLoad(${name}, vec2u(${q} % ${u(W)}, (${q} / ${u(W)}) % ${u(H)}), ${q} / ${
    u(W * H)
  }, 0)`;
}

/**
 * How an elementwise kernel (eager or jitted) reads a large operand of `texels` vec4s on a CPU
 * adapter: copied into an rgba32 texture array and read with `textureLoad`, which llvmpipe
 * runs several times faster than storage reads. The one place that decides it, from the
 * active device profile alone (`gpu/target.ts`: `textureStaging`, `stageMinTexels`) and the
 * device's texture limits (a texture shape must exist); the GEMM's operand strategy plays no
 * part.
 */
export interface Staging {
  /** The texture to create. */
  readonly spec: TextureSpec;
  /** `bytesPerRow` of the buffer-to-texture copy. */
  readonly bytesPerRow: number;
  /** The WGSL type of the texture variable. */
  readonly wgslType: string;
  /**
   * The coordinates of texel `q` (an expression): statements binding names prefixed `id`,
   * then `xy` (a `vec2u`) and `layer` for `textureLoad(name, xy, layer, 0)`. Textures of one
   * shape ({@link key}) read at one `q` share them. The statements call {@link QUOTIENT_FN}.
   */
  coords(q: string, id: string): { lets: string[]; xy: string; layer: string };
  /** A key equal for stagings of one texture shape (whose coordinates are equal). */
  readonly key: string;
}

/**
 * The staged loads of one kernel at texel index `q`: textures of one shape share their
 * coordinates (one quotient per shape, in {@link lets}, which the kernel emits before the loads).
 */
export class StagedLoads {
  /** The statements computing the coordinates. */
  readonly lets: string[] = [];
  readonly #at = new Map<string, { xy: string; layer: string }>();
  /** Loads at the texel index `q` (an expression, a name). */
  constructor(readonly q: string) {}
  /**
   * WGSL loading texel `q` of texture variable `name`, staged as `staging`; adds
   * {@link QUOTIENT_FN} to `helpers` (the kernel's helper functions).
   */
  load(staging: Staging, name: string, helpers: { add(src: string): void }): string {
    let at = this.#at.get(staging.key);
    if (!at) {
      const c = staging.coords(this.q, `tc${this.#at.size}`);
      this.lets.push(...c.lets);
      helpers.add(QUOTIENT_FN);
      this.#at.set(staging.key, at = c);
    }
    return `textureLoad(${name}, ${at.xy}, ${at.layer}, 0)`;
  }
}

/**
 * The WGSL helper of the staged loads' quotients (see {@link stagingFor}): `x / d` for
 * `x / d` < 2^22, from `r`, the f32 nearest `1 / d`. Kernels using {@link Staging.coords}
 * declare it once.
 */
export const QUOTIENT_FN: string =
  `fn _quot(x: u32, r: f32, d: u32) -> u32 { let e = u32(f32(x) * r); return e - select(0u, 1u, e * d > x) + select(0u, 1u, (e + 1u) * d <= x); }`;

/**
 * The staging of an operand, or null when it is read from storage (see {@link Staging}).
 *
 * @param texels The operand's size in vec4s.
 * @param dtype Its storage dtype.
 * @param limits The device's texture limits (absent: no staging).
 * @returns The staging, or null.
 */
export function stagingFor(
  texels: number,
  dtype: DType,
  limits:
    | { readonly maxTextureDimension2D: number; readonly maxTextureArrayLayers: number }
    | undefined,
): Staging | null {
  const prof = activeProfile();
  if (!prof.textureStaging || !limits || texels < prof.stageMinTexels) return null;
  const shape = texelShape(texels, limits);
  // the loads' quotients (rows, layers) must stay below 2^22 (see _quotient)
  if (!shape || shape.H * shape.L >= 2 ** 22) return null;
  const t = storageType(dtype) as keyof typeof TEXEL_FORMAT;
  const { W, H, L } = shape;
  return {
    spec: { width: W, height: H, layers: L, format: TEXEL_FORMAT[t] },
    bytesPerRow: W * 16,
    wgslType: `texture_2d_array<${t}>`,
    // No integer division: llvmpipe divides by a non-literal (the uniform that generic kernels
    // read sizes from) one lane at a time, ~30% of W2's running time. See _quotient.
    coords: (q, id) => {
      const lets = [`let ${id}r = ${_quotient(q, W)};`];
      const xy = (y: string) => `vec2u(${q} - ${id}r * ${u(W)}, ${y})`;
      if (L === 1) return { lets, xy: xy(`${id}r`), layer: "0u" };
      lets.push(`let ${id}l = ${_quotient(`${id}r`, H)};`);
      return { lets, xy: xy(`${id}r - ${id}l * ${u(H)}`), layer: `${id}l` };
    },
    key: `${W}x${H}x${L}`,
  };
}

/**
 * WGSL for `x / d` (u32, `x` an expression free of side effects, `x / d` < 2^22) without an
 * integer division: the quotient in f32 by the reciprocal, then corrected by one either way
 * (the f32 estimate is within 0.1 of the true quotient below 2^22). Its literals are sizes
 * like any other, so generic kernels read them from their uniform.
 */
function _quotient(x: string, d: number): string {
  const bits = new Uint32Array(new Float32Array([1 / d]).buffer)[0];
  return `_quot(${x}, bitcast<f32>(${u(bits)}), ${u(d)})`;
}

/** The workgroup size of one-thread-per-element kernels. */
export const ELEMENTWISE_WG: number = 64;

/**
 * A one-invocation-per-element kernel over `total` elements: `body` runs with `i: u32` the
 * element index (already checked against `total`).
 *
 * @param opts The bindings, the element count, the body and helper functions.
 * @returns The kernel.
 */
export function elementwiseKernel(opts: {
  readonly bindings: readonly BindingDecl[];
  readonly total: number;
  readonly body: string;
  readonly helpers?: string;
  readonly workgroupSize?: number;
}): Kernel {
  const wg = opts.workgroupSize ?? ELEMENTWISE_WG;
  const grid = foldGrid(Math.ceil(opts.total / wg));
  const wgsl = `${declareBindings(opts.bindings)}
${opts.helpers ?? ""}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = ${grid.flatGroup} * ${u(wg)} + lid;
  if (i >= ${u(opts.total)}) { return; }
  ${opts.body}
}
`;
  return {
    wgsl,
    workgroupSize: [wg, 1, 1],
    dispatch: grid.dispatch,
    bindings: opts.bindings.map((b) => b.ref),
  };
}

/**
 * WGSL helpers for f32 special values. NaN and infinity are tested by bit pattern, because
 * WGSL leaves NaN behaviour of comparisons and builtins unspecified; they are made at run time
 * (from a `var`) because a constant expression that yields NaN or infinity is a WGSL error.
 */
export const F32_SPECIALS: string = `
fn _isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn _isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn _nan() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }
fn _inf() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
`;

/**
 * Collects WGSL helper functions once each. Snippets may embed the snippets they depend on;
 * they are split at top-level `fn` definitions and each function is kept once, by name, in
 * first-seen order.
 */
export class Helpers {
  #fns = new Map<string, string>();
  /** Adds the functions of a snippet that are not present yet. */
  add(src: string): void {
    for (const chunk of src.split(/\n(?=fn )/)) {
      const body = chunk.trim();
      if (!body) continue;
      const name = /^fn\s+(\w+)/.exec(body)?.[1] ?? body;
      if (!this.#fns.has(name)) this.#fns.set(name, body);
    }
  }
  /** The functions joined. */
  toString(): string {
    return [...this.#fns.values()].join("\n");
  }
}

/** The u32 literals ≥ 2 of a `main` body (not part of a longer token: `vec4u`, `0x10u`). */
const _LITERAL = /(?<![\w.])(\d+)u\b/g;

let _generic: boolean | null = null;

/**
 * Whether lowerings make their kernels shape-generic ({@link genericKernel}): on unless the
 * `DENAX_GENERIC_KERNELS` environment variable is "0" (every size a literal again, for
 * comparing running times).
 *
 * @returns Whether kernels are made generic.
 */
export function genericKernelsEnabled(): boolean {
  if (_generic === null) {
    let v: string | undefined;
    try {
      v = Deno.env.get("DENAX_GENERIC_KERNELS");
    } catch { /* no env permission: the default */ }
    _generic = v !== "0";
  }
  return _generic;
}

/**
 * Turns shape-generic kernels on or off for the kernels generated from now on (the default
 * comes from `DENAX_GENERIC_KERNELS`; see {@link genericKernelsEnabled}). For tests and
 * benchmarks comparing the two forms; compiled programs keep the kernels they were made with.
 *
 * @param on Whether to make kernels generic.
 */
export function setGenericKernels(on: boolean): void {
  _generic = on;
}

/**
 * `wgsl` with its `enable` directives moved before everything else (WGSL allows no directive
 * after a declaration; a pass that adds a declaration at the top of a kernel that another made
 * `enable f16;` would otherwise put it after one).
 *
 * @param wgsl The source.
 * @returns The source with its directives first (unchanged where they already are).
 */
export function directivesFirst(wgsl: string): string {
  const dirs: string[] = [];
  const rest = wgsl.replace(/^[ \t]*enable [^;\n]*;[ \t]*\n?/gm, (m) => {
    dirs.push(m.trim());
    return "";
  });
  if (!dirs.length || wgsl.startsWith(dirs.join("\n"))) return wgsl;
  return `${[...new Set(dirs)].join("\n")}\n${rest}`;
}

/**
 * Moves the u32 literals of the `main` function of a WGSL source (sizes, strides, offsets, the
 * element count, folded grid widths; all but `0u` and `1u`) into a uniform
 * `_P: array<vec4u, n>` at `binding`, each occurrence its own word, so that sources that differ
 * only in those literals become one text (one pipeline). Literals outside `main` (helper
 * functions, `@workgroup_size`, workgroup array lengths) stay.
 *
 * @param wgsl The source (entry point `fn main`).
 * @param binding The binding number of the uniform (after the source's own bindings).
 * @returns The source reading `_P` and the words to bind (empty, and the source unchanged,
 * when `main` has no such literal).
 */
export function hoistLiterals(
  wgsl: string,
  binding: number,
): { wgsl: string; params: number[] } {
  const at = wgsl.indexOf("\nfn main(");
  if (at < 0) return { wgsl, params: [] };
  const params: number[] = [];
  const slot = (n: number) => {
    const k = params.push(n) - 1;
    return `_P[${k >> 2}].${"xyzw"[k & 3]}`;
  };
  const divided = _fastDivisions(wgsl.slice(at), slot);
  const body = divided.body.replace(_LITERAL, (m: string, digits: string) => {
    const n = Number(digits);
    return n <= 1 ? m : slot(n);
  });
  if (!params.length) return { wgsl, params };
  const decl = `@group(0) @binding(${binding}) var<uniform> _P: array<vec4u, ${
    Math.ceil(params.length / 4)
  }>;`;
  const helpers = divided.used ? `${UDIV_WGSL}\n` : "";
  return { wgsl: directivesFirst(`${decl}\n${helpers}${wgsl.slice(0, at)}${body}`), params };
}

/**
 * u32 division by a divisor `d` ≥ 2 known when the kernel is bound, without a division
 * instruction (llvmpipe divides by a non-literal one lane at a time, several times slower than
 * the rest of an index computation): Granlund and Montgomery's multiply-high with
 * `m = floor(2^32 (2^l - d) / d) + 1`, `l = ceil(log2 d)`, exact for every u32 `x`
 * ("Division by invariant integers using multiplication", PLDI 1994, §4). Exported for
 * kernels written shape-generic by hand (`conv_pack.ts`): `_udiv(x, m, s)` and
 * `_umod(x, d, m, s)` with `m`, `s` from {@link udivMagic}.
 */
export const UDIV_WGSL: string = `fn _mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn _udiv(x: u32, m: u32, s: u32) -> u32 { let t = _mulhi(m, x); return (t + ((x - t) >> 1u)) >> s; }
fn _umod(x: u32, d: u32, m: u32, s: u32) -> u32 { return x - _udiv(x, m, s) * d; }`;

/**
 * The multiplier and shift of the division helpers generic kernels call (`_udiv`): for every
 * u32 `x`, `x / d = (t + ((x - t) >> 1)) >> s` with `t` the high word of `m · x`.
 *
 * @param d The divisor (an integer ≥ 2 and < 2^32).
 * @returns The multiplier `m` (a u32) and the shift `s`.
 */
export function udivMagic(d: number): { m: number; s: number } {
  let l = 0;
  while (2 ** l < d) l++;
  const m = Number(((1n << 32n) * ((1n << BigInt(l)) - BigInt(d))) / BigInt(d)) + 1;
  return { m: m >>> 0, s: l - 1 };
}

/** Characters before a dividend that bind tighter than (or as tight as) `/` and `%`. */
const _TIGHT = new Set(["*", "/", "%", "-", "~", "!", ".", "&", "|", "^"]);

/**
 * Rewrites `x / N` and `x % N` (N ≥ 2 a u32 literal) of a `main` body into {@link UDIV_WGSL}
 * calls reading the divisor's multiplier and shift from slots, where the dividend `x` is an
 * identifier, an indexed or called one, or a parenthesised group, and nothing before it binds
 * tighter; other divisions are left for the plain hoisting (a division by a uniform).
 */
function _fastDivisions(
  body: string,
  slot: (n: number) => string,
): { body: string; used: boolean } {
  const re = /\s*([/%])\s*(\d+)u\b/g;
  let out = "", from = 0, used = false;
  for (let m = re.exec(body); m; m = re.exec(body)) {
    const d = Number(m[2]);
    const end = m.index; // the dividend ends here
    const start = dividendStart(body, end);
    if (d <= 1 || start < from) continue;
    const x = body.slice(start, end);
    const { m: mul, s } = udivMagic(d);
    const call = m[1] === "/"
      ? `_udiv(${x}, ${slot(mul)}, ${slot(s)})`
      : `_umod(${x}, ${slot(d)}, ${slot(mul)}, ${slot(s)})`;
    out += body.slice(from, start) + call;
    from = m.index + m[0].length;
    used = true;
  }
  return { body: out + body.slice(from), used };
}

/**
 * Where the dividend ending at `end` starts (before a `/` or `%`): an identifier, `a[…]`,
 * `f(…)` or `(…)` with nothing before it that binds tighter than the division; -1 otherwise.
 *
 * @param src The source.
 * @param end Where the dividend ends.
 * @returns Its start, or -1.
 */
export function dividendStart(src: string, end: number): number {
  const start = _operandStart(src, end);
  if (start < 0) return -1;
  let b = start - 1;
  while (b >= 0 && src[b] === " ") b--;
  return b >= 0 && _TIGHT.has(src[b]) ? -1 : start;
}

/** Where the operand ending at `end` starts (an identifier, `a[…]`, `f(…)`, `(…)`), or -1. */
function _operandStart(src: string, end: number): number {
  let k = end - 1;
  for (;;) {
    const c = src[k];
    if (c === ")" || c === "]") {
      const open = c === ")" ? "(" : "[";
      let depth = 0;
      for (; k >= 0; k--) {
        if (src[k] === c) depth++;
        else if (src[k] === open && --depth === 0) break;
      }
      if (k < 0) return -1;
      k--;
      // the callee, or the indexed value (a name, a call, an indexed value)
      if (k >= 0 && (/\w/.test(src[k]) || (c === "]" && (src[k] === ")" || src[k] === "]")))) {
        continue;
      }
      return k + 1;
    }
    if (!/\w/.test(c ?? "")) return -1;
    while (k >= 0 && /[\w.]/.test(src[k])) k--;
    if (src[k] === "]") continue; // a member of an indexed value: a[i].x
    const word = src.slice(k + 1, end);
    return /^[A-Za-z_]/.test(word) ? k + 1 : -1;
  }
}

/**
 * Kernels doing at least this many element visits (invocations, times loop trips; the
 * `DENAX_GENERIC_MAX_WORK` environment variable overrides it) whose index
 * arithmetic divides stay specialised: a generic division costs ~15 instructions where a
 * literal one costs ~4, and the literals let the compiler fold and share index computations
 * (llvmpipe ran DenseNet's pooling gradients 10x slower generic). Below it, the ~10-25 ms of
 * compiling another pipeline outweighs the running time (see `bench/compile_bench.ts`), and
 * the jit's elementwise kernels take one element per invocation instead of four. 2^18 rather
 * than 2^16 (2026-12-07, batch 8, llvmpipe, second steps the median of 5): DenseNet's first
 * step 7.7 -> 5.6 s (169 -> 131 pipelines), ResNet-18's 4.1 -> 3.3 s, GoogLeNet's 9.2 -> 8.2 s,
 * their later steps as fast (565/547 vs 578/532 ms, 259/248 vs 251/244, 1010/1018 vs
 * 1033/987); 2^20 made DenseNet's steps 9 % slower.
 */
export const GENERIC_MAX_WORK: number = 2 ** 18;

let _maxWorkCache: number | undefined;

function _maxWork(): number {
  let v: string | undefined;
  try {
    v = Deno.env.get("DENAX_GENERIC_MAX_WORK");
  } catch { /* no env permission: the default */ }
  const n = Number(v ?? NaN);
  return Number.isFinite(n) && n >= 0 ? n : GENERIC_MAX_WORK;
}

/**
 * Whether a kernel's work is small enough for a shape-generic form whatever its index
 * arithmetic (under {@link GENERIC_MAX_WORK}, or `DENAX_GENERIC_MAX_WORK`): its compile time
 * outweighs its running time (see {@link genericPays}).
 *
 * @param work Element visits of one dispatch.
 * @returns Whether the work is under the limit.
 */
export function genericWork(work: number): boolean {
  return work < genericMaxWork();
}

/**
 * The limit {@link genericWork} applies: {@link setGenericMaxWork}'s, else
 * `DENAX_GENERIC_MAX_WORK`, else {@link GENERIC_MAX_WORK}.
 *
 * @returns Element visits.
 */
export function genericMaxWork(): number {
  return _maxWorkCache ??= _maxWork();
}

/**
 * Sets {@link genericMaxWork} for this process (tests pin the four-lane or the generic form
 * with it; denax's program cache keys on it); `null` rereads the environment.
 *
 * @param work Element visits, or null.
 */
export function setGenericMaxWork(work: number | null): void {
  _maxWorkCache = work ?? undefined;
}

/**
 * Whether making a kernel generic pays: its work is under {@link GENERIC_MAX_WORK}, or its
 * `main` neither divides by a size nor reads staged textures (same-shape elementwise kernels
 * from storage: the uniform costs nothing).
 *
 * @param wgsl The kernel's source.
 * @param work Element visits of one dispatch.
 * @returns Whether to make it generic.
 */
export function genericPays(wgsl: string, work: number): boolean {
  if (genericWork(work)) return true;
  const at = wgsl.indexOf("\nfn main(");
  const main = wgsl.slice(Math.max(at, 0));
  // texture-staged reads: their addressing folds with literal sizes (W2: 18 against 22 ms)
  if (main.includes("textureLoad(")) return false;
  for (const m of main.matchAll(/[/%]\s*(\d+)u\b/g)) {
    if (Number(m[1]) > 1) return false;
  }
  return true;
}

/**
 * The shape-generic form of a kernel: its `main`'s size literals read from a uniform (see
 * {@link hoistLiterals}), the kernel's {@link Kernel.params}. Unchanged when generic kernels
 * are off ({@link genericKernelsEnabled}), when it has params already or nothing to hoist.
 * Eager kernels are always made generic, whatever their size: an eager op's cost is mostly its
 * dispatch, and most eager work runs once (parameter initialization: ResNet-18's created 313
 * pipelines specialised, 87 with large kernels specialised); the jit applies
 * {@link genericPays}.
 *
 * @param k The kernel.
 * @returns The generic kernel.
 */
export function genericKernel(k: Kernel): Kernel {
  if (k.params || !genericKernelsEnabled()) return k;
  const { wgsl, params } = hoistLiterals(k.wgsl, k.bindings.length);
  return params.length ? { ...k, wgsl, params } : k;
}

/**
 * A plan with every dispatched kernel made shape-generic ({@link genericKernel}).
 *
 * @param plan The plan.
 * @returns The plan with generic kernels.
 */
export function genericPlan(plan: Plan): Plan {
  return {
    ...plan,
    steps: plan.steps.map((s) =>
      s.kind === "dispatch" ? { kind: "dispatch", kernel: genericKernel(s.kernel) } : s
    ),
  };
}
