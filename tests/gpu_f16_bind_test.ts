/**
 * Binding f16 storage straight into f32 kernels (gpu/kernels/f16_bind.ts): which bindings the
 * rewrite follows and which keep their f32 temporaries, and that convolutions (both GEMM
 * forms, and their gradients' forms), reductions and movement ops on f16 storage run without
 * widening or rounding passes. Plans only: no device needed.
 */
import { assert, assertEquals } from "@std/assert";
import { ShapedArray } from "../core/aval.ts";
import type { Params } from "../core/primitive.ts";
import { type F16Ctx, f16StoragePlan, f32Ctx } from "../gpu/f16_eager.ts";
import { halfBindKernel, halfStoragePlan } from "../gpu/kernels/f16_bind.ts";
import { inp, type Kernel, out, type Plan, single, tmp } from "../gpu/kernels/common.ts";
import type { GemmCaps } from "../gpu/kernels/gemm.ts";
import { convOutShape } from "../gpu/kernels/conv.ts";
import { LOWERINGS } from "../gpu/lowerings.ts";

const TEXTURE_CAPS: GemmCaps = {
  textures: true,
  maxTextureDimension2D: 8192,
  maxTextureArrayLayers: 256,
};
const SHARED_CAPS: GemmCaps = { ...TEXTURE_CAPS, textures: false };

const kernel = (wgsl: string, n = 2): Kernel => ({
  wgsl,
  workgroupSize: [64, 1, 1],
  dispatch: [1, 1, 1],
  bindings: [...Array.from({ length: n - 1 }, (_, k) => inp(k)), out(0)],
});
const decl = (k: number, name: string, access: string, t = "f32") =>
  `@group(0) @binding(${k}) var<storage, ${access}> ${name}: array<${t}>;`;

Deno.test("halfBindKernel widens reads and rounds stores, past shadowing helpers", () => {
  const src = `${decl(0, "a", "read")}
${decl(1, "o", "read_write")}
fn mix(a: u32, b: u32) -> u32 { return a ^ b; }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = mix(g.x, 1u);
  if (i < 8u) { o[i] = a[i] * 2.0 + a[min(i + 1u, 7u)]; }
}`;
  const k = halfBindKernel(kernel(src), () => true, false);
  assert(typeof k !== "string");
  assert(k.wgsl.startsWith("enable f16;\n"));
  assert(k.wgsl.includes("var<storage, read> a: array<f16>;"));
  assert(k.wgsl.includes("var<storage, read_write> o: array<f16>;"));
  assert(k.wgsl.includes("o[i] = f16(round_f16(f32(a[i]) * 2.0 + f32(a[min(i + 1u, 7u)])));"));
  assert(k.wgsl.includes("fn mix(a: u32, b: u32) -> u32 { return a ^ b; }"), "the helper's a");
  assert(k.wgsl.includes("fn round_f16(x: f32) -> f32"));
  // exact results (values moved, not computed) are stored without the rounding
  const e = halfBindKernel(kernel(src), () => true, true);
  assert(typeof e !== "string" && e.wgsl.includes("o[i] = f16(f32(a[i]) * 2.0"));
  // vec4 bindings keep their indices: four elements an entry either way
  const v = halfBindKernel(
    kernel(`${decl(0, "a", "read", "vec4<f32>")}
${decl(1, "o", "read_write", "vec4<f32>")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { o[g.x] = a[g.x] + 1.0; }`),
    () => true,
    false,
  );
  assert(typeof v !== "string");
  assert(v.wgsl.includes("a: array<vec4<f16>>") && v.wgsl.includes("o: array<vec4<f16>>"));
  assert(v.wgsl.includes("o[g.x] = vec4<f16>(round_f16x4(vec4<f32>(a[g.x]) + 1.0));"));
});

