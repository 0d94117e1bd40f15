/**
 * The operand layouts of the control-flow primitives (`scan`, `cond`, `while`) and the jaxpr
 * plumbing their rules share. Each primitive takes one flat operand list; the types here name
 * its groups, so that a rule reads `ops.carry` instead of `args.slice(nc, nc + ncar)`:
 *
 * - `scan`: operands `[consts | carry | xs]`, results `[carry | ys]`; the body maps
 *   `[consts | carry | x_i]` → `[carry | y_i]`.
 * - `cond`: operands `[index | ops]`, results `[outs]`; every branch maps `[ops]` → `[outs]`.
 * - `while`: operands `[condConsts | bodyConsts | carry]`, results `[carry]`; the condition maps
 *   `[condConsts | carry]` → `[bool[]]`, the body `[bodyConsts | carry]` → `[carry]`.
 *
 * `xs` and `ys` are stacked along a leading axis of the scan's `length`; `x_i`, `y_i` are rows.
 * The same split applies to anything laid out like the operands: values, avals, nonzero or
 * unknown flags, batch dims, or positions in a jaxpr's inputs.
 *
 * @module
 */
import type { ShapedArray } from "./aval.ts";
import { Jaxpr, Var } from "./jaxpr.ts";
import type { Tensor } from "./tensor.ts";

/** `[0, 1, …, n - 1]`. */
export const range = (n: number): number[] => [...Array(n).keys()];

/** The items whose flag equals `want` (default: the set ones), in order. */
export const pick = <T>(xs: readonly T[], mask: readonly boolean[], want = true): T[] =>
  xs.filter((_, i) => mask[i] === want);

/** The inverse of {@link pick}: `vals` in order at the set flags, null elsewhere. */
export function scatter<T>(mask: readonly boolean[], vals: readonly T[]): (T | null)[] {
  let k = 0;
  return mask.map((m) => (m ? vals[k++] : null));
}

/**
 * Cuts `items` into consecutive groups of the given sizes, then one last group with the rest:
 * `cut([a, b, c, d], 1, 2)` is `[[a], [b, c], [d]]`.
 */
export function cut<T>(items: readonly T[], ...sizes: number[]): T[][] {
  const out: T[][] = [];
  let at = 0;
  for (const n of sizes) out.push(items.slice(at, at += n));
  out.push(items.slice(at));
  return out;
}

/** The batch axis a batched value is moved to (0), or null for an unbatched one. */
export const at0 = (d: number | null): number | null => (d === null ? null : 0);

// ---------------------------------------------------------------- scan

/** How `scan`'s operands split: the first `numConsts` are consts, the next `numCarry` carry. */
export type ScanCounts = {
  /** Loop-invariant operands. */
  readonly numConsts: number;
  /** Operands threaded from one step to the next. */
  readonly numCarry: number;
};

/**
 * `scan`'s operands `[consts | carry | xs]`, equally its body's inputs `[consts | carry | x_i]`
 * (with rows `x_i` of the stacked `xs`).
 */
export interface ScanOperands<T> {
  /** Loop-invariant operands. */
  consts: T[];
  /** The initial carry. */
  carry: T[];
  /** Operands scanned over their leading axis. */
  xs: T[];
}

/** `scan`'s results `[carry | ys]`, equally its body's outputs `[carry | y_i]`. */
export interface ScanResults<T> {
  /** The final carry (the body's next carry). */
  carry: T[];
  /** Outputs stacked over the steps (one row `y_i`). */
  ys: T[];
}

/** Splits a list laid out like `scan`'s operands into its groups. */
export function scanOperands<T>(items: readonly T[], counts: ScanCounts): ScanOperands<T> {
  const [consts, carry, xs] = cut(items, counts.numConsts, counts.numCarry);
  return { consts, carry, xs };
}

/** Joins {@link ScanOperands} back into the flat order `[consts | carry | xs]`. */
export const flatScan = <T>(g: ScanOperands<T>): T[] => [...g.consts, ...g.carry, ...g.xs];

/** Splits a list laid out like `scan`'s results into `{ carry, ys }`. */
export function scanResults<T>(items: readonly T[], numCarry: number): ScanResults<T> {
  const [carry, ys] = cut(items, numCarry);
  return { carry, ys };
}

// ---------------------------------------------------------------- while

/** How `while`'s operands split: `condNumConsts` condition consts, then `bodyNumConsts`. */
export type WhileCounts = {
  /** Constants of the condition. */
  readonly condNumConsts: number;
  /** Constants of the body. */
  readonly bodyNumConsts: number;
};

/** `while`'s operands `[condConsts | bodyConsts | carry]`; its results are the final carry. */
export interface WhileOperands<T> {
  /** Constants of the condition (its inputs are `[condConsts | carry]`). */
  condConsts: T[];
  /** Constants of the body (its inputs are `[bodyConsts | carry]`). */
  bodyConsts: T[];
  /** The initial carry. */
  carry: T[];
}

/** Splits a list laid out like `while`'s operands into its groups. */
export function whileOperands<T>(items: readonly T[], counts: WhileCounts): WhileOperands<T> {
  const [condConsts, bodyConsts, carry] = cut(
    items,
    counts.condNumConsts,
    counts.bodyNumConsts,
  );
  return { condConsts, bodyConsts, carry };
}

// ---------------------------------------------------------------- jaxpr plumbing

/** Reorders a jaxpr's inputs and outputs (by index lists into the old ones). */
export function permuteJaxpr(
  j: Jaxpr,
  inOrder: readonly number[],
  outOrder?: readonly number[],
): Jaxpr {
  return new Jaxpr(
    j.constvars,
    inOrder.map((i) => j.invars[i]),
    j.eqns,
    outOrder ? outOrder.map((i) => j.outvars[i]) : j.outvars,
  );
}

/** Adds ignored inputs before and after a jaxpr's inputs. */
export function padInvars(
  j: Jaxpr,
  before: readonly ShapedArray[],
  after: readonly ShapedArray[] = [],
): Jaxpr {
  return new Jaxpr(
    j.constvars,
    [...before.map((a) => new Var(a)), ...j.invars, ...after.map((a) => new Var(a))],
    j.eqns,
    j.outvars,
  );
}

/**
 * Gives every branch the same leading constant inputs (the union of all branches' constants):
 * branch `b`, which took `[its consts | ops]`, takes `[all consts | ops]` and ignores the others'.
 */
export function unifyConsts(
  bs: { jaxpr: Jaxpr; consts: Tensor[] }[],
): { jaxprs: Jaxpr[]; consts: Tensor[] } {
  const all = bs.flatMap((b) => b.consts);
  let off = 0;
  const jaxprs = bs.map((b) => {
    const before = all.slice(0, off).map((c) => c.aval);
    const after = all.slice(off + b.consts.length).map((c) => c.aval);
    off += b.consts.length;
    return padBetween(b.jaxpr, b.consts.length, before, after);
  });
  return { jaxprs, consts: all };
}

/**
 * Adds ignored inputs around the first `n` inputs of a constvar-free jaxpr:
 * `[first n | rest]` becomes `[before | first n | after | rest]`.
 */
export function padBetween(
  j: Jaxpr,
  n: number,
  before: readonly ShapedArray[],
  after: readonly ShapedArray[],
): Jaxpr {
  const [first, rest] = cut(j.invars, n);
  return new Jaxpr(
    [],
    [...before.map((a) => new Var(a)), ...first, ...after.map((a) => new Var(a)), ...rest],
    j.eqns,
    j.outvars,
  );
}
