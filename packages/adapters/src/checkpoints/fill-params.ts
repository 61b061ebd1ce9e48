/**
 * The one way values read from files become parameter values. Every loader
 * (Hugging Face checkpoints, AdapterHub and PEFT folders, the suite's base
 * model and language adapters) and every restore of a checkpoint (the
 * trainer's last and best checkpoints, thaw eval) goes through
 * {@link fillParams}, so all of them check alike: every parameter must be in
 * the file with its exact shape, and, unless the file may hold more, every
 * tensor of the file must be used. All of this is checked before the first
 * value is written, so a bad file leaves the parameters as they were; the
 * error names the file and the tensor.
 */
import type { Tensor } from '@thaw/autograd';
import { InputFileError } from '../errors/input-error.js';
import type { HostTensor } from '../formats/safetensors.js';

/** A tensor of a file whose shape is known before its values are read (a safetensors header entry, say). */
export interface StoredTensor {
  /** The file that holds it, named in errors. */
  readonly file: string;
  /** Its name in that file, where the parameter's name differs (legacy or prefixed names). */
  readonly savedAs?: string;
  readonly shape: readonly number[];
  read(): Float32Array | Promise<Float32Array>;
}

/** Host tensors already read from `file`, as stored tensors under the same names. */
export function storedTensors(file: string, tensors: ReadonlyMap<string, HostTensor>): Map<string, StoredTensor> {
  return new Map([...tensors].map(([name, t]) => [name, { file, shape: t.shape, read: () => t.data }] as const));
}

export interface FillOptions {
  /**
   * What the parameters belong to, for messages such as "holds 'x', which
   * {owner} does not have" (e.g. "the seq_bn adapter of adapter_config.json").
   */
  owner: string;
  /**
   * Tensors of the file that no parameter takes: refused, naming the first
   * (the default), or ignored (a checkpoint that also holds a head, say).
   */
  extra?: 'refuse' | 'ignore';
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Writes `stored` into `params` (both by name) after checking every name
 * and exact shape; throws {@link InputFileError} naming `where` (the folder
 * or file the tensors come from) or the tensor's own file, before writing
 * anything.
 */
export async function fillParams(
  params: Iterable<readonly [string, Tensor]>, stored: ReadonlyMap<string, StoredTensor>, where: string, options: FillOptions,
): Promise<void> {
  const targets = [...params];
  const missing = targets.filter(([name]) => !stored.has(name)).map(([name]) => `'${name}'`);
  if (missing.length) {
    const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
    throw new InputFileError(where, `lacks ${missing.slice(0, 3).join(', ')}${more}, which ${options.owner} needs`);
  }
  for (const [name, p] of targets) {
    const t = stored.get(name)!;
    if (!sameShape(t.shape, p.shape)) {
      const as = t.savedAs && t.savedAs !== name ? ` as '${name}'` : '';
      throw new InputFileError(t.file, `tensor '${t.savedAs ?? name}' has shape [${t.shape}], but ${options.owner} needs [${p.shape}]${as}`);
    }
  }
  if ((options.extra ?? 'refuse') === 'refuse') {
    const wanted = new Set(targets.map(([name]) => name));
    const extra = [...stored].find(([name]) => !wanted.has(name));
    if (extra) throw new InputFileError(extra[1].file, `holds '${extra[1].savedAs ?? extra[0]}', which ${options.owner} does not have`);
  }
  for (const [name, p] of targets) p.graph.gpu.write(p.buffer, await stored.get(name)!.read());
}
