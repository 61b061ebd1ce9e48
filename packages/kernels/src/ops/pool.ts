/** Launchers of pool.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 64;

function check(kernel: string, B: number, T: number, D: number): void {
  for (const [name, v] of [['B', B], ['T', T], ['D', D]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new KernelLaunchError(kernel, `${name} must be a positive integer, got ${v}`);
  }
}

/** y[b, d] = max over unmasked t of x[b, t, d], and the index reaching it. */
export function maxPoolForward(gpu: Gpu, a: { x: GpuBuffer; mask: GpuBuffer; y: GpuBuffer; index: GpuBuffer; B: number; T: number; D: number }): void {
  const { B, T, D } = a;
  check('pool.maxForward', B, T, D);
  gpu.kernel('pool', 'maxForward', { WG: THREADS }).launch({
    bindings: { x: a.x, mask: a.mask, y: a.y, index: a.index },
    uniforms: { B, T, D },
    minBytes: { x: 4 * B * T * D, mask: 4 * B * T, y: 4 * B * D, index: 4 * B * D },
    workgroups: foldWorkgroups(Math.ceil((B * D) / THREADS), gpu.maxWorkgroupsPerDimension),
  });
}

/** dx[b, t, d] = dy[b, d] at the pooled index, 0 elsewhere. */
export function maxPoolBackward(gpu: Gpu, a: { dy: GpuBuffer; index: GpuBuffer; dx: GpuBuffer; B: number; T: number; D: number }): void {
  const { B, T, D } = a;
  check('pool.maxBackward', B, T, D);
  gpu.kernel('pool', 'maxBackward', { WG: THREADS }).launch({
    bindings: { dy: a.dy, indexIn: a.index, dx: a.dx },
    uniforms: { B, T, D },
    minBytes: { dy: 4 * B * D, indexIn: 4 * B * D, dx: 4 * B * T * D },
    workgroups: foldWorkgroups(Math.ceil((B * T * D) / THREADS), gpu.maxWorkgroupsPerDimension),
  });
}
