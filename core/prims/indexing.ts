/**
 * Indexing primitives along one axis: `gather` (NumPy `take`) and `scatter` (functional
 * `x.at[idx].set/add`), plus the lax-level `takeAlongAxis` built from them.
 *
 * Both view the operand as `[P, A, Q]` (P the product of the dimensions before `axis`, A the
 * axis, Q the product after it) and the indices as a flat list of I entries, so the gathered
 * array (and scatter's updates) is `[P, I, Q]`, i.e. of shape
 * `x.shape[:axis] + idx.shape + x.shape[axis+1:]`.
 *
 * Out-of-range indices follow JAX's defaults: `gather` clamps them into `[0, A)`, `scatter`
 * drops their updates. The `np` layer normalizes negative indices before binding.
 *
 * @module
 */
import { fmtAvals, prod, sameShape, ShapedArray, stridesOf } from "../aval.ts";
import { isFloat } from "../dtype.ts";
import { definePrimitive, type HostArray, type Primitive, UndefinedPrimal } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { add, and, eq, ge, lt, max, min, mul, select } from "./elementwise.ts";
import { alloc } from "./host.ts";
import { broadcastInDim, full, iota, moveaxis, reshape, zerosLikeT } from "./structural.ts";

/** The mode of `scatter`: overwrite or accumulate. */
export type ScatterMode = "set" | "add";

function pqa(shape: readonly number[], axis: number): [number, number, number] {
  return [prod(shape.slice(0, axis)), shape[axis], prod(shape.slice(axis + 1))];
}

/** `x.shape[:axis] + idxShape + x.shape[axis+1:]`. */
function gatheredShape(xs: readonly number[], idxShape: readonly number[], axis: number): number[] {
  return [...xs.slice(0, axis), ...idxShape, ...xs.slice(axis + 1)];
}

function checkAxis(op: string, x: ShapedArray, axis: number, all: ShapedArray[]): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.ndim) {
    throw new RangeError(
      `${op}: axis ${axis} is out of bounds for ${x} (operands ${fmtAvals(all)})`,
    );
  }
}

function checkIndices(op: string, idx: ShapedArray, all: ShapedArray[], axis: number): void {
  if (idx.dtype !== "i32") {
    throw new TypeError(
      `Cannot ${op} ${fmtAvals(all)} along axis ${axis}: indices must be i32, got ${idx}`,
    );
  }
}

// ---------------------------------------------------------------- gather

/**
 * `gather` {axis}: inputs `(x, idx: i32)`; `out[p, j, q] = x[p, clamp(idx[j], 0, A-1), q]`,
 * of shape `x.shape[:axis] + idx.shape + x.shape[axis+1:]` (zeros when A = 0).
 */
/** Params of `gather`: the axis of `x` that the indices select along. */
export type GatherParams = { readonly axis: number };
export const gather_p: Primitive<GatherParams> = definePrimitive<GatherParams>("gather", {
  params: { axis: "required" },
  abstractEval(avals, { axis }) {
    const [x, idx] = avals;
    if (avals.length !== 2) throw new TypeError(`gather takes 2 operands, got ${fmtAvals(avals)}`);
    checkAxis("gather", x, axis, avals);
    checkIndices("gather", idx, avals, axis);
    return [new ShapedArray(gatheredShape(x.shape, idx.shape, axis), x.dtype)];
  },
  impl([x, idx]: HostArray[], { axis }, [o]) {
    const out = alloc(o);
    const [P, A, Q] = pqa(x.aval.shape, axis);
    const I = idx.aval.size;
    if (A === 0) return [out];
    const xd = x.data, id = idx.data;
    for (let p = 0; p < P; p++) {
      for (let j = 0; j < I; j++) {
        const k = Math.min(Math.max(id[j], 0), A - 1);
        const src = (p * A + k) * Q, dst = (p * I + j) * Q;
        for (let q = 0; q < Q; q++) out[dst + q] = xd[src + q];
      }
    }
    return [out];
  },
  // gather is linear in x: d gather(x, idx) = gather(dx, idx)
  jvp([x, idx], [tx], { axis }) {
    return [[gather(x, idx, axis)], [isFloat(x.dtype) ? gather(tx, idx, axis) : null]];
  },
  // the adjoint of reading x[clamp(idx)] is adding the cotangent back there
  transpose([ct], [x, idx], { axis }) {
    if (!ct || !(x instanceof UndefinedPrimal)) return [null, null];
    const n = x.aval.shape[axis];
    if (n === 0 || x.aval.size === 0) return [zerosLikeT(x.aval), null];
    const ci = clampIndices(idx as Tensor, n);
    return [scatter(zerosLikeT(x.aval), ci, ct, axis, "add"), null];
  },
  batch([x, idx], [dx, di], { axis }, size) {
    if (di === null) {
      // only x is batched: the batch axis is one more leading dimension of x
      const xb = moveaxis(x, dx!, 0);
      return [[gather(xb, idx, axis + 1)], [0]];
    }
    if (dx === null) {
      // only the indices are batched: their batch axis lands at axis + di of the output
      return [[gather(x, idx, axis)], [axis + di]];
    }
    // both batched: put the batch axis just before the gathered axis, merge the two, and
    // offset each example's (clamped) indices by b·A, so one gather serves every example
    const xs = moveaxis(x, dx, axis); // [pre, B, A, post]
    const n = xs.shape[axis + 1];
    const merged = reshape(xs, [...xs.shape.slice(0, axis), size * n, ...xs.shape.slice(axis + 2)]);
    const ib = moveaxis(idx, di, 0);
    const off = mul(iota("i32", ib.shape, 0), full(ib.shape, n, "i32"));
    const flat = add(clampIndices(ib, Math.max(n, 1)), off);
    return [[gather(merged, flat, axis)], [axis]];
  },
});

