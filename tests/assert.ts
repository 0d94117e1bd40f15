// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * A small stand-in for `jsr:@std/assert`, with the same names and signatures, because JSR is
 * not reachable from the machines this project is built on (see DESIGN.md §1). Where JSR is
 * reachable, point `@std/assert` in `deno.json` at `jsr:@std/assert@^1` instead; only
 * `assertAllClose` is ours.
 *
 * @module
 */

/** Error thrown by every assertion here. */
export class AssertionError extends Error {
  /** Makes an assertion error with the given message. */
  constructor(message: string) {
    super(message);
    this.name = "AssertionError";
  }
}

function fmt(v: unknown): string {
  try {
    if (typeof v === "string") return JSON.stringify(v);
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${Array.from(v as any).join(", ")})`;
    return Deno.inspect(v, { depth: 8, iterableLimit: 200 });
  } catch {
    return String(v);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b)) return false;
    if (a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !deepEqual(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set && b instanceof Set) {
    if (a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const ka = Object.keys(a as object), kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!deepEqual((a as any)[k], (b as any)[k])) return false;
  }
  return true;
}

/** Asserts that `expr` is truthy. */
export function assert(expr: unknown, msg = "Expected expression to be truthy"): asserts expr {
  if (!expr) throw new AssertionError(msg);
}

/** Asserts deep structural equality (typed arrays compared element by element). */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}values are not equal\n  actual:   ${fmt(actual)}\n  expected: ${
        fmt(expected)
      }`,
    );
  }
}

/** Asserts that two values are not deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (deepEqual(actual, expected)) {
    throw new AssertionError(`${msg ? msg + ": " : ""}expected ${fmt(actual)} to differ`);
  }
}

/** Asserts `Object.is(actual, expected)`. */
export function assertStrictEquals<T>(actual: unknown, expected: T, msg?: string): void {
  if (!Object.is(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}values are not strictly equal: ${fmt(actual)} vs ${fmt(expected)}`,
    );
  }
}

/** Asserts `|actual - expected| <= tolerance` (default 1e-7, as in @std/assert). */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-7,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  if (!(delta <= tolerance)) {
    throw new AssertionError(
      `${
        msg ? msg + ": " : ""
      }expected ${actual} to be close to ${expected}: delta ${delta} > ${tolerance}`,
    );
  }
}

type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

function checkError<E extends Error>(
  e: unknown,
  ErrorClass?: ErrorClass<E>,
  includes?: string,
  msg?: string,
): E {
  const pre = msg ? msg + ": " : "";
  if (ErrorClass && !(e instanceof ErrorClass)) {
    throw new AssertionError(
      `${pre}expected error of class ${ErrorClass.name}, got ${(e as Error)?.constructor?.name}: ${
        (e as Error)?.message
      }`,
    );
  }
  if (includes !== undefined && !String((e as Error)?.message).includes(includes)) {
    throw new AssertionError(
      `${pre}expected error message to include ${fmt(includes)}, got ${fmt((e as Error)?.message)}`,
    );
  }
  return e as E;
}

/** Asserts that `fn` throws (optionally an instance of `ErrorClass` whose message includes `msgIncludes`). */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes, msg);
  }
  throw new AssertionError(`${msg ? msg + ": " : ""}expected function to throw`);
}

/** Asserts that the promise returned by `fn` rejects. */
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass?: ErrorClass<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, ErrorClass, msgIncludes, msg);
  }
  throw new AssertionError(`${msg ? msg + ": " : ""}expected promise to reject`);
}

/**
 * Asserts element-wise `|a - e| <= atol + rtol * |e|` for numbers or (nested) arrays of
 * numbers, with NaN equal to NaN. Shapes (nesting and lengths) must agree.
 */
export function assertAllClose(
  actual: unknown,
  expected: unknown,
  opts: { rtol?: number; atol?: number; msg?: string } = {},
): void {
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-6;
  const pre = opts.msg ? opts.msg + ": " : "";
  const walk = (a: unknown, e: unknown, path: string): void => {
    const isSeq = (v: unknown) => Array.isArray(v) || ArrayBuffer.isView(v);
    if (isSeq(e) || isSeq(a)) {
      if (!isSeq(e) || !isSeq(a)) {
        throw new AssertionError(
          `${pre}structure differs at ${path || "root"}: ${fmt(a)} vs ${fmt(e)}`,
        );
      }
      const x = a as ArrayLike<unknown>, y = e as ArrayLike<unknown>;
      if (x.length !== y.length) {
        throw new AssertionError(
          `${pre}length differs at ${path || "root"}: ${x.length} vs ${y.length}`,
        );
      }
      for (let i = 0; i < x.length; i++) walk(x[i], y[i], `${path}[${i}]`);
      return;
    }
    const an = Number(a), en = Number(e);
    if (Number.isNaN(an) && Number.isNaN(en)) return;
    if (an === en) return;
    if (!(Math.abs(an - en) <= atol + rtol * Math.abs(en))) {
      throw new AssertionError(
        `${pre}not close at ${path || "root"}: ${an} vs ${en} (atol ${atol}, rtol ${rtol})`,
      );
    }
  };
  walk(actual, expected, "");
}
