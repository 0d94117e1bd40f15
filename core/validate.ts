/**
 * Small shared argument checks for the public API: options objects (no arrays, no unknown
 * keys), arity (no extra positional arguments), shapes (non-negative integer sizes within the
 * element limit) and dtype names. They run on every call, so each is a loop with a `Set`
 * lookup per key or dimension and allocates nothing on the good path.
 *
 * @module
 */
import { peekBackend } from "./backend.ts";
import type { DType } from "./dtype.ts";

/** The most elements one tensor may hold: typed arrays and WebGPU bindings index with i32/u32. */
export const MAX_ELEMENTS: number = 2 ** 31 - 1;

/**
 * Checks that `opts` is undefined, null or a plain options object whose keys are all in
 * `allowed`. An array in an options position is the usual sign of a positional call
 * (`f(x, w, [1, 1])`), so it gets its own message.
 *
 * @param op The op or layer named in the error.
 * @param opts The options object as passed.
 * @param allowed The keys the op understands.
 * @throws {TypeError} when `opts` is an array, not an object, or has an unknown key.
 * @example
 * ```ts
 * import { checkOptions } from "./validate.ts";
 * const allowed = new Set(["axis", "keepdims"]);
 * checkOptions("sum", { axis: 0 }, allowed); // ok
 * let message = "";
 * try {
 *   checkOptions("sum", { axes: 0 }, allowed);
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * console.log(message); // sum: unknown option 'axes'; allowed options are axis, keepdims
 * if (!message.startsWith("sum: unknown option 'axes'")) throw new Error(`got "${message}"`);
 * ```
 */
export function checkOptions(op: string, opts: unknown, allowed: ReadonlySet<string>): void {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== "object" || Array.isArray(opts) || ArrayBuffer.isView(opts)) {
    const got = Array.isArray(opts) ? `an array ${fmtValue(opts)}` : `${typeof opts} ${opts}`;
    throw new TypeError(
      `${op}: expected an options object { ${[...allowed].join(", ")} }, got ${got}\n` +
        `help: pass options by name, e.g. ${op}(…, { ${[...allowed][0] ?? "…"}: … })`,
    );
  }
  for (const k in opts) {
    if (!allowed.has(k)) {
      throw new TypeError(
        `${op}: unknown option '${k}'; allowed options are ${[...allowed].join(", ")}`,
      );
    }
  }
}

const _AXIS_ONLY: ReadonlySet<string> = new Set(["axis"]);

/**
 * The axis argument of a shape function that NumPy takes positionally (`concatenate`,
 * `stack`, `expandDims`, `squeeze`, `flip`, `split`, `takeAlongAxis`): either the axis itself,
 * as NumPy and JAX users write it, or `{ axis }`, the options form every denax function that
 * works along an axis accepts (`sum`, `cumsum`, `softmax`, …).
 *
 * @param op The op named in an error.
 * @param v The argument as passed.
 * @returns The axis (`undefined` when absent).
 * @throws {TypeError} when an options object has a key other than `axis`.
 * @example
 * ```ts
 * import { axisArg } from "./validate.ts";
 * if (axisArg("stack", { axis: 1 }) !== 1 || axisArg("stack", -1) !== -1) throw new Error();
 * ```
 */
export function axisArg<T>(op: string, v: T | { readonly axis?: T } | undefined): T | undefined {
  if (
    v !== null && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)
  ) {
    checkOptions(op, v, _AXIS_ONLY);
    return (v as { readonly axis?: T }).axis;
  }
  return v as T | undefined;
}

/**
 * Checks that a function got at most `max` positional arguments (a dropped extra argument is
 * a silent wrong value).
 *
 * @param op The op named in the error.
 * @param nargs `arguments.length` of the call.
 * @param max The most arguments the op takes.
 * @throws {TypeError} when there are more.
 * @example
 * ```ts
 * import { checkArity } from "./validate.ts";
 * checkArity("reshape", 2, 2); // ok
 * let message = "";
 * try {
 *   checkArity("reshape", 3, 2);
 * } catch (e) {
 *   message = (e as Error).message;
 * }
 * console.log(message.split("\n")[0]); // reshape: takes at most 2 arguments, got 3
 * if (!message.startsWith("reshape: takes at most 2 arguments, got 3")) throw new Error(message);
 * ```
 */
