/** Launchers of optimizer.wgsl. */
import type { GpuBuffer } from '../runtime/buffer-pool.js';
import type { Gpu } from '../runtime/gpu.js';
import { KernelLaunchError } from '../runtime/errors.js';
import { foldWorkgroups } from '../runtime/kernel.js';
import { forEachSegmentChunk, segmentChunks, type SegmentPiece } from './segment-chunks.js';

const THREADS = 256;

function grid(gpu: Gpu, kernel: string, n: number): [number, number] {
  if (!Number.isInteger(n) || n < 1) throw new KernelLaunchError(kernel, `n must be a positive integer, got ${n}`);
  return foldWorkgroups(Math.ceil(n / THREADS), gpu.maxWorkgroupsPerDimension);
}

/** Hyper-parameters of one AdamW update of one parameter. */
export interface AdamWStepArgs {
  param: GpuBuffer;
  grad: GpuBuffer;
  m: GpuBuffer;
  v: GpuBuffer;
  /** [clip factor, norm], as written by {@link clipFactor}. */
  clip: GpuBuffer;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** This parameter's own update count, from 1. */
  step: number;
}

/** The AdamW uniforms both update kernels share (1 − β passed as computed in float64 on the host). */
function adamwUniforms(a: { beta1: number; beta2: number; eps: number; weightDecay: number }): Record<string, number> {
  return { beta1: a.beta1, beta2: a.beta2, oneMinusBeta1: 1 - a.beta1, oneMinusBeta2: 1 - a.beta2, eps: a.eps, weightDecay: a.weightDecay };
}

/**
 * One fused AdamW update (PyTorch's formula, decoupled weight decay). A
 * parameter larger than one binding is updated chunk by chunk.
 */
export function adamwStep(gpu: Gpu, a: AdamWStepArgs): void {
  if (!Number.isInteger(a.step) || a.step < 1) throw new KernelLaunchError('optimizer.adamwStep', `step must count from 1, got ${a.step}`);
  grid(gpu, 'optimizer.adamwStep', a.n); // checks n before it is chunked
  gpu.forEachChunk(a.n, 4, { param: a.param, grad: a.grad, m: a.m, v: a.v }, (views, { count: n }) => {
    gpu.kernel('optimizer', 'adamwStep', { WG: THREADS }).launch({
      bindings: { ...views, clip: a.clip },
      uniforms: { n, lr: a.lr, ...adamwUniforms(a), biasCorrection1: 1 - a.beta1 ** a.step, biasCorrection2: 1 - a.beta2 ** a.step },
      minBytes: { param: 4 * n, grad: 4 * n, m: 4 * n, v: 4 * n, clip: 8 },
      workgroups: grid(gpu, 'optimizer.adamwStep', n),
    });
  });
}

/** p ← p − lr·(clip·g + weightDecay·p); chunk by chunk for a parameter larger than one binding. */
export function sgdStep(gpu: Gpu, a: { param: GpuBuffer; grad: GpuBuffer; clip: GpuBuffer; n: number; lr: number; weightDecay: number }): void {
  grid(gpu, 'optimizer.sgdStep', a.n); // checks n before it is chunked
  gpu.forEachChunk(a.n, 4, { param: a.param, grad: a.grad }, (views, { count: n }) => {
    gpu.kernel('optimizer', 'sgdStep', { WG: THREADS }).launch({
      bindings: { ...views, clip: a.clip },
      uniforms: { n, lr: a.lr, weightDecay: a.weightDecay },
      minBytes: { param: 4 * n, grad: 4 * n, clip: 8 },
      workgroups: grid(gpu, 'optimizer.sgdStep', n),
    });
  });
}

/**
 * partials[slot] = Σ grad_i² (one gradient's share of the global norm). A
 * gradient larger than one binding is summed by {@link sumSquaresSegments}
 * in chunks, with the same bits.
 */
export function sumSquares(gpu: Gpu, a: { grad: GpuBuffer; partials: GpuBuffer; n: number; slot: number }): void {
  if (!Number.isInteger(a.n) || a.n < 1) throw new KernelLaunchError('optimizer.sumSquares', `n must be a positive integer, got ${a.n}`);
  if (a.grad.bindSize > gpu.maxStorageBindingBytes) return sumSquaresSegments(gpu, { grad: a.grad, partials: a.partials, segments: [{ offset: 0, n: a.n, slot: a.slot }] });
  gpu.kernel('optimizer', 'sumSquares', { WG: THREADS }).launch({
    bindings: { grad: a.grad, partials: a.partials },
    uniforms: { n: a.n, slot: a.slot },
    minBytes: { grad: 4 * a.n, partials: 4 * (a.slot + 1) },
    workgroups: [1],
  });
}

/** Where the clip factor comes from: the first `count` partial sums of squares, clipped to `maxNorm`. */
export interface ClipSource {
  partials: GpuBuffer;
  count: number;
  maxNorm: number;
}

function checkMaxNorm(kernel: string, maxNorm: number): void {
  if (!(maxNorm > 0)) throw new KernelLaunchError(kernel, `maxNorm must be positive, got ${maxNorm}`);
}

