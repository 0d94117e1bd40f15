/**
 * The WebGPU jit's flat graph: `core/jit_graph.ts`'s, flattened with the options that keep
 * what WGSL can compile. `jit_call`, `custom_jvp_call`, `custom_vjp_call` and `checkpoint`
 * equations are replaced by their jaxprs; `cond` becomes every branch followed by `select`s on
 * the index (pure branches, so evaluating all of them is equivalent; a branch is picked at
 * compile time when the index is a literal); `scan` keeps its body as a nested graph whose xs
 * are read through `step_slice` equations (an index offset by the step); `while` and anything
 * without a WGSL lowering stay `core` equations, evaluated by the core between compiled
 * segments. Values are numbered globally (kernel names show the ids).
 *
 * @module
 */
import type { Jaxpr } from "../../core/jaxpr.ts";
import { flattenJaxpr, type FlatVal, type JitEqn, type JitGraph } from "../../core/jit_graph.ts";
import { LOWERINGS } from "../lowerings.ts";

/** A value of the graph. */
export type GVal = FlatVal;

/** One equation of the graph. */
export type GEqn = JitEqn;

/** A flat program: inputs, equations in dependency order, outputs. */
export type Graph = JitGraph;

const _compiles = (name: string) => name in LOWERINGS;

/**
 * Flattens a jaxpr into a {@link Graph}: constvars (if any) become the leading inputs, calls
 * are inlined, `cond` becomes `select`s, `scan` keeps a nested body graph, primitives without
 * a WGSL lowering become `core` equations.
 *
 * @param j The jaxpr.
 * @param literals Host values of 0-d inputs to inline as literals (undefined: a buffer).
 * @returns The graph, dead equations removed.
 */
export function flatten(j: Jaxpr, literals?: readonly (number | undefined)[]): Graph {
  return flattenJaxpr(j, literals, { compiles: _compiles, control: true });
}
