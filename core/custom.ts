/**
 * User-defined derivatives (`customJvp`, `customVjp`) and rematerialization (`checkpoint`).
 *
 * @module
 */
import { fmtAvals, ShapedArray } from "./aval.ts";
import { definePartialEval, type JaxprBuilder, partialEvalJaxpr, traceClosed } from "./builder.ts";
import { dce, evalJaxpr, Jaxpr } from "./jaxpr.ts";
import { batchJaxpr, jvpJaxpr, transposeJaxpr } from "./jaxpr_rules.ts";
import { definePrimitive, type Primitive, UndefinedPrimal } from "./primitive.ts";
import { zerosLikeT } from "./prims/structural.ts";
import { Tensor } from "./tensor.ts";
import { bind, pushInterpreter } from "./trace.ts";
import * as tree from "./tree.ts";
import type { Tree } from "./tree.ts";
import type { TransformableFn } from "./transform_types.ts";
import { matchAxis, vmapFlat } from "./vmap_core.ts";

const isLeaf = (x: unknown): boolean => x instanceof Tensor;

function checkCall(name: string, avals: ShapedArray[], j: Jaxpr): void {
  if (avals.length !== j.invars.length || avals.some((a, i) => !a.equals(j.invars[i].aval))) {
    throw new TypeError(
      `${name}: arguments ${fmtAvals(avals)} do not match ${fmtAvals(j.inAvals)}`,
    );
  }
}

/** Traces a pytree function on the flattened `args`: its jaxpr, the input and output treedefs. */
function traceTree(
  f: TransformableFn,
  args: readonly unknown[],
  name: string,
): { cj: ReturnType<typeof traceClosed>; ts: Tensor[]; def: tree.TreeDef; odef: tree.TreeDef } {
  const [leaves, def] = tree.flatten(args, isLeaf);
  const ts = leaves.map((l) => {
    if (!(l instanceof Tensor)) {
      throw new TypeError(`${name}: arguments must be pytrees of Tensors`);
    }
    return l;
  });
  let odef: tree.TreeDef | null = null;
  const cj = traceClosed(
    (...xs) => {
      const [ol, d] = tree.flatten(f(...def.unflatten<unknown[]>(xs)), isLeaf);
      odef = d;
      return ol as Tensor[];
    },
    ts.map((t) => t.aval),
    name,
  );
  return { cj, ts, def, odef: odef! };
}

/** A flat JVP rule: (primals, tangents) → [outs, tangentOuts]. */
export type FlatJvp = (primals: Tensor[], tangents: Tensor[]) => [Tensor[], Tensor[]];

// ================================================================ custom_jvp_call

/** Params of `custom_jvp_call`: the traced function, its flat JVP rule, the closed-over count. */
export type CustomJvpParams = {
  readonly jaxpr: Jaxpr;
  readonly jvp: FlatJvp;
  readonly numConsts: number;
};

export const custom_jvp_call_p: Primitive<CustomJvpParams> = definePrimitive<CustomJvpParams>(
  "custom_jvp_call",
  {
    params: { jaxpr: "required", jvp: "required", numConsts: "required" },
    higherOrder: true,
    multipleResults: true,
    abstractEval(avals, { jaxpr }) {
      checkCall("customJvp", avals, jaxpr);
      return jaxpr.outAvals;
    },
    evalImpl(args, { jaxpr }) {
      return evalJaxpr(jaxpr, [], args);
    },
    jvp(primals, tangents, { jvp, numConsts }) {
      // closed-over constants (numConsts) are treated as non-differentiable, as in JAX
      const [outs, touts] = jvp(primals.slice(numConsts), tangents.slice(numConsts));
      return [outs, touts];
    },
    batch(args, dims, { jaxpr, jvp, numConsts }, size) {
      const { jaxpr: bj, outBatched } = batchJaxpr(jaxpr, dims, size, true);
      void outBatched;
      const pd = dims.slice(numConsts);
      const bjvp: FlatJvp = (ps, ts) => {
        const n = ps.length;
        const outs = vmapFlat(
          (...xs) => {
            const [o, t] = jvp(xs.slice(0, n), xs.slice(n));
            return [...o, ...t];
          },
          [...ps, ...ts],
          [...pd.map((d) => (d === null ? null : 0)), ...pd.map((d) => (d === null ? null : 0))],
          (m) => new Array(m).fill(0),
          size,
        );
        return [outs.slice(0, outs.length / 2), outs.slice(outs.length / 2)];
      };
      const moved = args.map((a, i) => (dims[i] === null ? a : matchAxis(a, dims[i], 0, size)));
      const outs = bind(custom_jvp_call_p, [...bj.consts, ...moved], {
        jaxpr: bj.jaxpr,
        jvp: (ps: Tensor[], ts: Tensor[]) =>
          bjvp(ps.slice(bj.consts.length), ts.slice(bj.consts.length)),
        numConsts: numConsts + bj.consts.length,
      });
      return [outs, outs.map(() => 0)];
    },
  },
);

