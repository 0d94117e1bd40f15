/**
 * f16 (IEEE binary16, NumPy's `float16`) on every backend.
 *
 * Semantics: an f16 array holds values that are exactly representable in f16. Every primitive
 * computes in f32 and rounds its f16 results to the nearest f16 (ties to even; beyond ±65504 to
 * ±Infinity), so matmul, convolution and reductions accumulate in f32 and round once at the end.
 * The result is the same on every backend up to the f32 arithmetic of each.
 *
 * Storage: a backend that stores f16 itself ({@link Backend.storesF16}: webgpu on a device with
 * `shader-f16`, 2 bytes an element) gets f16 avals and params unchanged and rounds in its own
 * kernels. Other backends never see the f16 dtype. The core hands them *storage avals*, where f16
 * is f32 (4 bytes an element on the host and on every device), with `f16` in a primitive's params
 * (`convert`'s and `iota`'s `dtype`) replaced by f32; after a primitive whose result is f16 the
 * core rounds it on the device with `convert` and `dtype: "f16"` on f32 storage, the one place a
 * backend meets the name: the reference rounds with `Math.f16round`, the native backend runs the
 * reference, and WebGPU rounds with integer operations on the f32 bits (exact and the same on
 * every adapter; it needs no `shader-f16`). Primitives that only move or select values (reshape,
 * transpose, slice, select, max, ...) skip the rounding: their results are f16 values already.
 *
 * Host side: `data()` of an f16 tensor gives a Float32Array (each value exactly an f16), as the
 * other dtypes give the typed array they are stored in; `toArray()` and `item()` give numbers.
 * `np.array(data, { dtype: "f16" })` rounds the data.
 *
 * `jit` of a function with f16 values compiles it rewritten to f32 storage with the roundings
 * staged, on a backend that fuses them ({@link Backend.fusesF16}, webgpu; see `f16_jit.ts`);
 * elsewhere, and for f16 values inside `scan`/`cond`/`whileLoop`/nested `jit`, it runs its staged
 * jaxpr primitive by primitive (traced and cached once, as every jit). A JS number passed to a
 * jitted function arrives as an f32 scalar tensor, not a weak one as in JAX, so it promotes an f16
 * operand to f32; close over it or mark it static. The primitives that reinterpret or decompose
 * (`bitcast`, `cholesky`, `lu`, `qr`, `eigh`, `svd`, `triangular_solve`) reject f16 with an error
 * naming the primitive; cast to f32 first, as JAX's CPU linear algebra asks too.
 *
 * @module
 */
import type { AvalLike, Backend, Buf } from "./backend.ts";
import { ShapedArray } from "./aval.ts";
import type { DType } from "./dtype.ts";
import type { Jaxpr } from "./jaxpr.ts";
import type { Params } from "./primitive.ts";

/** The primitives that have no f16 form (their meaning depends on the f32 representation). */
export const F16_UNSUPPORTED: ReadonlySet<string> = new Set([
  "bitcast",
  "cholesky",
  "lu",
  "qr",
  "eigh",
  "svd",
  "triangular_solve",
]);

/** Primitives whose f16 results are operand values (or ±0): no rounding needed after them. */
export const F16_EXACT: ReadonlySet<string> = new Set([
  "neg",
  "abs",
  "floor",
  "ceil",
  "round",
  "sign",
  "stop_gradient",
  "max",
  "min",
  "select",
  "reshape",
  "broadcast_in_dim",
  "transpose",
  "slice",
  "pad",
  "concatenate",
  "rev",
  "gather",
  "reduce_max",
  "reduce_min",
  "cummax",
  "cummin",
  "sort",
]);

const _STORAGE = new WeakMap<AvalLike, AvalLike>();

/**
 * The aval a backend stores an array of `aval` as: f16 becomes f32, others are unchanged (f16
 * too on a backend that {@link Backend.storesF16 stores f16} itself).
 *
 * @param aval The array's aval.
 * @param backend The backend holding it.
 * @returns The storage aval.
 */
export function storageAval<A extends AvalLike>(aval: A, backend?: Backend | null): A {
  if (aval.dtype !== "f16" || backend?.storesF16) return aval;
  let s = _STORAGE.get(aval);
  if (!s) {
    s = new ShapedArray(aval.shape, "f32");
    _STORAGE.set(aval, s);
  }
  return s as A;
}

function _involvesF16(
  avals: readonly AvalLike[],
  outAvals: readonly AvalLike[],
  params: Params,
): boolean {
  for (const a of avals) if (a.dtype === "f16") return true;
  for (const a of outAvals) if (a.dtype === "f16") return true;
  for (const k in params) if (params[k] === "f16") return true;
  return false;
}

