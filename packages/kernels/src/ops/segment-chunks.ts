/**
 * Segments of a flat buffer larger than one binding: the launchers of
 * optimizer.wgsl and fisher.wgsl that run over a list of segments (ranges of
 * an arena or of the flat Fisher buffer) bind the buffers chunk by chunk and
 * hand each chunk the *pieces* of the segments that fall in it.
 *
 * A segment's reduction (a sum of squares, a trace) is the same strided sum
 * whatever the chunking: thread t of the workgroup adds the segment's
 * elements t, t + WG, … in order, then a fixed tree. A piece carries where it
 * starts in its segment (`skip`), so each thread continues its own strided
 * sum across pieces; the running sums travel between launches through a
 * lane bank of WG floats (`bank`), and only the segment's last piece runs
 * the tree. The result has the bits of
 * the unchunked launch.
 */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import type { RowChunk } from '../runtime/chunks.js';

/** The part of one segment that lies in one chunk. */
export interface SegmentPiece {
  /** Index of the segment in the launcher's list. */
  segment: number;
  /** First element of the piece, relative to the bound chunk. */
  offset: number;
  /** Elements of the piece (0 only for an empty segment). */
  n: number;
  /** Index of the piece's first element within its segment (> 0: continue the lanes of `bank`). */
  skip: number;
  /** Lane bank of a segment that spans chunks (0 otherwise). */
  bank: number;
  /** Whether the piece ends its segment (runs the tree) rather than storing its lanes in `bank`. */
  last: boolean;
}

/** The launches of a list of segments: per launch, its chunk (none: the buffers bind whole) and its pieces. */
export interface SegmentChunks {
  launches: { chunk?: RowChunk; pieces: SegmentPiece[] }[];
  /** Lane banks the spanning segments need (each WG floats). */
  banks: number;
}

/**
 * Plans the launches over `segments` ({offset, n} in elements of fp32
 * buffers, all of one layout): one launch with the buffers themselves when
 * each of `buffers` binds whole, else one per chunk (whole rows of 4 bytes,
 * aligned, see {@link Gpu.rowChunks}) that holds a piece of some segment.
 * Pieces are in segment order; empty segments go whole to the first launch.
 * A spanning segment takes the lowest lane bank free when it starts and
 * frees it after its last piece (a bank is never read and written by two
 * segments in one launch).
 */
export function segmentChunks(gpu: Gpu, segments: readonly { offset: number; n: number }[], buffers: readonly GpuBuffer[]): SegmentChunks {
  if (buffers.every((b) => b.bindSize <= gpu.maxStorageBindingBytes)) {
    return { launches: [{ pieces: segments.map((s, segment) => ({ segment, offset: s.offset, n: s.n, skip: 0, bank: 0, last: true })) }], banks: 0 };
  }
  const end = Math.max(1, ...segments.map((s) => (s.n > 0 ? s.offset + s.n : 0)));
  const empty = segments.flatMap((s, segment) => (s.n > 0 ? [] : [{ segment, offset: 0, n: 0, skip: 0, bank: 0, last: true }]));
  const launches: SegmentChunks['launches'] = [];
  const bankOf = new Map<number, number>();
  const free: number[] = [];
  let banks = 0;
  for (const chunk of gpu.rowChunks(end, 4)) {
    const stop = chunk.first + chunk.count;
    const pieces: SegmentPiece[] = chunk.first === 0 ? [...empty] : [];
    const ended: number[] = [];
    for (const [segment, s] of segments.entries()) {
      const from = Math.max(s.offset, chunk.first);
      const to = Math.min(s.offset + s.n, stop);
      if (from >= to) continue;
      const last = to === s.offset + s.n;
      if (!last && !bankOf.has(segment)) bankOf.set(segment, free.length ? free.shift()! : banks++);
      if (last && bankOf.has(segment)) ended.push(bankOf.get(segment)!);
      pieces.push({ segment, offset: from - chunk.first, n: to - from, skip: from - s.offset, bank: bankOf.get(segment) ?? 0, last });
    }
    free.push(...ended);
    free.sort((a, b) => a - b);
    if (pieces.length) launches.push({ chunk, pieces: pieces.sort((a, b) => a.segment - b.segment) });
  }
  return { launches, banks };
}

/**
 * Runs `launch` once per launch of `plan`, with `buffers` replaced by views
 * of its chunk (or as they are when the plan binds them whole). Views are
 * released after each launch.
 */
export function forEachSegmentChunk<K extends string>(gpu: Gpu, plan: SegmentChunks, buffers: Record<K, GpuBuffer>, launch: (views: Record<K, GpuBuffer>, pieces: SegmentPiece[]) => void): void {
  for (const { chunk, pieces } of plan.launches) {
    if (chunk) gpu.withChunkViews(chunk, buffers, (views) => launch(views, pieces));
    else launch(buffers, pieces);
  }
}
