/** Launchers of embedding.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

/** out[t, :] = table[ids[t], :]. */
export function embeddingGather(gpu: Gpu, args: { table: GpuBuffer; ids: GpuBuffer; out: GpuBuffer; tokens: number; vocab: number; D: number }): void {
  const { tokens, vocab, D } = args;
  gpu.kernel('embedding', 'gather', { WG: THREADS }).launch({
    bindings: { table: args.table, ids: args.ids, out: args.out },
    uniforms: { tokens, D },
    minBytes: { table: 4 * vocab * D, ids: 4 * tokens, out: 4 * tokens * D },
    workgroups: foldWorkgroups(Math.ceil((tokens * D) / THREADS), gpu.maxWorkgroupsPerDimension),
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

/** dTable[v, :] = Σ_{t: ids[t] = v} dOut[t, :], from the index of {@link embeddingIndex}. */
export function embeddingScatterAdd(gpu: Gpu, args: { dOut: GpuBuffer; offsets: GpuBuffer; positions: GpuBuffer; dTable: GpuBuffer; tokens: number; vocab: number; D: number }): void {
  const { tokens, vocab, D } = args;
  gpu.kernel('embedding', 'scatterAdd', { WG: THREADS }).launch({
    bindings: { dOut: args.dOut, offsets: args.offsets, positions: args.positions, dTable: args.dTable },
    uniforms: { vocab, D },
    minBytes: { dOut: 4 * tokens * D, offsets: 4 * (vocab + 1), positions: 4 * tokens, dTable: 4 * vocab * D },
    workgroups: foldWorkgroups(Math.ceil((vocab * D) / THREADS), gpu.maxWorkgroupsPerDimension),
  });
}
