/**
 * Writing a file so that a crash never leaves half of it: the content goes
 * to a temporary file in the same folder, which is synced and renamed over
 * the destination. Readers see the old file or the whole new one. A write
 * that fails (a full disk) removes the temporary file and throws a
 * FileWriteError naming the destination.
 */
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeError } from '../errors/write-error.js';

/** Writes `path` through `write` on a temporary file, then renames it into place (creating the folder). */
export async function writeFileAtomic(path: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  let handle: FileHandle | undefined;
  try {
    await mkdir(dirname(path), { recursive: true });
    handle = await open(temp, 'w');
    await write(handle);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw writeError(e, path);
  }
}

/** Writes every byte of `bytes`: one write may be partial (on Linux, past about 2 GiB). */
export async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}
