temps: []
// step 0: workgroup 64x1x1, dispatch 1x1x1, bindings in0 in1 out0
enable f16;
@group(0) @binding(0) var<storage, read> a0: array<vec4<f16>>;
@group(0) @binding(1) var<storage, read> a1: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> o: array<vec4<f16>>;
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
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = wid.x * 64u + lid;
  if (q >= 3u) { return; }
  let b = q * 4u;
  let v0 = vec4<f32>(a0[q]);
  let v1 = vec4<f32>(a1[q]);
  o[q] = vec4<f16>(vec4<f32>(round_f16((v0[0] + v1[0])), round_f16((v0[1] + v1[1])), round_f16((v0[2] + v1[2])), round_f16((v0[3] + v1[3]))));
}
