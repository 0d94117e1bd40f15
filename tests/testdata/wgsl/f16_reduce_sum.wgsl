temps: []
// step 0: workgroup 64x1x1, dispatch 1x1x1, bindings in0 out0
enable f16;
@group(0) @binding(2) var<uniform> _P: array<vec4u, 1>;
@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read_write> o: array<f16>;
fn _kadd(s: ptr<function, f32>, c: ptr<function, f32>, x: f32, z: u32) {
  let y = x - *c;
  let t = bitcast<f32>(bitcast<u32>(*s + y) ^ z);
  let e = (t - *s) - y;
  *c = select(e, 0.0, (bitcast<u32>(e) & 0x7f800000u) == 0x7f800000u);
  *s = t;
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * _P[0].x + lid;
  if (i >= _P[0].y) { return; }
  var k_r = i;
  let k0 = k_r;
  let base = (k0) * _P[0].z;
  var acc = f32(0);
  var kc = 0.0;
  let kz = select(0u, 1u, wid.z == 0xffffffffu);
  for (var r = 0u; r < _P[0].w; r = r + 1u) {
    let roff = r;
    let x = f32(a[base + roff]);
    _kadd(&acc, &kc, x, kz);
  }
  o[i] = f16(round_f16((acc - kc)));
}

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
