// softmax.wgsl — row softmax with a scale and a key-padding mask, and its backward (attention probabilities).
//
// MATH (one row s of length C)
//   forward:   z_c = scale · s_c, or −∞ where mask[b, c] = 0
//              y_c = exp(z_c − max z) / Σ_c' exp(z_c' − max z)
//              A row whose every entry is masked gives y ≡ 0 (not NaN).
//   backward:  ds_c = scale · y_c · (dy_c − Σ_c' dy_c' · y_c')
//              (masked entries have y_c = 0, so they get no gradient)
//   For attention, rows are (batch, head, query) and columns are keys, so the
//   mask row of row r is batch b = r / rowsPerBatch (rowsPerBatch = heads ·
//   queries); mask holds 1 for a real token and 0 for padding, per key.
//   Without a mask, set hasMask = 0 (the binding is then not read).
//
// MEMORY LAYOUT
//   x, y, dy, dx: rows×C row-major fp32; mask: batches×C fp32.
//
// THREAD → DATA MAPPING
//   One workgroup of WG threads per row (grid folded past 65535 rows);
//   threads stride over columns, partial results meet in a fixed binary tree
//   in workgroup memory: deterministic, no atomics.
//
// WHAT BOUNDS IT
//   Memory and barriers: 2 reductions (max, sum) forward, 1 backward.

struct Params {
  rows: u32,
  C: u32,
  rowsPerBatch: u32,
  hasMask: u32,
  scale: f32,
}

struct BackwardParams {
  rows: u32,
  C: u32,
  scale: f32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read> yIn: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<uniform> backwardParams: BackwardParams;

var<workgroup> partial: array<f32, WG>;

// Reduces over the workgroup by a fixed tree, with max (useMax) or +.
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

fn kept(row: u32, c: u32) -> bool {
  return params.hasMask == 0u || mask[(row / params.rowsPerBatch) * params.C + c] != 0.0;
}

const LOWEST: f32 = -3.402823e38;

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  let row = wid.y * groups.x + wid.x;
  if (row >= params.rows) { return; }
  let base = row * params.C;

  var m = LOWEST;
  for (var c = t; c < params.C; c += WG) {
    if (kept(row, c)) { m = max(m, params.scale * x[base + c]); }
  }
  m = workgroupReduce(t, m, true);

  var s = 0.0;
  for (var c = t; c < params.C; c += WG) {
    if (kept(row, c)) { s += exp(params.scale * x[base + c] - m); }
  }
  s = workgroupReduce(t, s, false);

  for (var c = t; c < params.C; c += WG) {
    var p = 0.0;
    if (kept(row, c)) { p = exp(params.scale * x[base + c] - m) / s; }
    y[base + c] = p;
  }
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  let row = wid.y * groups.x + wid.x;
  if (row >= backwardParams.rows) { return; }
  let base = row * backwardParams.C;

  var s = 0.0;
  for (var c = t; c < backwardParams.C; c += WG) { s += dy[base + c] * yIn[base + c]; }
  s = workgroupReduce(t, s, false);

  for (var c = t; c < backwardParams.C; c += WG) {
    dx[base + c] = backwardParams.scale * yIn[base + c] * (dy[base + c] - s);
  }
}
