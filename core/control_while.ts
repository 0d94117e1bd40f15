/**
 * The `while` primitive: loop a closure-converted body while a closure-converted condition
 * holds. Operands `[condConsts | bodyConsts | carry]` → `[carry]` (see `control_layout.ts`).
 * Its rules: abstract evaluation, eager evaluation (host loop, or a deferred device task),
 * forward mode and batching; reverse mode is an error (the step count is known only at run
 * time).
 *
 * @module
 */
import { fmtAvals } from "./aval.ts";
import { currentBackend, setBackend } from "./backend.ts";
import { definePartialEval, traceClosed } from "./builder.ts";
import {
  at0,
  cut,
  padInvars,
  permuteJaxpr,
  range,
  scatter,
  whileOperands,
} from "./control_layout.ts";
import { evalJaxpr, Jaxpr } from "./jaxpr.ts";
import { batchJaxpr, jvpJaxpr } from "./jaxpr_rules.ts";
import { definePrimitive, type Primitive } from "./primitive.ts";
import * as ew from "./prims/elementwise.ts";
import { reduceMax } from "./prims/reduce.ts";
import { broadcastInDim, zerosLikeT } from "./prims/structural.ts";
import { Tensor } from "./tensor.ts";
import { bind, evalInterpreter, pushInterpreter } from "./trace.ts";
import { matchAxis } from "./vmap_core.ts";

/**
 * Parameters of `while`. Operands `[condConsts | bodyConsts | carry]` → results `[carry]`;
 * the condition maps `[condConsts | carry]` → `[bool[]]`, the body `[bodyConsts | carry]` →
 * `[carry]`.
 */
export type WhileParams = {
  /** The loop condition. */
  condJaxpr: Jaxpr;
  /** The loop body. */
  bodyJaxpr: Jaxpr;
  /** Constants of the condition. */
  condNumConsts: number;
  /** Constants of the body. */
  bodyNumConsts: number;
};

