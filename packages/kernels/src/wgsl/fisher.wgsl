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
//   element i adding into fisher[offset + i]. segments: one Piece per
//   workgroup, six u32 (offset, length, skip, bank, last, trace): a whole
//   segment is (offset, length, 0, 0, 1, its index). traces: one fp32 per
//   segment. lanes: running sums carried between the pieces of a segment.
//
// CHUNK LAYOUT (buffers larger than one binding)
//   The flat Fisher buffer, and one tensor's gradient, may be larger than the
//   device binds at once; they keep the layout above in one buffer and the
//   host launches once per chunk of it (at most one binding each, starting
//   at an aligned byte offset), binding views.
//   accumulate: the host splits the gradient into chunks; for each it binds
//     the chunk of grad and the range of fisher it adds into, from the
//     aligned byte at or before it, with `offset` the rest (below the
//     alignment) and n the chunk's length. Per element: same bits.
//   segmentTraces: the host binds chunks of `values` and gives each launch
//     the pieces of the segments in it: offset relative to the chunk, length
//     of the piece, skip = index of the piece's first element in its
//     segment, last = whether it ends the segment, trace = the segment's
//     index. Thread t of a piece continues the strided sum thread t of the
//     segment's previous piece stored in lanes[bank·WG + t] (read when
//     skip > 0), and stores its own unless the piece is the last, which runs
//     the tree into traces[trace]. Every thread adds the same terms in the
//     same order as with one binding, so the traces have the same bits. The
//     host hands out lane banks so that no launch reads and writes one bank
//     for two segments.
//
// THREAD → DATA MAPPING
//   accumulate: one thread per element of the tensor (one launch per tensor,
//     since gradients are separate buffers).
//   traces: one workgroup of WG threads per segment (per piece). Thread t adds elements
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

// One piece of a segment in the bound chunk of `values` (see CHUNK LAYOUT).
struct Piece {
  offset: u32,
  length: u32,
  skip: u32,
  bank: u32,
  last: u32,
  trace: u32,
}

struct TraceParams {
  segmentCount: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read_write> fisher: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<uniform> accumulateParams: AccumulateParams;

@group(0) @binding(3) var<storage, read> values: array<f32>;
@group(0) @binding(4) var<storage, read> segments: array<Piece>;
@group(0) @binding(5) var<storage, read_write> traces: array<f32>;
@group(0) @binding(6) var<uniform> traceParams: TraceParams;
@group(0) @binding(7) var<storage, read_write> lanes: array<f32>;

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
  let k = wid.y * groups.x + wid.x;  // folded 2D grid past 65535 pieces
  if (k >= traceParams.segmentCount) { return; }
  let piece = segments[k];

  // Thread t adds the segment's elements i ≡ t (mod WG), skip ≤ i < skip + length,
  // continuing the sum the segment's previous piece left in its lane bank.
  var s = 0.0;
  if (piece.skip > 0u) { s = lanes[piece.bank * WG + t]; }
  for (var i = piece.skip + (t + WG - piece.skip % WG) % WG; i < piece.skip + piece.length; i += WG) {
    s += values[piece.offset + i - piece.skip];
  }
  if (piece.last == 0u) { lanes[piece.bank * WG + t] = s; }
  partial[t] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u && piece.last != 0u) { traces[piece.trace] = partial[0]; }
}
