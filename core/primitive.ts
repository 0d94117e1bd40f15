// deno-lint-ignore-file no-explicit-any -- typed in a later pass
/**
 * Primitives: the closed set of operations that every transformation understands. Each is
 * defined once, with all of its rules.
 *
 * @module
 */
import type { ShapedArray } from "./aval.ts";
import type { TypedArray } from "./dtype.ts";
import type { Tensor } from "./tensor.ts";

/** Parameters of a bound primitive. */
export type Params = Readonly<Record<string, any>>;

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

/** The rules of one primitive. */
export interface PrimitiveRules {
  /** Shapes and dtypes of the outputs; throws TypeError/RangeError naming the op. */
  abstractEval(avals: ShapedArray[], params: Params): ShapedArray[];
  /** The reference implementation on host arrays (first-order primitives). */
  impl?(inputs: HostArray[], params: Params, outAvals: ShapedArray[]): TypedArray[];
  /** The eager implementation in terms of other binds (higher-order primitives). */
  evalImpl?(args: Tensor[], params: Params): Tensor[];
  /** Forward-mode rule: primal and tangent outputs; a null tangent means zero. */
  jvp?(primals: Tensor[], tangents: any[], params: Params): [Tensor[], (Tensor | null)[]];
  /**
   * Transposition, for primitives linear in their undefined inputs: given the output
   * cotangents (null = zero), returns a cotangent for each input (null where none).
   */
  transpose?(
    cts: (Tensor | null)[],
    args: (Tensor | UndefinedPrimal)[],
    params: Params,
  ): (Tensor | null)[];
  /** Batching rule: dims are the batch axis of each argument or null. */
  batch?(
    args: Tensor[],
    dims: (number | null)[],
    params: Params,
    axisSize: number,
  ): [Tensor[], (number | null)[]];
  /** Whether the JVP rule accepts null (symbolic zero) tangents instead of instantiated zeros. */
  symbolicZeros?: boolean;
  /** Marks higher-order primitives (they carry jaxprs in their params). */
  higherOrder?: boolean;
  /** Whether the primitive returns several outputs. */
  multipleResults?: boolean;
}

/** A primitive: a name and its rules. */
export interface Primitive extends PrimitiveRules {
  /** The primitive's name as printed in jaxprs. */
  readonly name: string;
}

const _registry = new Map<string, Primitive>();

/** Defines a primitive with all its rules, once; throws when the name is taken. */
export function definePrimitive(name: string, rules: PrimitiveRules): Primitive {
  if (_registry.has(name)) throw new Error(`internal: primitive ${name} defined twice`);
  const p = { name, ...rules } as Primitive;
  _registry.set(name, p);
  return p;
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
