/**
 * scaleColumns: y = x · s with s broadcast over the rows, the (IA)³ adapter's
 * learned rescaling of activations.
 *   x [..., C] (rows = product of the leading axes), s [C], y [..., C]
 *   y[r, c] = x[r, c]·s[c]      dx[r, c] = dy[r, c]·s[c]      ds[c] = Σ_r dy[r, c]·x[r, c]
 * ds is summed over rows in a fixed order (no atomics), so it is reproducible.
 */
import { columnDots, scaleColumns as scaleColumnsKernel } from '@thaw/kernels';
import { columnDotsReference, scaleColumnsReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

/**
 * Multiplies every column of `x` (its last axis) by the matching entry of the
 * vector `s`. Backward computes dx only when `x` requires a gradient and ds
 * only when `s` does, and keeps alive only the tensor each of them reads.
 *
 * @param x - activations of shape [..., C]
 * @param s - one factor per column, shape [C]
 * @returns a tensor of x's shape
 */
export function scaleColumns(x: Tensor, s: Tensor): Tensor {
  if (s.shape.length !== 1) throw new Error(`scaleColumns: scale ${s.name || '(unnamed)'} must be 1-D [C], got [${s.shape}]`);
  const cols = s.shape[0]!;
  if (x.shape.at(-1) !== cols) {
    throw new Error(`scaleColumns: input ${x.name || '(unnamed)'} [${x.shape}] does not end in ${cols} (scale ${s.name || '(unnamed)'} is [${s.shape}])`);
  }
  const graph = x.graph;
  const gpu = graph.gpu;
  const rows = x.size / cols;
  const y = graph.empty(x.shape, 'scaleColumns');
  scaleColumnsKernel(gpu, { x: x.buffer, s: s.buffer, out: y.buffer, rows, cols });
  return graph.record({
    op: 'scaleColumns',
    inputs: [x, s],
    // dx reads s, ds reads x: keep only what a trainable path needs.
    saved: [...(x.requiresGrad ? [s] : []), ...(s.requiresGrad ? [x] : [])],
    backward(dy) {
      let dx: Tensor | undefined;
      let ds: Tensor | undefined;
      if (x.requiresGrad) {
        dx = graph.empty(x.shape, 'scaleColumns.dx');
        scaleColumnsKernel(gpu, { x: dy.buffer, s: s.buffer, out: dx.buffer, rows, cols });
      }
      if (s.requiresGrad) {
        ds = graph.empty(s.shape, 'scaleColumns.ds');
        columnDots(gpu, { x: dy.buffer, y: x.buffer, out: ds.buffer, rows, cols });
      }
      return [dx, ds];
    },
  }, y);
}

/** float64 twin of {@link scaleColumns} for an input of `rows` rows and `cols` columns (inputs: x, s). */
export function scaleColumnsReferenceOp(rows: number, cols: number): ReferenceOp {
  return {
    forward: ([x, s]) => scaleColumnsReference(x!, s!, rows, cols),
    backward: ([x, s], dy) => [scaleColumnsReference(dy, s!, rows, cols), columnDotsReference(dy, x!, rows, cols)],
  };
}
