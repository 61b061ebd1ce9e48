/** float64 references of optimizer.wgsl. */

/** [min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖] over every gradient. */
export function clipFactorReference(grads: ArrayLike<number>[], maxNorm: number): [number, number] {
  let total = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) total += g[i]! * g[i]!;
  const norm = Math.sqrt(total);
  return [Math.min(1, maxNorm / (norm + 1e-6)), norm];
}

/** One AdamW update in place (PyTorch's torch.optim.AdamW formula). */
export function adamwReference(
  p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array,
  h: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number; clip: number },
): void {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < p.length; i++) {
    const gi = h.clip * g[i]!;
    p[i] = p[i]! * (1 - h.lr * h.weightDecay);
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * gi;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * gi * gi;
    p[i] = p[i]! - (h.lr / bc1) * m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(bc2) + h.eps);
  }
}

/** One SGD update in place. */
export function sgdReference(p: Float64Array, g: ArrayLike<number>, h: { lr: number; weightDecay: number; clip: number }): void {
  for (let i = 0; i < p.length; i++) p[i] = p[i]! - h.lr * (h.clip * g[i]! + h.weightDecay * p[i]!);
}
