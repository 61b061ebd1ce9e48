// optimizer.wgsl — fused parameter updates (AdamW, SGD) and global-norm gradient clipping.
//
// MATH (per element of one parameter p with gradient g; c is the clip factor)
//   clip:   ‖g‖ = sqrt(Σ over every parameter with a gradient of Σ_i g_i²)
//           c   = min(1, maxNorm / (‖g‖ + 1e-6))            (as torch.nn.utils.clip_grad_norm_)
//   adamw:  p ← p · (1 − lr·λ)                               (decoupled weight decay)
//           m ← β1·m + (1 − β1)·c·g
//           v ← β2·v + (1 − β2)·(c·g)²
//           p ← p − (lr / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)
//           t counts this parameter's own updates (a block unfrozen late starts
//           at t = 1 with zero moments), so the host passes 1 − β^t per launch.
//           The host also passes 1 − β1 and 1 − β2, computed in double
//           precision as PyTorch does: 1 − 0.999 formed in fp32 is off by 1e-5.
//   sgd:    p ← p − lr · (c·g + λ·p)
//   The *Segments entry points apply exactly this arithmetic (the same
//   helper functions) to many parameters laid out in flat arenas, each with
//   its own lr and bias corrections read from a segment table: the same f32
//   inputs in the same expressions give the same bits as the per-parameter
//   launches, in one dispatch instead of one per parameter.
//   FOLD_CLIP (the *Segments entry points): instead of reading c from
//   clipState, where a clipFactor dispatch left it, each workgroup computes
//   c itself from the partials with clipFactor's own function (clipOf: the
//   same additions in the same order, then the same sqrt, division and min),
//   so c has the bits clipFactor would have written, and the step needs no
//   clipFactor dispatch. The factor does not depend on the update, so every
//   workgroup, and every launch of the step (one per arena or chunk), gets
//   the same value.
//
// MEMORY LAYOUT
//   param, grad, m, v: flat fp32 of one parameter (n elements).
//   partials (partialsIn where read): one fp32 per parameter taking part in
//   clipping, in a fixed order; clip, clipState: [c, ‖g‖] (two fp32), read by
//   the update kernels, so the clip factor never travels to the CPU. clipState
//   is written by clipFactor, or, under FOLD_CLIP, by thread 0 of workgroup 0
//   of each folding launch (the same two values each time), for what reads it
//   after the step (the training monitor checks ‖g‖, a readback reports it);
//   no thread of a folding launch reads it, so the write races with nothing.
//   Segments (multi-parameter) entry points: param, grad, m, v are arenas,
//   every parameter a contiguous range of them (the same offset in all four);
//   segments[k] = { offset, n, lr, biasCorrection1, biasCorrection2, slot,
//   skip, bank, last } (nine words) describes active parameter k
//   (sumSquaresSegments reads offset, n, slot, its partial's index in the
//   global order, so arenas filled at different times still sum in one fixed
//   order, and skip, bank, last; the update kernels read offset, n, lr and,
//   adamwSegments, the bias corrections); chunks[w] = (k, first) gives
//   workgroup w its segment and the arena index of its first element (a
//   chunk is WG elements of one segment, the last one of a segment partial).
//   Both tables are uploaded by the host each step; nothing is read back.
//
// CHUNK LAYOUT (buffers larger than one binding)
//   A parameter, its gradient and moments, or an arena, may be larger than
//   the device binds at once; they keep the flat layout above in one buffer.
//   The host then launches once per chunk of elements (each at most one
//   binding, starting at an aligned byte offset), binding views of that
//   chunk of param, grad, m, v. The per-parameter launches see a shorter n;
//   the *Segments launches see the *pieces* of the segments in the chunk:
//   offset relative to the chunk, n the piece's length, skip the index of
//   its first element within its parameter (0 for a whole segment), last
//   whether it ends its parameter. The updates are per element, so chunking
//   changes nothing. For the sum of squares, a piece's threads continue the
//   strided sums of the parameter's previous piece: thread t's sum of a
//   piece that does not end its parameter is stored in lanes[bank·WG + t]
//   and read back by the next piece (skip > 0), in the next launch; the last
//   piece runs the tree. Every thread adds the same terms in the same order
//   as without chunks, so the partial has the same bits. Lane banks (WG
//   floats each) are handed out by the host so that no launch reads and
//   writes one bank for two parameters.
//
// THREAD → DATA MAPPING
//   adamw, sgd: one thread per element (grid folded into 2D past the
//     per-dimension limit).
//   sumSquares: one workgroup; thread t adds g_t², g_{t+WG}², … in order, then
//     a fixed tree; the total lands in partials[slot].
//   sumSquaresSegments: workgroup k runs the sumSquares strided sums over
//     piece k (continuing its lanes when skip > 0), then the tree into
//     partials[slot] (so a parameter's partial has the same bits), or, for a
//     piece that does not end its parameter, stores its lanes.
//   adamwSegments, sgdSegments: workgroup w (grid folded into 2D) updates the
//     up to WG elements of chunks[w], one thread per element. Under FOLD_CLIP
//     thread 0 first computes c and hands it to the others through workgroup
//     memory (a barrier, before any thread leaves).
//   clipFactor: one thread adds partials[0 … count) in order.
//   Every sum has a fixed order: the same gradients give the same bits.
//
// WHAT BOUNDS IT
//   Memory: AdamW moves 28 bytes per element (read p, g, m, v; write p, m, v:
//   7 words), SGD 12. sumSquares runs one workgroup per parameter: fine for
//   adapter-sized parameters, slow for a single huge one. On small adapters
//   the per-dispatch cost dominated (2 dispatches per parameter per step),
//   hence the *Segments forms: 3 dispatches per step for any parameter count,
//   2 with FOLD_CLIP. Folding costs each workgroup one serial sum of the
//   partials (one add per parameter with a gradient, read from cache) by
//   thread 0 before its WG threads update one element each. Counted, not
//   timed: with tens of parameters (adapters) that is a few adds per
//   workgroup; with a few hundred (full fine-tuning of a real model) as many
//   serial adds as the update has arithmetic per thread, or more.

