/**
 * Sizes that cannot fit, refused before a run writes anything: the largest
 * buffers one training step allocates, computed from the batch size, the
 * sequence length and the model's config, against the device's buffer
 * limits, and the batch's arrays against the machine's memory. A batch of
 * 100 million examples would otherwise run out of JavaScript heap a minute
 * into the run, or fail at its first kernel launch, with a run folder made.
 *
 * stepBuffers is the pure computation; checkStepFits turns it into an
 * OptionError naming the flags and the limit; stepLimits reads the limits
 * of a device and of this machine.
 */
import { totalmem } from 'node:os';
import { sizeClass, type Gpu } from '@thaw/kernels';
import { OptionError } from '../errors/option-error.js';
import type { EncoderConfig } from '../model/encoder.js';
import type { TaskRunSpec } from './run-spec.js';

/** What decides the size of a training step's buffers. */
export interface StepShape {
  /** Examples per step (--batch-size). */
  batchSize: number;
  /** Sequences each example makes: 1, or one per choice for multiple choice. */
  sequencesPerExample: number;
  /** Tokens per sequence (at most: a batch is padded to its longest sequence). */
  sequence: number;
  hidden: number;
  heads: number;
  /** The feed-forward size. */
  intermediate: number;
  /** The vocabulary, when the head has a logit per token and word (masked-LM pretraining). */
  vocab?: number;
  /**
   * Rows of the model's word-embedding table (its vocabulary), when known:
   * the largest parameter, [rows, hidden]. It may be larger than a binding
   * (launchers bind it in chunks) but must fit one buffer.
   */
  embeddingRows?: number;
  /** Batches the host holds at once (the tr(F) estimate encodes all of its batches first); 1 when absent. */
  heldBatches?: number;
}

/** One buffer of a step, as float32 elements. */
export interface StepBuffer {
  name: string;
  /** How its elements are counted, e.g. `batch·heads·T·T = 8·4·32·32`. */
  formula: string;
  elements: number;
  bytes: number;
}

/** Bytes the host holds per token of a batch: token ids, attention mask and two pair masks (4 bytes each). */
export const HOST_BYTES_PER_TOKEN = 16;

/**
 * The largest buffers one training step allocates (activations and their
 * gradients have the same sizes), largest first: the hidden states
 * (embeddings output, each layer's), the attention scores of each layer,
 * the FFN intermediate, and with a vocabulary the masked-LM logits. Each is
 * a whole number of float32s; rows are the batch's sequences.
 */
export function stepBuffers(s: StepShape): StepBuffer[] {
  const T = s.sequence;
  const rows: [string, number][] = [['batch', s.batchSize], ...(s.sequencesPerExample === 1 ? [] : [['choices', s.sequencesPerExample] as [string, number]])];
  const buffer = (name: string, factors: [string, number][]): StepBuffer => {
    const elements = factors.reduce((n, [, f]) => n * f, 1);
    return { name, formula: `${factors.map(([f]) => f).join('·')} = ${factors.map(([, f]) => f).join('·')}`, elements, bytes: 4 * elements };
  };
  return [
    buffer('hidden states', [...rows, ['T', T], ['hidden', s.hidden]]),
    buffer('attention scores', [...rows, ['heads', s.heads], ['T', T], ['T', T]]),
    buffer('feed-forward intermediate', [...rows, ['T', T], ['ffn', s.intermediate]]),
    ...(s.vocab ? [buffer('masked-LM logits', [...rows, ['T', T], ['vocab', s.vocab]])] : []),
  ].sort((a, b) => b.bytes - a.bytes);
}

/**
 * The step of a task run: its batch, `sequence` tokens per sequence,
 * `choices` sequences per example (multiple choice), the model's sizes, and
 * the batches the host holds at once (a tr(F) estimate's, when one runs).
 */
export function taskStepShape(o: Pick<TaskRunSpec, 'batchSize' | 'fisherEvery' | 'fisherBatches' | 'schedule'>, c: EncoderConfig, sequence: number, choices = 1): StepShape {
  const fisher = o.fisherEvery > 0 || o.schedule === 'fun';
  return {
    batchSize: o.batchSize, sequencesPerExample: choices, sequence,
    hidden: c.hiddenSize, heads: c.numAttentionHeads, intermediate: c.intermediateSize, embeddingRows: c.vocabSize,
    heldBatches: fisher ? Math.max(1, o.fisherBatches) : 1,
  };
}

/** Bytes the host holds for the batches' arrays it holds at once (see HOST_BYTES_PER_TOKEN). */
export function hostBatchBytes(s: StepShape): number {
  return HOST_BYTES_PER_TOKEN * s.batchSize * s.sequencesPerExample * s.sequence * (s.heldBatches ?? 1);
}

