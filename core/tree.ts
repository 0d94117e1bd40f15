/**
 * Pytrees, as in `jax.tree_util`: nested containers whose non-container values are leaves.
 * Containers are plain objects (keys visited in sorted order, as JAX sorts dict keys), arrays
 * and classes registered with {@linkcode register}. `null` and `undefined` are empty subtrees:
 * they hold no leaves but keep their place, so they round-trip. Everything else (numbers,
 * strings, Tensors, unregistered class instances) is a leaf.
 *
 * @module
 */

import type { Tensor } from "./tensor.ts";

/** A class usable as a pytree node type. */
export type PytreeClass<T = unknown> = abstract new (...args: never[]) => T;

/** How a registered class splits into children and static auxiliary data, and is rebuilt. */
export interface PytreeSpec<T, A = unknown> {
  /** Returns the children (subtrees, in a fixed order) and the static data of `x`. */
  flatten(x: T): readonly [children: readonly unknown[], aux: A];
  /** Rebuilds an instance from the static data and the rebuilt children. */
  unflatten(aux: A, children: unknown[]): T;
  /** Names of the children for {@linkcode flattenWithPath} (default: their indices). */
  keys?(aux: A): readonly (string | number)[];
}

/** A predicate that marks values as leaves, containers or not. */
export type IsLeaf = (x: unknown) => boolean;

/** One node of a {@linkcode TreeDef}: the structure of a pytree without its leaves. */
export type TreeNode =
  | { readonly kind: "leaf" }
  | { readonly kind: "empty"; readonly value: null | undefined }
  | { readonly kind: "array"; readonly children: readonly TreeNode[] }
  | {
    readonly kind: "object";
    readonly keys: readonly string[];
    /** Whether the object was made with `Object.create(null)`; rebuilt so, not compared. */
    readonly nullProto: boolean;
    readonly children: readonly TreeNode[];
  }
  | {
    readonly kind: "class";
    readonly cls: PytreeClass;
    readonly aux: unknown;
    readonly children: readonly TreeNode[];
  };

type _Entry = { readonly name: string; readonly spec: PytreeSpec<unknown, unknown> };
const _registry = new Map<unknown, _Entry>();
const _names = new Set<string>();
const _LEAF: TreeNode = { kind: "leaf" };

function _entry(cls: PytreeClass): _Entry {
  const e = _registry.get(cls);
  if (!e) throw new TypeError(`tree: class ${cls.name} is not registered as a pytree node`);
  return e;
}

/**
 * Registers `cls` as a pytree node type, so its instances are containers, not leaves. Only
 * exact instances match (not subclasses), as in JAX. A second class with an already-used name
 * prints as `Name#2`, so {@linkcode TreeDef.key} stays unambiguous.
 *
 * @param cls The class to register.
 * @param spec How to split an instance into `[children, aux]` and rebuild it.
 * @returns Nothing.
 * @throws {TypeError} If `cls` is already registered or is `Object` or `Array`.
 * @example
 * ```ts
 * import { leaves, map, register } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * class Point { constructor(readonly x: number, readonly y: number) {} }
 * register(Point, { flatten: (p) => [[p.x, p.y], null], unflatten: (_, [x, y]) => new Point(x as number, y as number) });
 * assertEquals(leaves({ p: new Point(1, 2) }), [1, 2]);
 * assertEquals(map((v: number) => v * 10, new Point(1, 2)), new Point(10, 20));
 * ```
 */
export function register<T, A>(cls: PytreeClass<T>, spec: PytreeSpec<T, A>): void {
  if (_registry.has(cls) || [Object, Array].includes(cls as unknown as ObjectConstructor)) {
    throw new TypeError(`tree.register: ${cls.name} is already a pytree node type`);
  }
  const base = cls.name || "anonymous";
  let name = base;
  for (let i = 2; _names.has(name); i++) name = `${base}#${i}`;
  _names.add(name);
  _registry.set(cls, { name, spec });
}

const _ids = new WeakMap<object, number>();
let _nextId = 1;

