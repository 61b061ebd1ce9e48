// lib/activations.wgsl — the activation functions, one copy for every kernel that applies them.
//
// Imported (a line `// import: lib/activations.wgsl`, appended by the kernel
// compiler) by elementwise.wgsl, whose entry points apply an activation as a
// pass of its own, and by matmul.wgsl and matmul_subgroups.wgsl, whose
// epilogue applies it to a product before the store; and the gradient
// through it, activationGrad, by elementwise.wgsl's backward passes and
// matmul_subgroups.wgsl's A_GRAD prologue. One text for both is what makes
// the fused kernels give the bits of the separate passes.
//
// MATH
//   activation(kind, v):
//     ACT_NONE       v
//     ACT_GELU       v · Φ(v),  Φ(v) = ½ (1 + erf(v / √2))           (the erf form)
//     ACT_GELU_TANH  ½ v (1 + tanh(√(2/π) (v + 0.044715 v³)))       (Hugging Face's gelu_new)
//     ACT_RELU       max(v, 0)
//     ACT_SWISH      v σ(v),  σ(v) = 1 / (1 + e^{−v})                (SiLU)
//     ACT_TANH       tanh(v)
//   activationGrad(kind, v, dy) = dy · act'(v), spelled out above it.
//   kind is a constant at every call site (a literal or an override), so the
//   compiler folds the selection away.
//   Φ is computed as ½·erfc(−v/√2) with erfc from a 10-term Chebyshev-like
//   fit (Numerical Recipes' erfcc, relative error < 1.2e-7 for z ≥ 0), and
//   tanh through e^{−2|v|} ≤ 1, which cannot overflow.

const ACT_NONE: u32 = 0u;
const ACT_GELU: u32 = 1u;
const ACT_GELU_TANH: u32 = 2u;
const ACT_RELU: u32 = 3u;
const ACT_SWISH: u32 = 4u;
const ACT_TANH: u32 = 5u;

const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;
const SQRT_2_OVER_PI: f32 = 0.79788456080286536;
const GELU_CUBIC: f32 = 0.044715;

// erfc(z) for z ≥ 0 (Numerical Recipes' erfcc, relative error < 1.2e-7).
fn erfcPositive(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + p);
}

// Φ(z), the standard normal CDF: ½·erfc(−z/√2), using erfc(−a) = 2 − erfc(a).
// Branch-free: one erfc of |a| per element, whichever side a is on (a branch
// per element costs both sides where SIMD lanes disagree).
fn phi(z: f32) -> f32 {
  let a = z * INV_SQRT2;
  let half = 0.5 * erfcPositive(abs(a));
  return select(1.0 - half, half, a <= 0.0);
}

// tanh through exp(−2|x|) ≤ 1: no overflow for large |x| (some drivers
// compute the builtin as a ratio of exponentials that overflows to NaN).
fn tanhStable(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  return sign(v) * (1.0 - e) / (1.0 + e);
}

// σ(v) = 1 / (1 + e^{−v}): for v ≪ 0 the exponential overflows to +∞ and σ
// becomes 0, its limit, so no branch is needed.
fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

fn activation(kind: u32, v: f32) -> f32 {
  if (kind == ACT_GELU) { return v * phi(v); }
  if (kind == ACT_GELU_TANH) { return 0.5 * v * (1.0 + tanhStable(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v))); }
  if (kind == ACT_RELU) { return max(v, 0.0); }
  if (kind == ACT_SWISH) { return v * sigmoid(v); }
  if (kind == ACT_TANH) { return tanhStable(v); }
  return v;
}

// dy · act'(v): the gradient through act at its input v, given the gradient
// dy of its output. elementwise.wgsl's *Backward passes and matmul_subgroups.wgsl's
// A_GRAD prologue both call it, so both give the same bits.
//   gelu:     dy · (Φ(v) + v·φ(v)),  φ(v) = e^{−v²/2} / √(2π)
//   geluTanh: dy · (½ (1 + t) + ½ v (1 − t²) √(2/π) (1 + 3·0.044715 v²)),  t = tanh(√(2/π) (v + 0.044715 v³))
//   relu:     dy if v > 0 else 0
//   swish:    dy · σ(v) (1 + v (1 − σ(v)))
//   tanh:     dy · (1 − tanh²(v))
fn activationGrad(kind: u32, v: f32, dy: f32) -> f32 {
  if (kind == ACT_GELU) { return dy * (phi(v) + v * INV_SQRT_2PI * exp(-0.5 * v * v)); }
  if (kind == ACT_GELU_TANH) {
    let t = tanhStable(SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v));
    return dy * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * v * v));
  }
  if (kind == ACT_RELU) { return select(0.0, dy, v > 0.0); }
  if (kind == ACT_SWISH) {
    let s = sigmoid(v);
    return dy * s * (1.0 + v * (1.0 - s));
  }
  if (kind == ACT_TANH) {
    let t = tanhStable(v);
    return dy * (1.0 - t * t);
  }
  return dy;
}
