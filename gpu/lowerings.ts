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
import { type Params, paramsOf, type Primitive } from "../core/primitive.ts";
import { conv_general_dilated_p } from "../core/prims/conv.ts";
import {
  cummax_p,
  cummin_p,
  cumprod_p,
  cumsum_p,
  type CumulativeParams,
} from "../core/prims/cumulative.ts";
import { triangular_solve_p } from "../core/prims/decomp.ts";
import { gather_p, scatter_p } from "../core/prims/indexing.ts";
import { dot_general_p } from "../core/prims/linalg.ts";
import {
  argmax_p,
  argmin_p,
  reduce_max_p,
  reduce_min_p,
  reduce_prod_p,
  reduce_sum_p,
  type ReduceParams,
} from "../core/prims/reduce.ts";
import { sort_p } from "../core/prims/sort.ts";
import {
  broadcast_in_dim_p,
  concatenate_p,
  iota_p,
  pad_p,
  rev_p,
  slice_p,
  transpose_p,
} from "../core/prims/structural.ts";
import { reduce_window_p } from "../core/prims/window.ts";
import { select_and_gather_add_p, select_and_scatter_add_p } from "../core/prims/window_select.ts";
import { copyPlan, genericPlan, type Plan, single, size } from "./kernels/common.ts";
import { convPlan } from "./kernels/conv.ts";
import { cumulativePlan } from "./kernels/cumulative.ts";
import { roundF16Plan } from "./kernels/f16.ts";
import { dotGeneralPlan } from "./kernels/dot.ts";
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
import { reduceWindowKernel, selectGatherKernel, selectScatterPlan } from "./kernels/window.ts";
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
} from "../core/prims/names.ts";

/** What a lowering sees: the operand and result avals and the params. */
export interface LowerCtx {
  /** Operand avals. */
  readonly ins: readonly AvalLike[];
  /** Result avals (from the primitive's abstract evaluation). */
  readonly outs: readonly AvalLike[];
  /** The primitive's params as bound (a lowering made by `typed` reads them typed). */
  readonly params: Params;
  /** What GEMM-shaped kernels may use on this device. */
  readonly gemm: GemmCaps;
}

/** Lowers one primitive application to a plan of kernels. */
export type Lowering = (c: LowerCtx) => Plan;

const _n = (a: AvalLike) => size(a.shape);
// matrices [..., m, n]: the batch size and the last dimension
const _batch = (a: AvalLike) => size(a.shape.slice(0, -2));
const _last = (a: AvalLike) => a.shape[a.shape.length - 1];

/**
 * A lowering of one primitive that reads its params as the primitive declares them
 * (`ReduceParams`, `ConvParams`, …): the table is keyed by name, so the params arrive as the
 * generic record and `paramsOf` types them (checking the keys in strict and checked modes).
 */
function typed<P extends Params>(prim: Primitive<P>, f: (c: LowerCtx, p: P) => Plan): Lowering {
  return (c) => f(c, paramsOf(prim, c.params));
}

const _REDUCE: { readonly [K in ReducePrim]: Primitive<ReduceParams> } = {
  reduce_sum: reduce_sum_p,
  reduce_max: reduce_max_p,
  reduce_min: reduce_min_p,
  reduce_prod: reduce_prod_p,
};
const _CUMULATIVE: { readonly [K in CumulativePrim]: Primitive<CumulativeParams> } = {
  cumsum: cumsum_p,
  cumprod: cumprod_p,
  cummax: cummax_p,
  cummin: cummin_p,
};

function _unary(op: UnaryPrim): Lowering {
  if (op === "stop_gradient") return (c) => copyPlan(_n(c.ins[0]) * 4);
  return (c) => unaryPlan(op, c.ins[0].dtype, _n(c.ins[0]), c.gemm);
}

function _binary(op: BinaryPrim): Lowering {
  return (c) => binaryPlan(op, c.ins[0].dtype, _n(c.ins[0]), c.gemm);
}

function _reduce(op: ReducePrim): Lowering {
  return typed(_REDUCE[op], (c, p) => reducePlan(op, c.ins[0].dtype, c.ins[0].shape, p.axes));
}

function _cumulative(op: CumulativePrim): Lowering {
  return typed(
    _CUMULATIVE[op],
    (c, p) => cumulativePlan(op, c.ins[0].dtype, c.ins[0].shape, p.axis, p.reverse),
  );
}

function _table<K extends string>(names: readonly K[], f: (k: K) => Lowering): Record<K, Lowering> {
  return Object.fromEntries(names.map((k) => [k, f(k)])) as Record<K, Lowering>;
}

/**
 * A lowering whose kernels are shape-generic (`genericPlan`): sizes, strides and offsets read
 * from a uniform, so that one pipeline serves every shape of one structure. Used for the
 * elementwise, reduction, movement, gather and random kernels, whose running time does not
 * depend on the sizes being literals, and for the window kernels, whose `main` only calls the
 * function that walks a window (only `main`'s literals are hoisted); not for the GEMM and
 * convolution kernels, whose loops the compiler unrolls over literal tile sizes.
 */
function _g(f: Lowering): Lowering {
  return (c) => genericPlan(f(c));
}

const _GENERIC: readonly string[] = [
  ...UNARY_PRIMS,
  ...BINARY_PRIMS,
  ...REDUCE_PRIMS,
  "select",
  "convert",
  "broadcast_in_dim",
  "transpose",
  "slice",
  "pad",
  "concatenate",
  "rev",
  "iota",
  "gather",
  "scatter",
  "argmax",
  "argmin",
  "threefry2x32",
  // their windows live in helper functions, which keep their literals (`kernels/window.ts`)
  "reduce_window",
  "select_and_gather_add",
  "select_and_scatter_add",
];

