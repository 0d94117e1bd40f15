/**
 * Buffer planning: where every materialized value lives.
 *
 * - Graph inputs live in the caller's buffers, and are never written unless donated.
 * - Outputs get a fresh buffer per call, or the buffer of a donated input of the same byte
 *   size: the writer of the output is scheduled after every other reader of the input, and
 *   writes into it once the input is dead, or in place when its only reads of the input are
 *   at its own output index (an elementwise update `p - lr * g`, a GEMM or reduction epilogue).
 * - Values a `core` equation reads get a fresh buffer per call (the core may keep them past
 *   the call); `core` results stay in the buffers the core made.
 * - Every other value lives in a scratch buffer that the compiled program keeps between calls
 *   (so bind groups stay valid); a scratch buffer is reused by a later value of the same size
 *   bucket once its value is dead.
 * - In a scan body, results are written straight into the stacked `ys` at the step's offset
 *   when nothing else reads them; other outputs are copied there.
 *
 * @module
 */
import { bucketBytes } from "../pool.ts";
import { groupReads, schedule } from "../../core/jit_fusion.ts";
import { epilogued, type Fusion, type Group } from "./fusion.ts";
import type { Graph, GVal } from "./graph.ts";

/** Where a buffer comes from. */
export type SlotSpec =
  | { readonly kind: "in"; readonly index: number }
  | { readonly kind: "out"; readonly index: number; readonly bytes: number }
  | { readonly kind: "fresh"; readonly bytes: number }
  | { readonly kind: "ext" }
  | { readonly kind: "scratch"; readonly bytes: number };

/** A donated input whose buffer receives an output. */
export interface Donation {
  /** The input's index. */
  readonly input: number;
  /** The output's index. */
  readonly output: number;
  /** Whether the writer reads the input in the same kernel (at its output index). */
  readonly inPlace: boolean;
}

/** A copy of a finished value into another output slot (scan bodies). */
export interface OutCopy {
  /** Source slot. */
  readonly src: number;
  /** Destination slot. */
  readonly dst: number;
  /** Bytes. */
  readonly bytes: number;
  /** Source offset per scan step, in bytes (0: none). */
  readonly srcStep: number;
  /** Destination offset per scan step, in bytes (0: none). */
  readonly dstStep: number;
}

/** The buffer plan of a program. */
export interface BufferPlan {
  /** Groups in execution order. */
  readonly order: readonly Group[];
  /** The slot of every materialized value. */
  readonly slotOf: ReadonlyMap<GVal, number>;
  /** The slots. */
  readonly slots: readonly SlotSpec[];
  /** The slot of each output position. */
  readonly outSlots: readonly number[];
  /** Donations honoured. */
  readonly donations: readonly Donation[];
  /** Per group: leaves whose buffer is the (in-place) output's. */
  readonly aliases: ReadonlyMap<Group, ReadonlyMap<GVal, GVal>>;
  /** Values written at the scan step's offset (elements per step), in scan bodies. */
  readonly stepped: ReadonlyMap<GVal, number>;
  /** Copies run after the groups (scan bodies). */
  readonly copies: readonly OutCopy[];
}

/** Options of {@link planBuffers}. */
export interface PlanOptions {
  /** Donated inputs (top level only). */
  readonly donated?: readonly boolean[];
  /** Elements per step of each output position that is a stacked scan output (0: not). */
  readonly steppedOutputs?: readonly number[];
}

const _bytes = (v: GVal) => v.aval.size * 4;

/**
 * Plans the buffers of a fused graph (and fixes the group order).
 *
 * @param g The graph.
 * @param f Its fusion.
 * @param opts Donation and scan-body options.
 * @returns The plan.
 */
