/**
 * JavaScript code generation for the native jit's fused loops: one function per step
 * (`new Function` over typed arrays), a loop nest over the step's index space in which every
 * buffer read is an affine offset (broadcasts, reshapes and transposes become strides, computed
 * once at compile time; adjacent dimensions that every access walks contiguously are merged,
 * so a plain elementwise chain is one flat loop). Reductions keep their reduced dimensions
 * innermost and accumulate in float64, in the reference's order; where kept dims lie outside
 * reduced ones (a batch norm's per-channel sums over N, H and W) several outputs accumulate
 * side by side, each still in that order: as a Wasm kernel where the chain allows
 * (`wasm_reduce.ts`), else by unrolling the innermost kept dim of the JavaScript loop.
 *
 * A chain whose values are all f32 and whose loop nest merges to one or two dims, every access
 * walking the innermost one contiguously or not at all (bias rows, per-row scalars), becomes a
 * Wasm SIMD128 kernel instead (`wasm_kernels.ts`): four lanes per instruction, f32 arithmetic
 * (so exactly rounded), and `exp`/`log`/`tanh`/`logistic` from `wasm_math.ts`; the JavaScript
 * loops call the same functions on one lane under exact rounding, so both give the bits of
 * eager native evaluation. A transcendental inside a long reduction (a softmax's or
 * logsumexp's `exp`) gets a buffer, so that its own loop computes it four lanes at a time.
 *
 * Intermediates stay in float64 unless a reader needs their exact f32 value, or
 * {@link nativeJitConfig} asks for `"exact"` rounding: then every f32 result is rounded
 * (`Math.fround`) where eager evaluation would store it, and a fused chain is bit-identical to
 * the native backend's op-by-op evaluation (and to the reference backend's but for the vector
 * math's ulps).
 *
 * @module
 */
import type { TypedArray } from "../core/dtype.ts";
import { env } from "../core/env.ts";
import { paramsOf } from "../core/primitive.ts";
import { reduce_sum_p } from "../core/prims/reduce.ts";
import { broadcast_in_dim_p, transpose_p } from "../core/prims/structural.ts";
import { literalValue } from "../core/jit_graph.ts";
import { type Fusion, type Group, MOVEMENT, type NEqn, type NVal, REDUCTIONS } from "./jit_plan.ts";
import {
  type ChainOp,
  chainSupports,
  scalarMath,
  simdAvailable,
  wasmConfig,
} from "./wasm_kernels.ts";
import { SCALAR_MATH } from "./wasm_math.ts";
import { wasmLoop } from "./jit_wasm_loop.ts";
import { wasmSum } from "./wasm_reduce.ts";
import { sharedLoop } from "./jit_shared.ts";

/**
 * Elements of a reduction's operand from which the transcendentals it computes get a buffer
 * (and a Wasm loop) of their own.
 */
const REDUCE_MATH_MIN = 4096;

/** Elements per chunk of a chunked innermost loop (its scratch arrays stay in L1). */
const CHUNK = 256;

/** A generated loop: call `fn` with the arrays of `args` (reads, then writes). */
export interface LoopKernel {
  /** The loop. */
  readonly fn: (...bufs: TypedArray[]) => void;
  /** The values whose arrays it takes, in order: every buffer it reads, then its outputs. */
  readonly args: readonly NVal[];
  /** The generated source (for debugging). */
  readonly source: string;
  /** Whether the loop runs as a Wasm kernel (else generated JavaScript); for profiles. */
  readonly wasm?: boolean;
}

/** Code generation needs `value` to have a buffer (it cannot be indexed affinely). */
export class NeedsBuffer extends Error {
  /** The value. */
  readonly value: NVal;
  /** @param value the value that needs a buffer */
  constructor(value: NVal) {
    super(`internal: native jit needs a buffer for v${value.id}`);
    this.value = value;
  }
}

