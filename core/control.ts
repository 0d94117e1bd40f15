/**
 * Control flow as higher-order primitives: `scan`, `cond` and `while`. Their bodies are
 * closure-converted jaxprs; each rule transforms the bodies and binds the primitive again.
 *
 * @module
 */
import { fmtAvals, ShapedArray } from "./aval.ts";
import { currentBackend, setBackend } from "./backend.ts";
import { definePartialEval, type JaxprBuilder, partialEvalJaxpr, traceClosed } from "./builder.ts";
import { backwardPass } from "./ad.ts";
import { evalJaxpr, Jaxpr, Var } from "./jaxpr.ts";
import { batchJaxpr, jvpJaxpr, transposeJaxpr } from "./jaxpr_rules.ts";
import { definePrimitive, type Primitive, UndefinedPrimal } from "./primitive.ts";
import * as ew from "./prims/elementwise.ts";
import { reduceMax } from "./prims/reduce.ts";
import {
  broadcastInDim,
  concatenate,
  full,
  reshape,
  slice,
  zerosLikeT,
} from "./prims/structural.ts";
import { Tensor } from "./tensor.ts";
import { bind, evalInterpreter, pushInterpreter } from "./trace.ts";
import { matchAxis } from "./vmap_core.ts";

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
const range = (n: number) => [...Array(n).keys()];
const pick = <T>(xs: readonly T[], mask: readonly boolean[], want = true): T[] =>
  xs.filter((_, i) => mask[i] === want);

// ================================================================ scan

/** Parameters of `scan`. */
export type ScanParams = {
  jaxpr: Jaxpr;
  numConsts: number;
  numCarry: number;
  length: number;
  reverse: boolean;
};

function indexAt(x: Tensor, i: number): Tensor {
  const s = slice(x, [i, ...x.shape.slice(1).map(() => 0)], [i + 1, ...x.shape.slice(1)]);
  return reshape(s, x.shape.slice(1));
}

