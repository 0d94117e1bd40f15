/**
 * Transformations of closure-converted jaxprs, shared by the higher-order primitives (jit,
 * scan, cond, while, custom rules, checkpoint): JVP, batching and transposition of a jaxpr,
 * each producing a new jaxpr by tracing.
 *
 * @module
 */
import { ShapedArray } from "./aval.ts";
import { traceClosed } from "./builder.ts";
import { isFloat } from "./dtype.ts";
import { evalJaxpr, type Jaxpr } from "./jaxpr.ts";
import { jvpFlat } from "./jvp.ts";
import { backwardPass } from "./ad.ts";
import { UndefinedPrimal } from "./primitive.ts";
import { zerosLikeT } from "./prims/structural.ts";
import type { Tensor } from "./tensor.ts";
import { BatchInterpreter, BatchTracer, matchAxis } from "./vmap_core.ts";
import { currentInterpreter, pushInterpreter, scopeOf } from "./trace.ts";

/** A jaxpr plus the constants to pass in front of its inputs. */
export interface ConvertedJaxpr {
  jaxpr: Jaxpr;
  consts: Tensor[];
}

/**
 * JVP of a jaxpr. Inputs of the result: all primals, then a tangent for each input with
 * `nonzeros[i]`. Outputs: all primal outputs, then a tangent for each output that is nonzero
 * or listed in `instantiate`.
 */
export function jvpJaxpr(
  j: Jaxpr,
  nonzeros: readonly boolean[],
  instantiate: readonly boolean[] | boolean,
): { jaxpr: ConvertedJaxpr; outNonzeros: boolean[] } {
  const n = j.invars.length;
  const inAvals = [...j.inAvals, ...j.inAvals.filter((_, i) => nonzeros[i])];
  let outNonzeros: boolean[] = [];
  const inst = (i: number) => (typeof instantiate === "boolean" ? instantiate : instantiate[i]);
  const cj = traceClosed(
    (...args: Tensor[]) => {
      const primals = args.slice(0, n);
      let k = n;
      const tangents = primals.map((_, i) => (nonzeros[i] ? args[k++] : null));
      const [outs, touts] = jvpFlat((...xs) => evalJaxpr(j, [], xs), primals, tangents);
      outNonzeros = touts.map((t, i) => (t !== null || inst(i)) && isFloat(outs[i].dtype));
      const tOut = touts.flatMap((t, i) => (outNonzeros[i] ? [t ?? zerosLikeT(outs[i])] : []));
      return [...outs, ...tOut];
    },
    inAvals,
    "jvp",
  );
  return { jaxpr: cj, outNonzeros };
}

/** The aval of a value batched at `d` with `size` examples. */
export function batchedAval(a: ShapedArray, d: number | null, size: number): ShapedArray {
  if (d === null) return a;
  const s = [...a.shape];
  s.splice(d, 0, size);
  return new ShapedArray(s, a.dtype);
}

/**
 * Batches a jaxpr: inputs batched at `dims` (null = unbatched); outputs batched at 0, or
 * unbatched where possible unless `forceBatched` says otherwise.
 */
export function batchJaxpr(
  j: Jaxpr,
  dims: readonly (number | null)[],
  size: number,
  forceBatched: readonly boolean[] | boolean,
): { jaxpr: ConvertedJaxpr; outBatched: boolean[] } {
  const inAvals = j.inAvals.map((a, i) => batchedAval(a, dims[i], size));
  let outBatched: boolean[] = [];
  const force = (i: number) => (typeof forceBatched === "boolean" ? forceBatched : forceBatched[i]);
  const result = traceClosed(
    (...args: Tensor[]) => {
      const { outs, outDims } = vmapWithDims((...xs) => evalJaxpr(j, [], xs), args, dims, size);
      outBatched = outDims.map((d, i) => d !== null || force(i));
      return outs.map((o, i) => (outBatched[i] ? matchAxis(o, outDims[i], 0, size) : o));
    },
    inAvals,
    "vmap",
  );
  return { jaxpr: result, outBatched };
}

/** Runs f under a batch interpreter and reports each output's batch dim. */
export function vmapWithDims(
  f: (...xs: Tensor[]) => Tensor[],
  args: readonly Tensor[],
  dims: readonly (number | null)[],
  size: number,
): { outs: Tensor[]; outDims: (number | null)[] } {
  const b = new BatchInterpreter(currentInterpreter(), size);
  using _s = scopeOf(b);
  let outs: Tensor[];
  {
    using _ = pushInterpreter(b);
    outs = f(...args.map((a, i) => (dims[i] === null ? a : new BatchTracer(b, a, dims[i]))));
  }
  const un = outs.map((o) => b.unpack(o));
  return { outs: un.map((u) => u[0]), outDims: un.map((u) => u[1]) };
}

/**
 * Transposes a jaxpr with respect to the inputs marked `linear`. The result takes the
 * non-linear inputs, then a cotangent per output, and returns a cotangent per linear input.
 */
export function transposeJaxpr(j: Jaxpr, linear: readonly boolean[]): ConvertedJaxpr {
  const nonlinAvals = j.inAvals.filter((_, i) => !linear[i]);
  const ctAvals = j.outAvals;
  return traceClosed(
    (...args: Tensor[]) => {
      let k = 0;
      const ins = j.invars.map((v, i) => (linear[i] ? new UndefinedPrimal(v.aval) : args[k++]));
      const cts = args.slice(k);
      const res = backwardPass(j, [], ins, cts);
      return j.invars.flatMap((v, i) => (linear[i] ? [res[i] ?? zerosLikeT(v.aval)] : []));
    },
    [...nonlinAvals, ...ctAvals],
    "transpose",
  );
}