/** A value's multi-index as an affine function of the loop index: per dim, coefficients. */
interface Access {
  readonly rows: readonly (readonly number[])[];
  readonly base: readonly number[];
}

const _strides = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
};

const _zero = (r: number): number[] => new Array<number>(r).fill(0);
const _unit = (r: number, k: number): number[] => {
  const z = _zero(r);
  z[k] = 1;
  return z;
};

/** The flat offset in a row-major array read through `a`: `[constant, ...coefficients]`. */
function _linear(a: Access, shape: readonly number[], rank: number): number[] {
  const st = _strides(shape);
  const lin = _zero(rank + 1);
  a.rows.forEach((row, d) => {
    if (shape[d] === 1) return;
    lin[0] += st[d] * a.base[d];
    for (let k = 0; k < rank; k++) lin[k + 1] += st[d] * row[k];
  });
  return lin;
}

/** The access of an equation's input, given the access of its output; null: not affine. */
function _through(e: NEqn, a: Access, rank: number): Access | null {
  const x = e.inputs[0].aval, v = e.outputs[0].aval;
  switch (e.prim) {
    case "broadcast_in_dim": {
      const bd = paramsOf(broadcast_in_dim_p, e.params).broadcastDimensions;
      return {
        rows: x.shape.map((
          n,
          i,
        ) => (n === 1 && v.shape[bd[i]] !== 1 ? _zero(rank) : a.rows[bd[i]])),
        base: x.shape.map((n, i) => (n === 1 && v.shape[bd[i]] !== 1 ? 0 : a.base[bd[i]])),
      };
    }
    case "transpose": {
      const perm = paramsOf(transpose_p, e.params).perm;
      const rows = new Array<readonly number[]>(x.ndim), base = new Array<number>(x.ndim);
      perm.forEach((p, d) => {
        rows[p] = a.rows[d];
        base[p] = a.base[d];
      });
      return { rows, base };
    }
    case "reshape": {
      // groups of output dims that each make up exactly one input dim (splits, unit dims)
      const rows: number[][] = [], base: number[] = [];
      let d = 0;
      for (let i = 0; i < x.ndim; i++) {
        const n = x.shape[i];
        if (n === 1) {
          rows.push(_zero(rank));
          base.push(0);
          continue;
        }
        const grp: number[] = [];
        let p = 1;
        while (d < v.ndim && p < n) {
          if (v.shape[d] !== 1 || grp.length) grp.push(d);
          p *= v.shape[d++];
        }
        while (d < v.ndim && v.shape[d] === 1) d++;
        if (p !== n) return null;
        const row = _zero(rank);
        let b = 0, s = 1;
        for (let k = grp.length - 1; k >= 0; k--) {
          const od = grp[k];
          if (v.shape[od] !== 1) {
            for (let q = 0; q < rank; q++) row[q] += s * a.rows[od][q];
            b += s * a.base[od];
          }
          s *= v.shape[od];
        }
        rows.push(row);
        base.push(b);
      }
      return { rows, base };
    }
  }
  return a; // elementwise
}

const _num = (x: number): string =>
  Object.is(x, -0) ? "(-0)" : Number.isNaN(x) ? "NaN" : x < 0 ? `(${x})` : `${x}`;

/**
 * Rounding of fused f32 intermediates: `"exact"` (the default) rounds every f32 result to f32,
 * as the reference stores it, so a jitted program gives the same bits as op-by-op evaluation;
 * `"fast"` (`DENAX_NATIVE_ROUNDING=fast`) keeps intermediates in float64 and rounds only what
 * is stored and what a comparison, max/min or reduction reads (so masks and argmax ties agree
 * with the stored values): about twice faster on transcendental chains (each `Math.fround`
 * lengthens the chain's latency), with results that differ from op-by-op f32 evaluation by at
 * most the f32 rounding of the intermediates (they are more accurate). Read when compiling.
 *
 * @example
 * ```ts
 * import { init, jit, np } from "@denax/denax";
 * import { nativeJitConfig } from "./jit_codegen.ts";
 * await init({ backend: "native" });
 * nativeJitConfig.rounding = "fast";
 * const f = jit((x: ReturnType<typeof np.array>) => np.exp(x.mul(x).neg()).mul(3));
 * const y = await f(np.array([0.5])).data();
 * nativeJitConfig.rounding = "exact";
 * if (Math.abs(y[0] - 3 * Math.exp(-0.25)) > 1e-6) throw new Error(`got ${y[0]}`);
 * ```
 */
