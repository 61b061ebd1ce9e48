/** float64 reference of pool.wgsl. */
export function maxPoolReference(x: ArrayLike<number>, mask: ArrayLike<number>, B: number, T: number, D: number): { y: Float64Array; index: Int32Array } {
  const y = new Float64Array(B * D);
  const index = new Int32Array(B * D).fill(-1);
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < D; d++) {
      for (let t = 0; t < T; t++) {
        if (mask[b * T + t] === 0) continue;
        const v = x[(b * T + t) * D + d]!;
        if (index[b * D + d]! < 0 || v > y[b * D + d]!) {
          y[b * D + d] = v;
          index[b * D + d] = t;
        }
      }
    }
  }
  return { y, index };
}
