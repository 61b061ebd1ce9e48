/** Runs the built `thaw` command as a user runs it. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const thawMain = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

/** Runs `thaw …` and returns stdout, stderr and the exit code. */
export async function thaw(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return thawWithEnv({}, ...args);
}

/** Runs `thaw …` with `env` added to this process's environment. */
export async function thawWithEnv(env: Record<string, string>, ...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [thawMain, ...args], { maxBuffer: 1 << 24, env: { ...process.env, ...env } });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

/** stderr's non-blank lines (the command keeps Dawn's native notices out of it). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim());
}
