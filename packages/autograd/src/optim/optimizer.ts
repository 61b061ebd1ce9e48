/**
 * Optimizers: AdamW and SGD over a list of parameters, after global-norm
 * clipping over every parameter that has a gradient this step. Nothing is
 * read back: the clip factor is computed and consumed on the GPU.
 *
 * Flat path (the default): at its first update a parameter moves into an
 * arena, one buffer holding the parameters first updated at the same step
 * (the trainable ones at step 0, each block unfrozen later at its own step),
 * at offsets aligned for binding: its values are copied into its range and
 * its tensor's storage is rebound to a view of it (forward and backward read
 * the view like any buffer). Each arena has a gradient, and for AdamW two
 * moment arenas, of the same layout. A step copies every active gradient into
 * its arena (buffer copies, not dispatches), then runs per arena ONE
 * sumSquaresSegments, then per arena ONE adamwSegments/sgdSegments, which
 * computes the clip factor from all the partials itself (foldClip) and
 * leaves [factor, norm] in the clip buffer for the monitor and readbacks:
 * 2 dispatches per step for an arena, whatever the number of parameters,
 * against 2 per parameter + 1 before. The kernels run the per-parameter
 * kernels' tree and arithmetic (each partial written to the parameter's
 * slot in the global order, the factor summed from them as clipFactor
 * does), so the bits are those of the per-parameter path, which stays
 * behind `perParameter: true` as the reference (with its clipFactor
 * dispatch). An arena is also split where it would pass the device's largest
 * binding; a parameter larger than a binding (a word-embedding table under
 * full fine-tuning) gets an arena of its own, which the launchers bind chunk
 * by chunk, with the bits of one binding (so do the per-parameter launches).
 * Ownership: the parameters stay the model's. Disposing a parameter
 * releases its view only; the optimizer's dispose() moves every parameter
 * still live back into a buffer of its own and releases the arenas, so
 * model and optimizer may be disposed in either order. A parameter must
 * belong to one live optimizer at a time.
 *
 * A parameter's state (AdamW's moments and its own step count) is created at
 * its first real update, so a block unfrozen at step u starts with zero
 * moments and bias correction from t = 1 (as PyTorch's lazily initialized
 * state does). Frozen parameters (requiresGrad false) and parameters without
 * a gradient are skipped and keep their state untouched.
 */
import { adamwSegments, adamwStep, clipFactor, sgdSegments, sgdStep, sumSquares, sumSquaresSegments, type ClipSource, type GpuBuffer, type OptimizerSegment } from '@thaw/kernels';
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
  /** One dispatch per parameter, the parameters left in their own buffers: the reference path of the flat one (default false). */
  perParameter?: boolean;
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
  /** Per-parameter path: AdamW's moments. */
  moments?: { m: GpuBuffer; v: GpuBuffer };
  /** Flat path: the arena holding the parameter, and its range there. */
  arena?: Arena;
  offset?: number;
  view?: GpuBuffer;
}

/** Parameters packed into one buffer, with gradient and moment buffers of the same layout. */
export interface Arena {
  /** In the order of `params`. */
  readonly members: readonly Tensor[];
  readonly param: GpuBuffer;
  readonly grad: GpuBuffer;
  readonly m?: GpuBuffer;
  readonly v?: GpuBuffer;
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
  private readonly perParameter: boolean;
  /** Flat path: the arenas, in the order they were made. */
  private arenas: Arena[] = [];

  constructor(protected readonly graph: Graph, readonly params: readonly Tensor[], options: OptimizerOptions) {
    this.schedule = typeof options.lr === 'number' ? constantLr(options.lr) : options.lr;
    this.maxGradNorm = options.maxGradNorm === undefined ? 1.0 : options.maxGradNorm;
    this.lrScale = options.lrScale ?? new Map();
    this.clip = graph.gpu.upload(new Float32Array([1, Number.NaN]), 'clip');
    this.partials = graph.gpu.alloc(4 * Math.max(1, params.length), 'grad-norm partials');
    this.perParameter = options.perParameter ?? false;
    if (new Set(params).size !== params.length) throw new Error('the optimizer was given a parameter twice');
  }

  /** The learning rate the next step will use. */
  get lr(): number {
    return this.schedule(this.step);
  }

  /** Updates every trainable parameter that has a gradient, then advances the schedule. */
  update(): void {
    const active = this.params.filter((p) => p.requiresGrad && p.grad);
    if (this.perParameter) this.updatePerParameter(active);
    else this.updateFlat(active);
    this.step++;
  }

  private updatePerParameter(active: Tensor[]): void {
    const gpu = this.graph.gpu;
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
  }

