/**
 * The Wasm form of a fused loop of the native jit (`jit_codegen.ts` generates the loop nest and
 * asks here first): an f32 chain compiled by `wasm_kernels.ts`, run over the rows of the loop
 * nest — the outer dims' offsets computed per row (tabulated when there are several outer
 * dims), short rows packed several per block.
 *
 * @module
 */
import type { TypedArray } from "../core/dtype.ts";
import type { NVal } from "./jit_plan.ts";
import type { LoopKernel } from "./jit_codegen.ts";
import { BLOCK, type ChainOp, compileChain } from "./wasm_kernels.ts";

/** Innermost loop length from which an eligible f32 chain runs as a Wasm kernel. */
const WASM_MIN_ROW = 64;

/**
 * The loop as a Wasm kernel, when every value is f32 (or a bool mask read along the row) and
 * every access walks the innermost dim contiguously or not at all (a value per row: a scalar of the kernel); null otherwise (or
 * where Wasm SIMD is unavailable).
 */
export function wasmLoop(
  chain: readonly ChainOp[],
  lits: ReadonlyMap<string, number>,
  loads: readonly { name: string; buf: NVal; lin: number[] }[],
  stores: readonly { value: string; lin: number[]; buf: NVal }[],
  dims: readonly { n: number; k: number; reduced: boolean }[],
): LoopKernel | null {
  const nd = dims.length;
  if (nd < 1 || dims[nd - 1].n < WASM_MIN_ROW) return null;
  const ki = dims[nd - 1].k + 1, ko = nd === 2 ? dims[0].k + 1 : -1;
  const coef = (lin: number[]) => lin[ki];
  // f32 values; bool buffers (masks) only where read along the row: each row is widened to a
  // lane mask (all bits set for true, as the chain computes bools) before the kernel runs
  if (stores.some((x) => x.buf.aval.dtype !== "f32")) return null;
  const mask = (l: { buf: NVal; lin: number[] }) =>
    l.buf.aval.dtype === "bool" && coef(l.lin) === 1;
  if (loads.some((l) => l.buf.aval.dtype !== "f32" && !mask(l))) return null;
  if (loads.some((l) => coef(l.lin) !== 0 && coef(l.lin) !== 1)) return null;
  if (stores.some((s) => coef(s.lin) !== 1)) return null;
  const vec = loads.filter((l) => coef(l.lin) === 1), sca = loads.filter((l) => coef(l.lin) === 0);
  const k = compileChain({
    ops: chain,
    vec: vec.map((l) => l.name),
    scalars: sca.map((l) => l.name),
    outs: stores.map((s) => s.value),
    lits,
  });
  if (!k) return null;
  const args: NVal[] = [];
  for (const l of loads) if (!args.includes(l.buf)) args.push(l.buf);
  const nReads = args.length;
  for (const s of stores) args.push(s.buf);
  const vArg = vec.map((l) => args.indexOf(l.buf)), sArg = sca.map((l) => args.indexOf(l.buf));
  const oArg = stores.map((_, i) => nReads + i);
  const at = (lin: number[], o: number) => lin[0] + (ko > 0 ? o * lin[ko] : 0);
  const rows = nd === 2 ? dims[0].n : 1, n = dims[nd - 1].n;
  const vOff = vec.map(() => 0), sVal = sca.map(() => 0), oOff = stores.map(() => 0);
  const mI = vec.map((l) => (mask(l) ? new Int32Array(n) : null));
  const mF = mI.map((m) => (m ? new Float32Array(m.buffer) : null));
  /** Points the kernel's vector operands at row `o`'s data (widening bool rows). */
  const rowVec = (bufs: TypedArray[], vb: Float32Array[], j: number, off: number) => {
    const m = mI[j];
    if (!m) {
      vOff[j] = off;
      return;
    }
    const b = bufs[vArg[j]] as Uint8Array;
    for (let q = 0; q < n; q++) m[q] = -b[off + q];
    vb[j] = mF[j]!;
    vOff[j] = 0;
  };
  // short rows: several per block, packed by the caller (one kernel call per block); a
  // per-row value becomes a vector slot filled row by row
  const rowWise = (l: { lin: number[] }) => l.lin[ki] === 0 || l.lin[ko] === 0 || l.lin[ko] === n;
  const packed = nd === 2 && n <= BLOCK / 2 && loads.every(rowWise) && !loads.some(mask) &&
      stores.every((s) => s.lin[ko] === n)
    ? compileChain({
      ops: chain,
      vec: loads.map((l) => l.name),
      scalars: [],
      outs: [
        ...stores.map((s) => s.value),
      ],
      lits,
    })
    : null;
  if (packed) {
    const R = Math.floor(BLOCK / n);
    const lArg = loads.map((l) => args.indexOf(l.buf));
    const fn = (...bufs: TypedArray[]): void => {
      const { slots, exec } = packed.block;
      for (let o = 0; o < rows; o += R) {
        const r = Math.min(R, rows - o), m = r * n;
        for (let j = 0; j < loads.length; j++) {
          const lin = loads[j].lin, b = bufs[lArg[j]] as Float32Array, sl = slots[j];
          if (lin[ki] === 0) { // one value per row
            for (let q = 0; q < r; q++) sl.fill(b[at(lin, o + q)], q * n, (q + 1) * n);
          } else if (lin[ko] === n) { // consecutive rows
            const a = at(lin, o);
            sl.set(b.subarray(a, a + m));
          } else { // one row for all: copied once, then doubled
            sl.set(b.subarray(lin[0], lin[0] + n));
            for (let w = n; w < m; w *= 2) sl.copyWithin(w, 0, Math.min(w, m - w));
          }
        }
        exec(m, []);
        for (let j = 0; j < stores.length; j++) {
          const lin = stores[j].lin, b = bufs[oArg[j]] as Float32Array;
          const sl = slots[loads.length + j];
          b.set(sl.subarray(0, m), at(lin, o));
        }
      }
    };
    return { fn, args, source: `${rows} x ${n}, ${R} rows per block: ${packed.text}`, wasm: true };
  }
  if (nd > 2) {
    // more than one outer dim (a per-channel operand, a transposed store): each access's
    // offset per row, from the outer multi-index, tabulated once
    const outer = dims.slice(0, nd - 1);
    const nRows = outer.reduce((a, d) => a * d.n, 1);
    const table = (lin: number[]) => {
      const t = new Int32Array(nRows), idx = outer.map(() => 0);
      for (let o = 0; o < nRows; o++) {
        let off = lin[0];
        for (let q = 0; q < outer.length; q++) off += idx[q] * lin[outer[q].k + 1];
        t[o] = off;
        for (let q = outer.length - 1; q >= 0; q--) {
          if (++idx[q] < outer[q].n) break;
          idx[q] = 0;
        }
      }
      return t;
    };
    const vT = vec.map((l) => table(l.lin)), sT = sca.map((l) => table(l.lin));
    const oT = stores.map((st) => table(st.lin));
    const fn = (...bufs: TypedArray[]): void => {
      const vb = vArg.map((i) => bufs[i] as Float32Array);
      const ob = oArg.map((i) => bufs[i] as Float32Array);
      const sb = sArg.map((i) => bufs[i]);
      for (let o = 0; o < nRows; o++) {
        for (let j = 0; j < vT.length; j++) rowVec(bufs, vb, j, vT[j][o]);
        for (let j = 0; j < sT.length; j++) sVal[j] = sb[j][sT[j][o]];
        for (let j = 0; j < oT.length; j++) oOff[j] = oT[j][o];
        k.run(n, vb, vOff, sVal, ob, oOff);
      }
    };
    return { fn, args, source: `${nRows} x ${n} ${k.text}`, wasm: true };
  }
  const fn = (...bufs: TypedArray[]): void => {
    const vb = vArg.map((i) => bufs[i] as Float32Array);
    const ob = oArg.map((i) => bufs[i] as Float32Array);
    for (let o = 0; o < rows; o++) {
      for (let j = 0; j < vec.length; j++) rowVec(bufs, vb, j, at(vec[j].lin, o));
      for (let j = 0; j < sca.length; j++) sVal[j] = bufs[sArg[j]][at(sca[j].lin, o)];
      for (let j = 0; j < stores.length; j++) oOff[j] = at(stores[j].lin, o);
      k.run(n, vb, vOff, sVal, ob, oOff);
    }
  };
  return { fn, args, source: `${rows} x ${n} ${k.text}`, wasm: true };
}
