/**
 * Reductions over any set of axes (`reduce_sum`, `reduce_max`, `reduce_min`, `reduce_prod`)
 * and `argmax`/`argmin` along one axis.
 *
 * The operand is first viewed with adjacent kept or reduced dims merged. Two strategies:
 * - few elements per output (R <= 512) or many outputs: one invocation per output, looping
 *   over its R elements in order;
 * - otherwise one workgroup of 256 invocations per (output, chunk), each summing a strided
 *   share, then a tree in workgroup memory; with more than one chunk, a second pass reduces
 *   the per-chunk partials.
 *
 * Empty reductions give the identity (0, 1, -inf / int min, +inf / int max). max and min
 * propagate NaN (numpy `max`); argmax/argmin return the first index of the extreme, and a NaN
 * counts as the extreme (numpy), the first NaN winning.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import type { ReducePrim } from "../../core/prims/names.ts";
import {
  type BufRef,
  declareBindings,
  decode,
  dotStrides,
  elementwiseKernel,
  F32_SPECIALS,
  foldGrid,
  Helpers,
  inp,
  type Kernel,
  MAX_LOOP_ITERATIONS,
  out,
  type Plan,
  size,
  storageType,
  strides,
  tmp,
  u,
} from "./common.ts";
import { FMAX_FMIN } from "./math.ts";

/** The combining operation of a reduction or scan. */
export type Monoid = "sum" | "prod" | "max" | "min";

/** The monoid of a reduction primitive. */
export function monoidOf(op: ReducePrim): Monoid {
  return op === "reduce_sum"
    ? "sum"
    : op === "reduce_prod"
    ? "prod"
    : op === "reduce_max"
    ? "max"
    : "min";
}

/**
 * The identity of a monoid as a WGSL expression (a call for the float infinities, which are
 * not constant expressions).
 */
export function identityOf(m: Monoid, dtype: DType, h: Helpers): string {
  const t = storageType(dtype);
  if (m === "sum") return `${t}(0)`;
  if (m === "prod") return `${t}(1)`;
  if (dtype === "f32") {
    h.add(F32_SPECIALS);
    return m === "max" ? "(-_inf())" : "_inf()";
  }
  if (dtype === "i32") return m === "max" ? "(-2147483647i - 1i)" : "2147483647i";
  if (dtype === "bool") return m === "max" ? "0u" : "1u";
  return m === "max" ? "0u" : "4294967295u";
}

/** The WGSL expression combining `a` and `b` under a monoid (bool sum/prod are or/and). */
export function combineExpr(m: Monoid, dtype: DType, a: string, b: string, h: Helpers): string {
  if (dtype === "bool" && (m === "sum" || m === "prod")) {
    return m === "sum" ? `(${a} | ${b})` : `(${a} & ${b})`;
  }
  switch (m) {
    case "sum":
      return `(${a} + ${b})`;
    case "prod":
      return `(${a} * ${b})`;
    case "max":
    case "min":
      if (dtype !== "f32") return `${m}(${a}, ${b})`;
      h.add(FMAX_FMIN);
      return `_f${m}(${a}, ${b})`;
  }
}

/**
 * WGSL `_kadd(&s, &c, x, z)`: adds `x` to the running sum `s` with Kahan compensation `c` (the
 * negated low part lost so far), so a long f32 sum keeps about f32 precision instead of
 * losing one rounding per addend (a sum of 2^25 ones stays 2^25, not 2^24). `z` must be 0 at
 * run time but not provably so at compile time: shader compilers treat float arithmetic as
 * reassociable (SPIR-V without `NoContraction`), and llvmpipe folds `((s + y) - s) - y` to 0,
 * which the opaque bit flip prevents. A non-finite compensation is dropped, so infinities and
 * NaN propagate as in a plain sum.
 */
export const KAHAN_ADD: string = `
fn _kadd(s: ptr<function, f32>, c: ptr<function, f32>, x: f32, z: u32) {
  let y = x - *c;
  let t = bitcast<f32>(bitcast<u32>(*s + y) ^ z);
  let e = (t - *s) - y;
  *c = select(e, 0.0, (bitcast<u32>(e) & 0x7f800000u) == 0x7f800000u);
  *s = t;
}
`;

/** Whether a reduction of `m` over `dtype` accumulates with Kahan compensation (f32 sums). */
export function compensated(m: Monoid, dtype: DType): boolean {
  return m === "sum" && dtype === "f32";
}

