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

/** One parameter's range of the arenas, its lr and (AdamW) update count, as the *Segments kernels read them. */
export interface SegmentReference {
  offset: number;
  n: number;
  lr: number;
  step?: number;
}

/** adamwReference on every segment of the arenas (in place; elements outside the segments untouched). */
export function adamwSegmentsReference(
  p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, segments: readonly SegmentReference[],
  h: { beta1: number; beta2: number; eps: number; weightDecay: number; clip: number },
): void {
  for (const s of segments) {
    const end = s.offset + s.n;
    adamwReference(p.subarray(s.offset, end), Array.from({ length: s.n }, (_, i) => g[s.offset + i]!), m.subarray(s.offset, end), v.subarray(s.offset, end), { ...h, lr: s.lr, step: s.step ?? 1 });
  }
}

/** sgdReference on every segment of the arenas (in place). */
export function sgdSegmentsReference(p: Float64Array, g: ArrayLike<number>, segments: readonly SegmentReference[], h: { weightDecay: number; clip: number }): void {
  for (const s of segments) {
    sgdReference(p.subarray(s.offset, s.offset + s.n), Array.from({ length: s.n }, (_, i) => g[s.offset + i]!), { ...h, lr: s.lr });
  }
}

/** Σ g_i² over each segment. */
export function sumSquaresSegmentsReference(g: ArrayLike<number>, segments: readonly { offset: number; n: number }[]): number[] {
  return segments.map((s) => {
    let total = 0;
    for (let i = s.offset; i < s.offset + s.n; i++) total += g[i]! * g[i]!;
    return total;
  });
}
