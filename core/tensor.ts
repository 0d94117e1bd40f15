/**
 * The immutable `Tensor` and the `Tracer` base class of every transformation's values.
 *
 * @module
 */
import type { ShapedArray } from "./aval.ts";
import type { Backend, Buf } from "./backend.ts";
import type { DType, TypedArray } from "./dtype.ts";
import { ConcretizationError } from "./errors.ts";
import { storageAval } from "./f16.ts";

/** Nested JS arrays of numbers or booleans. */
export type NestedArray = number | boolean | readonly NestedArray[];
/** Anything that converts to a Tensor: a Tensor, a JS number/boolean, or nested arrays. */
export type TensorLike = Tensor | NestedArray;
/** An axis argument: one axis, several, or all (undefined/null). */
export type Axis = number | readonly number[] | null | undefined;
/** Options of reductions. */
export interface ReduceOptions {
  /** Axis or axes to reduce (default: all). */
  axis?: Axis;
  /** Keep reduced axes as size 1. */
  keepdims?: boolean;
}

/**
 * The method implementations, installed by the numpy module (avoids an import cycle): the `np`
 * functions themselves, typed through a type-only view of `numpy.ts`.
 */
export type TensorMethods = Pick<
  typeof import("./numpy.ts"),
  | "take"
  | "_index"
  | "_at"
  | "add"
  | "subtract"
  | "multiply"
  | "divide"
  | "power"
  | "maximum"
  | "minimum"
  | "neg"
  | "abs"
  | "exp"
  | "log"
  | "sqrt"
  | "square"
  | "tanh"
  | "sin"
  | "cos"
  | "equal"
  | "notEqual"
  | "less"
  | "lessEqual"
  | "greater"
  | "greaterEqual"
  | "clip"
  | "matmul"
  | "reshape"
  | "transpose"
  | "swapaxes"
  | "squeeze"
  | "expandDims"
  | "broadcastTo"
  | "astype"
  | "sum"
  | "mean"
  | "max"
  | "min"
  | "prod"
  | "var"
  | "std"
  | "argmax"
  | "argmin"
>;
let _m: TensorMethods | null = null;
/** Installs the method implementations (called once by `core/numpy.ts`). */
export function _installMethods(m: TensorMethods): void {
  _m = m;
}
function m(): TensorMethods {
  if (!_m) throw new Error("internal: numpy methods not installed; import mod.ts");
  return _m;
}

const _hostScalars = new WeakMap<Tensor, number>();

/**
 * The value of a 0-d tensor made from a host number (`np.array(2)`, the `2` of `x.mul(2)`),
 * known without reading the device; undefined for every other tensor. `jit` inlines such
 * constants into generated kernels as literals.
 *
 * @param t A tensor.
 * @returns The host value, or undefined.
 */
export function knownScalar(t: Tensor): number | undefined {
  return _hostScalars.get(t);
}

/** @internal records the host value of a 0-d tensor made from a number. */
export function _recordScalar(t: Tensor, value: number): void {
  _hostScalars.set(t, value);
}

/**
 * An immutable n-dimensional array. Operations return new Tensors; none mutates its inputs.
 * A Tensor outside any transformation holds device data; inside `jit`, `grad` or `vmap` the
 * values seen by the user's function are `Tracer`s, which have the same methods.
 *
 * JS operators do not act on tensors: `t > 0`, `t + 1` and `Number(t)` throw a TypeError
 * (use `np.greater`, `np.add`, or `await t.item()`), while `String(t)` and `${t}` print
 * `Tensor(f32[2,2])`. `if (t)` and `t ? a : b` cannot be intercepted in JS (every object is
 * truthy): they always take the first branch, so branch on `await t.item()` eagerly and with
 * `np.where` or `lax.cond` under `jit`.
 *
 * @example
 * ```ts
 * import { np } from "@denax/denax";
 * const x = np.array([[1, 2], [3, 4]]);
 * const y = x.matmul(x).add(1);
 * const values = await y.toArray();
 * console.log(String(y), values); // Tensor(f32[2,2]) [[8, 11], [16, 23]]
 * const got = `${y} ${JSON.stringify(values)}`;
 * if (got !== "Tensor(f32[2,2]) [[8,11],[16,23]]") throw new Error(`got ${got}`);
 * ```
 */
