/**
 * Control flow as higher-order primitives: `scan` and `cond` here, `while` in `control_while.ts`. Their bodies are
 * closure-converted jaxprs; each rule transforms the bodies and binds the primitive again.
 * The operand layouts (`[consts | carry | xs]` and so on) are named in `control_layout.ts`;
 * each rule's comment states its layout in those terms and the math it implements.
 *
 * @module
 */
import { fmtAvals, ShapedArray } from "./aval.ts";
import { currentBackend } from "./backend.ts";
import { definePartialEval, type JaxprBuilder, partialEvalJaxpr, traceClosed } from "./builder.ts";
import { backwardPass } from "./ad.ts";
import {
  at0,
  cut,
  flatScan,
  padBetween,
  permuteJaxpr,
  pick,
  range,
  scanOperands,
  scanResults,
  scatter,
  unifyConsts,
} from "./control_layout.ts";
import { evalJaxpr, Jaxpr } from "./jaxpr.ts";
import { batchJaxpr, jvpJaxpr, transposeJaxpr } from "./jaxpr_rules.ts";
import { definePrimitive, type Primitive, UndefinedPrimal } from "./primitive.ts";
import * as ew from "./prims/elementwise.ts";
import {
  broadcastInDim,
  concatenate,
  full,
  reshape,
  slice,
  zerosLikeT,
} from "./prims/structural.ts";
import type { Tensor } from "./tensor.ts";
import { bind, pushInterpreter } from "./trace.ts";
import { matchAxis } from "./vmap_core.ts";

export { padInvars, permuteJaxpr, unifyConsts } from "./control_layout.ts";
export { while_p, type WhileParams } from "./control_while.ts";

const notNull = <T>(x: T | null): x is T => x !== null;

// ================================================================ scan

/**
 * Parameters of `scan`. Operands `[consts | carry | xs]` → results `[carry | ys]`; the body
 * maps `[consts | carry | x_i]` → `[carry | y_i]` (see `control_layout.ts`).
 */
export type ScanParams = {
  /** The closure-converted body. */
  jaxpr: Jaxpr;
  /** Loop-invariant operands. */
  numConsts: number;
  /** Operands threaded from one step to the next. */
  numCarry: number;
  /** The number of steps (the leading axis of every `xs` and `ys`). */
  length: number;
  /** Whether the steps run from the last row to the first. */
  reverse: boolean;
};

/** Row `i` of `x` (its leading axis dropped). */
function indexAt(x: Tensor, i: number): Tensor {
  const s = slice(x, [i, ...x.shape.slice(1).map(() => 0)], [i + 1, ...x.shape.slice(1)]);
  return reshape(s, x.shape.slice(1));
}

/** `a` with a leading axis of `length` (the aval of a stacked `xs` or `ys`). */
const stacked = (a: ShapedArray, length: number) => new ShapedArray([length, ...a.shape], a.dtype);

