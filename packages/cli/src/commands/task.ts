/** `thaw train` and `thaw eval`: task-adapter runs on the built-in suite, or on real checkpoints and dataset files. */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Graph } from '@thaw/autograd';
import {
  checkRunFits, evaluateHubRun, evaluateSuiteRun, stepLimits, hubRunSpec, isHubRunSpec, readHubRunSpec, readSuiteRunSpec, suiteRunSpec, trainHubRun, trainSuiteRun,
  type HubRunSpec, type LoadReport, type RunResults, type SuiteRunSpec,
} from '@thaw/adapters';
import type { Gpu } from '@thaw/kernels';
import { UsageError } from '../ui/errors.js';
import { runResultRows } from '../ui/format.js';
import { stepProgress } from '../ui/progress.js';
import { table } from '../ui/table.js';

/** One run's results as a table: language, metric. */
export function formatRunResults(r: RunResults): string {
  return table(['language', `${r.metric} (%)`], runResultRows(r));
}

/**
 * Removes `dir` for --overwrite, only once the options have been checked, and
 * only when it holds what Thaw wrote: a study (study.json), or a run whose
 * config.json Thaw made. A Hugging Face model folder also has a config.json,
 * and must never be deleted by a mistyped --out.
 */
export async function clearForOverwrite(dir: string, marker: string, overwrite: boolean | undefined): Promise<void> {
  const path = join(dir, marker);
  if (!existsSync(path)) return;
  if (marker === 'config.json') await checkThawRun(dir);
  if (!overwrite) throw new UsageError(`--out ${dir} already holds a ${marker === 'study.json' ? 'study' : 'run'}; use --overwrite to replace it, or another --out`);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Refuses an `--out` whose config.json Thaw did not write (a Hugging Face
 * model folder has one too), before --overwrite removes it or --resume
 * writes into it.
 */
export async function checkThawRun(dir: string): Promise<void> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) return;
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    // Not JSON: not a run either.
  }
  if (!('suite' in config || 'benchmark' in config || 'stage' in config)) throw new UsageError(`--out ${dir} holds a config.json that Thaw did not write (a model folder?); choose another --out`);
}

/** One line on what a checkpoint load left unused (heads, pooler), for stderr. */
export function formatLoadReport(r: LoadReport): string {
  const unused = r.unexpected.length ? `; unused: ${r.unexpected.length} tensor(s) (${r.unexpected.slice(0, 3).join(', ')}${r.unexpected.length > 3 ? ', …' : ''})` : '';
  return `loaded ${r.files.join(', ')}${unused}${r.skipped.length ? `; skipped ${r.skipped.length} integer tensor(s)` : ''}`;
}

/**
 * Trains the run a spec describes into its `out`, replacing a run there
 * with `overwrite`, continuing it from its last checkpoint with `resume`;
 * for a run on real files, `note` gets the checkpoint's load report.
 */
export async function runTrain(gpu: Gpu, spec: SuiteRunSpec | HubRunSpec, overwrite: boolean, note: (line: string) => void, resume = false): Promise<RunResults> {
  if (overwrite && resume) throw new UsageError('--overwrite and --resume contradict each other; choose one');
  // Before --overwrite removes anything: a step that cannot fit is refused.
  checkRunFits(spec, stepLimits(gpu));
  if (resume) await checkThawRun(spec.out);
  else await clearForOverwrite(spec.out, 'config.json', overwrite);
  const progress = stepProgress(`train ${spec.task} ${spec.schedule}`, spec.steps);
  try {
    const graph = new Graph(gpu);
    const run = isHubRunSpec(spec)
      ? await trainHubRun(graph, spec, { onStep: progress.onStep, onLoad: (r) => note(formatLoadReport(r)) }, resume)
      : await trainSuiteRun(graph, spec, { onStep: progress.onStep }, resume);
    return run.results;
  } finally {
    progress.done();
  }
}

/** Re-evaluates the run in `dir` with its own spec, on `targets` (comma-separated) when given. */
export async function runEval(gpu: Gpu, dir: string, targets?: string): Promise<RunResults> {
  if (!existsSync(join(dir, 'config.json'))) throw new UsageError(`${dir} is not a run directory (no config.json); make one with thaw train`);
  const graph = new Graph(gpu);
  const given = { out: dir, ...(targets !== undefined ? { targets } : {}) };
  const hub = await readHubRunSpec(dir);
  if (hub) return evaluateHubRun(graph, hubRunSpec({ ...hub, ...given }));
  return evaluateSuiteRun(graph, suiteRunSpec({ ...(await readSuiteRunSpec(dir)), ...given }));
}
