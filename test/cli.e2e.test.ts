// End to end: the built `thaw` command, run as a user runs it, on the machine's real adapter.
import { execFile, spawn } from 'node:child_process';
import { readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { errorLines, thaw, thawWithEnv } from './support/thaw.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

describe('thaw (built command)', () => {
  it('devices --json describes the adapter it uses', async () => {
    const { stdout, code } = await thaw('devices', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.adapters.length).toBeGreaterThan(0);
    expect(report.adapters.filter((a: { chosen: boolean }) => a.chosen)).toHaveLength(1);
    expect(typeof report.chosen.name).toBe('string');
    expect(report.chosen.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(Array.isArray(report.chosen.features)).toBe(true);
    expect(report.bindingCap).toBeUndefined();
  });

  it('devices shows a binding cap set by THAW_MAX_BINDING_BYTES, and tensors past it are bound in chunks', async () => {
    const json = await thawWithEnv({ THAW_MAX_BINDING_BYTES: '65536' }, 'devices', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).bindingCap).toBe(65536);
    const human = await thawWithEnv({ THAW_MAX_BINDING_BYTES: '65536' }, 'devices');
    expect(human.stdout).toMatch(/one larger than a binding \(65536 bytes: THAW_MAX_BINDING_BYTES\) is bound in chunks/);
  });

  it('a bad THAW_POLLING or THAW_MAX_BINDING_BYTES is a user error naming the variable, without a stack trace', async () => {
    const polling = await thawWithEnv({ THAW_POLLING: 'fast' }, 'devices');
    expect(polling.code).toBe(1);
    expect(polling.stderr).toMatch(/^thaw: THAW_POLLING must be "paced" or "busy", got "fast"\n$/);
    const cap = await thawWithEnv({ THAW_MAX_BINDING_BYTES: '5' }, 'devices');
    expect(cap.code).toBe(1);
    expect(cap.stderr).toMatch(/^thaw: THAW_MAX_BINDING_BYTES must be an integer number of bytes, a multiple of 16 and at least \d+ .*; got 5\n$/);
  });

  it('kernels --json lists every kernel with reflected entry points', async () => {
    const { stdout, code } = await thaw('kernels', '--json');
    expect(code).toBe(0);
    const kernels = JSON.parse(stdout);
    // Every WGSL file of packages/kernels is in the manifest, in name order.
    const files = readdirSync(new URL('../packages/kernels/src/wgsl/', import.meta.url)).filter((f) => f.endsWith('.wgsl')).sort();
    expect(kernels.map((k: { file: string }) => k.file)).toEqual(files);
    for (const k of kernels) {
      expect(k.file).toBe(`${k.name}.wgsl`);
      for (const e of k.entryPoints) {
        expect(e.workgroupSize).toHaveLength(3);
        expect(Array.isArray(e.overrides)).toBe(true);
        for (const b of e.bindings) {
          expect(Object.keys(b).sort()).toEqual(['access', 'binding', 'group', 'name', 'type']);
        }
      }
    }
  });

  it('an unknown adapter is a user error with the available adapters', async () => {
    const { stderr, code } = await thaw('--device', 'no-such-adapter-xyz', 'devices');
    expect(code).toBe(1);
    expect(stderr).toMatch(/thaw: No WebGPU adapter matches adapter=no-such-adapter-xyz\. Available adapters:/);
  });

  it("keeps stderr for the user: Dawn's native notices do not reach it", async () => {
    const { stdout, stderr, code } = await thaw('devices');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Adapters:/);
    expect(stderr).toBe('');
  });

  it('npx thaw, as the README runs it, is this checkout\'s command', async () => {
    // The link must exist first: without it npx would look for a registry package called thaw.
    expect(realpathSync(join(repo, 'node_modules/.bin/thaw'))).toBe(realpathSync(join(repo, 'packages/cli/dist/main.js')));
    const { stdout } = await promisify(execFile)('npx', ['thaw', 'devices', '--json'], { cwd: repo });
    expect(JSON.parse(stdout).chosen.name).toEqual(expect.any(String));
  });

  it('a signal to thaw reaches the command it runs, and thaw dies of it', async () => {
    const parent = spawn('node', [join(repo, 'packages/cli/dist/main.js'), 'bench', 'step'], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { stdout } = await promisify(execFile)('pgrep', ['-P', String(parent.pid)]);
    const child = Number(stdout.trim());
    expect(child).toBeGreaterThan(0);
    const closed = new Promise<NodeJS.Signals | null>((resolve) => parent.on('close', (_code, signal) => resolve(signal)));
    parent.kill('SIGTERM');
    expect(await closed).toBe('SIGTERM');
    expect(() => process.kill(child, 0)).toThrow(/ESRCH/);
  });

  it('bench kernels --quick --json reports every kernel with peer ratios', async () => {
    const { stdout, code } = await thaw('bench', 'kernels', '--quick', '--json', '--warmup', '1', '--repeats', '1');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(typeof report.device.name).toBe('string');
    const kernels = new Set(report.results.map((r: { kernel: string }) => r.kernel));
    expect([...kernels].sort()).toEqual([
      'attention.backward', 'attention.forward', 'elementwise.gelu', 'elementwise.geluTanh', 'elementwise.relu', 'elementwise.scaleColumns', 'elementwise.swish', 'elementwise.tanh',
      'fisher.accumulate', 'fisher.segmentTraces', 'layernorm.backward', 'layernorm.forward', 'layernorm.residualForward', 'matmul',
    ]);
    for (const r of report.results) {
      expect(r.ms).toBeGreaterThan(0);
      if (r.kernel === 'matmul') {
        expect(r.gflops).toBeGreaterThan(0);
        // Both peers are devDependencies of the CLI and must have run.
        for (const peer of ['tfjs', 'jax']) {
          expect(r.peers[peer].gflops).toBeGreaterThan(0);
          expect(r.peers[peer].ratio).toBeCloseTo(r.gflops / r.peers[peer].gflops, 6);
        }
      } else if (r.kernel.startsWith('attention.')) {
        // The fused attention has no peer kernel.
        expect(r.gflops).toBeGreaterThan(0);
        expect(r.peers).toEqual({});
      } else {
        expect(r.gbps).toBeGreaterThan(0);
        // Activations are compared where a peer has the function: tfjs has relu and tanh, jax-js all five
        // (the column scale has no peer run).
        const activation = r.kernel.startsWith('elementwise.') && r.kernel !== 'elementwise.scaleColumns';
        const expected = !activation ? [] : ['elementwise.relu', 'elementwise.tanh'].includes(r.kernel) ? ['jax', 'tfjs'] : ['jax'];
        expect(Object.keys(r.peers).sort(), r.kernel).toEqual(expected);
        for (const peer of expected) expect(r.peers[peer].ratio).toBeCloseTo(r.gbps / r.peers[peer].gbps, 6);
      }
    }
  });
});

describe('thaw bench step (built command)', () => {
  it('--json reports both configurations with kernel shares', async () => {
    const { stdout, code } = await thaw('bench', 'step', '--json', '--batch', '2', '--sequence', '8', '--steps', '1', '--warmup', '0');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.configs.map((c: { name: string }) => c.name)).toEqual(['full', 'frozen-base']);
    for (const c of report.configs) {
      expect(c.msPerStep).toBeGreaterThan(0);
      expect(c.tokensPerSec).toBeGreaterThan(0);
      expect(c.submitsPerStep).toBeGreaterThanOrEqual(1);
      const shares = Object.values(c.kernelShare) as number[];
      expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      expect(Object.keys(c.kernelShare)).toContain('matmul_subgroups');
    }
    expect(report.configs[1].trainableFraction).toBeLessThan(report.configs[0].trainableFraction);
    expect(report.configs[0].trainableFraction).toBe(1);
    // The trainer's step: one readback of the losses per --log-every steps, here the one at the end of a 1-step run.
    expect(report.logEvery).toBe(10);
    for (const c of report.configs) expect(c.readbacksPerStep).toBe(1);
    // The PyTorch peer is optional: a result, or why there is none.
    for (const c of report.configs) {
      const torch = c.peers.torch;
      if ('missing' in torch) {
        expect(torch.missing).toMatch(/\S/);
      } else {
        expect(torch.msPerStep).toBeGreaterThan(0);
        expect(torch.ratio).toBeCloseTo(c.msPerStep / torch.msPerStep, 9);
        expect([1, 2]).toContain(torch.threads);
        expect([1, 2]).toContain(torch.blasThreads);
        expect(torch.version).toMatch(/^\d+\.\d+/);
        expect(torch.blas).toMatch(/ via /);
      }
    }
  });

  it('--no-torch leaves the PyTorch column empty and says why', async () => {
    const { stdout, code } = await thaw('bench', 'step', '--batch', '2', '--sequence', '8', '--steps', '2', '--warmup', '0', '--log-every', '1', '--no-torch');
    expect(code).toBe(0);
    expect(stdout).toMatch(/losses read every 1 steps/);
    expect(stdout).toMatch(/PyTorch: not run: --no-torch/);
    expect(stdout).toMatch(/\| full +\| 100\.00% +\|.*\| not run: --no-torch \| - +\|/);
  });

  it('rejects a sequence longer than the position table', async () => {
    const { stderr, code } = await thaw('bench', 'step', '--sequence', '500');
    expect(code).toBe(1);
    expect(stderr).toMatch(/--sequence must be at most 128/);
  });
});

