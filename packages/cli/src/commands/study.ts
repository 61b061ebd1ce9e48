/**
 * `thaw study` under each executor (inline, local workers, Slurm), the
 * worker one run of a study (`thaw study-run`, hidden), and following and
 * repairing a study: `thaw status`, `thaw collect`, `thaw cancel`.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graph } from '@thaw/autograd';
import {
  checkSlurm, collectStudy, describeOwner, readStudyFile, runLocalPool, runStudy, startStudy, submitStudy, trainStudyRun, unfinishedRuns, waitForJob,
  type StudyPlan, type StudyResults, type StudyStatus, type StudySubmission, type ThawCommand,
} from '@thaw/adapters';
import { listAdapters, type Gpu } from '@thaw/kernels';
import { studyReport } from '../report/html.js';
import { UsageError } from '../ui/errors.js';
import { USER_STDERR_FD } from '../ui/stderr.js';
import { pct } from '../ui/format.js';
import { humanTime, progressBar, stepProgress } from '../ui/progress.js';
import { table } from '../ui/table.js';
import { clearForOverwrite } from './task.js';

/** The study's summary table: schedules × (source, targets, target average), mean ± std in %; a partial study says how many runs it holds. */
export function formatStudy(r: StudyResults): string {
  const ms = (s: { mean: number; std: number } | undefined) => (s ? `${pct(s.mean)} ± ${pct(s.std)}` : '–');
  const rows = Object.entries(r.schedules).map(([name, s]) => [name, ms(s.source), ...r.targets.map((t) => ms(s.targets[t])), ms(s.targetAverage),
    s.differenceToStandard ? `${s.differenceToStandard.mean >= 0 ? '+' : ''}${pct(s.differenceToStandard.mean)}${s.differenceToStandard.low === null ? '' : ` [${pct(s.differenceToStandard.low)}, ${pct(s.differenceToStandard.high)}]`}` : '–']);
  const correlations = r.correlations.map((c) => [c.statistic, c.spearman === null || !Number.isFinite(c.spearman) ? '–' : c.spearman.toFixed(3), String(c.n)]);
  return [
    ...(r.runs.length < r.planned ? [`partial study: ${r.runs.length} of ${r.planned} runs have finished (thaw status tells the others' state)`, ''] : []),
    `${r.task} (${r.metric}, %), mean ± std over seeds ${r.seeds.join(', ')}; Δ avg: paired difference to standard on the target average [95% interval]`,
    '',
    table(['schedule', `${r.source} (test)`, ...r.targets, 'target avg', 'Δ avg vs standard'], rows),
    '',
    'Spearman correlation of tr(F) curve statistics with the target average, over all runs:',
    '',
    table(['statistic', 'spearman', 'runs'], correlations),
  ].join('\n');
}

/** The executors of `thaw study --executor`. */
export const EXECUTORS = ['inline', 'local', 'slurm'] as const;
export type Executor = (typeof EXECUTORS)[number];

/** How `thaw study` runs a plan: the command-line switches, none of which is an option of the study itself. */
export interface StudyExecution {
  executor: Executor;
  resume: boolean;
  overwrite: boolean;
  /** local: worker processes, and the adapters they are pinned to (names for --device; empty: the default). */
  workers: number;
  devices: string[];
  /** slurm: the % throttle, the sbatch options (the config's, then the command line's), the set-up line, --wait. */
  maxParallel?: number;
  slurmOptions: string[];
  setup?: string;
  wait: boolean;
  /** How this process's `thaw` is started, with the global options a worker needs. */
  thaw: ThawCommand;
}

/**
 * How workers and Slurm jobs start thaw: `node <this checkout's main.js>`
 * with the global options given, in this environment less the descriptor
 * this process writes its messages to (a worker is a fresh command: it
 * sets up its own).
 */
export function thisThaw(globals: { backend?: string }, extra: string[] = []): ThawCommand {
  const main = fileURLToPath(new URL('../main.js', import.meta.url));
  const { [USER_STDERR_FD]: _, ...env } = process.env;
  return { argv: [process.execPath, main, ...(globals.backend ? ['--backend', globals.backend] : []), ...extra], env };
}

