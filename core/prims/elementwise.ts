/**
 * Elementwise primitives: unary math, binary arithmetic, comparisons, select, casts. Operands
 * of binary primitives have equal shapes (the `np` layer broadcasts first).
 *
 * @module
 */
import { fmtAvals, sameShape, ShapedArray } from "../aval.ts";
import { type DType, isFloat } from "../dtype.ts";
import {
  definePrimitive,
  type HostArray,
  type NoParams,
  type PlainPrimitive,
  UndefinedPrimal,
} from "../primitive.ts";
import type { Tensor } from "../tensor.ts";
import { bind1 } from "../trace.ts";
import { erf as erfScalar, erfInv as erfInvScalar } from "../threefry.ts";
import { alloc } from "./host.ts";
import { full, zerosLikeT } from "./structural.ts";
import { batchElementwise } from "./convert.ts";

export {
  batchElementwise,
  bitcast,
  bitcast_p,
  convert,
  convert_p,
  type DtypeParams,
} from "./convert.ts";

type Kind = "float" | "int" | "bool" | "any" | "intOrBool" | "num";

function checkKind(op: string, avals: ShapedArray[], kind: Kind): void {
  for (const a of avals) {
    const ok = kind === "any" ||
      (kind === "float" && isFloat(a.dtype)) ||
      (kind === "int" && (a.dtype === "i32" || a.dtype === "u32")) ||
      (kind === "bool" && a.dtype === "bool") ||
      (kind === "intOrBool" && !isFloat(a.dtype)) ||
      (kind === "num" && a.dtype !== "bool");
    if (!ok) {
      throw new TypeError(
        `${op} does not accept ${fmtAvals(avals)}: expected ${
          {
            float: "f16 or f32",
            int: "an integer dtype",
            bool: "bool",
            intOrBool: "integer or bool",
            num: "a numeric dtype",
            any: "",
          }[kind]
        } operands`,
      );
    }
  }
}

// ---------------------------------------------------------------- unary

interface UnarySpec {
  kind: Kind;
  f: (x: number) => number;
  outDtype?: DType;
  jvp?: (x: Tensor, y: Tensor, t: Tensor) => Tensor | null;
  transpose?: PlainPrimitive["transpose"];
}

function defUnary(name: string, spec: UnarySpec): PlainPrimitive {
  const p: PlainPrimitive = definePrimitive<NoParams>(name, {
    params: {},
    abstractEval([x]) {
      checkKind(name, [x], spec.kind);
      return [new ShapedArray(x.shape, spec.outDtype ?? x.dtype)];
    },
    impl([x], _p, [o]) {
      const out = alloc(o);
      const d = x.data, f = spec.f;
      for (let i = 0; i < d.length; i++) out[i] = f(d[i]);
      return [out];
    },
    jvp([x], [t]) {
      const y = bind1(p, [x]);
      if (!spec.jvp || !isFloat(x.dtype)) return [[y], [null]];
      return [[y], [spec.jvp(x, y, t)]];
    },
    transpose: spec.transpose,
    batch: undefined,
  });
  (p as { batch: unknown }).batch = batchElementwise(p);
  return p;
}

