/**
 * Structured control flow of `lax`: `scan`, `cond`, `whileLoop`, `foriLoop`, traced into the
 * `scan` / `cond` / `while` primitives of core/control.ts. Re-exported by core/lax.ts.
 *
 * @module
 */
import { checkArity, checkOptions } from "./validate.ts";
import { ShapedArray } from "./aval.ts";
import { traceClosed } from "./builder.ts";
import { cond_p, scan_p, unifyConsts, while_p } from "./control.ts";
import { getPrimitive } from "./primitive.ts";
import { bind } from "./trace.ts";
import * as ew from "./prims/elementwise.ts";
import * as st from "./prims/structural.ts";
import { constant } from "./prims/structural.ts";
import { Tensor } from "./tensor.ts";
import * as tree from "./tree.ts";

const isLeaf = (x: unknown): boolean => x instanceof Tensor;

function toTensors(leaves: unknown[], what: string): Tensor[] {
  return leaves.map((l) => {
    if (l instanceof Tensor) return l;
    if (typeof l === "number") return constant([l], [], "f32");
    if (typeof l === "boolean") return constant([l ? 1 : 0], [], "bool");
    throw new TypeError(`${what}: expected a pytree of Tensors or numbers, got ${String(l)}`);
  });
}

const SCAN_OPTS: ReadonlySet<string> = new Set(["length", "reverse"]);

/** Options of `scan`. */
export interface ScanOptions {
  /** Number of steps (needed when `xs` is null). */
  length?: number;
  /** Scan from the end. */
  reverse?: boolean;
}

/**
 * Loops `f(carry, x) → [carry, y]` over the leading axis of `xs`, returning
 * `[finalCarry, stackedYs]`, as `jax.lax.scan`. Differentiable in reverse mode in O(length),
 * vmappable and jittable; this is what RNNs run on.
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const [total, partial] = lax.scan((c: any, x: any) => [c.add(x), c.add(x)], np.array(0), np.array([1, 2, 3]));
 * const sums = await partial.toArray();
 * console.log(await total.item(), sums); // 6 [1, 3, 6]
 * if (await total.item() !== 6 || JSON.stringify(sums) !== "[1,3,6]") throw new Error(`got ${sums}`);
 * ```
 */
export function scan<C, X, Y>(
  f: (carry: C, x: X) => [C, Y],
  init: C,
  xs: X | null,
  opts: ScanOptions = {},
): [C, Y] {
  checkArity("scan", arguments.length, 4);
  checkOptions("scan", opts, SCAN_OPTS);
  const [initL, cdef] = tree.flatten(init, isLeaf);
  const [xsL0, xdef] = tree.flatten(xs, isLeaf);
  const carry = toTensors(initL, "scan init");
  const xsL = toTensors(xsL0, "scan xs");
  const lengths = xsL.map((x) => {
    if (x.ndim === 0) throw new TypeError(`scan: xs leaves need a leading axis, got ${x.aval}`);
    return x.shape[0];
  });
  let length = opts.length ?? lengths[0];
  if (length === undefined) throw new TypeError("scan: pass xs or options.length");
  if (lengths.some((l) => l !== length)) {
    throw new TypeError(
      `scan: xs leaves have different leading sizes [${lengths}] (length ${length})`,
    );
  }
  length = length!;
  let ydef: tree.TreeDef | null = null;
  const xAvals = xsL.map((x) => new ShapedArray(x.shape.slice(1), x.dtype));
  const body = traceClosed(
    (...args: Tensor[]) => {
      const c = cdef.unflatten(args.slice(0, carry.length)) as C;
      const x = xdef.unflatten(args.slice(carry.length)) as X;
      const r = f(c, x);
      if (!Array.isArray(r) || r.length !== 2) {
        throw new TypeError(
          "scan: f must return a pair [carry, y]",
        );
      }
      const [cl, cdef2] = tree.flatten(r[0], isLeaf);
      if (!cdef2.equals(cdef)) {
        throw new TypeError(`scan: the carry's structure changed from ${cdef} to ${cdef2}`);
      }
      const cOut = toTensors(cl, "scan carry");
      cOut.forEach((t, i) => {
        if (!t.aval.equals(carry[i].aval)) {
          throw new TypeError(
            `scan: the carry changed type from ${carry[i].aval} to ${t.aval} (leaf ${i})` +
              `\nhelp: the body must return a carry of exactly the input carry's shapes and dtypes`,
          );
        }
      });
      const [yl, yd] = tree.flatten(r[1], isLeaf);
      ydef = yd;
      return [...cOut, ...toTensors(yl, "scan y")];
    },
    [...carry.map((c) => c.aval), ...xAvals],
    "scan",
  );
  const outs = bind(scan_p, [...body.consts, ...carry, ...xsL], {
    jaxpr: body.jaxpr,
    numConsts: body.consts.length,
    numCarry: carry.length,
    length,
    reverse: !!opts.reverse,
  });
  return [
    cdef.unflatten(outs.slice(0, carry.length)) as C,
    ydef!.unflatten(outs.slice(carry.length)) as Y,
  ];
}

/**
 * `trueFn(...operands)` if `pred` else `falseFn(...operands)`, staged so it works on traced
 * predicates (under jit, grad, vmap). A batched predicate evaluates both branches and selects.
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const r = lax.cond(np.array(true), (x: any) => x.add(1), (x: any) => x.sub(1), np.array(5));
 * const v = await r.item();
 * console.log(v); // 6
 * if (Math.abs(Number(v) - 6) > 1e-4) throw new Error(`got ${v}`);
 * ```
 */
