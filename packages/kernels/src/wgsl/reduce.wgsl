// reduce.wgsl — deterministic sums over the rows of a matrix.
//
// MATH
//   columnSums: out_j = Σ_{i < rows} x[i, j]             for j < cols
//   The gradient of a bias broadcast over rows (linear layers), and of any
//   parameter shared by all rows.
//   columnDots: out_j = Σ_{i < rows} x[i, j] · y[i, j]    for j < cols
//   The dot products of matching columns of two matrices: the gradient of a
//   vector s that scales columns (elementwise.wgsl's scaleColumns,
//   out[i, j] = x[i, j] · s_j) is ds_j = Σ_i dy[i, j] · x[i, j].
//
// MEMORY LAYOUT
//   x (and y): rows×cols row-major fp32; out: cols fp32.
//   Never chunked: x and y are per-batch activations (rows = tokens; e.g. the
//   masked-LM logits' gradient [tokens, vocab] for the tied decoder's bias),
//   which must fit one binding, and out (cols values) is smaller than x.
//
// THREAD → DATA MAPPING
//   One thread per column walks the rows in order: a fixed summation order,
//   so results are bitwise reproducible, with no atomics. Threads of a
//   workgroup read consecutive columns of the same row (coalesced).
//   columnDots folds its grid into 2D when cols/WG exceeds the per-dimension
//   workgroup limit (j = gid.y · groups.x · WG + gid.x).
//
// WHAT BOUNDS IT
//   Memory (4 bytes read per element, 8 for columnDots) when cols is large;
//   for narrow matrices only `cols` threads run, which is fine for gradients
//   of per-feature parameters (cols = hidden size) but not a general-purpose
//   reduction. Each sum adds its `rows` terms one by one: its rounding error
//   is at most about rows · 2⁻²⁴ · Σ_i |term_i|.

struct Shape {
  rows: u32,
  cols: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> shape: Shape;
@group(0) @binding(3) var<storage, read> y: array<f32>;

@compute @workgroup_size(WG)
fn columnSums(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= shape.cols) { return; }
  var s = 0.0;
  for (var i = 0u; i < shape.rows; i++) { s += x[i * shape.cols + j]; }
  out[j] = s;
}

@compute @workgroup_size(WG)
fn columnDots(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let j = gid.y * groups.x * WG + gid.x;
  if (j >= shape.cols) { return; }
  var s = 0.0;
  for (var i = 0u; i < shape.rows; i++) {
    let k = i * shape.cols + j;
    s += x[k] * y[k];
  }
  out[j] = s;
}
