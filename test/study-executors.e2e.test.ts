// End to end: a study's runs under each executor give the same results as
// inline; a study is followed (thaw status), repaired (--resume continues an
// interrupted run from its checkpoint, bit for bit), collected and cancelled;
// bad executor options fail in one line before anything is written. The
// Slurm part runs against the cluster scripts/slurm/start-local-slurm.sh
// starts (npm test's set-up starts it): without one the Slurm part fails,
// naming why. Studies are tiny (6 steps) and every wait polls.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { slurmTestCluster, type SlurmTestCluster } from '../packages/adapters/test/support/slurm-cluster.js';
import { errorLines, thaw } from './support/thaw.js';

/** The smoke preset's shape with far fewer steps: two runs of a few seconds each. */
const TINY = ['--preset', 'smoke', '--seeds', '1', '--k', '2', '--eval-every', '3', '--fisher-every', '2', '--fisher-batches', '1',
  '--dev-size', '8', '--test-size', '8', '--train-size', '64', '--targets', 'l1'];
const TWO_RUNS = [...TINY, '--schedules', 'standard,gu', '--steps', '6'];
/** One run long enough (about 10 s here) to be cancelled between checkpoints. */
const LONG_RUN = [...TINY, '--schedules', 'gu', '--steps', '24'];

interface Status { runs: { schedule: string; seed: number; dir: string; state: string; job?: string; log?: string; error?: string }[]; done: number; total: number }

const read = (path: string) => readFile(path, 'utf8');
const runDirs = ['runs/standard/seed-1', 'runs/gu/seed-1'];

/** Polls `check` every 0.2 s until it returns true, failing after `seconds`. */
async function until(check: () => boolean | Promise<boolean>, seconds: number, what: string): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function status(dir: string): Promise<Status> {
  const r = await thaw('status', dir, '--json');
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Status;
}

/** Expects every run's results.json in `dir` to be byte for byte the reference's. */
async function expectSameRuns(dir: string, reference: string, dirs = runDirs): Promise<void> {
  for (const run of dirs) expect(await read(join(dir, run, 'results.json')), run).toBe(await read(join(reference, run, 'results.json')));
}

let root = '';
let inline = '';

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'thaw-executors-'));
  inline = join(root, 'inline');
  const r = await thaw('study', ...TWO_RUNS, '--out', inline);
  expect(r.code, r.stderr).toBe(0);
}, 300_000);

