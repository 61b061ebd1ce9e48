/**
 * The PyTorch CPU peer of `thaw bench step`: packages/cli/bench/torch_step.py
 * (shipped with the package, beside dist/) builds the same model and times
 * the same training step with torch on the CPU, once per thread setting
 * (torch's threads and BLAS threads, each setting in a process of its own,
 * so OpenMP and OpenBLAS start with those counts); the best time is kept
 * with its setting. Optional: where no
 * Python interpreter with torch is found (`/usr/bin/python3`, then `python3`
 * on PATH; Debian's `python3-torch` provides one), the peer says why.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The script, from src/bench/ or dist/bench/ alike. */
export const TORCH_STEP_SCRIPT = fileURLToPath(new URL('../../bench/torch_step.py', import.meta.url));

/** Interpreters tried in order. */
export const PYTHON_CANDIDATES: readonly string[] = ['/usr/bin/python3', 'python3'];

/** What torch_step.py is given: the model, the batch, the optimizer and the timing (threads are added per run). */
export interface TorchStepSpec {
  layers: number;
  hidden: number;
  heads: number;
  ffn: number;
  vocab: number;
  /** Rows of the position table (maxPositionEmbeddings). */
  positions: number;
  padTokenId: number;
  layerNormEps: number;
  dropout: number;
  classes: number;
  batch: number;
  sequence: number;
  lr: number;
  weightDecay: number;
  maxGradNorm: number;
  warmup: number;
  steps: number;
  configs: string[];
}

/** Threads of one peer process: torch's own (OpenMP, intra-op) and the BLAS library's. */
export interface ThreadSetting {
  torch: number;
  blas: number;
}

/**
 * The settings tried by default: 1 and 2 threads for both, and 1 torch
 * thread with 2 BLAS threads, which measured fastest on the 2-core machine
 * (204 against 251 ms/step for 1 and 1 on 2026-12-03).
 */
export const THREAD_SETTINGS: readonly ThreadSetting[] = [{ torch: 1, blas: 1 }, { torch: 2, blas: 2 }, { torch: 1, blas: 2 }];

/** A setting's name: "2" when both counts are 2, "1+2 BLAS" otherwise. */
export const threadLabel = (s: ThreadSetting) => (s.torch === s.blas ? `${s.torch}` : `${s.torch}+${s.blas} BLAS`);

/** torch's BLAS: BLAS_INFO of torch.__config__.show(), and the BLAS libraries its process mapped. */
export interface TorchBlas {
  info: string;
  libraries: string[];
}

/** One configuration's PyTorch time: the best over the thread settings tried. */
export interface TorchConfigResult {
  msPerStep: number;
  /** torch's threads of the best setting. */
  threads: number;
  /** BLAS threads of the best setting. */
  blasThreads: number;
  /** ms/step by thread setting ({@link threadLabel}). */
  byThreads: Record<string, number>;
  /** Parameters of torch's model, all and trainable (the bench checks them against Thaw's). */
  parameters: number;
  trainable: number;
}

/** A completed peer run. */
export interface TorchRun {
  python: string;
  version: string;
  blas: TorchBlas;
  configs: Record<string, TorchConfigResult>;
}

/** Why there is no peer result. */
export interface TorchMissing {
  missing: string;
}

/** One process's output, as torch_step.py prints it. */
interface ScriptOutput {
  torch: string;
  python: string;
  threads: number;
  blasThreads: number;
  blas: TorchBlas;
  configs: Record<string, { msPerStep: number; parameters: number; trainable: number; losses: number[] }>;
}

/** A short, one-line form of the BLAS: "generic via openblas-pthread/libblas.so.3". */
export function describeBlas(blas: TorchBlas): string {
  const lib = blas.libraries.find((p) => /\/libblas\.so/.test(p)) ?? blas.libraries.find((p) => /blas|mkl|blis|atlas/i.test(p.split('/').pop() ?? ''));
  const where = lib ? lib.split('/').slice(-2).join('/') : 'no BLAS library mapped';
  return `${blas.info} via ${where}`;
}

const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Checks one output of torch_step.py (its last stdout line) for the
 * configurations asked: the parsed output, or why it cannot be used.
 */
