// layernorm.wgsl — layer normalization over the last axis, forward and backward.
//
// MATH (one row x of length D, learned gamma and beta of length D)
//   forward   mean = (1/D) Σ_d x_d
//             var  = (1/D) Σ_d (x_d − mean)²            (biased, as PyTorch)
//             rstd = 1 / sqrt(var + eps)
//             x̂_d  = (x_d − mean) · rstd
//             y_d  = x̂_d · gamma_d + beta_d
//   backward  with g_d = dy_d · gamma_d,
//             dx_d     = rstd · (g_d − mean_d'(g) − x̂_d · mean_d'(g · x̂))
//             dgamma_d = Σ_rows dy_d · x̂_d
//             dbeta_d  = Σ_rows dy_d
//   The forward saves mean and rstd per row, so the backward never recomputes
//   the statistics.
//
// MEMORY LAYOUT
//   x, y, dy, dx: rows×D row-major fp32; gamma, beta, dgamma, dbeta: D;
//   mean, rstd: one fp32 per row.
//
// THREAD → DATA MAPPING
//   forward, backwardInput: one workgroup of WG threads per row (workgroup
//     (x, y) of an x-wide grid takes row y·x_count + x, so more than 65535
//     rows fit in a folded 2D grid). Thread t sums
//     elements t, t+WG, t+2·WG, … in that order; the WG partial sums are then
//     added by a fixed binary tree in workgroup memory. Both orders are fixed,
//     so results are bitwise reproducible run to run. The variance is a second
//     pass over the centered values (not E[x²] − mean², which cancels badly
//     when |mean| ≫ std).
//   backwardParams: one thread per column d walks all rows in order, so
//     dgamma and dbeta are reduced deterministically without atomics; threads
//     of a workgroup read consecutive columns of the same row (coalesced).
//
// WHAT BOUNDS IT
//   Memory: forward reads x twice (cached: a row is at most a few KiB) and
//   writes y; backward reads x, dy once per pass. The tree costs log2(WG)
//   barriers per reduction, which is what a software adapter pays most for,
//   so the launcher sets WG to one subgroup's worth of threads (8 on
//   lavapipe, where that ran 1.8× faster than 64; 32 or 64 on GPUs).

struct LayerNormParams {
  rows: u32,
  D: u32,
  eps: f32,
}

struct LayerNormShape {
  rows: u32,
  D: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(6) var<uniform> params: LayerNormParams;

@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<storage, read> savedMean: array<f32>;
@group(0) @binding(9) var<storage, read> savedRstd: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<f32>;
@group(0) @binding(11) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(13) var<uniform> shape: LayerNormShape;

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial2: array<f32, WG>;

// Sums `value` over the workgroup by a fixed binary tree; every thread gets
// the total. WG must be a power of two.
fn workgroupSum(t: u32, value: f32) -> f32 {
  partial[t] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

// Two sums at once, sharing the barriers (used by the backward pass).
fn workgroupSum2(t: u32, value: vec2<f32>) -> vec2<f32> {
  partial[t] = value.x;
  partial2[t] = value.y;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) {
      partial[t] += partial[t + stride];
      partial2[t] += partial2[t + stride];
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(partial[0], partial2[0]);
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  // The grid is folded into 2D past 65535 rows. The row is uniform across
  // the workgroup, so the early return keeps the barriers uniform.
  let row = wid.y * groups.x + wid.x;
  if (row >= params.rows) { return; }
  let base = row * params.D;
  let invD = 1.0 / f32(params.D);

  var s = 0.0;
  for (var d = t; d < params.D; d += WG) { s += x[base + d]; }
  let mu = workgroupSum(t, s) * invD;

  var sq = 0.0;
  for (var d = t; d < params.D; d += WG) {
    let centered = x[base + d] - mu;
    sq += centered * centered;
  }
  let r = inverseSqrt(workgroupSum(t, sq) * invD + params.eps);

  for (var d = t; d < params.D; d += WG) {
    y[base + d] = (x[base + d] - mu) * r * gamma[d] + beta[d];
  }
  if (t == 0u) {
    mean[row] = mu;
    rstd[row] = r;
  }
}

@compute @workgroup_size(WG)
fn backwardInput(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  let row = wid.y * groups.x + wid.x;
  if (row >= shape.rows) { return; }
  let base = row * shape.D;
  let mu = savedMean[row];
  let r = savedRstd[row];

  var sums = vec2<f32>();  // (Σ g, Σ g·x̂)
  for (var d = t; d < shape.D; d += WG) {
    let g = dy[base + d] * gamma[d];
    sums += vec2<f32>(g, g * (x[base + d] - mu) * r);
  }
  let means = workgroupSum2(t, sums) / f32(shape.D);

  for (var d = t; d < shape.D; d += WG) {
    let g = dy[base + d] * gamma[d];
    let xhat = (x[base + d] - mu) * r;
    dx[base + d] = r * (g - means.x - xhat * means.y);
  }
}

@compute @workgroup_size(WG)
fn backwardParams(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = gid.x;
  if (d >= shape.D) { return; }
  var dg = 0.0;
  var db = 0.0;
  for (var row = 0u; row < shape.rows; row++) {
    let i = row * shape.D + d;
    dg += dy[i] * (x[i] - savedMean[row]) * savedRstd[row];
    db += dy[i];
  }
  dgamma[d] = dg;
  dbeta[d] = db;
}
