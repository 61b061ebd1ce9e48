/**
 * stderr, kept for what the user must read.
 *
 * Dawn's Vulkan backend prints two notices from native code whenever it
 * enumerates an adapter whose dynamic-buffer limits exceed its own
 * (lavapipe: "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially
 * reduced from 1000000 to 16 …", and the same for storage buffers). They
 * say nothing a user can act on, Dawn has no switch for its log, and Node
 * cannot redirect a native write to file descriptor 2. So `thaw` runs its
 * commands in a child process of itself (main.ts):
 *
 *   parent fd 2 ──────────────────────────────► the user's terminal or file
 *      ▲ forwarded, less Dawn's notices            ▲ the same descriptor
 *   child fd 2 (a pipe: Dawn, Node's warnings)   child fd 3 ({@link userStderr}:
 *                                                 messages, help, progress bars)
 *
 * Because the child's own messages go to the parent's descriptor itself, a
 * terminal stays a terminal for them (width, progress bars), and nothing the
 * child prints is held back: the filter holds only a partial line that could
 * still become one of the notices.
 */
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { isatty, WriteStream } from 'node:tty';
import { Writable } from 'node:stream';

/** The variable that tells a child which descriptor is the user's stderr. */
export const USER_STDERR_FD = 'THAW_USER_STDERR_FD';

/** What a progress bar needs of a stream: writing, and whether (and how wide) it is a terminal. */
export type UserStream = Writable & { isTTY?: boolean; columns?: number };

/** The user's stderr: the inherited descriptor in a child started by {@link relaunch}, else process.stderr. */
export const userStderr: UserStream = openUserStderr();

function openUserStderr(): UserStream {
  const fd = Number(process.env[USER_STDERR_FD]);
  if (!Number.isInteger(fd) || fd < 3) return process.stderr;
  if (isatty(fd)) return new WriteStream(fd);
  // Synchronous writes, as Node makes them to a file or pipe on stderr, so nothing is lost at exit.
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        writeSync(fd, chunk);
        done();
      } catch (e) {
        done(e as Error);
      }
    },
  });
}

/** Dawn's notices about the dynamic-buffer limits it lowers (see the file's header). */
const DAWN_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced /;
/** The start every notice shares: a partial line that could still become one is held until its end. */
const NOTICE_START = 'Warning: maxDynamic';

/**
 * A filter for text written to a child's fd 2: `push` each chunk as it
 * arrives, `end` when the stream closes. Complete lines other than Dawn's
 * notices, and any partial line that cannot become one, go to `write` at once.
 */
export function dawnNoticeFilter(write: (text: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  return {
    push(chunk) {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop()!;
      let text = lines.filter((line) => !DAWN_NOTICE.test(line)).map((line) => `${line}\n`).join('');
      if (!NOTICE_START.startsWith(pending) && !pending.startsWith(NOTICE_START)) {
        text += pending;
        pending = '';
      }
      if (text) write(text);
    },
    end() {
      if (pending && !DAWN_NOTICE.test(pending)) write(pending);
      pending = '';
    },
  };
}

/** Signals the parent passes on to its child (an interrupt from a terminal reaches both; a second is harmless). */
const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs this command again as a child process whose fd 2 is filtered through
 * {@link dawnNoticeFilter} and whose fd 3 is this process's stderr; resolves
 * to the child's exit code. A child killed by a signal kills this process
 * with the same signal, so a shell sees what it would have seen.
 */
export function relaunch(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe', 2],
    env: { ...process.env, [USER_STDERR_FD]: '3' },
  });
  const filter = dawnNoticeFilter((text) => process.stderr.write(text));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => filter.push(chunk));
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      filter.end();
      for (const s of FORWARDED) process.off(s, forward);
      if (signal) process.kill(process.pid, signal);
      resolve(code ?? 1);
    });
  });
}
