/**
 * The one way values read from files become parameter values. Every loader
 * (Hugging Face checkpoints, AdapterHub and PEFT folders, the suite's base
 * model and language adapters) and every restore of a checkpoint (the
 * trainer's last and best checkpoints, thaw eval) goes through
 * {@link fillParams}, so all of them check alike: every parameter must be in
 * the file with its exact shape, and, unless the file may hold more, every
 * tensor of the file must be used. All of this is checked before the first
 * value is written, so a bad file leaves the parameters as they were; the
 * error names the file and the tensor. (A fault found only while a streamed
 * tensor is read, such as a ZIP entry failing its CRC-32 or a file that
 * shrank meanwhile, can come after earlier pieces were written: loaders
 * that stream fill fresh parameters and dispose of them on error.)
 *
 * Values go to the GPU piece by piece as the files are read, so loading
 * holds one piece on the host, not the tensor nor the file.
 */
import type { Tensor } from '@thaw/autograd';
import { InputFileError } from '../errors/input-error.js';
import { openSafetensors, type HostTensor, type PieceReader } from '../formats/safetensors.js';

/** A tensor of a file whose shape is known before its values are read (a safetensors header entry, say). */
export interface StoredTensor {
  /** The file that holds it, named in errors. */
  readonly file: string;
  /** Its name in that file, where the parameter's name differs (legacy or prefixed names). */
  readonly savedAs?: string;
  readonly shape: readonly number[];
  /** Hands its row-major values to `take` in consecutive pieces (one piece: all of them). */
  readPieces: PieceReader;
}

/** A host tensor already read from `file`, as a stored tensor (one piece). */
export function heldTensor(file: string, tensor: HostTensor, savedAs?: string): StoredTensor {
  return { file, ...(savedAs === undefined ? {} : { savedAs }), shape: tensor.shape, readPieces: async (take) => take(tensor.data, 0) };
}

/** Host tensors already read from `file`, as stored tensors under the same names. */
export function storedTensors(file: string, tensors: ReadonlyMap<string, HostTensor>): Map<string, StoredTensor> {
  return new Map([...tensors].map(([name, t]) => [name, heldTensor(file, t)] as const));
}

/**
 * Bytes queued for upload before {@link fillParams} waits for the device
 * (64 MiB). Dawn's queue.writeBuffer copies each piece into a staging
 * buffer that it frees only once the device has run the copy; pieces
 * queued without ever waiting could pile up a whole checkpoint there. (On
 * lavapipe, a unified-memory device, no growth shows either way: measured,
 * the wait costs well under a tenth of a second per gigabyte.)
 */
const UPLOAD_WINDOW = 1 << 26;

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
  let queued = 0;
  for (const [name, p] of targets) {
    await stored.get(name)!.readPieces(async (values, first) => {
      p.graph.gpu.write(p.buffer, values, 4 * first);
      queued += values.byteLength;
      if (queued >= UPLOAD_WINDOW) {
        queued = 0;
        await p.graph.gpu.sync();
      }
    });
  }
}

/**
 * {@link fillParams} from the float tensors of safetensors file `path`
 * under their own names, streamed: the header is checked first, then each
 * tensor goes to its parameter piece by piece (a trainer's checkpoint of a
 * fully fine-tuned encoder is never read whole).
 */
export async function fillParamsFromSafetensors(params: Iterable<readonly [string, Tensor]>, path: string, options: FillOptions): Promise<void> {
  const file = await openSafetensors(path);
  try {
    const stored = new Map([...file.entries].map(([name, e]) => [name, { file: path, shape: e.shape, readPieces: file.readPieces(name) }] as const));
    await fillParams(params, stored, path, options);
  } finally {
    await file.close();
  }
}
