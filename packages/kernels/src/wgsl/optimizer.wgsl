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
//
// MEMORY LAYOUT
//   param, grad, m, v: flat fp32 of one parameter (n elements).
//   partials: one fp32 per parameter taking part in clipping, in a fixed
//   order; clip: [c, ‖g‖] (two fp32), read by the update kernels, so the clip
//   factor never travels to the CPU.
//
// THREAD → DATA MAPPING
//   adamw, sgd: one thread per element (grid folded into 2D past the
//     per-dimension limit).
//   sumSquares: one workgroup; thread t adds g_t², g_{t+WG}², … in order, then
//     a fixed tree; the total lands in partials[slot].
//   clipFactor: one thread adds partials[0 … count) in order.
//   Every sum has a fixed order: the same gradients give the same bits.
//
// WHAT BOUNDS IT
//   Memory: AdamW moves 20 bytes per element (read p, g, m, v; write p, m, v:
//   7 words), SGD 12. sumSquares runs one workgroup per parameter: fine for
//   adapter-sized parameters, slow for a single huge one.

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

struct ClipParams {
  count: u32,
  maxNorm: f32,
}

override WG: u32 = 256u;

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
@group(0) @binding(10) var<storage, read_write> clipOut: array<f32>;
@group(0) @binding(11) var<uniform> clipParams: ClipParams;

var<workgroup> tree: array<f32, WG>;

@compute @workgroup_size(WG)
fn adamwStep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.y * groups.x * WG + gid.x;
  if (i >= adamw.n) { return; }
  let g = clip[0] * grad[i];
  let p = param[i] * (1.0 - adamw.lr * adamw.weightDecay);
  let mi = adamw.beta1 * m[i] + adamw.oneMinusBeta1 * g;
  let vi = adamw.beta2 * v[i] + adamw.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / sqrt(adamw.biasCorrection2) + adamw.eps;
  param[i] = p - (adamw.lr / adamw.biasCorrection1) * mi / denom;
}

@compute @workgroup_size(WG)
fn sgdStep(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.y * groups.x * WG + gid.x;
  if (i >= sgd.n) { return; }
  param[i] = param[i] - sgd.lr * (clip[0] * grad[i] + sgd.weightDecay * param[i]);
}

@compute @workgroup_size(WG)
fn sumSquares(@builtin(local_invocation_id) lid: vec3<u32>) {
  let t = lid.x;
  var s = 0.0;
  for (var i = t; i < sum.n; i += WG) { s += grad[i] * grad[i]; }
  tree[t] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (t < stride) { tree[t] += tree[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u) { partials[sum.slot] = tree[0]; }
}

@compute @workgroup_size(1)
fn clipFactor() {
  var total = 0.0;
  for (var i = 0u; i < clipParams.count; i++) { total += partialsIn[i]; }
  let norm = sqrt(total);
  clipOut[0] = min(1.0, clipParams.maxNorm / (norm + 1e-6));
  clipOut[1] = norm;
}