export function cond<T, A extends unknown[] = unknown[]>(
  pred: Tensor | boolean,
  trueFn: (...ops: A) => T,
  falseFn: (...ops: A) => T,
  ...operands: A
): T {
  const p = pred instanceof Tensor ? pred : constant([pred ? 1 : 0], [], "bool");
  if (p.ndim !== 0) throw new TypeError(`cond: the predicate must be a scalar, got ${p.aval}`);
  const idx = ew.convert(p.dtype === "bool" ? p : ew.ne(p, constant([0], [], p.dtype)), "i32");
  const [opL, odef] = tree.flatten(operands, isLeaf);
  const ops = toTensors(opL, "cond operands");
  let outDef: tree.TreeDef | null = null;
  const trace = (fn: (...o: A) => T, name: string) =>
    traceClosed(
      (...xs: Tensor[]) => {
        const [ol, d] = tree.flatten(fn(...(odef.unflatten(xs) as A)), isLeaf);
        if (outDef && !outDef.equals(d)) {
          throw new TypeError(`cond: branches return different structures: ${outDef} vs ${d}`);
        }
        outDef = d;
        return toTensors(ol, "cond output");
      },
      ops.map((o) => o.aval),
      name,
    );
  const u = unifyConsts([trace(falseFn, "cond-false"), trace(trueFn, "cond-true")]);
  const outs = bind(cond_p, [idx, ...u.consts, ...ops], { branches: u.jaxprs });
  return outDef!.unflatten(outs) as T;
}

/**
 * Runs `body` while `condFn` holds, as `jax.lax.while_loop`. Forward-mode differentiable and
 * vmappable (a batched predicate keeps finished examples unchanged); reverse mode is not
 * supported (use `scan` or `foriLoop` with static bounds).
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const r = lax.whileLoop((x: any) => x.less(10), (x: any) => x.mul(2), np.array(1));
 * const v = await r.item();
 * console.log(v); // 16
 * if (Math.abs(Number(v) - 16) > 0.001) throw new Error(`got ${v}`);
 * ```
 */
export function whileLoop<T>(condFn: (x: T) => Tensor, bodyFn: (x: T) => T, init: T): T {
  checkArity("whileLoop", arguments.length, 3);
  const [il, def] = tree.flatten(init, isLeaf);
  const carry = toTensors(il, "whileLoop init");
  const avals = carry.map((c) => c.aval);
  const cj = traceClosed(
    (...xs: Tensor[]) => {
      const p = condFn(def.unflatten(xs) as T);
      if (!(p instanceof Tensor) || p.ndim !== 0 || p.dtype !== "bool") {
        throw new TypeError(
          `whileLoop: condFn must return a scalar bool tensor, got ${
            p instanceof Tensor ? p.aval : typeof p
          }`,
        );
      }
      return [p];
    },
    avals,
    "while-cond",
  );
  const bj = traceClosed(
    (...xs: Tensor[]) => {
      const [ol, d] = tree.flatten(bodyFn(def.unflatten(xs) as T), isLeaf);
      if (!d.equals(def)) {
        throw new TypeError(
          `whileLoop: the body changed the carry's structure from ${def} to ${d}`,
        );
      }
      const outs = toTensors(ol, "whileLoop body");
      outs.forEach((o, i) => {
        if (!o.aval.equals(avals[i])) {
          throw new TypeError(
            `whileLoop: the body changed the carry type from ${avals[i]} to ${o.aval} (leaf ${i})`,
          );
        }
      });
      return outs;
    },
    avals,
    "while-body",
  );
  const outs = bind(while_p, [...cj.consts, ...bj.consts, ...carry], {
    condJaxpr: cj.jaxpr,
    bodyJaxpr: bj.jaxpr,
    condNumConsts: cj.consts.length,
    bodyNumConsts: bj.consts.length,
  });
  return def.unflatten(outs) as T;
}

/**
 * `for (i = lo; i < hi; i++) val = body(i, val)`. With JS-number bounds it is a `scan`
 * (reverse-differentiable); with traced bounds a `whileLoop`.
 * @example
 * ```ts
 * import { lax, np } from "@denax/denax";
 * const r = lax.foriLoop(0, 5, (i: any, acc: any) => acc.add(i), np.array(0, { dtype: "i32" }));
 * const v = await r.item();
 * console.log(v); // 10
 * if (Math.abs(Number(v) - 10) > 1e-4) throw new Error(`got ${v}`);
 * ```
 */
export function foriLoop<T>(
  lo: number | Tensor,
  hi: number | Tensor,
  body: (i: Tensor, val: T) => T,
  init: T,
): T {
  checkArity("foriLoop", arguments.length, 4);
  if (typeof lo === "number" && typeof hi === "number") {
    const n = Math.max(0, hi - lo);
    const idx = ew.add(
      bind(getIota(), [], { shape: [n], dimension: 0, dtype: "i32" })[0],
      constantFull(n, lo),
    );
    const [out] = scan((c: T, i: Tensor) => [body(i, c), null], init, idx, { length: n });
    return out;
  }
  const l = typeof lo === "number" ? constant([lo], [], "i32") : ew.convert(lo, "i32");
  const h = typeof hi === "number" ? constant([hi], [], "i32") : ew.convert(hi, "i32");
  const [, res] = whileLoop(
    ([i]: [Tensor, T]) => ew.lt(i, h),
    ([i, v]: [Tensor, T]) => [ew.add(i, constant([1], [], "i32")), body(i, v)] as [Tensor, T],
    [l, init] as [Tensor, T],
  );
  return res;
}
const getIota = () => getPrimitive("iota");
function constantFull(n: number, v: number): Tensor {
  const c = constant([v], [], "i32");
  return n === 0
    ? st.reshape(constant([], [0], "i32"), [0])
    : bind(getPrimitive("broadcast_in_dim"), [c], { shape: [n], broadcastDimensions: [] })[0];
}
