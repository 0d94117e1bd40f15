/**
 * Rounding f32 storage to f16 values on the GPU (see core/f16.ts: f16 arrays are f32 storage,
 * and `convert` with `dtype: "f16"` rounds). The rounding works on the f32 bits with integer
 * operations, so it is exact, ties to even, and the same on every adapter, with or without the
 * `shader-f16` feature (WGSL's own f32 → f16 conversion leaves the rounding direction and the
 * out-of-range result to the implementation).
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import {
  type BufRef,
  ELEMENTWISE_WG,
  foldGrid,
  Helpers,
  inp,
  out,
  type Plan,
  single,
  type Step,
  storageType,
  tmp,
  u,
} from "./common.ts";
import { convertExpr, type LaneCaps, lanewisePlan } from "./elementwise.ts";

/**
 * The WGSL function `round_f16(x: f32) -> f32`: the nearest f16 value (ties to even), ±Infinity
 * at or beyond ±65520, NaN and infinities kept, subnormal f16 results exact (f32 subnormal
 * operands, which a device may flush, round to ±0 either way).
 */
export const ROUND_F16_WGSL: string = `fn round_f16(x: f32) -> f32 {
  let b = bitcast<u32>(x);
  let s = b & 0x80000000u;
  let a = b & 0x7fffffffu;
  if (a >= 0x7f800000u) { return x; }
  if (a >= 0x477ff000u) { return bitcast<f32>(s | 0x7f800000u); }
  if (a < 0x38800000u) {
    // below the smallest normal f16 (2^-14): a multiple of 2^-24, rounded half to even
    let m = round(bitcast<f32>(a) * 16777216.0) * 5.9604644775390625e-8;
    return bitcast<f32>(s | bitcast<u32>(m));
  }
  // normal: drop 13 of the 23 mantissa bits, ties to even (a carry moves into the exponent)
  let r = (a + 0xfffu + ((a >> 13u) & 1u)) & 0xffffe000u;
  return bitcast<f32>(s | r);
}`;

/**
 * The WGSL expression of `x` (of dtype `from`) converted to f32 and rounded to f16.
 *
 * @param from The operand's dtype.
 * @param x The operand expression.
 * @param h The kernel's helper functions (`round_f16` is added).
 * @returns The expression, an f32.
 */
export function roundF16Expr(from: DType, x: string, h: Helpers): string {
  h.add(ROUND_F16_WGSL);
  return `round_f16(${convertExpr(from, "f32", x, h)})`;
}

/**
 * `convert` to f16 of `n` elements of dtype `from` (f32 storage for f16 values): input 0 →
 * output 0, f32.
 *
 * @param from The operand's dtype.
 * @param n The element count.
 * @param caps Device capabilities.
 * @returns The plan.
 */
export function roundF16Plan(from: DType, n: number, caps?: LaneCaps): Plan {
  return lanewisePlan([from], "f32", n, ([x], h) => roundF16Expr(from, x, h), caps);
}

/** An operand or result of {@link halfLanewisePlan}: its dtype, and whether it is 2-byte f16. */
export interface LaneSlot {
  /** The dtype the expression sees (`f32` for f16 values, which compute in f32). */
  readonly dtype: DType;
  /** Stored as f16 (2 bytes an element): read widened to f32, written rounded to f16. */
  readonly half: boolean;
}

/**
 * A plan computing `expr` element by element over `n` elements where some operands, or the
 * result, are f16 storage (`array<vec4<f16>>`, 2 bytes an element; needs `shader-f16`): f16
 * operands are read as f32 (exact), the expression computes in f32, and an f16 result is
 * rounded with `round_f16` (exact integer rounding, ties to even) before the f32 → f16
 * conversion, which is then exact (WGSL leaves the rounding of an inexact one to the
 * implementation). Each invocation handles four elements; f16 buffers are read and written
 * as whole `vec4<f16>`s (the pool's buckets are multiples of 8 bytes), other operands lane by
 * lane. Inputs 0 … k-1 → output 0.
 *
 * @param ins The operands.
 * @param res The result.
 * @param n The element count.
 * @param expr The WGSL expression of one element from the operands' element expressions.
 * @returns The plan.
 */
