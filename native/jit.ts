/**
 * `jit` on the native backend: a jaxpr is compiled once into a list of steps (see
 * `jit_plan.ts`) — generated JavaScript loops for fused elementwise chains and reductions
 * (`jit_codegen.ts`), BLAS calls for `dot_general` and convolutions writing straight into their
 * buffers, and the backend's `execute` (or `bind`, for higher-order primitives) for the rest —
 * and replayed on every call.
 *
 * Memory: intermediates live in the executable's own arena, allocated at the first call and
 * reused by every later one; within a call a dead value's array is reused by a later value of
 * the same dtype and size, and a loop whose input dies there writes its output into it (in
 * place) when it reads that input only at its own index. Outputs are fresh arrays each call,
 * except where a donated input of the same dtype and size can hold one: the output is then
 * written into the donated array.
 *
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
import { paramsOf } from "../core/primitive.ts";
import { conv_general_dilated_p } from "../core/prims/conv.ts";
import { alloc } from "../core/prims/host.ts";
import { dot_general_p } from "../core/prims/linalg.ts";
import { Tensor } from "../core/tensor.ts";
import { bind } from "../core/trace.ts";
import type { Sgemm } from "./blas.ts";
import { allFinite, chooseConv, convF32, type ConvParamsLike } from "./conv.ts";
import { dotGeneralF32, type DotParams } from "./dot.ts";
import { generateLoop, type LoopKernel, NeedsBuffer } from "./jit_codegen.ts";
import {
  flattenJaxpr,
  type Fusion,
  type Group,
  groupReads,
  literalValue,
  type NGraph,
  type NVal,
  planFusion,
} from "./jit_plan.ts";

/** Options of {@link compileNative}. */
export interface NativeJitOptions {
  /** One flag per input (constants first): the input's array may receive an output. */
  readonly donated?: readonly boolean[];
  /** Host values of 0-d inputs known at compile time (inlined as literals). */
  readonly literals?: readonly (number | undefined)[];
}

