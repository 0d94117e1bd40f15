// dot_general (fused): grid 4x1x1, 5 bindings; dot_general,broadcast_in_dim,add,broadcast_in_dim,max
@group(0) @binding(3) var<storage, read> x0: array<f32>;
@group(0) @binding(4) var<storage, read> x1: array<f32>;
fn _isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn _isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn _nan() -> f32 { var b = 0x7fc00000u; return bitcast<f32>(b); }
fn _inf() -> f32 { var b = 0x7f800000u; return bitcast<f32>(b); }
fn _fmax(a: f32, b: f32) -> f32 { if (_isnan(a)) { return a; } if (_isnan(b)) { return b; } return max(a, b); }
fn _fmin(a: f32, b: f32) -> f32 { if (_isnan(a)) { return a; } if (_isnan(b)) { return b; } return min(a, b); }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
fn loadA(bi: u32, m: u32, k: u32) -> f32 {
  let t0 = m * 65u + k;
  let v1 = a[t0];
  return v1;
}
fn loadB(bi: u32, k: u32, n: u32) -> f32 {
  let t0 = k * 17u + n;
  let v1 = b[t0];
  return v1;
}
fn storeC(bi: u32, m: u32, n: u32, v: f32) {
  let lin = (bi * 33u + m) * 17u + n;
  let d0 = lin % 17u;
  let q1 = lin / 17u;
  let v2 = x0[d0];
  let t3 = (v + v2);
  let v4 = x1[0u];
  let t5 = _fmax(t3, v4);
  o[lin] = t5;
}
fn ldA(bt: u32, m: u32, k: u32) -> f32 {
  if (m < 33u && k < 65u) { return loadA(bt, m, k); }
  return f32(0);
}
fn ldB(bt: u32, k: u32, n: u32) -> f32 {
  if (n < 17u && k < 65u) { return loadB(bt, k, n); }
  return f32(0);
}
var<workgroup> As: array<vec4<f32>, 128>;
var<workgroup> Bs: array<vec4<f32>, 64>;
@compute @workgroup_size(4, 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let tn = g % 2u;
  let gr = g / 2u;
  let tm = gr % 2u;
  let bt = min(gr / 2u, 0u);
  let valid = gr / 2u < 1u;
  let mt = tm * 32u;
  let nt = tn * 16u;
  let tx = lid3.x;
  let ty = lid3.y;
  var c0_0 = f32(0);
  var c0_1 = f32(0);
  var c0_2 = f32(0);
  var c0_3 = f32(0);
  var c1_0 = f32(0);
  var c1_1 = f32(0);
  var c1_2 = f32(0);
  var c1_3 = f32(0);
  var c2_0 = f32(0);
  var c2_1 = f32(0);
  var c2_2 = f32(0);
  var c2_3 = f32(0);
  var c3_0 = f32(0);
  var c3_1 = f32(0);
  var c3_2 = f32(0);
  var c3_3 = f32(0);
  var c4_0 = f32(0);
  var c4_1 = f32(0);
  var c4_2 = f32(0);
  var c4_3 = f32(0);
  var c5_0 = f32(0);
  var c5_1 = f32(0);
  var c5_2 = f32(0);
  var c5_3 = f32(0);
  var c6_0 = f32(0);
  var c6_1 = f32(0);
  var c6_2 = f32(0);
  var c6_3 = f32(0);
  var c7_0 = f32(0);
  var c7_1 = f32(0);
  var c7_2 = f32(0);
  var c7_3 = f32(0);
  for (var k0 = 0u; k0 < 65u; k0 = k0 + 16u) {
    for (var e = lid; e < 128u; e = e + 16u) {
      let m = mt + e / 4u;
      let k = k0 + (e % 4u) * 4u;
      As[e] = vec4<f32>(ldA(bt, m, k + 0u), ldA(bt, m, k + 1u), ldA(bt, m, k + 2u), ldA(bt, m, k + 3u));
    }
    for (var e = lid; e < 64u; e = e + 16u) {
      let k = k0 + e / 4u;
      let n = nt + (e % 4u) * 4u;
      Bs[e] = vec4<f32>(ldB(bt, k, n + 0u), ldB(bt, k, n + 1u), ldB(bt, k, n + 2u), ldB(bt, k, n + 3u));
    }
    workgroupBarrier();
    for (var k4 = 0u; k4 < 4u; k4 = k4 + 1u) {
      let a0 = As[(ty * 8u + 0u) * 4u + k4];
      let a1 = As[(ty * 8u + 1u) * 4u + k4];
      let a2 = As[(ty * 8u + 2u) * 4u + k4];
      let a3 = As[(ty * 8u + 3u) * 4u + k4];
      let a4 = As[(ty * 8u + 4u) * 4u + k4];
      let a5 = As[(ty * 8u + 5u) * 4u + k4];
      let a6 = As[(ty * 8u + 6u) * 4u + k4];
      let a7 = As[(ty * 8u + 7u) * 4u + k4];
      let b0_0 = Bs[(k4 * 4u + 0u) * 4u + tx * 1u + 0u];
      let b1_0 = Bs[(k4 * 4u + 1u) * 4u + tx * 1u + 0u];
      let b2_0 = Bs[(k4 * 4u + 2u) * 4u + tx * 1u + 0u];
      let b3_0 = Bs[(k4 * 4u + 3u) * 4u + tx * 1u + 0u];
      c0_0 = c0_0 + a0.x * b0_0.x;
      c0_1 = c0_1 + a0.x * b0_0.y;
      c0_2 = c0_2 + a0.x * b0_0.z;
      c0_3 = c0_3 + a0.x * b0_0.w;
      c1_0 = c1_0 + a1.x * b0_0.x;
      c1_1 = c1_1 + a1.x * b0_0.y;
      c1_2 = c1_2 + a1.x * b0_0.z;
      c1_3 = c1_3 + a1.x * b0_0.w;
      c2_0 = c2_0 + a2.x * b0_0.x;
      c2_1 = c2_1 + a2.x * b0_0.y;
      c2_2 = c2_2 + a2.x * b0_0.z;
      c2_3 = c2_3 + a2.x * b0_0.w;
      c3_0 = c3_0 + a3.x * b0_0.x;
      c3_1 = c3_1 + a3.x * b0_0.y;
      c3_2 = c3_2 + a3.x * b0_0.z;
      c3_3 = c3_3 + a3.x * b0_0.w;
      c4_0 = c4_0 + a4.x * b0_0.x;
      c4_1 = c4_1 + a4.x * b0_0.y;
      c4_2 = c4_2 + a4.x * b0_0.z;
      c4_3 = c4_3 + a4.x * b0_0.w;
      c5_0 = c5_0 + a5.x * b0_0.x;
      c5_1 = c5_1 + a5.x * b0_0.y;
      c5_2 = c5_2 + a5.x * b0_0.z;
      c5_3 = c5_3 + a5.x * b0_0.w;
      c6_0 = c6_0 + a6.x * b0_0.x;
      c6_1 = c6_1 + a6.x * b0_0.y;
      c6_2 = c6_2 + a6.x * b0_0.z;
      c6_3 = c6_3 + a6.x * b0_0.w;
      c7_0 = c7_0 + a7.x * b0_0.x;
      c7_1 = c7_1 + a7.x * b0_0.y;
      c7_2 = c7_2 + a7.x * b0_0.z;
      c7_3 = c7_3 + a7.x * b0_0.w;
      c0_0 = c0_0 + a0.y * b1_0.x;
      c0_1 = c0_1 + a0.y * b1_0.y;
      c0_2 = c0_2 + a0.y * b1_0.z;
      c0_3 = c0_3 + a0.y * b1_0.w;
      c1_0 = c1_0 + a1.y * b1_0.x;
      c1_1 = c1_1 + a1.y * b1_0.y;
      c1_2 = c1_2 + a1.y * b1_0.z;
      c1_3 = c1_3 + a1.y * b1_0.w;
      c2_0 = c2_0 + a2.y * b1_0.x;
      c2_1 = c2_1 + a2.y * b1_0.y;
      c2_2 = c2_2 + a2.y * b1_0.z;
      c2_3 = c2_3 + a2.y * b1_0.w;
      c3_0 = c3_0 + a3.y * b1_0.x;
      c3_1 = c3_1 + a3.y * b1_0.y;
      c3_2 = c3_2 + a3.y * b1_0.z;
      c3_3 = c3_3 + a3.y * b1_0.w;
      c4_0 = c4_0 + a4.y * b1_0.x;
      c4_1 = c4_1 + a4.y * b1_0.y;
      c4_2 = c4_2 + a4.y * b1_0.z;
      c4_3 = c4_3 + a4.y * b1_0.w;
      c5_0 = c5_0 + a5.y * b1_0.x;
      c5_1 = c5_1 + a5.y * b1_0.y;
      c5_2 = c5_2 + a5.y * b1_0.z;
      c5_3 = c5_3 + a5.y * b1_0.w;
      c6_0 = c6_0 + a6.y * b1_0.x;
      c6_1 = c6_1 + a6.y * b1_0.y;
      c6_2 = c6_2 + a6.y * b1_0.z;
      c6_3 = c6_3 + a6.y * b1_0.w;
      c7_0 = c7_0 + a7.y * b1_0.x;
      c7_1 = c7_1 + a7.y * b1_0.y;
      c7_2 = c7_2 + a7.y * b1_0.z;
      c7_3 = c7_3 + a7.y * b1_0.w;
      c0_0 = c0_0 + a0.z * b2_0.x;
      c0_1 = c0_1 + a0.z * b2_0.y;
      c0_2 = c0_2 + a0.z * b2_0.z;
      c0_3 = c0_3 + a0.z * b2_0.w;
      c1_0 = c1_0 + a1.z * b2_0.x;
      c1_1 = c1_1 + a1.z * b2_0.y;
      c1_2 = c1_2 + a1.z * b2_0.z;
      c1_3 = c1_3 + a1.z * b2_0.w;
      c2_0 = c2_0 + a2.z * b2_0.x;
      c2_1 = c2_1 + a2.z * b2_0.y;
      c2_2 = c2_2 + a2.z * b2_0.z;
      c2_3 = c2_3 + a2.z * b2_0.w;
      c3_0 = c3_0 + a3.z * b2_0.x;
      c3_1 = c3_1 + a3.z * b2_0.y;
      c3_2 = c3_2 + a3.z * b2_0.z;
      c3_3 = c3_3 + a3.z * b2_0.w;
      c4_0 = c4_0 + a4.z * b2_0.x;
      c4_1 = c4_1 + a4.z * b2_0.y;
      c4_2 = c4_2 + a4.z * b2_0.z;
      c4_3 = c4_3 + a4.z * b2_0.w;
      c5_0 = c5_0 + a5.z * b2_0.x;
      c5_1 = c5_1 + a5.z * b2_0.y;
      c5_2 = c5_2 + a5.z * b2_0.z;
      c5_3 = c5_3 + a5.z * b2_0.w;
      c6_0 = c6_0 + a6.z * b2_0.x;
      c6_1 = c6_1 + a6.z * b2_0.y;
      c6_2 = c6_2 + a6.z * b2_0.z;
      c6_3 = c6_3 + a6.z * b2_0.w;
      c7_0 = c7_0 + a7.z * b2_0.x;
      c7_1 = c7_1 + a7.z * b2_0.y;
      c7_2 = c7_2 + a7.z * b2_0.z;
      c7_3 = c7_3 + a7.z * b2_0.w;
      c0_0 = c0_0 + a0.w * b3_0.x;
      c0_1 = c0_1 + a0.w * b3_0.y;
      c0_2 = c0_2 + a0.w * b3_0.z;
      c0_3 = c0_3 + a0.w * b3_0.w;
      c1_0 = c1_0 + a1.w * b3_0.x;
      c1_1 = c1_1 + a1.w * b3_0.y;
      c1_2 = c1_2 + a1.w * b3_0.z;
      c1_3 = c1_3 + a1.w * b3_0.w;
      c2_0 = c2_0 + a2.w * b3_0.x;
      c2_1 = c2_1 + a2.w * b3_0.y;
      c2_2 = c2_2 + a2.w * b3_0.z;
      c2_3 = c2_3 + a2.w * b3_0.w;
      c3_0 = c3_0 + a3.w * b3_0.x;
      c3_1 = c3_1 + a3.w * b3_0.y;
      c3_2 = c3_2 + a3.w * b3_0.z;
      c3_3 = c3_3 + a3.w * b3_0.w;
      c4_0 = c4_0 + a4.w * b3_0.x;
      c4_1 = c4_1 + a4.w * b3_0.y;
      c4_2 = c4_2 + a4.w * b3_0.z;
      c4_3 = c4_3 + a4.w * b3_0.w;
      c5_0 = c5_0 + a5.w * b3_0.x;
      c5_1 = c5_1 + a5.w * b3_0.y;
      c5_2 = c5_2 + a5.w * b3_0.z;
      c5_3 = c5_3 + a5.w * b3_0.w;
      c6_0 = c6_0 + a6.w * b3_0.x;
      c6_1 = c6_1 + a6.w * b3_0.y;
      c6_2 = c6_2 + a6.w * b3_0.z;
      c6_3 = c6_3 + a6.w * b3_0.w;
      c7_0 = c7_0 + a7.w * b3_0.x;
      c7_1 = c7_1 + a7.w * b3_0.y;
      c7_2 = c7_2 + a7.w * b3_0.z;
      c7_3 = c7_3 + a7.w * b3_0.w;
    }
    workgroupBarrier();
  }
  if (valid) {
    let n0 = nt + tx * 4u;
    let m0 = mt + ty * 8u + 0u;
    let m1 = mt + ty * 8u + 1u;
    let m2 = mt + ty * 8u + 2u;
    let m3 = mt + ty * 8u + 3u;
    let m4 = mt + ty * 8u + 4u;
    let m5 = mt + ty * 8u + 5u;
    let m6 = mt + ty * 8u + 6u;
    let m7 = mt + ty * 8u + 7u;
    if (m0 < 33u && n0 + 0u < 17u) { storeC(bt, m0, n0 + 0u, c0_0); }
    if (m0 < 33u && n0 + 1u < 17u) { storeC(bt, m0, n0 + 1u, c0_1); }
    if (m0 < 33u && n0 + 2u < 17u) { storeC(bt, m0, n0 + 2u, c0_2); }
    if (m0 < 33u && n0 + 3u < 17u) { storeC(bt, m0, n0 + 3u, c0_3); }
    if (m1 < 33u && n0 + 0u < 17u) { storeC(bt, m1, n0 + 0u, c1_0); }
    if (m1 < 33u && n0 + 1u < 17u) { storeC(bt, m1, n0 + 1u, c1_1); }
    if (m1 < 33u && n0 + 2u < 17u) { storeC(bt, m1, n0 + 2u, c1_2); }
    if (m1 < 33u && n0 + 3u < 17u) { storeC(bt, m1, n0 + 3u, c1_3); }
    if (m2 < 33u && n0 + 0u < 17u) { storeC(bt, m2, n0 + 0u, c2_0); }
    if (m2 < 33u && n0 + 1u < 17u) { storeC(bt, m2, n0 + 1u, c2_1); }
    if (m2 < 33u && n0 + 2u < 17u) { storeC(bt, m2, n0 + 2u, c2_2); }
    if (m2 < 33u && n0 + 3u < 17u) { storeC(bt, m2, n0 + 3u, c2_3); }
    if (m3 < 33u && n0 + 0u < 17u) { storeC(bt, m3, n0 + 0u, c3_0); }
    if (m3 < 33u && n0 + 1u < 17u) { storeC(bt, m3, n0 + 1u, c3_1); }
    if (m3 < 33u && n0 + 2u < 17u) { storeC(bt, m3, n0 + 2u, c3_2); }
    if (m3 < 33u && n0 + 3u < 17u) { storeC(bt, m3, n0 + 3u, c3_3); }
    if (m4 < 33u && n0 + 0u < 17u) { storeC(bt, m4, n0 + 0u, c4_0); }
    if (m4 < 33u && n0 + 1u < 17u) { storeC(bt, m4, n0 + 1u, c4_1); }
    if (m4 < 33u && n0 + 2u < 17u) { storeC(bt, m4, n0 + 2u, c4_2); }
    if (m4 < 33u && n0 + 3u < 17u) { storeC(bt, m4, n0 + 3u, c4_3); }
    if (m5 < 33u && n0 + 0u < 17u) { storeC(bt, m5, n0 + 0u, c5_0); }
    if (m5 < 33u && n0 + 1u < 17u) { storeC(bt, m5, n0 + 1u, c5_1); }
    if (m5 < 33u && n0 + 2u < 17u) { storeC(bt, m5, n0 + 2u, c5_2); }
    if (m5 < 33u && n0 + 3u < 17u) { storeC(bt, m5, n0 + 3u, c5_3); }
    if (m6 < 33u && n0 + 0u < 17u) { storeC(bt, m6, n0 + 0u, c6_0); }
    if (m6 < 33u && n0 + 1u < 17u) { storeC(bt, m6, n0 + 1u, c6_1); }
    if (m6 < 33u && n0 + 2u < 17u) { storeC(bt, m6, n0 + 2u, c6_2); }
    if (m6 < 33u && n0 + 3u < 17u) { storeC(bt, m6, n0 + 3u, c6_3); }
    if (m7 < 33u && n0 + 0u < 17u) { storeC(bt, m7, n0 + 0u, c7_0); }
    if (m7 < 33u && n0 + 1u < 17u) { storeC(bt, m7, n0 + 1u, c7_1); }
    if (m7 < 33u && n0 + 2u < 17u) { storeC(bt, m7, n0 + 2u, c7_2); }
    if (m7 < 33u && n0 + 3u < 17u) { storeC(bt, m7, n0 + 3u, c7_3); }
  }
}
