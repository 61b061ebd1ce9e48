/**
 * PyTorch state dicts as torch.save writes them since PyTorch 1.6 (the
 * `pytorch_adapter.bin` / `pytorch_model.bin` files of AdapterHub and the
 * Hugging Face hub): a ZIP archive (./zip.ts) whose entries sit in one top
 * folder, `archive/` or the stem of the file name torch.save was given:
 *
 *   <top>/data.pkl     the pickled object; for a state dict an OrderedDict
 *                      name → torch._utils._rebuild_tensor_v2(storage,
 *                      storage_offset, size, stride, requires_grad, hooks)
 *   <top>/data/<key>   the raw bytes of one storage, which the pickle names by
 *                      the persistent id ('storage', torch.FloatStorage, key,
 *                      location, numel)
 *   <top>/byteorder    "little" or "big" (older files lack it: little)
 *   <top>/version      the archive format version ("3")
 *
 * A tensor is a strided view of a storage: element (i, j, …) is
 * storage[offset + i·stride₀ + j·stride₁ + …]. Two tensors can share a storage,
 * a transposed or sliced one is saved as its whole storage with its strides,
 * and an expanded one (`t.expand(…)`) repeats elements with stride 0, so it
 * has more elements than its storage. Reading gathers each tensor into a
 * fresh row-major Float32Array.
 *
 * Security: data.pkl is read by ./pickle.ts, whose only globals are those in
 * ALLOWED below — OrderedDict, the two tensor rebuild functions and the
 * storage classes, each a few lines of TypeScript that build a record. That
 * is all a state dict needs and none of it can act, so a hostile checkpoint
 * (one naming os.system, builtins.eval, …) is refused by name. What a file
 * can make the reader allocate is bounded too: ZIP entries may not overlap,
 * and the tensors may copy out at most GATHER_FACTOR times the elements of
 * the storages the file holds, in all: names sharing a storage and expanded
 * views both count against it, so a small file cannot ask for a huge tensor.
 *
 * Tensors are read one at a time, when asked for (openTorchStateDict): a
 * tensor that is a whole stored entry, as torch.save writes each parameter,
 * streams by position in pieces; any other view reads its one storage.
 *
 * The pre-1.6 format (bare pickles followed by raw storages) is detected and
 * refused with a way to convert it.
 */
import { InputFileError } from '../errors/input-error.js';
import { openInputFile } from './input-file.js';
import { PickleFunction, PickleWriter, pickleTypeName, unpickle } from './pickle.js';
import { halfToFloat, PIECE_BYTES, type HostTensor, type PieceReader } from './safetensors.js';
import { STORED, writeZip, ZipReader } from './zip.js';

/** How many times its storages' elements a file's tensors may copy out in all (see readTorchStateDict). */
const GATHER_FACTOR = 4;

/** A storage class: its element width and, for float types, how its little-endian bytes become float32 bits. */
class StorageType {
  constructor(
    readonly name: string,
    readonly width: number,
    /** Converts `out.length` elements from `view` into `out` as float32 bits. */
    readonly toFloat32Bits?: (view: DataView, out: Uint32Array) => void,
  ) {}
}

/** One storage as a persistent id describes it. */
class StorageRef {
  constructor(readonly type: StorageType, readonly key: string, readonly numel: number) {}
}

/** What _rebuild_tensor_v2 returns: a strided view of a storage, checked to stay inside it. */
class TensorRef {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly size: number[], readonly stride: number[]) {}
}

/** Reads elements with `element(view, i)`, which gives float32 bits (a Uint32Array store keeps the low 32). */
function bitsOf(element: (view: DataView, i: number) => number) {
  return (view: DataView, out: Uint32Array): void => {
    for (let i = 0; i < out.length; i++) out[i] = element(view, i);
  };
}

/** Like bitsOf, for elements given as numbers, which become float32 (rounded). */
function valuesOf(element: (view: DataView, i: number) => number) {
  return (view: DataView, out: Uint32Array): void => {
    const values = new Float32Array(out.buffer, out.byteOffset, out.length);
    for (let i = 0; i < out.length; i++) values[i] = element(view, i);
  };
}

const STORAGE_TYPES = [
  new StorageType('FloatStorage', 4, bitsOf((view, i) => view.getUint32(4 * i, true))),
  new StorageType('HalfStorage', 2, valuesOf((view, i) => halfToFloat(view.getUint16(2 * i, true)))),
  new StorageType('BFloat16Storage', 2, bitsOf((view, i) => view.getUint16(2 * i, true) << 16)),
  new StorageType('DoubleStorage', 8, valuesOf((view, i) => view.getFloat64(8 * i, true))),
  // Integer and boolean tensors (position_ids, num_batches_tracked…) are skipped, not rejected.
  new StorageType('LongStorage', 8),
  new StorageType('IntStorage', 4),
  new StorageType('ShortStorage', 2),
  new StorageType('CharStorage', 1),
  new StorageType('ByteStorage', 1),
  new StorageType('BoolStorage', 1),
];

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isIndexList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isIndex);
}

/** torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(args: readonly unknown[]): TensorRef {
  if (args.length !== 6 && args.length !== 7) throw new Error(`takes 6 or 7 arguments, got ${args.length}`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new Error(`its storage is of type ${pickleTypeName(storage)}`);
  if (!isIndex(offset)) throw new Error(`storage offset ${String(offset)} is not a non-negative integer`);
  if (!isIndexList(size)) throw new Error(`size ${String(size)} is not a tuple of non-negative integers`);
  if (!isIndexList(stride) || stride.length !== size.length) throw new Error(`stride ${String(stride)} is not ${size.length} non-negative integers`);
  if (size.every((n) => n > 0)) {
    const last = size.reduce((at, n, d) => at + (n - 1) * stride[d]!, offset);
    if (last >= storage.numel) {
      throw new Error(`size (${size}) with stride (${stride}) from offset ${offset} reaches element ${last} of storage '${storage.key}', which holds ${storage.numel}`);
    }
  }
  return new TensorRef(storage, offset, size, stride);
}

/** torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): a Parameter is just its tensor here. */
function rebuildParameter(args: readonly unknown[]): TensorRef {
  if (args.length !== 3 || !(args[0] instanceof TensorRef)) throw new Error('expects (tensor, requires_grad, backward_hooks)');
  return args[0];
}

/** The globals a state dict may name; anything else is refused (see the header). */
const ALLOWED: ReadonlyMap<string, unknown> = new Map<string, unknown>([
  ['collections.OrderedDict', new PickleFunction('collections.OrderedDict', (args) => {
    if (args.length) throw new Error('expects no arguments (items come by SETITEMS)');
    return new Map();
  })],
  ['torch._utils._rebuild_tensor_v2', new PickleFunction('torch._utils._rebuild_tensor_v2', rebuildTensor)],
  ['torch._utils._rebuild_parameter', new PickleFunction('torch._utils._rebuild_parameter', rebuildParameter)],
  ...STORAGE_TYPES.map((type): [string, unknown] => [`torch.${type.name}`, type]),
]);

/** The magic number that opens a legacy torch.save file, as pickle writes it (PROTO 2, LONG1). */
const LEGACY_MAGIC = Buffer.from('80028a0a6cfc9c46f9206aa85019', 'hex');
const ZIP_MAGIC = Buffer.from('PK\x03\x04', 'latin1');

/** Refuses empty files, legacy torch.save files and anything else that does not start like a ZIP archive. */
async function checkSignature(path: string): Promise<void> {
  const { handle } = await openInputFile(path);
  let head: Buffer;
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(LEGACY_MAGIC.length), 0, LEGACY_MAGIC.length, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (!head.length) throw new InputFileError(path, 'the file is empty');
  if (head.subarray(0, 4).equals(ZIP_MAGIC)) return;
  const convert = 'load it with PyTorch ≥ 1.6 and save it again with torch.save, or save it as safetensors';
  if (head.equals(LEGACY_MAGIC)) throw new InputFileError(path, `legacy torch.save format (PyTorch < 1.6, not a ZIP archive) is not supported: ${convert}`);
  if (head[0] === 0x80) throw new InputFileError(path, `a bare pickle, not a torch.save ZIP archive, is not supported: ${convert}`);
  throw new InputFileError(path, `not a torch.save file: it starts with bytes ${head.subarray(0, 4).toString('hex')}, not a ZIP archive's 504b0304`);
}

/** The archive's top folder: the one holding data.pkl. */
function topFolder(zip: ZipReader): string {
  const pickles = [...zip.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length === 1) return pickles[0]!.slice(0, -'/data.pkl'.length);
  const names = [...zip.entries.keys()];
  const listing = names.slice(0, 6).join(', ') + (names.length > 6 ? ', …' : '');
  throw new InputFileError(zip.path, pickles.length
    ? `several top folders hold a data.pkl (${pickles.join(', ')})`
    : `no <folder>/data.pkl entry, so not a torch.save archive (it holds: ${listing || 'nothing'})`);
}

/** An open torch.save state dict: its tensors' shapes, checked, and their values read on demand. */
export interface TorchStateDict {
  readonly path: string;
  /** Float tensors (float32, float16, bfloat16, float64) by name, in the file's order. */
  readonly shapes: ReadonlyMap<string, readonly number[]>;
  /** Integer and boolean tensors, which Thaw skips. */
  readonly skipped: readonly string[];
  /** One tensor's values as row-major float32. */
  read(name: string): Promise<HostTensor>;
  /**
   * Streams one tensor's values (see {@link PieceReader}): a stored entry
   * holding exactly the tensor, as torch.save writes each parameter, is read
   * by position in pieces of at most {@link PIECE_BYTES} bytes; any other
   * view (a slice, a transpose, a shared or deflated storage) reads its
   * storage whole, then gathers it: one tensor at a time.
   */
  readPieces(name: string): PieceReader;
  close(): Promise<void>;
}

