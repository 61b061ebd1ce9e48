// matmul_subgroups.wgsl — dense fp32 matrix product whose threads share A through subgroups.
//
// MATH
//   C[b] = op(A[b]) · op(B[b]) (+ bias, broadcast over the rows of C) (+ D[b]), exactly
//   as matmul.wgsl: op(A) is M×K, op(B) is K×N, op is the identity or the
//   transpose (TRANS_A, TRANS_B), batch b at element b·batchStride{A,B,C}.
//   This is the same kernel family with a different schedule; the launcher
//   picks it when the device has the `subgroups` feature with subgroups of
//   at least 8 invocations, and matmul.wgsl otherwise.
//   Epilogue: C = act(z) with z = op(A)·op(B) + bias, act one of the
//   pointwise maps of elementwise.wgsl (gelu, geluTanh, relu, swish, tanh),
//   and z itself written to `pre` when asked (the backward's act'(z)).
//   Row sums of A, as matmul.wgsl: sums[m] = Σ_k op(A)[m, k] when asked
//   (ROW_SUMS), added one element at a time in increasing k from 0, which
//   makes a linear layer's bias gradient, taken from its weight gradient
//   dYᵀ·X, the bits of reduce.wgsl's columnSums (matmul.wgsl says why).
//
// MEMORY LAYOUT
//   As matmul.wgsl: dense row-major fp32; A, B, bias bound as
//   array<vec4<f32>> (element e is component (e & 3) of vec4 (e >> 2)), C as
//   array<f32> so that no two threads write parts of one vector. A stored M×K (or K×M when
//   TRANS_A), B stored K×N (or N×K when TRANS_B), C, pre and addend M×N
//   (batch strides of C), bias N, sums M (batch 1). An operand larger than a
//   binding is cut into blocks by the launcher exactly as matmul.wgsl's
//   header describes, row sums included.
//
// TILING AND THREAD → DATA MAPPING
//   A workgroup is WG threads in a row (64 by default; the launcher lowers it
//   to 32, 16 or 8 for narrow C so fewer threads idle) and owns an 8×(4·WG)
//   tile of C: every thread of a workgroup works on the same 8 rows, rows
//   8·wg.y … +7, and thread x owns the 4 columns 4·(WG·wg.x + x) … +3, so it
//   keeps an 8×4
//   register block (two 4×4 halves, acc and acc2, as C_blockᵀ like
//   matmul.wgsl). The K loop advances 4 at a time:
//     B: each thread loads its own 4×4 block of op(B) (4 vec4 loads).
//     A: the 8×4 block of op(A) is the same for every thread of the
//        subgroup. Lane l loads one eighth of it, one vec4 (row l % 8 along
//        k; or, when TRANS_A, stored row k0 + l % 4 across 4 rows of op(A)),
//        and the 8 vec4s reach every lane by subgroupBroadcast from lanes
//        0…7. Lanes past 7 load a copy, which keeps the code branch-free.
//   Then 32 vec4 FMAs. Per 4 steps of k a thread issues 5 vec4 loads instead
//   of the 8 + 4 of an unshared 8×4 block.
//
// WHY THIS SHAPE
//   Measured on Mesa's lavapipe (CPU, 8-wide SIMD, subgroup = 8 lanes),
//   every vector load of a thread costs a per-lane gather, and loads, not
//   FMAs, bound the portable kernel (removing either operand's loads doubled
//   its speed). Sharing A across the subgroup took 1024³ from about 9-10
//   GFLOP/s (matmul.wgsl) to 18-22. Workgroup memory instead of subgroups
//   (one barrier pair per 32 steps of k) measured about 8: barriers are
//   expensive there. An 8×8 block per thread was only 5% faster and spills.
//   Subgroup operations must run in uniform control flow, so threads whose
//   columns fall past N still walk the K loop and skip only the final write.
//   Bound: FLOPs (2·M·N·K), B re-read by M/8 workgroups.
//
// VARIANTS (override constants)
//   ALIGNED: K, N, batch strides (and M when TRANS_A) are multiples of 4:
//     whole-vec4 loads; otherwise element loads with bounds checks.
//   HAS_BIAS: add bias[n] to every row of C.
//   ACTIVATION: 0 none, 1 gelu (erf form), 2 geluTanh, 3 relu, 4 swish,
//     5 tanh, applied to each element of the register block just before
//     its store, with elementwise.wgsl's functions copied verbatim (WGSL has
//     no includes), so the result is the bits of the separate pass.
//   SAVE_PRE: also store z in `pre` (the backward's act'(z) reads it).
//   LATE_ACTIVATION: store z first (to `pre`, else to C), then apply act in
//     a second loop over the 8×4 elements read back from the cache. The
//     exact GELU's erfc (a division, a 10-term polynomial and an exp) next to
//     the live 8×4 block spills on a CPU's 16 vector registers: on lavapipe
//     at 2048×512×128 the in-register gelu epilogue added 11 ms to a 25 ms
//     product, the late loop 7 ms (the separate gelu pass is 8.5 ms); the
//     tanh form, swish and relu add 1–3 ms in registers and were slower
//     late. The launcher sets it for the exact GELU on CPU adapters.
//   HAS_ADDEND: C = … + D, D (`addend`, C's layout) added last: a gradient
//     accumulated in the kernel that computes the next term of the sum
//     (linear's dx = dY·W + the gradient x already has), saving a pass that
//     reads both and writes the sum. The same bits: fp32 addition commutes.
//   ROW_SUMS: also store sums[m] = Σ_k op(A)[m, k]. Every thread has the
//     whole 8×4 A block after the broadcasts (the two halves blockOfA
//     returns) and adds its 8 rows to two vec4 running sums, 8 vec4 adds
//     per step of k next to the 32 FMAs; the thread with col0 = 0 stores them.
//   ROW_SUMS_RESUME: start each sum from the value in `sums` (the
//     launcher's K blocks), as in matmul.wgsl.
//   A_GRAD: A holds dy, the gradient of act(z), and the product uses
//     dz = dy · act'(z) in its place, z read from `aPre` in A's stored
//     layout (act by the ACTIVATION codes; 0: off). Each loaded element of
//     A is replaced by lib/activations.wgsl's activationGrad(act, z, dy),
//     the function elementwise.wgsl's backward passes call, before anything
//     else sees it (the broadcasts, the FMAs, the row sums), so C and the
//     row sums have the bits of a product over that pass's output. A linear
//     layer's backward through its activation (dX = dz·W, dW = dzᵀ·X, db =
//     Σ dz) thus needs no pass writing dz: each product computes act' for
//     the elements it loads. Here each element of A is loaded by one
//     workgroup per column tile, so act' costs what the pass would when C
//     has at most 4·WG columns (the step's dX and dW); wider products
//     recompute it once per column tile.

