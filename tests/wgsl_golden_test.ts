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
import { compileGraph } from "../gpu/jit/compile.ts";
import { flatten } from "../gpu/jit/graph.ts";
import type { Program } from "../gpu/jit/program.ts";
import { lax, makeJaxpr, np, type Tensor } from "../mod.ts";
import { f16StoragePlan } from "../gpu/f16_eager.ts";
import { LOWERINGS } from "../gpu/lowerings.ts";
import { f16StorageJaxpr } from "../core/f16_jit.ts";
import { ShapedArray } from "../core/aval.ts";

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

/** The dispatches of a jitted program, as text. */
function printProgram(p: Program): string {
  const parts: string[] = [];
  for (const op of p.ops) {
    if (op.kind !== "dispatch") {
      parts.push(`// ${op.kind}`);
      continue;
    }
    parts.push(
      `// ${op.label}${op.fused ? " (fused)" : ""}: grid ${op.grid.join("x")}, ` +
        `${op.bindings.length} bindings${op.note ? `; ${op.note}` : ""}`,
      op.wgsl.trimEnd(),
    );
  }
  return parts.join("\n") + "\n";
}

/** `f` traced on zeros of `shapes`, compiled by the jit for `caps` (no device needed). */
function jitProgram(f: (...xs: Tensor[]) => Tensor, shapes: number[][], caps: GemmCaps): Program {
  const cj = makeJaxpr(f)(...shapes.map((s) => np.zeros(s)));
  return compileGraph(flatten(cj.jaxpr), { gemm: caps, maxBindings: 8 });
}

async function golden(name: string, plan: Plan | Program): Promise<void> {
  const text = "ops" in plan ? printProgram(plan) : printPlan(plan);
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

Deno.test("a jitted matmul + bias + relu's WGSL matches its golden file", async () => {
  const f = (x: Tensor, w: Tensor, b: Tensor) => np.maximum(np.matmul(x, w).add(b), 0);
  await golden("jit_matmul_bias_relu", jitProgram(f, [[33, 65], [65, 17], [17]], SHARED_CAPS));
});

Deno.test("a jitted elementwise chain's WGSL matches its golden file", async () => {
  const f = (x: Tensor, y: Tensor) => np.tanh(x.mul(y).add(1)).sub(y.reshape([1, 7]));
  await golden("jit_elementwise", jitProgram(f, [[5, 7], [7]], SHARED_CAPS));
});

Deno.test("a jitted split-K matmul + bias + relu and a conv + bias match their golden files", async () => {
  const f = (x: Tensor, w: Tensor, b: Tensor) => np.maximum(np.matmul(x, w).add(b), 0);
  await golden("jit_split_k_bias_relu", jitProgram(f, [[3, 20000], [20000, 5], [5]], SHARED_CAPS));
  const g = (x: Tensor, w: Tensor, b: Tensor) =>
    lax.convGeneralDilated(x, w, { padding: "SAME", windowStrides: [2, 1] }).add(
      b.reshape([1, 5, 1, 1]),
    );
  await golden("jit_conv_bias", jitProgram(g, [[2, 3, 9, 7], [5, 3, 3, 3], [5]], SHARED_CAPS));
});

Deno.test("f16 storage kernels and a jitted f16 chain match their golden files", async () => {
  const h = (...shape: number[]) => new ShapedArray(shape, "f16");
  const eager = (
    prim: keyof typeof LOWERINGS,
    ins: ShapedArray[],
    outs: ShapedArray[],
    params = {},
  ) =>
    f16StoragePlan(
      prim,
      { ins, outs, params },
      (c) => LOWERINGS[prim]({ ...c, gemm: TEXTURE_CAPS }),
      TEXTURE_CAPS,
    );
  await golden("f16_add", eager("add", [h(10), h(10)], [h(10)]));
  await golden("f16_reduce_sum", eager("reduce_sum", [h(4, 100)], [h(4)], { axes: [1] }));
  await golden(
    "f16_matmul_texture",
    eager("dot_general", [h(33, 65), h(65, 17)], [h(33, 17)], MATMUL),
  );
  const f = (x: Tensor) => np.tanh(x.mul(1.5).add(0.25)).mul(x);
  const j = f16StorageJaxpr(makeJaxpr(f)(np.zeros([5, 7], "f16")).jaxpr)!;
  await golden("jit_f16_chain", compileGraph(flatten(j), { gemm: SHARED_CAPS, maxBindings: 8 }));
});