/** A function with a custom JVP rule; set the rule with `defjvp`. */
export interface CustomJvpFunction<F extends TransformableFn> {
  (...args: Parameters<F>): ReturnType<F>;
  /**
   * Sets the rule: `rule(primals, tangents)` returns `[primalOut, tangentOut]`.
   * @returns the function itself
   */
  defjvp(
    rule: (
      primals: Parameters<F>,
      tangents: Tree<Parameters<F>>,
    ) => [ReturnType<F>, Tree<ReturnType<F>>],
  ): CustomJvpFunction<F>;
}

/**
 * Wraps `f` so that differentiation uses a rule you supply with `.defjvp`, as
 * `jax.custom_jvp`. Reverse mode works too (the rule is linearized and transposed).
 * @example
 * ```ts
 * import { customJvp, grad, np } from "@denax/denax";
 * // log(1 + e^x) with a stable derivative σ(x)
 * const softplus = customJvp((x: any) => np.log1p(np.exp(x)));
 * softplus.defjvp(([x]: any[], [t]: any[]) => [softplus(x), np.sigmoid(x).mul(t)]);
 * const d = Number(await grad(softplus)(np.array(1000)).item());
 * console.log(d); // σ(1000) = 1 (the default rule would give e^x / (1 + e^x) = inf / inf = NaN)
 * if (Math.abs(d - 1) > 1e-6) throw new Error(`got ${d}`);
 * ```
 */
export function customJvp<F extends TransformableFn>(f: F): CustomJvpFunction<F> {
  let rule: Parameters<CustomJvpFunction<F>["defjvp"]>[0] | null = null;
  const wrapped = ((...args: Parameters<F>) => {
    if (!rule) throw new TypeError("customJvp: no rule defined; call .defjvp(rule) first");
    const { cj, ts, def, odef } = traceTree(f, args, "customJvp");
    const r = rule;
    const flatJvp: FlatJvp = (ps, tans) => {
      const [o, t] = r(def.unflatten(ps), def.unflatten(tans));
      const ol = tree.leaves(o, isLeaf) as Tensor[], tl = tree.leaves(t, isLeaf) as Tensor[];
      if (ol.length !== tl.length) {
        throw new TypeError("customJvp: the rule's outputs and tangents differ in structure");
      }
      return [ol, tl];
    };
    const outs = bind(custom_jvp_call_p, [...cj.consts, ...ts], {
      jaxpr: cj.jaxpr,
      jvp: flatJvp,
      numConsts: cj.consts.length,
    });
    return odef.unflatten<ReturnType<F>>(outs);
  }) as CustomJvpFunction<F>;
  wrapped.defjvp = (r) => {
    rule = r;
    return wrapped;
  };
  return wrapped;
}

// ================================================================ custom_vjp_call and custom_lin

/** A flat forward rule of `customVjp`: primals → [outs, residuals]. */
export type FlatFwd = (primals: Tensor[]) => [Tensor[], Tensor[]];
/** A flat backward rule of `customVjp`: (residuals, cotangents) → input cotangents. */
export type FlatBwd = (res: Tensor[], cts: Tensor[]) => Tensor[];

/** A backward rule vmapped over residuals and cotangents batched at axis 0. */
function batchedBwd(bwd: FlatBwd, size: number): FlatBwd {
  return (res, cts) =>
    vmapFlat(
      (...xs) => bwd(xs.slice(0, res.length), xs.slice(res.length)),
      [...res, ...cts],
      [...res, ...cts].map(() => 0),
      (m) => new Array(m).fill(0),
      size,
    );
}

