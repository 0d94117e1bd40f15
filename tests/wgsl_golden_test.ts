/**
 * Generated WGSL is golden: the kernels of a few plans, built for a fixed capabilities object
 * (so the files do not depend on the machine's adapter), are compared with the files under
 * tests/testdata/wgsl/; `UPDATE=1 deno test -A tests/wgsl_golden_test.ts` rewrites them, and
 * they are reviewed like code, so that a change in code generation shows in review.
 */
import { assertEquals } from "@std/assert";
import type { Plan } from "../gpu/kernels/common.ts";
import type { GemmCaps } from "../gpu/kernels/gemm.ts";
import { dotGeneralPlan } from "../gpu/kernels/dot.ts";
import { type ConvParams, convPlan } from "../gpu/kernels/conv.ts";
import { reducePlan } from "../gpu/kernels/reduce.ts";
import { cumulativePlan } from "../gpu/kernels/cumulative.ts";

const UPDATE = Deno.env.get("UPDATE") === "1";

/** A CPU adapter's GEMM capabilities (texture GEMM), pinned. */
const TEXTURE_CAPS: GemmCaps = {
  textures: true,
  maxTextureDimension2D: 8192,
  maxTextureArrayLayers: 256,
};
/** A discrete GPU's GEMM capabilities (workgroup-memory GEMM), pinned. */
const SHARED_CAPS: GemmCaps = { ...TEXTURE_CAPS, textures: false };

/** Every step of a plan, as text: kernels with their launch shape and bindings. */
function printPlan(plan: Plan): string {
  const parts = [`temps: ${JSON.stringify(plan.temps)}`];
  if (plan.textures) parts.push(`textures: ${JSON.stringify(plan.textures)}`);
  plan.steps.forEach((st, i) => {
    if (st.kind !== "dispatch") {
      parts.push(`// step ${i}: ${JSON.stringify(st)}`);
      return;
    }
    const k = st.kernel;
    parts.push(
      `// step ${i}: workgroup ${k.workgroupSize.join("x")}, dispatch ${k.dispatch.join("x")}, ` +
        `bindings ${k.bindings.map((b) => `${b.kind}${b.index}`).join(" ")}`,
      k.wgsl.trimEnd(),
    );
  });
  return parts.join("\n") + "\n";
}

async function golden(name: string, plan: Plan): Promise<void> {
  const text = printPlan(plan);
  const path = new URL(`./testdata/wgsl/${name}.wgsl`, import.meta.url);
  if (UPDATE) {
    await Deno.writeTextFile(path, text);
    return;
  }
  const want = await Deno.readTextFile(path);
  assertEquals(text, want, `golden file ${name}.wgsl differs (rerun with UPDATE=1 after review)`);
}

const MATMUL = { contracting: [[1], [0]], batch: [[], []] } as const;

Deno.test("an eager matmul's WGSL matches its golden file (texture and workgroup GEMMs)", async () => {
  await golden("matmul_texture", dotGeneralPlan("f32", [33, 65], [65, 17], MATMUL, TEXTURE_CAPS));
  await golden("matmul_shared", dotGeneralPlan("f32", [33, 65], [65, 17], MATMUL, SHARED_CAPS));
});

Deno.test("a split-K GEMM's WGSL (contraction 20000) matches its golden file", async () => {
  await golden(
    "matmul_split_k",
    dotGeneralPlan("f32", [3, 20000], [20000, 5], MATMUL, SHARED_CAPS),
  );
});

Deno.test("a convolution's WGSL matches its golden file", async () => {
  const p: ConvParams = {
    windowStrides: [2, 1],
    padding: [[1, 1], [1, 1]],
    lhsDilation: [1, 1],
    rhsDilation: [1, 1],
    featureGroupCount: 1,
    batchGroupCount: 1,
  };
  await golden("conv_fwd", convPlan("f32", [2, 3, 9, 7], [5, 3, 3, 3], p, SHARED_CAPS));
});

Deno.test("a reduction's and a long cumsum's WGSL match their golden files", async () => {
  await golden("reduce_sum", reducePlan("reduce_sum", "f32", [4, 100000], [1]));
  await golden("cumsum_long", cumulativePlan("cumsum", "f32", [70000], 0, false));
});
