/**
 * The jit's own flat IR: a core jaxpr with its calls inlined. `jit_call`, `custom_jvp_call`,
 * `custom_vjp_call` and `checkpoint` equations are replaced by their jaxprs (a call is pure, so
 * inlining changes nothing but the kernel boundaries); `cond` becomes every branch followed by
 * `select`s on the index (pure branches, so evaluating all of them is equivalent; a branch is
 * picked at compile time when the index is a literal); `scan` keeps its body as a nested graph
 * whose xs are read through `step_slice` equations (an index offset by the step); `while` and
 * anything without a WGSL lowering stay `core` equations, evaluated by the core between
 * compiled segments.
 *
 * @module
 */
import { ShapedArray } from "../../core/aval.ts";
import type { Jaxpr, Var } from "../../core/jaxpr.ts";
import { cond_p, scan_p } from "../../core/control.ts";
import { CALL_PRIMS, dce, literalValue, rewriteTransposedDots } from "../../core/jit_graph.ts";
import { type Params, paramsOf, type Primitive } from "../../core/primitive.ts";
import { LOWERINGS } from "../lowerings.ts";

/** A value of the graph. */
export interface GVal {
  /** Unique id (for keys and names). */
  readonly id: number;
  /** Shape and dtype. */
  readonly aval: ShapedArray;
}

/** One equation of the graph. */
export interface GEqn {
  /**
   * A first-order primitive name, or "literal" (a scalar `params.value`), "step_slice" (slice
   * `params.step` of a stacked scan input, offset by the loop step), "scan" (with `body`) or
   * "core" (evaluated by binding `corePrim`).
   */
  readonly prim: string;
  /** The primitive's params. */
  readonly params: Params;
  /** Operands. */
  readonly inputs: readonly GVal[];
  /** Results. */
  readonly outputs: readonly GVal[];
  /** The body of a "scan": inputs [consts, carry, stacked xs], outputs [carry, ys]. */
  readonly body?: Graph;
  /** The primitive of a "core" equation. */
  readonly corePrim?: Primitive;
}

/** A flat program: inputs, equations in dependency order, outputs. */
export interface Graph {
  /** Inputs (the caller's buffers). */
  readonly inputs: readonly GVal[];
  /** Equations in order. */
  readonly eqns: readonly GEqn[];
  /** Outputs (may repeat, or be inputs). */
  readonly outputs: readonly GVal[];
}

let _nextId = 0;
/** A fresh value. */
export function newVal(aval: ShapedArray): GVal {
  return { id: _nextId++, aval };
}

/** Whether the graph (or a nested body) holds a `core` equation. */
export function hasCore(g: Graph): boolean {
  return g.eqns.some((e) => e.prim === "core" || (e.body !== undefined && hasCore(e.body)));
}

class _Flattener {
  readonly eqns: GEqn[] = [];

  emit(prim: string, params: Params, inputs: readonly GVal[], outAvals: ShapedArray[]): GVal[] {
    const outputs = outAvals.map(newVal);
    this.eqns.push({ prim, params, inputs, outputs });
    return outputs;
  }

  literal(value: number, dtype: ShapedArray["dtype"]): GVal {
    return this.emit("literal", { value, dtype }, [], [new ShapedArray([], dtype)])[0];
  }

  /** Inlines `j` applied to `args`; returns its outputs. */
  inline(j: Jaxpr, args: readonly GVal[]): GVal[] {
    // constvars, where a jaxpr still has them, are its leading inputs
    const env = new Map<Var, GVal>();
    [...j.constvars, ...j.invars].forEach((v, i) => env.set(v, args[i]));
    const read = (v: Var) => {
      const g = env.get(v);
      if (!g) throw new Error("internal: unbound variable while inlining a jaxpr");
      return g;
    };
    for (const e of j.eqns) {
      const ins = e.inputs.map(read);
      const outs = this.eqn(e.prim, e.params, ins, e.outputs.map((v) => v.aval));
      e.outputs.forEach((v, i) => env.set(v, outs[i]));
    }
    return j.outvars.map(read);
  }

