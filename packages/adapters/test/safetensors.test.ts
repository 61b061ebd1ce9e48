import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors, SafetensorsError, writeSafetensors, type HostTensor } from '../src/index.js';

/** A file from a header object and raw data bytes, as another writer might produce it. */
function rawFile(header: object, data: Buffer, pad = true): Buffer {
  let json = JSON.stringify(header);
  if (pad) json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
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
      ['dtype', rawFile({ x: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8)), /tensor 'x' has dtype C64/],
      ['size', rawFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /needs 12 bytes; its offsets span 8/],
      ['hole', rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8)), /starts at byte 4 but the previous data ends at 0/],
      ['trailing', rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, Buffer.alloc(8)), /cover 4 of 8 data bytes/],
      ['outside', rawFile({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 40] } }, Buffer.alloc(8)), /outside the 8 data bytes/],
    ];
    for (const [name, bytes, message] of cases) {
      const path = join(dir, `${name}.safetensors`);
      await writeFile(path, bytes);
      await expect(readSafetensors(path)).rejects.toThrow(SafetensorsError);
      await expect(readSafetensors(path)).rejects.toThrow(message);
    }
    await expect(readSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: cannot read/);
  });
});
