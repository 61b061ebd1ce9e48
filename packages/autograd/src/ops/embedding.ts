/**
 * embedding: rows of a table picked by integer ids, out[t] = table[ids[t]].
 *   dTable[v] = Σ_{t: ids[t] = v} dOut[t]    (deterministic scatter-add; only
 *   when the table is trainable: a frozen embedding costs nothing backward)
 */
import { embeddingGather, embeddingIndex, embeddingScatterAdd } from '@thaw/kernels';
import { embeddingBackwardReference, embeddingReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

/** Looks up `ids` (shape `idShape`, e.g. [batch, sequence]) in `table` [vocab, D]. */
export function embedding(table: Tensor, ids: Uint32Array | Int32Array, idShape: readonly number[] = [ids.length]): Tensor {
  const graph = table.graph;
  const gpu = graph.gpu;
  const [vocab, D] = table.shape as [number, number];
  const tokens = ids.length;
  if (idShape.reduce((a, b) => a * b, 1) !== tokens) throw new Error(`embedding: id shape [${idShape}] does not hold ${tokens} ids`);
  for (let t = 0; t < tokens; t++) {
    const v = ids[t]!;
    if (!Number.isInteger(v) || v < 0 || v >= vocab) throw new Error(`embedding: token ${t} has id ${v}, outside 0…${vocab - 1} of ${table.name || 'the table'}`);
  }
  const idBuffer = gpu.upload(Uint32Array.from(ids), 'ids');
  const out = graph.empty([...idShape, D], 'embedding');
  embeddingGather(gpu, { table: table.buffer, ids: idBuffer, out: out.buffer, tokens, vocab, D });
  gpu.release(idBuffer);
  return graph.record({
    op: 'embedding',
    inputs: [table],
    saved: [],
    backward(dOut) {
      // The CSR index is built only when a trainable table needs it.
      const index = embeddingIndex(ids, vocab);
      const offsets = gpu.upload(index.offsets, 'embedding.offsets');
      const positions = gpu.upload(index.positions, 'embedding.positions');
      const dTable = graph.empty(table.shape, 'embedding.dTable');
      embeddingScatterAdd(gpu, { dOut: dOut.buffer, offsets, positions, dTable: dTable.buffer, tokens, vocab, D });
      gpu.release(offsets);
      gpu.release(positions);
      return [dTable];
    },
  }, out);
}

/** float64 twin of {@link embedding} (input: the table). */
export function embeddingReferenceOp(ids: ArrayLike<number>, vocab: number, D: number): ReferenceOp {
  return {
    forward: ([table]) => embeddingReference(table!, ids, D),
    backward: (_, dOut) => [embeddingBackwardReference(dOut, ids, vocab, D)],
  };
}
