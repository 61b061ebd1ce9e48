/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median of `repeats` timings of `run` after `warmup` untimed calls. */
export async function timeMedian(run: () => Promise<number>, warmup: number, repeats: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(await run());
  return median(times);
}

/** Attempts at a timed pass before a timer that keeps reading zero is reported. */
const TIMER_ATTEMPTS = 5;

/**
 * Milliseconds per call of `record` on the GPU: the median of `repeats`
 * timed passes after `warmup`, each pass repeating `record` often enough to
 * last at least 1 ms, because timestamp queries are coarse (Dawn quantizes
 * them to tens of microseconds). A pass that reads zero (measured on
 * lavapipe under load: both timestamps of a pass can land on one tick) is
 * not a measurement and is timed again.
 */
export async function timeGpu(time: (record: () => void) => Promise<number>, record: () => void, warmup: number, repeats: number): Promise<number> {
  let inner = 1;
  const once = () => time(() => {
    for (let i = 0; i < inner; i++) record();
  });
  const pass = async () => {
    for (let attempt = 1; ; attempt++) {
      const ms = await once();
      if (ms > 0 || attempt === TIMER_ATTEMPTS) return ms;
    }
  };
  for (let ms = await pass(); ms < 1 && inner < 4096; ms = await pass()) inner *= 4;
  const ms = await timeMedian(pass, warmup, repeats);
  if (!(ms > 0)) throw new Error(`the GPU timer read ${ms} ms for ${inner} call(s) in ${TIMER_ATTEMPTS} attempts; it cannot time this kernel`);
  return ms / inner;
}
