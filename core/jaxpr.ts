/**
 * The IR: a typed SSA list of equations (a "jaxpr"), its printer, checker, evaluator, and the
 * passes (dead-code elimination, common-subexpression elimination, constant folding).
 *
 * @module
 */
import type { ShapedArray } from "./aval.ts";
import type { Params, Primitive } from "./primitive.ts";
import type { Tensor } from "./tensor.ts";
import { bind } from "./trace.ts";

let _nextVar = 0;

/** A variable of the IR. */
export class Var {
  /** Globally unique id (names are assigned when printing). */
  readonly id: number = _nextVar++;
  /** Its abstract value. */
  readonly aval: ShapedArray;
  /** Makes a fresh variable. */
  constructor(aval: ShapedArray) {
    this.aval = aval;
  }
}

/** One equation: `outputs = prim[params](inputs)`. */
export interface Eqn {
  /** The primitive. */
  readonly prim: Primitive;
  /** Input variables. */
  readonly inputs: readonly Var[];
  /** Parameters. */
  readonly params: Params;
  /** Output variables. */
  readonly outputs: readonly Var[];
}

/** A jaxpr: constants, inputs, equations and outputs. */
export class Jaxpr {
  /** Variables bound to closed-over constants. */
  readonly constvars: readonly Var[];
  /** Input variables. */
  readonly invars: readonly Var[];
  /** Equations in order. */
  readonly eqns: readonly Eqn[];
  /** Output variables (may repeat, or be inputs or constants). */
  readonly outvars: readonly Var[];
  /** Makes a jaxpr. */
  constructor(
    constvars: readonly Var[],
    invars: readonly Var[],
    eqns: readonly Eqn[],
    outvars: readonly Var[],
  ) {
    this.constvars = constvars;
    this.invars = invars;
    this.eqns = eqns;
    this.outvars = outvars;
  }
  /** Input avals. */
  get inAvals(): ShapedArray[] {
    return this.invars.map((v) => v.aval);
  }
  /** Output avals. */
  get outAvals(): ShapedArray[] {
    return this.outvars.map((v) => v.aval);
  }
  /** Prints the jaxpr as JAX does: `{ lambda a:f32[3]; b:f32[3]. let c:f32[3] = mul a b in (c) }`. */
  toString(): string {
    return printJaxpr(this, new Namer(), "");
  }
}

/** A jaxpr together with the values of its constants. */
export class ClosedJaxpr {
  /** The jaxpr. */
  readonly jaxpr: Jaxpr;
  /** One value per constvar. */
  readonly consts: readonly Tensor[];
  /** Makes a closed jaxpr. */
  constructor(jaxpr: Jaxpr, consts: readonly Tensor[]) {
    this.jaxpr = jaxpr;
    this.consts = consts;
  }
  /** Prints the jaxpr. */
  toString(): string {
    return this.jaxpr.toString();
  }
}

class Namer {
  #names = new Map<Var, string>();
  name(v: Var): string {
    let n = this.#names.get(v);
    if (n === undefined) {
      let i = this.#names.size;
      n = "";
      do {
        n = String.fromCharCode(97 + (i % 26)) + n;
        i = Math.floor(i / 26) - 1;
      } while (i >= 0);
      this.#names.set(v, n);
    }
    return n;
  }
}

function fmtParam(v: unknown, namer: Namer, indent: string): string {
  if (v instanceof Jaxpr) return printJaxpr(v, namer, indent + "    ");
  if (Array.isArray(v)) return `(${v.map((x) => fmtParam(x, namer, indent)).join(", ")})`;
  if (typeof v === "function") return v.name || "<fn>";
  if (typeof v === "object" && v !== null) return JSON.stringify(v);
  return String(v);
}

