// elementwise.wgsl — pointwise maps and their derivatives: axpby, GELU (exact and tanh form), ReLU, tanh, swish;
// and scaleColumns, a product with a vector broadcast over rows.
//
// MATH
//   axpby:        out_i = alpha · x_i + beta · y_i
//                 (add: 1, 1; scale: alpha, 0; gradient accumulation g ← g + δ
//                 is out = g with alpha = beta = 1 and y = δ)
//   gelu:         out_i = x_i · Φ(x_i),  Φ(x) = ½ (1 + erf(x / √2))     (the erf form)
//   geluBackward: out_i = dy_i · (Φ(x_i) + x_i · φ(x_i)),  φ(x) = e^{−x²/2} / √(2π)
//   scaleBy:      out_i = alpha · s · x_i      (s = scalar[0], a value on the GPU)
//   fillWith:     out_i = alpha · s            (broadcast of a GPU scalar)
//   relu:         out_i = max(x_i, 0)
//   reluBackward: out_i = dy_i if x_i > 0 else 0
//   tanh:         out_i = tanh(x_i)
//   tanhBackward: out_i = dy_i · (1 − tanh²(x_i))
//   geluTanh:     out_i = ½ x_i (1 + t),  t = tanh(u),  u = √(2/π) (x_i + 0.044715 x_i³)
//                 (Hugging Face's gelu_new: the approximation BERT's TensorFlow code used)
//   geluTanhBackward: out_i = dy_i · (½ (1 + t) + ½ x_i (1 − t²) √(2/π) (1 + 3·0.044715 x_i²))
//   swish:        out_i = x_i σ(x_i),  σ(x) = 1 / (1 + e^{−x})        (SiLU; AdapterHub's Houlsby default)
//   swishBackward: out_i = dy_i · σ(x_i) (1 + x_i (1 − σ(x_i)))
//   WGSL has no erf. Φ is computed as ½·erfc(−x/√2) with the Chebyshev-fitted
//   erfc of Numerical Recipes (`erfcc`, relative error < 1.2e-7 everywhere),
//   so Φ keeps its relative accuracy deep in the negative tail, where
//   x·Φ(x) is tiny; an erf-based form (1 + erf) would lose it to cancellation.
//   scaleColumns: out[r, c] = x[r, c] · s_c      (the (IA)³ rescaling of activations)
//                 Its input gradient is the same map applied to dy: dx[r, c] = dy[r, c] · s_c.
//                 Its gradient for s, ds_c = Σ_r dy[r, c] · x[r, c], is a reduction over
//                 rows: reduce.wgsl's columnDots.
//
// MEMORY LAYOUT
//   Flat fp32 arrays of n elements; shapes do not matter to a pointwise map.
//   scaleColumns is the exception: x and out are rows×cols row-major (the
//   rows are every leading axis of the tensor, flattened), n = rows·cols,
//   and s (binding `colScale`) holds cols fp32.
//   Chunked arrays: an array larger than one storage binding (a parameter
//   gradient such as the word embeddings', accumulated with axpby) lives in
//   one buffer all the same, and the launcher maps it in chunks: one launch
//   per block of elements [first, first + count), with x, y, dy and out bound
//   as views of that block (scaleColumns: a block of whole rows, so element i
//   of a view is still in column i mod cols; scalar and colScale are bound
//   whole). A kernel sees a chunk as an array of n = count elements; each
//   element is computed as in one launch, so the bits are the same.
//
// THREAD → DATA MAPPING
//   One thread per element; the grid may be folded into 2D when n/WG exceeds
//   the per-dimension workgroup limit (i = gid.y · groups.x · WG + gid.x).
//   In scaleColumns element i lies in column i mod cols: consecutive threads
//   read consecutive elements of x, and of s except where a row ends.
//
// WHAT BOUNDS IT
//   Memory: 8 to 12 bytes per element. scaleColumns moves 8 per element; its
//   s is only cols values, read again by every row, mostly from cache.

struct AxpbyParams {
  n: u32,
  alpha: f32,
  beta: f32,
}

struct ScaleParams {
  n: u32,
  alpha: f32,
}

struct Size {
  n: u32,
}

struct ColumnsParams {
  n: u32,
  cols: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> axpbyParams: AxpbyParams;
@group(0) @binding(5) var<uniform> size: Size;
@group(0) @binding(6) var<storage, read> scalar: array<f32>;
@group(0) @binding(7) var<uniform> scaled: ScaleParams;
@group(0) @binding(8) var<storage, read> colScale: array<f32>;
@group(0) @binding(9) var<uniform> columns: ColumnsParams;

fn flatIndex(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.y * groups.x * WG + gid.x;
}

// The activations and their helpers (phi, tanhStable, sigmoid, the constants):
// import: lib/activations.wgsl

@compute @workgroup_size(WG)
fn axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= axpbyParams.n) { return; }
  out[i] = axpbyParams.alpha * x[i] + axpbyParams.beta * y[i];
}

@compute @workgroup_size(WG)
fn scaleBy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= scaled.n) { return; }
  out[i] = scaled.alpha * scalar[0] * x[i];
}

@compute @workgroup_size(WG)
fn fillWith(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= scaled.n) { return; }
  out[i] = scaled.alpha * scalar[0];
}

@compute @workgroup_size(WG)
fn scaleColumns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= columns.n) { return; }
  out[i] = x[i] * colScale[i % columns.cols];
}

@compute @workgroup_size(WG)
fn gelu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activation(ACT_GELU, x[i]);
}

@compute @workgroup_size(WG)
fn geluBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activationGrad(ACT_GELU, x[i], dy[i]);
}

@compute @workgroup_size(WG)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activation(ACT_RELU, x[i]);
}

@compute @workgroup_size(WG)
fn tanh(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activation(ACT_TANH, x[i]);
}

@compute @workgroup_size(WG)
fn tanhBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activationGrad(ACT_TANH, x[i], dy[i]);
}

@compute @workgroup_size(WG)
fn reluBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activationGrad(ACT_RELU, x[i], dy[i]);
}

@compute @workgroup_size(WG)
fn geluTanh(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activation(ACT_GELU_TANH, x[i]);
}

@compute @workgroup_size(WG)
fn geluTanhBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activationGrad(ACT_GELU_TANH, x[i], dy[i]);
}

@compute @workgroup_size(WG)
fn swish(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activation(ACT_SWISH, x[i]);
}

@compute @workgroup_size(WG)
fn swishBackward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flatIndex(gid, groups);
  if (i >= size.n) { return; }
  out[i] = activationGrad(ACT_SWISH, x[i], dy[i]);
}
