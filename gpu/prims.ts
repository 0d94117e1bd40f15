/**
 * The names of the first-order primitives the WebGPU backend lowers. The lowering table in
 * `backend.ts` is typed `{ [P in PrimName]: Lowering }`, so a name here without a lowering
 * fails `deno check`. (This union will move to `core/` once the core exports it.)
 *
 * @module
 */

/** Unary elementwise primitives. */
export const UNARY_PRIMS = [
  "neg",
  "abs",
  "sign",
  "exp",
  "expm1",
  "log",
  "log1p",
  "sqrt",
  "rsqrt",
  "sin",
  "cos",
  "tan",
  "tanh",
  "asin",
  "acos",
  "atan",
  "sinh",
  "cosh",
  "logistic",
  "floor",
  "ceil",
  "round",
  "erf",
  "erf_inv",
  "not",
  "is_nan",
  "is_inf",
  "stop_gradient",
] as const;

/** Binary elementwise primitives (operands of one shape and dtype). */
export const BINARY_PRIMS = [
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "max",
  "min",
  "rem",
  "atan2",
  "and",
  "or",
  "xor",
  "shift_left",
  "shift_right_logical",
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
] as const;

/** Reductions over a set of axes. */
export const REDUCE_PRIMS = ["reduce_sum", "reduce_max", "reduce_min", "reduce_prod"] as const;

/** Inclusive scans along one axis. */
export const CUMULATIVE_PRIMS = ["cumsum", "cumprod", "cummax", "cummin"] as const;

/** Every other first-order primitive. */
export const OTHER_PRIMS = [
  "select",
  "convert",
  "bitcast",
  "broadcast_in_dim",
  "reshape",
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
  "dot_general",
  "conv_general_dilated",
  "reduce_window",
  "sort",
  "threefry2x32",
  "cholesky",
  "triangular_solve",
  "lu",
  "eigh",
  "qr",
  "svd",
] as const;

/** A unary elementwise primitive. */
export type UnaryPrim = typeof UNARY_PRIMS[number];
/** A binary elementwise primitive. */
export type BinaryPrim = typeof BINARY_PRIMS[number];
/** A reduction primitive. */
export type ReducePrim = typeof REDUCE_PRIMS[number];
/** A cumulative (scan) primitive. */
export type CumulativePrim = typeof CUMULATIVE_PRIMS[number];

/** Every first-order primitive name. */
export type PrimName =
  | UnaryPrim
  | BinaryPrim
  | ReducePrim
  | CumulativePrim
  | typeof OTHER_PRIMS[number];

/** All first-order primitive names, for coverage tests. */
export const PRIM_NAMES: readonly PrimName[] = [
  ...UNARY_PRIMS,
  ...BINARY_PRIMS,
  ...REDUCE_PRIMS,
  ...CUMULATIVE_PRIMS,
  ...OTHER_PRIMS,
];
