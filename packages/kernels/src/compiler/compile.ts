/** The kernel compiler: every WGSL file of a folder → a validated manifest. */
import { readdir, readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KernelManifest } from './manifest.js';
import { reflectKernelFile } from './reflect-kernel.js';
import { openShaderValidator } from './validate-tint.js';

/**
 * Reflects and validates every `*.wgsl` file in `wgslDir` (sorted by name).
 * Throws a {@link KernelCompileError} for the first file that fails.
 */
export async function compileKernels(wgslDir: string): Promise<KernelManifest> {
  const files = (await readdir(wgslDir)).filter((f) => f.endsWith('.wgsl')).sort();
  const validator = await openShaderValidator();
  try {
    const kernels = [];
    for (const file of files) {
      const source = await readFile(join(wgslDir, file), 'utf8');
      await validator.validate(file, source);
      kernels.push(reflectKernelFile(file, source));
    }
    return { version: 1, kernels };
  } finally {
    validator.close();
  }
}

/** Writes the manifest as JSON through a temporary file and a rename. */
export async function writeManifest(manifest: KernelManifest, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(manifest, null, 2) + '\n');
  await rename(temp, path);
}
