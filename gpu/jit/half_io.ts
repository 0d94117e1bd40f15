/**
 * f16 storage inside a compiled program. A jitted f16 program is compiled as its f32 storage
 * form (core/f16_jit.ts: every f16 value an f32 one holding an f16 value, a `convert` to f16
 * after each primitive as the rounding); on a device that stores f16 arrays in 2 bytes, this pass
 * keeps the program's f16 values in 2 bytes too: its f16 inputs, its f16 results, and the
 * intermediates between its kernels that hold f16 values — the results of those roundings, and
 * of primitives that only move or select such values ({@link F16_EXACT}). A kernel reading such
 * a value declares its binding `array<f16>` and widens each element as it loads it; the kernel
 * writing it stores `f16(v)`, exact since `v` is an f16 value already (the binding rewrite of
 * eager f16 storage, `kernels/f16_bind.ts`'s `halfBindKernel`). The arithmetic stays f32, so the
 * results keep their bits; the values' buffers and the bytes the kernels move halve.
 *
 * A value stays 4 bytes where the rewrite cannot follow it: a copy, texture upload, scan or core
 * equation touches it, a kernel reads it back in place or declares it otherwise, or it is a
 * donation whose other end is not 2 bytes (the output takes over the input's buffer). Such f16
 * inputs and results are widened and rounded by the executable at the call's boundary
 * (`exec.ts`).
 *
 * @module
 */
import { F16_EXACT } from "../../core/f16.ts";
import { bucketBytes } from "../pool.ts";
import type { BufRef, Kernel } from "../kernels/common.ts";
import { f32StorageDecls, halfBindKernel } from "../kernels/f16_bind.ts";
import type { Graph, GVal } from "./graph.ts";
import type { BufferPlan, SlotSpec } from "./plan.ts";
import type { DispatchOp, Op } from "./program.ts";

/** Which inputs (constants first) and results of a program the caller holds as f16. */
export interface HalfIo {
  /** Per input: passed as f16 (2-byte storage). */
  readonly ins: readonly boolean[];
  /** Per result: wanted as f16 (2-byte storage). */
  readonly outs: readonly boolean[];
}

/** What {@link halfValues} returns: the program's parts it changed. */
export interface HalfProgram {
  /** The operations, with the kernels that bind 2-byte values rewritten. */
  readonly ops: Op[];
  /** The slots, 2-byte outputs and scratch buffers of 2-byte values only at half the bytes. */
  readonly slots: SlotSpec[];
  /** Per input: bound as 2-byte f16 storage (an f16 aval in the program). */
  readonly ins: boolean[];
  /** Per result: written as 2-byte f16 storage (an f16 aval in the program). */
  readonly outs: boolean[];
}

/**
 * The program's f16 values in 2-byte storage where its kernels allow (see the module doc).
 *
 * @param g The graph compiled (after the convolution folding).
 * @param plan Its buffer plan.
 * @param ops Its operations.
 * @param vals For every operation, the value each slot it touches holds then.
 * @param io The inputs and results the caller holds as f16.
 * @returns The rewritten operations and slots, and which inputs and results are 2 bytes.
 */
