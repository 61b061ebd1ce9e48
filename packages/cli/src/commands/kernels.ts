/** `thaw kernels [name]`: the compiled kernel manifest, or one kernel's annotated WGSL. */
import { loadManifest, type KernelFileInfo } from '@thaw/kernels';
import { UsageError } from '../ui/errors.js';
import { table } from '../ui/table.js';

/** The JSON shape of one kernel file: its entry points with reflected bindings and overrides. */
export function kernelJson(k: KernelFileInfo) {
  return {
    name: k.name,
    file: k.file,
    entryPoints: k.entryPoints.map((e) => ({
      name: e.name,
      workgroupSize: e.workgroupSize,
      bindings: e.bindings.map(({ name, group, binding, type, access }) => ({ name, group, binding, type, access })),
      overrides: e.overrides.map((name) => k.overrides.find((o) => o.name === name)!),
      ...(e.uniform ? { uniform: e.uniform } : {}),
    })),
  };
}

/** The kernel file called `name` (with or without `.wgsl`), or a UsageError listing the names. */
export function findKernel(name: string): KernelFileInfo {
  const kernels = loadManifest().kernels;
  const found = kernels.find((k) => k.name === name || k.file === name);
  if (!found) throw new UsageError(`unknown kernel '${name}'; kernels: ${kernels.map((k) => k.name).join(', ')}`);
  return found;
}

export function formatKernelList(): string {
  const rows = loadManifest().kernels.flatMap((k) =>
    k.entryPoints.map((e) => [
      k.file,
      e.name,
      e.workgroupSize.map((d) => (typeof d === 'number' ? d : `${d}=${k.overrides.find((o) => o.name === d)?.default}`)).join('×'),
      e.bindings.map((b) => `${b.name}${b.access === 'read_write' ? '*' : ''}`).join(' '),
      e.overrides.join(' ') || '-',
    ]));
  return `${table(['file', 'entry point', 'workgroup', 'bindings (* = written)', 'overrides'], rows)}\n\n` +
    'Show one kernel with its header: thaw kernels <name>';
}
