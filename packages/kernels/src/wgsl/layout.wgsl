// layout.wgsl — data movement: axis permutation (transpose, split and merge of attention heads) and column blocks (concatenation, slicing).
//
// MATH
//   permute:      out[j0, j1, j2, j3] = in[i0, i1, i2, i3]   with i_{perm[k]} = j_k
//                 for tensors of up to 4 axes (fewer axes are padded with
//                 leading 1s). Splitting heads is [B, T, H, d] → [B, H, T, d]
//                 (perm 0 2 1 3), merging is the same permutation again, and
//                 a matrix transpose is perm 0 1 3 2.
//   copyColumns:  out[r, dstOffset + j] = in[r, srcOffset + j]   for j < width
//                 Concatenation along the last axis writes each input at its
//                 offset; its backward reads each slice back.
//
// MEMORY LAYOUT
//   Dense row-major fp32. permute gets the output's shape and, per output
//   axis, the stride of the input axis it reads (so the input's strides,
//   reordered by perm): the input index is Σ_k j_k · inStride[k].
//   copyColumns: in is rows × inCols, out is rows × outCols.
//
// THREAD → DATA MAPPING
//   One thread per output element, in output order, so writes are contiguous
//   and reads are strided by the permutation; the grid is folded into 2D
//   past the per-dimension limit.
//
// WHAT BOUNDS IT
//   Memory: 8 bytes per element; a permutation of the last axis reads with a
//   stride, which caches absorb for attention-sized tensors.

struct PermuteParams {
  outShape: vec4<u32>,
  inStrides: vec4<u32>,
  n: u32,
}

struct ColumnParams {
  rows: u32,
  width: u32,
  inCols: u32,
  outCols: u32,
  srcOffset: u32,
  dstOffset: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> permuteParams: PermuteParams;
@group(0) @binding(3) var<uniform> columns: ColumnParams;

@compute @workgroup_size(WG)
fn permute(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let o = gid.y * groups.x * WG + gid.x;
  if (o >= permuteParams.n) { return; }
  let shape = permuteParams.outShape;
  // Output coordinates from the flat output index, last axis fastest.
  var rest = o;
  let j3 = rest % shape.w; rest = rest / shape.w;
  let j2 = rest % shape.z; rest = rest / shape.z;
  let j1 = rest % shape.y;
  let j0 = rest / shape.y;
  dst[o] = src[dot(vec4<u32>(j0, j1, j2, j3), permuteParams.inStrides)];
}

@compute @workgroup_size(WG)
fn copyColumns(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let e = gid.y * groups.x * WG + gid.x;
  if (e >= columns.rows * columns.width) { return; }
  let r = e / columns.width;
  let j = e % columns.width;
  dst[r * columns.outCols + columns.dstOffset + j] = src[r * columns.inCols + columns.srcOffset + j];
}
