import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputFileError } from '../src/errors/input-error.js';
import {
  halfToFloat, openSafetensors, PIECE_BYTES, readSafetensors, SafetensorsError, writeSafetensors, writeSafetensorsPieces, type HostTensor,
} from '../src/formats/safetensors.js';

/** A file from a header object and raw data bytes, as another writer might produce it. */
function rawFile(header: object, data: Buffer, pad = true): Buffer {
  let json = JSON.stringify(header);
  if (pad) json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  return rawText(json, data);
}

/** A file from a header's exact text (e.g. with a duplicate key JSON.stringify cannot produce). */
function rawText(json: string, data: Buffer): Buffer {
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([n, Buffer.from(json), data]);
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, with an 8-byte-aligned header', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'adapter.safetensors');
    const tensors = new Map<string, HostTensor>([
      ['roberta.encoder.layer.0.output.adapters.xnli.adapter_up.bias', { shape: [3], data: new Float32Array([1.5, -2, 3.25]) }],
      ['a.scalar', { shape: [], data: new Float32Array([7]) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
    ]);
    await writeSafetensors(path, tensors, { format: 'pt' });
    const bytes = await readFile(path);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const back = await readSafetensors(path);
    expect(back.metadata).toEqual({ format: 'pt' });
    expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
    for (const [name, t] of tensors) {
      expect(back.tensors.get(name)!.shape).toEqual(t.shape);
      expect([...back.tensors.get(name)!.data]).toEqual([...t.data]);
    }
  });

  it('skips integer tensors such as old checkpoints\' position_ids', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'ids.safetensors');
    const data = Buffer.alloc(16 + 4);
    data.writeFloatLE(2.5, 16);
    await writeFile(path, rawFile({ position_ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] }, w: { dtype: 'F32', shape: [1], data_offsets: [16, 20] } }, data));
    const { tensors, skipped } = await readSafetensors(path);
    expect(skipped).toEqual(['position_ids']);
    expect([...tensors.keys()]).toEqual(['w']);
    expect(tensors.get('w')!.data[0]).toBe(2.5);
  });

  it('reads F16, BF16 and F64 as float32', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'mixed.safetensors');
    const data = Buffer.alloc(4 + 4 + 8);
    data.writeUInt16LE(0x3c00, 0); // f16 1.0
    data.writeUInt16LE(0xc000, 2); // f16 −2.0
    data.writeUInt16LE(0x3fc0, 4); // bf16 1.5
    data.writeUInt16LE(0x4049, 6); // bf16 ≈ 3.140625
    data.writeDoubleLE(0.1, 8);
    await writeFile(path, rawFile({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] }, d: { dtype: 'F64', shape: [1], data_offsets: [8, 16] } }, data));
    const { tensors } = await readSafetensors(path);
    expect([...tensors.get('h')!.data]).toEqual([1, -2]);
    expect([...tensors.get('b')!.data]).toEqual([1.5, 3.140625]);
    expect(tensors.get('d')!.data[0]).toBeCloseTo(0.1, 7);
  });

  it('rejects malformed files with the file and the problem named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const cases: [string, Buffer, RegExp][] = [
      ['short', Buffer.from([1, 2, 3]), /shorter than the 8-byte header length/],
      ['huge-header', Buffer.concat([Buffer.from([255, 255, 0, 0, 0, 0, 0, 0]), Buffer.alloc(8)]), /header length \d+ does not fit/],
      ['not-json', rawFile({}, Buffer.alloc(0)).fill(0x78, 8, 10), /header is not valid JSON/],
      ['dtype', rawFile({ x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8)), /tensor 'x' has dtype C64, which Thaw cannot convert/],
      ['size', rawFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /needs 12 bytes; its offsets span 8/],
      ['hole', rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8)), /'x' starts at data byte 4 and leaves a hole: the data before it ends at 0/],
      ['overlap', rawFile({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8)), /overlaps the data before it, which ends at 8/],
      ['duplicate', rawText('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', Buffer.alloc(4)), /names 'x' twice/],
      ['metadata', rawFile({ __metadata__: { step: 3 } }, Buffer.alloc(0)), /__metadata__ must map strings to strings/],
      ['array-header', rawFile([1, 2] as unknown as object, Buffer.alloc(0)), /header is not valid JSON: it does not start with \{/],
      ['fp8', rawFile({ x: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)), /dtype F8_E4M3, which Thaw cannot convert/],
      ['unknown-dtype', rawFile({ x: { dtype: 'F12', shape: [1], data_offsets: [0, 2] } }, Buffer.alloc(2)), /dtype F12, which the format does not define/],
      ['shape', rawFile({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, Buffer.alloc(4)), /invalid shape \[-1\]/],
      ['entry', rawFile({ x: [1] }, Buffer.alloc(0)), /tensor 'x' is described by \[1\], not an object/],
      ['empty', Buffer.alloc(0), /file of 0 bytes is shorter/],
      ['trailing', rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(8)), /cover 4 of 8 data bytes/],
      ['outside', rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 40] } }, Buffer.alloc(8)), /outside the 8 data bytes/],
      // Integers past 2^53 are quoted with the digits the file holds, not JavaScript's rounding.
      ['huge-length', Buffer.concat([(() => { const n = Buffer.alloc(8); n.writeBigUInt64LE(2n ** 60n); return n; })(), Buffer.alloc(8)]), /header length 1152921504606846976 does not fit in a file of 16 bytes/],
      ['huge-offsets', rawText('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,1152921504606846977]}}', Buffer.alloc(4)), /data_offsets \[0,1152921504606846977\] outside the 4 data bytes/],
      ['huge-shape', rawText('{"x":{"dtype":"F32","shape":[4194304,4194304,1024],"data_offsets":[0,4]}}', Buffer.alloc(4)), /needs 72057594037927936 bytes; its offsets span 4/],
      ['huge-dimension', rawText('{"x":{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,4]}}', Buffer.alloc(4)), /invalid shape \[9007199254740993\]/],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(dir, `${name}.safetensors`);
      await writeFile(path, bytes);
      const error = await readSafetensors(path).then(() => undefined, (e: unknown) => e);
      expect(error, name).toBeInstanceOf(SafetensorsError);
      expect(error, name).toBeInstanceOf(InputFileError);
      expect((error as Error).message, name).toMatch(message);
      expect((error as Error).message.startsWith(`${path}: `), name).toBe(true);
    }
    await expect(readSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: cannot read/);
    await expect(readSafetensors(dir)).rejects.toThrow(`${dir}: is not a file`);
  });

  it('opens a file without reading its tensors, then reads one by its range, aligned or not', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'stream.safetensors');
    // A 1-element F16 first puts the F32 tensor at data byte 2: not 4-aligned.
    const data = Buffer.alloc(2 + 12);
    data.writeUInt16LE(0x4200, 0); // f16 3.0
    [0.25, -7.5, 1e-3].forEach((v, i) => data.writeFloatLE(v, 2 + 4 * i));
    await writeFile(path, rawFile({ h: { dtype: 'F16', shape: [1], data_offsets: [0, 2] }, w: { dtype: 'F32', shape: [3, 1], data_offsets: [2, 14] } }, data));
    const file = await openSafetensors(path);
    try {
      expect([...file.entries.keys()]).toEqual(['h', 'w']);
      const w = await file.read('w');
      expect(w.shape).toEqual([3, 1]);
      expect([...w.data]).toEqual([0.25, -7.5, Math.fround(1e-3)]);
      expect([...(await file.read('h')).data]).toEqual([3]);
      await expect(file.read('nope')).rejects.toThrow(/has no float tensor 'nope'/);
    } finally {
      await file.close();
    }
  });

  it('accepts an empty tensor that shares its offset with the next one, whatever the header order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'empty-first.safetensors');
    const data = Buffer.alloc(8);
    data.writeFloatLE(1.25, 0);
    data.writeFloatLE(-3, 4);
    await writeFile(path, rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, e: { dtype: 'F32', shape: [0], data_offsets: [0, 0] } }, data));
    const { tensors } = await readSafetensors(path);
    expect([...tensors.get('w')!.data]).toEqual([1.25, -3]);
    expect(tensors.get('e')!.shape).toEqual([0]);
  });

  it('round-trips NaN, infinities and −0 bit for bit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'special.safetensors');
    const values = new Float32Array([Number.NaN, Infinity, -Infinity, -0, 1.17549435e-38, 3.4028235e38]);
    await writeSafetensors(path, new Map([['v', { shape: [6], data: values }]]));
    const back = (await readSafetensors(path)).tensors.get('v')!.data;
    expect([...new Uint32Array(back.buffer)]).toEqual([...new Uint32Array(values.buffer)]);
  });

  it('streams a tensor in pieces of at most PIECE_BYTES of the file, each converted (F16 across a piece boundary, F32 at an offset that is not a multiple of 4)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'pieces.safetensors');
    const count = PIECE_BYTES / 2 + 3;
    const halves = new Uint16Array(count);
    // Finite half-precision values of both signs, none zero: exponent 1…30.
    for (let i = 0; i < count; i++) halves[i] = ((i * 7919) & 0x83ff) | ((1 + (i % 30)) << 10);
    const f32 = new Float32Array([0.5, -1.25, 3]);
    await writeFile(path, rawFile({
      h: { dtype: 'F16', shape: [count], data_offsets: [0, 2 * count] },
      f: { dtype: 'F32', shape: [3], data_offsets: [2 * count, 2 * count + 12] },
    }, Buffer.concat([Buffer.from(halves.buffer), Buffer.from(f32.buffer)])));
    const file = await openSafetensors(path);
    try {
      const pieces: [number, number][] = [];
      const back = new Float32Array(count).fill(NaN);
      await file.readPieces('h')((values, first) => {
        pieces.push([first, values.length]);
        back.set(values, first);
      });
      expect(pieces).toEqual([[0, PIECE_BYTES / 2], [PIECE_BYTES / 2, 3]]);
      for (const i of [0, 1, PIECE_BYTES / 2 - 1, PIECE_BYTES / 2, count - 1]) expect(back[i]).toBe(halfToFloat(halves[i]!));
      expect(back.every((v, i) => v === halfToFloat(halves[i]!))).toBe(true);
      expect([...(await file.read('f')).data]).toEqual([...f32]);
    } finally {
      await file.close();
    }
  });

  it('writes tensors piece by piece, and refuses pieces that do not fill the shape, leaving no file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'thaw-st-'));
    const path = join(dir, 'streamed.safetensors');
    const values = Float32Array.from({ length: 10 }, (_, i) => (i + 1) * 0.75 - 4.1);
    await writeSafetensorsPieces(path, new Map([['v', { shape: [2, 5], pieces: () => [values.subarray(0, 3), values.subarray(3, 4), values.subarray(4)] }]]));
    expect([...(await readSafetensors(path)).tensors.get('v')!.data]).toEqual([...values]);
    const short = join(dir, 'short.safetensors');
    await expect(writeSafetensorsPieces(short, new Map([['v', { shape: [2, 5], pieces: () => [values.subarray(0, 9)] }]]))).rejects.toThrow(/'v' has shape \[2,5\] but 9 values/);
    await expect(writeSafetensorsPieces(short, new Map([['v', { shape: [2, 5], pieces: () => [values, values] }]]))).rejects.toThrow(/'v' has shape \[2,5\] but more than 10 values/);
    expect((await readdir(dir)).sort()).toEqual(['streamed.safetensors']);
  });
});
