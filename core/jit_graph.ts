/**
 * The flat graph both jits compile (the WebGPU jit's `gpu/jit/`, the native jit's `native/`),
 * the one flattening of a jaxpr into it, and the backend-independent passes over it:
 * dead-code elimination, the rewrite of `transpose(dot_general(a, b))` into
 * `dot_general(b, a)`, the value of a `literal` equation, and the call-like primitives whose
 * jaxprs are inlined. Fusion over this graph is `jit_fusion.ts`.
 *
 * {@link flattenJaxpr} inlines calls and turns 0-d inputs with a known host value into
 * literals for both jits; what differs is in its {@link FlattenOptions}: the WebGPU jit
 * numbers values globally (its kernel names show the ids), keeps only the primitives it has a
 * WGSL lowering for (the others become `core` equations, run by the core between compiled
 * segments), and flattens control flow (`cond` into `select`s, `scan` into a nested body
 * graph); the native jit numbers values from 0 per graph, keeps every primitive (those without
 * a fused loop run through its backend's `execute`, higher-order ones through `bind`), and
 * leaves `cond` and `scan` as equations.
 *
 * @module
 */
import { ShapedArray } from "./aval.ts";
import { cond_p, scan_p } from "./control.ts";
import type { Jaxpr, Var } from "./jaxpr.ts";
import { checkpoint_p, custom_jvp_call_p, custom_vjp_call_p } from "./custom.ts";
import { jit_call_p } from "./jit_prim.ts";
import { type Params, paramsOf, type Primitive } from "./primitive.ts";
import { dot_general_p } from "./prims/linalg.ts";
import { concatenate_p, transpose_p } from "./prims/structural.ts";

/** A value of a flat graph, compared by identity. */
export interface FlatVal {
  /** Unique id within its graph. */
  readonly id: number;
  /** Shape and dtype. */
  readonly aval: ShapedArray;
}

/** One equation of a flat graph (backends add their own fields). */
export interface FlatEqn<V extends FlatVal = FlatVal> {
  /** The primitive's name, or a backend's own node ("literal", …). */
  readonly prim: string;
  /** Its params. */
  readonly params: Params;
  /** Operands. */
  readonly inputs: readonly V[];
  /** Results. */
  readonly outputs: readonly V[];
}

/** A flat program: inputs, equations in dependency order, outputs (which may repeat). */
export interface FlatGraph<V extends FlatVal = FlatVal, E extends FlatEqn<V> = FlatEqn<V>> {
  /** The caller's arrays. */
  readonly inputs: readonly V[];
  /** Equations in dependency order. */
  readonly eqns: readonly E[];
  /** Outputs. */
  readonly outputs: readonly V[];
}

/** One equation of a jit's graph. */
export interface JitEqn extends FlatEqn<FlatVal> {
  /**
   * A first-order primitive's name, or one of the graph's own nodes: "literal" (a scalar
   * `params.value` of `params.dtype`), "step_slice" (slice `params.step` of a stacked scan
   * input, offset by the loop step), "scan" (with `body`) or "core" (evaluated by binding
   * `corePrim`).
   */
  readonly prim: string;
  /** The primitive of an equation named after it (absent for the graph's own nodes). */
  readonly primitive?: Primitive;
  /** The body of a "scan": inputs [consts, carry, stacked xs], outputs [carry, ys]. */
  readonly body?: JitGraph;
  /** The primitive of a "core" equation. */
  readonly corePrim?: Primitive;
}

/** A jit's flat program: inputs (constvars first), equations in order, outputs. */
export type JitGraph = FlatGraph<FlatVal, JitEqn>;

/** Call-like primitives whose jaxpr (`params.jaxpr`) the jits inline, by name. */
export const CALL_PRIMS: ReadonlyMap<string, Primitive<{ readonly jaxpr: Jaxpr }>> = new Map(
  [jit_call_p, custom_jvp_call_p, custom_vjp_call_p, checkpoint_p].map((p) => [p.name, p]),
);

/**
 * The value of a `literal` equation (a scalar in `params.value`).
 *
 * @param e The equation.
 * @returns Its value.
 * @throws Error when the equation carries no number.
 */
export function literalValue(e: FlatEqn<FlatVal>): number {
  const v = e.params.value;
  if (typeof v !== "number") throw new Error(`internal: ${e.prim} has no literal value`);
  return v;
}

