/**
 * The trainer: AdamW (linear or constant LR, no warmup by default, global-norm
 * clipping at 1.0) over a model whose task-adapter blocks are unfrozen by an
 * {@link UnfreezeSchedule}, with tr(F) tracking, evaluation and best-checkpoint
 * selection on the source dev set, exact resume, and the run directory:
 *
 *   config.json     every option, the seed, the adapter
 *   log.jsonl       per step: step, loss, lr, trainable blocks, tr(F) per block when tracked
 *   events.jsonl    unfreeze events {step, blocks, policy, scores?}
 *   checkpoints/best/adapter.safetensors   task adapter + head at the best dev metric
 *   checkpoints/last/…                     everything needed to resume bit for bit
 *   results.json    the caller's final evaluation, when given
 *
 * A step reads nothing back (train/step.ts): the losses come back every
 * `logEvery` steps, and before every unfreeze event, tr(F) estimate and
 * checkpoint, so no checkpoint is written after a step whose loss or
 * gradient norm was not finite. Progress goes to callbacks, called at those
 * reads for each step read; nothing here prints. A file that cannot be
 * written (a full disk) stops the run with a FileWriteError that names it
 * and the last checkpoint kept; the run's temporary folders are removed, and
 * the run continues with `resume` once there is space again.
 */
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Graph, OptimizerState, Tensor } from '@thaw/autograd';
import { fisherTraces, type FisherBatch, type FisherOptions } from '../fisher/traces.js';
import { OptionError } from '../errors/option-error.js';
import { FileWriteError } from '../errors/write-error.js';
import { readSafetensors, writeSafetensors, type HostTensor } from '../formats/safetensors.js';
import { fillParamsFromSafetensors } from '../checkpoints/fill-params.js';
import type { ForwardMode } from '../model/encoder.js';
import { UnfreezeSchedule, type UnfreezeEvent, type UnfreezeTiming } from '../schedules/algorithm1.js';
import { policy } from '../schedules/policies.js';
import { appendJsonLine, swapFolder, truncateJsonLines, writeJsonAtomic } from '../formats/json-files.js';
import { TrainingStep, type StepOptions, type StepReadout } from './step.js';

/** What the trainer needs of a model: its parameters by role, a loss and eval logits. */
export interface TaskModel<B> {
  /** Every parameter, in a fixed order (the optimizer's). */
  params: readonly Tensor[];
  /** Task-adapter blocks, by layer (0 = bottom). */
  blocks: readonly (readonly Tensor[])[];
  /** Head parameters: trainable from step 0 under every schedule. */
  head: readonly Tensor[];
  /** Base-model parameters: trainable only under the `full` schedule. */
  base: readonly Tensor[];
  /** Scalar training loss of a batch. */
  loss(batch: B, mode: ForwardMode): Tensor;
  /** Evaluation-mode logits [rows, classes] of a batch, for tr(F). */
  fisherBatch(batch: B): FisherBatch;
  /** The tensors a checkpoint holds (task adapter + head), by AdapterHub name. */
  checkpoint: ReadonlyMap<string, Tensor>;
}

/** What the trainer needs of the data. */
export interface TaskData<B> {
  /** The training batch of step `step`: a function of the seed and the step only (so a resumed run sees the same data). */
  trainBatch(step: number): B | Promise<B>;
  /** `count` batches from a fresh shuffle drawn with `seed`, for tr(F). */
  fisherBatches(seed: number, count: number): B[] | Promise<B[]>;
  /** The source dev metric in [0, 1] of the model as it is now. */
  evaluateDev(): Promise<number>;
}

/**
 * The run's options: the step's (optimizer, rates, seed, readback cadence;
 * {@link StepOptions}), the schedule, evaluation and tr(F) tracking. With
 * `logEvery`, log.jsonl still gets one line per step, written at each read,
 * and a non-finite loss or gradient norm stops the run there, naming its step.
 */
