/**
 * Elementwise kernels: unary and binary math, select, convert. The per-op WGSL expressions are
 * exported separately ({@link unaryExpr}, {@link binaryExpr}, {@link convertExpr}) so that the
 * jit's fused kernels can reuse them.
 *
 * Values are in their storage types: bool is a u32 holding 0 or 1.
 *
 * Integer semantics (C leaves these undefined; these are WGSL's, which the core's reference
 * implementations share): integer `div` truncates toward zero, `x / 0 = x` and
 * `INT_MIN / -1 = INT_MIN`; integer `rem` has the sign of the dividend and gives 0 for a zero
 * divisor; shifts by 32 or more give 0; arithmetic wraps modulo 2^32.
 *
 * @module
 */
import type { DType } from "../../core/dtype.ts";
import type { BinaryPrim, UnaryPrim } from "../../core/prims/names.ts";
import { activeProfile } from "../target.ts";
import {
  type BufRef,
  ELEMENTWISE_WG,
  elementwiseKernel,
  F32_SPECIALS,
  foldGrid,
  Helpers,
  inp,
  out,
  type Plan,
  single,
  StagedLoads,
  stagingFor,
  type Step,
  storageType,
  type TexRef,
  type TextureSpec,
  u,
} from "./common.ts";
import {
  ATAN,
  ERF,
  ERF_INV,
  EXPM1,
  FMAX_FMIN,
  FMOD,
  IPOW,
  LOG1P,
  LOGISTIC,
  POW,
  SINH_COSH,
  TANH,
} from "./math.ts";

/** The output dtype of a unary primitive on `dtype`. */
export function unaryOutDtype(op: UnaryPrim, dtype: DType): DType {
  return op === "is_nan" || op === "is_inf" ? "bool" : dtype;
}

/** The output dtype of a binary primitive on `dtype`. */
export function binaryOutDtype(op: BinaryPrim, dtype: DType): DType {
  return op === "eq" || op === "ne" || op === "lt" || op === "le" || op === "gt" || op === "ge"
    ? "bool"
    : dtype;
}

const _b2u = (cond: string) => `select(0u, 1u, ${cond})`;

function _unsupported(op: string, dtype: DType): never {
  throw new TypeError(`Cannot lower ${op} for ${dtype} on webgpu: ${op} needs a float operand`);
}

/**
 * The WGSL expression of a unary primitive applied to `x` (a storage-typed expression).
 *
 * @param op The primitive.
 * @param dtype The operand's dtype.
 * @param x The operand expression (may be evaluated more than once: pass a name).
 * @param h Collects the helper functions the expression calls.
 * @returns The result, in the output dtype's storage type.
 * @throws {TypeError} For a float-only op on an integer or bool operand.
 */
export function unaryExpr(op: UnaryPrim, dtype: DType, x: string, h: Helpers): string {
  if (dtype === "f32") return _unaryF32(op, x, h);
  switch (op) {
    case "neg":
      return dtype === "i32" ? `-${x}` : `(0u - ${x})`;
    case "abs":
      return dtype === "i32" ? `abs(${x})` : x;
    case "sign":
      return dtype === "i32" ? `sign(${x})` : `select(0u, 1u, ${x} > 0u)`;
    case "not":
      return dtype === "bool" ? `(1u - ${x})` : `(~${x})`;
    case "is_nan":
    case "is_inf":
      return "0u";
    case "floor":
    case "ceil":
    case "round":
    case "stop_gradient":
      return x;
    default:
      return _unsupported(op, dtype);
  }
}