const u = (p: PlainPrimitive) => (x: Tensor): Tensor => bind1(p, [x]);

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}
function logisticScalar(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

export const neg_p: PlainPrimitive = defUnary("neg", {
  kind: "num",
  f: (x) => -x,
  jvp: (_x, _y, t) => neg(t),
  transpose: ([ct]) => [ct ? neg(ct) : null],
});
export const abs_p: PlainPrimitive = defUnary("abs", {
  kind: "num",
  f: Math.abs,
  // d|x| = sign(x)·dx, with sign(0) = 0 so abs'(0) = 0 (as JAX)
  jvp: (x, _y, t) => mul(sign(x), t),
});
export const sign_p: PlainPrimitive = defUnary("sign", {
  kind: "num",
  f: (x) => (x > 0 ? 1 : x < 0 ? -1 : x),
  jvp: () => null,
});
export const exp_p: PlainPrimitive = defUnary("exp", {
  kind: "float",
  f: Math.exp,
  jvp: (_x, y, t) => mul(y, t),
});
export const expm1_p: PlainPrimitive = defUnary("expm1", {
  kind: "float",
  f: Math.expm1,
  jvp: (_x, y, t) => mul(add(y, full(y.shape, 1, y.dtype)), t), // d expm1 = (y + 1)·dx
});
export const log_p: PlainPrimitive = defUnary("log", {
  kind: "float",
  f: Math.log,
  jvp: (x, _y, t) => div(t, x),
});
export const log1p_p: PlainPrimitive = defUnary("log1p", {
  kind: "float",
  f: Math.log1p,
  jvp: (x, _y, t) => div(t, add(x, full(x.shape, 1, x.dtype))),
});
export const sqrt_p: PlainPrimitive = defUnary("sqrt", {
  kind: "float",
  f: Math.sqrt,
  jvp: (_x, y, t) => div(t, mul(y, full(y.shape, 2, y.dtype))), // d √x = dx / (2√x)
});
export const rsqrt_p: PlainPrimitive = defUnary("rsqrt", {
  kind: "float",
  f: (x) => 1 / Math.sqrt(x),
  // d x^{-1/2} = -½ x^{-3/2} dx = -½ · y / x · dx
  jvp: (x, y, t) => mul(mul(div(y, x), full(x.shape, -0.5, x.dtype)), t),
});
export const sin_p: PlainPrimitive = defUnary("sin", {
  kind: "float",
  f: Math.sin,
  jvp: (x, _y, t) => mul(cos(x), t),
});
export const cos_p: PlainPrimitive = defUnary("cos", {
  kind: "float",
  f: Math.cos,
  jvp: (x, _y, t) => neg(mul(sin(x), t)),
});
export const tan_p: PlainPrimitive = defUnary("tan", {
  kind: "float",
  f: Math.tan,
  jvp: (_x, y, t) => mul(add(full(y.shape, 1, y.dtype), mul(y, y)), t), // d tan = (1 + tan²)·dx
});
export const tanh_p: PlainPrimitive = defUnary("tanh", {
  kind: "float",
  f: Math.tanh,
  jvp: (_x, y, t) => mul(sub(full(y.shape, 1, y.dtype), mul(y, y)), t), // d tanh = (1 − y²)·dx
});
export const asin_p: PlainPrimitive = defUnary("asin", {
  kind: "float",
  f: Math.asin,
  jvp: (x, _y, t) => mul(rsqrt(sub(full(x.shape, 1, x.dtype), mul(x, x))), t), // dx/√(1−x²)
});
export const acos_p: PlainPrimitive = defUnary("acos", {
  kind: "float",
  f: Math.acos,
  jvp: (x, _y, t) => neg(mul(rsqrt(sub(full(x.shape, 1, x.dtype), mul(x, x))), t)), // −dx/√(1−x²)
});
export const atan_p: PlainPrimitive = defUnary("atan", {
  kind: "float",
  f: Math.atan,
  jvp: (x, _y, t) => div(t, add(full(x.shape, 1, x.dtype), mul(x, x))), // dx/(1+x²)
});
export const sinh_p: PlainPrimitive = defUnary("sinh", {
  kind: "float",
  f: Math.sinh,
  jvp: (x, _y, t) => mul(cosh(x), t),
});
export const cosh_p: PlainPrimitive = defUnary("cosh", {
  kind: "float",
  f: Math.cosh,
  jvp: (x, _y, t) => mul(sinh(x), t),
});
export const logistic_p: PlainPrimitive = defUnary("logistic", {
  kind: "float",
  f: logisticScalar,
  jvp: (_x, y, t) => mul(mul(y, sub(full(y.shape, 1, y.dtype), y)), t), // dσ = σ(1−σ)·dx
});
export const floor_p: PlainPrimitive = defUnary("floor", {
  kind: "float",
  f: Math.floor,
  jvp: () => null,
});
export const ceil_p: PlainPrimitive = defUnary("ceil", {
  kind: "float",
  f: Math.ceil,
  jvp: () => null,
});
export const round_p: PlainPrimitive = defUnary("round", {
  kind: "float",
  f: roundHalfEven,
  jvp: () => null,
});
export const erf_p: PlainPrimitive = defUnary("erf", {
  kind: "float",
  f: erfScalar,
  // d erf = 2/√π · e^{−x²} dx
  jvp: (x, _y, t) => mul(mul(full(x.shape, TWO_OVER_SQRT_PI, x.dtype), exp(neg(mul(x, x)))), t),
});
export const erf_inv_p: PlainPrimitive = defUnary("erf_inv", {
  kind: "float",
  f: erfInvScalar,
  // d erfinv = √π/2 · e^{y²} dx
  jvp: (_x, y, t) => mul(mul(full(y.shape, Math.sqrt(Math.PI) / 2, y.dtype), exp(mul(y, y))), t),
});
export const not_p: PlainPrimitive = definePrimitive<NoParams>("not", {
  params: {},
  abstractEval([x]) {
    checkKind("not", [x], "intOrBool");
    return [x];
  },
  impl([x], _p, [o]) {
    const out = alloc(o);
    const d = x.data;
    if (x.aval.dtype === "bool") { for (let i = 0; i < d.length; i++) out[i] = d[i] ? 0 : 1; }
    else for (let i = 0; i < d.length; i++) out[i] = ~d[i];
    return [out];
  },
  jvp: ([x]) => [[bind1(not_p, [x])], [null]],
});
(not_p as { batch: unknown }).batch = batchElementwise(not_p);
export const is_nan_p: PlainPrimitive = defUnary("is_nan", {
  kind: "float",
  f: (x) => (Number.isNaN(x) ? 1 : 0),
  outDtype: "bool",
});
export const is_inf_p: PlainPrimitive = defUnary("is_inf", {
  kind: "float",
  f: (x) => (x === Infinity || x === -Infinity ? 1 : 0),
  outDtype: "bool",
});
export const stop_gradient_p: PlainPrimitive = defUnary("stop_gradient", {
  kind: "any",
  f: (x) => x,
  jvp: () => null,
});

/** Negation. */ export const neg: (x: Tensor) => Tensor = u(neg_p);
/** Absolute value. */ export const abs: (x: Tensor) => Tensor = u(abs_p);
/** Sign (−1, 0, 1). */ export const sign: (x: Tensor) => Tensor = u(sign_p);
/** e^x. */ export const exp: (x: Tensor) => Tensor = u(exp_p);
/** e^x − 1. */ export const expm1: (x: Tensor) => Tensor = u(expm1_p);
/** Natural log. */ export const log: (x: Tensor) => Tensor = u(log_p);
/** log(1 + x). */ export const log1p: (x: Tensor) => Tensor = u(log1p_p);
/** √x. */ export const sqrt: (x: Tensor) => Tensor = u(sqrt_p);
/** 1/√x. */ export const rsqrt: (x: Tensor) => Tensor = u(rsqrt_p);
/** sin. */ export const sin: (x: Tensor) => Tensor = u(sin_p);
/** cos. */ export const cos: (x: Tensor) => Tensor = u(cos_p);
/** tan. */ export const tan: (x: Tensor) => Tensor = u(tan_p);
/** tanh. */ export const tanh: (x: Tensor) => Tensor = u(tanh_p);
/** arcsin. */ export const asin: (x: Tensor) => Tensor = u(asin_p);
/** arccos. */ export const acos: (x: Tensor) => Tensor = u(acos_p);
/** arctan. */ export const atan: (x: Tensor) => Tensor = u(atan_p);
/** sinh. */ export const sinh: (x: Tensor) => Tensor = u(sinh_p);
/** cosh. */ export const cosh: (x: Tensor) => Tensor = u(cosh_p);
/** The logistic sigmoid 1/(1+e^−x), stable for large |x|. */ export const logistic: (
  x: Tensor,
) => Tensor = u(logistic_p);
/** floor. */ export const floor: (x: Tensor) => Tensor = u(floor_p);
/** ceil. */ export const ceil: (x: Tensor) => Tensor = u(ceil_p);
/** Round half to even. */ export const round: (x: Tensor) => Tensor = u(round_p);
/** The error function. */ export const erf: (x: Tensor) => Tensor = u(erf_p);
/** The inverse error function. */ export const erfInv: (x: Tensor) => Tensor = u(erf_inv_p);
/** Logical not (bool) or bitwise not (ints). */ export const not: (x: Tensor) => Tensor = u(not_p);
/** NaN test. */ export const isNan: (x: Tensor) => Tensor = u(is_nan_p);
/** ±∞ test. */ export const isInf: (x: Tensor) => Tensor = u(is_inf_p);
/** Identity whose derivative is zero. */ export const stopGradient: (x: Tensor) => Tensor = u(
  stop_gradient_p,
);

// ---------------------------------------------------------------- binary

interface BinarySpec {
  kind: Kind;
  f: (a: number, b: number, dtype: DType) => number;
  outDtype?: DType;
  jvp?: (x: Tensor, y: Tensor, out: Tensor, tx: Tensor, ty: Tensor) => Tensor | null;
  /** The JVP rule accepts null (zero) tangents. */
  zeroAware?: boolean;
  transpose?: PlainPrimitive["transpose"];
}

/** Sum of possibly-zero (null) tangents. */
function addT(a: Tensor | null, b: Tensor | null): Tensor | null {
  return a === null ? b : b === null ? a : add(a, b);
}

function checkBinary(op: string, x: ShapedArray, y: ShapedArray): void {
  if (x.dtype !== y.dtype || !sameShape(x.shape, y.shape)) {
    throw new TypeError(
      `Cannot ${op} ${x} and ${y}: lax-level operands need equal shapes and dtypes` +
        `\nhelp: use the np.* functions, which broadcast and promote`,
    );
  }
}

function defBinary(name: string, spec: BinarySpec): PlainPrimitive {
  const p: PlainPrimitive = definePrimitive<NoParams>(name, {
    params: {},
    abstractEval([x, y]) {
      checkBinary(name, x, y);
      checkKind(name, [x, y], spec.kind);
      return [new ShapedArray(x.shape, spec.outDtype ?? x.dtype)];
    },
    impl([x, y]: HostArray[], _p, [o]) {
      const out = alloc(o);
      const a = x.data, b = y.data, f = spec.f, dt = x.aval.dtype;
      for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i], dt);
      return [out];
    },
    // Symbolic zeros: a null tangent is zero. Rules marked `zeroAware` use it to skip work
    // (add, sub, mul, div); the others get zeros instantiated.
    symbolicZeros: true,
    jvp([x, y], [tx, ty]: (Tensor | null)[]) {
      const out = bind1(p, [x, y]);
      if (!spec.jvp || !isFloat(out.dtype) || (tx === null && ty === null)) return [[out], [null]];
      if (spec.zeroAware) return [[out], [spec.jvp(x, y, out, tx!, ty!)]];
      return [[out], [spec.jvp(x, y, out, tx ?? zerosLikeT(x), ty ?? zerosLikeT(y))]];
    },
    transpose: spec.transpose,
  });
  (p as { batch: unknown }).batch = batchElementwise(p);
  return p;
}

