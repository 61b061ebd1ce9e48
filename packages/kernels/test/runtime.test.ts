import { describe, expect, it } from 'vitest';
import { axpby, fisherAccumulate, Gpu, KernelLaunchError, matmul, rowChunks, sizeClass } from '../src/index.js';
import { poisoned, randomArray, rng, useGpu } from './helpers.js';

describe('launch-site errors name the kernel and the binding', () => {
  const gpu = useGpu();
  const launchError = (launch: () => void): string => {
    try {
      launch();
    } catch (e) {
      expect(e).toBeInstanceOf(KernelLaunchError);
      return (e as Error).message;
    }
    throw new Error('expected a KernelLaunchError');
  };

  it('a wrong binding name', () => {
    const g = gpu();
    const x = g.alloc(64);
    const message = launchError(() =>
      g.kernel('fisher', 'accumulate').launch({ bindings: { fisher: x, gradient: x }, uniforms: { n: 4, scale: 1 }, workgroups: [1] }));
    expect(message).toMatch(/^fisher\.accumulate\{WG=256\}: no storage binding 'gradient' \(bindings: fisher, grad\)/);
    g.release(x);
  });

  it('a missing binding', () => {
    const g = gpu();
    const x = g.alloc(64);
    const message = launchError(() =>
      g.kernel('fisher', 'accumulate').launch({ bindings: { fisher: x }, uniforms: { n: 4, scale: 1 }, workgroups: [1] }));
    expect(message).toMatch(/fisher\.accumulate.*: binding 'grad' \(array<f32>\) is missing/);
    g.release(x);
  });

  it('a buffer too small for the shape', () => {
    const g = gpu();
    const [a, b, c] = [g.alloc(6 * 4), g.alloc(6 * 4), g.alloc(3 * 4)];
    const message = launchError(() => matmul(g, { a, b, c, M: 2, N: 2, K: 3 }));
    expect(message).toMatch(/^matmul(_subgroups)?\.matmul\{.*\}: binding 'c' holds 12 bytes; this shape needs 16/);
    for (const x of [a, b, c]) g.release(x);
  });

  it('a uniform field that does not exist, and one that is missing', () => {
    const g = gpu();
    const x = g.alloc(64);
    const bindings = { fisher: x, grad: g.alloc(64) };
    expect(launchError(() => g.kernel('fisher', 'accumulate').launch({ bindings, uniforms: { n: 4, scale: 1, alpha: 2 }, workgroups: [1] })))
      .toMatch(/fisher\.accumulate.*: uniform struct AccumulateParams has no field 'alpha' \(fields: n, scale, offset\)/);
    expect(launchError(() => g.kernel('fisher', 'accumulate').launch({ bindings, uniforms: { n: 4 }, workgroups: [1] })))
      .toMatch(/uniform field AccumulateParams\.scale is missing/);
    expect(launchError(() => g.kernel('fisher', 'accumulate').launch({ bindings, uniforms: { n: -1, scale: 1 }, workgroups: [1] })))
      .toMatch(/AccumulateParams\.n is u32; got -1/);
    g.release(x);
    g.release(bindings.grad);
  });

  it('an unknown override, kernel or entry point', () => {
    const g = gpu();
    expect(launchError(() => g.kernel('matmul', 'matmul', { TRANSPOSE: true }))).toMatch(/no override constant 'TRANSPOSE' \(it has: TRANS_A, TRANS_B, ALIGNED, HAS_BIAS, ACTIVATION, SAVE_PRE, HAS_ADDEND, LATE_ACTIVATION, ROW_SUMS, ROW_SUMS_RESUME\)/);
    expect(launchError(() => g.kernel('matmul', 'matmul', { TRANS_A: 1 }))).toMatch(/override 'TRANS_A' is bool; got 1/);
    expect(launchError(() => g.kernel('nonexistent', 'forward'))).toMatch(/no kernel file 'nonexistent\.wgsl'/);
    expect(launchError(() => g.kernel('matmul', 'main'))).toMatch(/no entry point 'main' \(entry points: matmul\)/);
  });

  it('a buffer that was already released', () => {
    const g = gpu();
    const [x, y] = [g.alloc(64), g.alloc(64)];
    g.release(y);
    expect(launchError(() => fisherAccumulate(g, { fisher: x, grad: y, n: 4, scale: 1 })))
      .toMatch(/binding 'grad' is a buffer that was already released/);
    g.release(x);
  });

  it('a binding larger than the device can bind', () => {
    const g = gpu();
    const huge = g.alloc(g.maxStorageBindingBytes + 4);
    const small = g.alloc(64);
    // The kernel itself (its launcher would bind the big buffer in chunks).
    expect(launchError(() => g.kernel('fisher', 'accumulate').launch({ bindings: { fisher: small, grad: huge }, uniforms: { n: 4, scale: 1 }, workgroups: [1] })))
      .toMatch(/binding 'grad' is \d+ bytes; this device binds at most \d+/);
    g.release(huge);
    g.release(small);
  });

  it('a writable binding aliased with another binding', () => {
    const g = gpu();
    const x = g.alloc(64);
    expect(launchError(() => fisherAccumulate(g, { fisher: x, grad: x, n: 4, scale: 1 })))
      .toMatch(/same buffer is bound to 'grad' and to the writable binding 'fisher'/);
    g.release(x);
  });
});