export class Tensor {
  /** Shape and dtype. */
  readonly aval: ShapedArray;
  /** @internal device storage (concrete tensors only). */
  readonly _buf: Buf;
  /** @internal the backend that owns `_buf`. */
  readonly _backend: Backend | null;
  /**
   * @internal why the storage may no longer be used ("was disposed", "was donated to
   * jit(step) (argument 0)"), or undefined while it is live. Set by `[Symbol.dispose]` and by
   * `jit` for donated arguments; checked by `bind` and by reads.
   */
  _consumed: string | undefined = undefined;

  /** @internal use `np.array` and friends to make tensors. */
  constructor(aval: ShapedArray, buf: Buf = undefined, backend: Backend | null = null) {
    this.aval = aval;
    this._buf = buf;
    this._backend = backend;
  }

  /** The dimensions. */
  get shape(): readonly number[] {
    return this.aval.shape;
  }
  /** The element type. */
  get dtype(): DType {
    return this.aval.dtype;
  }
  /** Number of dimensions. */
  get ndim(): number {
    return this.aval.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return this.aval.size;
  }

  /** Reads the values back to the host as a flat row-major typed array (bool as Uint8Array). */
  data(): Promise<TypedArray> {
    if (!this._backend) throw this._concretizationError("data()");
    if (this._consumed !== undefined) throw consumedError("data()", this);
    return this._backend.read(this._buf, storageAval(this.aval, this._backend));
  }
  /** Reads the values back as nested JS arrays (numbers; booleans for bool). */
  async toArray(): Promise<NestedArray> {
    const d = await this.data();
    return toNested(d, this.shape, this.dtype === "bool");
  }
  /** Reads a one-element tensor back as a JS number (or boolean for bool). */
  async item(): Promise<number | boolean> {
    if (this.size !== 1) {
      throw new TypeError(`item() needs a tensor with one element, got ${this.aval}`);
    }
    const d = await this.data();
    return this.dtype === "bool" ? d[0] !== 0 : d[0];
  }
  /** `Tensor(f32[2,2])`: printing never reads from the device. */
  toString(): string {
    return `Tensor(${this.aval})`;
  }
  /**
   * Coercion to a JS primitive. Only the string form exists (`String(t)`, `${t}` print
   * `Tensor(f32[2,2])`); a numeric or default coercion (`t > 0`, `t + 1`, `+t`, `t == 1`)
   * throws, because it would compare or concatenate the printed form, never the values. Inside
   * `jit`, a JS `?:` or `if` on a comparison of tracers would silently take one branch; branch
   * with `np.where` or `lax.cond` instead.
   *
   * Note: `if (t)` and `t ? a : b` on a Tensor itself cannot be intercepted in JS (every
   * object is truthy, and truthiness never calls `Symbol.toPrimitive`): they always take the
   * first branch. Write `if (await t.item())` eagerly, or `np.where`/`lax.cond` under `jit`.
   *
   * @param hint The coercion hint JS passes: "string", "number" or "default".
   * @returns The printed form for the "string" hint.
   * @throws {TypeError} for the "number" and "default" hints.
   */
  [Symbol.toPrimitive](hint: string): string {
    if (hint === "string") return this.toString();
    throw new TypeError(
      `Cannot convert ${this.toString()} to a JS ${hint === "number" ? "number" : "primitive"}: ` +
        `JS operators (>, +, ==, ...) do not act on tensors
` +
        `help: use np.greater/np.add (or x.greater(0), x.add(1)) for elementwise ops, ` +
        `np.where or lax.cond to branch, or \`await x.item()\` to read a value eagerly`,
    );
  }
  /** Same as the "number" coercion: throws (see `[Symbol.toPrimitive]`). */
  valueOf(): never {
    return this[Symbol.toPrimitive]("number") as never;
  }
  /**
   * Frees the device storage now (optional: it is freed when the tensor is collected). Any
   * later use of the tensor, as an operand or by a read, throws.
   */
  [Symbol.dispose](): void {
    if (this._consumed !== undefined) return;
    this._consumed = "was disposed";
    this._backend?.release?.(this._buf, storageAval(this.aval, this._backend));
  }
  /** @internal */
  protected _concretizationError(what: string): Error {
    return new ConcretizationError(`${what} needs a concrete value`);
  }

