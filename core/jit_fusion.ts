/**
 * Fusion, once for both jits: which values of a flat graph (`jit_graph.ts`) get a buffer,
 * which kernels (the WebGPU jit's dispatches, the native jit's loops) compute the rest, and in
 * which order they run. The WebGPU jit (`gpu/jit/fusion.ts`) and the native jit
 * (`native/jit_plan.ts`) call {@link planFusion} with their {@link FusionPolicy}.
 *
 * 1. **Inlining.** A value the policy fuses (`rootKind` null: elementwise and movement
 *    primitives the backend can index) is computed inside the kernels that read it, unless it
 *    is an output, is `forced` (a value the backend's code generation found it cannot index),
 *    feeds a kernel that needs a buffer (anything but a reduction, or a GEMM that takes
 *    prologues), is read by several kernels and is not cheap (more than {@link DUP_COST}
 *    arithmetic ops would be recomputed, or more than {@link MAX_SHARED_READERS} readers),
 *    carries more than one arithmetic op and is read through an expanding broadcast (it would
 *    be recomputed per copy), or would make a kernel read more buffers than it may bind.
 * 2. **Groups.** Each materialized fused value is an elementwise group ("ew"); each other
 *    equation roots a group of the kind the policy names ("reduce" reads its operand through
 *    its fused expression; "dot" does too where the policy allows GEMM prologues).
 * 3. **Epilogues.** A group of a kind that computes its results at an output index absorbs an
 *    "ew" consumer of the same index space that reads its results only at that index
 *    (`dot + bias + relu`, `sum * (1/n)`, a chain of loops), unless that would close a cycle
 *    through a third group or bind too many buffers. The merged group writes every result
 *    still read elsewhere.
 * 4. **Schedule.** Groups run in graph order, moved only as far as their reads require
 *    ({@link schedule}).
 *
 * What each backend decides is in its policy: the WebGPU jit has binding limits, GEMMs with
 * operand prologues (up to 8 ops) and epilogues on reductions, GEMMs and convolutions,
 * flat-indexed kernels (same element count is the same index space), and a literal with many
 * readers gets a buffer; the native jit has no binding limit, GEMMs that read plain arrays
 * (BLAS), epilogues only between loops, shaped loops (the same shape), recomputes literals,
 * and fuses only the primitives and dtypes its loops have code for.
 *
 * @module
 */
import type { DType } from "./dtype.ts";
import type { FlatVal, JitEqn, JitGraph } from "./jit_graph.ts";
import { ELEMENTWISE_PRIMS } from "./prims/names.ts";

/** Arithmetic ops a value may carry and still be recomputed by several readers. */
export const DUP_COST = 3;
/** Readers a fused value may have, however cheap, before it gets a buffer. */
export const MAX_SHARED_READERS = 4;

/** What a backend's jit decides for itself (see the module doc). */
export interface FusionPolicy<K extends string> {
  /** The kind of group an equation roots, or null when it is fused into its readers. */
  rootKind(e: JitEqn): K | null;
  /** Kinds that compute their results at an output index and take "ew" epilogues. */
  readonly epilogued: ReadonlySet<K | "ew">;
  /** Buffers one kernel may bind (Infinity: no limit). */
  readonly maxBindings: number;
  /**
   * Arithmetic ops a "dot" operand may carry and be fused into its loads, provided it reads a
   * buffer of its own storage type (absent: GEMMs read buffers).
   */
  readonly dotPrologueCost?: number;
  /** Whether an epilogue's index space must match by element count or by shape. */
  readonly sameSpace: "size" | "shape";
  /** The element type a buffer of `dtype` holds (GEMM outputs and prologues must match it). */
  storageType(dtype: DType): string;
  /** Whether a literal read by many readers is recomputed by each rather than stored. */
  readonly recomputeLiterals: boolean;
  /**
   * Sibling reductions: groups of this kind whose roots have the same primitive, operand
   * aval and params, and that read a buffer in common, merge into one kernel computing up to
   * `max` of them (absent: every reduction is its own kernel).
   */
  readonly siblings?: { readonly kind: K; readonly max: number };
  /** Fusible equations whose result always gets a buffer (absent: none). */
  readonly materialize?: (e: JitEqn) => boolean;
}

