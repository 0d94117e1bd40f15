/**
 * `dot_general` with fused operands and epilogue, on the GEMM templates of `kernels/gemm.ts`
 * (workgroup-memory tiles) and `kernels/gemm_texture.ts` (operands packed into textures, the
 * fast path on CPU adapters).
 *
 * The templates take the operand reads and the result store as WGSL functions. Here `loadA`
 * and `loadB` evaluate the operands' fused expressions at (batch, row, k) and (batch, k,
 * column) — transposes, broadcasts and elementwise producers become index arithmetic inside
 * the load (in the texture path the pack kernel evaluates them once per element) — and
 * `storeC` evaluates the epilogue (bias, activation, an optimizer update …) on the
 * accumulator before writing every result of the group. Buffers the templates do not declare
 * (further operand leaves, the epilogue's leaves, further results, the scan step) are added
 * to each generated kernel that calls the function needing them, numbered after the
 * template's own bindings: kernels are data, and this is a transformation of that data.
 *
 * @module
 */
import { Helpers, inp, out, storageType, u } from "../kernels/common.ts";
import { gemmPlan } from "../kernels/gemm.ts";
import { type Idx, KernelCtx, Scope, type ValueInfo } from "./expr.ts";
import type { Group } from "./fusion.ts";
import type { GVal } from "./graph.ts";
import {
  bindOutputs,
  type CodegenCtx,
  declare,
  type Decl,
  groupInfo,
  leafDecls,
  mapPlan,
  outIndex,
  slotRes,
} from "./kernels.ts";
import type { Op, Res } from "./program.ts";

const _prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** The first buffer an expression reads (depth first), or null when it reads none. */
function _firstLeaf(v: GVal, info: ValueInfo, seen = new Set<GVal>()): GVal | null {
  if (seen.has(v)) return null;
  seen.add(v);
  if (info.isLeaf(v)) return v;
  for (const x of info.producer(v)?.inputs ?? []) {
    const l = _firstLeaf(x, info, seen);
    if (l) return l;
  }
  return null;
}

/** Whether an operand is a plain buffer laid out as `[batch, rows, cols]` row-major. */
function _dense(v: GVal, info: ValueInfo, groups: readonly (readonly number[])[]): boolean {
  if (!info.isLeaf(v)) return false;
  const order = groups.flat();
  return order.every((d, k) => d === k);
}

interface _Operand {
  readonly fn: string;
  readonly k: KernelCtx;
  readonly leaf: GVal;
  readonly dense: boolean;
}

/**
 * `fn name(bi, i1, i2) -> T` reading operand `v`: `bi` indexes the batch dims, `i1`/`i2` the
 * dims of `g1`/`g2` (free and contracting dims, in the order the template passes them).
 */
function _operand(
  c: CodegenCtx,
  grp: Group,
  h: Helpers,
  v: GVal,
  main: string,
  name: string,
  dims: readonly [readonly number[], readonly number[], readonly number[]],
  params: readonly [string, string, string],
): _Operand {
  const info = groupInfo(c, grp);
  const k = new KernelCtx(info, h);
  const leaf = _firstLeaf(v, info);
  if (!leaf) throw new Error("internal: a fused GEMM operand reads no buffer");
  k.leafName(leaf, main);
  const s = new Scope(k);
  const sh = v.aval.shape;
  const idx: string[] = new Array(sh.length);
  dims.forEach((ds, g) => {
    const got = s.dims({ shape: ds.map((d) => sh[d]), lin: params[g] });
    ds.forEach((d, j) => (idx[d] = got[j]));
  });
  const val = s.gen(v, { shape: sh, dims: idx } as Idx);
  const t = storageType(v.aval.dtype);
  const fn = `fn ${name}(${params[0]}: u32, ${params[1]}: u32, ${params[2]}: u32) -> ${t} {
  ${[...s.lines, `return ${val};`].join("\n  ")}
}`;
  return { fn, k, leaf, dense: _dense(v, info, dims) };
}