export const scan_p: Primitive<ScanParams> = definePrimitive<ScanParams>("scan", {
  params: {
    jaxpr: "required",
    numConsts: "required",
    numCarry: "required",
    length: "required",
    reverse: "required",
  },
  higherOrder: true,
  multipleResults: true,
  symbolicZeros: true,
  // [consts | carry | xs] → [carry | ys]: operands must be the body's inputs with the xs
  // stacked over `length`; the body's carry output must have its carry input's type.
  abstractEval(avals, params) {
    const p = params as ScanParams;
    const body = scanOperands(p.jaxpr.inAvals, p);
    const want = flatScan({ ...body, xs: body.xs.map((a) => stacked(a, p.length)) });
    if (avals.length !== want.length || avals.some((a, i) => !a.equals(want[i]))) {
      throw new TypeError(
        `scan: operands ${fmtAvals(avals)} do not match the body's ${fmtAvals(want)}`,
      );
    }
    const outs = scanResults(p.jaxpr.outAvals, p.numCarry);
    outs.carry.forEach((a, i) => {
      if (!a.equals(body.carry[i])) {
        throw new TypeError(
          `scan: the body's carry output ${a} differs from its carry input ${body.carry[i]}`,
        );
      }
    });
    return [...outs.carry, ...outs.ys.map((a) => stacked(a, p.length))];
  },
  // for i = 0 … length-1 (length-1 … 0 when reversed): (carry, ys[i]) = body(consts, carry, xs[i])
  evalImpl(args, params) {
    const p = params as ScanParams;
    const { jaxpr, length, reverse } = p;
    const { consts, carry: init, xs } = scanOperands(args, p);
    let carry = init;
    const ysSteps: Tensor[][] = [];
    for (let k = 0; k < length; k++) {
      const i = reverse ? length - 1 - k : k;
      const ins = flatScan({ consts, carry, xs: xs.map((x) => indexAt(x, i)) });
      const outs = scanResults(evalJaxpr(jaxpr, [], ins), p.numCarry);
      carry = outs.carry;
      ysSteps[i] = outs.ys;
    }
    const yAvals = scanResults(jaxpr.outAvals, p.numCarry).ys;
    const ys = yAvals.map((a, j) =>
      length === 0
        ? full([0, ...a.shape], 0, a.dtype)
        : concatenate(ysSteps.map((s) => reshape(s[j], [1, ...a.shape])), 0)
    );
    return [...carry, ...ys];
  },
  // Forward mode. A step (carry', y_i) = f(c, carry, x_i) has the tangent
  //   d(carry', y_i) = ∂f/∂c·dc + ∂f/∂carry·dcarry + ∂f/∂x·dx_i,
  // so the tangent is one more scan over f's JVP with each nonzero tangent beside its primal:
  //   operands [jvp consts, c, dc | carry, dcarry | xs, dxs] → results [carry, dcarry | ys, dys].
  // Zero tangents do not travel. A carry tangent is nonzero when its initial tangent or the
  // body's carry-out tangent is: a fixed point, found by re-deriving the body's JVP.
  jvp(primals, tangents, params) {
    const p = params as ScanParams;
    const { jaxpr, numCarry: ncar } = p;
    const nOut = jaxpr.outvars.length;
    const nz = scanOperands(tangents.map((t: Tensor | null) => t !== null), p);
    const carryNz = nz.carry;
    const outNzFixed = () => [...carryNz, ...range(nOut - ncar).map(() => false)];
    let res = jvpJaxpr(jaxpr, flatScan(nz), outNzFixed());
    for (;;) {
      const outC = scanResults(res.outNonzeros, ncar).carry;
      if (outC.every((z, i) => !z || carryNz[i])) break;
      outC.forEach((z, i) => z && (carryNz[i] = true));
      res = jvpJaxpr(jaxpr, flatScan(nz), outNzFixed());
    }
    const ne = res.jaxpr.consts.length;
    const count = (m: readonly boolean[]) => m.filter((z) => z).length;
    // the JVP body takes [jvp consts | c | carry | xs | dc≠0 | dcarry≠0 | dxs≠0] …
    const [jc, c, h, x, dc, dh, dx] = cut(
      range(res.jaxpr.jaxpr.invars.length),
      ...[ne, p.numConsts, ncar, nz.xs.length, count(nz.consts), count(carryNz)],
    );
    // … and returns [carry | ys | dcarry≠0 | dys≠0]
    const outNz = scanResults(res.outNonzeros, ncar);
    const [oh, oy, odh, ody] = cut(
      range(res.jaxpr.jaxpr.outvars.length),
      ncar,
      nOut - ncar,
      count(outNz.carry),
    );
    const body = permuteJaxpr(
      res.jaxpr.jaxpr,
      [...jc, ...c, ...dc, ...h, ...dh, ...x, ...dx],
      [...oh, ...odh, ...oy, ...ody],
    );
    const prim = scanOperands(primals, p);
    const tan = scanOperands(tangents as (Tensor | null)[], p);
    const withTangents = (ps: Tensor[], ts: (Tensor | null)[], mask: boolean[]) => [
      ...ps,
      ...ps.map((pr, i) => (mask[i] ? ts[i] ?? zerosLikeT(pr) : null)).filter(notNull),
    ];
    const consts = [...res.jaxpr.consts, ...withTangents(prim.consts, tan.consts, nz.consts)];
    const carry = withTangents(prim.carry, tan.carry, carryNz);
    const outs = bind(scan_p, [...consts, ...carry, ...withTangents(prim.xs, tan.xs, nz.xs)], {
      ...params,
      jaxpr: body,
      numConsts: consts.length,
      numCarry: carry.length,
    });
    const [hOut, dhOut, yOut, dyOut] = cut(outs, ncar, count(carryNz), nOut - ncar);
    return [[...hOut, ...yOut], [...scatter(outNz.carry, dhOut), ...scatter(outNz.ys, dyOut)]];
  },
  // Reverse mode. The body is linear in the carry and in the undefined (linear) consts c_l and
  // xs x_l; the defined ones, c_n and x_n, are known. A step
  //   (carry', y_i) = f(c_n, c_l, carry, x_n,i, x_l,i)
  // transposes to (ct c_l, ct carry, ct x_l,i) = fᵀ(c_n, x_n,i)(ct carry', ct y_i), so the
  // transpose is a scan in the other direction that sums ct c_l over the steps in its carry:
  //   operands [fᵀ consts, c_n | acc c_l = 0, ct carry_final | x_n, ct ys]
  //   results  [ct c_l | ct carry_init | ct x_l]
  // Each linear operand gets its cotangent back in scan's operand order; the others get null.
  transpose(cts, args, params) {
    const p = params as ScanParams;
    const { jaxpr, numCarry: ncar, length, reverse } = p;
    const lin = scanOperands(args.map((a) => a instanceof UndefinedPrimal), p);
    const op = scanOperands(args, p);
    const av = scanOperands(jaxpr.inAvals, p);
    const at = scanOperands(range(args.length), p);
    const nlConsts = pick(op.consts, lin.consts, false) as Tensor[];
    const nlXs = pick(op.xs, lin.xs, false) as Tensor[];
    const linConstAvals = pick(av.consts, lin.consts);
    const yAvals = scanResults(jaxpr.outAvals, ncar).ys;
    // defined operands where known, UndefinedPrimal markers at the linear ones
    const withHoles = (avals: ShapedArray[], linear: boolean[], known: Tensor[]) => {
      let k = 0;
      return avals.map((a, i) => (linear[i] ? new UndefinedPrimal(a) : known[k++]));
    };
    const bodyT = traceClosed((...a: Tensor[]) => {
      const [nlc, acc, ctCarry, nlx, ctY] = cut(
        a,
        ...[nlConsts.length, linConstAvals.length, ncar, nlXs.length],
      );
      const bodyArgs = flatScan<Tensor | UndefinedPrimal>({
        consts: withHoles(av.consts, lin.consts, nlc),
        carry: av.carry.map((a) => new UndefinedPrimal(a)),
        xs: withHoles(av.xs, lin.xs, nlx),
      });
      const r = backwardPass(jaxpr, [], bodyArgs, [...ctCarry, ...ctY]);
      const ct = (i: number) => r[i] ?? zerosLikeT(jaxpr.inAvals[i]);
      const newAcc = pick(at.consts, lin.consts).map((i, j) => ew.add(acc[j], ct(i)));
      return [...newAcc, ...at.carry.map(ct), ...pick(at.xs, lin.xs).map(ct)];
    }, [
      ...nlConsts.map((t) => t.aval),
      ...linConstAvals,
      ...av.carry,
      ...nlXs.map((t) => new ShapedArray(t.shape.slice(1), t.dtype)),
      ...yAvals,
    ], "scan-transpose");
    const ct = scanResults(cts, ncar);
    const ctCarry = av.carry.map((a, i) => ct.carry[i] ?? zerosLikeT(a));
    const ctYs = yAvals.map((a, i) => ct.ys[i] ?? full([length, ...a.shape], 0, a.dtype));
    const outs = bind(scan_p, [
      ...bodyT.consts,
      ...nlConsts,
      ...linConstAvals.map((a) => zerosLikeT(a)),
      ...ctCarry,
      ...nlXs,
      ...ctYs,
    ], {
      jaxpr: bodyT.jaxpr,
      numConsts: bodyT.consts.length + nlConsts.length,
      numCarry: linConstAvals.length + ncar,
      length,
      reverse: !reverse,
    });
    const [ctLinConsts, ctInit, ctLinXs] = cut(outs, linConstAvals.length, ncar);
    return flatScan({
      consts: scatter(lin.consts, ctLinConsts),
      carry: lin.carry.map((l, i) => (l ? ctInit[i] : null)),
      xs: scatter(lin.xs, ctLinXs),
    });
  },
  // vmap. Batched consts and carries move their batch axis to 0; batched xs to 1 (axis 0 is
  // the scan axis), so each step sees [c@0 | carry@0 | x_i@0] and the body is batched with
  // those dims. A carry is batched when its initial value or the body's carry-out is (a fixed
  // point). Results: [carry@0 | ys@1], null where unbatched.
  batch(args, dims, params, size) {
    const p = params as ScanParams;
    const { jaxpr, numCarry: ncar } = p;
    const d = scanOperands(dims, p);
    const carryB = d.carry.map((x) => x !== null);
    const yFalse = range(jaxpr.outvars.length - ncar).map(() => false);
    const batchBody = () =>
      batchJaxpr(
        jaxpr,
        flatScan({
          consts: d.consts.map(at0),
          carry: carryB.map((b) => (b ? 0 : null)),
          xs: d.xs.map(at0),
        }),
        size,
        [...carryB, ...yFalse],
      );
    let bj = batchBody();
    for (;;) {
      const outC = scanResults(bj.outBatched, ncar).carry;
      if (outC.every((b, i) => !b || carryB[i])) break;
      outC.forEach((b, i) => b && (carryB[i] = true));
      bj = batchBody();
    }
    const a = scanOperands(args, p);
    const consts = a.consts.map((
      x,
      i,
    ) => (d.consts[i] === null ? x : matchAxis(x, d.consts[i], 0, size)));
    const carry = a.carry.map((x, i) => (carryB[i] ? matchAxis(x, d.carry[i], 0, size) : x));
    const xs = a.xs.map((x, i) => (d.xs[i] === null ? x : matchAxis(x, d.xs[i], 1, size)));
    const outs = bind(scan_p, [...bj.jaxpr.consts, ...consts, ...carry, ...xs], {
      ...params,
      jaxpr: bj.jaxpr.jaxpr,
      numConsts: p.numConsts + bj.jaxpr.consts.length,
    });
    return [outs, bj.outBatched.map((b, i) => (b ? (i < ncar ? 0 : 1) : null))];
  },
});

