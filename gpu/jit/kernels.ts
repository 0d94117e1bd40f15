/**
 * Code generation for the groups of a fused program: multi-output elementwise kernels and the
 * eager lowering of everything else with its buffers mapped to the program's slots, and the
 * helpers every generated kernel shares. Reductions are in `reduce_group.ts`, GEMMs in
 * `gemm_fused.ts`.
 *
 * @module
 */
import { type Lowering, LOWERINGS } from "../lowerings.ts";
import {
  type BufRef,
  ELEMENTWISE_WG,
  foldGrid,
  genericKernelsEnabled,
  genericPays,
  genericWork,
  hoistLiterals,
  type Plan,
  StagedLoads,
  stagingFor,
  storageType,
  type TextureSpec,
  u,
} from "../kernels/common.ts";
import type { GemmCaps } from "../kernels/gemm.ts";
import { activeProfile } from "../target.ts";
import { KernelCtx, Scope, type ValueInfo } from "./expr.ts";
import type { Fusion, Group } from "./fusion.ts";
import type { GVal } from "./graph.ts";
import type { BufferPlan } from "./plan.ts";
import type { DispatchOp, Op, Res } from "./program.ts";

/** What code generation needs: the fusion, the plan, and the program's temporaries. */
export interface CodegenCtx {
  /** The fusion. */
  readonly fusion: Fusion;
  /** The buffer plan. */
  readonly plan: BufferPlan;
  /** GEMM capabilities of the device. */
  readonly gemm: GemmCaps;
  /** Temporaries of the program (appended to). */
  readonly temps: number[];
  /** Textures of the program (appended to). */
  readonly textures: TextureSpec[];
}

/** The value facts of one group: its own results are computed, other buffers are leaves. */
export function groupInfo(c: CodegenCtx, grp: Group): ValueInfo {
  return {
    isLeaf: (v) => c.fusion.materialized.has(v) && !grp.computes.has(v),
    producer: (v) => c.fusion.producer.get(v),
  };
}

/** The resource of a value's slot. */
export function slotRes(c: CodegenCtx, v: GVal): Res {
  const slot = c.plan.slotOf.get(v);
  if (slot === undefined) throw new Error(`internal: no buffer planned for ${v.aval}`);
  return { kind: "slot", slot };
}

/** A storage binding of a generated kernel. */
export interface Decl {
  /** WGSL name. */
  readonly name: string;
  /** Element type. */
  readonly type: string;
  /** Access. */
  readonly access: "read" | "read_write";
  /** What it binds. */
  readonly res: Res;
}

/**
 * Declarations of storage bindings numbered from `first`, plus the step uniform when used.
 *
 * @returns WGSL text and the resources in binding order.
 */
export function declare(
  decls: readonly Decl[],
  usesStep: boolean,
  first = 0,
): { text: string; res: Res[] } {
  const lines = decls.map((d, k) =>
    `@group(0) @binding(${first + k}) var<storage, ${d.access}> ${d.name}: array<${d.type}>;`
  );
  const res = decls.map((d) => d.res);
  if (usesStep) {
    lines.push(`@group(0) @binding(${first + decls.length}) var<uniform> _step: vec4u;`);
    res.push({ kind: "step" });
  }
  return { text: lines.join("\n"), res };
}

/** The leaf bindings a kernel context collected. */
export function leafDecls(c: CodegenCtx, k: KernelCtx, skip: readonly string[] = []): Decl[] {
  return k.leaves.filter((l) => !skip.includes(l.name)).map((l) => ({
    name: l.name,
    type: l.vec ? `vec4<${storageType(l.val.aval.dtype)}>` : storageType(l.val.aval.dtype),
    access: "read" as const,
    res: slotRes(c, l.val),
  }));
}

/** The store index of output `v` at linear index `lin` (offset by the step when stacked). */
export function outIndex(c: CodegenCtx, k: KernelCtx, v: GVal, lin: string): string {
  const n = c.plan.stepped.get(v);
  if (n === undefined) return lin;
  k.usesStep = true;
  return `_step.x * ${u(n)} + ${lin}`;
}

/** Output names (`o0`, `o1`, …) and the aliases of in-place leaves to them. */
export function bindOutputs(c: CodegenCtx, grp: Group, k: KernelCtx, names: string[]): void {
  c.plan.aliases.get(grp)?.forEach((outV, leaf) => {
    k.aliases.set(leaf, names[grp.outs.indexOf(outV)]);
  });
}

/** The storage bindings of a group's outputs (`vec`: as vec4 arrays). */
export function outDecls(c: CodegenCtx, grp: Group, names: readonly string[], vec = false): Decl[] {
  return grp.outs.map((v, j) => ({
    name: names[j],
    type: vec ? `vec4<${storageType(v.aval.dtype)}>` : storageType(v.aval.dtype),
    access: "read_write" as const,
    res: slotRes(c, v),
  }));
}

/**
 * The primitives a group computes, operands first (for the printed plan).
 *
 * @param c The code generation context.
 * @param grp The group.
 * @returns Comma-separated primitive names.
 */
