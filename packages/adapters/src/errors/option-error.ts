/**
 * The one error of an option with a value that cannot work (a flag, a
 * study-config field, a library option): the message names the option and
 * what it accepts. The CLI maps it to exit code 1, since the user can fix it.
 */
export class OptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}
