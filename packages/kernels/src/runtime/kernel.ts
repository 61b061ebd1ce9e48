/**
 * A specialized kernel: one entry point of one WGSL file with its override
 * constants fixed, its pipeline built once with an explicit bind-group layout
 * from the manifest. Launches bind buffers by name and pack uniforms by field
 * name; every mistake the manifest can detect is thrown here, at the launch
 * site, naming the kernel and the binding.
 */
import type { EntryPointInfo, KernelFileInfo, OverrideValue } from '../compiler/manifest.js';
import type { GpuBuffer } from './buffer-pool.js';
import { KernelLaunchError } from './errors.js';
import { packUniforms, type UniformValue } from './uniforms.js';

/** Workgroup counts in x, y, z (y and z default to 1). */
export type Workgroups = readonly [number, number?, number?];

/** What a launch binds and how big a grid it runs. */
export interface LaunchArgs {
  /** A buffer for every storage binding of the entry point, by WGSL name. */
  bindings: Record<string, GpuBuffer>;
  /** Fields of the entry point's uniform struct, by WGSL name. */
  uniforms?: Record<string, UniformValue>;
  workgroups: Workgroups;
  /** The bytes each binding must hold for this shape (checked before launch). */
  minBytes?: Record<string, number>;
}

/** What a kernel needs from the runtime to record a dispatch. */
export interface DispatchRecorder {
  readonly device: GPUDevice;
  readonly maxWorkgroupsPerDimension: number;
  /** The largest storage binding the device accepts, in bytes. */
  readonly maxStorageBindingBytes: number;
  /** Whether a pooled buffer is still handed out (not released), or a view still live. */
  isLive(buffer: GpuBuffer): boolean;
  /** A uniform buffer holding `data`, valid for the current batch. */
  uniformBuffer(data: ArrayBuffer): GpuBuffer;
  /** Records one dispatch into the current batch. */
  record(kernel: string, pipeline: GPUComputePipeline, bindGroup: GPUBindGroup, workgroups: [number, number, number]): void;
}

/** The key under which a specialization's pipeline is cached. */
export function specializationKey(file: string, entry: string, overrides: Record<string, OverrideValue>): string {
  const parts = Object.keys(overrides).sort().map((k) => `${k}=${Number(overrides[k])}`);
  return `${file}.${entry}${parts.length ? `{${parts.join(',')}}` : ''}`;
}

/** Checks override names and types against the entry point; returns the full set with defaults. */
export function resolveOverrides(kernel: string, file: KernelFileInfo, entry: EntryPointInfo, given: Record<string, OverrideValue>): Record<string, OverrideValue> {
  const resolved: Record<string, OverrideValue> = {};
  for (const name of entry.overrides) {
    const decl = file.overrides.find((o) => o.name === name);
    if (decl) resolved[name] = decl.default;
  }
  for (const [name, value] of Object.entries(given)) {
    const decl = file.overrides.find((o) => o.name === name);
    if (!decl || !entry.overrides.includes(name)) {
      throw new KernelLaunchError(kernel, `no override constant '${name}' (it has: ${entry.overrides.join(', ') || 'none'})`);
    }
    const ok = decl.type === 'bool' ? typeof value === 'boolean'
      : decl.type === 'f32' ? typeof value === 'number' && Number.isFinite(value)
      : typeof value === 'number' && Number.isInteger(value) && (decl.type === 'i32' || value >= 0);
    if (!ok) throw new KernelLaunchError(kernel, `override '${name}' is ${decl.type}; got ${String(value)}`);
    resolved[name] = value;
  }
  return resolved;
}

export class Kernel {
  /** `file.entry{OVERRIDES}`: used in labels and error messages. */
  readonly name: string;
  /** Threads per workgroup in x, y, z after overrides. */
  readonly workgroupSize: [number, number, number];
  private readonly layout: GPUBindGroupLayout;
  private readonly pipeline: GPUComputePipeline;

