/**
 * Primitives: the closed set of operations that every transformation understands. Each is
 * defined once, with all of its rules.
 *
 * @module
 */
import type { ShapedArray } from "./aval.ts";
import type { TypedArray } from "./dtype.ts";
import type { Tensor } from "./tensor.ts";
import { checksEnabled, env } from "./env.ts";

/**
 * Parameters of a bound primitive as seen by code that handles every primitive alike
 * (interpreters, jaxpr printing, backends dispatching by name). Each primitive declares its own
 * params type `P` (a type alias, so that it is assignable to this record) and its rules receive
 * a `P`.
 */
export type Params = Readonly<Record<string, unknown>>;

/** The params of a primitive that takes none: `{}` only. */
export type NoParams = Readonly<Record<string, never>>;

/**
 * The runtime description of a params type: every key, marked required or optional. The mapped
 * type makes a missing or an unknown key in a primitive's description a compile error.
 */
export type ParamSpec<P> = {
  readonly [K in keyof P]-?: undefined extends P[K] ? "optional" : "required";
};

/** A host array handed to reference implementations. */
export interface HostArray {
  /** Flat row-major values. */
  readonly data: TypedArray;
  /** Shape and dtype. */
  readonly aval: ShapedArray;
}

/** Marks an input of a linear primitive whose value is unknown during transposition. */
export class UndefinedPrimal {
  /** The aval of the missing value. */
  readonly aval: ShapedArray;
  /** Makes the marker. */
  constructor(aval: ShapedArray) {
    this.aval = aval;
  }
}

/** The rules of one primitive, whose params have type `P`. */
export interface PrimitiveRules<P extends Params = Params> {
  /** Shapes and dtypes of the outputs; throws TypeError/RangeError naming the op. */
  abstractEval(avals: ShapedArray[], params: P): ShapedArray[];
  /** The reference implementation on host arrays (first-order primitives). */
  impl?(inputs: HostArray[], params: P, outAvals: ShapedArray[]): TypedArray[];
  /** The eager implementation in terms of other binds (higher-order primitives). */
  evalImpl?(args: Tensor[], params: P): Tensor[];
  /**
   * Forward-mode rule: primal and tangent outputs; a null tangent means zero. The tangents are
   * instantiated unless `symbolicZeros` is set (then a rule declares them `(Tensor | null)[]`).
   */
  jvp?(primals: Tensor[], tangents: Tensor[], params: P): [Tensor[], (Tensor | null)[]];
  /**
   * Transposition, for primitives linear in their undefined inputs: given the output
   * cotangents (null = zero), returns a cotangent for each input (null where none).
   */
  transpose?(
    cts: (Tensor | null)[],
    args: (Tensor | UndefinedPrimal)[],
    params: P,
  ): (Tensor | null)[];
  /** Batching rule: dims are the batch axis of each argument or null. */
  batch?(
    args: Tensor[],
    dims: (number | null)[],
    params: P,
    axisSize: number,
  ): [Tensor[], (number | null)[]];
  /** Whether the JVP rule accepts null (symbolic zero) tangents instead of instantiated zeros. */
  symbolicZeros?: boolean;
  /** Marks higher-order primitives (they carry jaxprs in their params). */
  higherOrder?: boolean;
  /** Whether the primitive returns several outputs. */
  multipleResults?: boolean;
  /**
   * Partial evaluation (higher-order primitives): splits a mixed application into a known part
   * evaluated now and an unknown part staged into the jaxpr being built. Attached with
   * `definePartialEval` (core/builder.ts), which hands the rule its typed params; `builder` is
   * the partial `JaxprBuilder` (internal, so typed opaquely here).
   */
  partialEval?(builder: unknown, args: Tensor[], params: Params): Tensor[];
}

/** What `definePrimitive` takes: the rules and the description of the params. */
export interface PrimitiveDef<P extends Params = Params> extends PrimitiveRules<P> {
  /**
   * The keys of the params, checked at `bind` in strict and checked modes (`DENAX_STRICT=1`,
   * `DENAX_CHECKS=1`): a missing required key or an unknown key is an error naming the
   * primitive. `{}` for a primitive without params.
   */
  readonly params: ParamSpec<P>;
}

/** A primitive: a name and its rules; `P` is the type of its params. */
export interface Primitive<P extends Params = Params> extends PrimitiveRules<P> {
  /** The primitive's name as printed in jaxprs. */
  readonly name: string;
  /**
   * Forward-mode rule as the JVP interpreter calls it: null (zero) tangents are passed as such
   * when `symbolicZeros` is set, instantiated otherwise.
   */
  jvp?(primals: Tensor[], tangents: (Tensor | null)[], params: P): [Tensor[], (Tensor | null)[]];
  /** The keys of its params (see {@linkcode PrimitiveDef}). */
  readonly params: Readonly<Record<string, "required" | "optional">>;
}

/** A primitive that takes no params (`bind(neg_p, [x])`). */
export type PlainPrimitive = Primitive<NoParams>;

/** The params type of a primitive: `ParamsOf<typeof reduce_sum_p>` is `ReduceParams`. */
export type ParamsOf<T> = T extends Primitive<infer P> ? P : never;

