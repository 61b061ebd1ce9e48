/**
 * dropout: y = x · keep / (1 − p), keep from a counter-based hash of
 * (seed, stream, index), so backward regenerates the mask instead of storing
 * it and a run is reproducible from its seed.
 *   dx = dy · keep / (1 − p)
 */
import { dropout as dropoutKernel, dropoutKeepMask } from '@thaw/kernels';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

/** Which random numbers: the run's seed, and a stream unique to this call (e.g. step·calls + call index). */
export interface DropoutRandomness {
  seed: number;
  stream: number;
}

/** Inverted dropout with probability p; p = 0 returns x unchanged (evaluation). */
export function dropout(x: Tensor, p: number, random: DropoutRandomness): Tensor {
  if (p === 0) return x;
  const graph = x.graph;
  const apply = (src: Tensor, name: string) => {
    const out = graph.empty(src.shape, name);
    dropoutKernel(graph.gpu, { x: src.buffer, out: out.buffer, n: src.size, p, seed: random.seed, stream: random.stream });
    return out;
  };
  return graph.record({
    op: 'dropout',
    inputs: [x],
    saved: [],
    backward: (dy) => [apply(dy, 'dropout.dx')],
  }, apply(x, 'dropout'));
}

/** float64 twin of {@link dropout}, with the kernel's exact mask. */
export function dropoutReference(n: number, p: number, random: DropoutRandomness): ReferenceOp {
  const keep = dropoutKeepMask(n, p, random.seed, random.stream);
  const factor = 1 / Math.fround(1 - Math.fround(p));
  return {
    forward: ([x]) => x!.map((v, i) => (keep[i] ? v * factor : 0)),
    backward: (_, dy) => [dy.map((v, i) => (keep[i] ? v * factor : 0))],
  };
}
