/** The text of the main error messages: they name the op and every operand's aval. */
import { assertThrows } from "@std/assert";
import { init, np } from "../mod.ts";

await init({ backend: "cpu" });

Deno.test("matmul with mismatched contracting dimensions names both operands", () => {
  assertThrows(
    () => np.matmul(np.zeros([32, 784]), np.zeros([128, 10])),
    TypeError,
    "Cannot matmul f32[32,784] and f32[128,10]: contracting dimensions differ (784 vs 128)",
  );
});

Deno.test("a bad axis is a RangeError naming the op and the operand", () => {
  assertThrows(
    () => np.sum(np.zeros([2, 3]), { axis: 2 }),
    RangeError,
    "sum: axis 2 is out of bounds for f32[2,3]",
  );
  assertThrows(
    () => np.argmax(np.zeros([2, 3]), { axis: -3 }),
    RangeError,
    "argmax: axis -3 is out of bounds",
  );
});

Deno.test("incompatible broadcasting names the shapes and the dimension", () => {
  assertThrows(
    () => np.add(np.zeros([2, 3]), np.zeros([4])),
    TypeError,
    "Cannot add shapes [2,3] and [4]: dimension 1 differs (3 vs 4)",
  );
});

Deno.test("reshape to a different size says so", () => {
  assertThrows(
    () => np.reshape(np.zeros([2, 3]), [4, 2]),
    TypeError,
    "Cannot reshape f32[2,3] to [4,2]: sizes differ (6 vs 8)",
  );
  assertThrows(() => np.reshape(np.zeros([2, 3]), [-1, 4]), TypeError, "do not divide evenly");
});

Deno.test("ragged nested arrays are rejected", () => {
  assertThrows(() => np.array([[1, 2], [3]]), TypeError, "ragged nested array");
});

Deno.test("squeezing a non-unit axis is rejected", () => {
  assertThrows(
    () => np.squeeze(np.zeros([2, 3]), 0),
    TypeError,
    "Cannot squeeze axis 0 of f32[2,3]",
  );
});

Deno.test("item() of a tensor with many elements is rejected", async () => {
  const { assertRejects } = await import("@std/assert");
  await assertRejects(
    () => np.zeros([2]).item(),
    TypeError,
    "item() needs a tensor with one element",
  );
});

Deno.test("logsumexp and softmax-style reductions stay finite and exact at ±1000", async () => {
  const { assertAllClose } = await import("@std/assert");
  const x = np.array([[1000, 1000], [-1000, -1000], [1000, -1000]]);
  const lse = await np.logsumexp(x, { axis: 1 }).toArray() as number[];
  assertAllClose(lse, [1000 + Math.log(2), -1000 + Math.log(2), 1000], { rtol: 1e-6 });
});