export function halfValues(
  g: Graph,
  plan: BufferPlan,
  ops: readonly Op[],
  vals: ReadonlyMap<Op, ReadonlyMap<number, GVal>>,
  io: HalfIo,
): HalfProgram {
  const direct = f16Valued(g, io);
  const kinds = plan.slots.map((s) => s.kind);
  const valuesOf = new Map<number, GVal[]>(); // slot → the values it holds over the program
  for (const [v, k] of plan.slotOf) {
    let l = valuesOf.get(k);
    if (!l) valuesOf.set(k, l = []);
    l.push(v);
  }
  const dropSlot = (k: number) => valuesOf.get(k)?.forEach((v) => direct.delete(v));
  g.outputs.forEach((v, k) => !io.outs[k] && direct.delete(v));
  plan.slots.forEach((s, k) => (s.kind === "fresh" || s.kind === "ext") && dropSlot(k));
  for (const op of ops) {
    const m = vals.get(op);
    if (op.kind !== "dispatch") {
      for (const k of _slotsOf(op)) {
        if (m?.has(k)) direct.delete(m.get(k)!);
        else dropSlot(k);
      }
      continue;
    }
    // a slot bound without a known value: none of its values can be 2 bytes
    for (const r of op.bindings) if (r.kind === "slot" && !m?.has(r.slot)) dropSlot(r.slot);
  }
  const rewritten = new Map<DispatchOp, string>();
  for (let changed = true; changed;) {
    changed = _dropDonations(g, plan, direct);
    rewritten.clear();
    for (const op of ops) {
      if (changed) break;
      if (op.kind !== "dispatch") continue;
      const m = vals.get(op)!;
      const half = (slot: number) => direct.has(m.get(slot)!);
      if (!op.bindings.some((r) => r.kind === "slot" && half(r.slot))) continue;
      const r = _rewrite(op, kinds, half);
      if (typeof r === "number") direct.delete(m.get(r)!), changed = true;
      else rewritten.set(op, r);
    }
  }
  const halfBytes = (v: GVal) => Math.ceil(v.aval.size / 2) * 4;
  const slots = plan.slots.map((s, k): SlotSpec => {
    const vs = valuesOf.get(k) ?? [];
    if (!vs.length || !vs.every((v) => direct.has(v))) return s;
    if (s.kind === "out") return { ...s, bytes: halfBytes(vs[0]) };
    if (s.kind === "scratch") return { ...s, bytes: bucketBytes(Math.max(...vs.map(halfBytes))) };
    return s;
  });
  return {
    ops: ops.map((op) =>
      op.kind === "dispatch" && rewritten.has(op) ? { ...op, wgsl: rewritten.get(op)! } : op
    ),
    slots,
    ins: g.inputs.map((v, i) => io.ins[i] && direct.has(v)),
    outs: g.outputs.map((v, k) => io.outs[k] && direct.has(v)),
  };
}

/**
 * The values of `g` that hold f16 values: its f16 inputs, the results of `convert` to f16 (the
 * roundings of the storage form, and the program's own casts), literals that are f16 values, and
 * the results of the primitives of {@link F16_EXACT} whose floating-point operands all hold f16
 * values.
 *
 * @param g The graph.
 * @param io Which inputs are f16.
 * @returns The values.
 */
export function f16Valued(g: Graph, io: HalfIo): Set<GVal> {
  const s = new Set<GVal>();
  g.inputs.forEach((v, i) => io.ins[i] && v.aval.dtype === "f32" && s.add(v));
  for (const e of g.eqns) {
    const rounds = (e.prim === "convert" && e.params.dtype === "f16") ||
      (e.prim === "literal" && _isF16Value(e.params.value as number));
    const exact = F16_EXACT.has(e.prim) &&
      e.inputs.every((x) => x.aval.dtype !== "f32" || s.has(x));
    if (!rounds && !exact) continue;
    for (const v of e.outputs) if (v.aval.dtype === "f32") s.add(v);
  }
  return s;
}

/** Whether `x` is an f16 value (NaN included). */
const _isF16Value = (x: number) => Number.isNaN(x) || Math.f16round(x) === x;

/** The slots an operation other than a dispatch moves, reads or writes. */
function _slotsOf(op: Op): number[] {
  const slot = (r: { kind: string; slot?: number }) => (r.kind === "slot" ? [r.slot!] : []);
  switch (op.kind) {
    case "dispatch":
      return [];
    case "copy":
      return [...slot(op.src), ...slot(op.dst)];
    case "toTexture":
      return slot(op.src);
    case "scan":
    case "core":
      return [...op.ins, ...op.outs];
  }
}

/**
 * Drops the donations whose two ends are not both 2 bytes (the output takes over the input's
 * buffer: both must be f16 storage or neither). Returns whether it dropped any.
 */
function _dropDonations(g: Graph, plan: BufferPlan, direct: Set<GVal>): boolean {
  let dropped = false;
  for (const d of plan.donations) {
    const a = g.inputs[d.input], b = g.outputs[d.output];
    if (direct.has(a) === direct.has(b)) continue;
    direct.delete(a), direct.delete(b);
    dropped = true;
  }
  return dropped;
}