/** The limits a step must fit in. */
export interface StepLimits {
  /** The device's name, for messages. */
  device: string;
  /** The largest buffer a kernel can bind (WebGPU's limit of that name), and the largest buffer, in bytes. */
  maxStorageBufferBindingSize: number;
  /** Where the binding limit comes from: the device's limit, or the runtime's cap (THAW_MAX_BINDING_BYTES) below it. */
  bindingLimitName?: string;
  maxBufferSize: number;
  /** What the host may spend on a batch's arrays, in bytes, and its name in messages. */
  hostBytes: number;
  host: string;
}

/** The limits of `gpu`'s device, and half of this machine's memory for the host. */
export function stepLimits(gpu: Pick<Gpu, 'maxStorageBindingBytes' | 'device' | 'adapter'>): StepLimits {
  const memory = totalmem();
  return {
    device: gpu.adapter.name,
    maxStorageBufferBindingSize: gpu.maxStorageBindingBytes,
    ...(gpu.maxStorageBindingBytes < gpu.device.limits.maxStorageBufferBindingSize ? { bindingLimitName: 'THAW_MAX_BINDING_BYTES' } : {}),
    maxBufferSize: gpu.device.limits.maxBufferSize,
    hostBytes: memory / 2,
    host: `half of this machine's ${bytes(memory)} of memory`,
  };
}

/** A byte count as people read it: 128 MiB, 3.3 TiB. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} bytes`;
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${n >= 100 ? Math.round(n) : Number(n.toPrecision(3))} ${units[i]}`;
}

/** The largest byte count whose pool size class (kernels' sizeClass) is at most `limit`. */
export function largestFitting(limit: number): number {
  if (limit < 256) return 0;
  const power = 2 ** Math.floor(Math.log2(limit));
  const step = Math.max(power / 4, 256);
  const fitting = Math.floor(limit / step) * step;
  return sizeClass(fitting) <= limit ? fitting : 0;
}

/** The flags a message names: the batch size's, and the sequence length's (--sequence, or --max-length on real files). */
export interface StepFlags {
  batchSize: string;
  sequence: string;
}

/**
 * Refuses a step that cannot fit: an OptionError naming the flags, the
 * buffer, the limit, and the largest batch size that fits (or that even one
 * example does not, then the sequence length is to lower).
 */
export function checkStepFits(s: StepShape, limits: StepLimits, flags: StepFlags): void {
  const given = `${flags.batchSize} ${s.batchSize} with ${flags.sequence} ${s.sequence}`;
  // Every size grows linearly with the batch: what one example needs says how many fit.
  const one = { ...s, batchSize: 1 };
  const fitting = (perExample: number, limit: number) => Math.floor(limit / perExample);
  const advice = (most: number) => (most >= 1 ? `lower ${flags.batchSize} to at most ${most}` : `even ${flags.batchSize} 1 does not fit: lower ${flags.sequence}`);
  const device = [
    { limit: limits.maxStorageBufferBindingSize, what: 'binds at most', name: limits.bindingLimitName ?? 'maxStorageBufferBindingSize' },
    { limit: limits.maxBufferSize, what: 'allocates at most', name: 'maxBufferSize' },
  ].sort((a, b) => a.limit - b.limit)[0]!;
  const [largest] = stepBuffers(s);
  // The GPU pool rounds a buffer up to its size class (at most 25% more): the class must fit.
  if (largest && !(largest.bytes <= largestFitting(device.limit))) {
    throw new OptionError(`${given} does not fit: a training step needs a buffer of ${bytes(largest.bytes)} for its ${largest.name} (${largest.formula} float32s), ` +
      `and the device (${limits.device}) ${device.what} ${bytes(device.limit)} per buffer (${device.name}); ${advice(fitting(stepBuffers(one)[0]!.bytes, largestFitting(device.limit)))}`);
  }
  if (s.embeddingRows !== undefined) {
    const table = 4 * s.embeddingRows * s.hidden;
    if (!(sizeClass(table) <= limits.maxBufferSize)) {
      throw new OptionError(`the model does not fit this device: its word embeddings (vocab·hidden = ${s.embeddingRows}·${s.hidden} float32s) take ${bytes(table)}, ` +
        `and the device (${limits.device}) allocates at most ${bytes(limits.maxBufferSize)} per buffer (maxBufferSize); a tensor larger than a binding is bound in chunks, but it must fit one buffer`);
    }
  }
  const host = hostBatchBytes(s);
  if (!(host <= limits.hostBytes)) {
    const batches = (s.heldBatches ?? 1) > 1 ? `the ${s.heldBatches} batches of a tr(F) estimate` : "the batch's token arrays";
    throw new OptionError(`${given} does not fit: ${batches} take ${bytes(host)} of host memory, more than ${limits.host}; ${advice(fitting(hostBatchBytes(one), limits.hostBytes))}`);
  }
}
