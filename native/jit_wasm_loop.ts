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
/** Elements from which a loop of shorter rows runs as a Wasm kernel, its rows packed. */
const WASM_MIN_PACKED = 8192;
/** Operations from which a chain over short rows runs as a Wasm kernel. */
const SHORT_MIN_OPS = 4;

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
  // (a copy without arithmetic, a transpose, is the JavaScript loop's plain moves)
  if (nd < 1 || chain.length === 0) return null;
  // short rows (GoogLeNet's 4 × 4 and 2 × 2 maps) only packed several per block, and only in
  // loops long enough to pay for the copies
  const short = dims[nd - 1].n < WASM_MIN_ROW;
  if (short && (nd < 2 || dims.reduce((a, d) => a * d.n, 1) < WASM_MIN_PACKED)) return null;
  // (and only for chains long enough to pay for the copies: the JavaScript loop runs a short
  // chain over short rows faster)
  if (short && chain.length < SHORT_MIN_OPS) return null;
  const ki = dims[nd - 1].k + 1, ko = nd === 2 ? dims[0].k + 1 : -1;
  const coef = (lin: number[]) => lin[ki];
  // f32 values; bool buffers (masks) only where read along the row: each row is widened to a
  // lane mask (all bits set for true, as the chain computes bools) before the kernel runs
  // bool results (a ReLU's mask beside its output) only from packed rows, narrowed from lane masks
  const boolOut = stores.some((x) => x.buf.aval.dtype === "bool");
  if (stores.some((x) => x.buf.aval.dtype !== "f32" && x.buf.aval.dtype !== "bool")) return null;
  if (stores.some((x) => x.buf.aval.dtype === "bool" && lits.has(x.value))) return null;
  const mask = (l: { buf: NVal; lin: number[] }) =>
    l.buf.aval.dtype === "bool" && coef(l.lin) === 1;
  if (loads.some((l) => l.buf.aval.dtype !== "f32" && !mask(l))) return null;
  if (loads.some((l) => coef(l.lin) !== 0 && coef(l.lin) !== 1)) return null;
  if (stores.some((s) => coef(s.lin) !== 1)) return null;
  const vec = loads.filter((l) => coef(l.lin) === 1), sca = loads.filter((l) => coef(l.lin) === 0);
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
  // each access's offset per row, from the outer multi-index, tabulated once
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
  if (nd >= 2 && n <= BLOCK / 2) {
    const p = packedLoop(chain, lits, loads, stores, n, nRows, table, args, ki);
    if (p) return p;
  }
  if (boolOut || short) return null;
  const k = compileChain({
    ops: chain,
    vec: vec.map((l) => l.name),
    scalars: sca.map((l) => l.name),
    outs: stores.map((s) => s.value),
    lits,
  });
  if (!k) return null;
  if (nd > 2) {
    // more than one outer dim (a per-channel operand, a transposed store), long rows
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

/**
 * Short rows (at most half a block), several per block: each operand's rows copied into its
 * block slot (consecutive rows with one copy; a row read by every row once per call; a value
 * per row as a run of that value; a bool mask widened to lane masks), the chain run once per
 * block, and each result's rows copied out. Null where the chain does not compile.
 */
function packedLoop(
  chain: readonly ChainOp[],
  lits: ReadonlyMap<string, number>,
  loads: readonly { name: string; buf: NVal; lin: number[] }[],
  stores: readonly { value: string; lin: number[]; buf: NVal }[],
  n: number,
  nRows: number,
  table: (lin: number[]) => Int32Array,
  args: readonly NVal[],
  ki: number,
): LoopKernel | null {
  const R = Math.floor(BLOCK / n);
  // how an access walks the rows: "flat" consecutive rows, "same" one row for all, "row" one
  // value per row (its innermost coefficient is 0), "any" otherwise
  const kind = (t: Int32Array, inner: number) =>
    inner === 0
      ? "row"
      : t.every((x, o) => x === t[0] + o * n)
      ? "flat"
      : t.every((x) => x === t[0])
      ? "same"
      : "any";
  const lT = loads.map((l) => table(l.lin)), sT = stores.map((s) => table(s.lin));
  const lK = loads.map((l, j) => kind(lT[j], l.lin[ki]));
  const sK = sT.map((t) => kind(t, 1));
  // short rows scattered one by one (a transpose of 2 × 2 maps) cost more to copy than the
  // JavaScript loop's whole work
  if (n < WASM_MIN_ROW && [...lK, ...sK].includes("any")) return null;
  const isMask = loads.map((l) => l.buf.aval.dtype === "bool");
  const isBool = stores.map((s) => s.buf.aval.dtype === "bool");
  const lArg = loads.map((l) => args.indexOf(l.buf));
  const oArg = stores.map((_, j) => args.length - stores.length + j);
  // a value per row read through a table of period P rows (a per-channel operand): the
  // blocks start at G = gcd(P, R) phases of it, each phase's runs laid out once per call and
  // copied per block
  const phased = lK.map((kj, j) => {
    if (kj !== "row") return null;
    const t = lT[j], P = periodOf(t), G = gcd(P, R);
    if ((P / G) * R >= nRows || P / G > 64) return null;
    return { P, G, runs: new Float32Array((P / G) * R * n) };
  });
  // very short rows with a value per row filled row by row: the fills would cost more than
  // the loop
  if (n < 16 && lK.some((kj, j) => kj === "row" && !phased[j])) return null;
  // bool masks are copied as bytes, widened by the kernel
  const k = compileChain({
    ops: chain,
    vec: loads.map((l) => l.name),
    bytes: loads.filter((_, j) => isMask[j]).map((l) => l.name),
    scalars: [],
    outs: stores.map((s) => s.value),
    lits,
  });
  if (!k) return null;
  const { slots, exec } = k.block;
  const iSlots = slots.map((sl) => new Int32Array(sl.buffer, sl.byteOffset, sl.length));
  const bSlots = slots.map((sl) => new Uint8Array(sl.buffer, sl.byteOffset, sl.length));
  const fn = (...bufs: TypedArray[]): void => {
    for (let j = 0; j < loads.length; j++) {
      const ph = phased[j];
      if (!ph) continue;
      const t = lT[j], b = bufs[lArg[j]], { P, G, runs } = ph;
      for (let s = 0, d = 0; s < P; s += G) {
        for (let q = 0; q < R; q++, d += n) runs.fill(b[t[(s + q) % P]], d, d + n);
      }
    }
    for (let j = 0; j < loads.length; j++) {
      if (lK[j] !== "same") continue; // one row for all: copied once per call, then doubled
      const b = bufs[lArg[j]], a = lT[j][0], m = Math.min(R, nRows) * n;
      const si = isMask[j] ? bSlots[j] : iSlots[j];
      if (isMask[j]) bSlots[j].set((b as Uint8Array).subarray(a, a + n));
      else slots[j].set((b as Float32Array).subarray(a, a + n));
      for (let w = n; w < m; w *= 2) si.copyWithin(w, 0, Math.min(w, m - w));
    }
    for (let o = 0; o < nRows; o += R) {
      const r = Math.min(R, nRows - o), m = r * n;
      for (let j = 0; j < loads.length; j++) {
        const t = lT[j], b = bufs[lArg[j]], sl = slots[j], sb = bSlots[j], kj = lK[j];
        if (kj === "same") continue;
        const ph = phased[j];
        if (ph) {
          const a = (((o % ph.P) / ph.G) | 0) * R * n;
          sl.set(ph.runs.subarray(a, a + m));
        } else if (kj === "row") {
          for (let q = 0; q < r; q++) sl.fill(b[t[o + q]], q * n, (q + 1) * n);
        } else if (kj === "flat" && !isMask[j]) {
          sl.set((b as Float32Array).subarray(t[o], t[o] + m));
        } else if (kj === "flat") {
          sb.set((b as Uint8Array).subarray(t[o], t[o] + m));
        } else if (isMask[j]) {
          for (let q = 0; q < r; q++) {
            sb.set((b as Uint8Array).subarray(t[o + q], t[o + q] + n), q * n);
          }
        } else {
          for (let q = 0; q < r; q++) {
            sl.set((b as Float32Array).subarray(t[o + q], t[o + q] + n), q * n);
          }
        }
      }
      exec(m, []);
      for (let j = 0; j < stores.length; j++) {
        const t = sT[j], b = bufs[oArg[j]], sl = slots[loads.length + j];
        if (isBool[j]) {
          const si = iSlots[loads.length + j];
          for (let q = 0; q < r; q++) {
            for (let i = 0, a = t[o + q], d = q * n; i < n; i++) b[a + i] = si[d + i] & 1;
          }
        } else if (sK[j] === "flat") (b as Float32Array).set(sl.subarray(0, m), t[o]);
        else {
          for (let q = 0; q < r; q++) {
            (b as Float32Array).set(sl.subarray(q * n, (q + 1) * n), t[o + q]);
          }
        }
      }
    }
  };
  return { fn, args, source: `${nRows} x ${n}, ${R} rows per block: ${k.text}`, wasm: true };
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** The least P dividing `t.length` with `t[o] = t[o mod P]` for every row o. */
function periodOf(t: Int32Array): number {
  const N = t.length;
  for (let P = 1; P < N; P++) {
    if (N % P !== 0) continue;
    let ok = true;
    for (let o = P; o < N && ok; o++) ok = t[o] === t[o - P];
    if (ok) return P;
  }
  return N;
}
