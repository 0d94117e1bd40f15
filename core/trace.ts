/**
 * Interpreter state: the one module that knows which interpreter is current. Interpreters are
 * scoped with `using` (context-based, "stackless" tracing as in JAX since 0.4.36 and
 * Autodidax2): `bind` hands each primitive to the current interpreter, which runs its rule in
 * the context of its parent.
 *
 * @module
 */
import { fmtAvals, type ShapedArray } from "./aval.ts";
import { currentBackend } from "./backend.ts";
import { TracerLeakError } from "./errors.ts";
import { executeWithF16, storageAval } from "./f16.ts";
import {
  checkParams,
  type NoParams,
  paramChecks,
  type Params,
  type Primitive,
} from "./primitive.ts";
import { consumedError, Tensor, Tracer } from "./tensor.ts";

/** An interpreter: evaluation, JVP, batching or jaxpr building. */
export interface Interpreter {
  /** Printed in errors, e.g. "jit", "grad", "vmap". */
  readonly name: string;
  /** The interpreter whose context this one's rules run in (null for evaluation). */
  readonly parent: Interpreter | null;
  /** False once the interpreter's scope has ended; its tracers are then leaked. */
  active: boolean;
  /** Applies a primitive to values of this level. */
  process(prim: Primitive, args: Tensor[], params: Params): Tensor[];
}

/** Evaluates primitives on the current backend. */
class EvalInterpreter implements Interpreter {
  readonly name = "eval";
  readonly parent = null;
  active = true;
  process(prim: Primitive, args: Tensor[], params: Params): Tensor[] {
    for (const a of args) if (a instanceof Tracer) throw leakError(prim, a);
    const avals = args.map((a) => a.aval);
    const outAvals = prim.abstractEval(avals, params);
    if (prim.evalImpl) return prim.evalImpl(args, params);
    const backend = currentBackend();
    const bufs = args.map((a) => {
      if (a._backend === backend) return a._buf;
      if (!a._backend?.readSync) {
        throw new Error(
          `${prim.name}: an operand lives on backend '${a._backend?.name}' but the current ` +
            `backend is '${backend.name}'\nhelp: create tensors after init()`,
        );
      }
      const data = a._backend.readSync(a._buf, storageAval(a.aval, a._backend));
      return backend.upload(data, storageAval(a.aval, backend));
    });
    const outs = executeWithF16(backend, prim.name, bufs, avals, params, outAvals);
    return outs.map((b, i) => new Tensor(outAvals[i], b, backend));
  }
}

function leakError(prim: Primitive, t: Tracer): Error {
  return new TracerLeakError(
    `${prim.name}: a tracer ${t.aval} of ${t._interp.name} escaped its transformation ` +
      `(it was stored outside the traced function, or returned through a side channel)\n` +
      `help: return values from the transformed function instead of saving them in outer ` +
      `variables`,
  );
}

/** The interpreter at the bottom of every stack. */
export const evalInterpreter: Interpreter = new EvalInterpreter();
let _current: Interpreter = evalInterpreter;

/** The current interpreter. */
export function currentInterpreter(): Interpreter {
  return _current;
}

/**
 * Makes `interp` current until the returned handle is disposed:
 * `using _ = pushInterpreter(new JvpInterpreter(parent));`.
 */
export function pushInterpreter(interp: Interpreter): Disposable {
  const prev = _current;
  _current = interp;
  return {
    [Symbol.dispose]() {
      _current = prev;
    },
  };
}

/** Marks an interpreter finished when disposed: its tracers become leaks. */
export function scopeOf(interp: Interpreter): Disposable {
  return {
    [Symbol.dispose]() {
      interp.active = false;
    },
  };
}

/**
 * The params argument of `bind`: the primitive's own params type, optional when it takes none
 * (or only optional ones).
 */
export type ParamsArg<P extends Params> = NoParams extends P ? [params?: P] : [params: P];

/**
 * Applies a primitive to tensors through the current interpreter. The params are typed by the
 * primitive (`bind(reduce_sum_p, [x], { axes: [0] })`); in strict and checked modes their keys
 * are checked at run time too.
 *
 * @throws TypeError naming the primitive for a missing or an unknown param (checked modes).
 */
export function bind<P extends Params>(
  prim: Primitive<P>,
  args: Tensor[],
  ...rest: ParamsArg<P>
): Tensor[] {
  for (const a of args) {
    if (!(a instanceof Tensor)) {
      throw new TypeError(`internal: ${prim.name} was bound with a non-tensor ${a}`);
    }
    if (a instanceof Tracer && !a._interp.active) throw leakError(prim, a);
    if (a._consumed !== undefined) throw consumedError(prim.name, a);
  }
  const params: Params = rest[0] ?? {};
  if (paramChecks()) checkParams(prim, params);
  return _current.process(prim, args, params);
}

/** `bind` for single-output primitives. */
export function bind1<P extends Params>(
  prim: Primitive<P>,
  args: Tensor[],
  ...params: ParamsArg<P>
): Tensor {
  return bind(prim, args, ...params)[0];
}

/** Runs `fn` with `interp` current. */
export function withInterpreter<T>(interp: Interpreter, fn: () => T): T {
  using _ = pushInterpreter(interp);
  return fn();
}

/**
 * A value check staged into a traced program (checked mode, `DENAX_CHECKS=1`): `flag` (a
 * bool scalar) is true when the check fails, and `value` (a scalar) is the offending value
 * that `error` describes.
 */
export interface StagedCheck {
  /** True when the check fails. */
  readonly flag: Tensor;
  /** The offending value, reported in the error. */
  readonly value: Tensor;
  /** Makes the error from the offending value. */
  readonly error: (value: number) => Error;
}

/** The checks staged while `jit` traces, and the interpreter whose tracers they must be. */
export interface CheckCollector {
  /** The jit's jaxpr builder. */
  readonly interp: Interpreter;
  /** The checks staged so far. */
  readonly checks: StagedCheck[];
}

let _collector: CheckCollector | null = null;

/** Makes `c` the current check collector until disposed (`jit` does this while tracing). */
export function collectChecks(c: CheckCollector | null): Disposable {
  const prev = _collector;
  _collector = c;
  return {
    [Symbol.dispose]() {
      _collector = prev;
    },
  };
}

/** The current check collector, or null outside a checked `jit` trace. */
export function currentCheckCollector(): CheckCollector | null {
  return _collector;
}

/** Abstract evaluation helper for error messages. */
export function describeOperands(avals: readonly ShapedArray[]): string {
  return fmtAvals(avals);
}
