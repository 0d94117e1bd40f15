/**
 * f16 storage at a compiled program's boundary. A jitted f16 program is compiled as its f32
 * storage form (core/f16_jit.ts: every f16 value an f32 one holding an f16 value); on a device
 * that stores f16 arrays in 2 bytes, its f16 inputs would each need a widening kernel before the
 * program and its f16 results a rounding kernel after it. This pass binds them directly where
 * the program's kernels allow: a kernel reading an f16 input declares it `array<f16>` and widens
 * each element as it loads it, the kernel writing an f16 result stores `f16(v)` (exact: `v` is an
 * f16 value already) into a 2-byte buffer, and a later kernel reading that result widens it too —
 * the binding rewrite of eager f16 storage (`kernels/f16_bind.ts`, `halfBindKernel`).
 *
 * An input or result stays f32 storage, with its widening or rounding kernel run by the
 * executable (`exec.ts`), where the rewrite cannot follow it: a copy, texture upload, scan or
 * core equation that touches its slot, a kernel that reads a result back in place or writes an
 * input, or a donation whose other end is not direct (the output would take over a buffer of
 * the other size).
 *
 * @module
 */
import { ShapedArray } from "../../core/aval.ts";
import type { BufRef, Kernel } from "../kernels/common.ts";
import { halfBindKernel } from "../kernels/f16_bind.ts";
import type { SlotSpec } from "./plan.ts";
import type { DispatchOp, Op, Program, Res } from "./program.ts";

/** Which inputs (constants first) and results of a program the caller holds as f16. */
export interface HalfIo {
  /** Per input: passed as f16 (2-byte storage). */
  readonly ins: readonly boolean[];
  /** Per result: wanted as f16 (2-byte storage). */
  readonly outs: readonly boolean[];
}

/**
 * `p` with the f16 inputs and results that `io` names bound as 2-byte f16 storage where its
 * kernels allow (see the module doc). Those get f16 avals in the program's `inAvals` and
 * `outAvals` (and half the bytes in their slots); the others keep their f32 storage avals, for
 * the executable to widen or round at the call's boundary.
 *
 * @param p The program (over f32 storage).
 * @param io The inputs and results the caller holds as f16.
 * @returns The program with its direct bindings.
 */
export function halfIoProgram(p: Program, io: HalfIo): Program {
  if (!io.ins.some((h) => h) && !io.outs.some((h) => h)) return p;
  const inSlot = new Map<number, number>(); // input index → its slot
  p.slots.forEach((s, k) => s.kind === "in" && inSlot.set(s.index, k));
  const direct = new Set<number>();
  io.ins.forEach((h, i) => h && inSlot.has(i) && direct.add(inSlot.get(i)!));
  io.outs.forEach((h, o) => {
    const k = p.outValSlots[o];
    if (h && p.slots[k].kind === "out") direct.add(k);
  });
  // an f16 result sharing a slot with a result the caller wants as f32 (not an f16 value)
  io.outs.forEach((h, o) => !h && direct.delete(p.outValSlots[o]));
  for (const op of p.ops) {
    for (const k of _otherUses(op)) direct.delete(k);
  }
  const kernels = new Map<DispatchOp, string>();
  for (let changed = true; changed;) {
    changed = _dropDonations(p, inSlot, direct);
    kernels.clear();
    for (const op of p.ops) {
      if (changed) break;
      if (op.kind !== "dispatch" || !op.bindings.some((r) => _isDirect(r, direct))) continue;
      const r = _rewrite(op, p.slots, direct);
      if (typeof r === "number") direct.delete(r), changed = true;
      else kernels.set(op, r);
    }
  }
  if (direct.size === 0) return p;
  const ops: Op[] = p.ops.map((op) =>
    op.kind === "dispatch" && kernels.has(op) ? { ...op, wgsl: kernels.get(op)! } : op
  );
  const slots: SlotSpec[] = p.slots.map((s, k) =>
    s.kind === "out" && direct.has(k) ? { ...s, bytes: Math.ceil(s.bytes / 8) * 4 } : s
  );
  const half = (a: ShapedArray) => new ShapedArray(a.shape, "f16");
  return {
    ...p,
    ops,
    slots,
    inAvals: p.inAvals.map((a, i) => {
      const k = inSlot.get(i);
      return io.ins[i] && (k === undefined || direct.has(k)) ? half(a) : a;
    }),
    outAvals: p.outAvals.map((a, o) => {
      const k = p.outValSlots[o], s = p.slots[k];
      return io.outs[o] && direct.has(k) && (s.kind === "out" || s.kind === "in") ? half(a) : a;
    }),
  };
}

const _isDirect = (r: Res, direct: ReadonlySet<number>) => r.kind === "slot" && direct.has(r.slot);

/** The slots an operation other than a dispatch moves, reads or writes. */
function _otherUses(op: Op): number[] {
  const slot = (r: Res) => (r.kind === "slot" ? [r.slot] : []);
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
 * Drops the donations whose two ends are not both direct (the output adopts the input's buffer:
 * both must be f16 storage or neither). Returns whether it dropped any.
 */
function _dropDonations(
  p: Program,
  inSlot: ReadonlyMap<number, number>,
  direct: Set<number>,
): boolean {
  let dropped = false;
  for (const d of p.plan.donations) {
    const a = inSlot.get(d.input), b = p.plan.outSlots[d.output];
    const da = a !== undefined && direct.has(a), db = direct.has(b);
    if (da === db) continue;
    if (a !== undefined) direct.delete(a);
    direct.delete(b);
    dropped = true;
  }
  return dropped;
}

/** A binding's declared access, `read` or `read_write` (undefined: not an f32 storage array). */
function _access(wgsl: string, b: number): string | undefined {
  const m = new RegExp(
    `@binding\\(${b}\\)\\s*var<storage,\\s*(read|read_write)>\\s*\\w+\\s*:\\s*array<(?:f32|vec4<f32>)>`,
  ).exec(wgsl);
  return m?.[1];
}

/**
 * The dispatch's WGSL with its direct bindings rewritten, or a slot it cannot bind directly: an
 * input slot it writes, a slot it does not declare as an f32 array, a result it reads back
 * (other than a fused kernel updating a donated input in place, see {@link _inPlace}).
 */
function _rewrite(
  op: DispatchOp,
  slots: readonly SlotSpec[],
  direct: Set<number>,
): string | number {
  const refs: BufRef[] = [];
  let wgsl = op.wgsl, inPlace = false;
  for (let b = 0; b < op.bindings.length; b++) {
    const r = op.bindings[b];
    if (!_isDirect(r, direct)) {
      refs.push({ kind: "tmp", index: -1 });
      continue;
    }
    const slot = (r as { slot: number }).slot;
    const access = _access(op.wgsl, b);
    if (access === undefined || (access === "read_write" && slots[slot].kind === "in")) return slot;
    const w = access === "read_write" && op.fused ? _inPlace(wgsl, b) : null;
    if (w !== null) {
      wgsl = w, inPlace = true;
      refs.push({ kind: "tmp", index: -1 });
      continue;
    }
    // read: widened as loaded; read_write: whole stores of f16 values only
    refs.push({ kind: access === "read" ? "in" : "out", index: slot });
  }
  const k: Kernel = { wgsl, workgroupSize: [1, 1, 1], dispatch: op.grid, bindings: refs };
  const r = halfBindKernel(k, (ref) => ref.index >= 0 && direct.has(ref.index), true);
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
