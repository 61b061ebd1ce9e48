/**
 * @thaw/kernels — WGSL kernels, the kernel compiler and the WebGPU runtime.
 *
 * Typical use:
 *   const gpu = await Gpu.create();
 *   const c = gpu.alloc(M * N * 4);
 *   matmul(gpu, { a, b, c, M, N, K });
 *   const values = await gpu.read(c);
 *   await gpu.destroy();
 */
export { Gpu, bindingCapOf, type GpuOptions, type GpuStats } from './runtime/gpu.js';
export { GpuBuffer, BufferPool, sizeClass, type PoolStats } from './runtime/buffer-pool.js';
export { rowChunks, alignedRange, type RowChunk } from './runtime/chunks.js';
export { Kernel, foldWorkgroups, specializationKey, type LaunchArgs, type Workgroups } from './runtime/kernel.js';
export { packUniforms, type UniformValue } from './runtime/uniforms.js';
export { setPolling, pollingMode, pollingFromEnv, pollCounts, SPIN_MS, type PollingMode } from './runtime/polling.js';
export { gpuInstance, listAdapters, requestAdapter, resolveAdapterOptions, summarizeAdapter, type AdapterOptions, type AdapterSummary } from './runtime/adapter.js';
export { NoAdapterError, KernelLaunchError, GpuError, DeviceLostError, SettingError } from './runtime/errors.js';
export { loadManifest } from './runtime/manifest-loader.js';
export { mulberry32 } from './runtime/random.js';
export { KernelCompileError } from './compiler/errors.js';
export { reflectKernelFile, headerComment } from './compiler/reflect-kernel.js';
export { compileKernels } from './compiler/compile.js';
export type * from './compiler/manifest.js';
export { matmul, matmulVariant, type MatmulArgs, type MatmulShape, type MatmulVariant } from './ops/matmul.js';
export { layerNormForward, layerNormBackward, type LayerNormForwardArgs, type LayerNormBackwardArgs, type LayerNormDropout } from './ops/layernorm.js';
export { fisherAccumulate, segmentTraces, packSegments, type Segment } from './ops/fisher.js';
export type { SegmentPiece } from './ops/segment-chunks.js';
export { axpby, activation, activationBackward, scaleBy, scaleColumns, fillWith, type Activation } from './ops/elementwise.js';
export { columnSums, columnDots } from './ops/reduce.js';
export { softmaxCrossEntropy } from './ops/softmax-xent.js';
export { adamwStep, sgdStep, sumSquares, clipFactor, adamwSegments, sgdSegments, sumSquaresSegments, type AdamWStepArgs, type AdamWSegmentsArgs, type ClipSource, type OptimizerSegment, type SegmentsArgs } from './ops/optimizer.js';
export { permute, copyColumns, stridesOf, permutedShape } from './ops/layout.js';
export { softmaxForward, softmaxBackward } from './ops/softmax.js';
export { attentionForward, attentionBackward, attentionUnsupported, attentionPreferred, ATTENTION_CPU_FAST_HEAD_DIM, ATTENTION_MAX_HEAD_DIM, type AttentionShape } from './ops/attention.js';
export { embeddingGather, embeddingScatterAdd, embeddingIndex, type ExtraLookup } from './ops/embedding.js';
export { dropout, dropoutKeepMask } from './ops/dropout.js';
export { maxPoolForward, maxPoolBackward } from './ops/pool.js';
export {
  monitorRecord, monitorInitialState, readMonitorState, decodeMonitorState, MONITOR_HEADER_WORDS, MONITOR_NONE, type MonitorBadStep, type MonitorReadout,
} from './ops/monitor.js';