/** Whether a view of a storage is exactly the storage, row-major (size-1 dimensions may have any stride). */
function coversStorage({ storage, offset, size, stride }: TensorRef, count: number): boolean {
  const contiguous = contiguousStrides(size);
  return offset === 0 && count === storage.numel && size.every((n, d) => n === 1 || stride[d] === contiguous[d]);
}

/**
 * Opens a torch.save state dict and checks it before any tensor is read:
 * the archive's directory, its byte order, the pickle (through the
 * allow-list), and every tensor's storage entry and size. Close it when done.
 */
export async function openTorchStateDict(path: string): Promise<TorchStateDict> {
  await checkSignature(path);
  const zip = await ZipReader.open(path);
  const fail = (reason: string) => new InputFileError(path, reason);
  try {
    const top = topFolder(zip);
    if (zip.entries.has(`${top}/byteorder`)) {
      const order = (await zip.read(`${top}/byteorder`)).toString('latin1');
      if (order !== 'little') throw fail(`${top}/byteorder is ${JSON.stringify(order.slice(0, 40))}; only little-endian archives are supported`);
    }
    const storages = new Map<string, StorageRef>();
    const root = unpickle(await zip.read(`${top}/data.pkl`), {
      path,
      name: `${top}/data.pkl`,
      globals: ALLOWED,
      persistentLoad: (pid) => {
        if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') throw new Error(`expected ('storage', type, key, location, numel), got a value of type ${pickleTypeName(pid)}`);
        const [, type, key, , numel] = pid as unknown[];
        if (!(type instanceof StorageType) || typeof key !== 'string' || !isIndex(numel)) throw new Error(`storage id (${pid.map(String).join(', ')}) is malformed`);
        const known = storages.get(key);
        if (known && (known.type !== type || known.numel !== numel)) throw new Error(`storage '${key}' is declared both as ${known.numel} ${known.type.name} and ${numel} ${type.name}`);
        const storage = known ?? new StorageRef(type, key, numel);
        storages.set(key, storage);
        return storage;
      },
    });
    if (!(root instanceof Map)) throw fail(`${top}/data.pkl holds a value of type ${pickleTypeName(root)}, not a state dict`);
    const views = new Map<string, TensorRef>();
    const skipped: string[] = [];
    // What the views may copy out in all: a few times what the storages hold.
    // Real state dicts share storages between a handful of names and expand a
    // few small tensors; a file that maps thousands of names onto one big
    // storage, or expands a few elements into a huge tensor, is refused
    // before anything is allocated for it.
    let budget = 0;
    for (const storage of storages.values()) budget += GATHER_FACTOR * storage.numel;
    for (const [name, value] of root) {
      if (typeof name !== 'string') throw fail(`the state dict has a key of type ${pickleTypeName(name)}; names must be strings`);
      if (!(value instanceof TensorRef)) throw fail(`'${name}' is of type ${pickleTypeName(value)}, not a tensor`);
      const { storage } = value;
      const entryName = `${top}/data/${storage.key}`;
      const entry = zip.entries.get(entryName);
      if (!entry) throw fail(`tensor '${name}' needs storage ${entryName}, which the archive lacks`);
      if (entry.size !== storage.numel * storage.type.width) {
        throw fail(`storage ${entryName} holds ${entry.size} bytes, but ${storage.numel} ${storage.type.name} elements take ${storage.numel * storage.type.width}`);
      }
      if (!storage.type.toFloat32Bits) {
        skipped.push(name);
        continue;
      }
      // Every name counts, the same view under several names (tied weights)
      // too: each name is read into an array of its own.
      budget -= value.size.reduce((a, b) => a * b, 1);
      if (budget < 0) throw fail(`its tensors copy more than ${GATHER_FACTOR} times the elements its storages hold (at '${name}'): too many names share storages, or expanded views repeat too few elements`);
      views.set(name, value);
    }
    const readPieces = (name: string): PieceReader => {
      const view = views.get(name);
      if (!view) throw fail(`has no float tensor '${name}'`);
      const { storage } = view;
      const type = storage.type;
      const convert = type.toFloat32Bits!;
      const entryName = `${top}/data/${storage.key}`;
      const count = view.size.reduce((a, b) => a * b, 1);
      return async (take) => {
        if (zip.entries.get(entryName)!.method === STORED && coversStorage(view, count)) {
          const perPiece = Math.max(1, Math.min(count, Math.floor(PIECE_BYTES / type.width)));
          const bits = new Uint32Array(perPiece);
          await zip.readStoredPieces(entryName, perPiece * type.width, async (bytes, at) => {
            const out = bits.subarray(0, bytes.length / type.width);
            convert(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), out);
            await take(new Float32Array(out.buffer, 0, out.length), at / type.width);
          });
          return;
        }
        const bytes = await zip.read(entryName);
        const bits = new Uint32Array(storage.numel);
        convert(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bits);
        await take(coversStorage(view, count) ? new Float32Array(bits.buffer) : gather(bits, view, count), 0);
      };
    };
    return {
      path,
      shapes: new Map([...views].map(([name, view]) => [name, view.size])),
      skipped,
      readPieces,
      async read(name) {
        const view = views.get(name);
        if (!view) throw fail(`has no float tensor '${name}'`);
        const data = new Float32Array(view.size.reduce((a, b) => a * b, 1));
        await readPieces(name)((values, first) => data.set(values, first));
        return { shape: [...view.size], data };
      },
      close: () => zip.close(),
    };
  } catch (e) {
    await zip.close();
    throw e;
  }
}

