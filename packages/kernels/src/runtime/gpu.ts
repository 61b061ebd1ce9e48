/**
 * The GPU runtime: one device, a buffer pool, specialized kernels, and a
 * batch of dispatches recorded into one compute pass and submitted together.
 *
 * Work is recorded, not run: `Kernel.launch` appends a dispatch to the
 * current batch, which is submitted by `flush()`, by a read, or when it grows
 * past `maxDispatchesPerSubmit`. Validation errors are collected with error
 * scopes that stay open between synchronization points (`sync`, `read`),
 * where they are thrown naming the kernels submitted since the last one.
 */
import type { KernelManifest, OverrideValue } from '../compiler/manifest.js';
import { requestAdapter, summarizeAdapter, type AdapterOptions, type AdapterSummary } from './adapter.js';
import { BufferPool, GpuBuffer, sizeClass } from './buffer-pool.js';
import { DeviceLostError, GpuError, KernelLaunchError, SettingError } from './errors.js';
import { Kernel, resolveOverrides, specializationKey, type DispatchRecorder } from './kernel.js';
import { loadManifest } from './manifest-loader.js';
import { rowChunks, type RowChunk } from './chunks.js';

/** Options of {@link Gpu.create}. */
export interface GpuOptions extends AdapterOptions {
  /** Submit after this many dispatches even without a sync (default 256). */
  maxDispatchesPerSubmit?: number;
  /** The kernel manifest (default: the one built into this package). */
  manifest?: KernelManifest;
  /**
   * The runtime's own cap on one storage binding, in bytes, used where it is
   * below the device's `maxStorageBufferBindingSize` (default: the env
   * THAW_MAX_BINDING_BYTES, else none). WebGPU raises requested limits below
   * its defaults to the defaults, so this is how tests and users exercise the
   * chunked path of tensors larger than a binding on any device.
   */
  maxStorageBindingBytes?: number;
}

/** Counters of work sent to the device. */
export interface GpuStats {
  submits: number;
  dispatches: number;
  readbacks: number;
}

const COPY_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const UNIFORM_USAGE = GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST;
const READBACK_USAGE = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;

/** The device feature behind a WGSL `enable` extension (`f16` → `shader-f16`, `clip_distances` → `clip-distances`). */
export function featureOf(extension: string): string {
  return extension === 'f16' ? 'shader-f16' : extension.replace(/_/g, '-');
}

interface PendingCheck {
  kernels: string[];
  errors: Promise<(GPUError | null)[]>;
}

export class Gpu implements DispatchRecorder {
  readonly pool: BufferPool;
  readonly stats: GpuStats = { submits: 0, dispatches: 0, readbacks: 0 };
  readonly maxWorkgroupsPerDimension: number;
  /** The largest storage binding in bytes: the device's limit, or the runtime's cap where smaller. */
  readonly maxStorageBindingBytes: number;
  /** The largest buffer the device creates, in bytes. */
  readonly maxBufferBytes: number;
  /** Whether passes can be timed with timestamp queries. */
  readonly hasTimestamps: boolean;

  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly kernels = new Map<string, Kernel>();
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private batchKernels = new Set<string>();
  /** Per-dispatch timestamps while profile() records. */
  private profiling: { querySet: GPUQuerySet; capacity: number; labels: string[] } | undefined;
  /** Completion of the work submitted at the last throttle(). */
  private inFlight: Promise<void> | undefined;
  /** Kernels submitted since the error scopes were last checked. */
  private uncheckedKernels = new Set<string>();
  private batchDispatches = 0;
  private lastSubmitted: string[] = [];
  private checks: PendingCheck[] = [];
  private lostReason: string | undefined;
  private destroyed = false;
  private timing = false;
  /** Views made by view() and not released. */
  private readonly views = new Set<GpuBuffer>();