/**
 * Params with `"f16"` values (a `dtype`) replaced by `"f32"`: the params on f32 storage.
 *
 * @param params The params.
 * @returns The storage params.
 */
export function storageParams(params: Params): Params {
  let out: Record<string, unknown> | null = null;
  for (const k in params) {
    if (params[k] === "f16") (out ??= { ...params })[k] = "f32";
  }
  return out ?? params;
}

/**
 * Runs one primitive on a backend with f16 arrays held as f32 storage, rounding f16 results
 * (see the module doc). Without f16 anywhere it is `backend.execute` itself.
 *
 * @param backend The backend.
 * @param prim The primitive's name.
 * @param bufs The operands' buffers.
 * @param avals The operands' avals.
 * @param params The primitive's params.
 * @param outAvals The results' avals.
 * @returns The results' buffers.
 * @throws {TypeError} for a primitive of {@link F16_UNSUPPORTED} on f16 values.
 */
export function executeWithF16(
  backend: Backend,
  prim: string,
  bufs: readonly Buf[],
  avals: readonly AvalLike[],
  params: Params,
  outAvals: readonly AvalLike[],
): Buf[] {
  if (!_involvesF16(avals, outAvals, params)) {
    return backend.execute(prim, bufs, avals, params, outAvals);
  }
  checkF16Support(prim, avals, outAvals);
  // a backend that stores f16 rounds in its own kernels
  if (backend.storesF16) return backend.execute(prim, bufs, avals, params, outAvals);
  const sIn = avals.map((a) => storageAval(a)), sOut = outAvals.map((a) => storageAval(a));
  if (prim === "convert" && params.dtype === "f16") {
    // one kernel: convert to f32 and round (the backend's convert to "f16" on f32 storage)
    return backend.execute("convert", bufs, sIn, params, sOut);
  }
  const outs = backend.execute(prim, bufs, sIn, storageParams(params), sOut);
  if (F16_EXACT.has(prim)) return outs;
  return outs.map((b, i) => outAvals[i].dtype === "f16" ? roundStored(backend, b, sOut[i]) : b);
}

/**
 * Throws for a primitive of {@link F16_UNSUPPORTED} applied to f16 values.
 *
 * @param prim The primitive's name.
 * @param avals The operands' avals.
 * @param outAvals The results' avals.
 * @throws {TypeError} naming the primitive and the f16 aval.
 */
export function checkF16Support(
  prim: string,
  avals: readonly AvalLike[],
  outAvals: readonly AvalLike[],
): void {
  if (!F16_UNSUPPORTED.has(prim)) return;
  const shown = [...avals, ...outAvals].find((a) => a.dtype === "f16");
  if (!shown) return;
  throw new TypeError(
    `${prim} does not support dtype f16 (f16[${shown.shape.join(",")}])\n` +
      `help: cast to f32 with astype("f32") first`,
  );
}

/**
 * Rounds f32 storage to f16 values on the backend (a new buffer; `b` is released).
 *
 * @param backend The backend.
 * @param b The f32 buffer.
 * @param aval Its (f32) aval.
 * @returns The rounded buffer.
 */
export function roundStored(backend: Backend, b: Buf, aval: AvalLike): Buf {
  const [r] = backend.execute("convert", [b], [aval], { dtype: "f16" }, [aval]);
  backend.release?.(b, aval);
  return r;
}

/**
 * Whether a jaxpr (or one nested in its equations' params) has an f16 value; `jit` runs such
 * jaxprs primitive by primitive.
 *
 * @param j The jaxpr.
 * @returns Whether f16 occurs.
 */
export function jaxprHasF16(j: Jaxpr): boolean {
  const seen = new Set<Jaxpr>();
  const is16 = (d: DType) => d === "f16";
  const visit = (x: Jaxpr): boolean => {
    if (seen.has(x)) return false;
    seen.add(x);
    for (const v of [...x.constvars, ...x.invars, ...x.outvars]) {
      if (v.aval && is16(v.aval.dtype)) return true;
    }
    for (const e of x.eqns) {
      for (const v of [...e.inputs, ...e.outputs]) if (v.aval && is16(v.aval.dtype)) return true;
      for (const k in e.params) if (visitParam(e.params[k])) return true;
    }
    return false;
  };
  const visitParam = (p: unknown): boolean => {
    if (p === "f16") return true;
    if (Array.isArray(p)) return p.some(visitParam);
    if (!p || typeof p !== "object") return false;
    // a Jaxpr, or anything holding one (ClosedJaxpr, custom rules); duck-typed so that this
    // module stays below jaxpr.ts in the import graph
    if ("eqns" in p && "invars" in p) return visit(p as Jaxpr);
    if ("jaxpr" in p) return visitParam(p.jaxpr);
    return false;
  };
  return visit(j);
}
