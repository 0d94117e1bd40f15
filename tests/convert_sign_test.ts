/**
 * Special values through `sign` and float-to-int `convert` agree on every backend with the
 * reference (and XLA): `sign` keeps −0 and NaN, conversion truncates toward zero, saturates at
 * both ends of i32 / u32 and sends NaN to 0 — eagerly, from f16, and inside a fused `jit`.
 * (WebGPU's own conversion clamps to 2147483520 and leaves NaN unspecified; its `sign(-0.0)` is
 * +0.0.)
 */
import { BACKEND } from "./backend.ts";
import { assertEquals } from "@std/assert";
import { jit, np, type Tensor } from "../mod.ts";

const VALUES = [-0, 0, NaN, -2.5, 2.75, 3e10, -3e10, Infinity, -Infinity, 2147483648, -1];
const SIGN = ["-0", "0", "NaN", "-1", "1", "1", "-1", "1", "-1", "1", "-1"];
const I32 = [0, 0, 0, -2, 2, 2147483647, -2147483648, 2147483647, -2147483648, 2147483647, -1];
const U32 = [0, 0, 0, 0, 2, 4294967295, 0, 4294967295, 0, 2147483648, 0];

const show = (v: number) => Object.is(v, -0) ? "-0" : String(v);
const read = async (t: Tensor) => Array.from(await t.data() as ArrayLike<number>);

for (const n of [VALUES.length, 8]) { // 11: the scalar path; 8: the four-lane path
  const x = () => np.array(VALUES.slice(0, n), { dtype: "f32" });
  Deno.test(`[${BACKEND}] sign keeps -0 and NaN (${n} values)`, async () => {
    assertEquals((await read(np.sign(x()))).map(show), SIGN.slice(0, n));
  });
  Deno.test(`[${BACKEND}] f32 to i32 and u32 truncates, saturates and sends NaN to 0 (${n} values)`, async () => {
    assertEquals(await read(x().astype("i32")), I32.slice(0, n));
    assertEquals(await read(x().astype("u32")), U32.slice(0, n));
  });
  Deno.test(`[${BACKEND}] the same special values under jit (${n} values)`, async () => {
    const f = jit((a: Tensor) => {
      const b = a.mul(1); // a fused chain, not a bare convert
      return [np.sign(b), b.astype("i32"), b.astype("u32")];
    });
    const [s, i, u] = f(x());
    assertEquals((await read(s)).map(show), SIGN.slice(0, n));
    assertEquals(await read(i), I32.slice(0, n));
    assertEquals(await read(u), U32.slice(0, n));
  });
}

Deno.test(`[${BACKEND}] f16 to i32 saturates and sends NaN to 0`, async () => {
  // 3e10, ±Infinity and 2^31 round to ±Infinity in f16; 2.75 and −2.5 are exact
  const h = np.array(VALUES, { dtype: "f32" }).astype("f16");
  assertEquals(await read(h.astype("i32")), I32);
});
