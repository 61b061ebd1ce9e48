// layernorm.wgsl — layer normalization over the last axis, optionally fused with a residual
// add and dropout (before the add or after the norm), forward and backward.
//
// MATH (one row of length D, learned gamma and beta of length D; keep_i as dropout.wgsl)
//   forward   s_d  = drop_in(x_d) + r_d                (each part optional: s = x when neither)
//             mean = (1/D) Σ_d s_d
//             var  = (1/D) Σ_d (s_d − mean)²           (biased, as PyTorch)
//             rstd = 1 / sqrt(var + eps)
//             ŝ_d  = (s_d − mean) · rstd
//             y_d  = drop_out(ŝ_d · gamma_d + beta_d)
//     with drop(v)_i = keep_i ? v_i / (1 − p) : 0, keep_i = hash(seed, stream, i) / 2³² ≥ p
//     for the flat element index i = row·D + d: the same bits as dropout.wgsl gives the
//     same tensor, so a fused and an unfused computation drop the same elements and
//     agree bit for bit. DROP_INPUT is BERT's hidden dropout before the residual
//     (LN(Dropout(dense(h)) + h)); DROP_OUTPUT the embeddings' dropout after their norm.
//   backward  with e_d = drop_out'(dy_d) (dy masked and scaled as the forward was) and
//             g_d = e_d · gamma_d,
//             ds_d     = rstd · (g_d − mean_d'(g) − ŝ_d · mean_d'(g · ŝ))
//             dr_d     = ds_d,       dx_d = drop_in'(ds_d)  (= ds_d without input dropout)
//             dgamma_d = Σ_rows e_d · ŝ_d,    dbeta_d = Σ_rows e_d
//   The forward saves mean and rstd per row, and s when it differs from x (a
//   residual or an input dropout), so the backward recomputes ŝ from s alone
//   and regenerates the mask from its hash; nothing else is stored.
//
// MEMORY LAYOUT
//   x, residual, y, sum, dy, s (the saved sum, or x), ds, dx: rows×D row-major
//   fp32; gamma, beta, dgamma, dbeta: D; mean, rstd: one fp32 per row;
//   partials: one 2·D slice per row block, [Σ e·ŝ for d < D | Σ e for d ≥ D].
//
// THREAD → DATA MAPPING
//   forward, backward: a workgroup of WG threads takes a block of WG/TPR
//     consecutive rows, TPR threads per row (workgroup (x, y) of an x-wide
//     grid takes block y·x_count + x, so more than 65535 blocks fit in a
//     folded 2D grid). Thread `lane` of a row walks elements lane, lane+TPR,
//     … in order; with TPR > 1 the TPR partial sums are then added by a fixed
//     binary tree in workgroup memory. Both orders are fixed, so results are
//     bitwise reproducible run to run. The variance is a second pass over the
//     centered values (not E[s²] − mean², which cancels badly when
//     |mean| ≫ std).
//   backward, parameter gradients (PARAMS): after one barrier the same WG
//     threads switch to columns: thread t takes columns t, t+WG, … and walks
//     the block's rows in order (threads read consecutive columns of a row),
//     writing the block's partial Σ e·ŝ and Σ e. reduceParams then adds the
//     blocks' partials in block order, one thread per column: dgamma and
//     dbeta are deterministic without atomics, and the work over rows is
//     spread over every block instead of one thread walking every row.
//
// WHAT BOUNDS IT
//   Memory, and on a software adapter the per-lane gathers and the barriers.
//   A row is at most a few KiB, so its second and third reads hit the cache:
//   the fused forward moves 16 bytes per element (x, r in; s, y out) where
//   dropout, add and layernorm as three passes move 28, in one dispatch
//   instead of three. The launcher picks TPR: on CPU adapters (lavapipe) one
//   thread per row, which needs no barrier at all: measured at 2048×128 on
//   lavapipe, the plain forward took 1.5 ms against 2.9 ms with 8 threads
//   per row and a 3-level tree (one subgroup's worth, the previous shape of
//   this kernel), and the fused residual forward 2.1 ms against 5.6 ms for
//   dropout + add + layernorm. The backward (dr, dx, dgamma, dbeta) took
//   3.5 ms against 4.6 ms for layernorm's and dropout's passes; its column
//   phase costs about what the former separate column pass did. On GPUs a
//   thread per row would leave most of the device idle and read rows with a
//   stride of D, so there TPR is one subgroup's worth of threads (32 or 64),
//   8 rows per workgroup, and rows are read coalesced.

