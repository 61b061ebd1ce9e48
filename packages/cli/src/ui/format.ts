/** Formatting shared by the terminal tables and the HTML report. */
import type { RunResults } from '@thaw/adapters';

/** A metric in [0, 1] as a percentage with one decimal; '–' when absent or not a number (JSON turns NaN into null). */
export function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : (100 * v).toFixed(1);
}

/** One run's results as (language, value) rows: source dev and test, each target, the target average. */
export function runResultRows(r: RunResults): [string, string][] {
  return [
    [`${r.source.lang} (dev)`, pct(r.source.dev)],
    ...(r.source.test !== undefined ? [[`${r.source.lang} (test)`, pct(r.source.test)] as [string, string]] : []),
    ...Object.entries(r.targets).map(([k, v]) => [k, pct(v)] as [string, string]),
    ...(r.targetAverage !== undefined ? [['target avg', pct(r.targetAverage)] as [string, string]] : []),
  ];
}