  constructor(
    private readonly recorder: DispatchRecorder,
    module: GPUShaderModule,
    readonly file: KernelFileInfo,
    readonly entry: EntryPointInfo,
    readonly overrides: Record<string, OverrideValue>,
  ) {
    this.name = specializationKey(file.name, entry.name, overrides);
    this.workgroupSize = entry.workgroupSize.map((d) => (typeof d === 'number' ? d : Number(overrides[d]))) as [number, number, number];
    const device = recorder.device;
    this.layout = device.createBindGroupLayout({
      label: this.name,
      entries: entry.bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.resource === 'uniform' ? 'uniform' : b.access === 'read' ? 'read-only-storage' : 'storage' },
      })),
    });
    const constants: Record<string, number> = {};
    for (const [k, v] of Object.entries(overrides)) constants[k] = Number(v);
    this.pipeline = device.createComputePipeline({
      label: this.name,
      layout: device.createPipelineLayout({ label: this.name, bindGroupLayouts: [this.layout] }),
      compute: { module, entryPoint: entry.name, constants },
    });
  }

  /** Validates the arguments and records one dispatch. */
  launch(args: LaunchArgs): void {
    const given = new Set(Object.keys(args.bindings));
    const storage = this.entry.bindings.filter((b) => b.resource === 'storage');
    for (const name of given) {
      if (!storage.some((b) => b.name === name)) {
        const hint = this.entry.uniform?.binding === name ? ' (it is the uniform struct: pass its fields in `uniforms`)' : '';
        throw new KernelLaunchError(this.name, `no storage binding '${name}'${hint} (bindings: ${storage.map((b) => b.name).join(', ')})`);
      }
    }
    // Writable bindings by GPUBuffer. WebGPU checks usages per buffer, not
    // per range: a buffer bound writable may not be bound again in the same
    // dispatch even through a disjoint view, so views of one buffer count as
    // the same buffer here.
    const writers = new Map<GPUBuffer, string>();
    for (const b of storage) {
      const buffer = args.bindings[b.name];
      if (!buffer) throw new KernelLaunchError(this.name, `binding '${b.name}' (${b.type}) is missing`);
      if (!this.recorder.isLive(buffer)) throw new KernelLaunchError(this.name, `binding '${b.name}' is a buffer that was already released`);
      if (!(buffer.usage & GPUBufferUsage.STORAGE)) throw new KernelLaunchError(this.name, `binding '${b.name}' needs a buffer with STORAGE usage`);
      if (buffer.bindSize > this.recorder.maxStorageBindingBytes) {
        throw new KernelLaunchError(this.name, `binding '${b.name}' is ${buffer.bindSize} bytes; this device binds at most ${this.recorder.maxStorageBindingBytes}`);
      }
      const need = Math.max(args.minBytes?.[b.name] ?? 0, 4);
      if (buffer.bytes < need) {
        throw new KernelLaunchError(this.name, `binding '${b.name}' holds ${buffer.bytes} bytes; this shape needs ${need}`);
      }
      if (b.access === 'read_write') writers.set(buffer.buffer, b.name);
    }
    for (const b of storage) {
      const other = writers.get(args.bindings[b.name]!.buffer);
      if (other && other !== b.name) {
        const views = args.bindings[b.name]!.parent || args.bindings[other]!.parent ? ' (views of one buffer count as the same buffer: WebGPU checks usages per buffer)' : '';
        throw new KernelLaunchError(this.name, `the same buffer is bound to '${b.name}' and to the writable binding '${other}'${views}`);
      }
    }
    if (args.minBytes) {
      for (const name of Object.keys(args.minBytes)) {
        if (!storage.some((b) => b.name === name)) throw new KernelLaunchError(this.name, `minBytes names no binding '${name}'`);
      }
    }

    const entries: GPUBindGroupEntry[] = storage.map((b) => ({ binding: b.binding, resource: bindingOf(args.bindings[b.name]!) }));
    const uniform = this.entry.uniform;
    if (uniform) {
      let data: ArrayBuffer;
      try {
        data = packUniforms(uniform, args.uniforms ?? {});
      } catch (e) {
        throw new KernelLaunchError(this.name, (e as Error).message);
      }
      const slot = this.entry.bindings.find((b) => b.name === uniform.binding)!;
      entries.push({ binding: slot.binding, resource: { buffer: this.recorder.uniformBuffer(data).buffer } });
    } else if (args.uniforms && Object.keys(args.uniforms).length) {
      throw new KernelLaunchError(this.name, 'this entry point has no uniform struct');
    }

    const [x, y = 1, z = 1] = args.workgroups;
    for (const [axis, count] of [['x', x], ['y', y], ['z', z]] as const) {
      if (!Number.isInteger(count) || count < 0 || count > this.recorder.maxWorkgroupsPerDimension) {
        throw new KernelLaunchError(this.name, `workgroup count ${axis}=${count} is outside 0…${this.recorder.maxWorkgroupsPerDimension}`);
      }
    }
    if (x === 0 || y === 0 || z === 0) return;
    const bindGroup = this.recorder.device.createBindGroup({ label: this.name, layout: this.layout, entries });
    this.recorder.record(this.name, this.pipeline, bindGroup, [x, y, z]);
  }
}

/** The bind-group resource of a buffer: the whole pooled buffer, or a view's range. */
function bindingOf(buffer: GpuBuffer): GPUBufferBinding {
  return buffer.parent ? { buffer: buffer.buffer, offset: buffer.offset, size: buffer.bindSize } : { buffer: buffer.buffer };
}

/**
 * Splits a 1-D workgroup count into (x, y) with x ≤ `maxPerDimension`, for
 * kernels that recover the flat index as `gid.y · groups.x · WG + gid.x`.
 */
export function foldWorkgroups(count: number, maxPerDimension: number): [number, number] {
  if (count <= maxPerDimension) return [count, 1];
  const y = Math.ceil(count / maxPerDimension);
  return [Math.ceil(count / y), y];
}