/**
 * Dead-code elimination (every equation is pure).
 *
 * @param g A graph.
 * @returns The graph without the equations whose results nothing uses.
 */
export function dce<V extends FlatVal, E extends FlatEqn<V>>(
  g: FlatGraph<V, E>,
): FlatGraph<V, E> {
  const live = new Set<V>(g.outputs);
  const kept: E[] = [];
  for (let i = g.eqns.length - 1; i >= 0; i--) {
    const e = g.eqns[i];
    if (e.outputs.some((v) => live.has(v))) {
      kept.push(e);
      e.inputs.forEach((v) => live.add(v));
    }
  }
  return { inputs: g.inputs, eqns: kept.reverse(), outputs: g.outputs };
}

/**
 * `transpose(dot_general(a, b))` that swaps the two free blocks is `dot_general(b, a)`: the
 * transposed GEMM writes the layout its consumers want (reverse mode makes this pattern for
 * every weight gradient), so an elementwise consumer (the optimizer update) can become its
 * epilogue. The rewritten equation keeps the dot's other fields (a backend's own).
 *
 * @param g A graph.
 * @returns The graph with each such pair replaced by one `dot_general`.
 */
export function rewriteTransposedDots<V extends FlatVal, E extends FlatEqn<V>>(
  g: FlatGraph<V, E>,
): FlatGraph<V, E> {
  const users = new Map<V, number>();
  for (const e of g.eqns) for (const x of e.inputs) users.set(x, (users.get(x) ?? 0) + 1);
  for (const v of g.outputs) users.set(v, (users.get(v) ?? 0) + 1);
  const byOut = new Map<V, number>();
  g.eqns.forEach((e, k) => e.outputs.forEach((v) => byOut.set(v, k)));
  const eqns: (E | null)[] = [...g.eqns];
  g.eqns.forEach((t, k) => {
    if (t.prim !== "transpose" || users.get(t.inputs[0]) !== 1) return;
    const di = byOut.get(t.inputs[0]);
    const d = di === undefined ? null : eqns[di];
    if (!d || d.prim !== "dot_general") return;
    const { contracting: [lc, rc], batch: [lb, rb] } = paramsOf(dot_general_p, d.params);
    const [a, b] = d.inputs;
    const nb = lb.length, nl = a.aval.ndim - nb - lc.length, nr = b.aval.ndim - nb - rc.length;
    const want = [
      ...Array.from({ length: nb }, (_, i) => i),
      ...Array.from({ length: nr }, (_, i) => nb + nl + i),
      ...Array.from({ length: nl }, (_, i) => nb + i),
    ];
    const perm = paramsOf(transpose_p, t.params).perm;
    if (perm.length !== want.length || perm.some((p, i) => p !== want[i])) return;
    eqns[di!] = null;
    eqns[k] = {
      ...d,
      params: { ...d.params, contracting: [rc, lc], batch: [rb, lb] },
      inputs: [b, a],
      outputs: t.outputs,
    };
  });
  return { inputs: g.inputs, eqns: eqns.filter((e): e is E => e !== null), outputs: g.outputs };
}

/**
 * `concatenate(a₁, …, a_k)` where the graph already concatenates a prefix `a₁, …, a_m`
 * (m ≥ 2, same axis) earlier becomes `concatenate(that, a_{m+1}, …, a_k)`: a dense block
 * written as torchvision writes it (each layer concatenates every earlier output) then
 * concatenates two values per layer, as d2l's does, and its layers' kernels differ only in
 * sizes. The longest such prefix is used; the values are the same.
 *
 * @param g A graph.
 * @returns The graph with each such concatenation reading its prefix's.
 */
export function rewritePrefixConcats<V extends FlatVal, E extends FlatEqn<V>>(
  g: FlatGraph<V, E>,
): FlatGraph<V, E> {
  const seen = new Map<string, V>();
  let changed = false;
  const eqns = g.eqns.map((e) => {
    if (e.prim !== "concatenate") return e;
    const axis = paramsOf(concatenate_p, e.params).axis;
    const key = (n: number) => `${axis}|${e.inputs.slice(0, n).map((v) => v.id).join(",")}`;
    let out = e;
    for (let m = e.inputs.length - 1; m >= 2; m--) {
      const prev = seen.get(key(m));
      if (prev === undefined) continue;
      out = { ...e, inputs: [prev, ...e.inputs.slice(m)] };
      changed = true;
      break;
    }
    seen.set(key(e.inputs.length), e.outputs[0]);
    return out;
  });
  return changed ? { inputs: g.inputs, eqns, outputs: g.outputs } : g;
}

