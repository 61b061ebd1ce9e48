// The NICE invertible adapter of a MAD-X language adapter: applied to the
// embeddings by the first adapter of a Stack, exactly as its coupling formula.
import { describe, expect, it } from 'vitest';
import { matmulReference, relativeError } from '@thaw/kernels/reference';
import { BottleneckAdapter, Stack, uniform } from '../src/index.js';
import { useGraph } from './support/tiny.js';

describe('invertible (NICE) adapter', () => {
  const graph = useGraph();

  it('computes [x1 + F(x2) | x2 + G(y1)], with AdapterHub names, only for the first adapter', async () => {
    const g = graph();
    const D = 8;
    const model = { prefix: 'roberta', hiddenSize: D, intermediateSize: 2 * D, layers: 1 };
    const lang = new BottleneckAdapter(g, 'en', { architecture: 'seq_bn', reductionFactor: 2, invertible: { reductionFactor: 2 } }, model, 1);
    const task = new BottleneckAdapter(g, 'xnli', { architecture: 'seq_bn', reductionFactor: 2, invertible: { reductionFactor: 2 } }, model, 2);
    expect(lang.params.get('roberta.invertible_adapters.en.F.0.weight')!.shape).toEqual([2, 4]);
    expect(lang.params.get('roberta.invertible_adapters.en.G.2.weight')!.shape).toEqual([4, 2]);
    const random = uniform(3);
    for (const [n, t] of lang.params) if (n.includes('invertible') && n.endsWith('bias')) g.gpu.write(t.buffer, Float32Array.from({ length: t.size }, () => random() - 0.5));
    const rows = 6;
    const x = Float64Array.from({ length: rows * D }, () => Math.fround(random() * 2 - 1));
    const out = g.noGrad(() => g.scope(() => new Stack([lang, task]).embeddings(g.tensor(Float32Array.from(x), [2, 3, D]))));
    const p = new Map(await Promise.all([...lang.params].map(async ([n, t]) => [n, Float64Array.from(await t.read())] as const)));
    const sub = (f: string, v: Float64Array) => {
      const q = (r: string) => p.get(`roberta.invertible_adapters.en.${f}.${r}`)!;
      const hidden = matmulReference({ a: v, b: q('0.weight'), bias: q('0.bias'), M: rows, N: 2, K: 4, transB: true }).map((z) => Math.max(z, 0));
      return matmulReference({ a: hidden, b: q('2.weight'), bias: q('2.bias'), M: rows, N: 4, K: 2, transB: true });
    };
    const half = (start: number) => Float64Array.from({ length: rows * 4 }, (_, e) => x[Math.floor(e / 4) * D + start + (e % 4)]!);
    const y1 = half(0).map((v, i) => v + sub('F', half(4))[i]!);
    const y2 = half(4).map((v, i) => v + sub('G', y1)[i]!);
    const want = Float64Array.from({ length: rows * D }, (_, e) => (e % D < 4 ? y1[Math.floor(e / D) * 4 + (e % D)]! : y2[Math.floor(e / D) * 4 + (e % D) - 4]!));
    expect(relativeError(await out.read(), want)).toBeLessThan(1e-6);
    // The inverse undoes the coupling (the masked-LM head relies on it).
    const back = g.noGrad(() => g.scope(() => lang.invertible!.inverse(out)));
    expect(relativeError(await back.read(), x)).toBeLessThan(1e-6);
    back.dispose();
    out.dispose();
    // With the task adapter first, the language adapter's coupling is not used.
    const other = g.noGrad(() => g.scope(() => new Stack([task, lang]).embeddings(g.tensor(Float32Array.from(x), [2, 3, D]))));
    expect(relativeError(await other.read(), want)).toBeGreaterThan(1e-4);
    other.dispose();
    lang.dispose();
    task.dispose();
  });
});
