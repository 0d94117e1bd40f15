/**
 * Fused `jit` of f16 programs. A jaxpr with f16 values is rewritten to f32 storage with the
 * rounding staged: every f16 variable becomes an f32 one, and after each primitive whose f16
 * result is not an operand value ({@link F16_EXACT}) comes a `convert` with `dtype: "f16"` on
 * f32 storage, the rounding that eager execution runs after the same primitive
 * (`executeWithF16`). A backend that lowers that convert as the rounding
 * ({@link Backend.fusesF16}) compiles the rewritten program into its fused kernels, where the
 * roundings become expressions inside them: the results are bit-identical to eager f16, which
 * rounds after every primitive too (rounding once at the end of a fused chain instead would
 * differ from eager, and from NumPy and JAX on the CPU, in the last f16 bit).
 *
 * On a backend that holds f16 as f32 the rewritten program runs on the arrays' own buffers; on
 * one that {@link Backend.storesF16 stores f16} (2 bytes an element) its f16 inputs are widened
 * to f32 and its f16 results rounded back to f16 storage, one elementwise kernel each, at the
 * program's boundary — unless the backend's executable takes and gives them as f16 itself
 * (`f16Io`; webgpu's keeps the f16 values of the program in 2 bytes, `gpu/jit/half_io.ts`).
 *
 * Programs with higher-order primitives (`scan`, `cond`, a nested `jit_call`, ...) over f16
 * values keep running primitive by primitive.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import { checkF16Support, F16_EXACT, jaxprHasF16, storageAval, storageParams } from "./f16.ts";
import { type Eqn, Jaxpr, Var } from "./jaxpr.ts";
import { getPrimitive } from "./primitive.ts";
import type { ShapedArray } from "./aval.ts";
import { Tensor } from "./tensor.ts";

/** A compiled program: tensors in, tensors out (with an executable's optional extras). */
export type F16Compiled = ((args: Tensor[]) => Tensor[]) & {
  readonly deviceBytes?: number;
  release?(): void;
  /** It takes its f16 inputs and gives its f16 results as f16 tensors itself. */
  readonly f16Io?: boolean;
};

/**
 * `j` rewritten to f32 storage with a rounding after each f16-producing primitive (see the
 * module doc), or null when a higher-order primitive meets f16 values.
 *
 * @param j The jaxpr (with f16 values).
 * @returns The rewritten jaxpr, or null.
 * @throws {TypeError} for a primitive without an f16 form (`checkF16Support`).
 */
export function f16StorageJaxpr(j: Jaxpr): Jaxpr | null {
  const vars = new Map<Var, Var>();
  const map = (v: Var): Var => {
    if (v.aval.dtype !== "f16") return v;
    let s = vars.get(v);
    if (!s) vars.set(v, s = new Var(storageAval(v.aval)));
    return s;
  };
  const convert = getPrimitive("convert");
  const eqns: Eqn[] = [];
  for (const e of j.eqns) {
    if (e.prim.higherOrder) {
      if (jaxprHasF16(new Jaxpr([], [], [e], []))) return null;
      eqns.push(e);
      continue;
    }
    checkF16Support(e.prim.name, e.inputs.map((v) => v.aval), e.outputs.map((v) => v.aval));
    const toF16 = e.prim.name === "convert" && e.params.dtype === "f16";
    const round = !toF16 && !F16_EXACT.has(e.prim.name);
    const rounded: [Var, Var][] = [];
    const outputs = e.outputs.map((v) => {
      const s = map(v);
      if (!round || v.aval.dtype !== "f16") return s;
      const t = new Var(s.aval);
      rounded.push([t, s]);
      return t;
    });
    eqns.push({
      prim: e.prim,
      inputs: e.inputs.map(map),
      params: toF16 ? e.params : storageParams(e.params),
      outputs,
    });
    for (const [t, s] of rounded) {
      eqns.push({ prim: convert, inputs: [t], params: { dtype: "f16" }, outputs: [s] });
    }
  }
  return new Jaxpr(j.constvars.map(map), j.invars.map(map), eqns, j.outvars.map(map));
}

/**
 * Which inputs (constants first) and results of a compiled program the caller holds as f16
 * (the f16 values of the original jaxpr), passed to `compileJaxpr` as its `f16` option.
 */