// Partial evaluation (linearize) with some operands unknown. A carry is unknown when its input
// or the body's carry-out is (a fixed point). The body splits into
//   known:   [known c | known carry | known x_i] → [known carry | known y_i | residuals]
//   unknown: [residuals | unknown c | unknown carry | unknown x_i] → [unknown carry | unknown y_i]
// Residuals that vary per step leave the known scan as extra (stacked) ys and enter the unknown
// one as xs; loop-invariant residuals are known once and enter it as consts:
//   known scan   [pe consts, known c | known carry | known xs]
//                  → [known carry | known ys | stacked residuals]
//   unknown scan [invariant residuals, unknown c | unknown carry | stacked residuals, unknown xs]
//                  → [unknown carry | unknown ys]
definePartialEval(scan_p, (b: JaxprBuilder, args: Tensor[], params) => {
  const p = params as ScanParams;
  const { jaxpr, numCarry: ncar, length } = p;
  const nOut = jaxpr.outvars.length;
  const unk = scanOperands(args.map((a) => b.isOwn(a)), p);
  const carryU = unk.carry;
  const yFalse = range(nOut - ncar).map(() => false);
  let pe = partialEvalJaxpr(jaxpr, flatScan(unk), [...carryU, ...yFalse]);
  for (;;) {
    const outC = pe.outUnknowns.slice(0, ncar);
    if (outC.every((u, i) => !u || carryU[i])) break;
    outC.forEach((u, i) => u && (carryU[i] = true));
    pe = partialEvalJaxpr(jaxpr, flatScan(unk), [...carryU, ...yFalse]);
  }
  const op = scanOperands(args, p);
  const split = (want: boolean) => ({
    consts: pick(op.consts, unk.consts, want),
    carry: pick(op.carry, carryU, want),
    xs: pick(op.xs, unk.xs, want),
  });
  const known = split(false), unknown = split(true);
  const nKnownOut = pe.outUnknowns.filter((u) => !u).length;
  // the known scan: residuals that vary per step become extra ys; invariant ones are dropped
  const kj = pe.known.jaxpr;
  const tracedRes = range(pe.numRes).filter((r) => pe.resIsTraced[r]);
  const invRes = range(pe.numRes).filter((r) => !pe.resIsTraced[r]);
  const knownBody = new Jaxpr([], kj.invars, kj.eqns, [
    ...kj.outvars.slice(0, nKnownOut),
    ...tracedRes.map((r) => kj.outvars[nKnownOut + r]),
  ]);
  const kconsts = pe.known.consts;
  let knownOuts: Tensor[];
  {
    using _ = pushInterpreter(b.parent);
    knownOuts = bind(scan_p, [...kconsts, ...flatScan(known)], {
      ...params,
      jaxpr: knownBody,
      numConsts: kconsts.length + known.consts.length,
      numCarry: known.carry.length,
    });
  }
  const stackedRes = knownOuts.slice(nKnownOut);
  // the unknown body takes [residuals | unknown c | unknown carry | unknown x_i]; reorder it to
  // [invariant residuals, unknown c | unknown carry | traced residuals, unknown x_i]
  const [, uc, ucar, ux] = cut(
    range(pe.unknown.invars.length),
    ...[pe.numRes, unknown.consts.length, unknown.carry.length],
  );
  const unkBody = permuteJaxpr(pe.unknown, [...invRes, ...uc, ...ucar, ...tracedRes, ...ux]);
  const outs = b.record(scan_p, [
    ...invRes.map((r) => pe.resConsts[r]!),
    ...unknown.consts,
    ...unknown.carry,
    ...stackedRes,
    ...unknown.xs,
  ], {
    ...params,
    jaxpr: unkBody,
    numConsts: invRes.length + unknown.consts.length,
    numCarry: unknown.carry.length,
    length,
  });
  let ki = 0, ui = 0;
  return pe.outUnknowns.map((u) => (u ? outs[ui++] : knownOuts[ki++]));
});

