/**
 * The native jit's planner: a jaxpr becomes a flat graph (calls inlined), then a list of steps —
 * fused loops (elementwise chains with their broadcasts, reshapes and transposes; reductions
 * with their fused producers), GEMM/convolution calls, and the other primitives one by one —
 * with a buffer for every value a step writes.
 *
 * The fusion decisions are the WebGPU jit's (`gpu/jit/fusion.ts`), restated for the CPU: an
 * elementwise or movement value is computed inside the loops that read it unless it is an
 * output, feeds a step that needs a buffer (anything but a fused loop or a reduction), is read
 * by several steps and is not cheap (more than {@link DUP_COST} arithmetic ops), or carries
 * more than one op and is read through an expanding broadcast. Then an elementwise loop absorbs
 * an elementwise consumer of the same shape that reads its results only at its own index,
 * unless that would reorder a read. What differs is what the GPU needs and the CPU does
 * not: no binding limits, and no GEMM prologue (BLAS reads plain arrays), so a GEMM's operands
 * are buffers. A value that a loop cannot index affinely (a reshape that merges dimensions of
 * a computed value) gets a buffer too (the planner in `jit_steps.ts` calls {@link planFusion}
 * again with it among the `forced` values).
 *
 * @module
 */
import { ShapedArray } from "../core/aval.ts";
import type { Jaxpr, Var } from "../core/jaxpr.ts";
import { CALL_PRIMS, dce, literalValue, rewriteTransposedDots } from "../core/jit_graph.ts";
import { type Params, paramsOf, type Primitive } from "../core/primitive.ts";
import { COMPARISON_PRIMS, UNARY_PRIMS } from "../core/prims/names.ts";

/** A value of the graph. */
export interface NVal {
  /** Unique id within its graph. */
  readonly id: number;
  /** Shape and dtype. */
  readonly aval: ShapedArray;
}

/** One equation of the flat graph. */
export interface NEqn {
  /** The primitive's name, or "literal" (a scalar `params.value`). */
  readonly prim: string;
  /** The primitive (absent for literals). */
  readonly primitive?: Primitive;
  /** Its params. */
  readonly params: Params;
  /** Operands. */
  readonly inputs: readonly NVal[];
  /** Results. */
  readonly outputs: readonly NVal[];
}

/** A flat program. */
export interface NGraph {
  /** The caller's arrays (constvars first). */
  readonly inputs: readonly NVal[];
  /** Equations in dependency order. */
  readonly eqns: readonly NEqn[];
  /** Outputs (may repeat, or be inputs). */
  readonly outputs: readonly NVal[];
}

/**
 * Flattens a jaxpr: constvars become leading inputs, calls are inlined, 0-d inputs with a known
 * host value become literals, dead equations are dropped, and `transpose(dot_general(a, b))`
 * that swaps the free blocks becomes `dot_general(b, a)` (reverse mode makes it for every
 * weight gradient; the transposed GEMM writes the layout its consumer wants).
 *
 * @param j the jaxpr
 * @param literals host values of 0-d inputs (undefined: read from the array)
 * @returns the graph
 */
