import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputFileError } from '../src/errors/input-error.js';
import { PickleWriter } from '../src/formats/pickle.js';
import { PIECE_BYTES, type HostTensor } from '../src/formats/safetensors.js';
import { openTorchStateDict, readTorchStateDict, writeTorchStateDict } from '../src/formats/torch-bin.js';
import { writeZip } from '../src/formats/zip.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));

async function tempPath(name: string): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'thaw-torch-')), name);
}

/** Deterministic values in ±(0.01…5), never zero. */
function randomValues(count: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const unit = state / 2 ** 32;
    return (unit < 0.5 ? -1 : 1) * (0.01 + 5 * Math.abs(unit - 0.5));
  });
}

function bits(values: Float32Array): number[] {
  return [...new Uint32Array(values.buffer, values.byteOffset, values.length)];
}

/** The local entries of a zip file in order: name and where the data starts. */
function localEntries(bytes: Buffer): { name: string; dataStart: number }[] {
  const out: { name: string; dataStart: number }[] = [];
  for (let at = 0; bytes.readUInt32LE(at) === 0x04034b50; ) {
    const nameLength = bytes.readUInt16LE(at + 26);
    const dataStart = at + 30 + nameLength + bytes.readUInt16LE(at + 28);
    out.push({ name: bytes.toString('utf8', at + 30, at + 30 + nameLength), dataStart });
    at = dataStart + bytes.readUInt32LE(at + 18);
  }
  return out;
}

/** Offset of the central directory record of `name` (the name's last occurrence follows it). */
function centralRecord(bytes: Buffer, name: string): number {
  const at = bytes.lastIndexOf(Buffer.from(name)) - 46;
  expect(bytes.readUInt32LE(at)).toBe(0x02014b50);
  return at;
}

/** Asserts that reading `path` fails with an InputFileError naming the file and matching every part. */
async function expectRejected(path: string, ...parts: (string | RegExp)[]): Promise<void> {
  const error = await readTorchStateDict(path).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(InputFileError);
  const { message } = error as InputFileError;
  expect(message.startsWith(`${path}: `)).toBe(true);
  for (const part of parts) expect(message).toMatch(part);
}

interface View {
  name: string;
  key: string;
  numel: number;
  offset?: number;
  size: number[];
  stride: number[];
}

