/**
 * `thaw bench kernels`: GFLOP/s of matmul on square and transformer shapes
 * and of the fused attention (forward and backward, at a real model's head
 * shape), GB/s of layernorm (alone and fused with a residual add and
 * dropout), Fisher, activation and column-scale kernels, each the median of timed runs after
 * warm-up (timestamp queries around one compute pass), and the same matmuls
 * and activations through the peer libraries in the same process, on the
 * same adapter (where a peer has the activation as one function).
 */
import { activation, attentionBackward, attentionForward, attentionUnsupported, fisherAccumulate, layerNormBackward, layerNormForward, matmul, matmulVariant, scaleColumns, segmentTraces, type Activation, type Gpu, type GpuBuffer, type MatmulVariant, type Segment } from '@thaw/kernels';
import { loadPeers, type MatmulSpec } from './peers.js';
import { timeGpu, timeMedian } from './stats.js';

/** One row of the report, as `--json` prints it. */
export interface KernelBenchResult {
  kernel: string;
  shape: string;
  /** For matmul: the schedule that ran (`subgroups` or `portable`). */
  variant?: string;
  ms: number;
  gflops?: number;
  gbps?: number;
  /** The same work through each peer: GFLOP/s for matmul, GB/s for activations; ratio = Thaw ÷ peer. */
  peers: Partial<Record<'tfjs' | 'jax', { ms: number; gflops?: number; gbps?: number; ratio: number }>>;
}

export interface KernelBenchOptions {
  /** Tokens in the transformer shapes (2048 by default: batch 32 × sequence 64). */
  tokens: number;
  /** Small shapes only: a smoke test of the whole benchmark, not a measurement. */
  quick: boolean;
  warmup: number;
  repeats: number;
  /** Measure TensorFlow.js and jax-js too (default true). */
  peers: boolean;
  /** Matmul schedule (default `auto`: the one training would use on this device). */
  matmulVariant: MatmulVariant;
  /** Called before each case with its label, for progress display. */
  onCase?: (label: string, index: number, total: number) => void;
  /** Notes that are not results (a missing peer, say). */
  onNote?: (message: string) => void;
}

interface MatmulCase extends MatmulSpec {
  kind: 'matmul';
  label: string;
}
/** The fused attention at B sequences of T tokens, width D in `heads` heads, dropout p. */
interface AttentionCase {
  kind: 'attention.forward' | 'attention.backward';
  label: string;
  B: number;
  T: number;
  D: number;
  heads: number;
  p: number;
}
interface MemoryCase {
  kind: 'layernorm.forward' | 'layernorm.residualForward' | 'layernorm.backward' | 'fisher.accumulate' | 'fisher.segmentTraces' | 'elementwise.scaleColumns';
  label: string;
  rows: number;
  D: number;
}
/** An activation over the FFN's intermediate tensor (tokens × 3072). */
interface ActivationCase {
  kind: `elementwise.${Activation}`;
  activation: Activation;
  label: string;
  n: number;
}
type BenchCase = MatmulCase | AttentionCase | MemoryCase | ActivationCase;

const ACTIVATIONS: readonly Activation[] = ['gelu', 'geluTanh', 'relu', 'tanh', 'swish'];

/** The benchmark's cases; `tokens` sets the transformer shapes, `quick` shrinks everything. */
export function benchCases(tokens: number, quick: boolean): BenchCase[] {
  const mm = (label: string, M: number, N: number, K: number, transA = false, transB = false): MatmulCase =>
    ({ kind: 'matmul', label, M, N, K, transA, transB });
  const T = tokens;
  const squares = (quick ? [64, 128] : [256, 512, 1024]).map((n) => mm(`${n}³`, n, n, n));
  const params = quick ? 64 * 1024 : 4 * 1024 * 1024;
  const paramLabel = quick ? '64K params' : '4M params';
  return [
    ...squares,
    mm(`linear fwd ${T}×768·(768×768)ᵀ`, T, 768, 768, false, true),
    mm(`linear dX ${T}×768·768×768`, T, 768, 768),
    mm(`linear dW (${T}×768)ᵀ·${T}×768`, 768, 768, T, true, false),
    mm(`adapter down ${T}×768·(48×768)ᵀ`, T, 48, 768, false, true),
    mm(`adapter up ${T}×48·(768×48)ᵀ`, T, 768, 48, false, true),
    mm(`adapter dW down (${T}×48)ᵀ·${T}×768`, 48, 768, T, true, false),
    mm(`adapter dW up (${T}×768)ᵀ·${T}×48`, 768, 48, T, true, false),
    // XLM-R/BERT-base attention (12 heads of 64) over sequences of 128; quick: 2 heads of 32, sequences of 16.
    ...(['attention.forward', 'attention.backward'] as const).map((kind): AttentionCase => {
      const [T, D, heads] = quick ? [16, 64, 2] : [128, 768, 12];
      const B = Math.max(1, Math.floor(tokens / T));
      return { kind, label: `${B}×${T}, D ${D}, ${heads} heads, p 0.1`, B, T, D, heads, p: 0.1 };
    }),
    { kind: 'layernorm.forward', label: `${T}×768`, rows: T, D: 768 },
    // BERT's residual: LN(dropout(y) + r), one kernel.
    { kind: 'layernorm.residualForward', label: `${T}×768, p 0.1`, rows: T, D: 768 },
    { kind: 'layernorm.backward', label: `${T}×768`, rows: T, D: 768 },
    { kind: 'fisher.accumulate', label: paramLabel, rows: 1, D: params },
    { kind: 'fisher.segmentTraces', label: `${paramLabel}, 24 blocks`, rows: 24, D: params },
    ...ACTIVATIONS.map((a): ActivationCase => ({ kind: `elementwise.${a}`, activation: a, label: `${T}×3072`, n: T * 3072 })),
    // (IA)³'s largest scale: the FFN's intermediate tensor, one factor per column.
    { kind: 'elementwise.scaleColumns', label: `${T}×3072`, rows: T, D: 3072 },
  ];
}