const b2 = (p: PlainPrimitive) => (x: Tensor, y: Tensor): Tensor => bind1(p, [x, y]);
const isUndef = (a: unknown): boolean => a instanceof UndefinedPrimal;

function intDiv(a: number, b: number, dt: DType): number {
  if (b === 0) return a; // WGSL semantics: e1 / 0 = e1
  const q = Math.trunc(a / b);
  return dt === "u32" ? q >>> 0 : q | 0;
}

export const add_p: PlainPrimitive = defBinary("add", {
  kind: "any",
  f: (a, b, dt) => (dt === "bool" ? (a || b ? 1 : 0) : a + b),
  zeroAware: true,
  jvp: (_x, _y, _o, tx, ty) => addT(tx, ty),
  transpose: ([ct], [x, y]) => [isUndef(x) ? ct : null, isUndef(y) ? ct : null],
});
export const sub_p: PlainPrimitive = defBinary("sub", {
  kind: "num",
  f: (a, b) => a - b,
  zeroAware: true,
  jvp: (_x, _y, _o, tx, ty) => (ty === null ? tx : tx === null ? neg(ty) : sub(tx, ty)),
  transpose: ([ct], [x, y]) => [
    isUndef(x) ? ct : null,
    isUndef(y) && ct ? neg(ct) : null,
  ],
});
export const mul_p: PlainPrimitive = defBinary("mul", {
  kind: "any",
  f: (
    a,
    b,
    dt,
  ) => (dt === "bool"
    ? (a && b ? 1 : 0)
    : dt === "i32"
    ? Math.imul(a, b)
    : dt === "u32"
    ? Math.imul(a, b) >>> 0
    : a * b),
  zeroAware: true,
  jvp: (x, y, _o, tx, ty) => addT(tx && mul(tx, y), ty && mul(x, ty)),
  transpose: ([ct], [x, y]) => {
    if (!ct) return [null, null];
    if (isUndef(x) && isUndef(y)) {
      throw new Error("internal: mul transpose with both operands linear");
    }
    return [isUndef(x) ? mul(ct, y as Tensor) : null, isUndef(y) ? mul(x as Tensor, ct) : null];
  },
});
export const div_p: PlainPrimitive = defBinary("div", {
  kind: "num",
  f: (a, b, dt) => (isFloat(dt) ? a / b : intDiv(a, b, dt)),
  // d(x/y) = dx/y − (x/y)·dy/y
  zeroAware: true,
  jvp: (_x, y, out, tx, ty) =>
    ty === null ? div(tx, y) : div(tx === null ? neg(mul(out, ty)) : sub(tx, mul(out, ty)), y),
  transpose: ([ct], [x, y]) => {
    if (!isUndef(y)) return [ct && isUndef(x) ? div(ct, y as Tensor) : null, null];
    throw new Error("internal: div is not linear in its denominator");
  },
});
export const pow_p: PlainPrimitive = defBinary("pow", {
  kind: "float",
  f: Math.pow,
  // d x^y = y·x^(y−1)·dx (0 where y = 0, as JAX) + log(x)·x^y·dy (log of 0 replaced by 0)
  jvp: (x, y, out, tx, ty) => {
    const zeros = zerosLikeT(x), ones = full(x.shape, 1, x.dtype);
    const dx = select(eq(y, zeros), zeros, mul(y, pow(x, sub(y, ones))));
    const safeX = select(eq(x, zeros), ones, x);
    return add(mul(dx, tx), mul(mul(log(safeX), out), ty));
  },
});
function maxScalar(a: number, b: number): number {
  return Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b;
}
function minScalar(a: number, b: number): number {
  return Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b;
}
// Ties split the tangent ½–½, as JAX's _balanced_eq.
function balanced(x: Tensor, out: Tensor, y: Tensor): Tensor {
  const one = full(x.shape, 1, x.dtype), half = full(x.shape, 0.5, x.dtype), zero = zerosLikeT(x);
  return select(eq(x, out), select(eq(y, out), half, one), zero);
}
export const max_p: PlainPrimitive = defBinary("max", {
  kind: "any",
  f: maxScalar,
  jvp: (x, y, out, tx, ty) => add(mul(tx, balanced(x, out, y)), mul(ty, balanced(y, out, x))),
});
export const min_p: PlainPrimitive = defBinary("min", {
  kind: "any",
  f: minScalar,
  jvp: (x, y, out, tx, ty) => add(mul(tx, balanced(x, out, y)), mul(ty, balanced(y, out, x))),
});
export const rem_p: PlainPrimitive = defBinary("rem", {
  kind: "num",
  f: (
    a,
    b,
    dt,
  ) => (isFloat(dt) ? a % b : b === 0 ? 0 : dt === "u32" ? (a % b) >>> 0 : (a % b) | 0),
  // d rem(x, y) = dx − trunc(x/y)·dy
  jvp: (x, y, _o, tx, ty) => {
    const q = div(x, y);
    return sub(tx, mul(mul(sign(q), floor(abs(q))), ty));
  },
});
export const atan2_p: PlainPrimitive = defBinary("atan2", {
  kind: "float",
  f: Math.atan2,
  // d atan2(a, b) = (b·da − a·db)/(a² + b²)
  jvp: (a, b, _o, ta, tb) => div(sub(mul(b, ta), mul(a, tb)), add(mul(a, a), mul(b, b))),
});
const bitOp = (f: (a: number, b: number) => number) => (a: number, b: number, dt: DType) =>
  dt === "bool" ? f(a, b) & 1 : dt === "u32" ? f(a, b) >>> 0 : f(a, b) | 0;
