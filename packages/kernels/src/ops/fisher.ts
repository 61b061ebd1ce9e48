/** Launchers of fisher.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

/** A run of `length` elements starting at `offset` of a flat buffer. */
export interface Segment {
  offset: number;
  length: number;
}

/**
 * Records fisher[offset + i] += scale · grad[i]² for i < n: one parameter
 * tensor's squared gradient into its place (`offset` elements, default 0) of
 * a flat Fisher buffer.
 */
export function fisherAccumulate(gpu: Gpu, args: { fisher: GpuBuffer; grad: GpuBuffer; n: number; scale: number; offset?: number }): void {
  const { n, scale } = args;
  const offset = args.offset ?? 0;
  if (!Number.isInteger(n) || n < 1) throw new KernelLaunchError('fisher.accumulate', `n must be a positive integer, got ${n}`);
  if (!Number.isInteger(offset) || offset < 0) throw new KernelLaunchError('fisher.accumulate', `offset must be a non-negative integer, got ${offset}`);
  gpu.kernel('fisher', 'accumulate', { WG: THREADS }).launch({
    bindings: { fisher: args.fisher, grad: args.grad },
    uniforms: { n, scale, offset },
    minBytes: { fisher: (offset + n) * 4, grad: n * 4 },
    workgroups: foldWorkgroups(Math.ceil(n / THREADS), gpu.maxWorkgroupsPerDimension),
  });
}

/** Packs segments as the (offset, length) u32 pairs the kernel reads. */
export function packSegments(segments: readonly Segment[]): Uint32Array {
  const packed = new Uint32Array(segments.length * 2);
  segments.forEach((s, i) => {
    if (!Number.isInteger(s.offset) || s.offset < 0 || !Number.isInteger(s.length) || s.length < 0) {
      throw new KernelLaunchError('fisher.segmentTraces', `segment ${i} (offset ${s.offset}, length ${s.length}) must hold non-negative integers`);
    }
    packed[2 * i] = s.offset;
    packed[2 * i + 1] = s.length;
  });
  return packed;
}

/**
 * Records traces[s] = Σ values[offset_s … offset_s + length_s − 1] for every
 * segment: per-block tr(F) when `values` is the Fisher diagonal.
 */
export function segmentTraces(gpu: Gpu, args: { values: GpuBuffer; traces: GpuBuffer; segments: readonly Segment[] }): void {
  const count = args.segments.length;
  if (count < 1) throw new KernelLaunchError('fisher.segmentTraces', 'no segments');
  // The furthest element any segment reads (empty segments read nothing).
  let end = 0;
  for (const s of args.segments) if (s.length > 0) end = Math.max(end, s.offset + s.length);
  const segments = gpu.upload(packSegments(args.segments), 'segments');
  try {
    gpu.kernel('fisher', 'segmentTraces', { WG: THREADS }).launch({
      bindings: { values: args.values, segments, traces: args.traces },
      uniforms: { segmentCount: count },
      minBytes: { values: end * 4, segments: count * 8, traces: count * 4 },
      workgroups: foldWorkgroups(count, gpu.maxWorkgroupsPerDimension),
    });
  } finally {
    // Safe before the submit: the pool reuses it only after this batch is sent.
    gpu.release(segments);
  }
}
