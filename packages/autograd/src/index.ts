/**
 * @thaw/autograd — reverse-mode autograd on GPU buffers.
 *
 *   const graph = new Graph(gpu);
 *   const w = graph.parameter(data, [out, inp], 'w');
 *   graph.scope(() => {
 *     const loss = crossEntropy(linear(x, w), labels);
 *     graph.backward(loss);          // w.grad now holds dL/dw
 *   });
 */
export { Graph, type GraphOptions, type TapeNode } from './graph.js';
export { Tensor, sizeOf } from './tensor.js';
export type { ReferenceOp } from './reference.js';
export { gradcheck, type GradcheckCase, type GradcheckReport } from './gradcheck.js';
export { linear, linearReference, type LinearOptions, type Activation } from './ops/linear.js';
export { add, scale, gelu, geluTanh, relu, swish, tanh, addReference, scaleReference, geluReferenceOp, geluTanhReferenceOp, reluReferenceOp, swishReferenceOp, tanhReferenceOp } from './ops/pointwise.js';
export { layerNorm, layerNormReference, residualLayerNorm, residualLayerNormReference, type NormDropoutOptions } from './ops/layernorm.js';
export { scaleColumns, scaleColumnsReferenceOp } from './ops/scale-columns.js';
export { sum, mean, crossEntropy, reduceReference, crossEntropyReference, type CrossEntropyOptions } from './ops/loss.js';
export { reshape, permute, splitHeads, mergeHeads, concat, sliceColumns, permuteReferenceOp, concatReference, sliceColumnsReference } from './ops/shape.js';
export { bmm, bmmReference } from './ops/bmm.js';
export { softmax, softmaxReferenceOp, type SoftmaxOptions } from './ops/softmax.js';
export { embedding, embeddingReferenceOp, embeddingSum, embeddingSumReferenceOp, type EmbeddingLookup } from './ops/embedding.js';
export { dropout, dropoutReference, type DropoutRandomness } from './ops/dropout.js';
export {
  attention, attentionReferenceOp, multiHeadAttention, multiHeadAttentionReference, type AttentionWeights, type AttentionOptions, type FusedAttentionOptions, type Projection,
} from './ops/attention.js';
export { AdamW, SGD, type OptimizerOptions, type AdamWOptions, type OptimizerState } from './optim/optimizer.js';
export { constantLr, linearLr, type LrSchedule } from './optim/schedule.js';
export { maxPool, meanPool, maxPoolReferenceOp } from './ops/pool.js';
