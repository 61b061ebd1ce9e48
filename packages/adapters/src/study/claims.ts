/**
 * Claims on run folders: a worker trains a run only after creating the run
 * folder's `claim.json` exclusively, so two workers (processes of a local
 * pool, Slurm array tasks, or a second `thaw study --resume`) never train the
 * same run. The file names its owner: host, process id, and the Slurm job
 * (`<array job>_<task>` or a plain job id) when it runs under Slurm.
 *
 * A claim whose owner is gone is stale: on the same host its process no
 * longer exists, or its Slurm job has left the queue. A stale claim is taken
 * over (the caller hears of it); one whose owner cannot be judged from here
 * (another host, no Slurm to ask) counts as live.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { queueStates, SlurmError, type JobId } from './slurm.js';

/** Who holds a run: what claim.json records. */
export interface ClaimOwner {
  host: string;
  pid: number;
  /** The Slurm job (array task as `<job>_<task>`) the owner runs in. */
  job?: JobId;
  /** Where the owner's output goes, when it says. */
  log?: string;
  /** When the claim was made (ISO 8601). */
  since: string;
}

/** The claim file of a run folder. */
export const claimFile = (runDir: string) => join(runDir, 'claim.json');

/** This process's Slurm job, from the variables Slurm sets in a job's environment. */
export function slurmJobOfThisProcess(env: NodeJS.ProcessEnv = process.env): JobId | undefined {
  if (env.SLURM_ARRAY_JOB_ID && env.SLURM_ARRAY_TASK_ID) return `${env.SLURM_ARRAY_JOB_ID}_${env.SLURM_ARRAY_TASK_ID}`;
  return env.SLURM_JOB_ID || undefined;
}

/** The owner this process writes into a claim. */
export function thisOwner(log?: string): ClaimOwner {
  const job = slurmJobOfThisProcess();
  return { host: hostname(), pid: process.pid, ...(job ? { job } : {}), ...(log ? { log } : {}), since: new Date().toISOString() };
}

/** The claim on a run folder, or undefined when there is none (or it cannot be read: a claim being written). */
export async function readClaim(runDir: string): Promise<ClaimOwner | undefined> {
  try {
    return JSON.parse(await readFile(claimFile(runDir), 'utf8')) as ClaimOwner;
  } catch {
    return undefined;
  }
}

/** Whether a process of this host is alive: it exists and (where /proc tells) is no zombie waiting to be reaped. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // The state follows the parenthesized command name: `pid (comm) S …`.
    return !/\)\s+Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/**
 * Which of the owners are gone. The Slurm jobs named are asked of the queue
 * once; where Slurm's commands are missing, a job owner is judged by its
 * process alone.
 */
export async function goneOwners(owners: readonly ClaimOwner[]): Promise<boolean[]> {
  const jobs = [...new Set(owners.map((o) => o.job).filter((j): j is JobId => Boolean(j)))];
  let queue: Map<JobId, unknown> | undefined;
  try {
    queue = await queueStates(jobs);
  } catch (e) {
    if (!(e instanceof SlurmError && e.kind === 'missing')) throw e;
  }
  const here = hostname();
  return owners.map((o) => (o.host === here && !processAlive(o.pid)) || (o.job !== undefined && queue !== undefined && !queue.has(o.job)));
}

/**
 * What claimRun found: the run is now this process's (`tookOver`: the stale
 * claim it replaced), or another live owner holds it (undefined while that
 * owner is still writing its claim).
 */
export type ClaimResult = { claimed: true; tookOver?: ClaimOwner } | { claimed: false; owner?: ClaimOwner };

/**
 * Claims the run folder `runDir` for this process (creating the folder):
 * claim.json is created exclusively. A stale claim is taken over: it is
 * renamed away first, which only one of several contenders can do.
 */
export async function claimRun(runDir: string, log?: string): Promise<ClaimResult> {
  await mkdir(runDir, { recursive: true });
  const path = claimFile(runDir);
  let tookOver: ClaimOwner | undefined;
  for (;;) {
    try {
      await writeFile(path, `${JSON.stringify(thisOwner(log), null, 2)}\n`, { flag: 'wx' });
      return tookOver ? { claimed: true, tookOver } : { claimed: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = await readClaim(runDir);
    // A claim too new to read is a live one being written.
    if (!owner) return { claimed: false };
    const [gone] = await goneOwners([owner]);
    if (!gone) return { claimed: false, owner };
    const aside = `${path}.stale-${process.pid}-${Date.now()}`;
    try {
      await rename(path, aside);
    } catch (e) {
      // Another worker took it over first: try again from the start.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    await rm(aside, { force: true });
    tookOver = owner;
  }
}

/** Removes this process's claim on `runDir` (a claim someone else holds by now is left alone). */
export async function releaseRun(runDir: string): Promise<void> {
  const owner = await readClaim(runDir);
  if (owner && owner.host === hostname() && owner.pid === process.pid && existsSync(claimFile(runDir))) await rm(claimFile(runDir), { force: true });
}

/** An owner in words, for messages: `host vm, pid 123, Slurm job 45_2`. */
export function describeOwner(o: ClaimOwner): string {
  return `host ${o.host}, pid ${o.pid}${o.job ? `, Slurm job ${o.job}` : ''}`;
}
