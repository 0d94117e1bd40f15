/**
 * The names of the first-order primitives, grouped by kind: the one home of this metadata,
 * which the backends read from here: the WebGPU lowering table is typed
 * `{ [P in PrimName]: Lowering }` (`gpu/lowerings.ts`), so a name here without a lowering fails
 * `deno check`, and the jit's fusion (elementwise chains, reductions) groups by these kinds.
 * `tests/params_test.ts` checks that every registered first-order primitive is listed.
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
  "select_and_gather_add",
  "select_and_scatter_add",
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

/** Elementwise primitives: the unary and binary ones, `select`, and the casts. */
export const ELEMENTWISE_PRIMS: readonly PrimName[] = [
  ...UNARY_PRIMS,
  ...BINARY_PRIMS,
  "select",
  "convert",
  "bitcast",
];

/** Comparisons: binary, bool results. */
export const COMPARISON_PRIMS = [
  "eq",
  "ne",
  "lt",
  "le",
  "gt",
  "ge",
] as const satisfies readonly BinaryPrim[];

/** Movement primitives: pure index arithmetic, no arithmetic on values. */
export const MOVEMENT_PRIMS = [
  "broadcast_in_dim",
  "reshape",
  "transpose",
  "slice",
  "rev",
  "pad",
  "concatenate",
  "iota",
] as const satisfies readonly PrimName[];

/**
 * Primitives that exist only inside a transformation and never reach a backend: `custom_lin`
 * (the linearized `customVjp` call, which transposition replaces by the user's backward rule).
 */
export const INTERNAL_PRIMS = ["custom_lin"] as const;
