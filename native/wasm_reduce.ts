/**
 * Wasm SIMD128 kernels for the native jit's channel sums (a batch norm's statistics and their
 * gradients: f32[N, C, H, W] summed over N, H and W): the fused chain computed four lanes at a
 * time along the contiguous innermost reduced dim, for G kept outputs side by side, each
 * output's terms added one after another in float64 in the reference's order (so the sums are
 * the JavaScript loop's and eager evaluation's, bit for bit), the G outputs' additions
 * independent of each other (one accumulator's add latency no longer bounds the loop).
 *
 * The caller's arrays are copied into the kernel's own memory one outer reduced index at a time
 * (all kept rows of it at once: one copy per operand where the kept rows are consecutive);
 * per-row operands (a channel's mean) are one f32 per kept row, splatted in the kernel.
 *
 * @module
 */
import type { TypedArray } from "../core/dtype.ts";
import type { NVal } from "./jit_plan.ts";
import type { LoopKernel } from "./jit_codegen.ts";
import { buildModule, O, S, T, WasmFunc } from "./wasm_emit.ts";
import { type Opd, VecBuilder } from "./wasm_math.ts";
import {
  type ChainOp,
  chainSupports,
  emitChainOp,
  loadMaskBytes,
  simdAvailable,
  wasmConfig,
} from "./wasm_kernels.ts";

/** Elements of the kept rows of one outer reduced index below which the JavaScript loop runs. */
const MIN_SLICE = 256;
/** Bytes of a kernel's memory at most. */
const MAX_BYTES = 64 << 20;

/** A scalar load or store: opcode, alignment (log2) and a LEB128 constant offset. */
function memOp(f: WasmFunc, op: number, align: number, offset: number): WasmFunc {
  return f.op(op, align).uleb(offset);
}

/** A load of the loop: its name in the chain, its buffer, its affine offset. */
interface Load {
  readonly name: string;
  readonly buf: NVal;
  readonly lin: number[];
}

/**
 * The sum loop as a Wasm kernel, or null where it does not apply: the innermost loop dim is
 * reduced and read contiguously (or not at all: a value per row) by every load; the kept rows of an outer reduced index are consecutive in every contiguous
 * load; there are a multiple of 4 kept outputs; every value is f32 (or a bool mask read along
 * the row).
 *
 * @param chain the fused chain
 * @param lits its literal operands
 * @param loads the loop's loads
 * @param acc the name of the summed value
 * @param out the output and its affine offset
 * @param dims the merged loop dims (kept first, then reduced)
 * @param nKept how many of them are kept
 * @returns the kernel, or null
 */