/** Prints static data for keys: JSON where faithful, an identity (`relu@3`) for the rest. */
function _auxString(aux: unknown): string {
  return JSON.stringify(aux, (_k, v) => {
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "symbol" || typeof v === "undefined") return String(v);
    if (
      typeof v === "function" || (typeof v === "object" && v !== null && !Array.isArray(v) &&
        ![Object.prototype, null].includes(Object.getPrototypeOf(v)))
    ) {
      if (!_ids.has(v)) _ids.set(v, _nextId++);
      return `${v.name || v.constructor?.name || "object"}@${_ids.get(v)}`;
    }
    return v;
  }) ?? String(aux);
}

function _show(n: TreeNode): string {
  const kids = (c: readonly TreeNode[]) => c.map(_show).join(", ");
  if (n.kind === "leaf") return "*";
  if (n.kind === "empty") return String(n.value);
  if (n.kind === "array") return `[${kids(n.children)}]`;
  if (n.kind === "object") {
    return `{${n.keys.map((k, i) => `${_fmtKey(k)}: ${_show(n.children[i])}`).join(", ")}}`;
  }
  const aux = n.aux === undefined || n.aux === null ? "" : `<${_auxString(n.aux)}>`;
  return `${_entry(n.cls).name}${aux}(${kids(n.children)})`;
}

const _IDENT = /^[A-Za-z_$][\w$]*$/;
const _fmtKey = (k: string): string => _IDENT.test(k) ? k : JSON.stringify(k);

function _count(n: TreeNode): number {
  if (n.kind === "leaf") return 1;
  if (n.kind === "empty") return 0;
  return n.children.reduce((s, c) => s + _count(c), 0);
}

/** The structure of a pytree: everything but its leaves. Immutable. */
export class TreeDef {
  /** The root node of the structure. */
  readonly node: TreeNode;
  /** How many leaves a tree of this structure holds. */
  readonly numLeaves: number;
  #key: string | undefined;

  /** Wraps a structure; usually obtained from {@linkcode flatten} or {@linkcode structure}. */
  constructor(node: TreeNode) {
    this.node = node;
    this.numLeaves = _count(node);
  }

  /**
   * A string equal for equal structures and only for them, for cache keys. Registered
   * classes contribute their name and their static data.
   */
  get key(): string {
    return this.#key ??= _show(this.node);
  }

  /** Whether `other` has the same structure (the prototype of null-prototype objects aside). */
  equals(other: TreeDef): boolean {
    return this === other || this.key === other.key;
  }

  /** The compact printed structure, e.g. `{a: *, b: [*, null]}`; leaves print as `*`. */
  toString(): string {
    return this.key;
  }

  /**
   * Builds a tree of this structure from `leaves`, in {@linkcode flatten} order.
   *
   * @throws {RangeError} If `leaves.length` is not {@linkcode TreeDef.numLeaves}.
   */
  unflatten<T = unknown>(leaves: readonly unknown[]): T {
    if (leaves.length !== this.numLeaves) {
      throw new RangeError(
        `tree.unflatten: structure ${this} expects ${this.numLeaves} leaves, got ${leaves.length}`,
      );
    }
    let i = 0;
    const build = (n: TreeNode): unknown => {
      if (n.kind === "leaf") return leaves[i++];
      if (n.kind === "empty") return n.value;
      if (n.kind === "array") return n.children.map(build);
      if (n.kind === "class") return _entry(n.cls).spec.unflatten(n.aux, n.children.map(build));
      // fromEntries defines own properties, so a "__proto__" key stays a key
      const o = Object.fromEntries(n.keys.map((k, j) => [k, build(n.children[j])]));
      return n.nullProto ? Object.setPrototypeOf(o, null) : o;
    };
    return build(this.node) as T;
  }
}

type _Ctx = {
  isLeaf?: IsLeaf;
  leaves: unknown[];
  paths?: string[];
  seen: Set<object>;
};

