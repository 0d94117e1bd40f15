/**
 * What `reduce_window` and the window selections (`select_and_gather_add`,
 * `select_and_scatter_add`) share: the params, the identity of each reduction, the output
 * shape, the validation of operand and params, and the per-dim tap tables of the reference
 * implementations.
 *
 * @module
 */
import { fmtAvals, ShapedArray } from "../aval.ts";
import type { DType } from "../dtype.ts";
import { dilateDim, windowOutDim } from "./conv.ts";

/** The reduction of `reduce_window`. */
export type WindowOp = "sum" | "max" | "min";

/** Parameters of `reduce_window` (a type alias: assignable to the generic `Params` record). */
export type WindowParams = {
  /** "sum", "max" or "min". */
  readonly op: WindowOp;
  /** Window size per dim. */
  readonly windowDimensions: readonly number[];
  /** Stride per dim. */
  readonly windowStrides: readonly number[];
  /** `[lo, hi]` padding per dim. */
  readonly padding: readonly (readonly [number, number])[];
  /** Base (input) dilation per dim. */
  readonly baseDilation: readonly number[];
  /** Window dilation per dim. */
  readonly windowDilation: readonly number[];
};

/** The identity of a window reduction for a dtype (the value that padding holds). */
export function windowIdentity(op: WindowOp, dtype: DType): number {
  if (op === "sum") return 0;
  const fl = dtype === "f32" || dtype === "f16";
  const lowest = fl ? -Infinity : dtype === "u32" ? 0 : -2147483648;
  const highest = fl ? Infinity : dtype === "u32" ? 4294967295 : 2147483647;
  return op === "max" ? lowest : highest;
}

const isPosInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;

/** The output shape of `reduce_window`. */
export function windowOutShape(shape: readonly number[], p: WindowParams): number[] {
  return shape.map((n, d) =>
    windowOutDim(
      n,
      p.baseDilation[d],
      p.windowDimensions[d],
      p.windowDilation[d],
      p.padding[d][0],
      p.padding[d][1],
      p.windowStrides[d],
    )
  );
}

/**
 * The output aval of a window operation on `x`, after checking the params (op, one entry per
 * dimension of each list, padding that does not crop more than a dimension holds).
 *
 * @param x The operand's aval.
 * @param p The params.
 * @returns The output aval: `windowOutShape`, the operand's dtype.
 */
export function windowAval(x: ShapedArray, p: WindowParams): ShapedArray {
  const what = `Cannot reduce_window ${fmtAvals([x])}`;
  if (!["sum", "max", "min"].includes(p.op)) {
    throw new TypeError(`${what}: op must be "sum", "max" or "min", got ${JSON.stringify(p.op)}`);
  }
  if (x.dtype === "bool") throw new TypeError(`${what}: bool operands are not supported`);
  const list = (name: keyof WindowParams, ok: (v: unknown) => boolean, kind: string) => {
    const v: unknown = p[name];
    if (!Array.isArray(v) || v.length !== x.ndim || !v.every(ok)) {
      throw new RangeError(
        `${what}: ${name} must list ${x.ndim} ${kind} (one per dimension), got ${
          JSON.stringify(v)
        }`,
      );
    }
  };
  list("windowDimensions", isPosInt, "positive integers");
  list("windowStrides", isPosInt, "positive integers");
  list("baseDilation", isPosInt, "positive integers");
  list("windowDilation", isPosInt, "positive integers");
  list(
    "padding",
    (q) => Array.isArray(q) && q.length === 2 && q.every(Number.isInteger),
    "[lo, hi] integer pairs",
  );
  x.shape.forEach((n, d) => {
    if (dilateDim(n, p.baseDilation[d]) + p.padding[d][0] + p.padding[d][1] < 0) {
      throw new RangeError(
        `${what}: padding [${p.padding[d]}] crops more than dimension ${d} holds`,
      );
    }
  });
  return new ShapedArray(windowOutShape(x.shape, p), x.dtype);
}

/**
 * Per dim, for each (output position, window tap): the operand index the tap reads, or −1
 * where it lands in the padding or in a hole of the base dilation.
 *
 * @param shape The operand's shape.
 * @param p The window params.
 * @param oshape The output shape.
 * @returns One table per dim, `oshape[d] · windowDimensions[d]` entries each.
 */
export function windowTaps(
  shape: readonly number[],
  p: WindowParams,
  oshape: readonly number[],
): Int32Array[] {
  const W = p.windowDimensions;
  return shape.map((n, d) => {
    const t = new Int32Array(oshape[d] * W[d]);
    for (let y = 0; y < oshape[d]; y++) {
      for (let j = 0; j < W[d]; j++) {
        const pos = y * p.windowStrides[d] + j * p.windowDilation[d] - p.padding[d][0];
        const i = pos / p.baseDilation[d];
        t[y * W[d] + j] = pos >= 0 && pos % p.baseDilation[d] === 0 && i < n ? i : -1;
      }
    }
    return t;
  });
}
