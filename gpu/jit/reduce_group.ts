/**
 * Code generation for the reduction groups of a fused program: one kernel reads the operands
 * through their fused expressions (prologue), folds them into one accumulator per reduction
 * (a group computes its root and any sibling reductions of the same primitive, operand shape
 * and axes: `core/jit_fusion.ts`), and applies the elementwise consumers merged into the group
 * to the results (epilogue).
 *
 * Each reduction is folded in the same order, with the same compensation, whether it runs
 * alone or beside siblings: the loops and the partial sums are the same, so a group's results
 * are bit-identical to separate kernels'.
 *
 * - Up to 512 reduced elements (4096 with many outputs): one invocation per output loops over
 *   its elements.
 * - Otherwise a workgroup per output and chunk of 16K elements (at most 256 chunks) reduces a
 *   strided share per invocation, then a tree in workgroup memory; with several chunks a
 *   second kernel folds each output's partials in order and applies the epilogue.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import type { JitEqn } from "../../core/jit_graph.ts";
import { paramsOf } from "../../core/primitive.ts";
import { reduce_sum_p } from "../../core/prims/reduce.ts";
import type { ReducePrim } from "../../core/prims/names.ts";
import { foldGrid, storageType, u } from "../kernels/common.ts";
import {
  accumulate,
  accumulated,
  accumulator,
  combineExpr,
  type Monoid,
  monoidOf,
} from "../kernels/reduce.ts";
import { type Idx, KernelCtx, Scope } from "./expr.ts";
import type { Group } from "./fusion.ts";
import {
  bindOutputs,
  type CodegenCtx,
  type Decl,
  declare,
  genericOp,
  groupInfo,
  groupLabel,
  leafDecls,
  outDecls,
  outIndex,
  seqKernel,
} from "./kernels.ts";
import type { Op } from "./program.ts";

const _WG = 256;
const _SEQ_MAX = 512;
const _CHUNK = _WG * 64;
/** Many outputs reduce one invocation each up to this many elements (llvmpipe loop limit). */
const _SEQ_LOOP_MAX = 4096;

interface _Reduce {
  readonly c: CodegenCtx;
  readonly grp: Group;
  readonly k: KernelCtx;
  /** The reductions: the root, then its siblings. */
  readonly roots: readonly JitEqn[];
  /** The accumulator suffix of each reduction ("" for the root, as in a lone reduction). */
  readonly sfx: readonly string[];
  readonly m: Monoid;
  readonly dtype: DType;
  readonly outShape: readonly number[];
  readonly redShape: readonly number[];
  readonly axes: readonly number[];
}

/** Lines declaring every accumulator. */
function _accs(r: _Reduce, k: KernelCtx): string[] {
  return r.sfx.map((j) => accumulator(r.m, r.dtype, k.helpers, j));
}

/** Lines of the loop body: `acc<j> = combine(acc<j>, operand j at (kept o, reduced rv))`. */
function _prologue(r: _Reduce, outer: Scope, o: string, rv: string): string[] {
  r.k.aliasReadable = false;
  const kd = outer.dims({ shape: r.outShape, lin: o });
  const inner = new Scope(r.k);
  const rd = inner.dims({ shape: r.redShape, lin: rv });
  const acc = r.roots.map((e, j) => {
    const x = e.inputs[0];
    let ki = 0, ri = 0;
    const dims = x.aval.shape.map((_, d) => (r.axes.includes(d) ? rd[ri++] : kd[ki++]));
    const val = inner.gen(x, { shape: x.aval.shape, dims } as Idx);
    return accumulate(r.m, r.dtype, val, r.k.helpers, r.sfx[j]);
  });
  return [...inner.lines, ...acc];
}

/** Lines storing every output of the group at output index `o`, reduction j being `res[j]`. */
function _epilogue(r: _Reduce, k: KernelCtx, o: string, res: string[], names: string[]): string[] {
  k.aliasReadable = true;
  r.roots.forEach((e, j) => k.known.set(e.outputs[0], res[j]));
  k.canonical = o;
  const s = new Scope(k);
  const stores = r.grp.outs.map((v, j) =>
    `${names[j]}[${outIndex(r.c, k, v, o)}] = ${s.gen(v, { shape: v.aval.shape, lin: o })};`
  );
  return [...s.lines, ...stores];
}

/**
 * The operations of a group of kind "reduce" (see the module doc).
 *
 * @param c The code generation context.
 * @param grp The group.
 * @returns Its kernels.
 */
