/**
 * The texture multiplies' tile stores (`gpu/kernels/conv_store.ts`): one store statement in
 * loops over the tile, the accumulators picked by selects, which must store what one statement
 * per element would.
 */
import { BACKEND, withCpu } from "./backend.ts";
import { assert, assertAllClose, assertEquals } from "@std/assert";
import { jit, np, type Tensor } from "../mod.ts";
import { convGeneralDilated } from "../core/lax_conv.ts";
import { lastCompiled } from "../gpu/jit/mod.ts";
import {
  lightStore,
  linOnlyStore,
  swapStore,
  tileStores,
  vecAccumulators,
} from "../gpu/kernels/conv_store.ts";
import { convTexturePlan } from "../gpu/kernels/conv_texture.ts";
import { activeProfile } from "../gpu/target.ts";

function data(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s >>> 8) / 2 ** 24 - 0.5;
  });
}

/** The occurrences of `sub` in `s`. */
const count = (s: string, sub: string) => s.split(sub).length - 1;

Deno.test("tile stores write one store statement and select every accumulator", () => {
  for (const [TM, TN] of [[4, 4], [7, 8], [3, 6], [1, 5], [24, 8]]) {
    const acc = vecAccumulators(TM, TN, "f32");
    const st = tileStores("TX", TM, TN, acc.vec, (i, n, v) => `put(${i}, ${n}, ${v});`).join("\n");
    // one store statement per loop of at most 8 rows
    assertEquals(count(st, "put("), Math.ceil(TM / 8), `${TM} × ${TN}`);
    for (let i = 0; i < TM; i++) {
      for (let j = 0; j < Math.ceil(TN / 4); j++) {
        assertEquals(count(st, `c${i}_${j}`), 1, `${TM} × ${TN}: c${i}_${j}`);
      }
    }
    // the trip counts are not constants (Mesa would unroll the loops back)
    assert(st.includes(`select(${Math.min(TM, 8)}u, 0u, textureDimensions(TX).x == 0u)`));
    assert(st.includes(`select(${TN}u, 0u, textureDimensions(TX).x == 0u)`));
    // a last quad of TN − 4·⌊TN/4⌋ columns is a narrower vector (or a scalar), widened to store
    const w = TN % 4;
    if (w) {
      const last = `c0_${Math.floor(TN / 4)}`;
      assert(acc.decls.includes(`var ${last} = ${w === 1 ? "f32" : `vec${w}<f32>`}();`));
      assertEquals(acc.swizzle(Math.floor(TN / 4)), `.${"xyzw".slice(0, w)}`);
      assert(acc.vec(0, Math.floor(TN / 4)).startsWith(`vec4<f32>(${last}, f32(0)`));
    }
  }
  // light stores: the columns written out in each loop over the rows (no dynamic lane)
  const light = tileStores(
    "TX",
    12,
    6,
    vecAccumulators(12, 6, "f32").vec,
    (i, n, v) => `put(${i}, ${n}, ${v});`,
    { light: true },
  ).join("\n");
  assertEquals(count(light, "put("), 2 * 6);
  assert(light.includes("put((ti + 8u), nb + 5u, tr1.y);") && !light.includes("tv["), light);
  assert(lightStore("fn storeC(g: u32, m: u32, n: u32, v: f32) {\n  o[lin] = max(v, 0.0);\n}"));
  assert(!lightStore("fn storeC(g: u32, m: u32, n: u32, v: f32) {\n  o[lin] = v + x0[n];\n}"));
  // quads: one loop over the column quads around one over the rows, the quad's statements once
  const acc = vecAccumulators(4, 12, "f32");
  const st = tileStores(
    "TA",
    4,
    12,
    acc.vec,
    (i, n, v) => `put4(${i}, ${n}, ${v}, cs);`,
    { quads: true, colPre: (n) => [`let cs = colC4(${n});`] },
  ).join("\n");
  assertEquals(count(st, "put4("), 1);
  assertEquals(count(st, "colC4(nb + tc * 4u)"), 1);
  assert(st.indexOf("for (var tc") < st.indexOf("colC4(") && st.includes("select(3u, 0u"));
});

