// Exits 0 when Dawn finds a WebGPU adapter and opens a device on it, 1 otherwise.
// Runs before the build, so it uses the webgpu package directly.
// Honors THAW_BACKEND and THAW_ADAPTER like the thaw command.
import { create } from 'webgpu';

const flags = [];
if (process.env.THAW_BACKEND) flags.push(`backend=${process.env.THAW_BACKEND}`);
if (process.env.THAW_ADAPTER) flags.push(`adapter=${process.env.THAW_ADAPTER}`);
try {
  const adapter = await create(flags).requestAdapter();
  if (!adapter) throw new Error('requestAdapter returned null');
  const device = await adapter.requestDevice();
  process.stderr.write(`[setup] WebGPU adapter: ${adapter.info.description || adapter.info.device || adapter.info.vendor}\n`);
  device.destroy();
} catch (e) {
  process.stderr.write(`[setup] no usable WebGPU adapter: ${e instanceof Error ? e.message.split('\n')[0] : e}\n`);
  process.exitCode = 1;
}
