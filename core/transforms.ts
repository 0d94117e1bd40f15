/**
 * The public transformations: grad, valueAndGrad, vjp, jvp, linearize, vmap, jit, jacfwd,
 * jacrev, hessian, makeJaxpr. They flatten pytrees, run the flat interpreters, and rebuild.
 *
 * @module
 */
import type { ShapedArray } from "./aval.ts";
import { backwardPass } from "./ad.ts";
import { traceToJaxpr } from "./builder.ts";
import { type DType, isFloat } from "./dtype.ts";
import { type ClosedJaxpr, cse, dce, evalJaxpr, Jaxpr, objectId } from "./jaxpr.ts";
import { compileStats, jit_call_p, jitCacheLimits } from "./jit_prim.ts";
import { jvpFlat, linearizeFlat } from "./jvp.ts";
import { UndefinedPrimal } from "./primitive.ts";
import { constant, full, reshape, zerosLikeT } from "./prims/structural.ts";
import { consumedError, knownScalar, Tensor, Tracer } from "./tensor.ts";
import { bind, collectChecks, currentInterpreter, type StagedCheck } from "./trace.ts";
import { checkValue } from "./checks.ts";
import { checksEnabled } from "./env.ts";
import * as tree from "./tree.ts";
import type { Tree } from "./tree.ts";
import type {
  AuxFn,
  AuxOf,
  AuxValue,
  GradOf,
  GradOpts,
  ScalarFn,
  TensorFn,
  TransformableFn,
} from "./transform_types.ts";
import { vmapFlat } from "./vmap_core.ts";
import { closureConvert } from "./builder.ts";
import { checkArity, checkOptions } from "./validate.ts";

const isLeaf = (x: unknown): boolean => x instanceof Tensor;

const GRAD_OPTS: ReadonlySet<string> = new Set(["argnums", "hasAux"]);
const VMAP_OPTS: ReadonlySet<string> = new Set(["inAxes", "outAxes", "axisSize"]);
const JIT_OPTS: ReadonlySet<string> = new Set(["staticArgnums", "donateArgnums"]);
const JAC_OPTS: ReadonlySet<string> = new Set(["argnums"]);

/** Converts a pytree leaf (Tensor, number or boolean) to a Tensor. */
function toTensor(x: unknown, what: string): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x === "number") return constant([x], [], "f32");
  if (typeof x === "boolean") return constant([x ? 1 : 0], [], "bool");
  throw new TypeError(`${what}: expected a pytree of Tensors or numbers, got a leaf ${String(x)}`);
}

function flattenArgs(args: unknown, what: string): [Tensor[], tree.TreeDef] {
  const [leaves, def] = tree.flatten(args, isLeaf);
  return [leaves.map((l) => toTensor(l, what)), def];
}

function outLeaves(out: unknown, what: string): [Tensor[], tree.TreeDef] {
  return flattenArgs(out, what);
}

// ---------------------------------------------------------------- jvp / linearize

/**
 * Forward-mode JVP: evaluates `f(...primals)` and its directional derivative along `tangents`.
 * @param f a function of tensors (or pytrees of them)
 * @param primals the arguments, as an array
 * @param tangents one tangent per argument, with the same structure
 * @returns `[out, tangentOut]`
 * @example
 * ```ts
 * import { jvp, np } from "@denax/denax";
 * const [y, dy] = jvp((x: any) => np.sin(x), [np.array(0)], [np.array(1)]);
 * const [v, d] = [Number(await y.item()), Number(await dy.item())];
 * console.log(v, d); // sin(0) = 0, cos(0) = 1
 * if (Math.abs(v) > 1e-6 || Math.abs(d - 1) > 1e-6) throw new Error(`got ${v} ${d}`);
 * ```
 */
