/**
 * Algorithm 1 (generalized scheduled unfreezing): the trainable set starts
 * with the head; at every step i with i mod k = 0 and i < k·L, the policy's
 * select() adds blocks; nothing is ever re-frozen.
 *
 * Timing. `paper` (default) follows Algorithm 1: unfreeze points at steps
 * 0, k, 2k, …, (L−1)k (0-based optimizer steps, checked before the step's
 * forward). `official-code` reproduces the released code: the m-th point
 * (m ≥ 1) at step m·k − 1 for fun, rand and fixed orders and lpft, but at
 * (m+1)·k − 1 for gu, whose top block therefore trains alone for 2k − 1
 * steps (docs/method.md §2; UKPLab/naacl2024-fun src/transformers/trainer.py
 * L1554–1594 at b2babf7). The code's bottom-up run was most likely
 * its fixed order `schedule-rev` (layer 11 first, then 0 … 10, on the
 * m·k − 1 clock): use `fixed:schedule-rev` with this timing to reproduce it;
 * `gu-rev` here is the plain bottom-up order on the same clock.
 */
import { policy as makePolicy, type Policy, type Selection } from './policies.js';

export type UnfreezeTiming = 'paper' | 'official-code';

/** One unfreeze event, as events.jsonl records it. */
export interface UnfreezeEvent {
  step: number;
  blocks: number[];
  policy: string;
  /** tr(F) of every block, by layer (FUN). */
  scores?: Record<string, number>;
}

export interface ScheduleOptions {
  /** Policy name (see policies.ts). */
  policy: string;
  layers: number;
  /** Steps between unfreeze points. */
  k: number;
  seed?: number;
  timing?: UnfreezeTiming;
}

export class UnfreezeSchedule {
  readonly policy: Policy;
  readonly layers: number;
  readonly k: number;
  readonly timing: UnfreezeTiming;
  private readonly trainable = new Set<number>();
  private round = 0;

  constructor(options: ScheduleOptions) {
    if (!Number.isInteger(options.k) || options.k < 1) throw new Error(`k must be a positive integer, got ${options.k}`);
    // 0 blocks is allowed: pretraining runs the `full` policy with nothing to unfreeze.
    if (!Number.isInteger(options.layers) || options.layers < 0) throw new Error(`a schedule needs a non-negative number of layers, got ${options.layers}`);
    this.layers = options.layers;
    this.k = options.k;
    this.timing = options.timing ?? 'paper';
    this.policy = makePolicy(options.policy, options.layers, options.seed ?? 0);
  }

  /** What a checkpoint must hold to resume the schedule exactly. */
  state(): { round: number; trainable: number[] } {
    return { round: this.round, trainable: this.trainableBlocks };
  }

  /** Restores a state from {@link state} (before visiting the next step). */
  restore(state: { round: number; trainable: number[] }): void {
    this.round = state.round;
    this.trainable.clear();
    for (const j of state.trainable) this.trainable.add(j);
  }

  /** Blocks trainable now, ascending. */
  get trainableBlocks(): number[] {
    return [...this.trainable].sort((a, b) => a - b);
  }

  /** Blocks still frozen, ascending. */
  get frozenBlocks(): number[] {
    return Array.from({ length: this.layers }, (_, j) => j).filter((j) => !this.trainable.has(j));
  }

  /** The step of unfreeze point number `round` (0-based) under the chosen timing. */
  stepOfRound(round: number): number {
    if (this.timing === 'paper' || round === 0) return round * this.k;
    return (this.policy.name === 'gu' ? round + 1 : round) * this.k - 1;
  }

  /**
   * Called before step `step`'s forward: runs select() when the step is an
   * unfreeze point and returns the event (undefined when nothing happens).
   * Steps must be visited in increasing order.
   */
  async at(step: number, fisherScores?: () => Promise<Map<number, number>>): Promise<UnfreezeEvent | undefined> {
    if (this.round >= this.layers || step !== this.stepOfRound(this.round)) return undefined;
    const round = this.round++;
    const selection: Selection = await this.policy.select({
      round,
      layers: this.layers,
      frozen: this.frozenBlocks,
      ...(fisherScores ? { fisherScores } : {}),
    });
    const blocks = selection.blocks.filter((j) => !this.trainable.has(j)).sort((a, b) => a - b);
    for (const j of blocks) this.trainable.add(j);
    if (!blocks.length) return undefined;
    const event: UnfreezeEvent = { step, blocks, policy: this.policy.name };
    if (selection.scores) event.scores = Object.fromEntries([...selection.scores].sort((a, b) => a[0] - b[0]).map(([j, s]) => [String(j), s]));
    return event;
  }
}
