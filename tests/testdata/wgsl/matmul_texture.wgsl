temps: []
textures: [{"width":17,"height":33,"layers":1,"format":"rgba32float"},{"width":5,"height":68,"layers":1,"format":"rgba32float"}]
// step 0: workgroup 64x1x1, dispatch 9x1x1, bindings in0 tex0
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var T: texture_storage_2d_array<rgba32float, write>;
fn loadA(bi: u32, m: u32, k: u32) -> f32 {
  let ob = 0u;
  let om = (m) * 65u;
  let ok = (k);
  return a[ob + om + ok];
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 64u + lid;
  if (i >= 561u) { return; }
  let c4 = i % 17u;
  let r = i / 17u;
  let row = r % 33u;
  let bt = r / 33u;
  let col = c4 * 4u;
  var v = vec4<f32>(f32(0));
  if (col < 65u) { v = vec4<f32>(select(f32(0), loadA(bt, row, col + 0u), col + 0u < 65u), select(f32(0), loadA(bt, row, col + 1u), col + 1u < 65u), select(f32(0), loadA(bt, row, col + 2u), col + 2u < 65u), select(f32(0), loadA(bt, row, col + 3u), col + 3u < 65u)); }
  textureStore(T, vec2u(c4, row % 33u), bt * 1u + row / 33u, v);
}
// step 1: workgroup 64x1x1, dispatch 6x1x1, bindings in1 tex1
@group(0) @binding(0) var<storage, read> b: array<f32>;
@group(0) @binding(1) var T: texture_storage_2d_array<rgba32float, write>;
fn loadB(bi: u32, k: u32, n: u32) -> f32 {
  let ob = 0u;
  let ok = (k) * 17u;
  let on = (n);
  return b[ob + ok + on];
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 64u + lid;
  if (i >= 340u) { return; }
  let c4 = i % 5u;
  let r = i / 5u;
  let row = r % 68u;
  let bt = r / 68u;
  let col = c4 * 4u;
  var v = vec4<f32>(f32(0));
  if (row < 65u) { v = vec4<f32>(select(f32(0), loadB(bt, row, col + 0u), col + 0u < 17u), select(f32(0), loadB(bt, row, col + 1u), col + 1u < 17u), select(f32(0), loadB(bt, row, col + 2u), col + 2u < 17u), select(f32(0), loadB(bt, row, col + 3u), col + 3u < 17u)); }
  textureStore(T, vec2u(c4, row % 68u), bt * 1u + row / 68u, v);
}
// step 2: workgroup 8x5x1, dispatch 2x1x1, bindings tex0 tex1 out0
@group(0) @binding(0) var TA: texture_2d_array<f32>;
@group(0) @binding(1) var TB: texture_2d_array<f32>;
@group(0) @binding(2) var<storage, read_write> o: array<f32>;
fn storeC(bi: u32, m: u32, n: u32, v: f32) { o[(bi * 33u + m) * 17u + n] = v; }
@compute @workgroup_size(8, 5)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let g = wid.x;
  let tn = g % 1u;
  let gr = g / 1u;
  let tm = gr % 2u;
  let valid = gr / 2u < 1u;
  let bt = min(gr / 2u, 0u);
  let mb = tm * 32u + lid.x * 4u;
  let nb = tn * 20u + lid.y * 4u;
  let m0 = min(mb + 0u, 32u);
  let ya0 = m0 % 33u;
  let la0 = bt * 1u + m0 / 33u;
  let m1 = min(mb + 1u, 32u);
  let ya1 = m1 % 33u;
  let la1 = bt * 1u + m1 / 33u;
  let m2 = min(mb + 2u, 32u);
  let ya2 = m2 % 33u;
  let la2 = bt * 1u + m2 / 33u;
  let m3 = min(mb + 3u, 32u);
  let ya3 = m3 % 33u;
  let la3 = bt * 1u + m3 / 33u;
  let cx0 = min(nb / 4u + 0u, 4u);
  var c0_0 = vec4<f32>();
  var c1_0 = vec4<f32>();
  var c2_0 = vec4<f32>();
  var c3_0 = vec4<f32>();
  for (var k4 = 0u; k4 < 17u; k4 = k4 + 1u) {
    let a0 = textureLoad(TA, vec2u(k4, ya0), la0, 0);
    let a1 = textureLoad(TA, vec2u(k4, ya1), la1, 0);
    let a2 = textureLoad(TA, vec2u(k4, ya2), la2, 0);
    let a3 = textureLoad(TA, vec2u(k4, ya3), la3, 0);
    let kb = k4 * 4u;
    let lb = bt * 1u + kb / 68u;
    let yb = kb % 68u;
    let b0_0 = textureLoad(TB, vec2u(cx0, yb + 0u), lb, 0);
    let b1_0 = textureLoad(TB, vec2u(cx0, yb + 1u), lb, 0);
    let b2_0 = textureLoad(TB, vec2u(cx0, yb + 2u), lb, 0);
    let b3_0 = textureLoad(TB, vec2u(cx0, yb + 3u), lb, 0);
    c0_0 = c0_0 + a0.x * b0_0;
    c1_0 = c1_0 + a1.x * b0_0;
    c2_0 = c2_0 + a2.x * b0_0;
    c3_0 = c3_0 + a3.x * b0_0;
    c0_0 = c0_0 + a0.y * b1_0;
    c1_0 = c1_0 + a1.y * b1_0;
    c2_0 = c2_0 + a2.y * b1_0;
    c3_0 = c3_0 + a3.y * b1_0;
    c0_0 = c0_0 + a0.z * b2_0;
    c1_0 = c1_0 + a1.z * b2_0;
    c2_0 = c2_0 + a2.z * b2_0;
    c3_0 = c3_0 + a3.z * b2_0;
    c0_0 = c0_0 + a0.w * b3_0;
    c1_0 = c1_0 + a1.w * b3_0;
    c2_0 = c2_0 + a2.w * b3_0;
    c3_0 = c3_0 + a3.w * b3_0;
  }
  if (valid) {
    let tsr0 = select(4u, 0u, textureDimensions(TA).x == 0u);
    for (var ti = 0u; ti < tsr0; ti = ti + 1u) {
      let tr0 = select(select(select(c0_0, c1_0, ti == 1u), c2_0, ti == 2u), c3_0, ti == 3u);
      if (mb + ti < 33u && nb + 0u < 17u) { storeC(bt, mb + ti, nb + 0u, tr0.x); }
      if (mb + ti < 33u && nb + 1u < 17u) { storeC(bt, mb + ti, nb + 1u, tr0.y); }
      if (mb + ti < 33u && nb + 2u < 17u) { storeC(bt, mb + ti, nb + 2u, tr0.z); }
      if (mb + ti < 33u && nb + 3u < 17u) { storeC(bt, mb + ti, nb + 3u, tr0.w); }
    }
  }
}
