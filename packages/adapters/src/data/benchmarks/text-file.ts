/**
 * Reading a benchmark file as text, shared by the XNLI, COPA and SQuAD
 * readers: a file that cannot be read is the user's to fix, so it becomes an
 * `InputFileError` like every other problem with the file. A UTF-8 byte
 * order mark is dropped (spreadsheet exports add one; Python's `utf-8-sig`
 * would too), and lines are split on LF or CRLF.
 */
import { readFile } from 'node:fs/promises';
import { InputFileError } from '../../io/input-error.js';

/** The file's text without a byte order mark; unreadable files throw `InputFileError`. */
export async function readText(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputFileError(path, `cannot read the file (${code ?? (e as Error).message})`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The text's lines, without their LF / CRLF terminators (a final newline adds no line). */
export function lines(text: string): string[] {
  const out = text.split(/\r?\n/);
  if (out.at(-1) === '') out.pop();
  return out;
}
