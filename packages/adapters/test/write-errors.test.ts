// A write that fails names its file: Node's own error for a failed write does
// not ("ENOSPC: no space left on device, write"). /dev/full fails every write
// with ENOSPC, without root; test/disk-full.e2e.test.ts fills a real file system.
import { describe, expect, it } from 'vitest';
import { FileWriteError, writeError } from '../src/errors/write-error.js';
import { appendJsonLine } from '../src/formats/json-files.js';

describe('file write errors', () => {
  it('an append to a full device names the file, with the code the CLI maps to exit 1', async () => {
    const error = await appendJsonLine('/dev/full', { step: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileWriteError);
    expect(error).toMatchObject({ path: '/dev/full', code: 'ENOSPC', message: 'cannot write /dev/full: no space left on the device (ENOSPC)' });
    expect((error as FileWriteError).withNote('kept', '/x').message).toBe('cannot write /x: no space left on the device (ENOSPC); kept');
    expect((error as FileWriteError).remedy).toBe('free space');
    expect(new FileWriteError('/ro/run', 'EROFS', 'the file system is read-only (EROFS)').remedy).toBe('make it writable');
  });

  it('only file-system errors become FileWriteErrors', () => {
    const bug = new TypeError('bug');
    expect(writeError(bug, '/a')).toBe(bug);
    const quota = writeError(Object.assign(new Error('EDQUOT: disk quota exceeded, write'), { code: 'EDQUOT', syscall: 'write' }), '/a/b');
    expect((quota as Error).message).toBe('cannot write /a/b: disk quota exceeded (EDQUOT)');
    const odd = writeError(Object.assign(new Error('EXDEV: cross-device link not permitted, rename'), { code: 'EXDEV', syscall: 'rename' }), '/a/b');
    expect((odd as Error).message).toBe('cannot write /a/b: EXDEV: cross-device link not permitted, rename');
  });
});