export const and_p: PlainPrimitive = defBinary("and", {
  kind: "intOrBool",
  f: bitOp((a, b) => a & b),
});
export const or_p: PlainPrimitive = defBinary("or", {
  kind: "intOrBool",
  f: bitOp((a, b) => a | b),
});
export const xor_p: PlainPrimitive = defBinary("xor", {
  kind: "intOrBool",
  f: bitOp((a, b) => a ^ b),
});
export const shift_left_p: PlainPrimitive = defBinary("shift_left", {
  kind: "int",
  f: (a, b, dt) => (b >>> 0 >= 32 ? 0 : dt === "u32" ? (a << b) >>> 0 : a << b),
});
export const shift_right_logical_p: PlainPrimitive = defBinary("shift_right_logical", {
  kind: "int",
  f: (a, b, dt) => (b >>> 0 >= 32 ? 0 : dt === "u32" ? a >>> b : (a >>> b) | 0),
});
const cmp = (f: (a: number, b: number) => boolean) => (a: number, b: number) => (f(a, b) ? 1 : 0);
export const eq_p: PlainPrimitive = defBinary("eq", {
  kind: "any",
  f: cmp((a, b) => a === b),
  outDtype: "bool",
});
export const ne_p: PlainPrimitive = defBinary("ne", {
  kind: "any",
  f: cmp((a, b) => a !== b),
  outDtype: "bool",
});
export const lt_p: PlainPrimitive = defBinary("lt", {
  kind: "any",
  f: cmp((a, b) => a < b),
  outDtype: "bool",
});
export const le_p: PlainPrimitive = defBinary("le", {
  kind: "any",
  f: cmp((a, b) => a <= b),
  outDtype: "bool",
});
export const gt_p: PlainPrimitive = defBinary("gt", {
  kind: "any",
  f: cmp((a, b) => a > b),
  outDtype: "bool",
});
export const ge_p: PlainPrimitive = defBinary("ge", {
  kind: "any",
  f: cmp((a, b) => a >= b),
  outDtype: "bool",
});

