// pool.wgsl — masked max pooling over the tokens of each sequence, and its backward.
//
// MATH
//   forward:   y[b, d] = max_{t : mask[b, t] ≠ 0} x[b, t, d]     (0 when every token is masked)
//              index[b, d] = the first t reaching that maximum (−1 when all masked)
//   backward:  dx[b, t, d] = dy[b, d] if t = index[b, d], else 0
//   The gradient of a max goes to the position that produced it. Ties go to
//   the first token, so forward and backward are deterministic.
//
// MEMORY LAYOUT
//   x, dx: B×T×D row-major fp32; mask: B×T fp32 (1 token, 0 padding);
//   y, dy: B×D fp32; index: B×D i32.
//
// THREAD → DATA MAPPING
//   forward: one thread per (b, d) walks the T tokens in order (consecutive
//     threads take consecutive d: reads are contiguous per token).
//   backward: one thread per element of dx, writing every element (zeros
//     included), so dx needs no clearing first.
//   The grids are folded into 2D past the per-dimension workgroup limit.
//
// WHAT BOUNDS IT
//   Memory: forward reads x once; backward writes dx once.

struct Shape {
  B: u32,
  T: u32,
  D: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> index: array<i32>;
@group(0) @binding(4) var<uniform> shape: Shape;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> indexIn: array<i32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn maxForward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let e = gid.y * groups.x * WG + gid.x;
  if (e >= shape.B * shape.D) { return; }
  let b = e / shape.D;
  let d = e % shape.D;
  var best = 0.0;
  var at = -1;
  for (var t = 0u; t < shape.T; t++) {
    if (mask[b * shape.T + t] == 0.0) { continue; }
    let v = x[(b * shape.T + t) * shape.D + d];
    if (at < 0 || v > best) {
      best = v;
      at = i32(t);
    }
  }
  y[e] = best;
  index[e] = at;
}

@compute @workgroup_size(WG)
fn maxBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let e = gid.y * groups.x * WG + gid.x;
  if (e >= shape.B * shape.T * shape.D) { return; }
  let d = e % shape.D;
  let t = (e / shape.D) % shape.T;
  let b = e / (shape.D * shape.T);
  let k = b * shape.D + d;
  dx[e] = select(0.0, dy[k], indexIn[k] == i32(t));
}
