/**
 * A small client of Slurm's commands: submit a batch job or a job array
 * (`sbatch --parsable`), read the queue (`squeue`), a job's records and exit
 * codes (`scontrol show job`) and the cluster's `MaxArraySize`
 * (`scontrol show config`), cancel jobs (`scancel`), and split a large array
 * into arrays Slurm accepts. It knows Slurm, not studies: what a job runs is
 * the caller's script.
 *
 * Every command runs through `execFile` (no shell), with a timeout. Failures
 * are {@link SlurmError}s that say which command failed and carry Slurm's own
 * message. Only long-stable interfaces are used (Slurm 22.05, Debian
 * bookworm's, through 25.x): `--parsable`, `--array` with a `%` throttle,
 * `--dependency`, `squeue -r` and `scontrol -o`; no JSON output, no `sacct`
 * (clusters without a database have none).
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** A job id as Slurm's commands print and accept it: `"123"`, or `"123_4"` for one task of array job 123. */
export type JobId = string;

/** How the Slurm commands are run. */
export interface SlurmOptions {
  /** Environment of the commands (default `process.env`); `PATH` decides which `sbatch` runs, `SLURM_CONF` which cluster. */
  env?: NodeJS.ProcessEnv;
  /** A command still running after this many milliseconds is killed and fails (default 60 000): a controller that does not answer must not hang the caller. */
  timeoutMs?: number;
}

/** What went wrong: a command not on PATH, a submission Slurm refused, any other failing command, a timeout, or output this client cannot read. */
export type SlurmErrorKind = 'missing' | 'rejected' | 'failed' | 'timeout' | 'parse';

/** A Slurm command that failed, was not found, timed out, or printed what this client cannot parse. */
export class SlurmError extends Error {
  /** What went wrong. */
  readonly kind: SlurmErrorKind;
  /** The command and its arguments. */
  readonly command: readonly string[];
  /** The command's whole stderr ('' when it did not run). */
  readonly stderr: string;
  /** The command's exit status; null when it did not run, was killed, or exited 0. */
  readonly exitCode: number | null;

  constructor(kind: SlurmErrorKind, message: string, command: readonly string[], stderr = '', exitCode: number | null = null) {
    super(message);
    this.name = 'SlurmError';
    this.kind = kind;
    this.command = command;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

/** A command line as a shell would take it (for messages only: nothing here runs a shell). */
function commandLine(command: readonly string[]): string {
  return command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Slurm's own message in a command's stderr: its first line that reports an error, else its first line. */
export function slurmMessage(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => /\berror\b/i.test(l)) ?? lines[0] ?? '';
}

/** Runs `command args…` (no shell); resolves with stdout, rejects with a {@link SlurmError}. */
function run(command: string, args: readonly string[], options: SlurmOptions = {}, extraEnv?: Readonly<Record<string, string>>): Promise<string> {
  const argv = [command, ...args];
  const env = extraEnv ? { ...(options.env ?? process.env), ...extraEnv } : options.env ?? process.env;
  const timeout = options.timeoutMs ?? 60_000;
  return new Promise((done, fail) => {
    execFile(command, args, { env, timeout, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 * 1024, encoding: 'utf8', windowsHide: true }, (error: ExecFileException | null, stdout: string, stderr: string) => {
      if (!error) return done(stdout);
      if (error.code === 'ENOENT') {
        return fail(new SlurmError('missing', `Slurm's commands are not on PATH: \`${command}\` was not found. Run this where Slurm's client commands are installed (e.g. a cluster's login node), or add their folder to PATH.`, argv));
      }
      if (error.killed && typeof error.code !== 'number') {
        return fail(new SlurmError('timeout', `\`${commandLine(argv)}\` did not finish within ${timeout / 1000} s (is slurmctld answering?)`, argv, stderr));
      }
      const status = typeof error.code === 'number' ? error.code : null;
      const said = slurmMessage(stderr) || error.message;
      fail(new SlurmError('failed', `\`${commandLine(argv)}\` failed${status === null ? '' : ` (exit status ${status})`}: ${said}`, argv, stderr, status));
    });
  });
}

/** A parse failure of `command`'s output, naming the command and the line. */
function parseError(command: readonly string[], what: string, line: string): SlurmError {
  return new SlurmError('parse', `could not read the output of \`${commandLine(command)}\`: ${what}: '${line.slice(0, 200)}'`, command);
}

/** Slurm's message for a job id it does not know (never submitted, or finished more than MinJobAge ago). */
const UNKNOWN_JOB = /Invalid job id specified/i;

// ---------------------------------------------------------------- arrays

/** One array index, or an inclusive range `[first, last]` of indices. */
export type IndexSpec = number | readonly [first: number, last: number];

/** Sorted, merged, inclusive ranges of `indices`; throws on a negative or fractional index or a reversed range. */
function ranges(indices: readonly IndexSpec[]): Array<[number, number]> {
  const spans = indices.map((spec): [number, number] => {
    const [first, last] = typeof spec === 'number' ? [spec, spec] : spec;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first) {
      throw new RangeError(`array index ${JSON.stringify(spec)}: indices are integers ≥ 0, ranges [first, last] with first ≤ last`);
    }
    return [first, last];
  }).sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [first, last] of spans) {
    const top = merged[merged.length - 1];
    if (top && first <= top[1] + 1) top[1] = Math.max(top[1], last);
    else merged.push([first, last]);
  }
  return merged;
}

