/**
 * Build step: `node dist/compiler/build-manifest.js` compiles src/wgsl/*.wgsl
 * into dist/manifest.json. Exits 1 with the file and reason on a bad kernel.
 */
import { fileURLToPath } from 'node:url';
import { compileKernels, writeManifest } from './compile.js';
import { KernelCompileError } from './errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
try {
  const manifest = await compileKernels(`${root}src/wgsl`);
  await writeManifest(manifest, `${root}dist/manifest.json`);
  const entries = manifest.kernels.reduce((n, k) => n + k.entryPoints.length, 0);
  process.stdout.write(`kernels: ${manifest.kernels.length} files, ${entries} entry points → dist/manifest.json\n`);
} catch (e) {
  if (!(e instanceof KernelCompileError)) throw e;
  process.stderr.write(`kernel compiler: ${e.message}\n`);
  process.exitCode = 1;
}