export function checkArity(op: string, nargs: number, max: number): void {
  if (nargs > max) {
    throw new TypeError(
      `${op}: takes at most ${max} argument${max === 1 ? "" : "s"}, got ${nargs}\n` +
        `help: options go in one object as the last argument`,
    );
  }
}

/**
 * Checks a shape: every size a non-negative integer (not NaN, fractional or negative), and
 * the element count at most `MAX_ELEMENTS` and, where the current backend states one, its
 * bytes (4 per element) within the backend's largest buffer (`Backend.maxBufferBytes`).
 *
 * @param op The op named in the error.
 * @param shape The shape as passed.
 * @returns The shape, as given.
 * @throws {TypeError} when `shape` is not an array of numbers.
 * @throws {RangeError} for a bad size or too many elements.
 * @example
 * ```ts
 * import { checkShape } from "./validate.ts";
 * const shape = checkShape("zeros", [2, 3]); // ok: returns the shape
 * let error: unknown;
 * try {
 *   checkShape("zeros", [2, -1]);
 * } catch (e) {
 *   error = e;
 * }
 * console.log(String(error)); // RangeError: zeros: invalid shape [2, -1]: size -1 at dimension 1 …
 * if (shape.join() !== "2,3" || !(error instanceof RangeError)) throw new Error(`got ${error}`);
 * ```
 */
export function checkShape(op: string, shape: readonly number[]): readonly number[] {
  if (!Array.isArray(shape)) {
    throw new TypeError(`${op}: expected a shape (an array of sizes), got ${fmtValue(shape)}`);
  }
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
      throw new RangeError(
        `${op}: invalid shape [${shape.map(fmtValue).join(", ")}]: size ${fmtValue(d)} at ` +
          `dimension ${i} is not a non-negative integer` +
          (typeof d === "object" && d !== null
            ? "\nhelp: sizes must be JS numbers known while tracing; a tensor's value is not"
            : ""),
      );
    }
    n *= d;
  }
  if (n > MAX_ELEMENTS) {
    throw new RangeError(
      `${op}: shape [${shape.join(", ")}] has ${n} elements, more than the limit of ` +
        `${MAX_ELEMENTS} (2**31 - 1) elements per tensor`,
    );
  }
  const b = peekBackend();
  if (b?.maxBufferBytes !== undefined && n * 4 > b.maxBufferBytes) {
    throw new RangeError(
      `${op}: shape [${shape.join(", ")}] needs ${n * 4} bytes, more than the largest buffer ` +
        `of the ${b.name} backend (${b.maxBufferBytes} bytes)`,
    );
  }
  return shape;
}

/** The dtype names. */
const DTYPE_NAMES: ReadonlySet<string> = new Set(["f16", "f32", "i32", "u32", "bool"]);
const NUMPY_NAMES: Readonly<Record<string, DType>> = {
  float16: "f16",
  half: "f16",
  float32: "f32",
  float: "f32",
  int32: "i32",
  int: "i32",
  uint32: "u32",
  bool_: "bool",
  boolean: "bool",
};

/**
 * Checks a dtype name at the public boundary: only `f16`, `f32`, `i32`, `u32` and `bool` exist.
 * NumPy names (`float32`, ...) are rejected with a help line naming the denax spelling.
 *
 * @param op The op named in the error.
 * @param dtype The dtype as passed.
 * @returns The dtype.
 * @throws {TypeError} for an unknown name.
 * @example
 * ```ts
 * import { checkDType } from "./validate.ts";
 * const dtype = checkDType("astype", "f32");
 * console.log(dtype); // f32
 * if (dtype !== "f32") throw new Error(`got ${dtype}`);
 * ```
 */
export function checkDType(op: string, dtype: unknown): DType {
  if (typeof dtype === "string" && DTYPE_NAMES.has(dtype)) return dtype as DType;
  const alias = typeof dtype === "string" ? NUMPY_NAMES[dtype] : undefined;
  throw new TypeError(
    `${op}: unknown dtype ${fmtValue(dtype)}; the dtypes are f16, f32, i32, u32 and bool` +
      (alias ? `\nhelp: write "${alias}" for ${dtype}` : ""),
  );
}

/** A short printed form of a value for error messages. */
export function fmtValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(fmtValue).join(", ")}]`;
  if (v !== null && typeof v === "object") {
    const s = String(v);
    return s === "[object Object]" ? `{ ${Object.keys(v).join(", ")} }` : s;
  }
  return String(v);
}