// ================================================================ cond

/**
 * Parameters of `cond`: one closure-converted jaxpr per branch, all of one signature.
 * Operands `[index | ops]` → results `[outs]`; every branch maps `[ops]` → `[outs]`.
 */
export type CondParams = {
  /** The branches, selected by the index (clamped to their range). */
  branches: Jaxpr[];
};

/** `cases[index]` elementwise, with `index` broadcast to the case shape. */
function selectN(index: Tensor, cases: Tensor[]): Tensor {
  let out = cases[0];
  for (let i = 1; i < cases.length; i++) {
    const idx = broadcastInDim(index, cases[i].shape, index.shape.map((_, k) => k));
    out = ew.select(ew.eq(idx, full(idx.shape, i, idx.dtype)), cases[i], out);
  }
  return out;
}

export const cond_p: Primitive<CondParams> = definePrimitive<CondParams>("cond", {
  params: { branches: "required" },
  higherOrder: true,
  multipleResults: true,
  symbolicZeros: true,
  // [index: i32[] | ops] → [outs]: every branch takes the ops' types and all return one type
  abstractEval(avals, params) {
    const { branches } = params as CondParams;
    const [idx, ...ops] = avals;
    if (idx.ndim !== 0 || idx.dtype !== "i32") {
      throw new TypeError(`cond: the index must be i32[], got ${idx}`);
    }
    for (const br of branches) {
      if (br.invars.length !== ops.length || br.inAvals.some((a, i) => !a.equals(ops[i]))) {
        throw new TypeError(
          `cond: operands ${fmtAvals(ops)} do not match a branch's inputs ${fmtAvals(br.inAvals)}`,
        );
      }
    }
    const outs = branches[0].outAvals;
    for (const br of branches.slice(1)) {
      if (br.outAvals.length !== outs.length || br.outAvals.some((a, i) => !a.equals(outs[i]))) {
        throw new TypeError(
          `cond: branches return different types: ${fmtAvals(outs)} vs ${fmtAvals(br.outAvals)}` +
            `\nhelp: both branches must return the same pytree of shapes and dtypes`,
        );
      }
    }
    return outs;
  },
  // outs = branches[clamp(index)](ops); a backend without synchronous reads evaluates every
  // branch and selects elementwise (the branches are pure, so the results agree)
  evalImpl(args, params) {
    const { branches } = params as CondParams;
    const [idx, ...ops] = args;
    const backend = currentBackend();
    if (backend.readSync && idx._backend === backend) {
      const i = Math.max(0, Math.min(branches.length - 1, backend.readSync(idx._buf, idx.aval)[0]));
      return evalJaxpr(branches[i], [], ops);
    }
    const all = branches.map((br) => evalJaxpr(br, [], ops));
    return all[0].map((_, k) => selectN(idx, all.map((r) => r[k])));
  },
  // Forward mode: d outs = ∂branch_k/∂ops · d ops for the selected k (the index has no
  // tangent). One cond over the branches' JVPs, their consts unified:
  //   [index | jvp consts, ops, d ops≠0] → [outs | d outs≠0]
  // An output tangent is nonzero when it is in any branch (all branches must agree).
  jvp(primals, tangents, params) {
    const { branches } = params as CondParams;
    const [idx, ...ops] = primals;
    const nz = tangents.slice(1).map((t: Tensor | null) => t !== null);
    let inst = branches[0].outvars.map(() => false);
    for (const br of branches) {
      const r = jvpJaxpr(br, nz, inst);
      inst = inst.map((v, i) => v || r.outNonzeros[i]);
    }
    const rs = branches.map((br) => jvpJaxpr(br, nz, inst));
    const u = unifyConsts(rs.map((r) => r.jaxpr));
    const tans = pick(tangents.slice(1) as Tensor[], nz);
    const outs = bind(cond_p, [idx, ...u.consts, ...ops, ...tans], { branches: u.jaxprs });
    const [primalOut, tanOut] = cut(outs, branches[0].outvars.length);
    return [primalOut, scatter(inst, tanOut)];
  },
  // Reverse mode: each branch is linear in the undefined ops; the transpose is a cond over the
  // transposed branches, ct ops_l = branch_kᵀ(ops_n)(ct outs):
  //   [index | transposed consts, ops_n, ct outs] → [ct ops_l]   (the index gets null)
  transpose(cts, args, params) {
    const { branches } = params as CondParams;
    const [idx, ...ops] = args;
    const lin = ops.map((o) => o instanceof UndefinedPrimal);
    const ts = branches.map((br) => transposeJaxpr(br, lin));
    const u = unifyConsts(ts);
    const ctsIn = cts.map((c, i) => c ?? zerosLikeT(branches[0].outvars[i].aval));
    const outs = bind(cond_p, [
      idx as Tensor,
      ...u.consts,
      ...pick(ops, lin, false) as Tensor[],
      ...ctsIn,
    ], {
      branches: u.jaxprs,
    });
    return [null, ...scatter(lin, outs)];
  },
  // vmap. An unbatched index: one cond over the batched branches, [index | consts, ops@dims]
  // → outs@0 where any branch batches them (all branches forced to agree). A batched index:
  // every branch runs over the whole batch and each example selects its own (outs@0).
  batch(args, dims, params, size) {
    const { branches } = params as CondParams;
    const [idx, ...ops] = args;
    const opDims = dims.slice(1);
    if (dims[0] !== null) {
      const bjs = branches.map((br) => batchJaxpr(br, opDims, size, true));
      const outs = bjs.map((bj) => evalJaxpr(bj.jaxpr.jaxpr, [], [...bj.jaxpr.consts, ...ops]));
      const ib = matchAxis(idx, dims[0], 0, size);
      return [outs[0].map((_, k) => selectN(ib, outs.map((o) => o[k]))), outs[0].map(() => 0)];
    }
    let force = branches[0].outvars.map(() => false);
    for (const br of branches) {
      const r = batchJaxpr(br, opDims, size, force);
      force = force.map((f, i) => f || r.outBatched[i]);
    }
    const bjs = branches.map((br) => batchJaxpr(br, opDims, size, force));
    const u = unifyConsts(bjs.map((b) => b.jaxpr));
    const outs = bind(cond_p, [idx, ...u.consts, ...ops], { branches: u.jaxprs });
    return [outs, force.map((f) => (f ? 0 : null))];
  },
});

