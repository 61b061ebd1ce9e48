// The Slurm client: parsing and chunking against output captured from the
// local cluster (fixtures/slurm, Slurm 22.05), then the real thing against the
// cluster `scripts/slurm/start-local-slurm.sh` runs (npm test's set-up starts
// it). Without a cluster the second part fails, naming why.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_ARRAY_SIZE, SlurmError, arraySpec, cancel, chunkIndices, jobInfo, maxArraySize, parseArraySpec, parseJobRecords,
  parseMaxArraySize, parseNodes, parseQueue, parseSubmitted, probeCluster, queueStates, sbatchArguments, slurmMessage, submitArray,
  submitJob, type JobId, type JobSubmission,
} from '../src/study/slurm.js';
import { slurmTestCluster } from './support/slurm-cluster.js';

const fixture = (name: string) => readFileSync(new URL(`fixtures/slurm/${name}`, import.meta.url), 'utf8');

describe('job arrays: specifications and chunks', () => {
  it('arraySpec merges indices and ranges into sorted ranges, with the throttle', () => {
    expect(arraySpec([[0, 3], 7], 2)).toBe('0-3,7%2');
    expect(arraySpec([7, 3, 2, 1, 0, 2])).toBe('0-3,7');
    expect(arraySpec([[5, 9], [0, 5], 11, 10])).toBe('0-11');
    expect(arraySpec([4])).toBe('4');
    expect(() => arraySpec([])).toThrow(/at least one index/);
    expect(() => arraySpec([-1])).toThrow(/integers ≥ 0/);
    expect(() => arraySpec([[3, 2]])).toThrow(/first ≤ last/);
    expect(() => arraySpec([0.5])).toThrow(/integers ≥ 0/);
    expect(() => arraySpec([0], 0)).toThrow(/maxParallel/);
  });

  it('parseArraySpec reads what Slurm prints', () => {
    expect(parseArraySpec('2-5%2')).toEqual([2, 3, 4, 5]);
    expect(parseArraySpec('0,3-4')).toEqual([0, 3, 4]);
    expect(parseArraySpec('1-7:2')).toEqual([1, 3, 5, 7]);
    expect(parseArraySpec('12')).toEqual([12]);
    expect(parseArraySpec(arraySpec([[0, 3], 7], 2))).toEqual([0, 1, 2, 3, 7]);
    expect(() => parseArraySpec('3-1')).toThrow(/not an array specification/);
    expect(() => parseArraySpec('x')).toThrow(/not an array specification/);
  });

  it('chunkIndices keeps every task id below MaxArraySize, offsets mapping them back', () => {
    const chunks = chunkIndices(2500, 1001);
    expect(chunks.map((c) => [c.offset, c.indices.length, c.indices[0], c.indices.at(-1)])).toEqual([[0, 1001, 0, 1000], [1001, 1001, 0, 1000], [2002, 498, 0, 497]]);
    expect(chunks.flatMap((c) => c.indices.map((t) => c.offset + t))).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    expect(chunkIndices(4, 1001)).toEqual([{ offset: 0, indices: [0, 1, 2, 3] }]);
    expect(chunkIndices(0, 1001)).toEqual([]);
    // A list (say, the runs still to do): as few chunks as possible, each starting at its first index.
    expect(chunkIndices([3000, 5, 1006, 1000, 5], 1001)).toEqual([{ offset: 5, indices: [0, 995] }, { offset: 1006, indices: [0] }, { offset: 3000, indices: [0] }]);
    expect(chunkIndices(3, 1)).toEqual([{ offset: 0, indices: [0] }, { offset: 1, indices: [0] }, { offset: 2, indices: [0] }]);
    expect(() => chunkIndices(3, 0)).toThrow(/job arrays are disabled on this cluster \(MaxArraySize=0\)/);
    expect(() => chunkIndices([-2], 10)).toThrow(/integers ≥ 0/);
  });
});

