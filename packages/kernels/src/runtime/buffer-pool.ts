/**
 * A pool of GPU buffers, recycled by (usage, size class).
 *
 * Sizes are rounded up to a class with four steps per power of two (at most
 * 25% slack from 1 KiB up; below that, classes are multiples of 256 bytes),
 * so tensors of nearby sizes share buffers.
 * A released buffer is not reused until the commands already recorded with it
 * have been submitted: a `queue.writeBuffer` into a reused buffer would
 * otherwise land before those commands run.
 */

/**
 * A pooled GPU buffer and the number of bytes its user asked for, or a view:
 * `bytes` bytes from byte `offset` of a pooled buffer (its `parent`), made by
 * `Gpu.view`. A view shares the parent's GPUBuffer; launches bind it as
 * { buffer, offset, size }, reads, writes and copies start at its offset.
 */
export class GpuBuffer {
  constructor(
    /** The underlying WebGPU buffer (its size is the size class, ≥ `bytes`). */
    readonly buffer: GPUBuffer,
    /** Bytes requested: what launch-time size checks compare against. */
    readonly bytes: number,
    /** Usage flags the buffer was created with. */
    readonly usage: GPUBufferUsageFlags,
    /** Where this buffer starts in `buffer`, in bytes (0 for a pooled buffer). */
    readonly offset = 0,
    /** The pooled buffer a view lies in (undefined for a pooled buffer). */
    readonly parent?: GpuBuffer,
  ) {}

  /**
   * The bytes a binding or a copy of this buffer may cover: the whole size
   * class for a pooled buffer (as it was always bound), `bytes` rounded up
   * to 4 for a view (never past its range).
   */
  get extent(): number {
    return this.parent ? Math.ceil(this.bytes / 4) * 4 : this.buffer.size;
  }

  /**
   * The bytes a launch binds: a view's bytes rounded up to 16 where its
   * buffer has them (a shader's array<vec4<f32>> needs bindings of at least
   * 16 bytes; the bytes past the view are padding when views are laid out
   * 16 apart, and a kernel only touches what its shape needs).
   */
  get bindSize(): number {
    return this.parent ? Math.min(Math.ceil(this.bytes / 16) * 16, this.buffer.size - this.offset) : this.buffer.size;
  }
}

/** Live and cached bytes, for leak tests and reports. */
export interface PoolStats {
  /** Bytes of buffers handed out and not yet released (size-class bytes). */
  liveBytes: number;
  liveBuffers: number;
  /** Bytes of every buffer the pool has created and not destroyed. */
  allocatedBytes: number;
  /** Number of `createBuffer` calls so far. */
  created: number;
}

/** Rounds a byte count up to its pool size class. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const power = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(power / 4, 256);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private pending: GpuBuffer[] = [];
  private readonly live = new Set<GpuBuffer>();
  private stats: PoolStats = { liveBytes: 0, liveBuffers: 0, allocatedBytes: 0, created: 0 };

  constructor(private readonly device: GPUDevice) {}

  /**
   * A buffer of at least `bytes` bytes with the given usage (default:
   * storage + copies). Its size is `bytes`' size class, or, where that class
   * would pass `bindLimit`, `bytes` rounded up to 16: a tensor that fits one
   * binding keeps fitting once pooled, and one larger than a binding (bound
   * in chunks: an embedding table, its gradient and moments) takes no slack.
   */
  acquire(bytes: number, usage: GPUBufferUsageFlags = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, label = 'thaw', bindLimit = Infinity): GpuBuffer {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`buffer size must be a non-negative integer, got ${bytes}`);
    const exact = Math.max(16, Math.ceil(bytes / 16) * 16);
    const size = sizeClass(bytes) > bindLimit ? exact : sizeClass(bytes);
    const list = this.free.get(`${usage}:${size}`);
    let buffer = list?.pop();
    if (!buffer) {
      buffer = this.device.createBuffer({ label, size, usage });
      this.stats.created++;
      this.stats.allocatedBytes += size;
    }
    const handle = new GpuBuffer(buffer, bytes, usage);
    this.live.add(handle);
    this.stats.liveBytes += size;
    this.stats.liveBuffers++;
    return handle;
  }

  /** Whether `handle` is handed out and not yet released. */
  isLive(handle: GpuBuffer): boolean {
    return this.live.has(handle);
  }

  /** Returns a buffer; it becomes reusable after the next submit. */
  release(handle: GpuBuffer): void {
    if (!this.live.delete(handle)) throw new Error('buffer released twice or not from this pool');
    this.stats.liveBytes -= handle.buffer.size;
    this.stats.liveBuffers--;
    this.pending.push(handle);
  }

  /** Called by the runtime after each queue submit: pending releases become free. */
  afterSubmit(): void {
    for (const handle of this.pending) {
      const key = `${handle.usage}:${handle.buffer.size}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(handle.buffer);
    }
    this.pending = [];
  }

  /** Destroys the cached free buffers (live ones stay valid). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buffer of list) {
        this.stats.allocatedBytes -= buffer.size;
        buffer.destroy();
      }
    }
    this.free.clear();
  }

  /** A snapshot of the counters. */
  snapshot(): PoolStats {
    return { ...this.stats };
  }
}
