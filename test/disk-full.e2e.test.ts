// A full disk, for real: a small tmpfs mounted for the test (root only) is a
// nearly full file system. `thaw train` into it stops at a checkpoint with
// one line naming the file, exit code 1, no temporary files, the best
// checkpoint intact; once there is space, --resume finishes bit for bit as
// an uninterrupted run. `thaw eval` on a full (or read-only) disk keeps the old results.json.
// Without root (or where mount is refused) they fail, naming why: npm test
// runs as root, as its set-up (apt-get, the local Slurm cluster) does.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorLines, thaw } from './support/thaw.js';

const dir = mkdtempSync(join(tmpdir(), 'thaw-disk-full-'));
const small = join(dir, 'small');
mkdirSync(small);

/** Mounts a 64 KiB tmpfs on `small` (resized later), or says why it cannot. */
function mountSmall(): string | null {
  if (process.getuid?.() !== 0) return 'not root: mounting a small tmpfs (a real nearly full file system) needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `mount -t tmpfs was refused here (${String((e as { stderr?: Buffer }).stderr ?? e).trim()})`;
  }
}
const reason = mountSmall();

afterAll(() => {
  if (!reason) execFileSync('umount', [small]);
  rmSync(dir, { recursive: true, force: true });
});

/** Resizes the tmpfs to `bytes` (rounded up to whole pages). */
const resize = (bytes: number) => execFileSync('mount', ['-o', `remount,size=${Math.ceil(bytes / 4096) * 4}k`, small]);

/** Bytes a folder's files take on tmpfs (whole pages). */
function pages(path: string): number {
  if (!statSync(path).isDirectory()) return Math.ceil(statSync(path).size / 4096) * 4096;
  return readdirSync(path).reduce((sum, name) => sum + pages(join(path, name)), 0);
}

/** Every path under `path`, relative to it. */
function files(path: string, prefix = ''): string[] {
  return readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [`${prefix}${e.name}/`, ...files(join(path, e.name), `${prefix}${e.name}/`)] : [`${prefix}${e.name}`]));
}

/** The safetensors header of a file. */
function header(path: string): Record<string, unknown> {
  const bytes = readFileSync(path);
  return JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8')) as Record<string, unknown>;
}

const RUN = ['--steps', '6', '--batch-size', '4', '--train-size', '8', '--dev-size', '4', '--test-size', '4', '--targets', 'l1', '--eval-every', '2', '--fisher-every', '0'];
/** What a run writes besides config.json (which records its own --out). */
const OUTPUTS = ['log.jsonl', 'events.jsonl', 'results.json', 'checkpoints/best/adapter.safetensors', 'checkpoints/best/state.json',
  'checkpoints/last/params.safetensors', 'checkpoints/last/optimizer.safetensors', 'checkpoints/last/state.json'];

