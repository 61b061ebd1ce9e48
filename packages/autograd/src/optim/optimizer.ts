/**
 * Optimizers: AdamW and SGD over a list of parameters, each update one fused
 * kernel per parameter, after global-norm clipping over every parameter that
 * has a gradient this step. Nothing is read back: the clip factor is computed
 * and consumed on the GPU.
 *
 * A parameter's state (AdamW's moments and its own step count) is created at
 * its first real update, so a block unfrozen at step u starts with zero
 * moments and bias correction from t = 1 (as PyTorch's lazily initialized
 * state does). Frozen parameters (requiresGrad false) and parameters without
 * a gradient are skipped and keep their state untouched.
 */
import { adamwStep, clipFactor, sgdStep, sumSquares, type GpuBuffer } from '@thaw/kernels';
import type { Graph } from '../graph.js';
import type { Tensor } from '../tensor.js';
import { constantLr, type LrSchedule } from './schedule.js';

/** Options shared by every optimizer. */
export interface OptimizerOptions {
  /** A rate, or a schedule of the optimizer's step count (default constant). */
  lr: number | LrSchedule;
  /** Decoupled (AdamW) or L2 (SGD) weight decay (default 0). */
  weightDecay?: number;
  /** Clip the global gradient norm to this (default 1.0; null: no clipping). */
  maxGradNorm?: number | null;
  /** Per-parameter multipliers of the rate (default 1), e.g. a lower rate for a pretrained base under full fine-tuning. */
  lrScale?: ReadonlyMap<Tensor, number>;
}

/** AdamW hyper-parameters on top of {@link OptimizerOptions}. */
export interface AdamWOptions extends OptimizerOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** A serializable optimizer state (see Optimizer.exportState). */
export interface OptimizerState {
  step: number;
  params: { index: number; steps: number; m?: Float32Array; v?: Float32Array }[];
}

interface ParamState {
  /** Updates this parameter has had. */
  steps: number;
  moments?: { m: GpuBuffer; v: GpuBuffer };
}

abstract class Optimizer {
  /** Optimizer steps taken (the schedule's clock). */
  step = 0;
  protected readonly state = new Map<Tensor, ParamState>();
  private readonly schedule: LrSchedule;
  private readonly maxGradNorm: number | null;
  private readonly lrScale: ReadonlyMap<Tensor, number>;
  /** [clip factor, global norm] of the last step ([1, NaN] when not clipping). */
  private readonly clip: GpuBuffer;
  /** One partial sum of squares per parameter, in the order of `params`. */
  private readonly partials: GpuBuffer;

  constructor(protected readonly graph: Graph, readonly params: readonly Tensor[], options: OptimizerOptions) {
    this.schedule = typeof options.lr === 'number' ? constantLr(options.lr) : options.lr;
    this.maxGradNorm = options.maxGradNorm === undefined ? 1.0 : options.maxGradNorm;
    this.lrScale = options.lrScale ?? new Map();
    this.clip = graph.gpu.upload(new Float32Array([1, Number.NaN]), 'clip');
    this.partials = graph.gpu.alloc(4 * Math.max(1, params.length), 'grad-norm partials');
  }

  /** The learning rate the next step will use. */
  get lr(): number {
    return this.schedule(this.step);
  }

  /** Updates every trainable parameter that has a gradient, then advances the schedule. */
  update(): void {
    const gpu = this.graph.gpu;
    const active = this.params.filter((p) => p.requiresGrad && p.grad);
    if (this.maxGradNorm !== null && active.length) {
      const partials = this.partials;
      active.forEach((p, slot) => sumSquares(gpu, { grad: p.grad!.buffer, partials, n: p.size, slot }));
      clipFactor(gpu, { partials, clip: this.clip, count: active.length, maxNorm: this.maxGradNorm });
    }
    const lr = this.lr;
    for (const p of active) {
      let s = this.state.get(p);
      if (!s) this.state.set(p, (s = { steps: 0 }));
      s.steps++;
      this.apply(p, s, lr * (this.lrScale.get(p) ?? 1), this.clip);
    }
    this.step++;
  }