  // ---- method forms of the common ops (implemented in core/numpy.ts) ----
  /** Elementwise `this + y` with broadcasting. */
  add(y: TensorLike): Tensor {
    return m().add(this, y);
  }
  /** Elementwise `this - y`. */
  sub(y: TensorLike): Tensor {
    return m().subtract(this, y);
  }
  /** Elementwise `this * y`. */
  mul(y: TensorLike): Tensor {
    return m().multiply(this, y);
  }
  /** Elementwise `this / y` (true division). */
  div(y: TensorLike): Tensor {
    return m().divide(this, y);
  }
  /** Elementwise `this ** y`. */
  pow(y: TensorLike): Tensor {
    return m().power(this, y);
  }
  /** Elementwise maximum. */
  maximum(y: TensorLike): Tensor {
    return m().maximum(this, y);
  }
  /** Elementwise minimum. */
  minimum(y: TensorLike): Tensor {
    return m().minimum(this, y);
  }
  /** Elementwise `-this`. */
  neg(): Tensor {
    return m().neg(this);
  }
  /** Elementwise `|this|`. */
  abs(): Tensor {
    return m().abs(this);
  }
  /** Elementwise `e^this`. */
  exp(): Tensor {
    return m().exp(this);
  }
  /** Elementwise natural log. */
  log(): Tensor {
    return m().log(this);
  }
  /** Elementwise square root. */
  sqrt(): Tensor {
    return m().sqrt(this);
  }
  /** Elementwise square. */
  square(): Tensor {
    return m().square(this);
  }
  /** Elementwise tanh. */
  tanh(): Tensor {
    return m().tanh(this);
  }
  /** Elementwise sine. */
  sin(): Tensor {
    return m().sin(this);
  }
  /** Elementwise cosine. */
  cos(): Tensor {
    return m().cos(this);
  }
  /** Elementwise `this == y` (bool). */
  equal(y: TensorLike): Tensor {
    return m().equal(this, y);
  }
  /** Elementwise `this != y` (bool). */
  notEqual(y: TensorLike): Tensor {
    return m().notEqual(this, y);
  }
  /** Elementwise `this < y` (bool). */
  less(y: TensorLike): Tensor {
    return m().less(this, y);
  }
  /** Elementwise `this <= y` (bool). */
  lessEqual(y: TensorLike): Tensor {
    return m().lessEqual(this, y);
  }
  /** Elementwise `this > y` (bool). */
  greater(y: TensorLike): Tensor {
    return m().greater(this, y);
  }
  /** Elementwise `this >= y` (bool). */
  greaterEqual(y: TensorLike): Tensor {
    return m().greaterEqual(this, y);
  }
  /** Clips values to `[lo, hi]`. */
  clip(lo: TensorLike | null, hi: TensorLike | null): Tensor {
    return m().clip(this, lo, hi);
  }
  /** Matrix product with NumPy's `matmul` semantics. */
  matmul(y: TensorLike): Tensor {
    return m().matmul(this, y);
  }
  /** Reshapes (one dimension may be -1). */
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    const s = (Array.isArray(shape[0]) ? shape[0] : shape) as number[];
    return m().reshape(this, s);
  }
  /** Flattens to one dimension. */
  flatten(): Tensor {
    return m().reshape(this, [-1]);
  }
  /** Permutes axes (reverses them by default). */
  transpose(axes?: readonly number[]): Tensor {
    return m().transpose(this, axes);
  }
  /** The transpose (axes reversed). */
  get T(): Tensor {
    return m().transpose(this);
  }
  /** Swaps two axes. */
  swapaxes(a: number, b: number): Tensor {
    return m().swapaxes(this, a, b);
  }
  /** Removes size-1 axes. */
  squeeze(axis?: Axis): Tensor {
    return m().squeeze(this, axis);
  }
  /** Inserts a size-1 axis. */
  expandDims(axis: number | readonly number[]): Tensor {
    return m().expandDims(this, axis);
  }
  /** Broadcasts to a shape. */
  broadcastTo(shape: readonly number[]): Tensor {
    return m().broadcastTo(this, shape);
  }
  /** Converts the dtype. */
  astype(dtype: DType): Tensor {
    return m().astype(this, dtype);
  }
  /** Sum over axes. */
  sum(opts?: ReduceOptions): Tensor {
    return m().sum(this, opts);
  }
  /** Mean over axes. */
  mean(opts?: ReduceOptions): Tensor {
    return m().mean(this, opts);
  }
  /** Maximum over axes. */
  max(opts?: ReduceOptions): Tensor {
    return m().max(this, opts);
  }
  /** Minimum over axes. */
  min(opts?: ReduceOptions): Tensor {
    return m().min(this, opts);
  }
  /** Product over axes. */
  prod(opts?: ReduceOptions): Tensor {
    return m().prod(this, opts);
  }
  /** Variance over axes (ddof 0 as NumPy; PyTorch defaults to 1). */
  var(opts?: ReduceOptions & { ddof?: number }): Tensor {
    return m().var(this, opts);
  }
  /** Standard deviation over axes (ddof 0 by default). */
  std(opts?: ReduceOptions & { ddof?: number }): Tensor {
    return m().std(this, opts);
  }
  /** Index of the maximum along an axis (flattened when no axis). */
  argmax(opts?: { axis?: number; keepdims?: boolean }): Tensor {
    return m().argmax(this, opts);
  }
  /** Index of the minimum along an axis (flattened when no axis). */
  argmin(opts?: { axis?: number; keepdims?: boolean }): Tensor {
    return m().argmin(this, opts);
  }
  /** `take(this, indices, axis)` as in NumPy. */
  take(indices: TensorLike, opts?: { axis?: number }): Tensor {
    return m().take(this, indices, opts);
  }
  /** Indexes along leading axes with numbers, `null` (all), or `[start, stop, step?]` triples. */
  index(...idx: (number | null | readonly [number | null, number | null, number?])[]): Tensor {
    return m()._index(this, idx);
  }
  /**
   * Functional indexed update, as JAX's `x.at[idx]`: `x.at(i).set(v)` and `x.at(i).add(v)`
   * return new tensors; `i` indexes the first axis (a number, numbers or an integer tensor).
   */
  at(index: TensorLike): { set(v: TensorLike): Tensor; add(v: TensorLike): Tensor; get(): Tensor } {
    return m()._at(this, index);
  }
}