function printJaxpr(j: Jaxpr, namer: Namer, indent: string): string {
  const decl = (v: Var) => `${namer.name(v)}:${v.aval}`;
  const head = j.constvars.length
    ? `${j.constvars.map(decl).join(" ")}; ${j.invars.map(decl).join(" ")}`
    : j.invars.map(decl).join(" ");
  const lines = j.eqns.map((e) => {
    const ps = Object.entries(e.params)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${fmtParam(v, namer, indent)}`);
    const pstr = ps.length ? `[${ps.join(" ")}]` : "";
    return `${indent}    ${e.outputs.map(decl).join(" ")} = ${e.prim.name}${pstr} ${
      e.inputs.map((v) => namer.name(v)).join(" ")
    }`;
  });
  return `{ lambda ${head}. let\n${lines.join("\n")}${lines.length ? "\n" : ""}${indent}  in (${
    j.outvars.map((v) => namer.name(v)).join(", ")
  }) }`;
}

/** Evaluates a jaxpr by binding each equation at the current interpreter level. */
export function evalJaxpr(j: Jaxpr, consts: readonly Tensor[], args: readonly Tensor[]): Tensor[] {
  if (consts.length !== j.constvars.length || args.length !== j.invars.length) {
    throw new Error(
      `internal: evalJaxpr got ${consts.length} consts and ${args.length} args for a jaxpr with ${j.constvars.length} and ${j.invars.length}`,
    );
  }
  const env = new Map<Var, Tensor>();
  j.constvars.forEach((v, i) => env.set(v, consts[i]));
  j.invars.forEach((v, i) => env.set(v, args[i]));
  const read = (v: Var) => {
    const t = env.get(v);
    if (!t) throw new Error("internal: unbound variable in jaxpr");
    return t;
  };
  for (const e of j.eqns) {
    const outs = bind(e.prim, e.inputs.map(read), e.params);
    e.outputs.forEach((v, i) => env.set(v, outs[i]));
  }
  return j.outvars.map(read);
}

/**
 * Checks a jaxpr: every variable defined before use and once, and every equation's output
 * avals equal to its primitive's abstract evaluation. Throws Error("internal: ...") otherwise.
 */
export function checkJaxpr(j: Jaxpr): void {
  const defined = new Set<Var>();
  const define = (v: Var) => {
    if (defined.has(v)) {
      throw new Error(`internal: jaxpr check: variable defined twice (${v.aval})`);
    }
    defined.add(v);
  };
  j.constvars.forEach(define);
  j.invars.forEach(define);
  for (const e of j.eqns) {
    for (const v of e.inputs) {
      if (!defined.has(v)) {
        throw new Error(`internal: jaxpr check: ${e.prim.name} uses an undefined variable`);
      }
    }
    const outs = e.prim.abstractEval(e.inputs.map((v) => v.aval), e.params);
    if (outs.length !== e.outputs.length || outs.some((a, i) => !a.equals(e.outputs[i].aval))) {
      throw new Error(
        `internal: jaxpr check: ${e.prim.name} declares outputs ${
          e.outputs.map((v) => v.aval).join(", ")
        } but computes ${outs.join(", ")}`,
      );
    }
    for (const p of Object.values(e.params)) if (p instanceof Jaxpr) checkJaxpr(p);
    e.outputs.forEach(define);
  }
  for (const v of j.outvars) {
    if (!defined.has(v)) throw new Error("internal: jaxpr check: undefined output");
  }
}

let _strict = false;
/** Turns on strict mode: every traced jaxpr is checked with `checkJaxpr` (tests use it). */
export function setStrictChecks(on: boolean): void {
  _strict = on;
}
/** Whether strict mode is on. */
export function strictChecks(): boolean {
  return _strict;
}

/** Dead-code elimination: drops equations whose outputs are unused (all primitives are pure). */
export function dce(j: Jaxpr): Jaxpr {
  const live = new Set<Var>(j.outvars);
  const kept: Eqn[] = [];
  for (let i = j.eqns.length - 1; i >= 0; i--) {
    const e = j.eqns[i];
    if (e.outputs.some((v) => live.has(v))) {
      kept.push(e);
      e.inputs.forEach((v) => live.add(v));
    }
  }
  kept.reverse();
  return new Jaxpr(j.constvars, j.invars, kept, j.outvars);
}

const _ids = new WeakMap<object, number>();
let _nextId = 0;
/** A stable identity number for objects (jaxprs, functions) used in cache keys. */
export function objectId(o: object): number {
  let id = _ids.get(o);
  if (id === undefined) _ids.set(o, id = _nextId++);
  return id;
}

/** A string key for params, with jaxprs and functions by identity. */
export function paramsKey(p: Params): string {
  return JSON.stringify(
    p,
    (_k, v) => v instanceof Jaxpr || typeof v === "function" ? `#${objectId(v)}` : v,
  );
}

/** Common-subexpression elimination: equal equations on equal inputs are computed once. */
export function cse(j: Jaxpr): Jaxpr {
  const subst = new Map<Var, Var>();
  const seen = new Map<string, readonly Var[]>();
  const s = (v: Var) => subst.get(v) ?? v;
  const eqns: Eqn[] = [];
  for (const e of j.eqns) {
    const inputs = e.inputs.map(s);
    const key = `${e.prim.name}|${inputs.map((v) => v.id).join(",")}|${paramsKey(e.params)}`;
    const prev = seen.get(key);
    if (prev && !e.prim.name.startsWith("random")) {
      e.outputs.forEach((v, i) => subst.set(v, prev[i]));
      continue;
    }
    seen.set(key, e.outputs);
    eqns.push({ ...e, inputs });
  }
  return new Jaxpr(j.constvars, j.invars, eqns, j.outvars.map(s));
}

/**
 * Constant folding: equations whose inputs are all constants are evaluated now and their
 * outputs become constants. Returns the new jaxpr and constant values.
 */
export function foldConstants(cj: ClosedJaxpr): ClosedJaxpr {
  const known = new Map<Var, Tensor>();
  cj.jaxpr.constvars.forEach((v, i) => known.set(v, cj.consts[i]));
  const eqns: Eqn[] = [];
  for (const e of cj.jaxpr.eqns) {
    if (!e.prim.higherOrder && e.inputs.every((v) => known.has(v))) {
      const outs = bind(e.prim, e.inputs.map((v) => known.get(v)!), e.params);
      e.outputs.forEach((v, i) => known.set(v, outs[i]));
    } else eqns.push(e);
  }
  const used = new Set<Var>([...eqns.flatMap((e) => e.inputs), ...cj.jaxpr.outvars]);
  const constvars = [...known.keys()].filter((v) => used.has(v));
  return new ClosedJaxpr(
    new Jaxpr(constvars, cj.jaxpr.invars, eqns, cj.jaxpr.outvars),
    constvars.map((v) => known.get(v)!),
  );
}