export function lowerReduce(c: CodegenCtx, grp: Group): Op[] {
  const e = grp.root!;
  const x = e.inputs[0];
  const roots = [e, ...(grp.siblings ?? [])];
  // the four reductions share ReduceParams: reduce_sum's description checks them all
  const axes = paramsOf(reduce_sum_p, e.params).axes;
  const r: _Reduce = {
    c,
    grp,
    k: new KernelCtx(groupInfo(c, grp)),
    roots,
    sfx: roots.map((_, j) => (j === 0 ? "" : String(j))),
    m: monoidOf(e.prim as ReducePrim),
    dtype: x.aval.dtype,
    outShape: e.outputs[0].aval.shape,
    redShape: x.aval.shape.filter((_, d) => axes.includes(d)),
    axes,
  };
  const R = r.redShape.reduce((a, b) => a * b, 1), outs = grp.size;
  const names = grp.outs.map((_, j) => `o${j}`);
  bindOutputs(c, grp, r.k, names);
  const t = storageType(r.dtype);
  const results = r.sfx.map((j) => accumulated(r.m, r.dtype, j));
  if (R <= _SEQ_MAX || (outs >= 4096 && R <= _SEQ_LOOP_MAX)) {
    const outer = new Scope(r.k);
    const loop = _prologue(r, outer, "o", "r");
    const epi = _epilogue(r, r.k, "o", results, names);
    const { text, res } = declare(
      [...leafDecls(c, r.k), ...outDecls(c, grp, names)],
      r.k.usesStep,
    );
    return [seqKernel(
      text,
      r.k,
      outs,
      [
        ...outer.lines,
        ..._accs(r, r.k),
        `for (var r = 0u; r < ${u(R)}; r = r + 1u) {\n    ${loop.join("\n    ")}\n  }`,
        ...epi,
      ],
      groupLabel(grp),
      res,
      "o",
      outs * R * roots.length,
    )];
  }
  const C = Math.min(Math.ceil(R / _CHUNK), 256);
  const chunk = Math.ceil(R / C);
  const grid = foldGrid(outs * C);
  const outer = new Scope(r.k);
  const loop = _prologue(r, outer, "o", "r");
  const parts: Decl[] = C === 1 ? [] : r.sfx.map((j) => ({
    name: `part${j}`,
    type: t,
    access: "read_write",
    res: { kind: "tmp", index: c.temps.push(outs * C * 4) - 1 },
  }));
  const sv = r.sfx.map((j) => `sv${j}`);
  const epi = C === 1 ? _epilogue(r, r.k, "o", r.sfx.map((j) => `res${j}`), names) : [];
  const decls = C === 1
    ? [...leafDecls(c, r.k), ...outDecls(c, grp, names)]
    : [...leafDecls(c, r.k), ...parts];
  const { text, res } = declare(decls, r.k.usesStep);
  const comb = (a: string, b: string) => combineExpr(r.m, r.dtype, a, b, r.k.helpers);
  const finish = C === 1
    ? [...r.sfx.map((j) => `let res${j} = sv${j}[0];`), ...epi]
    : parts.map((p, j) => `${p.name}[g] = ${sv[j]}[0];`);
  const wgsl = `${text}
${sv.map((s) => `var<workgroup> ${s}: array<${t}, ${_WG}>;`).join("\n")}
${r.k.helpers}
@compute @workgroup_size(${_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = ${grid.flatGroup};
  let o = g / ${u(C)};
  let c = g % ${u(C)};
  ${_accs(r, r.k).join("\n  ")}
  if (g < ${u(outs * C)}) {
    ${outer.lines.join("\n    ")}
    let end = min((c + 1u) * ${u(chunk)}, ${u(R)});
    for (var r = c * ${u(chunk)} + lid; r < end; r = r + ${u(_WG)}) {
      ${loop.join("\n      ")}
    }
  }
  ${sv.map((s, j) => `${s}[lid] = ${results[j]};`).join("\n  ")}
  workgroupBarrier();
  for (var s = ${u(_WG / 2)}; s > 0u; s = s >> 1u) {
    if (lid < s) { ${
    sv.map((s) => `${s}[lid] = ${comb(`${s}[lid]`, `${s}[lid + s]`)};`).join(" ")
  } }
    workgroupBarrier();
  }
  if (lid == 0u && g < ${u(outs * C)}) {
    ${finish.join("\n    ")}
  }
}
`;
  const first = genericOp({
    kind: "dispatch",
    wgsl,
    label: groupLabel(grp),
    grid: grid.dispatch,
    bindings: res,
    fused: true,
  }, x.aval.size * roots.length);
  if (C === 1) return [first];
  // Pass 2 reduces each output's C partials in order, then applies the epilogue.
  const k2 = new KernelCtx(groupInfo(c, grp));
  bindOutputs(c, grp, k2, names);
  const epi2 = _epilogue(r, k2, "o", results, names);
  const partIn = parts.map((p): Decl => ({ ...p, access: "read" }));
  const d2 = declare([...partIn, ...leafDecls(c, k2), ...outDecls(c, grp, names)], k2.usesStep);
  const fold = parts.map((p, j) =>
    `for (var q = 0u; q < ${u(C)}; q = q + 1u) { ${
      accumulate(r.m, r.dtype, `${p.name}[o * ${u(C)} + q]`, k2.helpers, r.sfx[j])
    } }`
  );
  return [
    first,
    seqKernel(
      d2.text,
      k2,
      outs,
      [..._accs(r, k2), ...fold, ...epi2],
      groupLabel(grp),
      d2.res,
      "o",
      outs * C * roots.length,
    ),
  ];
}