/** `take(x, idx, axis)` with clamped indices (lax level: idx must be i32). */
export function gather(x: Tensor, idx: Tensor, axis: number): Tensor {
  return bind1(gather_p, [x, idx], { axis });
}

/** Clamps i32 indices into `[0, n)`. */
export function clampIndices(idx: Tensor, n: number): Tensor {
  return min(max(idx, full(idx.shape, 0, "i32")), full(idx.shape, Math.max(n - 1, 0), "i32"));
}

/** Whether each i32 index lies in `[0, n)`. */
export function indicesInRange(idx: Tensor, n: number): Tensor {
  return and(ge(idx, full(idx.shape, 0, "i32")), lt(idx, full(idx.shape, n, "i32")));
}

/** Gathers with out-of-range indices reading zero (the adjoint of a dropping scatter). */
function gatherOrZero(x: Tensor, idx: Tensor, axis: number): Tensor {
  const n = x.shape[axis];
  const shape = gatheredShape(x.shape, idx.shape, axis);
  if (n === 0) return full(shape, 0, x.dtype);
  const g = gather(x, clampIndices(idx, n), axis);
  const dims = idx.shape.map((_, i) => axis + i);
  const ok = broadcastInDim(indicesInRange(idx, n), shape, dims);
  return select(ok, g, zerosLikeT(g));
}

// ---------------------------------------------------------------- scatter

/**
 * `scatter` {axis, mode: "set" | "add"}: inputs `(x, idx: i32, updates)` with updates of shape
 * `x.shape[:axis] + idx.shape + x.shape[axis+1:]`; returns x with `updates[p, j, q]` written
 * to (set) or added at (add) `[p, idx[j], q]`. Updates at indices outside `[0, A)` are dropped.
 * With duplicate indices, "add" accumulates them all (bool: logical or) and "set" keeps one of
 * them (the last on the reference backend; unspecified on GPUs, as in JAX).
 */
