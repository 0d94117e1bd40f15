/**
 * `jit` on the native backend: a jaxpr is compiled once into a list of steps (fusion in
 * `jit_plan.ts`, the program in `jit_steps.ts`) — generated loops for fused elementwise chains
 * and reductions (`jit_codegen.ts`: a Wasm SIMD128 kernel for an f32 chain over contiguous rows,
 * `wasm_kernels.ts`; JavaScript otherwise), BLAS calls for `dot_general` and
 * convolutions writing straight into their buffers (a GEMM whose only reader is `w ± s·product`
 * accumulates into `w`), and the backend's `execute` (or `bind`, for higher-order primitives)
 * for the rest — and replayed on every call.
 *
 * Memory: intermediates live in the executable's own arena, allocated at the first call and
 * reused by every later one; within a call a dead value's array is reused by a later value of
 * the same dtype and size, and a loop whose input dies there writes its output into it (in
 * place) when it reads that input only at its own index. Outputs are fresh arrays each call,
 * except where a donated input of the same dtype and size can hold one: the output is then
 * written into the donated array.
 *
 * `DENAX_NATIVE_WASM=0` compiles every loop to JavaScript (the same bits, slower);
 * `DENAX_NATIVE_THREADS=n` lets Wasm kernels over at least 2¹⁷ values use a worker pool
 * (`pool.ts`; off by default).
 * `DENAX_NATIVE_JIT=0` turns it off (the jaxpr is then interpreted primitive by primitive);
 * `DENAX_DEBUG=2` prints each compiled program's steps, `3` also the generated loops. In the
 * float64 mode of the gradient checks (`withFloat64`) executables interpret the jaxpr.
 *
 * @module
 */
import { ShapedArray } from "../core/aval.ts";
import type { Backend, Buf } from "../core/backend.ts";
import type { TypedArray } from "../core/dtype.ts";
import { evalJaxpr, type Jaxpr } from "../core/jaxpr.ts";
import type { CompiledJaxpr } from "../core/jit_prim.ts";
import { alloc } from "../core/prims/host.ts";
import { Tensor } from "../core/tensor.ts";
import { bind } from "../core/trace.ts";
import type { Sgemm } from "./blas.ts";
import { allFinite, chooseConv, convF32 } from "./conv.ts";
import { cropTaps } from "./conv_crop.ts";
import { dotGeneralF32 } from "./dot.ts";
import { flattenJaxpr } from "./jit_plan.ts";
import { label, planProgram, type Step } from "./jit_steps.ts";

/** Options of {@link compileNative}. */
export interface NativeJitOptions {
  /** One flag per input (constants first): the input's array may receive an output. */
  readonly donated?: readonly boolean[];
  /** Host values of 0-d inputs known at compile time (inlined as literals). */
  readonly literals?: readonly (number | undefined)[];
}

/**
 * Counters of the native jit (tests read them).
 *
 * @example
 * ```ts
 * import { init, jit, np } from "@denax/denax";
 * import { nativeJitStats } from "./jit.ts";
 * await init({ backend: "native" });
 * const before = nativeJitStats.loops;
 * const f = jit((x: ReturnType<typeof np.array>) => np.tanh(x.mul(2)).add(1));
 * const y = await f(np.array([0, 1])).data();
 * if (nativeJitStats.loops !== before + 1) throw new Error("one fused loop");
 * if (Math.abs(y[1] - (Math.tanh(2) + 1)) > 1e-6) throw new Error(`got ${y[1]}`);
 * ```
 */
export const nativeJitStats = {
  /** Programs compiled. */
  compiles: 0,
  /** Fused loops generated. */
  loops: 0,
  /** Outputs written into donated arrays. */
  donatedWrites: 0,
  /** GEMMs compiled with a fused `w ± s · product` update. */
  gemmEpilogues: 0,
};

/**
 * Time per step label, summed over calls, while `on` (for profiling: `bench/native_bench.ts
 * --profile`), read from `clock` (ms; wall time by default, a benchmark may set the process's
 * CPU time, which load from other processes does not inflate).
 */
export const nativeJitProfile: {
  on: boolean;
  times: Map<string, [number, number]>;
  clock: () => number;
} = {
  on: false,
  times: new Map(),
  clock: () => performance.now(),
};

/** Whether reference implementations allocate f32 as Float64Array now (`withFloat64`). */
const _float64Mode = (): boolean => alloc(new ShapedArray([1], "f32")) instanceof Float64Array;

/**
 * Compiles a jaxpr for the native backend.
 *
 * @param backend the native backend (owner of the results)
 * @param sgemm the GEMM
 * @param isBlas whether the GEMM is a BLAS (for the convolution's choice of lowering)
 * @param j the jaxpr (constvars, if any, are its leading inputs)
 * @param opts donation flags and inlined literals
 * @param debug 0: quiet; 1: a line per compile; 2: the steps; 3: also the loops
 * @returns the executable
 */
