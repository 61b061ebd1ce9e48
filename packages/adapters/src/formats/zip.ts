/**
 * A minimal ZIP reader and writer (PKWARE APPNOTE), enough for torch.save
 * archives and for what other zip tools make of them.
 *
 * An archive is a run of entries, each a local header (signature PK\3\4,
 * method, CRC-32, sizes, name, extra fields) followed by the entry's bytes;
 * then the central directory, one record per entry (PK\1\2) repeating the
 * sizes and giving the offset of the entry's local header; then the End Of
 * Central Directory record (PK\5\6: entry count, directory size and offset,
 * and a comment of up to 64 KiB, so it is found by searching backwards).
 * ZIP64, for archives past 4 GiB or 65535 entries, writes 0xFFFFFFFF in a
 * 32-bit size or offset to mean "see the ZIP64 extra field (id 1)", and puts
 * a locator (PK\6\7) just before the EOCD that points at a ZIP64 EOCD record
 * (PK\6\6) with 64-bit counts.
 *
 * Reading goes through a file handle by byte ranges: opening reads the tail
 * and the central directory only; an entry is read when asked for, via its
 * local header, inflated if deflated, and checked against its CRC-32; a
 * stored entry can also be streamed in pieces by position, its CRC-32
 * computed along the way and checked after the last piece. Every
 * structural problem is an InputFileError naming the file.
 *
 * Writing makes stored (uncompressed) entries and, like PyTorch's writer,
 * pads each local header with an extra field (id "FB") so that every entry's
 * data starts at a multiple of 64 bytes, where tensors can be mapped in
 * place. It writes a temporary file and renames it, so a crash never leaves
 * half an archive.
 */
import { constants as bufferLimits } from 'node:buffer';
import type { FileHandle } from 'node:fs/promises';
import { crc32, inflateRawSync } from 'node:zlib';
import { writeAll, writeFileAtomic } from './atomic-file.js';
import { InputFileError } from '../errors/input-error.js';
import { openInputFile } from './input-file.js';

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;
const END = 0x06054b50;
const END64 = 0x06064b50;
const END64_LOCATOR = 0x07064b50;
const LOCAL_SIZE = 30;
const CENTRAL_SIZE = 46;
const END_SIZE = 22;
const END64_SIZE = 56;
const LOCATOR_SIZE = 20;
const MAX_COMMENT = 0xffff;
const ZIP64_EXTRA = 0x0001;
/** Compression method of an entry stored as is. */
export const STORED = 0;
const DEFLATED = 8;
const ENCRYPTED = 0x0001;
const UTF8_NAMES = 0x0800;
/** Data alignment of written entries, as PyTorch's writer uses. */
const ALIGNMENT = 64;

/** One entry as the central directory describes it. */
export interface ZipEntry {
  /** The full name, folders included ("archive/data.pkl"). */
  readonly name: string;
  /** General purpose flags (bit 0: encrypted). */
  readonly flags: number;
  /** Compression method: 0 stored, 8 deflate (others are refused when read). */
  readonly method: number;
  /** CRC-32 of the uncompressed bytes. */
  readonly crc32: number;
  /** Size of the stored (possibly deflated) bytes. */
  readonly compressedSize: number;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** Where the entry's local header starts. */
  readonly localHeaderOffset: number;
}

/** Reads an archive's directory when opened and its entries on demand; close it when done. */
export class ZipReader {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly fileSize: number,
    /** Where entry data must end: the start of the central directory. */
    private readonly dataEnd: number,
    /** The entries by name, in directory order. */
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {
    this.headerOffsets = [...entries.values()].map((e) => e.localHeaderOffset).sort((a, b) => a - b);
  }

  /** Every entry's local header offset, ascending. */
  private readonly headerOffsets: number[];