function _unaryF32(op: UnaryPrim, x: string, h: Helpers): string {
  switch (op) {
    case "neg":
      return `-${x}`;
    case "abs":
    case "exp":
    case "log":
    case "sqrt":
    case "sin":
    case "cos":
    case "tan":
    case "floor":
    case "ceil":
    case "round": // WGSL round is half to even, as numpy's
      return `${op}(${x})`;
    case "sign":
      h.add(F32_SPECIALS);
      // WGSL's sign(-0.0) is +0.0; the reference (and XLA) keep the operand's zero and NaN
      return `select(sign(${x}), ${x}, _isnan(${x}) || ${x} == 0.0)`;
    case "asin":
    case "acos":
    case "atan":
      h.add(ATAN);
      return `_${op}(${x})`;
    case "expm1":
      h.add(EXPM1);
      return `_expm1(${x})`;
    case "log1p":
      h.add(LOG1P);
      return `_log1p(${x})`;
    case "rsqrt": // inverseSqrt may be a 12-bit estimate on some drivers
      return `(1.0 / sqrt(${x}))`;
    case "tanh":
      h.add(TANH);
      return `_tanh(${x})`;
    case "sinh":
    case "cosh":
      h.add(SINH_COSH);
      return `_${op}(${x})`;
    case "logistic":
      h.add(LOGISTIC);
      return `_logistic(${x})`;
    case "erf":
      h.add(ERF);
      return `_erf(${x})`;
    case "erf_inv":
      h.add(ERF_INV);
      return `_erf_inv(${x})`;
    case "not":
      return _unsupported(op, "f32");
    case "is_nan":
      h.add(F32_SPECIALS);
      return _b2u(`_isnan(${x})`);
    case "is_inf":
      h.add(F32_SPECIALS);
      return _b2u(`_isinf(${x})`);
    case "stop_gradient":
      return x;
    default:
      throw new Error(`internal: no f32 lowering for ${op satisfies never}`);
  }
}

/**
 * The WGSL expression of a binary primitive on `a` and `b` (storage-typed expressions of one
 * dtype; pass names, as they may be evaluated more than once).
 *
 * @param op The primitive.
 * @param dtype The operands' dtype.
 * @param a The first operand.
 * @param b The second operand.
 * @param h Collects helper functions.
 * @returns The result in the output dtype's storage type.
 * @throws {TypeError} For an op the dtype does not support.
 */
export function binaryExpr(op: BinaryPrim, dtype: DType, a: string, b: string, h: Helpers): string {
  const f = dtype === "f32", s = dtype === "i32", bool = dtype === "bool";
  const zero = s ? "0i" : "0u";
  switch (op) {
    case "add":
      return bool ? `(${a} | ${b})` : `(${a} + ${b})`;
    case "sub":
      return bool ? `(${a} ^ ${b})` : `(${a} - ${b})`;
    case "mul":
      return bool ? `(${a} & ${b})` : `(${a} * ${b})`;
    case "div":
      // ints: WGSL defines x / 0 = x and INT_MIN / -1 = INT_MIN (the core's reference agrees)
      return `(${a} / ${b})`;
    case "rem":
      if (f) {
        h.add(FMOD);
        return `_fmod(${a}, ${b})`;
      }
      return `select(${a} % ${b}, ${zero}, ${b} == ${zero})`;
    case "pow":
      if (f) {
        h.add(POW);
        return `_pow(${a}, ${b})`;
      }
      if (bool) return `(${a} | (1u - ${b}))`; // x ** 0 = 1
      h.add(IPOW);
      return `_ipow_${dtype}(${a}, ${b})`;
    case "max":
    case "min":
      if (f) {
        h.add(FMAX_FMIN);
        return `_f${op}(${a}, ${b})`;
      }
      return `${op}(${a}, ${b})`;
    case "atan2":
      if (!f) _unsupported(op, dtype);
      h.add(ATAN);
      return `_atan2(${a}, ${b})`;
    case "and":
    case "or":
    case "xor": {
      if (f) _unsupported(op, dtype);
      const sym = op === "and" ? "&" : op === "or" ? "|" : "^";
      return `(${a} ${sym} ${b})`;
    }
    case "shift_left":
    case "shift_right_logical": {
      if (f || bool) {
        throw new TypeError(`Cannot lower ${op} for ${dtype} on webgpu: it needs integers`);
      }
      const amt = s ? `u32(${b})` : b;
      const va = s ? `bitcast<u32>(${a})` : a;
      const sh = op === "shift_left" ? "<<" : ">>";
      const r = `select(${va} ${sh} ${amt}, 0u, ${amt} >= 32u)`;
      return s ? `bitcast<i32>(${r})` : r;
    }
    case "eq":
    case "ne":
    case "lt":
    case "le":
    case "gt":
    case "ge": {
      const sym = { eq: "==", ne: "!=", lt: "<", le: "<=", gt: ">", ge: ">=" }[op];
      if (!f) return _b2u(`${a} ${sym} ${b}`);
      h.add(F32_SPECIALS);
      // Comparisons with NaN are false (true for ne) whatever the driver assumes about NaN.
      const nan = `(_isnan(${a}) || _isnan(${b}))`;
      return op === "ne" ? _b2u(`${nan} || ${a} != ${b}`) : _b2u(`!${nan} && ${a} ${sym} ${b}`);
    }
    default:
      throw new Error(`internal: no lowering for ${op satisfies never}`);
  }
}