struct LayerNormParams {
  rows: u32,
  D: u32,
  eps: f32,
  p: f32,
  seed: u32,
  stream: u32,
}

struct LayerNormShape {
  rows: u32,
  D: u32,
  p: f32,
  seed: u32,
  stream: u32,
}

struct ReduceShape {
  blocks: u32,
  D: u32,
}

// Threads per workgroup, and threads per row (a power of two dividing WG).
override WG: u32 = 64u;
override TPR: u32 = 1u;
// forward: add `residual`; drop x before the add; drop y after the norm.
override RESIDUAL: bool = false;
override DROP_INPUT: bool = false;
override DROP_OUTPUT: bool = false;
// forward: write s to `sum` (what the backward reads as s when s ≠ x);
// without it the second and third pass recompute s from the inputs.
override WRITE_SUM: bool = false;
// backward: write ds; write dx = drop_in'(ds); write the parameter partials.
override WRITE_DS: bool = true;
override WRITE_DX: bool = false;
override PARAMS: bool = true;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(6) var<uniform> params: LayerNormParams;
@group(0) @binding(7) var<storage, read> residual: array<f32>;
@group(0) @binding(8) var<storage, read_write> sum: array<f32>;

@group(0) @binding(9) var<storage, read> dy: array<f32>;
@group(0) @binding(10) var<storage, read> s: array<f32>;
@group(0) @binding(11) var<storage, read> savedMean: array<f32>;
@group(0) @binding(12) var<storage, read> savedRstd: array<f32>;
@group(0) @binding(13) var<storage, read_write> ds: array<f32>;
@group(0) @binding(14) var<storage, read_write> dx: array<f32>;
@group(0) @binding(15) var<storage, read_write> partials: array<f32>;
@group(0) @binding(16) var<uniform> shape: LayerNormShape;

@group(0) @binding(17) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(18) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(19) var<uniform> reduce: ReduceShape;

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial2: array<f32, WG>;

// lowbias32, dropoutKey, keepWith, dropWith: the masks of dropout.wgsl, bit for bit.
// import: lib/random.wgsl

// Sums `value` over the TPR threads of each row by a fixed binary tree; every
// thread of the row gets its row's total. Called by every thread of the
// workgroup (the barriers must be uniform); with TPR = 1 it is the identity.
fn rowSum(t: u32, lane: u32, value: f32) -> f32 {
  if (TPR == 1u) { return value; }
  partial[t] = value;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  let total = partial[t - lane];
  workgroupBarrier();
  return total;
}