struct AdamWParams {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  weightDecay: f32,
  biasCorrection1: f32,
  biasCorrection2: f32,
}

struct SgdParams {
  n: u32,
  lr: f32,
  weightDecay: f32,
}

struct SumParams {
  n: u32,
  slot: u32,
}

struct SegmentsAdamWParams {
  chunks: u32,
  beta1: f32,
  beta2: f32,
  oneMinusBeta1: f32,
  oneMinusBeta2: f32,
  eps: f32,
  weightDecay: f32,
  clipCount: u32,
  maxNorm: f32,
}

struct SegmentsSgdParams {
  chunks: u32,
  weightDecay: f32,
  clipCount: u32,
  maxNorm: f32,
}

struct Segment {
  offset: u32,
  n: u32,
  lr: f32,
  biasCorrection1: f32,
  biasCorrection2: f32,
  slot: u32,
  skip: u32,
  bank: u32,
  last: u32,
}

struct ClipParams {
  count: u32,
  maxNorm: f32,
}

override WG: u32 = 256u;
// *Segments: compute the clip factor from the partials instead of reading clipState[0] (see the header).
override FOLD_CLIP: bool = false;

@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> clip: array<f32>;
@group(0) @binding(5) var<uniform> adamw: AdamWParams;
@group(0) @binding(6) var<uniform> sgd: SgdParams;
@group(0) @binding(7) var<storage, read_write> partials: array<f32>;
@group(0) @binding(8) var<uniform> sum: SumParams;
@group(0) @binding(9) var<storage, read> partialsIn: array<f32>;
@group(0) @binding(10) var<storage, read_write> clipState: array<f32>;
@group(0) @binding(11) var<uniform> clipParams: ClipParams;
@group(0) @binding(12) var<storage, read> segments: array<Segment>;
@group(0) @binding(13) var<storage, read> chunks: array<vec2<u32>>;
@group(0) @binding(14) var<uniform> adamwSeg: SegmentsAdamWParams;
@group(0) @binding(15) var<uniform> sgdSeg: SegmentsSgdParams;
@group(0) @binding(16) var<storage, read_write> lanes: array<f32>;

var<workgroup> tree: array<f32, WG>;
var<workgroup> workgroupClip: f32;

// The AdamW arithmetic of element i, shared by adamwStep and adamwSegments.
fn adamwAt(i: u32, c: f32, lr: f32, beta1: f32, beta2: f32, oneMinusBeta1: f32, oneMinusBeta2: f32, eps: f32, weightDecay: f32, biasCorrection1: f32, biasCorrection2: f32) {
  let g = c * grad[i];
  let p = param[i] * (1.0 - lr * weightDecay);
  let mi = beta1 * m[i] + oneMinusBeta1 * g;
  let vi = beta2 * v[i] + oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / sqrt(biasCorrection2) + eps;
  param[i] = p - (lr / biasCorrection1) * mi / denom;
}

// The SGD arithmetic of element i, shared by sgdStep and sgdSegments.
fn sgdAt(i: u32, c: f32, lr: f32, weightDecay: f32) {
  param[i] = param[i] - lr * (c * grad[i] + weightDecay * param[i]);
}

// Thread t's running sum of squares over one piece of a segment: `carried`
// plus grad² of the segment's elements i ≡ t (mod WG) with skip ≤ i < skip + n,
// in order, element i of the segment at grad[offset + i − skip]. With skip 0
// and nothing carried this is the whole segment's strided sum; over the pieces
// of a segment in order, each continuing the last one's sum, it is the same
// sum term by term, so chunking does not change a bit.
fn stridedSumSquares(t: u32, offset: u32, n: u32, skip: u32, carried: f32) -> f32 {
  var s = carried;
  for (var i = skip + (t + WG - skip % WG) % WG; i < skip + n; i += WG) {
    let g = grad[offset + i - skip];
    s += g * g;
  }
  return s;
}