export function jvp<F extends TransformableFn>(
  f: F,
  primals: Parameters<F>,
  tangents: Tree<Parameters<F>>,
): [ReturnType<F>, Tree<ReturnType<F>>] {
  const [pl, pdef] = flattenArgs(primals, "jvp");
  const [tl, tdef] = flattenArgs(tangents, "jvp");
  if (!pdef.equals(tdef)) {
    throw new TypeError(`jvp: primals ${pdef} and tangents ${tdef} differ in structure`);
  }
  pl.forEach((p, i) => {
    if (!p.aval.equals(tl[i].aval)) {
      throw new TypeError(
        `jvp: primal ${p.aval} and tangent ${tl[i].aval} differ (argument leaf ${i})`,
      );
    }
  });
  let odef: tree.TreeDef | null = null;
  const [outs, touts] = jvpFlat(
    (...xs) => {
      const [ol, d] = outLeaves(f(...pdef.unflatten(xs) as unknown[]), "jvp");
      odef = d;
      return ol;
    },
    pl,
    tl,
  );
  return [odef!.unflatten(outs), odef!.unflatten(touts.map((t, i) => t ?? zerosLikeT(outs[i])))];
}

/**
 * Linearizes `f` at `primals`: returns `[out, fJvp]` where `fJvp(...tangents)` evaluates the
 * JVP without re-running the primal computation.
 * @example
 * ```ts
 * import { linearize, np } from "@denax/denax";
 * const [y, fl] = linearize((x: any) => x.mul(x), np.array(3));
 * const [v, d] = [Number(await y.item()), Number(await fl(np.array(1)).item())];
 * console.log(v, d); // 9 6 (x² and its derivative 2x at x = 3)
 * if (Math.abs(v - 9) > 1e-5 || Math.abs(d - 6) > 1e-5) throw new Error(`got ${v} ${d}`);
 * ```
 */
export function linearize<F extends TransformableFn>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (...tangents: Tree<Parameters<F>>) => Tree<ReturnType<F>>] {
  const [pl, pdef] = flattenArgs(primals, "linearize");
  let odef: tree.TreeDef | null = null;
  const { outs, linear } = linearizeFlat((...xs) => {
    const [ol, d] = outLeaves(f(...pdef.unflatten(xs) as unknown[]), "linearize");
    odef = d;
    return ol;
  }, pl);
  const fl = (...tangents: unknown[]): Tree<ReturnType<F>> => {
    const [tl] = flattenArgs(tangents, "linearize");
    return odef!.unflatten(evalJaxpr(linear.jaxpr, linear.consts, tl));
  };
  return [odef!.unflatten(outs), fl];
}

// ---------------------------------------------------------------- vjp / grad

/**
 * Reverse-mode VJP: returns `[out, vjpFn]`; `vjpFn(cotangent)` returns one cotangent per
 * argument (as an array), each with that argument's structure.
 * @example
 * ```ts
 * import { vjp, np } from "@denax/denax";
 * const [y, back] = vjp((x: any) => x.mul(2), np.array([1, 2]));
 * const got = [await y.toArray(), await back(np.array([1, 1]))[0].toArray()];
 * console.log(...got); // [2, 4] [2, 2]
 * if (JSON.stringify(got) !== "[[2,4],[2,2]]") throw new Error(`got ${JSON.stringify(got)}`);
 * ```
 */
export function vjp<F extends TransformableFn>(
  f: F,
  ...primals: Parameters<F>
): [ReturnType<F>, (cotangent: Tree<ReturnType<F>>) => Tree<Parameters<F>>] {
  const [out, back] = vjpInternal(f, primals, false);
  return [out as ReturnType<F>, back as (ct: unknown) => Tree<Parameters<F>>];
}