/** One kernel (or loop, or opaque equation) of the program. */
export interface Group<K extends string = string> {
  /** How it computes: "ew" (fused elementwise) or the policy's kind of its root. */
  readonly kind: K | "ew";
  /** The equation it computes (absent for "ew"). */
  readonly root?: JitEqn;
  /**
   * Sibling equations it computes with its root, in the same loops (policy `siblings`: same
   * primitive, operand aval and params as the root).
   */
  siblings?: JitEqn[];
  /** The values it writes. */
  outs: FlatVal[];
  /**
   * The materialized values it computes: its root's results, or its "ew" value, and those of
   * the epilogues merged into it (kept in `outs` where another group reads them). The fused
   * values it evaluates inside are not listed: they are what its reads lead through.
   */
  readonly computes: Set<FlatVal>;
  /** Elements of its output index space (kinds that take epilogues; else 0). */
  readonly size: number;
  /** The shape of its output index space (kinds that take epilogues; else []). */
  readonly space: readonly number[];
}

/** How a group reads one buffer. */
export interface ReadInfo {
  /** Every read is at the group's own output index, after any reduction or GEMM. */
  identity: boolean;
}

/** The result of fusion. */
export interface Fusion<K extends string = string> {
  /** The groups, in an order that respects their dependencies (see {@link schedule}). */
  groups: Group<K>[];
  /** Values with a buffer. */
  readonly materialized: Set<FlatVal>;
  /** The producer of every computed value. */
  readonly producer: Map<FlatVal, JitEqn>;
  /** The group that writes each materialized value (graph inputs have none). */
  readonly writer: Map<FlatVal, Group<K>>;
  /** The policy it was planned with. */
  readonly policy: FusionPolicy<K>;
}

const _EW = new Set<string>(ELEMENTWISE_PRIMS);

/**
 * Groups a graph's equations into kernels: inlining, groups, epilogues, schedule (see the
 * module doc).
 *
 * @param g The graph.
 * @param policy The backend's policy.
 * @param forced Values that must have a buffer.
 * @returns The fusion, groups in dependency order.
 */
export function planFusion<K extends string>(
  g: JitGraph,
  policy: FusionPolicy<K>,
  forced: ReadonlySet<FlatVal> = new Set(),
): Fusion<K> {
  const producer = new Map<FlatVal, JitEqn>();
  const users = new Map<FlatVal, JitEqn[]>();
  const kinds = new Map<JitEqn, K | null>();
  for (const e of g.eqns) {
    kinds.set(e, policy.rootKind(e));
    e.outputs.forEach((v) => producer.set(v, e));
    for (const x of new Set(e.inputs)) {
      let l = users.get(x);
      if (!l) users.set(x, l = []);
      l.push(e);
    }
  }
  const kindOf = (e: JitEqn) => kinds.get(e)!;
  const isOut = new Set(g.outputs);
  const materialized = new Set<FlatVal>([...g.inputs, ...forced]);
  const cost = new Map<FlatVal, number>();
  // the buffers each fused value reads (only where a binding limit or a prologue needs them)
  const track = Number.isFinite(policy.maxBindings) || policy.dotPrologueCost !== undefined;
  const leafSets = new Map<FlatVal, Set<FlatVal>>();
  const leavesOf = (x: FlatVal) => (materialized.has(x) ? new Set([x]) : leafSets.get(x)!);
  const maxLeaves = Math.max(2, policy.maxBindings - 4);
  const st = policy.storageType;
  // fused values computed from literals only: their readers' compilers fold them, so copies
  // and several readers cost nothing (the `-1 / n` that seeds a mean's cotangent)
  const constant = new Set<FlatVal>();
  for (const e of g.eqns) {
    if (kindOf(e) !== null) {
      e.outputs.forEach((v) => materialized.add(v));
      continue;
    }
    const v = e.outputs[0];
    const c = (_EW.has(e.prim) ? 1 : 0) +
      e.inputs.reduce((s, x) => s + (materialized.has(x) ? 0 : cost.get(x)!), 0);
    const isConst = e.prim === "literal" ||
      (e.inputs.length > 0 && e.inputs.every((x) => constant.has(x) && !materialized.has(x)));
    const leaves = new Set<FlatVal>();
    if (track) { for (const x of e.inputs) for (const l of leavesOf(x)) leaves.add(l); }
    const us = users.get(v) ?? [];
    const needsBuffer = us.some((u) => {
      const k = kindOf(u);
      if (k === null || k === "reduce") return false;
      const pc = policy.dotPrologueCost;
      if (k !== "dot" || pc === undefined || c > pc) return true;
      return ![...leaves].some((l) => st(l.aval.dtype) === st(v.aval.dtype));
    });
    const expands = !isConst &&
      us.some((u) =>
        u.prim === "broadcast_in_dim" && u.outputs[0].aval.size > v.aval.size && c > 1
      );
    const shared = us.length > 1 &&
      ((c > DUP_COST && !isConst) || us.length > MAX_SHARED_READERS) &&
      !(policy.recomputeLiterals && e.prim === "literal");
    const own = policy.materialize?.(e) ?? false;
    if (isOut.has(v) || needsBuffer || expands || leaves.size > maxLeaves || shared || own) {
      materialized.add(v);
    } else if (isConst) constant.add(v);
    cost.set(v, c);
    if (track) leafSets.set(v, leaves);
  }
  const groups: Group<K>[] = [];
  const writer = new Map<FlatVal, Group<K>>();
  for (const e of g.eqns) {
    const k = kindOf(e);
    let grp: Group<K>;
    if (k === null) {
      const v = e.outputs[0];
      if (!materialized.has(v)) continue;
      grp = {
        kind: "ew",
        outs: [v],
        computes: new Set([v]),
        size: v.aval.size,
        space: v.aval.shape,
      };
    } else {
      const o = policy.epilogued.has(k) ? e.outputs[0].aval : null;
      grp = {
        kind: k,
        root: e,
        outs: [...e.outputs],
        computes: new Set(e.outputs),
        size: o?.size ?? 0,
        space: o?.shape ?? [],
      };
    }
    groups.push(grp);
    grp.outs.forEach((v) => writer.set(v, grp));
  }
  const f: Fusion<K> = { groups, materialized, producer, writer, policy };
  if (policy.siblings) _mergeSiblings(f, policy.siblings.kind, policy.siblings.max);
  _mergeEpilogues(f, isOut);
  f.groups = schedule(f, []);
  return f;
}