Deno.test("halfBindKernel names the binding it cannot follow", () => {
  const body = (stmt: string) =>
    kernel(`${decl(0, "a", "read")}
${decl(1, "o", "read_write")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { ${stmt} }`);
  const bind = (k: Kernel) => halfBindKernel(k, () => true, false);
  assertEquals(bind(body("o[g.x] = o[g.x] + a[g.x];")), "out0", "a result read back");
  assertEquals(bind(body("o[g.x] += a[g.x];")), "out0", "a compound assignment");
  assertEquals(bind(body("let p = &a; o[g.x] = (*p)[g.x];")), "in0", "a pointer");
  assertEquals(
    bind(kernel(`${decl(0, "a", "read")}
${decl(1, "o", "read_write")}
fn f(a: vec4<f32>) -> f32 { return a[0]; }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { o[g.x] = a[g.x]; }`)),
    "in0",
    "a shadowing parameter indexed",
  );
  assertEquals(
    bind(kernel(`${decl(0, "a", "read", "u32")}
${decl(1, "o", "read_write")}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { o[g.x] = bitcast<f32>(a[g.x]); }`)),
    "in0",
    "an operand read as bits",
  );
  // bindings that are not f16 storage are left alone
  const k = body("o[g.x] = o[g.x] + a[g.x];");
  assertEquals(halfBindKernel(k, (r) => r.kind === "in", false) !== "in0", true);
  assertEquals(halfBindKernel(k, () => false, false), k);
});

Deno.test("halfStoragePlan keeps f32 temporaries only for the slots the rewrite cannot bind", () => {
  const copyOut: Plan = {
    steps: [
      {
        kind: "dispatch",
        kernel: {
          ...kernel(`${decl(0, "a", "read")}
${
            decl(1, "o", "read_write")
          }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) { o[g.x] = a[g.x] * 3.0; }`),
          bindings: [inp(0), tmp(0)],
        },
      },
      { kind: "copy", src: tmp(0), dst: out(0), bytes: 40 },
    ],
    temps: [40],
  };
  const p = halfStoragePlan(copyOut, [{ n: 10, half: true }], [{ n: 10, half: true }]);
  // the operand is read as f16; the result, copied from an f32 temporary, is rounded after
  assertEquals(p.temps, [40, 40]);
  assertEquals(p.steps.length, 3);
  const k0 = p.steps[0];
  assert(k0.kind === "dispatch" && k0.kernel.wgsl.includes("a: array<f16>"));
  // a copy between two f16 slots moves half the bytes
  const moved = halfStoragePlan(
    { steps: [{ kind: "copy", src: inp(0), dst: out(0), bytes: 36 }], temps: [] },
    [{ n: 9, half: true }],
    [{ n: 9, half: true }],
    true,
  );
  assertEquals(moved, {
    steps: [{ kind: "copy", src: inp(0), dst: out(0), bytes: 20 }],
    temps: [],
    textures: undefined,
  });
  // a texture upload of an f16 operand widens it first
  const up = halfStoragePlan(
    {
      steps: [{ kind: "toTexture", src: inp(0), dst: { kind: "tex", index: 0 }, bytesPerRow: 256 }],
      temps: [],
      textures: [{ width: 16, height: 1, layers: 1, format: "rgba32float" }],
    },
    [{ n: 64, half: true }],
    [],
  );
  assertEquals(up.temps, [256]);
  const s1 = up.steps[1];
  assert(s1.kind === "toTexture" && s1.src.kind === "tmp");
  assertEquals(single(kernel("")).temps, []);
});

/** The f16-storage plan of `prim` and its f32 plan, on `caps`. */
function plans(
  prim: keyof typeof LOWERINGS,
  ins: number[][],
  outs: [number[], "f16" | "i32"][],
  params: Params,
  caps: GemmCaps,
): [Plan, Plan] {
  const c: F16Ctx = {
    ins: ins.map((s) => new ShapedArray(s, "f16")),
    outs: outs.map(([s, d]) => new ShapedArray(s, d)),
    params,
  };
  const lower = (x: F16Ctx) => LOWERINGS[prim]({ ...x, gemm: caps });
  return [f16StoragePlan(prim, c, lower, caps), lower(f32Ctx(prim, c))];
}

