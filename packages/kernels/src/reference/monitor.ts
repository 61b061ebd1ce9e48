/** The host twin of monitor.wgsl: the same state, from the same values, with JavaScript's own finiteness test. */
import type { MonitorReadout } from '../ops/monitor.js';

/** One step as the monitor sees it: its loss, and its gradient norm when the norm is checked. */
export interface MonitorStep {
  step: number;
  slot: number;
  loss: number;
  norm?: number;
}

/**
 * The readout (losses of slots 0 … count − 1, the first bad step) after
 * recording `steps` in order into a fresh state: a slot never written is NaN.
 */
export function monitorReference(steps: readonly MonitorStep[], count: number): MonitorReadout {
  const losses = new Float32Array(count).fill(Number.NaN);
  let firstBad: MonitorReadout['firstBad'];
  for (const s of steps) {
    const loss = Math.fround(s.loss);
    if (s.slot < count) losses[s.slot] = loss;
    const lossBad = !Number.isFinite(loss);
    const normBad = s.norm !== undefined && !Number.isFinite(Math.fround(s.norm));
    if ((lossBad || normBad) && !firstBad) {
      firstBad = { step: s.step, loss: lossBad, norm: normBad, lossValue: loss, normValue: s.norm === undefined ? 0 : Math.fround(s.norm) };
    }
  }
  return firstBad ? { losses, firstBad } : { losses };
}
