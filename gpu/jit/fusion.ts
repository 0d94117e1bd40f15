/**
 * Fusion: which values get a buffer, and which kernels compute the rest.
 *
 * 1. **Inlining.** An elementwise or movement value is computed inside the kernels that read
 *    it, unless it is an output, feeds an op that needs a buffer (sort, scatter, conv, scan, …),
 *    is read by several kernels and is not cheap (more than {@link DUP_COST} arithmetic ops
 *    would be recomputed), carries more than one arithmetic op and is read through an
 *    expanding broadcast (it would be recomputed per copy), or would make a kernel read too
 *    many buffers.
 * 2. **Groups.** Each materialized elementwise value is an elementwise kernel; each reduction
 *    and `dot_general` is a kernel whose operands are read through their fused expressions
 *    (the reduction's prologue, the GEMM's operand loads); everything else is one kernel of its
 *    eager lowering, one `scan` loop, or a `core` equation.
 * 3. **Epilogues.** A kernel absorbs an elementwise consumer kernel of the same size that reads
 *    its results only at the output index (`dot + bias + relu`, `sum * (1/n)`, the SGD update
 *    of a gradient), unless that would close a cycle through a third kernel. The merged kernel
 *    writes every result still read elsewhere.
 *
 * @module
 */
import type { GEqn, Graph, GVal } from "./graph.ts";
import { isElementwise, isMovement } from "./expr.ts";
import { storageType } from "../kernels/common.ts";
import { REDUCE_PRIMS } from "../../core/prims/names.ts";

/** Arithmetic ops a value may carry and still be recomputed by several readers. */
export const DUP_COST = 3;
/** Arithmetic ops a GEMM operand may carry and still be fused into the operand loads. */
export const DOT_PROLOGUE_COST = 8;

/** How a group computes. */
export type GroupKind = "ew" | "reduce" | "dot" | "conv" | "opaque" | "scan" | "core";

/** One kernel (or loop, or core equation) of the program. */
export interface Group {
  /** How it computes. */
  readonly kind: GroupKind;
  /** The reduction, dot, opaque op, scan or core equation (absent for "ew"). */
  readonly root?: GEqn;
  /** The values it writes. */
  outs: GVal[];
  /** The values it computes (its outputs and the fused values only it needed). */
  readonly computes: Set<GVal>;
  /** Elements of its output index space ("ew", "reduce", "dot", "conv"). */
  readonly size: number;
}

/** How a group reads one buffer. */
export interface ReadInfo {
  /** Every read is at the group's own output index, after any reduction or GEMM. */
  identity: boolean;
}

/** The result of fusion. */
export interface Fusion {
  /** The groups, in an order that respects their dependencies (see {@link schedule}). */
  groups: Group[];
  /** Values with a buffer. */
  readonly materialized: Set<GVal>;
  /** The producer of every computed value. */
  readonly producer: Map<GVal, GEqn>;
  /** The group that writes each materialized value (graph inputs have none). */
  readonly writer: Map<GVal, Group>;
}

const _REDUCE = new Set<string>(REDUCE_PRIMS);

/** What fusion needs to know about the device's templates. */
export interface FuseOptions {
  /** Storage buffers one kernel may bind. */
  readonly maxBindings: number;
  /** Whether a convolution's implicit GEMM can take an epilogue. */
  readonly convFusible: (e: GEqn) => boolean;
}

/** The kind of group an equation roots, or null for fusible ones. */
export function rootKind(e: GEqn, o?: FuseOptions): GroupKind | null {
  if (isElementwise(e.prim) || isMovement(e.prim)) return null;
  if (_REDUCE.has(e.prim)) return "reduce";
  if (e.prim === "dot_general") return e.inputs[0].aval.dtype === "bool" ? "opaque" : "dot";
  if (e.prim === "conv_general_dilated") return o?.convFusible(e) ? "conv" : "opaque";
  if (e.prim === "scan") return "scan";
  if (e.prim === "core") return "core";
  return "opaque";
}

/** Whether a group kind computes its results at an output index (and takes epilogues). */
export function epilogued(k: GroupKind): boolean {
  return k === "ew" || k === "reduce" || k === "dot" || k === "conv";
}

/** The element count of a value. */
const _size = (v: GVal) => v.aval.size;

/**
 * Groups a graph's equations into kernels.
 *
 * @param g The graph.
 * @param o Device facts.
 * @returns The fusion (groups in dependency order).
 */
