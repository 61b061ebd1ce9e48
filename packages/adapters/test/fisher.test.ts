// tr(F) estimators against float64 references, FUN on a model whose tr(F)
// order is known by construction, and tr(F) estimation that leaves training
// bitwise unchanged.
import { describe, expect, it, vi } from 'vitest';
import { mulberry32 } from '@thaw/kernels';
import { relativeError } from '@thaw/kernels/reference';
import { add, AdamW, crossEntropy, linear, scale, type Graph, type Tensor } from '@thaw/autograd';
import { adapterModel, BottleneckAdapter, Encoder, fisherTraces, Stack, UnfreezeSchedule, type FisherBatch, type FisherOptions } from '../src/index.js';
import { tinyBatch, tinyConfig, useGraph } from './support/tiny.js';

/** logits = Σ_j s_j · x·W_jᵀ: block j is W_j, and its gradient scales with s_j. */
function scaledModel(g: Graph, L: number, C: number, Din: number, s: number[], seed: number) {
  const random = mulberry32(seed);
  const W = Array.from({ length: L }, (_, j) => Float32Array.from({ length: C * Din }, () => random() - 0.5));
  const params = W.map((w, j) => g.parameter(w, [C, Din], `W${j}`, false));
  const logits = (x: Tensor) => params.map((p, j) => scale(linear(x, p), s[j]!)).reduce((a, b) => add(a, b));
  return { W, params, logits };
}

/** float64 tr(F)_j of that model for one estimator, labels drawn as the estimator draws them. */
function referenceTraces(W: Float32Array[], s: number[], batches: Float32Array[][], C: number, Din: number, o: Required<FisherOptions>): number[] {
  const random = mulberry32(o.seed);
  const traces = new Array<number>(W.length).fill(0);
  for (const batch of batches) {
    const rows = batch.map((x) => {
      const z = Array.from({ length: C }, (_, c) => W.reduce((t, w, j) => t + s[j]! * x.reduce((u, xi, i) => u + xi * w[c * Din + i]!, 0), 0));
      let best = 0;
      for (let c = 1; c < C; c++) if (z[c]! > z[best]!) best = c;
      const m = z[best]!;
      const e = z.map((v) => Math.exp(v - m));
      const sum = e.reduce((a, b) => a + b, 0);
      let label = best;
      if (o.labels === 'sample') {
        let u = random() * sum;
        label = C - 1;
        for (let c = 0; c < C; c++) if ((u -= e[c]!) < 0) { label = c; break; }
      }
      return { x, delta: e.map((v, c) => v / sum - (c === label ? 1 : 0)) };
    });
    // dNLL/dW_j[c, i] = s_j · delta_c · x_i for one row.
    const gradOf = (members: typeof rows, divide: number) => W.map((_, j) => {
      const g = new Float64Array(C * Din);
      for (const { x, delta } of members) for (let c = 0; c < C; c++) for (let i = 0; i < Din; i++) g[c * Din + i] = g[c * Din + i]! + (s[j]! * delta[c]! * x[i]!) / divide;
      return g;
    });
    const sets = o.gradients === 'batch-mean' ? [gradOf(rows, rows.length)] : rows.map((r) => gradOf([r], 1));
    for (const grads of sets) grads.forEach((g, j) => { traces[j] = traces[j]! + g.reduce((t, v) => t + v * v, 0) / batch.length; });
  }
  return traces;
}