export const nativeJitConfig: { rounding: "fast" | "exact" } = {
  rounding: env("DENAX_NATIVE_ROUNDING") === "fast" ? "fast" : "exact",
};

/**
 * The JS expression of one elementwise equation over operand expressions. Data-dependent
 * choices are branch-free (a comparison's `+(a > b)` is a 0/1 integer; a select stores both
 * values in the 2-element scratch `SEL` and reads one back): on data of random sign a branch
 * is mispredicted half the time, which made a fused bias + ReLU 3–4× slower.
 */
function _expr(e: NEqn, xs: readonly string[], round: boolean, exact: boolean): string {
  const [a, b, c] = xs;
  const f32 = e.outputs[0].aval.dtype === "f32";
  const fr = (s: string) => (f32 && round ? `Math.fround(${s})` : `(${s})`);
  // exact rounding: the transcendental ops Wasm vectorizes use its scalar ports (same bits)
  if (exact && f32 && SCALAR_MATH[e.prim]) return `M.${e.prim}(${a})`;
  switch (e.prim) {
    case "neg":
      return `(-${a})`;
    case "abs":
      return `Math.abs(${a})`;
    case "sign":
      return `(${a} > 0 ? 1 : ${a} < 0 ? -1 : ${a})`;
    case "rsqrt":
      return fr(`1 / Math.sqrt(${a})`);
    case "logistic": // b: exp(-|a|) (one exp; the reference's two branches, both computed)
      return fr(`(SEL[0] = ${b} / (1 + ${b}), SEL[1] = 1 / (1 + ${b}), SEL[+(${a} >= 0)])`);
    case "is_nan":
      return `+(${a} !== ${a})`;
    case "is_inf":
      return `+(Math.abs(${a}) === Infinity)`;
    case "stop_gradient":
      return a;
    case "add":
      return fr(`${a} + ${b}`);
    case "sub":
      return fr(`${a} - ${b}`);
    case "mul":
      return fr(`${a} * ${b}`);
    case "div":
      return fr(`${a} / ${b}`);
    case "pow":
      return fr(`Math.pow(${a}, ${b})`);
    case "atan2":
      return fr(`Math.atan2(${a}, ${b})`);
    case "max": // a NaN a is taken; a NaN b is taken unless a > b (never with NaN)
      return `(SEL[0] = ${b}, SEL[1] = ${a}, SEL[+(${a} > ${b}) | +(${a} !== ${a})])`;
    case "min":
      return `(SEL[0] = ${b}, SEL[1] = ${a}, SEL[+(${a} < ${b}) | +(${a} !== ${a})])`;
    case "eq":
      return `+(${a} === ${b})`;
    case "ne":
      return `+(${a} !== ${b})`;
    case "lt":
      return `+(${a} < ${b})`;
    case "le":
      return `+(${a} <= ${b})`;
    case "gt":
      return `+(${a} > ${b})`;
    case "ge":
      return `+(${a} >= ${b})`;
    case "and":
      return `(${a} & ${b})`;
    case "or":
      return `(${a} | ${b})`;
    case "xor":
      return `(${a} ^ ${b})`;
    case "not":
      return `(${a} ^ 1)`;
    case "select":
      return `(SEL[0] = ${c}, SEL[1] = ${b}, SEL[+(${a} !== 0)])`;
    case "convert":
      return f32 ? a : `+(${a} !== 0)`;
  }
  // the remaining unary Math functions
  return fr(`Math.${e.prim}(${a})`);
}

