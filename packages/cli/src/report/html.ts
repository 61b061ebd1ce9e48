/**
 * report.html of a study or of one run: one self-contained file (inline CSS
 * and SVG, no scripts, no network) built only from what the directories
 * hold, so `thaw report <dir>` can rebuild it at any time.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fisherCurve, writeFileAtomic, type RunResults, type StudyResults, type Summary } from '@thaw/adapters';
import { UsageError } from '../ui/errors.js';
import { pct, runResultRows } from '../ui/format.js';
import { barChart, escapeXml, lineChart, type Series } from './svg.js';

const meanStd = (s: Summary | undefined) => (s ? `${pct(s.mean)} ± ${pct(s.std)}` : '–');
const signed = (v: number | null) => (v === null ? '–' : `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`);

function table(head: string[], rows: string[][], className = ''): string {
  return `<table${className ? ` class="${className}"` : ''}><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead>
<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; line-height: 1.4; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead { background: #f3f3f3; }
.note { color: #555; font-size: 0.9rem; }
figure { margin: 1rem 0; } svg { max-width: 100%; height: auto; }
</style></head><body>
${body}
</body></html>
`;
}

/** Writes the report through a temporary file (never half-written; removed when the write fails). */
async function writeReport(dir: string, html: string): Promise<string> {
  const path = join(dir, 'report.html');
  await writeFileAtomic(path, (handle) => handle.writeFile(html));
  return path;
}

const CHANCE: Record<string, { y: number; label: string }> = { nli: { y: 1 / 3, label: 'chance 33.3%' }, copa: { y: 0.5, label: 'chance 50%' } };

/** Raw tr(F) per block, the per-trainable-block curve (dashed) and the unfreeze events, of one run. */
async function fisherChart(dir: string, title: string): Promise<string> {
  const curve = await fisherCurve(dir);
  if (!curve.steps.length) return `<p class="note">${escapeXml(title)}: tr(F) was not tracked (--fisher-every 0).</p>`;
  const blocks = curve.perBlock[0]!.length;
  const series: Series[] = Array.from({ length: blocks }, (_, j) => ({
    name: `block ${j}`,
    // A frozen block is reported as 0; it is drawn from the step it thaws.
    points: curve.steps.map((s, i) => [s, curve.perBlock[i]![j]!] as [number, number]).filter((p) => p[1] > 0),
  }));
  series.push({ name: 'per trainable block', points: curve.steps.map((s, i) => [s, curve.values[i]!]), dashed: true });
  const events = await readEvents(dir);
  return `<figure>${lineChart({
    title, xLabel: 'training step', yLabel: 'tr(F)', series,
    markers: events.filter((e) => e.blocks.length).map((e) => ({ x: e.step, label: `+${e.blocks.join(',')}` })),
  })}</figure>`;
}

async function readEvents(dir: string): Promise<{ step: number; blocks: number[] }[]> {
  const path = join(dir, 'events.jsonl');
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { step: number; blocks: number[] });
}

async function readJson<T>(path: string, what: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    throw new UsageError(`${path}: cannot read ${what} (${(e as Error).message})`);
  }
}

