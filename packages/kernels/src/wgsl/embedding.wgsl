// embedding.wgsl — embedding lookup and its deterministic backward (a scatter-add without atomics).
//
// MATH
//   gather:      out[t, :] = table[ids[t], :]                       t < tokens
//   scatterAdd:  dTable[v, :] = Σ_{t : ids[t] = v} dOut[t, :]       v < vocab
//   The backward needs, for every vocabulary row v, the tokens that use it.
//   The host knows the ids (it uploaded them), so it sorts token positions
//   by id once and passes a CSR index: positions[offsets[v] … offsets[v+1])
//   are the tokens with id v, in increasing position. Each output element
//   then sums its own list in that fixed order: bitwise reproducible, no
//   atomics, and rows of unused ids are written as 0.
//
// MEMORY LAYOUT
//   table, dTable: vocab×D fp32; ids: tokens u32; out, dOut: tokens×D fp32;
//   offsets: vocab+1 u32; positions: tokens u32.
//
// THREAD → DATA MAPPING
//   One thread per output element (token × D for gather, vocab × D for the
//   backward), grid folded into 2D past the per-dimension limit; consecutive
//   threads take consecutive d, so rows are read and written contiguously.
//
// WHAT BOUNDS IT
//   Memory. The backward touches every element of dTable, so it costs
//   vocab·D even for a small batch: fine for trainable small vocabularies;
//   a frozen embedding (the MAD-X setting) never runs it.

struct GatherParams {
  tokens: u32,
  D: u32,
}

struct ScatterParams {
  vocab: u32,
  D: u32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> gatherParams: GatherParams;
@group(0) @binding(4) var<storage, read> dOut: array<f32>;
@group(0) @binding(5) var<storage, read> offsets: array<u32>;
@group(0) @binding(6) var<storage, read> positions: array<u32>;
@group(0) @binding(7) var<storage, read_write> dTable: array<f32>;
@group(0) @binding(8) var<uniform> scatterParams: ScatterParams;

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let e = gid.y * groups.x * WG + gid.x;
  if (e >= gatherParams.tokens * gatherParams.D) { return; }
  let t = e / gatherParams.D;
  let d = e % gatherParams.D;
  out[e] = table[ids[t] * gatherParams.D + d];
}

@compute @workgroup_size(WG)
fn scatterAdd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let e = gid.y * groups.x * WG + gid.x;
  if (e >= scatterParams.vocab * scatterParams.D) { return; }
  let v = e / scatterParams.D;
  let d = e % scatterParams.D;
  var s = 0.0;
  for (var k = offsets[v]; k < offsets[v + 1u]; k++) {
    s += dOut[positions[k] * scatterParams.D + d];
  }
  dTable[e] = s;
}