function _build(x: unknown, ctx: _Ctx, path: (string | number)[]): TreeNode {
  const leaf = (): TreeNode => {
    ctx.leaves.push(x);
    ctx.paths?.push(keyPath(path));
    return _LEAF;
  };
  if (ctx.isLeaf?.(x)) return leaf();
  if (x === null || x === undefined) return { kind: "empty", value: x };
  if (typeof x !== "object") return leaf();
  const proto = Object.getPrototypeOf(x);
  const isArray = Array.isArray(x);
  const entry = isArray ? undefined : _registry.get(proto?.constructor);
  if (!isArray && !entry && proto !== Object.prototype && proto !== null) return leaf();
  if (ctx.seen.has(x)) {
    throw new TypeError(
      `tree.flatten: the tree contains a cycle at ${keyPath(path) || "the root"}`,
    );
  }
  ctx.seen.add(x);
  const kids = (items: readonly unknown[], keys?: readonly (string | number)[]) =>
    items.map((c, i) => {
      path.push(keys?.[i] ?? i);
      const n = _build(c, ctx, path);
      path.pop();
      return n;
    });
  let node: TreeNode;
  if (isArray) node = { kind: "array", children: kids(x) };
  else if (entry) {
    const [children, aux] = entry.spec.flatten(x);
    const cls = proto.constructor;
    node = { kind: "class", cls, aux, children: kids(children, entry.spec.keys?.(aux)) };
  } else {
    const keys = Object.keys(x).sort(), o = x as Record<string, unknown>;
    const children = kids(keys.map((k) => o[k]), keys);
    node = { kind: "object", keys, nullProto: proto === null, children };
  }
  ctx.seen.delete(x);
  return node;
}

/**
 * Formats a key path the shared way: identifiers join with `.`, numbers print as `[1]`, other
 * keys as `["my key"]`. The root is the empty string.
 *
 * @param keys The object keys and array indices from the root down.
 * @returns The printed path, e.g. `params.layers[1].w`.
 * @example
 * ```ts
 * import { keyPath } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * assertEquals(keyPath(["params", "layers", 1, "w"]), "params.layers[1].w");
 * assertEquals(keyPath([0, "my key"]), '[0]["my key"]');
 * ```
 */
export function keyPath(keys: readonly (string | number)[]): string {
  return keys.map((k, i) =>
    typeof k === "number"
      ? `[${k}]`
      : _IDENT.test(k)
      ? (i === 0 ? k : `.${k}`)
      : `[${JSON.stringify(k)}]`
  ).join("");
}

/**
 * Splits a pytree into its leaves (depth first; object keys sorted) and its structure.
 *
 * @param tree Any value; containers are plain objects, arrays and registered classes.
 * @param isLeaf Optional predicate; a value for which it returns true is a leaf, container or not.
 * @returns `[leaves, treedef]`.
 * @throws {TypeError} If the tree contains a cycle.
 * @example
 * ```ts
 * import { flatten } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * const [leaves, def] = flatten({ b: [2, 3], a: 1, c: null });
 * assertEquals(leaves, [1, 2, 3]);
 * assertEquals(def.toString(), "{a: *, b: [*, *], c: null}");
 * ```
 */
export function flatten<L = unknown>(tree: unknown, isLeaf?: IsLeaf): [L[], TreeDef] {
  const ctx: _Ctx = { isLeaf, leaves: [], seen: new Set() };
  return [ctx.leaves as L[], new TreeDef(_build(tree, ctx, []))];
}

/**
 * Like {@linkcode flatten}, with each leaf's path printed by {@linkcode keyPath}.
 *
 * @param tree Any pytree.
 * @param isLeaf Optional predicate marking extra leaves.
 * @returns `[[path, leaf][], treedef]`.
 * @example
 * ```ts
 * import { flattenWithPath } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * const [pairs] = flattenWithPath({ params: { layers: [{ w: 1 }, { w: 2 }] } });
 * assertEquals(pairs, [["params.layers[0].w", 1], ["params.layers[1].w", 2]]);
 * ```
 */
export function flattenWithPath<L = unknown>(
  tree: unknown,
  isLeaf?: IsLeaf,
): [Array<[path: string, leaf: L]>, TreeDef] {
  const ctx: _Ctx = { isLeaf, leaves: [], paths: [], seen: new Set() };
  const def = new TreeDef(_build(tree, ctx, []));
  return [ctx.leaves.map((l, i) => [ctx.paths![i], l as L]), def];
}

/**
 * Rebuilds a tree from a structure and leaves; the inverse of {@linkcode flatten}.
 *
 * @param treedef The structure.
 * @param leaves The leaves, in flatten order.
 * @returns The rebuilt tree.
 * @throws {RangeError} If the number of leaves differs from `treedef.numLeaves`.
 * @example
 * ```ts
 * import { flatten, unflatten } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * const [, def] = flatten({ a: 1, b: [2, undefined] });
 * assertEquals(unflatten(def, [5, 6]), { a: 5, b: [6, undefined] });
 * ```
 */
