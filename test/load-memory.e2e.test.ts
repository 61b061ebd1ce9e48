// Loading streams (issue 15): a checkpoint goes to the GPU piece by piece,
// never whole on the host, nor a second copy of a tensor. `thaw bench load`
// writes a synthetic mBERT-shaped checkpoint without layers (≈ 370 MB,
// 99.8% of it the word embeddings) and loads it in a fresh process, whose
// peak resident memory it reports.
//
// The bound: on lavapipe the GPU's buffers are host memory, so the loaded
// weights themselves add the checkpoint's size to the process once; the
// streaming loader adds its pieces (16 MiB) and the code it loads on top
// (measured: about 60 MB). Any host copy of the word embeddings — the file
// read whole, the tensor read whole before its upload, a random
// initialization of the encoder before the load, a kept upload array —
// adds another ≈ 370 MB, so allowing half the checkpoint's size over it
// catches each of them with room on both sides. (On a GPU with its own
// memory the weights do not count at all, and the bound holds more easily.)
import { describe, expect, it } from 'vitest';
import type { LoadBenchReport } from '../packages/cli/src/commands/bench.js';
import { thaw } from './support/thaw.js';

describe('thaw bench load (built command)', () => {
  it('loads a 370 MB checkpoint adding at most 1.5 times its size to the peak RSS, and within its size + 512 MB in all', async () => {
    const { stdout, stderr, code } = await thaw('bench', 'load', '--synthetic', 'mbert', '--layers', '0', '--json');
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as LoadBenchReport;
    expect(report.synthetic).toEqual({ shape: 'mbert', layers: 0 });
    const r = report.result;
    expect(r.files.map((f) => f.split('/').at(-1))).toEqual(['model.safetensors']);
    expect(r.parameters).toBe((119_547 + 512 + 2) * 768 + 2 * 768);
    expect(r.checkpointBytes).toBeGreaterThan(4 * r.parameters);
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.peakRssBytes - r.rssBeforeBytes).toBeLessThanOrEqual(1.5 * r.checkpointBytes);
    expect(r.peakRssBytes).toBeLessThanOrEqual(r.checkpointBytes + 512 * 2 ** 20);
  });

  it('refuses --model with --synthetic, and names a folder that holds no checkpoint', async () => {
    const both = await thaw('bench', 'load', '--model', '/tmp', '--synthetic', 'mbert');
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/give one of --model <dir> or --synthetic <shape>/);
    const missing = await thaw('bench', 'load', '--model', '/nonexistent-thaw-model');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/\/nonexistent-thaw-model\/config\.json: cannot read the file \(ENOENT\)/);
  });
});
