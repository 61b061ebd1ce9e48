// The PyTorch peer of `thaw bench step`: its output checks, what it says when
// there is no Python with torch, and (where torch is installed) one real run
// of torch_step.py on a tiny shape.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatStepBench, type StepBenchReport } from '../src/commands/bench.js';
import { describeBlas, parseTorchOutput, runTorchPeer, threadLabel, TORCH_STEP_SCRIPT, type TorchStepSpec } from '../src/bench/torch-peer.js';

const TINY: TorchStepSpec = {
  layers: 2, hidden: 16, heads: 2, ffn: 32, vocab: 50, positions: 12, padTokenId: 1, layerNormEps: 1e-5, dropout: 0.1, classes: 3,
  batch: 2, sequence: 8, lr: 1e-4, weightDecay: 0.01, maxGradNorm: 1, warmup: 0, steps: 1, configs: ['full', 'frozen-base'],
};

/** Parameters of TINY's model: embeddings, per layer q/k/v/o, two LayerNorms and the FFN, the head. */
const D = TINY.hidden;
const LAYER = 4 * (D * D + D) + 2 * 2 * D + (D * TINY.ffn + TINY.ffn) + (TINY.ffn * D + D);
const TOTAL = TINY.vocab * D + TINY.positions * D + D + 2 * D + TINY.layers * LAYER + (TINY.classes * D + TINY.classes);
const FROZEN_BASE_TRAINABLE = TINY.layers * 2 * 2 * D + TINY.classes * D + TINY.classes;

const output = (configs: Record<string, unknown>) => JSON.stringify({ torch: '2.1.0', python: '3.11.2', threads: 1, blasThreads: 1, blas: { info: 'open', libraries: ['/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3'] }, configs });
const config = { msPerStep: 12.5, parameters: 100, trainable: 10, losses: [2.1] };

describe('torch peer output', () => {
  it('takes a complete output and names what an incomplete one lacks', () => {
    expect(parseTorchOutput(`a warning\n${output({ full: config })}\n`, ['full'])).toMatchObject({ torch: '2.1.0', configs: { full: { msPerStep: 12.5 } } });
    expect(parseTorchOutput(output({ full: config }), ['full', 'frozen-base'])).toEqual({ missing: 'torch_step.py output lacks configuration frozen-base' });
    expect(parseTorchOutput(output({ full: { ...config, losses: [null] } }), ['full'])).toEqual({ missing: "torch's loss in full is not finite" });
    expect(parseTorchOutput('Traceback (most recent call last):', ['full'])).toEqual({ missing: 'torch_step.py printed no JSON ("Traceback (most recent call last):")' });
    expect(parseTorchOutput('{"missing": "/usr/bin/python3 cannot import torch (No module named \'torch\')"}', ['full'])).toEqual({ missing: "/usr/bin/python3 cannot import torch (No module named 'torch')" });
  });

  it('names the BLAS by its info and the libblas alternative in use', () => {
    expect(describeBlas({ info: 'generic', libraries: ['/usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3', '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3'] })).toBe('generic via openblas-pthread/libblas.so.3');
    expect(describeBlas({ info: 'generic', libraries: ['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3'] })).toBe('generic via blas/libblas.so.3');
    expect(describeBlas({ info: 'mkl', libraries: [] })).toBe('mkl via no BLAS library mapped');
  });
});

