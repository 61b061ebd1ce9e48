/**
 * softmax over the last axis of scale·x, with an optional key-padding mask
 * (attention): y = softmax(scale·x) where mask = 1, 0 where mask = 0.
 *   dx = scale · y ⊙ (dy − Σ dy ⊙ y)
 * The mask is data, not a differentiable input.
 */
import { softmaxBackward, softmaxForward } from '@thaw/kernels';
import { softmaxBackwardReference, softmaxReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

/** Options of {@link softmax}. */
export interface SoftmaxOptions {
  /** Multiplies x before the softmax (1/√d in attention). Default 1. */
  scale?: number;
  /** [batches, C] of 1 (keep) and 0 (drop); row r of x belongs to batch r / rowsPerBatch. */
  mask?: Tensor;
  rowsPerBatch?: number;
}

export function softmax(x: Tensor, options: SoftmaxOptions = {}): Tensor {
  const graph = x.graph;
  const C = x.shape.at(-1)!;
  const rows = x.size / C;
  const scale = options.scale ?? 1;
  const y = graph.empty(x.shape, 'softmax');
  softmaxForward(graph.gpu, {
    x: x.buffer, y: y.buffer, rows, C, scale,
    ...(options.mask ? { mask: options.mask.buffer, rowsPerBatch: options.rowsPerBatch ?? rows } : {}),
  });
  return graph.record({
    op: 'softmax',
    inputs: [x],
    saved: [y],
    backward(dy) {
      const dx = graph.empty(x.shape, 'softmax.dx');
      softmaxBackward(graph.gpu, { y: y.buffer, dy: dy.buffer, dx: dx.buffer, rows, C, scale });
      return [dx];
    },
  }, y);
}

/** float64 twin of {@link softmax}. */
export function softmaxReferenceOp(rows: number, C: number, scale = 1, mask?: ArrayLike<number>, rowsPerBatch = rows): ReferenceOp {
  return {
    forward: ([x]) => softmaxReference(x!, rows, C, scale, mask, rowsPerBatch),
    backward: ([x], dy) => [softmaxBackwardReference(softmaxReference(x!, rows, C, scale, mask, rowsPerBatch), dy, rows, C, scale)],
  };
}
