/**
 * The kernel compiler: every WGSL file of a folder → a validated manifest.
 *
 * WGSL has no includes, so the compiler gives it one: a kernel file line
 * `// import: lib/<name>.wgsl` appends that library file (from `lib/` of
 * the same folder) to the kernel's source, after its own text so the
 * kernel's line numbers in error messages stay its own. Functions shared by
 * several kernels (the dropout hash, the activations) live once in `lib/`,
 * and a fused kernel computes the bits of the separate pass by
 * construction. Each library is validated on its own as well.
 */
import { readdir, readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KernelManifest } from './manifest.js';
import { KernelCompileError } from './errors.js';
import { reflectKernelFile } from './reflect-kernel.js';
import { openShaderValidator } from './validate-tint.js';

/** `// import: lib/x.wgsl` lines: the library's path and the (1-based) line. */
const IMPORT = /^\/\/ import: (lib\/[\w-]+\.wgsl)\s*$/;

/**
 * `source` with every library it imports appended once, in the order of
 * the import lines. Throws {@link KernelCompileError} naming `file` and the
 * line when a library does not exist.
 */
export async function resolveImports(wgslDir: string, file: string, source: string): Promise<string> {
  const parts = [source];
  const seen = new Set<string>();
  const lines = source.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const library = IMPORT.exec(lines[i]!)?.[1];
    if (!library || seen.has(library)) continue;
    seen.add(library);
    let text: string;
    try {
      text = await readFile(join(wgslDir, library), 'utf8');
    } catch {
      throw new KernelCompileError(file, `imports ${library}, which is not in ${join(wgslDir, 'lib')}`, i + 1);
    }
    parts.push(`// ---- ${library}, appended by the kernel compiler ----\n${text}`);
  }
  return parts.join('\n');
}

/**
 * Reflects and validates every `*.wgsl` file in `wgslDir` (sorted by name).
 * Throws a {@link KernelCompileError} for the first file that fails.
 */
export async function compileKernels(wgslDir: string): Promise<KernelManifest> {
  const files = (await readdir(wgslDir)).filter((f) => f.endsWith('.wgsl')).sort();
  const libraries = (await readdir(join(wgslDir, 'lib')).catch(() => [] as string[])).filter((f) => f.endsWith('.wgsl')).sort();
  const validator = await openShaderValidator();
  try {
    for (const library of libraries) await validator.validate(`lib/${library}`, await readFile(join(wgslDir, 'lib', library), 'utf8'));
    const kernels = [];
    for (const file of files) {
      const source = await resolveImports(wgslDir, file, await readFile(join(wgslDir, file), 'utf8'));
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
