// Tensors larger than one storage binding, end to end: the same runs with
// the runtime's binding limit lowered (THAW_MAX_BINDING_BYTES) so that the
// word embeddings, their gradients and optimizer state are bound in chunks,
// against the runs at the device's own limit.
//
// What must hold:
// - MAD-X (frozen embeddings, schedule fun) and full fine-tuning: every
//   chunked launch adds the same terms in the same order as the whole one
//   (the gather, its scatter-add, the optimizer, the clipping norm), so the
//   logs, results and trained weights are bitwise identical. (The layers'
//   weights all fit a binding here; an input gradient through a weight
//   larger than one sums in blocks and rounds differently, as below.)
// - Masked-LM pretraining (decoder tied to the embeddings): the decoder's
//   input gradient sums over the vocabulary, which is split at chunk
//   boundaries, so it rounds differently; the runs agree to a stated
//   tolerance and a chunked run repeats bitwise.
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HfTokenizer, readSafetensors } from '../packages/adapters/src/index.js';
import { tinyXlmrConfig, writeHfCheckpoint, writeLanguageAdapter } from '../packages/adapters/test/support/hf-files.js';
import { writeXlmrTokenizer } from '../packages/adapters/test/support/tokenizer-files.js';
import { LEXICON, NAMES, writeXnli, type Lang } from './support/real-datasets.js';
import { thawWithEnv } from './support/thaw.js';

/** The lowered binding limit: 64 KiB. */
const CAP = { THAW_MAX_BINDING_BYTES: String(64 * 1024) };
/** A vocabulary whose embedding table (3000 × 16 float32s, 188 KiB) is three chunks at that limit. */
const VOCAB = 3000;
/**
 * Agreement of chunked and whole masked-LM runs, whose decoder gradient
 * sums over the vocabulary in chunks: the loss of every step within this
 * relative distance.
 */
const LOSS_TOLERANCE = 1e-5;

interface LogLine { step: number; loss: number; fisher?: number[] }
const log = async (dir: string): Promise<LogLine[]> => (await readFile(join(dir, 'log.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as LogLine);

let root: string;
let common: string[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'thaw-chunked-e2e-'));
  const words = new Set([...NAMES, '.', ...Object.values(LEXICON).flatMap((w) => Object.values(w))]);
  const tokenizerPath = writeXlmrTokenizer(join(root, 'model'), words);
  const tokenizer = await HfTokenizer.load(tokenizerPath);
  expect(tokenizer.vocabSize).toBeLessThan(VOCAB);
  const config = tinyXlmrConfig(VOCAB);
  await writeHfCheckpoint(join(root, 'model'), config, 1);
  for (const [i, lang] of (Object.keys(LEXICON) as Lang[]).entries()) await writeLanguageAdapter(join(root, 'adapters', lang), lang, config, 10 + i);
  await mkdir(join(root, 'data'), { recursive: true });
  await writeXnli(join(root, 'data'));
  common = ['--model', join(root, 'model'), '--tokenizer', tokenizerPath, ...(Object.keys(LEXICON) as Lang[]).flatMap((l) => ['--lang-adapter', `${l}=${join(root, 'adapters', l)}`])];
});

const train = (schedule: string, out: string) => [
  'train', ...common, '--task', 'xnli', '--data', join(root, 'data'), '--schedule', schedule, '--k', '2', '--steps', '5', '--batch-size', '4',
  '--eval-every', '5', '--fisher-every', '2', '--fisher-batches', '1', '--max-length', '40', '--lr', '1e-3', '--out', out, '--json',
];

async function run(env: Record<string, string>, args: string[]): Promise<Record<string, unknown>> {
  const { stdout, stderr, code } = await thawWithEnv(env, ...args);
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('a run whose embedding table is larger than a binding', () => {
  it('the cap reaches the run: one below the step\'s activations is refused, naming it', async () => {
    // The table (3000 × 16 float32s) is more than twice the 64 KiB cap, so the runs that follow pass only if it is bound in chunks.
    expect(VOCAB * 16 * 4).toBeGreaterThan(2 * Number(CAP.THAW_MAX_BINDING_BYTES));
    const out = join(root, 'refused');
    const { stderr, code } = await thawWithEnv({ THAW_MAX_BINDING_BYTES: '4096' }, ...train('fun', out));
    expect(code).toBe(1);
    expect(stderr).toMatch(/binds at most 4 KiB per buffer \(THAW_MAX_BINDING_BYTES\)/);
  });

  it('MAD-X (fun): bitwise the same losses, tr(F) and results as at the device limit', async () => {
    const [whole, chunked] = [join(root, 'fun-whole'), join(root, 'fun-chunked')];
    const a = await run({}, train('fun', whole));
    const b = await run(CAP, train('fun', chunked));
    expect(await log(chunked)).toEqual(await log(whole));
    expect((await log(whole)).some((l) => l.fisher?.length)).toBe(true);
    expect({ ...b, out: '' }).toEqual({ ...a, out: '' });
  });

  it('full fine-tuning: bitwise the same losses and fine-tuned encoder as at the device limit', async () => {
    const [whole, chunked] = [join(root, 'full-whole'), join(root, 'full-chunked')];
    await run({}, train('full', whole));
    await run(CAP, train('full', chunked));
    expect(await log(chunked)).toEqual(await log(whole));
    const model = (d: string) => readFile(join(d, 'model', 'model.safetensors'));
    expect((await model(chunked)).equals(await model(whole))).toBe(true);
  });

  it('masked-LM pretraining with the decoder tied to the embeddings: within tolerance, and repeatable bitwise', async () => {
    // 193 words × 64 float32s = 48 KiB of embeddings, two chunks at 32 KiB; the logits (32 tokens × 193) fit.
    const cap = { THAW_MAX_BINDING_BYTES: String(32 * 1024) };
    const args = (out: string) => ['pretrain', '--out', out, '--languages', 'src,l1', '--layers', '1', '--hidden', '64', '--heads', '2', '--ffn', '128',
      '--steps', '4', '--batch-size', '2', '--sequence', '16', '--pairs', '40', '--log-every', '1', '--json'];
    const [whole, chunked, again] = [join(root, 'mlm-whole'), join(root, 'mlm-chunked'), join(root, 'mlm-again')];
    await run({}, args(whole));
    await run(cap, args(chunked));
    await run(cap, args(again));
    const [w, c] = [await log(whole), await log(chunked)];
    expect(c).toHaveLength(4);
    for (const [i, line] of c.entries()) expect(Math.abs(line.loss - w[i]!.loss) / Math.abs(w[i]!.loss), `step ${line.step}`).toBeLessThan(LOSS_TOLERANCE);
    expect(await log(again)).toEqual(c);
    // The pretrained embeddings: close to the whole run's, and the same bits when repeated.
    const name = 'roberta.embeddings.word_embeddings.weight';
    const [x, y, z] = await Promise.all([whole, chunked, again].map(async (d) => (await readSafetensors(join(d, 'model.safetensors'))).tensors.get(name)!.data));
    let worst = 0;
    for (let i = 0; i < x!.length; i++) worst = Math.max(worst, Math.abs(x![i]! - y![i]!));
    expect(worst).toBeLessThan(1e-6);
    expect(Buffer.from(z!.buffer).equals(Buffer.from(y!.buffer))).toBe(true);
  });
});