  eqn(prim: Primitive, params: Params, ins: GVal[], outAvals: ShapedArray[]): GVal[] {
    const name = prim.name;
    const call = CALL_PRIMS.get(name);
    if (call) return this.inline(paramsOf(call, params).jaxpr, ins);
    if (name === "cond") return this.cond(prim, params, ins, outAvals);
    if (name === "scan") return this.scan(prim, params, ins, outAvals);
    if (name in LOWERINGS) return this.emit(name, params, ins, outAvals);
    return this.core(prim, params, ins, outAvals);
  }

  core(prim: Primitive, params: Params, ins: GVal[], outAvals: ShapedArray[]): GVal[] {
    const outputs = outAvals.map(newVal);
    this.eqns.push({ prim: "core", params, inputs: ins, outputs, corePrim: prim });
    return outputs;
  }

  cond(prim: Primitive, params: Params, ins: GVal[], outAvals: ShapedArray[]): GVal[] {
    const { branches } = paramsOf(cond_p, params);
    const [idx, ...ops] = ins;
    const lit = this.eqns.find((e) => e.prim === "literal" && e.outputs[0] === idx);
    if (branches.length === 1 || lit) {
      const k = lit ? Math.max(0, Math.min(branches.length - 1, literalValue(lit))) : 0;
      return this.inline(branches[k], ops);
    }
    // A branch that loops or leaves the compiler must not run unconditionally.
    const trial = new _Flattener();
    const results = branches.map((b) => trial.inline(b, ops));
    if (trial.eqns.some((e) => e.prim === "core" || (e.body && hasCore(e.body)))) {
      return this.core(prim, params, ins, outAvals);
    }
    this.eqns.push(...trial.eqns);
    // out = cases[0]; then cases[i] wherever index >= i (the index is clamped, as in lax.cond)
    return outAvals.map((a, k) => {
      let out = results[0][k];
      for (let i = 1; i < branches.length; i++) {
        const ge = this.emit("ge", {}, [idx, this.literal(i, "i32")], [
          new ShapedArray([], "bool"),
        ]);
        const p = this.emit(
          "broadcast_in_dim",
          {
            shape: [...a.shape],
            broadcastDimensions: [],
          },
          ge,
          [new ShapedArray(a.shape, "bool")],
        )[0];
        out = this.emit("select", {}, [p, results[i][k], out], [a])[0];
      }
      return out;
    });
  }

  scan(prim: Primitive, params: Params, ins: GVal[], outAvals: ShapedArray[]): GVal[] {
    const { jaxpr: j, numConsts: nc, numCarry: ncar, length: L } = paramsOf(scan_p, params);
    const bodyIns = ins.map((v) => newVal(v.aval));
    const f = new _Flattener();
    const slices = bodyIns.slice(nc + ncar).map((x, s) =>
      f.emit("step_slice", { step: s }, [x], [
        new ShapedArray(x.aval.shape.slice(1), x.aval.dtype),
      ])[0]
    );
    const outs = f.inline(j, [...bodyIns.slice(0, nc + ncar), ...slices]);
    const body = rewriteTransposedDots(dce({ inputs: bodyIns, eqns: f.eqns, outputs: outs }));
    if (hasCore(body) || L === 0) return this.core(prim, params, ins, outAvals);
    const outputs = outAvals.map(newVal);
    this.eqns.push({ prim: "scan", params, inputs: ins, outputs, body });
    return outputs;
  }
}

/**
 * Flattens a jaxpr into a {@link Graph}: constvars (if any) become the leading inputs, calls
 * are inlined, `cond` becomes `select`s, `scan` keeps a nested body graph.
 *
 * @param j The jaxpr.
 * @param literals Host values of 0-d inputs to inline as literals (undefined: a buffer).
 * @returns The graph, dead equations removed.
 */
export function flatten(j: Jaxpr, literals?: readonly (number | undefined)[]): Graph {
  const f = new _Flattener();
  const inputs = [...j.constvars, ...j.invars].map((v) => newVal(v.aval));
  // 0-d inputs with a known host value are read as literals (the input stays, unused)
  const args = inputs.map((v, i) => {
    const lit = literals?.[i];
    return lit !== undefined && v.aval.ndim === 0 ? f.literal(lit, v.aval.dtype) : v;
  });
  const outs = f.inline(j, args);
  return rewriteTransposedDots(dce({ inputs, eqns: f.eqns, outputs: outs }));
}
