/**
 * Peer libraries measured in the same run as Thaw's kernels: TensorFlow.js's
 * WebGPU backend and jax-js, both on the same Dawn instance. They are
 * devDependencies of the CLI: where they are not installed, the benchmark
 * says so and reports Thaw alone.
 */
import { cpus } from 'node:os';

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
  return {
    name: 'tfjs',
    async matmul({ M, N, K, transA, transB }) {
      // The previous case's inputs are no longer timed: free them.
      for (const x of inputs.splice(0)) x.dispose();
      const a = tf.randomUniform(transA ? [K, M] : [M, K], -1, 1);
      const b = tf.randomUniform(transB ? [N, K] : [K, N], -1, 1);
      inputs.push(a, b);
      return async () => {
        // tf.time syncs and reports both wall time and GPU kernel time; take the smaller.
        let c: { dispose(): void } | undefined;
        const info = await tf.time(() => {
          c = tf.matMul(a, b, transA, transB);
        });
        c?.dispose();
        const kernelMs = typeof info.kernelMs === 'number' ? info.kernelMs : Infinity;
        return Math.min(kernelMs, info.wallMs);
      };
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
  return {
    name: 'jax',
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