export function fuse(g: Graph, o: FuseOptions): Fusion {
  const maxBindings = o.maxBindings;
  const producer = new Map<GVal, GEqn>();
  const users = new Map<GVal, GEqn[]>();
  for (const e of g.eqns) {
    e.outputs.forEach((v) => producer.set(v, e));
    for (const x of new Set(e.inputs)) {
      let l = users.get(x);
      if (!l) users.set(x, l = []);
      l.push(e);
    }
  }
  const isOut = new Set(g.outputs);
  const materialized = new Set<GVal>(g.inputs);
  const cost = new Map<GVal, number>();
  const leafSets = new Map<GVal, Set<GVal>>();
  const leavesOf = (x: GVal) => (materialized.has(x) ? new Set([x]) : leafSets.get(x)!);
  const maxLeaves = Math.max(2, maxBindings - 4);
  for (const e of g.eqns) {
    if (rootKind(e, o) !== null) {
      e.outputs.forEach((v) => materialized.add(v));
      continue;
    }
    const v = e.outputs[0];
    const c = (isElementwise(e.prim) ? 1 : 0) +
      e.inputs.reduce((s, x) => s + (materialized.has(x) ? 0 : cost.get(x)!), 0);
    const leaves = new Set<GVal>();
    for (const x of e.inputs) for (const l of leavesOf(x)) leaves.add(l);
    const us = users.get(v) ?? [];
    const needsBuffer = us.some((u) => {
      const k = rootKind(u, o);
      if (k === null || k === "reduce") return false;
      const typed = [...leaves].some((l) =>
        storageType(l.aval.dtype) === storageType(v.aval.dtype)
      );
      return k !== "dot" || c > DOT_PROLOGUE_COST || !typed;
    });
    const expands = us.some((u) =>
      u.prim === "broadcast_in_dim" && _size(u.outputs[0]) > _size(v) && c > 1
    );
    if (
      isOut.has(v) || needsBuffer || expands || leaves.size > maxLeaves ||
      (us.length > 1 && (c > DUP_COST || us.length > 4))
    ) materialized.add(v);
    cost.set(v, c);
    leafSets.set(v, leaves);
  }
  const groups: Group[] = [];
  const writer = new Map<GVal, Group>();
  for (const e of g.eqns) {
    const k = rootKind(e, o);
    let grp: Group;
    if (k === null) {
      const v = e.outputs[0];
      if (!materialized.has(v)) continue;
      grp = { kind: "ew", outs: [v], computes: new Set([v]), size: _size(v) };
    } else {
      grp = {
        kind: k,
        root: e,
        outs: [...e.outputs],
        computes: new Set(e.outputs),
        size: epilogued(k) ? _size(e.outputs[0]) : 0,
      };
    }
    groups.push(grp);
    grp.outs.forEach((v) => writer.set(v, grp));
  }
  const f: Fusion = { groups, materialized, producer, writer };
  _mergeEpilogues(f, isOut, maxBindings);
  f.groups = schedule(f, []);
  return f;
}

/**
 * The buffers a group reads, and whether every read is at its own output index (the
 * condition for writing an output into that buffer in place).
 *
 * @param f The fusion.
 * @param grp The group.
 * @returns Each leaf read, with its read info.
 */
export function groupReads(f: Fusion, grp: Group): Map<GVal, ReadInfo> {
  const out = new Map<GVal, ReadInfo>();
  const seen = new Set<string>();
  const root = grp.root;
  const known = grp.kind !== "ew" && epilogued(grp.kind) ? root!.outputs[0] : null;
  const visit = (v: GVal, identity: boolean) => {
    if (v === known) return;
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
    const keeps = isElementwise(e.prim) || e.prim === "reshape" ||
      (e.prim === "broadcast_in_dim" && _size(e.inputs[0]) === _size(v));
    for (const x of e.inputs) visit(x, identity && keeps);
  };
  if (epilogued(grp.kind)) {
    if (root) root.inputs.forEach((x) => visit(x, false));
    for (const o of grp.outs) visit(o, true);
  } else {
    for (const x of root!.inputs) visit(x, false);
  }
  return out;
}

/**
 * The groups that read each buffer, kept in step with a map of every group's reads, so that
 * finding a group's consumers costs its outputs' readers rather than a scan of all groups.
 */
class _Readers {
  readonly reads = new Map<Group, Map<GVal, ReadInfo>>();
  readonly #by = new Map<GVal, Set<Group>>();
  readonly #pos = new Map<Group, number>();