describe('tr(F) estimators', () => {
  const graph = useGraph();
  const [L, C, Din] = [3, 4, 5];
  const s = [0.5, 2, 1];

  for (const labels of ['argmax', 'sample'] as const) {
    for (const gradients of ['batch-mean', 'per-example'] as const) {
      it(`${labels} labels, ${gradients} gradients, against float64`, async () => {
        const g = graph();
        const model = scaledModel(g, L, C, Din, s, 1);
        const random = mulberry32(2);
        const batches = [3, 2, 3].map((n) => Array.from({ length: n }, () => Float32Array.from({ length: Din }, () => random() * 2 - 1)));
        const toBatch = (rows: Float32Array[]): FisherBatch => ({
          size: rows.length,
          logits: () => model.logits(g.tensor(Float32Array.from(rows.flatMap((r) => [...r])), [rows.length, Din])),
          exampleLogits: (i) => model.logits(g.tensor(rows[i]!, [1, Din])),
        });
        const options = { labels, gradients, seed: 9 };
        const got = await fisherTraces(g, { blocks: model.params.map((p) => [p]), params: model.params, batches: batches.map(toBatch), options });
        const want = referenceTraces(model.W, s, batches, C, Din, options);
        expect(relativeError(got, want)).toBeLessThan(1e-4);
        // The flags are restored: every block was frozen and stays frozen, with no gradient left behind.
        for (const p of model.params) {
          expect(p.requiresGrad).toBe(false);
          expect(p.grad).toBeUndefined();
          p.dispose();
        }
      });
    }
  }

  it('one flat Fisher buffer, one trace launch: each parameter\'s trace is the bits it has in a buffer of its own, run after run', async () => {
    const g = graph();
    // Sizes that are not multiples of the trace kernel's 256 threads, so offsets fall mid-workgroup.
    const [C2, D2] = [7, 45];
    const model = scaledModel(g, 3, C2, D2, [0.5, 2, 1], 11);
    const random = mulberry32(12);
    const rows = Array.from({ length: 5 }, () => Float32Array.from({ length: D2 }, () => random() * 2 - 1));
    const batch: FisherBatch = { size: 5, logits: () => model.logits(g.tensor(Float32Array.from(rows.flatMap((r) => [...r])), [5, D2])) };
    const launches = vi.spyOn(g.gpu, 'kernel');
    const perParam = await fisherTraces(g, { blocks: model.params.map((p) => [p]), params: model.params, batches: [batch, batch] });
    const traceLaunches = launches.mock.calls.filter(([file, entry]) => file === 'fisher' && entry === 'segmentTraces').length;
    launches.mockRestore();
    // One per batch for the mean NLL (crossEntropy sums its rows with it), and one for all traces (it was one per parameter).
    expect(traceLaunches).toBe(2 + 1);
    // Blocks of several parameters add their parameters' traces on the host, in order.
    const grouped = await fisherTraces(g, { blocks: [[model.params[0]!, model.params[1]!], [model.params[2]!]], params: model.params, batches: [batch, batch] });
    expect(grouped).toEqual([perParam[0]! + perParam[1]!, perParam[2]!]);
    // Each parameter alone sits at offset 0 of a buffer of its own (the layout before the flat buffer): the same bits.
    for (const [j, p] of model.params.entries()) {
      expect(await fisherTraces(g, { blocks: [[p]], params: model.params, batches: [batch, batch] })).toEqual([perParam[j]]);
    }
    // And the same bits on every run.
    expect(await fisherTraces(g, { blocks: model.params.map((p) => [p]), params: model.params, batches: [batch, batch] })).toEqual(perParam);
    for (const p of model.params) p.dispose();
  });

  it('fun unfreezes the frozen block with the largest tr(F), on a model with a known order', async () => {
    const g = graph();
    const scales = [0.5, 3, 1, 2];
    const model = scaledModel(g, 4, C, Din, scales, 3);
    const random = mulberry32(4);
    const rows = Array.from({ length: 6 }, () => Float32Array.from({ length: Din }, () => random() * 2 - 1));
    const batch: FisherBatch = { size: 6, logits: () => model.logits(g.tensor(Float32Array.from(rows.flatMap((r) => [...r])), [6, Din])) };
    const schedule = new UnfreezeSchedule({ policy: 'fun', layers: 4, k: 2 });
    const order: number[] = [];
    for (let step = 0; step < 8; step++) {
      const event = await schedule.at(step, async () => {
        const traces = await fisherTraces(g, { blocks: model.params.map((p) => [p]), params: model.params, batches: [batch] });
        return new Map(traces.map((t, j) => [j, t]));
      });
      if (event) {
        order.push(...event.blocks);
        for (const j of event.blocks) model.params[j]!.requiresGrad = true;
        if (event.step > 0) expect(Object.keys(event.scores!)).toEqual(['0', '1', '2', '3']);
      }
    }
    // Top block first; then by tr(F) ∝ s²: block 1 (s 3), block 2 (s 1), block 0 (s 0.5).
    expect(order).toEqual([3, 1, 2, 0]);
    for (const p of model.params) p.dispose();
  });
});