export interface TrainerOptions extends StepOptions {
  out: string;
  /** Unfreezing schedule (a policy of schedules/policies.ts), interval k and timing (see schedules/). */
  schedule: string;
  k: number;
  timing?: UnfreezeTiming;
  /** Evaluate on the dev set (and save checkpoints) every n steps (and at the end). */
  evalEvery: number;
  /** Track tr(F) per block every n steps (0: never). */
  fisherEvery?: number;
  /** Batches per tr(F) estimate (default 41, as the official code). */
  fisherBatches?: number;
  /** Labels of the tr(F) estimate (default argmax, as the official code). */
  fisherEstimator?: FisherOptions['labels'];
  /** Squared gradients of the batch mean (default, as the official code) or of each example. */
  fisherGradients?: FisherOptions['gradients'];
  /** Continue from checkpoints/last when it exists. */
  resume?: boolean;
  /** Anything else to record in config.json (model, adapter, versions). */
  extraConfig?: Record<string, unknown>;
  /**
   * Called at the end with the best checkpoint's weights restored into the
   * model: its result (source and zero-shot target metrics, in the layout of
   * docs/formats.md §8) is written to results.json.
   */
  finalEvaluation?: () => Promise<RunResults>;
}

/** results.json of a run (metrics are fractions in [0, 1]). */
export interface RunResults {
  task: string;
  metric: string;
  source: { lang: string; dev: number; test?: number };
  targets: Record<string, number>;
  /** The mean over targets (absent when a run has no targets, e.g. pretraining). */
  targetAverage?: number;
}

/** Per-step progress, for a CLI to render. */
export interface StepReport {
  step: number;
  loss: number;
  lr: number;
  trainableBlocks: number[];
  stepsPerSecond: number;
}

export interface TrainerCallbacks {
  onStep?(report: StepReport): void;
  onEvent?(event: UnfreezeEvent): void;
  onEval?(step: number, metric: number, best: boolean): void;
}

/** A run stopped because its loss or its weights stopped being numbers. */
export class NonFiniteError extends Error {
  constructor(readonly step: number, what: string, out: string) {
    super(`${what} at step ${step}; the run stopped. The last good checkpoint is in ${join(out, 'checkpoints')}`);
    this.name = 'NonFiniteError';
  }
}

/** The outcome of a run. */
export interface TrainSummary {
  steps: number;
  bestStep: number;
  bestDev: number;
}

/** The tensors, unless one holds a NaN or an infinity (then a NonFiniteError naming it). */
function finite(tensors: Map<string, HostTensor>, step: number, out: string): Map<string, HostTensor> {
  for (const [name, t] of tensors) {
    if (!t.data.every(Number.isFinite)) throw new NonFiniteError(step, `parameter ${name.replace(/^\d+:/, '')} is not finite`, out);
  }
  return tensors;
}

/** GPU tensors read back as host tensors, by name. */
export async function hostTensors(tensors: Iterable<[string, Tensor]>): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) out.set(name, { shape: [...t.shape], data: await t.read() });
  return out;
}

/** A run's model rebuilt from its options, with its evaluation (thaw eval). */
export interface RebuiltRun {
  model: TaskModel<unknown>;
  evaluate(onLanguage?: (code: string) => void): Promise<RunResults>;
  dispose(): void;
}

/**
 * Writes a finished run's best checkpoint (`<dir>/checkpoints/best/adapter.safetensors`)
 * into a rebuilt model as the trainer saved it (the base too when the
 * schedule trains it), evaluates it, rewrites results.json, and disposes the
 * model. Errors name the file.
 */
export async function reevaluateBestCheckpoint(graph: Graph, dir: string, run: RebuiltRun, schedule: string, seed: number, onLanguage?: (code: string) => void): Promise<RunResults> {
  try {
    const path = join(dir, 'checkpoints/best/adapter.safetensors');
    if (!existsSync(path)) throw new OptionError(`${path}: the run has no best checkpoint yet`);
    const checkpoint = new Map(run.model.checkpoint);
    if (policy(schedule, run.model.blocks.length, seed).trainsBase) for (const p of run.model.base) checkpoint.set(p.name, p);
    await fillParamsFromSafetensors(checkpoint, path, { owner: "the run's model" });
    const results = await run.evaluate(onLanguage);
    try {
      await writeJsonAtomic(join(dir, 'results.json'), results);
    } catch (e) {
      throw e instanceof FileWriteError ? e.withNote(`the run's previous results.json is unchanged; ${e.remedy}, then run the same command again`) : e;
    }
    return results;
  } finally {
    run.dispose();
  }
}

/**
 * Options that change only when results are read back, not what is
 * computed: a run may resume with another value (or from a config.json
 * written before the option existed).
 */
const READBACK_ONLY = new Set(['logEvery']);

