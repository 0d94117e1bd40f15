/**
 * Types of the function transformations: which argument indices `argnums` may name, and the
 * gradient tree a `grad` returns for them. They follow jax-js's typings: `argnums` is a number
 * or a tuple of numbers (a `const` type parameter), and the gradient has the structure of the
 * differentiated argument(s) with `Tensor` leaves ({@linkcode Tree}).
 *
 * @module
 */
import type { Tensor } from "./tensor.ts";
import type { Tree } from "./tree.ts";

/** Any function a transformation accepts. */
// deno-lint-ignore no-explicit-any -- every parameter list is assignable to `any[]` (variance escape)
export type TransformableFn = (...args: any[]) => unknown;

/** The argument indices of a function type's parameters (`number` when they are not a tuple). */
export type ArgIndex<P extends readonly unknown[]> = number extends P["length"] ? number
  : { [K in keyof P]-?: K extends `${infer N extends number}` ? N : never }[number];

/** What `argnums` may be for a function with parameters `P`: one index or a tuple of them. */
export type Argnums<P extends readonly unknown[]> = ArgIndex<P> | readonly ArgIndex<P>[];

/**
 * Checks an inferred `argnums` type `A` against parameters `P`: literal indices must be in
 * range; a plain `number` (an index known only at run time) is checked at run time.
 */
export type ValidArgnums<A, P extends readonly unknown[]> = A extends number
  ? (number extends A ? unknown : ArgIndex<P>)
  : A extends readonly number[] ? (number extends A[number] ? unknown : readonly ArgIndex<P>[])
  : never;

/**
 * The gradient a `grad(f, { argnums: A })` returns for parameters `P`: the tree of argument
 * `A`, or a tuple of trees when `A` is a tuple.
 */
export type GradOf<P extends readonly unknown[], A> = A extends number ? Tree<P[A]>
  : { -readonly [K in keyof A]: Tree<P[A[K] & number]> };

/** A function of tensors returning a Tensor (`jacfwd`, `jacrev`, `hessian`). */
// deno-lint-ignore no-explicit-any -- every parameter list is assignable to `any[]` (variance escape)
export type TensorFn = (...args: any[]) => Tensor;

/** A function returning a scalar loss (a Tensor; `any` also passes). */
// deno-lint-ignore no-explicit-any -- every parameter list is assignable to `any[]` (variance escape)
export type ScalarFn = (...args: any[]) => Tensor | number;

/** A function returning `[loss, aux]`, as `hasAux: true` requires. */
// deno-lint-ignore no-explicit-any -- every parameter list is assignable to `any[]` (variance escape)
export type AuxFn = (...args: any[]) => readonly unknown[];

/**
 * The aux part of a `[loss, aux]` return type `R` as the transformation returns it: the tree of
 * the tuple's second element (numbers come back as Tensors), `any` when `R` is a plain array
 * (a function returning `[a, b]` without a tuple annotation or `as const`).
 */
// deno-lint-ignore no-explicit-any -- an untyped `[a, b]` return leaves the aux untyped, by design
export type AuxOf<R> = R extends readonly [unknown, infer A] ? Tree<A> : any;

/** The `[loss, aux]` value of a `hasAux` function returning `R`. */
export type AuxValue<R> = [Tensor, AuxOf<R>];

/** Options of `grad`/`valueAndGrad` with the argnums type `A` and hasAux type `H`. */
export interface GradOpts<A, H extends boolean, P extends readonly unknown[] = unknown[]> {
  /** Which positional argument(s) to differentiate (default 0). */
  argnums?: A & ValidArgnums<A, P>;
  /** Whether `f` returns `[value, aux]`. */
  hasAux?: H;
}