// The fixed tree over the WG threads' sums. Every thread of the workgroup
// must call it (barriers); the result is valid in thread 0.
fn treeSum(t: u32, s: f32) -> f32 {
  tree[t] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { tree[t] += tree[t + stride]; }
    workgroupBarrier();
  }
  return tree[0];
}

@compute @workgroup_size(WG)
fn adamwStep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.y * groups.x * WG + gid.x;
  if (i >= adamw.n) { return; }
  adamwAt(i, clip[0], adamw.lr, adamw.beta1, adamw.beta2, adamw.oneMinusBeta1, adamw.oneMinusBeta2, adamw.eps, adamw.weightDecay, adamw.biasCorrection1, adamw.biasCorrection2);
}

@compute @workgroup_size(WG)
fn sgdStep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.y * groups.x * WG + gid.x;
  if (i >= sgd.n) { return; }
  sgdAt(i, clip[0], sgd.lr, sgd.weightDecay);
}

@compute @workgroup_size(WG)
fn sumSquares(@builtin(local_invocation_id) lid: vec3<u32>) {
  let total = treeSum(lid.x, stridedSumSquares(lid.x, 0u, sum.n, 0u, 0.0));
  if (lid.x == 0u) { partials[sum.slot] = total; }
}

@compute @workgroup_size(WG)
fn sumSquaresSegments(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let seg = segments[wid.x];
  var carried = 0.0;
  if (seg.skip > 0u) { carried = lanes[seg.bank * WG + t]; }
  let s = stridedSumSquares(t, seg.offset, seg.n, seg.skip, carried);
  if (seg.last == 0u) { lanes[seg.bank * WG + t] = s; }
  // Every workgroup runs the tree (its barriers stay in uniform control flow);
  // only a segment's last piece keeps the total.
  let total = treeSum(t, s);
  if (t == 0u && seg.last != 0u) { partials[seg.slot] = total; }
}

const NO_ELEMENT: u32 = 0xffffffffu;

// The element thread `lane` of workgroup `w` updates under a chunk table of
// `count` chunks: (its segment, its flat index), or (NO_ELEMENT, 0) past the
// table or past the end of its segment.
fn chunkElement(w: u32, lane: u32, count: u32) -> vec2<u32> {
  if (w >= count) { return vec2<u32>(NO_ELEMENT, 0u); }
  let chunk = chunks[w];
  let seg = segments[chunk.x];
  let i = chunk.y + lane;
  if (i >= seg.offset + seg.n) { return vec2<u32>(NO_ELEMENT, 0u); }
  return vec2<u32>(chunk.x, i);
}

// [c, ‖g‖] from partialsIn[0 … count): the one definition of the factor,
// for clipFactor and the folding *Segments launches alike (the same
// additions in the same order, so the same bits).
fn clipOf(count: u32, maxNorm: f32) -> vec2<f32> {
  var total = 0.0;
  for (var i = 0u; i < count; i++) { total += partialsIn[i]; }
  let norm = sqrt(total);
  return vec2<f32>(min(1.0, maxNorm / (norm + 1e-6)), norm);
}

// The clip factor of a *Segments launch's workgroup `w`: clipState[0], or
// with FOLD_CLIP computed by thread 0 with clipOf and shared through
// workgroup memory; workgroup 0 also stores [c, ‖g‖] in clipState for the
// dispatches after this one (no thread of a folding launch reads it). Every
// thread of the workgroup must call it (a barrier).
fn segmentsClip(lane: u32, w: u32, count: u32, maxNorm: f32) -> f32 {
  if (!FOLD_CLIP) { return clipState[0]; }
  if (lane == 0u) {
    let c = clipOf(count, maxNorm);
    workgroupClip = c.x;
    if (w == 0u) {
      clipState[0] = c.x;
      clipState[1] = c.y;
    }
  }
  workgroupBarrier();
  return workgroupClip;
}

@compute @workgroup_size(WG)
fn adamwSegments(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let w = wid.y * groups.x + wid.x;
  let c = segmentsClip(lid.x, w, adamwSeg.clipCount, adamwSeg.maxNorm);
  let at = chunkElement(w, lid.x, adamwSeg.chunks);
  if (at.x == NO_ELEMENT) { return; }
  let seg = segments[at.x];
  adamwAt(at.y, c, seg.lr, adamwSeg.beta1, adamwSeg.beta2, adamwSeg.oneMinusBeta1, adamwSeg.oneMinusBeta2, adamwSeg.eps, adamwSeg.weightDecay, seg.biasCorrection1, seg.biasCorrection2);
}

@compute @workgroup_size(WG)
fn sgdSegments(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let w = wid.y * groups.x + wid.x;
  let c = segmentsClip(lid.x, w, sgdSeg.clipCount, sgdSeg.maxNorm);
  let at = chunkElement(w, lid.x, sgdSeg.chunks);
  if (at.x == NO_ELEMENT) { return; }
  sgdAt(at.y, c, segments[at.x].lr, sgdSeg.weightDecay);
}

@compute @workgroup_size(1)
fn clipFactor() {
  let c = clipOf(clipParams.count, clipParams.maxNorm);
  clipState[0] = c.x;
  clipState[1] = c.y;
}