describe('a full disk (a small tmpfs)', () => {
  if (reason) {
    it('can mount a small tmpfs', () => { throw new Error(`the full-disk tests must run here: ${reason}`); });
    return;
  }

  it('thaw train stops at a checkpoint with one line and exit 1, leaves no temporary files, and --resume finishes as an uninterrupted run', async () => {
    const reference = join(dir, 'reference');
    expect((await thaw('train', '--out', reference, ...RUN)).code).toBe(0);
    // Room for everything up to the first checkpoint (steps 1-2) and half of a second checkpoint/last:
    // the second one (step 4) is staged beside the first and cannot fit.
    const last = pages(join(reference, 'checkpoints/last'));
    resize(pages(reference) + last / 2);
    const out = join(small, 'run');

    const full = await thaw('train', '--out', out, ...RUN);
    expect(full.code).toBe(1);
    expect(errorLines(full.stderr)).toEqual([
      `thaw: cannot write ${out}/checkpoints/last/params.safetensors: no space left on the device (ENOSPC); ` +
      `the last good checkpoint (step 2) is kept in ${out}/checkpoints; free space, then run the same command with --resume to continue from it`,
    ]);
    expect(full.stdout).toBe('');
    const left = files(out);
    expect(left.filter((f) => /\.tmp|\.old-/.test(f))).toEqual([]);
    expect(left.sort()).toEqual(['checkpoints/', 'checkpoints/best/', 'checkpoints/best/adapter.safetensors', 'checkpoints/best/state.json',
      'checkpoints/last/', 'checkpoints/last/optimizer.safetensors', 'checkpoints/last/params.safetensors', 'checkpoints/last/state.json',
      'config.json', 'events.jsonl', 'log.jsonl']);
    // The checkpoints are whole: the best one of step 2 or 4 (whichever improved), the last one of step 2.
    const best = JSON.parse(readFileSync(join(out, 'checkpoints/best/state.json'), 'utf8')) as { step: number };
    expect([2, 4]).toContain(best.step);
    expect((header(join(out, 'checkpoints/best/adapter.safetensors')).__metadata__ as { step: string }).step).toBe(String(best.step));
    expect(Object.keys(header(join(out, 'checkpoints/best/adapter.safetensors')))).toEqual(Object.keys(header(join(reference, 'checkpoints/best/adapter.safetensors'))));
    expect(JSON.parse(readFileSync(join(out, 'checkpoints/last/state.json'), 'utf8')).step).toBe(2);
    // Every line of the log is whole.
    for (const line of readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();

    // Space again: the same command with --resume finishes bit for bit as the uninterrupted run.
    resize(64 << 20);
    const resumed = await thaw('train', '--out', out, ...RUN, '--resume');
    expect(resumed.code, resumed.stderr).toBe(0);
    for (const name of OUTPUTS) expect(readFileSync(join(out, name)).equals(readFileSync(join(reference, name))), name).toBe(true);
  });

  it('a disk full before the first checkpoint: nothing to resume from yet, no temporary files', async () => {
    const out = join(small, 'early');
    // Room for config.json and the logs, not for the first best checkpoint (its adapter alone is about 150 KiB).
    const free = 64 * 1024;
    const used = pages(join(small, 'run'));
    resize(used + free);
    const full = await thaw('train', '--out', out, ...RUN);
    expect(full.code).toBe(1);
    expect(errorLines(full.stderr)).toEqual([`thaw: cannot write ${out}/checkpoints/best/adapter.safetensors: no space left on the device (ENOSPC); ` +
      'no checkpoint was saved yet; free space, then run the same command with --resume to start over']);
    expect(files(out).filter((f) => /\.tmp|\.old-/.test(f))).toEqual([]);
    rmSync(out, { recursive: true });
    resize(64 << 20);
  });

  it('thaw eval on a full or read-only disk keeps results.json and says which file could not be written', async () => {
    const out = join(small, 'run');
    const before = readFileSync(join(out, 'results.json'));
    // Fill what is left: the write fails part way and its bytes stay.
    const filler = join(small, 'filler');
    expect(() => writeFileSync(filler, Buffer.alloc(64 << 20))).toThrow(/ENOSPC/);
    const full = await thaw('eval', out);
    expect(full.code).toBe(1);
    expect(errorLines(full.stderr)).toEqual([`thaw: cannot write ${out}/results.json: no space left on the device (ENOSPC); the run's previous results.json is unchanged; free space, then run the same command again`]);
    expect(readFileSync(join(out, 'results.json')).equals(before)).toBe(true);
    expect(files(out).filter((f) => /\.tmp|\.old-/.test(f))).toEqual([]);
    rmSync(filler);
    // A read-only file system: the same line, with what to do about it.
    execFileSync('mount', ['-o', 'remount,ro', small]);
    try {
      const readOnly = await thaw('eval', out);
      expect(readOnly.code).toBe(1);
      expect(errorLines(readOnly.stderr)).toEqual([`thaw: cannot write ${out}/results.json: the file system is read-only (EROFS); the run's previous results.json is unchanged; make it writable, then run the same command again`]);
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', small]);
    }
  });
});