export function wasmSum(
  chain: readonly ChainOp[],
  lits: ReadonlyMap<string, number>,
  loads: readonly Load[],
  acc: string,
  out: { buf: NVal; lin: number[] },
  dims: readonly { n: number; k: number }[],
  nKept: number,
): LoopKernel | null {
  const nd = dims.length;
  if (!wasmConfig.enabled || !simdAvailable() || nKept < 1 || nd - nKept < 1) return null;
  const L = dims[nd - 1].n, ki = dims[nd - 1].k + 1;
  const kept = dims.slice(0, nKept), outerR = dims.slice(nKept, nd - 1);
  const nK = kept.reduce((a, d) => a * d.n, 1), nR = outerR.reduce((a, d) => a * d.n, 1);
  if (nK % 4 !== 0 || nK * L < MIN_SLICE) return null;
  const ok = (o: ChainOp) =>
    o.types
      ? chainSupports(o.prim, o.types.ins, o.types.out)
      : chainSupports(o.prim, o.ins.map(() => "f32"), "f32");
  if (!chain.every(ok)) return null;
  const vec = loads.filter((l) => l.lin[ki] === 1), row = loads.filter((l) => l.lin[ki] === 0);
  if (vec.length + row.length !== loads.length) return null;
  if (row.some((l) => l.buf.aval.dtype !== "f32")) return null;
  if (vec.some((l) => l.buf.aval.dtype !== "f32" && l.buf.aval.dtype !== "bool")) return null;
  const table = (lin: number[], ds: readonly { n: number; k: number }[], base: number) => {
    const n = ds.reduce((a, d) => a * d.n, 1), t = new Int32Array(n), idx = ds.map(() => 0);
    for (let o = 0; o < n; o++) {
      let off = base;
      for (let q = 0; q < ds.length; q++) off += idx[q] * lin[ds[q].k + 1];
      t[o] = off;
      for (let q = ds.length - 1; q >= 0; q--) {
        if (++idx[q] < ds[q].n) break;
        idx[q] = 0;
      }
    }
    return t;
  };
  // per load: its offset per outer reduced index (constant included) and per kept row
  const rT = loads.map((l) => table(l.lin, outerR, l.lin[0]));
  const kT = loads.map((l) => table(l.lin, kept, 0));
  if (vec.some((l) => kT[loads.indexOf(l)].some((x, o) => x !== o * L))) return null;
  const oT = table(out.lin, kept, out.lin[0]);
  // memory: a slot of nK·L f32 per contiguous load, nK f32 per row load, nK f64 accumulators
  const G = nK % 8 === 0 ? 8 : 4, slice = nK * L * 4;
  const ACC = 0, RS = nK * 8, SL = RS + row.length * nK * 4 + 64;
  const bytes = SL + vec.length * slice + 16; // (the last row's tail reads past it)
  if (bytes > MAX_BYTES) return null;
  const pages = Math.ceil(bytes / 65536);
  const f = new WasmFunc([], []);
  const v = new VecBuilder(f);
  const g = f.local(T.i32), i = f.local(T.i32), ro = f.local(T.i32);
  const accs = Array.from({ length: G }, () => f.local(T.f64));
  // for (g = 0; g < nK; g += G) — g counts kept rows; ro = g·L·4 bytes
  f.i32(0).set(g);
  f.op(O.block, 0x40, O.loop, 0x40);
  f.get(g).i32(nK).op(O.i32_ge_u, O.br_if, 1);
  f.get(g).i32(L * 4).op(0x6c /* i32.mul */).set(ro);
  for (let u = 0; u < G; u++) {
    memOp(f.get(g).i32(3).op(O.i32_shl), 0x2b, /* f64.load */ 3, ACC + u * 8).set(accs[u]);
  }
  const rowVals = row.map((_, j) =>
    Array.from({ length: G }, (_, u) => {
      memOp(f.get(g).i32(2).op(O.i32_shl), 0x2a, /* f32.load */ 2, RS + j * nK * 4 + u * 4);
      f.simd(S.f32x4_splat);
      return v.put();
    })
  );
  /** Loads and the chain at element i of each of the G rows; adds its first `lanes` lanes. */
  const body = (lanes: number): boolean => {
    const results: Opd[] = [];
    for (let u = 0; u < G; u++) {
      const names = new Map<string, Opd>();
      row.forEach((l, j) => names.set(l.name, rowVals[j][u]));
      vec.forEach((l, j) => {
        if (l.buf.aval.dtype === "bool") {
          // a mask's bytes (at the start of its slot), widened to lanes
          f.get(ro).get(i).op(O.i32_add).i32(2).op(0x76 /* i32.shr_u */);
          loadMaskBytes(f, SL + j * slice + u * L);
        } else f.get(ro).get(i).op(O.i32_add).mem(S.load, SL + j * slice + u * L * 4);
        names.set(l.name, v.put());
      });
      const opd = (s: string, type = "f32"): Opd => {
        const n = names.get(s);
        if (n !== undefined) return n;
        const lit = lits.get(s);
        if (lit === undefined) throw new Error(`internal: wasm sum has no operand ${s}`);
        return type === "bool" ? { i: lit ? -1 : 0 } : { f: lit };
      };
      for (const o of chain) {
        const r = emitChainOp(v, o.prim, o.ins.map((x, k) => opd(x, o.types?.ins[k])), o.types);
        if (r === null) return false;
        names.set(o.name, r);
      }
      results.push(opd(acc));
    }
    // each output's terms in order; the G outputs' chains are independent
    for (let lane = 0; lane < lanes; lane++) {
      for (let u = 0; u < G; u++) {
        f.get(accs[u]);
        v.push(results[u]);
        f.simd(S.f32x4_extract_lane).op(lane, 0xbb, /* f64.promote_f32 */ 0xa0 /* f64.add */);
        f.set(accs[u]);
      }
    }
    return true;
  };
  // for (i = 0; i < (L − L mod 4)·4; i += 16), then the row's last L mod 4 elements (their
  // vector reads past the row, into the next one or the slot's padding: lanes left out)
  const Lv = L - (L % 4);
  f.i32(0).set(i);
  f.op(O.block, 0x40, O.loop, 0x40);
  f.get(i).i32(Lv * 4).op(O.i32_ge_u, O.br_if, 1);
  if (!body(4)) return null;
  f.get(i).i32(16).op(O.i32_add).set(i).op(O.br, 0, O.end, O.end);
  if (L % 4 !== 0 && !body(L % 4)) return null;
  for (let u = 0; u < G; u++) {
    memOp(f.get(g).i32(3).op(O.i32_shl).get(accs[u]), 0x39, /* f64.store */ 3, ACC + u * 8);
  }
  f.get(g).i32(G).op(O.i32_add).set(g).op(O.br, 0, O.end, O.end);
  f.code.splice(0, 0, ...v.prologue.code);
  const mem = new WebAssembly.Memory({ initial: pages });
  const mod = new WebAssembly.Module(buildModule([{ name: "k", f }], { min: pages }));
  const kernel = new WebAssembly.Instance(mod, { m: { mem } }).exports.k as () => void;
  const H = new Float32Array(mem.buffer), H8 = new Uint8Array(mem.buffer);
  const HD = new Float64Array(mem.buffer);
  const args: NVal[] = [];
  for (const l of loads) if (!args.includes(l.buf)) args.push(l.buf);
  args.push(out.buf);
  const vArg = vec.map((l) => args.indexOf(l.buf)), rArg = row.map((l) => args.indexOf(l.buf));
  const vR = vec.map((l) => rT[loads.indexOf(l)]),
    isMask = vec.map((l) => l.buf.aval.dtype === "bool");
  const rR = row.map((l) => rT[loads.indexOf(l)]), rK = row.map((l) => kT[loads.indexOf(l)]);
  // row loads that do not move with the outer reduced index are laid out once per call
  const rFixed = rR.map((t) => t.every((x) => x === t[0]));
  const fillRow = (bufs: TypedArray[], j: number, r: number) => {
    const b = bufs[rArg[j]], base = rR[j][r], t = rK[j], d = RS / 4 + j * nK;
    for (let q = 0; q < nK; q++) H[d + q] = b[base + t[q]];
  };
  const fn = (...bufs: TypedArray[]): void => {
    HD.fill(0, 0, nK);
    for (let j = 0; j < row.length; j++) if (rFixed[j]) fillRow(bufs, j, 0);
    for (let r = 0; r < nR; r++) {
      for (let j = 0; j < vec.length; j++) {
        const b = bufs[vArg[j]], a = vR[j][r], d = (SL + j * slice) / 4;
        if (!isMask[j]) H.set((b as Float32Array).subarray(a, a + nK * L), d);
        else H8.set((b as Uint8Array).subarray(a, a + nK * L), d * 4);
      }
      for (let j = 0; j < row.length; j++) if (!rFixed[j]) fillRow(bufs, j, r);
      kernel();
    }
    const o = bufs[args.length - 1] as Float32Array;
    for (let q = 0; q < nK; q++) o[oT[q]] = HD[q];
  };
  const text =
    `wasm sum ${nR} x [${nK} x ${L}], ${G} outputs side by side (${
      vec.map((l) => l.name).join(", ")
    }; ${row.map((l) => l.name).join(", ")}) -> ${acc}\n` +
    chain.map((o) => `  ${o.name} = ${o.prim}(${o.ins.join(", ")})`).join("\n");
  return { fn, args, source: text, wasm: true };
}
