/** Errors and exit codes of the thaw command. */
import { KernelCompileError, KernelLaunchError, NoAdapterError } from '@thaw/kernels';
import { InputFileError, OptionError } from '@thaw/adapters';

/** A mistake the user can fix (bad option value, unknown name): exit code 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit code 1 for errors a user can act on, 2 for internal errors. */
export function exitCodeOf(error: unknown): 1 | 2 {
  return error instanceof UsageError || error instanceof NoAdapterError || error instanceof OptionError ||
    error instanceof InputFileError || error instanceof KernelLaunchError || error instanceof KernelCompileError ? 1 : 2;
}