/**
 * The adapter names `--devices` lists: an entry is an index into the list
 * `thaw devices` prints, or a part of an adapter's name.
 */
export async function resolveDevices(list: string | undefined): Promise<string[]> {
  if (list === undefined) return [];
  const entries = list.split(',').map((e) => e.trim());
  if (entries.some((e) => !e)) throw new UsageError(`--devices: expected a comma-separated list of adapter indices or names, got '${list}'`);
  const adapters = await listAdapters();
  return entries.map((entry) => {
    if (!/^\d+$/.test(entry)) return entry;
    const adapter = adapters[Number(entry)];
    if (!adapter) throw new UsageError(`--devices: there is no adapter ${entry}; this machine has ${adapters.length === 1 ? 'one' : adapters.length}${adapters.length ? `: ${adapters.map((a, i) => `${i} ${a.name} (${a.backend})`).join(', ')}` : ''} (thaw devices lists them)`);
    return adapter.name;
  });
}

/** What `thaw study` ends with: the results (with --wait or a finished executor), or the Slurm jobs it submitted. */
export type StudyOutcome = { results: StudyResults; report: string; failed: number } | { submitted: StudySubmission; runs: number };

/** Aggregates what has finished and rebuilds the report. */
export async function collectCommand(dir: string): Promise<{ results: StudyResults; report: string }> {
  const results = await collectStudy(dir);
  return { results, report: await studyReport(dir) };
}

/**
 * Runs a plan under the chosen executor: checks what can be checked before
 * anything is written (Slurm's commands and MaxArraySize), writes or with
 * --resume compares study.json, then starts every run not finished.
 */
export async function runStudyCommand(
  withGpu: <T>(use: (gpu: Gpu) => Promise<T>) => Promise<T>, plan: StudyPlan, x: StudyExecution, note: (line: string) => void,
): Promise<StudyOutcome> {
  if (x.overwrite && x.resume) throw new UsageError('--overwrite and --resume contradict each other; choose one');
  const arraySize = x.executor === 'slurm' ? await checkSlurm() : 0;
  if (!x.resume) await clearForOverwrite(plan.out, 'study.json', x.overwrite);
  const fresh = !existsSync(join(plan.out, 'study.json'));
  await startStudy(plan, x.resume);
  const todo = await unfinishedRuns(plan.out);
  if (x.executor === 'inline') return { ...(await withGpu((gpu) => runInline(gpu, plan))), failed: 0 };
  if (x.executor === 'local') {
    const total = plan.runs.length;
    const ends = await runLocalPool({
      dir: plan.out, indices: todo, workers: x.workers, devices: x.devices, thaw: x.thaw,
      onRunStart: (i, device) => note(`run ${i + 1}/${total} ${plan.runs[i]!.schedule} seed ${plan.runs[i]!.seed}: started${device ? ` on ${device}` : ''}`),
      onRunEnd: (e) => note(`run ${e.index + 1}/${total} ${plan.runs[e.index]!.schedule} seed ${plan.runs[e.index]!.seed}: ${e.code === 0 ? 'done' : `failed (exit code ${e.code ?? 'none: killed'}; log ${e.log})`}`),
    });
    return { ...(await collectCommand(plan.out)), failed: ends.filter((e) => e.code !== 0).length };
  }
  if (!todo.length) return { ...(await collectCommand(plan.out)), failed: 0 };
  let submitted: StudySubmission;
  try {
    submitted = await submitStudy(plan.out, arraySize, {
      indices: todo, ...(x.maxParallel ? { maxParallel: x.maxParallel } : {}), options: x.slurmOptions, ...(x.setup ? { setup: x.setup } : {}), thaw: x.thaw,
    });
  } catch (e) {
    // Nothing was submitted: a study this command began leaves nothing behind.
    if (fresh) for (const path of ['study.json', 'slurm']) await rm(join(plan.out, path), { recursive: true, force: true });
    throw e;
  }
  if (!x.wait) return { submitted, runs: todo.length };
  note(`waiting for the aggregation job ${submitted.collect} (arrays ${submitted.arrays.map((a) => a.jobId).join(', ')})…`);
  await waitForJob(submitted.collect);
  const results = await collectStudy(plan.out);
  return { results, report: join(plan.out, 'report.html'), failed: results.planned - results.runs.length };
}