export interface F16Io {
  /** Per input: an f16 value. */
  readonly ins: readonly boolean[];
  /** Per result: an f16 value. */
  readonly outs: readonly boolean[];
}

/**
 * The f16 inputs and results of `j`, as `compileJaxpr`'s `f16` option for its storage form.
 *
 * @param j The original jaxpr (constvars first among the inputs).
 * @returns The flags.
 */
export function f16Io(j: Jaxpr): F16Io {
  return {
    ins: [...j.constvars, ...j.invars].map((v) => v.aval.dtype === "f16"),
    outs: j.outvars.map((v) => v.aval.dtype === "f16"),
  };
}

/**
 * Wraps `exe`, compiled from `f16StorageJaxpr(j)`, to take and give `j`'s tensors: f16 inputs
 * become f32 storage tensors and f32 storage results f16 tensors (on a backend storing f16,
 * with a widening or rounding kernel each; otherwise sharing the buffers). An executable that
 * takes and gives the f16 tensors itself (`f16Io`, compiled with the `f16` option) is returned
 * as it is.
 *
 * @param backend The backend `exe` runs on.
 * @param j The original jaxpr (constvars first among the inputs).
 * @param exe The executable of the rewritten jaxpr.
 * @returns The wrapped executable.
 */
export function f16Executable(backend: Backend, j: Jaxpr, exe: F16Compiled): F16Compiled {
  if (exe.f16Io) return exe;
  const io = f16Io(j);
  const outAvals = j.outvars.map((v) => v.aval);
  const run = (args: Tensor[]): Tensor[] => withF16Boundary(backend, args, io.ins, outAvals, exe);
  return Object.defineProperties(run, {
    deviceBytes: { get: () => exe.deviceBytes },
    release: { value: exe.release && (() => exe.release!()) },
  }) as F16Compiled;
}

/**
 * Runs `run` with the inputs that `widen` selects widened from f16 to f32 storage tensors, and
 * rounds each result whose wanted aval (`outAvals`) is f16 but whose own is not back to an f16
 * tensor; the widened copies and the f32 results are released after.
 *
 * @param backend The backend the tensors live on.
 * @param args The inputs.
 * @param widen Per input: widen it (an f16 tensor).
 * @param outAvals The avals the results are to have.
 * @param run The computation over the widened inputs.
 * @returns The results, with `outAvals`.
 */
export function withF16Boundary(
  backend: Backend,
  args: Tensor[],
  widen: readonly boolean[],
  outAvals: readonly ShapedArray[],
  run: (ins: Tensor[]) => Tensor[],
): Tensor[] {
  const up = (t: Tensor): Tensor => {
    const aval = storageAval(t.aval);
    if (!backend.storesF16) return new Tensor(aval, t._buf, t._backend);
    const [b] = backend.execute("convert", [t._buf], [t.aval], { dtype: "f32" }, [aval]);
    return new Tensor(aval, b, backend);
  };
  const ins = args.map((t, i) => (widen[i] ? up(t) : t));
  const outs = run(ins);
  const halves = new Map<Tensor, unknown>();
  const res = outs.map((t, i) => {
    if (outAvals[i].dtype !== "f16" || t.aval.dtype === "f16") return t;
    let b = halves.get(t);
    if (b === undefined) halves.set(t, b = _narrow(t, backend));
    return new Tensor(outAvals[i], b, backend);
  });
  ins.forEach((t, i) => {
    if (t === args[i]) return;
    // a donated f16 input is consumed with its storage copy
    if (t._consumed !== undefined) args[i]._consumed ??= t._consumed;
    else if (backend.storesF16) t[Symbol.dispose]();
  });
  if (backend.storesF16) { for (const t of halves.keys()) t[Symbol.dispose](); }
  return res;
}

/** The buffer of an f16 result from its f32 storage tensor `t` (f16 storage: a new buffer). */
function _narrow(t: Tensor, backend: Backend): unknown {
  if (!backend.storesF16) return t._buf;
  const half = { shape: t.aval.shape, dtype: "f16" as const };
  return backend.execute("convert", [t._buf], [t.aval], { dtype: "f16" }, [half])[0];
}