function vjpInternal(
  f: TransformableFn,
  primals: unknown[],
  hasAux: boolean,
): [unknown, (ct: unknown) => unknown[], unknown] {
  const [pl, pdef] = flattenArgs(primals, "vjp");
  let odef: tree.TreeDef | null = null, adef: tree.TreeDef | null = null;
  let nOut = 0;
  const { outs, linear } = linearizeFlat((...xs) => {
    let r = f(...pdef.unflatten(xs) as unknown[]);
    let auxLeaves: Tensor[] = [];
    if (hasAux) {
      if (!Array.isArray(r) || r.length !== 2) {
        throw new TypeError("hasAux: the function must return a pair [output, aux]");
      }
      [auxLeaves, adef] = outLeaves(r[1], "vjp");
      r = r[0];
    }
    const [ol, d] = outLeaves(r, "vjp");
    odef = d;
    nOut = ol.length;
    return [...ol, ...auxLeaves];
  }, pl);
  const lj = linear.jaxpr;
  const pruned = dce(new Jaxpr(lj.constvars, lj.invars, lj.eqns, lj.outvars.slice(0, nOut)));
  const back = (ct: unknown): unknown[] => {
    const [cl, cdef] = flattenArgs(ct, "vjp");
    if (!cdef.equals(odef!)) {
      throw new TypeError(`vjp: cotangent structure ${cdef} differs from the output's ${odef}`);
    }
    cl.forEach((c, i) => {
      if (!c.aval.equals(outs[i].aval)) {
        throw new TypeError(`vjp: cotangent ${c.aval} does not match output ${outs[i].aval}`);
      }
    });
    const res = backwardPass(pruned, linear.consts, pl.map((p) => new UndefinedPrimal(p.aval)), cl);
    return pdef.unflatten<unknown[]>(res.map((r, i) => r ?? zerosLikeT(pl[i])));
  };
  const out = odef!.unflatten(outs.slice(0, nOut));
  const aux = hasAux ? adef!.unflatten(outs.slice(nOut)) : undefined;
  return [out, back, aux];
}

/** Options of `grad` and `valueAndGrad`. */
export interface GradOptions {
  /** Which positional argument(s) to differentiate (default 0). */
  argnums?: number | readonly number[];
  /** Whether `f` returns `[value, aux]`. */
  hasAux?: boolean;
}

/**
 * `valueAndGrad(f)` returns a function computing `[f(...args), ∇f]` (with `hasAux`:
 * `[[value, aux], grads]`). `f` must return a scalar f32.
 * @example
 * ```ts
 * import { valueAndGrad, np } from "@denax/denax";
 * const [v, g] = valueAndGrad((x: any) => x.mul(x).sum())(np.array([1, 2]));
 * const got = [await v.item(), await g.toArray()];
 * console.log(...got); // 5 [2, 4]
 * if (JSON.stringify(got) !== "[5,[2,4]]") throw new Error(`got ${JSON.stringify(got)}`);
 * ```
 */
export function valueAndGrad<F extends ScalarFn, const A extends number | readonly number[] = 0>(
  f: F,
  opts?: GradOpts<A, false, Parameters<F>>,
): (...args: Parameters<F>) => [Tensor, GradOf<Parameters<F>, A>];
/** `valueAndGrad(f, { hasAux: true })`: `f` returns `[value, aux]`, the result `[[value, aux], grads]`. */
export function valueAndGrad<F extends AuxFn, const A extends number | readonly number[] = 0>(
  f: F,
  opts: GradOpts<A, true, Parameters<F>> & { hasAux: true },
): (...args: Parameters<F>) => [AuxValue<ReturnType<F>>, GradOf<Parameters<F>, A>];
/** `valueAndGrad(f, { hasAux })` with `hasAux` known only at run time. */
export function valueAndGrad<
  F extends TransformableFn,
  const A extends number | readonly number[] = 0,
