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
import { paramsOf } from "../../core/primitive.ts";
import { conv_general_dilated_p } from "../../core/prims/conv.ts";
import { LHS_VIEW, OUT_SWAP01, RHS_VIEW, viewOperand, viewShape } from "./conv_fold.ts";
import { swapStore } from "../kernels/conv_store.ts";
import { dot_general_p } from "../../core/prims/linalg.ts";
import { convPlan } from "../kernels/conv.ts";
import { Helpers, inp, out, storageType, u } from "../kernels/common.ts";
import { gemmPlan } from "../kernels/gemm.ts";
import { type Idx, KernelCtx, Scope, type ValueInfo } from "./expr.ts";
import type { Group } from "./fusion.ts";
import type { GEqn, GVal } from "./graph.ts";
import {
  bindOutputs,
  type CodegenCtx,
  type Decl,
  declare,
  groupInfo,
  leafDecls,
  mapPlan,
  outIndex,
  slotRes,
} from "./kernels.ts";
import type { Op, Res } from "./program.ts";

const _prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * The first buffer of the operand's storage type that an expression reads (depth first), or
 * null: the GEMM templates bind it themselves, typed as the operand.
 */
export function mainLeaf(v: GVal, info: ValueInfo): GVal | null {
  const want = storageType(v.aval.dtype);
  const seen = new Set<GVal>();
  const visit = (x: GVal): GVal | null => {
    if (seen.has(x)) return null;
    seen.add(x);
    if (info.isLeaf(x)) return storageType(x.aval.dtype) === want ? x : null;
    for (const y of info.producer(x)?.inputs ?? []) {
      const l = visit(y);
      if (l) return l;
    }
    return null;
  };
  return visit(v);
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
  /** Laid out as `[batch, cols, rows]` row-major (transposed). */
  readonly denseT: boolean;
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
  const leaf = mainLeaf(v, info);
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
  const [b, g1, g2] = dims;
  return { fn, k, leaf, dense: _dense(v, info, dims), denseT: _dense(v, info, [b, g2, g1]) };
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
  const { contracting: [lc, rc], batch: [lb, rb] } = paramsOf(dot_general_p, e.params);
  const free = (n: number, used: number[]) => [...Array(n).keys()].filter((d) => !used.includes(d));
  const lf = free(lhs.aval.ndim, [...lc, ...lb]), rf = free(rhs.aval.ndim, [...rc, ...rb]);
  const B = _prod(lb.map((d) => lhs.aval.shape[d]));
  const M = _prod(lf.map((d) => lhs.aval.shape[d]));
  const N = _prod(rf.map((d) => rhs.aval.shape[d]));
  const K = _prod(lc.map((d) => lhs.aval.shape[d]));
  const h = new Helpers();
  const A = _operand(c, grp, h, lhs, "a", "loadA", [lb, lf, lc], ["bi", "m", "k"]);
  const Bo = _operand(c, grp, h, rhs, "b", "loadB", [rb, rc, rf], ["bi", "k", "n"]);
  const t = storageType(e.outputs[0].aval.dtype);
  const epi = _epilogue(c, grp, h);
  const storeC = `fn storeC(bi: u32, m: u32, n: u32, v: ${t}) {
  let lin = (bi * ${u(M)} + m) * ${u(N)} + n;
  ${epi.lines.join("\n  ")}
}`;
  // leaves read along their last dim at the columns (a bias) as vec4 loads, or elementwise
  // where such a leaf is also read otherwise (one binding per leaf)
  const epi4 = N % 4 === 0 ? _epilogue(c, grp, h, true, N) ?? _epilogue(c, grp, h, true, 0) : null;
  // per-column vec4s (a bias) the template loads once per column group: a struct argument
  const cols = epi4?.cols ?? [];
  const colC4 = cols.length
    ? `struct ColC4 { ${cols.map((x, j) => `c${j}: ${x.type},`).join(" ")} }
fn colC4(n: u32) -> ColC4 {
  return ColC4(${cols.map((x) => x.read).join(", ")});
}`
    : undefined;
  const storeC4 = epi4 &&
    `${colC4 ? `${colC4}\n` : ""}fn storeC4(bi: u32, m: u32, n: u32, v: vec4<${t}>${
      colC4 ? ", cs: ColC4" : ""
    }) {
  let lin = (bi * ${u(M)} + m) * ${u(N)} + n;
  let q = lin / 4u;
  let l1 = lin + 1u;
  let l2 = lin + 2u;
  let l3 = lin + 3u;
  ${epi4.lines.join("\n  ")}
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
    storeC4: storeC4 ?? undefined,
    colC4: colC4 !== undefined,
    refs: [inp(0), inp(1), out(0)],
    aDense: A.dense,
    bDense: Bo.dense,
    aDenseT: A.denseT,
    bDenseT: Bo.denseT,
  }, c.gemm);
  const patch = _patcher(
    c,
    h,
    [
      ["fn loadA(", A.k, ["a"]],
      ["fn loadB(", Bo.k, ["b"]],
    ],
    epi,
    epi4,
  );
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

interface _Epilogue {
  /** The statements computing and storing every result at `lin`, the product being `v`. */
  readonly lines: readonly string[];
  /** The context of those statements (their leaves). */
  readonly k: KernelCtx;
  /** The results after the first (which the templates bind as `o`). */
  readonly extraOuts: readonly Decl[];
  /** Per-column vec4 reads (`storeC4` reads them as `cs.c<j>`), of type `type`. */
  readonly cols?: readonly { readonly read: string; readonly type: string }[];
}

const _LANES = ["lin", "l1", "l2", "l3"];

/**
 * Every result of a GEMM-shaped group at the accumulator's index `lin`, the product being `v`;
 * with `vec`, on four consecutive columns (`storeC4`: `v` is a vec4, outputs are bound as vec4
 * arrays; with `N` (the GEMM's, else 0), leaves read along their last dim at the columns are
 * read as vec4s too, and those read at the column `n` alone, a bias, are `cols`), or null
 * where that cannot be (a stacked output, a leaf read both as vec4s and elsewhere).
 */
function _epilogue(c: CodegenCtx, grp: Group, h: Helpers, vec: true, N: number): _Epilogue | null;
function _epilogue(c: CodegenCtx, grp: Group, h: Helpers): _Epilogue;
function _epilogue(c: CodegenCtx, grp: Group, h: Helpers, vec = false, N = 0): _Epilogue | null {
  if (vec && grp.outs.some((v) => c.plan.stepped.has(v))) return null;
  const k = new KernelCtx(groupInfo(c, grp), h);
  const cols: { val: GVal; read: string; type: string }[] = [];
  const colRead = (v: GVal) => {
    let j = cols.findIndex((x) => x.val === v);
    if (j < 0) {
      const r = k.leafReadAligned(v, "n", 0);
      j = cols.push({ val: v, read: r.vec, type: `vec4<${storageType(v.aval.dtype)}>` }) - 1;
    }
    return `cs.c${j}`;
  };
  if (vec) {
    k.vec = {
      q: "q",
      lanes: new Map(_LANES.map((l, j) => [l, j])),
      aligned: N > 0,
      cols: N > 0 ? { size: N, n: "n", read: colRead } : undefined,
    };
  }
  const names = grp.outs.map((_, j) => (j === 0 ? "o" : `w${j}`));
  bindOutputs(c, grp, k, names);
  k.aliasReadable = true;
  k.known.set(grp.root!.outputs[0], "v");
  k.canonical = "lin";
  const s = new Scope(k);
  const type = (v: GVal) => vec ? `vec4<${storageType(v.aval.dtype)}>` : storageType(v.aval.dtype);
  const stores = grp.outs.map((v, j) => {
    if (!vec) {
      return `${names[j]}[${outIndex(c, k, v, "lin")}] = ${
        s.gen(v, { shape: v.aval.shape, lin: "lin" })
      };`;
    }
    const lanes = _LANES.map((lin) => s.gen(v, { shape: v.aval.shape, lin }));
    return `${names[j]}[q] = ${type(v)}(${lanes.join(", ")});`;
  });
  if (k.mixedLeaves) return null;
  const extraOuts: Decl[] = grp.outs.slice(1).map((v, j) => ({
    name: names[j + 1],
    type: type(v),
    access: "read_write",
    res: slotRes(c, v),
  }));
  return { lines: [...s.lines, ...stores], k, extraOuts, cols };
}

/**
 * Adds to each kernel of a template's plan the bindings its functions need beyond the
 * template's own: the further leaves of each operand function present, and the epilogue's
 * leaves and results where `storeC` is; then the helper functions.
 */
function _patcher(
  c: CodegenCtx,
  h: Helpers,
  operands: readonly (readonly [string, KernelCtx, string[]])[],
  epi: _Epilogue,
  epi4: _Epilogue | null = null,
): (wgsl: string, bindings: Res[]) => { wgsl: string; bindings: Res[] } {
  return (wgsl, bindings) => {
    const decls: Decl[] = [];
    let step = false;
    const seen = new Set<string>();
    const add = (ds: readonly Decl[]) => {
      for (const d of ds) {
        if (!seen.has(d.name)) {
          seen.add(d.name);
          decls.push(d);
        }
      }
    };
    for (const [marker, k, skip] of operands) {
      if (!wgsl.includes(marker)) continue;
      add(leafDecls(c, k, skip));
      step ||= k.usesStep;
    }
    if (wgsl.includes("fn storeC(")) {
      add([...leafDecls(c, epi.k), ...epi.extraOuts]);
      step ||= epi.k.usesStep;
    }
    if (epi4 && wgsl.includes("fn storeC4(")) {
      add([...leafDecls(c, epi4.k), ...epi4.extraOuts]);
      step ||= epi4.k.usesStep;
    }
    // a kernel without the template's functions (a packing) stays as it is, without the
    // helpers: the same packing in convolutions with different epilogues is one pipeline
    const uses = operands.some(([marker]) => wgsl.includes(marker)) ||
      wgsl.includes("fn storeC(") || (epi4 !== null && wgsl.includes("fn storeC4("));
    if (!uses) return { wgsl, bindings };
    const d = declare(decls, step, bindings.length);
    return { wgsl: `${d.text}\n${h}\n${wgsl}`, bindings: [...bindings, ...d.res] };
  };
}

/**
 * Whether {@link lowerConv} can lower the convolution with a fused epilogue: every
 * convolution the eager lowering accepts (not bool) stores through `storeC`, whose statements
 * it takes as a parameter.
 *
 * @param e A `conv_general_dilated` equation.
 * @param _gemm GEMM capabilities (unused: every GEMM form takes the epilogue).
 * @returns True when {@link lowerConv} can fuse an epilogue.
 */
export function convFusible(e: GEqn, _gemm: CodegenCtx["gemm"]): boolean {
  return e.inputs[0].aval.dtype !== "bool";
}

/**
 * The operations of a convolution group: the eager implicit GEMM built with the epilogue
 * (bias, activation …) as its `storeC`.
 *
 * @param c The code generation context.
 * @param grp A group of kind "conv".
 * @returns Its operations.
 */
export function lowerConv(c: CodegenCtx, grp: Group): Op[] {
  const e = grp.root!;
  const h = new Helpers();
  const epi = _epilogue(c, grp, h);
  const [x, w] = e.inputs.map((v) => v.aval);
  // folded glue (conv_fold.ts): a kernel gradient stores transposed, the epilogue at its index;
  // gradients read transposed operands through views of the values they bind
  const swapped = e.params[OUT_SWAP01] ? e.outputs[0].aval.shape : null;
  const views = [e.params[LHS_VIEW], e.params[RHS_VIEW]] as (string | undefined)[];
  const [xShape, kShape] = [x, w].map((a, j) => (views[j] ? viewShape(a.shape) : a.shape));
  const patch0 = _patcher(c, h, [], epi);
  const patch = views.some((v) => v)
    ? (wgsl: string, b: Res[]) => {
      let r = { wgsl, bindings: b };
      views.forEach((v, j) => {
        const s = [xShape, kShape][j];
        if (v) r = viewOperand(r.wgsl, r.bindings, slotRes(c, e.inputs[j]), v, s);
      });
      return patch0(r.wgsl, r.bindings);
    }
    : patch0;
  const plan = convPlan(
    x.dtype,
    xShape,
    kShape,
    paramsOf(conv_general_dilated_p, e.params),
    c.gemm,
    swapped ? swapStore(swapped, epi.lines) : epi.lines,
  );
  if (
    views.some((v) => v) && plan.steps.some((s) => s.kind !== "dispatch" && s.src.kind === "in")
  ) {
    throw new Error("internal: a convolution with an operand view copies an operand unread");
  }
  return mapPlan(
    c,
    plan,
    e.inputs.map((v) => slotRes(c, v)),
    [slotRes(c, grp.outs[0])],
    e.prim,
    true,
    patch,
  );
}