describe('runtime', () => {
  const gpu = useGpu();

  it('caches pipelines by specialization', () => {
    const g = gpu();
    const before = g.pipelineCount;
    const k1 = g.kernel('matmul', 'matmul', { TRANS_A: true });
    const k2 = g.kernel('matmul', 'matmul', { TRANS_A: true, TRANS_B: false });
    expect(k2).toBe(k1);
    expect(g.kernel('matmul', 'matmul', { TRANS_B: true })).not.toBe(k1);
    expect(g.pipelineCount).toBe(before + 2);
  });

  it('batches many dispatches into one submit', async () => {
    const g = gpu();
    const random = rng(1);
    const n = 1000;
    const fisher = g.upload(new Float32Array(n).fill(1));
    const grad = g.upload(randomArray(n, random));
    await g.sync();
    const submits = g.stats.submits;
    for (let i = 0; i < 50; i++) fisherAccumulate(g, { fisher, grad, n, scale: 0.5 });
    const out = await g.read(fisher);
    expect(g.stats.submits - submits).toBe(1);
    expect(out[0]).toBeGreaterThan(1);
    g.release(fisher);
    g.release(grad);
  });

  it('recycles buffers by size class and keeps live bytes balanced', async () => {
    const g = gpu();
    await g.sync();
    const before = g.pool.snapshot();
    for (let step = 0; step < 5; step++) {
      const buffers = [g.alloc(1000), g.alloc(1024), g.alloc(40_000)];
      for (const b of buffers) g.release(b);
      g.flush();
    }
    const after = g.pool.snapshot();
    expect(after.liveBytes).toBe(before.liveBytes);
    // 1000 and 1024 bytes share a class: at most two new buffers were ever created.
    expect(after.created - before.created).toBeLessThanOrEqual(3);
    expect(sizeClass(1000)).toBe(sizeClass(1024));
    expect(sizeClass(40_000)).toBeGreaterThanOrEqual(40_000);
    expect(sizeClass(40_000)).toBeLessThanOrEqual(40_000 * 1.25);
  });

  it('times passes with timestamps when the adapter has them', async () => {
    const g = gpu();
    const random = rng(2);
    const [M, N, K] = [64, 64, 64];
    const a = g.upload(randomArray(M * K, random));
    const b = g.upload(randomArray(K * N, random));
    const c = g.alloc(M * N * 4);
    // 100 launches: long enough for coarse (quantized) timestamps on fast GPUs.
    const ms = await g.time(() => {
      for (let i = 0; i < 100; i++) matmul(g, { a, b, c, M, N, K });
    });
    expect(ms).toBeGreaterThan(0);
    expect(ms).toBeLessThan(60_000);
    for (const x of [a, b, c]) g.release(x);
  });
});