/**
 * The operations of a `dot_general` group: its GEMM plan with fused loads and epilogue.
 *
 * @param c The code generation context.
 * @param grp A group of kind "dot".
 * @returns Its operations.
 */
export function lowerDot(c: CodegenCtx, grp: Group): Op[] {
  const e = grp.root!;
  const [lhs, rhs] = e.inputs;
  const { contracting: [lc, rc], batch: [lb, rb] } = e.params as {
    contracting: [number[], number[]];
    batch: [number[], number[]];
  };
  const free = (n: number, used: number[]) =>
    [...Array(n).keys()].filter((d) => !used.includes(d));
  const lf = free(lhs.aval.ndim, [...lc, ...lb]), rf = free(rhs.aval.ndim, [...rc, ...rb]);
  const B = _prod(lb.map((d) => lhs.aval.shape[d]));
  const M = _prod(lf.map((d) => lhs.aval.shape[d]));
  const N = _prod(rf.map((d) => rhs.aval.shape[d]));
  const K = _prod(lc.map((d) => lhs.aval.shape[d]));
  const h = new Helpers();
  const A = _operand(c, grp, h, lhs, "a", "loadA", [lb, lf, lc], ["bi", "m", "k"]);
  const Bo = _operand(c, grp, h, rhs, "b", "loadB", [rb, rc, rf], ["bi", "k", "n"]);
  // The epilogue: every result of the group at the accumulator's index.
  const kc = new KernelCtx(groupInfo(c, grp), h);
  const names = grp.outs.map((_, j) => (j === 0 ? "o" : `w${j}`));
  bindOutputs(c, grp, kc, names);
  kc.aliasReadable = true;
  kc.known.set(e.outputs[0], "v");
  kc.canonical = "lin";
  const s = new Scope(kc);
  const stores = grp.outs.map((v, j) =>
    `${names[j]}[${outIndex(c, kc, v, "lin")}] = ${s.gen(v, { shape: v.aval.shape, lin: "lin" })};`
  );
  const t = storageType(e.outputs[0].aval.dtype);
  const storeC = `fn storeC(bi: u32, m: u32, n: u32, v: ${t}) {
  let lin = (bi * ${u(M)} + m) * ${u(N)} + n;
  ${[...s.lines, ...stores].join("\n  ")}
}`;
  const plan = gemmPlan({
    dtype: e.outputs[0].aval.dtype,
    batch: B,
    M,
    N,
    K,
    loadA: A.fn,
    loadB: Bo.fn,
    storeC,
    refs: [inp(0), inp(1), out(0)],
    aDense: A.dense,
    bDense: Bo.dense,
  }, c.gemm);
  const extraOuts: Decl[] = grp.outs.slice(1).map((v, j) => ({
    name: names[j + 1],
    type: storageType(v.aval.dtype),
    access: "read_write",
    res: slotRes(c, v),
  }));
  const patch = (wgsl: string, bindings: Res[]) => {
    const decls: Decl[] = [];
    let step = false;
    const seen = new Set<string>();
    const add = (ds: Decl[]) => ds.forEach((d) => !seen.has(d.name) && seen.add(d.name) && decls.push(d));
    if (wgsl.includes("fn loadA(")) {
      add(leafDecls(c, A.k, ["a"]));
      step ||= A.k.usesStep;
    }
    if (wgsl.includes("fn loadB(")) {
      add(leafDecls(c, Bo.k, ["b"]));
      step ||= Bo.k.usesStep;
    }
    if (wgsl.includes("fn storeC(")) {
      add([...leafDecls(c, kc), ...extraOuts]);
      step ||= kc.usesStep;
    }
    const d = declare(decls, step, bindings.length);
    return { wgsl: `${d.text}\n${h}\n${wgsl}`, bindings: [...bindings, ...d.res] };
  };
  return mapPlan(
    c,
    plan,
    [slotRes(c, A.leaf), slotRes(c, Bo.leaf)],
    [slotRes(c, grp.outs[0])],
    "dot_general",
    true,
    patch,
  );
}
