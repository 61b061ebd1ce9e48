/**
 * `thaw bench load`: how long a Hugging Face checkpoint folder takes to load
 * onto the GPU, and the peak resident memory of the process that loads it.
 *
 * The load runs in a fresh Node process (./load-child.ts), so that nothing
 * the parent did (writing a synthetic checkpoint, say) counts in its peak.
 * Memory comes from /proc/self/status: VmRSS after the GPU is opened and
 * before the load starts, and VmHWM (the peak) after the load has reached
 * the device. On a software device (lavapipe) the GPU's buffers are host
 * memory, so the weights count once in the peak whatever the loader does;
 * what a streaming loader adds on top is its pieces.
 */
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Graph } from '@thaw/autograd';
import { InputFileError, loadHfEncoder, SYNTHETIC_ENCODERS, writeSyntheticCheckpoint, type EncoderConfig } from '@thaw/adapters';
import type { AdapterOptions, Gpu } from '@thaw/kernels';

/** One load, measured. */
export interface LoadMeasurement {
  /** The checkpoint folder. */
  model: string;
  /** The weight files read, and their total size in bytes. */
  files: string[];
  checkpointBytes: number;
  /** Parameters of the loaded encoder. */
  parameters: number;
  /** Wall-clock seconds from opening the files to the weights being on the device. */
  seconds: number;
  /** Resident memory of the process before the load (GPU opened), in bytes. */
  rssBeforeBytes: number;
  /** Peak resident memory of the process (VmHWM) after the load, in bytes. */
  peakRssBytes: number;
}

/** A field of /proc/self/status in bytes (VmRSS, VmHWM); throws where there is no /proc (not Linux). */
export function procStatusBytes(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`/proc/self/status has no ${field} line`);
  return Number(match[1]) * 1024;
}

/** Loads `model` on `gpu` in this process and measures it (what the fresh child process runs). */
export async function measureLoadHere(gpu: Gpu, model: string): Promise<LoadMeasurement> {
  const rssBeforeBytes = procStatusBytes('VmRSS');
  const start = performance.now();
  const { encoder, report } = await loadHfEncoder(new Graph(gpu), model);
  await gpu.sync();
  const seconds = (performance.now() - start) / 1000;
  const peakRssBytes = procStatusBytes('VmHWM');
  const parameters = [...encoder.params.values()].reduce((n, t) => n + t.size, 0);
  encoder.dispose();
  return {
    model, files: report.files, checkpointBytes: report.files.reduce((n, f) => n + statSync(f).size, 0), parameters, seconds, rssBeforeBytes, peakRssBytes,
  };
}

/** Loads `model` in a fresh Node process on the device `selection` chooses, and returns its measurement. */
export async function measureLoad(model: string, selection: AdapterOptions): Promise<LoadMeasurement> {
  const child = fileURLToPath(new URL('./load-child.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [child, model, JSON.stringify(selection)], { maxBuffer: 1 << 20 })
    .catch((e: { stdout?: string; message: string }) => ({ stdout: e.stdout || JSON.stringify({ failure: e.message }) }));
  const reply = JSON.parse(stdout) as { measurement?: LoadMeasurement; inputFileError?: { path: string; reason: string }; failure?: string };
  if (reply.inputFileError) throw new InputFileError(reply.inputFileError.path, reply.inputFileError.reason);
  if (!reply.measurement) throw new Error(`the loading process failed: ${reply.failure}`);
  return reply.measurement;
}

/** The shapes `--synthetic` writes. */
export type SyntheticShape = keyof typeof SYNTHETIC_ENCODERS;

/**
 * Writes a synthetic checkpoint of `shape` (with `layers` layers when
 * given) into `dir`, or a temporary folder removed afterwards, and measures
 * its load in a fresh process.
 */
export async function measureSyntheticLoad(shape: SyntheticShape, layers: number | undefined, dir: string | undefined, selection: AdapterOptions): Promise<LoadMeasurement> {
  const config: EncoderConfig = { ...SYNTHETIC_ENCODERS[shape], ...(layers === undefined ? {} : { numHiddenLayers: layers }) };
  const folder = dir ?? await mkdtemp(join(tmpdir(), `thaw-bench-load-${shape}-`));
  try {
    await writeSyntheticCheckpoint(folder, config, `synthetic-${shape}`);
    return await measureLoad(folder, selection);
  } finally {
    if (dir === undefined) await rm(folder, { recursive: true, force: true });
  }
}