/** Params of `custom_lin`: the backward rule, the residual count, the output avals. */
export type CustomLinParams = {
  readonly bwd: FlatBwd;
  readonly numRes: number;
  readonly outAvals: readonly ShapedArray[];
};

export const custom_lin_p: Primitive<CustomLinParams> = definePrimitive<CustomLinParams>(
  "custom_lin",
  {
    params: { bwd: "required", numRes: "required", outAvals: "required" },
    multipleResults: true,
    abstractEval(_avals, { outAvals }) {
      return [...outAvals];
    },
    evalImpl() {
      throw new TypeError(
        "can't apply forward-mode autodiff (jvp) to a customVjp function\nhelp: use grad/vjp, or define the rule with customJvp",
      );
    },
    // forward mode over the linearized custom rule is unsupported, as in JAX
    jvp() {
      throw new TypeError(
        "can't apply forward-mode autodiff (jvp) to a customVjp function\nhelp: use grad/vjp, or define the rule with customJvp",
      );
    },
    transpose(cts, args, { bwd, numRes, outAvals }) {
      const res = args.slice(0, numRes) as Tensor[];
      const c = cts.map((ct, i) => ct ?? zerosLikeT(outAvals[i]));
      const grads = bwd(res, c);
      return [...res.map(() => null), ...grads];
    },
    batch(args, dims, { bwd, numRes, outAvals }, size) {
      const moved = args.map((a, i) => matchAxis(a, dims[i], 0, size));
      const bbwd = batchedBwd(bwd, size);
      const outs = bind(custom_lin_p, moved, {
        bwd: bbwd,
        numRes,
        outAvals: outAvals.map((a) => new ShapedArray([size, ...a.shape], a.dtype)),
      });
      return [outs, outs.map(() => 0)];
    },
  },
);

/** Params of `custom_vjp_call`: the traced function, its flat rules, the closed-over count. */
export type CustomVjpParams = {
  readonly jaxpr: Jaxpr;
  readonly fwd: FlatFwd;
  readonly bwd: FlatBwd;
  readonly numConsts: number;
};

export const custom_vjp_call_p: Primitive<CustomVjpParams> = definePrimitive<CustomVjpParams>(
  "custom_vjp_call",
  {
    params: { jaxpr: "required", fwd: "required", bwd: "required", numConsts: "required" },
    higherOrder: true,
    multipleResults: true,
    symbolicZeros: true,
    abstractEval(avals, { jaxpr }) {
      checkCall("customVjp", avals, jaxpr);
      return jaxpr.outAvals;
    },
    evalImpl(args, { jaxpr }) {
      return evalJaxpr(jaxpr, [], args);
    },
    jvp(primals, tangents: (Tensor | null)[], { fwd, bwd, numConsts, jaxpr }) {
      const [outs, res] = fwd(primals.slice(numConsts));
      const ts = primals.slice(numConsts).map((p, i) => tangents[numConsts + i] ?? zerosLikeT(p));
      const touts = bind(custom_lin_p, [...res, ...ts], {
        bwd,
        numRes: res.length,
        outAvals: jaxpr.outAvals,
      });
      return [outs, touts];
    },
    batch(args, dims, { jaxpr, fwd, bwd, numConsts }, size) {
      const { jaxpr: bj } = batchJaxpr(jaxpr, dims, size, true);
      const pd = dims.slice(numConsts);
      const bfwd: FlatFwd = (ps) => {
        let nOut = 0;
        const outs = vmapFlat(
          (...xs) => {
            const [o, r] = fwd(xs);
            nOut = o.length;
            return [...o, ...r];
          },
          ps,
          pd.map((d) => (d === null ? null : 0)),
          (m) => new Array(m).fill(0),
          size,
        );
        return [outs.slice(0, nOut), outs.slice(nOut)];
      };
      const bbwd = batchedBwd(bwd, size);
      const moved = args.map((a, i) => (dims[i] === null ? a : matchAxis(a, dims[i], 0, size)));
      const outs = bind(custom_vjp_call_p, [...bj.consts, ...moved], {
        jaxpr: bj.jaxpr,
        fwd: bfwd,
        bwd: bbwd,
        numConsts: numConsts + bj.consts.length,
      });
      return [outs, outs.map(() => 0)];
    },
  },
);

