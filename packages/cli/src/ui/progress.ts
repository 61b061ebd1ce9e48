import { userStderr, type UserStream } from './stderr.js';

/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
export interface Progress {
  /** Marks one more unit done and shows `label` as the current item. */
  tick(label: string): void;
  /** Prints a line above the bar (and, without a terminal, just the line). */
  note(line: string): void;
  /** Clears the bar. */
  done(): void;
}

export function progressBar(total: number, title: string, stream: UserStream = userStderr): Progress {
  if (!stream.isTTY) return { tick() {}, note: (line) => { stream.write(`${line}\n`); }, done() {} };
  let count = 0;
  let last = '';
  const width = 24;
  const draw = (label: string) => {
    last = label;
    const filled = Math.round((Math.min(count, total) / total) * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `${title} ${bar} ${count}/${total} ${label}`;
    stream.write(`\r\x1b[2K${line.slice(0, (stream.columns || 80) - 1)}`);
  };
  draw('');
  return {
    tick(label) {
      count++;
      draw(label);
    },
    note(line) {
      stream.write(`\r\x1b[2K${line}\n`);
      draw(last);
    },
    done() {
      stream.write('\r\x1b[2K');
    },
  };
}

/** Seconds as `42 s` or `3 min 07 s`; `?` when unknown. */
export function humanTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

/**
 * A bar over `steps` training steps showing loss, step rate and an ETA from
 * the mean time per step so far (evaluations and tr(F) estimates included).
 */
export function stepProgress(title: string, steps: number): { onStep(r: { step: number; loss: number; stepsPerSecond: number }): void; done(): void } {
  const bar = progressBar(steps, title);
  const started = performance.now();
  return {
    onStep: (r) => {
      const elapsed = (performance.now() - started) / 1000;
      bar.tick(`loss ${r.loss.toFixed(3)} · ${r.stepsPerSecond.toFixed(1)} steps/s · ETA ${humanTime((elapsed / (r.step + 1)) * (steps - r.step - 1))}`);
    },
    done: () => bar.done(),
  };
}
