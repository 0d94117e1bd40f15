/**
 * WGSL implementations of the f32 math that WGSL lacks or leaves loose: NaN-propagating
 * max/min, IEEE `pow` special cases, C `fmod`, and accurate `expm1`, `log1p`, `tanh`, `sinh`,
 * `cosh`, `logistic`, `erf` and `erf_inv`.
 *
 * Builtins of the WGSL implementation on llvmpipe (exp, log, sin …) are good to a few ulp; the
 * functions here avoid the cancellations that would make relative errors large near zero.
 *
 * @module
 */
import { F32_SPECIALS } from "./common.ts";

/** NaN-propagating max and min (numpy `maximum`/`minimum`): a NaN operand wins. */
export const FMAX_FMIN: string = `${F32_SPECIALS}
fn _fmax(a: f32, b: f32) -> f32 { if (_isnan(a)) { return a; } if (_isnan(b)) { return b; } return max(a, b); }
fn _fmin(a: f32, b: f32) -> f32 { if (_isnan(a)) { return a; } if (_isnan(b)) { return b; } return min(a, b); }
`;

/**
 * expm1: the Taylor series to x^9/9! on |x| < 0.5 (truncation error below 1e-8 relative), and
 * exp(x) - 1 elsewhere, where the cancellation costs at most a factor 1.6. Both are computed
 * and one selected: branches cost more than the arithmetic on SIMD lanes (llvmpipe).
 */
export const EXPM1: string = `
fn _expm1(x: f32) -> f32 {
  let p = x * (1.0 + x * (0.5 + x * (0.16666666666666666 + x * (0.041666666666666664 +
    x * (0.008333333333333333 + x * (0.001388888888888889 + x * (0.0001984126984126984 +
    x * (0.0000248015873015873 + x * 0.0000027557319223985893))))))));
  return select(exp(x) - 1.0, p, abs(x) < 0.5);
}
`;

/**
 * log1p: on |x| < 0.5, log(1 + x) = 2 atanh(s) with s = x / (2 + x), |s| <= 1/3, summed to
 * s^19 (truncation below 1e-10); elsewhere log(1 + x), whose rounding of 1 + x is harmless.
 */
export const LOG1P: string = `
fn _log1p(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    let s = x / (2.0 + x);
    let s2 = s * s;
    let p = 0.3333333333333333 + s2 * (0.2 + s2 * (0.14285714285714285 + s2 * (0.1111111111111111 +
      s2 * (0.09090909090909091 + s2 * (0.07692307692307693 + s2 * (0.06666666666666667 +
      s2 * (0.058823529411764705 + s2 * 0.05263157894736842)))))));
    return 2.0 * (s + s * s2 * p);
  }
  return log(1.0 + x);
}
`;

/**
 * tanh = expm1(2|x|) / (expm1(2|x|) + 2) with the sign of x; |x| is clamped to 9, where tanh
 * rounds to ±1 (a select, not min: NaN stays NaN).
 */
export const TANH: string = `${EXPM1}
fn _tanh(x: f32) -> f32 {
  let ax = abs(x);
  let e = _expm1(2.0 * select(ax, 9.0, ax > 9.0));
  let t = e / (e + 2.0);
  return select(t, -t, x < 0.0);
}
`;

/**
 * sinh: (e + e / (e + 1)) / 2 with e = expm1(|x|) below 1 (no cancellation), else
 * h^2/2 - 1/(2 h^2) with h = exp(|x|/2) (no premature overflow); cosh likewise.
 */
export const SINH_COSH: string = `${EXPM1}
fn _sinh(x: f32) -> f32 {
  let ax = abs(x);
  var r: f32;
  if (ax < 1.0) {
    let e = _expm1(ax);
    r = 0.5 * (e + e / (e + 1.0));
  } else {
    let h = exp(0.5 * ax);
    r = (0.5 * h) * h - 0.5 / (h * h);
  }
  return select(r, -r, x < 0.0);
}
fn _cosh(x: f32) -> f32 {
  let h = exp(0.5 * abs(x));
  return (0.5 * h) * h + 0.5 / (h * h);
}
`;

/** logistic(x) = 1 / (1 + e^-x), computed from e = exp(-|x|) so it never overflows. */
export const LOGISTIC: string = `
fn _logistic(x: f32) -> f32 {
  let e = exp(-abs(x));
  let r = 1.0 / (1.0 + e);
  return select(r, e * r, x < 0.0);
}
`;

/**
 * erf: Eigen's and XLA's f32 rational approximation (`generic_fast_erf_float`, XLA
 * `ErfImpl32`): x P(x²) / Q(x²) on x clamped to [-4, 4], where erf rounds to ±1 in f32.
 */
