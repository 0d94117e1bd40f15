/**
 * The native jit's planner: a jaxpr becomes the shared flat graph (`core/jit_graph.ts`, calls
 * inlined), and the shared fusion (`core/jit_fusion.ts`, the WebGPU jit's decisions) groups
 * it into steps — fused loops (elementwise chains with their broadcasts, reshapes and
 * transposes; reductions with their fused producers), GEMM/convolution calls, and the other
 * primitives one by one — with a buffer for every value a step writes.
 *
 * The native policy ({@link NATIVE_POLICY}) says what the CPU needs and the GPU does not: no
 * binding limits; no GEMM prologue (BLAS reads plain arrays), so every operand of a step that
 * is not a fused loop or a reduction is a buffer; epilogues only between elementwise loops
 * (the reduction loops and BLAS calls take none here; `jit_steps.ts` fuses an optimizer's
 * `w ± s·product` into the GEMM itself); loops are shaped, so an epilogue must have the same
 * shape; a literal is recomputed by every reader; and only the primitives and dtypes the
 * generated loops have code for are fused ({@link fusible}). A value that a loop cannot index
 * affinely (a reshape that merges dimensions of a computed value) gets a buffer too (the
 * planner in `jit_steps.ts` calls {@link planFusion} again with it among the `forced` values).
 *
 * @module
 */
import { ShapedArray } from "../core/aval.ts";
import type { Jaxpr } from "../core/jaxpr.ts";
import {
  type Fusion as SharedFusion,
  type FusionPolicy,
  type Group as SharedGroup,
  groupReads as sharedGroupReads,
  planFusion as sharedPlanFusion,
} from "../core/jit_fusion.ts";
import {
  flattenJaxpr as flatten,
  type FlatVal,
  type JitEqn,
  type JitGraph,
} from "../core/jit_graph.ts";
import { COMPARISON_PRIMS, UNARY_PRIMS } from "../core/prims/names.ts";

/** A value of the graph. */
export type NVal = FlatVal;

/** One equation of the flat graph (`primitive` is set on every equation but literals). */
export type NEqn = JitEqn;

/** A flat program. */
export type NGraph = JitGraph;

/**
 * Flattens a jaxpr for the native jit (`core/jit_graph.ts`'s `flattenJaxpr`): constvars
 * become leading inputs, calls are inlined, 0-d inputs with a known host value become
 * literals, dead equations are dropped, and `transpose(dot_general(a, b))` that swaps the
 * free blocks becomes `dot_general(b, a)`; every other primitive (`cond` and `scan` included)
 * stays an equation, and values are numbered from 0.
 *
 * @param j the jaxpr
 * @param literals host values of 0-d inputs (undefined: read from the array)
 * @returns the graph
 */
export function flattenJaxpr(j: Jaxpr, literals?: readonly (number | undefined)[]): NGraph {
  let next = 0;
  return flatten(j, literals, { newVal: (aval) => ({ id: next++, aval }) });
}

/** The dtypes a fused loop computes in. */
const _LOOP_DTYPES = new Set(["f32", "bool"]);

// every unary f32 primitive but those the generated loops have no code for (round, erf, erf_inv:
// they run through the backend's execute) and `not` (bool/int only)
const _UNARY_F32 = new Set<string>(
  UNARY_PRIMS.filter((n) => !["round", "erf", "erf_inv", "not"].includes(n)),
);
const _BINARY_F32 = new Set(["add", "sub", "mul", "div", "pow", "max", "min", "atan2"]);
const _COMPARE = new Set<string>(COMPARISON_PRIMS);
const _BOOL = new Set(["and", "or", "xor", "not"]);
/** Movement primitives a loop reads through (index arithmetic, no arithmetic ops). */
export const MOVEMENT: ReadonlySet<string> = new Set(["broadcast_in_dim", "reshape", "transpose"]);
/** Reductions with a fused loop. */
export const REDUCTIONS: Readonly<Record<string, "sum" | "max" | "min">> = {
  reduce_sum: "sum",
  reduce_max: "max",
  reduce_min: "min",
};

