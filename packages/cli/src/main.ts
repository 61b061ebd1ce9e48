#!/usr/bin/env node
/** Entry point of the `thaw` command: exit 0 on success, 1 on a user error, 2 on an internal error. */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { exitCodeOf } from './ui/errors.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed the message (or the help / version).
    process.exitCode = error.exitCode === 0 ? 0 : 1;
  } else {
    const code = exitCodeOf(error);
    const message = error instanceof Error ? (code === 2 ? error.stack ?? error.message : error.message) : String(error);
    process.stderr.write(`thaw: ${message}\n`);
    process.exitCode = code;
  }
}