/**
 * Generates the loop of a fused step.
 *
 * @param f the fusion
 * @param grp an "ew" or "reduce" step
 * @returns the loop
 * @throws {NeedsBuffer} when a computed value cannot be read affinely (retry with it as a buffer)
 */
export function generateLoop(f: Fusion, grp: Group): LoopKernel {
  const shape = grp.shape;
  const rank = shape.length;
  // loop dims: ew = the output dims; reduce = kept dims, then the reduced ones
  let order = shape.map((_, i) => i), kept = rank;
  let red: (typeof REDUCTIONS)[string] | null = null;
  if (grp.kind === "reduce") {
    // the four reductions share ReduceParams: reduce_sum's description serves them all
    const axes = paramsOf(reduce_sum_p, grp.root!.params).axes;
    order = [...order.filter((d) => !axes.includes(d)), ...axes];
    kept = rank - axes.length;
    red = REDUCTIONS[grp.root!.prim];
  }
  const sizes = order.map((d) => shape[d]);
  // each computed value: its name, expression, and whether it is rounded to f32 (exact mode)
  const stmts: { name: string; expr: string; round: boolean }[] = [];
  const loads: { name: string; buf: NVal; lin: number[] }[] = [];
  const memo = new Map<string, string>();
  const exactAll = nativeJitConfig.rounding === "exact";
  let tmp = 0;
  // the chain as operations, for a Wasm kernel: eligible while every value is f32
  const chain: ChainOp[] = [];
  const lits = new Map<string, number>();
  let wasmOk = true;
  const mathToBuffer = grp.kind === "reduce" && exactAll && simdAvailable() &&
    wasmConfig.enabled && grp.root!.inputs[0].aval.size >= REDUCE_MATH_MIN;
  const gen = (v: NVal, a: Access): string => {
    const key = `${v.id}|${a.rows.map((r) => r.join(",")).join(";")}|${a.base.join(",")}`;
    const hit = memo.get(key);
    if (hit) return hit;
    let out: string;
    const e = f.producer.get(v);
    if (!e || (f.materialized.has(v) && !grp.computes.has(v))) {
      out = `r${loads.length}`;
      loads.push({ name: out, buf: v, lin: _linear(a, v.aval.shape, rank) });
    } else if (e.prim === "literal") {
      const x = literalValue(e);
      const dt = v.aval.dtype;
      out = _num(dt === "f32" ? Math.fround(x) : dt === "bool" ? (x ? 1 : 0) : x);
      lits.set(out, dt === "f32" ? Math.fround(x) : dt === "bool" ? (x ? 1 : 0) : x);
    } else if (MOVEMENT.has(e.prim)) {
      const x = e.inputs[0];
      const xa = _through(e, a, rank);
      if (xa) out = gen(x, xa);
      else if (f.materialized.has(x) || !f.producer.get(x)) {
        // a reshape of a buffer: the flat index is unchanged
        out = `r${loads.length}`;
        const lin = _linear(a, v.aval.shape, rank);
        loads.push({ name: out, buf: x, lin });
      } else throw new NeedsBuffer(x);
    } else {
      // a transcendental inside a long reduction: computed four lanes at a time by its own
      // (Wasm) loop into a buffer, rather than one lane per call here
      if (mathToBuffer && SCALAR_MATH[e.prim] && v.aval.dtype === "f32") {
        throw new NeedsBuffer(v);
      }
      const xs = e.inputs.map((x) => gen(x, a));
      const tIn = e.inputs.map((x) => x.aval.dtype as string), tOut = v.aval.dtype as string;
      if (!chainSupports(e.prim, tIn, tOut)) wasmOk = false;
      const allF32 = tOut === "f32" && tIn.every((d) => d === "f32");
      const ins = [...xs];
      if (e.prim === "logistic" && !exactAll) {
        xs.push(`t${tmp++}`);
        stmts.push({ name: xs[1], expr: `Math.exp(-Math.abs(${xs[0]}))`, round: false });
      }
      out = `t${tmp++}`;
      chain.push({
        name: out,
        prim: e.prim,
        ins,
        types: allF32 ? undefined : { ins: tIn, out: tOut },
      });
      const round = exactAll || f.exact.has(v);
      const expr = _expr(e, xs, false, exactAll);
      stmts.push({ name: out, expr, round: round && _expr(e, xs, true, exactAll) !== expr });
    }
    memo.set(key, out);
    return out;
  };
  // the loop index in the value's own dims
  const pos = new Array<number>(rank);
  order.forEach((d, k) => (pos[d] = k));
  const stores: { value: string; lin: number[]; buf: NVal }[] = [];
  let acc = "";
  if (grp.kind === "reduce") {
    const x = grp.root!.inputs[0];
    acc = gen(x, { rows: x.aval.shape.map((_, d) => _unit(rank, pos[d])), base: _zero(rank) });
    const o = grp.outs[0];
    const st = _strides(o.aval.shape);
    const lin = _zero(rank + 1);
    for (let k = 0; k < kept; k++) lin[k + 1] = st[k];
    stores.push({ value: "acc", lin, buf: o });
  } else {
    for (const o of grp.outs) {
      const id = { rows: o.aval.shape.map((_, d) => _unit(rank, d)), base: _zero(rank) };
      stores.push({ value: gen(o, id), lin: _linear(id, o.aval.shape, rank), buf: o });
    }
  }
  // merge adjacent loop dims that every access walks contiguously; drop unit dims
  const lins = [...loads.map((l) => l.lin), ...stores.map((s) => s.lin)];
  const dims: { n: number; k: number; reduced: boolean }[] = [];
  for (let k = 0; k < rank; k++) {
    if (sizes[k] === 1) continue;
    const reduced = k >= kept;
    const last = dims[dims.length - 1];
    if (
      last && last.reduced === reduced &&
      lins.every((l) => l[last.k + 1] === l[k + 1] * sizes[k])
    ) {
      last.n *= sizes[k];
      last.k = k;
    } else dims.push({ n: sizes[k], k, reduced });
  }
  const nd = dims.length;
  const nKept = dims.filter((d) => !d.reduced).length;
  if (wasmOk && grp.kind === "ew") {
    const k = wasmLoop(chain, lits, loads, stores, dims);
    if (k) return k;
  }
  if (wasmOk && red === "sum") {
    const k = wasmSum(chain, lits, loads, acc, stores[0], dims, nKept);
    if (k) return k;
  }
  const args: NVal[] = [];
  const argName = (v: NVal) => {
    let i = args.indexOf(v);
    if (i < 0) i = args.push(v) - 1;
    return `b${i}`;
  };
  loads.forEach((l) => argName(l.buf));
  const nReads = args.length;
  stores.forEach((s) => args.push(s.buf));
  const storeArg = (i: number) => `b${nReads + i}`;
  // offset expression of an access at loop level `lvl` (-1: before any loop)
  const offName = (j: number, lvl: number) => `o${j}_${lvl + 1}`;
  const lastLevel = (lin: number[]) => {
    let l = -1;
    dims.forEach((d, q) => {
      if (lin[d.k + 1] !== 0) l = q;
    });
    return l;
  };
  const code: string[] = [];
  // A reduction whose kept dims are outside its reduced ones adds each output's terms one
  // after another (the reference's order), so one accumulator's add latency bounds the loop:
  // the innermost kept dim is unrolled by U, and U outputs accumulate side by side, each in
  // its own order (the same sums, bit for bit).
  let U = 1;
  const uLvl = nKept - 1;
  const sfx = (u: number) => (U > 1 ? `_${u}` : "");
  const accInitU = (u: number) =>
    red === "sum"
      ? `let acc${sfx(u)} = 0;`
      : `let acc${sfx(u)} = ${red === "max" ? "-" : ""}Infinity, nan${sfx(u)} = false;`;
  const accStepU = (u: number, x: string) =>
    red === "sum"
      ? `acc${sfx(u)} += ${x};`
      : `{ const v = ${x}; if (v ${red === "max" ? ">" : "<"} acc${sfx(u)}) acc${
        sfx(u)
      } = v; else if (v !== v) nan${sfx(u)} = true; }`;
  const accInit = red ? accInitU(0) : "";
  const accStep = red ? accStepU(0, acc) : "";
  const emitOffsets = (lvl: number, ind: string) => {
    lins.forEach((lin, j) => {
      if (lvl === -1) code.push(`${ind}const ${offName(j, -1)} = ${lin[0]};`);
      else {
        const c = lin[dims[lvl].k + 1];
        const prev = offName(j, lvl - 1);
        code.push(
          `${ind}const ${offName(j, lvl)} = ${
            c === 0 ? prev : c === 1 ? `${prev} + i${lvl}` : `${prev} + i${lvl} * ${c}`
          };`,
        );
      }
    });
    // loads whose offset is final at this level
    loads.forEach((l, j) => {
      if (lastLevel(l.lin) !== lvl) return;
      const b = `b${args.indexOf(l.buf)}`, c = U > 1 && lvl >= uLvl ? l.lin[dims[uLvl].k + 1] : 0;
      if (U === 1 || lvl < uLvl) code.push(`${ind}const ${l.name} = ${b}[${offName(j, lvl)}];`);
      else {
        for (let u = 0; u < U; u++) {
          code.push(`${ind}const ${l.name}_${u} = ${b}[${offName(j, lvl)} + ${u * c}];`);
        }
      }
    });
  };
  /** The names of an unrolled copy `u`: loads at or inside the unrolled level, statements. */
  const perCopy = (text: string, u: number) =>
    text.replace(/\b[rt]\d+\b/g, (id) => {
      const l = loads.find((x) => x.name === id);
      return l && lastLevel(l.lin) < uLvl ? id : `${id}_${u}`;
    });
  const body = (ind: string) => {
    if (U > 1) {
      for (let u = 0; u < U; u++) {
        for (const s of stmts) {
          const e = perCopy(s.round ? `Math.fround${s.expr}` : s.expr, u);
          code.push(`${ind}const ${s.name}_${u} = ${e};`);
        }
        code.push(ind + accStepU(u, perCopy(acc, u)));
      }
      return;
    }
    for (const s of stmts) {
      code.push(`${ind}const ${s.name} = ${s.round ? `Math.fround${s.expr}` : s.expr};`);
    }
    if (red) {
      code.push(ind + accStep);
      if (nKept === nd) code.push(`${ind}${store}`);
    } else {
      stores.forEach((s, i) =>
        code.push(`${ind}${storeArg(i)}[${offName(loads.length + i, nd - 1)}] = ${s.value};`)
      );
    }
  };
  const storeU = (u: number) =>
    `b${nReads}[${offName(loads.length, nKept - 1)}${
      U > 1 ? ` + ${u * stores[0].lin[dims[uLvl].k + 1]}` : ""
    }] = ${red === "sum" ? `acc${sfx(u)}` : `nan${sfx(u)} ? NaN : acc${sfx(u)}`};`;
  const store = red ? storeU(0) : "";
  // Exact rounding on a long innermost loop: the loop runs in chunks, each computed value in
  // its own tight loop over a chunk stored in a small scratch array (a Float32Array rounds for
  // free): the chained Math.fround of one fused loop would double its latency.
  const chunked = exactAll && nd > 0 && dims[nd - 1].n >= 2 * CHUNK && stmts.length >= 3 &&
    (!red || nKept < nd);
  const inner = chunked ? nd - 1 : nd;
  if (red && !chunked && nKept >= 1 && nKept < nd) {
    U = [4, 2, 1].find((u) => dims[uLvl].n % u === 0)!;
  }
  const copies = (f: (u: number) => string) => Array.from({ length: U }, (_, u) => f(u)).join(" ");
  emitOffsets(-1, "");
  let ind = "";
  for (let q = 0; q < inner; q++) {
    if (q === nKept && red) code.push(`${ind}${copies(accInitU)}`);
    const step = q === uLvl && U > 1 ? `i${q} += ${U}` : `i${q}++`;
    code.push(`${ind}for (let i${q} = 0; i${q} < ${dims[q].n}; ${step}) {`);
    ind += "  ";
    emitOffsets(q, ind);
  }
  const scratch: (Float32Array | Float64Array)[] = [];
  if (chunked) {
    const q = nd - 1;
    if (q === nKept && red) code.push(`${ind}${accInit}`);
    code.push(`${ind}for (let c = 0; c < ${dims[q].n}; c += ${CHUNK}) {`);
    const i2 = ind + "  ";
    code.push(`${i2}const cn = ${dims[q].n} - c < ${CHUNK} ? ${dims[q].n} - c : ${CHUNK};`);
    const at = (j: number) => {
      const cf = lins[j][dims[q].k + 1], prev = offName(j, q - 1);
      return cf === 0 ? prev : cf === 1 ? `${prev} + c + j` : `${prev} + (c + j) * ${cf}`;
    };
    const slot = new Map<string, number>();
    const bind = (text: string) =>
      [...new Set(text.match(/\b[rt]\d+\b/g) ?? [])].map((id) => {
        const k = slot.get(id);
        if (k !== undefined) return `const ${id} = s${k}[j];`;
        const li = loads.findIndex((l) => l.name === id);
        if (li < 0 || lastLevel(loads[li].lin) !== q) return "";
        return `const ${id} = b${args.indexOf(loads[li].buf)}[${at(li)}];`;
      }).join(" ");
    // a store of a plain load reads its operand before any store of this chunk: an output
    // written in place over a buffer must not be read after it
    stores.forEach((st) => {
      if (!/^r\d+$/.test(st.value)) return;
      const name = `t${tmp++}`;
      stmts.push({ name, expr: st.value, round: false });
      st.value = name;
    });
    const loop = (text: string, stmt: string) =>
      code.push(`${i2}for (let j = 0; j < cn; j++) { ${bind(text)} ${stmt} }`);
    for (const st of stmts) {
      const k = scratch.push(st.round ? new Float32Array(CHUNK) : new Float64Array(CHUNK)) - 1;
      loop(st.expr, `s${k}[j] = ${st.expr};`);
      slot.set(st.name, k);
    }
    if (red) loop(acc, accStep);
    else {
      stores.forEach((st, i) =>
        loop(st.value, `${storeArg(i)}[${at(loads.length + i)}] = ${st.value};`)
      );
    }
    code.push(`${ind}}`);
    if (q === nKept && red) code.push(`${ind}${store}`);
  } else {
    if (nKept === nd && red) code.push(`${ind}${accInit}`);
    body(ind);
  }
  for (let q = inner - 1; q >= 0; q--) {
    ind = ind.slice(2);
    code.push(`${ind}}`);
    if (q === nKept && red) code.push(`${ind}${copies(storeU)}`);
  }
  const names = args.map((_, i) => `b${i}`);
  const head = scratch.map((_, k) => `const s${k} = S[${k}];`).join("\n");
  const source = `${head}\nreturn function (${names.join(", ")}) {\n${code.join("\n")}\n};`;
  const M = scalarMath(), math = M === SCALAR_MATH ? "js" : "wasm";
  const types = scratch.map((a) => (a instanceof Float32Array ? "f" : "d")).join("");
  const fn = sharedLoop(
    `${math} ${types}\n${source}`,
    () =>
      new Function("S", "SEL", "M", source)(scratch, new Float64Array(2), M) as LoopKernel["fn"],
  );
  return { fn, args, source };
}