  /** Opens `path` and reads its central directory (not the entries' data). */
  static async open(path: string): Promise<ZipReader> {
    const { handle, size } = await openInputFile(path);
    try {
      const directory = await readDirectory(path, handle, size);
      return new ZipReader(path, handle, size, directory.offset, directory.entries);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** The uncompressed bytes of entry `name`, after checking its CRC-32. */
  async read(name: string): Promise<Buffer> {
    const { entry, start } = await this.locate(name);
    const raw = await readAt(this.path, this.handle, this.fileSize, start, entry.compressedSize, `the data of '${name}'`);
    let data = raw;
    if (entry.method === DEFLATED) {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
      } catch (e) {
        throw this.fail(`entry '${name}' does not inflate to its ${entry.size} bytes: ${(e as Error).message}`);
      }
    }
    if (data.length !== entry.size) throw this.fail(`entry '${name}' holds ${data.length} bytes; the directory says ${entry.size}`);
    this.checkCrc(entry, crc32(data));
    return data;
  }

  /**
   * Streams the bytes of stored (uncompressed) entry `name` to `take` in
   * consecutive pieces of at most `pieceBytes` bytes, read by position into
   * one reused buffer (so `take` must be done with a piece when it
   * returns), with `at`, the piece's offset in the entry. The CRC-32 is
   * computed along the way and checked after the last piece: a mismatch
   * throws after the pieces were taken.
   */
  async readStoredPieces(name: string, pieceBytes: number, take: (bytes: Uint8Array, at: number) => void | Promise<void>): Promise<void> {
    const { entry, start } = await this.locate(name);
    if (entry.method !== STORED) throw new Error(`readStoredPieces: entry '${name}' is deflated; read it whole`);
    const buffer = Buffer.alloc(Math.max(1, Math.min(pieceBytes, entry.size)));
    let crc = 0;
    for (let at = 0; at < entry.size; at += buffer.length) {
      const piece = buffer.subarray(0, Math.min(buffer.length, entry.size - at));
      await readInto(this.path, this.handle, start + at, piece, `the data of '${name}'`);
      crc = crc32(piece, crc);
      await take(piece, at);
    }
    this.checkCrc(entry, crc);
  }

  /** Checks entry `name`'s header (signature, name, bounds, method) and returns where its data starts. */
  private async locate(name: string): Promise<{ entry: ZipEntry; start: number }> {
    const entry = this.entries.get(name);
    if (!entry) throw this.fail(`the archive has no entry '${name}'`);
    if (entry.flags & ENCRYPTED) throw this.fail(`entry '${name}' is encrypted`);
    if (entry.method !== STORED && entry.method !== DEFLATED) {
      throw this.fail(`entry '${name}' uses compression method ${entry.method}; only stored (0) and deflate (8) are supported`);
    }
    if (entry.size > bufferLimits.MAX_LENGTH) throw this.fail(`entry '${name}' of ${entry.size} bytes is larger than a buffer can hold`);
    if (entry.localHeaderOffset + LOCAL_SIZE > this.dataEnd) {
      throw this.fail(`entry '${name}' has its local header at byte ${entry.localHeaderOffset}, past the entries' end at byte ${this.dataEnd}`);
    }
    const header = await readAt(this.path, this.handle, this.fileSize, entry.localHeaderOffset, LOCAL_SIZE, `the local header of '${name}'`);
    if (header.readUInt32LE(0) !== LOCAL) throw this.fail(`entry '${name}' has no local header signature at byte ${entry.localHeaderOffset}`);
    const nameLength = header.readUInt16LE(26);
    const localName = (await readAt(this.path, this.handle, this.fileSize, entry.localHeaderOffset + LOCAL_SIZE, nameLength, `the local name of '${name}'`)).toString('utf8');
    if (localName !== name) throw this.fail(`entry '${name}' points at the local header of '${localName}'`);
    const start = entry.localHeaderOffset + LOCAL_SIZE + nameLength + header.readUInt16LE(28);
    // Entries may not overlap: a zip bomb reuses one compressed stream for many entries.
    const end = this.nextHeader(entry.localHeaderOffset);
    if (start + entry.compressedSize > end) {
      throw this.fail(`the ${entry.compressedSize} bytes of entry '${name}' at byte ${start} run past ${end === this.dataEnd ? "the entries' end" : 'the next entry'} at byte ${end}`);
    }
    if (entry.method === STORED && entry.compressedSize !== entry.size) throw this.fail(`entry '${name}' holds ${entry.compressedSize} bytes; the directory says ${entry.size}`);
    return { entry, start };
  }

  private checkCrc(entry: ZipEntry, computed: number): void {
    const actual = computed >>> 0;
    if (actual !== entry.crc32) {
      throw this.fail(`entry '${entry.name}' fails its CRC-32 check (recorded ${hex(entry.crc32)}, computed ${hex(actual)})`);
    }
  }

  /** Where the entry after the one whose local header is at `offset` starts (or the central directory). */
  private nextHeader(offset: number): number {
    // Binary search in the sorted local header offsets.
    const offsets = this.headerOffsets;
    let lo = 0;
    let hi = offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo < offsets.length ? Math.min(offsets[lo]!, this.dataEnd) : this.dataEnd;
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.handle.close();
  }

  private fail(reason: string): InputFileError {
    return new InputFileError(this.path, reason);
  }
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/** Reads exactly `length` bytes at `position`, or fails naming what was being read. */
async function readAt(path: string, handle: FileHandle, fileSize: number, position: number, length: number, what: string): Promise<Buffer> {
  if (position + length > fileSize) {
    throw new InputFileError(path, `truncated: ${what} (${length} bytes at byte ${position}) runs past the end of the ${fileSize}-byte file`);
  }
  const buffer = Buffer.alloc(length);
  await readInto(path, handle, position, buffer, what);
  return buffer;
}

/** Fills `into` with the bytes at `position`, or fails naming what was being read. */
async function readInto(path: string, handle: FileHandle, position: number, into: Uint8Array, what: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new InputFileError(path, `truncated: the file ended while reading ${what}`);
    done += bytesRead;
  }
}

/**
 * A 64-bit field as a number. A value past 2^53 (far larger than any file)
 * is refused here, with its exact digits: as a number it would be rounded
 * in every later message.
 */
function u64(buffer: Buffer, at: number, what: string, fail: (reason: string) => Error): number {
  const value = buffer.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`${what} is ${value}, larger than any file`);
  return Number(value);
}