  private constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterSummary,
    readonly manifest: KernelManifest,
    private readonly maxDispatchesPerSubmit: number,
    bindingCap: number,
  ) {
    this.pool = new BufferPool(device);
    this.maxWorkgroupsPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
    this.maxStorageBindingBytes = Math.min(device.limits.maxStorageBufferBindingSize, bindingCap);
    this.maxBufferBytes = device.limits.maxBufferSize;
    this.hasTimestamps = device.features.has('timestamp-query');
    // Error scopes are always open: everything between two submits (uploads,
    // bind groups, dispatches) is checked, and reported with that batch.
    this.openScopes();
    void device.lost.then((info) => {
      if (!this.destroyed) this.lostReason = `${info.reason}: ${info.message}`;
    });
  }

  /** Acquires an adapter and a device with every limit raised to what the adapter offers. */
  static async create(options: GpuOptions = {}): Promise<Gpu> {
    const adapter = await requestAdapter(options);
    const summary = summarizeAdapter(adapter);
    // Timestamps for timing; subgroups for the kernels that `enable` them.
    const wanted: GPUFeatureName[] = ['timestamp-query', 'subgroups'];
    const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
    const device = await adapter.requestDevice({ label: 'thaw', requiredFeatures, requiredLimits: summary.limits });
    return new Gpu(device, summary, options.manifest ?? loadManifest(), options.maxDispatchesPerSubmit ?? 256, bindingCapOf(options, device.limits.minStorageBufferOffsetAlignment));
  }

  /** Whether the device has every feature the kernel file `enable`s. */
  supports(file: string): boolean {
    const info = this.manifest.kernels.find((k) => k.name === file);
    return Boolean(info && info.enables.every((e) => this.device.features.has(featureOf(e))));
  }

  /**
   * The kernel `file.entry` specialized with `overrides`; the pipeline is
   * built on first use and cached by the specialization key.
   */
  kernel(file: string, entry: string, overrides: Record<string, OverrideValue> = {}): Kernel {
    const fileInfo = this.manifest.kernels.find((k) => k.name === file);
    if (!fileInfo) throw new KernelLaunchError(`${file}.${entry}`, `no kernel file '${file}.wgsl' (kernels: ${this.manifest.kernels.map((k) => k.name).join(', ')})`);
    if (!this.supports(file)) {
      throw new KernelLaunchError(`${file}.${entry}`, `needs the device feature(s) ${fileInfo.enables.map(featureOf).join(', ')}, which this device (${this.adapter.name}) does not have`);
    }
    const entryInfo = fileInfo.entryPoints.find((e) => e.name === entry);
    if (!entryInfo) throw new KernelLaunchError(`${file}.${entry}`, `no entry point '${entry}' (entry points: ${fileInfo.entryPoints.map((e) => e.name).join(', ')})`);
    const resolved = resolveOverrides(`${file}.${entry}`, fileInfo, entryInfo, overrides);
    const key = specializationKey(file, entry, resolved);
    let kernel = this.kernels.get(key);
    if (!kernel) {
      let module = this.modules.get(file);
      if (!module) {
        module = this.device.createShaderModule({ label: fileInfo.file, code: fileInfo.source });
        this.modules.set(file, module);
      }
      this.device.pushErrorScope('validation');
      kernel = new Kernel(this, module, fileInfo, entryInfo, resolved);
      this.checks.push({ kernels: [key], errors: this.device.popErrorScope().then((e) => [e]) });
      this.kernels.set(key, kernel);
    }
    return kernel;
  }

  /** Number of distinct specialized pipelines built so far. */
  get pipelineCount(): number {
    return this.kernels.size;
  }

  /**
   * A pooled storage buffer of `bytes` bytes (contents undefined). It may be
   * larger than one binding (up to the device's maxBufferSize); launchers
   * then bind it in chunks (see {@link rowChunks}).
   */
  alloc(bytes: number, label?: string): GpuBuffer {
    this.assertAlive();
    const size = sizeClass(bytes) > this.maxStorageBindingBytes ? Math.ceil(bytes / 16) * 16 : sizeClass(bytes);
    if (size > this.maxBufferBytes) {
      throw new RangeError(`buffer '${label ?? 'thaw'}' of ${bytes} bytes is larger than this device's largest buffer (maxBufferSize ${this.maxBufferBytes} bytes on ${this.adapter.name})`);
    }
    return this.pool.acquire(bytes, COPY_USAGE, label, this.maxStorageBindingBytes);
  }

  /**
   * Splits a tensor of `rows` rows of `rowBytes` bytes into blocks of rows
   * that this device can bind, each starting at an aligned offset in every
   * tensor cut along the same rows (`viewRowBytes`: their row widths,
   * default this one): one chunk when the tensor fits a binding.
   */
  rowChunks(rows: number, rowBytes: number, viewRowBytes?: readonly number[]): RowChunk[] {
    return rowChunks(rows, rowBytes, this.maxStorageBindingBytes, this.device.limits.minStorageBufferOffsetAlignment, viewRowBytes);
  }

  /**
   * Runs `use` with a view of each range (byte offset and length within a
   * buffer), and releases the views afterwards, whether `use` returns or
   * throws: the scope of every chunked launch.
   */
  withViews<K extends string, T>(ranges: Record<K, { buffer: GpuBuffer; offset: number; bytes: number }>, use: (views: Record<K, GpuBuffer>) => T): T {
    const views = {} as Record<K, GpuBuffer>;
    try {
      for (const name of Object.keys(ranges) as K[]) {
        const { buffer, offset, bytes } = ranges[name];
        views[name] = this.view(buffer, offset, bytes, `${name}[${offset}…]`);
      }
      return use(views);
    } finally {
      for (const view of Object.values<GpuBuffer>(views)) this.release(view);
    }
  }

  /**
   * Runs `launch` once per chunk of `chunks` (default: the chunks of a
   * tensor of `rows` rows of `rowBytes` bytes), with `buffers` (each laid
   * out in such rows) replaced by views of that chunk. With a single chunk
   * the buffers are passed as they are (views only where a pooled buffer's
   * size class passes the limit), so a tensor that fits binds exactly as it
   * always did.
   */
  forEachChunk<K extends string>(rows: number, rowBytes: number, buffers: Record<K, GpuBuffer>, launch: (views: Record<K, GpuBuffer>, chunk: RowChunk) => void): void {
    const chunks = this.rowChunks(rows, rowBytes);
    // A pooled buffer binds its whole size class, which may pass the limit when the tensor does not: bind a view then.
    const whole = Object.values<GpuBuffer>(buffers).every((b) => b.bindSize <= this.maxStorageBindingBytes);
    if (chunks.length === 1 && whole) return launch(buffers, chunks[0]!);
    for (const chunk of chunks) this.withChunkViews(chunk, buffers, (views) => launch(views, chunk));
  }

  /** Runs `use` with `buffers` replaced by views of the bytes of `chunk`, released afterwards. */
  withChunkViews<K extends string, T>(chunk: RowChunk, buffers: Record<K, GpuBuffer>, use: (views: Record<K, GpuBuffer>) => T): T {
    const ranges = {} as Record<K, { buffer: GpuBuffer; offset: number; bytes: number }>;
    for (const name of Object.keys(buffers) as K[]) ranges[name] = { buffer: buffers[name], offset: chunk.byteOffset, bytes: chunk.bytes };
    return this.withViews(ranges, use);
  }

  /**
   * A view: `bytes` bytes of `parent` from byte `offsetBytes` (relative to
   * `parent`, itself a pooled buffer or a view), sharing its GPUBuffer, for
   * packing many tensors into one buffer that one dispatch can span. The
   * offset must be a multiple of the device's minStorageBufferOffsetAlignment
   * (so the view can be bound on its own). A view is live while its pooled
   * buffer is live and until `release(view)`, which frees nothing: the bytes
   * belong to the pooled buffer, released by its owner (after which every
   * view of it is dead too).
   */
  view(parent: GpuBuffer, offsetBytes: number, bytes: number, label = 'view'): GpuBuffer {
    this.assertAlive();
    if (!this.isLive(parent)) throw new Error(`view '${label}' of a buffer that was already released`);
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    const offset = parent.offset + offsetBytes;
    if (!Number.isInteger(offsetBytes) || offsetBytes < 0 || offset % align) {
      throw new RangeError(`view '${label}' at byte offset ${offsetBytes}: offsets must be non-negative multiples of this device's minStorageBufferOffsetAlignment (${align})`);
    }
    if (!Number.isInteger(bytes) || bytes < 0 || offsetBytes + bytes > parent.bytes) {
      throw new RangeError(`view '${label}' of ${bytes} bytes at offset ${offsetBytes} does not fit its ${parent.bytes}-byte buffer`);
    }
    const view = new GpuBuffer(parent.buffer, bytes, parent.usage, offset, parent.parent ?? parent);
    this.views.add(view);
    return view;
  }

  /** A pooled storage buffer of `bytes` bytes set to zero on the device (no host array), in order with the recorded dispatches. */
  zeros(bytes: number, label?: string): GpuBuffer {
    const buffer = this.alloc(bytes, label);
    this.endPass();
    this.currentEncoder().clearBuffer(buffer.buffer, 0, Math.ceil(bytes / 4) * 4);
    return buffer;
  }

  /** A pooled storage buffer holding a copy of `data`. */
  upload(data: Float32Array | Uint32Array | Int32Array, label?: string): GpuBuffer {
    const buffer = this.alloc(data.byteLength, label);
    this.device.queue.writeBuffer(buffer.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /**
   * Overwrites `data.byteLength` bytes of `buffer` from byte `byteOffset`
   * (default: its start; a multiple of 4), queued before the next submit.
   * The data is copied when this returns, so its array may be reused.
   */
  write(buffer: GpuBuffer, data: Float32Array | Uint32Array | Int32Array, byteOffset = 0): void {
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 || byteOffset + data.byteLength > buffer.bytes) {
      throw new RangeError(`writing ${data.byteLength} bytes at byte offset ${byteOffset} into a ${buffer.bytes}-byte buffer`);
    }
    // Commands already recorded must see the old contents: submit them first.
    this.flush();
    this.device.queue.writeBuffer(buffer.buffer, buffer.offset + byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Returns a buffer to the pool; for a view, marks it dead (its pooled buffer is untouched). */
  release(buffer: GpuBuffer): void {
    if (!buffer.parent) return this.pool.release(buffer);
    if (!this.views.delete(buffer)) throw new Error('view released twice or not from this device');
  }

  /** @internal Whether `buffer` is still handed out by the pool (a view: and its pooled buffer). */
  isLive(buffer: GpuBuffer): boolean {
    return buffer.parent ? this.views.has(buffer) && this.pool.isLive(buffer.parent) : this.pool.isLive(buffer);
  }

  /** @internal A uniform buffer for one dispatch of the current batch. */
  uniformBuffer(data: ArrayBuffer): GpuBuffer {
    const buffer = this.pool.acquire(data.byteLength, UNIFORM_USAGE, 'uniforms');
    this.device.queue.writeBuffer(buffer.buffer, 0, data);
    // Reusable only after this batch is submitted (the pool defers it).
    this.pool.release(buffer);
    return buffer;
  }

  /** @internal Records one dispatch into the current batch. */
  record(kernel: string, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, workgroups: [number, number, number]): void {
    this.assertAlive();
    const profile = this.profiling;
    if (profile && profile.labels.length * 2 + 2 <= profile.capacity) {
      // Profiling: this dispatch gets a pass of its own between two timestamps.
      this.endPass();
      const i = profile.labels.length;
      this.pass = this.currentEncoder().beginComputePass({
        label: kernel,
        timestampWrites: { querySet: profile.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
      });
      profile.labels.push(kernel);
    }
    const pass = this.currentPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...workgroups);
    this.batchKernels.add(kernel);
    this.batchDispatches++;
    this.stats.dispatches++;
    if (profile) this.endPass();
    if (!this.timing && this.batchDispatches >= this.maxDispatchesPerSubmit) this.flush();
  }

  /** Copies `bytes` bytes between buffers (offsets in bytes, multiples of 4, relative to each buffer or view), in order with the recorded dispatches. */
  copy(src: GpuBuffer, dst: GpuBuffer, bytes = Math.min(src.bytes, dst.bytes), srcOffset = 0, dstOffset = 0): void {
    const size = Math.ceil(bytes / 4) * 4;
    if (srcOffset % 4 || dstOffset % 4 || srcOffset + size > src.extent || dstOffset + size > dst.extent) {
      throw new RangeError(`copy of ${bytes} bytes from offset ${srcOffset} to offset ${dstOffset} is out of range or misaligned`);
    }
    this.endPass();
    this.currentEncoder().copyBufferToBuffer(src.buffer, src.offset + srcOffset, dst.buffer, dst.offset + dstOffset, size);
  }

  /** Submits everything recorded so far (no wait). */
  flush(): void {
    if (!this.encoder) {
      // Nothing unsubmitted can reference a released buffer: recycle now.
      this.pool.afterSubmit();
      return;
    }
    this.endPass();
    const commands = this.encoder.finish();
    this.device.queue.submit([commands]);
    const kernels = [...this.batchKernels];
    for (const k of kernels) this.uncheckedKernels.add(k);
    this.lastSubmitted = kernels;
    this.encoder = undefined;
    this.batchKernels = new Set();
    this.batchDispatches = 0;
    this.stats.submits++;
    this.pool.afterSubmit();
  }

  /**
   * Backpressure for loops: submits what is recorded, then waits until the
   * work submitted at the previous call has finished, so at most one step
   * runs ahead of the GPU while the next is being recorded. A loop that
   * never waits lets Dawn's queue grow without bound (on lavapipe the
   * process crashed after about 400 unawaited submits); call this once per
   * training step.
   */
  async throttle(): Promise<void> {
    this.flush();
    const previous = this.inFlight;
    this.inFlight = this.device.queue.onSubmittedWorkDone();
    await previous;
    this.assertAlive();
  }

  /** Submits, waits for the device, and throws the first error of any batch since the last sync. */
  async sync(): Promise<void> {
    this.flush();
    this.checkScopes();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwPendingErrors();
  }

  /** Reads `bytes` bytes (default: all the buffer's requested bytes) back to the CPU. */
  async readBytes(buffer: GpuBuffer, bytes = buffer.bytes): Promise<ArrayBuffer> {
    if (!this.isLive(buffer)) throw new Error('reading a buffer that was already released');
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.pool.acquire(size, READBACK_USAGE, 'readback');
    let copy: ArrayBuffer;
    try {
      this.endPass();
      this.currentEncoder().copyBufferToBuffer(buffer.buffer, buffer.offset, staging.buffer, 0, size);
      this.flush();
      this.checkScopes();
      this.stats.readbacks++;
      try {
        await staging.buffer.mapAsync(GPUMapMode.READ, 0, size);
      } catch (e) {
        this.assertAlive();
        await this.throwPendingErrors();
        throw e;
      }
      copy = staging.buffer.getMappedRange(0, size).slice(0, bytes);
      staging.buffer.unmap();
    } finally {
      this.pool.release(staging);
    }
    await this.throwPendingErrors();
    return copy;
  }

  /** Reads a buffer of f32 values. */
  async read(buffer: GpuBuffer, count = Math.floor(buffer.bytes / 4)): Promise<Float32Array> {
    return new Float32Array(await this.readBytes(buffer, count * 4));
  }

  /**
   * GPU time in milliseconds of the dispatches `record` makes, measured with
   * timestamp queries around one compute pass (wall clock around submit and
   * completion when the adapter has no timestamps).
   */
  async time(record: () => void): Promise<number> {
    this.flush();
    if (!this.hasTimestamps) {
      await this.device.queue.onSubmittedWorkDone();
      const start = performance.now();
      record();
      await this.sync();
      return performance.now() - start;
    }
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolved = this.pool.acquire(16, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps');
    try {
      this.pass = this.currentEncoder().beginComputePass({
        label: 'timed',
        timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 },
      });
      this.timing = true;
      try {
        record();
      } finally {
        this.timing = false;
        this.endPass();
      }
      this.currentEncoder().resolveQuerySet(querySet, 0, 2, resolved.buffer, 0);
      const stamps = new BigUint64Array(await this.readBytes(resolved, 16));
      return Number(stamps[1]! - stamps[0]!) / 1e6;
    } finally {
      this.pool.release(resolved);
      querySet.destroy();
    }
  }

  /**
   * GPU milliseconds per kernel of the dispatches `record` makes (each in
   * its own timed pass, so the total is a little above an unprofiled run),
   * keyed by specialized kernel name; at most `maxDispatches` are timed.
   * Needs timestamp queries.
   */
  async profile(record: () => void | Promise<void>, maxDispatches = 2048): Promise<Map<string, number>> {
    if (!this.hasTimestamps) throw new Error(`profile() needs timestamp queries, which ${this.adapter.name} does not offer`);
    if (this.profiling) throw new Error('profile() calls cannot nest');
    this.flush();
    const capacity = Math.min(2 * maxDispatches, 4096);
    const querySet = this.device.createQuerySet({ type: 'timestamp', count: capacity });
    const profile = { querySet, capacity, labels: [] as string[] };
    this.profiling = profile;
    try {
      await record();
    } finally {
      this.profiling = undefined;
      this.endPass();
    }
    const bytes = 8 * Math.max(2, 2 * profile.labels.length);
    const resolved = this.pool.acquire(bytes, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, 'timestamps');
    try {
      if (profile.labels.length) this.currentEncoder().resolveQuerySet(querySet, 0, 2 * profile.labels.length, resolved.buffer, 0);
      const stamps = new BigUint64Array(await this.readBytes(resolved, bytes));
      const totals = new Map<string, number>();
      profile.labels.forEach((label, i) => {
        totals.set(label, (totals.get(label) ?? 0) + Number(stamps[2 * i + 1]! - stamps[2 * i]!) / 1e6);
      });
      return totals;
    } finally {
      this.pool.release(resolved);
      querySet.destroy();
    }
  }

  /** Waits for pending work, then destroys the device so the process can exit. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    try {
      await this.sync();
    } finally {
      this.destroyed = true;
      void this.closeScopes();
      this.pool.trim();
      this.device.destroy();
    }
  }

  private currentEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'thaw batch' });
    return this.encoder;
  }

  /**
   * Closes the error scopes over everything since the last check (many
   * submits may share them) and opens new ones. Only synchronization points
   * do this, so a loop that never waits does not pile up pending promises.
   */
  private checkScopes(): void {
    this.checks.push({ kernels: [...this.uncheckedKernels], errors: this.closeScopes() });
    this.uncheckedKernels = new Set();
    this.openScopes();
  }

  private openScopes(): void {
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
  }

  private closeScopes(): Promise<(GPUError | null)[]> {
    return Promise.all([this.device.popErrorScope(), this.device.popErrorScope()]);
  }

  private currentPass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.currentEncoder().beginComputePass({ label: 'thaw' });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = undefined;
  }

  private assertAlive(): void {
    if (this.destroyed) throw new Error('the Gpu was destroyed');
    if (this.lostReason) throw new DeviceLostError(this.lastSubmitted, this.lostReason);
  }

  private async throwPendingErrors(): Promise<void> {
    const checks = this.checks;
    this.checks = [];
    for (const check of checks) {
      const error = (await check.errors).find((e) => e);
      if (error) throw new GpuError(check.kernels, error.message);
    }
    this.assertAlive();
  }
}

/**
 * The runtime's binding cap: the option, else THAW_MAX_BINDING_BYTES, else
 * none (Infinity). A cap must be a multiple of 16 and leave room for chunks
 * that start at aligned offsets: at least 1 KiB and 4 × the device's
 * `alignBytes` (minStorageBufferOffsetAlignment; without a device, 256).
 */
export function bindingCapOf(options: { maxStorageBindingBytes?: number } = {}, alignBytes = 256): number {
  const env = process.env.THAW_MAX_BINDING_BYTES;
  const given = options.maxStorageBindingBytes ?? (env ? Number(env) : undefined);
  if (given === undefined) return Infinity;
  const least = Math.max(1024, 4 * alignBytes);
  if (!(Number.isInteger(given) && given >= least && given % 16 === 0)) {
    const source = options.maxStorageBindingBytes !== undefined ? 'maxStorageBindingBytes' : 'THAW_MAX_BINDING_BYTES';
    throw new SettingError(source, `${source} must be an integer number of bytes, a multiple of 16 and at least ${least} (1 KiB, and 4 × this device's minStorageBufferOffsetAlignment of ${alignBytes}); got ${options.maxStorageBindingBytes ?? env}`);
  }
  return given;
}
