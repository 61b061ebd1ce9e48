/** The run directory's files, each written so that a crash never leaves a half-written one. */
import { mkdir, readFile, rename, writeFile, appendFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Writes JSON through a temporary file and a rename. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(value, null, 2) + '\n');
  await rename(temp, path);
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
  const kept = text.split('\n').filter((line) => line.trim() && (JSON.parse(line) as { step: number }).step < step);
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, kept.map((l) => l + '\n').join(''));
  await rename(temp, path);
}
