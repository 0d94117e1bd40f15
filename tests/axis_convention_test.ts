/**
 * One convention for axes: every function that works along an axis takes `{ axis }`; the shape
 * functions NumPy takes positionally take the bare axis too (both forms give the same result).
 */
import "./backend.ts";
import { assertEquals, assertThrows } from "@std/assert";
import { nn, np } from "../mod.ts";

const x = np.reshape(np.arange(24), [2, 3, 4]);
const same = async (a: { toArray(): Promise<unknown> }, b: { toArray(): Promise<unknown> }) =>
  assertEquals(await a.toArray(), await b.toArray());

Deno.test("NumPy's positional shape functions also take { axis }", async () => {
  await same(np.concatenate([x, x], 1), np.concatenate([x, x], { axis: 1 }));
  await same(np.stack([x, x], -1), np.stack([x, x], { axis: -1 }));
  await same(np.expandDims(x, [0, 2]), np.expandDims(x, { axis: [0, 2] }));
  await same(np.squeeze(np.zeros([1, 3, 1]), 0), np.squeeze(np.zeros([1, 3, 1]), { axis: 0 }));
  await same(np.flip(x, 2), np.flip(x, { axis: 2 }));
  const [a, b] = [np.split(x, 2, 2), np.split(x, 2, { axis: 2 })];
  for (let i = 0; i < 2; i++) await same(a[i], b[i]);
  const idx = np.argsort(x, { axis: 1 });
  await same(np.takeAlongAxis(x, idx, 1), np.takeAlongAxis(x, idx, { axis: 1 }));
  assertEquals(np.concatenate([x, x], { axis: 2 }).shape, [2, 3, 8]);
});

Deno.test("functions along an axis take { axis } and say so when given a bare number", async () => {
  assertEquals(np.sum(x, { axis: 1 }).shape, [2, 4]);
  for (
    const [op, f] of [
      ["sum", () => np.sum(x, 1 as never)],
      ["cumsum", () => np.cumsum(x, 1 as never)],
      ["argmax", () => np.argmax(x, 1 as never)],
    ] as const
  ) {
    assertThrows(f, TypeError, `${op}: expected an options object { axis`);
  }
  // softmax keeps the bare axis of old code (the overload is marked deprecated)
  await same(nn.softmax(x, 1), nn.softmax(x, { axis: 1 }));
});

Deno.test("an options object with another key is an error naming the op", () => {
  assertThrows(() => np.concatenate([x, x], { dim: 1 } as never), TypeError, "concatenate");
  assertThrows(() => np.stack([x], { axes: 0 } as never), TypeError, "unknown option 'axes'");
  assertThrows(() => np.expandDims(x, {} as never), TypeError, "expandDims: the axis is required");
});
