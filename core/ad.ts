/**
 * Reverse mode: transposition of linear jaxprs (the backward pass), vjp and grad.
 *
 * @module
 */
import type { DType } from "./dtype.ts";
import type { Jaxpr, Var } from "./jaxpr.ts";
import { type Primitive, UndefinedPrimal } from "./primitive.ts";
import { add } from "./prims/elementwise.ts";
import { zerosLikeT } from "./prims/structural.ts";
import type { Tensor } from "./tensor.ts";
import { bind } from "./trace.ts";

/**
 * Transposes a jaxpr that is linear in its undefined inputs. Equations with no linear input
 * are evaluated forward first (they compute coefficients, or rematerialized values); the
 * linear ones are then transposed in reverse order. Returns a cotangent (or null for zero)
 * for every input; only those of undefined inputs are meaningful.
 */
export function backwardPass(
  j: Jaxpr,
  consts: readonly Tensor[],
  args: readonly (Tensor | UndefinedPrimal)[],
  cts: readonly (Tensor | null)[],
): (Tensor | null)[] {
  const primal = new Map<Var, Tensor>();
  const linear = new Set<Var>();
  j.constvars.forEach((v, i) => primal.set(v, consts[i]));
  j.invars.forEach((v, i) => {
    const a = args[i];
    if (a instanceof UndefinedPrimal) linear.add(v);
    else primal.set(v, a);
  });
  const linEqns: (typeof j.eqns[number])[] = [];
  for (const e of j.eqns) {
    if (e.inputs.some((v) => linear.has(v))) {
      linEqns.push(e);
      e.outputs.forEach((v) => linear.add(v));
    } else {
      const outs = bind(e.prim, e.inputs.map((v) => primal.get(v)!), e.params);
      e.outputs.forEach((v, i) => primal.set(v, outs[i]));
    }
  }
  const ctEnv = new Map<Var, Tensor>();
  const addCt = (v: Var, ct: Tensor | null) => {
    if (!ct || !linear.has(v)) return;
    const prev = ctEnv.get(v);
    ctEnv.set(v, prev ? add(prev, ct) : ct);
  };
  j.outvars.forEach((v, i) => addCt(v, cts[i]));
  for (let k = linEqns.length - 1; k >= 0; k--) {
    const e = linEqns[k];
    const outCts = e.outputs.map((v) => ctEnv.get(v) ?? null);
    e.outputs.forEach((v) => ctEnv.delete(v));
    if (outCts.every((c) => c === null)) continue;
    const prim: Primitive = e.prim;
    if (!prim.transpose) {
      throw new Error(
        `Transpose rule (for reverse-mode differentiation) for '${prim.name}' is not implemented`,
      );
    }
    const ins = e.inputs.map((v) => (linear.has(v) ? new UndefinedPrimal(v.aval) : primal.get(v)!));
    const inCts = prim.transpose(outCts, ins, e.params);
    e.inputs.forEach((v, i) => addCt(v, inCts[i] ?? null));
  }
  return j.invars.map((v) => ctEnv.get(v) ?? null);
}

/** Instantiates a null cotangent as zeros of the aval. */
export function instantiateCt(
  ct: Tensor | null,
  aval: { shape: readonly number[]; dtype: DType },
): Tensor {
  return ct ?? zerosLikeT(aval);
}