/** Finds the EOCD (and ZIP64 EOCD), then parses the central directory it points to. */
async function readDirectory(path: string, handle: FileHandle, size: number): Promise<{ offset: number; entries: Map<string, ZipEntry> }> {
  const fail = (reason: string) => new InputFileError(path, reason);
  if (size < END_SIZE) throw fail(`a file of ${size} bytes is too short for a ZIP archive (its end record alone takes ${END_SIZE})`);
  const tailLength = Math.min(size, END_SIZE + MAX_COMMENT);
  const tailStart = size - tailLength;
  const tail = await readAt(path, handle, size, tailStart, tailLength, 'the end of the archive');
  let endAt = -1;
  for (let i = tailLength - END_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === END && i + END_SIZE + tail.readUInt16LE(i + 20) <= tailLength) {
      endAt = i;
      break;
    }
  }
  if (endAt < 0) throw fail(`no end of central directory record in the last ${tailLength} bytes: not a ZIP archive, or a truncated one`);
  const endOffset = tailStart + endAt;
  let disk = tail.readUInt16LE(endAt + 4);
  let directoryDisk = tail.readUInt16LE(endAt + 6);
  let countOnDisk = tail.readUInt16LE(endAt + 8);
  let count = tail.readUInt16LE(endAt + 10);
  let directorySize = tail.readUInt32LE(endAt + 12);
  let directoryOffset = tail.readUInt32LE(endAt + 16);
  let directoryEnd = endOffset;
  if (endOffset >= LOCATOR_SIZE) {
    const locator = await readAt(path, handle, size, endOffset - LOCATOR_SIZE, LOCATOR_SIZE, 'the ZIP64 end locator');
    if (locator.readUInt32LE(0) === END64_LOCATOR) {
      const end64Offset = u64(locator, 8, 'the ZIP64 end record offset', fail);
      if (end64Offset + END64_SIZE > endOffset - LOCATOR_SIZE) throw fail(`the ZIP64 end record offset ${end64Offset} lies beyond the ZIP64 locator at byte ${endOffset - LOCATOR_SIZE}`);
      const end64 = await readAt(path, handle, size, end64Offset, END64_SIZE, 'the ZIP64 end record');
      if (end64.readUInt32LE(0) !== END64) throw fail(`no ZIP64 end of central directory record at byte ${end64Offset}, where its locator points`);
      disk = end64.readUInt32LE(16);
      directoryDisk = end64.readUInt32LE(20);
      countOnDisk = u64(end64, 24, 'the ZIP64 entry count on this disk', fail);
      count = u64(end64, 32, 'the ZIP64 entry count', fail);
      directorySize = u64(end64, 40, 'the ZIP64 central directory size', fail);
      directoryOffset = u64(end64, 48, 'the ZIP64 central directory offset', fail);
      directoryEnd = end64Offset;
    }
  }
  if (disk !== 0 || directoryDisk !== 0 || countOnDisk !== count) throw fail('split (multi-disk) ZIP archives are not supported');
  if (directoryOffset + directorySize > directoryEnd) {
    throw fail(`the central directory (${directorySize} bytes at byte ${directoryOffset}) runs past its end record at byte ${directoryEnd}`);
  }
  if (count * CENTRAL_SIZE > directorySize) throw fail(`${count} entries cannot fit in a central directory of ${directorySize} bytes`);
  const directory = await readAt(path, handle, size, directoryOffset, directorySize, 'the central directory');
  const entries = new Map<string, ZipEntry>();
  const headers = new Map<number, string>();
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_SIZE > directory.length || directory.readUInt32LE(at) !== CENTRAL) {
      throw fail(`central directory record ${i} at byte ${directoryOffset + at} is missing or damaged`);
    }
    const nameLength = directory.readUInt16LE(at + 28);
    const extraStart = at + CENTRAL_SIZE + nameLength;
    const extraEnd = extraStart + directory.readUInt16LE(at + 30);
    const next = extraEnd + directory.readUInt16LE(at + 32);
    if (next > directory.length) throw fail(`central directory record ${i} at byte ${directoryOffset + at} runs past the directory's end`);
    const name = directory.toString('utf8', at + CENTRAL_SIZE, extraStart);
    const wide = {
      size: directory.readUInt32LE(at + 24),
      compressedSize: directory.readUInt32LE(at + 20),
      localHeaderOffset: directory.readUInt32LE(at + 42),
    };
    applyZip64Extra(directory.subarray(extraStart, extraEnd), wide, (reason) => fail(`entry '${name}': ${reason}`));
    if (entries.has(name)) throw fail(`the archive has two entries named '${name}'`);
    const shared = headers.get(wide.localHeaderOffset);
    if (shared !== undefined) throw fail(`entries '${shared}' and '${name}' share the local header at byte ${wide.localHeaderOffset}`);
    headers.set(wide.localHeaderOffset, name);
    entries.set(name, {
      name,
      flags: directory.readUInt16LE(at + 8),
      method: directory.readUInt16LE(at + 10),
      crc32: directory.readUInt32LE(at + 16),
      ...wide,
    });
    at = next;
  }
  return { offset: directoryOffset, entries };
}

