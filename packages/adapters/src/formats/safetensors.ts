/**
 * safetensors read and write (huggingface/safetensors "Format"): an 8-byte
 * little-endian header length N, N bytes of UTF-8 JSON
 *   {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, …, "__metadata__": {str: str}}
 * that starts with `{` and may be padded with spaces, then the data buffer:
 * every tensor's bytes, row-major and little-endian, at its offsets relative to
 * the buffer's start. The buffer is covered exactly: no holes, no overlaps.
 *
 * Reading is streamed: {@link openSafetensors} reads only the header, and each
 * tensor is read from its byte range when asked for, either whole or in
 * pieces of at most {@link PIECE_BYTES} read by position into one reused
 * buffer and converted there, so a checkpoint of several gigabytes is never
 * copied whole into memory, nor even its largest tensor. Every structural rule
 * is checked before any tensor is read, and a violation names the file and
 * the problem. Writing streams too, through a temporary file and a rename, so
 * a crash never leaves half a file.
 */
import type { FileHandle } from 'node:fs/promises';
import { writeAll, writeFileAtomic } from './atomic-file.js';
import { openInputFile } from './input-file.js';
import { InputFileError } from '../errors/input-error.js';

/** A host tensor: shape and float32 values. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A malformed or unreadable safetensors file. */
export class SafetensorsError extends InputFileError {
  constructor(path: string, reason: string) {
    super(path, reason);
    this.name = 'SafetensorsError';
  }
}

/** The format's own bound on the header (safetensors' MAX_HEADER_SIZE). */
const MAX_HEADER = 100_000_000;
/** Floating-point dtypes, read into float32, and their widths in bytes. */
const FLOAT_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** Integer and boolean tensors (e.g. old checkpoints' position_ids buffers) are skipped, not rejected. */
const SKIPPED_BYTES: Record<string, number> = { I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };
/** Dtypes the format defines that Thaw cannot use (complex and 4/6/8-bit floats): named in the error. */
const UNSUPPORTED = new Set(['C64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'F6_E2M3', 'F6_E3M2', 'F4']);

/** One tensor as the header describes it; `begin`/`end` are absolute file offsets. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** An open file: its validated header, and tensors read on demand. */
export interface SafetensorsFile {
  readonly path: string;
  /** Float tensors by name, in header order. */
  readonly entries: ReadonlyMap<string, TensorEntry>;
  /** Integer and boolean tensors, which Thaw skips. */
  readonly skipped: readonly string[];
  readonly metadata: Record<string, string>;
  /** Reads one tensor's bytes and converts them to float32. */
  read(name: string): Promise<HostTensor>;
  /** Streams one tensor's values as float32, piece by piece (see {@link PieceReader}); memory stays at one piece. */
  readPieces(name: string): PieceReader;
  close(): Promise<void>;
}

/** float16 bits → number (exact: every float16 is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * Converts `out.length` little-endian values of `dtype` (F16, BF16 or F64)
 * from `bytes` into `out` as float32. F32 needs no conversion: it is read
 * straight into a float32 array.
 */
function convertInto(out: Float32Array, bytes: Uint8Array, dtype: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = out.length;
  if (dtype === 'F64') for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
  else if (dtype === 'F16') for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  else {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer, out.byteOffset, count);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  }
}

/** Bytes of a file read at a time when a tensor is streamed (16 MiB): its memory while loading. */
export const PIECE_BYTES = 1 << 24;

/**
 * Hands a tensor's values to `take` in consecutive pieces of at most
 * {@link PIECE_BYTES} bytes of the file each, the first value of each piece
 * given by its index. One piece buffer (and, for a dtype other than F32,
 * one float32 buffer) is reused for every piece, so `take` must be done with
 * a piece when it returns.
 */
export type PieceReader = (take: (values: Float32Array, first: number) => void | Promise<void>) => Promise<void>;

/**
 * The members of a JSON object text, in order, duplicates included, each
 * with its value's own text. JSON.parse keeps the last of equal keys
 * silently (the format forbids them), and it rounds integers past 2^53, so
 * error messages quote a value's text from the header's bytes instead.
 */
function jsonMembers(text: string): { key: string; value: string }[] {
  const members: { key: string; value: string }[] = [];
  let depth = 0;
  let key: string | undefined;
  let valueStart = -1;
  const close = (at: number) => {
    if (key !== undefined) members.push({ key, value: text.slice(valueStart, at).trim() });
    key = undefined;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && key === undefined && valueStart < 0) key = JSON.parse(text.slice(i, j + 1)) as string;
      i = j;
    } else if (c === ':' && depth === 1 && valueStart < 0) valueStart = i + 1;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (depth === 1) close(i);
      depth--;
    } else if (c === ',' && depth === 1) {
      close(i);
      valueStart = -1;
    }
  }
  return members;
}

