/**
 * A study (`thaw study`): the task adapter trained under each schedule over
 * several seeds, every run evaluated zero-shot on every target language,
 * and the whole summarized in the study's results.json:
 *
 *   <out>/study.json                the study's options
 *   <out>/runs/<schedule>/seed-<s>/ one run directory each (see Trainer)
 *   <out>/results.json              per schedule and language: mean, std, per-seed values;
 *                                   each schedule's paired difference to `standard` on the
 *                                   target average with a 95% interval; the Spearman
 *                                   correlation of tr(F) curve statistics with the target average
 *
 * studyPlan checks a study and makes each run's spec before anything is
 * written; runStudy runs the plan. A study continues where it stopped with
 * `resume`: finished runs (with a results.json) are kept, an unfinished one
 * starts over.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Graph } from '@thaw/autograd';
import { OptionError } from '../errors/option-error.js';
import { writeJsonAtomic } from '../formats/json-files.js';
import type { RunResults, StepReport } from '../train/trainer.js';
import { trainHubRun, type HubRunSpec } from '../hub/run.js';
import { SUITE_DEFAULTS } from '../spec/defaults.js';
import type { RunGiven } from '../spec/fields.js';
import { isHubRunSpec, runSpec } from '../spec/run-spec.js';
import { trainSuiteRun, type SuiteRunSpec } from '../suite/run.js';
import { curveStatistics, CURVE_STATISTICS, pairedDifference, spearman, summarize, type CurveStatistics, type Difference, type Summary } from './stats.js';

export type StudyPreset = 'smoke' | 'default' | 'full';

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

/** A study checked and laid out: what studyPlan makes and runStudy runs. */
export interface StudyPlan {
  out: string;
  preset: StudyPreset | 'config';
  schedules: string[];
  seeds: number[];
  /** The spec every run shares, less `out` (study.json's `run`); each run has its own schedule and seed. */
  run: Omit<SuiteRunSpec, 'out'> | Omit<HubRunSpec, 'out'>;
  /** Every run's spec, schedule by schedule, seed by seed. */
  runs: { schedule: string; seed: number; spec: SuiteRunSpec | HubRunSpec }[];
}

/**
 * Presets. `smoke` takes a few minutes on a 2-core CPU through lavapipe
 * (tests). `default` fits `npm start` in 20 minutes there: NLI needs about
 * 1,500 steps to learn neutral past the polarity plateau (docs/results.md),
 * so it compares `standard` with `fun` over two seeds, the fewest that give
 * an interval. `full` runs every schedule over three seeds and takes hours
 * there.
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
  schedules: Record<string, ScheduleResults>;
  /** Spearman ρ over all runs between a tr(F) curve statistic and the zero-shot target average. */
  correlations: { statistic: keyof CurveStatistics; spearman: number; n: number }[];
  runs: StudyRun[];
}

export interface StudyCallbacks {
  onRunStart?(index: number, total: number, schedule: string, seed: number): void;
  onStep?(report: StepReport): void;
  onRunEnd?(run: StudyRun): void;
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

/** Per-schedule summaries, differences to standard, and the correlations. */
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
    schedules, correlations, runs: [...runs],
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
  const runs = o.schedules.flatMap((schedule) => o.seeds.map((seed) => ({ schedule, seed, spec: runSpec({ ...run, out: join(o.out, runFolder(schedule, seed)), schedule, seed }) })));
  return { out: o.out, preset: o.preset, schedules: o.schedules, seeds: o.seeds, run, runs };
}

/**
 * Runs (or continues, with `resume`) a study's plan: each run not finished
 * yet, then the study's results.json.
 */
export async function runStudy(graph: Graph, plan: StudyPlan, callbacks: StudyCallbacks = {}, resume = false): Promise<StudyResults> {
  const options = { preset: plan.preset, schedules: plan.schedules, seeds: plan.seeds, run: plan.run };
  const studyFile = join(plan.out, 'study.json');
  if (existsSync(studyFile)) {
    if (!resume) throw new OptionError(`--out ${plan.out} already holds a study; use --resume to continue it, --overwrite to replace it, or another --out`);
    const saved = JSON.parse(await readFile(studyFile, 'utf8')) as unknown;
    if (JSON.stringify(saved) !== JSON.stringify(options)) throw new OptionError(`--resume: ${studyFile} was written with other options; resume with the same options, or start over with --overwrite (or by removing ${plan.out})`);
  } else {
    await writeJsonAtomic(studyFile, options);
  }
  const runs: StudyRun[] = [];
  for (const [index, { schedule, seed, spec }] of plan.runs.entries()) {
    callbacks.onRunStart?.(index, plan.runs.length, schedule, seed);
    let results: RunResults;
    if (existsSync(join(spec.out, 'results.json'))) {
      results = JSON.parse(await readFile(join(spec.out, 'results.json'), 'utf8')) as RunResults;
    } else {
      // An unfinished run (an interrupted study) starts over.
      await rm(spec.out, { recursive: true, force: true });
      const onStep = callbacks.onStep ? { onStep: callbacks.onStep } : {};
      results = isHubRunSpec(spec) ? (await trainHubRun(graph, spec, onStep)).results : (await trainSuiteRun(graph, spec, onStep)).results;
    }
    const run = await describeRun(plan.out, schedule, seed, results);
    runs.push(run);
    callbacks.onRunEnd?.(run);
  }
  const results = aggregate(options, runs);
  await writeJsonAtomic(join(plan.out, 'results.json'), results);
  return results;
}
