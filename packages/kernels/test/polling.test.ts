import { afterEach, describe, expect, it } from 'vitest';
import { matmul, pollCounts, pollingFromEnv, pollingMode, setPolling, SPIN_MS } from '../src/index.js';
import { randomArray, rng, useGpu } from './helpers.js';

/** A native function, as Dawn's poll callback is: a bound function prints `{ [native code] }`. */
function nativeCallback(body: () => void): () => void {
  return body.bind(null);
}

describe('THAW_POLLING', () => {
  it('defaults to paced, accepts busy, and names itself for anything else', () => {
    expect(pollingFromEnv(undefined)).toBe('paced');
    expect(pollingFromEnv('')).toBe('paced');
    expect(pollingFromEnv('paced')).toBe('paced');
    expect(pollingFromEnv('busy')).toBe('busy');
    expect(() => pollingFromEnv('fast')).toThrow(/THAW_POLLING must be "paced" or "busy", got "fast"/);
  });
});

describe('paced polling of Dawn', () => {
  const gpu = useGpu();
  afterEach(() => setPolling('paced'));

  it('is what the first Dawn instance installed', () => {
    gpu();
    expect(pollingMode()).toBe('paced');
  });

  it('leaves callbacks that are not native functions to the original setImmediate', async () => {
    gpu();
    const before = { ...pollCounts };
    let ran = false;
    const handle = setImmediate(() => { ran = true; });
    expect(handle.constructor.name).toBe('Immediate');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(ran).toBe(true);
    expect(pollCounts).toEqual(before);
  });

  it('runs a chain of native callbacks back to back for SPIN_MS, then through a timer', async () => {
    gpu();
    const start = { ...pollCounts };
    const times: number[] = [];
    await new Promise<void>((resolve) => {
      // A chain that reschedules itself from inside each link, as Dawn's binding polls: 30 ms of links.
      const link = nativeCallback(() => {
        times.push(performance.now());
        if (performance.now() - times[0]! < 30) setImmediate(link);
        else resolve();
      });
      setImmediate(link);
    });
    const paced = pollCounts.paced - start.paced;
    const immediate = pollCounts.immediate - start.immediate;
    expect(paced + immediate).toBe(times.length);
    // Link i was scheduled by link i − 1, after its time was taken: every link
    // scheduled SPIN_MS or more after the chain's first ran was paced.
    const late = times.slice(0, -1).filter((t) => t - times[0]! >= SPIN_MS).length;
    expect(late).toBeGreaterThan(0);
    expect(paced).toBeGreaterThanOrEqual(late);
    // A paced link waits for a timer of at least 1 ms, so 30 ms hold at most 31 of them.
    expect(paced).toBeLessThanOrEqual(31);
  });

  it('starts a new chain, spinning again, for a poll scheduled outside the last one', async () => {
    gpu();
    const before = { ...pollCounts };
    await new Promise<void>((resolve) => setImmediate(nativeCallback(resolve)));
    expect(pollCounts.immediate).toBe(before.immediate + 1);
    expect(pollCounts.paced).toBe(before.paced);
  });

  it('cancels a paced poll with clearImmediate', async () => {
    gpu();
    let cancelledRan = false;
    await new Promise<void>((resolve) => {
      // Spin past SPIN_MS so that the next native callback of the chain is paced, then cancel it.
      const t0 = performance.now();
      const spin = nativeCallback(() => {
        if (performance.now() - t0 < SPIN_MS + 1) {
          setImmediate(spin);
          return;
        }
        const before = pollCounts.paced;
        const handle = setImmediate(nativeCallback(() => { cancelledRan = true; }));
        expect(pollCounts.paced).toBe(before + 1);
        clearImmediate(handle);
        setTimeout(resolve, 10);
      });
      setImmediate(spin);
    });
    expect(cancelledRan).toBe(false);
  });

  it('busy restores the original functions, and waits still complete with the same result', async () => {
    const g = gpu();
    const random = rng(7);
    const M = 96, N = 80, K = 72;
    const a = g.upload(randomArray(M * K, random));
    const b = g.upload(randomArray(K * N, random));
    const results: Float32Array[] = [];
    for (const mode of ['paced', 'busy'] as const) {
      setPolling(mode);
      expect(pollingMode()).toBe(mode);
      const c = g.alloc(M * N * 4);
      const counted = { ...pollCounts };
      for (let i = 0; i < 20; i++) matmul(g, { a, b, c, M, N, K });
      results.push(await g.read(c));
      // Busy mode leaves Dawn's polls to Node's setImmediate: nothing is counted, and a native callback gets an Immediate.
      if (mode === 'busy') {
        expect(pollCounts).toEqual(counted);
        expect(setImmediate(nativeCallback(() => undefined)).constructor.name).toBe('Immediate');
      }
      g.release(c);
    }
    expect(results[1]).toEqual(results[0]);
    g.release(a);
    g.release(b);
  });
});
