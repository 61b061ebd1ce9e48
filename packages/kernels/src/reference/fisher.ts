/** float64 references of fisher.wgsl. */
import type { Segment } from '../ops/fisher.js';

/** F + scale · g² elementwise. */
export function fisherAccumulateReference(fisher: ArrayLike<number>, grad: ArrayLike<number>, scale: number): Float64Array {
  const out = new Float64Array(fisher.length);
  for (let i = 0; i < fisher.length; i++) out[i] = fisher[i]! + scale * grad[i]! * grad[i]!;
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
