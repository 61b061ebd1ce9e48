// attention.wgsl — fused multi-head self-attention (draft header, rewritten below once measured).
//
// MATH
//   s_ij = scale · q_i·k_j, P = softmax_j(s), O_i = Σ_j P_ij z_ij v_j.
//
// MEMORY LAYOUT
//   q, k, v, out: B×T×D row-major, head h in columns h·d … h·d+d−1.

struct Params {
  B: u32,
  T: u32,
  H: u32,
  d: u32,
  hasMask: u32,
  seed: u32,
  stream: u32,
  scale: f32,
  p: f32,
}

// The largest head dimension: the size of the per-thread row arrays.
const MAX_HEAD_DIM: u32 = 64u;
const LOWEST: f32 = -3.402823e38;

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read> o: array<f32>;
@group(0) @binding(8) var<storage, read> dOut: array<f32>;
@group(0) @binding(9) var<storage, read> lseIn: array<f32>;
@group(0) @binding(10) var<storage, read_write> dq: array<f32>;
@group(0) @binding(11) var<storage, read_write> rowDot: array<f32>;
@group(0) @binding(12) var<storage, read> rowDotIn: array<f32>;
@group(0) @binding(13) var<storage, read_write> dk: array<f32>;
@group(0) @binding(14) var<storage, read_write> dv: array<f32>;

// dropout.wgsl's hash, bit for bit.
fn lowbias32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

// The per-call part of dropout.wgsl's keep(i): hash(hash(seed) ^ stream).
fn dropoutBase() -> u32 {
  return lowbias32(lowbias32(params.seed) ^ params.stream);
}

// dropout.wgsl's keep(e) for element e of the B×H×T×T probabilities.
fn keptByDropout(base: u32, e: u32) -> bool {
  return params.p == 0.0 || f32(lowbias32(base ^ e) >> 8u) * (1.0 / 16777216.0) >= params.p;
}

// Whether key j of batch b is a real token.
fn keyKept(b: u32, j: u32) -> bool {
  return params.hasMask == 0u || mask[b * params.T + j] != 0.0;
}

// (b·H + h) of this workgroup: the grid's y and z fold the B·H heads.
fn headOf(wid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return wid.z * groups.y + wid.y;
}

@compute @workgroup_size(WG)
fn forward(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) groups: vec3<u32>) {
  let T = params.T;
  let d = params.d;
  let D = params.H * d;
  let bh = headOf(wid, groups);
  let i = wid.x * WG + lid.x;
  if (bh >= params.B * params.H || i >= T) { return; }
  let b = bh / params.H;
  let h = bh - b * params.H;
  let rowBase = (b * T + i) * D + h * d;
  let keyBase = b * T * D + h * d;

  var qi: array<f32, MAX_HEAD_DIM>;
  for (var c = 0u; c < d; c++) { qi[c] = params.scale * q[rowBase + c]; }
  var acc: array<f32, MAX_HEAD_DIM>;
  var m = LOWEST;
  var l = 0.0;
  let base = dropoutBase();
  let firstElement = (bh * T + i) * T;
  for (var j = 0u; j < T; j++) {
    if (!keyKept(b, j)) { continue; }
    let kj = keyBase + j * D;
    var s = 0.0;
    for (var c = 0u; c < d; c++) { s = fma(qi[c], k[kj + c], s); }
    if (s > m) {
      let f = exp(m - s);
      l *= f;
      for (var c = 0u; c < d; c++) { acc[c] *= f; }
      m = s;
    }
    let e = exp(s - m);
    l += e;
    let w = select(0.0, e, keptByDropout(base, firstElement + j));
    for (var c = 0u; c < d; c++) { acc[c] = fma(w, v[kj + c], acc[c]); }
  }
  let row = bh * T + i;
  if (l == 0.0) {
    for (var c = 0u; c < d; c++) { out[rowBase + c] = 0.0; }
    lse[row] = 0.0;
    return;
  }
  let inv = 1.0 / (l * (1.0 - params.p));
  for (var c = 0u; c < d; c++) { out[rowBase + c] = acc[c] * inv; }
  lse[row] = m + log(l);
}