export function flattenJaxpr(j: Jaxpr, literals?: readonly (number | undefined)[]): NGraph {
  let next = 0;
  const fresh = (aval: ShapedArray): NVal => ({ id: next++, aval });
  const eqns: NEqn[] = [];
  const inputs = [...j.constvars, ...j.invars].map((v) => fresh(v.aval));
  const args = inputs.map((v, i) => {
    const lit = literals?.[i];
    if (lit === undefined || v.aval.ndim !== 0) return v;
    const o = fresh(v.aval);
    eqns.push({ prim: "literal", params: { value: lit }, inputs: [], outputs: [o] });
    return o;
  });
  const inline = (jx: Jaxpr, ins: readonly NVal[]): NVal[] => {
    const env = new Map<Var, NVal>();
    [...jx.constvars, ...jx.invars].forEach((v, i) => env.set(v, ins[i]));
    const read = (v: Var): NVal => {
      const g = env.get(v);
      if (!g) throw new Error("internal: unbound variable while inlining a jaxpr (native jit)");
      return g;
    };
    for (const e of jx.eqns) {
      const xs = e.inputs.map(read);
      let outs: NVal[];
      const call = CALL_PRIMS.get(e.prim.name);
      if (call && e.params.jaxpr) {
        outs = inline(paramsOf(call, e.params).jaxpr, xs);
      } else {
        outs = e.outputs.map((v) => fresh(v.aval));
        eqns.push({
          prim: e.prim.name,
          primitive: e.prim,
          params: e.params,
          inputs: xs,
          outputs: outs,
        });
      }
      e.outputs.forEach((v, i) => env.set(v, outs[i]));
    }
    return jx.outvars.map(read);
  };
  const outputs = inline(j, args);
  return rewriteTransposedDots(dce({ inputs, eqns, outputs }));
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

/** Arithmetic ops a value may carry and still be recomputed by several readers. */
export const DUP_COST = 3;

/** One step of the program. */
export interface Group {
  /** "ew": a fused elementwise loop; "reduce": a fused reduction; "op": one equation. */
  readonly kind: "ew" | "reduce" | "op";
  /** The reduction or the equation ("reduce", "op"). */
  readonly root?: NEqn;
  /** The values it writes. */
  outs: NVal[];
  /** Values it computes inside its loop (its outputs and the inlined values only it needs). */
  readonly computes: Set<NVal>;
  /** The loop's shape ("ew": the outputs' shape; "reduce": its input's). */
  readonly shape: readonly number[];
}

/** The result of fusion. */
export interface Fusion {
  /** Steps in an order that respects their dependencies. */
  readonly groups: Group[];
  /** Values with a buffer. */
  readonly materialized: Set<NVal>;
  /** Producer of every value computed by an equation. */
  readonly producer: Map<NVal, NEqn>;
  /**
   * Values whose exact f32 value matters to a reader (a comparison, max/min, a reduction, or
   * these through movement): fused loops round them to f32 even when they keep other
   * intermediates in float64 (see `jit_codegen.ts`).
   */
  readonly exact: Set<NVal>;
}

/**
 * Groups the graph's equations into steps.
 *
 * @param g the graph
 * @param forced values that must have a buffer (found by code generation)
 * @returns the fusion
 */
export function planFusion(g: NGraph, forced: ReadonlySet<NVal> = new Set()): Fusion {
  const producer = new Map<NVal, NEqn>();
  const users = new Map<NVal, NEqn[]>();
  for (const e of g.eqns) {
    e.outputs.forEach((v) => producer.set(v, e));
    for (const x of new Set(e.inputs)) {
      let l = users.get(x);
      if (!l) users.set(x, l = []);
      l.push(e);
    }
  }
  const isOut = new Set(g.outputs);
  const materialized = new Set<NVal>([...g.inputs, ...forced]);
  const cost = new Map<NVal, number>();
  for (const e of g.eqns) {
    if (!fusible(e)) {
      e.outputs.forEach((v) => materialized.add(v));
      continue;
    }
    const v = e.outputs[0];
    const c = (MOVEMENT.has(e.prim) || e.prim === "literal" ? 0 : 1) +
      e.inputs.reduce((s, x) => s + (materialized.has(x) ? 0 : cost.get(x)!), 0);
    cost.set(v, c);
    const us = users.get(v) ?? [];
    const needsBuffer = us.some((u) => !fusible(u) && !reduction(u));
    const expands = us.some((u) =>
      u.prim === "broadcast_in_dim" && u.outputs[0].aval.size > v.aval.size && c > 1
    );
    const shared = e.prim !== "literal" &&
      (expands || (us.length > 1 && (c > DUP_COST || us.length > 4)));
    if (isOut.has(v) || needsBuffer || shared) materialized.add(v);
  }
  const groups: Group[] = [];
  for (const e of g.eqns) {
    if (fusible(e)) {
      const v = e.outputs[0];
      if (!materialized.has(v)) continue;
      groups.push({ kind: "ew", outs: [v], computes: new Set([v]), shape: v.aval.shape });
    } else if (reduction(e)) {
      groups.push({
        kind: "reduce",
        root: e,
        outs: [...e.outputs],
        computes: new Set(e.outputs),
        shape: e.inputs[0].aval.shape,
      });
    } else {
      groups.push({ kind: "op", root: e, outs: [...e.outputs], computes: new Set(), shape: [] });
    }
  }
  const exact = new Set<NVal>();
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    const e = g.eqns[i];
    if (_EXACT.has(e.prim) || e.prim in REDUCTIONS) e.inputs.forEach((x) => exact.add(x));
    else if (exact.has(e.outputs[0]) && (MOVEMENT.has(e.prim) || _PASS.has(e.prim))) {
      e.inputs.forEach((x) => exact.add(x)); // these return an operand's value as it is
    }
  }
  const f: Fusion = { groups, materialized, producer, exact };
  _mergeElementwise(f, isOut);
  return f;
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
  if (grp.kind === "op") {
    for (const x of grp.root!.inputs) out.set(x, false);
    return out;
  }
  const seen = new Set<string>();
  const visit = (v: NVal, identity: boolean) => {
    const key = `${v.id}:${identity}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (f.materialized.has(v) && !grp.computes.has(v)) {
      out.set(v, (out.get(v) ?? true) && identity);
      return;
    }
    const e = f.producer.get(v)!;
    if (e.prim === "literal") return;
    // a reshape or a broadcast that adds only unit dims keeps the flat index
    const keeps = !MOVEMENT.has(e.prim) || e.prim === "reshape" ||
      (e.prim === "broadcast_in_dim" && e.inputs[0].aval.size === v.aval.size);
    for (const x of e.inputs) visit(x, identity && keeps);
  };
  if (grp.kind === "reduce") grp.root!.inputs.forEach((x) => visit(x, false));
  else for (const o of grp.outs) visit(o, true);
  return out;
}

function _mergeElementwise(f: Fusion, isOut: ReadonlySet<NVal>): void {
  const gs = f.groups;
  const reads = new Map<Group, Map<NVal, boolean>>(gs.map((x) => [x, groupReads(f, x)]));
  const writer = new Map<NVal, Group>();
  for (const x of gs) for (const o of x.outs) writer.set(o, x);
  const posOf = (x: Group) => gs.indexOf(x);
  for (let i = 0; i < gs.length; i++) {
    const p = gs[i];
    if (p.kind !== "ew") continue;
    for (let k = i + 1; k < gs.length; k++) {
      const c = gs[k];
      if (c.kind !== "ew" || !_sameShape(c.shape, p.shape)) continue;
      const rc = reads.get(c)!;
      const readsP = p.outs.filter((o) => rc.has(o));
      if (readsP.length === 0 || readsP.some((o) => !rc.get(o))) continue;
      // the merged loop runs where p ran (c's other operands are written before p) or where
      // c ran (no step in between reads p's results); else merging would reorder a read
      const early = [...rc.keys()].every((v) => {
        const w = writer.get(v);
        return !w || w === p || posOf(w) < i;
      });
      const late = !early && gs.slice(i + 1, k).every((x) => {
        const r = reads.get(x)!;
        return p.outs.every((o) => !r.has(o));
      });
      if (!early && !late) continue;
      for (const v of c.computes) p.computes.add(v);
      const all = [...p.outs, ...c.outs];
      gs.splice(k, 1);
      reads.delete(c);
      const readElsewhere = (o: NVal) => {
        for (const [x, r] of reads) if (x !== p && r.has(o)) return true;
        return false;
      };
      p.outs = all.filter((o) => isOut.has(o) || readElsewhere(o));
      for (const o of all) {
        if (p.outs.includes(o)) writer.set(o, p);
        else {
          writer.delete(o);
          f.materialized.delete(o);
        }
      }
      reads.set(p, groupReads(f, p));
      if (late) {
        gs.splice(i, 1);
        gs.splice(k - 1, 0, p);
        i--;
        break;
      }
      k = i; // look again from p's next step with the merged outputs
    }
  }
}

const _sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** A convenience for tests and debugging: one line per step. */
export function describeFusion(f: Fusion): string {
  return f.groups.map((grp) =>
    `${grp.kind}${grp.root ? " " + grp.root.prim : ""} [${grp.shape}] -> ${
      grp.outs.map((o) => `v${o.id}:${new ShapedArray(o.aval.shape, o.aval.dtype)}`).join(", ")
    } (${grp.computes.size} computed)`
  ).join("\n");
}