export class Trainer<B> {
  private readonly schedule: UnfreezeSchedule;
  private readonly step: TrainingStep<B>;

  constructor(
    private readonly graph: Graph,
    private readonly model: TaskModel<B>,
    private readonly data: TaskData<B>,
    private readonly options: TrainerOptions,
  ) {
    const o = options;
    if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`steps must be a positive integer, got ${o.steps}`);
    if (!Number.isInteger(o.evalEvery) || o.evalEvery < 1) throw new Error(`evalEvery must be a positive integer, got ${o.evalEvery}`);
    this.schedule = new UnfreezeSchedule({ policy: o.schedule, layers: model.blocks.length, k: o.k, seed: o.seed, timing: o.timing ?? 'paper' });
    this.step = new TrainingStep(graph, model, o);
  }

  /**
   * Runs (or resumes) training; returns the best dev metric and its step. A
   * file that cannot be written stops it with a FileWriteError naming the
   * file and the checkpoint kept, after the staged checkpoint folders are
   * removed.
   */
  async run(callbacks: TrainerCallbacks = {}): Promise<TrainSummary> {
    try {
      return await this.train(callbacks);
    } catch (e) {
      const checkpoints = join(this.options.out, 'checkpoints');
      for (const name of ['best', 'last']) await rm(join(checkpoints, `${name}.tmp-${process.pid}`), { recursive: true, force: true }).catch(() => undefined);
      // A file of a staged checkpoint is shown where it was going (the staged folder is gone).
      if (e instanceof FileWriteError) throw e.withNote(await this.keptNote(e.remedy), e.path.split(`.tmp-${process.pid}`).join(''));
      throw e;
    }
  }

  /** What a stopped run kept, and how to go on: the last checkpoint's step, or that there is none yet. */
  private async keptNote(remedy: string): Promise<string> {
    const checkpoints = join(this.options.out, 'checkpoints');
    let step: number | undefined;
    try {
      step = (JSON.parse(await readFile(join(checkpoints, 'last/state.json'), 'utf8')) as { step: number }).step;
    } catch {
      // No checkpoint yet.
    }
    return step === undefined
      ? `no checkpoint was saved yet; ${remedy}, then run the same command with --resume to start over`
      : `the last good checkpoint (step ${step}) is kept in ${checkpoints}; ${remedy}, then run the same command with --resume to continue from it`;
  }

  private async train(callbacks: TrainerCallbacks): Promise<TrainSummary> {
    const o = this.options;
    const m = this.model;
    const path = (name: string) => join(o.out, name);
    let start = 0;
    let best = { step: -1, metric: -Infinity };
    // Trainable from step 0: the head, and the base under `full`. Blocks follow the schedule.
    for (const p of m.params) p.requiresGrad = false;
    for (const p of m.head) p.requiresGrad = true;
    if (this.schedule.policy.trainsBase) for (const p of m.base) p.requiresGrad = true;

    const config = JSON.parse(JSON.stringify({ ...o, resume: undefined, finalEvaluation: undefined, extraConfig: undefined, ...o.extraConfig, layers: m.blocks.length })) as Record<string, unknown>;
    if (o.resume && existsSync(path('checkpoints/last/state.json'))) {
      const saved = JSON.parse(await readFile(path('config.json'), 'utf8')) as Record<string, unknown>;
      const changed = Object.keys({ ...saved, ...config }).filter((k) => !READBACK_ONLY.has(k) && JSON.stringify(saved[k]) !== JSON.stringify(config[k]));
      if (changed.length) throw new OptionError(`--resume: ${path('config.json')} was written with other options (${changed.join(', ')}); resume with the same options, or start a new run in another folder`);
      const resumed = await this.loadLast();
      start = resumed.step;
      best = resumed.best;
      await truncateJsonLines(path('log.jsonl'), start);
      await truncateJsonLines(path('events.jsonl'), start);
    } else {
      if (!o.resume && existsSync(path('config.json'))) {
        throw new OptionError(`${o.out} already holds a run; resume it, or start a new run in another folder`);
      }
      // A run that never reached its first checkpoint starts over.
      await truncateJsonLines(path('log.jsonl'), 0);
      await truncateJsonLines(path('events.jsonl'), 0);
      await writeJsonAtomic(path('config.json'), config);
    }

    /** Steps recorded whose log.jsonl line waits for its loss. */
    const waiting: { step: number; lr: number; trainableBlocks: number[]; tracked?: number[] }[] = [];
    let last = performance.now();
    /** Writes the lines of the steps read back; at a non-finite step, the lines before it, then stops. */
    const logged = async (readout: StepReadout) => {
      const now = performance.now();
      const stepsPerSecond = (1000 * readout.steps.length) / Math.max(1e-9, now - last);
      last = now;
      const bad = readout.firstBad;
      for (const [i, w] of waiting.splice(0, readout.steps.length).entries()) {
        if (bad && w.step >= bad.step) break;
        const loss = readout.losses[i]!;
        const line: Record<string, unknown> = { step: w.step, loss, lr: w.lr, trainableBlocks: w.trainableBlocks };
        if (w.tracked) {
          // Raw per block (frozen blocks 0, as the official tracker), and the sum
          // normalized by the number of trainable blocks (paper Fig. 3).
          line.fisher = w.tracked;
          line.fisherPerTrainableBlock = w.tracked.reduce((a, b) => a + b, 0) / Math.max(1, w.trainableBlocks.length);
        }
        await appendJsonLine(path('log.jsonl'), line);
        callbacks.onStep?.({ step: w.step, loss, lr: w.lr, trainableBlocks: w.trainableBlocks, stepsPerSecond });
      }
      if (bad) throw new NonFiniteError(bad.step, bad.loss ? `loss is ${bad.lossValue}` : `the gradient norm is ${bad.normValue}`, o.out);
    };
    /** Reads back what is pending: before anything that uses the weights or writes what follows from them. */
    const caughtUp = async () => {
      if (this.step.pending) await logged(await this.step.read());
    };
    const fisherScores = (step: number) => async () => {
      await caughtUp();
      const traces = await this.traces(step);
      return new Map(traces.map((t, j) => [j, t] as const));
    };
    for (let step = start; step < o.steps; step++) {
      const event = await this.schedule.at(step, this.schedule.policy.name === 'fun' ? fisherScores(step) : undefined);
      if (event) {
        await caughtUp();
        for (const j of event.blocks) for (const p of m.blocks[j]!) p.requiresGrad = true;
        await appendJsonLine(path('events.jsonl'), event);
        callbacks.onEvent?.(event);
      }
      const tracking = Boolean(o.fisherEvery && step % o.fisherEvery === 0);
      if (tracking) await caughtUp();
      const tracked = tracking ? await this.traces(step, this.schedule.trainableBlocks) : undefined;
      const lr = this.step.lr;
      const batch = await this.data.trainBatch(step);
      waiting.push({ step, lr, trainableBlocks: this.schedule.trainableBlocks, ...(tracked ? { tracked } : {}) });
      // Forward, backward, update and the monitor; the losses come back every logEvery steps.
      const readout = await this.step.step(batch, step);
      if (readout) await logged(readout);
      const done = step + 1;
      if (done % o.evalEvery === 0 || done === o.steps) {
        // Every step before the checkpoint is read (and checked) first.
        await caughtUp();
        const metric = await this.data.evaluateDev();
        if (!Number.isFinite(metric)) throw new NonFiniteError(done, `the dev metric is ${metric}`, o.out);
        const improved = metric > best.metric;
        if (improved) {
          const tensors = finite(await hostTensors(this.checkpointTensors()), done, o.out);
          const staged = path(`checkpoints/best.tmp-${process.pid}`);
          await writeSafetensors(join(staged, 'adapter.safetensors'), tensors, { step: String(done), dev: String(metric) });
          await writeJsonAtomic(join(staged, 'state.json'), { step: done, dev: metric });
          await swapFolder(staged, path('checkpoints/best'));
          best = { step: done, metric };
        }
        callbacks.onEval?.(done, metric, improved);
        await this.saveLast(done, best);
      }
    }
    await caughtUp();
    if (o.finalEvaluation && best.step >= 0) {
      // Evaluate what model selection chose: the best checkpoint, not the last step.
      const bestFile = path('checkpoints/best/adapter.safetensors');
      await fillParamsFromSafetensors(this.checkpointTensors(), bestFile, { owner: "the run's model" });
      await writeJsonAtomic(path('results.json'), await o.finalEvaluation());
    }
    return { steps: o.steps, bestStep: best.step, bestDev: best.metric };
  }

  /** Releases the optimizer and the step's monitor (the model belongs to the caller). */
  dispose(): void {
    this.step.dispose();
  }

  /**
   * tr(F) on the current weights, from a fresh shuffle seeded by the run seed
   * and the step: of every block (FUN scores frozen blocks too), or of the
   * blocks in `only` (the tracker), the others reported as 0.
   */
  private async traces(step: number, only?: number[]): Promise<number[]> {
    const batches = await this.data.fisherBatches((this.options.seed * 1_000_003 + step) >>> 0, this.options.fisherBatches ?? 41);
    const chosen = only ?? this.model.blocks.map((_, j) => j);
    const scores = chosen.length ? await fisherTraces(this.graph, {
      blocks: chosen.map((j) => this.model.blocks[j]!),
      params: this.model.params,
      batches: batches.map((b) => this.model.fisherBatch(b)),
      options: {
        ...(this.options.fisherEstimator ? { labels: this.options.fisherEstimator } : {}),
        ...(this.options.fisherGradients ? { gradients: this.options.fisherGradients } : {}),
        seed: this.options.seed + step,
      },
    }) : [];
    const all = new Array<number>(this.model.blocks.length).fill(0);
    chosen.forEach((j, i) => { all[j] = scores[i]!; });
    return all;
  }

  /** The tensors of the best checkpoint: the task adapter and head, and the base too when it trains (full). */
  private checkpointTensors(): [string, Tensor][] {
    const tensors = [...this.model.checkpoint];
    if (this.schedule.policy.trainsBase) for (const p of this.model.base) tensors.push([p.name, p]);
    return tensors;
  }

  /**
   * checkpoints/last: every parameter, the optimizer's moments, and the
   * schedule and counters, staged in a sibling folder and swapped in whole,
   * and only when every weight is finite.
   */
  private async saveLast(step: number, best: { step: number; metric: number }): Promise<void> {
    const dir = join(this.options.out, `checkpoints/last.tmp-${process.pid}`);
    const params = this.model.params.map((p, i) => [`${i}:${p.name}`, p] as [string, Tensor]);
    await writeSafetensors(join(dir, 'params.safetensors'), finite(await hostTensors(params), step, this.options.out));
    const state = await this.step.optimizer.exportState();
    const moments = new Map<string, HostTensor>();
    for (const e of state.params) {
      if (e.m && e.v) {
        moments.set(`${e.index}.m`, { shape: [e.m.length], data: e.m });
        moments.set(`${e.index}.v`, { shape: [e.v.length], data: e.v });
      }
    }
    await writeSafetensors(join(dir, 'optimizer.safetensors'), moments);
    await writeJsonAtomic(join(dir, 'state.json'), {
      step,
      best,
      schedule: this.schedule.state(),
      optimizer: { step: state.step, params: state.params.map(({ index, steps }) => ({ index, steps })) },
      trainable: this.model.params.map((p) => p.requiresGrad),
    });
    await swapFolder(dir, join(this.options.out, 'checkpoints/last'));
  }

  private async loadLast(): Promise<{ step: number; best: { step: number; metric: number } }> {
    const dir = join(this.options.out, 'checkpoints/last');
    const state = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as {
      step: number; best: { step: number; metric: number }; schedule: { round: number; trainable: number[] };
      optimizer: { step: number; params: { index: number; steps: number }[] }; trainable: boolean[];
    };
    const params = join(dir, 'params.safetensors');
    const indexed = this.model.params.map((p, i) => [`${i}:${p.name}`, p] as const);
    await fillParamsFromSafetensors(indexed, params, { owner: "the run's model (was the run made with other options?)" });
    this.model.params.forEach((p, i) => { p.requiresGrad = state.trainable[i] ?? false; });
    const moments = (await readSafetensors(join(dir, 'optimizer.safetensors'))).tensors;
    const optimizerState: OptimizerState = {
      step: state.optimizer.step,
      params: state.optimizer.params.map(({ index, steps }) => {
        const mm = moments.get(`${index}.m`);
        const vv = moments.get(`${index}.v`);
        return { index, steps, ...(mm && vv ? { m: mm.data, v: vv.data } : {}) };
      }),
    };
    this.step.optimizer.importState(optimizerState);
    this.schedule.restore(state.schedule);
    // The stored bests survive JSON only as finite numbers.
    return { step: state.step, best: { step: state.best.step, metric: state.best.metric ?? -Infinity } };
  }
}