/**
 * The error for a use of a disposed or donated tensor.
 *
 * @param op The op (or read) that tried to use it.
 * @param t The tensor.
 * @returns The error to throw.
 */
export function consumedError(op: string, t: Tensor): TypeError {
  return new TypeError(
    `${op}: Tensor ${t.aval} ${t._consumed} and cannot be used again\n` +
      `help: use the result of the call it was donated to, or keep a copy before disposing`,
  );
}

/** Base class of the values that transformations trace with. */
export abstract class Tracer extends Tensor {
  /** The interpreter that owns this tracer. */
  abstract readonly _interp: { readonly name: string; active: boolean };
  /** @internal */
  protected override _concretizationError(what: string): Error {
    return new ConcretizationError(
      `${what} cannot read an abstract tracer ${this.aval} inside ${this._interp.name}: ` +
        `its value is not known while tracing\n` +
        `help: branch with lax.cond/np.where, or mark the argument static with ` +
        `jit(f, { staticArgnums })`,
    );
  }
  /** Tracers have no data; always throws ConcretizationError. */
  override data(): Promise<TypedArray> {
    throw this._concretizationError("data()");
  }
  /** Tracers have no data; always throws ConcretizationError. */
  override item(): Promise<number | boolean> {
    throw this._concretizationError("item()");
  }
  /** Tracers have no data; always throws ConcretizationError. */
  override toArray(): Promise<NestedArray> {
    throw this._concretizationError("toArray()");
  }
  /** `Tracer(f32[2,2])`. */
  override toString(): string {
    return `Tracer<${this._interp.name}>(${this.aval})`;
  }
}

/** Converts flat data to nested arrays. */
export function toNested(
  d: ArrayLike<number>,
  shape: readonly number[],
  bool: boolean,
): NestedArray {
  const conv = (v: number) => (bool ? v !== 0 : v);
  if (shape.length === 0) return conv(d[0]);
  const rec = (off: number, dim: number): NestedArray[] => {
    const n = shape[dim];
    const out: NestedArray[] = new Array(n);
    if (dim === shape.length - 1) {
      for (let i = 0; i < n; i++) out[i] = conv(d[off + i]);
      return out;
    }
    let stride = 1;
    for (let k = dim + 1; k < shape.length; k++) stride *= shape[k];
    for (let i = 0; i < n; i++) out[i] = rec(off + i * stride, dim + 1);
    return out;
  };
  return rec(0, 0);
}

/** Whether a value is a Tensor (concrete or tracer). */
export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
