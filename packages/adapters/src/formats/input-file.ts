/**
 * Reading an input file the user named: a file that cannot be read is the
 * user's to fix, so it becomes an `InputFileError` like every other problem
 * with the file. A UTF-8 byte order mark is dropped (spreadsheet exports add
 * one; Python's `utf-8-sig` would too).
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { InputFileError } from '../errors/input-error.js';

/** The error of a file that cannot be opened or read. */
function unreadable(path: string, e: unknown): InputFileError {
  const code = (e as NodeJS.ErrnoException).code;
  return new InputFileError(path, `cannot read the file (${code ?? (e as Error).message})`);
}

/** The file's text without a byte order mark; unreadable files throw `InputFileError`. */
export async function readText(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw unreadable(path, e);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Opens a regular file for reading by byte ranges (large checkpoints are
 * never read whole); the caller closes the handle. A missing file or a
 * folder throws `InputFileError`.
 */
export async function openInputFile(path: string): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw unreadable(path, e);
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new InputFileError(path, 'is not a file');
  }
  return { handle, size: stat.size };
}

/** A JSON file holding an object; errors name the file. */
export async function readJsonFile(path: string): Promise<Record<string, unknown>> {
  const text = await readText(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputFileError(path, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InputFileError(path, 'expected a JSON object');
  return value as Record<string, unknown>;
}
