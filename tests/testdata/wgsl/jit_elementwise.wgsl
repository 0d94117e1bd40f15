// fused(f32[5,7]) (fused): grid 1x1x1, 5 bindings; broadcast_in_dim,mul,broadcast_in_dim,add,tanh,reshape,broadcast_in_dim,sub
@group(0) @binding(4) var<uniform> _P: array<vec4u, 2>;
fn _mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = ((a0 * b0) >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}
fn _udiv(x: u32, m: u32, s: u32) -> u32 { let t = _mulhi(m, x); return (t + ((x - t) >> 1u)) >> s; }
fn _umod(x: u32, d: u32, m: u32, s: u32) -> u32 { return x - _udiv(x, m, s) * d; }
@group(0) @binding(0) var<storage, read> x0: array<f32>;
@group(0) @binding(1) var<storage, read> x1: array<f32>;
@group(0) @binding(2) var<storage, read> x2: array<f32>;
@group(0) @binding(3) var<storage, read_write> o0: array<f32>;
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
  let i = wid.x * _P[1].y + lid;
  if (i >= _P[1].z) { return; }
  let v0 = x0[i];
  let d1 = _umod(i, _P[0].x, _P[0].y, _P[0].z);
  let q2 = _udiv(i, _P[0].w, _P[1].x);
  let v3 = x1[d1];
  let t4 = (v0 * v3);
  let v5 = x2[0u];
  let t6 = (t4 + v5);
  let t7 = _tanh(t6);
  let t8 = (t7 - v3);
  o0[i] = t8;
}
