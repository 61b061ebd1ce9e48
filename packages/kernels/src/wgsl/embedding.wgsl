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
// CHUNKED TABLES (tables larger than one storage binding)
//   A table (or dTable) of vocab·D·4 bytes may exceed what one binding can
//   cover: 250,002 × 768 fp32 (XLM-R) is 768 MB against 128 MiB. It still
//   lives in one buffer, row-major as above, and the launcher runs one
//   dispatch per chunk of whole rows [first, first + count) (see
//   runtime/chunks.ts), binding `table` / `dTable` to a view of just those
//   rows, so row v of the table is row v − first of the binding. Uniforms:
//   gather gets first and count, scatterAdd count and skip (below); with a
//   single chunk, first = skip = 0 and count = vocab.
//   ids, positions, out and dOut are per-batch activations and are always
//   bound whole (they must fit one binding).
//   gather: every chunk's dispatch covers all tokens × D outputs; a thread
//     writes out[t, d] only when ids[t] lies in its chunk, so each output row
//     is written by exactly one dispatch, with the bits of the unchunked copy.
//     An id ≥ vocab has no row (the autograd op checks ids on the host, so
//     none arrives from it): the dispatch of the last chunk writes its output
//     row as NaN, so a bad id shows instead of reading some other row.
//   scatterAdd: the dispatch of a chunk writes exactly the rows of its dTable
//     view. `offsets` may exceed a binding too (4·(vocab + 1) bytes), and a
//     chunk's first row need not fall on an aligned offset of it, so it is
//     bound as a view starting at the aligned element at or below `first`;
//     `skip` (= first − that element) locates row `first` in the view. Each
//     element sums the same list in the same order as the unchunked launch:
//     identical bits.
//
// THREAD → DATA MAPPING
//   One thread per output element (tokens × D for gather, count × D for the
//   backward), grid folded into 2D past the per-dimension limit; consecutive
//   threads take consecutive d, so rows are read and written contiguously.
//
// WHAT BOUNDS IT
//   Memory. The backward touches every element of dTable, so it costs
//   vocab·D even for a small batch: fine for trainable small vocabularies;
//   a frozen embedding (the MAD-X setting) never runs it. A chunked gather
//   reads ids and runs tokens·D threads once per chunk, but moves each table
//   row it copies once, as unchunked.

struct GatherParams {
  tokens: u32,
  D: u32,
  vocab: u32,
  first: u32,
  count: u32,
}

struct ScatterParams {
  D: u32,
  count: u32,
  skip: u32,
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
  let p = gatherParams;
  let e = gid.y * groups.x * WG + gid.x;
  if (e >= p.tokens * p.D) { return; }
  let t = e / p.D;
  let d = e % p.D;
  let v = ids[t];
  let end = p.first + p.count;
  if (v >= p.first && v < end) {
    out[e] = table[(v - p.first) * p.D + d];
  } else if (v >= p.vocab && end == p.vocab) {
    // A quiet NaN carrying the id's low bits, built from the id at run time
    // (a NaN constant expression does not compile).
    out[e] = bitcast<f32>(0x7fc00000u | (v & 0x3fffffu));
  }
}

@compute @workgroup_size(WG)
fn scatterAdd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = scatterParams;
  let e = gid.y * groups.x * WG + gid.x;
  if (e >= p.count * p.D) { return; }
  let v = p.skip + e / p.D;
  let d = e % p.D;
  var s = 0.0;
  for (var k = offsets[v]; k < offsets[v + 1u]; k++) {
    s += dOut[positions[k] * p.D + d];
  }
  dTable[e] = s;
}
