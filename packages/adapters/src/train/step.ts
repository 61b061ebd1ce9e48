/**
 * One training step as `thaw train` runs it, and as `thaw bench step`
 * measures it: the forward in training mode (dropout seeded by the run's seed
 * and the step), the backward, AdamW with global-norm clipping, and a monitor
 * on the GPU (monitor.wgsl) that writes the step's loss into a ring of
 * `logEvery` slots and flags the first step whose loss or gradient norm is
 * not finite. Nothing is read back inside a step: the learning rate is a
 * function of the optimizer's step count, computed on the host, and the
 * losses come back in one readback every `logEvery` steps (or earlier, when
 * the caller needs them: before a checkpoint, say).
 */
import { AdamW, constantLr, linearLr, type Graph, type Tensor } from '@thaw/autograd';
import { monitorInitialState, monitorRecord, readMonitorState, type GpuBuffer, type MonitorBadStep } from '@thaw/kernels';
import type { ForwardMode } from '../model/encoder.js';

/**
 * Steps between two readbacks of the losses by default (`--log-every`),
 * measured with the bench's step (docs/method.md §5): on lavapipe (2 shared
 * cores), reading every step took a median 7 % (frozen base) and 4 % (full)
 * longer than reading every 10 steps, and 50 was no faster than 10 (within
 * 0.2 % on a quiet machine). A readback drains the queue; the GPU stays at
 * most one step behind anyway (Gpu.throttle), so a few steps between reads
 * take almost all of the gain, and 10 keeps progress and the non-finite check
 * close to the step.
 */
export const DEFAULT_LOG_EVERY = 10;

/** What a training step needs of a model (TaskModel has it all). */
export interface StepModel<B> {
  /** Every parameter, in a fixed order (the optimizer's). */
  params: readonly Tensor[];
  /** Base-model parameters (their rate is scaled by `baseLrScale`). */
  base: readonly Tensor[];
  /** Scalar training loss of a batch. */
  loss(batch: B, mode: ForwardMode): Tensor;
}

/** The optimizer and the readback cadence of a training step. */
export interface StepOptions {
  /** Steps of the run: the linear schedule decays to 0 over them. */
  steps: number;
  lr: number;
  lrSchedule?: 'linear' | 'constant';
  warmupSteps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (default 1.0; null: no clipping, and no norm check). */
  maxGradNorm?: number | null;
  /** Multiplier of the rate for the base's parameters (default 1). */
  baseLrScale?: number;
  /** Dropout seed of the run. */
  seed: number;
  /** Steps between two readbacks of the losses (default {@link DEFAULT_LOG_EVERY}). */
  logEvery?: number;
}

/** The steps recorded since the last read, with their losses, and the first bad step among them or before. */
export interface StepReadout {
  /** The steps, in the order they ran. */
  steps: number[];
  /** Each step's loss (non-finite from the first bad step on, possibly). */
  losses: number[];
  /** The first step whose loss or gradient norm was not finite, when there was one. */
  firstBad?: MonitorBadStep;
}

export class TrainingStep<B> {
  readonly optimizer: AdamW;
  readonly logEvery: number;
  /** The monitor's state: header and a ring of logEvery losses (monitor.wgsl). */
  private readonly state: GpuBuffer;
  /** Steps recorded since the last read, slot i holding pending[i]. */
  private pendingSteps: number[] = [];

  constructor(
    private readonly graph: Graph,
    private readonly model: StepModel<B>,
    private readonly options: StepOptions,
  ) {
    const o = options;
    const logEvery = o.logEvery ?? DEFAULT_LOG_EVERY;
    if (!Number.isInteger(logEvery) || logEvery < 1) throw new Error(`logEvery must be a positive integer, got ${logEvery}`);
    this.logEvery = logEvery;
    const lr = (o.lrSchedule ?? 'linear') === 'linear' ? linearLr(o.lr, o.steps, o.warmupSteps ?? 0) : constantLr(o.lr);
    const lrScale = new Map(o.baseLrScale !== undefined && o.baseLrScale !== 1 ? model.base.map((p) => [p, o.baseLrScale!] as const) : []);
    this.optimizer = new AdamW(graph, model.params, { lr, weightDecay: o.weightDecay ?? 0, maxGradNorm: o.maxGradNorm === undefined ? 1.0 : o.maxGradNorm, lrScale });
    this.state = graph.gpu.upload(monitorInitialState(logEvery), 'step monitor');
  }

  /** The learning rate the next step uses (host-side: the schedule of the optimizer's step count). */
  get lr(): number {
    return this.optimizer.lr;
  }

  /** Steps recorded and not read back yet. */
  get pending(): number {
    return this.pendingSteps.length;
  }

  /**
   * Records step `step` on `batch`: forward, backward, clipped update, and
   * the monitor's launch. Reads nothing back and does not wait; the ring
   * must have room (read it every logEvery steps, as {@link step} does).
   */
  record(batch: B, step: number): void {
    if (this.pendingSteps.length >= this.logEvery) throw new Error(`the loss ring holds ${this.logEvery} steps; read them back before recording step ${step}`);
    const loss = this.graph.scope(() => {
      const l = this.model.loss(batch, { train: true, seed: this.options.seed, step });
      this.graph.backward(l);
      return l;
    });
    try {
      this.optimizer.update();
      this.optimizer.zeroGrad();
      const norm = this.optimizer.gradNorm;
      monitorRecord(this.graph.gpu, { state: this.state, slots: this.logEvery, loss: loss.buffer, ...(norm ? { norm } : {}), step, slot: this.pendingSteps.length });
      this.pendingSteps.push(step);
    } finally {
      // Released to the pool, which reuses it only after this batch is submitted.
      loss.dispose();
    }
  }

  /**
   * The step of a training loop: records it, keeps the GPU at most one step
   * behind (Gpu.throttle), and every logEvery steps reads the losses back
   * (then returns them; otherwise undefined).
   */
  async step(batch: B, step: number): Promise<StepReadout | undefined> {
    this.record(batch, step);
    await this.graph.gpu.throttle();
    return this.pendingSteps.length >= this.logEvery ? this.read() : undefined;
  }

  /** Reads back the losses of the steps recorded since the last read and the first bad step (one readback). */
  async read(): Promise<StepReadout> {
    const steps = this.pendingSteps;
    const { losses, firstBad } = await readMonitorState(this.graph.gpu, this.state, steps.length);
    this.pendingSteps = [];
    return { steps, losses: [...losses], ...(firstBad ? { firstBad } : {}) };
  }

  /** Releases the optimizer and the monitor (the model belongs to the caller). */
  dispose(): void {
    this.optimizer.dispose();
    this.graph.gpu.release(this.state);
  }
}
