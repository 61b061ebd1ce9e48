/**
 * linear: y = x·Wᵀ + b over the last axis (PyTorch / Hugging Face layout:
 * weight [out, in], bias [out]).
 *   dx = dy·W      dW = dyᵀ·x      db = Σ_rows dy
 * A frozen weight (requiresGrad false) costs no dW matmul. When x already
 * has a gradient from other consumers, dx's matmul adds it (see TapeNode.accumulates).
 * db is the row sums of dW's left operand dyᵀ, so when both W and b train,
 * dW's matmul writes it too (its `rowSums` epilogue: a few adds per step of
 * k over the dy it already loads) instead of a columnSums dispatch that
 * reads dy again; both add the rows of dy one by one from 0, so db has the
 * same bits either way. A trainable bias on a frozen weight has no dW
 * matmul to ride on and keeps columnSums.
 *
 * With `activation`, y = act(z), z = x·Wᵀ + b, computed in the matmul's
 * epilogue (one kernel: no pass over z to apply act, and no launch for it).
 * The kernel then also writes z, which the backward needs:
 *   dz = dy·act'(z)   then dx, dW, db from dz.
 * dz is never written: the dx and dW matmuls take dy and z and apply act'
 * to each element of dy as they load it (matmul's `aGrad`), the bits of the
 * elementwise pass they replace. Only a trainable bias on a frozen weight,
 * whose columnSums has no such prologue, has the pass write dz.
 */
import { activationBackward, columnSums, matmul, type Activation } from '@thaw/kernels';
import {
  columnSumsReference, geluDerivativeReference, geluTanhDerivativeReference, matmulReference, reluDerivativeReference, swishDerivativeReference, tanhDerivativeReference,
} from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

export type { Activation };

export interface LinearOptions {
  /** Applied to x·Wᵀ + b in the same kernel (`gelu` the erf form, `geluTanh` Hugging Face's gelu_new, `swish` SiLU). */
  activation?: Activation;
}

export function linear(x: Tensor, weight: Tensor, bias?: Tensor, options?: LinearOptions): Tensor {
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  if (weight.shape.length !== 2) throw new Error(`linear: weight ${weight.name} must be 2-D [out, in], got [${weight.shape}]`);
  if (x.shape.at(-1) !== inFeatures) throw new Error(`linear: input [${x.shape}] does not end in ${inFeatures} (weight ${weight.name} is [${weight.shape}])`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outFeatures)) throw new Error(`linear: bias ${bias.name} must be [${outFeatures}], got [${bias.shape}]`);
  const graph = x.graph;
  const gpu = graph.gpu;
  const rows = x.size / inFeatures;
  const activation = options?.activation;
  const shape = [...x.shape.slice(0, -1), outFeatures];
  const op = activation ? `linear.${activation}` : 'linear';
  const y = graph.empty(shape, op);
  // z is kept for act' only when a backward may follow.
  const recording = graph.gradEnabled && [x, weight, ...(bias ? [bias] : [])].some((t) => t.requiresGrad);
  const pre = activation && recording ? graph.empty(shape, `${op}.z`) : undefined;
  matmul(gpu, {
    a: x.buffer, b: weight.buffer, c: y.buffer, ...(bias ? { bias: bias.buffer } : {}), M: rows, N: outFeatures, K: inFeatures, transB: true,
    ...(activation ? { activation } : {}), ...(pre ? { pre: pre.buffer } : {}),
  });
  return graph.record({
    op,
    inputs: bias ? [x, weight, bias] : [x, weight],
    // dx reads W, dW reads x, act' reads z: keep only what a trainable path needs.
    saved: [...(x.requiresGrad ? [weight] : []), ...(weight.requiresGrad ? [x] : []), ...(pre ? [pre] : [])],
    // x's gradient so far (x feeding several ops: a residual, the Q, K and V
    // projections) is added in dx's matmul epilogue, not in a pass of its own.
    accumulates: [true, false, false],
    backward(dy, accumulated) {
      // The products' A operand: dy, read as dz = dy·act'(z) when there is an activation.
      const aGrad = activation ? { aGrad: { activation, z: pre!.buffer } } : {};
      let dx: Tensor | undefined;
      let dw: Tensor | undefined;
      let db: Tensor | undefined;
      if (x.requiresGrad) {
        dx = graph.empty(x.shape, 'linear.dx');
        const sofar = accumulated?.[0];
        matmul(gpu, { a: dy.buffer, b: weight.buffer, c: dx.buffer, M: rows, N: inFeatures, K: outFeatures, ...aGrad, ...(sofar ? { addend: sofar.buffer } : {}) });
      }
      if (bias?.requiresGrad) db = graph.empty(bias.shape, 'linear.db');
      if (weight.requiresGrad) {
        dw = graph.empty(weight.shape, 'linear.dW');
        // db = the row sums of dzᵀ, in the same kernel.
        matmul(gpu, { a: dy.buffer, b: x.buffer, c: dw.buffer, M: outFeatures, N: inFeatures, K: rows, transA: true, ...aGrad, ...(db ? { rowSums: db.buffer } : {}) });
      } else if (db) {
        let dz = dy;
        if (activation) {
          dz = graph.empty(shape, `${op}.dz`);
          activationBackward(gpu, activation, { x: pre!.buffer, dy: dy.buffer, out: dz.buffer, n: y.size });
        }
        columnSums(gpu, { x: dz.buffer, out: db.buffer, rows, cols: outFeatures });
      }
      return [dx, dw, db];
    },
  }, y);
}

const DERIVATIVES: Record<Activation, (z: number) => number> = {
  gelu: geluDerivativeReference, geluTanh: geluTanhDerivativeReference, relu: reluDerivativeReference, swish: swishDerivativeReference, tanh: tanhDerivativeReference,
};

/** float64 twin of {@link linear} for an input of `rows` rows (inputs: x, W, b), with the same activation. */
export function linearReference(rows: number, inFeatures: number, outFeatures: number, activation?: Activation): ReferenceOp {
  return {
    forward: ([x, w, b]) => matmulReference({ a: x!, b: w!, ...(b ? { bias: b } : {}), M: rows, N: outFeatures, K: inFeatures, transB: true, ...(activation ? { activation } : {}) }),
    backward: ([x, w, b], dy) => {
      let dz = dy;
      if (activation) {
        const z = matmulReference({ a: x!, b: w!, ...(b ? { bias: b } : {}), M: rows, N: outFeatures, K: inFeatures, transB: true });
        dz = z.map((v, i) => dy[i]! * DERIVATIVES[activation](v));
      }
      return [
        matmulReference({ a: dz, b: w!, M: rows, N: inFeatures, K: outFeatures }),
        matmulReference({ a: dz, b: x!, M: outFeatures, N: inFeatures, K: rows, transA: true }),
        b ? columnSumsReference(dz, rows, outFeatures) : undefined,
      ];
    },
  };
}