export function groupNote(c: CodegenCtx, grp: Group): string {
  const info = groupInfo(c, grp);
  const seen = new Set<GVal>();
  const names: string[] = [];
  const visit = (v: GVal) => {
    if (seen.has(v) || info.isLeaf(v)) return;
    seen.add(v);
    const e = info.producer(v);
    if (!e) return;
    e.inputs.forEach(visit);
    names.push(e.prim);
  };
  grp.root?.inputs.forEach(visit);
  grp.siblings?.forEach((e) => e.inputs.forEach(visit));
  grp.outs.forEach(visit);
  return names.join(",");
}

/** A group's label in profiles: its root primitive, or the avals it writes. */
export const groupLabel = (grp: Group): string =>
  grp.root ? grp.root.prim : `fused(${grp.outs.map((v) => String(v.aval)).join(", ")})`;

function _ew(c: CodegenCtx, grp: Group): Op[] {
  // small kernels take one element per invocation: a quarter of the code to compile, and
  // their sizes can come from a uniform (`share.ts`); four lanes pay only in running time
  const vec = !genericWork(grp.size) && activeProfile().fourLane && grp.size % 4 === 0 &&
    grp.outs.every((v) => !c.plan.stepped.has(v));
  return (vec ? _ewVec4(c, grp) : null) ?? [_ewScalar(c, grp)];
}

const _LANES = ["i0", "i1", "i2", "i3"];
const _MAX_STAGED = 8;

/**
 * Four consecutive elements per invocation, outputs (and the leaves read at the same index)
 * bound as vec4 arrays; null when a leaf would need both a vec4 and a scalar binding.
 */
function _ewVec4(c: CodegenCtx, grp: Group): Op[] | null {
  const k = new KernelCtx(groupInfo(c, grp));
  // On CPU adapters a storage read costs several times a texture read plus the copy into the
  // texture (llvmpipe: 1.4 ms to copy 4 MB, then 5 ms for the W2 kernel against 9 ms), so
  // large leaves read at the lanes are copied into textures first.
  const copies: Op[] = [], texDecls: string[] = [], texRes: Res[] = [];
  const staged = new Map<GVal, string>();
  const coords = new StagedLoads("q");
  const specs: TextureSpec[] = [];
  const texRead = (v: GVal): string | undefined => {
    const hit = staged.get(v);
    if (hit !== undefined) return hit;
    // WebGPU guarantees 16 sampled textures per stage; the rest stay storage reads
    if (staged.size >= _MAX_STAGED) return undefined;
    const staging = stagingFor(v.aval.size / 4, v.aval.dtype, c.gemm);
    if (!staging) return undefined;
    // indices follow the program's textures; the specs join them if the kernel is kept
    const index = c.textures.length + specs.push(staging.spec) - 1;
    copies.push({
      kind: "toTexture",
      src: slotRes(c, v),
      tex: index,
      bytesPerRow: staging.bytesPerRow,
    });
    const name = `tx${staged.size}`;
    texDecls.push(`var ${name}: ${staging.wgslType};`);
    texRes.push({ kind: "tex", index });
    const expr = coords.load(staging, name, k.helpers);
    staged.set(v, expr);
    return expr;
  };
  k.vec = { q: "q", lanes: new Map(_LANES.map((l, j) => [l, j])), texRead };
  const names = grp.outs.map((_, j) => `o${j}`);
  bindOutputs(c, grp, k, names);
  k.aliasReadable = true;
  const s = new Scope(k);
  const stores = grp.outs.map((v, j) => {
    const lanes = _LANES.map((lin) => s.gen(v, { shape: v.aval.shape, lin }));
    return `${names[j]}[q] = vec4<${storageType(v.aval.dtype)}>(${lanes.join(", ")});`;
  });
  if (k.mixedLeaves) return null;
  c.textures.push(...specs);
  const d = declare([...leafDecls(c, k), ...outDecls(c, grp, names, true)], k.usesStep);
  const text = [
    d.text,
    ...texDecls.map((t, j) => `@group(0) @binding(${d.res.length + j}) ${t}`),
  ].join("\n");
  const res = [...d.res, ...texRes];
  const lanes = _LANES.map((l, j) => `let ${l} = ${j === 0 ? "q * 4u" : `i0 + ${j}u`};`);
  const kernel = seqKernel(
    text,
    k,
    grp.size / 4,
    [...lanes, ...coords.lets, ...s.lines, ...stores],
    groupLabel(grp),
    res,
    "q",
    grp.size,
  );
  return [...copies, kernel];
}

function _ewScalar(c: CodegenCtx, grp: Group): DispatchOp {
  const k = new KernelCtx(groupInfo(c, grp));
  const names = grp.outs.map((_, j) => `o${j}`);
  bindOutputs(c, grp, k, names);
  k.aliasReadable = true;
  const s = new Scope(k);
  const stores = grp.outs.map((v, j) =>
    `${names[j]}[${outIndex(c, k, v, "i")}] = ${s.gen(v, { shape: v.aval.shape, lin: "i" })};`
  );
  const { text, res } = declare([...leafDecls(c, k), ...outDecls(c, grp, names)], k.usesStep);
  return seqKernel(text, k, grp.size, [...s.lines, ...stores], groupLabel(grp), res, "i", grp.size);
}