describe('thaw bench madx (built command)', () => {
  it('--json times a MAD-X step and evaluation at mBERT\'s shape (one layer here), training only the task adapter and head', async () => {
    const { stdout, stderr, code } = await thaw('bench', 'madx', '--shape', 'mbert', '--layers', '1', '--batch', '2', '--sequence', '16', '--warmup', '0', '--steps', '1', '--eval-batches', '1', '--json');
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ shape: 'mbert', batch: 2, sequence: 16, steps: 1, result: { config: { vocabSize: 119_547, hiddenSize: 768, numHiddenLayers: 1 } } });
    const r = report.result;
    // seq_bn at reduction 16 (768·48 + 48 + 48·768 + 768) and the head (768·768 + 768 + 3·768 + 3).
    expect(r.trainable).toBe(74_544 + 592_899);
    expect(r.parameters).toBeGreaterThan(119_547 * 768);
    for (const k of ['msPerStep', 'tokensPerSec', 'dispatchesPerStep', 'evalMsPerBatch', 'evalSequencesPerSec']) expect(r[k], k).toBeGreaterThan(0);
    expect(r.tokensPerSec).toBeCloseTo(32 / (r.msPerStep / 1000), 6);
  });

  it('rejects a sequence longer than the shape\'s positions', async () => {
    const { stderr, code } = await thaw('bench', 'madx', '--sequence', '600');
    expect(code).toBe(1);
    expect(stderr).toMatch(/--sequence must be at most 512 \(xlmr-base has 512 positions for tokens\)/);
  });
});

