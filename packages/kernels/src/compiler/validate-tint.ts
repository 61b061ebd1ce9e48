/**
 * Full WGSL validation by Dawn's shader compiler (Tint), on Dawn's null
 * backend: no GPU and no driver are needed, so the build can run anywhere
 * the `webgpu` package loads.
 */
import { create } from 'webgpu';
import { KernelCompileError } from './errors.js';

/** A device on Dawn's null backend, used only to compile shaders. */
export interface ShaderValidator {
  /** Throws {@link KernelCompileError} with the first error Tint reports for `file`. */
  validate(file: string, source: string): Promise<void>;
  /** Releases the device. */
  close(): void;
}

/** Opens a null-backend device for shader validation. */
export async function openShaderValidator(): Promise<ShaderValidator> {
  const instance = create(['backend=null']);
  const adapter = await instance.requestAdapter();
  if (!adapter) throw new Error('Dawn has no null backend in this build of the webgpu package; cannot validate WGSL');
  // Enable the shader features the null backend offers, so files that
  // `enable subgroups;` (say) can be checked too.
  const shaderFeatures: GPUFeatureName[] = ['subgroups', 'shader-f16'];
  const device = await adapter.requestDevice({ requiredFeatures: shaderFeatures.filter((f) => adapter.features.has(f)) });
  return {
    async validate(file, source) {
      const module = device.createShaderModule({ label: file, code: source });
      const info = await module.getCompilationInfo();
      const error = info.messages.find((m) => m.type === 'error');
      if (error) throw new KernelCompileError(file, error.message, error.lineNum || undefined);
    },
    close() {
      device.destroy();
      // Keep the instance reachable until the device is gone (Dawn tears
      // devices down when their instance is collected).
      void instance;
    },
  };
}