enable subgroups;

struct MatmulParams {
  M: u32,
  N: u32,
  K: u32,
  batchStrideA: u32,
  batchStrideB: u32,
  batchStrideC: u32,
}

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ALIGNED: bool = false;
override HAS_BIAS: bool = false;
// The epilogue: act applied to each element of C (0: none), and z before it kept in `pre`.
override ACTIVATION: u32 = 0u;
override SAVE_PRE: bool = false;
// D added to C last, element by element (a gradient accumulated in the kernel that computes the next term).
override HAS_ADDEND: bool = false;
// Apply act in a second loop over the stored z rather than in registers (see the header).
override LATE_ACTIVATION: bool = false;
// Also store sums[m] = Σ_k op(A)[m, k], resuming the sums already there when ROW_SUMS_RESUME (see the header).
override ROW_SUMS: bool = false;
override ROW_SUMS_RESUME: bool = false;
// A is dy; the product uses dy · act'(z), z from `aPre` (an ACTIVATION code; 0: off). See the header.
override A_GRAD: u32 = 0u;
// Threads per workgroup, at least 8 (the lanes A is broadcast from).
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> params: MatmulParams;
@group(0) @binding(5) var<storage, read_write> pre: array<f32>;
@group(0) @binding(6) var<storage, read> addend: array<f32>;
@group(0) @binding(7) var<storage, read_write> sums: array<f32>;
@group(0) @binding(8) var<storage, read> aPre: array<vec4<f32>>;