const _registry = new Map<string, Primitive>();

/**
 * Defines a primitive with all its rules, once; throws when the name is taken.
 *
 * @param name The name printed in jaxprs and used by the backends' lowering tables.
 * @param rules The rules; `P` (the params type) is usually given explicitly.
 * @returns The primitive.
 * @throws Error when a primitive of that name exists.
 * @example
 * ```ts
 * import { ShapedArray } from "@denax/denax";
 * import { definePrimitive } from "./primitive.ts";
 * type ScaleParams = { readonly factor: number };
 * const scale_p = definePrimitive<ScaleParams>("doc_example_scale", {
 *   params: { factor: "required" },
 *   abstractEval: ([x]) => [new ShapedArray(x.shape, x.dtype)],
 *   impl: ([x], { factor }) => [x.data.map((v) => v * factor)],
 * });
 * if (scale_p.params.factor !== "required") throw new Error("the description is kept");
 * ```
 */
export function definePrimitive<P extends Params = Params>(
  name: string,
  rules: PrimitiveDef<P>,
): Primitive<P> {
  if (_registry.has(name)) throw new Error(`internal: primitive ${name} defined twice`);
  const p: Primitive<P> = { name, ...rules };
  _registry.set(name, p);
  return p;
}

/**
 * Checks params against the primitive's description: every required key present (and not
 * undefined), no unknown key.
 *
 * @param prim The primitive.
 * @param params The params as bound.
 * @param allowUnknown Whether keys outside the description pass (what `paramsOf` allows).
 * @throws TypeError naming the primitive and the key.
 * @example
 * ```ts
 * import { checkParams } from "./primitive.ts";
 * import { reduce_sum_p } from "./prims/reduce.ts";
 * checkParams(reduce_sum_p, { axes: [0] });
 * try {
 *   checkParams(reduce_sum_p, { axes: [0], keepdims: true });
 *   throw new Error("expected a TypeError");
 * } catch (e) {
 *   if (!(e instanceof TypeError) || !e.message.includes("unknown param 'keepdims'")) throw e;
 * }
 * ```
 */
export function checkParams(prim: Primitive, params: Params, allowUnknown = false): void {
  const spec = prim.params;
  const expected = () => {
    const keys = Object.entries(spec).map(([k, r]) => (r === "optional" ? `${k}?` : k));
    return keys.length ? `its params are {${keys.join(", ")}}` : "it takes no params";
  };
  for (const k of allowUnknown ? [] : Object.keys(params)) {
    if (!Object.hasOwn(spec, k)) {
      throw new TypeError(`${prim.name}: unknown param '${k}' (${expected()})`);
    }
  }
  for (const [k, r] of Object.entries(spec)) {
    if (r === "required" && params[k] === undefined) {
      throw new TypeError(`${prim.name}: missing param '${k}' (${expected()})`);
    }
  }
}

/**
 * The params of an application of `prim` that arrived through a generic path (a backend's
 * name-keyed lowering table, a partial-evaluation rule), typed as `prim`'s own. They were
 * checked at `bind` (in strict and checked modes); in those modes this checks again that the
 * required keys are there (extra keys pass: a backend may be handed more than the primitive's
 * own params, as tests that call `execute` directly do).
 *
 * @param prim The primitive whose params these are.
 * @param params The params as bound.
 * @returns The same object, typed.
 * @example
 * ```ts
 * import { type Params, paramsOf } from "./primitive.ts";
 * import { transpose_p } from "./prims/structural.ts";
 * const generic: Params = { perm: [1, 0] };
 * const perm: readonly number[] = paramsOf(transpose_p, generic).perm;
 * if (perm[0] !== 1) throw new Error("same object");
 * ```
 */
export function paramsOf<P extends Params>(prim: Primitive<P>, params: Params): P {
  if (paramChecks()) checkParams(prim, params, true);
  return params as P;
}

let _strictEnv: boolean | undefined;
let _paramChecks: boolean | undefined;
/**
 * Whether `bind` checks params: in strict or checked mode (`DENAX_STRICT=1`, `DENAX_CHECKS=1`),
 * unless overridden by {@linkcode setParamChecks}.
 *
 * @returns Whether params are checked.
 */
export function paramChecks(): boolean {
  return _paramChecks ?? ((_strictEnv ??= env("DENAX_STRICT") === "1") || checksEnabled());
}

/**
 * Turns the params check of `bind` on or off (tests); `undefined` restores the default.
 *
 * @param on Whether to check.
 * @example
 * ```ts
 * import { paramChecks, setParamChecks } from "./primitive.ts";
 * setParamChecks(true);
 * if (!paramChecks()) throw new Error("on");
 * setParamChecks(undefined); // back to DENAX_STRICT / DENAX_CHECKS
 * ```
 */
export function setParamChecks(on: boolean | undefined): void {
  _paramChecks = on;
}

/** Looks a primitive up by name. */
export function getPrimitive(name: string): Primitive {
  const p = _registry.get(name);
  if (!p) throw new Error(`internal: unknown primitive ${name}`);
  return p;
}

/** All defined primitives. */
export function allPrimitives(): Primitive[] {
  return [..._registry.values()];
}
