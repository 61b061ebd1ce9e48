// attention.wgsl — fused multi-head self-attention with a key-padding mask and dropout on the
// probabilities: a forward that never forms the T×T probabilities, and a backward that recomputes
// them from q, k and one number per row saved by the forward.
//
// MATH (one head h of one sequence b: rows q_i, k_j, v_j of length d; scale = 1/√d)
//   s_ij = scale · q_i·k_j, for the keys j with mask[b, j] ≠ 0 (padding keys take no part)
//   P_ij = exp(s_ij − L_i),  L_i = log Σ_j exp(s_ij)        (softmax; L_i is the row's log-sum-exp)
//   z_ij = keep_ij / (1 − p): dropout.wgsl's keep(e) for the element e = ((b·H + h)·T + i)·T + j
//          of the [B, H, T, T] probabilities, same seed and stream, so this path and the composed
//          one (softmax.wgsl, then dropout.wgsl) drop the same probabilities
//   forward   O_i = Σ_j P_ij z_ij v_j, and L_i is saved. One pass over the keys (online softmax):
//             a running maximum m, ℓ = Σ_j exp(s_ij − m) over every unmasked key and
//             acc = Σ_j exp(s_ij − m) keep_ij v_j; a score above m first scales ℓ and acc by
//             exp(m − s_ij). At the end O_i = acc / (ℓ (1 − p)), L_i = m + log ℓ. A row without
//             a key (a sequence that is all padding) gives O_i = 0 and L_i = 0, as softmax.wgsl.
//   backward  from dO (FlashAttention-2's backward, with dropout):
//             P_ij  = exp(s_ij − L_i)                  recomputed, never stored
//             dP̃_ij = dO_i·v_j                         gradient of the kept probability P_ij z_ij
//             dP_ij = z_ij dP̃_ij
//             D_i   = Σ_j P_ij dP_ij = dO_i·O_i        (softmax's row term; the identity holds with
//                                                       dropout since O_i = Σ_j P_ij z_ij v_j)
//             dS_ij = P_ij (dP_ij − D_i)
//             dq_i  = scale Σ_j dS_ij k_j,   dk_j = scale Σ_i dS_ij q_i,   dv_j = Σ_i P_ij z_ij dO_i
//
// MEMORY LAYOUT
//   q, k, v, out, o (the forward's out, read back), dOut, dq, dk, dv: [B, T, D] row-major fp32,
//   D = H·d, head h in columns h·d … h·d+d−1: the projections' own layout, so no heads are split
//   or merged. Bound as array<vec4<f32>>: d is a multiple of 4, so a head's row is d/4 whole vec4,
//   vec4 (b·T + t)·D/4 + h·d/4 onwards.
//   mask: [B, T] fp32, 1 token / 0 padding (not read when hasMask = 0).
//   lse (forward) / lseIn (backward): L_i; rowDot (backwardQuery) / rowDotIn (backwardKey): D_i;
//   both [B, H, T] fp32, row (b·H + h)·T + i.
//
// THREAD → DATA MAPPING
//   One thread per row of one head: forward and backwardQuery give thread i the query row i and
//   walk the keys j = 0 … T−1 in order; backwardKey gives thread j the key row j and walks the
//   queries i = 0 … T−1. A workgroup is WG consecutive rows of one head (the launcher takes the
//   power of two ≥ T, from 8 to 64); the grid is ⌈T / WG⌉ × B·H, B·H folded into y and z. The
//   thread keeps its own rows (q_i, or dO_i too; k_j and v_j) and its output rows in private
//   arrays of 16 vec4 (d ≤ MAX_HEAD_DIM = 64), indexed by constants once the loops unroll, so
//   they can live in registers.
//   The row of the walked axis (k_j and v_j; q_i and dO_i in backwardKey) is the same for every
//   thread of a workgroup, so a subgroup reads it once: in chunks of 8 vec4, lane l loads vec4 l
//   of the chunk and subgroupBroadcast from lanes 0 … 7 gives all 8 to every lane. The mask of the
//   walked key is the same for the whole workgroup, which skips padding keys together. Threads
//   past T work on a copy of row T − 1, to keep the subgroup whole for the broadcasts, and write
//   nothing.
//   D_i goes from backwardQuery to backwardKey through rowDot (the second dispatch sees the first's
//   writes): backwardKey needs D_i for every (i, j) pair, and recomputing it there would add a
//   d-long dot product and the loads of O_i per pair (about a quarter more work), to save a
//   [B, H, T] buffer that backwardQuery fills with one dot product per row.
//   Every output element is written by one thread after loops in a fixed order, without atomics:
//   results are the same bits run to run.
//
// WHAT BOUNDS IT
//   Arithmetic: per (query, key) pair 2d FMAs forward, 3d backwardQuery and 4d backwardKey, an
//   exponential or two and a dropout hash, against O(T·d) bytes read per head: memory is not the
//   limit. Each chunk of a shared row costs one per-lane vec4 load and 8 broadcasts (register
//   shuffles on lavapipe, whose subgroups are its 8 SIMD lanes). At the shape below the forward
//   runs at about 11 GFLOP/s and the backward at about 13 (fastest runs, 2 flops per FMA),
//   against 15–20 for matmul_subgroups.wgsl on the same adapter.
//
// WHY THIS SHAPE (lavapipe, 2-core EPYC; B=32, T=64, D=128, H=4, p=0.1; forward / backward ms;
// the machine was shared with other jobs, so single runs moved by up to 2×)
//   - No workgroup memory and no barriers, which are expensive on lavapipe (matmul_subgroups.wgsl):
//     a thread per row needs no cooperation beyond broadcasts.
//   - The way here, each step against the one before in the same conditions: each thread loading
//     the shared rows itself, element by element, with d a uniform: 70 / 160 (composed path:
//     43 / 42). d as the override HEAD_DIM (row loops with fixed trip counts unroll and keep the
//     rows in registers): 37 / 74. Rows as vec4: 25 / 75. Shared rows by subgroup broadcast:
//     4–7 / 14–17.
//   - A thread's own rows are loaded and stored by loops bounded by rowVec4s (a uniform, so they
//     stay loops), through staging arrays copied whole into the register arrays. Unrolled, these
//     per-lane loads made lavapipe's LLVM take 28 s to compile the three entry points for d = 64;
//     3.6 s now (1.4 s for d = 32), run time unchanged.
//   - Tried and not kept (no change beyond the noise): keeping a lane's vec4 of k_j (q_i, dO_i in
//     backwardKey) for its second use instead of loading it again; loading L_i and D_i in
//     backwardKey once per 8 queries and handing them out by subgroupShuffle.
//   - Final, interleaved rep by rep with the composed path (min / median of 15): fused forward
//     6.2 / 11.1 (1 dispatch), backward 17.6 / 26.8 (2); composed 42.6 / 58.4 (8) and 44.0 / 63.8
//     (10). The backward does 7d FMAs per pair against the 4d of the composed path's four
//     matmuls (s and dO·v are computed in both passes: the price of every gradient written by
//     one thread, without atomics), and still wins: the composed backward also writes and reads
//     [B, H, T, T] gradients three times (dropout, softmax, the matmuls) and permutes the heads.
//
// REQUIREMENTS
//   The subgroups feature with at least 8 lanes, and d a multiple of 4 up to 64 (the launcher
//   refuses the rest; autograd's multiHeadAttention then takes the composed path).

