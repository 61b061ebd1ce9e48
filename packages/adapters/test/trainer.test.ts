// The trainer: run directory, unfreeze events, best checkpoint, exact resume,
// and a clean stop on a non-finite loss.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crossEntropy, linear } from '@thaw/autograd';
import { NonFiniteError, readSafetensors, Trainer, TrainingStep, type TrainerOptions } from '../src/index.js';
import { useGraph } from './support/tiny.js';
import { toyTask } from './support/toy-task.js';

const lines = async (path: string) => (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('trainer', () => {
  const graph = useGraph();

  it('writes the run directory: config, per-step log with tr(F), unfreeze events, best checkpoint', async () => {
    const g = graph();
    const out = await mkdtemp(join(tmpdir(), 'thaw-run-'));
    const toy = toyTask(g);
    let evaluatedHeadBias: Float32Array | undefined;
    const trainer = new Trainer(g, toy.taskModel, toy.data, {
      out, steps: 8, lr: 1e-2, schedule: 'gu', k: 3, seed: 1, evalEvery: 4, fisherEvery: 4, fisherBatches: 2,
      finalEvaluation: async () => {
        evaluatedHeadBias = await toy.head.bias.read();
        const dev = await toy.data.evaluateDev();
        return { task: 'toy', metric: 'accuracy', source: { lang: 'a', dev }, targets: { b: dev / 2 }, targetAverage: dev / 2 };
      },
    });
    const events: number[][] = [];
    const summary = await trainer.run({ onEvent: (e) => events.push(e.blocks) });
    expect(events).toEqual([[1], [0]]);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ schedule: 'gu', k: 3, seed: 1, steps: 8, layers: 2 });
    const log = await lines(join(out, 'log.jsonl'));
    expect(log.map((l) => l.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(log.every((l) => Number.isFinite(l.loss))).toBe(true);
    expect(log.map((l) => l.trainableBlocks)).toEqual([[1], [1], [1], [0, 1], [0, 1], [0, 1], [0, 1], [0, 1]]);
    // tr(F) tracked at steps 0 and 4 for trainable blocks only (frozen ones read 0),
    // normalized by the number of trainable blocks.
    const [f0, f4] = [log[0]!.fisher as number[], log[4]!.fisher as number[]];
    expect(f0[0]).toBe(0);
    expect(f0[1]).toBeGreaterThan(0);
    expect(log[0]!.fisherPerTrainableBlock).toBeCloseTo(f0[1]!, 12);
    expect(f4.every((t) => t > 0)).toBe(true);
    expect(log[4]!.fisherPerTrainableBlock).toBeCloseTo((f4[0]! + f4[1]!) / 2, 12);
    expect(await lines(join(out, 'events.jsonl'))).toEqual([{ step: 0, blocks: [1], policy: 'gu' }, { step: 3, blocks: [0], policy: 'gu' }]);
    const best = await readSafetensors(join(out, 'checkpoints/best/adapter.safetensors'));
    expect([...best.tensors.keys()]).toContain('roberta.encoder.layer.0.output.adapters.toy.adapter_down.0.weight');
    expect([...best.tensors.keys()]).toContain('heads.toy.bias');
    expect([...best.tensors.keys()].some((n) => n.includes('adapters.a.'))).toBe(false);
    expect(summary.bestStep).toBeGreaterThan(0);
    // results.json comes from the best checkpoint's weights.
    expect([...evaluatedHeadBias!]).toEqual([...best.tensors.get('heads.toy.bias')!.data]);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ task: 'toy', metric: 'accuracy', source: { lang: 'a', dev: summary.bestDev } });
    trainer.dispose();
    toy.dispose();
  });

  it('under full, baseLrScale scales the first update of the base and of nothing else', async () => {
    const g = graph();
    // One step from the same weights and batch: Adam's first update is lr · g/(|g| + ε), so the
    // base moves by exactly the scale times as much, and the head by the same amount.
    const step = async (baseLrScale: number) => {
      const toy = toyTask(g);
      const base = toy.taskModel.base[0]!;
      const [before, headBefore] = [await base.read(), await toy.head.bias.read()];
      const trainer = new Trainer(g, toy.taskModel, toy.data, { out: await mkdtemp(join(tmpdir(), 'thaw-full-')), steps: 1, lr: 1e-2, schedule: 'full', k: 1, seed: 1, evalEvery: 1, baseLrScale });
      await trainer.run();
      const [after, headAfter] = [await base.read(), await toy.head.bias.read()];
      trainer.dispose();
      toy.dispose();
      return { base: after.map((v, i) => v - before[i]!), head: headAfter.map((v, i) => v - headBefore[i]!) };
    };
    const [whole, quarter] = [await step(1), await step(0.25)];
    const moved = whole.base.reduce((a, v) => a + Math.abs(v), 0);
    expect(moved).toBeGreaterThan(0);
    expect(quarter.base.reduce((a, v, i) => a + Math.abs(v - 0.25 * whole.base[i]!), 0) / moved).toBeLessThan(1e-3);
    expect([...quarter.head]).toEqual([...whole.head]);
  });

  it('a resumed run continues bit for bit like an uninterrupted one', async () => {
    const g = graph();
    const options = (out: string): TrainerOptions => ({ out, steps: 10, lr: 1e-2, schedule: 'fun', k: 3, seed: 2, evalEvery: 4, fisherBatches: 2 });
    const straightDir = await mkdtemp(join(tmpdir(), 'thaw-run-'));
    const straight = toyTask(g, 5);
    const t1 = new Trainer(g, straight.taskModel, straight.data, options(straightDir));
    await t1.run();
    t1.dispose();
    straight.dispose();

    const resumedDir = await mkdtemp(join(tmpdir(), 'thaw-run-'));
    const first = toyTask(g, 5);
    const t2 = new Trainer(g, first.taskModel, first.data, options(resumedDir));
    // Interrupted during step 9, after the checkpoint of step 8.
    await expect(t2.run({ onStep: ({ step }) => { if (step === 8) throw new Error('interrupted'); } })).rejects.toThrow('interrupted');
    t2.dispose();
    first.dispose();
    // A fresh process would build a fresh model: weights, moments and schedule come from the checkpoint.
    const second = toyTask(g, 5, 77);
    // Another --log-every is allowed on resume: it changes when losses are read, not what is computed.
    const t3 = new Trainer(g, second.taskModel, second.data, { ...options(resumedDir), logEvery: 3, resume: true });
    await t3.run();
    t3.dispose();
    second.dispose();

    const a = await lines(join(straightDir, 'log.jsonl'));
    const b = await lines(join(resumedDir, 'log.jsonl'));
    expect(b).toEqual(a);
    expect(await lines(join(resumedDir, 'events.jsonl'))).toEqual(await lines(join(straightDir, 'events.jsonl')));
  });

  it('stops on a non-finite loss or weights with a clear error and the last good checkpoint intact', async () => {
    const g = graph();
    // Weights poisoned after step 2's update (onStep of step 2 runs when the losses are read before
    // the checkpoint of step 3): caught before that checkpoint is written.
    // Poisoned between checkpoints (evalEvery 2), as step 3's batch is drawn: the loss of step 3 is NaN.
    for (const [evalEvery, message, where] of [
      [1, /parameter heads\.toy\.bias is not finite at step 3; the run stopped\./, 'onStep'],
      [2, /loss is NaN at step 3; the run stopped\./, 'trainBatch'],
    ] as const) {
      const out = await mkdtemp(join(tmpdir(), 'thaw-run-'));
      const toy = toyTask(g, 3);
      const poison = () => g.gpu.write(toy.head.bias.buffer, new Float32Array([Number.NaN, 0, 0]));
      const data = { ...toy.data, trainBatch: (step: number) => { if (where === 'trainBatch' && step === 3) poison(); return toy.data.trainBatch(step); } };
      const trainer = new Trainer(g, toy.taskModel, data, { out, steps: 6, lr: 1e-2, schedule: 'standard', k: 1, seed: 3, evalEvery });
      const error = await trainer.run({ onStep: ({ step }) => { if (where === 'onStep' && step === 2) poison(); } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NonFiniteError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toMatch(/The last good checkpoint is in .*checkpoints/);
      const best = await readSafetensors(join(out, 'checkpoints/best/adapter.safetensors'));
      for (const t of best.tensors.values()) expect(t.data.every(Number.isFinite)).toBe(true);
      const last = await readSafetensors(join(out, 'checkpoints/last/params.safetensors'));
      for (const t of last.tensors.values()) expect(t.data.every(Number.isFinite)).toBe(true);
      expect(JSON.parse(await readFile(join(out, 'checkpoints/last/state.json'), 'utf8')).step).toBe(2);
      trainer.dispose();
      toy.dispose();
    }
  });

  it('a loss that goes non-finite between two reads stops the run at the next read, naming the step it went bad', async () => {
    const g = graph();
    const out = await mkdtemp(join(tmpdir(), 'thaw-run-'));
    const toy = toyTask(g, 6);
    // Losses come back after steps 3 (every 4), 5 (checkpoint of step 6), 9 (every 4) and 11: step 8 is none of them.
    const data = {
      ...toy.data,
      trainBatch: (step: number) => {
        if (step === 8) g.gpu.write(toy.head.bias.buffer, new Float32Array([Number.POSITIVE_INFINITY, 0, 0]));
        return toy.data.trainBatch(step);
      },
    };
    const trainer = new Trainer(g, toy.taskModel, data, { out, steps: 12, lr: 1e-2, schedule: 'standard', k: 1, seed: 6, evalEvery: 6, logEvery: 4 });
    const reported: number[] = [];
    const error = await trainer.run({ onStep: ({ step }) => reported.push(step) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteError);
    expect((error as NonFiniteError).step).toBe(8);
    expect((error as Error).message).toMatch(/^loss is NaN at step 8; the run stopped\. The last good checkpoint is in .*checkpoints/);
    // One line per good step, the last before the bad one; progress heard of the same steps.
    const log = await lines(join(out, 'log.jsonl'));
    expect(log.map((l) => l.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(log.every((l) => Number.isFinite(l.loss))).toBe(true);
    expect(reported).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(JSON.parse(await readFile(join(out, 'checkpoints/last/state.json'), 'utf8')).step).toBe(6);
    const last = await readSafetensors(join(out, 'checkpoints/last/params.safetensors'));
    for (const t of last.tensors.values()) expect(t.data.every(Number.isFinite)).toBe(true);
    trainer.dispose();
    toy.dispose();
  });

  it('the step flags a finite loss whose gradient norm is not finite, at its step, without reading back inside the step', async () => {
    const g = graph();
    // logits = x·Wᵀ, W starting at 0. Steps with x = (1, 0) train W's first column only; at step 2,
    // x = (0, 1e30) meets the second column, still 0: the loss is ln 2, while the gradient
    // (softmax − onehot)·x has a sum of squares past the fp32 range, so the norm clipping computes is +∞.
    const w = g.parameter(new Float32Array(4), [2, 2], 'w');
    const x = (huge: boolean) => g.tensor(new Float32Array(huge ? [0, 1e30] : [1, 0]), [1, 2]);
    const stepper = new TrainingStep<boolean>(g, { params: [w], base: [], loss: (huge) => crossEntropy(linear(x(huge), w), Int32Array.of(0)) }, { steps: 10, lr: 1e-2, seed: 1, logEvery: 5 });
    const reads = g.gpu.stats.readbacks;
    const readouts = [];
    for (let step = 0; step < 5; step++) readouts.push(await stepper.step(step === 2, step));
    // Only the fifth step read back, once.
    expect(readouts.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(g.gpu.stats.readbacks - reads).toBe(1);
    const readout = readouts[4]!;
    expect(readout.steps).toEqual([0, 1, 2, 3, 4]);
    expect(readout.losses.every(Number.isFinite)).toBe(true);
    expect(readout.losses[2]).toBeCloseTo(Math.LN2, 6);
    expect(readout.firstBad).toEqual({ step: 2, loss: false, norm: true, lossValue: readout.losses[2], normValue: Number.POSITIVE_INFINITY });
    stepper.dispose();
    w.dispose();
  });

  it('log.jsonl and the weights are the same bits whatever logEvery is', async () => {
    const g = graph();
    const run = async (logEvery: number) => {
      const out = await mkdtemp(join(tmpdir(), 'thaw-run-'));
      const toy = toyTask(g, 7);
      const trainer = new Trainer(g, toy.taskModel, toy.data, { out, steps: 7, lr: 1e-2, schedule: 'gu', k: 2, seed: 7, evalEvery: 5, fisherEvery: 3, fisherBatches: 1, logEvery });
      const reads = g.gpu.stats.readbacks;
      await trainer.run();
      const readbacks = g.gpu.stats.readbacks - reads;
      const bias = await toy.head.bias.read();
      trainer.dispose();
      toy.dispose();
      return { log: await readFile(join(out, 'log.jsonl'), 'utf8'), events: await readFile(join(out, 'events.jsonl'), 'utf8'), bias, readbacks };
    };
    const [every, rarely] = [await run(1), await run(50)];
    expect(rarely.log).toBe(every.log);
    expect(rarely.events).toBe(every.events);
    expect([...rarely.bias]).toEqual([...every.bias]);
    expect(rarely.log.trim().split('\n')).toHaveLength(7);
    // The losses of several steps come back in one read.
    expect(rarely.readbacks).toBeLessThan(every.readbacks);
  });

  it('refuses to overwrite a run, and to resume with other options', async () => {
    const g = graph();
    const out = await mkdtemp(join(tmpdir(), 'thaw-run-'));
    const toy = toyTask(g, 4);
    const options: TrainerOptions = { out, steps: 2, lr: 1e-2, schedule: 'standard', k: 1, seed: 4, evalEvery: 1 };
    const t1 = new Trainer(g, toy.taskModel, toy.data, options);
    await t1.run();
    t1.dispose();
    const t2 = new Trainer(g, toy.taskModel, toy.data, options);
    await expect(t2.run()).rejects.toThrow(/already holds a run; resume it, or start a new run in another folder/);
    t2.dispose();
    const t3 = new Trainer(g, toy.taskModel, toy.data, { ...options, lr: 5e-3, resume: true });
    await expect(t3.run()).rejects.toThrow(/config\.json was written with other options \(lr\)/);
    t3.dispose();
    toy.dispose();
  });
});
