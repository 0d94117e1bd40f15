/**
 * A compiled program as text and back (for the on-disk program cache, `disk_cache.ts`), and the
 * canonical text of a jaxpr that keys it.
 *
 * The text holds everything the executor reads (`exec.ts`): the operations, with each distinct
 * WGSL source stored once, the slots, the donations and output slots of the plan, temporaries,
 * textures and the avals. A loaded program's plan has no compile-time maps (`order`, `slotOf`,
 * `aliases`, `stepped` are empty; `copies` are already operations): nothing reads them after
 * compilation. Programs with `core` operations (a primitive object and its params, evaluated by
 * the core) have no text form and are not cached.
 *
 * @module
 */
import { ShapedArray } from "../../core/aval.ts";
import type { DType } from "../../core/dtype.ts";
import { Jaxpr, type Var } from "../../core/jaxpr.ts";
import type { Op, Program } from "./program.ts";

/** Thrown inside {@link jaxprKeyText} for a jaxpr whose params have no canonical text. */
class _NoText extends Error {}

/**
 * The canonical text of a jaxpr: every equation's primitive, params (nested jaxprs written out,
 * numbers exactly: `-0`, `NaN`), inputs and outputs numbered by first appearance, with avals.
 * Two jaxprs with the same text compile to the same program. Null when a param is a function or
 * an object of some class (a custom rule, a tensor): those have no text that pins them down.
 *
 * @param j The jaxpr.
 * @returns The text, or null.
 */
export function jaxprKeyText(j: Jaxpr): string | null {
  try {
    return _jaxpr(j, new Map());
  } catch (e) {
    if (e instanceof _NoText) return null;
    throw e;
  }
}

function _jaxpr(j: Jaxpr, ids: Map<Var, number>): string {
  const name = (v: Var) => {
    let k = ids.get(v);
    if (k === undefined) ids.set(v, k = ids.size);
    return `v${k}`;
  };
  const decl = (v: Var) => `${name(v)}:${v.aval}`;
  const lines = [`{${j.constvars.map(decl).join(" ")};${j.invars.map(decl).join(" ")}`];
  for (const e of j.eqns) {
    const ps = Object.keys(e.params).sort().filter((k) => e.params[k] !== undefined)
      .map((k) => `${k}=${_value(e.params[k], ids)}`);
    lines.push(
      `${e.outputs.map(decl).join(" ")}=${e.prim.name}[${ps.join(",")}] ${
        e.inputs.map(name).join(" ")
      }`,
    );
  }
  lines.push(`}(${j.outvars.map(name).join(" ")})`);
  return lines.join("\n");
}

function _value(v: unknown, ids: Map<Var, number>): string {
  switch (typeof v) {
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "string":
      return JSON.stringify(v);
    case "boolean":
    case "undefined":
      return String(v);
    case "bigint":
      return `${v}n`;
    case "object": {
      if (v === null) return "null";
      if (v instanceof Jaxpr) return _jaxpr(v, ids);
      if (v instanceof ShapedArray) return String(v);
      if (Array.isArray(v)) return `(${v.map((x) => _value(x, ids)).join(",")})`;
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        const xs = Array.from(v as unknown as ArrayLike<number>, (x) => _value(x, ids));
        return `${v.constructor.name}(${xs.join(",")})`;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw new _NoText();
      const o = v as Record<string, unknown>;
      return `{${
        Object.keys(o).sort().filter((k) => o[k] !== undefined)
          .map((k) => `${k}:${_value(o[k], ids)}`).join(",")
      }}`;
    }
    default: // functions, symbols
      throw new _NoText();
  }
}

interface _Avals {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/** The text form of a program (see {@link programToJson}). */
interface _ProgramJson {
  readonly ops: readonly unknown[];
  readonly slots: Program["slots"];
  readonly outSlots: readonly number[];
  readonly donations: Program["plan"]["donations"];
  readonly outValSlots: readonly number[];
  readonly temps: readonly number[];
  readonly textures: Program["textures"];
  readonly inAvals: readonly _Avals[];
  readonly outAvals: readonly _Avals[];
}

/**
 * A program as a JSON-able value, or null when it has `core` operations. WGSL sources go into
 * `sources` (shared by every nested scan body) and operations refer to them by index.
 *
 * @param p The program.
 * @param sources The table of sources, appended to.
 * @returns The value, or null.
 */
export function programToJson(p: Program, sources: string[]): unknown | null {
  return _toJson(p, sources, new Map(sources.map((s, k) => [s, k] as const)));
}

function _toJson(p: Program, sources: string[], index: Map<string, number>): unknown | null {
  const src = (w: string) => {
    let k = index.get(w);
    if (k === undefined) index.set(w, k = sources.push(w) - 1);
    return k;
  };
  const ops: unknown[] = [];
  for (const op of p.ops) {
    if (op.kind === "core") return null;
    if (op.kind === "dispatch") ops.push({ ...op, wgsl: src(op.wgsl) });
    else if (op.kind === "scan") {
      const body = _toJson(op.body, sources, index);
      if (body === null) return null;
      ops.push({ ...op, body });
    } else ops.push(op);
  }
  const av = (a: ShapedArray): _Avals => ({ shape: a.shape, dtype: a.dtype });
  const out: _ProgramJson = {
    ops,
    slots: p.slots,
    outSlots: p.plan.outSlots,
    donations: p.plan.donations,
    outValSlots: p.outValSlots,
    temps: p.temps,
    textures: p.textures,
    inAvals: p.inAvals.map(av),
    outAvals: p.outAvals.map(av),
  };
  return out;
}

/**
 * The program of {@link programToJson}'s value. Throws (any error) on a value of another shape;
 * the cache treats that as a miss.
 *
 * @param v The value.
 * @param sources The table of sources.
 * @returns The program.
 */
export function programFromJson(v: unknown, sources: readonly string[]): Program {
  const j = v as _ProgramJson;
  const arr = <T>(x: readonly T[]): readonly T[] => {
    if (!Array.isArray(x)) throw new TypeError("internal: not an array");
    return x;
  };
  const ops: Op[] = arr(j.ops).map((o) => {
    const op = o as { kind: string; wgsl?: number; body?: unknown };
    switch (op.kind) {
      case "dispatch": {
        const wgsl = sources[op.wgsl as number];
        if (typeof wgsl !== "string") throw new TypeError("internal: no such source");
        return { ...op, wgsl } as Op;
      }
      case "scan":
        return { ...op, body: programFromJson(op.body, sources) } as Op;
      case "copy":
      case "toTexture":
        return op as Op;
      default:
        throw new TypeError(`internal: unknown op ${op.kind}`);
    }
  });
  const av = (a: _Avals) => new ShapedArray(arr(a.shape), a.dtype);
  const slots = arr(j.slots);
  return {
    ops,
    slots,
    plan: {
      order: [],
      slotOf: new Map(),
      slots,
      outSlots: arr(j.outSlots),
      donations: arr(j.donations),
      aliases: new Map(),
      stepped: new Map(),
      copies: [],
    },
    outValSlots: arr(j.outValSlots),
    temps: arr(j.temps),
    textures: arr(j.textures),
    inAvals: arr(j.inAvals).map(av),
    outAvals: arr(j.outAvals).map(av),
  };
}