/** The study report: results, differences to standard, bars, tr(F) curves, unfreeze orders, correlations. */
export async function studyReport(dir: string): Promise<string> {
  const r = await readJson<StudyResults>(join(dir, 'results.json'), 'the study results');
  const schedules = Object.keys(r.schedules);
  const languages = [r.source, ...r.targets];
  const results = table(
    ['schedule', `${r.source} (test)`, `${r.source} (dev)`, ...r.targets, 'target avg'],
    schedules.map((s) => {
      const x = r.schedules[s]!;
      return [s, meanStd(x.source), meanStd(x.sourceDev), ...r.targets.map((t) => meanStd(x.targets[t])), meanStd(x.targetAverage)];
    }),
    'results',
  );
  const differences = table(
    ['schedule', 'Δ target avg vs standard', '95% interval', 'seeds', 'reading'],
    schedules.filter((s) => r.schedules[s]!.differenceToStandard).map((s) => {
      const d = r.schedules[s]!.differenceToStandard!;
      const reading = d.low === null || d.high === null ? 'one seed: no interval' : d.low > 0 ? 'better than standard' : d.high < 0 ? 'worse than standard' : 'not distinguishable';
      return [s, signed(d.mean), d.low === null ? '–' : `[${signed(d.low)}, ${signed(d.high)}]`, String(d.n), reading];
    }),
    'differences',
  );
  const bars = barChart({
    title: `${r.metric} per language (mean over ${r.seeds.length} seed${r.seeds.length > 1 ? 's' : ''}, ± std)`, yLabel: r.metric,
    groups: [...languages, 'target avg'], yMax: 1,
    series: schedules.map((s) => {
      const x = r.schedules[s]!;
      const cells = [x.source, ...r.targets.map((t) => x.targets[t]!), x.targetAverage];
      return { name: s, values: cells.map((c) => c?.mean ?? NaN), errors: cells.map((c) => c?.std ?? 0) };
    }),
    ...(CHANCE[r.task] ? { reference: CHANCE[r.task] } : {}),
  });
  // Per schedule: the normalised curve averaged over seeds, on one chart.
  const normalised: Series[] = [];
  const perSchedule: string[] = [];
  for (const s of schedules) {
    const runs = r.runs.filter((x) => x.schedule === s);
    const curves = await Promise.all(runs.map((x) => fisherCurve(join(dir, x.dir))));
    const steps = curves[0]?.steps ?? [];
    normalised.push({ name: s, points: steps.map((step, i) => [step, curves.reduce((a, c) => a + (c.values[i] ?? NaN), 0) / curves.length]) });
    if (runs[0]) perSchedule.push(await fisherChart(join(dir, runs[0].dir), `${s} · seed ${runs[0].seed}: tr(F) per block (raw) and per trainable block (dashed)`));
  }
  const order = table(['schedule', 'seed', 'unfreeze order (step: blocks)', 'best step'], r.runs.map((x) => [
    x.schedule, String(x.seed), x.unfreezeOrder.map((e) => `${e.step}: ${e.blocks.join(',')}`).join(' · ') || '–', String(x.bestStep),
  ]), 'order');
  const correlations = table(['tr(F) statistic', 'Spearman ρ with target avg', 'runs'], r.correlations.map((c) => [
    c.statistic, c.spearman === null || !Number.isFinite(c.spearman) ? '– (undefined: a constant)' : c.spearman.toFixed(3), String(c.n),
  ]), 'correlations');
  const runs = table(['schedule', 'seed', `${r.source} dev`, `${r.source} test`, 'target avg', 'tr(F) peak', 'peak step', 'area', 'width'], r.runs.map((x) => [
    x.schedule, String(x.seed), pct(x.results.source.dev), pct(x.results.source.test), pct(x.results.targetAverage),
    x.curve ? x.curve.peak.toExponential(2) : '–', x.curve ? String(x.curve.peakStep) : '–', x.curve ? x.curve.area.toExponential(2) : '–', x.curve ? String(x.curve.width) : '–',
  ]), 'runs');
  const body = `<h1>Thaw study: ${escapeXml(r.task)}, ${schedules.length} schedules × ${r.seeds.length} seeds</h1>
${r.runs.length < r.planned ? `<p class="note"><b>Partial study: ${r.runs.length} of ${r.planned} runs</b> have finished; the figures below are of those (thaw status tells the others' state).</p>\n` : ''}<p class="note">Preset <b>${escapeXml(r.preset)}</b>. Task adapters trained on <b>${escapeXml(r.source)}</b>; zero-shot on ${escapeXml(r.targets.join(', '))} (closest to farthest) with each target's language adapter swapped in. Metric: ${escapeXml(r.metric)}, in %, mean ± sample std over seeds ${escapeXml(r.seeds.join(', '))}. Checkpoints selected on the source dev set.</p>
<h2>Results</h2>
${results}
<h2>Difference to standard</h2>
<p class="note">Paired by seed (same data order and head initialization); 95% t-interval over seeds. An interval containing 0 means the study cannot tell the schedule from standard.</p>
${differences}
<h2>Per language</h2>
<figure>${bars}</figure>
<h2>tr(F) during training</h2>
<p class="note">tr(F): the trace of the Fisher information of each task-adapter block, estimated from squared gradients of the model's own (argmax or sampled) labels on training batches. "Per trainable block" divides the sum by the number of trainable blocks, as the paper's Fig. 3. Dotted lines mark unfreeze events.</p>
<figure>${lineChart({ title: 'tr(F) per trainable block, mean over seeds', xLabel: 'training step', yLabel: 'tr(F) / trainable blocks', series: normalised })}</figure>
${perSchedule.join('\n')}
<h2>Unfreeze order of each run</h2>
${order}
<h2>tr(F) statistics and zero-shot transfer</h2>
<p class="note">Across all runs: Spearman's rank correlation between a statistic of the smoothed per-trainable-block tr(F) curve (its peak, the step of the peak, its mean level, the width of the span at or above half the peak) and the target average. The research states this link qualitatively; with few runs the figure is noisy.</p>
${correlations}
<h2>Runs</h2>
${runs}`;
  return writeReport(dir, page(`Thaw study: ${r.task}`, body));
}

/** The report of one run: its results, loss, tr(F) per block and unfreeze order. */
export async function runReport(dir: string): Promise<string> {
  const config = await readJson<Record<string, unknown>>(join(dir, 'config.json'), 'the run configuration');
  const results = existsSync(join(dir, 'results.json')) ? await readJson<RunResults>(join(dir, 'results.json'), 'the run results') : undefined;
  const lines = (await readFile(join(dir, 'log.jsonl'), 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { step: number; loss: number });
  const loss = lineChart({ title: 'training loss', xLabel: 'step', yLabel: 'loss', series: [{ name: 'loss', points: lines.map((l) => [l.step, l.loss]) }] });
  const events = await readEvents(dir);
  const resultTable = results
    ? table(['language', results.metric], runResultRows(results), 'results')
    : '<p class="note">No results.json yet: the run has not finished.</p>';
  // Runs written before the trainer's option was named `schedule` recorded it as `policy`.
  const body = `<h1>Thaw run: ${escapeXml(String(config.schedule ?? config.policy ?? ''))}</h1>
<h2>Results</h2>
${resultTable}
<h2>Training</h2>
<figure>${loss}</figure>
${await fisherChart(dir, 'tr(F) per block (raw) and per trainable block (dashed)')}
<h2>Unfreeze order</h2>
${table(['step', 'blocks'], events.map((e) => [String(e.step), e.blocks.join(', ') || '–']), 'order')}
<h2>Configuration</h2>
<pre>${escapeXml(JSON.stringify(config, null, 2))}</pre>`;
  return writeReport(dir, page('Thaw run', body));
}

/** Rebuilds the report of a study or a run directory. */
export async function rebuildReport(dir: string): Promise<string> {
  if (existsSync(join(dir, 'study.json'))) return studyReport(dir);
  if (existsSync(join(dir, 'config.json'))) return runReport(dir);
  throw new UsageError(`${dir} is neither a study (study.json) nor a run directory (config.json)`);
}