/**
 * The dispatch's WGSL with its direct bindings rewritten, or a slot it cannot bind directly: an
 * input slot it writes, a slot it does not declare as an f32 array, a result it reads back
 * (other than a fused kernel updating a donated input in place, see {@link _inPlace}).
 */
function _rewrite(
  op: DispatchOp,
  kinds: readonly SlotSpec["kind"][],
  half: (slot: number) => boolean,
): string | number {
  const refs: BufRef[] = [];
  let wgsl = op.wgsl, inPlace = false;
  const decls = f32StorageDecls(op.wgsl);
  for (let b = 0; b < op.bindings.length; b++) {
    const r = op.bindings[b];
    if (r.kind !== "slot" || !half(r.slot)) {
      refs.push({ kind: "tmp", index: -1 });
      continue;
    }
    const access = decls.get(b)?.access;
    if (access === undefined || (access === "read_write" && kinds[r.slot] === "in")) return r.slot;
    const w = access === "read_write" && op.fused ? _inPlace(wgsl, b) : null;
    if (w !== null) {
      wgsl = w, inPlace = true;
      refs.push({ kind: "tmp", index: -1 });
      continue;
    }
    // read: widened as loaded; read_write: whole stores of f16 values only
    refs.push({ kind: access === "read" ? "in" : "out", index: r.slot });
  }
  const k: Kernel = { wgsl, workgroupSize: [1, 1, 1], dispatch: op.grid, bindings: refs };
  const r = halfBindKernel(k, (ref) => ref.index >= 0 && half(ref.index), true);
  if (typeof r === "string") return Number(r.replace(/^\D+/, ""));
  return inPlace && !/^\s*enable f16;/m.test(r.wgsl) ? `enable f16;\n${r.wgsl}` : r.wgsl;
}

/**
 * A fused kernel's update in place of binding `b` (a donated input's buffer, each element read
 * and then written by the thread that owns it) on f16 storage, or null where the kernel is not
 * of that form: every access is `name[I]` with one index text `I`, the loads are
 * `let v = name[I];` and all come before the single store `name[I] = value;`. The loads widen
 * the f16 values stored, the store narrows a value that is an f16 value already (exact).
 */
function _inPlace(wgsl: string, b: number): string | null {
  const declRe = new RegExp(
    `(@binding\\(${b}\\)\\s*var<storage,\\s*read_write>\\s*(\\w+)\\s*:\\s*array<)(f32|vec4<f32>)>`,
  );
  const decl = declRe.exec(wgsl);
  if (!decl) return null;
  const name = decl[2], vec = decl[3] !== "f32";
  const wide = vec ? "vec4<f32>" : "f32", narrow = vec ? "vec4<f16>" : "f16";
  const declEnd = decl.index + decl[0].length;
  const load = new RegExp(`^${name}\\[([^\\[\\];=]*)\\];`);
  const store = new RegExp(`^${name}\\[([^\\[\\];=]*)\\]\\s*=(?!=)\\s*([^;]*);`);
  let index: string | undefined, stored = false, out = "", from = 0;
  for (const m of wgsl.matchAll(new RegExp(`(?<![\\w.])${name}(?!\\w)`, "g"))) {
    const p = m.index!;
    if (p < declEnd && p > decl.index) continue; // the declaration
    const rest = wgsl.slice(p);
    const st = store.exec(rest), ld = st ? null : load.exec(rest);
    const a = st ?? ld;
    if (!a || stored || (index !== undefined && a[1].trim() !== index)) return null;
    if (ld && !/\blet\s+\w+\s*=\s*$/.test(wgsl.slice(Math.max(0, p - 40), p))) return null;
    index = a[1].trim();
    out += wgsl.slice(from, p) +
      (st ? `${name}[${st[1]}] = ${narrow}(${st[2]});` : `${wide}(${name}[${ld![1]}]);`);
    from = p + a[0].length;
    stored ||= st !== null;
  }
  if (!stored) return null;
  return (out + wgsl.slice(from)).replace(declRe, `$1${narrow}>`);
}