export const scan_p: Primitive = definePrimitive("scan", {
  higherOrder: true,
  multipleResults: true,
  symbolicZeros: true,
  abstractEval(avals, params) {
    const { jaxpr, numConsts: nc, numCarry: ncar, length } = params as ScanParams;
    const ins = jaxpr.inAvals;
    const want = [
      ...ins.slice(0, nc + ncar),
      ...ins.slice(nc + ncar).map((a) => new ShapedArray([length, ...a.shape], a.dtype)),
    ];
    if (avals.length !== want.length || avals.some((a, i) => !a.equals(want[i]))) {
      throw new TypeError(
        `scan: operands ${fmtAvals(avals)} do not match the body's ${fmtAvals(want)}`,
      );
    }
    const outs = jaxpr.outAvals;
    outs.slice(0, ncar).forEach((a, i) => {
      if (!a.equals(ins[nc + i])) {
        throw new TypeError(
          `scan: the body's carry output ${a} differs from its carry input ${ins[nc + i]}`,
        );
      }
    });
    return [
      ...outs.slice(0, ncar),
      ...outs.slice(ncar).map((a) => new ShapedArray([length, ...a.shape], a.dtype)),
    ];
  },
  evalImpl(args, params) {
    const { jaxpr, numConsts: nc, numCarry: ncar, length, reverse } = params as ScanParams;
    const consts = args.slice(0, nc);
    let carry = args.slice(nc, nc + ncar);
    const xs = args.slice(nc + ncar);
    const ysSteps: Tensor[][] = [];
    for (let k = 0; k < length; k++) {
      const i = reverse ? length - 1 - k : k;
      const outs = evalJaxpr(jaxpr, [], [...consts, ...carry, ...xs.map((x) => indexAt(x, i))]);
      carry = outs.slice(0, ncar);
      ysSteps[i] = outs.slice(ncar);
    }
    const yAvals = jaxpr.outAvals.slice(ncar);
    const ys = yAvals.map((a, j) =>
      length === 0
        ? full([0, ...a.shape], 0, a.dtype)
        : concatenate(ysSteps.map((s) => reshape(s[j], [1, ...a.shape])), 0)
    );
    return [...carry, ...ys];
  },
  jvp(primals, tangents, params) {
    const { jaxpr, numConsts: nc, numCarry: ncar } = params as ScanParams;
    const n = primals.length;
    const nz = tangents.map((t: Tensor | null) => t !== null);
    const carryNz = nz.slice(nc, nc + ncar);
    let res: ReturnType<typeof jvpJaxpr>;
    for (;;) {
      const mask = [...nz.slice(0, nc), ...carryNz, ...nz.slice(nc + ncar)];
      res = jvpJaxpr(jaxpr, mask, [...carryNz, ...jaxpr.outvars.slice(ncar).map(() => false)]);
      const outC = res.outNonzeros.slice(0, ncar);
      if (outC.every((z, i) => !z || carryNz[i])) break;
      outC.forEach((z, i) => z && (carryNz[i] = true));
    }
    const mask = [...nz.slice(0, nc), ...carryNz, ...nz.slice(nc + ncar)];
    const tanIdx: number[] = [];
    mask.forEach((m, i) => m && tanIdx.push(i));
    // jvp jaxpr inputs: [extra consts, primals..., nonzero tangents...]; reorder to scan layout
    const ne = res!.jaxpr.consts.length;
    const tpos = (i: number) => ne + n + tanIdx.indexOf(i);
    const group = (lo: number, hi: number) => [
      ...range(hi - lo).map((k) => ne + lo + k),
      ...range(hi - lo).filter((k) => mask[lo + k]).map((k) => tpos(lo + k)),
    ];
    const inOrder = [
      ...range(ne),
      ...group(0, nc),
      ...group(nc, nc + ncar),
      ...group(nc + ncar, n),
    ];
    const nOut = jaxpr.outvars.length;
    const outNz = res!.outNonzeros;
    const toutIdx: number[] = [];
    outNz.forEach((z, i) => z && toutIdx.push(i));
    const opos = (i: number) => nOut + toutIdx.indexOf(i);
    const outOrder = [
      ...range(ncar),
      ...range(ncar).filter((i) => outNz[i]).map(opos),
      ...range(nOut - ncar).map((k) => ncar + k),
      ...range(nOut - ncar).filter((k) => outNz[ncar + k]).map((k) => opos(ncar + k)),
    ];
    const body = permuteJaxpr(res!.jaxpr.jaxpr, inOrder, outOrder);
    const tv = (i: number) => tangents[i] ?? zerosLikeT(primals[i]);
    const sel = (lo: number, hi: number) => [
      ...primals.slice(lo, hi),
      ...range(hi - lo).filter((k) => mask[lo + k]).map((k) => tv(lo + k)),
    ];
    const consts = [...res!.jaxpr.consts, ...sel(0, nc)];
    const carry = sel(nc, nc + ncar);
    const outs = bind(scan_p, [...consts, ...carry, ...sel(nc + ncar, n)], {
      ...params,
      jaxpr: body,
      numConsts: consts.length,
      numCarry: carry.length,
    });
    const nCarryT = carryNz.filter((z) => z).length;
    const primalOut = [
      ...outs.slice(0, ncar),
      ...outs.slice(ncar + nCarryT, ncar + nCarryT + nOut - ncar),
    ];
    const carryT = outs.slice(ncar, ncar + nCarryT), ysT = outs.slice(ncar + nCarryT + nOut - ncar);
    let ci = 0, yi = 0;
    const tOut = range(nOut).map((i) => (outNz[i] ? (i < ncar ? carryT[ci++] : ysT[yi++]) : null));
    return [primalOut, tOut];
  },
  transpose(cts, args, params) {
    const { jaxpr, numConsts: nc, numCarry: ncar, length, reverse } = params as ScanParams;
    const n = args.length;
    const lin = args.map((a) => a instanceof UndefinedPrimal);
    const constLin = lin.slice(0, nc), xsLin = lin.slice(nc + ncar);
    const avals = jaxpr.inAvals;
    const nlConsts = pick(args.slice(0, nc), constLin, false) as Tensor[];
    const nlXs = pick(args.slice(nc + ncar), xsLin, false) as Tensor[];
    const linConstAvals = pick(avals.slice(0, nc), constLin);
    const carryAvals = avals.slice(nc, nc + ncar);
    const yAvals = jaxpr.outAvals.slice(ncar);
    const xAvals = avals.slice(nc + ncar);
    const bodyT = traceClosed((...a: Tensor[]) => {
      let k = 0;
      const nlc = a.slice(k, k += nlConsts.length);
      const acc = a.slice(k, k += linConstAvals.length);
      const ctCarry = a.slice(k, k += ncar);
      const nlx = a.slice(k, k += nlXs.length);
      const ctY = a.slice(k);
      let ic = 0, ix = 0;
      const bodyArgs = [
        ...range(nc).map((i) => (constLin[i] ? new UndefinedPrimal(avals[i]) : nlc[ic++])),
        ...carryAvals.map((av) => new UndefinedPrimal(av)),
        ...range(xAvals.length).map((i) => (xsLin[i] ? new UndefinedPrimal(xAvals[i]) : nlx[ix++])),
      ];
      const r = backwardPass(jaxpr, [], bodyArgs, [...ctCarry, ...ctY]);
      const z = (i: number) => r[i] ?? zerosLikeT(avals[i]);
      const newAcc = range(nc).filter((i) => constLin[i]).map((i, j) => ew.add(acc[j], z(i)));
      const ctCarryIn = range(ncar).map((i) => z(nc + i));
      const ctXs = range(xAvals.length).filter((i) => xsLin[i]).map((i) => z(nc + ncar + i));
      return [...newAcc, ...ctCarryIn, ...ctXs];
    }, [
      ...nlConsts.map((t) => t.aval),
      ...linConstAvals,
      ...carryAvals,
      ...nlXs.map((t) => new ShapedArray(t.shape.slice(1), t.dtype)),
      ...yAvals,
    ], "scan-transpose");
    const ctCarry = range(ncar).map((i) => cts[i] ?? zerosLikeT(carryAvals[i]));
    const ctYs = yAvals.map((a, i) => cts[ncar + i] ?? full([length, ...a.shape], 0, a.dtype));
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
    let kc = 0, kx = linConstAvals.length + ncar;
    const ctInit = outs.slice(linConstAvals.length, linConstAvals.length + ncar);
    return range(n).map((i) => {
      if (!lin[i]) return null;
      if (i < nc) return outs[kc++];
      if (i < nc + ncar) return ctInit[i - nc];
      return outs[kx++];
    });
  },
  batch(args, dims, params, size) {
    const { jaxpr, numConsts: nc, numCarry: ncar } = params as ScanParams;
    const carryB = dims.slice(nc, nc + ncar).map((d) => d !== null);
    let bj: ReturnType<typeof batchJaxpr>;
    for (;;) {
      const bodyDims = [
        ...dims.slice(0, nc).map((d) => (d === null ? null : 0)),
        ...carryB.map((b) => (b ? 0 : null)),
        ...dims.slice(nc + ncar).map((d) => (d === null ? null : 0)),
      ];
      bj = batchJaxpr(jaxpr, bodyDims, size, [
        ...carryB,
        ...jaxpr.outvars.slice(ncar).map(() => false),
      ]);
      const outC = bj.outBatched.slice(0, ncar);
      if (outC.every((b, i) => !b || carryB[i])) break;
      outC.forEach((b, i) => b && (carryB[i] = true));
    }
    const consts = args.slice(0, nc).map((
      a,
      i,
    ) => (dims[i] === null ? a : matchAxis(a, dims[i], 0, size)));
    const carry = args.slice(nc, nc + ncar).map((
      a,
      i,
    ) => (carryB[i] ? matchAxis(a, dims[nc + i], 0, size) : a));
    const xs = args.slice(nc + ncar).map((
      a,
      i,
    ) => (dims[nc + ncar + i] === null ? a : matchAxis(a, dims[nc + ncar + i], 1, size)));
    const outs = bind(scan_p, [...bj!.jaxpr.consts, ...consts, ...carry, ...xs], {
      ...params,
      jaxpr: bj!.jaxpr.jaxpr,
      numConsts: nc + bj!.jaxpr.consts.length,
    });
    return [outs, bj!.outBatched.map((b, i) => (b ? (i < ncar ? 0 : 1) : null))];
  },
});

