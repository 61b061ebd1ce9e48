/** Launchers of layout.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let k = shape.length - 2; k >= 0; k--) strides[k] = strides[k + 1]! * shape[k + 1]!;
  return strides;
}

/** The shape of `shape` permuted by `perm` (output axis k is input axis perm[k]). */
export function permutedShape(shape: readonly number[], perm: readonly number[]): number[] {
  return perm.map((p) => shape[p]!);
}

/**
 * out = in with axes permuted: out axis k is in axis perm[k]. Up to 4 axes;
 * `perm` must be a permutation of 0 … shape.length − 1.
 */
export function permute(gpu: Gpu, args: { src: GpuBuffer; dst: GpuBuffer; shape: readonly number[]; perm: readonly number[] }): void {
  const { shape, perm } = args;
  const name = 'layout.permute';
  if (shape.length < 1 || shape.length > 4) throw new KernelLaunchError(name, `permute handles 1 to 4 axes, got [${shape}]`);
  if (perm.length !== shape.length || [...perm].sort().some((p, i) => p !== i)) {
    throw new KernelLaunchError(name, `[${perm}] is not a permutation of the ${shape.length} axes of [${shape}]`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  const inStrides = stridesOf(shape);
  const pad = 4 - shape.length;
  const outShape = [...new Array<number>(pad).fill(1), ...permutedShape(shape, perm)];
  const strides = [...new Array<number>(pad).fill(0), ...perm.map((p) => inStrides[p]!)];
  gpu.kernel('layout', 'permute', { WG: THREADS }).launch({
    bindings: { src: args.src, dst: args.dst },
    uniforms: { outShape, inStrides: strides, n },
    minBytes: { src: 4 * n, dst: 4 * n },
    workgroups: foldWorkgroups(Math.max(1, Math.ceil(n / THREADS)), gpu.maxWorkgroupsPerDimension),
  });
}

/** dst[r, dstOffset + j] = src[r, srcOffset + j] for r < rows, j < width. */
export function copyColumns(gpu: Gpu, args: {
  src: GpuBuffer; dst: GpuBuffer; rows: number; width: number; inCols: number; outCols: number; srcOffset: number; dstOffset: number;
}): void {
  const { rows, width, inCols, outCols, srcOffset, dstOffset } = args;
  const name = 'layout.copyColumns';
  if (srcOffset + width > inCols || dstOffset + width > outCols) {
    throw new KernelLaunchError(name, `columns ${srcOffset}…${srcOffset + width} of ${inCols} → ${dstOffset}…${dstOffset + width} of ${outCols} are out of range`);
  }
  gpu.kernel('layout', 'copyColumns', { WG: THREADS }).launch({
    bindings: { src: args.src, dst: args.dst },
    uniforms: { rows, width, inCols, outCols, srcOffset, dstOffset },
    minBytes: { src: 4 * rows * inCols, dst: 4 * rows * outCols },
    workgroups: foldWorkgroups(Math.max(1, Math.ceil((rows * width) / THREADS)), gpu.maxWorkgroupsPerDimension),
  });
}