export function unflatten<T = unknown>(treedef: TreeDef, leaves: readonly unknown[]): T {
  return treedef.unflatten<T>(leaves);
}

/**
 * The leaves of a pytree, in {@linkcode flatten} order.
 *
 * @param tree Any pytree.
 * @param isLeaf Optional predicate marking extra leaves.
 * @returns The leaves.
 * @example
 * ```ts
 * import { leaves } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * assertEquals(leaves([1, { y: 3, x: 2 }, null]), [1, 2, 3]);
 * ```
 */
export function leaves<L = unknown>(tree: unknown, isLeaf?: IsLeaf): L[] {
  return flatten<L>(tree, isLeaf)[0];
}

/**
 * The structure of a pytree.
 *
 * @param tree Any pytree.
 * @param isLeaf Optional predicate marking extra leaves.
 * @returns Its {@linkcode TreeDef}.
 * @example
 * ```ts
 * import { structure } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * assertEquals(structure({ w: 1, b: [2] }).numLeaves, 2);
 * assertEquals(structure({ w: 1 }).equals(structure({ w: 9 })), true);
 * ```
 */
export function structure(tree: unknown, isLeaf?: IsLeaf): TreeDef {
  return flatten(tree, isLeaf)[1];
}

/**
 * Applies `fn` leaf by leaf across trees of one structure, building a tree of that structure.
 * The result is typed as `tree`, the common case; cast when `fn` changes the kind of leaf.
 *
 * @param fn Called with one leaf from `tree` and the matching leaf from each of `rest`.
 * @param tree The tree that gives the structure.
 * @param rest Further trees with the same structure.
 * @returns The tree of results.
 * @throws {TypeError} If a tree of `rest` has another structure.
 * @example
 * ```ts
 * import { map } from "@denax/denax/tree";
 * import { assertEquals } from "@std/assert";
 * assertEquals(map((a: number, b: number) => a + b, { x: 1, y: [2] }, { x: 10, y: [20] }), { x: 11, y: [22] });
 * ```
 */
export function map<T>(
  // deno-lint-ignore no-explicit-any -- leaves are dynamically typed; a callback may annotate them (`(a: number) => …`)
  fn: (leaf: any, ...rest: any[]) => unknown,
  tree: T,
  ...rest: readonly unknown[]
): T {
  const [ls, def] = flatten(tree);
  const others = rest.map((r) => {
    const [l, d] = flatten(r);
    if (!d.equals(def)) throw new TypeError(`tree.map: structures differ: ${def} vs ${d}`);
    return l;
  });
  return def.unflatten<T>(ls.map((x, i) => fn(x, ...others.map((o) => o[i]))));
}

/**
 * The pytree of Tensors with the structure of `T`: every leaf (a Tensor, number or boolean,
 * which transformations turn into Tensors) becomes a `Tensor`; arrays, tuples and objects keep
 * their shape; `null`/`undefined` stay empty subtrees. It is the type of a gradient or tangent
 * of a value of type `T` (`grad(f)` returns `Tree<Parameters<typeof f>[0]>`).
 * @example
 * ```ts
 * import type { Tree } from "@denax/denax/tree";
 * import { np, Tensor } from "@denax/denax";
 * // the leaves of the gradient of { w: Tensor; b: number[] } are all Tensors
 * const g: Tree<{ w: Tensor; b: number[] }> = { w: np.array(1), b: [np.array(2)] };
 * const b0: Tensor = g.b[0];
 * console.log(String(b0), await b0.item()); // Tensor(f32[]) 2
 * if (!(b0 instanceof Tensor) || await b0.item() !== 2) throw new Error(`got ${b0}`);
 * ```
 */
// deno-lint-ignore no-explicit-any -- an untyped (`any`) value has an untyped gradient tree
export type Tree<T> = 0 extends 1 & T ? any
  : T extends Tensor | number | boolean ? Tensor
  : T extends null | undefined ? T
  : T extends (...args: never[]) => unknown ? T
  : T extends readonly unknown[] ? { -readonly [K in keyof T]: Tree<T[K]> }
  : T extends object ? { -readonly [K in keyof T]: Tree<T[K]> }
  : T;
