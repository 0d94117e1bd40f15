/**
 * Graph → program: the convolution glue folded (`conv_fold.ts`), fusion, buffer planning and
 * code generation, recursively for scan bodies.
 *
 * @module
 */
import type { GemmCaps } from "../kernels/gemm.ts";
import { fuse, type Group } from "./fusion.ts";
import { foldConvGlue } from "./conv_fold.ts";
import { convFusible, lowerConv, lowerDot } from "./gemm_fused.ts";
import type { Graph, GVal } from "./graph.ts";
import { type HalfIo, halfValues } from "./half_io.ts";
import { ShapedArray } from "../../core/aval.ts";
import { groupReads } from "../../core/jit_fusion.ts";
import { canonicalNames, type CodegenCtx, groupNote, lowerGroup } from "./kernels.ts";
import { lowerReduce } from "./reduce_group.ts";
import { planBuffers } from "./plan.ts";
import type { Op, Program } from "./program.ts";

/** Options of {@link compileGraph}. */
export interface CompileOptions {
  /** GEMM capabilities of the device. */
  readonly gemm: GemmCaps;
  /** Storage buffers one kernel may bind. */
  readonly maxBindings: number;
  /** Donated inputs (top level). */
  readonly donated?: readonly boolean[];
  /** Elements per step of stacked outputs (scan bodies; 0 for carries). */
  readonly steppedOutputs?: readonly number[];
  /** The f16 inputs and results, with f16 storage: f16 values are then 2 bytes (`half_io.ts`). */
  readonly f16?: HalfIo;
}

/**
 * Compiles a graph into a program.
 *
 * @param g The graph.
 * @param o Options.
 * @returns The program.
 */
export function compileGraph(g0: Graph, o: CompileOptions): Program {
  const g = foldConvGlue(g0, (e) => convFusible(e, o.gemm));
  const f = fuse(g, {
    maxBindings: o.maxBindings,
    convFusible: (e) => convFusible(e, o.gemm),
    dotPrologueCost: o.gemm?.textures ? 0 : undefined,
    storeRoundings: o.f16 !== undefined,
  });
  const plan = planBuffers(g, f, { donated: o.donated, steppedOutputs: o.steppedOutputs });
  const c: CodegenCtx = { fusion: f, plan, gemm: o.gemm, temps: [], textures: [] };
  const slot = (v: (typeof g.inputs)[number]) => plan.slotOf.get(v)!;
  let ops: Op[] = [];
  const noted = (grp: Group, xs: Op[]) => {
    const note = groupNote(c, grp);
    return xs.map((op) => (op.kind === "dispatch" && op.fused ? { ...op, note } : op));
  };
  // the value each slot an operation touches holds then (for the f16 pass)
  const vals = new Map<Op, Map<number, GVal>>();
  for (const grp of plan.order) {
    const e = grp.root;
    const first = ops.length;
    switch (grp.kind) {
      case "ew":
        ops.push(...noted(grp, lowerGroup(c, grp)));
        break;
      case "reduce":
        ops.push(...noted(grp, lowerReduce(c, grp)));
        break;
      case "opaque":
        ops.push(...lowerGroup(c, grp));
        break;
      case "dot":
        ops.push(...noted(grp, lowerDot(c, grp)));
        break;
      case "conv":
        ops.push(...noted(grp, lowerConv(c, grp)));
        break;
      case "scan": {
        const p = e!.params;
        const ncar = p.numCarry as number;
        const body = compileGraph(e!.body!, {
          gemm: o.gemm,
          maxBindings: o.maxBindings,
          steppedOutputs: e!.body!.outputs.map((v, k) => (k < ncar ? 0 : v.aval.size)),
        });
        ops.push({
          kind: "scan",
          body,
          length: p.length as number,
          reverse: !!p.reverse,
          numConsts: p.numConsts as number,
          numCarry: ncar,
          ins: e!.inputs.map(slot),
          outs: e!.outputs.map(slot),
          carryBytes: e!.outputs.slice(0, ncar).map((v) => v.aval.size * 4),
        });
        break;
      }
      case "core":
        ops.push({
          kind: "core",
          prim: e!.corePrim!,
          params: e!.params,
          ins: e!.inputs.map(slot),
          inAvals: e!.inputs.map((v) => v.aval),
          outs: e!.outputs.map(slot),
        });
        break;
      default:
        throw new Error(`internal: unknown group kind ${grp.kind satisfies never}`);
    }
    if (o.f16) {
      const m = new Map<number, GVal>();
      const touched = grp.kind === "scan" || grp.kind === "core"
        ? [...e!.inputs, ...e!.outputs]
        : [...groupReads(f, grp).keys(), ...grp.outs];
      for (const v of touched) if (plan.slotOf.has(v)) m.set(plan.slotOf.get(v)!, v);
      for (const op of ops.slice(first)) vals.set(op, m);
    }
  }
  let inAvals = g.inputs.map((v) => v.aval), outAvals = g.outputs.map((v) => v.aval);
  let slots = plan.slots;
  if (o.f16) {
    const h = halfValues(g, plan, ops, vals, o.f16);
    const half = (a: ShapedArray) => new ShapedArray(a.shape, "f16");
    ({ ops, slots } = h);
    inAvals = inAvals.map((a, i) => (h.ins[i] ? half(a) : a));
    outAvals = outAvals.map((a, k) => (h.outs[k] ? half(a) : a));
  }
  if (o.steppedOutputs) {
    for (const cp of plan.copies) {
      ops.push({
        kind: "copy",
        src: { kind: "slot", slot: cp.src },
        dst: { kind: "slot", slot: cp.dst },
        bytes: cp.bytes,
        srcStep: cp.srcStep,
        dstStep: cp.dstStep,
      });
    }
  }
  return {
    // leaf names by order, not value id: layers of one structure share their kernels
    ops: ops.map((op) => (op.kind === "dispatch" ? { ...op, wgsl: canonicalNames(op.wgsl) } : op)),
    slots,
    plan,
    outValSlots: g.outputs.map(slot),
    temps: c.temps,
    textures: c.textures,
    inAvals,
    outAvals,
  };
}
