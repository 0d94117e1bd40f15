/**
 * The `native` backend: the CPU at native speed. GEMM and convolution run through the
 * platform's BLAS, loaded with `Deno.dlopen` (see `blas.ts`; this folder may use `Deno.*`
 * because the FFI is its reason to exist — nothing touches `Deno` before the backend is
 * created, so importing it stays portable), or through a packed TypeScript GEMM where no BLAS
 * can be loaded; elementwise, reduction and movement primitives run as tight `Float32Array`
 * loops (`kernels.ts`). Every other primitive, every non-f32 case and the float64 mode of the
 * gradient checks (`withFloat64`) use the reference implementations of `core/cpu.ts`'s
 * primitives, so the backend is complete by construction. Buffers are host typed arrays, as on
 * the reference backend, and reads are synchronous.
 *
 * `jit` programs are compiled (`jit.ts`): fused elementwise chains and reductions become
 * generated JavaScript loops, GEMMs and convolutions write into buffers the executable keeps
 * between calls, and donated inputs receive outputs in place (`DENAX_NATIVE_JIT=0`: interpret
 * equation by equation instead).
 *
 * f32 differences from the reference: GEMM and convolution accumulate in f32 inside the BLAS
 * (the reference accumulates in float64), so sums over K terms differ by about `K · 2⁻²⁴`
 * relative; `exp`, `log`, `tanh` and `logistic` run as Wasm SIMD128 kernels within 2 ulp of the
 * true value (`wasm_math.ts`; the jit reproduces their bits); the other elementwise ops and
 * the reductions are bit-identical.
 *
 * @example
 * ```ts
 * import { backendInfo, init, np } from "@denax/denax";
 * await init({ backend: "native" });
 * const a = np.array([[1, 2], [3, 4]]);
 * const p = await a.matmul(a).toArray();
 * console.log(backendInfo().name, p); // native [[7, 10], [15, 22]]
 * if (JSON.stringify(p) !== "[[7,10],[15,22]]") throw new Error(`got ${p}`);
 * await init({ backend: "cpu" });
 * ```
 *
 * @module
 */
import { ShapedArray } from "../core/aval.ts";
import { type AvalLike, type Backend, type Buf, registerBackend } from "../core/backend.ts";
import type { TypedArray } from "../core/dtype.ts";
import { getPrimitive, type HostArray, type Params, paramsOf } from "../core/primitive.ts";
import { conv_general_dilated_p } from "../core/prims/conv.ts";
import { dot_general_p } from "../core/prims/linalg.ts";
import { argmax_p, reduce_sum_p } from "../core/prims/reduce.ts";
import {
  broadcast_in_dim_p,
  concatenate_p,
  iota_p,
  pad_p,
  rev_p,
  slice_p,
  transpose_p,
} from "../core/prims/structural.ts";
import { reduce_window_p } from "../core/prims/window.ts";
import { alloc } from "../core/prims/host.ts";
import { type Blas, loadBlas } from "./blas.ts";
import { allFinite, chooseConv, convF32, type ConvMethod } from "./conv.ts";
import { dotGeneralF32 } from "./dot.ts";
import {
  argReduceF32,
  BINARY_F32,
  BINARY_U32,
  CMP_I32,
  concatenate,
  gather,
  iotaFill,
  type ReduceKind,
  reduceMiddle,
  selectF32,
  stridesOf,
  UNARY_F32,
} from "./kernels.ts";
import { softwareOnlyAdapter } from "./select.ts";
import { cropTaps } from "./conv_crop.ts";
import { padF32, reduceWindowF32, windowFast } from "./window.ts";
import { selectAndGatherAddF32, selectAndScatterAddF32 } from "./window_select.ts";
import { compileNative, type NativeJitOptions } from "./jit.ts";
import type { Jaxpr } from "../core/jaxpr.ts";
import type { CompiledJaxpr } from "../core/jit_prim.ts";
import { env } from "../core/env.ts";
import { keepFreedMemory } from "./heap.ts";

/** Options of {@link createNativeBackend}. */
export interface NativeBackendOptions {
  /**
   * A BLAS library path to use instead of the search (`$DENAX_BLAS`, then the usual places), or
   * `false` for the TypeScript GEMM.
   */
  readonly blas?: string | false;
  /** Where the one-line fallback notice goes (default: stderr, once per process). */
  readonly warn?: (line: string) => void;
}

/** The native backend, with the GEMM it uses. */
export interface NativeBackend extends Backend {
  /** The BLAS (or the TypeScript GEMM) behind `dot_general` and `conv_general_dilated`. */
  readonly blas: Blas;
  /**
   * Compiles a jaxpr into fused loops and GEMM calls (see `jit.ts`); absent when
   * `DENAX_NATIVE_JIT=0` (then `jit` interprets the jaxpr).
   */
  readonly compileJaxpr?: (j: Jaxpr, opts?: NativeJitOptions) => CompiledJaxpr;
}

