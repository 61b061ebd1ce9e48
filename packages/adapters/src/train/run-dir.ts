/** The run directory's files, each written so that a crash never leaves a half-written one. */
import { appendFile, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes JSON through a temporary file and a rename. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(value, null, 2) + '\n');
  const handle = await open(temp, 'r');
  await handle.sync();
  await handle.close();
  await rename(temp, path);
}

/**
 * Replaces the folder `path` by `staged` (a complete sibling folder) so that
 * readers see either the old set of files or the new one, never a mix.
 */
export async function swapFolder(staged: string, path: string): Promise<void> {
  const old = `${path}.old-${process.pid}`;
  await rm(old, { recursive: true, force: true });
  try {
    await rename(path, old);
  } catch {
    // No previous folder.
  }
  await rename(staged, path);
  await rm(old, { recursive: true, force: true });
}

/** Appends one JSON object as a line (jsonl). */
export async function appendJsonLine(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await appendFile(path, JSON.stringify(value) + '\n');
}

/** Keeps only the lines of a jsonl file whose `step` is below `step` (for resuming). */
export async function truncateJsonLines(path: string, step: number): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return;
  }
  // A line cut short by a crash does not parse: it is dropped with the rest past `step`.
  const kept = text.split('\n').filter((line) => {
    try {
      return line.trim() !== '' && (JSON.parse(line) as { step: number }).step < step;
    } catch {
      return false;
    }
  });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, kept.map((l) => l + '\n').join(''));
  await rename(temp, path);
}
