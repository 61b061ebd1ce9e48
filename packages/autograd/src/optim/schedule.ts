/** Learning-rate schedules: the rate for optimizer step s (counting from 0). */
export type LrSchedule = (step: number) => number;

/** The same rate at every step. */
export const constantLr = (lr: number): LrSchedule => () => lr;

/**
 * Linear warmup over `warmupSteps` (0 by default: none), then linear decay to
 * 0 at `totalSteps`, as transformers' get_linear_schedule_with_warmup.
 */
export function linearLr(lr: number, totalSteps: number, warmupSteps = 0): LrSchedule {
  if (!(totalSteps > 0) || warmupSteps < 0 || warmupSteps > totalSteps) {
    throw new RangeError(`linear schedule needs 0 ≤ warmupSteps (${warmupSteps}) ≤ totalSteps (${totalSteps}) and totalSteps > 0`);
  }
  return (step) => {
    if (step < warmupSteps) return (lr * step) / warmupSteps;
    return lr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
  };
}