export const while_p: Primitive<WhileParams> = definePrimitive<WhileParams>("while", {
  params: {
    condJaxpr: "required",
    bodyJaxpr: "required",
    condNumConsts: "required",
    bodyNumConsts: "required",
  },
  higherOrder: true,
  multipleResults: true,
  symbolicZeros: true,
  // [condConsts | bodyConsts | carry] → [carry]: the condition returns bool[], the body the
  // carry's types
  abstractEval(avals, params) {
    const { condJaxpr, bodyJaxpr } = params as WhileParams;
    const { carry } = whileOperands(avals, params as WhileParams);
    const co = condJaxpr.outAvals;
    if (co.length !== 1 || co[0].ndim !== 0 || co[0].dtype !== "bool") {
      throw new TypeError(
        `whileLoop: the condition must return a scalar bool, got ${fmtAvals(co)}`,
      );
    }
    const bo = bodyJaxpr.outAvals;
    if (bo.length !== carry.length || bo.some((a, i) => !a.equals(carry[i]))) {
      throw new TypeError(
        `whileLoop: the body returns ${fmtAvals(bo)} but the carry is ${fmtAvals(carry)}`,
      );
    }
    return carry;
  },
  // while cond(condConsts, carry): carry = body(bodyConsts, carry). With synchronous reads the
  // host tests the condition; otherwise a deferred task loops on the device's answer.
  evalImpl(args, params) {
    const { condJaxpr, bodyJaxpr } = params as WhileParams;
    let { condConsts: cconsts, bodyConsts: bconsts, carry } = whileOperands(
      args,
      params as WhileParams,
    );
    const backend = currentBackend();
    if (backend.readSync) {
      for (;;) {
        const [p] = evalJaxpr(condJaxpr, [], [...cconsts, ...carry]);
        if (!backend.readSync(p._buf, p.aval)[0]) break;
        carry = evalJaxpr(bodyJaxpr, [], [...bconsts, ...carry]);
      }
      return carry;
    }
    const { defer, alloc, copy } = backend;
    if (!defer || !alloc || !copy) {
      throw new Error(
        `whileLoop: the '${backend.name}' backend can neither read the loop condition ` +
          `synchronously nor defer work\nhelp: use lax.foriLoop with static bounds or lax.scan`,
      );
    }
    // The condition lives on the device: the outputs are allocated now and filled by a task
    // that the backend runs before any later work (see Backend.defer).
    // The task holds its own handles: the caller may dispose its tensors while it is pending
    // (the backend orders the release after the task).
    [cconsts, bconsts, carry] = [cconsts, bconsts, carry].map((ts) =>
      ts.map((t) => new Tensor(t.aval, t._buf, t._backend))
    );
    const avals = carry.map((c) => c.aval);
    const outBufs = avals.map((a) => alloc.call(backend, a));
    defer.call(backend, async (direct) => {
      let cur = carry;
      // run on this backend with the evaluation interpreter, whatever is current when the
      // task runs
      const inEval = <T>(fn: () => T): T =>
        direct(() => {
          const prev = currentBackend();
          setBackend(backend);
          try {
            using _ = pushInterpreter(evalInterpreter);
            return fn();
          } finally {
            setBackend(prev);
          }
        });
      for (;;) {
        const [p] = inEval(() => evalJaxpr(condJaxpr, [], [...cconsts, ...cur]));
        const v = await direct(() => p.data());
        if (!v[0]) break;
        cur = inEval(() => evalJaxpr(bodyJaxpr, [], [...bconsts, ...cur]));
      }
      direct(() => cur.forEach((c, i) => copy.call(backend, c._buf, outBufs[i], avals[i])));
    });
    return outBufs.map((b, i) => new Tensor(avals[i], b, backend));
  },
  // Forward mode: the carry's tangent follows the body's JVP, d carry' = ∂body/∂bc·d bc +
  // ∂body/∂carry·d carry, while the condition only reads the primal carry:
  //   [condConsts | jvp consts, bc, d bc≠0 | carry, d carry≠0] → [carry | d carry≠0]
  // The condition ignores the trailing carry tangents. A carry tangent is nonzero when its
  // initial tangent or the body's carry-out tangent is (a fixed point).
  jvp(primals, tangents, params) {
    const p = params as WhileParams;
    const { condJaxpr, bodyJaxpr } = p;
    const prim = whileOperands(primals, p);
    const tan = whileOperands(tangents as (Tensor | null)[], p);
    const bnz = tan.bodyConsts.map((t) => t !== null);
    const carryNz = tan.carry.map((t) => t !== null);
    let res = jvpJaxpr(bodyJaxpr, [...bnz, ...carryNz], carryNz);
    while (!res.outNonzeros.every((z, i) => !z || carryNz[i])) {
      res.outNonzeros.forEach((z, i) => z && (carryNz[i] = true));
      res = jvpJaxpr(bodyJaxpr, [...bnz, ...carryNz], carryNz);
    }
    const ne = res.jaxpr.consts.length;
    const bTan = range(bnz.length).filter((i) => bnz[i]);
    const cTan = range(carryNz.length).filter((i) => carryNz[i]);
    // the body's JVP takes [jvp consts | bc | carry | d bc≠0 | d carry≠0]
    const [jc, bc, car, dbc, dcar] = cut(
      range(res.jaxpr.jaxpr.invars.length),
      ...[ne, bnz.length, carryNz.length, bTan.length],
    );
    const body = permuteJaxpr(res.jaxpr.jaxpr, [...jc, ...bc, ...dbc, ...car, ...dcar]);
    const condJ = padInvars(
      new Jaxpr([], condJaxpr.invars, condJaxpr.eqns, condJaxpr.outvars),
      [],
      cTan.map((i) => prim.carry[i].aval),
    );
    const tv = (ps: Tensor[], ts: (Tensor | null)[]) => (i: number) => ts[i] ?? zerosLikeT(ps[i]);
    const outs = bind(while_p, [
      ...prim.condConsts,
      ...res.jaxpr.consts,
      ...prim.bodyConsts,
      ...bTan.map(tv(prim.bodyConsts, tan.bodyConsts)),
      ...prim.carry,
      ...cTan.map(tv(prim.carry, tan.carry)),
    ], {
      condJaxpr: condJ,
      bodyJaxpr: body,
      condNumConsts: p.condNumConsts,
      bodyNumConsts: ne + p.bodyNumConsts + bTan.length,
    });
    const [carryOut, carryT] = cut(outs, carryNz.length);
    return [carryOut, scatter(carryNz, carryT)];
  },
  // vmap. Batched consts move their batch axis to 0; a carry is batched (at 0) when its input
  // or the body's output is, or when the predicate is batched (then all are). An unbatched
  // predicate: one loop over the batched bodies,
  //   [cond jvp consts, cc | body consts, bc | carry] → [carry], carry@0 where batched.
  // A batched predicate: loop while any example continues, each example keeping its carry once
  // its own predicate fails, carry' = select(pred, body(carry), carry):
  //   [anyCond consts, cc | select-body consts, cc, bc | carry] → [carry@0].
  batch(args, dims, params, size) {
    const p = params as WhileParams;
    const { condJaxpr, bodyJaxpr, condNumConsts: cc, bodyNumConsts: bc } = p;
    const d = whileOperands(dims, p);
    const cDims = d.condConsts.map(at0), bDims = d.bodyConsts.map(at0);
    const carryB = d.carry.map((x) => x !== null);
    let bj: ReturnType<typeof batchJaxpr>, cj: ReturnType<typeof batchJaxpr>;
    for (;;) {
      bj = batchJaxpr(bodyJaxpr, [...bDims, ...carryB.map((b) => (b ? 0 : null))], size, carryB);
      cj = batchJaxpr(condJaxpr, [...cDims, ...carryB.map((b) => (b ? 0 : null))], size, false);
      let changed = false;
      bj.outBatched.forEach((b, i) => {
        if (b && !carryB[i]) carryB[i] = changed = true;
      });
      if (cj.outBatched[0] && carryB.some((b) => !b)) {
        carryB.fill(true);
        changed = true;
      }
      if (!changed) break;
    }
    const a = whileOperands(args, p);
    const to0 = (xs: Tensor[], ds: (number | null)[], want: (i: number) => boolean) =>
      xs.map((x, i) => (want(i) ? matchAxis(x, ds[i], 0, size) : x));
    const cconsts = to0(a.condConsts, d.condConsts, (i) => d.condConsts[i] !== null);
    const bconsts = to0(a.bodyConsts, d.bodyConsts, (i) => d.bodyConsts[i] !== null);
    const carry = to0(a.carry, d.carry, (i) => carryB[i]);
    if (!cj!.outBatched[0]) {
      const outs = bind(while_p, [
        ...cj!.jaxpr.consts,
        ...cconsts,
        ...bj!.jaxpr.consts,
        ...bconsts,
        ...carry,
      ], {
        condJaxpr: cj!.jaxpr.jaxpr,
        bodyJaxpr: bj!.jaxpr.jaxpr,
        condNumConsts: cj!.jaxpr.consts.length + cc,
        bodyNumConsts: bj!.jaxpr.consts.length + bc,
      });
      return [outs, carryB.map((b) => (b ? 0 : null))];
    }
    const carryAvals = carry.map((c) => c.aval);
    const ccAvals = cconsts.map((c) => c.aval), bcAvals = bconsts.map((c) => c.aval);
    const anyCond = traceClosed(
      (...xs: Tensor[]) => {
        const [p] = evalJaxpr(cj!.jaxpr.jaxpr, [], [...cj!.jaxpr.consts, ...xs]);
        return [reduceMax(p, [0])];
      },
      [...ccAvals, ...carryAvals],
      "while-any",
    );
    const body = traceClosed(
      (...xs: Tensor[]) => {
        const [c, bcs, car] = cut(xs, cc, bc);
        const [p] = evalJaxpr(cj!.jaxpr.jaxpr, [], [...cj!.jaxpr.consts, ...c, ...car]);
        const next = evalJaxpr(bj!.jaxpr.jaxpr, [], [...bj!.jaxpr.consts, ...bcs, ...car]);
        return next.map((nx, i) => ew.select(broadcastInDim(p, nx.shape, [0]), nx, car[i]));
      },
      [...ccAvals, ...bcAvals, ...carryAvals],
      "while-select",
    );
    const outs = bind(while_p, [
      ...anyCond.consts,
      ...cconsts,
      ...body.consts,
      ...cconsts,
      ...bconsts,
      ...carry,
    ], {
      condJaxpr: anyCond.jaxpr,
      bodyJaxpr: body.jaxpr,
      condNumConsts: anyCond.consts.length + cc,
      bodyNumConsts: body.consts.length + cc + bc,
    });
    return [outs, outs.map(() => 0)];
  },
});

// Reverse mode needs the number of steps, which a while loop only knows at run time.
definePartialEval(while_p, () => {
  throw new TypeError(
    "Reverse-mode differentiation does not work for lax.whileLoop or lax.foriLoop with dynamic bounds" +
      "\nhelp: use lax.scan, or lax.foriLoop with static (JS number) bounds; forward mode (jvp) works",
  );
});