describe('torch peer without torch', () => {
  it('says there is no python3 with torch, and why for each interpreter tried', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-python-'));
    // An interpreter without torch, as torch_step.py reports it (its JSON on stdout, exit status 3).
    const noTorch = join(dir, 'python-without-torch');
    await writeFile(noTorch, `#!/bin/sh\necho '{"missing": "${noTorch} cannot import torch (No module named torch)"}'\nexit 3\n`);
    await chmod(noTorch, 0o755);
    const result = await runTorchPeer(TINY, { interpreters: [join(dir, 'no-such-python3'), noTorch], threads: [{ torch: 1, blas: 1 }] });
    expect(result).toEqual({ missing: `no python3 with torch (${join(dir, 'no-such-python3')}: not found; ${noTorch} cannot import torch (No module named torch))` });
    // A table shows the short reason in the column, and the whole reason above it.
    const missing = result as { missing: string };
    const report: StepBenchReport = {
      device: { name: 'test', vendor: '', architecture: '' }, date: '2026-12-03', logEvery: 10,
      shape: { layers: 4, hidden: 128, heads: 4, ffn: 512, sequence: 64, batch: 32 },
      configs: [{ name: 'full', tokensPerSec: 2000, msPerStep: 1000, submitsPerStep: 2, dispatchesPerStep: 400, readbacksPerStep: 0.1, trainableFraction: 1, kernelShare: { matmul: 1 }, peers: { torch: missing } }],
    };
    const text = formatStepBench(report);
    expect(text).toContain(`PyTorch: ${missing.missing}`);
    expect(text).toMatch(/\| full +\| 100\.00% +\| 1000\.0 +\| 2000 +\| 2\.0 +\| 400 +\| no python3 with torch \| - +\|/);
  });

  it('a real python3 that cannot import torch gives the script\'s own reason', async () => {
    // npm test's set-up installs Debian's python3-torch (scripts/setup.sh --torch), and with it /usr/bin/python3.
    const python = '/usr/bin/python3';
    if (!existsSync(python)) throw new Error(`no ${python}: run npm test's set-up (bash scripts/setup.sh --torch)`);
    const dir = await mkdtemp(join(tmpdir(), 'thaw-python-'));
    // -S: without site-packages (where Debian's python3-torch lives), torch cannot be imported.
    const isolated = join(dir, 'python3-isolated');
    await writeFile(isolated, `#!/bin/sh\nexec ${python} -S -I "$@"\n`);
    await chmod(isolated, 0o755);
    const result = await runTorchPeer(TINY, { interpreters: [isolated], threads: [{ torch: 1, blas: 1 }] });
    expect(result).toMatchObject({ missing: expect.stringMatching(/^no python3 with torch \(.* cannot import torch \(No module named 'torch'\)\)$/) });
  });
});

/** Whether /usr/bin/python3 or python3 on PATH imports torch (the peer is optional: without it, the real run below skips). */
function torchPython(): string | undefined {
  for (const python of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
      return python;
    } catch {
      // Not there, or no torch.
    }
  }
  return undefined;
}

describe('torch peer with torch', () => {
  const python = torchPython();

  it('runs torch_step.py on a tiny shape: the model Thaw builds, one timed step, and the BLAS in use', async () => {
    // npm test's set-up installs torch and OpenBLAS (scripts/setup.sh --torch), as npm run bench's does.
    if (!python) throw new Error('no python3 with torch: neither /usr/bin/python3 nor python3 on PATH imports torch; run npm test\'s set-up (bash scripts/setup.sh --torch)');
    expect(existsSync(TORCH_STEP_SCRIPT)).toBe(true);
    const result = await runTorchPeer(TINY, { threads: [{ torch: 1, blas: 1 }, { torch: 1, blas: 2 }] });
    if ('missing' in result) throw new Error(result.missing);
    expect(result.python).toBe(python);
    expect(result.version).toMatch(/^\d+\.\d+/);
    expect(typeof result.blas.info).toBe('string');
    expect(result.blas.libraries.some((p) => /blas/.test(p))).toBe(true);
    for (const name of ['full', 'frozen-base']) {
      const c = result.configs[name]!;
      expect(c.msPerStep).toBeGreaterThan(0);
      expect(Object.keys(c.byThreads).sort()).toEqual(['1', '1+2 BLAS']);
      expect(c.byThreads[threadLabel({ torch: c.threads, blas: c.blasThreads })]).toBe(c.msPerStep);
      expect(Math.min(...Object.values(c.byThreads))).toBe(c.msPerStep);
      // The same parameters as Thaw's model: every one, and under frozen-base the head and each layer's two .output.LayerNorm.
      expect(c.parameters).toBe(TOTAL);
      expect(c.trainable).toBe(name === 'full' ? TOTAL : FROZEN_BASE_TRAINABLE);
    }
  });
});
