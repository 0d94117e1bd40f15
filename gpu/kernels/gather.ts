/**
 * `gather` (numpy `take` along one axis, indices clamped) and `scatter` (set or add along one
 * axis, out-of-range indices dropped).
 *
 * Both view the operand as `[P, A, Q]` (P the product of the dims before `axis`, A the axis,
 * Q the product after it) and the indices as a flat `[I]`, so the gathered/updates array is
 * `[P, I, Q]`.
 *
 * `scatter` with mode "add" accumulates with atomics: `atomicAdd` for i32/u32, `atomicOr` for
 * bool, and for f32 a compare-and-swap loop on the u32 bits. No update is lost, but the order
 * in which duplicate indices add up is unspecified, so f32 sums may differ in the last bits
 * from run to run. With mode "set", one of the duplicate updates wins (which one is
 * unspecified, as in JAX).
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import {
  elementwiseKernel,
  inp,
  type Kernel,
  out,
  type Plan,
  size,
  storageType,
  u,
} from "./common.ts";

function _pqa(shape: readonly number[], axis: number): [number, number, number] {
  return [size(shape.slice(0, axis)), shape[axis], size(shape.slice(axis + 1))];
}

/**
 * `gather`: `out[p, j, q] = x[p, clamp(idx[j], 0, A - 1), q]`.
 *
 * @param dtype The operand's dtype.
 * @param xShape The operand's shape.
 * @param idxSize The number of indices.
 * @param axis The axis.
 * @returns The kernel: inputs (x, idx:i32) → output 0.
 */
export function gatherKernel(
  dtype: DType,
  xShape: readonly number[],
  idxSize: number,
  axis: number,
): Kernel {
  const [P, A, Q] = _pqa(xShape, axis);
  const t = storageType(dtype);
  // An empty axis has nothing to take: zeros (the bindings stay statically used).
  const body = A === 0 ? `_ = a[0];\n  _ = idx[0];\n  o[i] = ${t}(0);` : `let q = i % ${u(Q)};
  let r = i / ${u(Q)};
  let j = r % ${u(idxSize)};
  let p = r / ${u(idxSize)};
  let k = u32(clamp(idx[j], 0i, ${A - 1}i));
  o[i] = a[(p * ${u(A)} + k) * ${u(Q)} + q];`;
  return elementwiseKernel({
    bindings: [
      { name: "a", type: t, access: "read", ref: inp(0) },
      { name: "idx", type: "i32", access: "read", ref: inp(1) },
      { name: "o", type: t, access: "read_write", ref: out(0) },
    ],
    total: P * idxSize * Q,
    body,
  });
}

/**
 * `scatter`: a copy of `x` with `updates[p, j, q]` written to (or added at) `[p, idx[j], q]`,
 * skipping indices outside `[0, A)`.
 *
 * @param dtype The operand's dtype.
 * @param xShape The operand's shape.
 * @param idxSize The number of indices.
 * @param axis The axis.
 * @param mode "set" or "add".
 * @returns The plan: inputs (x, idx:i32, updates) → output 0.
 */
export function scatterPlan(
  dtype: DType,
  xShape: readonly number[],
  idxSize: number,
  axis: number,
  mode: "set" | "add",
): Plan {
  const [P, A, Q] = _pqa(xShape, axis);
  const t = storageType(dtype);
  let oType: string = t;
  let write: string;
  if (mode === "set") write = "o[dst] = v;";
  else if (dtype === "f32") {
    oType = "atomic<u32>";
    write = `var old = atomicLoad(&o[dst]);
    loop {
      let r = atomicCompareExchangeWeak(&o[dst], old, bitcast<u32>(bitcast<f32>(old) + v));
      if (r.exchanged) { break; }
      old = r.old_value;
    }`;
  } else {
    oType = `atomic<${t}>`;
    write = dtype === "bool" ? "atomicOr(&o[dst], v);" : "atomicAdd(&o[dst], v);";
  }
  const kernel = elementwiseKernel({
    bindings: [
      { name: "idx", type: "i32", access: "read", ref: inp(1) },
      { name: "upd", type: t, access: "read", ref: inp(2) },
      { name: "o", type: oType, access: "read_write", ref: out(0) },
    ],
    total: P * idxSize * Q,
    body: `let q = i % ${u(Q)};
  let r = i / ${u(Q)};
  let j = r % ${u(idxSize)};
  let p = r / ${u(idxSize)};
  let k = idx[j];
  if (k >= 0i && k < ${A}i) {
    let dst = (p * ${u(A)} + u32(k)) * ${u(Q)} + q;
    let v = upd[i];
    ${write}
  }`,
  });
  const bytes = size(xShape) * 4;
  return {
    steps: [
      ...(bytes ? [{ kind: "copy" as const, src: inp(0), dst: out(0), bytes }] : []),
      { kind: "dispatch", kernel },
    ],
    temps: [],
  };
}