describe('thaw study --executor local', () => {
  it('two workers give every run the results of the inline study', async () => {
    const out = join(root, 'local');
    const r = await thaw('study', ...TWO_RUNS, '--out', out, '--executor', 'local', '--workers', '2');
    expect(r.code, r.stderr).toBe(0);
    await expectSameRuns(out, inline);
    expect(r.stdout).toContain('| schedule');
    // Each worker's output stays in its run folder; no claim is left behind.
    for (const run of runDirs) {
      expect(existsSync(join(out, run, 'worker.log'))).toBe(true);
      expect(existsSync(join(out, run, 'claim.json'))).toBe(false);
    }
    expect((await status(out)).done).toBe(2);
  }, 300_000);

  it('study.json lists every run with portable paths and no executor switch', async () => {
    const plan = JSON.parse(await read(join(inline, 'study.json'))) as { run: Record<string, unknown>; runs: { dir: string; spec: Record<string, unknown> }[] };
    expect(plan.runs.map((r) => r.dir)).toEqual(runDirs);
    expect(plan.run.base).toBe('shipped:base');
    expect(plan.runs[1]!.spec).toMatchObject({ schedule: 'gu', seed: 1, steps: 6, languageAdapters: 'shipped:adapters' });
    expect(JSON.stringify(plan)).not.toMatch(/resume|executor|overwrite|"wait"|"out"/);
  });

  it('refuses bad executor options in one line, exit code 1, nothing written', async () => {
    const out = join(root, 'bad');
    const cases: [string[], RegExp][] = [
      [['--executor', 'cloud'], /--executor.*'cloud' is invalid/],
      [['--executor', 'local', '--workers', '0'], /--workers must be a positive integer/],
      [['--executor', 'local', '--devices', '7'], /^thaw: --devices: there is no adapter 7; this machine has/],
      [['--workers', '2'], /^thaw: --workers applies to --executor local, not inline$/],
    ];
    for (const [args, message] of cases) {
      const r = await thaw('study', ...TWO_RUNS, '--out', out, ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(errorLines(r.stderr)[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  }, 120_000);
});

describe('thaw study --executor slurm', async () => {
  const cluster: SlurmTestCluster = await slurmTestCluster();
  if (!cluster.ready) {
    it('has a Slurm cluster to run studies on', () => expect.fail(`no Slurm cluster: ${cluster.reason}`));
    return;
  }

  it('runs the study as a job array with the user\'s sbatch options; --wait prints the results of the inline study', async () => {
    const out = join(root, 'slurm');
    const r = await thaw('study', ...TWO_RUNS, '--out', out, '--executor', 'slurm', '--wait', '--max-parallel', '2', '--slurm-option=--time=10', '--slurm-option', '--comment=thaw-test');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('| schedule');
    await expectSameRuns(out, inline);
    const scripts = readdirSync(join(out, 'slurm')).filter((f) => f.endsWith('.sbatch'));
    expect(scripts).toHaveLength(2);
    for (const script of scripts) {
      const text = await read(join(out, 'slurm', script));
      expect(text).toContain('#SBATCH --time=10\n#SBATCH --comment=thaw-test\n');
      expect(text).toContain(`'${process.execPath}' '${fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url))}'`);
    }
    const jobs = JSON.parse(await read(join(out, 'slurm', 'jobs.json'))) as { submissions: { arrays: { jobId: string }[]; collect: string }[] };
    const arrayId = jobs.submissions[0]!.arrays[0]!.jobId;
    expect(readdirSync(join(out, 'slurm', 'logs')).sort()).toEqual(expect.arrayContaining([`${arrayId}_0.err`, `${arrayId}_1.out`, `collect-${jobs.submissions[0]!.collect}.out`]));
    const s = await status(out);
    expect([s.done, s.total]).toEqual([2, 2]);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 300_000);

  it('a task cancelled mid-run is reported failed, and --resume continues it from its checkpoint to the uninterrupted results', async () => {
    const out = join(root, 'cancelled');
    const reference = join(root, 'long-inline');
    const run = 'runs/gu/seed-1';
    const submitted = await thaw('study', ...LONG_RUN, '--out', out, '--executor', 'slurm', '--json');
    expect(submitted.code, submitted.stderr).toBe(0);
    // The uninterrupted run to compare with, trained meanwhile.
    const uninterrupted = thaw('study', ...LONG_RUN, '--out', reference);
    // Cancel once a checkpoint past step 0 exists and before the run ends.
    const steps = async () => (existsSync(join(out, run, 'log.jsonl')) ? (await read(join(out, run, 'log.jsonl'))).split('\n').filter(Boolean).length : 0);
    await until(async () => existsSync(join(out, run, 'checkpoints/last/state.json')) || (await steps()) >= 24, 120, 'the first checkpoint');
    const cancelled = await thaw('cancel', out);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(await steps()).toBeLessThan(24);
    expect(existsSync(join(out, run, 'results.json'))).toBe(false);
    await until(async () => (await status(out)).runs[0]!.state === 'failed', 60, 'thaw status to report the cancelled run');
    const failed = (await status(out)).runs[0]!;
    expect(failed.error).toMatch(/CANCELLED|interrupted/);
    expect(failed.log).toMatch(/slurm\/logs\/\d+_0\.err$/);
    const inlineRun = await uninterrupted;
    expect(inlineRun.code, inlineRun.stderr).toBe(0);
    const resumed = await thaw('study', ...LONG_RUN, '--out', out, '--executor', 'slurm', '--resume', '--wait');
    expect(resumed.code, resumed.stderr).toBe(0);
    // The resubmitted task took the run over from the cancelled one.
    const jobs = JSON.parse(await read(join(out, 'slurm', 'jobs.json'))) as { submissions: { arrays: { jobId: string }[] }[] };
    expect(jobs.submissions).toHaveLength(2);
    expect(await read(join(out, 'slurm', 'logs', `${jobs.submissions[1]!.arrays[0]!.jobId}_0.err`))).toMatch(/taking over the stale claim of host \S+, pid \d+, Slurm job \d+_0/);
    expect(await read(join(out, run, 'log.jsonl'))).toBe(await read(join(reference, run, 'log.jsonl')));
    await expectSameRuns(out, reference, [run]);
    expect((await status(out)).done).toBe(1);
  }, 300_000);

  it('a failing run does not block aggregation: the others are collected, status names its log and error', async () => {
    const out = join(root, 'failing');
    // A run folder holding another run's checkpoint: its worker refuses to continue it.
    mkdirSync(join(out, 'runs/gu/seed-1/checkpoints/last'), { recursive: true });
    writeFileSync(join(out, 'runs/gu/seed-1/config.json'), '{"suite": {"steps": 1}}\n');
    writeFileSync(join(out, 'runs/gu/seed-1/checkpoints/last/state.json'), '{}\n');
    const r = await thaw('study', ...TWO_RUNS, '--out', out, '--executor', 'slurm', '--wait');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('partial study: 1 of 2 runs');
    expect(errorLines(r.stderr).at(-1)).toBe(`thaw: 1 of 2 runs did not finish; thaw status ${out} shows why, thaw study … --resume runs them again`);
    await expectSameRuns(out, inline, ['runs/standard/seed-1']);
    const results = JSON.parse(await read(join(out, 'results.json'))) as { planned: number; runs: unknown[] };
    expect([results.runs.length, results.planned]).toEqual([1, 2]);
    expect(await read(join(out, 'report.html'))).toContain('1 of 2 runs');
    const gu = (await status(out)).runs[1]!;
    expect(gu.state).toBe('failed');
    expect(gu.error).toMatch(/was written with other options/);
    expect(gu.log).toMatch(/slurm\/logs\/\d+_1\.err$/);
    expect(await read(gu.log!)).toContain(gu.error!);
  }, 300_000);

  it('an option the cluster rejects, or no sbatch on PATH, fails in one line before anything is submitted', async () => {
    const out = join(root, 'rejected');
    const r = await thaw('study', ...TWO_RUNS, '--out', out, '--executor', 'slurm', '--slurm-option=--mem=99999999');
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^thaw: --slurm-option --mem=99999999: sbatch rejected job "[^"]+": sbatch: error: Memory specification can not be satisfied$/)]);
    expect(existsSync(join(out, 'study.json'))).toBe(false);
    expect(existsSync(join(out, 'slurm'))).toBe(false);
    // A PATH with node alone.
    const bin = join(root, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const main = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
    const missing = await new Promise<{ code: number; stderr: string }>((done) => {
      execFile(process.execPath, [main, 'study', ...TWO_RUNS, '--out', join(root, 'no-sbatch'), '--executor', 'slurm'], { env: { ...process.env, PATH: bin } }, (e, _stdout, stderr) => done({ code: (e as { code?: number } | null)?.code ?? 0, stderr }));
    });
    expect(missing.code).toBe(1);
    expect(errorLines(missing.stderr)).toEqual([expect.stringMatching(/^thaw: --executor slurm: Slurm's commands are not on PATH/)]);
    expect(existsSync(join(root, 'no-sbatch'))).toBe(false);
  }, 120_000);
});
