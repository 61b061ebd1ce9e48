/**
 * bmm: batched matrix product over the leading axes, C[b] = A[b]·op(B[b]),
 * with op the identity or the transpose (attention's Q·Kᵀ and P·V).
 *   A [..., M, K], B [..., K, N] (or [..., N, K] with transB), C [..., M, N]
 *   dA = dC·op(B)ᵀ      dB = Aᵀ·dC (or dCᵀ·A with transB)
 */
import { matmul } from '@thaw/kernels';
import { matmulReference } from '@thaw/kernels/reference';
import type { ReferenceOp } from '../reference.js';
import type { Tensor } from '../tensor.js';

export function bmm(a: Tensor, b: Tensor, transB = false): Tensor {
  const graph = a.graph;
  const gpu = graph.gpu;
  const [M, K] = a.shape.slice(-2) as [number, number];
  const [b0, b1] = b.shape.slice(-2) as [number, number];
  const [KB, N] = transB ? [b1, b0] : [b0, b1];
  const batch = a.size / (M * K);
  const leadA = a.shape.slice(0, -2);
  const leadB = b.shape.slice(0, -2);
  if (KB !== K || leadA.length !== leadB.length || leadA.some((d, i) => d !== leadB[i])) {
    throw new Error(`bmm: [${a.shape}] and [${b.shape}]${transB ? 'ᵀ' : ''} do not multiply`);
  }
  const c = graph.empty([...a.shape.slice(0, -2), M, N], 'bmm');
  matmul(gpu, { a: a.buffer, b: b.buffer, c: c.buffer, M, N, K, transB, batch });
  return graph.record({
    op: 'bmm',
    inputs: [a, b],
    saved: [...(a.requiresGrad ? [b] : []), ...(b.requiresGrad ? [a] : [])],
    backward(dc) {
      let da: Tensor | undefined;
      let db: Tensor | undefined;
      if (a.requiresGrad) {
        da = graph.empty(a.shape, 'bmm.da');
        // dA = dC·Bᵀ (B stored K×N), or dC·B when B is stored N×K.
        matmul(gpu, { a: dc.buffer, b: b.buffer, c: da.buffer, M, N: K, K: N, transB: !transB, batch });
      }
      if (b.requiresGrad) {
        db = graph.empty(b.shape, 'bmm.db');
        if (transB) matmul(gpu, { a: dc.buffer, b: a.buffer, c: db.buffer, M: N, N: K, K: M, transA: true, batch });
        else matmul(gpu, { a: a.buffer, b: dc.buffer, c: db.buffer, M: K, N, K: M, transA: true, batch });
      }
      return [da, db];
    },
  }, c);
}

/** float64 twin of {@link bmm}. */
export function bmmReference(batch: number, M: number, K: number, N: number, transB = false): ReferenceOp {
  return {
    forward: ([a, b]) => matmulReference({ a: a!, b: b!, M, N, K, transB, batch }),
    backward: ([a, b], dc) => [
      matmulReference({ a: dc, b: b!, M, N: K, K: N, transB: !transB, batch }),
      transB
        ? matmulReference({ a: dc, b: a!, M: N, N: K, K: M, transA: true, batch })
        : matmulReference({ a: a!, b: dc, M: K, N, K: M, transA: true, batch }),
    ],
  };
}
