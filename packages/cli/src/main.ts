#!/usr/bin/env node
/**
 * Entry point of the `thaw` command. It runs the command in a child process
 * of itself, whose stderr it passes on without Dawn's native notices
 * (ui/stderr.ts); the child, or a Windows process (where Dawn prints none),
 * runs the command itself. The program is imported only where it runs, so
 * the parent never loads WebGPU.
 */
import { relaunch, USER_STDERR_FD } from './ui/stderr.js';

if (process.env[USER_STDERR_FD] === undefined && process.platform !== 'win32') process.exitCode = await relaunch();
else process.exitCode = await (await import('./run-command.js')).runCommand(process.argv);
