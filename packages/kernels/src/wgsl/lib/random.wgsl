// lib/random.wgsl — the counter-based hash behind every dropout mask.
//
// Imported by dropout.wgsl, layernorm.wgsl and attention.wgsl (a kernel file
// names it in a line `// import: lib/random.wgsl`; the kernel compiler
// appends this text to that file before validating it). One copy of the
// hash is what lets a fused kernel drop exactly the elements the separate
// dropout pass would: the same (seed, stream, element index) gives the same
// bits in every kernel.
//
// MATH
//   lowbias32 is a 32-bit integer mixer (xor-shift / multiply rounds with
//   constants chosen for low bias): a bijection of u32 whose outputs look
//   independent for consecutive inputs.
//   key(seed, stream)   = h(h(seed) ⊕ stream)         once per launch
//   u(key, i)           = (h(key ⊕ i) >> 8) / 2²⁴      uniform on [0, 1) in steps of 2⁻²⁴
//   keep(key, p, i)     = u(key, i) ≥ p                 probability 1 − p
//   drop(key, p, i, v)  = keep ? v / (1 − p) : 0        (a division, as the
//                         dropout pass writes it: v·(1/(1 − p)) rounds differently)
//   Element i is the flat index of the tensor the mask belongs to, so a
//   mask does not depend on how the work is split among threads.

fn lowbias32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

// The per-launch part of the mask: hash(hash(seed) ^ stream).
fn dropoutKey(seed: u32, stream: u32) -> u32 {
  return lowbias32(lowbias32(seed) ^ stream);
}

fn keepWith(key: u32, p: f32, i: u32) -> bool {
  let h = lowbias32(key ^ i);
  return f32(h >> 8u) * (1.0 / 16777216.0) >= p;
}

fn dropWith(key: u32, p: f32, i: u32, v: f32) -> f32 {
  return select(0.0, v / (1.0 - p), keepWith(key, p, i));
}