const REDUCE: Readonly<Record<string, ReduceKind>> = {
  reduce_sum: "sum",
  reduce_max: "max",
  reduce_min: "min",
};

/**
 * Creates the native backend.
 *
 * @param opts the BLAS to use and where the fallback notice goes
 * @returns the backend
 * @throws {BlasLoadError} when a BLAS exists at a searched path but cannot be loaded
 * @example
 * ```ts
 * import { createNativeBackend } from "./backend.ts";
 * const b = createNativeBackend({ blas: false, warn: () => {} });
 * console.log(b.name); // native
 * if (b.name !== "native") throw new Error(`got ${b.name}`);
 * ```
 */
export function createNativeBackend(opts: NativeBackendOptions = {}): NativeBackend {
  const blas = loadBlas(opts);
  keepFreedMemory();
  const sgemm = blas.sgemm;
  const reference = (
    prim: string,
    inputs: readonly Buf[],
    inAvals: readonly AvalLike[],
    params: Params,
    outAvals: readonly AvalLike[],
  ): Buf[] => {
    const p = getPrimitive(prim);
    if (!p.impl) throw new Error(`internal: primitive ${prim} has no reference implementation`);
    const hs: HostArray[] = inputs.map((b, i) => ({
      data: b as TypedArray,
      aval: asShaped(inAvals[i]),
    }));
    return p.impl(hs, params, outAvals.map(asShaped));
  };
  const jitOn = env("DENAX_NATIVE_JIT") !== "0";
  const debug = Number(env("DENAX_DEBUG") ?? 0) || 0;
  const backend: NativeBackend = {
    name: "native",
    description: `native (${blas.path ? "BLAS " + blas.description : blas.description})`,
    blas,
    compileJaxpr: jitOn
      ? (j: Jaxpr, o?: NativeJitOptions): CompiledJaxpr =>
        compileNative(backend, sgemm, !!blas.path, j, o, debug)
      : undefined,
    upload(data: TypedArray): Buf {
      return data;
    },
    read(buf: Buf): Promise<TypedArray> {
      return Promise.resolve((buf as TypedArray).slice());
    },
    readSync(buf: Buf): TypedArray {
      return buf as TypedArray;
    },
    execute(prim, inputs, inAvals, params, outAvals): Buf[] {
      const fast = executeFast(sgemm, !!blas.path, prim, inputs, inAvals, params, outAvals);
      return fast ?? reference(prim, inputs, inAvals, params, outAvals);
    },
  };
  if (!jitOn) delete (backend as { compileJaxpr?: unknown }).compileJaxpr;
  return backend;
}