/**
 * Replaces the 32-bit fields that hold 0xFFFFFFFF by their 64-bit values from
 * the ZIP64 extra field, which lists only those, in this order: size,
 * compressed size, local header offset.
 */
function applyZip64Extra(extra: Buffer, fields: { size: number; compressedSize: number; localHeaderOffset: number }, fail: (reason: string) => Error): void {
  const wanted = (['size', 'compressedSize', 'localHeaderOffset'] as const).filter((key) => fields[key] === 0xffffffff);
  if (!wanted.length) return;
  for (let at = 0; at + 4 <= extra.length; at += 4 + extra.readUInt16LE(at + 2)) {
    if (extra.readUInt16LE(at) !== ZIP64_EXTRA) continue;
    const length = extra.readUInt16LE(at + 2);
    if (8 * wanted.length > length || at + 4 + length > extra.length) throw fail(`its ZIP64 extra field of ${length} bytes lacks the ${wanted.join(', ')} it should hold`);
    wanted.forEach((key, i) => (fields[key] = u64(extra, at + 4 + 8 * i, `its ZIP64 ${key}`, fail)));
    return;
  }
  throw fail(`its ${wanted.join(', ')} say "see ZIP64" but it has no ZIP64 extra field`);
}

/** An entry to write: its name in the archive and its bytes. */
export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
}