export const ERF: string = `${F32_SPECIALS}
fn _erf(x0: f32) -> f32 {
  if (_isnan(x0)) { return x0; }
  let x = clamp(x0, -4.0, 4.0);
  let x2 = x * x;
  var p = -2.72614225801306e-10;
  p = p * x2 + 2.77068142495902e-08;
  p = p * x2 - 2.10102402082508e-06;
  p = p * x2 - 5.69250639462346e-05;
  p = p * x2 - 7.34990630326855e-04;
  p = p * x2 - 2.95459980854025e-03;
  p = p * x2 - 1.60960333262415e-02;
  var q = -1.45660718464996e-05;
  q = q * x2 - 2.13374055278905e-04;
  q = q * x2 - 1.68282697438203e-03;
  q = q * x2 - 7.37332916720468e-03;
  q = q * x2 - 1.42647390514189e-02;
  return x * p / q;
}
`;

/**
 * erf_inv: XLA's f32 `ErfInv32`, M. Giles, "Approximating the erfinv function" (GPU Computing
 * Gems Jade, 2011): w = -log1p(-x²), a degree-8 polynomial in w - 2.5 (w < 5) or sqrt(w) - 3,
 * times x; ±inf at ±1 and NaN beyond.
 */
export const ERF_INV: string = `${F32_SPECIALS}${LOG1P}
fn _erf_inv(x: f32) -> f32 {
  let w0 = -_log1p(-x * x);
  var p: f32;
  if (w0 < 5.0) {
    let w = w0 - 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    let w = sqrt(w0) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  if (abs(x) == 1.0) { return x * _inf(); }
  return p * x;
}
`;

/**
 * pow with C99/numpy special cases: pow(x, 0) = 1 and pow(1, y) = 1 (even for NaN), a
 * negative finite base with a non-integer exponent gives NaN, odd integer exponents keep the
 * sign of the base (−0 included), zeros and infinities as IEEE 754 `pow`.
 *
 * The general case is 2^(y log2 |x|) with both halves done carefully, since the hardware's
 * `exp2(y * log2(x))` is off by several ulp for bases near 1 (llvmpipe: pow(0.999, 1) =
 * 0.99899989, 2 ulp low), which `1 - pow(b2, t)` (Adam's bias correction) turns into a
 * 1e-4 relative error: log2 |x| = e + log1p(m - 1) / ln 2 with |x| = m 2^e, m in [√½, √2)
 * (m - 1 is exact), and 2^z = ldexp(1 + expm1(f ln 2), n) with n = round(z), f = z - n. The
 * result is then within a few ulp, plus the |z| 2^-24 that rounding z itself costs.
 */
export const POW: string = `${F32_SPECIALS}${EXPM1}${LOG1P}
fn _exp2_acc(z: f32) -> f32 {
  if (z > 128.0) { return _inf(); }
  if (z < -150.0) { return 0.0; }
  let n = round(z);
  return ldexp(1.0 + _expm1((z - n) * 0.6931471805599453), i32(n));
}
fn _log2_acc(ax: f32) -> f32 {
  let fr = frexp(ax);
  var m = fr.fract;
  var e = fr.exp;
  if (m < 0.7071067811865476) {
    m = m * 2.0;
    e = e - 1;
  }
  return _log1p(m - 1.0) * 1.4426950408889634 + f32(e);
}
fn _pow(x: f32, y: f32) -> f32 {
  if (y == 0.0 || x == 1.0) { return 1.0; }
  if (_isnan(x) || _isnan(y)) { return _nan(); }
  let ax = abs(x);
  let yint = floor(y) == y;
  let yodd = yint && abs(y) < 16777216.0 && floor(y * 0.5) != y * 0.5;
  var r: f32;
  if (ax == 0.0) {
    r = select(0.0, _inf(), y < 0.0);
  } else if (_isinf(ax)) {
    r = select(_inf(), 0.0, y < 0.0);
  } else if (_isinf(y)) {
    if (ax == 1.0) { return 1.0; }
    r = select(0.0, _inf(), (ax > 1.0) == (y > 0.0));
  } else {
    r = _exp2_acc(y * _log2_acc(ax));
  }
  if ((bitcast<u32>(x) >> 31u) == 1u) {
    if (!yint) {
      if (ax == 0.0 || _isinf(ax)) { return r; }
      return _nan();
    }
    if (yodd) { r = -r; }
  }
  return r;
}
`;

