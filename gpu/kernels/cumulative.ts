/**
 * Inclusive scans along one axis: `cumsum`, `cumprod`, `cummax`, `cummin`, optionally in
 * reverse. The operand is viewed as `[P, L, Q]` (L the scanned axis).
 *
 * Lines of at most 4096 elements are scanned by one invocation each, in order (f32 sums round
 * like a loop). Longer lines are scanned in blocks of 1024 so that no invocation loops more
 * than a few thousand times ({@link MAX_LOOP_ITERATIONS}: llvmpipe stops every loop of an
 * invocation after 65535 iterations in all, which made the single-pass scan return zeros from
 * index 65535 on):
 * 1. one invocation per block scans it and writes its total;
 * 2. the totals `[P, L/1024, Q]` are scanned by the same plan, recursively;
 * 3. every element of block b ≥ 1 is combined with the scanned total of block b - 1.
 *
 * cummax/cummin propagate NaN from its first position on.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import type { CumulativePrim } from "../../core/prims/names.ts";
import {
  type BufRef,
  elementwiseKernel,
  Helpers,
  inp,
  MAX_LOOP_ITERATIONS,
  out,
  type Plan,
  size,
  type Step,
  storageType,
  tmp,
  u,
} from "./common.ts";
import { combineExpr, identityOf, type Monoid } from "./reduce.ts";

/** Lines up to this long are scanned by one invocation each. */
const _SEQ_MAX = 4096;
/** The block length of the blocked scan. */
const _BLOCK = 1024;

/** The monoid of a scan primitive. */
function _monoid(op: CumulativePrim): Monoid {
  return op === "cumsum" ? "sum" : op === "cumprod" ? "prod" : op === "cummax" ? "max" : "min";
}

/** A scan of `[P, L, Q]` from `src` to `dst`, with its temporaries appended to `temps`. */
interface _Scan {
  readonly m: Monoid;
  readonly dtype: DType;
  readonly P: number;
  readonly L: number;
  readonly Q: number;
  readonly reverse: boolean;
  readonly src: BufRef;
  readonly dst: BufRef;
}

/** The element offset of scan position `pos` of line (p, q). */
function _addr(s: _Scan, p: string, pos: string, q: string): string {
  const at = s.reverse ? `(${u(s.L - 1)} - ${pos})` : `(${pos})`;
  return `(${p} * ${u(s.L)} + ${at}) * ${u(s.Q)} + ${q}`;
}

function _steps(s: _Scan, temps: number[]): Step[] {
  const { m, dtype, P, L, Q } = s;
  const t = storageType(dtype);
  const h = new Helpers();
  const ident = identityOf(m, dtype, h);
  const comb = (a: string, b: string) => combineExpr(m, dtype, a, b, h);
  if (L <= _SEQ_MAX) {
    const body = `let p = i / ${u(Q)};
  let q = i % ${u(Q)};
  var acc = ${ident};
  for (var l = 0u; l < ${u(L)}; l = l + 1u) {
    let k = ${_addr(s, "p", "l", "q")};
    acc = ${comb("acc", "a[k]")};
    o[k] = acc;
  }`;
    const kernel = elementwiseKernel({
      bindings: [
        { name: "a", type: t, access: "read", ref: s.src },
        { name: "o", type: t, access: "read_write", ref: s.dst },
      ],
      total: P * Q,
      helpers: String(h),
      body,
    });
    return [{ kind: "dispatch", kernel }];
  }
  const NB = Math.ceil(L / _BLOCK);
  if (_BLOCK > MAX_LOOP_ITERATIONS) throw new Error("internal: scan block too long");
  const totals = tmp(temps.push(P * NB * Q * 4) - 1);
  const scanned = tmp(temps.push(P * NB * Q * 4) - 1);
  const step = comb("acc", "a[k]");
  const blocks = elementwiseKernel({
    bindings: [
      { name: "a", type: t, access: "read", ref: s.src },
      { name: "o", type: t, access: "read_write", ref: s.dst },
      { name: "tot", type: t, access: "read_write", ref: totals },
    ],
    total: P * NB * Q,
    helpers: String(h),
    body: `let q = i % ${u(Q)};
  let r = i / ${u(Q)};
  let b = r % ${u(NB)};
  let p = r / ${u(NB)};
  let end = min((b + 1u) * ${u(_BLOCK)}, ${u(L)});
  var acc = ${ident};
  for (var l = b * ${u(_BLOCK)}; l < end; l = l + 1u) {
    let k = ${_addr(s, "p", "l", "q")};
    acc = ${step};
    o[k] = acc;
  }
  tot[i] = acc;`,
  });
  const inner = _steps(
    { m, dtype, P, L: NB, Q, reverse: false, src: totals, dst: scanned },
    temps,
  );
  const h3 = new Helpers();
  const fix = combineExpr(m, dtype, `pre[(p * ${u(NB)} + b - 1u) * ${u(Q)} + q]`, "o[k]", h3);
  const fixup = elementwiseKernel({
    bindings: [
      { name: "pre", type: t, access: "read", ref: scanned },
      { name: "o", type: t, access: "read_write", ref: s.dst },
    ],
    total: P * L * Q,
    helpers: String(h3),
    body: `let q = i % ${u(Q)};
  let r = i / ${u(Q)};
  let pos = r % ${u(L)};
  let p = r / ${u(L)};
  let b = pos / ${u(_BLOCK)};
  if (b > 0u) {
    let k = ${_addr(s, "p", "pos", "q")};
    o[k] = ${fix};
  }`,
  });
  return [{ kind: "dispatch", kernel: blocks }, ...inner, { kind: "dispatch", kernel: fixup }];
}

/**
 * A scan plan.
 *
 * @param op The primitive.
 * @param dtype The dtype.
 * @param shape The shape.
 * @param axis The scanned axis.
 * @param reverse Scan from the end.
 * @returns The plan: input 0 → output 0 (temporaries for lines longer than 4096).
 */
export function cumulativePlan(
  op: CumulativePrim,
  dtype: DType,
  shape: readonly number[],
  axis: number,
  reverse: boolean,
): Plan {
  const L = shape[axis];
  const P = size(shape.slice(0, axis)), Q = size(shape.slice(axis + 1));
  if (L === 0 || P * Q === 0) return { steps: [], temps: [] };
  const temps: number[] = [];
  const steps = _steps(
    { m: _monoid(op), dtype, P, L, Q, reverse, src: inp(0), dst: out(0) },
    temps,
  );
  return { steps, temps };
}