export function planBuffers(g: Graph, f: Fusion, opts: PlanOptions = {}): BufferPlan {
  const { order, donations: wanted } = _donate(g, f, opts.donated ?? []);
  const pos = new Map(order.map((grp, k) => [grp, k] as const));
  const reads = new Map(order.map((grp) => [grp, groupReads(f, grp)] as const));
  const lastUse = new Map<GVal, number>();
  for (const grp of order) {
    for (const v of reads.get(grp)!.keys()) lastUse.set(v, pos.get(grp)!);
  }
  const slots: SlotSpec[] = [];
  const slotOf = new Map<GVal, number>();
  const add = (s: SlotSpec) => slots.push(s) - 1;
  g.inputs.forEach((v, index) => {
    if (!slotOf.has(v)) slotOf.set(v, add({ kind: "in", index }));
  });
  const inputSet = new Set(g.inputs);
  const stepElems = opts.steppedOutputs ?? [];
  const stepped = new Map<GVal, number>();
  const outSlots: number[] = new Array(g.outputs.length);
  const copies: OutCopy[] = [];
  const coreReads = new Set<GVal>();
  for (const grp of order) {
    if (grp.kind === "core") reads.get(grp)!.forEach((_, v) => coreReads.add(v));
  }
  // Output positions: the first position of each value written by a group is its home.
  const home = new Map<GVal, number>();
  g.outputs.forEach((v, k) => {
    const readElsewhere = lastUse.has(v);
    if (inputSet.has(v) || home.has(v) || f.writer.get(v)?.kind === "core") return;
    if (stepElems[k] && (readElsewhere || !_direct(f.writer.get(v)!))) return;
    home.set(v, k);
    if (stepElems[k]) stepped.set(v, stepElems[k]);
  });
  const donations: Donation[] = [];
  g.outputs.forEach((v, k) => {
    const slot = add({ kind: "out", index: k, bytes: _bytes(v) });
    outSlots[k] = slot;
    if (home.get(v) === k) {
      slotOf.set(v, slot);
      const d = wanted.find((w) => w.output === k);
      if (d) donations.push(d);
    }
  });
  // Scratch, reused by size bucket after the last read; outputs (copied at the end) never.
  g.outputs.forEach((v) => lastUse.set(v, Infinity));
  const free = new Map<number, number[]>();
  const expiring = new Map<number, GVal[]>();
  lastUse.forEach((p, v) => {
    let l = expiring.get(p);
    if (!l) expiring.set(p, l = []);
    l.push(v);
  });
  order.forEach((grp, p) => {
    for (const v of grp.outs) {
      if (slotOf.has(v)) continue;
      if (grp.kind === "core") slotOf.set(v, add({ kind: "ext" }));
      else if (coreReads.has(v)) slotOf.set(v, add({ kind: "fresh", bytes: _bytes(v) }));
      else {
        const b = bucketBytes(_bytes(v));
        const reuse = free.get(b)?.pop();
        slotOf.set(v, reuse ?? add({ kind: "scratch", bytes: b }));
      }
    }
    for (const v of expiring.get(p) ?? []) {
      const s = slotOf.get(v)!;
      const spec = slots[s];
      if (spec.kind !== "scratch") continue;
      let l = free.get(spec.bytes);
      if (!l) free.set(spec.bytes, l = []);
      l.push(s);
    }
  });
  // Outputs that are inputs, repeats, core results or stacked: copies (scan bodies), or the
  // executor hands back the same tensor (top level).
  g.outputs.forEach((v, k) => {
    if (home.get(v) === k) return;
    const src = slotOf.get(v)!;
    if (src === outSlots[k]) return;
    const srcStep = stepped.has(v) ? _bytes(v) : 0;
    copies.push({ src, dst: outSlots[k], bytes: _bytes(v), srcStep, dstStep: stepElems[k] * 4 });
  });
  const aliases = new Map<Group, Map<GVal, GVal>>();
  for (const d of donations) {
    if (!d.inPlace) continue;
    const v = g.outputs[d.output];
    const w = f.writer.get(v)!;
    let m = aliases.get(w);
    if (!m) aliases.set(w, m = new Map());
    m.set(g.inputs[d.input], v);
  }
  return { order, slotOf, slots, outSlots, donations, aliases, stepped, copies };
}

/** Whether a group writes its results with kernels of the jit (which can add an offset). */
function _direct(grp: Group): boolean {
  return epilogued(grp.kind);
}

