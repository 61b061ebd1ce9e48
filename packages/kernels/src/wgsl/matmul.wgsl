// matmul.wgsl — dense fp32 matrix product with optional transposes, bias and batch.
//
// MATH
//   C[b] = op(A[b]) · op(B[b]) (+ bias, broadcast over the rows of C) (+ D[b])
//   op(A) is M×K, op(B) is K×N, C is M×N; op is the identity or the transpose,
//   chosen independently for A and B (TRANS_A, TRANS_B). Those are the three
//   products a linear layer needs: forward X·Wᵀ, input gradient dY·W, and
//   weight gradient dYᵀ·X.
//   Epilogue: C = act(z) with z = op(A)·op(B) + bias, act one of the
//   pointwise maps of elementwise.wgsl (gelu, geluTanh, relu, swish, tanh),
//   and z itself written to `pre` when asked (the backward's act'(z)).
//   Row sums of A: sums[m] = Σ_k op(A)[m, k] for every row m of C, when
//   asked (ROW_SUMS). A linear layer's weight gradient is dW = dYᵀ·X, so
//   op(A) = dYᵀ and sums[m] = Σ_rows dY[·, m] is its bias gradient db: the
//   product already loads every element of dY, so db costs a few adds per
//   step of k instead of reduce.wgsl's columnSums, a dispatch that reads dY
//   again. Each sum starts at 0 and adds op(A)[m, 0], op(A)[m, 1], … one by
//   one in increasing k, the order of columnSums, so db has its bits (the
//   0s the unaligned path reads past K add +0.0, which keeps a sum that
//   starts at +0.0 unchanged: round-to-nearest never makes it −0.0).
//
// MEMORY LAYOUT
//   Every matrix is dense row-major in a flat fp32 buffer. A, B and bias are
//   bound as array<vec4<f32>> so that aligned reads move 16 bytes at a time;
//   C is bound as array<f32> and written one element at a time: WGSL allows a
//   write to one component of a vector to touch the whole vector, so two
//   threads writing neighbouring components of one vec4 (N % 4 ≠ 0) would race.
//     A stored M×K (TRANS_A = false) or K×M (TRANS_A = true)
//     B stored K×N (TRANS_B = false) or N×K (TRANS_B = true)
//     C stored M×N, bias stored N; pre (z before the activation) and addend
//     (D) stored like C; sums stored M (batch 1 only: the launcher refuses
//     row sums of a batch)
//   Element e of A or B is component (e & 3) of vec4 number (e >> 2), so the
//   same binding also serves the unaligned path below. Buffers are padded to a
//   multiple of 16 bytes by the runtime's pool. Batch b starts at element
//   b·batchStride{A,B,C}; a stride of 0 broadcasts that operand over the batch.
//
// OPERANDS LARGER THAN A BINDING (both schedules; the launcher does it all)
//   A tensor past maxStorageBufferBindingSize (the tied vocabulary matrix
//   E [V, D] and its gradient) keeps the layout above in one buffer; this
//   kernel never sees it whole. The launcher cuts the product along the
//   large operand's rows into blocks that each bind, and runs this kernel
//   once per block with smaller M, N or K on views (aligned byte offsets)
//   and small temporaries:
//     B stored N×K (TRANS_B): N in blocks: rows n₀…n₁ of B and bias are
//       views; the block's C (pre, D) columns go through an M×(n₁−n₀)
//       temporary and layout.wgsl's copyColumns.
//     C, or A stored M×K: M in blocks: rows of C, pre, D (and A) are views;
//       A stored K×M gives its columns through copyColumns.
//     B stored K×N, or A stored K×M (TRANS_A): K in blocks, the partial
//       products summed through HAS_ADDEND (P_j = block_j + P_{j−1}), in
//       two buffers that alternate (a written binding may not alias another).
//   N and M blocks leave every element's sum as one launch computes it
//   (bitwise the same result); K blocks sum per-block partial sums instead
//   of one running sum (deterministic, fp32 rounding apart). One large
//   operand at a time, batch 1. Row sums: N blocks take them from block 0
//   (every block sees all of A), M blocks write rows m₀…m₁ of a view of
//   sums, and K blocks continue one running sum through ROW_SUMS_RESUME, so
//   all three give the bits of one launch.
//
// TILING AND THREAD → DATA MAPPING
//   A workgroup is 8×8 threads and owns a 32×32 tile of C; thread (x, y) owns
//   the 4×4 register block at rows 4·(8·wg.y + y) … +3 and columns
//   4·(8·wg.x + x) … +3. The K loop advances 4 at a time. Each step loads a
//   4×4 block of op(A) and a 4×4 block of op(B) into mat4x4 registers and does
//   one 4×4×4 product: 64 FMAs for 8 vec4 loads.
//   WGSL matrices are column-major: m[j] is column j. We keep
//     acc   with acc[r]  = row r of the C block (so acc is C_blockᵀ),
//     tileA with tileA[r] = row r of the A block along k   (tileA = A_blockᵀ),
//     tileB with tileB[kk] = row kk of the B block along n (tileB = B_blockᵀ),
//   and then C_blockᵀ += B_blockᵀ · A_blockᵀ is exactly acc += tileB * tileA,
//   which the loop spells out as 16 vec4 FMAs (explicit fma measured ~10%
//   faster than the matrix product on lavapipe, which splits mul and add).
//   A transposed operand is read along its contiguous axis and fixed with one
//   transpose() in registers, so every case loads whole vec4s.
//
// VARIANTS (override constants, chosen by the launcher from the shape)
//   ALIGNED: K, N, batch strides (and M when TRANS_A) are multiples of 4, so
//     every 4-wide read along a contiguous axis is one aligned vec4 load and
//     no column of C needs a bounds check. Otherwise each element is read on
//     its own with a bounds check, missing elements read as 0.
//   HAS_BIAS: add bias[n] to every row of C.
//   ACTIVATION: 0 none, 1 gelu (erf form), 2 geluTanh, 3 relu, 4 swish,
//     5 tanh, applied to each element just before its store, with
//     the function of lib/activations.wgsl that elementwise.wgsl's passes
//     also apply, so the result is the bits of the separate pass.
//   SAVE_PRE: also store z in `pre` (M×N like C, bound as array<f32>).
//   LATE_ACTIVATION: store z first, then apply act in a second loop over the
//     stored block (matmul_subgroups.wgsl says why; this kernel's 4×4 block
//     leaves room for the exact GELU in registers, so the launcher does not
//     set it here: both forms measured the same on lavapipe).
//   HAS_ADDEND: C = … + D, D (`addend`, C's layout) added last: a gradient
//     accumulated in the kernel that computes the next term of the sum.
//   ROW_SUMS: also store sums[m] = Σ_k op(A)[m, k]. Every thread adds up the
//     rows of its A blocks (4 vec4 adds per step of k, no branch in the
//     loop); the threads of column block 0 (col0 = 0) store them.
//   ROW_SUMS_RESUME: start each sum from the value in `sums` instead of 0:
//     the launcher's K blocks, each continuing the running sum of the last.
//
// SIBLING
//   matmul_subgroups.wgsl is the same family for devices with subgroups: its
//   threads share the loads of A through subgroup broadcasts, twice as fast
//   on lavapipe. This file is the portable version every device can run.
//   Both have the same overrides and bindings, so the launcher binds either
//   the same way, and their row sums are the same bits (the same adds in
//   the same order).
//
// WHY THIS SHAPE
//   No workgroup memory and no barriers: on Mesa's lavapipe (software Vulkan,
//   one CPU thread runs a whole workgroup in SIMD lanes) barriers split the
//   shader into resumable pieces and cost more than the reuse they buy. At
//   1024³ this register block measured 8.5–10 GFLOP/s, TensorFlow.js's
//   workgroup-memory tiles 3.8–4.8, and a variant staging A in workgroup
//   memory (one barrier pair per 32 steps of k) about 8. Larger register blocks (4×8, 8×8) were measured
//   too: they spill on a CPU's 16 vector registers and were not faster.
//   Bound: FLOPs (2·M·N·K); each operand element is re-read by N/4 (resp. M/4)
//   threads and served from cache.

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

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> params: MatmulParams;
@group(0) @binding(5) var<storage, read_write> pre: array<f32>;
@group(0) @binding(6) var<storage, read> addend: array<f32>;
@group(0) @binding(7) var<storage, read_write> sums: array<f32>;

