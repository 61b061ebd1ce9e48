// Heads: loss on random hidden states against float64 formulas, and the
// gradient with respect to the hidden states against finite differences.
import { describe, expect, it } from 'vitest';
import { gradcheck, type Tensor } from '@thaw/autograd';
import { layerNormForwardReference, matmulReference, softmaxCrossEntropyReference, geluReference } from '@thaw/kernels/reference';
import { ClassificationHead, MaskedLmHead, MultipleChoiceHead, SpanHead, uniform } from '../src/index.js';
import { useGraph } from './support/tiny.js';

const mean = (xs: ArrayLike<number>, labels: ArrayLike<number>) => {
  const counted = Array.from(labels).filter((l) => l >= 0).length;
  return Array.from(xs).reduce((a, b) => a + b, 0) / counted;
};
const ce = (logits: Float64Array, labels: Int32Array, C: number) => mean(softmaxCrossEntropyReference(logits, labels, labels.length, C, 1).losses, labels);
const host = async (m: Map<string, Tensor>) => new Map(await Promise.all([...m].map(async ([n, t]) => [n, Float64Array.from(await t.read())] as const)));
const firstTokens = (h: Float64Array, B: number, T: number, D: number) => Float64Array.from({ length: B * D }, (_, e) => h[Math.floor(e / D) * T * D + (e % D)]!);

