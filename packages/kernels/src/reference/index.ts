/** float64 CPU twins of every kernel, for tests and benchmarks. */
export { matmulReference, type MatmulReferenceArgs } from './matmul.js';
export { layerNormForwardReference, layerNormBackwardReference } from './layernorm.js';
export { fisherAccumulateReference, segmentTracesReference } from './fisher.js';