/**
 * The value of `sbatch --array`: the indices as comma-separated ranges, with the
 * `%maxParallel` throttle. `arraySpec([0, 1, 2, 3, 7], 2)` is `"0-3,7%2"`.
 */
export function arraySpec(indices: readonly IndexSpec[], maxParallel?: number): string {
  if (indices.length === 0) throw new RangeError('a job array needs at least one index');
  if (maxParallel !== undefined && (!Number.isSafeInteger(maxParallel) || maxParallel < 1)) {
    throw new RangeError(`maxParallel is a whole number ≥ 1, not ${maxParallel}`);
  }
  const body = ranges(indices).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
  return maxParallel === undefined ? body : `${body}%${maxParallel}`;
}

/**
 * The indices of an array specification as Slurm prints it (`2-5%2`, `0,3-4`,
 * `1-7:2`; the throttle is ignored), ascending. Throws a RangeError on anything else.
 */
export function parseArraySpec(spec: string): number[] {
  const body = spec.replace(/%\d+$/, '');
  const out = new Set<number>();
  for (const part of body.split(',')) {
    const m = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part);
    if (!m) throw new RangeError(`not an array specification: '${spec}'`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    if (last < first || step < 1) throw new RangeError(`not an array specification: '${spec}'`);
    for (let i = first; i <= last; i += step) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

/** One sbatch call's share of a large array: its task ids, and the offset that maps them back. */
export interface ArrayChunk {
  /** Index = `offset + SLURM_ARRAY_TASK_ID`. */
  offset: number;
  /** The array's task ids, ascending, each below the cluster's MaxArraySize. */
  indices: number[];
}

/**
 * Splits indices into arrays a cluster accepts. Slurm refuses array task ids of
 * `MaxArraySize` or more (default 1001, so ids 0…1000), so index `i` runs as
 * task `i − offset` of the chunk that holds it; the job script adds the
 * offset back. `indices` is a count `n` (indices 0…n−1) or a list (e.g. the
 * unfinished ones); chunks are as few as possible, in ascending order.
 *
 * `chunkIndices(2500, 1001)` gives offsets 0, 1001 and 2002 with 1001, 1001 and 498 tasks.
 */
export function chunkIndices(indices: number | readonly number[], maxArraySize: number): ArrayChunk[] {
  if (!Number.isSafeInteger(maxArraySize) || maxArraySize < 0) throw new RangeError(`MaxArraySize is a whole number ≥ 0, not ${maxArraySize}`);
  if (maxArraySize === 0) throw new RangeError('job arrays are disabled on this cluster (MaxArraySize=0)');
  let sorted: number[];
  if (typeof indices === 'number') {
    if (!Number.isSafeInteger(indices) || indices < 0) throw new RangeError(`an index count is a whole number ≥ 0, not ${indices}`);
    sorted = Array.from({ length: indices }, (_, i) => i);
  } else {
    for (const i of indices) if (!Number.isSafeInteger(i) || i < 0) throw new RangeError(`array index ${i}: indices are integers ≥ 0`);
    sorted = [...new Set(indices)].sort((a, b) => a - b);
  }
  const chunks: ArrayChunk[] = [];
  for (const i of sorted) {
    const last = chunks[chunks.length - 1];
    if (last && i - last.offset < maxArraySize) last.indices.push(i - last.offset);
    else chunks.push({ offset: i, indices: [0] });
  }
  return chunks;
}

// ---------------------------------------------------------------- submitting

/** `--dependency`: start only after the given jobs (all tasks of an array job) reach the condition. */
export interface Dependency {
  /**
   * `afterany`: after they end, however they end. `afterok`: after all succeed —
   * if one fails, the job pends forever (Reason=DependencyNeverSatisfied) unless
   * `killOnInvalid` is set. `afternotok`: after one fails. `after`: after they start.
   */
  type: 'afterany' | 'afterok' | 'afternotok' | 'after';
  /** The jobs (array job ids stand for all their tasks). */
  jobs: readonly JobId[];
  /** `--kill-on-invalid-dep=yes`: cancel this job when its dependency can never be satisfied. */
  killOnInvalid?: boolean;
}

/** A batch job to submit. */
export interface JobSubmission {
  /** The batch script's text; its first line must be `#!` and an interpreter. It may hold `#SBATCH` lines. */
  script: string;
  /** The folder the script is written to, as `<name>.sbatch` (created if missing; an older file of that name is replaced). */
  scriptDir: string;
  /** `--job-name`; also names the script file. */
  name: string;
  /** `--output`: the stdout file pattern (`%A` array job id, `%a` task id, `%j` job id). Default: Slurm's `slurm-%j.out` in the working directory. */
  output?: string;
  /** `--error`: the stderr file pattern. Default: stderr goes with stdout. */
  error?: string;
  /**
   * The user's own sbatch options (`--partition=gpu`, `--time=2:00:00`, `--gres=gpu:1`…),
   * passed through as given, before this client's. Options this call sets itself
   * (`--parsable`, `--job-name`, `--array`, and each of output, error, dependency
   * and chdir when given) are refused in it.
   */
  options?: readonly string[];
  /** Start only after other jobs: `--dependency`. */
  dependency?: Dependency;
  /** `--chdir`: the job's working directory (default: the submitting process's). */
  chdir?: string;
  /**
   * Variables added to sbatch's environment. Jobs receive sbatch's environment
   * (Slurm's default `--export=ALL`), so these reach the job unless the user's
   * options say `--export=NONE` or list other variables.
   */
  env?: Readonly<Record<string, string>>;
}

/** A job array to submit: a {@link JobSubmission} and its indices. */
export interface ArraySubmission extends JobSubmission {
  /** Task ids (each below the cluster's MaxArraySize: see {@link chunkIndices}), as numbers and inclusive ranges. */
  indices: readonly IndexSpec[];
  /** The `%` throttle: at most this many tasks run at once. */
  maxParallel?: number;
}

/** What sbatch accepted. */
export interface Submitted {
  /** The job id (for an array, the array job id). */
  jobId: JobId;
  /** The cluster sbatch named (multi-cluster setups print `id;cluster`), else null. */
  cluster: string | null;
  /** The script file that was submitted. */
  scriptPath: string;
  /** sbatch's arguments. */
  args: string[];
}

/** The options each field of a submission sets, long and short spellings: the user's options may not set them too. */
const OWN_OPTIONS: Record<string, { long: string; short?: string }> = {
  parsable: { long: '--parsable' },
  wrap: { long: '--wrap' },
  name: { long: '--job-name', short: '-J' },
  array: { long: '--array', short: '-a' },
  output: { long: '--output', short: '-o' },
  error: { long: '--error', short: '-e' },
  dependency: { long: '--dependency', short: '-d' },
  chdir: { long: '--chdir', short: '-D' },
};

/** A file name made of the job name's safe characters. */
function scriptFileName(name: string): string {
  return `${name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '_').slice(0, 120) || 'job'}.sbatch`;
}

/**
 * sbatch's arguments for a submission whose script is at `scriptPath`: the
 * user's options, then `--parsable`, `--job-name`, `--array` (when `array` is
 * given), `--output`, `--error`, `--dependency`, `--kill-on-invalid-dep`,
 * `--chdir`, and the script. Throws a RangeError on a bad name or dependency.
 */
export function sbatchArguments(job: JobSubmission, scriptPath: string, array?: string): string[] {
  if (!/\S/.test(job.name) || /[\n\r]/.test(job.name)) throw new RangeError(`a job name is one non-empty line, not ${JSON.stringify(job.name)}`);
  const given = new Set(['parsable', 'wrap', 'name', ...(array === undefined ? [] : ['array'])]);
  for (const field of ['output', 'error', 'dependency', 'chdir'] as const) if (job[field] !== undefined) given.add(field);
  for (const option of job.options ?? []) {
    for (const field of given) {
      const { long, short } = OWN_OPTIONS[field]!;
      if (option === long || option.startsWith(`${long}=`) || (short && option.startsWith(short) && !option.startsWith('--'))) {
        throw new SlurmError('rejected', `the sbatch option '${option}' conflicts with ${long}, which thaw sets itself for job "${job.name}"; remove it from the Slurm options`, ['sbatch', ...(job.options ?? [])]);
      }
    }
  }
  const args = [...(job.options ?? []), '--parsable', `--job-name=${job.name}`];
  if (array !== undefined) args.push(`--array=${array}`);
  if (job.output !== undefined) args.push(`--output=${job.output}`);
  if (job.error !== undefined) args.push(`--error=${job.error}`);
  if (job.dependency) {
    const { type, jobs, killOnInvalid } = job.dependency;
    if (jobs.length === 0) throw new RangeError(`a ${type} dependency needs at least one job`);
    for (const id of jobs) if (!/^\d+(_\d+)?$/.test(id)) throw new RangeError(`not a job id: '${id}'`);
    args.push(`--dependency=${type}:${jobs.join(':')}`);
    if (killOnInvalid) args.push('--kill-on-invalid-dep=yes');
  }
  if (job.chdir !== undefined) args.push(`--chdir=${job.chdir}`);
  args.push(scriptPath);
  return args;
}

/** Reads `sbatch --parsable`'s answer: `id` or `id;cluster`. */
export function parseSubmitted(stdout: string, command: readonly string[] = ['sbatch', '--parsable']): { jobId: JobId; cluster: string | null } {
  const line = stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').pop() ?? '';
  const m = /^(\d+)(?:;(\S+))?$/.exec(line);
  if (!m) throw parseError(command, 'expected a job id', line);
  return { jobId: m[1]!, cluster: m[2] ?? null };
}

async function submit(job: JobSubmission, options: SlurmOptions | undefined, array?: string): Promise<Submitted> {
  const dir = resolve(job.scriptDir);
  const scriptPath = join(dir, scriptFileName(job.name));
  const args = sbatchArguments(job, scriptPath, array);
  await mkdir(dir, { recursive: true });
  await writeFile(scriptPath, job.script);
  let stdout: string;
  try {
    stdout = await run('sbatch', args, options, job.env);
  } catch (error) {
    if (!(error instanceof SlurmError) || error.kind !== 'failed') throw error;
    const own = job.options?.length ? job.options.join(' ') : '(none)';
    throw new SlurmError('rejected', `sbatch rejected job "${job.name}": ${slurmMessage(error.stderr) || error.message}\n  the Slurm options given: ${own}\n  the whole command: ${commandLine(['sbatch', ...args])}`, error.command, error.stderr, error.exitCode);
  }
  return { ...parseSubmitted(stdout, ['sbatch', ...args]), scriptPath, args };
}

/**
 * Submits one batch job (e.g. the step that gathers an array's results, with
 * `dependency: { type: 'afterany', jobs: [arrayJobId] }`). The script is written
 * to `scriptDir` and submitted with `sbatch --parsable`.
 *
 * @throws {SlurmError} `missing` when sbatch is not on PATH; `rejected` when sbatch
 * refuses the job (the message carries Slurm's and the options given) or the
 * user's options set what the submission sets; `timeout`; `parse` when its
 * answer is not a job id.
 * @throws {RangeError} on an empty or multi-line name, bad indices, or a bad dependency.
 */
export function submitJob(job: JobSubmission, options?: SlurmOptions): Promise<Submitted> {
  return submit(job, options);
}

/**
 * Submits a job array: `--array=<indices>%<maxParallel>`. Each task sees
 * `SLURM_ARRAY_JOB_ID` and `SLURM_ARRAY_TASK_ID`; `%A` and `%a` in the output
 * patterns give each task its own files. More indices than the cluster's
 * MaxArraySize allows need several arrays: see {@link chunkIndices}.
 *
 * @throws {SlurmError} as {@link submitJob}.
 */
export function submitArray(job: ArraySubmission, options?: SlurmOptions): Promise<Submitted> {
  return submit(job, options, arraySpec(job.indices, job.maxParallel));
}

// ---------------------------------------------------------------- reading

/** Slurm's default MaxArraySize, when `scontrol show config` does not print one. */
export const DEFAULT_MAX_ARRAY_SIZE = 1001;

/** `MaxArraySize` from `scontrol show config`'s output ({@link DEFAULT_MAX_ARRAY_SIZE} when absent). */
export function parseMaxArraySize(showConfig: string, command: readonly string[] = ['scontrol', 'show', 'config']): number {
  const line = /^MaxArraySize\s*=.*$/m.exec(showConfig)?.[0];
  if (line === undefined) return DEFAULT_MAX_ARRAY_SIZE;
  const m = /^MaxArraySize\s*=\s*(\d+)\s*$/.exec(line);
  if (!m) throw parseError(command, 'MaxArraySize is not a number', line);
  return Number(m[1]);
}

/**
 * The cluster's MaxArraySize: array task ids must be below it (0 means job
 * arrays are disabled). Read from `scontrol show config`.
 */
export async function maxArraySize(options?: SlurmOptions): Promise<number> {
  const command = ['scontrol', 'show', 'config'];
  return parseMaxArraySize(await run(command[0]!, command.slice(1), options), command);
}

/**
 * A job state as Slurm prints it: PENDING, RUNNING, COMPLETING, COMPLETED,
 * FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, SUSPENDED…
 */
export type JobState = string;

/** A job's (or array task's) place in the queue. */
export interface QueueState {
  /** PENDING, RUNNING, COMPLETING, CONFIGURING, SUSPENDED… */
  state: JobState;
  /** Why it pends: Resources, Priority, Dependency, JobArrayTaskLimit, DependencyNeverSatisfied…; `None` when running. */
  reason: string;
}

/** squeue's format for {@link queueStates}: id, state, reason. */
const QUEUE_FORMAT = '%i|%T|%r';

/** A job id as squeue and scontrol print it: plain, array task, pending array tasks, heterogeneous component. */
const PRINTED_ID = /^(\d+)(\+\d+)?(?:_(\d+)|_\[([\d,%:-]+)\])?$/;

/**
 * Reads `squeue -h -r -o '%i|%T|%r'`'s lines into a map from `"<job>_<task>"`
 * (array tasks) or `"<job>"` to state and reason. A record of pending tasks
 * still held together (`12_[2-5%2]`, printed without `-r`) gives each task its own entry.
 */
export function parseQueue(text: string, command: readonly string[] = ['squeue', '-o', QUEUE_FORMAT]): Map<JobId, QueueState> {
  const states = new Map<JobId, QueueState>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [id, state, ...reason] = line.trim().split('|');
    const m = PRINTED_ID.exec(id ?? '');
    if (!m || !state || reason.length === 0) throw parseError(command, 'expected <job id>|<state>|<reason>', line);
    const entry = { state, reason: reason.join('|') };
    const job = `${m[1]}${m[2] ?? ''}`;
    if (m[4] !== undefined) for (const task of parseArraySpec(m[4])) states.set(`${job}_${task}`, entry);
    else states.set(m[3] === undefined ? job : `${job}_${m[3]}`, entry);
  }
  return states;
}

/**
 * The queue's view of jobs: one entry per array task (`"<job>_<task>"`) or
 * plain job (`"<job>"`), from `squeue -h -r -j <ids> -o '%i|%T|%r'`. squeue
 * lists jobs only while they pend, run or complete: a job or task missing from
 * the map has left the queue (finished, failed or cancelled; see {@link jobInfo}
 * for how it ended). An empty list asks nothing and gives an empty map.
 */
export async function queueStates(jobIds: readonly JobId[], options?: SlurmOptions): Promise<Map<JobId, QueueState>> {
  if (jobIds.length === 0) return new Map();
  const command = ['squeue', '-h', '-r', '-j', jobIds.join(','), '-o', QUEUE_FORMAT];
  let stdout: string;
  try {
    stdout = await run(command[0]!, command.slice(1), options);
  } catch (error) {
    // squeue -j with a single id Slurm has forgotten fails instead of printing nothing.
    if (error instanceof SlurmError && error.kind === 'failed' && UNKNOWN_JOB.test(error.stderr)) return new Map();
    throw error;
  }
  return parseQueue(stdout, command);
}

/**
 * Cancels jobs: whole arrays (`"123"`) or single tasks (`"123_4"`), pending or
 * running (`scancel`). Jobs that have already ended are no error; an empty
 * list does nothing.
 */
export async function cancel(jobIds: readonly JobId[], options?: SlurmOptions): Promise<void> {
  if (jobIds.length === 0) return;
  try {
    await run('scancel', jobIds, options);
  } catch (error) {
    if (error instanceof SlurmError && error.kind === 'failed') {
      const complaints = error.stderr.split('\n').filter((l) => l.trim() !== '');
      if (complaints.length > 0 && complaints.every((l) => UNKNOWN_JOB.test(l) || /already completing or completed/i.test(l))) return;
    }
    throw error;
  }
}

/** One record of `scontrol -o show job`: a plain job, one array task, or the array's tasks that have not started yet. */
export interface JobRecord {
  /** As squeue names it: `"123"`, `"123_4"`, or `"123_[5-9%2]"` for tasks that have not started. */
  id: string;
  /** Slurm's own id of this record (`JobId=`; array tasks get their own once they start). */
  internalId: string;
  /** The array job id; null for a plain job. */
  arrayJobId: JobId | null;
  /** The array task ids this record stands for; null for a plain job. */
  taskIds: number[] | null;
  /** PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT… */
  state: JobState;
  /** `Reason=`: why it pends or how it failed (e.g. NonZeroExitCode), `None` otherwise. */
  reason: string;
  /** The script's exit status (`ExitCode=3:0` → 3); null if unreadable. */
  exitCode: number | null;
  /** The signal that ended it (`ExitCode=0:15` → 15, e.g. after scancel); 0 for none. */
  signal: number | null;
  /** Every `Key=value` field of the record. */
  fields: Record<string, string>;
}

/** A `Key=` token of `scontrol -o` (keys like `CPUs/Task`, `ReqB:S:C:T`, `AllocNode:Sid`). */
const FIELD = /^([A-Za-z][\w:/-]*)=(.*)$/;

/**
 * Reads `scontrol -o show job`'s output: one record per line of space-separated
 * `Key=value` fields. A token without `=` continues the previous value (a job
 * name or path with a space in it).
 */
export function parseJobRecords(text: string, command: readonly string[] = ['scontrol', '-o', 'show', 'job']): JobRecord[] {
  const records: JobRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields: Record<string, string> = {};
    let key: string | null = null;
    for (const token of line.trim().split(' ')) {
      const m = FIELD.exec(token);
      if (m) fields[(key = m[1]!)] = m[2]!;
      else if (key !== null) fields[key] += ` ${token}`;
      else throw parseError(command, 'expected Key=value fields', line);
    }
    const internalId = fields.JobId;
    const state = fields.JobState;
    if (internalId === undefined || !/^\d+$/.test(internalId) || state === undefined) throw parseError(command, 'a record without JobId or JobState', line);
    const arrayJobId = fields.ArrayJobId ?? null;
    const taskSpec = fields.ArrayTaskId;
    let taskIds: number[] | null = null;
    let id = internalId;
    if (arrayJobId !== null && taskSpec !== undefined) {
      try {
        taskIds = parseArraySpec(taskSpec);
      } catch {
        throw parseError(command, 'ArrayTaskId is not an array specification', line);
      }
      id = /^\d+$/.test(taskSpec) ? `${arrayJobId}_${taskSpec}` : `${arrayJobId}_[${taskSpec}]`;
    }
    const exit = /^(\d+):(\d+)$/.exec(fields.ExitCode ?? '');
    records.push({
      id, internalId, arrayJobId, taskIds, state,
      reason: fields.Reason ?? 'None',
      exitCode: exit ? Number(exit[1]) : null,
      signal: exit ? Number(exit[2]) : null,
      fields,
    });
  }
  return records;
}