/** A flattened graph (or scan body) without dead equations, its GEMMs and concatenations rewritten. */
function _rewrite(g: JitGraph): JitGraph {
  return rewritePrefixConcats(rewriteTransposedDots(dce(g)));
}

let _nextId = 0;
/**
 * A fresh value numbered from a counter global to the process (the WebGPU jit's numbering).
 *
 * @param aval Its shape and dtype.
 * @returns The value.
 */
export function newVal(aval: ShapedArray): FlatVal {
  return { id: _nextId++, aval };
}

/**
 * Whether a graph (or a nested scan body) holds a `core` equation.
 *
 * @param g The graph.
 * @returns True when some equation is evaluated by the core.
 */
export function hasCore(g: JitGraph): boolean {
  return g.eqns.some((e) => e.prim === "core" || (e.body !== undefined && hasCore(e.body)));
}

/** What a backend's jit keeps of a jaxpr when {@link flattenJaxpr} flattens it. */
export interface FlattenOptions {
  /** Allocates the graph's values (default: {@link newVal}, numbered globally). */
  readonly newVal?: (aval: ShapedArray) => FlatVal;
  /**
   * Whether the backend compiles equations of a primitive (default: every one); the others
   * become "core" equations.
   */
  readonly compiles?: (name: string) => boolean;
  /**
   * Whether `cond` becomes every branch followed by `select`s (one branch where the index is
   * a literal) and `scan` keeps its body as a nested graph; otherwise both stay equations.
   */
  readonly control?: boolean;
}

class _Flattener {
  readonly eqns: JitEqn[] = [];
  constructor(readonly o: FlattenOptions, readonly fresh: (aval: ShapedArray) => FlatVal) {}

  emit(prim: string, params: Params, inputs: readonly FlatVal[], outAvals: ShapedArray[]) {
    const outputs = outAvals.map(this.fresh);
    this.eqns.push({ prim, params, inputs, outputs });
    return outputs;
  }

  literal(value: number, dtype: ShapedArray["dtype"]): FlatVal {
    return this.emit("literal", { value, dtype }, [], [new ShapedArray([], dtype)])[0];
  }

  /** Inlines `j` applied to `args`; returns its outputs. */
  inline(j: Jaxpr, args: readonly FlatVal[]): FlatVal[] {
    // constvars, where a jaxpr still has them, are its leading inputs
    const env = new Map<Var, FlatVal>();
    [...j.constvars, ...j.invars].forEach((v, i) => env.set(v, args[i]));
    const read = (v: Var) => {
      const g = env.get(v);
      if (!g) throw new Error("internal: unbound variable while inlining a jaxpr");
      return g;
    };
    for (const e of j.eqns) {
      const outs = this.eqn(e.prim, e.params, e.inputs.map(read), e.outputs.map((v) => v.aval));
      e.outputs.forEach((v, i) => env.set(v, outs[i]));
    }
    return j.outvars.map(read);
  }

  eqn(prim: Primitive, params: Params, ins: FlatVal[], outAvals: ShapedArray[]): FlatVal[] {
    const name = prim.name;
    const call = CALL_PRIMS.get(name);
    if (call) return this.inline(paramsOf(call, params).jaxpr, ins);
    if (this.o.control && name === "cond") return this.cond(prim, params, ins, outAvals);
    if (this.o.control && name === "scan") return this.scan(prim, params, ins, outAvals);
    if (this.o.compiles?.(name) ?? true) {
      const outputs = outAvals.map(this.fresh);
      this.eqns.push({ prim: name, primitive: prim, params, inputs: ins, outputs });
      return outputs;
    }
    return this.core(prim, params, ins, outAvals);
  }

  core(prim: Primitive, params: Params, ins: FlatVal[], outAvals: ShapedArray[]): FlatVal[] {
    const outputs = outAvals.map(this.fresh);
    this.eqns.push({ prim: "core", params, inputs: ins, outputs, corePrim: prim });
    return outputs;
  }

