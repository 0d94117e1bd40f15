/**
 * Inclusive scans along one axis: `cumsum`, `cumprod`, `cummax`, `cummin`, optionally in
 * reverse. One invocation per line (the operand viewed as `[P, L, Q]`), scanning its L
 * elements in order, so results are the sequential left fold (f32 sums round like a loop).
 * cummax/cummin propagate NaN from its first position on.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import type { CumulativePrim } from "../prims.ts";
import {
  elementwiseKernel,
  Helpers,
  inp,
  type Kernel,
  out,
  size,
  storageType,
  u,
} from "./common.ts";
import { combineExpr, identityOf, type Monoid } from "./reduce.ts";

/**
 * A scan kernel.
 *
 * @param op The primitive.
 * @param dtype The dtype.
 * @param shape The shape.
 * @param axis The scanned axis.
 * @param reverse Scan from the end.
 * @returns The kernel: input 0 → output 0.
 */
export function cumulativeKernel(
  op: CumulativePrim,
  dtype: DType,
  shape: readonly number[],
  axis: number,
  reverse: boolean,
): Kernel {
  const m: Monoid = op === "cumsum"
    ? "sum"
    : op === "cumprod"
    ? "prod"
    : op === "cummax"
    ? "max"
    : "min";
  const h = new Helpers();
  const t = storageType(dtype);
  const L = shape[axis], Q = size(shape.slice(axis + 1));
  const P = size(shape.slice(0, axis));
  const pos = reverse ? `${u(Math.max(L - 1, 0))} - l` : "l";
  const body = `let base = (i / ${u(Q)}) * ${u(L * Q)} + i % ${u(Q)};
  var acc = ${identityOf(m, dtype, h)};
  for (var l = 0u; l < ${u(L)}; l = l + 1u) {
    let k = base + (${pos}) * ${u(Q)};
    let x = a[k];
    acc = ${combineExpr(m, dtype, "acc", "x", h)};
    o[k] = acc;
  }`;
  return elementwiseKernel({
    bindings: [
      { name: "a", type: t, access: "read", ref: inp(0) },
      { name: "o", type: t, access: "read_write", ref: out(0) },
    ],
    total: L === 0 ? 0 : P * Q,
    helpers: String(h),
    body,
  });
}
