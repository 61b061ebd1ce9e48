/**
 * Peer libraries measured in the same run as Thaw's kernels: TensorFlow.js's
 * WebGPU backend and jax-js, both on the same Dawn instance. They are
 * devDependencies of the CLI: where they are not installed, the benchmark
 * says so and reports Thaw alone.
 */
import { cpus } from 'node:os';
import type { Activation } from '@thaw/kernels';

/** One matrix product as the benchmark states it (the same for every library). */
export interface MatmulSpec {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

/** A peer library that can time a matmul on the GPU. */
export interface Peer {
  name: 'tfjs' | 'jax';
  /** Milliseconds of one op(A)·op(B), by the library's own best timer. */
  matmul(spec: MatmulSpec): Promise<() => Promise<number>>;
  /** Milliseconds of one activation over n elements, where the library has it as one function; undefined where not. */
  activation(kind: Activation, n: number): Promise<(() => Promise<number>) | undefined>;
  close(): void;
}

/** Dawn in Node has no `navigator`; both peers look for `navigator.gpu`. */
function exposeNavigator(gpu: GPU): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (!g.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  }
  Object.assign(g.navigator!, { gpu, userAgent: g.navigator!.userAgent ?? 'node', hardwareConcurrency: cpus().length });
}

async function tfjsPeer(): Promise<Peer> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('the tfjs webgpu backend did not initialize');
  await tf.ready();
  const inputs: { dispose(): void }[] = [];
  /** tf.time's smaller of GPU kernel time and wall time for one call of `run`. */
  const timed = (run: () => { dispose(): void }) => async () => {
    let out: { dispose(): void } | undefined;
    const info = await tf.time(() => {
      out = run();
    });
    out?.dispose();
    const kernelMs = typeof info.kernelMs === 'number' ? info.kernelMs : Infinity;
    return Math.min(kernelMs, info.wallMs);
  };
  // tfjs has no GELU or swish op; relu and tanh are one kernel each.
  const activations: Partial<Record<Activation, (x: ReturnType<typeof tf.randomUniform>) => { dispose(): void }>> = { relu: (x) => tf.relu(x), tanh: (x) => tf.tanh(x) };
  return {
    name: 'tfjs',
    async activation(kind, n) {
      const f = activations[kind];
      if (!f) return undefined;
      for (const x of inputs.splice(0)) x.dispose();
      const x = tf.randomUniform([n], -4, 4);
      inputs.push(x);
      return timed(() => f(x));
    },
    async matmul({ M, N, K, transA, transB }) {
      // The previous case's inputs are no longer timed: free them.
      for (const x of inputs.splice(0)) x.dispose();
      const a = tf.randomUniform(transA ? [K, M] : [M, K], -1, 1);
      const b = tf.randomUniform(transB ? [N, K] : [K, N], -1, 1);
      inputs.push(a, b);
      // tf.time syncs and reports both wall time and GPU kernel time; take the smaller.
      return timed(() => tf.matMul(a, b, transA, transB));
    },
    close() {
      for (const x of inputs.splice(0)) x.dispose();
    },
  };
}

async function jaxPeer(): Promise<Peer> {
  const jax = await import('@jax-js/jax');
  const devices = await jax.init();
  if (!devices.includes('webgpu')) throw new Error('jax-js found no webgpu device');
  jax.defaultDevice('webgpu');
  const np = jax.numpy;
  const inputs: { dispose(): void }[] = [];
  type JaxArray = ReturnType<typeof np.zeros>;
  // jax.nn's functions, as JAX users call them (gelu's `approximate` picks the tanh form).
  const activations: Record<Activation, (x: JaxArray) => JaxArray> = {
    gelu: (x) => jax.nn.gelu(x, { approximate: false }),
    geluTanh: (x) => jax.nn.gelu(x, { approximate: true }),
    relu: (x) => jax.nn.relu(x),
    tanh: (x) => np.tanh(x),
    swish: (x) => jax.nn.silu(x),
  };
  return {
    name: 'jax',
    async activation(kind, n) {
      for (const x of inputs.splice(0)) x.dispose();
      const x = jax.random.uniform(jax.random.key(3), [n]);
      await x.blockUntilReady();
      inputs.push(x);
      return async () => {
        const start = performance.now();
        const y = activations[kind](x.ref);
        await y.blockUntilReady();
        const ms = performance.now() - start;
        y.dispose();
        return ms;
      };
    },
    async matmul({ M, N, K, transA, transB }) {
      for (const x of inputs.splice(0)) x.dispose();
      const a = jax.random.uniform(jax.random.key(1), transA ? [K, M] : [M, K]);
      const b = jax.random.uniform(jax.random.key(2), transB ? [N, K] : [K, N]);
      await a.blockUntilReady();
      await b.blockUntilReady();
      inputs.push(a, b);
      return async () => {
        const start = performance.now();
        // jax-js arrays are consumed by ops; `.ref` keeps a reference for the next run.
        const left = transA ? np.transpose(a.ref) : a.ref;
        const right = transB ? np.transpose(b.ref) : b.ref;
        const c = np.matmul(left, right);
        await c.blockUntilReady();
        const ms = performance.now() - start;
        c.dispose();
        return ms;
      };
    },
    close() {
      for (const x of inputs.splice(0)) x.dispose();
    },
  };
}

/** Loads every peer that is installed and starts; `warn` hears why one is missing. */
export async function loadPeers(gpu: GPU, warn: (message: string) => void): Promise<Peer[]> {
  exposeNavigator(gpu);
  const peers: Peer[] = [];
  for (const [name, load] of [['tfjs', tfjsPeer], ['jax', jaxPeer]] as const) {
    try {
      peers.push(await load());
    } catch (e) {
      warn(`peer ${name} unavailable: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return peers;
}
