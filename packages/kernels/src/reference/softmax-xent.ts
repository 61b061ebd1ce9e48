/** float64 reference of softmax_xent.wgsl. */
export function softmaxCrossEntropyReference(logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, C: number, scale: number) {
  const losses = new Float64Array(rows);
  const dlogits = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const label = labels[r]!;
    if (label < 0) continue;
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[r * C + c]!);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(logits[r * C + c]! - m);
    losses[r] = Math.log(s) - (logits[r * C + label]! - m);
    for (let c = 0; c < C; c++) dlogits[r * C + c] = scale * (Math.exp(logits[r * C + c]! - m) / s - (c === label ? 1 : 0));
  }
  return { losses, dlogits };
}