/**
 * Matches donated inputs with outputs of the same byte size (first every output with an input
 * its writer reads at its own index, an update in place; then the other outputs, exact avals
 * first) and orders the groups so that the writer of each output comes after the input's other
 * readers.
 */
function _donate(
  g: Graph,
  f: Fusion,
  donated: readonly boolean[],
): { order: Group[]; donations: Donation[] } {
  let order = f.groups;
  const donations: Donation[] = [];
  if (!donated.some((d) => d)) return { order, donations };
  const after: (readonly [Group, Group])[] = [];
  const taken = new Set<number>();
  const outSet = new Set(g.outputs);
  const seen = new Set<GVal>();
  const reads = new Map(f.groups.map((grp) => [grp, groupReads(f, grp)] as const));
  const firstIndex = new Map<GVal, number>();
  g.inputs.forEach((x, i) => {
    if (!firstIndex.has(x)) firstIndex.set(x, i);
  });
  const coreRead = new Set<GVal>();
  for (const grp of f.groups) {
    if (grp.kind === "core") { for (const x of reads.get(grp)!.keys()) coreRead.add(x); }
  }
  const readersOf = new Map<GVal, Group[]>();
  for (const grp of f.groups) {
    for (const x of reads.get(grp)!.keys()) {
      let l = readersOf.get(x);
      if (!l) readersOf.set(x, l = []);
      l.push(grp);
    }
  }
  // who reads each group's results, plus the ordering edges taken so far
  const succ = new Map<Group, Set<Group>>(f.groups.map((grp) => [grp, new Set()]));
  for (const grp of f.groups) {
    for (const v of reads.get(grp)!.keys()) {
      const w = f.writer.get(v);
      if (w && w !== grp) succ.get(w)!.add(grp);
    }
  }
  const leadsTo = (from: Group, to: Group): boolean => {
    const stack = [from];
    const seen = new Set<Group>(stack);
    while (stack.length) {
      const x = stack.pop()!;
      if (x === to) return true;
      for (const c of succ.get(x)!) {
        if (!seen.has(c)) {
          seen.add(c);
          stack.push(c);
        }
      }
    }
    return false;
  };
  // two passes: the updates in place first (the input the writer reads at its own index: every
  // layer's `p - lr * g` or running statistic then binds the same way, and its kernels can share
  // one pipeline), then any same-sized input for the other outputs, exact avals first
  const match = (v: GVal, k: number, inPlaceOnly: boolean) => {
    const w = f.writer.get(v);
    if (!w || w.kind === "core" || seen.has(v)) return;
    const own = reads.get(w)!;
    const cands = g.inputs
      .map((x, i) => ({ x, i }))
      .filter(({ x, i }) =>
        donated[i] && !taken.has(i) && !outSet.has(x) && _bytes(x) === _bytes(v) &&
        firstIndex.get(x) === i && !coreRead.has(x) &&
        (!inPlaceOnly || (_direct(w) && !!own.get(x)?.identity))
      )
      .sort((a, b) => Number(!a.x.aval.equals(v.aval)) - Number(!b.x.aval.equals(v.aval)));
    for (const { x, i } of cands) {
      const readers = (readersOf.get(x) ?? []).filter((grp) => grp !== w);
      // the edges close a cycle exactly when w already leads to one of the readers
      if (readers.some((r) => leadsTo(w, r))) continue;
      const readAt = own.get(x);
      const inPlace = readAt !== undefined;
      if (inPlace && (!_direct(w) || !readAt.identity)) continue;
      for (const r of readers) {
        after.push([r, w]);
        succ.get(r)!.add(w);
      }
      seen.add(v);
      taken.add(i);
      donations.push({ input: i, output: k, inPlace });
      break;
    }
  };
  g.outputs.forEach((v, k) => match(v, k, true));
  g.outputs.forEach((v, k) => match(v, k, false));
  donations.sort((a, b) => a.output - b.output);
  if (donations.length) order = schedule(f, after, reads);
  return { order, donations };
}