  /**
   * Where the last update left the global gradient norm on the GPU: word
   * `index` of `buffer` (the clip buffer [factor, norm]), for a monitor that
   * checks it without reading it back; undefined when not clipping (no norm
   * is computed then).
   */
  get gradNorm(): { buffer: GpuBuffer; index: number } | undefined {
    return this.maxGradNorm === null ? undefined : { buffer: this.clip, index: 1 };
  }

  /** The global gradient norm before clipping, of the last step (a readback; NaN without clipping). */
  async lastGradNorm(): Promise<number> {
    return (await this.graph.gpu.read(this.clip))[1]!;
  }

  /**
   * The optimizer's state, for a checkpoint: its step, and for every
   * parameter that has been updated (by index in `params`) its update count
   * and, for AdamW, its moments. Reads the moments back from the GPU.
   */
  async exportState(): Promise<OptimizerState> {
    const gpu = this.graph.gpu;
    const params: OptimizerState['params'] = [];
    for (const [index, p] of this.params.entries()) {
      const s = this.state.get(p);
      if (!s) continue;
      params.push({ index, steps: s.steps, ...(s.moments ? { m: await gpu.read(s.moments.m, p.size), v: await gpu.read(s.moments.v, p.size) } : {}) });
    }
    return { step: this.step, params };
  }

  /** Restores a state from {@link exportState} (same parameter list, same order). */
  importState(state: OptimizerState): void {
    const gpu = this.graph.gpu;
    this.releaseState();
    this.step = state.step;
    for (const entry of state.params) {
      const p = this.params[entry.index];
      if (!p) throw new Error(`optimizer state names parameter ${entry.index}; the optimizer has ${this.params.length}`);
      const moments = entry.m && entry.v ? { m: gpu.upload(entry.m, `${p.name}.m`), v: gpu.upload(entry.v, `${p.name}.v`) } : undefined;
      this.state.set(p, { steps: entry.steps, ...(moments ? { moments } : {}) });
    }
  }

  /** Releases every parameter's gradient. */
  zeroGrad(): void {
    this.graph.zeroGrad(this.params);
  }

  /** Releases the optimizer's buffers (not the parameters). */
  dispose(): void {
    this.releaseState();
    this.graph.gpu.release(this.clip);
    this.graph.gpu.release(this.partials);
  }

  /** Releases every parameter's moments and forgets their update counts. */
  private releaseState(): void {
    for (const s of this.state.values()) {
      if (s.moments) {
        this.graph.gpu.release(s.moments.m);
        this.graph.gpu.release(s.moments.v);
      }
    }
    this.state.clear();
  }

  protected abstract apply(p: Tensor, state: ParamState, lr: number, clip: GpuBuffer): void;
}

/** AdamW (decoupled weight decay), PyTorch's formula. */
export class AdamW extends Optimizer {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  constructor(graph: Graph, params: readonly Tensor[], options: AdamWOptions) {
    super(graph, params, options);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
  }

  protected apply(p: Tensor, state: ParamState, lr: number, clip: GpuBuffer): void {
    const gpu = this.graph.gpu;
    if (!state.moments) {
      const zeros = new Float32Array(p.size);
      state.moments = { m: gpu.upload(zeros, `${p.name}.m`), v: gpu.upload(zeros, `${p.name}.v`) };
    }
    adamwStep(gpu, {
      param: p.buffer, grad: p.grad!.buffer, m: state.moments.m, v: state.moments.v, clip, n: p.size,
      lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step: state.steps,
    });
  }
}

/** Plain SGD with L2 weight decay. */
export class SGD extends Optimizer {
  private readonly weightDecay: number;

  constructor(graph: Graph, params: readonly Tensor[], options: OptimizerOptions) {
    super(graph, params, options);
    this.weightDecay = options.weightDecay ?? 0;
  }

  protected apply(p: Tensor, _state: ParamState, lr: number, clip: GpuBuffer): void {
    sgdStep(this.graph.gpu, { param: p.buffer, grad: p.grad!.buffer, clip, n: p.size, lr, weightDecay: this.weightDecay });
  }
}
