/** float64 references of layernorm.wgsl. */

/** Forward: y, and the saved per-row mean and rstd. */
export function layerNormForwardReference(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, rows: number, D: number, eps = 1e-5) {
  const y = new Float64Array(rows * D);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[r * D + d]!;
    const mu = s / D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[r * D + d]! - mu) ** 2;
    const rs = 1 / Math.sqrt(v / D + eps);
    for (let d = 0; d < D; d++) y[r * D + d] = (x[r * D + d]! - mu) * rs * gamma[d]! + beta[d]!;
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y, mean, rstd };
}

/** Backward: dx, dgamma, dbeta from dy (statistics recomputed in float64). */
export function layerNormBackwardReference(x: ArrayLike<number>, gamma: ArrayLike<number>, dy: ArrayLike<number>, rows: number, D: number, eps = 1e-5) {
  const { mean, rstd } = layerNormForwardReference(x, gamma, new Float64Array(D), rows, D, eps);
  const dx = new Float64Array(rows * D);
  const dgamma = new Float64Array(D);
  const dbeta = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    let sg = 0;
    let sgx = 0;
    for (let d = 0; d < D; d++) {
      const i = r * D + d;
      const xhat = (x[i]! - mean[r]!) * rstd[r]!;
      const g = dy[i]! * gamma[d]!;
      sg += g;
      sgx += g * xhat;
      dgamma[d] = dgamma[d]! + dy[i]! * xhat;
      dbeta[d] = dbeta[d]! + dy[i]!;
    }
    for (let d = 0; d < D; d++) {
      const i = r * D + d;
      const xhat = (x[i]! - mean[r]!) * rstd[r]!;
      dx[i] = rstd[r]! * (dy[i]! * gamma[d]! - sg / D - xhat * (sgx / D));
    }
  }
  return { dx, dgamma, dbeta };
}
