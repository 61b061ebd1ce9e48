// dropout.wgsl — inverted dropout driven by a counter-based random number generator.
//
// MATH
//   keep_i = u_i ≥ p,   u_i = hash(seed, stream, i) / 2³²  ∈ [0, 1)
//   forward:   y_i  = keep_i ? x_i / (1 − p) : 0
//   backward:  dx_i = keep_i ? dy_i / (1 − p) : 0
//   The mask is a pure function of (seed, stream, i): nothing is stored
//   between forward and backward, and a run is reproducible from its seed.
//   The host picks a fresh stream per call (e.g. from the step and the call
//   site). hash is a few rounds of the `lowbias32` integer mixer (Wellons),
//   in lib/random.wgsl, which the fused kernels that drop share; the
//   float64 reference in TypeScript computes the same bits.
//
// MEMORY LAYOUT
//   Flat fp32 arrays of n elements.
//
// THREAD → DATA MAPPING
//   One thread per element, grid folded into 2D past the per-dimension limit.
//
// WHAT BOUNDS IT
//   Memory (8 bytes per element); the hash is a handful of integer ops.

struct Params {
  n: u32,
  seed: u32,
  stream: u32,
  p: f32,
}

override WG: u32 = 256u;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// lowbias32, dropoutKey, keepWith, dropWith:
// import: lib/random.wgsl

// forward and backward are the same map: x (or dy) masked and rescaled.
@compute @workgroup_size(WG)
fn apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.y * groups.x * WG + gid.x;
  if (i >= params.n) { return; }
  out[i] = dropWith(dropoutKey(params.seed, params.stream), params.p, i, x[i]);
}
