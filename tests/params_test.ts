/**
 * The run-time side of typed primitive params: every primitive describes its keys, and `bind`
 * (and `paramsOf`, which the WebGPU lowerings and the partial-evaluation rules use) rejects a
 * missing or an unknown key with an error naming the primitive, in strict and checked modes.
 * Tests run with `DENAX_STRICT=1`; each test sets the mode it needs and restores the default.
 */
import "./backend.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "@std/assert";
import { grad, jit, np, type Tensor, vmap } from "../mod.ts";
import {
  allPrimitives,
  checkParams,
  paramChecks,
  type Params,
  paramsOf,
  setParamChecks,
} from "../core/primitive.ts";
import { bind, bind1 } from "../core/trace.ts";
import { neg_p } from "../core/prims/elementwise.ts";
import { argmax_p, reduce_sum_p } from "../core/prims/reduce.ts";
import { sort_p } from "../core/prims/sort.ts";
import { slice_p } from "../core/prims/structural.ts";
import { jit_call_p } from "../core/jit_prim.ts";
import "../core/control.ts";
import "../core/control_while.ts";
import "../core/custom.ts";

/** Runs `fn` with the params check on or off, restoring the default afterwards. */
function withChecks<T>(on: boolean, fn: () => T): T {
  setParamChecks(on);
  try {
    return fn();
  } finally {
    setParamChecks(undefined);
  }
}

/** Params as a caller without types would pass them (the compile-time check bypassed). */
const untyped = (p: Params): never => p as never;

Deno.test("every primitive describes its params", () => {
  const missing = allPrimitives().filter((p) => p.params === undefined).map((p) => p.name);
  assertEquals(missing, []);
  assert(allPrimitives().length > 80, `only ${allPrimitives().length} primitives registered`);
});

Deno.test("the tests run with the params check on (DENAX_STRICT=1)", () => {
  assertEquals(paramChecks(), Deno.env.get("DENAX_STRICT") === "1");
});

Deno.test("an unknown param is a TypeError naming the primitive, the key and the known keys", () => {
  const x = np.array([[1, 2], [3, 4]]);
  withChecks(true, () => {
    const e = assertThrows(
      () => bind(reduce_sum_p, [x], untyped({ axes: [0], keepdims: true })),
      TypeError,
    );
    assertEquals(e.message, "reduce_sum: unknown param 'keepdims' (its params are {axes})");
  });
});

Deno.test("a missing required param is a TypeError; optional ones may be left out", async () => {
  const x = np.array([[1, 5], [3, 4]]);
  withChecks(true, () => {
    const e = assertThrows(() => bind(slice_p, [x], untyped({ start: [0, 0], limit: [1, 2] })));
    assert(e instanceof TypeError);
    assertEquals(
      e.message,
      "slice: missing param 'strides' (its params are {start, limit, strides})",
    );
    // a required key set to undefined is missing too
    assertThrows(
      () => bind(reduce_sum_p, [x], untyped({ axes: undefined })),
      TypeError,
      "reduce_sum: missing param 'axes'",
    );
  });
  // argmax's indexDtype and sort's numKeys/descending are optional
  const [i, s] = withChecks(true, () => [
    bind1(argmax_p, [x], { axis: 1 }),
    bind(sort_p, [x], { axis: 1 })[0],
  ]);
  assertAllClose(await i.toArray(), [1, 1]);
  assertAllClose(await s.toArray(), [[1, 5], [3, 4]]);
});

Deno.test("a primitive without params rejects any", () => {
  const x = np.array([1, 2]);
  withChecks(true, () => {
    assertThrows(
      () => bind(neg_p, [x], untyped({ axes: [0] })),
      TypeError,
      "neg: unknown param 'axes' (it takes no params)",
    );
  });
});

Deno.test("params are checked under every transformation, not only in eager mode", () => {
  const bad = (x: Tensor) => bind1(reduce_sum_p, [x], untyped({ axes: [0], extra: 1 }));
  const x = np.array([1, 2, 3]);
  withChecks(true, () => {
    for (const f of [jit(bad), grad(bad), vmap((r: Tensor) => bad(r.reshape([1, 3])))]) {
      assertThrows(() => f(x.reshape([1, 3])), TypeError, "reduce_sum: unknown param 'extra'");
    }
  });
});

Deno.test("without the check (neither strict nor checked mode) bind does not look at the keys", async () => {
  const x = np.array([[1, 2], [3, 4]]);
  const y = withChecks(false, () => bind1(reduce_sum_p, [x], untyped({ axes: [0], extra: 1 })));
  assertAllClose(await y.toArray(), [4, 6]);
});

Deno.test("paramsOf types params from a generic path and checks the required keys in the same modes", () => {
  const generic: Params = { axes: [1] };
  assertEquals(withChecks(true, () => paramsOf(reduce_sum_p, generic).axes), [1]);
  withChecks(true, () => {
    assertThrows(() => paramsOf(reduce_sum_p, { axis: 1 }), TypeError, "missing param 'axes'");
    // extra keys pass here (a backend may be handed more); bind rejects them
    assertEquals(paramsOf(reduce_sum_p, { axes: [0], note: "x" }).axes, [0]);
  });
  // unchecked, the object passes through as it is
  const wrong: Params = { axis: 1 };
  assert(withChecks(false, () => paramsOf(reduce_sum_p, wrong)) === wrong);
});

Deno.test("jit_call's params: donation and literals are optional, name and jaxpr required", () => {
  checkParams(jit_call_p, { jaxpr: {}, name: "f" });
  checkParams(jit_call_p, { jaxpr: {}, name: "f", donated: undefined, literals: [1] });
  assertThrows(
    () => checkParams(jit_call_p, { jaxpr: {} }),
    TypeError,
    "jit_call: missing param 'name'",
  );
});

Deno.test("core/prims/names.ts lists every first-order primitive, and only those", async () => {
  const { INTERNAL_PRIMS, PRIM_NAMES } = await import("../core/prims/names.ts");
  await import("../core/linalg.ts"); // the decompositions register on import
  const listed = new Set<string>([...PRIM_NAMES, ...INTERNAL_PRIMS]);
  const unlisted = allPrimitives().filter((p) =>
    !p.higherOrder && !listed.has(p.name) && !p.name.startsWith("doc_example") &&
    !p.name.startsWith("test_")
  );
  assertEquals(unlisted.map((p) => p.name), []);
  for (const name of [...PRIM_NAMES, ...INTERNAL_PRIMS]) {
    const p = allPrimitives().find((q) => q.name === name);
    assert(p !== undefined && !p.higherOrder, `${name} is listed but not a first-order primitive`);
  }
});

Deno.test("partial evaluation is a field of the higher-order primitives", () => {
  for (const name of ["scan", "cond", "while", "jit_call", "checkpoint"]) {
    const p = allPrimitives().find((q) => q.name === name);
    assert(p?.partialEval !== undefined, `${name} has no partialEval field`);
  }
  assertEquals(neg_p.partialEval, undefined);
});
