/** float64 references of fisher.wgsl. */
import type { Segment } from '../ops/fisher.js';

/** F with scale · g² added elementwise at `offset` (default 0; g may be shorter than F). */
export function fisherAccumulateReference(fisher: ArrayLike<number>, grad: ArrayLike<number>, scale: number, offset = 0): Float64Array {
  const out = Float64Array.from(fisher);
  for (let i = 0; i < grad.length; i++) out[offset + i] = fisher[offset + i]! + scale * grad[i]! * grad[i]!;
  return out;
}

/** Σ of each segment, in float64. */
export function segmentTracesReference(values: ArrayLike<number>, segments: readonly Segment[]): Float64Array {
  return Float64Array.from(segments, ({ offset, length }) => {
    let s = 0;
    for (let i = offset; i < offset + length; i++) s += values[i]!;
    return s;
  });
}