  constructor(readonly f: Fusion) {
    f.groups.forEach((grp, i) => {
      this.#pos.set(grp, i);
      this.set(grp, groupReads(f, grp));
    });
  }

  /** Records a group's reads (null: the group is gone). */
  set(grp: Group, r: Map<GVal, ReadInfo> | null): void {
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
  readByOther(v: GVal, grp: Group): boolean {
    for (const x of this.#by.get(v) ?? []) if (x !== grp) return true;
    return false;
  }

  /** Groups that read a result of `grp`, in program order. */
  consumers(grp: Group): Group[] {
    const out = new Set<Group>();
    for (const o of grp.outs) for (const c of this.#by.get(o) ?? []) if (c !== grp) out.add(c);
    return [...out].sort((a, b) => this.#pos.get(a)! - this.#pos.get(b)!);
  }

  /** Whether a path of reads leads from `from` to `to` (not counting a direct read). */
  reaches(from: Group, to: Group, skipDirect: boolean): boolean {
    const stack = this.consumers(from).filter((c) => !(skipDirect && c === to));
    const seen = new Set<Group>(stack);
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

// Each group takes every epilogue it can before the next is considered, and passes repeat
// until none merges: with an index of readers this is near-linear in the groups (restarting
// from the first group after every merge, with consumers found by scanning all groups, took
// minutes on GoogLeNet's training step of ~9k equations).
function _mergeEpilogues(f: Fusion, isOut: Set<GVal>, maxBindings: number): void {
  const idx = new _Readers(f);
  const reads = idx.reads;
  const gone = new Set<Group>();
  const tryMerge = (p: Group): boolean => {
    for (const c of idx.consumers(p)) {
      if (c.kind !== "ew" || c.size !== p.size) continue;
      // the GEMM templates declare their output binding with the product's type
      const t = storageType(p.outs[0].aval.dtype);
      const gemm = p.kind === "dot" || p.kind === "conv";
      if (gemm && c.outs.some((v) => storageType(v.aval.dtype) !== t)) continue;
      const rc = reads.get(c)!;
      if (!p.outs.every((o) => rc.get(o)?.identity ?? true)) continue;
      const rp = reads.get(p)!;
      const bindings = new Set([...rp.keys(), ...rc.keys()]);
      p.outs.forEach((o) => bindings.delete(o));
      if (bindings.size + p.outs.length + c.outs.length > maxBindings) continue;
      if (idx.reaches(p, c, true)) continue;
      // merge c into p
      for (const v of c.computes) p.computes.add(v);
      gone.add(c);
      idx.set(c, null);
      const all = [...p.outs, ...c.outs];
      p.outs = all.filter((o) => isOut.has(o) || idx.readByOther(o, p));
      for (const o of all) {
        if (!p.outs.includes(o)) f.materialized.delete(o);
        else f.writer.set(o, p);
        if (!p.outs.includes(o)) f.writer.delete(o);
      }
      idx.set(p, groupReads(f, p));
      return true;
    }
    return false;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const p of f.groups) {
      if (gone.has(p) || !epilogued(p.kind)) continue;
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
 */
export function schedule(
  f: Fusion,
  after: readonly (readonly [Group, Group])[],
  reads?: ReadonlyMap<Group, ReadonlyMap<GVal, ReadInfo>>,
): Group[] {
  // Kahn's algorithm, always taking the ready group that comes first in f.groups
  const pos = new Map<Group, number>(f.groups.map((grp, i) => [grp, i]));
  const deps = new Map<Group, Set<Group>>();
  for (const grp of f.groups) {
    const d = new Set<Group>();
    for (const v of (reads?.get(grp) ?? groupReads(f, grp)).keys()) {
      const w = f.writer.get(v);
      if (w && w !== grp) d.add(w);
    }
    deps.set(grp, d);
  }
  for (const [a, b] of after) deps.get(b)!.add(a);
  const waiting = new Map<Group, number>();
  const next = new Map<Group, Group[]>();
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
  const order: Group[] = [];
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

/**
 * Whether `to` depends on `from` (transitively), in a fusion's current groups.
 *
 * @param f The fusion.
 * @param from A group.
 * @param to Another group.
 * @returns True when a path of reads leads from `from` to `to`.
 */
export function dependsOn(f: Fusion, from: Group, to: Group): boolean {
  return new _Readers(f).reaches(from, to, false);
}
