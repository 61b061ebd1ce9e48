/**
 * A two-language toy for trainer tests: language A writes tokens 2…10,
 * language B the same words as 11…19; every token's label is its word
 * modulo 3, learnable through a frozen encoder + MAD-X stack + task adapter.
 */
import { crossEntropy, linear, reshape, type Graph, type Tensor } from '@thaw/autograd';
import { mulberry32 } from '@thaw/kernels';
import { adapterModel, BottleneckAdapter, Encoder, Stack, type ForwardMode, type TaskData, type TaskModel } from '../../src/index.js';
import { tinyConfig } from './tiny.js';

export interface ToyBatch {
  ids: Int32Array;
  labels: Int32Array;
  batch: number;
  sequence: number;
}

const [B, T, CLASSES] = [4, 6, 3];

function toyBatch(seed: number, language: 'a' | 'b'): ToyBatch {
  const random = mulberry32(seed);
  const words = Int32Array.from({ length: B * T }, () => Math.floor(random() * 9));
  return { ids: words.map((w) => (language === 'a' ? 2 : 11) + w), labels: words.map((w) => w % CLASSES), batch: B, sequence: T };
}

/** `seed` drives the data; `initSeed` the initial weights (a resumed run loads its own). */
export function toyTask(g: Graph, seed = 1, initSeed = seed) {
  const config = tinyConfig({ vocabSize: 20, hiddenDropoutProb: 0.1, attentionProbsDropoutProb: 0 });
  const model = adapterModel(config);
  const encoder = new Encoder(g, config, initSeed);
  const lang = new BottleneckAdapter(g, 'a', { architecture: 'seq_bn', reductionFactor: 2 }, model, initSeed + 1);
  const task = new BottleneckAdapter(g, 'toy', { architecture: 'seq_bn', reductionFactor: 4 }, model, initSeed + 2);
  const random = mulberry32(initSeed + 3);
  const head = {
    weight: g.parameter(Float32Array.from({ length: CLASSES * config.hiddenSize }, () => (random() - 0.5) * 0.2), [CLASSES, config.hiddenSize], 'heads.toy.weight'),
    bias: g.parameter(new Float32Array(CLASSES), [CLASSES], 'heads.toy.bias'),
  };
  const stack = new Stack([lang, task]);
  const logits = (b: ToyBatch, mode: ForwardMode): Tensor =>
    reshape(linear(encoder.forward({ ids: b.ids, batch: b.batch, sequence: b.sequence }, mode, stack), head.weight, head.bias), [b.batch * b.sequence, CLASSES]);

  const taskModel: TaskModel<ToyBatch> = {
    params: [...encoder.params.values(), ...lang.params.values(), ...task.params.values(), head.weight, head.bias],
    blocks: Array.from({ length: config.numHiddenLayers }, (_, i) => task.block(i)),
    head: [head.weight, head.bias],
    base: [...encoder.params.values()],
    loss: (b, mode) => crossEntropy(logits(b, mode), b.labels),
    fisherBatch: (b) => ({ size: b.batch, logits: () => logits(b, { train: false }) }),
    checkpoint: new Map([...task.params, ['heads.toy.weight', head.weight], ['heads.toy.bias', head.bias]]),
  };
  const dev = toyBatch(999, 'a');
  const data: TaskData<ToyBatch> = {
    trainBatch: (step) => toyBatch(seed * 7919 + step, 'a'),
    fisherBatches: (s, count) => Array.from({ length: count }, (_, i) => toyBatch(s * 31 + i, 'a')),
    async evaluateDev() {
      const z = g.noGrad(() => g.scope(() => logits(dev, { train: false })));
      const values = await z.read();
      z.dispose();
      let correct = 0;
      dev.labels.forEach((label, r) => {
        const row = values.subarray(r * CLASSES, (r + 1) * CLASSES);
        if (row.indexOf(Math.max(...row)) === label) correct++;
      });
      return correct / dev.labels.length;
    },
  };
  const dispose = () => {
    for (const x of [encoder, lang, task]) x.dispose();
    head.weight.dispose();
    head.bias.dispose();
  };
  return { taskModel, data, encoder, lang, task, head, dispose };
}
