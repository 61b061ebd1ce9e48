/**
 * Selection policies of scheduled unfreezing: which task-adapter blocks
 * (one per layer, 0 = bottom … L−1 = top) join the trainable set at each
 * unfreeze point of Algorithm 1 (paper §3.2, §5.3). docs/method.md §3 compares
 * each with the paper and the official code.
 *
 *   standard   every block from step 0 (plain adapter training)
 *   full       every block and the base model from step 0 (full fine-tuning;
 *              language adapters stay frozen)
 *   lpft       head only, then every block at the first interval (linear probing, then fine-tuning)
 *   gu         top-down: L−1 at step 0, then L−2, L−3, … (gradual unfreezing)
 *   gu-rev     bottom-up: 0, 1, 2, …
 *   rand       L−1 at step 0, then a uniformly random frozen block (seeded)
 *   fixed:…    a given order, e.g. fixed:11,10,2,6,5,8,3,7,0,1,9,4, or one of
 *              the official code's lists, fixed:schedule-0 … schedule-9 and
 *              fixed:schedule-rev (12 layers; layer 11 first)
 *   fun        L−1 at step 0, then the frozen block with the largest tr(F)
 */
import { mulberry32 } from '@thaw/kernels';

/** What a policy sees at an unfreeze point. */
export interface SelectContext {
  /** 0 for the first unfreeze point (step 0), m for the m-th interval. */
  round: number;
  layers: number;
  /** Blocks still frozen, ascending. */
  frozen: number[];
  /** tr(F) of every block (FUN only); computed on demand. */
  fisherScores?: () => Promise<Map<number, number>>;
}

/** A policy's choice, with the scores it used (FUN). */
export interface Selection {
  blocks: number[];
  scores?: Map<number, number>;
}

export interface Policy {
  /** The policy's name as given on the command line. */
  readonly name: string;
  /** Whether the base model (not only adapters) is trained from step 0. */
  readonly trainsBase: boolean;
  select(context: SelectContext): Promise<Selection>;
}

/** The official code's fixed orders after layer 11 (UKPLab/naacl2024-fun src/transformers/trainer.py L207–219 at b2babf7). */
export const OFFICIAL_SCHEDULES: Record<string, number[]> = {
  'schedule-0': [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
  'schedule-1': [10, 2, 6, 5, 8, 3, 7, 0, 1, 9, 4],
  'schedule-2': [9, 6, 2, 4, 5, 8, 7, 10, 1, 3, 0],
  'schedule-3': [9, 7, 0, 10, 5, 8, 2, 4, 1, 3, 6],
  'schedule-4': [10, 5, 4, 7, 1, 9, 0, 8, 3, 2, 6],
  'schedule-5': [10, 8, 1, 6, 7, 2, 0, 5, 4, 9, 3],
  'schedule-6': [10, 4, 7, 5, 3, 0, 6, 2, 9, 8, 1],
  'schedule-7': [10, 1, 0, 3, 9, 6, 8, 2, 5, 7, 4],
  'schedule-8': [10, 9, 3, 5, 0, 4, 1, 8, 6, 7, 2],
  'schedule-9': [10, 7, 0, 3, 4, 8, 1, 2, 6, 5, 9],
  'schedule-rev': [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
};

const all = (layers: number) => Array.from({ length: layers }, (_, j) => j);

/** One block per round, from an order; round 0 takes order[0]. */
function ordered(name: string, order: (layers: number) => number[]): Policy {
  return {
    name,
    trainsBase: false,
    async select({ round, layers, frozen }) {
      // The first entry of the order that is still frozen (nothing is re-frozen).
      const next = order(layers).find((j) => frozen.includes(j));
      return { blocks: round < layers && next !== undefined ? [next] : [] };
    },
  };
}

/** Parses `fixed:…` into a full order over `layers` blocks; throws a message naming the schedule. */
export function fixedOrder(spec: string, layers: number): number[] {
  const official = OFFICIAL_SCHEDULES[spec];
  if (official) {
    if (layers !== 12) throw new Error(`fixed:${spec} is the official code's order for 12 layers; this model has ${layers}`);
    return [11, ...official];
  }
  const order = spec.split(',').map((s) => Number(s.trim()));
  const valid = order.length === layers && order.every((j) => Number.isInteger(j) && j >= 0 && j < layers) && new Set(order).size === layers;
  if (!valid) throw new Error(`fixed:${spec} must list every layer 0…${layers - 1} once (comma-separated), or name schedule-0 … schedule-9 / schedule-rev`);
  return order;
}

/** The policy called `name` (see the module comment); `seed` drives `rand`. */
export function policy(name: string, layers: number, seed = 0): Policy {
  switch (name) {
    case 'standard':
    case 'full':
      return {
        name,
        trainsBase: name === 'full',
        async select({ round }) {
          return { blocks: round === 0 ? all(layers) : [] };
        },
      };
    case 'lpft':
      return {
        name,
        trainsBase: false,
        async select({ round }) {
          return { blocks: round === 1 ? all(layers) : [] };
        },
      };
    case 'gu':
      return ordered(name, (L) => all(L).reverse());
    case 'gu-rev':
      return ordered(name, all);
    case 'rand':
      return {
        name,
        trainsBase: false,
        async select({ round, frozen }) {
          if (round === 0) return { blocks: frozen.includes(layers - 1) ? [layers - 1] : [] };
          if (!frozen.length) return { blocks: [] };
          // A generator per (seed, round): the choice has no hidden state, so a resumed run repeats it.
          const random = mulberry32(((seed >>> 0) * 4099 + round) >>> 0);
          return { blocks: [frozen[Math.floor(random() * frozen.length)]!] };
        },
      };
    case 'fun':
      return {
        name,
        trainsBase: false,
        async select({ round, frozen, fisherScores }) {
          if (round === 0) return { blocks: frozen.includes(layers - 1) ? [layers - 1] : [] };
          if (!frozen.length) return { blocks: [] };
          if (!fisherScores) throw new Error('the fun policy needs tr(F) scores at each unfreeze point');
          const scores = await fisherScores();
          // The largest tr(F) among frozen blocks; ties go to the higher layer, as the official code's reversed stable sort.
          let best = frozen[0]!;
          for (const j of frozen) if ((scores.get(j) ?? -Infinity) >= (scores.get(best) ?? -Infinity)) best = j;
          return { blocks: [best], scores };
        },
      };
    default:
      if (name.startsWith('fixed:')) {
        const order = fixedOrder(name.slice('fixed:'.length), layers);
        return ordered(name, () => order);
      }
      throw new Error(`unknown schedule '${name}'; use standard, full, lpft, gu, gu-rev, rand, fixed:<order> or fun`);
  }
}
