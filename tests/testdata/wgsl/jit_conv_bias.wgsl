// conv_general_dilated (fused): grid 2x1x1, 4 bindings; conv_general_dilated,reshape,broadcast_in_dim,add
@group(0) @binding(3) var<storage, read> x0: array<f32>;

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
fn loadA(g: u32, m: u32, k: u32) -> f32 {
  let n = m / 35u;
  let sp = m % 35u;
  let c = k / 9u;
  let kp = k % 9u;
  var s_r = sp;
  let s1 = s_r % 7u; s_r = s_r / 7u;
  let s0 = s_r;
  var w_r = kp;
  let w1 = w_r % 3u; w_r = w_r / 3u;
  let w0 = w_r;
  var ok = true;
  var off = 0u;
  let q0 = i32(s0 * 2u + w0 * 1u) - 1i;
  ok = ok && q0 >= 0i && q0 < 9i;
  off = off + u32(q0) * 7u;
  let q1 = i32(s1 * 1u + w1 * 1u) - 1i;
  ok = ok && q1 >= 0i && q1 < 7i;
  off = off + u32(q1) * 1u;
  if (!ok) { return f32(0); }
  return a[((n) * 3u + c) * 63u + off];
}
fn loadB(g: u32, k: u32, n: u32) -> f32 { return b[(g * 5u + n) * 27u + k]; }
fn storeC(g: u32, m: u32, n: u32, v: f32) {
  let lin = ((m / 35u) * 5u + g * 5u + n) * 35u + m % 35u;
  let d0 = lin % 7u;
  let q1 = lin / 7u;
  let d2 = q1 % 5u;
  let q3 = q1 / 5u;
  let d4 = q3 % 5u;
  let q5 = q3 / 5u;
  let v6 = x0[d4];
  let t7 = (v + v6);
  o[lin] = t7;
}
fn ldA(bt: u32, m: u32, k: u32) -> f32 {
  if (m < 70u && k < 27u) { return loadA(bt, m, k); }
  return f32(0);
}
fn ldB(bt: u32, k: u32, n: u32) -> f32 {
  if (n < 5u && k < 27u) { return loadB(bt, k, n); }
  return f32(0);
}
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 64>;
@compute @workgroup_size(4, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid3: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let tn = g % 1u;
  let gr = g / 1u;
  let tm = gr % 2u;
  let bt = min(gr / 2u, 0u);
  let valid = gr / 2u < 1u;
  let mt = tm * 64u;
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
  for (var k0 = 0u; k0 < 27u; k0 = k0 + 16u) {
    for (var e = lid; e < 256u; e = e + 32u) {
      let m = mt + e / 4u;
      let k = k0 + (e % 4u) * 4u;
      As[e] = vec4<f32>(ldA(bt, m, k + 0u), ldA(bt, m, k + 1u), ldA(bt, m, k + 2u), ldA(bt, m, k + 3u));
    }
    for (var e = lid; e < 64u; e = e + 32u) {
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
    if (m0 < 70u && n0 + 0u < 5u) { storeC(bt, m0, n0 + 0u, c0_0); }
    if (m0 < 70u && n0 + 1u < 5u) { storeC(bt, m0, n0 + 1u, c0_1); }
    if (m0 < 70u && n0 + 2u < 5u) { storeC(bt, m0, n0 + 2u, c0_2); }
    if (m0 < 70u && n0 + 3u < 5u) { storeC(bt, m0, n0 + 3u, c0_3); }
    if (m1 < 70u && n0 + 0u < 5u) { storeC(bt, m1, n0 + 0u, c1_0); }
    if (m1 < 70u && n0 + 1u < 5u) { storeC(bt, m1, n0 + 1u, c1_1); }
    if (m1 < 70u && n0 + 2u < 5u) { storeC(bt, m1, n0 + 2u, c1_2); }
    if (m1 < 70u && n0 + 3u < 5u) { storeC(bt, m1, n0 + 3u, c1_3); }
    if (m2 < 70u && n0 + 0u < 5u) { storeC(bt, m2, n0 + 0u, c2_0); }
    if (m2 < 70u && n0 + 1u < 5u) { storeC(bt, m2, n0 + 1u, c2_1); }
    if (m2 < 70u && n0 + 2u < 5u) { storeC(bt, m2, n0 + 2u, c2_2); }
    if (m2 < 70u && n0 + 3u < 5u) { storeC(bt, m2, n0 + 3u, c2_3); }
    if (m3 < 70u && n0 + 0u < 5u) { storeC(bt, m3, n0 + 0u, c3_0); }
    if (m3 < 70u && n0 + 1u < 5u) { storeC(bt, m3, n0 + 1u, c3_1); }
    if (m3 < 70u && n0 + 2u < 5u) { storeC(bt, m3, n0 + 2u, c3_2); }
    if (m3 < 70u && n0 + 3u < 5u) { storeC(bt, m3, n0 + 3u, c3_3); }
    if (m4 < 70u && n0 + 0u < 5u) { storeC(bt, m4, n0 + 0u, c4_0); }
    if (m4 < 70u && n0 + 1u < 5u) { storeC(bt, m4, n0 + 1u, c4_1); }
    if (m4 < 70u && n0 + 2u < 5u) { storeC(bt, m4, n0 + 2u, c4_2); }
    if (m4 < 70u && n0 + 3u < 5u) { storeC(bt, m4, n0 + 3u, c4_3); }
    if (m5 < 70u && n0 + 0u < 5u) { storeC(bt, m5, n0 + 0u, c5_0); }
    if (m5 < 70u && n0 + 1u < 5u) { storeC(bt, m5, n0 + 1u, c5_1); }
    if (m5 < 70u && n0 + 2u < 5u) { storeC(bt, m5, n0 + 2u, c5_2); }
    if (m5 < 70u && n0 + 3u < 5u) { storeC(bt, m5, n0 + 3u, c5_3); }
    if (m6 < 70u && n0 + 0u < 5u) { storeC(bt, m6, n0 + 0u, c6_0); }
    if (m6 < 70u && n0 + 1u < 5u) { storeC(bt, m6, n0 + 1u, c6_1); }
    if (m6 < 70u && n0 + 2u < 5u) { storeC(bt, m6, n0 + 2u, c6_2); }
    if (m6 < 70u && n0 + 3u < 5u) { storeC(bt, m6, n0 + 3u, c6_3); }
    if (m7 < 70u && n0 + 0u < 5u) { storeC(bt, m7, n0 + 0u, c7_0); }
    if (m7 < 70u && n0 + 1u < 5u) { storeC(bt, m7, n0 + 1u, c7_1); }
    if (m7 < 70u && n0 + 2u < 5u) { storeC(bt, m7, n0 + 2u, c7_2); }
    if (m7 < 70u && n0 + 3u < 5u) { storeC(bt, m7, n0 + 3u, c7_3); }
  }
}