/**
 * WGSL helpers converting f32 to i32 / u32 as the reference does (`castScalar` in
 * core/prims/convert.ts, and XLA): truncation toward zero, saturation at both ends, NaN to 0.
 * WGSL's own conversion clamps to the largest f32 below 2³¹ (2147483520) and leaves NaN
 * unspecified, so the top end and NaN are handled here.
 */
const F32_TO_INT: string = `${F32_SPECIALS}
fn _f2i(x: f32) -> i32 {
  if (_isnan(x)) { return 0i; }
  if (x >= 2147483648.0) { return 2147483647i; }
  return i32(x);
}
fn _f2u(x: f32) -> u32 {
  if (_isnan(x)) { return 0u; }
  if (x >= 4294967296.0) { return 4294967295u; }
  return u32(x);
}
`;

/**
 * The WGSL expression converting `x` from one dtype to another (`convert`): floats truncate
 * toward zero into ints, saturating out of range with NaN going to 0 (as the reference and XLA
 * do), bools become 0 or 1, anything nonzero (NaN included) becomes true, and i32/u32
 * reinterpret their bits (wrapping, as numpy's `astype`).
 *
 * @param from The operand's dtype.
 * @param to The result's dtype.
 * @param x The operand expression.
 * @param h Collects the helper functions a float-to-int conversion calls.
 * @returns The converted expression, in `to`'s storage type.
 */
export function convertExpr(from: DType, to: DType, x: string, h: Helpers): string {
  if (from === to) return x;
  // an f16 operand reaches here widened to f32 (f16 kernels compute in f32)
  const float = from === "f32" || from === "f16";
  if (to === "bool") {
    return float
      ? _b2u(`(bitcast<u32>(${x}) & 0x7fffffffu) != 0u`)
      : _b2u(`${x} != ${from === "i32" ? "0i" : "0u"}`);
  }
  if (to === "f32") return `f32(${x})`;
  if (float) {
    h.add(F32_TO_INT);
    return to === "i32" ? `_f2i(${x})` : `_f2u(${x})`;
  }
  if (from === "bool") return to === "i32" ? `i32(${x})` : x;
  return `bitcast<${to}>(${x})`; // i32 <-> u32
}

/** What a lane-wise plan may use on the device (the GEMM capabilities carry it). */
export interface LaneCaps {
  /** Texture limits. */
  readonly maxTextureDimension2D: number;
  /** Texture layers. */
  readonly maxTextureArrayLayers: number;
}

/**
 * A plan computing `expr` element by element over `n` elements of same-shape operands
 * (inputs 0 … k-1 → output 0). When `n` is a multiple of 4 each invocation handles four
 * elements with vec4 loads and stores, and on CPU adapters (the profile's `textureStaging`,
 * {@linkcode stagingFor}) operands of at least 4096 elements are first copied into textures and
 * read with `textureLoad` (llvmpipe
 * reads textures several times faster than storage buffers; see bench/RESULTS.md).
 *
 * @param ins The operands' dtypes.
 * @param outDtype The result's dtype.
 * @param n The element count.
 * @param expr The WGSL expression of one element from the operands' element expressions.
 * @param caps Device capabilities (absent: no textures).
 * @returns The plan.
 */