>(
  f: F,
  opts: GradOpts<A, boolean, Parameters<F>> & { hasAux: boolean },
): (...args: Parameters<F>) => [Tensor | AuxValue<ReturnType<F>>, GradOf<Parameters<F>, A>];
export function valueAndGrad(
  f: TransformableFn,
  opts: GradOptions = {},
  // deno-lint-ignore no-explicit-any -- the implementation signature admits every overload's arguments
): (...args: any[]) => [unknown, unknown] {
  checkArity("valueAndGrad", arguments.length, 2);
  checkOptions("valueAndGrad", opts, GRAD_OPTS);
  const argnums = opts.argnums ?? 0;
  const nums = typeof argnums === "number" ? [argnums] : [...argnums];
  return (...args: unknown[]) => {
    nums.forEach((n) => {
      if (n < 0 || n >= args.length) {
        throw new RangeError(`grad: argnums ${n} is out of range for ${args.length} arguments`);
      }
    });
    const diffArgs = nums.map((n) => args[n]);
    const [leaves] = tree.flatten(diffArgs, isLeaf);
    leaves.forEach((l) => {
      const t = toTensor(l, "grad");
      if (!isFloat(t.dtype)) {
        throw new TypeError(
          `grad requires float (f32 or f16) inputs to differentiate, got ${t.aval}\nhelp: cast with astype("f32") or exclude the argument from argnums`,
        );
      }
    });
    const g = (...d: unknown[]) => {
      const full = [...args];
      nums.forEach((n, i) => (full[n] = d[i]));
      return f(...full);
    };
    const [out, back, aux] = vjpInternal(g, diffArgs, !!opts.hasAux);
    if (!(out instanceof Tensor) || out.size !== 1 || out.ndim !== 0 || !isFloat(out.dtype)) {
      const desc = out instanceof Tensor
        ? String(out.aval)
        : Array.isArray(out)
        ? `an array of ${out.length}`
        : typeof out;
      const structured = !(out instanceof Tensor) && typeof out === "object" && out !== null;
      throw new TypeError(
        `grad requires a scalar f32 output, got ${desc}\n` +
          (structured && !opts.hasAux
            ? `help: a function returning [loss, aux] needs grad(f, { hasAux: true })`
            : `help: reduce the output (e.g. .sum() or .mean()), or use vjp/jacrev for ` +
              `non-scalar outputs`),
      );
    }
    const gs = back(full_(out.aval));
    const grads = typeof argnums === "number" ? gs[0] : gs;
    return [opts.hasAux ? [out, aux] : out, grads];
  };
}
const full_ = (a: ShapedArray) => full(a.shape, 1, a.dtype);

/**
 * `grad(f)` returns a function computing the gradient of scalar `f` with respect to the
 * argument(s) in `argnums` (with `hasAux`: `[grads, aux]`).
 * @example
 * ```ts
 * import { grad, np } from "@denax/denax";
 * const df = grad((x: any) => np.sin(x));
 * const d = Number(await df(np.array(0)).item());
 * console.log(d); // cos(0) = 1
 * if (Math.abs(d - 1) > 1e-6) throw new Error(`got ${d}`);
 * ```
 */
export function grad<F extends ScalarFn, const A extends number | readonly number[] = 0>(
  f: F,
  opts?: GradOpts<A, false, Parameters<F>>,
): (...args: Parameters<F>) => GradOf<Parameters<F>, A>;
/** `grad(f, { hasAux: true })`: `f` returns `[loss, aux]`, the result is `[grads, aux]`. */
export function grad<F extends AuxFn, const A extends number | readonly number[] = 0>(
  f: F,
  opts: GradOpts<A, true, Parameters<F>> & { hasAux: true },
): (...args: Parameters<F>) => [GradOf<Parameters<F>, A>, AuxOf<ReturnType<F>>];
// deno-lint-ignore no-explicit-any -- the implementation signature admits every overload's arguments
export function grad(f: TransformableFn, opts: GradOptions = {}): (...args: any[]) => unknown {
  checkArity("grad", arguments.length, 2);
  checkOptions("grad", opts, GRAD_OPTS);
  const vg = valueAndGrad(f, opts as GradOptions & { hasAux: boolean });
  return (...args: unknown[]) => {
    const [v, g] = vg(...args);
    return opts.hasAux ? [g, (v as unknown[])[1]] : g;
  };
}

// ---------------------------------------------------------------- vmap

/** Options of `vmap`. */
export interface VmapOptions {
  /** Batch axis per argument: a number, null (not batched), or a pytree prefix of them. */
  inAxes?: number | null | readonly unknown[];
  /** Batch axis of the outputs: a number, null, or a pytree prefix. */
  outAxes?: number | null | unknown;
  /** Batch size, required only when no argument is batched. */
  axisSize?: number;
}