describe('sbatch arguments and answers', () => {
  const job: JobSubmission = { script: '#!/bin/sh\ntrue\n', scriptDir: '/tmp/x', name: 'study-a' };

  it('puts the user\'s options first, then its own, then the script', () => {
    expect(sbatchArguments({
      ...job, options: ['--partition=gpu', '--time', '1:00:00'], output: 'runs/%A_%a.out', error: 'runs/%A_%a.err',
      dependency: { type: 'afterok', jobs: ['12', '13_2'], killOnInvalid: true }, chdir: '/work',
    }, '/tmp/x/study-a.sbatch', '0-3%2')).toEqual([
      '--partition=gpu', '--time', '1:00:00', '--parsable', '--job-name=study-a', '--array=0-3%2', '--output=runs/%A_%a.out',
      '--error=runs/%A_%a.err', '--dependency=afterok:12:13_2', '--kill-on-invalid-dep=yes', '--chdir=/work', '/tmp/x/study-a.sbatch',
    ]);
    expect(sbatchArguments(job, 's.sbatch')).toEqual(['--parsable', '--job-name=study-a', 's.sbatch']);
  });

  it('refuses user options that set what the submission sets itself', () => {
    for (const option of ['-J', '-Jother', '--job-name=x', '--parsable', '--wrap=ls']) {
      expect(() => sbatchArguments({ ...job, options: [option] }, 's')).toThrow(/conflicts with --(job-name|parsable|wrap), which thaw sets itself/);
    }
    expect(() => sbatchArguments({ ...job, options: ['--array=0-9'] }, 's', '0-3')).toThrow(SlurmError);
    expect(() => sbatchArguments({ ...job, options: ['-o', 'mine.out'], output: 'x' }, 's')).toThrow(/'-o' conflicts with --output/);
    // Not set by this submission: the user's own choice.
    expect(sbatchArguments({ ...job, options: ['-o', 'mine.out', '--export=NONE', '--array=1'] }, 's')).toContain('mine.out');
    expect(() => sbatchArguments({ ...job, dependency: { type: 'afterany', jobs: [] } }, 's')).toThrow(/at least one job/);
    expect(() => sbatchArguments({ ...job, dependency: { type: 'afterany', jobs: ['12;x'] } }, 's')).toThrow(/not a job id/);
    expect(() => sbatchArguments({ ...job, name: 'a\nb' }, 's')).toThrow(/one non-empty line/);
  });

  it('reads --parsable\'s job id, with or without a cluster name', () => {
    expect(parseSubmitted('42\n')).toEqual({ jobId: '42', cluster: null });
    expect(parseSubmitted('42;gpu-cluster\n')).toEqual({ jobId: '42', cluster: 'gpu-cluster' });
    expect(() => parseSubmitted('Submitted batch job 42\n')).toThrow(/could not read the output of `sbatch --parsable`: expected a job id/);
  });

  it('finds Slurm\'s own message in stderr', () => {
    expect(slurmMessage(fixture('sbatch-mem.stderr.txt'))).toBe('sbatch: error: Memory specification can not be satisfied');
    expect(slurmMessage(fixture('sbatch-no-shebang.stderr.txt'))).toBe('sbatch: error: This does not look like a batch script.  The first');
    expect(slurmMessage(fixture('sbatch-unknown-option.stderr.txt'))).toBe("sbatch: unrecognized option '--bogus'");
    expect(slurmMessage('sbatch: warning: x\nsbatch: error: y\n')).toBe('sbatch: error: y');
  });

  it('says that Slurm\'s commands are not on PATH when sbatch is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'thaw-slurm-'));
    try {
      const error = await submitJob({ ...job, scriptDir: dir }, { env: { PATH: join(dir, 'nothing-here') } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SlurmError);
      expect(error).toMatchObject({ kind: 'missing', command: ['sbatch', '--parsable', '--job-name=study-a', join(dir, 'study-a.sbatch')] });
      expect((error as Error).message).toMatch(/Slurm's commands are not on PATH: `sbatch` was not found/);
      const probe = await probeCluster({ env: { PATH: join(dir, 'nothing-here') } });
      expect(probe).toMatchObject({ ready: false, nodes: [] });
      expect(probe.reason).toMatch(/`sinfo` was not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reading squeue, scontrol and sinfo', () => {
  it('squeue -r: one entry per array task, plain jobs by their id', () => {
    const states = parseQueue(fixture('squeue-r-running.txt'));
    expect([...states.keys()].sort()).toEqual(['10_0', '10_1', '10_2', '10_3', '10_4', '10_5', '11', '12']);
    expect(states.get('10_0')).toEqual({ state: 'RUNNING', reason: 'None' });
    expect(states.get('10_3')).toEqual({ state: 'PENDING', reason: 'JobArrayTaskLimit' });
    expect(states.get('11')).toEqual({ state: 'PENDING', reason: 'Dependency' });
    // Without -r the pending tasks are one record, 10_[2-5%2]: expanded to the same entries.
    expect(parseQueue(fixture('squeue-running.txt'))).toEqual(states);
    expect(parseQueue(fixture('squeue-r-never.txt'))).toEqual(new Map([['12', { state: 'PENDING', reason: 'DependencyNeverSatisfied' }]]));
    expect(parseQueue('')).toEqual(new Map());
    expect(() => parseQueue('10_0 RUNNING None\n', ['squeue', '-h'])).toThrow(/could not read the output of `squeue -h`: expected <job id>\|<state>\|<reason>: '10_0 RUNNING None'/);
  });

  it('scontrol -o show job: a record per started task, one for the tasks still pending', () => {
    const running = parseJobRecords(fixture('scontrol-array-running.txt'));
    expect(running.map((r) => [r.id, r.internalId, r.taskIds, r.state, r.reason])).toEqual([
      ['10_[2-5%2]', '10', [2, 3, 4, 5], 'PENDING', 'JobArrayTaskLimit'],
      ['10_1', '14', [1], 'RUNNING', 'None'],
      ['10_0', '13', [0], 'RUNNING', 'None'],
    ]);
    const done = parseJobRecords(fixture('scontrol-array-done.txt'));
    expect(done.map((r) => [r.id, r.state, r.exitCode, r.signal])).toEqual([
      ['10_5', 'COMPLETED', 0, 0], ['10_4', 'CANCELLED', 0, 15], ['10_3', 'FAILED', 3, 0],
      ['10_2', 'COMPLETED', 0, 0], ['10_1', 'COMPLETED', 0, 0], ['10_0', 'COMPLETED', 0, 0],
    ]);
    expect(done[2]).toMatchObject({ arrayJobId: '10', reason: 'NonZeroExitCode' });
    expect(done[2]!.fields).toMatchObject({ JobName: 'fixture', 'AllocNode:Sid': 'localhost:5656', 'CPUs/Task': '1', TRES: 'cpu=1,mem=512M,node=1,billing=1', StdOut: '/tmp/cap/o-10_3.out' });
    const [never] = parseJobRecords(fixture('scontrol-never.txt'));
    expect(never).toMatchObject({ id: '12', arrayJobId: null, taskIds: null, state: 'PENDING', reason: 'DependencyNeverSatisfied' });
    expect(never!.fields.Dependency).toBe('afterok:10_*(failed)');
    expect(parseJobRecords(fixture('scontrol-after-any.txt'))[0]).toMatchObject({ id: '11', state: 'COMPLETED', exitCode: 0 });
    // A value with a space (a job name) continues until the next Key=.
    expect(parseJobRecords('JobId=7 JobName=my run 3 JobState=RUNNING ExitCode=0:0\n')[0]!.fields.JobName).toBe('my run 3');
    expect(() => parseJobRecords('No jobs in the system\n')).toThrow(/could not read the output of `scontrol -o show job`/);
  });

  it('MaxArraySize from scontrol show config, 1001 when absent', () => {
    const config = fixture('scontrol-show-config.txt');
    expect(parseMaxArraySize(config)).toBe(1001);
    expect(parseMaxArraySize(config.replace(/^MaxArraySize.*$/m, 'MaxArraySize            = 40001'))).toBe(40001);
    expect(parseMaxArraySize(config.replace(/^MaxArraySize.*\n/m, ''))).toBe(DEFAULT_MAX_ARRAY_SIZE);
    expect(() => parseMaxArraySize('MaxArraySize = lots\n')).toThrow(/could not read the output of `scontrol show config`: MaxArraySize is not a number/);
  });

  it('sinfo: node states', () => {
    expect(parseNodes(fixture('sinfo.txt'))).toEqual([{ name: 'vm', state: 'idle' }]);
    expect(parseNodes('a|down*\nb|mixed\nb|mixed\n')).toEqual([{ name: 'a', state: 'down*' }, { name: 'b', state: 'mixed' }]);
  });
});

// ---------------------------------------------------------------- the local cluster

const cluster = await slurmTestCluster();
if (!cluster.ready) console.warn(`[slurm.test] the Slurm cluster tests FAIL: ${cluster.reason}`);

/** Polls `check` every 200 ms until it returns a value other than undefined; fails after `seconds`. */
async function until<T>(what: string, seconds: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

describe('the Slurm client on a real cluster', () => {
  if (!cluster.ready) {
    it('has a Slurm cluster to test against', () => { throw new Error(`no Slurm cluster to test against: ${cluster.reason}`); });
    return;
  }

  const dir = mkdtempSync(join(tmpdir(), 'thaw-slurm-'));
  const submitted: JobId[] = [];
  const track = <T extends { jobId: JobId }>(job: T): T => (submitted.push(job.jobId), job);
  /** Resolves once none of `ids` (jobs or tasks) is in the queue. */
  const gone = (ids: JobId[], seconds = 90) => until(`${ids.join(', ')} to leave the queue`, seconds, async () => ((await queueStates(ids)).size === 0 ? true : undefined));

  afterAll(async () => {
    await cancel(submitted).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs an array of 4 tasks at most 2 at a time, each with its own output file', async () => {
    const script = '#!/bin/bash\necho "start $(date +%s.%N)"\necho "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID in $PWD: $THAW_TEST_WORD"\nsleep 1\necho "end $(date +%s.%N)"\n';
    const { jobId, scriptPath, args } = track(await submitArray({
      script, scriptDir: join(dir, 'scripts'), name: 'thaw-test-array', indices: [[0, 3]], maxParallel: 2,
      output: join(dir, 'task-%A_%a.out'), error: join(dir, 'task-%A_%a.err'), chdir: dir, env: { THAW_TEST_WORD: 'thawed' },
    }));
    expect(jobId).toMatch(/^\d+$/);
    expect(scriptPath).toBe(join(dir, 'scripts', 'thaw-test-array.sbatch'));
    expect(args).toContain('--array=0-3%2');
    await gone([jobId]);
    const spans: Array<[number, number]> = [];
    for (let task = 0; task < 4; task++) {
      const out = await readFile(join(dir, `task-${jobId}_${task}.out`), 'utf8');
      expect(out).toContain(`task ${task} of ${jobId} in ${dir}: thawed`);
      spans.push([Number(/^start (\S+)/m.exec(out)![1]), Number(/^end (\S+)/m.exec(out)![1])]);
    }
    // The throttle: never more than 2 tasks between their start and end lines.
    const most = Math.max(...spans.map(([start]) => spans.filter(([s, e]) => s <= start && start <= e).length));
    expect(most).toBeLessThanOrEqual(2);
    const records = await jobInfo(jobId);
    expect(records.map((r) => [r.id, r.state, r.exitCode]).sort()).toEqual([0, 1, 2, 3].map((t) => [`${jobId}_${t}`, 'COMPLETED', 0]));
  });

  it('starts an afterany job after a failed task; afterok with killOnInvalid is cancelled instead of pending forever', async () => {
    const base = { scriptDir: dir, chdir: dir, output: join(dir, '%x-%j.out') };
    const array = track(await submitArray({ ...base, name: 'thaw-test-fails', indices: [0, 1], script: '#!/bin/sh\n[ "$SLURM_ARRAY_TASK_ID" = 1 ] && exit 3\nexit 0\n' }));
    const after = track(await submitJob({ ...base, name: 'thaw-test-afterany', script: `#!/bin/sh\necho ran > '${join(dir, 'afterany.txt')}'\n`, dependency: { type: 'afterany', jobs: [array.jobId] } }));
    const ok = track(await submitJob({ ...base, name: 'thaw-test-afterok', script: '#!/bin/sh\ntrue\n', dependency: { type: 'afterok', jobs: [array.jobId], killOnInvalid: true } }));
    await gone([array.jobId, after.jobId, ok.jobId]);
    expect(readFileSync(join(dir, 'afterany.txt'), 'utf8')).toBe('ran\n');
    const tasks = await jobInfo(array.jobId);
    expect(tasks.find((r) => r.id === `${array.jobId}_1`)).toMatchObject({ state: 'FAILED', exitCode: 3 });
    expect(tasks.find((r) => r.id === `${array.jobId}_0`)).toMatchObject({ state: 'COMPLETED', exitCode: 0 });
    expect((await jobInfo(after.jobId))[0]).toMatchObject({ state: 'COMPLETED', exitCode: 0 });
    expect((await jobInfo(ok.jobId))[0]).toMatchObject({ state: 'CANCELLED' });
  });

  it('cancels one running task, then the rest of the array', async () => {
    const { jobId } = track(await submitArray({ scriptDir: dir, chdir: dir, output: '/dev/null', name: 'thaw-test-cancel', indices: [0, 1], script: '#!/bin/sh\nsleep 300\n' }));
    await until(`${jobId}_0 to run`, 60, async () => ((await queueStates([jobId])).get(`${jobId}_0`)?.state === 'RUNNING' ? true : undefined));
    await cancel([`${jobId}_0`]);
    await gone([`${jobId}_0`], 30);
    expect((await queueStates([jobId])).has(`${jobId}_1`)).toBe(true);
    expect((await jobInfo(jobId)).find((r) => r.id === `${jobId}_0`)).toMatchObject({ state: 'CANCELLED' });
    await cancel([jobId]);
    await gone([jobId], 30);
    await cancel([jobId, `${jobId}_0`]); // already ended: no error
  });

  it('surfaces Slurm\'s message and the options when sbatch rejects a job', async () => {
    const error = await submitJob({ scriptDir: dir, name: 'thaw-test-rejected', script: '#!/bin/sh\ntrue\n', options: ['--mem=99999999'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SlurmError);
    expect(error).toMatchObject({ kind: 'rejected' });
    expect((error as Error).message).toMatch(/^sbatch rejected job "thaw-test-rejected": sbatch: error: Memory specification can not be satisfied\n {2}the Slurm options given: --mem=99999999\n/);
  });

  it('reads MaxArraySize, and treats unknown job ids as gone', async () => {
    const size = await maxArraySize();
    expect(Number.isSafeInteger(size) && size >= 0).toBe(true);
    // The local cluster's slurm.conf (scripts/slurm) leaves it at Slurm's default.
    const conf = readFileSync(process.env.SLURM_CONF ?? '/etc/slurm/slurm.conf', 'utf8');
    if (conf.includes('thaw scripts/slurm/start-local-slurm.sh')) expect(size).toBe(DEFAULT_MAX_ARRAY_SIZE);
    expect(await queueStates(['999999999'])).toEqual(new Map());
    expect(await jobInfo('999999999')).toEqual([]);
    expect(await queueStates([])).toEqual(new Map());
  });
});