export function lanewisePlan(
  ins: readonly DType[],
  outDtype: DType,
  n: number,
  expr: (xs: readonly string[], h: Helpers) => string,
  caps?: LaneCaps,
): Plan {
  const h = new Helpers();
  const to = storageType(outDtype);
  const prof = activeProfile();
  if (!prof.fourLane || n % 4 !== 0 || n === 0) {
    const xs = ins.map((_, k) => `x${k}`);
    return single(elementwiseKernel({
      bindings: [
        ...ins.map((d, k) => ({
          name: `a${k}`,
          type: storageType(d),
          access: "read" as const,
          ref: inp(k),
        })),
        { name: "o", type: to, access: "read_write", ref: out(0) },
      ],
      total: n,
      body: `${xs.map((x, k) => `let ${x} = a${k}[i];`).join("\n  ")}\n  o[i] = ${expr(xs, h)};`,
      helpers: String(h),
    }));
  }
  const q = n / 4;
  const decls: string[] = [], loads: string[] = [], bindings: (BufRef | TexRef)[] = [];
  const steps: Step[] = [];
  const textures: TextureSpec[] = [];
  const coords = new StagedLoads("q");
  ins.forEach((d, k) => {
    const t = storageType(d), b = bindings.length;
    const staging = stagingFor(q, d, caps);
    if (staging) {
      const tex: TexRef = { kind: "tex", index: textures.push(staging.spec) - 1 };
      steps.push({ kind: "toTexture", src: inp(k), dst: tex, bytesPerRow: staging.bytesPerRow });
      decls.push(`@group(0) @binding(${b}) var a${k}: ${staging.wgslType};`);
      loads.push(`let v${k} = ${coords.load(staging, `a${k}`, h)};`);
      bindings.push(tex);
    } else {
      decls.push(`@group(0) @binding(${b}) var<storage, read> a${k}: array<vec4<${t}>>;`);
      loads.push(`let v${k} = a${k}[q];`);
      bindings.push(inp(k));
    }
  });
  decls.push(
    `@group(0) @binding(${bindings.length}) var<storage, read_write> o: array<vec4<${to}>>;`,
  );
  bindings.push(out(0));
  const lanes = [0, 1, 2, 3].map((l) => expr(ins.map((_, k) => `v${k}[${l}]`), h));
  const grid = foldGrid(Math.ceil(q / ELEMENTWISE_WG));
  const wgsl = `${decls.join("\n")}
${h}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = ${grid.flatGroup} * ${u(ELEMENTWISE_WG)} + lid;
  if (q >= ${u(q)}) { return; }
  ${[...coords.lets, ...loads].join("\n  ")}
  o[q] = vec4<${to}>(${lanes.join(", ")});
}
`;
  steps.push({
    kind: "dispatch",
    kernel: { wgsl, workgroupSize: [ELEMENTWISE_WG, 1, 1], dispatch: grid.dispatch, bindings },
  });
  return { steps, temps: [], textures };
}

/**
 * A unary primitive over `n` elements: input 0 → output 0.
 *
 * @param op The primitive.
 * @param dtype The operand's dtype.
 * @param n The element count.
 * @param caps Device capabilities.
 * @returns The plan.
 */
export function unaryPlan(op: UnaryPrim, dtype: DType, n: number, caps?: LaneCaps): Plan {
  return lanewisePlan(
    [dtype],
    unaryOutDtype(op, dtype),
    n,
    ([x], h) => unaryExpr(op, dtype, x, h),
    caps,
  );
}

/**
 * A binary primitive over `n` element pairs: inputs 0, 1 → output 0.
 *
 * @param op The primitive.
 * @param dtype The operands' dtype.
 * @param n The element count.
 * @param caps Device capabilities.
 * @returns The plan.
 */
export function binaryPlan(op: BinaryPrim, dtype: DType, n: number, caps?: LaneCaps): Plan {
  return lanewisePlan(
    [dtype, dtype],
    binaryOutDtype(op, dtype),
    n,
    ([x, y], h) => binaryExpr(op, dtype, x, y, h),
    caps,
  );
}

/**
 * `select(pred, onTrue, onFalse)` over `n` elements: inputs (bool pred, x, y) → output 0.
 *
 * @param dtype The dtype of the two branches.
 * @param n The element count.
 * @param caps Device capabilities.
 * @returns The plan.
 */
export function selectPlan(dtype: DType, n: number, caps?: LaneCaps): Plan {
  return lanewisePlan(
    ["bool", dtype, dtype],
    dtype,
    n,
    ([p, a, b]) => `select(${b}, ${a}, ${p} != 0u)`,
    caps,
  );
}

/**
 * `convert` of `n` elements from one dtype to another (see {@link convertExpr}).
 *
 * @param from The operand's dtype.
 * @param to The result's dtype.
 * @param n The element count.
 * @param caps Device capabilities.
 * @returns The plan.
 */
export function convertPlan(from: DType, to: DType, n: number, caps?: LaneCaps): Plan {
  return lanewisePlan([from], to, n, ([x], h) => convertExpr(from, to, x, h), caps);
}
