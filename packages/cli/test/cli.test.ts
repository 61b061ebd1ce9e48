import { describe, expect, it } from 'vitest';
import { CommanderError } from 'commander';
import { KernelLaunchError, NoAdapterError } from '@thaw/kernels';
import { FileWriteError, InputFileError, OptionError } from '@thaw/adapters';
import { buildProgram } from '../src/program.js';
import { formatKernelBench, type KernelBenchReport } from '../src/commands/bench.js';
import { exitCodeOf, UsageError } from '../src/ui/errors.js';
import { table } from '../src/ui/table.js';
import { dawnNoticeFilter } from '../src/ui/stderr.js';

/** Runs the program in-process and captures what it prints. */
async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const program = buildProgram({ out: (t) => out.push(t), err: (t) => err.push(t) });
  let error: unknown;
  try {
    await program.parseAsync(['node', 'thaw', ...args]);
  } catch (e) {
    error = e;
  }
  return { out: out.join(''), err: err.join(''), error };
}

describe('thaw command line', () => {
  it('has --help on every command', async () => {
    for (const command of [[], ['devices'], ['kernels'], ['bench'], ['bench', 'kernels']]) {
      const { out, error } = await run(...command, '--help');
      expect(error).toBeInstanceOf(CommanderError);
      expect((error as CommanderError).exitCode).toBe(0);
      expect(out).toMatch(/^Usage: thaw/);
    }
  });

  it('rejects unknown options and bad values with exit code 1', async () => {
    const unknown = await run('kernels', '--bogus');
    expect((unknown.error as CommanderError).exitCode).toBe(1);
    expect(unknown.err).toMatch(/unknown option '--bogus'/);
    const bad = await run('bench', 'kernels', '--repeats', 'zero');
    expect((bad.error as CommanderError).exitCode).toBe(1);
    expect(bad.err).toMatch(/--repeats must be a positive integer/);
  });

  it('names an unknown kernel and lists the real ones', async () => {
    const { error } = await run('kernels', 'flash_attention');
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^unknown kernel 'flash_attention'; kernels: attention, dropout, elementwise, embedding, fisher, layernorm, layout, matmul, /);
  });

  it('prints the kernel manifest as JSON', async () => {
    const { out } = await run('kernels', '--json');
    const kernels = JSON.parse(out);
    const matmul = kernels.find((k: { name: string }) => k.name === 'matmul');
    expect(matmul.file).toBe('matmul.wgsl');
    expect(matmul.entryPoints[0].workgroupSize).toEqual([8, 8, 1]);
    expect(matmul.entryPoints[0].bindings.map((b: { name: string }) => b.name)).toEqual(['a', 'b', 'bias', 'c', 'params', 'pre', 'addend', 'sums']);
    expect(matmul.entryPoints[0].overrides.map((o: { name: string }) => o.name)).toEqual(['TRANS_A', 'TRANS_B', 'ALIGNED', 'HAS_BIAS', 'ACTIVATION', 'SAVE_PRE', 'HAS_ADDEND', 'LATE_ACTIVATION', 'ROW_SUMS', 'ROW_SUMS_RESUME']);
  });

  it('shows one kernel with its header', async () => {
    const { out } = await run('kernels', 'fisher');
    expect(out.startsWith('// fisher.wgsl')).toBe(true);
    expect(out).toContain('MATH');
  });
});