/** Fills `into` with the bytes at `position`, or says that the file ends first. */
async function readInto(handle: FileHandle, path: string, position: number, into: Uint8Array): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (!bytesRead) throw new SafetensorsError(path, `the file ends at byte ${position + done}, inside a range that runs to ${position + into.length}`);
    done += bytesRead;
  }
}

/** Reads exactly `length` bytes at `position`, or says that the file ends first. */
async function readRange(handle: FileHandle, path: string, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  await readInto(handle, path, position, buffer);
  return buffer;
}

/**
 * Checks one header entry and returns it with absolute offsets;
 * `dataStart`/`dataLength` locate the buffer, and `source` is the entry's
 * text in the header, quoted in messages so that numbers read as written.
 */
function checkEntry(path: string, name: string, raw: unknown, source: string, dataStart: number, dataLength: number): TensorEntry {
  const quoted = (field: string) => jsonMembers(source).find((m) => m.key === field)?.value ?? JSON.stringify((raw as Record<string, unknown>)[field]);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SafetensorsError(path, `tensor '${name}' is described by ${JSON.stringify(raw)}, not an object`);
  const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const dtype = String(info.dtype);
  const width = FLOAT_BYTES[dtype] ?? SKIPPED_BYTES[dtype];
  if (!width) {
    const why = UNSUPPORTED.has(dtype) ? 'which Thaw cannot convert' : 'which the format does not define';
    throw new SafetensorsError(path, `tensor '${name}' has dtype ${dtype}, ${why}; Thaw reads F32, F16, BF16 and F64 (and skips integer and boolean tensors)`);
  }
  const shape = info.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new SafetensorsError(path, `tensor '${name}' has an invalid shape ${quoted('shape')}`);
  const offsets = info.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1] || offsets[1] > dataLength) {
    throw new SafetensorsError(path, `tensor '${name}' has data_offsets ${quoted('data_offsets')} outside the ${dataLength} data bytes`);
  }
  const [begin, end] = offsets as [number, number];
  // In BigInt: a product of safe dimensions can pass 2^53, and the message must give it exactly.
  const bytes = (shape as number[]).reduce((a, d) => a * BigInt(d), BigInt(width));
  if (BigInt(end - begin) !== bytes) throw new SafetensorsError(path, `tensor '${name}' of shape [${shape}] ${dtype} needs ${bytes} bytes; its offsets span ${end - begin}`);
  return { name, dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end };
}