/** Integer pow by squaring (wrapping); negative exponents give 0 except for bases ±1. */
export const IPOW: string = `
fn _ipow_i32(x: i32, y: i32) -> i32 {
  if (y < 0) {
    if (x == 1) { return 1; }
    if (x == -1) { return select(1, -1, (y & 1) != 0); }
    return 0;
  }
  var b = x; var e = u32(y); var r = 1i;
  loop { if (e == 0u) { break; } if ((e & 1u) != 0u) { r = r * b; } b = b * b; e = e >> 1u; }
  return r;
}
fn _ipow_u32(x: u32, y: u32) -> u32 {
  var b = x; var e = y; var r = 1u;
  loop { if (e == 0u) { break; } if ((e & 1u) != 0u) { r = r * b; } b = b * b; e = e >> 1u; }
  return r;
}
`;

/**
 * C fmod (the result has the sign of the dividend), exact: binary long division on |x|, each
 * step subtracting the largest |y|·2^k not above the remainder, a subtraction that Sterbenz's
 * lemma makes exact. Steps are bounded by the exponent gap of x and y (at most 277); no
 * fused multiply-add is needed (llvmpipe does not fuse WGSL's fma). fmod(x, 0), fmod(±inf, y)
 * and NaNs give NaN, fmod(x, ±inf) = x; subnormals are flushed as the device does.
 */
export const FMOD: string = `${F32_SPECIALS}
fn _fmod(x: f32, y: f32) -> f32 {
  if (_isnan(x) || _isnan(y) || _isinf(x) || y == 0.0) { return _nan(); }
  if (_isinf(y)) { return x; }
  let ay = abs(y);
  let ey = (bitcast<u32>(ay) >> 23u) & 0xffu;
  var r = abs(x);
  for (var it = 0; it < 300 && r >= ay; it = it + 1) {
    let er = (bitcast<u32>(r) >> 23u) & 0xffu;
    var d = bitcast<f32>(bitcast<u32>(ay) + ((er - ey) << 23u));
    if (d > r) { d = d * 0.5; }
    r = r - d;
  }
  return select(r, -r, (bitcast<u32>(x) >> 31u) == 1u);
}
`;

/**
 * atan, atan2, asin and acos. WGSL's builtins are off by up to 2e-4 relative on llvmpipe, so
 * atan is Cephes' `atanf` (range reduction at tan(3π/8) and tan(π/8), then a degree-9 odd
 * polynomial; about 2e-7 relative), atan2 takes the quadrant from the signs (IEEE special
 * cases included), and asin(x) = atan2(x, sqrt((1 - x)(1 + x))),
 * acos(x) = 2 atan2(sqrt(1 - x), sqrt(1 + x)).
 */
export const ATAN: string = `${F32_SPECIALS}
fn _atan_pos(x0: f32) -> f32 {
  var x = x0;
  var y = 0.0;
  if (x > 2.414213562373095) {
    y = 1.5707963267948966;
    x = -1.0 / x;
  } else if (x > 0.4142135623730950) {
    y = 0.7853981633974483;
    x = (x - 1.0) / (x + 1.0);
  }
  let z = x * x;
  return y + ((((8.05374449538e-2 * z - 1.38776856032e-1) * z + 1.99777106478e-1) * z -
    3.33329491539e-1) * z * x + x);
}
fn _atan(x: f32) -> f32 {
  if (_isnan(x)) { return x; }
  let r = _atan_pos(abs(x));
  return select(r, -r, x < 0.0);
}
fn _atan2(y: f32, x: f32) -> f32 {
  if (_isnan(x) || _isnan(y)) { return _nan(); }
  let xneg = (bitcast<u32>(x) >> 31u) == 1u;
  let yneg = (bitcast<u32>(y) >> 31u) == 1u;
  let ax = abs(x);
  let ay = abs(y);
  var r: f32;
  if (ay == 0.0) {
    r = select(0.0, 3.141592653589793, xneg);
  } else if (_isinf(ax) && _isinf(ay)) {
    r = select(0.7853981633974483, 2.356194490192345, xneg);
  } else {
    if (ay <= ax) { r = _atan_pos(ay / ax); } else { r = 1.5707963267948966 - _atan_pos(ax / ay); }
    if (xneg) { r = 3.141592653589793 - r; }
  }
  return select(r, -r, yneg);
}
fn _asin(x: f32) -> f32 { return _atan2(x, sqrt((1.0 - x) * (1.0 + x))); }
fn _acos(x: f32) -> f32 { return 2.0 * _atan2(sqrt(1.0 - x), sqrt(1.0 + x)); }
`;