// Two row sums at once, sharing the barriers (the backward's two means).
fn rowSum2(t: u32, lane: u32, value: vec2<f32>) -> vec2<f32> {
  if (TPR == 1u) { return value; }
  partial[t] = value.x;
  partial2[t] = value.y;
  workgroupBarrier();
  for (var stride = TPR / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      partial[t] += partial[t + stride];
      partial2[t] += partial2[t + stride];
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(partial[t - lane], partial2[t - lane]);
  workgroupBarrier();
  return total;
}

// s_i from the inputs: x, dropped if DROP_INPUT, plus r if RESIDUAL.
fn inputSum(key: u32, i: u32) -> f32 {
  var v = x[i];
  if (DROP_INPUT) { v = dropWith(key, params.p, i, v); }
  if (RESIDUAL) { v += residual[i]; }
  return v;
}

// s_i again for the second and third pass: read back from `sum` when the
// forward saves it, else recomputed from the inputs.
fn savedSum(key: u32, i: u32) -> f32 {
  if (WRITE_SUM) { return sum[i]; }
  return inputSum(key, i);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  let lane = t % TPR;
  // No early return for rows past the end: rowSum's barriers must be reached
  // by every thread, so out-of-range threads only skip the memory accesses.
  let row = (wid.y * groups.x + wid.x) * (WG / TPR) + t / TPR;
  let valid = row < params.rows;
  let D = params.D;
  let base = row * D;
  let invD = 1.0 / f32(D);
  let key = dropoutKey(params.seed, params.stream);

  var total = 0.0;
  if (valid) {
    for (var d = lane; d < D; d += TPR) {
      let v = inputSum(key, base + d);
      if (WRITE_SUM) { sum[base + d] = v; }
      total += v;
    }
  }
  let mu = rowSum(t, lane, total) * invD;

  var sq = 0.0;
  if (valid) {
    for (var d = lane; d < D; d += TPR) {
      let centered = savedSum(key, base + d) - mu;
      sq += centered * centered;
    }
  }
  let r = inverseSqrt(rowSum(t, lane, sq) * invD + params.eps);

  if (valid) {
    for (var d = lane; d < D; d += TPR) {
      var v = (savedSum(key, base + d) - mu) * r * gamma[d] + beta[d];
      if (DROP_OUTPUT) { v = dropWith(key, params.p, base + d, v); }
      y[base + d] = v;
    }
    if (lane == 0u) {
      mean[row] = mu;
      rstd[row] = r;
    }
  }
}

// e_i: the output gradient as it reached the norm (masked like the output).
fn outputGrad(key: u32, i: u32) -> f32 {
  if (DROP_OUTPUT) { return dropWith(key, shape.p, i, dy[i]); }
  return dy[i];
}

@compute @workgroup_size(WG)
fn backward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
            @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  let lane = t % TPR;
  let blockIndex = wid.y * groups.x + wid.x;
  let first = blockIndex * (WG / TPR);
  let row = first + t / TPR;
  let valid = row < shape.rows;
  let D = shape.D;
  let base = row * D;
  let key = dropoutKey(shape.seed, shape.stream);

  if (WRITE_DS || WRITE_DX) {
    var mu = 0.0;
    var r = 0.0;
    var sums = vec2<f32>();  // (Σ g, Σ g·ŝ)
    if (valid) {
      mu = savedMean[row];
      r = savedRstd[row];
      for (var d = lane; d < D; d += TPR) {
        let g = outputGrad(key, base + d) * gamma[d];
        sums += vec2<f32>(g, g * (s[base + d] - mu) * r);
      }
    }
    let means = rowSum2(t, lane, sums) / f32(D);
    if (valid) {
      for (var d = lane; d < D; d += TPR) {
        let g = outputGrad(key, base + d) * gamma[d];
        let shat = (s[base + d] - mu) * r;
        let v = r * (g - means.x - shat * means.y);
        if (WRITE_DS) { ds[base + d] = v; }
        if (WRITE_DX) { dx[base + d] = dropWith(key, shape.p, base + d, v); }
      }
    }
  }

  if (PARAMS) {
    // This block's rows are in the cache now; read them by columns.
    workgroupBarrier();
    let last = min(first + WG / TPR, shape.rows);
    for (var d = t; d < D; d += WG) {
      var dg = 0.0;
      var db = 0.0;
      for (var k = first; k < last; k++) {
        let e = outputGrad(key, k * D + d);
        dg += e * (s[k * D + d] - savedMean[k]) * savedRstd[k];
        db += e;
      }
      partials[blockIndex * 2u * D + d] = dg;
      partials[blockIndex * 2u * D + D + d] = db;
    }
  }
}

@compute @workgroup_size(WG)
fn reduceParams(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let D = reduce.D;
  if (c >= 2u * D) { return; }
  var total = 0.0;
  for (var b = 0u; b < reduce.blocks; b++) { total += partials[b * 2u * D + c]; }
  if (c < D) {
    dgamma[c] = total;
  } else {
    dbeta[c - D] = total;
  }
}
