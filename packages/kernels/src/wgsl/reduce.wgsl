// reduce.wgsl — deterministic sums over the rows of a matrix.
//
// MATH
//   columnSums: out_j = Σ_{i < rows} x[i, j]      for j < cols
//   The gradient of a bias broadcast over rows (linear layers), and of any
//   parameter shared by all rows.
//
// MEMORY LAYOUT
//   x: rows×cols row-major fp32; out: cols fp32.
//
// THREAD → DATA MAPPING
//   One thread per column walks the rows in order: a fixed summation order,
//   so results are bitwise reproducible, with no atomics. Threads of a
//   workgroup read consecutive columns of the same row (coalesced).
//
// WHAT BOUNDS IT
//   Memory (4 bytes read per element) when cols is large; for narrow
//   matrices only `cols` threads run, which is fine for bias gradients
//   (cols = hidden size) but not a general-purpose reduction.

struct Shape {
  rows: u32,
  cols: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> shape: Shape;

@compute @workgroup_size(WG)
fn columnSums(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= shape.cols) { return; }
  var s = 0.0;
  for (var i = 0u; i < shape.rows; i++) { s += x[i * shape.cols + j]; }
  out[j] = s;
}
