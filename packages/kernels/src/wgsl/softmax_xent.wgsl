// softmax_xent.wgsl — fused softmax cross-entropy with an ignore index, loss and gradient in one pass.
//
// MATH (one row of logits z over C classes, label t)
//   p_c   = exp(z_c − max z) / Σ_c' exp(z_c' − max z)       (stable softmax)
//   loss  = −log p_t = log Σ_c exp(z_c − max z) − (z_t − max z)
//   dz_c  = scale · (p_c − [c = t])
//   A row whose label is the ignore index (any negative label, e.g. −100 as
//   PyTorch) gets loss 0 and gradient 0. `scale` is the weight of each row in
//   the total loss (1/number of counted rows for a mean), so dz is already the
//   gradient of the reduced loss and no second pass over the logits is needed.
//
// MEMORY LAYOUT
//   logits, dlogits: rows×C row-major fp32; labels: rows i32; losses: rows fp32
//   (unscaled per-row losses; the caller reduces them).
//
// THREAD → DATA MAPPING
//   One workgroup of WG threads per row. Threads stride over the classes
//   (c = t, t+WG, …) for the max, then for Σ exp, each followed by a fixed
//   binary tree in workgroup memory: deterministic, no atomics.
//
// WHAT BOUNDS IT
//   Memory: logits are read three times (the row stays in cache), dlogits
//   written once. Barriers: 2·log2(WG) per row.

struct Params {
  rows: u32,
  C: u32,
  scale: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

var<workgroup> partial: array<f32, WG>;

// Reduces `value` over the workgroup by a fixed tree with max (useMax) or +.
fn workgroupReduce(t: u32, value: f32, useMax: bool) -> f32 {
  partial[t] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      let other = partial[t + stride];
      partial[t] = select(partial[t] + other, max(partial[t], other), useMax);
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn forwardBackward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                   @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  let row = wid.y * groups.x + wid.x;  // folded 2D grid past 65535 rows
  if (row >= params.rows) { return; }
  let base = row * params.C;
  let label = labels[row];

  var m = -3.402823e38;  // about the most negative finite f32
  for (var c = t; c < params.C; c += WG) { m = max(m, logits[base + c]); }
  m = workgroupReduce(t, m, true);

  var s = 0.0;
  for (var c = t; c < params.C; c += WG) { s += exp(logits[base + c] - m); }
  s = workgroupReduce(t, s, false);

  let ignored = label < 0;
  let scale = select(params.scale, 0.0, ignored);
  for (var c = t; c < params.C; c += WG) {
    let p = exp(logits[base + c] - m) / s;
    dlogits[base + c] = scale * (p - select(0.0, 1.0, i32(c) == label));
  }
  if (t == 0u) {
    var loss = 0.0;
    if (!ignored) { loss = log(s) - (logits[base + u32(label)] - m); }
    losses[row] = loss;
  }
}