  private updateFlat(active: Tensor[]): void {
    const gpu = this.graph.gpu;
    this.admit(active.filter((p) => !this.state.has(p)));
    const lr = this.lr;
    // Each arena's active segments; the slot is the parameter's index among
    // the active ones (the per-parameter path's order).
    const segments = new Map<Arena, OptimizerSegment[]>();
    for (const [slot, p] of active.entries()) {
      const s = this.state.get(p)!;
      if (p.buffer !== s.view) throw new Error(`parameter ${p.name || `[${p.shape}]`} was moved out of this optimizer's arena (by another optimizer?)`);
      s.steps++;
      gpu.copy(p.grad!.buffer, s.arena!.grad, 4 * p.size, 0, 4 * s.offset!);
      let list = segments.get(s.arena!);
      if (!list) segments.set(s.arena!, (list = []));
      list.push({ offset: s.offset!, n: p.size, lr: lr * (this.lrScale.get(p) ?? 1), step: s.steps, slot });
    }
    let foldClip: ClipSource | undefined;
    if (this.maxGradNorm !== null && active.length) {
      for (const [arena, list] of segments) sumSquaresSegments(gpu, { grad: arena.grad, partials: this.partials, segments: list });
      foldClip = { partials: this.partials, count: active.length, maxNorm: this.maxGradNorm };
    }
    for (const [arena, list] of segments) this.applySegments(arena, list, this.clip, foldClip);
  }

  /**
   * Moves parameters updated for the first time into new arenas (in the
   * order given, split where an arena would pass the largest binding; a
   * parameter larger than that alone in its arena) and
   * gives them a fresh state (zero moments, no updates yet).
   */
  private admit(fresh: readonly Tensor[]): void {
    if (!fresh.length) return;
    const gpu = this.graph.gpu;
    // Offsets at least 16 bytes apart, the end padded to 16: views bind 16-byte multiples (GpuBuffer.bindSize).
    const alignWords = Math.max(4, gpu.device.limits.minStorageBufferOffsetAlignment / 4);
    const limitWords = Math.floor(Math.min(gpu.maxStorageBindingBytes, gpu.device.limits.maxBufferSize) / 4);
    let group: { p: Tensor; offset: number }[] = [];
    let words = 0;
    const flush = () => {
      if (group.length) this.arenas.push(this.makeArena(group, words));
      group = [];
      words = 0;
    };
    for (const p of fresh) {
      const offset = Math.ceil(words / alignWords) * alignWords;
      if (group.length && offset + p.size > limitWords) flush();
      const at = Math.ceil(words / alignWords) * alignWords;
      group.push({ p, offset: at });
      words = at + p.size;
    }
    flush();
  }

  private makeArena(group: readonly { p: Tensor; offset: number }[], words: number): Arena {
    const gpu = this.graph.gpu;
    words = Math.ceil(words / 4) * 4;
    const param = gpu.alloc(4 * words, 'optimizer params');
    const grad = gpu.alloc(4 * words, 'optimizer grads');
    const arena: Arena = { members: group.map(({ p }) => p), param, grad, ...(this.needsMoments ? { m: gpu.zeros(4 * words, 'optimizer m'), v: gpu.zeros(4 * words, 'optimizer v') } : {}) };
    for (const { p, offset } of group) {
      const view = gpu.view(param, 4 * offset, 4 * p.size, p.name);
      gpu.copy(p.buffer, view, 4 * p.size);
      p.rebindStorage(view);
      this.state.set(p, { steps: 0, arena, offset, view });
    }
    return arena;
  }

  /** Moves an arena's live parameters back into buffers of their own and releases the arena. */
  private unpack(arena: Arena): void {
    const gpu = this.graph.gpu;
    for (const p of arena.members) {
      const view = this.state.get(p)?.view;
      if (!view || !gpu.isLive(view) || p.buffer !== view) continue; // disposed, or moved by another optimizer
      const own = gpu.alloc(4 * p.size, p.name);
      gpu.copy(view, own, 4 * p.size);
      p.rebindStorage(own);
    }
    for (const b of [arena.param, arena.grad, arena.m, arena.v]) if (b) gpu.release(b);
  }

