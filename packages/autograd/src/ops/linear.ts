/**
 * linear: y = x·Wᵀ + b over the last axis (PyTorch / Hugging Face layout:
 * weight [out, in], bias [out]).
 *   dx = dy·W      dW = dyᵀ·x      db = Σ_rows dy
 * A frozen weight (requiresGrad false) costs no dW matmul.
 */
import { columnSums, matmul } from '@thaw/kernels';
import { columnSumsReference, matmulReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (weight.shape.length !== 2) throw new Error(`linear: weight ${weight.name} must be 2-D [out, in], got [${weight.shape}]`);
  if (x.shape.at(-1) !== inFeatures) throw new Error(`linear: input [${x.shape}] does not end in ${inFeatures} (weight ${weight.name} is [${weight.shape}])`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outFeatures)) throw new Error(`linear: bias ${bias.name} must be [${outFeatures}], got [${bias.shape}]`);
  const graph = x.graph;
  const gpu = graph.gpu;
  const rows = x.size / inFeatures;
  const y = graph.empty([...x.shape.slice(0, -1), outFeatures], 'linear');
  matmul(gpu, { a: x.buffer, b: weight.buffer, c: y.buffer, ...(bias ? { bias: bias.buffer } : {}), M: rows, N: outFeatures, K: inFeatures, transB: true });
  return graph.record({
    op: 'linear',
    inputs: bias ? [x, weight, bias] : [x, weight],
    // dx reads W, dW reads x: keep only what a trainable path needs.
    saved: [...(x.requiresGrad ? [weight] : []), ...(weight.requiresGrad ? [x] : [])],
    backward(dy) {
      let dx: Tensor | undefined;
      let dw: Tensor | undefined;
      let db: Tensor | undefined;
      if (x.requiresGrad) {
        dx = graph.empty(x.shape, 'linear.dx');
        matmul(gpu, { a: dy.buffer, b: weight.buffer, c: dx.buffer, M: rows, N: inFeatures, K: outFeatures });
      }
      if (weight.requiresGrad) {
        dw = graph.empty(weight.shape, 'linear.dW');
        matmul(gpu, { a: dy.buffer, b: x.buffer, c: dw.buffer, M: outFeatures, N: inFeatures, K: rows, transA: true });
      }
      if (bias?.requiresGrad) {
        db = graph.empty(bias.shape, 'linear.db');
        columnSums(gpu, { x: dy.buffer, out: db.buffer, rows, cols: outFeatures });
      }
      return [dx, dw, db];
    },
  }, y);
}

/** float64 twin of {@link linear} for an input of `rows` rows (inputs: x, W, b). */
export function linearReference(rows: number, inFeatures: number, outFeatures: number): ReferenceOp {
  return {
    forward: ([x, w, b]) => matmulReference({ a: x!, b: w!, ...(b ? { bias: b } : {}), M: rows, N: outFeatures, K: inFeatures, transB: true }),
    backward: ([x, w, b], dy) => [
      matmulReference({ a: dy, b: w!, M: rows, N: inFeatures, K: outFeatures }),
      matmulReference({ a: dy, b: x!, M: outFeatures, N: inFeatures, K: rows, transA: true }),
      b ? columnSumsReference(dy, rows, outFeatures) : undefined,
    ],
  };
}
