/**
 * The graph: tensor factory, tape, grad mode, scopes and backward.
 *
 * Forward ops record a {@link TapeNode} when any input needs a gradient; the
 * tape is in creation order, which is a topological order, so `backward`
 * walks it in reverse. Gradients of a tensor used twice are summed: by the
 * graph, or by an op that adds the gradient so far in its own kernel
 * (`TapeNode.accumulates`).
 * Memory is explicit: tensors created inside `scope()` are released when it
 * ends (except the values it returns); a tensor still needed by the tape is
 * released when the tape lets go of it.
 */
import { axpby, type Gpu } from '@thaw/kernels';
import { sizeOf, Tensor } from './tensor.js';

/** One recorded op: what backward needs to push the output's gradient to the inputs. */
export interface TapeNode {
  op: string;
  /** Where gradients go (not kept alive by the tape unless also in `saved`). */
  inputs: readonly Tensor[];
  output: Tensor;
  /**
   * Gradients for `inputs` (undefined for inputs that need none), given the
   * gradient of the output. Must only compute the ones whose input has
   * `requiresGrad`: that is how frozen weights skip their weight-gradient work.
   * `accumulated[k]`, for an input the node `accumulates`, is the gradient
   * that input has received so far (undefined if none); the returned
   * gradient for it must then include it.
   */
  backward(gradOut: Tensor, accumulated?: readonly (Tensor | undefined)[]): (Tensor | undefined)[];
  /**
   * Inputs (by position) whose gradient backward accumulates itself: it is
   * given the gradient so far and adds its own contribution to it in the
   * kernel that computes the contribution (linear's dx matmul adds it in its
   * epilogue), instead of the graph adding the two in a separate pass.
   */
  accumulates?: readonly boolean[];
  /**
   * Every tensor backward reads (inputs or helpers such as saved statistics):
   * the tape keeps exactly these alive, and lets go of them as soon as the
   * node has run. Inputs that backward does not read are not kept.
   */
  saved: readonly Tensor[];
}

/** Options of a {@link Graph}. */
export interface GraphOptions {
  /**
   * Let ops that can add a gradient into the one an input already has do so
   * in their own kernels (default true). False adds every contribution in a
   * separate pass, as the graph always did: the same bits, more passes.
   */
  accumulateInKernels?: boolean;
}

export class Graph {
  private tape: TapeNode[] = [];
  private scopes: Set<Tensor>[] = [];
  private noGradDepth = 0;
  /** Reference counts of tensors the tape still needs. */
  private readonly pins = new Map<Tensor, number>();
  /** Tensors whose scope ended while the tape still needed them. */
  private readonly orphans = new Set<Tensor>();

  private readonly accumulateInKernels: boolean;

  constructor(readonly gpu: Gpu, options: GraphOptions = {}) {
    this.accumulateInKernels = options.accumulateInKernels ?? true;
  }

  /** False inside `noGrad()`. */
  get gradEnabled(): boolean {
    return this.noGradDepth === 0;
  }

  /** Number of ops on the tape (for tests and diagnostics). */
  get tapeLength(): number {
    return this.tape.length;
  }

  /** A tensor with undefined contents, owned by the current scope. */
  empty(shape: readonly number[], name = ''): Tensor {
    const tensor = new Tensor(this, shape, this.gpu.alloc(4 * sizeOf(shape), name || 'tensor'), false, name);
    this.scopes.at(-1)?.add(tensor);
    return tensor;
  }

  /** A tensor of another shape over the same storage (no copy), owned by the current scope. */
  view(of: Tensor, shape: readonly number[], name = of.name): Tensor {
    if (sizeOf(shape) !== of.size) throw new Error(`cannot view [${of.shape}] (${of.size} elements) as [${shape}]`);
    const tensor = new Tensor(this, shape, of, false, name);
    this.scopes.at(-1)?.add(tensor);
    return tensor;
  }