/**
 * Opens a safetensors file and validates its header: length bounds, JSON
 * starting with `{`, no duplicate names, string metadata, known dtypes,
 * shapes, byte sizes equal to shape × dtype width, and ranges inside the file
 * that cover the data buffer exactly. Nothing but the header is read.
 */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  const { handle, size } = await openInputFile(path);
  try {
    if (size < 8) throw new SafetensorsError(path, `file of ${size} bytes is shorter than the 8-byte header length`);
    const length = (await readRange(handle, path, 0, 8)).readBigUInt64LE(0);
    if (length > BigInt(Math.min(MAX_HEADER, size - 8))) throw new SafetensorsError(path, `header length ${length} does not fit in a file of ${size} bytes (the format allows at most ${MAX_HEADER})`);
    const n = Number(length);
    const text = (await readRange(handle, path, 8, n)).toString('utf8');
    let header: Record<string, unknown>;
    try {
      if (!text.startsWith('{')) throw new Error('it does not start with {');
      header = JSON.parse(text) as Record<string, unknown>;
      if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error('it is not an object');
    } catch (e) {
      throw new SafetensorsError(path, `header is not valid JSON: ${(e as Error).message}`);
    }
    const members = jsonMembers(text);
    const seen = new Set<string>();
    const duplicate = members.find(({ key }) => seen.has(key) || !seen.add(key))?.key;
    if (duplicate !== undefined) throw new SafetensorsError(path, `the header names '${duplicate}' twice`);
    const metadata = header.__metadata__ ?? {};
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
      throw new SafetensorsError(path, `__metadata__ must map strings to strings, got ${JSON.stringify(metadata).slice(0, 200)}`);
    }
    const dataStart = 8 + n;
    const dataLength = size - dataStart;
    const sources = new Map(members.map(({ key, value }) => [key, value]));
    const all = Object.entries(header).filter(([k]) => k !== '__metadata__').map(([name, raw]) => checkEntry(path, name, raw, sources.get(name)!, dataStart, dataLength));
    let covered = dataStart;
    for (const e of [...all].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
      if (e.begin !== covered) {
        const what = e.begin < covered ? 'overlaps the data before it, which ends' : 'leaves a hole: the data before it ends';
        throw new SafetensorsError(path, `tensor '${e.name}' starts at data byte ${e.begin - dataStart} and ${what} at ${covered - dataStart} (holes and overlaps are not allowed)`);
      }
      covered = e.end;
    }
    if (covered !== size) throw new SafetensorsError(path, `the tensors cover ${covered - dataStart} of ${dataLength} data bytes`);
    const entries = new Map(all.filter((e) => FLOAT_BYTES[e.dtype]).map((e) => [e.name, e]));
    const opened = handle;
    const entry = (name: string) => {
      const e = entries.get(name);
      if (!e) throw new SafetensorsError(path, `has no float tensor '${name}'`);
      return { ...e, count: (e.end - e.begin) / FLOAT_BYTES[e.dtype]! };
    };
    const readPieces = (name: string): PieceReader => {
      const e = entry(name);
      return async (take) => {
        const width = FLOAT_BYTES[e.dtype]!;
        const perPiece = Math.max(1, Math.min(e.count, Math.floor(PIECE_BYTES / width)));
        const values = new Float32Array(perPiece);
        // F32 bytes land in the float32 array itself (aligned, whatever the file offset); other dtypes are converted from a byte buffer.
        const raw = e.dtype === 'F32' ? new Uint8Array(values.buffer) : new Uint8Array(perPiece * width);
        for (let first = 0; first < e.count; first += perPiece) {
          const n = Math.min(perPiece, e.count - first);
          await readInto(opened, path, e.begin + first * width, raw.subarray(0, n * width));
          if (e.dtype !== 'F32') convertInto(values.subarray(0, n), raw, e.dtype);
          await take(values.subarray(0, n), first);
        }
      };
    };
    return {
      path, entries, metadata: metadata as Record<string, string>,
      skipped: all.filter((e) => !FLOAT_BYTES[e.dtype]).map((e) => e.name),
      readPieces,
      async read(name) {
        const e = entry(name);
        const data = new Float32Array(e.count);
        await readPieces(name)((values, first) => data.set(values, first));
        return { shape: [...e.shape], data };
      },
      close: () => opened.close(),
    };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Reads every float tensor (F32, F16, BF16 and F64 are converted to float32) and the metadata, one tensor at a time. */
export async function readSafetensors(path: string): Promise<{ tensors: Map<string, HostTensor>; metadata: Record<string, string>; skipped: string[] }> {
  const file = await openSafetensors(path);
  try {
    const tensors = new Map<string, HostTensor>();
    for (const name of file.entries.keys()) tensors.set(name, await file.read(name));
    return { tensors, metadata: file.metadata, skipped: [...file.skipped] };
  } finally {
    await file.close();
  }
}

/**
 * A float32 tensor to write, its row-major values given in consecutive
 * pieces, so that a writer never needs the whole tensor (or file) in memory.
 */
export interface TensorPieces {
  shape: number[];
  pieces(): Iterable<Float32Array>;
}

/** Writes float32 tensors (sorted by name) and string metadata, streamed and atomically. */
export async function writeSafetensors(path: string, tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): Promise<void> {
  await writeSafetensorsPieces(path, new Map([...tensors].map(([name, t]) => [name, { shape: t.shape, pieces: () => [t.data] }])), metadata);
}

/**
 * Writes float32 tensors (sorted by name) and string metadata like
 * {@link writeSafetensors}, each tensor's values taken piece by piece as
 * they are written: memory stays at one piece however large the file.
 * Throws, leaving no file, when a tensor's pieces do not hold exactly its
 * shape's count of values.
 */
export async function writeSafetensorsPieces(path: string, tensors: ReadonlyMap<string, TensorPieces>, metadata: Record<string, string> = {}): Promise<void> {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  await writeFileAtomic(path, async (handle) => {
    await writeAll(handle, Buffer.concat([length, headerBytes]));
    for (const name of names) {
      const t = tensors.get(name)!;
      const count = t.shape.reduce((a, b) => a * b, 1);
      let written = 0;
      for (const piece of t.pieces()) {
        written += piece.length;
        if (written > count) break;
        await writeAll(handle, new Uint8Array(piece.buffer, piece.byteOffset, piece.byteLength));
      }
      if (written !== count) throw new Error(`writeSafetensors ${path}: tensor '${name}' has shape [${t.shape}] but ${written > count ? `more than ${count}` : written} values`);
    }
  });
}
