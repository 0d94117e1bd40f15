/**
 * Private helpers of the optimizers: weight decay whose errors name the optimizer built on it,
 * and the expansion of a parameter mask to one boolean per leaf. Not part of the public API.
 *
 * @module
 */
import * as tree from "../core/tree.ts";
import { _flat, _params } from "./_util.ts";
import type { EmptyState, GradientTransformation, MaskSpec } from "./transform.ts";

/** {@linkcode addDecayedWeights} whose errors name `op` (the optimizer built on it). */
export function _addDecayedWeights(
  op: string,
  weightDecay: number,
  mask?: MaskSpec,
): GradientTransformation<EmptyState> {
  return {
    init: () => ({}),
    update: (updates, state, params) => {
      const [us, def] = _flat(updates);
      const ps = _params(op, params, def);
      const flags = mask === undefined ? null : _maskFlags(mask, params, op);
      const out = us.map((u, i) => (flags && !flags[i] ? u : u.add(ps[i].mul(weightDecay))));
      return [def.unflatten(out), state];
    },
  };
}

/**
 * One boolean per leaf of `target`, expanding the prefix `mask`.
 * @throws {TypeError} when the mask does not match the structure of `target`
 */
export function _maskFlags(mask: MaskSpec, target: unknown, op: string): boolean[] {
  const m = typeof mask === "function" ? (mask as (p: unknown) => unknown)(target) : mask;
  return _expand(m, target, op, []);
}

function _expand(m: unknown, t: unknown, op: string, path: (string | number)[]): boolean[] {
  const where = () => tree.keyPath(path) || "the root";
  const nLeaves = () => _flat(t)[0].length;
  if (typeof m === "boolean") return new Array(nLeaves()).fill(m);
  if (t === null || t === undefined) return [];
  if (Array.isArray(m) && Array.isArray(t)) {
    if (m.length !== t.length) {
      throw new TypeError(
        `${op}: the mask has ${m.length} entries at ${where()} but the tree has ${t.length}`,
      );
    }
    return m.flatMap((mi, i) => _expand(mi, t[i], op, [...path, i]));
  }
  if (_isPlain(m) && _isPlain(t)) {
    const mo = m as Record<string, unknown>, to = t as Record<string, unknown>;
    return Object.keys(to).sort().flatMap((k) => {
      if (!(k in mo)) throw new TypeError(`${op}: the mask has no entry for ${keyAt(path, k)}`);
      return _expand(mo[k], to[k], op, [...path, k]);
    });
  }
  // registered classes and other containers: the mask must have exactly the tree's structure
  const [ml, md] = tree.flatten(m), td = tree.structure(t);
  if (md.equals(td) && ml.every((b) => typeof b === "boolean")) return ml as boolean[];
  throw new TypeError(
    `${op}: the mask ${md} does not match the tree ${td} at ${where()}\n` +
      `help: give one boolean per parameter leaf, or one boolean for a whole subtree`,
  );
}
const keyAt = (path: (string | number)[], k: string) => tree.keyPath([...path, k]);
const _isPlain = (x: unknown): boolean =>
  x !== null && typeof x === "object" && !Array.isArray(x) &&
  [Object.prototype, null].includes(Object.getPrototypeOf(x));
