// The exact unfreeze sequence (step → blocks) of every policy, under the
// paper's Algorithm 1 timing and under the official code's.
import { describe, expect, it } from 'vitest';
import { UnfreezeSchedule, type ScheduleOptions } from '../src/index.js';

/** Runs a schedule over `steps` steps; returns "step:blocks" for every event. */
async function sequence(options: ScheduleOptions, steps: number, scores?: (frozen: number[]) => Map<number, number>): Promise<string[]> {
  const s = new UnfreezeSchedule(options);
  const out: string[] = [];
  for (let step = 0; step < steps; step++) {
    const event = await s.at(step, scores ? async () => scores(s.frozenBlocks) : undefined);
    if (event) out.push(`${event.step}:${event.blocks.join(',')}`);
  }
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('Algorithm 1, paper timing (unfreeze points at 0, k, 2k, …, (L−1)k)', () => {
  const k = 10;
  it('standard and full: every block at step 0', async () => {
    expect(await sequence({ policy: 'standard', layers: 12, k }, 200)).toEqual([`0:${range(12).join(',')}`]);
    expect(await sequence({ policy: 'full', layers: 3, k }, 50)).toEqual(['0:0,1,2']);
  });
  it('lpft: the head alone, then every block at k', async () => {
    expect(await sequence({ policy: 'lpft', layers: 12, k }, 200)).toEqual([`10:${range(12).join(',')}`]);
  });
  it('gu: top-down, one block per interval', async () => {
    expect(await sequence({ policy: 'gu', layers: 12, k }, 200)).toEqual(range(12).map((m) => `${m * k}:${11 - m}`));
    expect(await sequence({ policy: 'gu', layers: 3, k: 4 }, 50)).toEqual(['0:2', '4:1', '8:0']);
  });
  it('gu-rev: bottom-up', async () => {
    expect(await sequence({ policy: 'gu-rev', layers: 12, k }, 200)).toEqual(range(12).map((m) => `${m * k}:${m}`));
  });
  it('fixed: the given order, and the official code\'s named lists', async () => {
    expect(await sequence({ policy: 'fixed:1,0,2', layers: 3, k: 2 }, 20)).toEqual(['0:1', '2:0', '4:2']);
    const order = [11, 10, 2, 6, 5, 8, 3, 7, 0, 1, 9, 4];
    expect(await sequence({ policy: 'fixed:schedule-1', layers: 12, k }, 200)).toEqual(order.map((j, m) => `${m * k}:${j}`));
    expect(() => new UnfreezeSchedule({ policy: 'fixed:0,0,1', layers: 3, k })).toThrow(/must list every layer 0…2 once/);
    expect(() => new UnfreezeSchedule({ policy: 'fixed:schedule-3', layers: 4, k })).toThrow(/12 layers/);
  });
  it('rand: top block first, then a seeded permutation of the rest, reproducible', async () => {
    const a = await sequence({ policy: 'rand', layers: 12, k, seed: 5 }, 200);
    const b = await sequence({ policy: 'rand', layers: 12, k, seed: 5 }, 200);
    const c = await sequence({ policy: 'rand', layers: 12, k, seed: 6 }, 200);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a[0]).toBe('0:11');
    expect(a.map((e) => Number(e.split(':')[0]))).toEqual(range(12).map((m) => m * k));
    expect(a.map((e) => Number(e.split(':')[1])).sort((x, y) => x - y)).toEqual(range(12));
  });
  it('fun: top block first, then the frozen block with the largest tr(F)', async () => {
    // Scores known by construction: tr(F)_j = (j * 7) mod 12, so frozen blocks are taken in decreasing score.
    const score = (j: number) => (j * 7) % 12;
    const seq = await sequence({ policy: 'fun', layers: 12, k }, 200, (frozen) => new Map(range(12).map((j) => [j, score(j) + (frozen.includes(j) ? 0 : 100)])));
    const expected = range(11).map((j) => j).sort((x, y) => score(y) - score(x));
    expect(seq).toEqual(['0:11', ...expected.map((j, m) => `${(m + 1) * k}:${j}`)]);
  });
  it('unknown policies and bad intervals are refused with the option named', () => {
    expect(() => new UnfreezeSchedule({ policy: 'topdown', layers: 12, k })).toThrow(/unknown schedule 'topdown'/);
    expect(() => new UnfreezeSchedule({ policy: 'gu', layers: 12, k: 0 })).toThrow(/k must be a positive integer/);
  });
});

describe('official-code timing', () => {
  const k = 10;
  it('gu: layer 11 at step 0, layer 11−m at step (m+1)k − 1: one interval late', async () => {
    expect(await sequence({ policy: 'gu', layers: 12, k, timing: 'official-code' }, 200))
      .toEqual(['0:11', ...range(11).map((m) => `${(m + 2) * k - 1}:${10 - m}`)]);
  });
  it('fun, rand and fixed: the m-th block at step m·k − 1', async () => {
    expect(await sequence({ policy: 'fixed:schedule-0', layers: 12, k, timing: 'official-code' }, 200))
      .toEqual(['0:11', ...range(11).map((m) => `${(m + 1) * k - 1}:${10 - m}`)]);
  });
  it('lpft: every block at step k − 1', async () => {
    expect(await sequence({ policy: 'lpft', layers: 4, k, timing: 'official-code' }, 100)).toEqual(['9:0,1,2,3']);
  });
});