// activation(kind, v) and the constants ACT_*, shared with elementwise.wgsl:
// import: lib/activations.wgsl

// One element of A or B by flat index, as the unaligned path reads it;
// with A_GRAD, A's element is dy · act'(z) (see the header).
fn elementA(i: u32) -> f32 {
  let v = a[i >> 2u][i & 3u];
  if (A_GRAD != 0u) { return activationGrad(A_GRAD, aPre[i >> 2u][i & 3u], v); }
  return v;
}
fn elementB(i: u32) -> f32 { return b[i >> 2u][i & 3u]; }

// Vec4 q of A, as the aligned path reads it; with A_GRAD, each component is dy · act'(z).
fn vectorA(q: u32) -> vec4<f32> {
  let v = a[q];
  if (A_GRAD != 0u) {
    let z = aPre[q];
    return vec4<f32>(activationGrad(A_GRAD, z.x, v.x), activationGrad(A_GRAD, z.y, v.y),
                     activationGrad(A_GRAD, z.z, v.z), activationGrad(A_GRAD, z.w, v.w));
  }
  return v;
}

// op(A)[row, k] from batch base `base`, 0 outside the M×K matrix.
fn readA(base: u32, row: u32, k: u32) -> f32 {
  if (row >= params.M || k >= params.K) { return 0.0; }
  if (TRANS_A) { return elementA(base + k * params.M + row); }
  return elementA(base + row * params.K + k);
}

// op(B)[k, col] from batch base `base`, 0 outside the K×N matrix.
fn readB(base: u32, k: u32, col: u32) -> f32 {
  if (k >= params.K || col >= params.N) { return 0.0; }
  if (TRANS_B) { return elementB(base + col * params.K + k); }
  return elementB(base + k * params.N + col);
}

// The 4×4 block of op(B) at (k0, col0), returned as B_blockᵀ (column kk = row kk).
// `cols` holds, for the aligned transposed case, the vec4 index where each of
// the four columns starts.
fn tileOfB(base: u32, k0: u32, col0: u32, cols: vec4<u32>) -> mat4x4<f32> {
  if (ALIGNED) {
    if (TRANS_B) {
      // Stored N×K: each column of op(B) is one vec4 along k.
      let q = cols + vec4<u32>(k0 >> 2u);
      return transpose(mat4x4<f32>(b[q.x], b[q.y], b[q.z], b[q.w]));
    }
    // Stored K×N with N % 4 == 0: columns col0…col0+3 are one vec4 of each row.
    let n4 = params.N >> 2u;
    let q = (base >> 2u) + k0 * n4 + (col0 >> 2u);
    return mat4x4<f32>(b[q], b[q + n4], b[q + 2u * n4], b[q + 3u * n4]);
  }
  var t: mat4x4<f32>;
  for (var kk = 0u; kk < 4u; kk++) {
    t[kk] = vec4<f32>(readB(base, k0 + kk, col0), readB(base, k0 + kk, col0 + 1u),
                      readB(base, k0 + kk, col0 + 2u), readB(base, k0 + kk, col0 + 3u));
  }
  return t;
}