/**
 * WGSL folding `x` into the accumulator `acc` (with compensation for f32 sums: the caller
 * declares the accumulator with {@link accumulator}). A suffix `j` names another accumulator
 * (`acc<j>`, `kc<j>`) of a kernel computing several reductions.
 */
export function accumulate(m: Monoid, dtype: DType, x: string, h: Helpers, j = ""): string {
  if (!compensated(m, dtype)) return `acc${j} = ${combineExpr(m, dtype, `acc${j}`, x, h)};`;
  h.add(KAHAN_ADD);
  return `_kadd(&acc${j}, &kc${j}, ${x}, kz);`;
}

/**
 * WGSL declaring the accumulator `acc` at the identity, and for f32 sums its compensation `kc`
 * and the opaque zero `kz` of {@link KAHAN_ADD} (from `wid: vec3u`, the workgroup id, whose z
 * never reaches 2^32 - 1). A suffix `j` names another accumulator and leaves `kz` to the one
 * without a suffix, which the kernel must also declare.
 */
export function accumulator(m: Monoid, dtype: DType, h: Helpers, j = ""): string {
  const init = `var acc${j} = ${identityOf(m, dtype, h)};`;
  if (!compensated(m, dtype)) return init;
  const kz = j === "" ? "\n  let kz = select(0u, 1u, wid.z == 0xffffffffu);" : "";
  return `${init}\n  var kc${j} = 0.0;${kz}`;
}

/** The accumulated value: `acc`, corrected by its compensation for f32 sums. */
export function accumulated(m: Monoid, dtype: DType, j = ""): string {
  return compensated(m, dtype) ? `(acc${j} - kc${j})` : `acc${j}`;
}

/** A shape split into kept and reduced dims, adjacent dims of one kind merged. */
interface _View {
  readonly keptShape: number[];
  readonly keptStrides: number[];
  readonly redShape: number[];
  readonly redStrides: number[];
}

function _view(shape: readonly number[], axes: readonly number[]): _View {
  const st = strides(shape);
  const v: _View = { keptShape: [], keptStrides: [], redShape: [], redStrides: [] };
  let last: "k" | "r" | null = null;
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const kind = axes.includes(d) ? "r" : "k";
    const sh = kind === "r" ? v.redShape : v.keptShape;
    const ss = kind === "r" ? v.redStrides : v.keptStrides;
    if (last === kind) {
      sh[sh.length - 1] *= shape[d];
      ss[ss.length - 1] = st[d];
    } else {
      sh.push(shape[d]);
      ss.push(st[d]);
    }
    last = kind;
  }
  return v;
}

const _WG = 256;
const _SEQ_MAX = 512;
const _CHUNK = _WG * 64;
/**
 * Many outputs (>= 4096) are reduced one invocation each up to this many elements; longer
 * reductions take the workgroup strategy, whose invocations loop R / 65536 times at most, so
 * none nears {@link MAX_LOOP_ITERATIONS}.
 */
const _SEQ_LOOP_MAX = 4096;
/** Unrolled loads per loop iteration of the workgroup arg-reduction. */
const _ARG_UNROLL = 8;

/** WGSL computing the offset of reduced element `r` (a u32 expression) into `roff`. */
function _redOffset(v: _View, r: string): string {
  if (v.redShape.length === 1 && v.redStrides[0] === 1) return `let roff = ${r};`;
  const vars = v.redShape.map((_, d) => `r${d}`);
  return `${decode(r, v.redShape, "r")}\n    let roff = ${dotStrides(vars, v.redStrides)};`;
}

function _baseOffset(v: _View, o: string): string {
  const vars = v.keptShape.map((_, d) => `k${d}`);
  return `${decode(o, v.keptShape, "k")}\n  let base = ${dotStrides(vars, v.keptStrides)};`;
}

/** Options of a reduction pass. */
interface _Pass {
  readonly m: Monoid;
  readonly dtype: DType;
  readonly view: _View;
  readonly src: BufRef;
  readonly dst: BufRef;
  /** Chunks per output (workgroup strategy only). */
  readonly chunks: number;
}

