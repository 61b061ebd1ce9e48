// fisher.wgsl — the diagonal empirical Fisher information and its per-block traces.
//
// MATH
//   accumulate:  F_{o+i} ← F_{o+i} + s · g_i²      for i < n
//     g is the gradient of one parameter tensor (of a batch, or of one
//     example), o that tensor's offset in the flat F, s a weight such as
//     1/(number of batches), so that after all batches F is the average of
//     squared gradients: the diagonal of the Fisher information estimate.
//   segmentTraces: tr(F)_b = Σ_{i ∈ segment b} F_i  (F bound as `values`)
//     a block b (everything one layer contributes to the task adapter) may
//     span several parameter tensors, so a block is a list of segments of the
//     flat buffer; traces are produced per segment and blocks add their own
//     segments on the host, in a fixed order.
//
// MEMORY LAYOUT
//   fisher: flat fp32 over every parameter tensor whose trace is wanted, each
//   at its own offset (elements). grad: fp32 of one tensor (n elements), its
//   element i adding into fisher[offset + i]. segments: pairs (offset, length)
//   in elements, as u32. traces: one fp32 per segment.
//
// THREAD → DATA MAPPING
//   accumulate: one thread per element of the tensor (one launch per tensor,
//     since gradients are separate buffers).
//   traces: one workgroup of WG threads per segment. Thread t adds elements
//     t, t+WG, … of its segment in order, then the WG partial sums meet in a
//     fixed binary tree in workgroup memory. No atomics, so the trace of a
//     segment is bitwise identical on every run (a requirement of the study:
//     same seed → same tr(F)). All terms are ≥ 0, so the fp32 error is at most
//     (length/WG + log2 WG) units of rounding relative to the sum.
//
// WHAT BOUNDS IT
//   Memory: accumulate reads 8 and writes 4 bytes per element; traces read 4.

struct AccumulateParams {
  n: u32,
  scale: f32,
  offset: u32,
}

struct TraceParams {
  segmentCount: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> fisher: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<uniform> accumulateParams: AccumulateParams;

@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> segments: array<vec2<u32>>;
@group(0) @binding(5) var<storage, read_write> traces: array<f32>;
@group(0) @binding(6) var<uniform> traceParams: TraceParams;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  // The grid may be folded into 2D when n/WG exceeds the per-dimension limit.
  let i = gid.y * groups.x * WG + gid.x;
  if (i >= accumulateParams.n) { return; }
  let g = grad[i];
  let j = accumulateParams.offset + i;
  fisher[j] += accumulateParams.scale * g * g;
}

@compute @workgroup_size(WG)
fn segmentTraces(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>) {
  let t = lid.x;
  let segment = wid.y * groups.x + wid.x;  // folded 2D grid past 65535 segments
  if (segment >= traceParams.segmentCount) { return; }
  let offset = segments[segment].x;
  let length = segments[segment].y;

  var s = 0.0;
  for (var i = t; i < length; i += WG) { s += values[offset + i]; }
  partial[t] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u) { traces[segment] = partial[0]; }
}
