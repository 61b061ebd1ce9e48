// End to end: `thaw study --preset smoke` on the shipped base and language
// adapters, its study directory, its report rendered in headless Chromium,
// and the option errors of `thaw train` (one line, exit code 1, nothing written).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { errorLines, thaw } from './support/thaw.js';

/** Where tests leave what a person may want to look at (the report's screenshot). */
const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url));

/** THAW_CHROMIUM, or a Chromium on the PATH (scripts/setup.sh --browser installs Debian's). */
function chromiumPath(): string {
  if (process.env.THAW_CHROMIUM) return process.env.THAW_CHROMIUM;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim();
    } catch {
      // not this one
    }
  }
  throw new Error('no Chromium found: run `bash scripts/setup.sh --browser` as root, or set THAW_CHROMIUM');
}

interface Summary { mean: number; std: number; values: number[] }

describe('thaw study --preset smoke', () => {
  let dir = '';
  let study = '';
  let stdout = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'thaw-study-'));
    study = join(dir, 'study');
    const result = await thaw('study', '--preset', 'smoke', '--out', study);
    // Without a terminal, progress is one line per finished run.
    const lines = errorLines(result.stderr);
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^run \d\/3 \S+ seed 1: src [\d.]+, target avg [\d.]+ \((\d+ min )?\d+ s\)$/);
    expect(result.code).toBe(0);
    stdout = result.stdout;
  }, 600_000);

  it('writes one run directory per schedule and seed, and the study results', async () => {
    const results = JSON.parse(await readFile(join(study, 'results.json'), 'utf8')) as {
      schedules: Record<string, { source: Summary; targets: Record<string, Summary>; targetAverage: Summary }>;
      runs: { schedule: string; dir: string; unfreezeOrder: { step: number; blocks: number[] }[]; curve?: { peak: number } }[];
      correlations: { statistic: string; n: number }[]; targets: string[];
    };
    expect(Object.keys(results.schedules)).toEqual(['standard', 'gu', 'fun']);
    expect(results.runs).toHaveLength(3);
    for (const run of results.runs) {
      for (const file of ['config.json', 'log.jsonl', 'events.jsonl', 'results.json', 'checkpoints/best/adapter.safetensors']) {
        expect(existsSync(join(study, run.dir, file)), `${run.dir}/${file}`).toBe(true);
      }
      expect(run.curve!.peak).toBeGreaterThan(0);
    }
    // GU thaws the blocks top-down, one per k steps.
    expect(results.runs.find((r) => r.schedule === 'gu')!.unfreezeOrder.map((e) => e.blocks)).toEqual([[3], [2], [1], [0]]);
    expect(results.correlations.map((c) => [c.statistic, c.n])).toEqual([['peak', 3], ['peakStep', 3], ['area', 3], ['width', 3]]);
    // Learning happened: the source is well above chance (1/3) for every schedule
    // (300 steps climb towards the polarity plateau of 2/3; docs/results.md).
    for (const s of Object.values(results.schedules)) expect(s.source.mean).toBeGreaterThan(0.45);
    expect(results.schedules.standard!.source.mean).toBeGreaterThan(0.5);
    expect(stdout).toContain('| schedule');
    expect(stdout).toContain(join(study, 'report.html'));
  });

  it('renders report.html in headless Chromium: plots and tables, no console errors', async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(e.message));
      const requests: string[] = [];
      page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
      await page.goto(`file://${join(study, 'report.html')}`);
      expect(await page.locator('table.results tbody tr').count()).toBe(3);
      expect(await page.locator('table.correlations tbody tr').count()).toBe(4);
      expect(await page.locator('table.order tbody tr').count()).toBe(3);
      // The bar chart draws bars; the tr(F) charts draw lines; every chart has a legend and is laid out.
      expect(await page.locator('svg rect.bar').count()).toBeGreaterThan(10);
      const charts = page.locator('svg');
      expect(await charts.count()).toBeGreaterThanOrEqual(5);
      for (let i = 0; i < await charts.count(); i++) {
        const box = await charts.nth(i).boundingBox();
        expect(box!.width).toBeGreaterThan(100);
        expect(await charts.nth(i).locator('.legend-entry').count()).toBeGreaterThan(0);
      }
      expect(await page.locator('svg path.series').count()).toBeGreaterThan(6);
      mkdirSync(OUTPUT, { recursive: true });
      await page.screenshot({ path: join(OUTPUT, 'study-report.png'), fullPage: true });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
    expect((await stat(join(OUTPUT, 'study-report.png'))).size).toBeGreaterThan(10_000);
  }, 120_000);

  it('thaw report rebuilds the report from the directory alone', async () => {
    const before = await readFile(join(study, 'report.html'), 'utf8');
    const { code, stdout: out } = await thaw('report', study);
    expect(code).toBe(0);
    expect(out).toContain('report.html');
    expect(await readFile(join(study, 'report.html'), 'utf8')).toBe(before);
    const run = join(study, 'runs/gu/seed-1');
    expect((await thaw('report', run)).code).toBe(0);
    expect(await readFile(join(run, 'report.html'), 'utf8')).toContain('<svg');
  });

  it('refuses to overwrite the study without --overwrite', async () => {
    const { code, stderr } = await thaw('study', '--preset', 'smoke', '--out', study);
    expect(code).toBe(1);
    expect(errorLines(stderr)).toEqual([`thaw: --out ${study} already holds a study; use --overwrite to replace it, or another --out`]);
  });
});