enable subgroups;

struct Params {
  B: u32,
  T: u32,
  H: u32,
  hasMask: u32,
  seed: u32,
  stream: u32,
  scale: f32,
  p: f32,
  // d/4 again, as a run-time value: the loops that load and store whole rows
  // are bounded by it so that they stay loops (see WHY THIS SHAPE).
  rowVec4s: u32,
}

// The largest head dimension d: the size of the per-thread row arrays.
const MAX_HEAD_DIM: u32 = 64u;
// Lanes that load one chunk of a shared row (one vec4 each) and broadcast it.
const LANES: u32 = 8u;
const LOWEST: f32 = -3.402823e38;

alias Row = array<vec4<f32>, MAX_HEAD_DIM / 4u>;
alias Chunk = array<vec4<f32>, LANES>;

override WG: u32 = 64u;
// The head dimension d, a multiple of 4 up to MAX_HEAD_DIM: a constant, so
// the loops over a row have fixed trip counts and unroll.
override HEAD_DIM: u32 = 64u;

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read> o: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> dOut: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> lseIn: array<f32>;
@group(0) @binding(10) var<storage, read_write> dq: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> rowDot: array<f32>;
@group(0) @binding(12) var<storage, read> rowDotIn: array<f32>;
@group(0) @binding(13) var<storage, read_write> dk: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> dv: array<vec4<f32>>;

