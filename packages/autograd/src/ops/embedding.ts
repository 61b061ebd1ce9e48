/**
 * embedding: rows of a table picked by integer ids, out[t] = table[ids[t]].
 *   dTable[v] = Σ_{t: ids[t] = v} dOut[t]    (deterministic scatter-add; only
 *   when the table is trainable: a frozen embedding costs nothing backward)
 * embeddingSum: the sum of up to three lookups with the same ids shape and
 *   width, out[t] = (T0[ids0[t]] + T1[ids1[t]]) + T2[ids2[t]] (a transformer's
 *   word + position + token-type embeddings), in one gather launch with the
 *   bits of add(add(embedding, embedding), embedding). The gradient of a sum
 *   reaches each term unchanged: every trainable table gets the scatter-add
 *   of dOut over its own ids, as if it had been looked up alone.
 */
import { embeddingGather, embeddingIndex, embeddingScatterAdd } from '@thaw/kernels';
import { embeddingBackwardReference, embeddingSumReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

/** One term of {@link embeddingSum}: `ids` looked up in `table` [vocab, D]. */
export interface EmbeddingLookup {
  table: Tensor;
  ids: Uint32Array | Int32Array;
}

/** Looks up `ids` (shape `idShape`, e.g. [batch, sequence]) in `table` [vocab, D]. */
export function embedding(table: Tensor, ids: Uint32Array | Int32Array, idShape: readonly number[] = [ids.length]): Tensor {
  return embeddingSum([{ table, ids }], idShape);
}

/**
 * The sum of one to three lookups (shape [...idShape, D]), added in the
 * order given: one dispatch (per chunk of the first table, which may exceed
 * one storage binding; the others must fit one). Every id is checked against
 * its table on the host.
 */
export function embeddingSum(lookups: readonly EmbeddingLookup[], idShape: readonly number[] = [lookups[0]?.ids.length ?? 0]): Tensor {
  if (lookups.length < 1 || lookups.length > 3) throw new Error(`embeddingSum: sums 1 to 3 lookups, got ${lookups.length}`);
  const [first, ...extra] = lookups;
  const graph = first!.table.graph;
  const gpu = graph.gpu;
  const D = first!.table.shape[1]!;
  const tokens = first!.ids.length;
  if (idShape.reduce((a, b) => a * b, 1) !== tokens) throw new Error(`embedding: id shape [${idShape}] does not hold ${tokens} ids`);
  const vocabs = lookups.map(({ table, ids }, k) => {
    const [vocab, width] = table.shape as [number, number];
    if (width !== D) throw new Error(`embeddingSum: table ${k} (${table.name || `[${table.shape}]`}) has width ${width}, table 0 has ${D}`);
    if (ids.length !== tokens) throw new Error(`embeddingSum: lookup ${k} has ${ids.length} ids, lookup 0 has ${tokens}`);
    for (let t = 0; t < tokens; t++) {
      const v = ids[t]!;
      if (!Number.isInteger(v) || v < 0 || v >= vocab) throw new Error(`embedding: token ${t} has id ${v}, outside 0…${vocab - 1} of ${table.name || 'the table'}`);
    }
    return vocab;
  });
  const idBuffers = lookups.map(({ ids }) => gpu.upload(Uint32Array.from(ids), 'ids'));
  const out = graph.empty([...idShape, D], lookups.length > 1 ? 'embeddingSum' : 'embedding');
  embeddingGather(gpu, {
    table: first!.table.buffer, ids: idBuffers[0]!, out: out.buffer, tokens, vocab: vocabs[0]!, D,
    extra: extra.map(({ table }, k) => ({ table: table.buffer, ids: idBuffers[k + 1]!, vocab: vocabs[k + 1]! })),
  });
  for (const b of idBuffers) gpu.release(b);
  return graph.record({
    op: lookups.length > 1 ? 'embeddingSum' : 'embedding',
    inputs: lookups.map(({ table }) => table),
    saved: [],
    backward(dOut) {
      return lookups.map(({ table, ids }, k) => {
        if (!table.requiresGrad) return undefined;
        // The CSR index is built only when a trainable table needs it.
        const vocab = vocabs[k]!;
        const index = embeddingIndex(ids, vocab);
        const offsets = gpu.upload(index.offsets, 'embedding.offsets');
        const positions = gpu.upload(index.positions, 'embedding.positions');
        const dTable = graph.empty(table.shape, 'embedding.dTable');
        embeddingScatterAdd(gpu, { dOut: dOut.buffer, offsets, positions, dTable: dTable.buffer, tokens, vocab, D });
        gpu.release(offsets);
        gpu.release(positions);
        return dTable;
      });
    },
  }, out);
}

/** float64 twin of {@link embedding} (input: the table). */
export function embeddingReferenceOp(ids: ArrayLike<number>, vocab: number, D: number): ReferenceOp {
  return embeddingSumReferenceOp([{ ids, vocab }], D);
}

/** float64 twin of {@link embeddingSum} (inputs: the tables, in the order of `lookups`). */
export function embeddingSumReferenceOp(lookups: readonly { ids: ArrayLike<number>; vocab: number }[], D: number): ReferenceOp {
  return {
    forward: (tables) => embeddingSumReference(lookups.map(({ ids }, k) => ({ table: tables[k]!, ids })), D),
    backward: (_, dOut) => lookups.map(({ ids, vocab }) => embeddingBackwardReference(dOut, ids, vocab, D)),
  };
}
