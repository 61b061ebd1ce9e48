/** Launchers of fisher.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';
import { alignedRange, rowChunks } from '../runtime/chunks.js';
import { forEachSegmentChunk, segmentChunks, type SegmentPiece } from './segment-chunks.js';

const THREADS = 256;

/** A run of `length` elements starting at `offset` of a flat buffer. */
export interface Segment {
  offset: number;
  length: number;
}

/**
 * Records fisher[offset + i] += scale · grad[i]² for i < n: one parameter
 * tensor's squared gradient into its place (`offset` elements, default 0) of
 * a flat Fisher buffer. Where the Fisher buffer or the gradient is larger
 * than one binding, it runs once per chunk of the gradient, binding that
 * chunk and the range of the Fisher buffer it adds into (from the aligned
 * byte at or before it); each element gets the same bits either way.
 */
export function fisherAccumulate(gpu: Gpu, args: { fisher: GpuBuffer; grad: GpuBuffer; n: number; scale: number; offset?: number }): void {
  const { n, scale } = args;
  const offset = args.offset ?? 0;
  if (!Number.isInteger(n) || n < 1) throw new KernelLaunchError('fisher.accumulate', `n must be a positive integer, got ${n}`);
  if (!Number.isInteger(offset) || offset < 0) throw new KernelLaunchError('fisher.accumulate', `offset must be a non-negative integer, got ${offset}`);
  const launch = (fisher: GpuBuffer, grad: GpuBuffer, n: number, offset: number) => gpu.kernel('fisher', 'accumulate', { WG: THREADS }).launch({
    bindings: { fisher, grad },
    uniforms: { n, scale, offset },
    minBytes: { fisher: (offset + n) * 4, grad: n * 4 },
    workgroups: foldWorkgroups(Math.ceil(n / THREADS), gpu.maxWorkgroupsPerDimension),
  });
  const limit = gpu.maxStorageBindingBytes;
  if (args.fisher.bindSize <= limit && args.grad.bindSize <= limit) return launch(args.fisher, args.grad, n, offset);
  // The Fisher range of a chunk starts up to align − 4 bytes before it: chunks leave that room.
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  for (const chunk of rowChunks(n, 4, limit - align, align)) {
    const range = alignedRange(offset + chunk.first, chunk.count, align);
    gpu.withViews({
      fisher: { buffer: args.fisher, offset: range.offset, bytes: range.bytes },
      grad: { buffer: args.grad, offset: chunk.byteOffset, bytes: chunk.bytes },
    }, (v) => launch(v.fisher, v.grad, chunk.count, range.skip));
  }
}

/**
 * Packs one launch's pieces of `segments` as the six u32 (offset, length,
 * skip, bank, last, trace) the kernel reads; without `pieces`, every segment
 * whole (offset, length, 0, 0, 1, its index).
 */
export function packSegments(segments: readonly Segment[], pieces?: readonly SegmentPiece[]): Uint32Array {
  segments.forEach((s, i) => {
    if (!Number.isInteger(s.offset) || s.offset < 0 || !Number.isInteger(s.length) || s.length < 0) {
      throw new KernelLaunchError('fisher.segmentTraces', `segment ${i} (offset ${s.offset}, length ${s.length}) must hold non-negative integers`);
    }
  });
  const list = pieces ?? segments.map((s, segment) => ({ segment, offset: s.offset, n: s.length, skip: 0, bank: 0, last: true }));
  const packed = new Uint32Array(list.length * 6);
  list.forEach((p, i) => packed.set([p.offset, p.n, p.skip, p.bank, p.last ? 1 : 0, p.segment], 6 * i));
  return packed;
}

/**
 * Records traces[s] = Σ values[offset_s … offset_s + length_s − 1] for every
 * segment: per-block tr(F) when `values` is the Fisher diagonal. One launch,
 * or, where `values` is larger than one binding, one per chunk of it, the
 * pieces of a segment continuing each other's sums (same bits).
 */
export function segmentTraces(gpu: Gpu, args: { values: GpuBuffer; traces: GpuBuffer; segments: readonly Segment[] }): void {
  const count = args.segments.length;
  if (count < 1) throw new KernelLaunchError('fisher.segmentTraces', 'no segments');
  packSegments(args.segments); // validates
  const plan = segmentChunks(gpu, args.segments.map((s) => ({ offset: s.offset, n: s.length })), [args.values]);
  const lanesBytes = 4 * THREADS * Math.max(1, plan.banks);
  const lanes = gpu.alloc(lanesBytes, 'fisher lanes');
  try {
    forEachSegmentChunk(gpu, plan, { values: args.values }, ({ values }, pieces) => {
      // The furthest element any piece reads (empty pieces read nothing).
      let end = 0;
      for (const p of pieces) if (p.n > 0) end = Math.max(end, p.offset + p.n);
      const table = packSegments(args.segments, pieces);
      const segments = gpu.upload(table, 'segments');
      try {
        gpu.kernel('fisher', 'segmentTraces', { WG: THREADS }).launch({
          bindings: { values, segments, traces: args.traces, lanes },
          uniforms: { segmentCount: pieces.length },
          minBytes: { values: end * 4, segments: table.byteLength, traces: count * 4, lanes: lanesBytes },
          workgroups: foldWorkgroups(pieces.length, gpu.maxWorkgroupsPerDimension),
        });
      } finally {
        // Safe before the submit: the pool reuses it only after this batch is sent.
        gpu.release(segments);
      }
    });
  } finally {
    gpu.release(lanes);
  }
}
