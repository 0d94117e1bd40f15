/**
 * The `jit_call` primitive: a call of a staged jaxpr. Its rules transform the jaxpr and bind
 * `jit_call` again, so `jit` composes with every other transformation.
 *
 * @module
 */
import { fmtAvals } from "./aval.ts";
import { currentBackend } from "./backend.ts";
import { definePartialEval, type JaxprBuilder, partialEvalJaxpr } from "./builder.ts";
import { evalJaxpr, type Jaxpr } from "./jaxpr.ts";
import { batchJaxpr, jvpJaxpr, transposeJaxpr } from "./jaxpr_rules.ts";
import { definePrimitive, type Params, type Primitive, UndefinedPrimal } from "./primitive.ts";
import type { Tensor } from "./tensor.ts";
import { bind, pushInterpreter } from "./trace.ts";

/** Counts how often jaxprs were compiled for execution (tests read it). */
export const compileStats = { traces: 0, compiles: 0 };

/** A backend that can compile whole jaxprs (the webgpu backend does). */
export interface JaxprCompiler {
  compileJaxpr(
    j: Jaxpr,
    opts?: { donated?: readonly boolean[]; literals?: readonly (number | undefined)[] },
  ): (args: Tensor[]) => Tensor[];
}
const _compiled = new WeakMap<Jaxpr, Map<unknown, Map<string, (args: Tensor[]) => Tensor[]>>>();

function runCompiled(
  j: Jaxpr,
  args: Tensor[],
  donated?: readonly boolean[],
  literals?: readonly (number | undefined)[],
): Tensor[] {
  const backend = currentBackend() as unknown as Partial<JaxprCompiler>;
  let perJaxpr = _compiled.get(j);
  if (!perJaxpr) _compiled.set(j, perJaxpr = new Map());
  let perBackend = perJaxpr.get(backend);
  if (!perBackend) perJaxpr.set(backend, perBackend = new Map());
  // one executable per backend, donation pattern and set of inlined literals
  const key = `${donated?.map(Number).join("") ?? ""}|${literals?.join(",") ?? ""}`;
  let exe = perBackend.get(key);
  if (!exe) {
    compileStats.compiles++;
    exe = backend.compileJaxpr
      ? backend.compileJaxpr(j, { donated, literals })
      : (xs: Tensor[]) => evalJaxpr(j, [], xs);
    perBackend.set(key, exe);
  }
  return exe(args);
}

export const jit_call_p: Primitive = definePrimitive("jit_call", {
  higherOrder: true,
  multipleResults: true,
  abstractEval(avals, { jaxpr }) {
    const j = jaxpr as Jaxpr;
    if (avals.length !== j.invars.length || avals.some((a, i) => !a.equals(j.invars[i].aval))) {
      throw new TypeError(
        `jit_call: arguments ${fmtAvals(avals)} do not match the jaxpr's inputs ${
          fmtAvals(j.inAvals)
        }`,
      );
    }
    return j.outAvals;
  },
  evalImpl(args, { jaxpr, donated, literals }) {
    return runCompiled(jaxpr, args, donated, literals);
  },
  symbolicZeros: true,
  jvp(primals, tangents, { jaxpr, name }) {
    const j = jaxpr as Jaxpr;
    const nz = tangents.map((t) => t !== null);
    const { jaxpr: jj, outNonzeros } = jvpJaxpr(j, nz, false);
    const outs = bind(jit_call_p, [...jj.consts, ...primals, ...tangents.filter((_, i) => nz[i])], {
      jaxpr: jj.jaxpr,
      name: `jvp(${name})`,
    });
    const n = j.outvars.length;
    let k = n;
    return [outs.slice(0, n), outNonzeros.map((z) => (z ? outs[k++] : null))];
  },
  transpose(cts, args, { jaxpr, name }) {
    const j = jaxpr as Jaxpr;
    const linear = args.map((a) => a instanceof UndefinedPrimal);
    const tj = transposeJaxpr(j, linear);
    const ctsIn = cts.map((c, i) => c ?? zerosOf(j.outvars[i].aval));
    const res = bind(jit_call_p, [
      ...tj.consts,
      ...args.filter((a) => !(a instanceof UndefinedPrimal)) as Tensor[],
      ...ctsIn,
    ], {
      jaxpr: tj.jaxpr,
      name: `transpose(${name})`,
    });
    let k = 0;
    return linear.map((l) => (l ? res[k++] : null));
  },
  batch(args, dims, { jaxpr, name }, size) {
    const { jaxpr: bj, outBatched } = batchJaxpr(jaxpr, dims, size, false);
    const outs = bind(jit_call_p, [...bj.consts, ...args], {
      jaxpr: bj.jaxpr,
      name: `vmap(${name})`,
    });
    return [outs, outBatched.map((b) => (b ? 0 : null))];
  },
});

import { zerosLikeT as zerosOf } from "./prims/structural.ts";

/** Partial evaluation of a call: the known part runs now, the unknown part is staged. */
function callPartialEval(prim: Primitive) {
  return (b: JaxprBuilder, args: Tensor[], params: Params): Tensor[] => {
    const j = params.jaxpr as Jaxpr;
    const unknowns = args.map((a) => b.isOwn(a));
    const pe = partialEvalJaxpr(j, unknowns, false);
    let knownOuts: Tensor[];
    {
      using _ = pushInterpreter(b.parent);
      // the inputs are rearranged: per-input flags (donation, literals) no longer apply
      const { donated: _d, literals: _l, ...rest } = params;
      knownOuts = bind(prim, [...pe.known.consts, ...args.filter((_, i) => !unknowns[i])], {
        ...rest,
        jaxpr: pe.known.jaxpr,
      });
    }
    const nKnown = pe.outUnknowns.filter((u) => !u).length;
    const res = knownOuts.slice(nKnown);
    const { donated: _d, literals: _l, ...rest } = params;
    const unkOuts = b.record(prim, [...res, ...args.filter((_, i) => unknowns[i])], {
      ...rest,
      jaxpr: pe.unknown,
    });
    let ki = 0, ui = 0;
    return pe.outUnknowns.map((u) => (u ? unkOuts[ui++] : knownOuts[ki++]));
  };
}
definePartialEval(jit_call_p, callPartialEval(jit_call_p));
export { callPartialEval };