/** Makes the flat rules of one `customVjp` call: treedefs of the arguments and outputs. */
type MakeVjpRules = (
  def: tree.TreeDef,
  odef: tree.TreeDef,
  ts: Tensor[],
  nArgs: number,
) => [FlatFwd, FlatBwd];

/** A function with a custom VJP; set the rule with `defvjp(fwd, bwd)`. */
export interface CustomVjpFunction<F extends TransformableFn> {
  (...args: Parameters<F>): ReturnType<F>;
  /**
   * Sets the rule: `fwd(...args)` returns `[out, residuals]`; `bwd(residuals, ct)` returns one
   * cotangent per argument (an array).
   * @returns the function itself
   */
  defvjp<R>(
    fwd: (...args: Parameters<F>) => [ReturnType<F>, R],
    bwd: (res: R, ct: Tree<ReturnType<F>>) => Tree<Parameters<F>>,
  ): CustomVjpFunction<F>;
}

/**
 * Wraps `f` so that reverse-mode differentiation uses `bwd`, as `jax.custom_vjp`.
 * Forward mode (jvp) of such a function is an error, as in JAX.
 * @example
 * ```ts
 * import { customVjp, grad, np } from "@denax/denax";
 * // gradient clipping in the backward pass
 * const clipGrad = customVjp((x: any) => x);
 * clipGrad.defvjp((x: any) => [x, null], (_r: any, g: any) => [np.clip(g, -1, 1)]);
 * const d = Number(await grad((x: any) => clipGrad(x).mul(10))(np.array(2)).item());
 * console.log(d); // 1: the cotangent 10 is clipped to 1
 * if (Math.abs(d - 1) > 1e-6) throw new Error(`got ${d}`);
 * ```
 */
export function customVjp<F extends TransformableFn>(f: F): CustomVjpFunction<F> {
  // the flat rules for one call, made by `defvjp` (where the residual type is known)
  let makeRules: MakeVjpRules | null = null;
  const wrapped = ((...args: Parameters<F>) => {
    if (!makeRules) {
      throw new TypeError("customVjp: no rule defined; call .defvjp(fwd, bwd) first");
    }
    const { cj, ts, def, odef } = traceTree(f, args, "customVjp");
    const [flatFwd, flatBwd] = makeRules(def, odef, ts, args.length);
    const outs = bind(custom_vjp_call_p, [...cj.consts, ...ts], {
      jaxpr: cj.jaxpr,
      fwd: flatFwd,
      bwd: flatBwd,
      numConsts: cj.consts.length,
    });
    return odef.unflatten<ReturnType<F>>(outs);
  }) as CustomVjpFunction<F>;
  wrapped.defvjp = (fwd, bwd) => {
    makeRules = (def, odef, ts, nArgs) => {
      let rdef: tree.TreeDef | null = null;
      const flatFwd: FlatFwd = (ps) => {
        const [o, r] = fwd(...def.unflatten<Parameters<F>>(ps));
        const [rl, rd] = tree.flatten(r, isLeaf);
        rdef = rd;
        return [tree.leaves(o, isLeaf) as Tensor[], rl as Tensor[]];
      };
      const flatBwd: FlatBwd = (res, cts) => {
        const g: unknown = bwd(rdef!.unflatten(res), odef.unflatten(cts));
        if (!Array.isArray(g) || g.length !== nArgs) {
          throw new TypeError(
            `customVjp: bwd must return an array with one cotangent per argument (${nArgs})`,
          );
        }
        return tree.leaves(g, isLeaf).map((x, i) => (x instanceof Tensor ? x : zerosLikeT(ts[i])));
      };
      return [flatFwd, flatBwd];
    };
    return wrapped;
  };
  return wrapped;
}

// ================================================================ checkpoint (remat)

/** Params of `checkpoint`: the function recomputed in the backward pass. */
export type CheckpointParams = { readonly jaxpr: Jaxpr };

