/**
 * `dot_general`: batched tensor contraction, the primitive behind matmul, dot, einsum.
 *
 * @module
 */
import { fmtAvals, prod, ShapedArray, stridesOf } from "../aval.ts";
import { definePrimitive, type Primitive, UndefinedPrimal } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { alloc } from "./host.ts";
import { moveaxis, transpose } from "./structural.ts";
import { add } from "./elementwise.ts";

/**
 * Dimension numbers: contracting and batch dimensions of lhs and rhs; the params of
 * `dot_general` (a type alias: assignable to the generic `Params` record).
 */
export type DotDims = {
  /** `[lhsContracting, rhsContracting]`. */
  readonly contracting: readonly [readonly number[], readonly number[]];
  /** `[lhsBatch, rhsBatch]`. */
  readonly batch: readonly [readonly number[], readonly number[]];
};

function freeDims(ndim: number, c: readonly number[], b: readonly number[]): number[] {
  return [...Array(ndim).keys()].filter((i) => !c.includes(i) && !b.includes(i));
}

export const dot_general_p: Primitive<DotDims> = definePrimitive<DotDims>("dot_general", {
  params: { contracting: "required", batch: "required" },
  abstractEval([l, r], { contracting: [lc, rc], batch: [lb, rb] }) {
    const bad = (why: string) => new TypeError(`Cannot dot_general ${fmtAvals([l, r])}: ${why}`);
    if (l.dtype !== r.dtype) throw bad(`dtypes differ (${l.dtype} vs ${r.dtype})`);
    if (lc.length !== rc.length || lb.length !== rb.length) {
      throw bad("dimension lists differ in length");
    }
    const inRange = (ds: number[], n: number) => ds.every((d) => d >= 0 && d < n);
    if (!inRange([...lc, ...lb], l.ndim) || !inRange([...rc, ...rb], r.ndim)) {
      throw new RangeError(`Cannot dot_general ${fmtAvals([l, r])}: dimension out of range`);
    }
    lc.forEach((d: number, i: number) => {
      if (l.shape[d] !== r.shape[rc[i]]) {
        throw bad(`contracting dimensions differ (${l.shape[d]} vs ${r.shape[rc[i]]})`);
      }
    });
    lb.forEach((d: number, i: number) => {
      if (l.shape[d] !== r.shape[rb[i]]) {
        throw bad(`batch dimensions differ (${l.shape[d]} vs ${r.shape[rb[i]]})`);
      }
    });
    const shape = [
      ...lb.map((d: number) => l.shape[d]),
      ...freeDims(l.ndim, lc, lb).map((d) => l.shape[d]),
      ...freeDims(r.ndim, rc, rb).map((d) => r.shape[d]),
    ];
    return [new ShapedArray(shape, l.dtype)];
  },
  impl([l, r], { contracting: [lc, rc], batch: [lb, rb] }, [o]) {
    const out = alloc(o);
    const lf = freeDims(l.aval.ndim, lc, lb), rf = freeDims(r.aval.ndim, rc, rb);
    const ls = stridesOf(l.aval.shape), rs = stridesOf(r.aval.shape);
    const B = prod(lb.map((d: number) => l.aval.shape[d]));
    const M = prod(lf.map((d) => l.aval.shape[d]));
    const N = prod(rf.map((d) => r.aval.shape[d]));
    const K = prod(lc.map((d: number) => l.aval.shape[d]));
    // precompute offsets of each flattened batch/free/contract index
    const offs = (dims: readonly number[], shape: readonly number[], st: number[]) => {
      const n = prod(dims.map((d) => shape[d]));
      const res = new Int32Array(n);
      const sub = dims.map((d) => shape[d]);
      for (let f = 0; f < n; f++) {
        let rem = f, off = 0;
        for (let k = dims.length - 1; k >= 0; k--) {
          const i = rem % sub[k];
          rem = (rem - i) / sub[k];
          off += i * st[dims[k]];
        }
        res[f] = off;
      }
      return res;
    };
    const lbo = offs(lb, l.aval.shape, ls), rbo = offs(rb, r.aval.shape, rs);
    const lfo = offs(lf, l.aval.shape, ls), rfo = offs(rf, r.aval.shape, rs);
    const lco = offs(lc, l.aval.shape, ls), rco = offs(rc, r.aval.shape, rs);
    // pack both operands into contiguous float64 [B, M, K] and [B, K, N] (monomorphic, cache-
    // friendly loops), then accumulate rows in the i-k-j order
    const lp = new Float64Array(B * M * K), rp = new Float64Array(B * K * N);
    const ld = l.data, rd = r.data;
    for (let b = 0; b < B; b++) {
      for (let m = 0; m < M; m++) {
        const base = lbo[b] + lfo[m], o = (b * M + m) * K;
        for (let k = 0; k < K; k++) lp[o + k] = ld[base + lco[k]];
      }
      for (let k = 0; k < K; k++) {
        const base = rbo[b] + rco[k], o = (b * K + k) * N;
        for (let n = 0; n < N; n++) rp[o + n] = rd[base + rfo[n]];
      }
    }
    const isInt = o.dtype === "i32" || o.dtype === "u32";
    // four output rows at a time: each rhs element loaded once feeds four accumulators
    const acc = new Float64Array(4 * N);
    for (let b = 0; b < B; b++) {
      for (let m0 = 0; m0 < M; m0 += 4) {
        const rows = Math.min(4, M - m0);
        acc.fill(0);
        const l0 = (b * M + m0) * K;
        for (let k = 0; k < K; k++) {
          const a0 = lp[l0 + k];
          const a1 = rows > 1 ? lp[l0 + K + k] : 0;
          const a2 = rows > 2 ? lp[l0 + 2 * K + k] : 0;
          const a3 = rows > 3 ? lp[l0 + 3 * K + k] : 0;
          if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
          const ro = (b * K + k) * N;
          for (let n = 0; n < N; n++) {
            const r = rp[ro + n];
            acc[n] += a0 * r;
            acc[N + n] += a1 * r;
            acc[2 * N + n] += a2 * r;
            acc[3 * N + n] += a3 * r;
          }
        }
        for (let i = 0; i < rows; i++) {
          const ob = (b * M + m0 + i) * N;
          if (isInt) { for (let n = 0; n < N; n++) out[ob + n] = acc[i * N + n] | 0; }
          else for (let n = 0; n < N; n++) out[ob + n] = acc[i * N + n];
        }
      }
    }
    return [out];
  },
  symbolicZeros: true,
  jvp([l, r], [tl, tr]: (Tensor | null)[], params) {
    // bilinear; a null tangent is zero and its term is skipped
    const y = bind1(dot_general_p, [l, r], params);
    const a = tl && bind1(dot_general_p, [tl, r], params);
    const b = tr && bind1(dot_general_p, [l, tr], params);
    return [[y], [a && b ? add(a, b) : a ?? b]];
  },
  transpose([ct], [l, r], { contracting: [lc, rc], batch: [lb, rb] }) {
    if (!ct) return [null, null];
    const la = l instanceof UndefinedPrimal ? l.aval : (l as Tensor).aval;
    const ra = r instanceof UndefinedPrimal ? r.aval : (r as Tensor).aval;
    const nb = lb.length;
    const lf = freeDims(la.ndim, lc, lb), rf = freeDims(ra.ndim, rc, rb);
    // ct dims: [batch (nb), lhs free (lf.length), rhs free (rf.length)]
    const ctB = [...Array(nb).keys()];
    const ctL = lf.map((_, i) => nb + i), ctR = rf.map((_, i) => nb + lf.length + i);
    let tl: Tensor | null = null, tr: Tensor | null = null;
    if (l instanceof UndefinedPrimal) {
      // d lhs = ct · rhs, contracting ct's rhs-free dims with rhs's free dims
      const y = dotGeneral(ct, r as Tensor, { contracting: [ctR, rf], batch: [ctB, rb] });
      // y dims: [batch, lhs free, rhs contracting (in rc order)] → permute to lhs layout
      const src = [...lb, ...lf, ...lc];
      tl = transpose(y, la.shape.map((_, d) => src.indexOf(d)));
    }
    if (r instanceof UndefinedPrimal) {
      const y = dotGeneral(ct, l as Tensor, { contracting: [ctL, lf], batch: [ctB, lb] });
      // y dims: [batch, rhs free, lhs contracting → rc order]
      const src = [...rb, ...rf, ...rc];
      tr = transpose(y, ra.shape.map((_, d) => src.indexOf(d)));
    }
    return [tl, tr];
  },
  batch([l, r], [dl, dr], { contracting: [lc, rc], batch: [lb, rb] }) {
    // batched operands get their batch axis as a new leading dot batch dimension
    const shift = (ds: readonly number[]) => ds.map((d) => d + 1);
    if (dl !== null && dr !== null) {
      const lm = moveaxis(l, dl, 0), rm = moveaxis(r, dr, 0);
      const y = dotGeneral(lm, rm, {
        contracting: [shift(lc), shift(rc)],
        batch: [[0, ...shift(lb)], [0, ...shift(rb)]],
      });
      return [[y], [0]];
    }
    if (dl !== null) {
      // the batch axis is a free dim of lhs: it lands after the dot batch dims
      const lm = moveaxis(l, dl, 0);
      const y = dotGeneral(lm, r, { contracting: [shift(lc), rc], batch: [shift(lb), rb] });
      return [[y], [lb.length]];
    }
    const rm = moveaxis(r, dr!, 0);
    const y = dotGeneral(l, rm, { contracting: [lc, shift(rc)], batch: [lb, shift(rb)] });
    const lfree = freeDims(l.ndim, lc, lb).length;
    return [[y], [lb.length + lfree]];
  },
});

/** General contraction with explicit dimension numbers. */
export function dotGeneral(lhs: Tensor, rhs: Tensor, dims: DotDims): Tensor {
  return bind1(dot_general_p, [lhs, rhs], {
    contracting: [[...dims.contracting[0]], [...dims.contracting[1]]],
    batch: [[...dims.batch[0]], [...dims.batch[1]]],
  });
}