/** clip = [min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖] from the first `count` partial sums. */
export function clipFactor(gpu: Gpu, a: ClipSource & { clip: GpuBuffer }): void {
  checkMaxNorm('optimizer.clipFactor', a.maxNorm);
  gpu.kernel('optimizer', 'clipFactor').launch({
    bindings: { partialsIn: a.partials, clipState: a.clip },
    uniforms: { count: a.count, maxNorm: a.maxNorm },
    minBytes: { partialsIn: 4 * Math.max(1, a.count), clipState: 8 },
    workgroups: [1],
  });
}

/**
 * One parameter's range of the arenas of the *Segments launchers: `n`
 * elements from element `offset` (the same range of param, grad, m and v).
 */
export interface OptimizerSegment {
  offset: number;
  n: number;
  /** Its learning rate (update launchers). */
  lr?: number;
  /** Its own update count, from 1 (AdamW's bias corrections). */
  step?: number;
  /** Where sumSquaresSegments writes its partial sum (default: its index in the list). */
  slot?: number;
}

/** Checks the segments; returns the arena elements they need. */
function checkSegments(kernel: string, segments: readonly OptimizerSegment[]): number {
  if (!segments.length) throw new KernelLaunchError(kernel, 'needs at least one segment');
  let end = 0;
  for (const [k, s] of segments.entries()) {
    if (!Number.isInteger(s.offset) || s.offset < 0 || !Number.isInteger(s.n) || s.n < 1) {
      throw new KernelLaunchError(kernel, `segment ${k} needs an offset ≥ 0 and n ≥ 1 (integers), got offset ${s.offset}, n ${s.n}`);
    }
    end = Math.max(end, s.offset + s.n);
  }
  return end;
}

/** Checks each segment's lr (update launchers), step and slot. */
function checkSegmentFields(kernel: string, segments: readonly OptimizerSegment[], withLr: boolean): void {
  for (const [k, s] of segments.entries()) {
    if (withLr && s.lr === undefined) throw new KernelLaunchError(kernel, `segment ${k} has no lr`);
    if (s.step !== undefined && (!Number.isInteger(s.step) || s.step < 1)) throw new KernelLaunchError(kernel, `segment ${k}: step must count from 1, got ${s.step}`);
    const slot = s.slot ?? k;
    if (!Number.isInteger(slot) || slot < 0) throw new KernelLaunchError(kernel, `segment ${k}: slot must be a non-negative integer, got ${slot}`);
  }
}

/**
 * The segment table of one launch (nine words per piece: offset, n, lr,
 * 1 − β1^t, 1 − β2^t (those three f32), slot, skip, bank, last), each piece
 * taking lr, step and slot from its segment, and the chunk table ((piece,
 * first element) per workgroup of THREADS elements), as optimizer.wgsl reads
 * them.
 */
function segmentTables(segments: readonly OptimizerSegment[], pieces: readonly SegmentPiece[], beta1 = 0, beta2 = 0): { table: Uint32Array; chunks: Uint32Array; end: number } {
  const W = 9;
  const table = new Uint32Array(W * pieces.length);
  const floats = new Float32Array(table.buffer);
  const chunks: number[] = [];
  let end = 0;
  for (const [k, piece] of pieces.entries()) {
    const s = segments[piece.segment]!;
    const t = s.step ?? 1;
    table[W * k] = piece.offset;
    table[W * k + 1] = piece.n;
    floats[W * k + 2] = s.lr ?? 0;
    floats[W * k + 3] = 1 - beta1 ** t;
    floats[W * k + 4] = 1 - beta2 ** t;
    table[W * k + 5] = s.slot ?? piece.segment;
    table[W * k + 6] = piece.skip;
    table[W * k + 7] = piece.bank;
    table[W * k + 8] = piece.last ? 1 : 0;
    for (let first = piece.offset; first < piece.offset + piece.n; first += THREADS) chunks.push(k, first);
    end = Math.max(end, piece.offset + piece.n);
  }
  return { table, chunks: Uint32Array.from(chunks), end };
}

/**
 * partials[slot of k] = Σ grad_i² over segment k: the tree of {@link sumSquares}
 * per segment, one dispatch for all, or one per chunk where `grad` is larger
 * than a binding (the pieces of a segment continue each other's per-thread
 * sums through a small lanes buffer, so the partials keep their bits).
 */