/** The native loop for one primitive, or null where the reference implementation serves. */
function executeFast(
  sgemm: Blas["sgemm"],
  isBlas: boolean,
  prim: string,
  inputs: readonly Buf[],
  inAvals: readonly AvalLike[],
  params: Params,
  outAvals: readonly AvalLike[],
): Buf[] | null {
  const o = outAvals[0];
  if (!o || outAvals.length !== 1) return null;
  const x = inputs[0] as TypedArray;
  switch (prim) {
    case "dot_general":
    case "conv_general_dilated": {
      const [l, r] = inputs as TypedArray[];
      if (!(l instanceof Float32Array) || !(r instanceof Float32Array)) return null;
      const out = alloc(asShaped(o));
      if (!(out instanceof Float32Array)) return null;
      if (prim === "dot_general") {
        dotGeneralF32(
          sgemm,
          l,
          inAvals[0].shape,
          r,
          inAvals[1].shape,
          paramsOf(dot_general_p, params),
          out,
        );
      } else {
        // kernel taps that meet only padding are dropped first (conv_crop.ts)
        const p0 = paramsOf(conv_general_dilated_p, params);
        const c = cropTaps(inAvals[0].shape, r, inAvals[1].shape, o.shape, p0);
        const [w, wShape, p] = c ? [c.r, c.rShape, c.p] : [r, inAvals[1].shape, p0];
        const method: ConvMethod = chooseConv(
          inAvals[0].shape,
          wShape,
          o.shape,
          p,
          () => allFinite(l),
          isBlas,
        );
        convF32(sgemm, method, l, inAvals[0].shape, w, wShape, p, out, o.shape);
      }
      return [out];
    }
    case "reshape": {
      const out = alloc(asShaped(o));
      out.set(x as never);
      return [out];
    }
    case "transpose":
    case "broadcast_in_dim":
    case "slice":
    case "rev": {
      const out = alloc(asShaped(o));
      const B = prim === "rev" ? revBlock(inAvals[0].shape, paramsOf(rev_p, params).axes) : 0;
      if (B > 0 && x instanceof Float32Array && out instanceof Float32Array) {
        revBlocksF32(x, B, out);
        return [out];
      }
      const [base, st] = movement(prim, inAvals[0].shape, o.shape, params);
      gather(x, base, o.shape, st, out);
      return [out];
    }
    case "select": {
      const [p, a, b] = inputs as TypedArray[];
      if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return null;
      if (!(p instanceof Uint8Array)) return null;
      const out = alloc(asShaped(o));
      if (!(out instanceof Float32Array)) return null;
      selectF32(p, a, b, out);
      return [out];
    }
    case "pad":
    case "reduce_window": {
      if (!(x instanceof Float32Array)) return null;
      const out = alloc(asShaped(o));
      if (!(out instanceof Float32Array)) return null;
      if (prim === "pad") {
        const { lo, interior } = paramsOf(pad_p, params);
        padF32(x, inAvals[0].shape, (inputs[1] as Float32Array)[0], lo, interior, out, o.shape);
        return [out];
      }
      const p = paramsOf(reduce_window_p, params);
      if (!windowFast(inAvals[0].shape, o.shape, p)) return null;
      reduceWindowF32(x, inAvals[0].shape, p, out, o.shape);
      return [out];
    }
    case "select_and_gather_add":
    case "select_and_scatter_add": {
      // max/min pooling's derivatives; inputs (t or ct, x)
      const [t, xs] = inputs as TypedArray[];
      if (!(t instanceof Float32Array) || !(xs instanceof Float32Array)) return null;
      const p = paramsOf(reduce_window_p, params);
      const scatter = prim === "select_and_scatter_add";
      const windows = scatter ? inAvals[0].shape : o.shape;
      if (!windowFast(inAvals[1].shape, windows, p)) return null;
      const out = alloc(asShaped(o));
      if (!(out instanceof Float32Array)) return null;
      if (scatter) selectAndScatterAddF32(t, xs, inAvals[1].shape, p, out, windows);
      else selectAndGatherAddF32(t, xs, inAvals[1].shape, p, out, windows);
      return [out];
    }
    case "convert": {
      // bool → f32 (masks in every softmax and ReLU gradient); u32 → f32 (unpacked pixels)
      if (o.dtype !== "f32" || !(x instanceof Uint8Array || x instanceof Uint32Array)) {
        return null;
      }
      const out = alloc(asShaped(o));
      if (!(out instanceof Float32Array)) return null;
      if (x instanceof Uint8Array) { for (let i = 0; i < x.length; i++) out[i] = x[i] ? 1 : 0; }
      else for (let i = 0; i < x.length; i++) out[i] = x[i];
      return [out];
    }
    case "iota": {
      const out = alloc(asShaped(o));
      const { dimension } = paramsOf(iota_p, params);
      iotaFill(out, o.shape, dimension);
      return [out];
    }
    case "argmax":
    case "argmin": {
      if (!(x instanceof Float32Array)) return null;
      const out = alloc(asShaped(o));
      if (!(out instanceof Int32Array || out instanceof Uint32Array)) return null;
      const { axis } = paramsOf(argmax_p, params);
      argReduceF32(x, inAvals[0].shape, axis, prim === "argmax", out);
      return [out];
    }
    case "concatenate": {
      const out = alloc(asShaped(o));
      if (!inputs.every((b) => (b as TypedArray).constructor === out.constructor)) return null;
      const { axis } = paramsOf(concatenate_p, params);
      concatenate(inputs as TypedArray[], inAvals.map((a) => a.shape), axis, out, o.shape);
      return [out];
    }
  }
  if (x instanceof Int32Array && CMP_I32[prim] && inputs[1] instanceof Int32Array) {
    const out = alloc(asShaped(o));
    if (!(out instanceof Uint8Array)) return null;
    CMP_I32[prim](x, inputs[1] as Int32Array, out);
    return [out];
  }
  if (x instanceof Uint32Array) {
    const y = inputs[1], f = BINARY_U32[prim];
    if (!f || inputs.length !== 2 || !(y instanceof Uint32Array) || o.dtype !== "u32") return null;
    const out = alloc(asShaped(o)) as Uint32Array;
    f(x, y, out);
    return [out];
  }
  if (!(x instanceof Float32Array)) return null;
  const red = REDUCE[prim];
  if (red) {
    const out = alloc(asShaped(o));
    if (!(out instanceof Float32Array)) return null;
    // the four reductions share ReduceParams: reduce_sum's description serves them all
    reduceF32(x, inAvals[0].shape, paramsOf(reduce_sum_p, params).axes, red, out);
    return [out];
  }
  const un = UNARY_F32[prim];
  if (un && inputs.length === 1) {
    const out = alloc(asShaped(o));
    if (!(out instanceof Float32Array)) return null;
    un(x, out);
    return [out];
  }
  const bin = BINARY_F32[prim];
  if (bin && inputs.length === 2) {
    const y = inputs[1];
    if (!(y instanceof Float32Array)) return null;
    const out = alloc(asShaped(o));
    if (o.dtype === "f32" && !(out instanceof Float32Array)) return null;
    bin(x, y, out);
    return [out];
  }
  return null;
}

