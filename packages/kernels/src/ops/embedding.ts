/**
 * Launchers of embedding.wgsl. Tables (and their gradients) may be larger
 * than one storage binding: both launchers then run one dispatch per chunk of
 * table rows (see embedding.wgsl's header), with the bits of a single launch.
 */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import { alignedRange } from '../runtime/chunks.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

function checkShape(kernel: string, shape: Record<string, number>): void {
  for (const [name, v] of Object.entries(shape)) {
    if (!Number.isInteger(v) || v < 1) throw new KernelLaunchError(kernel, `${name} must be a positive integer, got ${v}`);
  }
}

/** A small table whose rows {@link embeddingGather} adds to the main table's: vocab×D, bound whole. */
export interface ExtraLookup {
  table: GpuBuffer;
  /** One id per token, each < vocab (an id past the table makes its output row NaN). */
  ids: GpuBuffer;
  vocab: number;
}

/**
 * out[t, :] = table[ids[t], :] for a vocab×D table, which may exceed one
 * binding (it is then read one chunk of rows per dispatch). An id ≥ vocab has
 * no row: its output row is NaN. Callers check ids on the host (see
 * {@link embeddingIndex}).
 *
 * With `extra` (at most two small tables, each bound whole), the same launch
 * returns the sum of the lookups, out[t, :] = (table[ids[t], :] +
 * extra[0].table[extra[0].ids[t], :]) + extra[1].table[…], added in that
 * order: the bits of separate gathers added with axpby (α = β = 1), in one
 * dispatch per chunk of `table`.
 */
export function embeddingGather(gpu: Gpu, args: { table: GpuBuffer; ids: GpuBuffer; out: GpuBuffer; tokens: number; vocab: number; D: number; extra?: readonly ExtraLookup[] }): void {
  const { tokens, vocab, D } = args;
  const extra = args.extra ?? [];
  checkShape('embedding.gather', { tokens, vocab, D, ...Object.fromEntries(extra.map((x, k) => [`extra[${k}].vocab`, x.vocab])) });
  if (extra.length > 2) throw new KernelLaunchError('embedding.gather', `adds at most 2 extra tables, got ${extra.length}`);
  const kernel = gpu.kernel('embedding', 'gather', { WG: THREADS, EXTRA_TABLES: extra.length });
  const workgroups = foldWorkgroups(Math.ceil((tokens * D) / THREADS), gpu.maxWorkgroupsPerDimension);
  // Extra bindings the kernel does not read take `ids` (read-only bindings may share a buffer).
  const extraBindings = { extra1: extra[0]?.table ?? args.ids, ids1: extra[0]?.ids ?? args.ids, extra2: extra[1]?.table ?? args.ids, ids2: extra[1]?.ids ?? args.ids };
  const extraBytes = Object.fromEntries(extra.flatMap((x, k) => [[`extra${k + 1}`, 4 * x.vocab * D], [`ids${k + 1}`, 4 * tokens]]));
  gpu.forEachChunk(vocab, 4 * D, { table: args.table }, ({ table }, { first, count }) => {
    kernel.launch({
      bindings: { table, ids: args.ids, out: args.out, ...extraBindings },
      uniforms: { tokens, D, vocab, first, count, vocab1: extra[0]?.vocab ?? 0, vocab2: extra[1]?.vocab ?? 0 },
      minBytes: { table: 4 * count * D, ids: 4 * tokens, out: 4 * tokens * D, ...extraBytes },
      workgroups,
    });
  });
}

/**
 * The CSR index the backward needs: for each id v, the token positions that
 * use it (ascending), as offsets (vocab + 1) and positions (tokens).
 * Throws if an id is outside 0 … vocab − 1.
 */
export function embeddingIndex(ids: ArrayLike<number>, vocab: number): { offsets: Uint32Array; positions: Uint32Array } {
  const offsets = new Uint32Array(vocab + 1);
  for (let t = 0; t < ids.length; t++) {
    const v = ids[t]!;
    if (!Number.isInteger(v) || v < 0 || v >= vocab) throw new KernelLaunchError('embedding', `token ${t} has id ${v}, outside 0…${vocab - 1}`);
    offsets[v + 1]!++;
  }
  for (let v = 0; v < vocab; v++) offsets[v + 1]! += offsets[v]!;
  const next = offsets.slice(0, vocab);
  const positions = new Uint32Array(ids.length);
  for (let t = 0; t < ids.length; t++) positions[next[ids[t]!]!++] = t;
  return { offsets, positions };
}

/**
 * dTable[v, :] = Σ_{t: ids[t] = v} dOut[t, :], from the index of
 * {@link embeddingIndex}. dTable (and offsets) may exceed one binding: one
 * dispatch per chunk of vocabulary rows then writes that chunk, each element
 * summed in the same order as by a single launch. A chunk's offsets are bound
 * from the aligned word at or below its first row: up to
 * minStorageBufferOffsetAlignment bytes more than its count + 1 words, which
 * fits whenever D ≥ 2 and the binding limit is at least 1 KB (a table of
 * width 1 larger than a binding is refused at launch, naming 'offsets').
 */
export function embeddingScatterAdd(gpu: Gpu, args: { dOut: GpuBuffer; offsets: GpuBuffer; positions: GpuBuffer; dTable: GpuBuffer; tokens: number; vocab: number; D: number }): void {
  const { tokens, vocab, D } = args;
  checkShape('embedding.scatterAdd', { tokens, vocab, D });
  const kernel = gpu.kernel('embedding', 'scatterAdd', { WG: THREADS });
  const launch = (dTable: GpuBuffer, offsets: GpuBuffer, count: number, skip: number) => kernel.launch({
    bindings: { dOut: args.dOut, offsets, positions: args.positions, dTable },
    uniforms: { D, count, skip },
    minBytes: { dOut: 4 * tokens * D, offsets: 4 * (skip + count + 1), positions: 4 * tokens, dTable: 4 * count * D },
    workgroups: foldWorkgroups(Math.ceil((count * D) / THREADS), gpu.maxWorkgroupsPerDimension),
  });
  gpu.forEachChunk(vocab, 4 * D, { dTable: args.dTable }, ({ dTable }, { first, count }) => {
    if (count === vocab) return launch(dTable, args.offsets, count, 0);
    // offsets[first … first + count], bound from the aligned word at or below first.
    const range = alignedRange(first, count + 1, gpu.device.limits.minStorageBufferOffsetAlignment);
    gpu.withViews({ offsets: { buffer: args.offsets, offset: range.offset, bytes: range.bytes } }, ({ offsets }) => launch(dTable, offsets, count, range.skip));
  });
}