export function sumSquaresSegments(gpu: Gpu, a: { grad: GpuBuffer; partials: GpuBuffer; segments: readonly OptimizerSegment[] }): void {
  const kernel = 'optimizer.sumSquaresSegments';
  checkSegments(kernel, a.segments);
  checkSegmentFields(kernel, a.segments, false);
  const slots = a.segments.map((s, k) => s.slot ?? k);
  const plan = segmentChunks(gpu, a.segments, [a.grad]);
  const lanes = gpu.alloc(4 * THREADS * Math.max(1, plan.banks), 'optimizer lanes');
  try {
    forEachSegmentChunk(gpu, plan, { grad: a.grad }, ({ grad }, pieces) => {
      if (pieces.length > gpu.maxWorkgroupsPerDimension) throw new KernelLaunchError(kernel, `${pieces.length} segments; at most ${gpu.maxWorkgroupsPerDimension}`);
      const { table, end } = segmentTables(a.segments, pieces);
      const segments = gpu.upload(table, 'optimizer segments');
      try {
        gpu.kernel('optimizer', 'sumSquaresSegments', { WG: THREADS }).launch({
          bindings: { grad, partials: a.partials, segments, lanes },
          minBytes: { grad: 4 * end, partials: 4 * (Math.max(...slots) + 1), segments: table.byteLength, lanes: 4 * THREADS * Math.max(1, plan.banks) },
          workgroups: [pieces.length],
        });
      } finally {
        gpu.release(segments); // reused only after this batch is submitted
      }
    });
  } finally {
    gpu.release(lanes);
  }
}

/** What the *Segments launchers share: arenas, segments and the clip factor. */
export interface SegmentsArgs {
  param: GpuBuffer;
  grad: GpuBuffer;
  /**
   * [clip factor, norm]: read as {@link clipFactor} wrote it, or, with
   * `foldClip`, written by the launch itself.
   */
  clip: GpuBuffer;
  /**
   * Compute the factor in the update launch from these partials, as
   * {@link clipFactor} does (same order, same bits), instead of reading it
   * from `clip`: one dispatch fewer per step. The launch also stores
   * [factor, norm] in `clip` for whatever reads it afterwards.
   */
  foldClip?: ClipSource;
  /** Each parameter's range and lr. */
  segments: readonly OptimizerSegment[];
}

/** Hyper-parameters of one AdamW update of many parameters in arenas. */
export interface AdamWSegmentsArgs extends SegmentsArgs, Omit<AdamWStepArgs, 'n' | 'lr' | 'step' | 'param' | 'grad' | 'clip'> {
  /** Each parameter's range, lr and own update count (`step`, from 1). */
  segments: readonly OptimizerSegment[];
}

/**
 * Runs one update kernel over `segments` of the arenas `buffers`: one
 * dispatch, or one per chunk where an arena is larger than a binding, each
 * with the segment and chunk tables of its pieces.
 */
function launchSegments(gpu: Gpu, kernel: string, entry: string, a: SegmentsArgs, buffers: Record<string, GpuBuffer>, rest: { uniforms: Record<string, number>; beta1?: number; beta2?: number }): void {
  const { segments, foldClip: fold } = a;
  checkSegments(kernel, segments);
  checkSegmentFields(kernel, segments, true);
  if (fold) checkMaxNorm(kernel, fold.maxNorm);
  const plan = segmentChunks(gpu, segments, Object.values(buffers));
  forEachSegmentChunk(gpu, plan, buffers, (views, pieces) => {
    const { table, chunks, end } = segmentTables(segments, pieces, rest.beta1, rest.beta2);
    const [segmentTable, chunkTable] = [gpu.upload(table, 'optimizer segments'), gpu.upload(chunks, 'optimizer chunks')];
    try {
      gpu.kernel('optimizer', entry, { WG: THREADS, FOLD_CLIP: Boolean(fold) }).launch({
        // Without foldClip the partials are not read: the segment table stands in.
        bindings: { ...views, clipState: a.clip, partialsIn: fold?.partials ?? segmentTable, segments: segmentTable, chunks: chunkTable },
        uniforms: { chunks: chunks.length / 2, clipCount: fold?.count ?? 0, maxNorm: fold?.maxNorm ?? 0, ...rest.uniforms },
        minBytes: {
          ...Object.fromEntries(Object.keys(views).map((name) => [name, 4 * end])),
          clipState: 8, segments: table.byteLength, chunks: chunks.byteLength, ...(fold ? { partialsIn: 4 * Math.max(1, fold.count) } : {}),
        },
        workgroups: foldWorkgroups(chunks.length / 2, gpu.maxWorkgroupsPerDimension),
      });
    } finally {
      gpu.release(segmentTable);
      gpu.release(chunkTable);
    }
  });
}

/** {@link adamwStep}'s arithmetic over every segment, in one dispatch (one per chunk of arenas larger than a binding). */
export function adamwSegments(gpu: Gpu, a: AdamWSegmentsArgs): void {
  const kernel = 'optimizer.adamwSegments';
  a.segments.forEach((s, k) => { if (s.step === undefined) throw new KernelLaunchError(kernel, `segment ${k} has no step`); });
  launchSegments(gpu, kernel, 'adamwSegments', a, { param: a.param, grad: a.grad, m: a.m, v: a.v }, {
    beta1: a.beta1,
    beta2: a.beta2,
    uniforms: adamwUniforms(a),
  });
}

/** {@link sgdStep}'s arithmetic over every segment, in one dispatch (one per chunk of arenas larger than a binding). */
export function sgdSegments(gpu: Gpu, a: SegmentsArgs & { weightDecay: number }): void {
  launchSegments(gpu, 'optimizer.sgdSegments', 'sgdSegments', a, { param: a.param, grad: a.grad }, { uniforms: { weightDecay: a.weightDecay } });
}