export function halfLanewisePlan(
  ins: readonly LaneSlot[],
  res: LaneSlot,
  n: number,
  expr: (xs: readonly string[], h: Helpers) => string,
): Plan {
  const h = new Helpers();
  const q = Math.ceil(n / 4), last = u(Math.max(n - 1, 0));
  // 32-bit operands are read (and a 32-bit result written) as vec4s too when n allows
  const vec = n % 4 === 0;
  const decl = (k: number, name: string, s: LaneSlot, access: string) =>
    `@group(0) @binding(${k}) var<storage, ${access}> ${name}: array<${
      s.half ? "vec4<f16>" : vec ? `vec4<${storageType(s.dtype)}>` : storageType(s.dtype)
    }>;`;
  const decls = ins.map((s, k) => decl(k, `a${k}`, s, "read"));
  decls.push(decl(ins.length, "o", res, "read_write"));
  const loads = ins.map((s, k) =>
    s.half
      ? `let v${k} = vec4<f32>(a${k}[q]);`
      : vec
      ? `let v${k} = a${k}[q];`
      : `let v${k} = vec4<${storageType(s.dtype)}>(${
        [0, 1, 2, 3].map((l) => `a${k}[min(b + ${u(l)}, ${last})]`).join(", ")
      });`
  );
  const lanes = [0, 1, 2, 3].map((l) => expr(ins.map((_, k) => `v${k}[${l}]`), h));
  let store: string;
  if (res.half) {
    h.add(ROUND_F16_WGSL);
    store = `o[q] = vec4<f16>(vec4<f32>(${lanes.map((e) => `round_f16(${e})`).join(", ")}));`;
  } else if (vec) {
    store = `o[q] = vec4<${storageType(res.dtype)}>(${lanes.join(", ")});`;
  } else {
    store = lanes.map((e, l) => `if (b + ${u(l)} < ${u(n)}) { o[b + ${u(l)}] = ${e}; }`)
      .join("\n  ");
  }
  const grid = foldGrid(Math.ceil(q / ELEMENTWISE_WG));
  const wgsl = `enable f16;
${decls.join("\n")}
${h}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = ${grid.flatGroup} * ${u(ELEMENTWISE_WG)} + lid;
  if (q >= ${u(q)}) { return; }
  let b = q * 4u;
  ${loads.join("\n  ")}
  ${store}
}
`;
  const bindings = [...ins.map((_, k) => inp(k)), out(0)];
  return single({
    wgsl,
    workgroupSize: [ELEMENTWISE_WG, 1, 1],
    dispatch: grid.dispatch,
    bindings,
  });
}

/**
 * Widens `n` f16 values (2-byte storage) to f32 storage, exactly: input 0 → output 0.
 *
 * @param n The element count.
 * @returns The plan.
 */
export function widenF16Plan(n: number): Plan {
  return halfLanewisePlan([{ dtype: "f32", half: true }], { dtype: "f32", half: false }, n, (
    [x],
  ) => x);
}

/**
 * Rounds `n` f32 values (of dtype `from`, 32-bit storage) to f16 storage (2 bytes an element),
 * to nearest, ties to even: input 0 → output 0.
 *
 * @param from The operand's dtype.
 * @param n The element count.
 * @returns The plan.
 */
export function narrowF16Plan(from: DType, n: number): Plan {
  return halfLanewisePlan(
    [{ dtype: from, half: false }],
    { dtype: "f32", half: true },
    n,
    ([x], h) => convertExpr(from, "f32", x, h),
  );
}

/**
 * `inner` (a plan over f32 storage) run on f16 storage: f16 operands are first widened into f32
 * temporaries, and f16 results computed into f32 temporaries, then rounded into the outputs.
 *
 * @param inner The plan over f32 storage (its inputs and outputs in the same order).
 * @param ins The operands' element counts, and whether each is f16 storage.
 * @param outs The results' element counts, and whether each is f16 storage.
 * @returns The plan.
 */
export function viaF32Plan(
  inner: Plan,
  ins: readonly { readonly n: number; readonly half: boolean }[],
  outs: readonly { readonly n: number; readonly half: boolean }[],
): Plan {
  const temps = [...inner.temps];
  const tIn = ins.map((s) => (s.half ? temps.push(s.n * 4) - 1 : -1));
  const tOut = outs.map((s) => (s.half ? temps.push(s.n * 4) - 1 : -1));
  const remap = (r: BufRef): BufRef =>
    r.kind === "in" && tIn[r.index] >= 0
      ? tmp(tIn[r.index])
      : r.kind === "out" && tOut[r.index] >= 0
      ? tmp(tOut[r.index])
      : r;
  const retarget = (p: Plan, from: BufRef, to: BufRef): Step[] =>
    p.steps.map((s) =>
      s.kind === "dispatch"
        ? {
          ...s,
          kernel: {
            ...s.kernel,
            bindings: s.kernel.bindings.map((
              r,
            ) => (r.kind === "in" ? from : r.kind === "out" ? to : r)),
          },
        }
        : s
    );
  const steps: Step[] = [];
  ins.forEach((s, k) => {
    if (s.half) steps.push(...retarget(widenF16Plan(s.n), inp(k), tmp(tIn[k])));
  });
  for (const s of inner.steps) {
    if (s.kind === "dispatch") {
      const bindings = s.kernel.bindings.map((r) => (r.kind === "tex" ? r : remap(r)));
      steps.push({ kind: "dispatch", kernel: { ...s.kernel, bindings } });
    } else if (s.kind === "copy") steps.push({ ...s, src: remap(s.src), dst: remap(s.dst) });
    else steps.push({ ...s, src: remap(s.src) });
  }
  outs.forEach((s, k) => {
    if (s.half) steps.push(...retarget(narrowF16Plan("f32", s.n), tmp(tOut[k]), out(k)));
  });
  return { steps, temps, textures: inner.textures };
}
