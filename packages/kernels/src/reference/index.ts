/** float64 CPU twins of every kernel, for tests and benchmarks. */
export { matmulReference, type MatmulReferenceArgs } from './matmul.js';
export {
  layerNormForwardReference, layerNormBackwardReference, fusedLayerNormForwardReference, fusedLayerNormBackwardReference,
  type FusedLayerNormReferenceArgs, type LayerNormDropoutReference,
} from './layernorm.js';
export { fisherAccumulateReference, segmentTracesReference } from './fisher.js';
export {
  erf, geluReference, geluDerivativeReference, geluTanhReference, geluTanhDerivativeReference, reluReference, reluDerivativeReference,
  scaleColumnsReference, swishReference, swishDerivativeReference, tanhReference, tanhDerivativeReference,
} from './elementwise.js';
export { columnSumsReference, columnDotsReference } from './reduce.js';
export { softmaxCrossEntropyReference } from './softmax-xent.js';
export { clipFactorReference, adamwReference, sgdReference, adamwSegmentsReference, sgdSegmentsReference, sumSquaresSegmentsReference, type SegmentReference } from './optimizer.js';
export { permuteReference, softmaxReference, softmaxBackwardReference, embeddingReference, embeddingSumReference, embeddingBackwardReference } from './layout.js';
export { attentionForwardReference, attentionBackwardReference, type AttentionReferenceArgs } from './attention.js';
export { relativeError } from './numeric.js';
export { maxPoolReference } from './pool.js';
export { monitorReference, type MonitorStep } from './monitor.js';