export function compileNative(
  backend: Backend,
  sgemm: Sgemm,
  isBlas: boolean,
  j: Jaxpr,
  opts: NativeJitOptions = {},
  debug = 0,
): CompiledJaxpr {
  const t0 = performance.now();
  const g = flattenJaxpr(j, opts.literals);
  const p = planProgram(g, opts.donated);
  nativeJitStats.compiles++;
  nativeJitStats.loops += p.steps.filter((s) => s.kind === "loop").length;
  nativeJitStats.gemmEpilogues += p.steps.filter((s) => s.kind === "dot" && s.epi).length;
  if (debug >= 1) {
    console.error(
      `[denax:native-jit] ${j.eqns.length} eqns -> ${p.steps.length} steps (${
        p.steps.filter((s) => s.kind === "loop").length
      } loops), arena ${p.arena.length} arrays, ${(performance.now() - t0).toFixed(1)} ms`,
    );
  }
  if (debug >= 2) {
    console.error(debug >= 3 ? p.text : p.text.split("\n---\n")[0].split("\nconst fr")[0]);
  }
  let arena: TypedArray[] | null = null;
  let bytes = 0;
  const nc = j.constvars.length;
  const exe = ((args: Tensor[]): Tensor[] => {
    if (_float64Mode()) return evalJaxpr(j, args.slice(0, nc), args.slice(nc));
    if (!arena) {
      arena = p.arena.map((a) => alloc(a));
      bytes = arena.reduce((s, a) => s + a.byteLength, 0);
    }
    const A = arena;
    const vals: (TypedArray | undefined)[] = new Array(p.avals.length);
    const ins = args.map((a) => _hostArray(backend, a));
    p.slots.forEach((s, n) => {
      if (s.kind === "in") vals[n] = ins[s.index];
      else if (s.kind === "arena") vals[n] = A[s.index];
      else if (s.kind === "out") {
        const d = s.donor >= 0 ? ins[s.donor] : undefined;
        // a donated array passed twice (or also undonated) is not taken
        if (d && ins.filter((x) => x === d).length === 1) {
          vals[n] = d;
          nativeJitStats.donatedWrites++;
        } else vals[n] = alloc(p.avals[n]);
      }
    });
    // arrays an op must not return as its result (copied out if it does)
    const owned = new Set<unknown>([...A, ...ins]);
    if (nativeJitProfile.on) {
      for (const st of p.steps) {
        const t = nativeJitProfile.clock();
        _run(backend, sgemm, isBlas, st, vals, p.avals, owned);
        const k = label(st, p.avals), e = nativeJitProfile.times.get(k) ?? [0, 0];
        e[0] += nativeJitProfile.clock() - t;
        e[1]++;
        nativeJitProfile.times.set(k, e);
      }
    } else for (const st of p.steps) _run(backend, sgemm, isBlas, st, vals, p.avals, owned);
    const tensors = new Map<number, Tensor>();
    return p.outs.map((n) => {
      const s = p.slots[n];
      if (s.kind === "in") return args[s.index];
      let t = tensors.get(n);
      if (!t) tensors.set(n, t = new Tensor(p.avals[n], vals[n], backend));
      return t;
    });
  }) as CompiledJaxpr;
  Object.defineProperty(exe, "deviceBytes", { get: () => (arena ? bytes : 0) });
  Object.defineProperty(exe, "release", {
    value: () => {
      arena = null;
      bytes = 0;
    },
  });
  Object.defineProperty(exe, "program", { value: p.text });
  return exe;
}

function _hostArray(backend: Backend, a: Tensor): TypedArray {
  if (a._backend === backend || !a._backend?.readSync) return a._buf as TypedArray;
  return a._backend.readSync(a._buf, a.aval);
}

function _run(
  backend: Backend,
  sgemm: Sgemm,
  isBlas: boolean,
  st: Step,
  vals: (TypedArray | undefined)[],
  avals: readonly ShapedArray[],
  owned: Set<unknown>,
): void {
  switch (st.kind) {
    case "loop": {
      const a = st.args;
      const fn = st.k.fn;
      // positional calls for the common arities (V8 inlines them better than apply)
      switch (a.length) {
        case 1:
          fn(vals[a[0]]!);
          break;
        case 2:
          fn(vals[a[0]]!, vals[a[1]]!);
          break;
        case 3:
          fn(vals[a[0]]!, vals[a[1]]!, vals[a[2]]!);
          break;
        case 4:
          fn(vals[a[0]]!, vals[a[1]]!, vals[a[2]]!, vals[a[3]]!);
          break;
        default:
          fn(...a.map((n) => vals[n]!));
      }
      return;
    }
    case "dot": {
      const out = vals[st.out] as Float32Array, e = st.epi;
      let alpha = 1;
      if (e) {
        const w = vals[e.w]!;
        if (w !== out) out.set(w);
        alpha = e.scale >= 0 ? e.alpha * vals[e.scale]![0] : e.alpha;
      }
      dotGeneralF32(
        sgemm,
        vals[st.l] as Float32Array,
        st.lShape,
        vals[st.r] as Float32Array,
        st.rShape,
        st.params,
        out,
        alpha,
        e ? 1 : 0,
      );
      return;
    }
    case "conv": {
      const l = vals[st.l] as Float32Array, r0 = vals[st.r] as Float32Array;
      // kernel taps that meet only padding are dropped first (conv_crop.ts), as eagerly
      const c = cropTaps(st.lShape, r0, st.rShape, st.oShape, st.params);
      const [r, rShape, p] = c ? [c.r, c.rShape, c.p] : [r0, st.rShape, st.params];
      const m = chooseConv(st.lShape, rShape, st.oShape, p, () => allFinite(l), isBlas);
      convF32(sgemm, m, l, st.lShape, r, rShape, p, vals[st.out] as Float32Array, st.oShape);
      return;
    }
    case "op": {
      const e = st.group.root!;
      const ins = st.ins.map((n) => vals[n]!);
      let outs: Buf[];
      if (e.primitive?.higherOrder) {
        const ts = st.ins.map((n, i) => new Tensor(avals[n], ins[i], backend));
        outs = bind(e.primitive, ts, e.params).map((t) => t._buf);
      } else {
        outs = backend.execute(
          e.prim,
          ins,
          st.ins.map((n) => avals[n]),
          e.params,
          st.outs.map((n) => avals[n]),
        );
      }
      // a result that is an arena or caller array (an op returning its operand) is copied
      st.outs.forEach((n, i) => {
        const b = outs[i] as TypedArray;
        vals[n] = owned.has(b) ? b.slice() : b;
      });
      return;
    }
  }
}
