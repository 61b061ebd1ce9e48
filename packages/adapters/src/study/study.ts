/**
 * A study (`thaw study`): the task adapter trained under each schedule over
 * several seeds, every run evaluated zero-shot on every target language,
 * and the whole summarized in the study's results.json:
 *
 *   <out>/study.json                the plan: the study's options and every run with its
 *                                   full options, paths portable (paths.ts)
 *   <out>/runs/<schedule>/seed-<s>/ one run directory each (see Trainer), with its claim
 *                                   (claims.ts) while a worker trains it, failed.json when it failed
 *   <out>/results.json              per schedule and language: mean, std, per-seed values;
 *                                   each schedule's paired difference to `standard` on the
 *                                   target average with a 95% interval; the Spearman
 *                                   correlation of tr(F) curve statistics with the target average
 *
 * The runs are independent: studyPlan checks a study and makes each run's
 * spec before anything is written; startStudy writes study.json (or, to
 * resume, compares it); trainStudyRun trains one run of it, wherever it
 * runs (this process, a local worker, a Slurm array task); collectStudy
 * aggregates what has finished. A run that stopped continues from its last
 * checkpoint.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { OptionError } from '../errors/option-error.js';
import { writeJsonAtomic } from '../formats/json-files.js';
import type { RunResults, StepReport } from '../train/trainer.js';
import { trainHubRun, type HubRunSpec } from '../hub/run.js';
import { SUITE_DEFAULTS } from '../spec/defaults.js';
import type { RunGiven } from '../spec/fields.js';
import { isHubRunSpec, runSpec } from '../spec/run-spec.js';
import { trainSuiteRun, type SuiteRunSpec } from '../suite/run.js';
import { claimRun, describeOwner, releaseRun, type ClaimOwner } from './claims.js';
import { portablePaths, resolvedPaths } from './paths.js';
import { curveStatistics, CURVE_STATISTICS, pairedDifference, spearman, summarize, type CurveStatistics, type Difference, type Summary } from './stats.js';

export type StudyPreset = 'smoke' | 'default' | 'power' | 'full';

/** What a study varies and what it holds fixed, as given. */
export interface StudyOptions {
  out: string;
  /** The preset the options come from, or `config` for a study config file on real files. */
  preset: StudyPreset | 'config';
  /** Schedules compared; `full` (the base trains too) is the reference row. */
  schedules: string[];
  seeds: number[];
  /**
   * The options every run shares, as given: a suite run's, or a run's on
   * real files (with `model`). Each run goes to its own folder and takes
   * its schedule and seed from the study.
   */
  run: RunGiven;
}

/** A run's spec, less `out`: what study.json records of each run. */
type SpecOfRun = Omit<SuiteRunSpec, 'out'> | Omit<HubRunSpec, 'out'>;

/** A study checked and laid out: what studyPlan makes and the executors run. */
export interface StudyPlan {
  out: string;
  preset: StudyPreset | 'config';
  schedules: string[];
  seeds: number[];
  /** The spec every run shares, less `out`; each run has its own schedule and seed. */
  run: SpecOfRun;
  /** Every run, schedule by schedule, seed by seed: its folder relative to `out`, and its spec. */
  runs: { schedule: string; seed: number; dir: string; spec: SuiteRunSpec | HubRunSpec }[];
}

/**
 * study.json: the plan as plain JSON, paths portable (paths.ts). It holds
 * the options the study was started with and nothing of how it is executed
 * (no executor, no --resume): `thaw study --resume` compares it whole.
 */
export interface StudyFile {
  preset: StudyPreset | 'config';
  schedules: string[];
  seeds: number[];
  /** The spec every run shares, less `out`. */
  run: SpecOfRun;
  /** Every run: its schedule, seed, folder (relative to the study folder) and full spec, less `out`. */
  runs: { schedule: string; seed: number; dir: string; spec: SpecOfRun }[];
}

