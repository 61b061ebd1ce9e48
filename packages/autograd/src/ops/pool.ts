/**
 * Pooling over the tokens of each sequence, padding excluded:
 *   maxPool:  y[b] = max over tokens (elementwise over d); the gradient goes to the arg-max token
 *   meanPool: y[b] = Σ_t mask[b,t]·x[b,t] / Σ_t mask[b,t]   (a batched product with the mask
 *             weights, so its backward is bmm's)
 * The mask is data ([B, T] of 1 and 0), not a differentiable input.
 */
import { maxPoolBackward, maxPoolForward } from '@thaw/kernels';
import { maxPoolReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';
import { bmm } from './bmm.js';
import { reshape } from './shape.js';

export function maxPool(x: Tensor, mask: Tensor): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  if (x.shape.length !== 3 || mask.size !== B * T) throw new Error(`maxPool: x [${x.shape}] and mask [${mask.shape}] are not [B, T, D] and [B, T]`);
  const graph = x.graph;
  const y = graph.empty([B, D], 'maxPool');
  const index = graph.empty([B, D], 'maxPool.index');
  maxPoolForward(graph.gpu, { x: x.buffer, mask: mask.buffer, y: y.buffer, index: index.buffer, B, T, D });
  return graph.record({
    op: 'maxPool',
    inputs: [x],
    saved: [index],
    backward(dy) {
      const dx = graph.empty(x.shape, 'maxPool.dx');
      maxPoolBackward(graph.gpu, { dy: dy.buffer, index: index.buffer, dx: dx.buffer, B, T, D });
      return [dx];
    },
  }, y);
}

/** Mean over the unmasked tokens; `mask` is [B, T] as host data. */
export function meanPool(x: Tensor, mask: Float32Array): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  if (mask.length !== B * T) throw new Error(`meanPool: mask of ${mask.length} values for [${x.shape}]`);
  const weights = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const count = mask.subarray(b * T, (b + 1) * T).reduce((s, m) => s + (m ? 1 : 0), 0);
    for (let t = 0; t < T; t++) weights[b * T + t] = count && mask[b * T + t] ? 1 / count : 0;
  }
  const w = x.graph.tensor(weights, [B, 1, T], 'meanPool.weights');
  return reshape(bmm(w, x), [B, D]);
}

/** float64 twin of {@link maxPool} (input x; the mask is fixed). */
export function maxPoolReferenceOp(mask: ArrayLike<number>, B: number, T: number, D: number): ReferenceOp {
  return {
    forward: ([x]) => maxPoolReference(x!, mask, B, T, D).y,
    backward: ([x], dy) => {
      const { index } = maxPoolReference(x!, mask, B, T, D);
      const dx = new Float64Array(B * T * D);
      for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) if (index[b * D + d]! >= 0) dx[(b * T + index[b * D + d]!) * D + d] = dy[b * D + d]!;
      return [dx, undefined];
    },
  };
}