describe('thaw train and eval: option errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown schedule', ['--schedule', 'sideways'], /--schedule: unknown schedule 'sideways'/],
    ['unknown task', ['--task', 'poetry'], /--task: unknown task 'poetry'/],
    ['k ≤ 0', ['--k', '0'], /--k must be a positive integer/],
    ['a fixed order that is not a permutation', ['--schedule', 'fixed:3,3,1,0'], /--schedule: fixed:3,3,1,0 must list every layer 0…3 once/],
    ['a missing language adapter', ['--lang-adapters', '/nonexistent-thaw'], /--lang-adapters: no language adapter for 'src'/],
    ['an unknown target', ['--targets', 'l1,xx'], /unknown language 'xx'/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one line naming the option, exit 1, nothing written`, async () => {
      const out = join(await mkdtemp(join(tmpdir(), 'thaw-bad-')), 'run');
      const { code, stderr } = await thaw('train', '--out', out, '--steps', '2', ...args);
      expect(code).toBe(1);
      const lines = errorLines(stderr);
      expect(lines.length, lines.join('\n')).toBeLessThanOrEqual(2); // commander adds a usage hint line
      expect(lines[0]).toMatch(message);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('a run directory that already holds a run: refused without --overwrite, replaced with it; eval re-evaluates it', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'thaw-run-')), 'run');
    const small = ['--steps', '2', '--batch-size', '4', '--train-size', '8', '--dev-size', '4', '--test-size', '4', '--targets', 'l1', '--eval-every', '2', '--fisher-every', '0'];
    expect((await thaw('train', '--out', out, ...small)).code).toBe(0);
    const again = await thaw('train', '--out', out, ...small);
    expect(again.code).toBe(1);
    expect(errorLines(again.stderr)).toEqual([`thaw: --out ${out} already holds a run; use --overwrite to replace it, or another --out`]);
    // Replaced by a full fine-tuning run, whose best checkpoint holds the base too.
    const replaced = await thaw('train', '--out', out, '--overwrite', ...small, '--schedule', 'full', '--json');
    expect(replaced.code).toBe(0);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).schedule).toBe('full');
    const evaluated = await thaw('eval', out, '--targets', 'l1,l2', '--json');
    expect(evaluated.code).toBe(0);
    const [trained, reevaluated] = [JSON.parse(replaced.stdout), JSON.parse(evaluated.stdout)];
    expect(Object.keys(reevaluated.targets)).toEqual(['l1', 'l2']);
    // eval rebuilds the same model from the run directory alone.
    expect(reevaluated.source).toEqual(trained.source);
    expect(reevaluated.targets.l1).toBe(trained.targets.l1);
    expect(readdirSync(out)).toContain('results.json');
  }, 120_000);

  /** A tensor name only the adapter type's checkpoint holds. */
  const marker = { lora: (task: string) => `loras.${task}.lora_A`, double_seq_bn: (task: string) => `attention.output.adapters.${task}.adapter_down`, ia3: (task: string) => `intermediate.dense.loras.${task}.lora_B` };
  for (const [task, adapter, metric] of [['copa', 'lora', 'accuracy'], ['qa', 'double_seq_bn', 'f1'], ['nli', 'ia3', 'accuracy']] as const) {
    it(`--task ${task} --adapter ${adapter}: a run with the task's metric and the adapter's tensors`, async () => {
      const out = join(await mkdtemp(join(tmpdir(), `thaw-${task}-`)), 'run');
      const { code, stdout } = await thaw('train', '--out', out, '--task', task, '--adapter', adapter, '--schedule', 'fun', '--k', '1',
        '--steps', '3', '--batch-size', '4', '--train-size', '8', '--dev-size', '4', '--test-size', '4', '--targets', 'l3', '--eval-every', '3', '--fisher-every', '1', '--fisher-batches', '1', '--json');
      expect(code).toBe(0);
      const results = JSON.parse(stdout);
      expect(results.metric).toBe(metric);
      expect(Object.keys(results.targets)).toEqual(['l3']);
      const checkpoint = await readFile(join(out, 'checkpoints/best/adapter.safetensors'));
      expect(checkpoint.includes(Buffer.from(marker[adapter](task)))).toBe(true);
      expect(checkpoint.includes(Buffer.from(`heads.${task}.`))).toBe(true);
    }, 120_000);
  }
});