// Vec4 index of the start of rows i, i+1, i+2, i+3 (clamped to `last`) of a
// row-major matrix with `width` columns (a multiple of 4) at element `base`.
// A row past the end repeats the last one; results from it are never written.
fn rowStarts(base: u32, i: u32, last: u32, width: u32) -> vec4<u32> {
  let r = min(vec4<u32>(i) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
  return vec4<u32>(base >> 2u) + r * (width >> 2u);
}

// This lane's share of the 8×4 block of op(A) at (row0, k0): see the header.
// `rowStart` is, for the aligned untransposed case, the vec4 index where the
// lane's row starts.
fn sliceOfA(base: u32, row0: u32, k0: u32, lane: u32, rowStart: u32) -> vec4<f32> {
  if (TRANS_A) {
    // Stored row k0 + lane % 4, op(A) rows row0 + 4·((lane / 4) % 2) … +3.
    let k = k0 + (lane & 3u);
    let row = row0 + 4u * ((lane >> 2u) & 1u);
    if (ALIGNED) {
      // K and M are multiples of 4: the 4 rows are all in range or all out.
      if (row >= params.M) { return vec4<f32>(); }
      return vectorA((base + k * params.M + row) >> 2u);
    }
    return vec4<f32>(readA(base, row, k), readA(base, row + 1u, k), readA(base, row + 2u, k), readA(base, row + 3u, k));
  }
  if (ALIGNED) { return vectorA(rowStart + (k0 >> 2u)); }
  let row = row0 + (lane & 7u);
  return vec4<f32>(readA(base, row, k0), readA(base, row, k0 + 1u), readA(base, row, k0 + 2u), readA(base, row, k0 + 3u));
}

// Rows 0…3 (half = false) or 4…7 (half = true) of the A block as A_blockᵀ,
// gathered from lanes 0…7 by broadcast. The broadcast lane ids must be
// constants, hence the two spelled-out halves.
fn blockOfA(slice: vec4<f32>, upper: bool) -> mat4x4<f32> {
  var m: mat4x4<f32>;
  if (upper) {
    m = mat4x4<f32>(subgroupBroadcast(slice, 4u), subgroupBroadcast(slice, 5u),
                    subgroupBroadcast(slice, 6u), subgroupBroadcast(slice, 7u));
  } else {
    m = mat4x4<f32>(subgroupBroadcast(slice, 0u), subgroupBroadcast(slice, 1u),
                    subgroupBroadcast(slice, 2u), subgroupBroadcast(slice, 3u));
  }
  // Untransposed, column j is row j of the block; transposed, column j holds
  // k = k0 + j across 4 rows, so one transpose gives the same form.
  if (TRANS_A) { return transpose(m); }
  return m;
}

// sum[r] += A[r][0], then A[r][1], A[r][2], A[r][3]: the 4 rows of an A block
// (given as A_blockᵀ, like blockOfA returns it) added to their running sums in k order.
fn addRows(sum: ptr<function, vec4<f32>>, ta: mat4x4<f32>) {
  let t = transpose(ta);
  for (var kk = 0u; kk < 4u; kk++) { *sum += t[kk]; }
}

// sums[row0 … row0 + 3], 0 past M: where a resumed launch starts its sums.
fn loadSums(row0: u32) -> vec4<f32> {
  var s = vec4<f32>();
  for (var r = 0u; r < 4u; r++) {
    if (row0 + r < params.M) { s[r] = sums[row0 + r]; }
  }
  return s;
}

// Stores s into sums[row0 … row0 + 3], the rows below M.
fn storeSums(row0: u32, s: vec4<f32>) {
  for (var r = 0u; r < 4u; r++) {
    if (row0 + r < params.M) { sums[row0 + r] = s[r]; }
  }
}

// acc += tileB * tileA: row r of the C block gains A[r][kk] · row kk of B.
fn accumulate(acc: ptr<function, mat4x4<f32>>, ta: mat4x4<f32>, tb: mat4x4<f32>) {
  for (var r = 0u; r < 4u; r++) {
    (*acc)[r] = fma(vec4<f32>(ta[r].x), tb[0], (*acc)[r]);
    (*acc)[r] = fma(vec4<f32>(ta[r].y), tb[1], (*acc)[r]);
    (*acc)[r] = fma(vec4<f32>(ta[r].z), tb[2], (*acc)[r]);
    (*acc)[r] = fma(vec4<f32>(ta[r].w), tb[3], (*acc)[r]);
  }
}

@compute @workgroup_size(WG, 1, 1)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>,
          @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(subgroup_invocation_id) lane: u32) {
  let col0 = gid.x * 4u;
  let row0 = wid.y * 8u;
  if (row0 >= params.M) { return; }  // uniform across the workgroup
  let batch = gid.z;
  let baseA = batch * params.batchStrideA;
  let baseB = batch * params.batchStrideB;
  let baseC = batch * params.batchStrideC;

  let lastCol = params.N - 1u;
  let colsB = rowStarts(baseB, min(col0, lastCol), lastCol, params.K);
  let rowStart = (baseA >> 2u) + min(row0 + (lane & 7u), params.M - 1u) * (params.K >> 2u);
  var acc = mat4x4<f32>();
  var acc2 = mat4x4<f32>();
  // Running sums of rows 0…3 and 4…7 of op(A) (ROW_SUMS).
  var rowSum = vec4<f32>();
  var rowSum2 = vec4<f32>();
  if (ROW_SUMS_RESUME) {
    rowSum = loadSums(row0);
    rowSum2 = loadSums(row0 + 4u);
  }
  for (var k0 = 0u; k0 < params.K; k0 += 4u) {
    let tb = tileOfB(baseB, k0, min(col0, lastCol), colsB);
    let slice = sliceOfA(baseA, row0, k0, lane, rowStart);
    let ta = blockOfA(slice, false);
    let ta2 = blockOfA(slice, true);
    accumulate(&acc, ta, tb);
    accumulate(&acc2, ta2, tb);
    if (ROW_SUMS) {
      addRows(&rowSum, ta);
      addRows(&rowSum2, ta2);
    }
  }
  if (col0 >= params.N) { return; }
  if (ROW_SUMS && col0 == 0u) {
    storeSums(row0, rowSum);
    storeSums(row0 + 4u, rowSum2);
  }

  var biasRow = vec4<f32>();
  if (HAS_BIAS) {
    if (ALIGNED) {
      biasRow = bias[col0 >> 2u];
    } else {
      for (var j = 0u; j < 4u; j++) {
        if (col0 + j < params.N) { biasRow[j] = bias[(col0 + j) >> 2u][(col0 + j) & 3u]; }
      }
    }
  }

  for (var r = 0u; r < 8u; r++) {
    let row = row0 + r;
    if (row >= params.M) { break; }
    var value = acc2[r & 3u];
    if (r < 4u) { value = acc[r]; }
    value += biasRow;
    let e = baseC + row * params.N + col0;
    for (var j = 0u; j < 4u; j++) {
      if (ALIGNED || col0 + j < params.N) {
        if (LATE_ACTIVATION) {
          // z only; the loop below applies act.
          if (SAVE_PRE) { pre[e + j] = value[j]; } else { c[e + j] = value[j]; }
        } else {
          if (SAVE_PRE) { pre[e + j] = value[j]; }
          var v = activation(ACTIVATION, value[j]);
          if (HAS_ADDEND) { v += addend[e + j]; }
          c[e + j] = v;
        }
      }
    }
  }

  if (LATE_ACTIVATION) {
    // The block's registers are free now: act over the z just stored (read
    // back from the cache), one element at a time.
    for (var r = 0u; r < 8u; r++) {
      let row = row0 + r;
      if (row >= params.M) { break; }
      let e = baseC + row * params.N + col0;
      for (var j = 0u; j < 4u; j++) {
        if (ALIGNED || col0 + j < params.N) {
          var z = 0.0;
          if (SAVE_PRE) { z = pre[e + j]; } else { z = c[e + j]; }
          var v = activation(ACTIVATION, z);
          if (HAS_ADDEND) { v += addend[e + j]; }
          c[e + j] = v;
        }
      }
    }
  }
}