definePartialEval(scan_p, (b: JaxprBuilder, args: Tensor[], params) => {
  const { jaxpr, numConsts: nc, numCarry: ncar, length } = params as ScanParams;
  const unk = args.map((a) => b.isOwn(a));
  const carryU = unk.slice(nc, nc + ncar);
  const nOut = jaxpr.outvars.length;
  let pe: ReturnType<typeof partialEvalJaxpr>;
  for (;;) {
    pe = partialEvalJaxpr(jaxpr, [...unk.slice(0, nc), ...carryU, ...unk.slice(nc + ncar)], [
      ...carryU,
      ...range(nOut - ncar).map(() => false),
    ]);
    const outC = pe.outUnknowns.slice(0, ncar);
    if (outC.every((u, i) => !u || carryU[i])) break;
    outC.forEach((u, i) => u && (carryU[i] = true));
  }
  const inU = [...unk.slice(0, nc), ...carryU, ...unk.slice(nc + ncar)];
  const knownArgs = pick(args, inU, false);
  const nkc = pick(range(nc), inU.slice(0, nc), false).length;
  const nkcar = carryU.filter((u) => !u).length;
  const nKnownOut = pe!.outUnknowns.filter((u) => !u).length;
  // the known scan: residuals that vary per iteration become extra ys; invariant ones are dropped
  const kj = pe!.known.jaxpr;
  const tracedRes = range(pe!.numRes).filter((r) => pe!.resIsTraced[r]);
  const knownBody = new Jaxpr([], kj.invars, kj.eqns, [
    ...kj.outvars.slice(0, nKnownOut),
    ...tracedRes.map((r) => kj.outvars[nKnownOut + r]),
  ]);
  const kconsts = pe!.known.consts;
  let knownOuts: Tensor[];
  {
    using _ = pushInterpreter(b.parent);
    knownOuts = bind(scan_p, [...kconsts, ...knownArgs], {
      ...params,
      jaxpr: knownBody,
      numConsts: kconsts.length + nkc,
      numCarry: nkcar,
    });
  }
  const stackedRes = knownOuts.slice(nKnownOut);
  // the unknown scan: consts = [invariant residuals, unknown consts], xs = [traced residuals, unknown xs]
  const uj = pe!.unknown;
  const nRes = pe!.numRes;
  const invRes = range(nRes).filter((r) => !pe!.resIsTraced[r]);
  const unkIdx = range(args.length).filter((i) => inU[i]);
  const nuc = unkIdx.filter((i) => i < nc).length, nucar = carryU.filter((u) => u).length;
  const inOrder = [
    ...invRes,
    ...range(nuc).map((k) => nRes + k),
    ...range(nucar).map((k) => nRes + nuc + k),
    ...tracedRes,
    ...range(unkIdx.length - nuc - nucar).map((k) => nRes + nuc + nucar + k),
  ];
  const unkBody = permuteJaxpr(uj, inOrder);
  const unkArgs = unkIdx.map((i) => args[i]);
  const outs = b.record(scan_p, [
    ...invRes.map((r) => pe!.resConsts[r]!),
    ...unkArgs.slice(0, nuc),
    ...unkArgs.slice(nuc, nuc + nucar),
    ...stackedRes,
    ...unkArgs.slice(nuc + nucar),
  ], {
    ...params,
    jaxpr: unkBody,
    numConsts: invRes.length + nuc,
    numCarry: nucar,
    length,
  });
  let ki = 0, ui = 0;
  return pe!.outUnknowns.map((u) => (u ? outs[ui++] : knownOuts[ki++]));
});