/**
 * Presets. `smoke` takes a few minutes on a 2-core CPU through lavapipe
 * (tests). `default` fits `npm start` in 20 minutes there: NLI needs about
 * 1,500 steps to learn neutral past the polarity plateau (docs/results.md),
 * so it compares `standard` with `fun` over two seeds, the fewest that give
 * an interval. `power` compares `standard`, `gu` and `fun` over five seeds
 * each in the default's run shape: fifteen runs, about an hour there with
 * two runs at a time (an executor's job: `--executor local` or `slurm`), the
 * first study whose intervals can separate schedules. `full` runs every
 * schedule over three seeds and takes hours there.
 */
export const STUDY_PRESETS: Record<StudyPreset, { schedules: string[]; seeds: number[]; run: Omit<SuiteRunSpec, 'out'> }> = {
  smoke: {
    schedules: ['standard', 'gu', 'fun'],
    seeds: [1],
    // Long enough to learn the polarity part of NLI (about 2/3 accuracy), the least a test can call learning.
    run: { ...SUITE_DEFAULTS, steps: 300, k: 50, devSize: 96, testSize: 96, fisherEvery: 50, fisherBatches: 1, evalEvery: 100, targets: ['l1', 'l7'] },
  },
  // Four runs of 1,500 steps: what fits 20 minutes (docs/results.md has the timing).
  default: {
    schedules: ['standard', 'fun'],
    seeds: [1, 2],
    run: { ...SUITE_DEFAULTS, steps: 1500, k: 200, fisherEvery: 50, evalEvery: 150 },
  },
  power: {
    schedules: ['standard', 'gu', 'fun'],
    seeds: [1, 2, 3, 4, 5],
    run: { ...SUITE_DEFAULTS, steps: 1500, k: 200, fisherEvery: 50, evalEvery: 150 },
  },
  full: {
    schedules: ['standard', 'lpft', 'gu', 'fun', 'rand', 'full'],
    seeds: [1, 2, 3],
    run: { ...SUITE_DEFAULTS, steps: 3000, k: 300, fisherEvery: 50, fisherBatches: 4, evalEvery: 250, devSize: 600, testSize: 1500 },
  },
};

/** One run of the study as results.json records it. */
export interface StudyRun {
  schedule: string;
  seed: number;
  /** Relative to the study directory. */
  dir: string;
  results: RunResults;
  /** Blocks in the order the schedule unfroze them, with the step of each. */
  unfreezeOrder: { step: number; blocks: number[] }[];
  /** Of the tracked tr(F) per trainable block; absent when tr(F) was not tracked. */
  curve?: CurveStatistics;
  bestStep: number;
}

/** Aggregates per schedule; `S` as in the design: mean, std and per-seed values. */
export interface ScheduleResults {
  source: Summary;
  sourceDev: Summary;
  targets: Record<string, Summary>;
  targetAverage: Summary;
  /** Paired (same seed) difference to `standard` on the target average. */
  differenceToStandard?: Difference;
}

export interface StudyResults {
  task: string;
  metric: string;
  source: string;
  /** Closest to the source first. */
  targets: string[];
  preset: StudyPreset | 'config';
  seeds: number[];
  /** Runs the study plans; `runs` holds the finished ones, fewer while some are not. */
  planned: number;
  schedules: Record<string, ScheduleResults>;
  /** Spearman ρ over all runs between a tr(F) curve statistic and the zero-shot target average. */
  correlations: { statistic: keyof CurveStatistics; spearman: number; n: number }[];
  runs: StudyRun[];
}

export interface StudyCallbacks {
  onRunStart?(index: number, total: number, schedule: string, seed: number): void;
  onStep?(report: StepReport): void;
  onRunEnd?(run: StudyRun): void;
  /** A note for the user: a stale claim taken over, a run left to the live worker that holds it. */
  onNote?(message: string): void;
}

