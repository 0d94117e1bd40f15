/**
 * Tracing to jaxprs. A `JaxprBuilder` records the equations that touch its own tracers and
 * hands every other equation to its parent ("forwarding"), so that values that do not depend
 * on the traced inputs are computed at the outer level. With `partial` on, a higher-order
 * equation whose inputs are part known and part traced is split by its primitive's
 * `partialEval` rule (partial evaluation, used by `linearize` and hence by `grad`).
 *
 * @module
 */
import { ShapedArray } from "./aval.ts";
import { checkJaxpr, ClosedJaxpr, type Eqn, evalJaxpr, Jaxpr, strictChecks, Var } from "./jaxpr.ts";
import { type Params, paramsOf, type Primitive } from "./primitive.ts";
import { knownScalar, type Tensor, Tracer } from "./tensor.ts";
import { bind, currentInterpreter, type Interpreter, pushInterpreter, scopeOf } from "./trace.ts";

/** A value being traced into a jaxpr. */
export class JaxprTracer extends Tracer {
  /** The builder that owns it. */
  readonly _interp: JaxprBuilder;
  /** Its variable. */
  readonly v: Var;
  /** @internal */
  constructor(interp: JaxprBuilder, v: Var) {
    super(v.aval);
    this._interp = interp;
    this.v = v;
  }
}

/** Splits a mixed equation of a higher-order primitive under a partial builder. */
export type PartialEvalRule<P extends Params = Params> = (
  b: JaxprBuilder,
  args: Tensor[],
  params: P,
) => Tensor[];
/**
 * Attaches the partial-evaluation rule of a higher-order primitive as its `partialEval` field
 * (typed by its params), once.
 */
export function definePartialEval<P extends Params>(
  prim: Primitive<P>,
  rule: PartialEvalRule<P>,
): void {
  if (prim.partialEval) throw new Error(`internal: ${prim.name} has a partial-eval rule`);
  prim.partialEval = (b, args, params) => rule(b as JaxprBuilder, args, paramsOf(prim, params));
}

const _staged = new Set(["broadcast_in_dim", "iota"]);
/**
 * Arithmetic on host-known scalars (the `1` that seeds `grad`, the `n` of a mean) is staged
 * too: the transposes of `neg` and `div` act on such constants while the backward pass is
 * traced, and computing them now would compile and run a one-element device kernel each at
 * trace time. Staged, they become expressions of literals inlined into the kernels that read
 * them (see `planFusion`).
 */
const _stagedScalar = new Set(["neg", "add", "sub", "mul", "div"]);
/** Whether an equation on outside values only is staged rather than computed now. */
function _stage(prim: Primitive, args: readonly Tensor[]): boolean {
  if (args.some((a) => a instanceof Tracer)) return false;
  if (_staged.has(prim.name)) return true;
  return _stagedScalar.has(prim.name) && args.every((a) => knownScalar(a) !== undefined);
}

/** An interpreter that records equations into a jaxpr. */
export class JaxprBuilder implements Interpreter {
  readonly name: string;
  readonly parent: Interpreter;
  active = true;
  /** Whether mixed higher-order equations are split (partial evaluation). */
  readonly partial: boolean;
  readonly #eqns: Eqn[] = [];
  readonly #consts = new Map<Tensor, Var>();
  readonly #invars: Var[] = [];