/**
 * The buffers a group reads, and whether every read is at its own output index (the
 * condition for merging an epilogue and for writing an output into that buffer in place).
 *
 * @param f The fusion.
 * @param grp The group.
 * @returns Each buffer read, with its read info.
 */
export function groupReads<K extends string>(f: Fusion<K>, grp: Group<K>): Map<FlatVal, ReadInfo> {
  const out = new Map<FlatVal, ReadInfo>();
  const seen = new Set<string>();
  const root = grp.root;
  const indexed = f.policy.epilogued.has(grp.kind);
  const roots = root ? [root, ...(grp.siblings ?? [])] : [];
  const known = new Set(indexed ? roots.map((e) => e.outputs[0]) : []);
  const visit = (v: FlatVal, identity: boolean) => {
    if (known.has(v)) return;
    const key = `${v.id}:${identity}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (f.materialized.has(v) && !grp.computes.has(v)) {
      const r = out.get(v);
      if (r) r.identity &&= identity;
      else out.set(v, { identity });
      return;
    }
    const e = f.producer.get(v)!;
    // an elementwise op, a reshape, or a broadcast that adds only unit dims keeps the index
    const keeps = _EW.has(e.prim) || e.prim === "reshape" ||
      (e.prim === "broadcast_in_dim" && e.inputs[0].aval.size === v.aval.size);
    for (const x of e.inputs) visit(x, identity && keeps);
  };
  for (const e of roots) e.inputs.forEach((x) => visit(x, false));
  if (indexed) { for (const o of grp.outs) visit(o, true); }
  return out;
}

/**
 * The groups that read each buffer, kept in step with a map of every group's reads, so that
 * finding a group's consumers costs its outputs' readers rather than a scan of all groups.
 */
class _Readers<K extends string> {
  readonly reads = new Map<Group<K>, Map<FlatVal, ReadInfo>>();
  readonly #by = new Map<FlatVal, Set<Group<K>>>();
  readonly #pos = new Map<Group<K>, number>();

  constructor(readonly f: Fusion<K>) {
    f.groups.forEach((grp, i) => {
      this.#pos.set(grp, i);
      this.set(grp, groupReads(f, grp));
    });
  }

  /** Records a group's reads (null: the group is gone). */
  set(grp: Group<K>, r: Map<FlatVal, ReadInfo> | null): void {
    const old = this.reads.get(grp);
    if (old) { for (const v of old.keys()) this.#by.get(v)?.delete(grp); }
    if (r === null) {
      this.reads.delete(grp);
      return;
    }
    this.reads.set(grp, r);
    for (const v of r.keys()) {
      let s = this.#by.get(v);
      if (!s) this.#by.set(v, s = new Set());
      s.add(grp);
    }
  }

  /** Whether a group other than `grp` reads `v`. */
  readByOther(v: FlatVal, grp: Group<K>): boolean {
    for (const x of this.#by.get(v) ?? []) if (x !== grp) return true;
    return false;
  }

  /** Groups that read a result of `grp`, in program order. */
  consumers(grp: Group<K>): Group<K>[] {
    const out = new Set<Group<K>>();
    for (const o of grp.outs) for (const c of this.#by.get(o) ?? []) if (c !== grp) out.add(c);
    return [...out].sort((a, b) => this.#pos.get(a)! - this.#pos.get(b)!);
  }

  /** Whether a path of reads leads from `from` to `to` (not counting a direct read). */
  reaches(from: Group<K>, to: Group<K>): boolean {
    const stack = this.consumers(from).filter((c) => c !== to);
    const seen = new Set<Group<K>>(stack);
    while (stack.length) {
      const x = stack.pop()!;
      if (x === to) return true;
      for (const c of this.consumers(x)) {
        if (!seen.has(c)) {
          seen.add(c);
          stack.push(c);
        }
      }
    }
    return false;
  }
}

const _sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

// Merges sibling reductions (policy `siblings`) before epilogues. Two groups merge only when no
// path of reads leads from one to the other, directly or through other groups (a merged group
// spans its members' positions, so both directions are checked).
function _mergeSiblings<K extends string>(f: Fusion<K>, kind: K, max: number): void {
  const idx = new _Readers(f);
  const gone = new Set<Group<K>>();
  const byKey = new Map<string, Group<K>[]>();
  for (const grp of f.groups) {
    const e = grp.root;
    if (grp.kind !== kind || !e || e.inputs.length !== 1 || e.outputs.length !== 1) continue;
    const key = `${e.prim}|${e.inputs[0].aval}|${JSON.stringify(e.params)}`;
    let l = byKey.get(key);
    if (!l) byKey.set(key, l = []);
    l.push(grp);
  }
  for (const l of byKey.values()) {
    for (const [i, p] of l.entries()) {
      if (gone.has(p)) continue;
      for (const q of l.slice(i + 1)) {
        if ((p.siblings?.length ?? 0) + 1 >= max) break;
        if (gone.has(q)) continue;
        const rp = idx.reads.get(p)!, rq = idx.reads.get(q)!;
        if (![...rq.keys()].some((v) => rp.has(v))) continue;
        // q may sit between siblings merged into p already: no path either way
        if (p.outs.some((o) => rq.has(o)) || q.outs.some((o) => rp.has(o))) continue;
        if (idx.reaches(p, q) || idx.reaches(q, p)) continue;
        const bindings = new Set([...rp.keys(), ...rq.keys()]);
        const roots = (p.siblings?.length ?? 0) + 2;
        if (bindings.size + p.outs.length + q.outs.length + roots > f.policy.maxBindings) continue;
        // merge q into p
        p.siblings = [...(p.siblings ?? []), q.root!];
        for (const v of q.computes) p.computes.add(v);
        p.outs.push(...q.outs);
        q.outs.forEach((v) => f.writer.set(v, p));
        gone.add(q);
        idx.set(q, null);
        idx.set(p, groupReads(f, p));
      }
    }
  }
  f.groups = f.groups.filter((grp) => !gone.has(grp));
}

// Each group takes every epilogue it can before the next is considered, and passes repeat
// until none merges: with an index of readers this is near-linear in the groups (restarting
// from the first group after every merge, with consumers found by scanning all groups, took
// minutes on GoogLeNet's training step of ~9k equations).
function _mergeEpilogues<K extends string>(f: Fusion<K>, isOut: Set<FlatVal>): void {
  const { epilogued, maxBindings, sameSpace, storageType } = f.policy;
  const idx = new _Readers(f);
  const reads = idx.reads;
  const gone = new Set<Group<K>>();
  const tryMerge = (p: Group<K>): boolean => {
    for (const c of idx.consumers(p)) {
      if (c.kind !== "ew") continue;
      if (sameSpace === "size" ? c.size !== p.size : !_sameShape(c.space, p.space)) continue;
      // a GEMM's output binding has the product's type, and so must its epilogue's
      const t = storageType(p.outs[0].aval.dtype);
      const gemm = p.kind === "dot" || p.kind === "conv";
      if (gemm && c.outs.some((v) => storageType(v.aval.dtype) !== t)) continue;
      const rc = reads.get(c)!;
      if (!p.outs.every((o) => rc.get(o)?.identity ?? true)) continue;
      const rp = reads.get(p)!;
      const bindings = new Set([...rp.keys(), ...rc.keys()]);
      p.outs.forEach((o) => bindings.delete(o));
      // sibling reductions keep a partial-sum buffer each
      const extra = p.siblings?.length ?? 0;
      if (bindings.size + p.outs.length + c.outs.length + extra > maxBindings) continue;
      if (idx.reaches(p, c)) continue;
      // merge c into p
      for (const v of c.computes) p.computes.add(v);
      gone.add(c);
      idx.set(c, null);
      const all = [...p.outs, ...c.outs];
      p.outs = all.filter((o) => isOut.has(o) || idx.readByOther(o, p));
      for (const o of all) {
        if (p.outs.includes(o)) f.writer.set(o, p);
        else {
          f.materialized.delete(o);
          f.writer.delete(o);
        }
      }
      idx.set(p, groupReads(f, p));
      return true;
    }
    return false;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const p of f.groups) {
      if (gone.has(p) || !epilogued.has(p.kind)) continue;
      while (tryMerge(p)) changed = true;
    }
  }
  f.groups = f.groups.filter((grp) => !gone.has(grp));
}

/**
 * Orders groups so that every group comes after the writers of what it reads, and after the
 * groups named in `after` pairs (`[first, then]`, used to read a donated buffer before it is
 * overwritten), keeping the original order otherwise.
 *
 * @param f The fusion.
 * @param after Extra ordering constraints.
 * @param reads Each group's reads ({@link groupReads}), when the caller has them.
 * @returns The groups in order.
 * @throws Error when the constraints form a cycle.
 */
export function schedule<K extends string>(
  f: Fusion<K>,
  after: readonly (readonly [Group<K>, Group<K>])[],
  reads?: ReadonlyMap<Group<K>, ReadonlyMap<FlatVal, ReadInfo>>,
): Group<K>[] {
  // Kahn's algorithm, always taking the ready group that comes first in f.groups
  const pos = new Map<Group<K>, number>(f.groups.map((grp, i) => [grp, i]));
  const deps = new Map<Group<K>, Set<Group<K>>>();
  for (const grp of f.groups) {
    const d = new Set<Group<K>>();
    for (const v of (reads?.get(grp) ?? groupReads(f, grp)).keys()) {
      const w = f.writer.get(v);
      if (w && w !== grp) d.add(w);
    }
    deps.set(grp, d);
  }
  for (const [a, b] of after) deps.get(b)!.add(a);
  const waiting = new Map<Group<K>, number>();
  const next = new Map<Group<K>, Group<K>[]>();
  for (const [grp, d] of deps) {
    waiting.set(grp, d.size);
    for (const w of d) {
      let l = next.get(w);
      if (!l) next.set(w, l = []);
      l.push(grp);
    }
  }
  const heap: number[] = [];
  const push = (i: number) => {
    heap.push(i);
    for (let k = heap.length - 1; k > 0;) {
      const up = (k - 1) >> 1;
      if (heap[up] <= heap[k]) break;
      [heap[up], heap[k]] = [heap[k], heap[up]];
      k = up;
    }
  };
  const pop = (): number => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      for (let k = 0;;) {
        const l = 2 * k + 1, r = l + 1;
        let m = k;
        if (l < heap.length && heap[l] < heap[m]) m = l;
        if (r < heap.length && heap[r] < heap[m]) m = r;
        if (m === k) break;
        [heap[m], heap[k]] = [heap[k], heap[m]];
        k = m;
      }
    }
    return top;
  };
  f.groups.forEach((grp, i) => {
    if (waiting.get(grp) === 0) push(i);
  });
  const order: Group<K>[] = [];
  while (heap.length) {
    const grp = f.groups[pop()];
    order.push(grp);
    for (const u of next.get(grp) ?? []) {
      const n = waiting.get(u)! - 1;
      waiting.set(u, n);
      if (n === 0) push(pos.get(u)!);
    }
  }
  if (order.length < f.groups.length) throw new Error("internal: cyclic kernel dependencies");
  return order;
}