@compute @workgroup_size(WG)
fn backwardQuery(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>) {
  let T = params.T;
  let d = params.d;
  let D = params.H * d;
  let bh = headOf(wid, groups);
  let i = wid.x * WG + lid.x;
  if (bh >= params.B * params.H || i >= T) { return; }
  let b = bh / params.H;
  let h = bh - b * params.H;
  let rowBase = (b * T + i) * D + h * d;
  let keyBase = b * T * D + h * d;
  let row = bh * T + i;

  var qi: array<f32, MAX_HEAD_DIM>;
  var gi: array<f32, MAX_HEAD_DIM>;
  var rd = 0.0;
  for (var c = 0u; c < d; c++) {
    qi[c] = params.scale * q[rowBase + c];
    gi[c] = dOut[rowBase + c];
    rd = fma(gi[c], o[rowBase + c], rd);
  }
  rowDot[row] = rd;
  let rowLse = lseIn[row];
  let keepScale = 1.0 / (1.0 - params.p);
  let base = dropoutBase();
  let firstElement = row * T;
  var acc: array<f32, MAX_HEAD_DIM>;
  for (var j = 0u; j < T; j++) {
    if (!keyKept(b, j)) { continue; }
    let kj = keyBase + j * D;
    var s = 0.0;
    var dpDropped = 0.0;
    for (var c = 0u; c < d; c++) {
      s = fma(qi[c], k[kj + c], s);
      dpDropped = fma(gi[c], v[kj + c], dpDropped);
    }
    let prob = exp(s - rowLse);
    let dp = select(0.0, dpDropped * keepScale, keptByDropout(base, firstElement + j));
    let ds = prob * (dp - rd);
    for (var c = 0u; c < d; c++) { acc[c] = fma(ds, k[kj + c], acc[c]); }
  }
  for (var c = 0u; c < d; c++) { dq[rowBase + c] = params.scale * acc[c]; }
}

@compute @workgroup_size(WG)
fn backwardKey(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
               @builtin(num_workgroups) groups: vec3<u32>) {
  let T = params.T;
  let d = params.d;
  let D = params.H * d;
  let bh = headOf(wid, groups);
  let j = wid.x * WG + lid.x;
  if (bh >= params.B * params.H || j >= T) { return; }
  let b = bh / params.H;
  let h = bh - b * params.H;
  let keyRow = (b * T + j) * D + h * d;
  let queryBase = b * T * D + h * d;

  var accK: array<f32, MAX_HEAD_DIM>;
  var accV: array<f32, MAX_HEAD_DIM>;
  if (keyKept(b, j)) {
    var kj: array<f32, MAX_HEAD_DIM>;
    var vj: array<f32, MAX_HEAD_DIM>;
    for (var c = 0u; c < d; c++) {
      kj[c] = params.scale * k[keyRow + c];
      vj[c] = v[keyRow + c];
    }
    let keepScale = 1.0 / (1.0 - params.p);
    let base = dropoutBase();
    for (var i = 0u; i < T; i++) {
      let qr = queryBase + i * D;
      var s = 0.0;
      var dpDropped = 0.0;
      for (var c = 0u; c < d; c++) {
        s = fma(q[qr + c], kj[c], s);
        dpDropped = fma(dOut[qr + c], vj[c], dpDropped);
      }
      let row = bh * T + i;
      let prob = exp(s - lseIn[row]);
      let keep = keptByDropout(base, row * T + j);
      let pDropped = select(0.0, prob * keepScale, keep);
      let ds = prob * (select(0.0, dpDropped * keepScale, keep) - rowDotIn[row]);
      for (var c = 0u; c < d; c++) {
        accV[c] = fma(pDropped, dOut[qr + c], accV[c]);
        accK[c] = fma(ds, q[qr + c], accK[c]);
      }
    }
  }
  for (var c = 0u; c < d; c++) {
    dk[keyRow + c] = params.scale * accK[c];
    dv[keyRow + c] = accV[c];
  }
}
