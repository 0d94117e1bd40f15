/**
 * Vectorization: the batching interpreter.
 *
 * @module
 */
import { ShapedArray } from "./aval.ts";
import type { Params, Primitive } from "./primitive.ts";
import { broadcastInDim, moveaxis } from "./prims/structural.ts";
import { type Tensor, Tracer } from "./tensor.ts";
import { bind, currentInterpreter, type Interpreter, pushInterpreter, scopeOf } from "./trace.ts";

/** A value with a batch axis (or none). */
export class BatchTracer extends Tracer {
  /** The owner. */
  readonly _interp: BatchInterpreter;
  /** The batched value (of the parent level). */
  readonly val: Tensor;
  /** Which axis of `val` is the batch axis, or null when unbatched. */
  readonly bdim: number | null;
  /** @internal */
  constructor(interp: BatchInterpreter, val: Tensor, bdim: number | null) {
    super(
      bdim === null ? val.aval : new ShapedArray(val.shape.filter((_, i) => i !== bdim), val.dtype),
    );
    this._interp = interp;
    this.val = val;
    this.bdim = bdim;
  }
}

/** The batching interpreter. */
export class BatchInterpreter implements Interpreter {
  readonly name = "vmap";
  readonly parent: Interpreter;
  readonly axisSize: number;
  active = true;
  /** Makes the interpreter for a batch of `axisSize`. */
  constructor(parent: Interpreter, axisSize: number) {
    this.parent = parent;
    this.axisSize = axisSize;
  }
  /** Value and batch dim of a value at this level. */
  unpack(t: Tensor): [Tensor, number | null] {
    if (t instanceof BatchTracer && t._interp === this) return [t.val, t.bdim];
    return [t, null];
  }
  process(prim: Primitive, args: Tensor[], params: Params): Tensor[] {
    const vals: Tensor[] = [], dims: (number | null)[] = [];
    for (const a of args) {
      const [v, d] = this.unpack(a);
      vals.push(v);
      dims.push(d);
    }
    using _ = pushInterpreter(this.parent);
    if (dims.every((d) => d === null)) return bind(prim, vals, params);
    if (!prim.batch) throw new Error(`Batching rule for '${prim.name}' is not implemented`);
    const [outs, outDims] = prim.batch(vals, dims, params, this.axisSize);
    return outs.map((o, i) => (outDims[i] === null ? o : new BatchTracer(this, o, outDims[i])));
  }
}

/** Moves (or creates, by broadcasting) the batch axis of `x` to `to`. */
export function matchAxis(x: Tensor, from: number | null, to: number, size: number): Tensor {
  if (from === null) {
    const shape = [...x.shape];
    shape.splice(to, 0, size);
    return broadcastInDim(x, shape, x.shape.map((_, i) => (i < to ? i : i + 1)));
  }
  return moveaxis(x, from, to);
}

/**
 * Runs `f` on values batched along `inDims` and returns outputs with the batch axis at
 * `outDims` (null = the output must not depend on the batch).
 */
export function vmapFlat(
  f: (...xs: Tensor[]) => Tensor[],
  args: readonly Tensor[],
  inDims: readonly (number | null)[],
  outDims: readonly (number | null)[] | ((n: number) => (number | null)[]),
  axisSize: number,
): Tensor[] {
  const b = new BatchInterpreter(currentInterpreter(), axisSize);
  using _scope = scopeOf(b);
  let outs: Tensor[];
  {
    using _ = pushInterpreter(b);
    outs = f(...args.map((a, i) => (inDims[i] === null ? a : new BatchTracer(b, a, inDims[i]))));
  }
  const od = typeof outDims === "function" ? outDims(outs.length) : outDims;
  return outs.map((o, i) => {
    const [v, d] = b.unpack(o);
    const target = od[i];
    if (target === null) {
      if (d !== null) throw new Error(`vmap: output ${i} is batched but outAxes is null for it`);
      return v;
    }
    // the per-example output has rank r; the batched one r + 1, so the axis is in [-(r+1), r]
    const r = v.ndim - (d === null ? 0 : 1);
    if (!Number.isInteger(target) || target < -(r + 1) || target > r) {
      throw new RangeError(
        `vmap: outAxes ${target} is out of bounds for output ${i}: its per-example value ` +
          `${o.aval} has rank ${r}, so the batch axis must be in [${-(r + 1)}, ${r}]`,
      );
    }
    return matchAxis(v, d, target < 0 ? target + r + 1 : target, axisSize);
  });
}
