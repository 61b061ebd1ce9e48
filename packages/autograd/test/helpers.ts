/** Test helpers: one Gpu and Graph per file, seeded random inputs. */
import { afterAll, beforeAll } from 'vitest';
import { Gpu, mulberry32, type GpuOptions } from '@thaw/kernels';
import { Graph } from '../src/index.js';

/** The seeded PRNG of every test. */
export const rng = mulberry32;

/** n float64 values uniform in ±[0.1, 1) times `scale`, never zero, exactly representable in fp32. */
export function randomInput(n: number, random: () => number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => Math.fround(scale * (0.1 + 0.9 * random()) * (random() < 0.5 ? -1 : 1)));
}

/**
 * One Gpu and one Graph for the test file (or describe block);
 * `options.maxStorageBindingBytes` lowers the binding limit to exercise
 * chunked launches.
 */
export function useGraph(options: GpuOptions = {}): () => Graph {
  let gpu: Gpu | undefined;
  let graph: Graph | undefined;
  beforeAll(async () => {
    gpu = await Gpu.create(options);
    graph = new Graph(gpu);
  });
  afterAll(async () => {
    await gpu?.destroy();
  });
  return () => {
    if (!graph) throw new Error('graph not created');
    return graph;
  };
}
