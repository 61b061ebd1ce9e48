// The largest buffers of a training step, computed from the batch, the
// sequence and the model's config, and the refusal of sizes that cannot fit
// (before a run writes anything: test/cli.e2e.test.ts runs it through thaw).
import { sizeClass } from '@thaw/kernels';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../src/errors/option-error.js';
import { bytes, checkStepFits, hostBatchBytes, largestFitting, stepBuffers, type StepLimits, type StepShape } from '../src/train/step-size.js';

/** The suite's base (d 64, 4 heads, FFN 256) at its defaults. */
const suite: StepShape = { batchSize: 32, sequencesPerExample: 1, sequence: 32, hidden: 64, heads: 4, intermediate: 256 };
/** lavapipe's limits, and a machine of 16 GiB. */
const lavapipe: StepLimits = { device: 'llvmpipe', maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 2 ** 32 - 1, hostBytes: 8 * 2 ** 30, host: "half of this machine's 16 GiB of memory" };
const flags = { batchSize: '--batch-size', sequence: '--sequence' };

describe('the largest buffers of a training step', () => {
  it('counts hidden states, attention scores, the FFN intermediate and MLM logits, largest first', () => {
    expect(stepBuffers(suite)).toEqual([
      { name: 'feed-forward intermediate', formula: 'batch·T·ffn = 32·32·256', elements: 32 * 32 * 256, bytes: 4 * 32 * 32 * 256 },
      { name: 'attention scores', formula: 'batch·heads·T·T = 32·4·32·32', elements: 32 * 4 * 32 * 32, bytes: 4 * 32 * 4 * 32 * 32 },
      { name: 'hidden states', formula: 'batch·T·hidden = 32·32·64', elements: 32 * 32 * 64, bytes: 4 * 32 * 32 * 64 },
    ]);
    // Long sequences: the attention scores grow with T², and lead.
    expect(stepBuffers({ ...suite, sequence: 512 })[0]!.name).toBe('attention scores');
    // Multiple choice: a sequence per choice; masked-LM: a logit per token and word.
    const mlm = stepBuffers({ ...suite, sequencesPerExample: 2, vocab: 1000 });
    expect(mlm[0]).toMatchObject({ name: 'masked-LM logits', formula: 'batch·choices·T·vocab = 32·2·32·1000', bytes: 4 * 64 * 32 * 1000 });
    expect(hostBatchBytes(suite)).toBe(16 * 32 * 32);
    expect(hostBatchBytes({ ...suite, heldBatches: 4 })).toBe(4 * 16 * 32 * 32);
  });

  it('lets sizes through that fit, up to the pool size class at the limit', () => {
    expect(() => checkStepFits(suite, lavapipe, flags)).not.toThrow();
    // 4096·32·256 float32s are exactly 128 MiB: the largest batch that fits, and one more does not.
    expect(() => checkStepFits({ ...suite, batchSize: 4096 }, lavapipe, flags)).not.toThrow();
    expect(() => checkStepFits({ ...suite, batchSize: 4097 }, lavapipe, flags)).toThrow(/lower --batch-size to at most 4096$/);
    for (const limit of [128 * 2 ** 20, 100_000_000, 2 ** 32 - 1, 1000]) {
      const most = largestFitting(limit);
      expect(sizeClass(most)).toBeLessThanOrEqual(limit);
      expect(sizeClass(most + 1)).toBeGreaterThan(limit);
    }
  });

  it('refuses a batch that cannot fit, naming the flags, the buffer, the limit and what fits', () => {
    let error: unknown;
    try {
      checkStepFits({ ...suite, batchSize: 100_000_000 }, lavapipe, flags);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptionError);
    expect((error as Error).message).toBe('--batch-size 100000000 with --sequence 32 does not fit: a training step needs a buffer of 2.98 TiB for its ' +
      'feed-forward intermediate (batch·T·ffn = 100000000·32·256 float32s), and the device (llvmpipe) binds at most 128 MiB per buffer ' +
      '(maxStorageBufferBindingSize); lower --batch-size to at most 4096');
    // A batch past every float: still what fits.
    expect(() => checkStepFits({ ...suite, batchSize: 1e300 }, lavapipe, flags)).toThrow(/^--batch-size 1e\+300 with .*lower --batch-size to at most 4096$/);
    // A sequence too long for even one example names the sequence's flag.
    expect(() => checkStepFits({ ...suite, batchSize: 1, sequence: 100_000 }, lavapipe, { batchSize: '--batch-size', sequence: '--max-length' }))
      .toThrow(/attention scores .*; even --batch-size 1 does not fit: lower --max-length$/);
    // The smaller device limit is named.
    expect(() => checkStepFits({ ...suite, batchSize: 5000 }, { ...lavapipe, maxStorageBufferBindingSize: 2 ** 32, maxBufferSize: 2 ** 27 }, flags))
      .toThrow(/allocates at most 128 MiB per buffer \(maxBufferSize\)/);
    // A word-embedding table past the binding limit is fine (bound in chunks); past the largest buffer it is refused.
    expect(() => checkStepFits({ ...suite, batchSize: 1, embeddingRows: 250_002, hidden: 768 }, lavapipe, flags)).not.toThrow();
    expect(() => checkStepFits({ ...suite, batchSize: 1, embeddingRows: 250_002, hidden: 768 }, { ...lavapipe, maxBufferSize: 2 ** 28 }, flags))
      .toThrow(/^the model does not fit this device: its word embeddings \(vocab·hidden = 250002·768 float32s\) take 732 MiB, and the device \(llvmpipe\) allocates at most 256 MiB per buffer \(maxBufferSize\)/);
    // A runtime cap below the device's binding limit is named as such.
    expect(() => checkStepFits({ ...suite, batchSize: 64 }, { ...lavapipe, maxStorageBufferBindingSize: 65536, bindingLimitName: 'THAW_MAX_BINDING_BYTES' }, flags))
      .toThrow(/binds at most 64 KiB per buffer \(THAW_MAX_BINDING_BYTES\); lower --batch-size to at most \d+$/);
  });

  it("refuses batches whose arrays outgrow the host's memory", () => {
    const roomy = { ...lavapipe, maxStorageBufferBindingSize: 2 ** 52, maxBufferSize: 2 ** 52 };
    expect(() => checkStepFits({ ...suite, batchSize: 100_000_000 }, roomy, flags))
      .toThrow("--batch-size 100000000 with --sequence 32 does not fit: the batch's token arrays take 47.7 GiB of host memory, more than half of this machine's 16 GiB of memory; lower --batch-size to at most 16777216");
    expect(() => checkStepFits({ ...suite, batchSize: 10_000_000, heldBatches: 41 }, roomy, flags)).toThrow(/the 41 batches of a tr\(F\) estimate take 196 GiB/);
  });

  it('writes byte counts as people read them', () => {
    expect([bytes(512), bytes(2048), bytes(128 * 2 ** 20), bytes(1.5 * 2 ** 40), bytes(Infinity)]).toEqual(['512 bytes', '2 KiB', '128 MiB', '1.5 TiB', 'Infinity bytes']);
  });
});
