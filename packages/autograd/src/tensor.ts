/** A tensor: a shape and a pooled GPU buffer, with an optional gradient. */
import type { GpuBuffer } from '@thaw/kernels';
import type { Graph, TapeNode } from './graph.js';

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

export class Tensor {
  /** Elements (product of the shape). */
  readonly size: number;
  /** The gradient accumulated by backward (parameters), if any. */
  grad: Tensor | undefined;
  /** The op that produced this tensor, when it was recorded on the tape. */
  creator: TapeNode | undefined;
  private released = false;

  constructor(
    readonly graph: Graph,
    readonly shape: readonly number[],
    readonly buffer: GpuBuffer,
    /** Whether gradients flow to this tensor (set on parameters; derived for op outputs). */
    public requiresGrad: boolean,
    readonly name = '',
  ) {
    this.size = sizeOf(shape);
    if (buffer.bytes < 4 * this.size) throw new RangeError(`tensor ${name || '(unnamed)'} of shape [${shape}] needs ${4 * this.size} bytes; its buffer holds ${buffer.bytes}`);
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

  /** Returns the buffer to the pool; the tensor must not be used again. */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.graph.gpu.release(this.buffer);
  }

  /** Throws if the tensor was disposed. */
  assertLive(): void {
    if (this.released) throw new Error(`tensor ${this.name || `[${this.shape}]`} was disposed`);
  }
}