// lowbias32, dropoutKey, keepWith: dropout.wgsl's masks, bit for bit.
// import: lib/random.wgsl

// dropout.wgsl's keep(e) for element e of the B×H×T×T probabilities.
fn keptByDropout(base: u32, e: u32) -> bool {
  return params.p == 0.0 || keepWith(base, params.p, e);
}

// Whether key j of sequence b is a token (not padding).
fn keyKept(b: u32, j: u32) -> bool {
  return params.hasMask == 0u || mask[b * params.T + j] != 0.0;
}

// Where a workgroup works: head bh = b·H + h (the grid's y and z fold the
// B·H heads), and vec4 offsets into [B, T, D]: element (b, 0, h·d) is vec4
// headVec, and rows are strideVec = H·d/4 vec4 apart. Everything here is the
// same for the whole workgroup, as the subgroup broadcasts require of the
// control flow that depends on it.
struct Head {
  b: u32,
  bh: u32,
  headVec: u32,
  strideVec: u32,
}

fn headOf(wid: vec3<u32>, groups: vec3<u32>) -> Head {
  let bh = wid.z * groups.y + wid.y;
  let b = bh / params.H;
  let h = bh - b * params.H;
  let strideVec = params.H * (HEAD_DIM / 4u);
  return Head(b, bh, b * params.T * strideVec + h * (HEAD_DIM / 4u), strideVec);
}

// The row (query or key) of a thread, clamped to T − 1: threads past the end
// compute a copy of the last row, to keep the subgroup whole, and write nothing.
fn rowOf(wid: vec3<u32>, x: u32) -> u32 {
  return min(wid.x * WG + x, params.T - 1u);
}

// One chunk of 8 vec4 (32 floats) of a row every thread of the subgroup
// needs: lane l loaded vec4 l (`mine`); every lane gets all 8.
fn share(mine: vec4<f32>) -> Chunk {
  return Chunk(subgroupBroadcast(mine, 0u), subgroupBroadcast(mine, 1u), subgroupBroadcast(mine, 2u), subgroupBroadcast(mine, 3u),
               subgroupBroadcast(mine, 4u), subgroupBroadcast(mine, 5u), subgroupBroadcast(mine, 6u), subgroupBroadcast(mine, 7u));
}

// Σ_r row[c0 + r] ⊙ chunk[r] over the chunk's part of the row (4 partial sums).
fn chunkDot(row: ptr<function, Row>, c0: u32, chunk: ptr<function, Chunk>) -> vec4<f32> {
  var s = vec4<f32>(0.0);
  for (var r = 0u; r < LANES && c0 + r < HEAD_DIM / 4u; r++) { s = fma((*row)[c0 + r], (*chunk)[r], s); }
  return s;
}