/** The inline executor: every unfinished run in this process, with a progress bar. */
async function runInline(gpu: Gpu, plan: StudyPlan): Promise<{ results: StudyResults; report: string }> {
  const totalSteps = plan.runs.length * plan.run.steps;
  const bar = progressBar(totalSteps, 'study');
  const started = performance.now();
  let done = 0;
  let current = '';
  let runStarted = started;
  try {
    await runStudy(new Graph(gpu), plan, {
      onRunStart: (index, total, schedule, seed) => {
        current = `run ${index + 1}/${total} ${schedule} seed ${seed}`;
        runStarted = performance.now();
      },
      onRunEnd: (run) => {
        const r = run.results;
        bar.note(`${current}: ${r.source.lang} ${pct(r.source.test)}, target avg ${pct(r.targetAverage)} (${humanTime((performance.now() - runStarted) / 1000)})`);
      },
      onStep: (r) => {
        done++;
        const elapsed = (performance.now() - started) / 1000;
        bar.tick(`${current} · step ${r.step + 1}/${plan.run.steps} · loss ${r.loss.toFixed(3)} · ETA ${humanTime((elapsed / done) * (totalSteps - done))}`);
      },
      onNote: (message) => bar.note(message),
    });
    return await collectCommand(plan.out);
  } finally {
    bar.done();
  }
}

/** What `thaw study --executor slurm` prints without --wait. */
export function formatSubmitted(dir: string, s: StudySubmission, runs: number): string {
  const arrays = s.arrays.map((a) => `${a.jobId} (runs ${a.offset + a.indices[0]!}–${a.offset + a.indices.at(-1)!})`).join(', ');
  return [
    `submitted ${runs} run${runs === 1 ? '' : 's'} of the study in ${dir} to Slurm`,
    `  job array${s.arrays.length === 1 ? '' : 's'}: ${arrays}`,
    `  aggregation job: ${s.collect} (writes results.json and report.html when the runs have ended)`,
    '',
    `follow it:     thaw status ${dir}`,
    `repair it:     thaw study … --resume (the same options) starts the runs not done`,
    `cancel it:     thaw cancel ${dir}`,
    `results:       thaw collect ${dir} (any time; a partial study says how many runs it holds)`,
  ].join('\n');
}

/** `thaw study-run`: trains run `index` of the study in `dir`; `note` hears what the worker decided. */
export async function runStudyRunCommand(gpu: Gpu, dir: string, index: number, log: string | undefined, note: (line: string) => void): Promise<string> {
  const file = await readStudyFile(dir);
  const entry = file.runs[index];
  const progress = stepProgress(`run ${index + 1}/${file.runs.length}${entry ? ` ${entry.schedule} seed ${entry.seed}` : ''}`, entry?.spec.steps ?? 1);
  try {
    const outcome = await trainStudyRun(new Graph(gpu), dir, index, {
      ...(log ? { log: resolve(log) } : {}), onStep: progress.onStep,
      onTakeOver: (owner) => note(`taking over the stale claim of ${describeOwner(owner)} on ${entry!.dir}`),
    });
    return outcome.state === 'done'
      ? `${entry!.dir}: done`
      : `${entry!.dir}: left to the worker that holds it (${outcome.owner ? describeOwner(outcome.owner) : 'its claim is being written'})`;
  } finally {
    progress.done();
  }
}

/** `thaw status`'s table: one row per run; a failed run with its log and last error line. */
export function formatStatus(dir: string, s: StudyStatus): string {
  const rows = s.runs.map((r) => [r.schedule, String(r.seed), r.state, r.job ?? '', r.state === 'failed' ? `${r.error ?? ''}${r.log ? ` (log: ${r.log})` : ''}` : r.dir]);
  return `${s.done} of ${s.total} runs done in ${dir}\n\n${table(['schedule', 'seed', 'state', 'job', 'folder, or why it failed'], rows)}`;
}