describe('sizes that cannot fit (built command)', () => {
  it('a batch of 100 million is refused at once, naming the flags and the device limit, with no run folder', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { existsSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'thaw-huge-'));
    const started = performance.now();
    const train = await thaw('train', '--out', join(dir, 'run'), '--batch-size', '100000000');
    // Before: out of JavaScript heap after a minute, signal 6, a half-made run folder.
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(train.code).toBe(1);
    expect(errorLines(train.stderr)).toEqual([expect.stringMatching(
      /^thaw: --batch-size 100000000 with --sequence 32 does not fit: a training step needs a buffer of [\d.]+ TiB for its feed-forward intermediate \(batch·T·ffn = 100000000·32·256 float32s\), and the device \(.+\) (binds|allocates) at most [\d.]+ [KMG]iB per buffer \((maxStorageBufferBindingSize|maxBufferSize)\); lower --batch-size to at most \d+$/)]);
    expect(existsSync(join(dir, 'run'))).toBe(false);
    // Pretraining's masked-LM step, and the sequence when even one example cannot fit.
    const pretrain = await thaw('pretrain', '--out', join(dir, 'base'), '--batch-size', '100000000');
    expect(pretrain.code).toBe(1);
    expect(errorLines(pretrain.stderr)).toEqual([expect.stringMatching(/^thaw: --batch-size 100000000 with --sequence 32 does not fit: .*lower --batch-size to at most \d+$/)]);
    const long = await thaw('pretrain', '--out', join(dir, 'base'), '--batch-size', '1', '--sequence', '100000');
    expect(long.code).toBe(1);
    expect(errorLines(long.stderr)).toEqual([expect.stringMatching(/attention scores \(batch·heads·T·T = 1·4·100000·100000 float32s\).*; even --batch-size 1 does not fit: lower --sequence$/)]);
    expect(existsSync(join(dir, 'base'))).toBe(false);
  });
});