/** Whether an equation can be computed inside a fused loop (elementwise or movement). */
export function fusible(e: NEqn): boolean {
  if (e.prim === "literal") return true; // written by a one-element loop where it needs a buffer
  if (e.outputs.length !== 1) return false;
  const o = e.outputs[0].aval.dtype;
  if (!_LOOP_DTYPES.has(o) || e.inputs.some((x) => !_LOOP_DTYPES.has(x.aval.dtype))) return false;
  const i0 = e.inputs[0]?.aval.dtype;
  if (MOVEMENT.has(e.prim)) return true;
  if (_UNARY_F32.has(e.prim) || _BINARY_F32.has(e.prim)) return i0 === "f32";
  if (_COMPARE.has(e.prim)) return true;
  if (_BOOL.has(e.prim)) return i0 === "bool";
  if (e.prim === "select") return true;
  if (e.prim === "convert") return true;
  return false;
}

/** Whether an equation roots a reduction loop (an f32 sum, max or min). */
export function reduction(e: NEqn): boolean {
  return e.prim in REDUCTIONS && e.inputs[0].aval.dtype === "f32" &&
    e.outputs[0].aval.dtype === "f32";
}

/** Readers that need their operands' exact f32 values. */
const _EXACT = new Set([..._COMPARE, "max", "min", "sign", "floor", "ceil", "is_nan", "is_inf"]);

/** Elementwise ops whose result is an operand's value, unrounded (neg and abs are exact). */
const _PASS = new Set(["neg", "abs", "stop_gradient", "convert", "select"]);

/** How a step computes: a fused elementwise loop, a fused reduction, or one equation. */
export type NativeKind = "ew" | "reduce" | "op";

/** The native jit's fusion policy (see the module doc). */
export const NATIVE_POLICY: FusionPolicy<NativeKind> = {
  rootKind: (e) => (fusible(e) ? null : reduction(e) ? "reduce" : "op"),
  epilogued: new Set(["ew"]),
  maxBindings: Infinity,
  sameSpace: "shape",
  storageType: (dtype) => dtype,
  recomputeLiterals: true,
};

/** One step of the program. */
export interface Group extends SharedGroup<NativeKind> {
  /** The loop's shape ("ew": the outputs' shape; "reduce": its input's; "op": []). */
  readonly shape: readonly number[];
}

/** The result of fusion. */
export interface Fusion extends SharedFusion<NativeKind> {
  /** Steps in an order that respects their dependencies. */
  groups: Group[];
  /**
   * Values whose exact f32 value matters to a reader (a comparison, max/min, a reduction, or
   * these through movement): fused loops round them to f32 even when they keep other
   * intermediates in float64 (see `jit_codegen.ts`).
   */
  readonly exact: Set<NVal>;
}

/**
 * Groups the graph's equations into steps (`core/jit_fusion.ts`'s `planFusion` with
 * {@link NATIVE_POLICY}), and finds the values whose exact f32 value a reader needs.
 *
 * @param g the graph
 * @param forced values that must have a buffer (found by code generation)
 * @returns the fusion
 */
export function planFusion(g: NGraph, forced: ReadonlySet<NVal> = new Set()): Fusion {
  const f = sharedPlanFusion(g, NATIVE_POLICY, forced);
  const groups = f.groups.map((grp) =>
    Object.assign(grp, {
      shape: grp.kind === "ew"
        ? grp.outs[0].aval.shape
        : grp.kind === "reduce"
        ? grp.root!.inputs[0].aval.shape
        : [],
    })
  );
  const exact = new Set<NVal>();
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    const e = g.eqns[i];
    if (_EXACT.has(e.prim) || e.prim in REDUCTIONS) e.inputs.forEach((x) => exact.add(x));
    else if (exact.has(e.outputs[0]) && (MOVEMENT.has(e.prim) || _PASS.has(e.prim))) {
      e.inputs.forEach((x) => exact.add(x)); // these return an operand's value as it is
    }
  }
  return Object.assign(f, { groups, exact });
}

/**
 * The buffers a step reads, each with whether every read is at the step's own loop index
 * (identity: the condition for merging and for writing in place).
 *
 * @param f the fusion
 * @param grp the step
 * @returns each buffer read, with identity
 */
export function groupReads(f: Fusion, grp: Group): Map<NVal, boolean> {
  const out = new Map<NVal, boolean>();
  for (const [v, r] of sharedGroupReads(f, grp)) out.set(v, r.identity);
  return out;
}

/** A convenience for tests and debugging: one line per step. */
export function describeFusion(f: Fusion): string {
  return f.groups.map((grp) =>
    `${grp.kind}${grp.root ? " " + grp.root.prim : ""} [${grp.shape}] -> ${
      grp.outs.map((o) => `v${o.id}:${new ShapedArray(o.aval.shape, o.aval.dtype)}`).join(", ")
    } (${grp.computes.size} computed)`
  ).join("\n");
}