function broadcastPrefix(prefix: unknown, full: unknown, what: string): (number | null)[] {
  // expands a pytree prefix of axes to one axis per leaf of `full`
  if (prefix === null || typeof prefix === "number") {
    return tree.leaves(full, isLeaf).map(() => prefix as number | null);
  }
  if (Array.isArray(prefix) && Array.isArray(full)) {
    if (prefix.length !== full.length) {
      throw new TypeError(
        `${what}: axes spec has ${prefix.length} entries but there are ${full.length} values`,
      );
    }
    return prefix.flatMap((p, i) => broadcastPrefix(p, full[i], what));
  }
  if (prefix && typeof prefix === "object" && full && typeof full === "object") {
    const p = prefix as Record<string, unknown>, fu = full as Record<string, unknown>;
    return Object.keys(full).sort().flatMap((k) => broadcastPrefix(p[k] ?? null, fu[k], what));
  }
  throw new TypeError(
    `${what}: axes spec ${JSON.stringify(prefix)} does not match the values' structure`,
  );
}

/**
 * Vectorizes `f` over a batch axis of its arguments.
 * @example
 * ```ts
 * import { vmap, np } from "@denax/denax";
 * const f = vmap((v: any) => v.sum());
 * const y = await f(np.array([[1, 2], [3, 4]])).toArray();
 * console.log(y); // [3, 7]
 * if (JSON.stringify(y) !== "[3,7]") throw new Error(`got ${JSON.stringify(y)}`);
 * ```
 */
export function vmap<F extends TransformableFn>(
  f: F,
  opts: VmapOptions = {},
): (...args: Parameters<F>) => ReturnType<F> {
  checkArity("vmap", arguments.length, 2);
  checkOptions("vmap", opts, VMAP_OPTS);
  return (...args: Parameters<F>) => {
    const inAxes = opts.inAxes === undefined ? 0 : opts.inAxes;
    const [leaves, def] = flattenArgs(args, "vmap");
    const axes = broadcastPrefix(inAxes, args, "vmap inAxes");
    const dims = axes.map((a, i) => {
      if (a === null) return null;
      const nd = leaves[i].ndim;
      if (a < -nd || a >= nd) {
        throw new RangeError(
          `vmap: inAxes ${a} is out of bounds for an argument of ${leaves[i].aval}`,
        );
      }
      return a < 0 ? a + nd : a;
    });
    const sizes = dims.flatMap((d, i) => (d === null ? [] : [[i, leaves[i].shape[d]] as const]));
    let size = opts.axisSize;
    if (sizes.length) {
      size = sizes[0][1];
      const bad = sizes.find(([, s]) => s !== size);
      if (bad) {
        throw new TypeError(
          `vmap got inconsistent sizes for the mapped axis: ${
            sizes.map(([i, s]) => `argument leaf ${i} (${leaves[i].aval}) has size ${s}`).join(", ")
          }`,
        );
      }
    }
    if (size === undefined) throw new TypeError("vmap: no argument is batched; pass axisSize");
    let odef: tree.TreeDef | null = null;
    let outAxesFlat: (number | null)[] = [];
    const outs = vmapFlat(
      (...xs) => {
        const out = f(...def.unflatten(xs) as unknown[]);
        const [ol, d] = outLeaves(out, "vmap");
        odef = d;
        outAxesFlat = broadcastPrefix(
          opts.outAxes === undefined ? 0 : opts.outAxes,
          out,
          "vmap outAxes",
        );
        return ol;
      },
      leaves,
      dims,
      () => outAxesFlat,
      size,
    );
    return odef!.unflatten(outs);
  };
}

// ---------------------------------------------------------------- jit

/** Options of `jit`. */
export interface JitOptions {
  /** Positional arguments that are compile-time constants (part of the cache key). */
  staticArgnums?: number | readonly number[];
  /** Positional arguments whose buffers the compiled program may reuse for its outputs. */
  donateArgnums?: number | readonly number[];
}

/** A jitted function, with its compile cache exposed for tests. */
export interface Jitted<F extends TransformableFn> {
  (...args: Parameters<F>): ReturnType<F>;
  /** Number of traces done so far (one per distinct signature). */
  readonly traceCount: number;
  /** The jaxpr traced for the given arguments. */
  lower(...args: Parameters<F>): ClosedJaxpr;
}