/**
 * Writes `entries` in order as a ZIP archive of stored entries whose data
 * start at multiples of 64 bytes, atomically (creating the folder). Archives
 * that would need ZIP64 (4 GiB, 65535 entries) are refused.
 */
export async function writeZip(path: string, entries: readonly ZipWriteEntry[]): Promise<void> {
  const names = new Set(entries.map((e) => e.name));
  if (names.size !== entries.length) throw new Error(`writeZip ${path}: two entries have the same name`);
  if (entries.length >= 0xffff) throw new Error(`writeZip ${path}: ${entries.length} entries need ZIP64, which this writer does not produce`);
  await writeFileAtomic(path, async (handle) => {
    let offset = 0;
    const central: Buffer[] = [];
    for (const { name, data } of entries) {
      const nameBytes = Buffer.from(name, 'utf8');
      if (offset + LOCAL_SIZE + nameBytes.length + 4 + ALIGNMENT + data.length >= 0xffffffff) {
        throw new Error(`writeZip ${path}: the archive would pass 4 GiB, which needs ZIP64, which this writer does not produce`);
      }
      const padding = (ALIGNMENT - ((offset + LOCAL_SIZE + nameBytes.length + 4) % ALIGNMENT)) % ALIGNMENT;
      const extra = Buffer.alloc(4 + padding, 'Z');
      extra.write('FB', 0, 'latin1');
      extra.writeUInt16LE(padding, 2);
      const crc = crc32(data) >>> 0;
      const local = Buffer.alloc(LOCAL_SIZE);
      local.writeUInt32LE(LOCAL, 0);
      writeCommonFields(local, 4, crc, data.length, nameBytes.length, extra.length);
      await writeAll(handle, Buffer.concat([local, nameBytes, extra]));
      await writeAll(handle, data);
      const record = Buffer.alloc(CENTRAL_SIZE);
      record.writeUInt32LE(CENTRAL, 0);
      record.writeUInt16LE(20, 4); // made by: version 2.0
      writeCommonFields(record, 6, crc, data.length, nameBytes.length, 0);
      record.writeUInt32LE(offset, 42);
      central.push(record, nameBytes);
      offset += local.length + nameBytes.length + extra.length + data.length;
    }
    const directory = Buffer.concat(central);
    const end = Buffer.alloc(END_SIZE);
    end.writeUInt32LE(END, 0);
    end.writeUInt16LE(entries.length, 8);
    end.writeUInt16LE(entries.length, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(offset, 16);
    await writeAll(handle, Buffer.concat([directory, end]));
  });
}

/**
 * The fields local headers and directory records share, from "version needed"
 * on: version 2.0, UTF-8 names, stored, a fixed 1980-01-01 timestamp (so equal
 * contents give equal files), CRC, both sizes, name and extra lengths.
 */
function writeCommonFields(out: Buffer, at: number, crc: number, size: number, nameLength: number, extraLength: number): void {
  out.writeUInt16LE(20, at);
  out.writeUInt16LE(UTF8_NAMES, at + 2);
  out.writeUInt16LE(STORED, at + 4);
  out.writeUInt16LE(0, at + 6); // time 00:00:00
  out.writeUInt16LE((1 << 5) | 1, at + 8); // date 1980-01-01
  out.writeUInt32LE(crc, at + 10);
  out.writeUInt32LE(size, at + 14);
  out.writeUInt32LE(size, at + 18);
  out.writeUInt16LE(nameLength, at + 22);
  out.writeUInt16LE(extraLength, at + 24);
}
