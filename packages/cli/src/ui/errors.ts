/** Errors and exit codes of the thaw command. */
import { KernelCompileError, KernelLaunchError, NoAdapterError, SettingError } from '@thaw/kernels';
import { FileWriteError, InputFileError, OptionError, slurm } from '@thaw/adapters';

/** A mistake the user can fix (bad option value, unknown name): exit code 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** File-system failures a user fixes by choosing another path or freeing space (Node's error codes); their messages name the path. */
const FILE_SYSTEM_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EEXIST', 'ENAMETOOLONG']);

/** Slurm failures a user fixes: its commands missing here, a submission the cluster rejects (Slurm's message says why). */
const USER_SLURM_ERRORS = new Set<slurm.SlurmErrorKind>(['missing', 'rejected']);

/** A full disk or quota is the user's to fix even when Node's error names no file (a failed write). */
const FULL_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** Exit code 1 for errors a user can act on, 2 for internal errors. */
export function exitCodeOf(error: unknown): 1 | 2 {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof UsageError || error instanceof NoAdapterError || error instanceof SettingError || error instanceof OptionError ||
    (error instanceof slurm.SlurmError && USER_SLURM_ERRORS.has(error.kind)) ||
    error instanceof InputFileError || error instanceof FileWriteError || error instanceof KernelLaunchError || error instanceof KernelCompileError ||
    (typeof code === 'string' && (FULL_CODES.has(code) || (FILE_SYSTEM_CODES.has(code) && (error as { path?: unknown }).path !== undefined))) ? 1 : 2;
}
