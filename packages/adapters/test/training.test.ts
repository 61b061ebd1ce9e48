// Training-step properties the research depends on: reproducible losses,
// constant memory, frozen weights that stay frozen (and cost less), and a
// step that stays on the GPU.
import { describe, expect, it } from 'vitest';
import { tinyBatch, tinyConfig, tinyTrainer, useGraph } from './support/tiny.js';

describe('training steps', () => {
  const graph = useGraph();

  it('same seed → bitwise identical losses over 20 steps; another seed differs', async () => {
    const g = graph();
    const config = tinyConfig();
    const run = async (seed: number) => {
      const t = tinyTrainer(g, config, seed);
      const losses: number[] = [];
      for (let step = 0; step < 20; step++) {
        const loss = t.trainStep(tinyBatch(config, 4, 8, 100 + step, 5));
        losses.push((await loss.read())[0]!);
        loss.dispose();
      }
      t.dispose();
      return losses;
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Float32Array.from(b)).toEqual(Float32Array.from(a));
    expect(c).not.toEqual(a);
    // The task is learnable: the loss falls.
    expect(a.slice(-3).reduce((s, v) => s + v, 0)).toBeLessThan(a.slice(0, 3).reduce((s, v) => s + v, 0));
  });

  it('keeps the pool\'s live bytes constant over 500 steps', async () => {
    const g = graph();
    const config = tinyConfig({ numHiddenLayers: 1, hiddenSize: 8, intermediateSize: 16 });
    const t = tinyTrainer(g, config, 1);
    const batch = tinyBatch(config, 2, 6, 5, 5);
    let baseline = -1;
    for (let step = 0; step < 500; step++) {
      t.trainStep(batch).dispose();
      await g.gpu.throttle();
      const live = g.gpu.pool.snapshot().liveBytes;
      // After the first step the optimizer state exists; nothing may grow after it.
      if (step === 0) baseline = live;
      else if (live !== baseline) throw new Error(`step ${step}: ${live} live bytes, expected ${baseline}`);
    }
    expect(baseline).toBeGreaterThan(0);
    expect(g.tapeLength).toBe(0);
    t.dispose();
  });

  it('a frozen base gets no gradients, never changes, and issues fewer dispatches; unfreezing later works', async () => {
    const g = graph();
    const config = tinyConfig({ hiddenDropoutProb: 0, attentionProbsDropoutProb: 0 });
    const batch = tinyBatch(config, 4, 8, 3, 5);
    const dispatchesPerStep = (frozen: boolean) => {
      const t = tinyTrainer(g, config, 2);
      t.encoder.setTrainable(!frozen);
      t.trainStep(batch).dispose();
      const before = g.gpu.stats.dispatches;
      t.trainStep(batch).dispose();
      const count = g.gpu.stats.dispatches - before;
      t.dispose();
      return count;
    };
    const full = dispatchesPerStep(false);
    const frozen = dispatchesPerStep(true);
    expect(frozen).toBeLessThan(full);

    const t = tinyTrainer(g, config, 2);
    t.encoder.setTrainable(false);
    const query = t.encoder.param('roberta.encoder.layer.0.attention.self.query.weight');
    const before = await query.read();
    const headBefore = await t.head.weight.read();
    for (let step = 0; step < 3; step++) t.trainStep(batch).dispose();
    expect(await query.read()).toEqual(before);
    expect(query.grad).toBeUndefined();
    expect(await t.head.weight.read()).not.toEqual(headBefore);
    query.requiresGrad = true; // unfreeze one weight between steps
    t.trainStep(batch).dispose();
    expect(await query.read()).not.toEqual(before);
    t.dispose();
  });

  it('a step issues a handful of submits and no readback until the loss is read', async () => {
    const g = graph();
    const config = tinyConfig();
    const t = tinyTrainer(g, config, 4);
    const batch = tinyBatch(config, 4, 8, 9, 5);
    t.trainStep(batch).dispose();
    await g.gpu.sync();
    const { submits, readbacks } = g.gpu.stats;
    const loss = t.trainStep(batch);
    g.gpu.flush();
    expect(g.gpu.stats.readbacks - readbacks).toBe(0);
    expect(g.gpu.stats.submits - submits).toBeLessThanOrEqual(4);
    await loss.read();
    expect(g.gpu.stats.readbacks - readbacks).toBe(1);
    loss.dispose();
    t.dispose();
  });
});