/** Params of `scatter`: the axis, and whether updates replace or add to the values. */
export type ScatterParams = { readonly axis: number; readonly mode: "set" | "add" };
export const scatter_p: Primitive<ScatterParams> = definePrimitive<ScatterParams>("scatter", {
  params: { axis: "required", mode: "required" },
  abstractEval(avals, { axis, mode }) {
    if (avals.length !== 3) throw new TypeError(`scatter takes 3 operands, got ${fmtAvals(avals)}`);
    const [x, idx, u] = avals;
    checkAxis("scatter", x, axis, avals);
    checkIndices("scatter", idx, avals, axis);
    if (mode !== "set" && mode !== "add") {
      throw new TypeError(`scatter: mode must be "set" or "add", got ${JSON.stringify(mode)}`);
    }
    const want = gatheredShape(x.shape, idx.shape, axis);
    if (u.dtype !== x.dtype || !sameShape(u.shape, want)) {
      throw new TypeError(
        `Cannot scatter ${
          fmtAvals(avals)
        } along axis ${axis}: updates must be ${x.dtype}[${want}] ` +
          `(x.shape[:axis] + indices.shape + x.shape[axis+1:])`,
      );
    }
    return [x];
  },
  impl([x, idx, u]: HostArray[], { axis, mode }, [o]) {
    const out = alloc(o);
    out.set(x.data as never);
    const [P, A, Q] = pqa(x.aval.shape, axis);
    const I = idx.aval.size;
    const id = idx.data, ud = u.data;
    const isAdd = mode === "add", dt = o.dtype;
    for (let p = 0; p < P; p++) {
      for (let j = 0; j < I; j++) {
        const k = id[j];
        if (k < 0 || k >= A) continue;
        const dst = (p * A + k) * Q, src = (p * I + j) * Q;
        for (let q = 0; q < Q; q++) {
          if (!isAdd) out[dst + q] = ud[src + q];
          else if (dt === "bool") out[dst + q] = out[dst + q] || ud[src + q] ? 1 : 0;
          else if (dt === "i32") out[dst + q] = (out[dst + q] + ud[src + q]) | 0;
          else if (dt === "u32") out[dst + q] = (out[dst + q] + ud[src + q]) >>> 0;
          else out[dst + q] += ud[src + q];
        }
      }
    }
    return [out];
  },
  jvp([x, idx, u], [tx, _ti, tu], { axis, mode }) {
    if (!isFloat(x.dtype)) return [[scatter(x, idx, u, axis, mode)], [null]];
    // "add" is linear in (x, updates): d out = scatter_add(dx, idx, du)
    if (mode === "add") {
      return [[scatter(x, idx, u, axis, "add")], [scatter(tx, idx, tu, axis, "add")]];
    }
    // "set" with possibly repeated indices, as JAX's _scatter_jvp: scatter the ids of the
    // updates to find which one wins at each position, then express the result (and its
    // tangent) as a scatter-add of the masked operand and of the winning updates only, so
    // that reverse mode sends each cotangent to exactly one update.
    const ids = add(reshape(iota("i32", [u.size], 0), u.shape), full(u.shape, 1, "i32"));
    const won = scatter(full(x.shape, 0, "i32"), idx, ids, axis, "set");
    const keepX = eq(won, full(x.shape, 0, "i32"));
    const keepU = eq(gatherOrZero(won, idx, axis), ids);
    const z = (t: Tensor) => zerosLikeT(t);
    const out = scatter(select(keepX, x, z(x)), idx, select(keepU, u, z(u)), axis, "add");
    const tout = scatter(select(keepX, tx, z(tx)), idx, select(keepU, tu, z(tu)), axis, "add");
    return [[out], [tout]];
  },
  transpose([ct], [x, idx, u], { axis, mode }) {
    if (!ct) return [null, null, null];
    const i = idx as Tensor;
    const uAval = u instanceof UndefinedPrimal ? u.aval : (u as Tensor).aval;
    let ctx: Tensor | null = null;
    if (x instanceof UndefinedPrimal) {
      // add: x passes through; set: the written positions no longer depend on x
      ctx = mode === "add" ? ct : scatter(ct, i, zerosLikeT(uAval), axis, "set");
    }
    // each (kept) update lands at idx: its cotangent is read back from there. For "set" this
    // assumes unique indices (the JVP rule above never emits a "set" scatter on tangents).
    const ctu = u instanceof UndefinedPrimal ? gatherOrZero(ct, i, axis) : null;
    return [ctx, null, ctu];
  },
  batch([x, idx, u], [dx, di, du], { axis, mode }, size) {
    const lead = (t: Tensor, d: number | null) =>
      d === null
        ? broadcastInDim(t, [size, ...t.shape], t.shape.map((_, k) => k + 1))
        : moveaxis(t, d, 0);
    const xb = lead(x, dx), ub = lead(u, du);
    if (di === null) return [[scatter(xb, idx, ub, axis + 1, mode)], [0]];
    // batched indices: merge the batch axis into the scattered one (just before it) and offset
    // each example's indices by b·A; out-of-range indices become -1 so they stay dropped
    const n = xb.shape[axis + 1];
    const xs = moveaxis(xb, 0, axis);
    const merged = reshape(xs, [...xs.shape.slice(0, axis), size * n, ...xs.shape.slice(axis + 2)]);
    const ib = moveaxis(idx, di, 0);
    const off = add(ib, mul(iota("i32", ib.shape, 0), full(ib.shape, n, "i32")));
    const flat = select(indicesInRange(ib, n), off, full(ib.shape, -1, "i32"));
    const us = moveaxis(ub, 0, axis);
    const y = scatter(merged, flat, us, axis, mode);
    return [[reshape(y, xs.shape)], [axis]];
  },
});

/** Writes (`"set"`) or adds (`"add"`) updates at `idx` along `axis`; out-of-range dropped. */
export function scatter(
  x: Tensor,
  idx: Tensor,
  updates: Tensor,
  axis: number,
  mode: ScatterMode,
): Tensor {
  return bind1(scatter_p, [x, idx, updates], { axis, mode });
}

// ---------------------------------------------------------------- takeAlongAxis

/**
 * `out[..., j, ...] = x[..., idx[..., j, ...], ...]` along `axis`: idx (i32) has x's shape
 * except along `axis`; indices are clamped. Built as one gather on the flattened x, with flat
 * indices made from iotas, so it is differentiable and batches like gather.
 */
export function takeAlongAxis(x: Tensor, idx: Tensor, axis: number): Tensor {
  const ok = x.ndim === idx.ndim && axis >= 0 && axis < x.ndim && idx.dtype === "i32" &&
    x.shape.every((d, k) => k === axis || d === idx.shape[k]);
  if (!ok) {
    throw new TypeError(
      `Cannot takeAlongAxis ${
        fmtAvals([x.aval, idx.aval])
      } along axis ${axis}: indices must be i32 ` +
        `with the operand's shape except along the axis`,
    );
  }
  const n = x.shape[axis];
  if (n === 0 || idx.size === 0) return full(idx.shape, 0, x.dtype);
  const strides = stridesOf(x.shape);
  let flat = mul(clampIndices(idx, n), full(idx.shape, strides[axis], "i32"));
  for (let k = 0; k < x.ndim; k++) {
    if (k === axis || x.shape[k] === 1) continue;
    flat = add(flat, mul(iota("i32", idx.shape, k), full(idx.shape, strides[k], "i32")));
  }
  return gather(reshape(x, [x.size]), flat, 0);
}