/** A protocol 2 data.pkl as torch.save writes it, for views of float storages. */
function statePickle(views: View[]): Buffer {
  const pickle = new PickleWriter().global('collections', 'OrderedDict').mark().tuple().reduce().mark();
  for (const v of views) {
    pickle.string(v.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    pickle.mark().string('storage').global('torch', 'FloatStorage').string(v.key).string('cpu').int(v.numel).tuple().persistentId();
    pickle.int(v.offset ?? 0).mark();
    v.size.forEach((n) => pickle.int(n));
    pickle.tuple().mark();
    v.stride.forEach((n) => pickle.int(n));
    pickle.tuple().bool(false).global('collections', 'OrderedDict').mark().tuple().reduce().tuple().reduce();
  }
  return pickle.setItems().stop();
}

/** A torch.save-like archive at a fresh path, from entry names (under archive/) and their bytes. */
async function archive(entries: Record<string, Uint8Array | string>): Promise<string> {
  const path = await tempPath('model.bin');
  await writeZip(path, Object.entries(entries).map(([name, data]) => ({ name: `archive/${name}`, data: typeof data === 'string' ? Buffer.from(data) : data })));
  return path;
}

function floatBytes(values: number[]): Buffer {
  return Buffer.from(new Float32Array(values).buffer);
}

describe('torch.save state dicts', () => {
  it('round-trips tensors bit for bit, in order, with 64-byte aligned storages', async () => {
    const path = await tempPath('adapter.bin');
    // quiet and signalling NaNs with payloads, ±Inf, −0, the smallest subnormal
    const special = new Float32Array(new Uint32Array([0x7fc00001, 0xffc12345, 0x7fa00001, 0x7f800000, 0xff800000, 0x80000000, 0x00000001]).buffer);
    const tensors = new Map<string, HostTensor>([
      ['encoder.layer.0.adapter.down.weight', { shape: [3, 4], data: randomValues(12, 1) }],
      ['encoder.layer.0.adapter.down.bias', { shape: [7], data: randomValues(7, 2) }],
      ['scale', { shape: [], data: randomValues(1, 3) }],
      ['empty', { shape: [0, 4], data: new Float32Array(0) }],
      ['cube', { shape: [2, 3, 5], data: randomValues(30, 4) }],
      ['special', { shape: [7], data: special }],
    ]);
    await writeTorchStateDict(path, tensors);
    const back = await readTorchStateDict(path);
    expect(back.skipped).toEqual([]);
    expect([...back.tensors.keys()]).toEqual([...tensors.keys()]);
    for (const [name, t] of tensors) {
      expect(back.tensors.get(name)!.shape).toEqual(t.shape);
      expect(bits(back.tensors.get(name)!.data)).toEqual(bits(t.data));
    }
    const entries = localEntries(await readFile(path));
    expect(entries.map((e) => e.name)).toEqual([
      'archive/data.pkl', 'archive/byteorder', ...[0, 1, 2, 3, 4, 5].map((i) => `archive/data/${i}`), 'archive/version',
    ]);
    for (const e of entries) expect(e.dataStart % 64).toBe(0);
  });

  it('refuses to write a tensor whose values do not fill its shape', async () => {
    const path = await tempPath('bad.bin');
    await expect(writeTorchStateDict(path, new Map([['w', { shape: [2, 2], data: randomValues(3, 5) }]]))).rejects.toThrow(/'w' has shape \[2,2\] but 3 values/);
  });

  // Both written by Python's pickle module (make_torch_bin.py), not by our writer: state_dict.bin
  // as torch.save lays it out (protocol 2), state_dict_zip64.bin pickled with protocol 5 and packed
  // by Info-ZIP with ZIP64 records and deflated entries under a folder named after the file.
  it.each(['state_dict.bin', 'state_dict_zip64.bin'])('reads %s written by a real pickler', async (file) => {
    const { tensors, skipped } = await readTorchStateDict(join(fixtures, file));
    expect(skipped).toEqual(['embeddings.position_ids', 'mask']);
    const expected: [string, number[], number[]][] = [
      ['layer.weight', [2, 3], [0.5, -1.25, 3, Math.fround(0.001), -7.5, 2]],
      ['layer.weight_t', [3, 2], [1.5, 4.25, 2.5, -5.75, -3.5, 6.125]],
      ['shared.a', [4], [-1.75, -1.25, -0.75, -0.25]],
      ['shared.b', [2, 3], [-0.25, 0.75, 1.75, 0.25, 1.25, 2.25]],
      ['shared.scale', [], [2.25]],
      ['half.weight', [5], [1, -2.5, 65504, 2 ** -24, 0.333251953125]],
      ['bf16.weight', [3], [1.5, -3.140625, 256]],
      ['double.bias', [2], [Math.fround(0.1), -1e10]],
      ['adapter.up.weight', [2, 1], [0.125, -0.0625]],
    ];
    expect([...tensors.keys()]).toEqual(expected.map(([name]) => name));
    for (const [name, shape, values] of expected) {
      expect(tensors.get(name)!.shape, name).toEqual(shape);
      expect([...tensors.get(name)!.data], name).toEqual(values);
    }
  });

  // Written by PyTorch's torch.save itself (make_torch_bin.py, PyTorch 1.13): views saved
  // without .contiguous() keep their storage and strides, expanded ones with stride 0.
  it('streams a stored tensor by position in pieces of at most PIECE_BYTES; a transposed view comes whole', async () => {
    const path = await tempPath('pieces.bin');
    const count = PIECE_BYTES / 4 + 5;
    const big = randomValues(count, 11);
    const small = randomValues(6, 12);
    await writeTorchStateDict(path, new Map([['big', { shape: [count], data: big }], ['small', { shape: [2, 3], data: small }]]));
    const file = await openTorchStateDict(path);
    try {
      const pieces: [number, number][] = [];
      const back = new Float32Array(count).fill(NaN);
      await file.readPieces('big')((values, first) => {
        pieces.push([first, values.length]);
        back.set(values, first);
      });
      expect(pieces).toEqual([[0, PIECE_BYTES / 4], [PIECE_BYTES / 4, 5]]);
      expect(bits(back)).toEqual(bits(big));
      expect(file.shapes.get('small')).toEqual([2, 3]);
    } finally {
      await file.close();
    }
    // The same bytes as the transpose of a [3, 2] view: gathered from its storage read whole.
    const transposed = await archive({ 'data.pkl': statePickle([{ name: 'w', key: '0', numel: 6, offset: 0, size: [3, 2], stride: [1, 3] }]), 'data/0': Buffer.from(small.buffer) });
    const view = await openTorchStateDict(transposed);
    try {
      const pieces: { first: number; values: number[] }[] = [];
      await view.readPieces('w')((values, first) => void pieces.push({ first, values: [...values] }));
      expect(pieces).toEqual([{ first: 0, values: [small[0], small[3], small[1], small[4], small[2], small[5]] }]);
    } finally {
      await view.close();
    }
  });

  it('reads views torch.save wrote as they are: expanded (stride 0), transposed, sliced', async () => {
    const { tensors, skipped } = await readTorchStateDict(join(fixtures, 'views.bin'));
    expect(skipped).toEqual([]);
    const expected: [string, number[], number[]][] = [
      ['expanded.row', [4, 3], [1.5, -2, 3.25, 1.5, -2, 3.25, 1.5, -2, 3.25, 1.5, -2, 3.25]],
      ['expanded.column', [2, 3], [0.25, 0.25, 0.25, -4, -4, -4]],
      ['expanded.scalar', [2, 3], [0.75, 0.75, 0.75, 0.75, 0.75, 0.75]],
      ['transposed', [3, 2], [0, 3, 1, 4, 2, 5]],
      ['sliced', [3, 2], [0.5, 1, 2.5, 3, 4.5, 5]],
      ['plain', [8], [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]],
    ];
    expect([...tensors.keys()]).toEqual(expected.map(([name]) => name));
    for (const [name, shape, values] of expected) {
      expect(tensors.get(name)!.shape, name).toEqual(shape);
      expect([...tensors.get(name)!.data], name).toEqual(values);
    }
  });
});

describe('torch.save state dicts: malformed input', () => {
  const weight: View = { name: 'w', key: '0', numel: 6, size: [2, 3], stride: [3, 1] };
  const weightBytes = floatBytes([1.5, -2.5, 3.5, -4.5, 5.5, -6.5]);

  it('empty file', async () => {
    const path = await tempPath('empty.bin');
    await writeFile(path, '');
    await expectRejected(path, 'the file is empty');
  });

  it('not a zip archive', async () => {
    const path = await tempPath('notes.bin');
    await writeFile(path, 'hello, this is text');
    await expectRejected(path, 'not a torch.save file', '68656c6c');
  });

  it('legacy (pre-1.6) torch.save file', async () => {
    const path = await tempPath('legacy.bin');
    // What torch.save wrote before 1.6: the pickled magic number, protocol version, sys_info…
    await writeFile(path, Buffer.concat([Buffer.from('80028a0a6cfc9c46f9206aa85019', 'hex'), Buffer.from('.\x80\x02M\xe9\x03.', 'latin1')]));
    await expectRejected(path, 'legacy torch.save format (PyTorch < 1.6', 'save it again with torch.save', 'safetensors');
  });

  it('truncated file', async () => {
    const whole = await readFile(join(fixtures, 'state_dict.bin'));
    const path = await tempPath('cut.bin');
    await writeFile(path, whole.subarray(0, Math.floor(whole.length * 0.6)));
    await expectRejected(path, 'no end of central directory record', 'truncated');
  });

  it('zip without data.pkl', async () => {
    const path = await archive({ version: '3\n', 'data/0': weightBytes });
    await expectRejected(path, 'no <folder>/data.pkl entry', 'archive/version, archive/data/0');
  });

  it('CRC mismatch', async () => {
    const path = await tempPath('crc.bin');
    await writeTorchStateDict(path, new Map([['w', { shape: [6], data: new Float32Array([1.5, -2.5, 3.5, -4.5, 5.5, -6.5]) }]]));
    const bytes = await readFile(path);
    const at = bytes.indexOf(weightBytes);
    expect(at).toBeGreaterThan(0);
    bytes[at + 9]! ^= 0x01;
    await writeFile(path, bytes);
    await expectRejected(path, "entry 'archive/data/0' fails its CRC-32 check");
  });

  it('missing storage entry', async () => {
    const path = await archive({ 'data.pkl': statePickle([{ ...weight, key: '7' }]), 'data/0': weightBytes });
    await expectRejected(path, "tensor 'w' needs storage archive/data/7, which the archive lacks");
  });

  it('view reaching past its storage (size, stride and offset)', async () => {
    const path = await archive({ 'data.pkl': statePickle([{ ...weight, offset: 2, size: [2, 2], stride: [1, 3] }]), 'data/0': weightBytes });
    await expectRejected(path, 'archive/data.pkl', 'torch._utils._rebuild_tensor_v2', 'from offset 2 reaches element 6', "storage '0', which holds 6");
  });

  it('storage entry shorter than its declared elements', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes.subarray(0, 20) });
    await expectRejected(path, 'storage archive/data/0 holds 20 bytes, but 6 FloatStorage elements take 24');
  });

  it('expanded views are read within the bound: 4 times the elements the storages hold, in all', async () => {
    // 24 elements from a storage of 6: exactly the bound.
    const wide = await archive({ 'data.pkl': statePickle([{ ...weight, size: [4, 6], stride: [0, 1] }]), 'data/0': weightBytes });
    const { tensors } = await readTorchStateDict(wide);
    expect([...tensors.get('w')!.data]).toEqual(Array.from({ length: 4 }, () => [1.5, -2.5, 3.5, -4.5, 5.5, -6.5]).flat());
    const wider = await archive({ 'data.pkl': statePickle([{ ...weight, size: [5, 6], stride: [0, 1] }]), 'data/0': weightBytes });
    await expectRejected(wider, "its tensors copy more than 4 times the elements its storages hold (at 'w')");
    const huge = await archive({ 'data.pkl': statePickle([{ ...weight, size: [2 ** 20, 2 ** 20], stride: [0, 0] }]), 'data/0': weightBytes });
    await expectRejected(huge, "its tensors copy more than 4 times the elements its storages hold (at 'w')");
  });

  it('forbidden global os.system via GLOBAL', async () => {
    const pickle = new PickleWriter().global('os', 'system').mark().string('touch /tmp/pwned').tuple().reduce().stop();
    const path = await archive({ 'data.pkl': pickle });
    await expectRejected(path, 'archive/data.pkl: global os.system is not allowed', 'at byte 2');
  });

  it('forbidden global os.system via STACK_GLOBAL', async () => {
    // protocol 4: SHORT_BINUNICODE 'os', SHORT_BINUNICODE 'system', STACK_GLOBAL, SHORT_BINUNICODE 'ls', TUPLE1, REDUCE, STOP
    const pickle = Buffer.from('\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02ls\x85R.', 'latin1');
    const path = await archive({ 'data.pkl': pickle });
    await expectRejected(path, 'archive/data.pkl: global os.system is not allowed', 'at byte 14');
  });

  it('forbidden global builtins.eval', async () => {
    const pickle = new PickleWriter().global('builtins', 'eval').mark().string('1+1').tuple().reduce().stop();
    const path = await archive({ 'data.pkl': pickle });
    await expectRejected(path, 'global builtins.eval is not allowed');
  });

  it('unknown opcode', async () => {
    // PROTO 2, then INST ('i'), which would import and instantiate a class
    const path = await archive({ 'data.pkl': Buffer.from('\x80\x02ios\nsystem\n.', 'latin1') });
    await expectRejected(path, "unsupported pickle opcode 0x69 'i' (at byte 2)");
  });

  it('truncated pickle', async () => {
    const pickle = statePickle([weight]);
    const path = await archive({ 'data.pkl': pickle.subarray(0, 60), 'data/0': weightBytes });
    await expectRejected(path, 'archive/data.pkl', /truncated/);
  });

  it('a string length past 2^53, quoted with its exact digits', async () => {
    // PROTO 2, then BINUNICODE8 (0x8d) with a length of 2^60 and 3 bytes after it.
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(2n ** 60n);
    const path = await archive({ 'data.pkl': Buffer.concat([Buffer.from([0x80, 0x02, 0x8d]), length, Buffer.from('ab.')]) });
    await expectRejected(path, 'truncated: the opcode needs 1152921504606846976 bytes but 3 remain');
  });

  it('wrong byteorder', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), byteorder: 'big', 'data/0': weightBytes });
    await expectRejected(path, 'archive/byteorder is "big"; only little-endian archives are supported');
  });

  it('state dict value that is not a tensor', async () => {
    const pickle = new PickleWriter().global('collections', 'OrderedDict').mark().tuple().reduce().mark().string('epoch').int(3).setItems().stop();
    const path = await archive({ 'data.pkl': pickle });
    await expectRejected(path, "'epoch' is of type int, not a tensor");
  });

  it('persistent id whose storage type is a string, not a storage class', async () => {
    const pickle = new PickleWriter().global('collections', 'OrderedDict').mark().tuple().reduce().mark()
      .string('w').mark().string('storage').string('FloatStorage').string('0').string('cpu').int(6).tuple().persistentId()
      .setItems().stop();
    const path = await archive({ 'data.pkl': pickle, 'data/0': weightBytes });
    await expectRejected(path, 'persistent id: storage id (storage, FloatStorage, 0, cpu, 6) is malformed');
  });

  it('unsupported compression method', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes });
    const bytes = await readFile(path);
    bytes.writeUInt16LE(12, centralRecord(bytes, 'archive/data.pkl') + 10); // bzip2
    await writeFile(path, bytes);
    await expectRejected(path, "entry 'archive/data.pkl' uses compression method 12");
  });

  it('encrypted entry', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes });
    const bytes = await readFile(path);
    const at = centralRecord(bytes, 'archive/data/0');
    bytes.writeUInt16LE(bytes.readUInt16LE(at + 8) | 1, at + 8);
    await writeFile(path, bytes);
    await expectRejected(path, "entry 'archive/data/0' is encrypted");
  });

  it('duplicate entry names', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes, 'data/1': weightBytes });
    const bytes = await readFile(path);
    bytes.write('0', centralRecord(bytes, 'archive/data/1') + 46 + 'archive/data/'.length, 'latin1');
    await writeFile(path, bytes);
    await expectRejected(path, "two entries named 'archive/data/0'");
  });

  it('two directory entries sharing one local header (an overlapping zip bomb)', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes, 'data/1': weightBytes });
    const bytes = await readFile(path);
    const first = bytes.readUInt32LE(centralRecord(bytes, 'archive/data/0') + 42);
    bytes.writeUInt32LE(first, centralRecord(bytes, 'archive/data/1') + 42);
    await writeFile(path, bytes);
    await expectRejected(path, "entries 'archive/data/0' and 'archive/data/1' share the local header at byte");
  });

  it('a directory entry pointing at another entry\'s local header', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes, 'data/1': weightBytes });
    const bytes = await readFile(path);
    // Swap the two storages' local header offsets: each name now points at the other's header.
    const [a, b] = [centralRecord(bytes, 'archive/data/0') + 42, centralRecord(bytes, 'archive/data/1') + 42];
    const [offsetA, offsetB] = [bytes.readUInt32LE(a), bytes.readUInt32LE(b)];
    bytes.writeUInt32LE(offsetB, a);
    bytes.writeUInt32LE(offsetA, b);
    await writeFile(path, bytes);
    await expectRejected(path, "entry 'archive/data/0' points at the local header of 'archive/data/1'");
  });

  it('many names over one storage: tied views are read, each name counting against the bound; a flood is refused', async () => {
    const tied = await archive({ 'data.pkl': statePickle([weight, { ...weight, name: 'w.tied' }]), 'data/0': weightBytes });
    const { tensors } = await readTorchStateDict(tied);
    expect([...tensors.get('w.tied')!.data]).toEqual([1.5, -2.5, 3.5, -4.5, 5.5, -6.5]);
    const flood = await archive({ 'data.pkl': statePickle(Array.from({ length: 5 }, (_, i) => ({ ...weight, name: `w${i}`, size: [6], stride: [1] }))), 'data/0': weightBytes });
    await expectRejected(flood, "copy more than 4 times the elements its storages hold (at 'w4')");
  });

  it('entry offset beyond the file', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes });
    const bytes = await readFile(path);
    bytes.writeUInt32LE(0x7fff0000, centralRecord(bytes, 'archive/data/0') + 42);
    await writeFile(path, bytes);
    await expectRejected(path, "entry 'archive/data/0' has its local header at byte 2147418112, past the entries' end");
  });

  it('central directory offset beyond the file', async () => {
    const path = await archive({ 'data.pkl': statePickle([weight]), 'data/0': weightBytes });
    const bytes = await readFile(path);
    bytes.writeUInt32LE(bytes.length, bytes.length - 22 + 16);
    await writeFile(path, bytes);
    await expectRejected(path, /the central directory \(\d+ bytes at byte \d+\) runs past its end record/);
  });

  it('a ZIP64 field past 2^53, quoted with its exact digits', async () => {
    const path = await tempPath('huge-zip64.bin');
    const bytes = await readFile(join(fixtures, 'state_dict_zip64.bin'));
    const end64 = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x06, 0x06]));
    bytes.writeBigUInt64LE(2n ** 60n, end64 + 48);
    await writeFile(path, bytes);
    await expectRejected(path, 'the ZIP64 central directory offset is 1152921504606846976, larger than any file');
  });
});
