/**
 * How the process waits for Dawn.
 *
 * Dawn's node binding resolves its promises (`onSubmittedWorkDone`,
 * `mapAsync`, `popErrorScope`, `requestAdapter`, …) by polling: while any of
 * them is pending, it calls `wgpuInstanceProcessEvents` from a callback it
 * hands to the global `setImmediate`, and that callback schedules the next
 * one the same way (a fresh native function each time). For as long as the
 * device works, the JavaScript thread therefore runs at 100% of a core and
 * feeds the garbage collector. A trainer always has a step in flight, so it
 * always waits. On a GPU that costs a core; on a software adapter
 * (lavapipe), whose kernels run on the same CPU cores, the poll competes with
 * the kernels themselves: on a 2-core machine, `thaw bench step` measured
 * 760 ms per full step with the busy poll and 433 ms paced.
 *
 * Pacing: the binding looks `setImmediate` up on the global object at every
 * poll, so a wrapper installed there decides how soon the next poll runs.
 * The binding's polls are told apart by their callbacks being native
 * functions, and a chain of them by each poll being scheduled from inside
 * the last one; a poll scheduled from anywhere else starts a new wait. The
 * first {@link SPIN_MS} of a chain poll immediately, as before, so short
 * waits (a small readback, an error scope already resolved) keep their
 * microsecond latency; later polls go through a 1 ms timer, which lets the
 * thread sleep. A wait therefore ends at most about a millisecond
 * after the device finishes. Callbacks that are not native functions are
 * scheduled exactly as before, and `clearImmediate` cancels a paced poll as
 * it would an immediate.
 *
 * `THAW_POLLING=busy` (or {@link setPolling}('busy')) restores Dawn's own
 * busy poll, for comparison.
 */

import { SettingError } from './errors.js';

/** `paced`: sleep between Dawn's polls after a short spin (default); `busy`: Dawn's own loop. */
export type PollingMode = 'paced' | 'busy';

/** How long a chain of Dawn polls runs back to back before it is paced, in ms. */
export const SPIN_MS = 1;

type Immediate = typeof globalThis.setImmediate;
type ClearImmediate = typeof globalThis.clearImmediate;

/** Node's own functions, restored by busy mode. */
const original: { set: Immediate; clear: ClearImmediate } = { set: globalThis.setImmediate, clear: globalThis.clearImmediate };
/** Paced polls' timers, so that clearImmediate can recognise them. */
const pacedTimers = new WeakSet<object>();
/** When the current chain of polls began, and whether one of its polls is running now. */
let chainStart = -Infinity;
let inPoll = false;
let installed: PollingMode | undefined;

/** Counts of Dawn's polls by how they were scheduled, since the process started. */
export const pollCounts = { immediate: 0, paced: 0 };

function isNative(callback: unknown): boolean {
  return typeof callback === 'function' && Function.prototype.toString.call(callback).endsWith('{ [native code] }');
}

function pacedSetImmediate(callback: (...args: unknown[]) => void, ...args: unknown[]): NodeJS.Immediate {
  if (!isNative(callback)) return original.set(callback, ...args);
  const now = performance.now();
  // The binding schedules the next poll from inside the last one; a poll
  // scheduled from anywhere else is the first of a new wait.
  if (!inPoll) chainStart = now;
  const poll = (): void => {
    inPoll = true;
    try {
      callback(...args);
    } finally {
      inPoll = false;
    }
  };
  if (now - chainStart < SPIN_MS) {
    pollCounts.immediate++;
    return original.set(poll);
  }
  pollCounts.paced++;
  const timer = setTimeout(poll, 1);
  pacedTimers.add(timer);
  // Callers treat the handle as opaque; clearImmediate below knows it.
  return timer as unknown as NodeJS.Immediate;
}

function pacedClearImmediate(handle: NodeJS.Immediate | undefined): void {
  if (handle && pacedTimers.has(handle)) clearTimeout(handle as unknown as NodeJS.Timeout);
  else original.clear(handle);
}

/** The mode asked for by THAW_POLLING (default `paced`); any other value is an error naming it. */
export function pollingFromEnv(value = process.env.THAW_POLLING): PollingMode {
  if (value === undefined || value === '' || value === 'paced') return 'paced';
  if (value === 'busy') return 'busy';
  throw new SettingError('THAW_POLLING', `THAW_POLLING must be "paced" or "busy", got "${value}"`);
}

/**
 * Sets how this process waits for Dawn (see the module comment). Process-wide:
 * it replaces or restores the global `setImmediate` and `clearImmediate`.
 * Called with THAW_POLLING's mode when the first Dawn instance is made.
 */
export function setPolling(mode: PollingMode): void {
  if (installed === mode) return;
  installed = mode;
  if (mode === 'busy') {
    globalThis.setImmediate = original.set;
    globalThis.clearImmediate = original.clear;
    return;
  }
  // Keep what the original carries under symbols (util.promisify's custom form).
  for (const key of Object.getOwnPropertySymbols(original.set)) {
    Object.defineProperty(pacedSetImmediate, key, Object.getOwnPropertyDescriptor(original.set, key)!);
  }
  globalThis.setImmediate = pacedSetImmediate as Immediate;
  globalThis.clearImmediate = pacedClearImmediate as ClearImmediate;
}

/** The mode in effect (undefined before the first Dawn instance). */
export function pollingMode(): PollingMode | undefined {
  return installed;
}
