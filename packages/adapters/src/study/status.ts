/**
 * Where a study stands (`thaw status`), read from the run folders
 * themselves and, for a study submitted to Slurm, the queue: each run is
 * `done` (results.json), `running` (a live claim, or its array task is
 * running), `pending` (its array task waits; or nothing has started it),
 * or `failed` (a claim whose worker is gone, failed.json, or an array task
 * that left the queue without a result), checked in that order.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { goneOwners, readClaim, describeOwner, type ClaimOwner } from './claims.js';
import { readSlurmJobs, taskOfRun } from './executors.js';
import { queueStates, SlurmError, type JobId, type QueueState } from './slurm.js';
import { readStudyFile, runIsDone, type RunFailure } from './study.js';

export type RunState = 'done' | 'running' | 'failed' | 'pending';

/** One run's state. */
export interface RunStatus {
  schedule: string;
  seed: number;
  /** The run folder, relative to the study folder. */
  dir: string;
  state: RunState;
  /** The Slurm job (array task) that runs it, ran it last, or waits to. */
  job?: JobId;
  /** A failed run's output. */
  log?: string;
  /** A failed run's last error line. */
  error?: string;
}

/** What `thaw status --json` prints. */
export interface StudyStatus {
  runs: RunStatus[];
  done: number;
  total: number;
}

/** The last non-blank line of a file, if it can be read. */
async function lastLine(path: string | undefined): Promise<string | undefined> {
  if (!path || !existsSync(path)) return undefined;
  return (await readFile(path, 'utf8')).split('\n').map((l) => l.trim()).filter(Boolean).pop();
}

/** The queue's view of the jobs; empty where Slurm's commands are missing. */
async function queue(ids: JobId[]): Promise<Map<JobId, QueueState>> {
  try {
    return await queueStates(ids);
  } catch (e) {
    if (e instanceof SlurmError && e.kind === 'missing') return new Map();
    throw e;
  }
}

/** The state of every run of the study in `dir`. */
export async function studyStatus(dir: string): Promise<StudyStatus> {
  const file = await readStudyFile(dir);
  const jobs = await readSlurmJobs(dir);
  const runDirs = file.runs.map((r) => join(dir, r.dir));
  const claims = await Promise.all(runDirs.map((d) => (runIsDone(d) ? undefined : readClaim(d))));
  const held = claims.filter((c): c is ClaimOwner => Boolean(c));
  const goneList = await goneOwners(held);
  const gone = new Map(held.map((c, i) => [c, goneList[i]!]));
  const tasks = file.runs.map((_, i) => taskOfRun(jobs, i));
  const queued = await queue(tasks.filter((t, i): t is JobId => Boolean(t) && !runIsDone(runDirs[i]!)));
  const runs: RunStatus[] = [];
  for (const [i, r] of file.runs.entries()) {
    const base = { schedule: r.schedule, seed: r.seed, dir: r.dir };
    const claim = claims[i];
    const task = tasks[i];
    const failedPath = join(runDirs[i]!, 'failed.json');
    if (runIsDone(runDirs[i]!)) {
      runs.push({ ...base, state: 'done' });
    } else if (claim && !gone.get(claim)) {
      runs.push({ ...base, state: 'running', ...(claim.job ? { job: claim.job } : {}) });
    } else if (task && queued.has(task)) {
      runs.push({ ...base, state: queued.get(task)!.state === 'PENDING' ? 'pending' : 'running', job: task });
    } else if (claim) {
      const error = (await lastLine(claim.log)) ?? `interrupted: its worker (${describeOwner(claim)}) is gone`;
      runs.push({ ...base, state: 'failed', ...(claim.job ? { job: claim.job } : {}), ...(claim.log ? { log: claim.log } : {}), error });
    } else if (existsSync(failedPath)) {
      const failure = JSON.parse(await readFile(failedPath, 'utf8')) as RunFailure;
      runs.push({ ...base, state: 'failed', ...(task ? { job: task } : {}), ...(failure.log ? { log: failure.log } : {}), error: failure.error.split('\n')[0]! });
    } else if (task) {
      // The task left the queue before it claimed the run (its job script failed, or it was cancelled while pending).
      const log = join(dir, 'slurm', 'logs', `${task}.err`);
      runs.push({ ...base, state: 'failed', job: task, log, error: (await lastLine(log)) ?? 'its Slurm task ended without training the run' });
    } else {
      runs.push({ ...base, state: 'pending' });
    }
  }
  return { runs, done: runs.filter((r) => r.state === 'done').length, total: runs.length };
}