export const checkpoint_p: Primitive<CheckpointParams> = definePrimitive<CheckpointParams>(
  "checkpoint",
  {
    params: { jaxpr: "required" },
    higherOrder: true,
    multipleResults: true,
    symbolicZeros: true,
    abstractEval(avals, { jaxpr }) {
      checkCall("checkpoint", avals, jaxpr);
      return jaxpr.outAvals;
    },
    evalImpl(args, { jaxpr }) {
      return evalJaxpr(jaxpr, [], args);
    },
    jvp(primals, tangents: (Tensor | null)[], { jaxpr }) {
      const nz = tangents.map((t) => t !== null);
      const { jaxpr: jj, outNonzeros } = jvpJaxpr(jaxpr, nz, false);
      const outs = bind(checkpoint_p, [
        ...jj.consts,
        ...primals,
        ...tangents.filter((t) => t !== null),
      ], {
        jaxpr: jj.jaxpr,
      });
      const n = jaxpr.outvars.length;
      let k = n;
      return [outs.slice(0, n), outNonzeros.map((z) => (z ? outs[k++] : null))];
    },
    transpose(cts, args, { jaxpr }) {
      const lin = args.map((a) => a instanceof UndefinedPrimal);
      const tj = transposeJaxpr(jaxpr, lin);
      const c = cts.map((ct, i) => ct ?? zerosLikeT(jaxpr.outvars[i].aval));
      const outs = bind(checkpoint_p, [
        ...tj.consts,
        ...args.filter((a) => !(a instanceof UndefinedPrimal)) as Tensor[],
        ...c,
      ], {
        jaxpr: tj.jaxpr,
      });
      let k = 0;
      return lin.map((l) => (l ? outs[k++] : null));
    },
    batch(args, dims, { jaxpr }, size) {
      const { jaxpr: bj, outBatched } = batchJaxpr(jaxpr, dims, size, false);
      const outs = bind(checkpoint_p, [...bj.consts, ...args], { jaxpr: bj.jaxpr });
      return [outs, outBatched.map((b) => (b ? 0 : null))];
    },
  },
);

// Rematerialization: the known outputs are computed now and no residuals are saved; the
// staged equation recomputes the forward pass from the (known) inputs in the backward pass.
definePartialEval(checkpoint_p, (b: JaxprBuilder, args: Tensor[], params) => {
  const j = params.jaxpr;
  const unk = args.map((a) => b.isOwn(a));
  const pe = partialEvalJaxpr(j, unk, false);
  const nKnown = pe.outUnknowns.filter((u) => !u).length;
  const kj = pe.known.jaxpr;
  const knownOnly = dce(new Jaxpr([], kj.invars, kj.eqns, kj.outvars.slice(0, nKnown)));
  let knownOuts: Tensor[];
  {
    using _ = pushInterpreter(b.parent);
    knownOuts = bind(checkpoint_p, [...pe.known.consts, ...args.filter((_, i) => !unk[i])], {
      jaxpr: knownOnly,
    });
  }
  const all = b.record(checkpoint_p, args, params);
  let ki = 0;
  return pe.outUnknowns.map((u, i) => (u ? all[i] : knownOuts[ki++]));
});

/**
 * Marks `f` for rematerialization: under `grad`, its intermediate values are not stored but
 * recomputed in the backward pass (trading compute for memory), as `jax.checkpoint`.
 * @example
 * ```ts
 * import { checkpoint, grad, np } from "@denax/denax";
 * const block = checkpoint((x: any) => np.sin(np.sin(x)));
 * const d = Number(await grad((x: any) => block(x))(np.array(0)).item());
 * console.log(d); // cos(sin 0) · cos 0 = 1
 * if (Math.abs(d - 1) > 1e-6) throw new Error(`got ${d}`);
 * ```
 */
export function checkpoint<F extends TransformableFn>(f: F): F {
  return ((...args: Parameters<F>) => {
    const { cj, ts, odef } = traceTree(f, args, "checkpoint");
    const outs = bind(checkpoint_p, [...cj.consts, ...ts], { jaxpr: cj.jaxpr });
    return odef.unflatten(outs);
  }) as F;
}
