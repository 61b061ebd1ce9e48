/** Runs one `thaw` command line: exit code 0 on success, 1 on a user error, 2 on an internal error. */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { exitCodeOf } from './ui/errors.js';
import { userStderr } from './ui/stderr.js';

/** Parses and runs `argv` (as process.argv), printing any error as one line, and returns the exit code. */
export async function runCommand(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error) {
    // Commander already printed its own message (or the help / version).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 1;
    const code = exitCodeOf(error);
    const message = error instanceof Error ? (code === 2 ? error.stack ?? error.message : error.message) : String(error);
    userStderr.write(`thaw: ${message}\n`);
    return code;
  }
}