/** The folder of one run, relative to the study. */
export function runFolder(schedule: string, seed: number): string {
  return join('runs', schedule.replace(/[^a-zA-Z0-9_-]/g, '_'), `seed-${seed}`);
}

async function readJsonLines<T>(path: string): Promise<T[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

/** The tr(F)-per-trainable-block curve a run logged: steps and values. */
export async function fisherCurve(dir: string): Promise<{ steps: number[]; values: number[]; perBlock: number[][] }> {
  const lines = await readJsonLines<{ step: number; fisher?: number[]; fisherPerTrainableBlock?: number }>(join(dir, 'log.jsonl'));
  const tracked = lines.filter((l) => l.fisher);
  return { steps: tracked.map((l) => l.step), values: tracked.map((l) => l.fisherPerTrainableBlock!), perBlock: tracked.map((l) => l.fisher!) };
}

/** What results.json records of a finished run. */
async function describeRun(out: string, schedule: string, seed: number, results: RunResults): Promise<StudyRun> {
  const dir = runFolder(schedule, seed);
  const events = await readJsonLines<{ step: number; blocks: number[] }>(join(out, dir, 'events.jsonl'));
  const curve = await fisherCurve(join(out, dir));
  const best = existsSync(join(out, dir, 'checkpoints/best/state.json'))
    ? (JSON.parse(await readFile(join(out, dir, 'checkpoints/best/state.json'), 'utf8')) as { step: number }).step : -1;
  return {
    schedule, seed, dir, results,
    unfreezeOrder: events.filter((e) => e.blocks.length).map((e) => ({ step: e.step, blocks: e.blocks })),
    ...(curve.steps.length ? { curve: curveStatistics(curve.steps, curve.values) } : {}),
    bestStep: best,
  };
}

/** Per-schedule summaries, differences to standard, and the correlations, of the runs finished so far. */
export function aggregate(o: Pick<StudyPlan, 'preset' | 'schedules' | 'seeds' | 'run'>, runs: readonly StudyRun[]): StudyResults {
  const schedules: Record<string, ScheduleResults> = {};
  const bySchedule = (s: string) => o.seeds.map((seed) => runs.find((r) => r.schedule === s && r.seed === seed)).filter((r): r is StudyRun => Boolean(r));
  for (const s of o.schedules) {
    const rs = bySchedule(s);
    schedules[s] = {
      source: summarize(rs.map((r) => r.results.source.test ?? NaN)),
      sourceDev: summarize(rs.map((r) => r.results.source.dev)),
      targets: Object.fromEntries(o.run.targets.map((t) => [t, summarize(rs.map((r) => r.results.targets[t] ?? NaN))])),
      targetAverage: summarize(rs.map((r) => r.results.targetAverage ?? NaN)),
    };
  }
  const standard = bySchedule('standard');
  if (standard.length) {
    for (const s of o.schedules) {
      if (s === 'standard') continue;
      // Pair by seed: the same seed shares the data order and the head's initialization.
      const pairs = bySchedule(s).map((r) => [r, standard.find((x) => x.seed === r.seed)] as const).filter((p) => p[1]);
      schedules[s]!.differenceToStandard = pairedDifference(pairs.map((p) => p[0].results.targetAverage!), pairs.map((p) => p[1]!.results.targetAverage!));
    }
  }
  const tracked = runs.filter((r) => r.curve && r.results.targetAverage !== undefined);
  const correlations = CURVE_STATISTICS.map((statistic) => ({
    statistic,
    spearman: spearman(tracked.map((r) => r.curve![statistic]), tracked.map((r) => r.results.targetAverage!)),
    n: tracked.length,
  }));
  const first = runs[0]?.results;
  return {
    task: o.run.task, metric: first?.metric ?? '', source: o.run.source, targets: o.run.targets, preset: o.preset, seeds: o.seeds,
    planned: o.schedules.length * o.seeds.length, schedules, correlations, runs: [...runs],
  };
}

/**
 * Checks a study's options and makes every run's spec (runSpec), before
 * anything is written; throws an OptionError naming the flag.
 */
export function studyPlan(o: StudyOptions): StudyPlan {
  if (!o.schedules.length) throw new OptionError('--schedules: name at least one schedule');
  const twice = o.schedules.find((s, i) => o.schedules.indexOf(s) !== i);
  if (twice) throw new OptionError(`--schedules: '${twice}' is listed twice`);
  if (!o.seeds.length) throw new OptionError('--seeds must be at least 1');
  const { out: _, ...run } = runSpec({ ...o.run, out: o.out });
  const runs = o.schedules.flatMap((schedule) => o.seeds.map((seed) => {
    const dir = runFolder(schedule, seed);
    return { schedule, seed, dir, spec: runSpec({ ...run, out: join(resolve(o.out), dir), schedule, seed }) };
  }));
  return { out: o.out, preset: o.preset, schedules: o.schedules, seeds: o.seeds, run, runs };
}

/** A plan as study.json records it. */
export function studyFile(plan: StudyPlan): StudyFile {
  const portable = <T extends object>(spec: T) => portablePaths(spec, plan.out);
  return {
    preset: plan.preset, schedules: plan.schedules, seeds: plan.seeds, run: portable(plan.run),
    runs: plan.runs.map(({ schedule, seed, dir, spec: { out: _, ...spec } }) => ({ schedule, seed, dir, spec: portable(spec) })),
  };
}

/** The study.json of the study folder `dir`; errors name the file. */
export async function readStudyFile(dir: string): Promise<StudyFile> {
  const path = join(dir, 'study.json');
  let file: StudyFile;
  try {
    file = JSON.parse(await readFile(path, 'utf8')) as StudyFile;
  } catch (e) {
    throw new OptionError(`${path}: cannot read the study's plan (${(e as Error).message}); is ${dir} a study folder made by thaw study?`);
  }
  if (!Array.isArray(file.runs)) throw new OptionError(`${path}: no list of runs; it was written by an older thaw: start the study again in another folder`);
  return file;
}

/**
 * Writes the plan's study.json, or with `resume` checks that the one there
 * was written with the same options. Without `resume`, a folder that holds
 * a study already is refused (the caller clears it for --overwrite).
 */
export async function startStudy(plan: StudyPlan, resume: boolean): Promise<void> {
  const path = join(plan.out, 'study.json');
  const file = studyFile(plan);
  if (!existsSync(path)) return writeJsonAtomic(path, file);
  if (!resume) throw new OptionError(`--out ${plan.out} already holds a study; use --resume to continue it, --overwrite to replace it, or another --out`);
  const saved = JSON.parse(await readFile(path, 'utf8')) as unknown;
  if (JSON.stringify(saved) !== JSON.stringify(file)) throw new OptionError(`--resume: ${path} was written with other options; resume with the same options, or start over with --overwrite (or by removing ${plan.out})`);
}

/** Whether a run folder holds a finished run. */
export const runIsDone = (runDir: string) => existsSync(join(runDir, 'results.json'));

/** The indices of study.json's runs in `dir` that have not finished. */
export async function unfinishedRuns(dir: string): Promise<number[]> {
  const file = await readStudyFile(dir);
  return file.runs.flatMap((r, i) => (runIsDone(join(dir, r.dir)) ? [] : [i]));
}

/** failed.json of a run folder: why the run's last attempt failed, and where its output went. */
export interface RunFailure {
  error: string;
  log?: string;
  at: string;
}

/** What trainStudyRun did: trained (or found finished) the run, or left it to the live owner of its claim. */
export type StudyRunOutcome = { state: 'done'; run: StudyRun } | { state: 'claimed'; owner?: ClaimOwner };

/**
 * Trains run `index` of the study in `dir` (study.json's order): claims its
 * folder, makes its spec from the plan with the paths resolved here, trains
 * it, continuing from its last checkpoint when it stopped, and releases the
 * claim. A finished run is left as it is; a run another live worker holds
 * is left to it. A failure is recorded in the run's failed.json (with
 * `log`, where this worker's output goes) and thrown.
 */
export async function trainStudyRun(
  graph: Graph, dir: string, index: number,
  o: { log?: string; onStep?(report: StepReport): void; onTakeOver?(owner: ClaimOwner): void } = {},
): Promise<StudyRunOutcome> {
  const file = await readStudyFile(dir);
  const entry = file.runs[index];
  if (!Number.isInteger(index) || !entry) throw new OptionError(`--index ${index}: ${join(dir, 'study.json')} has runs 0 to ${file.runs.length - 1}`);
  const runDir = join(resolve(dir), entry.dir);
  const done = async () => ({ state: 'done' as const, run: await describeRun(dir, entry.schedule, entry.seed, JSON.parse(await readFile(join(runDir, 'results.json'), 'utf8')) as RunResults) });
  if (runIsDone(runDir)) return done();
  const claim = await claimRun(runDir, o.log);
  if (!claim.claimed) return { state: 'claimed', ...(claim.owner ? { owner: claim.owner } : {}) };
  if (claim.tookOver) o.onTakeOver?.(claim.tookOver);
  try {
    // Another worker may have finished it between the check and the claim.
    if (runIsDone(runDir)) return await done();
    await rm(join(runDir, 'failed.json'), { force: true });
    const spec = runSpec({ ...resolvedPaths(entry.spec, dir), out: runDir });
    const callbacks = o.onStep ? { onStep: o.onStep } : {};
    try {
      if (isHubRunSpec(spec)) await trainHubRun(graph, spec, callbacks, true);
      else await trainSuiteRun(graph, spec, callbacks, true);
    } catch (e) {
      const failure: RunFailure = { error: (e as Error).message ?? String(e), ...(o.log ? { log: o.log } : {}), at: new Date().toISOString() };
      await writeJsonAtomic(join(runDir, 'failed.json'), failure);
      throw e;
    }
    return await done();
  } finally {
    await releaseRun(runDir);
  }
}

/**
 * Aggregates the runs of the study in `dir` that have finished into its
 * results.json (a partial study's `runs` are fewer than `planned`).
 */
export async function collectStudy(dir: string): Promise<StudyResults> {
  const file = await readStudyFile(dir);
  const runs: StudyRun[] = [];
  for (const r of file.runs) {
    const path = join(dir, r.dir, 'results.json');
    if (existsSync(path)) runs.push(await describeRun(dir, r.schedule, r.seed, JSON.parse(await readFile(path, 'utf8')) as RunResults));
  }
  const results = aggregate(file, runs);
  await writeJsonAtomic(join(dir, 'results.json'), results);
  return results;
}

/**
 * Runs the study in this process (`--executor inline`): each run not
 * finished, one after the other, then collectStudy. study.json must have
 * been written (startStudy).
 */
export async function runStudy(graph: Graph, plan: StudyPlan, callbacks: StudyCallbacks = {}): Promise<StudyResults> {
  for (const [index, { schedule, seed }] of plan.runs.entries()) {
    callbacks.onRunStart?.(index, plan.runs.length, schedule, seed);
    const outcome = await trainStudyRun(graph, plan.out, index, {
      ...(callbacks.onStep ? { onStep: callbacks.onStep } : {}),
      onTakeOver: (owner) => callbacks.onNote?.(`${schedule} seed ${seed}: taking over the stale claim of ${describeOwner(owner)}`),
    });
    if (outcome.state === 'done') callbacks.onRunEnd?.(outcome.run);
    else callbacks.onNote?.(`${schedule} seed ${seed}: left to the worker that holds it (${outcome.owner ? describeOwner(outcome.owner) : 'claim being written'})`);
  }
  return collectStudy(plan.out);
}