  /**
   * A tensor holding `data`, owned by the current scope. (A fresh pooled
   * buffer is never referenced by unsubmitted work, so the upload needs no
   * flush: it keeps the step in one batch.)
   */
  tensor(data: Float32Array, shape: readonly number[], name = ''): Tensor {
    if (data.length !== sizeOf(shape)) throw new RangeError(`tensor ${name || ''} of shape [${shape}] needs ${sizeOf(shape)} values, got ${data.length}`);
    const tensor = new Tensor(this, shape, this.gpu.upload(data, name || 'tensor'), false, name);
    this.scopes.at(-1)?.add(tensor);
    return tensor;
  }

  /**
   * A persistent leaf (a model weight): owned by no scope, released only by
   * its own dispose(). `trainable` sets requiresGrad; it may be changed
   * between steps to freeze or unfreeze the weight.
   */
  parameter(data: Float32Array, shape: readonly number[], name: string, trainable = true): Tensor {
    if (data.length !== sizeOf(shape)) throw new RangeError(`parameter ${name} of shape [${shape}] needs ${sizeOf(shape)} values, got ${data.length}`);
    return new Tensor(this, shape, this.gpu.upload(data, name), trainable, name);
  }

  /**
   * A persistent leaf like {@link parameter}, allocated with undefined
   * contents and uploaded from nothing: for weights a loader then writes
   * (`gpu.write`, piece by piece), so no host array of the whole tensor
   * ever exists.
   */
  emptyParameter(shape: readonly number[], name: string, trainable = true): Tensor {
    return new Tensor(this, shape, this.gpu.alloc(4 * sizeOf(shape), name), trainable, name);
  }

  /** Runs `fn` without recording: no tape, no saved activations. */
  noGrad<T>(fn: () => T): T {
    this.noGradDepth++;
    try {
      return fn();
    } finally {
      this.noGradDepth--;
    }
  }

  /**
   * Runs `fn` and releases every tensor it created, except those in its
   * result (a tensor, or an array or object of tensors), which move to the
   * enclosing scope.
   */
  scope<T>(fn: () => T): T {
    const mine = new Set<Tensor>();
    this.scopes.push(mine);
    let result: T;
    try {
      result = fn();
    } catch (error) {
      this.scopes.pop();
      for (const tensor of mine) this.release(tensor);
      throw error;
    }
    this.scopes.pop();
    const kept = new Set(tensorsIn(result));
    const parent = this.scopes.at(-1);
    for (const tensor of mine) {
      if (kept.has(tensor)) parent?.add(tensor);
      else this.release(tensor);
    }
    return result;
  }

  /** @internal Called by ops: records `node` when its output needs a gradient. */
  record(node: Omit<TapeNode, 'output'>, output: Tensor): Tensor {
    output.requiresGrad = this.gradEnabled && node.inputs.some((t) => t.requiresGrad);
    if (!output.requiresGrad) {
      // Nothing will run backward through this op: drop what it saved now.
      for (const t of node.saved) if (!node.inputs.includes(t) && t !== output) this.release(t);
      return output;
    }
    const full: TapeNode = { ...node, output };
    output.creator = full;
    for (const t of node.saved) this.pins.set(t, (this.pins.get(t) ?? 0) + 1);
    this.tape.push(full);
    return output;
  }

