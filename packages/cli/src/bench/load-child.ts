/**
 * The fresh process of `thaw bench load` (./load-bench.ts): `node
 * load-child.js <model folder> <adapter options as JSON>` opens the GPU,
 * loads the folder, and prints `{"measurement": LoadMeasurement}` as JSON;
 * a failed load prints `{"inputFileError": {path, reason}}` for a problem
 * with the checkpoint (which the parent throws again as an InputFileError)
 * or `{"failure": stack}` for anything else, and exits with 1.
 */
import { InputFileError } from '@thaw/adapters';
import { Gpu, type AdapterOptions } from '@thaw/kernels';
import { measureLoadHere } from './load-bench.js';

const [model, selection] = process.argv.slice(2);
try {
  const gpu = await Gpu.create(JSON.parse(selection ?? '{}') as AdapterOptions);
  try {
    process.stdout.write(`${JSON.stringify({ measurement: await measureLoadHere(gpu, model!) })}\n`);
  } finally {
    await gpu.destroy();
  }
} catch (e) {
  const reply = e instanceof InputFileError ? { inputFileError: { path: e.path, reason: e.reason } } : { failure: (e as Error).stack ?? String(e) };
  process.stdout.write(`${JSON.stringify(reply)}\n`);
  process.exitCode = 1;
}