describe('exit codes', () => {
  it('is 1 for what the user can fix and 2 for internal errors', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(1);
    expect(exitCodeOf(new NoAdapterError('default backend'))).toBe(1);
    expect(exitCodeOf(new KernelLaunchError('k', 'x'))).toBe(1);
    expect(exitCodeOf(new OptionError('--sequence 4 is too short'))).toBe(1);
    expect(exitCodeOf(new InputFileError('/m/model.safetensors', 'header is not valid JSON'))).toBe(1);
    expect(exitCodeOf(Object.assign(new Error("EACCES: permission denied, mkdir '/root/x'"), { code: 'EACCES', path: '/root/x' }))).toBe(1);
    expect(exitCodeOf(Object.assign(new Error('spawn failed'), { code: 'EACCES' }))).toBe(2);
    // A full disk is the user's to fix, even where Node's error names no file (a failed write).
    expect(exitCodeOf(new FileWriteError('/runs/a/log.jsonl', 'ENOSPC', 'no space left on the device (ENOSPC)'))).toBe(1);
    expect(exitCodeOf(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' }))).toBe(1);
    expect(exitCodeOf(new TypeError('bug'))).toBe(2);
  });
});

describe('rendering', () => {
  it('aligns markdown tables', () => {
    expect(table(['a', 'bb'], [['ccc', 'd']])).toBe('| a   | bb |\n| --- | -- |\n| ccc | d  |');
  });

  it('shows ratios against each peer', () => {
    const report: KernelBenchReport = {
      device: { name: 'dev', vendor: 'v', architecture: 'a', backend: 'vulkan' },
      date: '2026-01-01',
      timing: 'timestamp-query',
      results: [
        { kernel: 'matmul', shape: '8³', variant: 'portable', ms: 2, gflops: 10, peers: { tfjs: { ms: 4, gflops: 5, ratio: 2 } } },
        { kernel: 'fisher.accumulate', shape: 'n', ms: 1, gbps: 3, peers: {} },
        { kernel: 'elementwise.relu', shape: 'm', ms: 1, gbps: 2, peers: { jax: { ms: 2, gbps: 1, ratio: 2 } } },
      ],
    };
    const text = formatKernelBench(report);
    expect(text).toContain('| matmul (portable) | 8³    | 2.00 | 10.00 GFLOP/s | 5.00 GFLOP/s (2.00×) | -');
    expect(text).toContain('| fisher.accumulate | n     | 1.00 | 3.00 GB/s     | -');
    expect(text).toContain('| elementwise.relu  | m     | 1.00 | 2.00 GB/s     | -                    | 1.00 GB/s (2.00×)');
  });
});

describe('dawnNoticeFilter', () => {
  const notice = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
  const storageNotice = notice.replace('Uniform', 'Storage');

  /** Feeds `chunks` through a filter and returns what it wrote after each push, and in all. */
  function feed(chunks: string[]): { each: string[]; all: string } {
    const written: string[] = [];
    const filter = dawnNoticeFilter((text) => written.push(text));
    const each = chunks.map((chunk) => {
      const before = written.length;
      filter.push(chunk);
      return written.slice(before).join('');
    });
    filter.end();
    return { each, all: written.join('') };
  }

  it("drops Dawn's two notices and keeps every other line, in order", () => {
    expect(feed([`${notice}\n${storageNotice}\nthaw: --steps must be a positive integer.\n`]).all).toBe('thaw: --steps must be a positive integer.\n');
    expect(feed([`a\n${notice}\nb\n`, 'Warning: something else\n']).all).toBe('a\nb\nWarning: something else\n');
  });

  it('drops a notice split across chunks', () => {
    const { each, all } = feed(['before\nWarning: maxDyn', notice.slice('Warning: maxDyn'.length), '\nafter\n']);
    expect(each).toEqual(['before\n', '', 'after\n']);
    expect(all).toBe('before\nafter\n');
  });

  it('passes on a partial line at once unless it could still become a notice', () => {
    // A progress bar redraws its line with \r and no newline: it must not wait for one.
    expect(feed(['\r\x1b[2Ktrain 1/6', '\r\x1b[2Ktrain 2/6']).each).toEqual(['\r\x1b[2Ktrain 1/6', '\r\x1b[2Ktrain 2/6']);
    expect(feed(['Warn', 'ing: other\n']).each).toEqual(['', 'Warning: other\n']);
    expect(feed(['Warning: maxDynamic but not the rest']).all).toBe('Warning: maxDynamic but not the rest');
  });
});
