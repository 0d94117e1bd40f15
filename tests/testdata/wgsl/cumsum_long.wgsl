temps: [276,276]
// step 0: workgroup 64x1x1, dispatch 2x1x1, bindings in0 out0 tmp0
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@group(0) @binding(2) var<storage, read_write> tot: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 64u + lid;
  if (i >= 69u) { return; }
  let q = i % 1u;
  let r = i / 1u;
  let b = r % 69u;
  let p = r / 69u;
  let end = min((b + 1u) * 1024u, 70000u);
  var acc = f32(0);
  for (var l = b * 1024u; l < end; l = l + 1u) {
    let k = (p * 70000u + (l)) * 1u + q;
    acc = (acc + a[k]);
    o[k] = acc;
  }
  tot[i] = acc;
}
// step 1: workgroup 64x1x1, dispatch 1x1x1, bindings tmp0 tmp1
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 64u + lid;
  if (i >= 1u) { return; }
  let p = i / 1u;
  let q = i % 1u;
  var acc = f32(0);
  for (var l = 0u; l < 69u; l = l + 1u) {
    let k = (p * 69u + (l)) * 1u + q;
    acc = (acc + a[k]);
    o[k] = acc;
  }
}
// step 2: workgroup 64x1x1, dispatch 1094x1x1, bindings tmp1 out0
@group(0) @binding(0) var<storage, read> pre: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wid.x * 64u + lid;
  if (i >= 70000u) { return; }
  let q = i % 1u;
  let r = i / 1u;
  let pos = r % 70000u;
  let p = r / 70000u;
  let b = pos / 1024u;
  if (b > 0u) {
    let k = (p * 70000u + (pos)) * 1u + q;
    o[k] = (pre[(p * 69u + b - 1u) * 1u + q] + o[k]);
  }
}
