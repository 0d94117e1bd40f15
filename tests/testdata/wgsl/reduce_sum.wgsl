temps: [112]
// step 0: workgroup 256x1x1, dispatch 28x1x1, bindings in0 tmp0
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
var<workgroup> sv: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let ob = g / 7u;
  let c = g % 7u;
  var acc = f32(0);
  var kc = 0.0;
  let kz = select(0u, 1u, wid.z == 0xffffffffu);
  if (g < 28u) {
    var k_r = ob;
  let k0 = k_r;
  let base = (k0) * 100000u;
    let end = min((c + 1u) * 14286u, 100000u);
    for (var r = c * 14286u + lid; r < end; r = r + 256u) {
      let roff = r;
      let x = a[base + roff];
      _kadd(&acc, &kc, x, kz);
    }
  }
  sv[lid] = (acc - kc);
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) { sv[lid] = (sv[lid] + sv[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u && g < 28u) { o[g] = sv[0]; }
}
fn _kadd(s: ptr<function, f32>, c: ptr<function, f32>, x: f32, z: u32) {
  let y = x - *c;
  let t = bitcast<f32>(bitcast<u32>(*s + y) ^ z);
  let e = (t - *s) - y;
  *c = select(e, 0.0, (bitcast<u32>(e) & 0x7f800000u) == 0x7f800000u);
  *s = t;
}
// step 1: workgroup 64x1x1, dispatch 1x1x1, bindings tmp0 out0
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
fn _kadd(s: ptr<function, f32>, c: ptr<function, f32>, x: f32, z: u32) {
  let y = x - *c;
  let t = bitcast<f32>(bitcast<u32>(*s + y) ^ z);
  let e = (t - *s) - y;
  *c = select(e, 0.0, (bitcast<u32>(e) & 0x7f800000u) == 0x7f800000u);
  *s = t;
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 64u + lid;
  if (i >= 4u) { return; }
  var k_r = i;
  let k0 = k_r;
  let base = (k0) * 7u;
  var acc = f32(0);
  var kc = 0.0;
  let kz = select(0u, 1u, wid.z == 0xffffffffu);
  for (var r = 0u; r < 7u; r = r + 1u) {
    let roff = r;
    let x = a[base + roff];
    _kadd(&acc, &kc, x, kz);
  }
  o[i] = (acc - kc);
}
