// The tape, scopes, noGrad, views and gradient accumulation.
import { describe, expect, it } from 'vitest';
import { add, linear, mean, reshape, scale, sum } from '../src/index.js';
import { useGraph } from './helpers.js';

describe('graph', () => {
  const graph = useGraph();

  it('accumulates the gradient of a tensor used twice, and across backward calls', async () => {
    const g = graph();
    const x = g.parameter(new Float32Array([1, -2, 3]), [3], 'x');
    g.scope(() => g.backward(sum(add(scale(x, 2), x)))); // d/dx (2x + x) = 3
    expect([...(await x.grad!.read())]).toEqual([3, 3, 3]);
    g.scope(() => g.backward(mean(x))); // + 1/3 each
    expect([...(await x.grad!.read())].map((v) => v.toFixed(5))).toEqual(['3.33333', '3.33333', '3.33333']);
    g.zeroGrad([x]);
    expect(x.grad).toBeUndefined();
    x.dispose();
  });

  it('records nothing under noGrad, and frees intermediates when a scope ends', async () => {
    const g = graph();
    const w = g.parameter(new Float32Array([1, 2, 3, 4]), [2, 2], 'w');
    const input = g.tensor(new Float32Array([1, 1]), [1, 2], 'input');
    const live = () => g.gpu.pool.snapshot().liveBuffers;
    const before = live();
    const y = g.noGrad(() => g.scope(() => scale(linear(input, w), 2)));
    expect(g.tapeLength).toBe(0);
    expect(y.requiresGrad).toBe(false);
    expect([...(await y.read())]).toEqual([6, 14]);
    // Only the returned tensor survives the scope.
    expect(live()).toBe(before + 1);
    y.dispose();
    expect(live()).toBe(before);
    input.dispose();
    w.dispose();
  });

  it('keeps what the tape needs alive past its scope, and frees it after backward', async () => {
    const g = graph();
    const w = g.parameter(new Float32Array([0.5, -1, 2, 0.25]), [2, 2], 'w');
    const before = g.gpu.pool.snapshot().liveBuffers;
    const loss = g.scope(() => sum(linear(g.tensor(new Float32Array([1, 2]), [1, 2]), w)));
    expect(g.tapeLength).toBeGreaterThan(0);
    g.backward(loss);
    expect(g.tapeLength).toBe(0);
    expect([...(await w.grad!.read())]).toEqual([1, 2, 1, 2]);
    loss.dispose();
    g.zeroGrad([w]);
    expect(g.gpu.pool.snapshot().liveBuffers).toBe(before);
    w.dispose();
  });

  it('reshape is a view: no copy, and the storage lives until its last view is disposed', async () => {
    const g = graph();
    const x = g.tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const v = g.noGrad(() => reshape(x, [3, 2]));
    expect(v.buffer).toBe(x.buffer);
    x.dispose();
    expect([...(await v.read())]).toEqual([1, 2, 3, 4, 5, 6]);
    v.dispose();
    expect(() => g.view(v, [6])).toThrow();
  });

  it('explains a backward that cannot run', () => {
    const g = graph();
    const c = g.tensor(new Float32Array([1, 2]), [2], 'c');
    expect(() => g.backward(c)).toThrow(/does not depend on any tensor that requires a gradient/);
    const p = g.parameter(new Float32Array([1, 2]), [2], 'p');
    const y = scale(p, 2);
    expect(() => g.backward(y)).toThrow(/has 2 elements; pass a seed gradient/);
    g.clearTape();
    for (const t of [c, p, y]) t.dispose();
  });
});