function staticKey(v: unknown): string {
  if (typeof v === "function" || (typeof v === "object" && v !== null)) {
    try {
      return JSON.stringify(v, (_k, x) => (typeof x === "function" ? `#${objectId(x)}` : x));
    } catch {
      return `#${objectId(v as object)}`;
    }
  }
  return `${typeof v}:${String(v)}`;
}

/**
 * Compiles `f` by tracing it once per signature (pytree structure, shapes and dtypes, static
 * arguments) and running the staged program on the backend. Each jitted function keeps its
 * most recently used traces, at most `jitCacheLimits.maxEntries` (256 by default); an older
 * signature is traced again when it comes back.
 * @example
 * ```ts
 * import { jit, np } from "@denax/denax";
 * const f = jit((x: any) => x.mul(2).add(1));
 * const y = await f(np.array([1, 2])).toArray();
 * await f(np.array([3, 4])).toArray(); // same shape and dtype: reuses the trace
 * console.log(y, f.traceCount); // [3, 5] 1
 * const got = JSON.stringify([y, f.traceCount]);
 * if (got !== "[[3,5],1]") throw new Error(`got ${got}`);
 * ```
 */
export function jit<F extends TransformableFn>(f: F, opts: JitOptions = {}): Jitted<F> {
  checkArity("jit", arguments.length, 2);
  checkOptions("jit", opts, JIT_OPTS);
  const statics = new Set(
    typeof opts.staticArgnums === "number" ? [opts.staticArgnums] : opts.staticArgnums ?? [],
  );
  const donate = new Set(
    typeof opts.donateArgnums === "number" ? [opts.donateArgnums] : opts.donateArgnums ?? [],
  );
  const cache = new Map<
    string,
    {
      jaxpr: Jaxpr;
      consts: Tensor[];
      literals?: (number | undefined)[];
      odef: tree.TreeDef;
      closed: ClosedJaxpr;
      checks: ((value: number) => Error)[];
    }
  >();
  let traceCount = 0;
  const prepare = (args: unknown[]) => {
    const dyn = args.map((a, i) => (statics.has(i) ? null : a));
    const [leaves, def] = flattenArgs(dyn, "jit");
    const checked = checksEnabled();
    const key = `${def.key}|${leaves.map((l) => String(l.aval)).join(";")}|${
      args.map((a, i) => (statics.has(i) ? staticKey(a) : "")).join(",")
    }|${checked ? "checked" : ""}`;
    let entry = cache.get(key);
    if (entry) {
      // least recently used first: a hit moves to the end
      cache.delete(key);
      cache.set(key, entry);
    } else {
      traceCount++;
      compileStats.traces++;
      let odef: tree.TreeDef | null = null;
      let staged: StagedCheck[] = [];
      const closed = traceToJaxpr(
        (...xs) => {
          const rebuilt = def.unflatten(xs) as unknown[];
          const full = args.map((a, i) => (statics.has(i) ? a : rebuilt[i]));
          // checked mode: value checks become extra outputs (flag, value) after the results
          const col = checked ? { interp: currentInterpreter(), checks: [] } : null;
          let ol: Tensor[];
          {
            using _c = collectChecks(col);
            [ol, odef] = outLeaves(f(...full), "jit");
          }
          staged = col?.checks ?? [];
          return [...ol, ...staged.flatMap((c) => [c.flag, c.value])];
        },
        leaves.map((l) => l.aval),
        { name: `jit(${f.name || "fn"})` },
      );
      const converted = closureConvert(closed);
      const jaxpr = cse(dce(converted.jaxpr));
      const consts = converted.consts;
      // 0-d constants made from host numbers become literals of the compiled program
      const lits = consts.map((c) => (c instanceof Tracer ? undefined : knownScalar(c)));
      const literals = lits.some((l) => l !== undefined) ? lits : undefined;
      entry = { jaxpr, consts, literals, odef: odef!, closed, checks: staged.map((c) => c.error) };
      if (!consts.some((c) => c instanceof Tracer)) {
        cache.set(key, entry);
        // bounded like the executables: the oldest traces (and the constants they hold) go
        while (cache.size > jitCacheLimits.maxEntries) cache.delete(cache.keys().next().value!);
      }
    }
    return { entry, leaves, def };
  };
  const wrapped = ((...args: unknown[]) => {
    const { entry, leaves } = prepare(args);
    for (const l of leaves) {
      if (l._consumed !== undefined) throw consumedError(`jit(${f.name || "fn"})`, l);
    }
    const leafDon = leafDonation(args, donate, statics);
    const donated = [...entry.consts.map(() => false), ...leafDon];
    const outs = bind(jit_call_p, [...entry.consts, ...leaves], {
      jaxpr: entry.jaxpr,
      name: f.name || "fn",
      donated: donated.some((d) => d) ? donated : undefined,
      literals: entry.literals,
    });
    const nOut = outs.length - 2 * entry.checks.length;
    const results = outs.slice(0, nOut);
    if (donate.size) markDonated(leaves, leafDon, results, argOfLeaf(args, statics), f.name);
    entry.checks.forEach((err, k) => checkValue(outs[nOut + 2 * k], outs[nOut + 2 * k + 1], err));
    return entry.odef.unflatten(results);
  }) as unknown as Jitted<F>;
  Object.defineProperty(wrapped, "traceCount", { get: () => traceCount });
  (wrapped as { lower: unknown }).lower = (...args: unknown[]) => prepare(args).entry.closed;
  return wrapped;
}

