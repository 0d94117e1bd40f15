/**
 * `sort` along one axis by the first operand, permuting the other operands identically:
 * a bitonic sort of (key, original index) pairs, which makes it stable.
 *
 * 1. Each element becomes a u32 key whose unsigned order is the value order (f32: the sign
 *    bit flipped for positives, all bits for negatives, -0 as +0; i32: the sign bit flipped),
 *    inverted for a descending sort; NaN keys are 0xffffffff, so NaNs sort last either way
 *    (numpy). The line is padded to a power of two with keys 0xffffffff and indices past the
 *    end, which sort after everything real.
 * 2. Bitonic network: blocks of up to 1024 pairs-elements are sorted in workgroup memory; for
 *    longer lines, each merge stage runs its long-distance steps as global passes (one
 *    dispatch per step) and its last ten steps in workgroup memory.
 * 3. Every operand is gathered through the sorted indices.
 *
 * Descending order keeps equal keys in their original order (a stable descending sort) and
 * NaNs last; JAX's `jnp.sort(descending=True)` instead reverses an ascending sort.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import {
  declareBindings,
  elementwiseKernel,
  foldGrid,
  inp,
  type Kernel,
  out,
  type Plan,
  size,
  type Step,
  storageType,
  tmp,
  u,
} from "./common.ts";

/** Elements sorted in workgroup memory at once (8 KiB of keys and indices). */
const _LOCAL = 1024;

/** WGSL mapping a value of `dtype` to its order-preserving u32 key. */
function _keyExpr(dtype: DType, x: string, descending: boolean): string {
  let k: string;
  if (dtype === "f32") {
    k = `_fkey(${x})`;
  } else if (dtype === "i32") k = `(bitcast<u32>(${x}) ^ 0x80000000u)`;
  else k = x;
  if (!descending) return k;
  return dtype === "f32" ? `_desc(${k})` : `(~${k})`;
}

const _FKEY = `
fn _fkey(x: f32) -> u32 {
  var b = bitcast<u32>(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; }
  if (b == 0x80000000u) { b = 0u; }
  return select(b | 0x80000000u, ~b, (b >> 31u) == 1u);
}
fn _desc(k: u32) -> u32 { return select(~k, k, k == 0xffffffffu); }
`;

/** The compare-exchange of positions p < q of a line held in `K`/`I` (global or local). */
function _cmpSwap(K: string, I: string, p: string, q: string, asc: string): string {
  return `{
      let kp = ${K}[${p}]; let kq = ${K}[${q}]; let ip = ${I}[${p}]; let iq = ${I}[${q}];
      let gt = kp > kq || (kp == kq && ip > iq);
      if (gt == ${asc}) { ${K}[${p}] = kq; ${K}[${q}] = kp; ${I}[${p}] = iq; ${I}[${q}] = ip; }
    }`;
}

/**
 * One workgroup per block of B = min(Pw, 1024) elements: runs the bitonic stages k = kLo,
 * 2 kLo, …, kHi (each with steps j = min(k, B)/2 … 1) in workgroup memory. Directions use the
 * position within the whole padded line (Pw elements). The loops are not unrolled, so one
 * small pipeline serves every stage range of a given block layout.
 */
function _localKernel(lines: number, Pw: number, kLo: number, kHi: number): Kernel {
  const B = Math.min(Pw, _LOCAL);
  const T = Math.min(B / 2, 256);
  const blocks = lines * (Pw / B);
  const grid = foldGrid(blocks);
  const wgsl = `${
    declareBindings([
      { name: "K", type: "u32", access: "read_write", ref: tmp(0) },
      { name: "I", type: "u32", access: "read_write", ref: tmp(1) },
    ])
  }
var<workgroup> sk: array<u32, ${B}>;
var<workgroup> si: array<u32, ${B}>;
@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = ${grid.flatGroup};
  let valid = g < ${u(blocks)};
  let base = g * ${u(B)};
  let lineOff = base % ${u(Pw)};
  for (var t = lid; t < ${u(B)}; t = t + ${u(T)}) {
    if (valid) { sk[t] = K[base + t]; si[t] = I[base + t]; }
  }
  workgroupBarrier();
  for (var k = ${u(kLo)}; k <= ${u(kHi)}; k = k << 1u) {
    for (var j = min(k, ${u(B)}) >> 1u; j > 0u; j = j >> 1u) {
      for (var t = lid; t < ${u(B / 2)}; t = t + ${u(T)}) {
        let p = 2u * j * (t / j) + t % j;
        let q = p + j;
        let asc = ((lineOff + p) & k) == 0u;
        ${_cmpSwap("sk", "si", "p", "q", "asc")}
      }
      workgroupBarrier();
    }
  }
  for (var t = lid; t < ${u(B)}; t = t + ${u(T)}) {
    if (valid) { K[base + t] = sk[t]; I[base + t] = si[t]; }
  }
}
`;
  return { wgsl, workgroupSize: [T, 1, 1], dispatch: grid.dispatch, bindings: [tmp(0), tmp(1)] };
}