/**
 * A job's records from `scontrol -o show job <id>`: for an array job id, one
 * per task that has started and one for those still pending together, each
 * with its state and exit code. Slurm keeps ended jobs for `MinJobAge` seconds
 * (300 by default); after that, and for ids it never had, the list is empty.
 */
export async function jobInfo(jobId: JobId, options?: SlurmOptions): Promise<JobRecord[]> {
  const command = ['scontrol', '-o', 'show', 'job', jobId];
  let stdout: string;
  try {
    stdout = await run(command[0]!, command.slice(1), options);
  } catch (error) {
    if (error instanceof SlurmError && error.kind === 'failed' && UNKNOWN_JOB.test(error.stderr)) return [];
    throw error;
  }
  return parseJobRecords(stdout, command);
}

// ---------------------------------------------------------------- the cluster

/** Whether a cluster answers and has a node that can run jobs. */
export interface ClusterProbe {
  /** true when sinfo answers and some node is idle, mixed, allocated or completing (and responding). */
  ready: boolean;
  /** Why not, when not ready. */
  reason: string | null;
  /** Each node's state as sinfo prints it (`idle`, `mixed`, `down*`, `inval`…). */
  nodes: Array<{ name: string; state: string }>;
}

/** Node states in which a node runs jobs; a trailing `*` (not responding) is excluded by the caller. */
const SERVING = /^(idle|mixed|allocated|completing|planned)[~#!%$@^-]*$/;

/** Reads `sinfo -h -N -o '%N|%T'` (one line per node and partition). */
export function parseNodes(text: string, command: readonly string[] = ['sinfo', '-h', '-N', '-o', '%N|%T']): Array<{ name: string; state: string }> {
  const nodes = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [name, state] = line.trim().split('|');
    if (!name || !state) throw parseError(command, 'expected <node>|<state>', line);
    nodes.set(name, state);
  }
  return [...nodes].map(([name, state]) => ({ name, state }));
}

/**
 * Asks `sinfo` whether a cluster is reachable and can run jobs. Never throws
 * for a missing or unreachable Slurm: that is `ready: false` with the reason.
 */
export async function probeCluster(options?: SlurmOptions): Promise<ClusterProbe> {
  const command = ['sinfo', '-h', '-N', '-o', '%N|%T'];
  let nodes: ClusterProbe['nodes'];
  try {
    nodes = parseNodes(await run(command[0]!, command.slice(1), options), command);
  } catch (error) {
    if (error instanceof SlurmError) return { ready: false, reason: error.message, nodes: [] };
    throw error;
  }
  if (nodes.some((n) => SERVING.test(n.state))) return { ready: true, reason: null, nodes };
  const states = nodes.map((n) => `${n.name} ${n.state}`).join(', ');
  return { ready: false, reason: nodes.length === 0 ? 'sinfo lists no nodes' : `no node can run jobs (${states})`, nodes };
}