/** x + y. */ export const add: (x: Tensor, y: Tensor) => Tensor = b2(add_p);
/** x − y. */ export const sub: (x: Tensor, y: Tensor) => Tensor = b2(sub_p);
/** x · y. */ export const mul: (x: Tensor, y: Tensor) => Tensor = b2(mul_p);
/** x / y (integers truncate toward zero). */ export const div: (x: Tensor, y: Tensor) => Tensor =
  b2(div_p);
/** x^y. */ export const pow: (x: Tensor, y: Tensor) => Tensor = b2(pow_p);
/** Elementwise max (propagates NaN). */ export const max: (x: Tensor, y: Tensor) => Tensor = b2(
  max_p,
);
/** Elementwise min (propagates NaN). */ export const min: (x: Tensor, y: Tensor) => Tensor = b2(
  min_p,
);
/** Remainder with the sign of the dividend (C fmod). */ export const rem: (
  x: Tensor,
  y: Tensor,
) => Tensor = b2(rem_p);
/** atan2(y, x). */ export const atan2: (x: Tensor, y: Tensor) => Tensor = b2(atan2_p);
/** Logical/bitwise and. */ export const and: (x: Tensor, y: Tensor) => Tensor = b2(and_p);
/** Logical/bitwise or. */ export const or: (x: Tensor, y: Tensor) => Tensor = b2(or_p);
/** Logical/bitwise xor. */ export const xor: (x: Tensor, y: Tensor) => Tensor = b2(xor_p);
/** x << y. */ export const shiftLeft: (x: Tensor, y: Tensor) => Tensor = b2(shift_left_p);
/** x >>> y. */ export const shiftRightLogical: (x: Tensor, y: Tensor) => Tensor = b2(
  shift_right_logical_p,
);
/** x == y. */ export const eq: (x: Tensor, y: Tensor) => Tensor = b2(eq_p);
/** x != y. */ export const ne: (x: Tensor, y: Tensor) => Tensor = b2(ne_p);
/** x < y. */ export const lt: (x: Tensor, y: Tensor) => Tensor = b2(lt_p);
/** x <= y. */ export const le: (x: Tensor, y: Tensor) => Tensor = b2(le_p);
/** x > y. */ export const gt: (x: Tensor, y: Tensor) => Tensor = b2(gt_p);
/** x >= y. */ export const ge: (x: Tensor, y: Tensor) => Tensor = b2(ge_p);