const _SPECIFIC: { readonly [P in PrimName]: Lowering } = {
  ..._table(UNARY_PRIMS, _unary),
  ..._table(BINARY_PRIMS, _binary),
  ..._table(REDUCE_PRIMS, _reduce),
  ..._table(CUMULATIVE_PRIMS, _cumulative),
  select: (c) => selectPlan(c.ins[1].dtype, _n(c.ins[1]), c.gemm),
  // `dtype: "f16"` on f32 storage rounds to f16 values (core/f16.ts)
  convert: (c) =>
    c.params.dtype === "f16"
      ? roundF16Plan(c.ins[0].dtype, _n(c.ins[0]), c.gemm)
      : convertPlan(c.ins[0].dtype, c.outs[0].dtype, _n(c.ins[0]), c.gemm),
  bitcast: (c) => copyPlan(_n(c.ins[0]) * 4),
  reshape: (c) => copyPlan(_n(c.ins[0]) * 4),
  broadcast_in_dim: typed(broadcast_in_dim_p, (c, p) =>
    single(
      broadcastKernel(c.ins[0].dtype, c.ins[0].shape, c.outs[0].shape, p.broadcastDimensions),
    )),
  transpose: typed(
    transpose_p,
    (c, p) => single(transposeKernel(c.ins[0].dtype, c.ins[0].shape, p.perm)),
  ),
  slice: typed(
    slice_p,
    (c, p) =>
      single(sliceKernel(c.ins[0].dtype, c.ins[0].shape, p.start, p.strides, c.outs[0].shape)),
  ),
  pad: typed(
    pad_p,
    (c, p) => single(padKernel(c.ins[0].dtype, c.ins[0].shape, c.outs[0].shape, p.lo, p.interior)),
  ),
  concatenate: typed(
    concatenate_p,
    (c, p) => concatenatePlan(c.outs[0].dtype, c.ins.map((a) => a.shape), p.axis),
  ),
  rev: typed(rev_p, (c, p) => single(revKernel(c.ins[0].dtype, c.ins[0].shape, p.axes))),
  iota: typed(iota_p, (c, p) => single(iotaKernel(c.outs[0].dtype, c.outs[0].shape, p.dimension))),
  gather: typed(
    gather_p,
    (c, p) => single(gatherKernel(c.ins[0].dtype, c.ins[0].shape, _n(c.ins[1]), p.axis)),
  ),
  scatter: typed(
    scatter_p,
    (c, p) => scatterPlan(c.ins[0].dtype, c.ins[0].shape, _n(c.ins[1]), p.axis, p.mode),
  ),
  argmax: typed(
    argmax_p,
    (c, p) => single(argReduceKernel("argmax", c.ins[0].dtype, c.ins[0].shape, p.axis)),
  ),
  argmin: typed(
    argmin_p,
    (c, p) => single(argReduceKernel("argmin", c.ins[0].dtype, c.ins[0].shape, p.axis)),
  ),
  dot_general: typed(
    dot_general_p,
    (c, p) => dotGeneralPlan(c.ins[0].dtype, c.ins[0].shape, c.ins[1].shape, p, c.gemm),
  ),
  conv_general_dilated: typed(
    conv_general_dilated_p,
    (c, p) => convPlan(c.ins[0].dtype, c.ins[0].shape, c.ins[1].shape, p, c.gemm),
  ),
  reduce_window: typed(
    reduce_window_p,
    (c, p) => single(reduceWindowKernel(c.ins[0].dtype, c.ins[0].shape, p)),
  ),
  select_and_gather_add: typed(
    select_and_gather_add_p,
    (c, p) => single(selectGatherKernel(c.ins[1].dtype, c.ins[1].shape, p)),
  ),
  select_and_scatter_add: typed(
    select_and_scatter_add_p,
    (c, p) => selectScatterPlan(c.ins[1].dtype, c.ins[1].shape, p),
  ),
  sort: typed(sort_p, (c, p) => {
    if ((p.numKeys ?? 1) !== 1) {
      throw new RangeError(`Cannot lower sort with numKeys ${p.numKeys} on webgpu: only 1 key`);
    }
    return sortPlan(c.ins.map((a) => a.dtype), c.ins[0].shape, p.axis, !!p.descending);
  }),
  threefry2x32: (c) => single(threefryKernel(_n(c.ins[0]))),
  cholesky: (c) => choleskyPlan(_batch(c.ins[0]), _last(c.ins[0])),
  triangular_solve: typed(triangular_solve_p, (c, p) => {
    const b = c.ins[1];
    return triangularSolvePlan(
      _batch(b),
      _last(c.ins[0]),
      _last(b),
      p.lower,
      p.transposeA,
      !!p.unitDiagonal,
    );
  }),
  lu: (c) => luPlan(_batch(c.ins[0]), _last(c.ins[0])),
  eigh: (c) => eighPlan(_batch(c.ins[0]), _last(c.ins[0])),
  qr: (c) => qrPlan(_batch(c.ins[0]), c.ins[0].shape[c.ins[0].shape.length - 2], _last(c.ins[0])),
  svd: (c) => svdPlan(_batch(c.ins[0]), c.ins[0].shape[c.ins[0].shape.length - 2], _last(c.ins[0])),
};

/** The lowering of every first-order primitive; a missing entry fails `deno check`. */
export const LOWERINGS: { readonly [P in PrimName]: Lowering } = Object.fromEntries(
  Object.entries(_SPECIFIC).map(([k, f]) => [k, _GENERIC.includes(k) ? _g(f) : f]),
) as { readonly [P in PrimName]: Lowering };
