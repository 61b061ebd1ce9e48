/**
 * Adapter discovery. Dawn's node binding wants each `create()` result kept
 * alive for as long as its devices live, so instances are module-level
 * singletons, one per option set; `listAdapters` alone makes a short-lived
 * instance of its own, which opens no device.
 */
import { create, globals } from 'webgpu';
import { NoAdapterError } from './errors.js';
import { pollingFromEnv, setPolling } from './polling.js';

// Dawn's binding leaves the WebGPU enums (GPUBufferUsage, …) to the caller.
Object.assign(globalThis, globals);

/** How to choose an adapter. Unset fields fall back to THAW_BACKEND / THAW_ADAPTER. */
export interface AdapterOptions {
  /** Dawn backend: `vulkan`, `metal`, `d3d12`, `opengl`, `opengles`, `null`, … */
  backend?: string;
  /** Substring of the adapter's name, e.g. `llvmpipe` or `NVIDIA`. */
  adapter?: string;
}

/** What Thaw reports about an adapter. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Dawn backend the adapter runs on, when Dawn says. */
  backend?: string;
  /** A readable name: description, else device, else vendor. */
  name: string;
  isFallbackAdapter: boolean;
  /** Smallest and largest subgroup size (0 when the adapter does not say). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
  features: string[];
  limits: Record<string, number>;
}

const instances = new Map<string, GPU>();

/** The options after environment defaults: THAW_BACKEND and THAW_ADAPTER. */
export function resolveAdapterOptions(options: AdapterOptions = {}): AdapterOptions {
  const backend = options.backend ?? process.env.THAW_BACKEND;
  const adapter = options.adapter ?? process.env.THAW_ADAPTER;
  return { ...(backend ? { backend } : {}), ...(adapter ? { adapter } : {}) };
}

function dawnFlags(options: AdapterOptions): string[] {
  const flags: string[] = [];
  if (options.backend) flags.push(`backend=${options.backend}`);
  if (options.adapter) flags.push(`adapter=${options.adapter}`);
  return flags;
}

/** A Dawn instance, after this process's way of waiting for Dawn is set from THAW_POLLING (see polling.ts). */
function createInstance(flags: string[]): GPU {
  setPolling(pollingFromEnv());
  return create(flags);
}

/** The process's Dawn instance for these options (created once, never dropped). */
export function gpuInstance(options: AdapterOptions = {}): GPU {
  const flags = dawnFlags(resolveAdapterOptions(options));
  const key = flags.join(' ');
  let instance = instances.get(key);
  if (!instance) {
    instance = createInstance(flags);
    instances.set(key, instance);
  }
  return instance;
}

/** Describes an adapter: info, features and every numeric limit. */
export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const value = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') limits[key] = value;
  }
  const extra = info as unknown as { backendType?: string; isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number };
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    ...(extra.backendType ? { backend: extra.backendType } : {}),
    name: info.description || info.device || info.vendor || 'unnamed adapter',
    isFallbackAdapter: Boolean(extra.isFallbackAdapter),
    subgroupMinSize: extra.subgroupMinSize ?? 0,
    subgroupMaxSize: extra.subgroupMaxSize ?? 0,
    features: [...adapter.features].sort(),
    limits,
  };
}

/** Requests the adapter these options select; throws {@link NoAdapterError} if none. */
export async function requestAdapter(options: AdapterOptions = {}): Promise<GPUAdapter> {
  const resolved = resolveAdapterOptions(options);
  const detail = Object.entries(resolved).map(([k, v]) => `${k}=${v}`).join(', ') || 'default backend';
  const instance = gpuInstance(resolved);
  let adapter: GPUAdapter | null;
  try {
    adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    // Dawn rejects an unknown adapter name with the list of adapters it has.
    const message = e instanceof Error ? e.message : String(e);
    const list = /Available adapters:[\s\S]*/.exec(message)?.[0].replace(/\s*\n\s*\*?\s*/g, ' ').trim();
    throw new NoAdapterError(detail, list && !/Available adapters:$/.test(list) ? list : undefined);
  }
  if (!adapter) throw new NoAdapterError(detail);
  return adapter;
}

/**
 * Every adapter Dawn can see, by name and backend. Dawn has no enumeration
 * call; it lists its adapters when asked for one that does not exist, so
 * this asks a throwaway instance for an impossible name and reads the list.
 */
export async function listAdapters(): Promise<{ backend: string; name: string }[]> {
  const probe = createInstance(['adapter=\u0001thaw-list-adapters']);
  try {
    await probe.requestAdapter();
    return [];
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    return [...text.matchAll(/backend: '([^']*)', name: '([^']*)'/g)].map((m) => ({ backend: m[1] ?? '', name: m[2] ?? '' }));
  }
}
