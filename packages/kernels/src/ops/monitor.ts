/**
 * Launchers of monitor.wgsl: a training step's loss into a ring of slots and
 * a flag at the first non-finite loss or gradient norm, all on the GPU; the
 * host reads the state back every few steps ({@link decodeMonitorState}).
 */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';

/** Words before the ring in a monitor state: firstBad, what, the bad loss, the bad norm. */
export const MONITOR_HEADER_WORDS = 4;
/** firstBad while every recorded value was finite. */
export const MONITOR_NONE = 0xffffffff;

/** A fresh monitor state of `slots` ring slots (upload it): no bad step, the slots NaN until written. */
export function monitorInitialState(slots: number): Uint32Array {
  if (!Number.isInteger(slots) || slots < 1) throw new KernelLaunchError('monitor.record', `slots must be a positive integer, got ${slots}`);
  const state = new Uint32Array(MONITOR_HEADER_WORDS + slots);
  state[0] = MONITOR_NONE;
  // Unwritten slots read as NaN (0x7fc00000), so a slot the kernel missed cannot pass for a loss.
  state.fill(0x7fc00000, MONITOR_HEADER_WORDS);
  return state;
}

/**
 * Records step `step`'s loss (word 0 of `loss`) into slot `slot` of `state`
 * and, when it (or, with `norm`, word `norm.index` of `norm.buffer`: the
 * optimizer's clip buffer holds the gradient norm at index 1) is not finite
 * and no earlier step was, marks `step` as the first bad one.
 */
export function monitorRecord(gpu: Gpu, args: { state: GpuBuffer; slots: number; loss: GpuBuffer; norm?: { buffer: GpuBuffer; index: number }; step: number; slot: number }): void {
  const { slots, step, slot } = args;
  const kernel = 'monitor.record';
  if (!Number.isInteger(slots) || slots < 1) throw new KernelLaunchError(kernel, `slots must be a positive integer, got ${slots}`);
  if (!Number.isInteger(slot) || slot < 0 || slot >= slots) throw new KernelLaunchError(kernel, `slot ${slot} is outside the ring's ${slots} slots`);
  if (!Number.isInteger(step) || step < 0 || step >= MONITOR_NONE) throw new KernelLaunchError(kernel, `step must be an integer in [0, 2³² − 1), got ${step}`);
  const normIndex = args.norm?.index ?? 0;
  if (!Number.isInteger(normIndex) || normIndex < 0) throw new KernelLaunchError(kernel, `norm.index must be a non-negative integer, got ${normIndex}`);
  gpu.kernel('monitor', 'record').launch({
    bindings: { loss: args.loss, norm: args.norm?.buffer ?? args.loss, state: args.state },
    uniforms: { step, slot, slots, checkNorm: args.norm ? 1 : 0, normIndex },
    minBytes: { loss: 4, norm: 4 * (normIndex + 1), state: 4 * (MONITOR_HEADER_WORDS + slots) },
    workgroups: [1],
  });
}

/** The first step whose loss or gradient norm was not finite, as the monitor recorded it. */
export interface MonitorBadStep {
  step: number;
  /** Whether the loss, and whether the gradient norm, was not finite at that step. */
  loss: boolean;
  norm: boolean;
  lossValue: number;
  normValue: number;
}

/** A monitor state read back: the first `count` slots' losses and the first bad step, if any. */
export interface MonitorReadout {
  losses: Float32Array;
  firstBad?: MonitorBadStep;
}

/** Decodes the first 4 + `count` words of a monitor state read back from the GPU. */
export function decodeMonitorState(bytes: ArrayBuffer, count: number): MonitorReadout {
  const words = new Uint32Array(bytes, 0, MONITOR_HEADER_WORDS + count);
  const floats = new Float32Array(bytes, 0, MONITOR_HEADER_WORDS + count);
  const losses = floats.slice(MONITOR_HEADER_WORDS, MONITOR_HEADER_WORDS + count);
  if (words[0] === MONITOR_NONE) return { losses };
  const what = words[1]!;
  return { losses, firstBad: { step: words[0]!, loss: (what & 1) !== 0, norm: (what & 2) !== 0, lossValue: floats[2]!, normValue: floats[3]! } };
}

/** Reads the state's header and its first `count` slots back (one readback). */
export async function readMonitorState(gpu: Gpu, state: GpuBuffer, count: number): Promise<MonitorReadout> {
  return decodeMonitorState(await gpu.readBytes(state, 4 * (MONITOR_HEADER_WORDS + count)), count);
}