describe('profiling', () => {
  const gpu = useGpu();

  it('times every dispatch and groups the time by kernel', async () => {
    const g = gpu();
    const random = rng(12);
    const n = 4096;
    const [x, y] = [g.upload(randomArray(n, random)), g.upload(randomArray(n, random))];
    const c = g.alloc(64 * 64 * 4);
    const times = await g.profile(() => {
      for (let i = 0; i < 3; i++) fisherAccumulate(g, { fisher: x, grad: y, n, scale: 1 });
      matmul(g, { a: x, b: y, c, M: 64, N: 64, K: 64 });
    });
    const names = [...times.keys()];
    expect(names).toHaveLength(2);
    expect(names).toContain('fisher.accumulate{WG=256}');
    expect(names.some((k) => k.startsWith('matmul'))).toBe(true);
    for (const ms of times.values()) expect(ms).toBeGreaterThanOrEqual(0);
    expect([...times.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    for (const b of [x, y, c]) g.release(b);
  });
});

describe('grids past 65535 workgroups are folded', () => {
  const gpu = useGpu();

  it('layernorm and segment sums over 70000 rows', async () => {
    const { layerNormForward, segmentTraces } = await import('../src/index.js');
    const { layerNormForwardReference } = await import('../src/reference/index.js');
    const g = gpu();
    const random = rng(7);
    const [rows, D] = [70_000, 3];
    const x = randomArray(rows * D, random);
    const [gx, gg, gb] = [g.upload(x), g.upload(new Float32Array([1, 2, 3])), g.upload(new Float32Array([0.5, 0.5, 0.5]))];
    const [gy, gm, gr, gt] = [g.alloc(4 * rows * D), g.alloc(4 * rows), g.alloc(4 * rows), g.alloc(4 * rows)];
    layerNormForward(g, { x: gx, gamma: gg, beta: gb, y: gy, mean: gm, rstd: gr, rows, D });
    segmentTraces(g, { values: gx, traces: gt, segments: Array.from({ length: rows }, (_, i) => ({ offset: i * D, length: D })) });
    const [y, traces] = [await g.read(gy), await g.read(gt)];
    const want = layerNormForwardReference(x, [1, 2, 3], [0.5, 0.5, 0.5], rows, D).y;
    for (const row of [0, 65_534, 65_535, 65_536, rows - 1]) {
      for (let d = 0; d < D; d++) expect(y[row * D + d]).toBeCloseTo(want[row * D + d]!, 4);
      expect(traces[row]).toBeCloseTo(x[row * D]! + x[row * D + 1]! + x[row * D + 2]!, 5);
    }
    for (const b of [gx, gg, gb, gy, gm, gr, gt]) g.release(b);
  });
});

describe('device errors become exceptions with context', () => {
  const gpu = useGpu();

  it('a pipeline the device rejects is reported at the next sync, naming the kernel', async () => {
    const g = gpu();
    // 2048 threads per workgroup exceeds every adapter's limit; only the device can tell.
    g.kernel('fisher', 'accumulate', { WG: 2048 });
    await expect(g.sync()).rejects.toThrow(/GPU error in a batch with fisher\.accumulate\{WG=2048\}/);
    await g.sync(); // reported once, then cleared
  });

  it('a lost device fails the next launch with DeviceLostError', async () => {
    const { Gpu, DeviceLostError } = await import('../src/index.js');
    const lost = await Gpu.create();
    const x = lost.alloc(64);
    const y = lost.alloc(64);
    fisherAccumulate(lost, { fisher: x, grad: y, n: 4, scale: 1 });
    await lost.sync();
    lost.device.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(() => fisherAccumulate(lost, { fisher: x, grad: y, n: 4, scale: 1 })).toThrow(DeviceLostError);
    expect(() => fisherAccumulate(lost, { fisher: x, grad: y, n: 4, scale: 1 })).toThrow(/WebGPU device lost \(destroyed.*last kernels submitted: fisher\.accumulate\{WG=256\}/);
  });
});

describe('kernels that need device features', () => {
  it('refuses a kernel whose `enable` the device lacks, naming the feature', async () => {
    const { Gpu, loadManifest, reflectKernelFile } = await import('../src/index.js');
    const source = '// half.wgsl — test.\n// MATH: y = x.\n// LAYOUT: flat.\nenable f16;\n' +
      '@group(0) @binding(0) var<storage, read_write> y: array<f16>;\n@compute @workgroup_size(1) fn main() { y[0] = 1.0h; }\n';
    const half = reflectKernelFile('half.wgsl', source);
    expect(half.enables).toEqual(['f16']);
    const base = loadManifest();
    // The runtime never requests shader-f16, so no device here offers `f16`.
    const g = await Gpu.create({ manifest: { ...base, kernels: [...base.kernels, half] } });
    try {
      expect(g.supports('half')).toBe(false);
      expect(() => g.kernel('half', 'main')).toThrow(/half\.main: needs the device feature\(s\) shader-f16, which this device \(.*\) does not have/);
      expect(g.supports('matmul')).toBe(true);
    } finally {
      await g.destroy();
    }
  });
});

describe('buffer views', () => {
  const gpu = useGpu();

  it('a kernel launched on views writes only their ranges; reads, writes and copies honour offsets', async () => {
    const g = gpu();
    const align = g.device.limits.minStorageBufferOffsetAlignment;
    const n = 37; // not a multiple of the workgroup
    const stride = Math.ceil((4 * n + 64) / align) * align; // NaN gaps between the views
    const arena = g.upload(new Float32Array((3 * stride) / 4).fill(Number.NaN));
    const [x, y, out] = [0, 1, 2].map((k) => g.view(arena, k * stride, 4 * n, `v${k}`)) as [typeof arena, typeof arena, typeof arena];
    // Read-only views of one buffer may share a dispatch; a written one may
    // not (WebGPU checks usages per buffer): out is a view of another buffer.
    const outArena = g.upload(new Float32Array((3 * stride) / 4).fill(Number.NaN));
    const outView = g.view(outArena, stride, 4 * n);
    const xs = Float32Array.from({ length: n }, (_, i) => i);
    const ys = Float32Array.from({ length: n }, (_, i) => 100 + i);
    g.write(x, xs);
    g.write(y, ys);
    axpby(g, { x, y, out: outView, n, alpha: 2, beta: -1 });
    expect(Array.from(await g.read(outView))).toEqual(Array.from(xs, (v, i) => 2 * v - ys[i]!));
    expect(Array.from(await g.read(x))).toEqual(Array.from(xs));
    const all = await g.read(arena);
    for (let k = 0; k < 3; k++) for (let i = n; i < stride / 4; i++) expect(all[(k * stride) / 4 + i]).toBeNaN();
    const outAll = await g.read(outArena);
    for (let i = 0; i < (3 * stride) / 4; i++) if (i < stride / 4 || i >= stride / 4 + n) expect(outAll[i]).toBeNaN();
    g.release(outView);
    g.release(outArena);
    // A copy between views at offsets inside them.
    const copyTarget = g.alloc(4 * n);
    g.copy(y, copyTarget, 8, 4, 0);
    expect(Array.from((await g.read(copyTarget)).slice(0, 2))).toEqual([101, 102]);
    g.copy(copyTarget, x, 4, 0, 8);
    expect((await g.read(x))[2]).toBe(101);
    expect(() => g.copy(copyTarget, x, 4 * n, 0, 4)).toThrow(/out of range/);
    for (const v of [x, y, out]) g.release(v);
    expect(() => g.release(x)).toThrow(/released twice/);
    g.release(copyTarget);
    g.release(arena);
  });

  it('refuses a written view with another view of its buffer, misaligned views, views past the end and views of released buffers', async () => {
    const g = gpu();
    const align = Math.max(g.device.limits.minStorageBufferOffsetAlignment, 64);
    const arena = g.alloc(2 * align + 64);
    const a = g.view(arena, 0, 2 * align);
    const b = g.view(arena, align, 64);
    const c = g.view(arena, 2 * align, 64);
    expect(() => fisherAccumulate(g, { fisher: a, grad: b, n: 4, scale: 1 })).toThrow(/same buffer is bound to 'grad' and to the writable binding 'fisher'/);
    // Disjoint ranges too: WebGPU checks usages per buffer.
    expect(() => fisherAccumulate(g, { fisher: c, grad: b, n: 4, scale: 1 })).toThrow(/views of one buffer count as the same buffer/);
    expect(() => g.view(arena, g.device.limits.minStorageBufferOffsetAlignment / 2, 16)).toThrow(/minStorageBufferOffsetAlignment/);
    expect(() => g.view(arena, 2 * align, 128)).toThrow(/does not fit/);
    await g.sync();
    for (const v of [a, b, c]) g.release(v);
    const d = g.view(arena, 0, 16);
    g.release(arena);
    expect(g.isLive(d)).toBe(false);
    expect(() => fisherAccumulate(g, { fisher: d, grad: d, n: 1, scale: 1 })).toThrow(/already released/);
    expect(() => g.view(arena, 0, 16)).toThrow(/already released/);
    g.release(d);
  });

  it('writes at a byte offset of a buffer or a view, leaving the rest; refuses misaligned or overrunning offsets', async () => {
    const g = gpu();
    const align = g.device.limits.minStorageBufferOffsetAlignment;
    const arena = g.upload(new Float32Array(align).fill(Number.NaN));
    const view = g.view(arena, align, 2 * align);
    g.write(view, new Float32Array([7.5, -8.25]), 12);
    g.write(arena, new Float32Array([1.5]), 4);
    const all = await g.read(arena);
    const expected = Array.from(all, (_, i) => (i === 1 ? 1.5 : i === align / 4 + 3 ? 7.5 : i === align / 4 + 4 ? -8.25 : Number.NaN));
    expect(Array.from(all)).toEqual(expected);
    expect(() => g.write(view, new Float32Array(2), 6)).toThrow(/at byte offset 6 into a \d+-byte buffer/);
    expect(() => g.write(view, new Float32Array(2), 2 * align - 4)).toThrow(/writing 8 bytes at byte offset/);
    g.release(view);
    g.release(arena);
  });
});

describe('row chunks of tensors larger than a binding', () => {
  it('split at rows, below the limit, on aligned offsets, covering every row once', () => {
    for (const [rows, rowBytes, limit, align] of [[1000, 12, 1024, 256], [333, 3072, 65536, 16], [100, 1000008, 40_000_000, 256], [50, 20, 100_000, 256]] as const) {
      const chunks = rowChunks(rows, rowBytes, limit, align);
      let next = 0;
      for (const c of chunks) {
        expect(c.first).toBe(next);
        expect(c.byteOffset).toBe(c.first * rowBytes);
        expect(c.bytes).toBe(c.count * rowBytes);
        expect(Math.ceil(c.bytes / 16) * 16).toBeLessThanOrEqual(limit);
        if (chunks.length > 1) expect(c.byteOffset % align).toBe(0);
        next += c.count;
      }
      expect(next).toBe(rows);
      if (rows * rowBytes <= limit) expect(chunks).toHaveLength(1);
      else expect(chunks.length).toBeGreaterThan(1);
    }
  });

  it('refuse rows that no aligned binding can hold', () => {
    expect(() => rowChunks(10, 4096, 2048, 16)).toThrow(/a block of 1 rows of 4096 bytes \(the least that starts every view at a multiple of 16 bytes\) does not fit a binding of 2048 bytes/);
    expect(() => rowChunks(1000, 12, 1000, 4096)).toThrow(/a block of 1024 rows of 12 bytes \(the least that starts every view at a multiple of 4096 bytes\)/);
    // Several widths cut along the same rows: every one starts aligned (lcm of 4 and 1 rows at 16 bytes).
    expect(rowChunks(100, 40, 400, 16, [12, 16]).map((c) => c.first)).toEqual([0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96]);
  });
});

describe('a runtime with its binding limit lowered', () => {
  const gpu = useGpu({ maxStorageBindingBytes: 4096 });
  const launchError = (launch: () => void): string => {
    try {
      launch();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected an error');
  };

  it('binds at most the cap, and forEachChunk hands out views that cover the tensor', async () => {
    const g = gpu();
    expect(g.maxStorageBindingBytes).toBe(4096);
    const rows = 100;
    const x = g.upload(Float32Array.from({ length: rows * 30 }, (_, i) => 0.5 + i));
    const y = poisoned(g, rows * 30);
    const seen: number[] = [];
    g.forEachChunk(rows, 120, { x, y }, (v, chunk) => {
      expect(v.x.bindSize).toBeLessThanOrEqual(4096);
      seen.push(chunk.count);
      axpby(g, { x: v.x, y: v.x, out: v.y, n: chunk.count * 30, alpha: 1, beta: 1 });
    });
    expect(seen.length).toBeGreaterThan(1);
    const got = await g.read(y);
    expect(got.every((value, i) => value === 2 * (0.5 + i))).toBe(true);
    for (const b of [x, y]) g.release(b);
  });

  it('rejects a whole buffer past the cap at launch, naming the binding', () => {
    const g = gpu();
    const big = g.alloc(8192);
    const small = g.alloc(64);
    expect(launchError(() => g.kernel('fisher', 'accumulate').launch({ bindings: { fisher: small, grad: big }, uniforms: { n: 4, scale: 1 }, workgroups: [1] }))).toMatch(/binding 'grad' is 8192 bytes; this device binds at most 4096/);
    g.release(big);
    g.release(small);
  });

  it('refuses a bad cap, naming it', async () => {
    await expect(Gpu.create({ maxStorageBindingBytes: 1000 })).rejects.toThrow(/maxStorageBindingBytes must be an integer number of bytes, a multiple of 16 and at least 1024 \(1 KiB, and 4 × this device's minStorageBufferOffsetAlignment of \d+\); got 1000/);
  });
});

describe('a binding cap that is not a size class', () => {
  const gpu = useGpu({ maxStorageBindingBytes: 3008 });

  it('a tensor under the cap is pooled so that it binds whole; a larger buffer holding it is bound as a view', async () => {
    const g = gpu();
    const n = 725; // 2900 bytes: its size class, 3072, would pass the cap
    const x = g.upload(Float32Array.from({ length: n }, (_, i) => 1 + i));
    const y = g.alloc(8192);
    g.write(y, new Float32Array(n).fill(Number.NaN));
    // Pooled at 2912 bytes, not at its size class (3072): it binds whole.
    expect(x.bindSize).toBe(2912);
    expect(y.bindSize).toBeGreaterThan(3008);
    const bound: number[] = [];
    g.forEachChunk(n, 4, { x, y }, (v) => {
      bound.push(v.x.bindSize, v.y.bindSize);
      axpby(g, { x: v.x, y: v.x, out: v.y, n, alpha: 1, beta: 1 });
    });
    expect(bound.every((b) => b <= 3008)).toBe(true);
    expect((await g.read(y, n)).every((value, i) => value === 2 * (1 + i))).toBe(true);
    for (const b of [x, y]) g.release(b);
  });
});