describe('thaw train --resume (built command)', () => {
  it('refuses a folder whose config.json Thaw did not write, and --overwrite with it', async () => {
    const { mkdtemp, readFile, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const model = await mkdtemp(join(tmpdir(), 'thaw-model-'));
    const config = '{"model_type": "xlm-roberta"}\n';
    await writeFile(join(model, 'config.json'), config);
    const foreign = await thaw('train', '--out', model, '--resume', '--steps', '2');
    expect(foreign.code).toBe(1);
    expect(errorLines(foreign.stderr)).toEqual([`thaw: --out ${model} holds a config.json that Thaw did not write (a model folder?); choose another --out`]);
    expect(await readFile(join(model, 'config.json'), 'utf8')).toBe(config);
    expect(readdirSync(model)).toEqual(['config.json']);
    const both = await thaw('train', '--out', join(model, 'run'), '--resume', '--overwrite');
    expect(both.code).toBe(1);
    expect(errorLines(both.stderr)).toEqual(['thaw: --overwrite and --resume contradict each other; choose one']);
  });
});

describe('thaw pretrain and thaw lang-adapter (built command)', () => {
  it('make a base model and a language adapter, with loadable artifacts', async () => {
    const { mkdtemp, readFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'thaw-e2e-'));
    const base = join(dir, 'base');
    const pre = await thaw('pretrain', '--out', base, '--steps', '6', '--layers', '1', '--hidden', '16', '--heads', '2', '--ffn', '32', '--pairs', '60', '--batch-size', '8', '--languages', 'src,l1', '--json');
    expect(pre.code).toBe(0);
    expect(JSON.parse(pre.stdout).steps).toBe(6);
    const model = JSON.parse(await readFile(join(base, 'model.json'), 'utf8'));
    expect(model.encoder).toMatchObject({ numHiddenLayers: 1, hiddenSize: 16, padTokenId: 1 });
    expect(model.vocabulary.slice(0, 5)).toEqual(['<s>', '<pad>', '</s>', '<unk>', '<mask>']);
    const adapter = join(dir, 'l5');
    const la = await thaw('lang-adapter', '--base', base, '--language', 'l5', '--out', adapter, '--steps', '3', '--pairs', '40', '--batch-size', '8');
    expect(la.code).toBe(0);
    expect(la.stdout).toMatch(/language adapter l5 in .*l5/);
    const config = JSON.parse(await readFile(join(adapter, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ name: 'l5', hidden_size: 16, config: { reduction_factor: 2, inv_adapter: 'nice' } });

    // Bad input: a one-line error naming the option, exit code 1, nothing written.
    const unknown = await thaw('lang-adapter', '--base', base, '--language', 'xx', '--out', join(dir, 'nothing'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/thaw: --language: unknown language xx; the suite has src, l1/);
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(dir, 'nothing'))).toBe(false);
    const again = await thaw('pretrain', '--out', base, '--steps', '1');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/--out .* already holds a run/);
    const noBase = await thaw('lang-adapter', '--base', dir, '--language', 'l1', '--out', join(dir, 'x'));
    expect(noBase.code).toBe(1);
    expect(noBase.stderr).toMatch(/--base .* holds no base model/);
  });
});