Deno.test("a jitted conv with a batch-norm-like epilogue stores its tiles by a loop, right", async () => {
  // 1 × 1 kernels: one kernel position, so the multiply runs unsplit (split sums store apart)
  for (const [xs, ws] of [[[8, 64, 4, 4], [128, 64, 1, 1]], [[4, 8, 16, 16], [24, 8, 1, 1]]]) {
    const O = ws[0], pad = (ws[2] - 1) / 2;
    const xd = data(xs.reduce((a, b) => a * b), 1), wd = data(ws.reduce((a, b) => a * b), 2);
    const sd = data(O, 3), bd = data(O, 4);
    const f = (x: Tensor, w: Tensor, s: Tensor, b: Tensor) =>
      np.maximum(
        convGeneralDilated(x, w, { padding: [[pad, pad], [pad, pad]] })
          .mul(s.reshape([1, O, 1, 1])).add(b.reshape([1, O, 1, 1])),
        0,
      );
    const args = () =>
      [np.array(xd).reshape(xs), np.array(wd).reshape(ws), np.array(sd), np.array(bd)] as const;
    const want = await withCpu(() => f(...args()).data());
    const got = await jit(f)(...args()).data();
    assertAllClose(Array.from(got), Array.from(want), { rtol: 1e-4, atol: 1e-4 });
    if (BACKEND === "webgpu" && activeProfile().name !== "gpu") {
      const multiply = lastCompiled()!.program.ops.find((o) =>
        o.kind === "dispatch" && o.wgsl.includes("textureLoad(TX")
      );
      assert(multiply?.kind === "dispatch", `${xs} * ${ws} runs a texture multiply`);
      // one store statement per loop of at most 8 rows
      const loops = count(multiply.wgsl, "for (var ti = 0u; ti < tsr");
      assert(loops >= 1 && count(multiply.wgsl, "storeC(gr") === loops, `${xs} * ${ws}`);
    }
  }
});

Deno.test("a conv epilogue at lin alone is recognised, also stored swapped", () => {
  const sgd = ["let v0 = o[lin];", "let t1 = (v0 + v * 0.5);", "o[lin] = t1;"];
  assertEquals(linOnlyStore(sgd, 12, 5, 9), { body: sgd, swap: false });
  assertEquals(linOnlyStore(swapStore([12, 5, 3, 3], sgd), 12, 5, 9), { body: sgd, swap: true });
  // swapped with other sizes, or an index besides lin: not at lin alone
  assertEquals(linOnlyStore(swapStore([12, 6, 3, 3], sgd), 12, 5, 9), null);
  assertEquals(linOnlyStore(["let v0 = x0[lin / 9u % 12u];", "o[lin] = v + v0;"], 12, 5, 9), null);
  assertEquals(linOnlyStore(["o[lin] = v * f32(lin % 3u);"], 12, 5, 9), null);
});

Deno.test("a split multiply stores its partial sums four features at a time, right", async () => {
  // 392 rows × 64 features in 26 workgroups: the kernel positions split in two
  const xs = [8, 64, 7, 7], ws = [64, 64, 3, 3];
  const p = {
    windowStrides: [1, 1],
    padding: [[1, 1], [1, 1]] as [number, number][],
    lhsDilation: [1, 1],
    rhsDilation: [1, 1],
    featureGroupCount: 1,
    batchGroupCount: 1,
  };
  const lim = { maxTextureDimension2D: 8192, maxTextureArrayLayers: 256 };
  const plan = convTexturePlan("f32", xs, ws, [8, 64, 7, 7], p, lim, ["o[lin] = v;"])!;
  const multiply = plan.steps[2].kind === "dispatch" ? plan.steps[2].kernel.wgsl : "";
  assertEquals(plan.steps.length, 4, "split, with a pass adding the partial sums");
  assert(multiply.includes("o: array<vec4<f32>>") && count(multiply, "] = tv;") === 1, multiply);
  // 6 features: not a multiple of 4, one at a time
  const six = convTexturePlan("f32", xs, [6, 64, 3, 3], [8, 6, 7, 7], p, lim, ["o[lin] = v;"])!;
  const m6 = six.steps[2].kind === "dispatch" ? six.steps[2].kernel.wgsl : "";
  assert(six.steps.length === 4 && m6.includes("o: array<f32>"), m6);
  for (const w of [ws, [6, 64, 3, 3]]) {
    const xd = data(8 * 64 * 49, 5), wd = data(w.reduce((a, b) => a * b), 6);
    const f = (x: Tensor, k: Tensor) => convGeneralDilated(x, k, { padding: [[1, 1], [1, 1]] });
    const args = () => [np.array(xd).reshape(xs), np.array(wd).reshape(w)] as const;
    const want = await withCpu(() => f(...args()).data());
    const got = await f(...args()).data();
    assertAllClose(Array.from(got), Array.from(want), { rtol: 1e-4, atol: 1e-4 });
  }
});
