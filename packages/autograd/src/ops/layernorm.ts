/**
 * layerNorm over the last axis: y = (x − mean)·rstd·γ + β, saving mean and
 * rstd for the backward (dx, dγ, dβ; see layernorm.wgsl for the formulas).
 */
import { layerNormBackward, layerNormForward } from '@thaw/kernels';
import { layerNormBackwardReference, layerNormForwardReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  const D = x.shape.at(-1)!;
  for (const p of [gamma, beta]) {
    if (p.shape.length !== 1 || p.shape[0] !== D) throw new Error(`layerNorm: ${p.name || 'parameter'} must be [${D}], got [${p.shape}]`);
  }
  const graph = x.graph;
  const gpu = graph.gpu;
  const rows = x.size / D;
  const y = graph.empty(x.shape, 'layernorm');
  const mean = graph.empty([rows], 'layernorm.mean');
  const rstd = graph.empty([rows], 'layernorm.rstd');
  layerNormForward(gpu, { x: x.buffer, gamma: gamma.buffer, beta: beta.buffer, y: y.buffer, mean: mean.buffer, rstd: rstd.buffer, rows, D, eps });
  return graph.record({
    op: 'layerNorm',
    inputs: [x, gamma, beta],
    saved: [x, gamma, mean, rstd],
    backward(dy) {
      // Each pass runs only when its results are needed: dx when x leads to
      // something trainable, dγ and dβ (computed together) when either is trainable.
      const dx = x.requiresGrad ? graph.empty(x.shape, 'layernorm.dx') : undefined;
      const params = gamma.requiresGrad || beta.requiresGrad;
      const dgamma = params ? graph.empty(gamma.shape, 'layernorm.dgamma') : undefined;
      const dbeta = params ? graph.empty(beta.shape, 'layernorm.dbeta') : undefined;
      layerNormBackward(gpu, {
        x: x.buffer, gamma: gamma.buffer, mean: mean.buffer, rstd: rstd.buffer, dy: dy.buffer,
        ...(dx ? { dx: dx.buffer } : {}), ...(dgamma && dbeta ? { dgamma: dgamma.buffer, dbeta: dbeta.buffer } : {}), rows, D,
      });
      return [dx, gamma.requiresGrad ? dgamma : undefined, beta.requiresGrad ? dbeta : undefined];
    },
  }, y);
}

/** float64 twin of {@link layerNorm} (inputs: x, γ, β). */
export function layerNormReference(rows: number, D: number, eps = 1e-5): ReferenceOp {
  return {
    forward: ([x, gamma, beta]) => layerNormForwardReference(x!, gamma!, beta!, rows, D, eps).y,
    backward: ([x, gamma], dy) => {
      const { dx, dgamma, dbeta } = layerNormBackwardReference(x!, gamma!, dy, rows, D, eps);
      return [dx, dgamma, dbeta];
    },
  };
}