// ---------------------------------------------------------------- select, casts

export const select_p: PlainPrimitive = definePrimitive<NoParams>("select", {
  params: {},
  abstractEval([p, a, b]) {
    if (
      p.dtype !== "bool" || a.dtype !== b.dtype || !sameShape(p.shape, a.shape) ||
      !sameShape(a.shape, b.shape)
    ) {
      throw new TypeError(
        `Cannot select with ${
          fmtAvals([p, a, b])
        }: expects a bool predicate and two operands, all of one shape`,
      );
    }
    return [a];
  },
  impl([p, a, b], _q, [o]) {
    const out = alloc(o);
    const pd = p.data, ad = a.data, bd = b.data;
    for (let i = 0; i < pd.length; i++) out[i] = pd[i] ? ad[i] : bd[i];
    return [out];
  },
  symbolicZeros: true,
  jvp([p, a, b], [_tp, ta, tb]: (Tensor | null)[]) {
    const out = select(p, a, b);
    if (!isFloat(out.dtype) || (ta === null && tb === null)) return [[out], [null]];
    return [[out], [select(p, ta ?? zerosLikeT(a), tb ?? zerosLikeT(b))]];
  },
  transpose([ct], [p, a, b]) {
    if (!ct) return [null, null, null];
    const z = zerosLikeT(ct);
    return [
      null,
      isUndef(a) ? select(p as Tensor, ct, z) : null,
      isUndef(b) ? select(p as Tensor, z, ct) : null,
    ];
  },
});
(select_p as { batch: unknown }).batch = batchElementwise(select_p);
/** `where(pred, onTrue, onFalse)` on equal shapes. */
export function select(pred: Tensor, onTrue: Tensor, onFalse: Tensor): Tensor {
  return bind1(select_p, [pred, onTrue, onFalse]);
}
