/**
 * The eager lowering table of the WebGPU backend: for every first-order primitive, the plan of
 * kernels that computes one application of it. The table is typed by the primitive names of
 * `prims.ts`, so a missing lowering fails `deno check`. The jit reuses these lowerings for the
 * primitives it does not fuse, so this module is the one both `backend.ts` and `jit/` import
 * (keeping it out of `backend.ts` keeps the import graph acyclic).
 *
 * @module
 */
import type { AvalLike } from "../core/backend.ts";
import { copyPlan, type Plan, single, size } from "./kernels/common.ts";
import { type ConvParams, convPlan } from "./kernels/conv.ts";
import { cumulativePlan } from "./kernels/cumulative.ts";
import { type DotDims, dotGeneralPlan } from "./kernels/dot.ts";
import type { GemmCaps } from "./kernels/gemm.ts";
import { binaryPlan, convertPlan, selectPlan, unaryPlan } from "./kernels/elementwise.ts";
import { gatherKernel, scatterPlan } from "./kernels/gather.ts";
import {
  broadcastKernel,
  concatenatePlan,
  iotaKernel,
  padKernel,
  revKernel,
  sliceKernel,
  transposeKernel,
} from "./kernels/movement.ts";
import { threefryKernel } from "./kernels/random.ts";
import { choleskyPlan, luPlan, qrPlan, triangularSolvePlan } from "./kernels/linalg.ts";
import { eighPlan, svdPlan } from "./kernels/linalg_jacobi.ts";
import { argReduceKernel, reducePlan } from "./kernels/reduce.ts";
import { sortPlan } from "./kernels/sort.ts";
import { reduceWindowKernel, type WindowParams } from "./kernels/window.ts";
import {
  BINARY_PRIMS,
  type BinaryPrim,
  CUMULATIVE_PRIMS,
  type CumulativePrim,
  type PrimName,
  REDUCE_PRIMS,
  type ReducePrim,
  UNARY_PRIMS,
  type UnaryPrim,
} from "./prims.ts";

/** What a lowering sees: the operand and result avals and the params. */
export interface LowerCtx {
  /** Operand avals. */
  readonly ins: readonly AvalLike[];
  /** Result avals (from the primitive's abstract evaluation). */
  readonly outs: readonly AvalLike[];
  /** The primitive's params as bound. */
  readonly params: Readonly<Record<string, unknown>>;
  /** What GEMM-shaped kernels may use on this device. */
  readonly gemm: GemmCaps;
}

/** Lowers one primitive application to a plan of kernels. */
export type Lowering = (c: LowerCtx) => Plan;

const _n = (a: AvalLike) => size(a.shape);
// matrices [..., m, n]: the batch size and the last dimension
const _batch = (a: AvalLike) => size(a.shape.slice(0, -2));
const _last = (a: AvalLike) => a.shape[a.shape.length - 1];
// Params arrive untyped from the core; each lowering reads the fields its primitive defines.
const _p = <T>(c: LowerCtx) => c.params as unknown as T;

function _unary(op: UnaryPrim): Lowering {
  if (op === "stop_gradient") return (c) => copyPlan(_n(c.ins[0]) * 4);
  return (c) => unaryPlan(op, c.ins[0].dtype, _n(c.ins[0]), c.gemm);
}

function _binary(op: BinaryPrim): Lowering {
  return (c) => binaryPlan(op, c.ins[0].dtype, _n(c.ins[0]), c.gemm);
}

function _reduce(op: ReducePrim): Lowering {
  return (c) => reducePlan(op, c.ins[0].dtype, c.ins[0].shape, _p<{ axes: number[] }>(c).axes);
}

function _cumulative(op: CumulativePrim): Lowering {
  return (c) => {
    const p = _p<{ axis: number; reverse?: boolean }>(c);
    return cumulativePlan(op, c.ins[0].dtype, c.ins[0].shape, p.axis, !!p.reverse);
  };
}

function _table<K extends string>(names: readonly K[], f: (k: K) => Lowering): Record<K, Lowering> {
  return Object.fromEntries(names.map((k) => [k, f(k)])) as Record<K, Lowering>;
}