/**
 * Marks the concrete leaves given to donated arguments as consumed (on every backend, whether
 * or not the backend reused their storage), so a later use raises instead of reading stale or
 * released storage. A leaf returned unchanged as an output stays usable.
 */
function markDonated(
  leaves: readonly Tensor[],
  donated: readonly boolean[],
  outs: readonly Tensor[],
  argIndex: readonly number[],
  name: string,
): void {
  for (let i = 0; i < leaves.length; i++) {
    const l = leaves[i];
    if (!donated[i] || l instanceof Tracer || outs.includes(l)) continue;
    l._consumed = `was donated to jit(${name || "fn"}) (argument ${argIndex[i]})`;
  }
}

function argOfLeaf(args: unknown[], statics: Set<number>): number[] {
  return args.flatMap((a, i) => (statics.has(i) ? [] : tree.leaves(a, isLeaf).map(() => i)));
}

function leafDonation(
  args: unknown[],
  donate: Set<number>,
  statics: Set<number>,
): boolean[] {
  return args.flatMap((
    a,
    i,
  ) => (statics.has(i) ? [] : tree.leaves(a, isLeaf).map(() => donate.has(i))));
}

// ---------------------------------------------------------------- makeJaxpr

/**
 * Traces `f` and returns its jaxpr (printable with `String()`), as `jax.make_jaxpr`.
 * @example
 * ```ts
 * import { makeJaxpr, np } from "@denax/denax";
 * const closed = makeJaxpr((x: any) => x.mul(2))(np.array([1, 2]));
 * console.log(String(closed));
 * // { lambda a:f32[]; b:f32[2]. let
 * //     c:f32[2] = broadcast_in_dim[shape=(2) broadcastDimensions=()] a
 * //     d:f32[2] = mul b c
 * //   in (d) }
 * const prims = closed.jaxpr.eqns.map((e) => e.prim.name).join(" ");
 * if (prims !== "broadcast_in_dim mul") throw new Error(`got ${prims}`);
 * ```
 */
export function makeJaxpr<F extends TransformableFn>(
  f: F,
): (...args: Parameters<F>) => ClosedJaxpr {
  return (...args: Parameters<F>) => {
    const [leaves, def] = flattenArgs(args, "makeJaxpr");
    return traceToJaxpr(
      (...xs) => outLeaves(f(...def.unflatten(xs) as unknown[]), "makeJaxpr")[0],
      leaves.map((l) => l.aval),
      {
        name: "makeJaxpr",
      },
    );
  };
}

