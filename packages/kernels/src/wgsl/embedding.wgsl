// embedding.wgsl — embedding lookup (optionally the sum of up to three lookups) and its deterministic backward (a scatter-add without atomics).
//
// MATH
//   gather:      out[t, :] = table[ids[t], :]                       t < tokens
//     with EXTRA_TABLES = 1 or 2 (a transformer's word + position + token-type
//     embeddings), the same launch also adds rows of small extra tables:
//                out[t, :] = (table[ids[t], :] + extra1[ids1[t], :]) + extra2[ids2[t], :]
//     in exactly that order, one rounding per addition: the bits of gathering
//     each table alone and adding the results with elementwise.wgsl's axpby
//     (α = β = 1: 1·x is exact, so 1·x + 1·y rounds like x + y), in one
//     dispatch instead of five.
//   scatterAdd:  dTable[v, :] = Σ_{t : ids[t] = v} dOut[t, :]       v < vocab
//   The backward needs, for every vocabulary row v, the tokens that use it.
//   The host knows the ids (it uploaded them), so it sorts token positions
//   by id once and passes a CSR index: positions[offsets[v] … offsets[v+1])
//   are the tokens with id v, in increasing position. Each output element
//   then sums its own list in that fixed order: bitwise reproducible, no
//   atomics, and rows of unused ids are written as 0. A sum of lookups runs
//   it once per table that needs a gradient, each with dOut of the sum (the
//   gradient of a sum reaches every term unchanged).
//
// MEMORY LAYOUT
//   table, dTable: vocab×D fp32; ids: tokens u32; out, dOut: tokens×D fp32;
//   offsets: vocab+1 u32; positions: tokens u32.
//   extra1, extra2: vocab1×D, vocab2×D fp32; ids1, ids2: tokens u32 (bound
//   only with EXTRA_TABLES ≥ 1, ≥ 2; otherwise any read-only buffer stands in).
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
//     The extra tables are small (position and token-type embeddings) and
//     bound whole in every chunk's dispatch: the thread that writes out[t, d]
//     (the one whose chunk holds ids[t]) also adds their rows, so each output
//     element is still written once, by one thread, with one order of
//     additions. An extra id past its table (ids1[t] ≥ vocab1, ids2[t] ≥
//     vocab2) adds NaN instead of a row, so that output row is NaN too; the
//     autograd op checks these ids on the host as well.
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
//   row it copies once, as unchunked. Adding the extra tables in the gather
//   spares writing and re-reading two tokens×D intermediates and four
//   dispatches (two gathers, two adds). On lavapipe no step time difference
//   showed through the run-to-run spread (docs/benchmarks.md); on a GPU,
//   where a small model's step is bound by its dispatches, those count.

struct GatherParams {
  tokens: u32,
  D: u32,
  vocab: u32,
  first: u32,
  count: u32,
  vocab1: u32,
  vocab2: u32,
}

struct ScatterParams {
  D: u32,
  count: u32,
  skip: u32,
}

override WG: u32 = 256u;
// How many extra tables gather adds to the rows of `table` (0, 1 or 2).
override EXTRA_TABLES: u32 = 0u;

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> gatherParams: GatherParams;
@group(0) @binding(4) var<storage, read> dOut: array<f32>;
@group(0) @binding(5) var<storage, read> offsets: array<u32>;
@group(0) @binding(6) var<storage, read> positions: array<u32>;
@group(0) @binding(7) var<storage, read_write> dTable: array<f32>;
@group(0) @binding(8) var<uniform> scatterParams: ScatterParams;
@group(0) @binding(9) var<storage, read> extra1: array<f32>;
@group(0) @binding(10) var<storage, read> ids1: array<u32>;
@group(0) @binding(11) var<storage, read> extra2: array<f32>;
@group(0) @binding(12) var<storage, read> ids2: array<u32>;

// A quiet NaN carrying an id's low bits, built from the id at run time (a
// NaN constant expression does not compile): the value of an id past its table.
fn missingRow(id: u32) -> f32 {
  return bitcast<f32>(0x7fc00000u | (id & 0x3fffffu));
}

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
    var x = table[(v - p.first) * p.D + d];
    if (EXTRA_TABLES >= 1u) {
      let w = ids1[t];
      if (w < p.vocab1) { x += extra1[w * p.D + d]; } else { x += missingRow(w); }
    }
    if (EXTRA_TABLES >= 2u) {
      let w = ids2[t];
      if (w < p.vocab2) { x += extra2[w * p.D + d]; } else { x += missingRow(w); }
    }
    out[e] = x;
  } else if (v >= p.vocab && end == p.vocab) {
    out[e] = missingRow(v);
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
