/** float64 references of layout.wgsl, softmax.wgsl, embedding.wgsl and dropout.wgsl. */
import { stridesOf } from '../ops/layout.js';

/** Axis permutation: out axis k is in axis perm[k]. */
export function permuteReference(x: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float64Array {
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = stridesOf(shape);
  const outStrides = stridesOf(outShape);
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o++) {
    let i = 0;
    outShape.forEach((_, k) => {
      const j = Math.floor(o / outStrides[k]!) % outShape[k]!;
      i += j * inStrides[perm[k]!]!;
    });
    out[o] = x[i]!;
  }
  return out;
}

/** Masked, scaled row softmax (rows of length C; mask batches×C, row r in batch r / rowsPerBatch). */
export function softmaxReference(x: ArrayLike<number>, rows: number, C: number, scale: number, mask?: ArrayLike<number>, rowsPerBatch = rows): Float64Array {
  const y = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    const kept = (c: number) => !mask || mask[Math.floor(r / rowsPerBatch) * C + c] !== 0;
    let m = -Infinity;
    for (let c = 0; c < C; c++) if (kept(c)) m = Math.max(m, scale * x[r * C + c]!);
    let s = 0;
    for (let c = 0; c < C; c++) if (kept(c)) s += Math.exp(scale * x[r * C + c]! - m);
    for (let c = 0; c < C; c++) y[r * C + c] = kept(c) ? Math.exp(scale * x[r * C + c]! - m) / s : 0;
  }
  return y;
}

/** Backward of {@link softmaxReference} from its output y. */
export function softmaxBackwardReference(y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, C: number, scale: number): Float64Array {
  const dx = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += dy[r * C + c]! * y[r * C + c]!;
    for (let c = 0; c < C; c++) dx[r * C + c] = scale * y[r * C + c]! * (dy[r * C + c]! - s);
  }
  return dx;
}

/** Embedding lookup (the row of an id outside the table is NaN, as on the GPU) and its backward. */
export function embeddingReference(table: ArrayLike<number>, ids: ArrayLike<number>, D: number): Float64Array {
  const vocab = table.length / D;
  const out = new Float64Array(ids.length * D);
  for (let t = 0; t < ids.length; t++) {
    const v = ids[t]!;
    for (let d = 0; d < D; d++) out[t * D + d] = v >= 0 && v < vocab ? table[v * D + d]! : Number.NaN;
  }
  return out;
}

/** The sum of several lookups, out[t] = Σ_k tables[k][ids_k[t]] (each table vocab_k×D; NaN rows for ids outside a table). */
export function embeddingSumReference(lookups: readonly { table: ArrayLike<number>; ids: ArrayLike<number> }[], D: number): Float64Array {
  const out = new Float64Array(lookups[0]!.ids.length * D);
  for (const { table, ids } of lookups) {
    const rows = embeddingReference(table, ids, D);
    for (let i = 0; i < out.length; i++) out[i] = out[i]! + rows[i]!;
  }
  return out;
}

export function embeddingBackwardReference(dOut: ArrayLike<number>, ids: ArrayLike<number>, vocab: number, D: number): Float64Array {
  const dTable = new Float64Array(vocab * D);
  for (let t = 0; t < ids.length; t++) for (let d = 0; d < D; d++) dTable[ids[t]! * D + d] = dTable[ids[t]! * D + d]! + dOut[t * D + d]!;
  return dTable;
}
