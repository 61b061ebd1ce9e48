/**
 * The one error of a file that could not be written (a full disk, a quota,
 * a read-only folder): "cannot write <path>: <reason>", then what was kept
 * and how to go on, on one line. Node's own error for a failed write names
 * no file ("ENOSPC: no space left on device, write"); this one does, and
 * keeps Node's `code` and the `path`, so the CLI maps it to exit code 1.
 */
export class FileWriteError extends Error {
  readonly code: string;

  constructor(readonly path: string, code: string, readonly reason: string, readonly note?: string) {
    super(`cannot write ${path}: ${reason}${note ? `; ${note}` : ''}`);
    this.name = 'FileWriteError';
    this.code = code;
  }

  /** What the user does about it: free space (a full disk or quota), or make the folder writable. */
  get remedy(): string {
    return this.code === 'ENOSPC' || this.code === 'EDQUOT' ? 'free space' : 'make it writable';
  }

  /** The same error with `note` (what was kept, how to go on) after the reason, and the file shown as `path`. */
  withNote(note: string, path = this.path): FileWriteError {
    return new FileWriteError(path, this.code, this.reason, note);
  }
}

/** What each file-system error code means to a user. */
const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on the device (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  EROFS: 'the file system is read-only (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  EFBIG: 'the file is too large for the file system (EFBIG)',
  EIO: 'an input/output error of the device (EIO)',
};

/** Whether `error` is one of Node's file-system errors (it has a string `code` and a `syscall`). */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException & { code: string } {
  const e = error as { code?: unknown; syscall?: unknown } | null;
  return typeof e?.code === 'string' && typeof e.syscall === 'string';
}

/**
 * `error` as a FileWriteError naming `path` when it is a file-system error
 * (Node's, or already a FileWriteError, which is kept), else `error` itself.
 */
export function writeError(error: unknown, path: string): unknown {
  if (error instanceof FileWriteError) return error;
  if (!isSystemError(error)) return error;
  return new FileWriteError(path, error.code, REASONS[error.code] ?? error.message);
}
