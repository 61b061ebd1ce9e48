/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
export interface Progress {
  /** Marks one more unit done and shows `label` as the current item. */
  tick(label: string): void;
  /** Prints a line above the bar (and, without a terminal, just the line). */
  note(line: string): void;
  /** Clears the bar. */
  done(): void;
}

export function progressBar(total: number, title: string, stream: NodeJS.WriteStream = process.stderr): Progress {
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
