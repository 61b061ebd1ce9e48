/** The run directory's files, each written so that a crash never leaves a half-written one. */
import { appendFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';

/** Writes JSON (indented by 2) through a temporary file and a rename. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, (handle) => handle.writeFile(JSON.stringify(value, null, 2) + '\n'));
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
  await writeFileAtomic(path, (handle) => handle.writeFile(kept.map((l) => l + '\n').join('')));
}
