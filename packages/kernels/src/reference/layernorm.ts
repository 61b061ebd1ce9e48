/** float64 references of layernorm.wgsl. */
import { dropoutKeepMask } from '../ops/dropout.js';

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

/** Dropout fused into the norm (see layernorm.wgsl): the place and the mask's randomness. */
export interface LayerNormDropoutReference {
  p: number;
  seed: number;
  stream: number;
  at: 'input' | 'output';
}

/** keep_i / (1 − p) for n elements: dropout.wgsl's mask with the kernel's fp32 factor. */
function dropScale(n: number, d: LayerNormDropoutReference): Float64Array {
  const keep = dropoutKeepMask(n, d.p, d.seed, d.stream);
  const factor = 1 / Math.fround(1 - Math.fround(d.p));
  return Float64Array.from(keep, (k) => (k ? factor : 0));
}

/** What the fused norm reads: x, and optionally a residual and a dropout. */
export interface FusedLayerNormReferenceArgs {
  x: ArrayLike<number>;
  residual?: ArrayLike<number>;
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  rows: number;
  D: number;
  eps?: number;
  dropout?: LayerNormDropoutReference;
}

/** Forward of the fused norm: y = drop_out(LN(drop_in(x) + residual)·γ + β), and s = drop_in(x) + residual. */
export function fusedLayerNormForwardReference(args: FusedLayerNormReferenceArgs) {
  const { x, residual, gamma, beta, rows, D, dropout } = args;
  const n = rows * D;
  const scale = dropout ? dropScale(n, dropout) : undefined;
  const sum = Float64Array.from({ length: n }, (_, i) => (dropout?.at === 'input' ? x[i]! * scale![i]! : x[i]!) + (residual ? residual[i]! : 0));
  const { y, mean, rstd } = layerNormForwardReference(sum, gamma, beta, rows, D, args.eps);
  if (dropout?.at === 'output') for (let i = 0; i < n; i++) y[i] = y[i]! * scale![i]!;
  return { y, sum, mean, rstd };
}

/**
 * Backward of the fused norm from dy: ds (the gradient of s, which is the
 * residual's), dInput (x's: ds through the input dropout, or ds itself),
 * dgamma and dbeta.
 */
export function fusedLayerNormBackwardReference(args: FusedLayerNormReferenceArgs, dy: ArrayLike<number>) {
  const { rows, D, dropout } = args;
  const n = rows * D;
  const scale = dropout ? dropScale(n, dropout) : undefined;
  const { sum } = fusedLayerNormForwardReference(args);
  const e = dropout?.at === 'output' ? Float64Array.from({ length: n }, (_, i) => dy[i]! * scale![i]!) : dy;
  const { dx: ds, dgamma, dbeta } = layerNormBackwardReference(sum, args.gamma, e, rows, D, args.eps);
  const dInput = dropout?.at === 'input' ? ds.map((v, i) => v * scale![i]!) : ds.slice();
  return { ds, dInput, dgamma, dbeta };
}