/** Fills a buffer with deterministic non-zero values (contents do not change timings). */
function filled(gpu: Gpu, n: number, seed: number): GpuBuffer {
  const data = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    data[i] = (s / 2 ** 32) * 2 - 1 || 0.5;
  }
  return gpu.upload(data);
}

/** The recorded work of one memory-bound case and the bytes it must move. */
function memoryCase(gpu: Gpu, c: MemoryCase | ActivationCase): { record: () => void; bytes: number; buffers: GpuBuffer[] } {
  if ('activation' in c) {
    // Reads x, writes out: 8 bytes per element.
    const { n } = c;
    const [x, out] = [filled(gpu, n, 8), gpu.alloc(4 * n)];
    return { record: () => activation(gpu, c.activation, { x, out, n }), bytes: 8 * n, buffers: [x, out] };
  }
  const { rows, D } = c;
  if (c.kind === 'elementwise.scaleColumns') {
    // Reads x and writes out (8 bytes per element), reads the D factors once.
    const [x, s, out] = [filled(gpu, rows * D, 9), filled(gpu, D, 10), gpu.alloc(4 * rows * D)];
    return { record: () => scaleColumns(gpu, { x, s, out, rows, cols: D }), bytes: 4 * (2 * rows * D + D), buffers: [x, s, out] };
  }
  if (c.kind === 'fisher.accumulate' || c.kind === 'fisher.segmentTraces') {
    const n = D;
    const fisher = filled(gpu, n, 1);
    if (c.kind === 'fisher.accumulate') {
      const grad = filled(gpu, n, 2);
      return { record: () => fisherAccumulate(gpu, { fisher, grad, n, scale: 1e-3 }), bytes: 12 * n, buffers: [fisher, grad] };
    }
    const blocks = rows;
    const size = Math.floor(n / blocks);
    const segments: Segment[] = Array.from({ length: blocks }, (_, i) => ({ offset: i * size, length: size }));
    const traces = gpu.alloc(blocks * 4);
    return { record: () => segmentTraces(gpu, { values: fisher, traces, segments }), bytes: 4 * size * blocks, buffers: [fisher, traces] };
  }
  const x = filled(gpu, rows * D, 3);
  const gamma = filled(gpu, D, 4);
  const beta = filled(gpu, D, 5);
  const y = gpu.alloc(rows * D * 4);
  const mean = gpu.alloc(rows * 4);
  const rstd = gpu.alloc(rows * 4);
  layerNormForward(gpu, { x, gamma, beta, y, mean, rstd, rows, D });
  const buffers = [x, gamma, beta, y, mean, rstd];
  if (c.kind === 'layernorm.residualForward') {
    // Reads y and r, writes the output and the saved sum s: 4 tensors of traffic.
    const [r, sum] = [filled(gpu, rows * D, 11), gpu.alloc(rows * D * 4)];
    buffers.push(r, sum);
    const dropout = { p: 0.1, seed: 1, stream: 2, at: 'input' as const };
    return { record: () => layerNormForward(gpu, { x, gamma, beta, y, mean, rstd, rows, D, residual: r, sum, dropout }), bytes: 4 * (4 * rows * D + 2 * D + 2 * rows), buffers };
  }
  if (c.kind === 'layernorm.forward') {
    // Reads x (twice, the second from cache) and writes y: 2 tensors of traffic.
    return { record: () => layerNormForward(gpu, { x, gamma, beta, y, mean, rstd, rows, D }), bytes: 4 * (2 * rows * D + 2 * D + 2 * rows), buffers };
  }
  const dx = gpu.alloc(rows * D * 4);
  const dgamma = gpu.alloc(D * 4);
  const dbeta = gpu.alloc(D * 4);
  buffers.push(dx, dgamma, dbeta);
  // dx pass reads x, dy and writes dx; the parameter pass reads x and dy again.
  return {
    record: () => layerNormBackward(gpu, { x, gamma, mean, rstd, dy: y, dx, dgamma, dbeta, rows, D }),
    bytes: 4 * (5 * rows * D + 4 * D + 4 * rows),
    buffers,
  };
}