/** The lowering of every first-order primitive; a missing entry fails `deno check`. */
export const LOWERINGS: { readonly [P in PrimName]: Lowering } = {
  ..._table(UNARY_PRIMS, _unary),
  ..._table(BINARY_PRIMS, _binary),
  ..._table(REDUCE_PRIMS, _reduce),
  ..._table(CUMULATIVE_PRIMS, _cumulative),
  select: (c) => selectPlan(c.ins[1].dtype, _n(c.ins[1]), c.gemm),
  convert: (c) => convertPlan(c.ins[0].dtype, c.outs[0].dtype, _n(c.ins[0]), c.gemm),
  bitcast: (c) => copyPlan(_n(c.ins[0]) * 4),
  reshape: (c) => copyPlan(_n(c.ins[0]) * 4),
  broadcast_in_dim: (c) =>
    single(
      broadcastKernel(
        c.ins[0].dtype,
        c.ins[0].shape,
        c.outs[0].shape,
        _p<{ broadcastDimensions: number[] }>(c).broadcastDimensions,
      ),
    ),
  transpose: (c) =>
    single(transposeKernel(c.ins[0].dtype, c.ins[0].shape, _p<{ perm: number[] }>(c).perm)),
  slice: (c) => {
    const p = _p<{ start: number[]; strides?: number[] | null }>(c);
    const step = p.strides ?? p.start.map(() => 1);
    return single(sliceKernel(c.ins[0].dtype, c.ins[0].shape, p.start, step, c.outs[0].shape));
  },
  pad: (c) => {
    const p = _p<{ lo: number[]; interior?: number[] }>(c);
    const interior = p.interior ?? p.lo.map(() => 0);
    return single(padKernel(c.ins[0].dtype, c.ins[0].shape, c.outs[0].shape, p.lo, interior));
  },
  concatenate: (c) =>
    concatenatePlan(c.outs[0].dtype, c.ins.map((a) => a.shape), _p<{ axis: number }>(c).axis),
  rev: (c) => single(revKernel(c.ins[0].dtype, c.ins[0].shape, _p<{ axes: number[] }>(c).axes)),
  iota: (c) =>
    single(iotaKernel(c.outs[0].dtype, c.outs[0].shape, _p<{ dimension: number }>(c).dimension)),
  gather: (c) =>
    single(
      gatherKernel(c.ins[0].dtype, c.ins[0].shape, _n(c.ins[1]), _p<{ axis: number }>(c).axis),
    ),
  scatter: (c) => {
    const p = _p<{ axis: number; mode: "set" | "add" }>(c);
    return scatterPlan(c.ins[0].dtype, c.ins[0].shape, _n(c.ins[1]), p.axis, p.mode);
  },
  argmax: (c) =>
    single(argReduceKernel("argmax", c.ins[0].dtype, c.ins[0].shape, _p<{ axis: number }>(c).axis)),
  argmin: (c) =>
    single(argReduceKernel("argmin", c.ins[0].dtype, c.ins[0].shape, _p<{ axis: number }>(c).axis)),
  dot_general: (c) =>
    dotGeneralPlan(c.ins[0].dtype, c.ins[0].shape, c.ins[1].shape, _p<DotDims>(c), c.gemm),
  conv_general_dilated: (c) =>
    convPlan(c.ins[0].dtype, c.ins[0].shape, c.ins[1].shape, _p<ConvParams>(c), c.gemm),
  reduce_window: (c) =>
    single(reduceWindowKernel(c.ins[0].dtype, c.ins[0].shape, _p<WindowParams>(c))),
  sort: (c) => {
    const p = _p<{ axis: number; descending?: boolean; numKeys?: number }>(c);
    if ((p.numKeys ?? 1) !== 1) {
      throw new RangeError(`Cannot lower sort with numKeys ${p.numKeys} on webgpu: only 1 key`);
    }
    return sortPlan(c.ins.map((a) => a.dtype), c.ins[0].shape, p.axis, !!p.descending);
  },
  threefry2x32: (c) => single(threefryKernel(_n(c.ins[0]))),
  cholesky: (c) => choleskyPlan(_batch(c.ins[0]), _last(c.ins[0])),
  triangular_solve: (c) => {
    const p = _p<{ lower: boolean; transposeA: boolean; unitDiagonal?: boolean }>(c);
    const b = c.ins[1];
    return triangularSolvePlan(
      _batch(b),
      _last(c.ins[0]),
      _last(b),
      p.lower,
      p.transposeA,
      !!p.unitDiagonal,
    );
  },
  lu: (c) => luPlan(_batch(c.ins[0]), _last(c.ins[0])),
  eigh: (c) => eighPlan(_batch(c.ins[0]), _last(c.ins[0])),
  qr: (c) => qrPlan(_batch(c.ins[0]), c.ins[0].shape[c.ins[0].shape.length - 2], _last(c.ins[0])),
  svd: (c) => svdPlan(_batch(c.ins[0]), c.ins[0].shape[c.ins[0].shape.length - 2], _last(c.ins[0])),
};
