/**
 * Launchers of elementwise.wgsl. Every map takes any n, including arrays
 * larger than one storage binding (parameter gradients, e.g. the word
 * embeddings'): those run one launch per chunk of elements, each over views
 * of the same elements of every array, so the bits are those of one launch.
 */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';

const THREADS = 256;

/**
 * Runs `launch` once per chunk of `rows` rows of `rowLength` fp32 that the
 * device can bind, with `buffers` replaced by views of the chunk (once, with
 * the buffers as they are, when they fit). A flat map is n rows of 1, which
 * is why the error names n. `launch` gets the chunk's element count and its
 * grid.
 */
function launchChunks<K extends string>(
  gpu: Gpu, kernel: string, rows: number, rowLength: number, buffers: Record<K, GpuBuffer>,
  launch: (views: Record<K, GpuBuffer>, n: number, workgroups: [number, number]) => void,
): void {
  if (!Number.isInteger(rows) || rows < 1) throw new KernelLaunchError(kernel, `n must be a positive integer, got ${rows}`);
  gpu.forEachChunk(rows, 4 * rowLength, buffers, (views, { count }) => {
    const n = count * rowLength;
    launch(views, n, foldWorkgroups(Math.ceil(n / THREADS), gpu.maxWorkgroupsPerDimension));
  });
}

/** out = alpha·x + beta·y over n elements (out may not alias x or y). */
export function axpby(gpu: Gpu, args: { x: GpuBuffer; y: GpuBuffer; out: GpuBuffer; n: number; alpha: number; beta: number }): void {
  const kernel = gpu.kernel('elementwise', 'axpby', { WG: THREADS });
  launchChunks(gpu, 'elementwise.axpby', args.n, 1, { x: args.x, y: args.y, out: args.out }, (bindings, n, workgroups) => {
    kernel.launch({ bindings, uniforms: { n, alpha: args.alpha, beta: args.beta }, minBytes: { x: 4 * n, y: 4 * n, out: 4 * n }, workgroups });
  });
}

/** The pointwise activations and their derivatives (`geluTanh` is Hugging Face's gelu_new, `swish` is SiLU). */
export type Activation = 'gelu' | 'geluTanh' | 'relu' | 'tanh' | 'swish';

/** out = act(x) over n elements. */
export function activation(gpu: Gpu, kind: Activation, args: { x: GpuBuffer; out: GpuBuffer; n: number }): void {
  const kernel = gpu.kernel('elementwise', kind, { WG: THREADS });
  launchChunks(gpu, `elementwise.${kind}`, args.n, 1, { x: args.x, out: args.out }, (bindings, n, workgroups) => {
    kernel.launch({ bindings, uniforms: { n }, minBytes: { x: 4 * n, out: 4 * n }, workgroups });
  });
}

/** out = dy · act'(x) over n elements. */
export function activationBackward(gpu: Gpu, kind: Activation, args: { x: GpuBuffer; dy: GpuBuffer; out: GpuBuffer; n: number }): void {
  const kernel = gpu.kernel('elementwise', `${kind}Backward`, { WG: THREADS });
  launchChunks(gpu, `elementwise.${kind}Backward`, args.n, 1, { x: args.x, dy: args.dy, out: args.out }, (bindings, n, workgroups) => {
    kernel.launch({ bindings, uniforms: { n }, minBytes: { x: 4 * n, dy: 4 * n, out: 4 * n }, workgroups });
  });
}

/** out = alpha · scalar[0] · x over n elements: multiply by a value that lives on the GPU. */
export function scaleBy(gpu: Gpu, args: { x: GpuBuffer; scalar: GpuBuffer; out: GpuBuffer; n: number; alpha: number }): void {
  const kernel = gpu.kernel('elementwise', 'scaleBy', { WG: THREADS });
  launchChunks(gpu, 'elementwise.scaleBy', args.n, 1, { x: args.x, out: args.out }, ({ x, out }, n, workgroups) => {
    kernel.launch({ bindings: { x, scalar: args.scalar, out }, uniforms: { n, alpha: args.alpha }, minBytes: { x: 4 * n, scalar: 4, out: 4 * n }, workgroups });
  });
}

/**
 * out[r, c] = x[r, c] · s[c] for a rows×cols row-major x: each column scaled
 * by its own factor. With dy in place of x it is also the map's input
 * gradient; the gradient for s is `columnDots(dy, x)` (reduce.ts).
 */
export function scaleColumns(gpu: Gpu, args: { x: GpuBuffer; s: GpuBuffer; out: GpuBuffer; rows: number; cols: number }): void {
  const { rows, cols } = args;
  for (const [name, v] of [['rows', rows], ['cols', cols]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new KernelLaunchError('elementwise.scaleColumns', `${name} must be a positive integer, got ${v}`);
  }
  const kernel = gpu.kernel('elementwise', 'scaleColumns', { WG: THREADS });
  // Chunks of whole rows: element i of a chunk is still in column i mod cols.
  launchChunks(gpu, 'elementwise.scaleColumns', rows, cols, { x: args.x, out: args.out }, ({ x, out }, n, workgroups) => {
    kernel.launch({ bindings: { x, colScale: args.s, out }, uniforms: { n, cols }, minBytes: { x: 4 * n, colScale: 4 * cols, out: 4 * n }, workgroups });
  });
}

/** out = alpha · scalar[0] in each of n elements. */
export function fillWith(gpu: Gpu, args: { scalar: GpuBuffer; out: GpuBuffer; n: number; alpha: number }): void {
  const kernel = gpu.kernel('elementwise', 'fillWith', { WG: THREADS });
  launchChunks(gpu, 'elementwise.fillWith', args.n, 1, { out: args.out }, ({ out }, n, workgroups) => {
    kernel.launch({ bindings: { scalar: args.scalar, out }, uniforms: { n, alpha: args.alpha }, minBytes: { scalar: 4, out: 4 * n }, workgroups });
  });
}