// acc[c0 + r] += w · chunk[r] over the chunk's part of the row.
fn chunkAxpy(acc: ptr<function, Row>, c0: u32, w: f32, chunk: ptr<function, Chunk>) {
  for (var r = 0u; r < LANES && c0 + r < HEAD_DIM / 4u; r++) { (*acc)[c0 + r] = fma(vec4<f32>(w), (*chunk)[r], (*acc)[c0 + r]); }
}

fn total(x: vec4<f32>) -> f32 {
  return (x.x + x.y) + (x.z + x.w);
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let at = headOf(wid, groups);
  if (at.bh >= params.B * params.H) { return; }
  let t = rowOf(wid, lid.x);
  let valid = wid.x * WG + lid.x < params.T;
  let rowVec = at.headVec + t * at.strideVec;
  let T = params.T;
  let d4 = HEAD_DIM / 4u;
  let lane = sgLane % LANES;

  var staged: Row;
  for (var c = 0u; c < params.rowVec4s; c++) { staged[c] = params.scale * q[rowVec + c]; }
  var qi = staged;
  var acc: Row;
  var m = LOWEST;
  var l = 0.0;
  let base = dropoutKey(params.seed, params.stream);
  let firstElement = (at.bh * T + t) * T;
  for (var j = 0u; j < T; j++) {
    if (!keyKept(at.b, j)) { continue; }
    let kj = at.headVec + j * at.strideVec;
    var s4 = vec4<f32>(0.0);
    for (var c0 = 0u; c0 < d4; c0 += LANES) {
      var chunk = share(k[kj + min(c0 + lane, d4 - 1u)]);
      s4 += chunkDot(&qi, c0, &chunk);
    }
    let s = total(s4);
    if (s > m) {
      let f = exp(m - s);
      l *= f;
      for (var c = 0u; c < d4; c++) { acc[c] *= f; }
      m = s;
    }
    let e = exp(s - m);
    l += e;
    let w = select(0.0, e, keptByDropout(base, firstElement + j));
    for (var c0 = 0u; c0 < d4; c0 += LANES) {
      var chunk = share(v[kj + min(c0 + lane, d4 - 1u)]);
      chunkAxpy(&acc, c0, w, &chunk);
    }
  }
  if (!valid) { return; }
  let row = at.bh * T + t;
  // A row without a key (all padding) gives zeros, as softmax.wgsl.
  let inv = select(0.0, 1.0 / (l * (1.0 - params.p)), l > 0.0);
  var result = acc;
  for (var c = 0u; c < params.rowVec4s; c++) { out[rowVec + c] = result[c] * inv; }
  lse[row] = select(0.0, m + log(l), l > 0.0);
}

@compute @workgroup_size(WG)
fn backwardQuery(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let at = headOf(wid, groups);
  if (at.bh >= params.B * params.H) { return; }
  let t = rowOf(wid, lid.x);
  let valid = wid.x * WG + lid.x < params.T;
  let rowVec = at.headVec + t * at.strideVec;
  let T = params.T;
  let d4 = HEAD_DIM / 4u;
  let lane = sgLane % LANES;
  let row = at.bh * T + t;

  var stagedQ: Row;
  var stagedG: Row;
  var rd4 = vec4<f32>(0.0);
  for (var c = 0u; c < params.rowVec4s; c++) {
    let g = dOut[rowVec + c];
    stagedQ[c] = params.scale * q[rowVec + c];
    stagedG[c] = g;
    rd4 = fma(g, o[rowVec + c], rd4);
  }
  var qi = stagedQ;
  var gi = stagedG;
  let rd = total(rd4);
  if (valid) { rowDot[row] = rd; }
  let rowLse = lseIn[row];
  let keepScale = 1.0 / (1.0 - params.p);
  let base = dropoutKey(params.seed, params.stream);
  let firstElement = row * T;
  var acc: Row;
  for (var j = 0u; j < T; j++) {
    if (!keyKept(at.b, j)) { continue; }
    let kj = at.headVec + j * at.strideVec;
    var s4 = vec4<f32>(0.0);
    var g4 = vec4<f32>(0.0);
    for (var c0 = 0u; c0 < d4; c0 += LANES) {
      var kc = share(k[kj + min(c0 + lane, d4 - 1u)]);
      var vc = share(v[kj + min(c0 + lane, d4 - 1u)]);
      s4 += chunkDot(&qi, c0, &kc);
      g4 += chunkDot(&gi, c0, &vc);
    }
    let prob = exp(total(s4) - rowLse);
    let dp = select(0.0, total(g4) * keepScale, keptByDropout(base, firstElement + j));
    let ds = prob * (dp - rd);
    for (var c0 = 0u; c0 < d4; c0 += LANES) {
      var kc = share(k[kj + min(c0 + lane, d4 - 1u)]);
      chunkAxpy(&acc, c0, ds, &kc);
    }
  }
  if (!valid) { return; }
  var result = acc;
  for (var c = 0u; c < params.rowVec4s; c++) { dq[rowVec + c] = params.scale * result[c]; }
}