  cond(prim: Primitive, params: Params, ins: FlatVal[], outAvals: ShapedArray[]): FlatVal[] {
    const { branches } = paramsOf(cond_p, params);
    const [idx, ...ops] = ins;
    const lit = this.eqns.find((e) => e.prim === "literal" && e.outputs[0] === idx);
    if (branches.length === 1 || lit) {
      const k = lit ? Math.max(0, Math.min(branches.length - 1, literalValue(lit))) : 0;
      return this.inline(branches[k], ops);
    }
    // A branch that loops or leaves the compiler must not run unconditionally.
    const trial = new _Flattener(this.o, this.fresh);
    const results = branches.map((b) => trial.inline(b, ops));
    if (trial.eqns.some((e) => e.prim === "core" || (e.body && hasCore(e.body)))) {
      return this.core(prim, params, ins, outAvals);
    }
    this.eqns.push(...trial.eqns);
    // out = cases[0]; then cases[i] wherever index >= i (the index is clamped, as in lax.cond)
    return outAvals.map((a, k) => {
      let out = results[0][k];
      for (let i = 1; i < branches.length; i++) {
        const ge = this.emit("ge", {}, [idx, this.literal(i, "i32")], [
          new ShapedArray([], "bool"),
        ]);
        const bcast = { shape: [...a.shape], broadcastDimensions: [] };
        const p = this.emit("broadcast_in_dim", bcast, ge, [new ShapedArray(a.shape, "bool")])[0];
        out = this.emit("select", {}, [p, results[i][k], out], [a])[0];
      }
      return out;
    });
  }

  scan(prim: Primitive, params: Params, ins: FlatVal[], outAvals: ShapedArray[]): FlatVal[] {
    const { jaxpr: j, numConsts: nc, numCarry: ncar, length: L } = paramsOf(scan_p, params);
    const bodyIns = ins.map((v) => this.fresh(v.aval));
    const f = new _Flattener(this.o, this.fresh);
    const slices = bodyIns.slice(nc + ncar).map((x, s) =>
      f.emit("step_slice", { step: s }, [x], [
        new ShapedArray(x.aval.shape.slice(1), x.aval.dtype),
      ])[0]
    );
    const outs = f.inline(j, [...bodyIns.slice(0, nc + ncar), ...slices]);
    const body = _rewrite({ inputs: bodyIns, eqns: f.eqns, outputs: outs });
    if (hasCore(body) || L === 0) return this.core(prim, params, ins, outAvals);
    const outputs = outAvals.map(this.fresh);
    this.eqns.push({ prim: "scan", params, inputs: ins, outputs, body });
    return outputs;
  }
}

/**
 * Flattens a jaxpr into a {@link JitGraph}: constvars (if any) become the leading inputs,
 * calls (`jit_call`, `custom_jvp_call`, `custom_vjp_call`, `checkpoint`) are inlined (a call
 * is pure, so inlining changes nothing but the kernel boundaries), 0-d inputs with a known
 * host value are read as literals, dead equations are dropped, transposed GEMMs rewritten
 * ({@link rewriteTransposedDots}) and concatenations read their prefix's
 * ({@link rewritePrefixConcats}), in scan bodies too; `o` says what else the backend keeps.
 *
 * @param j The jaxpr.
 * @param literals Host values of 0-d inputs to inline as literals (undefined: a buffer).
 * @param o The backend's options.
 * @returns The graph.
 */
export function flattenJaxpr(
  j: Jaxpr,
  literals?: readonly (number | undefined)[],
  o: FlattenOptions = {},
): JitGraph {
  const f = new _Flattener(o, o.newVal ?? newVal);
  const inputs = [...j.constvars, ...j.invars].map((v) => f.fresh(v.aval));
  // 0-d inputs with a known host value are read as literals (the input stays, unused)
  const args = inputs.map((v, i) => {
    const lit = literals?.[i];
    return lit !== undefined && v.aval.ndim === 0 ? f.literal(lit, v.aval.dtype) : v;
  });
  const outs = f.inline(j, args);
  return _rewrite({ inputs, eqns: f.eqns, outputs: outs });
}
