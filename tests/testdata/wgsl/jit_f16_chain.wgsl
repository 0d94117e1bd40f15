// fused(f32[5,7]) (fused): grid 1x1x1, 5 bindings; broadcast_in_dim,mul,convert,broadcast_in_dim,add,convert,tanh,convert,mul,convert
@group(0) @binding(4) var<uniform> _P: array<vec4u, 1>;
@group(0) @binding(0) var<storage, read> x0: array<f32>;
@group(0) @binding(1) var<storage, read> x1: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read_write> o0: array<f32>;
fn round_f16(x: f32) -> f32 {
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
}
fn _expm1(x: f32) -> f32 {
  let p = x * (1.0 + x * (0.5 + x * (0.16666666666666666 + x * (0.041666666666666664 +
    x * (0.008333333333333333 + x * (0.001388888888888889 + x * (0.0001984126984126984 +
    x * (0.0000248015873015873 + x * 0.0000027557319223985893))))))));
  return select(exp(x) - 1.0, p, abs(x) < 0.5);
}
fn _tanh(x: f32) -> f32 {
  let ax = abs(x);
  let e = _expm1(2.0 * select(ax, 9.0, ax > 9.0));
  let t = e / (e + 2.0);
  return select(t, -t, x < 0.0);
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * _P[0].x + lid;
  if (i >= _P[0].y) { return; }
  let v0 = x0[i];
  let v1 = x1[0u];
  let t2 = (v0 * v1);
  let t3 = round_f16(t2);
  let v4 = x2[0u];
  let t5 = (t3 + v4);
  let t6 = round_f16(t5);
  let t7 = _tanh(t6);
  let t8 = round_f16(t7);
  let t9 = (t8 * v0);
  let t10 = round_f16(t9);
  o0[i] = t10;
}
