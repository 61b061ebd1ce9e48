/** float64 reference of matmul.wgsl: C = act(op(A)·op(B) (+ bias)) (+ D), batched, and the row sums of op(A). */
import type { Activation } from '../ops/elementwise.js';
import type { MatmulShape } from '../ops/matmul.js';
import { geluReference, geluTanhReference, reluReference, swishReference, tanhReference } from './elementwise.js';

export interface MatmulReferenceArgs extends MatmulShape {
  a: ArrayLike<number>;
  b: ArrayLike<number>;
  bias?: ArrayLike<number>;
  /** The epilogue's activation (default none). */
  activation?: Activation;
  /** D, added to C last. */
  addend?: ArrayLike<number>;
  /**
   * Filled with the row sums of op(A), rowSums[b·M + m] = Σ_k op(A[b])[m, k]
   * (batch·M values), as the launcher's `rowSums` (which takes batch 1).
   */
  rowSums?: Float64Array;
}

const ACTIVATIONS: Record<Activation, (x: number) => number> = {
  gelu: geluReference, geluTanh: geluTanhReference, relu: reluReference, swish: swishReference, tanh: tanhReference,
};

/** Returns C as a dense batch·M·N float64 array. */
export function matmulReference(args: MatmulReferenceArgs): Float64Array {
  const { a, b, M, N, K } = args;
  const batch = args.batch ?? 1;
  const sa = args.batchStrideA ?? M * K;
  const sb = args.batchStrideB ?? K * N;
  const c = new Float64Array(batch * M * N);
  const elementA = (z: number, i: number, k: number) => a[z * sa + (args.transA ? k * M + i : i * K + k)]!;
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < M; i++) {
      if (args.rowSums) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += elementA(z, i, k);
        args.rowSums[z * M + i] = sum;
      }
      for (let j = 0; j < N; j++) {
        let sum = args.bias ? Number(args.bias[j]) : 0;
        for (let k = 0; k < K; k++) {
          const x = elementA(z, i, k);
          const y = b[z * sb + (args.transB ? j * K + k : k * N + j)]!;
          sum += x * y;
        }
        const e = z * M * N + i * N + j;
        c[e] = (args.activation ? ACTIVATIONS[args.activation](sum) : sum) + (args.addend ? args.addend[e]! : 0);
      }
    }
  }
  return c;
}
