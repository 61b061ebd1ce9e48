/** A tensor: a shape over reference-counted GPU storage, with an optional gradient. */
import type { GpuBuffer } from '@thaw/kernels';
import type { Graph, TapeNode } from './graph.js';

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** A pooled buffer shared by a tensor and its views; released with the last of them. */
class Storage {
  private refs = 1;
  constructor(private readonly graph: Graph, public buffer: GpuBuffer) {}
  /** Whether some tensor still holds this storage. */
  get live(): boolean {
    return this.refs > 0;
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.graph.gpu.release(this.buffer);
  }
}

export class Tensor {
  /** Elements (product of the shape). */
  readonly size: number;
  /** The gradient accumulated by backward (parameters), if any. */
  grad: Tensor | undefined;
  /** The op that produced this tensor, when it was recorded on the tape. */
  creator: TapeNode | undefined;
  private readonly storage: Storage;
  private released = false;

  constructor(
    readonly graph: Graph,
    readonly shape: readonly number[],
    storage: GpuBuffer | Tensor,
    /** Whether gradients flow to this tensor (set on parameters; derived for op outputs). */
    public requiresGrad: boolean,
    readonly name = '',
  ) {
    this.size = sizeOf(shape);
    // A Tensor argument makes this a view sharing its storage (a reshape).
    if (storage instanceof Tensor) storage.assertLive();
    this.storage = storage instanceof Tensor ? storage.storage.retain() : new Storage(graph, storage);
    if (this.buffer.bytes < 4 * this.size) {
      throw new RangeError(`tensor ${name || '(unnamed)'} of shape [${shape}] needs ${4 * this.size} bytes; its buffer holds ${this.buffer.bytes}`);
    }
  }

  /** The GPU buffer (shared with views of this tensor). */
  get buffer(): GpuBuffer {
    return this.storage.buffer;
  }

  /**
   * @internal Moves this tensor's storage (shared with its reshapes) to
   * `buffer`, which must already hold its values, and releases the old
   * buffer: the optimizer packs parameters into one arena this way (and
   * unpacks them at its dispose). The caller must make sure nothing else
   * holds the old buffer. Returns false (and takes nothing) when the storage
   * was already released by every tensor sharing it.
   */
  rebindStorage(buffer: GpuBuffer): boolean {
    if (!this.storage.live) return false;
    if (buffer.bytes < 4 * this.size) throw new RangeError(`tensor ${this.name || `[${this.shape}]`} needs ${4 * this.size} bytes; the new buffer holds ${buffer.bytes}`);
    const old = this.storage.buffer;
    this.storage.buffer = buffer;
    this.graph.gpu.release(old);
    return true;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.released;
  }

  /** Reads the values back to the CPU (a synchronization point). */
  async read(): Promise<Float32Array> {
    this.assertLive();
    return this.graph.gpu.read(this.buffer, this.size);
  }

  /** Drops this tensor's hold on its storage (and its gradient); the tensor must not be used again. */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.grad?.dispose();
    this.grad = undefined;
    this.storage.release();
  }

  /** Throws if the tensor was disposed. */
  assertLive(): void {
    if (this.released) throw new Error(`tensor ${this.name || `[${this.shape}]`} was disposed`);
  }
}