export function parseTorchOutput(stdout: string, configs: readonly string[]): ScriptOutput | TorchMissing {
  const line = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { missing: `torch_step.py printed no JSON (${JSON.stringify(line.slice(0, 120))})` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { missing: 'torch_step.py printed no JSON object' };
  const o = parsed as Partial<ScriptOutput> & Partial<TorchMissing>;
  if (typeof o.missing === 'string') return { missing: o.missing };
  if (typeof o.torch !== 'string' || typeof o.python !== 'string' || !isNumber(o.threads) || !isNumber(o.blasThreads)) return { missing: 'torch_step.py output lacks torch, python or threads' };
  if (!o.blas || typeof o.blas.info !== 'string' || !Array.isArray(o.blas.libraries)) return { missing: 'torch_step.py output lacks blas' };
  for (const name of configs) {
    const c = o.configs?.[name];
    if (!c || !isNumber(c.msPerStep) || c.msPerStep <= 0 || !isNumber(c.parameters) || !isNumber(c.trainable)) return { missing: `torch_step.py output lacks configuration ${name}` };
    if (!Array.isArray(c.losses) || !c.losses.every(isNumber)) return { missing: `torch's loss in ${name} is not finite` };
  }
  return o as ScriptOutput;
}

/** Runs one process: stdout, or the reason it failed. */
function runScript(python: string, spec: TorchStepSpec & { threads: number; blasThreads: number }, timeoutMs: number): Promise<{ stdout: string } | TorchMissing> {
  return new Promise((resolve) => {
    execFile(python, [TORCH_STEP_SCRIPT, JSON.stringify(spec)], { timeout: timeoutMs, maxBuffer: 16 << 20, env: process.env }, (error, stdout, stderr) => {
      if (!error) return resolve({ stdout });
      const e = error as unknown as { code?: string | number; killed?: boolean };
      if (e.code === 'ENOENT') return resolve({ missing: `${python}: not found` });
      if (e.code === 'EACCES') return resolve({ missing: `${python}: not executable` });
      if (e.killed) return resolve({ missing: `${python} ${TORCH_STEP_SCRIPT} ran past ${Math.round(timeoutMs / 1000)} s` });
      // The script's own reason (no torch) is JSON on stdout; anything else, the last line of stderr.
      const said = parseTorchOutput(stdout, []);
      if ('missing' in said) {
        const last = stderr.trim().split('\n').pop();
        resolve({ missing: e.code === 3 || !last ? said.missing : `${python} failed: ${last}` });
      } else {
        resolve({ missing: `${python} exited with ${String(e.code)}` });
      }
    });
  });
}

/**
 * Times `spec` with torch at each thread setting, with the first interpreter
 * of `interpreters` that can import torch: per configuration the best time
 * and its setting, or why there is none.
 */
export async function runTorchPeer(
  spec: TorchStepSpec,
  options: { interpreters?: readonly string[]; threads?: readonly ThreadSetting[]; timeoutMs?: number } = {},
): Promise<TorchRun | TorchMissing> {
  const interpreters = options.interpreters ?? PYTHON_CANDIDATES;
  const settings = options.threads ?? THREAD_SETTINGS;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const tried: string[] = [];
  for (const python of interpreters) {
    const runs: ScriptOutput[] = [];
    let failure: string | undefined;
    for (const s of settings) {
      const out = await runScript(python, { ...spec, threads: s.torch, blasThreads: s.blas }, timeoutMs);
      const parsed = 'missing' in out ? out : parseTorchOutput(out.stdout, spec.configs);
      if ('missing' in parsed) {
        failure = parsed.missing;
        break;
      }
      runs.push(parsed);
    }
    if (failure !== undefined) {
      // The first interpreter that has torch but fails is reported as it is; one without torch passes on to the next.
      if (runs.length || !/not found|cannot import torch|not executable/.test(failure)) return { missing: failure };
      tried.push(failure);
      continue;
    }
    const configs: Record<string, TorchConfigResult> = {};
    for (const name of spec.configs) {
      const byThreads = Object.fromEntries(runs.map((r) => [threadLabel({ torch: r.threads, blas: r.blasThreads }), r.configs[name]!.msPerStep]));
      const best = runs.reduce((a, b) => (b.configs[name]!.msPerStep < a.configs[name]!.msPerStep ? b : a));
      const c = best.configs[name]!;
      configs[name] = { msPerStep: c.msPerStep, threads: best.threads, blasThreads: best.blasThreads, byThreads, parameters: c.parameters, trainable: c.trainable };
    }
    const first = runs[0]!;
    return { python, version: first.torch, blas: first.blas, configs };
  }
  return { missing: `no python3 with torch (${tried.join('; ')})` };
}
