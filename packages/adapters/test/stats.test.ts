// The study's statistics against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { SUITE_DEFAULTS, aggregate, curveStatistics, movingAverage, pairedDifference, spearman, summarize, type StudyRun } from '../src/index.js';

describe('study statistics', () => {
  it('summarize: mean and sample standard deviation', () => {
    const s = summarize([0.5, 0.7, 0.9]);
    expect(s.mean).toBeCloseTo(0.7, 12);
    expect(s.std).toBeCloseTo(0.2, 12);
    expect(summarize([0.4]).std).toBe(0);
  });

  it('pairedDifference: a 95% t-interval over seeds', () => {
    const d = pairedDifference([0.6, 0.7, 0.8], [0.5, 0.5, 0.6]); // differences 0.1, 0.2, 0.2
    expect(d.mean).toBeCloseTo(0.5 / 3, 12);
    const half = 4.303 * Math.sqrt(1 / 300) / Math.sqrt(3); // sd of (0.1, 0.2, 0.2) is sqrt(1/300)
    expect(d.low!).toBeCloseTo(0.5 / 3 - half, 9);
    expect(d.high!).toBeCloseTo(0.5 / 3 + half, 9);
    expect(pairedDifference([0.6], [0.5])).toMatchObject({ low: null, high: null, n: 1 });
  });

  it('spearman: ranks, ties at their average rank', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // x ranks 1, 2.5, 2.5, 4; y ranks 2, 1, 4, 3: Σdxdy = 1.5, Σdx² = 4.5, Σdy² = 5
    expect(spearman([5, 7, 7, 9], [2, 1, 8, 3])).toBeCloseTo(1.5 / Math.sqrt(22.5), 12);
    expect(Number.isNaN(spearman([1, 1, 1], [1, 2, 3]))).toBe(true);
  });

  it('curveStatistics: peak, its step, mean level and the width at half the peak', () => {
    const steps = [0, 10, 20, 30, 40, 50, 60];
    const values = [0, 2, 8, 8, 2, 0, 0];
    const smooth = movingAverage(values);
    expect(smooth).toEqual([1, 10 / 3, 6, 6, 10 / 3, 2 / 3, 0]);
    const c = curveStatistics(steps, values);
    expect(c.peak).toBe(6);
    expect(c.peakStep).toBe(20);
    expect(c.width).toBe(30); // steps 10…40 are at or above half the peak (10/3 ≥ 3)
    expect(c.area).toBeCloseTo((10 * (1 + 10 / 3 + 10 / 3 + 6 + 6 + 6 + 6 + 10 / 3 + 10 / 3 + 2 / 3 + 2 / 3)) / 2 / 60, 12);
  });
});

describe('study aggregation', () => {
  const run = (schedule: string, seed: number, avg: number, peak: number): StudyRun => ({
    schedule, seed, dir: `runs/${schedule}/seed-${seed}`, bestStep: 10, unfreezeOrder: [],
    results: { task: 'nli', metric: 'accuracy', source: { lang: 'src', dev: 0.9, test: 0.8 + seed / 100 }, targets: { l1: avg + 0.1, l7: avg - 0.1 }, targetAverage: avg },
    curve: { peak, peakStep: 5, area: peak / 2, width: 10 },
  });
  const options = { preset: 'smoke' as const, schedules: ['standard', 'gu'], seeds: [1, 2, 3], run: { ...SUITE_DEFAULTS, targets: ['l1', 'l7'] } };

  it('summarizes per schedule and language, pairs differences by seed, correlates over all runs', () => {
    // Listed out of order: pairing must go by seed, not position.
    const runs = [run('gu', 3, 0.56, 6), run('standard', 1, 0.5, 1), run('gu', 1, 0.55, 4), run('standard', 2, 0.52, 2), run('standard', 3, 0.51, 3), run('gu', 2, 0.54, 5)];
    const r = aggregate(options, runs);
    expect(r.schedules.standard!.targetAverage.values).toEqual([0.5, 0.52, 0.51]);
    expect(r.schedules.gu!.targets.l1!.mean).toBeCloseTo(0.65, 12);
    expect(r.schedules.gu!.source.values.map((v) => Math.round(100 * v))).toEqual([81, 82, 83]);
    const d = r.schedules.gu!.differenceToStandard!;
    expect(d.mean).toBeCloseTo((0.05 + 0.02 + 0.05) / 3, 12);
    expect(d.n).toBe(3);
    expect(d.low!).toBeLessThan(d.mean);
    expect(r.schedules.standard!.differenceToStandard).toBeUndefined();
    // Peak ranks equal target-average ranks except standard seeds 2/3 and gu 1/2 swap: ρ = 1 − 6·4/(6·35).
    expect(r.correlations.find((c) => c.statistic === 'peak')).toEqual({ statistic: 'peak', spearman: expect.closeTo(1 - 24 / 210, 12), n: 6 });
    expect(r.targets).toEqual(['l1', 'l7']);
  });
});