@compute @workgroup_size(WG)
fn backwardKey(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) groups: vec3<u32>, @builtin(subgroup_invocation_id) sgLane: u32) {
  let at = headOf(wid, groups);
  if (at.bh >= params.B * params.H) { return; }
  let t = rowOf(wid, lid.x);
  let valid = wid.x * WG + lid.x < params.T;
  let rowVec = at.headVec + t * at.strideVec;
  let T = params.T;
  let d4 = HEAD_DIM / 4u;
  let lane = sgLane % LANES;

  var stagedK: Row;
  var stagedV: Row;
  for (var c = 0u; c < params.rowVec4s; c++) {
    stagedK[c] = params.scale * k[rowVec + c];
    stagedV[c] = v[rowVec + c];
  }
  var kj = stagedK;
  var vj = stagedV;
  let keepScale = 1.0 / (1.0 - params.p);
  let base = dropoutKey(params.seed, params.stream);
  var accK: Row;
  var accV: Row;
  for (var i = 0u; i < T; i++) {
    let qr = at.headVec + i * at.strideVec;
    let row = at.bh * T + i;
    var s4 = vec4<f32>(0.0);
    var g4 = vec4<f32>(0.0);
    for (var c0 = 0u; c0 < d4; c0 += LANES) {
      var qc = share(q[qr + min(c0 + lane, d4 - 1u)]);
      var gc = share(dOut[qr + min(c0 + lane, d4 - 1u)]);
      s4 += chunkDot(&kj, c0, &qc);
      g4 += chunkDot(&vj, c0, &gc);
    }
    let prob = exp(total(s4) - lseIn[row]);
    let keep = keptByDropout(base, row * T + t);
    let pDropped = select(0.0, prob * keepScale, keep);
    let ds = prob * (select(0.0, total(g4) * keepScale, keep) - rowDotIn[row]);
    for (var c0 = 0u; c0 < d4; c0 += LANES) {
      var qc = share(q[qr + min(c0 + lane, d4 - 1u)]);
      var gc = share(dOut[qr + min(c0 + lane, d4 - 1u)]);
      chunkAxpy(&accV, c0, pDropped, &gc);
      chunkAxpy(&accK, c0, ds, &qc);
    }
  }
  if (!valid) { return; }
  // A padding key has no attention on it: its gradients are 0 (its lanes
  // above may even have overflowed, since its scores were never normalized).
  let real = keyKept(at.b, t);
  var resultK = accK;
  var resultV = accV;
  for (var c = 0u; c < params.rowVec4s; c++) {
    dk[rowVec + c] = select(vec4<f32>(0.0), params.scale * resultK[c], real);
    dv[rowVec + c] = select(vec4<f32>(0.0), resultV[c], real);
  }
}