// Partial evaluation. An unknown index defers the whole cond. A known index splits each branch
// into known [known ops] → [known outs | residuals] and unknown [residuals | unknown ops] →
// [unknown outs]; an output is unknown when it is in any branch. Branches have different
// residuals, so each known branch returns every branch's residual slots (zeros in the others'):
//   known cond   [index | consts, known ops] → [known outs | residuals of branch 0 | … | of n-1]
//   unknown cond [index | all residual slots, unknown ops] → [unknown outs]
definePartialEval(cond_p, (b: JaxprBuilder, args: Tensor[], params) => {
  const { branches } = params as CondParams;
  const [idx, ...ops] = args;
  if (b.isOwn(idx)) return b.record(cond_p, args, params);
  const unk = ops.map((o) => b.isOwn(o));
  const nOut = branches[0].outvars.length;
  let inst = range(nOut).map(() => false);
  for (let it = 0; it < 2; it++) {
    for (const br of branches) {
      const pe = partialEvalJaxpr(br, unk, inst);
      inst = inst.map((v, i) => v || pe.outUnknowns[i]);
    }
  }
  const pes = branches.map((br) => partialEvalJaxpr(br, unk, inst));
  const resAvals = pes.map((pe) => {
    const kj = pe.known.jaxpr;
    return kj.outvars.slice(kj.outvars.length - pe.numRes).map((v) => v.aval);
  });
  const nKnownOut = inst.filter((u) => !u).length;
  const knownOps = pick(ops, unk, false);
  const knownBranches = pes.map((pe, bi) =>
    traceClosed(
      (...xs: Tensor[]) => {
        const outs = evalJaxpr(pe.known.jaxpr, [], [...pe.known.consts, ...xs]);
        const [known, res] = cut(outs, nKnownOut);
        const slots = resAvals.flatMap((avs, bj) => (bj === bi ? res : avs.map((a) =>
          zerosLikeT(a)
        )));
        return [...known, ...slots];
      },
      knownOps.map((o) => o.aval),
      "cond-known",
    )
  );
  const uk = unifyConsts(knownBranches);
  let knownOuts: Tensor[];
  {
    using _ = pushInterpreter(b.parent);
    knownOuts = bind(cond_p, [idx, ...uk.consts, ...knownOps], { branches: uk.jaxprs });
  }
  const res = knownOuts.slice(nKnownOut);
  const allRes = resAvals.flat();
  let off = 0;
  const unkBranches = pes.map((pe, bi) => {
    const before = allRes.slice(0, off), mine = resAvals[bi];
    const after = allRes.slice(off + mine.length);
    off += mine.length;
    return padBetween(pe.unknown, pe.numRes, before, after);
  });
  const outs = b.record(cond_p, [idx, ...res, ...pick(ops, unk)], { branches: unkBranches });
  let ki = 0, ui = 0;
  return inst.map((u) => (u ? outs[ui++] : knownOuts[ki++]));
});
