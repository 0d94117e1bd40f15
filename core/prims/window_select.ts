/**
 * The window selections behind the derivatives of max and min pooling, as XLA's
 * select-and-scatter and JAX's `select_and_gather_add`. Both take the window params of
 * `reduce_window` (`WindowParams`, whose `op` is "max" or "min": which element a window
 * selects) and an operand `x` that decides the selection; both are linear in their first input.
 *
 * - `select_and_gather_add(t, x)` — `t` of `x`'s shape and dtype; the output, of
 *   `reduce_window`'s shape, holds at each window the element of `t` where `x` has the window's
 *   selected element (0 for a window over padding alone). It is the tangent of a max/min
 *   `reduce_window` at `x`.
 * - `select_and_scatter_add(ct, x)` — `ct` of `reduce_window`'s output shape; the output, of
 *   `x`'s shape, holds at each element of `x` the sum of `ct` over the windows that select it.
 *   It is the transpose of the gather, hence the cotangent of max/min pooling.
 *
 * The selected element of a window is its first NaN if it has one, otherwise its first
 * extremum, in row-major window order (as `argmax`/`argmin`), among the taps that land on
 * elements of `x` (padding and the holes of base dilation are never selected).
 *
 * Rules: each is linear in its first input, so the JVP applies it to the tangent (the
 * selection is piecewise constant in `x`: no tangent flows from `x`), and each one's transpose
 * is the other. Batching prepends a window of size 1 over the batch axis (an unbatched operand
 * is broadcast). Backends that lack a kernel run the reference implementation; the WebGPU
 * lowering (`gpu/kernels/window.ts`) computes the scatter as a gather — each element of `x`
 * visits the windows that contain it — so no atomics and no scatter run.
 *
 * @module
 */
import { fmtAvals, ShapedArray, stridesOf } from "../aval.ts";
import { definePrimitive, type HostArray, type Primitive, UndefinedPrimal } from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { alloc, forEachIndex } from "./host.ts";
import { broadcastInDim, moveaxis } from "./structural.ts";
import { windowAval, type WindowParams, windowTaps } from "./window_base.ts";

function _checkOp(name: string, avals: readonly ShapedArray[], p: WindowParams): void {
  if (p.op !== "max" && p.op !== "min") {
    throw new TypeError(
      `Cannot ${name} ${fmtAvals([...avals])}: op must be "max" or "min" (the selection), got ${
        JSON.stringify(p.op)
      }`,
    );
  }
}

const _same = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * For each window (output element, row-major), the flat index in `x` of its selected element,
 * or −1 where every tap lands in padding or holes.
 */
function _selected(x: HostArray, p: WindowParams, oshape: readonly number[]): Int32Array {
  const shape = x.aval.shape, nd = shape.length, W = p.windowDimensions;
  const tabs = windowTaps(shape, p, oshape), xs = stridesOf(shape), data = x.data;
  const isMax = p.op === "max";
  const osize = oshape.reduce((a, b) => a * b, 1);
  const sel = new Int32Array(osize).fill(-1);
  let best = 0, at = -1, nan = false;
  const walk = (idx: readonly number[], d: number, off: number): void => {
    if (d === nd) {
      if (nan) return;
      const v = data[off];
      if (at < 0 || Number.isNaN(v) || (isMax ? v > best : v < best)) {
        best = v;
        at = off;
        nan = Number.isNaN(v);
      }
      return;
    }
    const t = tabs[d], w = W[d], row = idx[d] * w;
    for (let j = 0; j < w; j++) {
      const i = t[row + j];
      if (i >= 0) walk(idx, d + 1, off + i * xs[d]);
    }
  };
  forEachIndex(oshape, (idx, flat) => {
    at = -1;
    nan = false;
    walk(idx, 0, 0);
    sel[flat] = at;
  });
  return sel;
}

/** Params with a window of size 1 over a new leading (batch) axis. */
function _batched(p: WindowParams): WindowParams {
  return {
    op: p.op,
    windowDimensions: [1, ...p.windowDimensions],
    windowStrides: [1, ...p.windowStrides],
    padding: [[0, 0], ...p.padding],
    baseDilation: [1, ...p.baseDilation],
    windowDilation: [1, ...p.windowDilation],
  };
}

/** Both operands with the batch axis first (an unbatched one broadcast to `size`). */
function _leading(args: Tensor[], dims: (number | null)[], size: number): Tensor[] {
  return args.map((a, i) => {
    const d = dims[i];
    if (d !== null) return moveaxis(a, d, 0);
    return broadcastInDim(a, [size, ...a.shape], a.shape.map((_, k) => k + 1));
  });
}

const _PARAMS = {
  op: "required",
  windowDimensions: "required",
  windowStrides: "required",
  padding: "required",
  baseDilation: "required",
  windowDilation: "required",
} as const;

