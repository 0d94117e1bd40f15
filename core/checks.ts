/**
 * Value checks: checks of tensor values (class indices within range, probabilities within
 * [0, 1], embedding indices within the table) that PyTorch performs and that a traced
 * program cannot perform while tracing, because the values are not known then.
 *
 * - Eager (concrete tensors): the check runs now. On a backend with synchronous reads (cpu)
 *   it throws at the call; on WebGPU the read is deferred behind the work already issued
 *   (`Backend.defer`), and the error surfaces at the next read or `sync` (`await x.data()`).
 * - Under `jit`, by default nothing is checked: out-of-range values give the documented
 *   fallback of each op. With `DENAX_CHECKS=1` (checked mode), each check is staged into the
 *   traced program as two extra scalar outputs, a failure flag and the offending value; the
 *   jit wrapper strips them from the results and checks them as above. This costs one tiny
 *   reduction per check and a read of two scalars per call.
 * - Checks on values that are tracers of another transformation (inside `vmap`, or on values
 *   being differentiated) are not staged: the fallback applies.
 *
 * @module
 */
import { checksEnabled } from "./env.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import { currentCheckCollector } from "./trace.ts";

/**
 * Whether a value check on these tensors would run: true when all are concrete, or when
 * checked mode is on and a jit trace collects checks. Callers skip building the check's
 * tensors otherwise.
 *
 * @param ts The tensors the check reads.
 * @returns Whether to build and run the check.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { valueChecksApply } from "./checks.ts";
 * const v = valueChecksApply(np.array([1, 2]));
 * console.log(v); // true
 * if (v !== true) throw new Error(`got ${v}`);
 * ```
 */
export function valueChecksApply(...ts: Tensor[]): boolean {
  if (!ts.some((t) => t instanceof Tracer)) return true;
  return checksEnabled() && currentCheckCollector() !== null;
}

/**
 * Raises `error(value)` when the bool scalar `flag` is true: now when both are concrete (see
 * the module doc for WebGPU), staged into the program under a checked `jit`, skipped otherwise.
 *
 * @param flag A bool scalar, true when the check fails.
 * @param value A scalar: the offending value, passed to `error`.
 * @param error Makes the error.
 * @throws The error made by `error`, when the check fails on a backend with synchronous reads.
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * import { checkValue } from "./checks.ts";
 * const error = (v: number) => new RangeError(`bad ${v}`);
 * checkValue(np.array(false), np.array(0), error); // passes
 * let message = "";
 * try {
 *   checkValue(np.array(true), np.array(7), error);
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * console.log(message); // bad 7
 * if (message !== "bad 7") throw new Error(`got "${message}"`);
 * ```
 */
export function checkValue(flag: Tensor, value: Tensor, error: (value: number) => Error): void {
  if (flag instanceof Tracer || value instanceof Tracer) {
    const c = currentCheckCollector();
    const own = (t: Tensor) => !(t instanceof Tracer) || t._interp === c?.interp;
    if (c && checksEnabled() && own(flag) && own(value)) {
      c.checks.push({ flag, value, error });
    }
    return;
  }
  const b = flag._backend;
  if (!b) return;
  if (b.readSync) {
    if (b.readSync(flag._buf, flag.aval)[0]) {
      throw error(Number(b.readSync(value._buf, value.aval)[0]));
    }
    return;
  }
  b.defer?.(async (direct) => {
    const f = await direct(() => flag.data());
    if (f[0]) throw error(Number((await direct(() => value.data()))[0]));
  });
}
