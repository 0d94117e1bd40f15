import { assertEquals, assertThrows } from "@std/assert";
import fc from "fast-check";
import {
  flatten,
  flattenWithPath,
  keyPath,
  leaves,
  map,
  register,
  structure,
  TreeDef,
  unflatten,
} from "../core/tree.ts";

const SEED = 20240601;

/** Random nested trees of objects (some with null prototypes), arrays, numbers and empties. */
const { tree: treeArb } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.double(),
    fc.integer(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(tie("tree"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie("tree"), { maxKeys: 4, noNullPrototype: false }),
  ),
}));

Deno.test(`unflatten inverts flatten on random trees (fast-check seed ${SEED})`, () => {
  fc.assert(
    fc.property(treeArb, (t) => {
      const [ls, def] = flatten(t);
      assertEquals(unflatten(def, ls), t);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test(`map with the identity preserves random trees (fast-check seed ${SEED})`, () => {
  fc.assert(
    fc.property(treeArb, (t) => assertEquals(map((x) => x, t), t)),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test(`the leaf count equals numLeaves and keys follow structure (fast-check seed ${SEED})`, () => {
  fc.assert(
    fc.property(treeArb, (t) => {
      const def = structure(t);
      assertEquals(leaves(t).length, def.numLeaves);
      const mapped = structure(map((x: number) => x + 1, t));
      assertEquals(mapped.key, def.key);
      assertEquals(mapped.equals(def), true);
    }),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("flatten visits object keys in sorted order and arrays in order", () => {
  const [ls, def] = flatten({ c: 3, a: [1, 2], b: { z: 5, y: 4 } });
  assertEquals(ls, [1, 2, 4, 5, 3]);
  assertEquals(def.toString(), "{a: [*, *], b: {y: *, z: *}, c: *}");
  assertEquals(def.numLeaves, 5);
});

Deno.test("null and undefined are empty subtrees that keep their place", () => {
  const t = { a: null, b: [undefined, 1], c: {} };
  const [ls, def] = flatten(t);
  assertEquals(ls, [1]);
  assertEquals(def.toString(), "{a: null, b: [undefined, *], c: {}}");
  assertEquals(def.unflatten([7]), { a: null, b: [undefined, 7], c: {} });
  assertEquals(flatten(null)[0], []);
  assertEquals(unflatten(structure(undefined), []), undefined);
});

Deno.test("numbers, strings, typed arrays and unregistered class instances are leaves", () => {
  class Tensorish {
    constructor(readonly v: number) {}
  }
  const t = new Tensorish(1), f32 = new Float32Array(2), fn = () => 0;
  assertEquals(leaves([1, "s", true, f32, t, fn]), [1, "s", true, f32, t, fn]);
  assertEquals(structure(t).toString(), "*");
});

Deno.test("flattenWithPath prints paths the shared way", () => {
  const [pairs] = flattenWithPath({ params: { layers: [0, { w: 1 }], "my key": 2 } });
  assertEquals(pairs, [["params.layers[0]", 0], ["params.layers[1].w", 1], [
    'params["my key"]',
    2,
  ]]);
  assertEquals(flattenWithPath([5, [6]])[0], [["[0]", 5], ["[1][0]", 6]]);
  assertEquals(flattenWithPath(3)[0], [["", 3]]);
});

Deno.test("keyPath joins identifiers with dots and brackets the rest", () => {
  assertEquals(keyPath([]), "");
  assertEquals(keyPath(["params", "layers", 1, "w"]), "params.layers[1].w");
  assertEquals(keyPath([0, "my key", "b"]), '[0]["my key"].b');
});

Deno.test("toString quotes keys that are not identifiers", () => {
  assertEquals(structure({ "my key": 1, ok: [2] }).toString(), '{"my key": *, ok: [*]}');
});

Deno.test("unflatten throws a RangeError naming the expected and actual leaf counts", () => {
  const def = structure({ a: 1, b: [2, 3] });
  const e = assertThrows(() => unflatten(def, [1, 2]), RangeError);
  assertEquals(e.message, "tree.unflatten: structure {a: *, b: [*, *]} expects 3 leaves, got 2");
});

Deno.test("map combines leaves of trees with the same structure", () => {
  const out = map((a: number, b: number, c: number) => a + b * c, { x: [1, 2] }, { x: [3, 4] }, {
    x: [10, 100],
  });
  assertEquals(out, { x: [31, 402] });
});

Deno.test("map names both structures when they differ", () => {
  const e = assertThrows(() => map((a, b) => a + b, { a: 1, b: 2 }, { a: 1 }), TypeError);
  assertEquals(e.message, "tree.map: structures differ: {a: *, b: *} vs {a: *}");
  assertThrows(() => map((a) => a, [1, 2], [1, [2]]), TypeError, "[*, *] vs [*, [*]]");
});

Deno.test("isLeaf turns containers into leaves", () => {
  const t = { a: [1, 2], b: { c: [3] } };
  const [ls, def] = flatten(t, (x) => Array.isArray(x));
  assertEquals(ls, [[1, 2], [3]]);
  assertEquals(def.toString(), "{a: *, b: {c: *}}");
  assertEquals(flattenWithPath(t, Array.isArray)[0].map(([p]) => p), ["a", "b.c"]);
});

Deno.test("flatten rejects a tree that contains a cycle", () => {
  const t: Record<string, unknown> = { a: { b: [1] } };
  (t.a as Record<string, unknown>).c = t;
  assertThrows(() => flatten(t), TypeError, "cycle at a.c");
  const shared = [1];
  assertEquals(leaves({ x: shared, y: shared }), [1, 1]); // sharing is not a cycle
});

class Linear {
  constructor(readonly w: unknown, readonly b: unknown, readonly act: string) {}
}
register(Linear, {
  flatten: (l) => [[l.w, l.b], l.act],
  unflatten: (act, [w, b]) => new Linear(w, b, act),
  keys: () => ["w", "b"],
});

Deno.test("registered classes flatten into their children and rebuild", () => {
  const model = { layers: [new Linear(1, 2, "relu"), new Linear([3], null, "tanh")] };
  const [ls, def] = flatten(model);
  assertEquals(ls, [1, 2, 3]);
  assertEquals(def.toString(), '{layers: [Linear<"relu">(*, *), Linear<"tanh">([*], null)]}');
  const rebuilt = def.unflatten<typeof model>([10, 20, 30]);
  assertEquals(rebuilt, { layers: [new Linear(10, 20, "relu"), new Linear([30], null, "tanh")] });
  assertEquals(rebuilt.layers[0] instanceof Linear, true);
  assertEquals(map((x: number) => -x, model).layers[1].w, [-3]);
});

Deno.test("registered classes name their children in paths", () => {
  const [pairs] = flattenWithPath({ layers: [new Linear(1, 2, "relu")] });
  assertEquals(pairs.map(([p]) => p), ["layers[0].w", "layers[0].b"]);
});

Deno.test("the key of a registered class includes its static data", () => {
  const a = structure(new Linear(1, 2, "relu")), b = structure(new Linear(5, 6, "relu"));
  const c = structure(new Linear(1, 2, "gelu"));
  assertEquals(a.equals(b), true);
  assertEquals(a.key, b.key);
  assertEquals(a.equals(c), false);
  assertThrows(() => map((x) => x, new Linear(1, 2, "relu"), new Linear(1, 2, "gelu")), TypeError);
});

Deno.test("static data holding functions keys them by identity", () => {
  class Act {
    constructor(readonly x: unknown, readonly fn: (v: number) => number) {}
  }
  register(Act, {
    flatten: (a) => [[a.x], { fn: a.fn }],
    unflatten: (aux, [x]) => new Act(x, aux.fn),
  });
  const f = (v: number) => v, g = (v: number) => v;
  assertEquals(structure(new Act(1, f)).key, structure(new Act(2, f)).key);
  assertEquals(structure(new Act(1, f)).equals(structure(new Act(1, g))), false);
});

Deno.test("two registered classes with the same name get distinct keys", () => {
  const make = () =>
    class Box {
      constructor(readonly v: unknown) {}
    };
  const A = make(), B = make();
  register(A, { flatten: (x) => [[x.v], null], unflatten: (_, [v]) => new A(v) });
  register(B, { flatten: (x) => [[x.v], null], unflatten: (_, [v]) => new B(v) });
  const ka = structure(new A(1)).key, kb = structure(new B(1)).key;
  assertEquals(ka, "Box(*)");
  assertEquals(kb, "Box#2(*)");
});

Deno.test("registering a class twice or a built-in container throws", () => {
  assertThrows(
    () => register(Linear, { flatten: () => [[], null], unflatten: () => new Linear(0, 0, "") }),
    TypeError,
    "already",
  );
  assertThrows(
    () => register(Array, { flatten: () => [[], null], unflatten: () => [] }),
    TypeError,
  );
});

Deno.test("subclasses of a registered class are leaves", () => {
  class Sub extends Linear {}
  const s = new Sub(1, 2, "relu");
  assertEquals(leaves(s), [s]);
});

Deno.test("objects with a null prototype round-trip with a null prototype", () => {
  const t = Object.assign(Object.create(null), { b: 1, a: [2] });
  const [ls, def] = flatten(t);
  assertEquals(ls, [2, 1]);
  const back = def.unflatten<object>(ls);
  assertEquals(Object.getPrototypeOf(back), null);
  assertEquals(def.equals(structure({ a: [0], b: 0 })), true);
});

Deno.test("a __proto__ key stays an own key through a round trip", () => {
  const t = JSON.parse('{"__proto__": 1, "a": 2}');
  const [ls, def] = flatten(t);
  assertEquals(ls, [1, 2]);
  assertEquals(def.unflatten(ls), t);
});

Deno.test("TreeDef can be built from a node and reused", () => {
  const def = new TreeDef({
    kind: "array",
    children: [{ kind: "leaf" }, { kind: "empty", value: null }],
  });
  assertEquals(def.numLeaves, 1);
  assertEquals(def.unflatten(["x"]), ["x", null]);
  assertEquals(def.equals(structure([0, null])), true);
});