  /** Makes a builder whose forwarded equations go to `parent`. */
  constructor(parent: Interpreter, opts: { name?: string; partial?: boolean } = {}) {
    this.parent = parent;
    this.name = opts.name ?? "jit";
    this.partial = opts.partial ?? false;
  }
  /** Whether `t` is one of this builder's tracers. */
  isOwn(t: Tensor): t is JaxprTracer {
    return t instanceof JaxprTracer && t._interp === this;
  }
  /** A fresh input. */
  newArg(aval: ShapedArray): JaxprTracer {
    const v = new Var(aval);
    this.#invars.push(v);
    return new JaxprTracer(this, v);
  }
  /** The variable of an own tracer, or the constvar of an outside value. */
  getVar(t: Tensor): Var {
    if (this.isOwn(t)) return t.v;
    let v = this.#consts.get(t);
    if (!v) {
      v = new Var(new ShapedArray(t.shape, t.dtype));
      this.#consts.set(t, v);
    }
    return v;
  }
  process(prim: Primitive, args: Tensor[], params: Params): Tensor[] {
    if (!args.some((a) => this.isOwn(a))) {
      // Broadcasts of concrete values and iotas are staged rather than computed now, so a
      // compiled program reads one scalar instead of a full-size constant buffer (JAX stages
      // them too). Partial evaluation must not stage them: they are known values there.
      if (!this.partial && _stage(prim, args)) {
        return this.record(prim, args, params);
      }
      using _ = pushInterpreter(this.parent);
      return bind(prim, args, params);
    }
    if (this.partial) {
      if (prim.partialEval) return prim.partialEval(this, args, params);
    }
    return this.record(prim, args, params);
  }
  /** Records one equation (no forwarding) and returns its output tracers. */
  record(prim: Primitive, args: Tensor[], params: Params): JaxprTracer[] {
    const outAvals = prim.abstractEval(args.map((a) => a.aval), params);
    const outs = outAvals.map((a) => new JaxprTracer(this, new Var(a)));
    this.#eqns.push({
      prim,
      inputs: args.map((a) => this.getVar(a)),
      params,
      outputs: outs.map((o) => o.v),
    });
    return outs;
  }
  /** Finishes: a closed jaxpr over `inputs` (own tracers) computing `outs`. */
  build(inputs: readonly JaxprTracer[], outs: readonly Tensor[]): ClosedJaxpr {
    const outvars = outs.map((o) => this.getVar(o));
    const consts = [...this.#consts.keys()];
    const jaxpr = new Jaxpr(
      consts.map((c) => this.#consts.get(c)!),
      inputs.map((t) => t.v),
      this.#eqns,
      outvars,
    );
    if (strictChecks()) checkJaxpr(jaxpr);
    return new ClosedJaxpr(jaxpr, consts);
  }
}

/**
 * Traces `f` on inputs of the given avals into a closed jaxpr. `f` takes and returns flat
 * lists of tensors. Values from outside (closures, outer tracers) become constants.
 */
export function traceToJaxpr(
  f: (...args: Tensor[]) => Tensor[],
  avals: readonly ShapedArray[],
  opts: { name?: string; partial?: boolean; parent?: Interpreter } = {},
): ClosedJaxpr {
  const b = new JaxprBuilder(opts.parent ?? currentInterpreter(), opts);
  using _scope = scopeOf(b);
  using _ = pushInterpreter(b);
  const args = avals.map((a) => b.newArg(a));
  const outs = f(...args);
  return b.build(args, outs);
}

/** Moves a closed jaxpr's constants in front of its inputs: `{ jaxpr, consts }`. */
export function closureConvert(cj: ClosedJaxpr): { jaxpr: Jaxpr; consts: Tensor[] } {
  const j = cj.jaxpr;
  return {
    jaxpr: new Jaxpr([], [...j.constvars, ...j.invars], j.eqns, j.outvars),
    consts: [...cj.consts],
  };
}

/** Traces `f` and closure-converts the result. */
export function traceClosed(
  f: (...args: Tensor[]) => Tensor[],
  avals: readonly ShapedArray[],
  name = "jit",
): { jaxpr: Jaxpr; consts: Tensor[] } {
  return closureConvert(traceToJaxpr(f, avals, { name }));
}

/** Result of splitting a jaxpr into its known and unknown parts. */
export interface PartialEvalResult {
  /** Known inputs → known outputs ++ residuals (closure-converted: its consts lead). */
  known: { jaxpr: Jaxpr; consts: Tensor[] };
  /** Residuals ++ unknown inputs → unknown outputs (no consts). */
  unknown: Jaxpr;
  /** Which outputs are unknown. */
  outUnknowns: boolean[];
  /** How many residuals. */
  numRes: number;
  /** Which residuals vary with the known inputs (the rest are outer constants). */
  resIsTraced: boolean[];
  /** Residual values that are outer constants (null where traced). */
  resConsts: (Tensor | null)[];
}

/**
 * Partial evaluation of a closure-converted jaxpr: given which inputs are unknown, splits it
 * into a known jaxpr (computing the known outputs and the residuals the rest needs) and an
 * unknown jaxpr. `instantiate[i]` forces output i to be unknown.
 */
export function partialEvalJaxpr(
  j: Jaxpr,
  unknowns: readonly boolean[],
  instantiate: readonly boolean[] | boolean = false,
): PartialEvalResult {
  const parent = currentInterpreter();
  const t = new JaxprBuilder(parent, { name: "partial-eval" });
  const b = new JaxprBuilder(t, { name: "partial-eval", partial: true });
  using _st = scopeOf(t);
  using _sb = scopeOf(b);
  const knownArgs: JaxprTracer[] = [], unknownArgs: JaxprTracer[] = [];
  const args: Tensor[] = j.invars.map((v, i) => {
    const a = unknowns[i] ? b.newArg(v.aval) : t.newArg(v.aval);
    (unknowns[i] ? unknownArgs : knownArgs).push(a);
    return a;
  });
  let outs: Tensor[];
  {
    using _ = pushInterpreter(b);
    outs = evalJaxpr(j, [], args);
  }
  const inst = (i: number) => (typeof instantiate === "boolean" ? instantiate : instantiate[i]);
  const outUnknowns = outs.map((o, i) => b.isOwn(o) || inst(i));
  const unk = b.build(unknownArgs, outs.filter((_, i) => outUnknowns[i]));
  const residuals = [...unk.consts];
  const resIsTraced = residuals.map((r) => t.isOwn(r));
  const known = t.build(knownArgs, [...outs.filter((_, i) => !outUnknowns[i]), ...residuals]);
  return {
    known: closureConvert(known),
    unknown: new Jaxpr(
      [],
      [...unk.jaxpr.constvars, ...unk.jaxpr.invars],
      unk.jaxpr.eqns,
      unk.jaxpr.outvars,
    ),
    outUnknowns,
    numRes: residuals.length,
    resIsTraced,
    resConsts: residuals.map((r, i) => (resIsTraced[i] ? null : r)),
  };
}