  /**
   * Back-propagates from `root` (seeded with 1 when it is a scalar, or with
   * `seed`), accumulating into `.grad` of every leaf that requires one, then
   * clears the tape.
   */
  backward(root: Tensor, seed?: Tensor): void {
    if (!root.requiresGrad || !root.creator) throw new Error(`backward: ${root.name || 'the root'} does not depend on any tensor that requires a gradient`);
    if (!seed && root.size !== 1) throw new Error(`backward: the root has ${root.size} elements; pass a seed gradient of the same shape`);
    if (seed && seed.size !== root.size) throw new Error(`backward: seed has ${seed.size} elements, the root ${root.size}`);
    const grads = new Map<Tensor, Tensor>();
    const temporaries = new Set<Tensor>();
    this.scopes.push(temporaries);
    // Backward functions call kernels, not ops; noGrad guards against recording anyway.
    this.noGradDepth++;
    try {
      grads.set(root, seed ?? this.tensor(new Float32Array([1]), root.shape, 'seed'));
      for (let i = this.tape.length - 1; i >= 0; i--) {
        const node = this.tape[i]!;
        const gradOut = grads.get(node.output);
        if (!gradOut) continue;
        // Inputs whose gradient so far the node adds itself: produced by an
        // op (a leaf's gradient is accumulated below), and only once among the node's inputs.
        const accumulated = node.inputs.map((input, k) => (this.accumulateInKernels && node.accumulates?.[k] && input.creator &&
          node.inputs.indexOf(input) === k && node.inputs.lastIndexOf(input) === k ? grads.get(input) : undefined));
        const inputGrads = node.backward(gradOut, accumulated);
        node.inputs.forEach((input, k) => {
          const g = inputGrads[k];
          if (!g || !input.requiresGrad) return;
          // A gradient the node accumulated already includes the one so far
          // (which stays with the temporaries, as a replaced partial sum does).
          if (input.creator) grads.set(input, accumulated[k] ? g : this.accumulate(grads.get(input), g, input.name));
          else this.accumulateLeaf(input, g, temporaries);
        });
        // This node is done: free its output's gradient and what it saved,
        // so memory during backward shrinks as the forward's did grow.
        grads.delete(node.output);
        if (gradOut !== seed) gradOut.dispose();
        for (const t of node.saved) this.unpin(t);
        node.saved = [];
      }
    } finally {
      this.noGradDepth--;
      this.scopes.pop();
      for (const t of temporaries) if (t !== seed) t.dispose();
      this.clearTape();
    }
  }

  /** Drops the tape (releasing what it saved) without running backward. */
  clearTape(): void {
    const tape = this.tape;
    this.tape = [];
    for (const node of tape) {
      // The output no longer leads anywhere: it must not be mistaken for a leaf later.
      node.output.creator = undefined;
      node.output.requiresGrad = false;
      for (const t of node.saved) this.unpin(t);
    }
  }

  /** Releases and forgets the gradients of `params`. */
  zeroGrad(params: Iterable<Tensor>): void {
    for (const p of params) {
      p.grad?.dispose();
      p.grad = undefined;
    }
  }

  /** a + b into a new scoped tensor (a may be undefined: then b itself). */
  private accumulate(a: Tensor | undefined, b: Tensor, name: string): Tensor {
    if (!a) return b;
    const sum = this.empty(a.shape, `${name}.grad`);
    axpby(this.gpu, { x: a.buffer, y: b.buffer, out: sum.buffer, n: a.size, alpha: 1, beta: 1 });
    return sum;
  }

  /**
   * leaf.grad += g. The first contribution is adopted as it is (no copy):
   * gradients are never written in place, and storage is reference-counted,
   * so a view of another gradient is safe to keep.
   */
  private accumulateLeaf(leaf: Tensor, g: Tensor, temporaries: Set<Tensor>): void {
    if (!leaf.grad && temporaries.delete(g)) {
      leaf.grad = g;
      return;
    }
    const total = new Tensor(this, leaf.shape, this.gpu.alloc(4 * leaf.size, `${leaf.name}.grad`), false, `${leaf.name}.grad`);
    if (leaf.grad) {
      axpby(this.gpu, { x: leaf.grad.buffer, y: g.buffer, out: total.buffer, n: leaf.size, alpha: 1, beta: 1 });
      leaf.grad.dispose();
    } else {
      axpby(this.gpu, { x: g.buffer, y: g.buffer, out: total.buffer, n: leaf.size, alpha: 1, beta: 0 });
    }
    leaf.grad = total;
  }

  private release(tensor: Tensor): void {
    if (this.pins.has(tensor)) this.orphans.add(tensor);
    else tensor.dispose();
  }

  private unpin(tensor: Tensor): void {
    const count = (this.pins.get(tensor) ?? 1) - 1;
    if (count > 0) {
      this.pins.set(tensor, count);
      return;
    }
    this.pins.delete(tensor);
    if (this.orphans.delete(tensor)) tensor.dispose();
  }
}

/** Every Tensor in a value: itself, or inside arrays and plain objects (not class instances). */
function tensorsIn(value: unknown): Tensor[] {
  if (value instanceof Tensor) return [value];
  if (Array.isArray(value)) return value.flatMap(tensorsIn);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).flatMap(tensorsIn);
  return [];
}
