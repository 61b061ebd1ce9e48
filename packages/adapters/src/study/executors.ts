/**
 * Executors of a study's runs besides this process (study.ts's runStudy):
 * a pool of local worker processes, and a Slurm job array. Both start the
 * `thaw` command's worker (`thaw study-run <dir> --index <i>`), which trains
 * one run of study.json (trainStudyRun); the caller says how to start
 * `thaw` (the `ThawCommand`), since only it knows where its build lives.
 *
 * Under Slurm, the study folder records what was submitted:
 *
 *   slurm/jobs.json            every submission: its arrays (job id, offset, indices) and its collect job
 *   slurm/<job name>.sbatch    the job scripts
 *   slurm/logs/<job>_<task>.out|.err   each array task's output; collect-<job>.out the aggregation job's
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { OptionError } from '../errors/option-error.js';
import { writeJsonAtomic } from '../formats/json-files.js';
import { readStudyFile } from './study.js';
import { cancel, chunkIndices, maxArraySize, queueStates, SlurmError, submitArray, submitJob, type JobId, type SlurmOptions } from './slurm.js';

/**
 * How to start `thaw`: a program and its first arguments (e.g. node, the
 * CLI's main.js, global options), and the environment it needs (Slurm jobs
 * get sbatch's).
 */
export interface ThawCommand {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
}

/** The worker's arguments for run `index` of the study in `dir`, its output going to `log`. */
const workerArgs = (dir: string, index: number, log: string) => ['study-run', dir, '--index', String(index), '--log', log];

/** Where a local worker's output goes: the run folder's worker.log. */
export async function localLog(dir: string, index: number): Promise<string> {
  return join(resolve(dir), (await readStudyFile(dir)).runs[index]!.dir, 'worker.log');
}

/** What a local pool reports of each run as it ends. */
export interface PoolRunEnd {
  index: number;
  /** The worker's exit code (null when a signal ended it). */
  code: number | null;
  /** The worker's output. */
  log: string;
}

/**
 * Runs the runs `indices` of the study in `dir` on `workers` worker
 * processes at once. Worker slot w is pinned to `devices[w % devices.length]`
 * (an adapter name for `--device`; none: the workers' default). A run that
 * fails does not stop the others. Resolves when every run has ended.
 */
export async function runLocalPool(
  o: { dir: string; indices: readonly number[]; workers: number; devices: readonly string[]; thaw: ThawCommand; onRunStart?(index: number, device?: string): void; onRunEnd?(end: PoolRunEnd): void },
): Promise<PoolRunEnd[]> {
  const queue = [...o.indices];
  const ends: PoolRunEnd[] = [];
  const dir = resolve(o.dir);
  const slot = async (w: number) => {
    const device = o.devices.length ? o.devices[w % o.devices.length] : undefined;
    for (let index = queue.shift(); index !== undefined; index = queue.shift()) {
      const log = await localLog(dir, index);
      await mkdir(join(log, '..'), { recursive: true });
      const out = await open(log, 'a');
      o.onRunStart?.(index, device);
      const [program, ...first] = o.thaw.argv;
      const args = [...first, ...(device === undefined ? [] : ['--device', device]), ...workerArgs(dir, index, log)];
      const code = await new Promise<number | null>((done, fail) => {
        const child = spawn(program!, args, { stdio: ['ignore', out.fd, out.fd], env: o.thaw.env });
        child.on('error', fail);
        child.on('exit', (c) => done(c));
      }).finally(() => out.close());
      const end = { index, code, log };
      ends.push(end);
      o.onRunEnd?.(end);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.workers, o.indices.length) }, (_, w) => slot(w)));
  return ends;
}

/** One array of a submission: its job id, and the runs its tasks train (run = offset + task id). */
export interface SubmittedArray {
  jobId: JobId;
  offset: number;
  /** Task ids. */
  indices: number[];
}

/** One `thaw study --executor slurm` (first or --resume): its arrays and its aggregation job. */
export interface StudySubmission {
  at: string;
  arrays: SubmittedArray[];
  collect: JobId;
}

/** slurm/jobs.json. */
export interface SlurmJobs {
  submissions: StudySubmission[];
}

const jobsFile = (dir: string) => join(dir, 'slurm', 'jobs.json');

/** The study's Slurm submissions (none when it never ran under Slurm). */
export async function readSlurmJobs(dir: string): Promise<SlurmJobs> {
  if (!existsSync(jobsFile(dir))) return { submissions: [] };
  return JSON.parse(await readFile(jobsFile(dir), 'utf8')) as SlurmJobs;
}

/** The Slurm task (`<job>_<task>`) of the latest submission that includes run `index`. */
export function taskOfRun(jobs: SlurmJobs, index: number): JobId | undefined {
  for (const s of [...jobs.submissions].reverse()) {
    for (const a of s.arrays) if (a.indices.includes(index - a.offset)) return `${a.jobId}_${index - a.offset}`;
  }
  return undefined;
}