// ================================================================ cond

/** Parameters of `cond`: one closure-converted jaxpr per branch, all of one signature. */
export type CondParams = {
  branches: Jaxpr[];
};

function selectN(index: Tensor, cases: Tensor[]): Tensor {
  // out = cases[index] elementwise, with index broadcast to the case shape
  let out = cases[0];
  for (let i = 1; i < cases.length; i++) {
    const idx = broadcastInDim(index, cases[i].shape, index.shape.map((_, k) => k));
    out = ew.select(ew.eq(idx, full(idx.shape, i, idx.dtype)), cases[i], out);
  }
  return out;
}

export const cond_p: Primitive = definePrimitive("cond", {
  higherOrder: true,
  multipleResults: true,
  symbolicZeros: true,
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
  evalImpl(args, params) {
    const { branches } = params as CondParams;
    const [idx, ...ops] = args;
    const backend = currentBackend();
    if (backend.readSync && idx._backend === backend) {
      const i = Math.max(0, Math.min(branches.length - 1, backend.readSync(idx._buf, idx.aval)[0]));
      return evalJaxpr(branches[i], [], ops);
    }
    // without synchronous reads: evaluate every branch and select (pure, so equivalent)
    const all = branches.map((br) => evalJaxpr(br, [], ops));
    return all[0].map((_, k) => selectN(idx, all.map((r) => r[k])));
  },
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
    const tans = ops.flatMap((_o, i) => (nz[i] ? [tangents[i + 1] as Tensor] : []));
    const outs = bind(cond_p, [idx, ...u.consts, ...ops, ...tans], { branches: u.jaxprs });
    const nOut = branches[0].outvars.length;
    let k = nOut;
    return [outs.slice(0, nOut), inst.map((z) => (z ? outs[k++] : null))];
  },
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
    let k = 0;
    return [null, ...lin.map((l) => (l ? outs[k++] : null))];
  },
  batch(args, dims, params, size) {
    const { branches } = params as CondParams;
    const [idx, ...ops] = args;
    const opDims = dims.slice(1);
    if (dims[0] !== null) {
      // a batched predicate: run every branch on the whole batch and select per example
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

/** Gives every branch the same leading constant inputs (the union of all branches' constants). */
export function unifyConsts(
  bs: { jaxpr: Jaxpr; consts: Tensor[] }[],
): { jaxprs: Jaxpr[]; consts: Tensor[] } {
  const all = bs.flatMap((b) => b.consts);
  let off = 0;
  const jaxprs = bs.map((b) => {
    const before = all.slice(0, off).map((c) => c.aval);
    const after = all.slice(off + b.consts.length).map((c) => c.aval);
    off += b.consts.length;
    const nc = b.consts.length;
    const j = b.jaxpr;
    const cv = j.invars.slice(0, nc), rest = j.invars.slice(nc);
    return new Jaxpr(
      [],
      [
        ...before.map((a) => new Var(a)),
        ...cv,
        ...after.map((a) => new Var(a)),
        ...rest,
      ],
      j.eqns,
      j.outvars,
    );
  });
  return { jaxprs, consts: all };
}

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
  // each known branch returns its known outputs plus every branch's residual slots (zeros for others)
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
        const known = outs.slice(0, nKnownOut), res = outs.slice(nKnownOut);
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
    const uj = pe.unknown;
    return new Jaxpr(
      [],
      [
        ...before.map((a) => new Var(a)),
        ...uj.invars.slice(0, pe.numRes),
        ...after.map((a) => new Var(a)),
        ...uj.invars.slice(pe.numRes),
      ],
      uj.eqns,
      uj.outvars,
    );
  });
  const outs = b.record(cond_p, [idx, ...res, ...pick(ops, unk)], { branches: unkBranches });
  let ki = 0, ui = 0;
  return inst.map((u) => (u ? outs[ui++] : knownOuts[ki++]));
});