  /** A parameter's range of one of its arena's moment buffers, as a view (to read or write). */
  private momentView(p: Tensor, which: 'm' | 'v'): GpuBuffer | undefined {
    const s = this.state.get(p);
    const buffer = s?.arena?.[which];
    return buffer ? this.graph.gpu.view(buffer, 4 * s!.offset!, 4 * p.size, `${p.name}.${which}`) : undefined;
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
      let moments = s.moments;
      const views = s.arena?.m ? { m: this.momentView(p, 'm')!, v: this.momentView(p, 'v')! } : undefined;
      moments ??= views;
      try {
        params.push({ index, steps: s.steps, ...(moments ? { m: await gpu.read(moments.m, p.size), v: await gpu.read(moments.v, p.size) } : {}) });
      } finally {
        if (views) for (const b of [views.m, views.v]) gpu.release(b);
      }
    }
    return { step: this.step, params };
  }

  /** Restores a state from {@link exportState} (same parameter list, same order). */
  importState(state: OptimizerState): void {
    const gpu = this.graph.gpu;
    for (const entry of state.params) {
      if (!this.params[entry.index]) throw new Error(`optimizer state names parameter ${entry.index}; the optimizer has ${this.params.length}`);
    }
    this.releaseState();
    this.step = state.step;
    if (!this.perParameter) {
      // In the order of `params`, like the arenas of a run's first step.
      const entries = [...state.params].sort((a, b) => a.index - b.index);
      this.admit(entries.map((e) => this.params[e.index]!));
      for (const entry of entries) {
        const p = this.params[entry.index]!;
        this.state.get(p)!.steps = entry.steps;
        for (const which of ['m', 'v'] as const) {
          const values = entry[which];
          const view = values && this.momentView(p, which);
          if (!view) continue;
          gpu.write(view, values);
          gpu.release(view);
        }
      }
      return;
    }
    for (const entry of state.params) {
      const p = this.params[entry.index]!;
      const moments = entry.m && entry.v ? { m: gpu.upload(entry.m, `${p.name}.m`), v: gpu.upload(entry.v, `${p.name}.v`) } : undefined;
      this.state.set(p, { steps: entry.steps, ...(moments ? { moments } : {}) });
    }
  }

  /** The arenas of the flat path (for tests and reports). */
  get arenaList(): readonly Arena[] {
    return this.arenas;
  }

  /** Releases every parameter's gradient. */
  zeroGrad(): void {
    this.graph.zeroGrad(this.params);
  }

  /** Releases the optimizer's buffers; parameters in its arenas move back into buffers of their own (they are the model's). */
  dispose(): void {
    this.releaseState();
    this.graph.gpu.release(this.clip);
    this.graph.gpu.release(this.partials);
  }

  /** Releases every parameter's moments and forgets their update counts (flat path: unpacks the arenas). */
  private releaseState(): void {
    for (const arena of this.arenas) this.unpack(arena);
    this.arenas = [];
    for (const s of this.state.values()) {
      if (s.moments) {
        this.graph.gpu.release(s.moments.m);
        this.graph.gpu.release(s.moments.v);
      }
    }
    this.state.clear();
  }

  /** Whether the flat path keeps moment arenas. */
  protected abstract readonly needsMoments: boolean;
  protected abstract apply(p: Tensor, state: ParamState, lr: number, clip: GpuBuffer): void;
  /** Updates an arena's segments; with `foldClip` the launch computes the clip factor itself and stores it in `clip`. */
  protected abstract applySegments(arena: Arena, segments: readonly OptimizerSegment[], clip: GpuBuffer, foldClip: ClipSource | undefined): void;
}

/** AdamW (decoupled weight decay), PyTorch's formula. */
export class AdamW extends Optimizer {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;
  protected readonly needsMoments = true;

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
      state.moments = { m: gpu.zeros(4 * p.size, `${p.name}.m`), v: gpu.zeros(4 * p.size, `${p.name}.v`) };
    }
    adamwStep(gpu, {
      param: p.buffer, grad: p.grad!.buffer, m: state.moments.m, v: state.moments.v, clip, n: p.size,
      lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step: state.steps,
    });
  }

  protected applySegments(arena: Arena, segments: readonly OptimizerSegment[], clip: GpuBuffer, foldClip: ClipSource | undefined): void {
    adamwSegments(this.graph.gpu, {
      param: arena.param, grad: arena.grad, m: arena.m!, v: arena.v!, clip, ...(foldClip ? { foldClip } : {}), segments,
      beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay,
    });
  }
}

/** Plain SGD with L2 weight decay. */
export class SGD extends Optimizer {
  private readonly weightDecay: number;
  protected readonly needsMoments = false;

  constructor(graph: Graph, params: readonly Tensor[], options: OptimizerOptions) {
    super(graph, params, options);
    this.weightDecay = options.weightDecay ?? 0;
  }

  protected apply(p: Tensor, _state: ParamState, lr: number, clip: GpuBuffer): void {
    sgdStep(this.graph.gpu, { param: p.buffer, grad: p.grad!.buffer, clip, n: p.size, lr, weightDecay: this.weightDecay });
  }

  protected applySegments(arena: Arena, segments: readonly OptimizerSegment[], clip: GpuBuffer, foldClip: ClipSource | undefined): void {
    sgdSegments(this.graph.gpu, { param: arena.param, grad: arena.grad, clip, ...(foldClip ? { foldClip } : {}), segments, weightDecay: this.weightDecay });
  }
}
