/**
 * The one error every reader of an input file throws: the file, then what is
 * wrong with it ("<path>: <reason>"). The CLI maps it to exit code 1, since
 * the user can fix the file.
 */
export class InputFileError extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'InputFileError';
  }
}