/**
 * Reads a torch.save state dict: float32, float16, bfloat16 and float64
 * tensors come back as row-major float32; integer and boolean tensors are
 * listed in `skipped`.
 */
export async function readTorchStateDict(path: string): Promise<{ tensors: Map<string, HostTensor>; skipped: string[] }> {
  const file = await openTorchStateDict(path);
  try {
    const tensors = new Map<string, HostTensor>();
    for (const name of file.shapes.keys()) tensors.set(name, await file.read(name));
    return { tensors, skipped: [...file.skipped] };
  } finally {
    await file.close();
  }
}

/** Copies a strided view's elements, as float32 bits so that NaN payloads survive, into a row-major Float32Array. */
function gather(storage: Uint32Array, { offset, size, stride }: TensorRef, count: number): Float32Array {
  const out = new Uint32Array(count);
  const index = new Array<number>(size.length).fill(0);
  let at = offset;
  for (let n = 0; n < count; n++) {
    out[n] = storage[at]!;
    for (let d = size.length - 1; d >= 0; d--) {
      at += stride[d]!;
      if (++index[d]! < size[d]!) break;
      at -= stride[d]! * size[d]!;
      index[d] = 0;
    }
  }
  return new Float32Array(out.buffer);
}

/** Row-major strides as PyTorch computes them (a zero-length dimension counts as one). */
function contiguousStrides(shape: number[]): number[] {
  const strides = new Array<number>(shape.length);
  for (let d = shape.length - 1, step = 1; d >= 0; d--) {
    strides[d] = step;
    step *= Math.max(shape[d]!, 1);
  }
  return strides;
}

/**
 * Writes float32 tensors, in the map's order, as a torch.save archive that
 * `torch.load` (weights_only too) reads back as an OrderedDict of tensors:
 * each tensor has its own contiguous float32 storage. Atomic (temporary file,
 * then rename), creating the folder.
 */
export async function writeTorchStateDict(path: string, tensors: Map<string, HostTensor>): Promise<void> {
  const pickle = new PickleWriter().global('collections', 'OrderedDict').mark().tuple().reduce().mark();
  const storages: { name: string; data: Uint8Array }[] = [];
  for (const [name, { shape, data }] of tensors) {
    if (!isIndexList(shape)) throw new Error(`writeTorchStateDict ${path}: tensor '${name}' has an invalid shape [${shape}]`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`writeTorchStateDict ${path}: tensor '${name}' has shape [${shape}] but ${data.length} values`);
    const key = String(storages.length);
    pickle.string(name).global('torch._utils', '_rebuild_tensor_v2').mark();
    pickle.mark().string('storage').global('torch', 'FloatStorage').string(key).string('cpu').int(count).tuple().persistentId();
    pickle.int(0).mark();
    for (const n of shape) pickle.int(n);
    pickle.tuple().mark();
    for (const n of contiguousStrides(shape)) pickle.int(n);
    pickle.tuple().bool(false).global('collections', 'OrderedDict').mark().tuple().reduce();
    pickle.tuple().reduce();
    const bytes = new Uint8Array(4 * count);
    const view = new DataView(bytes.buffer);
    const words = new Uint32Array(data.buffer, data.byteOffset, count);
    for (let i = 0; i < count; i++) view.setUint32(4 * i, words[i]!, true);
    storages.push({ name: `archive/data/${key}`, data: bytes });
  }
  await writeZip(path, [
    { name: 'archive/data.pkl', data: pickle.setItems().stop() },
    { name: 'archive/byteorder', data: Buffer.from('little') },
    ...storages,
    { name: 'archive/version', data: Buffer.from('3\n') },
  ]);
}