/** A word safe in a bash script. */
const quoted = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** What a study's Slurm submission needs besides the study folder. */
export interface SlurmStudyOptions {
  /** The runs to train (indices into study.json's runs). */
  indices: readonly number[];
  /** The `%` throttle of each array. */
  maxParallel?: number;
  /** The user's sbatch options, passed through (`--partition=gpu`, `--gres=gpu:1`, …). */
  options: readonly string[];
  /** A line the job scripts run first (e.g. `module load nodejs`). */
  setup?: string;
  thaw: ThawCommand;
}

/**
 * The cluster's MaxArraySize; first thing a submission asks, so a machine
 * without Slurm fails before anything is written. The error names `--executor slurm`.
 */
export async function checkSlurm(slurm?: SlurmOptions): Promise<number> {
  try {
    return await maxArraySize(slurm);
  } catch (e) {
    if (e instanceof SlurmError) throw new SlurmError(e.kind, `--executor slurm: ${e.message}`, e.command, e.stderr, e.exitCode);
    throw e;
  }
}

/**
 * Submits the runs `o.indices` of the study in `dir` as job arrays (chunked
 * below `maxArraySize`), each task training one run, and a collect job that
 * starts after them however they end (`afterany`: `afterok` never fires once
 * a run fails) and writes results.json and report.html. Records the
 * submission in slurm/jobs.json. A submission Slurm rejects throws a
 * SlurmError (kind `rejected`) that names --slurm-option and quotes Slurm;
 * when the first array is rejected nothing was submitted.
 */
export async function submitStudy(dir: string, arraySize: number, o: SlurmStudyOptions): Promise<StudySubmission> {
  const study = resolve(dir);
  const logs = join(study, 'slurm', 'logs');
  await mkdir(logs, { recursive: true });
  const name = `thaw-${basename(study).replace(/[^\w.-]+/g, '_')}`;
  const thaw = o.thaw.argv.map(quoted).join(' ');
  const slurm = { env: o.thaw.env };
  // The user's options are on sbatch's command line too (where they take precedence); here they document the job.
  const script = (lines: string[]) => [
    '#!/bin/bash', ...o.options.map((option) => `#SBATCH ${option}`), `# Written by thaw study --executor slurm for the study in ${study}.`,
    ...(o.setup ? [o.setup] : []), `cd ${quoted(study)} || exit 1`, ...lines, '',
  ].join('\n');
  const common = { scriptDir: join(study, 'slurm'), options: o.options };
  const rejected = (e: unknown) => {
    if (e instanceof SlurmError && e.kind === 'rejected') {
      const said = e.message.split('\n')[0]!;
      return new SlurmError('rejected', `--slurm-option ${o.options.join(' ') || '(none)'}: ${said}`, e.command, e.stderr, e.exitCode);
    }
    return e;
  };
  const arrays: SubmittedArray[] = [];
  try {
    for (const chunk of chunkIndices(o.indices, arraySize)) {
      const log = `${logs}/\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}.err`;
      const submitted = await submitArray({
        ...common, name: `${name}-${chunk.offset}`, indices: chunk.indices, ...(o.maxParallel ? { maxParallel: o.maxParallel } : {}),
        output: join(logs, '%A_%a.out'), error: join(logs, '%A_%a.err'),
        script: script([`exec ${thaw} study-run ${quoted(study)} --index $((${chunk.offset} + SLURM_ARRAY_TASK_ID)) --log "${log}"`]),
      }, slurm);
      arrays.push({ jobId: submitted.jobId, offset: chunk.offset, indices: chunk.indices });
    }
    const collect = await submitJob({
      ...common, name: `${name}-collect`, output: join(logs, 'collect-%j.out'),
      dependency: { type: 'afterany', jobs: arrays.map((a) => a.jobId) },
      script: script([`exec ${thaw} collect ${quoted(study)}`]),
    }, slurm);
    const submission = { at: new Date().toISOString(), arrays, collect: collect.jobId };
    const jobs = await readSlurmJobs(study);
    await writeJsonAtomic(jobsFile(study), { submissions: [...jobs.submissions, submission] });
    return submission;
  } catch (e) {
    // Arrays already submitted would train without a collect job: take them back.
    await cancel(arrays.map((a) => a.jobId), slurm);
    throw rejected(e);
  }
}

/** Waits (polling the queue every `pollMs`) until the job has left Slurm's queue. */
export async function waitForJob(jobId: JobId, pollMs = 1000, slurm?: SlurmOptions): Promise<void> {
  while ((await queueStates([jobId], slurm)).has(jobId)) await new Promise((r) => setTimeout(r, pollMs));
}

/** Cancels every job the study submitted (its arrays and collect jobs); returns their ids. */
export async function cancelStudy(dir: string, slurm?: SlurmOptions): Promise<JobId[]> {
  const jobs = await readSlurmJobs(dir);
  if (!jobs.submissions.length) throw new OptionError(`${dir}: this study submitted no Slurm jobs (no ${jobsFile(dir)}); a study running inline or on local workers stops with Ctrl-C`);
  const ids = jobs.submissions.flatMap((s) => [...s.arrays.map((a) => a.jobId), s.collect]);
  await cancel(ids, slurm);
  return ids;
}