/** `select_and_gather_add(t, x)`: each window's element of `t` where `x` selects. */
export const select_and_gather_add_p: Primitive<WindowParams> = definePrimitive<WindowParams>(
  "select_and_gather_add",
  {
    params: _PARAMS,
    abstractEval(avals, p) {
      const name = "select_and_gather_add";
      if (avals.length !== 2) {
        throw new TypeError(`${name} takes 2 operands (t, x), got ${fmtAvals(avals)}`);
      }
      const [t, x] = avals;
      _checkOp(name, avals, p);
      if (t.dtype !== x.dtype || !_same(t.shape, x.shape)) {
        throw new TypeError(
          `Cannot ${name} ${fmtAvals(avals)}: t must have the operand's shape and dtype`,
        );
      }
      return [windowAval(x, p)];
    },
    impl([t, x], p, [o]) {
      const out = alloc(o);
      const sel = _selected(x, p, o.shape), td = t.data;
      for (let k = 0; k < sel.length; k++) out[k] = sel[k] >= 0 ? td[sel[k]] : 0;
      return [out];
    },
    jvp([t, x], [dt], p) {
      return [[selectAndGatherAdd(t, x, p)], [selectAndGatherAdd(dt, x, p)]];
    },
    transpose([ct], [t, x], p) {
      if (x instanceof UndefinedPrimal) {
        throw new Error("internal: select_and_gather_add is not linear in its operand x");
      }
      if (!ct || !(t instanceof UndefinedPrimal)) return [null, null];
      return [selectAndScatterAdd(ct, x, p), null];
    },
    batch(args, dims, p, size) {
      const [t, x] = _leading(args, dims, size);
      return [[selectAndGatherAdd(t, x, _batched(p))], [0]];
    },
  },
);

/** `select_and_scatter_add(ct, x)`: each element's sum of `ct` over the windows selecting it. */
export const select_and_scatter_add_p: Primitive<WindowParams> = definePrimitive<WindowParams>(
  "select_and_scatter_add",
  {
    params: _PARAMS,
    abstractEval(avals, p) {
      const name = "select_and_scatter_add";
      if (avals.length !== 2) {
        throw new TypeError(`${name} takes 2 operands (ct, x), got ${fmtAvals(avals)}`);
      }
      const [ct, x] = avals;
      _checkOp(name, avals, p);
      const want = windowAval(x, p);
      if (ct.dtype !== x.dtype || !_same(ct.shape, want.shape)) {
        throw new TypeError(
          `Cannot ${name} ${fmtAvals(avals)}: ct must be ${x.dtype}[${want.shape}] ` +
            "(the window reduction's output)",
        );
      }
      return [new ShapedArray(x.shape, x.dtype)];
    },
    impl([ct, x], p, [o]) {
      const out = alloc(o);
      const sel = _selected(x, p, ct.aval.shape), cd = ct.data;
      const wrap = o.dtype === "i32"
        ? (v: number) => v | 0
        : o.dtype === "u32"
        ? (v: number) => v >>> 0
        : (v: number) => v;
      for (let k = 0; k < sel.length; k++) {
        if (sel[k] >= 0) out[sel[k]] = wrap(out[sel[k]] + cd[k]);
      }
      return [out];
    },
    jvp([ct, x], [dct], p) {
      return [[selectAndScatterAdd(ct, x, p)], [selectAndScatterAdd(dct, x, p)]];
    },
    transpose([ct], [c, x], p) {
      if (x instanceof UndefinedPrimal) {
        throw new Error("internal: select_and_scatter_add is not linear in its operand x");
      }
      if (!ct || !(c instanceof UndefinedPrimal)) return [null, null];
      return [selectAndGatherAdd(ct, x, p), null];
    },
    batch(args, dims, p, size) {
      const [c, x] = _leading(args, dims, size);
      return [[selectAndScatterAdd(c, x, _batched(p))], [0]];
    },
  },
);

function _bindParams(p: WindowParams): WindowParams {
  return {
    op: p.op,
    windowDimensions: [...p.windowDimensions],
    windowStrides: [...p.windowStrides],
    padding: p.padding.map(([lo, hi]): [number, number] => [lo, hi]),
    baseDilation: [...p.baseDilation],
    windowDilation: [...p.windowDilation],
  };
}

/**
 * Binds `select_and_gather_add`: per window of `x`, the element of `t` at the selected one.
 *
 * @param t The values gathered (the tangent), of `x`'s shape and dtype.
 * @param x The operand whose windows select.
 * @param p The window params; `op` "max" or "min".
 * @returns The gathered values, of `reduce_window`'s output shape.
 */
export function selectAndGatherAdd(t: Tensor, x: Tensor, p: WindowParams): Tensor {
  return bind1(select_and_gather_add_p, [t, x], _bindParams(p));
}

/**
 * Binds `select_and_scatter_add`: per element of `x`, the sum of `ct` over the windows that
 * select it.
 *
 * @param ct The values added (the cotangent), of `reduce_window`'s output shape.
 * @param x The operand whose windows select.
 * @param p The window params; `op` "max" or "min".
 * @returns The sums, of `x`'s shape.
 */
export function selectAndScatterAdd(ct: Tensor, x: Tensor, p: WindowParams): Tensor {
  return bind1(select_and_scatter_add_p, [ct, x], _bindParams(p));
}