/** One global compare-exchange step (k, j) over all lines: one invocation per pair. */
function _globalKernel(lines: number, Pw: number, k: number, j: number): Kernel {
  return elementwiseKernel({
    bindings: [
      { name: "K", type: "u32", access: "read_write", ref: tmp(0) },
      { name: "I", type: "u32", access: "read_write", ref: tmp(1) },
    ],
    total: lines * (Pw / 2),
    body: `let line = i / ${u(Pw / 2)};
  let t = i % ${u(Pw / 2)};
  let p = 2u * ${u(j)} * (t / ${u(j)}) + t % ${u(j)};
  let asc = (p & ${u(k)}) == 0u;
  let bp = line * ${u(Pw)} + p;
  let bq = bp + ${u(j)};
  ${_cmpSwap("K", "I", "bp", "bq", "asc")}`,
  });
}

/**
 * The sort plan.
 *
 * @param dtypes The operands' dtypes (the first is the key).
 * @param shape The common shape.
 * @param axis The sorted axis.
 * @param descending Sort in descending order (NaNs still last).
 * @returns The plan: n inputs → n outputs.
 */
export function sortPlan(
  dtypes: readonly DType[],
  shape: readonly number[],
  axis: number,
  descending: boolean,
): Plan {
  const L = shape[axis], Q = size(shape.slice(axis + 1));
  const lines = size(shape.slice(0, axis)) * Q;
  const n = size(shape);
  if (L <= 1 || n === 0) {
    return {
      steps: dtypes.map((_, k) => ({
        kind: "copy" as const,
        src: inp(k),
        dst: out(k),
        bytes: n * 4,
      })).filter((s) => s.bytes > 0),
      temps: [],
    };
  }
  const Pw = 2 ** Math.ceil(Math.log2(L));
  const addr = (line: string, p: string) =>
    `(${line} / ${u(Q)}) * ${u(L * Q)} + ${line} % ${u(Q)} + ${p} * ${u(Q)}`;
  const steps: Step[] = [];
  steps.push({
    kind: "dispatch",
    kernel: elementwiseKernel({
      bindings: [
        { name: "a", type: storageType(dtypes[0]), access: "read", ref: inp(0) },
        { name: "K", type: "u32", access: "read_write", ref: tmp(0) },
        { name: "I", type: "u32", access: "read_write", ref: tmp(1) },
      ],
      total: lines * Pw,
      helpers: dtypes[0] === "f32" ? _FKEY : "",
      body: `let line = i / ${u(Pw)};
  let p = i % ${u(Pw)};
  I[i] = p;
  if (p < ${u(L)}) {
    let x = a[${addr("line", "p")}];
    K[i] = ${_keyExpr(dtypes[0], "x", descending)};
  } else {
    K[i] = 0xffffffffu;
  }`,
    }),
  });
  const B = Math.min(Pw, _LOCAL);
  steps.push({ kind: "dispatch", kernel: _localKernel(lines, Pw, 2, B) });
  for (let k = 2 * B; k <= Pw; k *= 2) {
    for (let j = k / 2; j >= B; j /= 2) {
      steps.push({ kind: "dispatch", kernel: _globalKernel(lines, Pw, k, j) });
    }
    steps.push({ kind: "dispatch", kernel: _localKernel(lines, Pw, k, k) });
  }
  dtypes.forEach((dt, k) => {
    const t = storageType(dt);
    steps.push({
      kind: "dispatch",
      kernel: elementwiseKernel({
        bindings: [
          { name: "a", type: t, access: "read", ref: inp(k) },
          { name: "I", type: "u32", access: "read", ref: tmp(1) },
          { name: "o", type: t, access: "read_write", ref: out(k) },
        ],
        total: lines * L,
        body: `let line = i / ${u(L)};
  let p = i % ${u(L)};
  let src = I[line * ${u(Pw)} + p];
  o[${addr("line", "p")}] = a[${addr("line", "src")}];`,
      }),
    });
  });
  return { steps, temps: [lines * Pw * 4, lines * Pw * 4] };
}
