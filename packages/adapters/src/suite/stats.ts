/**
 * The statistics a study reports: mean and sample standard deviation over
 * seeds, a 95% t-interval of a paired difference, Spearman's rank
 * correlation (ties get their average rank), and the shape statistics of a
 * tr(F) curve.
 */

/** Mean, sample standard deviation (n − 1) and the values themselves. */
export interface Summary {
  mean: number;
  std: number;
  values: number[];
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), values: [...values] };
}

/** Two-sided 97.5% quantiles of Student's t for 1…30 degrees of freedom; 1.96 beyond. */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** A mean difference with its 95% interval (null bounds with fewer than two pairs). */
export interface Difference {
  mean: number;
  low: number | null;
  high: number | null;
  n: number;
}

/** Mean of a − b over paired values (same seed), with a 95% t-interval. */
export function pairedDifference(a: readonly number[], b: readonly number[]): Difference {
  const n = Math.min(a.length, b.length);
  const d = summarize(Array.from({ length: n }, (_, i) => a[i]! - b[i]!));
  if (n < 2) return { mean: d.mean, low: null, high: null, n };
  const half = (T975[n - 2] ?? 1.96) * d.std / Math.sqrt(n);
  return { mean: d.mean, low: d.mean - half, high: d.mean + half, n };
}

/** Ranks 1…n, ties sharing their average rank. */
function ranks(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    for (let k = i; k <= j; k++) out[order[k]![1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

/** Spearman's ρ: Pearson's correlation of the ranks. NaN when either side is constant or n < 2. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new Error(`spearman: ${x.length} and ${y.length} values`);
  if (x.length < 2) return NaN;
  const [rx, ry] = [ranks(x), ranks(y)];
  const mean = (r: number[]) => r.reduce((a, b) => a + b, 0) / r.length;
  const [mx, my] = [mean(rx), mean(ry)];
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < rx.length; i++) {
    sxy += (rx[i]! - mx) * (ry[i]! - my);
    sxx += (rx[i]! - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Shape of a tr(F) curve: what the research relates to cross-lingual transfer (paper §5.2, Fig. 4; docs/method.md §6). */
export interface CurveStatistics {
  /** Highest value of the smoothed curve. */
  peak: number;
  /** The step where it is reached. */
  peakStep: number;
  /** Area under the smoothed curve (trapezoids over steps), divided by the steps covered: the curve's mean level. */
  area: number;
  /** The "learning period": steps between the first and the last point at or above half the peak. */
  width: number;
}

export const CURVE_STATISTICS: readonly (keyof CurveStatistics)[] = ['peak', 'peakStep', 'area', 'width'];

/** Centered moving average over `window` points (shorter at the ends), as the paper smooths its curves. */
export function movingAverage(values: readonly number[], window = 3): number[] {
  const half = Math.floor(window / 2);
  return values.map((_, i) => {
    const part = values.slice(Math.max(0, i - half), i + half + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
}

/** Statistics of a curve sampled at increasing `steps`. */
export function curveStatistics(steps: readonly number[], values: readonly number[]): CurveStatistics {
  if (!steps.length || steps.length !== values.length) throw new Error(`curveStatistics: ${steps.length} steps and ${values.length} values`);
  const smooth = movingAverage(values);
  let top = 0;
  smooth.forEach((v, i) => { if (v > smooth[top]!) top = i; });
  const peak = smooth[top]!;
  let integral = 0;
  for (let i = 1; i < steps.length; i++) integral += ((smooth[i]! + smooth[i - 1]!) / 2) * (steps[i]! - steps[i - 1]!);
  const span = steps.at(-1)! - steps[0]!;
  const above = steps.filter((_, i) => smooth[i]! >= peak / 2);
  return { peak, peakStep: steps[top]!, area: span > 0 ? integral / span : peak, width: above.at(-1)! - above[0]! };
}