// A flat Fisher buffer larger than a binding of 64 KiB: 8 blocks of 7 × 401
// floats (22,456 in all, offsets not aligned), so the accumulations bind
// views of it and the trace launch runs per chunk, with parameters spanning
// chunk boundaries. The traces have the bits of the default limit, and
// float64's values.
describe('tr(F) with a Fisher buffer larger than a binding', () => {
  const chunked = useGraph({ maxStorageBindingBytes: 65_536 });
  const whole = useGraph();
  const [L, C, Din] = [8, 7, 401];
  const s = [0.5, 2, 1, 1.5, 0.25, 3, 0.75, 1.25];

  for (const gradients of ['batch-mean', 'per-example'] as const) {
    it(`${gradients} gradients: the bits of one binding, against float64`, async () => {
      const random = mulberry32(31);
      const batches = [3, 2].map((n) => Array.from({ length: n }, () => Float32Array.from({ length: Din }, () => random() * 2 - 1)));
      const options = { labels: 'sample' as const, gradients, seed: 5 };
      const traces = async (g: Graph) => {
        const model = scaledModel(g, L, C, Din, s, 32);
        const toBatch = (rows: Float32Array[]): FisherBatch => ({
          size: rows.length,
          logits: () => model.logits(g.tensor(Float32Array.from(rows.flatMap((r) => [...r])), [rows.length, Din])),
          exampleLogits: (i) => model.logits(g.tensor(rows[i]!, [1, Din])),
        });
        const launches = vi.spyOn(g.gpu, 'kernel');
        const got = await fisherTraces(g, { blocks: [[model.params[0]!, model.params[1]!], ...model.params.slice(2).map((p) => [p])], params: model.params, batches: batches.map(toBatch), options });
        const traceLaunches = launches.mock.calls.filter(([file, entry]) => file === 'fisher' && entry === 'segmentTraces').length;
        launches.mockRestore();
        for (const p of model.params) p.dispose();
        return { got, traceLaunches, W: model.W };
      };
      const low = await traces(chunked());
      const high = await traces(whole());
      expect(low.got).toEqual(high.got);
      // The NLL's launches are the same; the final trace launch runs in 2 chunks instead of 1.
      expect(low.traceLaunches).toBe(high.traceLaunches + 1);
      const perBlock = referenceTraces(low.W, s, batches, C, Din, options);
      expect(relativeError(low.got, [perBlock[0]! + perBlock[1]!, ...perBlock.slice(2)])).toBeLessThan(1e-4);
    });
  }
});

describe('tr(F) during training', () => {
  const graph = useGraph();

  it('estimating tr(F) mid-run leaves the following losses bitwise identical', async () => {
    const g = graph();
    const config = tinyConfig();
    const model = adapterModel(config);
    const run = async (estimateAt: number | null) => {
      const encoder = new Encoder(g, config, 1);
      const lang = new BottleneckAdapter(g, 'en', { architecture: 'seq_bn', reductionFactor: 2 }, model, 2);
      const task = new BottleneckAdapter(g, 'xnli', { architecture: 'seq_bn', reductionFactor: 4 }, model, 3);
      encoder.setTrainable(false);
      lang.setTrainable(false);
      task.setTrainable(false);
      for (const t of task.block(1)) t.requiresGrad = true; // the top block only, as FUN starts
      const head = g.parameter(Float32Array.from({ length: 5 * config.hiddenSize }, (_, i) => Math.cos(i) * 0.1), [5, config.hiddenSize], 'head');
      const params = [...encoder.params.values(), ...lang.params.values(), ...task.params.values(), head];
      const optimizer = new AdamW(g, params, { lr: 1e-2 });
      const stack = new Stack([lang, task]);
      const losses: number[] = [];
      let traces: number[] = [];
      for (let step = 0; step < 6; step++) {
        if (step === estimateAt) {
          const b = tinyBatch(config, 2, 6, 50, 5);
          const fisherBatch: FisherBatch = {
            size: 2,
            logits: () => linear(encoder.forward({ ids: b.ids, batch: 2, sequence: 6, attentionMask: b.mask }, { train: false }, stack), head),
          };
          traces = await fisherTraces(g, { blocks: [task.block(0), task.block(1)], params, batches: [fisherBatch, fisherBatch] });
        }
        const batch = tinyBatch(config, 2, 6, step, 5);
        const loss = g.scope(() => {
          const h = encoder.forward({ ids: batch.ids, batch: 2, sequence: 6, attentionMask: batch.mask }, { train: true, seed: 1, step }, stack);
          const l = crossEntropy(linear(h, head), batch.labels);
          g.backward(l);
          return l;
        });
        optimizer.update();
        optimizer.zeroGrad();
        losses.push((await loss.read())[0]!);
        loss.dispose();
      }
      optimizer.dispose();
      head.dispose();
      for (const x of [encoder, lang, task]) x.dispose();
      return { losses, traces };
    };
    const plain = await run(null);
    const probed = await run(3);
    expect(Float32Array.from(probed.losses)).toEqual(Float32Array.from(plain.losses));
    // The frozen block 0 was scored too.
    expect(probed.traces).toHaveLength(2);
    expect(probed.traces.every((t) => t > 0)).toBe(true);
  });
});
