/** Splitting a dataset file's text into lines, shared by the XNLI and COPA readers. */

/** The text's lines, without their LF / CRLF terminators (a final newline adds no line). */
export function lines(text: string): string[] {
  const out = text.split(/\r?\n/);
  if (out.at(-1) === '') out.pop();
  return out;
}