// activation(kind, v) and the constants ACT_*, shared with elementwise.wgsl:
// import: lib/activations.wgsl

// One element of A or B by flat index, as the unaligned path reads it.
fn elementA(i: u32) -> f32 { return a[i >> 2u][i & 3u]; }
fn elementB(i: u32) -> f32 { return b[i >> 2u][i & 3u]; }

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

// The 4×4 block of op(A) at (row0, k0), returned as A_blockᵀ (column r = row r).
// `rows` holds, for the aligned untransposed case, the vec4 index where each
// of the four rows starts (computed once, outside the K loop).
fn tileOfA(base: u32, row0: u32, k0: u32, rows: vec4<u32>) -> mat4x4<f32> {
  if (ALIGNED) {
    if (TRANS_A) {
      // Stored K×M: 4 consecutive rows of op(A) sit in one vec4 of a stored row.
      // Rows past M are only possible when M % 4 != 0, which ALIGNED excludes.
      let m4 = params.M >> 2u;
      let q = (base >> 2u) + k0 * m4 + (row0 >> 2u);
      return transpose(mat4x4<f32>(a[q], a[q + m4], a[q + 2u * m4], a[q + 3u * m4]));
    }
    // Stored M×K: each row of op(A) contributes one vec4 along k.
    let q = rows + vec4<u32>(k0 >> 2u);
    return mat4x4<f32>(a[q.x], a[q.y], a[q.z], a[q.w]);
  }
  var t: mat4x4<f32>;
  for (var r = 0u; r < 4u; r++) {
    t[r] = vec4<f32>(readA(base, row0 + r, k0), readA(base, row0 + r, k0 + 1u),
                     readA(base, row0 + r, k0 + 2u), readA(base, row0 + r, k0 + 3u));
  }
  return t;
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

// sum[r] += A[r][0], then A[r][1], A[r][2], A[r][3]: the 4 rows of an A block
// (given as A_blockᵀ, like tileA) added to their running sums in k order.
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

@compute @workgroup_size(8, 8, 1)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col0 = gid.x * 4u;
  let row0 = gid.y * 4u;
  if (row0 >= params.M || col0 >= params.N) { return; }
  let batch = gid.z;
  let baseA = batch * params.batchStrideA;
  let baseB = batch * params.batchStrideB;
  let baseC = batch * params.batchStrideC;

  let rowsA = rowStarts(baseA, row0, params.M - 1u, params.K);
  let colsB = rowStarts(baseB, col0, params.N - 1u, params.K);
  var acc = mat4x4<f32>();
  var rowSum = vec4<f32>();
  if (ROW_SUMS_RESUME) { rowSum = loadSums(row0); }
  for (var k0 = 0u; k0 < params.K; k0 += 4u) {
    let ta = tileOfA(baseA, row0, k0, rowsA);
    accumulate(&acc, ta, tileOfB(baseB, k0, col0, colsB));
    if (ROW_SUMS) { addRows(&rowSum, ta); }
  }
  if (ROW_SUMS && col0 == 0u) { storeSums(row0, rowSum); }

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

  for (var r = 0u; r < 4u; r++) {
    let row = row0 + r;
    if (row >= params.M) { break; }
    let value = acc[r] + biasRow;
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
    for (var r = 0u; r < 4u; r++) {
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
