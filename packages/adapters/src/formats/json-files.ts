/** The run directory's files, each written so that a crash never leaves a half-written one. */
import { mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeError } from '../errors/write-error.js';
import { writeAll, writeFileAtomic } from './atomic-file.js';

/** Writes JSON (indented by 2) through a temporary file and a rename. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, (handle) => handle.writeFile(JSON.stringify(value, null, 2) + '\n'));
}

/**
 * Replaces the folder `path` by `staged` (a complete sibling folder) so that
 * readers see either the old set of files or the new one, never a mix. When
 * the swap fails, the old folder is put back.
 */
export async function swapFolder(staged: string, path: string): Promise<void> {
  const old = `${path}.old-${process.pid}`;
  await rm(old, { recursive: true, force: true });
  let moved = false;
  try {
    await rename(path, old);
    moved = true;
  } catch {
    // No previous folder.
  }
  try {
    await rename(staged, path);
  } catch (e) {
    if (moved) await rename(old, path).catch(() => undefined);
    throw writeError(e, path);
  }
  await rm(old, { recursive: true, force: true });
}

/**
 * Appends one JSON object as a line (jsonl). A line that cannot be written
 * whole (a full disk) is cut off again: the file keeps its whole lines, and
 * the error (a FileWriteError) names it.
 */
export async function appendJsonLine(path: string, value: unknown): Promise<void> {
  let handle: FileHandle | undefined;
  let size: number | undefined;
  try {
    await mkdir(dirname(path), { recursive: true });
    handle = await open(path, 'a');
    size = (await handle.stat()).size;
    await writeAll(handle, Buffer.from(JSON.stringify(value) + '\n'));
    size = undefined;
    await handle.close();
  } catch (e) {
    if (size !== undefined) await handle?.truncate(size).catch(() => undefined);
    await handle?.close().catch(() => undefined);
    throw writeError(e, path);
  }
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