function _sequential(p: _Pass): Kernel {
  const h = new Helpers();
  const t = storageType(p.dtype);
  const R = size(p.view.redShape);
  const body = `${_baseOffset(p.view, "i")}
  ${accumulator(p.m, p.dtype, h)}
  for (var r = 0u; r < ${u(R)}; r = r + 1u) {
    ${_redOffset(p.view, "r")}
    let x = a[base + roff];
    ${accumulate(p.m, p.dtype, "x", h)}
  }
  o[i] = ${accumulated(p.m, p.dtype)};`;
  return elementwiseKernel({
    bindings: [
      { name: "a", type: t, access: "read", ref: p.src },
      { name: "o", type: t, access: "read_write", ref: p.dst },
    ],
    total: size(p.view.keptShape),
    helpers: String(h),
    body,
  });
}

function _workgroup(p: _Pass): Kernel {
  const h = new Helpers();
  const t = storageType(p.dtype);
  const R = size(p.view.redShape);
  const outs = size(p.view.keptShape);
  const C = p.chunks;
  const chunk = Math.ceil(R / C);
  const grid = foldGrid(outs * C);
  const comb = (a: string, b: string) => combineExpr(p.m, p.dtype, a, b, h);
  const acc = accumulator(p.m, p.dtype, h);
  const step = accumulate(p.m, p.dtype, "x", h);
  const wgsl = `${
    declareBindings([
      { name: "a", type: t, access: "read", ref: p.src },
      { name: "o", type: t, access: "read_write", ref: p.dst },
    ])
  }
var<workgroup> sv: array<${t}, ${_WG}>;
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = ${grid.flatGroup};
  let ob = g / ${u(C)};
  let c = g % ${u(C)};
  ${acc}
  if (g < ${u(outs * C)}) {
    ${_baseOffset(p.view, "ob")}
    let end = min((c + 1u) * ${u(chunk)}, ${u(R)});
    for (var r = c * ${u(chunk)} + lid; r < end; r = r + ${u(_WG)}) {
      ${_redOffset(p.view, "r")}
      let x = a[base + roff];
      ${step}
    }
  }
  sv[lid] = ${accumulated(p.m, p.dtype)};
  workgroupBarrier();
  for (var s = ${u(_WG / 2)}; s > 0u; s = s >> 1u) {
    if (lid < s) { sv[lid] = ${comb("sv[lid]", "sv[lid + s]")}; }
    workgroupBarrier();
  }
  if (lid == 0u && g < ${u(outs * C)}) { o[g] = sv[0]; }
}
${h}`;
  return {
    wgsl,
    workgroupSize: [_WG, 1, 1],
    dispatch: grid.dispatch,
    bindings: [p.src, p.dst],
  };
}

/**
 * A reduction over `axes` (sorted), removed from the output shape.
 *
 * @param op The reduction primitive.
 * @param dtype The dtype.
 * @param shape The operand's shape.
 * @param axes The reduced axes.
 * @returns The plan: input 0 → output 0.
 */
export function reducePlan(
  op: ReducePrim,
  dtype: DType,
  shape: readonly number[],
  axes: readonly number[],
): Plan {
  const m = monoidOf(op);
  const view = _view(shape, axes);
  const R = size(view.redShape), outs = size(view.keptShape);
  if (R <= _SEQ_MAX || (outs >= 4096 && R <= _SEQ_LOOP_MAX)) {
    return {
      steps: [{
        kind: "dispatch",
        kernel: _sequential({ m, dtype, view, src: inp(0), dst: out(0), chunks: 1 }),
      }],
      temps: [],
    };
  }
  const chunks = Math.min(Math.ceil(R / _CHUNK), 256);
  if (chunks === 1) {
    return {
      steps: [{
        kind: "dispatch",
        kernel: _workgroup({ m, dtype, view, src: inp(0), dst: out(0), chunks }),
      }],
      temps: [],
    };
  }
  // Pass 1 writes partials [outs, chunks]; pass 2 reduces each row of partials.
  const partial: _View = {
    keptShape: [outs],
    keptStrides: [chunks],
    redShape: [chunks],
    redStrides: [1],
  };
  return {
    steps: [
      {
        kind: "dispatch",
        kernel: _workgroup({ m, dtype, view, src: inp(0), dst: tmp(0), chunks }),
      },
      {
        kind: "dispatch",
        kernel: _sequential({ m, dtype, view: partial, src: tmp(0), dst: out(0), chunks: 1 }),
      },
    ],
    temps: [outs * chunks * 4],
  };
}

