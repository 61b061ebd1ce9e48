/**
 * safetensors read and write (huggingface/safetensors "Format"): an 8-byte
 * little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, …, "__metadata__": {…}}
 * padded with spaces to a multiple of 8, then the tensor bytes, row-major,
 * little-endian. Reading validates everything and names the file and the
 * problem; writing goes through a temporary file and a rename, so a crash
 * never leaves half a file.
 */
import { mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A host tensor: shape and float32 values. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** A malformed or unreadable safetensors file. */
export class SafetensorsError extends Error {
  constructor(readonly path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'SafetensorsError';
  }
}

const MAX_HEADER = 100_000_000;
const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
/** Integer and boolean tensors (e.g. old checkpoints' position_ids buffers) are skipped, not rejected. */
const SKIPPED: Record<string, number> = { I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };

/** float16 bits → number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Reads every tensor (F32, F16, BF16 and F64 are converted to float32) and the metadata. */
export async function readSafetensors(path: string): Promise<{ tensors: Map<string, HostTensor>; metadata: Record<string, string>; skipped: string[] }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new SafetensorsError(path, `cannot read: ${(e as Error).message}`);
  }
  if (bytes.length < 8) throw new SafetensorsError(path, `file of ${bytes.length} bytes is shorter than the 8-byte header length`);
  const n = Number(bytes.readBigUInt64LE(0));
  if (n > MAX_HEADER || 8 + n > bytes.length) throw new SafetensorsError(path, `header length ${n} does not fit in a file of ${bytes.length} bytes`);
  let header: Record<string, unknown>;
  try {
    const text = bytes.subarray(8, 8 + n).toString('utf8');
    if (!text.startsWith('{')) throw new Error('it does not start with {');
    header = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(path, `header is not valid JSON: ${(e as Error).message}`);
  }
  const data = bytes.subarray(8 + n);
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__');
  const spans: [number, number, string][] = [];
  const tensors = new Map<string, HostTensor>();
  const skipped: string[] = [];
  for (const [name, raw] of entries) {
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = String(info.dtype);
    const width = BYTES[dtype] ?? SKIPPED[dtype];
    if (!width) throw new SafetensorsError(path, `tensor '${name}' has dtype ${dtype}; Thaw reads F32, F16, BF16 and F64 (and skips integer tensors)`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(path, `tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1] || offsets[1] > data.length) {
      throw new SafetensorsError(path, `tensor '${name}' has data_offsets ${JSON.stringify(offsets)} outside the ${data.length} data bytes`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== count * width) throw new SafetensorsError(path, `tensor '${name}' of shape [${shape}] ${dtype} needs ${count * width} bytes; its offsets span ${end - begin}`);
    spans.push([begin, end, name]);
    if (!BYTES[dtype]) {
      skipped.push(name);
      continue;
    }
    const values = new Float32Array(count);
    const view = new DataView(data.buffer, data.byteOffset + begin, end - begin);
    for (let i = 0; i < count; i++) {
      values[i] = dtype === 'F32' ? view.getFloat32(4 * i, true)
        : dtype === 'F64' ? view.getFloat64(8 * i, true)
        : dtype === 'F16' ? halfToFloat(view.getUint16(2 * i, true))
        : new Float32Array(new Uint32Array([view.getUint16(2 * i, true) << 16]).buffer)[0]!;
    }
    tensors.set(name, { shape: shape as number[], data: values });
  }
  spans.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== covered) throw new SafetensorsError(path, `tensor '${name}' starts at byte ${begin} but the previous data ends at ${covered} (holes and overlaps are not allowed)`);
    covered = end;
  }
  if (covered !== data.length) throw new SafetensorsError(path, `the tensors cover ${covered} of ${data.length} data bytes`);
  return { tensors, metadata, skipped };
}

/** Writes float32 tensors (sorted by name) and string metadata, atomically (creating the folder). */
export async function writeSafetensors(path: string, tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): Promise<void> {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`writeSafetensors ${path}: tensor '${name}' has shape [${t.shape}] but ${t.data.length} values`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, at);
    at += data.byteLength;
  }
  const temp = `${path}.${process.pid}.tmp`;
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(temp, out);
    const handle = await open(temp, 'r');
    await handle.sync();
    await handle.close();
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
}