/** Conv params, and the output shape of `lhs` and `rhs` under them. */
function conv(
  lhs: number[],
  rhs: number[],
  o: {
    strides?: number[];
    pad?: number;
    lhsDil?: number[];
    rhsDil?: number[];
    fg?: number;
    bg?: number;
  },
): [number[][], [number[], "f16"][], Params] {
  const p = {
    windowStrides: o.strides ?? [1, 1],
    padding: [[o.pad ?? 0, o.pad ?? 0], [o.pad ?? 0, o.pad ?? 0]] as [number, number][],
    lhsDilation: o.lhsDil ?? [1, 1],
    rhsDilation: o.rhsDil ?? [1, 1],
    featureGroupCount: o.fg ?? 1,
    batchGroupCount: o.bg ?? 1,
  };
  return [[lhs, rhs], [[convOutShape(lhs, rhs, p), "f16"]], p];
}

Deno.test("conv, its gradients' forms, reductions and movement bind f16 storage directly", () => {
  type Case = [string, keyof typeof LOWERINGS, number[][], [number[], "f16" | "i32"][], Params];
  const cv = "conv_general_dilated";
  const cases: Case[] = [
    ["conv", cv, ...conv([2, 16, 9, 9], [8, 16, 3, 3], { strides: [2, 2], pad: 1 })],
    // the input gradient of a strided convolution: lhs-dilated
    ["conv, lhs dilation", cv, ...conv([2, 8, 5, 5], [16, 8, 3, 3], { lhsDil: [2, 2], pad: 2 })],
    // the kernel gradient of a strided convolution: rhs-dilated, batch and features swapped
    ["conv, rhs dilation", cv, ...conv([16, 2, 9, 9], [8, 2, 5, 5], { rhsDil: [2, 2], pad: 1 })],
    ["conv, batch groups", cv, ...conv([4, 3, 5, 5], [6, 3, 3, 3], { bg: 2 })],
    ["depthwise conv", cv, ...conv([2, 8, 9, 9], [8, 1, 3, 3], { fg: 8, pad: 1 })],
    ["reduce_sum", "reduce_sum", [[40, 300]], [[[40], "f16"]], { axes: [1] }],
    ["reduce_max", "reduce_max", [[40, 300]], [[[300], "f16"]], { axes: [0] }],
    ["argmax", "argmax", [[40, 300]], [[[40], "i32"]], { axis: 1, indexDtype: "i32" }],
    ["transpose", "transpose", [[40, 300]], [[[300, 40], "f16"]], { perm: [1, 0] }],
  ];
  for (const caps of [TEXTURE_CAPS, SHARED_CAPS]) {
    for (const [what, prim, ins, outs, params] of cases) {
      const label = `${what} (${caps.textures ? "texture" : "shared"} GEMM)`;
      const [half, f32] = plans(prim, ins, outs, params, caps);
      assertEquals(half.temps, f32.temps, `${label}: no f32 temporaries of operands or results`);
      assertEquals(half.steps.length, f32.steps.length, `${label}: no widening or rounding pass`);
      let bound = 0;
      for (const s of half.steps) {
        if (s.kind !== "dispatch") continue;
        s.kernel.bindings.forEach((r, k) => {
          const f16 = r.kind === "in" || (r.kind === "out" && outs[r.index][1] === "f16");
          if (!f16) return;
          bound++;
          const m = new RegExp(
            `@binding\\(${k}\\)\\s*var<storage,[^>]*>\\s*\\w+\\s*:\\s*array<([^;]*)>;`,
          )
            .exec(s.kernel.wgsl);
          assert(m && /^(vec4<)?f16>?$/.test(m[1]), `${label}: binding ${k} is ${m?.[1]}`);
        });
      }
      assert(bound >= ins.length, `${label}: the f16 slots are bound`);
    }
  }
});