/** A kernel of one invocation per index `index` < `outs`, running `body`. */
export function seqKernel(
  decls: string,
  k: KernelCtx,
  outs: number,
  body: string[],
  label: string,
  res: Res[],
  index = "o",
  work = outs,
): DispatchOp {
  const wg = ELEMENTWISE_WG;
  const grid = foldGrid(Math.ceil(outs / wg));
  const wgsl = `${decls}
${k.helpers}
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ${index} = ${grid.flatGroup} * ${u(wg)} + lid;
  if (${index} >= ${u(outs)}) { return; }
  ${body.join("\n  ")}
}
`;
  return genericOp({
    kind: "dispatch",
    wgsl,
    label,
    grid: grid.dispatch,
    bindings: res,
    fused: true,
  }, work);
}

/**
 * The shape-generic form of a generated kernel: the size literals of its `main` read from a
 * `_P` uniform bound last (see `genericKernel` in `kernels/common.ts`), so that the groups of
 * layers that differ only in shape share one pipeline.
 */
export function genericOp(op: DispatchOp, work: number): DispatchOp {
  if (!genericKernelsEnabled() || !genericPays(op.wgsl, work)) return op;
  const { wgsl, params } = hoistLiterals(op.wgsl, op.bindings.length);
  if (!params.length) return op;
  return { ...op, wgsl, bindings: [...op.bindings, { kind: "params", words: params }] };
}

/**
 * Maps the buffer refs of an eager lowering's plan onto the program: `in`/`out` refs to the
 * slots of the equation's operands/results, `tmp` and `tex` refs to new program temporaries.
 */
export function mapPlan(
  c: CodegenCtx,
  plan: Plan,
  ins: readonly Res[],
  outs: readonly Res[],
  label: string,
  fused: boolean,
  extra?: (wgsl: string, bindings: Res[]) => { wgsl: string; bindings: Res[] },
): Op[] {
  const tmp0 = c.temps.length, tex0 = c.textures.length;
  c.temps.push(...plan.temps);
  c.textures.push(...(plan.textures ?? []));
  const map = (r: BufRef | { kind: "tex"; index: number }): Res =>
    r.kind === "in"
      ? ins[r.index]
      : r.kind === "out"
      ? outs[r.index]
      : r.kind === "tmp"
      ? { kind: "tmp", index: tmp0 + r.index }
      : { kind: "tex", index: tex0 + r.index };
  return plan.steps.map((s): Op => {
    if (s.kind === "copy") {
      return {
        kind: "copy",
        src: map(s.src),
        dst: map(s.dst),
        bytes: s.bytes,
        srcStep: 0,
        dstStep: 0,
      };
    }
    if (s.kind === "toTexture") {
      return {
        kind: "toTexture",
        src: map(s.src),
        tex: tex0 + s.dst.index,
        bytesPerRow: s.bytesPerRow,
      };
    }
    let wgsl = s.kernel.wgsl, bindings = s.kernel.bindings.map(map);
    if (s.kernel.params) bindings.push({ kind: "params", words: s.kernel.params });
    if (extra) ({ wgsl, bindings } = extra(wgsl, bindings));
    return { kind: "dispatch", wgsl, label, grid: s.kernel.dispatch, bindings, fused };
  });
}

function _opaque(c: CodegenCtx, grp: Group): Op[] {
  const e = grp.root!;
  const lower = (LOWERINGS as Record<string, Lowering>)[e.prim];
  const plan = lower({
    ins: e.inputs.map((v) => v.aval),
    outs: e.outputs.map((v) => v.aval),
    params: e.params,
    gemm: c.gemm,
  });
  return mapPlan(
    c,
    plan,
    e.inputs.map((v) => slotRes(c, v)),
    e.outputs.map((v) => slotRes(c, v)),
    e.prim,
    false,
  );
}

/**
 * The operations of a group of kind "ew" or "opaque" (reductions, dot, scan and core are
 * lowered by their own modules).
 *
 * @param c The code generation context.
 * @param grp The group.
 * @returns Its operations.
 */
export function lowerGroup(c: CodegenCtx, grp: Group): Op[] {
  switch (grp.kind) {
    case "ew":
      return _ew(c, grp);
    case "opaque":
      return _opaque(c, grp);
    default:
      throw new Error(`internal: lowerGroup cannot lower ${grp.kind}`);
  }
}

/**
 * A WGSL source with its leaf names (`x<value id>`, `x<id>v`) renumbered in order of first
 * appearance: the ids differ between the layers of a network, the kernels need not. The
 * renaming is one-to-one over every token of that form, so the source means the same.
 *
 * @param wgsl The source.
 * @returns The source with canonical leaf names.
 */
export function canonicalNames(wgsl: string): string {
  const names = new Map<string, string>();
  return wgsl.replace(/\bx\d+(v?)\b/g, (tok: string, v: string) => {
    let n = names.get(tok);
    if (n === undefined) names.set(tok, n = `x${names.size}${v}`);
    return n;
  });
}