/** Counters of the native jit (tests read them). */
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
 * --profile`).
 */
export const nativeJitProfile: { on: boolean; times: Map<string, [number, number]> } = {
  on: false,
  times: new Map(),
};

function _label(st: Step, avals: readonly ShapedArray[]): string {
  const sh = (n: number) => `${avals[n]}`;
  switch (st.kind) {
    case "loop":
      return `loop ${st.args.map(sh).join(",")}`;
    case "dot":
    case "conv":
      return `${st.kind} ${sh(st.l)},${sh(st.r)}->${sh(st.out)}`;
    case "op":
      return `${st.group.root!.prim} ${st.ins.map(sh).join(",")}`;
  }
}

/** Where a value lives during a call. */
type Slot =
  | { kind: "in"; index: number }
  | { kind: "arena"; index: number }
  | { kind: "out"; donor: number }
  | { kind: "ext" };

type Step =
  | { kind: "loop"; k: LoopKernel; args: number[] }
  | {
    kind: "dot";
    l: number;
    r: number;
    out: number;
    lShape: readonly number[];
    rShape: readonly number[];
    params: DotParams;
    /** A fused `w ± s · product` epilogue: `out ← w`, then the GEMM accumulates into it. */
    epi?: { w: number; alpha: number; scale: number };
  }
  | {
    kind: "conv";
    l: number;
    r: number;
    out: number;
    lShape: readonly number[];
    rShape: readonly number[];
    oShape: readonly number[];
    params: ConvParamsLike;
  }
  | { kind: "op"; group: Group; ins: number[]; outs: number[] };

/** A compiled program: steps over numbered values. */
interface Program {
  readonly steps: Step[];
  readonly slots: Slot[];
  /** Arena arrays: dtype and size. */
  readonly arena: ShapedArray[];
  /** Value number of each graph output. */
  readonly outs: number[];
  readonly avals: ShapedArray[];
  readonly text: string;
}

const _f32 = (v: NVal) => v.aval.dtype === "f32";

/** Plans the fusion, retrying with a buffer for every value code generation cannot index. */
function _fuse(g: NGraph): { f: Fusion; loops: Map<Group, LoopKernel> } {
  const forced = new Set<NVal>();
  for (;;) {
    const f = planFusion(g, forced);
    const loops = new Map<Group, LoopKernel>();
    try {
      for (const grp of f.groups) if (grp.kind !== "op") loops.set(grp, generateLoop(f, grp));
      return { f, loops };
    } catch (e) {
      if (!(e instanceof NeedsBuffer)) throw e;
      forced.add(e.value);
    }
  }
}

/** A GEMM whose only reader computes `w ± s · product` (an optimizer's update). */
interface GemmEpilogue {
  /** The loop it replaces. */
  readonly loop: Group;
  /** Its result. */
  readonly v: NVal;
  /** The buffer updated. */
  readonly w: NVal;
  /** `±1`, times the literal scale when there is one. */
  readonly alpha: number;
  /** A 0-d buffer holding the scale (multiplies alpha at run time), or null. */
  readonly scale: NVal | null;
}

/**
 * Finds GEMMs whose result is read by one loop computing `w − s·d`, `w + s·d` or `w ± d`
 * (`s` a scalar, `w` a buffer): the BLAS call then computes it (`beta = 1`, `alpha = ∓s`),
 * with no pass over the product.
 */
function _gemmEpilogues(
  f: Fusion,
  g: NGraph,
  reads: Map<Group, Map<NVal, boolean>>,
  isGemm: (grp: Group) => boolean,
): Map<Group, GemmEpilogue> {
  const out = new Map<Group, GemmEpilogue>();
  const isOut = new Set(g.outputs);
  const readers = new Map<NVal, Group[]>();
  for (const [grp, r] of reads) {
    for (const v of r.keys()) {
      let l = readers.get(v);
      if (!l) readers.set(v, l = []);
      l.push(grp);
    }
  }
  const inner = (v: NVal, c: Group) => !f.materialized.has(v) || c.computes.has(v);
  for (const grp of f.groups) {
    if (!isGemm(grp) || grp.root!.prim !== "dot_general") continue;
    const d = grp.root!.outputs[0];
    const rs = readers.get(d) ?? [];
    if (isOut.has(d) || rs.length !== 1 || rs[0].kind !== "ew" || rs[0].outs.length !== 1) continue;
    const c = rs[0], v = c.outs[0], ev = f.producer.get(v)!;
    if (ev.prim !== "sub" && ev.prim !== "add") continue;
    // which operand is w (a buffer), which the scaled product
    const cands: [number, number][] = ev.prim === "sub" ? [[0, -1]] : [[0, 1], [1, 1]];
    for (const [wi, sign] of cands) {
      const w = ev.inputs[wi], t = ev.inputs[1 - wi];
      if (inner(w, c) || w === d || grp.root!.inputs.includes(w) || w.aval.size !== d.aval.size) {
        continue;
      }
      let alpha = sign, scale: NVal | null = null;
      if (t !== d) {
        const et = f.producer.get(t);
        if (!et || et.prim !== "mul" || !inner(t, c)) continue;
        const si = et.inputs[0] === d ? 1 : et.inputs[1] === d ? 0 : -1;
        if (si < 0) continue;
        const sb = et.inputs[si], eb = f.producer.get(sb);
        if (!eb || eb.prim !== "broadcast_in_dim" || !inner(sb, c)) continue;
        const s0 = eb.inputs[0], es = f.producer.get(s0);
        if (s0.aval.ndim !== 0) continue;
        if (es?.prim === "literal" && inner(s0, c)) {
          alpha *= Math.fround(literalValue(es));
        } else if (f.materialized.has(s0) && !c.computes.has(s0)) scale = s0;
        else continue;
      }
      // the loop computes nothing else (its reads are w, d and the scale)
      const r = reads.get(c)!;
      if ([...r.keys()].some((x) => x !== w && x !== d && x !== scale)) continue;
      out.set(grp, { loop: c, v, w, alpha, scale });
      break;
    }
  }
  return out;
}

function _plan(g: NGraph, donated: readonly boolean[] | undefined): Program {
  const { f, loops } = _fuse(g);
  const ids = new Map<NVal, number>();
  const avals: ShapedArray[] = [];
  const num = (v: NVal) => {
    let i = ids.get(v);
    if (i === undefined) {
      ids.set(v, i = avals.length);
      avals.push(v.aval);
    }
    return i;
  };
  const slots: Slot[] = [];
  g.inputs.forEach((v, i) => (slots[num(v)] = { kind: "in", index: i }));
  const isGemm = (grp: Group) =>
    grp.kind === "op" && (grp.root!.prim === "dot_general" ||
      grp.root!.prim === "conv_general_dilated") &&
    grp.root!.inputs.every(_f32) && _f32(grp.root!.outputs[0]);
  const readMap = new Map(f.groups.map((grp) => [grp, groupReads(f, grp)] as const));
  const epis = _gemmEpilogues(f, g, readMap, isGemm);
  const gone = new Set([...epis.values()].map((e) => e.loop));
  const order = f.groups.filter((grp) => !gone.has(grp));
  // a step whose results nobody reads (an update) runs after the last read of the donated
  // inputs it reads, so that their arrays can take its results
  const isDonated = new Set(g.inputs.filter((_, i) => donated?.[i]));
  // what a step reads at its own index (what its results could overwrite)
  const readsOf = (grp: Group) => {
    const e = epis.get(grp);
    return e ? [e.w] : [...readMap.get(grp)!].filter(([, id]) => id).map(([v]) => v);
  };
  for (const grp of [...order]) {
    if (grp.kind === "op" && !epis.has(grp)) continue;
    const outs = epis.has(grp) ? [epis.get(grp)!.v] : grp.outs;
    if (order.some((x) => outs.some((o) => readMap.get(x)!.has(o)))) continue;
    const olds = readsOf(grp).filter((v) => isDonated.has(v));
    if (!olds.length) continue;
    let last = -1;
    order.forEach((x, k) => {
      if (x !== grp && olds.some((v) => readMap.get(x)!.has(v))) last = k;
    });
    const at = order.indexOf(grp);
    if (last > at) {
      order.splice(at, 1);
      order.splice(last, 0, grp);
    }
  }
  const reads = order.map((grp) => {
    const r = new Map(readMap.get(grp)!);
    const e = epis.get(grp);
    if (e) {
      r.set(e.w, true); // copied into the result at its own index
      if (e.scale) r.set(e.scale, false);
    }
    return r;
  });
  // last step reading each value (outputs live to the end)
  const lastRead = new Map<NVal, number>();
  reads.forEach((r, s) => r.forEach((_, v) => lastRead.set(v, s)));
  const isOut = new Set(g.outputs);
  // donors: donated inputs by dtype/size, each usable once, after its last read
  const donors = g.inputs.map((v, i) => ({ v, i, used: !donated?.[i] }));
  const arena: ShapedArray[] = [];
  const free = new Map<string, number[]>();
  const keyOf = (a: ShapedArray) => `${a.dtype}:${a.size}`;
  const take = (a: ShapedArray): number => {
    const l = free.get(keyOf(a));
    if (l?.length) return l.pop()!;
    return arena.push(a) - 1;
  };
  const give = (v: NVal) => {
    const s = slots[num(v)];
    if (s?.kind !== "arena" || isOut.has(v)) return;
    const k = keyOf(v.aval);
    let l = free.get(k);
    if (!l) free.set(k, l = []);
    l.push(s.index);
  };
  const steps: Step[] = [];
  order.forEach((grp, s) => {
    const loop = loops.get(grp);
    const epi = epis.get(grp);
    const written = loop || isGemm(grp);
    const inPlace = loop || epi;
    // inputs dying here that the step reads only at its own index may take its outputs
    if (inPlace) {
      for (const [v, identity] of reads[s]) if (identity && lastRead.get(v) === s) give(v);
    }
    for (const v of epi ? [epi.v] : grp.outs) {
      const n = num(v);
      if (!written) slots[n] = { kind: "ext" };
      else if (isOut.has(v)) {
        const d = donors.find((d) =>
          !d.used && d.v.aval.dtype === v.aval.dtype && d.v.aval.size === v.aval.size &&
          !isOut.has(d.v) && (lastRead.get(d.v) ?? -1) < s + (inPlace && reads[s].get(d.v) ? 1 : 0)
        );
        if (d) d.used = true;
        slots[n] = { kind: "out", donor: d ? d.i : -1 };
      } else slots[n] = { kind: "arena", index: take(v.aval) };
    }
    if (loop) steps.push({ kind: "loop", k: loop, args: loop.args.map(num) });
    else if (written) {
      const e = grp.root!;
      const [l, r] = e.inputs.map(num), out = num(epi ? epi.v : e.outputs[0]);
      const [ls, rs] = e.inputs.map((x) => x.aval.shape);
      const fused = epi
        ? { w: num(epi.w), alpha: epi.alpha, scale: epi.scale ? num(epi.scale) : -1 }
        : undefined;
      steps.push(
        e.prim === "dot_general"
          ? {
            kind: "dot",
            l,
            r,
            out,
            lShape: ls,
            rShape: rs,
            params: paramsOf(dot_general_p, e.params),
            epi: fused,
          }
          : {
            kind: "conv",
            l,
            r,
            out,
            lShape: ls,
            rShape: rs,
            oShape: e.outputs[0].aval.shape,
            params: paramsOf(conv_general_dilated_p, e.params),
          },
      );
    } else {
      steps.push({
        kind: "op",
        group: grp,
        ins: grp.root!.inputs.map(num),
        outs: grp.outs.map(num),
      });
    }
    // values read for the last time here (not taken in place) go back to the free lists
    for (const [v, identity] of reads[s]) {
      if (lastRead.get(v) === s && !(inPlace && identity)) give(v);
    }
    // outputs nobody reads (dead results of multi-output ops) are free at once
    for (const v of epi ? [epi.v] : grp.outs) if (!lastRead.has(v) && !isOut.has(v)) give(v);
  });
  const outs = g.outputs.map(num);
  const text =
    steps.map((st) =>
      _label(st, avals) + (st.kind === "dot" && st.epi ? "  (+ epilogue w ± s·product)" : "")
    ).join("\n") + "\n---\n" + [...loops.values()].map((k) => k.source).join("\n---\n");
  return { steps, slots, arena, outs, avals, text };
}

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
  const p = _plan(g, opts.donated);
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
    const owned = new Set<unknown>(A);
    if (nativeJitProfile.on) {
      for (const st of p.steps) {
        const t = performance.now();
        _run(backend, sgemm, isBlas, st, vals, p.avals, owned);
        const k = _label(st, p.avals), e = nativeJitProfile.times.get(k) ?? [0, 0];
        e[0] += performance.now() - t;
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
      const l = vals[st.l] as Float32Array;
      const m = chooseConv(st.lShape, st.rShape, st.oShape, st.params, allFinite(l), isBlas);
      convF32(
        sgemm,
        m,
        l,
        st.lShape,
        vals[st.r] as Float32Array,
        st.rShape,
        st.params,
        vals[st.out] as Float32Array,
        st.oShape,
      );
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
      // a result that is an arena array (an op returning its operand) is copied out of it
      st.outs.forEach((n, i) => {
        const b = outs[i] as TypedArray;
        vals[n] = owned.has(b) ? b.slice() : b;
      });
      return;
    }
  }
}