describe('heads', () => {
  const graph = useGraph();
  const [B, T, D] = [4, 5, 6];

  it('classification and multiple choice: tanh pooler on the first token', async () => {
    const g = graph();
    const random = uniform(1);
    for (const kind of ['classification', 'choice'] as const) {
      const head = kind === 'classification' ? new ClassificationHead(g, 'xnli', D, 3, 0.1, 2) : new MultipleChoiceHead(g, 'copa', D, 2, 0.1, 2);
      const C = kind === 'classification' ? 3 : 2;
      const rows = kind === 'classification' ? B : B / 2;
      const labels = Int32Array.from({ length: rows }, (_, i) => i % C);
      const p = await host(head.params);
      const n = head.name;
      const reference = ([h]: Float64Array[]) => {
        const pooled = matmulReference({ a: firstTokens(h!, B, T, D), b: p.get(`heads.${n}.1.weight`)!, bias: p.get(`heads.${n}.1.bias`)!, M: B, N: D, K: D, transB: true }).map(Math.tanh);
        const out = matmulReference({ a: pooled, b: p.get(`heads.${n}.4.weight`)!, bias: p.get(`heads.${n}.4.bias`)!, M: B, N: kind === 'classification' ? 3 : 1, K: D, transB: true });
        return Float64Array.of(ce(out, labels, C));
      };
      const report = await gradcheck(g, {
        inputs: [Float64Array.from({ length: B * T * D }, () => Math.fround(random() * 2 - 1))],
        shapes: [[B, T, D]],
        run: ([h]) => head.loss(h!, labels, { train: false }),
        reference: { forward: reference },
        samples: 30,
      });
      expect(report.forward).toBeLessThan(1e-5);
      expect(report.gpuVsReference[0]).toBeLessThan(1e-4);
      head.dispose();
    }
  });

  // first-mean-max pools the real tokens; pair-mean-max pools the two sequences of a pair apart.
  const realTokens = Float32Array.from({ length: B * T }, (_, i) => (i % T >= T - 1 - (Math.floor(i / T) % 2) ? 0 : 1));
  const firstSequence = Float32Array.from({ length: B * T }, (_, i) => (i % T === 1 ? 1 : 0));
  const secondSequence = Float32Array.from({ length: B * T }, (_, i) => (i % T >= 2 && realTokens[i] ? 1 : 0));
  for (const [pooling, masks] of [['first-mean-max', [realTokens]], ['pair-mean-max', [firstSequence, secondSequence]]] as const) {
    it(`classification with ${pooling} pooling`, async () => {
      const g = graph();
      const random = uniform(7);
      const head = new ClassificationHead(g, 'nli', D, 3, 0.1, 8, pooling);
      const width = (masks.length === 2 ? 7 : 3) * D;
      expect(head.params.get('heads.nli.1.weight')!.shape).toEqual([D, width]);
      const labels = Int32Array.from({ length: B }, (_, i) => i % 3);
      const p = await host(head.params);
      const reference = ([h]: Float64Array[]) => {
        const pooled = new Float64Array(B * width);
        for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) {
          pooled[b * width + d] = h![b * T * D + d]!;
          masks.forEach((mask, k) => {
            const values = Array.from({ length: T }, (_, t) => t).filter((t) => mask[b * T + t]).map((t) => h![(b * T + t) * D + d]!);
            pooled[b * width + (1 + 2 * k) * D + d] = values.reduce((a, v) => a + v, 0) / values.length;
            pooled[b * width + (2 + 2 * k) * D + d] = Math.max(...values);
          });
          if (masks.length === 2) {
            // mean(b) − mean(a), max(b) − max(a)
            pooled[b * width + 5 * D + d] = pooled[b * width + 3 * D + d]! - pooled[b * width + D + d]!;
            pooled[b * width + 6 * D + d] = pooled[b * width + 4 * D + d]! - pooled[b * width + 2 * D + d]!;
          }
        }
        const z = matmulReference({ a: pooled, b: p.get('heads.nli.1.weight')!, bias: p.get('heads.nli.1.bias')!, M: B, N: D, K: width, transB: true }).map(Math.tanh);
        const out = matmulReference({ a: z, b: p.get('heads.nli.4.weight')!, bias: p.get('heads.nli.4.bias')!, M: B, N: 3, K: D, transB: true });
        return Float64Array.of(ce(out, labels, 3));
      };
      const report = await gradcheck(g, {
        inputs: [Float64Array.from({ length: B * T * D }, () => Math.fround(random() * 2 - 1))],
        shapes: [[B, T, D]],
        run: ([h]) => head.loss(h!, labels, { train: false }, masks),
        reference: { forward: reference },
        samples: 40,
      });
      expect(report.forward).toBeLessThan(1e-5);
      expect(report.gpuVsReference[0]).toBeLessThan(1e-4);
      expect(() => head.pool(g.tensor(new Float32Array(B * T * D).fill(0.5), [B, T, D]), [realTokens, realTokens, realTokens])).toThrow(/needs \d token masks, got 3/);
      head.dispose();
    });
  }

  it('span QA: start and end cross-entropies over positions, averaged', async () => {
    const g = graph();
    const random = uniform(3);
    const head = new SpanHead(g, 'squad', D, 0.1, 4);
    const starts = Int32Array.from([0, 2, 4, -100]);
    const ends = Int32Array.from([1, 2, 4, -100]);
    const p = await host(head.params);
    const reference = ([h]: Float64Array[]) => {
      const both = matmulReference({ a: h!, b: p.get('heads.squad.1.weight')!, bias: p.get('heads.squad.1.bias')!, M: B * T, N: 2, K: D, transB: true });
      const start = Float64Array.from({ length: B * T }, (_, i) => both[2 * i]!);
      const end = Float64Array.from({ length: B * T }, (_, i) => both[2 * i + 1]!);
      return Float64Array.of((ce(start, starts, T) + ce(end, ends, T)) / 2);
    };
    const report = await gradcheck(g, {
      inputs: [Float64Array.from({ length: B * T * D }, () => Math.fround(random() * 2 - 1))],
      shapes: [[B, T, D]],
      run: ([h]) => head.loss(h!, starts, ends),
      reference: { forward: reference },
      samples: 30,
    });
    expect(report.forward).toBeLessThan(1e-5);
    expect(report.gpuVsReference[0]).toBeLessThan(1e-4);
    head.dispose();
  });

  it('masked LM: decoder tied to the word embeddings, loss over masked positions', async () => {
    const g = graph();
    const random = uniform(5);
    const vocab = 11;
    const embeddings = g.parameter(Float32Array.from({ length: vocab * D }, () => random() - 0.5), [vocab, D], 'word_embeddings', false);
    const head = new MaskedLmHead(g, D, embeddings, 1e-5, 6);
    const labels = Int32Array.from({ length: B * T }, (_, i) => (i % 3 === 0 ? i % vocab : -100));
    const p = await host(head.params);
    const E = Float64Array.from(await embeddings.read());
    const reference = ([h]: Float64Array[]) => {
      const x = matmulReference({ a: h!, b: p.get('lm_head.dense.weight')!, bias: p.get('lm_head.dense.bias')!, M: B * T, N: D, K: D, transB: true }).map(geluReference);
      const normed = layerNormForwardReference(x, p.get('lm_head.layer_norm.weight')!, p.get('lm_head.layer_norm.bias')!, B * T, D, 1e-5).y;
      const logits = matmulReference({ a: normed, b: E, bias: p.get('lm_head.bias')!, M: B * T, N: vocab, K: D, transB: true });
      return Float64Array.of(ce(logits, labels, vocab));
    };
    const report = await gradcheck(g, {
      inputs: [Float64Array.from({ length: B * T * D }, () => Math.fround(random() * 2 - 1))],
      shapes: [[B, T, D]],
      run: ([h]) => head.loss(h!, labels),
      reference: { forward: reference },
      samples: 30,
    });
    expect(report.forward).toBeLessThan(1e-5);
    expect(report.gpuVsReference[0]).toBeLessThan(1e-4);
    head.dispose();
    embeddings.dispose();
  });
});