/**
 * The size of the blocks a `rev` of the trailing dims reverses whole (reversing each of a
 * row-major block's dims reverses its flat order: a convolution kernel's spatial flip), or 0
 * when the reversed axes are not exactly the trailing ones.
 */
function revBlock(shape: readonly number[], axes: readonly number[]): number {
  const nd = shape.length, k = axes.length;
  if (k === 0) return 0;
  const set = new Set(axes);
  for (let d = nd - k; d < nd; d++) if (!set.has(d)) return 0;
  return shape.slice(nd - k).reduce((a, b) => a * b, 1);
}

/** `out` = `x` with each block of `B` elements in reverse order (a monomorphic loop). */
function revBlocksF32(x: Float32Array, B: number, out: Float32Array): void {
  for (let o = 0; o < x.length; o += B) {
    for (let j = 0, i = o + B - 1; j < B; j++, i--) out[o + j] = x[i];
  }
}

/** The base offset and per-output-dim source strides of a movement primitive. */
function movement(
  prim: string,
  inShape: readonly number[],
  outShape: readonly number[],
  params: Params,
): [number, number[]] {
  const xs = stridesOf(inShape);
  switch (prim) {
    case "transpose":
      return [0, paramsOf(transpose_p, params).perm.map((p) => xs[p])];
    case "broadcast_in_dim": {
      const st = outShape.map(() => 0);
      paramsOf(broadcast_in_dim_p, params).broadcastDimensions.forEach((d, i) => {
        st[d] = inShape[i] === 1 ? 0 : xs[i];
      });
      return [0, st];
    }
    case "slice": {
      const { start, strides } = paramsOf(slice_p, params);
      const base = start.reduce((a, s, k) => a + s * xs[k], 0);
      return [base, xs.map((s, k) => s * strides[k])];
    }
    default: {
      // rev: reversed axes start at their last element and step backwards
      const axes = paramsOf(rev_p, params).axes;
      let base = 0;
      const st = xs.map((s, k) => {
        if (!axes.includes(k)) return s;
        base += (inShape[k] - 1) * s;
        return -s;
      });
      return [base, st];
    }
  }
}

/** Reduces over sorted `axes`: in place when they are one contiguous run, else after a gather. */
function reduceF32(
  x: Float32Array,
  shape: readonly number[],
  axes: readonly number[],
  kind: ReduceKind,
  out: Float32Array,
): void {
  const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
  let src = x, sh = shape, ax = axes;
  if (!contiguous) {
    // move the reduced axes last
    const keep = shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const perm = [...keep, ...axes];
    const xs = stridesOf(shape);
    src = new Float32Array(x.length);
    sh = perm.map((p) => shape[p]);
    gather(x, 0, sh, perm.map((p) => xs[p]), src);
    ax = axes.map((_, i) => keep.length + i);
  }
  const prod = (a: number, b: number) => a * b;
  const outer = sh.slice(0, ax[0] ?? sh.length).reduce(prod, 1);
  const r = ax.map((a) => sh[a]).reduce(prod, 1);
  const inner = sh.slice(ax.length ? ax[ax.length - 1] + 1 : sh.length).reduce(prod, 1);
  if (ax.length === 0) {
    out.set(src);
    return;
  }
  reduceMiddle(src, outer, r, inner, kind, out);
}

function asShaped(a: AvalLike): ShapedArray {
  return a instanceof ShapedArray ? a : new ShapedArray(a.shape, a.dtype);
}

/**
 * Registers {@link createNativeBackend} with the core under the name "native", and asks
 * `init()` to prefer it where WebGPU offers only a software (CPU) adapter or none.
 *
 * @example
 * ```ts
 * import { backendInfo, init } from "@denax/denax";
 * import { registerNativeBackend } from "./backend.ts";
 * registerNativeBackend(); // the package entry does this on import
 * await init({ backend: "native" }); // so the name resolves
 * if (backendInfo().name !== "native") throw new Error(`got ${backendInfo().name}`);
 * await init({ backend: "cpu" });
 * ```
 */
export function registerNativeBackend(): void {
  registerBackend("native", () => Promise.resolve(createNativeBackend()), softwareOnlyAdapter);
}