// ---------------------------------------------------------------- jacobians

function singleArg(what: string, x: unknown): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${what}: expected a Tensor argument`);
  return x;
}

/**
 * Jacobian by forward mode: `jacfwd(f)(x)` has shape `out.shape ++ x.shape`.
 * @example
 * ```ts
 * import { jacfwd, np } from "@denax/denax";
 * const J = await jacfwd((x: any) => x.mul(x))(np.array([1, 2])).toArray();
 * console.log(J); // [[2, 0], [0, 4]]
 * if (JSON.stringify(J) !== "[[2,0],[0,4]]") throw new Error(`got ${JSON.stringify(J)}`);
 * ```
 */
export function jacfwd<F extends TensorFn>(
  f: F,
  opts: { argnums?: number } = {},
): (...args: Parameters<F>) => Tensor {
  checkArity("jacfwd", arguments.length, 2);
  checkOptions("jacfwd", opts, JAC_OPTS);
  return (...args: Parameters<F>) => {
    const k = opts.argnums ?? 0;
    const x = singleArg("jacfwd", args[k]);
    const n = x.size;
    const basis = reshape(eyeF32(n), [n, ...x.shape]);
    const g = (t: Tensor) =>
      jvp((xi: Tensor) => f(...withArg(args, k, xi) as [Tensor]), [x], [t])[1] as Tensor;
    const cols = vmap(g)(basis) as Tensor; // [n, ...out]
    const outShape = cols.shape.slice(1);
    const perm = [...outShape.map((_, i) => i + 1), 0];
    return reshape(transposeT(cols, perm), [...outShape, ...x.shape]);
  };
}

/**
 * Jacobian by reverse mode: `jacrev(f)(x)` has shape `out.shape ++ x.shape`.
 * @example
 * ```ts
 * import { jacrev, np } from "@denax/denax";
 * const J = await jacrev((x: any) => x.mul(x))(np.array([1, 2])).toArray();
 * console.log(J); // [[2, 0], [0, 4]]
 * if (JSON.stringify(J) !== "[[2,0],[0,4]]") throw new Error(`got ${JSON.stringify(J)}`);
 * ```
 */
export function jacrev<F extends TensorFn>(
  f: F,
  opts: { argnums?: number } = {},
): (...args: Parameters<F>) => Tensor {
  checkArity("jacrev", arguments.length, 2);
  checkOptions("jacrev", opts, JAC_OPTS);
  return (...args: Parameters<F>) => {
    const k = opts.argnums ?? 0;
    const x = singleArg("jacrev", args[k]);
    const [y, back] = vjp((xi: Tensor) => f(...withArg(args, k, xi) as [Tensor]), x);
    const m = (y as Tensor).size;
    const basis = reshape(eyeF32(m), [m, ...(y as Tensor).shape]);
    const rows = vmap((c: Tensor) => back(c)[0])(basis) as Tensor; // [m, ...x]
    return reshape(rows, [...(y as Tensor).shape, ...x.shape]);
  };
}

/**
 * Hessian: `jacfwd(jacrev(f))`.
 * @example
 * ```ts
 * import { hessian, np } from "@denax/denax";
 * const H = await hessian((x: any) => x.mul(x).sum())(np.array([1, 2])).toArray();
 * console.log(H); // [[2, 0], [0, 2]]
 * if (JSON.stringify(H) !== "[[2,0],[0,2]]") throw new Error(`got ${JSON.stringify(H)}`);
 * ```
 */
export function hessian<F extends TensorFn>(
  f: F,
  opts: { argnums?: number } = {},
): (...args: Parameters<F>) => Tensor {
  return jacfwd(jacrev(f, opts), opts);
}

function withArg(args: unknown[], k: number, v: unknown): unknown[] {
  const a = [...args];
  a[k] = v;
  return a;
}
function eyeF32(n: number): Tensor {
  const d = new Float32Array(n * n);
  for (let i = 0; i < n; i++) d[i * n + i] = 1;
  return constant(d, [n, n], "f32" as DType);
}
import { transpose as transposeT } from "./prims/structural.ts";