// ================================================================ while

/** Parameters of `while`. */
export type WhileParams = {
  condJaxpr: Jaxpr;
  bodyJaxpr: Jaxpr;
  condNumConsts: number;
  bodyNumConsts: number;
};

export const while_p: Primitive = definePrimitive("while", {
  higherOrder: true,
  multipleResults: true,
  symbolicZeros: true,
  abstractEval(avals, params) {
    const { condJaxpr, bodyJaxpr, condNumConsts: cc, bodyNumConsts: bc } = params as WhileParams;
    const carry = avals.slice(cc + bc);
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
  evalImpl(args, params) {
    const { condJaxpr, bodyJaxpr, condNumConsts: cc, bodyNumConsts: bc } = params as WhileParams;
    let cconsts = args.slice(0, cc), bconsts = args.slice(cc, cc + bc);
    let carry = args.slice(cc + bc);
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
  jvp(primals, tangents, params) {
    const { condJaxpr, bodyJaxpr, condNumConsts: cc, bodyNumConsts: bc } = params as WhileParams;
    const ncar = primals.length - cc - bc;
    const bnz = tangents.slice(cc, cc + bc).map((t: Tensor | null) => t !== null);
    const carryNz = tangents.slice(cc + bc).map((t: Tensor | null) => t !== null);
    let res: ReturnType<typeof jvpJaxpr>;
    for (;;) {
      res = jvpJaxpr(bodyJaxpr, [...bnz, ...carryNz], carryNz);
      if (res.outNonzeros.every((z, i) => !z || carryNz[i])) break;
      res.outNonzeros.forEach((z, i) => z && (carryNz[i] = true));
    }
    const ne = res!.jaxpr.consts.length;
    const nb = bc + ncar;
    const bTan = range(bc).filter((i) => bnz[i]);
    const cTan = range(ncar).filter((i) => carryNz[i]);
    // body jvp inputs: [extra, bconsts, carry, bconst tangents, carry tangents] → [extra, bconsts, bconst tangents, carry, carry tangents]
    const inOrder = [
      ...range(ne),
      ...range(bc).map((i) => ne + i),
      ...bTan.map((_, k) => ne + nb + k),
      ...range(ncar).map((i) => ne + bc + i),
      ...cTan.map((_, k) => ne + nb + bTan.length + k),
    ];
    const body = permuteJaxpr(res!.jaxpr.jaxpr, inOrder);
    const condJ = padInvars(
      new Jaxpr([], condJaxpr.invars, condJaxpr.eqns, condJaxpr.outvars),
      [],
      cTan.map((i) => primals[cc + bc + i].aval),
    );
    const tv = (i: number) => (tangents[i] as Tensor | null) ?? zerosLikeT(primals[i]);
    const outs = bind(while_p, [
      ...primals.slice(0, cc),
      ...res!.jaxpr.consts,
      ...primals.slice(cc, cc + bc),
      ...bTan.map((i) => tv(cc + i)),
      ...primals.slice(cc + bc),
      ...cTan.map((i) => tv(cc + bc + i)),
    ], {
      condJaxpr: condJ,
      bodyJaxpr: body,
      condNumConsts: cc,
      bodyNumConsts: ne + bc + bTan.length,
    });
    let k = ncar;
    return [outs.slice(0, ncar), carryNz.map((z) => (z ? outs[k++] : null))];
  },
  batch(args, dims, params, size) {
    const { condJaxpr, bodyJaxpr, condNumConsts: cc, bodyNumConsts: bc } = params as WhileParams;
    const cDims = dims.slice(0, cc).map((d) => (d === null ? null : 0));
    const bDims = dims.slice(cc, cc + bc).map((d) => (d === null ? null : 0));
    const carryB = dims.slice(cc + bc).map((d) => d !== null);
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
    const norm = (
      a: Tensor,
      d: number | null,
      want: boolean,
    ) => (want ? matchAxis(a, d, 0, size) : a);
    const cconsts = args.slice(0, cc).map((a, i) => norm(a, dims[i], dims[i] !== null));
    const bconsts = args.slice(cc, cc + bc).map((a, i) =>
      norm(a, dims[cc + i], dims[cc + i] !== null)
    );
    const carry = args.slice(cc + bc).map((a, i) => norm(a, dims[cc + bc + i], carryB[i]));
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
    // a batched predicate: loop while any example continues; finished examples keep their carry
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
        const c = xs.slice(0, cc), bcs = xs.slice(cc, cc + bc), car = xs.slice(cc + bc);
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

definePartialEval(while_p, () => {
  throw new TypeError(
    "Reverse-mode differentiation does not work for lax.whileLoop or lax.foriLoop with dynamic bounds" +
      "\nhelp: use lax.scan, or lax.foriLoop with static (JS number) bounds; forward mode (jvp) works",
  );
});
