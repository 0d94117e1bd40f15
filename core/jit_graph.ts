/**
 * The backend-independent passes over a flat jaxpr graph that both jits run before fusing (the
 * WebGPU jit's `gpu/jit/graph.ts`, the native jit's `native/jit_plan.ts`): dead-code
 * elimination, the rewrite of `transpose(dot_general(a, b))` into `dot_general(b, a)`, the value
 * of a `literal` equation, and the call-like primitives whose jaxprs are inlined. Each backend
 * keeps its own flattener (the WebGPU one also unrolls `cond` with a literal predicate and
 * stages `scan` bodies); the graphs share this shape.
 *
 * @module
 */
import type { ShapedArray } from "./aval.ts";
import type { Jaxpr } from "./jaxpr.ts";
import { checkpoint_p, custom_jvp_call_p, custom_vjp_call_p } from "./custom.ts";
import { jit_call_p } from "./jit_prim.ts";
import { type Params, paramsOf, type Primitive } from "./primitive.ts";
import { dot_general_p } from "./prims/linalg.ts";
import { transpose_p } from "./prims/structural.ts";

/** A value of a flat graph, compared by identity. */
export interface FlatVal {
  /** Unique id within its graph. */
  readonly id: number;
  /** Shape and dtype. */
  readonly aval: ShapedArray;
}

/** One equation of a flat graph (backends add their own fields). */
export interface FlatEqn<V extends FlatVal = FlatVal> {
  /** The primitive's name, or a backend's own node ("literal", …). */
  readonly prim: string;
  /** Its params. */
  readonly params: Params;
  /** Operands. */
  readonly inputs: readonly V[];
  /** Results. */
  readonly outputs: readonly V[];
}

/** A flat program: inputs, equations in dependency order, outputs (which may repeat). */
export interface FlatGraph<V extends FlatVal = FlatVal, E extends FlatEqn<V> = FlatEqn<V>> {
  /** The caller's arrays. */
  readonly inputs: readonly V[];
  /** Equations in dependency order. */
  readonly eqns: readonly E[];
  /** Outputs. */
  readonly outputs: readonly V[];
}

/** Call-like primitives whose jaxpr (`params.jaxpr`) the jits inline, by name. */
export const CALL_PRIMS: ReadonlyMap<string, Primitive<{ readonly jaxpr: Jaxpr }>> = new Map(
  [jit_call_p, custom_jvp_call_p, custom_vjp_call_p, checkpoint_p].map((p) => [p.name, p]),
);

/**
 * The value of a `literal` equation (a scalar in `params.value`).
 *
 * @param e The equation.
 * @returns Its value.
 * @throws Error when the equation carries no number.
 */
export function literalValue(e: FlatEqn<FlatVal>): number {
  const v = e.params.value;
  if (typeof v !== "number") throw new Error(`internal: ${e.prim} has no literal value`);
  return v;
}

/**
 * Dead-code elimination (every equation is pure).
 *
 * @param g A graph.
 * @returns The graph without the equations whose results nothing uses.
 */
export function dce<V extends FlatVal, E extends FlatEqn<V>>(
  g: FlatGraph<V, E>,
): FlatGraph<V, E> {
  const live = new Set<V>(g.outputs);
  const kept: E[] = [];
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    const e = g.eqns[i];
    if (e.outputs.some((v) => live.has(v))) {
      kept.push(e);
      e.inputs.forEach((v) => live.add(v));
    }
  }
  return { inputs: g.inputs, eqns: kept.reverse(), outputs: g.outputs };
}

/**
 * `transpose(dot_general(a, b))` that swaps the two free blocks is `dot_general(b, a)`: the
 * transposed GEMM writes the layout its consumers want (reverse mode makes this pattern for
 * every weight gradient), so an elementwise consumer (the optimizer update) can become its
 * epilogue. The rewritten equation keeps the dot's other fields (a backend's own).
 *
 * @param g A graph.
 * @returns The graph with each such pair replaced by one `dot_general`.
 */
export function rewriteTransposedDots<V extends FlatVal, E extends FlatEqn<V>>(
  g: FlatGraph<V, E>,
): FlatGraph<V, E> {
  const users = new Map<V, number>();
  for (const e of g.eqns) for (const x of e.inputs) users.set(x, (users.get(x) ?? 0) + 1);
  for (const v of g.outputs) users.set(v, (users.get(v) ?? 0) + 1);
  const byOut = new Map<V, number>();
  g.eqns.forEach((e, k) => e.outputs.forEach((v) => byOut.set(v, k)));
  const eqns: (E | null)[] = [...g.eqns];
  g.eqns.forEach((t, k) => {
    if (t.prim !== "transpose" || users.get(t.inputs[0]) !== 1) return;
    const di = byOut.get(t.inputs[0]);
    const d = di === undefined ? null : eqns[di];
    if (!d || d.prim !== "dot_general") return;
    const { contracting: [lc, rc], batch: [lb, rb] } = paramsOf(dot_general_p, d.params);
    const [a, b] = d.inputs;
    const nb = lb.length, nl = a.aval.ndim - nb - lc.length, nr = b.aval.ndim - nb - rc.length;
    const want = [
      ...Array.from({ length: nb }, (_, i) => i),
      ...Array.from({ length: nr }, (_, i) => nb + nl + i),
      ...Array.from({ length: nl }, (_, i) => nb + i),
    ];
    const perm = paramsOf(transpose_p, t.params).perm;
    if (perm.length !== want.length || perm.some((p, i) => p !== want[i])) return;
    eqns[di!] = null;
    eqns[k] = {
      ...d,
      params: { ...d.params, contracting: [rc, lc], batch: [rb, lb] },
      inputs: [b, a],
      outputs: t.outputs,
    };
  });
  return { inputs: g.inputs, eqns: eqns.filter((e): e is E => e !== null), outputs: g.outputs };
}
