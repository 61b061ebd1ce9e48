// study.json's portable paths, and claims on run folders: no GPU, no Slurm.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimFile, claimRun, readClaim, releaseRun } from '../src/study/claims.js';
import { portablePaths, resolvedPaths } from '../src/study/paths.js';
import { SHIPPED_SUITE } from '../src/spec/defaults.js';
import { studyFile, studyPlan, STUDY_PRESETS } from '../src/study/study.js';

describe('study.json paths', () => {
  it('names the shipped files as shipped, keeps absolute paths, stores relative ones relative to the study folder', () => {
    const spec = { base: SHIPPED_SUITE.base, languageAdapters: '/data/adapters', model: 'models/x', langAdapters: { en: 'ad/en' }, steps: 3 };
    const stored = portablePaths(spec, 'studies/a');
    expect(stored).toEqual({ base: 'shipped:base', languageAdapters: '/data/adapters', model: '../../models/x', langAdapters: { en: '../../ad/en' }, steps: 3 });
    expect(resolvedPaths(stored, 'studies/a')).toEqual({ ...spec, model: resolve('models/x'), langAdapters: { en: resolve('ad/en') } });
  });

  it('lists every run with its full spec and nothing of how it runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thaw-plan-'));
    const plan = studyPlan({ out: dir, preset: 'smoke', schedules: ['standard', 'gu'], seeds: [1, 2], run: { ...STUDY_PRESETS.smoke.run, steps: 4 } });
    const file = studyFile(plan);
    expect(file.runs.map((r) => [r.schedule, r.seed, r.dir])).toEqual([
      ['standard', 1, 'runs/standard/seed-1'], ['standard', 2, 'runs/standard/seed-2'], ['gu', 1, 'runs/gu/seed-1'], ['gu', 2, 'runs/gu/seed-2'],
    ]);
    expect(file.runs[3]!.spec).toMatchObject({ schedule: 'gu', seed: 2, steps: 4, base: 'shipped:base', languageAdapters: 'shipped:adapters' });
    expect(JSON.stringify(file)).not.toMatch(/"out"|resume/);
  });
});

describe('claims', () => {
  it('one claim per run folder; released only by its owner', async () => {
    const run = join(mkdtempSync(join(tmpdir(), 'thaw-claim-')), 'runs/a/seed-1');
    expect(await claimRun(run, '/logs/x')).toEqual({ claimed: true });
    expect(await readClaim(run)).toMatchObject({ host: hostname(), pid: process.pid, log: '/logs/x' });
    // Held by a live process (this one): a second claim is refused.
    expect(await claimRun(run)).toMatchObject({ claimed: false, owner: { pid: process.pid } });
    await releaseRun(run);
    expect(existsSync(claimFile(run))).toBe(false);
  });

  it('takes over a claim whose process is gone', async () => {
    const run = mkdtempSync(join(tmpdir(), 'thaw-claim-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(claimFile(run), JSON.stringify({ host: hostname(), pid: Number(dead), since: '' }));
    expect(await claimRun(run)).toEqual({ claimed: true, tookOver: { host: hostname(), pid: Number(dead), since: '' } });
    expect(JSON.parse(readFileSync(claimFile(run), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('leaves a claim of another host alone when it cannot be judged', async () => {
    const run = mkdtempSync(join(tmpdir(), 'thaw-claim-'));
    writeFileSync(claimFile(run), JSON.stringify({ host: 'elsewhere', pid: 1, since: '' }));
    expect(await claimRun(run)).toMatchObject({ claimed: false, owner: { host: 'elsewhere' } });
  });
});
