/**
 * Forward-mode differentiation (JVP) and linearization.
 *
 * @module
 */
import { ShapedArray } from "./aval.ts";
import { JaxprBuilder, type JaxprTracer } from "./builder.ts";
import { isFloat } from "./dtype.ts";
import type { ClosedJaxpr } from "./jaxpr.ts";
import type { Params, Primitive } from "./primitive.ts";
import { zerosLikeT } from "./prims/structural.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import { bind, currentInterpreter, type Interpreter, pushInterpreter, scopeOf } from "./trace.ts";

/** A value carrying a primal and a tangent (null = symbolic zero). */
export class JvpTracer extends Tracer {
  /** The owner. */
  readonly _interp: JvpInterpreter;
  /** The primal value (of the parent level). */
  readonly primal: Tensor;
  /** The tangent (of the parent level), or null for zero. */
  readonly tangent: Tensor | null;
  /** @internal */
  constructor(interp: JvpInterpreter, primal: Tensor, tangent: Tensor | null) {
    super(primal.aval);
    this._interp = interp;
    this.primal = primal;
    this.tangent = tangent;
  }
}

/** The JVP interpreter: runs each primitive's JVP rule in its parent's context. */
export class JvpInterpreter implements Interpreter {
  readonly name: string;
  readonly parent: Interpreter;
  active = true;
  /** Makes the interpreter. */
  constructor(parent: Interpreter, name = "jvp") {
    this.parent = parent;
    this.name = name;
  }
  /** Primal and tangent of a value at this level. */
  unpack(t: Tensor): [Tensor, Tensor | null] {
    if (t instanceof JvpTracer && t._interp === this) return [t.primal, t.tangent];
    return [t, null];
  }
  process(prim: Primitive, args: Tensor[], params: Params): Tensor[] {
    const primals: Tensor[] = [], tangents: (Tensor | null)[] = [];
    for (const a of args) {
      const [p, t] = this.unpack(a);
      primals.push(p);
      tangents.push(t);
    }
    using _ = pushInterpreter(this.parent);
    if (tangents.every((t) => t === null)) return bind(prim, primals, params);
    if (!prim.jvp) throw new Error(`Differentiation rule for '${prim.name}' is not implemented`);
    const inst = prim.symbolicZeros
      ? tangents
      : tangents.map((t, i) => t ?? zerosLikeT(primals[i]));
    const [outs, outT] = prim.jvp(primals, inst, params);
    return outs.map((o, i) => new JvpTracer(this, o, isFloat(o.dtype) ? outT[i] ?? null : null));
  }
}

/** Runs `f` on JVP tracers and returns the primal and tangent outputs (null = zero). */
export function jvpFlat(
  f: (...xs: Tensor[]) => Tensor[],
  primals: readonly Tensor[],
  tangents: readonly (Tensor | null)[],
): [Tensor[], (Tensor | null)[]] {
  const j = new JvpInterpreter(currentInterpreter());
  using _scope = scopeOf(j);
  let outs: Tensor[];
  {
    using _ = pushInterpreter(j);
    outs = f(...primals.map((p, i) => new JvpTracer(j, p, tangents[i])));
  }
  const res = outs.map((o) => j.unpack(o));
  return [res.map((r) => r[0]), res.map((r) => r[1])];
}

/** Result of `linearizeFlat`. */
export interface Linearized {
  /** Primal outputs. */
  outs: Tensor[];
  /** The linear map from input tangents to output tangents, as a closed jaxpr. */
  linear: ClosedJaxpr;
}

/**
 * Linearizes `f` at `primals`: evaluates it and stages out its tangent computation as a jaxpr
 * (JVP + partial evaluation: primal work happens now, tangent work is recorded).
 */
export function linearizeFlat(
  f: (...xs: Tensor[]) => Tensor[],
  primals: readonly Tensor[],
): Linearized {
  const b = new JaxprBuilder(currentInterpreter(), { name: "linearize", partial: true });
  using _sb = scopeOf(b);
  const tanIn: JaxprTracer[] = primals.map((p) => b.newArg(new ShapedArray(p.shape, p.dtype)));
  let outs: Tensor[], tans: (Tensor | null)[];
  {
    using _ = pushInterpreter(b);
    [outs, tans] = jvpFlat(f, primals, primals.map((p, i) => (isFloat(p.dtype) ? tanIn[i] : null)));
  }
  for (const o of outs) {
    if (b.isOwn(o)) {
      throw new Error("internal: linearize produced a primal output that depends on tangents");
    }
  }
  const tanOut = tans.map((t, i) => t ?? zerosLikeT(outs[i]));
  return { outs, linear: b.build(tanIn, tanOut) };
}