/**
 * The recorded work of an attention case and its FLOPs: the forward's two
 * products, 4·B·H·T²·d; the backward counted as twice that (the convention
 * of fused attention kernels: the work of the gradient products, not the
 * recomputation of the probabilities, which the backward does twice).
 */
function attentionCase(gpu: Gpu, c: AttentionCase): { record: () => void; flops: number; buffers: GpuBuffer[] } {
  const { B, T, D, heads, p } = c;
  const n = B * T * D;
  const [q, k, v, out, lse] = [filled(gpu, n, 12), filled(gpu, n, 13), filled(gpu, n, 14), gpu.alloc(4 * n), gpu.alloc(4 * B * heads * T)];
  const shape = { B, T, D, heads, p, seed: 1, stream: 3 };
  const forwardFlops = 4 * B * heads * T * T * (D / heads);
  if (c.kind === 'attention.forward') return { record: () => attentionForward(gpu, { ...shape, q, k, v, out, lse }), flops: forwardFlops, buffers: [q, k, v, out, lse] };
  attentionForward(gpu, { ...shape, q, k, v, out, lse });
  const [dOut, dq, dk, dv, rowDot] = [filled(gpu, n, 15), gpu.alloc(4 * n), gpu.alloc(4 * n), gpu.alloc(4 * n), gpu.alloc(4 * B * heads * T)];
  return {
    record: () => attentionBackward(gpu, { ...shape, q, k, v, out, lse, dOut, dq, dk, dv, rowDot }),
    flops: 2 * forwardFlops,
    buffers: [q, k, v, out, lse, dOut, dq, dk, dv, rowDot],
  };
}

/** Runs every case on `gpu` (and the peers on the same Dawn instance). */
export async function runKernelBench(gpu: Gpu, instance: GPU, options: KernelBenchOptions): Promise<KernelBenchResult[]> {
  const cases = benchCases(options.tokens, options.quick);
  const peers = options.peers ? await loadPeers(instance, (m) => options.onNote?.(m)) : [];
  const results: KernelBenchResult[] = [];
  try {
    for (const [index, c] of cases.entries()) {
      options.onCase?.(`${c.kind} ${c.label}`, index, cases.length);
      if (c.kind === 'matmul') {
        const { M, N, K, transA, transB } = c;
        const [a, b] = [filled(gpu, M * K, 6), filled(gpu, K * N, 7)];
        const out = gpu.alloc(M * N * 4);
        const variant = options.matmulVariant;
        const ms = await timeGpu((r) => gpu.time(r), () => matmul(gpu, { a, b, c: out, M, N, K, transA, transB, variant }), options.warmup, options.repeats);
        for (const buffer of [a, b, out]) gpu.release(buffer);
        const flops = 2 * M * N * K;
        const gflops = flops / ms / 1e6;
        const ran = variant === 'auto' ? matmulVariant(gpu) : variant;
        const row: KernelBenchResult = { kernel: 'matmul', shape: c.label, variant: ran, ms, gflops, peers: {} };
        for (const peer of peers) {
          const run = await peer.matmul(c);
          const peerMs = await timeMedian(run, options.warmup, options.repeats);
          const peerGflops = flops / peerMs / 1e6;
          row.peers[peer.name] = { ms: peerMs, gflops: peerGflops, ratio: gflops / peerGflops };
        }
        results.push(row);
      } else if ('heads' in c) {
        const unsupported = attentionUnsupported(gpu, c.D, c.heads);
        if (unsupported) {
          options.onNote?.(`${c.kind}: not measured, ${unsupported}`);
          continue;
        }
        const work = attentionCase(gpu, c);
        const ms = await timeGpu((r) => gpu.time(r), work.record, options.warmup, options.repeats);
        for (const buffer of work.buffers) gpu.release(buffer);
        results.push({ kernel: c.kind, shape: c.label, ms, gflops: work.flops / ms / 1e6, peers: {} });
      } else {
        const work = memoryCase(gpu, c);
        const ms = await timeGpu((r) => gpu.time(r), work.record, options.warmup, options.repeats);
        for (const buffer of work.buffers) gpu.release(buffer);
        const gbps = work.bytes / ms / 1e6;
        const row: KernelBenchResult = { kernel: c.kind, shape: c.label, ms, gbps, peers: {} };
        if ('activation' in c) {
          for (const peer of peers) {
            const run = await peer.activation(c.activation, c.n);
            if (!run) continue;
            const peerMs = await timeMedian(run, options.warmup, options.repeats);
            const peerGbps = work.bytes / peerMs / 1e6;
            row.peers[peer.name] = { ms: peerMs, gbps: peerGbps, ratio: gbps / peerGbps };
          }
        }
        results.push(row);
      }
    }
  } finally {
    for (const peer of peers) peer.close();
  }
  return results;
}