/**
 * `argmax` / `argmin` along one axis: the first index of the extreme, NaN counting as the
 * extreme. One invocation per output for short axes, one workgroup per output otherwise.
 *
 * @param op "argmax" or "argmin".
 * @param dtype The operand's dtype.
 * @param shape The operand's shape.
 * @param axis The axis.
 * @returns The kernel: input 0 → output 0 (i32).
 */
export function argReduceKernel(
  op: "argmax" | "argmin",
  dtype: DType,
  shape: readonly number[],
  axis: number,
): Kernel {
  const h = new Helpers();
  const t = storageType(dtype);
  const P = size(shape.slice(0, axis)), L = shape[axis], Q = size(shape.slice(axis + 1));
  const m: Monoid = op === "argmax" ? "max" : "min";
  const cmp = op === "argmax" ? ">" : "<";
  let nanTests = "";
  if (dtype === "f32") {
    h.add(F32_SPECIALS);
    nanTests = `
  if (_isnan(bv)) { return !_isnan(av) || bi < ai; }
  if (_isnan(av)) { return false; }`;
  }
  // Whether (bv, bi) beats (av, ai).
  h.add(`fn _better(av: ${t}, ai: u32, bv: ${t}, bi: u32) -> bool {${nanTests}
  return bv ${cmp} av || (bv == av && bi < ai);
}`);
  const ident = identityOf(m, dtype, h);
  const bindings = [
    { name: "a", type: t, access: "read" as const, ref: inp(0) },
    { name: "o", type: "i32", access: "read_write" as const, ref: out(0) },
  ];
  const outs = P * Q;
  const addr = (o: string, r: string) =>
    `(${o} / ${u(Q)}) * ${u(L * Q)} + (${o} % ${u(Q)}) + ${r} * ${u(Q)}`;
  if (L <= _SEQ_MAX || (outs >= 4096 && L <= _SEQ_LOOP_MAX)) {
    return elementwiseKernel({
      bindings,
      total: outs,
      helpers: String(h),
      body: `var av = ${ident};
  var ai = 0xffffffffu;
  for (var r = 0u; r < ${u(L)}; r = r + 1u) {
    let bv = a[${addr("i", "r")}];
    if (_better(av, ai, bv, r)) { av = bv; ai = r; }
  }
  o[i] = bitcast<i32>(ai);`,
    });
  }
  if (Math.ceil(L / (_WG * _ARG_UNROLL)) > MAX_LOOP_ITERATIONS / 2) {
    throw new RangeError(
      `${op}: an axis of ${L} elements (operand ${dtype}[${shape}]) is longer than WebGPU ` +
        `arg-reductions support (${(MAX_LOOP_ITERATIONS / 2) * _WG * _ARG_UNROLL})`,
    );
  }
  // Unrolled so that an invocation loops L / 2048 times (llvmpipe's loop limit).
  const unrolled = Array.from({ length: _ARG_UNROLL }, (_, k) =>
    `{
        let r = r0 + ${u(k * _WG)};
        if (r < ${u(L)}) {
          let bv = a[${addr("g", "r")}];
          if (_better(av, ai, bv, r)) { av = bv; ai = r; }
        }
      }`).join("\n      ");
  const grid = foldGrid(outs);
  const wgsl = `${declareBindings(bindings)}
var<workgroup> sv: array<${t}, ${_WG}>;
var<workgroup> si: array<u32, ${_WG}>;
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = ${grid.flatGroup};
  var av = ${ident};
  var ai = 0xffffffffu;
  if (g < ${u(outs)}) {
    for (var r0 = lid; r0 < ${u(L)}; r0 = r0 + ${u(_WG * _ARG_UNROLL)}) {
      ${unrolled}
    }
  }
  sv[lid] = av;
  si[lid] = ai;
  workgroupBarrier();
  for (var s = ${u(_WG / 2)}; s > 0u; s = s >> 1u) {
    if (lid < s && _better(sv[lid], si[lid], sv[lid + s], si[lid + s])) {
      sv[lid] = sv[lid + s];
      si[lid] = si[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u && g < ${u(outs)}) { o[g] = bitcast<i32>(si[0]); }
}
${h}`;
  return { wgsl, workgroupSize: [_WG, 1, 1], dispatch: grid.dispatch, bindings: [inp(0), out(0)] };
}
